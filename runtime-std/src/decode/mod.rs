//! JPEG -> RGB (H x W x 3, u8), into caller buffers.
//!
//! Two decoders: zune-jpeg (pure Rust, always built, the default) and
//! libjpeg-turbo through its TurboJPEG API (cargo feature `turbojpeg`,
//! links the system's libturbojpeg). libjpeg-turbo is the faster of the
//! two on x86-64 (about 0.87x zune-jpeg's CPU per 1080p frame, measured by
//! `mjpeg-rtp-bench`); zune-jpeg needs no C library. Both decode with
//! accurate integer IDCT and smooth ("fancy") chroma upsampling; their
//! pixels differ by rounding (within 40 dB PSNR of each other).
//!
//! [`DecodeOptions`] picks the output size and exactness: a decode-time
//! [`Scale`] (DCT-domain with libjpeg-turbo, full decode plus area
//! average with zune-jpeg), an exact [`Resize`] after it, and
//! libjpeg-turbo's fast IDCT and upsampling.
//!
//! What lives where: the decoders and their choice here; the options in
//! `options`; the libjpeg-turbo calls in `turbo`; shrinking RGB in
//! `resize`.

mod options;
mod resize;
#[cfg(feature = "turbojpeg")]
mod turbo;

pub use options::{DecodeOptions, DecodeOptionsError, Resize, ResizeFilter, Scale};

use std::fmt;
use std::str::FromStr;

use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Largest picture either decoder accepts, per side. RFC 2435 cannot
/// describe more than 2040 pixels without the ONVIF extension, which
/// carries 16-bit sizes; this only bounds the output allocation.
pub(crate) const MAX_SIDE: usize = 16384;

/// Why a JPEG could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    fn new(message: impl Into<String>) -> Self {
        DecodeError {
            message: message.into(),
        }
    }
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

/// Which library turns JPEG into RGB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Decoder {
    /// zune-jpeg: pure Rust, always available.
    #[default]
    Zune,
    /// libjpeg-turbo (TurboJPEG API): only in builds with the `turbojpeg`
    /// feature; see [`Decoder::is_available`].
    LibjpegTurbo,
}

impl Decoder {
    /// Every decoder, available in this build or not.
    pub const ALL: [Decoder; 2] = [Decoder::Zune, Decoder::LibjpegTurbo];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Decoder::Zune => "zune-jpeg",
            Decoder::LibjpegTurbo => "libjpeg-turbo",
        }
    }

    /// Whether this build can use the decoder.
    pub fn is_available(self) -> bool {
        match self {
            Decoder::Zune => true,
            Decoder::LibjpegTurbo => cfg!(feature = "turbojpeg"),
        }
    }

    /// The decoders this build can use.
    pub fn available() -> impl Iterator<Item = Decoder> {
        Decoder::ALL.into_iter().filter(|d| d.is_available())
    }
}

impl fmt::Display for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Decoder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zune" | "zune-jpeg" => Ok(Decoder::Zune),
            "turbo" | "libjpeg-turbo" | "turbojpeg" => Ok(Decoder::LibjpegTurbo),
            _ => Err(format!(
                "unknown decoder {s:?} (expected zune-jpeg or libjpeg-turbo)"
            )),
        }
    }
}

/// One thread's decoder. libjpeg-turbo keeps a handle with its working
/// memory, which is worth creating once per thread rather than per frame;
/// the intermediate pictures of a scaled or resized decode are kept too.
pub struct RgbDecoder {
    state: State,
    /// The full-size (zune-jpeg) or scaled picture before the last step.
    scratch: Vec<u8>,
    /// zune-jpeg's full-size picture when both scale and resize follow.
    scratch_full: Vec<u8>,
    /// Column sums of zune-jpeg's area average.
    columns: Vec<u16>,
    resizer: fast_image_resize::Resizer,
}

enum State {
    Zune,
    #[cfg(feature = "turbojpeg")]
    Turbo(turbo::TurboDecompressor),
}

impl fmt::Debug for RgbDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RgbDecoder").field(&self.decoder()).finish()
    }
}

impl RgbDecoder {
    /// A decoder of the given kind; an error when this build lacks it.
    pub fn new(decoder: Decoder) -> Result<Self, DecodeError> {
        let state = match decoder {
            Decoder::Zune => State::Zune,
            #[cfg(feature = "turbojpeg")]
            Decoder::LibjpegTurbo => State::Turbo(turbo::TurboDecompressor::new()?),
            #[cfg(not(feature = "turbojpeg"))]
            Decoder::LibjpegTurbo => {
                return Err(DecodeError::new(
                    "libjpeg-turbo: this build lacks the `turbojpeg` feature",
                ))
            }
        };
        Ok(RgbDecoder::with_state(state))
    }

