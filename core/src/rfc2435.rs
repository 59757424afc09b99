//! The RTP payload format for JPEG (RFC 2435): main header, restart marker
//! header, quantization table header, and the Appendix A tables.

use core::fmt;

use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u24, be_u8};
use nom::IResult;

use crate::rtp::BufferTooSmall;

/// Length of the main JPEG header.
pub const MAIN_HEADER_LEN: usize = 8;
/// Length of the restart marker header (types 64..=127).
pub const RESTART_HEADER_LEN: usize = 4;
/// Length of the quantization table header, before the tables.
pub const QUANT_HEADER_LEN: usize = 4;
/// The fragment offset is 24 bits: no frame can be larger than this.
pub const MAX_FRAGMENT_OFFSET: u32 = (1 << 24) - 1;
/// Largest scan data one frame can carry (16 MiB): what the 24-bit
/// fragment offset addresses. The ceiling for any frame buffer or frame
/// size limit.
pub const MAX_SCAN_BYTES: usize = MAX_FRAGMENT_OFFSET as usize + 1;
/// Width and height are sent in 8-pixel units in one byte; 0 means "larger
/// than 2040, see elsewhere" (ONVIF extension or out-of-band).
pub const MAX_IN_HEADER_DIMENSION: u16 = 255 * 8;
/// RTP header extension profiles of the ONVIF JPEG extension (ONVIF
/// Streaming Specification, "JPEG over RTP"). Its data are JPEG marker
/// segments, such as SOF0 with the real frame size.
pub const ONVIF_EXTENSION_PROFILES: [u16; 2] = [0xFFD8, 0xFFFF];

/// Chroma subsampling of the luma-relative chroma planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sampling {
    /// Types 0 and 64: chroma halved horizontally.
    Yuv422,
    /// Types 1 and 65: chroma halved in both directions.
    Yuv420,
}

/// The RFC 2435 Type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JpegType {
    Yuv422,
    Yuv420,
    Yuv422Restart,
    Yuv420Restart,
    /// Any other value: types 2..=63 and 66..=127 are unassigned, 128..=255
    /// dynamic; none can be decoded without out-of-band knowledge.
    Unknown(u8),
}

impl From<u8> for JpegType {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            0 => JpegType::Yuv422,
            1 => JpegType::Yuv420,
            64 => JpegType::Yuv422Restart,
            65 => JpegType::Yuv420Restart,
            other => JpegType::Unknown(other),
        }
    }
}

impl From<JpegType> for u8 {
    fn from(value: JpegType) -> u8 {
        match value {
            JpegType::Yuv422 => 0,
            JpegType::Yuv420 => 1,
            JpegType::Yuv422Restart => 64,
            JpegType::Yuv420Restart => 65,
            JpegType::Unknown(other) => other,
        }
    }
}

impl JpegType {
    /// The type that carries `sampling`, with or without a restart header.
    pub fn new(sampling: Sampling, restart: bool) -> Self {
        match (sampling, restart) {
            (Sampling::Yuv422, false) => JpegType::Yuv422,
            (Sampling::Yuv420, false) => JpegType::Yuv420,
            (Sampling::Yuv422, true) => JpegType::Yuv422Restart,
            (Sampling::Yuv420, true) => JpegType::Yuv420Restart,
        }
    }

    pub fn sampling(self) -> Option<Sampling> {
        match self {
            JpegType::Yuv422 | JpegType::Yuv422Restart => Some(Sampling::Yuv422),
            JpegType::Yuv420 | JpegType::Yuv420Restart => Some(Sampling::Yuv420),
            JpegType::Unknown(_) => None,
        }
    }

    /// Types 64..=127 carry a restart marker header.
    #[inline]
    pub fn has_restart_header(self) -> bool {
        (64..128).contains(&u8::from(self))
    }
}

