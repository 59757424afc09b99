//! # mjpeg-rtp-uring
//!
//! A Linux io_uring receive backend for the [`mjpeg_rtp::Client`]: one
//! thread and one ring serve every camera's socket with one multishot
//! `recvmsg` each over a shared provided-buffer ring, so receiving costs
//! no system call per datagram. Frames, decode, queues and counters are
//! runtime-std's: only the way datagrams are read differs.
//!
//! ```no_run
//! use mjpeg_rtp::{CameraConfig, Client, ClientOptions};
//! use mjpeg_rtp_uring::Io;
//!
//! let mut client = Client::new(ClientOptions {
//!     backend: mjpeg_rtp_uring::backend(Io::Uring),
//!     ..ClientOptions::default()
//! });
//! client.add_camera(CameraConfig::new("door", "0.0.0.0:5004".parse()?))?;
//! client.start()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What a caller may rely on:
//! - Where io_uring cannot be used (not Linux, a kernel before 6.0,
//!   `ENOSYS`, `EPERM` from a seccomp policy, or [`DISABLE_ENV`] set) the
//!   std backend receives instead, and exactly one `log::warn!` line
//!   says so and why. Never a silent failure, never an error for that
//!   reason alone.
//! - Sender filtering, counters and the `SO_RXQ_OVFL` kernel drop count
//!   (`CameraStats::kernel_drops`) are reported as with the std backend.
//! - With UDP GRO ([`UringOptions::gro`], on by default) every datagram
//!   still reaches the ingest on its own, as sent, in order, with its
//!   sender; the kernel drop count is then a lower bound (a dropped run
//!   counts once), as in the std backend.
//! - A message larger than a ring buffer's payload room
//!   ([`UringOptions::buffer_len`] minus [`BUFFER_OVERHEAD`]; only
//!   without GRO, whose buffers hold the largest) or whose control data
//!   was cut off is never passed on shortened: it is counted as one
//!   `rtp_truncated` and dropped.
//!
//! What lives where: this file chooses between io_uring and the std
//! fallback ([`backend`], [`backend_with_gro`], [`probe()`],
//! [`UringBackend`]); `options` sizes and paces the ring; `ring` is the
//! ring thread (arming, completions, shutdown); `probe` receives one
//! datagram to check io_uring works; `buf_ring` the provided-buffer
//! ring, its ownership protocol and the window of it published;
//! `message` reads a received buffer (sender, drop counter; the GRO
//! segment size is read by runtime-std's shared `gro_segment`).
//! Of runtime-std it uses only [`mjpeg_rtp::backend`], as any backend
//! would: another backend with its own dependencies goes in a crate like
//! this one. Decoding is runtime-std's (`mjpeg_rtp::decode`): a new
//! decoder goes there, never here.

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mjpeg_rtp::backend::{CameraSocket, ReceiveBackend, SpawnResult, Spawned, StdBackend};
use mjpeg_rtp::Error;

#[cfg(target_os = "linux")]
mod buf_ring;
#[cfg(target_os = "linux")]
mod message;
mod options;
#[cfg(target_os = "linux")]
mod probe;
#[cfg(target_os = "linux")]
mod ring;

pub use options::{UringOptions, BUFFER_OVERHEAD, GRO_BUFFER_LEN};

/// The backend's name in logs and errors.
const NAME: &str = "uring";

/// Set to anything but `0` or empty to never use io_uring (the std
/// backend receives, with the usual one warning line).
pub const DISABLE_ENV: &str = "MJPEG_RTP_URING_DISABLE";

/// How datagrams are received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Io {
    /// Blocking std sockets, a thread per camera (any platform).
    #[default]
    Std,
    /// One io_uring thread for every camera (Linux 6.0+), falling back
    /// to [`Io::Std`] where unavailable.
    Uring,
}

/// The receive backend for `io`, with UDP GRO where the kernel has it.
/// For [`Io::Uring`] this checks now that io_uring works here
/// ([`probe()`]); if it does not, it logs one warning and returns the
/// std backend, so that the client's own log line names the backend that
/// really runs.
pub fn backend(io: Io) -> Box<dyn ReceiveBackend> {
    backend_with_gro(io, true)
}

/// [`backend`], with UDP GRO on or off in whichever backend runs
/// ([`StdBackend::gro`], [`UringOptions::gro`]), and nothing else
/// changed: the ring keeps its default 64 KiB buffers, so any datagram
/// size is still taken. Off costs receive CPU (the kernel's work per
/// datagram instead of per run) and buys exact `kernel_drops` counts
/// (with GRO a dropped run counts once).
pub fn backend_with_gro(io: Io, gro: bool) -> Box<dyn ReceiveBackend> {
    match io {
        Io::Std => Box::new(std_backend(gro)),
        Io::Uring => {
            let available = match disabled_by_env() {
                true => Err(io::Error::other(format!("{DISABLE_ENV} is set"))),
                false => probe(),
            };
            match available {
                Ok(()) => Box::new(uring_backend(gro)),
                Err(e) => {
                    warn_fallback(&e);
                    Box::new(std_backend(gro))
                }
            }
        }
    }
}

