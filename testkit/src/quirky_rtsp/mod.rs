//! A scripted, misbehaving RTSP server: plain std TCP (and UDP), one
//! thread per connection, answering OPTIONS / DESCRIBE / SETUP / PLAY /
//! GET_PARAMETER / TEARDOWN the way the cameras of the field get them
//! wrong ([`Quirks`], one switch per quirk), and streaming the gst-420
//! fixture JPEGs as RFC 2435 RTP so that every frame can be checked
//! pixel-exact against the picture it was cut from.
//!
//! The server is also strict where a real camera is: a SETUP to a URL
//! other than the one the quirk implies is a 404, a request with a stale
//! `Session` id a 454, a wrong Digest answer a 401, and (unless
//! [`SessionQuirks::enforce_timeout`] is off) a session that no request
//! naming it kept alive within its timeout is dropped. Everything a client sent is recorded
//! ([`QuirkyServer::requests`]) for the tests to assert on.
//!
//! Frame `n` of a connection carries RTP timestamp `TIMESTAMP_BASE + n *
//! TIMESTAMP_STEP` and the picture `originals[n % 4]`
//! ([`QuirkyServer::original_for`]; with
//! [`Esp32::shared_first_timestamp`] frames 0 and 1 share the first
//! timestamp, see [`QuirkyServer::original_nth`]); sequence numbers start
//! at [`FIRST_SEQUENCE`], so that an `RTP-Info` saying
//! `seq=0;rtptime=0` is a lie a client must not act on.
//!
//! [`Quirks::micro_rtsp`] and [`Quirks::espp`] are the ESP32 camera
//! servers of the field, every quirk of each at once.
//!
//! It listens on `127.0.0.1` ([`QuirkyServer::start`]) or on another
//! address of the calling thread's network namespace
//! ([`QuirkyServer::start_at`], with [`Quirks::multicast`] for a server
//! beside its receivers' namespace, `crate::netns`).

mod connection;
mod wire;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{fixtures_dir, Datagram};
use connection::Connection;

/// 90 kHz at 25 fps.
pub const TIMESTAMP_STEP: u32 = 3600;
/// RTP timestamp of every connection's frame 0 (a multiple of four
/// steps, so that `original_for` needs no offset).
pub const TIMESTAMP_BASE: u32 = 4 * TIMESTAMP_STEP * 100_000;
/// Sequence number of every connection's first packet.
pub const FIRST_SEQUENCE: u16 = 40_000;
/// Time between frames.
const FRAME_INTERVAL: Duration = Duration::from_millis(40);
/// How often a connection looks for requests while streaming.
const POLL: Duration = Duration::from_millis(5);
/// SSRC of the first connection's stream (the n-th adds n).
pub const SSRC: u32 = 0x5155_4952;
/// A stranger's SSRC for [`Quirks::foreign_sender_reports`].
pub const FOREIGN_SSRC: u32 = 0xDEAD_BEEF;

/// Where `Content-Base` points, or how it is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentBase {
    /// `Content-Base: rtsp://127.0.0.1:PORT{path}/`.
    #[default]
    Proper,
    /// No Content-Base and no Content-Location: the request URL is the
    /// base.
    Missing,
    /// No Content-Base; `Content-Location` names the base (a different
    /// path than the request's, so that using the request URL is a 404).
    LocationOnly,
    /// `Content-Base: 127.0.0.1:PORT{path}/` (no scheme).
    NoScheme,
    /// `Content-Base: rtsp://rtsp://127.0.0.1:PORT{path}/`.
    Doubled,
}

/// Which interleaved channels the SETUP answer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    /// The ones asked for.
    #[default]
    AsAsked,
    /// Others than asked for (data then flows on these).
    Other(u8, u8),
    /// No `interleaved=` in the answer (data on 0-1).
    Absent,
}

/// How the `ssrc=` of the SETUP answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SsrcForm {
    #[default]
    None,
    /// `ssrc=5155494A` (RFC 2326).
    Hex,
    /// `ssrc=0x5155494A`.
    Hex0x,
    /// `ssrc=1554952`: odd length (the stream's SSRC is then 0x01554952).
    OddHex,
    /// `ssrc=1364543826`.
    Decimal,
}

