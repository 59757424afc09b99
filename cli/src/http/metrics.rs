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
use prometheus_client::registry::{Registry, Unit};
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
type Gauges<L> = Family<L, Gauge<f64, AtomicU64>>;

/// Register a family of counters (`name` gets `_total`).
fn counters<L>(registry: &mut Registry, name: &str, help: &str) -> Counters<L>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Counters::<L>::default();
    registry.register(name, help, family.clone());
    family
}

fn gauges(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
) -> Gauges<CameraLabel> {
    let family = Gauges::<CameraLabel>::default();
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, family.clone()),
        None => registry.register(name, help, family.clone()),
    }
    family
}

/// The exposition of `cameras`, and of the viewer cap's counters.
pub fn render(cameras: &[CameraView], viewers_refused: u64, viewers_max: usize) -> String {
    let mut registry = Registry::with_prefix("mjpeg_rtp");
    let received = counters(
        &mut registry,
        "packets_received",
        "Distinct RTP packets received (late ones included)",
    );
    let lost = gauges(
        &mut registry,
        "packets_lost",
        "RFC 3550 cumulative packets lost (expected minus received): a gauge, since a late packet lowers it",
        None,
    );
    let duplicate = counters(
        &mut registry,
        "packets_duplicate",
        "RTP packets received more than once",
    );
    let late = counters(
        &mut registry,
        "packets_late",
        "RTP packets that arrived after their frame was given up",
    );
    let invalid = counters::<ReasonLabel>(
        &mut registry,
        "packets_invalid",
        "Datagrams refused by validation, by reason",
    );
    let foreign = counters(
        &mut registry,
        "packets_foreign",
        "Datagrams from a host other than the expected sender",
    );
    let datagrams = counters(&mut registry, "datagrams", "Datagrams read from the socket");
    let bytes = Counters::<CameraLabel>::default();
    registry.register_with_unit(
        "received",
        "Bytes of the datagrams read from the socket",
        Unit::Bytes,
        bytes.clone(),
    );
    let kernel = counters(
        &mut registry,
        "socket_kernel_drops",
        "Datagrams the kernel dropped on the socket (where the platform reports it)",
    );
    let complete = counters(&mut registry, "frames_complete", "Frames rebuilt whole");
    let dropped = counters::<ReasonLabel>(
        &mut registry,
        "frames_dropped",
        "Frames given up by the depacketizer, by reason",
    );
    let shed = counters::<ReasonLabel>(
        &mut registry,
        "frames_shed",
        "Complete frames shed by the runtime: decode_backlog (decoders behind) or consumer_queue (consumer behind)",
    );
    let decode_errors = counters(
        &mut registry,
        "decode_errors",
        "Complete frames whose JPEG failed to decode",
    );
    let fps = gauges(
        &mut registry,
        "frames_per_second",
        "Complete frames per second over the last seconds",
        None,
    );
    let jitter = gauges(
        &mut registry,
        "jitter",
        "RFC 3550 interarrival jitter of the current stream",
        Some(Unit::Seconds),
    );
    let width = gauges(
        &mut registry,
        "frame_width",
        "Width of the last complete frame",
        Some(Unit::Other("pixels".into())),
    );
    let height = gauges(
        &mut registry,
        "frame_height",
        "Height of the last complete frame",
        Some(Unit::Other("pixels".into())),
    );
    let viewers = gauges(
        &mut registry,
        "http_viewers",
        "Clients watching the camera's stream.mjpg now",
        None,
    );
    let skipped = counters(
        &mut registry,
        "http_viewer_frames_skipped",
        "Frames a stream viewer skipped because a newer one replaced them before it could send",
    );
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
        let camera = CameraLabel {
            camera: view.camera.clone(),
        };
        let reason = |reason: &str| ReasonLabel {
            camera: view.camera.clone(),
            reason: reason.to_owned(),
        };
        received
            .get_or_create(&camera)
            .inc_by(view.packets_received);
        lost.get_or_create(&camera).set(view.packets_lost as f64);
        duplicate
            .get_or_create(&camera)
            .inc_by(view.packets_duplicate);
        late.get_or_create(&camera).inc_by(view.packets_late);
        for r in InvalidReason::ALL {
            let n = view.invalid_reasons.get(r.name()).copied().unwrap_or(0);
            invalid.get_or_create(&reason(r.name())).inc_by(n);
        }
        foreign
            .get_or_create(&camera)
            .inc_by(view.receiver.packets_foreign);
        datagrams.get_or_create(&camera).inc_by(view.datagrams);
        bytes.get_or_create(&camera).inc_by(view.bytes);
        if let Some(n) = view.receiver.kernel_drops {
            kernel.get_or_create(&camera).inc_by(n);
        }
        complete.get_or_create(&camera).inc_by(view.frames_complete);
        for r in DropReason::ALL {
            let n = view.drop_reasons.get(r.name()).copied().unwrap_or(0);
            dropped.get_or_create(&reason(r.name())).inc_by(n);
        }
        shed.get_or_create(&reason("decode_backlog"))
            .inc_by(view.receiver.frames_dropped_backlog);
        shed.get_or_create(&reason("consumer_queue"))
            .inc_by(view.receiver.frames_dropped_queue);
        decode_errors
            .get_or_create(&camera)
            .inc_by(view.decode_errors);
        fps.get_or_create(&camera).set(view.rates.fps);
        jitter
            .get_or_create(&camera)
            .set(f64::from(view.jitter) / RTP_CLOCK_HZ);
        width.get_or_create(&camera).set(f64::from(view.width));
        height.get_or_create(&camera).set(f64::from(view.height));
        viewers.get_or_create(&camera).set(view.viewers as f64);
        skipped
            .get_or_create(&camera)
            .inc_by(view.viewer_frames_skipped);
    }
    refused.inc_by(viewers_refused);
    cap.set(i64::try_from(viewers_max).unwrap_or(i64::MAX));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}
