//! The byte stream of an RTSP connection: responses (and the odd request
//! from the server) mixed with interleaved binary data (RFC 2326 10.12).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | '$' (0x24)    |   channel     |        length (big endian)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  length bytes: one RTP or RTCP packet ...                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Anything else is an RTSP message, parsed by `rtsp-types`. Bytes that
//! are neither (a camera that garbles a frame, a truncated message) are
//! skipped up to the next `$` or `RTSP/`, counted, and never stop the
//! stream.

use std::ops::Range;

use rtsp_types::{Message, ParseError};

/// Largest RTSP message kept while waiting for its end; a peer sending
/// more without completing one is out of step and gets resynchronized.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// A packet too long for an interleaved frame, whose length field has
/// 16 bits: refused, because cutting it would deliver a corrupt packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len}-byte packet: an interleaved frame holds at most 65535")]
pub struct TooLong {
    pub len: usize,
}

/// An interleaved frame to write to the connection: `data` (one RTP or
/// RTCP packet) on `channel`.
pub fn interleaved(channel: u8, data: &[u8]) -> Result<Vec<u8>, TooLong> {
    let mut out = Vec::with_capacity(4 + data.len());
    push_interleaved(&mut out, channel, data)?;
    Ok(out)
}

/// [`interleaved`], appended to `out` (left as it was on error).
pub fn push_interleaved(out: &mut Vec<u8>, channel: u8, data: &[u8]) -> Result<(), TooLong> {
    let len = u16::try_from(data.len()).map_err(|_| TooLong { len: data.len() })?;
    out.extend_from_slice(&[b'$', channel]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// One item of the stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum Item<'a> {
    /// An interleaved frame: `channel` as the server sent it, `data` one
    /// RTP or RTCP packet.
    Data { channel: u8, data: &'a [u8] },
    /// A response or request, body included.
    Message(Message<Vec<u8>>),
}

/// [`Item`] with the data as a range into the framer's buffer.
#[derive(Debug)]
pub(crate) enum Raw {
    Data { channel: u8, range: Range<usize> },
    Message(Message<Vec<u8>>),
}

/// Splits an RTSP connection's bytes into [`Item`]s without copying
/// interleaved data.
#[derive(Debug, Default)]
pub struct Framer {
    /// Storage, zeroed once when it grows and reused: `start..end` are
    /// the bytes read and not consumed, `end..` is room for the next read
    /// ([`Framer::read_buffer`]), so that a read can land here directly
    /// instead of in a buffer that is zeroed and copied every time.
    buf: Vec<u8>,
    /// Start of the bytes not consumed yet.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// Bytes skipped to resynchronize.
    skipped: u64,
    /// Skipping garbage that ran to the end of what was read: the next
    /// item starts at the next `$` or `RTSP/` of a later read, not at the
    /// start of it (or a read boundary would decide what is a message).
    resyncing: bool,
}

impl Framer {
    /// Append bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.read_buffer(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// Room for the next read, at least `at_least` bytes long, right after
    /// the bytes held; say how many the read wrote with
    /// [`Framer::filled`]. The same as [`Framer::push`] without the copy.
    /// Its contents are whatever was there before (never uninitialised).
    pub fn read_buffer(&mut self, at_least: usize) -> &mut [u8] {
        // Compact only when what was consumed dominates, so that a steady
        // stream of interleaved packets moves each byte about once (after
        // a read, what is left is usually the start of one packet).
        if self.start > 0 && self.start >= self.end / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let wanted = self.end + at_least;
        if self.buf.len() < wanted {
            self.buf.resize(wanted, 0);
        }
        &mut self.buf[self.end..]
    }

    /// `count` bytes of [`Framer::read_buffer`]'s room were read into
    /// (clamped to the room it gave).
    pub fn filled(&mut self, count: usize) {
        self.end = (self.end + count).min(self.buf.len());
    }

    /// Bytes skipped so far because they were neither a message nor a
    /// frame.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Bytes held and not yet consumed: at most [`MAX_MESSAGE`] once
    /// every item has been taken, however the peer misbehaves (a longer
    /// incomplete message is skipped; a `$` frame is at most 65,539).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The next complete item, or `None` until more bytes arrive.
    pub fn next_item(&mut self) -> Option<Item<'_>> {
        Some(match self.next_raw()? {
            Raw::Data { channel, range } => Item::Data {
                channel,
                data: &self.buf[range],
            },
            Raw::Message(m) => Item::Message(m),
        })
    }

    /// Like [`Framer::next_item`], with data as a range of
    /// [`Framer::data`], so that a caller can handle a message (borrowing
    /// itself mutably) or return the data borrowed, in one loop.
    pub(crate) fn next_raw(&mut self) -> Option<Raw> {
        loop {
            if self.resyncing {
                self.resync(0);
                if self.resyncing {
                    return None;
                }
            }
            let pending = &self.buf[self.start..self.end];
            match pending.first()? {
                b'$' => {
                    let [_, channel, hi, lo] = *pending.get(..4)? else {
                        return None;
                    };
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    pending.get(4..4 + len)?;
                    let from = self.start + 4;
                    self.start = from + len;
                    return Some(Raw::Data {
                        channel,
                        range: from..from + len,
                    });
                }
                _ => match Message::<Vec<u8>>::parse(pending) {
                    // Only a buffer starting with `$` holds a frame, and
                    // those are taken above; skip rather than trust that.
                    Ok((Message::Data(_), used)) => {
                        self.skipped += used as u64;
                        self.start += used;
                    }
                    Ok((message, used)) => {
                        self.start += used;
                        return Some(Raw::Message(message));
                    }
                    Err(ParseError::Incomplete(_)) if pending.len() <= MAX_MESSAGE => return None,
                    Err(_) => self.resync(1),
                },
            }
        }
    }

    /// The bytes of a [`Raw::Data`] range, valid until the next push or
    /// read.
    pub(crate) fn data(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Skip up to the next plausible item start at or after `from`.
    fn resync(&mut self, from: usize) {
        let pending = &self.buf[self.start..self.end];
        // A tail that may be the start of `RTSP/` cut short by the read
        // is kept: the rest of the answer comes with the next read (found
        // by the rtsp_framing fuzz target: the answer was lost when the
        // bytes came in pieces, kept when they came at once).
        let found = (from..pending.len()).find(|&i| {
            pending[i] == b'$'
                || pending[i..].starts_with(b"RTSP/")
                || b"RTSP/".starts_with(&pending[i..])
        });
        let next = found.unwrap_or(pending.len());
        // Still skipping unless an item start is certain: the end of the
        // garbage, or a tail that is only the beginning of `RTSP/`, is
        // decided by the bytes still to come.
        self.resyncing =
            pending[next..].first() != Some(&b'$') && !pending[next..].starts_with(b"RTSP/");
        self.skipped += next as u64;
        self.start += next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_responses_and_interleaved_frames_across_reads() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"$\x00\x00\x03abc");
        stream.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 5\r\nContent-Length: 2\r\n\r\nhi");
        stream.extend_from_slice(b"$\x01\x00\x00");
        // Fed one byte at a time: every split point must work.
        let mut framer = Framer::default();
        let mut seen = Vec::new();
        for b in &stream {
            framer.push(std::slice::from_ref(b));
            while let Some(item) = framer.next_item() {
                seen.push(match item {
                    Item::Data { channel, data } => format!("data {channel} {data:?}"),
                    Item::Message(Message::Response(r)) => {
                        format!("{} {:?}", u16::from(r.status()), r.body())
                    }
                    Item::Message(_) => "other".into(),
                });
            }
        }
        assert_eq!(seen, ["data 0 [97, 98, 99]", "200 [104, 105]", "data 1 []"]);
        assert_eq!(framer.skipped(), 0);
    }

    #[test]
    fn an_answer_cut_after_garbage_is_not_lost() {
        // Minimized from the rtsp_framing fuzz target: cut inside
        // `RTSP/`, the answer was lost; cut inside the garbage, its rest
        // (`X * RTSP/1.0`...) was taken for a request; cut after the `R`
        // of `R x RTSP/1.0`, that was.
        let stream = b"GET_PARAMETER * RTSPT_X * RTSP/1.0\r\nCSeq: 9\r\n\r\n\
            \x00R x RTSP/1.0\r\nCSeq: 5\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 4\r\n\r\n";
        for cut in 1..stream.len() {
            let mut framer = Framer::default();
            let mut items = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                framer.push(part);
                while let Some(item) = framer.next_item() {
                    items.push(matches!(item, Item::Message(Message::Response(_))));
                }
            }
            assert_eq!(items, [true], "cut at {cut}");
        }
    }

    #[test]
    fn a_read_into_the_room_is_a_push_without_the_copy() {
        let mut framer = Framer::default();
        // A whole frame, consumed: its bytes stay in the storage, where
        // the next read's room begins.
        framer.push(b"$\x01\x00\x05hello");
        assert!(matches!(
            framer.next_item(),
            Some(Item::Data { channel: 1, .. })
        ));
        // A read that writes only a frame's first bytes into a larger room:
        // the stale bytes after them are not taken for its rest.
        let room = framer.read_buffer(64);
        assert!(room.len() >= 64);
        room[..6].copy_from_slice(b"$\x02\x00\x04ab");
        framer.filled(6);
        assert!(framer.next_item().is_none());
        assert_eq!(framer.buffered(), 6);
        // Its rest, by either way in.
        framer.read_buffer(1)[..2].copy_from_slice(b"cd");
        framer.filled(2);
        match framer.next_item() {
            Some(Item::Data { channel: 2, data }) => assert_eq!(data, b"abcd"),
            other => panic!("{other:?}"),
        }
        // A count beyond the room is clamped, never read past.
        let room = framer.read_buffer(4).len();
        framer.filled(room + 100);
        assert_eq!(framer.buffered(), room);
    }

    #[test]
    fn garbage_is_skipped_up_to_the_next_item() {
        let mut framer = Framer::default();
        framer.push(b"\x00\xffjunk\r\n\r\n$\x02\x00\x01z");
        match framer.next_item() {
            Some(Item::Data { channel: 2, data }) => assert_eq!(data, b"z"),
            other => panic!("{other:?}"),
        }
        assert!(framer.skipped() > 0);
        assert!(framer.next_item().is_none());
    }

    #[test]
    fn an_interleaved_frame_written_is_read_back() {
        let mut framer = Framer::default();
        framer.push(&interleaved(3, b"rtcp").unwrap());
        match framer.next_item() {
            Some(Item::Data { channel: 3, data }) => assert_eq!(data, b"rtcp"),
            other => panic!("{other:?}"),
        }
        // The longest fits; one byte more is refused, never cut.
        assert_eq!(interleaved(1, &[0; 65_535]).unwrap().len(), 4 + 65_535);
        assert_eq!(interleaved(1, &[0; 65_536]), Err(TooLong { len: 65_536 }));
        let mut out = b"x".to_vec();
        assert!(push_interleaved(&mut out, 1, &[0; 70_000]).is_err());
        assert_eq!(out, b"x");
    }
}
