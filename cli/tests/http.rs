//! `recv --http` over real HTTP while GStreamer senders (`rtpjpegpay`)
//! stream: the pictures pixel-exact, `/metrics` read by the Python
//! `prometheus_client` parser and checked against `/api/cameras` and the
//! final JSON summary, the token, a viewer that stops reading, and the
//! page in headless Chromium. Without a peer (GStreamer, Debian's
//! python3-prometheus-client, chromium) a test skips loudly, or fails when
//! MJPEG_RTP_REQUIRE_PEERS is set (CI installs them all).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mjpeg_rtp_testkit::peer_missing;
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::quirky_rtsp::{Quirks, QuirkyServer};
use serde_json::Value;

mod common;
use common::{bin, CONTRACT_FIELDS};

const TOKEN: &str = "s3cret-token";

/// Whether `program arg` runs; when not, skip (or fail under
/// MJPEG_RTP_REQUIRE_PEERS) and say what to install.
fn peer_present(what: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        peer_missing(&format!("{what} not found"), "SKIPPED");
    }
    ok
}

fn gstreamer_present() -> bool {
    peer_present("gst-launch-1.0", "gst-launch-1.0", &["--version"])
        && ["imagesequencesrc", "jpegparse", "rtpjpegpay", "udpsink"]
            .iter()
            .all(|e| peer_present(&format!("GStreamer element {e}"), "gst-inspect-1.0", &[e]))
}

/// Stream `dir/000.jpg ..` (`frames` files) to `port`.
fn gst_sender(dir: &Path, frames: usize, fps: u32, port: u16) -> Child {
    Command::new("gst-launch-1.0")
        .args(["-q", "imagesequencesrc"])
        .arg(format!("location={}/%03d.jpg", dir.display()))
        .arg("start-index=0")
        .arg(format!("stop-index={}", frames - 1))
        .arg(format!("framerate={fps}/1"))
        .args([
            "!",
            "jpegparse",
            "!",
            "rtpjpegpay",
            "!",
            "udpsink",
            "host=127.0.0.1",
        ])
        .arg(format!("port={port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start gst-launch-1.0")
}

/// `mjpeg-rtp recv` with a live view on a free loopback port.
struct Receiver {
    child: Child,
    stdout: ChildStdout,
    http: SocketAddr,
    /// Its log lines so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    /// UDP cameras `cameras`, each on a free loopback port.
    fn start(cameras: &[&str], extra: &[&str]) -> Receiver {
        let specs: Vec<String> = cameras.iter().map(|c| format!("{c}=127.0.0.1:0")).collect();
        Receiver::start_cameras(&specs, extra)
    }

    /// A camera per `--camera` argument of `specs`.
    fn start_cameras(specs: &[String], extra: &[&str]) -> Receiver {
        let mut cmd = bin();
        cmd.arg("recv");
        for spec in specs {
            cmd.arg("--camera").arg(spec);
        }
        let mut child = cmd
            .args(["--http", "127.0.0.1:0", "--duration", "120"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mjpeg-rtp recv");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("recv: {line}");
                lines.lock().unwrap().push(line.clone());
                if let Some(rest) = line.split("live view on http://").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('/').parse::<SocketAddr>().unwrap());
                }
            }
        });
        let http = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("recv prints where the live view is");
        Receiver {
            child,
            stdout,
            http,
            log,
        }
    }

    /// Stop it as Ctrl-C would; its JSON summary.
    fn finish(self) -> Value {
        let (status, summary) = self.finish_with_status();
        assert!(status.success());
        summary
    }

    /// Stop it as Ctrl-C would; its exit status and JSON summary.
    fn finish_with_status(mut self) -> (std::process::ExitStatus, Value) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).unwrap();
        let status = self.child.wait().unwrap();
        (status, serde_json::from_str(&out).expect("summary JSON"))
    }

    /// Stop it as Ctrl-C would, no camera having sent anything: it exits
    /// 1 for that, after an empty summary.
    fn finish_silent(self) {
        let (status, summary) = self.finish_with_status();
        assert_eq!(status.code(), Some(1));
        assert_eq!(summary["streams"], serde_json::json!([]));
    }

    fn logged(&self, text: &str) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(text))
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 GET: (status, headers, body).
fn get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n{auth}\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

fn get_ok(addr: SocketAddr, path: &str) -> Vec<u8> {
    let (status, head, body) = get(addr, path, Some(TOKEN));
    assert_eq!(status, 200, "{path}: {head}");
    body
}

