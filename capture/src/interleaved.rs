//! RTP interleaved in RTSP over TCP (RFC 2326 10.12), out of a capture:
//! each direction of each TCP connection is reassembled ([`crate::tcp`])
//! and split by the rtsp crate's [`Framer`] into RTSP messages and
//! `$`-framed packets.
//!
//! After a hole in the stream (or at its start, when the capture joined
//! the connection late) the bytes are not handed to the framer until an
//! item start is found that the bytes after it confirm: an `RTSP/1.0 `
//! reply, or a `$` frame holding an RTP version 2 header whose end is
//! followed by the next `$` or `RTSP`. A `$` inside JPEG data would
//! otherwise pass for a frame header and its length swallow real packets.
//!
//! Which channel carries RTP comes from the server's SETUP replies
//! (`Transport: ...;interleaved=RTP-RTCP`) when the capture holds them;
//! without one on a connection, channel 0 is taken as RTP (what clients
//! ask for first) and the stream says it was assumed. Packets on other
//! channels (RTCP, other tracks) are counted, not replayed.
//!
//! Each packet names its connection (both ends) and channel, which the
//! replay keeps apart: two cameras behind one NVR port are two
//! connections to it, two streams. A stream's `port` is the TCP port of
//! the side that sent the packets: the RTSP server's port (554, 8554,
//! ...), so that `--port 554` picks a camera recorded over TCP as
//! `--port 5004` picks one over UDP.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;

use mjpeg_rtp_rtsp::framing::{Framer, Item};
use mjpeg_rtp_rtsp::headers::parse_transport;
use serde::{Deserialize, Serialize};

use crate::tcp::{Chunk, Reassembler, TcpCounters};

/// Connections followed at most; segments of further ones are counted
/// (`connections_over_limit`), so that a capture of many short
/// connections cannot exhaust memory.
pub const MAX_CONNECTIONS: usize = 1024;

/// One TCP segment of the capture.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub syn: bool,
    /// FIN or RST: the direction ends here (after this payload).
    pub end: bool,
    pub payload: &'a [u8],
}

/// An interleaved RTP packet: its connection (the side that sent it,
/// the RTSP server, and the other end), its channel, and whether that
/// channel was assumed to be RTP (no SETUP reply seen on the
/// connection).
#[derive(Debug, Clone, Copy)]
pub struct InterleavedRtp<'a> {
    pub server: SocketAddr,
    pub client: SocketAddr,
    pub channel: u8,
    pub channel_assumed: bool,
    pub data: &'a [u8],
}

/// What the RTSP-over-TCP side of a capture held (`capture.rtsp_tcp` in
/// the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtspTcpSummary {
    /// TCP segments with payload, and what reassembly did with them.
    pub segments: u64,
    pub retransmitted: u64,
    pub out_of_order: u64,
    /// Holes: bytes the capture never held.
    pub gaps: u64,
    /// Connection directions the capture joined after their SYN.
    pub joined_mid_stream: u64,
    /// RTSP messages seen, and SETUP replies that named channels.
    pub messages: u64,
    pub setup_replies: u64,
    /// Interleaved packets on a channel taken as RTP, and on others.
    pub rtp_packets: u64,
    pub other_channel_packets: u64,
    /// Items of a kind this reader does not know (none today).
    #[serde(default)]
    pub other_items: u64,
    /// Bytes the framer skipped to find the next message or packet.
    pub bytes_skipped: u64,
    pub connections_over_limit: u64,
}

/// Bytes held while looking for a confirmed item start after a hole:
/// more than the largest interleaved frame (4 + 65535 bytes) and the one
/// after it need.
const MAX_RESYNC: usize = 256 * 1024;

/// One direction of a connection.
#[derive(Debug, Default)]
struct Flow {
    tcp: Reassembler,
    framer: Framer,
    /// Bytes skipped by framers of this flow that were replaced, and
    /// while resynchronizing.
    skipped_before: u64,
    /// After a hole: the bytes since, until an item start is confirmed.
    resync: Option<Vec<u8>>,
}

/// Where in `buf` a confirmed item starts (see the module doc); `None`
/// when there is none yet (more bytes may tell).
fn confirmed_start(buf: &[u8]) -> Option<usize> {
    let starts_item = |rest: &[u8]| rest.first() == Some(&b'$') || rest.starts_with(b"RTSP");
    for p in 0..buf.len() {
        let rest = &buf[p..];
        if rest.starts_with(b"RTSP/1.0 ") {
            return Some(p);
        }
        if rest[0] != b'$' {
            continue;
        }
        let (Some(len), Some(&first)) = (rest.get(2..4), rest.get(4)) else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if first >> 6 != 2 || len < 12 {
            continue;
        }
        match rest.get(4 + len..) {
            Some(after) if after.len() >= 4 => {
                if starts_item(after) {
                    return Some(p);
                }
            }
            // Not enough bytes yet to confirm this one.
            _ => return None,
        }
    }
    None
}

