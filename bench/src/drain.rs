//! A client's frames taken as they come, on a thread of its own, while a
//! measurement reads the client's receive threads: so that its output
//! queue never fills and never shapes what is measured.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mjpeg_rtp::Client;

/// Takes `client`'s frames until stopped (or dropped).
pub struct FrameDrain {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FrameDrain {
    pub fn start(client: Arc<Client>) -> FrameDrain {
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let done = done.clone();
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let _ = client.next_frame(Duration::from_millis(50));
                }
            })
        };
        FrameDrain {
            done,
            thread: Some(thread),
        }
    }

    /// Stop taking frames; back once the thread has ended.
    pub fn stop(self) {}
}

impl Drop for FrameDrain {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
