//! The capture every section reads: one RTP/JPEG stream, either given or
//! generated ([`synth`]) into a scratch directory, and loaded as the RTP
//! datagrams of each frame.
//!
//! A given capture is first rewritten ([`normalize`]): its first RTP/JPEG
//! stream alone, looped up to the frame count asked for, as a plain
//! Ethernet/IPv4/UDP pcap. Every contender then reads the same datagrams
//! whatever the user captured: GStreamer's `pcapparse` knows neither
//! pcapng nor `tcpdump -i any`'s Linux cooked v2, other streams or other
//! UDP traffic would reach its depayloader unfiltered, and a capture of a
//! few frames would measure start-up rather than decoding.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mjpeg_rtp_capture::reader::read_udp;
use mjpeg_rtp_capture::summary::CaptureSummary;
use mjpeg_rtp_core::rtp::{HeaderMut, RtpPacket};
use mjpeg_rtp_core::validate;
use mjpeg_rtp_testkit::capture::{CaptureFormat, CaptureWriter};

use crate::synth::{self, SynthSpec};

/// The RTP datagrams of the capture's first RTP/JPEG stream (first port
/// and SSRC seen), one `Vec` of packets per frame, in order. A frame
/// ends at its marker packet or where the timestamp changes: some
/// senders (GStreamer's `rtpjpegpay` fed buffers without timestamps)
/// stamp every frame alike.
pub fn load_rtp_frames(path: &Path) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut summary = CaptureSummary::default();
    let mut key: Option<(u16, u32)> = None;
    let mut frames: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut last_ts: Option<u32> = None;
    let mut after_marker = false;
    read_udp(path, &mut summary, |d| {
        let Ok((rtp, _)) = validate(d.payload, None) else {
            return Ok(());
        };
        let this = (d.dst.port(), rtp.ssrc());
        if *key.get_or_insert(this) != this {
            return Ok(());
        }
        if last_ts != Some(rtp.timestamp()) || after_marker {
            last_ts = Some(rtp.timestamp());
            frames.push(Vec::new());
        }
        after_marker = rtp.marker();
        if let Some(f) = frames.last_mut() {
            f.push(d.payload.to_vec());
        }
        Ok(())
    })?;
    if frames.is_empty() {
        bail!("{}: no RTP/JPEG stream", path.display());
    }
    Ok(frames)
}

/// A given capture rewritten for the bench ([`normalize`]).
#[derive(Debug)]
pub struct Normalized {
    /// Frames of the stream in the given capture.
    pub source_frames: usize,
    /// Times the stream was played to reach the frame count (1: as is).
    pub passes: usize,
    /// Frame rate the rewrite is timed at: the stream's own (median RTP
    /// timestamp step between frames), 30 when it has one frame.
    pub fps: f64,
}

/// Rewrite the first RTP/JPEG stream of `given` to `path` as a plain pcap
/// ([`write_pcap`]), played again until it has at least `min_frames`
/// frames ([`loop_frames`]). `path` must not be `given`.
pub fn normalize(given: &Path, min_frames: usize, path: &Path) -> Result<Normalized> {
    if fs::canonicalize(given).ok() == fs::canonicalize(path).ok() && path.exists() {
        bail!(
            "{}: the rewrite would overwrite the given capture",
            path.display()
        );
    }
    let source = load_rtp_frames(given)?;
    let bytes: usize = source.iter().flatten().map(Vec::len).sum();
    let passes = min_frames.div_ceil(source.len()).max(1);
    if bytes.saturating_mul(passes) > MAX_REWRITE_BYTES {
        bail!(
            "{}: {} frames of {} MB played {passes} times would not fit in memory; \
             ask for fewer --frames",
            given.display(),
            source.len(),
            bytes >> 20
        );
    }
    let fps = stream_fps(&source);
    let frames = loop_frames(&source, passes, fps);
    write_pcap(path, &frames, fps)?;
    Ok(Normalized {
        source_frames: source.len(),
        passes,
        fps,
    })
}

/// Most RTP bytes a rewrite holds (it is built in memory).
const MAX_REWRITE_BYTES: usize = 4 << 30;

/// The RTP header of a frame's first packet (every packet of a loaded
/// stream parses: [`load_rtp_frames`] keeps no other).
fn first_header(frame: &[Vec<u8>]) -> Option<RtpPacket<'_>> {
    RtpPacket::parse(frame.first()?).ok()
}

/// The stream's frame rate: 90 kHz over the median timestamp step
/// between consecutive frames; 30 without two frames.
fn stream_fps(frames: &[Vec<Vec<u8>>]) -> f64 {
    let stamps: Vec<u32> = frames
        .iter()
        .filter_map(|f| first_header(f).map(|h| h.timestamp()))
        .collect();
    let mut steps: Vec<u32> = stamps
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .filter(|&step| step > 0 && step < 1 << 31)
        .collect();
    steps.sort_unstable();
    match steps.get(steps.len() / 2) {
        Some(&step) => synth::CLOCK_RATE as f64 / f64::from(step),
        None => 30.0,
    }
}

