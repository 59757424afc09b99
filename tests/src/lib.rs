//! Helpers for the integration tests in `tests/tests/`: test pictures,
//! packetizing with the core, and writing captures (pcap or pcapng;
//! Ethernet with or without VLAN, Linux cooked, raw IP; IPv4 or IPv6; IP
//! fragments) for the `pcap` command to read back. Fixtures from real
//! senders are in `tests/fixtures/`.

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use etherparse::{
    EtherType, Ethernet2Header, IpFragOffset, IpNumber, Ipv4Header, LinuxSllPacketType,
    PacketBuilder, UdpHeader, VlanId,
};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

pub use mjpeg_rtp_cli as cli;

/// `tests/fixtures/`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A deterministic, busy RGB picture (gradients plus a seed-dependent
/// checker), so different seeds give visibly different JPEGs.
pub fn test_rgb(width: u16, height: u16, seed: u32) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let s = seed as usize;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let checker = ((x + s * 3) / 8 + (y + s) / 8) & 1 == 0;
            rgb.push(((x * 255) / w.max(1)) as u8 ^ (s as u8).wrapping_mul(37));
            rgb.push(((y * 255) / h.max(1)) as u8);
            rgb.push(if checker { 200 } else { (s * 50 % 256) as u8 });
        }
    }
    rgb
}

/// Chroma subsampling of the test JPEGs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    Yuv420,
    Yuv422,
}

/// Baseline JPEG with standard Huffman tables.
pub fn encode_jpeg(
    rgb: &[u8],
    width: u16,
    height: u16,
    quality: u8,
    sampling: Sampling,
) -> Vec<u8> {
    encode_jpeg_restart(rgb, width, height, quality, sampling, 0)
}

/// Baseline JPEG with a restart interval (0: none).
pub fn encode_jpeg_restart(
    rgb: &[u8],
    width: u16,
    height: u16,
    quality: u8,
    sampling: Sampling,
    restart_interval: u16,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    if restart_interval != 0 {
        encoder.set_restart_interval(restart_interval);
    }
    encoder.set_sampling_factor(match sampling {
        Sampling::Yuv420 => SamplingFactor::R_4_2_0,
        Sampling::Yuv422 => SamplingFactor::R_4_2_2,
    });
    encoder
        .encode(rgb, width, height, ColorType::Rgb)
        .expect("jpeg-encoder");
    out
}

/// `count` distinct test JPEGs.
pub fn test_jpegs(count: usize, width: u16, height: u16, sampling: Sampling) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            encode_jpeg(
                &test_rgb(width, height, i as u32),
                width,
                height,
                75,
                sampling,
            )
        })
        .collect()
}

/// RGB decode (the project's decoder: zune-jpeg), as (width, height, pixels).
pub fn decode(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    let (size, rgb) = mjpeg_rtp::decode::decode_rgb(jpeg).expect("decode");
    (size.width, size.height, rgb)
}

/// The RTP packets of one frame.
pub fn packetize(packetizer: &mut Packetizer, jpeg: &[u8], timestamp: u32) -> Vec<Vec<u8>> {
    let mut packets = packetizer.frame(jpeg, timestamp).expect("packetize");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = packets.next_into(&mut buf) {
        out.push(buf[..n.expect("packet buffer")].to_vec());
    }
    out
}

pub fn packetizer(ssrc: u32, initial_sequence: u16, max_packet: usize) -> Packetizer {
    Packetizer::new(PacketizerConfig {
        ssrc,
        initial_sequence,
        max_packet,
        ..PacketizerConfig::default()
    })
}

/// Packets of `frames` JPEGs, frame by frame: `result[frame][packet]`.
pub fn stream_packets(
    packetizer: &mut Packetizer,
    jpegs: &[Vec<u8>],
    first_timestamp: u32,
    timestamp_step: u32,
) -> Vec<Vec<Vec<u8>>> {
    jpegs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let ts = first_timestamp.wrapping_add(timestamp_step.wrapping_mul(i as u32));
            packetize(packetizer, j, ts)
        })
        .collect()
}

