//! Whether a started camera has heard from its sender: a camera whose
//! datagrams never arrive (wrong destination, a firewall, the wrong
//! expected sender) would otherwise just show nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to report about a camera's first datagrams, from the times the
/// backend passes in.
#[derive(Debug, Clone)]
pub(crate) struct SilenceWatch {
    /// Silence reported after this long; zero never reports.
    after: Duration,
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Nothing from the sender yet. `since` is the first time passed in
    /// (the camera's start as its backend saw it), `foreign` the latest
    /// host whose datagrams were ignored meanwhile.
    Waiting {
        since: Option<Instant>,
        foreign: Option<SocketAddr>,
    },
    /// Reported silent; `since` as above.
    Reported { since: Instant },
    /// The sender was heard: nothing more to say.
    Heard,
}

/// The camera got nothing from its sender for `lasted` (the configured
/// period: the time seen may be a tick longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Silence {
    pub(crate) lasted: Duration,
    /// A host that did send, but is not the expected sender.
    pub(crate) foreign: Option<SocketAddr>,
}

impl SilenceWatch {
    pub(crate) fn new(after: Duration) -> Self {
        SilenceWatch {
            after,
            state: State::Waiting {
                since: None,
                foreign: None,
            },
        }
    }

    /// A datagram from a host other than the expected sender.
    pub(crate) fn on_foreign(&mut self, now: Instant, from: SocketAddr) {
        match &mut self.state {
            State::Waiting { since, foreign } => {
                since.get_or_insert(now);
                *foreign = Some(from);
            }
            State::Reported { .. } | State::Heard => {}
        }
    }

    /// A datagram from the sender (valid RTP or not). After a reported
    /// silence, how long after the start it came: that is worth a line
    /// too.
    pub(crate) fn on_sender(&mut self, now: Instant) -> Option<Duration> {
        let silent_since = match self.state {
            State::Heard => return None,
            State::Waiting { .. } => None,
            State::Reported { since } => Some(since),
        };
        self.state = State::Heard;
        silent_since.map(|since| now.saturating_duration_since(since))
    }

    /// Time passed: the silence, once, when it has lasted long enough.
    pub(crate) fn on_tick(&mut self, now: Instant) -> Option<Silence> {
        let State::Waiting { since, foreign } = &mut self.state else {
            return None;
        };
        let since = *since.get_or_insert(now);
        if self.after.is_zero() || now.saturating_duration_since(since) < self.after {
            return None;
        }
        let foreign = *foreign;
        self.state = State::Reported { since };
        Some(Silence {
            lasted: self.after,
            foreign,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(5);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn silence_is_reported_once_then_its_end() {
        let t0 = Instant::now();
        let mut watch = SilenceWatch::new(AFTER);
        // The clock starts at the first time passed in, not before.
        assert_eq!(watch.on_tick(at(t0, 1000)), None);
        assert_eq!(watch.on_tick(at(t0, 5999)), None);
        let silence = watch.on_tick(at(t0, 6000));
        assert_eq!(
            silence,
            Some(Silence {
                lasted: AFTER,
                foreign: None
            })
        );
        assert_eq!(watch.on_tick(at(t0, 9000)), None);
        assert_eq!(
            watch.on_sender(at(t0, 9500)),
            Some(Duration::from_millis(8500))
        );
        assert_eq!(watch.on_sender(at(t0, 9600)), None);
        assert_eq!(watch.on_tick(at(t0, 60_000)), None);
    }

    #[test]
    fn a_sender_heard_in_time_is_never_reported() {
        let t0 = Instant::now();
        let mut watch = SilenceWatch::new(AFTER);
        assert_eq!(watch.on_tick(t0), None);
        assert_eq!(watch.on_sender(at(t0, 4000)), None);
        assert_eq!(watch.on_tick(at(t0, 60_000)), None);
    }

    #[test]
    fn foreign_datagrams_do_not_end_the_silence_but_are_named() {
        let t0 = Instant::now();
        let stranger: SocketAddr = "10.0.0.7:40000".parse().unwrap();
        let mut watch = SilenceWatch::new(AFTER);
        watch.on_foreign(t0, stranger);
        let silence = watch.on_tick(at(t0, 5000)).expect("reported");
        assert_eq!(silence.foreign, Some(stranger));
        assert_eq!(watch.on_sender(at(t0, 7000)), Some(Duration::from_secs(7)));
    }

    #[test]
    fn zero_never_reports() {
        let t0 = Instant::now();
        let mut watch = SilenceWatch::new(Duration::ZERO);
        assert_eq!(watch.on_tick(t0), None);
        assert_eq!(watch.on_tick(at(t0, 3_600_000)), None);
        assert_eq!(watch.on_sender(at(t0, 3_600_001)), None);
    }
}
