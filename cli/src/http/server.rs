//! The HTTP side of the live view: one thread accepts connections and
//! hands each to a short-lived thread of its own (a slow client then only
//! ever stalls itself), up to [`MAX_CONNECTIONS`] at once; each reads one
//! request ([`wire`]) and answers it, up to [`MAX_REQUESTS`] at once. A response that cannot be made
//! (JSON, metrics encoding) is a 500, never an empty 200.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;
use serde::Serialize;
use subtle::ConstantTimeEq;

use prometheus_client::registry::Registry;

use super::snapshot::CameraView;
use super::wire::{self, Method, Request, Response};
use super::{metrics, LiveCamera, Shared};

/// Connections open at once, each on a thread of its own from its
/// first byte to its last; more get a 503 from the accepting thread.
/// Larger than [`MAX_REQUESTS`], so that idle connections (a browser's
/// preconnects, or someone holding sockets open) cannot take the places
/// of requests; a thread blocked on a read costs little.
const MAX_CONNECTIONS: usize = 256;
/// Of those, connections past their request head (stream viewers
/// included); more get a 503.
const MAX_REQUESTS: usize = 64;
/// A viewer waiting for the next frame wakes this often to notice a
/// shutdown, and to send a heartbeat.
const FRAME_WAIT: Duration = Duration::from_millis(500);
/// Written to a `stream.mjpg` viewer after each [`FRAME_WAIT`] without a
/// frame: an empty line, which multipart readers skip before a boundary
/// (and which trails a part's JPEG after its EOI, where decoders ignore
/// it).
const HEARTBEAT: &[u8] = b"\r\n";
/// Part separator of `stream.mjpg`.
const BOUNDARY: &str = "mjpegrtpframe";
/// The page: plain HTML, CSS and script in one file, no external asset.
const PAGE: &str = include_str!("page.html");
/// After a failed `accept` (out of file descriptors, say), wait this long
/// before the next: the cause lasts until connections end, and retrying
/// at once would only spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Failed `accept`s are logged at most this often.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

/// Accept connections, each served on a thread of its own, until the
/// view is stopping (and a connection wakes this thread, see
/// `LiveView`'s drop). No failure ends it: an `accept` that fails
/// for want of file descriptors is retried once connections have had
/// time to end.
pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, registry: &Arc<Registry>) {
    let connections = Arc::new(Slots::new(MAX_CONNECTIONS));
    let requests = Arc::new(Slots::new(MAX_REQUESTS));
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            // Our own wake-up, or a client just too late.
            if let Ok((mut stream, _)) = accepted {
                let _ = Response::text(503, "shutting down").send_unread(&mut stream);
            }
            break;
        }
        let mut stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                failures.note(&e);
                continue;
            }
        };
        let Some(connection) = connections.take() else {
            shared.requests_refused.fetch_add(1, Ordering::Relaxed);
            let _ = Response::text(503, "too many connections").send_unread(&mut stream);
            continue;
        };
        let (shared, registry, requests) = (
            Arc::clone(shared),
            Arc::clone(registry),
            Arc::clone(&requests),
        );
        let spawned = spawn_request(
            std::thread::Builder::new().name("http".into()),
            connection,
            move || serve(stream, &requests, &shared, &registry),
        );
        if let Err(e) = spawned {
            // The connection went with the closure and is closed unanswered.
            log::warn!("http: cannot start a request thread: {e}");
        }
    }
}

/// Failed `accept`s: counted, logged now and then, each followed by a
/// pause.
#[derive(Debug, Default)]
struct AcceptFailures {
    since_warning: u64,
    warned: Option<Instant>,
}

impl AcceptFailures {
    fn note(&mut self, error: &std::io::Error) {
        // A connection the client reset before it was accepted, or a
        // signal: nothing is wrong with the listener.
        if matches!(
            error.kind(),
            std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::Interrupted
        ) {
            return;
        }
        self.since_warning += 1;
        let now = Instant::now();
        if self
            .warned
            .is_none_or(|t| now.duration_since(t) >= ACCEPT_WARN_EVERY)
        {
            log::warn!(
                "http: cannot accept a connection: {error} ({} failed since the last warning); \
                 retrying",
                self.since_warning
            );
            self.warned = Some(now);
            self.since_warning = 0;
        }
        std::thread::sleep(ACCEPT_PAUSE);
    }
}

/// Places for connections or requests in flight, at most `max`.
#[derive(Debug)]
struct Slots {
    max: usize,
    in_flight: AtomicUsize,
}

