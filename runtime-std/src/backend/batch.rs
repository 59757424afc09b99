//! Receiving datagrams for the std backend: many per system call where
//! the platform has `recvmmsg` (Linux), one `recv_from` elsewhere.
//!
//! `recvmmsg` with `MSG_WAITFORONE` blocks like `recv_from` for the first
//! datagram (so the socket's read timeout still applies) and then takes
//! whatever else is already queued, without waiting. An idle camera costs
//! the same as before; a camera whose thread fell behind catches up with
//! one system call per batch instead of one per packet.
//!
//! With UDP GRO on the socket (Linux; [`enable_udp_gro`]) one message may
//! carry a run of one sender's datagrams, which this cuts apart again
//! (see [`gro`](super::gro)): the caller sees every datagram as it was
//! sent, in order, with its sender.
//!
//! [`enable_udp_gro`]: crate::socket::enable_udp_gro

use std::io;
use std::net::{SocketAddr, UdpSocket};

use super::gro::MAX_MESSAGE;
#[cfg(target_os = "linux")]
use super::gro::{gro_segment, split_segments};

/// Default of `StdBackend::batch`: messages taken per
/// `recvmmsg` call.
pub(crate) const DEFAULT_BATCH: usize = 32;
/// Upper bound of the batch (its buffers are `batch` x 64 KiB of address
/// space).
#[cfg(target_os = "linux")]
const MAX_BATCH: usize = 256;

/// Distance between receive slots: room for the largest datagram plus a
/// little, so that slot starts are not 64 KiB apart (which would put every
/// packet's first bytes in the same cache sets). Slots are only as resident
/// as the messages written into them: a 1500-byte datagram touches one
/// page of its slot, a GRO run up to all 16; so a camera's receiver holds
/// 128 KiB at the default batch of 32 without GRO, up to 2 MiB with it
/// once runs have filled every slot (kept until the camera stops).
#[cfg(target_os = "linux")]
const SLOT_STRIDE: usize = MAX_MESSAGE + 192;

/// Room for a message's control messages: a camera socket gets at most
/// `UDP_GRO`'s segment size and `SO_RXQ_OVFL`'s drop count, 24 bytes each
/// on 64-bit (`CMSG_SPACE(4)`), so nothing is cut off (`MSG_CTRUNC`), with
/// room to spare.
#[cfg(target_os = "linux")]
const CONTROL_LEN: usize = 64;

/// One message's control buffer, aligned as `struct cmsghdr` (whose
/// first field is a `size_t`) requires.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

/// Reads datagrams from one socket into buffers it owns.
///
/// On Linux it holds one `mmsghdr`, `iovec`, address and control buffer
/// per slot, allocated once; every call points them at the slots again
/// and resets the lengths the kernel overwrote, so a call allocates
/// nothing. (The headers hold raw pointers, which makes this type neither
/// `Send` nor `Sync`: it is made on the receive thread that uses it.)
pub(crate) struct DatagramReceiver {
    #[cfg(target_os = "linux")]
    headers: Vec<libc::mmsghdr>,
    #[cfg(target_os = "linux")]
    iovecs: Vec<libc::iovec>,
    #[cfg(target_os = "linux")]
    addresses: Vec<libc::sockaddr_storage>,
    #[cfg(target_os = "linux")]
    controls: Vec<Control>,
    buffer: Vec<u8>,
}

#[cfg(target_os = "linux")]
impl DatagramReceiver {
    /// Takes up to `batch` messages per call (clamped to 1..=256); with
    /// GRO a message may hold many datagrams.
    pub(crate) fn new(batch: usize) -> Self {
        let batch = batch.clamp(1, MAX_BATCH);
        // SAFETY: `mmsghdr`, `iovec` and `sockaddr_storage` are plain C
        // structs of integers and raw pointers, for which all-zero bytes
        // are a valid value (null pointers, zero lengths). Zeroing also
        // clears the padding fields some C libraries (musl) put in
        // `msghdr`, which `receive` never names.
        let (header, iovec, address) = unsafe {
            (
                std::mem::zeroed::<libc::mmsghdr>(),
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed::<libc::sockaddr_storage>(),
            )
        };
        DatagramReceiver {
            headers: vec![header; batch],
            iovecs: vec![iovec; batch],
            addresses: vec![address; batch],
            controls: vec![Control([0; CONTROL_LEN]); batch],
            buffer: vec![0; batch * SLOT_STRIDE],
        }
    }

