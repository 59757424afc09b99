//! Section 3, live scaling on loopback: the largest number of 1080p30
//! cameras the [`Client`] carries with zero loss, with RGB decode and
//! with JPEG passthrough, for a receive backend, fed by the replay sender
//! in its own process. K = 1, 2, 4, ... until a step fails, then a
//! bisection between the last pass and the first failure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mjpeg_rtp::{CameraConfig, CameraStats, Client, ClientOptions, DecodeOptions, Decoder};
use mjpeg_rtp_uring::Io;

use crate::cpu::cpu_time;
use crate::replay::{self, ReplaySummary};
use crate::report::{LiveMode, Step};

/// How the ramp runs.
#[derive(Debug, Clone, Copy)]
pub struct Ramp {
    pub fps: f64,
    /// Seconds per step.
    pub step: f64,
    /// Largest camera count tried.
    pub max_cameras: usize,
    /// Narrow the gap between the last pass and the first failure.
    pub bisect: bool,
    /// Decoder of the decode mode.
    pub decoder: Decoder,
    /// Size and exactness of the decode mode's RGB.
    pub decode_options: DecodeOptions,
    /// Every camera thinned to this many frames per second before decode
    /// (`CameraConfig::max_fps`): a consumer that samples.
    pub take_fps: Option<f64>,
}

