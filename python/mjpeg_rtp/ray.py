"""Cameras sharded over a Ray cluster: `CameraFleet`.

    import ray, mjpeg_rtp.ray as mray
    ray.init(address="auto")
    fleet = mray.CameraFleet(
        [mray.Camera("dock1", rtsp_url="rtsp://10.0.0.5/ch1"), ...],
        cameras_per_shard=32, output="jpeg", scale="1/4", max_fps=2, ring=1,
        placement={"site": "dock"},
    )
    for batch in fleet.batches():      # one Ray call per shard batch
        for frame in batch:
            rgb = frame.rgb()          # decoded here, writeable
    fleet.stats()
    fleet.shutdown()

Each shard is one detached, named Ray actor holding one
`mjpeg_rtp.MJPEGRTPClient` for its cameras (restarted elsewhere when its
node dies, `max_restarts=-1`). A thread in the actor takes every frame
from the client into a bounded ring per camera (the newest `ring`
frames; older ones are dropped and counted), and a consumer's call takes
everything the rings hold at once. A small registry actor per fleet
(detached, on the head node) keeps the fleet's settings, so that another
process can `CameraFleet.attach(name)`, and the per-camera gaps across
shard restarts.

Only this module imports ray (`pip install "mjpeg-rtp[ray]"`).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
import uuid
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast

import numpy as np
import numpy.typing as npt
import ray  # type: ignore[import-not-found, unused-ignore]  # the optional extra

import mjpeg_rtp

__all__ = ["Camera", "CameraFleet", "FleetFrame", "Shard", "NAMESPACE"]

NAMESPACE = "mjpeg_rtp"
"""The Ray namespace of every fleet's actors: any driver of the cluster
finds them there, whatever its own namespace."""

OUTPUTS = ("jpeg", "rgb")

_log = logging.getLogger("mjpeg_rtp.ray")

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


# ------------------------------------------------------------------- actors


class _ShardActor:
    """One shard: a client for its cameras, a ring per camera, and the
    calls consumers make (each returns a whole batch)."""

    def __init__(self, spec: Dict[str, Any], index: int, cameras: List[Camera]) -> None:
        self.index = index
        self.output: str = spec["output"]
        self.decode = (spec["scale"], spec["resize"], spec["fast"], spec["decoder"])
        self.batch_wait: float = spec["batch_wait"]
        self.batch_frames: int = spec["batch_frames"] or len(cameras)
        self.incarnation = uuid.uuid4().hex
        self.node_id = ray.get_runtime_context().get_node_id()
        self.started_at = time.time()
        self.camera_ids = [c.camera_id for c in cameras]
        self.cond = threading.Condition()
        self.rings: Dict[str, Deque[FleetFrame]] = {
            cid: collections.deque(maxlen=spec["ring"]) for cid in self.camera_ids
        }
        # Frames in the rings, and when the oldest of them came
        # (monotonic), for batch_wait.
        self.waiting = 0
        self.oldest_waiting = 0.0
        self.counts: Dict[str, Dict[str, Any]] = {
            cid: {"frames_ring": 0, "frames_ring_dropped": 0, "frames_taken": 0,
                  "first_frame_time": None, "last_frame_time": None}
            for cid in self.camera_ids
        }
        self.start_errors = 0
        self.last_start_error: Optional[str] = None
        self.closing = threading.Event()
        self.client: Optional[mjpeg_rtp.MJPEGRTPClient] = None
        self.registry = ray.get_actor(spec["name"], namespace=NAMESPACE)
        self.registry.shard_started.remote(index, self.incarnation, self.node_id)
        configs = [c.config(**_camera_options(spec)) for c in cameras]
        client_options = {"decoder": spec["decoder"], "decode_threads": spec["decode_threads"]}
        threading.Thread(
            target=self._run, args=(client_options, configs), name="mjpeg_rtp-shard", daemon=True
        ).start()
        threading.Thread(
            target=self._report, args=(spec["report_interval"],), name="mjpeg_rtp-report",
            daemon=True,
        ).start()

    def _run(self, client_options: Dict[str, Any], configs: List[mjpeg_rtp.CameraConfig]) -> None:
        """Start the client (again after a backoff while a camera refuses
        its session), then move every frame into its ring."""
        backoff = 0.5
        while not self.closing.is_set():
            client = mjpeg_rtp.MJPEGRTPClient(**client_options)
            try:
                for config in configs:
                    client.add_camera(config)
                client.start()
                break
            except mjpeg_rtp.MjpegRtpError as e:
                client.stop()
                self.start_errors += 1
                self.last_start_error = str(e)
                _log.warning("shard %d: cannot start its cameras (%s); again in %.1f s",
                             self.index, e, backoff)
                self.closing.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        else:
            return
        self.client = client
        shard, output = self.index, self.output
        while not self.closing.is_set():
            got = client.get_frame(None, timeout=0.25)
            if got is None:
                continue
            rgb, meta = got
            frame = FleetFrame.__new__(FleetFrame)
            frame.camera_id = meta.camera_id
            frame.shard = shard
            frame.timestamp = meta.timestamp
            frame.width = meta.width
            frame.height = meta.height
            frame.receive_time = meta.receive_time
            frame.capture_time = meta.capture_time
            frame.packets_lost = meta.packets_lost
            frame.jpeg = meta.jpeg_data if output == "jpeg" else None
            frame._rgb = rgb if output == "rgb" else None
            frame._decode = self.decode
            with self.cond:
                ring = self.rings[frame.camera_id]
                counts = self.counts[frame.camera_id]
                if len(ring) == ring.maxlen:
                    counts["frames_ring_dropped"] += 1
                else:
                    if self.waiting == 0:
                        self.oldest_waiting = time.monotonic()
                    self.waiting += 1
                ring.append(frame)
                counts["frames_ring"] += 1
                if counts["first_frame_time"] is None:
                    counts["first_frame_time"] = frame.receive_time
                counts["last_frame_time"] = frame.receive_time
                self.cond.notify_all()
        client.stop()

    def _report(self, interval: float) -> None:
        """Tell the registry, now and then (never per frame), when each
        camera's first and last frames of this incarnation came."""
        while not self.closing.wait(interval):
            with self.cond:
                times = {
                    cid: (c["first_frame_time"], c["last_frame_time"])
                    for cid, c in self.counts.items()
                    if c["first_frame_time"] is not None
                }
            if times:
                self.registry.report.remote(self.index, self.incarnation, times)

    def take(self, timeout: float) -> List[FleetFrame]:
        """Every frame the rings hold, once there is one: waits up to
        `timeout` s for the first, then until batch_frames are there or
        the oldest has waited batch_wait s."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                now = time.monotonic()
                waiting = self.waiting
                if waiting and (
                    waiting >= self.batch_frames or now - self.oldest_waiting >= self.batch_wait
                ):
                    break
                if not waiting and now >= end:
                    return []
                # With frames waiting, until the oldest has waited
                # batch_wait; without, until the first comes or time is up.
                until = self.oldest_waiting + self.batch_wait if waiting else end
                self.cond.wait(max(until - now, 0.0005))
            batch: List[FleetFrame] = []
            for cid, ring in self.rings.items():
                if ring:
                    self.counts[cid]["frames_taken"] += len(ring)
                    batch.extend(ring)
                    ring.clear()
            self.waiting = 0
        return batch

    def stats(self) -> Dict[str, Dict[str, Any]]:
        """Per camera: the client's counters and the shard's."""
        client = self.client
        native = client.stats() if client is not None else {}
        with self.cond:
            out = {}
            for cid in self.camera_ids:
                s = dict(native.get(cid, {}))
                c = self.counts[cid]
                s.update(
                    shard=self.index, node_id=self.node_id, shard_started_at=self.started_at,
                    frames_ring=c["frames_ring"], frames_ring_dropped=c["frames_ring_dropped"],
                    frames_taken=c["frames_taken"], ring_frames_held=len(self.rings[cid]),
                    start_errors=self.start_errors, last_start_error=self.last_start_error,
                    running=client is not None,
                )
                out[cid] = s
        return out

    def where(self) -> Dict[str, Any]:
        """The node this shard runs on, its process and the resources Ray
        gave it."""
        resources = ray.get_runtime_context().get_assigned_resources()
        return {"node_id": self.node_id, "pid": os.getpid(), "resources": resources}

    def close(self) -> None:
        """Stop the client (RTSP sessions are torn down)."""
        self.closing.set()
        client = self.client
        if client is not None:
            client.stop()


class _RegistryActor:
    """A fleet's settings and the per-camera history that outlives shard
    restarts: when a shard comes back, the gap between a camera's last
    frame before and its first frame after."""

    def __init__(self, spec: Dict[str, Any]) -> None:
        self.spec = spec
        # camera -> (incarnation, last frame time)
        self.last: Dict[str, Tuple[str, float]] = {}
        self.gaps: Dict[str, Dict[str, float]] = {}
        self.shards: Dict[int, Dict[str, Any]] = {}

    def get_spec(self) -> Dict[str, Any]:
        return self.spec

    def shard_started(self, index: int, incarnation: str, node_id: str) -> None:
        shard = self.shards.setdefault(index, {"starts": 0})
        shard.update(starts=shard["starts"] + 1, incarnation=incarnation, node_id=node_id,
                     started_at=time.time())

    def report(self, index: int, incarnation: str, times: Dict[str, Tuple[float, float]]) -> None:
        # A shard's own calls arrive in order, so its start comes first;
        # a late report of an incarnation that has been replaced is old.
        if self.shards.get(index, {}).get("incarnation") != incarnation:
            return
        for cid, (first, last) in times.items():
            before = self.last.get(cid)
            if before is not None and before[0] != incarnation:
                gap = max(first - before[1], 0.0)
                g = self.gaps.setdefault(cid, {"gaps": 0, "gap_seconds": 0.0,
                                               "gap_seconds_max": 0.0, "gap_seconds_last": 0.0})
                g["gaps"] += 1
                g["gap_seconds"] += gap
                g["gap_seconds_max"] = max(g["gap_seconds_max"], gap)
                g["gap_seconds_last"] = gap
            self.last[cid] = (incarnation, last)

    def history(self) -> Tuple[Dict[str, Dict[str, float]], Dict[int, Dict[str, Any]]]:
        return self.gaps, self.shards


_Shard = ray.remote(_ShardActor)
_Registry = ray.remote(_RegistryActor)


def _camera_options(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The CameraConfig options a fleet sets on each of its cameras. The
    shard's thread takes every frame (queue delivery) into the rings,
    which then keep the newest; with output "jpeg" nothing is decoded on
    the shard."""
    return {
        "scale": spec["scale"], "resize": spec["resize"], "fast": spec["fast"],
        "max_fps": spec["max_fps"], "decode": spec["output"] == "rgb", "delivery": "queue",
    }


