//! Per-camera counters: what the receive path publishes and what
//! [`Client::stats`](crate::Client::stats) returns.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mjpeg_rtp_core::{frame_buffer_len, InvalidCounts, StreamStats};

use crate::config::CameraConfig;
use crate::pool::BufferPool;
use crate::ratelimit::RateLimiter;

/// Retired streams (SSRC changes) kept per camera; older ones are merged
/// away so that a sender cycling SSRCs cannot grow memory.
pub(crate) const MAX_RETIRED_STREAMS: usize = 64;

/// Counters of one camera.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CameraStats {
    pub camera_id: String,
    /// The address the camera's socket is bound to.
    pub local_addr: SocketAddr,
    /// Receive buffer the kernel reported after the configured request.
    pub socket_receive_buffer: usize,
    /// One entry per RTP stream (SSRC) seen, oldest first; the last is the
    /// current one. Empty before the first valid packet.
    pub streams: Vec<StreamStats>,
    /// Datagrams refused before reaching any frame, by reason.
    pub invalid: InvalidCounts,
    /// Every datagram read from the socket, and its bytes.
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams from a host other than the configured sender (ignored).
    pub packets_foreign: u64,
    /// Datagrams the kernel dropped because the socket buffer was full,
    /// where the platform reports it.
    pub kernel_drops: Option<u64>,
    /// Complete frames dropped because the decode workers were behind.
    pub frames_dropped_backlog: u64,
    /// Complete frames whose JPEG failed to decode (never delivered).
    pub decode_errors: u64,
    /// Frames decoded and queued for the consumer.
    pub frames_decoded: u64,
    /// Decoded frames dropped, oldest first, because the queue was full.
    pub frames_dropped_queue: u64,
    /// Frames the consumer took (`get_frame`/`next_frame`).
    pub frames_delivered: u64,
}

impl CameraStats {
    /// Packets received over all streams.
    pub fn packets_received(&self) -> u64 {
        self.streams.iter().map(|s| s.packets_received).sum()
    }

    /// RFC 3550 packets lost over all streams.
    pub fn packets_lost(&self) -> u64 {
        self.streams.iter().map(|s| s.packets_lost()).sum()
    }

    /// Frames the depacketizer completed over all streams.
    pub fn frames_complete(&self) -> u64 {
        self.streams.iter().map(|s| s.frames_complete).sum()
    }

    /// Frames the depacketizer gave up over all streams.
    pub fn frames_dropped(&self) -> u64 {
        self.streams.iter().map(|s| s.frames_dropped_total()).sum()
    }
}

/// What the receive path publishes about its camera.
#[derive(Debug, Clone, Default)]
pub(crate) struct IngestSnapshot {
    pub(crate) current: StreamStats,
    pub(crate) retired: Vec<StreamStats>,
    pub(crate) invalid: InvalidCounts,
    pub(crate) datagrams: u64,
    pub(crate) bytes: u64,
    pub(crate) packets_foreign: u64,
    pub(crate) kernel_drops: Option<u64>,
    pub(crate) frames_dropped_backlog: u64,
}

/// State of one camera shared by its receive path, the decode workers and
/// the client.
#[derive(Debug)]
pub(crate) struct CameraShared {
    pub(crate) index: usize,
    pub(crate) id: Arc<str>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) socket_receive_buffer: usize,
    pub(crate) queue_depth: usize,
    pub(crate) jpeg_pool: Arc<BufferPool>,
    pub(crate) rgb_pool: Arc<BufferPool>,
    pub(crate) ingest: Mutex<IngestSnapshot>,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) frames_decoded: AtomicU64,
    pub(crate) frames_dropped_queue: AtomicU64,
    pub(crate) frames_delivered: AtomicU64,
    /// Decode-side warnings (decode errors, queue drops).
    pub(crate) decode_warnings: Mutex<RateLimiter<2>>,
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
            local_addr,
            socket_receive_buffer,
            queue_depth: config.queue_depth,
            jpeg_pool: BufferPool::new(frame_buffer_len(config.max_frame_bytes), keep),
            rgb_pool: BufferPool::new(0, keep),
            ingest: Mutex::new(IngestSnapshot::default()),
            decode_errors: AtomicU64::new(0),
            frames_decoded: AtomicU64::new(0),
            frames_dropped_queue: AtomicU64::new(0),
            frames_delivered: AtomicU64::new(0),
            decode_warnings: Mutex::new(RateLimiter::new(Duration::from_secs(1))),
        })
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
        CameraStats {
            camera_id: self.id.to_string(),
            local_addr: self.local_addr,
            socket_receive_buffer: self.socket_receive_buffer,
            streams,
            invalid: ingest.invalid,
            datagrams: ingest.datagrams,
            bytes: ingest.bytes,
            packets_foreign: ingest.packets_foreign,
            kernel_drops: ingest.kernel_drops,
            frames_dropped_backlog: ingest.frames_dropped_backlog,
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            frames_decoded: self.frames_decoded.load(Ordering::Relaxed),
            frames_dropped_queue: self.frames_dropped_queue.load(Ordering::Relaxed),
            frames_delivered: self.frames_delivered.load(Ordering::Relaxed),
        }
    }
}
