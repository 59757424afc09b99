//! Command-line arguments (clap derive). The shapes here are the contract
//! of DESIGN.md's "The `mjpeg-rtp` command"; `recv` and `demo` take theirs
//! from this module too.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mjpeg_rtp::Decoder;
use mjpeg_rtp_core::MAX_SCAN_BYTES;

/// Default largest scan data per frame: ample for 4K MJPEG. Every frame
/// in flight of every stream holds a buffer this large.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 << 20;

#[derive(Debug, Parser)]
#[command(
    name = "mjpeg-rtp",
    version,
    about = "Receive MJPEG over RTP (RFC 2435): replay captures, listen live, send"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rebuild the frames of RTP/JPEG streams in a pcap or pcapng capture.
    Pcap(PcapArgs),
    /// Receive RTP/JPEG streams live from cameras.
    Recv(RecvArgs),
    /// Send JPEG files or a moving test pattern as RTP/JPEG.
    Send(SendArgs),
    /// Send the test pattern to ourselves over loopback, receive, decode,
    /// write a few PNGs and print the summary: proof of life with no camera.
    Demo(DemoArgs),
    /// Measure: pcap -> RGB against decode-only and GStreamer, reassembly
    /// against a copy, live camera scaling on loopback (table on stderr,
    /// JSON on stdout).
    Bench(crate::bench::BenchArgs),
}

/// Output file formats of a complete frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Format {
    /// The rebuilt JPEG, as received (`.jpg`).
    #[value(alias = "jpg")]
    Jpeg,
    /// RGB decode as binary PPM (P6).
    Ppm,
    /// RGB decode as PNG.
    Png,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Ppm => "ppm",
            Format::Png => "png",
        }
    }

    /// Whether writing this format needs the RGB decode.
    pub fn needs_rgb(self) -> bool {
        !matches!(self, Format::Jpeg)
    }
}

/// Where and how complete frames go: shared by `pcap`, `recv` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Write every complete frame as DIR/<port>/<RTP timestamp, 10 digits>.<ext>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Formats to write (comma separated): jpeg, ppm, png.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "jpeg",
        value_name = "FORMATS"
    )]
    pub format: Vec<Format>,
    /// Decode every frame to RGB even when nothing is written (timing).
    #[arg(long)]
    pub decode: bool,
    /// JPEG decoder for the RGB decode: zune-jpeg, or libjpeg-turbo in
    /// builds with the `turbojpeg` feature.
    #[arg(long, default_value = "zune-jpeg", value_parser = parse_decoder)]
    pub decoder: Decoder,
}

/// A decoder this build has; naming one it lacks is a usage error.
pub fn parse_decoder(s: &str) -> Result<Decoder, String> {
    let decoder: Decoder = s.parse()?;
    if !decoder.is_available() {
        return Err(format!(
            "{decoder} is not in this build (cargo build --features turbojpeg; \
             needs libturbojpeg0-dev)"
        ));
    }
    Ok(decoder)
}

/// Receiver tuning shared by `pcap` and `recv`.
#[derive(Debug, Clone, Args)]
pub struct ReceiverArgs {
    /// Dynamic payload type (96..=127) accepted besides the static 26.
    #[arg(long, value_name = "PT", value_parser = clap::value_parser!(u8).range(96..=127))]
    pub payload_type: Option<u8>,
    /// Largest JPEG scan data per frame, in bytes; larger frames are dropped.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FRAME_BYTES,
          value_parser = parse_frame_bytes)]
    pub max_frame_bytes: usize,
}

impl Default for ReceiverArgs {
    fn default() -> Self {
        ReceiverArgs {
            payload_type: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

fn parse_frame_bytes(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n == 0 || n > MAX_SCAN_BYTES {
        return Err(format!("must be 1..={MAX_SCAN_BYTES}"));
    }
    Ok(n)
}

#[derive(Debug, Clone, Args)]
pub struct PcapArgs {
    /// A pcap or pcapng capture (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback).
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// Only this UDP destination port (repeatable); default: every port.
    #[arg(long = "port", value_name = "P")]
    pub ports: Vec<u16>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub receiver: ReceiverArgs,
}

/// Receive backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Io {
    /// Portable blocking sockets.
    #[default]
    Std,
    /// Linux io_uring multishot receive.
    Uring,
}

/// `NAME=[HOST:]PORT`: a camera to listen for. HOST is the local address to
/// bind (a multicast group is joined); default: every IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraSpec {
    pub name: String,
    pub host: Option<IpAddr>,
    pub port: u16,
}

impl CameraSpec {
    /// The address to bind.
    pub fn bind_addr(&self) -> SocketAddr {
        let ip = self
            .host
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        SocketAddr::new(ip, self.port)
    }
}

impl std::str::FromStr for CameraSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=[HOST:]PORT, got {s:?}"))?;
        if name.is_empty() {
            return Err(format!("empty camera name in {s:?}"));
        }
        let (host, port) = match addr.rsplit_once(':') {
            Some((host, port)) => (Some(host), port),
            None => (None, addr),
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("bad port {port:?} in {s:?}"))?;
        let host = match host {
            None => None,
            Some(h) => Some(resolve_host(h).ok_or_else(|| format!("cannot resolve host {h:?}"))?),
        };
        Ok(CameraSpec {
            name: name.to_owned(),
            host,
            port,
        })
    }
}

