//! Packetize real JPEGs, reassemble them, and check the rebuilt JPEG
//! decodes to exactly the original's pixels — under every impairment the
//! peers rarely send.

use mjpeg_rtp_core::rfc2435::JpegPayload;
use mjpeg_rtp_core::rtp::{HeaderMut, RtpPacket};
use mjpeg_rtp_core::{
    frame_buffer_len, Config, Depacketizer, DropReason, Instant, InvalidReason, JpegType,
    PacketizerConfig, Sampling, Tolerated, Verdict,
};
use mjpeg_rtp_testkit::esp32;
use mjpeg_rtp_testkit::picture::{assert_same_pixels, Picture};
use mjpeg_rtp_testkit::rtp::packetize;

type Rx = Depacketizer<Vec<u8>, 4>;

fn receiver(config: Config) -> Rx {
    Depacketizer::new(
        config,
        core::array::from_fn(|_| vec![0u8; frame_buffer_len(512 * 1024)]),
    )
}

/// Push every datagram at 1 ms intervals; collect (timestamp, jpeg).
fn run(rx: &mut Rx, packets: &[Vec<u8>]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        while let Some(f) = rx.next_frame() {
            out.push((f.info.timestamp, f.jpeg.to_vec()));
        }
    }
    rx.flush();
    out
}

/// [`run`], with each datagram's verdict.
fn run_with_verdicts(rx: &mut Rx, packets: &[Vec<u8>]) -> (Vec<(u32, Vec<u8>)>, Vec<Verdict>) {
    let mut out = Vec::new();
    let mut verdicts = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        verdicts.push(rx.push(Instant::from_millis(i as u64), p));
        while let Some(f) = rx.next_frame() {
            out.push((f.info.timestamp, f.jpeg.to_vec()));
        }
    }
    rx.flush();
    (out, verdicts)
}

/// A copy of RTP `packet` with its header changed by `edit`.
fn edited(packet: &[u8], edit: impl FnOnce(&mut HeaderMut<'_>)) -> Vec<u8> {
    let mut copy = packet.to_vec();
    edit(&mut HeaderMut::new_checked(&mut copy).expect("an RTP packet"));
    copy
}

/// `got` is `frames`, in order: the same timestamps and pixels.
fn assert_rebuilt(got: &[(u32, Vec<u8>)], frames: &[(Vec<u8>, u32)], what: &str) {
    assert_eq!(got.len(), frames.len(), "{what}");
    for ((ts, jpeg), (original, want_ts)) in got.iter().zip(frames) {
        assert_eq!(ts, want_ts);
        assert_same_pixels(jpeg, original, what);
    }
}

fn frames(pictures: &[Picture]) -> Vec<(Vec<u8>, u32)> {
    pictures
        .iter()
        .enumerate()
        .map(|(i, p)| (p.encode(), 3000 * i as u32))
        .collect()
}

fn small_mtu() -> PacketizerConfig {
    PacketizerConfig {
        max_packet: 400,
        ..PacketizerConfig::default()
    }
}

fn check_all(pictures: &[Picture], config: PacketizerConfig) {
    let frames = frames(pictures);
    let packets = packetize(config, &frames);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_rebuilt(&got, &frames, "rebuilt");
    let stats = rx.stats();
    assert_eq!(stats.packets_received, packets.len() as u64);
    assert_eq!(stats.packets_lost(), 0);
    assert_eq!(stats.frames_complete, frames.len() as u64);
    assert_eq!(stats.frames_dropped_total(), 0);
    assert_eq!(rx.invalid().total(), 0);
}

#[test]
fn yuv420_and_yuv422_at_many_qualities() {
    let mut pictures = Vec::new();
    for (i, q) in [1u8, 10, 30, 50, 75, 90, 99].into_iter().enumerate() {
        for sampling in [Sampling::Yuv420, Sampling::Yuv422] {
            pictures.push(Picture {
                quality: q,
                sampling,
                seed: i as u32,
                ..Picture::new(96, 64)
            });
        }
    }
    check_all(&pictures, small_mtu());
}

#[test]
fn low_q_is_sent_without_tables() {
    let jpeg = Picture {
        quality: 42,
        ..Picture::new(64, 48)
    }
    .encode();
    let packets = packetize(small_mtu(), &[(jpeg, 0)]);
    let rtp = RtpPacket::parse(&packets[0]).unwrap();
    let payload = JpegPayload::parse(rtp.payload()).unwrap();
    assert_eq!(payload.main.q, 42);
    assert!(payload.quant.is_none());
}

#[test]
fn custom_tables_go_in_band_with_q255() {
    let pictures = [Picture {
        annex_k_tables: false,
        quality: 70,
        ..Picture::new(80, 64)
    }];
    let frames = frames(&pictures);
    let packets = packetize(small_mtu(), &frames);
    let rtp = RtpPacket::parse(&packets[0]).unwrap();
    let payload = JpegPayload::parse(rtp.payload()).unwrap();
    assert_eq!(payload.main.q, 255);
    assert_eq!(payload.quant.unwrap().data.len(), 128);
    check_all(&pictures, small_mtu());
}

#[test]
fn restart_markers_roundtrip() {
    let pictures: Vec<_> = [Sampling::Yuv420, Sampling::Yuv422]
        .into_iter()
        .map(|sampling| Picture {
            sampling,
            restart_interval: 2,
            ..Picture::new(128, 64)
        })
        .collect();
    let frames = frames(&pictures);
    let packets = packetize(small_mtu(), &frames);
    let rtp = RtpPacket::parse(&packets[0]).unwrap();
    let payload = JpegPayload::parse(rtp.payload()).unwrap();
    assert_eq!(payload.main.jpeg_type, JpegType::Yuv420Restart);
    assert_eq!(payload.restart.unwrap().interval, 2);
    check_all(&pictures, small_mtu());
}

#[test]
fn sizes_the_header_cannot_express_use_the_onvif_extension() {
    // Not a multiple of 8, and wider than 2040.
    let pictures = [Picture::new(100, 75), Picture::new(2056, 16)];
    let frames = frames(&pictures);
    let packets = packetize(PacketizerConfig::default(), &frames);
    let first_of = |ts: u32| {
        packets
            .iter()
            .map(|p| RtpPacket::parse(p).unwrap())
            .find(|rtp| rtp.timestamp() == ts)
            .unwrap()
    };
    // ONVIF: the header carries the size rounded up to whole blocks where
    // it can (100x75 as 104x80), else 0; the extension the exact size,
    // which wins.
    for (ts, header_size) in [(0, (104, 80)), (3000, (0, 0))] {
        let rtp = first_of(ts);
        assert_eq!(rtp.extension().unwrap().profile, 0xFFD8);
        let payload = JpegPayload::parse(rtp.payload()).unwrap();
        assert_eq!((payload.main.width, payload.main.height), header_size);
    }
    check_all(&pictures, PacketizerConfig::default());
    let mut rx = receiver(Config::default());
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        if let Some(f) = rx.next_frame() {
            assert!(matches!(
                (f.info.width, f.info.height),
                (100, 75) | (2056, 16)
            ));
        }
    }
}

