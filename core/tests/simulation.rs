//! Deterministic simulation through the core: a seeded RNG, a virtual clock
//! and a scripted network (loss, reordering, duplication, delay, late
//! packets, stalls, SSRC changes) between a `Packetizer` and a
//! `Depacketizer`, over thousands of frames.
//!
//! The script decides every impairment up front (the testkit's impairment
//! model turns it into arrivals), so an independent model knows the exact
//! outcome of every frame and every packet: the test asserts each counter
//! of every stream exactly, and that every delivered JPEG is
//! byte-identical to the loss-free reassembly of the same frame.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::time::Duration;

use mjpeg_rtp_core::jpeg::JpegInfo;
use mjpeg_rtp_core::rtp::RtpPacket;
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, DropReason, Instant, Packetizer, PacketizerConfig,
    Sampling, StreamStats,
};
use mjpeg_rtp_testkit::impair::{self, Arrival, Impairment, Place};
use mjpeg_rtp_testkit::picture::Picture;
use mjpeg_rtp_testkit::rtp::frame_packets;
use mjpeg_rtp_testkit::Rng;

const SLOTS: usize = 4;
const MAX_SCAN: usize = 16 * 1024;
const REORDER_WINDOW: u16 = 32;
const MAX_FRAME_AGE: Duration = Duration::from_secs(2);
const SSRC_SILENCE: Duration = Duration::from_millis(500);
/// Frames at the end of each epoch kept clean, so that every impaired
/// frame has been dropped (and every straggler delivered) before the SSRC
/// changes or the stream ends.
const EPOCH_TAIL: usize = 20;
const FRAME_INTERVAL_US: u64 = 33_333;
const TS_PER_FRAME: u32 = 3000;

/// A pool of small, different JPEGs: sizes, 4:2:0 and 4:2:2, Annex K tables
/// (sent as Q 1..=99) and other tables (sent as Q 255 with tables), with and
/// without restart markers.
fn jpeg_pool() -> Vec<Vec<u8>> {
    (0..12u16)
        .map(|i| {
            let (w, h) = [(128, 96), (96, 64), (160, 64), (112, 112)][usize::from(i % 4)];
            Picture {
                sampling: if i % 2 == 0 {
                    Sampling::Yuv420
                } else {
                    Sampling::Yuv422
                },
                quality: 60 + (i as u8 % 4) * 10,
                annex_k_tables: i % 3 != 2,
                restart_interval: if i % 4 == 3 { 2 } else { 0 },
                seed: u32::from(i),
                ..Picture::new(w, h)
            }
            .encode()
        })
        .collect()
}

/// What the script does to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Every packet arrives (possibly reordered, duplicated, interleaved
    /// with the next frame): complete.
    Clean,
    /// Some but not all packets lost: dropped as lost.
    LoseSome,
    /// Every packet lost: never seen as a frame.
    LoseAll,
    /// One packet held back beyond the reordering window: the frame is
    /// dropped as lost, the straggler counted late.
    Late,
    /// The network stalls mid-frame beyond the maximum frame age: dropped
    /// as expired, the rest of its packets counted late.
    Stall,
    /// Some packets lost, then the sender changes SSRC: dropped as an SSRC
    /// change.
    LoseThenSsrcChange,
    /// First frame after an SSRC change with no silence before it, in
    /// order: its first packet is held until the second confirms the new
    /// SSRC (RFC 3550 probation), then fed to the new stream: complete.
    Probation,
}

/// Expected counters of one stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Expected {
    ssrc: u32,
    /// Extended sequence numbers received (each once).
    received: BTreeSet<u64>,
    duplicate: u64,
    late: u64,
    complete: u64,
    lost: u64,
    expired: u64,
    ssrc_change: u64,
}

impl Expected {
    fn packets_expected(&self) -> u64 {
        match (self.received.first(), self.received.last()) {
            (Some(lo), Some(hi)) => hi - lo + 1,
            _ => 0,
        }
    }

