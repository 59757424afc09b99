//! One camera's receive side: what a backend feeds every datagram to.
//!
//! [`CameraIngest`] holds the camera's core [`Depacketizer`], filters
//! senders, counts, and hands complete frames to the decode workers
//! without ever waiting for them (a full decode backlog drops the frame,
//! counted). Like the core it reads no clock: every call that depends on
//! time takes the `now` its backend read.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use mjpeg_rtp_core::{Depacketizer, InvalidReason, OwnedFrame, Thinning, TimestampOrder, Verdict};

use crate::backend::no_frame::NoFrameWatch;
use crate::backend::silence::{Silence, SilenceWatch};
use crate::camera::CameraShared;
use crate::config::{CameraConfig, Delivery};
use crate::epoch::Epoch;
use crate::output::{DecodeJob, Output, Ticket};
use crate::pool::Pooled;
use crate::ratelimit::{RateLimiter, WARN_INTERVAL};
use crate::stats::{ReceiveCounters, MAX_RETIRED_STREAMS};

/// How often the published counters are refreshed while packets flow
/// (they are also refreshed on every complete frame and every tick).
const PUBLISH_INTERVAL: Duration = Duration::from_millis(20);

// Warning kinds besides one per invalid reason.
const WARN_FOREIGN: usize = InvalidReason::COUNT;
const WARN_BACKLOG: usize = InvalidReason::COUNT + 1;
const WARN_KERNEL: usize = InvalidReason::COUNT + 2;
const WARN_KINDS: usize = InvalidReason::COUNT + 3;

/// One camera's receive-side state: depacketizer, sender filter,
/// counters and the handoff to decoding. Owned by exactly one receive
/// thread; dropping it flushes the stream and publishes final counters.
pub struct CameraIngest {
    shared: Arc<CameraShared>,
    depacketizer: Box<Depacketizer<Vec<u8>, { CameraConfig::MAX_FRAMES_IN_FLIGHT }>>,
    epoch: Epoch,
    sender: Option<IpAddr>,
    /// The shared sender's change count `sender` was read at.
    sender_seen: u64,
    /// The address the camera was told to listen on (its port resolved
    /// when 0 was asked), for messages.
    bind: SocketAddr,
    silence: SilenceWatch,
    no_frame: NoFrameWatch,
    /// The learnt dynamic payload type has been logged.
    payload_type_logged: bool,
    decode: Sender<DecodeJob>,
    /// The client's stop flag: once it is set the decoders take no more
    /// jobs, and a frame the full backlog refuses is given up to the stop,
    /// not to decoders falling behind.
    stopping: Arc<AtomicBool>,
    /// Where the camera's frames wait for the consumer (latest delivery
    /// puts them there itself; tickets name it).
    output: Arc<Output>,
    delivery: Delivery,
    /// [`CameraConfig::max_fps`], when set.
    thinning: Option<Thinning>,
    /// Frames leave in RTP timestamp order.
    order: TimestampOrder,
    /// Queue delivery: the number of the next frame's [`Ticket`].
    next_ticket: u64,
    /// Unpublished counters, copied to `shared` every PUBLISH_INTERVAL.
    counters: ReceiveCounters,
    /// When the last datagram from the accepted sender arrived, published
    /// with the counters.
    last_datagram: Option<Instant>,
    /// `None` until the first datagram, which publishes at once.
    next_publish: Option<Instant>,
    warnings: RateLimiter<WARN_KINDS>,
    finished: bool,
}

impl fmt::Debug for CameraIngest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CameraIngest")
            .field("camera", &self.shared.id)
            .field("local_addr", &self.shared.local_addr())
            .finish_non_exhaustive()
    }
}

