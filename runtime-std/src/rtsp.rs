//! Drives an RTSP camera's [`mjpeg_rtp_rtsp::Session`] with std sockets:
//! the TCP connection, the UDP port pair, and the thread that keeps the
//! session alive (and, over TCP, feeds interleaved RTP to the camera's
//! ingest) until the client stops, then sends TEARDOWN.
//!
//! Setup runs in [`crate::Client::start`], so that a wrong password or an
//! unreachable camera is an error there and the payload type from the SDP
//! configures the camera's depacketizer before any packet arrives.
//!
//! Once playing, a lost session (the connection dropped, a keepalive
//! failed, or no RTP for [`RTP_SILENCE_TIMEOUT`]) is torn down (best
//! effort: TEARDOWN while the connection is up, so that the camera does
//! not keep it and refuse the next with 453) and set up again after an
//! exponential backoff with jitter (`reconnect`); the camera's receive
//! path and counters stay, the reconnect is counted.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mjpeg_rtp_rtsp::redact;
use mjpeg_rtp_rtsp::sdp::JPEG_STATIC_PAYLOAD_TYPE;
use mjpeg_rtp_rtsp::{Event, Interleaved, Negotiated, Session, SessionConfig, TransportRequest};
use url::Url;

use crate::backend::CameraIngest;
use crate::camera::CameraShared;
use crate::config::{CameraConfig, RtspTransport, RTSP_UDP_PROBE};
use crate::error::Error;
use crate::rtcp::{Route, SessionRtcp};
use crate::socket::PortPair;

mod multicast;
mod reconnect;
mod wait;

pub(crate) use wait::Wake;

/// Interleaved RTP bytes kept when they arrive before the receive path
/// is attached (read together with the PLAY answer): a frame or two of a
/// large camera; a server that sends more before we serve loses the rest.
const MAX_EARLY_BYTES: usize = 1 << 20;
/// What one datagram kept early costs against [`MAX_EARLY_BYTES`]
/// besides its bytes: its entry (arrival time and vector). Without it a
/// flood of empty interleaved frames (4 bytes each on the wire) would
/// grow the list without bound while PLAY goes unanswered.
const EARLY_ENTRY_COST: usize = std::mem::size_of::<(Instant, Vec<u8>)>();

/// Bytes one read of the RTSP connection may take: one interleaved frame
/// of the largest size, so that a backlog drains in few system calls.
const READ_SIZE: usize = 64 * 1024;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read timeout of the RTSP connection while setting up and tearing
/// down (bounded phases): how often stop and the session's timers are
/// looked at. Once playing, the thread waits for the next event instead
/// ([`wait`]).
const POLL: Duration = Duration::from_millis(50);
/// A write to the RTSP connection that cannot go on for this long (a
/// peer that stopped reading, a full window) fails the connection
/// rather than stalling the session thread, and with it stop.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The interleaved receive path's tick while no data comes (its silence
/// warnings, counters published), unless its oldest frame expires
/// sooner.
const INGEST_IDLE_TICK: Duration = Duration::from_secs(1);
/// The interleaved receive path's tick after data (frames too old to
/// complete are dropped, counters published); when idle it ticks at
/// [`INGEST_IDLE_TICK`] or when its oldest frame expires.
const INGEST_TICK: Duration = Duration::from_millis(100);
/// TEARDOWN gets this long for its answer when stopping: the session's
/// own limit (some cameras never answer; the session is over either
/// way).
const TEARDOWN_WAIT: Duration = mjpeg_rtp_rtsp::TEARDOWN_TIMEOUT;
/// No RTP for this long while playing: the session is taken as lost
/// (cameras that stop sending without closing the connection), within a
/// few milliseconds of the timeout. Only datagrams from the sender the
/// receive path accepts count: those of another host (`packets_foreign`,
/// a stale source still sending to a multicast group) do not keep the
/// session alive.
pub const RTP_SILENCE_TIMEOUT: Duration = Duration::from_secs(10);

/// A session that reached PLAY, with what the camera's receive path
/// needs to know.
pub(crate) struct Established {
    pub(crate) link: Link,
    /// `config` with the SDP's payload type and size and, for UDP, the
    /// server as the only sender.
    pub(crate) config: CameraConfig,
    /// `Some` when RTP comes over UDP: the pair, RTP for the backend.
    pub(crate) pair: Option<PortPair>,
}

