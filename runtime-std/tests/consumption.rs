//! What the consumer is handed, and what it pays for: frames of one
//! camera in timestamp order however many decoders race, latest delivery
//! (only what is taken is decoded), `max_fps` thinning before decode, and
//! JPEG-only cameras beside decoded ones.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mjpeg_rtp::{CameraConfig, CameraStats, Client, ClientOptions, Delivery};
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;
use mjpeg_rtp_testkit::wait_until;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// 30 fps on the 90 kHz clock.
const STEP: u32 = 3000;

fn camera(id: &str) -> CameraConfig {
    CameraConfig::new(id, SocketAddr::new(LOCALHOST, 0)).with_sender(LOCALHOST)
}

fn started(decode_threads: usize, cameras: Vec<CameraConfig>) -> Client {
    let mut client = Client::new(ClientOptions {
        decode_threads,
        ..ClientOptions::default()
    });
    for c in cameras {
        client.add_camera(c).expect("add camera");
    }
    client.start().expect("start");
    client
}

fn sender(client: &Client, id: &str, ssrc: u32) -> Sender {
    Sender::new("127.0.0.1:0", client.local_addr(id).unwrap(), ssrc)
}

fn stats_when(client: &Client, id: &str, done: impl Fn(&CameraStats) -> bool) -> CameraStats {
    wait_until(|| client.camera_stats(id).unwrap(), done)
}

