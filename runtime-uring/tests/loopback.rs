//! End to end over loopback UDP with the io_uring backend: packetize,
//! send through real sockets, receive on the ring, reassemble, decode,
//! compare pixels.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client_with, loopback_camera, many_camera, uring_client};
use mjpeg_rtp::InvalidReason;
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;
use mjpeg_rtp_testkit::{wait_until, WAIT};
use mjpeg_rtp_uring::{UringBackend, UringOptions, BUFFER_OVERHEAD};

#[test]
fn frames_arrive_pixel_exact_with_exact_counters() {
    let client = uring_client([loopback_camera("cam")]);
    assert_eq!(client.backend_name(), "uring");
    let to = client.local_addr("cam").unwrap();
    let mut sender = Sender::new("127.0.0.1:0", to, 0x1122_3344);
    let cases: [(u16, u16, Sampling, u16); 6] = [
        (320, 240, Sampling::Yuv420, 0),
        (320, 240, Sampling::Yuv422, 0),
        (640, 480, Sampling::Yuv420, 4),
        (176, 144, Sampling::Yuv422, 2),
        (330, 250, Sampling::Yuv420, 0),
        (1280, 720, Sampling::Yuv420, 0),
    ];
    let mut frames = 0;
    for (i, &(w, h, sampling, restart)) in cases.iter().enumerate() {
        let original = camera_jpeg(w, h, sampling, restart, i as u32 + 1);
        let timestamp = 3000 * i as u32 + 90_000;
        sender.send_frame(&original, timestamp);
        let frame = client.get_frame("cam", WAIT).expect("frame");
        frames += 1;
        let (ew, eh, expected) = decode(&original);
        assert_eq!(frame.shape(), (eh, ew, 3));
        assert_eq!(frame.timestamp, timestamp);
        assert_eq!(frame.ssrc, 0x1122_3344);
        assert_eq!(frame.packets_lost, 0);
        assert_eq!(frame.packets_received, sender.packets_sent);
        assert!(frame.rgb() == &expected[..], "pixels differ in case {i}");
    }
    let stats = wait_until(
        || client.camera_stats("cam").expect("camera"),
        |s| s.packets_received() == sender.packets_sent && s.frames_delivered == frames,
    );
    assert_eq!(stats.streams.len(), 1);
    assert_eq!(stats.packets_lost(), 0);
    assert_eq!(stats.frames_complete(), frames);
    assert_eq!(stats.frames_dropped(), 0);
    assert_eq!(stats.invalid.total(), 0);
    assert_eq!(stats.packets_foreign, 0);
    assert_eq!(stats.datagrams, sender.packets_sent);
    assert_eq!(stats.kernel_drops, Some(0));
    client.stop();
}

#[test]
fn two_cameras_on_one_ring() {
    let client = uring_client([loopback_camera("left"), loopback_camera("right")]);
    let mut left = Sender::new("127.0.0.1:0", client.local_addr("left").unwrap(), 0x1EF7);
    let mut right = Sender::new("127.0.0.1:0", client.local_addr("right").unwrap(), 0x5167);
    for i in 0..6u32 {
        let l = camera_jpeg(320, 240, Sampling::Yuv420, 0, 10 + i);
        let r = camera_jpeg(240, 160, Sampling::Yuv422, 0, 20 + i);
        // Interleave the two cameras' packets, as on a busy network.
        let lp = left.packets(&l, 3000 * i);
        let rp = right.packets(&r, 6000 * i);
        for k in 0..lp.len().max(rp.len()) {
            if let Some(p) = lp.get(k) {
                left.socket.send_to(p, left.to).unwrap();
                left.packets_sent += 1;
            }
            if let Some(p) = rp.get(k) {
                right.socket.send_to(p, right.to).unwrap();
                right.packets_sent += 1;
            }
        }
        // Two frames at a time: the decode backlog (two per camera) is
        // not what is under test.
        let expected = [
            ("left", 3000 * i, decode(&l).2),
            ("right", 6000 * i, decode(&r).2),
        ];
        for _ in 0..2 {
            let frame = client.next_frame(WAIT).expect("frame from either camera");
            let (_, _, rgb) = expected
                .iter()
                .find(|(id, ts, _)| *id == frame.camera_id() && *ts == frame.timestamp)
                .expect("a frame that was sent");
            assert!(frame.rgb() == &rgb[..]);
        }
    }
    let stats = client.stats();
    for s in &stats {
        assert_eq!(s.frames_delivered, 6);
        assert_eq!(s.packets_lost(), 0);
        assert_eq!(s.kernel_drops, Some(0));
    }
    assert_eq!(stats[0].packets_received(), left.packets_sent);
    assert_eq!(stats[1].packets_received(), right.packets_sent);
}

