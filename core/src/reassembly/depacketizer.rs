//! The depacketizer: the stream-level decisions (which SSRC, which
//! sequence numbers, which slot a packet goes to, when a frame is dropped)
//! over the frames in flight of [`slot`](super::slot).

use crate::datagram::validate;
use crate::rfc2435::JpegPayload;
use crate::rtp::RtpPacket;
use crate::seq::{extend_u32, SeqVerdict, WINDOW_BITS};
use crate::stats::{DropReason, InvalidCounts, InvalidReason, StreamStats};
use crate::time::Instant;

use super::config::{Config, Verdict, HELD_DATAGRAM_LEN};
use super::frame::{Frame, OwnedFrame};
use super::payload_type::PayloadTypeLock;
use super::slot::{Assembly, Slot, SlotState};
use super::stream::StreamState;

/// Largest timestamp step (either way) taken at face value: 10 s at the
/// 90 kHz RTP clock. Beyond it a packet must be confirmed by its successor.
const MAX_TIMESTAMP_JUMP: u64 = 10 * 90_000;

/// RTP/JPEG depacketizer and frame reassembler for one stream, with `N`
/// frames in flight, each in a caller-provided buffer `B`.
///
/// It follows one RTP stream (one SSRC at a time). Each packet's scan data
/// is copied once, straight to its fragment offset in a frame buffer,
/// behind a reserved gap into which the JPEG headers are written when the
/// frame completes; the finished JPEG is then one contiguous slice of that
/// buffer.
///
/// Jitter buffering without storing packets or waiting: up to `N` frames
/// are in flight at once (each in its own buffer), and a bitmap over recent
/// sequence numbers tells new packets from duplicates. A reordered packet
/// simply lands at its offset whenever it comes. A frame completes the
/// moment its received byte ranges cover `0..end` with no hole and the
/// marker packet fixed `end`; it is dropped, with a
/// [`DropReason`], once it can no longer complete.
///
/// Frames are keyed by SSRC and RTP timestamp, and, for senders that give
/// consecutive frames one timestamp, by the marker packet's sequence
/// number. Whatever would reset the stream is believed only when the
/// packet after it agrees: another SSRC while the current one is alive, a
/// sequence step of a whole window forwards, a timestamp 10 s away. So one
/// stray or forged datagram cannot tear down the frames in flight. The
/// packet that would reset (the first of another SSRC, or the first after
/// a jump) is kept aside (one datagram, up to [`HELD_DATAGRAM_LEN`] bytes,
/// [`Verdict::Held`]) and replayed when the next packet confirms it, so
/// that a sender that restarted without a pause, or a loss burst longer
/// than the window, loses no frame it did not have to; given up (another
/// packet takes its place, the stream goes on without it, it waits longer
/// than `max_frame_age`, or [`flush`](Self::flush)), it is counted
/// (`ssrc_unconfirmed`, `sequence_jump`, `timestamp_jump`).
///
/// Draining contract: after each [`push`](Self::push) (or
/// [`handle_timeout`](Self::handle_timeout)) call
/// [`next_frame`](Self::next_frame) or [`take_frame`](Self::take_frame)
/// until it returns nothing. A complete frame left in its slot is
/// overwritten (and counted `not_taken`) when the slot is needed for a
/// newer frame.
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
    /// The datagram kept aside until its successor confirms it: the one
    /// that made `ssrc_candidate` (its predecessor), or the first after a
    /// jump of the current stream (the window's jump candidate).
    held: Option<Held>,
    /// The dynamic payload type: configured, or being learnt.
    payload_type: PayloadTypeLock,
    /// No frame in flight expires before this: spares scanning the slots on
    /// every packet.
    next_expiry: Option<Instant>,
}

/// A datagram kept aside until its successor confirms it, as it came:
/// the first of an SSRC on probation, or the first after a jump of the
/// current stream's sequence or timestamp.
#[derive(Debug)]
struct Held {
    ssrc: u32,
    sequence: u16,
    at: Instant,
    /// What it is counted as if it is given up: `SsrcUnconfirmed`,
    /// `SequenceJump` or `TimestampJump`.
    reason: InvalidReason,
    bytes: heapless::Vec<u8, HELD_DATAGRAM_LEN>,
}

