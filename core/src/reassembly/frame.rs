//! What a caller gets back: complete frames, borrowed or with their
//! buffer, and the size a frame buffer must have.

use core::ops::Range;

use crate::jpeg::MAX_HEADER_LEN;
use crate::rfc2435::JpegType;
use crate::time::Instant;

/// Bytes reserved in front of the scan data of every frame buffer for the
/// rebuilt JPEG headers.
pub const HEADER_RESERVE: usize = MAX_HEADER_LEN;
/// Bytes reserved after the scan data for an EOI marker the sender left out.
const TRAILER_RESERVE: usize = 2;

/// Frame buffer length needed to hold frames of up to `max_scan_bytes` of
/// scan data.
pub const fn frame_buffer_len(max_scan_bytes: usize) -> usize {
    HEADER_RESERVE + max_scan_bytes + TRAILER_RESERVE
}

/// Metadata of a complete frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub ssrc: u32,
    pub timestamp: u32,
    /// Timestamp extended across wrap-around (monotonic within a stream).
    pub extended_timestamp: u64,
    /// Sequence numbers of the first (offset 0) and last (marker) packets.
    pub first_sequence: u16,
    pub last_sequence: u16,
    pub packets: u32,
    pub width: u16,
    pub height: u16,
    pub jpeg_type: JpegType,
    pub q: u8,
    pub restart_interval: u16,
    /// Arrival of the frame's first packet and of the one that completed it.
    pub first_arrival: Instant,
    pub completed: Instant,
}

#[cfg(test)]
impl FrameInfo {
    /// A frame of `ssrc` at RTP time `rtp_time` (of the stream's first
    /// 32-bit cycle, or beyond), extended as the depacketizer does, whose
    /// last packet is `last_sequence`: for the tests of what looks at
    /// complete frames (ordering, thinning).
    pub(crate) fn for_test(ssrc: u32, rtp_time: u64, last_sequence: u16) -> Self {
        FrameInfo {
            ssrc,
            timestamp: rtp_time as u32,
            extended_timestamp: (1 << 32) + rtp_time,
            first_sequence: last_sequence.wrapping_sub(9),
            last_sequence,
            packets: 10,
            width: 8,
            height: 8,
            jpeg_type: JpegType::Yuv420,
            q: 50,
            restart_interval: 0,
            first_arrival: Instant::from_micros(0),
            completed: Instant::from_micros(0),
        }
    }
}

/// A complete frame, borrowed from the depacketizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub info: FrameInfo,
    /// The rebuilt JPEG, SOI to EOI.
    pub jpeg: &'a [u8],
}

/// A complete frame whose buffer the caller now owns.
#[derive(Debug)]
pub struct OwnedFrame<B> {
    pub info: FrameInfo,
    pub buffer: B,
    /// Where the JPEG lies in `buffer`.
    pub jpeg: Range<usize>,
}

impl<B: AsRef<[u8]>> OwnedFrame<B> {
    pub fn jpeg(&self) -> &[u8] {
        self.buffer.as_ref().get(self.jpeg.clone()).unwrap_or(&[])
    }
}
