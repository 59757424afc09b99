//! Helpers shared by the `cli` integration tests (each test file uses a
//! part of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The built `mjpeg-rtp` binary, without the caller's `RUST_LOG`.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mjpeg-rtp"));
    c.env_remove("RUST_LOG");
    c
}

/// Run the binary with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run mjpeg-rtp")
}

/// Replay `capture` with `args`, writing each frame's rebuilt JPEG and its
/// PPM under `out`; fails with the command's stderr.
pub fn pcap_jpeg_ppm(capture: &Path, out: &Path, args: &[&str]) {
    let mut argv = vec![
        "pcap",
        capture.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "jpeg,ppm",
    ];
    argv.extend(args);
    let result = run(&argv);
    assert!(
        result.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The per-stream fields of the JSON contract (the `pcap` and `recv`
/// summaries, and each camera in the HTTP API).
pub const CONTRACT_FIELDS: [&str; 11] = [
    "port",
    "ssrc",
    "packets_received",
    "packets_lost",
    "packets_duplicate",
    "packets_late",
    "packets_invalid",
    "frames_complete",
    "frames_dropped",
    "width",
    "height",
];
