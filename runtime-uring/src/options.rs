//! How the ring is sized and paced.

use std::time::Duration;

/// Bytes at the start of every ring buffer that are not payload: the
/// kernel's `io_uring_recvmsg_out` header, the sender address and the
/// control data room.
#[cfg(target_os = "linux")]
pub const BUFFER_OVERHEAD: usize = crate::message::BUFFER_OVERHEAD;
/// Bytes at the start of every ring buffer that are not payload (the
/// 64-bit Linux value, 16 + 28 + 2 x 24, where the ring never runs).
#[cfg(not(target_os = "linux"))]
pub const BUFFER_OVERHEAD: usize = 92;

/// The least [`UringOptions::buffer_len`] with [`UringOptions::gro`]:
/// the overhead and room for the largest message a GRO socket hands over
/// ([`MAX_MESSAGE`]), rounded up to 128 bytes. A message that does not
/// fit a buffer is lost whole (a run of up to ~46 datagrams), so every
/// buffer must hold the largest. The rounding also keeps consecutive
/// buffers from starting 64 KiB apart, where every message's first
/// bytes would compete for the same cache sets.
///
/// [`MAX_MESSAGE`]: mjpeg_rtp::backend::MAX_MESSAGE
pub const GRO_BUFFER_LEN: u32 =
    (BUFFER_OVERHEAD + mjpeg_rtp::backend::MAX_MESSAGE).next_multiple_of(128) as u32;

/// Tuning of the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UringOptions {
    /// Buffers in the provided-buffer ring shared by every camera; a
    /// power of two up to 32768. Only as many as recent batches of
    /// completions needed are handed to the kernel (at first and at
    /// least 512 KiB worth but 16 or more, or all of them if fewer:
    /// 16 of [`GRO_BUFFER_LEN`], 256 of 2 KiB), so that the buffers in
    /// use stay in cache; when those run out a camera's request ends
    /// with `ENOBUFS` and is re-armed at once with twice as many, up to
    /// `buffers` (datagrams wait in the socket buffer meanwhile).
    pub buffers: u16,
    /// Bytes per buffer, [`BUFFER_OVERHEAD`] included; at least
    /// [`GRO_BUFFER_LEN`] with [`UringOptions::gro`].
    pub buffer_len: u32,
    /// Let the kernel coalesce a sender's consecutive datagrams into one
    /// message (UDP GRO, Linux 5.0+; default on), which the ring cuts
    /// apart, as the std backend does (`StdBackend::gro`): the kernel's
    /// per-datagram work (dequeue, copy, free) is then paid once per
    /// run. What the ingest sees does not change, with one exception:
    /// the kernel counts a run it drops (socket buffer full) as one drop,
    /// so `CameraStats::kernel_drops` becomes a lower bound.
    ///
    /// Each completion takes one whole buffer, whatever it carries, so
    /// with GRO every buffer must hold a 64 KiB run ([`GRO_BUFFER_LEN`]):
    /// the default is 1024 such buffers (64 MiB of address space, of
    /// which only pages received into become resident). A camera whose
    /// datagrams are not coalesced (packets that trickle) takes one such
    /// buffer per datagram, each only until its completion is handled;
    /// only as many as recent batches of completions used are handed to
    /// the kernel. Off: [`UringOptions::without_gro`].
    pub gro: bool,
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
            buffers: 1024,
            buffer_len: GRO_BUFFER_LEN,
            gro: true,
            batch: 64,
            batch_wait: mjpeg_rtp::backend::DEFAULT_LINGER,
            batch_every_wait: false,
            tick: Duration::from_millis(50),
        }
    }
}

impl UringOptions {
    /// The ring without UDP GRO, each datagram its own message: 4096
    /// buffers of 2048 bytes (1.9 KiB of payload room each, enough for
    /// an Ethernet frame's datagram), 8 MiB in all. Exact kernel drop
    /// counts; datagrams larger than the room are counted as
    /// `rtp_truncated`.
    pub fn without_gro() -> Self {
        UringOptions {
            buffers: 4096,
            buffer_len: 2048,
            gro: false,
            ..UringOptions::default()
        }
    }

    /// Why the options cannot work, if they cannot.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !self.buffers.is_power_of_two() {
            return Err("UringOptions::buffers must be a power of two");
        }
        if (self.buffer_len as usize) < BUFFER_OVERHEAD + 64 {
            return Err("UringOptions::buffer_len leaves less than 64 bytes of payload");
        }
        if self.gro && self.buffer_len < GRO_BUFFER_LEN {
            return Err(
                "UringOptions::gro needs a buffer_len of at least GRO_BUFFER_LEN \
                 (a GRO run must fit one buffer); use UringOptions::without_gro for small buffers",
            );
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

    /// Room for the largest message, and buffer starts not a multiple of
    /// 4 KiB apart.
    #[test]
    fn gro_buffers_hold_the_largest_message() {
        let len = GRO_BUFFER_LEN as usize;
        assert!(len - BUFFER_OVERHEAD >= mjpeg_rtp::backend::MAX_MESSAGE);
        assert_ne!(len % 4096, 0);
        assert_eq!(len % 8, 0, "headers stay aligned");
    }

    #[test]
    fn options_are_checked() {
        assert!(UringOptions::default().check().is_ok());
        assert!(UringOptions::without_gro().check().is_ok());
        let bad = [
            UringOptions {
                buffer_len: GRO_BUFFER_LEN - 1,
                ..UringOptions::default()
            },
            UringOptions {
                buffers: 100,
                ..UringOptions::default()
            },
            UringOptions {
                buffer_len: BUFFER_OVERHEAD as u32,
                ..UringOptions::without_gro()
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
