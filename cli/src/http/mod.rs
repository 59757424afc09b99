//! `recv --http ADDR:PORT`: the live view. A page of every camera, each
//! camera's newest JPEG and an MJPEG stream of them, the stats as JSON and
//! as Prometheus metrics, served on threads of their own (HTTP/1.1 read
//! and written by [`wire`], one request per connection).
//!
//! The receive loop owns a [`LiveView`] and calls two cheap methods on it:
//! [`LiveView::publish`] per delivered frame (one copy of the JPEG into a
//! shared `Arc<[u8]>`, one short lock) and [`LiveView::refresh`] per loop
//! turn (a stats copy a few times a second). Nothing it calls waits on
//! an HTTP client; see [`slot`] for how viewers take frames.

mod metrics;
mod server;
pub mod slot;
pub mod snapshot;
mod wire;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use mjpeg_rtp::{Client, Frame};

use slot::{LatestSlot, ViewerCap};
use snapshot::{CameraView, RateTracker, SilenceTracker, Snapshot, Totals};

/// Concurrent `stream.mjpg` viewers allowed over all cameras by default
/// (`--http-max-viewers`): each holds a thread and at most one frame.
pub const DEFAULT_MAX_VIEWERS: usize = 16;
/// The stats behind `/`, `/api/cameras` and `/metrics` are refreshed this
/// often.
const REFRESH_PERIOD: Duration = Duration::from_millis(250);
/// Environment variable read for the access token when `--http-token` is
/// not given.
pub const TOKEN_ENV: &str = "MJPEG_RTP_HTTP_TOKEN";
/// A write to an HTTP client that makes no progress for this long fails
/// (one that wrote part of its bytes returns that part, and the next
/// write fails): a viewer that stopped reading (its TCP window shut) is
/// dropped within two of these once the socket buffer is full, and gives
/// its place back rather than holding its thread forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the live view is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    /// When set, every endpoint wants it (`Authorization: Bearer TOKEN` or
    /// `?token=TOKEN`).
    pub token: Option<String>,
    pub max_viewers: usize,
}

/// One camera as the live view serves it: what the receive loop and the
/// HTTP threads share about it.
#[derive(Debug)]
struct LiveCamera {
    id: String,
    slot: LatestSlot,
    viewers: AtomicUsize,
}

/// Everything the HTTP threads read.
#[derive(Debug)]
struct Shared {
    cameras: Vec<LiveCamera>,
    snapshot: Mutex<Snapshot>,
    cap: Arc<ViewerCap>,
    token: Option<String>,
    stopping: AtomicBool,
    /// Connections answered 503 at the cap on connections or on requests
    /// in flight.
    requests_refused: AtomicU64,
    /// Requests answered 4xx without being read further.
    requests_rejected: wire::RejectionCounts,
}

