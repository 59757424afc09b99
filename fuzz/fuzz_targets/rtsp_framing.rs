//! The RTSP connection's byte stream split by `Framer`, fed in arbitrary
//! chunkings (pushed, or read into its room). Arbitrary bytes (messages,
//! `$` frames, garbage): never panics, and holds at most `MAX_MESSAGE`
//! bytes once drained. A
//! well-formed stream built from the same bytes (answers with bodies and
//! `$` frames, in any order): every item comes back exactly, in order,
//! however the bytes are cut (a message split across TCP reads is the
//! same message). Garbage is only promised no panic and a bounded buffer:
//! rtsp-types may call a prefix incomplete and the whole invalid, so where
//! a resync lands can depend on the cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_rtsp::framing::{Framer, Item, MAX_MESSAGE};

/// An item as comparable text.
fn describe(item: Item<'_>) -> String {
    match item {
        Item::Data { channel, data } => format!("${channel} {data:?}"),
        Item::Message(rtsp_types::Message::Response(r)) => {
            let cseq = r
                .header(&rtsp_types::headers::CSEQ)
                .map(|v| v.as_str().to_owned());
            format!("{} {cseq:?} {:?}", u16::from(r.status()), r.body())
        }
        Item::Message(m) => format!("{m:?}"),
        other => format!("{other:?}"),
    }
}

fn run(stream: &[u8], seed: u8) -> Vec<String> {
    let mut framer = Framer::default();
    let mut items = Vec::new();
    let (mut at, mut state) = (0, u32::from(seed) | 1);
    while at < stream.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let end = match seed {
            0 => stream.len(),
            _ => (at + 1 + state as usize % 64).min(stream.len()),
        };
        let chunk = &stream[at..end];
        if state & 0x100 != 0 {
            // Read straight into the framer's room, larger than what the
            // read wrote: whatever was in the room before must not count.
            let room = framer.read_buffer(chunk.len() + (state as usize >> 9) % 128);
            room[..chunk.len()].copy_from_slice(chunk);
            framer.filled(chunk.len());
        } else {
            framer.push(chunk);
        }
        at = end;
        while let Some(item) = framer.next_item() {
            items.push(describe(item));
        }
        assert!(framer.buffered() <= MAX_MESSAGE, "{}", framer.buffered());
    }
    items
}

fuzz_target!(|data: &[u8]| {
    // First byte: a seed for the chunk sizes; the rest is the stream.
    let Some((&seed, raw)) = data.split_first() else {
        return;
    };
    run(raw, 0);
    run(raw, seed);

    // The same bytes as a well-formed stream: an even byte opens a `$`
    // frame on channel b/2, an odd one an answer with CSeq b; the next
    // byte is the length of what follows (the frame's data, the body).
    let (mut stream, mut want) = (Vec::new(), Vec::new());
    let mut rest = raw;
    while let [kind, len, tail @ ..] = rest {
        let (body, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        if kind % 2 == 0 {
            stream.extend_from_slice(&[b'$', kind / 2, 0, body.len() as u8]);
            stream.extend_from_slice(body);
            want.push(format!("${} {body:?}", kind / 2));
        } else {
            stream.extend_from_slice(
                format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {kind}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            stream.extend_from_slice(body);
            want.push(format!("200 {:?} {body:?}", Some(kind.to_string())));
        }
    }
    assert_eq!(run(&stream, 0), want);
    assert_eq!(run(&stream, seed | 1), want);
});
