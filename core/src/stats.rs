//! Counters: every packet and every frame ends up in exactly one of them.

use core::fmt;

use crate::rfc2435::PayloadError;
use crate::rtp::RtpError;

macro_rules! reasons {
    (
        $(#[$meta:meta])*
        pub enum $name:ident / $counts:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every reason, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Number of reasons.
            pub const COUNT: usize = Self::ALL.len();

            /// A stable snake_case name, for logs and JSON.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        /// One counter per reason.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $counts {
            counts: [u64; $name::COUNT],
        }

        impl $counts {
            pub fn get(&self, reason: $name) -> u64 {
                self.counts.get(reason as usize).copied().unwrap_or(0)
            }

            pub fn add(&mut self, reason: $name) {
                if let Some(c) = self.counts.get_mut(reason as usize) {
                    *c = c.saturating_add(1);
                }
            }

            pub fn total(&self) -> u64 {
                self.counts.iter().fold(0u64, |a, &b| a.saturating_add(b))
            }

            /// Reasons with a non-zero count.
            pub fn iter(&self) -> impl Iterator<Item = ($name, u64)> + '_ {
                $name::ALL
                    .iter()
                    .map(|&r| (r, self.get(r)))
                    .filter(|&(_, n)| n != 0)
            }

            /// Add every counter of `other` into `self`.
            pub fn merge(&mut self, other: &$counts) {
                for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
                    *mine = mine.saturating_add(*theirs);
                }
            }
        }
    };
}

reasons! {
    /// Why a datagram was refused before it could touch any frame.
    #[non_exhaustive]
    pub enum InvalidReason / InvalidCounts {
        RtpTruncated => "rtp_truncated",
        RtpVersion => "rtp_version",
        RtpCsrcOverrun => "rtp_csrc_overrun",
        RtpExtensionOverrun => "rtp_extension_overrun",
        RtpPadding => "rtp_padding",
        /// Not PT 26 nor the configured dynamic payload type.
        PayloadType => "payload_type",
        JpegTruncated => "jpeg_truncated",
        TypeSpecific => "jpeg_type_specific",
        UnsupportedType => "jpeg_unsupported_type",
        RestartHeader => "jpeg_restart_header",
        QuantLength => "jpeg_quant_length",
        QuantMissing => "jpeg_quant_missing",
        /// Fragment offset plus length beyond the 24-bit offset space.
        FragmentOffset => "jpeg_fragment_offset",
        /// A sequence jump (512 ahead, 3000 behind) that the packet after
        /// it did not confirm (counted once given up; a confirmed one is
        /// received in the stream instead).
        SequenceJump => "sequence_jump",
        /// A timestamp more than 10 s away from the stream's that the
        /// packet after it did not confirm (counted once given up).
        TimestampJump => "timestamp_jump",
        /// From an SSRC other than the stream's, while that stream is
        /// alive, and not confirmed by the packet that followed it from
        /// that SSRC (counted once given up; a confirmed one is received
        /// in the new stream instead).
        SsrcUnconfirmed => "ssrc_unconfirmed",
    }
}

reasons! {
    /// Why a frame was given up.
    #[non_exhaustive]
    pub enum DropReason / DropCounts {
        /// A packet is missing and can no longer arrive inside the
        /// reordering window, or the stream ended first.
        Lost => "lost",
        /// Older than the configured maximum frame age.
        Expired => "expired",
        /// Pushed out by newer frames when every slot was in use.
        Evicted => "evicted",
        /// Does not fit the frame buffer.
        TooLarge => "too_large",
        /// Width or height above the configured limits.
        DimensionsTooLarge => "dimensions_too_large",
        /// Width/height 0 with no ONVIF extension and no configured size.
        UnknownSize => "unknown_size",
        /// Q 128..=254 without tables in-band or cached for that Q.
        MissingTables => "missing_tables",
        /// Fragments disagree: overlapping ranges, data past the marker's
        /// end, or differing type/size/restart interval.
        Inconsistent => "inconsistent",
        /// The sender's SSRC changed while the frame was in flight.
        SsrcChange => "ssrc_change",
        /// Complete, but overwritten before the caller took it.
        NotTaken => "not_taken",
    }
}

