//! What every receive backend must do, over loopback UDP through real
//! sockets: the scenarios the std backend's and the io_uring backend's
//! tests both run, each given a way to start a client on its backend.
//!
//! Behind the `backend-tests` feature, so that the core's tests (which
//! use the rest of the testkit) build no runtime.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mjpeg_rtp::backend::ReceiveBackend;
use mjpeg_rtp::{CameraConfig, CameraStats, Client, ClientOptions};

use crate::picture::{camera_jpeg, decode, Sampling};
use crate::rtp::Sender;
use crate::{wait_until, WAIT};

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// How a backend's tests start a client: the cameras in, the started
/// client out.
pub type Start<'a> = &'a dyn Fn(Vec<CameraConfig>) -> Client;

/// A camera on an ephemeral loopback port that accepts only loopback.
pub fn loopback_camera(id: &str) -> CameraConfig {
    CameraConfig::new(id, SocketAddr::new(LOCALHOST, 0)).with_sender(LOCALHOST)
}

/// A started client with two decode threads, `backend` and `cameras`.
pub fn client_with(
    backend: Box<dyn ReceiveBackend>,
    cameras: impl IntoIterator<Item = CameraConfig>,
) -> Client {
    let mut client = Client::new(ClientOptions {
        decode_threads: 2,
        backend,
    });
    for camera in cameras {
        client.add_camera(camera).expect("add camera");
    }
    client.start().expect("start");
    client
}

/// Poll camera `id`'s counters until `done` holds for them, and return
/// them; panic with the last ones after [`WAIT`].
pub fn stats_when(client: &Client, id: &str, done: impl Fn(&CameraStats) -> bool) -> CameraStats {
    wait_until(|| client.camera_stats(id).expect("camera"), done)
}

/// Pictures of every shape the wire carries (4:2:0 and 4:2:2, with and
/// without restart markers, one size the main header cannot carry: ONVIF
/// extension) arrive pixel-exact, with exact frame and camera counters.
pub fn frames_arrive_pixel_exact_with_exact_counters(start: Start<'_>) {
    let client = start(vec![loopback_camera("cam")]);
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
        assert_eq!(
            (usize::from(frame.width), usize::from(frame.height)),
            (ew, eh)
        );
        assert_eq!(frame.shape(), (eh, ew, 3));
        assert_eq!(frame.camera_id(), "cam");
        assert_eq!(frame.timestamp, timestamp);
        assert_eq!(frame.ssrc, 0x1122_3344);
        assert_eq!(frame.packets_lost, 0);
        assert_eq!(frame.packets_received, sender.packets_sent);
        assert_eq!(
            frame.last_sequence,
            frame
                .first_sequence
                .wrapping_add(frame.packets as u16)
                .wrapping_sub(1)
        );
        assert!(frame.rgb() == &expected[..], "pixels differ in case {i}");
        // The rebuilt JPEG itself decodes the same.
        assert!(decode(frame.jpeg()).2 == expected);
    }
    let stats = stats_when(&client, "cam", |s| {
        s.packets_received() == sender.packets_sent && s.frames_delivered == frames
    });
    assert_eq!(stats.streams.len(), 1);
    assert_eq!(stats.packets_lost(), 0);
    assert_eq!(stats.frames_complete(), frames);
    assert_eq!(stats.frames_dropped(), 0);
    assert_eq!(stats.invalid.total(), 0);
    assert_eq!(stats.packets_foreign, 0);
    assert_eq!(stats.decode_errors, 0);
    assert_eq!(stats.frames_dropped_queue, 0);
    assert_eq!(stats.frames_dropped_backlog, 0);
    assert_eq!(stats.frames_decoded, frames);
    assert_eq!(stats.datagrams, sender.packets_sent);
    #[cfg(target_os = "linux")]
    assert_eq!(stats.kernel_drops, Some(0));
    client.stop();
}

