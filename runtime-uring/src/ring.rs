//! The ring thread: one io_uring, one provided-buffer ring, one multishot
//! `recvmsg` per camera socket.
//!
//! Life of a datagram: the kernel picks a buffer from the buffer ring,
//! writes an `io_uring_recvmsg_out` header, the sender address, the
//! control data (`SO_RXQ_OVFL`, `UDP_GRO`) and the payload into it, and
//! posts a completion naming the buffer and the camera (user data =
//! camera index). We parse it, call [`CameraIngest::on_datagram`] (the
//! core copies the payload into its frame buffer) once per datagram (a
//! UDP GRO message is a run of them, cut at its segment size) and
//! recycle the buffer; the
//! batch's buffers go back to the kernel together after its last
//! completion. A completion without `IORING_CQE_F_MORE` means the request
//! is no longer armed (for example the published buffers ran out:
//! `ENOBUFS`); it is re-armed in the same loop iteration, after the
//! buffers of the batch went back.
//!
//! Kernel features relied on: provided-buffer rings (5.19), multishot
//! `recvmsg` (6.0), `IORING_ENTER_EXT_ARG` waits with a timeout (5.11).
//! Used when present: `IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN` (6.1,
//! receive work runs only when this thread asks for completions) and a
//! minimum batch wait (6.12).
//!
//! When to batch: the minimum-wait timer costs the thread CPU of its own
//! on every wait (~16 us against ~6 us for a plain wait on a 2-core VM),
//! which only pays when completions would otherwise come one or two per
//! wake-up. So each camera keeps the std backend's [`Linger`] rule (two
//! small batches within one frame: its packets trickle), and the thread
//! waits with the timer only while some camera's frame trickles; bursts
//! are taken as they wake it, with a plain wait for one completion.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use mjpeg_rtp::backend::{
    enable_gro_for, gro_segment, split_segments, CameraIngest, CameraSocket, DropCounter, Linger,
    RateLimiter, WARN_INTERVAL,
};

use crate::buf_ring::BufRing;
use crate::message::{self, BUFFER_OVERHEAD, CONTROL_LEN, NAME_LEN};
use crate::options::UringOptions;

/// The one buffer group of the ring.
pub(crate) const BGID: u16 = 0;
/// User data of cancel requests (camera indexes are far below).
pub(crate) const CANCEL: u64 = u64::MAX;
/// How long shutdown waits for the kernel to confirm cancellations.
const CANCEL_WAIT: Duration = Duration::from_secs(2);
/// Consecutive failed arms of one socket after which it is retried only
/// on ticks (a socket error must not turn into a busy loop).
const MAX_QUICK_REARMS: u32 = 3;
/// Time between narrowings of the published buffer window
/// (`BufRing::settle`), whatever the tick.
const SETTLE_EVERY: Duration = Duration::from_secs(1);
/// How often each socket's drop count is also read directly (one
/// `getsockopt` each), for drops no datagram has carried yet.
const KERNEL_DROPS_INTERVAL: Duration = Duration::from_secs(1);

/// Why the ring could not start; the cameras come back for the fallback.
pub(crate) struct SetupError {
    pub(crate) error: io::Error,
    pub(crate) cameras: Vec<CameraSocket>,
}

/// Start the ring thread for `cameras`. Returns once the ring is set up
/// and every socket is armed, or hands the cameras back when that failed
/// (the thread has then ended).
pub(crate) fn spawn(
    options: &UringOptions,
    cameras: Vec<CameraSocket>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, SetupError> {
    let (tx, rx) = mpsc::sync_channel::<Result<(), SetupError>>(1);
    let options = options.clone();
    let spawned =
        std::thread::Builder::new()
            .name("rx-uring".into())
            .spawn(move || match Ring::new(&options, cameras) {
                Ok(mut ring) => {
                    let _ = tx.send(Ok(()));
                    ring.run(&stop);
                    ring.shutdown();
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            });
    let handle = spawned.map_err(|error| SetupError {
        error,
        cameras: Vec::new(),
    })?;
    match rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(SetupError {
                error: io::Error::other("the io_uring thread ended during setup"),
                cameras: Vec::new(),
            })
        }
    }
}

/// Build an io_uring with the cheapest completion mode the kernel has.
fn new_uring(sq_entries: u32, cq_entries: u32) -> io::Result<IoUring> {
    let fast = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(cq_entries)
        .build(sq_entries);
    let ring = match fast {
        Ok(ring) => ring,
        // Before 6.1: the plain mode.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
            .setup_cqsize(cq_entries)
            .build(sq_entries)?,
        Err(e) => return Err(e),
    };
    if !ring.params().is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11+)",
        ));
    }
    Ok(ring)
}

