//! Per-camera bounded queues of decoded frames, behind one lock and one
//! condition variable so that a consumer can wait on one camera or on all.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::frame::Frame;

#[derive(Debug, Default)]
struct State {
    /// Per camera: (arrival order, frame), oldest first.
    queues: Vec<VecDeque<(u64, Frame)>>,
    next_order: u64,
    closed: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Output {
    state: Mutex<State>,
    ready: Condvar,
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add a queue for a new camera; returns its index.
    pub(crate) fn add_camera(&self, depth: usize) -> usize {
        let mut state = self.lock();
        state.queues.push(VecDeque::with_capacity(depth + 1));
        state.queues.len() - 1
    }

    /// Queue a frame; when the queue already holds `depth` frames the
    /// oldest is taken out and returned (the caller counts and drops it
    /// outside the lock).
    pub(crate) fn push(&self, camera: usize, frame: Frame, depth: usize) -> Option<Frame> {
        let mut state = self.lock();
        let order = state.next_order;
        state.next_order += 1;
        let queue = state.queues.get_mut(camera)?;
        let dropped = if queue.len() >= depth.max(1) {
            queue.pop_front().map(|(_, f)| f)
        } else {
            None
        };
        queue.push_back((order, frame));
        drop(state);
        self.ready.notify_all();
        dropped
    }

    /// The oldest frame of `camera` (or of any camera when `None`),
    /// waiting up to `timeout`. Returns at once when the output is closed
    /// and the queue empty.
    pub(crate) fn pop(&self, camera: Option<usize>, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        loop {
            if let Some(frame) = take(&mut state, camera) {
                return Some(frame);
            }
            if state.closed {
                return None;
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

    /// Wake every waiter; later pops return what is queued, then `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub(crate) fn queued(&self, camera: usize) -> usize {
        self.lock().queues.get(camera).map_or(0, VecDeque::len)
    }
}

fn take(state: &mut State, camera: Option<usize>) -> Option<Frame> {
    let index = match camera {
        Some(i) => i,
        None => {
            state
                .queues
                .iter()
                .enumerate()
                .filter_map(|(i, q)| q.front().map(|(order, _)| (*order, i)))
                .min()?
                .1
        }
    };
    state
        .queues
        .get_mut(index)?
        .pop_front()
        .map(|(_, frame)| frame)
}
