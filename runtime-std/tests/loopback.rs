//! End to end over loopback UDP: packetize, send through real sockets,
//! receive, reassemble, decode, compare pixels.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mjpeg_rtp::backend::StdBackend;
use mjpeg_rtp::{CameraConfig, Client, ClientOptions, Error};
use mjpeg_rtp_testkit::backend_tests::{self, client_with, loopback_camera, stats_when};
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;
use mjpeg_rtp_testkit::WAIT;

fn client(cameras: impl IntoIterator<Item = CameraConfig>) -> Client {
    client_with(Box::new(StdBackend::default()), cameras)
}

/// The std backend with UDP GRO off: the kernel cuts GSO runs itself.
#[cfg(target_os = "linux")]
fn client_without_gro(cameras: Vec<CameraConfig>) -> Client {
    let backend = StdBackend {
        gro: false,
        ..StdBackend::default()
    };
    client_with(Box::new(backend), cameras)
}

#[test]
fn frames_arrive_pixel_exact_with_exact_counters() {
    backend_tests::frames_arrive_pixel_exact_with_exact_counters(&client);
}

#[cfg(target_os = "linux")] // the kernel tells its drop count on Linux only
#[test]
fn kernel_drops_are_counted_exactly() {
    backend_tests::kernel_drops_are_counted_exactly(&client);
}

#[cfg(target_os = "linux")] // UDP GSO and GRO are Linux's
#[test]
fn frames_sent_as_gso_runs_arrive_pixel_exact() {
    backend_tests::frames_sent_as_gso_runs_arrive_pixel_exact(&client);
    backend_tests::frames_sent_as_gso_runs_arrive_pixel_exact(&client_without_gro);
}

/// Without GRO the kernel cuts a GSO run before queueing it, and drops
/// (and counts) its datagrams one by one.
#[cfg(target_os = "linux")]
#[test]
fn kernel_drops_of_gso_runs_are_counted_exactly_without_gro() {
    backend_tests::kernel_drops_of_gso_runs_are_counted_exactly(&client_without_gro);
}

/// With GRO a run is dropped whole and counted as one drop.
#[cfg(target_os = "linux")]
#[test]
fn kernel_drops_with_gro_count_dropped_runs() {
    backend_tests::kernel_drops_with_gro_count_dropped_runs(&client);
}

/// A trickling camera's datagrams and another's GSO runs, with and
/// without GRO.
#[cfg(target_os = "linux")]
#[test]
fn trickled_datagrams_beside_gso_runs() {
    backend_tests::trickled_datagrams_beside_gso_runs(&client);
    backend_tests::trickled_datagrams_beside_gso_runs(&client_without_gro);
}

#[cfg(target_os = "linux")] // 127.0.0.0/8 is all loopback on Linux only
#[test]
fn datagrams_from_other_hosts_are_ignored_and_counted() {
    backend_tests::datagrams_from_other_hosts_are_ignored_and_counted(&client);
}

#[test]
fn a_full_queue_drops_its_oldest_frames() {
    let client = client([loopback_camera("cam").with_queue_depth(2)]);
    let to = client.local_addr("cam").unwrap();
    let mut sender = Sender::new("127.0.0.1:0", to, 1);
    let originals: Vec<Vec<u8>> = (0..5)
        .map(|i| camera_jpeg(160, 120, Sampling::Yuv422, 0, i))
        .collect();
    for (i, original) in originals.iter().enumerate() {
        sender.send_frame(original, 1000 * i as u32);
        // One at a time through the decoders, so that the queue (not the
        // decode backlog) is what overflows.
        stats_when(&client, "cam", |s| s.frames_decoded == i as u64 + 1);
    }
    let stats = client.camera_stats("cam").unwrap();
    assert_eq!(stats.frames_dropped_queue, 3);
    assert_eq!(client.queued("cam"), 2);
    for i in [3, 4] {
        let frame = client.get_frame("cam", WAIT).expect("newest frames kept");
        assert_eq!(frame.timestamp, 1000 * i);
        assert!(frame.rgb() == &decode(&originals[i as usize]).2[..]);
    }
    assert!(client.get_frame("cam", Duration::from_millis(50)).is_none());
    assert_eq!(client.camera_stats("cam").unwrap().frames_delivered, 2);
}

#[test]
fn trickled_and_burst_frames_side_by_side() {
    backend_tests::trickled_and_burst_frames_side_by_side(&client);
}

#[test]
fn two_cameras_through_next_frame() {
    backend_tests::two_cameras_interleaved_through_next_frame(&client);
}

#[test]
fn stop_is_bounded_and_wakes_waiters() {
    backend_tests::stop_is_bounded_and_wakes_waiters(&client, Duration::from_secs(1));
}

