//! One client connection of the scripted server: requests answered as
//! the quirks say, the stream sent over TCP interleaved or UDP.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mjpeg_rtp_core::{Packetizer, PacketizerConfig};

use super::wire::{
    authorized, bye, join, reason, sdp, sender_report, session_header, udp_only, Request,
};
use super::{
    stream_ssrc, Channels, ContentBase, KeepaliveCseq, Multicast, Quirks, Seen, Shared, SsrcForm,
    FIRST_SEQUENCE, FOREIGN_SSRC, FRAME_INTERVAL, POLL, TIMESTAMP_BASE, TIMESTAMP_STEP,
};
use crate::esp32::{dqt_tables, jfif_wrapped, q_changed, with_q};
use crate::rtp::frame_packets;
use crate::Datagram;

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

pub(super) struct Connection {
    s: Arc<Shared>,
    n: u32,
    stream: TcpStream,
    peer: SocketAddr,
    pictures: Vec<Vec<u8>>,
    buf: Vec<u8>,
    /// What is written at the end of the round.
    written: Vec<u8>,
    session: Option<String>,
    out: Option<Out>,
    playing: bool,
    play_cseq: String,
    last_request: Instant,
    packetizer: Packetizer,
    frame: usize,
    /// When the last frame's first packet was sent.
    last_frame: Option<Instant>,
}

