//! What size and how exactly to decode: [`DecodeOptions`].

use std::fmt;
use std::str::FromStr;

use super::{Decoder, RgbSize, MAX_SIDE};

/// A decode-time reduction of the picture: 1, 1/2, 1/4 or 1/8 per side.
///
/// Sizes round up, as libjpeg-turbo's scaled decode does (`TJSCALED`):
/// 1/4 of 1920x1080 is 480x270, 1/8 of 1080 is 135, 1/8 of 100 is 13.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Scale {
    #[default]
    Full,
    Half,
    Quarter,
    Eighth,
}

impl Scale {
    pub const ALL: [Scale; 4] = [Scale::Full, Scale::Half, Scale::Quarter, Scale::Eighth];

    /// 1, 2, 4 or 8.
    pub fn denominator(self) -> usize {
        match self {
            Scale::Full => 1,
            Scale::Half => 2,
            Scale::Quarter => 4,
            Scale::Eighth => 8,
        }
    }

    /// The size a `size` picture decodes to at this scale.
    pub fn apply(self, size: RgbSize) -> RgbSize {
        let d = self.denominator();
        RgbSize {
            width: size.width.div_ceil(d),
            height: size.height.div_ceil(d),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1/{}", self.denominator())
    }
}

impl FromStr for Scale {
    type Err = DecodeOptionsError;

    /// `1`, `1/1`, `1/2`, `1/4` or `1/8`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1" | "1/1" => Ok(Scale::Full),
            "1/2" => Ok(Scale::Half),
            "1/4" => Ok(Scale::Quarter),
            "1/8" => Ok(Scale::Eighth),
            _ => Err(DecodeOptionsError::UnknownScale),
        }
    }
}

/// How [`Resize`] computes each output pixel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ResizeFilter {
    /// Box filter: the average of the source area under each output
    /// pixel (OpenCV's `INTER_AREA` when shrinking), no aliasing.
    #[default]
    Area,
    /// Bilinear (triangle) filter, widened when shrinking.
    Bilinear,
}

/// An exact output size, reached after [`Scale`] with a SIMD resize
/// (`fast_image_resize`). The aspect ratio is the caller's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resize {
    pub width: usize,
    pub height: usize,
    pub filter: ResizeFilter,
}

impl Resize {
    /// `width` x `height` with the [`ResizeFilter::Area`] filter.
    pub fn new(width: usize, height: usize) -> Self {
        Resize {
            width,
            height,
            filter: ResizeFilter::Area,
        }
    }
}

impl FromStr for Resize {
    type Err = DecodeOptionsError;

    /// `WxH`, e.g. `480x270` (area filter).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (w, h) = s
            .trim()
            .split_once(['x', 'X'])
            .ok_or(DecodeOptionsError::ResizeSyntax)?;
        let parse = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| DecodeOptionsError::ResizeSyntax)
        };
        let resize = Resize::new(parse(w)?, parse(h)?);
        resize.check()?;
        Ok(resize)
    }
}

impl Resize {
    fn check(self) -> Result<(), DecodeOptionsError> {
        if self.width == 0 || self.height == 0 {
            return Err(DecodeOptionsError::ResizeEmpty);
        }
        if self.width > MAX_SIDE || self.height > MAX_SIDE {
            return Err(DecodeOptionsError::ResizeTooLarge);
        }
        Ok(())
    }
}

/// The size and exactness of the RGB a frame is decoded to.
///
/// The default is full size, exact: libjpeg's accurate integer IDCT and
/// smooth ("fancy") chroma upsampling, what `djpeg` and Pillow produce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DecodeOptions {
    /// Reduce while decoding. libjpeg-turbo does it in the DCT domain
    /// (it computes only the low frequencies: 1/4 costs about half of a
    /// full decode). zune-jpeg cannot: it decodes full size and then
    /// averages each 2x2, 4x4 or 8x8 block (area average, no aliasing),
    /// which costs more than a full decode (about 1.5x at 1/4). The two
    /// methods agree within 49-55 dB PSNR on camera-like pictures; on
    /// synthetic colour bars down to 18-28 dB (DCT scaling is the sharper
    /// filter).
    pub scale: Scale,
    /// Then resize to exactly this size, if given.
    pub resize: Option<Resize>,
    /// libjpeg-turbo's fast integer IDCT and fast (replicating) chroma
    /// upsampling: what GStreamer's `jpegdec` and most video players do,
    /// slightly less exact (43.7 dB PSNR against the exact decode on the
    /// bench's camera-like 1080p frames; down to 26 dB on saturated
    /// colour bars, where replicated chroma shows). At 1/4 and 1/8 of
    /// 4:2:0 it changes nothing: libjpeg-turbo then scales the chroma
    /// straight to the output size (no upsampling) and the scaled IDCTs
    /// have no fast variant. Only with [`Decoder::LibjpegTurbo`]: zune-jpeg
    /// has no fast mode, and asking it for one is an error, not a no-op.
    pub fast: bool,
}

