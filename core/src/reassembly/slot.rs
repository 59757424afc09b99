//! One frame in flight: its buffer, what has been received of it, and the
//! two steps that touch the buffer (placing a fragment, completing the
//! JPEG).

use core::ops::Range;

use crate::datagram::onvif_frame_size;
use crate::jpeg::{self, FrameHeaderParams};
use crate::rfc2435::{JpegPayload, JpegType, QuantTables};
use crate::rtp::RtpPacket;
use crate::stats::{DropReason, Tolerated};
use crate::time::Instant;

use super::config::Config;
use super::frame::{FrameInfo, HEADER_RESERVE};
use super::ranges::ReceivedRanges;
use super::stream::StreamState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotState {
    Free,
    Assembling,
    /// Complete; `order` ranks completions for handing out oldest first.
    Complete {
        order: u64,
    },
}

/// Fields every fragment of one frame must agree on: each changes how
/// the scan data is to be read (sampling, restart markers, the MCU grid),
/// so fragments that differ in one are not parts of one picture.
///
/// Q is not among them. RFC 2435 (section 3.1) has every main-header field
/// but the fragment offset stay the same across a frame's packets, yet Q
/// only names the frame's quantization tables, and those are settled by
/// the fragment at offset 0 alone: in-band tables travel only there
/// (section 3.1.8), and the headers rebuilt in front of the scan carry
/// one set of tables for the whole scan. A later fragment's Q is read for
/// nothing else, so a sender that writes another value there (ESP32
/// camera firmware sends Q 128 with tables first and 94 or 96 after)
/// cannot change a byte of the frame; the frame is kept, with the
/// offset-0 fragment's Q and tables, and counted as
/// [`Tolerated::QChangedMidFrame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameShape {
    jpeg_type: JpegType,
    width: u16,
    height: u16,
    restart_interval: u16,
}