reasons! {
    /// Sender behaviour outside RFC 2435 that is accepted, because what it
    /// means is unambiguous; counted per frame that showed it, so that a
    /// quirky sender is visible in the counters while its frames complete.
    #[non_exhaustive]
    pub enum Tolerated / ToleratedCounts {
        /// A fragment after the first carried another Q than the
        /// offset-0 fragment (ESP32 camera firmware: Q 128 with tables
        /// first, 94 or 96 after). The frame uses the offset-0 fragment's
        /// Q and tables.
        QChangedMidFrame => "q_changed_mid_frame",
        /// The scan data of a type 0/1 frame was a whole baseline JPEG
        /// (from SOI, with its own tables), handed out as sent.
        JfifInPayload => "jfif_in_payload",
    }
}

// Which named reason each error of the layers below counts as, written
// beside the reasons so that a new error variant meets its counter here.

impl From<RtpError> for InvalidReason {
    fn from(e: RtpError) -> Self {
        match e {
            RtpError::Truncated => InvalidReason::RtpTruncated,
            RtpError::Version(_) => InvalidReason::RtpVersion,
            RtpError::CsrcOverrun => InvalidReason::RtpCsrcOverrun,
            RtpError::ExtensionOverrun => InvalidReason::RtpExtensionOverrun,
            RtpError::Padding => InvalidReason::RtpPadding,
        }
    }
}

impl From<PayloadError> for InvalidReason {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::Truncated => InvalidReason::JpegTruncated,
            PayloadError::TypeSpecific(_) => InvalidReason::TypeSpecific,
            PayloadError::UnsupportedType(_) => InvalidReason::UnsupportedType,
            PayloadError::RestartHeader => InvalidReason::RestartHeader,
            PayloadError::QuantLength => InvalidReason::QuantLength,
            PayloadError::QuantMissing => InvalidReason::QuantMissing,
        }
    }
}

/// RFC 3550-style reception statistics of one RTP stream (one SSRC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    pub ssrc: Option<u32>,
    /// Distinct packets accepted (duplicates not counted twice), including
    /// those that came too late to be used.
    pub packets_received: u64,
    pub packets_duplicate: u64,
    /// Arrived after their frame was finished, or behind the sequence
    /// window.
    pub packets_late: u64,
    pub frames_complete: u64,
    pub frames_dropped: DropCounts,
    /// Complete frames that needed a tolerance, by kind.
    pub tolerated: ToleratedCounts,
    /// Size of the last complete frame.
    pub width: u16,
    pub height: u16,
    /// RTP payload type of the last accepted packet: 26, the configured
    /// dynamic type, or the one learnt from the stream.
    pub payload_type: Option<u8>,
    /// The dynamic payload type was learnt from the packets (no SDP, no
    /// configuration) rather than configured: the decision, recorded.
    pub payload_type_detected: bool,
    /// Expected packets of earlier sequence epochs (before a confirmed
    /// sequence restart).
    pub(crate) expected_before: u64,
    pub(crate) base_seq: Option<u64>,
    pub(crate) highest_seq: Option<u64>,
    /// Interarrival jitter times 16 (RFC 3550 A.8 fixed point).
    pub(crate) jitter_x16: u64,
    pub(crate) last_transit: Option<u32>,
}

impl StreamStats {
    /// Fold `older` into this entry, as a bounded history of streams
    /// keeps its oldest: every count adds up (packets lost included, as
    /// expected packets of an earlier epoch); SSRC, size, payload type,
    /// sequence state and jitter stay this entry's.
    pub fn absorb(&mut self, older: &StreamStats) {
        self.packets_received = self.packets_received.saturating_add(older.packets_received);
        self.packets_duplicate = self
            .packets_duplicate
            .saturating_add(older.packets_duplicate);
        self.packets_late = self.packets_late.saturating_add(older.packets_late);
        self.frames_complete = self.frames_complete.saturating_add(older.frames_complete);
        self.frames_dropped.merge(&older.frames_dropped);
        self.tolerated.merge(&older.tolerated);
        self.expected_before = self
            .expected_before
            .saturating_add(older.packets_expected());
    }