    /// Messages one call takes at most.
    pub(crate) fn batch(&self) -> usize {
        self.headers.len()
    }

    /// Wait (up to the socket's read timeout) for at least one message,
    /// then call `each(from, bytes)` for every datagram of it and of
    /// every other message already queued, up to the batch size, in the
    /// order they arrived. Returns how many times `each` was called (the
    /// datagrams, not the messages: a GRO message counts its segments).
    ///
    /// A message that did not fit its slot (impossible for UDP, whose
    /// payload is at most 65,507 bytes, and GRO, which stops merging
    /// below 64 KiB, but the kernel would say so) is passed on as one
    /// empty datagram, never shortened: the core counts it as truncated.
    /// So is one whose control messages were cut off (`MSG_CTRUNC`, for
    /// which the control buffers leave no reason), which could have been
    /// a GRO run that would otherwise pass for one long datagram.
    pub(crate) fn receive(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd;

        let batch = self.headers.len();
        let slots = self.buffer.as_mut_ptr();
        // The kernel overwrote every length and flag field of the last
        // call's headers (msg_namelen, msg_controllen, msg_flags,
        // msg_len): reset them all, and point each at its own buffers.
        for (i, (((header, iovec), address), control)) in self
            .headers
            .iter_mut()
            .zip(&mut self.iovecs)
            .zip(&mut self.addresses)
            .zip(&mut self.controls)
            .enumerate()
        {
            *iovec = libc::iovec {
                // In bounds: the buffer holds `batch` slots of
                // SLOT_STRIDE >= MAX_MESSAGE bytes.
                iov_base: slots.wrapping_add(i * SLOT_STRIDE).cast(),
                iov_len: MAX_MESSAGE,
            };
            let message = &mut header.msg_hdr;
            message.msg_name = (address as *mut libc::sockaddr_storage).cast();
            message.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            message.msg_iov = iovec;
            message.msg_iovlen = 1;
            message.msg_control = control.0.as_mut_ptr().cast();
            // size_t in glibc, socklen_t in musl.
            message.msg_controllen = CONTROL_LEN as _;
            message.msg_flags = 0;
            header.msg_len = 0;
        }
        // SAFETY: the fd is open for the lifetime of `socket`. There are
        // `batch` headers, each pointing (as set just above) at buffers
        // this receiver owns and that nothing else borrows during the
        // call: one iovec of MAX_MESSAGE bytes inside its own slot of
        // `buffer`, a sockaddr_storage whose size is given, and a
        // cmsghdr-aligned control buffer of CONTROL_LEN bytes. The kernel
        // writes only within those lengths. A null timeout leaves the
        // wait to the socket's read timeout (SO_RCVTIMEO).
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                batch as libc::c_uint,
                libc::MSG_WAITFORONE as _,
                std::ptr::null_mut(),
            )
        };
        // Negative: the error (a timeout is EAGAIN, as for recv_from).
        let Ok(received) = usize::try_from(received) else {
            return Err(io::Error::last_os_error());
        };
        let mut count = 0;
        for ((header, address), (slot, control)) in self
            .headers
            .iter()
            .zip(&self.addresses)
            .zip(self.buffer.chunks_exact(SLOT_STRIDE).zip(&self.controls))
            .take(received)
        {
            let message = &header.msg_hdr;
            // A UDP socket's peer is always IPv4 or IPv6; anything else
            // would be a kernel bug, not traffic to count.
            let Some(from) = to_std(address, message.msg_namelen) else {
                continue;
            };
            // Control messages cut off (MSG_CTRUNC; CONTROL_LEN leaves
            // room for all a camera socket gets) might have held the GRO
            // segment size: without it a run would pass for one long
            // datagram, so it is treated as truncated too.
            if message.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
                each(from, &[]);
                count += 1;
                continue;
            }
            let len = (header.msg_len as usize).min(MAX_MESSAGE);
            let bytes = slot.get(..len).unwrap_or(&[]);
            // size_t in glibc (a cast to itself), socklen_t in musl.
            #[allow(clippy::unnecessary_cast)]
            let control_len = (message.msg_controllen as usize).min(CONTROL_LEN);
            let segment = gro_segment(control.0.get(..control_len).unwrap_or(&[]));
            count += split_segments(bytes, segment, |datagram| each(from, datagram));
        }
        Ok(count)
    }
}

