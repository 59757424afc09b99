//! The replay sender: a capture's frames sent to many cameras' ports
//! with `sendmmsg` and UDP segmentation offload, paced per camera, in a
//! process of its own
//! (`mjpeg-rtp-bench replay`) so that none of its CPU time is the
//! receiver's. The live ramp and `rx-cpu` both drive it through
//! [`command`].

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mjpeg_rtp_core::rtp::HeaderMut;
use serde::{Deserialize, Serialize};

use crate::capture::load_rtp_frames;
use crate::synth;

/// RTP clock of RFC 2435.
const CLOCK_RATE: f64 = 90_000.0;

/// What the sender sends, where, and at which pace.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// A capture whose first RTP/JPEG stream is replayed (cycled).
    pub capture: PathBuf,
    /// One camera per destination.
    pub to: Vec<SocketAddr>,
    pub fps: f64,
    /// Frames sent to every destination.
    pub frames: usize,
    /// Share of the frame interval over which a frame's packets are
    /// spread (0: one burst).
    pub spread: f64,
    /// Share of the frame interval over which the cameras' frames are
    /// staggered (0: every camera's frame at the same instant).
    pub stagger: f64,
    /// Hand the kernel runs of one camera's packets as one message that
    /// it cuts into datagrams (UDP GSO, Linux), so that the sender's
    /// cost per packet does not cap the live ramp.
    pub gso: bool,
    /// Send each packet at its own due time instead of everything due
    /// within [`HORIZON`] together: packets trickle one by one, as from a
    /// camera on a 100 Mbit/s link. Costs the sender a wake-up per
    /// packet; for one or a few cameras.
    pub trickle: bool,
}

/// What the sender did, printed by it as one JSON line on stdout.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplaySummary {
    pub cameras: usize,
    pub frames_per_camera: usize,
    pub packets_sent: u64,
    pub send_errors: u64,
    /// Latest a packet went out after its due time.
    pub max_lag_ms: f64,
    /// Whether UDP segmentation offload was used to the end.
    #[serde(default)]
    pub gso: bool,
    /// Messages handed to the kernel: `packets_sent` over this is how
    /// many datagrams GSO joined per message.
    #[serde(default)]
    pub messages_sent: u64,
    pub seconds: f64,
}

impl ReplaySummary {
    /// The summary a sender printed; the default (nothing sent) when it
    /// printed none, as a sender that failed does.
    pub fn from_stdout(stdout: &[u8]) -> Self {
        serde_json::from_slice(stdout).unwrap_or_default()
    }
}

/// The command line of the `replay` subcommand for `options`, in the
/// order `args::ReplayArgs` reads it.
pub fn argv(options: &Options) -> Vec<String> {
    let to: Vec<String> = options.to.iter().map(SocketAddr::to_string).collect();
    let mut argv: Vec<String> = vec![
        "replay".into(),
        "--capture".into(),
        options.capture.display().to_string(),
        "--to".into(),
        to.join(","),
        "--fps".into(),
        options.fps.to_string(),
        "--frames".into(),
        options.frames.to_string(),
        "--spread".into(),
        options.spread.to_string(),
        "--stagger".into(),
        options.stagger.to_string(),
    ];
    if !options.gso {
        argv.push("--no-gso".into());
    }
    if options.trickle {
        argv.push("--trickle".into());
    }
    argv
}

/// The sender as a child process of this very executable, its summary on
/// a pipe, its complaints on our stderr.
pub fn command(options: &Options) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find our own executable")?;
    let mut command = Command::new(exe);
    command
        .args(argv(options))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    Ok(command)
}

/// Run the sender as a child (see [`command`]) to its end; its summary.
pub fn run_child(options: &Options) -> Result<ReplaySummary> {
    let output = command(options)?
        .output()
        .context("cannot run the replay sender")?;
    if !output.status.success() {
        anyhow::bail!("the replay sender failed ({})", output.status);
    }
    Ok(ReplaySummary::from_stdout(&output.stdout))
}

/// How far ahead of its due time a packet may go out: everything due
/// within this horizon leaves in one batch, so the sender wakes at most
/// about once per horizon however many cameras it feeds, and a run of
/// one camera's packets can become one GSO message.
const HORIZON: f64 = 0.001;

