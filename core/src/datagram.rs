//! The checks of one received datagram that need no state: is it RTP, is
//! it JPEG, are its RFC 2435 headers sound, what size does an ONVIF
//! extension give. A runtime can run them before it has a depacketizer for
//! the stream (to decide whether a packet may open one).

use crate::jpeg;
use crate::rfc2435::{JpegPayload, MAX_SCAN_BYTES, ONVIF_EXTENSION_PROFILES};
use crate::rtp::{HeaderExtension, RtpPacket, PAYLOAD_TYPE_JPEG};
use crate::stats::InvalidReason;

/// Picture size from an ONVIF JPEG header extension (JPEG marker segments
/// in the extension words), if it carries an SOF.
pub fn onvif_frame_size(extension: &HeaderExtension<'_>) -> Option<(u16, u16)> {
    if !ONVIF_EXTENSION_PROFILES.contains(&extension.profile) {
        return None;
    }
    jpeg::Segments::new(extension.data)
        .map_while(Result::ok)
        .find(|s| matches!(s.marker, jpeg::marker::SOF0 | jpeg::marker::SOF1))
        .and_then(|s| jpeg::sof_size(s.payload))
        .filter(|&(w, h)| w != 0 && h != 0)
}

/// The dynamic payload types (RFC 3551 §6).
pub const DYNAMIC_PAYLOAD_TYPES: core::ops::RangeInclusive<u8> = 96..=127;

/// Validate a datagram completely (RTP, payload type, RFC 2435 headers)
/// without touching any state: what a runtime uses to decide whether a
/// packet may open a new stream. The payload type is 26 or
/// `dynamic_payload_type`; with `None` (not known: no SDP), 26 or any
/// dynamic type, which the depacketizer then locks onto.
#[inline]
pub fn validate<'a>(
    datagram: &'a [u8],
    dynamic_payload_type: Option<u8>,
) -> Result<(RtpPacket<'a>, JpegPayload<'a>), InvalidReason> {
    let rtp = RtpPacket::parse(datagram)?;
    let pt = rtp.payload_type();
    let allowed = match dynamic_payload_type {
        Some(configured) => pt == configured,
        None => DYNAMIC_PAYLOAD_TYPES.contains(&pt),
    };
    if pt != PAYLOAD_TYPE_JPEG && !allowed {
        return Err(InvalidReason::PayloadType);
    }
    let payload = JpegPayload::parse(rtp.payload())?;
    let end = u64::from(payload.main.fragment_offset) + payload.data.len() as u64;
    if end > MAX_SCAN_BYTES as u64 {
        return Err(InvalidReason::FragmentOffset);
    }
    Ok((rtp, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc2435::{JpegType, MainHeader};
    use crate::rtp::RtpHeader;

    /// One RTP/JPEG packet: payload type `pt`, a fragment at `offset`
    /// holding `data_len` bytes.
    fn packet(pt: u8, offset: u32, data_len: usize, out: &mut [u8]) -> usize {
        let rtp = RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        };
        let mut n = rtp.emit(None, out).unwrap();
        let payload = JpegPayload {
            main: MainHeader {
                type_specific: 0,
                fragment_offset: offset,
                jpeg_type: JpegType::Yuv420,
                q: 50,
                width: 64,
                height: 48,
            },
            restart: None,
            quant: None,
            data: &[],
        };
        n += payload.emit_headers(&mut out[n..]).unwrap();
        n + data_len
    }

    #[test]
    fn payload_type_static_or_configured() {
        let mut buf = [0u8; 64];
        let n = packet(PAYLOAD_TYPE_JPEG, 0, 4, &mut buf);
        assert!(validate(&buf[..n], None).is_ok());
        let n = packet(96, 0, 4, &mut buf);
        // Not known: any dynamic type may be the camera's.
        assert!(validate(&buf[..n], None).is_ok());
        assert!(validate(&buf[..n], Some(96)).is_ok());
        assert_eq!(
            validate(&buf[..n], Some(97)).err(),
            Some(InvalidReason::PayloadType)
        );
    }

    #[test]
    fn static_types_other_than_26_are_never_jpeg() {
        let mut buf = [0u8; 64];
        for pt in [0, 25, 27, 33, 95] {
            let n = packet(pt, 0, 4, &mut buf);
            assert_eq!(
                validate(&buf[..n], None).err(),
                Some(InvalidReason::PayloadType)
            );
        }
    }

    #[test]
    fn fragment_may_end_at_the_offset_space_but_not_past_it() {
        let mut buf = [0u8; 64];
        let last = MAX_SCAN_BYTES as u32 - 4;
        let n = packet(PAYLOAD_TYPE_JPEG, last, 4, &mut buf);
        assert!(validate(&buf[..n], None).is_ok());
        let n = packet(PAYLOAD_TYPE_JPEG, last, 5, &mut buf);
        assert_eq!(
            validate(&buf[..n], None).err(),
            Some(InvalidReason::FragmentOffset)
        );
    }

    #[test]
    fn onvif_size_from_sof() {
        // SOF0: length 17, precision 8, height 1088, width 1920, ...
        let sof = [
            0xFF, 0xC0, 0, 17, 8, 0x04, 0x40, 0x07, 0x80, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0,
        ];
        let ext = |profile| HeaderExtension {
            profile,
            data: &sof,
        };
        assert_eq!(onvif_frame_size(&ext(0xFFD8)), Some((1920, 1088)));
        assert_eq!(onvif_frame_size(&ext(0xFFFF)), Some((1920, 1088)));
        assert_eq!(onvif_frame_size(&ext(0xBEDE)), None);
        // A zero height is no size.
        let mut zero = sof;
        zero[5..7].fill(0);
        let ext = HeaderExtension {
            profile: 0xFFD8,
            data: &zero,
        };
        assert_eq!(onvif_frame_size(&ext), None);
    }
}