/// Decodes finish in any order when a large frame and a small one are
/// decoded at once; the consumer still sees each camera's frames in
/// timestamp order, none of them lost to the reordering.
#[test]
fn frames_of_one_camera_come_in_timestamp_order_from_racing_decoders() {
    let cameras = ["a", "b"];
    let client = started(
        4,
        cameras
            .iter()
            .map(|id| camera(id).with_queue_depth(1000))
            .collect(),
    );
    let big = camera_jpeg(640, 480, Sampling::Yuv420, 0, 1);
    let small = camera_jpeg(64, 48, Sampling::Yuv420, 0, 2);
    let frames = 120u32;
    let mut senders: Vec<Sender> = cameras
        .iter()
        .enumerate()
        .map(|(i, id)| sender(&client, id, 0x100 + i as u32))
        .collect();
    for n in 0..frames {
        for s in &mut senders {
            s.send_frame(if n % 3 == 0 { &big } else { &small }, n * STEP);
        }
        if n % 8 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut last = [None::<u32>; 2];
    let mut taken = [0u64; 2];
    let mut take_in_order = |client: &Client| {
        while let Some(frame) = client.next_frame(Duration::from_millis(500)) {
            let i = cameras
                .iter()
                .position(|c| *c == frame.camera_id())
                .unwrap();
            if let Some(before) = last[i] {
                assert!(
                    frame.timestamp > before,
                    "camera {}: {} after {before}",
                    frame.camera_id(),
                    frame.timestamp
                );
            }
            last[i] = Some(frame.timestamp);
            taken[i] += 1;
        }
    };
    take_in_order(&client);
    // Every complete frame decoded, dropped for the backlog or failed:
    // what is still decoding comes out after what was taken.
    for id in cameras {
        stats_when(&client, id, |s| {
            s.frames_complete() == u64::from(frames)
                && s.frames_decoded + s.frames_dropped_backlog + s.decode_errors
                    == s.frames_complete()
        });
    }
    take_in_order(&client);
    for (i, id) in cameras.iter().enumerate() {
        let stats = client.camera_stats(id).unwrap();
        // Every frame that completed is delivered or counted.
        assert_eq!(
            stats.frames_complete(),
            taken[i] + stats.frames_dropped_backlog + stats.decode_errors,
            "{stats:?}"
        );
        assert_eq!(stats.frames_delivered, taken[i]);
        assert_eq!(stats.frames_dropped_queue, 0);
        assert!(taken[i] > 0, "{id}: {taken:?}");
    }
}

/// Latest delivery: the newest frame, decoded when taken and only then;
/// never one older than a frame already taken.
#[test]
fn latest_delivery_decodes_only_what_is_taken() {
    let client = started(2, vec![camera("cam").with_delivery(Delivery::Latest)]);
    let mut tx = sender(&client, "cam", 7);
    let pictures: Vec<Vec<u8>> = (0..20)
        .map(|seed| camera_jpeg(320, 240, Sampling::Yuv422, 0, seed))
        .collect();
    for (n, jpeg) in pictures.iter().enumerate() {
        tx.send_frame(jpeg, n as u32 * STEP);
    }
    stats_when(&client, "cam", |s| s.frames_complete() == 20);
    let frame = client.get_frame("cam", Duration::from_secs(2)).unwrap();
    assert_eq!(frame.timestamp, 19 * STEP);
    assert_eq!(frame.shape(), (240, 320, 3));
    assert_eq!(decode(&pictures[19]).2, frame.rgb());
    // Nothing newer yet: nothing, rather than the same frame again.
    assert!(client
        .get_frame("cam", Duration::from_millis(200))
        .is_none());
    let stats = stats_when(&client, "cam", |s| s.frames_superseded == 19);
    assert_eq!(
        (
            stats.frames_decoded,
            stats.frames_superseded,
            stats.frames_delivered
        ),
        (1, 19, 1)
    );
    // Two newer frames, the older one's last packet arriving after the
    // newer one completed: the newer is taken, the straggler never is.
    let older = tx.packets(&pictures[1], 22 * STEP);
    let newer = tx.packets(&pictures[0], 25 * STEP);
    let (last, first) = older.split_last().unwrap();
    for packet in first.iter().chain(&newer).chain([last]) {
        tx.socket.send_to(packet, tx.to).unwrap();
    }
    let taken = client.get_frame("cam", Duration::from_secs(2)).unwrap();
    assert_eq!(taken.timestamp, 25 * STEP);
    assert!(client
        .get_frame("cam", Duration::from_millis(300))
        .is_none());
    let stats = stats_when(&client, "cam", |s| s.frames_dropped_out_of_order == 1);
    assert_eq!(stats.frames_decoded, 2);
}

/// `get_frames` takes one frame of each camera at once: the newest of a
/// latest camera (the batch's decodes side by side), the oldest queued
/// of a queue camera; `None` for nothing new, an unknown id, or a camera
/// named again. With nothing anywhere it waits for the first frame.
#[test]
fn get_frames_takes_one_frame_of_each_camera_at_once() {
    let latest = ["a", "b", "c"];
    let mut cameras: Vec<CameraConfig> = latest
        .iter()
        .map(|id| camera(id).with_delivery(Delivery::Latest))
        .collect();
    cameras.push(camera("q"));
    let client = started(2, cameras);
    let ids = ["a", "b", "c", "q"];
    let pictures: Vec<Vec<Vec<u8>>> = (0..ids.len() as u32)
        .map(|cam| {
            (0..3)
                .map(|n| camera_jpeg(320, 240, Sampling::Yuv420, 0, 10 * cam + n))
                .collect()
        })
        .collect();
    let mut senders: Vec<Sender> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| sender(&client, id, 0x200 + i as u32))
        .collect();
    for (tx, frames) in senders.iter_mut().zip(&pictures) {
        for (n, jpeg) in frames.iter().enumerate() {
            tx.send_frame(jpeg, n as u32 * STEP);
        }
    }
    for id in ids {
        stats_when(&client, id, |s| s.frames_complete() == 3);
    }
    wait_until(|| client.queued("q"), |&n| n == 3);

    let got = client.get_frames(&["a", "b", "nope", "c", "q", "a"], Duration::from_secs(2));
    assert_eq!(got.len(), 6);
    for (slot, cam, n) in [(0, 0, 2), (1, 1, 2), (3, 2, 2), (4, 3, 0)] {
        let frame = got[slot].as_ref().expect("a frame");
        assert_eq!(frame.camera_id(), ids[cam]);
        assert_eq!(frame.timestamp, n as u32 * STEP);
        assert_eq!(decode(&pictures[cam][n]).2, frame.rgb());
    }
    assert!(got[2].is_none(), "an unknown camera");
    assert!(got[5].is_none(), "a camera named again");

    // Nothing newer on the latest cameras; the queue camera's next.
    let got = client.get_frames(&ids, Duration::from_millis(200));
    assert!(got[..3].iter().all(Option::is_none));
    assert_eq!(got[3].as_ref().map(|f| f.timestamp), Some(STEP));
    for id in latest {
        let stats = client.camera_stats(id).unwrap();
        assert_eq!(
            (stats.frames_decoded, stats.frames_delivered),
            (1, 1),
            "{id}"
        );
    }

    // Nothing anywhere: the call waits for the first frame to come.
    let late = std::thread::spawn({
        let (mut tx, jpeg) = (senders.remove(1), pictures[1][0].clone());
        move || {
            std::thread::sleep(Duration::from_millis(100));
            tx.send_frame(&jpeg, 9 * STEP);
        }
    });
    let got = client.get_frames(&["a", "b", "c"], Duration::from_secs(5));
    late.join().unwrap();
    assert!(got[0].is_none() && got[2].is_none());
    assert_eq!(got[1].as_ref().map(|f| f.timestamp), Some(9 * STEP));
}