    fn with_state(state: State) -> Self {
        RgbDecoder {
            state,
            scratch: Vec::new(),
            scratch_full: Vec::new(),
            columns: Vec::new(),
            resizer: fast_image_resize::Resizer::new(),
        }
    }

    /// Which decoder this is.
    pub fn decoder(&self) -> Decoder {
        match self.state {
            State::Zune => Decoder::Zune,
            #[cfg(feature = "turbojpeg")]
            State::Turbo(_) => Decoder::LibjpegTurbo,
        }
    }

    /// Decode `jpeg` to packed RGB into `rgb`, resizing it to exactly
    /// H*W*3 (reusing its allocation when large enough, so a pooled
    /// buffer costs no allocation per frame). Full size, exact.
    pub fn decode_into(&mut self, jpeg: &[u8], rgb: &mut Vec<u8>) -> Result<RgbSize, DecodeError> {
        self.decode_with(jpeg, &DecodeOptions::FULL, rgb)
    }

    /// Decode `jpeg` as `options` say into `rgb` (resized to exactly the
    /// output's H*W*3, [`DecodeOptions::output_size`]); options this
    /// decoder cannot honour are an error ([`DecodeOptions::check`]).
    ///
    /// A panic inside the decoder is turned into an error: zune-jpeg 0.4
    /// has `debug_assert!`s that corrupt scan data can trip (its release
    /// code saturates instead), and one bad frame must not take a decode
    /// worker down.
    pub fn decode_with(
        &mut self,
        jpeg: &[u8],
        options: &DecodeOptions,
        rgb: &mut Vec<u8>,
    ) -> Result<RgbSize, DecodeError> {
        options
            .check(self.decoder())
            .map_err(|e| DecodeError::new(e.to_string()))?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.decode_unwinding(jpeg, options, rgb)
        }))
        .unwrap_or_else(|_| Err(DecodeError::new("decoder panicked on corrupt data")))
    }

    fn decode_unwinding(
        &mut self,
        jpeg: &[u8],
        options: &DecodeOptions,
        rgb: &mut Vec<u8>,
    ) -> Result<RgbSize, DecodeError> {
        let RgbDecoder {
            state,
            scratch,
            scratch_full,
            columns,
            resizer,
        } = self;
        // The scaled picture goes straight to `rgb` unless a resize
        // follows.
        let scaled_into = if options.resize.is_some() {
            &mut *scratch
        } else {
            &mut *rgb
        };
        let scaled = match state {
            State::Zune if options.scale == Scale::Full => zune_decode(jpeg, scaled_into)?,
            State::Zune => {
                let full = zune_decode(jpeg, scratch_full)?;
                let factor = options.scale.denominator();
                resize::area_downsample(scratch_full, full, factor, columns, scaled_into)
            }
            #[cfg(feature = "turbojpeg")]
            State::Turbo(decompressor) => decompressor.decode(jpeg, options, scaled_into)?,
        };
        match options.resize {
            Some(target) => resize::resize_rgb(resizer, scratch, scaled, target, rgb),
            None => Ok(scaled),
        }
    }
}

/// Decode `jpeg` with zune-jpeg into `rgb` (see [`RgbDecoder::decode_into`]).
pub fn decode_rgb_into(jpeg: &[u8], rgb: &mut Vec<u8>) -> Result<RgbSize, DecodeError> {
    RgbDecoder::with_state(State::Zune).decode_into(jpeg, rgb)
}

/// Decode with zune-jpeg to a fresh RGB vector.
pub fn decode_rgb(jpeg: &[u8]) -> Result<(RgbSize, Vec<u8>), DecodeError> {
    let mut rgb = Vec::new();
    let size = decode_rgb_into(jpeg, &mut rgb)?;
    Ok((size, rgb))
}

