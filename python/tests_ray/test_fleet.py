"""mjpeg_rtp.ray on a 3-node Ray cluster (conftest): RTSP cameras through
the fleet pixel for pixel, placement by label, bounded rings, shards that
outlive their consumer, and a shard that moves when its node dies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from typing import Dict, List

import numpy as np
import psutil
import pytest

import mjpeg_rtp
from conftest import Nodes, Originals, camera_ids, decoder, djpeg, need, psnr, start_gst_send, wait_until

ray = pytest.importorskip("ray")
mray = pytest.importorskip("mjpeg_rtp.ray")


def rtsp_cameras(url: str, count: int, prefix: str = "cam", **options) -> List["mray.Camera"]:
    return [mray.Camera(cid, rtsp_url=url, rtsp_transport="tcp", **options) for cid in camera_ids(count, prefix)]


def collect(fleet: "mray.CameraFleet", per_camera: int, timeout: float = 30.0) -> Dict[str, list]:
    """Frames by camera until every camera has `per_camera`."""
    frames: Dict[str, list] = {cid: [] for cid in fleet.camera_shards()}
    end = time.monotonic() + timeout
    for batch in fleet.batches(timeout=timeout):
        for frame in batch:
            frames[frame.camera_id].append(frame)
        if all(len(f) >= per_camera for f in frames.values()) or time.monotonic() > end:
            break
    return frames


def check_pixels(rgb: np.ndarray, pictures: Originals, name: str) -> int:
    """Which picture `rgb` is: exactly (libjpeg-turbo) or >= 40 dB (zune-jpeg)."""
    if decoder() == "libjpeg-turbo":
        return pictures.index_of(rgb)
    best = max(range(len(pictures.pixels)), key=lambda i: psnr(rgb, pictures.pixels[i]))
    assert psnr(rgb, pictures.pixels[best]) >= 40.0, name
    return best


@pytest.mark.parametrize("output", ["jpeg", "rgb"])
def test_rtsp_cameras_arrive_pixel_exact(nodes: Nodes, rtsp_url: str, pictures: Originals, output: str) -> None:
    fleet = mray.CameraFleet(
        rtsp_cameras(rtsp_url, 4), cameras_per_shard=2, output=output, ring=8, decoder=decoder()
    )
    try:
        assert len(fleet.shards) == 2
        frames = collect(fleet, 4)
        for cid, got in frames.items():
            assert len(got) >= 4, f"{cid}: {len(got)} frames"
            timestamps = [f.timestamp for f in got]
            assert timestamps == sorted(timestamps), "a camera's frames in order"
            for frame in got:
                assert (frame.width, frame.height) == (320, 240)
                assert frame.camera_id == cid and frame.shard == fleet.camera_shards()[cid]
                rgb = frame.rgb()
                assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
                index = check_pixels(rgb, pictures, cid)
                if output == "jpeg":
                    # The rebuilt JPEG is the served one's picture, and the
                    # consumer's decode is its own writeable array.
                    assert pictures.index_of(djpeg(frame.jpeg)) == index
                    assert rgb.flags.writeable and rgb.flags.c_contiguous
                else:
                    assert frame.jpeg is None
        stats = fleet.stats()
        assert sorted(stats) == camera_ids(4)
        for cid, s in stats.items():
            assert s["frames_taken"] >= 4 and s["packets_lost"] == 0 and s["running"]
            assert s["io"] == "std", "the default receive backend"
    finally:
        fleet.shutdown()


@pytest.mark.parametrize("output", ["jpeg", "rgb"])
def test_scaled_output(nodes: Nodes, rtsp_url: str, pictures: Originals, output: str) -> None:
    fleet = mray.CameraFleet(
        rtsp_cameras(rtsp_url, 1), output=output, scale="1/4", max_fps=2.5, ring=8, decoder=decoder()
    )
    try:
        frames = collect(fleet, 4)["cam0"]
        # The 5 fps camera thinned to every other frame on the shard (one
        # frame per 0.4 s of RTP time on a fixed grid: the first two kept
        # may be one frame apart, across a line of the grid).
        kept = frames[1:]
        steps = {(b.timestamp - a.timestamp) % 2**32 for a, b in zip(kept, kept[1:])}
        assert steps == {36000}, [f.timestamp for f in frames]
        assert fleet.stats()["cam0"]["frames_thinned"] >= 2
        # 320x240 at 1/4: on the shard (rgb) or in this process (jpeg),
        # the pixels of mjpeg_rtp.decode of one of the served JPEGs.
        scaled = [mjpeg_rtp.decode(j, scale="1/4", decoder=decoder()) for j in pictures.jpegs]
        for frame in frames:
            rgb = frame.rgb()
            assert rgb.shape == (60, 80, 3) and (frame.width, frame.height) == (320, 240)
            assert any(np.array_equal(rgb, ref) for ref in scaled)
    finally:
        fleet.shutdown()


def test_placement_by_label(nodes: Nodes, rtsp_url: str) -> None:
    cameras = [
        *rtsp_cameras(rtsp_url, 2, "a", placement={"site": "a"}),
        *rtsp_cameras(rtsp_url, 2, "b", placement={"site": "b"}),
    ]
    fleet = mray.CameraFleet(cameras, cameras_per_shard=8, placement={"site": "b"})
    try:
        assert len(fleet.shards) == 2, "cameras of different placements never share a shard"
        for shard in fleet.shards:
            site = nodes.site_of(shard.node_id())
            assert {cid[0] for cid in fleet.spec["cameras"][shard.index]} == {site}
        frames = collect(fleet, 1)
        assert all(frames.values())
    finally:
        fleet.shutdown()


def test_stopped_consumer_costs_only_the_ring(nodes: Nodes, rtsp_url: str) -> None:
    ring = 2
    fleet = mray.CameraFleet(rtsp_cameras(rtsp_url, 4), shards=1, output="rgb", ring=ring)
    try:
        collect(fleet, 2)
        shard = fleet.shard(0)
        pid = ray.get(shard.handle.where.remote())["pid"]
        process = psutil.Process(pid)
        before_stats = shard.stats()
        rss_before = process.memory_info().rss
        store_before = used_object_store()
        time.sleep(10)
        rss_after = process.memory_info().rss
        store_after = used_object_store()
        after_stats = shard.stats()
        for cid, s in after_stats.items():
            assert s["ring_frames_held"] <= ring
            # 10 s at 5 fps came, the ring kept `ring` of them.
            dropped = s["frames_ring_dropped"] - before_stats[cid]["frames_ring_dropped"]
            assert dropped >= 40, f"{cid}: {dropped} dropped"
        # 4 cameras x 2 frames of 230 KB: a few MB at most, whatever the pause.
        assert rss_after - rss_before < 16 * 2**20, (rss_before, rss_after)
        assert store_after - store_before < 16 * 2**20, (store_before, store_after)
        taken_at = time.time()
        batch = next(shard.batches())
        assert len(batch) == 4 * ring, "every ring, full"
        for frame in batch:
            # The newest frames: the ring's 2 at 5 fps came within 0.4 s
            # (plus the batch call).
            assert taken_at - frame.receive_time < 1.0, frame
    finally:
        fleet.shutdown()


def used_object_store() -> float:
    """Object store bytes in use on the whole cluster."""
    total = ray.cluster_resources().get("object_store_memory", 0.0)
    free = ray.available_resources().get("object_store_memory", 0.0)
    return total - free


CONSUMER = textwrap.dedent(
    """
    import os, sys, ray
    import mjpeg_rtp.ray as mray
    ray.init(address=sys.argv[1], log_to_driver=False)
    fleet = mray.CameraFleet(
        [mray.Camera("lone", rtsp_url=sys.argv[2], rtsp_transport="tcp")], name=sys.argv[3]
    )
    batch = next(fleet.batches(timeout=30))
    print(len(batch), flush=True)
    os._exit(0)   # no shutdown(): the consumer just dies
    """
)


def test_shard_survives_its_consumer(nodes: Nodes, rtsp_url: str) -> None:
    name = f"survivor-{os.getpid()}"
    consumer = subprocess.run(
        [sys.executable, "-c", CONSUMER, nodes.cluster.address, rtsp_url, name],
        capture_output=True, text=True, timeout=120,
    )
    assert consumer.returncode == 0, consumer.stderr[-2000:]
    assert int(consumer.stdout.strip()) >= 1
    exited = time.time()
    time.sleep(1)
    fleet = mray.CameraFleet.attach(name)
    try:
        frames = collect(fleet, 3)["lone"]
        assert len(frames) >= 3
        assert frames[-1].receive_time > exited, "still receiving after the consumer exited"
        assert fleet.stats()["lone"]["shard_starts"] == 1
    finally:
        fleet.shutdown()
    with pytest.raises(ValueError):
        ray.get_actor(name, namespace=mray.NAMESPACE)


def test_shard_moves_when_its_node_dies(nodes: Nodes, rtsp_url: str) -> None:
    """Last: it removes a worker (and puts a new one in its place)."""
    fleet = mray.CameraFleet(rtsp_cameras(rtsp_url, 2), shards=1, output="jpeg")
    try:
        collect(fleet, 2)
        shard = fleet.shard(0)
        site = nodes.site_of(shard.node_id())
        time.sleep(1)  # a report of the last frames before the node dies
        killed = time.time()
        nodes.cluster.remove_node(nodes.workers[site], allow_graceful=False)
        # The old shard may deliver a few frames while its worker notices
        # that its node is gone: frames resume after the gap.
        resumed = None
        last = {cid: killed for cid in fleet.camera_shards()}
        for batch in fleet.batches(timeout=15):
            if any(f.receive_time - last[f.camera_id] > 1.0 for f in batch):
                resumed = time.time()
                break
            for f in batch:
                last[f.camera_id] = f.receive_time
        assert resumed is not None, "no frame after the node died"
        assert resumed - killed < 5.0, f"frames resumed after {resumed - killed:.1f} s"
        other = "b" if site == "a" else "a"
        assert nodes.site_of(shard.node_id()) == other
        time.sleep(1.2)  # the restarted shard's first report
        stats = fleet.stats()
        for cid, s in stats.items():
            assert s["shard_starts"] == 2, s
            assert s["gaps"] == 1 and 0 < s["gap_seconds_last"] < 5.0, s
    finally:
        fleet.shutdown()
        nodes.workers[site] = nodes.add(site)


@pytest.mark.parametrize("receive", [{}, {"io": "uring", "gro": False}])
def test_pushed_camera_runs_on_its_node(nodes: Nodes, pictures: Originals, receive: Dict[str, object]) -> None:
    """A camera that pushes RTP to a node's address: its shard asks for
    that node's own resource (every node of this one-machine cluster has
    the same address, so any worker has it). Its shard receives as the
    fleet asks (by default std sockets; or io_uring without GRO)."""
    if receive.get("io") == "uring":
        need(mjpeg_rtp.MJPEGRTPClient(io="uring").io == "uring", "io_uring (the kernel refused it)")
    ip = ray.util.get_node_ip_address()
    port = free_udp_port()
    fleet = mray.CameraFleet(
        [mray.Camera("gate", "127.0.0.1", port, node=ip)], output="jpeg", decoder=decoder(), ring=16,
        **receive,  # type: ignore[arg-type]
    )
    sender = None
    try:
        assert wait_until(lambda: fleet.stats()["gate"].get("running", False), 30), "shard up"
        sender = start_gst_send(pictures.paths, port, fps=10)
        frames = collect(fleet, 3)["gate"]
        assert len(frames) >= 3
        for frame in frames:
            check_pixels(frame.rgb(), pictures, "gate")
        assert f"node:{ip}" in ray.get(fleet.shard(0).handle.where.remote())["resources"]
        assert fleet.stats()["gate"]["io"] == receive.get("io", "std")
    finally:
        if sender is not None:
            sender.wait(timeout=30)
        fleet.shutdown()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def test_camera_from_rtsp_config() -> None:
    config = mjpeg_rtp.CameraConfig("door", None, 0, rtsp_url="rtsp://u:p@10.0.0.5/ch1", rtsp_transport="tcp")
    camera = mray.Camera.from_config(config)
    assert not camera.pushed
    again = camera.config()
    assert (again.rtsp_url, again.rtsp_transport) == ("rtsp://u:p@10.0.0.5/ch1", "tcp")


def test_pushed_camera_is_pinned_to_its_node() -> None:
    camera = mray.Camera("gate", "10.0.0.9", 5004, node="10.0.1.7")
    assert camera.pushed
    assert mray._placement_options(None, camera.node) == {"resources": {"node:10.0.1.7": 0.001}}
    with pytest.raises(mjpeg_rtp.ConfigError):
        mray.Camera("door", rtsp_url="rtsp://10.0.0.5/ch1", node="10.0.1.7")
    with pytest.raises(mjpeg_rtp.ConfigError):
        mray.Camera("door", rtsp_url="rtsp://10.0.0.5/ch1", scale="1/4")


def test_fleet_refuses_a_bad_receive_path() -> None:
    with pytest.raises(mjpeg_rtp.ConfigError, match="io must be"):
        mray.CameraFleet([mray.Camera("gate", "127.0.0.1", 5004)], io="epoll")
    with pytest.raises(mjpeg_rtp.ConfigError, match="gro must be"):
        mray.CameraFleet([mray.Camera("gate", "127.0.0.1", 5004)], gro="no")  # type: ignore[arg-type]
