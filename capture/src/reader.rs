//! UDP datagrams out of pcap and pcapng captures.
//!
//! Link types: Ethernet (with VLAN tags), Linux cooked v1 and v2 (of any
//! hardware type), raw IP (DLT_RAW, IPv4, IPv6) and BSD loopback (NULL,
//! LOOP). IPv4 and IPv6.
//! IP fragments are reassembled (etherparse's defragmentation pool;
//! unfinished ones are forgotten after [`FRAGMENT_TIMEOUT`] of capture time).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use etherparse::defrag::IpDefragPool;
use etherparse::{EtherType, IpNumber, NetSlice, SlicedPacket, TransportSlice, UdpSlice};
use mjpeg_rtp_core::Instant;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use crate::summary::CaptureSummary;

/// Unfinished IP reassemblies older than this (capture time) are dropped.
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// One UDP datagram of the capture.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Capture timestamp.
    pub time: Instant,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
}

const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xA1, 0xB2, 0xC3, 0xD4],
    [0xD4, 0xC3, 0xB2, 0xA1],
    [0xA1, 0xB2, 0x3C, 0x4D],
    [0x4D, 0x3C, 0xB2, 0xA1],
];

impl<'a> Datagram<'a> {
    /// The datagram `udp` between the addresses of its IP header.
    fn of(udp: &UdpSlice<'a>, time: Instant, src_ip: IpAddr, dst_ip: IpAddr) -> Self {
        Datagram {
            time,
            src: SocketAddr::new(src_ip, udp.source_port()),
            dst: SocketAddr::new(dst_ip, udp.destination_port()),
            payload: udp.payload(),
        }
    }
}

/// Call `f` for every UDP datagram of the capture at `path`, in file order.
/// A damaged or truncated tail ends the reading with a warning (and
/// `truncated` set); a file that cannot be opened or is no capture at all
/// is an error.
pub fn read_udp(
    path: &Path,
    summary: &mut CaptureSummary,
    mut f: impl FnMut(Datagram<'_>) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let head = reader
        .fill_buf()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let magic: [u8; 4] = match head.get(..4).and_then(|m| m.try_into().ok()) {
        Some(m) => m,
        None => bail!(
            "{} is not a pcap or pcapng capture (too short)",
            path.display()
        ),
    };
    let mut records = Records {
        path,
        summary,
        decoder: LinkDecoder::default(),
        f: &mut f,
    };
    if magic == PCAPNG_MAGIC {
        records.pcapng(reader)
    } else if PCAP_MAGICS.contains(&magic) {
        records.pcap(reader)
    } else {
        bail!("{} is not a pcap or pcapng capture", path.display())
    }
}

/// One capture being read: its path (for messages), what it counts, the
/// link decoder, and where its datagrams go.
struct Records<'a> {
    path: &'a Path,
    summary: &'a mut CaptureSummary,
    decoder: LinkDecoder,
    f: &'a mut dyn FnMut(Datagram<'_>) -> Result<()>,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: DataLink,
    tsresol: u8,
}

impl Records<'_> {
    fn pcap(&mut self, reader: impl Read) -> Result<()> {
        let mut pcap = PcapReader::new(reader)
            .map_err(|e| anyhow::anyhow!("{}: bad pcap header: {e}", self.path.display()))?;
        let link = pcap.header().datalink;
        while let Some(packet) = self.until_damaged(pcap.next_packet()) {
            self.summary.records += 1;
            let time =
                Instant::from_micros(u64::try_from(packet.timestamp.as_micros()).unwrap_or(0));
            self.record(link, time, &packet.data)?;
        }
        Ok(())
    }

    fn pcapng(&mut self, reader: impl Read) -> Result<()> {
        let mut pcapng = PcapNgReader::new(reader)
            .map_err(|e| anyhow::anyhow!("{}: bad pcapng header: {e}", self.path.display()))?;
        let mut interfaces: Vec<Interface> = Vec::new();
        let mut last_time = Instant::ZERO;
        while let Some(block) = self.until_damaged(pcapng.next_block()) {
            let (interface_id, raw_time, data) = match &block {
                Block::SectionHeader(_) => {
                    interfaces.clear();
                    continue;
                }
                Block::InterfaceDescription(idb) => {
                    let tsresol = idb
                        .options
                        .iter()
                        .find_map(|o| match o {
                            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                            _ => None,
                        })
                        .unwrap_or(6);
                    interfaces.push(Interface {
                        link: idb.linktype,
                        tsresol,
                    });
                    continue;
                }
                // pcap-file hands the raw timestamp units over as nanoseconds.
                Block::EnhancedPacket(epb) => (
                    epb.interface_id,
                    Some(u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX)),
                    &epb.data,
                ),
                Block::Packet(pb) => (u32::from(pb.interface_id), Some(pb.timestamp), &pb.data),
                Block::SimplePacket(spb) => (0, None, &spb.data),
                _ => continue,
            };
            self.summary.records += 1;
            let Some(interface) = usize::try_from(interface_id)
                .ok()
                .and_then(|i| interfaces.get(i))
            else {
                self.summary.undecodable += 1;
                continue;
            };
            let time = raw_time.map_or(last_time, |t| to_instant(t, interface.tsresol));
            last_time = time;
            self.record(interface.link, time, data)?;
        }
        Ok(())
    }

    /// The next record of a reader, or `None` at its end or at a damaged
    /// or truncated record (logged, `truncated` set): what came before is
    /// kept.
    fn until_damaged<T, E: std::fmt::Display>(&mut self, next: Option<Result<T, E>>) -> Option<T> {
        match next? {
            Ok(item) => Some(item),
            Err(e) => {
                log::warn!(
                    "{}: capture damaged or truncated after {} records ({e}); using what came \
                     before",
                    self.path.display(),
                    self.summary.records
                );
                self.summary.truncated = true;
                None
            }
        }
    }

    /// Decode one record's link and IP layers and hand on its UDP datagram.
    fn record(&mut self, link: DataLink, time: Instant, data: &[u8]) -> Result<()> {
        self.decoder.record(link, time, data, self.summary, self.f)
    }
}

