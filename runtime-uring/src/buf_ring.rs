//! The provided-buffer ring: memory the kernel picks receive buffers from.
//!
//! Two anonymous mappings: the ring of `count` 16-byte entries (page
//! aligned, as the kernel requires) and `count` buffers of `len` bytes.
//! The kernel consumes entries from the head; we publish returned buffers
//! by writing an entry at the tail and storing the new tail (a `u16`
//! overlaying the first entry's reserved field) with release ordering.
//!
//! Ownership of each buffer alternates: the kernel owns it from the
//! moment its entry is published until a completion names its id; from
//! then until [`BufRing::recycle`] it is ours to read, and after that it
//! waits on our free stack until [`BufRing::refill`] publishes it again.
//! A buffer is published only from the free stack, so at most `count`
//! entries are ever outstanding and the tail never overtakes the
//! kernel's head.
//!
//! Only a window of the buffers is published at a time, refilled after
//! each batch of completions with the buffers used last. The kernel takes
//! entries in ring order, so with every buffer published each one would
//! be written only once per `count` datagrams: 4096 buffers cycle through
//! 6-8 MiB, far more than a core's cache, and every receive copy would
//! write cold memory (in a perf profile of 4 bursting streams, the
//! receive copy took 1.5 times the samples of the std backend's into its
//! 32 reused slots). With the window up to about four times the recent
//! largest batch (at least [`min_window`] buffers, or every buffer if
//! there are fewer), the buffers in use
//! stay cache-warm, and buffers never published are never touched (nor
//! resident). The window doubles when it ran dry (the kernel ends the
//! multishot requests with `ENOBUFS`; they are re-armed, the datagrams
//! wait in the socket) and halves when batches stayed far below it for
//! a while.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// The kernel's `struct io_uring_buf` (UAPI, stable): 16 bytes, and the
/// ring's tail lives in `resv` of entry 0.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const _: () = assert!(std::mem::size_of::<RawEntry>() == 16);

/// An anonymous private read/write mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: an anonymous mapping at an address of the kernel's
        // choice aliases nothing; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, unmapped
        // once; the owner guarantees the kernel no longer uses the memory
        // (see `BufRing`'s drop contract).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Buffers published ahead of the kernel at first, and the least it
/// shrinks to, for small buffers: one 1080p frame (~250 datagrams) in
/// one batch.
const MIN_WINDOW: u16 = 256;
/// The same in bytes: 256 buffers of 2 KiB. Large buffers (64 KiB, for
/// UDP GRO) start from fewer, so that the memory the kernel cycles
/// through stays about as cache-warm as with small ones: a GRO run
/// carries up to ~46 datagrams, and a window that runs dry doubles.
const MIN_WINDOW_BYTES: usize = 256 * 2048;
/// The least window however large the buffers.
const MIN_WINDOW_FLOOR: u16 = 16;

/// The window a ring of `count` buffers of `buffer_len` bytes starts
/// with and shrinks to (see [`MIN_WINDOW_BYTES`]).
fn min_window(count: u16, buffer_len: u32) -> u16 {
    let by_bytes = MIN_WINDOW_BYTES / (buffer_len as usize).max(1);
    let by_bytes = u16::try_from(by_bytes).unwrap_or(u16::MAX);
    by_bytes.clamp(MIN_WINDOW_FLOOR, MIN_WINDOW).min(count)
}

/// How many buffers to keep published (see the module doc): grows when
/// the kernel found none left, shrinks when batches stayed small.
#[derive(Debug, Clone, Copy)]
struct Window {
    size: u16,
    min: u16,
    max: u16,
    /// Most buffers one batch used since the last [`Window::settle`].
    peak: u16,
    /// The kernel found none published since the last batch.
    dry: bool,
}

impl Window {
    fn new(min: u16, max: u16) -> Self {
        Window {
            size: min,
            min,
            max,
            peak: 0,
            dry: false,
        }
    }

    /// A batch of completions used `used` buffers, and the kernel found
    /// none left or not (`dry`, however many requests it ended): the
    /// window doubles once for a dry batch.
    fn batch(&mut self, used: u16) {
        self.peak = self.peak.max(used);
        if std::mem::take(&mut self.dry) {
            self.size = self.size.saturating_mul(2).min(self.max);
        }
    }

