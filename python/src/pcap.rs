//! `read_pcap`: the frames of a capture file, for building datasets from
//! recordings.
//!
//! The command's own replay (`mjpeg_rtp_capture::replay`: capture
//! reader and demultiplexer) runs on one
//! thread with the decoder, a couple of frames ahead of the consumer
//! (a bounded channel); the iterator takes them with the GIL released.
//! Dropping the iterator ends the thread at its next frame.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, Context};
use mjpeg_rtp::decode::{RgbDecoder, RgbSize};
use mjpeg_rtp::{DecodeOptions, Decoder};
use mjpeg_rtp_capture::replay::{self, Options};
use mjpeg_rtp_core::{FrameInfo, StreamStats};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::errors;
use crate::frame::{rgb_array, Frame, JpegSource, Meta, Pixels};
use crate::logs;
use crate::options;

/// Frames decoded ahead of the consumer.
const AHEAD: usize = 2;
/// Longest wait with the GIL released before signal handlers run.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A complete frame of the capture, decoded unless `decode=False`.
struct Decoded {
    port: u16,
    info: FrameInfo,
    jpeg: Vec<u8>,
    /// The pixels and their (height, width), when decoded.
    rgb: Option<(Vec<u8>, usize, usize)>,
    /// Its stream's counters as of the frame.
    stream: StreamStats,
}

enum Message {
    Frame(Box<Decoded>),
    /// The end of the capture, with the command's JSON summary.
    Done(String),
    Failed(String),
}

/// Iterator of `(rgb, meta)` over the frames of a capture; see
/// `read_pcap`.
#[pyclass(frozen, module = "mjpeg_rtp", name = "PcapReader")]
pub struct PcapReader {
    messages: Mutex<Receiver<Message>>,
    finished: AtomicBool,
    summary: Mutex<Option<Py<PyAny>>>,
}

/// Yield `(rgb, meta)` for every complete frame of the pcap or pcapng
/// capture at `path`, in the order frames complete: each UDP destination
/// port (only `port` when given: an int or several) and within it each
/// SSRC is one stream. `meta.camera_id` is the port as a string;
/// `meta.receive_time` is the capture time. Frames whose JPEG does not
/// decode are skipped and counted in the summary (the `pcap` command's
/// JSON summary as a dict, on the iterator's `summary` once exhausted).
///
/// scale, resize and fast decode as a client's cameras do; decode=False
/// yields `(None, meta)` with the JPEG in `meta.jpeg_data`; max_fps keeps
/// the frames a live camera with that max_fps keeps (by RTP timestamp).
#[pyfunction]
#[pyo3(signature = (
    path, port=None, *, decoder="zune-jpeg", payload_type=None, scale=None, resize=None,
    fast=false, decode=true, max_fps=None
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_pcap(
    py: Python<'_>,
    path: PathBuf,
    port: Option<&Bound<'_, PyAny>>,
    decoder: &str,
    payload_type: Option<u8>,
    scale: Option<&Bound<'_, PyAny>>,
    resize: Option<(i64, i64)>,
    fast: bool,
    decode: bool,
    max_fps: Option<f64>,
) -> PyResult<PcapReader> {
    let decoder = crate::decoder(py, decoder)?;
    let decode_options = options::decode_options(py, scale, resize, fast)?;
    if decode {
        decode_options
            .check(decoder)
            .map_err(|e| errors::config(py, e.to_string()))?;
    }
    let max_fps = max_fps.map(|f| options::max_fps(py, f)).transpose()?;
    if payload_type.is_some_and(|pt| !(96..=127).contains(&pt)) {
        return Err(errors::config(py, "payload_type must be 96..=127".into()));
    }
    let ports = ports(py, port)?;
    // An unreadable file raises the usual OSError (FileNotFoundError...)
    // here rather than at the first frame.
    std::fs::File::open(&path)?;
    let (tx, rx) = sync_channel(AHEAD);
    std::thread::Builder::new()
        .name("mjpeg-rtp-pcap".into())
        .spawn(move || {
            let options = Options {
                ports,
                payload_type,
                max_fps,
                ..Options::default()
            };
            let decoding = decode.then_some((decoder, decode_options));
            let message = match replay(&path, &options, decoding, &tx) {
                Ok(summary) => Message::Done(summary),
                Err(e) => Message::Failed(format!("{e:#}")),
            };
            // An error here means the iterator is gone: no one to tell.
            let _ = tx.send(message);
        })?;
    Ok(PcapReader {
        messages: Mutex::new(rx),
        finished: AtomicBool::new(false),
        summary: Mutex::new(None),
    })
}

