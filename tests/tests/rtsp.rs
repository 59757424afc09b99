//! RTSP against a real server: gst-rtsp-server (tests/fixtures/tools/
//! rtsp_server.py, run with the system python3) serving known JPEGs
//! through rtpjpegpay. UDP and TCP interleaved, static and dynamic
//! payload types, Basic and Digest; every rebuilt frame pixel-exact
//! against the JPEG it came from, under every decoder in the build;
//! TEARDOWN on stop; a wrong password is a typed error.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, Error, RtspTransport};
use mjpeg_rtp_testkit::fixtures_dir;
use mjpeg_rtp_tests::assert_same_pixels_every_decoder;

const PYTHON: &str = "/usr/bin/python3";
/// Pictures served per session (the fixtures, cycled): 4 s at 5 fps.
const FRAMES: usize = 20;

fn server_missing() -> Option<String> {
    let ok = Command::new(PYTHON)
        .args(["-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ok).then(|| "gst-rtsp-server for python3 (python3-gi gir1.2-gst-rtsp-server-1.0)".into())
}

fn skip_if_missing(test: &str) -> bool {
    let Some(missing) = server_missing() else {
        return false;
    };
    assert!(
        std::env::var_os("MJPEG_RTP_REQUIRE_PEERS").is_none(),
        "{missing} not found, and MJPEG_RTP_REQUIRE_PEERS is set"
    );
    eprintln!("!!!!! SKIPPED {test}: {missing} not found");
    true
}

struct Server {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
    originals: Vec<Vec<u8>>,
}

impl Server {
    fn start(pt: u8, auth: Option<(&str, &str, &str)>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let originals: Vec<Vec<u8>> = (0..4)
            .map(|i| std::fs::read(fixtures_dir().join(format!("gst-420/{i:03}.jpg"))).unwrap())
            .collect();
        for i in 0..FRAMES {
            std::fs::write(dir.path().join(format!("{i:03}.jpg")), &originals[i % 4]).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tools/rtsp_server.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .arg(port.to_string())
            .arg(dir.path().join("%03d.jpg"))
            .arg(FRAMES.to_string())
            .arg(pt.to_string());
        if let Some((scheme, user, pass)) = auth {
            cmd.args([scheme, user, pass]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("start rtsp_server.py");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let server = Server {
            child,
            port,
            lines,
            _dir: dir,
            originals,
        };
        server.wait_for("READY", 1);
        server
    }

    fn url(&self, userinfo: &str) -> String {
        format!("rtsp://{userinfo}127.0.0.1:{}/cam", self.port)
    }

    fn count(&self, line: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| *l == line)
            .count()
    }

    fn wait_for(&self, line: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(line) < n {
            assert!(
                Instant::now() < deadline,
                "server never printed {line:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Receive `want` frames from `camera`, each pixel-exact against one of
/// the served pictures, all four pictures seen; stop; TEARDOWN seen.
fn receive(server: &Server, camera: CameraConfig, want: usize) {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client.add_camera(camera).unwrap();
    client.start().expect("RTSP session set up");
    let mut seen = [false; 4];
    for n in 0..want {
        let frame = client
            .next_frame(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("frame {n} never came: {:?}", client.stats()));
        let which = server
            .originals
            .iter()
            .position(|o| {
                std::panic::catch_unwind(|| assert_same_pixels_every_decoder(frame.jpeg(), o, ""))
                    .is_ok()
            })
            .unwrap_or_else(|| panic!("frame {n} matches no served picture"));
        assert_same_pixels_every_decoder(
            frame.jpeg(),
            &server.originals[which],
            &format!("frame {n}"),
        );
        seen[which] = true;
    }
    assert_eq!(seen, [true; 4], "every served picture arrives");
    let torn_down = server.count("TEARDOWN");
    client.stop();
    server.wait_for("TEARDOWN", torn_down + 1);
    let stats = client.stats();
    assert_eq!(
        stats[0]
            .streams
            .iter()
            .map(|s| s.frames_dropped_total())
            .sum::<u64>(),
        0,
        "{stats:?}"
    );
}

#[test]
fn tcp_interleaved_static_pt_pixel_exact_and_teardown() {
    if skip_if_missing("tcp_interleaved_static_pt_pixel_exact_and_teardown") {
        return;
    }
    let server = Server::start(26, None);
    receive(
        &server,
        CameraConfig::rtsp("door", server.url("")).with_rtsp_transport(RtspTransport::Tcp),
        8,
    );
}

#[test]
fn udp_dynamic_pt_digest_pixel_exact_and_teardown() {
    if skip_if_missing("udp_dynamic_pt_digest_pixel_exact_and_teardown") {
        return;
    }
    let server = Server::start(96, Some(("digest", "viewer", "s3cret")));
    let camera = CameraConfig::rtsp("yard", server.url("viewer:s3cret@"))
        .with_rtsp_transport(RtspTransport::Udp);
    receive(&server, camera, 8);
}

#[test]
fn auto_basic_auth_gets_frames() {
    if skip_if_missing("auto_basic_auth_gets_frames") {
        return;
    }
    let server = Server::start(26, Some(("basic", "viewer", "s3cret")));
    receive(
        &server,
        CameraConfig::rtsp("gate", server.url("viewer:s3cret@")),
        4,
    );
}

#[test]
fn wrong_password_is_a_typed_401_error() {
    if skip_if_missing("wrong_password_is_a_typed_401_error") {
        return;
    }
    let server = Server::start(26, Some(("digest", "viewer", "s3cret")));
    let mut client = Client::new(ClientOptions::default());
    client
        .add_camera(
            CameraConfig::rtsp("door", server.url("viewer:nope@"))
                .with_rtsp_transport(RtspTransport::Tcp),
        )
        .unwrap();
    let started = Instant::now();
    let err = client.start().expect_err("a wrong password cannot start");
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Rtsp { camera, error: mjpeg_rtp_rtsp::Error::Unauthorized { sent_credentials: true, .. } } if camera == "door"),
        "{err:?}"
    );
    assert!(
        text.contains("401") && text.contains("door") && !text.contains("nope"),
        "{text}"
    );
}