#[test]
fn zero_size_without_extension_uses_configured_size_or_drops() {
    let jpeg = Picture::new(2048, 16).encode();
    let mut packets = packetize(PacketizerConfig::default(), &[(jpeg.clone(), 0)]);
    // Strip the ONVIF extension from the first packet (X bit and 4+20 bytes).
    let first = &mut packets[0];
    first[0] &= !0x10;
    first.drain(12..12 + 24);
    let mut rx = receiver(Config::default());
    assert!(run(&mut rx, &packets).is_empty());
    assert_eq!(rx.stats().frames_dropped.get(DropReason::UnknownSize), 1);

    let mut rx = receiver(Config {
        fallback_size: Some((2048, 16)),
        ..Config::default()
    });
    let got = run(&mut rx, &packets);
    assert_eq!(got.len(), 1);
    assert_same_pixels(&got[0].1, &jpeg, "rebuilt");
}

fn five_frames() -> Vec<(Vec<u8>, u32)> {
    frames(
        &(0..5)
            .map(|seed| Picture {
                seed,
                ..Picture::new(96, 64)
            })
            .collect::<Vec<_>>(),
    )
}

#[test]
fn any_single_lost_packet_drops_exactly_its_frame() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    for lost in 0..packets.len() {
        let mut impaired = packets.clone();
        impaired.remove(lost);
        let mut rx = receiver(Config::default());
        let got = run(&mut rx, &impaired);
        assert_eq!(got.len(), 4, "lost packet {lost}");
        let lost_ts = RtpPacket::parse(&packets[lost]).unwrap().timestamp();
        for (ts, jpeg) in &got {
            assert_ne!(*ts, lost_ts);
            let original = &frames.iter().find(|(_, t)| t == ts).unwrap().0;
            assert_same_pixels(jpeg, original, "rebuilt");
        }
        let stats = rx.stats();
        assert_eq!(stats.frames_dropped_total(), 1, "lost packet {lost}");
        // Losing the very first or very last packet is invisible to RTP
        // sequence accounting (nothing brackets it).
        let edge = lost == 0 || lost == packets.len() - 1;
        assert_eq!(stats.packets_lost(), u64::from(!edge), "lost packet {lost}");
    }
}

#[test]
fn reordering_across_frames_and_duplicates() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    let mut impaired = packets.clone();
    // Swap neighbours everywhere (this crosses every frame boundary) and
    // send every third packet twice.
    for pair in impaired.chunks_mut(2) {
        pair.reverse();
    }
    let mut with_dups = Vec::new();
    for (i, p) in impaired.into_iter().enumerate() {
        if i % 3 == 0 {
            with_dups.push(p.clone());
        }
        with_dups.push(p);
    }
    let mut rx = receiver(Config::default());
    let mut got = run(&mut rx, &with_dups);
    got.sort_by_key(|(ts, _)| *ts);
    assert_rebuilt(&got, &frames, "rebuilt");
    let stats = rx.stats();
    assert_eq!(stats.packets_received, packets.len() as u64);
    assert_eq!(
        stats.packets_duplicate,
        with_dups.len() as u64 - packets.len() as u64
    );
    assert_eq!(stats.packets_lost(), 0);
}

#[test]
fn sequence_and_timestamp_wrap() {
    let frames: Vec<_> = five_frames()
        .into_iter()
        .enumerate()
        .map(|(i, (jpeg, _))| (jpeg, (u32::MAX - 6000).wrapping_add(3000 * i as u32)))
        .collect();
    let packets = packetize(
        PacketizerConfig {
            initial_sequence: 0xFFFA,
            ..small_mtu()
        },
        &frames,
    );
    let mut rx = receiver(Config::default());
    let mut infos = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        while let Some(f) = rx.next_frame() {
            infos.push(f.info);
        }
    }
    assert_eq!(infos.len(), 5);
    assert!(infos
        .windows(2)
        .all(|w| w[1].extended_timestamp == w[0].extended_timestamp + 3000));
    assert_eq!(rx.stats().packets_lost(), 0);
    assert_eq!(rx.stats().packets_received, packets.len() as u64);
}

/// Packets of two senders: three frames from the default SSRC, then two
/// from SSRC 0xBEEF with unrelated sequence numbers.
fn two_streams() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let frames = five_frames();
    let a = packetize(small_mtu(), &frames[..3]);
    let b = packetize(
        PacketizerConfig {
            ssrc: 0xBEEF,
            initial_sequence: 40_000,
            ..small_mtu()
        },
        &frames[3..],
    );
    (a, b)
}

/// The current stream is B (from [`two_streams`]), all of it: both
/// frames, every packet, nothing lost or refused.
fn assert_stream_b_whole(rx: &Rx, b: &[Vec<u8>]) {
    let current = rx.stats();
    assert_eq!(current.ssrc, Some(0xBEEF));
    assert_eq!(current.frames_complete, 2);
    assert_eq!(current.packets_received, b.len() as u64);
    assert_eq!(current.packets_lost(), 0);
    assert_eq!(rx.invalid().total(), 0);
}

#[test]
fn ssrc_change_starts_a_new_stream() {
    let (a, b) = two_streams();
    // Stream A stops inside its last frame; after a silence longer than
    // `ssrc_silence` (a camera reboot) stream B takes over at once.
    let cut = a.len() - 1;
    let mut rx = receiver(Config::default());
    let mut got = 0;
    for (i, p) in a[..cut].iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        got += usize::from(rx.next_frame().is_some());
    }
    for (i, p) in b.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(2_000 + i as u64), p);
        got += usize::from(rx.next_frame().is_some());
    }
    assert_eq!(got, 4);
    let retired = rx.take_retired_stream().unwrap();
    assert_eq!(retired.ssrc, Some(PacketizerConfig::default().ssrc));
    assert_eq!(retired.frames_complete, 2);
    // The unfinished frame of A outlived max_frame_age during the silence.
    assert_eq!(retired.frames_dropped_total(), 1);
    assert_stream_b_whole(&rx, &b);
}

#[test]
fn ssrc_change_without_silence_needs_two_consecutive_packets() {
    let (a, b) = two_streams();
    // A forged datagram from another SSRC in the middle of A changes
    // nothing...
    let forged = edited(&b[1], |h| h.set_ssrc(0xABCD_0123));
    let mut packets = a.clone();
    packets.insert(3, forged);
    // ...while B, following A directly, is believed from its second packet,
    // and its first packet, held until then, is not lost.
    packets.extend(b.iter().cloned());
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_rebuilt(&got, &five_frames(), "A then B");
    let retired = rx.take_retired_stream().unwrap();
    assert_eq!(retired.frames_complete, 3);
    assert_eq!(retired.frames_dropped_total(), 0);
    assert_eq!(retired.packets_lost(), 0);
    // The forged datagram, given up when B's first packet took its place.
    assert_eq!(rx.invalid().get(InvalidReason::SsrcUnconfirmed), 1);
    assert_eq!(rx.invalid().total(), 1);
    let current = rx.stats();
    assert_eq!(current.ssrc, Some(0xBEEF));
    assert_eq!(current.frames_complete, 2);
    assert_eq!(current.frames_dropped_total(), 0);
    assert_eq!(current.packets_received, b.len() as u64);
    assert_eq!(current.packets_lost(), 0);
}

