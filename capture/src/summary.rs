//! The JSON printed on stdout at the end of `pcap`, `recv`, `demo` and
//! `send`. The field names and meanings are the contract of DESIGN.md;
//! fields beyond the contract are extras a consumer may ignore.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use mjpeg_rtp::CameraStats;

pub use crate::interleaved::RtspTcpSummary;
use mjpeg_rtp_core::{InvalidCounts, StreamStats};
use serde::{Deserialize, Serialize};

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `{"streams": [...]}`: one entry per (port, SSRC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub streams: Vec<StreamSummary>,
    /// Extra: what the capture held besides RTP/JPEG (`pcap` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureSummary>,
    /// Extra: ports that carried datagrams but never a valid RTP/JPEG packet;
    /// they open no stream (RTCP, other protocols, pure garbage).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_ports: Vec<IgnoredPort>,
}

impl Summary {
    /// The JSON summary: one entry per (port, SSRC) of every camera. A
    /// camera's invalid datagrams and decode errors are reported on its
    /// current (last) stream so that nothing is counted twice; a camera that
    /// never saw a valid stream but got datagrams is listed in
    /// `ignored_ports`.
    pub fn of_cameras(stats: &[CameraStats]) -> Summary {
        let mut summary = Summary::default();
        for camera in stats {
            let port = camera.local_addr.port();
            let last = camera.streams.len().saturating_sub(1);
            for (i, stream) in camera.streams.iter().enumerate() {
                let no_invalid = InvalidCounts::default();
                let invalid = if i == last {
                    &camera.invalid
                } else {
                    &no_invalid
                };
                let mut entry = StreamSummary::new(port, stream, invalid);
                entry.camera = Some(camera.camera_id.clone());
                if i == last {
                    entry.decode_errors = camera.decode_errors;
                    entry.frames_thinned = camera.frames_thinned;
                    entry.frames_dropped_out_of_order = camera.frames_dropped_out_of_order;
                    entry.receiver = Some(ReceiverCounters::from(camera));
                }
                summary.streams.push(entry);
            }
            if camera.streams.is_empty() && camera.datagrams > 0 {
                summary.ignored_ports.push(IgnoredPort {
                    port,
                    datagrams: camera.datagrams,
                    invalid_reasons: invalid_reasons(&camera.invalid),
                });
            }
        }
        summary
    }

    /// Count a frame whose RGB decode failed on the stream `is_its_stream`
    /// picks (see `replay::Source::is_summarised_by`).
    pub fn count_decode_error(&mut self, is_its_stream: impl Fn(&StreamSummary) -> bool) {
        if let Some(s) = self.streams.iter_mut().find(|s| is_its_stream(s)) {
            s.decode_errors += 1;
        }
    }
}

/// Counters of one RTP stream: one SSRC on one UDP port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// Extra: the camera name (`recv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// The contract's fields.
    #[serde(flatten)]
    pub counters: StreamCounters,
    /// Extra: interarrival jitter, 90 kHz units (RFC 3550 A.8).
    #[serde(default)]
    pub jitter: u32,
    /// Extra: RTP payload type of the stream's packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<u8>,
    /// Extra: the dynamic payload type was learnt from the packets (no
    /// `--payload-type`), not configured.
    #[serde(default)]
    pub payload_type_detected: bool,
    /// Extra: `frames_dropped` by reason (only non-zero reasons).
    #[serde(default)]
    pub drop_reasons: BTreeMap<String, u64>,
    /// Extra: `packets_invalid` by reason (only non-zero reasons).
    #[serde(default)]
    pub invalid_reasons: BTreeMap<String, u64>,
    /// Extra: complete frames that needed a tolerance (a sender quirk
    /// accepted), by kind; left out when none did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tolerated: BTreeMap<String, u64>,
    /// Extra: frames whose RGB decode failed (with `--decode`, ppm, png).
    #[serde(default)]
    pub decode_errors: u64,
    /// Extra: complete frames left out by `--max-fps` (only with it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub frames_thinned: u64,
    /// Extra: complete frames dropped because a newer one had already
    /// been handed out (frames leave in RTP timestamp order; left out
    /// when none was).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub frames_dropped_out_of_order: u64,
    /// Extra (`pcap`): the stream came interleaved in an RTSP/TCP
    /// connection; `port` is then the sender's (server's) TCP port, and
    /// each connection to it has streams of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleaved: Option<InterleavedStream>,
    /// Extra (`recv`, on a camera's current stream): the kernel's count of
    /// datagrams dropped on the socket (Linux), and what the runtime
    /// refused or shed before decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<ReceiverCounters>,
}

