"""What a fleet is made of and hands out: `Camera` (a camera's settings,
as plain values Ray can ship), `FleetFrame` (one frame out of a shard),
and where a camera's shard may run."""

from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

import mjpeg_rtp

Placement = Mapping[str, Union[str, float]]

# CameraConfig keywords that the fleet sets for every camera of a shard;
# a Camera may not set them itself.
_FLEET_OWNED = ("decode", "delivery", "scale", "resize", "fast", "max_fps")


class Camera:
    """One camera of a fleet: the keywords of `mjpeg_rtp.CameraConfig`,
    kept as plain values so that Ray can ship them to the shard's node.

    `Camera("dock1", rtsp_url="rtsp://10.0.0.5/ch1")` pulls an RTSP
    camera: it moves with its shard. A camera that pushes RTP to one
    node's address (`Camera("gate", host="10.0.0.9", port=5004,
    node="10.0.1.7")`) cannot move: `node` (that node's IP address) pins
    its shard to the node's `node:<ip>` resource, and its frames stop
    while that node is down. A multicast camera (`multicast_group=...`)
    can be received on any node and moves like an RTSP camera.

    `placement` overrides the fleet's for this camera (see CameraFleet).
    """

    __slots__ = ("camera_id", "node", "placement", "options")

    def __init__(
        self,
        camera_id: str,
        host: Optional[str] = None,
        port: int = 0,
        *,
        rtsp_url: Optional[str] = None,
        node: Optional[str] = None,
        placement: Optional[Placement] = None,
        **options: Any,
    ) -> None:
        owned = sorted(set(options) & set(_FLEET_OWNED))
        if owned:
            raise mjpeg_rtp.ConfigError(
                f"camera {camera_id!r}: {', '.join(owned)} are the fleet's settings "
                "(CameraFleet(...)), not a camera's"
            )
        self.camera_id = camera_id
        self.options: Dict[str, Any] = dict(options, host=host, port=port, rtsp_url=rtsp_url)
        pushed = rtsp_url is None and options.get("multicast_group") is None
        if node is not None and not pushed:
            raise mjpeg_rtp.ConfigError(
                f"camera {camera_id!r}: node= pins cameras that push RTP to one node; "
                "RTSP and multicast cameras can be received anywhere"
            )
        self.node = node
        self.placement = dict(placement) if placement is not None else None
        # Every value is checked here, on the driver, rather than when a
        # shard on another node fails to start.
        self.config()

    @classmethod
    def from_config(
        cls,
        config: mjpeg_rtp.CameraConfig,
        *,
        node: Optional[str] = None,
        placement: Optional[Placement] = None,
    ) -> "Camera":
        """The same camera as `config` (which Ray cannot ship as is). Its
        decode and delivery options must be unset: they are the fleet's."""
        owned = [name for name in _FLEET_OWNED if getattr(config, name) is not None]
        if owned:
            raise mjpeg_rtp.ConfigError(
                f"camera {config.camera_id!r}: {', '.join(owned)} are the fleet's settings "
                "(CameraFleet(...)), not a camera's"
            )
        options: Dict[str, Any] = {
            name: getattr(config, name)
            for name in (
                "width", "height", "fps", "jitter_buffer_size", "max_frame_age_ms",
                "socket_buffer_size", "bind_address", "multicast_group", "queue_size",
                "payload_type", "frames_in_flight", "max_frame_bytes", "max_width",
                "max_height",
            )
        }
        rtsp_url = getattr(config, "rtsp_url", None)
        if rtsp_url is not None:
            options["rtsp_transport"] = config.rtsp_transport
        else:
            options["rtcp"] = config.rtcp
        return cls(
            config.camera_id, config.host, config.port, rtsp_url=rtsp_url, node=node,
            placement=placement, **options,
        )

    @property
    def pushed(self) -> bool:
        """RTP sent to one node's own address: cannot move."""
        return self.options["rtsp_url"] is None and self.options.get("multicast_group") is None

    def config(self, **fleet: Any) -> mjpeg_rtp.CameraConfig:
        """The CameraConfig, with the fleet's settings added."""
        options = dict(self.options)
        host, port = options.pop("host"), options.pop("port")
        return mjpeg_rtp.CameraConfig(self.camera_id, host, port, **options, **fleet)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_camera, (self.camera_id, self.node, self.placement, self.options))

    def __repr__(self) -> str:
        where = self.options["rtsp_url"] and "rtsp" or f"{self.options['host']}:{self.options['port']}"
        return f"Camera({self.camera_id!r}, {where}{', node=' + repr(self.node) if self.node else ''})"


