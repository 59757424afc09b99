//! The capture reader (`mjpeg_rtp_capture::reader::read`: pcap and
//! pcapng, every link type it knows, IPv4/IPv6, IP reassembly, UDP and
//! TCP) on arbitrary file contents, each UDP payload then pushed into a
//! depacketizer and each TCP segment into the RTSP/TCP reassembly.
//! `read` takes a path, so the input goes through a file on tmpfs first.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_capture::interleaved::Connections;
use mjpeg_rtp_capture::reader::{read, Packet};
use mjpeg_rtp_capture::summary::CaptureSummary;
use mjpeg_rtp_core::{frame_buffer_len, Config, Depacketizer};

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("mjpeg-rtp-fuzz-capture-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write scratch capture");
    let mut summary = CaptureSummary::default();
    let mut rx: Depacketizer<Vec<u8>, 2> = Depacketizer::new(
        Config::default(),
        [
            vec![0; frame_buffer_len(4096)],
            vec![0; frame_buffer_len(4096)],
        ],
    );
    let mut datagrams = 0u64;
    let mut connections = Connections::default();
    let mut interleaved = 0u64;
    let result = read(path, &mut summary, |packet| {
        match packet {
            Packet::Udp(d) => {
                datagrams += 1;
                assert!(d.payload.len() <= 65_535);
                let _ = rx.push(d.time, d.payload);
                while rx.next_frame().is_some() {}
            }
            Packet::Tcp(_, segment) => connections.push(segment, &mut |p| {
                assert!(p.data.len() <= 65_535);
                interleaved += 1;
            }),
        }
        Ok(())
    });
    let tcp = connections.finish(&mut |_| interleaved += 1);
    assert_eq!(tcp.rtp_packets, interleaved);
    if result.is_ok() {
        assert!(summary.records >= summary.udp_datagrams.saturating_sub(summary.ip_reassembled));
    }
    let _ = datagrams;
});