/// Send the capture's frames to every destination, paced per camera at
/// `fps`, cameras staggered over `stagger` of the frame interval, each
/// frame's packets spread over `spread` of it (to within [`HORIZON`]). Sequence numbers,
/// timestamps and SSRC are rewritten per camera so that looping the
/// capture stays one continuous stream.
pub fn replay(options: &Options) -> Result<ReplaySummary> {
    send(&load_rtp_frames(&options.capture)?, options)
}

fn send(frames: &[Vec<Vec<u8>>], options: &Options) -> Result<ReplaySummary> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).context("cannot bind sender")?;
    let cameras = options.to.len();
    let interval = 1.0 / options.fps;
    let spread = options.spread.clamp(0.0, 1.0) * interval;
    let stagger = options.stagger.clamp(0.0, 1.0) * interval;
    let ts_step = (CLOCK_RATE / options.fps).round() as u32;
    let horizon = if options.trickle { 0.0 } else { HORIZON };
    struct Cam {
        dst: SocketAddr,
        frame: usize,
        packet: usize,
        seq: u16,
        offset: f64,
    }
    let mut cams: Vec<Cam> = options
        .to
        .iter()
        .enumerate()
        .map(|(k, &dst)| Cam {
            dst,
            frame: 0,
            packet: 0,
            seq: (k as u16).wrapping_mul(7919),
            offset: stagger * k as f64 / cameras as f64,
        })
        .collect();
    // The segment size is the longest packet: a packet longer than it
    // would be cut in two. A capture's packets come from one payloader at
    // one MTU, so nearly all of a frame's packets but its last have this
    // length; any shorter one ends a run early, at no other cost.
    let longest = frames.iter().flatten().map(Vec::len).max().unwrap_or(0);
    let mut batch = Batch::new(&socket, options.gso.then_some(longest))?;
    let mut summary = ReplaySummary {
        cameras,
        ..ReplaySummary::default()
    };
    let start = Instant::now();
    loop {
        let now = start.elapsed().as_secs_f64();
        let mut next_due = f64::INFINITY;
        let mut done = 0;
        for (k, cam) in cams.iter_mut().enumerate() {
            while cam.frame < options.frames {
                let packets = &frames[cam.frame % frames.len()];
                let due = cam.offset
                    + cam.frame as f64 * interval
                    + spread * cam.packet as f64 / packets.len() as f64;
                if due > now + horizon {
                    next_due = next_due.min(due);
                    break;
                }
                summary.max_lag_ms = summary.max_lag_ms.max((now - due) * 1e3);
                let packet = &packets[cam.packet];
                let ts = (cam.frame as u32).wrapping_mul(ts_step);
                let ssrc = synth::SSRC.wrapping_add(k as u32);
                let seq = cam.seq;
                batch.push(cam.dst, packet, |b| {
                    // Every packet in the capture is a whole RTP packet.
                    if let Ok(mut header) = HeaderMut::new_checked(b) {
                        header.set_sequence(seq);
                        header.set_timestamp(ts);
                        header.set_ssrc(ssrc);
                    }
                })?;
                cam.seq = cam.seq.wrapping_add(1);
                cam.packet += 1;
                if cam.packet == packets.len() {
                    cam.packet = 0;
                    cam.frame += 1;
                }
            }
            if cam.frame >= options.frames {
                done += 1;
            }
        }
        batch.flush()?;
        if done == cameras {
            break;
        }
        let wait = next_due - start.elapsed().as_secs_f64();
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait.min(0.005)));
        }
    }
    summary.gso = batch.segment.is_some();
    summary.messages_sent = batch.messages_sent;
    summary.packets_sent = batch.sent;
    summary.send_errors = batch.errors;
    summary.frames_per_camera = options.frames;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Datagrams collected and sent together: one `sendmmsg` per batch of
/// messages on Linux, one `send_to` each elsewhere. With GSO a message
/// carries a run of one camera's datagrams back to back, every one but
/// the last exactly `segment` bytes long, and the kernel cuts it at
/// `segment`: one trip through the stack for the run instead of one per
/// datagram.
struct Batch<'s> {
    socket: &'s UdpSocket,
    /// The segment size the socket's GSO cuts at; `None`: one datagram
    /// per message.
    segment: Option<usize>,
    messages: Vec<Message>,
    /// Messages of `messages` in use.
    len: usize,
    messages_sent: u64,
    sent: u64,
    errors: u64,
}

struct Message {
    dst: SocketAddr,
    bytes: Vec<u8>,
    datagrams: usize,
    /// Length of the last datagram: a shorter one than `segment` ends
    /// the message, since only the last segment may be short.
    last: usize,
}

