//! `mjpeg_rtp_rtsp::sdp::describe` on arbitrary bytes (straight, then
//! repaired): never panics; a JPEG track found has a payload type that
//! the media line lists and a non-zero size when it has one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_rtsp::sdp::describe;

fuzz_target!(|data: &[u8]| {
    let Ok(d) = describe(data) else {
        return;
    };
    assert!(d.track.payload_type < 128);
    if let Some((w, h)) = d.track.size {
        assert!(w > 0 && h > 0);
    }
    let text = String::from_utf8_lossy(data);
    assert!(
        text.contains(&d.track.payload_type.to_string()),
        "payload type not in the input"
    );
});
