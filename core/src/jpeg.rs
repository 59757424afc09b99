//! The JPEG side: marker codes, the standard Huffman tables, writing the
//! headers RFC 2435 leaves out, and reading the headers of a baseline JPEG
//! (for the packetizer and for ONVIF header extensions).

use core::fmt;

use crate::rfc2435::{read_table, table_wire_len, write_table, QuantTables, Sampling};
use crate::rtp::BufferTooSmall;

/// Marker codes (the byte after 0xFF).
pub mod marker {
    pub const SOI: u8 = 0xD8;
    pub const EOI: u8 = 0xD9;
    pub const SOF0: u8 = 0xC0;
    pub const SOF1: u8 = 0xC1;
    pub const DHT: u8 = 0xC4;
    pub const DQT: u8 = 0xDB;
    pub const DRI: u8 = 0xDD;
    pub const SOS: u8 = 0xDA;
    pub const APP0: u8 = 0xE0;
    pub const RST0: u8 = 0xD0;
    pub const RST7: u8 = 0xD7;
    pub const TEM: u8 = 0x01;
}

/// Number of code lengths in a DHT table (1..=16 bits).
const CODE_LENGTHS: usize = 16;

/// One Huffman table as DHT carries it: class/id byte, counts per code
/// length, symbol values.
pub struct HuffmanTable {
    /// Tc (0 = DC, 1 = AC) in the high nibble, Th (table id) in the low.
    pub class_id: u8,
    pub counts: [u8; CODE_LENGTHS],
    pub symbols: &'static [u8],
}

/// Both DC tables' symbols: the difference categories 0 to 11, in order.
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/// The four tables of ITU T.81 Annex K.3, which RFC 2435 implies for every
/// frame (the RTP payload has no room for others).
pub static STANDARD_HUFFMAN_TABLES: [HuffmanTable; 4] = [
    HuffmanTable {
        class_id: 0x00,
        counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        symbols: &DC_SYMBOLS,
    },
    HuffmanTable {
        class_id: 0x10,
        counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D],
        symbols: &[
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
            0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1,
            0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18,
            0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
            0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57,
            0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75,
            0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92,
            0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
            0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
            0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8,
            0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2,
            0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
        ],
    },
    HuffmanTable {
        class_id: 0x01,
        counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        symbols: &DC_SYMBOLS,
    },
    HuffmanTable {
        class_id: 0x11,
        counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
        symbols: &[
            0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
            0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09,
            0x23, 0x33, 0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25,
            0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38,
            0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56,
            0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74,
            0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
            0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
            0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA,
            0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
            0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2,
            0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
        ],
    },
];

/// Upper bound of what [`write_headers`] emits, for reserving room in front
/// of the scan data: SOI 2, APP0 18, DQT 2 x 133 (16-bit tables), SOF 19,
/// DRI 6, DHT 420, SOS 14 = 745.
pub const MAX_HEADER_LEN: usize =
    2 + 18 + 2 * dqt_segment_len(true) + 19 + 6 + DHT_SEGMENTS_LEN + 14;
const DHT_SEGMENTS_LEN: usize = 4 * 4 + 2 * (17 + 12) + 2 * (17 + 162);

/// What the rebuilt headers describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeaderParams<'a> {
    pub width: u16,
    pub height: u16,
    pub sampling: Sampling,
    /// 0 for no restart markers.
    pub restart_interval: u16,
    pub tables: &'a QuantTables,
}

impl<'a> FrameHeaderParams<'a> {
    /// A picture without restart markers ([`Self::with_restart_interval`]
    /// adds them).
    pub const fn new(width: u16, height: u16, sampling: Sampling, tables: &'a QuantTables) -> Self {
        FrameHeaderParams {
            width,
            height,
            sampling,
            restart_interval: 0,
            tables,
        }
    }

    /// Restart markers every `interval` MCUs (0: none).
    pub const fn with_restart_interval(mut self, interval: u16) -> Self {
        self.restart_interval = interval;
        self
    }
}

/// Sequential writer over a caller buffer.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let end = self.pos + bytes.len();
        self.out
            .get_mut(self.pos..end)
            .ok_or(BufferTooSmall)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn marker(&mut self, code: u8, payload_len: usize) -> Result<(), BufferTooSmall> {
        let len = u16::try_from(payload_len + 2).map_err(|_| BufferTooSmall)?;
        let [hi, lo] = len.to_be_bytes();
        self.put(&[0xFF, code, hi, lo])
    }
}

/// One DQT segment holding one table: marker and length 4, Pq/Tq 1, the
/// coefficients.
const fn dqt_segment_len(sixteen_bit: bool) -> usize {
    4 + 1 + table_wire_len(sixteen_bit)
}

