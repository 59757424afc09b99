//! RTP interleaved in RTSP over TCP, read out of a capture: tcpdump's
//! recording of ffmpeg reading gst-rtsp-server over TCP
//! (`tests/fixtures/rtsp-tcp/`, gst-420's four originals), as recorded,
//! with its segments split, reordered and sent twice, cut to start
//! mid-connection, and beside a second connection to the same server
//! port. Every frame handed out decodes to its original's
//! pixels under every decoder in the build.

use std::path::{Path, PathBuf};
use std::time::Duration;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use mjpeg_rtp_capture::replay::Source;
use mjpeg_rtp_capture::summary::Summary;
use mjpeg_rtp_tests::{assert_same_pixels_every_decoder, replay, Replayed};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};

/// The RTSP server's port in the fixture.
const SERVER_PORT: u16 = 28754;

fn fixtures() -> PathBuf {
    mjpeg_rtp_testkit::fixtures_dir()
}

fn originals() -> Vec<Vec<u8>> {
    (0..4)
        .map(|i| std::fs::read(fixtures().join(format!("gst-420/{i:03}.jpg"))).unwrap())
        .collect()
}

/// Each frame is original `first + i`, pixel for pixel.
fn assert_frames(frames: &[Replayed], first: usize) {
    let originals = originals();
    assert_eq!(
        frames.len(),
        originals.len() - first,
        "frames: {}",
        frames.len()
    );
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.source.port(), SERVER_PORT);
        assert_same_pixels_every_decoder(&frame.jpeg, &originals[first + i], &format!("frame {i}"));
    }
}

fn rtsp_tcp(summary: &Summary) -> serde_json::Value {
    serde_json::to_value(summary).unwrap()["capture"]["rtsp_tcp"].clone()
}

/// One TCP segment of a capture, as much as rewriting it needs.
#[derive(Debug, Clone)]
struct Segment {
    time: Duration,
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
}

fn read_segments(path: &Path) -> Vec<Segment> {
    let mut reader = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        let sliced = SlicedPacket::from_ethernet(&packet.data).unwrap();
        let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp))) =
            (&sliced.net, &sliced.transport)
        else {
            panic!("not IPv4/TCP");
        };
        out.push(Segment {
            time: packet.timestamp,
            src: (ip.header().source(), tcp.source_port()),
            dst: (ip.header().destination(), tcp.destination_port()),
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            syn: tcp.syn(),
            fin: tcp.fin(),
            payload: tcp.payload().to_vec(),
        });
    }
    out
}

fn write_segments(path: &Path, segments: &[Segment]) {
    let mut writer = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for s in segments {
        let mut tcp = PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(s.src.0, s.dst.0, 64)
            .tcp(s.src.1, s.dst.1, s.seq, 65535)
            .ack(s.ack);
        if s.syn {
            tcp = tcp.syn();
        }
        if s.fin {
            tcp = tcp.fin();
        }
        let mut data = Vec::new();
        tcp.write(&mut data, &s.payload).unwrap();
        let len = data.len() as u32;
        writer
            .write_packet(&PcapPacket::new_owned(s.time, len, data))
            .unwrap();
    }
}

#[test]
fn the_recorded_connection_every_frame_exact() {
    let (frames, summary) = replay(&fixtures().join("rtsp-tcp/interleaved.pcap"));
    assert_frames(&frames, 0);
    let stream = &summary.streams[0];
    assert_eq!(summary.streams.len(), 1);
    assert_eq!(stream.counters.port, SERVER_PORT);
    assert_eq!(stream.counters.packets_lost, 0);
    let interleaved = stream.interleaved.expect("an interleaved stream");
    assert_eq!(
        (interleaved.channel, interleaved.channel_assumed),
        (0, false)
    );
    let tcp = rtsp_tcp(&summary);
    assert_eq!(tcp["setup_replies"], 1);
    assert_eq!(tcp["gaps"], 0);
}

