"""Shared helpers: test pictures, the reference decoder, the senders.

Pixels are checked against libjpeg-turbo's own decode of the sent JPEGs
(`djpeg`, what Pillow and most image libraries produce). Where the peers
are installed for the test command (`MJPEG_RTP_REQUIRE_PEERS=1`, set by
`.ci/checks/python.sh`), a test that would skip for want of one fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import pytest

import mjpeg_rtp
from project_command import project_command

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
REQUIRE_PEERS = os.environ.get("MJPEG_RTP_REQUIRE_PEERS") == "1"


def need(condition: bool, what: str) -> None:
    """Skip without `what`, or fail when the peers are required."""
    if condition:
        return
    if REQUIRE_PEERS:
        pytest.fail(f"{what} is missing (MJPEG_RTP_REQUIRE_PEERS=1)")
    pytest.skip(f"{what} is missing")


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, name)
    assert path is not None
    return path


def decoders() -> List[str]:
    """Every decoder to test; libjpeg-turbo is required with the peers."""
    if REQUIRE_PEERS:
        assert "libjpeg-turbo" in mjpeg_rtp.decoders(), "build with --features turbojpeg"
    return mjpeg_rtp.decoders()


# ----------------------------------------------------------------- pictures


def picture(index: int, width: int, height: int) -> np.ndarray:
    """A smooth, moving, colourful picture, different for every index."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = index * 0.37
    r = 127 + 120 * np.sin(x / (17 + index % 5) + t)
    g = 127 + 120 * np.cos(y / 23 - t) * np.sin((x + y) / 41)
    b = (x * 255 / max(width - 1, 1) + index * 29) % 256
    rgb = np.stack([r, g, b], axis=-1)
    # A sharp square that moves: edges the decoders must agree on.
    s = max(min(width, height) // 6, 4)
    x0 = (index * 13) % max(width - s, 1)
    y0 = (index * 7) % max(height - s, 1)
    rgb[y0 : y0 + s, x0 : x0 + s] = (250, 20, 60)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_ppm(path: Path, rgb: np.ndarray) -> None:
    h, w, _ = rgb.shape
    path.write_bytes(b"P6\n%d %d\n255\n" % (w, h) + rgb.tobytes())


def read_ppm(data: bytes) -> np.ndarray:
    """A binary P6 PPM (as djpeg writes it) as an (H, W, 3) array."""
    fields: List[bytes] = []
    pos = 2
    while len(fields) < 3:
        while data[pos : pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    w, h, _maxval = (int(f) for f in fields)
    pixels = data[pos + 1 : pos + 1 + w * h * 3]
    return np.frombuffer(pixels, dtype=np.uint8).reshape(h, w, 3)


def djpeg(jpeg: bytes) -> np.ndarray:
    """libjpeg-turbo's default decode (accurate IDCT, fancy upsampling)."""
    out = subprocess.run(
        [need_tool("djpeg"), "-ppm"], input=jpeg, stdout=subprocess.PIPE, check=True
    ).stdout
    return read_ppm(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def make_jpegs(
    directory: Path, count: int, width: int, height: int, sample: str = "2x2"
) -> List[Path]:
    """`count` baseline JPEGs (cjpeg: standard Huffman tables, as RTP/JPEG
    requires), named in send order."""
    cjpeg = need_tool("cjpeg")
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        ppm = directory / f"{i:03d}.ppm"
        write_ppm(ppm, picture(i, width, height))
        jpg = directory / f"{i:03d}.jpg"
        subprocess.run(
            [cjpeg, "-quality", "85", "-sample", sample, "-outfile", str(jpg), str(ppm)],
            check=True,
        )
        ppm.unlink()
        paths.append(jpg)
    return paths


class Originals:
    """The sent JPEGs and libjpeg-turbo's decode of each."""

    def __init__(self, paths: List[Path]) -> None:
        self.paths = paths
        self.jpegs = [p.read_bytes() for p in paths]
        self.pixels = [djpeg(j) for j in self.jpegs]

    def index_of(self, rgb: np.ndarray) -> int:
        """Which original a decode is (exactly)."""
        for i, ref in enumerate(self.pixels):
            if ref.shape == rgb.shape and np.array_equal(ref, rgb):
                return i
        raise AssertionError("the pixels match no sent JPEG")


@pytest.fixture(scope="session")
def small_jpegs(tmp_path_factory: pytest.TempPathFactory) -> Originals:
    """12 distinct 320x240 4:2:0 JPEGs."""
    return Originals(make_jpegs(tmp_path_factory.mktemp("small"), 12, 320, 240))


# ------------------------------------------------------------------ senders


def project_sender() -> str:
    """The `mjpeg-rtp` command (MJPEG_RTP_BIN, or built with cargo)."""
    return project_command(lambda: need(False, "cargo (to build the mjpeg-rtp command)"))


def start_send(files: List[Path], port: int, fps: float = 30.0, *extra: str) -> subprocess.Popen:
    """Start sending `files` once over RTP to 127.0.0.1:port with the
    project's sender."""
    return subprocess.Popen(
        [project_sender(), "send", *map(str, files), "--to", f"127.0.0.1:{port}",
         "--fps", str(fps), *extra],
        stdout=subprocess.DEVNULL,
    )


def send(files: List[Path], port: int, fps: float = 30.0, *extra: str) -> None:
    """Send `files` and return once all are sent (more than a camera's
    queue holds are then partly dropped, oldest first: take them while
    sending with start_send instead)."""
    assert start_send(files, port, fps, *extra).wait(timeout=120) == 0


def start_gst_send(files: List[Path], port: int, fps: int = 30, mtu: int = 1000) -> subprocess.Popen:
    """Start sending `files` (named 000.jpg...) with GStreamer's rtpjpegpay."""
    gst = need_tool("gst-launch-1.0")
    directory = files[0].parent
    return subprocess.Popen(
        [
            gst, "-q", "imagesequencesrc", f"location={directory}/%03d.jpg", "start-index=0",
            f"stop-index={len(files) - 1}", f"framerate={fps}/1", "!", "jpegparse", "!",
            "rtpjpegpay", f"mtu={mtu}", "!", "udpsink", "host=127.0.0.1", f"port={port}",
            "sync=true",
        ],
        stdout=subprocess.DEVNULL,
    )


# ------------------------------------------------------------------ clients

Frames = List[Tuple[np.ndarray, mjpeg_rtp.Frame]]


def started_client(
    camera_id: str = "cam", host: Optional[str] = "127.0.0.1", decoder: str = "zune-jpeg", **config
) -> Tuple[mjpeg_rtp.MJPEGRTPClient, int]:
    """A started client with one camera on a free port; and the port."""
    client = mjpeg_rtp.MJPEGRTPClient(decoder=decoder)
    client.add_camera(mjpeg_rtp.CameraConfig(camera_id, host, 0, **config))
    client.start()
    return client, client.local_address(camera_id)[1]


def collect(
    client: mjpeg_rtp.MJPEGRTPClient, count: int, timeout: float = 5.0, camera_id: Optional[str] = None
) -> Frames:
    """Up to `count` frames, giving up after `timeout` s without one."""
    frames: Frames = []
    while len(frames) < count:
        got = client.get_frame(camera_id, timeout=timeout)
        if got is None:
            break
        frames.append(got)
    return frames


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def free_udp_port() -> Iterator[socket.socket]:
    """A UDP socket bound to a free port of 0.0.0.0 (kept open)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A UDP port that another socket holds."""
    for s in free_udp_port():
        yield s.getsockname()[1]
