//! JPEG -> RTP (RFC 2435): the sender side, for tests, the `send` command
//! and gateways that re-send.

use core::fmt;

use crate::jpeg::{self, JpegError, JpegInfo};
use crate::rfc2435::{
    appendix_a_quality, JpegPayload, JpegType, MainHeader, QuantHeader, RestartHeader,
    MAX_FRAGMENT_OFFSET, MAX_IN_HEADER_DIMENSION, MAX_SCAN_BYTES, MAX_TABLES_WIRE_LEN,
    ONVIF_EXTENSION_PROFILES,
};
use crate::rtp::{BufferTooSmall, HeaderExtension, RtpHeader, PAYLOAD_TYPE_JPEG};

/// Sender settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketizerConfig {
    pub ssrc: u32,
    pub payload_type: u8,
    /// Largest RTP packet (RTP header included) to produce. 1400 fits an
    /// Ethernet MTU after IP and UDP headers with room for tunnels.
    pub max_packet: usize,
    /// Sequence number of the first packet.
    pub initial_sequence: u16,
}

impl Default for PacketizerConfig {
    fn default() -> Self {
        PacketizerConfig {
            ssrc: 0x4D4A_5047, // "MJPG"
            payload_type: PAYLOAD_TYPE_JPEG,
            max_packet: 1400,
            initial_sequence: 0,
        }
    }
}

/// Why a JPEG cannot be packetized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketizeError {
    Jpeg(JpegError),
    /// Scan data larger than the 24-bit fragment offset allows.
    TooLarge,
    /// `max_packet` leaves no room for scan data after the headers.
    PacketTooSmall,
}

impl fmt::Display for PacketizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketizeError::Jpeg(e) => write!(f, "{e}"),
            PacketizeError::TooLarge => {
                write!(f, "JPEG scan larger than {} MiB", MAX_SCAN_BYTES >> 20)
            }
            PacketizeError::PacketTooSmall => f.write_str("maximum packet size too small"),
        }
    }
}

impl core::error::Error for PacketizeError {}

impl From<JpegError> for PacketizeError {
    fn from(e: JpegError) -> Self {
        PacketizeError::Jpeg(e)
    }
}

/// Smallest scan-data share of a packet we accept.
const MIN_DATA_PER_PACKET: usize = 16;
/// ONVIF extension data: an SOF0 segment (19 bytes) padded to 20.
const ONVIF_SOF_LEN: usize = 20;

/// Turns JPEG frames into RTP packets, keeping the sequence number running
/// across frames.
#[derive(Debug, Clone)]
pub struct Packetizer {
    config: PacketizerConfig,
    next_sequence: u16,
}

impl Packetizer {
    pub fn new(config: PacketizerConfig) -> Self {
        Packetizer {
            config,
            next_sequence: config.initial_sequence,
        }
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// Start packetizing one frame. Q is the Appendix A quality when the
    /// JPEG's tables are exactly those of some Q in 1..=99 (no tables sent),
    /// else 255 with the tables in the first packet. Pictures whose size
    /// the main header cannot express (above 2040 or not a multiple of 8)
    /// send width/height 0 and an ONVIF extension with the real size.
    pub fn frame<'j>(
        &mut self,
        jpeg: &'j [u8],
        timestamp: u32,
    ) -> Result<FramePackets<'j, '_>, PacketizeError> {
        let info = JpegInfo::parse(jpeg)?;
        if info.scan.len() > MAX_FRAGMENT_OFFSET as usize {
            return Err(PacketizeError::TooLarge);
        }
        let q = appendix_a_quality(&info.tables).unwrap_or(255);
        let fits_header = |v: u16| v <= MAX_IN_HEADER_DIMENSION && v % 8 == 0;
        let onvif_size = !(fits_header(info.width) && fits_header(info.height));
        let mut tables = [0u8; MAX_TABLES_WIRE_LEN];
        let tables_len = info
            .tables
            .write_wire(&mut tables)
            .map_err(|_| PacketizeError::Jpeg(JpegError::UnsupportedQuantization))?;
        let packets = FramePackets {
            packetizer: self,
            info,
            q,
            tables,
            tables_len,
            onvif_size,
            timestamp,
            offset: 0,
        };
        // The first packet carries the most headers: it must have room.
        if packets.header_len(true) + MIN_DATA_PER_PACKET > packets.packetizer.config.max_packet {
            return Err(PacketizeError::PacketTooSmall);
        }
        Ok(packets)
    }
}

/// The packets of one frame, written one at a time into caller buffers.
#[derive(Debug)]
pub struct FramePackets<'j, 'p> {
    packetizer: &'p mut Packetizer,
    info: JpegInfo<'j>,
    q: u8,
    /// The in-band tables (Q 255), `tables_len` bytes of them.
    tables: [u8; MAX_TABLES_WIRE_LEN],
    tables_len: usize,
    onvif_size: bool,
    timestamp: u32,
    offset: usize,
}