/// One step: `cameras` cameras for `frames` frames each.
fn live_step(
    capture: &Path,
    io: Io,
    decode: Option<(Decoder, DecodeOptions)>,
    cameras: usize,
    frames: usize,
    fps: f64,
    take_fps: Option<f64>,
) -> Result<(Step, &'static str)> {
    let mut client = Client::new(ClientOptions {
        decode_threads: 0,
        backend: mjpeg_rtp_uring::backend(io),
    });
    client.set_decode(decode.is_some());
    if let Some((decoder, options)) = decode {
        client.set_decoder(decoder)?;
        client.set_decode_options(options)?;
    }
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for k in 0..cameras {
        let mut config = CameraConfig::new(format!("cam{k}"), SocketAddr::new(localhost, 0))
            .with_sender(localhost);
        config.max_fps = take_fps;
        client.add_camera(config)?;
    }
    let to: Vec<SocketAddr> = client
        .camera_ids()
        .filter_map(|id| client.local_addr(id))
        .map(|a| SocketAddr::new(localhost, a.port()))
        .collect();
    client.start()?;
    let backend = client.backend_name();
    let mut sender = replay::command(&replay::Options {
        capture: capture.to_owned(),
        to,
        fps,
        frames,
        // Each frame's packets over half the frame interval, cameras
        // evenly staggered over all of it.
        spread: 0.5,
        stagger: 1.0,
        gso: true,
        trickle: false,
    })?;
    let (c0, children0) = (cpu_time(false), cpu_time(true));
    let t0 = Instant::now();
    let mut child = sender.spawn().context("cannot start the replay sender")?;
    let expected = (cameras * frames) as u64;
    let mut delivered = 0u64;
    while child.try_wait()?.is_none() {
        if client.next_frame(Duration::from_millis(20)).is_some() {
            delivered += 1;
        }
    }
    let output = child.wait_with_output()?;
    let replay = ReplaySummary::from_stdout(&output.stdout);
    // Let the last frames through decode.
    let grace = Instant::now() + Duration::from_millis(500);
    while delivered < expected && Instant::now() < grace {
        if client.next_frame(Duration::from_millis(20)).is_some() {
            delivered += 1;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let rx_cpu = (cpu_time(false) - c0).as_secs_f64();
    let tx_cpu = (cpu_time(true) - children0).as_secs_f64();
    client.stop();
    while client.next_frame(Duration::ZERO).is_some() {
        delivered += 1;
    }
    let stats = client.stats();
    let sum = |f: &dyn Fn(&CameraStats) -> u64| stats.iter().map(f).sum::<u64>();
    let packets: u64 = sum(&|s| s.packets_received());
    // Thinned frames are left out on purpose, before decode.
    let expected_delivered = expected - sum(&|s| s.frames_thinned);
    let mut step = Step {
        cameras,
        ok: false,
        reason: String::new(),
        frames_sent_per_camera: frames,
        frames_complete: sum(&|s| s.frames_complete()),
        frames_delivered: delivered,
        packets_lost: sum(&|s| s.packets_lost()),
        kernel_drops: sum(&|s| s.kernel_drops.unwrap_or(0)),
        frames_dropped: sum(&|s| {
            s.frames_dropped() + s.frames_dropped_backlog + s.frames_dropped_queue + s.decode_errors
        }),
        sender_max_lag_ms: replay.max_lag_ms,
        receiver_cpu_cores: rx_cpu / elapsed,
        receiver_cpu_us_per_packet: if packets > 0 {
            rx_cpu * 1e6 / packets as f64
        } else {
            0.0
        },
        sender_cpu_cores: tx_cpu / elapsed,
        sender_limited: false,
    };
    let interval_ms = 1e3 / fps;
    let mut reasons = Vec::new();
    if !output.status.success() || replay.frames_per_camera != frames {
        reasons.push("sender failed".to_owned());
        step.sender_limited = true;
    }
    if replay.send_errors > 0 {
        reasons.push(format!("{} send errors", replay.send_errors));
        step.sender_limited = true;
    }
    if step.packets_lost > 0 || step.kernel_drops > 0 {
        reasons.push(format!(
            "{} packets lost ({} kernel drops)",
            step.packets_lost, step.kernel_drops
        ));
    }
    if step.frames_dropped > 0 {
        reasons.push(format!(
            "{} frames dropped (decode backlog {}, output queue {}, reassembly {})",
            step.frames_dropped,
            sum(&|s| s.frames_dropped_backlog),
            sum(&|s| s.frames_dropped_queue),
            sum(&|s| s.frames_dropped()),
        ));
    }
    if step.frames_complete < expected || step.frames_delivered < expected_delivered {
        reasons.push(format!(
            "{}/{} frames complete, {} delivered",
            step.frames_complete, expected, step.frames_delivered
        ));
    }
    // The sender shares the machine: a momentary lag is caught up by a
    // burst (which the receiver must then absorb), but a sender that
    // could not hold the average rate did not offer the load at all.
    let offered_seconds = frames as f64 / fps + 1.0 / fps;
    if replay.seconds > offered_seconds + 3.0 * interval_ms / 1e3 {
        step.sender_limited = true;
        reasons.push(format!(
            "sender could not offer {cameras} x {fps} fps here ({:.2} s for {:.2} s of video, \
             up to {:.0} ms late)",
            replay.seconds, offered_seconds, replay.max_lag_ms
        ));
    }
    step.ok = reasons.is_empty();
    step.reason = reasons.join("; ");
    Ok((step, backend))
}

/// Ramp one mode (backend; decode at `decode`'s size, or passthrough
/// with `None`) up to its largest zero-loss camera count.
pub fn live_mode(
    capture: &Path,
    io: Io,
    decode: Option<DecodeOptions>,
    ramp: &Ramp,
) -> Result<LiveMode> {
    let frames = (ramp.step * ramp.fps).round().max(1.0) as usize;
    let mut mode = LiveMode {
        io: format!("{io:?}").to_lowercase(),
        decode: decode.is_some(),
        decode_size: decode.as_ref().map(crate::decode_size::describe),
        ..LiveMode::default()
    };
    let label = mode
        .decode_size
        .clone()
        .unwrap_or_else(|| "passthrough".into());
    let run = |k: usize, mode: &mut LiveMode| -> Result<bool> {
        let (step, backend) = live_step(
            capture,
            io,
            decode.map(|options| (ramp.decoder, options)),
            k,
            frames,
            ramp.fps,
            ramp.take_fps,
        )?;
        eprintln!(
            "  live {:<5} {:<11} K={k:<3} {} {}",
            mode.io,
            label,
            if step.ok { "ok  " } else { "FAIL" },
            step.reason
        );
        mode.backend = backend.to_owned();
        let ok = step.ok;
        mode.steps.push(step);
        Ok(ok)
    };
    let mut good = 0usize;
    let mut bad = None;
    let mut k = 1usize;
    while k <= ramp.max_cameras {
        if run(k, &mut mode)? {
            good = k;
            if k == ramp.max_cameras {
                break;
            }
            k = (k * 2).min(ramp.max_cameras);
        } else {
            bad = Some(k);
            break;
        }
    }
    // Narrow the gap between the last pass and the first failure.
    if let (true, Some(mut hi)) = (ramp.bisect, bad) {
        let mut lo = good;
        let mut tries = 0;
        while hi - lo > 1 && tries < 2 && lo > 0 {
            let mid = (lo + hi) / 2;
            if run(mid, &mut mode)? {
                lo = mid;
            } else {
                hi = mid;
            }
            tries += 1;
        }
        good = lo;
    }
    mode.k_max = good;
    mode.capped = bad.is_none();
    // The smallest failing step is the one that set the limit.
    let first_failure = mode
        .steps
        .iter()
        .filter(|s| !s.ok && s.cameras > good)
        .min_by_key(|s| s.cameras);
    mode.limited_by = match first_failure {
        None => "max-cameras",
        Some(s) if s.sender_limited => "sender",
        Some(_) => "receiver",
    }
    .to_owned();
    Ok(mode)
}

/// cores / (CPU per camera: `decode_cores` + receive + send), the last
/// two from `passthrough`'s largest passing step.
pub fn camera_budget(cores: usize, decode_cores: f64, passthrough: &LiveMode) -> Option<f64> {
    let step = passthrough
        .steps
        .iter()
        .filter(|s| s.ok)
        .max_by_key(|s| s.cameras)?;
    let k = step.cameras as f64;
    let per_camera = decode_cores + (step.receiver_cpu_cores + step.sender_cpu_cores) / k;
    Some(cores as f64 / per_camera)
}
