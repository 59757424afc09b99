//! Drives an RTSP camera's [`mjpeg_rtp_rtsp::Session`] with std sockets:
//! the TCP connection, the UDP port pair, and the thread that keeps the
//! session alive (and, over TCP, feeds interleaved RTP to the camera's
//! ingest) until the client stops, then sends TEARDOWN.
//!
//! Setup runs in [`crate::Client::start`], so that a wrong password or an
//! unreachable camera is an error there and the payload type from the SDP
//! configures the camera's depacketizer before any packet arrives.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mjpeg_rtp_rtsp::headers::redact;
use mjpeg_rtp_rtsp::sdp::JPEG_STATIC_PAYLOAD_TYPE;
use mjpeg_rtp_rtsp::{Event, Interleaved, Negotiated, Session, SessionConfig, TransportRequest};
use url::Url;

use crate::backend::CameraIngest;
use crate::config::{CameraConfig, RtspTransport, RTSP_UDP_PROBE};
use crate::error::Error;
use crate::socket::{bind_camera, BoundSocket};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read timeout of the RTSP connection: how often stop, timers and the
/// ingest's tick are looked at.
const POLL: Duration = Duration::from_millis(50);
/// TEARDOWN gets this long for its answer when stopping.
const TEARDOWN_WAIT: Duration = Duration::from_secs(2);

/// An even RTP port and the odd RTCP port above it (RFC 3550 11).
#[derive(Debug)]
pub(crate) struct PortPair {
    pub(crate) rtp: BoundSocket,
    pub(crate) rtcp: UdpSocket,
}

/// Bind an even/odd pair on `config.bind`'s address, ports chosen by
/// the system.
pub(crate) fn bind_pair(config: &CameraConfig) -> Result<PortPair, Error> {
    let mut last = None;
    for _ in 0..32 {
        let rtp = bind_camera(config)?;
        let port = rtp.local_addr.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        let rtcp_addr = SocketAddr::new(rtp.local_addr.ip(), port + 1);
        match UdpSocket::bind(rtcp_addr) {
            Ok(rtcp) => return Ok(PortPair { rtp, rtcp }),
            Err(e) => last = Some((rtcp_addr, e)),
        }
    }
    let (addr, source) = last.unwrap_or_else(|| {
        (
            config.bind,
            io::Error::new(io::ErrorKind::AddrInUse, "no even port"),
        )
    });
    Err(Error::Bind {
        camera: config.id.clone(),
        addr,
        source,
    })
}

/// A session that reached PLAY, with what the camera's receive path
/// needs to know.
pub(crate) struct Playing {
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
}

/// Set the session up to PLAY. `pair` is the camera's bound port pair
/// (for UDP and Auto).
pub(crate) fn establish(
    config: &CameraConfig,
    mut pair: Option<PortPair>,
    stop: &AtomicBool,
) -> Result<Playing, Error> {
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
        (Some(p), RtspTransport::Udp | RtspTransport::Auto) => TransportRequest::Udp {
            client_port: (p.rtp.local_addr.port(), p.rtp.local_addr.port() + 1),
            fallback_to_tcp: source.transport == RtspTransport::Auto,
        },
        _ => TransportRequest::Tcp,
    };
    loop {
        let mut link = Link::connect(config, &url, transport)?;
        let (track, negotiated) = link.until_playing(stop)?;
        let mut effective = config.clone();
        if track.payload_type != JPEG_STATIC_PAYLOAD_TYPE {
            effective.dynamic_payload_type = Some(track.payload_type);
        }
        if effective.expected_size.is_none() {
            effective.expected_size = track.size;
        }
        let Negotiated::Udp { server_port, .. } = negotiated else {
            log::info!("camera {:?}: {} playing over TCP", config.id, link.url);
            return Ok(Playing {
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
        if source.transport == RtspTransport::Auto && !rtp_arrives(&p.rtp.socket) {
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
        return Ok(Playing {
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
        };
        link.on_connected()?;
        Ok(link)
    }

    fn on_connected(&mut self) -> Result<(), Error> {
        self.peer = self.stream.peer_addr().map_err(|e| self.io_error(e))?;
        self.stream
            .set_read_timeout(Some(POLL))
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

    /// Drive the session until PLAY is answered.
    fn until_playing(
        &mut self,
        stop: &AtomicBool,
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
                }
            }
        }
    }

    /// Write what the session has to send, read once (up to `POLL`),
    /// hand interleaved RTP to `ingest`, run the session's timers.
    fn pump(&mut self, mut ingest: Option<&mut CameraIngest>) -> io::Result<()> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream.write_all(&bytes)?;
        }
        let mut buf = [0u8; 64 * 1024];
        let read = match self.stream.read(&mut buf) {
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
            self.session.handle_input(&buf[..read]);
            while let Some(item) = self.session.poll_input(now) {
                if let (Interleaved::Rtp(data), Some(ingest)) = (item, ingest.as_deref_mut()) {
                    ingest.on_datagram(now, self.peer, data);
                }
            }
        }
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
        self.session.teardown(Instant::now());
        let deadline = Instant::now() + TEARDOWN_WAIT;
        while Instant::now() < deadline {
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
    /// `ingest` (TCP), TEARDOWN once `stop` is set.
    pub(crate) fn run(mut self, mut ingest: Option<CameraIngest>, stop: Arc<AtomicBool>) {
        let mut next_tick = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = self.pump(ingest.as_mut()) {
                log::error!(
                    "camera {:?}: RTSP connection to {} lost: {e}",
                    self.camera,
                    self.url
                );
                return;
            }
            let now = Instant::now();
            if let Some(ingest) = ingest.as_mut().filter(|_| now >= next_tick) {
                ingest.on_tick(now);
                next_tick = now + Duration::from_millis(100);
            }
            while let Some(event) = self.session.poll_event() {
                if let Event::Failed(error) = event {
                    log::error!("camera {:?}: RTSP session ended: {error}", self.camera);
                    return;
                }
            }
        }
        self.teardown();
        drop(self.rtcp.take());
    }
}

/// Open the RTSP connection to `url`'s host (port 554 by default).
fn connect_to(url: &Url, camera: &str) -> Result<TcpStream, Error> {
    let io_err = |source| Error::RtspIo {
        camera: camera.to_owned(),
        url: redact(url),
        source,
    };
    let addrs = url.socket_addrs(|| Some(554)).map_err(io_err)?;
    let addr = addrs
        .into_iter()
        .next()
        .ok_or_else(|| io_err(io::ErrorKind::NotFound.into()))?;
    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(io_err)
}