/// `max_fps` keeps the first frame of each 1/N s of RTP time, before any
/// decode, however fast the frames arrive.
#[test]
fn max_fps_thins_by_rtp_timestamp_before_decode() {
    let client = started(
        2,
        vec![camera("cam").with_max_fps(5.0).with_queue_depth(100)],
    );
    let mut tx = sender(&client, "cam", 9);
    let jpeg = camera_jpeg(160, 120, Sampling::Yuv420, 0, 3);
    // Two seconds of a 30 fps stream, starting on the grid, the frames
    // between grid points sent at once. Each kept frame is waited for
    // before the next is sent: ten at once could overflow the decode
    // backlog (6 here) on a loaded machine, which is not what this tests.
    for n in 0..60u32 {
        tx.send_frame(&jpeg, 18_000 * 1000 + n * STEP);
        if n % 6 == 0 {
            let kept = u64::from(n / 6 + 1);
            stats_when(&client, "cam", |s| s.frames_decoded == kept);
        }
    }
    // The receive path publishes its own counters a moment after the
    // depacketizer's.
    let stats = stats_when(&client, "cam", |s| {
        s.frames_complete() == 60 && s.frames_thinned + s.frames_decoded == 60
    });
    assert_eq!(stats.frames_thinned, 50);
    let mut timestamps = Vec::new();
    while let Some(frame) = client.get_frame("cam", Duration::from_millis(500)) {
        timestamps.push(frame.timestamp);
    }
    let want: Vec<u32> = (0..10).map(|k| 18_000 * 1000 + k * 18_000).collect();
    assert_eq!(timestamps, want);
    assert_eq!(client.camera_stats("cam").unwrap().frames_decoded, 10);
}

/// One camera passes JPEG through while the client decodes the others.
#[test]
fn a_camera_can_skip_decode_while_others_decode() {
    let client = started(
        1,
        vec![camera("rgb"), camera("jpeg").with_decode_rgb(false)],
    );
    let original = camera_jpeg(320, 240, Sampling::Yuv420, 0, 5);
    for (id, ssrc) in [("rgb", 1), ("jpeg", 2)] {
        sender(&client, id, ssrc).send_frame(&original, 90_000);
    }
    let decoded = client.get_frame("rgb", Duration::from_secs(5)).unwrap();
    assert!(decoded.has_rgb());
    assert_eq!(decoded.rgb(), decode(&original).2);
    let passed = client.get_frame("jpeg", Duration::from_secs(5)).unwrap();
    assert!(!passed.has_rgb() && passed.rgb().is_empty());
    assert_eq!(decode(passed.jpeg()), decode(&original));
}

#[test]
fn max_fps_out_of_range_is_refused() {
    let mut client = Client::new(ClientOptions::default());
    for fps in [0.0, -1.0, f64::NAN, 1e6] {
        let err = client
            .add_camera(camera("cam").with_max_fps(fps))
            .unwrap_err();
        assert!(err.to_string().contains("max_fps"), "{err}");
    }
}

/// Frames that share an RTP timestamp (GStreamer fed untimestamped
/// buffers, ESP32 firmware's first frames) are not out of order: each is
/// delivered.
#[test]
fn frames_sharing_a_timestamp_are_all_delivered() {
    let client = started(1, vec![camera("cam").with_queue_depth(10)]);
    let mut tx = sender(&client, "cam", 11);
    let jpeg = camera_jpeg(160, 120, Sampling::Yuv420, 0, 4);
    for _ in 0..3 {
        tx.send_frame(&jpeg, 90_000);
    }
    tx.send_frame(&jpeg, 93_000);
    let mut timestamps = Vec::new();
    while let Some(frame) = client.get_frame("cam", Duration::from_millis(500)) {
        timestamps.push(frame.timestamp);
    }
    assert_eq!(timestamps, [90_000, 90_000, 90_000, 93_000]);
    let stats = client.camera_stats("cam").unwrap();
    assert_eq!(stats.frames_dropped_out_of_order, 0);
}

