//! The runtime's log records, delivered to Python's `logging` (logger
//! `"mjpeg_rtp"`) without a Rust thread ever calling into Python.
//!
//! Receive and decode threads log through the `log` facade; this logger
//! only queues the record (bounded: beyond [`CAPACITY`] waiting records
//! the newest are counted and dropped). The queue is handed to `logging`
//! by whichever Python thread next calls the package (`get_frame`,
//! `stats`, `start`, ...), under the GIL. The runtime already limits its
//! per-packet warnings to one per second per kind.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, TryLockError};

use log::{Level, LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

const CAPACITY: usize = 256;

struct Forward {
    records: Mutex<VecDeque<(Level, String)>>,
    /// Whether `records` may hold something: one relaxed load per call
    /// into the package when nothing was logged.
    pending: AtomicBool,
    dropped: AtomicU64,
}

static FORWARD: Forward = Forward {
    records: Mutex::new(VecDeque::new()),
    pending: AtomicBool::new(false),
    dropped: AtomicU64::new(0),
};

impl Log for Forward {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() < CAPACITY {
            records.push_back((record.level(), record.args().to_string()));
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.pending.store(true, Ordering::Release);
    }

    fn flush(&self) {}
}

/// Become the process's `log` logger, unless another extension module
/// already is (then the runtime's records go to that one).
pub(crate) fn install() {
    if log::set_logger(&FORWARD).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Hand the queued records to `logging.getLogger("mjpeg_rtp")`.
pub(crate) fn drain(py: Python<'_>) {
    if !FORWARD.pending.swap(false, Ordering::Acquire) {
        return;
    }
    // Never wait here: a Rust thread holds the lock only to push one
    // record, but in a forked child a lock held at fork() stays held.
    let records = match FORWARD.records.try_lock() {
        Ok(mut records) => std::mem::take(&mut *records),
        Err(TryLockError::Poisoned(p)) => std::mem::take(&mut *p.into_inner()),
        Err(TryLockError::WouldBlock) => {
            FORWARD.pending.store(true, Ordering::Release);
            return;
        }
    };
    let dropped = FORWARD.dropped.swap(0, Ordering::Relaxed);
    let logger = LOGGER.get_or_try_init(py, || {
        py.import("logging")?
            .call_method1("getLogger", ("mjpeg_rtp",))
            .map(Bound::unbind)
    });
    let logger = match logger {
        Ok(l) => l.bind(py),
        Err(e) => return e.write_unraisable(py, None),
    };
    let overflow = (dropped > 0).then(|| {
        (
            Level::Warn,
            format!("{dropped} log records dropped (the queue was full)"),
        )
    });
    for (level, message) in records.into_iter().chain(overflow) {
        let level = match level {
            Level::Error => 40,
            Level::Warn => 30,
            Level::Info => 20,
            Level::Debug => 10,
            Level::Trace => 5,
        };
        if let Err(e) = logger.call_method1("log", (level, "%s", message)) {
            e.write_unraisable(py, Some(logger));
        }
    }
}
