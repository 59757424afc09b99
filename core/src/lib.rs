//! # mjpeg-rtp-core
//!
//! Receive-side and send-side RTP/JPEG (RFC 2435) with no networking code,
//! no timestamps from the operating system and no heap: `#![no_std]`, no
//! `alloc`, no `unsafe`. Time comes in as an [`Instant`] argument, frame
//! memory comes from the caller, capacity is a const generic.
//!
//! ## Receiving
//!
//! [`Depacketizer`] follows one RTP stream. Feed it every datagram with
//! [`Depacketizer::push`]; after each call, drain complete frames with
//! [`Depacketizer::next_frame`] (borrowed) or [`Depacketizer::take_frame`]
//! (buffer handed over) until they return nothing; call
//! [`Depacketizer::handle_timeout`] by [`Depacketizer::poll_timeout`] so
//! that a stalled frame is dropped on time; call [`Depacketizer::flush`]
//! when the stream ends. Every datagram and every frame lands in a counter
//! ([`StreamStats`], [`InvalidCounts`]); bad input never panics, and a
//! frame with a missing byte is never handed out.
//!
//! ```
//! use mjpeg_rtp_core::{frame_buffer_len, Config, Depacketizer, Instant};
//!
//! const MAX_SCAN: usize = 64 * 1024;
//! // Two frames in flight, each in its own fixed buffer.
//! let mut buffers = [[0u8; frame_buffer_len(MAX_SCAN)]; 2];
//! let [a, b] = &mut buffers;
//! let mut rx = Depacketizer::new(Config::default(), [&mut a[..], &mut b[..]]);
//! # let datagrams: [&[u8]; 0] = [];
//! for datagram in datagrams {
//!     let _verdict = rx.push(Instant::from_millis(0), datagram);
//!     while let Some(frame) = rx.next_frame() {
//!         // frame.jpeg is a complete JPEG; frame.info has size, timestamp...
//!         let _ = (frame.info.width, frame.jpeg.len());
//!     }
//! }
//! ```
//!
//! ## Sending
//!
//! [`Packetizer`] cuts a baseline JPEG into RTP packets written into a
//! caller buffer, one at a time.
//!
//! ## Layout
//!
//! The wire layer is public, for tools and tests that read or write
//! packets themselves:
//!
//! - [`rtp`]: RTP header view, checked mutable header view and writer.
//! - [`rfc2435`]: RFC 2435 payload headers, the Appendix A tables and the
//!   format's limits ([`MAX_SCAN_BYTES`]).
//! - [`jpeg`]: JPEG headers: rebuild for receiving, read for sending.
//!
//! The rest is internal; what a caller needs is re-exported here:
//!
//! - `datagram`: the stateless checks of one datagram ([`validate`],
//!   [`onvif_frame_size`]).
//! - `reassembly/`: the depacketizer state machine ([`Depacketizer`], its
//!   [`Config`] and [`Verdict`], the frame types), one file each for the
//!   depacketizer, its config, frames, slots, stream state and the
//!   received-range set.
//! - `seq`: sequence/timestamp extension and the duplicate window.
//! - `order`: frames handed out in RTP timestamp order, stragglers
//!   refused ([`TimestampOrder`]).
//! - `packetize`: the packetizer ([`Packetizer`]).
//! - `stats`: counters, the named reasons and which error lands in which
//!   reason ([`StreamStats`], [`InvalidReason`], [`DropReason`]).
//! - `thinning`: at most N frames per second by RTP timestamp, decided
//!   before decode ([`Thinning`]).
//! - `time`: the caller's clock ([`Instant`]).

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod jpeg;
pub mod rfc2435;
pub mod rtp;

mod datagram;
mod order;
mod packetize;
mod reassembly;
mod seq;
mod stats;
mod thinning;
mod time;

pub use datagram::{onvif_frame_size, validate, DYNAMIC_PAYLOAD_TYPES};
pub use order::TimestampOrder;
pub use packetize::{FramePackets, PacketizeError, Packetizer, PacketizerConfig};
pub use reassembly::{
    frame_buffer_len, Config, Depacketizer, Frame, FrameInfo, OwnedFrame, Verdict, HEADER_RESERVE,
    HELD_DATAGRAM_LEN, PAYLOAD_TYPE_LOCK_AFTER,
};
pub use rfc2435::{JpegType, Sampling, MAX_SCAN_BYTES};
pub use stats::{
    DropCounts, DropReason, InvalidCounts, InvalidReason, StreamStats, Tolerated, ToleratedCounts,
};
pub use thinning::Thinning;
pub use time::Instant;
