//! 16-bit quantization tables (RFC 2435 §3.1.8 Precision) end to end:
//! JPEGs that libjpeg's `cjpeg` writes at very low qualities (16-bit DQT,
//! SOF1), sent by the core packetizer (GStreamer's `rtpjpegpay` and
//! FFmpeg's RTP muxer refuse such JPEGs), written to a capture, replayed by
//! the `pcap` command: every rebuilt frame decodes, under every decoder in
//! the build, to exactly the original's pixels.

use std::fs;
use std::time::Duration;

use mjpeg_rtp_core::{Packetizer, PacketizerConfig};
use mjpeg_rtp_testkit::capture::{write_capture, CaptureFormat};
use mjpeg_rtp_testkit::rtp::stream_packets;
use mjpeg_rtp_testkit::{datagrams_to, fixtures_dir, retime};
use mjpeg_rtp_tests::{assert_same_pixels_every_decoder, replay};

#[test]
fn cjpeg_16bit_tables_through_the_pcap_command() {
    let dir = fixtures_dir().join("cjpeg-16bit");
    let jpegs: Vec<Vec<u8>> = ["000.jpg", "001.jpg"]
        .iter()
        .map(|f| fs::read(dir.join(f)).expect("fixture JPEG"))
        .collect();
    let mut sender = Packetizer::new(PacketizerConfig {
        ssrc: 0x1616_1616,
        initial_sequence: 65_530,
        max_packet: 300,
        ..PacketizerConfig::default()
    });
    let packets = stream_packets(&mut sender, &jpegs, 90_000, 3000);
    let mut datagrams = datagrams_to(5004, packets.concat());
    retime(&mut datagrams, Duration::from_millis(1));
    let tmp = tempfile::tempdir().expect("tempdir");
    let capture = tmp.path().join("q16.pcap");
    write_capture(&capture, CaptureFormat::default(), &datagrams);

    let (frames, summary) = replay(&capture);
    assert_eq!(frames.len(), jpegs.len());
    for (frame, original) in frames.iter().zip(&jpegs) {
        assert_same_pixels_every_decoder(&frame.jpeg, original, "16-bit tables");
    }
    let s = &summary.streams[0];
    let c = &s.counters;
    assert_eq!(c.packets_received, datagrams.len() as u64);
    assert_eq!(
        (c.packets_invalid, c.packets_lost, c.frames_dropped),
        (0, 0, 0)
    );
    assert_eq!(c.frames_complete, 2);
}