    fn check(&self, stats: &StreamStats) {
        let d = &stats.frames_dropped;
        let got = (
            stats.ssrc,
            stats.packets_received,
            stats.packets_expected(),
            stats.packets_lost(),
            stats.packets_duplicate,
            stats.packets_late,
            stats.frames_complete,
            d.get(DropReason::Lost),
            d.get(DropReason::Expired),
            d.get(DropReason::SsrcChange),
            d.total(),
        );
        let expected_packets = self.packets_expected();
        let want = (
            Some(self.ssrc),
            self.received.len() as u64,
            expected_packets,
            expected_packets - self.received.len() as u64,
            self.duplicate,
            self.late,
            self.complete,
            self.lost,
            self.expired,
            self.ssrc_change,
            self.lost + self.expired + self.ssrc_change,
        );
        assert_eq!(
            got, want,
            "stream {:#x}: (ssrc, received, expected, lost, duplicate, late, complete, \
             dropped lost, expired, ssrc_change, total dropped)",
            self.ssrc
        );
    }
}

/// One datagram as the sender sent it.
struct Sent {
    /// Index of its stream (sender epoch) in `Simulation::streams`.
    stream: usize,
    at: Duration,
    bytes: Vec<u8>,
}

/// One frame, packetized.
struct SentFrame {
    ssrc: u32,
    timestamp: u32,
    /// Indices of its packets in `Simulation::sent`.
    slots: Range<usize>,
    /// Loss-free reassembly: what a delivered frame must equal.
    reference: Vec<u8>,
    /// The original JPEG, for comparing scan data.
    original: usize,
}

fn reassemble_clean(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut rx: Depacketizer<Vec<u8>, 1> =
        Depacketizer::new(Config::default(), [vec![0; frame_buffer_len(MAX_SCAN)]]);
    for p in packets {
        let _ = rx.push(Instant::ZERO, p);
    }
    let frame = rx.next_frame().expect("a loss-free frame completes");
    frame.jpeg.to_vec()
}

/// Sequence extension as the receiver does it, for the model: extended
/// numbers per stream, starting one cycle up like the core (only
/// differences matter for the counters).
#[derive(Default)]
struct SeqExtender {
    highest: Option<u64>,
}

impl SeqExtender {
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.highest {
            None => (1 << 16) | u64::from(seq),
            Some(h) => {
                let cycle = h & !0xFFFF;
                let mut c = cycle | u64::from(seq);
                if c > h && c - h > 0x8000 {
                    c -= 0x1_0000;
                } else if c < h && h - c > 0x8000 {
                    c += 0x1_0000;
                }
                c
            }
        };
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        ext
    }
}

struct Simulation {
    rng: Rng,
    pool: Vec<Vec<u8>>,
    /// Every datagram in sending order; the script's indices point here.
    sent: Vec<Sent>,
    script: Vec<Impairment>,
    /// What the receiver gets: `schedule` of `sent` through `script`.
    arrivals: Vec<Arrival>,
    streams: Vec<Expected>,
    frames: HashMap<(u32, u32), SentFrame>,
    /// The sender's clock.
    now_us: u64,
    /// The slot after which the held-back packet of a `Late` frame arrives.
    straggler_until: Option<usize>,
}

impl Simulation {
    fn new(seed: u64) -> Self {
        Simulation {
            rng: Rng::new(seed),
            pool: jpeg_pool(),
            sent: Vec::new(),
            script: Vec::new(),
            arrivals: Vec::new(),
            streams: Vec::new(),
            frames: HashMap::new(),
            now_us: 1_000_000,
            straggler_until: None,
        }
    }

    /// Send one frame, its packets a small random gap apart.
    fn send(&mut self, packetizer: &mut Packetizer, ts: u32) -> SentFrame {
        let original = self.rng.below(self.pool.len());
        let packets = frame_packets(packetizer, &self.pool[original], ts);
        let ssrc = RtpPacket::parse(&packets[0]).expect("rtp").ssrc();
        let reference = reassemble_clean(&packets);
        let start = self.sent.len();
        let stream = self.streams.len() - 1;
        for bytes in packets {
            self.now_us += 50 + self.rng.below(1500) as u64;
            self.sent.push(Sent {
                stream,
                at: Duration::from_micros(self.now_us),
                bytes,
            });
        }
        SentFrame {
            ssrc,
            timestamp: ts,
            slots: start..self.sent.len(),
            reference,
            original,
        }
    }

