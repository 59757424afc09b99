//! `mjpeg-rtp-bench soak`: many cameras for minutes while everything
//! around the receiver misbehaves in the ordinary ways, and the receiver
//! must neither leak, stall, lapse nor corrupt (issue 22, "How it is
//! proven").
//!
//! One real `mjpeg-rtp recv --http` process (the binary next to this one)
//! receives `cameras` cameras, a third each (rounded):
//! - RTSP over UDP from gst-rtsp-server (`tests/fixtures/tools/rtsp_server.py`,
//!   Digest auth);
//! - RTSP over TCP interleaved from the same server started `--tcp-only`
//!   (Digest auth; `recv` runs `--rtsp-transport auto`, so the 461 to its
//!   UDP SETUP sends it to TCP, as real TCP-only cameras do);
//! - plain RTP from `mjpeg-rtp send --loop`.
//!
//! Every server and sender is killed and started again at random, every
//! 30-90 s (scaled by `duration / 600` for shorter runs, see
//! [`restart_scale`]), until a few seconds before the end. Four viewers
//! open a random camera's `stream.mjpg` and leave at random (some right
//! after the first bytes), `/metrics` and `/api/cameras` are fetched
//! every second, and `recv`'s RSS, open file descriptors and threads are
//! read from `/proc` at the same time.
//!
//! Frames are observed by one checking viewer per camera on its
//! `stream.mjpg` (a fast reader gets every frame at these rates; one it
//! misses is just not checked): each frame's arrival time, and its pixels
//! against the served JPEGs (decoded with zune-jpeg; a received JPEG
//! already seen is not decoded again). `--out` is not used: `recv`
//! remembers a few bytes per file written, which would read as growth.
//!
//! Pass criteria (a failed one is named in the error, the JSON report is
//! printed either way):
//! - RSS, open fds and threads at the end (median of the last window)
//!   within ±10% of their first-minute level: the median of the last
//!   third of the first minute (of the first sixth of a shorter run), the
//!   level start-up has reached;
//! - every checked frame pixel-exact against one of the served pictures;
//! - after every restart, frames again within [`GAP_LIMIT`] of the
//!   server being ready (its "READY" line; a sender's start);
//! - no session lapse: no RTSP reconnect beyond one per restart of that
//!   camera's server, and no frame gap over [`GAP_LIMIT`] that no restart
//!   explains;
//! - every `/metrics` and `/api/cameras` fetch answered 200.
//!
//! The JSON report goes to stdout, progress to stderr.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use crate::capture::Scratch;
use crate::cpu::loadavg;
use crate::synth::{self, SynthSpec};
use crate::viewers::recv_binary;

/// The longest a camera may go without frames once its server is back.
pub const GAP_LIMIT: f64 = 3.0;
/// How far the end level of RSS, fds and threads may be from the first
/// minute's.
pub const LEVEL_TOLERANCE: f64 = 0.10;
/// The run issue 22 asks for; restart intervals are scaled against it.
pub const FULL_RUN: f64 = 600.0;
/// Restart interval at full length, seconds.
pub const RESTART_EVERY: (f64, f64) = (30.0, 90.0);
const PYTHON: &str = "/usr/bin/python3";
const USER: &str = "soak";
const PASSWORD: &str = "s0ak-digest";

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub duration: f64,
    pub cameras: usize,
    pub fps: u32,
    pub width: u16,
    pub height: u16,
    /// Viewers connecting and leaving at random.
    pub viewers: usize,
    pub seed: u64,
    /// Restart servers and senders (off: the control run, which tells
    /// growth that comes with restarts from growth that comes with time).
    pub restarts: bool,
    /// The `mjpeg-rtp` binary (default: next to this executable).
    pub recv: Option<PathBuf>,
}

