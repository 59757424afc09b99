//! ESP32 camera firmware, live: the runtime's RTSP client against
//! testkit's scripted server (`quirky_rtsp`) behaving as Micro-RTSP and
//! espp do, one scenario per quirk, then each server whole. Every frame
//! is checked pixel-exact (every decoder in the build) against the
//! picture the server sent in it, found by the frame's SSRC and first
//! sequence number (timestamps are no key here: ESP32 firmware stamps
//! its first two frames alike).
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use mjpeg_rtp::{CameraConfig, CameraStats, Client, ClientOptions, Frame, RtspTransport};
use mjpeg_rtp_core::Tolerated;
use mjpeg_rtp_testkit::esp32::MICRO_RTSP_LATER_Q;
use mjpeg_rtp_testkit::quirky_rtsp::{
    Esp32, Quirks, QuirkyServer, Sdp, SessionQuirks, MICRO_RTSP_SESSION, TIMESTAMP_BASE,
};
use mjpeg_rtp_tests::assert_same_pixels_every_decoder;

const FRAMES: usize = 8;

fn client_for(url: String, transport: RtspTransport) -> Client {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client
        .add_camera(CameraConfig::rtsp("esp32", url).with_rtsp_transport(transport))
        .unwrap();
    client.start().expect("RTSP session set up");
    client
}

/// The next frame, pixel-exact against the picture sent in it.
fn next_exact(server: &QuirkyServer, client: &Client, n: usize, what: &str) -> Frame {
    let frame = client
        .next_frame(Duration::from_secs(8))
        .unwrap_or_else(|| panic!("{what}: frame {n} never came: {:?}", client.stats()));
    let original = server
        .original_sent(frame.ssrc, frame.first_sequence)
        .unwrap_or_else(|| panic!("{what}: frame {n} was never sent"));
    assert_same_pixels_every_decoder(frame.jpeg(), original, &format!("{what}: frame {n}"));
    frame
}

/// Set up over `transport`, take `FRAMES` exact frames, and return them
/// with the camera's counters (taken before stopping: the frame in
/// flight when the stream ends is dropped as `lost`), after stopping.
fn scenario(
    quirks: Quirks,
    transport: RtspTransport,
    what: &str,
) -> (QuirkyServer, Vec<Frame>, CameraStats) {
    let server = QuirkyServer::start(quirks);
    let client = client_for(server.url(""), transport);
    let frames: Vec<Frame> = (0..FRAMES)
        .map(|n| next_exact(&server, &client, n, what))
        .collect();
    let stats = client.camera_stats("esp32").unwrap();
    assert_eq!(stats.frames_dropped(), 0, "{what}: {stats:?}");
    assert_eq!(stats.invalid.total(), 0, "{what}: {stats:?}");
    let stopping = Instant::now();
    client.stop();
    // Unanswered TEARDOWN included: a second, plus a poll.
    assert!(
        stopping.elapsed() < Duration::from_millis(1500),
        "{what}: stop took {:?}",
        stopping.elapsed()
    );
    (server, frames, stats)
}

fn tolerated(stats: &CameraStats, kind: Tolerated) -> u64 {
    stats.streams.iter().map(|s| s.tolerated.get(kind)).sum()
}

fn both_transports(
    quirks: Quirks,
    what: &str,
    check: impl Fn(&QuirkyServer, &[Frame], &CameraStats, &str),
) {
    for transport in [RtspTransport::Udp, RtspTransport::Tcp] {
        let what = format!("{what} over {transport:?}");
        let (server, frames, stats) = scenario(quirks.clone(), transport, &what);
        check(&server, &frames, &stats, &what);
    }
}

fn esp32(esp32: Esp32) -> Quirks {
    Quirks {
        esp32,
        ..Quirks::default()
    }
}

#[test]
fn q_128_with_tables_then_94_in_later_fragments() {
    let quirks = esp32(Esp32 {
        later_q: Some(MICRO_RTSP_LATER_Q),
        ..Esp32::default()
    });
    both_transports(quirks, "Q change", |_, frames, stats, what| {
        assert!(frames.iter().all(|f| f.q == 128), "{what}");
        assert!(
            tolerated(stats, Tolerated::QChangedMidFrame) >= FRAMES as u64,
            "{what}: {stats:?}"
        );
    });
}

#[test]
fn whole_jpeg_file_as_the_scan_data_is_handed_out_as_sent() {
    let quirks = esp32(Esp32 {
        jfif_in_payload: true,
        ..Esp32::default()
    });
    both_transports(quirks, "JFIF in payload", |server, frames, stats, what| {
        for f in frames {
            let original = server.original_sent(f.ssrc, f.first_sequence).unwrap();
            assert_eq!(
                f.jpeg(),
                original,
                "{what}: the camera's JPEG, byte for byte"
            );
        }
        assert!(
            tolerated(stats, Tolerated::JfifInPayload) >= FRAMES as u64,
            "{what}: {stats:?}"
        );
    });
}