    /// Packets the sender numbered from the first to the highest sequence
    /// seen (RFC 3550 A.3 "expected").
    pub fn packets_expected(&self) -> u64 {
        let current = match (self.base_seq, self.highest_seq) {
            (Some(base), Some(high)) => high.saturating_sub(base) + 1,
            _ => 0,
        };
        self.expected_before + current
    }

    /// Expected minus received, never negative.
    pub fn packets_lost(&self) -> u64 {
        self.packets_expected()
            .saturating_sub(self.packets_received)
    }

    /// RFC 3550's extended highest sequence number received (cycles
    /// counted from the stream's first packet in the high 16 bits), as a
    /// receiver report carries it; `None` before the first packet.
    pub fn extended_highest_sequence(&self) -> Option<u32> {
        self.highest_seq
            .map(|h| h.saturating_sub(crate::seq::FIRST_CYCLE) as u32)
    }

    /// Interarrival jitter in 90 kHz timestamp units (RFC 3550 A.8).
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_x16 >> 4).unwrap_or(u32::MAX)
    }

    pub fn frames_dropped_total(&self) -> u64 {
        self.frames_dropped.total()
    }

    #[inline]
    pub(crate) fn note_sequence(&mut self, ext: u64) {
        self.base_seq = Some(self.base_seq.map_or(ext, |b| b.min(ext)));
        self.highest_seq = Some(self.highest_seq.map_or(ext, |h| h.max(ext)));
    }

    pub(crate) fn restart_sequence(&mut self, ext: u64) {
        self.expected_before = self.packets_expected();
        self.base_seq = Some(ext);
        self.highest_seq = Some(ext);
    }

    #[inline]
    pub(crate) fn note_arrival(&mut self, arrival_rtp: u32, timestamp: u32) {
        let transit = arrival_rtp.wrapping_sub(timestamp);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter_x16 = (self.jitter_x16 + d).saturating_sub((self.jitter_x16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let mut c = DropCounts::default();
        c.add(DropReason::Lost);
        c.add(DropReason::Lost);
        c.add(DropReason::TooLarge);
        assert_eq!(c.get(DropReason::Lost), 2);
        assert_eq!(c.total(), 3);
        assert_eq!(c.iter().count(), 2);
        assert_eq!(DropReason::TooLarge.name(), "too_large");
        assert_eq!(InvalidReason::ALL.len(), InvalidReason::COUNT);
    }

    #[test]
    fn expected_and_lost() {
        let mut s = StreamStats::default();
        for ext in [10, 12, 11, 15] {
            s.note_sequence(ext);
            s.packets_received += 1;
        }
        assert_eq!(s.packets_expected(), 6);
        assert_eq!(s.packets_lost(), 2);
        s.restart_sequence(1000);
        s.packets_received += 1;
        assert_eq!(s.packets_expected(), 7);
        assert_eq!(s.packets_lost(), 2);
    }

    #[test]
    fn extended_highest_sequence_counts_cycles_from_zero() {
        let mut s = StreamStats::default();
        assert_eq!(s.extended_highest_sequence(), None);
        // As the sequence window extends them: the first one cycle up.
        s.note_sequence(crate::seq::FIRST_CYCLE | 65_534);
        assert_eq!(s.extended_highest_sequence(), Some(65_534));
        s.note_sequence((2 * crate::seq::FIRST_CYCLE) | 3);
        assert_eq!(s.extended_highest_sequence(), Some(0x1_0003));
    }

    #[test]
    fn jitter_follows_rfc3550() {
        let mut s = StreamStats::default();
        // Constant transit: no jitter.
        for i in 0..10u32 {
            s.note_arrival(1000 + i * 3000, i * 3000);
        }
        assert_eq!(s.jitter(), 0);
        // Alternating +-160 ticks converges towards 160.
        for i in 0..400u32 {
            let wobble = if i % 2 == 0 { 160 } else { 0 };
            s.note_arrival(1000 + i * 3000 + wobble, i * 3000);
        }
        assert!((150..=160).contains(&s.jitter()), "{}", s.jitter());
    }
}
