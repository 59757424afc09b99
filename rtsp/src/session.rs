//! The client session: OPTIONS, DESCRIBE, SETUP, PLAY, keepalive,
//! TEARDOWN, as a state machine over bytes and time.
//!
//! ```text
//!  on_connected -> OPTIONS -> DESCRIBE -> SETUP -> PLAY -> Playing --teardown--> TEARDOWN -> Closed
//!                    |  401: answer the challenge, send again, once  |   keepalive at min(timeout, 60 s)/2
//!                    |  3xx: Event::Redirect, wait for on_connected  |
//!                    |  SETUP 461 over UDP with fallback: SETUP over TCP
//!                    |  multicast SETUP: Event::Join, PLAY once the driver calls play()
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtsp_types::{headers, Message, Method, Request, Response, StatusCode, Version};
use url::Url;

use crate::auth::{Authenticator, Credentials};
use crate::error::Error;
use crate::framing::{Framer, Raw};
use crate::headers::{base_url, join_control, parse_session, redact, SessionHeader};
use crate::sdp::{describe, JpegTrack};
use crate::transport::negotiate;
pub use crate::transport::{Negotiated, TransportRequest};

/// Redirects followed before giving up (a loop between two servers).
const MAX_REDIRECTS: u32 = 4;
/// RTSP's well-known port (RFC 2326 3.2).
pub const DEFAULT_PORT: u16 = 554;
/// Longest keepalive interval, whatever timeout the server announced:
/// a server that announces hours may still expire sessions after a
/// minute (retina caps the same way).
const MAX_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long TEARDOWN waits for its answer before the session counts as
/// closed. Some servers never answer it (Micro-RTSP, on many ESP32-CAM
/// boards); the session is over either way, so stopping or reconnecting
/// must not wait the full request timeout for them.
pub const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// How a session is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// `rtsp://[user:pass@]host[:port]/path`; the credentials are taken
    /// out and never sent in a request line.
    pub url: Url,
    pub transport: TransportRequest,
    /// `User-Agent` of every request.
    pub user_agent: String,
    /// A request without an answer for this long fails the session.
    pub request_timeout: Duration,
}

