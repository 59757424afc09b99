//! Whether a camera whose datagrams arrive makes frames of them: a
//! sender whose every frame is refused (a firmware quirk, a payload
//! type nobody configured, frames larger than the buffers) would
//! otherwise show packets counted and nothing else.

use std::fmt;
use std::time::{Duration, Instant};

use mjpeg_rtp_core::{InvalidCounts, StreamStats};

/// Reasons named in the warning besides the main one.
const MORE_REASONS: usize = 2;

/// What to report about a camera that receives but completes no frame,
/// from the counters and times the backend passes in.
#[derive(Debug, Clone)]
pub(crate) struct NoFrameWatch {
    /// Reported after datagrams have come for this long with no frame;
    /// zero never reports.
    after: Duration,
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// No datagram from the sender yet.
    Idle,
    /// Datagrams since `since`, no complete frame.
    Receiving { since: Instant },
    /// Reported, or a frame completed: nothing more to say.
    Done,
}

/// Datagrams came for `lasted` and not one frame completed; why, by
/// the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoFrame {
    pub(crate) lasted: Duration,
    /// Datagrams from the sender that reached the depacketizer.
    pub(crate) datagrams: u64,
    /// Non-zero counters, `(count, what, reason)`: frames dropped first
    /// (a drop is what keeps frames from completing; the packets of a
    /// dropped frame that come after it are `late` as a consequence),
    /// then invalid datagrams, then late packets; largest first within
    /// each.
    pub(crate) reasons: Vec<(u64, &'static str, &'static str)>,
}

impl NoFrameWatch {
    pub(crate) fn new(after: Duration) -> Self {
        NoFrameWatch {
            after,
            state: State::Idle,
        }
    }

    /// Time passed; `stats` and `invalid` are the depacketizer's
    /// counters now. The report, once, when datagrams have come for
    /// `after` without a frame.
    pub(crate) fn on_tick(
        &mut self,
        now: Instant,
        stats: &StreamStats,
        invalid: &InvalidCounts,
    ) -> Option<NoFrame> {
        if stats.frames_complete > 0 || self.after.is_zero() {
            self.state = State::Done;
        }
        let datagrams = stats.packets_received + stats.packets_duplicate + invalid.total();
        let since = match self.state {
            State::Done => return None,
            State::Idle if datagrams == 0 => return None,
            State::Idle => {
                self.state = State::Receiving { since: now };
                return None;
            }
            State::Receiving { since } => since,
        };
        if now.saturating_duration_since(since) < self.after {
            return None;
        }
        self.state = State::Done;
        let mut ranked: Vec<_> = stats
            .frames_dropped
            .iter()
            .map(|(r, n)| (0, n, "frames dropped", r.name()))
            .chain(
                invalid
                    .iter()
                    .map(|(r, n)| (1, n, "datagrams invalid", r.name())),
            )
            .chain(Some((2, stats.packets_late, "packets", "late")).filter(|r| r.1 > 0))
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        Some(NoFrame {
            lasted: self.after,
            datagrams,
            reasons: ranked.into_iter().map(|(_, n, w, r)| (n, w, r)).collect(),
        })
    }
}

impl fmt::Display for NoFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} packets, 0 frames in {:?}",
            self.datagrams, self.lasted
        )?;
        let mut reasons = self.reasons.iter();
        match reasons.next() {
            Some((n, what, reason)) => write!(f, ": {n} {what} `{reason}`")?,
            None => write!(f, ": none dropped yet (frames never finish)")?,
        }
        for (i, (n, what, reason)) in reasons.take(MORE_REASONS).enumerate() {
            let sep = if i == 0 { "; also" } else { "," };
            write!(f, "{sep} {n} {what} `{reason}`")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mjpeg_rtp_core::{DropReason, InvalidReason};

    const AFTER: Duration = Duration::from_secs(5);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// The ESP32-CAM case: every frame dropped at its second packet.
    fn esp32_like(packets: u64, frames: u64) -> StreamStats {
        let mut stats = StreamStats::default();
        stats.packets_received = packets;
        stats.packets_late = packets - 2 * frames;
        for _ in 0..frames {
            stats.frames_dropped.add(DropReason::Inconsistent);
        }
        stats
    }

    #[test]
    fn datagrams_without_a_frame_are_reported_once_with_the_main_reason() {
        let t0 = Instant::now();
        let none = InvalidCounts::default();
        let mut watch = NoFrameWatch::new(AFTER);
        // Nothing yet: the clock has not started.
        assert_eq!(watch.on_tick(t0, &StreamStats::default(), &none), None);
        assert_eq!(watch.on_tick(at(t0, 1000), &esp32_like(20, 1), &none), None);
        assert_eq!(
            watch.on_tick(at(t0, 5999), &esp32_like(300, 13), &none),
            None
        );
        let mut invalid = InvalidCounts::default();
        invalid.add(InvalidReason::PayloadType);
        let report = watch
            .on_tick(at(t0, 6000), &esp32_like(722, 35), &invalid)
            .expect("reported");
        assert_eq!(report.datagrams, 723);
        assert_eq!(
            report.to_string(),
            "723 packets, 0 frames in 5s: 35 frames dropped `inconsistent`; also 1 \
             datagrams invalid `payload_type`, 652 packets `late`"
        );
        assert_eq!(
            watch.on_tick(at(t0, 60_000), &esp32_like(9000, 400), &none),
            None
        );
    }

    #[test]
    fn a_frame_in_time_or_zero_never_reports() {
        let t0 = Instant::now();
        let none = InvalidCounts::default();
        let mut watch = NoFrameWatch::new(AFTER);
        assert_eq!(watch.on_tick(t0, &esp32_like(20, 1), &none), None);
        let mut one = esp32_like(100, 4);
        one.frames_complete = 1;
        assert_eq!(watch.on_tick(at(t0, 3000), &one, &none), None);
        assert_eq!(
            watch.on_tick(at(t0, 60_000), &esp32_like(9000, 400), &none),
            None
        );

        let mut watch = NoFrameWatch::new(Duration::ZERO);
        assert_eq!(watch.on_tick(t0, &esp32_like(20, 1), &none), None);
        assert_eq!(
            watch.on_tick(at(t0, 60_000), &esp32_like(900, 40), &none),
            None
        );
    }

    #[test]
    fn nothing_dropped_yet_says_so() {
        let t0 = Instant::now();
        let none = InvalidCounts::default();
        let mut stats = StreamStats::default();
        stats.packets_received = 50;
        let mut watch = NoFrameWatch::new(AFTER);
        assert_eq!(watch.on_tick(t0, &stats, &none), None);
        let report = watch.on_tick(at(t0, 5000), &stats, &none).unwrap();
        assert_eq!(
            report.to_string(),
            "50 packets, 0 frames in 5s: none dropped yet (frames never finish)"
        );
    }
}