    /// End of a period: halve a window that no batch came near (a
    /// quarter of it at most), so that one stall does not keep the
    /// working set large for good. Growing takes one dry ring, shrinking
    /// a quiet period, so a window that fits settles.
    fn settle(&mut self) {
        if self.peak <= self.size / 4 {
            self.size = (self.size / 2).max(self.min);
        }
        self.peak = 0;
    }
}

/// A provided-buffer ring and its buffers.
///
/// Drop contract: the owner must unregister the ring (or destroy the
/// io_uring) and be sure no receive using it is still in flight before
/// dropping this value; see `ring::Ring`'s shutdown.
#[derive(Debug)]
pub(crate) struct BufRing {
    entries: Mapping,
    buffers: Mapping,
    count: u16,
    buffer_len: u32,
    /// Our copy of the tail (the kernel only reads it).
    tail: u16,
    /// Entries the kernel took (completions that named a buffer),
    /// wrapping like `tail`: `tail - taken` entries are published and not
    /// yet taken, or taken by a completion not yet seen.
    taken: u16,
    /// `taken` at the last refill.
    taken_at_refill: u16,
    /// Buffers that are ours and not published; the last pushed (the
    /// most recently written, so warmest) is published first.
    free: Vec<u16>,
    window: Window,
}

// SAFETY: the mappings are owned exclusively by this value; moving it to
// another thread moves that ownership (the ring thread builds it there
// anyway).
unsafe impl Send for BufRing {}

