//! The part of a DESCRIBE answer this client needs: the JPEG video
//! track, its control URL and, where the camera states it, the picture
//! size.
//!
//! `sdp-types` parses the description. Cameras send SDP it refuses (an
//! `o=` line with a field missing or one too many, a `c=` line cut
//! short, no `t=`, bare `\n` endings, blank lines): those are repaired
//! and parsed once more before giving up.

use sdp_types::{Media, Session};

/// RFC 3551's static payload type for JPEG.
pub const JPEG_STATIC_PAYLOAD_TYPE: u8 = 26;

/// The JPEG track of a session description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JpegTrack {
    /// 26, or the dynamic type mapped to `JPEG/90000`.
    pub payload_type: u8,
    /// `a=control` of the media (`None` when absent: the aggregate URL
    /// is then used).
    pub control: Option<String>,
    /// `a=framesize` or `a=x-dimensions`, needed for pictures wider or
    /// taller than 2040, which the RTP/JPEG header cannot carry.
    pub size: Option<(u16, u16)>,
}

/// What [`describe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Description {
    pub track: JpegTrack,
    /// Session-level `a=control` (the aggregate control URL for PLAY).
    pub session_control: Option<String>,
    /// `a=udp-only`, at session or media level (espp's ESP32 RTSP
    /// server): the server streams over UDP only, so asking it for TCP
    /// interleaving is pointless.
    pub udp_only: bool,
}

/// Why a description could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("the session description does not parse, even repaired")]
    Unparsable,
    #[error("the session description has no JPEG video track")]
    NoJpegTrack,
}

/// Find the JPEG track in an SDP body.
pub fn describe(body: &[u8]) -> Result<Description, SdpError> {
    let parse = |sdp: &[u8]| {
        well_formed_lines(sdp)
            .then(|| Session::parse(sdp).ok())
            .flatten()
    };
    let session = parse(body)
        .or_else(|| parse(&repair(body)))
        .ok_or(SdpError::Unparsable)?;
    let media = session
        .medias
        .iter()
        .filter(|m| m.media == "video")
        .find_map(|m| Some((jpeg_track(m)?, m)));
    let (track, media) = media.ok_or(SdpError::NoJpegTrack)?;
    let udp_only = session.has_attribute("udp-only") || media.has_attribute("udp-only");
    Ok(Description {
        track,
        udp_only,
        session_control: session
            .get_first_attribute_value("control")
            .ok()
            .flatten()
            .map(str::to_owned),
    })
}

fn jpeg_track(media: &Media) -> Option<JpegTrack> {
    // RTP payload types are 7 bits: a format of 128..=255 cannot be one.
    let formats: Vec<u8> = media
        .fmt
        .split_ascii_whitespace()
        .filter_map(|f| f.parse().ok())
        .filter(|&pt: &u8| pt < 128)
        .collect();
    let rtpmaps = rtpmaps(media);
    // An explicit JPEG/90000 mapping wins; a static 26 listed without one
    // is JPEG by RFC 3551.
    let payload_type = formats
        .iter()
        .copied()
        .find(|pt| {
            rtpmaps
                .iter()
                .any(|(mapped, enc)| mapped == pt && enc.eq_ignore_ascii_case("JPEG/90000"))
        })
        .or_else(|| {
            formats.iter().copied().find(|&pt| {
                pt == JPEG_STATIC_PAYLOAD_TYPE && !rtpmaps.iter().any(|(m, _)| *m == pt)
            })
        })?;
    Some(JpegTrack {
        payload_type,
        control: media
            .get_first_attribute_value("control")
            .ok()
            .flatten()
            .map(str::to_owned),
        size: size_attribute(media, payload_type),
    })
}

/// `a=rtpmap:96 JPEG/90000` -> (96, "JPEG/90000").
fn rtpmaps(media: &Media) -> Vec<(u8, &str)> {
    media
        .attributes
        .iter()
        .filter(|a| a.attribute == "rtpmap")
        .filter_map(|a| {
            let (pt, enc) = a.value.as_deref()?.trim().split_once(char::is_whitespace)?;
            Some((pt.parse().ok()?, enc.trim()))
        })
        .collect()
}

/// `a=framesize:26 1920-1080` or `a=x-dimensions:1920,1080`.
fn size_attribute(media: &Media, payload_type: u8) -> Option<(u16, u16)> {
    let pair = |s: &str, sep: char| {
        let (w, h) = s.trim().split_once(sep)?;
        let size: (u16, u16) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
        (size.0 > 0 && size.1 > 0).then_some(size)
    };
    media
        .attributes
        .iter()
        .find_map(|a| match (a.attribute.as_str(), a.value.as_deref()) {
            ("framesize", Some(v)) => {
                let (pt, size) = v.trim().split_once(char::is_whitespace)?;
                (pt.parse() == Ok(payload_type)).then(|| pair(size, '-'))?
            }
            ("x-dimensions", Some(v)) => pair(v, ','),
            _ => None,
        })
}