/// Exact length [`write_headers`] will write for `params`.
pub fn headers_len(params: &FrameHeaderParams<'_>) -> usize {
    let dqt: usize = params
        .tables
        .iter()
        .map(|(_, wide)| dqt_segment_len(wide))
        .sum();
    let dri = if params.restart_interval != 0 { 6 } else { 0 };
    2 + 18 + dqt + 19 + dri + DHT_SEGMENTS_LEN + 14
}

/// Write SOI, APP0 (JFIF), DQT, SOF0, DRI (when restart markers are used),
/// the four standard DHT tables and SOS: everything a decoder needs before
/// the scan data of an RFC 2435 frame. Returns the length written.
///
/// With a 16-bit table the frame is extended sequential, so the SOF is
/// SOF1 (baseline forbids 16-bit tables; libjpeg-turbo and zune-jpeg both
/// decode SOF1 with 8-bit samples and Huffman coding like SOF0).
pub fn write_headers(
    params: &FrameHeaderParams<'_>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut w = Writer { out, pos: 0 };
    w.put(&[0xFF, marker::SOI])?;
    // JFIF 1.01, no density units, 1:1 aspect, no thumbnail. Decoders take
    // three components under JFIF to be YCbCr.
    w.marker(marker::APP0, 14)?;
    w.put(b"JFIF\0")?;
    w.put(&[1, 1, 0, 0, 1, 0, 1, 0, 0])?;
    for (id, (table, wide)) in params.tables.iter().enumerate() {
        w.marker(marker::DQT, dqt_segment_len(wide) - 4)?;
        w.put(&[u8::from(wide) << 4 | id as u8])?; // Pq (precision), Tq (id)
        let out = w.out.get_mut(w.pos..).ok_or(BufferTooSmall)?;
        w.pos += write_table(table, wide, out)?;
    }
    let chroma_table = u8::from(params.tables.count() > 1);
    let luma_sampling = match params.sampling {
        Sampling::Yuv422 => 0x21,
        Sampling::Yuv420 => 0x22,
    };
    let sof = match params.tables.precision() {
        0 => marker::SOF0,
        _ => marker::SOF1,
    };
    w.marker(sof, 15)?;
    let [h_hi, h_lo] = params.height.to_be_bytes();
    let [w_hi, w_lo] = params.width.to_be_bytes();
    w.put(&[8, h_hi, h_lo, w_hi, w_lo, 3])?;
    // Component ids 1, 2, 3 as JFIF specifies.
    w.put(&[1, luma_sampling, 0])?;
    w.put(&[2, 0x11, chroma_table])?;
    w.put(&[3, 0x11, chroma_table])?;
    if params.restart_interval != 0 {
        w.marker(marker::DRI, 2)?;
        w.put(&params.restart_interval.to_be_bytes())?;
    }
    for table in &STANDARD_HUFFMAN_TABLES {
        w.marker(marker::DHT, 1 + CODE_LENGTHS + table.symbols.len())?;
        w.put(&[table.class_id])?;
        w.put(&table.counts)?;
        w.put(table.symbols)?;
    }
    w.marker(marker::SOS, 10)?;
    // Luma uses DC0/AC0, chroma DC1/AC1; full spectral range, no
    // successive approximation (baseline).
    w.put(&[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])?;
    Ok(w.pos)
}

/// Why a JPEG cannot be sent as RFC 2435.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JpegError {
    /// Does not start with SOI, or a segment runs past the end.
    Malformed,
    /// Not baseline sequential (SOF0/SOF1, 8-bit).
    NotBaseline,
    /// Not three components with 2x1 or 2x2 luma and 1x1 chroma.
    UnsupportedSampling,
    /// A quantization table is 16-bit or missing.
    UnsupportedQuantization,
    /// Huffman tables other than the standard ones (RFC 2435 cannot carry
    /// them; the receiver would decode garbage).
    NonStandardHuffman,
    /// Progressive, multi-scan or otherwise unsupported scan.
    UnsupportedScan,
    /// No SOS / no scan data.
    MissingScan,
}

impl fmt::Display for JpegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JpegError::Malformed => "malformed JPEG",
            JpegError::NotBaseline => "JPEG is not baseline 8-bit",
            JpegError::UnsupportedSampling => "JPEG sampling is not YCbCr 4:2:2 or 4:2:0",
            JpegError::UnsupportedQuantization => "JPEG quantization tables unusable",
            JpegError::NonStandardHuffman => "JPEG uses non-standard Huffman tables",
            JpegError::UnsupportedScan => "JPEG scan layout unsupported",
            JpegError::MissingScan => "JPEG has no scan data",
        })
    }
}

