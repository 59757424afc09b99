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
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, RtspTransport};
use mjpeg_rtp_testkit::netns::NetnsPair;
use mjpeg_rtp_testkit::peer_missing;
use mjpeg_rtp_testkit::rtsp_server::{skip_if_missing, Server};
use mjpeg_rtp_tests::receive_served_pictures;

const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(224, 3, 0, 1), Ipv4Addr::new(224, 3, 0, 10));

/// The namespaces, or `None` (after saying so) when they cannot be made
/// (not root, no iproute2) and the run does not require peers.
fn namespaces_or_skip(test: &str) -> Option<NetnsPair> {
    NetnsPair::create("m")
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
    let Some(net) = namespaces_or_skip(test) else {
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
                    // The group is joined before PLAY: the first receiver's
                    // PLAY starts the stream, so its first frame is whole.
                    // The second joins a stream already flowing and may
                    // catch the tail of a frame.
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
