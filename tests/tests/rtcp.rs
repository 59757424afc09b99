//! RTCP against a scripted RTSP peer (TCP interleaved) that this test
//! fully controls: it streams frames with known gaps across the 16-bit
//! sequence wrap, sends sender reports (one for a foreign SSRC), and
//! checks what the client sends back: a well-formed receiver report about
//! the stream's SSRC with the right extended highest sequence, cumulative
//! loss and LSR, and an RTCP BYE before TEARDOWN. The frames after two
//! agreeing sender reports carry the capture time the reports imply.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, RtspTransport};
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use mjpeg_rtp_rtsp::framing::interleaved;
use mjpeg_rtp_testkit::fixtures_dir;
use mjpeg_rtp_testkit::rtp::timed_packets;

const SSRC: u32 = 0x1122_3344;
const FIRST_SEQUENCE: u16 = 65_500;
/// Packets never sent (indices into the stream, none the last of it).
const GAPS: [usize; 4] = [5, 6, 40, 71];

/// What the client sent, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Request(String),
    Rtcp(u8, Vec<u8>),
}

/// The stream: (RTP timestamp, packet) for `frames` frames at 10 fps.
fn packets(frames: u32) -> Vec<(u32, Vec<u8>)> {
    let jpeg = std::fs::read(fixtures_dir().join("gst-420/000.jpg")).unwrap();
    let mut packetizer = Packetizer::new(PacketizerConfig {
        ssrc: SSRC,
        max_packet: 400,
        initial_sequence: FIRST_SEQUENCE,
        ..PacketizerConfig::default()
    });
    timed_packets(
        &mut packetizer,
        &jpeg,
        (0..frames).map(|f| 1_000 + f * 9_000),
    )
}

/// A compound SR (no blocks) of `ssrc`.
fn sender_report(ssrc: u32, ntp: u64, rtp: u32) -> Vec<u8> {
    let mut b = vec![0x80, 200, 0, 6];
    for w in [ssrc, (ntp >> 32) as u32, ntp as u32, rtp, 1, 1] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    b
}

