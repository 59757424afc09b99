//! Properties over random streams: reordering within the window never
//! changes what comes out; loss never yields a frame with a missing byte;
//! arbitrary bytes never panic.

use mjpeg_rtp_core::rtp::HeaderMut;
use mjpeg_rtp_core::{frame_buffer_len, Config, Depacketizer, Instant, PacketizerConfig, Sampling};
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
    let mut rx = receiver();
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        while let Some(f) = rx.next_frame() {
            out.push((f.info.timestamp, digest(f.jpeg)));
        }
    }
    out.sort_by_key(|(ts, _)| *ts);
    out
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