/// The SDP of the DESCRIBE answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sdp {
    #[default]
    Proper,
    /// `o=- 0 0 IN` (address fields missing).
    TruncatedOrigin,
    /// `c=IN IP4` (no address).
    TruncatedConnection,
    /// `o=- 1 1 IN IP4 EXTRA 127.0.0.1` (one field too many).
    ExtraOriginField,
    /// `a=` lines before `m=`, `a=control` before `a=rtpmap`, `b=` after
    /// the attributes, `c=` after `a=`.
    AttributesOutOfOrder,
    /// No `t=` line.
    NoTime,
    /// Only `m=video 0 RTP/AVP 26` and `c=IN IP4 0.0.0.0`: no session
    /// lines, no `a=rtpmap`, no `a=control` (Micro-RTSP).
    MediaOnly,
}

/// How an answer to a keepalive is numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeepaliveCseq {
    #[default]
    Echo,
    /// The CSeq of the PLAY request (stale).
    Stale,
    /// No CSeq header.
    Missing,
}

/// Digest challenges to send with a 401 (one `WWW-Authenticate` header
/// each) and the account they protect.
#[derive(Debug, Clone)]
pub struct Auth {
    pub challenges: Vec<String>,
    pub user: String,
    pub password: String,
}

/// `realm`, `nonce`, `algorithm` and `qop` of a Digest challenge.
pub fn digest_challenge(algorithm: &str, qop: bool) -> String {
    let qop = if qop { ", qop=\"auth\"" } else { "" };
    format!("Digest realm=\"quirks\", nonce=\"5eed{algorithm}\", algorithm={algorithm}{qop}")
}

/// How the server keeps (and numbers, and expires) its sessions.
#[derive(Debug, Clone)]
pub struct SessionQuirks {
    /// `;timeout=` of the Session header (`None`: left out).
    pub timeout: Option<u32>,
    /// `Session:   ID ;  timeout = N`.
    pub spaces: bool,
    /// Close the connection when no request naming the session came
    /// within the timeout (60 s when none was announced), like a camera
    /// expiring a session. On by default.
    pub enforce_timeout: bool,
    /// A fresh session id at every SETUP (and 454 for a stale one).
    pub new_id_per_setup: bool,
    pub keepalive_cseq: KeepaliveCseq,
    /// This id for every session instead of `QS{n}` (Micro-RTSP's are
    /// negative numbers).
    pub id: Option<String>,
}

impl Default for SessionQuirks {
    fn default() -> Self {
        SessionQuirks {
            timeout: Some(60),
            spaces: false,
            enforce_timeout: true,
            new_id_per_setup: false,
            keepalive_cseq: KeepaliveCseq::Echo,
            id: None,
        }
    }
}

/// How ESP32 camera firmware shapes its RTP/JPEG (see
/// [`crate::esp32`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Esp32 {
    /// Q 128 with the tables in each frame's first fragment, this Q in
    /// every later one.
    pub later_q: Option<u8>,
    /// The whole JPEG file sent as the scan data (espp).
    pub jfif_in_payload: bool,
    /// Frames 0 and 1 carry the same timestamp, frame `n > 0` the one
    /// frame `n - 1` would (Micro-RTSP's first two frames are both 0).
    pub shared_first_timestamp: bool,
}

/// A multicast-only server: SETUP asking for anything but
/// `RTP/AVP;multicast` gets 461; the stream goes to `group` on the RTP and
/// RTCP `ports`, sent by connection `n` from `sources[n]` (the last
/// source for later connections), which its SETUP answer names as
/// `source=`. As over unicast UDP, the first frame leaves the moment PLAY
/// is answered, before the answer is written: a receiver that joins the
/// group only once it has read the answer misses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multicast {
    pub group: Ipv4Addr,
    pub ports: (u16, u16),
    /// Addresses of the server's host (not necessarily the one the RTSP
    /// connection reaches).
    pub sources: Vec<Ipv4Addr>,
}

