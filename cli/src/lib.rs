//! The `mjpeg-rtp` command as a library: capture reading, pcap replay,
//! frame output, live receive, sending, the demo and the JSON summaries,
//! each taking plain option types. Only [`args`] knows clap and converts
//! the command line into those options; `main.rs` parses, dispatches and
//! prints; tests call in here.

pub mod args;
pub mod capture;
pub mod demo;
pub mod http;
pub mod output;
pub mod pattern;
pub mod pcap;
pub mod recv;
pub mod send;
pub mod signal;
pub mod summary;
