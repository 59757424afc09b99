//! `CameraConfig`: the Python spelling of the runtime's camera settings,
//! checked when it is made.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use mjpeg_rtp::RtspTransport;
use pyo3::prelude::*;

use crate::errors;
use crate::options::{self, Overrides};

/// One camera: where to listen, which host to accept, what to expect.
///
/// Every value is checked here; a bad one raises ConfigError (a
/// ValueError).
#[pyclass(frozen, module = "mjpeg_rtp", name = "CameraConfig")]
pub struct CameraConfig {
    pub(crate) inner: mjpeg_rtp::CameraConfig,
    /// What the camera takes, where it differs from the client's
    /// defaults (settled when added to a client).
    pub(crate) overrides: Overrides,
    /// As given (None for any host).
    host: Option<String>,
    /// As given (the runtime keeps an f32).
    fps: f64,
    bind_address: String,
    multicast_group: Option<String>,
}

/// A setting as the caller gave it, checked against its range.
fn setting<T: TryFrom<i64>>(
    py: Python<'_>,
    camera_id: &str,
    name: &str,
    value: i64,
    min: i64,
    max: i64,
) -> PyResult<T> {
    if (min..=max).contains(&value) {
        if let Ok(v) = T::try_from(value) {
            return Ok(v);
        }
    }
    Err(errors::config(
        py,
        format!("camera {camera_id:?}: {name} must be {min}..={max}, not {value}"),
    ))
}

