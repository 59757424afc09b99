//! TCP stream reassembly for captures: the bytes one side of a connection
//! sent, in order, from the segments a capture holds (RFC 9293's
//! sequence space, as a receiver's reassembly queue keeps it, but fed by
//! a capture instead of the network).
//!
//! What a capture does to a stream, and what is done about it:
//! - segments out of order (the capture point saw a reordered path, or
//!   records of two interfaces were merged): kept until the bytes before
//!   them arrive, up to [`MAX_PENDING_BYTES`];
//! - retransmissions and overlaps: the bytes already handed on are cut
//!   off, the rest is used;
//! - a capture that starts mid-connection (no SYN): the stream starts at
//!   the first segment seen, and whatever framing sits on top has to find
//!   its feet ([`Chunk::Gap`] first);
//! - a segment the capture never got (a hole that later bytes do not
//!   fill): once more than [`MAX_PENDING_BYTES`] wait behind it, or at
//!   the end, the hole is skipped and reported as [`Chunk::Gap`].
//!
//! Sequence numbers are compared modulo 2^32 (RFC 9293 3.4).

/// Bytes kept ahead of a hole before the hole is given up. A capture's
/// reordering spans a few segments; a real hole (a segment the capture
/// dropped) would otherwise hold the rest of the stream back to the end.
pub const MAX_PENDING_BYTES: usize = 1 << 20;
/// Segments kept ahead of a hole, for the same reason (small segments).
pub const MAX_PENDING_SEGMENTS: usize = 1024;

/// What the reassembled stream hands on.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// Bytes are missing here (a hole skipped, or the stream joined
    /// mid-connection): whatever was being parsed is cut.
    Gap,
}

/// Counters of one reassembled stream, or of many summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Segments with payload seen.
    pub segments: u64,
    /// Segments whose every byte had been handed on already
    /// (retransmissions, duplicates in the capture).
    pub retransmitted: u64,
    /// Segments that came before bytes that precede them.
    pub out_of_order: u64,
    /// Holes skipped: bytes the capture never held.
    pub gaps: u64,
    /// Streams that started without their SYN (the capture began
    /// mid-connection).
    pub joined_mid_stream: u64,
}

impl TcpCounters {
    pub fn add(&mut self, other: &TcpCounters) {
        self.segments += other.segments;
        self.retransmitted += other.retransmitted;
        self.out_of_order += other.out_of_order;
        self.gaps += other.gaps;
        self.joined_mid_stream += other.joined_mid_stream;
    }
}

/// One direction of one TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of the next byte to hand on; `None` before the
    /// first segment.
    next: Option<u32>,
    /// Segments ahead of `next`, by sequence number, in arrival order.
    pending: Vec<(u32, Vec<u8>)>,
    pending_bytes: usize,
    counters: TcpCounters,
}

