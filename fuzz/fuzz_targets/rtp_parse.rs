//! RtpPacket::parse on arbitrary bytes: never panics, and every accessor of
//! a parsed packet stays inside the datagram and agrees with the header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_core::{onvif_frame_size, validate};
use mjpeg_rtp_core::rtp::{RtpHeader, RtpPacket, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let _ = validate(data, Some(96));
    let Ok(p) = RtpPacket::parse(data) else {
        return;
    };
    assert!(data.len() >= HEADER_LEN);
    assert_eq!(data[0] >> 6, 2);
    let csrc_count = usize::from(data[0] & 0x0F);
    assert_eq!(p.csrcs().count(), csrc_count);
    let mut used = HEADER_LEN + 4 * csrc_count;
    if let Some(ext) = p.extension() {
        assert!(data[0] & 0x10 != 0);
        assert_eq!(ext.data.len() % 4, 0);
        used += 4 + ext.data.len();
        let _ = onvif_frame_size(&ext);
    } else {
        assert!(data[0] & 0x10 == 0);
    }
    let payload = p.payload();
    assert!(used + payload.len() <= data.len());
    if data[0] & 0x20 == 0 {
        assert_eq!(used + payload.len(), data.len());
        assert_eq!(&data[used..], payload);
    }
    assert_eq!(p.marker(), data[1] & 0x80 != 0);
    assert_eq!(p.payload_type(), data[1] & 0x7F);
    assert_eq!(p.sequence(), u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(
        p.timestamp(),
        u32::from_be_bytes([data[4], data[5], data[6], data[7]])
    );
    assert_eq!(
        p.ssrc(),
        u32::from_be_bytes([data[8], data[9], data[10], data[11]])
    );

    // Re-emitting the fixed header (and the extension) reproduces it.
    let header = RtpHeader {
        marker: p.marker(),
        payload_type: p.payload_type(),
        sequence: p.sequence(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
    };
    let mut out = [0u8; 4 * 1024];
    if let Ok(n) = header.emit(p.extension(), &mut out) {
        let again = RtpPacket::parse(&out[..n]).expect("emitted header parses");
        assert_eq!(again.sequence(), p.sequence());
        assert_eq!(again.extension(), p.extension());
        assert_eq!(again.payload(), &[] as &[u8]);
    }
});
