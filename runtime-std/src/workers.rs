//! Decode workers: JPEG -> RGB into pooled buffers, then the camera's
//! place in the output order; and the decode of one job, which the
//! client also runs for a latest-delivery frame when it is taken.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::camera::DecodeWarning;
use crate::decode::{DecodeOptions, RgbDecoder, RgbSize};
use crate::frame::Frame;
use crate::output::DecodeJob;
use crate::pool::Pooled;
use crate::threads::spawn_all;

/// How often an idle worker looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// What becomes of one camera's complete frames: decoded to RGB with
/// `options`, or passed through as JPEG.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DecodePlan {
    pub(crate) rgb: bool,
    pub(crate) options: DecodeOptions,
}

/// One worker per decoder. `plans` holds each camera's plan, by camera
/// index. Workers end once every sender of `jobs` is gone (the receive
/// paths, joined first by `Client::stop`).
pub(crate) fn spawn(
    decoders: Vec<RgbDecoder>,
    plans: Arc<[DecodePlan]>,
    jobs: &Receiver<DecodeJob>,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let (jobs, stop_flag) = (jobs.clone(), stop.clone());
    spawn_all(
        decoders.into_iter().enumerate(),
        stop,
        |(n, _)| format!("decode-{n}"),
        move |(_, mut decoder)| work(&jobs, &mut decoder, &plans, &stop_flag),
    )
}

fn work(
    jobs: &Receiver<DecodeJob>,
    decoder: &mut RgbDecoder,
    plans: &[DecodePlan],
    stop: &AtomicBool,
) {
    // Sleeps until a job comes or the senders are gone (the usual end:
    // `stop` joins the receive paths first). The stop flag is looked at
    // too, in case a start that failed half-way still holds a sender.
    // Once stopping, frames still waiting are dropped, not decoded (their
    // tickets give their places up), so that stop stays bounded: counted
    // here, and what is left in the channel by `Client::stop`.
    while !stop.load(Ordering::Relaxed) {
        let mut job = match jobs.recv_timeout(STOP_CHECK) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if stop.load(Ordering::Relaxed) {
            job.camera
                .frames_dropped_stopping
                .fetch_add(1, Ordering::Relaxed);
            break;
        }
        let plan = plans.get(job.camera.index).copied().unwrap_or_default();
        let ticket = job.ticket.take();
        let camera = job.camera.clone();
        let decoder = plan.rgb.then_some(&mut *decoder);
        let (Some(frame), Some(ticket)) = (decode(job, decoder, &plan.options), ticket) else {
            continue;
        };
        let timestamp = frame.timestamp;
        let dropped = ticket.finish(frame);
        if dropped > 0 {
            if let Some(more) = camera.allow_warning(DecodeWarning::QueueFull) {
                log::debug!(
                    "camera {:?}: consumer behind, {dropped} oldest queued frame(s) dropped for \
                     the one at RTP timestamp {timestamp} ({more} more since the last message)",
                    camera.id,
                );
            }
        }
    }
}

/// Decode one frame (or, without a decoder, pass its JPEG through with
/// empty pixels): the frame to hand over, or `None` when its JPEG failed
/// to decode (counted and logged).
pub(crate) fn decode(
    job: DecodeJob,
    decoder: Option<&mut RgbDecoder>,
    options: &DecodeOptions,
) -> Option<Frame> {
    let camera = job.camera;
    let jpeg = job
        .jpeg
        .as_slice()
        .get(job.jpeg_range.clone())
        .unwrap_or(&[]);
    // Passthrough: an empty buffer, which the pool neither hands out nor
    // keeps.
    let mut rgb = if decoder.is_some() {
        camera.rgb_pool.get()
    } else {
        Vec::new()
    };
    let picture = RgbSize {
        width: usize::from(job.info.width),
        height: usize::from(job.info.height),
    };
    // What a JPEG of the size the RTP headers say decodes to: a JPEG
    // whose own headers disagree is refused, not delivered at a surprise
    // size.
    let decoded = decoder.is_some();
    let expected = match decoded {
        true => options.output_size(picture),
        false => picture,
    };
    let result = match decoder {
        Some(decoder) => decoder.decode_with(jpeg, options, &mut rgb),
        None => Ok(picture),
    };
    let error = match result {
        Ok(size) if size == expected => None,
        Ok(size) => Some(format!(
            "decoded {}x{} but the RTP headers say {}x{} ({}x{} expected)",
            size.width,
            size.height,
            job.info.width,
            job.info.height,
            expected.width,
            expected.height
        )),
        Err(e) => Some(e.to_string()),
    };
    if let Some(error) = error {
        camera.rgb_pool.put(rgb);
        camera.decode_errors.fetch_add(1, Ordering::Relaxed);
        if let Some(more) = camera.allow_warning(DecodeWarning::DecodeError) {
            log::warn!(
                "camera {:?}: frame at RTP timestamp {} not delivered: {error} ({more} more \
                 since the last warning)",
                camera.id,
                job.info.timestamp
            );
        }
        return None;
    }
    let frame = Frame {
        camera_id: camera.id.clone(),
        rgb: Pooled::new(rgb, camera.rgb_pool.clone()),
        rgb_size: decoded.then_some(expected),
        jpeg: job.jpeg,
        jpeg_range: job.jpeg_range,
        width: job.info.width,
        height: job.info.height,
        ssrc: job.info.ssrc,
        timestamp: job.info.timestamp,
        extended_timestamp: job.info.extended_timestamp,
        first_sequence: job.info.first_sequence,
        last_sequence: job.info.last_sequence,
        packets: job.info.packets,
        packets_received: job.packets_received,
        packets_lost: job.packets_lost,
        q: job.info.q,
        first_packet_at: job.first_packet_at,
        received_at: job.received_at,
        received_at_system: wall_clock_at(job.received_at),
        capture_time: camera.rtcp.capture_time(job.info.ssrc, job.info.timestamp),
    };
    camera.frames_decoded.fetch_add(1, Ordering::Relaxed);
    Some(frame)
}

/// The wall-clock time at `at`, a moment a few milliseconds back: the
/// receive path reads no clock of its own, and reading the wall clock per
/// frame (not once at start) follows its steps (NTP).
fn wall_clock_at(at: Instant) -> SystemTime {
    let now = SystemTime::now();
    now.checked_sub(at.elapsed()).unwrap_or(now)
}
