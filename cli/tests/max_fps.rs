//! `--max-fps`: frames thinned by RTP timestamp before decode, by `pcap`
//! (a generated capture: exactly the grid's frames) and by `recv` (the
//! project's sender over loopback: N per second, the rest counted).

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mjpeg_rtp_core::PacketizerConfig;
use mjpeg_rtp_testkit::capture::{write_capture, CaptureFormat};
use mjpeg_rtp_testkit::picture::{camera_jpeg, Sampling};
use mjpeg_rtp_testkit::rtp::packetize;
use mjpeg_rtp_testkit::{datagrams_to, retime};
use serde_json::Value;

mod common;
use common::{bin, run};

/// The `.jpg` files written under `dir/<sub>/`, sorted.
fn written(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|sub| std::fs::read_dir(sub.unwrap().path()).unwrap())
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn only_stream(out: &[u8]) -> Value {
    let summary: Value = serde_json::from_slice(out).expect("JSON summary");
    let streams = summary["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{summary}");
    streams[0].clone()
}

#[test]
fn pcap_keeps_the_first_frame_of_each_interval() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = camera_jpeg(64, 48, Sampling::Yuv420, 0, 1);
    // Two seconds of 30 fps starting on the grid of 5 fps (18 000 ticks).
    let frames: Vec<(Vec<u8>, u32)> = (0..60)
        .map(|n| (jpeg.clone(), 900_000 + n * 3000))
        .collect();
    let mut datagrams = datagrams_to(5004, packetize(PacketizerConfig::default(), &frames));
    retime(&mut datagrams, Duration::from_millis(1));
    let capture = dir.path().join("c.pcap");
    write_capture(&capture, CaptureFormat::default(), &datagrams);
    let out = dir.path().join("out");
    let result = run(&[
        "pcap",
        capture.to_str().unwrap(),
        "--max-fps",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{result:?}");
    let stream = only_stream(&result.stdout);
    assert_eq!(stream["frames_complete"], 60);
    assert_eq!(stream["frames_thinned"], 50);
    let want: Vec<String> = (0..10)
        .map(|k| format!("{:010}.jpg", 900_000 + k * 18_000))
        .collect();
    assert_eq!(written(&out), want);
    // Without the option nothing is thinned and the field is absent.
    let plain = run(&["pcap", capture.to_str().unwrap()]);
    assert!(only_stream(&plain.stdout).get("frames_thinned").is_none());
}

#[test]
fn recv_takes_n_frames_per_second_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.path().join("out");
    let recv = bin()
        .args([
            "recv",
            "--camera",
            &format!("cam=127.0.0.1:{port}"),
            "--max-fps",
            "5",
            "--duration",
            "60",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // Three seconds of a 30 fps stream.
    let sent = run(&[
        "send",
        "--pattern",
        "--width",
        "160",
        "--height",
        "120",
        "--fps",
        "30",
        "--loop",
        "--frames",
        "90",
        "--to",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(sent.status.success(), "{sent:?}");
    // Ctrl-C ends `recv` with its summary, once the last frames are in.
    std::thread::sleep(Duration::from_millis(1000));
    let interrupted = Command::new("kill")
        .args(["-INT", &recv.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let done = recv.wait_with_output().unwrap();
    assert!(done.status.success(), "{done:?}");
    let stream = only_stream(&done.stdout);
    assert_eq!(stream["frames_complete"], 90, "{stream}");
    let kept = written(&out).len() as u64;
    // 3 s of stream time: 15 intervals, 16 when the first is cut.
    assert!((15..=16).contains(&kept), "{kept} frames written");
    assert_eq!(stream["frames_thinned"].as_u64().unwrap() + kept, 90);
}

#[test]
fn max_fps_out_of_range_is_refused() {
    for bad in ["0", "-1", "1001", "fast"] {
        let out = run(&["pcap", "x.pcap", &format!("--max-fps={bad}")]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("max-fps"));
    }
}
