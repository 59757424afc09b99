//! `--scale`, `--resize` and `--fast` end to end on the real-peer
//! captures (tests/fixtures): the written frames against libjpeg-turbo's
//! own scaled decode (`djpeg -scale`), the fast decode against the exact
//! one, a resize against FFmpeg's area resize, and bad options refused.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mjpeg_rtp::Decoder;
use mjpeg_rtp_testkit::peer_missing;
use mjpeg_rtp_testkit::picture::psnr;

mod common;
use common::{pcap_jpeg_ppm, run};

const FIXTURES: [&str; 5] = [
    "gst-420",
    "gst-422",
    "gst-restart",
    "ffmpeg-420",
    "ffmpeg-422",
];

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
        .join("capture.pcap")
}

/// Whether `tool` runs; when it does not, fail if the peers are required
/// (CI), else skip.
fn have(tool: &str, version_arg: &str) -> bool {
    if Command::new(tool).arg(version_arg).output().is_ok() {
        return true;
    }
    peer_missing(&format!("{tool} not found"), "skipping");
    false
}

fn turbo_required() {
    if !Decoder::LibjpegTurbo.is_available() {
        peer_missing("built without the turbojpeg feature", "zune-jpeg only");
    }
}

/// Replay `name`'s capture with `args`, writing jpeg+ppm; returns each
/// frame's (rebuilt JPEG path, our PPM bytes).
fn frames(out: &Path, name: &str, args: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    pcap_jpeg_ppm(&capture(name), out, args);
    let mut found = Vec::new();
    for port in fs::read_dir(out).unwrap() {
        for file in fs::read_dir(port.unwrap().path()).unwrap() {
            let jpg = file.unwrap().path();
            if jpg.extension().is_some_and(|e| e == "jpg") {
                let ppm = fs::read(jpg.with_extension("ppm")).unwrap();
                found.push((jpg, ppm));
            }
        }
    }
    assert!(!found.is_empty(), "{name}: no frame written");
    found.sort();
    found
}

/// (width, height, pixels) of a binary PPM (`P6\nW H\n255\n`).
fn ppm(bytes: &[u8]) -> (usize, usize, &[u8]) {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        let end = at
            + bytes[at..]
                .iter()
                .position(|b| b.is_ascii_whitespace())
                .unwrap();
        if end > at {
            fields.push(std::str::from_utf8(&bytes[at..end]).unwrap());
        }
        at = end + 1;
    }
    assert_eq!(fields[0], "P6");
    (
        fields[1].parse().unwrap(),
        fields[2].parse().unwrap(),
        &bytes[at..],
    )
}

/// Each `factor` x `factor` block of packed RGB averaged (partial blocks
/// at the edges over the pixels they have), in floating point.
fn area_average(rgb: &[u8], w: usize, h: usize, factor: usize) -> Vec<u8> {
    let (ow, oh) = (w.div_ceil(factor), h.div_ceil(factor));
    let mut out = Vec::with_capacity(ow * oh * 3);
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..3 {
                let (mut sum, mut n) = (0.0, 0.0);
                for y in oy * factor..((oy + 1) * factor).min(h) {
                    for x in ox * factor..((ox + 1) * factor).min(w) {
                        sum += f64::from(rgb[(y * w + x) * 3 + c]);
                        n += 1.0;
                    }
                }
                out.push((sum / n).round() as u8);
            }
        }
    }
    out
}

fn djpeg(args: &[&str], jpg: &Path) -> Vec<u8> {
    let out = Command::new("djpeg")
        .args(args)
        .arg("-ppm")
        .arg(jpg)
        .output()
        .unwrap();
    assert!(out.status.success(), "djpeg {args:?} {}", jpg.display());
    out.stdout
}

/// libjpeg-turbo: byte-identical to `djpeg -scale 1/N` (same library,
/// same DCT scaling). zune-jpeg (full decode, then area average): at
/// least 40 dB against the area average of djpeg's full decode, what it
/// promises; against `djpeg -scale` itself the two methods differ (DCT
/// scaling keeps the low frequencies of each 8x8 block, a sharper filter
/// than the block average), which is reported and bounded.
#[test]
fn scaled_frames_against_djpeg_scale() {
    if !have("djpeg", "-version") {
        return;
    }
    turbo_required();
    let dir = tempfile::tempdir().unwrap();
    for decoder in Decoder::available() {
        // zune-jpeg against DCT scaling, on these synthetic pictures with
        // saturated colour edges: 27.9, 22.7, 18.5 dB measured; the floors
        // sit 1.5 dB under.
        for (scale, floor) in [("1/2", 26.4), ("1/4", 21.2), ("1/8", 17.0)] {
            let (mut worst, mut worst_area) = (f64::INFINITY, f64::INFINITY);
            for name in FIXTURES {
                let out = dir
                    .path()
                    .join(decoder.name())
                    .join(scale.replace('/', "_"))
                    .join(name);
                let args = ["--scale", scale, "--decoder", decoder.name()];
                for (jpg, ours) in frames(&out, name, &args) {
                    let reference = djpeg(&["-scale", scale], &jpg);
                    let (w, h, pixels) = ppm(&ours);
                    let (rw, rh, reference_pixels) = ppm(&reference);
                    assert_eq!((w, h), (rw, rh), "{name} at {scale}: size");
                    if decoder == Decoder::LibjpegTurbo {
                        assert!(ours == reference, "{name} {jpg:?} at {scale}: differs");
                    } else {
                        let db = psnr(pixels, reference_pixels);
                        worst = worst.min(db);
                        assert!(db >= floor, "{name} {jpg:?} at {scale}: {db:.1} dB");
                        let full = djpeg(&[], &jpg);
                        let (fw, fh, full) = ppm(&full);
                        let factor = scale[2..].parse().unwrap();
                        let area = area_average(full, fw, fh, factor);
                        let db = psnr(pixels, &area);
                        worst_area = worst_area.min(db);
                        assert!(db >= 40.0, "{name} {jpg:?} at {scale}: {db:.1} dB vs area");
                    }
                }
            }
            eprintln!(
                "{decoder} --scale {scale}: worst PSNR vs djpeg -scale {worst:.1} dB, \
                 vs the area average of djpeg's full decode {worst_area:.1} dB"
            );
        }
    }
}

