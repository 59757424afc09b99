//! `mjpeg-rtp bench`: the project measured side by side with its floors,
//! in one run, as ratios of figures taken in that same run.
//!
//! 1. pcap -> RGB, single-threaded: CPU (getrusage user+sys) and wall per
//!    frame of the full `pcap --decode` path (read capture, demux,
//!    reassemble, decode) against zune-jpeg decoding the same JPEGs with no
//!    RTP at all (the floor), and against GStreamer's
//!    `pcapparse ! rtpjpegdepay ! jpegdec ! videoconvert` (CPU of the child
//!    process, `RUSAGE_CHILDREN`). All three run on one thread each: ours
//!    decodes on the calling thread, zune-jpeg is single-threaded, and the
//!    gst pipeline has no queue, so one streaming thread does everything.
//! 2. Reassembly alone (core depacketizer) against a plain copy of the same
//!    payload bytes.
//! 3. Live scaling on loopback: the largest number of 1080p30 cameras the
//!    [`Client`] carries with zero loss, with RGB decode and with JPEG
//!    passthrough, for each receive backend, fed by a separate sender
//!    process (`mjpeg-rtp bench replay`, sendmmsg) replaying the capture.
//!
//! The human table goes to stderr, one JSON object to stdout. Nothing here
//! judges: goals are printed next to the ratios, never enforced.

use std::fs;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use mjpeg_rtp::decode::RgbDecoder;
use mjpeg_rtp::{CameraConfig, Client, ClientOptions, Decoder};
use mjpeg_rtp_core::{frame_buffer_len, validate, Config, Depacketizer, Instant as CoreInstant};
use serde::{Deserialize, Serialize};

use crate::args::{Format, Io, OutputArgs, PcapArgs, ReceiverArgs};
use crate::synth::{self, SynthSpec};

/// RTP clock of RFC 2435.
const CLOCK_RATE: f64 = 90_000.0;
/// The GStreamer comparison pipeline, with `{}` for the capture.
pub const GST_PIPELINE: &str = "filesrc location={} ! pcapparse ! \
    application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26 ! \
    rtpjpegdepay ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! fakesink sync=false";

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    /// Use this capture (one RTP/JPEG stream) instead of generating one.
    #[arg(long, value_name = "PCAP")]
    pub capture: Option<PathBuf>,
    /// Frames in the generated capture.
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// Distinct pictures encoded for the generated capture (cycled).
    #[arg(long, default_value_t = 30)]
    pub distinct: usize,
    /// Short run: fewer frames, one repetition, 1 s live steps, no
    /// bisection.
    #[arg(long)]
    pub quick: bool,
    /// Repetitions of the offline measurements (min and median reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Receive backends for the live section (comma separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Io::Std, Io::Uring])]
    pub io: Vec<Io>,
    /// Seconds per live step.
    #[arg(long, default_value_t = 2.5)]
    pub step: f64,
    /// Largest camera count tried live (high enough that passthrough
    /// meets the sender's limit on small machines).
    #[arg(long, default_value_t = 128)]
    pub max_cameras: usize,
    /// Skip the live section.
    #[arg(long)]
    pub no_live: bool,
    /// Skip GStreamer.
    #[arg(long)]
    pub no_gst: bool,
    /// Decoder of the live section (section 1 measures every decoder
    /// this build has).
    #[arg(long, default_value = "zune-jpeg", value_parser = crate::args::parse_decoder)]
    pub decoder: Decoder,
    /// Picture size of the generated capture (testing aid).
    #[arg(long, value_name = "WxH", default_value = "1920x1080", value_parser = parse_size, hide = true)]
    pub size: (u16, u16),
    /// Where the generated capture is written (default: a temporary file).
    #[arg(long, value_name = "PATH")]
    pub keep_capture: Option<PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Sender process of the live section: replay a capture's frames to
    /// many ports with sendmmsg, paced per camera.
    #[command(hide = true)]
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[arg(long, value_name = "PCAP")]
    pub capture: PathBuf,
    /// Destination host.
    #[arg(long, default_value = "127.0.0.1")]
    pub to: IpAddr,
    /// Destination ports, one camera each (comma separated).
    #[arg(long, value_delimiter = ',', required = true)]
    pub ports: Vec<u16>,
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Frames sent to every port.
    #[arg(long)]
    pub frames: usize,
    /// Share of the frame interval over which a frame's packets are
    /// spread (0: one burst).
    #[arg(long, default_value_t = 0.5)]
    pub spread: f64,
}

fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s.split_once('x').ok_or("want WxH")?;
    let w: u16 = w.parse().map_err(|e| format!("{e}"))?;
    let h: u16 = h.parse().map_err(|e| format!("{e}"))?;
    if w < 16 || h < 16 {
        return Err("at least 16x16".into());
    }
    Ok((w, h))
}

// ---------------------------------------------------------------- output

/// min and median of repeated measurements.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Self {
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

    fn ratio(self, base: Spread) -> Spread {
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
    pub path: String,
    pub generated: bool,
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

/// Our full path with one decoder, against that decoder alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecoderPaths {
    pub decoder: String,
    /// `mjpeg-rtp pcap --decode --decoder <this>`.
    pub ours: Contender,
    /// The same decoder on the same JPEGs, no RTP at all (the floor).
    pub decode_only: Contender,
    /// ours / decode-only CPU (goal <= 1.10).
    pub ratio_vs_decode_only: Spread,
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
    fn decoder(&self, decoder: Decoder) -> Option<&DecoderPaths> {
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
    pub modes: Vec<LiveMode>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub capture: CaptureInfo,
    pub pcap_to_rgb: PcapToRgb,
    pub reassembly: Reassembly,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
    pub seconds: f64,
}

// ------------------------------------------------------------- CPU time

/// CPU time (user + system) of this process, or of its waited-for
/// children.
#[cfg(unix)]
fn cpu_time(children: bool) -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let who = if children {
        UsageWho::RUSAGE_CHILDREN
    } else {
        UsageWho::RUSAGE_SELF
    };
    match getrusage(who) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

#[cfg(not(unix))]
fn cpu_time(_children: bool) -> Duration {
    Duration::ZERO
}

/// CPU and wall time of `f`.
fn measure<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, Duration, T)> {
    let (c0, t0) = (cpu_time(false), Instant::now());
    let out = f()?;
    Ok((cpu_time(false) - c0, t0.elapsed(), out))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ------------------------------------------------------------- capture

/// The RTP datagrams of the capture's first RTP/JPEG stream (first port
/// and SSRC seen), one `Vec` of packets per RTP timestamp, in order.
pub fn load_rtp_frames(path: &Path) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut summary = crate::summary::CaptureSummary::default();
    let mut key: Option<(u16, u32)> = None;
    let mut frames: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut last_ts: Option<u32> = None;
    crate::capture::read_udp(path, &mut summary, |d| {
        let Ok((rtp, _)) = validate(d.payload, None) else {
            return Ok(());
        };
        let this = (d.dst.port(), rtp.ssrc());
        if *key.get_or_insert(this) != this {
            return Ok(());
        }
        if last_ts != Some(rtp.timestamp()) {
            last_ts = Some(rtp.timestamp());
            frames.push(Vec::new());
        }
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

// ------------------------------------------------------------- section 1

fn our_pcap_path(capture: &Path, decoder: Decoder) -> Result<u64> {
    let args = PcapArgs {
        capture: capture.to_owned(),
        ports: Vec::new(),
        output: OutputArgs {
            out: None,
            format: vec![Format::Jpeg],
            decode: true,
            decoder,
        },
        receiver: ReceiverArgs::default(),
    };
    let summary = crate::pcap::run(&args)?;
    let errors: u64 = summary.streams.iter().map(|s| s.decode_errors).sum();
    if errors > 0 {
        bail!("{errors} frames failed to decode");
    }
    Ok(summary.streams.iter().map(|s| s.frames_complete).sum())
}

/// The floor: the decoder alone, one reused output buffer, as the
/// runtime's pooled buffers are.
fn decode_only(decoder: Decoder, jpegs: &[Vec<u8>]) -> Result<()> {
    let mut decoder = RgbDecoder::new(decoder)?;
    let mut rgb = Vec::new();
    for jpeg in jpegs {
        decoder.decode_into(jpeg, &mut rgb)?;
        black_box(&rgb);
    }
    Ok(())
}

fn gst_available() -> Option<String> {
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

/// Run the comparison pipeline on `capture`: (child CPU, wall).
fn gst_run(capture: &Path) -> Result<(Duration, Duration)> {
    let pipeline = GST_PIPELINE.replace("{}", &capture.display().to_string());
    let (c0, t0) = (cpu_time(true), Instant::now());
    let out = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run gst-launch-1.0")?;
    let (cpu, wall) = (cpu_time(true) - c0, t0.elapsed());
    if !out.status.success() {
        bail!(
            "gst-launch-1.0 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok((cpu, wall))
}

fn pcap_to_rgb(
    capture: &Path,
    frames: &[Vec<Vec<u8>>],
    repeat: usize,
    gst: bool,
    scratch: &Path,
) -> Result<PcapToRgb> {
    // The floor's input: the very JPEGs our path rebuilds.
    let mut jpegs = Vec::new();
    crate::pcap::replay(capture, &crate::pcap::ReplayOptions::default(), |f| {
        jpegs.push(f.jpeg.to_vec());
        Ok(())
    })?;
    let n = jpegs.len();
    if n == 0 {
        bail!("{}: no complete frame", capture.display());
    }
    // Warm the page cache and the decoders' code paths.
    let _ = fs::read(capture)?;
    let decoders: Vec<Decoder> = Decoder::available().collect();
    for &decoder in &decoders {
        decode_only(decoder, &jpegs[..1])?;
    }

    let per_frame = |d: Duration| ms(d) / n as f64;
    // [decoder] -> (ours cpu, ours wall, floor cpu, floor wall) samples;
    // the contenders take turns within each repetition, so that a burst
    // of load from elsewhere hits them alike.
    let mut samples = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; decoders.len()];
    for _ in 0..repeat {
        for (&decoder, s) in decoders.iter().zip(&mut samples) {
            let (cpu, wall, complete) = measure(|| our_pcap_path(capture, decoder))?;
            if complete as usize != n {
                bail!("pcap path completed {complete} frames, expected {n}");
            }
            s[0].push(per_frame(cpu));
            s[1].push(per_frame(wall));
            let (cpu, wall, ()) = measure(|| decode_only(decoder, &jpegs))?;
            s[2].push(per_frame(cpu));
            s[3].push(per_frame(wall));
        }
    }
    let mut result = PcapToRgb {
        threads: 1,
        repeat,
        decoders: Vec::new(),
        gstreamer: None,
    };
    for (decoder, [ours_cpu, ours_wall, floor_cpu, floor_wall]) in decoders.iter().zip(samples) {
        let ours = Contender {
            cpu_ms_per_frame: Spread::of(&ours_cpu),
            wall_ms_per_frame: Spread::of(&ours_wall),
        };
        let decode_only = Contender {
            cpu_ms_per_frame: Spread::of(&floor_cpu),
            wall_ms_per_frame: Spread::of(&floor_wall),
        };
        result.decoders.push(DecoderPaths {
            decoder: decoder.name().to_owned(),
            ratio_vs_decode_only: ours.cpu_ms_per_frame.ratio(decode_only.cpu_ms_per_frame),
            ours,
            decode_only,
            ratio_vs_gstreamer: None,
        });
    }
    if gst {
        match gst_available() {
            None => log::warn!("gst-launch-1.0 not found: GStreamer comparison skipped"),
            Some(version) => {
                let one = scratch.join("one-frame.pcap");
                synth::write_pcap(&one, &frames[..1], 30.0)?;
                // The first run may rebuild GStreamer's plugin registry.
                gst_run(&one)?;
                let mut startup = Vec::new();
                let (mut raw, mut net, mut wall) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..repeat {
                    let (c1, _) = gst_run(&one)?;
                    startup.push(ms(c1));
                    let (c, w) = gst_run(capture)?;
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

// ------------------------------------------------------------- section 2

fn reassembly(frames: &[Vec<Vec<u8>>], passes: usize) -> Result<Reassembly> {
    // RTP header (12) + RFC 2435 main header (8); quantization table
    // headers of first packets are left in, as a copy would move them too.
    const HEADERS: usize = 20;
    let payload: usize = frames
        .iter()
        .flatten()
        .map(|p| p.len().saturating_sub(HEADERS))
        .sum();
    let n = frames.len();
    let largest = frames
        .iter()
        .map(|f| f.iter().map(Vec::len).sum::<usize>())
        .max()
        .unwrap_or(0);
    let mut flat = vec![0u8; frame_buffer_len(largest.max(1))];
    let (mut copy, mut reassemble) = (Vec::new(), Vec::new());
    for _ in 0..passes.max(1) {
        let t0 = Instant::now();
        for frame in frames {
            let mut at = 0;
            for p in frame {
                let data = p.get(HEADERS..).unwrap_or(&[]);
                flat[at..at + data.len()].copy_from_slice(data);
                at += data.len();
            }
            black_box(&flat);
        }
        copy.push(t0.elapsed().as_secs_f64() * 1e6 / n as f64);

        // A fresh depacketizer per pass: the capture starts a new stream.
        let mut rx: Depacketizer<Vec<u8>, 4> = Depacketizer::new(
            Config::default(),
            std::array::from_fn(|_| vec![0u8; frame_buffer_len(largest.max(1))]),
        );
        let mut complete = 0usize;
        let t0 = Instant::now();
        for (i, frame) in frames.iter().enumerate() {
            let now = CoreInstant::from_micros(i as u64 * 33_333);
            for p in frame {
                let _ = rx.push(now, p);
            }
            while let Some(f) = rx.next_frame() {
                black_box(f.jpeg.len());
                complete += 1;
            }
        }
        reassemble.push(t0.elapsed().as_secs_f64() * 1e6 / n as f64);
        if complete != n {
            bail!("reassembly completed {complete} of {n} frames");
        }
    }
    let copy = Spread::of(&copy);
    let reassemble = Spread::of(&reassemble);
    Ok(Reassembly {
        frames: n,
        payload_bytes_per_frame: payload as f64 / n as f64,
        copy_us_per_frame: copy,
        reassemble_us_per_frame: reassemble,
        ratio: reassemble.ratio(copy),
    })
}

// ------------------------------------------------------------- section 3

/// What the replay sender prints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplaySummary {
    pub cameras: usize,
    pub frames_per_camera: usize,
    pub packets_sent: u64,
    pub send_errors: u64,
    /// Latest a packet went out after its due time.
    pub max_lag_ms: f64,
    pub seconds: f64,
}

fn backend_for(io: Io) -> Box<dyn mjpeg_rtp::backend::ReceiveBackend> {
    crate::recv::receive_backend(io)
}

#[allow(clippy::too_many_arguments)]
fn live_step(
    capture: &Path,
    io: Io,
    decode: Option<Decoder>,
    cameras: usize,
    frames: usize,
    fps: f64,
    packets_per_frame: f64,
) -> Result<(Step, &'static str)> {
    let mut client = Client::new(ClientOptions {
        decode_threads: 0,
        backend: backend_for(io),
    });
    client.set_decode(decode.is_some());
    if let Some(decoder) = decode {
        client.set_decoder(decoder)?;
    }
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for k in 0..cameras {
        let config = CameraConfig::new(format!("cam{k}"), SocketAddr::new(localhost, 0))
            .with_sender(localhost);
        client.add_camera(config)?;
    }
    let ports: Vec<String> = client
        .camera_ids()
        .filter_map(|id| client.local_addr(id))
        .map(|a| a.port().to_string())
        .collect();
    client.start()?;
    let backend = client.backend_name();
    let exe = std::env::current_exe().context("cannot find our own executable")?;
    let (c0, children0) = (cpu_time(false), cpu_time(true));
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .args(["bench", "replay", "--capture"])
        .arg(capture)
        .args(["--ports", &ports.join(",")])
        .args(["--fps", &fps.to_string(), "--frames", &frames.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the replay sender")?;
    let expected = (cameras * frames) as u64;
    let mut delivered = 0u64;
    while child.try_wait()?.is_none() {
        if client.next_frame(Duration::from_millis(20)).is_some() {
            delivered += 1;
        }
    }
    let output = child.wait_with_output()?;
    let replay: ReplaySummary = serde_json::from_slice(&output.stdout).unwrap_or_default();
    // Let the last frames through decode.
    let grace = Instant::now() + Duration::from_millis(500);
    while delivered < expected && Instant::now() < grace {
        if client.next_frame(Duration::from_millis(20)).is_some() {
            delivered += 1;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let rx_cpu = (cpu_time(false) - c0).as_secs_f64();
    let tx_cpu = (cpu_time(true) - children0).as_secs_f64();
    client.stop();
    while client.next_frame(Duration::ZERO).is_some() {
        delivered += 1;
    }
    let stats = client.stats();
    let sum = |f: &dyn Fn(&mjpeg_rtp::CameraStats) -> u64| stats.iter().map(f).sum::<u64>();
    let packets: u64 = sum(&|s| s.packets_received());
    let mut step = Step {
        cameras,
        ok: false,
        reason: String::new(),
        frames_sent_per_camera: frames,
        frames_complete: sum(&|s| s.frames_complete()),
        frames_delivered: delivered,
        packets_lost: sum(&|s| s.packets_lost()),
        kernel_drops: sum(&|s| s.kernel_drops.unwrap_or(0)),
        frames_dropped: sum(&|s| {
            s.frames_dropped() + s.frames_dropped_backlog + s.frames_dropped_queue + s.decode_errors
        }),
        sender_max_lag_ms: replay.max_lag_ms,
        receiver_cpu_cores: rx_cpu / elapsed,
        receiver_cpu_us_per_packet: if packets > 0 {
            rx_cpu * 1e6 / packets as f64
        } else {
            0.0
        },
        sender_cpu_cores: tx_cpu / elapsed,
        sender_limited: false,
    };
    let interval_ms = 1e3 / fps;
    let mut reasons = Vec::new();
    if !output.status.success() || replay.frames_per_camera != frames {
        reasons.push("sender failed".to_owned());
        step.sender_limited = true;
    }
    if replay.send_errors > 0 {
        reasons.push(format!("{} send errors", replay.send_errors));
        step.sender_limited = true;
    }
    if step.packets_lost > 0 || step.kernel_drops > 0 {
        reasons.push(format!(
            "{} packets lost ({} kernel drops)",
            step.packets_lost, step.kernel_drops
        ));
    }
    if step.frames_dropped > 0 {
        reasons.push(format!(
            "{} frames dropped (decode backlog {}, output queue {}, reassembly {})",
            step.frames_dropped,
            sum(&|s| s.frames_dropped_backlog),
            sum(&|s| s.frames_dropped_queue),
            sum(&|s| s.frames_dropped()),
        ));
    }
    if step.frames_complete < expected || step.frames_delivered < expected {
        reasons.push(format!(
            "{}/{} frames complete, {} delivered",
            step.frames_complete, expected, step.frames_delivered
        ));
    }
    // The sender shares the machine: a momentary lag is caught up by a
    // burst (which the receiver must then absorb), but a sender that
    // could not hold the average rate did not offer the load at all.
    let offered_seconds = frames as f64 / fps + 1.0 / fps;
    if replay.seconds > offered_seconds + 3.0 * interval_ms / 1e3 {
        step.sender_limited = true;
        reasons.push(format!(
            "sender could not offer {cameras} x {fps} fps here ({:.2} s for {:.2} s of video, \
             up to {:.0} ms late)",
            replay.seconds, offered_seconds, replay.max_lag_ms
        ));
    }
    let _ = packets_per_frame;
    step.ok = reasons.is_empty();
    step.reason = reasons.join("; ");
    Ok((step, backend))
}

fn live_mode(
    capture: &Path,
    io: Io,
    decode: bool,
    args: &Settings,
    packets_per_frame: f64,
) -> Result<LiveMode> {
    let frames = (args.step * args.fps).round().max(1.0) as usize;
    let mut mode = LiveMode {
        io: format!("{io:?}").to_lowercase(),
        decode,
        ..LiveMode::default()
    };
    let run = |k: usize, mode: &mut LiveMode| -> Result<bool> {
        let (step, backend) = live_step(
            capture,
            io,
            decode.then_some(args.decoder),
            k,
            frames,
            args.fps,
            packets_per_frame,
        )?;
        eprintln!(
            "  live {:<5} {:<11} K={k:<3} {} {}",
            mode.io,
            if decode { "decode" } else { "passthrough" },
            if step.ok { "ok  " } else { "FAIL" },
            step.reason
        );
        mode.backend = backend.to_owned();
        let ok = step.ok;
        mode.steps.push(step);
        Ok(ok)
    };
    let mut good = 0usize;
    let mut bad = None;
    let mut k = 1usize;
    while k <= args.max_cameras {
        if run(k, &mut mode)? {
            good = k;
            if k == args.max_cameras {
                break;
            }
            k = (k * 2).min(args.max_cameras);
        } else {
            bad = Some(k);
            break;
        }
    }
    // Narrow the gap between the last pass and the first failure.
    if let (true, Some(mut hi)) = (args.bisect, bad) {
        let mut lo = good;
        let mut tries = 0;
        while hi - lo > 1 && tries < 2 && lo > 0 {
            let mid = (lo + hi) / 2;
            if run(mid, &mut mode)? {
                lo = mid;
            } else {
                hi = mid;
            }
            tries += 1;
        }
        good = lo;
    }
    mode.k_max = good;
    mode.capped = bad.is_none();
    // The smallest failing step is the one that set the limit.
    let first_failure = mode
        .steps
        .iter()
        .filter(|s| !s.ok && s.cameras > good)
        .min_by_key(|s| s.cameras);
    mode.limited_by = match first_failure {
        None => "max-cameras",
        Some(s) if s.sender_limited => "sender",
        Some(_) => "receiver",
    }
    .to_owned();
    Ok(mode)
}

/// cores / (CPU per camera: `decode_cores` + receive + send), the last
/// two from `passthrough`'s largest passing step.
fn camera_budget(cores: usize, decode_cores: f64, passthrough: &LiveMode) -> Option<f64> {
    let step = passthrough
        .steps
        .iter()
        .filter(|s| s.ok)
        .max_by_key(|s| s.cameras)?;
    let k = step.cameras as f64;
    let per_camera = decode_cores + (step.receiver_cpu_cores + step.sender_cpu_cores) / k;
    Some(cores as f64 / per_camera)
}

// ------------------------------------------------------------- the run

struct Settings {
    repeat: usize,
    step: f64,
    fps: f64,
    max_cameras: usize,
    bisect: bool,
    decoder: Decoder,
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

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &BenchArgs) -> Result<Report> {
    let started = Instant::now();
    let settings = Settings {
        repeat: if args.quick { 1 } else { args.repeat.max(1) },
        step: if args.quick { 1.0 } else { args.step.max(0.5) },
        fps: 30.0,
        max_cameras: if args.quick {
            args.max_cameras.min(4)
        } else {
            args.max_cameras.max(1)
        },
        bisect: !args.quick,
        decoder: args.decoder,
    };
    let scratch =
        Scratch(std::env::temp_dir().join(format!("mjpeg-rtp-bench-{}", std::process::id())));
    fs::create_dir_all(&scratch.0)?;
    let mut report = Report {
        machine: machine(),
        ..Report::default()
    };

    // The capture.
    let t0 = Instant::now();
    let capture = match &args.capture {
        Some(path) => {
            report.capture.generated = false;
            path.clone()
        }
        None => {
            let spec = SynthSpec {
                width: args.size.0,
                height: args.size.1,
                distinct: if args.quick {
                    args.distinct.min(3)
                } else {
                    args.distinct
                },
                frames: if args.quick {
                    args.frames.min(30)
                } else {
                    args.frames
                },
                ..SynthSpec::default()
            };
            eprintln!(
                "generating a {}x{} capture: {} frames cycling {} JPEGs...",
                spec.width, spec.height, spec.frames, spec.distinct
            );
            let jpegs = synth::jpegs(&spec)?;
            let frames = synth::rtp_frames(&jpegs, spec.frames, spec.fps, spec.mtu)?;
            let path = args
                .keep_capture
                .clone()
                .unwrap_or_else(|| scratch.0.join("bench-1080p.pcap"));
            synth::write_pcap(&path, &frames, spec.fps)?;
            report.capture.generated = true;
            path
        }
    };
    report.capture.generate_seconds = t0.elapsed().as_secs_f64();
    let frames = load_rtp_frames(&capture)?;
    report.capture.path = capture.display().to_string();
    report.capture.frames = frames.len();
    report.capture.packets = frames.iter().map(Vec::len).sum();

    eprintln!("pcap -> RGB ({} repetitions)...", settings.repeat);
    report.pcap_to_rgb = pcap_to_rgb(&capture, &frames, settings.repeat, !args.no_gst, &scratch.0)?;
    {
        let mut sizes = Vec::new();
        let mut size = (0, 0);
        crate::pcap::replay(&capture, &crate::pcap::ReplayOptions::default(), |f| {
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
    report.reassembly = reassembly(&frames, 5 * settings.repeat)?;

    if !args.no_live {
        let decode_ms = report
            .pcap_to_rgb
            .decoder(args.decoder)
            .context("the live decoder was not measured")?
            .decode_only
            .cpu_ms_per_frame
            .min;
        let decode_fps = 1e3 / decode_ms;
        let uring = mjpeg_rtp_uring::probe();
        let mut live = Live {
            fps: settings.fps,
            step_seconds: settings.step,
            decode_threads: report.machine.cpus,
            uring_available: uring.is_ok(),
            uring_note: match &uring {
                Ok(()) => "io_uring multishot recvmsg".to_owned(),
                Err(e) => format!("unavailable ({e}); std ran instead"),
            },
            decoder: args.decoder.name().to_owned(),
            decode_bound_cameras: report.machine.cpus as f64 * decode_fps / settings.fps,
            modes: Vec::new(),
        };
        let ppf = report.capture.packets as f64 / report.capture.frames.max(1) as f64;
        eprintln!("live scaling on loopback ({} s per step)...", settings.step);
        // Overload is what the ramp looks for: the library's rate-limited
        // warnings about it would drown the table. RUST_LOG still rules.
        let quiet = std::env::var_os("RUST_LOG").is_none();
        let level = log::max_level();
        if quiet {
            log::set_max_level(log::LevelFilter::Error);
        }
        for &io in &args.io {
            // Passthrough first: its receive and send CPU per camera go
            // into the decode mode's budget.
            let passthrough = live_mode(&capture, io, false, &settings, ppf)?;
            let mut decode = live_mode(&capture, io, true, &settings, ppf)?;
            decode.budget_cameras = camera_budget(
                report.machine.cpus,
                decode_ms * settings.fps / 1e3,
                &passthrough,
            );
            live.modes.extend([decode, passthrough]);
        }
        if quiet {
            log::set_max_level(level);
        }
        report.live = Some(live);
    }
    report.seconds = started.elapsed().as_secs_f64();
    print_table(&report, &capture);
    Ok(report)
}

// ------------------------------------------------------------- table

fn print_table(r: &Report, capture: &Path) {
    let p = &r.pcap_to_rgb;
    let mut s = String::new();
    use std::fmt::Write as _;
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
        capture.display(),
        if r.capture.generated {
            "generated"
        } else {
            "given"
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
    let row = |s: &mut String, name: &str, c: &Contender| {
        let _ = writeln!(
            s,
            "   {name:<36} {:>7.3} / {:>7.3}       {:>7.3} / {:>7.3}",
            c.cpu_ms_per_frame.min,
            c.cpu_ms_per_frame.median,
            c.wall_ms_per_frame.min,
            c.wall_ms_per_frame.median
        );
    };
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
        let _ = writeln!(
            s,
            "   {:<14} ratio ours / decode-only CPU: {:.3} (median {:.3})   goal <= 1.10",
            d.decoder, d.ratio_vs_decode_only.min, d.ratio_vs_decode_only.median
        );
        if let Some(g) = d.ratio_vs_gstreamer {
            let _ = writeln!(
                s,
                "   {:<14} ratio ours / GStreamer CPU:   {:.3} (median {:.3})   goal <= 0.60",
                d.decoder, g.min, g.median
            );
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
        let _ = writeln!(
            s,
            "   io     backend  mode          K_max   limited by    budget   rx CPU at K_max   rx us/packet   sender CPU"
        );
        for m in &l.modes {
            let at = m.steps.iter().find(|st| st.cameras == m.k_max);
            let _ = writeln!(
                s,
                "   {:<6} {:<8} {:<12} {:>4}{:<2}  {:<11} {:>7}  {:>10}        {:>8}      {:>8}",
                m.io,
                m.backend,
                if m.decode { "decode" } else { "passthrough" },
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
        }
        let _ = writeln!(
            s,
            "   (+: stopped at --max-cameras; limited by: what failed first above K_max, the \
             receiver (loss, drops) or the sender process (could not offer the load); budget: \
             cores / CPU per camera of decode-only + receive + send, the sender sharing this \
             machine; {})",
            l.uring_note
        );
    }
    let _ = writeln!(s, "\nbench took {:.0} s", r.seconds);
    eprint!("{s}");
}

// ------------------------------------------------------------- sender

/// `bench replay`: send the capture's frames to every port, paced per
/// camera at `fps`, cameras evenly staggered over the frame interval,
/// each frame's packets spread over `spread` of the interval. Sequence
/// numbers, timestamps and SSRC are rewritten per camera so that looping
/// the capture stays one continuous stream.
pub fn replay(args: &ReplayArgs) -> Result<ReplaySummary> {
    let frames = load_rtp_frames(&args.capture)?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).context("cannot bind sender")?;
    let cameras = args.ports.len();
    let interval = 1.0 / args.fps;
    let spread = args.spread.clamp(0.0, 1.0) * interval;
    let ts_step = (CLOCK_RATE / args.fps).round() as u32;
    struct Cam {
        dst: SocketAddr,
        frame: usize,
        packet: usize,
        seq: u16,
        offset: f64,
    }
    let mut cams: Vec<Cam> = args
        .ports
        .iter()
        .enumerate()
        .map(|(k, &port)| Cam {
            dst: SocketAddr::new(args.to, port),
            frame: 0,
            packet: 0,
            seq: (k as u16).wrapping_mul(7919),
            offset: interval * k as f64 / cameras as f64,
        })
        .collect();
    let mut batch = Batch::new(&socket)?;
    let mut summary = ReplaySummary {
        cameras,
        ..ReplaySummary::default()
    };
    let start = Instant::now();
    loop {
        let now = start.elapsed().as_secs_f64();
        let mut next_due = f64::INFINITY;
        let mut done = 0;
        for (k, cam) in cams.iter_mut().enumerate() {
            while cam.frame < args.frames {
                let packets = &frames[cam.frame % frames.len()];
                let due = cam.offset
                    + cam.frame as f64 * interval
                    + spread * cam.packet as f64 / packets.len() as f64;
                if due > now {
                    next_due = next_due.min(due);
                    break;
                }
                summary.max_lag_ms = summary.max_lag_ms.max((now - due) * 1e3);
                let packet = &packets[cam.packet];
                let marker_pt = packet.get(1).copied().unwrap_or(0);
                let ts = (cam.frame as u32).wrapping_mul(ts_step);
                let ssrc = synth::SSRC.wrapping_add(k as u32);
                batch.push(cam.dst, packet, |b| {
                    b[1] = marker_pt;
                    b[2..4].copy_from_slice(&cam.seq.to_be_bytes());
                    b[4..8].copy_from_slice(&ts.to_be_bytes());
                    b[8..12].copy_from_slice(&ssrc.to_be_bytes());
                })?;
                cam.seq = cam.seq.wrapping_add(1);
                cam.packet += 1;
                if cam.packet == packets.len() {
                    cam.packet = 0;
                    cam.frame += 1;
                }
            }
            if cam.frame >= args.frames {
                done += 1;
            }
        }
        batch.flush()?;
        if done == cameras {
            break;
        }
        let wait = next_due - start.elapsed().as_secs_f64();
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait.min(0.005)));
        }
    }
    summary.packets_sent = batch.sent;
    summary.send_errors = batch.errors;
    summary.frames_per_camera = args.frames;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Datagrams collected and sent together: one `sendmmsg` per batch on
/// Linux, one `send_to` each elsewhere.
struct Batch<'s> {
    socket: &'s UdpSocket,
    buffers: Vec<Vec<u8>>,
    dsts: Vec<SocketAddr>,
    len: usize,
    sent: u64,
    errors: u64,
}

const BATCH: usize = 64;

impl<'s> Batch<'s> {
    fn new(socket: &'s UdpSocket) -> Result<Self> {
        Ok(Batch {
            socket,
            buffers: (0..BATCH).map(|_| Vec::with_capacity(2048)).collect(),
            dsts: Vec::with_capacity(BATCH),
            len: 0,
            sent: 0,
            errors: 0,
        })
    }

    fn push(
        &mut self,
        dst: SocketAddr,
        packet: &[u8],
        patch: impl FnOnce(&mut [u8]),
    ) -> Result<()> {
        if self.len == BATCH {
            self.flush()?;
        }
        let buf = &mut self.buffers[self.len];
        buf.clear();
        buf.extend_from_slice(packet);
        if buf.len() >= 12 {
            patch(buf);
        }
        self.dsts.push(dst);
        self.len += 1;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn flush(&mut self) -> Result<()> {
        use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrIn};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;
        let mut from = 0;
        while from < self.len {
            let n = self.len - from;
            let iovs: Vec<[IoSlice<'_>; 1]> = self.buffers[from..self.len]
                .iter()
                .map(|b| [IoSlice::new(b)])
                .collect();
            let addrs: Vec<Option<SockaddrIn>> = self.dsts[from..self.len]
                .iter()
                .map(|d| match d {
                    SocketAddr::V4(v4) => Some(SockaddrIn::from(*v4)),
                    SocketAddr::V6(_) => None,
                })
                .collect();
            let mut headers = MultiHeaders::<SockaddrIn>::preallocate(n, None);
            let cmsgs: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                self.socket.as_raw_fd(),
                &mut headers,
                &iovs,
                &addrs,
                cmsgs,
                MsgFlags::empty(),
            ) {
                Ok(results) => {
                    let done = results.count().max(1);
                    self.sent += done as u64;
                    from += done;
                }
                Err(_) => {
                    // Skip the datagram that failed.
                    self.errors += 1;
                    from += 1;
                }
            }
        }
        self.len = 0;
        self.dsts.clear();
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn flush(&mut self) -> Result<()> {
        for (buf, dst) in self.buffers[..self.len].iter().zip(&self.dsts) {
            match self.socket.send_to(buf, dst) {
                Ok(_) => self.sent += 1,
                Err(_) => self.errors += 1,
            }
        }
        self.len = 0;
        self.dsts.clear();
        Ok(())
    }
}
