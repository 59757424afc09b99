//! The RTSP connection's byte stream (responses, requests and `$`
//! interleaved frames, or garbage) split by `Framer`, fed in arbitrary
//! chunkings: never panics, holds at most `MAX_MESSAGE` bytes once
//! drained, and yields the same items whether the bytes come at once or
//! in pieces (a message split across TCP reads is the same message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mjpeg_rtp_rtsp::framing::{Framer, Item, MAX_MESSAGE};

/// An item as comparable text.
fn describe(item: Item<'_>) -> String {
    match item {
        Item::Data { channel, data } => format!("${channel} {data:?}"),
        Item::Message(m) => format!("{m:?}"),
    }
}

fn run(chunks: &[&[u8]]) -> (Vec<String>, u64) {
    let mut framer = Framer::default();
    let mut items = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        while let Some(item) = framer.next_item() {
            items.push(describe(item));
        }
        assert!(framer.buffered() <= MAX_MESSAGE, "{}", framer.buffered());
    }
    (items, framer.skipped())
}

fuzz_target!(|data: &[u8]| {
    // First byte: a seed for the chunk sizes; the rest is the stream.
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = run(&[stream]);
    let mut chunks = Vec::new();
    let (mut at, mut state) = (0, u32::from(seed) | 1);
    while at < stream.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = 1 + (state as usize % 64);
        let end = (at + len).min(stream.len());
        chunks.push(&stream[at..end]);
        at = end;
    }
    let pieces = run(&chunks);
    // Skipped counts may differ only when a garbage run is cut short by
    // the end of the input; the items may not.
    assert_eq!(whole.0, pieces.0);
});
