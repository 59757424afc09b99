//! Tolerant readers for the reply headers cameras get wrong, and the URL
//! rules of RTSP as cameras practise them. Each quirk is named next to
//! the code that tolerates it.

use std::time::Duration;

use url::Url;

/// RFC 2326 12.37: a session without `;timeout=` times out after 60 s.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// `Session: id[;timeout=N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionHeader {
    pub id: String,
    pub timeout: Duration,
}

/// Parse a `Session` value. Quirks: extra spaces around `;` and `=`
/// (`12345678 ; timeout = 60`), a missing timeout (60 s), a zero or
/// unparsable one (60 s as well: a keepalive storm helps nobody).
pub fn parse_session(value: &str) -> Option<SessionHeader> {
    let mut parts = value.split(';').map(str::trim);
    let id = parts.next().filter(|id| !id.is_empty())?.to_owned();
    let timeout = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("timeout"))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_secs);
    Some(SessionHeader { id, timeout })
}

/// What the server's `Transport` reply says about where data flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportReply {
    pub interleaved: Option<(u8, u8)>,
    pub server_port: Option<(u16, u16)>,
    pub source: Option<String>,
    pub ssrc: Option<u32>,
    /// `multicast` was named (rather than `unicast` or nothing).
    pub multicast: bool,
    /// The multicast group (`destination=`), as the server spelled it.
    pub destination: Option<String>,
    /// The multicast RTP/RTCP port pair (`port=a-b`).
    pub port: Option<(u16, u16)>,
    /// The multicast time-to-live (`ttl=`).
    pub ttl: Option<u8>,
}

/// Parse a `Transport` reply by hand: `rtsp-types`' typed parser refuses
/// what cameras send (`ssrc=` in decimal or with `0x`, odd-length hex).
/// Only the first transport spec counts.
pub fn parse_transport(value: &str) -> TransportReply {
    let spec = value.split(',').next().unwrap_or_default();
    let mut reply = TransportReply::default();
    for param in spec.split(';').map(str::trim) {
        let (key, val) = param.split_once('=').unwrap_or((param, ""));
        let val = val.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "interleaved" => reply.interleaved = pair(val),
            "server_port" => reply.server_port = pair(val),
            "source" => reply.source = Some(val.to_owned()),
            "ssrc" => reply.ssrc = parse_ssrc(val),
            "multicast" => reply.multicast = true,
            "destination" => reply.destination = Some(val.to_owned()).filter(|d| !d.is_empty()),
            "port" => reply.port = pair(val),
            "ttl" => reply.ttl = val.parse().ok(),
            _ => {}
        }
    }
    reply
}

/// `a-b` or a lone `a` (then `b` is `a + 1`).
fn pair<T: std::str::FromStr + Copy + TryFrom<u32>>(v: &str) -> Option<(T, T)>
where
    u32: From<T>,
{
    let (a, b) = match v.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let a: T = v.parse().ok()?;
            (a, T::try_from(u32::from(a) + 1).ok()?)
        }
    };
    Some((a, b))
}

/// `ssrc=` is 8 hex digits by the RFC; cameras send `0x` prefixes, odd
/// lengths (`ssrc=4B1D2E`) and decimal. Hex first, as the RFC says; a
/// value with a non-hex digit cannot be hex.
fn parse_ssrc(v: &str) -> Option<u32> {
    let hex = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    u32::from_str_radix(hex, 16).ok().or_else(|| v.parse().ok())
}

/// The URL as printed in logs and errors: no user name or password.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The base URL for relative controls, from `Content-Base`, then
/// `Content-Location`, then the request URL. Quirks: a base without a
/// scheme (`192.168.1.5/live/`), a doubled one (`rtsp://rtsp://...`).
pub fn base_url(content_base: Option<&str>, content_location: Option<&str>, request: &Url) -> Url {
    [content_base, content_location]
        .into_iter()
        .flatten()
        .find_map(|v| {
            let mut v = v.trim();
            while let Some(rest) = v
                .strip_prefix("rtsp://")
                .filter(|r| r.starts_with("rtsp://"))
            {
                v = rest;
            }
            let with_scheme;
            if !v.contains("://") {
                with_scheme = format!("rtsp://{v}");
                v = &with_scheme;
            }
            Url::parse(v).ok()
        })
        .unwrap_or_else(|| request.clone())
}

