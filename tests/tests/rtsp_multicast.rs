//! RTSP over UDP multicast against a real server: gst-rtsp-server
//! offering only multicast, to a group its address pool picks, in a
//! network namespace of its own; two receivers in another namespace
//! (the two joined by a veth pair, `testkit::netns`: on one host a
//! receiver could not share the group's port with the sender), each
//! asking for `RTP/AVP;multicast`, joining the group the SETUP answer
//! names on the interface that reaches the server (the client
//! namespace's multicast route points at a decoy link), sharing its port
//! (`SO_REUSEADDR`), every frame pixel-exact against the JPEG served,
//! the group joined before PLAY and named in the stats, left after
//! TEARDOWN; the receivers' RTCP (receiver reports
//! and BYE) reaching the group on the server's link.
//!
//! Against testkit's scripted server in the same namespaces (it can send
//! the first frame the moment it answers PLAY, and name a new `source=`
//! when set up again): the first frame is received, so the group was
//! joined before PLAY; a reconnect whose answer names a new source moves
//! the receive path's sender filter to it, and the old source's packets,
//! still sent to the group, are refused and counted as foreign.
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mjpeg_rtp::{
    CameraConfig, CameraStats, Client, ClientOptions, Frame, InvalidReason, RtspTransport,
};
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use mjpeg_rtp_testkit::netns::NetnsPair;
use mjpeg_rtp_testkit::peer_missing;
use mjpeg_rtp_testkit::quirky_rtsp::{
    stream_ssrc, Multicast, Quirks, QuirkyServer, TIMESTAMP_BASE, TIMESTAMP_STEP,
};
use mjpeg_rtp_testkit::rtp::frame_packets;
use mjpeg_rtp_testkit::rtsp_server::{skip_if_missing, Server};
use mjpeg_rtp_tests::{assert_same_pixels_every_decoder, receive_served_pictures};

const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(224, 3, 0, 1), Ipv4Addr::new(224, 3, 0, 10));
/// The scripted server's group and ports.
const GROUP: Ipv4Addr = Ipv4Addr::new(224, 3, 0, 20);
const GROUP_PORTS: (u16, u16) = (5200, 5201);
/// Two more hosts on the server's link, the sources its SETUP answers
/// name (neither is the address the RTSP connection reaches).
const SOURCE_A: Ipv4Addr = Ipv4Addr::new(10, 213, 1, 1);
const SOURCE_B: Ipv4Addr = Ipv4Addr::new(10, 213, 1, 2);

/// The namespaces (`tag` tells apart those of tests running at the same
/// time), or `None` (after saying so) when they cannot be made (not root,
/// no iproute2) and the run does not require peers.
fn namespaces_or_skip(test: &str, tag: &str) -> Option<NetnsPair> {
    NetnsPair::create(tag)
        .map_err(|e| {
            peer_missing(
                &format!("network namespaces for {test}: {e}"),
                &format!("{test} SKIPPED (needs root and iproute2)"),
            )
        })
        .ok()
}

/// The IPv4 groups joined in the calling thread's network namespace, by
/// device (`/proc/thread-self/net/igmp`: the thread's namespace, not the
/// process's).
fn joined_groups() -> Vec<(String, Ipv4Addr)> {
    let table = std::fs::read_to_string("/proc/thread-self/net/igmp").unwrap();
    let mut device = String::new();
    let mut groups = Vec::new();
    for line in table.lines().skip(1) {
        if line.starts_with('\t') {
            let hex = line.split_whitespace().next().unwrap();
            // The group as the kernel holds it (network order), printed
            // as a native integer.
            let raw = u32::from_str_radix(hex, 16).unwrap();
            groups.push((device.clone(), Ipv4Addr::from(raw.to_ne_bytes())));
        } else {
            let name = line.split_whitespace().nth(1).unwrap_or("");
            device = name.trim_end_matches(':').to_owned();
        }
    }
    groups
}

/// In the server's namespace, what reaches its link: the packet types of
/// each compound RTCP packet from the client's address to the group's
/// RTCP port (the one above `rtp`), until two carried a BYE or 5 s
/// passed. A packet socket sees them whatever the server's own RTCP
/// socket does (it holds the port without sharing it).
fn rtcp_reaching_the_server(
    net: &NetnsPair,
    rtp: SocketAddrV4,
    ready: mpsc::Sender<()>,
) -> Vec<Vec<u8>> {
    use socket2::{Domain, Protocol, Socket, Type};
    net.enter_server().expect("enter the server namespace");
    const ETH_P_IP: u16 = 0x0800;
    let protocol = Protocol::from(i32::from(ETH_P_IP.to_be()));
    let socket =
        Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol)).expect("a packet socket (root)");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    ready.send(()).unwrap();
    let mut heard = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    while Instant::now() < deadline
        && heard.iter().filter(|t: &&Vec<u8>| t.contains(&203)).count() < 2
    {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        // SAFETY: recv initialised the first `n` bytes.
        let ip: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
        if let Some(rtcp) = udp_payload(ip, net.client_addr, rtp.port() + 1) {
            heard.push(packet_types(rtcp));
        }
    }
    heard
}