/// The RTSP connection and its session.
pub(crate) struct Link {
    camera: String,
    url: String,
    session: Session,
    stream: TcpStream,
    peer: SocketAddr,
    /// Kept open so that the camera's RTCP has somewhere to go.
    rtcp: Option<UdpSocket>,
    /// What a reconnect needs: the configuration, the URL as given
    /// (credentials included), and the transport that worked.
    config: CameraConfig,
    source_url: Url,
    transport: TransportRequest,
    /// A handle on the RTP socket (the backend reads it) to open NAT
    /// again after a reconnect.
    rtp: Option<UdpSocket>,
    /// The multicast group `rtp` and `rtcp` joined, left at the end.
    membership: Option<multicast::Membership>,
    /// The group's sockets, joined before PLAY, until the receive path
    /// takes them.
    joined: Option<PortPair>,
    /// Where RTCP goes, from what SETUP negotiated; the session's RTCP
    /// once the session thread drives it.
    route: Option<Route>,
    reports: Option<SessionRtcp>,
    /// Interleaved RTP read before there was an ingest to feed: servers
    /// send the first frame right behind the PLAY answer, often in the
    /// same read. Fed first when serving starts; never kept once it has
    /// (the teardown's reads feed nothing).
    early: EarlyRtp,
    served: bool,
    /// [`Link::teardown`] ran: dropping the link says nothing more.
    torn_down: bool,
}

/// Interleaved RTP that came before serving, each datagram with its
/// arrival time, bounded by [`MAX_EARLY_BYTES`].
#[derive(Default)]
struct EarlyRtp {
    packets: Vec<(Instant, Vec<u8>)>,
    /// What `packets` costs against the bound: bytes and entries.
    cost: usize,
    /// Datagrams, and their bytes, that did not fit: there is no
    /// receive path to count them yet, so serving warns with them.
    dropped: u64,
    dropped_bytes: u64,
}

impl EarlyRtp {
    fn keep(&mut self, arrived: Instant, data: &[u8]) {
        let cost = EARLY_ENTRY_COST + data.len();
        if self.cost + cost <= MAX_EARLY_BYTES {
            self.cost += cost;
            self.packets.push((arrived, data.to_vec()));
        } else {
            self.dropped += 1;
            self.dropped_bytes += data.len() as u64;
        }
    }
}

/// A link dropped on an error path (a failed bind after PLAY, a thread
/// that could not start) still ends its session: the camera would keep
/// it and refuse the next with 453.
impl Drop for Link {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Why a playing session is given up.
#[derive(Debug)]
enum Lost {
    Connection(io::Error),
    Session(mjpeg_rtp_rtsp::Error),
    Silence,
    /// The stream's sender said RTCP BYE (VLC does whenever its input
    /// loops): nothing more comes on this session.
    Bye,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::Connection(e) => write!(f, "connection lost: {e}"),
            Lost::Session(e) => write!(f, "session failed: {e}"),
            Lost::Silence => write!(f, "no RTP for {RTP_SILENCE_TIMEOUT:?}"),
            Lost::Bye => write!(f, "the sender said RTCP BYE"),
        }
    }
}

