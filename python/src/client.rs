//! `MJPEGRTPClient`: the runtime's [`mjpeg_rtp::Client`] for Python.
//!
//! Waiting never holds the GIL: `get_frame` waits in the runtime in
//! slices of [`WAIT_SLICE`] with the GIL released, and between slices
//! takes the GIL back only to let Python run its signal handlers (so
//! Ctrl-C raises `KeyboardInterrupt` within a slice). `stop()` from any
//! thread wakes every waiter at once (the runtime closes its output).
//!
//! Locking: the runtime client sits in a read-write lock taken only with
//! the GIL released, so a thread waiting for the lock never holds the GIL
//! another thread needs. Waiters and `stop()` share it; `add_camera` and
//! `start` take it alone, waiting at most one slice for waiters.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use mjpeg_rtp::{CameraStats, ClientOptions, Decoder};
use mjpeg_rtp_uring::Io;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::config::CameraConfig;
use crate::errors;
use crate::frame::{rgb_array, Frame, JpegSource, Meta, Pixels};
use crate::logs;
use crate::options::{self, Defaults};
use crate::stats::stats_dict;

/// Longest wait with the GIL released before Python's signal handlers
/// get a chance to run.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// What the client knows of a camera besides the runtime's settings.
struct Camera {
    id: String,
    /// The id as a Python string, made once rather than per frame.
    py_id: Py<PyString>,
    expected_size: Option<(u16, u16)>,
    /// A frame of another size was logged (once per camera).
    size_warned: AtomicBool,
}

/// Receives MJPEG over RTP from any number of cameras and hands out
/// decoded frames as numpy RGB arrays.
///
/// Add cameras (CameraConfig), start(), take frames with get_frame() or
/// frames(), stop() (or use it as a context manager, which stops on
/// exit). Create it in the process that uses it: after fork() the
/// child's copy raises StateError (its threads stayed in the parent).
#[pyclass(frozen, module = "mjpeg_rtp", name = "MJPEGRTPClient")]
pub struct Client {
    /// `None` only once dropped in a forked child (see `Drop`).
    runtime: RwLock<Option<mjpeg_rtp::Client>>,
    cameras: Mutex<Vec<Camera>>,
    decoder: Decoder,
    /// The receive backend: the one chosen ("std" where io="uring" fell
    /// back already), then from start() the one receiving.
    io: Mutex<&'static str>,
    /// What every camera takes unless its CameraConfig says otherwise.
    defaults: Defaults,
    started: AtomicBool,
    stopped: AtomicBool,
    /// The process that made the client: its threads live there.
    pid: u32,
}

fn read(
    lock: &RwLock<Option<mjpeg_rtp::Client>>,
) -> RwLockReadGuard<'_, Option<mjpeg_rtp::Client>> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(
    lock: &RwLock<Option<mjpeg_rtp::Client>>,
) -> RwLockWriteGuard<'_, Option<mjpeg_rtp::Client>> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The wait's end: `None` waits until a frame comes or the client stops.
fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    let Some(seconds) = timeout else {
        return Ok(None);
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(PyValueError::new_err(
            "timeout must be a non-negative number or None",
        ));
    }
    // A timeout too long for a Duration is as good as none.
    Ok(Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|d| Instant::now().checked_add(d)))
}

impl Client {
    fn cameras(&self) -> std::sync::MutexGuard<'_, Vec<Camera>> {
        self.cameras.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuse use from a forked child, whose copy of the client has no
    /// threads behind it.
    fn check_process(&self, py: Python<'_>) -> PyResult<()> {
        if std::process::id() == self.pid {
            Ok(())
        } else {
            Err(errors::state(
                py,
                "this client was created in another process (before fork()): create the \
                 client in the process that uses it",
            ))
        }
    }

    fn check_camera(&self, py: Python<'_>, camera_id: &str) -> PyResult<()> {
        if self.cameras().iter().any(|c| c.id == camera_id) {
            Ok(())
        } else {
            Err(errors::unknown_camera(py, camera_id))
        }
    }

