//! The whole benchmark: the project measured side by side with its
//! floors, in one run, as ratios of figures taken in that same run.
//!
//! 1. pcap -> RGB, single-threaded, against each decoder alone and
//!    GStreamer ([`pcap_to_rgb`](crate::pcap_to_rgb)).
//! 2. Reassembly alone against a plain copy of the same payload bytes
//!    ([`reassembly`](crate::reassembly)).
//! 3. Live scaling on loopback: the largest number of 1080p30 cameras
//!    the client carries with zero loss, with RGB decode and with JPEG
//!    passthrough, for each receive backend, fed by the replay sender in
//!    its own process ([`live`](crate::live)).
//!
//! 4. Decode at the model's size (`--scale`, `--resize`, `--fast`),
//!    single-threaded, against the decoder alone at the same options,
//!    FFmpeg's `-lowres` and GStreamer's decode-then-scale
//!    ([`decode_size`](crate::decode_size)). Runs before the live
//!    section, whose decode budget it gives when the live section
//!    decodes at those options.
//!
//! The human table goes to stderr, one JSON object to stdout. Nothing here
//! judges: goals are printed next to the ratios, never enforced.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use mjpeg_rtp::DecodeOptions;
use mjpeg_rtp_cli::pcap;
use mjpeg_rtp_uring::Io;

use crate::capture::{self, load_rtp_frames, Scratch};
use crate::decode_size::decode_size;
use crate::live::{camera_budget, live_mode, Ramp};
use crate::pcap_to_rgb::pcap_to_rgb;
use crate::reassembly::reassembly;
use crate::report::{print_table, Live, Machine, Report};
use crate::synth::SynthSpec;

/// What one run measures.
#[derive(Debug, Clone)]
pub struct Options {
    /// Use this capture (one RTP/JPEG stream); `None`: generate `synth`.
    pub capture: Option<PathBuf>,
    /// The capture generated when none is given.
    pub synth: SynthSpec,
    /// Where the generated capture is written; `None`: a scratch file.
    pub keep_capture: Option<PathBuf>,
    /// Repetitions of the offline measurements (min and median reported).
    pub repeat: usize,
    /// Compare with GStreamer (when `gst-launch-1.0` is there).
    pub gst: bool,
    /// Receive backends of the live section; empty: no live section.
    pub io: Vec<Io>,
    pub ramp: Ramp,
    /// Section 4's decode options cases; empty: no section 4.
    pub decode_cases: Vec<DecodeOptions>,
}

fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        rmem_max: fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
    }
}

