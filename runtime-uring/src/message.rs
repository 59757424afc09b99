//! The parts of a multishot `recvmsg` result we use, read from bytes
//! without `unsafe`: the sender's socket address and the `SO_RXQ_OVFL`
//! drop counter in the control data (the `UDP_GRO` segment size there is
//! read by [`mjpeg_rtp::backend::gro_segment`]).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use mjpeg_rtp::backend::control_message;

/// Space reserved for the sender address in every buffer: a
/// `sockaddr_in6` (a `sockaddr_in` is smaller).
pub(crate) const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();

/// Bytes of a `cmsghdr`; control data follows it, aligned like `size_t`.
const CMSG_HEADER: usize = std::mem::size_of::<libc::cmsghdr>();

/// Space reserved for control data: the two messages a camera socket
/// gets, each carrying 4 bytes (`CMSG_SPACE(4)` each): `SO_RXQ_OVFL`'s
/// drop counter and `UDP_GRO`'s segment size. Less would cut one off
/// (`MSG_CTRUNC`), and a run whose segment size was cut off cannot be
/// passed on.
pub(crate) const CONTROL_LEN: usize = 2 * (CMSG_HEADER + cmsg_align(4));

/// Bytes of a buffer before the payload: the kernel's
/// `io_uring_recvmsg_out` header, then the reserved name and control
/// space.
pub(crate) const BUFFER_OVERHEAD: usize = 16 + NAME_LEN + CONTROL_LEN;

const fn cmsg_align(len: usize) -> usize {
    let a = std::mem::size_of::<usize>();
    (len + a - 1) & !(a - 1)
}

/// The sender of a datagram from the `sockaddr` bytes the kernel wrote.
pub(crate) fn socket_addr(name: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(name.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(name.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flowinfo = u32::from_be_bytes(name.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flowinfo,
                scope,
            )))
        }
        _ => None,
    }
}

/// The socket's running drop count from a `SOL_SOCKET`/`SO_RXQ_OVFL`
/// control message, if the control data holds one. The kernel attaches
/// it only once the count is non-zero.
pub(crate) fn rxq_ovfl(control: &[u8]) -> Option<u32> {
    let data = control_message(control, libc::SOL_SOCKET, libc::SO_RXQ_OVFL)?;
    Some(u32::from_ne_bytes(data.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let len = CMSG_HEADER + data.len();
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.resize(CMSG_HEADER, 0);
        out.extend_from_slice(data);
        out.resize(CMSG_HEADER + cmsg_align(data.len()), 0);
        out
    }

    #[test]
    fn control_space_matches_libc() {
        // SAFETY: CMSG_SPACE is pure arithmetic.
        let space = unsafe { libc::CMSG_SPACE(4) } as usize;
        assert_eq!(CONTROL_LEN, 2 * space, "room for SO_RXQ_OVFL and UDP_GRO");
        let mut data = cmsg(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &7u32.to_ne_bytes());
        assert_eq!(data.len(), space);
        // SAFETY: CMSG_LEN is pure arithmetic.
        let len = unsafe { libc::CMSG_LEN(4) } as usize;
        assert_eq!(usize::from_ne_bytes(data[..8].try_into().unwrap()), len);
        data.truncate(len);
        assert_eq!(rxq_ovfl(&data), Some(7));
    }

    #[test]
    fn finds_the_drop_counter_among_messages() {
        let mut control = cmsg(libc::SOL_SOCKET, libc::SO_TIMESTAMP, &[1; 16]);
        control.extend(cmsg(
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            &42u32.to_ne_bytes(),
        ));
        assert_eq!(rxq_ovfl(&control), Some(42));
        assert_eq!(rxq_ovfl(&[]), None);
        let other = cmsg(libc::IPPROTO_IP, libc::SO_RXQ_OVFL, &1u32.to_ne_bytes());
        assert_eq!(rxq_ovfl(&other), None);
    }

    #[test]
    fn hostile_control_data_is_ignored() {
        let mut bad = cmsg(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &1u32.to_ne_bytes());
        bad[..8].copy_from_slice(&1000usize.to_ne_bytes());
        assert_eq!(rxq_ovfl(&bad), None);
        bad[..8].copy_from_slice(&0usize.to_ne_bytes());
        assert_eq!(rxq_ovfl(&bad), None, "a zero length must not loop");
        assert_eq!(rxq_ovfl(&bad[..CMSG_HEADER + 2]), None);
    }

    #[test]
    fn parses_v4_and_v6_senders() {
        let mut v4 = vec![0u8; NAME_LEN];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&5004u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 2]);
        assert_eq!(socket_addr(&v4), Some("127.0.0.2:5004".parse().unwrap()));
        assert_eq!(
            socket_addr(&v4[..16]),
            Some("127.0.0.2:5004".parse().unwrap())
        );

        let mut v6 = vec![0u8; NAME_LEN];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&6000u16.to_be_bytes());
        v6[8..24].copy_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        v6[24..28].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(socket_addr(&v6), Some("[fe80::1%3]:6000".parse().unwrap()));

        assert_eq!(socket_addr(&v6[..20]), None);
        assert_eq!(socket_addr(&[]), None);
        let mut unix = v4.clone();
        unix[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        assert_eq!(socket_addr(&unix), None);
    }
}
