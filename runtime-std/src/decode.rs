//! JPEG -> RGB (H x W x 3, u8) with zune-jpeg, into caller buffers.

use std::fmt;

use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Why a JPEG could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JPEG decode failed: {}", self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Size of a decoded picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RgbSize {
    pub width: usize,
    pub height: usize,
}

impl RgbSize {
    /// Bytes of the RGB buffer: H x W x 3.
    pub fn rgb_len(self) -> usize {
        self.width * self.height * 3
    }
}

fn options(max_width: usize, max_height: usize) -> DecoderOptions {
    DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(max_width)
        .set_max_height(max_height)
}

/// Decode `jpeg` to packed RGB into `rgb`, resizing it to exactly H*W*3
/// (reusing its allocation when large enough, so a pooled buffer costs no
/// allocation per frame).
///
/// A panic inside the decoder is turned into an error: zune-jpeg 0.4 has
/// `debug_assert!`s that corrupt scan data can trip (its release code
/// saturates instead), and one bad frame must not take a decode worker
/// down.
pub fn decode_rgb_into(jpeg: &[u8], rgb: &mut Vec<u8>) -> Result<RgbSize, DecodeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_unguarded(jpeg, rgb)))
        .unwrap_or_else(|_| {
            Err(DecodeError {
                message: "decoder panicked on corrupt data".into(),
            })
        })
}

fn decode_unguarded(jpeg: &[u8], rgb: &mut Vec<u8>) -> Result<RgbSize, DecodeError> {
    let mut decoder = JpegDecoder::new_with_options(jpeg, options(16384, 16384));
    decoder.decode_headers().map_err(|e| DecodeError {
        message: format!("{e:?}"),
    })?;
    let (width, height) = decoder.dimensions().ok_or_else(|| DecodeError {
        message: "no dimensions".into(),
    })?;
    let size = RgbSize { width, height };
    let needed = decoder.output_buffer_size().ok_or_else(|| DecodeError {
        message: "unknown output size".into(),
    })?;
    if needed != size.rgb_len() {
        return Err(DecodeError {
            message: format!("decoder wants {needed} bytes for {width}x{height} RGB"),
        });
    }
    rgb.resize(needed, 0);
    decoder.decode_into(rgb).map_err(|e| DecodeError {
        message: format!("{e:?}"),
    })?;
    Ok(size)
}

/// Decode to a fresh RGB vector.
pub fn decode_rgb(jpeg: &[u8]) -> Result<(RgbSize, Vec<u8>), DecodeError> {
    let mut rgb = Vec::new();
    let size = decode_rgb_into(jpeg, &mut rgb)?;
    Ok((size, rgb))
}