def _camera(camera_id: str, node: Optional[str], placement: Any, options: Dict[str, Any]) -> Camera:
    camera = Camera.__new__(Camera)
    camera.camera_id, camera.node, camera.placement, camera.options = camera_id, node, placement, options
    return camera


class FleetFrame:
    """One frame out of a fleet: metadata, the JPEG (output "jpeg") or the
    RGB array decoded on the shard (output "rgb").

    `rgb()` gives the pixels: with output "jpeg" it decodes the JPEG here,
    in the consumer's process, at the fleet's scale (a new writeable
    array on every call, ready for `torch.from_numpy`); with output "rgb"
    it is the array the shard decoded, read-only when Ray read it from
    the object store (`rgb().copy()` for a writeable one).
    """

    __slots__ = (
        "camera_id", "shard", "timestamp", "width", "height", "receive_time",
        "capture_time", "packets_lost", "jpeg", "_rgb", "_decode",
    )

    camera_id: str
    shard: int
    timestamp: int
    width: int
    height: int
    receive_time: float
    capture_time: Optional[float]
    packets_lost: int
    jpeg: Optional[bytes]
    _rgb: Optional[npt.NDArray[np.uint8]]
    _decode: Tuple[str, Optional[Tuple[int, int]], bool, str]

    def rgb(self) -> npt.NDArray[np.uint8]:
        """The (H, W, 3) uint8 RGB pixels at the fleet's scale."""
        if self._rgb is not None:
            return self._rgb
        assert self.jpeg is not None
        scale, resize, fast, decoder = self._decode
        return mjpeg_rtp.decode(self.jpeg, scale=scale, resize=resize, fast=fast, decoder=decoder)

    @property
    def age(self) -> float:
        """Seconds since the frame completed on its shard's node (the two
        nodes' clocks as they are)."""
        return time.time() - self.receive_time

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_fleet_frame, tuple(getattr(self, name) for name in FleetFrame.__slots__))

    def __repr__(self) -> str:
        payload = f"jpeg <{len(self.jpeg)} bytes>" if self.jpeg is not None else "rgb"
        return (
            f"FleetFrame({self.camera_id!r}, shard {self.shard}, timestamp {self.timestamp}, "
            f"{self.width}x{self.height}, {payload})"
        )


def _fleet_frame(*values: Any) -> FleetFrame:
    frame = FleetFrame.__new__(FleetFrame)
    for name, value in zip(FleetFrame.__slots__, values):
        setattr(frame, name, value)
    return frame


def _placement_options(placement: Optional[Placement], node: Optional[str]) -> Dict[str, Any]:
    """Ray actor options for a placement: str values are node labels
    (label_selector), numbers are custom resources; `node` (an IP
    address) is that node's own `node:<ip>` resource."""
    labels: Dict[str, str] = {}
    resources: Dict[str, float] = {}
    for key, value in (placement or {}).items():
        if isinstance(value, str):
            labels[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            resources[key] = float(value)
        else:
            raise mjpeg_rtp.ConfigError(
                f"placement {key!r}: a node label (str) or a custom resource amount (> 0), "
                f"not {value!r}"
            )
    if node is not None:
        # Any amount of a node's own resource pins to that node, and
        # (unlike NodeAffinitySchedulingStrategy(soft=False)) Ray still
        # restarts the actor there once the node is back.
        resources[f"node:{node}"] = 0.001
    options: Dict[str, Any] = {}
    if labels:
        options["label_selector"] = labels
    if resources:
        options["resources"] = resources
    return options
