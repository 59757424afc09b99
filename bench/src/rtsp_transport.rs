//! `mjpeg-rtp-bench rtsp-transport`: receive CPU per packet of an RTSP
//! camera over TCP interleaved against UDP, the same 1080p stream
//! (issue 11's goal: TCP / UDP <= 1.3x).
//!
//! Each case is a fresh client pulling one camera from [`rtsp_serve`]'s
//! server (a thread of this process, on loopback) serving the bench's
//! synthetic 1080p capture at `fps`; the two transports alternate over
//! `rounds` rounds. Measured over the stream, from PLAY to the last
//! frame: the CPU time of the client's receiving threads only, read
//! through their per-thread CPU clocks: over UDP the std backend's
//! `rx-<camera>` thread and the RTSP session thread (keepalives), over
//! TCP the session thread, which reads the connection, splits the `$`
//! frames and feeds the depacketizer. The server's thread is not
//! counted; nothing is decoded (`Client::set_decode(false)`), so only
//! receiving and reassembly run. Packets are those the receive path
//! counted.
//!
//! The table goes to stderr, one JSON object to stdout.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mjpeg_rtp::{CameraConfig, Client, ClientOptions, RtspTransport};
use serde::Serialize;

use crate::capture::{self, Scratch};
use crate::cpu::{loadavg, threads_cpu_time, threads_named, wait_for_threads};
use crate::drain::FrameDrain;
use crate::rtsp_serve;
// The same stream as `rx-cpu` sends, so that the two compare.
use crate::rx_cpu::frames_spec;

/// Issue 11's goal for receive CPU per packet, TCP / UDP.
pub const GOAL: f64 = 1.3;

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub fps: f64,
    /// Seconds of stream in each case.
    pub seconds: f64,
    /// Rounds of (UDP, TCP).
    pub rounds: usize,
}

/// One case of one round.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub round: usize,
    pub transport: &'static str,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub frames_complete: u64,
    /// CPU (user + system) of the receiving threads.
    pub rx_cpu_ms: f64,
    pub rx_cpu_us_per_packet: f64,
    /// The threads counted, by name.
    pub threads: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RtspTransportReport {
    pub width: u16,
    pub height: u16,
    pub fps: f64,
    pub seconds_per_case: f64,
    pub rounds: usize,
    pub packets_per_frame: usize,
    /// /proc/loadavg before and after the run (the machine may be shared).
    pub load_before: String,
    pub load_after: String,
    pub cases: Vec<Case>,
    /// Over all rounds: total receive CPU / total packets, per transport.
    pub rx_cpu_us_per_packet_udp: f64,
    pub rx_cpu_us_per_packet_tcp: f64,
    pub ratio: f64,
    pub goal: f64,
}

fn measure(
    round: usize,
    transport: RtspTransport,
    packets: &Arc<Vec<Vec<Vec<u8>>>>,
    options: &Options,
) -> Result<Case> {
    let frames = (options.seconds * options.fps).round() as usize;
    let server = rtsp_serve::Server::start(packets.clone(), frames, options.fps)?;
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client.set_decode(false);
    client.add_camera(CameraConfig::rtsp("cam", server.url()).with_rtsp_transport(transport))?;
    client
        .start()
        .context("RTSP session with the bench's server")?;
    let client = Arc::new(client);
    let drain = FrameDrain::start(client.clone());
    let want = if transport == RtspTransport::Udp {
        2
    } else {
        1
    };
    let receiving = || {
        let mut tids = threads_named("rx-");
        tids.extend(threads_named("mjpeg-rtp-rtsp"));
        tids
    };
    let tids = wait_for_threads(want, receiving);
    if tids.len() != want {
        bail!(
            "{transport:?}: {} receiving threads, expected {want} (threads: {:?})",
            tids.len(),
            thread_names(&threads_named(""))
        );
    }
    let names = thread_names(&tids);
    let received = |c: &Client| c.stats().iter().map(|s| s.datagrams).sum::<u64>();
    let (cpu0, packets0) = (threads_cpu_time(&tids)?, received(&client));
    // Until every packet sent is read (or a second after the last frame
    // was due: then some were lost).
    let end = Instant::now() + Duration::from_secs_f64(options.seconds + 1.0);
    let per_frame = packets.iter().map(Vec::len).sum::<usize>() / packets.len();
    while Instant::now() < end
        && (server.sent.load(Ordering::Relaxed) < (frames * per_frame) as u64
            || received(&client) < server.sent.load(Ordering::Relaxed))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (cpu1, packets1) = (threads_cpu_time(&tids)?, received(&client));
    let stats = client.stats();
    drain.stop();
    let sent = server.sent.load(Ordering::Relaxed);
    client.stop();
    server.join()?;
    let rx = cpu1.saturating_sub(cpu0);
    let packets = packets1 - packets0;
    Ok(Case {
        round,
        transport: if transport == RtspTransport::Udp {
            "udp"
        } else {
            "tcp"
        },
        packets_sent: sent,
        packets_received: packets,
        frames_complete: stats.iter().map(|s| s.frames_complete()).sum(),
        rx_cpu_ms: rx.as_secs_f64() * 1e3,
        rx_cpu_us_per_packet: rx.as_secs_f64() * 1e6 / packets.max(1) as f64,
        threads: names,
    })
}

