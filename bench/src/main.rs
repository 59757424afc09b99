//! `mjpeg-rtp-bench`: the benchmark harness. One run measures the
//! project against its floors and prints ratios of figures taken in that
//! same run: a human table on stderr, one JSON object on stdout
//! (`--help` for the flags). `rx-cpu` compares the receive backends'
//! CPU per packet; `viewers` compares `mjpeg-rtp recv`'s CPU per packet
//! with and without live viewers; `rtsp-transport` compares an RTSP
//! camera's receive CPU per packet over TCP interleaved and over UDP;
//! `soak` runs `recv` with many cameras whose servers restart at random
//! and checks that it neither leaks, lapses nor corrupts a frame.
//!
//! Modules, by concern:
//! - [`args`]: the command line (the only module that knows clap);
//! - [`run`]: the whole run, section after section;
//! - [`pcap_to_rgb`], [`reassembly`], [`live`], [`decode_size`]:
//!   sections 1, 2, 3 and 4;
//! - [`rx_cpu`]: receive CPU per packet by backend;
//! - [`viewers`]: `recv` CPU per packet with 0 and with N live viewers;
//! - [`rtsp_transport`]: RTSP receive CPU per packet, TCP vs UDP, against
//!   [`rtsp_serve`], a minimal in-process RTSP server;
//! - [`soak`]: `recv` with 16 cameras for minutes, servers restarted at
//!   random, viewers and scrapes: leaks, reconnect gaps, lapses, exactness;
//! - [`replay`]: the `sendmmsg` sender the live section, `rx-cpu` and
//!   `viewers` run as a child process;
//! - [`capture`]: the capture every section reads, given or generated
//!   from [`synth`]'s pictures and written with the testkit's capture writer;
//! - [`cpu`]: CPU accounting (getrusage, thread CPU clocks);
//! - [`drain`]: a client's frames taken while its receiving is measured;
//! - [`report`]: the JSON report and the table.

use std::process::ExitCode;

use mjpeg_rtp_capture::summary::print_json;

use crate::args::Job;

mod args;
mod capture;
mod cpu;
mod decode_size;
mod drain;
mod live;
mod pcap_to_rgb;
mod reassembly;
mod replay;
mod report;
mod rtsp_serve;
mod rtsp_transport;
mod run;
mod rx_cpu;
mod soak;
mod synth;
mod viewers;

fn main() -> ExitCode {
    let job = args::parse();
    // rx-cpu overloads its one decode thread on purpose (it measures the
    // receive threads): the runtime's warnings about that say nothing, so
    // it logs only what --verbose or RUST_LOG asks for.
    let default_filter = match job {
        Job::RxCpu { .. } => "off",
        _ => "warn",
    };
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter));
    logger.target(env_logger::Target::Stderr);
    if let Job::RxCpu { verbose: true, .. } = job {
        logger.filter_module("mjpeg_rtp_uring", log::LevelFilter::Debug);
    }
    logger.init();
    let result = match &job {
        Job::Bench(options) => run::run(options).and_then(|report| print_json(&report)),
        Job::Replay(options) => replay::replay(options).and_then(|summary| print_json(&summary)),
        Job::RxCpu { options, .. } => rx_cpu::run(options),
        Job::Viewers(options) => viewers::run(options).and_then(|report| print_json(&report)),
        Job::RtspTransport(options) => {
            rtsp_transport::run(options).and_then(|report| print_json(&report))
        }
        // The report is printed whether the run passed or not.
        Job::Soak(options) => soak::run(options)
            .and_then(|report| print_json(&report).and_then(|()| report.verdict())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, outermost first.
            eprintln!("mjpeg-rtp-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
