//! The reporting half of a camera's RTCP: reading the camera's RTCP,
//! receiver reports at RFC 3550 intervals and the BYE ([`super`]).

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use mjpeg_rtp_core::StreamStats;
use mjpeg_rtp_rtsp::framing::interleaved;
use mjpeg_rtp_rtsp::rtcp::{
    bye_sources, emit_bye, emit_receiver_report, report_interval, sender_reports, ReceptionReport,
};
use mjpeg_rtp_rtsp::Negotiated;

use crate::camera::CameraShared;
use crate::config::CameraConfig;
use crate::error::Error;

/// RTCP packets this long or longer are cut; RFC 3550 compound packets
/// from a single sender are far shorter.
const MAX_RTCP: usize = 2048;
/// RTCP datagrams one [`SessionRtcp::read_udp`] takes at most. The
/// session thread reads RTCP between its other work (keepalives, the
/// stop flag, reports due): a flood on the RTCP port would otherwise
/// keep it in the read for as long as the flood lasts. A camera sends a
/// few a second; what is left stays readable and is read on the next
/// pass, at once.
const MAX_RTCP_READS_PER_CALL: usize = 64;
/// IPv4 + UDP headers, counted in the average RTCP size (RFC 3550 6.2).
const IP_UDP_OVERHEAD: usize = 28;
/// RFC 3550 6.2: RTCP gets 5% of the session bandwidth.
const RTCP_BANDWIDTH_SHARE: f64 = 0.05;
/// How often [`run_plain`] looks at the stop flag and the report timer.
const PLAIN_POLL: Duration = Duration::from_millis(50);

/// Counts of the stream at the last report, for "fraction lost since".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prior {
    ssrc: u32,
    expected: u64,
    received: u64,
}

/// The last sender report of the stream's sender: LSR, and when it came.
#[derive(Debug, Clone, Copy)]
struct LastSr {
    ssrc: u32,
    lsr: u32,
    at: Instant,
}

/// The reception report block about `stats`' stream at `now`, with
/// "fraction lost" since `prior` (the same stream's counts at the last
/// report, if any) and LSR/DLSR from `last_sr` (if of that stream).
/// `None` before the stream's first packet.
fn report_block(
    stats: &StreamStats,
    prior: Option<Prior>,
    last_sr: Option<LastSr>,
    now: Instant,
) -> Option<ReceptionReport> {
    let ssrc = stats.ssrc?;
    let expected = stats.packets_expected();
    let (expected_prior, received_prior) = prior
        .filter(|p| p.ssrc == ssrc)
        .map_or((0, 0), |p| (p.expected, p.received));
    let (lsr, dlsr) = last_sr.filter(|sr| sr.ssrc == ssrc).map_or((0, 0), |sr| {
        (
            sr.lsr,
            ReceptionReport::dlsr_of(now.saturating_duration_since(sr.at)),
        )
    });
    Some(ReceptionReport {
        ssrc,
        fraction_lost: ReceptionReport::fraction(
            expected,
            stats.packets_received,
            expected_prior,
            received_prior,
        ),
        cumulative_lost: u32::try_from(stats.packets_lost()).unwrap_or(u32::MAX),
        extended_highest_sequence: stats.extended_highest_sequence()?,
        jitter: stats.jitter(),
        lsr,
        dlsr,
    })
}

/// What one RTCP packet was, for the caller that routes replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// It carried a sender report of the stream's sender.
    StreamSenderReport,
    /// The stream's sender said BYE: it stopped sending.
    StreamBye,
    /// Anything else (other types, other SSRCs, malformed).
    Other,
}

/// The sending side of a camera's RTCP: our SSRC, the report schedule,
/// what the next report needs from the last one and the last SR.
#[derive(Debug)]
pub(crate) struct Reporter {
    ssrc: u32,
    cname: String,
    last_sr: Option<LastSr>,
    prior: Option<Prior>,
    next_report: Instant,
    /// Bytes the receive path had counted at the last report, and when:
    /// the session bandwidth RTCP takes its share of.
    bytes_at: (u64, Instant),
    /// RFC 3550 6.3.3 avg_rtcp_size, over packets sent and received.
    avg_rtcp_size: f64,
    rng: u64,
}

