//! 16-bit quantization tables (RFC 2435 §3.1.8 Precision) end to end:
//! JPEGs that libjpeg's `cjpeg` writes at very low qualities (16-bit DQT,
//! SOF1), sent by the core packetizer (GStreamer's `rtpjpegpay` and
//! FFmpeg's RTP muxer refuse such JPEGs), written to a capture, replayed by
//! the `pcap` command: every rebuilt frame decodes, under every decoder in
//! the build, to exactly the original's pixels.

use std::fs;
use std::time::Duration;

use mjpeg_rtp_tests::{
    assert_same_pixels, datagrams_to, fixtures_dir, packetizer, replay, retime, stream_packets,
    write_pcap,
};

#[test]
fn cjpeg_16bit_tables_through_the_pcap_command() {
    let dir = fixtures_dir().join("cjpeg-16bit");
    let jpegs: Vec<Vec<u8>> = ["000.jpg", "001.jpg"]
        .iter()
        .map(|f| fs::read(dir.join(f)).expect("fixture JPEG"))
        .collect();
    let mut sender = packetizer(0x1616_1616, 65_530, 300);
    let packets = stream_packets(&mut sender, &jpegs, 90_000, 3000);
    let mut datagrams = datagrams_to(5004, packets.concat());
    retime(&mut datagrams, Duration::from_millis(1));
    let tmp = tempfile::tempdir().expect("tempdir");
    let capture = tmp.path().join("q16.pcap");
    write_pcap(&capture, &datagrams);

    let (frames, summary) = replay(&capture);
    assert_eq!(frames.len(), jpegs.len());
    for (frame, original) in frames.iter().zip(&jpegs) {
        assert_same_pixels(&frame.jpeg, original, "16-bit tables");
    }
    let s = &summary.streams[0];
    assert_eq!(s.packets_received, datagrams.len() as u64);
    assert_eq!(
        (s.packets_invalid, s.packets_lost, s.frames_dropped),
        (0, 0, 0)
    );
    assert_eq!(s.frames_complete, 2);
}
