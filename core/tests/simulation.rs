//! Deterministic simulation through the core: a seeded RNG, a virtual clock
//! and a scripted network (loss, reordering, duplication, delay, late
//! packets, stalls, SSRC changes) between a `Packetizer` and a
//! `Depacketizer`, over thousands of frames.
//!
//! The script decides every impairment up front, so an independent model
//! knows the exact outcome of every frame and every packet: the test
//! asserts each counter of every stream exactly, and that every delivered
//! JPEG is byte-identical to the loss-free reassembly of the same frame.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use jpeg_encoder::{ColorType, Encoder, QuantizationTableType, SamplingFactor};
use mjpeg_rtp_core::jpeg::JpegInfo;
use mjpeg_rtp_core::rtp::RtpPacket;
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, DropReason, Instant, InvalidReason, Packetizer,
    PacketizerConfig, StreamStats,
};

/// xorshift64*: tiny, seeded, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

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
    let mut rng = Rng::new(7);
    let mut pool = Vec::new();
    for i in 0..12u16 {
        let (w, h) = [(128, 96), (96, 64), (160, 64), (112, 112)][usize::from(i % 4)];
        let mut rgb = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
        for y in 0..h {
            for x in 0..w {
                let n = (rng.next() & 0x3F) as u8;
                rgb.extend_from_slice(&[
                    (x * 4 + i * 20) as u8 ^ n,
                    (y * 5) as u8,
                    if (x / 8 + y / 8) % 2 == 0 { 220 } else { 30 } ^ n,
                ]);
            }
        }
        let mut out = Vec::new();
        let mut enc = Encoder::new(&mut out, 60 + (i as u8 % 4) * 10);
        enc.set_sampling_factor(if i % 2 == 0 {
            SamplingFactor::F_2_2
        } else {
            SamplingFactor::F_2_1
        });
        if i % 3 == 2 {
            enc.set_quantization_tables(
                QuantizationTableType::ImageMagick,
                QuantizationTableType::ImageMagick,
            );
        }
        if i % 4 == 3 {
            enc.set_restart_interval(2);
        }
        enc.encode(&rgb, w, h, ColorType::Rgb).expect("encode");
        pool.push(out);
    }
    pool
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
    /// The clock stalls mid-frame beyond the maximum frame age: dropped as
    /// expired, the rest of its packets counted late.
    Stall,
    /// Some packets lost, then the sender changes SSRC: dropped as an SSRC
    /// change.
    LoseThenSsrcChange,
    /// First frame after an SSRC change with no silence before it: in
    /// order, but its first packet is refused (`ssrc_unconfirmed`, RFC 3550
    /// probation) and the frame is dropped as lost in the new stream.
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

/// One datagram on the wire, in arrival order.
struct Arrival {
    at: Instant,
    bytes: Vec<u8>,
}

/// Frames of one sender epoch (one SSRC), packetized.
struct SentFrame {
    ssrc: u32,
    timestamp: u32,
    packets: Vec<Vec<u8>>,
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
struct SeqExtender {
    highest: Option<u64>,
}

impl SeqExtender {
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = self.peek(seq);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        ext
    }

    fn peek(&self, seq: u16) -> u64 {
        match self.highest {
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
        }
    }
}

struct Simulation {
    rng: Rng,
    pool: Vec<Vec<u8>>,
    arrivals: Vec<Arrival>,
    streams: Vec<Expected>,
    frames: HashMap<(u32, u32), SentFrame>,
    now_us: u64,
    /// Packets held back: delivered right after the first packet whose
    /// extended sequence reaches the given value.
    held: Vec<(u64, Vec<u8>)>,
    ext: SeqExtender,
    /// The next datagram is the first of a new SSRC with no silence before
    /// it: refused until the following one confirms the SSRC.
    probation: bool,
    unconfirmed: u64,
}

impl Simulation {
    fn new(seed: u64) -> Self {
        Simulation {
            rng: Rng::new(seed),
            pool: jpeg_pool(),
            arrivals: Vec::new(),
            streams: Vec::new(),
            frames: HashMap::new(),
            now_us: 1_000_000,
            held: Vec::new(),
            ext: SeqExtender { highest: None },
            probation: false,
            unconfirmed: 0,
        }
    }