/// One switch per quirk; `Quirks::default()` is a well-behaved camera.
#[derive(Debug, Clone)]
pub struct Quirks {
    /// Path (and query) of the stream, e.g. `/cam` or
    /// `/onvif?channel=1&proto=Onvif`.
    pub path: String,
    /// The media's `a=control` (joined to the base by concatenation).
    pub control: String,
    pub content_base: ContentBase,
    pub sdp: Sdp,
    /// `Public` of the OPTIONS answer.
    pub public: String,
    /// Status of a GET_PARAMETER answer (200, or an error although it is
    /// advertised).
    pub get_parameter_status: u16,
    pub session: SessionQuirks,
    pub channels: Channels,
    /// Also send junk `$` frames on this channel, never set up.
    pub foreign_channel: Option<u8>,
    pub ssrc: SsrcForm,
    /// `RTP-Info` of the PLAY answer; `{url}` becomes the track URL,
    /// `{rel}` the bare control.
    pub rtp_info: Option<String>,
    /// Send an RTCP sender report for [`FOREIGN_SSRC`] (and one for the
    /// stream) before every few frames, on the RTCP channel or port.
    pub foreign_sender_reports: bool,
    /// Send with this Q (128..=254): frames before `tables_from` carry no
    /// tables (length 0), frame `tables_from` carries them, later ones
    /// rely on the receiver's cache.
    pub q_tables: Option<(u8, usize)>,
    pub auth: Option<Auth>,
    /// Requests to this path get `302` to [`Quirks::path`].
    pub redirect_from: Option<String>,
    /// The `Location` of that `302` instead (another server: what the
    /// client then sends there is in that server's
    /// [`QuirkyServer::requests`]).
    pub redirect_to: Option<String>,
    /// Refuse UDP SETUPs with 461.
    pub refuse_udp: bool,
    /// Close the first connection after this many frames (a dropped
    /// session; later connections stream on).
    pub close_after_frames: Option<usize>,
    /// On the first connection, after this many frames: an RTCP BYE for
    /// the stream, then no more frames (the connection stays open), as
    /// VLC does when its input loops.
    pub bye_after_frames: Option<usize>,
    /// Never answer TEARDOWN (the connection stays open, the stream
    /// stops).
    pub teardown_unanswered: bool,
    /// `a=udp-only` in the SDP, 461 to a SETUP over TCP, no
    /// `server_port` in the SETUP answer (espp).
    pub udp_only: bool,
    /// The first frame after PLAY comes this late (a camera still
    /// starting up).
    pub first_frame_after: Option<Duration>,
    /// On the first connection, after this many frames: no more frames,
    /// while requests are still answered (a camera whose encoder hung);
    /// when its last frame went is [`QuirkyServer::silent_since`].
    pub silent_after_frames: Option<usize>,
    pub multicast: Option<Multicast>,
    pub esp32: Esp32,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            path: "/cam".into(),
            control: "track1".into(),
            content_base: ContentBase::Proper,
            sdp: Sdp::Proper,
            public: "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER".into(),
            get_parameter_status: 200,
            session: SessionQuirks::default(),
            channels: Channels::AsAsked,
            foreign_channel: None,
            ssrc: SsrcForm::None,
            rtp_info: None,
            foreign_sender_reports: false,
            q_tables: None,
            auth: None,
            redirect_from: None,
            redirect_to: None,
            refuse_udp: false,
            close_after_frames: None,
            bye_after_frames: None,
            teardown_unanswered: false,
            udp_only: false,
            first_frame_after: None,
            silent_after_frames: None,
            multicast: None,
            esp32: Esp32::default(),
        }
    }
}

