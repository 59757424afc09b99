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
    /// bound that wait by [`UringOptions::batch_wait`] (Linux 6.12+) and
    /// the thread batches (see there); otherwise every completion wakes
    /// the thread. A camera whose packets came this many at once in one
    /// wake-up is not trickling.
    pub batch: u32,
    /// Longest extra delay batching may add to a datagram's delivery;
    /// zero disables batching. The thread batches while some camera's
    /// current frame trickles (the std backend's rule,
    /// [`Linger`](mjpeg_rtp::backend::Linger): twice one or two packets
    /// per wake-up within one frame), until that frame's last packet;
    /// a frame that comes in a burst is taken as it wakes the thread,
    /// since the kernel's minimum-wait timer costs more than the
    /// wake-ups it saves then. For a trickling sender this is how often
    /// the thread wakes: the default is the std backend's linger,
    /// [`DEFAULT_LINGER`](mjpeg_rtp::backend::DEFAULT_LINGER) (1 ms),
    /// small against a frame interval.
    pub batch_wait: Duration,
    /// Batch on every wait, whether or not a frame trickles (what the
    /// ring did before it kept the std backend's rule). Bursts then wake
    /// the thread several times less often, but each timed wait costs
    /// more: on the 2-core VM measured (`mjpeg-rtp-bench rx-cpu`, as
    /// `uring-every`) it came to as much or more CPU per packet for every
    /// sender shape tried. For comparison, and for machines where the
    /// timer is cheap. Default off.
    pub batch_every_wait: bool,
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
            batch_every_wait: false,
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
