//! Hostile live traffic: a real stream interleaved with tens of thousands
//! of garbage datagrams from the allowed host. Every good frame must still
//! arrive pixel-exact, the garbage must be counted by reason, warnings must
//! be rate-limited, and the process must stay under 128 MiB.
//!
//! Its own test binary so that the peak-memory reading is this test's.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mjpeg_rtp::core::rtp::HeaderMut;
use mjpeg_rtp::{CameraConfig, Client, ClientOptions, InvalidReason};
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;
use mjpeg_rtp_testkit::Rng;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const GOOD_SSRC: u32 = 0x600D_600D;
const FRAMES: usize = 24;
const GARBAGE_PER_GOOD_PACKET: usize = 120;

/// Counts warnings so that rate limiting can be checked.
struct CountingLogger;
static WARNINGS: AtomicUsize = AtomicUsize::new(0);

impl log::Log for CountingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::Level::Warn {
            WARNINGS.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn flush(&self) {}
}

/// An RTP header: version 2, PT 26, the given fields.
fn rtp(flags: u8, marker_pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut v = vec![flags, marker_pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v
}

/// One garbage datagram of kind `kind`, built around `template` (a real
/// packet of the good stream).
fn garbage(rng: &mut Rng, kind: usize, template: &[u8]) -> Vec<u8> {
    let seq = rng.next_u64() as u16;
    let ts = rng.next_u64() as u32;
    match kind {
        // Truncated headers.
        0 => template[..rng.below(12)].to_vec(),
        // Wrong versions.
        1 => {
            let mut v = template.to_vec();
            v[0] = (v[0] & 0x3F) | ((rng.below(3) as u8) << 6);
            v
        }
        // Absurd CSRC counts.
        2 => {
            let mut v = rtp(0x80 | 0x0F, 26, seq, ts, GOOD_SSRC);
            let n = rng.below(40);
            v.extend(rng.bytes(n));
            v
        }
        // Extension lengths past the datagram.
        3 => {
            let mut v = rtp(0x90, 26, seq, ts, GOOD_SSRC);
            v.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xFF]);
            let n = rng.below(100);
            v.extend(rng.bytes(n));
            v
        }
        // Padding beyond the payload.
        4 => {
            let mut v = rtp(0xA0, 26, seq, ts, GOOD_SSRC);
            let n = rng.below(20);
            v.extend(rng.bytes(n));
            v.push(255);
            v
        }
        // Bogus offsets and sizes, with the good SSRC and random numbers.
        5 => {
            let marker = 0x80 * (rng.below(2) as u8);
            let mut v = rtp(0x80, 26 | marker, seq, ts, GOOD_SSRC);
            let offset = rng.next_u64() as u32 & 0xFF_FFFF;
            v.extend_from_slice(&offset.to_be_bytes()[..]);
            v[12] = 0;
            let header = [
                rng.below(2) as u8,
                255,
                rng.next_u64() as u8,
                rng.next_u64() as u8,
            ];
            v.extend_from_slice(&header);
            v.extend_from_slice(&[0, 0, 0, 128]);
            let n = 128 + rng.below(1200);
            v.extend(rng.bytes(n));
            v
        }
        // The same with a random SSRC.
        6 => {
            let mut v = template.to_vec();
            let mut header = HeaderMut::new_checked(&mut v).expect("an RTP packet");
            header.set_sequence(seq);
            header.set_timestamp(ts);
            header.set_ssrc(rng.next_u64() as u32);
            v
        }
        // Random datagrams, up to 64 KB.
        _ => {
            let len = if rng.below(50) == 0 {
                60_000 + rng.below(5_000)
            } else {
                rng.below(1500)
            };
            rng.bytes(len)
        }
    }
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn garbage_from_the_allowed_host_is_counted_and_harmless() {
    log::set_logger(&CountingLogger).expect("logger");
    log::set_max_level(log::LevelFilter::Warn);

    let mut client = Client::new(ClientOptions {
        decode_threads: 2,
        ..ClientOptions::default()
    });
    let mut camera = CameraConfig::new("cam", SocketAddr::new(LOCALHOST, 0)).with_sender(LOCALHOST);
    camera.queue_depth = FRAMES;
    client.add_camera(camera).expect("add camera");
    client.start().expect("start");
    let to = client.local_addr("cam").expect("bound");

    let originals: Vec<Vec<u8>> = (0..FRAMES)
        .map(|i| {
            camera_jpeg(
                320,
                240,
                if i % 2 == 0 {
                    Sampling::Yuv420
                } else {
                    Sampling::Yuv422
                },
                0,
                i as u32,
            )
        })
        .collect();
    let mut sender = Sender::new("127.0.0.1:0", to, GOOD_SSRC);
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut garbage_sent = 0u64;
    for (i, original) in originals.iter().enumerate() {
        let packets = sender.packets(original, 3000 * i as u32);
        for packet in &packets {
            sender.socket.send_to(packet, to).expect("send good");
            sender.packets_sent += 1;
            for g in 0..GARBAGE_PER_GOOD_PACKET {
                let kind = rng.below(8);
                let datagram = garbage(&mut rng, kind, packet);
                sender.socket.send_to(&datagram, to).expect("send garbage");
                garbage_sent += 1;
                // Pace, so that the kernel's socket buffer (208 KiB on a
                // stock system) never overflows: the test is about us, not
                // the loopback queue.
                if g % 30 == 29 {
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
        }
    }
    assert!(garbage_sent >= 20_000, "{garbage_sent}");

    let mut received = Vec::new();
    while received.len() < FRAMES {
        let Some(frame) = client.get_frame("cam", Duration::from_secs(5)) else {
            break;
        };
        received.push(frame);
    }
    let stats = client.camera_stats("cam").expect("stats");
    client.stop();

    assert_eq!(stats.kernel_drops.unwrap_or(0), 0, "loopback overflowed");
    assert_eq!(received.len(), FRAMES, "{stats:#?}");
    // Two decode threads may finish frames out of order: match by
    // timestamp.
    for frame in &received {
        let original = &originals[(frame.timestamp / 3000) as usize];
        assert!(
            frame.rgb() == &decode(original).2[..],
            "frame {}",
            frame.timestamp
        );
    }
    let good = stats
        .streams
        .iter()
        .find(|s| s.ssrc == Some(GOOD_SSRC))
        .expect("good stream");
    // A garbage datagram that carries the good SSRC and happens to land
    // inside both the sequence window and 10 s of the stream's timestamps
    // is indistinguishable from a real packet (about 1 in 10^6 of the
    // random ones): it may add a packet and a doomed one-packet "frame",
    // never touch a real frame.
    let strays = good.packets_received - sender.packets_sent;
    assert!(strays <= 3, "{stats:#?}");
    assert_eq!(good.frames_complete, FRAMES as u64);
    assert!(good.frames_dropped_total() <= strays, "{stats:#?}");
    // Every kind of garbage shows up under its reason.
    for reason in [
        InvalidReason::RtpTruncated,
        InvalidReason::RtpVersion,
        InvalidReason::RtpCsrcOverrun,
        InvalidReason::RtpExtensionOverrun,
        InvalidReason::RtpPadding,
        InvalidReason::SsrcUnconfirmed,
    ] {
        assert!(stats.invalid.get(reason) > 0, "{reason}: {stats:#?}");
    }
    // Garbage never counted as good, and nothing is silently lost: every
    // datagram is received good, invalid, duplicate, late or discarded.
    assert!(stats.invalid.total() > garbage_sent / 2, "{stats:#?}");
    let warnings = WARNINGS.load(Ordering::Relaxed);
    assert!(
        warnings < 200,
        "{warnings} warnings for {garbage_sent} bad datagrams"
    );
    if let Some(peak) = vm_hwm_kib() {
        assert!(peak < 128 * 1024, "peak memory {peak} KiB");
        eprintln!(
            "peak memory {} MiB, {warnings} warnings, {garbage_sent} garbage",
            peak / 1024
        );
    }
}
