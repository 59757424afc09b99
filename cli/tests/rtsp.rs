//! `mjpeg-rtp recv --camera NAME=rtsp://...` end to end against
//! gst-rtsp-server: the password from the environment, frames under
//! `OUT/<camera name>/` pixel-exact against the served JPEGs, exit 0,
//! the JSON naming the camera, no credentials on stdout or stderr; over
//! UDP through both receive backends.
#![cfg(target_os = "linux")]

use std::fs;
use std::process::Command;

use mjpeg_rtp_testkit::picture::{assert_same_pixels, decode};
use mjpeg_rtp_testkit::rtsp_server::{skip_if_missing, Server};
use serde_json::Value;

const FRAMES: usize = 6;

/// `io`: the receive backend (`recv --io`).
fn recv_rtsp(transport: &str, io: &str) {
    let server = Server::start(26, Some(("digest", "viewer", "s3cret")));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frames");
    let output = Command::new(env!("CARGO_BIN_EXE_mjpeg-rtp"))
        .env_remove("RUST_LOG")
        .env("MJPEG_RTP_RTSP_PASSWORD", "s3cret")
        .args(["recv", "--camera"])
        .arg(format!("door={}", server.url("viewer@")))
        .args(["--rtsp-transport", transport, "--io", io])
        .args(["--frames", &FRAMES.to_string(), "--duration", "30", "--out"])
        .arg(&out)
        .output()
        .expect("run mjpeg-rtp");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"));
    // The backend asked for is the one that received.
    assert!(!stderr.contains("falling back"), "stderr: {stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let stream = &v["streams"][0];
    assert_eq!(stream["camera"], "door", "{v}");
    assert!(
        stream["frames_complete"].as_u64().unwrap() >= FRAMES as u64,
        "{v}"
    );
    assert_eq!(stream["frames_dropped"], 0, "{v}");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(192), Some(144)),
        "{v}"
    );
    let mut files: Vec<_> = fs::read_dir(out.join("door"))
        .expect("frames under OUT/door/")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), FRAMES, "{files:?}");
    for file in &files {
        let got = fs::read(file).unwrap();
        let (_, _, pixels) = decode(&got);
        let which = server
            .originals
            .iter()
            .position(|o| decode(o).2 == pixels)
            .unwrap_or_else(|| panic!("{} matches no served picture", file.display()));
        assert_same_pixels(&got, &server.originals[which], &file.display().to_string());
    }
}

#[test]
fn recv_rtsp_tcp_writes_pixel_exact_frames_under_the_camera_name() {
    if skip_if_missing("recv_rtsp_tcp_writes_pixel_exact_frames_under_the_camera_name") {
        return;
    }
    recv_rtsp("tcp", "std");
}

#[test]
fn recv_rtsp_udp_writes_pixel_exact_frames_under_the_camera_name() {
    if skip_if_missing("recv_rtsp_udp_writes_pixel_exact_frames_under_the_camera_name") {
        return;
    }
    recv_rtsp("udp", "std");
}

/// The RTSP session runs on a std thread; the RTP it set up arrives
/// through io_uring multishot receive like any UDP camera's.
#[test]
fn recv_rtsp_udp_through_io_uring_writes_pixel_exact_frames() {
    if skip_if_missing("recv_rtsp_udp_through_io_uring_writes_pixel_exact_frames") {
        return;
    }
    recv_rtsp("udp", "uring");
}
