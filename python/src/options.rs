//! What the consumer takes, as Python spells it: `scale`, `resize`,
//! `fast` (decode at the model's size), `decode` (RGB or JPEG only),
//! `delivery` ("queue" or "latest") and `max_fps`. The client holds the
//! defaults ([`Defaults`]); a camera may set any of them
//! ([`Overrides`]); `add_camera` settles them into the runtime's
//! camera settings ([`Overrides::settle`]).

use mjpeg_rtp::{DecodeOptions, Delivery, Resize, Scale};
use pyo3::prelude::*;

use crate::errors;

/// `scale=`: "1", "1/2", "1/4", "1/8" (or 1).
pub(crate) fn scale(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Scale> {
    let text = match value.extract::<i64>() {
        Ok(1) => return Ok(Scale::Full),
        Ok(n) => n.to_string(),
        Err(_) => value.extract::<String>().map_err(|_| {
            errors::config(
                py,
                "scale must be \"1\", \"1/2\", \"1/4\" or \"1/8\"".into(),
            )
        })?,
    };
    text.parse()
        .map_err(|e: mjpeg_rtp::DecodeOptionsError| errors::config(py, e.to_string()))
}

/// `resize=`: (width, height).
pub(crate) fn resize(py: Python<'_>, value: (i64, i64)) -> PyResult<Resize> {
    let (w, h) = value;
    let side = |v: i64| usize::try_from(v).ok().filter(|&v| v > 0);
    let (Some(width), Some(height)) = (side(w), side(h)) else {
        return Err(errors::config(
            py,
            format!("resize must be (width, height) with both positive, not ({w}, {h})"),
        ));
    };
    let resize = Resize::new(width, height);
    DecodeOptions::default()
        .with_resize(resize)
        .validate()
        .map_err(|e| errors::config(py, e.to_string()))?;
    Ok(resize)
}

/// `delivery=`: "queue" or "latest".
pub(crate) fn delivery(py: Python<'_>, value: &str) -> PyResult<Delivery> {
    value
        .parse()
        .map_err(|e: &str| errors::config(py, format!("{e}, not {value:?}")))
}

/// The Python spelling of `delivery`.
pub(crate) fn delivery_name(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Latest => "latest",
        _ => "queue",
    }
}

/// `max_fps=`: 0.001..=1000.
pub(crate) fn max_fps(py: Python<'_>, value: f64) -> PyResult<f64> {
    match mjpeg_rtp::max_fps_thinning(value) {
        Some(_) => Ok(value),
        None => Err(errors::config(
            py,
            format!("max_fps must be 0.001..=1000 frames per second, not {value}"),
        )),
    }
}

/// The decode options `scale`, `resize` and `fast` make.
pub(crate) fn decode_options(
    py: Python<'_>,
    scale_value: Option<&Bound<'_, PyAny>>,
    resize_value: Option<(i64, i64)>,
    fast: bool,
) -> PyResult<DecodeOptions> {
    Ok(DecodeOptions {
        scale: scale_value
            .map(|s| scale(py, s))
            .transpose()?
            .unwrap_or_default(),
        resize: resize_value.map(|r| resize(py, r)).transpose()?,
        fast,
    })
}

/// The client's defaults, for every camera that sets none of its own.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Defaults {
    pub(crate) decode_options: DecodeOptions,
    pub(crate) decode: bool,
    pub(crate) delivery: Delivery,
    pub(crate) max_fps: Option<f64>,
}

/// What one camera sets for itself (`None`: the client's default).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Overrides {
    pub(crate) scale: Option<Scale>,
    pub(crate) resize: Option<Resize>,
    pub(crate) fast: Option<bool>,
    pub(crate) decode: Option<bool>,
    pub(crate) delivery: Option<Delivery>,
    pub(crate) max_fps: Option<f64>,
}

impl Overrides {
    /// The camera's settings with `defaults` filled in where it set none.
    pub(crate) fn settle(&self, defaults: &Defaults, config: &mut mjpeg_rtp::CameraConfig) {
        let base = defaults.decode_options;
        config.decode = Some(DecodeOptions {
            scale: self.scale.unwrap_or(base.scale),
            resize: self.resize.or(base.resize),
            fast: self.fast.unwrap_or(base.fast),
        });
        config.decode_rgb = Some(self.decode.unwrap_or(defaults.decode));
        config.delivery = self.delivery.unwrap_or(defaults.delivery);
        config.max_fps = self.max_fps.or(defaults.max_fps);
    }
}