/// Main JPEG header (RFC 2435 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainHeader {
    pub type_specific: u8,
    pub fragment_offset: u32,
    pub jpeg_type: JpegType,
    pub q: u8,
    /// Width in pixels (the wire carries width / 8); 0 means "see elsewhere".
    pub width: u16,
    pub height: u16,
}

/// Restart marker header (RFC 2435 §3.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartHeader {
    /// MCUs between restart markers (DRI).
    pub interval: u16,
    /// This packet starts with the first byte of a restart interval.
    pub first: bool,
    /// This packet ends with the last byte of a restart interval.
    pub last: bool,
    /// Restart count; 0x3FFF when F and L are both set and the packet holds
    /// whole intervals only.
    pub count: u16,
}

/// Bytes of one table of 64 coefficients on the wire and in DQT: 8-bit or
/// 16-bit (big-endian) entries.
pub const fn table_wire_len(sixteen_bit: bool) -> usize {
    if sixteen_bit {
        128
    } else {
        64
    }
}

/// Largest in-band form of the tables a frame uses: two 16-bit tables.
pub const MAX_TABLES_WIRE_LEN: usize = 2 * table_wire_len(true);

/// Up to two quantization tables in zig-zag order (luma, chroma), each with
/// 8-bit or 16-bit coefficients. One table means luma and chroma share it.
///
/// 16-bit tables (RFC 2435 §3.1.8 Precision bit set) are what libjpeg
/// writes for very low qualities, where a coefficient exceeds 255; a JPEG
/// with them is extended sequential (SOF1), not baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantTables {
    tables: [[u16; 64]; 2],
    count: u8,
    /// Bit i set: table i has 16-bit coefficients.
    precision: u8,
}

impl QuantTables {
    /// One shared 8-bit table.
    pub fn one(shared: [u8; 64]) -> Self {
        let widened = widen(&shared);
        QuantTables {
            tables: [widened, widened],
            count: 1,
            precision: 0,
        }
    }

    /// Two 8-bit tables.
    pub fn two(luma: [u8; 64], chroma: [u8; 64]) -> Self {
        QuantTables {
            tables: [widen(&luma), widen(&chroma)],
            count: 2,
            precision: 0,
        }
    }

    /// One or two tables of either precision: `precision` bit i set means
    /// table i is 16-bit. `None` when `tables` is empty, longer than two,
    /// or an 8-bit table holds a value above 255.
    pub fn new(tables: &[[u16; 64]], precision: u8) -> Option<Self> {
        let (luma, chroma, count) = match tables {
            [shared] => (*shared, *shared, 1),
            [luma, chroma] => (*luma, *chroma, 2),
            _ => return None,
        };
        let precision = precision & if count == 2 { 0b11 } else { 0b01 };
        let fits = |i: usize, t: &[u16; 64]| precision >> i & 1 == 1 || t.iter().all(|&v| v <= 255);
        let chroma_fits = count == 1 || fits(1, &chroma);
        (fits(0, &luma) && chroma_fits).then_some(QuantTables {
            tables: [luma, chroma],
            count,
            precision,
        })
    }

    /// 1 or 2 distinct tables.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    pub fn luma(&self) -> &[u16; 64] {
        let [luma, _] = &self.tables;
        luma
    }

    pub fn chroma(&self) -> &[u16; 64] {
        let [_, chroma] = &self.tables;
        chroma
    }

    /// Whether table `index` (0 luma, 1 chroma) has 16-bit coefficients.
    pub fn is_16bit(&self, index: usize) -> bool {
        index < 8 && self.precision >> index & 1 == 1
    }

    /// The Precision field: bit i set for each 16-bit table.
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// The distinct tables, luma first, with whether each is 16-bit.
    pub fn iter(&self) -> impl Iterator<Item = (&[u16; 64], bool)> {
        self.tables
            .iter()
            .take(self.count())
            .enumerate()
            .map(|(i, table)| (table, self.is_16bit(i)))
    }

    /// Bytes of the in-band form (64 per 8-bit table, 128 per 16-bit one).
    pub fn wire_len(&self) -> usize {
        self.iter().map(|(_, wide)| table_wire_len(wide)).sum()
    }

    /// Write the in-band form (and the DQT table data: the same bytes):
    /// each table in zig-zag order, 16-bit entries big-endian. Returns the
    /// length written.
    pub fn write_wire(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mut pos = 0;
        for (table, wide) in self.iter() {
            pos += write_table(table, wide, out.get_mut(pos..).ok_or(BufferTooSmall)?)?;
        }
        Ok(pos)
    }
}

