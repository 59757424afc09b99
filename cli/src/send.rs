//! `mjpeg-rtp send`: JPEG files, a directory of them, or the test pattern,
//! packetized by the core [`Packetizer`] and paced at `--fps` over UDP.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};

use crate::pattern;
use mjpeg_rtp_capture::summary::SendSummary;

/// RTP clock rate of RFC 2435.
const CLOCK_RATE: f64 = 90_000.0;

/// What is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// JPEG files, or directories of them (sent in name order).
    Files(Vec<PathBuf>),
    /// The built-in moving colour test pattern.
    Pattern {
        width: u16,
        height: u16,
        /// JPEG quality, 1..=100.
        quality: u8,
    },
}

/// What `send` sends, where and how fast.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    /// Destination `HOST:PORT`, resolved when sending starts.
    pub to: String,
    /// Frames per second.
    pub fps: f64,
    /// Largest RTP packet in bytes (RTP header included).
    pub mtu: u16,
    /// Start over at the end, until interrupted (or `frames`).
    pub repeat: bool,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    /// RTP SSRC; `None`: random.
    pub ssrc: Option<u32>,
    pub payload_type: u8,
}

/// Resolve `HOST:PORT` (IPv6 as `[addr]:port`).
pub fn resolve(to: &str) -> Result<SocketAddr> {
    to.to_socket_addrs()
        .with_context(|| format!("cannot resolve destination {to:?} (want HOST:PORT)"))?
        .next()
        .ok_or_else(|| anyhow!("destination {to:?} resolves to no address"))
}

/// The JPEG files of `inputs`: files as given, a directory's `*.jpg` and
/// `*.jpeg` in name order.
pub fn input_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta =
            fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = fs::read_dir(input)
                .with_context(|| format!("cannot read directory {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg")
                    })
                })
                .collect();
            if found.is_empty() {
                bail!("no .jpg files in {}", input.display());
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

fn load_jpeg(path: &Path) -> Result<Vec<u8>> {
    let jpeg = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Refuse now what the packetizer would refuse mid-stream.
    Packetizer::new(PacketizerConfig::default())
        .frame(&jpeg, 0)
        .map_err(|e| anyhow!("{}: cannot be sent as RTP/JPEG: {e}", path.display()))?;
    Ok(jpeg)
}

fn random_u32() -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

/// Frames to send, loaded or generated up front.
pub fn load_frames(options: &Options) -> Result<Vec<Vec<u8>>> {
    match &options.source {
        &Source::Pattern {
            width,
            height,
            quality,
        } => {
            let count = options
                .frames
                .map_or(pattern::PATTERN_FRAMES, |n| {
                    usize::try_from(n)
                        .unwrap_or(usize::MAX)
                        .min(pattern::PATTERN_FRAMES)
                })
                .max(1);
            log::info!("encoding {count} test pattern frames, {width}x{height}");
            pattern::jpeg_frames(width, height, quality, count)
        }
        Source::Files(inputs) => input_files(inputs)?.iter().map(|p| load_jpeg(p)).collect(),
    }
}

/// Run the `send` command.
pub fn run(options: &Options) -> Result<SendSummary> {
    let to = resolve(&options.to)?;
    let frames = load_frames(options)?;
    let bind: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(bind).with_context(|| format!("cannot bind {bind}"))?;
    let ssrc = options.ssrc.unwrap_or_else(random_u32);
    let config = PacketizerConfig {
        ssrc,
        payload_type: options.payload_type,
        max_packet: usize::from(options.mtu),
        initial_sequence: random_u32() as u16,
    };
    send_frames(&socket, to, &frames, config, options)
}

/// Send `frames` (cycled with `options.repeat`) to `to`, paced at
/// `options.fps`.
pub fn send_frames(
    socket: &UdpSocket,
    to: SocketAddr,
    frames: &[Vec<u8>],
    config: PacketizerConfig,
    options: &Options,
) -> Result<SendSummary> {
    let stop = crate::signal::stop_flag();
    let mut packetizer = Packetizer::new(config);
    let mut summary = SendSummary::default();
    let mut buf = vec![0u8; config.max_packet];
    let timestamp0 = random_u32();
    let period = Duration::from_secs_f64(1.0 / options.fps);
    let start = Instant::now();
    log::info!(
        "sending {} frame(s) to {to}, SSRC 0x{:08x}, {} fps{}",
        frames.len(),
        config.ssrc,
        options.fps,
        if options.repeat { ", looping" } else { "" }
    );
    let mut k: u64 = 0;
    'frames: loop {
        for (i, jpeg) in frames.iter().enumerate() {
            if options.frames.is_some_and(|n| k >= n)
                || stop.load(std::sync::atomic::Ordering::SeqCst)
            {
                break 'frames;
            }
            let due = start + period.mul_f64(k as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let ticks = (k as f64 * CLOCK_RATE / options.fps).round() as u64;
            let timestamp = timestamp0.wrapping_add(ticks as u32);
            let mut packets = packetizer
                .frame(jpeg, timestamp)
                .map_err(|e| anyhow!("frame {i}: {e}"))?;
            while let Some(packet) = packets.next_into(&mut buf) {
                let len = packet.map_err(|_| anyhow!("packet buffer too small"))?;
                let datagram = buf.get(..len).unwrap_or(&[]);
                match socket.send_to(datagram, to) {
                    Ok(_) => {
                        summary.packets_sent += 1;
                        summary.bytes_sent += len as u64;
                    }
                    // Nobody listening yet (ICMP port unreachable): keep going.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        log::debug!("send to {to}: {e}");
                    }
                    Err(e) => return Err(e).with_context(|| format!("cannot send to {to}")),
                }
            }
            summary.frames_sent += 1;
            k += 1;
        }
        if !options.repeat {
            break;
        }
    }
    Ok(summary)
}