/// Whether every line is `k=...`. sdp-types 0.1.8 panics (an
/// `assert_eq!` that holds in release builds too, `parser.rs:374`) when a
/// line it cannot split into key and value follows a media section, so
/// such input never reaches it: the repair drops those lines (the
/// `rtsp_sdp` fuzz target feeds such lines).
fn well_formed_lines(sdp: &[u8]) -> bool {
    let mut lines = sdp.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        // sdp-types takes `\r\n` and `\n` as line ends, a lone `\r` not.
        let line = match line.strip_suffix(b"\r") {
            Some(l) if lines.peek().is_some() => l,
            _ => line,
        };
        if !line.is_empty() && line.iter().position(|&b| b == b'=') != Some(1) {
            return false;
        }
    }
    true
}

/// Rewrite what cameras get wrong into SDP `sdp-types` accepts.
fn repair(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut has_time = false;
    let mut in_media = false;
    // Quirk: a description that starts at its media (Micro-RTSP, the
    // RTSP server of many ESP32-CAM boards, sends only `m=` and `c=`):
    // the session lines SDP requires before it, made up.
    let present = |key: &str| text.lines().any(|l| l.trim().starts_with(key));
    if !present("v=") {
        out += "v=0\r\n";
    }
    if !present("o=") {
        out += "o=- 0 0 IN IP4 0.0.0.0\r\n";
    }
    if !present("s=") {
        out += "s= \r\n";
    }
    for line in text.lines().map(str::trim) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "o" => {
                // username sess-id sess-version nettype addrtype address
                let f: Vec<&str> = value.split_ascii_whitespace().collect();
                let get = |i: usize, d: &'static str| f.get(i).copied().unwrap_or(d);
                let version = get(2, "0").parse::<u64>().unwrap_or(0);
                let address = f.get(5..).and_then(|rest| rest.last()).copied();
                out += &format!(
                    "o={} {} {version} IN IP4 {}\r\n",
                    get(0, "-"),
                    get(1, "0"),
                    address.unwrap_or("0.0.0.0")
                );
            }
            // A c= line cut short is dropped.
            "c" if value.split_ascii_whitespace().count() >= 3 => {
                out += &format!("c={value}\r\n");
            }
            "m" if !in_media => {
                if !has_time {
                    out += "t=0 0\r\n";
                    has_time = true;
                }
                in_media = true;
                out += &format!("m={value}\r\n");
            }
            // Only one, before the first m= (t= is session-level).
            "t" if !in_media && !has_time => {
                out += &format!("t={value}\r\n");
                has_time = true;
            }
            "c" | "t" => {}
            "s" if value.is_empty() => out += "s= \r\n",
            k if k.len() == 1 && k.as_bytes()[0].is_ascii_lowercase() => {
                out += &format!("{kind}={value}\r\n");
            }
            _ => {}
        }
    }
    if !has_time {
        out += "t=0 0\r\n";
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Hikvision DS-2CD2xxx answer for its MJPEG sub stream.
    const HIKVISION: &str = "v=0\r\n\
o=- 1109162014219182 1109162014219192 IN IP4 192.168.1.64\r\n\
s=Media Presentation\r\n\
e=NONE\r\n\
b=AS:5050\r\n\
t=0 0\r\n\
a=control:rtsp://192.168.1.64:554/Streaming/Channels/102/?transportmode=unicast\r\n\
m=video 0 RTP/AVP 26\r\n\
b=AS:5000\r\n\
a=recvonly\r\n\
a=x-dimensions:640,480\r\n\
a=control:rtsp://192.168.1.64:554/Streaming/Channels/102/trackID=1?transportmode=unicast\r\n\
a=Media_header:MEDIAINFO=494D4B48010100000400000100000000000000000000000000000000000000000000000000000000;\r\n\
a=appversion:1.0\r\n";

    /// An Axis answer: audio first, dynamic JPEG, framesize.
    const AXIS: &str = "v=0\r\n\
o=- 1234567890 1 IN IP4 192.168.0.90\r\n\
s=Session streamed with GStreamer\r\n\
i=rtsp-server\r\n\
t=0 0\r\n\
a=tool:GStreamer\r\n\
a=type:broadcast\r\n\
a=range:npt=now-\r\n\
a=control:rtsp://192.168.0.90/axis-media/media.amp?videocodec=jpeg\r\n\
m=audio 0 RTP/AVP 97\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtpmap:97 MPEG4-GENERIC/16000/1\r\n\
a=control:rtsp://192.168.0.90/axis-media/media.amp/stream=1?videocodec=jpeg\r\n\
m=video 0 RTP/AVP 96\r\n\
c=IN IP4 0.0.0.0\r\n\
b=AS:50000\r\n\
a=rtpmap:96 JPEG/90000\r\n\
a=framesize:96 2592-1944\r\n\
a=control:rtsp://192.168.0.90/axis-media/media.amp/stream=0?videocodec=jpeg\r\n";

    #[test]
    fn hikvision_static_26_with_x_dimensions() {
        let d = describe(HIKVISION.as_bytes()).unwrap();
        assert_eq!(d.track.payload_type, 26);
        assert_eq!(d.track.size, Some((640, 480)));
        assert_eq!(
            d.track.control.as_deref(),
            Some("rtsp://192.168.1.64:554/Streaming/Channels/102/trackID=1?transportmode=unicast")
        );
        assert!(d
            .session_control
            .unwrap()
            .ends_with("/102/?transportmode=unicast"));
    }

    #[test]
    fn axis_dynamic_96_after_audio_with_framesize() {
        let d = describe(AXIS.as_bytes()).unwrap();
        assert_eq!(d.track.payload_type, 96);
        assert_eq!(d.track.size, Some((2592, 1944)));
        assert!(d.track.control.unwrap().contains("stream=0"));
    }

    #[test]
    fn broken_sdp_is_repaired() {
        // Truncated o= (4 fields), c= cut short, no t=, bare \n, an extra
        // blank line, attributes before m=.
        let broken = "v=0\n\
o=- 0 0 IN\n\
s=\n\
c=IN IP4\n\
\n\
a=control:*\n\
m=video 0 RTP/AVP 26\n\
a=control:track1\n";
        let d = describe(broken.as_bytes()).unwrap();
        assert_eq!(d.track.payload_type, 26);
        assert_eq!(d.track.control.as_deref(), Some("track1"));
        assert_eq!(d.session_control.as_deref(), Some("*"));
    }

    #[test]
    fn a_line_without_key_after_the_media_does_not_reach_sdp_types() {
        // Minimized from the rtsp_sdp fuzz target: sdp-types panicked on
        // the NUL line after the m= section.
        let crash = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\n\
m=video 0 RTP/AVP 96\r\na=control:/video\r\n\0\0\0a=rtpmap:96 JPEG/90000\r\n\
b=AS:2000\r\nc=IN IP4 0.0.0.0\r\n";
        assert!(!well_formed_lines(crash.as_bytes()));
        // Repaired: the keyless line is dropped; no rtpmap is left, and
        // 96 is no static type.
        assert_eq!(describe(crash.as_bytes()), Err(SdpError::NoJpegTrack));
        assert!(well_formed_lines(b"v=0\r\n\r\nx=y\n\n"));
        assert!(!well_formed_lines(b"v=0\r\nab=c\r\n"));
        assert!(!well_formed_lines(b"v=0\r\nx\r"));
    }

    /// What Micro-RTSP (ESP32-CAM firmware) answers to DESCRIBE: no
    /// session lines, no `a=control`, no `a=rtpmap`.
    const MICRO_RTSP: &str = "m=video 0 RTP/AVP 26\r\nc=IN IP4 0.0.0.0\r\n";

    #[test]
    fn micro_rtsp_media_and_connection_only() {
        let d = describe(MICRO_RTSP.as_bytes()).unwrap();
        assert_eq!(d.track.payload_type, 26);
        assert_eq!(d.track.control, None);
        assert_eq!(d.session_control, None);
        assert!(!d.udp_only);
        // The same with the session lines it may have in other versions.
        let full = format!("v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=mjpeg\r\nt=0 0\r\n{MICRO_RTSP}");
        assert_eq!(describe(full.as_bytes()).unwrap(), d);
    }

    #[test]
    fn udp_only_at_session_or_media_level() {
        let session_level = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=espp\r\nt=0 0\r\n\
a=udp-only\r\nm=video 0 RTP/AVP 26\r\na=control:trackID=0\r\n";
        let d = describe(session_level.as_bytes()).unwrap();
        assert!(d.udp_only);
        assert_eq!(d.track.control.as_deref(), Some("trackID=0"));
        let media_level = session_level.replace(
            "a=udp-only\r\nm=video 0 RTP/AVP 26\r\n",
            "m=video 0 RTP/AVP 26\r\na=udp-only\r\n",
        );
        assert!(describe(media_level.as_bytes()).unwrap().udp_only);
        assert!(!describe(HIKVISION.as_bytes()).unwrap().udp_only);
    }

    #[test]
    fn no_jpeg_track() {
        let h264 = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        assert_eq!(describe(h264.as_bytes()), Err(SdpError::NoJpegTrack));
        // A JPEG mapping on a "payload type" no RTP header can carry.
        let wide = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\nt=0 0\r\n\
m=video 0 RTP/AVP 200\r\na=rtpmap:200 JPEG/90000\r\n";
        assert_eq!(describe(wide.as_bytes()), Err(SdpError::NoJpegTrack));
        assert!(describe(b"\x00\x01garbage").is_err());
    }
}
