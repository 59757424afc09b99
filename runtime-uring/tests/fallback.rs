//! The fallback to std sockets: forced by a flag or by the environment
//! variable, it receives every frame and says so in exactly one warning.
//! (Its own test binary: no ring thread of another test may run here.)

mod common;

use std::process::Command;

use common::{capture_log, client_with, loopback_camera, warnings_with};
use mjpeg_rtp::Client;
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;
use mjpeg_rtp_testkit::WAIT;
use mjpeg_rtp_uring::{backend, Io, UringBackend, DISABLE_ENV};

const FALLBACK_LINE: &str = "io_uring receive unavailable";

fn frames_flow(client: &Client, seed: u32) {
    let mut sender = Sender::new("127.0.0.1:0", client.local_addr("cam").unwrap(), seed);
    for i in 0..3 {
        let original = camera_jpeg(320, 240, Sampling::Yuv420, 0, seed + i);
        sender.send_frame(&original, 1000 * i);
        let frame = client.get_frame("cam", WAIT).expect("frame");
        assert_eq!(frame.timestamp, 1000 * i);
        assert!(frame.rgb() == &decode(&original).2[..]);
    }
}

#[test]
fn forced_fallback_receives_with_std_and_says_so_once() {
    capture_log();
    let before = warnings_with(FALLBACK_LINE);
    let client = client_with(
        Box::new(UringBackend::new().force_fallback()),
        [loopback_camera("cam")],
    );
    assert_eq!(warnings_with(FALLBACK_LINE), before + 1);
    // Chosen as io_uring, receiving with std: the client names the latter.
    assert_eq!(client.backend_name(), "std");
    #[cfg(target_os = "linux")]
    {
        common::wait_threads(|names| names.iter().any(|n| n == "rx-cam"));
        let threads = common::thread_names();
        assert!(!threads.iter().any(|n| n == "rx-uring"), "{threads:?}");
    }
    frames_flow(&client, 100);
    client.stop();
    assert_eq!(warnings_with(FALLBACK_LINE), before + 1);
}

/// Runs itself again with the variable set (the environment is
/// process-wide, so the child is where it is changed).
#[test]
fn env_var_disables_io_uring() {
    if std::env::var_os(DISABLE_ENV).is_none() {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "env_var_disables_io_uring", "--nocapture"])
            .env(DISABLE_ENV, "1")
            .output()
            .expect("run the test binary again");
        assert!(
            child.status.success(),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
        return;
    }
    capture_log();
    // The constructor checks up front, so the client's log names the
    // backend that really runs.
    let chosen = backend(Io::Uring);
    assert_eq!(chosen.name(), "std");
    assert_eq!(warnings_with(FALLBACK_LINE), 1);
    assert_eq!(backend(Io::Std).name(), "std");
    assert_eq!(warnings_with(FALLBACK_LINE), 1, "Io::Std warns nothing");
    let client = client_with(chosen, [loopback_camera("cam")]);
    frames_flow(&client, 200);
    client.stop();
    // A UringBackend built directly also obeys the variable.
    let client = client_with(Box::new(UringBackend::new()), [loopback_camera("cam")]);
    assert_eq!(warnings_with(FALLBACK_LINE), 2);
    assert_eq!(client.backend_name(), "std");
    frames_flow(&client, 300);
}

#[cfg(target_os = "linux")]
#[test]
fn probe_finds_io_uring_here() {
    // CI's machines run Linux 6.x without a seccomp policy against
    // io_uring; if this fails, the other uring tests prove nothing.
    mjpeg_rtp_uring::probe().expect("io_uring usable");
    if std::env::var_os(DISABLE_ENV).is_none() {
        assert_eq!(backend(Io::Uring).name(), "uring");
    }
}
