//! HTTP/1.1 on the wire, as much as the live view needs: one request head
//! per connection, read under a size cap and a deadline and parsed by
//! `httparse`, and one response written whole with `Connection: close`.
//!
//! The live view serves GET and HEAD only, so a request body is never
//! read: a request that declares one is refused (413) unread, and nothing
//! is ever allocated from a length the client states. One request per
//! connection keeps a connection (and the thread serving it) as short as
//! its request; browsers and scrapers open the next one as they need it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest request head (request line and headers) read; a longer
/// one is refused (431).
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed at most; more are refused (431).
const MAX_HEADERS: usize = 64;
/// A client has this long from connecting to send its whole request head
/// (408 after; a connection that sent nothing is closed unanswered): an
/// idle or trickling connection holds its connection place no longer.
pub(super) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole response (not a stream) must be written within this long: a
/// client that reads a byte now and then, each write making just enough
/// progress for the per-write timeout, holds its thread no longer.
const RESPONSE_DEADLINE: Duration = Duration::from_secs(30);
/// After a response, what the client still sends (a body refused, the
/// rest of a head too large, a pipelined request) is read and dropped
/// for up to this long and this many bytes before the connection
/// closes: closing with unread bytes would send a reset, and the client
/// could lose the response it has not read yet.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Other,
}

/// A request head as the live view uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) method: Method,
    /// The request target as sent: path and query.
    pub(super) target: String,
    /// The value of every `Authorization` header.
    pub(super) authorization: Vec<String>,
}

/// Why no request was read from a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    /// The client closed (or reset) the connection before a whole head
    /// came, or sent nothing at all in time: nobody to answer, and not
    /// counted (a browser's speculative connection ends this way).
    Closed,
    /// No whole head within [`HEAD_TIMEOUT`]: 408.
    TimedOut,
    /// A head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] headers: 431.
    TooLarge,
    /// Not an HTTP/1.x request head: 400.
    Malformed,
    /// A body declared (`Content-Length` other than 0, or a
    /// `Transfer-Encoding`): 413, the body left unread.
    Body,
}

impl Rejection {
    /// Every rejection that is answered and counted, in the order
    /// `/api/cameras` and `/metrics` list them.
    pub(super) const COUNTED: [Rejection; 4] = [
        Rejection::Malformed,
        Rejection::TooLarge,
        Rejection::Body,
        Rejection::TimedOut,
    ];

    /// The name under which it is counted.
    pub(super) fn name(self) -> &'static str {
        match self {
            Rejection::Closed => "closed",
            Rejection::TimedOut => "timed_out",
            Rejection::TooLarge => "too_large",
            Rejection::Malformed => "malformed",
            Rejection::Body => "body",
        }
    }

    /// The answer, when there is anyone to answer.
    pub(super) fn response(self) -> Option<Response> {
        let (status, message) = match self {
            Rejection::Closed => return None,
            Rejection::TimedOut => (408, "the request head did not come in time"),
            Rejection::TooLarge => (431, "the request head is too large"),
            Rejection::Malformed => (400, "not an HTTP/1.x request"),
            Rejection::Body => (413, "this server takes no request body"),
        };
        Some(Response::text(status, message))
    }
}

/// Rejected requests by [`Rejection`] (those answered).
#[derive(Debug, Default)]
pub(super) struct RejectionCounts([AtomicU64; Rejection::COUNTED.len()]);

