//! What waits for the consumer, per camera, behind one lock and one
//! condition variable so that a consumer can wait on one camera or on all.
//!
//! Per camera, by its [`Delivery`](crate::Delivery):
//! - queue: decoded frames in the order the receive path handed them out
//!   (RTP timestamp order). Decode workers finish in any order, so every
//!   job carries a [`Ticket`], numbered in hand-out order by the receive
//!   path; a frame finished early waits in `reorder` until every earlier
//!   ticket is finished or given up. The queue is bounded: a full one
//!   drops its oldest frame.
//! - latest: the newest complete frame, not yet decoded; whoever takes it
//!   decodes it. A newer frame replaces it.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mjpeg_rtp_core::FrameInfo;

use crate::camera::CameraShared;
use crate::frame::Frame;
use crate::pool::Pooled;

/// A complete frame on its way to the consumer: through a decode worker
/// (queue delivery), or waiting undecoded as its camera's newest frame
/// (latest delivery).
pub(crate) struct DecodeJob {
    pub(crate) camera: Arc<CameraShared>,
    pub(crate) info: FrameInfo,
    pub(crate) jpeg: Pooled,
    pub(crate) jpeg_range: Range<usize>,
    pub(crate) packets_received: u64,
    pub(crate) packets_lost: u64,
    pub(crate) first_packet_at: Instant,
    pub(crate) received_at: Instant,
    /// Queue delivery: the frame's place in the camera's output order.
    pub(crate) ticket: Option<Ticket>,
}

/// What a consumer takes: a frame ready to hand over, or (latest
/// delivery) one still to be decoded.
pub(crate) enum Ready {
    Decoded(Frame),
    Undecoded(DecodeJob),
}

#[derive(Default)]
struct CameraOutput {
    /// Bound of `decoded`.
    depth: usize,
    /// (arrival order over all cameras, frame), oldest first.
    decoded: VecDeque<(u64, Frame)>,
    /// Latest delivery: (arrival order, the newest complete frame).
    latest: Option<(u64, DecodeJob)>,
    /// The ticket whose frame `decoded` takes next.
    next_ticket: u64,
    /// Tickets `next_ticket`, `next_ticket + 1`, ...: `None` while still
    /// being decoded, `Some(None)` when given up.
    reorder: VecDeque<Option<Option<Frame>>>,
}

#[derive(Default)]
struct State {
    cameras: Vec<CameraOutput>,
    next_order: u64,
    closed: bool,
}

#[derive(Default)]
pub(crate) struct Output {
    state: Mutex<State>,
    ready: Condvar,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").finish_non_exhaustive()
    }
}

/// A queue-delivery frame's place in its camera's output order, handed
/// out by the receive path with each decode job. Dropped without
/// [`Ticket::finish`] (decode failed, the backlog was full, stopping, a
/// decoder panicked) it gives its place up, so that later frames are not
/// held back behind it.
pub(crate) struct Ticket {
    output: Arc<Output>,
    camera: Arc<CameraShared>,
    number: u64,
    finished: bool,
}

impl Ticket {
    pub(crate) fn new(output: Arc<Output>, camera: Arc<CameraShared>, number: u64) -> Self {
        Ticket {
            output,
            camera,
            number,
            finished: false,
        }
    }

    /// Put the decoded frame in its place; returns how many queued
    /// frames the bounded queue dropped (oldest first) to make room,
    /// already counted.
    pub(crate) fn finish(mut self, frame: Frame) -> u64 {
        self.finished = true;
        self.settle(Some(frame))
    }

    /// Settle the ticket; frames it lets through may push the oldest
    /// queued ones out, which are counted here whichever way it settles.
    fn settle(&self, frame: Option<Frame>) -> u64 {
        let dropped = self.output.settle(self.camera.index, self.number, frame) as u64;
        if dropped > 0 {
            self.camera
                .frames_dropped_queue
                .fetch_add(dropped, Ordering::Relaxed);
        }
        dropped
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished {
            self.settle(None);
        }
    }
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add a camera whose queue holds up to `depth` decoded frames;
    /// returns its index.
    pub(crate) fn add_camera(&self, depth: usize) -> usize {
        let mut state = self.lock();
        state.cameras.push(CameraOutput {
            depth: depth.max(1),
            decoded: VecDeque::with_capacity(depth + 1),
            ..CameraOutput::default()
        });
        state.cameras.len() - 1
    }

