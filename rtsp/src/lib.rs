//! # mjpeg-rtp-rtsp
//!
//! A sans-IO RTSP client session for MJPEG cameras: no networking code
//! and no timestamps from the operating system. Bytes read from the
//! RTSP connection and the time go in; bytes to write, interleaved RTP
//! and RTCP, events and deadlines come out. The runtimes own the TCP
//! connection, the UDP sockets and the clock.
//!
//! Driving contract for a [`Session`]:
//! 1. Connect TCP to [`Session::url`]'s host and port (554 by default),
//!    call [`Session::on_connected`].
//! 2. Whenever bytes are read: [`Session::handle_input`], then
//!    [`Session::poll_input`] until `None`, feeding each
//!    [`Interleaved::Rtp`] to the depacketizer.
//! 3. After any call: write every [`Session::poll_transmit`] in order,
//!    act on every [`Session::poll_event`], and call
//!    [`Session::handle_timeout`] no later than [`Session::poll_timeout`].
//! 4. To stop: [`Session::teardown`], keep driving until
//!    [`Event::Closed`] (bounded by the request timeout), close.
//!
//! Modules: [`framing`] splits the connection into messages and `$`
//! frames, [`sdp`] finds the JPEG track, [`headers`] reads the reply
//! headers cameras get wrong and joins control URLs, `auth` answers
//! Basic and Digest challenges, [`session`] is the state machine,
//! [`rtcp`] parses sender reports and builds receiver reports and BYE.

mod auth;
pub mod framing;
pub mod headers;
pub mod rtcp;
pub mod sdp;
pub mod session;

pub use auth::Credentials;
pub use sdp::{JpegTrack, SdpError};
pub use session::{Event, Interleaved, Negotiated, Session, SessionConfig, TransportRequest};

/// Why a session failed. Never carries credentials: URLs are printed
/// without user info.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: no credentials were given, or the ones given were refused.
    #[error("401 Unauthorized for {url} ({})", if *.sent_credentials { "wrong user name or password" } else { "credentials needed: rtsp://USER:PASS@..." })]
    Unauthorized { url: String, sent_credentials: bool },
    #[error("401 with no Basic or Digest challenge this client can answer")]
    UnsupportedAuthentication,
    #[error("{method} {url}: {status}")]
    Status {
        method: &'static str,
        status: u16,
        url: String,
    },
    #[error("461 Unsupported Transport")]
    UnsupportedTransport,
    #[error(transparent)]
    Sdp(#[from] SdpError),
    #[error("no answer to {method} in time")]
    Timeout { method: &'static str },
    #[error("redirect without a usable Location, or too many redirects")]
    Redirect,
    #[error("{method} answer with {what}")]
    BadResponse {
        method: &'static str,
        what: &'static str,
    },
}
