"""The receive path a client is given: `io` ("std" or "uring") and UDP GRO
(`gro`), seen from outside: the backend it says it chose, which receive
threads run, and how the kernel's drops of GSO runs are counted (a dropped
run counts once with GRO, every datagram of it without)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import List

import pytest

import mjpeg_rtp
from conftest import need, wait_until

# Linux's UDP_SEGMENT (the GSO segment size; Python names it from 3.12 on).
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
RUNS = 300
# One send of 20 datagrams of 1400 bytes and one of 600 (not RTP: counted
# as invalid, which is beside the point here).
RUN = bytes(20 * 1400 + 600)
DATAGRAMS_PER_RUN = 21


def thread_names() -> List[str]:
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{tid}/comm").read_text().strip())
        except OSError:
            pass  # the thread ended meanwhile
    return names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GSO, GRO and io_uring are Linux's")
@pytest.mark.parametrize("gro", [True, False])
@pytest.mark.parametrize("io", ["std", "uring"])
def test_io_and_gro_choose_the_receive_path(io: str, gro: bool) -> None:
    # This test's own camera name, so that another client's threads
    # (one a failed test left alive) cannot stand in for this one's;
    # short, as a thread's name is cut at 15 bytes.
    camera = f"rp-{io}-{int(gro)}"
    rings_before = thread_names().count("rx-uring")
    client = mjpeg_rtp.MJPEGRTPClient(io=io, gro=gro)
    need(client.io == io, f"io={io!r} (the kernel refused io_uring)")
    # The smallest socket buffer the kernel allows, so that the runs
    # overflow it.
    client.add_camera(mjpeg_rtp.CameraConfig(camera, "127.0.0.1", 0, socket_buffer_size=1))
    client.start()
    try:
        # One ring thread for every camera, or a thread per camera. (A
        # thread names itself once it runs: wait for that.)
        def threads_as_chosen() -> bool:
            names = thread_names()
            new_rings = names.count("rx-uring") - rings_before
            return (new_rings, f"rx-{camera}" in names) == (int(io == "uring"), io == "std")

        assert wait_until(threads_as_chosen), thread_names()
        port = client.local_address(camera)[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, 1400)
            for _ in range(RUNS):
                sender.sendto(RUN, ("127.0.0.1", port))
        per_drop = DATAGRAMS_PER_RUN if gro else 1

        def all_accounted_for() -> bool:
            stats = client.stats(camera)
            dropped = stats["kernel_drops"] or 0
            return bool(stats["datagrams"] + per_drop * dropped == RUNS * DATAGRAMS_PER_RUN)

        # Drops are read about once a second: room for a busy machine.
        assert wait_until(all_accounted_for, timeout=15.0), client.stats(camera)
        assert (client.stats(camera)["kernel_drops"] or 0) > 0, "the runs overflowed the buffer"
    finally:
        client.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="io_uring is Linux's")
def test_io_names_the_backend_receiving_after_a_fallback_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # io_uring works when the client is made, and is refused at start()
    # (the variable the ring obeys, set in between): std receives, and
    # `io` says so from then on.
    camera = "rp-late-std"
    client = mjpeg_rtp.MJPEGRTPClient(io="uring")
    need(client.io == "uring", "io_uring (the kernel refused it)")
    client.add_camera(mjpeg_rtp.CameraConfig(camera, "127.0.0.1", 0))
    monkeypatch.setenv("MJPEG_RTP_URING_DISABLE", "1")
    client.start()
    try:
        assert client.io == "std"
        assert wait_until(lambda: f"rx-{camera}" in thread_names()), thread_names()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(5):
                sender.sendto(bytes(100), client.local_address(camera))
        assert wait_until(lambda: client.stats(camera)["datagrams"] == 5), client.stats(camera)
    finally:
        client.stop()
    assert client.io == "std"
