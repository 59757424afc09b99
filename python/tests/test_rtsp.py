"""A camera reached by RTSP (the runtime's RTSP client) from Python: a real
gst-rtsp-server serves known JPEGs; every frame that comes back is one of
them, pixel for pixel (its rebuilt JPEG decoded by libjpeg-turbo)."""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from pathlib import Path

import pytest

import mjpeg_rtp
from conftest import REPO, Originals, djpeg, need

SERVER = REPO / "tests" / "fixtures" / "tools" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(originals: Originals, port: int, *auth: str) -> subprocess.Popen:
    """gst-rtsp-server on `port`, serving the originals (they are named
    000.jpg, 001.jpg... in one folder), once it says READY; `auth` is
    ("basic" | "digest", user, password) when it asks for credentials."""
    have_gi = (
        Path(SYSTEM_PYTHON).exists()
        and subprocess.run(
            [
                SYSTEM_PYTHON,
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0')",
            ],
            capture_output=True,
        ).returncode
        == 0
    )
    need(have_gi, "gst-rtsp-server for the system python3 (python3-gi, gir1.2-gst-rtsp-server-1.0)")
    pattern = str(originals.paths[0].parent / "%03d.jpg")
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER), str(port), pattern, str(len(originals.paths)), "96", *auth],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    assert line == "READY", f"the RTSP server did not start: {line!r}"
    return server


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_camera_frames_are_the_served_jpegs(small_jpegs: Originals, transport: str) -> None:
    port = free_tcp_port()
    server = start_server(small_jpegs, port)
    try:
        config = mjpeg_rtp.CameraConfig(
            "door",
            None,
            0,
            rtsp_url=f"rtsp://127.0.0.1:{port}/cam",
            rtsp_transport=transport,
        )
        with mjpeg_rtp.MJPEGRTPClient() as client:
            client.add_camera(config)
            client.start()
            seen = set()
            for _ in range(3):
                result = client.get_frame("door", timeout=10.0)
                assert result is not None, "no frame from the RTSP camera"
                rgb, meta = result
                index = small_jpegs.index_of(djpeg(meta.jpeg_data))
                seen.add(index)
                assert meta.camera_id == "door"
                assert (meta.width, meta.height) == (320, 240)
                assert rgb.shape == (240, 320, 3)
                # From the server's sender reports once two agree (the
                # same machine's clock), None before.
                assert meta.capture_time is None or abs(meta.capture_time - time.time()) < 5
            assert seen, "frames came back"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_rtsp_transport_is_checked() -> None:
    with pytest.raises(mjpeg_rtp.ConfigError):
        mjpeg_rtp.CameraConfig("x", None, 0, rtsp_url="rtsp://127.0.0.1/cam", rtsp_transport="sctp")


def test_rtsp_transport_accepts_every_transport() -> None:
    for transport in ("udp", "tcp", "multicast", "auto"):
        mjpeg_rtp.CameraConfig("x", None, 0, rtsp_url="rtsp://127.0.0.1/cam", rtsp_transport=transport)


def test_a_refused_password_raises_auth_error(small_jpegs: Originals) -> None:
    """A wrong password is an AuthError, which is also a PermissionError."""
    port = free_tcp_port()
    server = start_server(small_jpegs, port, "digest", "admin", "right")
    try:
        client = mjpeg_rtp.MJPEGRTPClient()
        client.add_camera(
            mjpeg_rtp.CameraConfig(
                "door", None, 0, rtsp_url=f"rtsp://admin:N0tThis@127.0.0.1:{port}/cam", rtsp_transport="tcp"
            )
        )
        with pytest.raises(PermissionError) as raised:
            client.start()
        assert isinstance(raised.value, mjpeg_rtp.AuthError)
        assert isinstance(raised.value, mjpeg_rtp.MjpegRtpError)
        assert "N0tThis" not in str(raised.value), "no password in the message"
        client.stop()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_unreachable_camera_raises_start_error_with_errno() -> None:
    """Nothing listens: a StartError (an OSError) with ECONNREFUSED."""
    port = free_tcp_port()
    client = mjpeg_rtp.MJPEGRTPClient()
    client.add_camera(mjpeg_rtp.CameraConfig("door", None, 0, rtsp_url=f"rtsp://127.0.0.1:{port}/cam"))
    with pytest.raises(OSError) as raised:
        client.start()
    assert isinstance(raised.value, mjpeg_rtp.StartError)
    assert raised.value.errno == errno.ECONNREFUSED
    client.stop()
