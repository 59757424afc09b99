//! Deterministic camera-like captures for the bench (`mjpeg-rtp-bench`).
//!
//! A picture is what a fixed street camera sees: a sky-to-ground gradient,
//! static texture (value noise at two scales, so that it compresses like a
//! real scene rather than like white noise), a few objects moving across
//! it, and a little sensor grain that changes every frame. Encoded as
//! baseline 4:2:0 JPEG with the standard Huffman tables (jpeg-encoder),
//! packetized by the core [`Packetizer`]; [`capture`](crate::capture)
//! writes them as a capture.
//!
//! Everything comes from a fixed seed: the same arguments give the same
//! bytes.

use anyhow::{Context, Result};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use mjpeg_rtp_core::{Packetizer, PacketizerConfig};

/// RTP clock of RFC 2435.
pub(crate) const CLOCK_RATE: u64 = 90_000;
/// SSRC of the synthetic stream.
pub const SSRC: u32 = 0x4245_4E43; // "BENC"

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SynthSpec {
    pub width: u16,
    pub height: u16,
    /// Distinct pictures encoded; the capture cycles through them.
    pub distinct: usize,
    /// Frames in the capture.
    pub frames: usize,
    pub fps: f64,
    /// JPEG quality (jpeg-encoder's scale, 1..=100).
    pub quality: u8,
    /// Largest RTP packet.
    pub mtu: usize,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            width: 1920,
            height: 1080,
            distinct: 30,
            frames: 300,
            fps: 30.0,
            quality: 80,
            mtu: 1400,
        }
    }
}

/// xorshift32: small, fast, deterministic.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// Value noise on a `cell`-pixel lattice, bilinearly interpolated, in
/// 0..=255.
fn value_noise(width: usize, height: usize, cell: usize, seed: u32) -> Vec<u8> {
    let gw = width / cell + 2;
    let gh = height / cell + 2;
    let mut rng = Rng(seed);
    let lattice: Vec<u32> = (0..gw * gh).map(|_| rng.next() & 0xFF).collect();
    let mut out = vec![0u8; width * height];
    for (y, row) in out.chunks_exact_mut(width).enumerate() {
        let (gy, fy) = (y / cell, (y % cell) as u32);
        for (x, px) in row.iter_mut().enumerate() {
            let (gx, fx) = (x / cell, (x % cell) as u32);
            let c = cell as u32;
            let at = |i: usize, j: usize| lattice[j * gw + i];
            let top = at(gx, gy) * (c - fx) + at(gx + 1, gy) * fx;
            let bottom = at(gx, gy + 1) * (c - fx) + at(gx + 1, gy + 1) * fx;
            *px = ((top * (c - fy) + bottom * fy) / (c * c)) as u8;
        }
    }
    out
}

/// The static part of the scene: RGB gradient plus texture.
fn background(width: usize, height: usize) -> Vec<u8> {
    let coarse = value_noise(width, height, 48, 0x1234_5678);
    let fine = value_noise(width, height, 6, 0x9E37_79B9);
    let horizon = height * 2 / 5;
    let mut rgb = vec![0u8; width * height * 3];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let (c, f) = (i32::from(coarse[i]), i32::from(fine[i]));
            let texture = (c - 128) / 3 + (f - 128) / 4;
            let (r, g, b) = if y < horizon {
                // Sky: blue gradient, soft clouds.
                let t = (y * 255 / horizon) as i32;
                (
                    90 + t / 3 + c / 6,
                    140 + t / 4 + c / 6,
                    230 - t / 5 + c / 10,
                )
            } else {
                // Ground: greens and greys with strong texture, a road band.
                let t = ((y - horizon) * 255 / (height - horizon)) as i32;
                let road = (x as i32 - width as i32 / 2).abs() < (t * width as i32 / 700);
                if road {
                    (95 + texture, 95 + texture, 100 + texture)
                } else {
                    (70 + t / 4 + texture, 110 + t / 5 + texture, 50 + texture)
                }
            };
            let o = i * 3;
            rgb[o] = r.clamp(0, 255) as u8;
            rgb[o + 1] = g.clamp(0, 255) as u8;
            rgb[o + 2] = b.clamp(0, 255) as u8;
        }
    }
    rgb
}

