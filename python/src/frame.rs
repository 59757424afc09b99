//! What `get_frame` and `read_pcap` hand out: a numpy RGB array that owns
//! the frame's pixel buffer, and a `Frame` of metadata.
//!
//! No copy of the pixels: the array is a view of the buffer the decoder
//! wrote, and its `base` is a [`FrameBuffer`] holding that buffer. When
//! the last view dies the buffer goes back to its camera's pool (the
//! pool is reference-counted, so this also works after the client is
//! stopped or gone).

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mjpeg_rtp::{JpegBuffer, RgbBuffer};
use numpy::ndarray::ArrayView3;
use numpy::PyArray3;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// The owner of a frame's RGB pixels: the `base` of the numpy array.
///
/// It exposes nothing of the pixels itself; the array is the one view.
#[pyclass(frozen, module = "mjpeg_rtp", name = "FrameBuffer")]
pub struct FrameBuffer {
    /// Never read or written from Rust once the array exists: numpy owns
    /// the bytes' contents; this only keeps the allocation alive and
    /// recycles it on drop.
    pixels: Pixels,
    /// The process that made it (see `Drop`).
    process: u32,
}

pub(crate) enum Pixels {
    /// From a client: back to the camera's pool on drop.
    Pooled(RgbBuffer),
    /// From a capture: freed on drop.
    Owned(Vec<u8>),
}

impl Pixels {
    fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            Pixels::Pooled(b) => b,
            Pixels::Owned(v) => v,
        }
    }
}

#[pymethods]
impl FrameBuffer {
    /// Size of the pixel buffer in bytes (height * width * 3).
    #[getter]
    fn nbytes(&self) -> usize {
        match &self.pixels {
            Pixels::Pooled(b) => b.len(),
            Pixels::Owned(v) => v.len(),
        }
    }

    fn __repr__(&self) -> String {
        format!("<FrameBuffer of {} bytes>", self.nbytes())
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        // In a forked child, the pool's lock may have been held at fork()
        // by a thread that does not exist there: leak the buffer rather
        // than risk waiting on that lock forever.
        if self.process != std::process::id() {
            std::mem::forget(std::mem::replace(
                &mut self.pixels,
                Pixels::Owned(Vec::new()),
            ));
        }
    }
}

/// The `(height, width, 3)` uint8 array viewing `pixels`, C-contiguous
/// and writeable, owning them through its base.
pub(crate) fn rgb_array(
    py: Python<'_>,
    mut pixels: Pixels,
    height: usize,
    width: usize,
) -> PyResult<Bound<'_, PyArray3<u8>>> {
    let shape = (height, width, 3);
    let bytes = pixels.as_mut_slice();
    if bytes.len() != shape.0 * shape.1 * shape.2 {
        return Err(PyValueError::new_err(format!(
            "{} bytes of pixels for a {width}x{height} frame",
            bytes.len()
        )));
    }
    let data = bytes.as_mut_ptr();
    // Moving the buffer into the owner moves its handle, not the heap
    // memory `data` points to.
    let owner = Bound::new(
        py,
        FrameBuffer {
            pixels,
            process: std::process::id(),
        },
    )?;
    // SAFETY: `data` points to `height * width * 3` initialized bytes
    // (checked above) on the heap, owned by `owner`, which never touches
    // them again and frees them only when dropped. The array holds
    // `owner` as its base, so the bytes outlive every view of them; no
    // Rust reference to them exists while numpy reads or writes them.
    let array = unsafe {
        let view = ArrayView3::from_shape_ptr(shape, data.cast_const());
        PyArray3::borrow_from_array(&view, owner.into_any())
    };
    Ok(array)
}

