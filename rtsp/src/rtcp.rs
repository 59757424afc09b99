//! RTCP (RFC 3550 6), sans-IO: sender reports parsed out of a compound
//! packet, receiver reports and BYE built into a caller's buffer, the
//! NTP <-> RTP clock of a sender once its reports agree, and the report
//! interval. No clock is read: arrival times and randomness come in.
//!
//! ```text
//!  0               1               2               3
//!  V=2|P| RC/SC  |      PT       |            length             |
//!  SR (PT 200): SSRC, NTP (64), RTP timestamp, packets, octets, blocks
//!  RR (PT 201): SSRC, blocks; block: SSRC, fraction|cumulative lost (8|24),
//!               extended highest sequence, jitter, LSR, DLSR
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RTCP packet types (RFC 3550 12.1).
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// The JPEG payload's RTP clock (RFC 2435 3).
pub const RTP_CLOCK_HZ: u64 = 90_000;
/// Two sender reports agree when the second's RTP timestamp is within
/// this of what the first one's mapping predicts (a camera clock that
/// jumped, or a sender restamping, does not).
pub const CLOCK_AGREEMENT: Duration = Duration::from_millis(20);
/// RFC 3550 6.2: the minimum report interval (halved before the first).
pub const MIN_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Why a compound packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    #[error("RTCP shorter than its header or its length field")]
    Truncated,
    #[error("RTCP version is not 2")]
    Version,
}

/// A sender report's sender info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// NTP timestamp, seconds since 1900 in the high 32 bits.
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

impl SenderReport {
    /// The middle 32 bits of the NTP timestamp: a receiver report's LSR.
    pub fn lsr(&self) -> u32 {
        (self.ntp >> 16) as u32
    }
}

/// Sender reports in a compound RTCP packet (other packet types are
/// skipped). A bad packet ends the walk with an error.
pub fn sender_reports(bytes: &[u8]) -> Result<Vec<SenderReport>, RtcpError> {
    let mut reports = Vec::new();
    walk(bytes, |pt, _, packet| {
        if pt == PT_SR {
            reports.push(SenderReport {
                ssrc: word(packet, 4)?,
                ntp: (u64::from(word(packet, 8)?) << 32) | u64::from(word(packet, 12)?),
                rtp_timestamp: word(packet, 16)?,
                packet_count: word(packet, 20)?,
                octet_count: word(packet, 24)?,
            });
        }
        Ok(())
    })?;
    Ok(reports)
}

/// The SSRCs that said BYE (RFC 3550 6.6) in a compound RTCP packet: the
/// sources that stopped sending. A bad packet ends the walk with an
/// error.
pub fn bye_sources(bytes: &[u8]) -> Result<Vec<u32>, RtcpError> {
    let mut sources = Vec::new();
    walk(bytes, |pt, count, packet| {
        if pt == PT_BYE {
            for i in 0..usize::from(count) {
                sources.push(word(packet, 4 + 4 * i)?);
            }
        }
        Ok(())
    })?;
    Ok(sources)
}

/// Call `f(packet type, count field, packet)` for each packet of a
/// compound packet, after checking version and length.
fn walk(
    mut bytes: &[u8],
    mut f: impl FnMut(u8, u8, &[u8]) -> Result<(), RtcpError>,
) -> Result<(), RtcpError> {
    while !bytes.is_empty() {
        let [first, pt, l0, l1, ..] = *bytes else {
            return Err(RtcpError::Truncated);
        };
        if first >> 6 != 2 {
            return Err(RtcpError::Version);
        }
        let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
        let packet = bytes.get(..len).ok_or(RtcpError::Truncated)?;
        f(pt, first & 0x1F, packet)?;
        bytes = &bytes[len..];
    }
    Ok(())
}

/// The big-endian word at byte `i` of `packet`.
fn word(packet: &[u8], i: usize) -> Result<u32, RtcpError> {
    let b = packet.get(i..i + 4).ok_or(RtcpError::Truncated)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// One reception report block (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceptionReport {
    pub ssrc: u32,
    /// Lost since the last report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Cumulative lost, clamped to 24 bits.
    pub cumulative_lost: u32,
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// [`SenderReport::lsr`] of the last SR, 0 before one.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s, 0 before one.
    pub dlsr: u32,
}

