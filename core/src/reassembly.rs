//! Frame reassembly: the sans-IO state machine at the heart of the crate.
//!
//! A [`Depacketizer`] follows one RTP stream (one SSRC at a time). Each
//! packet's scan data is copied once, straight to its fragment offset in a
//! caller-provided frame buffer, behind a reserved gap into which the JPEG
//! headers are written when the frame completes; the finished JPEG is then
//! one contiguous slice of that buffer.
//!
//! Jitter buffering without storing packets or waiting: up to `N` frames
//! are in flight at once (each in its own buffer), and a bitmap over recent
//! sequence numbers tells new packets from duplicates. A reordered packet
//! simply lands at its offset whenever it comes. A frame completes the
//! moment its received byte ranges cover `0..end` with no hole and the
//! marker packet fixed `end`; it is dropped, with a [`DropReason`], once it
//! can no longer complete.
//!
//! Frames are keyed by SSRC and RTP timestamp, and, for senders that give
//! consecutive frames one timestamp, by the marker packet's sequence
//! number. Whatever would reset the stream is believed only when the
//! packet after it agrees: another SSRC while the current one is alive, a
//! sequence step of a whole window forwards, a timestamp 10 s away. So one
//! stray or forged datagram is counted and refused; it cannot tear down the
//! frames in flight.
//!
//! Draining contract: after each [`Depacketizer::push`] (or
//! [`Depacketizer::handle_timeout`]) call [`Depacketizer::next_frame`] or
//! [`Depacketizer::take_frame`] until it returns nothing. A complete frame
//! left in its slot is overwritten (and counted `not_taken`) when the slot
//! is needed for a newer frame.

use core::ops::Range;
use core::time::Duration;

use arrayvec::ArrayVec;
use heapless::{Deque, Vec};

use crate::jpeg::{self, FrameHeaderParams, MAX_HEADER_LEN};
use crate::rfc2435::{
    appendix_a_tables, JpegPayload, JpegType, PayloadError, QuantTables, MAX_FRAGMENT_OFFSET,
    ONVIF_EXTENSION_PROFILES,
};
use crate::rtp::{HeaderExtension, RtpError, RtpPacket, PAYLOAD_TYPE_JPEG};
use crate::seq::{extend_u32, SeqVerdict, SeqWindow, WINDOW_BITS};
use crate::stats::{DropReason, InvalidCounts, InvalidReason, StreamStats};
use crate::time::Instant;

/// Bytes reserved in front of the scan data of every frame buffer for the
/// rebuilt JPEG headers.
pub const HEADER_RESERVE: usize = MAX_HEADER_LEN;
/// Bytes reserved after the scan data for an EOI marker the sender left out.
pub const TRAILER_RESERVE: usize = 2;

/// Frame buffer length needed to hold frames of up to `max_scan_bytes` of
/// scan data.
pub const fn frame_buffer_len(max_scan_bytes: usize) -> usize {
    HEADER_RESERVE + max_scan_bytes + TRAILER_RESERVE
}

/// Disjoint received byte ranges one frame may hold before it is given up
/// as too fragmented to be worth tracking (each hole costs one range).
const MAX_RANGES: usize = 32;
/// Recently finished frames, (timestamp, marker sequence), remembered to
/// recognise stragglers.
const FINISHED_MEMORY: usize = 16;
/// Largest timestamp step (either way) taken at face value: 10 s at the
/// 90 kHz RTP clock. Beyond it a packet must be confirmed by its successor.
const MAX_TIMESTAMP_JUMP: u64 = 10 * 90_000;
/// In-band tables remembered for Q 128..=254 (most senders use one Q).
const QUANT_CACHE: usize = 4;

