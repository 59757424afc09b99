//! Scripted exchanges with canned camera answers (Hikvision- and
//! Axis-like), driving the sans-IO session with a virtual clock.

use std::time::{Duration, Instant};

use mjpeg_rtp_rtsp::{
    Error, Event, Interleaved, Negotiated, Session, SessionConfig, TransportRequest,
};
use url::Url;

const SDP: &str = "v=0\r\n\
o=- 1109162014219182 1109162014219192 IN IP4 192.168.1.64\r\n\
s=Media Presentation\r\n\
t=0 0\r\n\
a=control:rtsp://192.168.1.64:554/Streaming/Channels/102/\r\n\
m=video 0 RTP/AVP 96\r\n\
a=rtpmap:96 JPEG/90000\r\n\
a=x-dimensions:2688,1520\r\n\
a=control:trackID=1\r\n";

const DIGEST: &str = r#"Digest realm="IP Camera(C6520)", nonce="6b9f0d3f1b0e2a1c", stale="FALSE""#;

/// RTP over UDP to client ports 50000-50001, falling back to TCP if asked.
fn udp(fallback_to_tcp: bool) -> TransportRequest {
    TransportRequest::Udp {
        client_port: (50000, 50001),
        fallback_to_tcp,
    }
}

/// The camera side: reads what the session sent, answers it.
struct Camera {
    session: Session,
    now: Instant,
    /// Every request, as text.
    requests: Vec<String>,
}

impl Camera {
    fn new(url: &str, transport: TransportRequest) -> Self {
        let mut session = Session::new(SessionConfig::new(Url::parse(url).unwrap(), transport));
        let now = Instant::now();
        session.on_connected(now);
        let mut c = Camera {
            session,
            now,
            requests: Vec::new(),
        };
        c.drain();
        c
    }

    fn drain(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            self.requests.push(String::from_utf8(bytes).unwrap());
        }
    }

    fn last(&self) -> &str {
        self.requests.last().unwrap()
    }

    fn last_method(&self) -> &str {
        self.last().split(' ').next().unwrap()
    }

    /// Answer the last request with `status` and `headers` (CSeq added).
    fn answer(&mut self, status: &str, headers: &str, body: &str) -> Vec<Event> {
        let cseq = self
            .last()
            .lines()
            .find_map(|l| l.strip_prefix("CSeq: "))
            .unwrap()
            .to_owned();
        let reply = format!(
            "RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.feed(reply.as_bytes())
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.session.handle_input(bytes);
        while self.session.poll_input(self.now).is_some() {}
        self.drain();
        self.events()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }

    fn advance(&mut self, by: Duration) -> Vec<Event> {
        self.now += by;
        if self.session.poll_timeout().is_some_and(|t| t <= self.now) {
            self.session.handle_timeout(self.now);
        }
        self.drain();
        self.events()
    }
}