impl Reporter {
    pub(crate) fn new(now: Instant) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // Seeded by std's random hasher keys: SSRCs must differ between
        // receivers (RFC 3550 8.1) and the schedule must not synchronise.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5253_5243);
        let mut rng = h.finish() | 1;
        let ssrc = xorshift(&mut rng) as u32;
        let mut r = Reporter {
            ssrc,
            cname: format!("mjpeg-rtp-{ssrc:08x}"),
            last_sr: None,
            prior: None,
            next_report: now,
            bytes_at: (0, now),
            // An RR with one block and an SDES CNAME, as a start.
            avg_rtcp_size: (IP_UDP_OVERHEAD + 32 + 28) as f64,
            rng,
        };
        r.next_report = now + r.interval(0.0, true);
        r
    }

    /// Our SSRC.
    #[cfg(test)]
    pub(crate) fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// When [`Reporter::poll_report`] has a report next.
    pub(crate) fn poll_timeout(&self) -> Instant {
        self.next_report
    }

    fn interval(&mut self, rtcp_bandwidth: f64, initial: bool) -> Duration {
        let unit = (xorshift(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        // Two members, the camera sending: unicast, or a multicast group
        // whose other receivers we do not count (the 5 s minimum rules at
        // MJPEG rates whatever their number).
        report_interval(2, 1, rtcp_bandwidth, self.avg_rtcp_size, initial, unit)
    }

    fn note_size(&mut self, len: usize) {
        self.avg_rtcp_size += ((len + IP_UDP_OVERHEAD) as f64 - self.avg_rtcp_size) / 16.0;
    }

    /// One compound RTCP packet that arrived at `now` from the camera's
    /// host: sender reports of the current stream's SSRC feed the capture
    /// clock; others are counted and ignored.
    pub(crate) fn on_rtcp(
        &mut self,
        now: Instant,
        bytes: &[u8],
        shared: &CameraShared,
    ) -> Received {
        let rtcp = &shared.rtcp;
        rtcp.packets.fetch_add(1, Ordering::Relaxed);
        self.note_size(bytes.len());
        let reports = match sender_reports(bytes) {
            Ok(r) => r,
            Err(_) => {
                rtcp.invalid.fetch_add(1, Ordering::Relaxed);
                return Received::Other;
            }
        };
        let stream = stream_stats(shared).ssrc;
        let mut received = Received::Other;
        for sr in reports {
            if stream != Some(sr.ssrc) {
                rtcp.sender_reports_ignored.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            rtcp.sender_reports.fetch_add(1, Ordering::Relaxed);
            rtcp.on_sender_report(sr);
            self.last_sr = Some(LastSr {
                ssrc: sr.ssrc,
                lsr: sr.lsr(),
                at: now,
            });
            received = Received::StreamSenderReport;
        }
        // A BYE before any RTP names an SSRC not known yet; it comes from
        // the camera's host all the same, and means what it says.
        let bye = bye_sources(bytes).unwrap_or_default();
        if bye.iter().any(|&s| stream.is_none_or(|stream| stream == s)) {
            received = Received::StreamBye;
        }
        received
    }

    /// An RTCP packet from a host other than the camera's: the sender
    /// reports in it are ignored and counted; the rest (another member's
    /// receiver reports, on a multicast group) is nobody's business here.
    pub(crate) fn on_foreign(&self, bytes: &[u8], shared: &CameraShared) {
        shared.rtcp.packets.fetch_add(1, Ordering::Relaxed);
        let reports = sender_reports(bytes).map_or(0, |r| r.len());
        shared
            .rtcp
            .sender_reports_ignored
            .fetch_add(reports as u64, Ordering::Relaxed);
    }

    /// The compound receiver report due at `now`, if one is, and the
    /// next one scheduled.
    pub(crate) fn poll_report(&mut self, now: Instant, shared: &CameraShared) -> Option<Vec<u8>> {
        if now < self.next_report {
            return None;
        }
        let (stats, bytes) = {
            let s = shared.ingest.lock().unwrap_or_else(PoisonError::into_inner);
            (s.current, s.counters.bytes)
        };
        let block = report_block(&stats, self.prior, self.last_sr, now);
        let mut out = Vec::with_capacity(64);
        emit_receiver_report(&mut out, self.ssrc, block.as_ref(), &self.cname);
        if let Some(ssrc) = stats.ssrc {
            self.prior = Some(Prior {
                ssrc,
                expected: stats.packets_expected(),
                received: stats.packets_received,
            });
        }
        self.note_size(out.len());
        let elapsed = now.saturating_duration_since(self.bytes_at.1).as_secs_f64();
        let bandwidth = match elapsed > 0.0 {
            true => bytes.saturating_sub(self.bytes_at.0) as f64 / elapsed,
            false => 0.0,
        };
        self.bytes_at = (bytes, now);
        self.next_report = now + self.interval(RTCP_BANDWIDTH_SHARE * bandwidth, false);
        shared.rtcp.receiver_reports.fetch_add(1, Ordering::Relaxed);
        Some(out)
    }

    /// A compound BYE (empty RR, SDES, BYE) from our SSRC.
    pub(crate) fn bye(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        emit_bye(&mut out, self.ssrc, &self.cname);
        out
    }
}

fn stream_stats(shared: &CameraShared) -> StreamStats {
    shared
        .ingest
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .current
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Where an RTSP session's RTCP goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// On the RTSP connection, interleaved on this channel.
    Interleaved(u8),
    /// Over UDP from the RTCP socket of the pair to the server's RTCP
    /// port (until its sender reports say where they come from); only
    /// RTCP from `server`'s host is taken.
    Udp { server: SocketAddr },
    /// The server named no RTCP port: reports go to where its sender
    /// reports come from, once one has.
    UdpFromSenderReports { host: IpAddr },
    /// A multicast session: reports go to the group's RTCP port, where
    /// every member (the server included) listens (RFC 3550 6.2); only
    /// RTCP from `server`'s host is taken.
    Multicast { group: SocketAddr, server: IpAddr },
}

impl Route {
    /// The route for what SETUP negotiated with the server at `peer`
    /// (`None` for a transport this crate does not know: no RTCP).
    pub(crate) fn of(negotiated: &Negotiated, peer: SocketAddr) -> Option<Route> {
        Some(match negotiated {
            Negotiated::Interleaved { rtcp, .. } => Route::Interleaved(*rtcp),
            Negotiated::Udp {
                server_port,
                source,
                ..
            } => {
                let host = sender_host(source.as_deref(), peer);
                match server_port {
                    Some((_, rtcp)) => Route::Udp {
                        server: SocketAddr::new(host, *rtcp),
                    },
                    None => Route::UdpFromSenderReports { host },
                }
            }
            Negotiated::Multicast {
                destination,
                port,
                source,
                ..
            } => Route::Multicast {
                group: SocketAddr::new(*destination, port.1),
                server: sender_host(source.as_deref(), peer),
            },
            _ => return None,
        })
    }
}

/// The host the stream comes from: the transport's `source=` when it is
/// an address, else the host the RTSP connection goes to.
fn sender_host(source: Option<&str>, peer: SocketAddr) -> IpAddr {
    source
        .and_then(|s| s.parse::<IpAddr>().ok())
        .unwrap_or(peer.ip())
}

/// An RTSP session's RTCP: what came from the server goes in, reports
/// and the BYE go out on the session's [`Route`]. Driven by the session
/// thread, which owns the connection and the RTCP socket.
#[derive(Debug)]
pub(crate) struct SessionRtcp {
    reporter: Reporter,
    route: Route,
    /// Over UDP: where reports go (None until known).
    to: Option<SocketAddr>,
    shared: Arc<CameraShared>,
    /// The stream's sender said BYE.
    sender_left: bool,
}

impl SessionRtcp {
    pub(crate) fn new(route: Route, shared: Arc<CameraShared>, now: Instant) -> Self {
        let to = match route {
            Route::Udp { server } => Some(server),
            Route::Multicast { group, .. } => Some(group),
            _ => None,
        };
        SessionRtcp {
            reporter: Reporter::new(now),
            route,
            to,
            shared,
            sender_left: false,
        }
    }

    /// When [`SessionRtcp::send_due`] has a report to send next (`None`
    /// while there is nowhere to send it).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let routed = self.to.is_some() || matches!(self.route, Route::Interleaved(_));
        routed.then(|| self.reporter.poll_timeout())
    }

    /// Whether the stream's sender said BYE: the session is over from
    /// its side, whatever the RTSP connection still says.
    pub(crate) fn sender_left(&self) -> bool {
        self.sender_left
    }

    /// An interleaved RTCP packet from the connection.
    pub(crate) fn on_interleaved(&mut self, now: Instant, data: &[u8]) {
        let received = self.reporter.on_rtcp(now, data, &self.shared);
        self.sender_left |= received == Received::StreamBye;
    }

    /// Read the RTCP datagrams waiting on `socket` (non-blocking), at
    /// most [`MAX_RTCP_READS_PER_CALL`].
    pub(crate) fn read_udp(&mut self, socket: &UdpSocket) {
        let host = match self.route {
            Route::Udp { server } => server.ip(),
            Route::UdpFromSenderReports { host } => host,
            Route::Multicast { server, .. } => server,
            Route::Interleaved(_) => return,
        };
        let mut buf = [0u8; MAX_RTCP];
        for _ in 0..MAX_RTCP_READS_PER_CALL {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let now = Instant::now();
            if from.ip().to_canonical() != host.to_canonical() {
                self.reporter.on_foreign(&buf[..n], &self.shared);
                continue;
            }
            let received = self.reporter.on_rtcp(now, &buf[..n], &self.shared);
            self.sender_left |= received == Received::StreamBye;
            if received == Received::StreamSenderReport
                && !matches!(self.route, Route::Multicast { .. })
            {
                // Where the server really sends from (NAT, a server that
                // named another port) is where the answer goes.
                self.to = Some(from);
            }
        }
    }

    /// Send the receiver report due at `now`, if one is: interleaved on
    /// `stream`, or from `socket` over UDP.
    pub(crate) fn send_due(
        &mut self,
        now: Instant,
        stream: &mut impl Write,
        socket: Option<&UdpSocket>,
    ) -> io::Result<()> {
        if self.to.is_none() && !matches!(self.route, Route::Interleaved(_)) {
            return Ok(());
        }
        match self.reporter.poll_report(now, &self.shared) {
            Some(report) => self.send(&report, stream, socket),
            None => Ok(()),
        }
    }

    /// Say BYE (before TEARDOWN): the camera may stop sending at once.
    pub(crate) fn send_bye(&mut self, stream: &mut impl Write, socket: Option<&UdpSocket>) {
        let bye = self.reporter.bye();
        let _ = self.send(&bye, stream, socket);
    }

    fn send(
        &self,
        packet: &[u8],
        stream: &mut impl Write,
        socket: Option<&UdpSocket>,
    ) -> io::Result<()> {
        match (self.route, self.to, socket) {
            (Route::Interleaved(channel), ..) => match interleaved(channel, packet) {
                Ok(frame) => stream.write_all(&frame),
                Err(e) => {
                    self.shared
                        .rtcp
                        .interleaved_too_long
                        .fetch_add(1, Ordering::Relaxed);
                    log::warn!("camera {:?}: RTCP not sent: {e}", self.shared.id);
                    Ok(())
                }
            },
            // Best effort: UDP has no connection to lose.
            (_, Some(to), Some(socket)) => {
                let _ = socket.send_to(packet, to);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The RTCP socket of a plain-UDP camera with `rtcp` on: the port
/// above its RTP socket's (bound at `rtp`), or, when the system chose
/// the RTP port, a fresh even/odd pair.
pub(crate) fn bind_plain(
    config: &CameraConfig,
) -> Result<(crate::socket::BoundSocket, UdpSocket), Error> {
    if config.bind.port() == 0 {
        let pair = crate::socket::bind_pair(config)?;
        return Ok((pair.rtp, pair.rtcp));
    }
    let rtp = crate::socket::bind_camera(config)?;
    let addr = SocketAddr::new(
        rtp.local_addr.ip(),
        rtp.local_addr.port().checked_add(1).unwrap_or(0),
    );
    match addr.port() {
        0 => Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no port above 65535",
        )),
        _ => UdpSocket::bind(addr),
    }
    .map(|rtcp| (rtp, rtcp))
    .map_err(|source| Error::Bind {
        camera: config.id.clone(),
        addr,
        source,
    })
}

/// A plain-UDP camera's RTCP (`CameraConfig::rtcp`): read sender reports
/// on `socket` (the port above RTP), accepting only `sender` when given;
/// answer with receiver reports to where the stream's sender reports
/// come from; BYE there once `stop` is set.
pub(crate) fn run_plain(
    socket: UdpSocket,
    sender: Option<IpAddr>,
    shared: Arc<CameraShared>,
    stop: Arc<AtomicBool>,
) {
    if let Err(e) = socket.set_read_timeout(Some(PLAIN_POLL)) {
        log::warn!("camera {:?}: RTCP socket unusable: {e}", shared.id);
        return;
    }
    let mut reporter = Reporter::new(Instant::now());
    let mut to: Option<SocketAddr> = None;
    let mut buf = vec![0u8; MAX_RTCP];
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let now = Instant::now();
            if sender.is_some_and(|s| s.to_canonical() != from.ip().to_canonical()) {
                reporter.on_foreign(&buf[..n], &shared);
            } else if reporter.on_rtcp(now, &buf[..n], &shared) == Received::StreamSenderReport {
                to = Some(from);
            }
        }
        // Nowhere to report to before the sender said where it is.
        if let Some(to) = to {
            if let Some(report) = reporter.poll_report(Instant::now(), &shared) {
                let _ = socket.send_to(&report, to);
            }
        }
    }
    if let Some(to) = to {
        let _ = socket.send_to(&reporter.bye(), to);
    }
}

#[cfg(test)]
mod tests {
    use mjpeg_rtp_core::{Config, Depacketizer, Packetizer, PacketizerConfig};
    use mjpeg_rtp_rtsp::rtcp::{PT_RR, RTP_CLOCK_HZ};
    // Core types only: the testkit's runtime is another build of this crate.
    use mjpeg_rtp_testkit::rtp::timed_packets;

    use super::*;
    use std::time::SystemTime;

    const SSRC: u32 = 0x1122_3344;
    /// 2024-ish NTP seconds.
    const NTP_BASE: u64 = (2_208_988_800 + 1_700_000_000) << 32;

    /// Datagrams of `frames` frames at 30 fps from sequence `first`.
    fn datagrams(frames: u32, first: u16) -> Vec<(u32, Vec<u8>)> {
        let jpeg = crate::decode::tests::sample_jpeg(64, 48);
        let mut packetizer = Packetizer::new(PacketizerConfig {
            ssrc: SSRC,
            max_packet: 200,
            initial_sequence: first,
            ..PacketizerConfig::default()
        });
        timed_packets(&mut packetizer, &jpeg, (0..frames).map(|f| f * 3000))
    }

    /// The counters after pushing `packets` (all but the indices in
    /// `drop`), each arriving at its timestamp's time plus `wobble(i)` us.
    fn receive(
        rx: &mut Depacketizer<Vec<u8>, 4>,
        packets: &[(u32, Vec<u8>)],
        drop: &[usize],
        wobble: impl Fn(usize) -> u64,
    ) -> StreamStats {
        for (i, (ts, p)) in packets.iter().enumerate() {
            if !drop.contains(&i) {
                let at = u64::from(*ts) * 1_000_000 / RTP_CLOCK_HZ + wobble(i);
                let _ = rx.push(mjpeg_rtp_core::Instant::from_micros(1_000 + at), p);
                while rx.next_frame().is_some() {}
            }
        }
        rx.stats()
    }

    fn depacketizer() -> Depacketizer<Vec<u8>, 4> {
        Depacketizer::new(Config::default(), std::array::from_fn(|_| vec![0; 1 << 16]))
    }

    #[test]
    fn report_block_counts_loss_across_the_wrap_and_since_the_last_report() {
        let packets = datagrams(20, 65_530);
        let n = packets.len();
        assert!(n > 40, "{n} packets");
        let mut rx = depacketizer();
        let now = Instant::now();
        // First report: 3 of the first half lost (never the highest).
        let half = n / 2;
        let stats = receive(&mut rx, &packets[..half], &[3, 7, 8], |_| 0);
        let block = report_block(&stats, None, None, now).unwrap();
        assert_eq!(block.ssrc, SSRC);
        assert_eq!(block.cumulative_lost, 3);
        // Sequences 65530.. wrap: the highest is in cycle 1.
        let highest = (65_530 + half as u32 - 1) % 65_536;
        assert_eq!(block.extended_highest_sequence, 0x1_0000 | highest);
        assert_eq!(
            block.fraction_lost,
            (3 * 256 / half) as u8,
            "3 of {half} since the start"
        );
        assert_eq!((block.lsr, block.dlsr), (0, 0), "no SR yet");
        // Steady arrival: no jitter.
        assert_eq!(block.jitter, 0);
        let prior = Prior {
            ssrc: SSRC,
            expected: stats.packets_expected(),
            received: stats.packets_received,
        };
        // Second report: 2 more lost out of the rest, and arrival wobbling
        // by 2 ms (180 ticks) every other packet.
        let rest = &packets[half..];
        let stats = receive(&mut rx, rest, &[1, 5], |i| (i as u64 % 2) * 2_000);
        let block = report_block(&stats, Some(prior), None, now).unwrap();
        assert_eq!(block.cumulative_lost, 5);
        assert_eq!(block.fraction_lost, (2 * 256 / rest.len()) as u8);
        assert_eq!(block.jitter, stats.jitter());
        assert!((40..=180).contains(&block.jitter), "{}", block.jitter);
        // A prior of another stream (the SSRC changed) counts from zero.
        let other = Prior { ssrc: 7, ..prior };
        let block = report_block(&stats, Some(other), None, now).unwrap();
        assert_eq!(block.fraction_lost, (5 * 256 / n) as u8);
        // LSR/DLSR only from the stream's own SR.
        let sr = LastSr {
            ssrc: SSRC,
            lsr: 0xabcd_1234,
            at: now,
        };
        let later = now + Duration::from_millis(500);
        let block = report_block(&stats, None, Some(sr), later).unwrap();
        assert_eq!((block.lsr, block.dlsr), (0xabcd_1234, 32_768));
        let block = report_block(&stats, None, Some(LastSr { ssrc: 9, ..sr }), later).unwrap();
        assert_eq!((block.lsr, block.dlsr), (0, 0));
        // Nothing received yet: no block.
        assert_eq!(report_block(&StreamStats::default(), None, None, now), None);
    }

    fn shared() -> Arc<CameraShared> {
        let config = CameraConfig::new("cam", "127.0.0.1:0".parse().unwrap());
        CameraShared::new(0, &config, config.bind, 0)
    }

    #[test]
    fn reports_follow_the_rfc3550_schedule() {
        let shared = shared();
        let start = Instant::now();
        let mut r = Reporter::new(start);
        // RFC 3550 6.3: the first after half the 5 s minimum, randomised to
        // [0.5, 1.5) and divided by e - 3/2.
        let e = std::f64::consts::E - 1.5;
        let first = r.poll_timeout() - start;
        assert!(
            first.as_secs_f64() >= 1.25 / e - 1e-3 && first.as_secs_f64() < 3.75 / e,
            "{first:?}"
        );
        assert_eq!(
            r.poll_report(r.poll_timeout() - Duration::from_millis(1), &shared),
            None
        );
        let mut at = r.poll_timeout();
        let mut gaps = Vec::new();
        for _ in 0..20 {
            let rr = r.poll_report(at, &shared).expect("due");
            // No stream yet: an RR without a block, then SDES.
            assert_eq!(&rr[..2], [0x80, PT_RR]);
            assert_eq!(r.poll_report(at, &shared), None, "once per interval");
            gaps.push((r.poll_timeout() - at).as_secs_f64());
            at = r.poll_timeout();
        }
        // Later ones: the 5 s minimum, randomised the same way (tiny
        // bandwidth, two members).
        for g in &gaps {
            assert!(*g >= 2.5 / e - 1e-3 && *g < 7.5 / e, "{g}");
        }
        // Randomised: not all the same.
        assert!(gaps.iter().any(|g| (g - gaps[0]).abs() > 1e-3));
        assert_eq!(shared.rtcp.snapshot().receiver_reports, 20);
        // A BYE: RR, SDES, BYE naming our SSRC.
        let bye = r.bye();
        assert_eq!(&bye[bye.len() - 4..], r.ssrc().to_be_bytes());
    }

    fn sr(ssrc: u32, secs: u64, rtp: u32) -> Vec<u8> {
        let ntp = NTP_BASE + (secs << 32);
        let mut b = vec![0x80, 200, 0, 6];
        for w in [ssrc, (ntp >> 32) as u32, ntp as u32, rtp, 1, 1] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b
    }

    #[test]
    fn sender_reports_of_the_stream_set_the_capture_clock_others_are_ignored() {
        let shared = shared();
        let now = Instant::now();
        let mut r = Reporter::new(now);
        // Before the stream's first packet its SSRC is unknown: ignored.
        assert_eq!(r.on_rtcp(now, &sr(SSRC, 0, 0), &shared), Received::Other);
        shared.ingest.lock().unwrap().current = {
            let mut rx = depacketizer();
            receive(&mut rx, &datagrams(1, 0), &[], |_| 0)
        };
        let rtcp = &shared.rtcp;
        assert_eq!(
            r.on_rtcp(now, &sr(SSRC, 0, 90_000), &shared),
            Received::StreamSenderReport
        );
        assert_eq!(rtcp.capture_time(SSRC, 90_000), None, "one SR is no proof");
        // Another SSRC's reports in between do not disturb the mapping.
        r.on_rtcp(now, &sr(0xdead, 1, 5), &shared);
        r.on_rtcp(now, &sr(SSRC, 5, 90_000 + 5 * 90_000), &shared);
        let at = |s: u64, ms: u64| {
            SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_700_000_000 + s)
                + Duration::from_millis(ms)
        };
        assert_eq!(rtcp.capture_time(SSRC, 90_000 + 9_000), Some(at(0, 100)));
        assert_eq!(rtcp.capture_time(0xdead, 90_000), None, "another stream");
        // Malformed: counted.
        assert_eq!(r.on_rtcp(now, &[0x80, 200, 0, 9], &shared), Received::Other);
        let stats = rtcp.snapshot();
        assert_eq!(
            (
                stats.packets,
                stats.invalid,
                stats.sender_reports,
                stats.sender_reports_ignored
            ),
            (5, 1, 2, 2)
        );
        assert!(stats.clock_trusted);
        // The camera's clock jumps: no capture time until two agree again.
        r.on_rtcp(now, &sr(SSRC, 3_600, 90_000 + 10 * 90_000), &shared);
        assert_eq!(rtcp.capture_time(SSRC, 90_000), None);
        assert!(!rtcp.snapshot().clock_trusted);
        // The next report carries LSR of the stream's last SR.
        let mut at_report = r.poll_timeout();
        let rr = loop {
            if let Some(rr) = r.poll_report(at_report, &shared) {
                break rr;
            }
            at_report += Duration::from_millis(100);
        };
        let lsr = ((NTP_BASE + (3_600 << 32)) >> 16) as u32;
        assert_eq!(&rr[4 + 4 + 16..4 + 4 + 20], lsr.to_be_bytes());
    }

    /// A flood on the RTCP port is read a bounded number of datagrams at
    /// a time: the rest waits for the next call.
    #[test]
    fn one_read_takes_a_bounded_number_of_datagrams() {
        // Two calls' worth and one more.
        const SENT: usize = 2 * MAX_RTCP_READS_PER_CALL + 1;
        let shared = shared();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = flood.local_addr().unwrap();
        let mut rtcp = SessionRtcp::new(Route::Udp { server }, shared.clone(), Instant::now());
        for _ in 0..SENT {
            flood
                .send_to(&[0x80, 201, 0, 1, 0, 0, 0, 1], socket.local_addr().unwrap())
                .unwrap();
        }
        let packets = || shared.rtcp.snapshot().packets;
        let mut reads = Vec::new();
        while packets() < SENT as u64 {
            rtcp.read_udp(&socket);
            reads.push(packets());
            assert!(reads.len() <= SENT, "datagrams lost: {reads:?}");
        }
        let bound = MAX_RTCP_READS_PER_CALL as u64;
        assert_eq!(reads, [bound, 2 * bound, 2 * bound + 1]);
    }
}
