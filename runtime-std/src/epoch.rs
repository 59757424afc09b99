//! The client's time origin, against which std [`Instant`]s become the
//! core's microsecond [`mjpeg_rtp_core::Instant`]s.

use std::time::{Duration, Instant};

/// One per client, so that every camera's core speaks the same time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epoch(Instant);

impl Epoch {
    pub(crate) fn new() -> Self {
        Epoch(Instant::now())
    }

    pub(crate) fn to_core(self, t: Instant) -> mjpeg_rtp_core::Instant {
        let micros = t.saturating_duration_since(self.0).as_micros();
        mjpeg_rtp_core::Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    pub(crate) fn to_std(self, t: mjpeg_rtp_core::Instant) -> Instant {
        self.0 + Duration::from_micros(t.as_micros())
    }
}
