//! The capture reader's TCP reassembly (`mjpeg_rtp_capture::tcp`) and the
//! RTSP/TCP demultiplexing on top of it (`interleaved`), fed arbitrary
//! segments: any order, overlaps, retransmissions, SYNs and FINs in the
//! middle, sequence numbers across the wrap, a start mid-connection.
//! Checks: nothing panics; the bytes handed on never exceed what was
//! given; a stream sent in order from its SYN comes out exactly, whatever
//! the segment boundaries; and the interleaved packets of such a stream
//! come out whole.
#![no_main]

use std::net::SocketAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_capture::interleaved::{Connections, Segment};
use mjpeg_rtp_capture::tcp::{Chunk, Reassembler};

#[derive(Debug, Arbitrary)]
struct Input {
    /// Free-form segments: (offset from the ISN, syn, end, flow, payload).
    segments: Vec<(u32, bool, bool, bool, Vec<u8>)>,
    isn: u32,
    /// One stream sent in order, cut at these lengths.
    stream: Vec<u8>,
    cuts: Vec<u8>,
}

fuzz_target!(|input: Input| {
    // Arbitrary segments into a bare reassembler.
    let mut r = Reassembler::default();
    let (mut given, mut handed) = (0usize, 0usize);
    let mut out = |c: Chunk<'_>| {
        if let Chunk::Data(d) = c {
            handed += d.len();
        }
    };
    for (offset, syn, _, _, payload) in &input.segments {
        given += payload.len();
        r.push(input.isn.wrapping_add(*offset), *syn, payload, &mut out);
    }
    r.finish(&mut out);
    assert!(handed <= given, "{handed} bytes handed on of {given} given");

    // The same segments as two directions of a connection, through the
    // RTSP framing.
    let a: SocketAddr = "10.0.0.1:554".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let mut connections = Connections::default();
    for (offset, syn, end, flow, payload) in &input.segments {
        let (src, dst) = if *flow { (a, b) } else { (b, a) };
        let segment = Segment {
            src,
            dst,
            seq: input.isn.wrapping_add(*offset),
            syn: *syn,
            end: *end,
            payload,
        };
        connections.push(segment, &mut |p| assert!(p.data.len() <= 65_535));
    }
    connections.finish(&mut |p| assert!(p.data.len() <= 65_535));

    // A stream in order from its SYN, cut anywhere: exactly its bytes.
    let mut r = Reassembler::default();
    let mut got = Vec::new();
    let mut gaps = 0;
    let mut out = |c: Chunk<'_>| match c {
        Chunk::Data(d) => got.extend_from_slice(d),
        Chunk::Gap => gaps += 1,
    };
    r.push(input.isn, true, &[], &mut out);
    let mut seq = input.isn.wrapping_add(1);
    let mut rest = &input.stream[..];
    for &cut in input.cuts.iter().chain(std::iter::repeat(&255)) {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(usize::from(cut).clamp(1, rest.len()));
        r.push(seq, false, piece, &mut out);
        seq = seq.wrapping_add(piece.len() as u32);
        rest = tail;
    }
    r.finish(&mut out);
    assert_eq!(gaps, 0);
    assert_eq!(got, input.stream);
});
