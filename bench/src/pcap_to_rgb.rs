//! Section 1, pcap -> RGB on one thread: CPU (getrusage user+sys) and
//! wall per frame of the `mjpeg-rtp pcap --decode` path (read capture,
//! demux, reassemble, decode) with each decoder in the build, against
//! that decoder alone on the same JPEGs with no RTP at all (the floor),
//! and against GStreamer's `pcapparse ! rtpjpegdepay ! jpegdec !
//! videoconvert` (CPU of the child process, `RUSAGE_CHILDREN`). All run
//! on one thread each: ours decodes on the calling thread, both decoders
//! are single-threaded, and the gst pipeline has no queue, so one
//! streaming thread does everything.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Result};
use mjpeg_rtp::decode::RgbDecoder;
use mjpeg_rtp::{DecodeOptions, Decoder, RgbSize};
use mjpeg_rtp_cli::output::SinkOptions;
use mjpeg_rtp_cli::pcap;

use crate::cpu::{measure, measure_child, ms};
use crate::report::{Contender, DecoderPaths, Gstreamer, PcapToRgb, Spread};

/// The GStreamer comparison pipeline, with `{}` for the capture.
pub const GST_PIPELINE: &str = "filesrc location={} ! pcapparse ! \
    application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26 ! \
    rtpjpegdepay ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! fakesink sync=false";

/// The `pcap` command's own code with `--decode --decoder <decoder>`
/// and `options`: the frames it completed.
fn our_pcap_path(capture: &Path, decoder: Decoder, options: DecodeOptions) -> Result<u64> {
    let output = SinkOptions {
        decode: true,
        decoder,
        decode_options: options,
        ..SinkOptions::default()
    };
    let summary = pcap::run(capture, &pcap::Options::default(), &output)?;
    let errors: u64 = summary.streams.iter().map(|s| s.decode_errors).sum();
    if errors > 0 {
        bail!("{errors} frames failed to decode");
    }
    Ok(summary
        .streams
        .iter()
        .map(|s| s.counters.frames_complete)
        .sum())
}

/// The floor: the decoder alone, one reused output buffer, as the
/// runtime's pooled buffers are.
pub(crate) fn decode_only(
    decoder: Decoder,
    options: DecodeOptions,
    jpegs: &[Vec<u8>],
) -> Result<()> {
    let mut decoder = RgbDecoder::new(decoder)?;
    let mut rgb = Vec::new();
    for jpeg in jpegs {
        decoder.decode_with(jpeg, &options, &mut rgb)?;
        black_box(&rgb);
    }
    Ok(())
}

/// The JPEGs our path rebuilds from `capture` (the floor's input) and
/// the size of the last one.
pub(crate) fn capture_jpegs(capture: &Path) -> Result<(Vec<Vec<u8>>, RgbSize)> {
    let mut jpegs = Vec::new();
    let mut picture = RgbSize {
        width: 0,
        height: 0,
    };
    mjpeg_rtp_capture::replay::replay(capture, &pcap::Options::default(), |f| {
        jpegs.push(f.jpeg.to_vec());
        picture = RgbSize {
            width: usize::from(f.info.width),
            height: usize::from(f.info.height),
        };
        Ok(())
    })?;
    if jpegs.is_empty() {
        bail!("{}: no complete frame", capture.display());
    }
    Ok((jpegs, picture))
}

/// Per decoder, (our pcap path, the decoder alone) at `options`, per
/// frame of `jpegs` (the frames of `capture`), `repeat` times. The
/// contenders take turns within each repetition, so that a burst of
/// load from elsewhere hits them alike.
pub(crate) fn measure_paths(
    capture: &Path,
    decoders: &[Decoder],
    options: DecodeOptions,
    jpegs: &[Vec<u8>],
    repeat: usize,
) -> Result<Vec<(Contender, Contender)>> {
    let n = jpegs.len();
    let per_frame = |d: Duration| ms(d) / n as f64;
    // [decoder] -> (ours cpu, ours wall, floor cpu, floor wall) samples.
    let mut samples = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; decoders.len()];
    for _ in 0..repeat {
        for (&decoder, s) in decoders.iter().zip(&mut samples) {
            let (cpu, wall, complete) = measure(|| our_pcap_path(capture, decoder, options))?;
            if complete as usize != n {
                bail!("pcap path completed {complete} frames, expected {n}");
            }
            s[0].push(per_frame(cpu));
            s[1].push(per_frame(wall));
            let (cpu, wall, ()) = measure(|| decode_only(decoder, options, jpegs))?;
            s[2].push(per_frame(cpu));
            s[3].push(per_frame(wall));
        }
    }
    Ok(samples
        .into_iter()
        .map(|[ours_cpu, ours_wall, floor_cpu, floor_wall]| {
            (
                Contender {
                    cpu_ms_per_frame: Spread::of(&ours_cpu),
                    wall_ms_per_frame: Spread::of(&ours_wall),
                },
                Contender {
                    cpu_ms_per_frame: Spread::of(&floor_cpu),
                    wall_ms_per_frame: Spread::of(&floor_wall),
                },
            )
        })
        .collect())
}

