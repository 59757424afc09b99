//! Typed errors of the runtime.

use std::io;
use std::net::SocketAddr;

/// What can go wrong setting up or running a [`Client`](crate::Client).
///
/// The underlying OS error, where there is one, is the error's
/// [`source`](std::error::Error::source), not repeated in its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("camera {camera:?}: {reason}")]
    Config {
        camera: String,
        reason: &'static str,
    },
    #[error("camera {0:?} is already added")]
    DuplicateCamera(String),
    #[error("camera {camera:?}: cannot bind {addr}")]
    Bind {
        camera: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("camera {camera:?}: cannot join multicast group {addr}")]
    Multicast {
        camera: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the client is already started")]
    AlreadyStarted,
    #[error("the client was stopped and cannot be started again")]
    Stopped,
    #[error("no camera to start")]
    NoCamera,
    /// A receive backend's options are unusable (checked when it starts).
    #[error("{backend} receive backend: {reason}")]
    BackendConfig {
        backend: &'static str,
        reason: &'static str,
    },
    #[error("{backend} receive backend failed to start")]
    Backend {
        backend: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the {0} decoder is not in this build (cargo feature `turbojpeg`)")]
    DecoderUnavailable(crate::decode::Decoder),
    /// Decode options the chosen decoder cannot honour (checked by
    /// [`Client::set_decode_options`](crate::Client::set_decode_options)
    /// and, per camera, when the client starts).
    #[error("camera {camera:?}: decode options")]
    DecodeOptions {
        /// Empty for the client's default options.
        camera: String,
        #[source]
        source: crate::decode::DecodeOptionsError,
    },
    #[error("cannot set up the JPEG decoder")]
    Decoder(#[source] crate::decode::DecodeError),
    /// The RTSP session failed (status, authentication, SDP, timeout).
    #[error("camera {camera:?}: RTSP: {error}")]
    Rtsp {
        camera: String,
        error: mjpeg_rtp_rtsp::Error,
    },
    /// The RTSP connection failed; `url` is printed without user info.
    #[error("camera {camera:?}: RTSP connection to {url}")]
    RtspIo {
        camera: String,
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot spawn a thread")]
    Spawn(#[source] io::Error),
}