impl Quirks {
    /// Micro-RTSP, the RTSP server of many ESP32-CAM boards: an SDP of
    /// `m=` and `c=` only (the track is the Content-Base), a negative
    /// session id without timeout, an `RTP-Info` naming another host and
    /// port, TEARDOWN never answered; Q 128 then 94 within each frame,
    /// the first two frames stamped alike.
    pub fn micro_rtsp() -> Quirks {
        Quirks {
            path: "/mjpeg/1".into(),
            control: String::new(),
            sdp: Sdp::MediaOnly,
            public: "DESCRIBE, SETUP, TEARDOWN, PLAY".into(),
            session: SessionQuirks {
                timeout: None,
                id: Some(MICRO_RTSP_SESSION.into()),
                ..SessionQuirks::default()
            },
            rtp_info: Some("url=rtsp://127.0.0.1:8554/mjpeg/1/track1".into()),
            teardown_unanswered: true,
            esp32: Esp32 {
                later_q: Some(crate::esp32::MICRO_RTSP_LATER_Q),
                jfif_in_payload: false,
                shared_first_timestamp: true,
            },
            ..Quirks::default()
        }
    }

    /// espp's ESP32 RTSP server: `a=udp-only`, no `server_port`, the
    /// whole JPEG file as the scan data, Q 128 then 96 within each frame.
    pub fn espp() -> Quirks {
        Quirks {
            path: "/mjpeg/1".into(),
            control: "trackID=0".into(),
            udp_only: true,
            esp32: Esp32 {
                later_q: Some(crate::esp32::ESPP_LATER_Q),
                jfif_in_payload: true,
                shared_first_timestamp: false,
            },
            ..Quirks::default()
        }
    }
}

/// The session id of [`Quirks::micro_rtsp`], as captured.
pub const MICRO_RTSP_SESSION: &str = "-343194265";

/// A request as the server received it, with its answer.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// Which TCP connection (0, 1, ...).
    pub connection: u32,
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Shared {
    quirks: Quirks,
    /// The address listened on, which the URLs name.
    host: IpAddr,
    port: u16,
    seen: Mutex<Vec<Seen>>,
    /// Frames sent, over all connections.
    frames: AtomicU32,
    connections: AtomicU32,
    /// Sessions handed out (ids are `QS{n}`).
    sessions: AtomicU32,
    /// Connections closed by the server for an expired session.
    expired: AtomicU32,
    /// Packets not sent for being too long to interleave.
    interleaved_too_long: AtomicU32,
    /// Every RTP packet sent over UDP, as a capture would hold it.
    sent_udp: Mutex<Vec<Datagram>>,
    /// (SSRC, first sequence number, picture index) of every frame sent.
    sent_frames: Mutex<Vec<(u32, u16, usize)>>,
    /// When the first connection began to send its last frame, once
    /// [`Quirks::silent_after_frames`] silenced it.
    silent_since: Mutex<Option<Instant>>,
    stop: AtomicBool,
}

/// The server; stops on drop.
pub struct QuirkyServer {
    shared: Arc<Shared>,
    /// The JPEGs served, in the order they cycle.
    pub originals: Vec<Vec<u8>>,
}

impl QuirkyServer {
    /// Listen on `127.0.0.1`.
    pub fn start(quirks: Quirks) -> QuirkyServer {
        Self::start_at(quirks, Ipv4Addr::LOCALHOST)
    }

    /// Listen on `host`, an address of the calling thread's network
    /// namespace (the server's threads live there too).
    pub fn start_at(quirks: Quirks, host: Ipv4Addr) -> QuirkyServer {
        let listener = TcpListener::bind((host, 0)).expect("bind");
        let port = listener.local_addr().unwrap().port();
        let originals: Vec<Vec<u8>> = (0..4)
            .map(|i| std::fs::read(fixtures_dir().join(format!("gst-420/{i:03}.jpg"))).unwrap())
            .collect();
        let shared = Arc::new(Shared {
            quirks,
            host: host.into(),
            port,
            seen: Mutex::new(Vec::new()),
            frames: AtomicU32::new(0),
            connections: AtomicU32::new(0),
            sessions: AtomicU32::new(0),
            expired: AtomicU32::new(0),
            interleaved_too_long: AtomicU32::new(0),
            sent_udp: Mutex::new(Vec::new()),
            sent_frames: Mutex::new(Vec::new()),
            silent_since: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let (s, pictures) = (shared.clone(), originals.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        let n = s.connections.fetch_add(1, Ordering::Relaxed);
                        let (s, pictures) = (s.clone(), pictures.clone());
                        std::thread::spawn(move || {
                            Connection::new(s, n, stream, peer, pictures).run()
                        });
                    }
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        });
        QuirkyServer { shared, originals }
    }

