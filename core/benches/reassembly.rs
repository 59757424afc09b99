//! Reassembling a 1080p frame (~190 KB in ~140 packets) against a plain
//! copy of the same payload bytes, in the same run. The goal is at most 2x
//! the copy: everything the depacketizer does besides moving bytes (header
//! parsing, sequence window, range tracking, header rebuild) must be small.
//!
//! Run: `cargo bench -p mjpeg-rtp-core --bench reassembly`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mjpeg_rtp_core::rtp::{HeaderMut, RtpPacket};
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, Instant, Packetizer, PacketizerConfig,
};
use mjpeg_rtp_testkit::picture::Picture;
use mjpeg_rtp_testkit::rtp::frame_packets;
use std::hint::black_box;

/// jpeg-encoder quality at which the busy test picture lands near typical
/// camera sizes at 1080p (~190 KB).
const QUALITY: u8 = 31;

/// A 1920x1080 4:2:0 JPEG of roughly 190 KB.
fn jpeg_1080p() -> Vec<u8> {
    Picture {
        quality: QUALITY,
        ..Picture::new(1920, 1080)
    }
    .encode()
}

fn packets(jpeg: &[u8]) -> Vec<Vec<u8>> {
    let mut packetizer = Packetizer::new(PacketizerConfig {
        max_packet: 1400,
        ..PacketizerConfig::default()
    });
    frame_packets(&mut packetizer, jpeg, 0)
}

/// Restamp so that every iteration is a new frame (new timestamp, next
/// sequence numbers), as on a live stream.
fn restamp(packets: &mut [Vec<u8>], frame: u32) {
    let count = packets.len() as u32;
    for (i, p) in packets.iter_mut().enumerate() {
        let mut header = HeaderMut::new_checked(p).expect("RTP header");
        header.set_sequence((frame * count + i as u32) as u16);
        header.set_timestamp(frame * 3000);
    }
}

fn bench(c: &mut Criterion) {
    let jpeg = jpeg_1080p();
    let pkts = packets(&jpeg);
    let scan_bytes: usize = pkts
        .iter()
        .map(|p| RtpPacket::parse(p).unwrap().payload().len())
        .sum();
    eprintln!(
        "1080p frame: JPEG {} bytes, {} packets, {} payload bytes",
        jpeg.len(),
        pkts.len(),
        scan_bytes
    );

    let mut group = c.benchmark_group("1080p_frame");
    group.throughput(Throughput::Bytes(scan_bytes as u64));

    // Baseline: copy every packet's payload into one frame buffer, at
    // consecutive offsets — the unavoidable work of reassembly.
    let mut flat = vec![0u8; frame_buffer_len(1 << 20)];
    group.bench_function("copy_baseline", |b| {
        b.iter(|| {
            let mut at = 0;
            for p in &pkts {
                let payload = &p[20..];
                flat[at..at + payload.len()].copy_from_slice(payload);
                at += payload.len();
            }
            black_box(&flat);
        })
    });

    let mut rx: Depacketizer<Vec<u8>, 4> = Depacketizer::new(
        Config::default(),
        core::array::from_fn(|_| vec![0u8; frame_buffer_len(1 << 20)]),
    );
    reassemble(&mut group, "reassemble", &mut rx, &pkts);
    // As the std runtime builds it: 16 slots at compile time, 4 in use
    // (CameraConfig's default frames_in_flight); the unused buffers are
    // empty.
    let mut runtime_like: Depacketizer<Vec<u8>, 16> = Depacketizer::new(
        Config {
            frames_in_flight: 4,
            ..Config::default()
        },
        core::array::from_fn(|i| {
            if i < 4 {
                vec![0u8; frame_buffer_len(1 << 20)]
            } else {
                Vec::new()
            }
        }),
    );
    reassemble(
        &mut group,
        "reassemble_16_slots_4_in_flight",
        &mut runtime_like,
        &pkts,
    );
    group.finish();
    assert_eq!(rx.stats().frames_dropped_total(), 0);
    assert_eq!(runtime_like.stats().frames_dropped_total(), 0);
}

/// Each iteration is a new frame (next timestamp and sequence numbers);
/// restamping in place costs two small stores per packet, which the
/// measurement includes.
fn reassemble<const N: usize>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rx: &mut Depacketizer<Vec<u8>, N>,
    pkts: &[Vec<u8>],
) {
    let mut live = pkts.to_vec();
    let mut frame_no = 0u32;
    group.bench_function(name, |b| {
        b.iter(|| {
            frame_no += 1;
            restamp(&mut live, frame_no);
            let now = Instant::from_millis(u64::from(frame_no) * 33);
            for p in &live {
                let _ = rx.push(now, p);
            }
            let frame = rx.next_frame().expect("frame completes");
            black_box(frame.jpeg.len());
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
