//! When a receive loop should wait a little before its next read, so
//! that a trickling frame's packets are taken together (shared by the
//! std backend and io_uring's).
//!
//! Some senders trickle a frame's packets, each a little after the last,
//! slower than a receive thread wakes (gst-rtsp-server, a camera on a
//! 100 Mbit/s link, ESP32 over Wi-Fi): woken per packet, the thread pays
//! a context switch for each. So once a socket's reads have taken a
//! packet or two at a time twice within one frame, the loop waits a
//! little before each read until the frame's last packet (RTP marker)
//! arrives, and takes what queued meanwhile at once. A sender whose
//! frame comes in one burst is read as it arrives; so is a camera
//! between frames. How the loop waits (a sleep, a ring's minimum-wait
//! timer) is its own.

use std::time::Duration;

use mjpeg_rtp_core::rtp::RtpPacket;

/// A read that takes at most this many datagrams found the thread
/// waking about once per packet.
const SMALL_READ: usize = 2;

/// One socket's lingering state: feed it every datagram a read took
/// ([`Linger::on_datagram`]), then ask after the read
/// ([`Linger::end_read`]).
#[derive(Debug, Clone)]
pub struct Linger {
    enabled: bool,
    batch: usize,
    /// Reads within the current frame that took a packet or two.
    small_reads: u32,
    /// Datagrams the current read took so far.
    taken: usize,
    /// The last of them left its frame open (its marker not seen).
    inside_frame: bool,
    /// The verdict of the last read that took anything.
    lingering: bool,
}

impl Linger {
    /// `pause`: how long the loop waits (zero: never linger); `batch`:
    /// datagrams one read takes at most (a full read means more is
    /// queued already, so no wait follows it).
    pub fn new(pause: Duration, batch: usize) -> Self {
        Linger {
            enabled: !pause.is_zero(),
            batch,
            small_reads: 0,
            taken: 0,
            inside_frame: false,
            lingering: false,
        }
    }

    /// Count one datagram of the current read, in arrival order.
    pub fn on_datagram(&mut self, datagram: &[u8]) {
        self.taken += 1;
        self.inside_frame = RtpPacket::parse(datagram).is_ok_and(|p| !p.marker());
    }

    /// The read ended: whether to wait before the next one. A read that
    /// took nothing changes nothing (the last verdict stands).
    #[must_use]
    pub fn end_read(&mut self) -> bool {
        let taken = std::mem::take(&mut self.taken);
        if taken > 0 {
            self.lingering = self.after_read(taken, self.inside_frame);
        }
        self.lingering
    }

    /// The socket went quiet for a while: whatever frame was trickling
    /// will not go on (its end was lost), so stop lingering for it.
    pub fn on_silence(&mut self) {
        self.small_reads = 0;
        self.lingering = false;
    }

    /// After a read that took `taken` datagrams, the last of them inside
    /// a frame (its marker not seen) or not: whether to wait before the
    /// next read.
    fn after_read(&mut self, taken: usize, inside_frame: bool) -> bool {
        if !inside_frame {
            self.small_reads = 0;
            return false;
        }
        if taken <= SMALL_READ {
            // Saturating: a sender that never marks a frame's end keeps
            // the count rising for as long as it sends.
            self.small_reads = self.small_reads.saturating_add(1);
        }
        // A full batch means more is queued already. One small read
        // alone is how a burst starts: the thread wakes on its first
        // packet.
        self.enabled && taken < self.batch && self.small_reads >= 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A frame that comes in one burst, however the reads cut it, is
    /// never lingered for.
    #[test]
    fn a_burst_is_read_as_it_arrives() {
        let mut linger = Linger::new(MS, 32);
        assert!(!linger.after_read(1, true));
        assert!(!linger.after_read(32, true));
        assert!(!linger.after_read(20, false));
        // The next frame starts the count again.
        assert!(!linger.after_read(2, true));
        assert!(!linger.after_read(30, false));
    }

    /// Packets that trickle: after the second small read of a frame the
    /// loop lingers after every read until the frame's last packet.
    #[test]
    fn a_trickle_is_taken_in_pauses_until_the_frame_ends() {
        let mut linger = Linger::new(MS, 32);
        assert!(!linger.after_read(1, true));
        assert!(linger.after_read(1, true));
        assert!(linger.after_read(12, true));
        assert!(linger.after_read(9, true));
        // A full batch: more is queued, no pause.
        assert!(!linger.after_read(32, true));
        assert!(!linger.after_read(3, false));
        assert!(!linger.after_read(1, true));
    }

    /// No pause when lingering is off, or with one datagram per read
    /// (every read is a full batch then).
    #[test]
    fn lingering_off_or_one_datagram_per_read_never_pauses() {
        let mut off = Linger::new(Duration::ZERO, 32);
        let mut single = Linger::new(MS, 1);
        for _ in 0..5 {
            assert!(!off.after_read(1, true));
            assert!(!single.after_read(1, true));
        }
    }

    fn rtp(marker: bool) -> [u8; 12] {
        let mut packet = [0u8; 12];
        packet[0] = 0x80;
        packet[1] = 26 | if marker { 0x80 } else { 0 };
        packet
    }

    /// Fed datagram by datagram: the marker of a read's last datagram
    /// decides; an empty read keeps the verdict; silence ends it.
    #[test]
    fn datagrams_and_reads_feed_the_same_rule() {
        let mut linger = Linger::new(MS, 32);
        for _ in 0..2 {
            linger.on_datagram(&rtp(false));
        }
        assert!(!linger.end_read());
        linger.on_datagram(&rtp(false));
        assert!(linger.end_read());
        assert!(linger.end_read(), "a read that took nothing");
        // The marker packet followed by the next frame's first: open.
        linger.on_datagram(&rtp(true));
        linger.on_datagram(&rtp(false));
        assert!(linger.end_read());
        linger.on_datagram(&rtp(true));
        assert!(!linger.end_read());
        // Not RTP: no frame is open.
        linger.on_datagram(&rtp(false));
        linger.on_datagram(b"junk");
        assert!(!linger.end_read());

        linger.on_datagram(&rtp(false));
        let _ = linger.end_read();
        linger.on_datagram(&rtp(false));
        assert!(linger.end_read());
        linger.on_silence();
        assert!(!linger.end_read());
        linger.on_datagram(&rtp(false));
        assert!(!linger.end_read(), "the count starts again");
    }
}