/// The std backend, GRO on (where the platform has it) or off.
fn std_backend(gro: bool) -> StdBackend {
    StdBackend {
        gro: gro && StdBackend::default().gro,
        ..StdBackend::default()
    }
}

/// The default ring with GRO on or off, falling back to the std backend
/// with the same.
fn uring_backend(gro: bool) -> UringBackend {
    UringBackend::with_options(UringOptions {
        gro,
        ..UringOptions::default()
    })
    .with_fallback(std_backend(gro))
}

/// Whether this process can receive with io_uring: creates a ring,
/// registers a buffer ring and receives one datagram on loopback with a
/// multishot `recvmsg`. The error says what is missing.
pub fn probe() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        probe::probe()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring exists only on Linux",
        ))
    }
}

/// The io_uring [`ReceiveBackend`]. Its `run` falls back to
/// [`StdBackend`] (one warning line) when the ring cannot be set up.
#[derive(Debug, Clone, Default)]
pub struct UringBackend {
    options: UringOptions,
    force_fallback: bool,
    fallback: StdBackend,
}

impl UringBackend {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_options(options: UringOptions) -> Self {
        UringBackend {
            options,
            ..Self::default()
        }
    }

    /// Always take the fallback path (for tests of it); the same as
    /// setting [`DISABLE_ENV`].
    pub fn force_fallback(mut self) -> Self {
        self.force_fallback = true;
        self
    }

    /// The std backend used when io_uring is not.
    pub fn with_fallback(mut self, fallback: StdBackend) -> Self {
        self.fallback = fallback;
        self
    }

    fn fall_back(
        self,
        reason: &io::Error,
        cameras: Vec<CameraSocket>,
        stop: Arc<AtomicBool>,
    ) -> SpawnResult {
        warn_fallback(reason);
        Box::new(self.fallback).run(cameras, stop)
    }
}

impl ReceiveBackend for UringBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(self: Box<Self>, cameras: Vec<CameraSocket>, stop: Arc<AtomicBool>) -> SpawnResult {
        if self.force_fallback {
            let why = io::Error::other("UringBackend::force_fallback was asked");
            return self.fall_back(&why, cameras, stop);
        }
        if disabled_by_env() {
            let why = io::Error::other(format!("{DISABLE_ENV} is set"));
            return self.fall_back(&why, cameras, stop);
        }
        self.options
            .check()
            .map_err(|reason| Error::BackendConfig {
                backend: NAME,
                reason,
            })?;
        #[cfg(target_os = "linux")]
        {
            // A kernel may accept the ring and fail multishot requests
            // only later; the probe finds out before any camera is
            // committed to the ring.
            if let Err(e) = probe::probe() {
                return self.fall_back(&e, cameras, stop);
            }
            match ring::spawn(&self.options, cameras, stop.clone()) {
                Ok(handle) => Ok(Spawned {
                    backend: NAME,
                    threads: vec![handle],
                }),
                // The thread itself could not start: nothing to fall back
                // with (the cameras went with it), and nothing is running.
                Err(e) if e.cameras.is_empty() => Err(Error::Backend {
                    backend: NAME,
                    source: e.error,
                }),
                Err(e) => self.fall_back(&e.error, e.cameras, stop),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let why = io::Error::new(io::ErrorKind::Unsupported, "io_uring exists only on Linux");
            self.fall_back(&why, cameras, stop)
        }
    }
}

fn disabled_by_env() -> bool {
    std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

fn warn_fallback(reason: &io::Error) {
    log::warn!(
        "io_uring receive unavailable ({reason}); falling back to the std backend \
         (one blocking socket thread per camera)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_std_is_the_std_backend() {
        assert_eq!(backend(Io::Std).name(), "std");
        assert_eq!(Io::default(), Io::Std);
        assert_eq!(UringBackend::new().name(), "uring");
    }

    /// The GRO switch reaches the ring and its std fallback alike, and
    /// changes nothing else of the ring (its buffers still hold any
    /// datagram).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_gro_switch_sets_the_ring_and_its_fallback() {
        for gro in [true, false] {
            let ring = uring_backend(gro);
            assert_eq!(ring.fallback.gro, gro);
            assert_eq!(
                ring.options,
                UringOptions {
                    gro,
                    ..UringOptions::default()
                }
            );
            assert_eq!(std_backend(gro).gro, gro);
        }
    }
}
