//! Frame reassembly: the sans-IO state machine at the heart of the crate.
//!
//! A [`Depacketizer`] follows one RTP stream (one SSRC at a time). Each
//! packet's scan data is copied once, straight to its fragment offset in a
//! caller-provided frame buffer, behind a reserved gap into which the JPEG
//! headers are written when the frame completes; the finished JPEG is then
//! one contiguous slice of that buffer.
//!
//! Jitter buffering without storing packets or waiting: up to `N` frames
//! are in flight at once (each in its own buffer), and a bitmap over recent
//! sequence numbers tells new packets from duplicates. A reordered packet
//! simply lands at its offset whenever it comes. A frame completes the
//! moment its received byte ranges cover `0..end` with no hole and the
//! marker packet fixed `end`; it is dropped, with a
//! [`DropReason`](crate::DropReason), once it can no longer complete.
//!
//! Frames are keyed by SSRC and RTP timestamp, and, for senders that give
//! consecutive frames one timestamp, by the marker packet's sequence
//! number. Whatever would reset the stream is believed only when the
//! packet after it agrees: another SSRC while the current one is alive, a
//! sequence step of a whole window forwards, a timestamp 10 s away. So one
//! stray or forged datagram is counted and refused; it cannot tear down the
//! frames in flight.
//!
//! Draining contract: after each [`Depacketizer::push`] (or
//! [`Depacketizer::handle_timeout`]) call [`Depacketizer::next_frame`] or
//! [`Depacketizer::take_frame`] until it returns nothing. A complete frame
//! left in its slot is overwritten (and counted `not_taken`) when the slot
//! is needed for a newer frame.
//!
//! - `depacketizer`: [`Depacketizer`], the stream-level decisions (SSRC,
//!   sequence window, which slot a packet goes to, when a frame is dropped).
//! - `config`: [`Config`] and the per-packet [`Verdict`].
//! - `frame`: what a caller gets back ([`Frame`], [`OwnedFrame`],
//!   [`FrameInfo`]) and how large a frame buffer must be.
//! - `slot`: one frame in flight: its buffer, its fields, placing a
//!   fragment and completing the JPEG.
//! - `stream`: per-SSRC state (counters, sequence window, finished frames,
//!   cached tables).
//! - `ranges`: the received byte ranges of one frame.

mod config;
mod depacketizer;
mod frame;
mod ranges;
mod slot;
mod stream;

pub use config::{Config, Verdict};
pub use depacketizer::Depacketizer;
pub use frame::{frame_buffer_len, Frame, FrameInfo, OwnedFrame, HEADER_RESERVE};
pub(crate) use ranges::RangeError;
