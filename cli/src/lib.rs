//! The `mjpeg-rtp` command as a library: frame output, live receive,
//! sending, the demo and the pcap command (capture reading, replay and
//! the JSON summaries are the `mjpeg-rtp-capture` crate's), each taking
//! plain option types. Only [`args`] knows clap and converts
//! the command line into those options; `main.rs` parses, dispatches and
//! prints; tests call in here.

#![forbid(unsafe_code)]

pub mod args;
pub mod demo;
pub mod http;
pub mod output;
pub mod pattern;
pub mod pcap;
pub mod recv;
pub mod send;
pub mod signal;
