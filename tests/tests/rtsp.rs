//! RTSP against a real server: gst-rtsp-server (tests/fixtures/tools/
//! rtsp_server.py, run with the system python3) serving known JPEGs
//! through rtpjpegpay. UDP and TCP interleaved, static and dynamic
//! payload types, Basic and Digest; every rebuilt frame pixel-exact
//! against the JPEG it came from, under every decoder in the build;
//! TEARDOWN on stop; a wrong password is a typed error.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, Error, RtspTransport};
use mjpeg_rtp_testkit::rtsp_server::{skip_if_missing, Server};
use mjpeg_rtp_tests::assert_same_pixels_every_decoder;

/// Receive `want` frames from `camera`, each pixel-exact against one of
/// the served pictures, more than one picture seen; stop; TEARDOWN seen.
fn receive(server: &Server, camera: CameraConfig, want: usize) {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client.add_camera(camera).unwrap();
    client.start().expect("RTSP session set up");
    let mut seen = [false; 4];
    for n in 0..want {
        let frame = client
            .next_frame(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("frame {n} never came: {:?}", client.stats()));
        let which = server
            .originals
            .iter()
            .position(|o| {
                std::panic::catch_unwind(|| assert_same_pixels_every_decoder(frame.jpeg(), o, ""))
                    .is_ok()
            })
            .unwrap_or_else(|| panic!("frame {n} matches no served picture"));
        assert_same_pixels_every_decoder(
            frame.jpeg(),
            &server.originals[which],
            &format!("frame {n}"),
        );
        seen[which] = true;
    }
    // Not all four: on a loaded machine the server's pipeline drops late
    // pictures (its sink's QoS), so a given one is not guaranteed.
    assert!(
        seen.iter().filter(|&&s| s).count() >= 2,
        "the stream moves: {seen:?}"
    );
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
                originals.iter().any(|o| std::panic::catch_unwind(|| {
                    assert_same_pixels_every_decoder(frame.jpeg(), o, "")
                })
                .is_ok()),
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
