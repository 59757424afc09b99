//! Properties over random streams: reordering within the window never
//! changes what comes out; loss never yields a frame with a missing byte;
//! Q may vary per fragment without loss, while any other main-header
//! field that changes mid-frame drops exactly that frame as
//! `inconsistent`; arbitrary bytes never panic.

use mjpeg_rtp_core::rtp::HeaderMut;
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, DropReason, Instant, PacketizerConfig, Sampling,
    StreamStats, Tolerated,
};
use mjpeg_rtp_testkit::esp32::fragment_offset;
use mjpeg_rtp_testkit::picture::Picture;
use mjpeg_rtp_testkit::rtp::packetize;
use proptest::prelude::*;
use std::sync::OnceLock;

/// Eight small JPEGs of different content, sizes and sampling, encoded once.
fn corpus() -> &'static [(Vec<u8>, u32)] {
    static CORPUS: OnceLock<Vec<(Vec<u8>, u32)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        (0..8u32)
            .map(|i| {
                let picture = Picture {
                    seed: i,
                    sampling: if i % 2 == 0 {
                        Sampling::Yuv420
                    } else {
                        Sampling::Yuv422
                    },
                    restart_interval: if i % 3 == 0 { 1 } else { 0 },
                    ..Picture::new(48 + 16 * (i as u16 % 3), 32)
                };
                (picture.encode(), 4500 * i)
            })
            .collect()
    })
}

fn packets(max_packet: usize, initial_sequence: u16) -> Vec<Vec<u8>> {
    packetize(
        PacketizerConfig {
            max_packet,
            initial_sequence,
            ..PacketizerConfig::default()
        },
        corpus(),
    )
}

/// Where the RFC 2435 main header starts (after a 12-byte RTP header),
/// and its fields.
const MAIN: usize = 12;
const TYPE: usize = 4;
const Q: usize = 5;
const WIDTH: usize = 6;
const HEIGHT: usize = 7;

/// Eight frames in flight: displacement of up to 30 packets at ~10 packets
/// a frame keeps at most ~5 frames open at once.
type Rx = Depacketizer<Vec<u8>, 8>;

fn receiver() -> Rx {
    Depacketizer::new(
        Config::default(),
        core::array::from_fn(|_| vec![0u8; frame_buffer_len(64 * 1024)]),
    )
}

/// (timestamp, JPEG digest) of every frame handed out, by timestamp.
fn run(packets: &[Vec<u8>]) -> Vec<(u32, u64)> {
    run_with_stats(packets).0
}

/// [`run`], with the stream's statistics at the end.
fn run_with_stats(packets: &[Vec<u8>]) -> (Vec<(u32, u64)>, StreamStats) {
    let mut rx = receiver();
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        while let Some(f) = rx.next_frame() {
            out.push((f.info.timestamp, digest(f.jpeg)));
        }
    }
    out.sort_by_key(|(ts, _)| *ts);
    (out, rx.stats())
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Reassembly of the unimpaired stream: the reference output.
fn reference(max_packet: usize, initial_sequence: u16) -> Vec<(u32, u64)> {
    let got = run(&packets(max_packet, initial_sequence));
    assert_eq!(got.len(), corpus().len());
    got
}

