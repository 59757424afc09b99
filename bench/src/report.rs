//! The bench's report: what one run measured, as one JSON object on
//! stdout (the field names are the format; keep them) and as the human
//! table on stderr. (Changed once, in section 4: the command FFmpeg or
//! GStreamer ran is `command` inside its entry, which is `null` when the
//! program was not measured; it was `ffmpeg_command`/`gstreamer_pipeline`
//! beside it, left out when not measured.)

use std::fmt::Write as _;

use mjpeg_rtp::Decoder;
use serde::{Deserialize, Serialize};

/// min and median of repeated measurements.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => Spread::default(),
            n => Spread {
                min: v[0],
                median: if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                },
            },
        }
    }

    /// `self / base`, min by min and median by median; NaN where `base`
    /// is not positive.
    pub fn ratio(self, base: Spread) -> Spread {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        Spread {
            min: div(self.min, base.min),
            median: div(self.median, base.median),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub kernel: String,
    pub rmem_max: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CaptureInfo {
    /// The capture every section read.
    pub path: String,
    pub generated: bool,
    /// The capture given with `--capture`, which `path` is rewritten
    /// from (its first RTP/JPEG stream, looped: `capture::normalize`).
    #[serde(default)]
    pub given: Option<String>,
    /// Frames of that stream, and times it was played to make `frames`.
    #[serde(default)]
    pub source_frames: usize,
    #[serde(default)]
    pub passes: usize,
    pub frames: usize,
    pub packets: usize,
    pub width: u16,
    pub height: u16,
    pub jpeg_bytes_mean: f64,
    pub generate_seconds: f64,
}

/// Per-frame milliseconds of one contender.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Contender {
    pub cpu_ms_per_frame: Spread,
    pub wall_ms_per_frame: Spread,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Gstreamer {
    pub version: String,
    /// CPU of the whole child process divided by the frames.
    pub cpu_ms_per_frame_raw: Spread,
    /// Start-up (the same pipeline on a one-frame capture) subtracted.
    pub cpu_ms_per_frame: Spread,
    pub wall_ms_per_frame: Spread,
    pub startup_cpu_ms: f64,
}

/// Our full path with one decoder, against that decoder alone and the
/// other programs of the section, at one decode options case (section 1:
/// full size; section 4: each [`SizedCase`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecoderPaths {
    pub decoder: String,
    /// `mjpeg-rtp pcap --decode --decoder <this>`.
    pub ours: Contender,
    /// The same decoder on the same JPEGs, no RTP at all (the floor).
    pub decode_only: Contender,
    /// ours / decode-only CPU (goal <= 1.10 at full size, <= 1.05 at
    /// the model's size).
    pub ratio_vs_decode_only: Spread,
    /// ours / FFmpeg `-lowres` CPU (section 4, plain scales; goal <= 0.70).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_vs_ffmpeg: Option<Spread>,
    /// ours / GStreamer CPU (goal <= 0.60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_vs_gstreamer: Option<Spread>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PcapToRgb {
    pub threads: usize,
    pub repeat: usize,
    /// One entry per decoder in this build, zune-jpeg (the default) first.
    pub decoders: Vec<DecoderPaths>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gstreamer: Option<Gstreamer>,
}

impl PcapToRgb {
    pub fn decoder(&self, decoder: Decoder) -> Option<&DecoderPaths> {
        self.decoders.iter().find(|d| d.decoder == decoder.name())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reassembly {
    pub frames: usize,
    pub payload_bytes_per_frame: f64,
    pub copy_us_per_frame: Spread,
    pub reassemble_us_per_frame: Spread,
    /// reassemble / copy.
    pub ratio: Spread,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step {
    pub cameras: usize,
    pub ok: bool,
    /// Why not ok (empty when ok).
    pub reason: String,
    pub frames_sent_per_camera: usize,
    pub frames_complete: u64,
    pub frames_delivered: u64,
    pub packets_lost: u64,
    pub kernel_drops: u64,
    pub frames_dropped: u64,
    pub sender_max_lag_ms: f64,
    /// Receiver process CPU over the step, in cores (1.0 = one busy core).
    pub receiver_cpu_cores: f64,
    /// Receiver CPU per packet, microseconds.
    pub receiver_cpu_us_per_packet: f64,
    pub sender_cpu_cores: f64,
    /// The sender failed or could not hold the rate: the step did not
    /// offer its load, so a failure says nothing about the receiver.
    pub sender_limited: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LiveMode {
    pub io: String,
    /// The backend that really ran ("uring" may fall back to "std").
    pub backend: String,
    pub decode: bool,
    /// The decode size and exactness (`--scale 1/4`, `full size`, ...);
    /// none for passthrough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_size: Option<String>,
    /// Largest camera count carried with zero loss (0: not even one).
    pub k_max: usize,
    /// `k_max` hit --max-cameras: the real limit is higher.
    pub capped: bool,
    /// What stopped the ramp: "max-cameras", "sender" (the replay
    /// process could not offer the next step's load on this machine) or
    /// "receiver" (loss or drops at a load that was offered).
    pub limited_by: String,
    /// With decode: what this machine can carry at all with the sender
    /// on it, cores / (CPU per camera of decode-only + receive + send),
    /// the latter two measured by the passthrough mode of the same io.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_cameras: Option<f64>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Live {
    pub fps: f64,
    pub step_seconds: f64,
    pub decode_threads: usize,
    pub uring_available: bool,
    pub uring_note: String,
    pub decoder: String,
    /// cores x decode-only fps / 30: what decode alone allows.
    pub decode_bound_cameras: f64,
    /// `--take-fps`: every camera thinned to this rate before decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_fps: Option<f64>,
    pub modes: Vec<LiveMode>,
    /// With a decode size other than full: K_max at that size / K_max at
    /// full size, per io, both ramps in this run (issue 13's goal: >= 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaled_vs_full: Vec<f64>,
}

/// One decode options case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SizedCase {
    /// `--scale 1/4`, `--fast`, ... as on the command line.
    pub options: String,
    pub width: usize,
    pub height: usize,
    pub decoders: Vec<DecoderPaths>,
    /// FFmpeg `-threads 1 -lowres N` to rgb24; `null` when not measured:
    /// not installed, or no `-lowres` matches the case (resize, fast).
    pub ffmpeg: Option<PeerRun>,
    /// `null` when not measured (not installed, or `--no-gst`).
    pub gstreamer: Option<PeerRun>,
}

/// Another program measured on the same input: what ran, and its cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerRun {
    /// The command line (FFmpeg) or pipeline (GStreamer).
    pub command: String,
    #[serde(flatten)]
    pub cost: Contender,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub capture: CaptureInfo,
    pub pcap_to_rgb: PcapToRgb,
    pub reassembly: Reassembly,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
    /// Section 4, one entry per decode options case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decode_size: Vec<SizedCase>,
    pub seconds: f64,
}

/// One table row: `name` padded to `width`, then `c`'s CPU and wall
/// per frame (min / median).
pub(crate) fn contender_row(s: &mut String, width: usize, name: &str, c: &Contender) {
    let _ = writeln!(
        s,
        "   {name:<width$} {:>7.3} / {:>7.3}       {:>7.3} / {:>7.3}",
        c.cpu_ms_per_frame.min,
        c.cpu_ms_per_frame.median,
        c.wall_ms_per_frame.min,
        c.wall_ms_per_frame.median
    );
}

/// One ratio line: `indent` spaces, `decoder` padded, `what`, the
/// ratio (min and median) and its goal.
pub(crate) fn ratio_row(
    s: &mut String,
    indent: usize,
    decoder: &str,
    what: &str,
    r: Spread,
    goal: &str,
) {
    let _ = writeln!(
        s,
        "{:indent$}{decoder:<14} {what} {:.3} (median {:.3})   goal <= {goal}",
        "", r.min, r.median
    );
}

/// The human table, on stderr.
pub fn print_table(r: &Report) {
    let p = &r.pcap_to_rgb;
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "machine: {} ({} CPUs), Linux {}, rmem_max {}",
        r.machine.cpu,
        r.machine.cpus,
        r.machine.kernel,
        r.machine.rmem_max.map_or("?".into(), |v| v.to_string())
    );
    let _ = writeln!(
        s,
        "capture: {} ({}), {} frames {}x{}, {} packets, mean JPEG {:.0} KB",
        r.capture.given.as_deref().unwrap_or(&r.capture.path),
        match &r.capture.given {
            None => "generated".to_owned(),
            Some(_) => format!(
                "given: its first RTP/JPEG stream, {} frames, played {} times",
                r.capture.source_frames, r.capture.passes
            ),
        },
        r.capture.frames,
        r.capture.width,
        r.capture.height,
        r.capture.packets,
        r.capture.jpeg_bytes_mean / 1e3
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "1. pcap -> RGB, one thread, per frame    CPU ms (min / median)   wall ms (min / median)"
    );
    let row = |s: &mut String, name: &str, c: &Contender| contender_row(s, 36, name, c);
    for d in &p.decoders {
        row(
            &mut s,
            &format!("mjpeg-rtp pcap, {} (full path)", d.decoder),
            &d.ours,
        );
        row(
            &mut s,
            &format!("{} decode only (floor)", d.decoder),
            &d.decode_only,
        );
    }
    if let Some(g) = &p.gstreamer {
        row(
            &mut s,
            "GStreamer (start-up subtracted)",
            &Contender {
                cpu_ms_per_frame: g.cpu_ms_per_frame,
                wall_ms_per_frame: g.wall_ms_per_frame,
            },
        );
        let _ = writeln!(
            s,
            "   {:<36} {:>7.3} / {:>7.3}       (start-up {:.0} ms CPU)",
            "GStreamer (whole process)",
            g.cpu_ms_per_frame_raw.min,
            g.cpu_ms_per_frame_raw.median,
            g.startup_cpu_ms
        );
    }
    for d in &p.decoders {
        let ratio = |s: &mut String, what: &str, r: Spread, goal: &str| {
            ratio_row(s, 3, &d.decoder, what, r, goal);
        };
        ratio(
            &mut s,
            "ratio ours / decode-only CPU:",
            d.ratio_vs_decode_only,
            "1.10",
        );
        if let Some(g) = d.ratio_vs_gstreamer {
            ratio(&mut s, "ratio ours / GStreamer CPU:  ", g, "0.60");
        }
    }
    let a = &r.reassembly;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "2. reassembly per frame ({:.0} KB payload): copy {:.1} us, reassemble {:.1} us, ratio {:.2} (median {:.2})",
        a.payload_bytes_per_frame / 1e3,
        a.copy_us_per_frame.min,
        a.reassemble_us_per_frame.min,
        a.ratio.min,
        a.ratio.median
    );
    if let Some(l) = &r.live {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "3. live 1080p{:.0} cameras on loopback, zero loss, {} s steps, {} {} decode threads \
             (decode alone bounds at {:.1} cameras)",
            l.fps, l.step_seconds, l.decode_threads, l.decoder, l.decode_bound_cameras
        );
        if let Some(take) = l.take_fps {
            let _ = writeln!(
                s,
                "   every camera thinned to {take} fps by RTP timestamp before decode (--take-fps)"
            );
        }
        let _ = writeln!(
            s,
            "   io     backend  mode                    K_max   limited by    budget   rx CPU at K_max   rx us/packet   sender CPU"
        );
        for m in &l.modes {
            let at = m.steps.iter().find(|st| st.cameras == m.k_max);
            let _ = writeln!(
                s,
                "   {:<6} {:<8} {:<22} {:>4}{:<2}  {:<11} {:>7}  {:>10}        {:>8}      {:>8}",
                m.io,
                m.backend,
                m.decode_size
                    .as_ref()
                    .map_or("passthrough".into(), |size| format!("decode {size}")),
                m.k_max,
                if m.capped { "+" } else { "" },
                m.limited_by,
                m.budget_cameras.map_or("-".into(), |b| format!("{b:.1}")),
                at.map_or("-".into(), |st| format!(
                    "{:.2} cores",
                    st.receiver_cpu_cores
                )),
                at.map_or("-".into(), |st| format!(
                    "{:.2}",
                    st.receiver_cpu_us_per_packet
                )),
                at.map_or("-".into(), |st| format!("{:.2} cores", st.sender_cpu_cores)),
            );
            if let Some(st) = at.filter(|st| st.cameras > 0) {
                let _ = writeln!(
                    s,
                    "   {:<6} {:<8} {:<22} receive-side CPU per camera at K_max: {:.4} cores",
                    "",
                    "",
                    "",
                    st.receiver_cpu_cores / st.cameras as f64
                );
            }
        }
        let _ = writeln!(
            s,
            "   (+: stopped at --max-cameras; limited by: what failed first above K_max, the \
             receiver (loss, drops) or the sender process (could not offer the load); budget: \
             cores / CPU per camera of decode-only + receive + send, the sender sharing this \
             machine; {})",
            l.uring_note
        );
        for ratio in &l.scaled_vs_full {
            let _ = writeln!(
                s,
                "   K_max decoding at the chosen size / at full size, this run: {ratio:.2}x \
                 (goal >= 2){}",
                if *ratio >= 2.0 { "" } else { " NOT MET" }
            );
        }
    }
    print_sized_table(&mut s, &r.decode_size);
    let _ = writeln!(s, "\nbench took {:.0} s", r.seconds);
    eprint!("{s}");
}

