//! The counters the HTTP endpoints show: a copy of the client's per-camera
//! stats that the receive loop refreshes a few times a second, with the
//! rates (fps, kbit/s, loss %) computed over the last seconds. `/`,
//! `/api/cameras` and `/metrics` all read this one snapshot, so that
//! they agree with each other.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use mjpeg_rtp::CameraStats;
use serde::Serialize;

use mjpeg_rtp_capture::summary::{ReceiverCounters, StreamCounters, StreamSummary};

/// Rates are taken over this much history.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// A camera without a datagram from its sender for this long is shown as
/// silent (the runtime's own "received nothing" warning comes after as
/// long).
pub const SILENCE_SHOWN: Duration = Duration::from_secs(5);

/// A camera's counters that rates are derived from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Datagrams read from the socket from the accepted sender (valid RTP
    /// or not): others, counted `packets_foreign`, do not say the camera
    /// is alive, as they do not for the runtime's silence timeout.
    pub from_sender: u64,
    pub frames: u64,
    pub bytes: u64,
    pub received: u64,
    pub lost: u64,
}

impl Totals {
    pub fn of(stats: &CameraStats) -> Self {
        Totals {
            from_sender: stats.datagrams.saturating_sub(stats.packets_foreign),
            frames: stats.frames_complete(),
            bytes: stats.bytes,
            received: stats.packets_received(),
            lost: stats.packets_lost(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    totals: Totals,
}

/// Rates of one camera over the last [`RATE_WINDOW`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Complete frames per second.
    pub fps: f64,
    /// Received bytes (RTP payloads with headers), in kbit/s.
    pub kbit_s: f64,
    /// Lost packets over expected packets, in percent.
    pub loss_percent: f64,
}

/// Per-camera sample history.
#[derive(Debug, Default)]
pub struct RateTracker {
    history: Vec<VecDeque<Sample>>,
}

impl RateTracker {
    /// Record every camera's totals taken at `now`, and the rates they give.
    pub fn update(&mut self, now: Instant, totals: &[Totals]) -> Vec<Rates> {
        self.history.resize_with(totals.len(), VecDeque::new);
        totals
            .iter()
            .zip(&mut self.history)
            .map(|(&totals, history)| {
                history.push_back(Sample { at: now, totals });
                // Keep one sample at least RATE_WINDOW old as the base.
                while history.len() > 2 && now.duration_since(history[1].at) >= RATE_WINDOW {
                    history.pop_front();
                }
                let (first, last) = (history[0], history[history.len() - 1]);
                let seconds = last.at.duration_since(first.at).as_secs_f64();
                let (first, last) = (first.totals, last.totals);
                if seconds <= 0.0 {
                    return Rates::default();
                }
                let delta = |a: u64, b: u64| a.saturating_sub(b) as f64;
                let received = delta(last.received, first.received);
                let lost = delta(last.lost, first.lost);
                Rates {
                    fps: delta(last.frames, first.frames) / seconds,
                    kbit_s: delta(last.bytes, first.bytes) * 8.0 / 1000.0 / seconds,
                    loss_percent: if received + lost > 0.0 {
                        100.0 * lost / (received + lost)
                    } else {
                        0.0
                    },
                }
            })
            .collect()
    }
}

/// How long each camera has gone without a datagram from its sender, from
/// the counts of successive refreshes (the start of the view counts as the
/// last datagram of a camera that never sent one).
#[derive(Debug, Default)]
pub struct SilenceTracker {
    /// Per camera: its count of datagrams from the sender, and when that
    /// count last changed.
    last: Vec<(u64, Instant)>,
}

impl SilenceTracker {
    /// Every camera's silence at `now`, when it has lasted
    /// [`SILENCE_SHOWN`] or longer.
    pub fn update(&mut self, now: Instant, totals: &[Totals]) -> Vec<Option<Duration>> {
        self.last.truncate(totals.len());
        totals
            .iter()
            .enumerate()
            .map(|(i, t)| {
                match self.last.get_mut(i) {
                    Some(last) if last.0 == t.from_sender => {}
                    Some(last) => *last = (t.from_sender, now),
                    None => self.last.push((t.from_sender, now)),
                }
                let silent = now.saturating_duration_since(self.last[i].1);
                (silent >= SILENCE_SHOWN).then_some(silent)
            })
            .collect()
    }
}

/// What the endpoints show, as of the last refresh.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub stats: Vec<CameraStats>,
    pub rates: Vec<Rates>,
    /// Per camera, how long it has been silent, once that is worth
    /// showing.
    pub silent: Vec<Option<Duration>>,
}

/// One camera in `/api/cameras`: the JSON summary's fields summed over
/// the camera's streams (a camera has several only after SSRC changes),
/// the live rates, the viewers, and the summary's per-stream entries.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub camera: String,
    /// Summed over the streams, but for the current stream's `ssrc`,
    /// `width` and `height`, and the camera's `packets_invalid` (which
    /// counts datagrams that belong to no stream too).
    #[serde(flatten)]
    pub counters: StreamCounters,
    pub drop_reasons: BTreeMap<String, u64>,
    pub invalid_reasons: BTreeMap<String, u64>,
    /// Complete frames that needed a tolerance (a sender quirk accepted),
    /// by kind, summed over the streams; left out when none did, as in
    /// the summary's entries.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tolerated: BTreeMap<String, u64>,
    pub decode_errors: u64,
    /// Datagrams read from the socket, and their bytes.
    pub datagrams: u64,
    pub bytes: u64,
    /// RFC 3550 interarrival jitter of the current stream, 90 kHz units.
    pub jitter: u32,
    pub receiver: ReceiverCounters,
    #[serde(flatten)]
    pub rates: Rates,
    /// Stream viewers of this camera now, and frames they skipped.
    pub viewers: usize,
    pub viewer_frames_skipped: u64,
    pub streams: Vec<StreamSummary>,
    /// Seconds without any datagram, once that reached
    /// [`SILENCE_SHOWN`]; `null` while datagrams arrive.
    pub silent_seconds: Option<u64>,
}

