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
