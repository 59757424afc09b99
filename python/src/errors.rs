//! The exception hierarchy. Every error is an `MjpegRtpError` and also
//! the built-in a caller would catch without knowing this package (as
//! PyAV's errors do): a port that cannot be bound is an `OSError` with
//! its errno, a bad setting a `ValueError`, an unknown camera a
//! `KeyError`.
//!
//! The classes have two bases, which `create_exception!` cannot express,
//! so they are made with `type(name, bases, namespace)` once per
//! interpreter and kept here for raising.

use std::error::Error as _;

use pyo3::exceptions::{PyException, PyKeyError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

struct Classes {
    base: Py<PyType>,
    bind: Py<PyType>,
    config: Py<PyType>,
    unknown_camera: Py<PyType>,
    state: Py<PyType>,
    start: Py<PyType>,
    capture: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: &[Bound<'py, PyType>],
    doc: &str,
) -> PyResult<Py<PyType>> {
    let namespace = PyDict::new(py);
    namespace.set_item("__module__", "mjpeg_rtp")?;
    namespace.set_item("__doc__", doc)?;
    let class = py
        .get_type::<PyType>()
        .call1((name, PyTuple::new(py, bases)?, namespace))?;
    Ok(class.cast_into::<PyType>()?.unbind())
}

fn create(py: Python<'_>) -> PyResult<Classes> {
    let base = new_class(
        py,
        "MjpegRtpError",
        &[py.get_type::<PyException>()],
        "Base class of every error raised by mjpeg_rtp.",
    )?;
    let with = |name: &str, builtin: Bound<'_, PyType>, doc: &str| {
        new_class(py, name, &[base.bind(py).clone(), builtin], doc)
    };
    Ok(Classes {
        bind: with(
            "BindError",
            py.get_type::<PyOSError>(),
            "A camera's socket cannot be bound or cannot join its multicast group \
             (errno is set: EADDRINUSE for a port in use).",
        )?,
        config: with(
            "ConfigError",
            py.get_type::<PyValueError>(),
            "A setting is invalid: a bad host or port, a value out of range, a \
             duplicate camera id, a decoder this build lacks.",
        )?,
        unknown_camera: with(
            "UnknownCameraError",
            py.get_type::<PyKeyError>(),
            "No camera with this id was added to the client.",
        )?,
        state: with(
            "StateError",
            py.get_type::<PyRuntimeError>(),
            "The call does not fit the client's state: start() twice, add_camera() \
             after start(), get_frame() before start(), a client used in a forked \
             child.",
        )?,
        start: with(
            "StartError",
            py.get_type::<PyOSError>(),
            "The receive or decode threads could not be started.",
        )?,
        capture: with(
            "CaptureError",
            py.get_type::<PyValueError>(),
            "A file given to read_pcap() is not a readable pcap or pcapng capture.",
        )?,
        base,
    })
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || create(py))
}

/// Add the classes to the module.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let c = classes(py)?;
    for class in [
        &c.base,
        &c.bind,
        &c.config,
        &c.unknown_camera,
        &c.state,
        &c.start,
        &c.capture,
    ] {
        let class = class.bind(py);
        module.add(class.name()?, class)?;
    }
    Ok(())
}

fn raise(py: Python<'_>, class: fn(&Classes) -> &Py<PyType>, args: impl IntoArgs) -> PyErr {
    match classes(py) {
        Ok(c) => args.into_err(class(c).bind(py).clone()),
        Err(e) => e,
    }
}

/// Arguments of a raised error: a message, or an errno and a message
/// (OSError's convention, which fills `errno` and `strerror`).
trait IntoArgs {
    fn into_err(self, class: Bound<'_, PyType>) -> PyErr;
}

impl IntoArgs for String {
    fn into_err(self, class: Bound<'_, PyType>) -> PyErr {
        PyErr::from_type(class, (self,))
    }
}

impl IntoArgs for (Option<i32>, String) {
    fn into_err(self, class: Bound<'_, PyType>) -> PyErr {
        match self {
            (Some(errno), message) => PyErr::from_type(class, (errno, message)),
            (None, message) => PyErr::from_type(class, (message,)),
        }
    }
}

pub(crate) fn config(py: Python<'_>, message: String) -> PyErr {
    raise(py, |c| &c.config, message)
}

pub(crate) fn unknown_camera(py: Python<'_>, camera_id: &str) -> PyErr {
    raise(
        py,
        |c| &c.unknown_camera,
        format!("no camera {camera_id:?}"),
    )
}

pub(crate) fn state(py: Python<'_>, message: &str) -> PyErr {
    raise(py, |c| &c.state, message.to_owned())
}

pub(crate) fn capture(py: Python<'_>, message: String) -> PyErr {
    raise(py, |c| &c.capture, message)
}

/// `error` and its sources, one after the other: the Rust errors keep
/// the OS error as a source rather than in their message.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The Python exception for an error of the runtime.
pub(crate) fn from_runtime(py: Python<'_>, error: &mjpeg_rtp::Error) -> PyErr {
    use mjpeg_rtp::Error as E;
    let message = chain(error);
    let errno = error
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error);
    match error {
        E::Config { .. } | E::DuplicateCamera(_) | E::DecoderUnavailable(_) => config(py, message),
        E::Bind { .. } | E::Multicast { .. } => raise(py, |c| &c.bind, (errno, message)),
        E::AlreadyStarted | E::Stopped | E::NoCamera => raise(py, |c| &c.state, message),
        E::Backend { .. } | E::Spawn(_) | E::Decoder(_) => {
            raise(py, |c| &c.start, (errno, message))
        }
        _ => raise(py, |c| &c.base, message),
    }
}