/// The payload of an IPv4 UDP datagram (`ip`, from its IP header on)
/// from `source` to port `port`.
fn udp_payload(ip: &[u8], source: Ipv4Addr, port: u16) -> Option<&[u8]> {
    let header = usize::from(ip.first()? & 0x0f) * 4;
    let from = Ipv4Addr::new(*ip.get(12)?, *ip.get(13)?, *ip.get(14)?, *ip.get(15)?);
    let udp = ip.get(header..)?;
    let to_port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    (ip.get(9) == Some(&17) && from == source && to_port == port).then(|| udp.get(8..))?
}

/// The RTP port the receivers in the calling thread's namespace bound
/// for the pool group `group` (they bind the wildcard address, so the
/// port is the lowest even one of the server's pool range 5000-5099 in
/// `/proc/thread-self/net/udp`; the client's stats know no port for a
/// multicast camera, whose sockets are bound once its session is set up).
fn group_rtp_port(group: Ipv4Addr) -> SocketAddrV4 {
    let table = std::fs::read_to_string("/proc/thread-self/net/udp").unwrap();
    let port = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let local = line.split_whitespace().nth(1)?;
            u16::from_str_radix(local.split_once(':')?.1, 16).ok()
        })
        .filter(|port| (5000..=5099).contains(port) && port % 2 == 0)
        .min()
        .unwrap_or_else(|| panic!("no socket bound in the pool's ports:\n{table}"));
    SocketAddrV4::new(group, port)
}

/// The packet types of a compound RTCP packet, walking its length fields.
fn packet_types(mut compound: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while compound.len() >= 4 {
        types.push(compound[1]);
        let words = usize::from(u16::from_be_bytes([compound[2], compound[3]]));
        compound = compound.get(4 * (words + 1)..).unwrap_or_default();
    }
    types
}

fn in_pool(group: Ipv4Addr) -> bool {
    (POOL.0..=POOL.1).contains(&group)
}

#[test]
fn multicast_between_namespaces_two_receivers_pixel_exact_and_group_left() {
    let test = "multicast_between_namespaces_two_receivers_pixel_exact_and_group_left";
    if skip_if_missing(test) {
        return;
    }
    let Some(net) = namespaces_or_skip(test, "m") else {
        return;
    };
    let server = Server::start_multicast(&net.server, net.server_addr, POOL);
    let url = server.url("");
    let originals = server.originals.clone();
    let veth = net.client.clone();
    let client_side = std::thread::scope(|s| {
        s.spawn(|| {
            net.enter_client().expect("enter the client namespace");
            let start = |name: &str| {
                let mut client = Client::new(ClientOptions {
                    decode_threads: 1,
                    ..ClientOptions::default()
                });
                client
                    .add_camera(
                        CameraConfig::rtsp(name, url.clone())
                            .with_rtsp_transport(RtspTransport::Multicast),
                    )
                    .unwrap();
                client.start().expect("multicast RTSP session set up");
                client
            };
            let (a, b) = (start("door"), start("door-again"));
            let joined = joined_groups();
            receive_served_pictures(&a, &originals, 6, "first receiver");
            receive_served_pictures(&b, &originals, 6, "second receiver");
            for (client, late) in [(&a, 0), (&b, 1)] {
                let stats = &client.stats()[0];
                for stream in &stats.streams {
                    // The first receiver's PLAY starts the stream: no frame
                    // of it is cut. The second joins a stream already
                    // flowing and may catch the tail of a frame. (That
                    // the group is joined before PLAY is proven against
                    // the scripted server, which sends the first frame
                    // with its PLAY answer.)
                    assert!(stream.frames_dropped_total() <= late, "{stream:?}");
                }
                // The stats name the group's port the socket is bound to.
                let group_port = joined_groups()
                    .iter()
                    .find(|(_, g)| in_pool(*g))
                    .map(|(_, g)| group_rtp_port(*g).port());
                assert_eq!(Some(stats.local_addr.port()), group_port, "{stats:?}");
                // The server's sender reports reach the group's RTCP port.
                assert!(stats.rtcp.sender_reports >= 1, "{:?}", stats.rtcp);
            }
            // Listen beside the server, then stop: each receiver says BYE
            // (in a compound packet led by a receiver report) to the group.
            let group = joined
                .iter()
                .map(|(_, g)| *g)
                .find(|g| in_pool(*g))
                .expect("a pool group joined");
            let rtp = group_rtp_port(group);
            let (ready, listening) = mpsc::channel();
            let heard = s.spawn(move || rtcp_reaching_the_server(&net, rtp, ready));
            listening.recv().expect("the RTCP listener started");
            let torn_down = server.count("TEARDOWN");
            drop((a, b));
            server.wait_for("TEARDOWN", torn_down + 2);
            let heard = heard.join().expect("the RTCP listener");
            (joined, joined_groups(), heard)
        })
        .join()
    });
    let (joined, after, heard) =
        client_side.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    // Our RTCP left from the link to the server (the multicast route
    // points at the decoy), as RR (201) + SDES (202) + BYE (203), one
    // from each receiver.
    let byes = heard.iter().filter(|types| types.contains(&203)).count();
    assert!(
        byes >= 2,
        "RTCP from the receivers at the server: {heard:?}"
    );
    assert!(
        heard.iter().all(|types| types.first() == Some(&201)),
        "{heard:?}"
    );
    // Both receivers' sockets (RTP and RTCP each) on the link to the
    // server, none on the decoy the multicast route points at.
    let on_veth: Vec<_> = joined
        .iter()
        .filter(|(d, g)| *d == veth && in_pool(*g))
        .collect();
    assert!(!on_veth.is_empty(), "no pool group on {veth}: {joined:?}");
    assert!(
        !joined.iter().any(|(d, g)| d == "decoy0" && in_pool(*g)),
        "joined on the decoy: {joined:?}"
    );
    assert!(
        !after.iter().any(|(_, g)| in_pool(*g)),
        "group still joined after stop: {after:?}"
    );
}

