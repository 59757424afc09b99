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
//! 2. Whenever bytes are read: [`Session::handle_input`] (or read them
//!    straight into [`Session::input_buffer`] and call
//!    [`Session::input_read`]), then
//!    [`Session::poll_input`] until `None`, feeding each
//!    [`Interleaved::Rtp`] to the depacketizer.
//! 3. After any call: write every [`Session::poll_transmit`] in order,
//!    act on every [`Session::poll_event`] (on [`Event::Join`], join the
//!    multicast group, then call [`Session::play`]), and call
//!    [`Session::handle_timeout`] no later than [`Session::poll_timeout`]
//!    (sleep until then: there is nothing to poll for meanwhile).
//! 4. To stop: [`Session::teardown`], keep driving until
//!    [`Event::Closed`] (bounded by [`TEARDOWN_TIMEOUT`]: some servers
//!    never answer a TEARDOWN), close.
//!
//! Modules: [`framing`] splits the connection into messages and `$`
//! frames, [`sdp`] finds the JPEG track, `headers` reads the reply
//! headers cameras get wrong and joins control URLs, `auth` answers
//! Basic and Digest challenges, [`session`] is the state machine and
//! `transport` what its SETUP asks for and what the answer makes of it,
//! [`rtcp`] parses sender reports and builds receiver reports and BYE.

#![forbid(unsafe_code)]

mod auth;
mod error;
pub mod framing;
/// Parsers of the header values cameras get wrong, public for the fuzz
/// targets: not a stable interface. [`redact`] is.
#[doc(hidden)]
pub mod headers;
pub mod rtcp;
pub mod sdp;
pub mod session;
mod transport;

pub use auth::Credentials;
pub use error::Error;
pub use headers::redact;
pub use sdp::{JpegTrack, SdpError};
pub use session::{
    Event, Interleaved, Negotiated, Session, SessionConfig, TransportRequest, TEARDOWN_TIMEOUT,
};
