//! What the scripted server reads, writes and checks: requests, status
//! lines, Session headers, SDP, RTP/JPEG rewritten to Q 128..=254, RTCP
//! sender reports, Digest answers.

use md5::Md5;
use sha2::{Digest, Sha256};

use super::{Auth, Quirks, Sdp};

/// A request as read off the connection.
pub(super) struct Request {
    pub(super) method: String,
    pub(super) uri: String,
    pub(super) headers: Vec<(String, String)>,
}

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Moved Temporarily",
        401 => "Unauthorized",
        404 => "Not Found",
        454 => "Session Not Found",
        461 => "Unsupported Transport",
        _ => "Error",
    }
}

pub(super) fn session_header(id: &str, q: &Quirks) -> String {
    match (q.session.timeout, q.session.spaces) {
        (Some(t), true) => format!("Session:   {id} ;  timeout = {t}  \r\n"),
        (Some(t), false) => format!("Session: {id};timeout={t}\r\n"),
        (None, true) => format!("Session:    {id}   \r\n"),
        (None, false) => format!("Session: {id}\r\n"),
    }
}

/// Control joined to a base the way cameras mean it: concatenated.
pub(super) fn join(base: &str, control: &str) -> String {
    match (base.ends_with('/'), control.strip_prefix('/')) {
        (true, Some(rest)) => format!("{base}{rest}"),
        (false, None) => format!("{base}/{control}"),
        _ => format!("{base}{control}"),
    }
}

/// The DESCRIBE body, broken as asked.
pub(super) fn sdp(kind: Sdp, control: &str) -> String {
    let origin = match kind {
        Sdp::TruncatedOrigin => "o=- 0 0 IN\r\n",
        Sdp::ExtraOriginField => "o=- 1 1 IN IP4 EXTRA 127.0.0.1\r\n",
        _ => "o=- 1 1 IN IP4 127.0.0.1\r\n",
    };
    let time = if kind == Sdp::NoTime { "" } else { "t=0 0\r\n" };
    let connection = if kind == Sdp::TruncatedConnection {
        "c=IN IP4\r\n"
    } else {
        "c=IN IP4 0.0.0.0\r\n"
    };
    if kind == Sdp::AttributesOutOfOrder {
        return format!(
            "v=0\r\n{origin}s=Quirks\r\na=control:*\r\na=range:npt=now-\r\n{time}\
             m=video 0 RTP/AVP 96\r\na=control:{control}\r\na=framesize:96 192-144\r\n\
             a=rtpmap:96 JPEG/90000\r\nb=AS:2000\r\n{connection}"
        );
    }
    format!(
        "v=0\r\n{origin}s=Quirks\r\n{connection}{time}a=control:*\r\n\
         m=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=control:{control}\r\n"
    )
}

/// An RTP/JPEG packet rewritten to Q `q` (128..=254), its first
/// fragment with `tables` in-band (empty: a Quantization Table header of
/// length 0, as a sender that sent them before writes).
pub(super) fn with_q(packet: &[u8], q: u8, tables: &[u8]) -> Vec<u8> {
    const RTP: usize = 12;
    let mut p = packet.to_vec();
    let old_q = p[RTP + 5];
    p[RTP + 5] = q;
    let offset = u32::from_be_bytes([0, p[RTP + 1], p[RTP + 2], p[RTP + 3]]);
    if offset != 0 {
        return p;
    }
    let quant = RTP + 8 + if p[RTP + 4] >= 64 { 4 } else { 0 };
    if old_q >= 128 {
        let len = usize::from(u16::from_be_bytes([p[quant + 2], p[quant + 3]]));
        p.drain(quant..quant + 4 + len);
    }
    let [hi, lo] = (tables.len() as u16).to_be_bytes();
    let header = [&[0, 0, hi, lo][..], tables].concat();
    p.splice(quant..quant, header);
    p
}