impl FrameShape {
    #[inline]
    pub(super) fn of(payload: &JpegPayload<'_>) -> Self {
        FrameShape {
            jpeg_type: payload.main.jpeg_type,
            width: payload.main.width,
            height: payload.main.height,
            restart_interval: payload.restart.map_or(0, |r| r.interval),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Assembly {
    /// The stream the frame belongs to: a complete frame may outlive its
    /// stream's SSRC change until it is taken.
    pub(super) ssrc: u32,
    pub(super) timestamp: u32,
    pub(super) extended_timestamp: u64,
    shape: FrameShape,
    /// Q of the offset-0 fragment once it came, else of the first
    /// fragment that did (see [`FrameShape`] for why Q may vary).
    q: u8,
    /// Some fragment's Q differed from another's.
    q_varied: bool,
    /// RTP payload type of the packet that opened the frame: decides
    /// whether it may be handed out (see `payload_type`).
    pub(super) payload_type: u8,
    pub(super) first_arrival: Instant,
    received: ReceivedRanges,
    /// End of the scan data, fixed by the marker packet.
    end: Option<u32>,
    /// Set by the offset-0 packet.
    tables: Option<QuantTables>,
    has_first_fragment: bool,
    /// Picture size once known (header, ONVIF extension).
    size: Option<(u16, u16)>,
    /// `size` came from an ONVIF extension: final.
    size_from_onvif: bool,
    first_sequence: u16,
    last_sequence: u16,
    pub(super) highest_seq: u64,
    /// Extended sequence number of the marker packet, once seen.
    pub(super) marker_seq: Option<u64>,
    packets: u32,
    /// Set when complete: where the JPEG lies in the buffer.
    pub(super) jpeg: Range<usize>,
    completed: Instant,
}

impl Assembly {
    /// A frame opened by a packet (`ssrc`, `timestamp`, extended
    /// `ext_ts` and `ext_seq`, RFC 2435 headers `opener`) arriving at
    /// `now`; the packet is placed by [`Slot::fill`].
    pub(super) fn new(
        ssrc: u32,
        timestamp: u32,
        ext_ts: u64,
        ext_seq: u64,
        opener: &JpegPayload<'_>,
        payload_type: u8,
        now: Instant,
    ) -> Self {
        Assembly {
            ssrc,
            timestamp,
            extended_timestamp: ext_ts,
            shape: FrameShape::of(opener),
            q: opener.main.q,
            q_varied: false,
            payload_type,
            first_arrival: now,
            received: ReceivedRanges::default(),
            end: None,
            tables: None,
            has_first_fragment: false,
            size: None,
            size_from_onvif: false,
            first_sequence: 0,
            last_sequence: 0,
            highest_seq: ext_seq,
            marker_seq: None,
            packets: 0,
            jpeg: 0..0,
            completed: now,
        }
    }

    /// Whether a packet numbered `ext_seq` with this frame's timestamp can
    /// be part of it: not if it comes after the marker packet.
    pub(super) fn claims(&self, ext_seq: u64) -> bool {
        self.marker_seq.is_none_or(|m| ext_seq <= m)
    }

    pub(super) fn info(&self) -> FrameInfo {
        let (width, height) = self.size.unwrap_or((0, 0));
        FrameInfo {
            ssrc: self.ssrc,
            timestamp: self.timestamp,
            extended_timestamp: self.extended_timestamp,
            first_sequence: self.first_sequence,
            last_sequence: self.last_sequence,
            packets: self.packets,
            width,
            height,
            jpeg_type: self.shape.jpeg_type,
            q: self.q,
            restart_interval: self.shape.restart_interval,
            first_arrival: self.first_arrival,
            completed: self.completed,
        }
    }
}

#[derive(Debug)]
pub(super) struct Slot<B> {
    pub(super) buffer: B,
    pub(super) state: SlotState,
    pub(super) frame: Option<Assembly>,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Slot<B> {
    /// Copy one fragment into the frame and record it.
    // This and `try_complete` run for every packet and were inlined into
    // `push` when they were the depacketizer's own methods; across the
    // module boundary they are not unless forced (4-8% more instructions
    // per frame in the reassembly bench).
    #[inline(always)]
    pub(super) fn fill(
        &mut self,
        stream: &mut StreamState,
        rtp: &RtpPacket<'_>,
        payload: &JpegPayload<'_>,
        ext_seq: u64,
    ) -> Result<(), DropReason> {
        let frame = self.frame.as_mut().ok_or(DropReason::Inconsistent)?;
        let shape = FrameShape::of(payload);
        if shape != frame.shape {
            return Err(DropReason::Inconsistent);
        }
        // Tolerated, see `FrameShape`: the offset-0 fragment's Q is the
        // frame's (set below).
        frame.q_varied |= payload.main.q != frame.q;
        let start = payload.main.fragment_offset;
        let len = u32::try_from(payload.data.len()).map_err(|_| DropReason::TooLarge)?;
        let end = start + len;
        if frame.end.is_some_and(|e| end > e) {
            return Err(DropReason::Inconsistent);
        }
        if rtp.marker() {
            if frame.received.end().is_some_and(|last| last > end) {
                return Err(DropReason::Inconsistent);
            }
            frame.end = Some(end);
            frame.last_sequence = rtp.sequence();
            frame.marker_seq = Some(ext_seq);
        }
        // Size: an ONVIF extension's SOF on any fragment wins, else the
        // header's. The ONVIF streaming spec has senders put the size
        // rounded up to whole 8-pixel blocks in the RFC 2435 header (1366
        // arrives as 171 blocks, 1368) and the exact size in the extension;
        // above 2040 the header says 0 and only the extension knows.
        if !frame.size_from_onvif {
            if let Some(size) = rtp.extension().as_ref().and_then(onvif_frame_size) {
                frame.size = Some(size);
                frame.size_from_onvif = true;
            } else if frame.size.is_none() && shape.width != 0 && shape.height != 0 {
                frame.size = Some((shape.width, shape.height));
            }
        }
        if start == 0 {
            frame.has_first_fragment = true;
            frame.q = payload.main.q;
            frame.first_sequence = rtp.sequence();
            frame.tables = Some(stream.resolve_tables(payload)?);
        }
        frame.received.add(start, end)?;
        let at = HEADER_RESERVE + start as usize;
        self.buffer
            .as_mut()
            .get_mut(at..at + payload.data.len())
            .ok_or(DropReason::TooLarge)?
            .copy_from_slice(payload.data);
        frame.packets += 1;
        frame.highest_seq = frame.highest_seq.max(ext_seq);
        Ok(())
    }

    /// If the frame is whole, write its headers (and EOI if missing), mark
    /// it complete with rank `order` and count it in `stream`.
    #[inline(always)]
    pub(super) fn try_complete(
        &mut self,
        stream: &mut StreamState,
        config: &Config,
        now: Instant,
        order: u64,
    ) -> Result<bool, DropReason> {
        let Some(frame) = self.frame.as_mut() else {
            return Ok(false);
        };
        let Some(end) = frame.end else {
            return Ok(false);
        };
        if !frame.has_first_fragment || !frame.received.is_exactly(end) {
            return Ok(false);
        }
        let buffer = self.buffer.as_mut();
        let data_end = HEADER_RESERVE + end as usize;
        // A whole JPEG file sent as the scan data (espp's ESP32 RTSP
        // server puts the camera's JFIF, from SOI with its own DQT, DHT
        // and SOF, where RFC 2435 has the entropy-coded data). No real
        // scan can start so: inside entropy-coded data 0xFF is followed
        // only by a stuffed 0x00 or a restart marker (ITU T.81 B.1.1.5),
        // never by SOI. Such a frame is handed out as sent, with its own
        // headers and size, rather than behind a second set of headers
        // that no decoder reads past. Only types 0 and 1: with restart
        // markers (64..=127) the sender claims to cut the scan itself.
        // One that starts with SOI but is not a whole baseline JPEG is
        // rebuilt as usual.
        let embedded_size = match frame.shape.jpeg_type {
            JpegType::Yuv422 | JpegType::Yuv420 => buffer
                .get(HEADER_RESERVE..data_end)
                .filter(|scan| scan.starts_with(&[0xFF, jpeg::marker::SOI]))
                .and_then(|scan| jpeg::whole_baseline_size(scan).ok()),
            _ => None,
        };
        let (width, height) = embedded_size
            .or(frame.size)
            .or(config.fallback_size)
            .ok_or(DropReason::UnknownSize)?;
        if width == 0 || height == 0 {
            return Err(DropReason::UnknownSize);
        }
        if width > config.max_width || height > config.max_height {
            return Err(DropReason::DimensionsTooLarge);
        }
        let has_eoi = buffer
            .get(data_end.saturating_sub(2)..data_end)
            .is_some_and(|tail| end >= 2 && tail == [0xFF, jpeg::marker::EOI]);
        let jpeg_end = if has_eoi {
            data_end
        } else {
            buffer
                .get_mut(data_end..data_end + 2)
                .ok_or(DropReason::TooLarge)?
                .copy_from_slice(&[0xFF, jpeg::marker::EOI]);
            data_end + 2
        };
        let jpeg_start = if embedded_size.is_some() {
            stream.stats.tolerated.add(Tolerated::JfifInPayload);
            HEADER_RESERVE
        } else {
            let tables = frame.tables.ok_or(DropReason::MissingTables)?;
            let sampling = frame
                .shape
                .jpeg_type
                .sampling()
                .ok_or(DropReason::Inconsistent)?;
            // A literal, not `FrameHeaderParams::new(..).with_restart_interval(..)`:
            // with the builder the criterion reassembly bench read 10-20%
            // slower in the 16-slot case (code layout; same instructions).
            let params = FrameHeaderParams {
                width,
                height,
                sampling,
                restart_interval: frame.shape.restart_interval,
                tables: &tables,
            };
            let header_len = jpeg::headers_len(&params);
            let jpeg_start = HEADER_RESERVE - header_len;
            let header_area = buffer
                .get_mut(jpeg_start..HEADER_RESERVE)
                .ok_or(DropReason::TooLarge)?;
            jpeg::write_headers(&params, header_area).map_err(|_| DropReason::TooLarge)?;
            jpeg_start
        };
        if frame.q_varied {
            stream.stats.tolerated.add(Tolerated::QChangedMidFrame);
        }
        frame.jpeg = jpeg_start..jpeg_end;
        frame.size = Some((width, height));
        frame.completed = now;
        self.state = SlotState::Complete { order };
        stream.stats.frames_complete += 1;
        stream.stats.width = width;
        stream.stats.height = height;
        stream.remember_finished(frame.timestamp, frame.marker_seq);
        Ok(true)
    }
}