/// Set the session up to PLAY. `pair` is the camera's bound port pair
/// (for UDP and Auto).
pub(crate) fn establish(
    config: &CameraConfig,
    mut pair: Option<PortPair>,
    stop: &AtomicBool,
) -> Result<Established, Error> {
    let source = config.rtsp.as_ref().ok_or(Error::Config {
        camera: config.id.clone(),
        reason: "not an RTSP camera",
    })?;
    let bad_url = || Error::Config {
        camera: config.id.clone(),
        reason: "the RTSP URL must be rtsp://[user:pass@]host[:port]/path",
    };
    let url = Url::parse(&source.url).map_err(|_| bad_url())?;
    let mut transport = match (&pair, source.transport) {
        (_, RtspTransport::Multicast) => TransportRequest::Multicast {
            destination: None,
            port: None,
            ttl: None,
        },
        (Some(p), RtspTransport::Udp | RtspTransport::Auto) => TransportRequest::Udp {
            client_port: (p.rtp.local_addr.port(), p.rtp.local_addr.port() + 1),
            fallback_to_tcp: source.transport == RtspTransport::Auto,
        },
        _ => TransportRequest::Tcp,
    };
    loop {
        let mut link = Link::connect(config, &url, transport)?;
        let (track, negotiated) = link.until_playing(stop, None)?;
        link.route = Route::of(&negotiated, link.peer);
        let mut effective = config.clone();
        if track.payload_type != JPEG_STATIC_PAYLOAD_TYPE {
            effective.dynamic_payload_type = Some(track.payload_type);
        }
        if effective.expected_size.is_none() {
            effective.expected_size = track.size;
        }
        if let Negotiated::Multicast { .. } = negotiated {
            return multicast::start(link, effective, &negotiated);
        }
        let Negotiated::Udp { server_port, .. } = negotiated else {
            log::info!("camera {:?}: {} playing over TCP", config.id, link.url);
            return Ok(Established {
                link,
                config: effective,
                pair: None,
            });
        };
        let p = pair.take().ok_or_else(bad_url)?;
        // Open the way back through NAT and stateful firewalls: one
        // datagram out of each port to where the server sends from.
        if let Some((rtp_port, rtcp_port)) = server_port {
            let _ = p.rtp.socket.send_to(&[0; 4], (link.peer.ip(), rtp_port));
            let _ = p.rtcp.send_to(&[0; 4], (link.peer.ip(), rtcp_port));
        }
        if let TransportRequest::Udp { client_port, .. } = transport {
            // A reconnect asks for the same ports and does not probe.
            link.transport = TransportRequest::Udp {
                client_port,
                fallback_to_tcp: false,
            };
        }
        // `a=udp-only` (espp's ESP32 server): no TCP to fall back on, so
        // a slow first datagram is waited for on UDP instead.
        let may_use_tcp = !link.session.udp_only();
        if source.transport == RtspTransport::Auto && may_use_tcp && !rtp_arrives(&p.rtp.socket) {
            log::warn!(
                "camera {:?}: no RTP over UDP within {RTSP_UDP_PROBE:?}; asking for TCP",
                config.id
            );
            link.teardown();
            transport = TransportRequest::Tcp;
            continue;
        }
        effective.sender = Some(link.peer.ip());
        log::info!(
            "camera {:?}: {} playing over UDP to port {}",
            config.id,
            link.url,
            p.rtp.local_addr.port()
        );
        link.rtcp = Some(p.rtcp.try_clone().map_err(|e| link.io_error(e))?);
        link.rtp = Some(p.rtp.socket.try_clone().map_err(|e| link.io_error(e))?);
        return Ok(Established {
            link,
            config: effective,
            pair: Some(p),
        });
    }
}

/// Whether a datagram arrives within the probe time (peeked, so the
/// receive path still gets it).
fn rtp_arrives(socket: &UdpSocket) -> bool {
    let previous = socket.read_timeout().ok().flatten();
    let _ = socket.set_read_timeout(Some(RTSP_UDP_PROBE));
    let arrived = socket.peek_from(&mut [0u8; 16]).is_ok();
    let _ = socket.set_read_timeout(previous);
    arrived
}

impl Link {
    fn connect(
        config: &CameraConfig,
        url: &Url,
        transport: TransportRequest,
    ) -> Result<Self, Error> {
        let session = Session::new(SessionConfig::new(url.clone(), transport));
        let mut link = Link {
            camera: config.id.clone(),
            url: redact(url),
            stream: connect_to(url, &config.id)?,
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            session,
            rtcp: None,
            config: config.clone(),
            source_url: url.clone(),
            transport,
            rtp: None,
            membership: None,
            joined: None,
            route: None,
            reports: None,
            early: EarlyRtp::default(),
            served: false,
            torn_down: false,
        };
        link.on_connected()?;
        Ok(link)
    }

