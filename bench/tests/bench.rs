//! `mjpeg-rtp-bench --quick` runs end to end and prints one JSON object.
//! A smoke test of the benchmark machinery, not a benchmark: it asserts
//! the shape of the report, never a figure (CI machines are noisy).

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_quick_prints_json() {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mjpeg-rtp-bench"))
        .env_remove("RUST_LOG")
        .args([
            "--quick",
            "--size",
            "320x240",
            "--io",
            "std",
            "--max-cameras",
            "1",
        ])
        .output()
        .expect("run mjpeg-rtp-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout:?}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(report["capture"]["width"], 320);
    assert!(report["capture"]["frames"].as_u64().unwrap() > 0);
    let decoders = report["pcap_to_rgb"]["decoders"]
        .as_array()
        .expect("decoders");
    assert_eq!(decoders[0]["decoder"], "zune-jpeg");
    assert_eq!(decoders.len(), mjpeg_rtp::Decoder::available().count());
    for d in decoders {
        for key in ["ratio_vs_decode_only", "ours", "decode_only"] {
            assert!(d.get(key).is_some(), "{key} missing");
        }
    }
    assert!(report["reassembly"]["ratio"]["min"].is_number());
    let modes = report["live"]["modes"].as_array().expect("live modes");
    assert_eq!(modes.len(), 2, "std decode and passthrough");
    assert!(modes[0]["decode"].as_bool().unwrap());
    assert!(
        modes[0]["budget_cameras"].is_number(),
        "decode mode has a budget"
    );
    for m in modes {
        let limit = m["limited_by"].as_str().unwrap();
        assert!(
            ["max-cameras", "sender", "receiver"].contains(&limit),
            "{limit}"
        );
    }
    assert!(stderr.contains("ratio ours / decode-only CPU"), "{stderr}");
    eprintln!("bench --quick took {:?}", started.elapsed());
}