fn api(addr: SocketAddr) -> Value {
    serde_json::from_slice(&get_ok(addr, "/api/cameras")).unwrap()
}

fn camera<'a>(api: &'a Value, name: &str) -> &'a Value {
    api["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["camera"] == name)
        .unwrap()
}

/// A `stream.mjpg` reader: the response head, then one JPEG per part.
struct Viewer(BufReader<TcpStream>);

impl Viewer {
    fn open(stream: TcpStream, addr: SocketAddr, camera: &str) -> Viewer {
        let mut stream = stream;
        write!(
            stream,
            "GET /cameras/{camera}/stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: test\r\n\r\n"
        )
        .unwrap();
        let _ = addr;
        let mut viewer = Viewer(BufReader::new(stream));
        let head = viewer.head();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.contains("multipart/x-mixed-replace; boundary=mjpegrtpframe"),
            "{head}"
        );
        viewer
    }

    fn connect(addr: SocketAddr, camera: &str) -> Viewer {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Viewer::open(stream, addr, camera)
    }

    /// Lines up to an empty one.
    fn head(&mut self) -> String {
        self.try_head().expect("a complete head")
    }

    fn try_head(&mut self) -> Option<String> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(self.0.read_line(&mut line).ok()? > 0, "connection closed");
            if line == "\r\n" {
                return Some(head);
            }
            head.push_str(&line);
        }
    }

    fn part(&mut self) -> Vec<u8> {
        self.try_part().expect("a part")
    }

    /// The next part; `None` when none comes within the socket's read
    /// timeout (heartbeats, empty lines, do not count).
    fn try_part(&mut self) -> Option<Vec<u8>> {
        let quiet = self.0.get_ref().read_timeout().unwrap().unwrap();
        let since = Instant::now();
        let mut first = String::new();
        while first.is_empty() || first == "\r\n" {
            if since.elapsed() > quiet {
                return None;
            }
            first.clear();
            self.0.read_line(&mut first).ok()?;
        }
        assert_eq!(first, "--mjpegrtpframe\r\n");
        let head = first + &self.head();
        assert!(head.starts_with("--mjpegrtpframe\r\n"), "{head}");
        assert!(head.contains("Content-Type: image/jpeg"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut jpeg = vec![0; len + 2];
        self.0.read_exact(&mut jpeg).unwrap();
        assert_eq!(&jpeg[len..], b"\r\n");
        jpeg.truncate(len);
        Some(jpeg)
    }
}

/// Write `count` JPEG files cycling through `distinct` pictures; the
/// decoded pixels of each file.
fn write_frames(
    dir: &Path,
    (w, h, sampling, restart): (u16, u16, Sampling, u16),
    seed: u32,
    count: usize,
    distinct: usize,
) -> Vec<Vec<u8>> {
    let pictures: Vec<Vec<u8>> = (0..distinct)
        .map(|i| camera_jpeg(w, h, sampling, restart, seed + i as u32))
        .collect();
    (0..count)
        .map(|i| {
            let jpeg = &pictures[i % distinct];
            std::fs::write(dir.join(format!("{i:03}.jpg")), jpeg).unwrap();
            decode(jpeg).2
        })
        .collect()
}

/// The exposition parsed by the Python `prometheus_client` parser:
/// `{sample name: [[labels, value], ...]}`; `None` (skipped) without it.
fn prometheus_parse(text: &[u8]) -> Option<Value> {
    const PYTHON: &str = "/usr/bin/python3";
    if !peer_present(
        "python3-prometheus-client (Debian)",
        PYTHON,
        &["-c", "import prometheus_client.parser"],
    ) {
        return None;
    }
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = {}\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in family.samples:\n\
        \x20       out.setdefault(s.name, []).append([s.labels, s.value, family.type])\n\
        print(json.dumps(out))\n";
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics"
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The value of `name` for `camera`, summed over the other labels.
fn sample(parsed: &Value, name: &str, camera: &str) -> f64 {
    let samples = parsed[name]
        .as_array()
        .unwrap_or_else(|| panic!("no series {name}"));
    let mine: Vec<&Value> = samples
        .iter()
        .filter(|s| s[0]["camera"] == camera)
        .collect();
    assert!(!mine.is_empty(), "{name} has no camera={camera}");
    mine.iter().map(|s| s[1].as_f64().unwrap()).sum()
}

#[test]
fn live_view_over_http_while_gstreamer_streams() {
    if !gstreamer_present() {
        return;
    }
    const FRAMES: usize = 10;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let shapes = [
        (640, 480, Sampling::Yuv420, 0),
        (480, 272, Sampling::Yuv422, 3),
    ];
    let expected = [0, 1].map(|cam| {
        write_frames(
            dirs[cam].path(),
            shapes[cam],
            10 + 40 * cam as u32,
            FRAMES,
            FRAMES,
        )
    });
    let names = ["cam0", "cam1"];
    let recv = Receiver::start(&names, &["--http-token", TOKEN]);
    let addr = recv.http;

    // The token: absent or wrong, every endpoint says 401.
    for path in [
        "/",
        "/api/cameras",
        "/metrics",
        "/cameras/cam0/latest.jpg",
        "/cameras/cam0/stream.mjpg",
    ] {
        assert_eq!(get(addr, path, None).0, 401, "{path} without a token");
        assert_eq!(
            get(addr, path, Some("s3cret-tokem")).0,
            401,
            "{path}, wrong token"
        );
        assert_eq!(
            get(addr, &format!("{path}?token=nope"), None).0,
            401,
            "{path}?token=nope"
        );
    }
    assert_eq!(get(addr, "/api/cameras", Some(TOKEN)).0, 200);
    assert_eq!(
        get(addr, &format!("/api/cameras?token={TOKEN}"), None).0,
        200
    );

    let before = api(addr);
    let ports: Vec<u16> = names
        .iter()
        .map(|n| camera(&before, n)["port"].as_u64().unwrap() as u16)
        .collect();

    // One viewer per camera, from before the first frame: every part is
    // one of the frames sent, in order, up to the last.
    let viewers: Vec<_> = (0..2)
        .map(|cam| {
            let mut viewer = Viewer::connect(addr, names[cam]);
            let expected = expected[cam].clone();
            std::thread::spawn(move || {
                let mut next = 0;
                let mut parts = 0;
                while next < FRAMES {
                    let pixels = decode(&viewer.part()).2;
                    let i = (next..FRAMES)
                        .find(|&i| expected[i] == pixels)
                        .unwrap_or_else(|| {
                            panic!("part {parts} is not frame {next} or a later one")
                        });
                    next = i + 1;
                    parts += 1;
                }
                parts
            })
        })
        .collect();
    let mut senders: Vec<Child> = (0..2)
        .map(|cam| gst_sender(dirs[cam].path(), FRAMES, 5, ports[cam]))
        .collect();
    for viewer in viewers {
        let parts = viewer
            .join()
            .expect("a viewer saw every frame pixel-exact, in order");
        assert!(
            parts >= FRAMES / 2,
            "a reading viewer got {parts} parts of {FRAMES}"
        );
    }
    for sender in &mut senders {
        assert!(sender.wait().unwrap().success());
    }
    // latest.jpg: the last frame sent.
    for cam in 0..2 {
        let jpeg = get_ok(addr, &format!("/cameras/{}/latest.jpg", names[cam]));
        assert!(
            decode(&jpeg).2 == expected[cam][FRAMES - 1],
            "{} latest.jpg",
            names[cam]
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let api_now = loop {
        let now = api(addr);
        if names
            .iter()
            .all(|n| camera(&now, n)["frames_complete"] == FRAMES as u64)
        {
            break now;
        }
        assert!(Instant::now() < deadline, "{now:#}");
        std::thread::sleep(Duration::from_millis(100));
    };

    // /metrics through a real Prometheus parser, equal to /api/cameras.
    let metrics = get_ok(addr, "/metrics");
    if let Some(parsed) = prometheus_parse(&metrics) {
        for name in names {
            let c = camera(&api_now, name);
            let pairs = [
                ("mjpeg_rtp_packets_received_total", &c["packets_received"]),
                ("mjpeg_rtp_packets_lost", &c["packets_lost"]),
                ("mjpeg_rtp_packets_duplicate_total", &c["packets_duplicate"]),
                ("mjpeg_rtp_packets_late_total", &c["packets_late"]),
                ("mjpeg_rtp_packets_invalid_total", &c["packets_invalid"]),
                ("mjpeg_rtp_frames_complete_total", &c["frames_complete"]),
                ("mjpeg_rtp_frames_dropped_total", &c["frames_dropped"]),
                ("mjpeg_rtp_decode_errors_total", &c["decode_errors"]),
                (
                    "mjpeg_rtp_socket_kernel_drops_total",
                    &c["receiver"]["kernel_drops"],
                ),
                (
                    "mjpeg_rtp_rtcp_interleaved_too_long_total",
                    &c["receiver"]["interleaved_too_long"],
                ),
                ("mjpeg_rtp_received_bytes_total", &c["bytes"]),
                ("mjpeg_rtp_datagrams_total", &c["datagrams"]),
                ("mjpeg_rtp_frame_width_pixels", &c["width"]),
                ("mjpeg_rtp_frame_height_pixels", &c["height"]),
            ];
            for (series, want) in pairs {
                assert_eq!(
                    sample(&parsed, series, name),
                    want.as_f64().unwrap(),
                    "{series} {name}"
                );
            }
            sample(&parsed, "mjpeg_rtp_frames_per_second", name);
            // The viewers above hung up, but a server thread only learns
            // that at its next write: both endpoints say the same.
            assert_eq!(
                sample(&parsed, "mjpeg_rtp_http_viewers", name),
                c["viewers"].as_f64().unwrap()
            );
        }
        // Every per-camera series carries the camera label; the HTTP
        // server's own (viewer cap, requests refused or rejected) none.
        for (series, samples) in parsed.as_object().unwrap() {
            let server_wide = ["mjpeg_rtp_http_viewers_", "mjpeg_rtp_http_requests_"]
                .iter()
                .any(|prefix| series.starts_with(prefix));
            if !server_wide {
                for s in samples.as_array().unwrap() {
                    assert!(s[0]["camera"].is_string(), "{series} without camera: {s}");
                }
            }
        }
    }

    // The page in a real browser.
    browser_shows_every_camera(addr, &names, &api_now);

    // The final summary agrees with what was served.
    let summary = recv.finish();
    for name in names {
        let c = camera(&api_now, name);
        let stream = summary["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["camera"] == name)
            .unwrap();
        for field in CONTRACT_FIELDS.into_iter().chain(["decode_errors"]) {
            assert_eq!(stream[field], c[field], "{name} {field}");
        }
        assert_eq!(stream["packets_lost"], 0);
        assert_eq!(stream["frames_complete"], FRAMES as u64);
    }
}

/// Headless Chromium loads `/`: each camera's tile shows a picture (the
/// pixels in the tile's picture box vary) and its name, size and stats.
fn browser_shows_every_camera(addr: SocketAddr, names: &[&str], api: &Value) {
    if !peer_present("chromium", "chromium", &["--version"]) {
        return;
    }
    let url = format!("http://{addr}/?token={TOKEN}");
    let chromium = |args: &[&str]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1000,700",
            ])
            .arg("--virtual-time-budget=3000")
            .args(args)
            .arg(&url)
            .stderr(Stdio::null())
            .output()
            .expect("run chromium");
        assert!(out.status.success(), "chromium failed");
        out.stdout
    };
    let dom = String::from_utf8(chromium(&["--dump-dom"])).unwrap();
    for name in names {
        let c = camera(api, name);
        for text in [
            name.to_string(),
            format!("{}x{}", c["width"], c["height"]),
            format!("frames {}", c["frames_complete"]),
            "fps".into(),
            "% loss".into(),
            "kbit/s".into(),
            "dropped: none".into(),
        ] {
            assert!(dom.contains(&text), "{text:?} missing from the page: {dom}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("page.png");
    chromium(&[&format!("--screenshot={}", shot.display())]);
    if let Some(keep) = std::env::var_os("MJPEG_RTP_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    // The page's grid at 1000 px: two 482 px tiles from x = 12 and 506,
    // the picture box from y = 47 to 407; sample well inside it (a 16:9
    // picture is letterboxed in the 4:3 box).
    for (column, name) in names.iter().enumerate() {
        let x0 = 12 + column * 494 + 40;
        let (mut n, mut sum, mut sum2) = (0f64, 0f64, 0f64);
        for y in (110..340).step_by(3) {
            for x in (x0..x0 + 400).step_by(3) {
                let p = (y * info.width as usize + x) * channels;
                let luma = buf[p..p + 3].iter().map(|&v| f64::from(v)).sum::<f64>() / 3.0;
                n += 1.0;
                sum += luma;
                sum2 += luma * luma;
            }
        }
        let variance = sum2 / n - (sum / n).powi(2);
        assert!(
            variance > 100.0,
            "{name}'s tile looks blank (variance {variance:.1})"
        );
    }
}

#[test]
fn a_stalled_viewer_costs_the_receiver_nothing() {
    if !gstreamer_present() {
        return;
    }
    const FRAMES: usize = 90;
    let dir = tempfile::tempdir().unwrap();
    let expected = write_frames(dir.path(), (1280, 720, Sampling::Yuv420, 0), 7, FRAMES, 6);
    let recv = Receiver::start(&["big"], &[]);
    let addr = recv.http;
    let port = camera(&api(addr), "big")["port"].as_u64().unwrap() as u16;

    // The stalled viewer: a small receive window, and it never reads.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stalled = Viewer::open(socket.into(), addr, "big");
    // A healthy viewer beside it keeps getting frames.
    let mut healthy = Viewer::connect(addr, "big");
    healthy
        .0
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        // Until the stream goes quiet after the sender's end: (parts, the
        // last one's pixels).
        let mut parts = 0;
        let mut last = Vec::new();
        while let Some(jpeg) = healthy.try_part() {
            last = decode(&jpeg).2;
            assert!(expected.contains(&last), "part {parts} is no frame sent");
            parts += 1;
        }
        (parts, last == expected[FRAMES - 1], healthy)
    });
    let mut sender = gst_sender(dir.path(), FRAMES, 30, port);
    let frames = |api: &Value| camera(api, "big")["frames_complete"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while frames(&api(addr)) < 15 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let warm_rss = recv.rss_kib();
    assert!(sender.wait().unwrap().success());
    let (parts, got_last, _healthy) = reader
        .join()
        .expect("the healthy viewer's parts are frames sent");
    assert!(
        got_last,
        "the healthy viewer's last part is not the last frame"
    );
    let end = loop {
        let now = api(addr);
        if frames(&now) == FRAMES as u64 || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let end_rss = recv.rss_kib();
    let c = camera(&end, "big");
    // The stalled viewer is dropped once a write to it has made no
    // progress for the write timeout; the healthy one stays.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = api(addr);
        if camera(&now, "big")["viewers"] == 1 {
            assert_eq!(now["viewers_stalled"], 1, "{now:#}");
            break;
        }
        assert!(Instant::now() < deadline, "{now:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // No assertion on `viewer_frames_skipped`: a viewer counts what it
    // skipped when it comes back for a frame, and the stalled one never
    // comes back (the slot's unit test checks the counting). What matters
    // is above and below: every frame complete at the receiver, the
    // healthy viewer current, memory flat.
    // ~90 frames of ~100+ KiB went by: a viewer that queued them would
    // show here.
    let bytes = c["bytes"].as_u64().unwrap();
    assert!(
        end_rss.saturating_sub(warm_rss) < 8 * 1024,
        "RSS grew from {warm_rss} KiB to {end_rss} KiB while {bytes} bytes went by"
    );
    assert!(bytes > 8 << 20, "too little data to tell: {bytes} bytes");
    eprintln!(
        "healthy viewer: {parts} parts; RSS {warm_rss} -> {end_rss} KiB; {bytes} bytes received"
    );
    drop(stalled);
    let summary = recv.finish();
    let stream = &summary["streams"][0];
    assert_eq!(stream["frames_complete"], FRAMES as u64, "{summary:#}");
    assert_eq!(stream["packets_lost"], 0);
    assert_eq!(stream["frames_dropped"], 0);
}

/// Cameras that never send: a viewer that hung up gives its place back
/// (the heartbeat finds the dead connection), `/metrics` lists every
/// family's series by camera name, then reason, and the run ends with
/// exit code 1 and the summary.
#[test]
fn silent_cameras_free_dead_viewers_and_order_metrics() {
    let recv = Receiver::start(&["zeta", "alpha"], &["--http-max-viewers", "2"]);
    let addr = recv.http;
    for round in 0..3 {
        // Two viewers take both places...
        let viewers: Vec<Viewer> = (0..2).map(|_| Viewer::connect(addr, "zeta")).collect();
        let (status, head, _) = get(addr, "/cameras/alpha/stream.mjpg", None);
        assert_eq!(status, 503, "round {round}: {head}");
        // ...and hang up; their places come back while the camera is
        // still silent.
        drop(viewers);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let api = api(addr);
            if camera(&api, "zeta")["viewers"] == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: {api:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut viewer = Viewer::connect(addr, "alpha");
    viewer
        .0
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(viewer.try_part().is_none(), "a part from a silent camera");
    drop(viewer);

    let metrics = String::from_utf8(get_ok(addr, "/metrics")).unwrap();
    let mut families = 0;
    let mut labels: Vec<(String, String)> = Vec::new();
    for line in metrics.lines().chain(["# TYPE end"]) {
        if line.starts_with("# TYPE") {
            let mut sorted = labels.clone();
            sorted.sort();
            assert_eq!(labels, sorted, "series out of order before {line:?}");
            labels.clear();
            families += 1;
        } else if let Some(rest) = line.split_once("camera=\"").map(|(_, r)| r) {
            let camera = rest.split('"').next().unwrap().to_owned();
            let reason = line
                .split_once("reason=\"")
                .map_or(String::new(), |(_, r)| {
                    r.split('"').next().unwrap().to_owned()
                });
            labels.push((camera, reason));
        }
    }
    assert!(families > 20, "{metrics}");
    // The same text at the next scrape: nothing but the values changes.
    let again = String::from_utf8(get_ok(addr, "/metrics")).unwrap();
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.rsplit_once(' ').map_or(l, |(name, _)| name).to_owned())
            .collect()
    };
    assert_eq!(names(&metrics), names(&again));

    recv.finish_silent();
}

/// The page shows a silent camera as such, not as a broken picture.
#[test]
fn the_page_says_a_camera_is_silent() {
    if !peer_present("chromium", "chromium", &["--version"]) {
        return;
    }
    let recv = Receiver::start(&["quiet"], &[]);
    let addr = recv.http;
    let port = camera(&api(addr), "quiet")["port"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while camera(&api(addr), "quiet")["silent_seconds"].is_null() {
        assert!(Instant::now() < deadline, "no silence reported");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(["--virtual-time-budget=3000", "--dump-dom"])
        .arg(format!("http://{addr}/"))
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed");
    let dom = String::from_utf8(out.stdout).unwrap();
    let said = format!("no packets on :{port} for ");
    let at = dom
        .find(&said)
        .unwrap_or_else(|| panic!("{said:?} missing from the page: {dom}"));
    let seconds: u64 = dom[at + said.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds >= 5, "{dom}");
    // The picture is hidden, not drawn broken.
    let img = dom.find("<img").expect("the picture element");
    let img_tag = &dom[img..img + dom[img..].find('>').unwrap()];
    assert!(img_tag.contains("hidden"), "{img_tag}");
    let (status, _) = recv.finish_with_status();
    assert_eq!(status.code(), Some(1));
}

/// The value of the exposition's sample `series` (name and labels, as
/// written), if it is there.
fn exposed(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// An RTSP/TCP camera with a sender quirk (Micro-RTSP changes Q after a
/// frame's first fragment): `/metrics` counts the frames that needed the
/// tolerance and lists every other kind at zero, and lists the camera's
/// RTCP packets refused for interleaving; both agree with
/// `/api/cameras` and the final JSON summary.
#[test]
fn metrics_list_tolerated_quirks_and_interleaved_refusals() {
    let server = QuirkyServer::start(Quirks::micro_rtsp());
    let recv = Receiver::start_cameras(
        &[format!("esp32={}", server.url(""))],
        &["--rtsp-transport", "tcp"],
    );
    let addr = recv.http;
    let tolerated = |api: &Value| {
        camera(api, "esp32")["tolerated"]["q_changed_mid_frame"]
            .as_u64()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tolerated(&api(addr)) < 5 {
        assert!(Instant::now() < deadline, "{:#}", api(addr));
        std::thread::sleep(Duration::from_millis(100));
    }
    const Q_CHANGED: &str =
        r#"mjpeg_rtp_frames_tolerated_total{camera="esp32",reason="q_changed_mid_frame"}"#;
    const JFIF: &str =
        r#"mjpeg_rtp_frames_tolerated_total{camera="esp32",reason="jfif_in_payload"}"#;
    const TOO_LONG: &str = r#"mjpeg_rtp_rtcp_interleaved_too_long_total{camera="esp32"}"#;
    // The camera streams on: what /api/cameras says lies between two
    // scrapes around it.
    let before = String::from_utf8(get_ok(addr, "/metrics")).unwrap();
    let api_now = api(addr);
    let after = String::from_utf8(get_ok(addr, "/metrics")).unwrap();
    let q_changed = |text: &str| exposed(text, Q_CHANGED).unwrap_or_else(|| panic!("{text}"));
    let served = tolerated(&api_now) as f64;
    assert!(
        q_changed(&before) <= served && served <= q_changed(&after),
        "{before}\n{api_now:#}\n{after}"
    );
    assert!(q_changed(&before) >= 5.0, "{before}");
    // Every kind is listed, zero or not.
    assert_eq!(exposed(&after, JFIF), Some(0.0), "{after}");
    let c = camera(&api_now, "esp32");
    assert_eq!(c["receiver"]["interleaved_too_long"], 0, "{c:#}");
    assert_eq!(exposed(&after, TOO_LONG), Some(0.0), "{after}");

    let summary = recv.finish();
    let stream = &summary["streams"][0];
    assert!(
        stream["tolerated"]["q_changed_mid_frame"].as_f64().unwrap() >= q_changed(&after),
        "{summary:#}"
    );
    assert_eq!(stream["receiver"]["interleaved_too_long"], 0, "{summary:#}");
    drop(server);
}

/// A viewer that stops reading (its TCP window shut) while frames flow is
/// dropped once writes to it make no progress for the write timeout:
/// its place under the cap comes back (a new viewer gets in and gets
/// frames), and the drop is counted.
#[test]
fn a_viewer_that_stops_reading_gives_its_place_back() {
    const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
    let recv = Receiver::start(&["cam"], &["--http-max-viewers", "1"]);
    let addr = recv.http;
    let port = camera(&api(addr), "cam")["port"].as_u64().unwrap();
    // Large frames, so that the server's send buffer (autotuned up to
    // megabytes) fills within seconds.
    let dir = tempfile::tempdir().unwrap();
    write_frames(dir.path(), (1280, 720, Sampling::Yuv420, 0), 3, 6, 6);
    let _sender = Killed(
        bin()
            .arg("send")
            .arg(dir.path())
            .args(["--fps", "30", "--loop", "--to"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mjpeg-rtp send"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while camera(&api(addr), "cam")["frames_complete"]
        .as_u64()
        .unwrap()
        < 5
    {
        assert!(Instant::now() < deadline, "no frames");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A small receive window that is never read: the server's writes
    // stall within a few frames.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stalled = Viewer::open(socket.into(), addr, "cam");
    let opened = Instant::now();
    let (status, head, _) = get(addr, "/cameras/cam/stream.mjpg", Some(TOKEN));
    assert_eq!(status, 503, "the cap of one is taken: {head}");
    let freed = loop {
        let now = api(addr);
        if camera(&now, "cam")["viewers"] == 0 {
            assert_eq!(now["viewers_stalled"], 1, "{now:#}");
            break opened.elapsed();
        }
        // The write that fills the buffer returns what it wrote when the
        // timeout ends it, and the next one fails after one more: two
        // timeouts after the stall, which comes within a second or two.
        assert!(
            opened.elapsed() < 2 * WRITE_TIMEOUT + Duration::from_secs(15),
            "the stalled viewer still holds its place: {now:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let metrics = String::from_utf8(get_ok(addr, "/metrics")).unwrap();
    assert_eq!(
        exposed(&metrics, "mjpeg_rtp_http_viewers_stalled_total"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        exposed(&metrics, r#"mjpeg_rtp_http_viewers{camera="cam"}"#),
        Some(0.0),
        "{metrics}"
    );
    // The place is free again: a reading viewer gets in and gets frames.
    let mut viewer = Viewer::connect(addr, "cam");
    for _ in 0..3 {
        let (w, h, _) = decode(&viewer.part());
        assert_eq!((w, h), (1280, 720));
    }
    eprintln!("the stalled viewer's place came back after {freed:?}");
    drop((stalled, viewer));
    recv.finish();
}

/// A child process killed when dropped (a failed assertion included).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Send `request` on a fresh connection (from a thread of its own, as the
/// server may stop reading before all of it went), then read what the
/// server answers until it closes: (status, head, body), the status 0
/// and the head empty when no head came.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let request = request.to_vec();
    let sending = std::thread::spawn(move || {
        // The server closes once it has seen enough: a failed write is
        // part of the test, not a failure.
        let _ = writer.write_all(&request);
    });
    let mut answer = Vec::new();
    let _ = (&stream).read_to_end(&mut answer);
    sending.join().unwrap();
    let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, String::new(), answer);
    };
    let head = String::from_utf8_lossy(&answer[..split + 4]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, answer[split + 4..].to_vec())
}

/// Requests no browser sends, each answered with its 4xx and counted by
/// reason; the receiver lives on, its memory unmoved by the lengths the
/// requests claim, and answers the next request.
#[test]
fn hostile_requests_are_answered_counted_and_survived() {
    let recv = Receiver::start(&["cam"], &[]);
    let addr = recv.http;
    api(addr);
    let rss_before = recv.rss_kib();

    // A body of 4 EiB declared: refused unread, nothing allocated for it.
    let huge_body = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 4611686018427387904\r\n\r\n";
    assert_eq!(raw_exchange(addr, huge_body).0, 413);
    // A header line that never ends: 8 MiB of it.
    let mut endless = b"GET /x HTTP/1.1\r\nX: ".to_vec();
    endless.resize(8 << 20, b'a');
    assert_eq!(raw_exchange(addr, &endless).0, 431);
    // Not HTTP at all (a TLS ClientHello's first bytes, then a blank line).
    assert_eq!(
        raw_exchange(addr, b"\x16\x03\x01\x02\x00\x01\r\n\r\n").0,
        400
    );
    // A method the view does not serve: 405, naming those it does.
    let (status, head, _) = raw_exchange(addr, b"DELETE / HTTP/1.1\r\n\r\n");
    assert_eq!(status, 405, "{head}");
    assert!(head.contains("\r\nAllow: GET, HEAD\r\n"), "{head}");
    // HEAD: GET's head, its length included, and no body.
    let (_, get_head, get_body) = raw_exchange(addr, b"GET /api/cameras HTTP/1.1\r\n\r\n");
    let (status, head, body) = raw_exchange(addr, b"HEAD /api/cameras HTTP/1.1\r\n\r\n");
    assert_eq!(status, 200, "{head}");
    assert!(body.is_empty(), "a body after HEAD: {body:?}");
    let length = |head: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(str::to_owned)
    };
    assert!(length(&head).is_some(), "{head}");
    assert_eq!(length(&get_head), Some(get_body.len().to_string()));

    let now = api(addr);
    assert_eq!(
        now["requests_rejected"],
        serde_json::json!({"body": 1, "malformed": 1, "timed_out": 0, "too_large": 1}),
        "{now:#}"
    );
    assert_eq!(now["requests_refused"], 0);
    let metrics = String::from_utf8(get_ok(addr, "/metrics")).unwrap();
    for (reason, count) in [("body", 1.0), ("too_large", 1.0), ("timed_out", 0.0)] {
        let series = format!(r#"mjpeg_rtp_http_requests_rejected_total{{reason="{reason}"}}"#);
        assert_eq!(exposed(&metrics, &series), Some(count), "{metrics}");
    }
    let grown = recv.rss_kib().saturating_sub(rss_before);
    assert!(grown < 4096, "RSS grew by {grown} KiB");
    // It stops as asked, its accepting thread woken.
    recv.finish_silent();
}

/// Connections that take every file descriptor the receiver may open make
/// `accept` fail; once they are gone, the live view serves again (the
/// accepting thread waited and retried rather than ending).
#[test]
fn the_view_serves_again_after_running_out_of_file_descriptors() {
    if !peer_present("prlimit (util-linux)", "prlimit", &["--version"]) {
        return;
    }
    let recv = Receiver::start(&["cam"], &[]);
    let addr = recv.http;
    api(addr);
    let pid = recv.child.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    // Room for a few more descriptors than it holds now.
    let limit = format!("--nofile={}", open + 4);
    let lowered = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &limit])
        .status()
        .expect("prlimit (util-linux)");
    assert!(lowered.success());
    // Idle connections, more than it can accept: the first few take the
    // descriptors left (each waits for a request head), the rest wait in
    // the kernel's accept queue while `accept` fails.
    let idle: Vec<TcpStream> = (0..16).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recv.logged("cannot accept a connection") {
        assert!(
            Instant::now() < deadline,
            "accept never failed: the test would test nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(idle);
    // Hung-up connections end within a read; the view answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stream = TcpStream::connect(addr).expect("the listener is still open");
        drop(stream);
        let (status, _, _) = get(addr, "/api/cameras", None);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    recv.finish_silent();
}

/// Past the cap on requests in flight (64, stream viewers included) a
/// request is answered 503 and counted; once the viewers leave, requests
/// are served again.
#[test]
fn requests_past_the_cap_are_refused_and_counted() {
    let recv = Receiver::start(&["cam"], &["--http-max-viewers", "100"]);
    let addr = recv.http;
    let viewers: Vec<Viewer> = (0..64).map(|_| Viewer::connect(addr, "cam")).collect();
    let (status, head, _) = get(addr, "/api/cameras", None);
    assert_eq!(status, 503, "{head}");
    drop(viewers);
    // A viewer of a silent camera learns that its client left at its
    // second heartbeat, about a second on.
    let deadline = Instant::now() + Duration::from_secs(15);
    let served = loop {
        let (status, _, body) = get(addr, "/api/cameras", None);
        if status == 200 {
            break serde_json::from_slice::<Value>(&body).unwrap();
        }
        assert!(Instant::now() < deadline, "still {status}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        served["requests_refused"].as_u64().unwrap() >= 1,
        "{served:#}"
    );
    recv.finish_silent();
}
