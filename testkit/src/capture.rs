//! The one capture writer: UDP datagrams as pcap or pcapng records over
//! Ethernet (with or without an 802.1Q tag), Linux cooked (SLL, SLL2), BSD
//! loopback or raw IP; IPv4 or IPv6; IPv4 datagrams optionally split into
//! fragments. What the `pcap` command reads, written record by record so
//! that a benchmark's long capture never sits in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use etherparse::{
    EtherType, Ethernet2Header, IpFragOffset, IpNumber, Ipv4Header, LinuxSllPacketType,
    PacketBuilder, UdpHeader, VlanId,
};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use crate::Datagram;

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

/// How to write a capture. The default is the classic one: pcap, Ethernet,
/// no fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

enum Sink<W: Write> {
    Pcap(PcapWriter<W>),
    PcapNg(PcapNgWriter<W>),
}

/// Writes UDP datagrams as capture records, one call per datagram.
pub struct CaptureWriter<W: Write> {
    format: CaptureFormat,
    sink: Sink<W>,
    /// Datagrams written so far: the IPv4 identification of fragments.
    datagrams: u16,
    record: Vec<u8>,
}

impl CaptureWriter<BufWriter<File>> {
    /// Create (or truncate) the capture file at `path`.
    pub fn create(path: &Path, format: CaptureFormat) -> io::Result<Self> {
        let file = File::create(path)?;
        CaptureWriter::new(BufWriter::with_capacity(1 << 20, file), format)
    }
}

impl<W: Write> CaptureWriter<W> {
    /// Write the file header (and, for pcapng, the interface) to `out`.
    pub fn new(out: W, format: CaptureFormat) -> io::Result<Self> {
        let datalink = format.link.datalink();
        let sink = match format.container {
            Container::Pcap => {
                let header = PcapHeader {
                    datalink,
                    ..PcapHeader::default()
                };
                Sink::Pcap(PcapWriter::with_header(out, header).map_err(io::Error::other)?)
            }
            Container::PcapNg => {
                let mut w = PcapNgWriter::new(out).map_err(io::Error::other)?;
                w.write_pcapng_block(InterfaceDescriptionBlock::new(datalink, 0xFFFF))
                    .map_err(io::Error::other)?;
                Sink::PcapNg(w)
            }
        };
        Ok(CaptureWriter {
            format,
            sink,
            datagrams: 0,
            record: Vec::with_capacity(2048),
        })
    }

    /// One UDP datagram from `src` to `dst` (same address family) captured
    /// at `time` (since the Unix epoch): one record, or one per fragment.
    pub fn write_udp(
        &mut self,
        time: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let identification = self.datagrams;
        self.datagrams = self.datagrams.wrapping_add(1);
        match self.format.fragment_above {
            Some(max) if payload.len() + UdpHeader::LEN > max && dst.is_ipv4() => {
                if self.format.link != Link::Ethernet {
                    return Err(invalid("IP fragments are written on Ethernet only"));
                }
                for fragment in ipv4_fragments(src, dst, payload, max, identification)? {
                    write_record(&mut self.sink, time, &fragment)?;
                }
                Ok(())
            }
            _ => {
                self.record.clear();
                build_record(self.format.link, src, dst, payload, &mut self.record)?;
                write_record(&mut self.sink, time, &self.record)
            }
        }
    }

    /// [`write_udp`](Self::write_udp) of a [`Datagram`].
    pub fn write(&mut self, datagram: &Datagram) -> io::Result<()> {
        self.write_udp(datagram.time, datagram.src, datagram.dst, &datagram.payload)
    }

    /// The underlying writer, flushed.
    pub fn finish(self) -> io::Result<W> {
        let mut out = match self.sink {
            Sink::Pcap(w) => w.into_writer(),
            Sink::PcapNg(w) => w.into_inner(),
        };
        out.flush()?;
        Ok(out)
    }
}

/// Write `datagrams` as a capture at `path`.
pub fn write_capture(path: &Path, format: CaptureFormat, datagrams: &[Datagram]) {
    let mut writer = CaptureWriter::create(path, format).expect("create capture");
    for datagram in datagrams {
        writer.write(datagram).expect("write capture record");
    }
    writer.finish().expect("flush capture");
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn write_record<W: Write>(sink: &mut Sink<W>, time: Duration, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len()).map_err(|_| invalid("record too long"))?;
    match sink {
        Sink::Pcap(w) => w.write_packet(&PcapPacket::new(time, len, data)).map(drop),
        Sink::PcapNg(w) => {
            // The default if_tsresol is microseconds, and pcap-file writes
            // the Duration's nanoseconds as raw units: hand it microseconds
            // dressed as nanoseconds.
            let raw = Duration::from_nanos(time.as_micros() as u64);
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: raw,
                original_len: len,
                data: data.into(),
                options: vec![],
            })
            .map(drop)
        }
    }
    .map_err(io::Error::other)
}