impl CameraView {
    pub fn new(stats: &CameraStats, rates: Rates) -> Self {
        let summary = mjpeg_rtp_capture::summary::Summary::of_cameras(std::slice::from_ref(stats));
        let sum = |f: fn(&StreamCounters) -> u64| {
            summary.streams.iter().map(|s| f(&s.counters)).sum::<u64>()
        };
        let by_kind = |f: fn(&StreamSummary) -> &BTreeMap<String, u64>| {
            let mut sum = BTreeMap::new();
            for stream in &summary.streams {
                for (kind, n) in f(stream) {
                    *sum.entry(kind.clone()).or_insert(0) += n;
                }
            }
            sum
        };
        let current = summary.streams.last();
        CameraView {
            camera: stats.camera_id.clone(),
            counters: StreamCounters {
                port: stats.local_addr.port(),
                ssrc: current.and_then(|s| s.counters.ssrc.clone()),
                packets_received: sum(|s| s.packets_received),
                packets_lost: sum(|s| s.packets_lost),
                packets_duplicate: sum(|s| s.packets_duplicate),
                packets_late: sum(|s| s.packets_late),
                packets_invalid: stats.invalid.total(),
                frames_complete: sum(|s| s.frames_complete),
                frames_dropped: sum(|s| s.frames_dropped),
                width: current.map_or(0, |s| s.counters.width),
                height: current.map_or(0, |s| s.counters.height),
            },
            drop_reasons: by_kind(|s| &s.drop_reasons),
            invalid_reasons: mjpeg_rtp_capture::summary::invalid_reasons(&stats.invalid),
            tolerated: by_kind(|s| &s.tolerated),
            decode_errors: stats.decode_errors,
            datagrams: stats.datagrams,
            bytes: stats.bytes,
            jitter: current.map_or(0, |s| s.jitter),
            receiver: ReceiverCounters::from(stats),
            rates,
            viewers: 0,
            viewer_frames_skipped: 0,
            streams: summary.streams,
            silent_seconds: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(frames: u64, bytes: u64, received: u64, lost: u64) -> [Totals; 1] {
        [Totals {
            from_sender: received,
            frames,
            bytes,
            received,
            lost,
        }]
    }

    #[test]
    fn rates_over_the_window() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut rates = RateTracker::default();
        assert_eq!(rates.update(t0, &totals(0, 0, 0, 0))[0], Rates::default());
        let r = rates.update(at(1), &totals(30, 125_000, 99, 1));
        assert_eq!(r[0].fps, 30.0);
        assert_eq!(r[0].kbit_s, 1000.0);
        assert_eq!(r[0].loss_percent, 1.0);
        // Old samples leave the window: the rates follow the recent past.
        rates.update(at(3), &totals(30, 125_000, 99, 1));
        let r = rates.update(at(5), &totals(30, 125_000, 99, 1));
        assert_eq!(r[0], Rates::default());
    }

    #[test]
    fn silence_is_shown_from_five_seconds_without_a_datagram() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut silence = SilenceTracker::default();
        assert_eq!(silence.update(t0, &totals(0, 0, 0, 0)), [None]);
        assert_eq!(silence.update(at(4_900), &totals(0, 0, 0, 0)), [None]);
        assert_eq!(
            silence.update(at(5_000), &totals(0, 0, 0, 0)),
            [Some(Duration::from_secs(5))]
        );
        // A datagram ends it; it starts over from there.
        assert_eq!(silence.update(at(6_000), &totals(0, 0, 1, 0)), [None]);
        assert_eq!(silence.update(at(10_000), &totals(0, 0, 1, 0)), [None]);
        assert_eq!(
            silence.update(at(12_000), &totals(0, 0, 1, 0)),
            [Some(Duration::from_secs(6))]
        );
    }