impl BufRing {
    /// `count` must be a power of two in 1..=32768 and `buffer_len` > 0.
    pub(crate) fn new(count: u16, buffer_len: u32) -> io::Result<Self> {
        if !count.is_power_of_two() || count > 32_768 || buffer_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring: count must be a power of two up to 32768, length non-zero",
            ));
        }
        let entries_len = usize::from(count) * std::mem::size_of::<RawEntry>();
        let buffers_len = usize::from(count)
            .checked_mul(buffer_len as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "buffer ring too large"))?;
        let mut ring = BufRing {
            // mmap returns page-aligned, zeroed memory: tail starts at 0.
            entries: Mapping::new(entries_len)?,
            buffers: Mapping::new(buffers_len)?,
            count,
            buffer_len,
            tail: 0,
            taken: 0,
            taken_at_refill: 0,
            // Popped from the end: buffer 0 first.
            free: (0..count).rev().collect(),
            window: Window::new(min_window(count, buffer_len), count),
        };
        ring.refill();
        Ok(ring)
    }

    /// Address of the entry array, for `register_buf_ring_with_flags`.
    pub(crate) fn ring_addr(&self) -> u64 {
        self.entries.ptr.as_ptr() as u64
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// Only for a buffer a completion handed to us and not yet recycled:
    /// the kernel does not write it until [`BufRing::recycle`].
    pub(crate) fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        let bid = usize::from(bid % self.count);
        let len = len.min(self.buffer_len as usize);
        // SAFETY: `bid < count` and `len <= buffer_len`, so the range lies
        // inside the buffers mapping; by the ownership protocol above the
        // kernel does not write this buffer while the slice lives (it is
        // recycled only after the caller is done with it, and `recycle`
        // takes `&mut self`, ending the borrow).
        unsafe {
            std::slice::from_raw_parts(
                self.buffers
                    .ptr
                    .as_ptr()
                    .add(bid * self.buffer_len as usize),
                len,
            )
        }
    }

    /// Buffers published now (the window).
    pub(crate) fn window(&self) -> u16 {
        self.window.size
    }

    /// We are done with buffer `bid`, which a completion named; it goes
    /// back to the kernel at the next [`BufRing::refill`].
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.taken = self.taken.wrapping_add(1);
        // A completion names each buffer once per publication, so the
        // stack (capacity `count`) never grows.
        self.free.push(bid % self.count);
    }

    /// After a batch of completions: publish free buffers, warmest first,
    /// until the window is full, with one tail update.
    pub(crate) fn refill(&mut self) {
        self.window
            .batch(self.taken.wrapping_sub(self.taken_at_refill));
        self.taken_at_refill = self.taken;
        let mut published = self.tail.wrapping_sub(self.taken);
        let before = self.tail;
        while published < self.window.size {
            let Some(bid) = self.free.pop() else { break };
            self.push(bid);
            published += 1;
        }
        if self.tail != before {
            self.publish();
        }
    }

    /// The kernel found no buffer published: the next refill widens the
    /// window.
    pub(crate) fn dry(&mut self) {
        self.window.dry = true;
    }

    /// Called about once a second: narrow a window that batches left
    /// mostly unused.
    pub(crate) fn settle(&mut self) {
        self.window.settle();
    }

    /// Write the entry for `bid` at our tail (not yet visible).
    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        let addr = self.buffers.ptr.as_ptr() as u64 + u64::from(bid) * u64::from(self.buffer_len);
        // SAFETY: `slot < count`, inside the entries mapping. The slot at
        // the tail is not one the kernel may read (it reads only entries
        // between its head and the published tail, and at most `count`
        // buffers exist). Fields are written through raw pointers so that
        // entry 0's `resv` (the tail, read by the kernel) is never covered
        // by a Rust reference.
        unsafe {
            let entry = self.entries.ptr.as_ptr().cast::<RawEntry>().add(slot);
            std::ptr::addr_of_mut!((*entry).addr).write(addr);
            std::ptr::addr_of_mut!((*entry).len).write(self.buffer_len);
            std::ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Make every pushed entry visible to the kernel.
    fn publish(&self) {
        self.shared_tail().store(self.tail, Ordering::Release);
    }

    fn shared_tail(&self) -> &AtomicU16 {
        // SAFETY: entry 0's `resv` is a 2-aligned u16 inside the mapping
        // (the mapping is page aligned, the field at offset 14); it is
        // only ever accessed atomically (by us here, by the kernel with
        // smp_load_acquire) for the lifetime of `self`.
        unsafe {
            let entry = self.entries.ptr.as_ptr().cast::<RawEntry>();
            AtomicU16::from_ptr(std::ptr::addr_of_mut!((*entry).resv))
        }
    }

    #[cfg(test)]
    fn entry(&self, slot: u16) -> (u64, u32, u16) {
        let slot = usize::from(slot & (self.count - 1));
        // SAFETY: test-only read of an entry inside the mapping, with no
        // kernel attached.
        unsafe {
            let entry = self.entries.ptr.as_ptr().cast::<RawEntry>().add(slot);
            (
                std::ptr::addr_of!((*entry).addr).read(),
                std::ptr::addr_of!((*entry).len).read(),
                std::ptr::addr_of!((*entry).bid).read(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_publishes_every_buffer_once() {
        let ring = BufRing::new(8, 100).unwrap();
        assert_eq!(ring.shared_tail().load(Ordering::Acquire), 8);
        assert_eq!(ring.ring_addr() % 4096, 0, "entries must be page aligned");
        let base = ring.buffers.ptr.as_ptr() as u64;
        for slot in 0..8u16 {
            let (addr, len, bid) = ring.entry(slot);
            assert_eq!(bid, slot);
            assert_eq!(len, 100);
            assert_eq!(addr, base + u64::from(slot) * 100);
        }
    }

    #[test]
    fn recycled_buffers_go_back_at_one_tail_update_and_wrap() {
        let mut ring = BufRing::new(4, 64).unwrap();
        // As if the kernel consumed all four and we return them in another
        // order, more than once around the ring and across u16 wrap.
        ring.tail = u16::MAX - 1;
        ring.publish();
        ring.taken = ring.tail.wrapping_sub(4);
        ring.taken_at_refill = ring.taken;
        for round in 0..3u16 {
            let before = ring.tail;
            for bid in [2u16, 0, 3, 1] {
                ring.recycle(bid);
            }
            assert_eq!(ring.shared_tail().load(Ordering::Acquire), before);
            ring.refill();
            let tail = ring.shared_tail().load(Ordering::Acquire);
            assert_eq!(tail, before.wrapping_add(4), "round {round}");
            // Warmest first: the last recycled is published first.
            for (i, bid) in [1u16, 3, 0, 2].into_iter().enumerate() {
                let (addr, len, got) = ring.entry(before.wrapping_add(i as u16));
                assert_eq!((got, len), (bid, 64));
                assert_eq!(addr, ring.buffers.ptr.as_ptr() as u64 + u64::from(bid) * 64);
            }
        }
    }

    /// Only the window is published; it doubles after a dry batch (once,
    /// however many requests ran dry) up to every buffer, and halves after
    /// a period of small batches down to the minimum.
    #[test]
    fn the_window_follows_the_batches() {
        let mut ring = BufRing::new(1024, 16).unwrap();
        let published = |r: &BufRing| {
            r.shared_tail()
                .load(Ordering::Acquire)
                .wrapping_sub(r.taken)
        };
        assert_eq!((ring.window(), published(&ring)), (MIN_WINDOW, MIN_WINDOW));
        // The kernel takes every published buffer and finds none left.
        let take = |r: &mut BufRing, n: u16| {
            for _ in 0..n {
                let bid = r.entry(r.taken).2;
                r.recycle(bid);
            }
        };
        take(&mut ring, 256);
        ring.dry();
        ring.dry();
        ring.refill();
        assert_eq!((ring.window(), published(&ring)), (512, 512));
        for _ in 0..3 {
            take(&mut ring, 512);
            ring.dry();
            ring.refill();
        }
        assert_eq!((ring.window(), published(&ring)), (1024, 1024));
        assert!(ring.free.is_empty());
        // A period in which batches used at most a quarter: halve.
        take(&mut ring, 300);
        ring.refill();
        ring.settle();
        assert_eq!(ring.window(), 1024, "300 > 1024 / 4");
        take(&mut ring, 200);
        ring.refill();
        ring.settle();
        assert_eq!(ring.window(), 512);
        // Only buffers we hold are published: those the kernel holds
        // (published beyond the window) are not taken back.
        take(&mut ring, 10);
        ring.refill();
        assert_eq!(published(&ring), 1014);
        take(&mut ring, 600);
        ring.refill();
        assert_eq!(published(&ring), 512);
        for _ in 0..4 {
            ring.settle();
        }
        assert_eq!(ring.window(), MIN_WINDOW);
        assert_eq!(
            usize::from(published(&ring)) + ring.free.len(),
            1024,
            "every buffer is published or free"
        );
    }

    /// Small buffers start from 256, large ones from as many bytes (at
    /// least 16).
    #[test]
    fn the_first_window_is_sized_in_bytes() {
        assert_eq!(min_window(4096, 2048), 256);
        assert_eq!(min_window(4096, 16), 256);
        assert_eq!(min_window(1024, 65_664), 16);
        assert_eq!(min_window(1024, 16_384), 32);
        assert_eq!(min_window(8, 65_664), 8);
        let ring = BufRing::new(64, 65_664).unwrap();
        assert_eq!(ring.window(), 16);
    }

    #[test]
    fn a_small_ring_publishes_every_buffer() {
        let ring = BufRing::new(8, 16).unwrap();
        assert_eq!(ring.window(), 8);
        assert_eq!(ring.shared_tail().load(Ordering::Acquire), 8);
    }

    #[test]
    fn buffers_are_disjoint_and_bounded() {
        let ring = BufRing::new(2, 16).unwrap();
        assert_eq!(ring.buffer(0, 16).len(), 16);
        assert_eq!(ring.buffer(1, 1000).len(), 16, "clamped to the buffer");
        let a = ring.buffer(0, 16).as_ptr() as usize;
        let b = ring.buffer(1, 16).as_ptr() as usize;
        assert_eq!(b - a, 16);
        assert!(ring.buffer(0, 16).iter().all(|&x| x == 0));
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(BufRing::new(3, 16).is_err());
        assert!(BufRing::new(0, 16).is_err());
        assert!(BufRing::new(4, 0).is_err());
    }
}
