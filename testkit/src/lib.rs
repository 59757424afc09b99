//! Test support for every crate of the workspace, used only as a
//! dev-dependency:
//!
//! - [`picture`]: the one synthetic picture, its JPEG encodings, RGB decode;
//! - [`Rng`]: the one seeded random number generator;
//! - [`rtp`]: packetizing JPEGs with the core, and a UDP sender;
//! - [`esp32`]: RTP/JPEG rewritten the way ESP32 camera firmware sends it;
//! - [`Datagram`]: timed UDP datagrams, [`retime`]d for a capture;
//! - [`capture`]: the one capture writer (pcap/pcapng, every link type the
//!   `pcap` command reads, IPv4/IPv6, IP fragments), streaming, so that a
//!   benchmark can write its long captures with it too;
//! - [`impair`]: the one network impairment model (loss, reordering,
//!   duplication, stalls), sans-IO;
//! - [`rtsp_server`]: gst-rtsp-server serving known JPEGs, for the RTSP
//!   tests of the runtime and the command;
//! - [`netns`]: two network namespaces joined by a veth pair (Linux,
//!   root), for the multicast test;
//! - [`quirky_rtsp`]: a scripted RTSP server misbehaving like the cameras
//!   of the field, one switch per quirk;
//! - [`wait_until`] for the live tests, [`peer_missing`] for those a
//!   missing peer skips, and the path of the fixtures from real senders;
//! - `backend_tests` (feature `backend-tests`): the loopback scenarios
//!   every receive backend runs, with their client and camera helpers.
//!
//! Without that feature it depends on the core and not on any runtime, so
//! that the core's tests build no sockets or threads; other helpers that
//! need a runtime or the command live beside the tests that use them.

#[cfg(feature = "backend-tests")]
pub mod backend_tests;
pub mod capture;
mod datagram;
pub mod esp32;
pub mod impair;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod picture;
pub mod quirky_rtsp;
mod rng;
pub mod rtp;
pub mod rtsp_server;

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use datagram::{datagrams_to, retime, Datagram};
pub use rng::Rng;

/// How long a live test waits for something that should take
/// milliseconds: long enough for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(5);

/// Poll until `done` holds for what `poll` returns, and return that;
/// panic with the last value after [`WAIT`].
pub fn wait_until<T: Debug>(mut poll: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = poll();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {value:#?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// For a test whose peer (a tool, a library, a server) is `missing`:
/// panics when `MJPEG_RTP_REQUIRE_PEERS` is set (CI installs every peer
/// and sets it, so that a skip cannot pass for a success there); else
/// says on stderr what is missing and what the test does `without_it`.
pub fn peer_missing(missing: &str, without_it: &str) {
    assert!(
        std::env::var_os("MJPEG_RTP_REQUIRE_PEERS").is_none(),
        "{missing}, and MJPEG_RTP_REQUIRE_PEERS is set"
    );
    eprintln!("!!!!! {missing}: {without_it}");
}

/// `tests/fixtures/`: captures from real senders with the JPEGs they sent.
pub fn fixtures_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit sits in the workspace");
    workspace.join("tests/fixtures")
}
