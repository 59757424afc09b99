//! Why a session failed.

use crate::sdp::SdpError;

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
    /// A reply named another session than the one set up.
    #[error("{method} answered for session {got:?}, not ours ({expected:?})")]
    SessionMismatch {
        method: &'static str,
        expected: String,
        got: String,
    },
    #[error("redirect without a usable Location, or too many redirects")]
    Redirect,
    #[error("{method} answer with {what}")]
    BadResponse {
        method: &'static str,
        what: &'static str,
    },
}