/// Picture `n`: the background, moving objects at their position for
/// frame `n`, and sensor grain.
fn picture(background: &[u8], width: usize, height: usize, n: usize) -> Vec<u8> {
    let mut rgb = background.to_vec();
    // Moving boxes ("cars") along the road and a bouncing disc.
    let objects: [(usize, usize, usize, usize, [u8; 3]); 4] = [
        (width / 10, height * 6 / 10, 240, 110, [200, 30, 30]),
        (width / 3, height * 7 / 10, 300, 140, [240, 240, 250]),
        (width / 2, height * 8 / 10, 200, 100, [20, 20, 30]),
        (width * 3 / 4, height * 5 / 10, 160, 80, [230, 200, 40]),
    ];
    for (k, (x0, y0, w, h, colour)) in objects.into_iter().enumerate() {
        let w = w.min(width / 2).max(1);
        let h = h.min(height / 4).max(1);
        let x = (x0 + n * (12 + 7 * k)) % width.saturating_sub(w).max(1);
        let y = y0.min(height - h);
        for row in y..y + h {
            for col in x..x + w {
                let o = (row * width + col) * 3;
                // Windows and edges give the objects some detail.
                let edge = row == y || row == y + h - 1 || col % 40 < 3;
                let shade = if edge { 60 } else { 0 };
                for c in 0..3 {
                    rgb[o + c] = colour[c].saturating_sub(shade);
                }
            }
        }
    }
    let radius = (height / 12).max(1) as i64;
    let cx = ((n * 23) % width) as i64;
    let cy = (height as i64 / 4) + ((n as i64 * 17) % (height as i64 / 4));
    for y in (cy - radius).max(0)..(cy + radius).min(height as i64) {
        for x in (cx - radius).max(0)..(cx + radius).min(width as i64) {
            if (x - cx).pow(2) + (y - cy).pow(2) <= radius * radius {
                let o = (y as usize * width + x as usize) * 3;
                rgb[o..o + 3].copy_from_slice(&[250, 120, 20]);
            }
        }
    }
    let mut rng = Rng(0xC0FF_EE00 ^ (n as u32).wrapping_mul(0x0101_0101) | 1);
    for px in rgb.iter_mut() {
        let grain = (rng.next() % 7) as i16 - 3;
        *px = (i16::from(*px) + grain).clamp(0, 255) as u8;
    }
    rgb
}

/// Encode `spec.distinct` pictures as 4:2:0 JPEGs.
pub fn jpegs(spec: &SynthSpec) -> Result<Vec<Vec<u8>>> {
    let (w, h) = (usize::from(spec.width), usize::from(spec.height));
    let bg = background(w, h);
    (0..spec.distinct.max(1))
        .map(|n| {
            let rgb = picture(&bg, w, h, n);
            let mut out = Vec::with_capacity(256 * 1024);
            let mut encoder = Encoder::new(&mut out, spec.quality);
            encoder.set_sampling_factor(SamplingFactor::F_2_2);
            encoder
                .encode(&rgb, spec.width, spec.height, ColorType::Rgb)
                .context("JPEG encoding failed")?;
            Ok(out)
        })
        .collect()
}

/// The RTP packets of `frames` frames cycling through `jpegs`, one
/// `Vec` of packets per frame.
pub fn rtp_frames(
    jpegs: &[Vec<u8>],
    frames: usize,
    fps: f64,
    mtu: usize,
) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut packetizer = Packetizer::new(PacketizerConfig {
        ssrc: SSRC,
        max_packet: mtu,
        ..PacketizerConfig::default()
    });
    let mut buf = vec![0u8; mtu];
    let mut out = Vec::with_capacity(frames);
    for n in 0..frames {
        let jpeg = &jpegs[n % jpegs.len()];
        let timestamp = (n as f64 * CLOCK_RATE as f64 / fps).round() as u64 as u32;
        let mut frame = packetizer
            .frame(jpeg, timestamp)
            .map_err(|e| anyhow::anyhow!("cannot packetize: {e}"))?;
        let mut packets = Vec::new();
        while let Some(len) = frame.next_into(&mut buf) {
            let len = len.map_err(|_| anyhow::anyhow!("packet buffer too small"))?;
            packets.push(buf[..len].to_vec());
        }
        out.push(packets);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_capture_round_trips() {
        let spec = SynthSpec {
            width: 64,
            height: 48,
            distinct: 2,
            frames: 3,
            ..SynthSpec::default()
        };
        let jpegs = jpegs(&spec).unwrap();
        assert_eq!(jpegs, super::jpegs(&spec).unwrap(), "deterministic");
        let frames = rtp_frames(&jpegs, spec.frames, spec.fps, 200).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| !f.is_empty()));
    }
}
