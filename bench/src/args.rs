//! Command-line arguments (clap derive): the only module that knows clap.
//! Each form converts into the plain options of the module that runs it;
//! `--quick` is applied here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mjpeg_rtp::{DecodeOptions, Decoder};
use mjpeg_rtp_cli::args::{io_parser, parse_decoder, DecodeArgs};
use mjpeg_rtp_uring::{Io, UringOptions};

use crate::live::Ramp;
use crate::synth::SynthSpec;
use crate::{replay, rtsp_transport, run, rx_cpu, soak, viewers};

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Job {
    /// The whole benchmark: table on stderr, JSON on stdout.
    Bench(run::Options),
    /// The replay sender: its summary as JSON on stdout.
    Replay(replay::Options),
    /// Receive CPU per packet by backend: table on stdout.
    RxCpu {
        options: rx_cpu::Options,
        /// The io_uring backend's debug lines on stderr.
        verbose: bool,
    },
    /// `recv` CPU per packet with and without live viewers: table on
    /// stderr, JSON on stdout.
    Viewers(viewers::Options),
    /// An RTSP camera's receive CPU per packet, TCP vs UDP: table on
    /// stderr, JSON on stdout.
    RtspTransport(rtsp_transport::Options),
    /// `recv` with many cameras restarted at random: report on stdout,
    /// exit non-zero when a criterion is violated.
    Soak(soak::Options),
}

/// Parse this process's command line; exits with clap's message on a
/// usage error, and for `--help` and `--version`.
pub fn parse() -> Job {
    Job::from(&BenchArgs::parse())
}

/// Measure: pcap -> RGB against decode-only and GStreamer, reassembly
/// against a copy, live camera scaling on loopback (table on stderr,
/// JSON on stdout).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mjpeg-rtp-bench",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    /// Use this capture (pcap or pcapng, any link type the `pcap` command
    /// reads) instead of generating one: its first RTP/JPEG stream is
    /// measured, rewritten as a plain pcap that every contender reads.
    #[arg(long, value_name = "PCAP")]
    pub capture: Option<PathBuf>,
    /// Frames in the generated capture; a given capture with fewer
    /// frames is played again until it has at least this many.
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
    #[arg(long, value_delimiter = ',', default_values = ["std", "uring"], value_parser = io_parser())]
    pub io: Vec<Io>,
    /// Seconds per live step.
    #[arg(long, default_value_t = 2.5)]
    pub step: f64,
    /// Largest camera count tried live (high enough that passthrough
    /// meets the sender's limit on small machines).
    #[arg(long, default_value_t = 128)]
    pub max_cameras: usize,
    /// Live section: every camera thinned to N frames per second by RTP
    /// timestamp before decode, as a sampling consumer asks
    /// (`max_fps`); receive and reassembly still see every frame.
    #[arg(long, value_name = "N", value_parser = mjpeg_rtp_cli::args::parse_max_fps)]
    pub take_fps: Option<f64>,
    /// Skip the live section.
    #[arg(long)]
    pub no_live: bool,
    /// Skip GStreamer.
    #[arg(long)]
    pub no_gst: bool,
    /// Decoder of the live section (section 1 measures every decoder
    /// this build has).
    #[arg(long, default_value = "zune-jpeg", value_parser = parse_decoder)]
    pub decoder: Decoder,
    /// Picture size of the generated capture (testing aid).
    #[arg(long, value_name = "WxH", default_value = "1920x1080", value_parser = parse_size, hide = true)]
    pub size: (u16, u16),
    /// Where the generated capture, or the rewrite of a given one, is
    /// written (default: a temporary file).
    #[arg(long, value_name = "PATH")]
    pub keep_capture: Option<PathBuf>,
    /// Decode size for section 4 and the live section. Without any of
    /// these, section 4 measures `--scale 1/4` and `--fast` (the latter
    /// with libjpeg-turbo only) and the live section decodes full size.
    #[command(flatten)]
    pub decode_size: DecodeArgs,
    /// Skip section 4 (decode at the model's size).
    #[arg(long)]
    pub no_decode_size: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Sender process of the live section and of rx-cpu: replay a
    /// capture's frames to many cameras with sendmmsg, paced per camera.
    #[command(hide = true)]
    Replay(ReplayArgs),
    /// Receive CPU per packet: std (one datagram per call; batched, with
    /// and without UDP GRO) vs io_uring (with and without UDP GRO), 1080p
    /// over loopback, the sender in its own process.
    #[command(name = "rx-cpu", alias = "rx_cpu")]
    RxCpu(RxCpuArgs),
    /// `mjpeg-rtp recv --http` CPU per received packet, one 1080p camera,
    /// with 0 and with N viewers of its stream.mjpg, alternating (issue
    /// 12's goal: <= 1.05x).
    Viewers(ViewersArgs),
    /// Receive CPU per packet of one 1080p RTSP camera over TCP
    /// interleaved vs UDP, alternating (issue 11's goal: <= 1.3x).
    #[command(name = "rtsp-transport")]
    RtspTransport(RtspTransportArgs),
    /// `mjpeg-rtp recv --http` with 16 cameras (RTSP over UDP and TCP with
    /// Digest auth, plain RTP) whose servers restart at random, viewers
    /// coming and going and /metrics scraped every second (issue 22):
    /// fails on growth of RSS, fds or threads, a reconnect gap over 3 s,
    /// a session lapse or a frame not pixel-exact.
    Soak(SoakArgs),
}

