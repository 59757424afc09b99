//! The `pcap` replay on captures made here from the core packetizer, with
//! scripted impairments: loss, reordering, duplicates, wrap-around, SSRC
//! change, several cameras, hostile datagrams, corrupted fragments, and
//! every supported capture format. Complete frames must be pixel-exact,
//! frames missing anything must never come out, and the counters exact.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use mjpeg_rtp_capture::summary::{StreamSummary, Summary};
use mjpeg_rtp_core::rtp::HeaderMut;
use mjpeg_rtp_core::{validate, Packetizer, PacketizerConfig};
use mjpeg_rtp_testkit::capture::{write_capture, CaptureFormat, Container, Link};
use mjpeg_rtp_testkit::impair::{self, Impairment, Place};
use mjpeg_rtp_testkit::picture::{decode, Picture, Sampling};
use mjpeg_rtp_testkit::rtp::stream_packets;
use mjpeg_rtp_testkit::{datagrams_to, retime, Datagram, Rng};
use mjpeg_rtp_tests::cli::output::{Format, SinkOptions};
use mjpeg_rtp_tests::cli::pcap;
use mjpeg_rtp_tests::{assert_same_pixels_every_decoder, replay, replay_with, Replayed};

const PORT: u16 = 5004;
const STEP: u32 = 3000; // 30 fps at 90 kHz

/// `count` different JPEGs (seeds 0, 1, ...) at quality 75.
fn test_jpegs(count: usize, width: u16, height: u16, sampling: Sampling) -> Vec<Vec<u8>> {
    Picture {
        sampling,
        quality: 75,
        seed: 0,
        ..Picture::new(width, height)
    }
    .frames(count)
}

/// One simulated camera: its JPEGs and their packets, `packets[frame][i]`.
struct Camera {
    ssrc: u32,
    jpegs: Vec<Vec<u8>>,
    timestamps: Vec<u32>,
    packets: Vec<Vec<Vec<u8>>>,
}

impl Camera {
    fn new(frames: usize, ssrc: u32, seq0: u16, ts0: u32) -> Self {
        Self::with_jpegs(
            test_jpegs(frames, 96, 64, Sampling::Yuv420),
            ssrc,
            seq0,
            ts0,
            300,
        )
    }

    fn with_jpegs(jpegs: Vec<Vec<u8>>, ssrc: u32, seq0: u16, ts0: u32, max_packet: usize) -> Self {
        let mut p = Packetizer::new(PacketizerConfig {
            ssrc,
            initial_sequence: seq0,
            max_packet,
            ..PacketizerConfig::default()
        });
        let packets = stream_packets(&mut p, &jpegs, ts0, STEP);
        let timestamps = (0..jpegs.len())
            .map(|i| ts0.wrapping_add(STEP.wrapping_mul(i as u32)))
            .collect();
        Camera {
            ssrc,
            jpegs,
            timestamps,
            packets,
        }
    }

    fn all(&self) -> Vec<Vec<u8>> {
        self.packets.iter().flatten().cloned().collect()
    }

    fn total_packets(&self) -> u64 {
        self.packets.iter().map(|f| f.len() as u64).sum()
    }

    /// `s` counts every packet of this camera and every frame complete:
    /// none lost, none dropped.
    fn assert_all_counted(&self, s: &StreamSummary) {
        assert_eq!(s.counters.packets_received, self.total_packets());
        assert_eq!(
            (
                s.counters.packets_lost,
                s.counters.frames_complete,
                s.counters.frames_dropped
            ),
            (0, self.packets.len() as u64, 0)
        );
    }

    /// Index in [`all`](Self::all) of packet `packet` of frame `frame`.
    fn slot(&self, frame: usize, packet: usize) -> usize {
        assert!(packet < self.packets[frame].len());
        self.packets[..frame].iter().map(Vec::len).sum::<usize>() + packet
    }

    /// Index of the last packet (the marker) of frame `frame`.
    fn marker(&self, frame: usize) -> usize {
        self.slot(frame, self.packets[frame].len() - 1)
    }

    /// Which frame a timestamp belongs to.
    fn index_of(&self, timestamp: u32) -> usize {
        self.timestamps
            .iter()
            .position(|&t| t == timestamp)
            .expect("a frame this camera sent")
    }