/// An IP address, or a name resolved with the system resolver (without
/// the GIL: it may wait on DNS).
fn resolve(py: Python<'_>, camera_id: &str, name: &str, host: &str) -> PyResult<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let host_owned = host.to_owned();
    let resolved = py.detach(move || {
        (host_owned.as_str(), 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
    });
    resolved.map(|a| a.ip()).ok_or_else(|| {
        errors::config(
            py,
            format!("camera {camera_id:?}: {name} {host:?} is neither an IP address nor a name that resolves"),
        )
    })
}

#[pymethods]
impl CameraConfig {
    #[new]
    #[pyo3(signature = (
        camera_id, host, port, width=0, height=0, fps=0.0, jitter_buffer_size=30,
        max_frame_age_ms=1000, socket_buffer_size=2_097_152, *, bind_address="0.0.0.0",
        multicast_group=None, queue_size=10, payload_type=None, frames_in_flight=4,
        max_frame_bytes=4_194_304, max_width=7680, max_height=4320, rtsp_url=None,
        rtsp_transport="auto", rtcp=false, scale=None, resize=None, fast=None, decode=None,
        delivery=None, max_fps=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        camera_id: String,
        host: Option<String>,
        port: i64,
        width: i64,
        height: i64,
        fps: f64,
        jitter_buffer_size: i64,
        max_frame_age_ms: i64,
        socket_buffer_size: i64,
        bind_address: &str,
        multicast_group: Option<String>,
        queue_size: i64,
        payload_type: Option<i64>,
        frames_in_flight: i64,
        max_frame_bytes: i64,
        max_width: i64,
        max_height: i64,
        rtsp_url: Option<String>,
        rtsp_transport: &str,
        rtcp: bool,
        scale: Option<&Bound<'_, PyAny>>,
        resize: Option<(i64, i64)>,
        fast: Option<bool>,
        decode: Option<bool>,
        delivery: Option<&str>,
        max_fps: Option<f64>,
    ) -> PyResult<Self> {
        let id = camera_id.as_str();
        let port: u16 = setting(py, id, "port", port, 0, 65535)?;
        // "Any host": the wildcard addresses mean what they mean to bind().
        let sender = match host.as_deref() {
            None | Some("") => None,
            Some(h) => match resolve(py, id, "host", h)? {
                ip if ip.is_unspecified() => None,
                ip => Some(ip),
            },
        };
        let bind_ip = match &multicast_group {
            Some(group) => match resolve(py, id, "multicast_group", group)? {
                ip if ip.is_multicast() => ip,
                _ => {
                    return Err(errors::config(
                        py,
                        format!(
                            "camera {id:?}: multicast_group {group:?} is not a multicast address"
                        ),
                    ))
                }
            },
            None => resolve(py, id, "bind_address", bind_address)?,
        };
        let width: u16 = setting(py, id, "width", width, 0, 65535)?;
        let height: u16 = setting(py, id, "height", height, 0, 65535)?;
        if (width == 0) != (height == 0) {
            return Err(errors::config(
                py,
                format!("camera {id:?}: give both width and height, or neither"),
            ));
        }
        if !(fps.is_finite() && fps >= 0.0) {
            return Err(errors::config(
                py,
                format!("camera {id:?}: fps must be a non-negative number, not {fps}"),
            ));
        }
        let age_ms: u64 = setting(py, id, "max_frame_age_ms", max_frame_age_ms, 1, 3_600_000)?;
        let mut inner = match &rtsp_url {
            // Pulled from an RTSP server: the runtime binds its own ports
            // (UDP) or none (TCP), and the server is the only sender.
            Some(url) => {
                let transport = match rtsp_transport {
                    "udp" => RtspTransport::Udp,
                    "tcp" => RtspTransport::Tcp,
                    "multicast" => RtspTransport::Multicast,
                    "auto" => RtspTransport::Auto,
                    other => {
                        return Err(errors::config(
                            py,
                            format!(
                                "camera {id:?}: rtsp_transport must be \"udp\", \"tcp\", \"multicast\" or \"auto\", not {other:?}"
                            ),
                        ))
                    }
                };
                mjpeg_rtp::CameraConfig::rtsp(camera_id.clone(), url.clone())
                    .with_rtsp_transport(transport)
            }
            None => {
                let mut pushed =
                    mjpeg_rtp::CameraConfig::new(camera_id.clone(), SocketAddr::new(bind_ip, port));
                pushed.sender = sender;
                pushed.rtcp = rtcp;
                pushed
            }
        };
        inner.expected_size = (width > 0).then_some((width, height));
        // Informational only, so f32's precision is plenty.
        #[allow(clippy::cast_possible_truncation)]
        let expected_fps = fps as f32;
        inner.expected_fps = (fps > 0.0).then_some(expected_fps);
        inner.reorder_window = setting(py, id, "jitter_buffer_size", jitter_buffer_size, 1, 512)?;
        inner.max_frame_age = Duration::from_millis(age_ms);
        inner.socket_receive_buffer = setting(
            py,
            id,
            "socket_buffer_size",
            socket_buffer_size,
            1,
            i64::from(i32::MAX),
        )?;
        inner.queue_depth = setting(py, id, "queue_size", queue_size, 1, 1_000_000)?;
        inner.dynamic_payload_type = payload_type
            .map(|pt| setting(py, id, "payload_type", pt, 96, 127))
            .transpose()?;
        inner.frames_in_flight = setting(py, id, "frames_in_flight", frames_in_flight, 1, 16)?;
        inner.max_frame_bytes = setting(
            py,
            id,
            "max_frame_bytes",
            max_frame_bytes,
            1,
            16 * 1024 * 1024,
        )?;
        inner.max_width = setting(py, id, "max_width", max_width, 1, 65535)?;
        inner.max_height = setting(py, id, "max_height", max_height, 1, 65535)?;
        inner.validate().map_err(|e| errors::from_runtime(py, &e))?;
        let in_camera = |e: PyErr| errors::config(py, format!("camera {id:?}: {}", e.value(py)));
        let overrides = Overrides {
            scale: scale
                .map(|s| options::scale(py, s))
                .transpose()
                .map_err(in_camera)?,
            resize: resize
                .map(|r| options::resize(py, r))
                .transpose()
                .map_err(in_camera)?,
            fast,
            decode,
            delivery: delivery
                .map(|d| options::delivery(py, d))
                .transpose()
                .map_err(in_camera)?,
            max_fps: max_fps
                .map(|f| options::max_fps(py, f))
                .transpose()
                .map_err(in_camera)?,
        };
        Ok(CameraConfig {
            overrides,
            inner,
            host,
            fps,
            bind_address: bind_address.to_owned(),
            multicast_group,
        })
    }

    /// RTCP read on the port above a UDP camera's (sender reports give
    /// frames their capture_time; receiver reports go back). RTSP
    /// cameras always do it.
    #[getter]
    fn rtcp(&self) -> bool {
        self.inner.rtcp || self.inner.rtsp.is_some()
    }

    /// The RTSP URL as given (user info included), or None for a camera
    /// that pushes RTP.
    #[getter]
    fn rtsp_url(&self) -> Option<&str> {
        self.inner.rtsp.as_ref().map(|r| r.url.as_str())
    }

    /// "udp", "tcp", "multicast" or "auto" for an RTSP camera, else None.
    #[getter]
    fn rtsp_transport(&self) -> Option<&'static str> {
        self.inner.rtsp.as_ref().map(|r| match r.transport {
            RtspTransport::Udp => "udp",
            RtspTransport::Tcp => "tcp",
            RtspTransport::Multicast => "multicast",
            RtspTransport::Auto => "auto",
        })
    }

    /// Name used in frames, stats and logs; unique within a client.
    #[getter]
    fn camera_id(&self) -> &str {
        &self.inner.id
    }

    /// The camera's address as given: only its packets are accepted.
    /// None when any host is accepted.
    #[getter]
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Local UDP port (0: any free port, see MJPEGRTPClient.local_address).
    #[getter]
    fn port(&self) -> u16 {
        self.inner.bind.port()
    }

    /// Expected picture width (0: not given).
    #[getter]
    fn width(&self) -> u16 {
        self.inner.expected_size.map_or(0, |(w, _)| w)
    }

    /// Expected picture height (0: not given).
    #[getter]
    fn height(&self) -> u16 {
        self.inner.expected_size.map_or(0, |(_, h)| h)
    }

    /// Expected frame rate (0: not given).
    #[getter]
    fn fps(&self) -> f64 {
        self.fps
    }

    /// Reordering tolerated, in packets.
    #[getter]
    fn jitter_buffer_size(&self) -> u16 {
        self.inner.reorder_window
    }

    /// A frame still incomplete this long after its first packet is
    /// dropped.
    #[getter]
    fn max_frame_age_ms(&self) -> u128 {
        self.inner.max_frame_age.as_millis()
    }

    /// Socket receive buffer asked of the kernel, in bytes.
    #[getter]
    fn socket_buffer_size(&self) -> usize {
        self.inner.socket_receive_buffer
    }

    /// Local address to bind ("0.0.0.0", "::", or one interface's).
    #[getter]
    fn bind_address(&self) -> &str {
        &self.bind_address
    }

    /// Multicast group joined (bound on the wildcard address), or None.
    #[getter]
    fn multicast_group(&self) -> Option<&str> {
        self.multicast_group.as_deref()
    }

    /// Decoded frames kept for the consumer; when full the oldest is
    /// dropped (stats: frames_dropped_queue).
    #[getter]
    fn queue_size(&self) -> usize {
        self.inner.queue_depth
    }

    /// Dynamic RTP payload type (96..127) accepted besides 26, or None.
    #[getter]
    fn payload_type(&self) -> Option<u8> {
        self.inner.dynamic_payload_type
    }

    /// Frames assembled at once.
    #[getter]
    fn frames_in_flight(&self) -> usize {
        self.inner.frames_in_flight
    }

    /// Largest JPEG scan accepted, in bytes.
    #[getter]
    fn max_frame_bytes(&self) -> usize {
        self.inner.max_frame_bytes
    }

    /// Largest picture width accepted.
    #[getter]
    fn max_width(&self) -> u16 {
        self.inner.max_width
    }

    /// Largest picture height accepted.
    #[getter]
    fn max_height(&self) -> u16 {
        self.inner.max_height
    }

    /// Decode-time reduction ("1", "1/2", "1/4", "1/8"), or None for the
    /// client's.
    #[getter]
    fn scale(&self) -> Option<String> {
        self.overrides.scale.map(|s| s.to_string())
    }

    /// Exact output size (width, height) after scale, or None for the
    /// client's.
    #[getter]
    fn resize(&self) -> Option<(usize, usize)> {
        self.overrides.resize.map(|r| (r.width, r.height))
    }

    /// libjpeg-turbo's fast IDCT and upsampling, or None for the client's.
    #[getter]
    fn fast(&self) -> Option<bool> {
        self.overrides.fast
    }

    /// Decode to RGB (True) or hand out JPEG only (False), or None for
    /// the client's.
    #[getter]
    fn decode(&self) -> Option<bool> {
        self.overrides.decode
    }

    /// "queue" or "latest", or None for the client's.
    #[getter]
    fn delivery(&self) -> Option<&'static str> {
        self.overrides.delivery.map(options::delivery_name)
    }

    /// At most this many frames per second (by RTP timestamp, before
    /// decode), or None for the client's.
    #[getter]
    fn max_fps(&self) -> Option<f64> {
        self.overrides.max_fps
    }

    fn __repr__(&self) -> String {
        format!(
            "CameraConfig(camera_id={:?}, host={}, port={}, width={}, height={}, fps={})",
            self.inner.id,
            self.host
                .as_deref()
                .map_or_else(|| "None".to_owned(), |h| format!("{h:?}")),
            self.port(),
            self.width(),
            self.height(),
            self.fps()
        )
    }
}
