//! The depacketizer driven by arbitrary sequences of operations: packets
//! built from fuzzed fields (mostly well-formed, so that frames complete),
//! raw and corrupted datagrams, clock steps, timeouts, draining and flushes.
//!
//! Oracles: no panic; every frame handed out is SOI .. EOI with headers that
//! parse back; its scan bytes are exactly what the structured packets of
//! that (SSRC, timestamp) carried, with no byte that was never sent.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_core::jpeg::{JpegError, JpegInfo, Segments};
use mjpeg_rtp_core::{frame_buffer_len, validate, Config, Depacketizer, Instant};

const MAX_SCAN: usize = 2048;
const BUF: usize = frame_buffer_len(MAX_SCAN);
const SLOTS: usize = 4;
const SSRCS: [u32; 3] = [0x1122_3344, 0xDEAD_BEEF, 0];

#[derive(Debug, Arbitrary)]
enum SeqChoice {
    Next,
    Delta(i8),
    Abs(u16),
}

#[derive(Debug, Arbitrary)]
enum TsChoice {
    Same,
    NextFrame,
    Delta(i16),
    Abs(u32),
}

#[derive(Debug, Arbitrary)]
struct PacketFields {
    seq: SeqChoice,
    ts: TsChoice,
    ssrc: u8,
    marker: bool,
    /// Taken modulo a little more than the frame buffer holds.
    offset: u16,
    jpeg_type: u8,
    q: u8,
    width: u8,
    height: u8,
    restart_interval: u16,
    restart_flags: u16,
    quant_precision: u8,
    quant_len: u8,
    quant_fill: u8,
    data_len: u16,
    onvif: Option<(u16, u16)>,
    padding: u8,
    payload_type: bool,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Packet(PacketFields),
    /// A structured packet with one byte replaced.
    Corrupt(PacketFields, u16, u8),
    Raw(Vec<u8>),
    Advance(u16),
    Timeout,
    Next,
    Take,
    Flush,
}

#[derive(Debug, Arbitrary)]
struct Input {
    reorder_window: u16,
    max_frame_age_ms: u16,
    frames_in_flight: u8,
    fallback: Option<(u16, u16)>,
    max_dim: u16,
    ops: Vec<Op>,
}

/// The byte a structured packet carries at `offset` of frame (ssrc, ts).
fn scan_byte(ssrc: u32, ts: u32, offset: usize) -> u8 {
    let mut x = u64::from(ssrc) ^ (u64::from(ts) << 17) ^ (offset as u64).wrapping_mul(0x9E37_79B9);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x >> 32) as u8
}

struct Sender {
    seq: u16,
    ts: u32,
}

/// Byte coverage of each (ssrc, ts) by structured, uncorrupted packets;
/// keys touched by raw or corrupted datagrams are not checked.
#[derive(Default)]
struct Model {
    sent: HashMap<(u32, u32), Vec<bool>>,
    tainted: std::collections::HashSet<(u32, u32)>,
}

