//! The per-camera "latest frame" slot between the receive loop and the
//! HTTP viewers, and the viewer cap.
//!
//! The contract that keeps a viewer from slowing the receiver: the
//! receive loop only ever replaces the slot's `Arc` (one short lock, no
//! waiting on anyone); a viewer clones the newest `Arc` out under the same
//! short lock and writes it to its socket with no lock held. A viewer that
//! falls behind simply finds a newer frame next time (the frames in
//! between are counted as skipped), and a stalled viewer pins at most the
//! one frame it is writing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// One rebuilt JPEG as received (SOI..EOI), shared by every viewer.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    /// Counts frames published into this slot, from 1.
    pub number: u64,
    /// RTP timestamp of the frame.
    pub timestamp: u32,
    pub jpeg: Arc<[u8]>,
}

/// The newest frame of one camera.
#[derive(Debug, Default)]
pub struct LatestSlot {
    frame: Mutex<Option<LiveFrame>>,
    published: Condvar,
    /// Frames viewers never sent because a newer one replaced them first.
    pub skipped: AtomicU64,
}

impl LatestSlot {
    fn lock(&self) -> MutexGuard<'_, Option<LiveFrame>> {
        // A viewer thread that panicked cannot leave the Option half
        // written: the data is still good.
        self.frame.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace the newest frame (the receive loop; never waits on a viewer).
    pub fn publish(&self, timestamp: u32, jpeg: Arc<[u8]>) {
        let mut slot = self.lock();
        let number = slot.as_ref().map_or(1, |f| f.number + 1);
        *slot = Some(LiveFrame {
            number,
            timestamp,
            jpeg,
        });
        drop(slot);
        self.published.notify_all();
    }

    /// The newest frame, if any.
    pub fn latest(&self) -> Option<LiveFrame> {
        self.lock().clone()
    }

    /// The newest frame after frame number `seen`, waiting up to `timeout`
    /// for one; frames published in between and never taken are counted
    /// in [`LatestSlot::skipped`].
    pub fn next_after(&self, seen: u64, timeout: Duration) -> Option<LiveFrame> {
        let slot = self.lock();
        let (slot, _) = self
            .published
            .wait_timeout_while(slot, timeout, |f| {
                f.as_ref().is_none_or(|f| f.number <= seen)
            })
            .unwrap_or_else(|e| e.into_inner());
        let frame = slot.as_ref().filter(|f| f.number > seen)?.clone();
        drop(slot);
        if seen != 0 {
            self.skipped
                .fetch_add(frame.number - seen - 1, Ordering::Relaxed);
        }
        Some(frame)
    }

    /// Wake every viewer waiting on this slot (shutdown).
    pub fn wake_all(&self) {
        self.published.notify_all();
    }
}

/// A cap on concurrent stream viewers over all cameras, with counters.
#[derive(Debug)]
pub struct ViewerCap {
    max: usize,
    active: AtomicUsize,
    /// Viewers turned away because `max` were already watching.
    pub refused: AtomicU64,
    /// Viewers dropped because a write to them made no progress for the
    /// write timeout (they stopped reading).
    pub stalled: AtomicU64,
}

impl ViewerCap {
    pub fn new(max: usize) -> Self {
        ViewerCap {
            max,
            active: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
        }
    }

    /// A place for one more viewer, held until the ticket is dropped; `None`
    /// (and counted) when full.
    pub fn admit(self: &Arc<Self>) -> Option<ViewerTicket> {
        let admitted = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            Some(ViewerTicket(Arc::clone(self)))
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// One admitted viewer; gives its place back when dropped.
#[derive(Debug)]
pub struct ViewerTicket(Arc<ViewerCap>);

impl Drop for ViewerTicket {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(byte: u8) -> Arc<[u8]> {
        Arc::from(vec![byte; 4])
    }

    #[test]
    fn a_slow_viewer_gets_the_newest_and_counts_the_rest() {
        let slot = LatestSlot::default();
        assert!(slot.next_after(0, Duration::ZERO).is_none());
        slot.publish(10, jpeg(1));
        let first = slot.next_after(0, Duration::ZERO).unwrap();
        assert_eq!((first.number, first.timestamp), (1, 10));
        for i in 2..=5 {
            slot.publish(i * 10, jpeg(i as u8));
        }
        let newest = slot.next_after(first.number, Duration::ZERO).unwrap();
        assert_eq!((newest.number, newest.timestamp), (5, 50));
        assert_eq!(slot.skipped.load(Ordering::Relaxed), 3);
        // Nothing newer: a timeout, not the same frame again.
        assert!(slot.next_after(5, Duration::from_millis(1)).is_none());
    }

    #[test]
    fn a_waiting_viewer_wakes_on_publish() {
        let slot = Arc::new(LatestSlot::default());
        let waiter = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || slot.next_after(0, Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        slot.publish(7, jpeg(7));
        assert_eq!(waiter.join().unwrap().unwrap().timestamp, 7);
    }

    #[test]
    fn viewers_are_capped_and_refusals_counted() {
        let cap = Arc::new(ViewerCap::new(2));
        let a = cap.admit().unwrap();
        let _b = cap.admit().unwrap();
        assert!(cap.admit().is_none());
        assert_eq!(cap.refused.load(Ordering::Relaxed), 1);
        assert_eq!(cap.active(), 2);
        drop(a);
        assert!(cap.admit().is_some());
        assert_eq!(cap.active(), 1);
    }
}