impl ReceptionReport {
    /// `fraction_lost` from the expected and received counts now and at
    /// the last report (RFC 3550 A.3).
    pub fn fraction(expected: u64, received: u64, expected_prior: u64, received_prior: u64) -> u8 {
        let expected_interval = expected.saturating_sub(expected_prior);
        let received_interval = received.saturating_sub(received_prior);
        let lost = expected_interval.saturating_sub(received_interval);
        match expected_interval {
            0 => 0,
            e => u8::try_from((lost << 8) / e).unwrap_or(u8::MAX),
        }
    }

    /// DLSR for an SR received `since` ago.
    pub fn dlsr_of(since: Duration) -> u32 {
        u32::try_from(since.as_micros() * 65_536 / 1_000_000).unwrap_or(u32::MAX)
    }
}

fn header(out: &mut Vec<u8>, count: u8, pt: u8, words_after_header: usize) {
    out.push(0x80 | count);
    out.push(pt);
    out.extend_from_slice(&(words_after_header as u16).to_be_bytes());
}

fn sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    // SSRC, type, length, text, then at least one null, to a word.
    let chunk = 4 + 2 + cname.len();
    let padded = (chunk + 1).div_ceil(4) * 4;
    header(out, 1, PT_SDES, padded / 4);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    out.resize(out.len() + padded - chunk, 0);
}

/// Append a compound receiver report (RR with `report`, if any, then
/// SDES CNAME, as RFC 3550 6.1 requires) from `ssrc` to `out`.
pub fn emit_receiver_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    report: Option<&ReceptionReport>,
    cname: &str,
) {
    header(
        out,
        u8::from(report.is_some()),
        PT_RR,
        1 + 6 * usize::from(report.is_some()),
    );
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(r) = report {
        out.extend_from_slice(&r.ssrc.to_be_bytes());
        let lost = r.cumulative_lost.min(0x7f_ffff);
        out.extend_from_slice(&((u32::from(r.fraction_lost) << 24) | lost).to_be_bytes());
        for w in [r.extended_highest_sequence, r.jitter, r.lsr, r.dlsr] {
            out.extend_from_slice(&w.to_be_bytes());
        }
    }
    sdes_cname(out, ssrc, cname);
}

/// Append a compound BYE (an empty RR, SDES CNAME, BYE) from `ssrc`.
pub fn emit_bye(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    emit_receiver_report(out, ssrc, None, cname);
    header(out, 1, PT_BYE, 1);
    out.extend_from_slice(&ssrc.to_be_bytes());
}

/// NTP timestamp to wall-clock time (`None` before 1970).
pub fn ntp_to_system_time(ntp: u64) -> Option<SystemTime> {
    let secs = (ntp >> 32).checked_sub(NTP_UNIX_OFFSET)?;
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    Some(UNIX_EPOCH + Duration::new(secs, nanos as u32))
}

/// A sender's NTP <-> RTP mapping, trusted only once two consecutive
/// sender reports agree (within [`CLOCK_AGREEMENT`] at 90 kHz); a report
/// that disagrees (the camera's clock jumped) withdraws it until the
/// next two agree.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderClock {
    last: Option<SenderReport>,
    agreed: bool,
}

impl SenderClock {
    /// Take a sender report of the stream's sender.
    pub fn on_sender_report(&mut self, sr: SenderReport) {
        self.agreed = self.last.is_some_and(|prev| {
            prev.ssrc == sr.ssrc && {
                let ntp_delta = sr.ntp.wrapping_sub(prev.ntp) as i64;
                let predicted = (i128::from(ntp_delta) * i128::from(RTP_CLOCK_HZ)) >> 32;
                let actual = i128::from(sr.rtp_timestamp.wrapping_sub(prev.rtp_timestamp) as i32);
                let tolerance =
                    (CLOCK_AGREEMENT.as_micros() * u128::from(RTP_CLOCK_HZ) / 1_000_000) as i128;
                ntp_delta > 0 && (predicted - actual).abs() <= tolerance
            }
        });
        self.last = Some(sr);
    }