#[test]
fn datagrams_from_other_hosts_are_ignored_and_counted() {
    let client = uring_client([loopback_camera("cam")]);
    let to = client.local_addr("cam").unwrap();
    let original = camera_jpeg(160, 120, Sampling::Yuv420, 0, 7);
    let mut stranger = Sender::new("127.0.0.2:0", to, 0xBAD);
    stranger.send_frame(&original, 1000);
    let stats = wait_until(
        || client.camera_stats("cam").expect("camera"),
        |s| s.packets_foreign == stranger.packets_sent,
    );
    assert!(stats.streams.is_empty());
    assert!(client
        .get_frame("cam", Duration::from_millis(100))
        .is_none());
    let mut camera = Sender::new("127.0.0.1:0", to, 0x600D);
    camera.send_frame(&original, 2000);
    let frame = client
        .get_frame("cam", WAIT)
        .expect("frame from the sender");
    assert_eq!(frame.ssrc, 0x600D);
    assert!(frame.rgb() == &decode(&original).2[..]);
}

/// Eight ring buffers for bursts of ~40 datagrams: the multishot request
/// keeps ending with ENOBUFS and must be re-armed every time, without
/// losing a datagram (they wait in the socket buffer).
#[test]
fn a_ring_that_runs_dry_is_re_armed_without_loss() {
    let options = UringOptions {
        buffers: 8,
        ..UringOptions::default()
    };
    let client = client_with(
        Box::new(UringBackend::with_options(options)),
        [loopback_camera("cam")],
    );
    common::assert_ring_thread(true);
    let mut sender = Sender::new("127.0.0.1:0", client.local_addr("cam").unwrap(), 7);
    for i in 0..8u32 {
        let original = camera_jpeg(
            640,
            480,
            if i % 2 == 0 {
                Sampling::Yuv420
            } else {
                Sampling::Yuv422
            },
            0,
            40 + i,
        );
        sender.send_frame(&original, 3000 * i);
        let frame = client.get_frame("cam", WAIT).expect("frame");
        assert_eq!(frame.timestamp, 3000 * i);
        assert!(frame.rgb() == &decode(&original).2[..]);
    }
    assert!(sender.packets_sent > 8 * 20, "bursts longer than the ring");
    let stats = wait_until(
        || client.camera_stats("cam").expect("camera"),
        |s| s.packets_received() == sender.packets_sent,
    );
    assert_eq!(stats.packets_lost(), 0);
    assert_eq!(stats.kernel_drops, Some(0));
}

/// A datagram larger than a ring buffer is never passed on shortened.
#[test]
fn datagrams_larger_than_a_buffer_are_counted_not_cut() {
    let options = UringOptions {
        buffer_len: (BUFFER_OVERHEAD + 200) as u32,
        ..UringOptions::default()
    };
    let client = client_with(
        Box::new(UringBackend::with_options(options)),
        [loopback_camera("cam")],
    );
    let mut sender = Sender::new("127.0.0.1:0", client.local_addr("cam").unwrap(), 9);
    sender.send_frame(&camera_jpeg(320, 240, Sampling::Yuv420, 0, 3), 1000);
    let stats = wait_until(
        || client.camera_stats("cam").expect("camera"),
        |s| s.datagrams == sender.packets_sent,
    );
    assert_eq!(
        stats.invalid.get(InvalidReason::RtpTruncated),
        sender.packets_sent
    );
    assert_eq!(stats.frames_complete(), 0);
    assert!(client
        .get_frame("cam", Duration::from_millis(100))
        .is_none());
}

