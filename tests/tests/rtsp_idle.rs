//! A playing RTSP session's thread sleeps until its next deadline
//! (keepalive, RTCP report, silence timeout) instead of waking on a fixed
//! period: counted in the thread's voluntary context switches, with the
//! stream flowing over UDP (so the session thread has no data to read).
//! Alone in its test binary, so that no other test's session threads
//! are counted.
#![cfg(target_os = "linux")]

use std::time::Duration;

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, RtspTransport};
use mjpeg_rtp_testkit::quirky_rtsp::{Quirks, QuirkyServer};

/// Voluntary context switches of this process's RTSP session threads.
fn session_thread_wakeups() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "mjpeg-rtp-rtsp" {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

#[test]
fn a_playing_session_thread_sleeps_until_its_next_deadline() {
    let server = QuirkyServer::start(Quirks::default());
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client
        .add_camera(
            CameraConfig::rtsp("idle", server.url("")).with_rtsp_transport(RtspTransport::Udp),
        )
        .unwrap();
    client.start().expect("RTSP session set up");
    client
        .next_frame(Duration::from_secs(5))
        .expect("frames flow over UDP");
    let before = session_thread_wakeups();
    std::thread::sleep(Duration::from_secs(3));
    let wakeups = session_thread_wakeups() - before;
    eprintln!("session thread: {wakeups} wake-ups in 3 s");
    // An RTCP report or two (the silence deadline stays the timeout
    // ahead while packets come): a handful. A 50 ms poll would be 60.
    assert!(wakeups <= 10, "{wakeups} wake-ups in 3 s");
    let stopping = std::time::Instant::now();
    client.stop();
    assert!(
        stopping.elapsed() < Duration::from_millis(1500),
        "stop woke the sleeping thread: {:?}",
        stopping.elapsed()
    );
}
