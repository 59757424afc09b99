//! Every socket option the runtime uses, in one place: bind (with
//! `SO_REUSEADDR` and `IP_MULTICAST_ALL` off for multicast groups only,
//! joined on a chosen interface for the groups RTSP servers hand out;
//! the even/odd RTP/RTCP pair that RTSP over UDP and plain-UDP RTCP use),
//! the receive buffer (and one warning when the kernel grants less),
//! multicast membership, and on Linux the kernel's drop counter
//! (`SO_RXQ_OVFL` for backends that read control messages, `SO_MEMINFO`
//! for those that do not), and UDP GRO for the backend that cuts
//! coalesced datagrams apart.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::CameraConfig;
use crate::error::Error;

/// Set once the "receive buffer smaller than asked" warning was logged,
/// so that dozens of cameras produce one line, not dozens.
static SMALL_BUFFER_WARNED: AtomicBool = AtomicBool::new(false);

/// A bound camera socket and what the kernel granted.
#[derive(Debug)]
pub struct BoundSocket {
    pub socket: UdpSocket,
    /// The address actually bound (port resolved when 0 was asked).
    pub local_addr: SocketAddr,
    /// Receive buffer the kernel reports after the request (on Linux this
    /// is twice the usable payload space, as `SO_RCVBUF` reads back).
    pub receive_buffer: usize,
    /// Whether `SO_RXQ_OVFL` is on (Linux only).
    pub rxq_ovfl: bool,
}

/// Create, configure and bind the socket for `config`.
pub fn bind_camera(config: &CameraConfig) -> Result<BoundSocket, Error> {
    bind_on(config, config.bind, None)
}

/// An even RTP port and the odd RTCP port above it (RFC 3550 11).
#[derive(Debug)]
pub(crate) struct PortPair {
    pub(crate) rtp: BoundSocket,
    pub(crate) rtcp: UdpSocket,
}

/// Bind an even/odd pair on `config.bind`'s address, ports chosen by
/// the system.
pub(crate) fn bind_pair(config: &CameraConfig) -> Result<PortPair, Error> {
    let mut last = None;
    for _ in 0..32 {
        let rtp = bind_camera(config)?;
        let port = rtp.local_addr.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        let rtcp_addr = SocketAddr::new(rtp.local_addr.ip(), port + 1);
        match UdpSocket::bind(rtcp_addr) {
            Ok(rtcp) => return Ok(PortPair { rtp, rtcp }),
            Err(e) => last = Some((rtcp_addr, e)),
        }
    }
    let (addr, source) = last.unwrap_or_else(|| {
        (
            config.bind,
            io::Error::new(io::ErrorKind::AddrInUse, "no even port"),
        )
    });
    Err(Error::Bind {
        camera: config.id.clone(),
        addr,
        source,
    })
}

/// Bind `group`'s port (with `SO_REUSEADDR`, so that other receivers on
/// the host can join too) and join the group on the interface that has
/// the address `interface` (IPv4; IPv6 joins on the system's choice), for
/// the multicast groups an RTSP server hands out. The group is left when
/// the socket closes, or by [`leave_group`].
pub fn bind_group(
    config: &CameraConfig,
    group: SocketAddr,
    interface: IpAddr,
) -> Result<BoundSocket, Error> {
    bind_on(config, group, Some(interface))
}

/// Join `group` on the interface with the address `interface` (IPv4;
/// `None`, or an IPv6 group, joins on the system's choice).
pub fn join_group(socket: &UdpSocket, group: IpAddr, interface: Option<IpAddr>) -> io::Result<()> {
    match (group, interface) {
        (IpAddr::V4(g), Some(IpAddr::V4(i))) => socket.join_multicast_v4(&g, &i),
        (IpAddr::V4(g), _) => socket.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(g), _) => socket.join_multicast_v6(&g, 0),
    }
}

/// Leave the group `bind_group` joined (best effort: the kernel leaves
/// it anyway when the last handle on the socket closes).
pub fn leave_group(socket: &UdpSocket, group: IpAddr, interface: Option<IpAddr>) -> io::Result<()> {
    match (group, interface) {
        (IpAddr::V4(g), Some(IpAddr::V4(i))) => socket.leave_multicast_v4(&g, &i),
        (IpAddr::V4(g), _) => socket.leave_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(g), _) => socket.leave_multicast_v6(&g, 0),
    }
}

/// Make `socket`'s datagrams to a multicast group leave from the
/// interface with the address `interface`, with `ttl` (hops), and not
/// loop back to this host's own members (our reports are not news to
/// us, nor to the other receivers on this host).
pub fn multicast_sender(socket: &UdpSocket, interface: IpAddr, ttl: u32) -> io::Result<()> {
    let socket = socket2::SockRef::from(socket);
    match interface {
        IpAddr::V4(address) => {
            socket.set_multicast_if_v4(&address)?;
            socket.set_multicast_ttl_v4(ttl)?;
            socket.set_multicast_loop_v4(false)
        }
        // The interface index is the system's choice, as for the join.
        IpAddr::V6(_) => {
            socket.set_multicast_hops_v6(ttl)?;
            socket.set_multicast_loop_v6(false)
        }
    }
}

