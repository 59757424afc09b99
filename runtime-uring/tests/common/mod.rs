//! Helpers for the uring tests: clients on the ring, many cameras,
//! threads and logs. Pictures, packetizing, sending, decoding and the
//! loopback camera and client come from the testkit.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use mjpeg_rtp::{CameraConfig, Client};
pub use mjpeg_rtp_testkit::backend_tests::{client_with, loopback_camera, LOCALHOST};
use mjpeg_rtp_testkit::wait_until;

/// Camera `i` of a many-camera test, on its own loopback address
/// 127.1.x.y (Linux routes all of 127/8 to lo), so that hundreds of
/// cameras do not crowd one address's ephemeral ports.
pub fn many_camera(id: &str, i: usize) -> CameraConfig {
    let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250) as u8 + 1);
    CameraConfig::new(id, SocketAddr::new(IpAddr::V4(ip), 0)).with_sender(LOCALHOST)
}

/// A started client on the io_uring backend; panics when io_uring is not
/// usable here, since then these tests would prove nothing about it.
pub fn uring_client(cameras: impl IntoIterator<Item = CameraConfig>) -> Client {
    mjpeg_rtp_uring::probe().expect("io_uring must be usable for these tests");
    let client = client_with(Box::new(mjpeg_rtp_uring::UringBackend::new()), cameras);
    assert_eq!(client.backend_name(), "uring");
    assert_ring_thread(true);
    client
}

/// Names of this process's threads (Linux: `/proc/self/task/*/comm`).
pub fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
                names.push(name.trim().to_owned());
            }
        }
    }
    names
}

/// Wait until the thread names satisfy `ok` (a new thread names itself
/// once it runs, so a fresh one may still carry its parent's name).
pub fn wait_threads(ok: impl Fn(&[String]) -> bool) {
    wait_until(thread_names, |names| ok(names));
}

/// Whether the io_uring thread is running (tests in one binary run in
/// parallel, so only "is there one" is meaningful, not how many).
pub fn assert_ring_thread(expected: bool) {
    let names = thread_names();
    assert_eq!(
        names.iter().any(|n| n == "rx-uring"),
        expected,
        "threads: {names:?}"
    );
}

/// Records every log line of the test binary (install once).
pub struct CaptureLog {
    pub lines: Mutex<Vec<(log::Level, String)>>,
}

pub static LOG: CaptureLog = CaptureLog {
    lines: Mutex::new(Vec::new()),
};

impl log::Log for CaptureLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            eprintln!("[{}] {line}", record.level());
            self.lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((record.level(), line));
        }
    }

    fn flush(&self) {}
}

pub fn capture_log() {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Info);
}

/// Warning lines logged so far that contain `needle`.
pub fn warnings_with(needle: &str) -> usize {
    LOG.lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(level, line)| *level == log::Level::Warn && line.contains(needle))
        .count()
}