/// Lowest and highest of a wrapping counter over `values`, unwrapped:
/// each value is taken as the step from the one before it closest to
/// zero (a 16-bit sequence number going from 65535 to 0 moves up by one,
/// a packet arriving before its predecessor moves down), so that the
/// span is right whatever the first value and the order are.
fn unwrapped_range(values: impl Iterator<Item = (u32, u32)>) -> Option<(i64, i64)> {
    let mut range: Option<(i64, i64)> = None;
    let mut previous: Option<(u32, i64)> = None;
    for (value, bits) in values {
        let at = match previous {
            None => 0,
            Some((before, at)) => {
                let modulus = 1i64 << bits;
                let step = (i64::from(value) - i64::from(before)).rem_euclid(modulus);
                at + if step >= modulus / 2 {
                    step - modulus
                } else {
                    step
                }
            }
        };
        previous = Some((value, at));
        range = Some(range.map_or((at, at), |(lo, hi)| (lo.min(at), hi.max(at))));
    }
    range
}

/// `frames` (one stream as captured) played `passes` times. Each pass
/// after the first moves every sequence number by the span of the
/// capture's sequence numbers and every timestamp by the span of its
/// timestamps plus one frame at `fps`, so the stream runs on without a
/// jump and keeps the capture's own gaps, order and duplicates: a frame
/// that was incomplete in the capture is incomplete in every pass.
pub fn loop_frames(frames: &[Vec<Vec<u8>>], passes: usize, fps: f64) -> Vec<Vec<Vec<u8>>> {
    let headers = || {
        frames
            .iter()
            .flatten()
            .filter_map(|p| RtpPacket::parse(p).ok())
    };
    let seq = unwrapped_range(headers().map(|h| (u32::from(h.sequence()), 16)));
    let ts = unwrapped_range(headers().map(|h| (h.timestamp(), 32)));
    let (Some((seq_lo, seq_hi)), Some((ts_lo, ts_hi))) = (seq, ts) else {
        return frames.to_vec();
    };
    let frame_ticks = (synth::CLOCK_RATE as f64 / fps).round() as i64;
    // The header fields are the counters modulo their width, and so are
    // the shifts: `as` keeps the low bits.
    let seq_span = (seq_hi - seq_lo + 1) as u16;
    let ts_span = (ts_hi - ts_lo + frame_ticks) as u32;
    let mut looped = Vec::with_capacity(passes * frames.len());
    for pass in 0..passes {
        let seq_shift = seq_span.wrapping_mul(pass as u16);
        let ts_shift = ts_span.wrapping_mul(pass as u32);
        for frame in frames {
            let mut frame = frame.clone();
            for packet in &mut frame {
                if let Ok(mut header) = HeaderMut::new_checked(packet) {
                    let (seq, ts) = (header.sequence(), header.timestamp());
                    header.set_sequence(seq.wrapping_add(seq_shift));
                    header.set_timestamp(ts.wrapping_add(ts_shift));
                }
            }
            looped.push(frame);
        }
    }
    looped
}

/// Generate the capture `spec` describes at `path`; returns its RTP
/// datagrams, one `Vec` of packets per frame.
pub fn generate(spec: &SynthSpec, path: &Path) -> Result<Vec<Vec<Vec<u8>>>> {
    let jpegs = synth::jpegs(spec)?;
    let frames = synth::rtp_frames(&jpegs, spec.frames, spec.fps, spec.mtu)?;
    write_pcap(path, &frames, spec.fps)?;
    Ok(frames)
}