    /// The wall-clock capture time of RTP timestamp `rtp`, once agreed.
    pub fn capture_time(&self, rtp: u32) -> Option<SystemTime> {
        let sr = self.last.filter(|_| self.agreed)?;
        let at = ntp_to_system_time(sr.ntp)?;
        let ticks = i64::from(rtp.wrapping_sub(sr.rtp_timestamp) as i32);
        let offset = Duration::from_micros(ticks.unsigned_abs() * 1_000_000 / RTP_CLOCK_HZ);
        match ticks >= 0 {
            true => at.checked_add(offset),
            false => at.checked_sub(offset),
        }
    }
}

/// RFC 3550 6.3.1 / A.7: the randomised interval to the next report of
/// a receiver (one that has not sent RTP) among `members`, `senders` of
/// them sending, with `rtcp_bandwidth` bytes/s for RTCP (5% of the
/// session's) and `avg_rtcp_size` bytes; `unit` is a uniform random
/// number in [0, 1).
pub fn report_interval(
    members: u32,
    senders: u32,
    rtcp_bandwidth: f64,
    avg_rtcp_size: f64,
    initial: bool,
    unit: f64,
) -> Duration {
    let minimum = match initial {
        true => MIN_REPORT_INTERVAL / 2,
        false => MIN_REPORT_INTERVAL,
    };
    // Receivers share 75% of the RTCP bandwidth among themselves while
    // senders are at most a quarter of the members; else everyone shares
    // all of it.
    let members = members.max(1);
    let (share, n) = match f64::from(senders) <= 0.25 * f64::from(members) {
        true => (0.75, members - senders.min(members - 1)),
        false => (1.0, members),
    };
    let deterministic = match rtcp_bandwidth > 0.0 {
        true => f64::from(n) * avg_rtcp_size / (share * rtcp_bandwidth),
        false => 0.0,
    };
    let t = minimum.as_secs_f64().max(deterministic);
    // Randomised to [0.5, 1.5) and compensated for timer reconsideration
    // (e - 3/2).
    Duration::from_secs_f64(t * (0.5 + unit.clamp(0.0, 1.0)) / (std::f64::consts::E - 1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compound SR + SDES as gst-rtsp-server sends (SR with no blocks).
    fn sr_bytes(ntp: u64, rtp: u32) -> Vec<u8> {
        let mut b = vec![0x80, PT_SR, 0, 6];
        for w in [0x1122_3344, (ntp >> 32) as u32, ntp as u32, rtp, 10, 12_000] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        sdes_cname(&mut b, 0x1122_3344, "cam");
        b
    }

    const NTP_2024: u64 = (NTP_UNIX_OFFSET + 1_700_000_000) << 32;

    #[test]
    fn sender_report_parsed_from_a_compound_packet() {
        let b = sr_bytes(NTP_2024 | 0x8000_0000, 90_000);
        let srs = sender_reports(&b).unwrap();
        assert_eq!(srs.len(), 1);
        assert_eq!(srs[0].ssrc, 0x1122_3344);
        assert_eq!(srs[0].rtp_timestamp, 90_000);
        assert_eq!(srs[0].octet_count, 12_000);
        assert_eq!(
            ntp_to_system_time(srs[0].ntp),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        // Impossible lengths are errors, not panics.
        for cut in 1..b.len() {
            if cut % 4 != 0 || cut < 28 {
                assert!(sender_reports(&b[..cut]).is_err(), "cut {cut}");
            }
        }
        assert_eq!(sender_reports(&[0x40, 200, 0, 0]), Err(RtcpError::Version));
    }

    #[test]
    fn receiver_report_and_bye_layout() {
        let report = ReceptionReport {
            ssrc: 0xaabb_ccdd,
            fraction_lost: ReceptionReport::fraction(200, 150, 100, 100),
            cumulative_lost: 50,
            extended_highest_sequence: 0x0001_0005,
            jitter: 7,
            lsr: 0x1234_5678,
            dlsr: ReceptionReport::dlsr_of(Duration::from_millis(500)),
        };
        assert_eq!(report.fraction_lost, 128);
        let mut out = Vec::new();
        emit_receiver_report(&mut out, 0x0102_0304, Some(&report), "mjpeg-rtp");
        assert_eq!(&out[..4], [0x81, PT_RR, 0, 7]);
        assert_eq!(&out[12..16], [128, 0, 0, 50]);
        assert_eq!(&out[28..32], 32_768u32.to_be_bytes());
        // Whole words, and a compound packet the parser walks.
        assert_eq!(out.len() % 4, 0);
        assert_eq!(sender_reports(&out), Ok(vec![]));
        let mut bye = Vec::new();
        emit_bye(&mut bye, 1, "x");
        assert_eq!(sender_reports(&bye), Ok(vec![]));
        assert_eq!(&bye[bye.len() - 8..bye.len() - 4], [0x81, PT_BYE, 0, 1]);
        assert_eq!(bye_sources(&bye), Ok(vec![1]));
        // A BYE whose count names more sources than it holds.
        assert_eq!(
            bye_sources(&[0x82, PT_BYE, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Truncated)
        );
    }

    #[test]
    fn clock_needs_two_agreeing_reports_and_drops_a_jump() {
        let sr = |secs: u64, rtp: u32| SenderReport {
            ssrc: 1,
            ntp: NTP_2024 + (secs << 32),
            rtp_timestamp: rtp,
            packet_count: 0,
            octet_count: 0,
        };
        let mut clock = SenderClock::default();
        clock.on_sender_report(sr(0, 1000));
        assert_eq!(clock.capture_time(1000), None, "one report is no proof");
        clock.on_sender_report(sr(5, 1000 + 5 * 90_000));
        let base = UNIX_EPOCH + Duration::from_secs(1_700_000_005);
        assert_eq!(clock.capture_time(1000 + 5 * 90_000), Some(base));
        assert_eq!(
            clock.capture_time(1000 + 5 * 90_000 + 9000),
            Some(base + Duration::from_millis(100))
        );
        assert_eq!(
            clock.capture_time(1000 + 5 * 90_000 - 9000),
            Some(base - Duration::from_millis(100))
        );
        // The camera's clock jumps an hour: not trusted until it agrees again.
        clock.on_sender_report(sr(3600, 1000 + 10 * 90_000));
        assert_eq!(clock.capture_time(0), None);
        clock.on_sender_report(sr(3605, 1000 + 15 * 90_000));
        assert!(clock.capture_time(0).is_some());
    }

    #[test]
    fn report_interval_follows_rfc3550() {
        // Two members at a tiny RTCP bandwidth: the 5 s minimum, randomised.
        let lo = report_interval(2, 1, 1000.0, 100.0, false, 0.0);
        let hi = report_interval(2, 1, 1000.0, 100.0, false, 0.999);
        let e = std::f64::consts::E - 1.5;
        assert!((lo.as_secs_f64() - 2.5 / e).abs() < 1e-6, "{lo:?}");
        assert!(
            hi.as_secs_f64() < 7.5 / e && hi.as_secs_f64() > 7.4 / e,
            "{hi:?}"
        );
        assert!(report_interval(2, 1, 1000.0, 100.0, true, 0.0) < lo);
        // Many members, one sender: the receivers' 75% share decides.
        let big = report_interval(1000, 1, 1000.0, 100.0, false, 0.5);
        assert!((big.as_secs_f64() - 999.0 * 100.0 / 750.0 / e).abs() < 1e-3);
        // Senders over a quarter of the members: all share all of it.
        let many = report_interval(1000, 400, 1000.0, 100.0, false, 0.5);
        assert!((many.as_secs_f64() - 1000.0 * 100.0 / 1000.0 / e).abs() < 1e-3);
    }
}