/// `port=` as a list of ports (empty: all).
fn ports(py: Python<'_>, port: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u16>> {
    let Some(port) = port else {
        return Ok(Vec::new());
    };
    let values: Vec<i64> = match port.extract::<i64>() {
        Ok(one) => vec![one],
        Err(_) => port.extract()?,
    };
    values
        .into_iter()
        .map(|p| {
            u16::try_from(p)
                .map_err(|_| errors::config(py, format!("port must be 0..=65535, not {p}")))
        })
        .collect()
}

/// Read, demultiplex and (with `decoding`) decode the capture, sending
/// each frame; the summary as JSON at the end.
fn replay(
    path: &Path,
    options: &Options,
    decoding: Option<(Decoder, DecodeOptions)>,
    tx: &SyncSender<Message>,
) -> anyhow::Result<String> {
    let mut rgb_decoder = decoding
        .map(|(decoder, options)| RgbDecoder::new(decoder).map(|d| (d, options)))
        .transpose()?;
    let mut decode_errors: Vec<(replay::Source, u32)> = Vec::new();
    let mut summary = replay::replay(path, options, |frame| {
        let rgb = match rgb_decoder.as_mut() {
            None => None,
            Some((decoder, options)) => {
                let picture = RgbSize {
                    width: usize::from(frame.info.width),
                    height: usize::from(frame.info.height),
                };
                let mut rgb = Vec::new();
                match decoder.decode_with(frame.jpeg, options, &mut rgb) {
                    Ok(s) if s == options.output_size(picture) => Some((rgb, s.height, s.width)),
                    Ok(_) | Err(_) => {
                        decode_errors.push((frame.source, frame.info.ssrc));
                        return Ok(());
                    }
                }
            }
        };
        tx.send(Message::Frame(Box::new(Decoded {
            port: frame.source.port(),
            info: frame.info,
            jpeg: frame.jpeg.to_vec(),
            rgb,
            stream: frame.stream,
        })))
        .map_err(|_| anyhow!("the iterator was dropped"))
    })?;
    for (source, ssrc) in decode_errors {
        summary.count_decode_error(|s| source.is_summarised_by(s, ssrc));
    }
    serde_json::to_string(&summary).context("cannot write the summary")
}

/// Capture time (Unix microseconds) in seconds.
fn seconds(t: mjpeg_rtp_core::Instant) -> f64 {
    // Exact below 2^53 microseconds (year 2255).
    #[allow(clippy::cast_precision_loss)]
    let micros = t.as_micros() as f64;
    micros / 1e6
}

impl PcapReader {
    fn frame<'py>(py: Python<'py>, f: Decoded) -> PyResult<Bound<'py, PyTuple>> {
        let info = &f.info;
        let meta = Meta {
            timestamp: info.timestamp,
            first_sequence: info.first_sequence,
            last_sequence: info.last_sequence,
            width: info.width,
            height: info.height,
            packets_received: f.stream.packets_received,
            packets_lost: f.stream.packets_lost(),
            receive_time: seconds(info.completed),
            first_packet_time: seconds(info.first_arrival),
            receive_monotonic: None,
            ssrc: info.ssrc,
            extended_timestamp: info.extended_timestamp,
            packets: info.packets,
            q: info.q,
            // A capture holds no RTCP the reader follows.
            capture_time: None,
        };
        let camera_id = PyString::new(py, &f.port.to_string()).unbind();
        let meta = Frame::new(camera_id, &meta, JpegSource::Owned(f.jpeg));
        let rgb = match f.rgb {
            Some((pixels, height, width)) => {
                rgb_array(py, Pixels::Owned(pixels), height, width)?.into_any()
            }
            None => py.None().into_bound(py),
        };
        PyTuple::new(py, [rgb, Bound::new(py, meta)?.into_any()])
    }
}

#[pymethods]
impl PcapReader {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        while !self.finished.load(Ordering::Acquire) {
            let message = py.detach(|| {
                self.messages
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recv_timeout(WAIT_SLICE)
            });
            logs::drain(py);
            match message {
                Ok(Message::Frame(f)) => return Self::frame(py, *f).map(Some),
                Ok(Message::Done(json)) => {
                    self.finished.store(true, Ordering::Release);
                    let summary = py.import("json")?.call_method1("loads", (json,))?;
                    *self.summary.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(summary.unbind());
                }
                Ok(Message::Failed(message)) => {
                    self.finished.store(true, Ordering::Release);
                    return Err(errors::capture(py, message));
                }
                Err(RecvTimeoutError::Timeout) => py.check_signals()?,
                Err(RecvTimeoutError::Disconnected) => {
                    self.finished.store(true, Ordering::Release);
                    return Err(errors::capture(
                        py,
                        "the capture reader stopped unexpectedly".into(),
                    ));
                }
            }
        }
        Ok(None)
    }

    /// The `pcap` command's JSON summary of the capture as a dict (per
    /// stream counters, decode errors, what else the file held), once
    /// the iterator is exhausted; None before.
    #[getter]
    fn summary(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.summary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|s| s.clone_ref(py))
    }
}
