//! The native part (`mjpeg_rtp._native`) of the Python package
//! `mjpeg_rtp`: the runtime's multi-camera client for Python, with frames
//! as numpy RGB arrays that own their pooled buffer (no copy), and a
//! capture reader.
//!
//! - [`client`]: `MJPEGRTPClient`, waiting with the GIL released.
//! - [`config`]: `CameraConfig`, checked when made.
//! - [`frame`]: the numpy array and its owner, and `Frame` (metadata).
//! - [`stats`]: a camera's counters as a dict.
//! - [`pcap`]: `read_pcap`, on the command's capture reader.
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
mod pcap;
mod stats;

use pyo3::prelude::*;

/// Names of the JPEG decoders in this build ("zune-jpeg" always;
/// "libjpeg-turbo" with the turbojpeg feature).
#[pyfunction]
fn decoders() -> Vec<&'static str> {
    mjpeg_rtp::Decoder::available().map(|d| d.name()).collect()
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
    module.add_function(wrap_pyfunction!(client::_take_frames_in_rust, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
