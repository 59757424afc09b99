//! Section 4, decode at the model's size, one thread: the `pcap` path
//! with `--scale`/`--resize`/`--fast` against the same decoder alone at
//! the same options (the floor), FFmpeg's own reduced decode
//! (`-lowres`, same JPEGs, to rgb24) and GStreamer, which cannot decode
//! reduced and must scale afterwards (`jpegdec ! videoscale !
//! videoconvert` to the same RGB size; at full size with `--fast`, the
//! plain `jpegdec ! videoconvert` of section 1, whose shortcuts `--fast`
//! takes too). Child processes' CPU comes from `RUSAGE_CHILDREN`, their
//! start-up (the same command on one frame) subtracted.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;
use mjpeg_rtp::{DecodeOptions, Decoder, Scale};

use crate::cpu::{measure_child, ms};
use crate::pcap_to_rgb::{
    capture_jpegs, decode_only, gst_available, gst_run, measure_paths, GST_PIPELINE,
};
use crate::report::{Contender, DecoderPaths, PeerRun, SizedCase, Spread};

/// GStreamer decoding full size and scaling to `{w}`x`{h}` RGB.
const GST_SCALED_PIPELINE: &str = "filesrc location={} ! pcapparse ! \
    application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26 ! \
    rtpjpegdepay ! jpegdec ! videoscale ! videoconvert ! \
    video/x-raw,format=RGB,width={w},height={h} ! fakesink sync=false";

/// The options measured when the command line names none: the issue's
/// two goals, 1/4 scale and the fast full-size decode.
pub fn default_cases() -> Vec<DecodeOptions> {
    let mut cases = vec![DecodeOptions::default().with_scale(Scale::Quarter)];
    if Decoder::LibjpegTurbo.is_available() {
        cases.push(DecodeOptions::default().with_fast(true));
    }
    cases
}

/// How the command line names `o` ("full size" for the default).
pub(crate) fn describe(o: &DecodeOptions) -> String {
    let mut parts = Vec::new();
    if o.scale != Scale::Full {
        parts.push(format!("--scale {}", o.scale));
    }
    if let Some(r) = o.resize {
        parts.push(format!("--resize {}x{}", r.width, r.height));
    }
    if o.fast {
        parts.push("--fast".to_owned());
    }
    if parts.is_empty() {
        parts.push("full size".to_owned());
    }
    parts.join(" ")
}

/// FFmpeg's arguments decoding `input` (concatenated JPEGs) reduced by
/// 2^`lowres` per side to rgb24, discarded; one thread for the decoder
/// and one for the filters (the pixel format conversion).
fn ffmpeg_args(input: &Path, lowres: u32) -> Vec<String> {
    let mut args: Vec<String> = ["-nostdin", "-v", "error", "-threads", "1"]
        .map(String::from)
        .to_vec();
    if lowres > 0 {
        args.extend(["-lowres".into(), lowres.to_string()]);
    }
    args.extend(["-f".into(), "mjpeg".into(), "-i".into()]);
    args.push(input.display().to_string());
    args.extend(
        [
            "-filter_threads",
            "1",
            "-threads",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-y",
            "/dev/null",
        ]
        .map(String::from),
    );
    args
}

/// (child CPU, wall) of one FFmpeg run.
fn ffmpeg_run(args: &[String]) -> Result<(Duration, Duration)> {
    measure_child(Command::new("ffmpeg").args(args))
}

/// Per-frame CPU and wall of a child command over `n` frames, its
/// one-frame run's CPU subtracted (start-up), `repeat` times.
fn child_contender(
    repeat: usize,
    n: usize,
    mut run: impl FnMut(bool) -> Result<(Duration, Duration)>,
) -> Result<Contender> {
    // The first run may build caches (GStreamer's registry).
    run(false)?;
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        let (one, _) = run(false)?;
        let (c, w) = run(true)?;
        cpu.push((ms(c) - ms(one)).max(0.0) / (n - 1).max(1) as f64);
        wall.push(ms(w) / n as f64);
    }
    Ok(Contender {
        cpu_ms_per_frame: Spread::of(&cpu),
        wall_ms_per_frame: Spread::of(&wall),
    })
}