/// Restart intervals are `RESTART_EVERY` times this: proportional to the
/// run's length, but no shorter than a sixth (5-15 s), since a restart
/// costs a Python and GStreamer start-up on a small machine.
pub fn restart_scale(duration: f64) -> f64 {
    (duration / FULL_RUN).clamp(1.0 / 6.0, 1.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    RtspUdp,
    RtspTcp,
    Rtp,
}

/// One restart of a camera's server or sender, seconds since the start.
#[derive(Debug, Clone, Serialize)]
pub struct Restart {
    pub killed_at: f64,
    pub ready_at: f64,
    /// Last frame before the kill, first after ready (None: none came).
    pub last_frame_before: Option<f64>,
    pub first_frame_after: Option<f64>,
    /// first_frame_after - ready_at: the receiver's part of the outage.
    pub reconnect_gap: Option<f64>,
    /// first_frame_after - last_frame_before: the whole outage.
    pub outage: Option<f64>,
    /// Frames checked (all pixel-exact or counted as mismatches) between
    /// this restart and the next one.
    pub frames_checked_after: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraReport {
    pub name: String,
    pub kind: Kind,
    pub restarts: Vec<Restart>,
    /// `reconnects` of /api/cameras at the end.
    pub reconnects: u64,
    pub frames_checked: u64,
    pub frames_mismatched: u64,
    /// Gaps between frames over GAP_LIMIT that no restart explains:
    /// (start, end) in seconds.
    pub unexplained_gaps: Vec<(f64, f64)>,
    /// Times the checking viewer had to connect again.
    pub checker_reconnects: u64,
}

/// One second's reading of `recv`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub t: f64,
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub first: f64,
    pub end: f64,
    pub change: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ViewerStats {
    pub sessions: u64,
    pub refused: u64,
    pub errors: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub duration: f64,
    pub cameras: usize,
    pub fps: u32,
    pub width: u16,
    pub height: u16,
    pub seed: u64,
    /// `None` with `--no-restarts`.
    pub restart_every: Option<(f64, f64)>,
    pub gap_limit: f64,
    pub window: f64,
    pub load_before: String,
    pub load_after: String,
    pub rss_kib: Level,
    pub fds: Level,
    pub threads: Level,
    pub restarts: usize,
    pub max_reconnect_gap: Option<f64>,
    pub max_outage: Option<f64>,
    pub frames_checked: u64,
    pub frames_mismatched: u64,
    pub lapses: u64,
    pub metrics_scrapes: u64,
    pub metrics_failures: u64,
    /// /api/cameras fetches that failed (each second, with /metrics).
    pub api_failures: u64,
    pub viewers: ViewerStats,
    /// Warning lines `recv` wrote to stderr.
    pub recv_warnings: u64,
    /// What failed; empty when the run passed.
    pub violations: Vec<String>,
    pub per_camera: Vec<CameraReport>,
    pub series: Vec<Sample>,
}

impl SoakReport {
    /// `Err` naming every violated criterion.
    pub fn verdict(&self) -> Result<()> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            bail!("soak failed: {}", self.violations.join("; "))
        }
    }
}

/// xorshift64*: deterministic from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

fn free_tcp_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn free_udp_port() -> Result<u16> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn fixtures_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tools/rtsp_server.py")
}

/// A camera's server or sender.
struct Camera {
    name: String,
    kind: Kind,
    port: u16,
    child: Option<Child>,
    restarts: Vec<(f64, f64)>,
}

/// What starts the servers and senders.
struct Launcher {
    mjpeg_rtp: PathBuf,
    /// printf pattern of the served files, their count, and the directory
    /// of the distinct pictures (for `send`).
    pattern: PathBuf,
    files: usize,
    pictures: PathBuf,
    fps: u32,
}

impl Launcher {
    /// Start `camera`'s server or sender; returns once it serves.
    fn start(&self, camera: &mut Camera) -> Result<()> {
        if camera.kind == Kind::Rtp {
            let child = Command::new(&self.mjpeg_rtp)
                .arg("send")
                .arg(&self.pictures)
                .args(["--to", &format!("127.0.0.1:{}", camera.port)])
                .args(["--fps", &self.fps.to_string(), "--loop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start mjpeg-rtp send")?;
            camera.child = Some(child);
            return Ok(());
        }
        let mut command = Command::new(PYTHON);
        command.arg(fixtures_server());
        command.args(["--fps", &self.fps.to_string()]);
        if camera.kind == Kind::RtspTcp {
            command.arg("--tcp-only");
        }
        command
            .arg(camera.port.to_string())
            .arg(&self.pattern)
            .arg(self.files.to_string())
            .args(["26", "digest", USER, PASSWORD])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .context("cannot start rtsp_server.py (python3-gi, gir1.2-gst-rtsp-server-1.0)")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads "READY", then drains the TEARDOWN/CLOSED lines until the
        // server exits.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                if line.is_ok_and(|l| l == "READY") {
                    let _ = tx.send(());
                    break;
                }
            }
            for _ in lines {}
        });
        let ready = rx.recv_timeout(Duration::from_secs(20));
        camera.child = Some(child);
        ready.map_err(|_| {
            anyhow!(
                "rtsp_server.py for {} on port {} never said READY",
                camera.name,
                camera.port
            )
        })
    }

    fn kill(camera: &mut Camera) {
        if let Some(mut child) = camera.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Kills the children on drop (an error path must not leave them).
struct Fleet(Vec<Camera>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for camera in &mut self.0 {
            Launcher::kill(camera);
        }
    }
}