/// Receiver settings. `Default` is safe for any camera up to 4K.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A dynamic payload type (96..=127) accepted besides the static 26.
    pub dynamic_payload_type: Option<u8>,
    /// Size to use when the header says 0 (wider or taller than 2040) and
    /// no ONVIF extension carries it.
    pub fallback_size: Option<(u16, u16)>,
    pub max_width: u16,
    pub max_height: u16,
    /// A frame not complete this long after its first packet is dropped.
    pub max_frame_age: Duration,
    /// How far (in packets) a packet may be reordered; a frame with no
    /// packet among the last `reorder_window` packets of the stream and
    /// still incomplete is dropped as lost. At most 512.
    pub reorder_window: u16,
    /// Frames assembled at once, at most the depacketizer's `N` (0 = `N`):
    /// lets a runtime size the jitter buffer at run time under a
    /// compile-time maximum. Guarantee: buffers of slots at index
    /// `frames_in_flight` and above are never read or written, so a runtime
    /// may pass empty buffers for them.
    pub frames_in_flight: usize,
    /// A packet from another SSRC replaces the current stream at once when
    /// the current one has been silent this long (a camera that restarted);
    /// otherwise only after two packets with consecutive sequence numbers
    /// (RFC 3550 probation), so that a stray or forged datagram cannot
    /// tear down the frames in flight.
    pub ssrc_silence: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dynamic_payload_type: None,
            fallback_size: None,
            max_width: 8192,
            max_height: 8192,
            max_frame_age: Duration::from_secs(1),
            reorder_window: 64,
            frames_in_flight: 0,
            ssrc_silence: Duration::from_millis(500),
        }
    }
}

/// What happened to one pushed datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Placed into its frame.
    Accepted,
    /// Placed, and it completed a frame: drain with `next_frame`.
    Completed,
    /// A copy of a packet already received.
    Duplicate,
    /// Its frame was already finished, it is behind the window, or its
    /// frame is older than every frame in flight and no slot is free.
    Late,
    /// Its frame was dropped.
    Discarded,
    /// Refused before touching any frame.
    Invalid(InvalidReason),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Assembling,
    /// Complete; `order` ranks completions for handing out oldest first.
    Complete {
        order: u64,
    },
}

/// Fields every fragment of one frame must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameShape {
    jpeg_type: JpegType,
    q: u8,
    width: u16,
    height: u16,
    restart_interval: u16,
}

#[derive(Debug, Clone)]
struct Assembly {
    /// The stream the frame belongs to: a complete frame may outlive its
    /// stream's SSRC change until it is taken.
    ssrc: u32,
    timestamp: u32,
    extended_timestamp: u64,
    shape: FrameShape,
    first_arrival: Instant,
    /// Sorted, disjoint, coalesced byte ranges received.
    ranges: ArrayVec<(u32, u32), MAX_RANGES>,
    /// End of the scan data, fixed by the marker packet.
    end: Option<u32>,
    /// Set by the offset-0 packet.
    tables: Option<QuantTables>,
    has_first_fragment: bool,
    /// Picture size once known (header, ONVIF extension).
    size: Option<(u16, u16)>,
    first_sequence: u16,
    last_sequence: u16,
    highest_seq: u64,
    /// Extended sequence number of the marker packet, once seen.
    marker_seq: Option<u64>,
    packets: u32,
    /// Set when complete: where the JPEG lies in the buffer.
    jpeg: Range<usize>,
    completed: Instant,
}

impl Assembly {
    /// Whether a packet numbered `ext_seq` with this frame's timestamp can
    /// be part of it: not if it comes after the marker packet.
    fn claims(&self, ext_seq: u64) -> bool {
        self.marker_seq.is_none_or(|m| ext_seq <= m)
    }
}

#[derive(Debug)]
struct Slot<B> {
    buffer: B,
    state: SlotState,
    frame: Option<Assembly>,
}

/// Per-stream state reset on an SSRC change.
#[derive(Debug, Clone)]
struct StreamState {
    stats: StreamStats,
    window: SeqWindow,
    finished: Deque<(u32, Option<u64>), FINISHED_MEMORY>,
    quant_cache: Vec<(u8, QuantTables), QUANT_CACHE>,
    highest_timestamp: Option<u64>,
    /// Arrival of the stream's latest accepted packet.
    last_arrival: Instant,
}

impl StreamState {
    fn new(ssrc: u32, now: Instant) -> Self {
        StreamState {
            stats: StreamStats {
                ssrc: Some(ssrc),
                ..StreamStats::default()
            },
            window: SeqWindow::new(),
            finished: Deque::new(),
            quant_cache: Vec::new(),
            highest_timestamp: None,
            last_arrival: now,
        }
    }

    fn remember_finished(&mut self, timestamp: u32, marker_seq: Option<u64>) {
        if self.finished.is_full() {
            self.finished.pop_front();
        }
        // Cannot fail: room was just made.
        let _ = self.finished.push_back((timestamp, marker_seq));
    }

    fn cache_tables(&mut self, q: u8, tables: QuantTables) {
        if let Some(entry) = self.quant_cache.iter_mut().find(|(cq, _)| *cq == q) {
            entry.1 = tables;
            return;
        }
        if self.quant_cache.is_full() {
            self.quant_cache.remove(0);
        }
        let _ = self.quant_cache.push((q, tables));
    }

