//! A started camera that receives nothing from its sender is reported
//! once, with what to check (or with the foreign host that did send), and
//! again when its datagrams arrive: with either backend, from the times
//! the backend passes in.

mod common;

use std::time::{Duration, Instant};

use common::{capture_log, client_with, loopback_camera, warnings_with};
use mjpeg_rtp::backend::StdBackend;
use mjpeg_rtp::{CameraConfig, Client};
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;
use mjpeg_rtp_testkit::WAIT;

/// Short, so that the test is; the default is 5 s.
const SILENCE: Duration = Duration::from_millis(300);

fn quiet_camera(id: &str) -> CameraConfig {
    CameraConfig {
        silence_warning: SILENCE,
        ..loopback_camera(id)
    }
}

/// Wait until exactly one warning line contains `needle`.
fn wait_for_line(needle: &str) {
    let deadline = Instant::now() + WAIT;
    while warnings_with(needle) == 0 {
        assert!(Instant::now() < deadline, "no warning with {needle:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(warnings_with(needle), 1, "{needle:?}");
}

/// Two cameras: `silent` gets nothing at all, `stranger` gets datagrams
/// only from 127.0.0.2 (its expected sender is 127.0.0.1). Each is
/// reported once; then both get a frame from the sender, and that is
/// reported once.
fn silence_then_frames(start: impl FnOnce(Vec<CameraConfig>) -> Client, backend: &str) {
    capture_log();
    let (silent, stranger) = (format!("silent-{backend}"), format!("stranger-{backend}"));
    let started = Instant::now();
    let client = start(vec![quiet_camera(&silent), quiet_camera(&stranger)]);
    let silent_to = client.local_addr(&silent).unwrap();
    let stranger_to = client.local_addr(&stranger).unwrap();
    let original = camera_jpeg(160, 120, Sampling::Yuv420, 0, 3);
    let mut foreign = Sender::new("127.0.0.2:0", stranger_to, 0xBAD);
    foreign.send_frame(&original, 1000);

    wait_for_line(&format!(
        "camera {silent:?}: no datagram on {silent_to} for 300ms: check that the camera sends \
         to this host's address and port {}, and that no firewall drops UDP to it; only \
         datagrams from 127.0.0.1 will be used",
        silent_to.port()
    ));
    wait_for_line(&format!(
        "camera {stranger:?}: nothing from 127.0.0.1 on {stranger_to} for 300ms, only \
         datagrams from {}, which are ignored: check the camera's expected sender host",
        foreign.socket.local_addr().unwrap()
    ));
    assert!(started.elapsed() >= SILENCE);
    // Once: more silence says nothing more.
    std::thread::sleep(2 * SILENCE);
    assert_eq!(warnings_with(&format!("camera {silent:?}: no datagram")), 1);
    assert_eq!(
        warnings_with(&format!("camera {stranger:?}: nothing from")),
        1
    );

    for (id, to) in [(&silent, silent_to), (&stranger, stranger_to)] {
        let mut sender = Sender::new("127.0.0.1:0", to, 0x600D);
        let arriving = format!(
            "camera {id:?}: datagrams from {} now arrive on {to}, ",
            sender.socket.local_addr().unwrap()
        );
        for i in 0..2 {
            sender.send_frame(&original, 3000 * i);
            let frame = client.get_frame(id, WAIT).expect("frame from the sender");
            assert!(frame.rgb() == &decode(&original).2[..]);
        }
        assert_eq!(warnings_with(&arriving), 1, "{arriving:?}");
        assert_eq!(warnings_with(&format!("camera {id:?}: datagrams from")), 1);
    }
    client.stop();
}

#[test]
fn silence_is_reported_once_and_its_end_std() {
    silence_then_frames(
        |cameras| client_with(Box::new(StdBackend::default()), cameras),
        "std",
    );
}

#[cfg(target_os = "linux")]
#[test]
fn silence_is_reported_once_and_its_end_uring() {
    silence_then_frames(common::uring_client, "uring");
}
