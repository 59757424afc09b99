//! `mjpeg-rtp`: stdout carries only the final JSON object; logs and errors
//! go to stderr (`RUST_LOG` sets the log level, default `warn`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use mjpeg_rtp_capture::summary::print_json;
use mjpeg_rtp_cli::args::{Cli, Command};
use mjpeg_rtp_cli::{demo, pcap, recv, send};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e),
    };
    match run(&cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, outermost first.
            eprintln!("mjpeg-rtp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Pcap(args) => print_json(&pcap::run(
            &args.capture,
            &args.into(),
            &(&args.output).into(),
        )?),
        Command::Recv(args) => {
            let received = recv::run(&args.into())?;
            print_json(&received.summary)?;
            received.check()
        }
        Command::Send(args) => print_json(&send::run(&args.into())?),
        Command::Demo(args) => print_json(&demo::run(&args.into())?),
    }
}

/// Help and version go to stdout as usual; a real argument error is one
/// line on stderr, exit code 2.
fn argument_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("mjpeg-rtp: missing subcommand or argument (see --help)");
            return ExitCode::from(2);
        }
        _ => {}
    }
    let rendered = e.render().to_string();
    let line = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("bad arguments");
    let line = line.strip_prefix("error: ").unwrap_or(line);
    eprintln!("mjpeg-rtp: {line} (see --help)");
    ExitCode::from(2)
}
