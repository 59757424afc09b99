//! # mjpeg-rtp
//!
//! Portable runtime for receiving MJPEG over RTP (RFC 2435) from many
//! cameras: blocking std sockets (Linux, macOS, Windows), the sans-IO
//! [`mjpeg_rtp_core`] depacketizer, and decode workers turning every
//! complete frame into RGB (H x W x 3, u8) with zune-jpeg (or, with the
//! `turbojpeg` feature, libjpeg-turbo: [`Client::set_decoder`]).
//!
//! - [`Client`]: add cameras ([`CameraConfig`]), [`Client::start`], take
//!   [`Frame`]s with [`Client::get_frame`] (one camera) or
//!   [`Client::next_frame`] (any camera), read [`Client::stats`],
//!   [`Client::stop`].
//! - Receiving never waits on decoding: each camera's receive path hands
//!   complete frames to a bounded decode backlog and each camera's output
//!   queue drops its oldest frame when full; both are counted.
//! - [`ingest`] is the seam for other receive backends (io_uring in
//!   `mjpeg-rtp-uring`): a [`ReceiveBackend`] reads sockets and feeds
//!   [`CameraIngest`].
//! - [`socket`] holds every socket option used.
//!
//! The library never prints: it logs through the `log` facade (per-packet
//! warnings at most once per second per kind) and returns typed
//! [`Error`]s.

mod batch;
mod client;
mod config;
pub mod decode;
mod error;
mod frame;
pub mod ingest;
mod output;
mod pool;
mod ratelimit;
pub mod socket;
mod stats;
mod threads;
mod workers;

pub use client::{Client, ClientOptions};
pub use config::CameraConfig;
pub use decode::Decoder;
pub use error::Error;
pub use frame::{Frame, RgbBuffer};
pub use ingest::{CameraIngest, CameraSocket, Epoch, ReceiveBackend, StdBackend};
pub use stats::CameraStats;

pub use mjpeg_rtp_core as core;
pub use mjpeg_rtp_core::{DropReason, InvalidReason, StreamStats};
