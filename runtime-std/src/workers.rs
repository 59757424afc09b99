//! Decode workers: JPEG -> RGB into pooled buffers, then the camera's
//! output queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::backend::DecodeJob;
use crate::camera::DecodeWarning;
use crate::decode::{DecodeOptions, RgbDecoder, RgbSize};
use crate::frame::Frame;
use crate::output::Output;
use crate::pool::Pooled;
use crate::threads::spawn_all;

/// How long a worker waits for a job before looking at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// One worker per decoder; `None`s make passthrough workers. `options`
/// holds each camera's decode options, by camera index.
pub(crate) fn spawn(
    decoders: Vec<Option<RgbDecoder>>,
    options: Arc<[DecodeOptions]>,
    jobs: &Receiver<DecodeJob>,
    output: &Arc<Output>,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let (jobs, output, stop_flag) = (jobs.clone(), output.clone(), stop.clone());
    spawn_all(
        decoders.into_iter().enumerate(),
        stop,
        |(n, _)| format!("decode-{n}"),
        move |(_, mut decoder)| work(&jobs, decoder.as_mut(), &options, &output, &stop_flag),
    )
}

fn work(
    jobs: &Receiver<DecodeJob>,
    mut decoder: Option<&mut RgbDecoder>,
    options: &[DecodeOptions],
    output: &Output,
    stop: &AtomicBool,
) {
    // Once stopping, frames still waiting are dropped, not decoded, so
    // that stop stays bounded.
    while !stop.load(Ordering::Relaxed) {
        match jobs.recv_timeout(POLL) {
            Ok(job) if !stop.load(Ordering::Relaxed) => {
                let options = options.get(job.camera.index).copied().unwrap_or_default();
                decode(job, decoder.as_deref_mut(), &options, output);
            }
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// Decode one frame (or, without a decoder, pass its JPEG through with
/// empty pixels) and queue it for the consumer.
fn decode(
    job: DecodeJob,
    decoder: Option<&mut RgbDecoder>,
    options: &DecodeOptions,
    output: &Output,
) {
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
    let expected = match decoder {
        Some(_) => options.output_size(picture),
        None => picture,
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
        return;
    }
    let frame = Frame {
        camera_id: camera.id.clone(),
        rgb: Pooled::new(rgb, camera.rgb_pool.clone()),
        rgb_size: expected,
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
    if let Some(dropped) = output.push(camera.index, frame, camera.queue_depth) {
        camera.frames_dropped_queue.fetch_add(1, Ordering::Relaxed);
        if let Some(more) = camera.allow_warning(DecodeWarning::QueueFull) {
            log::debug!(
                "camera {:?}: consumer behind, oldest queued frame (RTP timestamp {}) \
                 dropped ({more} more since the last message)",
                camera.id,
                dropped.timestamp
            );
        }
        drop(dropped);
    }
}

/// The wall-clock time at `at`, a moment a few milliseconds back: the
/// receive path reads no clock of its own, and reading the wall clock per
/// frame (not once at start) follows its steps (NTP).
fn wall_clock_at(at: Instant) -> SystemTime {
    let now = SystemTime::now();
    now.checked_sub(at.elapsed()).unwrap_or(now)
}
