"""What the consumer takes and pays for: frames of one camera in order,
`delivery="latest"` (only what is taken is decoded), `max_fps` (thinned
by RTP timestamp before decode, live and in a capture alike), decode at
the model's size, `decode=False` with `mjpeg_rtp.decode` later, and a
JPEG that costs nothing until read."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

import mjpeg_rtp
from conftest import REPO, Originals, decoders, need, start_send, wait_until


def client_with(cameras: Dict[str, dict], **client_options) -> mjpeg_rtp.MJPEGRTPClient:  # type: ignore[type-arg]
    """A started client with a camera on a free loopback port per entry."""
    client = mjpeg_rtp.MJPEGRTPClient(**client_options)
    for camera_id, options in cameras.items():
        client.add_camera(mjpeg_rtp.CameraConfig(camera_id, "127.0.0.1", 0, **options))
    client.start()
    return client


def port(client: mjpeg_rtp.MJPEGRTPClient, camera_id: str) -> int:
    return client.local_address(camera_id)[1]


def test_frames_of_each_camera_come_in_timestamp_order(small_jpegs: Originals) -> None:
    """Two cameras, two decode threads, every frame taken for 10 s: each
    camera's timestamps only grow."""
    client = client_with({"a": {}, "b": {}}, decode_threads=2)
    senders = [
        start_send(small_jpegs.paths, port(client, c), 30.0, "--loop") for c in ("a", "b")
    ]
    last: Dict[str, int] = {}
    taken = {"a": 0, "b": 0}
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            got = client.get_frame(timeout=1.0)
            assert got is not None
            _, meta = got
            before = last.get(meta.camera_id)
            assert before is None or meta.extended_timestamp > before
            last[meta.camera_id] = meta.extended_timestamp
            taken[meta.camera_id] += 1
    finally:
        for s in senders:
            s.kill()
        client.stop()
    assert min(taken.values()) > 200, taken


def test_latest_returns_newer_frames_and_decodes_only_those(small_jpegs: Originals) -> None:
    client = client_with({"cam": {"delivery": "latest"}})
    sender = start_send(small_jpegs.paths, port(client, "cam"), 30.0, "--loop")
    stamps: List[int] = []
    try:
        end = time.monotonic() + 3
        while time.monotonic() < end:
            got = client.get_frame("cam", timeout=1.0)
            assert got is not None
            rgb, meta = got
            assert rgb is not None and rgb.shape == (240, 320, 3)
            stamps.append(meta.extended_timestamp)
            time.sleep(0.2)  # a consumer at about 5 fps
    finally:
        sender.kill()

    def untaken() -> int:
        s = client.stats("cam")
        return s["frames_complete"] - s["frames_decoded"] - s["frames_superseded"]

    # Every complete frame was taken, superseded or still waits (one);
    # the receive path publishes its own counters a moment after the
    # depacketizer's.
    assert wait_until(lambda: untaken() in (0, 1)), client.stats("cam")
    stats = client.stats("cam")
    client.stop()
    assert all(b > a for a, b in zip(stamps, stamps[1:])), stamps
    assert stats["frames_decoded"] == stats["frames_delivered"] == len(stamps)
    assert stats["frames_complete"] > 3 * stats["frames_decoded"], stats