#[test]
fn bad_configurations_are_typed_errors() {
    let mut client = Client::new(ClientOptions::default());
    let not_ours = SocketAddr::from(([192, 0, 2, 1], 5004));
    assert!(matches!(
        client.add_camera(CameraConfig::new("x", not_ours)),
        Err(Error::Bind { .. })
    ));
    client.add_camera(loopback_camera("x")).unwrap();
    assert!(matches!(
        client.add_camera(loopback_camera("x")),
        Err(Error::DuplicateCamera(_))
    ));
    assert!(matches!(
        client.add_camera(loopback_camera("y").with_queue_depth(0)),
        Err(Error::Config { .. })
    ));
    assert!(client.get_frame("nobody", Duration::ZERO).is_none());
    assert!(matches!(
        Client::new(ClientOptions::default()).start(),
        Err(Error::NoCamera)
    ));
}

#[test]
fn a_new_ssrc_starts_a_new_stream_and_keeps_the_old_counters() {
    let client = client([loopback_camera("cam")]);
    let to = client.local_addr("cam").unwrap();
    let original = camera_jpeg(160, 120, Sampling::Yuv420, 0, 3);
    let mut first = Sender::new("127.0.0.1:0", to, 0xAAAA);
    first.send_frame(&original, 100);
    assert_eq!(client.get_frame("cam", WAIT).unwrap().ssrc, 0xAAAA);
    // A camera that restarts is silent for a moment; a new SSRC after a
    // silence (core Config::ssrc_silence, 500 ms) is followed at once.
    std::thread::sleep(Duration::from_millis(600));
    let mut second = Sender::new("127.0.0.1:0", to, 0xBBBB);
    second.send_frame(&original, 200);
    assert_eq!(client.get_frame("cam", WAIT).unwrap().ssrc, 0xBBBB);
    let stats = stats_when(&client, "cam", |s| s.streams.len() == 2);
    assert_eq!(stats.streams[0].ssrc, Some(0xAAAA));
    assert_eq!(stats.streams[0].packets_received, first.packets_sent);
    assert_eq!(stats.streams[1].ssrc, Some(0xBBBB));
    assert_eq!(stats.streams[1].packets_received, second.packets_sent);
    assert_eq!(stats.frames_complete(), 2);
}

#[test]
fn ipv6_loopback() {
    let localhost = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    if std::net::UdpSocket::bind((localhost, 0)).is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let client =
        client([CameraConfig::new("v6", SocketAddr::new(localhost, 0)).with_sender(localhost)]);
    let to = client.local_addr("v6").unwrap();
    let original = camera_jpeg(160, 120, Sampling::Yuv422, 0, 5);
    let mut sender = Sender::new("[::1]:0", to, 6);
    sender.send_frame(&original, 42);
    let frame = client.get_frame("v6", WAIT).expect("frame over IPv6");
    assert!(frame.rgb() == &decode(&original).2[..]);
}

#[test]
fn multicast_group_is_joined() {
    let group = Ipv4Addr::new(239, 255, 42, 99);
    // Find a free port first: the camera must bind a fixed one to join.
    let port = std::net::UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut client = Client::new(ClientOptions::default());
    match client.add_camera(CameraConfig::new("mc", SocketAddr::new(group.into(), port))) {
        Ok(()) => {}
        Err(Error::Multicast { source, .. }) => {
            eprintln!("no multicast here ({source}); skipped");
            return;
        }
        Err(e) => panic!("{e}"),
    }
    client.start().unwrap();
    let to = SocketAddr::new(group.into(), port);
    let mut sender = Sender::new("0.0.0.0:0", to, 7);
    sender.socket.set_multicast_loop_v4(true).unwrap();
    let original = camera_jpeg(160, 120, Sampling::Yuv420, 0, 9);
    let packets = sender.packets(&original, 900);
    if packets
        .iter()
        .any(|p| sender.socket.send_to(p, to).is_err())
    {
        eprintln!("cannot send to a multicast group here; skipped");
        return;
    }
    let frame = client
        .get_frame("mc", Duration::from_secs(2))
        .expect("frame through the multicast group");
    assert!(frame.rgb() == &decode(&original).2[..]);
}

/// A backend that cannot start: the client reports it and is stopped.
struct Unavailable;

impl mjpeg_rtp::backend::ReceiveBackend for Unavailable {
    fn name(&self) -> &'static str {
        "unavailable"
    }

    fn run(
        self: Box<Self>,
        cameras: Vec<mjpeg_rtp::backend::CameraSocket>,
        _stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> mjpeg_rtp::backend::SpawnResult {
        assert_eq!(cameras.len(), 1);
        assert_eq!(cameras[0].ingest.camera_id(), "cam");
        Err(Error::Backend {
            backend: "unavailable",
            source: std::io::Error::other("no such facility"),
        })
    }
}

#[test]
fn a_backend_that_cannot_start_is_a_typed_error() {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        backend: Box::new(Unavailable),
    });
    assert_eq!(client.backend_name(), "unavailable");
    client.add_camera(loopback_camera("cam")).unwrap();
    let started = Instant::now();
    match client.start() {
        Err(Error::Backend { backend, source }) => {
            assert_eq!(backend, "unavailable");
            assert_eq!(source.to_string(), "no such facility");
        }
        other => panic!("{other:?}"),
    }
    assert!(!client.is_running());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(client.start(), Err(Error::Stopped)));
}

