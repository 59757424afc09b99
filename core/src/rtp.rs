//! RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1,
//! §5.3.1), read from and written to byte slices.
//!
//! Every length is checked before any read: `RtpPacket::parse` either
//! returns a fully validated view whose accessors cannot fail, or a named
//! [`RtpError`]. [`HeaderMut`] rewrites the fixed header of a packet in
//! place, its length checked once; [`RtpHeader`] writes a new one.

use core::fmt;
use core::ops::Range;

/// Byte positions of the fixed header fields.
mod field {
    use core::ops::Range;
    /// V(2) P(1) X(1) CC(4)
    pub const FLAGS: usize = 0;
    /// M(1) PT(7)
    pub const MARKER_PT: usize = 1;
    pub const SEQUENCE: Range<usize> = 2..4;
    pub const TIMESTAMP: Range<usize> = 4..8;
    pub const SSRC: Range<usize> = 8..12;
}

/// Length of the fixed RTP header.
pub const HEADER_LEN: usize = field::SSRC.end;
/// The only RTP version in use.
pub const VERSION: u8 = 2;
/// Static payload type of JPEG (RFC 3551).
pub const PAYLOAD_TYPE_JPEG: u8 = 26;
/// Length of the extension header (profile + length in words).
pub const EXTENSION_HEADER_LEN: usize = 4;

/// Why a datagram is not a well-formed RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    Truncated,
    /// Version field is not 2.
    Version(u8),
    /// The CSRC count promises more bytes than the datagram holds.
    CsrcOverrun,
    /// The header extension length runs past the datagram.
    ExtensionOverrun,
    /// The padding count is zero or larger than what follows the headers.
    Padding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::Truncated => f.write_str("RTP packet shorter than its fixed header"),
            RtpError::Version(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::CsrcOverrun => f.write_str("RTP CSRC list runs past the datagram"),
            RtpError::ExtensionOverrun => {
                f.write_str("RTP header extension runs past the datagram")
            }
            RtpError::Padding => f.write_str("RTP padding length invalid"),
        }
    }
}

impl core::error::Error for RtpError {}

/// An RTP header extension (RFC 3550 §5.3.1): a 16-bit profile-defined
/// identifier and the extension words, kept as bytes for the caller (ONVIF
/// puts JPEG marker segments here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    pub profile: u16,
    /// `4 * length` bytes of extension data.
    pub data: &'a [u8],
}

/// A validated view of one RTP packet. The fixed-header fields are decoded
/// once by `parse`, so accessors are plain loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    bytes: &'a [u8],
    marker_pt: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    csrc: Range<usize>,
    extension: Option<(u16, Range<usize>)>,
    payload: Range<usize>,
}

#[inline]
fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

impl<'a> RtpPacket<'a> {
    /// Validate `bytes` as an RTP packet.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        let fixed: [u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(RtpError::Truncated)?;
        // The layout of `field`: flags, M/PT, sequence, timestamp, SSRC.
        let [flags, marker_pt, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3] = fixed;
        let version = flags >> 6;
        if version != VERSION {
            return Err(RtpError::Version(version));
        }
        let has_padding = flags & 0x20 != 0;
        let has_extension = flags & 0x10 != 0;
        let csrc_count = usize::from(flags & 0x0F);
        let csrc = HEADER_LEN..HEADER_LEN + 4 * csrc_count;
        if csrc.end > bytes.len() {
            return Err(RtpError::CsrcOverrun);
        }
        let mut cursor = csrc.end;
        let extension = if has_extension {
            let profile = be16(bytes, cursor).ok_or(RtpError::ExtensionOverrun)?;
            let words = be16(bytes, cursor + 2).ok_or(RtpError::ExtensionOverrun)?;
            let start = cursor + EXTENSION_HEADER_LEN;
            let end = start + 4 * usize::from(words);
            if end > bytes.len() {
                return Err(RtpError::ExtensionOverrun);
            }
            cursor = end;
            Some((profile, start..end))
        } else {
            None
        };
        let mut end = bytes.len();
        if has_padding {
            // The last octet counts the padding octets, itself included.
            let pad = usize::from(*bytes.last().ok_or(RtpError::Padding)?);
            if pad == 0 || pad > end - cursor {
                return Err(RtpError::Padding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            bytes,
            marker_pt,
            sequence: u16::from_be_bytes([s0, s1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
            csrc,
            extension,
            payload: cursor..end,
        })
    }

    #[inline]
    pub fn marker(&self) -> bool {
        self.bytes
            .get(field::MARKER_PT)
            .is_some_and(|b| b & 0x80 != 0)
    }

    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.marker_pt & 0x7F
    }

    #[inline]
    pub fn sequence(&self) -> u16 {
        self.sequence
    }

    #[inline]
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    #[inline]
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let bytes = self.bytes.get(self.csrc.clone()).unwrap_or(&[]);
        bytes
            .chunks_exact(4)
            .filter_map(|c| c.try_into().ok().map(u32::from_be_bytes))
    }

