//! Captures and streams as real senders and capture tools produce them,
//! through the `pcap` command's replay: every frame pixel-exact, every
//! counter exact.

use std::net::SocketAddr;
use std::time::Duration;

use mjpeg_rtp_capture::summary::Summary;
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use mjpeg_rtp_testkit::capture::{write_capture, CaptureFormat, Container, Link};
use mjpeg_rtp_testkit::picture::{Picture, Sampling};
use mjpeg_rtp_testkit::rtp::stream_packets;
use mjpeg_rtp_testkit::{fixtures_dir, retime, Datagram};
use mjpeg_rtp_tests::{assert_same_pixels_every_decoder, replay, Replayed};

const PORT: u16 = 5004;

/// The frames and counters of a loss-free capture of one stream of
/// `jpegs` in `packets` datagrams, every record a UDP datagram of it.
fn assert_clean(
    what: &str,
    frames: &[Replayed],
    summary: &Summary,
    jpegs: &[Vec<u8>],
    packets: u64,
) {
    assert_eq!(summary.streams.len(), 1, "{what}: {summary:?}");
    let s = &summary.streams[0];
    let c = &s.counters;
    assert_eq!(c.packets_received, packets, "{what}");
    assert_eq!(
        (
            c.packets_lost,
            c.packets_duplicate,
            c.packets_late,
            c.packets_invalid
        ),
        (0, 0, 0, 0),
        "{what}"
    );
    assert_eq!(c.frames_complete, jpegs.len() as u64, "{what}");
    assert_eq!(c.frames_dropped, 0, "{what}: {:?}", s.drop_reasons);
    let capture = summary.capture.as_ref().expect("capture summary");
    assert_eq!(capture.records, packets, "{what}: {capture:?}");
    assert_eq!(capture.udp_datagrams, packets, "{what}: {capture:?}");
    assert_eq!(
        (capture.undecodable, capture.not_udp),
        (0, 0),
        "{what}: {capture:?}"
    );
    assert_eq!(frames.len(), jpegs.len(), "{what}");
    for (i, (frame, original)) in frames.iter().zip(jpegs).enumerate() {
        assert_same_pixels_every_decoder(&frame.jpeg, original, &format!("{what} frame {i}"));
    }
}

/// `tcpdump -i any` writes every interface's records with a Linux cooked
/// header carrying that interface's hardware type; only the protocol
/// field says what follows. Loopback traffic as it captures it (127.0.0.1
/// or ::1 both ways), over hardware types with and without an address.
#[test]
fn cooked_captures_of_any_interface() {
    let jpegs = Picture {
        sampling: Sampling::Yuv420,
        quality: 75,
        seed: 0,
        ..Picture::new(96, 64)
    }
    .frames(4);
    let packets: Vec<Vec<u8>> = stream_packets(
        &mut Packetizer::new(PacketizerConfig {
            ssrc: 0x5EED_0001,
            initial_sequence: 7,
            max_packet: 700,
            ..PacketizerConfig::default()
        }),
        &jpegs,
        0,
        3000,
    )
    .into_iter()
    .flatten()
    .collect();
    let total = packets.len() as u64;
    // Loopback, ARPHRD_NONE (tun, WireGuard), IEEE 802.11, IP-in-GRE
    // tunnel, Ethernet.
    for hardware in [772, 0xFFFE, 801, 778, 1] {
        for link in [
            Link::LinuxSllHardware(hardware),
            Link::LinuxSll2Hardware(hardware),
        ] {
            for container in [Container::Pcap, Container::PcapNg] {
                for (src, dst) in [("127.0.0.1:40000", "127.0.0.1"), ("[::1]:40000", "[::1]")] {
                    let what = format!("{link:?} {container:?} {dst}");
                    let src: SocketAddr = src.parse().unwrap();
                    let dst: SocketAddr = format!("{dst}:{PORT}").parse().unwrap();
                    let mut datagrams: Vec<Datagram> = packets
                        .iter()
                        .map(|payload| Datagram {
                            time: Duration::ZERO,
                            src,
                            dst,
                            payload: payload.clone(),
                        })
                        .collect();
                    retime(&mut datagrams, Duration::from_millis(1));
                    let dir = tempfile::tempdir().expect("tempdir");
                    let path = dir.path().join("capture");
                    let format = CaptureFormat {
                        container,
                        link,
                        fragment_above: None,
                    };
                    write_capture(&path, format, &datagrams);
                    let (frames, summary) = replay(&path);
                    assert_clean(&what, &frames, &summary, &jpegs, total);
                }
            }
        }
    }
}

