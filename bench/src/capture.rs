//! The capture every section reads: one RTP/JPEG stream, either given or
//! generated ([`synth`]) into a scratch directory, and loaded as the RTP
//! datagrams of each frame.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use mjpeg_rtp_cli::capture::read_udp;
use mjpeg_rtp_cli::summary::CaptureSummary;
use mjpeg_rtp_core::validate;

use crate::pcap_writer;
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
    pcap_writer::write_pcap(path, &frames, spec.fps)?;
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
