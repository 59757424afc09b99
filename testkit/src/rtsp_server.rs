//! A real RTSP server for the live tests: gst-rtsp-server, driven by
//! `tests/fixtures/tools/rtsp_server.py` run with the system python3
//! (Debian `python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp`,
//! installed by `.ci/run`), serving the gst-420 fixture JPEGs at 5 fps;
//! on loopback, or ([`Server::start_multicast`]) multicast-only from a
//! network namespace.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fixtures_dir;

const PYTHON: &str = "/usr/bin/python3";
/// Pictures served per session (the four fixtures, cycled): 4 s at 5 fps.
pub const FRAMES: usize = 20;

/// What is missing for the server, if anything.
pub fn server_missing() -> Option<String> {
    let ok = Command::new(PYTHON)
        .args(["-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ok).then(|| "gst-rtsp-server for python3 (python3-gi gir1.2-gst-rtsp-server-1.0)".into())
}

/// `true` (after saying so) when the server is missing and the run does
/// not require peers; a missing server fails the test when
/// `MJPEG_RTP_REQUIRE_PEERS` is set.
pub fn skip_if_missing(test: &str) -> bool {
    let Some(missing) = server_missing() else {
        return false;
    };
    crate::peer_missing(&format!("{missing} not found"), &format!("{test} SKIPPED"));
    true
}

/// A running server at `rtsp://ADDRESS:PORT/cam`. Killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    address: IpAddr,
    /// The command that starts (and restarts) it.
    argv: Vec<OsString>,
    lines: Arc<Mutex<Vec<String>>>,
    /// Holds the served JPEGs; removed on drop.
    _dir: tempfile::TempDir,
    /// The JPEGs served, in the order they cycle.
    pub originals: Vec<Vec<u8>>,
}

impl Server {
    /// Serve with payload type `pt` and, when given, `(basic|digest,
    /// user, password)` authentication.
    pub fn start(pt: u8, auth: Option<(&str, &str, &str)>) -> Server {
        Self::start_with(pt, auth, Ipv4Addr::LOCALHOST.into(), Vec::new(), Vec::new())
    }

    /// Serve payload type 26 from network namespace `netns` at `address`,
    /// over UDP multicast only, to groups of the pool `first..=last`
    /// (ports 5000-5099, TTL 16) that the server picks.
    pub fn start_multicast(
        netns: &str,
        address: Ipv4Addr,
        (first, last): (Ipv4Addr, Ipv4Addr),
    ) -> Server {
        let prefix = ["ip", "netns", "exec", netns].map(String::from).to_vec();
        let options = vec![
            "--address".to_owned(),
            address.to_string(),
            "--multicast".to_owned(),
            format!("{first}-{last}"),
        ];
        Self::start_with(26, None, address.into(), prefix, options)
    }

    fn start_with(
        pt: u8,
        auth: Option<(&str, &str, &str)>,
        address: IpAddr,
        prefix: Vec<String>,
        options: Vec<String>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let originals: Vec<Vec<u8>> = (0..4)
            .map(|i| std::fs::read(fixtures_dir().join(format!("gst-420/{i:03}.jpg"))).unwrap())
            .collect();
        for i in 0..FRAMES {
            std::fs::write(dir.path().join(format!("{i:03}.jpg")), &originals[i % 4]).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut argv: Vec<OsString> = prefix.into_iter().map(OsString::from).collect();
        argv.push(PYTHON.into());
        argv.push(fixtures_dir().join("tools/rtsp_server.py").into());
        argv.extend(options.into_iter().map(OsString::from));
        argv.extend([
            port.to_string().into(),
            dir.path().join("%03d.jpg").into(),
            FRAMES.to_string().into(),
            pt.to_string().into(),
        ]);
        if let Some((scheme, user, pass)) = auth {
            argv.extend([scheme, user, pass].map(OsString::from));
        }
        let lines = Arc::new(Mutex::new(Vec::new()));
        let server = Server {
            child: spawn(&argv, &lines),
            port,
            address,
            argv,
            lines,
            _dir: dir,
            originals,
        };
        server.wait_for("READY", 1);
        server
    }

    /// Kill the server process (every connection drops at once).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start it again on the same port, as it was.
    pub fn restart(&mut self) {
        self.kill();
        let ready = self.count("READY");
        self.child = spawn(&self.argv, &self.lines);
        self.wait_for("READY", ready + 1);
    }

    /// `rtsp://{userinfo}ADDRESS:PORT/cam`.
    pub fn url(&self, userinfo: &str) -> String {
        format!("rtsp://{userinfo}{}:{}/cam", self.address, self.port)
    }

    /// How many times the server printed `line` ("READY", "TEARDOWN",
    /// "CLOSED").
    pub fn count(&self, line: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| *l == line)
            .count()
    }

    /// Wait (up to 10 s) until the server printed `line` `n` times.
    pub fn wait_for(&self, line: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(line) < n {
            assert!(
                Instant::now() < deadline,
                "server never printed {line:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn spawn(argv: &[OsString], lines: &Arc<Mutex<Vec<String>>>) -> Child {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start rtsp_server.py");
    let stdout = child.stdout.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    child
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