    #[inline]
    pub fn extension(&self) -> Option<HeaderExtension<'a>> {
        let (profile, range) = self.extension.clone()?;
        Some(HeaderExtension {
            profile,
            data: self.bytes.get(range)?,
        })
    }

    /// The whole packet, as parsed.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The payload, without padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(self.payload.clone()).unwrap_or(&[])
    }
}

/// A mutable view of the fixed header of a packet already built, for tools
/// and tests that restamp packets (sequence number, timestamp, SSRC...)
/// without knowing where the fields lie. The length is checked once, by
/// [`new_checked`](Self::new_checked); no accessor can fail after it.
#[derive(Debug, PartialEq, Eq)]
pub struct HeaderMut<'a> {
    fixed: &'a mut [u8; HEADER_LEN],
}

impl<'a> HeaderMut<'a> {
    /// A view of the fixed header at the start of `packet`, or
    /// [`RtpError::Truncated`] if `packet` is shorter than [`HEADER_LEN`].
    /// Nothing else is checked: a test may rewrite a malformed packet.
    pub fn new_checked(packet: &'a mut [u8]) -> Result<Self, RtpError> {
        let fixed = packet
            .first_chunk_mut::<HEADER_LEN>()
            .ok_or(RtpError::Truncated)?;
        Ok(HeaderMut { fixed })
    }

    pub fn marker(&self) -> bool {
        self.fixed[field::MARKER_PT] & 0x80 != 0
    }

    pub fn payload_type(&self) -> u8 {
        self.fixed[field::MARKER_PT] & 0x7F
    }

    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes(self.read(field::SEQUENCE))
    }

    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes(self.read(field::TIMESTAMP))
    }

    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes(self.read(field::SSRC))
    }

    pub fn set_marker(&mut self, marker: bool) {
        let byte = &mut self.fixed[field::MARKER_PT];
        *byte = (u8::from(marker) << 7) | (*byte & 0x7F);
    }

    /// Sets the 7-bit payload type; the high bit of `payload_type` is
    /// ignored (it is the marker's).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        let byte = &mut self.fixed[field::MARKER_PT];
        *byte = (*byte & 0x80) | (payload_type & 0x7F);
    }

    pub fn set_sequence(&mut self, sequence: u16) {
        self.fixed[field::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    }

    pub fn set_timestamp(&mut self, timestamp: u32) {
        self.fixed[field::TIMESTAMP].copy_from_slice(&timestamp.to_be_bytes());
    }

    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.fixed[field::SSRC].copy_from_slice(&ssrc.to_be_bytes());
    }

    fn read<const N: usize>(&self, range: Range<usize>) -> [u8; N] {
        // The ranges are constants inside the fixed header: never the zeros.
        self.fixed
            .get(range)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; N])
    }
}

/// The fields a sender chooses, for writing a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// The output buffer cannot hold what was to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small")
    }
}

impl core::error::Error for BufferTooSmall {}