/// What [`replay::argv`] writes.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[arg(long, value_name = "PCAP")]
    pub capture: PathBuf,
    /// Destinations, one camera each (comma separated).
    #[arg(long, value_name = "ADDR:PORT", value_delimiter = ',', required = true)]
    pub to: Vec<SocketAddr>,
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Frames sent to every destination.
    #[arg(long)]
    pub frames: usize,
    /// Share of the frame interval over which a frame's packets are
    /// spread (0: one burst).
    #[arg(long, default_value_t = 0.5)]
    pub spread: f64,
    /// Share of the frame interval over which the cameras are staggered
    /// (0: all at once).
    #[arg(long, default_value_t = 1.0)]
    pub stagger: f64,
    /// One datagram per message: no UDP segmentation offload.
    #[arg(long)]
    pub no_gso: bool,
    /// Each packet at its own due time, not in 1 ms bunches.
    #[arg(long)]
    pub trickle: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RxCpuArgs {
    /// Cameras received at once.
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=rx_cpu::MAX_STREAMS as i64))]
    pub streams: u16,
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Seconds per run.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Runs of each backend, alternating.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// io_uring: completions per wait (UringOptions::batch).
    #[arg(long, value_name = "N")]
    pub batch: Option<u32>,
    /// io_uring: longest wait for a batch, microseconds (0: no batching).
    #[arg(long, value_name = "US")]
    pub batch_wait_us: Option<u64>,
    /// io_uring: buffers in the provided-buffer ring.
    #[arg(long, value_name = "N")]
    pub buffers: Option<u16>,
    /// The io_uring backend's debug lines (waits, completions per wait,
    /// ENOBUFS re-arms) on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Share of the frame interval over which the sender spreads each
    /// frame's packets (0: one burst), as cameras that pace their
    /// packets do: what the std backend's lingering is for.
    #[arg(long, default_value_t = 0.0)]
    pub spread: f64,
    /// The sender sends each packet at its own time (with --spread: one
    /// by one, as from a camera on a 100 Mbit/s link) instead of in 1 ms
    /// bunches.
    #[arg(long)]
    pub trickle: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ViewersArgs {
    /// Viewers of the camera's stream.mjpg in the "with" case.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub viewers: u16,
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Seconds the sender runs in each case.
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Rounds of (0 viewers, N viewers).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// The `mjpeg-rtp` binary (default: the one next to this executable).
    #[arg(long, value_name = "PATH")]
    pub recv: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RtspTransportArgs {
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Seconds of stream per case.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Rounds of (UDP, TCP).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
}

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// Seconds of soak (restart intervals scale with it below 600).
    #[arg(long, default_value_t = 600.0)]
    pub duration: f64,
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(3..=64))]
    pub cameras: u16,
    /// Frames per second of every camera.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub fps: u32,
    /// Picture size.
    #[arg(long, value_name = "WxH", default_value = "320x240", value_parser = parse_size)]
    pub size: (u16, u16),
    /// Viewers connecting and disconnecting at random.
    #[arg(long, default_value_t = 4)]
    pub viewers: u16,
    /// Seed of the restart times and the viewers (default: the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Restart nothing: a control run, to tell growth that comes with
    /// restarts from growth that comes with time.
    #[arg(long)]
    pub no_restarts: bool,
    /// The `mjpeg-rtp` binary (default: the one next to this executable).
    #[arg(long, value_name = "PATH")]
    pub recv: Option<PathBuf>,
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

