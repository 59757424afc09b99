//! # mjpeg-rtp-capture
//!
//! The parts of the `mjpeg-rtp` command that the Python package shares
//! with it, as a library that knows no argument parsing, HTTP or output
//! files:
//! - [`reader`]: UDP datagrams out of pcap and pcapng captures.
//! - [`replay`]: every RTP/JPEG stream of a capture rebuilt into frames
//!   by the core (one depacketizer per port and SSRC), optionally thinned
//!   to a frame rate.
//! - [`summary`]: the JSON summary the commands print (DESIGN.md's
//!   contract) and `read_pcap` returns.

pub mod reader;
pub mod replay;
pub mod summary;
