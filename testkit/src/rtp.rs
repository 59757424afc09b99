//! RTP streams from JPEGs: packetizing with the core's [`Packetizer`], and
//! a UDP sender for the live tests.

use std::net::{SocketAddr, UdpSocket};

use mjpeg_rtp_core::{Packetizer, PacketizerConfig};

/// Large enough for any packet: the packetizer never writes more than its
/// `max_packet`, which cannot exceed a UDP payload.
const PACKET_BUFFER: usize = 65_536;

/// The RTP packets of one frame.
pub fn frame_packets(packetizer: &mut Packetizer, jpeg: &[u8], timestamp: u32) -> Vec<Vec<u8>> {
    let mut packets = packetizer.frame(jpeg, timestamp).expect("packetize");
    let mut out = Vec::new();
    let mut buf = vec![0u8; PACKET_BUFFER];
    while let Some(n) = packets.next_into(&mut buf) {
        out.push(buf[..n.expect("packet buffer")].to_vec());
    }
    out
}

/// The packets of `frames` (JPEG, RTP timestamp) in sending order.
pub fn packetize(config: PacketizerConfig, frames: &[(Vec<u8>, u32)]) -> Vec<Vec<u8>> {
    let mut packetizer = Packetizer::new(config);
    frames
        .iter()
        .flat_map(|(jpeg, timestamp)| frame_packets(&mut packetizer, jpeg, *timestamp))
        .collect()
}

/// The packets of `jpeg` sent once per timestamp in `timestamps`, each
/// with the RTP timestamp of its frame, in sending order.
pub fn timed_packets(
    packetizer: &mut Packetizer,
    jpeg: &[u8],
    timestamps: impl IntoIterator<Item = u32>,
) -> Vec<(u32, Vec<u8>)> {
    timestamps
        .into_iter()
        .flat_map(|timestamp| {
            let packets = frame_packets(packetizer, jpeg, timestamp);
            packets.into_iter().map(move |p| (timestamp, p))
        })
        .collect()
}

/// The packets of `jpegs` frame by frame, `result[frame][packet]`, the RTP
/// timestamp starting at `first_timestamp` and advancing by
/// `timestamp_step` (wrapping).
pub fn stream_packets(
    packetizer: &mut Packetizer,
    jpegs: &[Vec<u8>],
    first_timestamp: u32,
    timestamp_step: u32,
) -> Vec<Vec<Vec<u8>>> {
    jpegs
        .iter()
        .enumerate()
        .map(|(i, jpeg)| {
            let timestamp = first_timestamp.wrapping_add(timestamp_step.wrapping_mul(i as u32));
            frame_packets(packetizer, jpeg, timestamp)
        })
        .collect()
}

/// A camera over a real UDP socket: cuts frames into datagrams, keeping
/// the sequence running (from just below the wrap, so every live test
/// crosses it).
pub struct Sender {
    pub socket: UdpSocket,
    pub packetizer: Packetizer,
    pub to: SocketAddr,
    pub packets_sent: u64,
}

impl Sender {
    /// Bound to `from` (`"127.0.0.1:0"`, `"[::1]:0"`...), sending to `to`.
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

    /// The next frame's packets, not sent.
    pub fn packets(&mut self, jpeg: &[u8], timestamp: u32) -> Vec<Vec<u8>> {
        frame_packets(&mut self.packetizer, jpeg, timestamp)
    }

    pub fn send_frame(&mut self, jpeg: &[u8], timestamp: u32) {
        for packet in self.packets(jpeg, timestamp) {
            self.socket.send_to(&packet, self.to).expect("send");
            self.packets_sent += 1;
        }
    }
}
