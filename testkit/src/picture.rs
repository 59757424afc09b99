//! The one synthetic test picture, its baseline JPEG encodings
//! (jpeg-encoder: 4:2:0 or 4:2:2, Annex K or other tables, restart
//! intervals) and the RGB decode the tests compare pixels with.

use jpeg_encoder::{ColorType, Encoder, QuantizationTableType, SamplingFactor};
pub use mjpeg_rtp_core::Sampling;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::Rng;

/// A colourful, seed-dependent RGB picture (H x W x 3): gradients, an
/// 8-pixel checker and per-pixel noise, so that every JPEG has real scan
/// data in every block and different seeds give different JPEGs.
pub fn rgb(width: u16, height: u16, seed: u32) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let s = seed as usize;
    let mut noise = Rng::new(u64::from(seed));
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let n = (noise.next_u64() & 0x1F) as u8;
            let r = ((x + s * 7) * 255 / w.max(1)) as u8;
            let g = ((y + s * 3) * 255 / h.max(1)) as u8;
            let b: u8 = if ((x + s) / 8 + y / 8) % 2 == 0 {
                200
            } else {
                40
            };
            rgb.extend_from_slice(&[r.wrapping_add(n), g, b.wrapping_sub(n)]);
        }
    }
    rgb
}

/// How to encode the test picture.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    pub width: u16,
    pub height: u16,
    pub sampling: Sampling,
    /// jpeg-encoder's scale, 1..=100.
    pub quality: u8,
    /// Annex K tables (sent as RFC 2435 Q 1..=99) or other tables (sent as
    /// Q 255 with the tables in-band).
    pub annex_k_tables: bool,
    /// MCUs per restart interval; 0: no restart markers.
    pub restart_interval: u16,
    pub seed: u32,
}

impl Picture {
    /// 4:2:0, quality 80, Annex K tables, no restart markers, seed 1.
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

    /// Baseline JPEG with the standard Huffman tables.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, self.quality);
        encoder.set_sampling_factor(match self.sampling {
            Sampling::Yuv420 => SamplingFactor::F_2_2,
            Sampling::Yuv422 => SamplingFactor::F_2_1,
        });
        if !self.annex_k_tables {
            encoder.set_quantization_tables(
                QuantizationTableType::ImageMagick,
                QuantizationTableType::ImageMagick,
            );
        }
        if self.restart_interval != 0 {
            encoder.set_restart_interval(self.restart_interval);
        }
        let rgb = rgb(self.width, self.height, self.seed);
        encoder
            .encode(&rgb, self.width, self.height, ColorType::Rgb)
            .expect("encode the test picture");
        out
    }

    /// `count` JPEGs of this picture with seeds `seed`, `seed + 1`, ...:
    /// a stream whose every frame differs.
    pub fn frames(&self, count: usize) -> Vec<Vec<u8>> {
        (0..count as u32)
            .map(|i| {
                Picture {
                    seed: self.seed + i,
                    ..*self
                }
                .encode()
            })
            .collect()
    }
}

/// The test picture as the live tests' cameras send it: quality 85, Annex
/// K tables.
pub fn camera_jpeg(
    width: u16,
    height: u16,
    sampling: Sampling,
    restart_interval: u16,
    seed: u32,
) -> Vec<u8> {
    Picture {
        sampling,
        quality: 85,
        restart_interval,
        seed,
        ..Picture::new(width, height)
    }
    .encode()
}

/// RGB decode with zune-jpeg, the runtime's default decoder: (width,
/// height, pixels).
pub fn decode(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(jpeg, options);
    let pixels = decoder.decode().expect("decode");
    let (width, height) = decoder.dimensions().expect("dimensions");
    (width, height, pixels)
}

/// PSNR in dB of two equally sized byte images.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Assert that two JPEGs decode to the same size and exactly the same
/// pixels.
pub fn assert_same_pixels(got: &[u8], want: &[u8], what: &str) {
    assert_same_pixels_with(decode, got, want, what);
}

/// [`assert_same_pixels`] with another decoder.
pub fn assert_same_pixels_with(
    mut decode: impl FnMut(&[u8]) -> (usize, usize, Vec<u8>),
    got: &[u8],
    want: &[u8],
    what: &str,
) {
    let (gw, gh, g) = decode(got);
    let (ww, wh, w) = decode(want);
    assert_eq!((gw, gh), (ww, wh), "{what}: size");
    assert!(g == w, "{what}: pixels differ");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_decodes_and_depends_on_the_seed() {
        let picture = Picture {
            sampling: Sampling::Yuv422,
            restart_interval: 2,
            ..Picture::new(40, 24)
        };
        let frames = picture.frames(2);
        assert_ne!(frames[0], frames[1]);
        assert_eq!(frames[0], picture.encode());
        let (w, h, pixels) = decode(&frames[0]);
        assert_eq!((w, h, pixels.len()), (40, 24, 40 * 24 * 3));
        assert_same_pixels(&frames[1], &frames[1].clone(), "itself");
    }
}
