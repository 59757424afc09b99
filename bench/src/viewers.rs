//! `mjpeg-rtp-bench viewers`: what live viewers cost the receiver. The
//! CPU of a `mjpeg-rtp recv --http` process per packet it received, for
//! one 1080p30 camera with no viewer and with `viewers` viewers of
//! `/cameras/<name>/stream.mjpg`, the two cases alternating over
//! `rounds` rounds in one run (issue 12's goal: with / without <= 1.05x).
//!
//! Each case is a fresh `mjpeg-rtp recv --camera cam=PORT --http
//! 127.0.0.1:HPORT` (the binary next to this one), fed by the replay
//! sender in its own process at `fps` from the bench's synthetic 1080p
//! capture. The viewers are plain HTTP/1.1 GETs on threads of this
//! process, reading the multipart body as fast as they can; they connect
//! before the sender starts and leave after it stops. Then, before `recv`
//! gets SIGINT, the CPU time of each of its threads is read: the goal's
//! figure is the receive path (the main thread, which takes frames from
//! the client and publishes them to the live view, the `rx-` receive
//! threads and the `decode-` threads), since the issue asks that viewers
//! cost the *receiver* nothing. Serving the viewers is work of its own
//! (HTTP threads writing ~4 MB/s each to their sockets), so the whole
//! process's CPU is reported beside it: the growth of
//! `getrusage(RUSAGE_CHILDREN)` over the wait for `recv` (user + system,
//! start-up and shut-down alike in both cases). Packets are the
//! `packets_received` of the JSON summary `recv` prints.
//!
//! The table goes to stderr, one JSON object to stdout.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mjpeg_rtp_capture::summary::Summary;
use serde::Serialize;

use crate::capture::{self, Scratch};
use crate::cpu::{cpu_time, loadavg, process_thread_times, ThreadTime};
use crate::replay;
use crate::synth::SynthSpec;

/// The camera's name in `recv`.
const CAMERA: &str = "cam";

/// Issue 12's goal for CPU per packet, with viewers / without.
pub const GOAL: f64 = 1.05;

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Viewers of the "with" case.
    pub viewers: usize,
    pub fps: f64,
    /// Seconds the sender runs in each case.
    pub seconds: f64,
    /// Rounds of (without, with).
    pub rounds: usize,
    /// The `mjpeg-rtp` binary (default: next to this executable).
    pub recv: Option<PathBuf>,
}

/// One case of one round.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub round: usize,
    pub viewers: usize,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub frames_complete: u64,
    /// CPU of `recv`'s receive path (see the module doc).
    pub receive_cpu_ms: f64,
    pub receive_cpu_us_per_packet: f64,
    /// CPU (user + system) of the whole `recv` process, HTTP serving
    /// included.
    pub recv_cpu_ms: f64,
    pub recv_cpu_us_per_packet: f64,
    /// Bytes of multipart body each viewer read.
    pub viewer_bytes: Vec<u64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewersReport {
    pub width: u16,
    pub height: u16,
    pub fps: f64,
    pub seconds_per_case: f64,
    pub rounds: usize,
    pub viewers: usize,
    pub packets_per_frame: usize,
    /// /proc/loadavg before and after the run (the machine may be shared).
    pub load_before: String,
    pub load_after: String,
    pub cases: Vec<Case>,
    /// Over all rounds: receive-path CPU / total packets, per case, and
    /// their ratio (the goal's figure).
    pub cpu_us_per_packet_without: f64,
    pub cpu_us_per_packet_with: f64,
    pub ratio: f64,
    pub goal: f64,
    /// The same for the whole process (serving the viewers included).
    pub process_us_per_packet_without: f64,
    pub process_us_per_packet_with: f64,
    pub process_ratio: f64,
}

fn frames_spec() -> SynthSpec {
    SynthSpec {
        distinct: 4,
        frames: 4,
        ..SynthSpec::default()
    }
}

/// The `mjpeg-rtp` binary: the one given, or the one next to this
/// executable (cargo builds both into the same directory).
pub(crate) fn recv_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let exe = std::env::current_exe().context("cannot find our own executable")?;
    let path = exe.with_file_name(format!("mjpeg-rtp{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        bail!(
            "{} not found: build it next to the bench (cargo build --release -p mjpeg-rtp-cli) \
             or pass --recv PATH",
            path.display()
        );
    }
    Ok(path)
}

/// A port free on loopback right now (it may be taken before it is used;
/// unlikely enough for a bench).
fn free_ports() -> Result<(u16, u16)> {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((udp.local_addr()?.port(), tcp.local_addr()?.port()))
}

