//! A whole `Session` after `on_connected`, fed arbitrary server bytes in
//! arbitrary pieces with the clock moving and the odd TEARDOWN: never
//! panics, and keeps bounded memory (what it buffers, what it queues to
//! send, the events it queues), whatever the server says. Redirects are
//! followed (a new connection) and multicast joins answered with
//! `play`, so the session goes on past them; a redirect never carries
//! user info, and after one to another server no request carries the
//! URL's credentials.
//!
//! Input: a flags byte (bits 0 and 2: UDP with fallback, TCP, multicast
//! of the server's choice, or multicast to a named group as a reconnect
//! asks; bit 1: credentials in the URL), then records `op, len_hi, len_lo, bytes`:
//! op 0 feeds `len` bytes, op 1 advances the clock by `len` ms (then
//! runs due timers), op 2 asks for TEARDOWN, anything else feeds too.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_rtsp::framing::MAX_MESSAGE;
use mjpeg_rtp_rtsp::{Event, Interleaved, Session, SessionConfig, TransportRequest};
use url::Url;

/// Requests and answers queued between two drains: one request, one
/// answer per server request in a read, bounded by the bytes read.
const MAX_QUEUED: usize = 4096;

/// Everything the session has for us; `left_server` becomes true once a
/// redirect went to another host or port.
fn drain(session: &mut Session, now: Instant, left_server: &mut bool) {
    while let Some(item) = session.poll_input(now) {
        match item {
            Interleaved::Rtp(d) | Interleaved::Rtcp(d) => assert!(d.len() <= 65_535),
            Interleaved::Other { len, .. } => assert!(len <= 65_535),
            _ => {}
        }
    }
    let mut sent = 0;
    while let Some(bytes) = session.poll_transmit() {
        assert!(!bytes.is_empty());
        // After a redirect to another server the session holds no
        // credentials: nothing it sends may answer a challenge.
        if *left_server {
            assert!(
                !contains(&bytes, b"Authorization"),
                "credentials to another server"
            );
        }
        sent += 1;
        assert!(sent <= MAX_QUEUED);
    }
    let mut events = 0;
    while let Some(event) = session.poll_event() {
        match event {
            Event::Redirect { url } => {
                assert!(url.username().is_empty() && url.password().is_none());
                let same = url.host_str() == Some(HOST) && url.port().unwrap_or(554) == 554;
                *left_server |= !same;
                session.on_connected(now);
            }
            Event::Join { .. } => session.play(now),
            _ => {}
        }
        events += 1;
        assert!(events <= MAX_QUEUED);
    }
    assert!(session.buffered_bytes() <= MAX_MESSAGE);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The host of both URLs below.
const HOST: &str = "192.0.2.7";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let url = if flags & 2 != 0 {
        "rtsp://admin:12345@192.0.2.7:554/Streaming/Channels/102"
    } else {
        "rtsp://192.0.2.7/cam"
    };
    let transport = match flags & 0b101 {
        0b001 => TransportRequest::Tcp,
        0b100 => TransportRequest::Multicast {
            destination: None,
            port: None,
            ttl: None,
        },
        0b101 => TransportRequest::Multicast {
            destination: Some("239.1.2.3".parse().unwrap()),
            port: Some((5000, 5001)),
            ttl: Some(4),
        },
        _ => TransportRequest::Udp {
            client_port: (50_000, 50_001),
            fallback_to_tcp: true,
        },
    };
    let mut session = Session::new(SessionConfig::new(Url::parse(url).unwrap(), transport));
    let mut now = Instant::now();
    let mut left_server = false;
    session.on_connected(now);
    drain(&mut session, now, &mut left_server);
    while let [op, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        match op {
            1 => {
                now += Duration::from_millis(len as u64);
                if session.poll_timeout().is_some_and(|t| t <= now) {
                    session.handle_timeout(now);
                }
                rest = tail;
            }
            2 => {
                session.teardown(now);
                rest = tail;
            }
            3 => {
                // The same as handle_input, read into the session's room.
                let (bytes, after) = tail.split_at(len.min(tail.len()));
                let room = session.input_buffer(bytes.len().max(1));
                room[..bytes.len()].copy_from_slice(bytes);
                session.input_read(bytes.len());
                rest = after;
            }
            _ => {
                let (bytes, after) = tail.split_at(len.min(tail.len()));
                session.handle_input(bytes);
                rest = after;
            }
        }
        drain(&mut session, now, &mut left_server);
    }
});
