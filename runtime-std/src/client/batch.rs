//! [`Client::get_frames`]: one frame of each of several cameras at once,
//! for a consumer that feeds a model a batch (the newest picture of
//! every camera). Latest-delivery frames are decoded when taken; here
//! the batch's decodes run side by side on up to `decode_threads`
//! threads (the caller's among them) instead of one after another.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{lock, Client};
use crate::frame::Frame;
use crate::output::{DecodeJob, Ready};

impl Client {
    /// One frame of each of `camera_ids`, in their order: what
    /// [`Client::get_frame`] would give now (the oldest queued, or the
    /// newest complete, decoded now), or `None` for a camera with
    /// nothing new or an unknown id. Waits up to `timeout` for the first
    /// of them to have a frame, then takes every camera's at once;
    /// latest-delivery decodes run in parallel on up to the client's
    /// decode threads (this one included). A camera named twice is
    /// taken once (the later entries are `None`). A frame that fails to
    /// decode is counted and gives `None`.
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
        let mut undecoded: Vec<(usize, DecodeJob)> = Vec::new();
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
        for (slot, frame) in self.decode_side_by_side(undecoded) {
            frames[slot] = frame;
        }
        for frame in frames.iter().flatten() {
            if let Some(camera) = self.camera(frame.camera_id()) {
                camera
                    .shared
                    .frames_delivered
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        frames
    }

    /// Decode taken latest-delivery frames on up to `decode_threads`
    /// threads, this one among them: each thread takes the next job
    /// until none is left. Returns each job's slot with its frame.
    fn decode_side_by_side(&self, jobs: Vec<(usize, DecodeJob)>) -> Vec<(usize, Option<Frame>)> {
        if jobs.len() <= 1 {
            return jobs
                .into_iter()
                .map(|(slot, job)| (slot, self.decode_taken(job)))
                .collect();
        }
        let threads = self.decode_threads.clamp(1, jobs.len());
        let count = jobs.len();
        let jobs: Vec<Mutex<Option<(usize, DecodeJob)>>> =
            jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
        let next = AtomicUsize::new(0);
        let done = Mutex::new(Vec::with_capacity(count));
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else {
                return;
            };
            if let Some((slot, job)) = lock(job).take() {
                let frame = self.decode_taken(job);
                lock(&done).push((slot, frame));
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                // A thread that cannot start leaves its share to the
                // others: the caller's thread works through every job.
                let _ = std::thread::Builder::new()
                    .name("mjpeg-rtp-take".into())
                    .spawn_scoped(scope, work);
            }
            work();
        });
        done.into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