    fn cached_tables(&self, q: u8) -> Option<QuantTables> {
        self.quant_cache
            .iter()
            .find(|(cq, _)| *cq == q)
            .map(|(_, t)| *t)
    }
}

/// RTP/JPEG depacketizer and frame reassembler for one stream, with `N`
/// frames in flight, each in a caller-provided buffer `B`.
#[derive(Debug)]
pub struct Depacketizer<B, const N: usize> {
    config: Config,
    slots: [Slot<B>; N],
    stream: Option<StreamState>,
    retired: Option<StreamStats>,
    invalid: InvalidCounts,
    completions: u64,
    /// Another SSRC on probation, with the sequence number that confirms it.
    ssrc_candidate: Option<(u32, u16)>,
    /// No frame in flight expires before this: spares scanning the slots on
    /// every packet.
    next_expiry: Option<Instant>,
}

impl From<RtpError> for InvalidReason {
    fn from(e: RtpError) -> Self {
        match e {
            RtpError::Truncated => InvalidReason::RtpTruncated,
            RtpError::Version(_) => InvalidReason::RtpVersion,
            RtpError::CsrcOverrun => InvalidReason::RtpCsrcOverrun,
            RtpError::ExtensionOverrun => InvalidReason::RtpExtensionOverrun,
            RtpError::Padding => InvalidReason::RtpPadding,
        }
    }
}

impl From<PayloadError> for InvalidReason {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::Truncated => InvalidReason::JpegTruncated,
            PayloadError::TypeSpecific(_) => InvalidReason::TypeSpecific,
            PayloadError::UnsupportedType(_) => InvalidReason::UnsupportedType,
            PayloadError::RestartHeader => InvalidReason::RestartHeader,
            PayloadError::QuantLength => InvalidReason::QuantLength,
            PayloadError::QuantMissing => InvalidReason::QuantMissing,
        }
    }
}

/// Picture size from an ONVIF JPEG header extension (JPEG marker segments
/// in the extension words), if it carries an SOF.
pub fn onvif_frame_size(extension: &HeaderExtension<'_>) -> Option<(u16, u16)> {
    if !ONVIF_EXTENSION_PROFILES.contains(&extension.profile) {
        return None;
    }
    jpeg::Segments::new(extension.data)
        .map_while(Result::ok)
        .find(|s| matches!(s.marker, jpeg::marker::SOF0 | jpeg::marker::SOF1))
        .and_then(|s| jpeg::sof_size(s.payload))
        .filter(|&(w, h)| w != 0 && h != 0)
}

/// Validate a datagram completely (RTP, payload type, RFC 2435 headers)
/// without touching any state: what a runtime uses to decide whether a
/// packet may open a new stream.
#[inline]
pub fn validate<'a>(
    datagram: &'a [u8],
    dynamic_payload_type: Option<u8>,
) -> Result<(RtpPacket<'a>, JpegPayload<'a>), InvalidReason> {
    let rtp = RtpPacket::parse(datagram)?;
    let pt = rtp.payload_type();
    if pt != PAYLOAD_TYPE_JPEG && Some(pt) != dynamic_payload_type {
        return Err(InvalidReason::PayloadType);
    }
    let payload = JpegPayload::parse(rtp.payload())?;
    let end = u64::from(payload.main.fragment_offset) + payload.data.len() as u64;
    if end > u64::from(MAX_FRAGMENT_OFFSET) + 1 {
        return Err(InvalidReason::FragmentOffset);
    }
    Ok((rtp, payload))
}

