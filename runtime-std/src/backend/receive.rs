//! The contract between the client and a way of receiving datagrams.

use std::net::UdpSocket;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::backend::ingest::CameraIngest;
use crate::error::Error;

/// A camera's bound socket with its ingest, as handed to a backend.
#[derive(Debug)]
pub struct CameraSocket {
    /// Bound, with the receive buffer and multicast membership the
    /// camera's configuration asks for.
    pub socket: UdpSocket,
    pub ingest: CameraIngest,
    /// `SO_RXQ_OVFL` is on (Linux): a backend that reads control messages
    /// gets the kernel's drop count for the socket with every datagram
    /// once a drop happened, and may report zero until then.
    pub rxq_ovfl: bool,
}

/// What [`ReceiveBackend::run`] returns: the receive threads it started,
/// or why it started none.
pub type SpawnResult = Result<Spawned, Error>;

/// The receive threads a backend started, and which backend they run:
/// a backend that falls back (io_uring to std sockets) names the one
/// that actually receives.
#[derive(Debug)]
pub struct Spawned {
    /// Short name of the backend receiving ("std", "uring").
    pub backend: &'static str,
    /// The receive threads, joined by the client at stop.
    pub threads: Vec<JoinHandle<()>>,
}

/// A way to receive datagrams for a set of cameras.
///
/// Contract for implementations:
/// - `run` starts the receive threads and returns their handles without
///   waiting for them; the sockets are bound and configured already.
/// - For every datagram call [`CameraIngest::on_datagram`] with the
///   arrival time and sender address; call [`CameraIngest::on_tick`] at
///   least every 100 ms while a socket is idle; report kernel drop counts
///   with [`CameraIngest::on_kernel_drops`] when known. The ingest reads
///   no clock: the times passed are the only ones it knows.
/// - Once `stop` is true, return from every thread within about 100 ms,
///   dropping each [`CameraIngest`] (that flushes its stream and publishes
///   final counters).
/// - If the backend cannot work here (for example no io_uring), fall back
///   by handing the cameras to `StdBackend` and log one line saying so;
///   the [`Spawned`] returned then names the fallback.
///   If `run` returns an error it must not leave threads running:
///   [`Error::BackendConfig`] for unusable options, [`Error::Backend`]
///   for an operating-system failure.
pub trait ReceiveBackend: Send {
    /// Short name for logs ("std", "uring").
    fn name(&self) -> &'static str;

    fn run(self: Box<Self>, cameras: Vec<CameraSocket>, stop: Arc<AtomicBool>) -> SpawnResult;
}
