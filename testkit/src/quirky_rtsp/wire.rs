//! What the scripted server reads, writes and checks: requests, status
//! lines, Session headers, SDP, RTCP sender reports, Digest answers.

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
        501 => "Not Implemented",
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
    if kind == Sdp::MediaOnly {
        return "m=video 0 RTP/AVP 26\r\nc=IN IP4 0.0.0.0\r\n".into();
    }
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

/// `a=udp-only` added at session level.
pub(super) fn udp_only(sdp: &str) -> String {
    sdp.replacen("m=video", "a=udp-only\r\nm=video", 1)
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

/// An RTCP BYE from `ssrc` (RFC 3550 6.6), alone: VLC sends it so.
pub(super) fn bye(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x81, 203, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
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

    #[test]
    fn join_concatenates() {
        assert_eq!(join("rtsp://h/a/", "/v"), "rtsp://h/a/v");
        assert_eq!(join("rtsp://h/a?x=1", "/v"), "rtsp://h/a?x=1/v");
        assert_eq!(join("rtsp://h/a", "t"), "rtsp://h/a/t");
    }
}
