//! The kernel's count of datagrams it dropped for a socket, as a running
//! total.

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
    pub fn update(&mut self, value: u32) -> Option<u64> {
        if value == self.last {
            return None;
        }
        self.total += u64::from(value.wrapping_sub(self.last));
        self.last = value;
        Some(self.total)
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
        assert_eq!(c.update(u32::MAX), Some(u64::from(u32::MAX)));
        assert_eq!(c.update(3), Some(u64::from(u32::MAX) + 4));
    }
}