/// Write one table's coefficients (8-bit entries keep their low byte,
/// which [`QuantTables::new`] guarantees is the whole value).
pub fn write_table(
    table: &[u16; 64],
    sixteen_bit: bool,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let len = table_wire_len(sixteen_bit);
    let out = out.get_mut(..len).ok_or(BufferTooSmall)?;
    if sixteen_bit {
        for (pair, v) in out.chunks_exact_mut(2).zip(table) {
            pair.copy_from_slice(&v.to_be_bytes());
        }
    } else {
        for (byte, &v) in out.iter_mut().zip(table) {
            *byte = v as u8;
        }
    }
    Ok(len)
}

fn widen(table: &[u8; 64]) -> [u16; 64] {
    table.map(u16::from)
}

/// Read one table of `table_wire_len(sixteen_bit)` bytes (DQT and the
/// in-band form store it alike).
pub fn read_table(bytes: &[u8], sixteen_bit: bool) -> [u16; 64] {
    let mut out = [0u16; 64];
    if sixteen_bit {
        for (v, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            if let [hi, lo] = pair {
                *v = u16::from_be_bytes([*hi, *lo]);
            }
        }
    } else {
        for (v, &b) in out.iter_mut().zip(bytes) {
            *v = u16::from(b);
        }
    }
    out
}

/// The quantization table header (RFC 2435 §3.1.8) with its table data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantHeader<'a> {
    pub mbz: u8,
    /// Bit i set: table i is 16-bit.
    pub precision: u8,
    /// Table data, `length` bytes.
    pub data: &'a [u8],
}

impl QuantHeader<'_> {
    /// The tables this frame uses, or why they are unusable. Length 0 means
    /// "use the tables cached for this Q" and yields `Ok(None)`.
    ///
    /// Table i is 128 bytes when Precision bit i is set, else 64. Two
    /// tables (luma, chroma) or one shared; a third table (Cr, seen in the
    /// wild) or more are skipped: the rebuilt frame uses tables 0 and 1.
    pub fn tables(&self) -> Result<Option<QuantTables>, PayloadError> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let mut found = [[0u16; 64]; 2];
        let mut count = 0;
        let mut rest = self.data;
        for (index, slot) in found.iter_mut().enumerate() {
            if rest.is_empty() {
                break;
            }
            let wide = self.precision >> index & 1 == 1;
            let (bytes, after) = rest
                .split_at_checked(table_wire_len(wide))
                .ok_or(PayloadError::QuantLength)?;
            *slot = read_table(bytes, wide);
            count += 1;
            rest = after;
        }
        // Whatever follows the two tables used is skipped; like every
        // table it comes in whole 64-byte units.
        if rest.len() % 64 != 0 {
            return Err(PayloadError::QuantLength);
        }
        QuantTables::new(found.get(..count).unwrap_or(&[]), self.precision)
            .map(Some)
            .ok_or(PayloadError::QuantLength)
    }
}

