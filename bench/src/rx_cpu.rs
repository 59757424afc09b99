//! `mjpeg-rtp-bench rx-cpu`: receive-side CPU per packet, std backend
//! (batched `recvmmsg` with UDP GRO; the same without GRO, `std-no-gro`;
//! one datagram per call as the baseline; batched without lingering
//! inside a frame) vs io_uring backend (with UDP GRO, batching while a
//! frame trickles; the same without GRO and with its small buffers,
//! `uring-no-gro`; batching on every wait, `uring-every`), at the same
//! offered load, in one run.
//!
//! The sender uses UDP GSO, so on loopback a GRO socket (std's or the
//! ring's) gets each run of
//! a frame's packets as the one buffer the sender built: nothing is cut
//! or merged in between, GRO's best case. Behind a real NIC the kernel
//! would first merge the packets (NAPI GRO, in softirq), work this does
//! not measure.
//!
//! For each backend (alternating, `rounds` times) a client receives
//! `streams` cameras on loopback while the replay sender, in its own
//! process, sends them 1080p MJPEG/RTP: every camera's frame at the same
//! instant, paced at `fps`, its packets in one burst or spread over
//! `spread` of the frame interval, in 1 ms bunches or one by one
//! (`trickle`) as from a camera on a 100 Mbit/s link. Measured over exactly the
//! sender's run:
//! - receive CPU: the CPU time (user + system, what
//!   `getrusage(RUSAGE_THREAD)` reports for a thread) of the receive
//!   threads only: `rx-uring`, or the std backend's `rx-<camera>`
//!   threads, read through their per-thread CPU clocks. Decoding runs on
//!   other threads and is excluded by construction.
//! - process CPU: `getrusage(RUSAGE_SELF)` of this whole process, which
//!   includes decoding (the client always decodes), for reference.
//!
//! A round whose reading cannot be trusted fails the run, naming why:
//! the backend's receive threads were not found (or not all of them), one
//! ended during the round, or their CPU time read zero while packets
//! arrived. The summary gives each backend's min and median over the
//! rounds, and the ratios of those; no mean, which one bad round skews.
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
use crate::report::Spread;
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
    /// Share of the frame interval over which a frame's packets are sent.
    pub spread: f64,
    /// Each packet sent at its own time (see `replay::Options::trickle`).
    pub trickle: bool,
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

#[derive(Debug, Clone)]
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
    // Receive threads of an earlier client that are still winding down
    // carry the same names: only threads started by this client count.
    let earlier = threads_named("rx-");
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
    let expected = if name.starts_with("uring") {
        1
    } else {
        options.streams
    };
    let tids = wait_for_threads(expected, || {
        let mut tids = threads_named("rx-");
        tids.retain(|t| !earlier.contains(t));
        tids
    });
    if tids.len() != expected {
        bail!(
            "untrustworthy reading: the {name} backend's receive threads (rx-*) were not found: \
             {} of {expected}",
            tids.len()
        );
    }
    let datagrams = |c: &Client| c.stats().iter().map(|s| s.datagrams).sum::<u64>();
    let (rx0, proc0, packets0): (Duration, _, _) = (
        threads_cpu(name, &tids)?,
        cpu_time(false),
        datagrams(&client),
    );

    let sent = replay::run_child(&replay::Options {
        capture: capture.to_owned(),
        to,
        fps: options.fps,
        frames: (options.seconds * options.fps).round() as usize,
        spread: options.spread,
        stagger: 0.0,
        gso: true,
        trickle: options.trickle,
    })?;
    // The last burst is read within microseconds; allow for a busy
    // machine.
    std::thread::sleep(Duration::from_millis(100));
    let (rx1, proc1, packets1): (Duration, _, _) = (
        threads_cpu(name, &tids)?,
        cpu_time(false),
        datagrams(&client),
    );
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

/// CPU time of the receive threads `tids` together.
fn threads_cpu(backend: &str, tids: &[i32]) -> Result<Duration> {
    threads_cpu_time(tids).with_context(|| {
        format!("untrustworthy reading: a receive thread of the {backend} backend")
    })
}

/// `Err` with the reason when `run` is not a reading to trust.
fn check(run: &Run, round: usize) -> Result<()> {
    if run.packets == 0 {
        bail!(
            "untrustworthy reading: round {round} of {}: no packet received",
            run.backend
        );
    }
    if run.rx_cpu.is_zero() {
        bail!(
            "untrustworthy reading: round {round} of {}: the receive threads' CPU time read \
             zero over {} packets",
            run.backend,
            run.packets
        );
    }
    Ok(())
}