    /// `/api/cameras` lists the contract's fields right after the camera
    /// name, as the summary's entries do.
    #[test]
    fn a_camera_view_lists_the_contract_fields_in_order() {
        let view = CameraView {
            camera: "door".into(),
            counters: StreamCounters {
                port: 5004,
                ssrc: None,
                width: 640,
                height: 480,
                ..StreamCounters::default()
            },
            drop_reasons: BTreeMap::new(),
            invalid_reasons: BTreeMap::new(),
            tolerated: BTreeMap::new(),
            decode_errors: 1,
            datagrams: 2,
            bytes: 3,
            jitter: 4,
            receiver: ReceiverCounters::default(),
            rates: Rates::default(),
            viewers: 5,
            viewer_frames_skipped: 6,
            streams: Vec::new(),
            silent_seconds: Some(7),
        };
        assert_eq!(
            serde_json::to_string(&view).unwrap(),
            concat!(
                r#"{"camera":"door","port":5004,"ssrc":null,"packets_received":0,"#,
                r#""packets_lost":0,"packets_duplicate":0,"packets_late":0,"packets_invalid":0,"#,
                r#""frames_complete":0,"frames_dropped":0,"width":640,"height":480,"#,
                r#""drop_reasons":{},"invalid_reasons":{},"decode_errors":1,"datagrams":2,"#,
                r#""bytes":3,"jitter":4,"receiver":{"kernel_drops":null,"packets_foreign":0,"#,
                r#""frames_dropped_backlog":0,"frames_dropped_queue":0,"frames_dropped_stopping":0,"#,
                r#""reconnects":0,"#,
                r#""interleaved_too_long":0},"#,
                r#""fps":0.0,"kbit_s":0.0,"loss_percent":0.0,"viewers":5,"#,
                r#""viewer_frames_skipped":6,"streams":[],"silent_seconds":7}"#
            )
        );
    }
}
