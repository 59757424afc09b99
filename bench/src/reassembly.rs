//! Section 2: reassembly alone (the core depacketizer) against a plain
//! copy of the same payload bytes, per frame of the capture.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{bail, Result};
use mjpeg_rtp_core::{frame_buffer_len, Config, Depacketizer, Instant as CoreInstant};

use crate::report::{Reassembly, Spread};

/// Copy and reassemble every frame (its RTP datagrams), `passes` times.
pub fn reassembly(frames: &[Vec<Vec<u8>>], passes: usize) -> Result<Reassembly> {
    // RTP header (12) + RFC 2435 main header (8); quantization table
    // headers of first packets are left in, as a copy would move them too.
    const HEADERS: usize = 20;
    let payload: usize = frames
        .iter()
        .flatten()
        .map(|p| p.len().saturating_sub(HEADERS))
        .sum();
    let n = frames.len();
    let largest = frames
        .iter()
        .map(|f| f.iter().map(Vec::len).sum::<usize>())
        .max()
        .unwrap_or(0);
    let mut flat = vec![0u8; frame_buffer_len(largest.max(1))];
    let (mut copy, mut reassemble) = (Vec::new(), Vec::new());
    for _ in 0..passes.max(1) {
        let t0 = Instant::now();
        for frame in frames {
            let mut at = 0;
            for p in frame {
                let data = p.get(HEADERS..).unwrap_or(&[]);
                flat[at..at + data.len()].copy_from_slice(data);
                at += data.len();
            }
            black_box(&flat);
        }
        copy.push(t0.elapsed().as_secs_f64() * 1e6 / n as f64);

        // A fresh depacketizer per pass: the capture starts a new stream.
        let mut rx: Depacketizer<Vec<u8>, 4> = Depacketizer::new(
            Config::default(),
            std::array::from_fn(|_| vec![0u8; frame_buffer_len(largest.max(1))]),
        );
        let mut complete = 0usize;
        let t0 = Instant::now();
        for (i, frame) in frames.iter().enumerate() {
            let now = CoreInstant::from_micros(i as u64 * 33_333);
            for p in frame {
                let _ = rx.push(now, p);
            }
            while let Some(f) = rx.next_frame() {
                black_box(f.jpeg.len());
                complete += 1;
            }
        }
        reassemble.push(t0.elapsed().as_secs_f64() * 1e6 / n as f64);
        if complete != n {
            bail!("reassembly completed {complete} of {n} frames");
        }
    }
    let copy = Spread::of(&copy);
    let reassemble = Spread::of(&reassemble);
    Ok(Reassembly {
        frames: n,
        payload_bytes_per_frame: payload as f64 / n as f64,
        copy_us_per_frame: copy,
        reassemble_us_per_frame: reassemble,
        ratio: reassemble.ratio(copy),
    })
}
