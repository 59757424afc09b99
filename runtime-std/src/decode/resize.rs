//! Shrinking decoded RGB: the area average zune-jpeg's `scale` needs, and
//! the exact-size [`Resize`] step (fast_image_resize, SIMD).

use fast_image_resize as fir;

use super::options::{Resize, ResizeFilter};
use super::{DecodeError, RgbSize};

/// Average each `factor` x `factor` block of `src` (packed RGB, `size`)
/// into one pixel of `dst`, resized to the rounded-up size (partial
/// blocks at the right and bottom edges average the pixels they have),
/// as libjpeg-turbo rounds its scaled sizes. `columns` is scratch (one
/// row of column sums), kept by the caller so that a warm decoder does
/// not allocate.
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
    columns: &mut Vec<u16>,
    dst: &mut Vec<u8>,
) -> RgbSize {
    // u16 column sums: at most 8 rows of 255.
    debug_assert!((1..=8).contains(&factor));
    let out = RgbSize {
        width: size.width.div_ceil(factor),
        height: size.height.div_ceil(factor),
    };
    dst.resize(out.rgb_len(), 0);
    let row_len = size.width * 3;
    columns.resize(row_len, 0);
    for (oy, dst_row) in dst.chunks_exact_mut(out.width * 3).enumerate() {
        let rows = (oy * factor)..((oy + 1) * factor).min(size.height);
        let band_rows = rows.len();
        // Sum the band's rows column by column first: a straight
        // element-wise add that the compiler vectorizes, where summing
        // pixel by pixel did not (it cost as much as the decode).
        columns.fill(0);
        for src_row in src[rows.start * row_len..rows.end * row_len].chunks_exact(row_len) {
            for (c, &v) in columns.iter_mut().zip(src_row) {
                *c += u16::from(v);
            }
        }
        // Then each output pixel's `factor` columns, per channel.
        for (d, block) in dst_row.chunks_exact_mut(3).zip(columns.chunks(factor * 3)) {
            let n = (band_rows * block.len() / 3) as u32;
            let mut sum = [0u32; 3];
            for px in block.chunks_exact(3) {
                sum[0] += u32::from(px[0]);
                sum[1] += u32::from(px[1]);
                sum[2] += u32::from(px[2]);
            }
            for (d, s) in d.iter_mut().zip(sum) {
                // Rounded to nearest.
                *d = ((s + n / 2) / n) as u8;
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
        let out = area_downsample(&src, size, 2, &mut Vec::new(), &mut dst);
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