/// The per-stream fields of DESIGN.md's contract, in its order: each
/// entry of the summary holds them, and so does each camera of
/// `/api/cameras` (summed over the camera's streams there).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamCounters {
    pub port: u16,
    /// `"0x%08x"`.
    pub ssrc: Option<String>,
    /// Distinct packets (a duplicate counts once), late ones included.
    pub packets_received: u64,
    /// RFC 3550: expected (highest - first sequence + 1) minus received.
    pub packets_lost: u64,
    pub packets_duplicate: u64,
    pub packets_late: u64,
    /// Datagrams refused by validation (not RTP/JPEG, malformed headers,
    /// unconfirmed sequence jumps).
    pub packets_invalid: u64,
    pub frames_complete: u64,
    pub frames_dropped: u64,
    /// Size of the last complete frame (0 before one).
    pub width: u16,
    pub height: u16,
}

/// Per-camera counters of the live runtime, outside any RTP stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverCounters {
    /// Datagrams the kernel dropped on the socket (`null` where unknown;
    /// with UDP GRO, both receive backends' default on Linux, a dropped run of
    /// datagrams counts once, so a lower bound).
    pub kernel_drops: Option<u64>,
    /// Datagrams from hosts other than the expected sender.
    pub packets_foreign: u64,
    /// Complete frames shed because the decode backlog was full.
    pub frames_dropped_backlog: u64,
    /// Decoded frames shed (oldest first) because the consumer was slow.
    pub frames_dropped_queue: u64,
    /// Complete frames given up because the run was stopping (waiting
    /// for a decoder, or completed after the decoders stopped taking
    /// work).
    #[serde(default)]
    pub frames_dropped_stopping: u64,
    /// RTSP sessions set up again after being lost.
    #[serde(default)]
    pub reconnects: u64,
    /// Our RTCP packets not sent on an RTSP/TCP connection: longer than
    /// an interleaved frame's 65,535 bytes (cut, they would be corrupt).
    #[serde(default)]
    pub interleaved_too_long: u64,
}

impl From<&CameraStats> for ReceiverCounters {
    fn from(stats: &CameraStats) -> Self {
        ReceiverCounters {
            kernel_drops: stats.kernel_drops,
            packets_foreign: stats.packets_foreign,
            frames_dropped_backlog: stats.frames_dropped_backlog,
            frames_dropped_queue: stats.frames_dropped_queue,
            frames_dropped_stopping: stats.frames_dropped_stopping,
            reconnects: stats.reconnects,
            interleaved_too_long: stats.rtcp.interleaved_too_long,
        }
    }
}

impl StreamSummary {
    pub fn new(port: u16, stats: &StreamStats, invalid: &InvalidCounts) -> Self {
        StreamSummary {
            camera: None,
            counters: StreamCounters {
                port,
                ssrc: stats.ssrc.map(format_ssrc),
                packets_received: stats.packets_received,
                packets_lost: stats.packets_lost(),
                packets_duplicate: stats.packets_duplicate,
                packets_late: stats.packets_late,
                packets_invalid: invalid.total(),
                frames_complete: stats.frames_complete,
                frames_dropped: stats.frames_dropped_total(),
                width: stats.width,
                height: stats.height,
            },
            jitter: stats.jitter(),
            payload_type: stats.payload_type,
            payload_type_detected: stats.payload_type_detected,
            frames_thinned: 0,
            frames_dropped_out_of_order: 0,
            drop_reasons: stats
                .frames_dropped
                .iter()
                .map(|(r, n)| (r.name().to_owned(), n))
                .collect(),
            invalid_reasons: invalid_reasons(invalid),
            tolerated: stats
                .tolerated
                .iter()
                .map(|(t, n)| (t.name().to_owned(), n))
                .collect(),
            decode_errors: 0,
            interleaved: None,
            receiver: None,
        }
    }

