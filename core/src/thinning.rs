//! Frame-rate thinning by RTP timestamp: [`Thinning`].
//!
//! A consumer that samples a few frames per second from a 30 fps camera
//! should not pay for decoding the others. Which frames to keep is decided
//! from the frame's RTP timestamp alone, before any decode, so that a
//! capture replayed and the same stream received live keep the same
//! frames whatever the arrival jitter.
//!
//! The grid: the 90 kHz timeline is cut into intervals of `1 / max_fps`
//! seconds counted from RTP timestamp 0 (of the stream's first 32-bit
//! cycle, and on across wrap-around), and the first frame of each
//! interval is kept. A 30 fps stream thinned to 5 keeps one frame in six;
//! thinned to 7 it keeps frames 0, 5, 9, 13, 18... (7 per second, never
//! two in one interval).

use crate::reassembly::FrameInfo;

/// The RTP/JPEG clock rate (RFC 2435 section 3: 90 kHz).
const CLOCK_HZ: u128 = 90_000;

/// Keeps at most `max_fps` frames per second of a stream, on the grid
/// described in the module doc.
///
/// One per camera; it follows SSRC changes (a new stream starts a new
/// grid position) and a timestamp that steps back (a sender that
/// restarted without changing SSRC): the first frame after either is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thinning {
    /// The rate in thousandths of a frame per second, non-zero.
    millihertz: u32,
    /// SSRC and interval of the last frame kept.
    last: Option<(u32, u64)>,
}

impl Thinning {
    /// At most `millihertz / 1000` frames per second; `None` for 0 (no
    /// rate is no thinning to do: the caller keeps every frame).
    pub const fn new(millihertz: u32) -> Option<Self> {
        if millihertz == 0 {
            return None;
        }
        Some(Thinning {
            millihertz,
            last: None,
        })
    }

    /// The rate, in thousandths of a frame per second.
    pub const fn millihertz(&self) -> u32 {
        self.millihertz
    }

    /// Whether the complete frame `info` is kept; remembers it if so.
    /// Call once per complete frame, in the order they are handed out.
    pub fn keep(&mut self, info: &FrameInfo) -> bool {
        let interval = self.interval(info.extended_timestamp);
        let keep = match self.last {
            Some((ssrc, last)) if ssrc == info.ssrc => interval != last,
            _ => true,
        };
        if keep {
            self.last = Some((info.ssrc, interval));
        }
        keep
    }

    /// Which interval of the grid `extended_timestamp` falls in.
    fn interval(&self, extended_timestamp: u64) -> u64 {
        // The depacketizer extends a stream's timestamps from one 32-bit
        // cycle up (room for reordering before the first packet): counted
        // from that cycle, the grid falls on the timestamps as sent, which
        // a capture and a live receiver of the stream share.
        let rtp_time = extended_timestamp.saturating_sub(1 << 32);
        // u64 * u32 fits u128; the quotient is at most the timestamp.
        let scaled = u128::from(rtp_time) * u128::from(self.millihertz);
        u64::try_from(scaled / (CLOCK_HZ * 1000)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of RTP timestamp `rtp_time` (of the first cycle, or
    /// beyond), extended as the depacketizer does.
    fn frame(ssrc: u32, rtp_time: u64) -> FrameInfo {
        FrameInfo::for_test(ssrc, rtp_time, 0)
    }

    /// Timestamps of `frames` frames at `fps` (90 kHz) starting at `start`,
    /// filtered.
    fn kept(max_fps_milli: u32, start: u64, fps: u64, frames: u64) -> [u64; 64] {
        let mut thinning = Thinning::new(max_fps_milli).unwrap();
        let mut out = [u64::MAX; 64];
        let mut n = 0;
        for i in 0..frames {
            let ts = start + i * 90_000 / fps;
            if thinning.keep(&frame(1, ts)) {
                out[n] = ts;
                n += 1;
            }
        }
        out
    }

    fn count(kept: &[u64; 64]) -> usize {
        kept.iter().take_while(|&&t| t != u64::MAX).count()
    }

    #[test]
    fn zero_is_no_thinning() {
        assert!(Thinning::new(0).is_none());
    }

    #[test]
    fn thirty_to_five_keeps_one_in_six() {
        let kept = kept(5000, 0, 30, 60);
        assert_eq!(count(&kept), 10);
        for (i, ts) in kept.iter().take(10).enumerate() {
            assert_eq!(*ts, i as u64 * 18_000);
        }
    }

    #[test]
    fn a_rate_that_does_not_divide_keeps_at_most_that_many_per_second() {
        // 30 -> 7 fps over 2 s: 14 frames, never two in one 1/7 s.
        let kept = kept(7000, 0, 30, 60);
        assert_eq!(count(&kept), 14);
        for pair in kept[..14].windows(2) {
            assert!(pair[1] - pair[0] >= 9000, "{pair:?}");
        }
    }

    #[test]
    fn the_grid_is_absolute_so_a_later_start_keeps_the_same_frames() {
        // A capture that begins 1.1 s into the stream keeps the frames a
        // receiver from the start kept over the same span (after the
        // first interval, which may start mid-way).
        let from_start = kept(5000, 0, 30, 60);
        let later = kept(5000, 33 * 3000, 30, 27);
        let later = &later[1..count(&later)];
        assert!(later.iter().all(|t| from_start.contains(t)), "{later:?}");
    }

    #[test]
    fn fractional_rates_work() {
        // 0.5 fps: one frame every 2 s of a 30 fps stream.
        assert_eq!(count(&kept(500, 0, 30, 60)), 1);
        assert_eq!(count(&kept(500, 0, 30, 61)), 2);
    }

    #[test]
    fn a_new_ssrc_or_a_step_back_is_kept_at_once() {
        let mut thinning = Thinning::new(1000).unwrap();
        assert!(thinning.keep(&frame(1, 90_000)));
        assert!(!thinning.keep(&frame(1, 93_000)));
        assert!(thinning.keep(&frame(2, 93_000)));
        assert!(!thinning.keep(&frame(2, 96_000)));
        // The sender restarted its clock without a new SSRC.
        assert!(thinning.keep(&frame(2, 3_000)));
        assert!(!thinning.keep(&frame(2, 6_000)));
    }

    #[test]
    fn the_largest_timestamps_do_not_overflow() {
        let mut thinning = Thinning::new(u32::MAX).unwrap();
        let mut last = frame(1, 0);
        last.extended_timestamp = u64::MAX;
        assert!(thinning.keep(&last));
        assert!(!thinning.keep(&last));
    }
}
