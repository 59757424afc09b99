//! Command-line arguments (clap derive): the only module that knows clap.
//! The shapes here are the contract of DESIGN.md's "The `mjpeg-rtp`
//! command"; each command's arguments convert (`From`) into the plain
//! options its module takes.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mjpeg_rtp::{CameraConfig, DecodeOptions, Decoder, Resize, RtspTransport, Scale};
use mjpeg_rtp_core::MAX_SCAN_BYTES;
use mjpeg_rtp_uring::Io;

use crate::output::{Format, SinkOptions};
use crate::{demo, pcap, recv, send};

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
}

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Jpeg, Format::Ppm, Format::Png]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Format::Jpeg => PossibleValue::new("jpeg")
                .alias("jpg")
                .help("The rebuilt JPEG, as received (`.jpg`)"),
            Format::Ppm => PossibleValue::new("ppm").help("RGB decode as binary PPM (P6)"),
            Format::Png => PossibleValue::new("png").help("RGB decode as PNG"),
        })
    }
}

/// `--io std|uring`, listed in `--help`. A value parser rather than
/// `ValueEnum` because [`Io`] belongs to the runtime, which knows no clap.
pub fn rtsp_transport_parser() -> impl TypedValueParser<Value = RtspTransport> {
    PossibleValuesParser::new([
        PossibleValue::new("udp").help("RTP/AVP over UDP to a port pair of ours"),
        PossibleValue::new("tcp").help("Interleaved in the RTSP connection"),
        PossibleValue::new("multicast").help("A multicast group of the server's choice"),
        PossibleValue::new("auto").help("UDP, then TCP when refused or nothing arrives"),
    ])
    // Only the names above get here.
    .map(|name| match name.as_str() {
        "udp" => RtspTransport::Udp,
        "tcp" => RtspTransport::Tcp,
        "multicast" => RtspTransport::Multicast,
        _ => RtspTransport::Auto,
    })
}

pub fn io_parser() -> impl TypedValueParser<Value = Io> {
    PossibleValuesParser::new([
        PossibleValue::new("std").help("Portable blocking sockets"),
        PossibleValue::new("uring").help("Linux io_uring multishot receive"),
    ])
    // Only the names above get here.
    .map(|name| match name.as_str() {
        "uring" => Io::Uring,
        _ => Io::Std,
    })
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
    #[command(flatten)]
    pub size: DecodeArgs,
}

/// Decode size and exactness: shared by `pcap`, `recv` and the bench.
#[derive(Debug, Clone, Copy, Args)]
pub struct DecodeArgs {
    /// Decode at 1/2, 1/4 or 1/8 of the size per side (libjpeg-turbo:
    /// DCT-domain scaling; zune-jpeg: full decode, then area average).
    #[arg(long, default_value = "1", value_name = "1/2|1/4|1/8", value_parser = parse_scale)]
    pub scale: Scale,
    /// Then resize to exactly WIDTHxHEIGHT (area filter).
    #[arg(long, value_name = "WxH", value_parser = parse_resize)]
    pub resize: Option<Resize>,
    /// Fast IDCT and fast chroma upsampling, like GStreamer's jpegdec
    /// (libjpeg-turbo only).
    #[arg(long)]
    pub fast: bool,
}

impl From<DecodeArgs> for DecodeOptions {
    fn from(args: DecodeArgs) -> Self {
        DecodeOptions {
            scale: args.scale,
            resize: args.resize,
            fast: args.fast,
        }
    }
}

pub fn parse_scale(s: &str) -> Result<Scale, String> {
    s.parse()
        .map_err(|e: mjpeg_rtp::DecodeOptionsError| e.to_string())
}

pub fn parse_resize(s: &str) -> Result<Resize, String> {
    s.parse()
        .map_err(|e: mjpeg_rtp::DecodeOptionsError| e.to_string())
}

impl From<&OutputArgs> for SinkOptions {
    fn from(args: &OutputArgs) -> Self {
        SinkOptions {
            out: args.out.clone(),
            formats: args.format.clone(),
            decode: args.decode,
            decoder: args.decoder,
            decode_options: args.size.into(),
        }
    }
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
    /// Without it, the first dynamic type that a few consecutive RFC 2435
    /// packets of a stream carry is learnt and the others refused.
    #[arg(long, value_name = "PT", value_parser = clap::value_parser!(u8).range(96..=127))]
    pub payload_type: Option<u8>,
    /// Largest JPEG scan data per frame, in bytes; larger frames are dropped.
    #[arg(long, value_name = "BYTES", default_value_t = CameraConfig::DEFAULT_MAX_FRAME_BYTES,
          value_parser = parse_frame_bytes)]
    pub max_frame_bytes: usize,
    /// At most N frames per second of each stream, chosen by RTP
    /// timestamp before any decode (the first frame of every 1/N s of
    /// stream time): a capture and the same stream received live keep
    /// the same frames. 0.001..=1000; default: every frame.
    #[arg(long, value_name = "N", value_parser = parse_max_fps)]
    pub max_fps: Option<f64>,
}

