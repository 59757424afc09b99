//! The HTTP side of the live view: one thread accepts requests from
//! `tiny_http` and hands each to a short-lived thread of its own (a slow
//! client then only ever stalls itself), up to [`MAX_REQUESTS`] at once.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use serde::Serialize;
use subtle::ConstantTimeEq;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use super::snapshot::CameraView;
use super::{metrics, CameraShared, Shared};

/// Requests handled at once (stream viewers included); more get a 503.
const MAX_REQUESTS: usize = 64;
/// A viewer waiting for the next frame wakes this often to notice a
/// shutdown.
const FRAME_WAIT: Duration = Duration::from_millis(500);
/// Part separator of `stream.mjpg`.
const BOUNDARY: &str = "mjpegrtpframe";
/// The page: plain HTML, CSS and script in one file, no external asset.
const PAGE: &str = include_str!("page.html");

/// Serve until the server is unblocked.
pub(super) fn accept_loop(server: &Server, shared: &Arc<Shared>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    for request in server.incoming_requests() {
        if shared.stopping() {
            let _ = request.respond(text(503, "shutting down"));
            break;
        }
        if in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_REQUESTS {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            let _ = request.respond(text(503, "too many requests"));
            continue;
        }
        let (shared, in_flight) = (Arc::clone(shared), Arc::clone(&in_flight));
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                handle(request, &shared);
                in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            log::warn!("http: cannot start a request thread: {e}");
        }
    }
}

fn handle(request: Request, shared: &Shared) {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if !authorized(&request, query, shared.token.as_deref()) {
        let response = text(401, "access token required")
            .with_header(header("WWW-Authenticate", "Bearer realm=\"mjpeg-rtp\""));
        let _ = request.respond(response);
        return;
    }
    if !matches!(request.method(), Method::Get | Method::Head) {
        let _ = request.respond(text(405, "only GET"));
        return;
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let response = match segments.as_slice() {
        [""] | ["index.html"] => bytes(200, "text/html; charset=utf-8", PAGE.as_bytes().to_vec()),
        ["api", "cameras"] => {
            let body = serde_json::to_vec_pretty(&api(shared)).unwrap_or_default();
            bytes(200, "application/json", body)
        }
        ["metrics"] => {
            let views = views(shared);
            let cap = &shared.cap;
            let body = metrics::render(&views, cap.refused.load(Ordering::Relaxed), cap.max());
            bytes(200, metrics::CONTENT_TYPE, body.into_bytes())
        }
        ["cameras", id, file] => match (shared.camera(id), *file) {
            (None, _) => text(404, "no such camera"),
            (Some(camera), "latest.jpg") => match camera.slot.latest() {
                Some(frame) => bytes(200, "image/jpeg", frame.jpeg.to_vec())
                    .with_header(header("Cache-Control", "no-store")),
                None => text(503, "no frame yet").with_header(header("Retry-After", "1")),
            },
            (Some(camera), "stream.mjpg") => return stream(request, camera, shared),
            _ => text(404, "not found"),
        },
        _ => text(404, "not found"),
    };
    let _ = request.respond(response);
}

/// The token, when one is set, as a Bearer header or a `token` query
/// parameter; compared in constant time.
fn authorized(request: &Request, query: &str, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let same = |given: &str| bool::from(given.as_bytes().ct_eq(token.as_bytes()));
    let bearer = request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Authorization"))
        .filter_map(|h| h.value.as_str().strip_prefix("Bearer "))
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
}

fn api(shared: &Shared) -> Api {
    Api {
        cameras: views(shared),
        viewers_max: shared.cap.max(),
        viewers_refused: shared.cap.refused.load(Ordering::Relaxed),
    }
}

/// Every camera's view, from the last stats snapshot and the live
/// viewer counters.
fn views(shared: &Shared) -> Vec<CameraView> {
    let snapshot = shared.snapshot();
    snapshot
        .stats
        .iter()
        .zip(&snapshot.rates)
        .map(|(stats, &rates)| {
            let mut view = CameraView::new(stats, rates);
            if let Some(camera) = shared.camera(&stats.camera_id) {
                view.viewers = camera.viewers.load(Ordering::Relaxed);
                view.viewer_frames_skipped = camera.slot.skipped.load(Ordering::Relaxed);
            }
            view
        })
        .collect()
}

/// `stream.mjpg`: the newest frame, then each newer one, as parts of a
/// `multipart/x-mixed-replace` response, until the client leaves or the
/// view stops. Written on the raw connection so that every part is
/// flushed as a whole (tiny_http's chunked body would hold a part's tail
/// back until the next frame).
fn stream(request: Request, camera: &CameraShared, shared: &Shared) {
    let Some(_ticket) = shared.cap.admit() else {
        let _ = request.respond(text(503, "too many viewers"));
        return;
    };
    camera.viewers.fetch_add(1, Ordering::AcqRel);
    let _viewer = OnDrop(|| {
        camera.viewers.fetch_sub(1, Ordering::AcqRel);
    });
    let head_only = *request.method() == Method::Head;
    let mut out = request.into_writer();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    );
    if out
        .write_all(head.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
        || head_only
    {
        return;
    }
    let mut seen = 0;
    while !shared.stopping() {
        let Some(frame) = camera.slot.next_after(seen, FRAME_WAIT) else {
            continue;
        };
        seen = frame.number;
        let part = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-RTP-Timestamp: {}\r\n\r\n",
            frame.jpeg.len(),
            frame.timestamp
        );
        let sent = out
            .write_all(part.as_bytes())
            .and_then(|()| out.write_all(&frame.jpeg))
            .and_then(|()| out.write_all(b"\r\n"))
            .and_then(|()| out.flush());
        if sent.is_err() {
            return;
        }
    }
}

/// Runs its closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header text")
}

fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", content_type))
}

fn text(status: u16, message: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    bytes(
        status,
        "text/plain; charset=utf-8",
        format!("{message}\n").into_bytes(),
    )
}
