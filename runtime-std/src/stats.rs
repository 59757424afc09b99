//! Per-camera counters: what the receive path publishes and what
//! [`Client::stats`](crate::Client::stats) returns.

use std::net::SocketAddr;
use std::time::Instant;

use mjpeg_rtp_core::{InvalidCounts, StreamStats};

use crate::capture_clock::RtcpStats;

/// Retired streams (SSRC changes) kept per camera; older ones are merged
/// away so that a sender cycling SSRCs cannot grow memory.
pub(crate) const MAX_RETIRED_STREAMS: usize = 8;

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
    /// where the platform reports it. The kernel counts the buffers it
    /// drops: with UDP GRO ([`StdBackend::gro`], on by default on Linux)
    /// one buffer may hold a run of datagrams (up to 64 KiB) and is
    /// dropped whole but counted once, so the count is then a lower
    /// bound; without GRO it is exact.
    ///
    /// [`StdBackend::gro`]: crate::backend::StdBackend::gro
    pub kernel_drops: Option<u64>,
    /// Complete frames dropped because the decode workers were behind.
    pub frames_dropped_backlog: u64,
    /// Complete frames dropped because a newer frame of the stream had
    /// already been handed out (its last packet came very late): frames
    /// reach the consumer in RTP timestamp order.
    pub frames_dropped_out_of_order: u64,
    /// Complete frames left out by [`CameraConfig::max_fps`](crate::CameraConfig::max_fps),
    /// before decode.
    pub frames_thinned: u64,
    /// Latest delivery: complete frames replaced by a newer one before
    /// anyone took them (never decoded).
    pub frames_superseded: u64,
    /// Complete frames whose JPEG failed to decode (never delivered).
    pub decode_errors: u64,
    /// Frames made ready for the consumer: decoded (or, passed through,
    /// readied as JPEG). With latest delivery, only the frames taken.
    pub frames_decoded: u64,
    /// Decoded frames dropped, oldest first, because the queue was full.
    pub frames_dropped_queue: u64,
    /// Frames the consumer took (`get_frame`/`next_frame`).
    pub frames_delivered: u64,
    /// Complete frames given up because the client was stopping: waiting
    /// for a decoder when [`Client::stop`](crate::Client::stop) came, or
    /// completed after the decoders had stopped taking work. With the counters above,
    /// every complete frame is delivered, still queued, or counted once.
    pub frames_dropped_stopping: u64,
    /// RTSP sessions set up again after the connection dropped, a
    /// keepalive failed or RTP stopped (0 for other cameras).
    pub reconnects: u64,
    /// RTCP of an RTSP camera, or of a plain-UDP one with
    /// [`CameraConfig::rtcp`](crate::CameraConfig::rtcp) (zero otherwise).
    pub rtcp: RtcpStats,
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

/// What the receive path counts itself (the depacketizer counts the
/// rest), kept by the ingest and published as a whole; the fields of the
/// same names in [`CameraStats`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReceiveCounters {
    pub(crate) datagrams: u64,
    pub(crate) bytes: u64,
    pub(crate) packets_foreign: u64,
    pub(crate) kernel_drops: Option<u64>,
    pub(crate) frames_dropped_backlog: u64,
    pub(crate) frames_dropped_out_of_order: u64,
    pub(crate) frames_thinned: u64,
    pub(crate) frames_superseded: u64,
}

/// What the receive path publishes about its camera.
#[derive(Debug, Clone, Default)]
pub(crate) struct IngestSnapshot {
    pub(crate) current: StreamStats,
    pub(crate) retired: Vec<StreamStats>,
    pub(crate) invalid: InvalidCounts,
    pub(crate) counters: ReceiveCounters,
    /// When the last datagram from the accepted sender arrived (foreign
    /// ones, refused, do not count): the RTSP session's silence deadline
    /// counts from it.
    pub(crate) last_datagram: Option<Instant>,
}
