//! Frames handed out in RTP timestamp order: [`TimestampOrder`].
//!
//! The depacketizer hands out each frame as it completes, without
//! waiting. A frame whose last packet came late (reordered past the next
//! frame's packets) completes after a newer frame: handing it out then
//! would put it out of order. Such a straggler is recognised by two
//! things at once: its timestamp is older than the last frame handed out,
//! and its last packet is among the packets just before that frame's
//! (within the reorder window). A frame older by timestamp but far away
//! by sequence number is not a straggler but a sender that restarted its
//! clock and counters without a new SSRC (ESP32 firmware does on every
//! session): it starts the order afresh.

use crate::reassembly::FrameInfo;

/// Admits complete frames of one camera in RTP timestamp order (see the
/// module doc). Equal timestamps are in order: some senders stamp
/// several frames alike (GStreamer fed untimestamped buffers, ESP32
/// firmware's first frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOrder {
    /// How far back (in packets) a straggler's last packet can be: the
    /// depacketizer's reorder window.
    window: u16,
    /// SSRC, extended timestamp and last sequence number of the last
    /// frame admitted.
    last: Option<(u32, u64, u16)>,
}

impl TimestampOrder {
    /// For a depacketizer whose reorder window is `window` packets.
    pub const fn new(window: u16) -> Self {
        TimestampOrder { window, last: None }
    }

    /// Whether `info` may be handed out now; remembers it if so. `false`
    /// for a straggler older than a frame already handed out.
    pub fn admit(&mut self, info: &FrameInfo) -> bool {
        if let Some((ssrc, timestamp, sequence)) = self.last {
            let behind = sequence.wrapping_sub(info.last_sequence);
            if ssrc == info.ssrc && info.extended_timestamp < timestamp && behind <= self.window {
                return false;
            }
        }
        self.last = Some((info.ssrc, info.extended_timestamp, info.last_sequence));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ssrc: u32, rtp_time: u64, last_sequence: u16) -> FrameInfo {
        FrameInfo::for_test(ssrc, rtp_time, last_sequence)
    }

    #[test]
    fn a_straggler_is_refused_and_newer_frames_pass() {
        let mut order = TimestampOrder::new(64);
        assert!(order.admit(&frame(1, 3000, 19)));
        // 9000 completed before 6000, whose last packet came late.
        assert!(order.admit(&frame(1, 9000, 39)));
        assert!(!order.admit(&frame(1, 6000, 29)));
        assert!(order.admit(&frame(1, 12_000, 49)));
    }

    #[test]
    fn equal_timestamps_are_in_order() {
        let mut order = TimestampOrder::new(64);
        assert!(order.admit(&frame(1, 0, 9)));
        assert!(order.admit(&frame(1, 0, 19)));
        assert!(order.admit(&frame(1, 0, 29)));
    }

    #[test]
    fn a_sender_that_restarts_its_clock_and_counters_is_followed() {
        let mut order = TimestampOrder::new(64);
        assert!(order.admit(&frame(7, 1_800_000, 13_000)));
        // Same SSRC, timestamp and sequence back at 0 (ESP32 firmware on
        // a new session): far behind by sequence, so not a straggler.
        assert!(order.admit(&frame(7, 0, 9)));
        assert!(order.admit(&frame(7, 3000, 19)));
        assert!(!order.admit(&frame(7, 0, 9)));
    }

    #[test]
    fn a_new_ssrc_starts_afresh_and_sequence_wrap_is_followed() {
        let mut order = TimestampOrder::new(64);
        assert!(order.admit(&frame(1, 90_000, 100)));
        assert!(order.admit(&frame(2, 3000, 110)));
        // Across the 16-bit sequence wrap, a straggler is still one.
        assert!(order.admit(&frame(2, 9000, 5)));
        assert!(!order.admit(&frame(2, 6000, 65_530)));
    }
}
