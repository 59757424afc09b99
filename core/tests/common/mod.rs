//! Shared helpers for the core's integration tests: make JPEGs, packetize
//! them, decode them.
#![allow(dead_code)]

use jpeg_encoder::{ColorType, Encoder, QuantizationTableType, SamplingFactor};
use mjpeg_rtp_core::{Packetizer, PacketizerConfig, Sampling};

/// How to encode a synthetic test picture.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    pub width: u16,
    pub height: u16,
    pub sampling: Sampling,
    pub quality: u8,
    /// Annex K tables (-> RFC 2435 Q 1..=99) or other tables (-> Q 255).
    pub annex_k_tables: bool,
    pub restart_interval: u16,
    pub seed: u32,
}

impl Picture {
    pub fn new(width: u16, height: u16) -> Self {
        Picture {
            width,
            height,
            sampling: Sampling::Yuv420,
            quality: 80,
            annex_k_tables: true,
            restart_interval: 0,
            seed: 1,
        }
    }
}

/// A colourful, seed-dependent picture with edges and noise so that every
/// frame has real scan data.
pub fn rgb_pattern(width: u16, height: u16, seed: u32) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let mut rgb = Vec::with_capacity(w * h * 3);
    let mut noise = seed.wrapping_mul(2_654_435_761).max(1);
    for y in 0..h {
        for x in 0..w {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let s = seed as usize;
            let r = ((x + s * 7) * 255 / w.max(1)) as u8;
            let g = ((y + s * 3) * 255 / h.max(1)) as u8;
            let b: u8 = if ((x + s) / 8 + y / 8) % 2 == 0 {
                200
            } else {
                40
            };
            let n = (noise & 0x1F) as u8;
            rgb.extend_from_slice(&[r.wrapping_add(n), g, b.wrapping_sub(n)]);
        }
    }
    rgb
}

pub fn encode(p: &Picture) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, p.quality);
    enc.set_sampling_factor(match p.sampling {
        Sampling::Yuv420 => SamplingFactor::F_2_2,
        Sampling::Yuv422 => SamplingFactor::F_2_1,
    });
    if !p.annex_k_tables {
        enc.set_quantization_tables(
            QuantizationTableType::ImageMagick,
            QuantizationTableType::ImageMagick,
        );
    }
    if p.restart_interval != 0 {
        enc.set_restart_interval(p.restart_interval);
    }
    let rgb = rgb_pattern(p.width, p.height, p.seed);
    enc.encode(&rgb, p.width, p.height, ColorType::Rgb)
        .expect("encode test JPEG");
    out
}

/// Packetize `frames` (JPEG, RTP timestamp) into datagrams.
pub fn packetize(config: PacketizerConfig, frames: &[(Vec<u8>, u32)]) -> Vec<Vec<u8>> {
    let mut packetizer = Packetizer::new(config);
    let mut packets = Vec::new();
    for (jpeg, ts) in frames {
        let mut fp = packetizer.frame(jpeg, *ts).expect("packetize");
        let mut buf = vec![0u8; config.max_packet];
        while let Some(n) = fp.next_into(&mut buf) {
            let n = n.expect("packet fits");
            packets.push(buf[..n].to_vec());
        }
    }
    packets
}

/// RGB decode with zune-jpeg (the decoder the runtime uses).
pub fn decode(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(jpeg, options);
    let pixels = d.decode().expect("decode");
    let (w, h) = d.dimensions().expect("dimensions");
    (w, h, pixels)
}

/// Assert two JPEGs decode to exactly the same pixels.
pub fn assert_same_pixels(rebuilt: &[u8], original: &[u8]) {
    let (w1, h1, a) = decode(rebuilt);
    let (w2, h2, b) = decode(original);
    assert_eq!((w1, h1), (w2, h2), "size differs");
    assert!(a == b, "pixels differ");
}
