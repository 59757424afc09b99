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

import math
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union, cast

import ray  # type: ignore[import-not-found, unused-ignore]  # the optional extra

import mjpeg_rtp

from .cameras import Camera, FleetFrame, Placement, _placement_options
from .shards import NAMESPACE, _camera_options, _Registry, _Shard

__all__ = ["Camera", "CameraFleet", "FleetFrame", "Shard", "NAMESPACE"]

OUTPUTS = ("jpeg", "rgb")


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
    io, gro: each shard's receive path (`MJPEGRTPClient`'s): io="uring"
        takes io_uring where the node's kernel allows it (the stats'
        `io` says which was chosen); gro=False turns UDP GRO off.
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
        io: str = "std",
        gro: bool = True,
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
        # Checked here, where an error is the caller's: a shard whose
        # client cannot even be made would only log it.
        if io not in ("std", "uring"):
            raise mjpeg_rtp.ConfigError(f'io must be "std" or "uring", not {io!r}')
        if not isinstance(gro, bool):
            raise mjpeg_rtp.ConfigError(f"gro must be True or False, not {gro!r}")
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
            "io": io, "gro": gro,
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
