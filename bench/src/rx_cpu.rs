//! `mjpeg-rtp-bench rx-cpu`: receive-side CPU per packet, std backend
//! (batched `recvmmsg`, and one datagram per call as the baseline) vs
//! io_uring backend, at the same offered load, in one run.
//!
//! For each backend (alternating, `rounds` times) a client receives
//! `streams` cameras on loopback while the replay sender, in its own
//! process, sends them 1080p MJPEG/RTP: every camera's frame in one burst
//! at the same instant, paced at `fps`. Measured over exactly the
//! sender's run:
//! - receive CPU: the CPU time (user + system, what
//!   `getrusage(RUSAGE_THREAD)` reports for a thread) of the receive
//!   threads only: `rx-uring`, or the std backend's `rx-<camera>`
//!   threads, read through their per-thread CPU clocks. Decoding runs on
//!   other threads and is excluded by construction.
//! - process CPU: `getrusage(RUSAGE_SELF)` of this whole process, which
//!   includes decoding (the client always decodes), for reference.
//!
//! The table goes to stdout.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mjpeg_rtp::backend::{ReceiveBackend, StdBackend};
use mjpeg_rtp::{CameraConfig, Client, ClientOptions};
use mjpeg_rtp_uring::{UringBackend, UringOptions};

use crate::capture::{self, Scratch};
use crate::cpu::{cpu_time, threads_cpu_time, threads_named, wait_for_threads};
use crate::drain::FrameDrain;
use crate::replay;
use crate::synth::SynthSpec;

/// Cameras at most: one loopback address each, 127.1.0.1 up.
pub const MAX_STREAMS: usize = 250;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cameras received at once, 1..=[`MAX_STREAMS`].
    pub streams: usize,
    pub fps: f64,
    /// Length of one run (one backend, one round).
    pub seconds: f64,
    /// Runs of each backend, alternating.
    pub rounds: usize,
    /// Tuning of the io_uring backend.
    pub uring: UringOptions,
}

/// The frames sent: the bench's synthetic 1080p scene, four distinct
/// pictures at the quality that gives what the figures in the READMEs
/// were measured with: ~250 packets of 1400 bytes per frame (q92: 244).
pub fn frames_spec() -> SynthSpec {
    SynthSpec {
        distinct: 4,
        frames: 4,
        quality: 92,
        ..SynthSpec::default()
    }
}

struct Run {
    backend: &'static str,
    packets_sent: u64,
    packets: u64,
    rx_cpu: Duration,
    process_cpu: Duration,
    lost: u64,
    kernel_drops: u64,
    frames: u64,
}

fn measure(
    name: &'static str,
    backend: Box<dyn ReceiveBackend>,
    options: &Options,
    capture: &Path,
) -> Result<Run> {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        backend,
    });
    let mut to: Vec<SocketAddr> = Vec::new();
    for i in 0..options.streams {
        // One loopback address per camera, so that many cameras do not
        // crowd one address's ephemeral ports.
        let bind = SocketAddr::from(([127, 1, 0, i as u8 + 1], 0));
        let id = format!("c{i}");
        client.add_camera(CameraConfig::new(id.clone(), bind))?;
        to.push(client.local_addr(&id).context("camera has no address")?);
    }
    client.start()?;
    let client = Arc::new(client);
    let drain = FrameDrain::start(client.clone());
    let expected = if name == "uring" { 1 } else { options.streams };
    let tids = wait_for_threads(expected, || threads_named("rx-"));
    if tids.len() != expected {
        bail!(
            "the {name} backend runs {} receive threads, expected {expected}",
            tids.len()
        );
    }
    let datagrams = |c: &Client| c.stats().iter().map(|s| s.datagrams).sum::<u64>();
    let (rx0, proc0, packets0): (Duration, _, _) =
        (threads_cpu_time(&tids), cpu_time(false), datagrams(&client));

    let sent = replay::run_child(&replay::Options {
        capture: capture.to_owned(),
        to,
        fps: options.fps,
        frames: (options.seconds * options.fps).round() as usize,
        spread: 0.0,
        stagger: 0.0,
    })?;
    // The last burst is read within microseconds; allow for a busy
    // machine.
    std::thread::sleep(Duration::from_millis(100));
    let (rx1, proc1, packets1): (Duration, _, _) =
        (threads_cpu_time(&tids), cpu_time(false), datagrams(&client));
    let stats = client.stats();
    drain.stop();
    client.stop();
    Ok(Run {
        backend: name,
        packets_sent: sent.packets_sent,
        packets: packets1 - packets0,
        rx_cpu: rx1.saturating_sub(rx0),
        process_cpu: proc1.saturating_sub(proc0),
        lost: stats.iter().map(|s| s.packets_lost()).sum(),
        kernel_drops: stats.iter().filter_map(|s| s.kernel_drops).sum(),
        frames: stats.iter().map(|s| s.frames_complete()).sum(),
    })
}

