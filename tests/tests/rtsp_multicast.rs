//! RTSP over UDP multicast against a real server: gst-rtsp-server
//! offering only multicast, to a group its address pool picks, in a
//! network namespace of its own; two receivers in another namespace
//! (the two joined by a veth pair, `testkit::netns`: on one host a
//! receiver could not share the group's port with the sender), each
//! asking for `RTP/AVP;multicast`, joining the group the SETUP answer
//! names on the interface that reaches the server (the client
//! namespace's multicast route points at a decoy link), sharing its port
//! (`SO_REUSEADDR`), every frame pixel-exact against the JPEG served,
//! the group left after TEARDOWN.
#![cfg(target_os = "linux")]

use std::net::Ipv4Addr;

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
            for client in [&a, &b] {
                let stats = &client.stats()[0];
                for stream in &stats.streams {
                    // Joining after PLAY may catch the tail of a frame.
                    assert!(stream.frames_dropped_total() <= 1, "{stream:?}");
                }
                // The server's sender reports reach the group's RTCP port.
                assert!(stats.rtcp.sender_reports >= 1, "{:?}", stats.rtcp);
            }
            let torn_down = server.count("TEARDOWN");
            drop((a, b));
            server.wait_for("TEARDOWN", torn_down + 2);
            (joined, joined_groups())
        })
        .join()
    });
    let (joined, after) = client_side.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
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
