//! At most one log line per kind of event per interval, with the number
//! of events left unlogged in between.

use std::time::{Duration, Instant};

/// The runtime's interval for rate-limited warnings: at most one line per
/// kind of event per second, per camera.
pub const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// At most one log line per kind of event per interval.
///
/// `K` kinds, numbered `0..K` by the caller; time is passed in, so that a
/// receive loop uses the arrival time it already has.
#[derive(Debug, Clone)]
pub struct RateLimiter<const K: usize> {
    last: [Option<Instant>; K],
    suppressed: [u64; K],
    interval: Duration,
}

impl<const K: usize> RateLimiter<K> {
    /// At most one line per kind per `interval`.
    pub fn new(interval: Duration) -> Self {
        RateLimiter {
            last: [None; K],
            suppressed: [0; K],
            interval,
        }
    }

    /// `Some(events suppressed since the last line)` when a line may be
    /// logged for `key` now; `None` (and one more suppressed) otherwise,
    /// and always `None` for a `key` not below `K`.
    pub fn allow(&mut self, key: usize, now: Instant) -> Option<u64> {
        let (Some(last), Some(suppressed)) = (self.last.get_mut(key), self.suppressed.get_mut(key))
        else {
            return None;
        };
        match *last {
            Some(t) if now.saturating_duration_since(t) < self.interval => {
                *suppressed += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval() {
        let mut r = RateLimiter::<2>::new(Duration::from_secs(1));
        let t = Instant::now();
        assert_eq!(r.allow(0, t), Some(0));
        assert_eq!(r.allow(0, t + Duration::from_millis(10)), None);
        assert_eq!(r.allow(0, t + Duration::from_millis(20)), None);
        assert_eq!(r.allow(1, t), Some(0));
        assert_eq!(r.allow(0, t + Duration::from_secs(2)), Some(2));
        assert_eq!(r.allow(5, t), None);
    }
}