fn us_per_packet(cpu: Duration, packets: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / packets.max(1) as f64
}

/// Receive CPU per packet of `backend` over its rounds: min and median.
fn spread(runs: &[Run], backend: &str) -> Spread {
    let per_round: Vec<f64> = runs
        .iter()
        .filter(|r| r.backend == backend)
        .map(|r| us_per_packet(r.rx_cpu, r.packets))
        .collect();
    Spread::of(&per_round)
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
    for round in 1..=options.rounds {
        let unbatched = StdBackend {
            batch: 1,
            gro: false,
            ..StdBackend::default()
        };
        let no_gro = StdBackend {
            gro: false,
            ..StdBackend::default()
        };
        let eager = StdBackend {
            linger: Duration::ZERO,
            ..StdBackend::default()
        };
        let every = UringOptions {
            batch_every_wait: true,
            ..options.uring.clone()
        };
        // The ring as it was before GRO: its own buffer layout (4096 of
        // 2 KiB), with the pacing asked for.
        let uring_no_gro = UringOptions {
            batch: options.uring.batch,
            batch_wait: options.uring.batch_wait,
            ..UringOptions::without_gro()
        };
        let backends: [(&'static str, Box<dyn ReceiveBackend>); 7] = [
            ("std-1", Box::new(unbatched)),
            ("std-no-gro", Box::new(no_gro)),
            ("std", Box::new(StdBackend::default())),
            ("std-eager", Box::new(eager)),
            (
                "uring",
                Box::new(UringBackend::with_options(options.uring.clone())),
            ),
            (
                "uring-no-gro",
                Box::new(UringBackend::with_options(uring_no_gro)),
            ),
            ("uring-every", Box::new(UringBackend::with_options(every))),
        ];
        for (name, backend) in backends {
            let run = measure(name, backend, options, &capture)?;
            check(&run, round)?;
            runs.push(run);
        }
    }
    println!(
        "\n{} stream(s) of 1080p at {} fps, {} s per run, loopback, sender in its own process, \
         each frame's packets over {:.0}% of the interval{}",
        options.streams,
        options.fps,
        options.seconds,
        options.spread * 100.0,
        if options.trickle { ", one by one" } else { "" }
    );
    println!(
        "{:<11} {:>9} {:>9} {:>8} {:>7} {:>7} {:>12} {:>14}",
        "backend", "sent", "received", "frames", "lost", "k.drops", "rx us/pkt", "process us/pkt"
    );
    for r in &runs {
        println!(
            "{:<11} {:>9} {:>9} {:>8} {:>7} {:>7} {:>12.3} {:>14.3}",
            r.backend,
            r.packets_sent,
            r.packets,
            r.frames,
            r.lost,
            r.kernel_drops,
            us_per_packet(r.rx_cpu, r.packets),
            us_per_packet(r.process_cpu, r.packets),
        );
    }
    println!("\n{}", summary(&runs));
    Ok(())
}

/// The rounds' verdict: each backend's min and median receive CPU per
/// packet, and their ratios (min to min, median to median).
fn summary(runs: &[Run]) -> String {
    let (one, no_gro, std, eager, uring, uring_no_gro, every) = (
        spread(runs, "std-1"),
        spread(runs, "std-no-gro"),
        spread(runs, "std"),
        spread(runs, "std-eager"),
        spread(runs, "uring"),
        spread(runs, "uring-no-gro"),
        spread(runs, "uring-every"),
    );
    let ratio = |a: Spread, b: Spread| {
        let r = a.ratio(b);
        format!("{:.2}x (min) / {:.2}x (median)", r.min, r.median)
    };
    format!(
        "receive CPU per packet over {} rounds, min / median: std one datagram per call \
         {:.3} / {:.3} us, std batched without GRO {:.3} / {:.3} us, std batched {:.3} / {:.3} \
         us, std batched without lingering {:.3} / {:.3} us, uring {:.3} / {:.3} us, uring \
         without GRO {:.3} / {:.3} us, uring batching every wait {:.3} / {:.3} us\n\
         std batched / std-1 = {}, std (GRO) / std-no-gro = {}, std batched / without \
         lingering = {}, uring / std-1 = {}, uring / std batched = {}, uring-no-gro / \
         std-no-gro = {}, uring (GRO) / uring-no-gro = {}, uring-every / std batched = {}, \
         uring / uring-every = {}",
        runs.iter().filter(|r| r.backend == "uring").count(),
        one.min,
        one.median,
        no_gro.min,
        no_gro.median,
        std.min,
        std.median,
        eager.min,
        eager.median,
        uring.min,
        uring.median,
        uring_no_gro.min,
        uring_no_gro.median,
        every.min,
        every.median,
        ratio(std, one),
        ratio(std, no_gro),
        ratio(std, eager),
        ratio(uring, one),
        ratio(uring, std),
        ratio(uring_no_gro, no_gro),
        ratio(uring, uring_no_gro),
        ratio(every, std),
        ratio(uring, every),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(backend: &'static str, rx_us: u64, packets: u64) -> Run {
        Run {
            backend,
            packets_sent: packets,
            packets,
            rx_cpu: Duration::from_micros(rx_us),
            process_cpu: Duration::from_micros(rx_us * 3),
            lost: 0,
            kernel_drops: 0,
            frames: 1,
        }
    }

    /// A round whose threads' CPU read zero fails with that reason
    /// instead of being counted as free.
    #[test]
    fn a_round_reading_zero_cpu_is_refused() {
        let err = check(&run("std", 0, 1000), 2).unwrap_err().to_string();
        assert!(err.contains("round 2 of std"), "{err}");
        assert!(err.contains("read zero over 1000 packets"), "{err}");
        assert!(check(&run("std", 0, 0), 1)
            .unwrap_err()
            .to_string()
            .contains("no packet received"));
        assert!(check(&run("std", 2100, 1000), 1).is_ok());
    }

    /// Threads that are not there (or that ended) are an error, not a
    /// zero.
    #[test]
    fn missing_threads_are_an_error() {
        if !cfg!(target_os = "linux") {
            return;
        }
        // The id of a thread that has ended.
        let gone: i32 = std::thread::spawn(|| {
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            link.file_name().unwrap().to_str().unwrap().parse().unwrap()
        })
        .join()
        .unwrap();
        // `join` returns once the thread has woken its joiner, which it
        // does on its way out, a moment before the kernel removes its
        // /proc entry: wait for that.
        let entry = std::path::PathBuf::from(format!("/proc/self/task/{gone}"));
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while entry.exists() && std::time::Instant::now() < give_up {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let err = format!("{:#}", threads_cpu("uring", &[gone]).unwrap_err());
        assert!(err.contains("receive thread of the uring backend"), "{err}");
        assert!(
            err.contains(&format!("thread {gone} cannot be read")),
            "{err}"
        );
        assert!(threads_cpu("uring", &[]).unwrap().is_zero());
    }

    /// Min and median per backend; one slow round moves neither much.
    #[test]
    fn the_summary_states_min_and_median() {
        let runs = [
            run("std-1", 4000, 1000),
            run("std", 3000, 1000),
            run("uring", 2000, 1000),
            run("std-1", 4200, 1000),
            run("std", 3300, 1000),
            run("uring", 2100, 1000),
            run("std-1", 9000, 1000),
            run("std", 3100, 1000),
            run("uring", 2050, 1000),
            run("uring-every", 2500, 1000),
            run("uring-every", 2400, 1000),
            run("uring-every", 2600, 1000),
            run("std-no-gro", 6000, 1000),
            run("std-no-gro", 6200, 1000),
            run("std-no-gro", 6100, 1000),
            run("uring-no-gro", 5000, 1000),
            run("uring-no-gro", 5200, 1000),
            run("uring-no-gro", 5100, 1000),
        ];
        let text = summary(&runs);
        assert!(text.contains("over 3 rounds"), "{text}");
        assert!(
            text.contains("std one datagram per call 4.000 / 4.200 us"),
            "{text}"
        );
        assert!(text.contains("std batched 3.000 / 3.100 us"), "{text}");
        assert!(text.contains("uring 2.000 / 2.050 us"), "{text}");
        assert!(
            text.contains("std batched without GRO 6.000 / 6.100 us"),
            "{text}"
        );
        assert!(
            text.contains("std (GRO) / std-no-gro = 0.50x (min) / 0.51x (median)"),
            "{text}"
        );
        assert!(
            text.contains("uring / std batched = 0.67x (min) / 0.66x (median)"),
            "{text}"
        );
        assert!(
            text.contains("uring / uring-every = 0.83x (min) / 0.82x (median)"),
            "{text}"
        );
        assert!(
            text.contains("uring without GRO 5.000 / 5.100 us"),
            "{text}"
        );
        assert!(
            text.contains("uring (GRO) / uring-no-gro = 0.40x (min) / 0.40x (median)"),
            "{text}"
        );
        assert!(!text.contains("mean"), "{text}");
    }
}
