//! Everything a receive backend needs, and nothing a consumer does.
//!
//! A [`ReceiveBackend`] owns the sockets and the threads that read them;
//! for every datagram it calls [`CameraIngest::on_datagram`] with the
//! arrival time it read, and that is all it has to know: the ingest does
//! the rest (core depacketizer, sender filter, counters, handoff to the
//! decode workers) and reads no clock of its own. Warnings a backend logs
//! per packet go through a [`RateLimiter`] at [`WARN_INTERVAL`].
//!
//! Two backends exist: [`StdBackend`] (`blocking.rs`: a blocking socket
//! and a thread per camera, any platform) and io_uring in
//! `mjpeg-rtp-uring`. A new one follows the contract written on
//! [`ReceiveBackend`] and is handed to
//! [`ClientOptions::backend`](crate::ClientOptions::backend).

mod batch;
mod blocking;
mod drops;
mod gro;
mod ingest;
mod linger;
mod no_frame;
mod receive;
mod silence;

pub use blocking::{StdBackend, DEFAULT_LINGER};
pub use drops::DropCounter;
#[cfg(target_os = "linux")]
pub use gro::{control_message, gro_segment};
pub use gro::{enable_gro_for, split_segments, MAX_MESSAGE};
pub use ingest::CameraIngest;
pub use linger::Linger;
pub use receive::{CameraSocket, ReceiveBackend, SpawnResult, Spawned};

pub use crate::ratelimit::{RateLimiter, WARN_INTERVAL};
pub use crate::socket::enable_udp_gro;
