//! Ctrl-C / SIGTERM as a flag the long-running commands poll, so they stop
//! cleanly and still print their summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process-wide stop flag, set on Ctrl-C or SIGTERM. Installs the
/// handler on first use; if it cannot be installed the flag simply never
/// gets set (and a warning is logged).
pub fn stop_flag() -> Arc<AtomicBool> {
    STOP.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&flag);
        if let Err(e) = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: the user means it.
                std::process::exit(130);
            }
        }) {
            log::warn!("cannot install the Ctrl-C handler: {e}");
        }
        flag
    })
    .clone()
}

pub fn stopped() -> bool {
    STOP.get().is_some_and(|f| f.load(Ordering::SeqCst))
}
