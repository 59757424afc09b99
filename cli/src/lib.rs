//! The `mjpeg-rtp` command as a library: argument types, capture reading,
//! pcap replay, frame output, sending, and the JSON summaries. `main.rs`
//! only parses arguments, dispatches and prints; tests call in here.

pub mod args;
pub mod bench;
pub mod capture;
pub mod demo;
pub mod output;
pub mod pattern;
pub mod pcap;
pub mod recv;
pub mod send;
pub mod signal;
pub mod summary;
pub mod synth;