/// The sender's address the kernel wrote into `address` (`len` bytes of
/// it), when it is IPv4 or IPv6.
#[cfg(target_os = "linux")]
fn to_std(address: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    use std::mem::size_of;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    let len = len as usize;
    match libc::c_int::from(address.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is large and aligned enough for
            // every socket address type, and its family (with the length
            // the kernel wrote) says it holds a sockaddr_in.
            let v4 =
                unsafe { &*(address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let v6 = unsafe {
                &*(address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
impl DatagramReceiver {
    /// One datagram per call whatever `batch` says (no `recvmmsg` here).
    pub(crate) fn new(_batch: usize) -> Self {
        DatagramReceiver {
            buffer: vec![0; MAX_MESSAGE],
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
    #[cfg(target_os = "linux")]
    use mjpeg_rtp_testkit::rtp::set_gso_segment;
    use std::time::Duration;

    /// A socket on loopback to receive on, with a read timeout so that a
    /// test that goes wrong fails instead of hanging; GRO on when asked
    /// (and the kernel has it: the tests then expect it to).
    fn receiver_socket(gro: bool) -> UdpSocket {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        if gro {
            assert_eq!(
                crate::socket::enable_udp_gro(&rx).unwrap(),
                cfg!(target_os = "linux")
            );
        }
        rx
    }

    /// Receive until `expected` datagrams came, checking that every call
    /// returns the number of datagrams it handed over; returns them with
    /// their senders.
    fn receive_all(
        receiver: &mut DatagramReceiver,
        rx: &UdpSocket,
        expected: usize,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut got = Vec::new();
        while got.len() < expected {
            let before = got.len();
            let count = receiver
                .receive(rx, |from, bytes| got.push((from, bytes.to_vec())))
                .unwrap();
            assert_eq!(count, got.len() - before, "returned vs handed over");
        }
        // Nothing more than what was sent.
        rx.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        assert!(receiver
            .receive(rx, |_, _| panic!("extra datagram"))
            .is_err());
        got
    }

    /// A datagram's bytes that say which it is: `index` in its first two
    /// bytes, then a pattern that differs per datagram and per offset.
    fn datagram(index: usize, len: usize) -> Vec<u8> {
        (0..len)
            .map(|k| match k {
                0 => (index >> 8) as u8,
                1 => index as u8,
                _ => (k * 7 + index * 13) as u8,
            })
            .collect()
    }

    #[test]
    fn takes_what_is_queued_in_order_with_senders() {
        for gro in [false, true] {
            let rx = receiver_socket(gro);
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            let sizes = [1usize, 1400, 9000, 65_507, 0, 3, 1400, 1400];
            for (i, &n) in sizes.iter().enumerate() {
                tx.send_to(&datagram(i, n), rx.local_addr().unwrap())
                    .unwrap();
            }
            let got = receive_all(&mut DatagramReceiver::new(4), &rx, sizes.len());
            for (i, ((from, bytes), &n)) in got.iter().zip(&sizes).enumerate() {
                assert_eq!(*from, tx.local_addr().unwrap());
                assert_eq!(bytes.len(), n, "datagram {i}, gro {gro}");
                assert!(*bytes == datagram(i, n), "datagram {i}, gro {gro}");
            }
        }
    }

    /// One GSO send of 40 x 1400 bytes and a 300-byte tail reaches a
    /// GRO socket as one message on loopback (the kernel never cuts it):
    /// every datagram comes out once, in order, byte-exact, from its
    /// sender, the whole run from one message; and the same without GRO,
    /// where the kernel cut it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_gso_run_comes_out_as_the_datagrams_sent() {
        for gro in [true, false] {
            let rx = receiver_socket(gro);
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            set_gso_segment(&tx, 1400);
            let sizes: Vec<usize> = [1400; 40].into_iter().chain([300]).collect();
            let run: Vec<u8> = sizes
                .iter()
                .enumerate()
                .flat_map(|(i, &n)| datagram(i, n))
                .collect();
            assert_eq!(
                tx.send_to(&run, rx.local_addr().unwrap()).unwrap(),
                run.len()
            );
            // One message per call first: with GRO that call hands over
            // the whole run, which proves the kernel merged it (and this
            // code cut it); without, one datagram.
            let mut got = Vec::new();
            let first = DatagramReceiver::new(1)
                .receive(&rx, |from, bytes| got.push((from, bytes.to_vec())))
                .unwrap();
            assert_eq!(first, if gro { sizes.len() } else { 1 }, "gro {gro}");
            let rest = sizes.len() - first;
            got.extend(receive_all(
                &mut DatagramReceiver::new(DEFAULT_BATCH),
                &rx,
                rest,
            ));
            assert_eq!(got.len(), sizes.len(), "gro {gro}");
            for (i, ((from, bytes), &n)) in got.iter().zip(&sizes).enumerate() {
                assert_eq!(*from, tx.local_addr().unwrap(), "gro {gro}");
                assert!(*bytes == datagram(i, n), "datagram {i}, gro {gro}");
            }
        }
    }

    /// Runs of different segment sizes (one with no short tail, one of a
    /// single short datagram), plain datagrams between them (an empty
    /// one, the largest) and a second sender whose run interleaves: each
    /// sender's datagrams in its order, byte-exact, however few messages
    /// (batch 2) a call takes.
    #[cfg(target_os = "linux")]
    #[test]
    fn mixed_runs_and_datagrams_from_two_senders() {
        for gro in [true, false] {
            let rx = receiver_socket(gro);
            let to = rx.local_addr().unwrap();
            let (a, b) = (
                UdpSocket::bind("127.0.0.1:0").unwrap(),
                UdpSocket::bind("127.0.0.1:0").unwrap(),
            );
            // (sender, GSO segment size, datagram lengths), in send order.
            let sends: [(&UdpSocket, u16, &[usize]); 8] = [
                (&a, 1400, &[1400, 1400, 1400, 1]),
                (&b, 500, &[500, 500, 500]),
                (&a, 0, &[0]),
                (&a, 1200, &[1000]),
                (&b, 0, &[65_507]),
                (&a, 9000, &[9000, 9000, 9000, 9000, 9000, 9000, 8]),
                (&b, 1, &[1; 64]),
                (&a, 0, &[3]),
            ];
            let mut expected: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
            for (tx, segment, lengths) in sends {
                set_gso_segment(tx, usize::from(segment));
                let mut message = Vec::new();
                for &n in lengths {
                    let d = datagram(expected.len(), n);
                    message.extend_from_slice(&d);
                    expected.push((tx.local_addr().unwrap(), d));
                }
                tx.send_to(&message, to).unwrap();
            }
            let got = receive_all(&mut DatagramReceiver::new(2), &rx, expected.len());
            assert_eq!(got.len(), expected.len(), "gro {gro}");
            // Two flows: the kernel keeps each one's order, not the
            // order between them.
            for sender in [&a, &b] {
                let of = |list: &[(SocketAddr, Vec<u8>)]| -> Vec<Vec<u8>> {
                    list.iter()
                        .filter(|(from, _)| *from == sender.local_addr().unwrap())
                        .map(|(_, bytes)| bytes.clone())
                        .collect()
                };
                assert!(of(&got) == of(&expected), "gro {gro}");
            }
        }
    }

    /// Once made, the receiver allocates nothing per call, with GRO
    /// messages to cut or without.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_receive_call_allocates_nothing() {
        let rx = receiver_socket(true);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut receiver = DatagramReceiver::new(DEFAULT_BATCH);
        let mut calls = 0;
        for segment in [1400, 0] {
            set_gso_segment(&tx, segment);
            tx.send_to(&[7; 10 * 1400 + 5], rx.local_addr().unwrap())
                .unwrap();
            let allocations = crate::backend::ingest::tests::allocations_in(|| {
                receiver.receive(&rx, |_, _| calls += 1).unwrap();
            });
            assert_eq!(allocations, 0, "segment {segment}");
        }
        assert_eq!(calls, 11 + 1);
    }

    #[test]
    fn an_idle_socket_times_out() {
        for gro in [false, true] {
            let rx = receiver_socket(gro);
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

    /// Room for both control messages a camera socket gets (the GRO
    /// segment size and the drop count), so that none is cut off.
    #[cfg(target_os = "linux")]
    #[test]
    fn control_buffers_hold_gro_and_drops() {
        // SAFETY: pure arithmetic on a length, no pointer involved.
        let space = unsafe { libc::CMSG_SPACE(4) } as usize;
        assert!(2 * space <= CONTROL_LEN, "room for both without MSG_CTRUNC");
    }
}
