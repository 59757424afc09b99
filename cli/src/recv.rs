//! `mjpeg-rtp recv`: live receive through the runtime's [`Client`], with a
//! status line per camera on a terminal, until `--frames`, `--duration` or
//! Ctrl-C; then the JSON summary (printed by the caller).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mjpeg_rtp::decode::RgbSize;
use mjpeg_rtp::{CameraConfig, CameraStats, Client, ClientOptions, Frame, RtspTransport};
use mjpeg_rtp_uring::Io;

use crate::output::{FrameSink, SinkOptions};
use mjpeg_rtp_capture::summary::Summary;

/// How long one wait for a frame lasts before the stop conditions are
/// checked again.
const POLL: Duration = Duration::from_millis(100);
/// Refresh period of the status lines.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// How often free malloc pages are handed back
/// ([`mjpeg_rtp::release_free_memory`]): a receiver runs for days.
const TRIM_INTERVAL: Duration = Duration::from_secs(30);

/// The environment variable a password comes from when an RTSP URL
/// has a user and no password (and no password file is given).
pub const PASSWORD_ENV: &str = "MJPEG_RTP_RTSP_PASSWORD";

/// A camera to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Camera {
    pub name: String,
    pub source: Source,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// Listen on this local address (a multicast group is joined).
    Udp(SocketAddr),
    /// Ask an RTSP server; frames go to `OUT/<camera name>/`.
    Rtsp {
        /// `rtsp://[user[:pass]@]host[:port]/path`.
        url: String,
        transport: RtspTransport,
    },
}

impl std::fmt::Debug for Source {
    /// Without the URL's user info.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Udp(bind) => f.debug_tuple("Udp").field(bind).finish(),
            Source::Rtsp { url, transport } => f
                .debug_struct("Rtsp")
                .field("url", &redacted(url))
                .field("transport", transport)
                .finish(),
        }
    }
}

/// Where the password of RTSP URLs that name a user and no password
/// comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    None,
    Given(Password),
    /// The first line of this file.
    File(PathBuf),
}

/// A password, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// `text` with any URL user info removed, for messages.
pub fn redacted(text: &str) -> String {
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => text.to_owned(),
            }
        }
        None => text.to_owned(),
    }
}

/// `url` with `password` filled in when it names a user and no password.
fn with_password(url: &str, password: &PasswordSource) -> Result<String> {
    let mut parsed =
        url::Url::parse(url).with_context(|| format!("bad RTSP URL {:?}", redacted(url)))?;
    if parsed.username().is_empty() || parsed.password().is_some() {
        return Ok(url.to_owned());
    }
    let password = match password {
        PasswordSource::None => return Ok(url.to_owned()),
        PasswordSource::Given(p) => p.0.clone(),
        PasswordSource::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?;
            text.lines().next().unwrap_or_default().to_owned()
        }
    };
    if parsed.set_password(Some(&password)).is_err() {
        bail!("cannot set a password in {:?}", redacted(url));
    }
    Ok(parsed.into())
}

/// What `recv` receives, how, and until when.
#[derive(Debug, Clone)]
pub struct Options {
    pub cameras: Vec<Camera>,
    /// Receive backend; io_uring falls back to std sockets, with one
    /// warning line, where it cannot be used.
    pub io: Io,
    /// UDP GRO in whichever backend runs (`--no-gro`: off).
    pub gro: bool,
    pub output: SinkOptions,
    /// Stop after this many complete frames (over all cameras).
    pub frames: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Dynamic payload type (96..=127) accepted besides the static 26.
    pub payload_type: Option<u8>,
    /// Largest JPEG scan data per frame, in bytes.
    pub max_frame_bytes: usize,
    /// At most this many frames per second per camera, by RTP timestamp
    /// ([`CameraConfig::max_fps`]).
    pub max_fps: Option<f64>,
    /// The password of RTSP URLs with a user and no password.
    pub rtsp_password: PasswordSource,
    /// Serve the live view (`--http`).
    pub http: Option<crate::http::HttpOptions>,
    /// Read RTCP on the port above each unicast UDP camera's (`--rtcp`;
    /// a multicast group's RTCP is not read, and says so).
    pub rtcp: bool,
}