/// `a - b` in sequence space: negative when `a` is before `b`.
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl Reassembler {
    pub fn counters(&self) -> TcpCounters {
        self.counters
    }

    /// One segment: its sequence number, whether it is a SYN, and its
    /// payload. The bytes it makes contiguous go to `out`, in order.
    pub fn push(&mut self, seq: u32, syn: bool, payload: &[u8], out: &mut dyn FnMut(Chunk<'_>)) {
        // The SYN takes one sequence number; its payload (rare) follows.
        let seq = if syn {
            if self.next.is_some() {
                // A new connection on the same addresses: start over.
                self.pending.clear();
                self.pending_bytes = 0;
                out(Chunk::Gap);
            }
            let first = seq.wrapping_add(1);
            self.next = Some(first);
            first
        } else {
            seq
        };
        if payload.is_empty() {
            return;
        }
        self.counters.segments += 1;
        let next = match self.next {
            Some(next) => next,
            None => {
                self.counters.joined_mid_stream += 1;
                out(Chunk::Gap);
                self.next = Some(seq);
                seq
            }
        };
        let ahead = seq_diff(seq, next);
        if ahead > 0 {
            self.counters.out_of_order += 1;
            self.pending_bytes += payload.len();
            self.pending.push((seq, payload.to_vec()));
            if self.pending_bytes > MAX_PENDING_BYTES || self.pending.len() > MAX_PENDING_SEGMENTS {
                self.skip_hole(out);
            }
            return;
        }
        if !self.hand_on(seq, payload, out) {
            self.counters.retransmitted += 1;
        }
        self.drain(out);
    }

    /// End of the capture: what waits behind holes is handed on, each
    /// hole a [`Chunk::Gap`].
    pub fn finish(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while !self.pending.is_empty() {
            self.skip_hole(out);
        }
    }

    /// Hand on the part of `payload` (starting at `seq`, not after
    /// `next`) that is new; false when none of it is.
    fn hand_on(&mut self, seq: u32, payload: &[u8], out: &mut dyn FnMut(Chunk<'_>)) -> bool {
        let Some(next) = self.next else {
            return false;
        };
        // Bytes of this segment already handed on (0 when it starts at
        // `next`).
        let old = usize::try_from(-seq_diff(seq, next)).unwrap_or(usize::MAX);
        let Some(new) = payload.get(old..).filter(|new| !new.is_empty()) else {
            return false;
        };
        out(Chunk::Data(new));
        // A segment is shorter than 2^32 bytes: the cast cannot wrap twice.
        self.next = Some(next.wrapping_add(new.len() as u32));
        true
    }

    /// Hand on every pending segment that `next` has reached.
    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(next) = self.next {
            let Some(i) = self
                .pending
                .iter()
                .position(|&(seq, _)| seq_diff(seq, next) <= 0)
            else {
                return;
            };
            let (seq, payload) = self.pending.swap_remove(i);
            self.pending_bytes -= payload.len();
            self.hand_on(seq, &payload, out);
        }
    }

    /// Give up the hole before the earliest pending segment: a gap, then
    /// everything that follows on from it.
    fn skip_hole(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some(next) = self.next else {
            return;
        };
        let Some(&(first, _)) = self
            .pending
            .iter()
            .min_by_key(|&&(seq, _)| seq_diff(seq, next))
        else {
            return;
        };
        self.counters.gaps += 1;
        out(Chunk::Gap);
        self.next = Some(first);
        self.drain(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `segments` (seq, syn, payload) reassemble to: the bytes, with
    /// `|` for each gap, then the counters.
    fn reassemble(segments: &[(u32, bool, &[u8])]) -> (Vec<u8>, TcpCounters) {
        let mut r = Reassembler::default();
        let mut bytes = Vec::new();
        let mut out = |c: Chunk<'_>| match c {
            Chunk::Data(d) => bytes.extend_from_slice(d),
            Chunk::Gap => bytes.push(b'|'),
        };
        for &(seq, syn, payload) in segments {
            r.push(seq, syn, payload, &mut out);
        }
        r.finish(&mut out);
        (bytes, r.counters())
    }

    #[test]
    fn in_order_from_the_syn() {
        let (bytes, c) = reassemble(&[(100, true, b""), (101, false, b"abc"), (104, false, b"de")]);
        assert_eq!(bytes, b"abcde");
        assert_eq!(c.segments, 2);
        assert_eq!((c.gaps, c.out_of_order, c.retransmitted), (0, 0, 0));
    }

    #[test]
    fn out_of_order_segments_wait_for_the_bytes_before_them() {
        let (bytes, c) = reassemble(&[
            (0, true, b""),
            (7, false, b"gh"),
            (4, false, b"def"),
            (1, false, b"abc"),
            (9, false, b"i"),
        ]);
        assert_eq!(bytes, b"abcdefghi");
        assert_eq!((c.out_of_order, c.gaps), (2, 0));
    }

    #[test]
    fn retransmissions_and_overlaps_give_only_new_bytes() {
        let (bytes, c) = reassemble(&[
            (0, true, b""),
            (1, false, b"abc"),
            (1, false, b"abc"),
            (2, false, b"bcdef"),
            (4, false, b"d"),
        ]);
        assert_eq!(bytes, b"abcdef");
        assert_eq!(c.retransmitted, 2);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let start = u32::MAX - 2;
        let (bytes, c) = reassemble(&[
            (start, true, b""),
            (start.wrapping_add(4), false, b"def"),
            (start.wrapping_add(1), false, b"abc"),
        ]);
        assert_eq!(bytes, b"abcdef");
        assert_eq!(c.gaps, 0);
    }

    #[test]
    fn a_capture_that_starts_mid_connection() {
        let (bytes, c) = reassemble(&[(5000, false, b"xyz"), (5003, false, b"w")]);
        assert_eq!(bytes, b"|xyzw");
        assert_eq!(c.joined_mid_stream, 1);
    }

    #[test]
    fn a_hole_is_skipped_at_the_end_and_when_too_much_waits() {
        let (bytes, c) = reassemble(&[(0, true, b""), (1, false, b"ab"), (5, false, b"ef")]);
        assert_eq!(bytes, b"ab|ef");
        assert_eq!(c.gaps, 1);

        let mut r = Reassembler::default();
        let mut gaps = 0;
        let mut bytes = 0;
        let mut out = |c: Chunk<'_>| match c {
            Chunk::Data(d) => bytes += d.len(),
            Chunk::Gap => gaps += 1,
        };
        r.push(0, true, b"", &mut out);
        let block = vec![7u8; 1000];
        // A lost first segment of 1000 bytes, then enough behind it.
        let mut seq = 1001u32;
        while seq < 1001 + MAX_PENDING_BYTES as u32 + 2000 {
            r.push(seq, false, &block, &mut out);
            seq += 1000;
        }
        assert_eq!(gaps, 1, "the hole was given up before the end");
        assert!(bytes >= MAX_PENDING_BYTES);
        assert!(r.pending.is_empty());
    }
}