impl<B: AsRef<[u8]> + AsMut<[u8]>, const N: usize> Depacketizer<B, N> {
    /// A depacketizer using `buffers` as its `N` frame buffers. Each should
    /// be [`frame_buffer_len`] of the largest scan data expected; a frame
    /// that does not fit is dropped as `too_large`.
    pub fn new(config: Config, buffers: [B; N]) -> Self {
        const { assert!(N > 0, "at least one frame in flight") };
        Depacketizer {
            config,
            slots: buffers.map(|buffer| Slot {
                buffer,
                state: SlotState::Free,
                frame: None,
            }),
            stream: None,
            retired: None,
            invalid: InvalidCounts::default(),
            completions: 0,
            ssrc_candidate: None,
            next_expiry: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Statistics of the current stream (default before the first packet).
    pub fn stats(&self) -> StreamStats {
        self.stream.as_ref().map(|s| s.stats).unwrap_or_default()
    }

    /// Datagrams refused, by reason (over the depacketizer's lifetime).
    pub fn invalid(&self) -> &InvalidCounts {
        &self.invalid
    }

    /// Final statistics of the stream an SSRC change replaced, once.
    pub fn take_retired_stream(&mut self) -> Option<StreamStats> {
        self.retired.take()
    }

    /// Feed one datagram received at `now`.
    pub fn push(&mut self, now: Instant, datagram: &[u8]) -> Verdict {
        match validate(datagram, self.config.dynamic_payload_type) {
            Ok((rtp, payload)) => self.push_valid(now, &rtp, &payload),
            Err(reason) => {
                self.invalid.add(reason);
                Verdict::Invalid(reason)
            }
        }
    }

    /// Feed a packet already checked by [`validate`].
    pub fn push_valid(
        &mut self,
        now: Instant,
        rtp: &RtpPacket<'_>,
        payload: &JpegPayload<'_>,
    ) -> Verdict {
        self.expire(now);
        let ssrc = rtp.ssrc();
        if let Some(current) = self.stream.as_ref() {
            if current.stats.ssrc != Some(ssrc) {
                let silent =
                    now.saturating_duration_since(current.last_arrival) >= self.config.ssrc_silence;
                if !silent && !self.confirm_ssrc(ssrc, rtp.sequence()) {
                    self.invalid.add(InvalidReason::SsrcUnconfirmed);
                    return Verdict::Invalid(InvalidReason::SsrcUnconfirmed);
                }
                self.change_stream(ssrc, now);
            }
        }
        let stream = self
            .stream
            .get_or_insert_with(|| StreamState::new(ssrc, now));
        // A timestamp far from the stream's is a discontinuity like a
        // sequence jump: believed only once the next packet follows it.
        let ts_jump = stream.highest_timestamp.is_some_and(|high| {
            extend_u32(high, rtp.timestamp()).abs_diff(high) > MAX_TIMESTAMP_JUMP
        });
        let verdict = if ts_jump {
            stream.window.discontinuity(rtp.sequence())
        } else {
            stream.window.accept(rtp.sequence())
        };
        // After a confirmed jump nothing in flight can complete: whatever it
        // misses is now behind the window.
        let discontinuity = matches!(verdict, SeqVerdict::Skip(_) | SeqVerdict::Restart(_));
        let ext_seq = match verdict {
            SeqVerdict::New(ext) => {
                stream.stats.note_sequence(ext);
                ext
            }
            SeqVerdict::Skip(ext) => {
                // A confirmed gap: the skipped packets count as lost. If the
                // timestamp jumped, the new one is the reference from now.
                stream.stats.note_sequence(ext);
                if ts_jump {
                    stream.highest_timestamp = None;
                }
                ext
            }
            SeqVerdict::Restart(ext) => {
                // The sender restarted its numbering: its clock too.
                stream.stats.restart_sequence(ext);
                stream.highest_timestamp = None;
                ext
            }
            SeqVerdict::Duplicate => {
                stream.stats.packets_duplicate += 1;
                return Verdict::Duplicate;
            }
            SeqVerdict::TooOld => {
                stream.stats.packets_received += 1;
                stream.stats.packets_late += 1;
                return Verdict::Late;
            }
            SeqVerdict::Jump => {
                let reason = if ts_jump {
                    InvalidReason::TimestampJump
                } else {
                    InvalidReason::SequenceJump
                };
                self.invalid.add(reason);
                return Verdict::Invalid(reason);
            }
        };
        stream.stats.packets_received += 1;
        stream.last_arrival = now;
        stream
            .stats
            .note_arrival(now.to_rtp_90khz(), rtp.timestamp());
        let reference = stream
            .highest_timestamp
            .unwrap_or((1 << 32) | u64::from(rtp.timestamp()));
        let ext_ts = extend_u32(reference, rtp.timestamp());
        stream.highest_timestamp = Some(reference.max(ext_ts));

        if discontinuity {
            self.drop_assembling_where(DropReason::Lost, |_| true);
        }
        let verdict = self.place(now, rtp, payload, ext_seq, ext_ts);
        self.drop_stale_by_sequence(ext_seq);
        verdict
    }

    /// Drop frames older than `max_frame_age`. Call when
    /// [`poll_timeout`](Self::poll_timeout) says so, or whenever convenient.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// When the oldest frame in flight will expire, if any is in flight.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Assembling)
            .filter_map(|s| s.frame.as_ref())
            .map(|f| f.first_arrival + self.config.max_frame_age)
            .min()
    }

    /// The stream ended: every frame still incomplete is dropped as lost.
    pub fn flush(&mut self) {
        self.drop_assembling_where(DropReason::Lost, |_| true);
    }

    /// Whether a complete frame waits to be taken (so that a caller of
    /// [`take_frame`](Self::take_frame) need not fetch a replacement buffer
    /// for nothing).
    pub fn has_complete_frame(&self) -> bool {
        self.oldest_complete().is_some()
    }

    /// The oldest complete frame, borrowed. Its slot is free again as soon
    /// as the borrow ends.
    #[must_use]
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let index = self.oldest_complete()?;
        let slot = self.slots.get_mut(index)?;
        slot.state = SlotState::Free;
        let frame = slot.frame.take()?;
        let info = frame_info(&frame);
        let jpeg = slot.buffer.as_ref().get(frame.jpeg)?;
        Some(Frame { info, jpeg })
    }