/// One record: link header, IP, UDP, payload.
fn build_record(
    link: Link,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let (sp, dp) = (src.port(), dst.port());
    macro_rules! finish {
        ($builder:expr) => {
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(t)) => $builder
                    .ipv4(s.octets(), t.octets(), 64)
                    .udp(sp, dp)
                    .write(out, payload),
                (IpAddr::V6(s), IpAddr::V6(t)) => $builder
                    .ipv6(s.octets(), t.octets(), 64)
                    .udp(sp, dp)
                    .write(out, payload),
                _ => return Err(invalid("mixed address families")),
            }
            .map_err(io::Error::other)
        };
    }
    match link {
        Link::Ethernet => finish!(PacketBuilder::ethernet2(MAC_A, MAC_B)),
        Link::EthernetVlan => {
            let vlan = VlanId::try_new(42).expect("VLAN 42 is valid");
            finish!(PacketBuilder::ethernet2(MAC_A, MAC_B).single_vlan(vlan))
        }
        Link::LinuxSll => finish!(PacketBuilder::linux_sll(
            LinuxSllPacketType::HOST,
            6,
            [2, 0, 0, 0, 0, 1, 0, 0]
        )),
        Link::RawIp => match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(t)) => PacketBuilder::ipv4(s.octets(), t.octets(), 64)
                .udp(sp, dp)
                .write(out, payload),
            (IpAddr::V6(s), IpAddr::V6(t)) => PacketBuilder::ipv6(s.octets(), t.octets(), 64)
                .udp(sp, dp)
                .write(out, payload),
            _ => return Err(invalid("mixed address families")),
        }
        .map_err(io::Error::other),
        Link::LinuxSll2 | Link::Null | Link::LinuxSllHardware(_) | Link::LinuxSll2Hardware(_) => {
            // etherparse builds none of these headers (its SLL builder
            // knows Ethernet only): write the header, then raw IP.
            let v6 = dst.is_ipv6();
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
                    let (len, address) = cooked_address(hardware);
                    out.extend_from_slice(&proto.to_be_bytes());
                    out.extend_from_slice(&[0, 0]); // reserved
                    out.extend_from_slice(&1u32.to_be_bytes()); // interface index
                    out.extend_from_slice(&hardware.to_be_bytes());
                    out.push(0); // packet to us
                    out.push(len);
                    out.extend_from_slice(&address);
                }
            }
            build_record(Link::RawIp, src, dst, payload, out)
        }
    }
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

/// Ethernet frames carrying the IPv4 fragments of one UDP datagram, each
/// with at most `max_payload` IP payload bytes.
fn ipv4_fragments(
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
    max_payload: usize,
    identification: u16,
) -> io::Result<Vec<Vec<u8>>> {
    let (IpAddr::V4(s), IpAddr::V4(t)) = (src.ip(), dst.ip()) else {
        return Err(invalid("fragments are IPv4 only"));
    };
    let ip =
        Ipv4Header::new(0, 64, IpNumber::UDP, s.octets(), t.octets()).map_err(io::Error::other)?;
    let udp = UdpHeader::with_ipv4_checksum(src.port(), dst.port(), &ip, payload)
        .map_err(io::Error::other)?;
    let mut whole = udp.to_bytes().to_vec();
    whole.extend_from_slice(payload);
    // Fragment offsets count 8-byte units.
    let chunk = max_payload / 8 * 8;
    if chunk == 0 {
        return Err(invalid("fragments of fewer than 8 bytes"));
    }
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
            .map_err(io::Error::other)?;
            ip.identification = identification;
            ip.more_fragments = i != last;
            ip.fragment_offset =
                IpFragOffset::try_new((i * chunk / 8) as u16).map_err(io::Error::other)?;
            ip.header_checksum = ip.calc_header_checksum();
            let mut out = Ethernet2Header {
                source: MAC_A,
                destination: MAC_B,
                ether_type: EtherType::IPV4,
            }
            .to_bytes()
            .to_vec();
            ip.write(&mut out).map_err(io::Error::other)?;
            out.extend_from_slice(piece);
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    /// What a benchmark does: a classic Ethernet/IPv4/UDP pcap with given
    /// timestamps, into memory; and a large datagram split into fragments.
    #[test]
    fn records_keep_their_times_and_fragments_split() {
        let src: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let dst: SocketAddr = "10.0.0.1:5004".parse().unwrap();
        let format = CaptureFormat {
            fragment_above: Some(1000),
            ..CaptureFormat::default()
        };
        let mut writer = CaptureWriter::new(Vec::new(), format).unwrap();
        let times = [
            Duration::from_micros(1_500_000),
            Duration::from_micros(1_500_010),
        ];
        writer.write_udp(times[0], src, dst, &[7; 100]).unwrap();
        writer.write_udp(times[1], src, dst, &[8; 2500]).unwrap();
        let bytes = writer.finish().unwrap();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().datalink, DataLink::ETHERNET);
        let mut records = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.unwrap();
            records.push((packet.timestamp, packet.data.len()));
        }
        // Ethernet 14 + IPv4 20 (+ UDP 8 on the first piece); 2508 bytes
        // of UDP in pieces of at most 1000 (a multiple of 8).
        assert_eq!(
            records,
            [
                (times[0], 14 + 20 + 8 + 100),
                (times[1], 14 + 20 + 1000),
                (times[1], 14 + 20 + 1000),
                (times[1], 14 + 20 + 508),
            ]
        );
        let mixed = "[::1]:5004".parse().unwrap();
        assert!(CaptureWriter::new(Vec::new(), CaptureFormat::default())
            .unwrap()
            .write_udp(times[0], src, mixed, &[])
            .is_err());
    }
}
