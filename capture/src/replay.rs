//! Replay: rebuild the frames of every RTP/JPEG stream in a capture.
//!
//! Streams: each UDP destination port, and within a port each SSRC, gets
//! its own core [`Depacketizer`]; so does each channel of each RTSP/TCP
//! connection carrying interleaved RTP ([`crate::interleaved`]; two
//! connections to one server port, as two cameras behind one NVR give,
//! stay apart), and within it each SSRC: each a [`Source`]. Only a
//! datagram that passes [`validate`] opens a stream, so garbage never
//! does. A datagram that fails validation is counted (`packets_invalid`)
//! on the stream of its source that last received a valid packet; if its
//! source has no stream yet, it waits and is counted on the source's
//! first stream when one opens. A source that never carries a valid
//! RTP/JPEG packet opens no stream and its port is listed under
//! `ignored_ports` instead (RTCP on port+1, say).
//!
//! Time is the capture's timestamps; at the end every stream is flushed,
//! so frames still incomplete count as dropped (`lost`).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Result;
use mjpeg_rtp::{max_fps_thinning, CameraConfig};
use mjpeg_rtp_core::{
    frame_buffer_len, validate, Config, Depacketizer, FrameInfo, Instant, InvalidCounts,
    StreamStats, Thinning, TimestampOrder, Verdict,
};

use crate::interleaved::{Connections, InterleavedRtp, Segment};
use crate::reader::{self, Packet};
use crate::summary::{
    invalid_reasons, CaptureSummary, IgnoredPort, InterleavedStream, StreamSummary, Summary,
};

/// Frames in flight per stream: room for reordering across frames.
pub const FRAMES_IN_FLIGHT: usize = 4;
/// Streams followed at most; valid packets of further SSRCs are counted
/// (`capture.over_stream_limit`) and otherwise ignored, so that a capture
/// full of random SSRCs cannot exhaust memory.
pub const MAX_STREAMS: usize = 256;

/// Which streams of a capture are rebuilt, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Destination ports to follow; empty: all.
    pub ports: Vec<u16>,
    /// Dynamic payload type (96..=127) accepted besides the static 26.
    pub payload_type: Option<u8>,
    /// Largest JPEG scan data per frame, in bytes; larger frames are
    /// dropped. Every frame in flight of every stream holds a buffer this
    /// large.
    pub max_frame_bytes: usize,
    /// At most this many frames per second of each stream, by RTP
    /// timestamp ([`Thinning`]; the same frames a live camera with this
    /// `max_fps` keeps); `None` keeps every frame.
    pub max_fps: Option<f64>,
}

impl Default for Options {
    /// Every port, payload type 26 only, the runtime's default frame limit.
    fn default() -> Self {
        Options {
            ports: Vec::new(),
            payload_type: None,
            max_frame_bytes: CameraConfig::DEFAULT_MAX_FRAME_BYTES,
            max_fps: None,
        }
    }
}

/// Where a stream's packets came from in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// UDP datagrams to this destination port.
    Udp { port: u16 },
    /// RTP interleaved on `channel` of the RTSP/TCP connection between
    /// `server` (the side that sent it) and `client`.
    Interleaved {
        server: SocketAddr,
        client: SocketAddr,
        channel: u8,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Udp { port } => write!(f, "port {port}"),
            Source::Interleaved {
                server,
                client,
                channel,
            } => write!(f, "RTSP/TCP {server} -> {client} channel {channel}"),
        }
    }
}

impl Source {
    /// The UDP destination port, or the server's TCP port: the `port` of
    /// the stream's summary entry.
    pub fn port(&self) -> u16 {
        match self {
            Source::Udp { port } => *port,
            Source::Interleaved { server, .. } => server.port(),
        }
    }
}

