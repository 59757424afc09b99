//! Writing complete frames: `DIR/<port>/<RTP timestamp, 10 digits>.<ext>`
//! (an RTSP camera's under `DIR/<camera name>/`: its local port is not
//! chosen by the user), `.jpg` the rebuilt JPEG, `.ppm` (P6) and `.png`
//! the RGB decode. A later frame of a stream with a timestamp already
//! written in this run gets `_<n>` after the digits (`_1` for the second,
//! `_2` for the third...), so that it does not overwrite the first.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mjpeg_rtp::decode::{RgbDecoder, RgbSize};
use mjpeg_rtp::{DecodeOptions, Decoder};

/// Output file formats of a complete frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The rebuilt JPEG, as received (`.jpg`).
    Jpeg,
    /// RGB decode as binary PPM (P6).
    Ppm,
    /// RGB decode as PNG.
    Png,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Ppm => "ppm",
            Format::Png => "png",
        }
    }

    /// Whether writing this format needs the RGB decode.
    pub fn needs_rgb(self) -> bool {
        !matches!(self, Format::Jpeg)
    }
}

/// Where and how complete frames go: shared by `pcap`, `recv` and `demo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkOptions {
    /// Write every complete frame under this directory; `None`: nothing
    /// is written.
    pub out: Option<PathBuf>,
    /// Formats written for every frame.
    pub formats: Vec<Format>,
    /// Decode every frame to RGB even when nothing is written (timing).
    pub decode: bool,
    /// The RGB decoder.
    pub decoder: Decoder,
    /// Size and exactness of the RGB (written files are that size).
    pub decode_options: DecodeOptions,
}

impl Default for SinkOptions {
    /// Write nothing, decode nothing; `.jpg` files once `out` is set.
    fn default() -> Self {
        SinkOptions {
            out: None,
            formats: vec![Format::Jpeg],
            decode: false,
            decoder: Decoder::default(),
            decode_options: DecodeOptions::default(),
        }
    }
}

/// The file a frame of `port` with RTP timestamp `timestamp` goes to.
impl SinkOptions {
    /// Whether anything asked for the RGB decode (`--decode`, or a written
    /// `.ppm`/`.png`).
    pub fn wants_rgb(&self) -> bool {
        self.decode || (self.out.is_some() && self.formats.iter().any(|f| f.needs_rgb()))
    }
}

pub fn frame_path(dir: &Path, port: u16, timestamp: u32, format: Format) -> PathBuf {
    frame_path_in(dir, &port.to_string(), timestamp, format)
}

/// The file a frame with RTP timestamp `timestamp` goes to in the
/// stream's directory `stream_dir` (a port, or an RTSP camera's name).
pub fn frame_path_in(dir: &Path, stream_dir: &str, timestamp: u32, format: Format) -> PathBuf {
    repeated_frame_path_in(dir, stream_dir, timestamp, 0, format)
}

/// [`frame_path_in`] for the frame that follows `repeat` earlier frames
/// with the same timestamp: `_<repeat>` after the digits, none for the
/// first.
pub fn repeated_frame_path_in(
    dir: &Path,
    stream_dir: &str,
    timestamp: u32,
    repeat: u32,
    format: Format,
) -> PathBuf {
    let ext = format.extension();
    let name = match repeat {
        0 => format!("{timestamp:010}.{ext}"),
        n => format!("{timestamp:010}_{n}.{ext}"),
    };
    dir.join(stream_dir).join(name)
}

/// What became of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub files_written: usize,
    pub decoded: bool,
    /// The RGB decode was wanted and failed (the `.jpg` is still written).
    pub decode_failed: bool,
}

/// Writes (and decodes) complete frames as [`SinkOptions`] ask.
#[derive(Debug)]
pub struct FrameSink {
    out: Option<PathBuf>,
    formats: Vec<Format>,
    decode: bool,
    decoder: RgbDecoder,
    decode_options: DecodeOptions,
    rgb: Vec<u8>,
    stream_dirs: HashSet<String>,
    /// Frames written per stream directory and timestamp, so that frames
    /// stamped alike (senders that do not advance the timestamp, ESP32
    /// firmware's first two frames, a restarted sender) get names of
    /// their own. A few bytes per file written: next to the file itself,
    /// nothing.
    written: HashMap<String, HashMap<u32, u32>>,
    warned_repeat: bool,
}

impl FrameSink {
    /// Creates the output directory now, so that an unwritable one fails
    /// before any work.
    pub fn new(options: &SinkOptions) -> Result<Self> {
        if let Some(dir) = &options.out {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        }
        options
            .decode_options
            .check(options.decoder)
            .context("decode options")?;
        let mut formats = options.formats.clone();
        formats.dedup();
        Ok(FrameSink {
            out: options.out.clone(),
            formats,
            decode: options.decode,
            decoder: RgbDecoder::new(options.decoder)?,
            decode_options: options.decode_options,
            rgb: Vec::new(),
            stream_dirs: HashSet::new(),
            written: HashMap::new(),
            warned_repeat: false,
        })
    }

    fn wants_rgb(&self) -> bool {
        self.decode || (self.out.is_some() && self.formats.iter().any(|f| f.needs_rgb()))
    }

