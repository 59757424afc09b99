"""The README's runtime_env: a driver without mjpeg_rtp ships the wheel
to a Ray cluster with `py_modules`, and a task in a worker process
imports it (Ray installs it on the node with pip, numpy included) and
decodes a JPEG with both decoders.

    python ship_wheel.py WHEEL    (where ray and numpy are, mjpeg_rtp not)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Dict, Tuple

import ray
from ray.cluster_utils import Cluster


JPEG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "gst-420" / "000.jpg"


@ray.remote
def decode_on_a_worker(jpeg: bytes) -> Dict[str, Tuple[int, int, int]]:
    import mjpeg_rtp

    return {d: mjpeg_rtp.decode(jpeg, decoder=d).shape for d in mjpeg_rtp.decoders()}


def main() -> None:
    wheel = sys.argv[1]
    assert importlib.util.find_spec("mjpeg_rtp") is None, "the driver must not have mjpeg_rtp"
    # One node: the nodes of a Cluster on one machine share one session
    # directory, where each node's install of the job's py_modules would
    # collide with the others' (Ray unpacks the same wheel at the same
    # path). The wheel travels the same way to one node as to many:
    # uploaded by the driver, fetched by the node, installed with pip.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        ray.init(address=cluster.address, runtime_env={"py_modules": [wheel]}, log_to_driver=False)
        decoded = ray.get(decode_on_a_worker.remote(JPEG.read_bytes()), timeout=180)
        assert set(decoded) == {"zune-jpeg", "libjpeg-turbo"}, decoded
        assert len(set(decoded.values())) == 1, decoded
        print(f"ship_wheel: a worker imported the shipped wheel and decoded {decoded}")
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