    /// Script `frame_count` frames over several SSRCs, then work out what
    /// arrives and the counters it must produce.
    fn script(&mut self, frame_count: usize) {
        let mut frames_left = frame_count;
        while frames_left > 0 {
            // A new sender epoch: new SSRC, random sequence and timestamp
            // starts (some right before wrap-around), random packet size.
            let ssrc = self.rng.next_u64() as u32 | 1;
            let initial_sequence = if self.rng.chance(50) {
                0xFFFF - self.rng.below(200) as u16
            } else {
                self.rng.next_u64() as u16
            };
            let mut ts = if self.rng.chance(50) {
                u32::MAX - self.rng.below(100) as u32 * TS_PER_FRAME
            } else {
                self.rng.next_u64() as u32
            };
            let max_packet = 200 + self.rng.below(200);
            let mut packetizer = Packetizer::new(PacketizerConfig {
                ssrc,
                max_packet,
                initial_sequence,
                ..PacketizerConfig::default()
            });
            // An SSRC change either after a silence (immediate switch) or
            // straight on (probation: the new SSRC needs two consecutive
            // packets).
            let probation = !self.streams.is_empty() && self.rng.chance(50);
            if !self.streams.is_empty() && !probation {
                self.now_us += SSRC_SILENCE.as_micros() as u64 + 100_000;
            }
            self.streams.push(Expected {
                ssrc,
                ..Expected::default()
            });
            let epoch_len = (60 + self.rng.below(340)).min(frames_left);
            frames_left -= epoch_len;
            // Packets since the last impairment: a new one only once the
            // previous frame has certainly been dropped or finished.
            let mut calm = usize::MAX / 2;
            let mut pending: Option<SentFrame> = None;
            for i in 0..epoch_len {
                let last = i + 1 == epoch_len;
                self.now_us += FRAME_INTERVAL_US;
                let frame = self.send(&mut packetizer, ts);
                ts = ts.wrapping_add(TS_PER_FRAME);
                let straggler_out = self
                    .straggler_until
                    .is_none_or(|slot| slot < frame.slots.start);
                let quiet = calm > usize::from(REORDER_WINDOW) + 4
                    && straggler_out
                    && i + EPOCH_TAIL < epoch_len;
                let fate = if i == 0 && probation {
                    Fate::Probation
                } else if last && frames_left > 0 && pending.is_none() && self.rng.chance(50) {
                    Fate::LoseThenSsrcChange
                } else if !quiet || i == 0 || pending.is_some() {
                    Fate::Clean
                } else {
                    match self.rng.below(100) {
                        0..=69 => Fate::Clean,
                        70..=79 => Fate::LoseSome,
                        80..=84 => Fate::LoseAll,
                        85..=92 => Fate::Late,
                        _ => Fate::Stall,
                    }
                };
                calm = if fate == Fate::Clean {
                    calm + frame.slots.len()
                } else {
                    0
                };
                self.impair(frame, fate, &mut pending, last);
            }
            if let Some(p) = pending.take() {
                self.impair_clean(p, None);
            }
            assert!(
                self.straggler_until
                    .is_none_or(|slot| slot < self.sent.len()),
                "stragglers delivered in the epoch"
            );
        }
        let send_times: Vec<Duration> = self.sent.iter().map(|s| s.at).collect();
        self.arrivals = impair::schedule(&send_times, &self.script);
        self.count_arrivals();
    }