impl RejectionCounts {
    pub(super) fn count(&self, rejection: Rejection) {
        if let Some(i) = Rejection::COUNTED.iter().position(|&r| r == rejection) {
            self.0[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (name, count) of every counted rejection, zero or not.
    pub(super) fn by_name(&self) -> Vec<(&'static str, u64)> {
        Rejection::COUNTED
            .iter()
            .zip(&self.0)
            .map(|(r, n)| (r.name(), n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Read one request head from `stream`, all of it within `timeout`.
pub(super) fn read_request(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<Request, Rejection> {
    let deadline = Instant::now() + timeout;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out(&head));
        }
        // A zero read timeout would mean none: `left` is not zero here.
        if stream.set_read_timeout(Some(left)).is_err() {
            return Err(Rejection::Closed);
        }
        let room = (MAX_HEAD + 1).saturating_sub(head.len()).min(chunk.len());
        let read = match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(Rejection::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Err(timed_out(&head)),
            Err(_) => return Err(Rejection::Closed),
        };
        // Look for the blank line only where the new bytes could complete
        // it, so that a client sending a byte at a time costs a scan of
        // its bytes, not of the whole head per byte.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..read]);
        if let Some(end) = head_end(&head[from..]) {
            return parse(&head[..from + end]);
        }
        if head.len() > MAX_HEAD {
            return Err(Rejection::TooLarge);
        }
    }
}

/// A connection that sent nothing in time is let go like one that
/// closed: it was idle, not a request gone wrong.
fn timed_out(head: &[u8]) -> Rejection {
    if head.is_empty() {
        Rejection::Closed
    } else {
        Rejection::TimedOut
    }
}

/// Whether a socket error is a read or write timeout running out (it
/// reads as WouldBlock on Unix, TimedOut on Windows).
pub(super) fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Where the head ends in `bytes` (just past its blank line), if it does.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn parse(head: &[u8]) -> Result<Request, Rejection> {
    if head.len() > MAX_HEAD {
        return Err(Rejection::TooLarge);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(Rejection::TooLarge),
        // A head that ends in a blank line but parses as partial is not
        // a request head either.
        Ok(httparse::Status::Partial) | Err(_) => return Err(Rejection::Malformed),
    }
    let zero =
        |value: &[u8]| std::str::from_utf8(value).is_ok_and(|v| v.trim().parse::<u64>() == Ok(0));
    let declares_body = request.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && !zero(h.value))
    });
    if declares_body {
        return Err(Rejection::Body);
    }
    let method = match request.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    Ok(Request {
        method,
        target: origin_form(request.path.unwrap_or("/")).to_owned(),
        authorization: request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("authorization"))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect(),
    })
}

/// The path and query of a request target: an absolute-form target
/// (`http://host/path`, which a server must accept, RFC 9112 3.2.2)
/// loses its scheme and authority.
fn origin_form(target: &str) -> &str {
    match target.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('/') => rest.find('/').map_or("/", |i| &rest[i..]),
        _ => target,
    }
}