/// Metadata of one frame (read-only).
#[pyclass(frozen, module = "mjpeg_rtp", name = "Frame")]
pub struct Frame {
    /// The camera's id (for frames of a capture: the UDP destination port).
    #[pyo3(get)]
    camera_id: Py<PyString>,
    /// RTP timestamp (90 kHz clock).
    #[pyo3(get)]
    timestamp: u32,
    /// RTP sequence number of the frame's first packet (fragment offset 0).
    #[pyo3(get)]
    sequence_start: u16,
    /// RTP sequence number of the frame's last packet (the marker).
    #[pyo3(get)]
    sequence_end: u16,
    /// Picture width in pixels.
    #[pyo3(get)]
    width: u16,
    /// Picture height in pixels.
    #[pyo3(get)]
    height: u16,
    /// The rebuilt JPEG (read through the `jpeg_data` getter).
    jpeg: Mutex<Jpeg>,
    /// Its length, for `__repr__` without making the bytes.
    jpeg_len: usize,
    /// The process that made it (see `Drop`).
    process: u32,
    /// Distinct packets the stream delivered so far (this frame's included).
    #[pyo3(get)]
    packets_received: u64,
    /// Packets the stream lost so far (RFC 3550: expected minus received).
    #[pyo3(get)]
    packets_lost: u64,
    /// When the frame completed, Unix seconds (capture time for a capture).
    #[pyo3(get)]
    receive_time: f64,
    /// When its first packet arrived, Unix seconds.
    #[pyo3(get)]
    first_packet_time: f64,
    /// When the frame completed on the time.monotonic() clock (None for a
    /// capture).
    #[pyo3(get)]
    receive_monotonic: Option<f64>,
    /// RTP SSRC of the stream.
    #[pyo3(get)]
    ssrc: u32,
    /// The RTP timestamp extended across wrap-around.
    #[pyo3(get)]
    extended_timestamp: u64,
    /// Packets the frame was made of.
    #[pyo3(get)]
    packets: u32,
    /// RFC 2435 Q of the frame (255: quantization tables sent in-band).
    #[pyo3(get)]
    q: u8,
    /// When the camera captured the frame, Unix seconds, from its RTCP
    /// sender reports (RTSP cameras; UDP cameras with rtcp=True); None
    /// until two of them agree, and for a capture.
    #[pyo3(get)]
    capture_time: Option<f64>,
}

/// Where a frame's JPEG is until Python asks for it.
pub(crate) enum JpegSource {
    /// A live client's pooled buffer (back to the camera's pool once the
    /// bytes are made or the frame dies).
    Pooled(JpegBuffer),
    /// A capture's copy.
    Owned(Vec<u8>),
}

impl JpegSource {
    fn as_slice(&self) -> &[u8] {
        match self {
            JpegSource::Pooled(b) => b,
            JpegSource::Owned(v) => v,
        }
    }
}

/// A frame's JPEG: not a Python object until first read, then always the
/// same `bytes`.
enum Jpeg {
    Pending(JpegSource),
    Made(Py<PyBytes>),
}

/// Everything of a [`Frame`] but the Python objects, from either source.
pub(crate) struct Meta {
    pub(crate) timestamp: u32,
    pub(crate) first_sequence: u16,
    pub(crate) last_sequence: u16,
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) packets_received: u64,
    pub(crate) packets_lost: u64,
    pub(crate) receive_time: f64,
    pub(crate) first_packet_time: f64,
    pub(crate) receive_monotonic: Option<f64>,
    pub(crate) ssrc: u32,
    pub(crate) extended_timestamp: u64,
    pub(crate) packets: u32,
    pub(crate) q: u8,
    pub(crate) capture_time: Option<f64>,
}

impl Meta {
    /// The metadata of a frame of a live client.
    pub(crate) fn of_runtime(frame: &mjpeg_rtp::Frame) -> Self {
        let receive_time = unix_seconds(frame.received_at_system);
        let assembly = frame.received_at.duration_since(frame.first_packet_at);
        Meta {
            timestamp: frame.timestamp,
            first_sequence: frame.first_sequence,
            last_sequence: frame.last_sequence,
            width: frame.width,
            height: frame.height,
            packets_received: frame.packets_received,
            packets_lost: frame.packets_lost,
            receive_time,
            first_packet_time: receive_time - assembly.as_secs_f64(),
            receive_monotonic: monotonic_seconds(frame.received_at),
            ssrc: frame.ssrc,
            extended_timestamp: frame.extended_timestamp,
            packets: frame.packets,
            q: frame.q,
            capture_time: frame.capture_time.map(unix_seconds),
        }
    }
}

