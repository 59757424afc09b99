//! Two GStreamer senders at once (`rtpjpegpay`, a real peer) into one
//! client, every frame pixel-exact: once through the io_uring ring and once
//! through the portable std backend (issue 3's live peer test, kept here
//! beside its uring twin). Skipped, loudly, without gst-launch-1.0
//! and the elements used (`imagesequencesrc` and `jpegparse` are in
//! gstreamer1.0-plugins-bad, `rtpjpegpay` in -good).
//!
//! `imagesequencesrc` rather than `multifilesrc`: multifilesrc leaves the
//! PTS unset after the first buffer, so rtpjpegpay stamps every frame
//! with the same RTP timestamp.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{client_with, loopback_camera, uring_client};
use mjpeg_rtp::backend::StdBackend;
use mjpeg_rtp::Client;
use mjpeg_rtp_testkit::peer_missing;
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};

const FRAMES: usize = 10;

/// What is missing to run GStreamer senders, if anything.
fn gst_missing() -> Option<String> {
    let runs = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !runs("gst-launch-1.0", "--version") {
        return Some("gst-launch-1.0 (gstreamer1.0-tools)".into());
    }
    ["imagesequencesrc", "jpegparse", "rtpjpegpay", "udpsink"]
        .into_iter()
        .find(|element| !runs("gst-inspect-1.0", element))
        .map(|element| format!("the GStreamer element {element}"))
}

/// Stream `dir/000.jpg ..` to `port` at 5 fps (slow enough for debug-build
/// decoders on a busy 2-core machine: a decode backlog drop would fail the
/// test without saying anything about receiving).
fn gst_sender(dir: &Path, port: u16) -> Child {
    let location = format!("location={}/%03d.jpg", dir.display());
    Command::new("gst-launch-1.0")
        .args(["-q", "imagesequencesrc", &location, "start-index=0"])
        .arg(format!("stop-index={}", FRAMES - 1))
        .args(["framerate=5/1", "!", "jpegparse", "!"])
        .args(["rtpjpegpay", "!", "udpsink", "host=127.0.0.1"])
        .arg(format!("port={port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start gst-launch-1.0")
}

#[test]
fn two_gstreamer_senders_at_once_pixel_exact_uring() {
    two_gstreamer_senders(uring_client);
}

#[test]
fn two_gstreamer_senders_at_once_pixel_exact_std() {
    two_gstreamer_senders(|cameras| client_with(Box::new(StdBackend::default()), cameras));
}

fn two_gstreamer_senders(start: impl FnOnce(Vec<mjpeg_rtp::CameraConfig>) -> Client) {
    if let Some(missing) = gst_missing() {
        peer_missing(
            &format!("{missing} not found"),
            "two_gstreamer_senders_at_once_pixel_exact SKIPPED; install gstreamer1.0-tools, \
             -plugins-good and -plugins-bad",
        );
        return;
    }
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    // One 4:2:0 camera and one 4:2:2 camera with restart markers.
    let shapes = [
        (640u16, 480u16, Sampling::Yuv420, 0u16),
        (480, 272, Sampling::Yuv422, 3),
    ];
    let mut expected: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for (cam, &(w, h, sampling, restart)) in shapes.iter().enumerate() {
        for i in 0..FRAMES {
            let original = camera_jpeg(w, h, sampling, restart, (cam * 100 + i) as u32);
            std::fs::write(dirs[cam].path().join(format!("{i:03}.jpg")), &original).unwrap();
            expected[cam].push(decode(&original).2);
        }
    }
    let client = start(vec![loopback_camera("gst0"), loopback_camera("gst1")]);
    let mut senders: Vec<Child> = (0..2)
        .map(|cam| {
            let port = client.local_addr(&format!("gst{cam}")).unwrap().port();
            gst_sender(dirs[cam].path(), port)
        })
        .collect();
    let mut next = [0usize; 2];
    let deadline = Instant::now() + Duration::from_secs(30);
    while next.iter().any(|&n| n < FRAMES) {
        assert!(
            Instant::now() < deadline,
            "frames so far: {next:?} after {:?}; {:#?}",
            deadline.elapsed(),
            client.stats()
        );
        let Some(frame) = client.next_frame(Duration::from_millis(200)) else {
            continue;
        };
        let cam = usize::from(frame.camera_id() == "gst1");
        let i = next[cam];
        assert!(i < FRAMES, "more frames than sent on {}", frame.camera_id());
        assert!(
            frame.rgb() == &expected[cam][i][..],
            "{} frame {i} differs (matches {:?}; rtp ts {} seq {}..{}); {:#?}",
            frame.camera_id(),
            expected[cam].iter().position(|e| frame.rgb() == &e[..]),
            frame.timestamp,
            frame.first_sequence,
            frame.last_sequence,
            client.stats()
        );
        next[cam] += 1;
    }
    for sender in &mut senders {
        assert!(sender.wait().unwrap().success());
    }
    for s in client.stats() {
        assert_eq!(s.packets_lost(), 0, "{s:#?}");
        assert_eq!(s.frames_complete(), FRAMES as u64);
        assert_eq!(s.invalid.total(), 0);
        assert_eq!(s.kernel_drops, Some(0));
    }
}