/// Join a track's `a=control` to the base. An absolute control is used as
/// is, `*` or none means the base. A relative one is appended with one
/// `/` between, not resolved by RFC 3986: cameras whose base ends in a
/// query (`...?channel=1&proto=Onvif`) expect `.../video` after the query,
/// and resolution would drop the last path segment of a base without a
/// trailing slash (`.../live` + `track1` -> `.../track1`).
pub fn join_control(base: &Url, control: Option<&str>) -> Option<Url> {
    let control = match control.map(str::trim) {
        None | Some("*") | Some("") => return Some(base.clone()),
        Some(c) => c,
    };
    if control.contains("://") {
        return Url::parse(control).ok();
    }
    let base = base.as_str();
    let joined = match (base.ends_with('/'), control.starts_with('/')) {
        (true, true) => format!("{base}{}", &control[1..]),
        (false, false) => format!("{base}/{control}"),
        _ => format!("{base}{control}"),
    };
    Url::parse(&joined).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_header_quirks() {
        let s = parse_session("47112344;timeout=15").unwrap();
        assert_eq!((s.id.as_str(), s.timeout.as_secs()), ("47112344", 15));
        let s = parse_session("  7A1B ;  timeout = 30 ").unwrap();
        assert_eq!((s.id.as_str(), s.timeout.as_secs()), ("7A1B", 30));
        assert_eq!(
            parse_session("abc").unwrap().timeout,
            DEFAULT_SESSION_TIMEOUT
        );
        assert_eq!(
            parse_session("abc;timeout=0").unwrap().timeout,
            DEFAULT_SESSION_TIMEOUT
        );
        assert_eq!(parse_session(" ;timeout=5"), None);
    }

    #[test]
    fn transport_reply_quirks() {
        let t = parse_transport(
            "RTP/AVP;unicast;client_port=50000-50001;server_port=8000-8001;ssrc=4B1D2E;mode=\"PLAY\"",
        );
        assert_eq!(t.server_port, Some((8000, 8001)));
        assert_eq!(t.ssrc, Some(0x4B1D2E));
        let t = parse_transport("RTP/AVP/TCP;unicast;interleaved=4-5;ssrc=0x1234ABCD");
        assert_eq!((t.interleaved, t.ssrc), (Some((4, 5)), Some(0x1234ABCD)));
        assert_eq!(
            parse_transport("RTP/AVP/TCP;interleaved=2").interleaved,
            Some((2, 3))
        );
        assert_eq!(
            parse_transport("RTP/AVP;ssrc=98765432").ssrc,
            Some(0x98765432)
        );
        assert_eq!(parse_transport("RTP/AVP;ssrc=3000000000x").ssrc, None);
        assert_eq!(parse_transport("garbage"), TransportReply::default());
    }

    #[test]
    fn multicast_transport_reply() {
        // gst-rtsp-server's answer to `RTP/AVP;multicast`.
        let t = parse_transport(
            "RTP/AVP;multicast;destination=224.3.0.1;ttl=16;port=5000-5001;mode=\"PLAY\"",
        );
        assert!(t.multicast);
        assert_eq!(t.destination.as_deref(), Some("224.3.0.1"));
        assert_eq!((t.port, t.ttl), (Some((5000, 5001)), Some(16)));
        // A lone port, spaces, a ttl out of range.
        let t =
            parse_transport("RTP/AVP ; multicast ; destination = 239.1.2.3 ; port = 6000; ttl=300");
        assert_eq!(t.destination.as_deref(), Some("239.1.2.3"));
        assert_eq!((t.port, t.ttl), (Some((6000, 6001)), None));
        assert!(!parse_transport("RTP/AVP;unicast;client_port=5000-5001").multicast);
    }

    #[test]
    fn base_url_quirks() {
        let req = Url::parse("rtsp://10.0.0.2/live").unwrap();
        let b = |cb, cl| base_url(cb, cl, &req).to_string();
        assert_eq!(
            b(Some("rtsp://10.0.0.2/live/"), None),
            "rtsp://10.0.0.2/live/"
        );
        assert_eq!(
            b(Some("rtsp://rtsp://10.0.0.2/x/"), None),
            "rtsp://10.0.0.2/x/"
        );
        assert_eq!(b(Some("10.0.0.2/y/"), None), "rtsp://10.0.0.2/y/");
        assert_eq!(b(None, Some("rtsp://10.0.0.2/z/")), "rtsp://10.0.0.2/z/");
        assert_eq!(b(None, None), "rtsp://10.0.0.2/live");
    }

    #[test]
    fn controls_are_concatenated() {
        let j = |base: &str, c: Option<&str>| {
            join_control(&Url::parse(base).unwrap(), c)
                .unwrap()
                .to_string()
        };
        assert_eq!(j("rtsp://h/live", Some("track1")), "rtsp://h/live/track1");
        assert_eq!(j("rtsp://h/live/", Some("track1")), "rtsp://h/live/track1");
        assert_eq!(j("rtsp://h/live/", Some("/track1")), "rtsp://h/live/track1");
        assert_eq!(
            j("rtsp://h/onvif?channel=1&proto=Onvif", Some("/video")),
            "rtsp://h/onvif?channel=1&proto=Onvif/video"
        );
        assert_eq!(j("rtsp://h/a/", Some("*")), "rtsp://h/a/");
        assert_eq!(j("rtsp://h/a/", None), "rtsp://h/a/");
        assert_eq!(j("rtsp://h/a/", Some("rtsp://other/b")), "rtsp://other/b");
    }

    #[test]
    fn redact_drops_credentials() {
        let u = Url::parse("rtsp://admin:secret@cam:554/x").unwrap();
        assert_eq!(redact(&u), "rtsp://cam:554/x");
    }
}
