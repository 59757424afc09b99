//! What the integration tests in `tests/tests/` need beyond the testkit:
//! the `pcap` command's replay (the testkit must not depend on the
//! command), a pixel comparison with every decoder in the build and the
//! live servers' frames checked with it (nor on the runtime). Fixtures
//! from real senders are in `tests/fixtures/`.

use std::path::Path;
use std::time::Duration;

use mjpeg_rtp_testkit::picture::assert_same_pixels_with;

pub use mjpeg_rtp_cli as cli;

/// A complete frame the replay handed out.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub port: u16,
    /// Which stream of the capture it came from (port, or TCP connection
    /// and channel).
    pub source: mjpeg_rtp_capture::replay::Source,
    pub ssrc: u32,
    pub timestamp: u32,
    pub jpeg: Vec<u8>,
}

/// Run the `pcap` command's replay on a capture; every complete frame and
/// the summary.
pub fn replay(path: &Path) -> (Vec<Replayed>, mjpeg_rtp_capture::summary::Summary) {
    replay_with(path, &mjpeg_rtp_capture::replay::Options::default())
}

pub fn replay_with(
    path: &Path,
    options: &mjpeg_rtp_capture::replay::Options,
) -> (Vec<Replayed>, mjpeg_rtp_capture::summary::Summary) {
    let mut frames = Vec::new();
    let summary = mjpeg_rtp_capture::replay::replay(path, options, |f| {
        frames.push(Replayed {
            port: f.source.port(),
            source: f.source,
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

/// Which of `originals` `jpeg` decodes to pixel for pixel under every
/// decoder in the build, if any: a live server streams its pictures in a
/// loop, so a frame's own is not known in advance.
pub fn served_picture(jpeg: &[u8], originals: &[Vec<u8>]) -> Option<usize> {
    originals.iter().position(|o| {
        std::panic::catch_unwind(|| assert_same_pixels_every_decoder(jpeg, o, "")).is_ok()
    })
}

/// Receive `want` frames from `client`, each pixel-exact against one of
/// the server's `originals`, and more than one of them seen (the stream
/// moves). Not all: on a loaded machine gst-rtsp-server drops late
/// pictures (its sink's QoS), so a given one is not guaranteed.
pub fn receive_served_pictures(
    client: &mjpeg_rtp::Client,
    originals: &[Vec<u8>],
    want: usize,
    who: &str,
) {
    let mut seen = vec![false; originals.len()];
    for n in 0..want {
        let frame = client
            .next_frame(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{who}: frame {n} never came: {:?}", client.stats()));
        let which = served_picture(frame.jpeg(), originals)
            .unwrap_or_else(|| panic!("{who}: frame {n} matches no served picture"));
        seen[which] = true;
    }
    assert!(
        seen.iter().filter(|&&s| s).count() >= 2,
        "{who}: the stream moves: {seen:?}"
    );
}