    /// The frames of this camera among `got` are exactly `want` (indices),
    /// each pixel-exact.
    fn check(&self, got: &[Replayed], port: u16, want: &[usize]) {
        let mine: Vec<&Replayed> = got
            .iter()
            .filter(|f| f.port == port && f.ssrc == self.ssrc)
            .collect();
        let indices: BTreeSet<usize> = mine.iter().map(|f| self.index_of(f.timestamp)).collect();
        assert_eq!(mine.len(), indices.len(), "a frame came out twice");
        assert_eq!(
            indices,
            want.iter().copied().collect::<BTreeSet<_>>(),
            "frames out of port {port}"
        );
        for f in mine {
            let i = self.index_of(f.timestamp);
            assert_same_pixels_every_decoder(
                &f.jpeg,
                &self.jpegs[i],
                &format!("port {port} frame {i}"),
            );
        }
    }
}

fn temp_capture(datagrams: &mut [Datagram], format: CaptureFormat) -> (tempfile::TempDir, PathBuf) {
    retime(datagrams, Duration::from_millis(1));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("capture.pcap");
    write_capture(&path, format, datagrams);
    (dir, path)
}

/// Write `datagrams` as an Ethernet pcap and replay it.
fn run(mut datagrams: Vec<Datagram>) -> (Vec<Replayed>, Summary) {
    let (_dir, path) = temp_capture(&mut datagrams, CaptureFormat::default());
    replay(&path)
}

fn only_stream(summary: &Summary) -> &StreamSummary {
    assert_eq!(summary.streams.len(), 1, "{summary:?}");
    &summary.streams[0]
}

fn all_frames(n: usize) -> Vec<usize> {
    (0..n).collect()
}

#[test]
fn clean_stream() {
    let cam = Camera::new(6, 0x1122_3344, 1000, 90_000);
    assert!(
        cam.packets.iter().all(|f| f.len() >= 3),
        "want several packets a frame"
    );
    let (frames, summary) = run(datagrams_to(PORT, cam.all()));
    cam.check(&frames, PORT, &all_frames(6));
    let s = &only_stream(&summary).counters;
    assert_eq!(s.port, PORT);
    assert_eq!(s.ssrc.as_deref(), Some("0x11223344"));
    assert_eq!(s.packets_received, cam.total_packets());
    assert_eq!(
        (
            s.packets_lost,
            s.packets_duplicate,
            s.packets_late,
            s.packets_invalid
        ),
        (0, 0, 0, 0)
    );
    assert_eq!((s.frames_complete, s.frames_dropped), (6, 0));
    assert_eq!((s.width, s.height), (96, 64));
}