fn resolve_host(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse() {
        return Some(ip);
    }
    (bare, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

#[derive(Debug, Clone, Args)]
pub struct RecvArgs {
    /// A camera to receive: NAME=[HOST:]PORT (repeatable).
    #[arg(long = "camera", value_name = "NAME=[HOST:]PORT", required = true)]
    pub cameras: Vec<CameraSpec>,
    /// Receive backend.
    #[arg(long, value_enum, default_value_t = Io::Std)]
    pub io: Io,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Stop after this many complete frames (over all cameras).
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    #[command(flatten)]
    pub receiver: ReceiverArgs,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["inputs", "pattern"])))]
pub struct SendArgs {
    /// JPEG files, or one directory of them (sent in name order).
    #[arg(value_name = "FILE.jpg|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Send a built-in moving colour test pattern instead of files.
    #[arg(long)]
    pub pattern: bool,
    /// Destination HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// Frames per second.
    #[arg(long, default_value_t = 25.0, value_parser = parse_fps)]
    pub fps: f64,
    /// Largest RTP packet in bytes (RTP header included).
    #[arg(long, default_value_t = 1400, value_parser = clap::value_parser!(u16).range(64..=65507))]
    pub mtu: u16,
    /// Start over at the end, until interrupted (or --frames).
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Test pattern width.
    #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u16).range(8..=8192))]
    pub width: u16,
    /// Test pattern height.
    #[arg(long, default_value_t = 480, value_parser = clap::value_parser!(u16).range(8..=8192))]
    pub height: u16,
    /// Test pattern JPEG quality (1..=100).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// RTP SSRC (decimal or 0x hex); default: random.
    #[arg(long, value_parser = parse_u32)]
    pub ssrc: Option<u32>,
    /// RTP payload type.
    #[arg(long, default_value_t = 26, value_parser = clap::value_parser!(u8).range(0..=127))]
    pub payload_type: u8,
}

fn parse_fps(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(v.is_finite() && v > 0.0 && v <= 100_000.0) {
        return Err("must be a number in (0, 100000]".into());
    }
    Ok(v)
}

/// Decimal or `0x` hexadecimal.
pub fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{e}"))
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Frames to send and receive.
    #[arg(long, default_value_t = 30)]
    pub frames: u64,
    /// Frames per second.
    #[arg(long, default_value_t = 30.0, value_parser = parse_fps)]
    pub fps: f64,
    /// Test pattern width.
    #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u16).range(8..=8192))]
    pub width: u16,
    /// Test pattern height.
    #[arg(long, default_value_t = 480, value_parser = clap::value_parser!(u16).range(8..=8192))]
    pub height: u16,
    /// Loopback UDP port to use (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Receive backend.
    #[arg(long, value_enum, default_value_t = Io::Std)]
    pub io: Io,
    /// Where the PNGs go.
    #[arg(long, value_name = "DIR", default_value = "out/demo")]
    pub out: PathBuf,
    /// How many received frames to write as PNG.
    #[arg(long, default_value_t = 3)]
    pub png: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_specs() {
        let c: CameraSpec = "front=5004".parse().unwrap();
        assert_eq!((c.name.as_str(), c.host, c.port), ("front", None, 5004));
        let c: CameraSpec = "back=127.0.0.1:6000".parse().unwrap();
        assert_eq!(c.bind_addr(), "127.0.0.1:6000".parse().unwrap());
        let c: CameraSpec = "v6=[::1]:6000".parse().unwrap();
        assert_eq!(c.bind_addr(), "[::1]:6000".parse().unwrap());
        assert!("noport".parse::<CameraSpec>().is_err());
        assert!("=5004".parse::<CameraSpec>().is_err());
        assert!("a=99999".parse::<CameraSpec>().is_err());
    }

    #[test]
    fn cli_parses_contract_forms() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "mjpeg-rtp",
            "pcap",
            "c.pcap",
            "--port",
            "5004",
            "--port",
            "5006",
            "--out",
            "o",
            "--format",
            "jpeg,ppm,png",
            "--decode",
        ])
        .unwrap();
        let Command::Pcap(p) = cli.command else {
            panic!("not pcap")
        };
        assert_eq!(p.ports, [5004, 5006]);
        assert_eq!(p.output.format, [Format::Jpeg, Format::Ppm, Format::Png]);
        assert!(p.output.decode);
        assert!(Cli::try_parse_from(["mjpeg-rtp", "send", "--to", "127.0.0.1:5004"]).is_err());
        assert!(Cli::try_parse_from([
            "mjpeg-rtp",
            "send",
            "--pattern",
            "--to",
            "h:1",
            "--fps",
            "10",
            "--mtu",
            "1200",
            "--loop"
        ])
        .is_ok());
        assert_eq!(parse_u32("0x11223344"), Ok(0x1122_3344));
    }
}