struct RecvGuard(Option<Child>);

impl Drop for RecvGuard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A connection read in pieces, giving up when `stop` is set.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// GET over HTTP/1.1 (stream.mjpg, as browsers ask for it) or, with
    /// `whole`, HTTP/1.0, so that the answer is not chunked.
    fn get(http: SocketAddr, path: &str, whole: bool) -> Result<Conn> {
        let mut stream = TcpStream::connect_timeout(&http, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET {path} HTTP/1.{}\r\nHost: {http}\r\nConnection: close\r\n\r\n",
            if whole { 0 } else { 1 }
        )?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Read more; `Ok(false)` at the end of the stream or once `give_up`
    /// says so.
    fn fill(&mut self, give_up: &dyn Fn() -> bool) -> Result<bool> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if give_up() {
                return Ok(false);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next header block (up to the blank line), taken from the
    /// buffer.
    fn head(&mut self, give_up: &dyn Fn() -> bool) -> Result<Option<String>> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return Ok(Some(head));
            }
            if !self.fill(give_up)? {
                return Ok(None);
            }
        }
    }

    fn body(&mut self, len: usize, give_up: &dyn Fn() -> bool) -> Result<Option<Vec<u8>>> {
        while self.buf.len() < len {
            if !self.fill(give_up)? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf.drain(..len).collect()))
    }
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// GET `path`, the whole answer: (status, body).
fn http_get(http: SocketAddr, path: &str) -> Result<(u16, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let give_up = || Instant::now() > deadline;
    let mut conn = Conn::get(http, path, true)?;
    let head = conn.head(&give_up)?.context("no answer")?;
    while conn.fill(&give_up)? {}
    if Instant::now() > deadline {
        bail!("{path}: no complete answer within 5 s");
    }
    Ok((status_of(&head), conn.buf))
}

/// The served pictures' pixels, and a verdict per received JPEG seen.
struct Checker {
    pictures: Arc<Vec<Vec<u8>>>,
    verdicts: HashMap<u64, bool>,
}

impl Checker {
    fn exact(&mut self, jpeg: &[u8]) -> bool {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        jpeg.hash(&mut h);
        let key = h.finish();
        if let Some(&v) = self.verdicts.get(&key) {
            return v;
        }
        let v = decode(jpeg).is_some_and(|rgb| self.pictures.contains(&rgb));
        self.verdicts.insert(key, v);
        v
    }
}

fn decode(jpeg: &[u8]) -> Option<Vec<u8>> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    zune_jpeg::JpegDecoder::new_with_options(jpeg, options)
        .decode()
        .ok()
}

/// What one camera's checking viewer saw.
#[derive(Default)]
struct Seen {
    /// Arrival of every frame read, seconds since the start.
    times: Vec<f64>,
    /// Arrival of every frame that was not pixel-exact.
    mismatched: Vec<f64>,
    reconnects: u64,
}

/// Read `name`'s stream.mjpg until `stop`, reconnecting when it ends.
fn checking_viewer(
    http: SocketAddr,
    name: String,
    pictures: Arc<Vec<Vec<u8>>>,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut seen = Seen::default();
        let mut checker = Checker {
            pictures,
            verdicts: HashMap::new(),
        };
        let give_up = || stop.load(Ordering::Relaxed);
        let path = format!("/cameras/{name}/stream.mjpg");
        let mut first = true;
        while !give_up() {
            if !first {
                seen.reconnects += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            first = false;
            let Ok(mut conn) = Conn::get(http, &path, false) else {
                continue;
            };
            match conn.head(&give_up) {
                Ok(Some(head)) if status_of(&head) == 200 => {}
                _ => continue,
            }
            while let Ok(Some(head)) = conn.head(&give_up) {
                // The live view sends empty lines to a silent camera's
                // viewers (to find dead connections): a block with no
                // part header is one of those, not a frame.
                let Some(len) = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                }) else {
                    continue;
                };
                let Ok(Some(jpeg)) = conn.body(len, &give_up) else {
                    break;
                };
                let t = t0.elapsed().as_secs_f64();
                seen.times.push(t);
                if !checker.exact(&jpeg) {
                    seen.mismatched.push(t);
                }
            }
        }
        seen
    })
}

