//! Receive-side CPU per packet, std backend (batched `recvmmsg`, and one
//! datagram per call as the baseline) vs io_uring backend, at the same
//! offered load, in one run. A benchmark, not a test.
//!
//! ```text
//! cargo build --release -p mjpeg-rtp-uring --examples
//! /path/to/target/release/examples/rx_cpu [--streams N] [--fps F] [--seconds S] [--rounds R]
//!     [--batch N] [--batch-wait-us US] [--buffers N]   (UringOptions)
//! ```
//!
//! For each backend (alternating, `--rounds` times) a client receives
//! `--streams` cameras on loopback while a separate process (`replay`,
//! found next to this binary) sends 1080p MJPEG/RTP with `sendmmsg`.
//! Measured over exactly the sender's run:
//! - receive CPU: the CPU time (user + system, what
//!   `getrusage(RUSAGE_THREAD)` reports for a thread) of the receive
//!   threads only: `rx-uring`, or the std backend's `rx-<camera>`
//!   threads, read through their per-thread CPU clocks. Decoding runs on
//!   other threads and is excluded by construction.
//! - process CPU: `getrusage(RUSAGE_SELF)` of this whole process, which
//!   includes decoding (the client always decodes), for reference.

#[cfg(target_os = "linux")]
mod bench {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use mjpeg_rtp::backend::{ReceiveBackend, StdBackend};
    use mjpeg_rtp::{CameraConfig, Client, ClientOptions};
    use mjpeg_rtp_uring::UringBackend;

    struct Args {
        streams: usize,
        fps: f64,
        seconds: f64,
        rounds: usize,
        uring: mjpeg_rtp_uring::UringOptions,
    }

