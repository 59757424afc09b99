//! Frame reassembly: the sans-IO state machine at the heart of the crate.
//!
//! What a caller may rely on is documented on [`Depacketizer`]; the files:
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
//! - `payload_type`: learning the dynamic payload type of a stream that
//!   came with no SDP.

mod config;
mod depacketizer;
mod frame;
mod payload_type;
pub(crate) mod ranges;
mod slot;
mod stream;

pub use config::{Config, Verdict, HELD_DATAGRAM_LEN};
pub use depacketizer::Depacketizer;
pub use frame::{frame_buffer_len, Frame, FrameInfo, OwnedFrame, HEADER_RESERVE};
pub use payload_type::LOCK_AFTER as PAYLOAD_TYPE_LOCK_AFTER;