    /// The script for one frame, and the frame counters it implies.
    fn impair(
        &mut self,
        frame: SentFrame,
        fate: Fate,
        pending: &mut Option<SentFrame>,
        last: bool,
    ) {
        let stream = self.streams.len() - 1;
        let slots = frame.slots.clone();
        let n = slots.len();
        assert!(n >= 3, "pool frames span several packets");
        match fate {
            Fate::Clean => {
                // Interleave with the next clean frame now and then.
                if let Some(prev) = pending.take() {
                    self.impair_clean(prev, Some(frame));
                } else if !last && self.rng.chance(20) {
                    *pending = Some(frame);
                } else {
                    self.impair_clean(frame, None);
                }
                return;
            }
            Fate::LoseSome | Fate::LoseThenSsrcChange => {
                let lost = impair::lose_some(&mut self.rng, slots, 60);
                self.script.extend(lost);
                if fate == Fate::LoseSome {
                    self.streams[stream].lost += 1;
                } else {
                    self.streams[stream].ssrc_change += 1;
                }
            }
            Fate::LoseAll => self.script.extend(slots.map(Impairment::Lose)),
            Fate::Probation => self.streams[stream].complete += 1,
            Fate::Late => {
                let victim = slots.start + self.rng.below(n);
                // Arrives once the window has moved past the whole frame.
                let until = slots.end - 1 + usize::from(REORDER_WINDOW) + 2;
                self.script
                    .push(Impairment::Reorder(victim, Place::After(until)));
                self.straggler_until = Some(until);
                self.streams[stream].lost += 1;
                self.streams[stream].late += 1;
            }
            Fate::Stall => {
                let split = 1 + self.rng.below(n - 1);
                self.script.push(Impairment::Stall(
                    slots.start + split,
                    MAX_FRAME_AGE + Duration::from_millis(1),
                ));
                self.streams[stream].expired += 1;
                self.streams[stream].late += (n - split) as u64;
            }
        }
        self.frames.insert((frame.ssrc, frame.timestamp), frame);
    }

    /// A frame that arrives complete (optionally interleaved with the next
    /// one), reordered within the frame and with a few duplicates.
    fn impair_clean(&mut self, frame: SentFrame, next: Option<SentFrame>) {
        let stream = self.streams.len() - 1;
        let span = frame.slots.start..next.as_ref().map_or(frame.slots.end, |n| n.slots.end);
        // A straggler waits for this span's slot: everything here arrives
        // in turn, so that when it comes the window has certainly moved
        // past its frame.
        let in_turn = self
            .straggler_until
            .is_some_and(|slot| span.contains(&slot));
        if let Some(next) = next.as_ref().filter(|_| !in_turn) {
            // The next frame's first packets overtake this frame's last.
            // Within the window: never more than half of it.
            let most = (next.slots.len() - 1).min(usize::from(REORDER_WINDOW) / 2);
            let overtake = 1 + self.rng.below(most);
            let marker = frame.slots.end - 1;
            self.script.push(Impairment::Reorder(
                marker,
                Place::After(next.slots.start + overtake - 1),
            ));
        }
        if !in_turn && self.rng.chance(30) {
            // Local reordering (well inside the window).
            let count = 1 + self.rng.below(4);
            let swaps = impair::swap_neighbours(&mut self.rng, span.clone(), count);
            self.script.extend(swaps);
        }
        if self.rng.chance(25) {
            let count = 1 + self.rng.below(3);
            let copies = impair::duplicate_nearby(&mut self.rng, span.clone(), count, 4);
            self.script.extend(copies);
        }
        if self.rng.chance(10) {
            // The whole frame again, shuffled, much later would be late;
            // a copy right after the frame is just a duplicate.
            self.script.push(Impairment::Duplicate(
                span.start,
                Place::After(span.end - 1),
            ));
        }
        self.streams[stream].complete += 1;
        self.frames.insert((frame.ssrc, frame.timestamp), frame);
        if let Some(next) = next {
            self.streams[stream].complete += 1;
            self.frames.insert((next.ssrc, next.timestamp), next);
        }
    }

