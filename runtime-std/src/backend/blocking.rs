//! The portable receive backend: a blocking socket and a thread per
//! camera.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mjpeg_rtp_core::rtp::RtpPacket;

use crate::backend::batch::{DatagramReceiver, DEFAULT_BATCH};
use crate::backend::receive::{CameraSocket, ReceiveBackend, SpawnResult};
use crate::error::Error;
use crate::ratelimit::{RateLimiter, WARN_INTERVAL};
use crate::socket::kernel_drops;
use crate::threads::spawn_all;

/// Portable backend: one thread per camera, blocking receive with a short
/// read timeout so that `stop` is seen promptly. On Linux each call takes
/// up to `batch` queued datagrams (`recvmmsg`); elsewhere one
/// (`recv_from`).
///
/// A sender's packets of one frame come in a burst, often slower than
/// the thread wakes: woken per packet, the thread would pay a context
/// switch for each (measured: half the receive side's CPU for one
/// gst-rtsp-server camera). So when a call returned a frame's packets
/// but not its last one (RTP marker clear), the thread lingers before
/// the next call and takes the rest of the burst in one or two calls.
/// An idle camera, or one between frames, still wakes on its first
/// packet at once.
#[derive(Debug, Clone)]
pub struct StdBackend {
    /// Read timeout, which bounds how long a thread takes to see `stop`;
    /// must not be zero.
    pub read_timeout: Duration,
    /// Datagrams per receive call at most (Linux; 1..=256, default 32).
    /// The call never waits for a batch to fill: it returns with what is
    /// queued once one datagram is there.
    pub batch: usize,
    /// Pause after a call that ended inside a frame, so that the rest of
    /// its packets are taken together: bounds the delay it adds to a
    /// frame (zero: no pause, a wake-up per burst of packets).
    pub linger: Duration,
}

impl Default for StdBackend {
    fn default() -> Self {
        StdBackend {
            read_timeout: Duration::from_millis(50),
            batch: DEFAULT_BATCH,
            linger: DEFAULT_LINGER,
        }
    }
}

/// Default of `StdBackend::linger`: a 1080p frame takes 1-3 ms to
/// arrive from most senders, so the thread wakes 2-4 times per frame
/// instead of once per packet, and no frame completes more than 1 ms
/// later.
const DEFAULT_LINGER: Duration = Duration::from_millis(1);

/// Calls that take at most this many datagrams inside a frame mean the
/// thread is waking per packet: it lingers after them.
const TRICKLE: usize = 2;

/// The backend's name in logs and errors.
const NAME: &str = "std";
/// Period of `CameraIngest::on_tick` while packets flow (an idle socket
/// ticks once per read timeout).
const TICK: Duration = Duration::from_millis(50);
/// How often the kernel's drop counter is read where that costs a file
/// read.
const KERNEL_DROPS_INTERVAL: Duration = Duration::from_secs(1);

impl ReceiveBackend for StdBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(self: Box<Self>, cameras: Vec<CameraSocket>, stop: Arc<AtomicBool>) -> SpawnResult {
        // A zero timeout would mean "block forever" to the socket API
        // (which refuses it), and then `stop` would never be seen.
        if self.read_timeout.is_zero() {
            return Err(Error::BackendConfig {
                backend: NAME,
                reason: "StdBackend::read_timeout must not be zero",
            });
        }
        let failed = |source| Error::Backend {
            backend: NAME,
            source,
        };
        for camera in &cameras {
            camera
                .socket
                .set_read_timeout(Some(self.read_timeout))
                .map_err(failed)?;
        }
        let (stop_flag, batch, linger) = (stop.clone(), self.batch, self.linger);
        spawn_all(
            cameras,
            &stop,
            |camera| format!("rx-{}", camera.ingest.camera_id()),
            move |camera| receive_loop(camera, batch, linger, &stop_flag),
        )
        .map_err(failed)
    }
}

fn receive_loop(camera: CameraSocket, batch: usize, linger: Duration, stop: &AtomicBool) {
    let CameraSocket {
        socket, mut ingest, ..
    } = camera;
    let mut receiver = DatagramReceiver::new(batch);
    let mut errors: RateLimiter<1> = RateLimiter::new(WARN_INTERVAL);
    let mut next_tick = Instant::now();
    let mut next_drops = next_tick;
    while !stop.load(Ordering::Relaxed) {
        let mut arrived = None;
        let mut inside_frame = false;
        let received = receiver.receive(&socket, |from, bytes| {
            // A batch shares one arrival time: its datagrams were all
            // queued by the time the call returned.
            let now = *arrived.get_or_insert_with(Instant::now);
            ingest.on_datagram(now, from, bytes);
            inside_frame = RtpPacket::parse(bytes).is_ok_and(|p| !p.marker());
        });
        let now = arrived.unwrap_or_else(Instant::now);
        match received {
            // Only a call that found a packet or two lingers: a sender
            // that bursts has its frame queued by the time the thread
            // runs, and a pause would only add a wake-up. A full batch
            // means more is queued already.
            Ok(n) if inside_frame && n <= TRICKLE && n < receiver.batch() && !linger.is_zero() => {
                std::thread::sleep(linger);
            }
            Ok(_) => {}
            Err(e) if is_transient(&e) => {}
            Err(e) => {
                if let Some(more) = errors.allow(0, now) {
                    log::warn!(
                        "camera {:?}: receive error: {e} ({more} more since the last warning)",
                        ingest.camera_id()
                    );
                }
                // Do not spin on a persistent error.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if now >= next_tick {
            ingest.on_tick(now);
            next_tick = now + TICK;
        }
        if now >= next_drops {
            if let Some(drops) = kernel_drops(&socket) {
                ingest.on_kernel_drops(now, drops);
            }
            next_drops = now + KERNEL_DROPS_INTERVAL;
        }
    }
    ingest.finish();
}

/// Errors that only mean "nothing this time": timeouts, signals, and on
/// Windows the ICMP port-unreachable echo of an earlier send.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionReset
    )
}