def test_get_frames_takes_the_newest_of_every_camera_at_once(small_jpegs: Originals) -> None:
    """A model's batch: three latest cameras and a queue camera, swept
    with get_frames at about 5 fps. A batch holds the cameras that have
    something new; a latest camera's frames only get newer, each is
    exactly the decode of its own JPEG, and only taken frames are
    decoded."""
    latest = ["a", "b", "c"]
    cameras: Dict[str, dict] = {c: {"delivery": "latest"} for c in latest}  # type: ignore[type-arg]
    cameras["q"] = {}
    client = client_with(cameras, decode_threads=2)
    senders = [start_send(small_jpegs.paths, port(client, c), 30.0, "--loop") for c in cameras]
    stamps: Dict[str, List[int]] = {c: [] for c in cameras}
    sweeps = 15
    try:
        # Every sender running first (their start-up is not the point).
        for camera_id in cameras:
            assert client.get_frame(camera_id, timeout=10.0) is not None, camera_id
        for _ in range(sweeps):
            time.sleep(0.2)  # a model at about 5 fps: 30 fps cameras have news
            batch = client.get_frames(timeout=5.0)
            assert set(batch) <= set(cameras)
            for camera_id, (rgb, meta) in batch.items():
                assert meta.camera_id == camera_id
                assert rgb is not None and rgb.shape == (240, 320, 3)
                assert np.array_equal(rgb, mjpeg_rtp.decode(meta.jpeg_data, decoder=client.decoder))
                stamps[camera_id].append(meta.extended_timestamp)
        # Only the cameras asked for; none at all is no frame at once.
        assert set(client.get_frames(["b"], timeout=5.0)) == {"b"}
        assert client.get_frames([], timeout=None) == {}
    finally:
        for sender in senders:
            sender.kill()
    for camera_id in cameras:
        # Nearly every sweep finds news on every camera (200 ms is six
        # frames); a loaded machine may leave one out now and then.
        assert len(stamps[camera_id]) >= 0.7 * sweeps, stamps
    for camera_id in latest:
        assert all(b > a for a, b in zip(stamps[camera_id], stamps[camera_id][1:])), stamps
    stats = client.stats()
    client.stop()
    for camera_id in latest:
        s = stats[camera_id]
        assert s["frames_decoded"] == s["frames_delivered"], s
        assert s["frames_complete"] > 3 * s["frames_decoded"], s
    # Once stopped, what waits is still handed out, then nothing (at
    # once, however long the timeout).
    client.get_frames(timeout=0)
    assert client.get_frames(latest, timeout=None) == {}


# ----------------------------------------------------------- max_fps


