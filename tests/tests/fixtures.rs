//! The `pcap` replay on captures from real senders (GStreamer, FFmpeg):
//! every rebuilt frame decodes to exactly the pixels of the JPEG that was
//! sent, in order, with nothing lost.

use std::fs;
use std::path::{Path, PathBuf};

use mjpeg_rtp_testkit::fixtures_dir;
use mjpeg_rtp_tests::{assert_same_pixels_every_decoder, replay};
use serde_json::Value;

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("capture.pcap").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn originals(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| fs::read(f).expect("original"))
        .collect()
}

fn check_capture(dir: &Path, capture: &Path) {
    let name = capture
        .strip_prefix(fixtures_dir())
        .unwrap_or(capture)
        .display()
        .to_string();
    let manifest: Option<Value> = fs::read(dir.join("manifest.json"))
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("manifest.json"));
    let originals = originals(dir);
    assert!(!originals.is_empty(), "{name}: no originals");
    let (frames, summary) = replay(capture);

    assert_eq!(summary.streams.len(), 1, "{name}: {summary:?}");
    let s = &summary.streams[0];
    let c = &s.counters;
    assert_eq!(c.packets_lost, 0, "{name}");
    assert_eq!(c.packets_invalid, 0, "{name}");
    assert_eq!(c.packets_duplicate, 0, "{name}");
    assert_eq!(c.packets_late, 0, "{name}");
    assert_eq!(c.frames_dropped, 0, "{name}: {:?}", s.drop_reasons);
    assert_eq!(c.frames_complete, originals.len() as u64, "{name}");
    assert_eq!(frames.len(), originals.len(), "{name}");
    if let Some(m) = &manifest {
        assert_eq!(c.frames_complete, m["frames"].as_u64().unwrap(), "{name}");
        assert_eq!(c.packets_received, m["packets"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(c.port), m["port"].as_u64().unwrap(), "{name}");
        assert_eq!(c.ssrc.as_deref(), m["ssrc"].as_str(), "{name}");
        assert_eq!(u64::from(c.width), m["width"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(c.height), m["height"].as_u64().unwrap(), "{name}");
    }
    // Completion order is timestamp order here (no reordering on loopback).
    for pair in frames.windows(2) {
        let step = pair[1].timestamp.wrapping_sub(pair[0].timestamp);
        assert!(
            step != 0 && step < 1 << 31,
            "{name}: timestamps not increasing"
        );
    }
    for (i, (frame, original)) in frames.iter().zip(&originals).enumerate() {
        assert!(frame.jpeg.starts_with(&[0xFF, 0xD8]) && frame.jpeg.ends_with(&[0xFF, 0xD9]));
        assert_same_pixels_every_decoder(&frame.jpeg, original, &format!("{name} frame {i}"));
    }
}

#[test]
fn real_sender_captures_rebuild_pixel_exact() {
    let dirs = fixture_dirs();
    assert!(
        !dirs.is_empty(),
        "no fixtures with capture.pcap in {}",
        fixtures_dir().display()
    );
    for dir in &dirs {
        check_capture(dir, &dir.join("capture.pcap"));
        let ng = dir.join("capture.pcapng");
        if ng.is_file() {
            check_capture(dir, &ng);
        }
    }
}

#[test]
fn expected_fixtures_are_present() {
    let names: Vec<String> = fixture_dirs()
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for want in [
        "gst-420",
        "gst-422",
        "gst-restart",
        "ffmpeg-420",
        "ffmpeg-422",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "missing fixture {want}: {names:?}"
        );
    }
}