/// Datagrams the kernel dropped because the socket buffer was full show
/// up in the camera's counters, with the same total the kernel reports
/// in /proc/net/udp.
#[test]
fn kernel_drops_are_reported_from_so_rxq_ovfl() {
    let mut client = mjpeg_rtp::Client::new(mjpeg_rtp::ClientOptions {
        decode_threads: 1,
        backend: Box::new(UringBackend::new()),
    });
    // The smallest buffer the kernel grants, filled before the ring runs.
    client
        .add_camera(loopback_camera("cam").with_socket_receive_buffer(1))
        .unwrap();
    let to = client.local_addr("cam").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let filler = [0u8; 1200];
    for _ in 0..500 {
        sender.send_to(&filler, to).unwrap();
    }
    client.start().unwrap();
    // The drop count is stamped on datagrams queued after the drops.
    let mut sent = 500;
    let stats = wait_until(
        || {
            sender.send_to(&filler, to).unwrap();
            sent += 1;
            client.camera_stats("cam").unwrap()
        },
        |s| s.kernel_drops.unwrap_or(0) > 0,
    );
    // A few datagrams fit in the smallest buffer; the rest were dropped.
    let drops = stats.kernel_drops.unwrap();
    assert!((400..sent).contains(&drops), "{drops} of {sent}");
    // Every datagram was either read or dropped by the kernel.
    wait_until(
        || client.camera_stats("cam").expect("camera"),
        |s| s.datagrams + s.kernel_drops.unwrap_or(0) == sent,
    );
    client.stop();
}

#[test]
fn ipv6_cameras_and_senders() {
    let v6 = std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let camera =
        mjpeg_rtp::CameraConfig::new("v6", std::net::SocketAddr::new(v6, 0)).with_sender(v6);
    let client = uring_client([camera]);
    let mut sender = Sender::new("[::1]:0", client.local_addr("v6").unwrap(), 0x66);
    let original = camera_jpeg(320, 240, Sampling::Yuv422, 0, 66);
    sender.send_frame(&original, 4242);
    let frame = client.get_frame("v6", WAIT).expect("frame over IPv6");
    assert_eq!(frame.timestamp, 4242);
    assert!(frame.rgb() == &decode(&original).2[..]);
    let stats = client.camera_stats("v6").unwrap();
    assert_eq!(stats.packets_foreign, 0, "the sender address was parsed");
}

#[test]
fn stop_is_bounded_and_wakes_waiters() {
    let client = Arc::new(uring_client([loopback_camera("a"), loopback_camera("b")]));
    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || client.get_frame("a", Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    client.stop();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(waiter.join().unwrap().is_none());
    client.stop();
}

#[test]
fn many_cameras_on_one_ring() {
    let ids: Vec<String> = (0..24).map(|i| format!("cam{i}")).collect();
    let client = uring_client(ids.iter().enumerate().map(|(i, id)| many_camera(id, i)));
    let originals: Vec<Vec<u8>> = (0..3)
        .map(|i| camera_jpeg(160, 120, Sampling::Yuv420, 0, 60 + i))
        .collect();
    let mut senders: Vec<Sender> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Sender::new("127.0.0.1:0", client.local_addr(id).unwrap(), i as u32))
        .collect();
    // One frame per camera at a time: the decode backlog holds two per
    // camera, and it is the ring that is under test here.
    for (f, original) in originals.iter().enumerate() {
        let expected = decode(original).2;
        for sender in &mut senders {
            sender.send_frame(original, 1000 * f as u32);
        }
        for id in &ids {
            let Some(frame) = client.get_frame(id, WAIT) else {
                panic!("{id} frame {f} missing: {:#?}", client.camera_stats(id));
            };
            assert_eq!(frame.timestamp, 1000 * f as u32);
            assert!(frame.rgb() == &expected[..], "{id} frame {f}");
        }
    }
}

/// More cameras than the submission queue has entries (256): arming
/// them all must flush the queue to the kernel on the way.
#[test]
fn more_cameras_than_submission_entries() {
    let ids: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let client = uring_client(
        ids.iter()
            .enumerate()
            .map(|(i, id)| many_camera(id, i).with_socket_receive_buffer(64 * 1024)),
    );
    let original = camera_jpeg(64, 48, Sampling::Yuv420, 0, 77);
    let expected = decode(&original).2;
    for chunk in ids.chunks(20) {
        for (i, id) in chunk.iter().enumerate() {
            let mut sender = Sender::new("127.0.0.1:0", client.local_addr(id).unwrap(), i as u32);
            sender.send_frame(&original, 90);
        }
        for id in chunk {
            let Some(frame) = client.get_frame(id, WAIT) else {
                panic!("{id}: no frame: {:#?}", client.camera_stats(id));
            };
            assert!(frame.rgb() == &expected[..], "{id}");
        }
    }
}