/// The server's segments cut in pieces of 700 bytes, each pair of
/// pieces swapped, and every third piece sent again later overlapping
/// its neighbour: the same frames.
#[test]
fn split_reordered_and_retransmitted_segments() {
    let dir = tempfile::tempdir().unwrap();
    let rewritten = dir.path().join("reordered.pcap");
    let mut out = Vec::new();
    for s in read_segments(&fixtures().join("rtsp-tcp/interleaved.pcap")) {
        if s.src.1 != SERVER_PORT || s.payload.len() <= 700 {
            out.push(s);
            continue;
        }
        let pieces: Vec<Segment> = s
            .payload
            .chunks(700)
            .enumerate()
            .map(|(i, chunk)| Segment {
                seq: s.seq.wrapping_add(700 * i as u32),
                payload: chunk.to_vec(),
                ..s.clone()
            })
            .collect();
        let mut order: Vec<Segment> = Vec::new();
        for pair in pieces.chunks(2) {
            order.extend(pair.iter().rev().cloned());
        }
        for (i, piece) in pieces.iter().enumerate().step_by(3) {
            // Sent again, with the first bytes of the next piece.
            let mut again = piece.clone();
            if let Some(next) = pieces.get(i + 1) {
                again
                    .payload
                    .extend_from_slice(&next.payload[..10.min(next.payload.len())]);
            }
            order.push(again);
        }
        out.extend(order);
    }
    write_segments(&rewritten, &out);
    let (frames, summary) = replay(&rewritten);
    assert_frames(&frames, 0);
    let tcp = rtsp_tcp(&summary);
    assert!(tcp["out_of_order"].as_u64().unwrap() > 0, "{tcp}");
    assert!(tcp["retransmitted"].as_u64().unwrap() > 0, "{tcp}");
    assert_eq!(tcp["gaps"], 0, "{tcp}");
    assert_eq!(summary.streams[0].counters.packets_lost, 0);
}

/// A capture that starts in the middle of the first frame's segment,
/// after the SETUP reply: channel 0 is assumed (and said), and the three
/// frames after the cut are exact.
#[test]
fn a_capture_that_starts_mid_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    let segments = read_segments(&fixtures().join("rtsp-tcp/interleaved.pcap"));
    // The first segment of the server's that holds RTP: a large one.
    let first_rtp = segments
        .iter()
        .position(|s| s.src.1 == SERVER_PORT && s.payload.len() > 1000)
        .unwrap();
    let mut rest: Vec<Segment> = segments[first_rtp..].to_vec();
    let half = rest[0].payload.len() / 2;
    rest[0].payload.drain(..half);
    rest[0].seq = rest[0].seq.wrapping_add(half as u32);
    write_segments(&cut, &rest);
    let (frames, summary) = replay(&cut);
    assert_frames(&frames, 1);
    let interleaved = summary.streams[0].interleaved.unwrap();
    assert_eq!(
        (interleaved.channel, interleaved.channel_assumed),
        (0, true)
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["streams"][0]["interleaved"]["channel_assumed"], true);
    assert!(rtsp_tcp(&summary)["joined_mid_stream"].as_u64().unwrap() >= 1);
}

/// Two cameras behind one NVR port: the recorded connection and a second
/// one to the same server address and port from another client port
/// (same SSRC, same timestamps: only the connection tells them apart),
/// their segments interleaved in one capture. Two streams come out, each
/// with every frame exact and nothing counted twice.
#[test]
fn two_connections_to_one_server_port_are_two_streams() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("two-connections.pcap");
    let first = read_segments(&fixtures().join("rtsp-tcp/interleaved.pcap"));
    let client_port = first
        .iter()
        .find(|s| s.src.1 == SERVER_PORT)
        .map(|s| s.dst.1)
        .unwrap();
    let other_port = client_port.wrapping_add(1);
    let second = first.iter().map(|s| {
        let mut s = s.clone();
        for end in [&mut s.src, &mut s.dst] {
            if end.1 == client_port {
                end.1 = other_port;
            }
        }
        s.time += Duration::from_micros(300);
        s
    });
    let mut segments: Vec<Segment> = first.iter().cloned().chain(second).collect();
    segments.sort_by_key(|s| s.time);
    write_segments(&both, &segments);

    let (frames, summary) = replay(&both);
    assert_eq!(summary.streams.len(), 2, "{summary:#?}");
    let mut clients = Vec::new();
    for stream in &summary.streams {
        let interleaved = stream.interleaved.expect("an interleaved stream");
        assert_eq!(stream.counters.port, SERVER_PORT);
        assert_eq!(interleaved.server.port(), SERVER_PORT);
        assert_eq!(
            (interleaved.channel, interleaved.channel_assumed),
            (0, false)
        );
        assert_eq!(stream.counters.frames_complete, 4, "{stream:#?}");
        assert_eq!(stream.counters.packets_duplicate, 0, "{stream:#?}");
        assert_eq!(stream.counters.packets_lost, 0, "{stream:#?}");
        clients.push(interleaved.client.port());
        // This connection's frames, in order, each exact.
        let mine: Vec<Replayed> = frames
            .iter()
            .filter(|f| match f.source {
                Source::Interleaved { client, .. } => client == interleaved.client,
                Source::Udp { .. } => false,
            })
            .cloned()
            .collect();
        assert_frames(&mine, 0);
    }
    clients.sort_unstable();
    assert_eq!(clients, [client_port, other_port]);
    assert_eq!(frames.len(), 8);
    assert_eq!(rtsp_tcp(&summary)["setup_replies"], 2);
}
