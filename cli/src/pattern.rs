//! The built-in moving colour test pattern, encoded as baseline JPEG
//! (standard Huffman tables, 4:2:0) by `jpeg-encoder`.

use anyhow::{Context, Result};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

/// Frames of one pattern cycle, pre-encoded at start-up.
pub const PATTERN_FRAMES: usize = 48;

const BARS: [[u8; 3]; 8] = [
    [235, 235, 235],
    [235, 235, 16],
    [16, 235, 235],
    [16, 235, 16],
    [235, 16, 235],
    [235, 16, 16],
    [16, 16, 235],
    [16, 16, 16],
];

/// RGB pixels (H x W x 3) of frame `index` of a `width` x `height` pattern:
/// colour bars scrolling left, a grey ramp, and a white square bouncing
/// through a moving gradient, so loss or reordering shows at a glance.
pub fn rgb_frame(width: u16, height: u16, index: usize) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let mut rgb = vec![0u8; w * h * 3];
    let shift = index * 8;
    let bar_w = w.div_ceil(BARS.len()).max(1);
    let side = (h / 6).max(2);
    let span_x = w.saturating_sub(side).max(1);
    let span_y = h.saturating_sub(side).max(1);
    let (bx, by) = (
        bounce(index * 13, span_x),
        bounce(index * 7, span_y.min(h / 2).max(1)),
    );
    for (y, row) in rgb.chunks_exact_mut(w * 3).enumerate() {
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let c = if y < h / 2 {
                BARS[((x + shift) / bar_w) % BARS.len()]
            } else if y < h * 2 / 3 {
                let v = (x * 255 / w.max(1)) as u8;
                [v, v, v]
            } else {
                let t = index * 4;
                [
                    ((x + t) * 255 / w.max(1)) as u8,
                    ((y * 255 / h.max(1)) as u8).wrapping_add(t as u8),
                    (((x + y + t) * 255) / (w + h)) as u8,
                ]
            };
            let in_square =
                (bx..bx + side).contains(&x) && (h / 2 + by..h / 2 + by + side).contains(&y);
            px.copy_from_slice(&if in_square { [255, 255, 255] } else { c });
        }
    }
    rgb
}

fn bounce(t: usize, span: usize) -> usize {
    let p = t % (2 * span);
    if p < span {
        p
    } else {
        2 * span - p
    }
}

/// Encode RGB pixels as a baseline 4:2:0 JPEG.
pub fn encode_jpeg(rgb: &[u8], width: u16, height: u16, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    encoder
        .encode(rgb, width, height, ColorType::Rgb)
        .context("JPEG encoding of the test pattern failed")?;
    Ok(out)
}

/// One cycle of the pattern as JPEG files.
pub fn jpeg_frames(width: u16, height: u16, quality: u8, count: usize) -> Result<Vec<Vec<u8>>> {
    (0..count)
        .map(|i| encode_jpeg(&rgb_frame(width, height, i), width, height, quality))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_moves_and_decodes() {
        let a = rgb_frame(64, 48, 0);
        let b = rgb_frame(64, 48, 1);
        assert_eq!(a.len(), 64 * 48 * 3);
        assert_ne!(a, b);
        let jpeg = encode_jpeg(&a, 64, 48, 80).unwrap();
        let (size, _) = mjpeg_rtp::decode::decode_rgb(&jpeg).unwrap();
        assert_eq!((size.width, size.height), (64, 48));
        // Odd sizes too.
        let odd = rgb_frame(13, 9, 3);
        encode_jpeg(&odd, 13, 9, 50).unwrap();
    }
}
