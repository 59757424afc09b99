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

use crate::args::SendArgs;
use crate::pattern;
use crate::summary::SendSummary;

/// RTP clock rate of RFC 2435.
const CLOCK_RATE: f64 = 90_000.0;

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
pub fn load_frames(args: &SendArgs) -> Result<Vec<Vec<u8>>> {
    if args.pattern {
        let count = args
            .frames
            .map_or(pattern::PATTERN_FRAMES, |n| {
                usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(pattern::PATTERN_FRAMES)
            })
            .max(1);
        log::info!(
            "encoding {count} test pattern frames, {}x{}",
            args.width,
            args.height
        );
        pattern::jpeg_frames(args.width, args.height, args.quality, count)
    } else {
        input_files(&args.inputs)?
            .iter()
            .map(|p| load_jpeg(p))
            .collect()
    }
}

/// Run the `send` command.
pub fn run(args: &SendArgs) -> Result<SendSummary> {
    let to = resolve(&args.to)?;
    let frames = load_frames(args)?;
    let bind: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(bind).with_context(|| format!("cannot bind {bind}"))?;
    let ssrc = args.ssrc.unwrap_or_else(random_u32);
    let config = PacketizerConfig {
        ssrc,
        payload_type: args.payload_type,
        max_packet: usize::from(args.mtu),
        initial_sequence: random_u32() as u16,
    };
    send_frames(&socket, to, &frames, config, args)
}

/// Send `frames` (cycled with `--loop`) to `to`, paced at `args.fps`.
pub fn send_frames(
    socket: &UdpSocket,
    to: SocketAddr,
    frames: &[Vec<u8>],
    config: PacketizerConfig,
    args: &SendArgs,
) -> Result<SendSummary> {
    let stop = crate::signal::stop_flag();
    let mut packetizer = Packetizer::new(config);
    let mut summary = SendSummary::default();
    let mut buf = vec![0u8; config.max_packet];
    let timestamp0 = random_u32();
    let period = Duration::from_secs_f64(1.0 / args.fps);
    let start = Instant::now();
    log::info!(
        "sending {} frame(s) to {to}, SSRC 0x{:08x}, {} fps{}",
        frames.len(),
        config.ssrc,
        args.fps,
        if args.repeat { ", looping" } else { "" }
    );
    let mut k: u64 = 0;
    'frames: loop {
        for (i, jpeg) in frames.iter().enumerate() {
            if args.frames.is_some_and(|n| k >= n) || stop.load(std::sync::atomic::Ordering::SeqCst)
            {
                break 'frames;
            }
            let due = start + period.mul_f64(k as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let ticks = (k as f64 * CLOCK_RATE / args.fps).round() as u64;
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
        if !args.repeat {
            break;
        }
    }
    Ok(summary)
}
