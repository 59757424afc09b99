//! The native part (`mjpeg_rtp._native`) of the Python package
//! `mjpeg_rtp`: the runtime's multi-camera client for Python, with frames
//! as numpy RGB arrays that own their pooled buffer (no copy), and a
//! capture reader.
//!
//! - [`client`]: `MJPEGRTPClient`, waiting with the GIL released.
//! - [`config`]: `CameraConfig`, checked when made.
//! - [`frame`]: the numpy array and its owner, and `Frame` (metadata).
//! - [`stats`]: a camera's counters as a dict.
//! - [`options`]: scale, resize, fast, decode, delivery, max_fps as
//!   Python spells them; client defaults and per-camera overrides.
//! - [`pcap`]: `read_pcap`, on the capture library the command uses too.
//! - [`errors`]: exceptions that also inherit the matching built-ins.
//! - [`logs`]: the runtime's logs, delivered to Python's `logging`.
//!
//! No Rust thread ever calls into Python: the runtime's threads only fill
//! queues that Python threads empty.

mod client;
mod config;
mod errors;
mod frame;
mod logs;
mod options;
mod pcap;
mod stats;

use std::cell::RefCell;

use mjpeg_rtp::decode::RgbDecoder;
use pyo3::prelude::*;

/// Names of the JPEG decoders in this build ("zune-jpeg" always;
/// "libjpeg-turbo" with the turbojpeg feature).
#[pyfunction]
fn decoders() -> Vec<&'static str> {
    mjpeg_rtp::Decoder::available().map(|d| d.name()).collect()
}

/// The decoder named `name`, if this build has it.
pub(crate) fn decoder(py: Python<'_>, name: &str) -> PyResult<mjpeg_rtp::Decoder> {
    let decoder: mjpeg_rtp::Decoder = name.parse().map_err(|e| errors::config(py, e))?;
    if !decoder.is_available() {
        return Err(errors::from_runtime(
            py,
            &mjpeg_rtp::Error::DecoderUnavailable(decoder),
        ));
    }
    Ok(decoder)
}

thread_local! {
    /// One decoder of each kind per Python thread that calls `decode`,
    /// made on first use: their scratch buffers are reused across calls.
    static DECODERS: RefCell<Vec<RgbDecoder>> = const { RefCell::new(Vec::new()) };
}

/// Decode the JPEG `jpeg` (bytes) to a new writeable
/// numpy uint8 array (height, width, 3) in RGB order, with the decoders
/// and options a client's cameras use: the same pixels a camera with
/// these options would have handed out. Raises DecodeError (a
/// ValueError) for data that does not decode. The GIL is released while
/// decoding.
#[pyfunction]
#[pyo3(signature = (jpeg, *, scale=None, resize=None, fast=false, decoder="zune-jpeg"))]
fn decode<'py>(
    py: Python<'py>,
    jpeg: &[u8],
    scale: Option<&Bound<'_, PyAny>>,
    resize: Option<(i64, i64)>,
    fast: bool,
    decoder: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let decoder = self::decoder(py, decoder)?;
    let options = options::decode_options(py, scale, resize, fast)?;
    options
        .check(decoder)
        .map_err(|e| errors::config(py, e.to_string()))?;
    let decoded = py.detach(|| {
        DECODERS.with_borrow_mut(|spares| {
            let mut rgb_decoder = match spares.iter().position(|d| d.decoder() == decoder) {
                Some(i) => spares.swap_remove(i),
                None => RgbDecoder::new(decoder)?,
            };
            let mut rgb = Vec::new();
            let result = rgb_decoder.decode_with(jpeg, &options, &mut rgb);
            spares.push(rgb_decoder);
            result.map(|size| (rgb, size))
        })
    });
    let (rgb, size) = decoded.map_err(|e| errors::decode(py, e.to_string()))?;
    Ok(frame::rgb_array(py, frame::Pixels::Owned(rgb), size.height, size.width)?.into_any())
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    logs::install();
    frame::anchor_monotonic(py)?;
    errors::register(module)?;
    module.add_class::<client::Client>()?;
    module.add_class::<client::FrameIterator>()?;
    module.add_class::<config::CameraConfig>()?;
    module.add_class::<frame::Frame>()?;
    module.add_class::<frame::FrameBuffer>()?;
    module.add_class::<pcap::PcapReader>()?;
    module.add_function(wrap_pyfunction!(pcap::read_pcap, module)?)?;
    module.add_function(wrap_pyfunction!(decoders, module)?)?;
    module.add_function(wrap_pyfunction!(decode, module)?)?;
    module.add_function(wrap_pyfunction!(client::_take_frames_in_rust, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