    /// The next frame of `camera_id` (any camera: `None`), waiting until
    /// `deadline`, the GIL released.
    fn wait_frame(
        &self,
        py: Python<'_>,
        camera_id: Option<&str>,
        deadline: Option<Instant>,
    ) -> PyResult<Option<mjpeg_rtp::Frame>> {
        self.wait_for(
            py,
            deadline,
            |client, slice| match camera_id {
                Some(id) => client.get_frame(id, slice),
                None => client.next_frame(slice),
            },
            Option::is_some,
        )
    }

    /// Ask `take` in slices of WAIT_SLICE, the GIL released, until what
    /// it gives is `got`, the client is stopped (and drained), or
    /// `deadline` passes; Python's signal handlers run between slices.
    /// Returns the last answer (the default without a runtime).
    fn wait_for<T: Default + Send>(
        &self,
        py: Python<'_>,
        deadline: Option<Instant>,
        take: impl Fn(&mjpeg_rtp::Client, Duration) -> T + Sync,
        got: impl Fn(&T) -> bool,
    ) -> PyResult<T> {
        loop {
            let slice = deadline.map_or(WAIT_SLICE, |d| {
                d.saturating_duration_since(Instant::now()).min(WAIT_SLICE)
            });
            let answer = py.detach(|| {
                read(&self.runtime)
                    .as_ref()
                    .map_or_else(T::default, |client| take(client, slice))
            });
            logs::drain(py);
            if got(&answer)
                || self.stopped.load(Ordering::Acquire)
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Ok(answer);
            }
            py.check_signals()?;
        }
    }

    /// The `(rgb, meta)` pair of a frame of this client.
    fn to_python<'py>(
        &self,
        py: Python<'py>,
        frame: mjpeg_rtp::Frame,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let (camera_id, mismatch) = {
            let cameras = self.cameras();
            let camera = cameras
                .iter()
                .find(|c| c.id == frame.camera_id())
                .ok_or_else(|| errors::unknown_camera(py, frame.camera_id()))?;
            let mismatch = camera
                .expected_size
                .filter(|&size| size != (frame.width, frame.height))
                .filter(|_| !camera.size_warned.swap(true, Ordering::Relaxed));
            (camera.py_id.clone_ref(py), mismatch)
        };
        if let Some((w, h)) = mismatch {
            let message = format!(
                "camera {:?} sends {}x{} frames, not the {w}x{h} configured; they are delivered \
                 as sent",
                frame.camera_id(),
                frame.width,
                frame.height
            );
            py.import("logging")?
                .call_method1("getLogger", ("mjpeg_rtp",))?
                .call_method1("warning", ("%s", message))?;
        }
        let meta = Meta::of_runtime(&frame);
        let (height, width, _) = frame.shape();
        let has_rgb = frame.has_rgb();
        let (pixels, jpeg) = frame.into_buffers();
        let meta = Frame::new(camera_id, &meta, JpegSource::Pooled(jpeg));
        let rgb = match has_rgb {
            true => rgb_array(py, Pixels::Pooled(pixels), height, width)?.into_any(),
            false => py.None().into_bound(py),
        };
        PyTuple::new(py, [rgb, Bound::new(py, meta)?.into_any()])
    }
}

