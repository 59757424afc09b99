//! Per-camera settings.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mjpeg_rtp_core::{Thinning, MAX_SCAN_BYTES};

use crate::decode::DecodeOptions;
use crate::error::Error;

/// One camera: where to listen and what to expect.
///
/// Every field is public; [`CameraConfig::new`] fills in defaults safe for
/// any camera up to 4K at 30 fps.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    /// Name used in logs, stats and frames; unique within a client.
    pub id: String,
    /// Local address and port to bind. A multicast address binds the
    /// wildcard address of its family on that port and joins the group.
    pub bind: SocketAddr,
    /// Only datagrams from this host are used; others are counted as
    /// `packets_foreign` and ignored. `None` accepts any host.
    pub sender: Option<IpAddr>,
    /// Picture size to use when the RTP/JPEG header says 0 (above 2040
    /// pixels) and no ONVIF extension carries it.
    pub expected_size: Option<(u16, u16)>,
    /// Frame rate the camera is expected to send; informational (status
    /// lines, logs).
    pub expected_fps: Option<f32>,
    /// Frames assembled at once (the jitter buffer), 1..=16.
    pub frames_in_flight: usize,
    /// A frame still incomplete this long after its first packet is
    /// dropped.
    pub max_frame_age: Duration,
    /// Socket receive buffer to ask the kernel for, in bytes.
    pub socket_receive_buffer: usize,
    /// Largest JPEG scan data accepted; larger frames are dropped
    /// (`too_large`).
    pub max_frame_bytes: usize,
    /// Decoded frames kept for the consumer; when full the oldest is
    /// dropped (counted as `frames_dropped_queue`).
    pub queue_depth: usize,
    /// The dynamic RTP payload type (96..=127) accepted besides 26, when
    /// known (SDP, the camera's settings). `None` learns it from the
    /// stream: the first dynamic type that a few consecutive RFC 2435
    /// packets carry is locked (logged once, `payload_type_detected` in the
    /// stats), others are refused.
    pub dynamic_payload_type: Option<u8>,
    /// How far (in packets) a packet may arrive out of order and still be
    /// used, 1..=512; a frame missing a packet further back is dropped as
    /// lost.
    pub reorder_window: u16,
    /// Largest picture accepted; a frame beyond it is dropped as
    /// `dimensions_too_large` before any decode memory is spent on it.
    pub max_width: u16,
    pub max_height: u16,
    /// Once started, a camera that receives nothing from its sender for
    /// this long is reported in the log, once, with what to check; its
    /// first datagrams after that are reported too. Zero never reports.
    pub silence_warning: Duration,
    /// Pull the stream from an RTSP server instead of waiting for it to
    /// be pushed to `bind` ([`CameraConfig::rtsp`]).
    pub rtsp: Option<RtspSource>,
    /// Size and exactness of this camera's RGB; `None` takes the
    /// client's ([`Client::set_decode_options`](crate::Client::set_decode_options),
    /// full size and exact by default).
    pub decode: Option<DecodeOptions>,
    /// Decode this camera's frames to RGB (`Some(true)`), hand out only
    /// their JPEG (`Some(false)`), or do as the client does (`None`,
    /// [`Client::set_decode`](crate::Client::set_decode)).
    pub decode_rgb: Option<bool>,
    /// How frames reach the consumer ([`Delivery`]).
    pub delivery: Delivery,
    /// At most this many frames per second, chosen by RTP timestamp
    /// before decode ([`mjpeg_rtp_core::Thinning`]); the others are
    /// counted as [`CameraStats::frames_thinned`](crate::CameraStats::frames_thinned).
    /// `None` keeps every frame.
    pub max_fps: Option<f64>,
    /// A plain-UDP camera that sends RTCP to the port above RTP: bind it,
    /// take the sender reports for [`Frame::capture_time`](crate::Frame::capture_time)
    /// and answer with receiver reports (and a BYE on stop) to where they
    /// come from. Off by default; RTSP cameras always do RTCP.
    pub rtcp: bool,
}

/// How a camera's complete frames reach the consumer.
///
/// Either way the frames of one camera come out in the order of their
/// RTP timestamps, and a consumer that falls behind loses frames
/// (counted) rather than memory or freshness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Every frame, decoded as it completes, into a bounded queue
    /// ([`CameraConfig::queue_depth`]) that drops its oldest frame when
    /// full.
    #[default]
    Queue,
    /// Only the newest complete frame is kept, undecoded; taking it
    /// ([`Client::get_frame`](crate::Client::get_frame)) decodes it on the
    /// taker's thread. A frame replaced before anyone took it is never
    /// decoded (counted as [`CameraStats::frames_superseded`](crate::CameraStats::frames_superseded)),
    /// and no frame taken is older than one taken before.
    Latest,
}