    /// Handle one complete frame; decodes it when a format or `--decode`
    /// asks. A decode failure is logged and reported, not fatal; a write
    /// failure is an error.
    pub fn frame(&mut self, port: u16, timestamp: u32, jpeg: &[u8]) -> Result<Outcome> {
        let mut outcome = Outcome::default();
        let mut size = None;
        if self.wants_rgb() {
            let mut rgb = std::mem::take(&mut self.rgb);
            match self
                .decoder
                .decode_with(jpeg, &self.decode_options, &mut rgb)
            {
                Ok(s) => {
                    size = Some(s);
                    outcome.decoded = true;
                }
                Err(e) => {
                    log::warn!("port {port}, timestamp {timestamp}: {e}");
                    outcome.decode_failed = true;
                }
            }
            self.rgb = rgb;
        }
        let rgb = std::mem::take(&mut self.rgb);
        let written = self.write(port, timestamp, jpeg, size.map(|s| (s, &rgb[..])));
        self.rgb = rgb;
        outcome.files_written = written?;
        Ok(outcome)
    }

    /// Write a frame whose RGB decode (if any) was done elsewhere (`recv`
    /// decodes on worker threads). Formats needing RGB are skipped when
    /// `rgb` is `None`. Returns the number of files written.
    pub fn write(
        &mut self,
        port: u16,
        timestamp: u32,
        jpeg: &[u8],
        rgb: Option<(RgbSize, &[u8])>,
    ) -> Result<usize> {
        self.write_in(&port.to_string(), timestamp, jpeg, rgb)
    }

    /// [`FrameSink::write`] into the stream directory `stream_dir` (a
    /// port, or an RTSP camera's name).
    pub fn write_in(
        &mut self,
        stream_dir: &str,
        timestamp: u32,
        jpeg: &[u8],
        rgb: Option<(RgbSize, &[u8])>,
    ) -> Result<usize> {
        let Some(dir) = &self.out else {
            return Ok(0);
        };
        let count = self
            .written
            .entry(stream_dir.to_owned())
            .or_default()
            .entry(timestamp)
            .or_insert(0);
        let repeat = *count;
        *count = count.saturating_add(1);
        if repeat > 0 && !self.warned_repeat {
            self.warned_repeat = true;
            log::warn!(
                "{stream_dir}: another frame with RTP timestamp {timestamp}; it and later \
                 ones stamped alike are written as {timestamp:010}_<n>.<ext>"
            );
        }
        if !self.stream_dirs.contains(stream_dir) {
            let d = dir.join(stream_dir);
            fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
            self.stream_dirs.insert(stream_dir.to_owned());
        }
        let mut written = 0;
        for &format in &self.formats {
            let path = repeated_frame_path_in(dir, stream_dir, timestamp, repeat, format);
            let result = match (format, rgb) {
                (Format::Jpeg, _) => fs::write(&path, jpeg).map_err(anyhow::Error::from),
                (Format::Ppm, Some((size, rgb))) => write_ppm(&path, size, rgb),
                (Format::Png, Some((size, rgb))) => write_png(&path, size, rgb),
                (_, None) => continue,
            };
            result.with_context(|| format!("cannot write {}", path.display()))?;
            written += 1;
        }
        Ok(written)
    }
}

/// Binary PPM (P6), maxval 255.
pub fn write_ppm(path: &Path, size: RgbSize, rgb: &[u8]) -> Result<()> {
    let mut w = BufWriter::new(fs::File::create(path)?);
    write!(w, "P6\n{} {}\n255\n", size.width, size.height)?;
    w.write_all(rgb)?;
    w.flush()?;
    Ok(())
}

pub fn write_png(path: &Path, size: RgbSize, rgb: &[u8]) -> Result<()> {
    let w = BufWriter::new(fs::File::create(path)?);
    let width = u32::try_from(size.width)?;
    let height = u32::try_from(size.height)?;
    let mut encoder = png::Encoder::new(w, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Fast: output files are for looking at and comparing, not archiving.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stamped_alike_get_names_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FrameSink::new(&SinkOptions {
            out: Some(dir.path().to_owned()),
            ..SinkOptions::default()
        })
        .unwrap();
        for (stream, ts, jpeg) in [
            ("5004", 0, b"first".as_slice()),
            ("5004", 0, b"second"),
            ("5004", 3600, b"third"),
            ("5004", 0, b"fourth"),
            ("cam", 0, b"other stream"),
        ] {
            assert_eq!(sink.write_in(stream, ts, jpeg, None).unwrap(), 1);
        }
        let read = |path: &str| fs::read(dir.path().join(path)).unwrap();
        // The first of a timestamp keeps the documented name.
        assert_eq!(read("5004/0000000000.jpg"), b"first");
        assert_eq!(read("5004/0000000000_1.jpg"), b"second");
        assert_eq!(read("5004/0000003600.jpg"), b"third");
        assert_eq!(read("5004/0000000000_2.jpg"), b"fourth");
        assert_eq!(read("cam/0000000000.jpg"), b"other stream");
        assert_eq!(fs::read_dir(dir.path().join("5004")).unwrap().count(), 4);
        assert_eq!(
            repeated_frame_path_in(Path::new("d"), "7", 42, 0, Format::Png),
            frame_path(Path::new("d"), 7, 42, Format::Png)
        );
    }
}