impl Source {
    /// Whether `stream`, an entry of a run's summary, is this source's
    /// stream `ssrc`: two RTSP/TCP connections to one server port (two
    /// cameras behind one NVR, or one camera reconnecting) are told
    /// apart by their ends and channel.
    pub fn is_summarised_by(&self, stream: &StreamSummary, ssrc: u32) -> bool {
        let same_source = match self {
            Source::Udp { port } => stream.counters.port == *port && stream.interleaved.is_none(),
            Source::Interleaved {
                server,
                client,
                channel,
            } => stream
                .interleaved
                .is_some_and(|i| (i.server, i.client, i.channel) == (*server, *client, *channel)),
        };
        same_source && stream.ssrc_value() == Some(ssrc)
    }
}

/// A complete frame handed to the caller of [`replay`].
#[derive(Debug, Clone, Copy)]
pub struct ReplayFrame<'a> {
    pub source: Source,
    pub info: FrameInfo,
    pub jpeg: &'a [u8],
    /// The counters of the frame's stream as of its completion.
    pub stream: StreamStats,
}

struct Stream {
    source: Source,
    depacketizer: Depacketizer<Vec<u8>, FRAMES_IN_FLIGHT>,
    /// Refused datagrams attributed to this stream by the demultiplexer
    /// (the depacketizer counts its own, e.g. sequence jumps).
    invalid: InvalidCounts,
    thinning: Option<Thinning>,
    /// Complete frames left out by `thinning`.
    frames_thinned: u64,
    order: TimestampOrder,
    /// Complete frames `order` refused.
    frames_dropped_out_of_order: u64,
}

/// What a [`Source`] carried, stream or not.
#[derive(Default)]
struct SourceState {
    datagrams: u64,
    /// Index into `Demux::streams` of the stream last given a valid packet.
    last_active: Option<usize>,
    /// Refused before the source had any stream.
    pending_invalid: InvalidCounts,
}

/// Demultiplexes datagrams to one depacketizer per (source, SSRC).
pub struct Demux {
    config: Config,
    /// Each new stream's thinning (a copy, so each has its own grid
    /// position).
    thinning: Option<Thinning>,
    buffer_len: usize,
    sources: HashMap<Source, SourceState>,
    /// Datagrams and refusals of ended sources that opened no stream, by
    /// port: what `ignored_ports` sums for them (see
    /// [`Demux::source_ended`]).
    ended_ignored: BTreeMap<u16, (u64, InvalidCounts)>,
    /// In order of first appearance.
    streams: Vec<Stream>,
    by_key: HashMap<(Source, u32), usize>,
    over_limit: u64,
}

impl Demux {
    /// Every stream gets a depacketizer with `config` and
    /// [`FRAMES_IN_FLIGHT`] frame buffers of `buffer_len` bytes (see
    /// [`frame_buffer_len`]).
    pub fn new(config: Config, buffer_len: usize) -> Self {
        Demux {
            config,
            thinning: None,
            buffer_len,
            sources: HashMap::new(),
            ended_ignored: BTreeMap::new(),
            streams: Vec::new(),
            by_key: HashMap::new(),
            over_limit: 0,
        }
    }

    /// Keep at most `thinning`'s rate of frames of every stream opened
    /// from now on.
    pub fn with_thinning(mut self, thinning: Option<Thinning>) -> Self {
        self.thinning = thinning;
        self
    }

