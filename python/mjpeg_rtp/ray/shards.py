"""The actors of a fleet: a shard (one client, a ring per camera, the
calls consumers make) and the fleet's registry (its settings and the
gaps across shard restarts). Only the fleet (`mjpeg_rtp.ray`) makes
them."""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import uuid
from typing import Any, Deque, Dict, List, Optional, Tuple

import ray  # type: ignore[import-not-found, unused-ignore]  # the optional extra

import mjpeg_rtp

from .cameras import Camera, FleetFrame

NAMESPACE = "mjpeg_rtp"
"""The Ray namespace of every fleet's actors: any driver of the cluster
finds them there, whatever its own namespace."""

_log = logging.getLogger("mjpeg_rtp.ray")


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
        client_options = {
            "decoder": spec["decoder"], "decode_threads": spec["decode_threads"],
            "io": spec["io"], "gro": spec["gro"],
        }
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
                    io=client.io if client is not None else None,
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
