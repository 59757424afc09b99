//! Recycled byte buffers: once warm, no frame costs an allocation.

use std::sync::{Arc, Mutex, PoisonError};

/// A stack of spare buffers, each handed out at `len` bytes.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    /// Length of a fresh buffer (0 for buffers the user resizes).
    len: usize,
    /// Spare buffers kept; more are freed.
    keep: usize,
}

impl BufferPool {
    pub(crate) fn new(len: usize, keep: usize) -> Arc<Self> {
        Arc::new(BufferPool {
            free: Mutex::new(Vec::with_capacity(keep)),
            len,
            keep,
        })
    }

    /// A spare buffer, or a new one of `len` zeroed bytes.
    pub(crate) fn get(&self) -> Vec<u8> {
        let spare = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        spare.unwrap_or_else(|| vec![0; self.len])
    }

    /// Give a buffer back (freed when enough are spare).
    pub(crate) fn put(&self, buffer: Vec<u8>) {
        if buffer.capacity() == 0 {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.keep {
            free.push(buffer);
        }
    }

    #[cfg(test)]
    pub(crate) fn spare(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A buffer that goes back to its pool when dropped.
#[derive(Debug)]
pub(crate) struct Pooled {
    buffer: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl Pooled {
    pub(crate) fn new(buffer: Vec<u8>, pool: Arc<BufferPool>) -> Self {
        Pooled { buffer, pool }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buffer
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buffer
    }

    /// Keep the buffer: it will not go back to the pool.
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back() {
        let pool = BufferPool::new(8, 2);
        let a = Pooled::new(pool.get(), pool.clone());
        let b = Pooled::new(pool.get(), pool.clone());
        let c = Pooled::new(pool.get(), pool.clone());
        assert_eq!(a.as_slice().len(), 8);
        drop((a, b, c));
        assert_eq!(pool.spare(), 2);
        let kept = Pooled::new(pool.get(), pool.clone()).into_vec();
        assert_eq!(kept.len(), 8);
        assert_eq!(pool.spare(), 1);
    }
}
