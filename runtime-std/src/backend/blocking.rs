//! The portable receive backend: a blocking socket and a thread per
//! camera.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::batch::{DatagramReceiver, DEFAULT_BATCH};
use crate::backend::drops::DropCounter;
use crate::backend::gro::enable_gro_for;
use crate::backend::linger::Linger;
use crate::backend::receive::{CameraSocket, ReceiveBackend, SpawnResult, Spawned};
use crate::error::Error;
use crate::ratelimit::{RateLimiter, WARN_INTERVAL};
use crate::socket::kernel_drops;
use crate::threads::spawn_all;

/// Portable backend: one thread per camera, blocking receive with a short
/// read timeout so that `stop` is seen promptly. On Linux each call takes
/// up to `batch` queued messages (`recvmmsg`), and with `gro` a message
/// may be a run of one sender's datagrams that the kernel coalesced,
/// which the thread cuts apart again; elsewhere one datagram per call
/// (`recv_from`). Either way every datagram reaches the ingest on its
/// own, as sent, in order.
///
/// Some senders trickle a frame's packets, each a little after the last,
/// slower than the thread wakes (gst-rtsp-server, a camera on a
/// 100 Mbit/s link, ESP32 over Wi-Fi): woken per packet, the thread pays
/// a context switch for each (measured: half the receive side's CPU for
/// one gst-rtsp-server camera). So once the thread has woken twice
/// within one frame for a packet or two, it pauses for `linger` after
/// each call until the frame's last packet (RTP marker) arrives, and
/// takes what queued meanwhile in one call ([`Linger`]). A sender whose
/// frame comes in one burst is read as it arrives; so is a camera between
/// frames.
#[derive(Debug, Clone)]
pub struct StdBackend {
    /// Read timeout, which bounds how long a thread takes to see `stop`;
    /// must not be zero.
    pub read_timeout: Duration,
    /// Messages per receive call at most (Linux; 1..=256, default 32):
    /// datagrams, or with `gro` runs of them. The call never waits for a
    /// batch to fill: it returns with what is queued once one datagram
    /// is there.
    pub batch: usize,
    /// Let the kernel coalesce a sender's consecutive datagrams into one
    /// message (UDP GRO, Linux 5.0+; default on), which this backend cuts
    /// apart: the kernel's per-datagram work (dequeue, copy, free) is
    /// then paid once per run, which is most of a receive thread's CPU.
    /// What the ingest sees does not change, with one exception: the
    /// kernel counts a run it drops (socket buffer full) as one drop, so
    /// `CameraStats::kernel_drops` becomes a lower bound. Memory: a run
    /// fills up to 64 KiB of its receive slot, so a camera's slots may
    /// hold `batch` x 64 KiB resident (2 MiB at the default) where single
    /// datagrams touched a page each. Off: one datagram per message, as
    /// on kernels without GRO, and exact kernel drop counts. Ignored
    /// elsewhere.
    pub gro: bool,
    /// Pause between calls inside a frame whose packets trickle, so that
    /// they are taken together (zero: no pause, a wake-up per packet).
    /// A frame completes at most this much (plus the scheduler's delay
    /// in waking the thread) later for it. Linux only, and only with a
    /// `batch` above 1: one datagram per call cannot catch up after a
    /// pause.
    pub linger: Duration,
}

impl Default for StdBackend {
    fn default() -> Self {
        StdBackend {
            read_timeout: Duration::from_millis(50),
            batch: DEFAULT_BATCH,
            gro: cfg!(target_os = "linux"),
            linger: DEFAULT_LINGER,
        }
    }
}

/// Default of `StdBackend::linger`: a trickled 1080p frame takes 5-15 ms
/// to arrive, so its thread wakes about once per millisecond instead of
/// once per packet, for a frame at most about 1 ms late.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(1);

/// The backend's name in logs and errors.
const NAME: &str = "std";
/// Period of `CameraIngest::on_tick` while packets flow (an idle socket
/// ticks once per read timeout).
const TICK: Duration = Duration::from_millis(50);
/// How often the kernel's drop counter is read (one `getsockopt`).
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
        // Here, not where the sockets are bound: this backend's reader
        // cuts GRO runs apart.
        if self.gro {
            enable_gro_for(&cameras);
        }
        let (stop_flag, batch, linger) = (stop.clone(), self.batch, self.linger);
        spawn_all(
            cameras,
            &stop,
            |camera| format!("rx-{}", camera.ingest.camera_id()),
            move |camera| receive_loop(camera, batch, linger, &stop_flag),
        )
        .map(|threads| Spawned {
            backend: NAME,
            threads,
        })
        .map_err(failed)
    }
}

fn receive_loop(camera: CameraSocket, batch: usize, linger: Duration, stop: &AtomicBool) {
    let CameraSocket {
        socket, mut ingest, ..
    } = camera;
    let mut receiver = DatagramReceiver::new(batch);
    let mut lingering = Linger::new(linger, receiver.batch());
    let mut errors: RateLimiter<1> = RateLimiter::new(WARN_INTERVAL);
    let mut next_tick = Instant::now();
    let mut next_drops = next_tick;
    let mut drops = DropCounter::default();
    // Known from the start, zero or not: the counter then only reports
    // when it moves.
    if let Some(raw) = kernel_drops(&socket) {
        drops.update(raw);
        ingest.on_kernel_drops(next_tick, drops.total());
    }
    next_drops += KERNEL_DROPS_INTERVAL;
    while !stop.load(Ordering::Relaxed) {
        let mut arrived = None;
        let received = receiver.receive(&socket, |from, bytes| {
            // A batch shares one arrival time: its datagrams were all
            // queued by the time the call returned.
            let now = *arrived.get_or_insert_with(Instant::now);
            ingest.on_datagram(now, from, bytes);
            lingering.on_datagram(bytes);
        });
        let now = arrived.unwrap_or_else(Instant::now);
        match received {
            Ok(_) if lingering.end_read() => {
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
            if let Some(total) = drops.poll(&socket) {
                ingest.on_kernel_drops(now, total);
            }
            next_drops = now + KERNEL_DROPS_INTERVAL;
        }
    }
    // Drops since the last reading, so that none goes uncounted.
    if let Some(total) = drops.poll(&socket) {
        ingest.on_kernel_drops(Instant::now(), total);
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
