//! The replay sender: a capture's frames sent to many cameras' ports
//! with `sendmmsg`, paced per camera, in a process of its own
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
    vec![
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
    ]
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

/// Send the capture's frames to every destination, paced per camera at
/// `fps`, cameras staggered over `stagger` of the frame interval, each
/// frame's packets spread over `spread` of it. Sequence numbers,
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
    let mut batch = Batch::new(&socket)?;
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
                if due > now {
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
    summary.packets_sent = batch.sent;
    summary.send_errors = batch.errors;
    summary.frames_per_camera = options.frames;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Datagrams collected and sent together: one `sendmmsg` per batch on
/// Linux, one `send_to` each elsewhere.
struct Batch<'s> {
    socket: &'s UdpSocket,
    buffers: Vec<Vec<u8>>,
    dsts: Vec<SocketAddr>,
    len: usize,
    sent: u64,
    errors: u64,
}

const BATCH: usize = 64;

impl<'s> Batch<'s> {
    fn new(socket: &'s UdpSocket) -> Result<Self> {
        Ok(Batch {
            socket,
            buffers: (0..BATCH).map(|_| Vec::with_capacity(2048)).collect(),
            dsts: Vec::with_capacity(BATCH),
            len: 0,
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
        if self.len == BATCH {
            self.flush()?;
        }
        let buf = &mut self.buffers[self.len];
        buf.clear();
        buf.extend_from_slice(packet);
        if buf.len() >= 12 {
            patch(buf);
        }
        self.dsts.push(dst);
        self.len += 1;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn flush(&mut self) -> Result<()> {
        use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrIn};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;
        let mut from = 0;
        while from < self.len {
            let n = self.len - from;
            let iovs: Vec<[IoSlice<'_>; 1]> = self.buffers[from..self.len]
                .iter()
                .map(|b| [IoSlice::new(b)])
                .collect();
            let addrs: Vec<Option<SockaddrIn>> = self.dsts[from..self.len]
                .iter()
                .map(|d| match d {
                    SocketAddr::V4(v4) => Some(SockaddrIn::from(*v4)),
                    SocketAddr::V6(_) => None,
                })
                .collect();
            let mut headers = MultiHeaders::<SockaddrIn>::preallocate(n, None);
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
                    self.sent += done as u64;
                    from += done;
                }
                Err(_) => {
                    // Skip the datagram that failed.
                    self.errors += 1;
                    from += 1;
                }
            }
        }
        self.len = 0;
        self.dsts.clear();
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn flush(&mut self) -> Result<()> {
        for (buf, dst) in self.buffers[..self.len].iter().zip(&self.dsts) {
            match self.socket.send_to(buf, dst) {
                Ok(_) => self.sent += 1,
                Err(_) => self.errors += 1,
            }
        }
        self.len = 0;
        self.dsts.clear();
        Ok(())
    }
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
}
