//! How the ring is sized and paced.

use std::time::Duration;

/// Bytes at the start of every ring buffer that are not payload: the
/// kernel's `io_uring_recvmsg_out` header, the sender address and the
/// control data room.
#[cfg(target_os = "linux")]
pub const BUFFER_OVERHEAD: usize = crate::message::BUFFER_OVERHEAD;
/// Bytes at the start of every ring buffer that are not payload.
#[cfg(not(target_os = "linux"))]
pub const BUFFER_OVERHEAD: usize = 72;

/// Tuning of the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UringOptions {
    /// Buffers in the provided-buffer ring shared by every camera; a
    /// power of two up to 32768. Only as many as recent batches of
    /// completions needed are handed to the kernel (at least 256, or all
    /// of them if fewer), so that the buffers in use stay in cache; when
    /// those run out a camera's request ends with `ENOBUFS` and is
    /// re-armed at once with twice as many, up to `buffers` (datagrams
    /// wait in the socket buffer meanwhile).
    pub buffers: u16,
    /// Bytes per buffer, [`BUFFER_OVERHEAD`] included.
    pub buffer_len: u32,
    /// Completions to wait for before waking up, when the kernel can
    /// bound that wait by [`UringOptions::batch_wait`] (Linux 6.12+);
    /// otherwise every completion wakes the thread.
    pub batch: u32,
    /// Longest extra delay batching may add to a datagram's delivery;
    /// zero disables batching. Batching is what keeps the ring's
    /// wake-ups few (one per burst instead of per datagram). When a
    /// sender trickles a frame's packets, this is also how often the
    /// thread wakes: the default is the std backend's linger,
    /// [`DEFAULT_LINGER`](mjpeg_rtp::backend::DEFAULT_LINGER) (1 ms),
    /// small against a frame interval.
    pub batch_wait: Duration,
    /// Period of `CameraIngest::on_tick` and of checks of the stop flag.
    pub tick: Duration,
}

impl Default for UringOptions {
    fn default() -> Self {
        UringOptions {
            buffers: 4096,
            buffer_len: 2048,
            batch: 64,
            batch_wait: mjpeg_rtp::backend::DEFAULT_LINGER,
            tick: Duration::from_millis(50),
        }
    }
}

impl UringOptions {
    /// Why the options cannot work, if they cannot.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !self.buffers.is_power_of_two() {
            return Err("UringOptions::buffers must be a power of two");
        }
        if (self.buffer_len as usize) < BUFFER_OVERHEAD + 64 {
            return Err("UringOptions::buffer_len leaves less than 64 bytes of payload");
        }
        if self.tick.is_zero() || self.tick > Duration::from_millis(100) {
            return Err("UringOptions::tick must be in (0, 100 ms]");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert!(UringOptions::default().check().is_ok());
        let bad = [
            UringOptions {
                buffers: 100,
                ..UringOptions::default()
            },
            UringOptions {
                buffer_len: BUFFER_OVERHEAD as u32,
                ..UringOptions::default()
            },
            UringOptions {
                tick: Duration::ZERO,
                ..UringOptions::default()
            },
        ];
        for options in bad {
            assert!(options.check().is_err(), "{options:?}");
        }
    }
}