/// Loss-free reassembly of `packets` alone: what a frame must equal, byte
/// for byte.
fn reassembled_alone(packets: &[Vec<u8>]) -> Vec<(u32, Vec<u8>)> {
    run(&mut receiver(Config::default()), packets)
}

#[test]
fn quick_ssrc_change_keeps_the_first_frame_of_the_new_stream() {
    // A camera reboots fast: A stops inside its last frame and B starts
    // 100 ms later, well inside `ssrc_silence`.
    let (a, b) = two_streams();
    let cut = a.len() - 1;
    let mut rx = receiver(Config::default());
    let mut got = Vec::new();
    let drain = |rx: &mut Rx, got: &mut Vec<(u32, Vec<u8>)>| {
        while let Some(f) = rx.next_frame() {
            got.push((f.info.timestamp, f.jpeg.to_vec()));
        }
    };
    for (i, p) in a[..cut].iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        drain(&mut rx, &mut got);
    }
    let start = cut as u64 + 100;
    let verdicts: Vec<Verdict> = b
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let verdict = rx.push(Instant::from_millis(start + i as u64), p);
            drain(&mut rx, &mut got);
            verdict
        })
        .collect();
    assert_eq!(verdicts[0], Verdict::Held);
    assert!(verdicts[1..]
        .iter()
        .all(|v| matches!(v, Verdict::Accepted | Verdict::Completed)));
    let frames = five_frames();
    // A's first two frames, then both of B's: pixel-exact, and B's
    // byte-exact against B reassembled on its own.
    let want: Vec<_> = frames[..2].iter().chain(&frames[3..]).cloned().collect();
    assert_rebuilt(&got, &want, "A cut, then B");
    assert_eq!(got[2..], reassembled_alone(&b)[..]);
    let retired = rx.take_retired_stream().unwrap();
    assert_eq!(retired.frames_complete, 2);
    assert_eq!(retired.frames_dropped.get(DropReason::SsrcChange), 1);
    assert_stream_b_whole(&rx, &b);
}

#[test]
fn a_new_ssrc_whose_first_two_packets_come_swapped_is_confirmed_by_them() {
    let (a, b) = two_streams();
    let mut packets = a.clone();
    packets.push(b[1].clone());
    packets.push(b[0].clone());
    packets.extend(b[2..].iter().cloned());
    let mut rx = receiver(Config::default());
    let (got, verdicts) = run_with_verdicts(&mut rx, &packets);
    // B's second packet waits; its first, right before it in sequence,
    // confirms B: both go to B, nothing is given up.
    assert_eq!(verdicts[a.len()], Verdict::Held);
    assert_rebuilt(&got, &five_frames(), "A then B");
    assert_eq!(got[3..], reassembled_alone(&b)[..]);
    assert_stream_b_whole(&rx, &b);
}

#[test]
fn a_datagram_held_for_an_unconfirmed_ssrc_is_counted_when_given_up() {
    let (a, b) = two_streams();
    let mut rx = receiver(Config::default());
    for (i, p) in a.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
    }
    // Another SSRC's packet, never followed by the next one: it touches
    // nothing, and the stream ending gives it up.
    let at = Instant::from_millis(a.len() as u64);
    assert_eq!(rx.push(at, &b[0]), Verdict::Held);
    assert_eq!(rx.invalid().total(), 0);
    rx.flush();
    assert_eq!(rx.invalid().get(InvalidReason::SsrcUnconfirmed), 1);
    assert_eq!(rx.stats().ssrc, Some(PacketizerConfig::default().ssrc));
    assert_eq!(rx.stats().frames_complete, 3);
    // Followed by a packet that does not follow it (B's third): that one
    // is held instead, and the first given up.
    let mut rx = receiver(Config::default());
    for (i, p) in a.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
    }
    assert_eq!(rx.push(at, &b[0]), Verdict::Held);
    assert_eq!(rx.push(at, &b[2]), Verdict::Held);
    assert_eq!(rx.invalid().get(InvalidReason::SsrcUnconfirmed), 1);
    // B's fourth confirms B with its third: B's first frame misses its
    // first packet and is never handed out.
    for p in &b[3..] {
        let _ = rx.push(at, p);
    }
    let got: Vec<u32> = std::iter::from_fn(|| rx.next_frame().map(|f| f.info.timestamp))
        .filter(|&ts| ts >= 9000)
        .collect();
    assert_eq!(got, [12000]);
    rx.flush();
    assert_eq!(rx.stats().ssrc, Some(0xBEEF));
    assert_eq!(rx.stats().frames_dropped.get(DropReason::Lost), 1);
    assert_eq!(rx.invalid().total(), 1);
}

#[test]
fn a_held_datagram_is_given_up_after_max_frame_age() {
    let (a, _) = two_streams();
    let frames = five_frames();
    // B's first frame in two packets, so that the packet confirming B
    // would complete it at once.
    let b = (400..1400)
        .step_by(20)
        .map(|max_packet| {
            let config = PacketizerConfig {
                ssrc: 0xBEEF,
                max_packet,
                ..PacketizerConfig::default()
            };
            (packetize(config, &frames[3..4]).len(), config)
        })
        .find(|&(n, _)| n == 2)
        .map(|(_, config)| packetize(config, &frames[3..]))
        .expect("a packet size that cuts the frame in two");
    let mut rx = receiver(Config::default());
    // A keeps sending (never silent: copies of its last packet with new
    // sequence numbers) while B's first packet waits 2 s, longer than
    // `max_frame_age`, for its successor.
    let mut t = 0;
    for p in &a {
        let _ = rx.push(Instant::from_millis(t), p);
        t += 100;
    }
    assert_eq!(rx.push(Instant::from_millis(t), &b[0]), Verdict::Held);
    let last = RtpPacket::parse(&a[a.len() - 1]).unwrap().sequence();
    for k in 1..=20 {
        t += 100;
        let late = edited(&a[a.len() - 1], |h| h.set_sequence(last + k));
        let verdict = rx.push(Instant::from_millis(t), &late);
        assert!(!matches!(verdict, Verdict::Held | Verdict::Invalid(_)));
    }
    let mut got = Vec::new();
    for p in &b[1..] {
        t += 1;
        let _ = rx.push(Instant::from_millis(t), p);
        while let Some(f) = rx.next_frame() {
            got.push(f.info.timestamp);
        }
    }
    // B's first frame began 2 s ago: expired, not handed out; its second
    // packet came after that.
    got.retain(|&ts| ts >= 9000);
    // B's first packet waited longer than `max_frame_age`: given up and
    // counted, and B's probation began again with its second packet. So
    // B's first frame lacks its first packet and is never handed out.
    assert_eq!(got, [12000]);
    assert_eq!(rx.invalid().get(InvalidReason::SsrcUnconfirmed), 1);
    rx.flush();
    let current = rx.stats();
    assert_eq!(current.ssrc, Some(0xBEEF));
    assert_eq!(current.packets_received, b.len() as u64 - 1);
    assert_eq!(current.frames_complete, 1);
    assert_eq!(current.frames_dropped.get(DropReason::Lost), 1);
}

