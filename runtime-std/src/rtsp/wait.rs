//! How a session thread waits: until bytes come on the RTSP connection
//! or RTCP on the UDP socket, until the client stops, or until the
//! session's next deadline, whichever is first. No fixed-period
//! wake-ups: an idle camera's thread sleeps until its next keepalive,
//! report or check, which keeps many cameras cheap.

use std::io::{self, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Instant;

/// Wakes every session thread of a client at once when it stops: one
/// byte written to a socket pair that each thread polls (and none
/// reads, so it stays readable).
#[derive(Debug)]
pub(crate) struct Wake {
    #[cfg(target_os = "linux")]
    rx: std::os::unix::net::UnixStream,
    #[cfg(target_os = "linux")]
    tx: std::os::unix::net::UnixStream,
}

#[cfg(target_os = "linux")]
impl Wake {
    pub(crate) fn new() -> io::Result<Self> {
        let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        Ok(Wake { rx, tx })
    }

    pub(crate) fn try_clone(&self) -> io::Result<Self> {
        Ok(Wake {
            rx: self.rx.try_clone()?,
            tx: self.tx.try_clone()?,
        })
    }

    /// Wake every thread waiting on a clone of this, now and from now on.
    pub(crate) fn wake(&self) {
        let _ = (&self.tx).write(&[1]);
    }
}

/// Wait for the connection, `rtcp` or `wake`, at most until `deadline`.
/// `true` when the connection has something to read (data, end of
/// stream or an error: the read tells which).
#[cfg(target_os = "linux")]
pub(crate) fn wait(
    stream: &TcpStream,
    rtcp: Option<&UdpSocket>,
    wake: &Wake,
    deadline: Instant,
) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;

    let left = deadline.saturating_duration_since(Instant::now());
    // Rounded up: waking a millisecond early would only wait again.
    let millis = left.as_nanos().div_ceil(1_000_000);
    let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
    let mut fds = vec![
        PollFd::new(stream.as_fd(), PollFlags::POLLIN),
        PollFd::new(wake.rx.as_fd(), PollFlags::POLLIN),
    ];
    if let Some(socket) = rtcp {
        fds.push(PollFd::new(socket.as_fd(), PollFlags::POLLIN));
    }
    match poll(&mut fds, timeout) {
        Ok(0) => false,
        Ok(_) => fds[0].any().unwrap_or(true),
        // Interrupted, or poll itself failed: the read that follows is
        // bounded by the socket's read timeout, so this cannot spin.
        Err(_) => true,
    }
}

#[cfg(not(target_os = "linux"))]
impl Wake {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Wake {})
    }

    pub(crate) fn try_clone(&self) -> io::Result<Self> {
        Ok(Wake {})
    }

    pub(crate) fn wake(&self) {}
}

/// Without poll: a read bounded by [`FALLBACK_POLL`] (the stop flag is
/// looked at that often).
#[cfg(not(target_os = "linux"))]
pub(crate) fn wait(
    stream: &TcpStream,
    _rtcp: Option<&UdpSocket>,
    _wake: &Wake,
    deadline: Instant,
) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    let _ = stream.set_read_timeout(Some(
        left.clamp(std::time::Duration::from_millis(1), FALLBACK_POLL),
    ));
    true
}

/// How often a thread without poll looks at the stop flag.
#[cfg(not(target_os = "linux"))]
const FALLBACK_POLL: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn waits_for_the_deadline_data_or_a_wake() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let wake = Wake::new().unwrap();
        let thread_wake = wake.try_clone().unwrap();

        let start = Instant::now();
        let deadline = start + Duration::from_millis(120);
        assert!(!wait(&client, None, &thread_wake, deadline));
        assert!(Instant::now() >= deadline, "woke before the deadline");

        server.write_all(b"x").unwrap();
        let far = Instant::now() + Duration::from_secs(10);
        assert!(wait(&client, None, &thread_wake, far));

        let mut byte = [0u8];
        std::io::Read::read(&mut &client, &mut byte).unwrap();
        let start = Instant::now();
        wake.wake();
        assert!(!wait(&client, None, &thread_wake, far));
        assert!(!wait(&client, None, &thread_wake, far), "a wake lasts");
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