fn thread_names(tids: &[i32]) -> Vec<String> {
    tids.iter()
        .map(|t| {
            std::fs::read_to_string(format!("/proc/self/task/{t}/comm"))
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

/// Every round, the report; the table on stderr.
pub fn run(options: &Options) -> Result<RtspTransportReport> {
    let spec = frames_spec();
    let scratch = Scratch::new("rtsp-transport")?;
    let packets = Arc::new(capture::generate(
        &spec,
        &scratch.path().join("rtsp-transport.pcap"),
    )?);
    let packets_per_frame = packets.iter().map(Vec::len).sum::<usize>() / packets.len().max(1);
    eprintln!(
        "rtsp-transport: one {}x{} stream at {} fps, ~{packets_per_frame} packets per frame, \
         {} s per case, {} round(s) of UDP then TCP",
        spec.width, spec.height, options.fps, options.seconds, options.rounds
    );
    let load_before = loadavg();
    let mut cases = Vec::new();
    for round in 0..options.rounds {
        for transport in [RtspTransport::Udp, RtspTransport::Tcp] {
            cases.push(measure(round, transport, &packets, options)?);
        }
    }
    let per_packet = |name: &str| {
        let (ms, packets) = cases
            .iter()
            .filter(|c| c.transport == name)
            .fold((0.0, 0), |(m, p), c| {
                (m + c.rx_cpu_ms, p + c.packets_received)
            });
        ms * 1e3 / packets.max(1) as f64
    };
    let (udp, tcp) = (per_packet("udp"), per_packet("tcp"));
    let report = RtspTransportReport {
        width: spec.width,
        height: spec.height,
        fps: options.fps,
        seconds_per_case: options.seconds,
        rounds: options.rounds,
        packets_per_frame,
        load_before,
        load_after: loadavg(),
        cases,
        rx_cpu_us_per_packet_udp: udp,
        rx_cpu_us_per_packet_tcp: tcp,
        ratio: tcp / udp,
        goal: GOAL,
    };
    print_table(&report);
    Ok(report)
}

fn print_table(r: &RtspTransportReport) {
    eprintln!(
        "\n{:<5} {:<9} {:>9} {:>9} {:>7} {:>10} {:>10}  threads",
        "round", "transport", "sent", "received", "frames", "rx cpu ms", "rx us/pkt"
    );
    for c in &r.cases {
        eprintln!(
            "{:<5} {:<9} {:>9} {:>9} {:>7} {:>10.1} {:>10.3}  {}",
            c.round,
            c.transport,
            c.packets_sent,
            c.packets_received,
            c.frames_complete,
            c.rx_cpu_ms,
            c.rx_cpu_us_per_packet,
            c.threads.join(",")
        );
    }
    eprintln!(
        "\nreceive CPU per packet over all rounds: UDP {:.3} us, TCP interleaved {:.3} us; \
         TCP / UDP = {:.2}x (goal <= {GOAL}x){}\nload average before: {}, after: {}",
        r.rx_cpu_us_per_packet_udp,
        r.rx_cpu_us_per_packet_tcp,
        r.ratio,
        if r.ratio <= GOAL {
            ""
        } else {
            "  ABOVE THE GOAL"
        },
        r.load_before,
        r.load_after
    );
}
