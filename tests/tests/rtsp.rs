//! RTSP against a real server: gst-rtsp-server (tests/fixtures/tools/
//! rtsp_server.py, run with the system python3) serving known JPEGs
//! through rtpjpegpay. UDP and TCP interleaved, static and dynamic
//! payload types, Basic and Digest; every rebuilt frame pixel-exact
//! against the JPEG it came from, under every decoder in the build;
//! TEARDOWN on stop; a wrong password is a typed error.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant, SystemTime};

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, Error, RtspTransport};
use mjpeg_rtp_testkit::rtsp_server::{skip_if_missing, Server};
use mjpeg_rtp_tests::{receive_served_pictures, served_picture};

/// Receive `want` frames from `camera`, each pixel-exact against one of
/// the served pictures, more than one picture seen; stop; TEARDOWN seen;
/// no frame dropped.
fn receive(server: &Server, camera: CameraConfig, want: usize) {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    let who = camera.id.clone();
    client.add_camera(camera).unwrap();
    client.start().expect("RTSP session set up");
    receive_served_pictures(&client, &server.originals, want, &who);
    let torn_down = server.count("TEARDOWN");
    client.stop();
    server.wait_for("TEARDOWN", torn_down + 1);
    let stats = client.stats();
    assert_eq!(
        stats[0]
            .streams
            .iter()
            .map(|s| s.frames_dropped_total())
            .sum::<u64>(),
        0,
        "{stats:?}"
    );
}

#[test]
fn tcp_interleaved_static_pt_pixel_exact_and_teardown() {
    if skip_if_missing("tcp_interleaved_static_pt_pixel_exact_and_teardown") {
        return;
    }
    let server = Server::start(26, None);
    receive(
        &server,
        CameraConfig::rtsp("door", server.url("")).with_rtsp_transport(RtspTransport::Tcp),
        8,
    );
}

#[test]
fn udp_dynamic_pt_digest_pixel_exact_and_teardown() {
    if skip_if_missing("udp_dynamic_pt_digest_pixel_exact_and_teardown") {
        return;
    }
    let server = Server::start(96, Some(("digest", "viewer", "s3cret")));
    let camera = CameraConfig::rtsp("yard", server.url("viewer:s3cret@"))
        .with_rtsp_transport(RtspTransport::Udp);
    receive(&server, camera, 8);
}

#[test]
fn auto_basic_auth_gets_frames() {
    if skip_if_missing("auto_basic_auth_gets_frames") {
        return;
    }
    let server = Server::start(26, Some(("basic", "viewer", "s3cret")));
    receive(
        &server,
        CameraConfig::rtsp("gate", server.url("viewer:s3cret@")),
        4,
    );
}

#[test]
fn wrong_password_is_a_typed_401_error() {
    if skip_if_missing("wrong_password_is_a_typed_401_error") {
        return;
    }
    let server = Server::start(26, Some(("digest", "viewer", "s3cret")));
    let mut client = Client::new(ClientOptions::default());
    client
        .add_camera(
            CameraConfig::rtsp("door", server.url("viewer:nope@"))
                .with_rtsp_transport(RtspTransport::Tcp),
        )
        .unwrap();
    let started = Instant::now();
    let err = client.start().expect_err("a wrong password cannot start");
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Rtsp { camera, error: mjpeg_rtp_rtsp::Error::Unauthorized { sent_credentials: true, .. } } if camera == "door"),
        "{err:?}"
    );
    assert!(
        text.contains("401") && text.contains("door") && !text.contains("nope"),
        "{text}"
    );
}

