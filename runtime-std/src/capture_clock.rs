//! The RTCP state a camera's threads share: the capture clock (the
//! stream sender's NTP <-> RTP mapping), read by the decode workers once
//! per frame, and the RTCP counters. It sits in the camera's shared state
//! and imports nothing of the camera or of [`crate::rtcp`], which reads
//! the camera: the two halves then never import each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use mjpeg_rtp_rtsp::rtcp::{SenderClock, SenderReport};

/// RTCP counters of one camera.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RtcpStats {
    /// Compound RTCP packets received (any sender, any type).
    pub packets: u64,
    /// Compound packets refused as malformed (truncated, not version 2).
    pub invalid: u64,
    /// Sender reports of the stream's sender, taken for the capture clock.
    pub sender_reports: u64,
    /// Sender reports ignored: for another SSRC than the stream's, before
    /// its first RTP packet, or from another host than the camera's.
    pub sender_reports_ignored: u64,
    /// Receiver reports sent to the camera.
    pub receiver_reports: u64,
    /// Our packets refused for RTSP interleaving: longer than an
    /// interleaved frame's 65535 bytes (sent cut, they would be corrupt).
    pub interleaved_too_long: u64,
    /// Whether frames get a capture time now: two consecutive sender
    /// reports agreed and no clock jump withdrew it since.
    pub clock_trusted: bool,
}

/// The sender clock of the stream whose SSRC it was fed.
#[derive(Debug, Default)]
struct CaptureClock {
    ssrc: Option<u32>,
    clock: SenderClock,
}

/// The RTCP state a camera's threads share.
#[derive(Debug, Default)]
pub(crate) struct RtcpShared {
    clock: Mutex<CaptureClock>,
    pub(crate) packets: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) sender_reports: AtomicU64,
    pub(crate) sender_reports_ignored: AtomicU64,
    pub(crate) receiver_reports: AtomicU64,
    pub(crate) interleaved_too_long: AtomicU64,
}

impl RtcpShared {
    /// Wall-clock capture time of RTP timestamp `timestamp` of stream
    /// `ssrc`, once its sender's reports agree.
    pub(crate) fn capture_time(&self, ssrc: u32, timestamp: u32) -> Option<SystemTime> {
        let c = self.clock.lock().unwrap_or_else(PoisonError::into_inner);
        c.ssrc
            .filter(|&s| s == ssrc)
            .and_then(|_| c.clock.capture_time(timestamp))
    }

    pub(crate) fn on_sender_report(&self, sr: SenderReport) {
        let mut c = self.clock.lock().unwrap_or_else(PoisonError::into_inner);
        if c.ssrc != Some(sr.ssrc) {
            // A new stream: its clock starts unproven.
            *c = CaptureClock::default();
            c.ssrc = Some(sr.ssrc);
        }
        c.clock.on_sender_report(sr);
    }

    pub(crate) fn snapshot(&self) -> RtcpStats {
        let c = self.clock.lock().unwrap_or_else(PoisonError::into_inner);
        RtcpStats {
            packets: self.packets.load(Ordering::Relaxed),
            invalid: self.invalid.load(Ordering::Relaxed),
            sender_reports: self.sender_reports.load(Ordering::Relaxed),
            sender_reports_ignored: self.sender_reports_ignored.load(Ordering::Relaxed),
            receiver_reports: self.receiver_reports.load(Ordering::Relaxed),
            interleaved_too_long: self.interleaved_too_long.load(Ordering::Relaxed),
            clock_trusted: c.ssrc.is_some() && c.clock.capture_time(0).is_some(),
        }
    }
}