/// Section 4 of the human table.
fn print_sized_table(s: &mut String, cases: &[SizedCase]) {
    if cases.is_empty() {
        return;
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "4. decode at the model's size, one thread, per frame   CPU ms (min / median)   wall ms (min / median)"
    );
    let row = |s: &mut String, name: &str, c: &Contender| contender_row(s, 48, name, c);
    for case in cases {
        let _ = writeln!(
            s,
            "   {} -> {}x{} RGB",
            case.options, case.width, case.height
        );
        for d in &case.decoders {
            row(s, &format!("  mjpeg-rtp pcap, {}", d.decoder), &d.ours);
            row(s, &format!("  {} alone (floor)", d.decoder), &d.decode_only);
        }
        if let Some(f) = &case.ffmpeg {
            row(s, "  FFmpeg -lowres (start-up subtracted)", &f.cost);
        }
        if let Some(g) = &case.gstreamer {
            row(s, "  GStreamer (start-up subtracted)", &g.cost);
        }
        let fast = case.options.contains("--fast");
        for d in &case.decoders {
            let ratio = |s: &mut String, what: &str, r: Spread, goal: &str| {
                ratio_row(s, 5, &d.decoder, what, r, goal);
            };
            ratio(s, "ours / floor", d.ratio_vs_decode_only, "1.05");
            if let Some(r) = d.ratio_vs_ffmpeg {
                ratio(s, "ours / FFmpeg", r, "0.70");
            }
            if let Some(r) = d.ratio_vs_gstreamer {
                let goal = if fast { "0.60 (like for like)" } else { "0.60" };
                ratio(s, "ours / GStreamer", r, goal);
            }
        }
    }
}