/// Datagrams from another loopback address (127.0.0.2: Linux only, where
/// all of 127.0.0.0/8 is loopback) open no stream and are counted; the
/// configured sender's frames still arrive.
pub fn datagrams_from_other_hosts_are_ignored_and_counted(start: Start<'_>) {
    let client = start(vec![loopback_camera("cam")]);
    let to = client.local_addr("cam").unwrap();
    let original = camera_jpeg(160, 120, Sampling::Yuv420, 0, 7);
    let mut stranger = Sender::new("127.0.0.2:0", to, 0xBAD);
    stranger.send_frame(&original, 1000);
    let stats = stats_when(&client, "cam", |s| {
        s.packets_foreign == stranger.packets_sent
    });
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
    let stats = client.camera_stats("cam").unwrap();
    assert_eq!(stats.packets_foreign, stranger.packets_sent);
    assert_eq!(stats.packets_received(), camera.packets_sent);
}

/// Datagrams the kernel drops because the socket's receive buffer is
/// full are counted exactly: every datagram sent is either taken or in
/// `kernel_drops` (on loopback nothing else can lose one).
pub fn kernel_drops_are_counted_exactly(start: Start<'_>) {
    // The smallest buffer the kernel grants: a burst overflows it before
    // the receive thread can drain it.
    let client = start(vec![loopback_camera("cam").with_socket_receive_buffer(1)]);
    let to = client.local_addr("cam").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    const BURST: u64 = 4000;
    let datagram = [0u8; 1400];
    for _ in 0..BURST {
        sender.send_to(&datagram, to).unwrap();
    }
    // Nothing follows the burst: drops at its end are counted too,
    // though no later datagram carries the count.
    let stats = stats_when(&client, "cam", |s| {
        s.datagrams + s.kernel_drops.unwrap_or(0) == BURST
    });
    assert!(
        stats.kernel_drops.unwrap_or(0) > 0,
        "the burst did not overflow: {stats:#?}"
    );
}

/// Frames whose packets come as UDP GSO runs (one message per run on a
/// GRO socket, the datagrams otherwise) arrive pixel-exact, with every
/// datagram counted once: `datagrams` and the packet counters count the
/// datagrams sent, not the messages.
#[cfg(target_os = "linux")]
pub fn frames_sent_as_gso_runs_arrive_pixel_exact(start: Start<'_>) {
    let client = start(vec![loopback_camera("cam")]);
    let to = client.local_addr("cam").unwrap();
    let mut sender = Sender::new("127.0.0.1:0", to, 0x650);
    let mut messages = 0;
    for i in 0..4u32 {
        let original = camera_jpeg(1280, 720, Sampling::Yuv420, (i % 2) as u16, 50 + i);
        messages += sender.send_frame_gso(&original, 3000 * i);
        let frame = client.get_frame("cam", WAIT).expect("frame");
        assert_eq!(frame.timestamp, 3000 * i);
        assert_eq!(frame.packets_lost, 0);
        assert!(frame.rgb() == &decode(&original).2[..], "frame {i}");
    }
    assert!(
        (messages as u64) < sender.packets_sent,
        "runs of several datagrams were sent"
    );
    let stats = stats_when(&client, "cam", |s| {
        s.packets_received() == sender.packets_sent && s.frames_delivered == 4
    });
    assert_eq!(stats.datagrams, sender.packets_sent);
    assert_eq!(stats.packets_lost(), 0);
    assert_eq!(stats.invalid.total(), 0);
    assert_eq!(stats.kernel_drops, Some(0));
    client.stop();
}

/// Kernel drops of datagrams sent as GSO runs are counted exactly too,
/// by a backend without GRO: the kernel cuts each run into datagrams
/// before queueing them, and drops and counts them one by one. (With GRO
/// see [`kernel_drops_with_gro_count_dropped_runs`].)
#[cfg(target_os = "linux")]
pub fn kernel_drops_of_gso_runs_are_counted_exactly(start: Start<'_>) {
    gso_runs_overflow(start, 1);
}

/// With UDP GRO a run is queued whole, and when the buffer is full
/// dropped whole, and the kernel counts one drop for it (it counts
/// queued buffers: `sk_drops` goes up by one per buffer, whatever its
/// `gso_segs`): every run of 21 datagrams is either received as 21
/// datagrams or counted as one kernel drop. For a backend with GRO on.
/// If a kernel ever counts the datagrams instead, this fails, and the
/// backends' `gro` options and `CameraStats::kernel_drops` should say
/// so.
#[cfg(target_os = "linux")]
pub fn kernel_drops_with_gro_count_dropped_runs(start: Start<'_>) {
    gso_runs_overflow(start, GSO_RUN_DATAGRAMS);
}