/// A scratch directory of this process, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `<temp dir>/mjpeg-rtp-<what>-<pid>`.
    pub fn new(what: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("mjpeg-rtp-{what}-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Address the capture's datagrams come from.
const SRC: ([u8; 4], u16) = ([10, 0, 0, 2], 40_000);
/// Address (and port) the capture's datagrams go to.
const DST: ([u8; 4], u16) = ([10, 0, 0, 1], 5004);

/// Write the frames as a classic pcap (Ethernet, IPv4, UDP from [`SRC`]
/// to [`DST`]) that GStreamer's `pcapparse` reads too: frame `n` at
/// `n / fps` seconds, its packets 10 µs apart. The writer is the tests'
/// ([`mjpeg_rtp_testkit::capture`]): one capture writer in the workspace.
pub fn write_pcap(path: &Path, frames: &[Vec<Vec<u8>>], fps: f64) -> Result<()> {
    let to_addr = |(ip, port): ([u8; 4], u16)| SocketAddr::from((ip, port));
    let mut writer = CaptureWriter::create(path, CaptureFormat::default())
        .with_context(|| format!("cannot create {}", path.display()))?;
    for (n, packets) in frames.iter().enumerate() {
        let start = Duration::from_secs_f64(n as f64 / fps);
        for (i, payload) in packets.iter().enumerate() {
            let time = start + Duration::from_micros(10 * i as u64);
            writer
                .write_udp(time, to_addr(SRC), to_addr(DST), payload)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    writer
        .finish()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tcpdump -i any` capture (Linux cooked v2, which GStreamer's
    /// `pcapparse` refuses) of four GStreamer frames, rewritten to at
    /// least ten: three passes, 12 frames, sequence numbers and timestamps running on, and
    /// every pass rebuilding the very JPEGs of the original.
    #[test]
    fn a_short_cooked_capture_is_rewritten_and_looped() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let given = fixtures.join("gst-any/capture-sll2.pcap");
        let scratch = Scratch::new("normalize-test").unwrap();
        let path = scratch.path().join("n.pcap");
        let normalized = normalize(&given, 10, &path).unwrap();
        assert_eq!((normalized.source_frames, normalized.passes), (4, 3));
        let frames = load_rtp_frames(&path).unwrap();
        assert_eq!(frames.len(), 12);
        let headers: Vec<RtpPacket<'_>> = frames
            .iter()
            .flatten()
            .map(|p| RtpPacket::parse(p).unwrap())
            .collect();
        for pair in headers.windows(2) {
            assert_eq!(pair[1].sequence(), pair[0].sequence().wrapping_add(1));
            assert!(pair[1].timestamp().wrapping_sub(pair[0].timestamp()) < 1 << 31);
        }
        let rebuilt = |capture: &Path| {
            let mut jpegs = Vec::new();
            mjpeg_rtp_capture::replay::replay(capture, &Default::default(), |f| {
                jpegs.push(f.jpeg.to_vec());
                Ok(())
            })
            .unwrap();
            jpegs
        };
        let (originals, looped) = (rebuilt(&given), rebuilt(&path));
        assert_eq!((originals.len(), looped.len()), (4, 12));
        for (n, jpeg) in looped.iter().enumerate() {
            assert!(jpeg == &originals[n % 4], "pass {} frame {}", n / 4, n % 4);
        }
    }

    fn packet(seq: u16, ts: u32) -> Vec<u8> {
        let mut p = vec![0x80, 26];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 7, 0xAA]);
        p
    }

    /// (sequence, timestamp) of every packet of `frames` played
    /// `passes` times.
    fn looped(frames: &[Vec<Vec<u8>>], passes: usize) -> Vec<(u16, u32)> {
        loop_frames(frames, passes, 30.0)
            .iter()
            .flatten()
            .map(|p| {
                let h = RtpPacket::parse(p).unwrap();
                (h.sequence(), h.timestamp())
            })
            .collect()
    }

    /// A lost packet (sequence 0) and the wraps of both counters stay
    /// what they were in every pass: the loop moves numbers, it never
    /// closes a gap.
    #[test]
    fn looping_keeps_the_capture_s_gaps_across_wraps() {
        let frames = vec![
            vec![packet(65534, u32::MAX - 999), packet(65535, u32::MAX - 999)],
            vec![packet(1, 2000)],
        ];
        // Spans: 4 sequence numbers (65534..=1), 3000 ticks plus a frame.
        assert_eq!(
            looped(&frames, 3),
            [
                (65534, u32::MAX - 999),
                (65535, u32::MAX - 999),
                (1, 2000),
                (2, 5000),
                (3, 5000),
                (5, 8000),
                (6, 11000),
                (7, 11000),
                (9, 14000),
            ]
        );
    }

    /// A capture that starts with its first two packets swapped: the span
    /// is counted from the lowest number, not the first one seen, so the
    /// next pass starts right after the highest.
    #[test]
    fn looping_counts_the_span_from_the_lowest_number() {
        let frames = vec![vec![packet(101, 0), packet(100, 0), packet(102, 0)]];
        let numbers = looped(&frames, 2);
        let seqs: Vec<u16> = numbers.iter().map(|&(s, _)| s).collect();
        assert_eq!(seqs, [101, 100, 102, 104, 103, 105]);
        assert_eq!(numbers[3].1, 3000, "one frame later");
    }

    /// A three-frame 64x48 capture generated in a scratch directory named
    /// after `what`: the directory, the capture's path, its frames.
    fn small_capture(what: &str) -> (Scratch, PathBuf, Vec<Vec<Vec<u8>>>) {
        let spec = SynthSpec {
            width: 64,
            height: 48,
            distinct: 2,
            frames: 3,
            mtu: 200,
            ..SynthSpec::default()
        };
        let scratch = Scratch::new(what).unwrap();
        let path = scratch.path().join("c.pcap");
        let frames = generate(&spec, &path).unwrap();
        (scratch, path, frames)
    }

    /// A sender that stamps every frame alike: frames end at the marker.
    #[test]
    fn frames_of_one_timestamp_are_told_apart_by_the_marker() {
        let (_scratch, path, mut frames) = small_capture("one-timestamp-test");
        for packet in frames.iter_mut().flatten() {
            HeaderMut::new_checked(packet).unwrap().set_timestamp(7);
        }
        write_pcap(&path, &frames, 30.0).unwrap();
        assert_eq!(load_rtp_frames(&path).unwrap(), frames);
    }

    #[test]
    fn generated_capture_loads_back() {
        let (scratch, path, written) = small_capture("capture-test");
        assert_eq!(load_rtp_frames(&path).unwrap(), written);
        let dir = scratch.path().to_owned();
        drop(scratch);
        assert!(!dir.exists(), "scratch directory removed");
    }
}
