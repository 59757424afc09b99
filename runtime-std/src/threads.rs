//! Starting a group of threads all-or-nothing.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Spawn one named thread per item. If any spawn fails, `stop` is raised,
/// the threads already running are joined, and the error is returned: a
/// group is either fully running or not at all.
pub(crate) fn spawn_all<T: Send + 'static>(
    items: impl IntoIterator<Item = T>,
    stop: &AtomicBool,
    name: impl Fn(&T) -> String,
    body: impl Fn(T) + Clone + Send + 'static,
) -> io::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    for item in items {
        let run = body.clone();
        let spawned = std::thread::Builder::new()
            .name(name(&item))
            .spawn(move || run(item));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                for handle in handles {
                    let _ = handle.join();
                }
                return Err(e);
            }
        }
    }
    Ok(handles)
}