class LoopbackCapture:
    """Packets on the loopback interface written as a pcap (Ethernet link
    type), from a packet socket: needs root (CAP_NET_RAW)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        except PermissionError:
            need(False, "a packet socket (root) to capture loopback")
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.stopping = False
        self.file = path.open("wb")
        self.file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            try:
                data, address = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if address[2] != socket.PACKET_HOST:
                continue  # each loopback packet is also seen outgoing
            now = time.time()
            seconds = int(now)
            self.file.write(
                struct.pack("<IIII", seconds, int((now - seconds) * 1e6), len(data), len(data))
            )
            self.file.write(data)

    def stop(self) -> None:
        self.stopping = True
        self.thread.join()
        self.sock.close()
        self.file.close()


def test_max_fps_thins_live_and_in_a_capture_alike(small_jpegs: Originals, tmp_path: Path) -> None:
    client = client_with({"cam": {"max_fps": 5, "queue_size": 100}})
    udp_port = port(client, "cam")
    capture = LoopbackCapture(tmp_path / "stream.pcap")
    sender = start_send(small_jpegs.paths * 8, udp_port, 30.0)
    live: List[int] = []
    first = None
    while True:
        got = client.get_frame("cam", timeout=1.5)
        if got is None:
            break
        first = first or time.monotonic()
        live.append(got[1].timestamp)
    assert sender.wait(timeout=30) == 0
    capture.stop()
    stats = client.stats("cam")
    client.stop()
    seconds = stats["frames_complete"] / 30.0
    assert abs(len(live) / seconds - 5) <= 1, (len(live), seconds)
    assert stats["frames_thinned"] == stats["frames_complete"] - len(live)
    assert stats["frames_decoded"] == len(live)
    replayed = [meta.timestamp for _, meta in mjpeg_rtp.read_pcap(capture.path, udp_port, max_fps=5)]
    assert replayed == live


# ---------------------------------------------- model size, JPEG only


def sent_frames(client: mjpeg_rtp.MJPEGRTPClient, camera_id: str, originals: Originals) -> list:  # type: ignore[type-arg]
    sender = start_send(originals.paths, port(client, camera_id), 30.0)
    frames = []
    while len(frames) < len(originals.paths):
        got = client.get_frame(camera_id, timeout=5.0)
        assert got is not None
        frames.append(got)
    assert sender.wait(timeout=30) == 0
    return frames


@pytest.mark.parametrize("decoder", decoders())
@pytest.mark.parametrize(
    "options",
    [{"scale": "1/4"}, {"scale": "1/2", "resize": (100, 60)}, {"resize": (224, 224)}, {"fast": True}],
)
def test_model_size_equals_the_rust_decode(small_jpegs: Originals, decoder: str, options: dict) -> None:  # type: ignore[type-arg]
    if options.get("fast") and decoder != "libjpeg-turbo":
        with pytest.raises(mjpeg_rtp.ConfigError):
            mjpeg_rtp.decode(small_jpegs.jpegs[0], decoder=decoder, **options)
        return
    # Per camera here; client-wide defaults are checked below.
    client = client_with({"cam": options}, decoder=decoder)
    frames = sent_frames(client, "cam", small_jpegs)
    client.stop()
    for rgb, meta in frames:
        again = mjpeg_rtp.decode(meta.jpeg_data, decoder=decoder, **options)
        assert again.flags.writeable
        assert rgb is not None and np.array_equal(rgb, again)
        if "resize" in options:
            assert rgb.shape == (options["resize"][1], options["resize"][0], 3)
        elif options.get("scale") == "1/4":
            assert rgb.shape == (60, 80, 3)
    # The same through read_pcap's options is checked in test_pcap.


def test_client_defaults_and_camera_overrides(small_jpegs: Originals) -> None:
    client = client_with(
        {"default": {}, "own": {"scale": "1/2"}, "jpeg": {"decode": False}},
        scale="1/4",
    )
    decoded = sent_frames(client, "default", small_jpegs)
    own = sent_frames(client, "own", small_jpegs)
    passed = sent_frames(client, "jpeg", small_jpegs)
    client.stop()
    assert {rgb.shape for rgb, _ in decoded} == {(60, 80, 3)}
    assert {rgb.shape for rgb, _ in own} == {(120, 160, 3)}
    for (rgb, _), (none, meta) in zip(decoded, passed):
        assert none is None
        # Decoded later, it is what the decoding camera gave.
        later = mjpeg_rtp.decode(meta.jpeg_data, scale="1/4")
        assert np.array_equal(later, rgb)
    config = mjpeg_rtp.CameraConfig("x", None, 0, scale="1/8", delivery="latest", max_fps=2.5)
    assert (config.scale, config.resize, config.delivery, config.max_fps) == ("1/8", None, "latest", 2.5)


def test_jpeg_data_is_made_once() -> None:
    frames = list(mjpeg_rtp.read_pcap(fixture_capture(), decode=False))
    assert frames
    rgb, meta = frames[0]
    assert rgb is None
    assert meta.jpeg_data is meta.jpeg_data
    assert meta.jpeg_data[:2] == b"\xff\xd8"


def fixture_capture() -> Path:
    captures = sorted((REPO / "tests" / "fixtures").glob("*/*.pcap*"))
    assert captures, "the repository's fixture captures"
    return captures[0]


@pytest.mark.parametrize(
    "bad",
    [{"scale": "1/3"}, {"resize": (0, 10)}, {"delivery": "newest"}, {"max_fps": 0}, {"max_fps": -2}],
)
def test_bad_options_are_config_errors(bad: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(mjpeg_rtp.ConfigError):
        mjpeg_rtp.CameraConfig("x", None, 0, **bad)
    with pytest.raises(mjpeg_rtp.ConfigError):
        mjpeg_rtp.MJPEGRTPClient(**bad)


def test_decode_refuses_what_is_not_a_jpeg() -> None:
    with pytest.raises(mjpeg_rtp.DecodeError):
        mjpeg_rtp.decode(b"not a jpeg")
    with pytest.raises(ValueError):
        mjpeg_rtp.decode(b"\xff\xd8\xff\xd9")


def test_the_package_does_not_build_the_command() -> None:
    """The wheel's crate does not depend on the command's crate (clap,
    tiny_http, prometheus-client)."""
    cargo = shutil.which("cargo")
    need(cargo is not None, "cargo")
    assert cargo is not None
    tree = subprocess.run(
        [cargo, "tree", "-p", "mjpeg-rtp-python", "-e", "normal", "--prefix", "none"],
        cwd=REPO, check=True, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "CARGO_NET_OFFLINE": "true"},
    ).stdout
    names = {line.split(" ")[0] for line in tree.splitlines()}
    assert "mjpeg-rtp-capture" in names
    assert not names & {"mjpeg-rtp-cli", "clap", "tiny_http", "prometheus-client"}, names