/// The scripted server `quirks` describe, in the server namespace at the
/// server's address (started from a thread there: its own threads stay
/// there).
fn scripted_server(net: &NetnsPair, quirks: Quirks) -> QuirkyServer {
    std::thread::scope(|s| {
        s.spawn(|| {
            net.enter_server().expect("enter the server namespace");
            QuirkyServer::start_at(quirks, net.server_addr)
        })
        .join()
        .expect("start the scripted server")
    })
}

/// Multicast only, to [`GROUP`], connection `n` sending from
/// `sources[n]`.
fn multicast_quirks(sources: Vec<Ipv4Addr>) -> Quirks {
    Quirks {
        multicast: Some(Multicast {
            group: GROUP,
            ports: GROUP_PORTS,
            sources,
        }),
        ..Quirks::default()
    }
}

/// Run `f` on a thread in the client namespace (the client's threads
/// live there too); its panic is the test's.
fn in_client<T: Send>(net: &NetnsPair, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            net.enter_client().expect("enter the client namespace");
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn multicast_client(url: String) -> Client {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    // Room for every frame while the test compares pixels (with every
    // decoder, slowly in a debug build): none dropped from the queue.
    let camera = CameraConfig::rtsp("group", url)
        .with_rtsp_transport(RtspTransport::Multicast)
        .with_queue_depth(64);
    client.add_camera(camera).unwrap();
    client.start().expect("multicast RTSP session set up");
    client
}

/// The next frame, pixel-exact against the picture the server cut it
/// from.
fn next_exact(server: &QuirkyServer, client: &Client, what: &str) -> Frame {
    let frame = client
        .next_frame(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("{what}: no frame: {:?}", client.stats()));
    assert_same_pixels_every_decoder(frame.jpeg(), server.original_for(frame.timestamp), what);
    frame
}

fn stats(client: &Client) -> CameraStats {
    client.camera_stats("group").unwrap()
}

#[test]
fn multicast_first_frame_sent_with_the_play_answer_is_received() {
    let test = "multicast_first_frame_sent_with_the_play_answer_is_received";
    let Some(net) = namespaces_or_skip(test, "j") else {
        return;
    };
    let quirks = multicast_quirks(vec![net.server_addr]);
    let server = scripted_server(&net, quirks.clone());
    in_client(&net, || {
        let client = multicast_client(server.url(""));
        // The server sends frame 0 before it writes the PLAY answer: a
        // receiver that joins the group once it has read the answer
        // starts at frame 1 or later.
        let first = next_exact(&server, &client, "frame 0");
        assert_eq!(
            (first.ssrc, first.timestamp),
            (stream_ssrc(&quirks, 0), TIMESTAMP_BASE),
            "the first frame received"
        );
        for n in 1..8 {
            let frame = next_exact(&server, &client, &format!("frame {n}"));
            assert_eq!(frame.timestamp, TIMESTAMP_BASE + n * TIMESTAMP_STEP);
        }
        let stats = stats(&client);
        assert_eq!(stats.frames_dropped(), 0, "{stats:?}");
        assert_eq!(stats.packets_foreign, 0, "{stats:?}");
    });
}

/// SSRC of the frames the old source sends after the reconnect.
const STRAY_SSRC: u32 = 0x0A0A_0A0A;

/// From the server's namespace, as `source`: `frames` frames to the
/// group's RTP port, one every 40 ms, under [`STRAY_SSRC`], timed and
/// cycling `pictures` as the scripted server does. The packets sent.
fn send_from(net: &NetnsPair, source: Ipv4Addr, pictures: &[Vec<u8>], frames: usize) -> u64 {
    net.enter_server().expect("enter the server namespace");
    let socket = std::net::UdpSocket::bind((source, 0)).expect("bind the old source");
    let mut packetizer = Packetizer::new(PacketizerConfig {
        ssrc: STRAY_SSRC,
        max_packet: 1000,
        ..PacketizerConfig::default()
    });
    let mut sent = 0;
    for n in 0..frames {
        let timestamp = TIMESTAMP_BASE + (n as u32) * TIMESTAMP_STEP;
        for packet in frame_packets(&mut packetizer, &pictures[n % pictures.len()], timestamp) {
            socket
                .send_to(&packet, (GROUP, GROUP_PORTS.0))
                .expect("send to the group");
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    sent
}

#[test]
fn multicast_reconnect_naming_a_new_source_moves_the_sender_filter() {
    let test = "multicast_reconnect_naming_a_new_source_moves_the_sender_filter";
    let Some(net) = namespaces_or_skip(test, "r") else {
        return;
    };
    for source in [SOURCE_A, SOURCE_B] {
        net.add_server_address(source)
            .expect("a second host address");
    }
    // The first session's stream comes from A; the server drops that
    // connection after 10 frames, and the session set up again names B.
    let quirks = Quirks {
        close_after_frames: Some(10),
        ..multicast_quirks(vec![SOURCE_A, SOURCE_B])
    };
    let server = scripted_server(&net, quirks.clone());
    let (first, second) = (stream_ssrc(&quirks, 0), stream_ssrc(&quirks, 1));
    in_client(&net, || {
        let client = multicast_client(server.url(""));
        for n in 0..4 {
            let frame = next_exact(&server, &client, &format!("from A, frame {n}"));
            assert_eq!(frame.ssrc, first);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while stats(&client).reconnects == 0 {
            assert!(
                Instant::now() < deadline,
                "no reconnect: {:?}",
                stats(&client)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The filter moved to B when the group was joined, before PLAY,
        // so B's first packets (sent with the PLAY answer) were not
        // refused.
        assert_eq!(stats(&client).packets_foreign, 0, "{:?}", stats(&client));
        let old_source = std::thread::scope(|s| {
            let stray = s.spawn(|| send_from(&net, SOURCE_A, &server.originals, 25));
            // The rest of A's session, then only B's.
            let mut from_b = Vec::new();
            while from_b.len() < 20 {
                let frame = next_exact(&server, &client, "after the reconnect");
                assert_ne!(frame.ssrc, STRAY_SSRC, "a frame from the old source");
                if frame.ssrc == second {
                    from_b.push(frame.timestamp);
                } else {
                    assert!(from_b.is_empty(), "A's frame after B's: {:#x}", frame.ssrc);
                }
            }
            // B's first frame, even when its first packet came within the
            // old stream's last 500 ms: the depacketizer then holds it
            // until B's second packet confirms the new SSRC, and feeds it
            // to B's stream; none is refused.
            let first_b = (from_b[0] - TIMESTAMP_BASE) / TIMESTAMP_STEP;
            assert_eq!(first_b, 0, "B's frames: {from_b:?}");
            let unconfirmed = stats(&client).invalid.get(InvalidReason::SsrcUnconfirmed);
            assert_eq!(unconfirmed, 0, "{:?}", stats(&client));
            stray.join().expect("the old source")
        });
        // Every packet of the old source counted as foreign, and nothing
        // else (none of B's refused); none of it taken for a stream.
        let deadline = Instant::now() + Duration::from_secs(2);
        while stats(&client).packets_foreign < old_source && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stats = stats(&client);
        assert_eq!(stats.packets_foreign, old_source, "{stats:?}");
        assert!(
            stats.streams.iter().all(|s| s.ssrc != Some(STRAY_SSRC)),
            "{stats:?}"
        );
    });
}