/// Kills the child on drop unless it was waited for (an error path must
/// not leave a `recv` running).
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One viewer: GET the stream and read it until `stop`; the body bytes
/// read.
fn viewer(http: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<Result<u64>> {
    std::thread::spawn(move || -> Result<u64> {
        let mut stream = TcpStream::connect(http)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        write!(
            stream,
            "GET /cameras/{CAMERA}/stream.mjpg HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut head = Vec::new();
        let mut body = 0u64;
        let mut header_done = false;
        while !stop.load(Ordering::Relaxed) {
            let n = match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            if header_done {
                body += n as u64;
                continue;
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
                    bail!(
                        "viewer refused: {}",
                        String::from_utf8_lossy(&head[..end])
                            .lines()
                            .next()
                            .unwrap_or("")
                    );
                }
                body += (head.len() - end - 4) as u64;
                header_done = true;
            }
        }
        Ok(body)
    })
}

/// One case: a fresh `recv`, `viewers` viewers, the sender for
/// `options.seconds`.
fn case(
    binary: &Path,
    capture: &Path,
    options: &Options,
    round: usize,
    viewers: usize,
) -> Result<Case> {
    let (port, hport) = free_ports()?;
    let http = SocketAddr::from((Ipv4Addr::LOCALHOST, hport));
    let mut recv = Guard(Some(
        Command::new(binary)
            .args(["recv", "--camera", &format!("{CAMERA}={port}"), "--http"])
            .arg(http.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?,
    ));
    // Ready once the live view accepts connections.
    let ready = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(http).is_err() {
        if let Some(status) = recv.0.as_mut().and_then(|c| c.try_wait().transpose()) {
            bail!("mjpeg-rtp recv exited early ({})", status?);
        }
        if Instant::now() > ready {
            bail!("mjpeg-rtp recv did not serve {http} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..viewers).map(|_| viewer(http, stop.clone())).collect();
    // Let the viewers' requests reach their serving threads.
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let sent = replay::run_child(&replay::Options {
        capture: capture.to_owned(),
        to: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))],
        fps: options.fps,
        frames: (options.seconds * options.fps).round().max(1.0) as usize,
        spread: 0.5,
        stagger: 1.0,
        gso: true,
        trickle: false,
    })?;
    // The last frame through reassembly and out to the viewers.
    std::thread::sleep(Duration::from_millis(200));
    let seconds = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut viewer_bytes = Vec::new();
    for h in handles {
        let bytes = h
            .join()
            .map_err(|_| anyhow::anyhow!("a viewer thread panicked"))??;
        viewer_bytes.push(bytes);
    }
    let child = recv.0.take().context("recv already gone")?;
    let receive_cpu: Duration = process_thread_times(child.id())
        .iter()
        .filter(|t| on_receive_path(child.id(), t))
        .map(|t| t.cpu)
        .sum();
    let children0 = cpu_time(true);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .context("cannot signal mjpeg-rtp recv")?;
    let out = child.wait_with_output()?;
    let recv_cpu = cpu_time(true).saturating_sub(children0);
    if !out.status.success() {
        bail!("mjpeg-rtp recv failed ({})", out.status);
    }
    let summary: Summary =
        serde_json::from_slice(&out.stdout).context("mjpeg-rtp recv printed no JSON summary")?;
    let sum = |f: fn(&mjpeg_rtp_capture::summary::StreamSummary) -> u64| {
        summary.streams.iter().map(f).sum::<u64>()
    };
    let packets = sum(|s| s.counters.packets_received);
    if packets == 0 {
        bail!("mjpeg-rtp recv received nothing on port {port}");
    }
    if viewer_bytes.contains(&0) {
        bail!("a viewer read nothing: {viewer_bytes:?}");
    }
    let cpu_ms = recv_cpu.as_secs_f64() * 1e3;
    let receive_ms = receive_cpu.as_secs_f64() * 1e3;
    Ok(Case {
        round,
        viewers,
        packets_sent: sent.packets_sent,
        packets_received: packets,
        packets_lost: sum(|s| s.counters.packets_lost),
        frames_complete: sum(|s| s.counters.frames_complete),
        receive_cpu_ms: receive_ms,
        receive_cpu_us_per_packet: receive_ms * 1e3 / packets as f64,
        recv_cpu_ms: cpu_ms,
        recv_cpu_us_per_packet: cpu_ms * 1e3 / packets as f64,
        viewer_bytes,
        seconds,
    })
}

/// Whether a thread of `recv` (process `pid`) is on the receive path: the
/// main thread, the receive threads (`rx-<camera>`, `rx-uring`) and the
/// decoders. The rest serve HTTP (`http`, `http-accept`) or wait for
/// Ctrl-C.
fn on_receive_path(pid: u32, thread: &ThreadTime) -> bool {
    thread.tid == pid || thread.name.starts_with("rx-") || thread.name.starts_with("decode-")
}

/// Run every round, print the table on stderr, return the report.
pub fn run(options: &Options) -> Result<ViewersReport> {
    let binary = recv_binary(options.recv.as_deref())?;
    let spec = frames_spec();
    let scratch = Scratch::new("viewers")?;
    let capture = scratch.path().join("viewers.pcap");
    let frames = capture::generate(&spec, &capture)?;
    let per_frame = frames.iter().map(Vec::len).sum::<usize>() / frames.len().max(1);
    let load_before = loadavg();
    eprintln!(
        "viewers: one {}x{} camera at {} fps (~{per_frame} packets per frame), \
         0 vs {} viewers, {} s per case, {} rounds; load {load_before}",
        spec.width, spec.height, options.fps, options.viewers, options.seconds, options.rounds
    );
    let mut cases = Vec::new();
    for round in 1..=options.rounds {
        for viewers in [0, options.viewers] {
            let c = case(&binary, &capture, options, round, viewers)?;
            eprintln!(
                "  round {round} viewers {viewers}: {} packets, receive path {:.3} us/packet, \
                 whole process {:.3} us/packet",
                c.packets_received, c.receive_cpu_us_per_packet, c.recv_cpu_us_per_packet
            );
            cases.push(c);
        }
    }
    let total = |viewers: usize, cpu_ms: fn(&Case) -> f64| {
        let (cpu, packets) = cases
            .iter()
            .filter(|c| c.viewers == viewers)
            .fold((0.0, 0u64), |(cpu, p), c| {
                (cpu + cpu_ms(c), p + c.packets_received)
            });
        cpu * 1e3 / packets.max(1) as f64
    };
    let receive = |viewers| total(viewers, |c| c.receive_cpu_ms);
    let process = |viewers| total(viewers, |c| c.recv_cpu_ms);
    let (without, with) = (receive(0), receive(options.viewers));
    let (process_without, process_with) = (process(0), process(options.viewers));
    let report = ViewersReport {
        width: spec.width,
        height: spec.height,
        fps: options.fps,
        seconds_per_case: options.seconds,
        rounds: options.rounds,
        viewers: options.viewers,
        packets_per_frame: per_frame,
        load_before,
        load_after: loadavg(),
        cases,
        cpu_us_per_packet_without: without,
        cpu_us_per_packet_with: with,
        ratio: with / without,
        goal: GOAL,
        process_us_per_packet_without: process_without,
        process_us_per_packet_with: process_with,
        process_ratio: process_with / process_without,
    };
    print_table(&report);
    Ok(report)
}

fn print_table(r: &ViewersReport) {
    eprintln!(
        "\nmjpeg-rtp recv CPU per received packet (user + system), one {}x{} camera at {} fps",
        r.width, r.height, r.fps
    );
    eprintln!(
        "{:<6} {:>8} {:>9} {:>9} {:>6} {:>8} {:>15} {:>15}",
        "round",
        "viewers",
        "sent",
        "received",
        "lost",
        "frames",
        "receive us/pkt",
        "process us/pkt"
    );
    for c in &r.cases {
        eprintln!(
            "{:<6} {:>8} {:>9} {:>9} {:>6} {:>8} {:>15.3} {:>15.3}",
            c.round,
            c.viewers,
            c.packets_sent,
            c.packets_received,
            c.packets_lost,
            c.frames_complete,
            c.receive_cpu_us_per_packet,
            c.recv_cpu_us_per_packet
        );
    }
    eprintln!(
        "\nover all rounds, receive path: 0 viewers {:.3} us/packet, {} viewers {:.3} us/packet: \
         ratio {:.3}x (goal <= {GOAL}x){}",
        r.cpu_us_per_packet_without,
        r.viewers,
        r.cpu_us_per_packet_with,
        r.ratio,
        if r.ratio <= GOAL { "" } else { " NOT MET" },
    );
    eprintln!(
        "whole process (serving the viewers included): {:.3} vs {:.3} us/packet: {:.3}x; \
         load {} -> {}",
        r.process_us_per_packet_without,
        r.process_us_per_packet_with,
        r.process_ratio,
        r.load_before,
        r.load_after
    );
}
