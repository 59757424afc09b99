//! What the integration tests in `tests/tests/` need beyond the testkit:
//! the `pcap` command's replay (the testkit must not depend on the
//! command) and a pixel comparison with every decoder in the build (nor on
//! the runtime). Fixtures from real senders are in `tests/fixtures/`.

use std::path::Path;

use mjpeg_rtp_testkit::picture::assert_same_pixels_with;

pub use mjpeg_rtp_cli as cli;

/// A complete frame the replay handed out.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub port: u16,
    pub ssrc: u32,
    pub timestamp: u32,
    pub jpeg: Vec<u8>,
}

/// Run the `pcap` command's replay on a capture; every complete frame and
/// the summary.
pub fn replay(path: &Path) -> (Vec<Replayed>, cli::summary::Summary) {
    replay_with(path, &cli::pcap::Options::default())
}

pub fn replay_with(
    path: &Path,
    options: &cli::pcap::Options,
) -> (Vec<Replayed>, cli::summary::Summary) {
    let mut frames = Vec::new();
    let summary = cli::pcap::replay(path, options, |f| {
        frames.push(Replayed {
            port: f.port,
            ssrc: f.info.ssrc,
            timestamp: f.info.timestamp,
            jpeg: f.jpeg.to_vec(),
        });
        Ok(())
    })
    .expect("replay");
    (frames, summary)
}

/// Assert two JPEGs decode to the same pixels with every decoder in the
/// build: a rebuilt header that one decoder forgives (a table it ignores,
/// say) would still show in another.
pub fn assert_same_pixels_every_decoder(got: &[u8], want: &[u8], what: &str) {
    for decoder in mjpeg_rtp::Decoder::available() {
        let mut d = mjpeg_rtp::decode::RgbDecoder::new(decoder).expect("decoder");
        let decode = |jpeg: &[u8]| {
            let mut rgb = Vec::new();
            let size = d.decode_into(jpeg, &mut rgb).expect("decode");
            (size.width, size.height, rgb)
        };
        assert_same_pixels_with(decode, got, want, &format!("{what} ({decoder})"));
    }
}