fn build(s: &mut Sender, f: &PacketFields, out: &mut Vec<u8>) -> (u32, u32, usize, usize) {
    s.seq = match f.seq {
        SeqChoice::Next => s.seq.wrapping_add(1),
        SeqChoice::Delta(d) => s.seq.wrapping_add(d as u16),
        SeqChoice::Abs(v) => v,
    };
    s.ts = match f.ts {
        TsChoice::Same => s.ts,
        TsChoice::NextFrame => s.ts.wrapping_add(3000),
        TsChoice::Delta(d) => s.ts.wrapping_add(d as i32 as u32),
        TsChoice::Abs(v) => v,
    };
    let ssrc = SSRCS[usize::from(f.ssrc) % SSRCS.len()];
    let offset = usize::from(f.offset) % (MAX_SCAN + 256);
    let jpeg_type = match f.jpeg_type % 8 {
        0 => 0,
        1 => 1,
        2 => 64,
        3 => 65,
        4 | 5 => f.jpeg_type % 2, // favour the common types
        _ => f.jpeg_type,
    };
    let data_len = usize::from(f.data_len) % 1500;
    out.clear();
    let has_padding = f.padding != 0;
    let has_ext = f.onvif.is_some();
    out.push(0x80 | if has_padding { 0x20 } else { 0 } | if has_ext { 0x10 } else { 0 });
    let pt = if f.payload_type { 26 } else { 96 };
    out.push(pt | if f.marker { 0x80 } else { 0 });
    out.extend_from_slice(&s.seq.to_be_bytes());
    out.extend_from_slice(&s.ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some((w, h)) = f.onvif {
        // ONVIF: an SOF0 segment padded to whole words.
        out.extend_from_slice(&[0xFF, 0xD8, 0, 5]);
        let [h1, h2] = h.to_be_bytes();
        let [w1, w2] = w.to_be_bytes();
        out.extend_from_slice(&[
            0xFF, 0xC0, 0, 17, 8, h1, h2, w1, w2, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0,
        ]);
    }
    let [_, o1, o2, o3] = (offset as u32).to_be_bytes();
    out.extend_from_slice(&[0, o1, o2, o3, jpeg_type, f.q, f.width, f.height]);
    if (64..128).contains(&jpeg_type) {
        out.extend_from_slice(&f.restart_interval.to_be_bytes());
        out.extend_from_slice(&f.restart_flags.to_be_bytes());
    }
    if f.q >= 128 && offset == 0 {
        let len: usize = match f.quant_len % 6 {
            0 => 0,
            1 => 64,
            2 | 3 => 128,
            4 => 192,
            _ => usize::from(f.quant_len),
        };
        out.extend_from_slice(&[0, f.quant_precision & 0x0F]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend((0..len).map(|i| f.quant_fill.wrapping_add(i as u8) | 1));
    }
    out.extend((offset..offset + data_len).map(|i| scan_byte(ssrc, s.ts, i)));
    if has_padding {
        let pad = f.padding % 8 + 1;
        out.extend(std::iter::repeat(0).take(usize::from(pad) - 1));
        out.push(pad);
    }
    (ssrc, s.ts, offset, data_len)
}

fn check_frame(model: &Model, ssrc: u32, ts: u32, width: u16, height: u16, jpeg: &[u8]) {
    assert!(jpeg.len() >= 4, "frame too short");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "frame does not start with SOI");
    assert_eq!(
        &jpeg[jpeg.len() - 2..],
        &[0xFF, 0xD9],
        "frame does not end with EOI"
    );
    match JpegInfo::parse(jpeg) {
        Ok(info) => assert_eq!((info.width, info.height), (width, height)),
        // Scan data that is only an EOI leaves nothing after stripping it.
        Err(JpegError::MissingScan) => {}
        Err(e) => panic!("rebuilt headers do not parse: {e:?}"),
    }
    assert!(width != 0 && height != 0);
    let mut segments = Segments::new(&jpeg[2..]);
    for s in segments.by_ref() {
        s.expect("rebuilt segment");
    }
    let scan = &jpeg[2 + segments.position()..];
    let data = &scan[..scan.len() - 2];
    let key = (ssrc, ts);
    if model.tainted.contains(&key) {
        return;
    }
    let sent = model.sent.get(&key).expect("a frame nobody sent");
    for (i, &b) in data.iter().enumerate() {
        assert!(
            sent.get(i).copied().unwrap_or(false),
            "byte {i} of {key:x?} never sent"
        );
        assert_eq!(b, scan_byte(ssrc, ts, i), "byte {i} of {key:x?} corrupt");
    }
    // The last two bytes are the EOI: the sender's own (sent and covered,
    // since a frame completes only without holes) or the appended one.
}

fuzz_target!(|input: Input| {
    let config = Config {
        dynamic_payload_type: Some(96),
        fallback_size: input.fallback,
        max_width: input.max_dim.max(8),
        max_height: input.max_dim.max(8),
        max_frame_age: std::time::Duration::from_millis(u64::from(input.max_frame_age_ms)),
        reorder_window: input.reorder_window % 600,
        frames_in_flight: usize::from(input.frames_in_flight % 6),
        ..Config::default()
    };
    let mut rx: Depacketizer<[u8; BUF], SLOTS> = Depacketizer::new(config, [[0u8; BUF]; SLOTS]);
    let mut model = Model::default();
    let mut sender = Sender { seq: 0, ts: 0 };
    let mut now = 0u64;
    let mut packet = Vec::with_capacity(4096);
    let mut handed_out = 0u64;
    let mut completed_retired = 0u64;
    for op in input.ops.iter().take(512) {
        match op {
            Op::Packet(f) => {
                let (ssrc, ts, offset, len) = build(&mut sender, f, &mut packet);
                let sent = model.sent.entry((ssrc, ts)).or_default();
                if sent.len() < offset + len {
                    sent.resize(offset + len, false);
                }
                sent[offset..offset + len].fill(true);
                let _ = rx.push(Instant::from_millis(now), &packet);
            }
            Op::Corrupt(f, at, byte) => {
                let (ssrc, ts, _, _) = build(&mut sender, f, &mut packet);
                let at = usize::from(*at) % packet.len();
                packet[at] = *byte;
                if let Ok((rtp, _)) = validate(&packet, Some(96)) {
                    model.tainted.insert((rtp.ssrc(), rtp.timestamp()));
                }
                model.tainted.insert((ssrc, ts));
                let _ = rx.push(Instant::from_millis(now), &packet);
            }
            Op::Raw(bytes) => {
                if let Ok((rtp, _)) = validate(bytes, Some(96)) {
                    model.tainted.insert((rtp.ssrc(), rtp.timestamp()));
                }
                let _ = rx.push(Instant::from_millis(now), bytes);
            }
            Op::Advance(ms) => now += u64::from(*ms),
            Op::Timeout => rx.handle_timeout(Instant::from_millis(now)),
            Op::Flush => rx.flush(),
            Op::Next => {
                if let Some(frame) = rx.next_frame() {
                    handed_out += 1;
                    let i = frame.info;
                    check_frame(&model, i.ssrc, i.timestamp, i.width, i.height, frame.jpeg);
                }
            }
            Op::Take => {
                if let Ok(frame) = rx.take_frame([0u8; BUF]) {
                    handed_out += 1;
                    let i = frame.info;
                    check_frame(&model, i.ssrc, i.timestamp, i.width, i.height, frame.jpeg());
                }
            }
        }
        if let Some(retired) = rx.take_retired_stream() {
            completed_retired += retired.frames_complete;
        }
        let stats = rx.stats();
        assert!(stats.packets_lost() <= stats.packets_expected());
        assert!(handed_out <= completed_retired + stats.frames_complete);
        if matches!(op, Op::Timeout) {
            // Nothing overdue survives handle_timeout.
            if let Some(deadline) = rx.poll_timeout() {
                assert!(deadline >= Instant::from_millis(now));
            }
        }
    }
    while let Some(frame) = rx.next_frame() {
        let i = frame.info;
        check_frame(&model, i.ssrc, i.timestamp, i.width, i.height, frame.jpeg);
    }
});
