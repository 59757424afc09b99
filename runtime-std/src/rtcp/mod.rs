//! The runtime's RTCP (RFC 3550 6) for one camera, on the sans-IO pieces
//! of [`mjpeg_rtp_rtsp::rtcp`]: sender reports of the stream's sender set
//! the wall-clock capture time of its frames; receiver reports go back at
//! RFC 3550 intervals with the figures of the core's counters; a BYE
//! ends the session.
//!
//! Two halves, because two kinds of threads need them:
//! - [`RtcpShared`](crate::capture_clock::RtcpShared)
//!   (`capture_clock.rs`, in the camera's shared state): the capture
//!   clock, read by the decode workers once per frame, and the counters.
//! - [`Reporter`](reports::Reporter) (`reports.rs`): the sending side's
//!   state, owned by the one thread that reads and writes the camera's
//!   RTCP (the RTSP session thread, or [`run_plain`] for a plain-UDP
//!   camera with `rtcp` on).
//!
//! The figures of a report come from the counters the receive path
//! publishes (every 20 ms), so neither backend's per-packet path does any
//! RTCP work: the core already keeps the extended highest sequence, the
//! expected and received counts and the interarrival jitter (RFC 3550
//! A.8, from the arrival time the backend passes in).
//!
//! The camera's shared state holds the first half, and the second reads
//! that state: the first is a module of its own, outside this one, so
//! that `camera` and `rtcp` do not import each other.

mod reports;

pub(crate) use reports::{bind_plain, run_plain, Route, SessionRtcp};