    /// Put one datagram on the wire: a small random delay after the
    /// previous one, and any held-back packet whose time has come.
    fn deliver(&mut self, bytes: Vec<u8>) {
        self.now_us += 50 + self.rng.below(1500) as u64;
        if std::mem::take(&mut self.probation) {
            self.unconfirmed += 1;
            self.arrivals.push(Arrival {
                at: Instant::from_micros(self.now_us),
                bytes,
            });
            return;
        }
        let seq = RtpPacket::parse(&bytes).expect("rtp").sequence();
        let ext = self.ext.extend(seq);
        let stream = self.streams.last_mut().expect("stream");
        if !stream.received.insert(ext) {
            stream.duplicate += 1;
        }
        self.arrivals.push(Arrival {
            at: Instant::from_micros(self.now_us),
            bytes,
        });
        let mut due = Vec::new();
        self.held.retain_mut(|(release, packet)| {
            if ext >= *release {
                due.push(std::mem::take(packet));
                false
            } else {
                true
            }
        });
        for p in due {
            self.deliver(p);
        }
    }

    fn packetize(&mut self, packetizer: &mut Packetizer, max_packet: usize, ts: u32) -> SentFrame {
        let original = self.rng.below(self.pool.len());
        let jpeg = &self.pool[original];
        let mut fp = packetizer.frame(jpeg, ts).expect("packetize");
        let mut packets = Vec::new();
        let mut buf = vec![0u8; max_packet];
        while let Some(n) = fp.next_into(&mut buf) {
            packets.push(buf[..n.expect("fits")].to_vec());
        }
        let ssrc = RtpPacket::parse(&packets[0]).expect("rtp").ssrc();
        let reference = reassemble_clean(&packets);
        SentFrame {
            ssrc,
            timestamp: ts,
            packets,
            reference,
            original,
        }
    }

    /// Script `frame_count` frames over `epochs` SSRCs.
    fn script(&mut self, frame_count: usize) {
        let mut frames_left = frame_count;
        while frames_left > 0 {
            // A new sender epoch: new SSRC, random sequence and timestamp
            // starts (some right before wrap-around), random packet size.
            let ssrc = self.rng.next() as u32 | 1;
            let initial_sequence = if self.rng.chance(50) {
                0xFFFF - self.rng.below(200) as u16
            } else {
                self.rng.next() as u16
            };
            let mut ts = if self.rng.chance(50) {
                u32::MAX - self.rng.below(100) as u32 * TS_PER_FRAME
            } else {
                self.rng.next() as u32
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
            self.ext = SeqExtender { highest: None };
            let epoch_len = (60 + self.rng.below(340)).min(frames_left);
            frames_left -= epoch_len;
            // Packets since the last impairment: a new one only once the
            // previous frame has certainly been dropped or finished.
            let mut calm = usize::MAX / 2;
            let mut pending: Option<SentFrame> = None;
            for i in 0..epoch_len {
                let last = i + 1 == epoch_len;
                let frame = self.packetize(&mut packetizer, max_packet, ts);
                ts = ts.wrapping_add(TS_PER_FRAME);
                let quiet = calm > usize::from(REORDER_WINDOW) + 4
                    && self.held.is_empty()
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
                    calm + frame.packets.len()
                } else {
                    0
                };
                self.now_us += FRAME_INTERVAL_US;
                self.send_frame(frame, fate, &mut pending, last);
            }
            if let Some(p) = pending.take() {
                self.send_clean(p, None);
            }
            assert!(self.held.is_empty(), "stragglers delivered in the epoch");
        }
    }