/// Why an RTP payload is not a usable RFC 2435 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// Shorter than the headers it announces.
    Truncated,
    /// Non-zero type-specific field (interlaced fields are not supported).
    TypeSpecific(u8),
    /// A Type other than 0, 1, 64, 65.
    UnsupportedType(u8),
    /// Restart header on a type that has none, or a zero interval.
    RestartHeader,
    /// Quantization table length not a multiple of 64, or beyond the packet.
    QuantLength,
    /// Q = 255 (tables change every frame) sent without tables.
    QuantMissing,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Truncated => f.write_str("RFC 2435 header truncated"),
            PayloadError::TypeSpecific(v) => write!(f, "type-specific field {v} (interlaced)"),
            PayloadError::UnsupportedType(t) => write!(f, "unsupported RFC 2435 type {t}"),
            PayloadError::RestartHeader => f.write_str("invalid restart marker header"),
            PayloadError::QuantLength => f.write_str("invalid quantization table length"),
            PayloadError::QuantMissing => f.write_str("Q=255 without in-band tables"),
        }
    }
}

impl core::error::Error for PayloadError {}

/// A parsed RFC 2435 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegPayload<'a> {
    pub main: MainHeader,
    pub restart: Option<RestartHeader>,
    /// Present when Q >= 128 and this is the first fragment.
    pub quant: Option<QuantHeader<'a>>,
    /// Scan data of this fragment.
    pub data: &'a [u8],
}

type NomError<'a> = nom::error::Error<&'a [u8]>;

#[inline]
fn main_header(input: &[u8]) -> IResult<&[u8], MainHeader, NomError<'_>> {
    let (input, type_specific) = be_u8(input)?;
    let (input, fragment_offset) = be_u24(input)?;
    let (input, jpeg_type) = be_u8(input)?;
    let (input, q) = be_u8(input)?;
    let (input, width) = be_u8(input)?;
    let (input, height) = be_u8(input)?;
    Ok((
        input,
        MainHeader {
            type_specific,
            fragment_offset,
            jpeg_type: JpegType::from(jpeg_type),
            q,
            width: u16::from(width) * 8,
            height: u16::from(height) * 8,
        },
    ))
}

#[inline]
fn restart_header(input: &[u8]) -> IResult<&[u8], RestartHeader, NomError<'_>> {
    let (input, interval) = be_u16(input)?;
    let (input, flags_count) = be_u16(input)?;
    Ok((
        input,
        RestartHeader {
            interval,
            first: flags_count & 0x8000 != 0,
            last: flags_count & 0x4000 != 0,
            count: flags_count & 0x3FFF,
        },
    ))
}

#[inline]
fn quant_header(input: &[u8]) -> IResult<&[u8], QuantHeader<'_>, NomError<'_>> {
    let (input, mbz) = be_u8(input)?;
    let (input, precision) = be_u8(input)?;
    let (input, length) = be_u16(input)?;
    let (input, data) = take(length)(input)?;
    Ok((
        input,
        QuantHeader {
            mbz,
            precision,
            data,
        },
    ))
}

impl<'a> JpegPayload<'a> {
    /// Parse and validate the headers of one RFC 2435 payload.
    #[inline]
    pub fn parse(payload: &'a [u8]) -> Result<Self, PayloadError> {
        let (rest, main) = main_header(payload).map_err(|_| PayloadError::Truncated)?;
        if main.type_specific != 0 {
            return Err(PayloadError::TypeSpecific(main.type_specific));
        }
        if let JpegType::Unknown(t) = main.jpeg_type {
            return Err(PayloadError::UnsupportedType(t));
        }
        let (rest, restart) = if main.jpeg_type.has_restart_header() {
            let (rest, header) = restart_header(rest).map_err(|_| PayloadError::Truncated)?;
            if header.interval == 0 {
                return Err(PayloadError::RestartHeader);
            }
            (rest, Some(header))
        } else {
            (rest, None)
        };
        let (rest, quant) = if main.q >= 128 && main.fragment_offset == 0 {
            let (rest, header) = quant_header(rest).map_err(|e| match e {
                nom::Err::Error(e) | nom::Err::Failure(e)
                    if e.code == nom::error::ErrorKind::Eof =>
                {
                    PayloadError::QuantLength
                }
                _ => PayloadError::Truncated,
            })?;
            if main.q == 255 && header.data.is_empty() {
                return Err(PayloadError::QuantMissing);
            }
            // Validate now so that a bad table never reaches a frame.
            header.tables()?;
            (rest, Some(header))
        } else {
            (rest, None)
        };
        Ok(JpegPayload {
            main,
            restart,
            quant,
            data: rest,
        })
    }

