//! The state of one camera that its receive path, the decode workers and
//! the client share: identity, buffer pools, published counters.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use mjpeg_rtp_core::frame_buffer_len;

use crate::capture_clock::RtcpShared;
use crate::config::CameraConfig;
use crate::pool::BufferPool;
use crate::ratelimit::{RateLimiter, WARN_INTERVAL};
use crate::stats::{CameraStats, IngestSnapshot};

/// State of one camera shared by its receive path, the decode workers and
/// the client.
#[derive(Debug)]
pub(crate) struct CameraShared {
    pub(crate) index: usize,
    pub(crate) id: Arc<str>,
    /// Where the camera's RTP socket is bound: known at `add_camera`,
    /// except for a multicast RTSP camera, whose group and ports come
    /// from SETUP.
    local_addr: Mutex<SocketAddr>,
    /// Who the receive path accepts RTP from (`None`: anyone), and a
    /// count of its changes, so that the receive path looks at the lock
    /// only after one: a reconnect may name another sender (a new
    /// multicast `source=`, a server that moved).
    sender: Mutex<Option<IpAddr>>,
    sender_changes: AtomicU64,
    pub(crate) socket_receive_buffer: usize,
    pub(crate) jpeg_pool: Arc<BufferPool>,
    pub(crate) rgb_pool: Arc<BufferPool>,
    pub(crate) ingest: Mutex<IngestSnapshot>,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) frames_decoded: AtomicU64,
    pub(crate) frames_dropped_queue: AtomicU64,
    pub(crate) frames_delivered: AtomicU64,
    /// Complete frames given up because the client was stopping.
    pub(crate) frames_dropped_stopping: AtomicU64,
    /// RTSP sessions set up again after being lost.
    pub(crate) reconnects: AtomicU64,
    /// Decode-side warnings, one kind each: [`DecodeWarning`].
    decode_warnings: Mutex<RateLimiter<2>>,
    /// The capture clock from the sender's reports, and RTCP counters.
    pub(crate) rtcp: RtcpShared,
}

/// What the decode side warns about, each kind rate-limited on its own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DecodeWarning {
    /// A frame failed to decode and was not delivered.
    DecodeError = 0,
    /// The consumer's queue was full and lost its oldest frame.
    QueueFull = 1,
}

impl CameraShared {
    /// The shared state of camera `index` (its slot in the client's
    /// output), bound to `local_addr` with a socket receive buffer of
    /// `socket_receive_buffer` bytes.
    pub(crate) fn new(
        index: usize,
        config: &CameraConfig,
        local_addr: SocketAddr,
        socket_receive_buffer: usize,
    ) -> Arc<Self> {
        // Spares for every frame that can be outside the depacketizer:
        // decoding, queued, held by the consumer.
        let keep = config.queue_depth + config.frames_in_flight + 4;
        Arc::new(CameraShared {
            index,
            id: config.id.as_str().into(),
            local_addr: Mutex::new(local_addr),
            sender: Mutex::new(config.sender),
            sender_changes: AtomicU64::new(0),
            socket_receive_buffer,
            jpeg_pool: BufferPool::new(frame_buffer_len(config.max_frame_bytes), keep),
            rgb_pool: BufferPool::new(0, keep),
            ingest: Mutex::new(IngestSnapshot::default()),
            decode_errors: AtomicU64::new(0),
            frames_decoded: AtomicU64::new(0),
            frames_dropped_queue: AtomicU64::new(0),
            frames_delivered: AtomicU64::new(0),
            frames_dropped_stopping: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            decode_warnings: Mutex::new(RateLimiter::new(WARN_INTERVAL)),
            rtcp: RtcpShared::default(),
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        *self
            .local_addr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_local_addr(&self, addr: SocketAddr) {
        *self
            .local_addr
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = addr;
    }

    /// The sender the receive path accepts, with the change count it
    /// goes with.
    pub(crate) fn sender(&self) -> (Option<IpAddr>, u64) {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        (*sender, self.sender_changes.load(Ordering::Acquire))
    }

    /// Whether the sender changed since change count `seen`.
    pub(crate) fn sender_changed(&self, seen: u64) -> bool {
        self.sender_changes.load(Ordering::Relaxed) != seen
    }

    pub(crate) fn set_sender(&self, sender: Option<IpAddr>) {
        let mut current = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if *current != sender {
            *current = sender;
            self.sender_changes.fetch_add(1, Ordering::Release);
        }
    }

    pub(crate) fn snapshot(&self) -> CameraStats {
        let ingest = self
            .ingest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut streams = ingest.retired;
        if ingest.current.ssrc.is_some() {
            streams.push(ingest.current);
        }
        let counters = ingest.counters;
        CameraStats {
            camera_id: self.id.to_string(),
            local_addr: self.local_addr(),
            socket_receive_buffer: self.socket_receive_buffer,
            streams,
            invalid: ingest.invalid,
            datagrams: counters.datagrams,
            bytes: counters.bytes,
            packets_foreign: counters.packets_foreign,
            kernel_drops: counters.kernel_drops,
            frames_dropped_backlog: counters.frames_dropped_backlog,
            frames_dropped_out_of_order: counters.frames_dropped_out_of_order,
            frames_thinned: counters.frames_thinned,
            frames_superseded: counters.frames_superseded,
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            frames_decoded: self.frames_decoded.load(Ordering::Relaxed),
            frames_dropped_queue: self.frames_dropped_queue.load(Ordering::Relaxed),
            frames_delivered: self.frames_delivered.load(Ordering::Relaxed),
            frames_dropped_stopping: self.frames_dropped_stopping.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            rtcp: self.rtcp.snapshot(),
        }
    }

    /// Whether a warning of `kind` may be logged now, and if so how many
    /// were held back since the last one ([`RateLimiter::allow`]).
    pub(crate) fn allow_warning(&self, kind: DecodeWarning) -> Option<u64> {
        self.decode_warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow(kind as usize, Instant::now())
    }

    /// When the last datagram from the accepted sender that the receive
    /// path has published arrived (RTP over UDP or interleaved; foreign
    /// datagrams do not count), to tell a silent camera.
    pub(crate) fn last_datagram(&self) -> Option<Instant> {
        self.ingest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_datagram
    }
}
