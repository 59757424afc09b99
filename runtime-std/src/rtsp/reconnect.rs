//! Setting a lost session up again: attempts spaced by exponential
//! backoff with jitter until one plays or the client stops, each failure
//! logged with its cause. The camera's sockets (and the multicast group
//! they joined) carry over to the new session.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mjpeg_rtp_rtsp::Negotiated;

use super::{Link, POLL};
use crate::camera::CameraShared;
use crate::error::Error;
use crate::rtcp::Route;

/// First wait before setting a lost session up again; doubled after
/// every failed attempt up to [`RECONNECT_BACKOFF_MAX`].
const RECONNECT_BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// Longest wait between attempts: a camera that is down for long is
/// asked twice a minute, not in a storm.
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Link {
    /// Set the session up again, with backoff between attempts, until it
    /// plays (`Some`) or `stop` is set (`None`).
    pub(super) fn reconnect(&mut self, stop: &AtomicBool, shared: &CameraShared) -> Option<Link> {
        let mut backoff = Backoff::new();
        loop {
            if !sleep_unless_stopped(backoff.next_delay(), stop) {
                return None;
            }
            let mut link = match Link::connect(&self.config, &self.source_url, self.transport) {
                Ok(link) => link,
                Err(e) => {
                    log::warn!("{}", reconnect_failed(&e));
                    continue;
                }
            };
            // The sockets (and the group they joined) stay: the receive
            // path reads them.
            link.rtcp = self.rtcp.as_ref().and_then(|s| s.try_clone().ok());
            link.rtp = self.rtp.as_ref().and_then(|s| s.try_clone().ok());
            link.membership = self.membership;
            let attempt = link.until_playing(stop, Some(shared));
            // A failed attempt may still have moved the sockets to a new
            // group: the next one starts from where they are.
            (self.membership, self.transport) = (link.membership, link.transport);
            match attempt.map(|(_, negotiated)| (link, negotiated)) {
                Ok((mut link, negotiated)) => {
                    link.route = Route::of(&negotiated, link.peer);
                    // The new session may name another sender: a server
                    // behind a new address (a multicast `source=` was
                    // taken when the group was joined).
                    if let Negotiated::Udp { .. } = negotiated {
                        shared.set_sender(Some(link.peer.ip()));
                    }
                    if let (
                        Negotiated::Udp {
                            server_port: Some((rtp, rtcp)),
                            ..
                        },
                        Some(a),
                        Some(b),
                    ) = (&negotiated, &link.rtp, &link.rtcp)
                    {
                        let _ = a.send_to(&[0; 4], (link.peer.ip(), *rtp));
                        let _ = b.send_to(&[0; 4], (link.peer.ip(), *rtcp));
                    }
                    return Some(link);
                }
                Err(e) => log::warn!("{}", reconnect_failed(&e)),
            }
        }
    }
}

/// The warning for a failed reconnect attempt, with every cause of the
/// error ("connection refused", "401 ...", "no answer to OPTIONS in
/// time"): `Error`'s own text names the camera and URL only.
fn reconnect_failed(error: &Error) -> String {
    let mut text = format!("reconnect failed: {error}");
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        text += &format!(": {e}");
        cause = e.source();
    }
    text
}

/// Exponential backoff with jitter: each delay is drawn from the upper
/// half of the current step ("equal jitter"), so that cameras that lost
/// their sessions together do not all come back in the same instant.
struct Backoff {
    step: Duration,
    state: u64,
}

impl Backoff {
    fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // Seeded per instance by std's random hasher keys: no RNG crate
        // for one number per attempt.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        Backoff {
            step: RECONNECT_BACKOFF_INITIAL,
            state: h.finish() | 1,
        }
    }

    fn next_delay(&mut self) -> Duration {
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let unit = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        let delay = self.step.mul_f64(0.5 + 0.5 * unit);
        self.step = (self.step * 2).min(RECONNECT_BACKOFF_MAX);
        delay
    }
}

/// Sleep `delay` in short slices; `false` if `stop` was set meanwhile.
fn sleep_unless_stopped(delay: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + delay;
    while !stop.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(POLL));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn reconnect_warnings_say_why() {
        let refused = Error::RtspIo {
            camera: "door".into(),
            url: "rtsp://cam/live".into(),
            source: io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(
            reconnect_failed(&refused),
            "reconnect failed: camera \"door\": RTSP connection to rtsp://cam/live: \
             connection refused"
        );
        let timed_out = Error::Rtsp {
            camera: "door".into(),
            error: mjpeg_rtp_rtsp::Error::Timeout { method: "OPTIONS" },
        };
        assert!(reconnect_failed(&timed_out).ends_with("no answer to OPTIONS in time"));
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new();
        let mut step = RECONNECT_BACKOFF_INITIAL;
        for _ in 0..12 {
            let d = b.next_delay();
            assert!(d >= step / 2 && d <= step, "{d:?} for step {step:?}");
            step = (step * 2).min(RECONNECT_BACKOFF_MAX);
        }
        assert_eq!(b.step, RECONNECT_BACKOFF_MAX);
        // Two cameras do not draw the same delays.
        let (mut x, mut y) = (Backoff::new(), Backoff::new());
        assert!((0..4).any(|_| x.next_delay() != y.next_delay()));
    }
}