    fn parse_args() -> Result<Args, String> {
        let mut args = Args {
            streams: 1,
            fps: 30.0,
            seconds: 5.0,
            rounds: 2,
            uring: mjpeg_rtp_uring::UringOptions::default(),
        };
        let mut it = std::env::args().skip(1).filter(|a| a != "--verbose");
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--streams" => args.streams = value.parse().map_err(|e| bad(&e))?,
                "--fps" => args.fps = value.parse().map_err(|e| bad(&e))?,
                "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
                "--rounds" => args.rounds = value.parse().map_err(|e| bad(&e))?,
                "--batch" => args.uring.batch = value.parse().map_err(|e| bad(&e))?,
                "--batch-wait-us" => {
                    let us = value.parse().map_err(|e| bad(&e))?;
                    args.uring.batch_wait = Duration::from_micros(us);
                }
                "--buffers" => args.uring.buffers = value.parse().map_err(|e| bad(&e))?,
                _ => return Err(format!("unknown argument {flag}")),
            }
        }
        if args.streams == 0 || args.streams > 250 || args.rounds == 0 {
            return Err("--streams must be 1..=250 and --rounds at least 1".into());
        }
        Ok(args)
    }

    /// CPU time of thread `tid` of this process, in nanoseconds: its
    /// CPU-time clock (the kernel's MAKE_THREAD_CPUCLOCK(tid, SCHED), as
    /// glibc's pthread_getcpuclockid builds it).
    fn thread_cpu_ns(tid: i32) -> Option<u64> {
        let clock = ((!tid) << 3) | 6;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a live timespec; an invalid clock id only makes
        // the call fail.
        let rc = unsafe { libc::clock_gettime(clock as libc::clockid_t, &mut ts) };
        (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Ids of this process's threads whose name starts with "rx-".
    fn receive_threads() -> Vec<i32> {
        let mut tids = Vec::new();
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if name.starts_with("rx-") {
                if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
                    tids.push(tid);
                }
            }
        }
        tids
    }

    fn process_cpu_ns() -> u64 {
        // SAFETY: all-zero is a valid rusage, filled in by the call.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a live rusage.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
        ns(usage.ru_utime) + ns(usage.ru_stime)
    }

    struct Run {
        backend: &'static str,
        packets_sent: u64,
        packets: u64,
        rx_cpu_ns: u64,
        process_cpu_ns: u64,
        lost: u64,
        kernel_drops: u64,
        frames: u64,
    }

    fn measure(
        name: &'static str,
        backend: Box<dyn ReceiveBackend>,
        args: &Args,
        replay: &PathBuf,
    ) -> Run {
        let mut client = Client::new(ClientOptions {
            decode_threads: 1,
            backend,
        });
        let mut to: Vec<SocketAddr> = Vec::new();
        for i in 0..args.streams {
            // One loopback address per camera, so that many cameras do not
            // crowd one address's ephemeral ports.
            let bind = SocketAddr::from(([127, 1, 0, i as u8 + 1], 0));
            let config = CameraConfig::new(format!("c{i}"), bind);
            client.add_camera(config).expect("add camera");
            to.push(client.local_addr(&format!("c{i}")).unwrap());
        }
        client.start().expect("start");
        let client = Arc::new(client);
        // Take frames as they come, so that queues never matter.
        let done = Arc::new(AtomicBool::new(false));
        let drain = {
            let (client, done) = (client.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let _ = client.next_frame(Duration::from_millis(50));
                }
            })
        };
        // A thread names itself once it runs: wait for all of them.
        let expected = if name == "uring" { 1 } else { args.streams };
        let mut tids = receive_threads();
        for _ in 0..500 {
            if tids.len() == expected {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            tids = receive_threads();
        }
        assert_eq!(
            tids.len(),
            expected,
            "receive threads of the {name} backend"
        );
        let rx_cpu = |tids: &[i32]| tids.iter().filter_map(|&t| thread_cpu_ns(t)).sum::<u64>();
        let datagrams = |c: &Client| c.stats().iter().map(|s| s.datagrams).sum::<u64>();
        let (rx0, proc0, packets0) = (rx_cpu(&tids), process_cpu_ns(), datagrams(&client));

        let mut command = Command::new(replay);
        for addr in &to {
            command.args(["--to", &addr.to_string()]);
        }
        let output = command
            .args(["--fps", &args.fps.to_string()])
            .args(["--seconds", &args.seconds.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .expect("run replay");
        assert!(output.status.success(), "replay failed");
        let packets_sent = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // The last burst is read within microseconds; allow for a busy
        // machine.
        std::thread::sleep(Duration::from_millis(100));
        let (rx1, proc1, packets1) = (rx_cpu(&tids), process_cpu_ns(), datagrams(&client));
        let stats = client.stats();
        done.store(true, Ordering::Relaxed);
        let _ = drain.join();
        client.stop();
        Run {
            backend: name,
            packets_sent,
            packets: packets1 - packets0,
            rx_cpu_ns: rx1 - rx0,
            process_cpu_ns: proc1 - proc0,
            lost: stats.iter().map(|s| s.packets_lost()).sum(),
            kernel_drops: stats.iter().filter_map(|s| s.kernel_drops).sum(),
            frames: stats.iter().map(|s| s.frames_complete()).sum(),
        }
    }

    /// `--verbose`: the backends' debug lines on stderr.
    struct Stderr;

    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.target().starts_with("mjpeg_rtp_uring")
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("[{}] {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }

    pub fn main() {
        if std::env::args().any(|a| a == "--verbose") {
            let _ = log::set_logger(&Stderr);
            log::set_max_level(log::LevelFilter::Debug);
        }
        let args = match parse_args() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("rx_cpu: {e}");
                std::process::exit(2);
            }
        };
        let replay = std::env::current_exe()
            .expect("own path")
            .with_file_name("replay");
        if !replay.exists() {
            eprintln!(
                "rx_cpu: {} not found; build both: cargo build --release -p mjpeg-rtp-uring --examples",
                replay.display()
            );
            std::process::exit(2);
        }
        if let Err(e) = mjpeg_rtp_uring::probe() {
            eprintln!("rx_cpu: io_uring is not usable here: {e}");
            std::process::exit(1);
        }
        let mut runs = Vec::new();
        for _ in 0..args.rounds {
            let unbatched = StdBackend {
                batch: 1,
                ..StdBackend::default()
            };
            runs.push(measure("std-1", Box::new(unbatched), &args, &replay));
            runs.push(measure(
                "std",
                Box::new(StdBackend::default()),
                &args,
                &replay,
            ));
            runs.push(measure(
                "uring",
                Box::new(UringBackend::with_options(args.uring.clone())),
                &args,
                &replay,
            ));
        }
        println!(
            "\n{} stream(s) of 1080p at {} fps, {} s per run, loopback, sender in its own process",
            args.streams, args.fps, args.seconds
        );
        println!(
            "{:<7} {:>9} {:>9} {:>8} {:>7} {:>7} {:>12} {:>14}",
            "backend",
            "sent",
            "received",
            "frames",
            "lost",
            "k.drops",
            "rx us/pkt",
            "process us/pkt"
        );
        let per_packet = |ns: u64, packets: u64| ns as f64 / 1000.0 / packets.max(1) as f64;
        for r in &runs {
            println!(
                "{:<7} {:>9} {:>9} {:>8} {:>7} {:>7} {:>12.3} {:>14.3}",
                r.backend,
                r.packets_sent,
                r.packets,
                r.frames,
                r.lost,
                r.kernel_drops,
                per_packet(r.rx_cpu_ns, r.packets),
                per_packet(r.process_cpu_ns, r.packets),
            );
        }
        let total = |name: &str| {
            let (ns, packets) = runs
                .iter()
                .filter(|r| r.backend == name)
                .fold((0, 0), |(n, p), r| (n + r.rx_cpu_ns, p + r.packets));
            per_packet(ns, packets)
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
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    bench::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("rx_cpu measures io_uring, which exists only on Linux");
}
