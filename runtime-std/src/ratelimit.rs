//! At most one log line per kind of event per interval, with the number
//! of events left unlogged in between.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct RateLimiter<const K: usize> {
    last: [Option<Instant>; K],
    suppressed: [u64; K],
    interval: Duration,
}

impl<const K: usize> RateLimiter<K> {
    pub(crate) fn new(interval: Duration) -> Self {
        RateLimiter {
            last: [None; K],
            suppressed: [0; K],
            interval,
        }
    }

    /// `Some(events suppressed since the last line)` when a line may be
    /// logged for `key` now; `None` (and one more suppressed) otherwise.
    pub(crate) fn allow(&mut self, key: usize, now: Instant) -> Option<u64> {
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