impl CameraIngest {
    pub(crate) fn new(
        config: &CameraConfig,
        shared: Arc<CameraShared>,
        epoch: Epoch,
        decode: Sender<DecodeJob>,
        stopping: Arc<AtomicBool>,
        output: Arc<Output>,
    ) -> Self {
        // Only the first `frames_in_flight` slots are ever used (the core
        // limits active slots); the others stay empty, costing nothing.
        let buffers: [Vec<u8>; CameraConfig::MAX_FRAMES_IN_FLIGHT] = std::array::from_fn(|i| {
            if i < config.frames_in_flight {
                shared.jpeg_pool.get()
            } else {
                Vec::new()
            }
        });
        // The RTSP session may name another sender after a reconnect.
        shared.set_sender(config.sender);
        let (sender, sender_seen) = shared.sender();
        // A multicast camera's socket is bound to the wildcard address:
        // the group says more.
        let bind = match config.bind.port() {
            0 => shared.local_addr(),
            _ => config.bind,
        };
        CameraIngest {
            depacketizer: Box::new(Depacketizer::new(config.core_config(), buffers)),
            shared,
            epoch,
            sender: sender.map(|ip| ip.to_canonical()),
            sender_seen,
            bind,
            silence: SilenceWatch::new(config.silence_warning),
            no_frame: NoFrameWatch::new(config.silence_warning),
            payload_type_logged: false,
            decode,
            stopping,
            output,
            delivery: config.delivery,
            thinning: config.thinning(),
            order: TimestampOrder::new(config.reorder_window),
            next_ticket: 0,
            counters: ReceiveCounters::default(),
            last_datagram: None,
            next_publish: None,
            warnings: RateLimiter::new(WARN_INTERVAL),
            finished: false,
        }
    }

    /// The camera's id.
    pub fn camera_id(&self) -> &str {
        &self.shared.id
    }