# -------------------------------------------------------------------- fleet


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


class Shard:
    """One shard of a fleet, for a consumer of its own
    (`fleet.shard(i)`): its frames, cameras and counters."""

    def __init__(self, handle: Any, index: int) -> None:
        self.handle = handle
        self.index = index

    def batches(self, timeout: Optional[float] = None, wait: float = 1.0) -> Iterator[List[FleetFrame]]:
        """Batches of this shard's frames, one Ray call each, newest
        frames first come first served: the call goes out when the
        consumer asks for the next batch, so the rings keep filling with
        newer frames while the consumer works. Ends after `timeout` s
        without a frame (None: never)."""
        last = time.monotonic()
        while True:
            batch = ray.get(self.handle.take.remote(wait))
            if batch:
                last = time.monotonic()
                yield batch
            elif timeout is not None and time.monotonic() - last >= timeout:
                return

    def stats(self) -> Dict[str, Dict[str, Any]]:
        return ray.get(self.handle.stats.remote())

    def node_id(self) -> str:
        """The Ray node id of the node the shard runs on now."""
        return cast(str, ray.get(self.handle.where.remote())["node_id"])

    def __repr__(self) -> str:
        return f"<Shard {self.index}>"


class CameraFleet:
    """Cameras sharded over detached, named Ray actors.

    cameras: `Camera`s or `mjpeg_rtp.CameraConfig`s (ids unique).
    cameras_per_shard / shards: how many shards (one of them; default
        32 cameras per shard). Cameras of different placements (or
        pinned nodes) never share a shard.
    output: "jpeg" (frames carry the rebuilt JPEG; `frame.rgb()` decodes
        it in the consumer) or "rgb" (the shard decodes, at `scale` /
        `resize`, and ships the array).
    scale, resize, fast, max_fps: the cameras' decode size, exactness and
        thinning (the client's per-camera options; max_fps thins on the
        shard, before the rings); with output "jpeg" scale, resize and
        fast apply to `frame.rgb()` in the consumer.
    ring: newest frames kept per camera for the consumers (older ones
        dropped, counted in `frames_ring_dropped`): memory stays bounded
        when consumers stop.
    placement: where the shards run: {"site": "dock"} (str values: Ray
        node labels) or {"gpu-node-3": 0.01} (numbers: custom
        resources); a Camera's own placement overrides it.
    decoder: the JPEG decoder, in the shards (rgb) and in `frame.rgb()`.
    batch_wait, batch_frames: a batch goes out once the oldest waiting
        frame has waited batch_wait s, or batch_frames frames (default:
        one per camera of the shard) wait, whichever is first.
    name: the fleet's name in Ray (namespace NAMESPACE): shards are
        "<name>/<i>", the registry "<name>". `CameraFleet.attach(name)`
        from any driver of the cluster.
    shard_options: more Ray actor options for every shard (num_cpus,
        memory, runtime_env, ...); num_cpus defaults to 1.
    """

    def __init__(
        self,
        cameras: Sequence[Union[Camera, mjpeg_rtp.CameraConfig]],
        *,
        cameras_per_shard: Optional[int] = None,
        shards: Optional[int] = None,
        output: str = "jpeg",
        scale: str = "1",
        resize: Optional[Tuple[int, int]] = None,
        fast: bool = False,
        max_fps: Optional[float] = None,
        ring: int = 1,
        placement: Optional[Placement] = None,
        decoder: str = "zune-jpeg",
        decode_threads: int = 0,
        batch_wait: float = 0.02,
        batch_frames: Optional[int] = None,
        name: Optional[str] = None,
        shard_options: Optional[Dict[str, Any]] = None,
        report_interval: float = 0.5,
    ) -> None:
        if output not in OUTPUTS:
            raise mjpeg_rtp.ConfigError(f'output must be "jpeg" or "rgb", not {output!r}')
        if ring < 1:
            raise mjpeg_rtp.ConfigError(f"ring must be >= 1, not {ring}")
        if cameras_per_shard is not None and shards is not None:
            raise mjpeg_rtp.ConfigError("give cameras_per_shard or shards, not both")
        if decoder not in mjpeg_rtp.decoders():
            raise mjpeg_rtp.ConfigError(
                f"decoder {decoder!r} is not in this build ({', '.join(mjpeg_rtp.decoders())})"
            )
        cams = [c if isinstance(c, Camera) else Camera.from_config(c) for c in cameras]
        if not cams:
            raise mjpeg_rtp.ConfigError("a fleet needs at least one camera")
        ids = [c.camera_id for c in cams]
        if len(set(ids)) != len(ids):
            raise mjpeg_rtp.ConfigError("camera ids must be unique within a fleet")
        if shards is not None:
            if shards < 1:
                raise mjpeg_rtp.ConfigError(f"shards must be >= 1, not {shards}")
            per_shard = math.ceil(len(cams) / shards)
        else:
            per_shard = cameras_per_shard if cameras_per_shard is not None else 32
            if per_shard < 1:
                raise mjpeg_rtp.ConfigError(f"cameras_per_shard must be >= 1, not {per_shard}")
        self.name = name or f"fleet-{uuid.uuid4().hex[:8]}"
        try:
            ray.get_actor(self.name, namespace=NAMESPACE)
        except ValueError:
            pass
        else:
            raise mjpeg_rtp.ConfigError(
                f"a fleet named {self.name!r} exists: CameraFleet.attach({self.name!r}) to use "
                "it, or its shutdown() first"
            )
        # Group by where the cameras must run, then cut each group into
        # shards, in the order the cameras were given.
        groups: Dict[Tuple[Any, ...], Tuple[Dict[str, Any], List[Camera]]] = {}
        for camera in cams:
            where = _placement_options(
                camera.placement if camera.placement is not None else placement, camera.node
            )
            key = tuple(sorted((k, tuple(sorted(v.items()))) for k, v in where.items()))
            groups.setdefault(key, (where, []))[1].append(camera)
        layout: List[Tuple[List[Camera], Dict[str, Any]]] = [
            (members[start : start + per_shard], where)
            for where, members in groups.values()
            for start in range(0, len(members), per_shard)
        ]
        spec: Dict[str, Any] = {
            "name": self.name, "output": output, "scale": scale,
            "resize": tuple(resize) if resize is not None else None, "fast": fast,
            "max_fps": max_fps,
            "ring": ring, "decoder": decoder, "decode_threads": decode_threads,
            "batch_wait": batch_wait, "batch_frames": batch_frames,
            "report_interval": report_interval, "shards": len(layout),
            "cameras": [[c.camera_id for c in members] for members, _ in layout],
        }
        # Every camera's settings are checked here, where an error is the
        # caller's, rather than in a shard that cannot start.
        for camera in cams:
            camera.config(**_camera_options(spec))
        self._registry: Any = _Registry.options(
            name=self.name, namespace=NAMESPACE, lifetime="detached", num_cpus=0,
            max_restarts=-1, max_task_retries=-1, resources=_head_resource(),
        ).remote(spec)
        handles = []
        for index, (members, where) in enumerate(layout):
            actor: Dict[str, Any] = {"num_cpus": 1, **(shard_options or {}), **where}
            if "resources" in where and shard_options and "resources" in shard_options:
                actor["resources"] = {**shard_options["resources"], **where["resources"]}
            handles.append(
                _Shard.options(
                    name=f"{self.name}/{index}", namespace=NAMESPACE, lifetime="detached",
                    max_restarts=-1, max_task_retries=-1, max_concurrency=8, **actor,
                ).remote(spec, index, members)
            )
        self.spec: Dict[str, Any] = spec
        self._shards = [Shard(h, i) for i, h in enumerate(handles)]

    @classmethod
    def attach(cls, name: str) -> "CameraFleet":
        """The fleet `name`, made by this or another driver (its shards
        run on: a consumer that exited does not stop them)."""
        registry = ray.get_actor(name, namespace=NAMESPACE)
        spec = cast(Dict[str, Any], ray.get(registry.get_spec.remote()))
        fleet = cls.__new__(cls)
        fleet.name = name
        fleet.spec = spec
        fleet._registry = registry
        fleet._shards = [
            Shard(ray.get_actor(f"{name}/{i}", namespace=NAMESPACE), i) for i in range(spec["shards"])
        ]
        return fleet

    @property
    def shards(self) -> List[Shard]:
        return list(self._shards)

    def shard(self, index: int) -> Shard:
        """Shard `index`, for a consumer of its own (placed beside it)."""
        return self._shards[index]

    def camera_shards(self) -> Dict[str, int]:
        """Which shard each camera is in."""
        return {cid: i for i, ids in enumerate(self.spec["cameras"]) for cid in ids}

    def batches(self, timeout: Optional[float] = None, wait: float = 1.0) -> Iterator[List[FleetFrame]]:
        """Batches from every shard, as they come (one Ray call per shard
        batch). A shard's next call goes out when the consumer asks for
        the next batch, so its rings hold the newest frames until then.
        A shard that is down (restarting) holds back only its own
        cameras. Ends after `timeout` s without a frame (None: never)."""
        pending = {s.handle.take.remote(wait): s for s in self._shards}
        last = time.monotonic()
        try:
            while True:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait)
                if not ready:
                    if timeout is not None and time.monotonic() - last >= timeout:
                        return
                    continue
                ref = ready[0]
                shard = pending.pop(ref)
                try:
                    batch = ray.get(ref)
                except ray.exceptions.RayActorError:
                    # Killed for good (shutdown, or its node's resource
                    # gone): nothing more from it.
                    batch = None
                else:
                    if batch:
                        last = time.monotonic()
                        yield batch
                    elif timeout is not None and time.monotonic() - last >= timeout:
                        return
                if batch is not None:
                    pending[shard.handle.take.remote(wait)] = shard
                if not pending:
                    return
        finally:
            # The calls still out would take frames nobody reads.
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 (a call that already ended)
                    pass

    def stats(self) -> Dict[str, Dict[str, Any]]:
        """Every camera's counters in one dict: the client's (see
        MJPEGRTPClient.stats; since its shard last started), the ring's
        (frames_ring, frames_ring_dropped, frames_taken,
        ring_frames_held), where it runs (shard, node_id,
        shard_starts) and the gaps across shard restarts (gaps,
        gap_seconds, gap_seconds_max, gap_seconds_last: from a camera's
        last frame before a restart to its first after). A shard that
        does not answer within 5 s (restarting) gives only the last two
        kinds and `running: False`."""
        refs = [s.handle.stats.remote() for s in self._shards]
        history = self._registry.history.remote()
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=5.0)
        ready_set = set(ready)
        gaps, shards = ray.get(history)
        out: Dict[str, Dict[str, Any]] = {}
        for index, ref in enumerate(refs):
            per_camera = ray.get(ref) if ref in ready_set else {
                cid: {"shard": index, "running": False} for cid in self.spec["cameras"][index]
            }
            for cid, s in per_camera.items():
                s["shard_starts"] = shards.get(index, {}).get("starts", 0)
                s.update(gaps.get(cid, {"gaps": 0, "gap_seconds": 0.0, "gap_seconds_max": 0.0,
                                        "gap_seconds_last": 0.0}))
                out[cid] = s
        return out

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every shard's cameras and kill the fleet's actors."""
        refs = [s.handle.close.remote() for s in self._shards]
        ray.wait(refs, num_returns=len(refs), timeout=timeout)
        for s in self._shards:
            ray.kill(s.handle, no_restart=True)
        ray.kill(self._registry, no_restart=True)

    def __enter__(self) -> "CameraFleet":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<CameraFleet {self.name!r}, {len(self._shards)} shards, output {self.spec['output']}>"


def _head_resource() -> Dict[str, float]:
    """The head node's own resource: the registry lives as long as the
    cluster's control plane does."""
    return {"node:__internal_head__": 0.001}