/// Section 4 on `capture` (RTP datagrams `frames`) for each of `cases`.
pub fn decode_size(
    capture: &Path,
    frames: &[Vec<Vec<u8>>],
    cases: &[DecodeOptions],
    repeat: usize,
    gst: bool,
    scratch: &Path,
) -> Result<Vec<SizedCase>> {
    let (jpegs, picture) = capture_jpegs(capture)?;
    let n = jpegs.len();
    // FFmpeg's input: the same JPEGs, back to back, and its first frame.
    let mjpeg = scratch.join("frames.mjpeg");
    let one_mjpeg = scratch.join("one-frame.mjpeg");
    fs::write(&mjpeg, jpegs.concat())?;
    fs::write(&one_mjpeg, &jpegs[0])?;
    let one_pcap = scratch.join("one-frame-sized.pcap");
    crate::capture::write_pcap(&one_pcap, &frames[..1], 30.0)?;
    let ffmpeg = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ffmpeg {
        log::warn!("ffmpeg not found: FFmpeg comparison skipped");
    }
    let gst = gst && gst_available().is_some();

    let mut results = Vec::new();
    for &options in cases {
        let size = options.output_size(picture);
        let mut case = SizedCase {
            options: describe(&options),
            width: size.width,
            height: size.height,
            ..SizedCase::default()
        };
        eprintln!(
            "decode at {} ({}x{})...",
            case.options, size.width, size.height
        );
        let decoders: Vec<Decoder> = Decoder::available()
            .filter(|&d| options.check(d).is_ok())
            .collect();
        for &decoder in &decoders {
            decode_only(decoder, options, &jpegs[..1])?;
        }
        let paths = measure_paths(capture, &decoders, options, &jpegs, repeat)?;
        // FFmpeg's lowres is its DCT-domain reduction: comparable only to
        // a plain exact scale.
        if ffmpeg && options.resize.is_none() && !options.fast && options.scale != Scale::Full {
            let lowres = options.scale.denominator().trailing_zeros();
            let all = ffmpeg_args(&mjpeg, lowres);
            let one = ffmpeg_args(&one_mjpeg, lowres);
            case.ffmpeg = Some(PeerRun {
                cost: child_contender(repeat, n, |whole| {
                    ffmpeg_run(if whole { &all } else { &one })
                })?,
                command: format!("ffmpeg {}", all.join(" ")),
            });
        }
        if gst {
            let pipeline = if size == picture {
                GST_PIPELINE.to_owned()
            } else {
                GST_SCALED_PIPELINE
                    .replace("{w}", &size.width.to_string())
                    .replace("{h}", &size.height.to_string())
            };
            case.gstreamer = Some(PeerRun {
                cost: child_contender(repeat, n, |whole| {
                    gst_run(&pipeline, if whole { capture } else { &one_pcap })
                })?,
                command: pipeline,
            });
        }
        for (decoder, (ours, floor)) in decoders.iter().zip(paths) {
            let vs = |peer: &Option<PeerRun>| {
                peer.as_ref()
                    .map(|p| ours.cpu_ms_per_frame.ratio(p.cost.cpu_ms_per_frame))
            };
            case.decoders.push(DecoderPaths {
                decoder: decoder.name().to_owned(),
                ratio_vs_decode_only: ours.cpu_ms_per_frame.ratio(floor.cpu_ms_per_frame),
                ratio_vs_ffmpeg: vs(&case.ffmpeg),
                ratio_vs_gstreamer: vs(&case.gstreamer),
                ours,
                decode_only: floor,
            });
        }
        results.push(case);
    }
    for f in [&mjpeg, &one_mjpeg, &one_pcap] {
        let _ = fs::remove_file(f);
    }
    Ok(results)
}