/// The 8-bit quantization tables of a baseline JPEG's DQT segments, in
/// the order of their ids, zig-zag as RFC 2435 carries them.
pub(super) fn dqt_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut tables: Vec<(u8, &[u8])> = Vec::new();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF && jpeg[i + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if jpeg[i + 1] == 0xDB {
            let mut t = i + 4;
            while t + 65 <= i + 2 + len {
                tables.push((jpeg[t] & 0x0F, &jpeg[t + 1..t + 65]));
                t += 65;
            }
        }
        i += 2 + len;
    }
    tables.sort_by_key(|(id, _)| *id);
    tables.into_iter().flat_map(|(_, t)| t.to_vec()).collect()
}

/// An RTCP sender report (RFC 3550 6.4.1) with no report blocks.
pub(super) fn sender_report(ssrc: u32, rtp_time: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&0xE000_0000u32.to_be_bytes());
    p.extend_from_slice(&rtp_time.wrapping_mul(7).to_be_bytes());
    p.extend_from_slice(&rtp_time.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p
}

/// Whether the request's `Authorization` answers one of the challenges
/// for the account.
pub(super) fn authorized(auth: &Auth, r: &Request) -> bool {
    let Some(value) = r.header("Authorization") else {
        return false;
    };
    let Some(params) = value.strip_prefix("Digest ") else {
        return false;
    };
    let p = |name: &str| digest_param(params, name);
    let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
        p("username"),
        p("realm"),
        p("nonce"),
        p("uri"),
        p("response"),
    ) else {
        return false;
    };
    let algorithm = p("algorithm").unwrap_or_else(|| "MD5".into());
    let offered = auth.challenges.iter().any(|c| {
        c.contains(&format!("nonce=\"{nonce}\"")) && c.contains(&format!("algorithm={algorithm}"))
    });
    let h = |s: String| -> String {
        match algorithm.as_str() {
            "SHA-256" => hex(&Sha256::digest(s.as_bytes())),
            _ => hex(&Md5::digest(s.as_bytes())),
        }
    };
    let ha1 = h(format!("{}:{realm}:{}", auth.user, auth.password));
    let ha2 = h(format!("{}:{uri}", r.method));
    let expected = match (p("qop"), p("nc"), p("cnonce")) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            h(format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        _ => h(format!("{ha1}:{nonce}:{ha2}")),
    };
    offered && user == auth.user && response == expected
}

/// A Digest parameter, quotes taken off.
fn digest_param(params: &str, name: &str) -> Option<String> {
    params.split(',').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures_dir;
    use crate::rtp::frame_packets;
    use mjpeg_rtp_core::{Packetizer, PacketizerConfig};

    #[test]
    fn q_rewrite_puts_tables_in_the_first_packet_only() {
        let jpeg = std::fs::read(fixtures_dir().join("gst-420/000.jpg")).unwrap();
        let tables = dqt_tables(&jpeg);
        assert_eq!(tables.len(), 128);
        let mut packetizer = Packetizer::new(PacketizerConfig::default());
        let packets = frame_packets(&mut packetizer, &jpeg, 0);
        let with = with_q(&packets[0], 200, &tables);
        let without = with_q(&packets[0], 200, &[]);
        assert_eq!((with[17], without[17]), (200, 200));
        assert_eq!(&with[20..24], &[0, 0, 0, 128]);
        assert_eq!(&with[24..152], &tables[..]);
        assert_eq!(&without[20..24], &[0, 0, 0, 0]);
        assert_eq!(with.len(), without.len() + 128);
        assert_eq!(with_q(&with, 200, &[]), without);
        assert_eq!(with_q(&packets[1], 200, &tables).len(), packets[1].len());
    }

    #[test]
    fn join_concatenates() {
        assert_eq!(join("rtsp://h/a/", "/v"), "rtsp://h/a/v");
        assert_eq!(join("rtsp://h/a?x=1", "/v"), "rtsp://h/a?x=1/v");
        assert_eq!(join("rtsp://h/a", "t"), "rtsp://h/a/t");
    }
}
