//! The startup check: can this process receive with io_uring here?

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, types};

use crate::ring::{recv_entry, template_msghdr, uring_with_buffers, wait, BGID, CANCEL};

/// Check that this process can use what the ring thread needs: an
/// io_uring, a registered buffer ring and multishot `recvmsg`, by
/// receiving one datagram on loopback.
pub(crate) fn probe() -> io::Result<()> {
    let (mut uring, buffers) = uring_with_buffers(8, 16, 2, 256)?;
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let msghdr = template_msghdr();
    let entry = recv_entry(socket.as_raw_fd(), &msghdr, 0);
    // SAFETY: `msghdr`, `socket` and `buffers` outlive the request: it is
    // cancelled and its end awaited below before any is dropped, or all
    // are leaked.
    unsafe { uring.submission().push(&entry) }
        .map_err(|_| io::Error::other("submission queue full"))?;
    // From here on no early return: every way out either awaits the end
    // of the request or leaks what it may write into (below).
    let sent = uring
        .submit()
        .and_then(|_| socket.local_addr())
        .and_then(|to| socket.send_to(b"probe", to));
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut verdict: Option<io::Result<()>> = sent.err().map(Err);
    let mut armed = true;
    while armed && Instant::now() < deadline {
        if let Err(e) = wait(&uring, 1, Duration::from_millis(100), None) {
            verdict.get_or_insert(Err(e));
            break;
        }
        for cqe in uring.completion() {
            if cqe.user_data() == CANCEL {
                continue;
            }
            let more = cqueue::more(cqe.flags());
            armed &= more;
            if verdict.is_some() {
                continue;
            }
            verdict = Some(match (cqe.result(), cqueue::buffer_select(cqe.flags())) {
                (r, _) if r < 0 => Err(io::Error::from_raw_os_error(-r)),
                _ if !more => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "recvmsg did not stay armed (no multishot support)",
                )),
                (r, Some(bid)) => {
                    let data = buffers.buffer(bid, r as usize);
                    if types::RecvMsgOut::parse(data, &msghdr)
                        .is_ok_and(|m| m.payload_data() == b"probe")
                    {
                        Ok(())
                    } else {
                        Err(io::Error::other("multishot recvmsg returned garbage"))
                    }
                }
                (_, None) => Err(io::Error::other("no provided buffer selected")),
            });
        }
        if armed && verdict.is_some() {
            let cancel = opcode::AsyncCancel::new(0).build().user_data(CANCEL);
            // SAFETY: a cancel request refers to no memory.
            let _ = unsafe { uring.submission().push(&cancel) };
            if let Err(e) = uring.submit() {
                verdict = Some(Err(e));
                break;
            }
        }
    }
    if armed {
        // Never free memory the kernel may still write into.
        std::mem::forget(buffers);
        std::mem::forget(msghdr);
        std::mem::forget(socket);
        std::mem::forget(uring);
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the io_uring probe request did not end",
        ));
    }
    let _ = uring.submitter().unregister_buf_ring(BGID);
    drop(uring);
    drop(buffers);
    verdict.unwrap_or_else(|| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the io_uring probe received nothing",
        ))
    })
}