impl core::error::Error for JpegError {}

/// One marker segment: code and payload (after the length field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub marker: u8,
    pub payload: &'a [u8],
}

/// Walk marker segments in `bytes` (no SOI expected), stopping at SOS or
/// the first thing that is not a segment. Fill bytes (0xFF runs) and
/// standalone markers are skipped. Returns the segments and, after SOS,
/// the offset of the scan data.
pub struct Segments<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Segments<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Segments {
            bytes,
            pos: 0,
            done: false,
        }
    }

    /// Offset just past the last segment returned.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = Result<Segment<'a>, JpegError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
            match rest {
                [] | [0, ..] => {
                    // End of data, or zero padding (ONVIF extensions pad to
                    // a whole number of 32-bit words).
                    self.done = true;
                    return None;
                }
                [0xFF, 0xFF, ..] => self.pos += 1,
                [0xFF, code, ..]
                    if matches!(*code, marker::SOI | marker::EOI | marker::TEM)
                        || (marker::RST0..=marker::RST7).contains(code) =>
                {
                    self.pos += 2;
                }
                [0xFF, code, hi, lo, ..] => {
                    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                    let start = self.pos + 4;
                    let Some(payload) = len
                        .checked_sub(2)
                        .and_then(|n| self.bytes.get(start..start + n))
                    else {
                        self.done = true;
                        return Some(Err(JpegError::Malformed));
                    };
                    self.pos = start + payload.len();
                    if *code == marker::SOS {
                        self.done = true;
                    }
                    return Some(Ok(Segment {
                        marker: *code,
                        payload,
                    }));
                }
                _ => {
                    self.done = true;
                    return Some(Err(JpegError::Malformed));
                }
            }
        }
    }
}

/// Frame size from an SOF0/SOF1 segment payload: (width, height).
pub fn sof_size(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [_precision, h_hi, h_lo, w_hi, w_lo, ..] => Some((
            u16::from_be_bytes([*w_hi, *w_lo]),
            u16::from_be_bytes([*h_hi, *h_lo]),
        )),
        _ => None,
    }
}

/// What the packetizer needs from a baseline JPEG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegInfo<'a> {
    pub width: u16,
    pub height: u16,
    pub sampling: Sampling,
    pub restart_interval: u16,
    /// Luma table and chroma table, in zig-zag order as DQT stores them.
    pub tables: QuantTables,
    /// Entropy-coded data after SOS, without a trailing EOI.
    pub scan: &'a [u8],
}

impl<'a> JpegInfo<'a> {
    /// Read the headers of a baseline YCbCr JPEG.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, JpegError> {
        let body = match bytes {
            [0xFF, marker::SOI, body @ ..] => body,
            _ => return Err(JpegError::Malformed),
        };
        // (coefficients, 16-bit) per table id.
        let mut dqt: [Option<([u16; 64], bool)>; 4] = [None; 4];
        let mut frame: Option<(u16, u16, Sampling, [u8; 3])> = None;
        let mut restart_interval = 0;
        let mut segments = Segments::new(body);
        let mut scan_start = None;
        for segment in segments.by_ref() {
            let segment = segment?;
            match segment.marker {
                marker::DQT => read_dqt(segment.payload, &mut dqt)?,
                marker::SOF0 | marker::SOF1 => frame = Some(read_sof(segment.payload)?),
                0xC2..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                    return Err(JpegError::NotBaseline)
                }
                marker::DHT => check_standard_dht(segment.payload)?,
                marker::DRI => {
                    restart_interval = match segment.payload {
                        [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                        _ => return Err(JpegError::Malformed),
                    }
                }
                marker::SOS => {
                    check_sos(segment.payload)?;
                    scan_start = Some(());
                }
                _ => {}
            }
        }
        scan_start.ok_or(JpegError::MissingScan)?;
        let (width, height, sampling, table_ids) = frame.ok_or(JpegError::NotBaseline)?;
        let [luma_id, cb_id, cr_id] = table_ids;
        if cb_id != cr_id {
            return Err(JpegError::UnsupportedQuantization);
        }
        let table = |id: u8| {
            dqt.get(usize::from(id))
                .copied()
                .flatten()
                .ok_or(JpegError::UnsupportedQuantization)
        };
        let (luma, luma_wide) = table(luma_id)?;
        let (chroma, chroma_wide) = table(cb_id)?;
        let tables = QuantTables::new(
            &[luma, chroma],
            u8::from(luma_wide) | u8::from(chroma_wide) << 1,
        )
        .ok_or(JpegError::UnsupportedQuantization)?;
        let scan_data = body.get(segments.position()..).unwrap_or(&[]);
        let scan = match scan_data {
            [rest @ .., 0xFF, marker::EOI] => rest,
            other => other,
        };
        if scan.is_empty() {
            return Err(JpegError::MissingScan);
        }
        Ok(JpegInfo {
            width,
            height,
            sampling,
            restart_interval,
            tables,
            scan,
        })
    }
}

