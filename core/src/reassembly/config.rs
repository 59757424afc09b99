//! What the depacketizer is told (its settings) and what it answers for
//! each datagram.

use core::time::Duration;

use crate::stats::InvalidReason;

/// Receiver settings. `Default` is safe for any camera up to 4K.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The dynamic payload type (96..=127) accepted besides the static 26,
    /// when the SDP or the user names it. `None` (no SDP: plain UDP) learns
    /// it from the stream: the first dynamic type that
    /// [`PAYLOAD_TYPE_LOCK_AFTER`](crate::PAYLOAD_TYPE_LOCK_AFTER)
    /// consecutive RFC 2435 packets carry is locked, others are refused.
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
    /// tear down the frames in flight. The first of the two is kept aside
    /// (up to [`HELD_DATAGRAM_LEN`] bytes) and fed to the new stream once
    /// the second confirms it, so its frame is not cut.
    pub ssrc_silence: Duration,
}

/// The largest datagram kept aside while its SSRC is on probation (see
/// [`Config::ssrc_silence`]) or its sequence or timestamp jump waits to
/// be confirmed: an Ethernet MTU, more than any RTP packet that crosses
/// Ethernet unfragmented. A larger one is refused at once
/// (`ssrc_unconfirmed`, `sequence_jump` or `timestamp_jump`).
pub const HELD_DATAGRAM_LEN: usize = 1500;

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
    /// From another SSRC while the current stream is alive, or a jump of
    /// the current stream's sequence or timestamp: kept aside, touching no
    /// frame. If the next packet from that SSRC follows it, the SSRC (or
    /// the jump) is confirmed and this packet is fed to the stream (just
    /// before its confirmer for a new SSRC, just after it for a jump;
    /// counted there); otherwise it is given up and counted
    /// `ssrc_unconfirmed` (or `sequence_jump`, `timestamp_jump`): when
    /// another packet takes its place, when the stream goes on without it,
    /// after `max_frame_age`, or at [`flush`](super::Depacketizer::flush).
    Held,
}
