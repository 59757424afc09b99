//! RTCP: `sender_reports` and `bye_sources` on arbitrary bytes never
//! panic, and every source a BYE names lies within them; what
//! `sender_reports` finds feeds a `SenderClock` and the NTP conversion
//! without overflow; a BYE built here is found by `bye_sources`;
//! receiver reports and BYEs built from arbitrary fields walk back
//! through the parser as well-formed compound packets with no SR, and a
//! sender report appended to them is found with its fields intact.
//!
//! Input: flags (bit 0: BYE, bit 1: a report block), the CNAME's length,
//! 14 big-endian words (our SSRC; the block's SSRC, fraction and
//! cumulative lost, highest sequence, jitter, LSR, DLSR; an SR's SSRC,
//! NTP high and low, RTP time, packet and octet counts), the CNAME, then
//! the bytes given to the parser. Short inputs are padded with zeros.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_rtsp::rtcp::{
    bye_sources, emit_bye, emit_receiver_report, ntp_to_system_time, sender_reports,
    ReceptionReport, SenderClock,
};

const WORDS: usize = 14;

fuzz_target!(|data: &[u8]| {
    let mut head = [0u8; 2 + 4 * WORDS];
    let n = data.len().min(head.len());
    head[..n].copy_from_slice(&data[..n]);
    let rest = &data[n..];
    let (cname, raw) = rest.split_at(usize::from(head[1]).min(rest.len()));
    let cname = String::from_utf8_lossy(cname);
    let w: Vec<u32> = head[2..]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();

    // Every source a BYE names is a word of the input.
    if let Ok(sources) = bye_sources(raw) {
        assert!(sources.len() * 4 <= raw.len());
    }
    let mut clock = SenderClock::default();
    if let Ok(reports) = sender_reports(raw) {
        for sr in reports {
            let _ = sr.lsr();
            let _ = ntp_to_system_time(sr.ntp);
            clock.on_sender_report(sr);
            let _ = clock.capture_time(sr.rtp_timestamp.wrapping_add(w[0]));
        }
    }

    let mut out = Vec::new();
    if head[0] & 1 != 0 {
        emit_bye(&mut out, w[0], &cname);
    } else {
        let report = (head[0] & 2 != 0).then(|| ReceptionReport {
            ssrc: w[1],
            fraction_lost: w[2] as u8,
            cumulative_lost: w[3],
            extended_highest_sequence: w[4],
            jitter: w[5],
            lsr: w[6],
            dlsr: w[7],
        });
        emit_receiver_report(&mut out, w[0], report.as_ref(), &cname);
    }
    assert_eq!(out.len() % 4, 0);
    assert_eq!(sender_reports(&out), Ok(Vec::new()));
    let expected_byes = if head[0] & 1 != 0 {
        vec![w[0]]
    } else {
        Vec::new()
    };
    assert_eq!(bye_sources(&out), Ok(expected_byes));
    // A sender report after them (a compound packet from a camera).
    let sr = &w[8..];
    out.extend_from_slice(&[0x80, 200, 0, 6]);
    for word in sr {
        out.extend_from_slice(&word.to_be_bytes());
    }
    let found = sender_reports(&out).expect("well-formed compound");
    assert_eq!(found.len(), 1);
    let f = found[0];
    assert_eq!(
        (
            f.ssrc,
            f.ntp,
            f.rtp_timestamp,
            f.packet_count,
            f.octet_count
        ),
        (
            sr[0],
            (u64::from(sr[1]) << 32) | u64::from(sr[2]),
            sr[3],
            sr[4],
            sr[5]
        )
    );
});