#[pymethods]
impl Client {
    /// decode_threads: 0 for one per CPU (none are started when every
    /// camera has delivery="latest": its frames decode on the taker's
    /// thread); also the most threads get_frames() decodes a batch on.
    /// decoder: "zune-jpeg" (the
    /// default, pure Rust) or "libjpeg-turbo" (builds with the turbojpeg
    /// feature; see mjpeg_rtp.decoders()). io: "std" (blocking sockets)
    /// or "uring" (Linux io_uring multishot receive; falls back to "std",
    /// with one logged warning, where the kernel refuses it). gro=False
    /// receives without UDP GRO (Linux): more receive CPU, and
    /// kernel_drops counted per datagram instead of per dropped run.
    ///
    /// The other keywords are every camera's defaults (a CameraConfig
    /// may set its own): scale ("1", "1/2", "1/4", "1/8") and resize
    /// ((width, height)) decode at the model's size, fast takes
    /// libjpeg-turbo's fast IDCT; decode=False hands out JPEG only;
    /// delivery="latest" keeps only the newest frame, decoded when taken;
    /// max_fps thins frames by RTP timestamp before decode.
    #[new]
    #[pyo3(signature = (
        decode_threads=0, decoder="zune-jpeg", *, scale=None, resize=None, fast=false,
        decode=true, delivery="queue", max_fps=None, io="std", gro=true
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        decode_threads: usize,
        decoder: &str,
        scale: Option<&Bound<'_, PyAny>>,
        resize: Option<(i64, i64)>,
        fast: bool,
        decode: bool,
        delivery: &str,
        max_fps: Option<f64>,
        io: &str,
        gro: bool,
    ) -> PyResult<Self> {
        let decoder: Decoder = decoder.parse().map_err(|e| errors::config(py, e))?;
        let io = match io {
            "std" => Io::Std,
            "uring" => Io::Uring,
            other => {
                return Err(errors::config(
                    py,
                    format!("io must be \"std\" or \"uring\", not {other:?}"),
                ))
            }
        };
        let defaults = Defaults {
            decode_options: options::decode_options(py, scale, resize, fast)?,
            decode,
            delivery: options::delivery(py, delivery)?,
            max_fps: max_fps.map(|f| options::max_fps(py, f)).transpose()?,
        };
        let mut client = mjpeg_rtp::Client::new(ClientOptions {
            decode_threads,
            backend: mjpeg_rtp_uring::backend_with_gro(io, gro),
        });
        logs::drain(py);
        client
            .set_decoder(decoder)
            .map_err(|e| errors::from_runtime(py, &e))?;
        Ok(Client {
            io: Mutex::new(client.backend_name()),
            runtime: RwLock::new(Some(client)),
            cameras: Mutex::new(Vec::new()),
            decoder,
            defaults,
            started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            pid: std::process::id(),
        })
    }

    /// Add a camera and bind its socket now (so a port in use raises
    /// BindError here). Only before start().
    fn add_camera(&self, py: Python<'_>, config: &Bound<'_, CameraConfig>) -> PyResult<()> {
        self.check_process(py)?;
        let config = {
            let given = config.get();
            let mut inner = given.inner.clone();
            given.overrides.settle(&self.defaults, &mut inner);
            inner
        };
        let id = config.id.clone();
        let expected_size = config.expected_size;
        let result = py.detach(|| match write(&self.runtime).as_mut() {
            Some(client) => client.add_camera(config),
            None => Err(mjpeg_rtp::Error::Stopped),
        });
        logs::drain(py);
        result.map_err(|e| errors::from_runtime(py, &e))?;
        self.cameras().push(Camera {
            py_id: PyString::new(py, &id).unbind(),
            id,
            expected_size,
            size_warned: AtomicBool::new(false),
        });
        Ok(())
    }

    /// Start receiving and decoding. Only once.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        self.check_process(py)?;
        let result = py.detach(|| match write(&self.runtime).as_mut() {
            Some(client) => client.start().map(|()| client.backend_name()),
            None => Err(mjpeg_rtp::Error::Stopped),
        });
        logs::drain(py);
        let receiving = result.map_err(|e| errors::from_runtime(py, &e))?;
        *self.io.lock().unwrap_or_else(PoisonError::into_inner) = receiving;
        self.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Stop receiving and decoding, and wake every thread waiting in
    /// get_frame(). Frames already decoded can still be taken. Arrays
    /// already handed out stay valid. Idempotent; any thread.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.check_process(py)?;
        self.stopped.store(true, Ordering::Release);
        py.detach(|| {
            if let Some(client) = read(&self.runtime).as_ref() {
                client.stop();
            }
        });
        logs::drain(py);
        Ok(())
    }

    /// The next frame of camera_id (of any camera when None, the one
    /// waiting longest), as (rgb, meta): the oldest queued with
    /// delivery="queue", the newest complete (decoded now, the GIL
    /// released) with delivery="latest". rgb is a numpy uint8 array
    /// (height, width, 3) in RGB order, or None for a camera with
    /// decode=False; meta a Frame. Waits up to timeout seconds (None: until a
    /// frame comes or the client is stopped) with the GIL released;
    /// returns None on timeout, or once stopped with nothing left.
    #[pyo3(signature = (camera_id=None, timeout=None))]
    fn get_frame<'py>(
        &self,
        py: Python<'py>,
        camera_id: Option<&str>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.check_process(py)?;
        if let Some(id) = camera_id {
            self.check_camera(py, id)?;
        }
        if !self.started.load(Ordering::Acquire) && !self.stopped.load(Ordering::Acquire) {
            return Err(errors::state(py, "the client is not started: call start()"));
        }
        let deadline = deadline(timeout)?;
        match self.wait_frame(py, camera_id, deadline)? {
            Some(frame) => self.to_python(py, frame).map(Some),
            None => Ok(None),
        }
    }

    /// One frame of each of camera_ids (every camera when None) at once,
    /// as {camera_id: (rgb, meta)} for the cameras that have one (a
    /// camera with nothing new is absent): what get_frame(camera_id)
    /// would give now, the newest complete frame of each latest camera
    /// (the batch decoded side by side on up to decode_threads threads,
    /// the GIL released), the oldest queued of each queue camera. Waits
    /// up to timeout seconds (None: until a frame comes or the client is
    /// stopped) for the first of them, then takes what every camera has
    /// at that moment; returns {} on timeout, for an empty camera_ids,
    /// or once stopped with nothing left.
    #[pyo3(signature = (camera_ids=None, timeout=None))]
    fn get_frames<'py>(
        &self,
        py: Python<'py>,
        camera_ids: Option<Vec<String>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.check_process(py)?;
        let ids = match camera_ids {
            Some(ids) => {
                for id in &ids {
                    self.check_camera(py, id)?;
                }
                ids
            }
            None => self.camera_ids(),
        };
        if !self.started.load(Ordering::Acquire) && !self.stopped.load(Ordering::Acquire) {
            return Err(errors::state(py, "the client is not started: call start()"));
        }
        let deadline = deadline(timeout)?;
        let batch = PyDict::new(py);
        if ids.is_empty() {
            return Ok(batch);
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let frames = self.wait_for(
            py,
            deadline,
            |client, slice| client.get_frames(&ids, slice),
            |frames| frames.iter().any(Option::is_some),
        )?;
        for frame in frames.into_iter().flatten() {
            let id = frame.camera_id().to_owned();
            batch.set_item(id, self.to_python(py, frame)?)?;
        }
        Ok(batch)
    }

    /// Iterate over (rgb, meta) frames of camera_id (of every camera when
    /// None) until the client is stopped, or until no frame came for
    /// timeout seconds when a timeout is given.
    #[pyo3(signature = (camera_id=None, timeout=None))]
    fn frames(
        slf: &Bound<'_, Self>,
        camera_id: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<FrameIterator> {
        let py = slf.py();
        if let Some(id) = &camera_id {
            slf.get().check_camera(py, id)?;
        }
        deadline(timeout)?;
        Ok(FrameIterator {
            client: slf.clone().unbind(),
            camera_id,
            timeout,
        })
    }

    /// Counters of camera_id as a dict (the counters of the command's
    /// JSON summary, summed over the camera's RTP streams, plus the
    /// runtime's own); with no camera_id, a dict of every camera's.
    #[pyo3(signature = (camera_id=None))]
    fn stats<'py>(&self, py: Python<'py>, camera_id: Option<&str>) -> PyResult<Bound<'py, PyDict>> {
        self.check_process(py)?;
        if let Some(id) = camera_id {
            self.check_camera(py, id)?;
        }
        let all: Vec<CameraStats> = py.detach(|| {
            read(&self.runtime)
                .as_ref()
                .map(mjpeg_rtp::Client::stats)
                .unwrap_or_default()
        });
        logs::drain(py);
        match camera_id {
            Some(id) => match all.iter().find(|s| s.camera_id == id) {
                Some(stats) => stats_dict(py, stats),
                None => Err(errors::unknown_camera(py, id)),
            },
            None => {
                let dict = PyDict::new(py);
                for stats in &all {
                    dict.set_item(&stats.camera_id, stats_dict(py, stats)?)?;
                }
                Ok(dict)
            }
        }
    }

    /// The (host, port) camera_id's socket is bound to; the port is the
    /// one the system chose when the config said 0.
    fn local_address(&self, py: Python<'_>, camera_id: &str) -> PyResult<(String, u16)> {
        self.check_camera(py, camera_id)?;
        let address = py.detach(|| read(&self.runtime).as_ref()?.local_addr(camera_id));
        address
            .map(|a| (a.ip().to_string(), a.port()))
            .ok_or_else(|| errors::unknown_camera(py, camera_id))
    }

    /// Ids of the cameras, in the order they were added.
    #[getter]
    fn camera_ids(&self) -> Vec<String> {
        self.cameras().iter().map(|c| c.id.clone()).collect()
    }

    /// The JPEG decoder in use.
    #[getter]
    fn decoder(&self) -> &'static str {
        self.decoder.name()
    }

    /// The receive backend: "std", or "uring" when io="uring" was asked
    /// and io_uring works here (checked when the client is made by
    /// receiving one datagram through a ring; else "std", with one
    /// logged warning). From start() on, the backend receiving: should
    /// the ring still fail to set up there, "std" (with one more
    /// warning).
    #[getter]
    fn io(&self) -> &'static str {
        *self.io.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Started and not stopped.
    #[getter]
    fn is_running(&self) -> bool {
        self.started.load(Ordering::Acquire) && !self.stopped.load(Ordering::Acquire)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Stop; exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let state = match (
            self.started.load(Ordering::Acquire),
            self.stopped.load(Ordering::Acquire),
        ) {
            (_, true) => "stopped",
            (true, false) => "running",
            (false, false) => "configuring",
        };
        Ok(format!(
            "<MJPEGRTPClient {state}, cameras {}, decoder {}>",
            self.camera_ids().into_pyobject(py)?.repr()?,
            self.decoder.name()
        ))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // In a forked child the runtime's threads do not exist: joining
        // them would hang, so the copy is leaked instead of stopped.
        if std::process::id() != self.pid {
            let runtime = self
                .runtime
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            std::mem::forget(runtime);
        }
    }
}