impl SessionConfig {
    pub fn new(url: Url, transport: TransportRequest) -> Self {
        SessionConfig {
            url,
            transport,
            user_agent: concat!("mjpeg-rtp/", env!("CARGO_PKG_VERSION")).to_owned(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What the driver must act on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// PLAY succeeded: data flows.
    Playing {
        track: JpegTrack,
        transport: Negotiated,
        session_timeout: Duration,
    },
    /// Close the connection and open one to `url`'s host and port, then
    /// call [`Session::on_connected`].
    Redirect { url: Url },
    /// SETUP gave this multicast transport: join the group, then call
    /// [`Session::play`]. Joining first means the first frame after
    /// PLAY is not sent to a group nobody here listens to yet.
    Join { transport: Negotiated },
    /// The session cannot go on; nothing more will be sent.
    Failed(Error),
    /// TEARDOWN was answered (or went unanswered in time, or there was no
    /// session to tear down): the connection may be closed.
    Closed,
}

/// An interleaved frame, by the channel it arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interleaved<'a> {
    Rtp(&'a [u8]),
    Rtcp(&'a [u8]),
    /// A channel never set up (some cameras send on others than agreed).
    Other {
        channel: u8,
        len: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for `on_connected`.
    Connecting,
    Options,
    Describe,
    Setup,
    /// Multicast set up: waiting for the driver to join the group.
    Joining,
    Play,
    Playing,
    TearingDown,
    Done,
}

#[derive(Debug)]
struct Pending {
    cseq: u32,
    method: Method,
    uri: Url,
    /// Sent with an answer to a challenge: a second 401 is final.
    authenticated: bool,
    deadline: Instant,
}

/// One RTSP session; see the crate docs for the driving contract.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    /// `config.url` without credentials.
    url: Url,
    credentials: Option<Credentials>,
    auth: Option<Authenticator>,
    state: State,
    framer: Framer,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    cseq: u32,
    pending: Option<Pending>,
    redirects: u32,
    transport: TransportRequest,
    track: Option<JpegTrack>,
    setup_url: Option<Url>,
    play_url: Option<Url>,
    session: Option<SessionHeader>,
    negotiated: Option<Negotiated>,
    /// Whether the server's `Public` allows GET_PARAMETER (assumed until
    /// told otherwise or until one is answered with an error).
    get_parameter: bool,
    next_keepalive: Option<Instant>,
    /// Interleaved frames on channels never set up.
    foreign_frames: u64,
    /// The description said `a=udp-only`.
    udp_only: bool,
}

impl Session {
    pub fn new(config: SessionConfig) -> Self {
        let mut url = config.url.clone();
        let credentials = (!url.username().is_empty()).then(|| Credentials {
            username: decode(url.username()),
            password: decode(url.password().unwrap_or_default()),
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Session {
            transport: config.transport,
            config,
            url,
            credentials,
            auth: None,
            state: State::Connecting,
            framer: Framer::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            cseq: 0,
            pending: None,
            redirects: 0,
            track: None,
            setup_url: None,
            play_url: None,
            session: None,
            negotiated: None,
            get_parameter: true,
            next_keepalive: None,
            foreign_frames: 0,
            udp_only: false,
        }
    }

    /// The URL requests go to now (after redirects), without credentials.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The connection to [`Session::url`]'s host is open: start.
    pub fn on_connected(&mut self, now: Instant) {
        self.framer = Framer::default();
        self.state = State::Options;
        let url = self.url.clone();
        self.send(now, Method::Options, url, false);
    }

    /// Bytes read from the connection. Call [`Session::poll_input`] until
    /// it returns `None` before the next call.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// Room of at least `at_least` bytes to read the connection into
    /// directly; then [`Session::input_read`] with how many the read
    /// wrote, and [`Session::poll_input`] as after
    /// [`Session::handle_input`]. Saves a copy (and, for a caller that
    /// would zero a fresh buffer per read, a memset) of every byte of an
    /// interleaved stream.
    pub fn input_buffer(&mut self, at_least: usize) -> &mut [u8] {
        self.framer.read_buffer(at_least)
    }

    /// `count` bytes were read into [`Session::input_buffer`].
    pub fn input_read(&mut self, count: usize) {
        self.framer.filled(count);
    }

    /// Handle buffered messages; return the next interleaved frame.
    #[must_use]
    pub fn poll_input(&mut self, now: Instant) -> Option<Interleaved<'_>> {
        loop {
            match self.framer.next_raw()? {
                Raw::Message(Message::Response(r)) => self.on_response(now, r),
                Raw::Message(Message::Request(r)) => self.on_server_request(&r),
                Raw::Message(Message::Data(_)) => {}
                Raw::Data { channel, range } => {
                    let len = range.len();
                    let data = self.framer.data(range);
                    return Some(match self.negotiated {
                        Some(Negotiated::Interleaved { rtp, .. }) if channel == rtp => {
                            Interleaved::Rtp(data)
                        }
                        Some(Negotiated::Interleaved { rtcp, .. }) if channel == rtcp => {
                            Interleaved::Rtcp(data)
                        }
                        _ => {
                            self.foreign_frames += 1;
                            Interleaved::Other { channel, len }
                        }
                    });
                }
            }
        }
    }

    /// The next bytes to write to the connection.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.as_ref().map(|p| p.deadline);
        match (pending, self.next_keepalive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = self.pending.as_ref().filter(|p| now >= p.deadline) {
            let method = method_name(&p.method);
            self.pending = None;
            if self.state == State::TearingDown {
                self.finish(Event::Closed);
            } else {
                self.fail(Error::Timeout { method });
            }
            return;
        }
        if self.state == State::Playing
            && self.pending.is_none()
            && self.next_keepalive.is_some_and(|t| now >= t)
        {
            // GET_PARAMETER carries no body and changes nothing; servers
            // that lack it get OPTIONS, which every server has.
            let method = match self.get_parameter {
                true => Method::GetParameter,
                false => Method::Options,
            };
            let uri = self.play_url.clone().unwrap_or_else(|| self.url.clone());
            self.send(now, method, uri, false);
            self.next_keepalive = None;
        }
    }

    /// The multicast group of [`Event::Join`] is joined: send PLAY. Does
    /// nothing in any other state.
    pub fn play(&mut self, now: Instant) {
        if self.state == State::Joining {
            self.send_play(now);
        }
    }

    fn send_play(&mut self, now: Instant) {
        self.state = State::Play;
        let play = self.play_url.clone().unwrap_or_else(|| self.url.clone());
        self.send(now, Method::Play, play, false);
    }

    /// End the session: TEARDOWN when one was set up, then
    /// [`Event::Closed`]. Idempotent.
    pub fn teardown(&mut self, now: Instant) {
        if matches!(self.state, State::TearingDown | State::Done) {
            return;
        }
        self.next_keepalive = None;
        match self.session {
            Some(_) => {
                self.state = State::TearingDown;
                let uri = self.play_url.clone().unwrap_or_else(|| self.url.clone());
                self.send(now, Method::Teardown, uri, false);
            }
            None => self.finish(Event::Closed),
        }
    }

    /// Whether the server's description said `a=udp-only`: a driver
    /// that would try TCP when UDP brings nothing should not (the
    /// session itself then answers a 461 to UDP with failure, not with a
    /// SETUP over TCP).
    pub fn udp_only(&self) -> bool {
        self.udp_only
    }

    /// Interleaved frames received on channels that were never set up.
    pub fn foreign_frames(&self) -> u64 {
        self.foreign_frames
    }

    /// Bytes read and not handled yet (bounded: see
    /// [`Framer::buffered`]).
    pub fn buffered_bytes(&self) -> usize {
        self.framer.buffered()
    }

    /// Bytes of the connection skipped as neither message nor frame.
    pub fn skipped_bytes(&self) -> u64 {
        self.framer.skipped()
    }

    fn send(&mut self, now: Instant, method: Method, uri: Url, authenticated: bool) {
        self.cseq += 1;
        let mut b = Request::builder(method.clone(), Version::V1_0)
            .request_uri(uri.clone())
            .header(headers::CSEQ, self.cseq.to_string())
            .header(headers::USER_AGENT, self.config.user_agent.as_str());
        if let Some(auth) = self.auth.as_mut() {
            if let Some(value) = auth.respond(method_name(&method), uri.as_str()) {
                b = b.header(headers::AUTHORIZATION, value);
            }
        }
        // Every request once a session exists carries its id, OPTIONS
        // too: servers count only requests naming the session as a sign
        // of life.
        if let Some(s) = &self.session {
            b = b.header(headers::SESSION, s.id.as_str());
        }
        match method {
            Method::Describe => b = b.header(headers::ACCEPT, "application/sdp"),
            Method::Setup => b = b.header(headers::TRANSPORT, self.transport.header_value()),
            Method::Play => b = b.header(headers::RANGE, "npt=0.000-"),
            _ => {}
        }
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = b.empty().write(&mut bytes);
        self.out.push_back(bytes);
        let timeout = match method {
            Method::Teardown => self.config.request_timeout.min(TEARDOWN_TIMEOUT),
            _ => self.config.request_timeout,
        };
        self.pending = Some(Pending {
            cseq: self.cseq,
            method,
            uri,
            authenticated,
            deadline: now + timeout,
        });
    }

    fn on_server_request(&mut self, request: &Request<Vec<u8>>) {
        // Servers may ping with OPTIONS or GET_PARAMETER, or announce;
        // answer the pings, refuse the rest, never stall on them.
        let status = match request.method() {
            Method::Options | Method::GetParameter => StatusCode::Ok,
            _ => StatusCode::NotImplemented,
        };
        let mut b = Response::builder(Version::V1_0, status);
        if let Some(cseq) = request.header(&headers::CSEQ) {
            b = b.header(headers::CSEQ, cseq.as_str());
        }
        let mut bytes = Vec::new();
        let _ = b.empty().write(&mut bytes);
        self.out.push_back(bytes);
    }

    fn on_response(&mut self, now: Instant, r: Response<Vec<u8>>) {
        let cseq = header(&r, &headers::CSEQ).and_then(|v| v.trim().parse::<u32>().ok());
        // Quirk: some cameras answer keepalives with a stale or missing
        // CSeq (the PLAY's, say). One request is in flight at a time, so
        // an answer is taken as the answer to it; only during setup is an
        // answer to an older request (a CSeq below the pending one)
        // dropped. While playing, every earlier request has had its
        // answer, so a stale CSeq can only be the keepalive's.
        let playing = self.state == State::Playing;
        let answers = |p: &mut Pending| playing || cseq.is_none_or(|c| c >= p.cseq);
        let Some(pending) = self.pending.take_if(answers) else {
            return;
        };
        let status = u16::from(r.status());
        if let Some(error) = self.foreign_session(&r, &pending) {
            return self.fail(error);
        }
        if status == 401 && self.state != State::TearingDown {
            return self.on_unauthorized(now, &r, pending);
        }
        if (300..400).contains(&status) && self.state != State::TearingDown {
            return self.on_redirect(&r);
        }
        match self.state {
            State::Options => {
                if let Some(public) = header(&r, &headers::PUBLIC) {
                    self.get_parameter = public
                        .split(',')
                        .any(|m| m.trim().eq_ignore_ascii_case("GET_PARAMETER"));
                }
                // An error to OPTIONS is no reason to stop: DESCRIBE decides.
                self.state = State::Describe;
                let url = self.url.clone();
                self.send(now, Method::Describe, url, false);
            }
            State::Describe if status == 200 => self.on_described(now, &r, &pending.uri),
            State::Setup if status == 461 => match self.transport {
                TransportRequest::Udp {
                    fallback_to_tcp: true,
                    ..
                } => {
                    self.transport = TransportRequest::Tcp;
                    self.send(now, Method::Setup, pending.uri, false);
                }
                _ => self.fail(Error::UnsupportedTransport),
            },
            State::Setup if status == 200 => self.on_setup(now, &r),
            // `RTP-Info` is not read: sequence number and timestamp come
            // from the packets themselves, and with one stream per session
            // there is nothing to match its `url=` against. Cameras fill
            // it wrongly (Micro-RTSP hard-codes another host and port,
            // others say `seq=0;rtptime=0`), and none of that can matter.
            State::Play if status == 200 => {
                let session_timeout = self.session_timeout();
                self.state = State::Playing;
                self.next_keepalive = Some(now + keepalive_interval(session_timeout));
                if let (Some(track), Some(transport)) =
                    (self.track.clone(), self.negotiated.clone())
                {
                    self.events.push_back(Event::Playing {
                        track,
                        transport,
                        session_timeout,
                    });
                }
            }
            State::Playing => {
                // Quirk: keepalives answered with an error (a GET_PARAMETER
                // advertised but refused): use OPTIONS from now on. An
                // error need not refresh the session, so when it says
                // the method is not there (405, 451, 501) the OPTIONS
                // goes out at once rather than an interval later.
                if status >= 400 && pending.method == Method::GetParameter {
                    self.get_parameter = false;
                    if matches!(status, 405 | 451 | 501) {
                        let uri = self.play_url.clone().unwrap_or_else(|| self.url.clone());
                        self.send(now, Method::Options, uri, false);
                        return;
                    }
                }
                self.next_keepalive = Some(now + keepalive_interval(self.session_timeout()));
            }
            State::TearingDown => self.finish(Event::Closed),
            State::Connecting | State::Joining | State::Done => {}
            State::Describe | State::Setup | State::Play => self.fail(Error::Status {
                method: method_name(&pending.method),
                status,
                url: redact(&pending.uri),
            }),
        }
    }

    /// A reply naming another session than ours: the server mixed up
    /// sessions (or a proxy did), and adopting its id would keep alive,
    /// or tear down, a stranger's session.
    fn foreign_session(&self, r: &Response<Vec<u8>>, pending: &Pending) -> Option<Error> {
        let ours = self.session.as_ref()?;
        let theirs = header(r, &headers::SESSION).and_then(parse_session)?;
        (theirs.id != ours.id).then(|| Error::SessionMismatch {
            method: method_name(&pending.method),
            expected: ours.id.clone(),
            got: theirs.id,
        })
    }

    fn session_timeout(&self) -> Duration {
        self.session
            .as_ref()
            .map_or(crate::headers::DEFAULT_SESSION_TIMEOUT, |s| s.timeout)
    }

    fn on_unauthorized(&mut self, now: Instant, r: &Response<Vec<u8>>, pending: Pending) {
        let url = redact(&pending.uri);
        let Some(credentials) = self.credentials.clone() else {
            return self.fail(Error::Unauthorized {
                url,
                sent_credentials: false,
            });
        };
        // A second 401 to an answered challenge is a wrong password; a
        // stale nonce would also land here, and one failure is better than
        // a retry storm that locks the account on some cameras.
        if pending.authenticated {
            return self.fail(Error::Unauthorized {
                url,
                sent_credentials: true,
            });
        }
        let challenges = header(r, &headers::WWW_AUTHENTICATE).unwrap_or_default();
        match Authenticator::new(challenges, credentials) {
            Some(auth) => {
                self.auth = Some(auth);
                self.send(now, pending.method, pending.uri, true);
            }
            None => self.fail(Error::UnsupportedAuthentication),
        }
    }

    fn on_redirect(&mut self, r: &Response<Vec<u8>>) {
        let location = header(r, &headers::LOCATION).and_then(|l| Url::parse(l.trim()).ok());
        let Some(mut location) = location.filter(|_| self.redirects < MAX_REDIRECTS) else {
            return self.fail(Error::Redirect);
        };
        self.redirects += 1;
        // User info in a Location is not taken: credentials come from the
        // configured URL only.
        let _ = location.set_username("");
        let _ = location.set_password(None);
        // The credentials were given for one server: a redirect to
        // another host or port must not hand them (or an answer made from
        // them) to whoever it names.
        let same_server = location.host_str() == self.url.host_str()
            && rtsp_port(&location) == rtsp_port(&self.url);
        if !same_server {
            self.credentials = None;
        }
        self.url = location.clone();
        self.state = State::Connecting;
        self.session = None;
        self.auth = None;
        self.events.push_back(Event::Redirect { url: location });
    }

    fn on_described(&mut self, now: Instant, r: &Response<Vec<u8>>, request: &Url) {
        let description = match describe(r.body()) {
            Ok(d) => d,
            Err(e) => return self.fail(Error::Sdp(e)),
        };
        let base = base_url(
            header(r, &headers::CONTENT_BASE),
            header(r, &headers::CONTENT_LOCATION),
            request,
        );
        let setup = join_control(&base, description.track.control.as_deref());
        let play = join_control(&base, description.session_control.as_deref());
        let (Some(setup), Some(play)) = (setup, play) else {
            return self.fail(Error::BadResponse {
                method: "DESCRIBE",
                what: "a control URL that does not parse",
            });
        };
        self.udp_only = description.udp_only;
        if let TransportRequest::Udp {
            fallback_to_tcp, ..
        } = &mut self.transport
        {
            *fallback_to_tcp &= !self.udp_only;
        }
        self.track = Some(description.track);
        self.setup_url = Some(setup.clone());
        self.play_url = Some(play);
        self.state = State::Setup;
        self.send(now, Method::Setup, setup, false);
    }

    fn on_setup(&mut self, now: Instant, r: &Response<Vec<u8>>) {
        let Some(session) = header(r, &headers::SESSION).and_then(parse_session) else {
            return self.fail(Error::BadResponse {
                method: "SETUP",
                what: "no Session header",
            });
        };
        let reply = header(r, &headers::TRANSPORT).unwrap_or_default();
        match negotiate(self.transport, reply) {
            Ok(negotiated) => self.negotiated = Some(negotiated),
            Err(error) => return self.fail(error),
        }
        self.session = Some(session);
        match &self.negotiated {
            Some(transport @ Negotiated::Multicast { .. }) => {
                self.state = State::Joining;
                let transport = transport.clone();
                self.events.push_back(Event::Join { transport });
            }
            _ => self.send_play(now),
        }
    }

    fn fail(&mut self, error: Error) {
        self.finish(Event::Failed(error));
    }

    fn finish(&mut self, event: Event) {
        self.state = State::Done;
        self.pending = None;
        self.next_keepalive = None;
        self.events.push_back(event);
    }
}

fn header<'a>(r: &'a Response<Vec<u8>>, name: &headers::HeaderName) -> Option<&'a str> {
    r.header(name).map(|v| v.as_str())
}

/// The port a connection to `url` goes to (554 when none is given).
fn rtsp_port(url: &Url) -> u16 {
    url.port().unwrap_or(DEFAULT_PORT)
}

/// When the next keepalive is due: half the session timeout, the
/// timeout capped at [`MAX_KEEPALIVE_TIMEOUT`].
fn keepalive_interval(session_timeout: Duration) -> Duration {
    session_timeout.min(MAX_KEEPALIVE_TIMEOUT) / 2
}

fn method_name(m: &Method) -> &'static str {
    match m {
        Method::Options => "OPTIONS",
        Method::Describe => "DESCRIBE",
        Method::Setup => "SETUP",
        Method::Play => "PLAY",
        Method::Teardown => "TEARDOWN",
        Method::GetParameter => "GET_PARAMETER",
        _ => "request",
    }
}

/// Percent-decoded user info (`p%40ss` -> `p@ss`).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
