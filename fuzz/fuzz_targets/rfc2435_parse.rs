//! JpegPayload::parse on arbitrary bytes: never panics; a payload that
//! parses has usable tables and re-emits to exactly the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_core::rfc2435::{appendix_a_tables, JpegPayload};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = JpegPayload::parse(data) else {
        return;
    };
    assert!(p.main.jpeg_type.sampling().is_some());
    assert_eq!(p.restart.is_some(), p.main.jpeg_type.has_restart_header());
    if let Some(q) = p.quant {
        // parse validated the tables already.
        let tables = q.tables().expect("tables validated by parse");
        if p.main.q == 255 {
            assert!(tables.is_some());
        }
        if let Some(t) = tables {
            assert!(t.count() == 1 || t.count() == 2);
            let _ = (t.luma(), t.chroma());
        }
    }
    let _ = appendix_a_tables(p.main.q);

    let header_len = p.header_len();
    assert_eq!(header_len + p.data.len(), data.len());
    let mut out = [0u8; 8 + 4 + 4 + 65_535];
    let n = p.emit_headers(&mut out).expect("room for any header");
    assert_eq!(n, header_len);
    assert_eq!(&out[..n], &data[..n], "emit_headers roundtrip");
    assert!(p.emit_headers(&mut out[..n - 1]).is_err());
    let again = JpegPayload::parse(data).expect("deterministic");
    assert_eq!(again, p);
});
