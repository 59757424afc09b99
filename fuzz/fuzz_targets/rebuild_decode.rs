//! Rebuild-then-decode: a JPEG made of the core's own headers around an
//! arbitrary scan blob goes through the Packetizer and the Depacketizer
//! (the frame must complete and come back byte-identical), then through
//! the runtime's zune-jpeg decode, which must not panic; a bare zune-jpeg
//! decode with default options too.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_core::jpeg::{write_headers, FrameHeaderParams, MAX_HEADER_LEN};
use mjpeg_rtp_core::rfc2435::{appendix_a_tables, QuantTables};
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, Instant, Packetizer, PacketizerConfig, Sampling,
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
    let mut jpeg = vec![0u8; MAX_HEADER_LEN];
    let n = write_headers(&params, &mut jpeg).expect("headers fit");
    jpeg.truncate(n);
    jpeg.extend_from_slice(&input.scan);
    if !jpeg.ends_with(&[0xFF, 0xD9]) {
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
    }
    if jpeg.len() == n + 2 {
        return; // scan was only an EOI: nothing to send
    }

    let max_packet = 200 + usize::from(input.max_packet % 1300);
    let mut packetizer = Packetizer::new(PacketizerConfig {
        max_packet,
        ..PacketizerConfig::default()
    });
    let mut rx: Depacketizer<Vec<u8>, 1> =
        Depacketizer::new(Config::default(), [vec![0; frame_buffer_len(MAX_SCAN)]]);
    let mut frames = packetizer
        .frame(&jpeg, 90_000)
        .expect("own JPEG packetizes");
    let mut buf = vec![0u8; max_packet];
    while let Some(len) = frames.next_into(&mut buf) {
        let len = len.expect("packet fits max_packet");
        assert!(len <= max_packet);
        let _ = rx.push(Instant::ZERO, &buf[..len]);
    }
    let frame = rx.next_frame().expect("a loss-free frame completes");
    assert_eq!(frame.jpeg, jpeg.as_slice(), "rebuilt JPEG differs");
    assert_eq!(
        (frame.info.width, frame.info.height),
        (params.width, params.height)
    );

    let mut rgb = Vec::new();
    if let Ok(size) = mjpeg_rtp::decode::decode_rgb_into(frame.jpeg, &mut rgb) {
        assert_eq!(
            (size.width, size.height),
            (usize::from(params.width), usize::from(params.height))
        );
        assert_eq!(rgb.len(), size.rgb_len());
    }
    let mut decoder = zune_jpeg::JpegDecoder::new(frame.jpeg);
    let _ = decoder.decode();
});