fn bind_on(
    config: &CameraConfig,
    addr: SocketAddr,
    interface: Option<IpAddr>,
) -> Result<BoundSocket, Error> {
    let bind_err = |source: io::Error| Error::Bind {
        camera: config.id.clone(),
        addr,
        source,
    };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_err)?;
    // Several receivers of one multicast group may share its port. For
    // unicast, SO_REUSEADDR would let two cameras (or two programs) bind
    // the same port and silently split its datagrams, and on Linux even let
    // an ephemeral port (0) be handed out twice: a taken port must be an
    // error instead.
    if addr.ip().is_multicast() {
        socket.set_reuse_address(true).map_err(bind_err)?;
        deliver_joined_groups_only(&socket, addr.ip());
    }
    // A multicast group is received on the wildcard address of its
    // family (binding the group address itself does not work on Windows).
    let local = match addr.ip() {
        IpAddr::V4(ip) if ip.is_multicast() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port())
        }
        IpAddr::V6(ip) if ip.is_multicast() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), addr.port())
        }
        _ => addr,
    };
    socket.bind(&local.into()).map_err(bind_err)?;
    let receive_buffer = set_receive_buffer(&socket, config);
    let rxq_ovfl = match enable_rxq_ovfl(&socket) {
        Ok(on) => on,
        Err(e) => {
            log::debug!("camera {:?}: SO_RXQ_OVFL not enabled: {e}", config.id);
            false
        }
    };
    let socket: UdpSocket = socket.into();
    if addr.ip().is_multicast() {
        join_group(&socket, addr.ip(), interface).map_err(|source| Error::Multicast {
            camera: config.id.clone(),
            addr,
            source,
        })?;
    }
    let local_addr = socket.local_addr().map_err(bind_err)?;
    log::debug!(
        "camera {:?}: bound {local_addr}, receive buffer {receive_buffer} bytes",
        config.id
    );
    Ok(BoundSocket {
        socket,
        local_addr,
        receive_buffer,
        rxq_ovfl,
    })
}

/// Linux hands a socket bound to the wildcard address the datagrams of
/// every group any socket of the host joined on its port
/// (`IP_MULTICAST_ALL`, on by default): two cameras on different groups
/// with the same port would each get both streams. Turn it off, so that
/// a socket gets the groups it joined. Best effort: other systems deliver
/// only joined groups already.
fn deliver_joined_groups_only(socket: &Socket, group: IpAddr) {
    #[cfg(target_os = "linux")]
    {
        let set = match group {
            IpAddr::V4(_) => socket.set_multicast_all_v4(false),
            IpAddr::V6(_) => socket.set_multicast_all_v6(false),
        };
        if let Err(e) = set {
            log::debug!("IP_MULTICAST_ALL off for {group}: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, group);
}

/// Ask for the configured receive buffer, read back what was granted and
/// warn once when it is less.
fn set_receive_buffer(socket: &Socket, config: &CameraConfig) -> usize {
    let wanted = config.socket_receive_buffer;
    if wanted == 0 {
        return socket.recv_buffer_size().unwrap_or(0);
    }
    if let Err(e) = socket.set_recv_buffer_size(wanted) {
        log::debug!("camera {:?}: SO_RCVBUF {wanted}: {e}", config.id);
    }
    let granted = socket.recv_buffer_size().unwrap_or(0);
    // Linux doubles the request for its bookkeeping and reports the
    // doubled value; compare like with like.
    let usable = if cfg!(target_os = "linux") {
        granted / 2
    } else {
        granted
    };
    if usable < wanted {
        let message = format!(
            "camera {:?}: socket receive buffer is {usable} bytes, {wanted} were asked; \
             bursts of large frames may be dropped by the kernel. {}",
            config.id, RAISE_HINT
        );
        if SMALL_BUFFER_WARNED.swap(true, Ordering::Relaxed) {
            log::debug!("{message}");
        } else {
            log::warn!("{message}");
        }
    }
    granted
}

#[cfg(target_os = "linux")]
const RAISE_HINT: &str = "Raise the limit with `sysctl -w net.core.rmem_max=<bytes>`.";
#[cfg(any(target_os = "macos", target_os = "freebsd", target_os = "ios"))]
const RAISE_HINT: &str = "Raise the limit with `sysctl -w kern.ipc.maxsockbuf=<bytes>`.";
#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "freebsd",
    target_os = "ios"
)))]
const RAISE_HINT: &str = "Raise the operating system's socket buffer limit.";

/// Turn on `SO_RXQ_OVFL`: the kernel then attaches its running drop
/// counter for the socket to every message read with `recvmsg`. `Ok(false)`
/// where the option does not exist.
#[cfg(target_os = "linux")]
pub fn enable_rxq_ovfl<S: std::os::fd::AsRawFd>(socket: &S) -> io::Result<bool> {
    set_int_option(socket, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1).map(|()| true)
}