    fn on_connected(&mut self) -> Result<(), Error> {
        self.peer = self.stream.peer_addr().map_err(|e| self.io_error(e))?;
        self.stream
            .set_read_timeout(Some(POLL))
            .map_err(|e| self.io_error(e))?;
        self.stream
            .set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|e| self.io_error(e))?;
        let _ = self.stream.set_nodelay(true);
        self.session.on_connected(Instant::now());
        Ok(())
    }

    fn io_error(&self, source: io::Error) -> Error {
        Error::RtspIo {
            camera: self.camera.clone(),
            url: self.url.clone(),
            source,
        }
    }

    /// Drive the session until PLAY is answered. A reconnect passes the
    /// camera's `shared` state: a multicast session then names the sender
    /// its receive path accepts as it joins, before PLAY, so that the
    /// first frame from a new `source=` is not refused.
    fn until_playing(
        &mut self,
        stop: &AtomicBool,
        shared: Option<&CameraShared>,
    ) -> Result<(mjpeg_rtp_rtsp::JpegTrack, Negotiated), Error> {
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(self.io_error(io::ErrorKind::Interrupted.into()));
            }
            self.pump(None).map_err(|e| self.io_error(e))?;
            while let Some(event) = self.session.poll_event() {
                match event {
                    Event::Playing {
                        track, transport, ..
                    } => return Ok((track, transport)),
                    Event::Join { transport } => {
                        multicast::join(self, &transport)?;
                        if let Some(shared) = shared {
                            shared.set_sender(Some(multicast::sender(&transport, self)));
                        }
                        self.session.play(Instant::now());
                    }
                    Event::Redirect { url } => {
                        log::info!("camera {:?}: redirected to {}", self.camera, redact(&url));
                        self.url = redact(&url);
                        self.stream = connect_to(&url, &self.camera)?;
                        self.on_connected()?;
                    }
                    Event::Failed(error) => {
                        return Err(Error::Rtsp {
                            camera: self.camera.clone(),
                            error,
                        })
                    }
                    Event::Closed => {
                        return Err(self.io_error(io::ErrorKind::ConnectionAborted.into()))
                    }
                    // Nothing else needs an answer while setting up.
                    _ => {}
                }
            }
        }
    }

    /// Write what the session has to send, read once (up to `POLL`),
    /// hand interleaved RTP to `ingest`, run the session's timers.
    fn pump(&mut self, ingest: Option<&mut CameraIngest>) -> io::Result<()> {
        self.pump_reading(ingest, true).map(|_| ())
    }

    /// [`Link::pump`], reading only when `read` (the connection is known
    /// to be readable, or a bounded read is wanted). Whether bytes came.
    fn pump_reading(
        &mut self,
        mut ingest: Option<&mut CameraIngest>,
        read: bool,
    ) -> io::Result<bool> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream.write_all(&bytes)?;
        }
        if !read {
            self.run_timers(Instant::now())?;
            return Ok(false);
        }
        // Straight into the session's buffer: no per-read zeroing of a
        // fresh buffer and no second copy of every interleaved byte (the
        // two were a tenth of this thread's CPU on a 1080p30 camera).
        let read = match self.stream.read(self.session.input_buffer(READ_SIZE)) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                0
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if read > 0 {
            self.session.input_read(read);
            while let Some(item) = self.session.poll_input(now) {
                match (item, ingest.as_deref_mut(), self.reports.as_mut()) {
                    (Interleaved::Rtp(data), Some(ingest), _) => {
                        ingest.on_datagram(now, self.peer, data)
                    }
                    (Interleaved::Rtp(data), None, _) if !self.served => self.early.keep(now, data),
                    (Interleaved::Rtcp(data), _, Some(reports)) => {
                        reports.on_interleaved(now, data)
                    }
                    _ => {}
                }
            }
        }
        self.run_timers(now)?;
        Ok(read > 0)
    }

    /// The session's due timers, and what they have to send.
    fn run_timers(&mut self, now: Instant) -> io::Result<()> {
        if self.session.poll_timeout().is_some_and(|t| now >= t) {
            self.session.handle_timeout(now);
        }
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream.write_all(&bytes)?;
        }
        Ok(())
    }

    /// TEARDOWN, waiting a bounded time for the answer, so that the
    /// camera frees the session (cameras refuse new ones with 453 while
    /// old ones linger).
    pub(crate) fn teardown(&mut self) {
        if std::mem::replace(&mut self.torn_down, true) {
            return;
        }
        let deadline = Instant::now() + TEARDOWN_WAIT;
        // The writes (BYE, TEARDOWN) count against the same bound as the
        // answer: a peer that stopped reading cannot hold stop up longer.
        let _ = self.stream.set_write_timeout(Some(TEARDOWN_WAIT));
        self.say_bye();
        self.session.teardown(Instant::now());
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        {
            // The last read (and write) waits only for what is left of the
            // deadline.
            let _ = self.stream.set_read_timeout(Some(left.min(POLL)));
            let _ = self.stream.set_write_timeout(Some(left));
            if self.pump(None).is_err() {
                return;
            }
            while let Some(event) = self.session.poll_event() {
                if matches!(event, Event::Closed | Event::Failed(_)) {
                    return;
                }
            }
        }
    }

    /// The camera's session thread: keepalives, interleaved RTP into
    /// `ingest` (TCP), reconnects after a lost session, TEARDOWN once
    /// `stop` is set.
    pub(crate) fn run(
        mut self,
        mut ingest: Option<CameraIngest>,
        shared: Arc<CameraShared>,
        stop: Arc<AtomicBool>,
        wake: Wake,
    ) {
        self.start_reports(&shared);
        while let Some(lost) = self.serve(ingest.as_mut(), &shared, &stop, &wake) {
            log::warn!(
                "camera {:?}: RTSP session with {} lost ({lost}); setting it up again",
                self.camera,
                self.url
            );
            // Returns at once when the connection is gone.
            self.teardown();
            match self.reconnect(&stop, &shared) {
                Some(link) => {
                    self = link;
                    self.start_reports(&shared);
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    log::info!(
                        "camera {:?}: RTSP session with {} again",
                        self.camera,
                        self.url
                    );
                }
                None => return,
            }
        }
        self.teardown();
        if let Some(m) = self.membership {
            m.leave(self.rtp.as_ref(), self.rtcp.as_ref());
        }
        drop(self.rtcp.take());
    }

    /// Drive the playing session until `stop` (`None`) or until it is
    /// lost.
    fn serve(
        &mut self,
        mut ingest: Option<&mut CameraIngest>,
        shared: &CameraShared,
        stop: &AtomicBool,
        wake: &Wake,
    ) -> Option<Lost> {
        self.served = true;
        let early = std::mem::take(&mut self.early);
        if early.dropped > 0 {
            log::warn!(
                "camera {:?}: {} interleaved RTP datagrams ({} bytes) from {} came before \
                 PLAY's answer beyond the {MAX_EARLY_BYTES} bytes kept, and were dropped",
                self.camera,
                early.dropped,
                early.dropped_bytes,
                self.url
            );
        }
        if let Some(ingest) = ingest.as_deref_mut() {
            for (arrived, packet) in early.packets {
                ingest.on_datagram(arrived, self.peer, &packet);
            }
        }
        let started = Instant::now();
        let mut next_tick = started;
        // The thread wakes for the silence only when it would be due: at
        // the timeout after the last datagram the receive path published
        // (whichever transport feeds it), and sleeps on if one came since.
        // Time before this session does not count against it.
        let silent_at = |shared: &CameraShared| {
            shared.last_datagram().map_or(started, |t| t.max(started)) + RTP_SILENCE_TIMEOUT
        };
        let mut silence_deadline = silent_at(shared);
        while !stop.load(Ordering::Relaxed) {
            let deadline = [
                self.session.poll_timeout(),
                self.reports.as_ref().and_then(SessionRtcp::poll_timeout),
                ingest.as_deref().map(|_| next_tick),
                ingest.as_deref().and_then(CameraIngest::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .fold(silence_deadline, Instant::min);
            let readable = wait::wait(&self.stream, self.rtcp.as_ref(), wake, deadline);
            let got = match self
                .pump_reading(ingest.as_deref_mut(), readable)
                .and_then(|got| self.exchange_reports().map(|()| got))
            {
                Ok(got) => got,
                Err(e) => return Some(Lost::Connection(e)),
            };
            if self.reports.as_ref().is_some_and(SessionRtcp::sender_left) {
                return Some(Lost::Bye);
            }
            let now = Instant::now();
            let expired = |i: &CameraIngest| i.poll_timeout().is_some_and(|t| now >= t);
            if let Some(ingest) = ingest
                .as_deref_mut()
                .filter(|i| now >= next_tick || expired(i))
            {
                ingest.on_tick(now);
                next_tick = now + if got { INGEST_TICK } else { INGEST_IDLE_TICK };
            } else if got {
                next_tick = next_tick.min(now + INGEST_TICK);
            }
            if now >= silence_deadline {
                silence_deadline = silent_at(shared);
                if now >= silence_deadline {
                    return Some(Lost::Silence);
                }
            }
            while let Some(event) = self.session.poll_event() {
                match event {
                    Event::Failed(error) => return Some(Lost::Session(error)),
                    Event::Closed => {
                        return Some(Lost::Connection(io::ErrorKind::ConnectionAborted.into()))
                    }
                    // Setup events; none comes once playing.
                    _ => {}
                }
            }
        }
        None
    }
}

/// RTCP of the playing session (see [`crate::rtcp`]).
impl Link {
    /// Start the session's RTCP on the route SETUP negotiated: a fresh
    /// SSRC of ours per RTSP session.
    fn start_reports(&mut self, shared: &Arc<CameraShared>) {
        if let Some(socket) = &self.rtcp {
            // Read between RTSP reads, never waiting on it.
            if let Err(e) = socket.set_nonblocking(true) {
                log::warn!("camera {:?}: RTCP socket: {e}", self.camera);
            }
        }
        self.reports = self
            .route
            .map(|route| SessionRtcp::new(route, shared.clone(), Instant::now()));
    }

    /// Take the server's RTCP waiting on the UDP socket and send the
    /// receiver report that is due, if any. Called as soon as RTCP
    /// arrives (the session thread waits on the socket), so an SR's
    /// arrival time, and the DLSR from it, are exact.
    fn exchange_reports(&mut self) -> io::Result<()> {
        let Some(reports) = self.reports.as_mut() else {
            return Ok(());
        };
        if let Some(socket) = &self.rtcp {
            reports.read_udp(socket);
        }
        reports.send_due(Instant::now(), &mut self.stream, self.rtcp.as_ref())
    }

    /// RTCP BYE, before TEARDOWN (on stop and before a reconnect).
    fn say_bye(&mut self) {
        if let Some(mut reports) = self.reports.take() {
            reports.send_bye(&mut self.stream, self.rtcp.as_ref());
        }
    }
}

/// Open the RTSP connection to `url`'s host (port 554 by default).
fn connect_to(url: &Url, camera: &str) -> Result<TcpStream, Error> {
    let io_err = |source| Error::RtspIo {
        camera: camera.to_owned(),
        url: redact(url),
        source,
    };
    let addrs = url
        .socket_addrs(|| Some(mjpeg_rtp_rtsp::session::DEFAULT_PORT))
        .map_err(io_err)?;
    let addr = addrs
        .into_iter()
        .next()
        .ok_or_else(|| io_err(io::ErrorKind::NotFound.into()))?;
    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that sets up interleaved TCP (channels 0-1), never
    /// answers PLAY, sends `frames` empty interleaved frames on channel
    /// 0 instead, and closes.
    fn flood_before_play(frames: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut requests = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "the client closed before PLAY");
                requests.extend_from_slice(&buf[..n]);
                while let Some(end) = requests.windows(4).position(|w| w == b"\r\n\r\n") {
                    let request = String::from_utf8_lossy(&requests[..end]).into_owned();
                    requests.drain(..end + 4);
                    let cseq = request
                        .lines()
                        .find_map(|l| l.strip_prefix("CSeq: "))
                        .unwrap()
                        .trim()
                        .to_owned();
                    let answer = match request.split(' ').next().unwrap() {
                        "OPTIONS" => format!(
                            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\
                             Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
                        ),
                        "DESCRIBE" => {
                            let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Flood\r\n\
                                       c=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n\
                                       m=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n\
                                       a=control:track1\r\n";
                            format!(
                                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\
                                 Content-Base: rtsp://{addr}/flood/\r\n\
                                 Content-Type: application/sdp\r\n\
                                 Content-Length: {}\r\n\r\n{sdp}",
                                sdp.len()
                            )
                        }
                        "SETUP" => format!(
                            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\
                             Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\
                             Session: 12345678\r\n\r\n"
                        ),
                        "PLAY" => {
                            stream.write_all(&b"$\0\0\0".repeat(frames)).unwrap();
                            return;
                        }
                        other => panic!("unexpected {other}"),
                    };
                    stream.write_all(answer.as_bytes()).unwrap();
                }
            }
        });
        (addr, server)
    }

    /// Empty interleaved frames before PLAY's answer (4 bytes each on the
    /// wire) cost their entries against the early bound: the list stays
    /// bounded and what did not fit is counted.
    #[test]
    fn a_flood_of_empty_frames_before_play_stays_bounded() {
        const FRAMES: usize = 200_000;
        let (addr, server) = flood_before_play(FRAMES);
        let url = Url::parse(&format!("rtsp://{addr}/flood")).unwrap();
        let config = CameraConfig::rtsp("flood", url.as_str());
        let mut link = Link::connect(&config, &url, TransportRequest::Tcp).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Until the server has sent everything and closed.
        while link.pump(None).is_ok() {
            assert!(Instant::now() < deadline, "the server never closed");
        }
        server.join().unwrap();
        let kept = link.early.packets.len();
        assert!(kept > 0, "nothing was kept");
        assert!(
            kept <= MAX_EARLY_BYTES / std::mem::size_of::<(Instant, Vec<u8>)>(),
            "{kept} empty frames kept"
        );
        assert!(link.early.cost <= MAX_EARLY_BYTES);
        assert_eq!(link.early.dropped, (FRAMES - kept) as u64);
        assert_eq!(link.early.dropped_bytes, 0);
    }
}