/// The channels a connection's SETUP replies named.
#[derive(Debug, Default)]
struct Channels {
    rtp: Vec<u8>,
    rtcp: Vec<u8>,
}

/// Every RTSP-over-TCP connection of a capture.
#[derive(Debug, Default)]
pub struct Connections {
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    /// Keyed by (server, client): what that connection's SETUP replies
    /// said.
    channels: HashMap<(SocketAddr, SocketAddr), Channels>,
    summary: RtspTcpSummary,
    ended: TcpCounters,
}

impl Connections {
    /// One segment; the interleaved RTP packets it completes go to
    /// `on_packet`.
    pub fn push(&mut self, segment: Segment<'_>, on_packet: &mut dyn FnMut(InterleavedRtp<'_>)) {
        let key = (segment.src, segment.dst);
        if !self.flows.contains_key(&key) && self.flows.len() >= MAX_CONNECTIONS * 2 {
            self.summary.connections_over_limit += 1;
            return;
        }
        let mut flow = self.flows.remove(&key).unwrap_or_default();
        {
            let Flow {
                tcp,
                framer,
                skipped_before,
                resync,
            } = &mut flow;
            let mut feed = |c: Chunk<'_>| {
                let chunk = resynced(framer, skipped_before, resync, c);
                if let Some(bytes) = chunk {
                    self.feed(framer, key, &bytes, on_packet);
                }
            };
            tcp.push(segment.seq, segment.syn, segment.payload, &mut feed);
            if segment.end {
                tcp.finish(&mut feed);
            }
        }
        if segment.end {
            self.retire(key, flow);
        } else {
            self.flows.insert(key, flow);
        }
    }

    /// End of the capture: what waits behind holes is parsed too; the
    /// summary.
    pub fn finish(mut self, on_packet: &mut dyn FnMut(InterleavedRtp<'_>)) -> RtspTcpSummary {
        let flows: Vec<_> = self.flows.drain().collect();
        for (key, mut flow) in flows {
            let Flow {
                tcp,
                framer,
                skipped_before,
                resync,
            } = &mut flow;
            tcp.finish(&mut |c| {
                if let Some(bytes) = resynced(framer, skipped_before, resync, c) {
                    self.feed(framer, key, &bytes, on_packet);
                }
            });
            if let Some(rest) = flow.resync.take() {
                flow.skipped_before += rest.len() as u64;
            }
            self.retire(key, flow);
        }
        let tcp = self.ended;
        RtspTcpSummary {
            segments: tcp.segments,
            retransmitted: tcp.retransmitted,
            out_of_order: tcp.out_of_order,
            gaps: tcp.gaps,
            joined_mid_stream: tcp.joined_mid_stream,
            ..self.summary
        }
    }

    /// A flow's counters into the summary, once it is done; the channels
    /// its SETUP replies named are forgotten with it.
    fn retire(&mut self, key: (SocketAddr, SocketAddr), flow: Flow) {
        self.channels.remove(&key);
        self.ended.add(&flow.tcp.counters());
        self.summary.bytes_skipped += flow.skipped_before + flow.framer.skipped();
    }

    /// Bytes of the flow `(src, dst)` into its framer, and what the
    /// framer splits out onward.
    fn feed(
        &mut self,
        framer: &mut Framer,
        (src, dst): (SocketAddr, SocketAddr),
        bytes: &[u8],
        on_packet: &mut dyn FnMut(InterleavedRtp<'_>),
    ) {
        framer.push(bytes);
        while let Some(item) = framer.next_item() {
            match item {
                Item::Message(message) => {
                    self.summary.messages += 1;
                    let rtsp_types::Message::Response(response) = message else {
                        continue;
                    };
                    let Some(transport) = response.header(&rtsp_types::headers::TRANSPORT) else {
                        continue;
                    };
                    if let Some((rtp, rtcp)) = parse_transport(transport.as_str()).interleaved {
                        self.summary.setup_replies += 1;
                        // Replies go server -> client, as the data does.
                        let channels = self.channels.entry((src, dst)).or_default();
                        channels.rtp.push(rtp);
                        channels.rtcp.push(rtcp);
                    }
                }
                Item::Data { channel, data } => {
                    let (is_rtp, assumed) = match self.channels.get(&(src, dst)) {
                        Some(c) => (c.rtp.contains(&channel), false),
                        None => (channel == 0, true),
                    };
                    if !is_rtp {
                        self.summary.other_channel_packets += 1;
                        continue;
                    }
                    self.summary.rtp_packets += 1;
                    on_packet(InterleavedRtp {
                        server: src,
                        client: dst,
                        channel,
                        channel_assumed: assumed,
                        data,
                    });
                }
                // The framer's items are `#[non_exhaustive]`: a kind it
                // learns later carries no RTP this reader knows.
                _ => self.summary.other_items += 1,
            }
        }
    }
}

/// What of `chunk` goes to the framer now: after a gap, nothing until a
/// confirmed item start, then the bytes from there (the framer starts
/// afresh at the gap).
fn resynced<'a>(
    framer: &mut Framer,
    skipped: &mut u64,
    resync: &mut Option<Vec<u8>>,
    chunk: Chunk<'a>,
) -> Option<Cow<'a, [u8]>> {
    let bytes = match chunk {
        Chunk::Gap => {
            *skipped += framer.skipped();
            *framer = Framer::default();
            if let Some(held) = resync.replace(Vec::new()) {
                *skipped += held.len() as u64;
            }
            return None;
        }
        Chunk::Data(bytes) => bytes,
    };
    let Some(held) = resync else {
        return Some(Cow::Borrowed(bytes));
    };
    held.extend_from_slice(bytes);
    match confirmed_start(held) {
        Some(start) => {
            *skipped += start as u64;
            let rest = held.split_off(start);
            *resync = None;
            Some(Cow::Owned(rest))
        }
        None => {
            if held.len() > MAX_RESYNC {
                // Keep what a frame and the next item's start could span.
                let cut = held.len() - MAX_RESYNC / 2;
                *skipped += cut as u64;
                held.drain(..cut);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(channel: u8, payload_len: usize) -> Vec<u8> {
        let mut rtp = vec![0x80, 26];
        rtp.resize(payload_len, 0x11);
        mjpeg_rtp_rtsp::framing::interleaved(channel, &rtp).expect("a packet under 64 KiB")
    }

    /// A `$` inside data is not taken for a frame: the start found is the
    /// one the next item confirms.
    #[test]
    fn the_start_after_a_hole_is_confirmed_by_the_next_item() {
        // A `$`, a length of 12 and an RTP-like byte: a frame by the
        // look of it, but what follows its end is no item.
        let mut bytes = vec![0x24, 0x00, 0x00, 0x0c, 0x80, 0x11, 0x11];
        let real = bytes.len();
        bytes.extend(frame(0, 40));
        bytes.extend(frame(0, 20));
        assert_eq!(confirmed_start(&bytes), Some(real));
        // Without the item after it, it cannot be confirmed yet.
        assert_eq!(confirmed_start(&bytes[..real + 44]), None);
        let mut reply = b"garbage".to_vec();
        reply.extend_from_slice(b"RTSP/1.0 200 OK\r\n");
        assert_eq!(confirmed_start(&reply), Some(7));
    }

    /// A connection joined late: the interleaved packets after the first
    /// confirmed start come out, on channel 0 assumed.
    #[test]
    fn a_connection_joined_mid_stream() {
        let mut stream = frame(0, 30);
        stream.extend(frame(0, 50));
        stream.extend(frame(1, 28));
        stream.extend(frame(0, 60));
        let server: SocketAddr = "127.0.0.1:554".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut connections = Connections::default();
        let mut got = Vec::new();
        let mut on_packet = |p: InterleavedRtp<'_>| {
            assert_eq!((p.server, p.client), (server, client));
            got.push((p.server.port(), p.channel, p.channel_assumed, p.data.len()))
        };
        // The capture starts 10 bytes into the first frame, in 7-byte
        // segments.
        for (i, piece) in stream[10..].chunks(7).enumerate() {
            let segment = Segment {
                src: server,
                dst: client,
                seq: 1000 + 7 * i as u32,
                syn: false,
                end: false,
                payload: piece,
            };
            connections.push(segment, &mut on_packet);
        }
        let summary = connections.finish(&mut on_packet);
        assert_eq!(got, [(554, 0, true, 50), (554, 0, true, 60)]);
        assert_eq!(summary.joined_mid_stream, 1);
        assert_eq!(summary.other_channel_packets, 1);
        assert_eq!(summary.bytes_skipped, 24);
    }
}
