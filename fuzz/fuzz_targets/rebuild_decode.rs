//! Rebuild-then-decode: a JPEG made of the core's own headers around an
//! arbitrary scan blob goes through the Packetizer and the Depacketizer
//! (the frame must complete and come back byte-identical), then through
//! the runtime's zune-jpeg decode, which must not panic; a bare zune-jpeg
//! decode with default options too.
//!
//! With `embed`, the scan blob is itself a whole JPEG (headers around the
//! arbitrary bytes), sent where RFC 2435 has the scan data as ESP32
//! firmware does: the depacketizer's JFIF-in-payload detection must hand
//! out that inner JPEG as sent. Any other scan that happens to start with
//! SOI and parse as a whole baseline JPEG is handed out the same way.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_core::jpeg::{whole_baseline_size, write_headers, FrameHeaderParams, MAX_HEADER_LEN};
use mjpeg_rtp_core::rfc2435::{appendix_a_tables, QuantTables};
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, Instant, Packetizer, PacketizerConfig, Sampling,
    Tolerated,
};

const MAX_SCAN: usize = 32 * 1024;

#[derive(Debug, Arbitrary)]
enum Tables {
    AppendixA(u8),
    Custom(Box<[u8; 64]>, Box<[u8; 64]>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Pixels, 1..=256 each way: not a multiple of 8 goes through the
    /// ONVIF size extension.
    width: u8,
    height: u8,
    yuv420: bool,
    restart_interval: u8,
    tables: Tables,
    max_packet: u16,
    embed: bool,
    scan: Vec<u8>,
}

fuzz_target!(|input: Input| {
    if input.scan.is_empty() || input.scan.len() > MAX_SCAN {
        return;
    }
    let tables = match &input.tables {
        Tables::AppendixA(q) => appendix_a_tables(q % 99 + 1),
        Tables::Custom(l, c) => QuantTables::two(**l, **c),
    };
    let sampling = if input.yuv420 {
        Sampling::Yuv420
    } else {
        Sampling::Yuv422
    };
    let width = u16::from(input.width) + 1;
    let height = u16::from(input.height) + 1;
    let params = FrameHeaderParams::new(width, height, sampling, &tables)
        .with_restart_interval(u16::from(input.restart_interval % 8));
    let with_headers = |scan: &[u8]| {
        let mut jpeg = vec![0u8; MAX_HEADER_LEN];
        let n = write_headers(&params, &mut jpeg).expect("headers fit");
        jpeg.truncate(n);
        jpeg.extend_from_slice(scan);
        if !jpeg.ends_with(&[0xFF, 0xD9]) {
            jpeg.extend_from_slice(&[0xFF, 0xD9]);
        }
        (jpeg, n)
    };
    let (inner, _) = with_headers(&input.scan);
    let (jpeg, n) = if input.embed {
        with_headers(&inner)
    } else {
        with_headers(&input.scan)
    };
    if jpeg.len() == n + 2 {
        return; // scan was only an EOI: nothing to send
    }

    let max_packet = 200 + usize::from(input.max_packet % 1300);
    let mut packetizer = Packetizer::new(PacketizerConfig {
        max_packet,
        ..PacketizerConfig::default()
    });
    let mut rx: Depacketizer<Vec<u8>, 1> = Depacketizer::new(
        Config::default(),
        // Room for an embedded JPEG's headers too.
        [vec![0; frame_buffer_len(MAX_SCAN + MAX_HEADER_LEN + 2)]],
    );
    let mut frames = packetizer
        .frame(&jpeg, 90_000)
        .expect("own JPEG packetizes");
    let mut buf = vec![0u8; max_packet];
    while let Some(len) = frames.next_into(&mut buf) {
        let len = len.expect("packet fits max_packet");
        assert!(len <= max_packet);
        let _ = rx.push(Instant::ZERO, &buf[..len]);
    }
    let tolerated = rx.stats().tolerated;
    let frame = rx.next_frame().expect("a loss-free frame completes");
    // What was sent as the scan data, with the EOI the packetizer leaves
    // out.
    let scan = &jpeg[n..];
    let whole = Some(scan)
        .filter(|_| params.restart_interval == 0)
        .filter(|s| s.starts_with(&[0xFF, 0xD8]))
        .and_then(|s| whole_baseline_size(s).ok());
    // Headers and only an EOI make no whole JPEG: nothing after its SOS.
    if input.embed && params.restart_interval == 0 && input.scan != [0xFF, 0xD9] {
        assert_eq!(
            whole,
            Some((params.width, params.height)),
            "embedded JPEG missed"
        );
        assert_eq!(scan, inner.as_slice());
    }
    let size = if let Some(size) = whole {
        assert_eq!(frame.jpeg, scan, "embedded JPEG not handed out as sent");
        assert_eq!(tolerated.get(Tolerated::JfifInPayload), 1);
        size
    } else {
        assert_eq!(frame.jpeg, jpeg.as_slice(), "rebuilt JPEG differs");
        assert_eq!(tolerated.total(), 0);
        (params.width, params.height)
    };
    assert_eq!((frame.info.width, frame.info.height), size);

    let mut rgb = Vec::new();
    if let Ok(size) = mjpeg_rtp::decode::decode_rgb_into(frame.jpeg, &mut rgb) {
        assert_eq!(
            (size.width, size.height),
            (
                usize::from(frame.info.width),
                usize::from(frame.info.height)
            )
        );
        assert_eq!(rgb.len(), size.rgb_len());
    }
    let mut decoder = zune_jpeg::JpegDecoder::new(frame.jpeg);
    let _ = decoder.decode();
});