/// A viewer that comes and goes: a random camera's stream.mjpg for a
/// random while (a quarter of the visits leave after the first bytes).
fn wandering_viewer(
    http: SocketAddr,
    names: Vec<String>,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> JoinHandle<ViewerStats> {
    std::thread::spawn(move || {
        let mut rng = Rng(seed | 1);
        let mut stats = ViewerStats::default();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs_f64(rng.range(0.2, 2.0)));
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let name = &names[rng.next() as usize % names.len()];
            let stay = if rng.next() % 4 == 0 {
                0.0
            } else {
                rng.range(1.0, 8.0)
            };
            let until = Instant::now() + Duration::from_secs_f64(stay);
            let give_up = || stop.load(Ordering::Relaxed) || Instant::now() > until;
            let visit = (|| -> Result<()> {
                let mut conn = Conn::get(http, &format!("/cameras/{name}/stream.mjpg"), false)?;
                let never = || stop.load(Ordering::Relaxed);
                let Some(head) = conn.head(&never)? else {
                    // The run ended while the answer was on its way: not
                    // the receiver's error.
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    bail!("no answer");
                };
                if status_of(&head) != 200 {
                    stats.refused += 1;
                    return Ok(());
                }
                stats.sessions += 1;
                stats.bytes += conn.buf.len() as u64;
                conn.buf.clear();
                while conn.fill(&give_up)? {
                    stats.bytes += conn.buf.len() as u64;
                    conn.buf.clear();
                }
                Ok(())
            })();
            if visit.is_err() {
                stats.errors += 1;
            }
        }
        stats
    })
}

/// /proc/PID: (RSS KiB, open fds, threads).
fn proc_sample(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((field("VmRSS:")?, fds, field("Threads:")?))
}

/// Per camera name, its `reconnects` in an /api/cameras answer.
fn reconnects_of(api: &serde_json::Value) -> HashMap<String, u64> {
    // Where recv puts it (camera.receiver.reconnects), else anywhere.
    fn find(v: &serde_json::Value) -> Option<u64> {
        if let Some(r) = v.pointer("/receiver/reconnects").and_then(|r| r.as_u64()) {
            return Some(r);
        }
        match v {
            serde_json::Value::Object(m) => m
                .get("reconnects")
                .and_then(|r| r.as_u64())
                .or_else(|| m.values().find_map(find)),
            serde_json::Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    let cameras = api
        .get("cameras")
        .and_then(|c| c.as_array())
        .or_else(|| api.as_array());
    cameras
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let name = c.get("name").or_else(|| c.get("camera"))?.as_str()?;
            Some((name.to_owned(), find(c).unwrap_or(0)))
        })
        .collect()
}

/// What the once-a-second scraper gathered.
#[derive(Default)]
struct Scraped {
    samples: Vec<Sample>,
    metrics_scrapes: u64,
    metrics_failures: u64,
    api_failures: u64,
    /// The last /api/cameras reading: reconnects per camera.
    reconnects: HashMap<String, u64>,
    /// Every reading: (t, reconnects per camera).
    reconnect_series: Vec<(f64, HashMap<String, u64>)>,
}