/// A sender that restarts its clock and sequence numbers without a new
/// SSRC (ESP32 firmware on every session) is followed at once, not
/// taken for a straggler.
#[test]
fn a_sender_restarting_with_the_same_ssrc_is_followed() {
    let client = started(2, vec![camera("cam").with_queue_depth(100)]);
    let jpeg = camera_jpeg(160, 120, Sampling::Yuv420, 0, 6);
    let mut before = sender(&client, "cam", 0xE5B3);
    // Paced, so that the one decoder keeps up (no backlog drops).
    let pace = || std::thread::sleep(Duration::from_millis(15));
    for n in 0..20u32 {
        before.send_frame(&jpeg, 1_000_000 + n * STEP);
        pace();
    }
    // A new session: same SSRC, timestamp from 0 again, sequence numbers
    // from a new random start.
    let mut after = sender(&client, "cam", 0xE5B3);
    after.packetizer = mjpeg_rtp::core::Packetizer::new(mjpeg_rtp::core::PacketizerConfig {
        ssrc: 0xE5B3,
        initial_sequence: 20_000,
        ..Default::default()
    });
    for n in 0..10u32 {
        after.send_frame(&jpeg, n * STEP);
        pace();
    }
    let mut timestamps = Vec::new();
    while let Some(frame) = client.get_frame("cam", Duration::from_millis(500)) {
        timestamps.push(frame.timestamp);
    }
    // The core holds the first packet after the sequence jump until the
    // next one confirms the new sequence, then replays it: every frame
    // completes, nothing is refused, and none is taken for a straggler.
    // (On a loaded machine the decoder may still shed some, counted as
    // backlog.)
    let stats = stats_when(&client, "cam", |s| {
        s.frames_complete() == 30 && s.frames_decoded + s.frames_dropped_backlog == 30
    });
    assert_eq!(stats.invalid.total(), 0);
    assert_eq!(timestamps.len() as u64, stats.frames_delivered);
    let restart = timestamps
        .iter()
        .position(|&t| t < 1_000_000)
        .expect("frames after the restart");
    for run in [&timestamps[..restart], &timestamps[restart..]] {
        assert!(run.windows(2).all(|w| w[0] < w[1]), "{timestamps:?}");
    }
    assert_eq!(stats.frames_dropped_out_of_order, 0);
}

/// Stopping while complete frames wait for a decoder: those it never
/// decodes are counted (`frames_dropped_stopping`), and every complete
/// frame is delivered or named by exactly one counter.
#[test]
fn frames_given_up_at_stop_are_counted() {
    let client = started(1, vec![camera("cam").with_queue_depth(1000)]);
    // Large frames for one decoder: it falls far behind the wire, so the
    // backlog is full when stop comes.
    let big = camera_jpeg(1920, 1080, Sampling::Yuv420, 0, 3);
    let mut tx = sender(&client, "cam", 0x51);
    // Twelve frames in one burst: complete within microseconds of each
    // other, far faster than one decoder takes them, however fast the
    // machine.
    for n in 0..12 {
        tx.send_frame(&big, n * STEP);
    }
    stats_when(&client, "cam", |s| s.frames_complete() == 12);
    client.stop();
    // Decoded frames can still be taken after stop.
    let mut taken = 0;
    while client.get_frame("cam", Duration::ZERO).is_some() {
        taken += 1;
    }
    let s = client.camera_stats("cam").unwrap();
    assert!(s.frames_dropped_stopping > 0, "{s:?}");
    assert_eq!(s.frames_delivered, taken, "{s:?}");
    assert_eq!(
        s.frames_complete(),
        s.frames_delivered
            + s.frames_dropped_backlog
            + s.frames_dropped_queue
            + s.frames_dropped_out_of_order
            + s.frames_thinned
            + s.frames_superseded
            + s.decode_errors
            + s.frames_dropped_stopping,
        "{s:?}"
    );
}
