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

use pyo3::exceptions::{
    PyException, PyKeyError, PyOSError, PyPermissionError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// Declares [`Class`]: each variant's doc comment is also the Python
/// class's `__doc__` (the lines joined by one space), so that the text is
/// written once.
macro_rules! classes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $name:literal ($builtin:ty),)+) => {
        /// The exception classes, in the order the module lists them; the
        /// first, `MjpegRtpError`, is the base of all the others.
        #[derive(Clone, Copy)]
        enum Class {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Class {
            const ALL: &[Class] = &[$(Class::$variant),+];

            /// The class's name, the built-in it also is, and its doc string.
            fn spec(self, py: Python<'_>) -> (&'static str, Bound<'_, PyType>, &'static str) {
                match self {
                    $(Class::$variant => (
                        $name,
                        py.get_type::<$builtin>(),
                        concat!($($doc),+).trim_start(),
                    ),)+
                }
            }
        }
    };
}

classes! {
    /// Base class of every error raised by mjpeg_rtp.
    Base = "MjpegRtpError" (PyException),
    /// A camera's socket cannot be bound or cannot join its multicast group
    /// (errno is set: EADDRINUSE for a port in use).
    Bind = "BindError" (PyOSError),
    /// A setting is invalid: a bad host or port, a value out of range, a
    /// duplicate camera id, a decoder this build lacks.
    Config = "ConfigError" (PyValueError),
    /// No camera with this id was added to the client.
    UnknownCamera = "UnknownCameraError" (PyKeyError),
    /// The call does not fit the client's state: start() twice, add_camera()
    /// after start(), get_frame() before start(), a client used in a forked
    /// child.
    State = "StateError" (PyRuntimeError),
    /// The receive or decode threads could not be started, or an RTSP
    /// camera could not be set up (refused connection: errno is set;
    /// an error status, a bad SDP, a timeout).
    Start = "StartError" (PyOSError),
    /// An RTSP camera refused the credentials (or asked for none it
    /// could be given): a PermissionError.
    Auth = "AuthError" (PyPermissionError),
    /// A file given to read_pcap() is not a readable pcap or pcapng capture.
    Capture = "CaptureError" (PyValueError),
    /// Data given to decode() is not a JPEG the decoder can decode.
    Decode = "DecodeError" (PyValueError),
}

/// The made classes, one per [`Class::ALL`] entry, indexed by [`Class`].
struct Classes(Vec<Py<PyType>>);

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

/// Each class in [`Class::ALL`]'s order: the base first, so that every
/// other one can derive from it.
fn create(py: Python<'_>) -> PyResult<Classes> {
    let mut made: Vec<Py<PyType>> = Vec::with_capacity(Class::ALL.len());
    for class in Class::ALL {
        let (name, builtin, doc) = class.spec(py);
        let bases = match made.first() {
            Some(base) => vec![base.bind(py).clone(), builtin],
            None => vec![builtin],
        };
        made.push(new_class(py, name, &bases, doc)?);
    }
    Ok(Classes(made))
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || create(py))
}

/// Add the classes to the module.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    for class in &classes(py)?.0 {
        let class = class.bind(py);
        module.add(class.name()?, class)?;
    }
    Ok(())
}

fn raise(py: Python<'_>, class: Class, args: impl IntoArgs) -> PyErr {
    match classes(py) {
        Ok(c) => args.into_err(c.0[class as usize].bind(py).clone()),
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
    raise(py, Class::Config, message)
}

pub(crate) fn unknown_camera(py: Python<'_>, camera_id: &str) -> PyErr {
    raise(py, Class::UnknownCamera, format!("no camera {camera_id:?}"))
}

pub(crate) fn state(py: Python<'_>, message: &str) -> PyErr {
    raise(py, Class::State, message.to_owned())
}

pub(crate) fn capture(py: Python<'_>, message: String) -> PyErr {
    raise(py, Class::Capture, message)
}

pub(crate) fn decode(py: Python<'_>, message: String) -> PyErr {
    raise(py, Class::Decode, message)
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
    use mjpeg_rtp_rtsp::Error as RtspError;
    let message = chain(error);
    let errno = error
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error);
    match error {
        E::Config { .. }
        | E::DuplicateCamera(_)
        | E::DecoderUnavailable(_)
        | E::DecodeOptions { .. }
        | E::BackendConfig { .. } => config(py, message),
        E::Rtsp {
            error: RtspError::Unauthorized { .. } | RtspError::UnsupportedAuthentication,
            ..
        } => raise(py, Class::Auth, message),
        E::Rtsp { .. } | E::RtspIo { .. } => raise(py, Class::Start, (errno, message)),
        E::Bind { .. } | E::Multicast { .. } => raise(py, Class::Bind, (errno, message)),
        E::AlreadyStarted | E::Stopped | E::NoCamera => raise(py, Class::State, message),
        E::Backend { .. } | E::Spawn(_) | E::Decoder(_) => {
            raise(py, Class::Start, (errno, message))
        }
        _ => raise(py, Class::Base, message),
    }
}
