//! `/metrics`: the Prometheus text exposition (format 0.0.4) of the same
//! per-camera views `/api/cameras` serves, encoded with the
//! `prometheus-client` crate. Every per-camera series has a `camera`
//! label; counters end in `_total`; sizes are in bytes and times in
//! seconds. Every drop and invalid reason and every tolerated quirk is
//! listed, zero or not, so that a series never appears out of nowhere.
//!
//! The counters live in the receive path (the client's stats), not here:
//! one [`Collector`] registered once reads the live view's snapshot at
//! each scrape and encodes it, each family's series ordered by camera
//! name, then reason, so that two scrapes list them alike.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use mjpeg_rtp::core::Tolerated;
use mjpeg_rtp::{DropReason, InvalidReason};

use super::snapshot::CameraView;
use super::Shared;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// RTP timestamps of MJPEG run at 90 kHz (RFC 2435).
const RTP_CLOCK_HZ: f64 = 90_000.0;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabel {
    camera: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    camera: String,
    reason: String,
}

/// A server-wide counter's reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpReasonLabel {
    reason: String,
}

/// How a per-camera family takes its values from a view.
enum Series {
    /// A counter (`_total` is appended to its name); `None` leaves the
    /// camera out of the family.
    Counter(fn(&CameraView) -> Option<u64>),
    /// Counters with a `reason` label: every (reason, count) of the view.
    ByReason(fn(&CameraView) -> Vec<(&'static str, u64)>),
    Gauge(fn(&CameraView) -> f64),
}

/// One per-camera family of the exposition.
struct PerCamera {
    /// After the `mjpeg_rtp_` prefix, before the unit.
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    series: Series,
}

/// Declares `per_camera()`, every per-camera family in the order of the
/// exposition: `NAME [in UNIT] => SERIES`, under a doc comment that is the
/// family's HELP text (its lines joined by one space).
macro_rules! per_camera {
    (@unit) => { None };
    (@unit $unit:expr) => { Some($unit) };
    ($($(#[doc = $help:literal])+ $name:literal $(in $unit:expr)? => $series:expr,)+) => {
        fn per_camera() -> Vec<PerCamera> {
            use Series::{ByReason, Counter, Gauge};
            vec![$(PerCamera {
                name: $name,
                help: concat!($($help),+).trim_start(),
                unit: per_camera!(@unit $($unit)?),
                series: $series,
            }),+]
        }
    };
}

per_camera! {
    /// Distinct RTP packets received (late ones included)
    "packets_received" => Counter(|v| Some(v.counters.packets_received)),
    /// RFC 3550 cumulative packets lost (expected minus received): a gauge,
    /// since a late packet lowers it
    "packets_lost" => Gauge(|v| v.counters.packets_lost as f64),
    /// RTP packets received more than once
    "packets_duplicate" => Counter(|v| Some(v.counters.packets_duplicate)),
    /// RTP packets that arrived after their frame was given up
    "packets_late" => Counter(|v| Some(v.counters.packets_late)),
    /// Datagrams refused by validation, by reason
    "packets_invalid" => ByReason(|v| {
        every_reason(InvalidReason::ALL.iter().map(|r| r.name()), &v.invalid_reasons)
    }),
    /// Datagrams from a host other than the expected sender
    "packets_foreign" => Counter(|v| Some(v.receiver.packets_foreign)),
    /// Datagrams read from the socket
    "datagrams" => Counter(|v| Some(v.datagrams)),
    /// Bytes of the datagrams read from the socket
    "received" in Unit::Bytes => Counter(|v| Some(v.bytes)),
    /// Datagrams the kernel dropped on the socket (where the platform
    /// reports it; with UDP GRO a dropped run of them counts once)
    "socket_kernel_drops" => Counter(|v| v.receiver.kernel_drops),
    /// Frames rebuilt whole
    "frames_complete" => Counter(|v| Some(v.counters.frames_complete)),
    /// Frames given up by the depacketizer, by reason
    "frames_dropped" => ByReason(|v| {
        every_reason(DropReason::ALL.iter().map(|r| r.name()), &v.drop_reasons)
    }),
    /// Complete frames shed by the runtime: decode_backlog (decoders behind),
    /// consumer_queue (consumer behind) or stopping (given up at stop)
    "frames_shed" => ByReason(|v| vec![
        ("decode_backlog", v.receiver.frames_dropped_backlog),
        ("consumer_queue", v.receiver.frames_dropped_queue),
        ("stopping", v.receiver.frames_dropped_stopping),
    ]),
    /// Complete frames that needed a tolerance of a sender quirk, by kind
    "frames_tolerated" => ByReason(|v| {
        every_reason(Tolerated::ALL.iter().map(|t| t.name()), &v.tolerated)
    }),
    /// Complete frames whose JPEG failed to decode
    "decode_errors" => Counter(|v| Some(v.decode_errors)),
    /// Our RTCP packets not sent on an RTSP/TCP connection: longer than an
    /// interleaved frame's 65535 bytes
    "rtcp_interleaved_too_long" => Counter(|v| Some(v.receiver.interleaved_too_long)),
    /// Complete frames per second over the last seconds
    "frames_per_second" => Gauge(|v| v.rates.fps),
    /// RFC 3550 interarrival jitter of the current stream
    "jitter" in Unit::Seconds => Gauge(|v| f64::from(v.jitter) / RTP_CLOCK_HZ),
    /// Width of the last complete frame
    "frame_width" in Unit::Other("pixels".into()) => Gauge(|v| f64::from(v.counters.width)),
    /// Height of the last complete frame
    "frame_height" in Unit::Other("pixels".into()) => Gauge(|v| f64::from(v.counters.height)),
    /// Clients watching the camera's stream.mjpg now
    "http_viewers" => Gauge(|v| v.viewers as f64),
    /// Frames a stream viewer skipped because a newer one replaced them
    /// before it could send
    "http_viewer_frames_skipped" => Counter(|v| Some(v.viewer_frames_skipped)),
}

/// Every reason in `names`, with its count in `counts` (zero when absent).
fn every_reason(
    names: impl Iterator<Item = &'static str>,
    counts: &BTreeMap<String, u64>,
) -> Vec<(&'static str, u64)> {
    names
        .map(|name| (name, counts.get(name).copied().unwrap_or(0)))
        .collect()
}

impl PerCamera {
    fn metric_type(&self) -> MetricType {
        match self.series {
            Series::Counter(_) | Series::ByReason(_) => MetricType::Counter,
            Series::Gauge(_) => MetricType::Gauge,
        }
    }

    /// This family's descriptor and the series of `views` (sorted by
    /// camera).
    fn encode(&self, views: &[CameraView], encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut family = encoder.encode_descriptor(
            self.name,
            self.help,
            self.unit.as_ref(),
            self.metric_type(),
        )?;
        for view in views {
            let camera = || CameraLabel {
                camera: view.camera.clone(),
            };
            match self.series {
                Series::Counter(value) => {
                    if let Some(n) = value(view) {
                        ConstCounter::new(n).encode(family.encode_family(&camera())?)?;
                    }
                }
                Series::ByReason(values) => {
                    let mut values = values(view);
                    values.sort_unstable_by_key(|&(reason, _)| reason);
                    for (reason, n) in values {
                        let label = ReasonLabel {
                            camera: view.camera.clone(),
                            reason: reason.to_owned(),
                        };
                        ConstCounter::new(n).encode(family.encode_family(&label)?)?;
                    }
                }
                Series::Gauge(value) => {
                    ConstGauge::new(value(view)).encode(family.encode_family(&camera())?)?;
                }
            }
        }
        Ok(())
    }
}

/// The live view's metrics, read from its snapshot at each scrape.
#[derive(Debug)]
struct LiveMetrics {
    shared: Arc<Shared>,
    families: Vec<PerCamera>,
}

impl fmt::Debug for PerCamera {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Collector for LiveMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut views = self.shared.views();
        views.sort_by(|a, b| a.camera.cmp(&b.camera));
        for family in &self.families {
            family.encode(&views, &mut encoder)?;
        }
        let cap = &self.shared.cap;
        ConstCounter::new(cap.refused.load(Ordering::Relaxed)).encode(
            encoder.encode_descriptor(
                "http_viewers_refused",
                "Stream viewers turned away at the cap",
                None,
                MetricType::Counter,
            )?,
        )?;
        ConstCounter::new(cap.stalled.load(Ordering::Relaxed)).encode(
            encoder.encode_descriptor(
                "http_viewers_stalled",
                &format!(
                    "Stream viewers dropped because a write to them made no progress for {} s",
                    super::WRITE_TIMEOUT.as_secs()
                ),
                None,
                MetricType::Counter,
            )?,
        )?;
        ConstCounter::new(self.shared.requests_refused.load(Ordering::Relaxed))
            .encode(encoder.encode_descriptor(
            "http_requests_refused",
            "Connections answered 503 because the server had all the connections or requests in flight it takes",
            None,
            MetricType::Counter,
        )?)?;
        let mut rejected = encoder.encode_descriptor(
            "http_requests_rejected",
            "Requests answered 4xx unread, by reason (malformed, too_large, body, timed_out)",
            None,
            MetricType::Counter,
        )?;
        for (reason, count) in self.shared.requests_rejected.by_name() {
            ConstCounter::new(count).encode(rejected.encode_family(&HttpReasonLabel {
                reason: reason.to_owned(),
            })?)?;
        }
        ConstGauge::new(i64::try_from(cap.max()).unwrap_or(i64::MAX)).encode(
            encoder.encode_descriptor(
                "http_viewers_max",
                "Concurrent stream viewers allowed (all cameras)",
                None,
                MetricType::Gauge,
            )?,
        )?;
        Ok(())
    }
}

/// The registry of the live view's metrics (made once; every scrape
/// encodes it with [`render`]).
pub(super) fn registry(shared: Arc<Shared>) -> Registry {
    let mut registry = Registry::with_prefix("mjpeg_rtp");
    registry.register_collector(Box::new(LiveMetrics {
        shared,
        families: per_camera(),
    }));
    registry
}

/// The exposition of `registry` as of now.
pub(super) fn render(registry: &Registry) -> Result<String, fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
    Ok(out)
}