    /// The oldest complete frame with its buffer, which `replacement`
    /// takes over in the slot: zero-copy handoff to another thread. When no
    /// frame is complete, `replacement` comes back as the error.
    pub fn take_frame(&mut self, replacement: B) -> Result<OwnedFrame<B>, B> {
        let Some(index) = self.oldest_complete() else {
            return Err(replacement);
        };
        let Some(slot) = self.slots.get_mut(index) else {
            return Err(replacement);
        };
        let Some(frame) = slot.frame.take() else {
            return Err(replacement);
        };
        slot.state = SlotState::Free;
        let info = frame_info(&frame);
        let buffer = core::mem::replace(&mut slot.buffer, replacement);
        Ok(OwnedFrame {
            info,
            buffer,
            jpeg: frame.jpeg,
        })
    }

    fn oldest_complete(&self) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.state {
                SlotState::Complete { order } => Some((order, i)),
                _ => None,
            })
            .min()
            .map(|(_, i)| i)
    }

    fn slot_state(&self, index: usize) -> Option<SlotState> {
        self.slots.get(index).map(|s| s.state)
    }

    /// Probation of another SSRC: true when `seq` follows the previous
    /// packet seen from it.
    fn confirm_ssrc(&mut self, ssrc: u32, seq: u16) -> bool {
        if self.ssrc_candidate == Some((ssrc, seq)) {
            self.ssrc_candidate = None;
            return true;
        }
        self.ssrc_candidate = Some((ssrc, seq.wrapping_add(1)));
        false
    }

    fn change_stream(&mut self, ssrc: u32, now: Instant) {
        self.drop_assembling_where(DropReason::SsrcChange, |_| true);
        self.retired = self.stream.take().map(|s| s.stats);
        self.stream = Some(StreamState::new(ssrc, now));
    }

    fn expire(&mut self, now: Instant) {
        if self.next_expiry.is_none_or(|at| now <= at) {
            return;
        }
        let max_age = self.config.max_frame_age;
        self.drop_assembling_where(DropReason::Expired, |f| {
            now.saturating_duration_since(f.first_arrival) > max_age
        });
        self.next_expiry = self.poll_timeout();
    }

    /// A frame that has had no packet among the last `reorder_window`
    /// packets cannot complete any more: anything it misses would now be
    /// refused as too late.
    fn drop_stale_by_sequence(&mut self, newest: u64) {
        let window = u64::from(self.config.reorder_window).min(WINDOW_BITS);
        self.drop_assembling_where(DropReason::Lost, |f| {
            newest.saturating_sub(f.highest_seq) > window
        });
    }

    /// Drop, for `reason`, every frame in flight that `doomed` selects.
    fn drop_assembling_where(&mut self, reason: DropReason, doomed: impl Fn(&Assembly) -> bool) {
        for i in 0..N {
            let drop = self.slots.get(i).is_some_and(|s| {
                s.state == SlotState::Assembling && s.frame.as_ref().is_some_and(&doomed)
            });
            if drop {
                self.drop_slot(i, reason);
            }
        }
    }

    fn drop_slot(&mut self, index: usize, reason: DropReason) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        slot.state = SlotState::Free;
        let frame = slot.frame.take();
        if let Some(stream) = self.stream.as_mut() {
            stream.stats.frames_dropped.add(reason);
            if let Some(frame) = frame {
                stream.remember_finished(frame.timestamp, frame.marker_seq);
            }
        }
    }

    /// Find or open the slot for this packet's frame and place the payload.
    fn place(
        &mut self,
        now: Instant,
        rtp: &RtpPacket<'_>,
        payload: &JpegPayload<'_>,
        ext_seq: u64,
        ext_ts: u64,
    ) -> Verdict {
        let timestamp = rtp.timestamp();
        // Frames are told apart by timestamp and, for senders that stamp
        // consecutive frames alike, by the marker: a packet numbered after a
        // frame's marker packet belongs to a later frame.
        let existing = self.slots.iter().position(|s| {
            s.state != SlotState::Free
                && s.frame.as_ref().is_some_and(|f| {
                    f.timestamp == timestamp && f.ssrc == rtp.ssrc() && f.claims(ext_seq)
                })
        });
        let index = match existing {
            Some(i) => {
                if matches!(self.slot_state(i), Some(SlotState::Complete { .. })) {
                    return self.late();
                }
                i
            }
            None => {
                if self.stream.as_ref().is_some_and(|s| {
                    s.finished
                        .iter()
                        .any(|&(t, marker)| t == timestamp && marker.is_none_or(|m| ext_seq <= m))
                }) {
                    return self.late();
                }
                let Some(i) = self.open_slot(ext_ts) else {
                    return self.late();
                };
                let shape = FrameShape {
                    jpeg_type: payload.main.jpeg_type,
                    q: payload.main.q,
                    width: payload.main.width,
                    height: payload.main.height,
                    restart_interval: payload.restart.map_or(0, |r| r.interval),
                };
                let expiry = now + self.config.max_frame_age;
                self.next_expiry = Some(self.next_expiry.map_or(expiry, |e| e.min(expiry)));
                if let Some(slot) = self.slots.get_mut(i) {
                    slot.state = SlotState::Assembling;
                    slot.frame = Some(Assembly {
                        ssrc: rtp.ssrc(),
                        timestamp,
                        extended_timestamp: ext_ts,
                        shape,
                        first_arrival: now,
                        ranges: ArrayVec::new(),
                        end: None,
                        tables: None,
                        has_first_fragment: false,
                        size: None,
                        first_sequence: 0,
                        last_sequence: 0,
                        highest_seq: ext_seq,
                        marker_seq: None,
                        packets: 0,
                        jpeg: 0..0,
                        completed: now,
                    });
                }
                i
            }
        };
        match self.fill(index, rtp, payload, ext_seq) {
            Ok(()) => {}
            Err(reason) => {
                self.drop_slot(index, reason);
                return Verdict::Discarded;
            }
        }
        match self.try_complete(index, now) {
            Ok(true) => Verdict::Completed,
            Ok(false) => Verdict::Accepted,
            Err(reason) => {
                self.drop_slot(index, reason);
                Verdict::Discarded
            }
        }
    }

    fn late(&mut self) -> Verdict {
        if let Some(s) = self.stream.as_mut() {
            s.stats.packets_late += 1;
        }
        Verdict::Late
    }

    /// A free slot, else one made free: the oldest complete frame nobody
    /// took, else the oldest frame in flight if the new frame (extended
    /// timestamp `ext_ts`) is not older still.
    fn open_slot(&mut self, ext_ts: u64) -> Option<usize> {
        let active = match self.config.frames_in_flight {
            0 => N,
            n => n.min(N),
        };
        if let Some(i) = self
            .slots
            .iter()
            .take(active)
            .position(|s| s.state == SlotState::Free)
        {
            return Some(i);
        }
        if let Some(i) = self.oldest_complete() {
            self.drop_slot(i, DropReason::NotTaken);
            return Some(i);
        }
        let (oldest_ts, oldest) = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.frame.as_ref().map(|f| (f.extended_timestamp, i)))
            .min()?;
        // A straggler of a frame older than every frame in flight would
        // push out a newer frame, likelier to complete: refuse it instead.
        if ext_ts < oldest_ts {
            return None;
        }
        self.drop_slot(oldest, DropReason::Evicted);
        Some(oldest)
    }

    /// Copy one fragment into the frame and record it.
    fn fill(
        &mut self,
        index: usize,
        rtp: &RtpPacket<'_>,
        payload: &JpegPayload<'_>,
        ext_seq: u64,
    ) -> Result<(), DropReason> {
        let stream = self.stream.as_mut().ok_or(DropReason::Inconsistent)?;
        let slot = self.slots.get_mut(index).ok_or(DropReason::Inconsistent)?;
        let frame = slot.frame.as_mut().ok_or(DropReason::Inconsistent)?;
        let shape = FrameShape {
            jpeg_type: payload.main.jpeg_type,
            q: payload.main.q,
            width: payload.main.width,
            height: payload.main.height,
            restart_interval: payload.restart.map_or(0, |r| r.interval),
        };
        if shape != frame.shape {
            return Err(DropReason::Inconsistent);
        }
        let start = payload.main.fragment_offset;
        let len = u32::try_from(payload.data.len()).map_err(|_| DropReason::TooLarge)?;
        let end = start + len;
        if frame.end.is_some_and(|e| end > e) {
            return Err(DropReason::Inconsistent);
        }
        if rtp.marker() {
            if frame.ranges.last().is_some_and(|&(_, last)| last > end) {
                return Err(DropReason::Inconsistent);
            }
            frame.end = Some(end);
            frame.last_sequence = rtp.sequence();
            frame.marker_seq = Some(ext_seq);
        }
        // Size: the header, else an ONVIF extension on any fragment.
        if frame.size.is_none() {
            frame.size = match (shape.width, shape.height) {
                (0, _) | (_, 0) => rtp.extension().as_ref().and_then(onvif_frame_size),
                (w, h) => Some((w, h)),
            };
        }
        if start == 0 {
            frame.has_first_fragment = true;
            frame.first_sequence = rtp.sequence();
            frame.tables = Some(resolve_tables(stream, payload)?);
        }
        // In-order arrival, the common case, extends the last range.
        match frame.ranges.last_mut() {
            Some(last) if last.1 == start && start != end => last.1 = end,
            _ => insert_range(&mut frame.ranges, start, end)?,
        }
        let buffer = slot.buffer.as_mut();
        let at = HEADER_RESERVE + start as usize;
        buffer
            .get_mut(at..at + payload.data.len())
            .ok_or(DropReason::TooLarge)?
            .copy_from_slice(payload.data);
        frame.packets += 1;
        frame.highest_seq = frame.highest_seq.max(ext_seq);
        Ok(())
    }

    /// If the frame is whole, write its headers (and EOI if missing) and
    /// mark it complete.
    fn try_complete(&mut self, index: usize, now: Instant) -> Result<bool, DropReason> {
        let config = self.config;
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        let Some(slot) = self.slots.get_mut(index) else {
            return Ok(false);
        };
        let Some(frame) = slot.frame.as_mut() else {
            return Ok(false);
        };
        let Some(end) = frame.end else {
            return Ok(false);
        };
        if !frame.has_first_fragment || frame.ranges.as_slice() != [(0, end)] {
            return Ok(false);
        }
        let (width, height) = frame
            .size
            .or(config.fallback_size)
            .ok_or(DropReason::UnknownSize)?;
        if width == 0 || height == 0 {
            return Err(DropReason::UnknownSize);
        }
        if width > config.max_width || height > config.max_height {
            return Err(DropReason::DimensionsTooLarge);
        }
        let tables = frame.tables.ok_or(DropReason::MissingTables)?;
        let sampling = frame
            .shape
            .jpeg_type
            .sampling()
            .ok_or(DropReason::Inconsistent)?;
        let params = FrameHeaderParams {
            width,
            height,
            sampling,
            restart_interval: frame.shape.restart_interval,
            tables: &tables,
        };
        let buffer = slot.buffer.as_mut();
        let data_end = HEADER_RESERVE + end as usize;
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
        let header_len = jpeg::headers_len(&params);
        let jpeg_start = HEADER_RESERVE - header_len;
        let header_area = buffer
            .get_mut(jpeg_start..HEADER_RESERVE)
            .ok_or(DropReason::TooLarge)?;
        jpeg::write_headers(&params, header_area).map_err(|_| DropReason::TooLarge)?;
        frame.jpeg = jpeg_start..jpeg_end;
        frame.size = Some((width, height));
        frame.completed = now;
        let timestamp = frame.timestamp;
        let marker_seq = frame.marker_seq;
        self.completions += 1;
        slot.state = SlotState::Complete {
            order: self.completions,
        };
        stream.stats.frames_complete += 1;
        stream.stats.width = width;
        stream.stats.height = height;
        stream.remember_finished(timestamp, marker_seq);
        Ok(true)
    }
}

