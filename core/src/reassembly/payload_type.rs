//! Which dynamic RTP payload type a stream uses when nothing said so.
//!
//! RFC 2435 has the static payload type 26, but most IP cameras send MJPEG
//! with a dynamic one (96..=127) that only their SDP names. A camera pushed
//! to a plain UDP port has no SDP, so the depacketizer learns it: once
//! [`LOCK_AFTER`] consecutive packets of one dynamic type have parsed as
//! RFC 2435, that type is locked and every other dynamic type is refused
//! (`payload_type`). Until then packets of any dynamic type that parse as
//! RFC 2435 are assembled, but their frames are not handed out: a stray
//! datagram that happens to parse (audio on the same port, garbage from
//! the accepted host) can never become a frame on its own, and frames of
//! PT 26 are never held back by one.

use crate::rtp::PAYLOAD_TYPE_JPEG;
use crate::stats::InvalidReason;

/// Consecutive RFC 2435 packets of one dynamic payload type that lock it.
pub const LOCK_AFTER: u8 = 3;

/// Where the stream's dynamic payload type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PayloadTypeLock {
    /// Configured (SDP, the user): only this one, besides 26.
    Configured(u8),
    /// Not known yet: the candidate and how many consecutive packets
    /// carried it.
    Learning { candidate: Option<u8>, run: u8 },
    /// Learnt from the packets.
    Detected(u8),
}

impl PayloadTypeLock {
    pub(super) fn new(configured: Option<u8>) -> Self {
        match configured {
            Some(pt) => PayloadTypeLock::Configured(pt),
            None => PayloadTypeLock::Learning {
                candidate: None,
                run: 0,
            },
        }
    }

    /// Admit a packet of payload type `pt` that parsed as RFC 2435.
    pub(super) fn admit(&mut self, pt: u8) -> Result<(), InvalidReason> {
        match self {
            // Packets of 26 mean the stream is on the static type: a
            // dynamic candidate seen before was a stray, forget its run.
            PayloadTypeLock::Learning { candidate, run } if pt == PAYLOAD_TYPE_JPEG => {
                *candidate = None;
                *run = 0;
                Ok(())
            }
            _ if pt == PAYLOAD_TYPE_JPEG => Ok(()),
            PayloadTypeLock::Configured(locked) | PayloadTypeLock::Detected(locked) => {
                if pt == *locked {
                    Ok(())
                } else {
                    Err(InvalidReason::PayloadType)
                }
            }
            PayloadTypeLock::Learning { candidate, run } => {
                if *candidate == Some(pt) {
                    *run = run.saturating_add(1);
                } else {
                    *candidate = Some(pt);
                    *run = 1;
                }
                if *run >= LOCK_AFTER {
                    *self = PayloadTypeLock::Detected(pt);
                }
                Ok(())
            }
        }
    }

    /// Whether a frame opened by a packet of payload type `pt` may be
    /// handed out: 26, or the configured or learnt dynamic type; not a
    /// dynamic type still being learnt (nor one that lost to another).
    pub(super) fn releases(&self, pt: u8) -> bool {
        pt == PAYLOAD_TYPE_JPEG || self.dynamic().is_some_and(|(locked, _)| locked == pt)
    }

    /// The dynamic payload type in force, and whether it was learnt.
    pub(super) fn dynamic(&self) -> Option<(u8, bool)> {
        match *self {
            PayloadTypeLock::Configured(pt) => Some((pt, false)),
            PayloadTypeLock::Detected(pt) => Some((pt, true)),
            PayloadTypeLock::Learning { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_admits_26_and_itself_only() {
        let mut lock = PayloadTypeLock::new(Some(96));
        assert_eq!(lock.admit(26), Ok(()));
        assert_eq!(lock.admit(96), Ok(()));
        assert_eq!(lock.admit(97), Err(InvalidReason::PayloadType));
        assert!(lock.releases(96) && lock.releases(26) && !lock.releases(97));
        assert_eq!(lock.dynamic(), Some((96, false)));
    }

    #[test]
    fn learns_after_consecutive_packets_then_refuses_others() {
        let mut lock = PayloadTypeLock::new(None);
        assert!(lock.releases(26));
        // A run broken by another dynamic type starts over.
        for pt in [97, 96, 96, 97] {
            assert_eq!(lock.admit(pt), Ok(()));
            assert!(!lock.releases(pt));
        }
        for _ in 1..LOCK_AFTER {
            assert_eq!(lock.admit(96), Ok(()));
        }
        assert!(!lock.releases(96));
        assert_eq!(lock.admit(96), Ok(()));
        assert!(lock.releases(96) && !lock.releases(97));
        assert_eq!(lock.dynamic(), Some((96, true)));
        assert_eq!(lock.admit(97), Err(InvalidReason::PayloadType));
        assert_eq!(lock.admit(26), Ok(()));
    }

    #[test]
    fn packets_of_26_end_a_dynamic_run() {
        let mut lock = PayloadTypeLock::new(None);
        for pt in [97, 97, 26, 97, 97] {
            assert_eq!(lock.admit(pt), Ok(()));
        }
        assert_eq!(lock.dynamic(), None);
        assert_eq!(lock.admit(97), Ok(()));
        assert_eq!(lock.dynamic(), Some((97, true)));
    }
}
