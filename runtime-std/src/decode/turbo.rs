//! libjpeg-turbo through its TurboJPEG C API, called directly: the
//! `turbojpeg` crate (0.5) always passes `flags = 0` to `tjDecompress2`,
//! so it can scale (by asking for a smaller output) but cannot ask for
//! the fast IDCT or fast upsampling. The raw bindings it re-exports
//! (`turbojpeg::raw`, i.e. `turbojpeg-sys`) can.

use std::ffi::{c_int, c_ulong, CStr};
use std::ptr::NonNull;

use turbojpeg::raw;

use super::options::DecodeOptions;
use super::{DecodeError, RgbSize, MAX_SIDE};

/// A TurboJPEG decompression handle (its working memory, kept per
/// thread).
///
/// Invariant: `handle` came from `tjInitDecompress`, is destroyed only
/// by `Drop`, and is used by one thread at a time (`&mut self`).
pub(super) struct TurboDecompressor {
    handle: NonNull<std::ffi::c_void>,
}

// SAFETY: a TurboJPEG handle holds no thread-local state; it may move
// between threads as long as one thread uses it at a time, which
// `&mut self` on every call guarantees.
unsafe impl Send for TurboDecompressor {}

impl TurboDecompressor {
    pub(super) fn new() -> Result<Self, DecodeError> {
        // SAFETY: no arguments; a null return is checked.
        let handle = unsafe { raw::tjInitDecompress() };
        NonNull::new(handle)
            .map(|handle| TurboDecompressor { handle })
            .ok_or_else(|| DecodeError::new("libjpeg-turbo: cannot create a decompressor"))
    }

    fn error(&self) -> DecodeError {
        // SAFETY: the handle is live; tjGetErrorStr2 returns a pointer to
        // a NUL-terminated string inside the handle (or a static one),
        // valid until the next call on it, and copied out at once.
        let message = unsafe { CStr::from_ptr(raw::tjGetErrorStr2(self.handle.as_ptr())) };
        DecodeError::new(format!("libjpeg-turbo: {}", message.to_string_lossy()))
    }

    /// The picture size in `jpeg`'s headers.
    fn read_size(&mut self, jpeg: &[u8]) -> Result<RgbSize, DecodeError> {
        let len = c_ulong::try_from(jpeg.len()).map_err(|_| DecodeError::new("JPEG too large"))?;
        let (mut width, mut height, mut subsamp, mut colorspace) = (0, 0, 0, 0);
        // SAFETY: the handle is live; `jpeg` is readable for `len` bytes;
        // the four out-pointers are to live locals.
        let status = unsafe {
            raw::tjDecompressHeader3(
                self.handle.as_ptr(),
                jpeg.as_ptr(),
                len,
                &mut width,
                &mut height,
                &mut subsamp,
                &mut colorspace,
            )
        };
        if status != 0 {
            return Err(self.error());
        }
        let side = |v: c_int| {
            usize::try_from(v)
                .ok()
                .filter(|v| (1..=MAX_SIDE).contains(v))
        };
        match (side(width), side(height)) {
            (Some(width), Some(height)) => Ok(RgbSize { width, height }),
            _ => Err(DecodeError::new(format!(
                "{width}x{height} is outside 1..={MAX_SIDE} per side"
            ))),
        }
    }