fn scraper(http: SocketAddr, pid: u32, t0: Instant, stop: Arc<AtomicBool>) -> JoinHandle<Scraped> {
    std::thread::spawn(move || {
        let mut out = Scraped::default();
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let t = t0.elapsed().as_secs_f64();
            if let Some((rss_kib, fds, threads)) = proc_sample(pid) {
                out.samples.push(Sample {
                    t,
                    rss_kib,
                    fds,
                    threads,
                });
            }
            out.metrics_scrapes += 1;
            match http_get(http, "/metrics") {
                Ok((200, body)) if !body.is_empty() => {}
                _ => out.metrics_failures += 1,
            }
            let api = http_get(http, "/api/cameras").and_then(|(status, body)| {
                if status != 200 {
                    bail!("status {status}");
                }
                Ok(serde_json::from_slice::<serde_json::Value>(&body)?)
            });
            match api {
                Ok(api) => {
                    out.reconnects = reconnects_of(&api);
                    out.reconnect_series.push((t, out.reconnects.clone()));
                }
                Err(e) => {
                    log::debug!("/api/cameras: {e:#}");
                    out.api_failures += 1;
                }
            }
            next += Duration::from_secs(1);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        out
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn level(samples: &[Sample], window: f64, end: f64, f: fn(&Sample) -> u64) -> Level {
    let pick = |lo: f64, hi: f64| {
        median(
            samples
                .iter()
                .filter(|s| s.t >= lo && s.t <= hi)
                .map(|s| f(s) as f64)
                .collect(),
        )
    };
    // Where the first minute ends up, not its start-up.
    let first = pick(window * 2.0 / 3.0, window);
    let last = pick(end - window, end);
    Level {
        first,
        end: last,
        change: last / first - 1.0,
    }
}

/// Run the soak; the report whether it passed or not (see
/// [`SoakReport::verdict`]).
pub fn run(options: &Options) -> Result<SoakReport> {
    let binary = recv_binary(options.recv.as_deref())?;
    let server = fixtures_server();
    if !server.is_file() {
        bail!("{} not found", server.display());
    }
    let scratch = Scratch::new("soak")?;
    let dir = scratch.path();
    let spec = SynthSpec {
        width: options.width,
        height: options.height,
        distinct: 8,
        frames: 8,
        fps: f64::from(options.fps),
        ..SynthSpec::default()
    };
    let jpegs = synth::jpegs(&spec)?;
    let pictures_dir = dir.join("pictures");
    std::fs::create_dir_all(&pictures_dir)?;
    let mut pictures = Vec::new();
    for (i, jpeg) in jpegs.iter().enumerate() {
        let path = pictures_dir.join(format!("{i:03}.jpg"));
        std::fs::write(&path, jpeg)?;
        pictures.push(decode(jpeg).context("the bench's own JPEG does not decode")?);
    }
    let pictures = Arc::new(pictures);
    // gst-rtsp-server plays a file sequence once per session: enough
    // files (links to the pictures, cycled) for the longest time between
    // restarts, and a margin.
    let scale = restart_scale(options.duration);
    let restart_every = (RESTART_EVERY.0 * scale, RESTART_EVERY.1 * scale);
    let longest = if options.restarts {
        restart_every.1
    } else {
        options.duration
    };
    let files = (f64::from(options.fps) * (longest + 30.0)).ceil() as usize;
    let served = dir.join("served");
    std::fs::create_dir_all(&served)?;
    for i in 0..files {
        std::os::unix::fs::symlink(
            pictures_dir.join(format!("{:03}.jpg", i % jpegs.len())),
            served.join(format!("{i:05}.jpg")),
        )?;
    }
    let launcher = Launcher {
        mjpeg_rtp: binary.clone(),
        pattern: served.join("%05d.jpg"),
        files,
        pictures: pictures_dir.clone(),
        fps: options.fps,
    };

    let n = options.cameras;
    let mut fleet = Fleet(Vec::new());
    for i in 0..n {
        let (kind, name) = match i * 3 / n {
            0 => (Kind::RtspUdp, format!("udp{i}")),
            1 => (Kind::RtspTcp, format!("tcp{i}")),
            _ => (Kind::Rtp, format!("rtp{i}")),
        };
        let port = if kind == Kind::Rtp {
            free_udp_port()?
        } else {
            free_tcp_port()?
        };
        fleet.0.push(Camera {
            name,
            kind,
            port,
            child: None,
            restarts: Vec::new(),
        });
    }
    let load_before = loadavg();
    eprintln!(
        "soak: {n} cameras ({} RTSP/UDP, {} RTSP/TCP, Digest; {} plain RTP), {}x{} at {} fps, \
         {} s, restarts every {:.0}-{:.0} s{}, {} viewers, seed {}; load {load_before}",
        fleet.0.iter().filter(|c| c.kind == Kind::RtspUdp).count(),
        fleet.0.iter().filter(|c| c.kind == Kind::RtspTcp).count(),
        fleet.0.iter().filter(|c| c.kind == Kind::Rtp).count(),
        options.width,
        options.height,
        options.fps,
        options.duration,
        restart_every.0,
        restart_every.1,
        if options.restarts {
            ""
        } else {
            " (off: --no-restarts)"
        },
        options.viewers,
        options.seed,
    );
    for camera in &mut fleet.0 {
        launcher.start(camera)?;
    }

    let hport = free_tcp_port()?;
    let http = SocketAddr::from((Ipv4Addr::LOCALHOST, hport));
    let mut command = Command::new(&binary);
    command.args(["recv", "--rtsp-transport", "auto"]);
    for c in &fleet.0 {
        let spec = match c.kind {
            Kind::Rtp => format!("{}={}", c.name, c.port),
            _ => format!(
                "{}=rtsp://{USER}:{PASSWORD}@127.0.0.1:{}/cam",
                c.name, c.port
            ),
        };
        command.args(["--camera", &spec]);
    }
    let log_path = dir.join("recv.log");
    command
        .args(["--http", &http.to_string()])
        .args(["--http-max-viewers", &(n + options.viewers + 8).to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path)?);
    let mut recv = RecvGuard(Some(
        command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?,
    ));
    let pid = recv.0.as_ref().map(Child::id).unwrap_or(0);
    let ready = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(http).is_err() {
        if let Some(status) = recv.0.as_mut().and_then(|c| c.try_wait().transpose()) {
            bail!(
                "mjpeg-rtp recv exited early ({}): {}",
                status?,
                std::fs::read_to_string(&log_path)
                    .unwrap_or_default()
                    .trim()
            );
        }
        if Instant::now() > ready {
            bail!("mjpeg-rtp recv did not serve {http} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let checkers: Vec<_> = fleet
        .0
        .iter()
        .map(|c| checking_viewer(http, c.name.clone(), pictures.clone(), t0, stop.clone()))
        .collect();
    let names: Vec<String> = fleet.0.iter().map(|c| c.name.clone()).collect();
    let wanderers: Vec<_> = (0..options.viewers)
        .map(|i| {
            wandering_viewer(
                http,
                names.clone(),
                options.seed.wrapping_add(i as u64 + 1),
                stop.clone(),
            )
        })
        .collect();
    let scrape = scraper(http, pid, t0, stop.clone());

    // Restart at random until a few seconds before the end, so that the
    // last restart's reconnect is seen.
    let mut rng = Rng(options.seed | 1);
    let mut due: Vec<f64> = fleet
        .0
        .iter()
        .map(|_| rng.range(restart_every.0, restart_every.1))
        .collect();
    let last_restart = if options.restarts {
        options.duration - (2.0 * GAP_LIMIT + 4.0)
    } else {
        f64::NEG_INFINITY
    };
    let mut failure = None;
    loop {
        let (i, &at) = due
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .context("no camera")?;
        if at > last_restart {
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(
            (at - t0.elapsed().as_secs_f64()).max(0.0),
        ));
        let camera = &mut fleet.0[i];
        let killed_at = t0.elapsed().as_secs_f64();
        Launcher::kill(camera);
        if let Err(e) = launcher.start(camera) {
            failure = Some(e);
            break;
        }
        let ready_at = t0.elapsed().as_secs_f64();
        camera.restarts.push((killed_at, ready_at));
        due[i] = ready_at + rng.range(restart_every.0, restart_every.1);
    }
    if failure.is_none() {
        std::thread::sleep(Duration::from_secs_f64(
            (options.duration - t0.elapsed().as_secs_f64()).max(0.0),
        ));
    }
    let end = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = checkers
        .into_iter()
        .map(|h| h.join().map_err(|_| anyhow!("a checking viewer panicked")))
        .collect::<Result<_>>()?;
    let mut viewers = ViewerStats::default();
    for h in wanderers {
        let s = h.join().map_err(|_| anyhow!("a viewer panicked"))?;
        viewers.sessions += s.sessions;
        viewers.refused += s.refused;
        viewers.errors += s.errors;
        viewers.bytes += s.bytes;
    }
    let scraped = scrape.join().map_err(|_| anyhow!("the scraper panicked"))?;
    let child = recv.0.take().context("recv gone")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .context("cannot signal mjpeg-rtp recv")?;
    let out = child.wait_with_output()?;
    if let Some(e) = failure {
        return Err(e);
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let recv_warnings = log.lines().filter(|l| l.contains("WARN")).count() as u64;

    let window = (options.duration / 6.0).min(60.0);
    let samples = scraped.samples;
    let rss_kib = level(&samples, window, end, |s| s.rss_kib);
    let fds = level(&samples, window, end, |s| s.fds);
    let threads = level(&samples, window, end, |s| s.threads);

    let mut violations = Vec::new();
    let restarted: usize = fleet.0.iter().map(|c| c.restarts.len()).sum();
    for (what, l) in [("RSS", &rss_kib), ("open fds", &fds), ("threads", &threads)] {
        if l.change.is_nan() || l.change.abs() > LEVEL_TOLERANCE {
            violations.push(format!(
                "{what} at the end {:.0} vs {:.0} in the first {window:.0} s ({:+.1}%, limit \
                 ±{:.0}%, after {restarted} restarts)",
                l.end,
                l.first,
                l.change * 100.0,
                LEVEL_TOLERANCE * 100.0
            ));
        }
    }
    if !out.status.success() {
        violations.push(format!("mjpeg-rtp recv exited with {}", out.status));
    }
    if scraped.api_failures > 0 {
        violations.push(format!(
            "/api/cameras (reconnect counts) failed {} of {} fetches",
            scraped.api_failures, scraped.metrics_scrapes
        ));
    }
    if scraped.metrics_failures > 0 {
        violations.push(format!(
            "/metrics failed {} of {} scrapes",
            scraped.metrics_failures, scraped.metrics_scrapes
        ));
    }

    let mut per_camera = Vec::new();
    let mut lapses = 0;
    for (camera, seen) in fleet.0.iter().zip(&seen) {
        let times = &seen.times;
        let mut restarts = Vec::new();
        for (k, &(killed_at, ready_at)) in camera.restarts.iter().enumerate() {
            let next_kill = camera.restarts.get(k + 1).map_or(end, |r| r.0);
            let before = times.iter().rev().find(|&&t| t <= killed_at).copied();
            let after = times.iter().find(|&&t| t > ready_at).copied();
            let after = after.filter(|&t| t <= next_kill);
            let checked = times
                .iter()
                .filter(|&&t| t > ready_at && t <= next_kill)
                .count() as u64;
            let r = Restart {
                killed_at,
                ready_at,
                last_frame_before: before,
                first_frame_after: after,
                reconnect_gap: after.map(|a| a - ready_at),
                outage: after.zip(before).map(|(a, b)| a - b),
                frames_checked_after: checked,
            };
            match r.reconnect_gap {
                None => violations.push(format!(
                    "{}: no frame after the restart at {killed_at:.1} s (ready {ready_at:.1} s)",
                    camera.name
                )),
                Some(g) if g > GAP_LIMIT => violations.push(format!(
                    "{}: frames again {g:.2} s after the restart at {killed_at:.1} s was ready \
                     (limit {GAP_LIMIT} s)",
                    camera.name
                )),
                Some(_) => {}
            }
            restarts.push(r);
        }
        // Gaps no restart explains: between two frames, or from the
        // start or to the end.
        let mut unexplained = Vec::new();
        let mut edges = vec![0.0];
        edges.extend(times.iter().copied());
        edges.push(end);
        for w in edges.windows(2) {
            let (a, b) = (w[0], w[1]);
            let explained = camera.restarts.iter().any(|&(k, r)| k <= b && r >= a - 0.5)
                || (a == 0.0 && b <= GAP_LIMIT + 2.0);
            if b - a > GAP_LIMIT && !explained {
                unexplained.push((a, b));
            }
        }
        let reconnects = scraped.reconnects.get(&camera.name).copied().unwrap_or(0);
        let extra = if camera.kind == Kind::Rtp {
            0
        } else {
            reconnects.saturating_sub(camera.restarts.len() as u64)
        };
        if extra > 0 {
            // When: the first reading where reconnects passed the
            // restarts done by then.
            let when: Vec<String> = scraped
                .reconnect_series
                .windows(2)
                .filter_map(|w| {
                    let (t, now) = (&w[1].0, w[1].1.get(&camera.name)?);
                    let prev = w[0].1.get(&camera.name)?;
                    let done = camera.restarts.iter().filter(|r| r.0 <= *t).count() as u64;
                    (now > prev && *now > done).then(|| format!("{t:.0} s"))
                })
                .collect();
            violations.push(format!(
                "{}: {extra} session lapse(s): {reconnects} reconnects for {} restarts (at {})",
                camera.name,
                camera.restarts.len(),
                when.join(", ")
            ));
        }
        if !unexplained.is_empty() {
            violations.push(format!(
                "{}: {} frame gap(s) over {GAP_LIMIT} s with no restart: {}",
                camera.name,
                unexplained.len(),
                unexplained
                    .iter()
                    .map(|(a, b)| format!("{a:.1}-{b:.1} s"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        lapses += extra + unexplained.len() as u64;
        if !seen.mismatched.is_empty() {
            violations.push(format!(
                "{}: {} frame(s) not pixel-exact, the first at {:.1} s",
                camera.name,
                seen.mismatched.len(),
                seen.mismatched[0]
            ));
        }
        per_camera.push(CameraReport {
            name: camera.name.clone(),
            kind: camera.kind,
            restarts,
            reconnects,
            frames_checked: times.len() as u64,
            frames_mismatched: seen.mismatched.len() as u64,
            unexplained_gaps: unexplained,
            checker_reconnects: seen.reconnects,
        });
        if times.is_empty() {
            violations.push(format!("{}: no frame at all", camera.name));
        }
    }
    let all_restarts = || per_camera.iter().flat_map(|c| c.restarts.iter());
    let max = |f: fn(&Restart) -> Option<f64>| all_restarts().filter_map(f).max_by(f64::total_cmp);
    let report = SoakReport {
        duration: end,
        cameras: n,
        fps: options.fps,
        width: options.width,
        height: options.height,
        seed: options.seed,
        restart_every: options.restarts.then_some(restart_every),
        gap_limit: GAP_LIMIT,
        window,
        load_before,
        load_after: loadavg(),
        restarts: all_restarts().count(),
        max_reconnect_gap: max(|r| r.reconnect_gap),
        max_outage: max(|r| r.outage),
        frames_checked: per_camera.iter().map(|c| c.frames_checked).sum(),
        frames_mismatched: per_camera.iter().map(|c| c.frames_mismatched).sum(),
        lapses,
        metrics_scrapes: scraped.metrics_scrapes,
        metrics_failures: scraped.metrics_failures,
        api_failures: scraped.api_failures,
        viewers,
        recv_warnings,
        rss_kib,
        fds,
        threads,
        violations,
        per_camera,
        series: samples,
    };
    print_summary(&report);
    Ok(report)
}

fn print_summary(r: &SoakReport) {
    eprintln!(
        "\nsoak: {:.0} s, {} cameras, {} restarts, {} frames checked ({} not pixel-exact), \
         reconnect gap max {}, outage max {}, {} lapses, /metrics {}/{} ok, viewers {} visits \
         ({} refused, {} errors); load {} -> {}",
        r.duration,
        r.cameras,
        r.restarts,
        r.frames_checked,
        r.frames_mismatched,
        r.max_reconnect_gap
            .map_or("-".into(), |g| format!("{g:.2} s")),
        r.max_outage.map_or("-".into(), |g| format!("{g:.2} s")),
        r.lapses,
        r.metrics_scrapes - r.metrics_failures,
        r.metrics_scrapes,
        r.viewers.sessions,
        r.viewers.refused,
        r.viewers.errors,
        r.load_before,
        r.load_after,
    );
    for (what, l) in [
        ("RSS KiB", &r.rss_kib),
        ("open fds", &r.fds),
        ("threads", &r.threads),
    ] {
        eprintln!(
            "  {what:<9} first {:.0} s {:>8.0}   end {:>8.0}   {:+.1}%",
            r.window,
            l.first,
            l.end,
            l.change * 100.0
        );
    }
    if r.violations.is_empty() {
        eprintln!("soak: PASSED");
    } else {
        for v in &r.violations {
            eprintln!("  FAILED: {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_are_read_per_camera_from_the_receiver_block() {
        let api = serde_json::json!({"cameras": [
            {"camera": "a", "drop_reasons": {}, "receiver": {"reconnects": 3},
             "streams": [{"receiver": {"reconnects": 1}}]},
            {"camera": "b", "receiver": {"reconnects": 0}},
        ]});
        let r = reconnects_of(&api);
        assert_eq!((r["a"], r["b"]), (3, 0));
    }

    #[test]
    fn levels_compare_the_end_of_the_first_window_with_the_last_window() {
        let samples: Vec<Sample> = (0..60)
            .map(|t| Sample {
                t: f64::from(t),
                // Start-up ramp over the first 6 s, then flat; a rise at the end.
                rss_kib: if t < 6 { 100 + t as u64 * 10 } else { 1000 }
                    + if t >= 55 { 200 } else { 0 },
                fds: 50,
                threads: 20,
            })
            .collect();
        let rss = level(&samples, 10.0, 60.0, |s| s.rss_kib);
        assert_eq!((rss.first, rss.end), (1000.0, 1200.0));
        assert!((rss.change - 0.2).abs() < 1e-9);
        assert_eq!(level(&samples, 10.0, 60.0, |s| s.fds).change, 0.0);
    }

    /// A frame is exact only when its pixels are one of the served
    /// pictures; the verdict is remembered per JPEG.
    #[test]
    fn checker_tells_a_served_picture_from_another() {
        let spec = SynthSpec {
            width: 64,
            height: 48,
            distinct: 3,
            ..SynthSpec::default()
        };
        let jpegs = synth::jpegs(&spec).unwrap();
        let pictures = jpegs[..2].iter().map(|j| decode(j).unwrap()).collect();
        let mut checker = Checker {
            pictures: Arc::new(pictures),
            verdicts: HashMap::new(),
        };
        assert!(checker.exact(&jpegs[0]) && checker.exact(&jpegs[1]));
        assert!(!checker.exact(&jpegs[2]));
        assert!(!checker.exact(&jpegs[0][..jpegs[0].len() / 2]));
        assert!(checker.exact(&jpegs[0]));
        assert_eq!(checker.verdicts.len(), 4);
    }

    #[test]
    fn status_line() {
        assert_eq!(status_of("HTTP/1.1 503 Service Unavailable\r\nX: y"), 503);
        assert_eq!(status_of("garbage"), 0);
    }
}