#[test]
fn sdp_without_control_sets_up_the_content_base() {
    let quirks = Quirks {
        sdp: Sdp::MediaOnly,
        control: String::new(),
        ..Quirks::default()
    };
    both_transports(quirks, "no a=control", |server, _, _, what| {
        // The server 404s a SETUP anywhere but the Content-Base.
        let setup = server.requests_of("SETUP");
        assert_eq!(setup.len(), 1, "{what}: {setup:#?}");
        assert!(setup[0].uri.ends_with("/cam/"), "{what}: {setup:#?}");
    });
}

#[test]
fn negative_session_id_is_echoed_exactly() {
    let quirks = Quirks {
        session: SessionQuirks {
            timeout: None,
            id: Some(MICRO_RTSP_SESSION.into()),
            ..SessionQuirks::default()
        },
        ..Quirks::default()
    };
    both_transports(quirks, "negative session id", |server, _, _, what| {
        for method in ["PLAY", "TEARDOWN"] {
            let r = server.requests_of(method);
            assert_eq!(r.len(), 1, "{what}: {r:#?}");
            assert_eq!(r[0].header("Session"), Some(MICRO_RTSP_SESSION), "{what}");
            // The server answers 454 to any other id.
            assert_eq!(r[0].status, 200, "{what}: {r:#?}");
        }
    });
}

#[test]
fn rtp_info_naming_another_host_and_track_is_ignored() {
    let quirks = Quirks {
        rtp_info: Some("url=rtsp://127.0.0.1:8554/mjpeg/1/track1".into()),
        ..Quirks::default()
    };
    both_transports(quirks, "wrong RTP-Info", |server, _, _, what| {
        assert_eq!(server.connections(), 1, "{what}");
    });
}

#[test]
fn unanswered_teardown_costs_at_most_a_second() {
    let quirks = Quirks {
        teardown_unanswered: true,
        ..Quirks::default()
    };
    // `scenario` times the stop.
    both_transports(quirks, "unanswered TEARDOWN", |server, _, _, what| {
        let teardown = server.requests_of("TEARDOWN");
        assert_eq!(teardown.len(), 1, "{what}: {teardown:#?}");
        assert_eq!(teardown[0].status, 0, "{what}: never answered");
    });
}

#[test]
fn udp_only_server_is_never_asked_for_tcp_even_by_auto() {
    // The first frame comes after the UDP probe time: without
    // `a=udp-only`, auto would give up on UDP and ask for TCP, which this
    // server refuses.
    let quirks = Quirks {
        udp_only: true,
        first_frame_after: Some(mjpeg_rtp::RTSP_UDP_PROBE + Duration::from_millis(500)),
        ..Quirks::default()
    };
    let (server, _, _) = scenario(quirks, RtspTransport::Auto, "udp-only");
    let setup = server.requests_of("SETUP");
    assert_eq!(setup.len(), 1, "{setup:#?}");
    assert!(
        !setup[0].header("Transport").unwrap().contains("TCP"),
        "{setup:#?}"
    );
    assert_eq!(server.connections(), 1);
}

#[test]
fn first_two_frames_sharing_a_timestamp_are_both_delivered() {
    let quirks = esp32(Esp32 {
        shared_first_timestamp: true,
        ..Esp32::default()
    });
    both_transports(quirks, "shared timestamp", |_, frames, _, what| {
        let first: Vec<_> = frames.iter().take(3).map(|f| f.timestamp).collect();
        assert_eq!(first[0], TIMESTAMP_BASE, "{what}: {first:?}");
        assert_eq!(first[1], TIMESTAMP_BASE, "{what}: {first:?}");
        assert_ne!(first[2], TIMESTAMP_BASE, "{what}: {first:?}");
        assert_ne!(frames[0].first_sequence, frames[1].first_sequence, "{what}");
    });
}

#[test]
fn micro_rtsp_whole() {
    both_transports(
        Quirks::micro_rtsp(),
        "Micro-RTSP",
        |server, frames, stats, what| {
            assert_eq!(frames[0].timestamp, frames[1].timestamp, "{what}");
            assert!(
                tolerated(stats, Tolerated::QChangedMidFrame) >= FRAMES as u64,
                "{what}"
            );
            let setup = server.requests_of("SETUP");
            assert!(setup[0].uri.ends_with("/mjpeg/1/"), "{what}: {setup:#?}");
            assert_eq!(server.requests_of("TEARDOWN")[0].status, 0, "{what}");
        },
    );
}

#[test]
fn espp_whole() {
    for transport in [RtspTransport::Udp, RtspTransport::Auto] {
        let what = format!("espp over {transport:?}");
        let (server, frames, stats) = scenario(Quirks::espp(), transport, &what);
        for f in &frames {
            let original = server.original_sent(f.ssrc, f.first_sequence).unwrap();
            assert_eq!(f.jpeg(), original, "{what}");
        }
        assert!(
            tolerated(&stats, Tolerated::JfifInPayload) >= FRAMES as u64,
            "{what}"
        );
        assert!(
            tolerated(&stats, Tolerated::QChangedMidFrame) >= FRAMES as u64,
            "{what}"
        );
    }
}
