//! End to end over loopback UDP with the io_uring backend: packetize,
//! send through real sockets, receive on the ring, reassemble, decode,
//! compare pixels.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{client_with, loopback_camera, many_camera, uring_client};
use mjpeg_rtp::InvalidReason;
use mjpeg_rtp_testkit::backend_tests::{self, stats_when};
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;
use mjpeg_rtp_testkit::{wait_until, WAIT};
use mjpeg_rtp_uring::{backend_with_gro, Io, UringBackend, UringOptions, BUFFER_OVERHEAD};

#[test]
fn frames_arrive_pixel_exact_with_exact_counters() {
    backend_tests::frames_arrive_pixel_exact_with_exact_counters(&|c| uring_client(c));
}

#[test]
fn trickled_and_burst_frames_on_one_ring() {
    backend_tests::trickled_and_burst_frames_side_by_side(&|c| uring_client(c));
}

#[test]
fn two_cameras_on_one_ring() {
    backend_tests::two_cameras_interleaved_through_next_frame(&|c| uring_client(c));
}

#[test]
fn kernel_drops_are_counted_exactly() {
    backend_tests::kernel_drops_are_counted_exactly(&|c| uring_client(c));
}

/// The ring without UDP GRO (its small buffers): the kernel cuts GSO
/// runs itself.
fn uring_client_without_gro(cameras: Vec<mjpeg_rtp::CameraConfig>) -> mjpeg_rtp::Client {
    let client = client_with(
        Box::new(UringBackend::with_options(UringOptions::without_gro())),
        cameras,
    );
    assert_eq!(client.backend_name(), "uring");
    client
}

/// GSO runs reach the ring as one message each (GRO, the default) or
/// cut into datagrams (without): either way every datagram comes out as
/// sent, counted once.
#[test]
fn frames_sent_as_gso_runs_arrive_pixel_exact() {
    backend_tests::frames_sent_as_gso_runs_arrive_pixel_exact(&|c| uring_client(c));
    backend_tests::frames_sent_as_gso_runs_arrive_pixel_exact(&uring_client_without_gro);
}

/// Without GRO the kernel cuts a GSO run before queueing it, and drops
/// (and counts) its datagrams one by one.
#[test]
fn kernel_drops_of_gso_runs_are_counted_exactly_without_gro() {
    backend_tests::kernel_drops_of_gso_runs_are_counted_exactly(&uring_client_without_gro);
}

/// With GRO a run is dropped whole and counted as one drop.
#[test]
fn kernel_drops_with_gro_count_dropped_runs() {
    backend_tests::kernel_drops_with_gro_count_dropped_runs(&|c| uring_client(c));
}

/// `backend_with_gro` turns GRO on or off in whichever backend it
/// chooses: off, every dropped datagram of a GSO run is counted; on, a
/// dropped run counts once.
#[test]
fn backend_with_gro_decides_how_drops_of_runs_count() {
    for (io, name) in [(Io::Std, "std"), (Io::Uring, "uring")] {
        let start = |gro| {
            move |cameras| {
                let backend = backend_with_gro(io, gro);
                // Not a fallback that would test std twice.
                assert_eq!(backend.name(), name);
                client_with(backend, cameras)
            }
        };
        backend_tests::kernel_drops_of_gso_runs_are_counted_exactly(&start(false));
        backend_tests::kernel_drops_with_gro_count_dropped_runs(&start(true));
    }
}

/// A trickling camera's datagrams (a GRO-sized buffer each) and another
/// camera's GSO runs on one ring, with and without GRO.
#[test]
fn trickled_datagrams_beside_gso_runs() {
    backend_tests::trickled_datagrams_beside_gso_runs(&|c| uring_client(c));
    backend_tests::trickled_datagrams_beside_gso_runs(&uring_client_without_gro);
}

#[test]
fn datagrams_from_other_hosts_are_ignored_and_counted() {
    backend_tests::datagrams_from_other_hosts_are_ignored_and_counted(&|c| uring_client(c));
}

/// Eight ring buffers for bursts of ~40 datagrams: the multishot request
/// keeps ending with ENOBUFS and must be re-armed every time, without
/// losing a datagram (they wait in the socket buffer). With GRO buffers
/// (each plain datagram takes one of 64 KiB) and without.
#[test]
fn a_ring_that_runs_dry_is_re_armed_without_loss() {
    for options in [UringOptions::default(), UringOptions::without_gro()] {
        ring_of_eight_buffers(UringOptions {
            buffers: 8,
            ..options
        });
    }
}

fn ring_of_eight_buffers(options: UringOptions) {
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
    let stats = stats_when(&client, "cam", |s| {
        s.packets_received() == sender.packets_sent
    });
    assert_eq!(stats.packets_lost(), 0);
    assert_eq!(stats.kernel_drops, Some(0));
}

/// A datagram larger than a ring buffer is never passed on shortened
/// (possible only without GRO, whose buffers hold the largest).
#[test]
fn datagrams_larger_than_a_buffer_are_counted_not_cut() {
    let options = UringOptions {
        buffer_len: (BUFFER_OVERHEAD + 200) as u32,
        ..UringOptions::without_gro()
    };
    let client = client_with(
        Box::new(UringBackend::with_options(options)),
        [loopback_camera("cam")],
    );
    let mut sender = Sender::new("127.0.0.1:0", client.local_addr("cam").unwrap(), 9);
    sender.send_frame(&camera_jpeg(320, 240, Sampling::Yuv420, 0, 3), 1000);
    let stats = stats_when(&client, "cam", |s| s.datagrams == sender.packets_sent);
    assert_eq!(
        stats.invalid.get(InvalidReason::RtpTruncated),
        sender.packets_sent
    );
    assert_eq!(stats.frames_complete(), 0);
    assert!(client
        .get_frame("cam", Duration::from_millis(100))
        .is_none());
}

/// Datagrams the kernel dropped because the socket buffer was full,
/// before the ring started reading, show up in the camera's counters
/// (the shared `kernel_drops_are_counted_exactly` covers drops while it
/// reads).
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
    stats_when(&client, "cam", |s| {
        s.datagrams + s.kernel_drops.unwrap_or(0) == sent
    });
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
    backend_tests::stop_is_bounded_and_wakes_waiters(
        &|c| uring_client(c),
        Duration::from_millis(500),
    );
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