/// The size (width, height) of a whole baseline JPEG: SOI first, then
/// DQT, SOF0 or SOF1 with 8-bit samples and a size of its own, DHT, and
/// an SOS followed by scan data. Unlike [`JpegInfo::parse`] it takes any
/// Huffman tables, sampling and table layout: such a JPEG is handed on as
/// it is, never cut into RFC 2435's fixed shape. Whether the scan itself
/// decodes is the decoder's business, as for every rebuilt frame.
pub fn whole_baseline_size(bytes: &[u8]) -> Result<(u16, u16), JpegError> {
    let body = match bytes {
        [0xFF, marker::SOI, body @ ..] => body,
        _ => return Err(JpegError::Malformed),
    };
    let (mut dqt, mut dht, mut size, mut scan) = (false, false, None, false);
    let mut segments = Segments::new(body);
    for segment in segments.by_ref() {
        let segment = segment?;
        match segment.marker {
            marker::DQT => dqt = true,
            marker::DHT => dht = true,
            marker::SOF0 | marker::SOF1 => match segment.payload {
                [8, ..] => size = sof_size(segment.payload),
                _ => return Err(JpegError::NotBaseline),
            },
            0xC2..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(JpegError::NotBaseline)
            }
            marker::SOS => scan = true,
            _ => {}
        }
    }
    if !dqt {
        return Err(JpegError::UnsupportedQuantization);
    }
    if !dht {
        return Err(JpegError::NonStandardHuffman);
    }
    // Height 0 defers the size to a DNL marker after the scan: nothing
    // this crate reads.
    let size = size
        .filter(|&(w, h)| w != 0 && h != 0)
        .ok_or(JpegError::NotBaseline)?;
    let scan_data = body.get(segments.position()..).unwrap_or(&[]);
    if !scan || matches!(scan_data, [] | [0xFF, marker::EOI]) {
        return Err(JpegError::MissingScan);
    }
    Ok(size)
}

fn read_dqt(mut payload: &[u8], dqt: &mut [Option<([u16; 64], bool)>; 4]) -> Result<(), JpegError> {
    while let [pq_tq, rest @ ..] = payload {
        let wide = match pq_tq >> 4 {
            0 => false,
            1 => true,
            _ => return Err(JpegError::UnsupportedQuantization),
        };
        let len = table_wire_len(wide);
        let bytes = rest.get(..len).ok_or(JpegError::Malformed)?;
        let table = read_table(bytes, wide);
        let slot = dqt
            .get_mut(usize::from(pq_tq & 0x0F))
            .ok_or(JpegError::UnsupportedQuantization)?;
        *slot = Some((table, wide));
        payload = rest.get(len..).unwrap_or(&[]);
    }
    Ok(())
}

fn read_sof(payload: &[u8]) -> Result<(u16, u16, Sampling, [u8; 3]), JpegError> {
    let (width, height) = sof_size(payload).ok_or(JpegError::Malformed)?;
    match payload {
        [8, _, _, _, _, 3, _y, y_samp, y_q, _cb, 0x11, cb_q, _cr, 0x11, cr_q] => {
            let sampling = match y_samp {
                0x21 => Sampling::Yuv422,
                0x22 => Sampling::Yuv420,
                _ => return Err(JpegError::UnsupportedSampling),
            };
            Ok((width, height, sampling, [*y_q, *cb_q, *cr_q]))
        }
        [8, ..] => Err(JpegError::UnsupportedSampling),
        _ => Err(JpegError::NotBaseline),
    }
}

fn check_standard_dht(mut payload: &[u8]) -> Result<(), JpegError> {
    while let [class_id, rest @ ..] = payload {
        let counts = rest.get(..CODE_LENGTHS).ok_or(JpegError::Malformed)?;
        let symbol_count: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let symbols = rest
            .get(CODE_LENGTHS..CODE_LENGTHS + symbol_count)
            .ok_or(JpegError::Malformed)?;
        let standard = STANDARD_HUFFMAN_TABLES.iter().any(|t| {
            t.class_id == *class_id && t.counts.as_slice() == counts && t.symbols == symbols
        });
        if !standard {
            return Err(JpegError::NonStandardHuffman);
        }
        payload = rest.get(CODE_LENGTHS + symbol_count..).unwrap_or(&[]);
    }
    Ok(())
}