/// The tables of a first fragment: Appendix A for Q < 128, in-band (and
/// then cached) or cached for Q 128..=254, in-band for 255.
fn resolve_tables(
    stream: &mut StreamState,
    payload: &JpegPayload<'_>,
) -> Result<QuantTables, DropReason> {
    let q = payload.main.q;
    if q < 128 {
        return Ok(appendix_a_tables(q));
    }
    let in_band = payload
        .quant
        .map(|h| h.tables())
        .transpose()
        .map_err(|_| DropReason::MissingTables)?
        .flatten();
    match in_band {
        Some(tables) => {
            if q != 255 {
                stream.cache_tables(q, tables);
            }
            Ok(tables)
        }
        None if q != 255 => stream.cached_tables(q).ok_or(DropReason::MissingTables),
        None => Err(DropReason::MissingTables),
    }
}

#[inline]
/// Insert `start..end` into sorted disjoint `ranges`, merging neighbours.
/// Overlap means two fragments claim the same bytes: inconsistent.
fn insert_range(
    ranges: &mut ArrayVec<(u32, u32), MAX_RANGES>,
    start: u32,
    end: u32,
) -> Result<(), DropReason> {
    if start == end {
        return Ok(());
    }
    // Fast path: in-order arrival extends the last range.
    if let Some(last) = ranges.last_mut() {
        if last.1 == start {
            last.1 = end;
            return Ok(());
        }
    }
    let at = ranges
        .iter()
        .position(|&(s, _)| s >= start)
        .unwrap_or(ranges.len());
    let prev = at.checked_sub(1).and_then(|p| ranges.get(p)).copied();
    let next = ranges.get(at).copied();
    if prev.is_some_and(|(_, pe)| pe > start) || next.is_some_and(|(ns, _)| ns < end) {
        return Err(DropReason::Inconsistent);
    }
    let joins_prev = prev.is_some_and(|(_, pe)| pe == start);
    let joins_next = next.is_some_and(|(ns, _)| ns == end);
    match (joins_prev, joins_next) {
        (true, true) => {
            let merged_end = next.map_or(end, |(_, ne)| ne);
            if let Some(p) = at.checked_sub(1).and_then(|p| ranges.get_mut(p)) {
                p.1 = merged_end;
            }
            ranges.pop_at(at);
        }
        (true, false) => {
            if let Some(p) = at.checked_sub(1).and_then(|p| ranges.get_mut(p)) {
                p.1 = end;
            }
        }
        (false, true) => {
            if let Some(n) = ranges.get_mut(at) {
                n.0 = start;
            }
        }
        (false, false) => {
            // Too many holes at once: more reordering than worth tracking.
            ranges
                .try_insert(at, (start, end))
                .map_err(|_| DropReason::Lost)?;
        }
    }
    Ok(())
}

