//! UDP datagrams with a time: what the capture writer writes and the
//! impairment model rearranges.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// One UDP datagram on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Capture timestamp (since the Unix epoch) or, before an impairment,
    /// send time.
    pub time: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// The camera of [`datagrams_to`] (TEST-NET-1).
const CAMERA: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40_000);
/// The receiver of [`datagrams_to`] (TEST-NET-2).
const RECEIVER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

/// Datagrams from 192.0.2.1:40000 to 198.51.100.7:`port`, all at time
/// zero (see [`retime`]).
pub fn datagrams_to(port: u16, payloads: impl IntoIterator<Item = Vec<u8>>) -> Vec<Datagram> {
    payloads
        .into_iter()
        .map(|payload| Datagram {
            time: Duration::ZERO,
            src: CAMERA,
            dst: SocketAddr::new(RECEIVER, port),
            payload,
        })
        .collect()
}

/// Capture times in order, `step` apart from 1.7e9 s (November 2023: a
/// plausible capture date).
pub fn retime(datagrams: &mut [Datagram], step: Duration) {
    let base = Duration::from_secs(1_700_000_000);
    for (i, d) in datagrams.iter_mut().enumerate() {
        d.time = base + step * i as u32;
    }
}