#[test]
fn digest_tcp_session_keepalive_and_teardown() {
    let mut cam = Camera::new(
        "rtsp://admin:p%40ss@192.168.1.64:554/Streaming/Channels/102",
        TransportRequest::Tcp,
    );
    assert!(cam
        .last()
        .starts_with("OPTIONS rtsp://192.168.1.64:554/Streaming/Channels/102 RTSP/1.0"));
    assert!(
        !cam.last().contains("admin"),
        "credentials never in a request line"
    );
    cam.answer(
        "200 OK",
        "Public: OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, TEARDOWN, SET_PARAMETER, GET_PARAMETER\r\n",
        "",
    );
    assert_eq!(cam.last_method(), "DESCRIBE");
    assert!(!cam.last().contains("Authorization"));
    cam.answer(
        "401 Unauthorized",
        &format!("WWW-Authenticate: {DIGEST}\r\n"),
        "",
    );
    assert_eq!(cam.last_method(), "DESCRIBE");
    assert!(
        cam.last()
            .contains(r#"Authorization: Digest username="admin", realm="IP Camera(C6520)""#),
        "{}",
        cam.last()
    );
    cam.answer(
        "200 OK",
        "Content-Type: application/sdp\r\nContent-Base: rtsp://192.168.1.64:554/Streaming/Channels/102/\r\n",
        SDP,
    );
    assert!(
        cam.last()
            .starts_with("SETUP rtsp://192.168.1.64:554/Streaming/Channels/102/trackID=1 RTSP/1.0"),
        "{}",
        cam.last()
    );
    assert!(cam
        .last()
        .contains("Transport: RTP/AVP/TCP;unicast;interleaved=0-1"));
    assert!(
        cam.last().contains("Authorization: Digest"),
        "every request answers the challenge"
    );
    // Quirks: spaces in Session, other channels than asked, hex ssrc.
    cam.answer("200 OK", "Session:  7A3F2C01 ; timeout = 30\r\nTransport: RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=4B1D2E\r\n", "");
    assert_eq!(cam.last_method(), "PLAY");
    assert!(cam.last().contains("Session: 7A3F2C01\r\n"));
    assert!(cam
        .last()
        .starts_with("PLAY rtsp://192.168.1.64:554/Streaming/Channels/102/ RTSP/1.0"));
    let events = cam.answer(
        "200 OK",
        "Session: 7A3F2C01;timeout=30\r\nRTP-Info: url=trackID=1;seq=0;rtptime=0;\r\n",
        "",
    );
    let [Event::Playing {
        track,
        transport,
        session_timeout,
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((track.payload_type, track.size), (96, Some((2688, 1520))));
    assert_eq!(
        *transport,
        Negotiated::Interleaved {
            rtp: 2,
            rtcp: 3,
            ssrc: Some(0x4B1D2E)
        }
    );
    assert_eq!(*session_timeout, Duration::from_secs(30));

    // Interleaved data, by channel; a channel never set up is counted.
    cam.session
        .handle_input(b"$\x02\x00\x02ab$\x03\x00\x01c$\x07\x00\x00");
    assert_eq!(
        cam.session.poll_input(cam.now),
        Some(Interleaved::Rtp(b"ab"))
    );
    assert_eq!(
        cam.session.poll_input(cam.now),
        Some(Interleaved::Rtcp(b"c"))
    );
    assert_eq!(
        cam.session.poll_input(cam.now),
        Some(Interleaved::Other { channel: 7, len: 0 })
    );
    assert_eq!(cam.session.poll_input(cam.now), None);
    assert_eq!(cam.session.foreign_frames(), 1);

    // Keepalive at timeout / 2; a 405 turns keepalives into OPTIONS at
    // once, each carrying the session.
    let sent = cam.requests.len();
    assert!(cam.advance(Duration::from_secs(14)).is_empty());
    assert_eq!(cam.requests.len(), sent);
    cam.advance(Duration::from_secs(1));
    assert_eq!(cam.last_method(), "GET_PARAMETER");
    assert!(cam.last().contains("Session: 7A3F2C01\r\n"));
    assert!(cam.answer("405 Method Not Allowed", "", "").is_empty());
    assert_eq!(cam.last_method(), "OPTIONS");
    assert!(
        cam.last().contains("Session: 7A3F2C01\r\n"),
        "{}",
        cam.last()
    );
    // Quirk: answered with a wrong (newer) CSeq.
    cam.feed(b"RTSP/1.0 200 OK\r\nCSeq: 999\r\n\r\n");
    assert!(cam.session.poll_timeout().unwrap() > cam.now + Duration::from_secs(14));
    // Quirk: answered with a stale CSeq (the PLAY's) or none: still the
    // keepalive's answer, and the next one follows at timeout / 2 (not a
    // request timeout 10 s later).
    for stale in ["CSeq: 4\r\n", ""] {
        cam.advance(Duration::from_secs(15));
        assert_eq!(cam.last_method(), "OPTIONS");
        cam.feed(format!("RTSP/1.0 200 OK\r\n{stale}\r\n").as_bytes());
        assert_eq!(
            cam.session.poll_timeout(),
            Some(cam.now + Duration::from_secs(15)),
            "{stale:?}"
        );
    }

    cam.session.teardown(cam.now);
    cam.drain();
    assert_eq!(cam.last_method(), "TEARDOWN");
    assert!(cam.last().contains("Session: 7A3F2C01"));
    assert_eq!(cam.answer("200 OK", "", ""), [Event::Closed]);
}

#[test]
fn wrong_password_fails_after_one_retry() {
    let mut cam = Camera::new("rtsp://admin:s3cret@cam/live", TransportRequest::Tcp);
    cam.answer("200 OK", "", "");
    cam.answer(
        "401 Unauthorized",
        "WWW-Authenticate: Basic realm=\"cam\"\r\n",
        "",
    );
    assert!(cam.last().contains("Authorization: Basic YWRtaW46czNjcmV0"));
    let events = cam.answer(
        "401 Unauthorized",
        "WWW-Authenticate: Basic realm=\"cam\"\r\n",
        "",
    );
    assert_eq!(
        events,
        [Event::Failed(Error::Unauthorized {
            url: "rtsp://cam/live".into(),
            sent_credentials: true
        })]
    );
    assert!(!events[0].clone().to_string_lossy().contains("s3cret"));
    assert!(cam.session.poll_transmit().is_none(), "no retry storm");
}

#[test]
fn no_credentials_is_a_clear_401() {
    let mut cam = Camera::new("rtsp://cam/live", TransportRequest::Tcp);
    cam.answer("200 OK", "", "");
    let events = cam.answer(
        "401 Unauthorized",
        &format!("WWW-Authenticate: {DIGEST}\r\n"),
        "",
    );
    assert!(matches!(
        &events[..],
        [Event::Failed(Error::Unauthorized {
            sent_credentials: false,
            ..
        })]
    ));
}

#[test]
fn udp_461_falls_back_to_tcp() {
    let mut cam = Camera::new("rtsp://cam/live", udp(true));
    cam.answer("200 OK", "", "");
    cam.answer("200 OK", "Content-Type: application/sdp\r\n", SDP);
    assert!(cam
        .last()
        .contains("Transport: RTP/AVP;unicast;client_port=50000-50001"));
    cam.answer("461 Unsupported Transport", "", "");
    assert!(cam
        .last()
        .contains("Transport: RTP/AVP/TCP;unicast;interleaved=0-1"));
    // Quirk: no interleaved= in the reply: the channels asked for.
    cam.answer("200 OK", "Session: 1\r\nTransport: RTP/AVP/TCP\r\n", "");
    let events = cam.answer("200 OK", "", "");
    assert!(
        matches!(&events[..], [Event::Playing { transport: Negotiated::Interleaved { rtp: 0, rtcp: 1, .. }, session_timeout, .. }] if *session_timeout == Duration::from_secs(60)),
        "{events:?}"
    );
}

#[test]
fn udp_reply_and_redirect() {
    let mut cam = Camera::new("rtsp://u:p@front/live", udp(false));
    let events = cam.answer(
        "302 Moved Temporarily",
        "Location: rtsp://back:8554/live\r\n",
        "",
    );
    assert_eq!(
        events,
        [Event::Redirect {
            url: Url::parse("rtsp://back:8554/live").unwrap()
        }]
    );
    cam.session.on_connected(cam.now);
    cam.drain();
    assert!(cam
        .last()
        .starts_with("OPTIONS rtsp://back:8554/live RTSP/1.0"));
    cam.answer("200 OK", "", "");
    // Content-Base doubled scheme, static PT 26.
    let sdp = SDP
        .replace("RTP/AVP 96", "RTP/AVP 26")
        .replace("a=rtpmap:96 JPEG/90000\r\n", "");
    cam.answer(
        "200 OK",
        "Content-Base: rtsp://rtsp://back:8554/live/\r\n",
        &sdp,
    );
    assert!(
        cam.last()
            .starts_with("SETUP rtsp://back:8554/live/trackID=1 "),
        "{}",
        cam.last()
    );
    cam.answer("200 OK", "Session: abc;timeout=15\r\nTransport: RTP/AVP;unicast;client_port=50000-50001;server_port=6970-6971;ssrc=0x00C0FFEE\r\n", "");
    let events = cam.answer("200 OK", "", "");
    let [Event::Playing {
        track, transport, ..
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(track.payload_type, 26);
    assert_eq!(
        *transport,
        Negotiated::Udp {
            server_port: Some((6970, 6971)),
            source: None,
            ssrc: Some(0xC0FFEE)
        }
    );
}

#[test]
fn unanswered_request_times_out_and_teardown_without_session_closes() {
    let mut cam = Camera::new("rtsp://cam/live", TransportRequest::Tcp);
    assert_eq!(
        cam.advance(Duration::from_secs(11)),
        [Event::Failed(Error::Timeout { method: "OPTIONS" })]
    );
    let mut cam = Camera::new("rtsp://cam/live", TransportRequest::Tcp);
    cam.session.teardown(cam.now);
    assert_eq!(cam.session.poll_event(), Some(Event::Closed));
}

trait Lossy {
    fn to_string_lossy(self) -> String;
}
impl Lossy for Event {
    fn to_string_lossy(self) -> String {
        match self {
            Event::Failed(e) => e.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// Drive a session with `transport` to its SETUP and answer it with
/// `reply` as the `Transport` header; the events of the answer to PLAY
/// (or of SETUP's answer, when it failed).
fn multicast_setup(transport: TransportRequest, reply: &str) -> (Camera, Vec<Event>) {
    let mut cam = Camera::new("rtsp://cam/live", transport);
    cam.answer("200 OK", "", "");
    cam.answer("200 OK", "Content-Type: application/sdp\r\n", SDP);
    assert_eq!(cam.last_method(), "SETUP");
    let events = cam.answer(
        "200 OK",
        &format!("Session: 7\r\nTransport: {reply}\r\n"),
        "",
    );
    let [Event::Join { transport }] = &events[..] else {
        return (cam, events);
    };
    // No PLAY before the driver has joined the group.
    assert_eq!(cam.last_method(), "SETUP");
    assert_eq!(cam.session.poll_timeout(), None);
    let playing = transport.clone();
    cam.session.play(cam.now);
    cam.drain();
    assert_eq!(cam.last_method(), "PLAY");
    let events = cam.answer("200 OK", "", "");
    if let [Event::Playing { transport, .. }] = &events[..] {
        assert_eq!(*transport, playing, "PLAY plays what Join said");
    }
    // Once playing, play() does nothing.
    cam.session.play(cam.now);
    assert!(cam.session.poll_transmit().is_none());
    (cam, events)
}

#[test]
fn multicast_server_chosen_group_and_ports() {
    let any = TransportRequest::Multicast {
        destination: None,
        port: None,
        ttl: None,
    };
    // gst-rtsp-server's reply, with its address pool's choice.
    let (cam, events) = multicast_setup(
        any,
        "RTP/AVP;multicast;destination=224.3.0.1;ttl=16;port=5000-5001;mode=\"PLAY\"",
    );
    let setup = &cam.requests[cam.requests.len() - 2];
    assert!(
        setup.contains("Transport: RTP/AVP;multicast\r\n"),
        "{setup}"
    );
    assert!(
        matches!(&events[..], [Event::Playing { transport: Negotiated::Multicast { destination, port: (5000, 5001), ttl: Some(16), .. }, .. }] if destination.to_string() == "224.3.0.1"),
        "{events:?}"
    );
}

#[test]
fn multicast_asked_group_fills_what_the_reply_leaves_out() {
    let asked = TransportRequest::Multicast {
        destination: Some("239.255.0.7".parse().unwrap()),
        port: Some((6000, 6001)),
        ttl: Some(4),
    };
    let (cam, events) = multicast_setup(asked, "RTP/AVP;multicast;ssrc=1234ABCD");
    let setup = &cam.requests[cam.requests.len() - 2];
    assert!(
        setup.contains(
            "Transport: RTP/AVP;multicast;destination=239.255.0.7;port=6000-6001;ttl=4\r\n"
        ),
        "{setup}"
    );
    assert_eq!(
        events,
        [Event::Playing {
            track: events_track(&events),
            transport: Negotiated::Multicast {
                destination: "239.255.0.7".parse().unwrap(),
                port: (6000, 6001),
                ttl: None,
                source: None,
                ssrc: Some(0x1234ABCD),
            },
            session_timeout: Duration::from_secs(60),
        }]
    );
}

#[test]
fn multicast_answered_with_unicast_or_no_port_fails_setup() {
    let any = TransportRequest::Multicast {
        destination: None,
        port: None,
        ttl: None,
    };
    for reply in [
        // A server that ignored `multicast`.
        "RTP/AVP;unicast;destination=192.168.1.10;client_port=5000-5001;server_port=6000-6001",
        // A group but no port.
        "RTP/AVP;multicast;destination=224.3.0.1",
        // A group name that is not an address.
        "RTP/AVP;multicast;destination=cameras.local;port=5000-5001",
    ] {
        let (_, events) = multicast_setup(any, reply);
        assert_eq!(
            events,
            [Event::Failed(Error::BadResponse {
                method: "SETUP",
                what: "no multicast group and port in its Transport",
            })],
            "{reply}"
        );
    }
    // A reconnect names the old group and ports: a unicast answer that
    // names no group is still not that group.
    let again = TransportRequest::Multicast {
        destination: Some("224.3.0.1".parse().unwrap()),
        port: Some((5000, 5001)),
        ttl: None,
    };
    let (_, events) = multicast_setup(
        again,
        "RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001",
    );
    assert!(matches!(&events[..], [Event::Failed(_)]), "{events:?}");
}

fn events_track(events: &[Event]) -> mjpeg_rtp_rtsp::JpegTrack {
    match events {
        [Event::Playing { track, .. }] => track.clone(),
        _ => panic!("{events:?}"),
    }
}

/// Micro-RTSP, the RTSP server of many ESP32-CAM boards, as captured:
/// an SDP of `m=` and `c=` only (no `a=control`), a negative session id
/// without timeout, an `RTP-Info` naming another host and port, and a
/// TEARDOWN it never answers.
#[test]
fn micro_rtsp_esp32_cam() {
    let mut cam = Camera::new("rtsp://10.0.0.9:8554/mjpeg/1", udp(true));
    cam.answer("200 OK", "Public: DESCRIBE, SETUP, TEARDOWN, PLAY\r\n", "");
    cam.answer(
        "200 OK",
        "Content-Base: rtsp://10.0.0.9:8554/mjpeg/1/\r\nContent-Type: application/sdp\r\n",
        "m=video 0 RTP/AVP 26\r\nc=IN IP4 0.0.0.0\r\n",
    );
    // No a=control: the track is the Content-Base itself.
    assert!(
        cam.last()
            .starts_with("SETUP rtsp://10.0.0.9:8554/mjpeg/1/ RTSP/1.0"),
        "{}",
        cam.last()
    );
    cam.answer(
        "200 OK",
        "Transport: RTP/AVP;unicast;destination=10.0.0.5;source=10.0.0.9;\
         client_port=50000-50001;server_port=6970-6971\r\nSession: -343194265\r\n",
        "",
    );
    // The id echoed exactly, sign and all.
    assert!(cam
        .last()
        .starts_with("PLAY rtsp://10.0.0.9:8554/mjpeg/1/ "));
    assert!(
        cam.last().contains("\r\nSession: -343194265\r\n"),
        "{}",
        cam.last()
    );
    let events = cam.answer(
        "200 OK",
        "Range: npt=0.000-\r\nSession: -343194265\r\n\
         RTP-Info: url=rtsp://127.0.0.1:8554/mjpeg/1/track1\r\n",
        "",
    );
    let [Event::Playing {
        track,
        transport,
        session_timeout,
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(track.payload_type, 26);
    assert_eq!(*session_timeout, Duration::from_secs(60));
    assert_eq!(
        *transport,
        Negotiated::Udp {
            server_port: Some((6970, 6971)),
            source: Some("10.0.0.9".into()),
            ssrc: None
        }
    );
    assert!(!cam.session.udp_only());

    // TEARDOWN unanswered: closed after at most a second.
    cam.session.teardown(cam.now);
    cam.drain();
    assert!(cam.last().starts_with("TEARDOWN "));
    assert!(cam.last().contains("\r\nSession: -343194265\r\n"));
    assert_eq!(cam.advance(Duration::from_millis(990)), []);
    assert_eq!(cam.advance(Duration::from_millis(10)), [Event::Closed]);
}

/// espp's ESP32 RTSP server: `a=udp-only`, no `server_port` in its
/// SETUP answer. A 461 to UDP is then final, not a reason to try TCP.
#[test]
fn udp_only_server() {
    let sdp = "v=0\r\no=- 0 0 IN IP4 10.0.0.9\r\ns=espp\r\nt=0 0\r\na=udp-only\r\n\
m=video 0 RTP/AVP 26\r\na=control:trackID=0\r\n";
    let mut cam = Camera::new("rtsp://10.0.0.9/mjpeg/1", udp(true));
    cam.answer("200 OK", "", "");
    cam.answer("200 OK", "Content-Type: application/sdp\r\n", sdp);
    assert!(cam.session.udp_only());
    let events = cam.answer("461 Unsupported Transport", "", "");
    assert_eq!(events, [Event::Failed(Error::UnsupportedTransport)]);

    let mut cam = Camera::new("rtsp://10.0.0.9/mjpeg/1", udp(true));
    cam.answer("200 OK", "", "");
    cam.answer("200 OK", "Content-Type: application/sdp\r\n", sdp);
    cam.answer(
        "200 OK",
        "Session: 7\r\nTransport: RTP/AVP;unicast;client_port=50000-50001\r\n",
        "",
    );
    let events = cam.answer("200 OK", "", "");
    assert!(
        matches!(
            &events[..],
            [Event::Playing {
                transport: Negotiated::Udp {
                    server_port: None,
                    ..
                },
                ..
            }]
        ),
        "{events:?}"
    );
}

/// A TCP session played with `session` as the SETUP answer's Session
/// header.
fn playing(url: &str, session: &str) -> Camera {
    let mut cam = Camera::new(url, TransportRequest::Tcp);
    cam.answer(
        "200 OK",
        "Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER\r\n",
        "",
    );
    cam.answer("200 OK", "Content-Base: rtsp://cam/live/\r\n", SDP);
    cam.answer(
        "200 OK",
        &format!("Session: {session}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"),
        "",
    );
    let events = cam.answer("200 OK", "", "");
    assert!(matches!(events[..], [Event::Playing { .. }]), "{events:?}");
    cam
}

#[test]
fn keepalive_interval_is_capped_at_30_s_and_a_501_switches_to_options_at_once() {
    // A server announcing an hour may still drop sessions after a minute.
    let mut cam = playing("rtsp://cam/live", "S1;timeout=3600");
    assert_eq!(
        cam.session.poll_timeout(),
        Some(cam.now + Duration::from_secs(30))
    );
    cam.advance(Duration::from_secs(30));
    assert_eq!(cam.last_method(), "GET_PARAMETER");
    let sent = cam.requests.len();
    assert!(cam.answer("501 Not Implemented", "", "").is_empty());
    assert_eq!(cam.requests.len(), sent + 1);
    assert_eq!(cam.last_method(), "OPTIONS");
    assert!(cam.last().contains("Session: S1\r\n"), "{}", cam.last());
    assert!(cam.answer("200 OK", "Session: S1\r\n", "").is_empty());
    cam.advance(Duration::from_secs(30));
    assert_eq!(cam.last_method(), "OPTIONS");
}

#[test]
fn a_reply_for_another_session_fails_the_session() {
    let mut cam = playing("rtsp://cam/live", "S1;timeout=60");
    cam.advance(Duration::from_secs(30));
    assert_eq!(cam.last_method(), "GET_PARAMETER");
    assert_eq!(
        cam.answer("200 OK", "Session: S2;timeout=60\r\n", ""),
        [Event::Failed(Error::SessionMismatch {
            method: "GET_PARAMETER",
            expected: "S1".into(),
            got: "S2".into(),
        })]
    );
}

#[test]
fn credentials_are_sent_only_after_a_401_and_never_across_a_redirect_to_another_server() {
    // Same host and port (554 spelled out or not): the credentials stay.
    let mut cam = Camera::new("rtsp://u:p@front/live", TransportRequest::Tcp);
    cam.answer("302 Found", "Location: rtsp://front:554/other\r\n", "");
    cam.session.on_connected(cam.now);
    cam.drain();
    cam.answer("200 OK", "", "");
    assert!(!cam.last().contains("Authorization"), "{}", cam.last());
    cam.answer(
        "401 Unauthorized",
        "WWW-Authenticate: Basic realm=\"r\"\r\n",
        "",
    );
    assert_eq!(cam.last_method(), "DESCRIBE");
    assert!(
        cam.last().contains("Authorization: Basic dTpw"),
        "{}",
        cam.last()
    );

    // Another port, another host: dropped, even with user info in the
    // Location.
    for location in [
        "rtsp://front:8554/live",
        "rtsp://back/live",
        "rtsp://x:y@back/live",
    ] {
        let mut cam = Camera::new("rtsp://u:p@front/live", TransportRequest::Tcp);
        cam.answer("200 OK", "", "");
        cam.answer(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"r\"\r\n",
            "",
        );
        assert!(cam.last().contains("Authorization: Basic"), "{location}");
        let events = cam.answer("302 Found", &format!("Location: {location}\r\n"), "");
        let [Event::Redirect { url }] = &events[..] else {
            panic!("{events:?}")
        };
        assert!(url.username().is_empty() && url.password().is_none());
        cam.session.on_connected(cam.now);
        cam.drain();
        cam.answer("200 OK", "", "");
        assert_eq!(cam.last_method(), "DESCRIBE");
        assert!(
            !cam.last().contains("Authorization"),
            "{location}: {}",
            cam.last()
        );
        let events = cam.answer(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"r\"\r\n",
            "",
        );
        assert_eq!(
            events,
            [Event::Failed(Error::Unauthorized {
                url: url.to_string(),
                sent_credentials: false
            })],
            "{location}"
        );
        // Nothing sent to the new server carried credentials.
        let to_new = cam.requests.split(|r| r.starts_with("OPTIONS")).next_back();
        assert!(to_new.unwrap().iter().all(|r| !r.contains("Authorization")));
    }
}