#[test]
fn a_datagram_too_large_to_hold_is_refused_at_once() {
    let frames = five_frames();
    let a = packetize(small_mtu(), &frames[..3]);
    let b = packetize(
        PacketizerConfig {
            ssrc: 0xBEEF,
            max_packet: 4000,
            ..PacketizerConfig::default()
        },
        &frames[3..],
    );
    assert!(b[0].len() > mjpeg_rtp_core::HELD_DATAGRAM_LEN);
    let mut packets = a.clone();
    packets.extend(b.iter().cloned());
    let mut rx = receiver(Config::default());
    let verdicts: Vec<Verdict> = packets.iter().map(|p| rx.push(Instant::ZERO, p)).collect();
    assert_eq!(
        verdicts[a.len()],
        Verdict::Invalid(InvalidReason::SsrcUnconfirmed)
    );
    // The SSRC is still confirmed by the next packet; the frame that lost
    // its first packet is never handed out.
    let mut got = Vec::new();
    while let Some(f) = rx.next_frame() {
        got.push(f.info.timestamp);
    }
    assert_eq!(got, [0, 3000, 6000, 12000]);
    assert_eq!(rx.invalid().total(), 1);
    assert_eq!(rx.stats().ssrc, Some(0xBEEF));
}

#[test]
fn a_forged_timestamp_or_sequence_far_away_is_refused() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    let far_ts = edited(&packets[2], |h| h.set_timestamp(0x7000_0000));
    let far_seq = edited(&packets[2], |h| h.set_sequence(30_000));
    let mut mixed = packets.clone();
    mixed.insert(4, far_ts);
    mixed.insert(8, far_seq);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &mixed);
    assert_rebuilt(&got, &frames, "rebuilt");
    assert_eq!(rx.invalid().get(InvalidReason::TimestampJump), 1);
    assert_eq!(rx.invalid().get(InvalidReason::SequenceJump), 1);
    assert_eq!(rx.stats().packets_lost(), 0);
}

#[test]
fn a_stray_jump_is_counted_as_soon_as_the_stream_goes_on_without_it() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    let far_seq = edited(&packets[2], |h| h.set_sequence(30_000));
    let far_ts = edited(&packets[2], |h| h.set_timestamp(0x7000_0000));
    let mut rx = receiver(Config::default());
    for p in &packets[..3] {
        let _ = rx.push(Instant::ZERO, p);
    }
    for (forged, reason, next) in [
        (&far_seq, InvalidReason::SequenceJump, &packets[3]),
        (&far_ts, InvalidReason::TimestampJump, &packets[4]),
    ] {
        // Held while it may still be a restart...
        assert_eq!(rx.push(Instant::ZERO, forged), Verdict::Held);
        assert_eq!(rx.invalid().get(reason), 0);
        // ...given up and counted when the stream goes on from before it,
        // without waiting for the end of the stream.
        assert!(matches!(
            rx.push(Instant::ZERO, next),
            Verdict::Accepted | Verdict::Completed
        ));
        assert_eq!(rx.invalid().get(reason), 1);
    }
    assert_eq!(rx.invalid().total(), 2);
}

#[test]
fn a_held_jump_given_up_for_another_ssrcs_first_packet_is_counted_once() {
    let (a, b) = two_streams();
    let far_seq = edited(&a[a.len() - 1], |h| h.set_sequence(30_000));
    let mut rx = receiver(Config::default());
    let mut packets = a.clone();
    packets.push(far_seq);
    packets.extend(b.iter().cloned());
    let (got, verdicts) = run_with_verdicts(&mut rx, &packets);
    // The stray jump waits, B's first packet takes its place (the jump is
    // counted then, once), and B's second confirms B with it.
    assert_eq!(verdicts[a.len()], Verdict::Held);
    assert_eq!(verdicts[a.len() + 1], Verdict::Held);
    assert_rebuilt(&got, &five_frames(), "A then B");
    assert_eq!(rx.invalid().get(InvalidReason::SequenceJump), 1);
    assert_eq!(rx.invalid().total(), 1);
    let current = rx.stats();
    assert_eq!(current.ssrc, Some(0xBEEF));
    assert_eq!(current.packets_received, b.len() as u64);
}

#[test]
fn a_sender_restart_with_the_same_ssrc_is_followed() {
    let frames = five_frames();
    let a = packetize(small_mtu(), &frames[..2]);
    let b = packetize(
        PacketizerConfig {
            initial_sequence: 30_000,
            ..small_mtu()
        },
        &frames[2..]
            .iter()
            .map(|(j, t)| (j.clone(), t.wrapping_add(0x4000_0000)))
            .collect::<Vec<_>>(),
    );
    let mut packets = a.clone();
    packets.extend(b.iter().cloned());
    let mut rx = receiver(Config::default());
    let (got, verdicts) = run_with_verdicts(&mut rx, &packets);
    // The packet that announced the restart was held until the next one
    // confirmed it, then replayed: no frame is lost, nothing refused.
    assert_eq!(verdicts[a.len()], Verdict::Held);
    assert_eq!(got.len(), 5);
    assert_rebuilt(&got[..2], &frames[..2], "before the restart");
    assert_eq!(got[2..], reassembled_alone(&b)[..]);
    assert_eq!(rx.invalid().total(), 0);
    assert_eq!(rx.stats().frames_dropped.total(), 0);
}

#[test]
fn a_loss_burst_longer_than_the_window_costs_only_what_was_lost() {
    // Frames of many packets, and a burst of more than a window
    // (512 packets) lost in the middle of frame 2's run: the first
    // packet after the gap is held until its successor confirms the
    // jump, then counted in; nothing after the gap is lost with it.
    let five = five_frames();
    let frames: Vec<_> = (0..30u32)
        .map(|i| (five[i as usize % 5].0.clone(), i * 3000))
        .collect();
    let config = PacketizerConfig {
        max_packet: 64,
        ..PacketizerConfig::default()
    };
    let packets = packetize(config, &frames);
    let frame_of = |p: &Vec<u8>| RtpPacket::parse(p).unwrap().timestamp() / 3000;
    let first_of = |n: u32| packets.iter().position(|p| frame_of(p) == n).unwrap();
    // The burst: from frame 1's second packet up to the start of the
    // first frame a whole window later, which opens with the held packet.
    let from = first_of(1) + 1;
    let resume = (2..30)
        .find(|&n| first_of(n) - from >= 512)
        .expect("enough frames");
    let to = first_of(resume);
    let kept: Vec<_> = packets[..from]
        .iter()
        .chain(&packets[to..])
        .cloned()
        .collect();
    let mut rx = receiver(Config::default());
    let (got, verdicts) = run_with_verdicts(&mut rx, &kept);
    assert_eq!(verdicts[from], Verdict::Held);
    // Frame 0, then every frame from the one the held packet opens.
    let want: Vec<_> = std::iter::once(frames[0].clone())
        .chain(frames[resume as usize..].iter().cloned())
        .collect();
    assert_rebuilt(&got, &want, "after the burst");
    assert_eq!(rx.invalid().total(), 0);
    assert_eq!(rx.stats().packets_lost(), (to - from) as u64);
}