/// The scan must be the single interleaved baseline scan that RFC 2435's
/// rebuilt SOS describes: three components, luma on tables 0, chroma on 1.
fn check_sos(payload: &[u8]) -> Result<(), JpegError> {
    match payload {
        [3, _, 0x00, _, 0x11, _, 0x11, 0, 63, 0] => Ok(()),
        _ => Err(JpegError::UnsupportedScan),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc2435::appendix_a_tables;

    #[test]
    fn header_length_is_exact() {
        let tables = appendix_a_tables(50);
        for restart_interval in [0, 4] {
            let params = FrameHeaderParams::new(64, 48, Sampling::Yuv420, &tables)
                .with_restart_interval(restart_interval);
            let mut buf = [0u8; MAX_HEADER_LEN];
            let n = write_headers(&params, &mut buf).unwrap();
            assert_eq!(n, headers_len(&params));
            assert!(n <= MAX_HEADER_LEN);
            assert_eq!(
                write_headers(&params, &mut buf[..n - 1]),
                Err(BufferTooSmall)
            );
        }
    }

    #[test]
    fn rebuilt_headers_parse_back() {
        let tables = appendix_a_tables(75);
        let params =
            FrameHeaderParams::new(1920, 1080, Sampling::Yuv422, &tables).with_restart_interval(8);
        let mut buf = [0u8; MAX_HEADER_LEN + 4];
        let n = write_headers(&params, &mut buf).unwrap();
        buf[n..n + 4].copy_from_slice(&[0x12, 0x34, 0xFF, marker::EOI]);
        let info = JpegInfo::parse(&buf[..n + 4]).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.sampling, Sampling::Yuv422);
        assert_eq!(info.restart_interval, 8);
        assert_eq!(info.tables, tables);
        assert_eq!(info.scan, &[0x12, 0x34]);
    }

    #[test]
    fn whole_baseline_jpegs_are_told_from_fragments_of_one() {
        let tables = appendix_a_tables(60);
        let params = FrameHeaderParams::new(320, 240, Sampling::Yuv420, &tables);
        let mut buf = [0u8; MAX_HEADER_LEN + 4];
        let n = write_headers(&params, &mut buf).unwrap();
        buf[n..n + 4].copy_from_slice(&[0x12, 0x34, 0xFF, marker::EOI]);
        assert_eq!(whole_baseline_size(&buf[..n + 4]), Ok((320, 240)));
        // Without EOI it is still whole up to its scan.
        assert_eq!(whole_baseline_size(&buf[..n + 2]), Ok((320, 240)));
        // Headers alone, or cut inside a segment, are not.
        assert_eq!(whole_baseline_size(&buf[..n]), Err(JpegError::MissingScan));
        assert_eq!(
            whole_baseline_size(&buf[..n + 2 - 4]).map(|_| ()),
            Err(JpegError::Malformed)
        );
        assert_eq!(
            whole_baseline_size(&buf[2..n + 4]),
            Err(JpegError::Malformed)
        );
        // Progressive is refused; so is a frame without DHT.
        let mut progressive = buf;
        let sof = (0..n)
            .find(|&i| buf[i..i + 2] == [0xFF, marker::SOF0])
            .unwrap();
        progressive[sof + 1] = 0xC2;
        assert_eq!(
            whole_baseline_size(&progressive[..n + 4]),
            Err(JpegError::NotBaseline)
        );
        let mut no_dht = buf;
        for i in 0..n {
            if no_dht[i..i + 2] == [0xFF, marker::DHT] {
                no_dht[i + 1] = 0xEF; // an APPn: skipped
            }
        }
        assert_eq!(
            whole_baseline_size(&no_dht[..n + 4]),
            Err(JpegError::NonStandardHuffman)
        );
    }

    #[test]
    fn segments_skip_fill_and_padding() {
        let bytes = [0xFF, 0xFF, 0xFF, 0xC0, 0, 7, 8, 0, 16, 0, 32, 0, 0, 0];
        let mut it = Segments::new(&bytes);
        let seg = it.next().unwrap().unwrap();
        assert_eq!(seg.marker, marker::SOF0);
        assert_eq!(sof_size(seg.payload), Some((32, 16)));
        assert!(it.next().is_none());
        let bad = [0xFF, 0xC0, 0, 40, 1];
        assert_eq!(Segments::new(&bad).next(), Some(Err(JpegError::Malformed)));
    }
}