impl From<&BenchArgs> for Job {
    fn from(args: &BenchArgs) -> Self {
        match &args.command {
            None => Job::Bench(run::Options::from(args)),
            Some(BenchCommand::Replay(replay)) => Job::Replay(replay.into()),
            Some(BenchCommand::RxCpu(rx)) => Job::RxCpu {
                options: rx.into(),
                verbose: rx.verbose,
            },
            Some(BenchCommand::Viewers(v)) => Job::Viewers(viewers::Options {
                viewers: usize::from(v.viewers),
                fps: v.fps,
                seconds: v.seconds.max(0.5),
                rounds: v.rounds as usize,
                recv: v.recv.clone(),
            }),
            Some(BenchCommand::RtspTransport(r)) => Job::RtspTransport(rtsp_transport::Options {
                fps: r.fps,
                seconds: r.seconds.max(0.5),
                rounds: r.rounds as usize,
            }),
            Some(BenchCommand::Soak(s)) => Job::Soak(soak::Options {
                duration: s.duration.max(20.0),
                cameras: usize::from(s.cameras),
                fps: s.fps,
                width: s.size.0,
                height: s.size.1,
                viewers: usize::from(s.viewers),
                seed: s.seed.unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(1, |d| d.as_nanos() as u64)
                }),
                restarts: !s.no_restarts,
                recv: s.recv.clone(),
            }),
        }
    }
}

impl From<&BenchArgs> for run::Options {
    fn from(args: &BenchArgs) -> Self {
        let quick = args.quick;
        run::Options {
            capture: args.capture.clone(),
            synth: SynthSpec {
                width: args.size.0,
                height: args.size.1,
                distinct: if quick {
                    args.distinct.min(3)
                } else {
                    args.distinct
                },
                frames: if quick {
                    args.frames.min(30)
                } else {
                    args.frames
                },
                ..SynthSpec::default()
            },
            keep_capture: args.keep_capture.clone(),
            repeat: if quick { 1 } else { args.repeat.max(1) },
            gst: !args.no_gst,
            io: if args.no_live {
                Vec::new()
            } else {
                args.io.clone()
            },
            ramp: Ramp {
                fps: 30.0,
                step: if quick { 1.0 } else { args.step.max(0.5) },
                max_cameras: if quick {
                    args.max_cameras.min(4)
                } else {
                    args.max_cameras.max(1)
                },
                bisect: !quick,
                decoder: args.decoder,
                decode_options: DecodeOptions::from(args.decode_size),
                take_fps: args.take_fps,
            },
            decode_cases: match DecodeOptions::from(args.decode_size) {
                _ if args.no_decode_size => Vec::new(),
                o if o == DecodeOptions::default() => crate::decode_size::default_cases(),
                o => vec![o],
            },
        }
    }
}

impl From<&ReplayArgs> for replay::Options {
    fn from(args: &ReplayArgs) -> Self {
        replay::Options {
            capture: args.capture.clone(),
            to: args.to.clone(),
            fps: args.fps,
            frames: args.frames,
            spread: args.spread,
            stagger: args.stagger,
            gso: !args.no_gso,
            trickle: args.trickle,
        }
    }
}