impl DecodeOptions {
    /// Full size, exact (the default).
    pub const FULL: DecodeOptions = DecodeOptions {
        scale: Scale::Full,
        resize: None,
        fast: false,
    };

    setters! {
        with_scale(scale: Scale);
        with_resize(resize: Resize) => Some;
        with_fast(fast: bool);
    }

    /// The size a `source` picture decodes to with these options.
    pub fn output_size(&self, source: RgbSize) -> RgbSize {
        match self.resize {
            Some(r) => RgbSize {
                width: r.width,
                height: r.height,
            },
            None => self.scale.apply(source),
        }
    }

    /// Whether any decoder can honour these options.
    pub fn validate(&self) -> Result<(), DecodeOptionsError> {
        match self.resize {
            Some(resize) => resize.check(),
            None => Ok(()),
        }
    }

    /// Whether `decoder` can honour these options.
    pub fn check(&self, decoder: Decoder) -> Result<(), DecodeOptionsError> {
        self.validate()?;
        if self.fast && decoder != Decoder::LibjpegTurbo {
            return Err(DecodeOptionsError::FastNeedsLibjpegTurbo);
        }
        Ok(())
    }
}

/// Options a decoder cannot honour, or text that is not an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeOptionsError {
    #[error("scale must be 1, 1/2, 1/4 or 1/8")]
    UnknownScale,
    #[error("resize must be WIDTHxHEIGHT, e.g. 480x270")]
    ResizeSyntax,
    #[error("resize width and height must be non-zero")]
    ResizeEmpty,
    #[error("resize width and height must be at most 16384")]
    ResizeTooLarge,
    #[error("fast decode (fast IDCT and upsampling) needs the libjpeg-turbo decoder")]
    FastNeedsLibjpegTurbo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_parse_print_and_round_up() {
        for scale in Scale::ALL {
            assert_eq!(scale.to_string().parse::<Scale>(), Ok(scale));
        }
        assert_eq!("1".parse::<Scale>(), Ok(Scale::Full));
        for bad in ["", "1/3", "2", "1/16", "half"] {
            assert_eq!(bad.parse::<Scale>(), Err(DecodeOptionsError::UnknownScale));
        }
        let hd = RgbSize {
            width: 1920,
            height: 1080,
        };
        let at = |s: Scale, size| {
            let RgbSize { width, height } = s.apply(size);
            (width, height)
        };
        assert_eq!(at(Scale::Quarter, hd), (480, 270));
        assert_eq!(at(Scale::Eighth, hd), (240, 135));
        let odd = RgbSize {
            width: 100,
            height: 75,
        };
        assert_eq!(at(Scale::Eighth, odd), (13, 10));
        assert_eq!(at(Scale::Half, odd), (50, 38));
    }

    #[test]
    fn resize_parses_and_refuses_bad_sizes() {
        assert_eq!("480x270".parse::<Resize>(), Ok(Resize::new(480, 270)));
        assert_eq!("64X48".parse::<Resize>(), Ok(Resize::new(64, 48)));
        for bad in ["480", "x270", "480x", "-1x2", "4.5x3", "480*270"] {
            assert_eq!(
                bad.parse::<Resize>(),
                Err(DecodeOptionsError::ResizeSyntax),
                "{bad}"
            );
        }
        assert_eq!(
            "0x270".parse::<Resize>(),
            Err(DecodeOptionsError::ResizeEmpty)
        );
        assert_eq!(
            "20000x10".parse::<Resize>(),
            Err(DecodeOptionsError::ResizeTooLarge)
        );
    }

    #[test]
    fn options_are_checked_against_the_decoder() {
        let fast = DecodeOptions::default().with_fast(true);
        assert_eq!(
            fast.check(Decoder::Zune),
            Err(DecodeOptionsError::FastNeedsLibjpegTurbo)
        );
        assert_eq!(fast.check(Decoder::LibjpegTurbo), Ok(()));
        let empty = DecodeOptions::default().with_resize(Resize::new(0, 5));
        assert_eq!(
            empty.check(Decoder::Zune),
            Err(DecodeOptionsError::ResizeEmpty)
        );
        let sized = DecodeOptions::default()
            .with_scale(Scale::Quarter)
            .with_resize(Resize::new(224, 224));
        let out = sized.output_size(RgbSize {
            width: 1920,
            height: 1080,
        });
        assert_eq!((out.width, out.height), (224, 224));
    }
}