/// The server killed mid-stream and started again on the same port: the
/// camera stays in the client, frames resume (pixel-exact), the
/// reconnect is counted; over TCP and UDP.
#[test]
fn server_restart_mid_stream_reconnects_and_frames_resume() {
    if skip_if_missing("server_restart_mid_stream_reconnects_and_frames_resume") {
        return;
    }
    for transport in [RtspTransport::Tcp, RtspTransport::Udp] {
        let mut server = Server::start(26, Some(("digest", "viewer", "s3cret")));
        let mut client = Client::new(ClientOptions {
            decode_threads: 1,
            ..ClientOptions::default()
        });
        client
            .add_camera(
                CameraConfig::rtsp("door", server.url("viewer:s3cret@"))
                    .with_rtsp_transport(transport),
            )
            .unwrap();
        client.start().expect("RTSP session set up");
        let originals = server.originals.clone();
        let next = |client: &Client, what: &str| {
            let frame = client
                .next_frame(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("{transport:?}: {what}: {:?}", client.stats()));
            assert!(
                served_picture(frame.jpeg(), &originals).is_some(),
                "{transport:?}: {what} matches no served picture"
            );
        };
        for _ in 0..3 {
            next(&client, "before the restart");
        }
        server.restart();
        // Frames decoded before the kill may still be queued: drain them.
        while client.next_frame(Duration::ZERO).is_some() {}
        let restarted = Instant::now();
        for _ in 0..3 {
            next(&client, "after the restart");
        }
        let stats = client.camera_stats("door").unwrap();
        assert!(stats.reconnects >= 1, "{transport:?}: {stats:?}");
        eprintln!(
            "{transport:?}: frames again {:?} after the restart",
            restarted.elapsed()
        );
        let torn_down = server.count("TEARDOWN");
        client.stop();
        server.wait_for("TEARDOWN", torn_down + 1);
    }
}

/// RTCP with gst-rtsp-server (sender reports every ~0.5 s, see
/// rtsp_server.py), over TCP and UDP: once two of its sender reports
/// agree, frames carry the wall-clock time the server stamped them with
/// (the same machine's clock: within a fraction of a second of their
/// arrival), and receiver reports went back.
#[test]
fn sender_reports_give_frames_a_wall_clock_capture_time() {
    if skip_if_missing("sender_reports_give_frames_a_wall_clock_capture_time") {
        return;
    }
    for transport in [RtspTransport::Tcp, RtspTransport::Udp] {
        let server = Server::start(26, None);
        let mut client = Client::new(ClientOptions {
            decode_threads: 1,
            ..ClientOptions::default()
        });
        client
            .add_camera(CameraConfig::rtsp("door", server.url("")).with_rtsp_transport(transport))
            .unwrap();
        client.start().expect("RTSP session set up");
        let started = Instant::now();
        let (mut timed, mut untimed_late, mut oldest) = (0, 0, Duration::ZERO);
        let mut previous: Option<(u32, SystemTime)> = None;
        // The server's 20 pictures last 4 s; then it says BYE and the
        // client sets up a new session, another stream with its own clock.
        let mut ssrc = None;
        while let Some(frame) = client.next_frame(Duration::from_secs(2)) {
            if *ssrc.get_or_insert(frame.ssrc) != frame.ssrc {
                break;
            }
            let Some(captured) = frame.capture_time else {
                if started.elapsed() > Duration::from_millis(2500) {
                    untimed_late += 1;
                }
                continue;
            };
            let now = SystemTime::now();
            let age = now
                .duration_since(captured)
                .unwrap_or_else(|e| e.duration());
            assert!(
                age < Duration::from_secs(2),
                "{transport:?}: captured {age:?} from now"
            );
            oldest = oldest.max(age);
            // The mapping is linear in the RTP timestamp.
            if let Some((ts, at)) = previous {
                let rtp = Duration::from_micros(
                    u64::from(frame.timestamp.wrapping_sub(ts)) * 1_000_000 / 90_000,
                );
                let wall = captured.duration_since(at).unwrap();
                assert!(
                    wall.abs_diff(rtp) < Duration::from_millis(25),
                    "{wall:?} {rtp:?}"
                );
            }
            previous = Some((frame.timestamp, captured));
            timed += 1;
            if started.elapsed() > Duration::from_secs(4) {
                break;
            }
        }
        let stats = client.camera_stats("door").unwrap();
        client.stop();
        eprintln!(
            "{transport:?}: {timed} frames with a capture time, at most {oldest:?} from \
             their arrival; {:?}",
            stats.rtcp
        );
        assert!(
            timed >= 3,
            "{transport:?}: {timed} frames timed; {:?}",
            stats.rtcp
        );
        assert_eq!(untimed_late, 0, "{transport:?}: {:?}", stats.rtcp);
        assert!(stats.rtcp.sender_reports >= 2, "{:?}", stats.rtcp);
        assert_eq!(stats.rtcp.invalid, 0, "{:?}", stats.rtcp);
        assert!(stats.rtcp.receiver_reports >= 1, "{:?}", stats.rtcp);
    }
}