/// `--max-fps N` (also the bench's `--take-fps`): 0.001..=1000.
pub fn parse_max_fps(s: &str) -> Result<f64, String> {
    let fps: f64 = s.parse().map_err(|e| format!("{e}"))?;
    match mjpeg_rtp::max_fps_thinning(fps) {
        Some(_) => Ok(fps),
        None => Err("must be 0.001..=1000 frames per second".into()),
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

impl From<&PcapArgs> for pcap::Options {
    fn from(args: &PcapArgs) -> Self {
        pcap::Options {
            ports: args.ports.clone(),
            payload_type: args.receiver.payload_type,
            max_frame_bytes: args.receiver.max_frame_bytes,
            max_fps: args.receiver.max_fps,
        }
    }
}

/// `NAME=[HOST:]PORT`: a camera to listen for. HOST is the local address to
/// bind (a multicast group is joined); default: every IPv4 address.
/// `NAME=rtsp://[USER[:PASS]@]HOST[:PORT]/PATH`: a camera to ask for its
/// stream over RTSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraSpec {
    pub name: String,
    pub source: CameraSource,
}

#[derive(Clone, PartialEq, Eq)]
pub enum CameraSource {
    Udp {
        host: Option<IpAddr>,
        port: u16,
    },
    /// The URL as given (credentials included).
    Rtsp(String),
}

impl std::fmt::Debug for CameraSource {
    /// Without the URL's user info: argument structs end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CameraSource::Udp { host, port } => f
                .debug_struct("Udp")
                .field("host", host)
                .field("port", port)
                .finish(),
            CameraSource::Rtsp(url) => f.debug_tuple("Rtsp").field(&recv::redacted(url)).finish(),
        }
    }
}

impl CameraSpec {
    /// The address to bind (a UDP camera), or `None` (an RTSP camera).
    pub fn bind_addr(&self) -> Option<SocketAddr> {
        match self.source {
            CameraSource::Udp { host, port } => Some(udp_bind(host, port)),
            CameraSource::Rtsp(_) => None,
        }
    }
}

/// HOST (default: every IPv4 address) and PORT to bind.
fn udp_bind(host: Option<IpAddr>, port: u16) -> SocketAddr {
    let ip = host.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    SocketAddr::new(ip, port)
}

impl std::str::FromStr for CameraSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, addr) = s.split_once('=').ok_or_else(|| {
            format!(
                "expected NAME=[HOST:]PORT or NAME=rtsp://..., got {:?}",
                recv::redacted(s)
            )
        })?;
        if name.is_empty() {
            return Err(format!("empty camera name in {:?}", recv::redacted(s)));
        }
        if addr.starts_with("rtsp://") {
            // The name is a directory under --out.
            if name.contains(['/', '\\']) || name == "." || name == ".." {
                return Err(format!("camera name {name:?} cannot be a directory name"));
            }
            return Ok(CameraSpec {
                name: name.to_owned(),
                source: CameraSource::Rtsp(addr.to_owned()),
            });
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
            source: CameraSource::Udp { host, port },
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
    /// A camera to receive (repeatable): NAME=[HOST:]PORT to listen on a
    /// UDP port, or NAME=rtsp://[USER[:PASS]@]HOST[:PORT]/PATH to ask an
    /// RTSP camera (frames under OUT/NAME/). A password left out of the
    /// URL is read from --rtsp-password-file or the environment variable
    /// MJPEG_RTP_RTSP_PASSWORD, so that it is not visible in `ps`.
    #[arg(
        long = "camera",
        value_name = "NAME=[HOST:]PORT|NAME=rtsp://...",
        required = true
    )]
    pub cameras: Vec<CameraSpec>,
    /// How RTP travels from RTSP cameras: udp, tcp (interleaved in the
    /// RTSP connection), multicast (a group the server chooses, joined on
    /// the interface that reaches it) or auto (UDP, TCP when refused or
    /// nothing arrives).
    #[arg(long, default_value = "auto", value_parser = rtsp_transport_parser())]
    pub rtsp_transport: RtspTransport,
    /// A file whose first line is the password of RTSP URLs that give a
    /// user and no password.
    #[arg(long, value_name = "FILE")]
    pub rtsp_password_file: Option<PathBuf>,
    /// UDP cameras (NAME=[HOST:]PORT) send RTCP to PORT+1: read their
    /// sender reports (frame capture times) and answer with receiver
    /// reports. RTSP cameras always do.
    #[arg(long)]
    pub rtcp: bool,
    /// Receive backend.
    #[arg(long, default_value = "std", value_parser = io_parser())]
    pub io: Io,
    /// Receive without UDP GRO (Linux): the kernel's work per datagram
    /// instead of per run of a sender's datagrams, for `kernel_drops`
    /// counted per datagram (with GRO a dropped run counts once).
    #[arg(long)]
    pub no_gro: bool,
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
    #[command(flatten)]
    pub http: HttpArgs,
}

