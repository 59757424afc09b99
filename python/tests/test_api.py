"""The API's shape: settings, errors where expected, fork, the stubs."""

from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mjpeg_rtp
from conftest import REPO, Originals, project_sender, started_client
from mjpeg_rtp import (
    BindError,
    CameraConfig,
    ConfigError,
    MJPEGRTPClient,
    MjpegRtpError,
    StateError,
    UnknownCameraError,
)


def test_camera_config_defaults_and_extras() -> None:
    c = CameraConfig(camera_id="cam1", host="192.168.1.100", port=17000,
                     width=1920, height=1080, fps=30)
    assert (c.camera_id, c.host, c.port) == ("cam1", "192.168.1.100", 17000)
    assert (c.width, c.height, c.fps) == (1920, 1080, 30.0)
    assert c.jitter_buffer_size == 30
    assert c.max_frame_age_ms == 1000
    assert c.socket_buffer_size == 2097152
    assert c.queue_size == 10
    assert c.bind_address == "0.0.0.0"
    assert c.multicast_group is None and c.payload_type is None
    x = CameraConfig("m", None, 5004, bind_address="::", payload_type=96, queue_size=3,
                     multicast_group="239.1.2.3", frames_in_flight=8)
    assert (x.host, x.payload_type, x.queue_size, x.frames_in_flight) == (None, 96, 3, 8)
    assert x.multicast_group == "239.1.2.3"
    assert "cam1" in repr(c)
    # RTCP on the port above: opt-in for UDP cameras, always for RTSP ones.
    assert c.rtcp is False
    assert CameraConfig("r", None, 5004, rtcp=True).rtcp is True
    assert CameraConfig("s", None, 0, rtsp_url="rtsp://127.0.0.1/cam").rtcp is True


def test_error_hierarchy() -> None:
    assert issubclass(BindError, MjpegRtpError) and issubclass(BindError, OSError)
    assert issubclass(ConfigError, MjpegRtpError) and issubclass(ConfigError, ValueError)
    assert issubclass(UnknownCameraError, MjpegRtpError) and issubclass(UnknownCameraError, KeyError)
    assert issubclass(StateError, RuntimeError)
    assert issubclass(mjpeg_rtp.CaptureError, ValueError)
    assert issubclass(mjpeg_rtp.StartError, OSError)
    for cls in (BindError, ConfigError, UnknownCameraError, StateError, MjpegRtpError):
        assert cls.__module__ == "mjpeg_rtp" and cls.__doc__


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(host="not a host!"),
        dict(host="no-such-host.invalid"),
        dict(port=70000),
        dict(port=-1),
        dict(width=640),
        dict(jitter_buffer_size=0),
        dict(max_frame_age_ms=0),
        dict(queue_size=0),
        dict(payload_type=26),
        dict(fps=-1.0),
        dict(multicast_group="10.0.0.1"),
        dict(camera_id=""),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict) -> None:
    args = dict(camera_id="cam", host="127.0.0.1", port=5004)
    args.update(kwargs)
    with pytest.raises(ConfigError) as raised:
        CameraConfig(**args)
    assert isinstance(raised.value, ValueError)


def test_port_in_use_is_a_bind_error(busy_port: int) -> None:
    client = MJPEGRTPClient()
    with pytest.raises(BindError) as raised:
        client.add_camera(CameraConfig("cam", None, busy_port))
    assert isinstance(raised.value, OSError)
    assert raised.value.errno == errno.EADDRINUSE
    assert str(busy_port) in str(raised.value)


def test_unknown_camera() -> None:
    client, _ = started_client("cam")
    for call in (
        lambda: client.get_frame("nope", timeout=0),
        lambda: client.stats("nope"),
        lambda: client.local_address("nope"),
        lambda: client.frames("nope"),
        lambda: client.get_frames(["cam", "nope"], timeout=0),
    ):
        with pytest.raises(UnknownCameraError) as raised:
            call()
        assert isinstance(raised.value, KeyError)
    client.stop()


def test_state_errors() -> None:
    client = MJPEGRTPClient()
    with pytest.raises(StateError):
        client.start()  # no camera
    client.add_camera(CameraConfig("cam", "127.0.0.1", 0))
    with pytest.raises(ConfigError):
        client.add_camera(CameraConfig("cam", "127.0.0.1", 0))  # duplicate id
    with pytest.raises(StateError):
        client.get_frame("cam", timeout=0)  # not started
    with pytest.raises(StateError):
        client.get_frames(timeout=0)
    client.start()
    with pytest.raises(StateError):
        client.start()
    with pytest.raises(StateError):
        client.add_camera(CameraConfig("late", "127.0.0.1", 0))
    with pytest.raises(ValueError):
        client.get_frame("cam", timeout=-1)
    client.stop()