/// Real `tcpdump -i any` captures (v1 and v2 cooked headers, loopback
/// hardware type) of GStreamer's `rtpjpegpay` sending gst-420's JPEGs.
#[test]
fn tcpdump_any_captures_of_a_gstreamer_stream() {
    let originals: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            std::fs::read(fixtures_dir().join(format!("gst-420/{i:03}.jpg"))).expect("original")
        })
        .collect();
    for name in ["capture-sll.pcap", "capture-sll2.pcap"] {
        let path = fixtures_dir().join("gst-any").join(name);
        let (frames, summary) = replay(&path);
        // rtpjpegpay mtu=600: 8 packets per 192x144 frame here.
        assert_clean(name, &frames, &summary, &originals, 32);
        let s = &summary.streams[0];
        let c = &s.counters;
        assert_eq!((c.port, c.width, c.height), (5014, 192, 144), "{name}");
    }
}

/// Cameras pushing RTP/JPEG to a plain port with a dynamic payload type
/// (no SDP, no `--payload-type`): each stream locks onto its own type once
/// a few packets agree, every frame comes out, the decision is in the
/// summary; with `--payload-type` the given type alone is taken.
#[test]
fn dynamic_payload_types_without_sdp() {
    let jpegs = Picture::new(96, 64).frames(3);
    let stream = |ssrc: u32, payload_type: u8| -> Vec<Vec<u8>> {
        let mut packetizer = Packetizer::new(PacketizerConfig {
            ssrc,
            payload_type,
            max_packet: 500,
            ..PacketizerConfig::default()
        });
        stream_packets(&mut packetizer, &jpegs, 0, 3000)
            .into_iter()
            .flatten()
            .collect()
    };
    let (a, b) = (stream(0xA, 96), stream(0xB, 110));
    let to = |port: u16, payloads: &[Vec<u8>]| -> Vec<Datagram> {
        payloads
            .iter()
            .map(|payload| Datagram {
                time: Duration::ZERO,
                src: "192.0.2.1:40000".parse().unwrap(),
                dst: SocketAddr::from(([198, 51, 100, 7], port)),
                payload: payload.clone(),
            })
            .collect()
    };
    // The two cameras interleaved, packet by packet.
    let mut datagrams: Vec<Datagram> = to(PORT, &a)
        .into_iter()
        .zip(to(PORT + 2, &b))
        .flat_map(|(x, y)| [x, y])
        .collect();
    retime(&mut datagrams, Duration::from_millis(1));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dynamic.pcap");
    write_capture(&path, CaptureFormat::default(), &datagrams);

    let (frames, summary) = replay(&path);
    assert_eq!(summary.streams.len(), 2, "{summary:?}");
    for (s, (payload_type, packets)) in summary.streams.iter().zip([(96, &a), (110, &b)]) {
        assert_eq!(s.payload_type, Some(payload_type));
        assert!(s.payload_type_detected);
        let c = &s.counters;
        assert_eq!(c.packets_received, packets.len() as u64);
        assert_eq!((c.packets_invalid, c.packets_lost), (0, 0));
        assert_eq!(c.frames_complete, jpegs.len() as u64);
        let got: Vec<_> = frames.iter().filter(|f| f.port == c.port).collect();
        assert_eq!(got.len(), jpegs.len());
        for (frame, original) in got.iter().zip(&jpegs) {
            assert_same_pixels_every_decoder(&frame.jpeg, original, "dynamic PT");
        }
    }

    // Told PT 96: camera B's datagrams are all refused, by reason.
    let options = mjpeg_rtp_capture::replay::Options {
        payload_type: Some(96),
        ..Default::default()
    };
    let (frames, summary) = mjpeg_rtp_tests::replay_with(&path, &options);
    assert_eq!(frames.len(), jpegs.len());
    assert!(frames.iter().all(|f| f.port == PORT));
    let s = &summary.streams[0];
    assert_eq!((s.payload_type, s.payload_type_detected), (Some(96), false));
    let ignored = &summary.ignored_ports[0];
    assert_eq!(ignored.port, PORT + 2);
    assert_eq!(ignored.invalid_reasons["payload_type"], b.len() as u64);
}
