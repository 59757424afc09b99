//! Shrinking decoded RGB: the area average zune-jpeg's `scale` needs, and
//! the exact-size [`Resize`] step (fast_image_resize, SIMD).

use fast_image_resize as fir;

use super::options::{Resize, ResizeFilter};
use super::{DecodeError, RgbSize};

/// Average each `factor` x `factor` block of `src` (packed RGB, `size`)
/// into one pixel of `dst`, resized to the rounded-up size (partial
/// blocks at the right and bottom edges average the pixels they have),
/// as libjpeg-turbo rounds its scaled sizes.
///
/// Written out rather than done with fast_image_resize: its box filter
/// works on fractional scales and would spread the edge block of a size
/// that does not divide evenly over the whole row, where this keeps the
/// same pixel grid as libjpeg-turbo's DCT scaling (one output pixel per
/// `factor` x `factor` input block).
pub(super) fn area_downsample(
    src: &[u8],
    size: RgbSize,
    factor: usize,
    dst: &mut Vec<u8>,
) -> RgbSize {
    let out = RgbSize {
        width: size.width.div_ceil(factor),
        height: size.height.div_ceil(factor),
    };
    dst.resize(out.rgb_len(), 0);
    let row_len = size.width * 3;
    // One row of per-pixel sums, reused for every band of `factor` rows.
    let mut sums = vec![0u32; out.width * 3];
    for (oy, dst_row) in dst.chunks_exact_mut(out.width * 3).enumerate() {
        sums.fill(0);
        let rows = (oy * factor)..((oy + 1) * factor).min(size.height);
        let band_rows = rows.len();
        for src_row in src[rows.start * row_len..rows.end * row_len].chunks_exact(row_len) {
            for (x, px) in src_row.chunks_exact(3).enumerate() {
                let s = &mut sums[x / factor * 3..x / factor * 3 + 3];
                s[0] += u32::from(px[0]);
                s[1] += u32::from(px[1]);
                s[2] += u32::from(px[2]);
            }
        }
        for (ox, (d, s)) in dst_row
            .chunks_exact_mut(3)
            .zip(sums.chunks_exact(3))
            .enumerate()
        {
            let band_cols = factor.min(size.width - ox * factor);
            let n = (band_rows * band_cols) as u32;
            for c in 0..3 {
                // Rounded to nearest.
                d[c] = ((s[c] + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Resize `src` (packed RGB, `size`) to `resize`'s exact size into `dst`.
pub(super) fn resize_rgb(
    resizer: &mut fir::Resizer,
    src: &[u8],
    size: RgbSize,
    resize: Resize,
    dst: &mut Vec<u8>,
) -> Result<RgbSize, DecodeError> {
    let out = RgbSize {
        width: resize.width,
        height: resize.height,
    };
    dst.resize(out.rgb_len(), 0);
    let side = |v: usize| u32::try_from(v).map_err(|_| DecodeError::new("picture too large"));
    let source = fir::images::ImageRef::new(
        side(size.width)?,
        side(size.height)?,
        src,
        fir::PixelType::U8x3,
    )
    .map_err(|e| DecodeError::new(format!("resize source: {e}")))?;
    let mut target = fir::images::Image::from_slice_u8(
        side(out.width)?,
        side(out.height)?,
        dst,
        fir::PixelType::U8x3,
    )
    .map_err(|e| DecodeError::new(format!("resize target: {e}")))?;
    let filter = match resize.filter {
        ResizeFilter::Area => fir::FilterType::Box,
        ResizeFilter::Bilinear => fir::FilterType::Bilinear,
    };
    let options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(filter));
    resizer
        .resize(&source, &mut target, &options)
        .map_err(|e| DecodeError::new(format!("resize: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_downsample_averages_blocks_and_partial_edges() {
        // 3x2 picture, factor 2: output 2x1; the right column is a 1x2
        // partial block.
        let size = RgbSize {
            width: 3,
            height: 2,
        };
        #[rustfmt::skip]
        let src = [
            0, 0, 0,    10, 20, 30,   100, 100, 100,
            20, 40, 60, 30, 60, 90,   200, 201, 0,
        ];
        let mut dst = Vec::new();
        let out = area_downsample(&src, size, 2, &mut dst);
        assert_eq!((out.width, out.height), (2, 1));
        assert_eq!(dst, [15, 30, 45, 150, 151, 50]);
    }

    #[test]
    fn resize_gives_the_exact_size_and_keeps_flat_colour() {
        let size = RgbSize {
            width: 37,
            height: 23,
        };
        let src: Vec<u8> = [10u8, 128, 250].repeat(size.width * size.height);
        let mut resizer = fir::Resizer::new();
        for filter in [ResizeFilter::Area, ResizeFilter::Bilinear] {
            let mut dst = Vec::new();
            let resize = Resize {
                width: 16,
                height: 9,
                filter,
            };
            let out = resize_rgb(&mut resizer, &src, size, resize, &mut dst).unwrap();
            assert_eq!((out.width, out.height), (16, 9));
            assert_eq!(dst, [10u8, 128, 250].repeat(16 * 9));
        }
    }
}