impl std::str::FromStr for Delivery {
    type Err = &'static str;

    /// `queue` or `latest`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queue" => Ok(Delivery::Queue),
            "latest" => Ok(Delivery::Latest),
            _ => Err("delivery must be \"queue\" or \"latest\""),
        }
    }
}

/// Where and how an RTSP camera is asked for its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspSource {
    /// `rtsp://[user:pass@]host[:port]/path`. Never printed with its
    /// user info.
    pub url: String,
    pub transport: RtspTransport,
}

/// How RTP travels from an RTSP camera.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RtspTransport {
    /// RTP/AVP over UDP to an even/odd port pair of ours.
    Udp,
    /// Interleaved in the RTSP TCP connection.
    Tcp,
    /// RTP/AVP to a multicast group of the server's choice (its address
    /// pool), joined on the interface that reaches the server; several
    /// receivers on a host can share it.
    Multicast,
    /// UDP, then TCP if the server answers 461 or no RTP arrives within
    /// [`RTSP_UDP_PROBE`].
    #[default]
    Auto,
}

/// The range of [`CameraConfig::max_fps`]: the thinning grid counts in
/// thousandths of a frame per second.
const MIN_MAX_FPS: f64 = 0.001;
const MAX_MAX_FPS: f64 = 1000.0;

/// The thinning that keeps at most `max_fps` frames per second by RTP
/// timestamp, as a camera with that [`CameraConfig::max_fps`] does (for
/// a capture's replay, say); `None` outside 0.001..=1000.
pub fn max_fps_thinning(max_fps: f64) -> Option<Thinning> {
    if !(MIN_MAX_FPS..=MAX_MAX_FPS).contains(&max_fps) {
        return None;
    }
    // In range, so 1..=1e6 thousandths: no truncation, no sign to lose.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let millihertz = (max_fps * 1000.0).round() as u32;
    Thinning::new(millihertz)
}

/// How long `Auto` waits for the first UDP datagram before asking for
/// TCP instead (a NAT or firewall between camera and client).
pub const RTSP_UDP_PROBE: Duration = Duration::from_secs(3);

impl CameraConfig {
    /// Largest [`CameraConfig::frames_in_flight`]: the receive path's
    /// depacketizer has this many frame slots, a compile-time capacity.
    pub const MAX_FRAMES_IN_FLIGHT: usize = 16;
    pub const DEFAULT_FRAMES_IN_FLIGHT: usize = 4;
    pub const DEFAULT_MAX_FRAME_AGE: Duration = Duration::from_secs(1);
    pub const DEFAULT_SOCKET_RECEIVE_BUFFER: usize = 8 * 1024 * 1024;
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
    pub const DEFAULT_QUEUE_DEPTH: usize = 4;
    pub const DEFAULT_REORDER_WINDOW: u16 = 64;
    /// 8K UHD: every camera on the market, and an RGB frame (~100 MB) that
    /// still fits a decode worker.
    pub const DEFAULT_MAX_WIDTH: u16 = 7680;
    pub const DEFAULT_MAX_HEIGHT: u16 = 4320;
    /// Long enough for a camera that is still starting up, short enough
    /// for someone watching the log to be told.
    pub const DEFAULT_SILENCE_WARNING: Duration = Duration::from_secs(5);

    /// A camera with default settings.
    pub fn new(id: impl Into<String>, bind: SocketAddr) -> Self {
        CameraConfig {
            id: id.into(),
            bind,
            sender: None,
            expected_size: None,
            expected_fps: None,
            frames_in_flight: Self::DEFAULT_FRAMES_IN_FLIGHT,
            max_frame_age: Self::DEFAULT_MAX_FRAME_AGE,
            socket_receive_buffer: Self::DEFAULT_SOCKET_RECEIVE_BUFFER,
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            queue_depth: Self::DEFAULT_QUEUE_DEPTH,
            dynamic_payload_type: None,
            reorder_window: Self::DEFAULT_REORDER_WINDOW,
            max_width: Self::DEFAULT_MAX_WIDTH,
            max_height: Self::DEFAULT_MAX_HEIGHT,
            silence_warning: Self::DEFAULT_SILENCE_WARNING,
            rtsp: None,
            decode: None,
            decode_rgb: None,
            delivery: Delivery::Queue,
            max_fps: None,
            rtcp: false,
        }
    }

    /// A camera pulled over RTSP from `url`
    /// (`rtsp://[user:pass@]host[:port]/path`), transport
    /// [`RtspTransport::Auto`]. For UDP a port pair is bound on
    /// `bind`'s address (the wildcard address by default, port chosen by
    /// the system).
    pub fn rtsp(id: impl Into<String>, url: impl Into<String>) -> Self {
        CameraConfig {
            rtsp: Some(RtspSource {
                url: url.into(),
                transport: RtspTransport::Auto,
            }),
            ..Self::new(id, SocketAddr::from(([0, 0, 0, 0], 0)))
        }
    }

