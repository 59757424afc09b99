//! `mjpeg-rtp demo`: proof of life with no camera. Sends the built-in
//! test pattern to ourselves over loopback UDP through real sockets,
//! receives it with the runtime's [`Client`], checks every frame
//! pixel-exact against a decode of what was sent, writes a few PNGs and
//! returns the summary (printed by the caller).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use mjpeg_rtp::decode::{decode_rgb, RgbSize};
use mjpeg_rtp::{CameraConfig, Client, ClientOptions};
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use mjpeg_rtp_uring::Io;

use crate::output::{frame_path, write_png, Format};
use crate::pattern;
use mjpeg_rtp_capture::summary::Summary;

const CAMERA: &str = "demo";
const SSRC: u32 = 0x4445_4D4F; // "DEMO"
const CLOCK_RATE: f64 = 90_000.0;
/// How long to wait for the last frames once the sender is done.
const GRACE: Duration = Duration::from_secs(2);

/// What the demo sends and receives, and where its PNGs go.
#[derive(Debug, Clone)]
pub struct Options {
    /// Frames to send and receive.
    pub frames: u64,
    pub fps: f64,
    /// Test pattern size.
    pub width: u16,
    pub height: u16,
    /// Loopback UDP port to receive on (0: any free port).
    pub port: u16,
    /// Receive backend.
    pub io: Io,
    /// UDP GRO in whichever backend runs (`--no-gro`: off).
    pub gro: bool,
    /// Where the PNGs go.
    pub out: PathBuf,
    /// How many received frames to write as PNG.
    pub png: u64,
}

pub fn run(options: &Options) -> Result<Summary> {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut client = Client::new(ClientOptions {
        decode_threads: 0,
        backend: mjpeg_rtp_uring::backend_with_gro(options.io, options.gro),
    });
    let mut config = CameraConfig::new(CAMERA, SocketAddr::new(localhost, options.port))
        .with_sender(localhost)
        .with_queue_depth(16);
    config.expected_fps = Some(options.fps as f32);
    // Plenty for loopback, and within the default limit of most systems.
    config.socket_receive_buffer = 1 << 20;
    client.add_camera(config)?;
    client.start()?;
    let to = client
        .local_addr(CAMERA)
        .ok_or_else(|| anyhow!("demo camera has no address"))?;

    let cycle = usize::try_from(options.frames)
        .unwrap_or(usize::MAX)
        .clamp(1, pattern::PATTERN_FRAMES);
    let jpegs = pattern::jpeg_frames(options.width, options.height, 80, cycle)?;
    // What each sent frame must decode to, by content.
    let expected: HashMap<u64, usize> = jpegs
        .iter()
        .enumerate()
        .map(|(i, jpeg)| Ok((fingerprint(&decode_rgb(jpeg)?.1), i)))
        .collect::<Result<_>>()?;

    eprintln!(
        "demo: sending {} frames of {}x{} at {} fps to {to} over loopback UDP",
        options.frames, options.width, options.height, options.fps
    );
    let stop = crate::signal::stop_flag();
    let sent_all = Arc::new(AtomicBool::new(false));
    let sender = {
        let (stop, sent_all) = (stop.clone(), sent_all.clone());
        let (frames, fps) = (options.frames, options.fps);
        std::thread::Builder::new()
            .name("demo-send".into())
            .spawn(move || {
                let result = send(&jpegs, to, frames, fps, &stop);
                sent_all.store(true, Ordering::SeqCst);
                result
            })
            .context("cannot start the sender thread")?
    };

    let mut received = 0u64;
    let mut exact = 0u64;
    let mut pngs = Vec::new();
    let mut idle_since: Option<Instant> = None;
    while received < options.frames && !stop.load(Ordering::SeqCst) {
        match client.next_frame(Duration::from_millis(100)) {
            Some(frame) => {
                idle_since = None;
                received += 1;
                if expected.contains_key(&fingerprint(frame.rgb())) {
                    exact += 1;
                } else {
                    log::warn!(
                        "frame at RTP timestamp {} differs from what was sent",
                        frame.timestamp
                    );
                }
                if (pngs.len() as u64) < options.png {
                    let dir = &options.out;
                    let path = frame_path(dir, to.port(), frame.timestamp, Format::Png);
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .with_context(|| format!("cannot create {}", parent.display()))?;
                    }
                    let size = RgbSize {
                        width: usize::from(frame.width),
                        height: usize::from(frame.height),
                    };
                    write_png(&path, size, frame.rgb())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    pngs.push(path);
                }
            }
            None if sent_all.load(Ordering::SeqCst) => {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() > GRACE {
                    break;
                }
            }
            None => {}
        }
    }
    client.stop();
    let packets_sent = sender
        .join()
        .map_err(|_| anyhow!("the sender thread panicked"))??;
    let stats = client.stats();
    eprintln!(
        "demo: sent {} frames ({packets_sent} packets); received {received}, {exact} pixel-exact; \
         wrote {} PNG(s) under {}",
        options.frames,
        pngs.len(),
        options.out.join(to.port().to_string()).display()
    );
    // Proof of life means frames: none at all is a failure, not an
    // empty summary.
    if received == 0 {
        bail!(
            "no frame arrived from the {} frames sent over loopback",
            options.frames
        );
    }
    if exact < received {
        bail!(
            "{} received frame(s) differ from what was sent",
            received - exact
        );
    }
    Ok(Summary::of_cameras(&stats))
}

/// Send `frames` frames cycling through `jpegs`, paced at `fps`; returns
/// the number of packets sent.
fn send(
    jpegs: &[Vec<u8>],
    to: SocketAddr,
    frames: u64,
    fps: f64,
    stop: &AtomicBool,
) -> Result<u64> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot bind the sender")?;
    let config = PacketizerConfig {
        ssrc: SSRC,
        ..PacketizerConfig::default()
    };
    let mut packetizer = Packetizer::new(config);
    let mut buf = vec![0u8; config.max_packet];
    let period = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now();
    let mut packets = 0u64;
    for (k, jpeg) in (0..frames).zip(jpegs.iter().cycle()) {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Some(wait) =
            (start + period.mul_f64(k as f64)).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
        let timestamp = (k as f64 * CLOCK_RATE / fps).round() as u64 as u32;
        let mut frame = packetizer
            .frame(jpeg, timestamp)
            .map_err(|e| anyhow!("test pattern frame {k}: {e}"))?;
        while let Some(packet) = frame.next_into(&mut buf) {
            let len = packet.map_err(|_| anyhow!("packet buffer too small"))?;
            socket
                .send_to(buf.get(..len).unwrap_or(&[]), to)
                .with_context(|| format!("cannot send to {to}"))?;
            packets += 1;
        }
    }
    Ok(packets)
}

/// A content hash of RGB pixels.
fn fingerprint(rgb: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    rgb.hash(&mut h);
    h.finish()
}