/// A new io_uring ([`new_uring`]) with a ring of `count` buffers of
/// `buffer_len` bytes registered as group [`BGID`]. The caller keeps the
/// buffers alive for as long as they are registered: [`Ring`] unregisters
/// them (or destroys the ring) before dropping them, and only after every
/// request that may use them has ended; [`crate::probe::probe`] awaits
/// the end of its one request, or leaks both.
pub(crate) fn uring_with_buffers(
    sq_entries: u32,
    cq_entries: u32,
    count: u16,
    buffer_len: u32,
) -> io::Result<(IoUring, BufRing)> {
    let uring = new_uring(sq_entries, cq_entries)?;
    let buffers = BufRing::new(count, buffer_len)?;
    // SAFETY: the entry array is a live mapping of `count` entries owned
    // by `buffers`, which the caller keeps alive while it is registered
    // (above).
    unsafe {
        uring.submitter().register_buf_ring_with_flags(
            buffers.ring_addr(),
            buffers.count(),
            BGID,
            0,
        )?;
    }
    Ok((uring, buffers))
}

/// The `msghdr` every multishot `recvmsg` is armed with: only the name
/// and control lengths matter (they reserve that much room at the start
/// of each buffer).
pub(crate) fn template_msghdr() -> Box<libc::msghdr> {
    // SAFETY: msghdr is plain old data; all-zero is a valid value (null
    // pointers, zero lengths).
    let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
    msg.msg_namelen = NAME_LEN as libc::socklen_t;
    msg.msg_controllen = CONTROL_LEN as _;
    msg
}

pub(crate) fn recv_entry(fd: libc::c_int, msg: &libc::msghdr, user_data: u64) -> squeue::Entry {
    opcode::RecvMsgMulti::new(types::Fd(fd), msg, BGID)
        .build()
        .user_data(user_data)
}

/// Wait for at least `want` completions, at most `timeout`; a timeout or
/// a signal is not an error.
pub(crate) fn wait(
    ring: &IoUring,
    want: usize,
    timeout: Duration,
    min_wait: Option<Duration>,
) -> io::Result<()> {
    let ts = types::Timespec::from(timeout);
    let mut args = types::SubmitArgs::new().timespec(&ts);
    if let Some(min) = min_wait {
        args = args.min_wait_usec(u32::try_from(min.as_micros()).unwrap_or(u32::MAX));
    }
    match ring.submitter().submit_with_args(want, &args) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ETIME | libc::EINTR | libc::EBUSY)
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// One camera on the ring.
struct Slot {
    socket: UdpSocket,
    ingest: CameraIngest,
    /// A multishot request is in flight.
    armed: bool,
    /// Failed arms in a row.
    failures: u32,
    drops: DropCounter,
    /// `SO_RXQ_OVFL` is on for the socket.
    rxq_ovfl: bool,
    /// Whether its current frame trickles; one wait is one read.
    linger: Linger,
    /// A datagram came since the last tick.
    heard: bool,
}

/// Everything a completion touches besides the ring itself.
struct State {
    buffers: BufRing,
    msghdr: Box<libc::msghdr>,
    slots: Vec<Slot>,
    /// Cameras to re-arm after the current batch.
    rearm: Vec<usize>,
    warnings: RateLimiter<{ Warning::KINDS }>,
    stopping: bool,
    counts: Counts,
}

/// What the ring did, logged at debug level when it stops.
#[derive(Debug, Default)]
struct Counts {
    waits: u64,
    /// Waits with the minimum-wait timer.
    timed: u64,
    completions: u64,
    dry: u64,
}

struct Ring {
    uring: IoUring,
    state: State,
    /// Completions a timed wait waits for.
    batch: usize,
    /// The minimum-wait timer, where the kernel has it and it is wanted.
    min_wait: Option<Duration>,
    /// Time every wait, not only while a frame trickles.
    batch_every_wait: bool,
    tick: Duration,
    /// The buffer ring is registered with `uring`.
    registered: bool,
    /// `shutdown_ring` ran.
    ended: bool,
}

