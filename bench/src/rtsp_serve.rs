//! The smallest RTSP server that serves the bench's capture to one
//! client, for `rtsp-transport`: OPTIONS, DESCRIBE (static payload type
//! 26), SETUP over UDP (`client_port=`) or TCP (`interleaved=`), PLAY,
//! GET_PARAMETER/OPTIONS keepalives and TEARDOWN, on a thread of its own.
//! After PLAY it sends `frames` frames paced at `fps`, each frame's
//! packets in one burst: over UDP one `send_to` per packet, over TCP
//! every packet `$`-framed and the whole frame in one write (what a
//! camera's TCP stack makes of it either way: a burst of segments).
//! Sequence numbers and timestamps are rewritten, so that cycling the
//! capture's frames stays one continuous stream.
//! Its CPU is on its own thread, which the bench does not count.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mjpeg_rtp_core::rtp::HeaderMut;

/// RTP clock of JPEG (RFC 2435).
const CLOCK_RATE: f64 = 90_000.0;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nt=0 0\r\n\
                   m=video 0 RTP/AVP 26\r\nc=IN IP4 0.0.0.0\r\na=control:track1\r\n";

/// A server listening on loopback; [`Server::url`] is its stream.
pub struct Server {
    pub addr: SocketAddr,
    /// Packets sent so far.
    pub sent: Arc<AtomicU64>,
    handle: JoinHandle<Result<()>>,
}

impl Server {
    /// Listen, and serve `frames` of `packets` (one `Vec` of RTP packets
    /// per frame, cycled) at `fps` to the first client that plays.
    pub fn start(packets: Arc<Vec<Vec<Vec<u8>>>>, frames: usize, fps: f64) -> Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").context("RTSP server bind")?;
        let addr = listener.local_addr()?;
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let handle = std::thread::Builder::new()
            .name("bench-rtsp-srv".into())
            .spawn(move || {
                let (stream, _) = listener.accept()?;
                serve(stream, &packets, frames, fps, &counter)
            })?;
        Ok(Server { addr, sent, handle })
    }

    pub fn url(&self) -> String {
        format!("rtsp://{}/stream", self.addr)
    }

    /// Wait for the client to go (TEARDOWN or closed connection).
    pub fn join(self) -> Result<()> {
        match self.handle.join() {
            Ok(r) => r,
            Err(_) => bail!("the RTSP server thread panicked"),
        }
    }
}

/// Where PLAY sends to.
enum Sink {
    Udp(UdpSocket, SocketAddr),
    Tcp,
}

fn serve(
    mut stream: TcpStream,
    packets: &[Vec<Vec<u8>>],
    frames: usize,
    fps: f64,
    sent: &AtomicU64,
) -> Result<()> {
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr()?;
    let mut input = Vec::new();
    let mut sink = None;
    let mut playing: Option<Instant> = None;
    let mut next = 0usize;
    let interval = Duration::from_secs_f64(1.0 / fps);
    let mut frame_buf = Vec::new();
    let mut seq = 0u16;
    let ts_step = (CLOCK_RATE / fps).round() as u32;
    loop {
        // Until the next frame is due, or a while when idle.
        let wait = match playing {
            Some(t0) if next < frames => (t0 + interval * next as u32)
                .saturating_duration_since(Instant::now())
                .max(Duration::from_micros(100)),
            _ => Duration::from_millis(50),
        };
        stream.set_read_timeout(Some(wait))?;
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => input.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
        while let Some(end) = find(&input, b"\r\n\r\n") {
            let request = String::from_utf8_lossy(&input[..end]).into_owned();
            input.drain(..end + 4);
            let method = request.split(' ').next().unwrap_or_default().to_owned();
            let (headers, new_sink) = answer(&method, &request, peer)?;
            let cseq = header(&request, "CSeq").unwrap_or("0");
            write!(
                stream,
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{headers}Content-Length: {}\r\n\r\n{}",
                if method == "DESCRIBE" { SDP.len() } else { 0 },
                if method == "DESCRIBE" { SDP } else { "" }
            )?;
            if let Some(s) = new_sink {
                sink = Some(s);
            }
            match method.as_str() {
                "PLAY" => playing = Some(Instant::now()),
                "TEARDOWN" => return Ok(()),
                _ => {}
            }
        }
        let (Some(t0), Some(sink)) = (playing, sink.as_ref()) else {
            continue;
        };
        if next < frames && Instant::now() >= t0 + interval * next as u32 {
            let frame = &packets[next % packets.len()];
            let ts = (next as u32).wrapping_mul(ts_step);
            frame_buf.clear();
            for p in frame {
                if let Sink::Tcp = sink {
                    // An interleaved frame's length has 16 bits: a longer
                    // packet cut to fit would be a corrupt one.
                    let Ok(len) = u16::try_from(p.len()) else {
                        bail!("a {}-byte packet cannot be interleaved", p.len());
                    };
                    frame_buf.extend_from_slice(&[b'$', 0]);
                    frame_buf.extend_from_slice(&len.to_be_bytes());
                }
                let at = frame_buf.len();
                frame_buf.extend_from_slice(p);
                // Every packet of the capture is a whole RTP packet.
                if let Ok(mut header) = HeaderMut::new_checked(&mut frame_buf[at..]) {
                    header.set_sequence(seq);
                    header.set_timestamp(ts);
                }
                seq = seq.wrapping_add(1);
                if let Sink::Udp(socket, to) = sink {
                    socket.send_to(&frame_buf[at..], to)?;
                    frame_buf.clear();
                }
            }
            if let Sink::Tcp = sink {
                stream.write_all(&frame_buf)?;
            }
            sent.fetch_add(frame.len() as u64, Ordering::Relaxed);
            next += 1;
        }
    }
}

/// The headers of the answer to `method`, and where SETUP says to send.
fn answer(method: &str, request: &str, peer: SocketAddr) -> Result<(String, Option<Sink>)> {
    Ok(match method {
        "OPTIONS" => (
            "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n".into(),
            None,
        ),
        "DESCRIBE" => (
            "Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1/stream/\r\n".into(),
            None,
        ),
        "SETUP" => {
            let transport = header(request, "Transport").unwrap_or_default();
            let param = |name: &str| {
                transport
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
            };
            if transport.contains("TCP") {
                (
                    "Session: 1;timeout=60\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
                        .into(),
                    Some(Sink::Tcp),
                )
            } else {
                let ports = param("client_port").context("SETUP without client_port")?;
                let rtp: u16 = ports.split('-').next().unwrap_or("").parse()?;
                let socket = UdpSocket::bind("127.0.0.1:0")?;
                let ours = socket.local_addr()?.port();
                (
                    format!(
                        "Session: 1;timeout=60\r\nTransport: RTP/AVP;unicast;client_port={ports};\
                         server_port={ours}-{}\r\n",
                        ours + 1
                    ),
                    Some(Sink::Udp(socket, SocketAddr::new(peer.ip(), rtp))),
                )
            }
        }
        _ => (String::new(), None),
    })
}

fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    request.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