/// `--fast` (libjpeg-turbo's fast IDCT and upsampling) against the exact
/// decode of the same frames: reported, and far from garbage (these
/// synthetic pictures' saturated colour edges are the worst case for
/// replicated chroma: 25.8 dB at full size, 22.0 dB at 1/4 measured).
/// Its reference is djpeg with the same shortcuts (`-dct fast
/// -nosmooth`), which it must match byte for byte.
#[test]
fn fast_frames_against_the_exact_decode() {
    if !have("djpeg", "-version") {
        return;
    }
    turbo_required();
    if !Decoder::LibjpegTurbo.is_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for scale in ["1/1", "1/4"] {
        let mut worst = f64::INFINITY;
        for name in FIXTURES {
            let out = dir.path().join(scale.replace('/', "_")).join(name);
            let args = ["--fast", "--scale", scale, "--decoder", "libjpeg-turbo"];
            for (jpg, ours) in frames(&out, name, &args) {
                let exact = djpeg(&["-scale", scale], &jpg);
                let db = psnr(ppm(&ours).2, ppm(&exact).2);
                worst = worst.min(db);
                assert!(db >= 20.0, "{name} {jpg:?}: fast is {db:.1} dB from exact");
                let fast_reference = djpeg(&["-scale", scale, "-dct", "fast", "-nosmooth"], &jpg);
                assert!(
                    ours == fast_reference,
                    "{name} {jpg:?}: differs from djpeg -dct fast"
                );
            }
        }
        eprintln!("--fast --scale {scale}: worst PSNR vs the exact decode {worst:.1} dB");
    }
}

/// `--resize` writes frames of exactly that size, close to FFmpeg's area
/// resize (swscale, in RGB) of libjpeg-turbo's full decode (djpeg) of
/// the same JPEG. Different resize code and, for zune-jpeg, a different
/// decode: a sanity bound, not an identity.
#[test]
fn resized_frames_have_the_size_and_look_like_ffmpegs() {
    if !have("ffmpeg", "-version") || !have("djpeg", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for decoder in Decoder::available() {
        let mut worst = f64::INFINITY;
        for name in FIXTURES {
            let out = dir.path().join(decoder.name()).join(name);
            let args = ["--resize", "100x60", "--decoder", decoder.name()];
            for (jpg, ours) in frames(&out, name, &args) {
                let (w, h, pixels) = ppm(&ours);
                assert_eq!((w, h), (100, 60));
                let full = out.join("full.ppm");
                fs::write(&full, djpeg(&[], &jpg)).unwrap();
                let reference = Command::new("ffmpeg")
                    .args(["-v", "error", "-i"])
                    .arg(&full)
                    .args(["-vf", "scale=100:60:flags=area", "-f", "rawvideo"])
                    .args(["-pix_fmt", "rgb24", "-"])
                    .output()
                    .unwrap();
                assert!(reference.status.success(), "ffmpeg {}", jpg.display());
                let db = psnr(pixels, &reference.stdout);
                worst = worst.min(db);
                assert!(
                    db >= 30.0,
                    "{name} {jpg:?}: {db:.1} dB from FFmpeg's resize"
                );
            }
        }
        eprintln!("{decoder} --resize 100x60: worst PSNR vs FFmpeg area {worst:.1} dB");
    }
}

/// Bad options: a usage error (exit 2, one line) before any work.
#[test]
fn bad_decode_options_are_refused() {
    let capture = capture("gst-420");
    let capture = capture.to_str().unwrap();
    for bad in [
        &["--scale", "1/3"][..],
        &["--scale", "2"],
        &["--resize", "0x10"],
        &["--resize", "100"],
        &["--resize", "99999x10"],
    ] {
        let mut argv = vec!["pcap", capture, "--decode"];
        argv.extend(bad);
        let out = run(&argv);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty());
    }
    // Fast needs libjpeg-turbo: asking zune-jpeg for it fails, in one
    // line, rather than silently decoding exactly.
    let out = run(&["pcap", capture, "--decode", "--fast"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("libjpeg-turbo"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