impl Ring {
    fn new(options: &UringOptions, cameras: Vec<CameraSocket>) -> Result<Ring, SetupError> {
        match Self::setup(options) {
            Ok((uring, buffers)) => {
                let min_wait = uring
                    .params()
                    .is_feature_min_timeout()
                    .then_some(options.batch_wait)
                    .filter(|d| !d.is_zero());
                let batch = options.batch.max(1) as usize;
                // Here, once the ring exists, not where the sockets are
                // bound: the ring cuts GRO runs apart. Should arming fail
                // below, the std fallback gets the sockets with GRO on,
                // which its reader cuts apart whatever its own `gro`.
                if options.gro {
                    enable_gro_for(&cameras);
                }
                let slots = cameras
                    .into_iter()
                    .map(|c| Slot {
                        socket: c.socket,
                        ingest: c.ingest,
                        armed: false,
                        failures: 0,
                        drops: DropCounter::default(),
                        rxq_ovfl: c.rxq_ovfl,
                        // Without the timer there is nothing to linger
                        // with.
                        linger: Linger::new(min_wait.unwrap_or_default(), batch),
                        heard: false,
                    })
                    .collect();
                let mut ring = Ring {
                    uring,
                    state: State {
                        buffers,
                        msghdr: template_msghdr(),
                        slots,
                        rearm: Vec::new(),
                        warnings: RateLimiter::new(WARN_INTERVAL),
                        stopping: false,
                        counts: Counts::default(),
                    },
                    batch,
                    min_wait,
                    batch_every_wait: options.batch_every_wait,
                    tick: options.tick,
                    registered: true,
                    ended: false,
                };
                match ring.arm_all() {
                    Ok(()) => Ok(ring),
                    Err(error) => {
                        ring.shutdown_ring();
                        let cameras = std::mem::take(&mut ring.state.slots)
                            .into_iter()
                            .map(|s| CameraSocket {
                                socket: s.socket,
                                ingest: s.ingest,
                                rxq_ovfl: s.rxq_ovfl,
                            })
                            .collect();
                        Err(SetupError { error, cameras })
                    }
                }
            }
            Err(error) => Err(SetupError { error, cameras }),
        }
    }

    fn setup(options: &UringOptions) -> io::Result<(IoUring, BufRing)> {
        let count = options.buffers;
        uring_with_buffers(
            256,
            u32::from(count).max(256) * 2,
            count,
            options.buffer_len,
        )
    }

    /// Arm every socket, then check that the kernel accepted multishot
    /// `recvmsg` (a kernel without it fails the request at once).
    fn arm_all(&mut self) -> io::Result<()> {
        let now = Instant::now();
        for (index, slot) in self.state.slots.iter_mut().enumerate() {
            // The kernel attaches a drop count only once there was a drop:
            // until then it is zero.
            if slot.rxq_ovfl {
                slot.ingest.on_kernel_drops(now, 0);
            }
            self.state.rearm.push(index);
        }
        self.push_rearms()?;
        self.uring.submit()?;
        let mut refused = None;
        for cqe in self.uring.completion() {
            let failed = cqe.user_data() != CANCEL
                && cqe.result() < 0
                && cqe.result() != -libc::ENOBUFS
                && !cqueue::more(cqe.flags());
            if failed {
                if let Some(slot) = self.state.slots.get_mut(cqe.user_data() as usize) {
                    slot.armed = false;
                }
                refused = Some(io::Error::from_raw_os_error(-cqe.result()));
            } else {
                // A datagram may already be here.
                self.state.on_completion(now, &cqe);
            }
        }
        self.state.buffers.refill();
        match refused {
            Some(e) => Err(io::Error::new(
                e.kind(),
                format!("multishot recvmsg refused ({e}; needs Linux 6.0+)"),
            )),
            None => Ok(()),
        }
    }

    /// Queue a multishot request for every camera in `rearm`.
    fn push_rearms(&mut self) -> io::Result<()> {
        let State {
            slots,
            rearm,
            msghdr,
            ..
        } = &mut self.state;
        for index in rearm.drain(..) {
            let Some(slot) = slots.get_mut(index) else {
                continue;
            };
            if slot.armed {
                continue;
            }
            let entry = recv_entry(slot.socket.as_raw_fd(), msghdr, index as u64);
            loop {
                // SAFETY: the entry points at `msghdr` (boxed, alive as
                // long as the ring) and the socket's fd (owned by the
                // slot, closed only after shutdown ended every request);
                // buffers come from the registered buffer group.
                let pushed = unsafe { self.uring.submission().push(&entry) };
                if pushed.is_ok() {
                    break;
                }
                // The submission queue is full: hand it to the kernel.
                self.uring.submit()?;
            }
            slot.armed = true;
        }
        Ok(())
    }