/// Move each packet by at most `depth` positions: a random bounded
/// displacement, as a jittery network does.
fn displace(packets: &[Vec<u8>], keys: &[u16], depth: usize) -> Vec<Vec<u8>> {
    let mut keyed: Vec<(usize, &Vec<u8>)> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| (i + usize::from(keys[i % keys.len()]) % (depth + 1), p))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, p)| p.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn reordering_within_the_window_changes_nothing(
        max_packet in 120usize..600,
        initial_sequence: u16,
        keys in prop::collection::vec(any::<u16>(), 1..64),
        depth in 0usize..30,
        dup_every in 0usize..6,
    ) {
        let want = reference(max_packet, initial_sequence);
        let mut impaired = displace(&packets(max_packet, initial_sequence), &keys, depth);
        if dup_every > 0 {
            let copies: Vec<_> = impaired.iter().step_by(dup_every).cloned().collect();
            impaired.extend(copies);
        }
        prop_assert_eq!(run(&impaired), want);
    }

    #[test]
    fn loss_never_yields_a_frame_with_a_missing_byte(
        max_packet in 120usize..600,
        lose in prop::collection::vec(any::<bool>(), 1..200),
        keys in prop::collection::vec(any::<u16>(), 1..16),
        depth in 0usize..8,
    ) {
        let want = reference(max_packet, 1000);
        let all = packets(max_packet, 1000);
        let kept: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| !lose[i % lose.len()] || lose.len() == 1)
            .map(|(_, p)| p.clone())
            .collect();
        let got = run(&displace(&kept, &keys, depth));
        // Every frame handed out is byte-identical to the unimpaired one.
        for (ts, jpeg) in &got {
            let reference = want.iter().find(|(t, _)| t == ts).map(|(_, j)| j);
            prop_assert_eq!(Some(jpeg), reference);
        }
    }

    #[test]
    fn q_may_vary_per_fragment_without_loss(
        max_packet in 120usize..600,
        qs in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let want = reference(max_packet, 7);
        let mut packets = packets(max_packet, 7);
        let mut varied = std::collections::HashSet::new();
        for (i, p) in packets.iter_mut().enumerate() {
            // Fragments after the first: no tables ride there, Q names
            // nothing the frame uses.
            if fragment_offset(p) != 0 && p[MAIN + Q] != qs[i % qs.len()] {
                p[MAIN + Q] = qs[i % qs.len()];
                varied.insert(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
            }
        }
        let (got, stats) = run_with_stats(&packets);
        prop_assert_eq!(got, want);
        prop_assert_eq!(stats.frames_dropped_total(), 0);
        prop_assert_eq!(
            stats.tolerated.get(Tolerated::QChangedMidFrame),
            varied.len() as u64
        );
    }

    #[test]
    fn any_other_field_changing_mid_frame_drops_that_frame_as_inconsistent(
        max_packet in 120usize..600,
        frame_pick: prop::sample::Index,
        fragment_pick: prop::sample::Index,
        field in 0usize..4,
        value: u8,
    ) {
        let want = reference(max_packet, 99);
        let mut packets = packets(max_packet, 99);
        let timestamp = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        // A frame of two packets or more, and one of its later fragments.
        let multi: Vec<u32> = want
            .iter()
            .map(|(ts, _)| *ts)
            .filter(|&ts| packets.iter().filter(|p| timestamp(p) == ts).count() >= 2)
            .collect();
        prop_assume!(!multi.is_empty());
        let ts = multi[frame_pick.index(multi.len())];
        let later: Vec<usize> = (0..packets.len())
            .filter(|&i| timestamp(&packets[i]) == ts && fragment_offset(&packets[i]) != 0)
            .collect();
        let p = &mut packets[later[fragment_pick.index(later.len())]];
        let restart = p[MAIN + TYPE] >= 64;
        match (field, restart) {
            // 0 <-> 1, 64 <-> 65: a type the packet still parses as.
            (0, _) => p[MAIN + TYPE] ^= 1,
            (1, _) => p[MAIN + WIDTH] = p[MAIN + WIDTH].wrapping_add(value | 1),
            (2, _) => p[MAIN + HEIGHT] = p[MAIN + HEIGHT].wrapping_add(value | 1),
            // A non-zero interval other than the frame's (its low byte;
            // the corpus's intervals are below 256).
            (_, true) => {
                let old = p[MAIN + 8 + 1];
                let others: Vec<u8> = (1..=255).filter(|&v| v != old).collect();
                p[MAIN + 8 + 1] = others[usize::from(value) % others.len()];
            }
            (_, false) => p[MAIN + TYPE] ^= 1,
        }
        let (got, stats) = run_with_stats(&packets);
        let mut expected = want.clone();
        expected.retain(|(t, _)| *t != ts);
        prop_assert_eq!(got, expected);
        prop_assert_eq!(stats.frames_dropped.get(DropReason::Inconsistent), 1);
        prop_assert_eq!(stats.frames_dropped_total(), 1);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..50),
        rtp_like in any::<bool>(),
    ) {
        let mut rx = receiver();
        for (i, mut d) in datagrams.into_iter().enumerate() {
            if rtp_like && d.len() >= 2 {
                d[0] = 0x80 | (d[0] & 0x3F);
                if let Ok(mut header) = HeaderMut::new_checked(&mut d) {
                    header.set_payload_type(26);
                }
            }
            let _ = rx.push(Instant::from_millis(i as u64), &d);
            while let Some(f) = rx.next_frame() {
                prop_assert!(f.jpeg.starts_with(&[0xFF, 0xD8]));
                prop_assert!(f.jpeg.ends_with(&[0xFF, 0xD9]));
            }
        }
        rx.flush();
    }
}
