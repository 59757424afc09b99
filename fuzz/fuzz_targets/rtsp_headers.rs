//! The tolerant header readers and URL rules of `mjpeg_rtp_rtsp::headers`
//! on arbitrary text: `Session`, `Transport`, the base URL from
//! Content-Base / Content-Location / the request URL, and the control
//! join. Never panics; what they return holds its promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_rtsp::headers::{base_url, join_control, parse_session, parse_transport, redact};
use url::Url;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Fields separated by newlines: session, transport, content-base,
    // content-location, control (an absent one is None).
    let mut fields = text.split('\n');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let (session, transport, base, location, control) = (next(), next(), next(), next(), next());

    if let Some(s) = session.and_then(parse_session) {
        assert!(!s.id.is_empty());
        assert_eq!(s.id, s.id.trim());
        assert!(!s.id.contains(';'));
        assert!(!s.timeout.is_zero());
    }
    if let Some(t) = transport {
        let _ = parse_transport(t);
    }
    let request = Url::parse("rtsp://user:pass@10.0.0.2:554/live?ch=1").unwrap();
    let base = base_url(base, location, &request);
    let _ = redact(&base);
    if let Some(joined) = join_control(&base, control) {
        // Whatever was joined is a URL again; the redacted form carries
        // no credentials. (Not a text search for the request's password:
        // a path may hold `pass@` legitimately.)
        let redacted = Url::parse(&redact(&joined)).expect("a redacted URL parses again");
        assert!(redacted.username().is_empty(), "{redacted}");
        assert!(redacted.password().is_none(), "{redacted}");
    }
});
