//! `MJPEGRTPClient.stats()`: a camera's counters as a dict, under the
//! names of the command's JSON summary where it has them.

use std::collections::BTreeMap;

use mjpeg_rtp::CameraStats;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The counters of one camera, summed over its RTP streams (an SSRC
/// change starts a new one); `width`, `height`, `ssrc` and `jitter` are
/// the current stream's.
pub(crate) fn stats_dict<'py>(py: Python<'py>, s: &CameraStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let current = s.streams.last();
    let sum = |f: fn(&mjpeg_rtp_core::StreamStats) -> u64| s.streams.iter().map(f).sum::<u64>();
    let mut drop_reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for stream in &s.streams {
        for (reason, n) in stream.frames_dropped.iter() {
            *drop_reasons.entry(reason.name()).or_default() += n;
        }
    }
    let mut tolerated: BTreeMap<&str, u64> = BTreeMap::new();
    for stream in &s.streams {
        for (kind, n) in stream.tolerated.iter() {
            *tolerated.entry(kind.name()).or_default() += n;
        }
    }
    let invalid_reasons: BTreeMap<&str, u64> =
        s.invalid.iter().map(|(r, n)| (r.name(), n)).collect();
    d.set_item("camera_id", &s.camera_id)?;
    d.set_item("local_address", s.local_addr.to_string())?;
    d.set_item(
        "ssrc",
        current.and_then(|c| c.ssrc).map(|x| format!("0x{x:08x}")),
    )?;
    d.set_item("streams", s.streams.len())?;
    d.set_item("packets_received", s.packets_received())?;
    d.set_item("packets_lost", s.packets_lost())?;
    d.set_item("packets_duplicate", sum(|t| t.packets_duplicate))?;
    d.set_item("packets_late", sum(|t| t.packets_late))?;
    d.set_item("packets_invalid", s.invalid.total())?;
    d.set_item("frames_complete", s.frames_complete())?;
    d.set_item("frames_dropped", s.frames_dropped())?;
    d.set_item("width", current.map_or(0, |c| c.width))?;
    d.set_item("height", current.map_or(0, |c| c.height))?;
    d.set_item("jitter", current.map_or(0, |c| c.jitter()))?;
    d.set_item("drop_reasons", drop_reasons)?;
    d.set_item("invalid_reasons", invalid_reasons)?;
    // Frames that completed only thanks to a tolerance of a sender's
    // quirk, by kind (`q_changed_mid_frame`, `jfif_in_payload`, ...).
    d.set_item("tolerated", tolerated)?;
    d.set_item("decode_errors", s.decode_errors)?;
    d.set_item("kernel_drops", s.kernel_drops)?;
    d.set_item("packets_foreign", s.packets_foreign)?;
    d.set_item("frames_dropped_backlog", s.frames_dropped_backlog)?;
    d.set_item("frames_dropped_queue", s.frames_dropped_queue)?;
    d.set_item("frames_dropped_stopping", s.frames_dropped_stopping)?;
    d.set_item("frames_dropped_out_of_order", s.frames_dropped_out_of_order)?;
    d.set_item("frames_thinned", s.frames_thinned)?;
    d.set_item("frames_superseded", s.frames_superseded)?;
    d.set_item("frames_decoded", s.frames_decoded)?;
    d.set_item("frames_delivered", s.frames_delivered)?;
    // Our RTCP packets not sent on an RTSP/TCP connection: longer than an
    // interleaved frame's 65535 bytes.
    d.set_item("interleaved_too_long", s.rtcp.interleaved_too_long)?;
    d.set_item("datagrams", s.datagrams)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("socket_buffer_size", s.socket_receive_buffer)?;
    Ok(d)
}