/// Rewrite Q of every packet and, for the first packet of a frame, keep or
/// strip the in-band tables.
fn with_q(packet: &[u8], q: u8, keep_tables: bool) -> Vec<u8> {
    let rtp = RtpPacket::parse(packet).unwrap();
    let mut payload = JpegPayload::parse(rtp.payload()).unwrap();
    payload.main.q = q;
    if !keep_tables {
        if let Some(quant) = payload.quant.as_mut() {
            quant.data = &[];
        }
    }
    let header_len = packet.len() - rtp.payload().len();
    let mut out = packet[..header_len].to_vec();
    let mut head = vec![0u8; payload.header_len()];
    payload.emit_headers(&mut head).unwrap();
    out.extend_from_slice(&head);
    out.extend_from_slice(payload.data);
    out
}

/// The packets of `frames` (the first at timestamp 0, the second at 3000)
/// sent with Q `q` (128..=254): frame 0 carries its tables, the others
/// send Length 0 (use the tables cached for this Q).
fn tables_in_first_frame_only(frames: &[(Vec<u8>, u32)], q: u8) -> Vec<Vec<u8>> {
    let packets = packetize(small_mtu(), frames);
    let first_of_frame1 = packets
        .iter()
        .position(|p| RtpPacket::parse(p).unwrap().timestamp() == 3000)
        .unwrap();
    packets
        .iter()
        .enumerate()
        .map(|(i, p)| with_q(p, q, i < first_of_frame1))
        .collect()
}

#[test]
fn q128_to_254_tables_are_cached_per_q() {
    let pictures: Vec<_> = (0..3)
        .map(|seed| Picture {
            seed,
            annex_k_tables: false,
            ..Picture::new(96, 64)
        })
        .collect();
    let frames = frames(&pictures);
    let rewritten = tables_in_first_frame_only(&frames, 200);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &rewritten);
    assert_rebuilt(&got, &frames, "rebuilt");

    // Without the first frame nothing is cached: dropped with a reason.
    let mut rx = receiver(Config::default());
    let first_of_frame1 = rewritten
        .iter()
        .position(|p| RtpPacket::parse(p).unwrap().timestamp() == 3000)
        .unwrap();
    let got = run(&mut rx, &rewritten[first_of_frame1..]);
    assert!(got.is_empty());
    assert_eq!(rx.stats().frames_dropped.get(DropReason::MissingTables), 2);
}

#[test]
fn hostile_packets_are_counted_and_harmless() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    let good = &packets[0];
    let mut hostile: Vec<(Vec<u8>, InvalidReason)> = Vec::new();
    hostile.push((good[..5].to_vec(), InvalidReason::RtpTruncated));
    let mut v = good.clone();
    v[0] = 0x40 | (v[0] & 0x3F);
    hostile.push((v, InvalidReason::RtpVersion));
    let mut v = good.clone();
    v[0] |= 0x0F;
    v.truncate(40);
    hostile.push((v, InvalidReason::RtpCsrcOverrun));
    let mut v = good[..12].to_vec();
    v[0] |= 0x10;
    v.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xFF]);
    hostile.push((v, InvalidReason::RtpExtensionOverrun));
    let mut v = good.clone();
    v[0] |= 0x20;
    *v.last_mut().unwrap() = 255;
    let len = v.len();
    v.truncate(len.min(200));
    *v.last_mut().unwrap() = 255;
    hostile.push((v, InvalidReason::RtpPadding));
    hostile.push((
        edited(good, |h| h.set_payload_type(33)),
        InvalidReason::PayloadType,
    ));
    let mut v = good.clone();
    v[12 + 4] = 7; // type 7
    hostile.push((v, InvalidReason::UnsupportedType));
    let mut v = good.clone();
    v[12] = 1; // type-specific
    hostile.push((v, InvalidReason::TypeSpecific));
    let mut v = good[..12].to_vec();
    v.extend_from_slice(&[0, 0xFF, 0xFF, 0xF0, 1, 50, 8, 8]);
    v.extend_from_slice(&[0xAA; 100]);
    hostile.push((v, InvalidReason::FragmentOffset));

    // Interleave the hostile datagrams with the good stream.
    let mut mixed = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        mixed.push(p.clone());
        mixed.push(hostile[i % hostile.len()].0.clone());
    }
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &mixed);
    assert_rebuilt(&got, &frames, "rebuilt");
    for (datagram, reason) in &hostile {
        let mut fresh = receiver(Config::default());
        assert_eq!(
            fresh.push(Instant::ZERO, datagram),
            Verdict::Invalid(*reason),
            "{reason}"
        );
    }
    assert_eq!(rx.invalid().total(), packets.len() as u64);
    assert_eq!(rx.stats().packets_lost(), 0);
}

#[test]
fn frame_larger_than_buffer_is_dropped_with_reason() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    let mut rx: Depacketizer<Vec<u8>, 2> = Depacketizer::new(
        Config::default(),
        core::array::from_fn(|_| vec![0u8; frame_buffer_len(300)]),
    );
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        assert!(rx.next_frame().is_none());
    }
    assert_eq!(rx.stats().frames_dropped.get(DropReason::TooLarge), 5);
}

#[test]
fn stalled_frame_expires_by_the_callers_clock() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    let mut rx = receiver(Config::default());
    let _ = rx.push(Instant::from_millis(0), &packets[0]);
    let deadline = rx.poll_timeout().unwrap();
    assert_eq!(deadline, Instant::from_millis(1000));
    rx.handle_timeout(Instant::from_millis(999));
    assert_eq!(rx.stats().frames_dropped_total(), 0);
    rx.handle_timeout(Instant::from_millis(1001));
    assert_eq!(rx.stats().frames_dropped.get(DropReason::Expired), 1);
    assert!(rx.poll_timeout().is_none());
}

#[test]
fn take_frame_hands_over_the_buffer() {
    let frames = five_frames();
    let packets = packetize(small_mtu(), &frames);
    let mut rx = receiver(Config::default());
    let mut taken = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        while let Ok(frame) = rx.take_frame(vec![0u8; frame_buffer_len(512 * 1024)]) {
            taken.push(frame);
        }
    }
    assert_eq!(taken.len(), 5);
    for (frame, (original, ts)) in taken.iter().zip(&frames) {
        assert_eq!(frame.info.timestamp, *ts);
        assert_same_pixels(frame.jpeg(), original, "rebuilt");
    }
}