/// A response head: the status line, `Content-Type`, `Content-Length`
/// when the length is known (a stream's is not), `Connection: close`,
/// `headers`, the blank line.
pub(super) fn head(
    status: u16,
    content_type: &str,
    content_length: Option<usize>,
    headers: &[(&str, &str)],
) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n",
        reason_phrase(status)
    );
    if let Some(length) = content_length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A whole response: status, `Content-Type`, more headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    pub(super) status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    pub(super) fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// A one-line plain text answer.
    pub(super) fn text(status: u16, message: &str) -> Self {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            format!("{message}\n").into_bytes(),
        )
    }

    pub(super) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Write it to `stream` (the head alone for a HEAD request) within
    /// [`RESPONSE_DEADLINE`] and end the connection: the FIN follows
    /// everything sent, and what the client still sends meanwhile is
    /// read and dropped (see [`LINGER`]).
    pub(super) fn send(&self, stream: &mut TcpStream, head_only: bool) -> std::io::Result<()> {
        let deadline = Instant::now() + RESPONSE_DEADLINE;
        let bytes = self.bytes(head_only);
        for piece in bytes.chunks(64 * 1024) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ErrorKind::TimedOut.into());
            }
            stream.set_write_timeout(Some(left.min(super::WRITE_TIMEOUT)))?;
            stream.write_all(piece)?;
        }
        stream.flush()?;
        stream.shutdown(Shutdown::Write)?;
        linger(stream, LINGER);
        Ok(())
    }

    /// [`Response::send`] from the accepting thread, to a connection
    /// whose request was not read: no wait on the client, only what it
    /// has sent so far is dropped before closing. The answer is short
    /// and the connection new, so the write does not block.
    pub(super) fn send_unread(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        stream.write_all(&self.bytes(false))?;
        stream.shutdown(Shutdown::Write)?;
        stream.set_nonblocking(true)?;
        linger(stream, Duration::ZERO);
        Ok(())
    }

    fn bytes(&self, head_only: bool) -> Vec<u8> {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let mut bytes = head(
            self.status,
            self.content_type,
            Some(self.body.len()),
            &headers,
        )
        .into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// Read and drop what the client sends until it closes, `wait` passes or
/// [`LINGER_BYTES`] came; with no `wait` (a non-blocking stream), only
/// what is already there.
fn linger(stream: &mut TcpStream, wait: Duration) {
    let deadline = Instant::now() + wait;
    let mut dropped = 0;
    let mut sink = [0u8; 4096];
    while dropped < LINGER_BYTES {
        if !wait.is_zero() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair: (client, the server's end).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn read_from(sent: &[u8], timeout: Duration) -> Result<Request, Rejection> {
        let (mut client, mut server) = pair();
        client.write_all(sent).unwrap();
        read_request(&mut server, timeout)
    }

    #[test]
    fn a_get_head_is_read() {
        let got = read_from(
            b"GET /cameras/a%20b/latest.jpg?n=3 HTTP/1.1\r\nHost: x\r\n\
              authorization: Bearer s3cret\r\nContent-Length: 0\r\n\r\nleftover",
            HEAD_TIMEOUT,
        );
        assert_eq!(
            got,
            Ok(Request {
                method: Method::Get,
                target: "/cameras/a%20b/latest.jpg?n=3".into(),
                authorization: vec!["Bearer s3cret".into()],
            })
        );
        let head = read_from(b"HEAD / HTTP/1.0\n\n", HEAD_TIMEOUT).unwrap();
        assert_eq!((head.method, head.target.as_str()), (Method::Head, "/"));
        let post = read_from(b"POST / HTTP/1.1\r\n\r\n", HEAD_TIMEOUT).unwrap();
        assert_eq!(post.method, Method::Other);
        // Absolute form, and a zero length written long.
        let absolute =
            b"GET http://cam.local:8080/api/cameras?x=1 HTTP/1.1\r\nContent-Length: 00\r\n\r\n";
        let absolute = read_from(absolute, HEAD_TIMEOUT).unwrap();
        assert_eq!(absolute.target, "/api/cameras?x=1");
        assert_eq!(origin_form("http://host"), "/");
        assert_eq!(origin_form("/a?u=http://b/c"), "/a?u=http://b/c");
    }

    /// A head sent a byte at a time is read whole.
    #[test]
    fn a_head_in_pieces_is_read() {
        let (mut client, mut server) = pair();
        let sender = std::thread::spawn(move || {
            for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" {
                client.write_all(&[*byte]).unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
            client
        });
        let got = read_request(&mut server, HEAD_TIMEOUT).unwrap();
        assert_eq!(got.target, "/metrics");
        drop(sender.join());
    }

    /// A declared body, however long, is refused unread: nothing is
    /// allocated from the length the client states.
    #[test]
    fn a_declared_body_is_refused() {
        for header in [
            "Content-Length: 4611686018427387904",
            "content-length: 1",
            "Transfer-Encoding: chunked",
        ] {
            let sent = format!("GET / HTTP/1.1\r\n{header}\r\n\r\n");
            assert_eq!(
                read_from(sent.as_bytes(), HEAD_TIMEOUT),
                Err(Rejection::Body),
                "{header}"
            );
        }
    }

    #[test]
    fn a_head_too_large_is_refused() {
        // One header line that never ends.
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD * 2, b'a');
        let (mut client, mut server) = pair();
        let sender = std::thread::spawn(move || {
            // The server stops reading at the cap: the rest may not go.
            let _ = client.write_all(&long);
            client
        });
        assert_eq!(
            read_request(&mut server, HEAD_TIMEOUT),
            Err(Rejection::TooLarge)
        );
        drop(server);
        drop(sender.join());
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X{i}: y\r\n"))
            .collect();
        let sent = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            read_from(sent.as_bytes(), HEAD_TIMEOUT),
            Err(Rejection::TooLarge)
        );
    }

    #[test]
    fn what_is_not_http_is_malformed() {
        for sent in [
            &b"\x16\x03\x01\x02\x00\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / SIP/2.0\r\n\r\n",
        ] {
            assert_eq!(
                read_from(sent, HEAD_TIMEOUT),
                Err(Rejection::Malformed),
                "{sent:?}"
            );
        }
    }

    /// A client that sends part of a head and waits is dropped at the
    /// deadline; one that hangs up is not answered.
    #[test]
    fn an_unfinished_head_times_out_or_closes() {
        let (mut client, mut server) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let started = Instant::now();
        assert_eq!(
            read_request(&mut server, Duration::from_millis(200)),
            Err(Rejection::TimedOut)
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(client);
        // Nothing at all sent in time: an idle connection, let go as closed.
        let (_client, mut server) = pair();
        assert_eq!(
            read_request(&mut server, Duration::from_millis(100)),
            Err(Rejection::Closed)
        );
        let (client, mut server) = pair();
        drop(client);
        assert_eq!(
            read_request(&mut server, HEAD_TIMEOUT),
            Err(Rejection::Closed)
        );
    }

    #[test]
    fn a_response_is_written_whole_then_the_connection_ends() {
        let (mut client, mut server) = pair();
        Response::text(404, "not found")
            .with_header("Retry-After", "1")
            .send(&mut server, false)
            .unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(
            got,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 10\r\nConnection: close\r\nRetry-After: 1\r\n\r\nnot found\n"
        );
        let (mut client, mut server) = pair();
        Response::text(200, "ok").send(&mut server, true).unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert!(
            got.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"),
            "{got}"
        );
    }

    #[test]
    fn rejections_are_counted_by_name() {
        let counts = RejectionCounts::default();
        counts.count(Rejection::Body);
        counts.count(Rejection::Body);
        counts.count(Rejection::Closed);
        assert_eq!(
            counts.by_name(),
            vec![
                ("malformed", 0),
                ("too_large", 0),
                ("body", 2),
                ("timed_out", 0)
            ]
        );
        for rejection in Rejection::COUNTED {
            assert!(rejection.response().is_some());
        }
        assert!(Rejection::Closed.response().is_none());
    }
}
