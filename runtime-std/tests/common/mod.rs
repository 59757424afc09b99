//! Helpers for the loopback tests: make JPEGs, packetize, send, decode.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mjpeg_rtp::core::{Packetizer, PacketizerConfig, Sampling};
use mjpeg_rtp::{CameraStats, Client};

// Test pictures come from the core's test helpers: one picture generator
// for every crate's tests.
#[path = "../../../core/tests/common/mod.rs"]
mod pictures;

/// Baseline JPEG with the standard Huffman tables; `yuv420` else 4:2:2.
pub fn jpeg(width: u16, height: u16, yuv420: bool, restart: u16, seed: u32) -> Vec<u8> {
    pictures::encode(&pictures::Picture {
        sampling: if yuv420 {
            Sampling::Yuv420
        } else {
            Sampling::Yuv422
        },
        quality: 85,
        restart_interval: restart,
        seed,
        ..pictures::Picture::new(width, height)
    })
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