pub(crate) fn gst_available() -> Option<String> {
    let out = Command::new("gst-launch-1.0")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next().unwrap_or("").trim().to_owned())
}

/// Run `pipeline` (`{}` for the capture) on `capture`: (child CPU, wall).
pub(crate) fn gst_run(pipeline: &str, capture: &Path) -> Result<(Duration, Duration)> {
    let pipeline = pipeline.replace("{}", &capture.display().to_string());
    measure_child(
        Command::new("gst-launch-1.0")
            .arg("-q")
            .args(pipeline.split_whitespace()),
    )
}

/// Section 1 on `capture`, whose RTP datagrams are `frames`; `scratch`
/// holds GStreamer's one-frame capture.
pub fn pcap_to_rgb(
    capture: &Path,
    frames: &[Vec<Vec<u8>>],
    repeat: usize,
    gst: bool,
    scratch: &Path,
) -> Result<PcapToRgb> {
    // The floor's input: the very JPEGs our path rebuilds.
    let (jpegs, _) = capture_jpegs(capture)?;
    let n = jpegs.len();
    // Warm the page cache and the decoders' code paths.
    let _ = fs::read(capture)?;
    let decoders: Vec<Decoder> = Decoder::available().collect();
    for &decoder in &decoders {
        decode_only(decoder, DecodeOptions::FULL, &jpegs[..1])?;
    }

    let paths = measure_paths(capture, &decoders, DecodeOptions::FULL, &jpegs, repeat)?;
    let mut result = PcapToRgb {
        threads: 1,
        repeat,
        decoders: Vec::new(),
        gstreamer: None,
    };
    for (decoder, (ours, decode_only)) in decoders.iter().zip(paths) {
        result.decoders.push(DecoderPaths {
            decoder: decoder.name().to_owned(),
            ratio_vs_decode_only: ours.cpu_ms_per_frame.ratio(decode_only.cpu_ms_per_frame),
            ours,
            decode_only,
            ratio_vs_ffmpeg: None,
            ratio_vs_gstreamer: None,
        });
    }
    if gst {
        match gst_available() {
            None => log::warn!("gst-launch-1.0 not found: GStreamer comparison skipped"),
            Some(version) => {
                let one = scratch.join("one-frame.pcap");
                crate::capture::write_pcap(&one, &frames[..1], 30.0)?;
                // The first run may rebuild GStreamer's plugin registry.
                gst_run(GST_PIPELINE, &one)?;
                let mut startup = Vec::new();
                let (mut raw, mut net, mut wall) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..repeat {
                    let (c1, _) = gst_run(GST_PIPELINE, &one)?;
                    startup.push(ms(c1));
                    let (c, w) = gst_run(GST_PIPELINE, capture)?;
                    raw.push(ms(c) / n as f64);
                    net.push((ms(c) - ms(c1)).max(0.0) / (n - 1).max(1) as f64);
                    wall.push(ms(w) / n as f64);
                }
                let _ = fs::remove_file(&one);
                let g = Gstreamer {
                    version,
                    cpu_ms_per_frame_raw: Spread::of(&raw),
                    cpu_ms_per_frame: Spread::of(&net),
                    wall_ms_per_frame: Spread::of(&wall),
                    startup_cpu_ms: Spread::of(&startup).median,
                };
                for d in &mut result.decoders {
                    d.ratio_vs_gstreamer = Some(d.ours.cpu_ms_per_frame.ratio(g.cpu_ms_per_frame));
                }
                result.gstreamer = Some(g);
            }
        }
    }
    Ok(result)
}
