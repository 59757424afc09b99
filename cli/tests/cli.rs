//! The built `mjpeg-rtp` binary end to end: the JSON contract on stdout,
//! the `--out` layout, exit codes and one-line errors, and `send` over
//! loopback UDP.

use std::fs;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{bin, pcap_jpeg_ppm, run, CONTRACT_FIELDS};
use std::time::Duration;

use mjpeg_rtp_core::{frame_buffer_len, Config, Depacketizer, Instant};
use mjpeg_rtp_testkit::peer_missing;
use mjpeg_rtp_testkit::picture::psnr;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    mjpeg_rtp_testkit::fixtures_dir().join(name)
}

/// Exactly one JSON object on stdout.
fn json(out: &Output) -> Value {
    let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8 stdout");
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout:?}");
    serde_json::from_str(&stdout).expect("stdout is JSON")
}

/// Succeeded (else fail with its stderr), with exactly one JSON object on
/// stdout.
fn success_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(out)
}

/// Failed with a non-zero code, nothing on stdout, one line on stderr.
fn assert_one_line_failure(out: &Output) -> String {
    assert!(!out.status.success(), "should fail");
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr:?}");
    stderr
}

fn frame_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn pcap_json_contract_and_out_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("frames");
    let capture = fixture("gst-420/capture.pcap");
    let out = bin()
        .args([
            "pcap",
            capture.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .args(["--format", "jpeg,ppm,png"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let v = success_json(&out);
    let streams = v["streams"].as_array().expect("streams array");
    assert_eq!(streams.len(), 1);
    let s = &streams[0];
    for field in CONTRACT_FIELDS {
        assert!(s.get(field).is_some(), "missing {field}");
    }
    for field in &CONTRACT_FIELDS[2..] {
        assert!(s[field].is_u64(), "{field} not an integer");
    }
    let ssrc = s["ssrc"].as_str().unwrap();
    assert!(ssrc.len() == 10 && ssrc.starts_with("0x"), "{ssrc}");
    assert!(ssrc[2..]
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let manifest: Value =
        serde_json::from_slice(&fs::read(fixture("gst-420/manifest.json")).unwrap()).unwrap();
    let frames = manifest["frames"].as_u64().unwrap();
    let (width, height) = (manifest["width"].as_u64(), manifest["height"].as_u64());
    let port = manifest["port"].as_u64().unwrap().to_string();
    assert_eq!(s["port"].as_u64(), manifest["port"].as_u64());
    assert_eq!(s["frames_complete"].as_u64(), Some(frames));
    assert_eq!(
        (s["packets_lost"].as_u64(), s["frames_dropped"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (width, height));

    // DIR/<port>/<timestamp, 10 digits>.<ext>, three formats per frame.
    assert_eq!(frame_files(&out_dir), [port.as_str()]);
    let files = frame_files(&out_dir.join(&port));
    assert_eq!(files.len() as u64, 3 * frames, "{files:?}");
    for f in &files {
        let (stem, ext) = f.split_once('.').unwrap();
        assert!(
            stem.len() == 10 && stem.bytes().all(|b| b.is_ascii_digit()),
            "{f}"
        );
        assert!(["jpg", "ppm", "png"].contains(&ext), "{f}");
    }
    // Files in timestamp order are the originals, in order.
    let jpgs: Vec<&String> = files.iter().filter(|f| f.ends_with(".jpg")).collect();
    for (i, jpg) in jpgs.iter().enumerate() {
        let path = out_dir.join(&port).join(jpg);
        let got = mjpeg_rtp::decode::decode_rgb(&fs::read(&path).unwrap()).unwrap();
        let original = fs::read(fixture(&format!("gst-420/{i:03}.jpg"))).unwrap();
        let want = mjpeg_rtp::decode::decode_rgb(&original).unwrap();
        assert!(got.1 == want.1, "{jpg}: pixels differ from {i:03}.jpg");
        // The PPM and the PNG hold the same RGB.
        let ppm = fs::read(path.with_extension("ppm")).unwrap();
        let header = format!("P6\n{} {}\n255\n", width.unwrap(), height.unwrap());
        let header = header.as_bytes();
        assert!(ppm.starts_with(header));
        assert!(ppm[header.len()..] == want.1[..]);
        let decoder = png::Decoder::new(std::io::BufReader::new(
            fs::File::open(path.with_extension("png")).unwrap(),
        ));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(
            (
                Some(u64::from(info.width)),
                Some(u64::from(info.height)),
                info.color_type
            ),
            (width, height, png::ColorType::Rgb)
        );
        assert!(buf[..info.buffer_size()] == want.1[..]);
    }
    // Logs went to stderr, not stdout.
    assert!(!out.stderr.is_empty());
}

#[test]
fn pcap_reads_pcapng_and_decodes() {
    let capture = fixture("gst-420/capture.pcapng");
    let manifest: Value =
        serde_json::from_slice(&fs::read(fixture("gst-420/manifest.json")).unwrap()).unwrap();
    let port = manifest["port"].as_u64().unwrap().to_string();
    let out = run(&[
        "pcap",
        capture.to_str().unwrap(),
        "--decode",
        "--port",
        &port,
    ]);
    let v = success_json(&out);
    assert_eq!(v["streams"][0]["frames_complete"], manifest["frames"]);
    assert_eq!(v["streams"][0]["decode_errors"], 0);
    // A port with nothing on it: no streams, still success.
    let out = run(&["pcap", capture.to_str().unwrap(), "--port", "1"]);
    assert_eq!(success_json(&out)["streams"], Value::Array(vec![]));
}

#[test]
fn unreadable_capture_fails_with_one_line() {
    let err = assert_one_line_failure(&run(&["pcap", "/nonexistent/capture.pcap"]));
    assert!(err.contains("/nonexistent/capture.pcap"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    fs::write(&junk, b"this is not a capture file at all").unwrap();
    assert_one_line_failure(&run(&["pcap", junk.to_str().unwrap()]));
    let empty = dir.path().join("empty.pcap");
    fs::write(&empty, b"").unwrap();
    assert_one_line_failure(&run(&["pcap", empty.to_str().unwrap()]));
    // A directory is not a capture either.
    assert_one_line_failure(&run(&["pcap", dir.path().to_str().unwrap()]));
}

#[test]
fn truncated_capture_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let whole = fs::read(fixture("gst-420/capture.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let out = run(&["pcap", cut.to_str().unwrap()]);
    let v = success_json(&out);
    assert_eq!(v["capture"]["truncated"], true);
    let s = &v["streams"][0];
    assert!(s["frames_complete"].as_u64().unwrap() >= 1);
    assert_eq!(s["frames_dropped"], 1, "the cut frame is dropped");
}

#[test]
fn bad_arguments_fail_with_one_line() {
    for args in [
        &["pcap"][..],
        &["pcap", "x.pcap", "--format", "gif"],
        &["pcap", "x.pcap", "--port", "70000"],
        &["pcap", "x.pcap", "--bogus"],
        &["pcap", "x.pcap", "--decoder", "libpng"],
        &["send", "--to", "127.0.0.1:5004"],
        &["send", "--pattern"],
        &["send", "--pattern", "--to", "127.0.0.1:5004", "--fps", "0"],
        &["recv"],
        &["nosuchcommand"],
        &[],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_one_line_failure(&out);
    }
    let out = run(&["--help"]);
    assert!(out.status.success());
}

/// A decoder this build lacks is a usage error naming the feature, not a
/// silent fallback to another decoder.
#[test]
fn decoder_choice_is_checked() {
    let capture = fixture("gst-420/capture.pcap");
    let out = run(&[
        "pcap",
        capture.to_str().unwrap(),
        "--decode",
        "--decoder",
        "libjpeg-turbo",
    ]);
    if mjpeg_rtp::Decoder::LibjpegTurbo.is_available() {
        let summary = success_json(&out);
        assert_eq!(summary["streams"][0]["decode_errors"], 0);
    } else {
        assert_eq!(out.status.code(), Some(2));
        let line = assert_one_line_failure(&out);
        assert!(line.contains("turbojpeg"), "{line}");
    }
}

#[test]
fn unwritable_out_dir_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    let capture = fixture("gst-420/capture.pcap");
    let out = run(&[
        "pcap",
        capture.to_str().unwrap(),
        "--out",
        file.join("sub").to_str().unwrap(),
    ]);
    assert_one_line_failure(&out);
}

/// Receive what `send` sends, rebuild the frames with the core.
fn receive_frames(socket: &UdpSocket, expected_packets: u64) -> (u64, Vec<Vec<u8>>) {
    let mut buffers = [
        vec![0u8; frame_buffer_len(1 << 20)],
        vec![0u8; frame_buffer_len(1 << 20)],
    ];
    let [a, b] = &mut buffers;
    let mut rx = Depacketizer::new(Config::default(), [&mut a[..], &mut b[..]]);
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut received = 0;
    while received < expected_packets {
        let Ok(n) = socket.recv(&mut buf) else { break };
        received += 1;
        let _ = rx.push(Instant::from_millis(received), &buf[..n]);
        while let Some(f) = rx.next_frame() {
            frames.push(f.jpeg.to_vec());
        }
    }
    (received, frames)
}

/// A loopback UDP socket for `send` to send to, and its address.
fn receiver() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let to = socket.local_addr().unwrap().to_string();
    (socket, to)
}

#[test]
fn send_pattern_over_loopback() {
    let (socket, to) = receiver();
    let out = run(&[
        "send",
        "--pattern",
        "--to",
        &to,
        "--fps",
        "200",
        "--frames",
        "6",
        "--width",
        "96",
        "--height",
        "64",
        "--mtu",
        "500",
    ]);
    let v = success_json(&out);
    assert_eq!(v["frames_sent"], 6);
    let packets = v["packets_sent"].as_u64().unwrap();
    assert!(packets >= 6);
    assert!(v["bytes_sent"].as_u64().unwrap() > packets * 12);
    let (received, frames) = receive_frames(&socket, packets);
    assert_eq!(received, packets);
    assert_eq!(frames.len(), 6);
    for f in &frames {
        let (size, _) = mjpeg_rtp::decode::decode_rgb(f).unwrap();
        assert_eq!((size.width, size.height), (96, 64));
    }
    assert_ne!(frames[0], frames[1], "the pattern moves");
}

#[test]
fn send_directory_pixel_exact() {
    let (socket, to) = receiver();
    let dir = fixture("gst-422");
    let out = run(&[
        "send",
        dir.to_str().unwrap(),
        "--to",
        &to,
        "--fps",
        "100",
        "--mtu",
        "800",
    ]);
    let v = success_json(&out);
    let count = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "jpg")
        })
        .count();
    assert_eq!(v["frames_sent"].as_u64(), Some(count as u64));
    let (_, frames) = receive_frames(&socket, v["packets_sent"].as_u64().unwrap());
    assert_eq!(frames.len(), count);
    for (i, f) in frames.iter().enumerate() {
        let original = fs::read(dir.join(format!("{i:03}.jpg"))).unwrap();
        let got = mjpeg_rtp::decode::decode_rgb(f).unwrap();
        let want = mjpeg_rtp::decode::decode_rgb(&original).unwrap();
        assert!(got.1 == want.1, "frame {i}");
    }
}

#[test]
fn send_errors() {
    assert_one_line_failure(&run(&["send", "/nonexistent.jpg", "--to", "127.0.0.1:9"]));
    let dir = tempfile::tempdir().unwrap();
    let not_jpeg = dir.path().join("x.jpg");
    fs::write(&not_jpeg, b"nope").unwrap();
    assert_one_line_failure(&run(&[
        "send",
        not_jpeg.to_str().unwrap(),
        "--to",
        "127.0.0.1:9",
    ]));
    assert_one_line_failure(&run(&["send", "--pattern", "--to", "no-port-here"]));
}

/// The PPM body after a `P6\nW H\n255\n` header.
fn ppm_pixels(ppm: &[u8]) -> &[u8] {
    let mut newlines = 0;
    let start = ppm
        .iter()
        .position(|&b| {
            newlines += usize::from(b == b'\n');
            newlines == 3
        })
        .expect("PPM header");
    &ppm[start + 1..]
}

/// zune-jpeg's RGB is within 40 dB of libjpeg-turbo's (djpeg); our
/// libjpeg-turbo decoder (feature `turbojpeg`) gives djpeg's exact bytes.
#[test]
fn rgb_output_against_djpeg() {
    if Command::new("djpeg").arg("-version").output().is_err() {
        peer_missing("djpeg (libjpeg-turbo-progs) not found", "skipping");
        return;
    }
    let turbo = mjpeg_rtp::Decoder::LibjpegTurbo;
    if !turbo.is_available() {
        peer_missing("built without the turbojpeg feature", "zune-jpeg only");
    }
    let dir = tempfile::tempdir().unwrap();
    let fixtures = [
        "gst-420",
        "gst-422",
        "gst-restart",
        "ffmpeg-420",
        "ffmpeg-422",
    ];
    for (decoder, name) in
        mjpeg_rtp::Decoder::available().flat_map(|d| fixtures.iter().map(move |name| (d, name)))
    {
        let capture = fixture(&format!("{name}/capture.pcap"));
        assert!(capture.is_file(), "{} missing", capture.display());
        let out_dir = dir.path().join(decoder.name()).join(name);
        pcap_jpeg_ppm(&capture, &out_dir, &["--decoder", decoder.name()]);
        let mut compared = 0;
        for port in frame_files(&out_dir) {
            for f in frame_files(&out_dir.join(&port)) {
                let Some(stem) = f.strip_suffix(".jpg") else {
                    continue;
                };
                compared += 1;
                let jpg = out_dir.join(&port).join(&f);
                let reference = Command::new("djpeg")
                    .arg("-ppm")
                    .arg(&jpg)
                    .output()
                    .unwrap();
                assert!(reference.status.success(), "djpeg {f}");
                let ours = fs::read(out_dir.join(&port).join(format!("{stem}.ppm"))).unwrap();
                if decoder == turbo {
                    assert!(ours == reference.stdout, "{name} {f}: differs from djpeg");
                } else {
                    let db = psnr(ppm_pixels(&ours), ppm_pixels(&reference.stdout));
                    assert!(db >= 40.0, "{name} {f}: {db:.1} dB against libjpeg-turbo");
                }
            }
        }
        assert!(compared > 0, "{name}: no frame written");
    }
}

/// `recv` fails, naming the camera, when a camera delivered no frame
/// during the run; the summary is still printed, and a camera that did
/// deliver is not named.
#[test]
fn recv_fails_naming_a_camera_that_delivered_nothing() {
    // A free port for the camera that gets frames.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut sender = bin()
        .args(["send", "--pattern", "--width", "160", "--height", "120"])
        .args(["--frames", "60", "--fps", "20", "--to"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = run(&[
        "recv",
        "--camera",
        &format!("fed=127.0.0.1:{port}"),
        "--camera",
        "quiet=127.0.0.1:0",
        "--duration",
        "3",
    ]);
    let _ = sender.kill();
    let _ = sender.wait();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last, "mjpeg-rtp: camera \"quiet\" delivered no frame",
        "stderr: {stderr}"
    );
    let summary = json(&out);
    let streams = summary["streams"].as_array().unwrap();
    assert!(
        streams
            .iter()
            .any(|s| s["camera"] == "fed" && s["frames_complete"].as_u64() > Some(0)),
        "{summary:#}"
    );
    assert!(
        streams.iter().all(|s| s["camera"] != "quiet"),
        "{summary:#}"
    );

    // Alone, the silent camera still gets its summary, and the exit code.
    let out = run(&["recv", "--camera", "quiet=127.0.0.1:0", "--duration", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["streams"], serde_json::json!([]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("camera \"quiet\" delivered no frame"));
}

/// A capture of RTSP over TCP: its interleaved stream under the server's
/// port, its channel from the SETUP reply, every frame written.
#[test]
fn pcap_reads_rtp_interleaved_in_rtsp_over_tcp() {
    let capture = fixture("rtsp-tcp/interleaved.pcap");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "pcap",
        capture.to_str().unwrap(),
        "--port",
        "28754",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    let summary = success_json(&out);
    let streams = summary["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{summary:#}");
    let s = &streams[0];
    assert_eq!(s["port"], 28754);
    assert_eq!(s["frames_complete"], 4);
    assert_eq!(s["packets_lost"], 0);
    assert_eq!(s["interleaved"]["channel"], 0);
    assert_eq!(s["interleaved"]["channel_assumed"], false);
    assert_eq!(summary["capture"]["rtsp_tcp"]["setup_replies"], 1);
    assert_eq!(frame_files(&out_dir.path().join("28754")).len(), 4);
}

/// The README's main job: `demo` sends the test pattern to itself over
/// loopback, receives every frame pixel-exact (it fails otherwise),
/// writes the PNGs asked for and prints the JSON summary; with either
/// receive backend, GRO on or off. (io_uring falls back to std sockets
/// where the kernel refuses it: the run must pass either way.)
#[test]
fn demo_receives_every_frame_and_writes_pngs() {
    for (io, gro) in [("std", true), ("uring", false)] {
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().to_str().unwrap();
        let mut args = vec!["demo", "--frames", "15", "--png", "2", "--out", out_dir];
        args.extend(["--io", io]);
        if !gro {
            args.push("--no-gro");
        }
        let v = success_json(&run(&args));
        let streams = v["streams"].as_array().expect("streams array");
        assert_eq!(streams.len(), 1, "{v}");
        let s = &streams[0];
        assert_eq!(s["camera"], "demo");
        assert_eq!(s["frames_complete"].as_u64(), Some(15), "{io}: {v}");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(640), Some(480))
        );
        assert_eq!(s["decode_errors"], 0);
        let port = s["port"].as_u64().expect("port").to_string();
        let pngs = frame_files(&dir.path().join(port));
        assert_eq!(pngs.len(), 2, "{pngs:?}");
        assert!(pngs.iter().all(|name| name.ends_with(".png")), "{pngs:?}");
    }
}
