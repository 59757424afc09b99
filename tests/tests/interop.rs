//! Captures and streams as real senders and capture tools produce them,
//! through the `pcap` command's replay: every frame pixel-exact, every
//! counter exact.

use std::net::SocketAddr;
use std::time::Duration;

use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use mjpeg_rtp_testkit::capture::{write_capture, CaptureFormat, Container, Link};
use mjpeg_rtp_testkit::picture::{Picture, Sampling};
use mjpeg_rtp_testkit::rtp::stream_packets;
use mjpeg_rtp_testkit::{fixtures_dir, retime, Datagram};
use mjpeg_rtp_tests::cli::summary::Summary;
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
    assert_eq!(s.packets_received, packets, "{what}");
    assert_eq!(
        (
            s.packets_lost,
            s.packets_duplicate,
            s.packets_late,
            s.packets_invalid
        ),
        (0, 0, 0, 0),
        "{what}"
    );
    assert_eq!(s.frames_complete, jpegs.len() as u64, "{what}");
    assert_eq!(s.frames_dropped, 0, "{what}: {:?}", s.drop_reasons);
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
        assert_eq!((s.port, s.width, s.height), (5014, 192, 144), "{name}");
    }
}
