//! `/metrics`: the Prometheus text exposition (format 0.0.4) of the same
//! per-camera views `/api/cameras` serves, encoded with the
//! `prometheus-client` crate. Every per-camera series has a `camera`
//! label; counters end in `_total`; sizes are in bytes and times in
//! seconds. Every drop and invalid reason is listed, zero or not, so that
//! a series never appears out of nowhere.
//!
//! The registry is built afresh from the snapshot at each scrape: the
//! counters live in the receive path (the client's stats), not here.

use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry, Unit};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use mjpeg_rtp::{DropReason, InvalidReason};

use super::snapshot::CameraView;

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

type Counters<L> = Family<L, Counter<u64>>;
type Gauges = Family<CameraLabel, Gauge<f64, AtomicU64>>;

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
    /// reports it)
    "socket_kernel_drops" => Counter(|v| v.receiver.kernel_drops),
    /// Frames rebuilt whole
    "frames_complete" => Counter(|v| Some(v.counters.frames_complete)),
    /// Frames given up by the depacketizer, by reason
    "frames_dropped" => ByReason(|v| {
        every_reason(DropReason::ALL.iter().map(|r| r.name()), &v.drop_reasons)
    }),
    /// Complete frames shed by the runtime: decode_backlog (decoders behind)
    /// or consumer_queue (consumer behind)
    "frames_shed" => ByReason(|v| vec![
        ("decode_backlog", v.receiver.frames_dropped_backlog),
        ("consumer_queue", v.receiver.frames_dropped_queue),
    ]),
    /// Complete frames whose JPEG failed to decode
    "decode_errors" => Counter(|v| Some(v.decode_errors)),
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

/// A registered family, and how it reads a view.
enum Registered {
    Counter(Counters<CameraLabel>, fn(&CameraView) -> Option<u64>),
    ByReason(
        Counters<ReasonLabel>,
        fn(&CameraView) -> Vec<(&'static str, u64)>,
    ),
    Gauge(Gauges, fn(&CameraView) -> f64),
}

impl PerCamera {
    fn register(self, registry: &mut Registry) -> Registered {
        match self.series {
            Series::Counter(value) => Registered::Counter(self.family(registry), value),
            Series::ByReason(values) => Registered::ByReason(self.family(registry), values),
            Series::Gauge(value) => Registered::Gauge(self.family(registry), value),
        }
    }

    /// A new family, registered under this one's name, help and unit.
    fn family<M: Metric + Clone + Default>(&self, registry: &mut Registry) -> M {
        let family = M::default();
        match &self.unit {
            Some(unit) => {
                registry.register_with_unit(self.name, self.help, unit.clone(), family.clone())
            }
            None => registry.register(self.name, self.help, family.clone()),
        }
        family
    }
}

impl Registered {
    /// Set the series of `view`'s camera.
    fn observe(&self, view: &CameraView) {
        let camera = || CameraLabel {
            camera: view.camera.clone(),
        };
        match self {
            Registered::Counter(family, value) => {
                if let Some(n) = value(view) {
                    family.get_or_create(&camera()).inc_by(n);
                }
            }
            Registered::ByReason(family, values) => {
                for (reason, n) in values(view) {
                    let label = ReasonLabel {
                        camera: view.camera.clone(),
                        reason: reason.to_owned(),
                    };
                    family.get_or_create(&label).inc_by(n);
                }
            }
            Registered::Gauge(family, value) => {
                family.get_or_create(&camera()).set(value(view));
            }
        }
    }
}

/// The exposition of `cameras`, and of the viewer cap's counters.
pub fn render(cameras: &[CameraView], viewers_refused: u64, viewers_max: usize) -> String {
    let mut registry = Registry::with_prefix("mjpeg_rtp");
    let families: Vec<Registered> = per_camera()
        .into_iter()
        .map(|family| family.register(&mut registry))
        .collect();
    let refused = Counter::<u64>::default();
    registry.register(
        "http_viewers_refused",
        "Stream viewers turned away at the cap",
        refused.clone(),
    );
    let cap = Gauge::<i64>::default();
    registry.register(
        "http_viewers_max",
        "Concurrent stream viewers allowed (all cameras)",
        cap.clone(),
    );

    for view in cameras {
        for family in &families {
            family.observe(view);
        }
    }
    refused.inc_by(viewers_refused);
    cap.set(i64::try_from(viewers_max).unwrap_or(i64::MAX));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}