/// A pcapng timestamp in `if_tsresol` units as microseconds.
fn to_instant(raw: u64, tsresol: u8) -> Instant {
    let raw = u128::from(raw);
    let exp = u32::from(tsresol & 0x7F);
    let micros = if tsresol & 0x80 == 0 {
        if exp <= 6 {
            raw * 10u128.pow(6 - exp)
        } else {
            raw / 10u128.checked_pow(exp - 6).unwrap_or(u128::MAX)
        }
    } else {
        (raw * 1_000_000).checked_shr(exp).unwrap_or(0)
    };
    Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
}

/// Link-layer and IP decoding, with the IP reassembly state.
#[derive(Default)]
struct LinkDecoder {
    defrag: IpDefragPool<Instant, ()>,
    unsupported_warned: Vec<DataLink>,
    since_sweep: u32,
}

impl LinkDecoder {
    fn record(
        &mut self,
        link: DataLink,
        time: Instant,
        data: &[u8],
        summary: &mut CaptureSummary,
        f: &mut dyn FnMut(Datagram<'_>) -> Result<()>,
    ) -> Result<()> {
        let sliced = match slice_link(link, data) {
            None => {
                if !self.unsupported_warned.contains(&link) {
                    log::warn!("unsupported link type {link:?}: its packets are skipped");
                    self.unsupported_warned.push(link);
                }
                summary.undecodable += 1;
                return Ok(());
            }
            Some(Err(e)) => {
                log::debug!("undecodable record: {e}");
                summary.undecodable += 1;
                return Ok(());
            }
            Some(Ok(s)) => s,
        };
        let Some((src_ip, dst_ip)) = sliced.net.as_ref().and_then(ip_addresses) else {
            summary.not_udp += 1;
            return Ok(());
        };
        if sliced.is_ip_payload_fragmented() {
            summary.ip_fragments += 1;
            self.sweep(time);
            return match self.defrag.process_sliced_packet(&sliced, time, ()) {
                Ok(Some(whole)) => {
                    let result = if whole.ip_number == IpNumber::UDP {
                        match UdpSlice::from_slice(&whole.payload) {
                            Ok(udp) => {
                                summary.ip_reassembled += 1;
                                summary.udp_datagrams += 1;
                                f(Datagram::of(&udp, time, src_ip, dst_ip))
                            }
                            Err(_) => {
                                summary.undecodable += 1;
                                Ok(())
                            }
                        }
                    } else {
                        summary.not_udp += 1;
                        Ok(())
                    };
                    self.defrag.return_buf(whole);
                    result
                }
                Ok(None) => Ok(()),
                Err(e) => {
                    log::debug!("IP reassembly failed: {e}");
                    summary.undecodable += 1;
                    Ok(())
                }
            };
        }
        match &sliced.transport {
            Some(TransportSlice::Udp(udp)) => {
                summary.udp_datagrams += 1;
                f(Datagram::of(udp, time, src_ip, dst_ip))
            }
            _ => {
                summary.not_udp += 1;
                Ok(())
            }
        }
    }

    /// Forget reassemblies that will never finish.
    fn sweep(&mut self, now: Instant) {
        self.since_sweep += 1;
        if self.since_sweep < 256 {
            return;
        }
        self.since_sweep = 0;
        self.defrag
            .retain(|&started| now.saturating_duration_since(started) < FRAGMENT_TIMEOUT);
    }
}

fn ip_addresses(net: &NetSlice<'_>) -> Option<(IpAddr, IpAddr)> {
    match net {
        NetSlice::Ipv4(ip) => Some((
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        )),
        NetSlice::Ipv6(ip) => Some((
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        )),
        _ => None,
    }
}

/// Linux cooked capture headers (libpcap's `sll.h`), as `tcpdump -i any`
/// writes them. Their hardware type is the interface's ARPHRD type
/// (loopback 772, tunnels, Wi-Fi, ...; etherparse's SLL parser refuses
/// all but five), but for IP traffic the protocol field is the EtherType
/// whatever the hardware, so it alone decides.
mod cooked {
    use std::ops::Range;