impl Shared {
    fn camera(&self, id: &str) -> Option<&LiveCamera> {
        self.cameras.iter().find(|c| c.id == id)
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Every camera's view, from the last stats snapshot and the live
    /// viewer counters.
    fn views(&self) -> Vec<CameraView> {
        let snapshot = self.snapshot();
        snapshot
            .stats
            .iter()
            .zip(&snapshot.rates)
            .zip(snapshot.silent.iter().chain(std::iter::repeat(&None)))
            .map(|((stats, &rates), &silent)| {
                let mut view = CameraView::new(stats, rates);
                view.silent_seconds = silent.map(|d| d.as_secs());
                if let Some(camera) = self.camera(&stats.camera_id) {
                    view.viewers = camera.viewers.load(Ordering::Relaxed);
                    view.viewer_frames_skipped = camera.slot.skipped.load(Ordering::Relaxed);
                }
                view
            })
            .collect()
    }
}

/// How long stopping the view tries to connect to its own listener.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a connection reaches a listener bound to `bound`: the loopback
/// address for a wildcard one.
fn wake_address(bound: SocketAddr) -> SocketAddr {
    let ip = match bound {
        SocketAddr::V4(a) if a.ip().is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        _ => bound.ip(),
    };
    SocketAddr::new(ip, bound.port())
}

/// The running live view; stops serving when dropped.
pub struct LiveView {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    rates: RateTracker,
    silence: SilenceTracker,
    refreshed: Option<Instant>,
}

impl LiveView {
    /// Bind `options.listen` and serve the cameras of `client` (started).
    pub fn start(options: &HttpOptions, client: &Client) -> Result<LiveView> {
        let cannot =
            |e: &dyn std::fmt::Display| anyhow!("cannot serve HTTP on {}: {e}", options.listen);
        let listener = std::net::TcpListener::bind(options.listen).map_err(|e| cannot(&e))?;
        // Every accepted socket inherits the listener's send timeout
        // (Linux and the BSDs copy it on accept), so that no write, the
        // accepting thread's 503s included, waits on a client for longer.
        socket2::SockRef::from(&listener)
            .set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|e| cannot(&e))?;
        let local_addr = listener.local_addr().map_err(|e| cannot(&e))?;
        if !local_addr.ip().is_loopback() {
            log::warn!(
                "the live view on {local_addr} is open to the network{}",
                if options.token.is_some() {
                    " (access token required)"
                } else {
                    ": anyone who can reach it sees every camera (--http-token protects it)"
                }
            );
        }
        let shared = Arc::new(Shared {
            cameras: client
                .camera_ids()
                .map(|id| LiveCamera {
                    id: id.to_owned(),
                    slot: LatestSlot::default(),
                    viewers: AtomicUsize::new(0),
                })
                .collect(),
            snapshot: Mutex::new(Snapshot::default()),
            cap: Arc::new(ViewerCap::new(options.max_viewers)),
            token: options.token.clone().filter(|t| !t.is_empty()),
            stopping: AtomicBool::new(false),
            requests_refused: AtomicU64::new(0),
            requests_rejected: wire::RejectionCounts::default(),
        });
        let registry = Arc::new(metrics::registry(Arc::clone(&shared)));
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("http-accept".into())
                .spawn(move || server::accept_loop(&listener, &shared, &registry))?
        };
        let mut live = LiveView {
            shared,
            local_addr,
            accept: Some(accept),
            rates: RateTracker::default(),
            silence: SilenceTracker::default(),
            refreshed: None,
        };
        live.refresh(client, true);
        Ok(live)
    }

    /// The address served (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Make `frame`'s JPEG the newest of its camera (one copy).
    pub fn publish(&self, frame: &Frame) {
        if let Some(camera) = self.shared.camera(frame.camera_id()) {
            camera
                .slot
                .publish(frame.timestamp, Arc::from(frame.jpeg()));
        }
    }

    /// Take a fresh copy of the stats when the last one is older than
    /// [`REFRESH_PERIOD`], or now with `force`.
    pub fn refresh(&mut self, client: &Client, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .refreshed
                .is_some_and(|t| now.duration_since(t) < REFRESH_PERIOD)
        {
            return;
        }
        self.refreshed = Some(now);
        let stats = client.stats();
        let totals: Vec<Totals> = stats.iter().map(Totals::of).collect();
        let rates = self.rates.update(now, &totals);
        let silent = self.silence.update(now, &totals);
        *self
            .shared
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Snapshot {
            stats,
            rates,
            silent,
        };
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        for camera in &self.shared.cameras {
            camera.slot.wake_all();
        }
        // Viewer threads end at their next frame wait, or when a write
        // to a stalled client times out (WRITE_TIMEOUT); neither is
        // waited for here. The accepting thread waits in `accept`: a
        // connection of our own wakes it to see `stopping`. Should that
        // connection fail, the thread is left to end with the process
        // rather than joined forever.
        let woken = TcpStream::connect_timeout(&wake_address(self.local_addr), WAKE_TIMEOUT);
        if let Some(accept) = self.accept.take() {
            match woken {
                Ok(_) => {
                    let _ = accept.join();
                }
                Err(e) => log::debug!("http: could not wake the accepting thread: {e}"),
            }
        }
    }
}
