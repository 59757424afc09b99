//! A scripted, misbehaving RTSP server: plain std TCP (and UDP), one
//! thread per connection, answering OPTIONS / DESCRIBE / SETUP / PLAY /
//! GET_PARAMETER / TEARDOWN the way the cameras of the field get them
//! wrong ([`Quirks`], one switch per quirk), and streaming the gst-420
//! fixture JPEGs as RFC 2435 RTP so that every frame can be checked
//! pixel-exact against the picture it was cut from.
//!
//! The server is also strict where a real camera is: a SETUP to a URL
//! other than the one the quirk implies is a 404, a request with a stale
//! `Session` id a 454, a wrong Digest answer a 401, and with
//! [`Quirks::enforce_timeout`] a session not kept alive within its
//! timeout is dropped. Everything a client sent is recorded
//! ([`QuirkyServer::requests`]) for the tests to assert on.
//!
//! Frame `n` of a connection carries RTP timestamp `TIMESTAMP_BASE + n *
//! TIMESTAMP_STEP` and the picture `originals[n % 4]`
//! ([`QuirkyServer::original_for`]); sequence numbers start at
//! [`FIRST_SEQUENCE`], so that an `RTP-Info` saying `seq=0;rtptime=0` is
//! a lie a client must not act on.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::Md5;
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use sha2::{Digest, Sha256};

use crate::fixtures_dir;
use crate::rtp::frame_packets;

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
    pub keepalive_cseq: KeepaliveCseq,
    /// `;timeout=` of the Session header (`None`: left out).
    pub timeout: Option<u32>,
    /// `Session:   ID ;  timeout = N`.
    pub session_spaces: bool,
    /// Close the connection when no request came within the timeout
    /// (60 s when none was announced), like a camera expiring a session.
    pub enforce_timeout: bool,
    /// A fresh session id at every SETUP (and 454 for a stale one).
    pub new_session_id_per_setup: bool,
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
    /// Refuse UDP SETUPs with 461.
    pub refuse_udp: bool,
    /// Close the first connection after this many frames (a dropped
    /// session; later connections stream on).
    pub close_after_frames: Option<usize>,
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
            keepalive_cseq: KeepaliveCseq::Echo,
            timeout: Some(60),
            session_spaces: false,
            enforce_timeout: false,
            new_session_id_per_setup: false,
            channels: Channels::AsAsked,
            foreign_channel: None,
            ssrc: SsrcForm::None,
            rtp_info: None,
            foreign_sender_reports: false,
            q_tables: None,
            auth: None,
            redirect_from: None,
            refuse_udp: false,
            close_after_frames: None,
        }
    }
}

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

struct Shared {
    quirks: Quirks,
    port: u16,
    seen: Mutex<Vec<Seen>>,
    /// Frames sent, over all connections.
    frames: AtomicU32,
    connections: AtomicU32,
    /// Sessions handed out (ids are `QS{n}`).
    sessions: AtomicU32,
    /// Connections closed by the server for an expired session.
    expired: AtomicU32,
    stop: AtomicBool,
}

/// The server, listening on `127.0.0.1`; stops on drop.
pub struct QuirkyServer {
    shared: Arc<Shared>,
    /// The JPEGs served, in the order they cycle.
    pub originals: Vec<Vec<u8>>,
}