impl Slots {
    fn new(max: usize) -> Self {
        Slots {
            max,
            in_flight: AtomicUsize::new(0),
        }
    }

    /// A place for one more request, given back when the slot is dropped;
    /// `None` when all are taken.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// One request's place; released when dropped, wherever that happens.
#[derive(Debug)]
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Run `work` on a thread of `builder`'s, holding `slot` until it ends.
/// The slot lives in the closure, so that it is released both when the
/// thread finishes and when the thread cannot be started (the closure is
/// then dropped unrun).
fn spawn_request(
    builder: std::thread::Builder,
    slot: Slot,
    work: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    builder
        .spawn(move || {
            let _slot = slot;
            work();
        })
        .map(drop)
}

/// One connection (its place given back by `spawn_request` when this
/// returns): read its request, then answer it in a request's place.
fn serve(mut stream: TcpStream, requests: &Arc<Slots>, shared: &Shared, registry: &Registry) {
    if stream
        .set_write_timeout(Some(super::WRITE_TIMEOUT))
        .is_err()
    {
        return;
    }
    let request = match wire::read_request(&mut stream, wire::HEAD_TIMEOUT) {
        Ok(request) => request,
        Err(rejection) => {
            if let Some(response) = rejection.response() {
                shared.requests_rejected.count(rejection);
                log::debug!("http: request rejected: {}", rejection.name());
                let _ = response.send(&mut stream, false);
            }
            return;
        }
    };
    let Some(_request) = requests.take() else {
        shared.requests_refused.fetch_add(1, Ordering::Relaxed);
        let head_only = request.method == Method::Head;
        let _ = Response::text(503, "too many requests").send(&mut stream, head_only);
        return;
    };
    handle(&request, stream, shared, registry);
}

fn handle(request: &Request, mut connection: TcpStream, shared: &Shared, registry: &Registry) {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let head_only = request.method == Method::Head;
    if !authorized(request, query, shared.token.as_deref()) {
        let response = Response::text(401, "access token required")
            .with_header("WWW-Authenticate", "Bearer realm=\"mjpeg-rtp\"");
        let _ = response.send(&mut connection, head_only);
        return;
    }
    if request.method == Method::Other {
        let response = Response::text(405, "only GET and HEAD").with_header("Allow", "GET, HEAD");
        let _ = response.send(&mut connection, false);
        return;
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let response = match segments.as_slice() {
        [""] | ["index.html"] => {
            Response::new(200, "text/html; charset=utf-8", PAGE.as_bytes().to_vec())
        }
        ["api", "cameras"] => json(&api(shared)),
        ["metrics"] => match metrics::render(registry) {
            Ok(body) => Response::new(200, metrics::CONTENT_TYPE, body.into_bytes()),
            Err(e) => {
                log::warn!("http: /metrics could not be encoded: {e}");
                Response::text(500, "metrics could not be encoded")
            }
        },
        ["cameras", id, file] => match (shared.camera(id), *file) {
            (None, _) => Response::text(404, "no such camera"),
            (Some(camera), "latest.jpg") => match camera.slot.latest() {
                Some(frame) => Response::new(200, "image/jpeg", frame.jpeg.to_vec())
                    .with_header("Cache-Control", "no-store"),
                None => Response::text(503, "no frame yet").with_header("Retry-After", "1"),
            },
            (Some(camera), "stream.mjpg") => return stream(connection, head_only, camera, shared),
            _ => Response::text(404, "not found"),
        },
        _ => Response::text(404, "not found"),
    };
    let _ = response.send(&mut connection, head_only);
}

/// The token, when one is set, as a Bearer header or a `token` query
/// parameter; compared in constant time.
fn authorized(request: &Request, query: &str, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let same = |given: &str| bool::from(given.as_bytes().ct_eq(token.as_bytes()));
    // The scheme's name is case-insensitive (RFC 9110, 11.1).
    let bearer = request
        .authorization
        .iter()
        .filter_map(|value| {
            let (scheme, given) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("Bearer").then_some(given)
        })
        .any(|given| same(given.trim()));
    let in_query = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("token="))
        .any(|given| same(&percent_decode_str(given).decode_utf8_lossy()));
    bearer || in_query
}

/// `/api/cameras`.
#[derive(Serialize)]
struct Api {
    cameras: Vec<CameraView>,
    viewers_max: usize,
    viewers_refused: u64,
    viewers_stalled: u64,
    /// Connections answered 503 at [`MAX_CONNECTIONS`] or [`MAX_REQUESTS`].
    requests_refused: u64,
    /// Requests answered 4xx unread, by [`wire::Rejection`] name.
    requests_rejected: std::collections::BTreeMap<&'static str, u64>,
}

fn api(shared: &Shared) -> Api {
    Api {
        cameras: shared.views(),
        viewers_max: shared.cap.max(),
        viewers_refused: shared.cap.refused.load(Ordering::Relaxed),
        viewers_stalled: shared.cap.stalled.load(Ordering::Relaxed),
        requests_refused: shared.requests_refused.load(Ordering::Relaxed),
        requests_rejected: shared.requests_rejected.by_name().into_iter().collect(),
    }
}

/// `stream.mjpg`: the newest frame, then each newer one, as parts of a
/// `multipart/x-mixed-replace` response, until the client leaves, stops
/// reading for [`WRITE_TIMEOUT`](super::WRITE_TIMEOUT) (counted), or the
/// view stops. Written on the raw connection so that every part is
/// flushed as a whole, with no chunked framing around the parts.
fn stream(connection: TcpStream, head_only: bool, camera: &LiveCamera, shared: &Shared) {
    if let Err(e) = stream_parts(connection, head_only, camera, shared) {
        if wire::is_timeout(&e) {
            shared.cap.stalled.fetch_add(1, Ordering::Relaxed);
            log::info!(
                "http: a viewer of camera {:?} stopped reading for {:?}; dropped",
                camera.id,
                super::WRITE_TIMEOUT
            );
        }
    }
}

/// [`stream`]'s work: `Err` with the write that failed.
fn stream_parts(
    mut out: TcpStream,
    head_only: bool,
    camera: &LiveCamera,
    shared: &Shared,
) -> std::io::Result<()> {
    let Some(_ticket) = shared.cap.admit() else {
        let _ = Response::text(503, "too many viewers").send(&mut out, head_only);
        return Ok(());
    };
    camera.viewers.fetch_add(1, Ordering::AcqRel);
    let _viewer = OnDrop(|| {
        camera.viewers.fetch_sub(1, Ordering::AcqRel);
    });
    let content_type = format!("multipart/x-mixed-replace; boundary={BOUNDARY}");
    let head = wire::head(200, &content_type, None, &[("Cache-Control", "no-store")]);
    out.write_all(head.as_bytes())?;
    out.flush()?;
    if head_only {
        return Ok(());
    }
    let mut seen = 0;
    while !shared.stopping() {
        let Some(frame) = camera.slot.next_after(seen, FRAME_WAIT) else {
            // A silent camera: the heartbeat is the only write that tells
            // a viewer who left from one who waits (the second write to a
            // closed connection fails), so that the place is given back.
            out.write_all(HEARTBEAT)?;
            out.flush()?;
            continue;
        };
        seen = frame.number;
        let part = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-RTP-Timestamp: {}\r\n\r\n",
            frame.jpeg.len(),
            frame.timestamp
        );
        out.write_all(part.as_bytes())?;
        out.write_all(&frame.jpeg)?;
        out.write_all(b"\r\n")?;
        out.flush()?;
    }
    Ok(())
}

/// Runs its closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// `value` as JSON; a 500 when it cannot be serialized.
fn json(value: &impl Serialize) -> Response {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => Response::new(200, "application/json", body),
        Err(e) => {
            log::warn!("http: JSON could not be written: {e}");
            Response::text(500, "JSON could not be written")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread that cannot be started gives its request slot back.
    #[test]
    fn a_request_slot_is_released_when_its_thread_cannot_start() {
        let slots = Arc::new(Slots::new(1));
        let slot = slots.take().unwrap();
        assert!(slots.take().is_none());
        // A stack no system grants: the spawn fails.
        let builder = std::thread::Builder::new().stack_size(1 << 46);
        assert!(spawn_request(builder, slot, || {}).is_err());
        assert_eq!(slots.in_flight(), 0);
        let slot = slots.take().expect("the slot is free again");
        spawn_request(std::thread::Builder::new(), slot, || {}).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while slots.in_flight() != 0 {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// What cannot be serialized answers 500.
    #[test]
    fn a_json_failure_is_a_500() {
        struct Unwritable;
        impl Serialize for Unwritable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        assert_eq!(json(&Unwritable).status, 500);
        assert_eq!(json(&[1, 2]).status, 200);
    }
}