/// Messages per `sendmmsg`.
const BATCH: usize = 64;
/// The kernel's limit on segments per GSO message (`UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// The largest UDP payload over IPv4.
const MAX_MESSAGE: usize = 65_507;

impl<'s> Batch<'s> {
    /// A batch for `socket`, with GSO at `segment` bytes when asked for
    /// and the kernel takes it.
    fn new(socket: &'s UdpSocket, segment: Option<usize>) -> Result<Self> {
        Ok(Batch {
            socket,
            segment: segment.filter(|&s| s > 0 && enable_gso(socket, s)),
            messages: (0..BATCH)
                .map(|_| Message {
                    dst: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                    bytes: Vec::with_capacity(2048),
                    datagrams: 0,
                    last: 0,
                })
                .collect(),
            len: 0,
            messages_sent: 0,
            sent: 0,
            errors: 0,
        })
    }

    fn push(
        &mut self,
        dst: SocketAddr,
        packet: &[u8],
        patch: impl FnOnce(&mut [u8]),
    ) -> Result<()> {
        let joins = |m: &Message, segment: usize| {
            m.dst == dst
                && m.last == segment
                && packet.len() <= segment
                && m.datagrams < MAX_SEGMENTS
                && m.bytes.len() + packet.len() <= MAX_MESSAGE
        };
        let open = match (self.len.checked_sub(1), self.segment) {
            (Some(last), Some(segment)) if joins(&self.messages[last], segment) => last,
            _ => {
                if self.len == BATCH {
                    self.flush()?;
                }
                let m = &mut self.messages[self.len];
                m.dst = dst;
                m.bytes.clear();
                m.datagrams = 0;
                self.len += 1;
                self.len - 1
            }
        };
        let m = &mut self.messages[open];
        let at = m.bytes.len();
        m.bytes.extend_from_slice(packet);
        if packet.len() >= 12 {
            patch(&mut m.bytes[at..]);
        }
        m.datagrams += 1;
        m.last = packet.len();
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn flush(&mut self) -> Result<()> {
        use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrIn};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;
        let mut from = 0;
        while from < self.len {
            let messages = &self.messages[from..self.len];
            let iovs: Vec<[IoSlice<'_>; 1]> =
                messages.iter().map(|m| [IoSlice::new(&m.bytes)]).collect();
            let addrs: Vec<Option<SockaddrIn>> = messages
                .iter()
                .map(|m| match m.dst {
                    SocketAddr::V4(v4) => Some(SockaddrIn::from(v4)),
                    SocketAddr::V6(_) => None,
                })
                .collect();
            let mut headers = MultiHeaders::<SockaddrIn>::preallocate(messages.len(), None);
            let cmsgs: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                self.socket.as_raw_fd(),
                &mut headers,
                &iovs,
                &addrs,
                cmsgs,
                MsgFlags::empty(),
            ) {
                Ok(results) => {
                    let done = results.count().max(1);
                    self.messages_sent += done as u64;
                    self.sent += datagrams(&messages[..done]);
                    from += done;
                }
                Err(errno @ (nix::errno::Errno::EINVAL | nix::errno::Errno::EIO))
                    if self.segment.is_some() =>
                {
                    // The route's MTU is below the segment size, or the
                    // device takes no GSO: go on without it, these
                    // messages cut by hand.
                    eprintln!("replay: UDP GSO refused ({errno}), one datagram per message");
                    let segment = self.segment.take().unwrap_or(usize::MAX);
                    enable_gso(self.socket, 0);
                    for m in &self.messages[from..self.len] {
                        for datagram in m.bytes.chunks(segment) {
                            match self.socket.send_to(datagram, m.dst) {
                                Ok(_) => self.sent += 1,
                                Err(_) => self.errors += 1,
                            }
                        }
                    }
                    from = self.len;
                }
                Err(_) => {
                    // Skip the message that failed.
                    self.errors += datagrams(&messages[..1]);
                    from += 1;
                }
            }
        }
        self.len = 0;
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn flush(&mut self) -> Result<()> {
        for m in &self.messages[..self.len] {
            match self.socket.send_to(&m.bytes, m.dst) {
                Ok(_) => {
                    self.messages_sent += 1;
                    self.sent += m.datagrams as u64;
                }
                Err(_) => self.errors += m.datagrams as u64,
            }
        }
        self.len = 0;
        Ok(())
    }
}

fn datagrams(messages: &[Message]) -> u64 {
    messages.iter().map(|m| m.datagrams as u64).sum()
}

/// Ask the kernel to cut this socket's messages into `segment`-byte
/// datagrams (`UDP_SEGMENT`; 0 turns it off); false where it cannot (not
/// Linux, a kernel before 4.18).
#[cfg(target_os = "linux")]
fn enable_gso(socket: &UdpSocket, segment: usize) -> bool {
    use nix::sys::socket::{setsockopt, sockopt::UdpGsoSegment};
    i32::try_from(segment).is_ok_and(|s| setsockopt(socket, UdpGsoSegment, &s).is_ok())
}

#[cfg(not(target_os = "linux"))]
fn enable_gso(_: &UdpSocket, _: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two cameras, three frames of two packets each, cycling two
    /// capture frames: every datagram arrives rewritten for its camera.
    #[test]
    fn every_camera_gets_one_continuous_stream() {
        let receivers: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
            .collect();
        // Minimal RTP headers (V=2, PT 26); the payload byte names the
        // packet.
        let packet = |n: u8| {
            let mut p = vec![0x80, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            p.push(n);
            p
        };
        let frames = vec![vec![packet(0), packet(1)], vec![packet(2), packet(3)]];
        let options = Options {
            capture: PathBuf::new(),
            to: receivers.iter().map(|r| r.local_addr().unwrap()).collect(),
            fps: 200.0,
            frames: 3,
            spread: 0.5,
            stagger: 1.0,
            gso: true,
            trickle: false,
        };
        let summary = send(&frames, &options).unwrap();
        assert_eq!((summary.cameras, summary.frames_per_camera), (2, 3));
        assert_eq!((summary.packets_sent, summary.send_errors), (12, 0));
        for (k, receiver) in receivers.iter().enumerate() {
            receiver
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 64];
            let mut seq = None;
            for i in 0..6u16 {
                let n = receiver.recv(&mut buf).unwrap();
                assert_eq!(n, 13);
                let this = u16::from_be_bytes([buf[2], buf[3]]);
                assert_eq!(this, seq.map_or(this, |s: u16| s.wrapping_add(1)));
                seq = Some(this);
                let frame = u32::from(i / 2);
                let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                assert_eq!(ts, frame * 450, "90 kHz at 200 fps");
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                assert_eq!(ssrc, synth::SSRC + k as u32);
                assert_eq!(u32::from(buf[12]), (frame % 2) * 2 + u32::from(i % 2));
            }
        }
    }

    /// Packets of mixed lengths, with and without GSO: every datagram
    /// arrives whole, in order, with its own length, whichever runs the
    /// batch folds into one message.
    #[test]
    fn gso_runs_arrive_as_the_datagrams_sent() {
        let packet = |n: u8, len: usize| {
            let mut p = vec![0x80, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            p.resize(len, n);
            p
        };
        // Full, full, short; then short first: a short datagram ends a
        // GSO run.
        let frames = vec![
            vec![packet(0, 40), packet(1, 40), packet(2, 17)],
            vec![packet(3, 25), packet(4, 40), packet(5, 40)],
        ];
        let lengths = [40, 40, 17, 25, 40, 40];
        for gso in [true, false] {
            let receiver = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            receiver
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let options = Options {
                capture: PathBuf::new(),
                to: vec![receiver.local_addr().unwrap()],
                fps: 500.0,
                frames: 4,
                spread: 0.0,
                stagger: 0.0,
                gso,
                trickle: !gso,
            };
            let summary = send(&frames, &options).unwrap();
            assert_eq!((summary.packets_sent, summary.send_errors), (12, 0));
            if gso {
                assert!(summary.gso, "Linux takes UDP_SEGMENT");
                // Runs of full datagrams joined: (40, 40, 17) is one
                // message, (25) one, (40, 40) one, per frame pair.
                assert!(summary.messages_sent < 12, "{summary:?}");
            } else {
                assert_eq!(summary.messages_sent, 12);
            }
            let mut buf = [0u8; 128];
            for i in 0..12 {
                let n = receiver.recv(&mut buf).unwrap();
                assert_eq!(n, lengths[i % 6], "datagram {i}, gso {gso}");
                assert!(buf[12..n].iter().all(|&b| usize::from(b) == i % 6));
            }
        }
    }
}