    fn run(&mut self, stop: &AtomicBool) {
        let mut next_tick = Instant::now() + self.tick;
        let mut next_settle = Instant::now() + SETTLE_EVERY;
        let mut next_drops = Instant::now() + KERNEL_DROPS_INTERVAL;
        let mut trickling = false;
        while !stop.load(Ordering::Relaxed) {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            let (want, min_wait) = match self.min_wait {
                Some(min) if trickling || self.batch_every_wait => {
                    self.state.counts.timed += 1;
                    (self.batch, Some(min))
                }
                _ => (1, None),
            };
            if let Err(e) = wait(&self.uring, want, timeout, min_wait) {
                if self
                    .state
                    .warnings
                    .allow(Warning::Ring as usize, Instant::now())
                    .is_some()
                {
                    log::error!("io_uring wait failed: {e}");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            self.state.counts.waits += 1;
            let now = Instant::now();
            for cqe in self.uring.completion() {
                self.state.on_completion(now, &cqe);
            }
            // Every camera's verdict, not only up to the first trickling
            // one: each read must end.
            trickling = self
                .state
                .slots
                .iter_mut()
                .fold(false, |any, slot| slot.linger.end_read() | any);
            // Before any re-arm: a request armed on an empty ring would
            // end at once.
            self.state.buffers.refill();
            if now >= next_settle {
                self.state.buffers.settle();
                next_settle = now + SETTLE_EVERY;
            }
            if now >= next_tick {
                let read_drops = now >= next_drops;
                if read_drops {
                    next_drops = now + KERNEL_DROPS_INTERVAL;
                }
                for (index, slot) in self.state.slots.iter_mut().enumerate() {
                    // Control messages carry the count only with the next
                    // datagram: drops at the end of a burst would wait
                    // for the camera's next packet.
                    if read_drops {
                        if let Some(total) = slot.drops.poll(&slot.socket) {
                            slot.ingest.on_kernel_drops(now, total);
                        }
                    }
                    slot.ingest.on_tick(now);
                    // A camera silent for a tick is trickling no frame
                    // (its end was lost): it must not keep the timer on.
                    if !std::mem::take(&mut slot.heard) {
                        slot.linger.on_silence();
                    }
                    if !slot.armed {
                        self.state.rearm.push(index);
                    }
                }
                next_tick = now + self.tick;
            }
            if let Err(e) = self.push_rearms() {
                if self
                    .state
                    .warnings
                    .allow(Warning::Ring as usize, now)
                    .is_some()
                {
                    log::error!("io_uring submit failed: {e}");
                }
            }
        }
    }

    /// Cancel every request, wait until the kernel confirmed, and only
    /// then let the buffers go; finally flush every camera.
    fn shutdown(mut self) {
        let c = &self.state.counts;
        log::debug!(
            "io_uring ring: {} waits ({} with the minimum-wait timer), {} completions \
             ({:.1} per wait), {} re-arms after ENOBUFS, {} of {} buffers published",
            c.waits,
            c.timed,
            c.completions,
            c.completions as f64 / c.waits.max(1) as f64,
            c.dry,
            self.state.buffers.window(),
            self.state.buffers.count()
        );
        self.shutdown_ring();
        let now = Instant::now();
        for slot in &mut self.state.slots {
            // Drops after the last datagram, which no control message
            // carried.
            if let Some(total) = slot.drops.poll(&slot.socket) {
                slot.ingest.on_kernel_drops(now, total);
            }
            slot.ingest.finish();
        }
    }

    fn shutdown_ring(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.state.stopping = true;
        self.state.rearm.clear();
        for (index, slot) in self.state.slots.iter().enumerate() {
            if !slot.armed {
                continue;
            }
            let cancel = opcode::AsyncCancel::new(index as u64)
                .build()
                .user_data(CANCEL);
            loop {
                // SAFETY: a cancel request refers to no memory.
                if unsafe { self.uring.submission().push(&cancel) }.is_ok() {
                    break;
                }
                if self.uring.submit().is_err() {
                    break;
                }
            }
        }
        let deadline = Instant::now() + CANCEL_WAIT;
        while self.state.slots.iter().any(|s| s.armed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = wait(&self.uring, 1, left.min(Duration::from_millis(50)), None);
            let now = Instant::now();
            for cqe in self.uring.completion() {
                self.state.on_completion(now, &cqe);
            }
        }
        if self.state.slots.iter().any(|s| s.armed) {
            // The kernel may still write into the buffers: never free
            // them. Leaking once at shutdown beats undefined behaviour.
            log::error!("io_uring receive requests did not end within {CANCEL_WAIT:?}; leaking the receive buffers");
            let leaked = std::mem::replace(
                &mut self.state.buffers,
                // A tiny stand-in so that `Ring` stays whole.
                BufRing::new(1, 1).unwrap_or_else(|_| std::process::abort()),
            );
            std::mem::forget(leaked);
            return;
        }
        if self.registered {
            if let Err(e) = self.uring.submitter().unregister_buf_ring(BGID) {
                log::debug!("unregistering the buffer ring: {e}");
            }
            self.registered = false;
        }
    }
}

impl Drop for Ring {
    /// Also on unwinding: the buffers must not be freed under the kernel.
    fn drop(&mut self) {
        self.shutdown_ring();
    }
}

impl State {
    fn on_completion(&mut self, now: Instant, cqe: &cqueue::Entry) {
        let user_data = cqe.user_data();
        if user_data == CANCEL {
            return;
        }
        let index = user_data as usize;
        let flags = cqe.flags();
        self.counts.completions += 1;
        let result = cqe.result();
        let bid = cqueue::buffer_select(flags);
        if let (Some(bid), Some(slot), false) = (bid, self.slots.get_mut(index), self.stopping) {
            if let Ok(len) = usize::try_from(result) {
                let data = self.buffers.buffer(bid, len);
                deliver(slot, &mut self.warnings, now, data, &self.msghdr);
            }
        }
        // The core has copied the payload: the buffer is free.
        if let Some(bid) = bid {
            self.buffers.recycle(bid);
        }
        if cqueue::more(flags) {
            return;
        }
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        slot.armed = false;
        if self.stopping {
            return;
        }
        match result {
            r if r >= 0 => slot.failures = 0,
            r if r == -libc::ENOBUFS => {
                self.counts.dry += 1;
                // Every published buffer was in use: datagrams wait in
                // the socket buffer until the request is armed again, just
                // below, with a wider window if there are buffers left.
                self.buffers.dry();
                if self.warnings.allow(Warning::Dry as usize, now).is_some() {
                    log::debug!(
                        "io_uring buffer ring ran dry ({} of {} buffers published); re-arming",
                        self.buffers.window(),
                        self.buffers.count()
                    );
                }
                slot.failures = 0;
            }
            r => {
                slot.failures += 1;
                if self.warnings.allow(Warning::Socket as usize, now).is_some() {
                    log::warn!(
                        "camera {:?}: io_uring receive failed: {}",
                        slot.ingest.camera_id(),
                        io::Error::from_raw_os_error(-r)
                    );
                }
            }
        }
        if slot.failures <= MAX_QUICK_REARMS {
            self.rearm.push(index);
        }
    }
}

/// Hand one received buffer to its camera: its datagram, or with UDP
/// GRO each datagram of its run, in order.
fn deliver(
    slot: &mut Slot,
    warnings: &mut RateLimiter<{ Warning::KINDS }>,
    now: Instant,
    data: &[u8],
    msghdr: &libc::msghdr,
) {
    let Ok(out) = types::RecvMsgOut::parse(data, msghdr) else {
        return;
    };
    if let Some(count) = message::rxq_ovfl(out.control_data()) {
        if let Some(total) = slot.drops.update(count) {
            slot.ingest.on_kernel_drops(now, total);
        }
    }
    let from = message::socket_addr(out.name_data())
        .unwrap_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    slot.heard = true;
    // Part of the message did not fit (`MSG_TRUNC`), or its control data
    // did not (`MSG_CTRUNC`, for which CONTROL_LEN leaves no reason; it
    // may have held a run's segment size): never let the core see a
    // shortened packet (a shortened last packet would end a frame early)
    // or a run as one long datagram. An empty datagram is counted as
    // `rtp_truncated`.
    if out.is_payload_truncated() || out.is_control_data_truncated() {
        if warnings.allow(Warning::Truncated as usize, now).is_some() {
            if out.is_payload_truncated() {
                log::warn!(
                    "camera {:?}: message from {from} larger than the io_uring buffer \
                     ({} bytes of payload room); dropped. Raise UringOptions::buffer_len.",
                    slot.ingest.camera_id(),
                    data.len().saturating_sub(BUFFER_OVERHEAD)
                );
            } else {
                log::warn!(
                    "camera {:?}: message from {from} with its control data cut off; dropped",
                    slot.ingest.camera_id()
                );
            }
        }
        slot.ingest.on_datagram(now, from, &[]);
        slot.linger.on_datagram(&[]);
        return;
    }
    let segment = gro_segment(out.control_data());
    split_segments(out.payload_data(), segment, |datagram| {
        slot.ingest.on_datagram(now, from, datagram);
        slot.linger.on_datagram(datagram);
    });
}

/// Kinds of rate-limited ring warnings.
#[derive(Clone, Copy)]
enum Warning {
    Ring,
    Socket,
    Dry,
    Truncated,
}

impl Warning {
    const KINDS: usize = 4;
}