/// One UDP datagram to put in a capture.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub time: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// Datagrams from 192.0.2.1:40000 to 198.51.100.7:`port`, 1 ms apart.
pub fn datagrams_to(port: u16, payloads: impl IntoIterator<Item = Vec<u8>>) -> Vec<Datagram> {
    payloads
        .into_iter()
        .map(|payload| Datagram {
            time: Duration::ZERO,
            src: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40000),
            dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), port),
            payload,
        })
        .collect()
}

/// Give the datagrams increasing capture times, `step` apart from 1.7e9 s.
pub fn retime(datagrams: &mut [Datagram], step: Duration) {
    let base = Duration::from_secs(1_700_000_000);
    for (i, d) in datagrams.iter_mut().enumerate() {
        d.time = base + step * i as u32;
    }
}

/// Capture container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Pcap,
    PcapNg,
}

/// Link layer of the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Ethernet with one 802.1Q tag.
    EthernetVlan,
    /// Linux cooked capture v1.
    LinuxSll,
    /// DLT_RAW: the IP header first.
    RawIp,
    /// Linux cooked capture v2 (`tcpdump -i any` on newer libpcap).
    LinuxSll2,
    /// BSD loopback: a host-order address family word, then IP.
    Null,
    /// Linux cooked capture v1 whose hardware type is this ARPHRD value,
    /// as `tcpdump -i any` writes each interface (loopback 772, ...).
    LinuxSllHardware(u16),
    /// The same in Linux cooked capture v2.
    LinuxSll2Hardware(u16),
}

impl Link {
    fn datalink(self) -> DataLink {
        match self {
            Link::Ethernet | Link::EthernetVlan => DataLink::ETHERNET,
            Link::LinuxSll | Link::LinuxSllHardware(_) => DataLink::LINUX_SLL,
            Link::RawIp => DataLink::RAW,
            Link::LinuxSll2 | Link::LinuxSll2Hardware(_) => DataLink::LINUX_SLL2,
            Link::Null => DataLink::NULL,
        }
    }
}

/// How to write a capture.
#[derive(Debug, Clone, Copy)]
pub struct CaptureFormat {
    pub container: Container,
    pub link: Link,
    /// Split IPv4 datagrams larger than this many IP payload bytes into
    /// fragments (Ethernet link only).
    pub fragment_above: Option<usize>,
}