    /// Feed one datagram (or interleaved packet) from `source`; hand out
    /// the frames it completed.
    pub fn push(
        &mut self,
        source: Source,
        now: Instant,
        datagram: &[u8],
        on_frame: &mut dyn FnMut(ReplayFrame<'_>) -> Result<()>,
    ) -> Result<()> {
        let port = source.port();
        let entry = self.sources.entry(source).or_default();
        entry.datagrams += 1;
        let (rtp, payload) = match validate(datagram, self.config.dynamic_payload_type) {
            Ok(v) => v,
            Err(reason) => {
                match entry.last_active.and_then(|i| self.streams.get_mut(i)) {
                    Some(stream) => stream.invalid.add(reason),
                    None => entry.pending_invalid.add(reason),
                }
                return Ok(());
            }
        };
        let key = (source, rtp.ssrc());
        let index = match self.by_key.get(&key) {
            Some(&i) => i,
            None if self.streams.len() >= MAX_STREAMS => {
                if self.over_limit == 0 {
                    log::warn!("more than {MAX_STREAMS} streams: ignoring further SSRCs");
                }
                self.over_limit += 1;
                return Ok(());
            }
            None => {
                let i = self.streams.len();
                let len = self.buffer_len;
                let buffers = std::array::from_fn(|_| vec![0u8; len]);
                let invalid = std::mem::take(&mut entry.pending_invalid);
                log::info!("{source}: new stream, SSRC 0x{:08x}", rtp.ssrc());
                self.streams.push(Stream {
                    source,
                    depacketizer: Depacketizer::new(self.config, buffers),
                    invalid,
                    thinning: self.thinning,
                    frames_thinned: 0,
                    order: TimestampOrder::new(self.config.reorder_window),
                    frames_dropped_out_of_order: 0,
                });
                self.by_key.insert(key, i);
                i
            }
        };
        entry.last_active = Some(index);
        let Some(stream) = self.streams.get_mut(index) else {
            return Ok(());
        };
        let verdict = stream.depacketizer.push_valid(now, &rtp, &payload);
        log::trace!(
            "port {port} ssrc 0x{:08x} seq {} ts {}: {verdict:?}",
            rtp.ssrc(),
            rtp.sequence(),
            rtp.timestamp()
        );
        if verdict != Verdict::Completed {
            return Ok(());
        }
        let counters = stream.depacketizer.stats();
        while let Some(frame) = stream.depacketizer.next_frame() {
            // A capture hands out every complete frame, in the order
            // frames complete. Thinned, it keeps what a live camera with
            // that max_fps keeps: stragglers refused first, as live, then
            // the same grid.
            if let Some(thinning) = stream.thinning.as_mut() {
                if !stream.order.admit(&frame.info) {
                    stream.frames_dropped_out_of_order += 1;
                    continue;
                }
                if !thinning.keep(&frame.info) {
                    stream.frames_thinned += 1;
                    continue;
                }
            }
            on_frame(ReplayFrame {
                source,
                info: frame.info,
                jpeg: frame.jpeg,
                stream: counters,
            })?;
        }
        Ok(())
    }

    /// Nothing more comes from `source` (its RTSP/TCP connection ended):
    /// unless it opened a stream, what it carried is added to its port's
    /// `ignored_ports` totals and the source is forgotten, so that a
    /// capture of many short connections keeps only those still open.
    /// Sources with a stream stay ([`MAX_STREAMS`] bounds them), so that
    /// a later connection between the same ends counts on their streams
    /// as before. Whether `source` has a stream.
    pub fn source_ended(&mut self, source: &Source) -> bool {
        let Some(state) = self.sources.get(source) else {
            return false;
        };
        if state.last_active.is_some() {
            return true;
        }
        if let Some(state) = self.sources.remove(source) {
            let (datagrams, invalid) = self.ended_ignored.entry(source.port()).or_default();
            *datagrams += state.datagrams;
            invalid.merge(&state.pending_invalid);
        }
        false
    }

    /// Valid datagrams ignored because [`MAX_STREAMS`] streams were open.
    pub fn over_stream_limit(&self) -> u64 {
        self.over_limit
    }

    /// End of input: drop what is still incomplete and summarize. Streams
    /// are sorted by port, then first appearance; an interleaved stream's
    /// entry names its connection and channel (`channel_assumed` false:
    /// the caller knows better). Sources without a stream are summed by
    /// port into `ignored_ports`.
    pub fn finish(mut self) -> Summary {
        for s in &mut self.streams {
            s.depacketizer.flush();
        }
        let mut streams: Vec<StreamSummary> = self
            .streams
            .iter()
            .map(|s| {
                let mut invalid = s.invalid;
                invalid.merge(s.depacketizer.invalid());
                let mut summary =
                    StreamSummary::new(s.source.port(), &s.depacketizer.stats(), &invalid);
                summary.frames_thinned = s.frames_thinned;
                summary.frames_dropped_out_of_order = s.frames_dropped_out_of_order;
                if let Source::Interleaved {
                    server,
                    client,
                    channel,
                } = s.source
                {
                    summary.interleaved = Some(InterleavedStream {
                        channel,
                        channel_assumed: false,
                        server,
                        client,
                    });
                }
                summary
            })
            .collect();
        // Stable: first appearance order is kept within a port.
        streams.sort_by_key(|s| s.counters.port);
        let mut ignored = std::mem::take(&mut self.ended_ignored);
        for (source, state) in &self.sources {
            if state.last_active.is_none() {
                let (datagrams, invalid) = ignored.entry(source.port()).or_default();
                *datagrams += state.datagrams;
                invalid.merge(&state.pending_invalid);
            }
        }
        let ignored_ports = ignored
            .into_iter()
            .map(|(port, (datagrams, invalid))| IgnoredPort {
                port,
                datagrams,
                invalid_reasons: invalid_reasons(&invalid),
            })
            .collect();
        Summary {
            streams,
            capture: None,
            ignored_ports,
        }
    }
}

/// Replay the capture at `path`, calling `on_frame` for every complete
/// frame in the order they complete.
pub fn replay(
    path: &Path,
    options: &Options,
    mut on_frame: impl FnMut(ReplayFrame<'_>) -> Result<()>,
) -> Result<Summary> {
    let config = Config {
        dynamic_payload_type: options.payload_type,
        ..Config::default()
    };
    let thinning = options
        .max_fps
        .map(|fps| {
            max_fps_thinning(fps)
                .ok_or_else(|| anyhow::anyhow!("max_fps must be 0.001..=1000, not {fps}"))
        })
        .transpose()?;
    let new_demux =
        || Demux::new(config, frame_buffer_len(options.max_frame_bytes)).with_thinning(thinning);
    let mut demux = new_demux();
    let mut tcp = TcpSide {
        ports: &options.ports,
        demux: new_demux(),
        open: HashMap::new(),
        channel_assumed: HashMap::new(),
        filtered: 0,
        time: Instant::ZERO,
    };
    let mut connections = Connections::default();
    let mut capture_summary = CaptureSummary::default();
    let mut filtered = 0;
    reader::read(path, &mut capture_summary, |packet| match packet {
        Packet::Udp(d) => {
            let port = d.dst.port();
            if !options.ports.is_empty() && !options.ports.contains(&port) {
                filtered += 1;
                return Ok(());
            }
            demux.push(Source::Udp { port }, d.time, d.payload, &mut on_frame)
        }
        Packet::Tcp(time, segment) => tcp.segment(&mut connections, time, segment, &mut on_frame),
    })?;
    let mut result = Ok(());
    let rtsp_tcp = connections.finish(&mut |p| tcp.packet(p, &mut on_frame, &mut result));
    result?;
    tcp.every_connection_ended();
    capture_summary.filtered = filtered;
    capture_summary.tcp_filtered = tcp.filtered;
    if capture_summary.tcp_segments > 0 {
        capture_summary.rtsp_tcp = Some(rtsp_tcp);
    }
    capture_summary.over_stream_limit = demux.over_stream_limit() + tcp.demux.over_stream_limit();
    let mut summary = demux.finish();
    let interleaved = tcp.demux.finish();
    for mut stream in interleaved.streams {
        if let Some(i) = stream.interleaved.as_mut() {
            let source = Source::Interleaved {
                server: i.server,
                client: i.client,
                channel: i.channel,
            };
            i.channel_assumed = tcp.channel_assumed.get(&source).copied().unwrap_or(false);
        }
        summary.streams.push(stream);
    }
    summary.streams.sort_by_key(|s| s.counters.port);
    summary.ignored_ports.extend(interleaved.ignored_ports);
    summary.ignored_ports.sort_by_key(|p| p.port);
    summary.capture = Some(capture_summary);
    Ok(summary)
}

/// The streams of RTP interleaved in RTSP/TCP: a demultiplexer of their
/// own, so that its stream limit is its own.
struct TcpSide<'a> {
    ports: &'a [u16],
    demux: Demux,
    /// Each open connection (server, client) that carried interleaved
    /// RTP: its channels, and whether each was assumed to carry RTP (as
    /// of its last packet). Forgotten when the connection ends.
    open: HashMap<(SocketAddr, SocketAddr), Vec<(u8, bool)>>,
    /// Whether the channel of each ended connection's source that has a
    /// stream was assumed (sources without one are not summarised).
    channel_assumed: HashMap<Source, bool>,
    /// Interleaved packets skipped by `--port`.
    filtered: u64,
    /// Capture time of the segment being read.
    time: Instant,
}

impl TcpSide<'_> {
    /// One TCP segment of the capture, at `time`: the interleaved RTP it
    /// completes goes to the streams.
    fn segment(
        &mut self,
        connections: &mut Connections,
        time: Instant,
        segment: Segment<'_>,
        on_frame: &mut dyn FnMut(ReplayFrame<'_>) -> Result<()>,
    ) -> Result<()> {
        self.time = time;
        let mut result = Ok(());
        connections.push(segment, &mut |p| self.packet(p, on_frame, &mut result));
        // The connections end the segment's direction with it.
        if segment.end {
            self.connection_ended((segment.src, segment.dst));
        }
        result
    }

    /// The connection `(server, client)` ended: its sources are done
    /// with ([`Demux::source_ended`]); what a summary says of their
    /// streams is kept.
    fn connection_ended(&mut self, (server, client): (SocketAddr, SocketAddr)) {
        let Some(channels) = self.open.remove(&(server, client)) else {
            return;
        };
        for (channel, assumed) in channels {
            let source = Source::Interleaved {
                server,
                client,
                channel,
            };
            if self.demux.source_ended(&source) {
                self.channel_assumed.insert(source, assumed);
            }
        }
    }

    /// The end of the capture ends the connections still open.
    fn every_connection_ended(&mut self) {
        let open: Vec<_> = self.open.keys().copied().collect();
        for connection in open {
            self.connection_ended(connection);
        }
    }

    /// One interleaved RTP packet; the first error is kept in `result`
    /// and ends the work.
    fn packet(
        &mut self,
        p: InterleavedRtp<'_>,
        on_frame: &mut dyn FnMut(ReplayFrame<'_>) -> Result<()>,
        result: &mut Result<()>,
    ) {
        if result.is_err() {
            return;
        }
        if !self.ports.is_empty() && !self.ports.contains(&p.server.port()) {
            self.filtered += 1;
            return;
        }
        let source = Source::Interleaved {
            server: p.server,
            client: p.client,
            channel: p.channel,
        };
        let channels = self.open.entry((p.server, p.client)).or_default();
        match channels
            .iter_mut()
            .find(|(channel, _)| *channel == p.channel)
        {
            Some((_, assumed)) => *assumed = p.channel_assumed,
            None => channels.push((p.channel, p.channel_assumed)),
        }
        *result = self.demux.push(source, self.time, p.data, on_frame);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use etherparse::PacketBuilder;
    use pcap_file::pcap::{PcapPacket, PcapWriter};

    use super::*;

    impl TcpSide<'_> {
        /// Entries kept about connections and their sources.
        fn entries_held(&self) -> usize {
            self.demux.sources.len() + self.open.len() + self.channel_assumed.len()
        }
    }

    /// A TCP segment from `src` to `dst` with its own SYN and FIN: a
    /// whole one-segment connection.
    struct Short {
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: Vec<u8>,
    }

    impl Short {
        fn segment(&self) -> Segment<'_> {
            Segment {
                src: self.src.into(),
                dst: self.dst.into(),
                seq: 1000,
                syn: true,
                end: true,
                payload: &self.payload,
            }
        }
    }

    fn write_capture(path: &Path, segments: &[Short]) {
        let file = std::fs::File::create(path).unwrap();
        let mut writer = PcapWriter::new(std::io::BufWriter::new(file)).unwrap();
        for (i, s) in segments.iter().enumerate() {
            let builder = PacketBuilder::ethernet2([0; 6], [0; 6])
                .ipv4(s.src.ip().octets(), s.dst.ip().octets(), 64)
                .tcp(s.src.port(), s.dst.port(), 1000, 65535)
                .syn()
                .fin();
            let mut data = Vec::new();
            builder.write(&mut data, &s.payload).unwrap();
            let time = std::time::Duration::from_micros(i as u64);
            let len = data.len() as u32;
            writer
                .write_packet(&PcapPacket::new_owned(time, len, data))
                .unwrap();
        }
    }

    /// Many one-segment connections from a server, the first carrying a
    /// valid RTP/JPEG packet, the rest an empty interleaved frame: what
    /// is kept about them stays bounded, and every packet is counted.
    #[test]
    fn many_short_connections_hold_bounded_state_and_are_counted() {
        const EMPTY: u16 = 20_000;
        let server = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 554);
        let client =
            |n: u16| SocketAddrV4::new(Ipv4Addr::new(10, 1, (n >> 8) as u8, n as u8), 40_000);
        // Marker, PT 26, sequence 1, timestamp 1, SSRC 9; then a whole
        // frame in one packet: offset 0, type 0, Q 50, 16x16.
        let mut rtp = vec![0x80, 0x80 | 26, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        rtp.extend_from_slice(&[0, 0, 0, 0, 0, 50, 2, 2, 0xff, 0xd9]);
        let mut segments = vec![Short {
            src: server,
            dst: client(0),
            payload: mjpeg_rtp_rtsp::framing::interleaved(0, &rtp).unwrap(),
        }];
        segments.extend((1..=EMPTY).map(|n| Short {
            src: server,
            dst: client(n),
            payload: b"$\0\0\0".to_vec(),
        }));

        let mut tcp = TcpSide {
            ports: &[],
            demux: Demux::new(Config::default(), frame_buffer_len(1 << 16)),
            open: HashMap::new(),
            channel_assumed: HashMap::new(),
            filtered: 0,
            time: Instant::ZERO,
        };
        let mut connections = Connections::default();
        let mut most = 0;
        for s in &segments {
            tcp.segment(
                &mut connections,
                Instant::ZERO,
                s.segment(),
                &mut |_| Ok(()),
            )
            .unwrap();
            most = most.max(tcp.entries_held());
        }
        // The stream's source and whether its channel was assumed: the
        // ended connections without a stream leave nothing behind.
        assert!(most <= 2, "{most} entries held");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.pcap");
        write_capture(&path, &segments);
        let summary = replay(&path, &Options::default(), |_| Ok(())).unwrap();
        let capture = summary.capture.unwrap();
        let rtsp_tcp = capture.rtsp_tcp.unwrap();
        assert_eq!(rtsp_tcp.rtp_packets, u64::from(EMPTY) + 1);
        assert_eq!(rtsp_tcp.connections_over_limit, 0);
        let [stream] = &summary.streams[..] else {
            panic!("streams: {:?}", summary.streams);
        };
        assert_eq!(stream.counters.packets_received, 1);
        let interleaved = stream.interleaved.unwrap();
        assert_eq!(interleaved.client, client(0).into());
        assert!(interleaved.channel_assumed);
        let [ignored] = &summary.ignored_ports[..] else {
            panic!("ignored ports: {:?}", summary.ignored_ports);
        };
        assert_eq!((ignored.port, ignored.datagrams), (554, u64::from(EMPTY)));
        assert_eq!(
            ignored.invalid_reasons,
            BTreeMap::from([("rtp_truncated".to_owned(), u64::from(EMPTY))])
        );
    }
}