    /// The SSRC as a number, if there is one.
    pub fn ssrc_value(&self) -> Option<u32> {
        let hex = self.counters.ssrc.as_deref()?.strip_prefix("0x")?;
        u32::from_str_radix(hex, 16).ok()
    }
}

pub fn format_ssrc(ssrc: u32) -> String {
    format!("0x{ssrc:08x}")
}

pub fn invalid_reasons(invalid: &InvalidCounts) -> BTreeMap<String, u64> {
    invalid
        .iter()
        .map(|(r, n)| (r.name().to_owned(), n))
        .collect()
}

/// How an interleaved stream was found in its RTSP/TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterleavedStream {
    /// The interleaved channel its RTP came on.
    pub channel: u8,
    /// No SETUP reply in the capture named the channels: channel 0 was
    /// taken as RTP.
    pub channel_assumed: bool,
    /// The connection: the side that sent the RTP (the RTSP server,
    /// whose port is the stream's `port`) and the other end.
    pub server: SocketAddr,
    pub client: SocketAddr,
}

/// What the capture file held (`pcap`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureSummary {
    /// Packet records read.
    pub records: u64,
    /// UDP datagrams found (after IP reassembly).
    pub udp_datagrams: u64,
    /// UDP datagrams skipped by `--port`.
    pub filtered: u64,
    /// Records that are neither UDP nor TCP over IP (ARP, ICMP...).
    pub not_udp: u64,
    /// TCP segments found (RTSP connections among them are read for
    /// interleaved RTP: `rtsp_tcp`).
    #[serde(default)]
    pub tcp_segments: u64,
    /// Interleaved RTP packets skipped by `--port` (which names the
    /// sender's, the RTSP server's, TCP port).
    #[serde(default)]
    pub tcp_filtered: u64,
    /// What the TCP connections held (when there was any TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtsp_tcp: Option<RtspTcpSummary>,
    /// Records whose headers could not be parsed (truncated, unknown link type).
    pub undecodable: u64,
    /// IP fragments seen, and UDP datagrams rebuilt from them.
    pub ip_fragments: u64,
    pub ip_reassembled: u64,
    /// The capture ended in a damaged or truncated record.
    pub truncated: bool,
    /// Valid RTP/JPEG datagrams ignored because too many streams were open.
    #[serde(default)]
    pub over_stream_limit: u64,
}

/// A port with datagrams but no RTP/JPEG stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IgnoredPort {
    pub port: u16,
    pub datagrams: u64,
    pub invalid_reasons: BTreeMap<String, u64>,
}

/// What `send` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendSummary {
    pub frames_sent: u64,
    pub packets_sent: u64,
    /// RTP bytes (UDP payloads) sent.
    pub bytes_sent: u64,
}

/// Print `value` as one JSON line on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's fields, flattened from [`StreamCounters`], stand
    /// where DESIGN.md lists them: after the camera, before the extras.
    #[test]
    fn a_stream_entry_lists_the_contract_fields_in_order() {
        let entry = StreamSummary {
            camera: Some("door".into()),
            counters: StreamCounters {
                port: 5004,
                ssrc: Some(format_ssrc(0x1122_3344)),
                packets_received: 1,
                packets_lost: 2,
                packets_duplicate: 3,
                packets_late: 4,
                packets_invalid: 5,
                frames_complete: 6,
                frames_dropped: 7,
                width: 640,
                height: 480,
            },
            jitter: 8,
            payload_type: Some(96),
            payload_type_detected: true,
            decode_errors: 9,
            ..StreamSummary::default()
        };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            concat!(
                r#"{"camera":"door","port":5004,"ssrc":"0x11223344","packets_received":1,"#,
                r#""packets_lost":2,"packets_duplicate":3,"packets_late":4,"packets_invalid":5,"#,
                r#""frames_complete":6,"frames_dropped":7,"width":640,"height":480,"jitter":8,"#,
                r#""payload_type":96,"payload_type_detected":true,"drop_reasons":{},"#,
                r#""invalid_reasons":{},"decode_errors":9}"#
            )
        );
    }
}