    /// Header bytes `emit_headers` writes for these fields.
    pub fn header_len(&self) -> usize {
        MAIN_HEADER_LEN
            + self.restart.map_or(0, |_| RESTART_HEADER_LEN)
            + self.quant.map_or(0, |q| QUANT_HEADER_LEN + q.data.len())
    }

    /// Write the headers (not `data`) into `out`; returns the length. The
    /// width and height are written as `/ 8`, and as 0 above 2040.
    pub fn emit_headers(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let len = self.header_len();
        let out = out.get_mut(..len).ok_or(BufferTooSmall)?;
        let (main, rest) = out.split_at_mut(MAIN_HEADER_LEN);
        let [_, o1, o2, o3] = self.main.fragment_offset.to_be_bytes();
        let eighths = |v: u16| {
            if v > MAX_IN_HEADER_DIMENSION {
                0
            } else {
                (v / 8) as u8
            }
        };
        main.copy_from_slice(&[
            self.main.type_specific,
            o1,
            o2,
            o3,
            u8::from(self.main.jpeg_type),
            self.main.q,
            eighths(self.main.width),
            eighths(self.main.height),
        ]);
        let rest = match self.restart {
            Some(r) => {
                let (head, rest) = rest.split_at_mut(RESTART_HEADER_LEN);
                let flags =
                    (u16::from(r.first) << 15) | (u16::from(r.last) << 14) | (r.count & 0x3FFF);
                let [i1, i2] = r.interval.to_be_bytes();
                let [f1, f2] = flags.to_be_bytes();
                head.copy_from_slice(&[i1, i2, f1, f2]);
                rest
            }
            None => rest,
        };
        if let Some(q) = self.quant {
            let (head, tables) = rest.split_at_mut(QUANT_HEADER_LEN);
            let length = u16::try_from(q.data.len()).map_err(|_| BufferTooSmall)?;
            let [l1, l2] = length.to_be_bytes();
            head.copy_from_slice(&[q.mbz, q.precision, l1, l2]);
            tables.copy_from_slice(q.data);
        }
        Ok(len)
    }
}