impl RtpHeader {
    /// Bytes `emit` writes for a header carrying `extension_data` bytes of
    /// header extension (a multiple of 4; 0 for none).
    pub const fn buffer_len(extension_data: usize) -> usize {
        if extension_data == 0 {
            HEADER_LEN
        } else {
            HEADER_LEN + EXTENSION_HEADER_LEN + extension_data
        }
    }

    /// Write the fixed header (no CSRC) and, when given, a header extension
    /// whose data length must be a multiple of 4. Returns bytes written.
    pub fn emit(
        &self,
        extension: Option<HeaderExtension<'_>>,
        out: &mut [u8],
    ) -> Result<usize, BufferTooSmall> {
        let ext_len = extension.map_or(0, |e| e.data.len());
        let words = u16::try_from(ext_len / 4).map_err(|_| BufferTooSmall)?;
        if ext_len % 4 != 0 {
            return Err(BufferTooSmall);
        }
        // An extension of zero words still has its 4-byte header.
        let len = HEADER_LEN + extension.map_or(0, |_| EXTENSION_HEADER_LEN + ext_len);
        let out = out.get_mut(..len).ok_or(BufferTooSmall)?;
        let (head, rest) = out.split_at_mut_checked(HEADER_LEN).ok_or(BufferTooSmall)?;
        let mut fixed = HeaderMut::new_checked(head).map_err(|_| BufferTooSmall)?;
        fixed.fixed[field::FLAGS] = (VERSION << 6) | if extension.is_some() { 0x10 } else { 0 };
        fixed.set_marker(self.marker);
        fixed.set_payload_type(self.payload_type);
        fixed.set_sequence(self.sequence);
        fixed.set_timestamp(self.timestamp);
        fixed.set_ssrc(self.ssrc);
        if let Some(ext) = extension {
            let (ext_head, ext_data) = rest
                .split_at_mut_checked(EXTENSION_HEADER_LEN)
                .ok_or(BufferTooSmall)?;
            let [p1, p2] = ext.profile.to_be_bytes();
            let [w1, w2] = words.to_be_bytes();
            ext_head.copy_from_slice(&[p1, p2, w1, w2]);
            ext_data.copy_from_slice(ext.data);
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // V=2 P=0 X=0 CC=0, M=1 PT=26, seq 0x1234, ts 0xDEADBEEF, SSRC 0x11223344
    static PACKET_BYTES: [u8; 16] = [
        0x80, 0x9A, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x11, 0x22, 0x33, 0x44, 0xAA, 0xBB, 0xCC,
        0xDD,
    ];

    #[test]
    fn deconstruct() {
        let p = RtpPacket::parse(&PACKET_BYTES).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 26);
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 0xDEAD_BEEF);
        assert_eq!(p.ssrc(), 0x1122_3344);
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.extension(), None);
        assert_eq!(p.payload(), &[0xAA, 0xBB, 0xCC, 0xDD]);
    }

    #[test]
    fn construct() {
        let header = RtpHeader {
            marker: true,
            payload_type: 26,
            sequence: 0x1234,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1122_3344,
        };
        let mut buf = [0u8; 16];
        assert_eq!(header.emit(None, &mut buf), Ok(12));
        buf[12..].copy_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD]);
        assert_eq!(buf, PACKET_BYTES);
        assert_eq!(header.emit(None, &mut [0u8; 11]), Err(BufferTooSmall));
    }

    #[test]
    fn rewrite_in_place() {
        let mut bytes = PACKET_BYTES;
        let mut h = HeaderMut::new_checked(&mut bytes).unwrap();
        assert_eq!(
            (h.marker(), h.payload_type(), h.sequence()),
            (true, 26, 0x1234)
        );
        assert_eq!((h.timestamp(), h.ssrc()), (0xDEAD_BEEF, 0x1122_3344));
        h.set_marker(false);
        h.set_payload_type(0x80 | 96);
        h.set_sequence(0xFFFE);
        h.set_timestamp(7);
        h.set_ssrc(0xABCD_0123);
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(!p.marker());
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.sequence(), 0xFFFE);
        assert_eq!(p.timestamp(), 7);
        assert_eq!(p.ssrc(), 0xABCD_0123);
        assert_eq!(p.payload(), &PACKET_BYTES[12..]);
        let mut h = HeaderMut::new_checked(&mut bytes).unwrap();
        h.set_marker(true);
        assert_eq!(h.payload_type(), 96);
        // Only the fixed header is needed, and nothing is validated.
        let mut v1 = [0x40u8; HEADER_LEN];
        assert!(HeaderMut::new_checked(&mut v1).is_ok());
    }

    #[test]
    fn rewrite_impossible_length() {
        let mut short = [0u8; HEADER_LEN - 1];
        assert_eq!(HeaderMut::new_checked(&mut short), Err(RtpError::Truncated));
        assert_eq!(HeaderMut::new_checked(&mut []), Err(RtpError::Truncated));
    }

    #[test]
    fn csrc_extension_and_padding() {
        let mut bytes = [0u8; 12 + 8 + 4 + 8 + 3 + 3];
        bytes[0] = 0x80 | 0x20 | 0x10 | 2; // P, X, CC=2
        bytes[1] = 96;
        bytes[12..16].copy_from_slice(&1u32.to_be_bytes());
        bytes[16..20].copy_from_slice(&2u32.to_be_bytes());
        bytes[20..22].copy_from_slice(&0xFFD8u16.to_be_bytes());
        bytes[22..24].copy_from_slice(&2u16.to_be_bytes());
        bytes[24..32].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        bytes[32..35].copy_from_slice(&[9, 9, 9]);
        bytes[37] = 3; // padding of 3 including this byte
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.payload_type(), 96);
        assert!(!p.marker());
        let csrcs: [u32; 2] = [1, 2];
        assert!(p.csrcs().eq(csrcs));
        let ext = p.extension().unwrap();
        assert_eq!(ext.profile, 0xFFD8);
        assert_eq!(ext.data, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.payload(), &[9, 9, 9]);
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::Truncated));
        assert_eq!(
            RtpPacket::parse(&PACKET_BYTES[..11]),
            Err(RtpError::Truncated)
        );
        let mut v1 = PACKET_BYTES;
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::Version(1)));
        let mut cc = PACKET_BYTES;
        cc[0] = 0x80 | 15;
        assert_eq!(RtpPacket::parse(&cc), Err(RtpError::CsrcOverrun));
        let mut ext = PACKET_BYTES;
        ext[0] = 0x90;
        ext[14] = 0xFF;
        ext[15] = 0xFF;
        assert_eq!(RtpPacket::parse(&ext), Err(RtpError::ExtensionOverrun));
        let mut pad = PACKET_BYTES;
        pad[0] = 0xA0;
        pad[15] = 5; // more than the 4 payload bytes
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::Padding));
        pad[15] = 0;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::Padding));
        pad[15] = 4;
        assert_eq!(RtpPacket::parse(&pad).unwrap().payload(), &[]);
    }

    #[test]
    fn empty_extension_roundtrip() {
        // Found by fuzz/rtp_parse: X=1 with zero words made emit panic.
        let header = RtpHeader {
            marker: false,
            payload_type: 26,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        };
        let ext = HeaderExtension {
            profile: 0xBEDE,
            data: &[],
        };
        let mut buf = [0u8; 16];
        assert_eq!(header.emit(Some(ext), &mut buf), Ok(16));
        assert_eq!(RtpPacket::parse(&buf).unwrap().extension(), Some(ext));
        assert_eq!(header.emit(Some(ext), &mut buf[..15]), Err(BufferTooSmall));
    }

    #[test]
    fn extension_roundtrip() {
        let header = RtpHeader {
            marker: false,
            payload_type: 26,
            sequence: 7,
            timestamp: 9,
            ssrc: 5,
        };
        let data = [0xFF, 0xC0, 0, 17];
        let ext = HeaderExtension {
            profile: 0xFFD8,
            data: &data,
        };
        let mut buf = [0u8; 20];
        assert_eq!(header.emit(Some(ext), &mut buf), Ok(20));
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extension(), Some(ext));
        assert_eq!(p.payload(), &[]);
    }
}