impl Held {
    /// Held for a jump of the current stream, not for another SSRC.
    fn is_jump(&self) -> bool {
        self.reason != InvalidReason::SsrcUnconfirmed
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>, const N: usize> Depacketizer<B, N> {
    /// A depacketizer using `buffers` as its `N` frame buffers. Each should
    /// be [`frame_buffer_len`](crate::frame_buffer_len) of the largest scan
    /// data expected; a frame that does not fit is dropped as `too_large`.
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
            held: None,
            payload_type: PayloadTypeLock::new(config.dynamic_payload_type),
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
        let pt = rtp.payload_type();
        let was_learnt = self.payload_type.dynamic().is_some();
        if let Err(reason) = self.payload_type.admit(pt) {
            self.invalid.add(reason);
            return Verdict::Invalid(reason);
        }
        let ssrc = rtp.ssrc();
        let mut replayed = None;
        if let Some(current) = self.stream.as_ref() {
            if current.stats.ssrc != Some(ssrc) {
                let silent =
                    now.saturating_duration_since(current.last_arrival) >= self.config.ssrc_silence;
                let confirmed = self.confirm_ssrc(ssrc, rtp.sequence());
                if !silent && !confirmed {
                    return self.hold(now, rtp, InvalidReason::SsrcUnconfirmed);
                }
                // Only a predecessor from this SSRC belongs to this
                // stream: the confirmed candidate's, or one whose
                // successor was lost and that the sender's silence let
                // through.
                let held = if self
                    .held
                    .as_ref()
                    .is_some_and(|h| h.ssrc == ssrc && !h.is_jump())
                {
                    self.held.take()
                } else {
                    self.give_up_held();
                    None
                };
                self.change_stream(ssrc, now);
                replayed = held.map(|held| self.replay(held, now));
            }
        }
        let verdict = self.accept(now, rtp, payload);
        // Frames held while the payload type was being learnt are out now,
        // or the replayed packet completed a frame: say so, so that a
        // caller draining on `Completed` takes them.
        let learnt = !was_learnt && self.payload_type.dynamic().is_some();
        if (learnt || replayed == Some(Verdict::Completed)) && self.has_complete_frame() {
            return Verdict::Completed;
        }
        verdict
    }

    /// Keep a packet that its successor has to confirm aside (the one
    /// held before it, if any, is given up): the first of an SSRC on
    /// probation, or the first after a jump of the current stream. It
    /// touches no frame until it is confirmed; `reason` is what it counts
    /// as if it never is.
    fn hold(&mut self, now: Instant, rtp: &RtpPacket<'_>, reason: InvalidReason) -> Verdict {
        self.give_up_held();
        let mut bytes = heapless::Vec::new();
        if bytes.extend_from_slice(rtp.bytes()).is_err() {
            // Too large to keep: refused at once, as it would have been
            // with nowhere to keep it. The SSRC or the jump can still be
            // confirmed.
            self.invalid.add(reason);
            return Verdict::Invalid(reason);
        }
        self.held = Some(Held {
            ssrc: rtp.ssrc(),
            sequence: rtp.sequence(),
            at: now,
            reason,
            bytes,
        });
        // Given up once it could no longer start a frame that completes.
        let expiry = now + self.config.max_frame_age;
        self.next_expiry = Some(self.next_expiry.map_or(expiry, |e| e.min(expiry)));
        Verdict::Held
    }

    /// The held datagram will not be replayed: count it.
    fn give_up_held(&mut self) {
        if let Some(held) = self.held.take() {
            self.invalid.add(held.reason);
        }
    }

    /// Feed the held datagram to the stream its successor just confirmed
    /// (a new SSRC, or a jump of this one), as it arrived; then drop what
    /// has aged past `max_frame_age` by `now`.
    fn replay(&mut self, held: Held, now: Instant) -> Verdict {
        let verdict = match validate(&held.bytes, self.config.dynamic_payload_type) {
            Ok((rtp, payload)) => self.accept(held.at, &rtp, &payload),
            // It passed when it came, with the same configuration.
            Err(reason) => {
                self.invalid.add(reason);
                Verdict::Invalid(reason)
            }
        };
        self.expire(now);
        verdict
    }

    /// A packet of the current stream (its payload type already admitted):
    /// sequence and timestamp checks, then its frame.
    fn accept(&mut self, now: Instant, rtp: &RtpPacket<'_>, payload: &JpegPayload<'_>) -> Verdict {
        let pt = rtp.payload_type();
        let stream = self
            .stream
            .get_or_insert_with(|| StreamState::new(rtp.ssrc(), now));
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
                // Kept aside: if the next packet follows it (a sender
                // restart, or a loss burst of a window or more), it is
                // replayed after that one, so that its frame is not lost.
                return self.hold(now, rtp, reason);
            }
        };
        // A jump held for this stream whose successor did not come next
        // (the window gave up on it) never will be confirmed: a stray,
        // given up and counted now.
        if !discontinuity && !stream.window.jump_pending() {
            if let Some(stray) = self.held.take_if(|h| h.is_jump() && h.ssrc == rtp.ssrc()) {
                self.invalid.add(stray.reason);
            }
        }
        stream.stats.packets_received += 1;
        stream.stats.payload_type = Some(pt);
        stream.stats.payload_type_detected = self
            .payload_type
            .dynamic()
            .is_some_and(|(_, learnt)| learnt);
        // A replayed jump packet comes after its confirmer with its own,
        // earlier arrival: the stream's last arrival never goes back.
        stream.last_arrival = stream.last_arrival.max(now);
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
        // The jump is confirmed: the packet that announced it (one behind
        // this one) joins its stream now.
        if discontinuity {
            if let Some(held) = self.held.take_if(|h| h.is_jump() && h.ssrc == rtp.ssrc()) {
                if self.replay(held, now) == Verdict::Completed {
                    return Verdict::Completed;
                }
            }
        }
        verdict
    }

    /// Drop frames older than `max_frame_age`. Call when
    /// [`poll_timeout`](Self::poll_timeout) says so, or whenever convenient.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// When the oldest frame in flight (or the held datagram) will
    /// expire, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Assembling)
            .filter_map(|s| s.frame.as_ref())
            .map(|f| f.first_arrival)
            .chain(self.held.as_ref().map(|h| h.at))
            .min()
            .map(|oldest| oldest + self.config.max_frame_age)
    }

    /// The stream ended: every frame still incomplete is dropped as lost,
    /// and a held datagram is counted (`ssrc_unconfirmed`,
    /// `sequence_jump` or `timestamp_jump`).
    pub fn flush(&mut self) {
        self.drop_assembling_where(DropReason::Lost, |_| true);
        self.give_up_held();
        self.ssrc_candidate = None;
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
        let info = frame.info();
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
        let info = frame.info();
        let buffer = core::mem::replace(&mut slot.buffer, replacement);
        Ok(OwnedFrame {
            info,
            buffer,
            jpeg: frame.jpeg,
        })
    }

    fn oldest_complete(&self) -> Option<usize> {
        // Frames of a dynamic payload type still being learnt wait in their
        // slots until it is confirmed (and are overwritten, counted, if it
        // never is).
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match (s.state, &s.frame) {
                (SlotState::Complete { order }, Some(frame))
                    if self.payload_type.releases(frame.payload_type) =>
                {
                    Some((order, i))
                }
                _ => None,
            })
            .min()
            .map(|(_, i)| i)
    }

    fn slot_state(&self, index: usize) -> Option<SlotState> {
        self.slots.get(index).map(|s| s.state)
    }

    /// Probation of another SSRC: true when `seq` follows the previous
    /// packet seen from it, or comes right before the one held for it
    /// (the two came swapped).
    fn confirm_ssrc(&mut self, ssrc: u32, seq: u16) -> bool {
        let before_held = self
            .held
            .as_ref()
            .is_some_and(|h| !h.is_jump() && h.ssrc == ssrc && h.sequence == seq.wrapping_add(1));
        if self.ssrc_candidate == Some((ssrc, seq)) || before_held {
            self.ssrc_candidate = None;
            return true;
        }
        self.ssrc_candidate = Some((ssrc, seq.wrapping_add(1)));
        false
    }

    fn change_stream(&mut self, ssrc: u32, now: Instant) {
        self.ssrc_candidate = None;
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
        // A held datagram this old could only open a frame that expires
        // at once: given up. If it was another SSRC's first packet, that
        // SSRC starts probation afresh (a jump's hold leaves another
        // SSRC's probation alone).
        if let Some(stale) = self
            .held
            .take_if(|h| now.saturating_duration_since(h.at) > max_age)
        {
            if !stale.is_jump() {
                self.ssrc_candidate = None;
            }
            self.invalid.add(stale.reason);
        }
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
                if self
                    .stream
                    .as_ref()
                    .is_some_and(|s| s.is_finished(timestamp, ext_seq))
                {
                    return self.late();
                }
                let Some(i) = self.open_slot(ext_ts) else {
                    return self.late();
                };
                let expiry = now + self.config.max_frame_age;
                self.next_expiry = Some(self.next_expiry.map_or(expiry, |e| e.min(expiry)));
                if let Some(slot) = self.slots.get_mut(i) {
                    slot.state = SlotState::Assembling;
                    slot.frame = Some(Assembly::new(
                        rtp.ssrc(),
                        timestamp,
                        ext_ts,
                        ext_seq,
                        payload,
                        rtp.payload_type(),
                        now,
                    ));
                }
                i
            }
        };
        // Copy the fragment into its frame and record it.
        let filled = match (self.stream.as_mut(), self.slots.get_mut(index)) {
            (Some(stream), Some(slot)) => slot.fill(stream, rtp, payload, ext_seq),
            _ => Err(DropReason::Inconsistent),
        };
        if let Err(reason) = filled {
            self.drop_slot(index, reason);
            return Verdict::Discarded;
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

    /// If the frame is whole, complete it: its JPEG is ready to be taken.
    fn try_complete(&mut self, index: usize, now: Instant) -> Result<bool, DropReason> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        let Some(slot) = self.slots.get_mut(index) else {
            return Ok(false);
        };
        let completed = slot.try_complete(stream, &self.config, now, self.completions + 1)?;
        if completed {
            self.completions += 1;
        }
        Ok(completed)
    }
}