/// ITU T.81 Table K.1 (luminance), natural order.
const LUMA_QUANTIZER: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// ITU T.81 Table K.2 (chrominance), natural order.
const CHROMA_QUANTIZER: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// Natural-order index of the i-th coefficient in zig-zag order.
pub const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The tables RFC 2435 Appendix A derives from Q, in zig-zag order (as DQT
/// stores them). Q 0 behaves as 1 and Q 100..=127 as 99, the clamp of the
/// reference code; each entry is clamped to 1..=255.
pub fn appendix_a_tables(q: u8) -> QuantTables {
    let factor = u32::from(q.clamp(1, 99));
    let scale = if factor < 50 {
        5000 / factor
    } else {
        200 - 2 * factor
    };
    let scaled = |base: &[u8; 64]| {
        let mut out = [0u8; 64];
        for (slot, &natural) in out.iter_mut().zip(ZIGZAG.iter()) {
            let b = base.get(usize::from(natural)).copied().unwrap_or(1);
            let v = (u32::from(b) * scale + 50) / 100;
            *slot = v.clamp(1, 255) as u8;
        }
        out
    };
    QuantTables::two(scaled(&LUMA_QUANTIZER), scaled(&CHROMA_QUANTIZER))
}

/// The Q in 1..=99 whose Appendix A tables are exactly `tables`, if any.
pub fn appendix_a_quality(tables: &QuantTables) -> Option<u8> {
    (1..=99).find(|&q| appendix_a_tables(q) == *tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    // type-specific 0, offset 0x000102, type 65, Q 200, 640x480,
    // restart interval 4, F=1 L=0 count 3, quant mbz 0 precision 0 len 128.
    fn packet() -> [u8; 8 + 4 + 4 + 128 + 3] {
        let mut p = [0u8; 8 + 4 + 4 + 128 + 3];
        p[..8].copy_from_slice(&[0, 0, 0, 0, 65, 200, 80, 60]);
        p[8..12].copy_from_slice(&[0, 4, 0x80, 3]);
        p[12..16].copy_from_slice(&[0, 0, 0, 128]);
        for (i, b) in p[16..144].iter_mut().enumerate() {
            *b = (i % 64 + 1) as u8;
        }
        p[144..].copy_from_slice(&[1, 2, 3]);
        p
    }

    #[test]
    fn deconstruct() {
        let bytes = packet();
        let p = JpegPayload::parse(&bytes).unwrap();
        assert_eq!(p.main.jpeg_type, JpegType::Yuv420Restart);
        assert_eq!(p.main.q, 200);
        assert_eq!((p.main.width, p.main.height), (640, 480));
        assert_eq!(
            p.restart,
            Some(RestartHeader {
                interval: 4,
                first: true,
                last: false,
                count: 3
            })
        );
        let tables = p.quant.unwrap().tables().unwrap().unwrap();
        assert_eq!(tables.count(), 2);
        assert_eq!(tables.luma()[0], 1);
        assert_eq!(p.data, &[1, 2, 3]);
    }

    #[test]
    fn construct() {
        let bytes = packet();
        let p = JpegPayload::parse(&bytes).unwrap();
        let mut out = [0u8; 200];
        let n = p.emit_headers(&mut out).unwrap();
        assert_eq!(n, 144);
        assert_eq!(&out[..n], &bytes[..144]);
        assert_eq!(p.emit_headers(&mut out[..143]), Err(BufferTooSmall));
    }

    #[test]
    fn impossible_lengths_and_values() {
        let bytes = packet();
        for cut in [0, 7, 11, 15, 100] {
            assert!(JpegPayload::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut b = packet();
        b[0] = 1;
        assert_eq!(JpegPayload::parse(&b), Err(PayloadError::TypeSpecific(1)));
        let mut b = packet();
        b[4] = 2;
        assert_eq!(
            JpegPayload::parse(&b),
            Err(PayloadError::UnsupportedType(2))
        );
        // Precision bit 1 set: table 0 is 64 bytes, table 1 would need 128
        // but only 64 are left.
        let mut b = packet();
        b[13] = 0b10;
        assert_eq!(JpegPayload::parse(&b), Err(PayloadError::QuantLength));
        let mut b = packet();
        b[15] = 100;
        assert_eq!(JpegPayload::parse(&b), Err(PayloadError::QuantLength));
        let mut b = packet();
        b[14] = 0xFF;
        assert_eq!(JpegPayload::parse(&b), Err(PayloadError::QuantLength));
        let mut b = packet();
        b[8..10].copy_from_slice(&[0, 0]);
        assert_eq!(JpegPayload::parse(&b), Err(PayloadError::RestartHeader));
        let q255_empty = [0, 0, 0, 0, 1, 255, 1, 1, 0, 0, 0, 0];
        assert_eq!(
            JpegPayload::parse(&q255_empty),
            Err(PayloadError::QuantMissing)
        );
        let q200_cached = [0, 0, 0, 0, 1, 200, 1, 1, 0, 0, 0, 0, 9];
        let p = JpegPayload::parse(&q200_cached).unwrap();
        assert_eq!(p.quant.unwrap().tables(), Ok(None));
        assert_eq!(p.data, &[9]);
    }

    /// A quantization table header (MBZ 0) over `data`.
    fn quant(precision: u8, data: &[u8]) -> QuantHeader<'_> {
        QuantHeader {
            mbz: 0,
            precision,
            data,
        }
    }

    #[test]
    fn table_lengths_64_and_192() {
        let one = [5u8; 64];
        let q = quant(0, &one);
        assert_eq!(q.tables().unwrap().unwrap().count(), 1);
        let mut three = [0u8; 192];
        three[..64].fill(1);
        three[64..128].fill(2);
        three[128..].fill(3);
        let q = quant(0, &three);
        let t = q.tables().unwrap().unwrap();
        assert_eq!((t.luma()[0], t.chroma()[0], t.count()), (1, 2, 2));
        // precision on the unused third table does not matter
        let q = quant(0b100, &three);
        assert!(q.tables().is_ok());
    }

    #[test]
    fn sixteen_bit_tables() {
        // Table 0 16-bit (128 bytes), table 1 8-bit (64 bytes).
        let mut data = [0u8; 192];
        for (i, pair) in data[..128].chunks_exact_mut(2).enumerate() {
            pair.copy_from_slice(&(300 + i as u16).to_be_bytes());
        }
        data[128..].fill(7);
        let q = quant(0b01, &data);
        let t = q.tables().unwrap().unwrap();
        assert_eq!(t.count(), 2);
        assert_eq!((t.luma()[0], t.luma()[63], t.chroma()[0]), (300, 363, 7));
        assert!(t.is_16bit(0) && !t.is_16bit(1));
        assert_eq!(t.precision(), 0b01);
        assert_eq!(t.wire_len(), 192);
        let mut out = [0u8; 192];
        assert_eq!(t.write_wire(&mut out), Ok(192));
        assert_eq!(out, data);
        assert_eq!(t.write_wire(&mut out[..191]), Err(BufferTooSmall));
        // One 16-bit table alone: 128 bytes, shared by luma and chroma.
        let q = quant(0b01, &data[..128]);
        let t = q.tables().unwrap().unwrap();
        assert_eq!((t.count(), t.precision(), t.wire_len()), (1, 1, 128));
        // Both 16-bit: 256 bytes; 255 bytes is not whole tables.
        let wide = [1u8; 256];
        let q = quant(0b11, &wide);
        assert_eq!(q.tables().unwrap().unwrap().wire_len(), 256);
        let q = quant(0b11, &wide[..255]);
        assert_eq!(q.tables(), Err(PayloadError::QuantLength));
        // An 8-bit table cannot hold a value above 255.
        assert!(QuantTables::new(&[[256; 64]], 0).is_none());
        assert!(QuantTables::new(&[[256; 64]], 1).is_some());
    }

    #[test]
    fn appendix_a_reference_values() {
        // Q=50 is Table K.1/K.2 itself (scale 100), in zig-zag order.
        let t = appendix_a_tables(50);
        assert_eq!(&t.luma()[..8], &[16, 11, 12, 14, 12, 10, 16, 14]);
        assert_eq!(&t.chroma()[..6], &[17, 18, 18, 24, 21, 24]);
        // Q=1: scale 5000, everything clamps to 255 except nothing below.
        assert!(appendix_a_tables(1)
            .luma()
            .iter()
            .all(|&v| v == 255 || v >= 200));
        // Q=99: scale 2: (16*2+50)/100 = 0 -> clamped to 1.
        assert_eq!(appendix_a_tables(99).luma()[0], 1);
        // Q=75 luma DC: (16*50+50)/100 = 8.
        assert_eq!(appendix_a_tables(75).luma()[0], 8);
        // Q 0 acts as 1, Q 100..=127 as 99.
        assert_eq!(appendix_a_tables(0), appendix_a_tables(1));
        assert_eq!(appendix_a_tables(127), appendix_a_tables(99));
        for q in 1..=99 {
            assert!(appendix_a_tables(q).luma().iter().all(|&v| v >= 1));
        }
        assert_eq!(appendix_a_quality(&appendix_a_tables(85)), Some(85));
        assert_eq!(appendix_a_quality(&QuantTables::one([3; 64])), None);
    }
}