    /// Decode `jpeg` at `options.scale` (DCT-domain scaling), with the
    /// fast IDCT and upsampling when `options.fast`, into `rgb` (resized
    /// to the scaled H*W*3). `options.resize` is the caller's step.
    pub(super) fn decode(
        &mut self,
        jpeg: &[u8],
        options: &DecodeOptions,
        rgb: &mut Vec<u8>,
    ) -> Result<RgbSize, DecodeError> {
        let full = self.read_size(jpeg)?;
        // Asking tjDecompress2 for a smaller size makes it pick the
        // largest of its scaling factors (2/1, 15/8, ..., 1/8) whose
        // TJSCALED size fits: for 1/2, 1/4, 1/8 that is exactly the
        // factor, as `Scale::apply` rounds the way TJSCALED does.
        let size = options.scale.apply(full);
        rgb.resize(size.rgb_len(), 0);
        let len = c_ulong::try_from(jpeg.len()).map_err(|_| DecodeError::new("JPEG too large"))?;
        // MAX_SIDE bounds both sides, so these fit in a c_int.
        let (width, height) = (size.width as c_int, size.height as c_int);
        let mut flags = 0;
        if options.fast {
            flags |= (raw::TJFLAG_FASTDCT | raw::TJFLAG_FASTUPSAMPLE) as c_int;
        }
        // SAFETY: the handle is live; `jpeg` is readable for `len` bytes;
        // `rgb` is writable for exactly pitch * height = width * 3 *
        // height bytes, and tjDecompress2 writes at most `height` rows of
        // `pitch` bytes: it picks a scaling factor whose output fits the
        // requested size. (That the factor gives exactly this size, so
        // that no row is left unwritten, is checked by
        // `libjpeg_turbo_picks_exactly_the_requested_scale` and, against
        // djpeg, by cli/tests/scale.rs.)
        let status = unsafe {
            raw::tjDecompress2(
                self.handle.as_ptr(),
                jpeg.as_ptr(),
                len,
                rgb.as_mut_ptr(),
                width,
                width * 3,
                height,
                turbojpeg::PixelFormat::RGB as c_int,
                flags,
            )
        };
        // A warning (say, "premature end of data segment": a truncated
        // scan) is an error here too: TurboJPEG 2.x returns -1 for it,
        // and the picture would be partly grey.
        if status != 0 {
            return Err(self.error());
        }
        Ok(size)
    }
}

impl Drop for TurboDecompressor {
    fn drop(&mut self) {
        // SAFETY: the handle is live and never used again.
        unsafe {
            raw::tjDestroy(self.handle.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::options::Scale;
    use crate::decode::tests::sample_jpeg;

    /// tjDecompress2, asked for `Scale::apply`'s size, picks the largest
    /// of its factors k/8 (k = 16 down to 1) whose TJSCALED size,
    /// ceil(dim * k / 8), fits: that factor's size must be exactly the
    /// requested one, for every scale and awkward sizes too.
    #[test]
    fn libjpeg_turbo_picks_exactly_the_requested_scale() {
        let tj_scaled = |dim: usize, k: usize| (dim * k).div_ceil(8);
        for w in (1..=64).chain([1919, 1920, 2040, 4095]) {
            for h in [1, 7, 13, 135, 1080, 1081] {
                for scale in Scale::ALL {
                    let want = scale.apply(RgbSize {
                        width: w,
                        height: h,
                    });
                    let k = (1..=16)
                        .rev()
                        .find(|&k| tj_scaled(w, k) <= want.width && tj_scaled(h, k) <= want.height)
                        .unwrap();
                    assert_eq!(
                        (tj_scaled(w, k), tj_scaled(h, k)),
                        (want.width, want.height),
                        "{w}x{h} at {scale}"
                    );
                }
            }
        }
    }

    /// Decoded sizes are `Scale::apply`'s, odd ones included, and full
    /// size gives the safe crate's bytes (it passes flags 0).
    #[test]
    fn scaled_decodes_have_the_requested_size() {
        let mut d = TurboDecompressor::new().unwrap();
        for (w, h) in [(64, 48), (100, 75), (13, 7), (1, 1)] {
            let jpeg = sample_jpeg(w, h);
            for scale in Scale::ALL {
                let mut rgb = Vec::new();
                let options = DecodeOptions::default().with_scale(scale);
                let size = d.decode(&jpeg, &options, &mut rgb).unwrap();
                let expected = scale.apply(RgbSize {
                    width: w.into(),
                    height: h.into(),
                });
                assert_eq!(size, expected, "{w}x{h} at {scale}");
                assert_eq!(rgb.len(), size.rgb_len());
                if scale == Scale::Full {
                    let image = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB).unwrap();
                    assert_eq!(image.pixels, rgb);
                }
            }
        }
    }

    #[test]
    fn fast_decode_differs_a_little() {
        let jpeg = sample_jpeg(64, 48);
        let mut d = TurboDecompressor::new().unwrap();
        let (mut exact, mut fast) = (Vec::new(), Vec::new());
        d.decode(&jpeg, &DecodeOptions::default(), &mut exact)
            .unwrap();
        d.decode(&jpeg, &DecodeOptions::default().with_fast(true), &mut fast)
            .unwrap();
        assert_eq!(exact.len(), fast.len());
        assert_ne!(exact, fast, "TJFLAG_FASTDCT/FASTUPSAMPLE had no effect");
    }
}