/// Run every round and print the table on stdout.
pub fn run(options: &Options) -> Result<()> {
    if let Err(e) = mjpeg_rtp_uring::probe() {
        bail!("io_uring is not usable here: {e}");
    }
    let spec = frames_spec();
    let scratch = Scratch::new("rx-cpu")?;
    let capture = scratch.path().join("rx-cpu.pcap");
    let frames = capture::generate(&spec, &capture)?;
    let per_frame = frames.iter().map(Vec::len).sum::<usize>() / frames.len().max(1);
    eprintln!(
        "rx-cpu: {} stream(s) of {}x{} at {} fps, ~{per_frame} packets per frame, {} s per run",
        options.streams, spec.width, spec.height, options.fps, options.seconds
    );
    let mut runs = Vec::new();
    for _ in 0..options.rounds {
        let unbatched = StdBackend {
            batch: 1,
            ..StdBackend::default()
        };
        runs.push(measure("std-1", Box::new(unbatched), options, &capture)?);
        runs.push(measure(
            "std",
            Box::new(StdBackend::default()),
            options,
            &capture,
        )?);
        runs.push(measure(
            "uring",
            Box::new(UringBackend::with_options(options.uring.clone())),
            options,
            &capture,
        )?);
    }
    println!(
        "\n{} stream(s) of 1080p at {} fps, {} s per run, loopback, sender in its own process",
        options.streams, options.fps, options.seconds
    );
    println!(
        "{:<7} {:>9} {:>9} {:>8} {:>7} {:>7} {:>12} {:>14}",
        "backend", "sent", "received", "frames", "lost", "k.drops", "rx us/pkt", "process us/pkt"
    );
    let per_packet = |cpu: Duration, packets: u64| cpu.as_secs_f64() * 1e6 / packets.max(1) as f64;
    for r in &runs {
        println!(
            "{:<7} {:>9} {:>9} {:>8} {:>7} {:>7} {:>12.3} {:>14.3}",
            r.backend,
            r.packets_sent,
            r.packets,
            r.frames,
            r.lost,
            r.kernel_drops,
            per_packet(r.rx_cpu, r.packets),
            per_packet(r.process_cpu, r.packets),
        );
    }
    let total = |name: &str| {
        let (cpu, packets) = runs
            .iter()
            .filter(|r| r.backend == name)
            .fold((Duration::ZERO, 0), |(c, p), r| {
                (c + r.rx_cpu, p + r.packets)
            });
        per_packet(cpu, packets)
    };
    let (one_us, std_us, uring_us) = (total("std-1"), total("std"), total("uring"));
    println!(
        "\nreceive CPU per packet over all rounds: std one datagram per call {one_us:.3} us, \
         std batched {std_us:.3} us, uring {uring_us:.3} us\n\
         std batched / std-1 = {:.2}x, uring / std-1 = {:.2}x, uring / std batched = {:.2}x",
        std_us / one_us,
        uring_us / one_us,
        uring_us / std_us
    );
    Ok(())
}
