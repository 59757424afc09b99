//! The kernel's count of datagrams it dropped for a socket, as a running
//! total.

use std::net::UdpSocket;

use crate::socket::kernel_drops;

/// Extends the kernel's 32-bit per-socket drop counter (`sk_drops`, read
/// from `SO_RXQ_OVFL` control messages or `SO_MEMINFO`) into a running
/// 64-bit total for [`CameraIngest::on_kernel_drops`]: the kernel's
/// counter wraps, and a receiver may run long enough to see it.
///
/// [`CameraIngest::on_kernel_drops`]: crate::backend::CameraIngest::on_kernel_drops
#[derive(Debug, Default, Clone, Copy)]
pub struct DropCounter {
    last: u32,
    total: u64,
}

impl DropCounter {
    /// Feed a counter value; returns the new total when it moved.
    ///
    /// Values may come from two readings of the same counter that race:
    /// a control message carries the count when its datagram was queued,
    /// which can be older than a `getsockopt` read just before. A value
    /// behind the last one (by up to half the counter's range) is such a
    /// stale reading, and ignored.
    pub fn update(&mut self, value: u32) -> Option<u64> {
        let step = value.wrapping_sub(self.last);
        if step == 0 || step >= 1 << 31 {
            return None;
        }
        self.total += u64::from(step);
        self.last = value;
        Some(self.total)
    }

    /// Read `socket`'s count now (`SO_MEMINFO`, one `getsockopt`; Linux)
    /// and feed it; returns the new total when it moved.
    pub fn poll(&mut self, socket: &UdpSocket) -> Option<u64> {
        kernel_drops(socket).and_then(|value| self.update(value))
    }

    /// The running total.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_across_wrap() {
        let mut c = DropCounter::default();
        assert_eq!(c.update(0), None);
        assert_eq!(c.update(5), Some(5));
        assert_eq!(c.update(5), None);
        // Forward steps below half the range each, across the wrap.
        assert_eq!(c.update(1 << 31), Some(1 << 31));
        assert_eq!(c.update(u32::MAX), Some(u64::from(u32::MAX)));
        assert_eq!(c.update(3), Some(u64::from(u32::MAX) + 4));
    }

    #[test]
    fn a_stale_reading_is_ignored() {
        let mut c = DropCounter::default();
        assert_eq!(c.update(10), Some(10));
        assert_eq!(c.update(7), None, "older than the last reading");
        assert_eq!(c.update(12), Some(12));
    }
}