    /// v1: packet type, ARPHRD type, address length, address (8 bytes),
    /// protocol.
    pub const SLL_PROTOCOL: Range<usize> = 14..16;
    pub const SLL_HEADER_LEN: usize = SLL_PROTOCOL.end;
    /// v2: protocol, reserved, interface index, ARPHRD type, packet type,
    /// address length, address (8 bytes).
    pub const SLL2_PROTOCOL: Range<usize> = 0..2;
    const SLL2_ADDRESS: Range<usize> = 12..20;
    pub const SLL2_HEADER_LEN: usize = SLL2_ADDRESS.end;
}

/// BSD loopback: a 4-byte address family word before the IP header.
const LOOPBACK_HEADER_LEN: usize = 4;

type SliceResult<'a> = Result<SlicedPacket<'a>, etherparse::err::packet::SliceError>;

/// `None` for a link type we do not decode.
fn slice_link(link: DataLink, data: &[u8]) -> Option<SliceResult<'_>> {
    let result = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data),
        DataLink::LINUX_SLL => slice_cooked(data, cooked::SLL_PROTOCOL, cooked::SLL_HEADER_LEN),
        DataLink::LINUX_SLL2 => slice_cooked(data, cooked::SLL2_PROTOCOL, cooked::SLL2_HEADER_LEN),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data),
        DataLink::NULL | DataLink::LOOP => {
            SlicedPacket::from_ip(data.get(LOOPBACK_HEADER_LEN..).unwrap_or(&[]))
        }
        _ => return None,
    };
    Some(result)
}

/// The payload after a cooked header, sliced by the header's protocol field.
fn slice_cooked(data: &[u8], protocol: Range<usize>, header_len: usize) -> SliceResult<'_> {
    match (data.get(protocol), data.get(header_len..)) {
        (Some(&[hi, lo]), Some(payload)) => {
            SlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([hi, lo])), payload)
        }
        // Shorter than its header: etherparse's error for an empty packet.
        _ => SlicedPacket::from_ip(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_resolutions() {
        assert_eq!(to_instant(1_500_000, 6).as_micros(), 1_500_000);
        assert_eq!(to_instant(1_500_000_000, 9).as_micros(), 1_500_000);
        assert_eq!(to_instant(15, 1).as_micros(), 1_500_000);
        assert_eq!(to_instant(3 << 20, 0x80 | 20).as_micros(), 3_000_000);
        assert_eq!(to_instant(u64::MAX, 0x7F).as_micros(), 0);
    }

    /// A cooked record cut anywhere up to the end of its header (IPv4
    /// protocol, loopback hardware type) is an error, not a panic or an
    /// empty packet.
    #[test]
    fn cooked_headers_cut_short() {
        let mut sll = [0u8; cooked::SLL_HEADER_LEN];
        sll[2..4].copy_from_slice(&772u16.to_be_bytes()); // hardware type
        sll[cooked::SLL_PROTOCOL].copy_from_slice(&0x0800u16.to_be_bytes());
        let mut sll2 = [0u8; cooked::SLL2_HEADER_LEN];
        sll2[cooked::SLL2_PROTOCOL].copy_from_slice(&0x0800u16.to_be_bytes());
        sll2[8..10].copy_from_slice(&772u16.to_be_bytes()); // hardware type
        for (link, header) in [
            (DataLink::LINUX_SLL, &sll[..]),
            (DataLink::LINUX_SLL2, &sll2[..]),
        ] {
            for len in 0..=header.len() {
                assert!(
                    matches!(slice_link(link, &header[..len]), Some(Err(_))),
                    "{link:?} cut at {len}"
                );
            }
        }
    }
}