#[test]
fn loss_of_first_middle_and_marker_packets() {
    let n = 10;
    let cam = Camera::new(n, 0xCAFE_0001, 5000, 1234);
    let script = [
        Impairment::Lose(cam.slot(2, 0)),
        Impairment::Lose(cam.slot(4, cam.packets[4].len() / 2)),
        Impairment::Lose(cam.marker(6)),
    ];
    let mut datagrams = impair::apply(&datagrams_to(PORT, cam.all()), &script);
    let (dir, path) = temp_capture(&mut datagrams, CaptureFormat::default());
    let (frames, summary) = replay(&path);
    let complete = [0, 1, 3, 5, 7, 8, 9];
    cam.check(&frames, PORT, &complete);
    let s = &only_stream(&summary).counters;
    assert_eq!(s.packets_lost, 3);
    assert_eq!(s.packets_received, cam.total_packets() - 3);
    assert_eq!((s.frames_complete, s.frames_dropped), (7, 3));
    assert_eq!((s.packets_duplicate, s.packets_invalid), (0, 0));

    // Through the command: only complete frames are written.
    let out = dir.path().join("out");
    let output = SinkOptions {
        out: Some(out.clone()),
        formats: vec![Format::Jpeg, Format::Ppm],
        decode: false,
        decoder: mjpeg_rtp::Decoder::Zune,
        ..SinkOptions::default()
    };
    let summary2 = pcap::run(&path, &pcap::Options::default(), &output).expect("pcap run");
    assert_eq!(summary2.streams, summary.streams);
    let mut files: Vec<String> = std::fs::read_dir(out.join(PORT.to_string()))
        .expect("port dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = complete
        .iter()
        .flat_map(|&i| {
            let t = cam.timestamps[i];
            [format!("{t:010}.jpg"), format!("{t:010}.ppm")]
        })
        .collect();
    want.sort();
    assert_eq!(files, want);
    for &i in &complete {
        let t = cam.timestamps[i];
        let jpg = std::fs::read(out.join(format!("{PORT}/{t:010}.jpg"))).unwrap();
        assert_same_pixels_every_decoder(&jpg, &cam.jpegs[i], "written jpg");
        let ppm = std::fs::read(out.join(format!("{PORT}/{t:010}.ppm"))).unwrap();
        let header = b"P6\n96 64\n255\n";
        assert!(ppm.starts_with(header));
        assert_eq!(&ppm[header.len()..], &decode(&cam.jpegs[i]).2[..]);
    }
}

#[test]
fn reordering_across_frames() {
    let n = 8;
    let cam = Camera::new(n, 7, 100, 0);
    let script = [
        // Frame 4's first packet overtakes frame 3's marker.
        Impairment::Reorder(cam.slot(4, 0), Place::Before(cam.marker(3))),
        // A middle packet of frame 5 arrives after all of frame 6.
        Impairment::Reorder(cam.slot(5, 1), Place::After(cam.marker(6))),
    ];
    let (frames, summary) = run(impair::apply(&datagrams_to(PORT, cam.all()), &script));
    cam.check(&frames, PORT, &all_frames(n));
    let s = only_stream(&summary);
    let c = &s.counters;
    assert_eq!(
        (c.packets_lost, c.packets_late, c.packets_duplicate),
        (0, 0, 0)
    );
    assert_eq!((c.frames_complete, c.frames_dropped), (n as u64, 0));

    // Two whole frames in swapped order: 1 after 2.
    let script: Vec<Impairment> = (0..cam.packets[1].len())
        .map(|j| Impairment::Reorder(cam.slot(1, j), Place::After(cam.marker(2))))
        .collect();
    let first_four = datagrams_to(PORT, cam.packets[..4].concat());
    let (frames, summary) = run(impair::apply(&first_four, &script));
    cam.check(&frames, PORT, &[0, 1, 2, 3]);
    assert_eq!(only_stream(&summary).counters.packets_lost, 0);
}

#[test]
fn duplicates_are_counted_once() {
    let n = 6;
    let cam = Camera::new(n, 9, 60000, 77);
    let (mid1, marker2) = (cam.slot(1, 1), cam.marker(2));
    let script = [
        // Immediate copies of a middle packet and of a marker.
        Impairment::Duplicate(mid1, Place::After(mid1)),
        Impairment::Duplicate(marker2, Place::After(marker2)),
        // Copies of an earlier frame's first packet and of a middle
        // packet, after frame 3 is done.
        Impairment::Duplicate(cam.slot(2, 0), Place::After(cam.marker(3))),
        Impairment::Duplicate(cam.slot(3, 2), Place::After(cam.marker(3))),
    ];
    let dups = script.len() as u64;
    let (frames, summary) = run(impair::apply(&datagrams_to(PORT, cam.all()), &script));
    cam.check(&frames, PORT, &all_frames(n));
    let s = only_stream(&summary);
    assert_eq!(s.counters.packets_duplicate, dups);
    cam.assert_all_counted(s);
}

#[test]
fn sequence_and_timestamp_wrap() {
    let n = 8;
    let cam = Camera::new(n, 0xFFFF_FFFF, 65530, u32::MAX - 2 * STEP);
    assert!(
        cam.timestamps.windows(2).any(|w| w[1] < w[0]),
        "timestamps wrap"
    );
    let (frames, summary) = run(datagrams_to(PORT, cam.all()));
    cam.check(&frames, PORT, &all_frames(n));
    let s = only_stream(&summary);
    let c = &s.counters;
    assert_eq!((c.packets_lost, c.frames_complete), (0, n as u64));
    assert_eq!(c.ssrc.as_deref(), Some("0xffffffff"));

    // Lose the packet numbered 65535 and the one numbered 0: counted
    // across the wrap.
    let mut script = Vec::new();
    let mut hit = BTreeSet::new();
    for (i, frame) in cam.packets.iter().enumerate() {
        for (j, p) in frame.iter().enumerate() {
            let seq = u16::from_be_bytes([p[2], p[3]]);
            if seq == 65535 || seq == 0 {
                hit.insert(i);
                script.push(Impairment::Lose(cam.slot(i, j)));
            }
        }
    }
    let (frames, summary) = run(impair::apply(&datagrams_to(PORT, cam.all()), &script));
    let want: Vec<usize> = (0..n).filter(|i| !hit.contains(i)).collect();
    cam.check(&frames, PORT, &want);
    let s = &only_stream(&summary).counters;
    assert_eq!(s.packets_lost, 2);
    assert_eq!(s.frames_dropped, hit.len() as u64);
}

#[test]
fn ssrc_change_opens_a_new_stream() {
    let a = Camera::new(5, 0xAAAA_0001, 100, 1000);
    let b = Camera::new(5, 0xBBBB_0002, 40000, 555_555);
    // The sender restarts in the middle of its last frame.
    let cut = a.packets[4].len();
    let script: Vec<Impairment> = (cut / 2..cut)
        .map(|j| Impairment::Lose(a.slot(4, j)))
        .collect();
    let mut sent = impair::apply(&datagrams_to(PORT, a.all()), &script);
    sent.extend(datagrams_to(PORT, b.all()));
    let (frames, summary) = run(sent);
    a.check(&frames, PORT, &[0, 1, 2, 3]);
    b.check(&frames, PORT, &all_frames(5));
    assert_eq!(summary.streams.len(), 2);
    let (sa, sb) = (&summary.streams[0].counters, &summary.streams[1].counters);
    assert_eq!(
        sa.ssrc.as_deref(),
        Some("0xaaaa0001"),
        "first appearance first"
    );
    assert_eq!(sb.ssrc.as_deref(), Some("0xbbbb0002"));
    assert_eq!((sa.port, sb.port), (PORT, PORT));
    assert_eq!(
        (sa.frames_complete, sa.frames_dropped, sa.packets_lost),
        (4, 1, 0)
    );
    assert_eq!(
        (sb.frames_complete, sb.frames_dropped, sb.packets_lost),
        (5, 0, 0)
    );
    assert_eq!(sb.packets_received, b.total_packets());
}

#[test]
fn several_cameras_interleaved() {
    let cams = [
        (6000u16, Camera::new(5, 0x6000, 10, 0)),
        (
            5004u16,
            Camera::with_jpegs(
                test_jpegs(5, 64, 48, Sampling::Yuv422),
                0x5004,
                20000,
                9,
                200,
            ),
        ),
        (5006u16, Camera::new(5, 0x5006, 65000, 4_000_000_000)),
    ];
    // Round-robin one packet from each; port 5006 loses frame 2's second packet.
    let queues: Vec<Vec<Datagram>> = cams
        .iter()
        .map(|(port, cam)| {
            let script = if *port == 5006 {
                vec![Impairment::Lose(cam.slot(2, 1))]
            } else {
                vec![]
            };
            impair::apply(&datagrams_to(*port, cam.all()), &script)
        })
        .collect();
    let mut datagrams = Vec::new();
    let longest = queues.iter().map(Vec::len).max().unwrap();
    for k in 0..longest {
        datagrams.extend(queues.iter().filter_map(|q| q.get(k)).cloned());
    }
    let (frames, summary) = run(datagrams);
    let ports: Vec<u16> = summary.streams.iter().map(|s| s.counters.port).collect();
    assert_eq!(ports, [5004, 5006, 6000], "sorted by port");
    for (port, cam) in &cams {
        let s = summary
            .streams
            .iter()
            .find(|s| s.counters.port == *port)
            .unwrap();
        assert_eq!(s.ssrc_value(), Some(cam.ssrc));
        let c = &s.counters;
        let counts = (c.packets_lost, c.frames_complete, c.frames_dropped);
        if *port == 5006 {
            cam.check(&frames, *port, &[0, 1, 3, 4]);
            assert_eq!(counts, (1, 4, 1));
        } else {
            cam.check(&frames, *port, &all_frames(5));
            assert_eq!(counts, (0, 5, 0));
        }
    }
    let s5004 = summary
        .streams
        .iter()
        .find(|s| s.counters.port == 5004)
        .unwrap();
    assert_eq!((s5004.counters.width, s5004.counters.height), (64, 48));
}

/// A copy of `packet` changed by `edit`.
fn edited(packet: &[u8], edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut copy = packet.to_vec();
    edit(&mut copy);
    copy
}

/// Datagrams that must all fail validation, built from a real packet.
fn hostile_datagrams(first: &[u8], middle: &[u8]) -> Vec<Vec<u8>> {
    let mut h = Vec::new();
    // Truncated RTP header; truncated JPEG header.
    h.push(middle[..7].to_vec());
    h.push(middle[..15].to_vec());
    h.push(Vec::new());
    // RTP version 1.
    h.push(edited(middle, |p| p[0] = (p[0] & 0x3F) | 0x40));
    // Fifteen CSRCs announced in a short packet.
    h.push(edited(&middle[..40], |p| p[0] |= 0x0F));
    // Header extension claiming 65535 words.
    h.push(edited(middle, |p| {
        p[0] |= 0x10;
        p[12..16].copy_from_slice(&[0xBE, 0xDE, 0xFF, 0xFF]);
    }));
    // Padding longer than the payload.
    h.push(edited(&middle[..60], |p| {
        p[0] |= 0x20;
        *p.last_mut().unwrap() = 255;
    }));
    // Padding count 0.
    h.push(edited(middle, |p| {
        p[0] |= 0x20;
        *p.last_mut().unwrap() = 0;
    }));
    // Fragment offset near 2^24 with data running past it.
    h.push(edited(middle, |p| {
        p[13..16].copy_from_slice(&[0xFF, 0xFF, 0xF0]);
    }));
    // Unsupported RFC 2435 type.
    h.push(edited(middle, |p| p[16] = 5));
    // Restart-marker type in a packet too short for the restart header.
    h.push(edited(&middle[..22], |p| p[16] = 65));
    // Payload type not JPEG.
    h.push(edited(middle, |p| {
        HeaderMut::new_checked(p).unwrap().set_payload_type(33);
    }));
    // First packet claiming in-band tables (Q 255) with a table header
    // longer than the packet.
    h.push(edited(first, |p| {
        p[17] = 255;
        p[22..24].copy_from_slice(&[0xFF, 0xFF]);
    }));
    // Random bytes (those that happen to validate are left out).
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    for _ in 0..64 {
        let len = rng.below(200);
        let mut p = rng.bytes(len);
        if rng.chance(50) && p.len() > 12 {
            // Look like RTP/JPEG at first glance.
            p[0] = 0x80;
            let mut header = HeaderMut::new_checked(&mut p).unwrap();
            header.set_marker(false);
            header.set_payload_type(26);
        }
        h.push(p);
    }
    h.retain(|p| validate(p, None).is_err());
    assert!(h.len() > 40);
    h
}

#[test]
fn hostile_datagrams_are_counted_and_harmless() {
    let n = 6;
    let cam = Camera::new(n, 0x0BAD_F00D, 300, 5);
    let hostile = hostile_datagrams(&cam.packets[0][0], &cam.packets[0][1]);
    let mut sent = Vec::new();
    // A few before the stream's first packet (counted on it when it opens).
    sent.extend(hostile[..3].iter().cloned());
    let mut rest = hostile[3..].iter();
    for p in cam.all() {
        sent.push(p);
        if let Some(h) = rest.next() {
            sent.push(h.clone());
        }
    }
    sent.extend(rest.cloned());
    let (frames, summary) = run(datagrams_to(PORT, sent));
    cam.check(&frames, PORT, &all_frames(n));
    let s = only_stream(&summary);
    let c = &s.counters;
    assert_eq!(c.packets_invalid, hostile.len() as u64);
    assert_eq!(
        s.invalid_reasons.values().sum::<u64>(),
        hostile.len() as u64
    );
    cam.assert_all_counted(s);
}

#[test]
fn garbage_alone_opens_no_stream() {
    let cam = Camera::new(3, 42, 0, 0);
    let hostile = hostile_datagrams(&cam.packets[0][0], &cam.packets[0][1]);
    let mut datagrams = datagrams_to(7000, hostile.clone());
    // An RTCP sender report on the RTP port + 1.
    let rtcp = vec![
        0x80, 200, 0, 6, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    datagrams.extend(datagrams_to(PORT + 1, [rtcp]));
    datagrams.extend(datagrams_to(PORT, cam.all()));
    let (frames, summary) = run(datagrams);
    cam.check(&frames, PORT, &all_frames(3));
    let s = &only_stream(&summary).counters;
    assert_eq!((s.port, s.packets_invalid), (PORT, 0));
    let ignored: Vec<(u16, u64)> = summary
        .ignored_ports
        .iter()
        .map(|p| (p.port, p.datagrams))
        .collect();
    assert_eq!(ignored, [(PORT + 1, 1), (7000, hostile.len() as u64)]);
}

#[test]
fn corrupted_fragments_never_yield_a_frame() {
    let n = 6;
    let cam = Camera::new(n, 0xC0, 7, 7);
    let mut f = cam.packets.clone();
    // Frame 1: a middle fragment's offset moved by one byte (overlap + hole).
    let p = &mut f[1][1];
    let off = u32::from_be_bytes([0, p[13], p[14], p[15]]) + 1;
    p[13..16].copy_from_slice(&off.to_be_bytes()[1..]);
    // Frame 2: the last fragment claims a different width.
    let last = f[2].len() - 1;
    f[2][last][18] += 1;
    // Frame 3: a middle fragment's data cut short (hole before the next one).
    let len = f[3][1].len();
    f[3][1].truncate(len - 10);
    // Frame 4: a middle fragment with another Q. Not a corruption of
    // anything the frame uses (Q only names the tables, which come with
    // the fragment at offset 0): the frame completes, pixel-exact, and
    // the tolerance is counted.
    f[4][1][17] ^= 1;
    let sent: Vec<Vec<u8>> = f.into_iter().flatten().collect();
    let (frames, summary) = run(datagrams_to(PORT, sent));
    cam.check(&frames, PORT, &[0, 4, 5]);
    let s = only_stream(&summary);
    let c = &s.counters;
    assert_eq!(
        (c.frames_complete, c.frames_dropped),
        (3, 3),
        "{:?}",
        s.drop_reasons
    );
    assert_eq!(s.tolerated.get("q_changed_mid_frame"), Some(&1));
    assert_eq!(c.packets_lost, 0);
}

#[test]
fn capture_formats_agree() {
    let cam = Camera::with_jpegs(
        test_jpegs(4, 96, 64, Sampling::Yuv420),
        0xF0F0,
        11,
        22,
        2500,
    );
    let reference = {
        let (frames, summary) = run(datagrams_to(PORT, cam.all()));
        cam.check(&frames, PORT, &all_frames(4));
        summary.streams
    };
    let v6 = |mut ds: Vec<Datagram>| {
        for d in &mut ds {
            d.src = "[2001:db8::1]:40000".parse().unwrap();
            d.dst = format!("[2001:db8::2]:{PORT}").parse().unwrap();
        }
        ds
    };
    let cases: Vec<(&str, CaptureFormat, bool)> = vec![
        (
            "pcapng ethernet",
            CaptureFormat {
                container: Container::PcapNg,
                link: Link::Ethernet,
                fragment_above: None,
            },
            false,
        ),
        (
            "pcap vlan",
            CaptureFormat {
                container: Container::Pcap,
                link: Link::EthernetVlan,
                fragment_above: None,
            },
            false,
        ),
        (
            "pcap sll",
            CaptureFormat {
                container: Container::Pcap,
                link: Link::LinuxSll,
                fragment_above: None,
            },
            false,
        ),
        (
            "pcapng sll",
            CaptureFormat {
                container: Container::PcapNg,
                link: Link::LinuxSll,
                fragment_above: None,
            },
            false,
        ),
        (
            "pcap raw",
            CaptureFormat {
                container: Container::Pcap,
                link: Link::RawIp,
                fragment_above: None,
            },
            false,
        ),
        ("pcap ipv6", CaptureFormat::default(), true),
        (
            "pcapng raw ipv6",
            CaptureFormat {
                container: Container::PcapNg,
                link: Link::RawIp,
                fragment_above: None,
            },
            true,
        ),
        (
            "pcap sll2",
            CaptureFormat {
                container: Container::Pcap,
                link: Link::LinuxSll2,
                fragment_above: None,
            },
            false,
        ),
        (
            "pcapng sll2 ipv6",
            CaptureFormat {
                container: Container::PcapNg,
                link: Link::LinuxSll2,
                fragment_above: None,
            },
            true,
        ),
        (
            "pcap bsd loopback",
            CaptureFormat {
                container: Container::Pcap,
                link: Link::Null,
                fragment_above: None,
            },
            false,
        ),
        (
            "pcap ipv4 fragments",
            CaptureFormat {
                container: Container::Pcap,
                link: Link::Ethernet,
                fragment_above: Some(1000),
            },
            false,
        ),
    ];
    for (name, format, ipv6) in cases {
        let mut ds = datagrams_to(PORT, cam.all());
        if ipv6 {
            ds = v6(ds);
        }
        let (_dir, path) = temp_capture(&mut ds, format);
        let (frames, summary) = replay(&path);
        cam.check(&frames, PORT, &all_frames(4));
        let mut streams = summary.streams.clone();
        for s in &mut streams {
            s.jitter = reference[0].jitter;
        }
        assert_eq!(streams, reference, "{name}");
        let capture = summary.capture.expect("capture summary");
        if format.fragment_above.is_some() {
            assert!(
                capture.ip_fragments > 0 && capture.ip_reassembled > 0,
                "{name}: {capture:?}"
            );
        }
        assert_eq!(capture.undecodable, 0, "{name}");
    }
}

#[test]
fn port_filter() {
    let a = Camera::new(3, 1, 0, 0);
    let b = Camera::new(3, 2, 0, 0);
    let mut ds = datagrams_to(5004, a.all());
    ds.extend(datagrams_to(5008, b.all()));
    let (_dir, path) = temp_capture(&mut ds, CaptureFormat::default());
    let options = pcap::Options {
        ports: vec![5008],
        ..pcap::Options::default()
    };
    let (frames, summary) = replay_with(&path, &options);
    b.check(&frames, 5008, &all_frames(3));
    assert!(frames.iter().all(|f| f.port == 5008));
    assert_eq!(only_stream(&summary).counters.port, 5008);
    assert_eq!(summary.capture.unwrap().filtered, a.total_packets());
}

#[test]
fn sizes_samplings_and_restart_intervals() {
    let mut jpegs = Vec::new();
    // Not a multiple of 8 (size in an ONVIF extension), 4:2:2, wider than
    // 2040 (ONVIF again), restart intervals with both samplings.
    for (w, h, s, ri) in [
        (100u16, 60u16, Sampling::Yuv420, 0u16),
        (96, 64, Sampling::Yuv422, 0),
        (2056, 16, Sampling::Yuv420, 0),
        (128, 96, Sampling::Yuv420, 4),
        (128, 96, Sampling::Yuv422, 3),
    ] {
        let picture = Picture {
            sampling: s,
            quality: 70,
            restart_interval: ri,
            seed: u32::from(w),
            ..Picture::new(w, h)
        };
        jpegs.push(picture.encode());
    }
    let cam = Camera::with_jpegs(jpegs, 0x5A5A, 65500, 1, 500);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.pcap");
    let mut ds = datagrams_to(PORT, cam.all());
    retime(&mut ds, Duration::from_millis(1));
    write_capture(&path, CaptureFormat::default(), &ds);
    let (frames, summary) = replay(&path);
    cam.check(&frames, PORT, &all_frames(5));
    let s = only_stream(&summary);
    assert_eq!(
        (s.counters.frames_complete, s.counters.packets_lost),
        (5, 0)
    );
    assert_eq!((s.counters.width, s.counters.height), (128, 96));
}

#[test]
fn streams_are_bounded() {
    use mjpeg_rtp_capture::replay::MAX_STREAMS;
    let cam = Camera::new(1, 1, 0, 0);
    let first = &cam.packets[0][0];
    let extra = 10;
    let sent: Vec<Vec<u8>> = (0..(MAX_STREAMS + extra) as u32)
        .map(|ssrc| {
            let mut p = first.clone();
            HeaderMut::new_checked(&mut p).unwrap().set_ssrc(ssrc);
            p
        })
        .collect();
    let mut datagrams = datagrams_to(PORT, sent);
    let (_dir, path) = temp_capture(&mut datagrams, CaptureFormat::default());
    // Small frame buffers: this test is about the count, not the memory.
    let options = pcap::Options {
        max_frame_bytes: 64 << 10,
        ..pcap::Options::default()
    };
    let (frames, summary) = replay_with(&path, &options);
    assert!(frames.is_empty());
    assert_eq!(summary.streams.len(), MAX_STREAMS);
    assert_eq!(summary.capture.unwrap().over_stream_limit, extra as u64);
    assert!(summary
        .streams
        .iter()
        .all(|s| s.counters.frames_dropped == 1));
}
