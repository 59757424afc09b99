//! [`Client::get_frames`]: one frame of each of several cameras at once,
//! for a consumer that feeds a model a batch (the newest picture of
//! every camera). Latest-delivery frames are decoded when taken; here
//! the batch's decodes run side by side on up to `decode_threads`
//! threads started for the call (the caller's among them) instead of
//! one after another.

use std::sync::Mutex;
use std::time::Duration;

use super::{lock, Client};
use crate::frame::Frame;
use crate::output::Ready;

impl Client {
    /// One frame of each of `camera_ids`, in their order: what
    /// [`Client::get_frame`] would give now (the oldest queued, or the
    /// newest complete, decoded now), or `None` for a camera with
    /// nothing new or an unknown id. Waits up to `timeout` for the first
    /// of them to have a frame, then takes what every camera has at that
    /// moment; latest-delivery decodes run in parallel on up to
    /// [`ClientOptions::decode_threads`](crate::ClientOptions) threads
    /// (this one included). A camera named twice is taken once (the
    /// later entries are `None`). Unlike `get_frame`, which waits on
    /// past a frame that fails to decode, that frame's entry is `None`
    /// (counted, as everywhere).
    pub fn get_frames(&self, camera_ids: &[&str], timeout: Duration) -> Vec<Option<Frame>> {
        // Each known camera's index, once.
        let mut indexes: Vec<Option<usize>> = Vec::with_capacity(camera_ids.len());
        for id in camera_ids {
            let index = self.camera(id).map(|c| c.shared.index);
            let seen = index.is_some_and(|i| indexes.contains(&Some(i)));
            indexes.push(index.filter(|_| !seen));
        }
        let known: Vec<usize> = indexes.iter().flatten().copied().collect();
        if known.is_empty() {
            return indexes.iter().map(|_| None).collect();
        }
        let mut taken = self.output.pop_each(&known, timeout).into_iter();
        let mut frames: Vec<Option<Frame>> = Vec::with_capacity(indexes.len());
        let mut undecoded = Vec::new();
        for (slot, index) in indexes.iter().enumerate() {
            match index.and_then(|_| taken.next().flatten()) {
                Some(Ready::Decoded(frame)) => frames.push(Some(frame)),
                Some(Ready::Undecoded(job)) => {
                    undecoded.push((slot, job));
                    frames.push(None);
                }
                None => frames.push(None),
            }
        }
        let decoded = side_by_side(undecoded, self.decode_threads, |job| self.decode_taken(job));
        for (slot, frame) in decoded {
            frames[slot] = frame;
        }
        for frame in frames.iter().flatten() {
            self.count_delivered(frame);
        }
        frames
    }
}

/// `work` on every job, on up to `threads` threads (this one among
/// them; one job, or one thread, stays on this one): each takes the
/// next job until none is left. Returns each job's slot with its
/// result, in no particular order.
fn side_by_side<J: Send, R: Send>(
    jobs: Vec<(usize, J)>,
    threads: usize,
    work: impl Fn(J) -> R + Sync,
) -> Vec<(usize, R)> {
    let threads = threads.clamp(1, jobs.len().max(1));
    if threads == 1 {
        return jobs
            .into_iter()
            .map(|(slot, job)| (slot, work(job)))
            .collect();
    }
    let done = Mutex::new(Vec::with_capacity(jobs.len()));
    let queue = Mutex::new(jobs.into_iter());
    let worker = || loop {
        let Some((slot, job)) = lock(&queue).next() else {
            return;
        };
        let result = work(job);
        lock(&done).push((slot, result));
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            // A thread that cannot start leaves its share to the
            // others: this one works until the queue is empty.
            let _ = std::thread::Builder::new()
                .name("mjpeg-rtp-take".into())
                .spawn_scoped(scope, worker);
        }
        worker();
    });
    done.into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    /// Two jobs on two threads run at the same time: each waits (up to
    /// 10 s) until the other has started, which one after the other
    /// the first never sees.
    #[test]
    fn jobs_run_side_by_side() {
        let started = AtomicUsize::new(0);
        let saw_the_other = AtomicUsize::new(0);
        let mut results = side_by_side(vec![(0, 'a'), (1, 'b')], 2, |job| {
            started.fetch_add(1, Ordering::SeqCst);
            let give_up = Instant::now() + Duration::from_secs(10);
            while started.load(Ordering::SeqCst) < 2 && Instant::now() < give_up {
                std::thread::yield_now();
            }
            if started.load(Ordering::SeqCst) == 2 {
                saw_the_other.fetch_add(1, Ordering::SeqCst);
            }
            job
        });
        assert_eq!(saw_the_other.load(Ordering::SeqCst), 2);
        results.sort();
        assert_eq!(results, [(0, 'a'), (1, 'b')]);
    }

    /// Every job's result comes back with its slot, whatever the thread
    /// count (none, fewer than the jobs, more).
    #[test]
    fn every_job_comes_back_once_with_its_slot() {
        for threads in [0, 1, 3, 64] {
            let jobs: Vec<(usize, u32)> = (0..20).map(|i| (i, i as u32 * 7)).collect();
            let mut results = side_by_side(jobs, threads, |n| n + 1);
            results.sort();
            let expected: Vec<(usize, u32)> = (0..20).map(|i| (i, i as u32 * 7 + 1)).collect();
            assert_eq!(results, expected, "{threads} threads");
        }
        assert!(side_by_side(Vec::<(usize, u8)>::new(), 4, |n| n).is_empty());
    }
}