impl Default for CaptureFormat {
    fn default() -> Self {
        CaptureFormat {
            container: Container::Pcap,
            link: Link::Ethernet,
            fragment_above: None,
        }
    }
}

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn build_record(link: Link, d: &Datagram) -> Vec<u8> {
    let (sp, dp) = (d.src.port(), d.dst.port());
    let mut out = Vec::new();
    macro_rules! finish {
        ($b:expr) => {
            match (d.src.ip(), d.dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(t)) => $b
                    .ipv4(s.octets(), t.octets(), 64)
                    .udp(sp, dp)
                    .write(&mut out, &d.payload),
                (IpAddr::V6(s), IpAddr::V6(t)) => $b
                    .ipv6(s.octets(), t.octets(), 64)
                    .udp(sp, dp)
                    .write(&mut out, &d.payload),
                _ => panic!("mixed address families"),
            }
            .expect("build packet")
        };
    }
    match link {
        Link::Ethernet => finish!(PacketBuilder::ethernet2(MAC_A, MAC_B)),
        Link::EthernetVlan => {
            finish!(PacketBuilder::ethernet2(MAC_A, MAC_B)
                .single_vlan(VlanId::try_new(42).expect("vlan")))
        }
        Link::LinuxSll => finish!(PacketBuilder::linux_sll(
            LinuxSllPacketType::HOST,
            6,
            [2, 0, 0, 0, 0, 1, 0, 0]
        )),
        Link::LinuxSll2 | Link::Null | Link::LinuxSllHardware(_) | Link::LinuxSll2Hardware(_) => {
            let ip = build_record(Link::RawIp, d);
            let v6 = d.dst.is_ipv6();
            let proto: u16 = if v6 { 0x86DD } else { 0x0800 };
            match link {
                Link::Null => {
                    let family: u32 = if v6 { 30 } else { 2 };
                    out.extend_from_slice(&family.to_ne_bytes());
                }
                Link::LinuxSllHardware(hardware) => {
                    let (len, address) = cooked_address(hardware);
                    out.extend_from_slice(&0u16.to_be_bytes()); // packet to us
                    out.extend_from_slice(&hardware.to_be_bytes());
                    out.extend_from_slice(&u16::from(len).to_be_bytes());
                    out.extend_from_slice(&address);
                    out.extend_from_slice(&proto.to_be_bytes());
                }
                _ => {
                    let hardware = match link {
                        Link::LinuxSll2Hardware(hardware) => hardware,
                        _ => 1, // ARPHRD_ETHER
                    };
                    out.extend_from_slice(&proto.to_be_bytes());
                    out.extend_from_slice(&[0, 0]); // reserved
                    out.extend_from_slice(&1u32.to_be_bytes()); // interface index
                    out.extend_from_slice(&hardware.to_be_bytes());
                    let (len, address) = cooked_address(hardware);
                    out.push(0); // packet to us
                    out.push(len);
                    out.extend_from_slice(&address);
                }
            }
            out.extend_from_slice(&ip);
        }
        Link::RawIp => match (d.src.ip(), d.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(t)) => PacketBuilder::ipv4(s.octets(), t.octets(), 64)
                .udp(sp, dp)
                .write(&mut out, &d.payload),
            (IpAddr::V6(s), IpAddr::V6(t)) => PacketBuilder::ipv6(s.octets(), t.octets(), 64)
                .udp(sp, dp)
                .write(&mut out, &d.payload),
            _ => panic!("mixed address families"),
        }
        .expect("build packet"),
    }
    out
}

/// A cooked header's address length and 8-byte address field, as Linux
/// fills them: none for hardware without addresses (ARPHRD_NONE, 65534:
/// tun, WireGuard), all-zero for loopback (772), a MAC otherwise.
fn cooked_address(hardware: u16) -> (u8, [u8; 8]) {
    match hardware {
        0xFFFE => (0, [0; 8]),
        772 => (6, [0; 8]),
        _ => (6, [2, 0, 0, 0, 0, 1, 0, 0]),
    }
}

/// Ethernet frames carrying the IPv4 fragments of one UDP datagram.
fn ipv4_fragments(d: &Datagram, max_payload: usize, identification: u16) -> Vec<Vec<u8>> {
    let (IpAddr::V4(s), IpAddr::V4(t)) = (d.src.ip(), d.dst.ip()) else {
        panic!("fragments are IPv4 only");
    };
    let udp = UdpHeader::with_ipv4_checksum(
        d.src.port(),
        d.dst.port(),
        &Ipv4Header::new(0, 64, IpNumber::UDP, s.octets(), t.octets()).expect("ip"),
        &d.payload,
    )
    .expect("udp");
    let mut whole = udp.to_bytes().to_vec();
    whole.extend_from_slice(&d.payload);
    let chunk = max_payload / 8 * 8;
    assert!(chunk > 0);
    let pieces: Vec<&[u8]> = whole.chunks(chunk).collect();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut ip = Ipv4Header::new(
                piece.len() as u16,
                64,
                IpNumber::UDP,
                s.octets(),
                t.octets(),
            )
            .expect("ip header");
            ip.identification = identification;
            ip.more_fragments = i != last;
            ip.fragment_offset = IpFragOffset::try_new((i * chunk / 8) as u16).expect("offset");
            ip.header_checksum = ip.calc_header_checksum();
            let mut out = Ethernet2Header {
                source: MAC_A,
                destination: MAC_B,
                ether_type: EtherType::IPV4,
            }
            .to_bytes()
            .to_vec();
            ip.write(&mut out).expect("write ip");
            out.extend_from_slice(piece);
            out
        })
        .collect()
}