/// Datagrams per run that [`gso_runs_overflow`] sends: 20 of 1400 bytes
/// and one of 600.
#[cfg(target_os = "linux")]
const GSO_RUN_DATAGRAMS: u64 = 21;

/// Send 300 GSO runs to a camera with the smallest socket buffer, and
/// wait until every datagram was either received or dropped, a kernel
/// drop standing for `per_drop` datagrams; some must have been.
#[cfg(target_os = "linux")]
fn gso_runs_overflow(start: Start<'_>, per_drop: u64) {
    let client = start(vec![loopback_camera("cam").with_socket_receive_buffer(1)]);
    let to = client.local_addr("cam").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    crate::rtp::set_gso_segment(&sender, 1400);
    const RUNS: u64 = 300;
    let run = vec![0u8; 20 * 1400 + 600];
    for _ in 0..RUNS {
        sender.send_to(&run, to).unwrap();
    }
    let stats = stats_when(&client, "cam", |s| {
        s.datagrams + per_drop * s.kernel_drops.unwrap_or(0) == RUNS * GSO_RUN_DATAGRAMS
    });
    assert!(
        stats.kernel_drops.unwrap_or(0) > 0,
        "the runs did not overflow: {stats:#?}"
    );
}

/// One camera trickling plain datagrams (1 ms apart: with GRO each is a
/// message of its own) while another sends its frames as GSO runs (with
/// GRO a message each), several runs' frames inside each trickled one:
/// both cameras' frames arrive pixel-exact, and each counts exactly the
/// datagrams sent, none invalid.
#[cfg(target_os = "linux")]
pub fn trickled_datagrams_beside_gso_runs(start: Start<'_>) {
    let (client, [mut slow, mut runs]) = two_cameras(start, [("slow", 0x7C1), ("runs", 0x650)]);
    let mut messages = 0;
    let mut run_frames = 0u32;
    for i in 0..2u32 {
        let s = camera_jpeg(320, 240, Sampling::Yuv422, 0, 70 + i);
        let packets = slow.packets(&s, 3000 * i);
        assert!(packets.len() > 8, "a frame long enough to trickle");
        let mut sent_runs = Vec::new();
        for (k, packet) in packets.iter().enumerate() {
            if k % 4 == 2 && sent_runs.len() < 2 {
                // Large enough for runs of many datagrams.
                let r = camera_jpeg(640, 480, Sampling::Yuv420, 0, 80 + run_frames);
                let ts = 3000 * run_frames;
                messages += runs.send_frame_gso(&r, ts);
                sent_runs.push((ts, r));
                run_frames += 1;
            }
            slow.socket.send_to(packet, slow.to).unwrap();
            slow.packets_sent += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        let [(t0, r0), (t1, r1)] = <[_; 2]>::try_from(sent_runs).expect("two run frames");
        next_frames_are(
            &client,
            [("slow", 3000 * i, &s), ("runs", t0, &r0), ("runs", t1, &r1)],
        );
    }
    assert!(
        (messages as u64) < runs.packets_sent,
        "runs of several datagrams were sent"
    );
    for (id, sent, frames) in [
        ("slow", slow.packets_sent, 2),
        ("runs", runs.packets_sent, u64::from(run_frames)),
    ] {
        let s = stats_when(&client, id, |s| s.frames_delivered == frames);
        assert_eq!(s.datagrams, sent, "{id}");
        assert_eq!(s.packets_received(), sent, "{id}");
        assert_eq!(s.packets_lost(), 0, "{id}");
        assert_eq!(s.invalid.total(), 0, "{id}");
        assert_eq!(s.kernel_drops, Some(0), "{id}");
    }
}

/// `stop` returns within `bound`, wakes a consumer blocked in
/// `get_frame`, and may be called again.
pub fn stop_is_bounded_and_wakes_waiters(start: Start<'_>, bound: Duration) {
    let client = Arc::new(start(vec![loopback_camera("a"), loopback_camera("b")]));
    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || client.get_frame("a", Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    client.stop();
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    assert!(waiter.join().unwrap().is_none());
    assert!(!client.is_running());
    // Idempotent, and the ports are free again.
    client.stop();
}

/// Two cameras whose packets interleave, as on a busy network: each
/// frame arrives whole and pixel-exact through `next_frame`, with each
/// camera's counters its own.
pub fn two_cameras_interleaved_through_next_frame(start: Start<'_>) {
    let (client, [mut left, mut right]) = two_cameras(start, [("left", 0x1EF7), ("right", 0x5167)]);
    for i in 0..6u32 {
        let l = camera_jpeg(320, 240, Sampling::Yuv420, 0, 10 + i);
        let r = camera_jpeg(240, 160, Sampling::Yuv422, 0, 20 + i);
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
        // Two frames at a time, so that slow (debug) decoders never fall
        // behind: the decode backlog (two per camera) is not under test.
        next_frames_are(&client, [("left", 3000 * i, &l), ("right", 6000 * i, &r)]);
    }
    let stats = client.stats();
    assert_eq!(stats.len(), 2);
    for s in &stats {
        assert_eq!(s.frames_delivered, 6);
        assert_eq!(s.packets_lost(), 0);
        assert_eq!(s.frames_dropped_queue, 0);
        #[cfg(target_os = "linux")]
        assert_eq!(s.kernel_drops, Some(0));
    }
    assert_eq!(stats[0].packets_received(), left.packets_sent);
    assert_eq!(stats[1].packets_received(), right.packets_sent);
}

/// One camera trickling its frames' packets (2 ms apart, as from a slow
/// link: what lingering and the ring's batching are for) and one sending
/// each frame in a burst, at once: every frame of both arrives whole and
/// pixel-exact, with exact counters.
pub fn trickled_and_burst_frames_side_by_side(start: Start<'_>) {
    let (client, [mut slow, mut burst]) = two_cameras(start, [("slow", 0x510), ("burst", 0xB0)]);
    for i in 0..3u32 {
        let s = camera_jpeg(320, 240, Sampling::Yuv420, 0, 30 + i);
        let packets = slow.packets(&s, 3000 * i);
        assert!(packets.len() > 4, "a frame long enough to trickle");
        let b = camera_jpeg(320, 240, Sampling::Yuv422, 0, 40 + i);
        for (k, packet) in packets.iter().enumerate() {
            if k == packets.len() / 2 {
                // In the middle of the trickle, when the ring batches.
                burst.send_frame(&b, 3000 * i);
            }
            slow.socket.send_to(packet, slow.to).unwrap();
            slow.packets_sent += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        next_frames_are(&client, [("slow", 3000 * i, &s), ("burst", 3000 * i, &b)]);
    }
    for (id, sent) in [("slow", slow.packets_sent), ("burst", burst.packets_sent)] {
        let s = stats_when(&client, id, |s| s.frames_delivered == 3);
        assert_eq!(s.packets_received(), sent, "{id}");
        assert_eq!(s.packets_lost(), 0, "{id}");
        #[cfg(target_os = "linux")]
        assert_eq!(s.kernel_drops, Some(0), "{id}");
    }
}

/// A client with two loopback cameras, and a sender to each: `(id, SSRC)`.
fn two_cameras(start: Start<'_>, cameras: [(&str, u32); 2]) -> (Client, [Sender; 2]) {
    let client = start(cameras.iter().map(|&(id, _)| loopback_camera(id)).collect());
    let senders =
        cameras.map(|(id, ssrc)| Sender::new("127.0.0.1:0", client.local_addr(id).unwrap(), ssrc));
    (client, senders)
}

/// The next frames through `next_frame`, in any order, are these
/// `(camera, RTP timestamp, JPEG sent)`, pixel-exact.
fn next_frames_are<const N: usize>(client: &Client, frames: [(&str, u32, &Vec<u8>); N]) {
    let expected = frames.map(|(id, ts, jpeg)| (id, ts, decode(jpeg).2));
    for _ in 0..N {
        let frame = client.next_frame(WAIT).expect("frame from either camera");
        let (_, _, rgb) = expected
            .iter()
            .find(|(id, ts, _)| *id == frame.camera_id() && *ts == frame.timestamp)
            .expect("a frame that was sent");
        assert!(
            frame.rgb() == &rgb[..],
            "{} at {}",
            frame.camera_id(),
            frame.timestamp
        );
    }
}
