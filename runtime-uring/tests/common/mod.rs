//! Helpers for the uring loopback tests: make JPEGs, packetize, send,
//! decode, look at threads and logs.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use mjpeg_rtp::core::{Packetizer, PacketizerConfig};
use mjpeg_rtp::{CameraConfig, CameraStats, Client, ClientOptions, ReceiveBackend};

pub const WAIT: Duration = Duration::from_secs(5);
pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub fn loopback_camera(id: &str) -> CameraConfig {
    CameraConfig::new(id, SocketAddr::new(LOCALHOST, 0)).with_sender(LOCALHOST)
}

/// Camera `i` of a many-camera test, on its own loopback address
/// 127.1.x.y (Linux routes all of 127/8 to lo): runtime-std binds with
/// SO_REUSEADDR, and Linux may then give two sockets bound to port 0 on
/// the same address the same port, splitting their datagrams.
pub fn many_camera(id: &str, i: usize) -> CameraConfig {
    let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250) as u8 + 1);
    CameraConfig::new(id, SocketAddr::new(IpAddr::V4(ip), 0)).with_sender(LOCALHOST)
}

/// A started client with `backend` and `cameras`.
pub fn client_with(
    backend: Box<dyn ReceiveBackend>,
    cameras: impl IntoIterator<Item = CameraConfig>,
) -> Client {
    let mut client = Client::new(ClientOptions {
        decode_threads: 2,
        backend,
    });
    for camera in cameras {
        client.add_camera(camera).expect("add camera");
    }
    client.start().expect("start");
    client
}

/// A started client on the io_uring backend; panics when io_uring is not
/// usable here, since then these tests would prove nothing about it.
pub fn uring_client(cameras: impl IntoIterator<Item = CameraConfig>) -> Client {
    mjpeg_rtp_uring::probe().expect("io_uring must be usable for these tests");
    let client = client_with(Box::new(mjpeg_rtp_uring::UringBackend::new()), cameras);
    assert_ring_thread(true);
    client
}

/// Names of this process's threads (Linux: `/proc/self/task/*/comm`).
pub fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
                names.push(name.trim().to_owned());
            }
        }
    }
    names
}

/// Wait until the thread names satisfy `ok` (a new thread names itself
/// once it runs, so a fresh one may still carry its parent's name).
pub fn wait_threads(ok: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let names = thread_names();
        if ok(&names) {
            return;
        }
        assert!(Instant::now() < deadline, "threads: {names:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the io_uring thread is running (tests in one binary run in
/// parallel, so only "is there one" is meaningful, not how many).
pub fn assert_ring_thread(expected: bool) {
    let names = thread_names();
    assert_eq!(
        names.iter().any(|n| n == "rx-uring"),
        expected,
        "threads: {names:?}"
    );
}

/// A colourful picture with edges and noise, different for every seed.
pub fn rgb_pattern(width: u16, height: u16, seed: u32) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let mut rgb = Vec::with_capacity(w * h * 3);
    let mut noise = seed.wrapping_mul(2_654_435_761).max(1);
    for y in 0..h {
        for x in 0..w {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let s = seed as usize;
            let r = ((x + s * 7) * 255 / w) as u8;
            let g = ((y + s * 3) * 255 / h) as u8;
            let b: u8 = if ((x + s) / 8 + y / 8) % 2 == 0 {
                200
            } else {
                40
            };
            let n = (noise & 0x1F) as u8;
            rgb.extend_from_slice(&[r.wrapping_add(n), g, b.wrapping_sub(n)]);
        }
    }
    rgb
}

/// Baseline JPEG with the standard Huffman tables; `yuv420` else 4:2:2.
pub fn jpeg(width: u16, height: u16, yuv420: bool, restart: u16, seed: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, 85);
    enc.set_sampling_factor(if yuv420 {
        SamplingFactor::F_2_2
    } else {
        SamplingFactor::F_2_1
    });
    if restart != 0 {
        enc.set_restart_interval(restart);
    }
    enc.encode(
        &rgb_pattern(width, height, seed),
        width,
        height,
        ColorType::Rgb,
    )
    .expect("encode test JPEG");
    out
}

/// RGB decode of the original JPEG with zune-jpeg.
pub fn decode(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    let (size, rgb) = mjpeg_rtp::decode::decode_rgb(jpeg).expect("decode original");
    (size.width, size.height, rgb)
}

/// Cuts frames into datagrams, keeping the sequence running.
pub struct Sender {
    pub socket: UdpSocket,
    pub packetizer: Packetizer,
    pub to: SocketAddr,
    pub packets_sent: u64,
}

impl Sender {
    pub fn new(from: &str, to: SocketAddr, ssrc: u32) -> Self {
        Sender {
            socket: UdpSocket::bind(from).expect("bind sender"),
            packetizer: Packetizer::new(PacketizerConfig {
                ssrc,
                initial_sequence: 65_500,
                ..PacketizerConfig::default()
            }),
            to,
            packets_sent: 0,
        }
    }

    pub fn packets(&mut self, jpeg: &[u8], timestamp: u32) -> Vec<Vec<u8>> {
        let mut frame = self.packetizer.frame(jpeg, timestamp).expect("packetize");
        let mut packets = Vec::new();
        let mut buf = vec![0u8; 1500];
        while let Some(n) = frame.next_into(&mut buf) {
            packets.push(buf[..n.expect("packet fits")].to_vec());
        }
        packets
    }

    pub fn send_frame(&mut self, jpeg: &[u8], timestamp: u32) {
        for p in self.packets(jpeg, timestamp) {
            self.socket.send_to(&p, self.to).expect("send");
            self.packets_sent += 1;
        }
    }
}

/// Poll `client`'s stats of `camera` until `done` holds (or panic).
pub fn wait_stats(
    client: &Client,
    camera: &str,
    done: impl Fn(&CameraStats) -> bool,
) -> CameraStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = client.camera_stats(camera).expect("camera");
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {stats:#?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Records every log line of the test binary (install once).
pub struct CaptureLog {
    pub lines: Mutex<Vec<(log::Level, String)>>,
}

pub static LOG: CaptureLog = CaptureLog {
    lines: Mutex::new(Vec::new()),
};

impl log::Log for CaptureLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            eprintln!("[{}] {line}", record.level());
            self.lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((record.level(), line));
        }
    }

    fn flush(&self) {}
}

pub fn capture_log() {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Info);
}

/// Warning lines logged so far that contain `needle`.
pub fn warnings_with(needle: &str) -> usize {
    LOG.lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(level, line)| *level == log::Level::Warn && line.contains(needle))
        .count()
}
