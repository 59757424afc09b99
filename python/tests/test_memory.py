"""Memory: the array is the frame's buffer (no copy), it outlives the
client, buffers are recycled, and a consumer that stops taking frames
does not grow memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import List

import numpy as np

import mjpeg_rtp
from conftest import Originals, collect, make_jpegs, project_sender, send, started_client, wait_until


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_array_is_the_frame_buffer(small_jpegs: Originals) -> None:
    client, port = started_client()
    send(small_jpegs.paths[:2], port, fps=100)
    frames = collect(client, 2, timeout=3.0)
    assert len(frames) == 2
    for rgb, _ in frames:
        assert isinstance(rgb.base, mjpeg_rtp.FrameBuffer)
        assert rgb.base.nbytes == rgb.nbytes == 320 * 240 * 3
        assert not rgb.flags.owndata
        assert rgb.flags.c_contiguous and rgb.flags.writeable and rgb.flags.aligned
        rgb[0, 0] = (1, 2, 3)  # writeable for real
        assert tuple(rgb[0, 0]) == (1, 2, 3)
    client.stop()


def test_no_frame_sized_allocation_and_buffers_recycled(tmp_path: Path) -> None:
    """tracemalloc (which sees numpy's data allocations) sees nothing the
    size of a frame while frames flow; the pixel buffers are a few pooled
    ones used over and over."""
    originals = make_jpegs(tmp_path, 4, 640, 480)
    client, port = started_client(queue_size=40)
    frame_bytes = 640 * 480 * 3
    sender = subprocess.Popen(
        [project_sender(), "send", *map(str, originals), "--to", f"127.0.0.1:{port}",
         "--fps", "100", "--loop", "--frames", "40"],
        stdout=subprocess.DEVNULL,
    )
    addresses = set()
    tracemalloc.start()
    try:
        taken = 0
        while taken < 40:
            got = client.get_frame("cam", timeout=3.0)
            assert got is not None
            rgb, meta = got
            addresses.add(rgb.__array_interface__["data"][0])
            assert len(meta.jpeg_data) < frame_bytes // 4
            taken += 1
            del rgb, meta, got
        snapshot = tracemalloc.take_snapshot()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        sender.wait(timeout=30)
    largest = max((s.size for s in snapshot.statistics("traceback")), default=0)
    assert largest < frame_bytes // 2
    assert peak < frame_bytes, "no frame was ever copied into a Python allocation"
    # Each buffer back in the pool once its array died: a handful of
    # addresses for 40 frames.
    assert len(addresses) <= 8
    client.stop()


def test_array_outlives_stop_del_and_gc_under_dev_mode(small_jpegs: Originals) -> None:
    """Python's debug allocator hooks (-X dev) fill freed memory: pixels
    read after stop, del and gc prove the buffer was kept."""
    script = textwrap.dedent(
        f"""
        import gc, subprocess, sys
        import numpy as np
        import mjpeg_rtp
        client = mjpeg_rtp.MJPEGRTPClient()
        client.add_camera(mjpeg_rtp.CameraConfig("cam", "127.0.0.1", 0))
        client.start()
        port = client.local_address("cam")[1]
        subprocess.run([{project_sender()!r}, "send", *{[str(p) for p in small_jpegs.paths[:3]]!r},
                        "--to", f"127.0.0.1:{{port}}", "--fps", "100"],
                       check=True, stdout=subprocess.DEVNULL)
        arrays, copies = [], []
        for _ in range(3):
            rgb, meta = client.get_frame("cam", timeout=3.0)
            arrays.append(rgb[10:50])      # a view: the base is kept by it
            copies.append(np.array(rgb[10:50]))
            del rgb, meta
        client.stop()
        del client
        gc.collect()
        junk = [np.full((240, 320, 3), 0xAB, np.uint8) for _ in range(20)]
        gc.collect()
        for view, copy in zip(arrays, copies):
            assert np.array_equal(view, copy)
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert "ResourceWarning" not in out.stderr


def test_memory_bounded_when_the_consumer_stops_taking(tmp_path: Path) -> None:
    originals = make_jpegs(tmp_path, 4, 1280, 720)
    client, port = started_client(queue_size=4)
    # Warm up: the pools and queues at their full size.
    subprocess.run(
        [project_sender(), "send", *map(str, originals), "--to", f"127.0.0.1:{port}",
         "--fps", "100", "--loop", "--frames", "40"],
        check=True, stdout=subprocess.DEVNULL,
    )
    assert wait_until(lambda: client.stats("cam")["frames_decoded"] >= 8)
    before = rss_bytes()
    subprocess.run(
        [project_sender(), "send", *map(str, originals), "--to", f"127.0.0.1:{port}",
         "--fps", "100", "--loop", "--frames", "300"],
        check=True, stdout=subprocess.DEVNULL,
    )
    # Until the last frames in flight are received and decoded.
    last: List[object] = [None]

    def settled() -> bool:
        s = client.stats("cam")
        now = (s["frames_complete"], s["frames_decoded"])
        if now == last[0]:
            return True
        last[0] = now
        time.sleep(0.2)
        return False

    assert wait_until(settled, timeout=10)
    grown = rss_bytes() - before
    stats = client.stats("cam")
    assert stats["frames_complete"] >= 250
    # Frames went by and were shed, oldest first, by the queue (or, on a
    # busy machine, before decoding when the decoders fell behind).
    assert stats["frames_dropped_queue"] >= 100
    assert stats["frames_dropped_queue"] + stats["frames_dropped_backlog"] >= 250
    # 300 frames of 2.7 MB went by; what stays is bounded by the queue
    # and the pools, already warm.
    assert grown < 16 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB"
    kept = collect(client, 100, timeout=0.2)
    assert len(kept) == 4, "the queue holds queue_size frames, the newest"
    assert all(isinstance(rgb, np.ndarray) for rgb, _ in kept)
    client.stop()