    /// `rtsp://{userinfo}HOST:PORT{path}`.
    pub fn url(&self, userinfo: &str) -> String {
        self.url_of(userinfo, &self.shared.quirks.path)
    }

    /// The same for another path (the redirect's source).
    pub fn url_of(&self, userinfo: &str, path: &str) -> String {
        format!(
            "rtsp://{userinfo}{}:{}{path}",
            self.shared.host, self.shared.port
        )
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Requests with this method.
    pub fn requests_of(&self, method: &str) -> Vec<Seen> {
        let mut v = self.requests();
        v.retain(|s| s.method == method);
        v
    }

    /// When the first connection began to send its last frame before
    /// falling silent ([`Quirks::silent_after_frames`]): its packets all
    /// left later. `None` until it fell silent.
    pub fn silent_since(&self) -> Option<Instant> {
        *self.shared.silent_since.lock().unwrap()
    }

    pub fn frames_sent(&self) -> u32 {
        self.shared.frames.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u32 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Sessions the server expired for want of a keepalive.
    pub fn expired(&self) -> u32 {
        self.shared.expired.load(Ordering::Relaxed)
    }

    /// Packets refused for being longer than an interleaved frame
    /// holds (65535 bytes).
    pub fn interleaved_too_long(&self) -> u32 {
        self.shared.interleaved_too_long.load(Ordering::Relaxed)
    }

    /// The frame number behind an RTP timestamp.
    pub fn frame_index(timestamp: u32) -> usize {
        (timestamp.wrapping_sub(TIMESTAMP_BASE) / TIMESTAMP_STEP) as usize
    }

    /// The picture behind an RTP timestamp (the first frame of it, when
    /// frames share one).
    pub fn original_for(&self, timestamp: u32) -> &[u8] {
        self.original_nth(timestamp, 0)
    }

    /// The picture of the `occurrence`-th frame (from 0) stamped
    /// `timestamp`: with [`Esp32::shared_first_timestamp`], the first
    /// timestamp names frames 0 and 1.
    pub fn original_nth(&self, timestamp: u32, occurrence: usize) -> &[u8] {
        let index = Self::frame_index(timestamp);
        let frame = match (self.shared.quirks.esp32.shared_first_timestamp, index) {
            (true, 0) => occurrence,
            (true, n) => n + 1,
            (false, n) => n,
        };
        &self.originals[frame % self.originals.len()]
    }

    /// The picture of the frame whose first packet carried `ssrc` and
    /// `first_sequence`: exact whatever the timestamps say.
    pub fn original_sent(&self, ssrc: u32, first_sequence: u16) -> Option<&[u8]> {
        let sent = self.shared.sent_frames.lock().unwrap();
        let picture = sent
            .iter()
            .rev()
            .find(|&&(s, seq, _)| s == ssrc && seq == first_sequence)
            .map(|&(_, _, picture)| picture)?;
        self.originals.get(picture).map(Vec::as_slice)
    }

    /// Every RTP packet sent over UDP so far (all connections), with its
    /// addresses and send time, ready for a capture writer.
    pub fn sent_udp(&self) -> Vec<Datagram> {
        self.shared.sent_udp.lock().unwrap().clone()
    }
}

impl Drop for QuirkyServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// The SSRC of connection `n`'s stream.
pub fn stream_ssrc(q: &Quirks, n: u32) -> u32 {
    let ssrc = SSRC + n;
    match q.ssrc {
        SsrcForm::OddHex => ssrc & 0x0FFF_FFFF,
        _ => ssrc,
    }
}
