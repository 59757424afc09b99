//! Replay a 1080p MJPEG/RTP stream over UDP with `sendmmsg`, as a camera
//! would: each frame's packets in one burst, frames paced at `--fps`.
//! The sender half of the receive CPU benchmark (`rx_cpu`), in its own
//! process so that none of its CPU time is the receiver's.
//!
//! ```text
//! replay --to 127.0.0.1:5004 [--to 127.0.0.1:5006 ...] [--fps 30] [--seconds 5]
//! ```
//!
//! Frames are generated (four distinct 1920x1080 4:2:0 pictures, about
//! 250 packets each) and packetized by the core's `Packetizer`; one
//! stream (own socket and SSRC) per `--to`. Prints
//! `sent PACKETS packets BYTES bytes` on stdout at the end.

#[cfg(target_os = "linux")]
mod sender {
    use std::net::{SocketAddr, UdpSocket};
    use std::time::{Duration, Instant};

    use mjpeg_rtp::core::{Packetizer, PacketizerConfig};

    const WIDTH: u16 = 1920;
    const HEIGHT: u16 = 1080;
    const PICTURES: u32 = 4;
    /// Datagrams per `sendmmsg` call.
    const BATCH: usize = 64;

    struct Args {
        to: Vec<SocketAddr>,
        fps: f64,
        seconds: f64,
    }

    fn parse_args() -> Result<Args, String> {
        let mut args = Args {
            to: Vec::new(),
            fps: 30.0,
            seconds: 5.0,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--to" => args.to.push(value.parse().map_err(|e| bad(&e))?),
                "--fps" => args.fps = value.parse().map_err(|e| bad(&e))?,
                "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
                _ => return Err(format!("unknown argument {flag}")),
            }
        }
        if args.to.is_empty() || args.fps <= 0.0 || args.seconds < 0.0 {
            return Err("usage: replay --to HOST:PORT... [--fps N] [--seconds S]".into());
        }
        Ok(args)
    }

    /// A camera-like picture: smooth gradients, edges and mild noise (a
    /// 1080p JPEG of ~300 KB at quality 85).
    fn picture(seed: u32) -> Vec<u8> {
        let (w, h) = (usize::from(WIDTH), usize::from(HEIGHT));
        let mut rgb = Vec::with_capacity(w * h * 3);
        let mut noise = seed.wrapping_mul(2_654_435_761).max(1);
        for y in 0..h {
            for x in 0..w {
                noise ^= noise << 13;
                noise ^= noise >> 17;
                noise ^= noise << 5;
                let n = (noise & 0x0F) as u8;
                let s = seed as usize;
                let r = ((x + s * 40) * 255 / w) as u8;
                let g = ((y + s * 20) * 255 / h) as u8;
                let b = if ((x + s * 16) / 64 + y / 64) % 2 == 0 {
                    180
                } else {
                    60
                };
                rgb.extend_from_slice(&[r.wrapping_add(n), g.wrapping_add(n / 2), b + n]);
            }
        }
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        encoder
            .encode(&rgb, WIDTH, HEIGHT, jpeg_encoder::ColorType::Rgb)
            .expect("encode picture");
        out
    }

    /// Every packet of one frame.
    fn packets(packetizer: &mut Packetizer, jpeg: &[u8], timestamp: u32) -> Vec<Vec<u8>> {
        let mut frame = packetizer.frame(jpeg, timestamp).expect("packetize");
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while let Some(len) = frame.next_into(&mut buf) {
            out.push(buf[..len.expect("packet fits")].to_vec());
        }
        out
    }

    /// Send `packets` on the connected `socket` with as few `sendmmsg` calls
    /// as the kernel allows; returns how many went out.
    fn send_burst(socket: &UdpSocket, packets: &[Vec<u8>]) -> usize {
        use std::os::fd::AsRawFd;
        let mut sent = 0;
        for chunk in packets.chunks(BATCH) {
            let mut iovecs: Vec<libc::iovec> = chunk
                .iter()
                .map(|p| libc::iovec {
                    iov_base: p.as_ptr() as *mut libc::c_void,
                    iov_len: p.len(),
                })
                .collect();
            let mut messages: Vec<libc::mmsghdr> = iovecs
                .iter_mut()
                .map(|iov| {
                    // SAFETY: all-zero is a valid mmsghdr (null name and
                    // control); only the iovec is set.
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    m.msg_hdr.msg_iov = iov;
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect();
            let mut done = 0;
            while done < messages.len() {
                let rest = &mut messages[done..];
                // SAFETY: every mmsghdr points at one live iovec, which points
                // into a live packet; both outlive the call. The socket is
                // connected, so no address is needed.
                let n = unsafe {
                    libc::sendmmsg(socket.as_raw_fd(), rest.as_mut_ptr(), rest.len() as u32, 0)
                };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    // ECONNREFUSED from an earlier datagram: nobody listening.
                    eprintln!("replay: sendmmsg: {e}");
                    return sent;
                }
                done += n as usize;
                sent += n as usize;
            }
        }
        sent
    }

    pub fn main() {
        let args = match parse_args() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("replay: {e}");
                std::process::exit(2);
            }
        };
        let jpegs: Vec<Vec<u8>> = (0..PICTURES).map(picture).collect();
        let mut streams: Vec<(UdpSocket, Vec<Vec<Vec<u8>>>)> = Vec::new();
        for (i, to) in args.to.iter().enumerate() {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            socket.connect(to).expect("connect");
            let mut packetizer = Packetizer::new(PacketizerConfig {
                ssrc: 0x1080_0000 + i as u32,
                ..PacketizerConfig::default()
            });
            // Pre-packetized frames; timestamps are rewritten per send.
            let frames = jpegs
                .iter()
                .map(|j| packets(&mut packetizer, j, 0))
                .collect();
            streams.push((socket, frames));
        }
        let per_frame: usize = streams[0].1.iter().map(Vec::len).sum::<usize>() / PICTURES as usize;
        eprintln!(
            "replay: {} stream(s) of {WIDTH}x{HEIGHT} at {} fps, ~{per_frame} packets per frame, {} s",
            streams.len(),
            args.fps,
            args.seconds
        );
        let period = Duration::from_secs_f64(1.0 / args.fps);
        let frames = (args.seconds * args.fps).round() as u64;
        let ticks = (90_000.0 / args.fps) as u32;
        let start = Instant::now();
        let (mut packets_sent, mut bytes_sent) = (0u64, 0u64);
        let mut seq = vec![0u16; streams.len()];
        for n in 0..frames {
            let due = start + period.mul_f64(n as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            for (s, (socket, frames)) in streams.iter_mut().enumerate() {
                let frame = &mut frames[(n % u64::from(PICTURES)) as usize];
                // Running sequence numbers and a timestamp per frame, as a
                // live camera sends them (RTP header bytes 2..8).
                for packet in frame.iter_mut() {
                    packet[2..4].copy_from_slice(&seq[s].to_be_bytes());
                    packet[4..8].copy_from_slice(&(n as u32).wrapping_mul(ticks).to_be_bytes());
                    seq[s] = seq[s].wrapping_add(1);
                }
                let sent = send_burst(socket, frame);
                packets_sent += sent as u64;
                bytes_sent += frame.iter().take(sent).map(|p| p.len() as u64).sum::<u64>();
            }
        }
        println!("sent {packets_sent} packets {bytes_sent} bytes");
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    sender::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("replay uses sendmmsg and runs on Linux only");
}
