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

    /// Send the next frame's packets as UDP GSO runs (Linux), as a camera
    /// or sender that uses GSO does: each run one `send_to` of packets
    /// back to back, all but the last exactly as long as the first, that
    /// the kernel cuts into those datagrams. On loopback, a socket with
    /// UDP GRO gets each run as one message (uncut); any other gets the
    /// datagrams. Returns the runs sent (messages).
    #[cfg(target_os = "linux")]
    pub fn send_frame_gso(&mut self, jpeg: &[u8], timestamp: u32) -> usize {
        let packets = self.packets(jpeg, timestamp);
        let runs = gso_runs(&packets);
        for run in &runs {
            let segment = run.first().map_or(0, |p| p.len());
            set_gso_segment(&self.socket, segment);
            self.socket.send_to(&run.concat(), self.to).expect("send");
            self.packets_sent += run.len() as u64;
        }
        set_gso_segment(&self.socket, 0);
        runs.len()
    }
}

/// The kernel's limit on datagrams per GSO send (`UDP_MAX_SEGMENTS`
/// before Linux 6.13, which raised it to 128).
#[cfg(target_os = "linux")]
pub const GSO_MAX_SEGMENTS: usize = 64;

/// `packets` in runs that one GSO send can carry: consecutive packets
/// as long as the run's first, then at most one shorter that ends it;
/// at most [`GSO_MAX_SEGMENTS`] each, and under the 65,507-byte UDP
/// limit.
#[cfg(target_os = "linux")]
pub fn gso_runs(packets: &[Vec<u8>]) -> Vec<&[Vec<u8>]> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < packets.len() {
        let segment = packets[start].len();
        let mut end = start + 1;
        let mut bytes = segment;
        while end < packets.len()
            && end - start < GSO_MAX_SEGMENTS
            && bytes + packets[end].len() <= 65_507
            && packets[end - 1].len() == segment
            && packets[end].len() <= segment
        {
            bytes += packets[end].len();
            end += 1;
        }
        runs.push(&packets[start..end]);
        start = end;
    }
    runs
}

/// Ask the kernel to cut `socket`'s sends into `segment`-byte datagrams
/// (`UDP_SEGMENT`; 0 turns it off).
#[cfg(target_os = "linux")]
pub fn set_gso_segment(socket: &UdpSocket, segment: usize) {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(segment).expect("segment size");
    // SAFETY: the fd is open for the lifetime of `socket`, and the option
    // value points to a live c_int whose exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
}