/// The live view of `recv`.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Serve the live view, JSON stats and Prometheus metrics here.
    #[arg(long = "http", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Access token every HTTP endpoint then wants (Bearer header or
    /// ?token=).
    #[arg(long = "http-token", value_name = "TOKEN", env = crate::http::TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// Concurrent stream.mjpg viewers allowed over all cameras.
    #[arg(long = "http-max-viewers", value_name = "N", default_value_t = crate::http::DEFAULT_MAX_VIEWERS)]
    pub max_viewers: usize,
}

impl From<&HttpArgs> for Option<crate::http::HttpOptions> {
    fn from(args: &HttpArgs) -> Self {
        Some(crate::http::HttpOptions {
            listen: args.listen?,
            token: args.token.clone(),
            max_viewers: args.max_viewers,
        })
    }
}

impl From<&RecvArgs> for recv::Options {
    fn from(args: &RecvArgs) -> Self {
        recv::Options {
            cameras: args
                .cameras
                .iter()
                .map(|c| recv::Camera {
                    name: c.name.clone(),
                    source: match &c.source {
                        CameraSource::Udp { host, port } => {
                            recv::Source::Udp(udp_bind(*host, *port))
                        }
                        CameraSource::Rtsp(url) => recv::Source::Rtsp {
                            url: url.clone(),
                            transport: args.rtsp_transport,
                        },
                    },
                })
                .collect(),
            rtsp_password: match &args.rtsp_password_file {
                Some(path) => recv::PasswordSource::File(path.clone()),
                None => std::env::var(recv::PASSWORD_ENV)
                    .ok()
                    .map_or(recv::PasswordSource::None, |p| {
                        recv::PasswordSource::Given(recv::Password(p))
                    }),
            },
            io: args.io,
            gro: !args.no_gro,
            output: (&args.output).into(),
            frames: args.frames,
            duration: args.duration.map(|s| Duration::from_secs_f64(s.max(0.0))),
            payload_type: args.receiver.payload_type,
            max_frame_bytes: args.receiver.max_frame_bytes,
            max_fps: args.receiver.max_fps,
            http: (&args.http).into(),
            rtcp: args.rtcp,
        }
    }
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

impl From<&SendArgs> for send::Options {
    fn from(args: &SendArgs) -> Self {
        // The "source" group lets exactly one of the two through.
        let source = if args.pattern {
            send::Source::Pattern {
                width: args.width,
                height: args.height,
                quality: args.quality,
            }
        } else {
            send::Source::Files(args.inputs.clone())
        };
        send::Options {
            source,
            to: args.to.clone(),
            fps: args.fps,
            mtu: args.mtu,
            repeat: args.repeat,
            frames: args.frames,
            ssrc: args.ssrc,
            payload_type: args.payload_type,
        }
    }
}

/// Frames per second: finite, in (0, 100000].
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
    #[arg(long, default_value = "std", value_parser = io_parser())]
    pub io: Io,
    /// Receive without UDP GRO (Linux), as `recv --no-gro`.
    #[arg(long)]
    pub no_gro: bool,
    /// Where the PNGs go.
    #[arg(long, value_name = "DIR", default_value = "out/demo")]
    pub out: PathBuf,
    /// How many received frames to write as PNG.
    #[arg(long, default_value_t = 3)]
    pub png: u64,
}

