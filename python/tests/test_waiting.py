"""Waiting: timeouts within bounds, the GIL released, Ctrl-C, stop() from
another thread, several consumer threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from typing import List

import pytest

from conftest import Originals, send, started_client


@pytest.mark.parametrize("timeout", [0.0, 0.05, 0.3, 1.0])
def test_timeout_within_bounds(timeout: float) -> None:
    client, _ = started_client()
    start = time.monotonic()
    assert client.get_frame("cam", timeout=timeout) is None
    took = time.monotonic() - start
    assert timeout <= took <= timeout + 0.15
    client.stop()


def test_gil_released_while_waiting() -> None:
    """Another Python thread runs freely during a blocking wait."""
    client, _ = started_client()
    counts = [0]
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            counts[0] += 1

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    # Let the spinner start, then see how far it gets during the wait.
    time.sleep(0.05)
    before = counts[0]
    assert client.get_frame("cam", timeout=0.5) is None
    during = counts[0] - before
    done.set()
    spinner.join()
    # Held GIL: the spinner gets only the interpreter's switch interval
    # slices (5 ms) if any; free: hundreds of thousands of iterations.
    assert during > 100_000
    client.stop()


def test_keyboard_interrupt_during_wait_forever() -> None:
    """SIGINT from a timer raises KeyboardInterrupt within 0.2 s."""
    script = textwrap.dedent(
        """
        import os, signal, threading, time, mjpeg_rtp
        client = mjpeg_rtp.MJPEGRTPClient()
        client.add_camera(mjpeg_rtp.CameraConfig("cam", "127.0.0.1", 0))
        client.start()
        sent = []
        def interrupt():
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)
        threading.Timer(0.3, interrupt).start()
        try:
            client.get_frame("cam", timeout=None)
            print("no interrupt")
        except KeyboardInterrupt:
            print("latency", time.monotonic() - sent[0])
        client.stop()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    word, latency = out.stdout.split()
    assert word == "latency"
    assert float(latency) < 0.2


def test_stop_from_another_thread_wakes_every_waiter() -> None:
    client, _ = started_client()
    results: List[object] = []
    returned: List[float] = []

    def wait(camera: object) -> None:
        results.append(client.get_frame(camera, timeout=None))  # type: ignore[arg-type]
        returned.append(time.monotonic())

    waiters = [threading.Thread(target=wait, args=(c,), daemon=True) for c in ("cam", None, "cam", None)]
    for w in waiters:
        w.start()
    time.sleep(0.3)
    stopped_at = time.monotonic()
    threading.Thread(target=client.stop).start()
    for w in waiters:
        w.join(timeout=5)
    assert not any(w.is_alive() for w in waiters)
    assert results == [None] * 4
    assert max(returned) - stopped_at < 0.5


def test_threads_share_frames_without_duplicates(small_jpegs: Originals) -> None:
    client, port = started_client(queue_size=50)
    taken: List[int] = []
    lock = threading.Lock()

    def consume() -> None:
        while True:
            got = client.get_frame("cam", timeout=1.0)
            if got is None:
                return
            with lock:
                taken.append(got[1].timestamp)

    consumers = [threading.Thread(target=consume, daemon=True) for _ in range(4)]
    for c in consumers:
        c.start()
    send(small_jpegs.paths, port, fps=200)
    for c in consumers:
        c.join(timeout=30)
    assert len(taken) == len(set(taken)) == len(small_jpegs.paths)
    assert client.stats("cam")["frames_delivered"] == len(taken)
    client.stop()


def test_stop_is_idempotent_and_frames_stay_takeable(small_jpegs: Originals) -> None:
    client, port = started_client()
    send(small_jpegs.paths[:2], port, fps=100)
    deadline = time.monotonic() + 3
    while client.stats("cam")["frames_decoded"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    client.stop()
    client.stop()
    assert client.get_frame("cam", timeout=0) is not None
    assert client.get_frame("cam", timeout=0) is not None
    assert client.get_frame("cam", timeout=None) is None