/// What a run of `recv` got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The JSON summary, printed whatever happened.
    pub summary: Summary,
    /// Cameras that delivered no complete frame during the run, in the
    /// order they were given: the run failed for them.
    pub silent: Vec<String>,
}

impl Received {
    /// `Err` naming the cameras that delivered no frame, for the exit
    /// status (the summary is printed either way).
    pub fn check(&self) -> Result<()> {
        match self.silent.as_slice() {
            [] => Ok(()),
            [one] => bail!("camera {one:?} delivered no frame"),
            many => bail!(
                "cameras {} delivered no frame",
                many.iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Receive until `options.frames`, `options.duration` or Ctrl-C.
pub fn run(options: &Options) -> Result<Received> {
    // A receiver runs for days while sessions and viewers come and go:
    // two malloc arenas keep its memory flat (see the function).
    mjpeg_rtp::limit_malloc_arenas(2);
    let stop = crate::signal::stop_flag();
    let mut client = Client::new(ClientOptions {
        decode_threads: 0,
        backend: mjpeg_rtp_uring::backend_with_gro(options.io, options.gro),
    });
    client.set_decoder(options.output.decoder)?;
    let mut rtsp_cameras = HashSet::new();
    // JPEG passthrough unless something wants the pixels: no decode
    // backlog can then shed a frame before it is written or shown live.
    client.set_decode(options.output.wants_rgb());
    client.set_decode_options(options.output.decode_options)?;
    for camera in &options.cameras {
        let mut config = match &camera.source {
            Source::Udp(bind) => {
                let multicast = bind.ip().is_multicast();
                if options.rtcp && multicast {
                    log::warn!(
                        "camera {:?}: --rtcp does not apply to a multicast group; its RTCP is not read",
                        camera.name
                    );
                }
                CameraConfig {
                    rtcp: options.rtcp && !multicast,
                    ..CameraConfig::new(camera.name.clone(), *bind)
                }
            }
            Source::Rtsp { url, transport } => {
                rtsp_cameras.insert(camera.name.clone());
                let url = with_password(url, &options.rtsp_password)?;
                CameraConfig::rtsp(camera.name.clone(), url).with_rtsp_transport(*transport)
            }
        };
        config.max_frame_bytes = options.max_frame_bytes;
        config.dynamic_payload_type = options.payload_type;
        config.max_fps = options.max_fps;
        // Files are written on this thread: allow a little slack.
        config.queue_depth = 8;
        client.add_camera(config)?;
    }
    client.start()?;
    let mut sink = FrameSink::new(&options.output)?;
    let mut live = match &options.http {
        Some(http) => {
            let live = crate::http::LiveView::start(http, &client)?;
            eprintln!("mjpeg-rtp: live view on http://{}/", live.local_addr());
            Some(live)
        }
        None => None,
    };
    let mut status = StatusLines::new(&client);
    let mut next_trim = Instant::now() + TRIM_INTERVAL;
    let deadline = options.duration.map(|d| Instant::now() + d);
    let limit = options.frames;
    let mut frames = 0u64;
    let result = (|| -> Result<()> {
        while !stop.load(Ordering::SeqCst)
            && limit.is_none_or(|n| frames < n)
            && deadline.is_none_or(|d| Instant::now() < d)
        {
            let wait = deadline.map_or(POLL, |d| {
                d.saturating_duration_since(Instant::now()).min(POLL)
            });
            if let Some(frame) = client.next_frame(wait) {
                if let Some(live) = &live {
                    live.publish(&frame);
                }
                write_frame(&client, &rtsp_cameras, &mut sink, &frame)?;
                frames += 1;
            }
            if let Some(live) = &mut live {
                live.refresh(&client, false);
            }
            status.update(&client, false);
            if Instant::now() >= next_trim {
                mjpeg_rtp::release_free_memory();
                next_trim = Instant::now() + TRIM_INTERVAL;
            }
        }
        Ok(())
    })();
    client.stop();
    drop(live);
    status.update(&client, true);
    result?;
    // Frames decoded before the stop are still worth writing, unless
    // --frames said how many.
    while limit.is_none_or(|n| frames < n) {
        let Some(frame) = client.next_frame(Duration::ZERO) else {
            break;
        };
        write_frame(&client, &rtsp_cameras, &mut sink, &frame)?;
        frames += 1;
    }
    let stats = client.stats();
    // A camera "delivered" when the client rebuilt a whole frame of it,
    // whether or not `--frames` stopped the run before it was taken.
    let silent = stats
        .iter()
        .filter(|camera| camera.frames_complete() == 0)
        .map(|camera| camera.camera_id.clone())
        .collect();
    Ok(Received {
        summary: Summary::of_cameras(&stats),
        silent,
    })
}

fn write_frame(
    client: &Client,
    rtsp_cameras: &HashSet<String>,
    sink: &mut FrameSink,
    frame: &Frame,
) -> Result<()> {
    let stream_dir = match rtsp_cameras.contains(frame.camera_id()) {
        true => frame.camera_id().to_owned(),
        false => client
            .local_addr(frame.camera_id())
            .map_or(0, |a| a.port())
            .to_string(),
    };
    // The size it was decoded to (scale, resize), not the picture's.
    let (height, width, _) = frame.shape();
    let size = RgbSize { width, height };
    sink.write_in(
        &stream_dir,
        frame.timestamp,
        frame.jpeg(),
        Some((size, frame.rgb())),
    )
    .with_context(|| format!("camera {:?}", frame.camera_id()))?;
    Ok(())
}

/// One line per camera on stderr, rewritten in place once a second, when
/// stderr is a terminal.
struct StatusLines {
    enabled: bool,
    drawn: bool,
    last: Instant,
    previous: Vec<CameraStats>,
}

impl StatusLines {
    fn new(client: &Client) -> Self {
        StatusLines {
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
            last: Instant::now(),
            previous: client.stats(),
        }
    }

    fn update(&mut self, client: &Client, last: bool) {
        let elapsed = self.last.elapsed();
        if !self.enabled || (!last && elapsed < STATUS_PERIOD) {
            return;
        }
        let seconds = elapsed.as_secs_f64().max(1e-3);
        let now = client.stats();
        let mut out = std::io::stderr().lock();
        if self.drawn {
            // Back to the first of our lines.
            let _ = write!(out, "\x1b[{}A", now.len());
        }
        for (cur, prev) in now.iter().zip(&self.previous) {
            let line = status_line(cur, prev, seconds);
            let _ = writeln!(out, "\r\x1b[2K{line}");
        }
        let _ = out.flush();
        self.drawn = true;
        self.previous = now;
        self.last = Instant::now();
    }
}

/// `name :port  fps  loss  kbit/s  totals`, over the last interval.
fn status_line(cur: &CameraStats, prev: &CameraStats, seconds: f64) -> String {
    let delta = |a: u64, b: u64| a.saturating_sub(b) as f64;
    let fps = delta(cur.frames_complete(), prev.frames_complete()) / seconds;
    let received = delta(cur.packets_received(), prev.packets_received());
    let lost = delta(cur.packets_lost(), prev.packets_lost());
    let loss = if received + lost > 0.0 {
        100.0 * lost / (received + lost)
    } else {
        0.0
    };
    let kbits = delta(cur.bytes, prev.bytes) * 8.0 / 1000.0 / seconds;
    let size = cur
        .streams
        .last()
        .map(|s| format!("{}x{}", s.width, s.height))
        .unwrap_or_else(|| "-".into());
    format!(
        "{:<12} :{:<5} {:>6.1} fps {:>5.1}% loss {:>8.0} kbit/s  {size:>9}  frames {} dropped {} lost pkts {}",
        cur.camera_id,
        cur.local_addr.port(),
        fps,
        loss,
        kbits,
        cur.frames_complete(),
        cur.frames_dropped() + cur.frames_dropped_queue + cur.frames_dropped_backlog,
        cur.packets_lost(),
    )
}