    /// The address the camera's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr()
    }

    /// One datagram received at `now` from `from`.
    pub fn on_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.counters.datagrams += 1;
        self.counters.bytes += bytes.len() as u64;
        if self.shared.sender_changed(self.sender_seen) {
            let (sender, seen) = self.shared.sender();
            (self.sender, self.sender_seen) = (sender.map(|ip| ip.to_canonical()), seen);
        }
        if self.sender.is_some_and(|s| s != from.ip().to_canonical()) {
            self.counters.packets_foreign += 1;
            self.silence.on_foreign(now, from);
            if let Some(more) = self.warnings.allow(WARN_FOREIGN, now) {
                log::warn!(
                    "camera {:?}: ignoring datagrams from {from} (not the configured sender; \
                     {more} more since the last warning)",
                    self.shared.id
                );
            }
        } else {
            // Only the accepted sender's datagrams say the stream is
            // alive: a stale source still sending to a multicast group
            // must not keep a dead session from being set up again.
            self.last_datagram = Some(now);
            if let Some(silent) = self.silence.on_sender(now) {
                // At the level of the silence line, so that whoever saw
                // that one sees this one.
                log::warn!(
                    "camera {:?}: datagrams from {from} now arrive on {}, {silent:.1?} after \
                     the camera started",
                    self.shared.id,
                    self.bind,
                );
            }
            match self.depacketizer.push(self.epoch.to_core(now), bytes) {
                Verdict::Completed => self.drain(now),
                Verdict::Invalid(reason) => self.warn_invalid(now, from, reason),
                _ => {}
            }
            self.retire_stream();
        }
        if self.next_publish.is_none_or(|t| now >= t) {
            self.publish_at(now);
        }
    }

    /// The kernel's running count of datagrams dropped for this socket
    /// (for example from `SO_RXQ_OVFL` control messages), read at `now`.
    pub fn on_kernel_drops(&mut self, now: Instant, total: u64) {
        let before = self.counters.kernel_drops.unwrap_or(0);
        self.counters.kernel_drops = Some(total);
        if total > before {
            if let Some(more) = self.warnings.allow(WARN_KERNEL, now) {
                log::warn!(
                    "camera {:?}: the kernel dropped {} datagrams (socket receive buffer \
                     full; {total} in all, {more} warnings suppressed)",
                    self.shared.id,
                    total - before
                );
            }
        }
    }

    /// Time passed with or without packets: drops frames too old to
    /// complete and publishes counters. Call at least every 100 ms while
    /// idle, or by [`CameraIngest::poll_timeout`].
    pub fn on_tick(&mut self, now: Instant) {
        if let Some(silence) = self.silence.on_tick(now) {
            self.warn_silence(silence);
        }
        let (stats, invalid) = (self.depacketizer.stats(), self.depacketizer.invalid());
        if let Some(report) = self.no_frame.on_tick(now, &stats, invalid) {
            log::warn!("camera {:?}: {report}", self.shared.id);
        }
        self.depacketizer.handle_timeout(self.epoch.to_core(now));
        self.retire_stream();
        self.publish_at(now);
    }

    /// When the oldest frame in flight expires, if one is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.depacketizer
            .poll_timeout()
            .map(|t| self.epoch.to_std(t))
    }

    /// The stream ended: drop frames still incomplete (counted as lost)
    /// and publish the final counters. Also done on drop.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.depacketizer.flush();
        self.retire_stream();
        self.publish();
    }

    /// Hand every complete frame to the decoders; the depacketizer gets a
    /// pooled buffer in exchange for each.
    fn drain(&mut self, now: Instant) {
        // Publish before the frames leave: a consumer holding a frame then
        // reads counters at least as new as that frame.
        self.publish_at(now);
        let backlog_drops = self.counters.frames_dropped_backlog;
        loop {
            let spare = self.shared.jpeg_pool.get();
            match self.depacketizer.take_frame(spare) {
                Ok(frame) => self.hand_off(frame, now),
                Err(spare) => {
                    self.shared.jpeg_pool.put(spare);
                    break;
                }
            }
        }
        if self.counters.frames_dropped_backlog != backlog_drops {
            self.publish_at(now);
        }
    }

    fn hand_off(&mut self, frame: OwnedFrame<Vec<u8>>, now: Instant) {
        let stats = self.depacketizer.stats();
        if stats.payload_type_detected && !self.payload_type_logged {
            self.payload_type_logged = true;
            log::info!(
                "camera {:?}: RFC 2435 on dynamic payload type {} (learnt from {} \
                 consecutive packets; other dynamic types are now refused)",
                self.shared.id,
                stats.payload_type.unwrap_or_default(),
                mjpeg_rtp_core::PAYLOAD_TYPE_LOCK_AFTER,
            );
        }
        let info = frame.info;
        // A frame whose last packet came late completes after a newer
        // one: too late to keep the order (see `TimestampOrder`).
        if !self.order.admit(&info) {
            self.counters.frames_dropped_out_of_order += 1;
            self.shared.jpeg_pool.put(frame.buffer);
            return;
        }
        // Thinned before anything is spent on the frame.
        if self.thinning.as_mut().is_some_and(|t| !t.keep(&info)) {
            self.counters.frames_thinned += 1;
            self.shared.jpeg_pool.put(frame.buffer);
            return;
        }
        let mut job = DecodeJob {
            camera: self.shared.clone(),
            info: frame.info,
            jpeg: Pooled::new(frame.buffer, self.shared.jpeg_pool.clone()),
            jpeg_range: frame.jpeg,
            packets_received: stats.packets_received,
            packets_lost: stats.packets_lost(),
            first_packet_at: self.epoch.to_std(frame.info.first_arrival),
            received_at: now,
            ticket: None,
        };
        if self.delivery == Delivery::Latest {
            if let Some(replaced) = self.output.offer_latest(self.shared.index, job) {
                self.counters.frames_superseded += 1;
                drop(replaced);
            }
            return;
        }
        job.ticket = Some(Ticket::new(
            self.output.clone(),
            self.shared.clone(),
            self.next_ticket,
        ));
        self.next_ticket += 1;
        // A job refused here drops its ticket, which gives its place up.
        match self.decode.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) if self.stopping.load(Ordering::Relaxed) => {
                self.shared
                    .frames_dropped_stopping
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.counters.frames_dropped_backlog += 1;
                if let Some(more) = self.warnings.allow(WARN_BACKLOG, now) {
                    log::warn!(
                        "camera {:?}: decoders are behind, frame dropped ({more} more since \
                         the last warning)",
                        self.shared.id
                    );
                }
            }
            // Decoders gone: the client is stopping.
            Err(TrySendError::Disconnected(_)) => {
                self.shared
                    .frames_dropped_stopping
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn warn_invalid(&mut self, now: Instant, from: SocketAddr, reason: InvalidReason) {
        let key = InvalidReason::ALL
            .iter()
            .position(|&r| r == reason)
            .unwrap_or(0);
        if let Some(more) = self.warnings.allow(key, now) {
            log::warn!(
                "camera {:?}: invalid datagram from {from}: {reason} ({more} more since the \
                 last warning)",
                self.shared.id
            );
        }
    }

    fn warn_silence(&self, silence: Silence) {
        let (id, bind, lasted) = (&self.shared.id, self.bind, silence.lasted);
        match (silence.foreign, self.sender) {
            (Some(foreign), Some(sender)) => log::warn!(
                "camera {id:?}: nothing from {sender} on {bind} for {lasted:?}, only datagrams \
                 from {foreign}, which are ignored: check the camera's expected sender host"
            ),
            // Only a sender filter makes a datagram foreign.
            (_, sender) => log::warn!(
                "camera {id:?}: no datagram on {bind} for {lasted:?}: check that the camera \
                 sends to this host's address and port {}, and that no firewall drops UDP to \
                 it{}",
                bind.port(),
                sender
                    .map(|s| format!("; only datagrams from {s} will be used"))
                    .unwrap_or_default()
            ),
        }
    }

    fn retire_stream(&mut self) {
        let Some(retired) = self.depacketizer.take_retired_stream() else {
            return;
        };
        log::info!(
            "camera {:?}: new RTP stream (SSRC {:#010x} replaces {:#010x})",
            self.shared.id,
            self.depacketizer.stats().ssrc.unwrap_or(0),
            retired.ssrc.unwrap_or(0)
        );
        let mut snapshot = self
            .shared
            .ingest
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Full: the two oldest become one entry, so that no count is
        // lost and a sender cycling SSRCs cannot grow memory (or every
        // stats reader's copy).
        if snapshot.retired.len() >= MAX_RETIRED_STREAMS {
            let oldest = snapshot.retired.remove(0);
            if let Some(next) = snapshot.retired.first_mut() {
                next.absorb(&oldest);
            }
        }
        snapshot.retired.push(retired);
    }

    /// Publish now and next after PUBLISH_INTERVAL.
    fn publish_at(&mut self, now: Instant) {
        self.next_publish = Some(now + PUBLISH_INTERVAL);
        self.publish();
    }

    /// Copy the counters to where the client reads them.
    fn publish(&mut self) {
        let mut snapshot = self
            .shared
            .ingest
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        snapshot.current = self.depacketizer.stats();
        snapshot.invalid = *self.depacketizer.invalid();
        snapshot.counters = self.counters;
        snapshot.last_datagram = self.last_datagram;
    }
}

