//! Time without a clock: the caller says what time it is.

use core::time::Duration;

/// A point on the caller's monotonic clock, in microseconds since an epoch
/// the caller chose (boot, process start, first packet: anything monotonic).
///
/// The core never reads a clock; every call that depends on time takes an
/// `Instant` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch of the caller's clock.
    pub const ZERO: Instant = Instant { micros: 0 };

    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1000),
        }
    }

    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// This instant expressed on a 90 kHz RTP clock (the RFC 2435 clock
    /// rate), wrapping like an RTP timestamp. Used for interarrival jitter.
    pub const fn to_rtp_90khz(self) -> u32 {
        // 90_000 ticks per 1_000_000 us == 9 per 100 us.
        (self.micros.wrapping_mul(9) / 100) as u32
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let add = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Instant {
            micros: self.micros.saturating_add(add),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_clock_conversion() {
        assert_eq!(Instant::from_millis(1000).to_rtp_90khz(), 90_000);
        assert_eq!(Instant::from_micros(100).to_rtp_90khz(), 9);
    }

    #[test]
    fn duration_saturates() {
        let a = Instant::from_millis(5);
        let b = Instant::from_millis(7);
        assert_eq!(b.saturating_duration_since(a), Duration::from_millis(2));
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        assert_eq!(a + Duration::from_millis(2), b);
    }
}
