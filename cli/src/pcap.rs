//! `mjpeg-rtp pcap`: rebuild the frames of every RTP/JPEG stream in a
//! capture ([`mjpeg_rtp_capture::replay`]) and write them.

use std::path::Path;

use anyhow::Result;
/// What the command replays: the capture library's options.
pub use mjpeg_rtp_capture::replay::Options;
use mjpeg_rtp_capture::replay::{replay, Source};
use mjpeg_rtp_capture::summary::Summary;

use crate::output::{FrameSink, SinkOptions};

/// The `pcap` command: replay `capture`, write (and decode) frames as
/// `output` asks, return the summary.
pub fn run(capture: &Path, options: &Options, output: &SinkOptions) -> Result<Summary> {
    let mut sink = FrameSink::new(output)?;
    let mut decode_errors: Vec<(Source, u32)> = Vec::new();
    let mut summary = replay(capture, options, |frame| {
        let outcome = sink.frame(frame.source.port(), frame.info.timestamp, frame.jpeg)?;
        if outcome.decode_failed {
            decode_errors.push((frame.source, frame.info.ssrc));
        }
        Ok(())
    })?;
    for (source, ssrc) in decode_errors {
        summary.count_decode_error(|s| source.is_summarised_by(s, ssrc));
    }
    Ok(summary)
}
