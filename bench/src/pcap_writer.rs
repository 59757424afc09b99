//! The bench's capture writer: RTP datagrams as a classic pcap
//! (Ethernet / IPv4 / UDP) that GStreamer's `pcapparse` reads too.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;

/// Addresses written into the capture.
pub const SRC: ([u8; 4], u16) = ([10, 0, 0, 2], 40_000);
pub const DST: ([u8; 4], u16) = ([10, 0, 0, 1], 5004);

/// Write the frames as a classic pcap (Ethernet, IPv4, UDP from [`SRC`]
/// to [`DST`]), frame `n` at `n / fps` seconds, its packets 10 µs apart.
pub fn write_pcap(path: &Path, frames: &[Vec<Vec<u8>>], fps: f64) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(BufWriter::with_capacity(1 << 20, file), header)
        .context("cannot write pcap header")?;
    let mut record = Vec::with_capacity(2048);
    for (n, packets) in frames.iter().enumerate() {
        let start = Duration::from_secs_f64(n as f64 / fps);
        for (i, payload) in packets.iter().enumerate() {
            record.clear();
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
                .ipv4(SRC.0, DST.0, 64)
                .udp(SRC.1, DST.1)
                .write(&mut record, payload)
                .context("cannot build packet")?;
            let time = start + Duration::from_micros(10 * i as u64);
            writer
                .write_packet(&PcapPacket::new(time, record.len() as u32, &record))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    writer
        .into_writer()
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