#[test]
fn a_confirmed_timestamp_jump_becomes_the_new_reference() {
    let frames = five_frames();
    // The sender's clock jumps by an hour between frames 2 and 3 while its
    // sequence numbers run on.
    let shifted: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(i, (j, t))| {
            let t = if i >= 2 {
                t.wrapping_add(3600 * 90_000)
            } else {
                *t
            };
            (j.clone(), t)
        })
        .collect();
    let packets = packetize(small_mtu(), &shifted);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    // The first packet after the jump is held until the next confirms the
    // jump, then replayed: every frame comes through.
    assert_rebuilt(&got, &shifted, "across the jump");
    assert_eq!(rx.invalid().total(), 0);
    assert_eq!(rx.stats().frames_dropped.total(), 0);
    assert_eq!(rx.stats().packets_lost(), 0);
}

#[test]
fn frames_stamped_alike_are_told_apart_by_the_marker() {
    // Some senders (GStreamer's multifilesrc without a framerate, for
    // one) give consecutive frames the same RTP timestamp.
    let frames: Vec<_> = five_frames().into_iter().map(|(j, _)| (j, 777)).collect();
    let packets = packetize(small_mtu(), &frames);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_eq!(got.len(), 5);
    for ((ts, jpeg), (original, _)) in got.iter().zip(&frames) {
        assert_eq!(*ts, 777);
        assert_same_pixels(jpeg, original, "rebuilt");
    }
    assert_eq!(rx.stats().packets_late, 0);
    assert_eq!(rx.stats().frames_dropped_total(), 0);

    // A lost middle packet still costs exactly its frame.
    let mut lossy = packets.clone();
    lossy.remove(packets.len() / 2);
    let mut rx = receiver(Config::default());
    assert_eq!(run(&mut rx, &lossy).len(), 4);
    assert_eq!(rx.stats().frames_dropped_total(), 1);
}

/// `jpeg` (SOF0, 8-bit tables) turned into what libjpeg writes at very low
/// qualities: the DQT tables whose id bit is set in `wide_ids` become
/// 16-bit (Pq = 1) with coefficients scaled past 255, and SOF0 becomes
/// SOF1 (extended sequential). The scan is kept: it decodes, to other
/// pixels, under the new tables.
fn with_16bit_tables(jpeg: &[u8], wide_ids: u8) -> Vec<u8> {
    use mjpeg_rtp_core::jpeg::{marker, Segments};
    let mut out = vec![0xFF, marker::SOI];
    let mut segments = Segments::new(&jpeg[2..]);
    for segment in segments.by_ref() {
        let segment = segment.unwrap();
        let mut payload = segment.payload.to_vec();
        let mut code = segment.marker;
        if code == marker::DQT {
            payload.clear();
            for table in segment.payload.chunks_exact(65) {
                let id = table[0] & 0x0F;
                if wide_ids >> id & 1 == 1 {
                    payload.push(0x10 | id);
                    for &v in &table[1..] {
                        payload.extend_from_slice(&(u16::from(v) * 3 + 250).to_be_bytes());
                    }
                } else {
                    payload.extend_from_slice(table);
                }
            }
        }
        if code == marker::SOF0 {
            code = marker::SOF1;
        }
        out.extend_from_slice(&[0xFF, code]);
        out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(&payload);
    }
    out.extend_from_slice(&jpeg[2 + segments.position()..]);
    out
}

/// The marker codes of a JPEG's segments up to SOS, and the Pq/Tq bytes
/// of its DQT tables.
fn markers_and_dqt(jpeg: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use mjpeg_rtp_core::jpeg::{marker, Segments};
    let mut markers = Vec::new();
    let mut pq_tq = Vec::new();
    for segment in Segments::new(&jpeg[2..]) {
        let segment = segment.unwrap();
        markers.push(segment.marker);
        if segment.marker == marker::DQT {
            pq_tq.push(segment.payload[0]);
        }
    }
    (markers, pq_tq)
}

#[test]
fn sixteen_bit_tables_roundtrip() {
    use mjpeg_rtp_core::jpeg::marker;
    // (tables made 16-bit, Precision sent, in-band length)
    for (wide_ids, precision, length) in [(0b11, 0b11, 256), (0b01, 0b01, 192), (0b10, 0b10, 192)] {
        for (sampling, restart_interval) in [(Sampling::Yuv420, 0), (Sampling::Yuv422, 2)] {
            let frames: Vec<_> = (0..3)
                .map(|seed| {
                    let jpeg = Picture {
                        seed,
                        sampling,
                        restart_interval,
                        ..Picture::new(96, 64)
                    }
                    .encode();
                    (with_16bit_tables(&jpeg, wide_ids), 3000 * seed)
                })
                .collect();
            let packets = packetize(small_mtu(), &frames);
            let rtp = RtpPacket::parse(&packets[0]).unwrap();
            let quant = JpegPayload::parse(rtp.payload()).unwrap().quant.unwrap();
            assert_eq!((quant.precision, quant.data.len()), (precision, length));
            let mut rx = receiver(Config::default());
            let got = run(&mut rx, &packets);
            assert_eq!(got.len(), 3, "tables {wide_ids:#b}");
            for ((_, jpeg), (original, _)) in got.iter().zip(&frames) {
                assert_same_pixels(jpeg, original, "16-bit tables");
                let (markers, pq_tq) = markers_and_dqt(jpeg);
                assert!(markers.contains(&marker::SOF1) && !markers.contains(&marker::SOF0));
                let want: Vec<u8> = (0..2).map(|id| (wide_ids >> id & 1) << 4 | id).collect();
                assert_eq!(pq_tq, want);
            }
            assert_eq!(rx.invalid().total(), 0);
        }
    }
}

#[test]
fn sixteen_bit_tables_are_cached_per_q_with_their_precision() {
    let frames: Vec<_> = (0..3)
        .map(|seed| {
            let jpeg = Picture {
                seed,
                ..Picture::new(96, 64)
            }
            .encode();
            (with_16bit_tables(&jpeg, 0b01), 3000 * seed)
        })
        .collect();
    // Frame 0 carries the tables (luma 16-bit) with Q=130; frames 1 and 2
    // send Length 0 and must be rebuilt with the cached 16-bit luma table.
    let rewritten = tables_in_first_frame_only(&frames, 130);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &rewritten);
    assert_rebuilt(&got, &frames, "16-bit tables");
}

fn dynamic_pt(payload_type: u8) -> PacketizerConfig {
    PacketizerConfig {
        payload_type,
        ..small_mtu()
    }
}

