//! Helpers for the loopback tests: make JPEGs, packetize, send, decode.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use mjpeg_rtp::core::{Packetizer, PacketizerConfig};
use mjpeg_rtp::{CameraStats, Client};

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
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = client.camera_stats(camera).expect("camera");
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {stats:#?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