/// Turn on UDP GRO (`UDP_GRO`, Linux 5.0+): the kernel may then hand over
/// several datagrams of one flow as one message (equal-size segments,
/// the last possibly shorter) with a `UDP_GRO` control message giving the
/// segment size, and the reader must cut them apart
/// ([`split_segments`](crate::backend::split_segments)). Only for a
/// socket whose reader does (the std backend's `DatagramReceiver`,
/// io_uring's ring): any other would take a run of datagrams for one.
/// `Err` when the kernel refuses (older than 5.0: `ENOPROTOOPT`),
/// `Ok(false)` where the option does not exist.
#[cfg(target_os = "linux")]
pub fn enable_udp_gro<S: std::os::fd::AsRawFd>(socket: &S) -> io::Result<bool> {
    set_int_option(socket, libc::SOL_UDP, libc::UDP_GRO, 1).map(|()| true)
}

/// Turn on UDP GRO: not available on this platform.
#[cfg(not(target_os = "linux"))]
pub fn enable_udp_gro<S>(_socket: &S) -> io::Result<bool> {
    Ok(false)
}

/// `setsockopt(level, name)` with an `int` value.
#[cfg(target_os = "linux")]
fn set_int_option<S: std::os::fd::AsRawFd>(
    socket: &S,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the fd is open for the lifetime of `socket`, and the option
    // value points to a live c_int whose exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Turn on `SO_RXQ_OVFL`: not available on this platform.
#[cfg(not(target_os = "linux"))]
pub fn enable_rxq_ovfl<S>(_socket: &S) -> io::Result<bool> {
    Ok(false)
}

/// Datagrams the kernel dropped for this socket (receive buffer full)
/// since it was created, as the kernel's 32-bit counter (see
/// [`DropCounter`](crate::backend::DropCounter)), where the platform tells without `recvmsg`
/// (Linux 4.12+: `SO_MEMINFO`); `None` elsewhere.
///
/// One `getsockopt`, whatever else the machine has open. (Reading the
/// count from `/proc/net/udp`, as this once did, walks the kernel's whole
/// UDP table per call, ~120 us here, and allocates tens of KiB: once a
/// second per camera, that grew with the square of the camera count and
/// churned the heap of a long-running receiver.)
#[cfg(target_os = "linux")]
pub fn kernel_drops(socket: &UdpSocket) -> Option<u32> {
    use std::os::fd::AsRawFd;
    const VARS: usize = libc::SK_MEMINFO_DROPS as usize + 1;
    let mut meminfo = [0u32; VARS];
    let mut len = std::mem::size_of_val(&meminfo) as libc::socklen_t;
    // SAFETY: the fd is open for the lifetime of `socket`; the kernel
    // writes at most `len` bytes into `meminfo`, which is that large, and
    // stores the length it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            meminfo.as_mut_ptr().cast(),
            &mut len,
        )
    };
    // An older kernel fills fewer fields: no drop count then.
    let filled = usize::try_from(len).ok()? / std::mem::size_of::<u32>();
    if rc != 0 || filled < VARS {
        return None;
    }
    meminfo.get(libc::SK_MEMINFO_DROPS as usize).copied()
}

/// Datagrams the kernel dropped for this socket: unknown on this platform.
#[cfg(not(target_os = "linux"))]
pub fn kernel_drops(_socket: &UdpSocket) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_and_reports() {
        let config = CameraConfig::new("t", "127.0.0.1:0".parse().unwrap());
        let bound = bind_camera(&config).unwrap();
        assert_ne!(bound.local_addr.port(), 0);
        assert!(bound.receive_buffer > 0);
        #[cfg(target_os = "linux")]
        {
            assert!(bound.rxq_ovfl);
            assert_eq!(kernel_drops(&bound.socket), Some(0));
        }
    }

    #[test]
    fn an_address_not_ours_is_a_bind_error() {
        let config = CameraConfig::new("t", "192.0.2.1:5004".parse().unwrap());
        assert!(matches!(bind_camera(&config), Err(Error::Bind { .. })));
    }

    #[test]
    fn a_unicast_port_in_use_is_a_bind_error() {
        let first = bind_camera(&CameraConfig::new("a", "127.0.0.1:0".parse().unwrap())).unwrap();
        let taken = CameraConfig::new("b", first.local_addr);
        assert!(matches!(bind_camera(&taken), Err(Error::Bind { .. })));
    }

    #[test]
    fn ephemeral_ports_are_distinct() {
        let ports: std::collections::HashSet<u16> = (0..200)
            .map(|i| {
                let config = CameraConfig::new(format!("c{i}"), "127.0.0.1:0".parse().unwrap());
                let bound = bind_camera(&config).unwrap();
                let port = bound.local_addr.port();
                std::mem::forget(bound.socket);
                port
            })
            .collect();
        assert_eq!(ports.len(), 200);
    }
}