    /// The packet counters, from what arrives: each extended sequence
    /// number is received once, every further copy is a duplicate (the
    /// first datagram of a stream on probation is held, then received
    /// like the others).
    fn count_arrivals(&mut self) {
        let mut current: Option<(usize, SeqExtender)> = None;
        for arrival in &self.arrivals {
            let sent = &self.sent[arrival.sent];
            let stream = &mut self.streams[sent.stream];
            if current.as_ref().is_none_or(|(s, _)| *s != sent.stream) {
                assert!(
                    current.as_ref().is_none_or(|(s, _)| *s < sent.stream),
                    "streams arrive one after the other"
                );
                current = Some((sent.stream, SeqExtender::default()));
            }
            let ext = &mut current.as_mut().expect("a stream").1;
            let seq = RtpPacket::parse(&sent.bytes).expect("rtp").sequence();
            if !stream.received.insert(ext.extend(seq)) {
                stream.duplicate += 1;
            }
        }
    }
}

fn run(seed: u64, frame_count: usize) -> [u64; 7] {
    let mut sim = Simulation::new(seed);
    sim.script(frame_count);
    let config = Config {
        ssrc_silence: SSRC_SILENCE,
        reorder_window: REORDER_WINDOW,
        max_frame_age: MAX_FRAME_AGE,
        ..Config::default()
    };
    let buffers: [Vec<u8>; SLOTS] = std::array::from_fn(|_| vec![0; frame_buffer_len(MAX_SCAN)]);
    let mut rx: Depacketizer<Vec<u8>, SLOTS> = Depacketizer::new(config, buffers);
    let mut retired = Vec::new();
    let mut delivered: HashMap<u32, u64> = HashMap::new();
    let mut seen = BTreeSet::new();
    for arrival in &sim.arrivals {
        let now = Instant::from_micros(arrival.at.as_micros() as u64);
        let _ = rx.push(now, &sim.sent[arrival.sent].bytes);
        if let Some(old) = rx.take_retired_stream() {
            retired.push(old);
        }
        if rx.poll_timeout().is_some_and(|t| t <= now) {
            rx.handle_timeout(now);
        }
        while let Some(frame) = rx.next_frame() {
            let key = (frame.info.ssrc, frame.info.timestamp);
            let sent = sim
                .frames
                .get(&key)
                .unwrap_or_else(|| panic!("seed {seed}: frame {key:x?} was never sent"));
            assert!(
                seen.insert(key),
                "seed {seed}: frame {key:x?} delivered twice"
            );
            assert!(
                frame.jpeg == sent.reference.as_slice(),
                "seed {seed}: frame {key:x?} differs from its loss-free reassembly"
            );
            let original = JpegInfo::parse(&sim.pool[sent.original]).expect("original");
            let rebuilt = JpegInfo::parse(frame.jpeg).expect("rebuilt");
            assert_eq!(rebuilt.scan, original.scan, "seed {seed}: scan data");
            assert_eq!(
                (rebuilt.width, rebuilt.height),
                (original.width, original.height)
            );
            *delivered.entry(frame.info.ssrc).or_default() += 1;
        }
    }
    rx.flush();
    assert!(rx.next_frame().is_none());
    retired.push(rx.stats());
    assert_eq!(retired.len(), sim.streams.len(), "seed {seed}: streams");
    for (stats, model) in retired.iter().zip(&sim.streams) {
        model.check(stats);
        assert_eq!(
            delivered.get(&model.ssrc).copied().unwrap_or(0),
            model.complete,
            "seed {seed}: frames handed out for {:#x}",
            model.ssrc
        );
    }
    // Every new SSRC was confirmed: its held first datagram went to its
    // stream, none was refused.
    assert_eq!(rx.invalid().total(), 0, "seed {seed}: {:?}", rx.invalid());
    let sum = |f: fn(&Expected) -> u64| sim.streams.iter().map(f).sum::<u64>();
    let totals = [
        sum(|s| s.complete),
        sum(|s| s.lost),
        sum(|s| s.expired),
        sum(|s| s.ssrc_change),
        sum(|s| s.duplicate),
        sum(|s| s.late),
        sum(|s| s.packets_expected() - s.received.len() as u64),
    ];
    eprintln!(
        "seed {seed}: {} streams, {} datagrams; complete, lost, expired, ssrc_change, \
         duplicate, late, packets lost: {totals:?}",
        sim.streams.len(),
        sim.arrivals.len()
    );
    assert!(
        totals[0] as usize > frame_count / 2,
        "seed {seed}: too few complete frames"
    );
    totals
}