fn frame_info(frame: &Assembly) -> FrameInfo {
    let (width, height) = frame.size.unwrap_or((0, 0));
    FrameInfo {
        ssrc: frame.ssrc,
        timestamp: frame.timestamp,
        extended_timestamp: frame.extended_timestamp,
        first_sequence: frame.first_sequence,
        last_sequence: frame.last_sequence,
        packets: frame.packets,
        width,
        height,
        jpeg_type: frame.shape.jpeg_type,
        q: frame.shape.q,
        restart_interval: frame.shape.restart_interval,
        first_arrival: frame.first_arrival,
        completed: frame.completed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_detect_overlap() {
        let mut r: ArrayVec<(u32, u32), MAX_RANGES> = ArrayVec::new();
        insert_range(&mut r, 10, 20).unwrap();
        insert_range(&mut r, 30, 40).unwrap();
        insert_range(&mut r, 0, 10).unwrap();
        assert_eq!(r.as_slice(), &[(0, 20), (30, 40)]);
        insert_range(&mut r, 20, 30).unwrap();
        assert_eq!(r.as_slice(), &[(0, 40)]);
        assert_eq!(insert_range(&mut r, 35, 45), Err(DropReason::Inconsistent));
        insert_range(&mut r, 50, 60).unwrap();
        assert_eq!(insert_range(&mut r, 45, 51), Err(DropReason::Inconsistent));
        insert_range(&mut r, 40, 50).unwrap();
        assert_eq!(r.as_slice(), &[(0, 60)]);
        insert_range(&mut r, 60, 60).unwrap();
        assert_eq!(r.as_slice(), &[(0, 60)]);
    }
}
