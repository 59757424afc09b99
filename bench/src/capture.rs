//! The capture every section reads: one RTP/JPEG stream, either given or
//! generated ([`synth`]) into a scratch directory, and loaded as the RTP
//! datagrams of each frame.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mjpeg_rtp_cli::capture::read_udp;
use mjpeg_rtp_cli::summary::CaptureSummary;
use mjpeg_rtp_core::validate;
use mjpeg_rtp_testkit::capture::{CaptureFormat, CaptureWriter};

use crate::synth::{self, SynthSpec};

/// The RTP datagrams of the capture's first RTP/JPEG stream (first port
/// and SSRC seen), one `Vec` of packets per RTP timestamp, in order.
pub fn load_rtp_frames(path: &Path) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut summary = CaptureSummary::default();
    let mut key: Option<(u16, u32)> = None;
    let mut frames: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut last_ts: Option<u32> = None;
    read_udp(path, &mut summary, |d| {
        let Ok((rtp, _)) = validate(d.payload, None) else {
            return Ok(());
        };
        let this = (d.dst.port(), rtp.ssrc());
        if *key.get_or_insert(this) != this {
            return Ok(());
        }
        if last_ts != Some(rtp.timestamp()) {
            last_ts = Some(rtp.timestamp());
            frames.push(Vec::new());
        }
        if let Some(f) = frames.last_mut() {
            f.push(d.payload.to_vec());
        }
        Ok(())
    })?;
    if frames.is_empty() {
        bail!("{}: no RTP/JPEG stream", path.display());
    }
    Ok(frames)
}

/// Generate the capture `spec` describes at `path`; returns its RTP
/// datagrams, one `Vec` of packets per frame.
pub fn generate(spec: &SynthSpec, path: &Path) -> Result<Vec<Vec<Vec<u8>>>> {
    let jpegs = synth::jpegs(spec)?;
    let frames = synth::rtp_frames(&jpegs, spec.frames, spec.fps, spec.mtu)?;
    write_pcap(path, &frames, spec.fps)?;
    Ok(frames)
}

/// A scratch directory of this process, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `<temp dir>/mjpeg-rtp-<what>-<pid>`.
    pub fn new(what: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("mjpeg-rtp-{what}-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Address the capture's datagrams come from.
const SRC: ([u8; 4], u16) = ([10, 0, 0, 2], 40_000);
/// Address (and port) the capture's datagrams go to.
const DST: ([u8; 4], u16) = ([10, 0, 0, 1], 5004);

/// Write the frames as a classic pcap (Ethernet, IPv4, UDP from [`SRC`]
/// to [`DST`]) that GStreamer's `pcapparse` reads too: frame `n` at
/// `n / fps` seconds, its packets 10 µs apart. The writer is the tests'
/// ([`mjpeg_rtp_testkit::capture`]): one capture writer in the workspace.
pub fn write_pcap(path: &Path, frames: &[Vec<Vec<u8>>], fps: f64) -> Result<()> {
    let to_addr = |(ip, port): ([u8; 4], u16)| SocketAddr::from((ip, port));
    let mut writer = CaptureWriter::create(path, CaptureFormat::default())
        .with_context(|| format!("cannot create {}", path.display()))?;
    for (n, packets) in frames.iter().enumerate() {
        let start = Duration::from_secs_f64(n as f64 / fps);
        for (i, payload) in packets.iter().enumerate() {
            let time = start + Duration::from_micros(10 * i as u64);
            writer
                .write_udp(time, to_addr(SRC), to_addr(DST), payload)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    writer
        .finish()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_capture_loads_back() {
        let spec = SynthSpec {
            width: 64,
            height: 48,
            distinct: 2,
            frames: 3,
            mtu: 200,
            ..SynthSpec::default()
        };
        let scratch = Scratch::new("capture-test").unwrap();
        let path = scratch.path().join("c.pcap");
        let written = generate(&spec, &path).unwrap();
        assert_eq!(load_rtp_frames(&path).unwrap(), written);
        let dir = scratch.path().to_owned();
        drop(scratch);
        assert!(!dir.exists(), "scratch directory removed");
    }
}
