//! A `#![no_std]`, `#![no_main]` program that links mjpeg-rtp-core and uses
//! it for real: a JPEG is built from the core's own headers, cut into RTP
//! packets by the `Packetizer`, delivered out of order with a duplicate to
//! a `Depacketizer` over stack buffers, and the rebuilt frame compared with
//! the original. Exit code 0 means the frame came back byte-identical.
//!
//! It proves that the core needs neither `std` (a second `panic_impl`
//! would clash with the handler below) nor `alloc` (there is no global
//! allocator). On Linux x86_64/aarch64 it carries its own `_start` and
//! exits through the `exit_group` system call, so it also runs.
#![no_std]
#![no_main]
// Our mem* functions below must not be compiled into calls to themselves.
#![no_builtins]

#[cfg(feature = "link-std")]
extern crate std;

#[cfg(feature = "link-alloc")]
extern crate alloc;

use core::panic::PanicInfo;

use mjpeg_rtp_core::jpeg::{write_headers, FrameHeaderParams, MAX_HEADER_LEN};
use mjpeg_rtp_core::rfc2435::appendix_a_tables;
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, Instant, Packetizer, PacketizerConfig, Sampling,
    Verdict,
};

const SCAN_LEN: usize = 1000;
const MAX_SCAN: usize = 2048;
const BUF: usize = frame_buffer_len(MAX_SCAN);
const MAX_PACKET: usize = 300;
const MAX_PACKETS: usize = 8;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    exit(101)
}

/// The host's precompiled `core` refers to this symbol even with
/// `panic = "abort"`; nothing ever calls it.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// Run the round trip; 0 on success, a distinct code per failure.
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    // A JPEG: rebuilt-style headers around a deterministic scan blob.
    let tables = appendix_a_tables(75);
    let params = FrameHeaderParams::new(64, 48, Sampling::Yuv420, &tables);
    let mut jpeg = [0u8; MAX_HEADER_LEN + SCAN_LEN + 2];
    let Ok(header_len) = write_headers(&params, &mut jpeg) else {
        return 2;
    };
    let mut x: u32 = 0x1234_5678;
    for b in jpeg.iter_mut().skip(header_len).take(SCAN_LEN) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // No 0xFF in the blob: no accidental markers in the scan.
        *b = (x as u8) & 0x7F;
    }
    let jpeg_len = header_len + SCAN_LEN + 2;
    if let Some(eoi) = jpeg.get_mut(header_len + SCAN_LEN..jpeg_len) {
        eoi.copy_from_slice(&[0xFF, 0xD9]);
    }
    let Some(jpeg) = jpeg.get(..jpeg_len) else {
        return 3;
    };

    // Packetize into fixed packet buffers.
    let mut packets = [[0u8; MAX_PACKET]; MAX_PACKETS];
    let mut lens = [0usize; MAX_PACKETS];
    let mut count = 0;
    let mut packetizer = Packetizer::new(PacketizerConfig {
        max_packet: MAX_PACKET,
        ..PacketizerConfig::default()
    });
    let Ok(mut frame) = packetizer.frame(jpeg, 90_000) else {
        return 4;
    };
    for (packet, len) in packets.iter_mut().zip(lens.iter_mut()) {
        match frame.next_into(packet) {
            Some(Ok(n)) => {
                *len = n;
                count += 1;
            }
            Some(Err(_)) => return 5,
            None => break,
        }
    }
    if count < 3 || frame.next_into(&mut [0u8; MAX_PACKET]).is_some() {
        return 6;
    }

    // Deliver last first, then the rest, with one duplicate.
    let mut buffers = [[0u8; BUF]; 2];
    let [a, b] = &mut buffers;
    let mut rx = Depacketizer::new(Config::default(), [&mut a[..], &mut b[..]]);
    let mut order = [0usize; MAX_PACKETS + 1];
    order[0] = count - 1;
    for (slot, i) in order.iter_mut().skip(1).zip(0..count - 1) {
        *slot = i;
    }
    order[count] = 0;
    let mut completed = 0;
    for &i in order.iter().take(count + 1) {
        let (Some(packet), Some(&len)) = (packets.get(i), lens.get(i)) else {
            return 7;
        };
        let Some(datagram) = packet.get(..len) else {
            return 7;
        };
        if rx.push(Instant::from_millis(1), datagram) == Verdict::Completed {
            completed += 1;
        }
    }
    if completed != 1 {
        return 8;
    }
    let Some(frame) = rx.next_frame() else {
        return 9;
    };
    if frame.jpeg != jpeg || frame.info.width != 64 || frame.info.height != 48 {
        return 10;
    }
    let stats = rx.stats();
    if stats.frames_complete != 1 || stats.packets_duplicate != 1 || stats.packets_lost() != 0 {
        return 11;
    }
    0
}

// --- freestanding runtime: entry point, exit, and the mem* functions the
// compiler emits calls to (normally libc's). ---

fn exit(code: i32) -> ! {
    sys::exit(code)
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod sys {
    /// Process entry: the kernel leaves `rsp` 16-byte aligned pointing at
    /// argc; align for the call and hand over to Rust.
    #[unsafe(naked)]
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        core::arch::naked_asm!(
            "xor ebp, ebp",
            "and rsp, -16",
            "call {entry}",
            "ud2",
            entry = sym entry,
        )
    }

    extern "C" fn entry() -> ! {
        exit(super::main(0, core::ptr::null()))
    }

    pub fn exit(code: i32) -> ! {
        // SAFETY: exit_group takes one integer and does not return; no
        // memory is touched.
        unsafe {
            core::arch::asm!("syscall", in("rax") 231, in("rdi") code, options(noreturn, nostack));
        }
    }
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
mod sys {
    /// Process entry: `sp` is 16-byte aligned at argc.
    #[unsafe(naked)]
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        core::arch::naked_asm!("mov x29, #0", "mov x30, #0", "bl {entry}", "brk #0", entry = sym entry)
    }

    extern "C" fn entry() -> ! {
        exit(super::main(0, core::ptr::null()))
    }

    pub fn exit(code: i32) -> ! {
        // SAFETY: exit_group takes one integer and does not return.
        unsafe {
            core::arch::asm!("svc 0", in("x8") 94, in("x0") code, options(noreturn, nostack));
        }
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod sys {
    /// Elsewhere the binary is only built, never run.
    pub fn exit(_code: i32) -> ! {
        loop {}
    }
}

/// SAFETY (all four): the compiler calls these with the C contract —
/// valid, non-null pointers for `n` bytes (overlap allowed for memmove
/// only). `#![no_builtins]` keeps the loops from becoming calls to
/// themselves.
#[no_mangle]
unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        unsafe { *dest.add(i) = *src.add(i) };
        i += 1;
    }
    dest
}

#[no_mangle]
unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) < (src as usize) {
        let mut i = 0;
        while i < n {
            unsafe { *dest.add(i) = *src.add(i) };
            i += 1;
        }
    } else {
        let mut i = n;
        while i > 0 {
            i -= 1;
            unsafe { *dest.add(i) = *src.add(i) };
        }
    }
    dest
}

#[no_mangle]
unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        unsafe { *dest.add(i) = c as u8 };
        i += 1;
    }
    dest
}

#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    unsafe { memcmp(a, b, n) }
}