    /// Ticket `number` of `camera` is settled: decoded into `frame`, or
    /// given up. Every frame whose turn has come moves to the queue;
    /// returns how many the full queue dropped.
    fn settle(&self, camera: usize, number: u64, frame: Option<Frame>) -> usize {
        let mut state = self.lock();
        let State {
            cameras,
            next_order,
            ..
        } = &mut *state;
        let Some(out) = cameras.get_mut(camera) else {
            return 0;
        };
        let Some(offset) = number
            .checked_sub(out.next_ticket)
            .and_then(|o| usize::try_from(o).ok())
        else {
            // Settled twice: cannot happen, as a ticket settles once.
            return 0;
        };
        if out.reorder.len() <= offset {
            out.reorder.resize_with(offset + 1, || None);
        }
        if let Some(place) = out.reorder.get_mut(offset) {
            *place = Some(frame);
        }
        let mut dropped = 0;
        let mut moved = false;
        while let Some(Some(_)) = out.reorder.front() {
            let Some(Some(settled)) = out.reorder.pop_front() else {
                break;
            };
            out.next_ticket += 1;
            if let Some(frame) = settled {
                if out.decoded.len() >= out.depth {
                    out.decoded.pop_front();
                    dropped += 1;
                }
                out.decoded.push_back((*next_order, frame));
                *next_order += 1;
                moved = true;
            }
        }
        drop(state);
        if moved {
            self.ready.notify_all();
        }
        dropped
    }

    /// Latest delivery: `job` becomes `camera`'s newest frame; returns the
    /// one it replaces, never taken (the caller counts and drops it).
    pub(crate) fn offer_latest(&self, camera: usize, job: DecodeJob) -> Option<DecodeJob> {
        let mut state = self.lock();
        let order = state.next_order;
        state.next_order += 1;
        let out = state.cameras.get_mut(camera)?;
        let replaced = out.latest.replace((order, job)).map(|(_, job)| job);
        drop(state);
        self.ready.notify_all();
        replaced
    }

    /// The next frame of `camera` (of any camera when `None`, the one
    /// waiting longest), waiting up to `timeout`. Returns at once when
    /// the output is closed and nothing waits.
    pub(crate) fn pop(&self, camera: Option<usize>, timeout: Duration) -> Option<Ready> {
        self.wait_for(timeout, |state| match take(state, camera) {
            Some(ready) => Some(Some(ready)),
            None if state.closed => Some(None),
            None => None,
        })
        .flatten()
    }

    /// The next frame of each of `cameras` that has one, in their order
    /// (`None` where a camera has nothing), waiting up to `timeout` for
    /// the first; all taken under one lock, so that the batch is one
    /// moment's. Returns at once when the output is closed.
    pub(crate) fn pop_each(&self, cameras: &[usize], timeout: Duration) -> Vec<Option<Ready>> {
        self.wait_for(timeout, |state| {
            let waiting = |&c: &usize| state.cameras.get(c).and_then(front_order).is_some();
            (state.closed || cameras.iter().any(waiting))
                .then(|| cameras.iter().map(|&c| take(state, Some(c))).collect())
        })
        .unwrap_or_else(|| cameras.iter().map(|_| None).collect())
    }

    /// Wait up to `timeout`, woken whenever a frame becomes ready, until
    /// `attempt` (under the lock) has an answer; `None` when time is up.
    fn wait_for<T>(
        &self,
        timeout: Duration,
        mut attempt: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        loop {
            if let Some(answer) = attempt(&mut state) {
                return Some(answer);
            }
            let now = Instant::now();
            let wait = match deadline {
                Some(d) if d <= now => return None,
                Some(d) => d - now,
                // A timeout too large to represent: wait in long steps.
                None => Duration::from_secs(3600),
            };
            state = self
                .ready
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Wake every waiter; later pops return what waits, then `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Frames waiting for `camera` (decoded, or its newest undecoded).
    pub(crate) fn queued(&self, camera: usize) -> usize {
        self.lock()
            .cameras
            .get(camera)
            .map_or(0, |c| c.decoded.len() + usize::from(c.latest.is_some()))
    }
}

/// The order number of what `out` would hand over next.
fn front_order(out: &CameraOutput) -> Option<u64> {
    let decoded = out.decoded.front().map(|(order, _)| *order);
    let latest = out.latest.as_ref().map(|(order, _)| *order);
    match (decoded, latest) {
        (Some(d), Some(l)) => Some(d.min(l)),
        (d, l) => d.or(l),
    }
}

fn take(state: &mut State, camera: Option<usize>) -> Option<Ready> {
    let index = match camera {
        Some(i) => i,
        None => {
            state
                .cameras
                .iter()
                .enumerate()
                .filter_map(|(i, c)| front_order(c).map(|order| (order, i)))
                .min()?
                .1
        }
    };
    let out = state.cameras.get_mut(index)?;
    let decoded_first = match (out.decoded.front(), &out.latest) {
        (Some((d, _)), Some((l, _))) => d < l,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if decoded_first {
        out.decoded.pop_front().map(|(_, f)| Ready::Decoded(f))
    } else {
        out.latest.take().map(|(_, job)| Ready::Undecoded(job))
    }
}