fn ntp_of(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap();
    ((d.as_secs() + 2_208_988_800) << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// The packet types of a compound RTCP packet, walking its lengths.
fn packet_types(mut b: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while b.len() >= 4 {
        types.push(b[1]);
        let len = (usize::from(u16::from_be_bytes([b[2], b[3]])) + 1) * 4;
        b = b.get(len..).unwrap_or(&[]);
    }
    types
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Read one request (headers only: the client sends no bodies) or one
/// interleaved frame.
fn read_item(r: &mut BufReader<TcpStream>) -> Option<Seen> {
    if r.fill_buf().ok()?.first()? == &b'$' {
        let mut head = [0u8; 4];
        r.read_exact(&mut head).ok()?;
        let mut data = vec![0u8; usize::from(u16::from_be_bytes([head[2], head[3]]))];
        r.read_exact(&mut data).ok()?;
        return Some(Seen::Rtcp(head[1], data));
    }
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(Seen::Request(text));
        }
        text.push_str(&line);
    }
}

/// Play the camera on `listener`'s first connection: answer the
/// handshake, stream `stream` (all but `GAPS`) with sender reports around
/// it, answer TEARDOWN, record everything the client sent.
/// The sender reports say RTP timestamp 1000 was captured at
/// `clock_base`.
fn camera(
    listener: TcpListener,
    stream: Vec<(u32, Vec<u8>)>,
    clock_base: SystemTime,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let (socket, _) = listener.accept().unwrap();
    let mut out = socket.try_clone().unwrap();
    let mut reader = BufReader::new(socket);
    let base = format!("rtsp://{}/cam/", out.local_addr().unwrap());
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=scripted\r\nt=0 0\r\n\
               m=video 0 RTP/AVP 26\r\na=control:track1\r\n";
    while let Some(item) = read_item(&mut reader) {
        seen.lock().unwrap().push(item.clone());
        let Seen::Request(request) = item else {
            continue;
        };
        let method = request.split(' ').next().unwrap_or("").to_owned();
        let cseq = request
            .lines()
            .find_map(|l| l.strip_prefix("CSeq:"))
            .unwrap_or("0")
            .trim()
            .to_owned();
        let (headers, body) = match method.as_str() {
            "OPTIONS" => (
                "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n".into(),
                "",
            ),
            "DESCRIBE" => (
                format!("Content-Base: {base}\r\nContent-Type: application/sdp\r\n"),
                sdp,
            ),
            "SETUP" => (
                "Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=11223344\r\n\
                 Session: 5150;timeout=60\r\n"
                    .into(),
                "",
            ),
            _ => ("Session: 5150\r\n".into(), ""),
        };
        let reply = format!(
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        out.write_all(reply.as_bytes()).unwrap();
        if method == "PLAY" {
            // Two thirds of the stream with its gaps, a foreign SSRC's
            // report, two agreeing reports of the stream's sender (the
            // second 1 s and 90 000 ticks after the first), the rest.
            let split = stream.len() * 2 / 3;
            let mut send = |i: usize| {
                if !GAPS.contains(&i) {
                    out.write_all(&interleaved(0, &stream[i].1).unwrap())
                        .unwrap();
                }
            };
            (0..split).for_each(&mut send);
            let mut reports = sender_report(0xdead_beef, ntp_of(clock_base), 7);
            reports.extend(sender_report(SSRC, ntp_of(clock_base), 1_000));
            out.write_all(&interleaved(1, &reports).unwrap()).unwrap();
            let second = sender_report(
                SSRC,
                ntp_of(clock_base + Duration::from_secs(1)),
                1_000 + 90_000,
            );
            out.write_all(&interleaved(1, &second).unwrap()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let mut send = |i: usize| {
                out.write_all(&interleaved(0, &stream[i].1).unwrap())
                    .unwrap()
            };
            (split..stream.len()).for_each(&mut send);
        }
    }
}

#[test]
fn receiver_report_and_bye_before_teardown_to_a_scripted_camera() {
    let stream = packets(12);
    assert!(
        stream.len() > 80 && usize::from(FIRST_SEQUENCE) + stream.len() > 65_536,
        "the stream wraps: {} packets",
        stream.len()
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    // The camera's clock, 30 s behind ours.
    let clock_base = SystemTime::now() - Duration::from_secs(30);
    let peer = {
        let (stream, seen) = (stream.clone(), seen.clone());
        std::thread::spawn(move || camera(listener, stream, clock_base, seen))
    };
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client
        .add_camera(
            CameraConfig::rtsp("scripted", format!("rtsp://127.0.0.1:{port}/cam"))
                .with_rtsp_transport(RtspTransport::Tcp),
        )
        .unwrap();
    client.start().expect("RTSP session set up");

    // Frames after the two reports carry the time they imply: RTP
    // timestamp ts was captured at clock_base + (ts - 1000) / 90 kHz.
    let (mut timed, mut untimed) = (0, 0);
    while let Some(frame) = client.next_frame(Duration::from_millis(1500)) {
        let Some(t) = frame.capture_time else {
            untimed += 1;
            continue;
        };
        let after = Duration::from_micros(u64::from(frame.timestamp - 1_000) * 1_000_000 / 90_000);
        let off = t
            .duration_since(clock_base + after)
            .unwrap_or_else(|e| e.duration());
        assert!(
            off < Duration::from_millis(1),
            "frame {}: {off:?} off",
            frame.timestamp
        );
        timed += 1;
    }
    // Frames are dropped where the gaps are. The time is looked up when
    // a frame is decoded, so frames that completed just before the
    // reports may have it too; those after them all do.
    assert!(timed >= 3, "{timed} timed, {untimed} not");

    // The first receiver report comes 1-3 s after PLAY (RFC 3550's
    // initial interval, randomised).
    let deadline = Instant::now() + Duration::from_secs(6);
    let report = loop {
        let found = seen.lock().unwrap().iter().find_map(|s| match s {
            Seen::Rtcp(ch, data) if packet_types(data) == [201, 202] && data[0] & 0x1f == 1 => {
                Some((*ch, data.clone()))
            }
            _ => None,
        });
        if let Some(r) = found {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no receiver report: {:?}",
            client.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (channel, rr) = report;
    assert_eq!(channel, 1, "the RTCP channel SETUP gave");
    // RR: V=2, RC=1, PT=201, length 7 (words after the first), then SDES.
    assert_eq!(&rr[..4], [0x81, 201, 0, 7]);
    assert_eq!(rr.len() % 4, 0);
    assert_eq!(rr[32 + 1], 202, "SDES CNAME follows in the compound packet");
    let our_ssrc = word(&rr, 4);
    assert_eq!(word(&rr, 8), SSRC, "the block is about the stream");
    let cumulative = word(&rr, 12) & 0x00ff_ffff;
    assert_eq!(cumulative, GAPS.len() as u32);
    let highest = (u32::from(FIRST_SEQUENCE) + stream.len() as u32 - 1) % 65_536;
    assert_eq!(
        word(&rr, 16),
        0x1_0000 | highest,
        "one wrap, then {highest}"
    );
    // Jitter: arrival over loopback TCP, tiny but computed.
    assert!(word(&rr, 20) < 90_000, "jitter {}", word(&rr, 20));
    // LSR: the middle 32 bits of the stream's last SR (not the foreign
    // one); DLSR: the time since it came, in 1/65536 s.
    let last_sr = ntp_of(clock_base + Duration::from_secs(1));
    assert_eq!(word(&rr, 24), (last_sr >> 16) as u32);
    let dlsr = f64::from(word(&rr, 28)) / 65_536.0;
    assert!((0.5..4.0).contains(&dlsr), "DLSR {dlsr} s");

    // Stop: BYE from our SSRC on the RTCP channel, then TEARDOWN.
    client.stop();
    peer.join().unwrap();
    let seen = seen.lock().unwrap();
    let bye = seen
        .iter()
        .position(|s| matches!(s, Seen::Rtcp(1, d) if packet_types(d) == [201, 202, 203]))
        .expect("an RTCP BYE (RR, SDES, BYE)");
    let teardown = seen
        .iter()
        .position(|s| matches!(s, Seen::Request(r) if r.starts_with("TEARDOWN ")))
        .expect("a TEARDOWN");
    assert!(bye < teardown, "BYE before TEARDOWN: {seen:?}");
    let Seen::Rtcp(_, bye) = &seen[bye] else {
        unreachable!()
    };
    assert_eq!(&bye[bye.len() - 8..bye.len() - 4], [0x81, 203, 0, 1]);
    assert_eq!(word(bye, bye.len() - 4), our_ssrc);
    let stats = client.stats();
    assert_eq!(stats[0].rtcp.sender_reports, 2, "{:?}", stats[0].rtcp);
    assert_eq!(
        stats[0].rtcp.sender_reports_ignored, 1,
        "{:?}",
        stats[0].rtcp
    );
    assert!(stats[0].rtcp.clock_trusted);
}

/// A plain-UDP camera with `rtcp` on (CameraConfig::rtcp, `recv --rtcp`):
/// the port above RTP takes its sender reports, frames get their capture
/// time, and receiver reports and the BYE go back to where the reports
/// came from.
#[test]
fn plain_udp_camera_with_rtcp_on_the_port_above() {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client
        .add_camera(CameraConfig::new("plain", "127.0.0.1:0".parse().unwrap()).with_rtcp())
        .unwrap();
    let to = client.local_addr("plain").unwrap();
    let to_rtcp = std::net::SocketAddr::new(to.ip(), to.port() + 1);
    client.start().unwrap();
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtcp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rtcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let stream = packets(6);
    let clock_base = SystemTime::now() - Duration::from_secs(30);
    let send = |range: std::ops::Range<usize>| {
        for (_, p) in &stream[range] {
            rtp.send_to(p, to).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        // Published to the RTCP side within 20 ms.
        std::thread::sleep(Duration::from_millis(100));
    };
    let half = stream.len() / 2;
    send(0..half);
    for (secs, ticks) in [(0, 0), (1, 90_000)] {
        let sr = sender_report(
            SSRC,
            ntp_of(clock_base + Duration::from_secs(secs)),
            1_000 + ticks,
        );
        rtcp.send_to(&sr, to_rtcp).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    send(half..stream.len());
    let mut timed = 0;
    while let Some(frame) = client.next_frame(Duration::from_millis(500)) {
        if let Some(t) = frame.capture_time {
            let after =
                Duration::from_micros(u64::from(frame.timestamp - 1_000) * 1_000_000 / 90_000);
            let off = t
                .duration_since(clock_base + after)
                .unwrap_or_else(|e| e.duration());
            assert!(off < Duration::from_millis(1), "{off:?}");
            timed += 1;
        }
    }
    assert!(timed >= 2, "{timed} frames timed: {:?}", client.stats());
    // The receiver report comes back to the reports' source.
    let mut buf = [0u8; 1500];
    let (n, from) = rtcp.recv_from(&mut buf).expect("a receiver report");
    assert_eq!(from, to_rtcp);
    let rr = buf[..n].to_vec();
    assert_eq!(packet_types(&rr), [201, 202]);
    assert_eq!(word(&rr, 8), SSRC);
    assert_eq!(word(&rr, 12) & 0x00ff_ffff, 0, "nothing lost");
    let highest = (u32::from(FIRST_SEQUENCE) + stream.len() as u32 - 1) % 65_536;
    let cycles = u32::from(usize::from(FIRST_SEQUENCE) + stream.len() > 65_536);
    assert_eq!(word(&rr, 16), (cycles << 16) | highest);
    client.stop();
    // Then the BYE (a report may come before it).
    let bye = loop {
        let (n, _) = rtcp.recv_from(&mut buf).expect("a BYE");
        if packet_types(&buf[..n]).contains(&203) {
            break buf[..n].to_vec();
        }
    };
    assert_eq!(word(&bye, bye.len() - 4), word(&rr, 4), "from our SSRC");
    assert_eq!(client.stats()[0].rtcp.sender_reports, 2);
}
