//! ESP32 camera firmware through the command: `recv` against testkit's
//! scripted Micro-RTSP and espp servers over UDP and TCP, then `pcap` of
//! a capture of what the server sent. Every written file is checked
//! pixel-exact against the picture sent in that frame; frames stamped
//! alike each get their own file (`<ts>.jpg`, then `<ts>_1.jpg`). And
//! `recv` names why when datagrams arrive but no frame completes.
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

mod common;
use common::bin;
use mjpeg_rtp_testkit::capture::{write_capture, CaptureFormat};
use mjpeg_rtp_testkit::picture::assert_same_pixels;
use mjpeg_rtp_testkit::quirky_rtsp::{Quirks, QuirkyServer, TIMESTAMP_BASE};
use serde_json::Value;

const FRAMES: usize = 10;

/// `<timestamp>[_<n>].jpg` -> (timestamp, n).
fn parse_name(name: &str) -> (u32, usize) {
    let stem = name.strip_suffix(".jpg").expect("a .jpg");
    match stem.split_once('_') {
        Some((ts, n)) => (ts.parse().unwrap(), n.parse().unwrap()),
        None => (stem.parse().unwrap(), 0),
    }
}

/// Every `.jpg` under `dir`, pixel-exact against the picture the server
/// sent with that timestamp (the n-th of it for `_n`); their (timestamp,
/// n), in order.
fn check_files(server: &QuirkyServer, dir: &Path, what: &str) -> Vec<(u32, usize)> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{what}: {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.insert(parse_name(&name), path);
    }
    for (&(ts, n), path) in &files {
        let got = fs::read(path).unwrap();
        assert_same_pixels(
            &got,
            server.original_nth(ts, n),
            &format!("{what}: {name:?}", name = path.file_name()),
        );
    }
    files.into_keys().collect()
}

/// `recv` of `quirks` over `transport` until `FRAMES` frames; the
/// server, the JSON summary and the frames' directory (kept in `dir`).
fn recv(quirks: Quirks, transport: &str, dir: &Path) -> (QuirkyServer, Value) {
    let server = QuirkyServer::start(quirks);
    let output = bin()
        .args(["recv", "--camera"])
        .arg(format!("esp32={}", server.url("")))
        .args(["--rtsp-transport", transport])
        .args(["--frames", &FRAMES.to_string(), "--duration", "30", "--out"])
        .arg(dir)
        .output()
        .expect("run mjpeg-rtp");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{transport}: {stderr}");
    assert!(!stderr.contains("0 frames"), "{transport}: {stderr}");
    let v: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    (server, v)
}

fn assert_clean(v: &Value, what: &str) {
    let stream = &v["streams"][0];
    assert!(
        stream["frames_complete"].as_u64().unwrap() >= FRAMES as u64,
        "{what}: {v}"
    );
    assert_eq!(stream["packets_invalid"], 0, "{what}: {v}");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(192), Some(144)),
        "{what}: {v}"
    );
}

/// What the server sent over UDP, as a capture, replayed by `pcap`:
/// every frame it sent written, pixel-exact.
/// The summary entry's count of tolerance `kind`.
fn tolerated(v: &Value, kind: &str) -> u64 {
    v["streams"][0]["tolerated"][kind].as_u64().unwrap_or(0)
}

fn pcap_of_what_was_sent(
    server: &QuirkyServer,
    dir: &Path,
    what: &str,
) -> (Vec<(u32, usize)>, Value) {
    let sent = server.sent_udp();
    assert!(!sent.is_empty(), "{what}");
    let capture = dir.join("esp32.pcap");
    write_capture(&capture, CaptureFormat::default(), &sent);
    let out = dir.join("pcap");
    let output = bin()
        .args([
            "pcap",
            capture.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("run mjpeg-rtp");
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let stream = &v["streams"][0];
    assert_eq!(stream["frames_dropped"], 0, "{what}: {v}");
    assert_eq!(stream["packets_lost"], 0, "{what}: {v}");
    let port = sent[0].dst.port();
    let files = check_files(server, &out.join(port.to_string()), what);
    assert_eq!(
        files.len() as u64,
        stream["frames_complete"].as_u64().unwrap(),
        "{what}: {files:?}"
    );
    (files, v)
}

#[test]
fn micro_rtsp_over_udp_and_tcp_and_its_capture() {
    for transport in ["udp", "tcp"] {
        let what = format!("Micro-RTSP over {transport}");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("frames");
        let (server, v) = recv(Quirks::micro_rtsp(), transport, &out);
        assert_clean(&v, &what);
        assert!(
            tolerated(&v, "q_changed_mid_frame") >= FRAMES as u64,
            "{what}: {v}"
        );
        let files = check_files(&server, &out.join("esp32"), &what);
        // Frames 0 and 1 share the first timestamp: two files.
        assert_eq!(
            &files[..2],
            [(TIMESTAMP_BASE, 0), (TIMESTAMP_BASE, 1)],
            "{what}: {files:?}"
        );
        assert!(files.len() >= FRAMES, "{what}: {files:?}");
        if transport == "udp" {
            let (files, v) = pcap_of_what_was_sent(&server, dir.path(), &what);
            assert_eq!(
                tolerated(&v, "q_changed_mid_frame"),
                files.len() as u64,
                "{v}"
            );
            assert_eq!(
                &files[..2],
                [(TIMESTAMP_BASE, 0), (TIMESTAMP_BASE, 1)],
                "{what}: {files:?}"
            );
        }
    }
}

#[test]
fn espp_over_udp_and_auto_and_its_capture() {
    for transport in ["udp", "auto"] {
        let what = format!("espp over {transport}");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("frames");
        let (server, v) = recv(Quirks::espp(), transport, &out);
        assert_clean(&v, &what);
        assert!(
            tolerated(&v, "jfif_in_payload") >= FRAMES as u64,
            "{what}: {v}"
        );
        assert!(check_files(&server, &out.join("esp32"), &what).len() >= FRAMES);
        // The JPEGs written are the camera's own files, byte for byte.
        for entry in fs::read_dir(out.join("esp32")).unwrap() {
            let path = entry.unwrap().path();
            let (ts, n) = parse_name(&path.file_name().unwrap().to_string_lossy());
            assert_eq!(
                fs::read(&path).unwrap(),
                server.original_nth(ts, n),
                "{what}"
            );
        }
        if transport == "udp" {
            let (files, v) = pcap_of_what_was_sent(&server, dir.path(), &what);
            assert!(files.len() >= FRAMES, "{what}: {files:?}");
            assert_eq!(tolerated(&v, "jfif_in_payload"), files.len() as u64, "{v}");
            assert_eq!(
                tolerated(&v, "q_changed_mid_frame"),
                files.len() as u64,
                "{v}"
            );
        }
    }
}

#[test]
fn recv_says_why_when_packets_arrive_but_no_frame_completes() {
    // Q 200 and its tables never sent: every frame is dropped as
    // `missing_tables`.
    let server = QuirkyServer::start(Quirks {
        q_tables: Some((200, usize::MAX)),
        ..Quirks::default()
    });
    let output = bin()
        .args(["recv", "--camera"])
        .arg(format!("esp32={}", server.url("")))
        .args(["--rtsp-transport", "tcp", "--duration", "6.5"])
        .output()
        .expect("run mjpeg-rtp");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warning: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("0 frames in"))
        .collect();
    assert_eq!(warning.len(), 1, "{stderr}");
    assert!(warning[0].contains("camera \"esp32\""), "{stderr}");
    assert!(
        warning[0].contains("frames dropped `missing_tables`"),
        "{stderr}"
    );
}
