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

/// Validate a datagram completely (RTP, payload type, RFC 2435 headers)
/// without touching any state: what a runtime uses to decide whether a
/// packet may open a new stream.
#[inline]
pub fn validate<'a>(
    datagram: &'a [u8],
    dynamic_payload_type: Option<u8>,
) -> Result<(RtpPacket<'a>, JpegPayload<'a>), InvalidReason> {
    let rtp = RtpPacket::parse(datagram)?;
    let pt = rtp.payload_type();
    if pt != PAYLOAD_TYPE_JPEG && Some(pt) != dynamic_payload_type {
        return Err(InvalidReason::PayloadType);
    }
    let payload = JpegPayload::parse(rtp.payload())?;
    let end = u64::from(payload.main.fragment_offset) + payload.data.len() as u64;
    if end > MAX_SCAN_BYTES as u64 {
        return Err(InvalidReason::FragmentOffset);
    }
    Ok((rtp, payload))
}
