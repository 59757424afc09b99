"""A Ray cluster on this machine for mjpeg_rtp.ray's tests, and RTSP
cameras to feed it.

`ray.cluster_utils.Cluster`: a head node without CPUs (so every shard runs
on a worker) and two workers labelled site=a and site=b, the head's health
check at 500 ms x 3 (what the README advises). The cameras are
gst-rtsp-server sessions (the system python3's, as in python/tests): each
RTSP session plays the test pictures from the first, at 5 fps.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

# The package tests' helpers (pictures, djpeg, need), loaded under
# another name: this file is `conftest` here.
_TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(_TESTS))
_spec = importlib.util.spec_from_file_location("package_tests", _TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
package_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(package_tests)
REPO = package_tests.REPO
Originals = package_tests.Originals
djpeg = package_tests.djpeg
make_jpegs = package_tests.make_jpegs
need = package_tests.need
psnr = package_tests.psnr
start_gst_send = package_tests.start_gst_send
wait_until = package_tests.wait_until

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

SERVER = REPO / "tests" / "fixtures" / "tools" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
# Pictures per RTSP session: 5 minutes at the server's 5 fps, the same 12
# pictures over and over (symbolic links), so that no session ends
# during a test.
SESSION_FRAMES = 1500
HEALTH_CHECK = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}


@pytest.fixture(scope="session")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Originals:
    """12 distinct 320x240 JPEGs (the originals the frames are checked
    against)."""
    return Originals(make_jpegs(tmp_path_factory.mktemp("pictures"), 12, 320, 240))


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def rtsp_url(pictures: Originals, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An RTSP camera URL: every session plays the pictures in a loop."""
    have_gi = Path(SYSTEM_PYTHON).exists() and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
        capture_output=True,
    ).returncode == 0
    need(have_gi, "gst-rtsp-server for the system python3 (python3-gi, gir1.2-gst-rtsp-server-1.0)")
    loop = tmp_path_factory.mktemp("loop")
    for i in range(SESSION_FRAMES):
        (loop / f"{i:04d}.jpg").symlink_to(pictures.paths[i % len(pictures.paths)])
    port = free_tcp_port()
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER), str(port), str(loop / "%04d.jpg"), str(SESSION_FRAMES), "96"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    assert line == "READY", f"the RTSP server did not start: {line!r}"
    yield f"rtsp://127.0.0.1:{port}/cam"
    server.terminate()
    server.wait(timeout=10)


class Nodes:
    """The cluster and its two labelled workers."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.workers = {site: self.add(site) for site in ("a", "b")}

    def add(self, site: str):  # type: ignore[no-untyped-def]
        return self.cluster.add_node(num_cpus=2, labels={"site": site})

    def site_of(self, node_id: str) -> str:
        for site, node in self.workers.items():
            if node.node_id == node_id:
                return site
        raise AssertionError(f"node {node_id} is no worker")


@pytest.fixture(scope="session")
def nodes() -> Iterator[Nodes]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False, "_system_config": HEALTH_CHECK},
    )
    nodes = Nodes(cluster)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield nodes
    ray.shutdown()
    cluster.shutdown()


def decoder() -> str:
    """libjpeg-turbo (pixels exactly djpeg's) where built, else zune-jpeg."""
    import mjpeg_rtp

    return "libjpeg-turbo" if "libjpeg-turbo" in mjpeg_rtp.decoders() else "zune-jpeg"


def camera_ids(count: int, prefix: str = "cam") -> List[str]:
    return [f"{prefix}{i}" for i in range(count)]
