//! # mjpeg-rtp
//!
//! Portable runtime for receiving MJPEG over RTP (RFC 2435) from many
//! cameras: blocking std sockets (Linux, macOS, Windows), the sans-IO
//! [`mjpeg_rtp_core`] depacketizer, and decode workers turning every
//! complete frame into RGB (H x W x 3, u8) with zune-jpeg (or, with the
//! `turbojpeg` feature, libjpeg-turbo: [`Client::set_decoder`]).
//!
//! - [`Client`]: add cameras ([`CameraConfig`]), [`Client::start`], take
//!   [`Frame`]s with [`Client::get_frame`] (one camera),
//!   [`Client::next_frame`] (any camera) or [`Client::get_frames`] (one
//!   of each of several cameras at once), read [`Client::stats`],
//!   [`Client::stop`].
//! - [`DecodeOptions`] (per camera or client-wide): decode at the size
//!   the consumer wants (1/2, 1/4, 1/8 while decoding; an exact resize
//!   after) and, with libjpeg-turbo, the fast IDCT and upsampling;
//!   [`Frame::shape`] reports the decoded size.
//! - Receiving never waits on decoding: each camera's receive path hands
//!   complete frames to a bounded decode backlog and each camera's output
//!   queue drops its oldest frame when full; both are counted.
//!
//! What lives where:
//! - The crate root: the consumer's API (client, camera settings,
//!   frames, counters, errors, the choice of decoder).
//! - [`backend`]: what a receive backend implements and is given, and
//!   the std backend. A new backend is a file there beside the std one,
//!   or its own crate like `mjpeg-rtp-uring` when it brings its own
//!   dependencies; either way it implements [`backend::ReceiveBackend`].
//! - [`decode`]: JPEG -> RGB into caller buffers, also usable alone. A
//!   new decoder is a [`Decoder`] variant with its arm in
//!   [`decode::RgbDecoder`], behind a cargo feature when it links a
//!   system library.
//! - Private: socket options (`socket`), the state a camera's threads
//!   share (`camera`), buffer pools (`pool`), the decode workers
//!   (`workers`), the consumer's queues (`output`), the RTSP session
//!   driver (`rtsp`, on the sans-IO `mjpeg-rtp-rtsp`) and RTCP (`rtcp/`:
//!   the capture clock and counters a camera shares, and the reports).
//!
//! The library never prints: it logs through the `log` facade (per-packet
//! warnings at most once per second per kind) and returns typed
//! [`Error`]s.

/// Builder methods that set one public field each, written once:
/// `with_x(x: T);` emits `pub fn with_x(mut self, x: T) -> Self`, and
/// `with_x(x: T) => Some;` stores `Some(x)` in an optional field. Doc
/// comments above an entry go to its method.
macro_rules! setters {
    ($($(#[$attr:meta])* $name:ident($field:ident: $ty:ty) $(=> $wrap:ident)?;)*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $field: $ty) -> Self {
                self.$field = $($wrap)?($field);
                self
            }
        )*
    };
}

mod arenas;
pub mod backend;
mod camera;
mod capture_clock;
mod client;
mod config;
pub mod decode;
mod epoch;
mod error;
mod frame;
mod output;
mod pool;
mod ratelimit;
mod rtcp;
mod rtsp;
mod socket;
mod stats;
mod threads;
mod workers;

pub use arenas::{limit_malloc_arenas, release_free_memory};
pub use capture_clock::RtcpStats;
pub use client::{Client, ClientOptions};
pub use config::{
    max_fps_thinning, CameraConfig, Delivery, RtspSource, RtspTransport, RTSP_UDP_PROBE,
};
pub use decode::{DecodeError, DecodeOptions, DecodeOptionsError, Decoder, Resize, RgbSize, Scale};
pub use error::Error;
pub use frame::{Frame, JpegBuffer, RgbBuffer};
pub use rtsp::RTP_SILENCE_TIMEOUT;
pub use stats::CameraStats;

pub use mjpeg_rtp_core as core;
pub use mjpeg_rtp_core::{DropReason, InvalidCounts, InvalidReason, StreamStats};