/// What MJPEGRTPClient.frames() returns.
#[pyclass(frozen, module = "mjpeg_rtp", name = "FrameIterator")]
pub struct FrameIterator {
    client: Py<Client>,
    camera_id: Option<String>,
    timeout: Option<f64>,
}

#[pymethods]
impl FrameIterator {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.client
            .get()
            .get_frame(py, self.camera_id.as_deref(), self.timeout)
    }
}

/// Take `count` frames through the runtime's own `next_frame`, in Rust,
/// with the GIL released, and drop them; returns how many came before a
/// wait of `timeout` seconds found none. The baseline of the package's
/// benchmark (`python/bench/bench_client.py`): the same client, without
/// Python objects.
#[pyfunction]
pub(crate) fn _take_frames_in_rust(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    count: u64,
    timeout: f64,
) -> PyResult<u64> {
    let client = client.get();
    client.check_process(py)?;
    let timeout = Duration::try_from_secs_f64(timeout)
        .map_err(|_| PyValueError::new_err("timeout must be a non-negative number"))?;
    let taken = py.detach(|| {
        let runtime = read(&client.runtime);
        let Some(runtime) = runtime.as_ref() else {
            return 0;
        };
        let mut taken = 0;
        while taken < count {
            match runtime.next_frame(timeout) {
                Some(frame) => drop(frame),
                None => break,
            }
            taken += 1;
        }
        taken
    });
    logs::drain(py);
    Ok(taken)
}