impl Connection {
    pub(super) fn new(
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
            written: Vec::new(),
            session: None,
            out: None,
            playing: false,
            play_cseq: "0".into(),
            last_request: Instant::now(),
            frame: 0,
            last_frame: None,
        }
    }

    pub(super) fn run(mut self) {
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
                // Only a request naming the session keeps it alive, as on
                // servers that key liveness by session.
                if self.session.is_none()
                    || request.header("Session").map(str::trim) == self.session.as_deref()
                {
                    self.last_request = Instant::now();
                }
                let was_playing = self.playing;
                let keep = self.answer(request);
                if self.playing && !was_playing {
                    next_frame =
                        Instant::now() + self.s.quirks.first_frame_after.unwrap_or_default();
                }
                if !keep {
                    let _ = self.stream.write_all(&self.written);
                    return;
                }
            }
            let q = &self.s.quirks;
            let timeout = Duration::from_secs(q.session.timeout.unwrap_or(60).into());
            if q.session.enforce_timeout
                && self.session.is_some()
                && self.last_request.elapsed() > timeout
            {
                self.s.expired.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if self.playing && Instant::now() >= next_frame {
                if self.n == 0 && q.close_after_frames.is_some_and(|n| self.frame >= n) {
                    return;
                }
                if self.n == 0 && q.silent_after_frames.is_some_and(|n| self.frame >= n) {
                    *self.s.silent_since.lock().unwrap() = self.last_frame;
                    self.playing = false;
                } else if self.n == 0 && q.bye_after_frames.is_some_and(|n| self.frame >= n) {
                    let packet = bye(stream_ssrc(q, self.n));
                    if self.send(true, &packet).is_err() {
                        return;
                    }
                    self.playing = false;
                } else if self.send_frame().is_err() {
                    return;
                }
                next_frame += FRAME_INTERVAL;
            }
            // One write per round: the PLAY answer and the first frame
            // behind it arrive together, as from gst-rtsp-server and many
            // cameras, so a client must not lose data read with an answer.
            // Over UDP (and multicast) that frame has left before the
            // answer is written.
            if self.stream.write_all(&self.written).is_err() {
                return;
            }
            self.written.clear();
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
        let base = format!("rtsp://{}:{}{}", self.s.host, self.s.port, q.path);
        let track = join(&self.base_path(&base), &q.control);
        let cseq = r.header("CSeq").unwrap_or("0").to_owned();
        if r.method == "TEARDOWN" && q.teardown_unanswered {
            // Recorded with status 0: never answered. The stream stops;
            // the connection stays until the client closes it.
            self.playing = false;
            self.record(r, 0);
            return true;
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut body = String::new();
        let mut keep = true;
        let status = 'status: {
            if let Some(from) = &q.redirect_from {
                if r.uri.ends_with(from.as_str()) {
                    let to = q.redirect_to.clone().unwrap_or_else(|| base.clone());
                    headers.push(("Location".into(), to));
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
                            format!("rtsp://{}:{}/located/", self.s.host, self.s.port),
                        )),
                        ContentBase::NoScheme => headers.push((
                            "Content-Base".into(),
                            format!("{}:{}{}/", self.s.host, self.s.port, q.path),
                        )),
                        ContentBase::Doubled => {
                            headers.push(("Content-Base".into(), format!("rtsp://{base}/")))
                        }
                    }
                    headers.push(("Content-Type".into(), "application/sdp".into()));
                    body = sdp(q.sdp, &q.control);
                    if q.udp_only {
                        body = udp_only(&body);
                    }
                    200
                }
                "SETUP" if r.uri != track => 404,
                "SETUP" => {
                    let transport = r.header("Transport").unwrap_or_default().to_owned();
                    match self.setup(&q, &transport) {
                        Some(reply) => {
                            headers.push(("Transport".into(), reply));
                            if q.session.new_id_per_setup || self.session.is_none() {
                                let id = self.s.sessions.fetch_add(1, Ordering::Relaxed);
                                self.session =
                                    Some(q.session.id.clone().unwrap_or(format!("QS{id:04}")));
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
        let cseq = match (keepalive, q.session.keepalive_cseq) {
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
        self.record(r, status);
        self.written.extend_from_slice(reply.as_bytes());
        keep
    }

    fn record(&self, r: Request, status: u16) {
        self.s.seen.lock().unwrap().push(Seen {
            at: Instant::now(),
            connection: self.n,
            method: r.method,
            uri: r.uri,
            headers: r.headers,
            status,
        });
    }

    /// The base SETUP URLs are joined to, as the quirk implies.
    fn base_path(&self, base: &str) -> String {
        match self.s.quirks.content_base {
            ContentBase::LocationOnly => format!("rtsp://{}:{}/located/", self.s.host, self.s.port),
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
        if transport.contains("RTP/AVP/TCP") && !q.udp_only {
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
        if let Some(m) = &q.multicast {
            return self.setup_multicast(m, transport, &ssrc);
        }
        if q.refuse_udp || transport.contains("RTP/AVP/TCP") {
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
        if q.udp_only {
            return Some(format!("RTP/AVP;unicast;client_port={a}-{b}{ssrc}"));
        }
        Some(format!(
            "RTP/AVP;unicast;client_port={a}-{b};server_port={port}-{}{ssrc}",
            port + 1
        ))
    }

    /// The Transport answer of a multicast server ([`super::Multicast`]),
    /// or `None` for 461.
    fn setup_multicast(&mut self, m: &Multicast, transport: &str, ssrc: &str) -> Option<String> {
        if !transport.contains("multicast") {
            return None;
        }
        let source = *m.sources.get(self.n as usize).or(m.sources.last())?;
        let socket = UdpSocket::bind((source, 0)).ok()?;
        let (rtp, rtcp) = m.ports;
        self.out = Some(Out::Udp {
            socket,
            rtp: SocketAddr::from((m.group, rtp)),
            rtcp: SocketAddr::from((m.group, rtcp)),
        });
        Some(format!(
            "RTP/AVP;multicast;destination={};port={rtp}-{rtcp};ttl=1;source={source}{ssrc}",
            m.group
        ))
    }

    fn send_frame(&mut self) -> std::io::Result<()> {
        let started = Instant::now();
        let q = self.s.quirks.clone();
        let n = self.frame;
        let stamped = match q.esp32.shared_first_timestamp {
            true => n.saturating_sub(1),
            false => n,
        };
        let timestamp = TIMESTAMP_BASE.wrapping_add((stamped as u32).wrapping_mul(TIMESTAMP_STEP));
        let jpeg = &self.pictures[n % self.pictures.len()];
        let sent = match q.esp32.jfif_in_payload {
            true => jfif_wrapped(jpeg),
            false => jpeg.clone(),
        };
        let mut packets = frame_packets(&mut self.packetizer, &sent, timestamp);
        if let Some(later_q) = q.esp32.later_q {
            packets = q_changed(&packets, jpeg, later_q);
        }
        if let Some(first) = packets.first() {
            let sequence = u16::from_be_bytes([first[2], first[3]]);
            let ssrc = stream_ssrc(&q, self.n);
            let picture = n % self.pictures.len();
            self.s
                .sent_frames
                .lock()
                .unwrap()
                .push((ssrc, sequence, picture));
        }
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
            self.written
                .extend_from_slice(&[&[b'$', channel, 0, junk.len() as u8][..], &junk].concat());
        }
        for p in &packets {
            self.send(false, p)?;
        }
        self.frame += 1;
        self.last_frame = Some(started);
        self.s.frames.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn send(&mut self, rtcp: bool, packet: &[u8]) -> std::io::Result<()> {
        match &self.out {
            Some(Out::Interleaved { rtp, rtcp: c }) => {
                let channel = if rtcp { *c } else { *rtp };
                // Refused, not cut: a cut packet would be a corrupt one.
                let Ok(len) = u16::try_from(packet.len()) else {
                    self.s.interleaved_too_long.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                };
                let [hi, lo] = len.to_be_bytes();
                self.written.extend_from_slice(&[b'$', channel, hi, lo]);
                self.written.extend_from_slice(packet);
                Ok(())
            }
            Some(Out::Udp {
                socket,
                rtp,
                rtcp: c,
            }) => {
                let to = if rtcp { *c } else { *rtp };
                let _ = socket.send_to(packet, to);
                if let (false, Ok(from)) = (rtcp, socket.local_addr()) {
                    let time = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    self.s.sent_udp.lock().unwrap().push(Datagram {
                        time,
                        src: from,
                        dst: to,
                        payload: packet.to_vec(),
                    });
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}