/// Write `datagrams` as a capture at `path`.
pub fn write_capture(path: &Path, format: CaptureFormat, datagrams: &[Datagram]) {
    let mut records: Vec<(Duration, Vec<u8>)> = Vec::new();
    for (i, d) in datagrams.iter().enumerate() {
        match format.fragment_above {
            Some(max) if d.payload.len() + 8 > max && d.dst.is_ipv4() => {
                assert_eq!(format.link, Link::Ethernet, "fragments need Ethernet");
                for r in ipv4_fragments(d, max, i as u16) {
                    records.push((d.time, r));
                }
            }
            _ => records.push((d.time, build_record(format.link, d))),
        }
    }
    let file = BufWriter::new(File::create(path).expect("create capture"));
    match format.container {
        Container::Pcap => {
            let header = PcapHeader {
                datalink: format.link.datalink(),
                ..PcapHeader::default()
            };
            let mut w = PcapWriter::with_header(file, header).expect("pcap header");
            for (time, data) in &records {
                w.write_packet(&PcapPacket::new(*time, data.len() as u32, data))
                    .expect("pcap record");
            }
        }
        Container::PcapNg => {
            let mut w = PcapNgWriter::new(file).expect("pcapng header");
            w.write_pcapng_block(InterfaceDescriptionBlock::new(
                format.link.datalink(),
                0xFFFF,
            ))
            .expect("idb");
            for (time, data) in &records {
                // Default if_tsresol is microseconds; pcap-file writes the
                // raw units from the Duration's nanoseconds.
                let raw = Duration::from_nanos(time.as_micros() as u64);
                w.write_pcapng_block(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: raw,
                    original_len: data.len() as u32,
                    data: data.as_slice().into(),
                    options: vec![],
                })
                .expect("epb");
            }
        }
    }
}

/// Write `datagrams` as an Ethernet pcap.
pub fn write_pcap(path: &Path, datagrams: &[Datagram]) {
    write_capture(path, CaptureFormat::default(), datagrams);
}

/// A complete frame the replay handed out.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub port: u16,
    pub ssrc: u32,
    pub timestamp: u32,
    pub jpeg: Vec<u8>,
}

/// Run the `pcap` command's replay on a capture; every complete frame and
/// the summary.
pub fn replay(path: &Path) -> (Vec<Replayed>, cli::summary::Summary) {
    replay_with(path, &cli::pcap::ReplayOptions::default())
}

pub fn replay_with(
    path: &Path,
    options: &cli::pcap::ReplayOptions,
) -> (Vec<Replayed>, cli::summary::Summary) {
    let mut frames = Vec::new();
    let summary = cli::pcap::replay(path, options, |f| {
        frames.push(Replayed {
            port: f.port,
            ssrc: f.info.ssrc,
            timestamp: f.info.timestamp,
            jpeg: f.jpeg.to_vec(),
        });
        Ok(())
    })
    .expect("replay");
    (frames, summary)
}

/// Assert two JPEGs decode to the same pixels.
pub fn assert_same_pixels(got: &[u8], want: &[u8], what: &str) {
    // Every decoder in the build: a rebuilt header that one decoder
    // forgives (a table it ignores, say) would still show in another.
    for decoder in mjpeg_rtp::Decoder::available() {
        let mut d = mjpeg_rtp::decode::RgbDecoder::new(decoder).expect("decoder");
        let (mut g, mut w) = (Vec::new(), Vec::new());
        let got_size = d.decode_into(got, &mut g).expect("decode rebuilt");
        let want_size = d.decode_into(want, &mut w).expect("decode original");
        assert_eq!(got_size, want_size, "{what}: size ({decoder})");
        assert!(g == w, "{what}: pixels differ ({decoder})");
    }
}