impl Drop for CameraIngest {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use mjpeg_rtp_core::{Packetizer, PacketizerConfig};

    use super::*;

    /// Counts allocations made by the threads that ask it to.
    struct CountingAllocator;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: every call is forwarded unchanged to the system allocator;
    // the bookkeeping touches only const-initialised thread locals, which
    // never allocate.
    unsafe impl GlobalAlloc for CountingAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                ALLOCATIONS.with(|n| n.set(n.get() + 1));
            }
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                ALLOCATIONS.with(|n| n.set(n.get() + 1));
            }
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: CountingAllocator = CountingAllocator;

    /// Allocations this thread makes while running `f` (the receiver's
    /// tests use it too: one global allocator per test binary).
    pub(crate) fn allocations_in(f: impl FnOnce()) -> u64 {
        ALLOCATIONS.with(|n| n.set(0));
        COUNTING.with(|c| c.set(true));
        f();
        COUNTING.with(|c| c.set(false));
        ALLOCATIONS.with(Cell::get)
    }

    /// Only the accepted sender's datagrams are liveness: the RTSP
    /// session's silence deadline (`CameraShared::last_datagram`) does not
    /// move for datagrams refused as foreign, valid RTP or not, so a stale
    /// multicast source still sending to the group cannot keep a dead
    /// session from being set up again.
    #[test]
    fn foreign_datagrams_are_not_liveness() {
        let mut config = CameraConfig::new("cam", "127.0.0.1:0".parse().unwrap());
        config.sender = Some("10.0.0.1".parse().unwrap());
        let output = Arc::new(Output::default());
        let shared = CameraShared::new(output.add_camera(4), &config, config.bind, 0);
        let (jobs_tx, _jobs_rx) = crossbeam_channel::bounded(4);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut ingest = CameraIngest::new(
            &config,
            Arc::clone(&shared),
            Epoch::new(),
            jobs_tx,
            stopping,
            output,
        );
        let jpeg = crate::decode::tests::sample_jpeg(64, 48);
        let mut packetizer = Packetizer::new(PacketizerConfig::default());
        let mut datagram = vec![0u8; 1500];
        let mut packets = Vec::new();
        let mut frame = packetizer.frame(&jpeg, 0).unwrap();
        while let Some(n) = frame.next_into(&mut datagram) {
            packets.push(datagram[..n.unwrap()].to_vec());
        }
        let stale: SocketAddr = "10.0.0.2:5004".parse().unwrap();
        let sender: SocketAddr = "10.0.0.1:5004".parse().unwrap();
        let start = Instant::now();
        // Past every publish interval, so that each datagram publishes.
        let at = |ms: u64| start + Duration::from_millis(ms);
        for (i, packet) in packets.iter().enumerate() {
            ingest.on_datagram(at(100 * i as u64), stale, packet);
        }
        ingest.on_tick(at(1000));
        assert_eq!(shared.last_datagram(), None);
        ingest.on_datagram(at(1100), sender, &packets[0]);
        ingest.on_datagram(at(1200), stale, &packets[1]);
        ingest.on_tick(at(1300));
        assert_eq!(shared.last_datagram(), Some(at(1100)));
        let stats = shared.snapshot();
        assert_eq!(stats.packets_foreign, packets.len() as u64 + 1);
        assert_eq!(stats.datagrams, packets.len() as u64 + 2);
    }

    /// The rule, checked: once the pools are warm, receiving costs
    /// no allocation, neither per packet nor per complete frame.
    #[test]
    fn warm_receive_path_allocates_nothing() {
        let config = CameraConfig::new("cam", "127.0.0.1:0".parse().unwrap());
        let output = Arc::new(Output::default());
        let shared = CameraShared::new(output.add_camera(4), &config, config.bind, 0);
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(4);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut ingest =
            CameraIngest::new(&config, shared, Epoch::new(), jobs_tx, stopping, output);
        let jpeg = crate::decode::tests::sample_jpeg(640, 480);
        let mut packetizer = Packetizer::new(PacketizerConfig::default());
        let from: SocketAddr = "127.0.0.1:5004".parse().unwrap();
        let mut datagram = vec![0u8; 1500];
        let mut timestamp = 0u32;
        let mut run = |frames: u32, ingest: &mut CameraIngest| {
            for _ in 0..frames {
                // Frames leave in timestamp order: each a frame later.
                timestamp += 3000;
                let mut packets = packetizer.frame(&jpeg, timestamp).unwrap();
                while let Some(n) = packets.next_into(&mut datagram) {
                    let n = n.unwrap();
                    ingest.on_datagram(Instant::now(), from, &datagram[..n]);
                }
                // The decoder's side: the job (and so its pooled JPEG
                // buffer) is dropped, which returns the buffer.
                let job = jobs_rx.try_recv().expect("a complete frame");
                assert_eq!(job.info.width, 640);
            }
        };
        run(4, &mut ingest);
        // The counter counts.
        assert_eq!(
            allocations_in(|| drop(std::hint::black_box(vec![1u8; 10]))),
            1
        );
        let allocations = allocations_in(|| run(50, &mut ingest));
        assert_eq!(allocations, 0, "allocations over 50 warm frames");
        assert_eq!(ingest.depacketizer.stats().frames_complete, 54);
    }
}