def test_decoder_choice() -> None:
    assert "zune-jpeg" in mjpeg_rtp.decoders()
    assert MJPEGRTPClient().decoder == "zune-jpeg"
    with pytest.raises(ConfigError):
        MJPEGRTPClient(decoder="no-such-decoder")
    if "libjpeg-turbo" not in mjpeg_rtp.decoders():
        with pytest.raises(ConfigError):
            MJPEGRTPClient(decoder="libjpeg-turbo")


def test_context_manager_stops_on_exit_and_on_error() -> None:
    with MJPEGRTPClient() as client:
        client.add_camera(CameraConfig("cam", "127.0.0.1", 0))
        client.start()
        assert client.is_running
    assert not client.is_running
    with pytest.raises(ZeroDivisionError):
        with MJPEGRTPClient() as other:
            other.add_camera(CameraConfig("cam", "127.0.0.1", 0))
            other.start()
            1 / 0
    assert not other.is_running


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork()")
def test_fork(small_jpegs: Originals) -> None:
    """The child's copy of a client has no threads: it refuses use and is
    leaked, not joined; arrays inherited stay readable and are let go
    without touching the parent's pools; a client made in the child
    works (the documented way); the parent's client keeps working."""
    script = textwrap.dedent(
        f"""
        import os, subprocess, mjpeg_rtp

        def send(client, files):
            port = client.local_address("cam")[1]
            subprocess.run([{project_sender()!r}, "send", *files, "--to", f"127.0.0.1:{{port}}",
                            "--fps", "100"], check=True, stdout=subprocess.DEVNULL)

        files = {[str(p) for p in small_jpegs.paths[:2]]!r}
        c = mjpeg_rtp.MJPEGRTPClient()
        c.add_camera(mjpeg_rtp.CameraConfig("cam", "127.0.0.1", 0))
        c.start()
        send(c, files)
        rgb, meta = c.get_frame("cam", timeout=3.0)
        pid = os.fork()
        if pid == 0:
            try:
                c.get_frame("cam", timeout=0)
                os._exit(3)
            except mjpeg_rtp.StateError:
                pass
            assert rgb.shape == (240, 320, 3) and int(rgb.sum()) > 0
            del rgb, meta, c
            mine = mjpeg_rtp.MJPEGRTPClient()
            mine.add_camera(mjpeg_rtp.CameraConfig("cam", "127.0.0.1", 0))
            mine.start()
            send(mine, files)
            for _ in range(2):
                frame, _ = mine.get_frame("cam", timeout=3.0)
                del frame
            mine.stop()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert c.get_frame("cam", timeout=3.0) is not None
        c.stop()
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_stubs_match_the_module() -> None:
    """mypy.stubtest: the hand-written .pyi says what the module has."""
    allow = ["--allowlist", str(Path(__file__).with_name("stubtest_allowlist.txt"))]
    if importlib.util.find_spec("ray") is None:
        # mjpeg_rtp.ray needs the optional extra; python/tests_ray checks it.
        allow += ["--allowlist", str(Path(__file__).with_name("stubtest_allowlist_without_ray.txt"))]
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "mjpeg_rtp", *allow],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_readme_example_type_checks(tmp_path: Path) -> None:
    """The README's example, checked by mypy against the stubs."""
    example = tmp_path / "example.py"
    example.write_text(
        "from typing import Optional, Tuple\n"
        "import numpy as np\n"
        "from mjpeg_rtp import MJPEGRTPClient, CameraConfig, Frame\n"
        "client = MJPEGRTPClient()\n"
        "client.add_camera(CameraConfig(camera_id='cam1', host='192.168.1.100', port=17000,\n"
        "                               width=1920, height=1080, fps=30))\n"
        "client.start()\n"
        "result = client.get_frame('cam1', timeout=1.0)\n"
        "if result:\n"
        "    rgb, meta = result\n"
        "    assert rgb is not None  # None only for a camera with decode=False\n"
        "    shape: Tuple[int, ...] = rgb.shape\n"
        "    lost: int = meta.packets_lost\n"
        "    jpeg: bytes = meta.jpeg_data\n"
        "    when: Optional[float] = meta.receive_monotonic\n"
        "for rgb, meta in client.frames('cam1', timeout=1.0):\n"
        "    assert rgb is not None and rgb.dtype == np.uint8\n"
        "counters: int = client.stats('cam1')['packets_lost']\n"
        "client.stop()\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(example)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