fn zune_decode(jpeg: &[u8], rgb: &mut Vec<u8>) -> Result<RgbSize, DecodeError> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE);
    let mut decoder = JpegDecoder::new_with_options(jpeg, options);
    decoder
        .decode_headers()
        .map_err(|e| DecodeError::new(format!("{e:?}")))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| DecodeError::new("no dimensions"))?;
    let size = RgbSize { width, height };
    let needed = decoder
        .output_buffer_size()
        .ok_or_else(|| DecodeError::new("unknown output size"))?;
    if needed != size.rgb_len() {
        return Err(DecodeError::new(format!(
            "decoder wants {needed} bytes for {width}x{height} RGB"
        )));
    }
    rgb.resize(needed, 0);
    decoder
        .decode_into(rgb)
        .map_err(|e| DecodeError::new(format!("{e:?}")))?;
    Ok(size)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for decoder in Decoder::ALL {
            assert_eq!(decoder.name().parse::<Decoder>(), Ok(decoder));
        }
        assert!("libpng".parse::<Decoder>().is_err());
    }

    #[test]
    fn unavailable_decoder_is_an_error_not_a_fallback() {
        for decoder in Decoder::ALL {
            assert_eq!(RgbDecoder::new(decoder).is_ok(), decoder.is_available());
        }
        assert!(Decoder::Zune.is_available());
    }

    /// A 4:2:0 JPEG from the dev-dependency encoder (also the receive
    /// path's tests' picture).
    pub(crate) fn sample_jpeg(w: u16, h: u16) -> Vec<u8> {
        let rgb: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
        encoder
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn every_decoder_decodes_and_reuses_the_buffer() {
        let jpeg = sample_jpeg(64, 48);
        for decoder in Decoder::available() {
            let mut d = RgbDecoder::new(decoder).unwrap();
            assert_eq!(d.decoder(), decoder);
            let mut rgb = Vec::with_capacity(64 * 48 * 3);
            let pointer = rgb.as_ptr();
            let size = d.decode_into(&jpeg, &mut rgb).unwrap();
            assert_eq!((size.width, size.height), (64, 48));
            assert_eq!(rgb.len(), size.rgb_len());
            assert_eq!(rgb.as_ptr(), pointer, "{decoder}: reallocated");
        }
    }

    /// libjpeg-turbo only warns about a scan that ends early (and fills
    /// the rest grey); such a picture must be an error, not a frame.
    #[test]
    fn truncated_scan_is_an_error_for_libjpeg_turbo() {
        if !Decoder::LibjpegTurbo.is_available() {
            return;
        }
        let jpeg = sample_jpeg(64, 48);
        let mut cut = jpeg[..jpeg.len() * 2 / 3].to_vec();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        let mut d = RgbDecoder::new(Decoder::LibjpegTurbo).unwrap();
        let mut rgb = Vec::new();
        assert!(d.decode_into(&jpeg, &mut rgb).is_ok());
        assert!(d.decode_into(&cut, &mut rgb).is_err());
    }

    /// The `rebuild_decode` fuzz target's minimized input that trips
    /// zune-jpeg 0.4's `debug_assert!(self.bits_left >= n)` (bitstream.rs,
    /// `drop_bits`; see fuzz/UPSTREAM-zune-jpeg.md): the core's headers for
    /// 256x2 4:2:2 at Q 1, then a two-byte scan. Where zune-jpeg is built
    /// with debug assertions (every crate of a debug build) it panics and
    /// the panic must come back as an error; without them it decodes.
    /// Either way the decoder keeps working.
    #[test]
    fn decoder_panic_is_an_error_and_the_decoder_survives() {
        use mjpeg_rtp_core::jpeg::{write_headers, FrameHeaderParams, MAX_HEADER_LEN};
        use mjpeg_rtp_core::{rfc2435::appendix_a_tables, Sampling};

        let tables = appendix_a_tables(1);
        let params = FrameHeaderParams::new(256, 2, Sampling::Yuv422, &tables);
        let mut bad = vec![0u8; MAX_HEADER_LEN];
        let n = write_headers(&params, &mut bad).unwrap();
        bad.truncate(n);
        bad.extend_from_slice(&[0xFF, 0x65, 0xFF, 0xD9]);
        let good = sample_jpeg(64, 48);
        for decoder in Decoder::available() {
            let mut d = RgbDecoder::new(decoder).unwrap();
            let mut rgb = Vec::new();
            let result = d.decode_into(&bad, &mut rgb);
            if decoder == Decoder::Zune && cfg!(debug_assertions) {
                assert_eq!(
                    result,
                    Err(DecodeError::new("decoder panicked on corrupt data"))
                );
            }
            assert!(d.decode_into(&good, &mut rgb).is_ok(), "{decoder}");
        }
    }

    #[test]
    fn garbage_is_an_error_for_every_decoder() {
        for decoder in Decoder::available() {
            let mut d = RgbDecoder::new(decoder).unwrap();
            let mut rgb = Vec::new();
            assert!(d
                .decode_into(b"\xFF\xD8\xFF\xDBnot a jpeg", &mut rgb)
                .is_err());
            assert!(d.decode_into(&[], &mut rgb).is_err());
        }
    }
}
