//! Receiving datagrams for the std backend: many per system call where
//! the platform has `recvmmsg` (Linux), one `recv_from` elsewhere.
//!
//! `recvmmsg` with `MSG_WAITFORONE` blocks like `recv_from` for the first
//! datagram (so the socket's read timeout still applies) and then takes
//! whatever else is already queued, without waiting. An idle camera costs
//! the same as before; a camera whose thread fell behind catches up with
//! one system call per batch instead of one per packet.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Default of `StdBackend::batch`: datagrams taken per
/// `recvmmsg` call.
pub(crate) const DEFAULT_BATCH: usize = 32;
/// Upper bound of the batch (its buffers are `batch` x 64 KiB of address
/// space).
#[cfg(target_os = "linux")]
const MAX_BATCH: usize = 256;

/// Distance between receive slots: room for the largest datagram plus a
/// little, so that slot starts are not 64 KiB apart (which would put every
/// packet's first bytes in the same cache sets). Slots are only as resident
/// as the datagrams written into them: 1500-byte packets touch one page of
/// each.
#[cfg(target_os = "linux")]
const SLOT_STRIDE: usize = MAX_DATAGRAM + 192;

/// Reads datagrams from one socket into buffers it owns.
pub(crate) struct DatagramReceiver {
    #[cfg(target_os = "linux")]
    headers: nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
    buffer: Vec<u8>,
}

#[cfg(target_os = "linux")]
impl DatagramReceiver {
    /// Takes up to `batch` datagrams per call (clamped to 1..=256).
    pub(crate) fn new(batch: usize) -> Self {
        let batch = batch.clamp(1, MAX_BATCH);
        DatagramReceiver {
            headers: nix::sys::socket::MultiHeaders::preallocate(batch, None),
            buffer: vec![0; batch * SLOT_STRIDE],
        }
    }

    /// Datagrams one call takes at most.
    pub(crate) fn batch(&self) -> usize {
        self.buffer.len() / SLOT_STRIDE
    }

    /// Wait (up to the socket's read timeout) for at least one datagram,
    /// then call `each(from, bytes)` for it and every other one already
    /// queued, up to the batch size. Returns how many there were.
    ///
    /// A datagram that did not fit its slot (impossible for UDP, whose
    /// payload is at most 65,507 bytes, but the kernel would say so) is
    /// passed on empty, never shortened: the core counts it as truncated.
    pub(crate) fn receive(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        use nix::sys::socket::{recvmmsg, MsgFlags};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;

        let mut slots: Vec<[IoSliceMut<'_>; 1]> = self
            .buffer
            .chunks_exact_mut(SLOT_STRIDE)
            .map(|slot| [IoSliceMut::new(&mut slot[..MAX_DATAGRAM])])
            .collect();
        let received = recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            slots.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(io::Error::from)?;
        let mut count = 0;
        for message in received {
            count += 1;
            // A UDP socket's peer is always IPv4 or IPv6; anything else
            // would be a kernel bug, not traffic to count.
            let Some(from) = message.address.and_then(|a| to_std(&a)) else {
                continue;
            };
            if message.flags.contains(MsgFlags::MSG_TRUNC) {
                each(from, &[]);
                continue;
            }
            let bytes = message
                .iovs()
                .next()
                .map_or(&[][..], |slot| slot.get(..message.bytes).unwrap_or(&[]));
            each(from, bytes);
        }
        Ok(count)
    }
}

#[cfg(target_os = "linux")]
fn to_std(address: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(not(target_os = "linux"))]
impl DatagramReceiver {
    /// One datagram per call whatever `batch` says (no `recvmmsg` here).
    pub(crate) fn new(_batch: usize) -> Self {
        DatagramReceiver {
            buffer: vec![0; MAX_DATAGRAM],
        }
    }

    /// Datagrams one call takes at most.
    pub(crate) fn batch(&self) -> usize {
        1
    }

    /// Wait (up to the socket's read timeout) for one datagram and call
    /// `each(from, bytes)` with it. Returns 1.
    pub(crate) fn receive(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let (len, from) = socket.recv_from(&mut self.buffer)?;
        each(from, self.buffer.get(..len).unwrap_or(&[]));
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn takes_what_is_queued_in_order_with_senders() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sizes = [1usize, 1400, 9000, 65_507, 0, 3];
        for (i, &n) in sizes.iter().enumerate() {
            tx.send_to(&vec![i as u8; n], rx.local_addr().unwrap())
                .unwrap();
        }
        let mut receiver = DatagramReceiver::new(4);
        let mut got = Vec::new();
        while got.len() < sizes.len() {
            receiver
                .receive(&rx, |from, bytes| {
                    assert_eq!(from, tx.local_addr().unwrap());
                    got.push(bytes.to_vec());
                })
                .unwrap();
        }
        for (i, (bytes, &n)) in got.iter().zip(&sizes).enumerate() {
            assert_eq!(bytes.len(), n, "datagram {i}");
            assert!(bytes.iter().all(|&b| b == i as u8));
        }
    }

    #[test]
    fn an_idle_socket_times_out() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let err = DatagramReceiver::new(DEFAULT_BATCH)
            .receive(&rx, |_, _| panic!("nothing was sent"))
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }
}