impl Frame {
    pub(crate) fn new(camera_id: Py<PyString>, meta: &Meta, jpeg: JpegSource) -> Self {
        Frame {
            camera_id,
            timestamp: meta.timestamp,
            sequence_start: meta.first_sequence,
            sequence_end: meta.last_sequence,
            width: meta.width,
            height: meta.height,
            jpeg_len: jpeg.as_slice().len(),
            jpeg: Mutex::new(Jpeg::Pending(jpeg)),
            process: std::process::id(),
            packets_received: meta.packets_received,
            packets_lost: meta.packets_lost,
            receive_time: meta.receive_time,
            first_packet_time: meta.first_packet_time,
            receive_monotonic: meta.receive_monotonic,
            ssrc: meta.ssrc,
            extended_timestamp: meta.extended_timestamp,
            packets: meta.packets,
            q: meta.q,
            capture_time: meta.capture_time,
        }
    }
}

#[pymethods]
impl Frame {
    /// The rebuilt JPEG, SOI to EOI, as bytes: made on first read (no
    /// copy into Python for a frame whose JPEG nobody reads), the same
    /// object on every read after.
    #[getter]
    fn jpeg_data(&self, py: Python<'_>) -> Py<PyBytes> {
        let mut jpeg = self.jpeg.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes = match &*jpeg {
            Jpeg::Made(bytes) => return bytes.clone_ref(py),
            Jpeg::Pending(source) => PyBytes::new(py, source.as_slice()).unbind(),
        };
        // The pooled buffer goes back to its pool here.
        *jpeg = Jpeg::Made(bytes.clone_ref(py));
        bytes
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Frame(camera_id={}, timestamp={}, {}x{}, sequence {}..{}, packets_lost={}, \
             jpeg_data=<{} bytes>)",
            self.camera_id
                .bind(py)
                .repr()
                .map_or_else(|_| String::new(), |r| r.to_string()),
            self.timestamp,
            self.width,
            self.height,
            self.sequence_start,
            self.sequence_end,
            self.packets_lost,
            self.jpeg_len
        )
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // As for `FrameBuffer`: in a forked child the pool's lock may have
        // been held at fork() by a thread that does not exist there, so an
        // unread pooled JPEG is leaked rather than given back.
        if self.process != std::process::id() {
            let jpeg = self.jpeg.get_mut().unwrap_or_else(PoisonError::into_inner);
            if let Jpeg::Pending(JpegSource::Pooled(_)) = jpeg {
                std::mem::forget(std::mem::replace(
                    jpeg,
                    Jpeg::Pending(JpegSource::Owned(Vec::new())),
                ));
            }
        }
    }
}

/// Unix seconds of `t`.
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One instant read on both clocks, so that a Rust [`Instant`] can be
/// said on Python's `time.monotonic()` clock without a call into Python
/// per frame. Both are the system's monotonic clock (CLOCK_MONOTONIC on
/// Linux), so the offset holds for the life of the process.
static MONOTONIC_ANCHOR: OnceLock<(Instant, f64)> = OnceLock::new();

/// Read the anchor; once, at module import.
pub(crate) fn anchor_monotonic(py: Python<'_>) -> PyResult<()> {
    let python_now: f64 = py.import("time")?.call_method0("monotonic")?.extract()?;
    MONOTONIC_ANCHOR.get_or_init(|| (Instant::now(), python_now));
    Ok(())
}

/// `t` in `time.monotonic()` seconds (None before the anchor is read).
pub(crate) fn monotonic_seconds(t: Instant) -> Option<f64> {
    let (anchor, seconds) = MONOTONIC_ANCHOR.get()?;
    Some(match t.checked_duration_since(*anchor) {
        Some(after) => seconds + after.as_secs_f64(),
        None => seconds - anchor.duration_since(t).as_secs_f64(),
    })
}