#[test]
fn a_dynamic_payload_type_is_learnt_without_configuration() {
    let frames = five_frames();
    let packets = packetize(dynamic_pt(96), &frames);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_rebuilt(&got, &frames, "PT 96 learnt");
    let stats = rx.stats();
    assert_eq!(
        (stats.payload_type, stats.payload_type_detected),
        (Some(96), true)
    );
    assert_eq!(rx.invalid().total(), 0);

    // Configured, the same stream is the same frames, not "detected".
    let mut rx = receiver(Config {
        dynamic_payload_type: Some(96),
        ..Config::default()
    });
    assert_eq!(run(&mut rx, &packets).len(), frames.len());
    assert!(!rx.stats().payload_type_detected);
}

#[test]
fn once_learnt_other_dynamic_payload_types_are_refused() {
    let frames = five_frames();
    let packets = packetize(dynamic_pt(96), &frames[..3]);
    // Two more frames from the same stream but on PT 97: refused.
    let mut later = packetize(dynamic_pt(96), &frames);
    let tail = later.split_off(packets.len());
    let mut sent = packets.clone();
    for p in &tail {
        sent.push(edited(p, |h| h.set_payload_type(97)));
    }
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &sent);
    assert_eq!(got.len(), 3);
    assert_eq!(
        rx.invalid().get(InvalidReason::PayloadType),
        tail.len() as u64
    );
    assert_eq!(rx.stats().payload_type, Some(96));
}

/// A JPEG small enough to travel in one packet.
fn one_packet_jpeg() -> Vec<u8> {
    Picture {
        quality: 10,
        ..Picture::new(16, 16)
    }
    .encode()
}

/// A one-packet frame at timestamp 0, then [`five_frames`] from 3000.
fn one_packet_frame_then_five() -> Vec<(Vec<u8>, u32)> {
    let mut frames = vec![(one_packet_jpeg(), 0)];
    frames.extend(five_frames().into_iter().map(|(j, ts)| (j, ts + 3000)));
    frames
}

#[test]
fn frames_wait_until_the_dynamic_payload_type_is_confirmed() {
    // A one-packet frame first: it completes before the type is locked,
    // waits, and comes out (in order) when the next frame's packets lock
    // it.
    let frames = one_packet_frame_then_five();
    let packets = packetize(dynamic_pt(100), &frames);
    assert!(packets.len() > frames.len() + 2);
    let mut rx = receiver(Config::default());
    assert_eq!(rx.push(Instant::ZERO, &packets[0]), Verdict::Completed);
    assert!(
        rx.next_frame().is_none(),
        "held before the type is confirmed"
    );
    let got = run(&mut rx, &packets[1..]);
    assert_rebuilt(&got, &frames, "held then released");
}

#[test]
fn a_lone_datagram_of_a_dynamic_type_never_becomes_a_frame() {
    let tiny = one_packet_jpeg();
    let packets = packetize(dynamic_pt(111), &[(tiny.clone(), 0), (tiny, 3000)]);
    assert_eq!(packets.len(), 2, "two one-packet frames");
    let mut rx = receiver(Config::default());
    assert!(run(&mut rx, &packets).is_empty());
    assert!(!rx.stats().payload_type_detected);
}

#[test]
fn a_stray_dynamic_datagram_does_not_hold_back_a_pt26_stream() {
    // A one-packet frame on PT 97 (a stray that parses as RFC 2435), then
    // the camera's PT 26 frames: those all come out, the stray never.
    let frames = one_packet_frame_then_five();
    let mut packets = packetize(small_mtu(), &frames);
    packets[0] = edited(&packets[0], |h| h.set_payload_type(97));
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_rebuilt(&got, &frames[1..], "PT 26 after a stray");
    assert_eq!(rx.stats().payload_type, Some(26));
}

/// The packets of `frames` as an ESP32 server sends them: Q 128 with
/// tables at offset 0, `later_q` in every later fragment.
fn esp32_packets(frames: &[(Vec<u8>, u32)], later_q: u8) -> Vec<Vec<u8>> {
    let mut packetizer = mjpeg_rtp_core::Packetizer::new(small_mtu());
    frames
        .iter()
        .flat_map(|(jpeg, ts)| {
            let packets = mjpeg_rtp_testkit::rtp::frame_packets(&mut packetizer, jpeg, *ts);
            esp32::q_changed(&packets, jpeg, later_q)
        })
        .collect()
}

#[test]
fn q_may_change_after_the_first_fragment() {
    let frames = five_frames();
    for later_q in [esp32::MICRO_RTSP_LATER_Q, esp32::ESPP_LATER_Q, 200, 255, 0] {
        let packets = esp32_packets(&frames, later_q);
        let mut rx = receiver(Config::default());
        let mut qs = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let _ = rx.push(Instant::from_millis(i as u64), p);
            while let Some(f) = rx.next_frame() {
                qs.push(f.info.q);
                assert_same_pixels(f.jpeg, &frames[qs.len() - 1].0, "Q changed");
            }
        }
        let stats = rx.stats();
        assert_eq!(stats.frames_complete, 5, "later Q {later_q}: {stats:?}");
        assert_eq!(stats.frames_dropped_total(), 0);
        assert_eq!(stats.packets_late, 0);
        // The frame's Q is the offset-0 fragment's.
        assert_eq!(qs, [esp32::FIRST_Q; 5]);
        assert_eq!(stats.tolerated.get(Tolerated::QChangedMidFrame), 5);
    }
}

#[test]
fn q_of_the_first_fragment_counts_even_when_it_comes_last() {
    let frames = five_frames();
    let mut packets = esp32_packets(&frames, esp32::MICRO_RTSP_LATER_Q);
    // Every frame's first fragment behind its second (the marker packet
    // of a two-packet frame then comes first).
    let firsts: Vec<usize> = (0..packets.len())
        .filter(|&i| esp32::fragment_offset(&packets[i]) == 0)
        .collect();
    for i in firsts {
        packets.swap(i, i + 1);
    }
    let mut rx = receiver(Config::default());
    let mut got = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let _ = rx.push(Instant::from_millis(i as u64), p);
        while let Some(f) = rx.next_frame() {
            assert_eq!(f.info.q, esp32::FIRST_Q);
            got.push((f.info.timestamp, f.jpeg.to_vec()));
        }
    }
    assert_rebuilt(&got, &frames, "first fragment late");
    assert_eq!(rx.stats().tolerated.get(Tolerated::QChangedMidFrame), 5);
}

/// A copy of `packet` with main-header byte `at` (0: type-specific, 4:
/// type, 5: Q, 6: width, 7: height) set to `value`.
fn with_main_header_byte(packet: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut p = packet.to_vec();
    p[12 + at] = value;
    p
}

