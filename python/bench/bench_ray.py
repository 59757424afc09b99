"""What Ray adds to a frame: mjpeg_rtp.ray on a 3-node local cluster.

A `ray.cluster_utils.Cluster` on this machine (a CPU-less head, workers
labelled site=a and site=b) runs one shard of K cameras (default 8) on
site=a, each camera a looping 1080p30 stream from the project's sender
(separate processes, whose CPU is not counted). A consumer actor takes
the shard's batches (`fleet.shard(0).batches()`, no decode) on site=a
(same node) or site=b (across nodes), for output "jpeg" and for output
"rgb" at scale 1/4.

CPU per frame that Ray adds, for each case: the CPU of every process of
the cluster (GCS, raylets, the shard's and the consumer's workers, the
driver; read from /proc by psutil) over the frames the consumer took,
minus the same cluster idle for as long, minus a plain process running
the same client and taking every frame with get_frame (what the cameras
cost without Ray). Frame age: when the batch reached the consumer, minus
when the frame completed on the shard's node (`receive_time`), p50 and
p99 over every frame taken.

    python python/bench/bench_ray.py            # ~3 min
    python python/bench/bench_ray.py --quick    # ~1.5 min
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import psutil
import ray
from ray.cluster_utils import Cluster

import mjpeg_rtp
import mjpeg_rtp.ray as mray

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "tests"))
from project_command import project_command  # noqa: E402


def sender_binary() -> str:
    return project_command(
        lambda: sys.exit("no mjpeg-rtp command: set MJPEG_RTP_BIN or install cargo")
    )


def cluster_cpu(exclude: set) -> float:
    """CPU seconds (user + system) so far of this process and every
    descendant but the senders."""
    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        if p.pid in exclude:
            continue
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


@ray.remote(num_cpus=0)
class Consumer:
    """Takes a shard's batches for `seconds`; returns frames, calls and
    ages."""

    def run(self, fleet: str, seconds: float) -> Tuple[int, int, List[float]]:
        shard = mray.CameraFleet.attach(fleet).shard(0)
        ages: List[float] = []
        calls = 0
        end = time.time() + seconds
        for batch in shard.batches(wait=1.0):
            now = time.time()
            calls += 1
            ages.extend(now - f.receive_time for f in batch)
            if now >= end:
                break
        return len(ages), calls, ages


PLAIN = textwrap.dedent(
    """
    import sys, time, mjpeg_rtp
    ports, seconds, decode, scale = sys.argv[1].split(","), float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
    client = mjpeg_rtp.MJPEGRTPClient(decoder=sys.argv[5])
    max_fps = float(sys.argv[6]) or None
    for i, port in enumerate(ports):
        client.add_camera(mjpeg_rtp.CameraConfig(f"c{i}", "127.0.0.1", int(port),
                          socket_buffer_size=8 << 20, decode=decode, scale=scale, max_fps=max_fps))
    client.start()
    client.get_frame(timeout=30)
    end = time.monotonic() + 2
    while time.monotonic() < end:
        client.get_frame(timeout=1)
    cpu, frames = time.process_time(), 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if client.get_frame(timeout=1) is not None:
            frames += 1
    print(time.process_time() - cpu, frames, flush=True)
    client.stop()
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--quality", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=15.0, help="per case")
    parser.add_argument("--batch-wait", type=float, default=None, help="the fleet's batch_wait")
    parser.add_argument("--max-fps", type=float, default=None, help="the fleet's max_fps (thinning)")
    parser.add_argument("--outputs", default="jpeg,rgb", help="cases to run: jpeg (full size), rgb (1/4)")
    parser.add_argument("--quick", action="store_true", help="6 s per case")
    parser.add_argument("--decoder", default="libjpeg-turbo" if "libjpeg-turbo" in mjpeg_rtp.decoders() else "zune-jpeg")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    seconds = 6.0 if args.quick else args.seconds

    ports = [free_port() for _ in range(args.cameras)]
    senders = [
        subprocess.Popen(
            [sender_binary(), "send", "--pattern", "--width", str(args.width), "--height",
             str(args.height), "--quality", str(args.quality), "--fps", str(args.fps), "--loop",
             "--to", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    exclude = {s.pid for s in senders}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for site in ("a", "b"):
        cluster.add_node(num_cpus=2, labels={"site": site})
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    consumers = {site: Consumer.options(label_selector={"site": site}).remote() for site in ("a", "b")}
    results: List[Dict[str, Any]] = []
    try:
        time.sleep(3)
        cpu0 = cluster_cpu(exclude)
        time.sleep(seconds)
        idle = (cluster_cpu(exclude) - cpu0) / seconds
        print(f"{args.cameras} cameras {args.width}x{args.height} q{args.quality} at {args.fps:g} fps, "
              f"decoder {args.decoder}, {seconds:g} s per case; idle cluster {idle * 1000:.1f} ms CPU/s")
        cases = [c for c in (("jpeg", "1"), ("rgb", "1/4")) if c[0] in args.outputs.split(",")]
        for output, scale in cases:
            plain, plain_rate = plain_cost(ports, seconds, output == "rgb", scale, args.decoder, args.max_fps)
            print(f"  without Ray, output {output} scale {scale}: {plain * 1000:.2f} ms CPU per frame taken, "
                  f"{plain_rate * 1000 / args.cameras:.1f} ms CPU/s per camera")
            options: Dict[str, Any] = {}
            if args.batch_wait is not None:
                options["batch_wait"] = args.batch_wait
            fleet = mray.CameraFleet(
                [mray.Camera(f"c{i}", "127.0.0.1", port, socket_buffer_size=8 << 20)
                 for i, port in enumerate(ports)],
                shards=1, output=output, scale=scale, decoder=args.decoder, max_fps=args.max_fps,
                placement={"site": "a"}, name=f"bench-{output}", **options,
            )
            try:
                warm = ray.get(consumers["a"].run.remote(fleet.name, 3.0))
                if warm[0] == 0:
                    sys.exit("no frames through the fleet")
                for where, site in (("same node", "a"), ("across nodes", "b")):
                    cpu0 = cluster_cpu(exclude)
                    frames, calls, ages = ray.get(consumers[site].run.remote(fleet.name, seconds))
                    cpu = cluster_cpu(exclude) - cpu0
                    elapsed = seconds
                    added = (cpu - idle * elapsed) / frames - plain
                    per_call = added * frames / max(calls, 1)
                    p50, p99 = np.percentile(ages, [50, 99]) * 1000
                    row = {"output": output, "scale": scale, "where": where, "frames": frames,
                           "fps": frames / elapsed, "frames_per_call": frames / max(calls, 1),
                           "ray_cpu_ms_per_frame": added * 1000, "ray_cpu_ms_per_call": per_call * 1000,
                           "fleet_cpu_ms_per_frame": (cpu - idle * elapsed) / frames * 1000,
                           "plain_cpu_ms_per_frame": plain * 1000,
                           "plain_cpu_ms_per_s_per_camera": plain_rate * 1000 / args.cameras,
                           "age_p50_ms": p50, "age_p99_ms": p99}
                    results.append(row)
                    print(f"  {output:4} {scale:3} {where:12}: {frames / elapsed:6.1f} frames/s, "
                          f"{row['frames_per_call']:4.1f} frames per call, Ray adds "
                          f"{added * 1000:5.2f} ms CPU per frame ({per_call * 1000:.1f} per call; fleet "
                          f"{row['fleet_cpu_ms_per_frame']:.2f}), "
                          f"age p50 {p50:5.1f} ms, p99 {p99:6.1f} ms")
                stats = fleet.stats()
                lost = sum(s.get("packets_lost", 0) for s in stats.values())
                dropped = sum(s.get("frames_dropped_backlog", 0) + s.get("frames_dropped", 0)
                              for s in stats.values())
                jpeg_bytes = sum(s.get("bytes", 0) for s in stats.values()) / max(
                    sum(s.get("frames_complete", 0) for s in stats.values()), 1)
                print(f"       packets lost {lost}, frames dropped before the ring {dropped}, "
                      f"{jpeg_bytes / 1000:.0f} KB received per frame")
            finally:
                fleet.shutdown()
    finally:
        for s in senders:
            s.terminate()
            s.wait()
        ray.shutdown()
        cluster.shutdown()
    if args.json:
        print(json.dumps(results))


def plain_cost(
    ports: List[int], seconds: float, decode: bool, scale: str, decoder: str, max_fps: Optional[float]
) -> float:
    """CPU seconds per frame taken, and per second, of the same cameras
    in a plain process."""
    out = subprocess.run(
        [sys.executable, "-c", PLAIN, ",".join(map(str, ports)), str(seconds), "1" if decode else "0",
         scale, decoder, str(max_fps or 0)],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    cpu, frames = float(out[0]), int(out[1])
    return cpu / max(frames, 1), cpu / seconds


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