#[test]
fn unusable_backend_options_are_a_typed_error() {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        backend: Box::new(mjpeg_rtp::backend::StdBackend {
            read_timeout: Duration::ZERO,
            ..Default::default()
        }),
    });
    client.add_camera(loopback_camera("cam")).unwrap();
    assert!(matches!(
        client.start(),
        Err(Error::BackendConfig { backend: "std", .. })
    ));
    assert!(!client.is_running());
}

/// With libjpeg-turbo chosen, frames arrive pixel-exact against
/// libjpeg-turbo's decode of the original, through the same workers.
#[test]
fn libjpeg_turbo_decoder_delivers_its_own_exact_pixels() {
    use mjpeg_rtp::decode::RgbDecoder;
    use mjpeg_rtp::Decoder;

    let mut client = Client::new(ClientOptions {
        decode_threads: 2,
        ..ClientOptions::default()
    });
    if !Decoder::LibjpegTurbo.is_available() {
        assert!(matches!(
            client.set_decoder(Decoder::LibjpegTurbo),
            Err(Error::DecoderUnavailable(Decoder::LibjpegTurbo))
        ));
        eprintln!("built without the turbojpeg feature: skipping");
        return;
    }
    client.set_decoder(Decoder::LibjpegTurbo).unwrap();
    client.add_camera(loopback_camera("cam")).unwrap();
    client.start().unwrap();
    let mut sender = Sender::new("127.0.0.1:0", client.local_addr("cam").unwrap(), 0x7B0);
    let mut turbo = RgbDecoder::new(Decoder::LibjpegTurbo).unwrap();
    for (i, &(w, h, sampling, restart)) in [
        (320, 240, Sampling::Yuv420, 0),
        (330, 250, Sampling::Yuv422, 3),
    ]
    .iter()
    .enumerate()
    {
        let original = camera_jpeg(w, h, sampling, restart, i as u32 + 40);
        sender.send_frame(&original, 3000 * i as u32);
        let frame = client.get_frame("cam", WAIT).expect("frame");
        let mut expected = Vec::new();
        turbo.decode_into(&original, &mut expected).unwrap();
        assert!(frame.rgb() == &expected[..], "pixels differ in case {i}");
    }
    assert_eq!(client.camera_stats("cam").unwrap().decode_errors, 0);
    client.stop();
}

/// Decode options: the client's default (1/4) and a camera's own (1/2
/// then an exact resize) give frames of the decoded size, pixel-equal to
/// the decoder alone, in pooled buffers of that size; `fast` without
/// libjpeg-turbo is refused when the client starts.
#[test]
fn frames_are_decoded_at_each_cameras_size() {
    use mjpeg_rtp::decode::RgbDecoder;
    use mjpeg_rtp::{DecodeOptions, Decoder, Resize, Scale};

    let quarter = DecodeOptions::default().with_scale(Scale::Quarter);
    let resized = DecodeOptions::default()
        .with_scale(Scale::Half)
        .with_resize(Resize::new(100, 60));
    let mut client = Client::new(ClientOptions {
        decode_threads: 2,
        ..ClientOptions::default()
    });
    client.set_decode_options(quarter).unwrap();
    client.add_camera(loopback_camera("quarter")).unwrap();
    client
        .add_camera(loopback_camera("resized").with_decode_options(resized))
        .unwrap();
    client.start().unwrap();
    let original = camera_jpeg(330, 250, Sampling::Yuv420, 0, 3);
    let mut reference = RgbDecoder::new(Decoder::Zune).unwrap();
    for (camera, options, shape) in [
        ("quarter", quarter, (63, 83, 3)),
        ("resized", resized, (60, 100, 3)),
    ] {
        let mut sender = Sender::new("127.0.0.1:0", client.local_addr(camera).unwrap(), 7);
        sender.send_frame(&original, 9000);
        let frame = client.get_frame(camera, WAIT).expect("frame");
        assert_eq!((frame.width, frame.height), (330, 250));
        assert_eq!(frame.shape(), shape);
        assert_eq!(frame.rgb().len(), shape.0 * shape.1 * 3);
        let mut expected = Vec::new();
        reference
            .decode_with(&original, &options, &mut expected)
            .unwrap();
        assert!(frame.rgb() == &expected[..], "{camera}: pixels differ");
    }
    client.stop();

    let mut zune_fast = Client::new(ClientOptions::default());
    zune_fast
        .set_decode_options(DecodeOptions::default().with_fast(true))
        .unwrap();
    zune_fast.add_camera(loopback_camera("fast")).unwrap();
    match zune_fast.start() {
        Err(Error::DecodeOptions { camera, source }) => {
            assert_eq!(camera, "fast");
            assert_eq!(source, mjpeg_rtp::DecodeOptionsError::FastNeedsLibjpegTurbo);
        }
        other => panic!("fast with zune-jpeg started: {other:?}"),
    }
    let mut bad = Client::new(ClientOptions::default());
    assert!(matches!(
        bad.set_decode_options(DecodeOptions::default().with_resize(Resize::new(0, 10))),
        Err(Error::DecodeOptions { .. })
    ));
}