impl From<&DemoArgs> for demo::Options {
    fn from(args: &DemoArgs) -> Self {
        demo::Options {
            frames: args.frames,
            fps: args.fps,
            width: args.width,
            height: args.height,
            port: args.port,
            io: args.io,
            gro: !args.no_gro,
            out: args.out.clone(),
            png: args.png,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_specs() {
        let c: CameraSpec = "front=5004".parse().unwrap();
        assert_eq!(
            (c.name.as_str(), &c.source),
            (
                "front",
                &CameraSource::Udp {
                    host: None,
                    port: 5004
                }
            )
        );
        let c: CameraSpec = "back=127.0.0.1:6000".parse().unwrap();
        assert_eq!(c.bind_addr(), "127.0.0.1:6000".parse().ok());
        let c: CameraSpec = "v6=[::1]:6000".parse().unwrap();
        assert_eq!(c.bind_addr(), "[::1]:6000".parse().ok());
        let c: CameraSpec = "door=rtsp://admin:pw@10.0.0.5:8554/live".parse().unwrap();
        assert_eq!(
            c.source,
            CameraSource::Rtsp("rtsp://admin:pw@10.0.0.5:8554/live".into())
        );
        assert_eq!(c.bind_addr(), None);
        // Printed without the password.
        assert!(!format!("{c:?}").contains("pw"), "{c:?}");
        assert!("../x=rtsp://h/p".parse::<CameraSpec>().is_err());
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
        for bad in [["--scale", "1/3"], ["--resize", "0x5"], ["--resize", "big"]] {
            let mut argv = vec!["mjpeg-rtp", "pcap", "c.pcap"];
            argv.extend(bad);
            assert!(Cli::try_parse_from(&argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn arguments_become_options() {
        let cli = Cli::try_parse_from([
            "mjpeg-rtp",
            "recv",
            "--camera",
            "a=127.0.0.1:6000",
            "--io",
            "uring",
            "--format",
            "jpg,png",
            "--duration",
            "1.5",
            "--payload-type",
            "96",
            "--scale",
            "1/4",
            "--resize",
            "224x224",
        ])
        .unwrap();
        let Command::Recv(r) = cli.command else {
            panic!("not recv")
        };
        let options = recv::Options::from(&r);
        assert_eq!(options.io, Io::Uring);
        assert_eq!(options.output.formats, [Format::Jpeg, Format::Png]);
        assert_eq!(options.duration, Some(Duration::from_millis(1500)));
        assert_eq!(options.payload_type, Some(96));
        assert!(!options.rtcp, "RTCP of UDP cameras is opt-in");
        assert!(options.gro, "GRO is on unless --no-gro");
        assert_eq!(
            options.output.decode_options,
            DecodeOptions::default()
                .with_scale(Scale::Quarter)
                .with_resize(Resize::new(224, 224))
        );
        assert_eq!(
            options.max_frame_bytes,
            CameraConfig::DEFAULT_MAX_FRAME_BYTES
        );
        assert_eq!(
            options.cameras,
            [recv::Camera {
                name: "a".into(),
                source: recv::Source::Udp("127.0.0.1:6000".parse().unwrap())
            }]
        );
        let Command::Recv(r) = Cli::try_parse_from([
            "mjpeg-rtp",
            "recv",
            "--camera",
            "door=rtsp://viewer@127.0.0.1:8554/cam",
            "--rtsp-transport",
            "tcp",
            "--rtsp-password-file",
            "pw.txt",
            "--rtcp",
            "--no-gro",
        ])
        .unwrap()
        .command
        else {
            panic!("not recv")
        };
        let options = recv::Options::from(&r);
        assert_eq!(
            options.cameras[0].source,
            recv::Source::Rtsp {
                url: "rtsp://viewer@127.0.0.1:8554/cam".into(),
                transport: RtspTransport::Tcp
            }
        );
        assert_eq!(
            options.rtsp_password,
            recv::PasswordSource::File("pw.txt".into())
        );
        assert!(options.rtcp);
        assert!(!options.gro);
        let Command::Recv(r) = Cli::try_parse_from([
            "mjpeg-rtp",
            "recv",
            "--camera",
            "door=rtsp://127.0.0.1/cam",
            "--rtsp-transport",
            "multicast",
        ])
        .unwrap()
        .command
        else {
            panic!("not recv")
        };
        assert_eq!(r.rtsp_transport, RtspTransport::Multicast);
        assert!(Cli::try_parse_from(["mjpeg-rtp", "demo", "--io", "epoll"]).is_err());
        let Command::Demo(d) = Cli::try_parse_from(["mjpeg-rtp", "demo"]).unwrap().command else {
            panic!("not demo")
        };
        assert_eq!(demo::Options::from(&d).io, Io::Std);
        assert!(demo::Options::from(&d).gro, "GRO is on unless --no-gro");
        let Command::Demo(d) = Cli::try_parse_from(["mjpeg-rtp", "demo", "--no-gro"])
            .unwrap()
            .command
        else {
            panic!("not demo")
        };
        assert!(!demo::Options::from(&d).gro);
        let Command::Send(s) =
            Cli::try_parse_from(["mjpeg-rtp", "send", "--pattern", "--to", "h:1"])
                .unwrap()
                .command
        else {
            panic!("not send")
        };
        assert_eq!(
            send::Options::from(&s).source,
            send::Source::Pattern {
                width: 640,
                height: 480,
                quality: 80
            }
        );
    }
}