    fn send_frame(
        &mut self,
        frame: SentFrame,
        fate: Fate,
        pending: &mut Option<SentFrame>,
        last: bool,
    ) {
        let stream = self.streams.len() - 1;
        let n = frame.packets.len();
        assert!(n >= 3, "pool frames span several packets");
        match fate {
            Fate::Clean => {
                // Interleave with the next clean frame now and then.
                if let Some(prev) = pending.take() {
                    self.send_clean(prev, Some(frame));
                } else if !last && self.rng.chance(20) {
                    *pending = Some(frame);
                } else {
                    self.send_clean(frame, None);
                }
                return;
            }
            Fate::LoseSome | Fate::LoseThenSsrcChange => {
                let mut keep: Vec<bool> = (0..n).map(|i| i < 1).collect();
                self.rng.shuffle(&mut keep);
                // Keep at least one, lose at least one, the rest at random.
                for k in keep.iter_mut() {
                    if !*k && self.rng.chance(40) {
                        *k = true;
                    }
                }
                if keep.iter().all(|&k| k) {
                    keep[self.rng.below(n)] = false;
                }
                if !keep.iter().any(|&k| k) {
                    keep[0] = true;
                }
                for (p, k) in frame.packets.iter().zip(keep) {
                    if k {
                        self.deliver(p.clone());
                    }
                }
                if fate == Fate::LoseSome {
                    self.streams[stream].lost += 1;
                } else {
                    self.streams[stream].ssrc_change += 1;
                }
            }
            Fate::LoseAll => {}
            Fate::Probation => {
                self.probation = true;
                for p in &frame.packets {
                    self.deliver(p.clone());
                }
                self.streams[stream].lost += 1;
            }
            Fate::Late => {
                let victim = self.rng.below(n);
                let mut packets = frame.packets.clone();
                let straggler = packets.remove(victim);
                let last_seq = RtpPacket::parse(&frame.packets[n - 1])
                    .expect("rtp")
                    .sequence();
                // Arrives once the window has moved past the whole frame.
                let release = self.ext.peek(last_seq) + u64::from(REORDER_WINDOW) + 2;
                for p in packets {
                    self.deliver(p);
                }
                self.held.push((release, straggler));
                self.streams[stream].lost += 1;
                self.streams[stream].late += 1;
            }
            Fate::Stall => {
                let split = 1 + self.rng.below(n - 1);
                for p in &frame.packets[..split] {
                    self.deliver(p.clone());
                }
                self.now_us += MAX_FRAME_AGE.as_micros() as u64 + 1_000;
                for p in &frame.packets[split..] {
                    self.deliver(p.clone());
                }
                self.streams[stream].expired += 1;
                self.streams[stream].late += (n - split) as u64;
            }
        }
        self.frames.insert((frame.ssrc, frame.timestamp), frame);
    }

    /// Deliver a complete frame (optionally interleaved with the next one),
    /// reordered within the frame and with a few duplicates.
    fn send_clean(&mut self, frame: SentFrame, next: Option<SentFrame>) {
        let stream = self.streams.len() - 1;
        let mut order: Vec<Vec<u8>> = frame.packets.clone();
        if let Some(next) = &next {
            // The next frame's first packets overtake this frame's last.
            // Within the window: never more than half of it.
            let most = (next.packets.len() - 1).min(usize::from(REORDER_WINDOW) / 2);
            let overtake = 1 + self.rng.below(most);
            let mut tail = order.split_off(order.len() - 1);
            order.extend(next.packets[..overtake].iter().cloned());
            order.append(&mut tail);
            order.extend(next.packets[overtake..].iter().cloned());
        }
        if self.rng.chance(30) {
            // Local reordering: swap a few neighbours (well inside the
            // window).
            for _ in 0..1 + self.rng.below(4) {
                let i = self.rng.below(order.len() - 1);
                order.swap(i, i + 1);
            }
        }
        if self.rng.chance(25) {
            for _ in 0..1 + self.rng.below(3) {
                let i = self.rng.below(order.len());
                let copy = order[i].clone();
                let at = (i + 1 + self.rng.below(5)).min(order.len());
                order.insert(at, copy);
            }
        }
        if self.rng.chance(10) {
            // The whole frame again, shuffled, much later would be late;
            // a burst of exact duplicates right away is just duplicates.
            let copy = order[0].clone();
            order.push(copy);
        }
        for p in order {
            self.deliver(p);
        }
        self.streams[stream].complete += 1;
        self.frames.insert((frame.ssrc, frame.timestamp), frame);
        if let Some(next) = next {
            self.streams[stream].complete += 1;
            self.frames.insert((next.ssrc, next.timestamp), next);
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
        let _ = rx.push(arrival.at, &arrival.bytes);
        if let Some(old) = rx.take_retired_stream() {
            retired.push(old);
        }
        if rx.poll_timeout().is_some_and(|t| t <= arrival.at) {
            rx.handle_timeout(arrival.at);
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
    let unconfirmed = rx.invalid().get(InvalidReason::SsrcUnconfirmed);
    assert_eq!(
        unconfirmed, sim.unconfirmed,
        "seed {seed}: ssrc_unconfirmed"
    );
    assert_eq!(
        rx.invalid().total(),
        unconfirmed,
        "seed {seed}: {:?}",
        rx.invalid()
    );
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
        let mut fp = p.frame(&pool[0], 1234).expect("packetize");
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1400];
        while let Some(n) = fp.next_into(&mut buf) {
            out.push(buf[..n.expect("fits")].to_vec());
        }
        out
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
        .map(|&ts| {
            let mut fp = packetizer.frame(&pool[1], ts).expect("packetize");
            let mut out = Vec::new();
            let mut buf = vec![0u8; 300];
            while let Some(n) = fp.next_into(&mut buf) {
                out.push(buf[..n.expect("fits")].to_vec());
            }
            out
        })
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