#[test]
fn simulation_long_run() {
    let totals = run(1, 10_000);
    // The script exercised every impairment.
    assert!(totals.iter().all(|&n| n > 0), "{totals:?}");
}

/// Many more seeds: 200 x 1000 frames in an optimized build (CI runs the
/// tests with --release, a few seconds), 20 in a debug build so that a
/// plain `cargo test` stays quick. SIM_SOAK_SEEDS=n runs n seeds.
#[test]
fn simulation_soak() {
    let default_seeds = if cfg!(debug_assertions) { 20 } else { 200 };
    let seeds: u64 = std::env::var("SIM_SOAK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seeds);
    for seed in 1000..1000 + seeds {
        run(seed, 1000);
    }
}

#[test]
fn simulation_many_seeds() {
    for seed in 2..22 {
        run(seed, 500);
    }
}

/// Regression (found by fuzz/reassembly): a complete frame not yet taken
/// when the SSRC changes must keep its own SSRC, and the new stream's frame
/// with the same RTP timestamp must not be refused as late.
#[test]
fn complete_frame_survives_ssrc_change() {
    let pool = jpeg_pool();
    let packets = |ssrc: u32| {
        let mut p = Packetizer::new(PacketizerConfig {
            ssrc,
            ..PacketizerConfig::default()
        });
        frame_packets(&mut p, &pool[0], 1234)
    };
    let buffers: [Vec<u8>; 2] = std::array::from_fn(|_| vec![0; frame_buffer_len(MAX_SCAN)]);
    let mut rx: Depacketizer<Vec<u8>, 2> = Depacketizer::new(Config::default(), buffers);
    for p in packets(0xAAAA) {
        let _ = rx.push(Instant::ZERO, &p);
    }
    // Not drained: the new stream arrives first.
    // After a silence, so the new SSRC takes over at once.
    for p in packets(0xBBBB) {
        let _ = rx.push(Instant::from_millis(600), &p);
    }
    let first = rx.next_frame().expect("old stream's frame").info;
    assert_eq!((first.ssrc, first.timestamp), (0xAAAA, 1234));
    let second = rx.next_frame().expect("new stream's frame").info;
    assert_eq!((second.ssrc, second.timestamp), (0xBBBB, 1234));
}

/// Regression: with every slot busy, a straggler of a frame older than all
/// frames in flight used to evict the oldest of them, a healthy frame, for
/// a frame that could no longer complete. It is now refused as late.
#[test]
fn old_straggler_does_not_evict_newer_frame() {
    let pool = jpeg_pool();
    let mut packetizer = Packetizer::new(PacketizerConfig {
        max_packet: 300,
        ..PacketizerConfig::default()
    });
    let frames: Vec<Vec<Vec<u8>>> = [1000u32, 4000, 7000]
        .iter()
        .map(|&ts| frame_packets(&mut packetizer, &pool[1], ts))
        .collect();
    let buffers: [Vec<u8>; 2] = std::array::from_fn(|_| vec![0; frame_buffer_len(MAX_SCAN)]);
    let mut rx: Depacketizer<Vec<u8>, 2> = Depacketizer::new(Config::default(), buffers);
    // Frames 2 and 3 interleaved; the only surviving packet of frame 1
    // arrives between them.
    let _ = rx.push(Instant::ZERO, &frames[1][0]);
    let _ = rx.push(Instant::ZERO, &frames[2][0]);
    let verdict = rx.push(Instant::ZERO, &frames[0][1]);
    assert_eq!(verdict, mjpeg_rtp_core::Verdict::Late);
    for p in frames[1][1..].iter().chain(&frames[2][1..]) {
        let _ = rx.push(Instant::ZERO, p);
    }
    let mut delivered = Vec::new();
    while let Some(f) = rx.next_frame() {
        delivered.push(f.info.timestamp);
    }
    assert_eq!(delivered, [4000, 7000]);
    assert_eq!(rx.stats().frames_dropped.total(), 0);
    assert_eq!(rx.stats().packets_late, 1);
}