impl From<&RxCpuArgs> for rx_cpu::Options {
    fn from(args: &RxCpuArgs) -> Self {
        let mut uring = UringOptions::default();
        if let Some(batch) = args.batch {
            uring.batch = batch;
        }
        if let Some(us) = args.batch_wait_us {
            uring.batch_wait = Duration::from_micros(us);
        }
        if let Some(buffers) = args.buffers {
            uring.buffers = buffers;
        }
        rx_cpu::Options {
            streams: usize::from(args.streams),
            fps: args.fps,
            seconds: args.seconds,
            rounds: args.rounds as usize,
            spread: args.spread,
            trickle: args.trickle,
            uring,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(argv: &[&str]) -> Job {
        Job::from(&BenchArgs::try_parse_from(argv).unwrap())
    }

    /// The options of the job `argv` parses to, which must be a `$job`.
    macro_rules! parsed {
        ($job:path, $argv:expr) => {
            match job($argv) {
                $job(options) => options,
                other => panic!("{:?}: not {}: {other:?}", $argv, stringify!($job)),
            }
        };
    }

    /// Values out of their range are refused by clap, before any job.
    #[test]
    fn out_of_range_values_are_refused() {
        for argv in [
            &["b", "--io", "epoll"][..],
            &["b", "rx-cpu", "--streams", "0"],
            &["b", "viewers", "--viewers", "0"],
            &["b", "rtsp-transport", "--rounds", "0"],
        ] {
            assert!(BenchArgs::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn quick_shrinks_the_run() {
        use clap::CommandFactory;
        BenchArgs::command().debug_assert();
        let full = parsed!(Job::Bench, &["b"]);
        assert_eq!(full.io, [Io::Std, Io::Uring]);
        assert_eq!((full.repeat, full.synth.frames), (3, 300));
        assert!(full.ramp.bisect && full.gst);
        let quick = parsed!(Job::Bench, &["b", "--quick", "--io", "uring", "--no-gst"]);
        assert_eq!(quick.io, [Io::Uring]);
        assert_eq!((quick.repeat, quick.synth.frames), (1, 30));
        assert_eq!((quick.ramp.step, quick.ramp.max_cameras), (1.0, 4));
        assert!(!quick.ramp.bisect && !quick.gst);
        let no_live = parsed!(Job::Bench, &["b", "--no-live"]);
        assert!(no_live.io.is_empty());
        assert_eq!(full.ramp.decode_options, DecodeOptions::default());
        assert_eq!(full.decode_cases, crate::decode_size::default_cases());
        let quarter = parsed!(Job::Bench, &["b", "--scale", "1/4"]);
        let q = DecodeOptions::default().with_scale(mjpeg_rtp::Scale::Quarter);
        assert_eq!(
            (quarter.ramp.decode_options, quarter.decode_cases),
            (q, vec![q])
        );
        let none = parsed!(Job::Bench, &["b", "--no-decode-size"]);
        assert!(none.decode_cases.is_empty());
    }

    #[test]
    fn replay_reads_what_argv_writes() {
        let options = replay::Options {
            capture: "/tmp/c.pcap".into(),
            to: vec![
                "127.0.0.1:5004".parse().unwrap(),
                "127.1.0.2:6000".parse().unwrap(),
            ],
            fps: 29.97,
            frames: 75,
            spread: 0.0,
            stagger: 0.25,
            gso: false,
            trickle: true,
        };
        let mut argv = vec!["b".to_owned()];
        argv.extend(replay::argv(&options));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let back = parsed!(Job::Replay, &argv);
        assert_eq!(back, options);
    }

    #[test]
    fn rx_cpu_tunes_the_ring() {
        let Job::RxCpu { options, verbose } = job(&[
            "b",
            "rx-cpu",
            "--streams",
            "4",
            "--batch-wait-us",
            "0",
            "--verbose",
        ]) else {
            panic!("not rx-cpu")
        };
        assert!(verbose);
        assert_eq!((options.streams, options.rounds), (4, 2));
        assert_eq!(options.uring.batch_wait, Duration::ZERO);
        assert_eq!(options.uring.buffers, UringOptions::default().buffers);
        assert!(BenchArgs::try_parse_from(["b", "rx_cpu", "--rounds", "1"]).is_ok());
    }

    #[test]
    fn viewers_defaults_to_four_viewers_three_rounds() {
        let defaults = viewers::Options {
            viewers: 4,
            fps: 30.0,
            seconds: 4.0,
            rounds: 3,
            recv: None,
        };
        assert_eq!(parsed!(Job::Viewers, &["b", "viewers"]), defaults);
        let options = parsed!(
            Job::Viewers,
            &["b", "viewers", "--viewers", "2", "--recv", "/x"]
        );
        assert_eq!((options.viewers, options.recv), (2, Some("/x".into())));
    }

    #[test]
    fn soak_defaults_to_ten_minutes_of_sixteen_cameras() {
        let o = parsed!(Job::Soak, &["b", "soak", "--seed", "7"]);
        assert_eq!(
            (o.duration, o.cameras, o.fps, o.viewers),
            (600.0, 16, 10, 4)
        );
        assert_eq!((o.width, o.height, o.seed), (320, 240, 7));
        let short = parsed!(Job::Soak, &["b", "soak", "--duration", "60"]);
        assert_eq!(short.duration, 60.0);
        assert!(o.restarts && !parsed!(Job::Soak, &["b", "soak", "--no-restarts"]).restarts);
        assert!(BenchArgs::try_parse_from(["b", "soak", "--cameras", "2"]).is_err());
        assert_eq!(soak::restart_scale(600.0), 1.0);
        assert_eq!(soak::restart_scale(60.0), 1.0 / 6.0);
        assert_eq!(soak::restart_scale(300.0), 0.5);
    }

    #[test]
    fn rtsp_transport_defaults_to_three_rounds_of_five_seconds() {
        let defaults = rtsp_transport::Options {
            fps: 30.0,
            seconds: 5.0,
            rounds: 3,
        };
        assert_eq!(
            parsed!(Job::RtspTransport, &["b", "rtsp-transport"]),
            defaults
        );
    }
}