/// Measure everything, print the table on stderr, return the report.
pub fn run(options: &Options) -> Result<Report> {
    let started = Instant::now();
    let scratch = Scratch::new("bench")?;
    let mut report = Report {
        machine: machine(),
        ..Report::default()
    };

    // The capture.
    let t0 = Instant::now();
    let capture = match &options.capture {
        Some(given) => {
            let path = options
                .keep_capture
                .clone()
                .unwrap_or_else(|| scratch.path().join("given-normalized.pcap"));
            let normalized = capture::normalize(given, options.synth.frames, &path)?;
            eprintln!(
                "capture {}: first RTP/JPEG stream, {} frames at {:.1} fps, played {} times",
                given.display(),
                normalized.source_frames,
                normalized.fps,
                normalized.passes
            );
            report.capture.generated = false;
            report.capture.given = Some(given.display().to_string());
            report.capture.source_frames = normalized.source_frames;
            report.capture.passes = normalized.passes;
            path
        }
        None => {
            let spec = &options.synth;
            eprintln!(
                "generating a {}x{} capture: {} frames cycling {} JPEGs...",
                spec.width, spec.height, spec.frames, spec.distinct
            );
            let path = options
                .keep_capture
                .clone()
                .unwrap_or_else(|| scratch.path().join("bench-1080p.pcap"));
            capture::generate(spec, &path)?;
            report.capture.generated = true;
            path
        }
    };
    report.capture.generate_seconds = t0.elapsed().as_secs_f64();
    let frames = load_rtp_frames(&capture)?;
    report.capture.path = capture.display().to_string();
    report.capture.frames = frames.len();
    report.capture.packets = frames.iter().map(Vec::len).sum();

    eprintln!("pcap -> RGB ({} repetitions)...", options.repeat);
    report.pcap_to_rgb = pcap_to_rgb(
        &capture,
        &frames,
        options.repeat,
        options.gst,
        scratch.path(),
    )?;
    {
        let mut sizes = Vec::new();
        let mut size = (0, 0);
        mjpeg_rtp_capture::replay::replay(&capture, &pcap::Options::default(), |f| {
            sizes.push(f.jpeg.len());
            size = (f.info.width, f.info.height);
            Ok(())
        })?;
        report.capture.width = size.0;
        report.capture.height = size.1;
        report.capture.jpeg_bytes_mean =
            sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
    }

    eprintln!("reassembly vs copy...");
    report.reassembly = reassembly(&frames, 5 * options.repeat)?;

    if !options.decode_cases.is_empty() {
        report.decode_size = decode_size(
            &capture,
            &frames,
            &options.decode_cases,
            options.repeat,
            options.gst,
            scratch.path(),
        )?;
    }

    if !options.io.is_empty() {
        let ramp = &options.ramp;
        // The live decoder's floor at the live options: section 1's at
        // full size, section 4's otherwise.
        let full_decode_ms = report
            .pcap_to_rgb
            .decoder(ramp.decoder)
            .map(|d| d.decode_only.cpu_ms_per_frame.min);
        let decode_ms = if ramp.decode_options == DecodeOptions::default() {
            full_decode_ms
        } else {
            let i = options
                .decode_cases
                .iter()
                .position(|c| *c == ramp.decode_options);
            i.and_then(|i| {
                report.decode_size[i]
                    .decoders
                    .iter()
                    .find(|d| d.decoder == ramp.decoder.name())
                    .map(|d| d.decode_only.cpu_ms_per_frame.min)
            })
        }
        .context("the live decoder was not measured at the live decode options")?;
        let decode_fps = 1e3 / decode_ms;
        let uring = mjpeg_rtp_uring::probe();
        let mut live = Live {
            fps: ramp.fps,
            step_seconds: ramp.step,
            decode_threads: report.machine.cpus,
            uring_available: uring.is_ok(),
            uring_note: match &uring {
                Ok(()) => "io_uring multishot recvmsg".to_owned(),
                Err(e) => format!("unavailable ({e}); std ran instead"),
            },
            decoder: ramp.decoder.name().to_owned(),
            decode_bound_cameras: report.machine.cpus as f64 * decode_fps / ramp.fps,
            take_fps: ramp.take_fps,
            modes: Vec::new(),
            scaled_vs_full: Vec::new(),
        };
        eprintln!("live scaling on loopback ({} s per step)...", ramp.step);
        // Overload is what the ramp looks for: the library's rate-limited
        // warnings about it would drown the table. RUST_LOG still rules.
        let quiet = std::env::var_os("RUST_LOG").is_none();
        let level = log::max_level();
        if quiet {
            log::set_max_level(log::LevelFilter::Error);
        }
        for &io in &options.io {
            // Passthrough first: its receive and send CPU per camera go
            // into the decode mode's budget.
            let passthrough = live_mode(&capture, io, None, ramp)?;
            let mut decode = live_mode(&capture, io, Some(ramp.decode_options), ramp)?;
            decode.budget_cameras = camera_budget(
                report.machine.cpus,
                decode_ms * ramp.fps / 1e3,
                &passthrough,
            );
            // A decode size other than full is compared with full size
            // on the same machine in the same run (issue 13).
            if ramp.decode_options != DecodeOptions::default() {
                let mut full = live_mode(&capture, io, Some(DecodeOptions::default()), ramp)?;
                full.budget_cameras = full_decode_ms.and_then(|ms| {
                    camera_budget(report.machine.cpus, ms * ramp.fps / 1e3, &passthrough)
                });
                live.scaled_vs_full
                    .push(decode.k_max as f64 / full.k_max.max(1) as f64);
                live.modes.push(full);
            }
            live.modes.extend([decode, passthrough]);
        }
        if quiet {
            log::set_max_level(level);
        }
        report.live = Some(live);
    }
    report.seconds = started.elapsed().as_secs_f64();
    print_table(&report);
    Ok(report)
}