    /// The transport of an RTSP camera (ignored for others).
    pub fn with_rtsp_transport(mut self, transport: RtspTransport) -> Self {
        if let Some(r) = self.rtsp.as_mut() {
            r.transport = transport;
        }
        self
    }

    pub fn with_expected_size(mut self, width: u16, height: u16) -> Self {
        self.expected_size = Some((width, height));
        self
    }

    /// Read the camera's RTCP on the port above RTP ([`CameraConfig::rtcp`]).
    pub fn with_rtcp(mut self) -> Self {
        self.rtcp = true;
        self
    }

    setters! {
        /// Accept datagrams only from `sender` (a host).
        with_sender(sender: IpAddr) => Some;
        with_queue_depth(queue_depth: usize);
        with_frames_in_flight(frames_in_flight: usize);
        with_max_frame_bytes(max_frame_bytes: usize);
        with_socket_receive_buffer(socket_receive_buffer: usize);
        /// Decode this camera's frames as `decode` says (scale, resize,
        /// fast), whatever the client's default.
        with_decode_options(decode: DecodeOptions) => Some;
        with_dynamic_payload_type(dynamic_payload_type: u8) => Some;
        /// Decode this camera's frames to RGB or not, whatever the
        /// client's default.
        with_decode_rgb(decode_rgb: bool) => Some;
        with_delivery(delivery: Delivery);
        /// At most `max_fps` frames per second, by RTP timestamp.
        with_max_fps(max_fps: f64) => Some;
    }

    /// The thinning [`CameraConfig::max_fps`] asks for, if any.
    pub(crate) fn thinning(&self) -> Option<Thinning> {
        self.max_fps.and_then(max_fps_thinning)
    }

    /// Check the settings a camera cannot work without.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: &'static str| {
            Err(Error::Config {
                camera: self.id.clone(),
                reason,
            })
        };
        if self.id.is_empty() {
            return bad("empty camera id");
        }
        if !(1..=Self::MAX_FRAMES_IN_FLIGHT).contains(&self.frames_in_flight) {
            return bad("frames_in_flight must be 1..=16");
        }
        if self.queue_depth == 0 {
            return bad("queue_depth must be at least 1");
        }
        // The message below spells the limit out: it must stay 16 MiB.
        const _: () = assert!(MAX_SCAN_BYTES == 16 << 20);
        if self.max_frame_bytes == 0 || self.max_frame_bytes > MAX_SCAN_BYTES {
            return bad("max_frame_bytes must be 1..=16 MiB (RFC 2435's offset space)");
        }
        if self.max_frame_age.is_zero() {
            return bad("max_frame_age must be positive");
        }
        if self
            .dynamic_payload_type
            .is_some_and(|pt| !(96..=127).contains(&pt))
        {
            return bad("dynamic_payload_type must be 96..=127");
        }
        if !(1..=512).contains(&self.reorder_window) {
            return bad("reorder_window must be 1..=512");
        }
        if self.max_width == 0 || self.max_height == 0 {
            return bad("max_width and max_height must be non-zero");
        }
        if self.expected_size.is_some_and(|(w, h)| w == 0 || h == 0) {
            return bad("expected_size must be non-zero");
        }
        if self
            .max_fps
            .is_some_and(|fps| !(MIN_MAX_FPS..=MAX_MAX_FPS).contains(&fps))
        {
            return bad("max_fps must be 0.001..=1000 frames per second");
        }
        if self.rtcp && self.rtsp.is_none() && self.bind.ip().is_multicast() {
            return bad("rtcp is for unicast cameras: a multicast group's RTCP is not read yet");
        }
        if let Some(r) = &self.rtsp {
            match url::Url::parse(&r.url) {
                Ok(u) if u.scheme() == "rtsp" && u.host_str().is_some_and(|h| !h.is_empty()) => {}
                _ => return bad("the RTSP URL must be rtsp://[user:pass@]host[:port]/path"),
            }
            if self.bind.port() != 0 || self.bind.ip().is_multicast() {
                return bad("an RTSP camera's port is chosen at start: bind port must be 0");
            }
        }
        Ok(())
    }

    /// The core's receiver settings for this camera.
    pub(crate) fn core_config(&self) -> mjpeg_rtp_core::Config {
        mjpeg_rtp_core::Config {
            dynamic_payload_type: self.dynamic_payload_type,
            fallback_size: self.expected_size,
            max_frame_age: self.max_frame_age,
            frames_in_flight: self.frames_in_flight,
            reorder_window: self.reorder_window,
            max_width: self.max_width,
            max_height: self.max_height,
            ..mjpeg_rtp_core::Config::default()
        }
    }
}