#[test]
fn type_size_or_restart_interval_changing_mid_frame_still_drops_the_frame() {
    let plain = five_frames();
    let restart = frames(
        &(0..5)
            .map(|seed| Picture {
                seed,
                restart_interval: 2,
                ..Picture::new(96, 64)
            })
            .collect::<Vec<_>>(),
    );
    type Edit = fn(&[u8]) -> Vec<u8>;
    type Frames = [(Vec<u8>, u32)];
    let edits: [(&str, &Frames, Edit); 5] = [
        ("type", &plain, |p| with_main_header_byte(p, 4, p[16] ^ 1)),
        ("width", &plain, |p| with_main_header_byte(p, 6, p[18] + 1)),
        ("height", &plain, |p| with_main_header_byte(p, 7, p[19] - 1)),
        ("restart type", &restart, |p| {
            with_main_header_byte(p, 4, p[16] ^ 1)
        }),
        ("restart interval", &restart, |p| {
            let mut p = p.to_vec();
            p[12 + 8 + 1] ^= 1; // the interval's low byte
            p
        }),
    ];
    for (what, frames, edit) in edits {
        let mut packets = esp32_packets(frames, esp32::MICRO_RTSP_LATER_Q);
        // The third fragment of frame 2.
        let at = packets
            .iter()
            .position(|p| RtpPacket::parse(p).unwrap().timestamp() == 6000)
            .unwrap()
            + 2;
        packets[at] = edit(&packets[at]);
        let mut rx = receiver(Config::default());
        let got = run(&mut rx, &packets);
        let stats = rx.stats();
        assert_eq!(got.len(), 4, "{what}: {stats:?}");
        assert!(got.iter().all(|(ts, _)| *ts != 6000), "{what}");
        assert_eq!(
            stats.frames_dropped.get(DropReason::Inconsistent),
            1,
            "{what}"
        );
        assert_eq!(stats.frames_dropped_total(), 1, "{what}");
        assert_eq!(
            stats.tolerated.get(Tolerated::QChangedMidFrame),
            4,
            "{what}"
        );
    }
}

#[test]
fn a_whole_jpeg_in_the_payload_is_handed_out_as_sent() {
    let pictures: Vec<_> = (0..4)
        .map(|seed| Picture {
            seed,
            sampling: if seed % 2 == 0 {
                Sampling::Yuv422
            } else {
                Sampling::Yuv420
            },
            ..Picture::new(96 + 16 * seed as u16, 64)
        })
        .collect();
    let inner = frames(&pictures);
    let wrapped: Vec<_> = inner
        .iter()
        .map(|(jpeg, ts)| (esp32::jfif_wrapped(jpeg), *ts))
        .collect();
    // As espp sends it: the Q change too.
    let packets = esp32_packets(&wrapped, esp32::ESPP_LATER_Q);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_eq!(got.len(), 4);
    for ((ts, jpeg), (original, want_ts)) in got.iter().zip(&inner) {
        assert_eq!(ts, want_ts);
        assert_eq!(jpeg, original, "the sender's JPEG, byte for byte");
    }
    let stats = rx.stats();
    assert_eq!(stats.tolerated.get(Tolerated::JfifInPayload), 4);
    assert_eq!(stats.tolerated.get(Tolerated::QChangedMidFrame), 4);
    assert_eq!((stats.width, stats.height), (144, 64));

    // The size comes from the JPEG's own SOF, and the limits apply to it.
    let mut rx = receiver(Config {
        max_width: 100,
        ..Config::default()
    });
    assert_eq!(run(&mut rx, &packets).len(), 1);
    let drops = rx.stats().frames_dropped;
    assert_eq!(drops.get(DropReason::DimensionsTooLarge), 3);
}

#[test]
fn a_scan_that_starts_with_soi_but_is_no_whole_jpeg_is_rebuilt_as_usual() {
    let jpeg = Picture::new(96, 64).encode();
    // The inner file cut before its SOS: headers only.
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let mut outer = esp32::jfif_wrapped(&jpeg);
    outer.truncate(outer.len() - jpeg.len() + sos);
    outer.extend_from_slice(&[0xFF, 0xD9]);
    let packets = packetize(small_mtu(), &[(outer.clone(), 0)]);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, outer, "rebuilt around the SOI-led scan");
    assert_eq!(rx.stats().tolerated.total(), 0);

    // With restart markers (type 64/65) the scan is never taken as a
    // whole JPEG.
    let restart = Picture {
        restart_interval: 1,
        ..Picture::new(96, 64)
    }
    .encode();
    let info = mjpeg_rtp_core::jpeg::JpegInfo::parse(&restart).unwrap();
    let params = mjpeg_rtp_core::jpeg::FrameHeaderParams::new(96, 64, info.sampling, &info.tables)
        .with_restart_interval(1);
    let mut outer = vec![0u8; mjpeg_rtp_core::jpeg::MAX_HEADER_LEN];
    let n = mjpeg_rtp_core::jpeg::write_headers(&params, &mut outer).unwrap();
    outer.truncate(n);
    outer.extend_from_slice(&jpeg);
    let packets = packetize(small_mtu(), &[(outer.clone(), 0)]);
    let mut rx = receiver(Config::default());
    let got = run(&mut rx, &packets);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, outer);
    assert_eq!(rx.stats().tolerated.total(), 0);
}

/// The new SSRC's second packet is lost and the old stream falls silent:
/// the third packet switches the stream on the silence, and the first,
/// held from the same SSRC, still opens the new stream with its frame.
#[test]
fn a_held_datagram_of_the_ssrc_that_takes_over_after_silence_is_kept() {
    let a = packetize(small_mtu(), &five_frames()[..3]);
    // Pictures small enough that each is one packet.
    let small = frames(
        &(3..5)
            .map(|seed| Picture {
                seed,
                ..Picture::new(16, 16)
            })
            .collect::<Vec<_>>(),
    );
    let b = packetize(
        PacketizerConfig {
            ssrc: 0xBEEF,
            ..PacketizerConfig::default()
        },
        &small,
    );
    assert_eq!(b.len(), 2, "one packet per frame");
    let mut rx = receiver(Config::default());
    let mut t = 0;
    for p in &a {
        let _ = rx.push(Instant::from_millis(t), p);
        t += 1;
    }
    while rx.next_frame().is_some() {}
    t += 1;
    assert_eq!(rx.push(Instant::from_millis(t), &b[0]), Verdict::Held);
    // b[1] is lost: a third frame from B after A's silence.
    let third = edited(&b[1], |h| {
        h.set_sequence(RtpPacket::parse(&b[1]).unwrap().sequence().wrapping_add(1));
        h.set_timestamp(RtpPacket::parse(&b[1]).unwrap().timestamp() + 3000);
    });
    t += Config::default().ssrc_silence.as_millis() as u64 + 1;
    let _ = rx.push(Instant::from_millis(t), &third);
    let mut got = Vec::new();
    while let Some(f) = rx.next_frame() {
        got.push(f.jpeg.to_vec());
    }
    assert_eq!(got.len(), 2, "both of B's frames that arrived");
    assert_eq!(
        got[0],
        reassembled_alone(&b[..1])[0].1,
        "the held packet's frame, byte-exact"
    );
    assert_eq!(rx.invalid().get(InvalidReason::SsrcUnconfirmed), 0);
    assert_eq!(rx.stats().packets_received, 2);
}