impl QuirkyServer {
    pub fn start(quirks: Quirks) -> QuirkyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let originals: Vec<Vec<u8>> = (0..4)
            .map(|i| std::fs::read(fixtures_dir().join(format!("gst-420/{i:03}.jpg"))).unwrap())
            .collect();
        let shared = Arc::new(Shared {
            quirks,
            port,
            seen: Mutex::new(Vec::new()),
            frames: AtomicU32::new(0),
            connections: AtomicU32::new(0),
            sessions: AtomicU32::new(0),
            expired: AtomicU32::new(0),
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

    /// `rtsp://{userinfo}127.0.0.1:PORT{path}`.
    pub fn url(&self, userinfo: &str) -> String {
        self.url_of(userinfo, &self.shared.quirks.path)
    }

    /// The same for another path (the redirect's source).
    pub fn url_of(&self, userinfo: &str, path: &str) -> String {
        format!("rtsp://{userinfo}127.0.0.1:{}{path}", self.shared.port)
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

    /// The frame number behind an RTP timestamp.
    pub fn frame_index(timestamp: u32) -> usize {
        (timestamp.wrapping_sub(TIMESTAMP_BASE) / TIMESTAMP_STEP) as usize
    }

    /// The picture behind an RTP timestamp.
    pub fn original_for(&self, timestamp: u32) -> &[u8] {
        &self.originals[Self::frame_index(timestamp) % self.originals.len()]
    }
}

impl Drop for QuirkyServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Where the stream goes once playing.
enum Out {
    Interleaved {
        rtp: u8,
        rtcp: u8,
    },
    Udp {
        socket: UdpSocket,
        rtp: SocketAddr,
        rtcp: SocketAddr,
    },
}

struct Connection {
    s: Arc<Shared>,
    n: u32,
    stream: TcpStream,
    peer: SocketAddr,
    pictures: Vec<Vec<u8>>,
    buf: Vec<u8>,
    session: Option<String>,
    out: Option<Out>,
    playing: bool,
    play_cseq: String,
    last_request: Instant,
    packetizer: Packetizer,
    frame: usize,
}

impl Connection {
    fn new(
        s: Arc<Shared>,
        n: u32,
        stream: TcpStream,
        peer: SocketAddr,
        pictures: Vec<Vec<u8>>,
    ) -> Self {
        Connection {
            packetizer: Packetizer::new(PacketizerConfig {
                ssrc: stream_ssrc(&s.quirks, n),
                max_packet: 1000,
                initial_sequence: FIRST_SEQUENCE,
                ..PacketizerConfig::default()
            }),
            s,
            n,
            stream,
            peer,
            pictures,
            buf: Vec::new(),
            session: None,
            out: None,
            playing: false,
            play_cseq: "0".into(),
            last_request: Instant::now(),
            frame: 0,
        }
    }

    fn run(mut self) {
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.set_read_timeout(Some(POLL));
        let mut next_frame = Instant::now();
        while !self.s.stop.load(Ordering::Relaxed) {
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
            while let Some(request) = self.next_request() {
                self.last_request = Instant::now();
                if !self.answer(request) {
                    return;
                }
            }
            let q = &self.s.quirks;
            let timeout = Duration::from_secs(q.timeout.unwrap_or(60).into());
            if q.enforce_timeout && self.session.is_some() && self.last_request.elapsed() > timeout
            {
                self.s.expired.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if self.playing && Instant::now() >= next_frame {
                if self.n == 0 && q.close_after_frames.is_some_and(|n| self.frame >= n) {
                    return;
                }
                if self.send_frame().is_err() {
                    return;
                }
                next_frame += FRAME_INTERVAL;
            }
        }
    }

    /// The next complete request of the buffer (interleaved `$` frames
    /// from the client, such as receiver reports, are skipped).
    fn next_request(&mut self) -> Option<Request> {
        loop {
            if self.buf.first() == Some(&b'$') {
                let len = usize::from(u16::from_be_bytes([*self.buf.get(2)?, *self.buf.get(3)?]));
                if self.buf.len() < 4 + len {
                    return None;
                }
                self.buf.drain(..4 + len);
                continue;
            }
            let end = self.buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
            let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            let mut lines = text.split("\r\n");
            let mut first = lines.next().unwrap_or_default().split(' ');
            let method = first.next().unwrap_or_default().to_owned();
            let uri = first.next().unwrap_or_default().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let body = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            if self.buf.len() < end + body {
                return None;
            }
            self.buf.drain(..end + body);
            return Some(Request {
                method,
                uri,
                headers,
            });
        }
    }

    /// Answer one request; `false` to close the connection.
    fn answer(&mut self, r: Request) -> bool {
        let q = self.s.quirks.clone();
        let base = format!("rtsp://127.0.0.1:{}{}", self.s.port, q.path);
        let track = join(&self.base_path(&base), &q.control);
        let cseq = r.header("CSeq").unwrap_or("0").to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut body = String::new();
        let mut keep = true;
        let status = 'status: {
            if let Some(from) = &q.redirect_from {
                if r.uri.ends_with(from.as_str()) {
                    headers.push(("Location".into(), base.clone()));
                    break 'status 302;
                }
            }
            if let Some(auth) = &q.auth {
                if r.method != "OPTIONS" && !authorized(auth, &r) {
                    for c in &auth.challenges {
                        headers.push(("WWW-Authenticate".into(), c.clone()));
                    }
                    break 'status 401;
                }
            }
            let needs_session = matches!(r.method.as_str(), "PLAY" | "GET_PARAMETER" | "TEARDOWN");
            if needs_session && r.header("Session").map(str::trim) != self.session.as_deref() {
                break 'status 454;
            }
            match r.method.as_str() {
                "OPTIONS" => {
                    headers.push(("Public".into(), q.public.clone()));
                    200
                }
                "DESCRIBE" if r.uri != base => 404,
                "DESCRIBE" => {
                    match q.content_base {
                        ContentBase::Proper => {
                            headers.push(("Content-Base".into(), format!("{base}/")))
                        }
                        ContentBase::Missing => {}
                        ContentBase::LocationOnly => headers.push((
                            "Content-Location".into(),
                            format!("rtsp://127.0.0.1:{}/located/", self.s.port),
                        )),
                        ContentBase::NoScheme => headers.push((
                            "Content-Base".into(),
                            format!("127.0.0.1:{}{}/", self.s.port, q.path),
                        )),
                        ContentBase::Doubled => {
                            headers.push(("Content-Base".into(), format!("rtsp://{base}/")))
                        }
                    }
                    headers.push(("Content-Type".into(), "application/sdp".into()));
                    body = sdp(q.sdp, &q.control);
                    200
                }
                "SETUP" if r.uri != track => 404,
                "SETUP" => {
                    let transport = r.header("Transport").unwrap_or_default().to_owned();
                    match self.setup(&q, &transport) {
                        Some(reply) => {
                            headers.push(("Transport".into(), reply));
                            if q.new_session_id_per_setup || self.session.is_none() {
                                let id = self.s.sessions.fetch_add(1, Ordering::Relaxed);
                                self.session = Some(format!("QS{id:04}"));
                            }
                            200
                        }
                        None => 461,
                    }
                }
                "PLAY" => {
                    self.play_cseq = cseq.clone();
                    if let Some(info) = &q.rtp_info {
                        let info = info.replace("{url}", &track).replace("{rel}", &q.control);
                        headers.push(("RTP-Info".into(), info));
                    }
                    self.playing = self.out.is_some();
                    200
                }
                "GET_PARAMETER" => q.get_parameter_status,
                "TEARDOWN" => {
                    keep = false;
                    200
                }
                _ => 501,
            }
        };
        let keepalive = self.playing && matches!(r.method.as_str(), "GET_PARAMETER" | "OPTIONS");
        let cseq = match (keepalive, q.keepalive_cseq) {
            (true, KeepaliveCseq::Stale) => Some(self.play_cseq.clone()),
            (true, KeepaliveCseq::Missing) => None,
            _ => Some(cseq),
        };
        let mut reply = format!("RTSP/1.0 {status} {}\r\n", reason(status));
        if let Some(cseq) = cseq {
            reply += &format!("CSeq: {cseq}\r\n");
        }
        if let Some(id) = &self.session {
            if status == 200 && r.method != "OPTIONS" {
                reply += &session_header(id, &q);
            }
        }
        for (n, v) in &headers {
            reply += &format!("{n}: {v}\r\n");
        }
        reply += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.s.seen.lock().unwrap().push(Seen {
            at: Instant::now(),
            connection: self.n,
            method: r.method,
            uri: r.uri,
            headers: r.headers,
            status,
        });
        self.stream.write_all(reply.as_bytes()).is_ok() && keep
    }

    /// The base SETUP URLs are joined to, as the quirk implies.
    fn base_path(&self, base: &str) -> String {
        match self.s.quirks.content_base {
            ContentBase::LocationOnly => format!("rtsp://127.0.0.1:{}/located/", self.s.port),
            ContentBase::Missing => base.to_owned(),
            _ => format!("{base}/"),
        }
    }

    /// The Transport answer, or `None` for 461.
    fn setup(&mut self, q: &Quirks, transport: &str) -> Option<String> {
        let ssrc = stream_ssrc(q, self.n);
        let ssrc = match q.ssrc {
            SsrcForm::None => String::new(),
            SsrcForm::Hex => format!(";ssrc={ssrc:08X}"),
            SsrcForm::Hex0x => format!(";ssrc=0x{ssrc:08x}"),
            SsrcForm::OddHex => format!(";ssrc={ssrc:X}"),
            SsrcForm::Decimal => format!(";ssrc={ssrc}"),
        };
        if transport.contains("RTP/AVP/TCP") {
            let (rtp, rtcp, said) = match q.channels {
                Channels::AsAsked => {
                    let asked = transport
                        .split(';')
                        .find_map(|p| p.trim().strip_prefix("interleaved="))
                        .and_then(|v| v.split_once('-'))
                        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                        .unwrap_or((0, 1));
                    (asked.0, asked.1, true)
                }
                Channels::Other(a, b) => (a, b, true),
                Channels::Absent => (0, 1, false),
            };
            self.out = Some(Out::Interleaved { rtp, rtcp });
            let channels = if said {
                format!(";interleaved={rtp}-{rtcp}")
            } else {
                String::new()
            };
            return Some(format!("RTP/AVP/TCP;unicast{channels}{ssrc}"));
        }
        if q.refuse_udp {
            return None;
        }
        let client = transport
            .split(';')
            .find_map(|p| p.trim().strip_prefix("client_port="))?;
        let (a, b) = client.split_once('-')?;
        let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
        let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
        let port = socket.local_addr().ok()?.port();
        let ip = self.peer.ip();
        self.out = Some(Out::Udp {
            socket,
            rtp: SocketAddr::new(ip, a),
            rtcp: SocketAddr::new(ip, b),
        });
        Some(format!(
            "RTP/AVP;unicast;client_port={a}-{b};server_port={port}-{}{ssrc}",
            port + 1
        ))
    }

    fn send_frame(&mut self) -> std::io::Result<()> {
        let q = self.s.quirks.clone();
        let n = self.frame;
        let timestamp = TIMESTAMP_BASE.wrapping_add((n as u32).wrapping_mul(TIMESTAMP_STEP));
        let jpeg = &self.pictures[n % self.pictures.len()];
        let mut packets = frame_packets(&mut self.packetizer, jpeg, timestamp);
        if let Some((q_value, tables_from)) = q.q_tables {
            let tables = if n == tables_from {
                dqt_tables(jpeg)
            } else {
                Vec::new()
            };
            for p in packets.iter_mut() {
                *p = with_q(p, q_value, &tables);
            }
        }
        if q.foreign_sender_reports && n % 3 == 0 {
            self.send(true, &sender_report(FOREIGN_SSRC, timestamp))?;
            let ssrc = stream_ssrc(&q, self.n);
            self.send(true, &sender_report(ssrc, timestamp))?;
        }
        if let Some(channel) = q.foreign_channel {
            // RTP-looking junk: a camera's second stream on a channel the
            // client never set up.
            let junk = [0x80, 26, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 0xFF, 0xD8];
            self.stream
                .write_all(&[&[b'$', channel, 0, junk.len() as u8][..], &junk].concat())?;
        }
        for p in &packets {
            self.send(false, p)?;
        }
        self.frame += 1;
        self.s.frames.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn send(&mut self, rtcp: bool, packet: &[u8]) -> std::io::Result<()> {
        match &self.out {
            Some(Out::Interleaved { rtp, rtcp: c }) => {
                let channel = if rtcp { *c } else { *rtp };
                let [hi, lo] = (packet.len() as u16).to_be_bytes();
                self.stream
                    .write_all(&[&[b'$', channel, hi, lo][..], packet].concat())
            }
            Some(Out::Udp {
                socket,
                rtp,
                rtcp: c,
            }) => {
                let _ = socket.send_to(packet, if rtcp { *c } else { *rtp });
                Ok(())
            }
            None => Ok(()),
        }
    }
}

struct Request {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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

fn reason(status: u16) -> &'static str {
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

fn session_header(id: &str, q: &Quirks) -> String {
    match (q.timeout, q.session_spaces) {
        (Some(t), true) => format!("Session:   {id} ;  timeout = {t}  \r\n"),
        (Some(t), false) => format!("Session: {id};timeout={t}\r\n"),
        (None, true) => format!("Session:    {id}   \r\n"),
        (None, false) => format!("Session: {id}\r\n"),
    }
}

/// Control joined to a base the way cameras mean it: concatenated.
fn join(base: &str, control: &str) -> String {
    match (base.ends_with('/'), control.strip_prefix('/')) {
        (true, Some(rest)) => format!("{base}{rest}"),
        (false, None) => format!("{base}/{control}"),
        _ => format!("{base}{control}"),
    }
}

/// The DESCRIBE body, broken as asked.
fn sdp(kind: Sdp, control: &str) -> String {
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
fn with_q(packet: &[u8], q: u8, tables: &[u8]) -> Vec<u8> {
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
fn dqt_tables(jpeg: &[u8]) -> Vec<u8> {
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
fn sender_report(ssrc: u32, rtp_time: u32) -> Vec<u8> {
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
fn authorized(auth: &Auth, r: &Request) -> bool {
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