impl FramePackets<'_, '_> {
    /// The Q value the frame is sent with.
    pub fn q(&self) -> u8 {
        self.q
    }

    fn jpeg_header(&self, first: bool) -> JpegPayload<'_> {
        let restart = (self.info.restart_interval != 0).then_some(RestartHeader {
            interval: self.info.restart_interval,
            // Fragments are cut anywhere: tell the receiver to reassemble
            // the whole frame before decoding (RFC 2435 §3.1.7).
            first: true,
            last: true,
            count: 0x3FFF,
        });
        let quant = (first && self.q >= 128).then_some(QuantHeader {
            mbz: 0,
            precision: self.info.tables.precision(),
            data: self.tables.get(..self.tables_len).unwrap_or(&[]),
        });
        // ONVIF's rule for sizes the header cannot carry exactly: rounded
        // up to whole 8-pixel blocks when that fits (1366 -> 1368, so that
        // a receiver that ignores the extension still gets the right
        // blocks), else 0; the exact size goes in the extension.
        let round_up = |v: u16| v.div_ceil(8).saturating_mul(8);
        let (width, height) = match (round_up(self.info.width), round_up(self.info.height)) {
            (w, h) if w > MAX_IN_HEADER_DIMENSION || h > MAX_IN_HEADER_DIMENSION => (0, 0),
            (w, h) => (w, h),
        };
        JpegPayload {
            main: MainHeader {
                type_specific: 0,
                fragment_offset: self.offset as u32,
                jpeg_type: JpegType::new(self.info.sampling, restart.is_some()),
                q: self.q,
                width,
                height,
            },
            restart,
            quant,
            data: &[],
        }
    }

    fn onvif_sof(&self) -> [u8; ONVIF_SOF_LEN] {
        let [h1, h2] = self.info.height.to_be_bytes();
        let [w1, w2] = self.info.width.to_be_bytes();
        let luma = match self.info.sampling {
            crate::rfc2435::Sampling::Yuv422 => 0x21,
            crate::rfc2435::Sampling::Yuv420 => 0x22,
        };
        [
            0xFF,
            jpeg::marker::SOF0,
            0,
            17,
            8,
            h1,
            h2,
            w1,
            w2,
            3,
            1,
            luma,
            0,
            2,
            0x11,
            1,
            3,
            0x11,
            1,
            0,
        ]
    }

    fn header_len(&self, first: bool) -> usize {
        let ext = if first && self.onvif_size {
            ONVIF_SOF_LEN
        } else {
            0
        };
        RtpHeader::buffer_len(ext) + self.jpeg_header(first).header_len()
    }

    /// Packets still to come, including the one `next_into` writes next.
    pub fn remaining(&self) -> usize {
        let left = self.info.scan.len().saturating_sub(self.offset);
        if left == 0 {
            return 0;
        }
        let first = self.offset == 0;
        let room_first = self.packetizer.config.max_packet - self.header_len(first);
        if left <= room_first {
            return 1;
        }
        let room = self.packetizer.config.max_packet - self.header_len(false);
        1 + (left - room_first).div_ceil(room)
    }

    /// Write the next packet into `out` (at least `max_packet` bytes);
    /// `None` when the frame is done.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<usize, BufferTooSmall>> {
        let scan = self.info.scan;
        if self.offset >= scan.len() {
            return None;
        }
        Some(self.write_packet(out))
    }

    fn write_packet(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let scan = self.info.scan;
        let first = self.offset == 0;
        let config = self.packetizer.config;
        let room = config.max_packet.saturating_sub(self.header_len(first));
        let chunk = scan
            .get(self.offset..(self.offset + room).min(scan.len()))
            .ok_or(BufferTooSmall)?;
        let last = self.offset + chunk.len() == scan.len();
        let rtp = RtpHeader {
            marker: last,
            payload_type: config.payload_type,
            sequence: self.packetizer.next_sequence,
            timestamp: self.timestamp,
            ssrc: config.ssrc,
        };
        let sof = self.onvif_sof();
        let extension = (first && self.onvif_size).then_some(HeaderExtension {
            profile: ONVIF_EXTENSION_PROFILES[0],
            data: &sof,
        });
        let mut n = rtp.emit(extension, out)?;
        n += self
            .jpeg_header(first)
            .emit_headers(out.get_mut(n..).ok_or(BufferTooSmall)?)?;
        out.get_mut(n..n + chunk.len())
            .ok_or(BufferTooSmall)?
            .copy_from_slice(chunk);
        n += chunk.len();
        self.offset += chunk.len();
        self.packetizer.next_sequence = self.packetizer.next_sequence.wrapping_add(1);
        Ok(n)
    }
}
