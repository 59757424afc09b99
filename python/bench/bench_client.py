"""CPU per 1080p frame: the Python path against the Rust path, same run.

One client receives a looping 1080p stream from the project's sender (a
separate process, whose CPU is not counted). Phases alternate on that
client:

- python: `rgb, meta = client.get_frame(timeout=...)` in a Python loop
  (numpy array over the pooled buffer, Frame with its JPEG bytes, both
  dropped), as a consumer would;
- rust: the runtime's own `next_frame` in a Rust loop
  (`mjpeg_rtp._native._take_frames_in_rust`), the same frames with no
  Python objects.

Each phase's cost is the process CPU time (every thread: receive,
reassembly, decode, the consumer) over the frames it took. The ratio of
the medians is the Python path's overhead; the goal is <= 1.03x. On a
shared machine the decoders' CPU varies by a few percent from phase to
phase, so the consumer thread's own CPU is reported too, and the ratio it
implies (the receive and decode work is the same in both paths). A phase
in which frames were dropped (the consumer or the decoders fell behind)
is reported and not counted.

    python python/bench/bench_client.py            # ~60 s
    python python/bench/bench_client.py --quick    # ~15 s
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import mjpeg_rtp
from mjpeg_rtp import _native

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "tests"))
from project_command import project_command  # noqa: E402


def sender_binary() -> str:
    return project_command(
        lambda: sys.exit("no mjpeg-rtp command: set MJPEG_RTP_BIN or install cargo")
    )


def drops(client: mjpeg_rtp.MJPEGRTPClient) -> int:
    s = client.stats("cam")
    return s["frames_dropped_backlog"] + s["frames_dropped_queue"] + s["frames_dropped"]


def python_path(client: mjpeg_rtp.MJPEGRTPClient, frames: int) -> int:
    taken = 0
    while taken < frames:
        got = client.get_frame(timeout=2.0)
        if got is None:
            break
        rgb, meta = got
        del rgb, meta, got
        taken += 1
    return taken


def rust_path(client: mjpeg_rtp.MJPEGRTPClient, frames: int) -> int:
    return _native._take_frames_in_rust(client, frames, 2.0)


def phase(
    client: mjpeg_rtp.MJPEGRTPClient, take: Callable[[mjpeg_rtp.MJPEGRTPClient, int], int], frames: int
) -> Tuple[float, float, int, int]:
    """(process CPU seconds per frame, the consumer thread's alone, frames
    taken, frames dropped meanwhile)."""
    dropped = drops(client)
    cpu, consumer = time.process_time(), time.thread_time()
    taken = take(client, frames)
    cpu, consumer = time.process_time() - cpu, time.thread_time() - consumer
    n = max(taken, 1)
    return cpu / n, consumer / n, taken, drops(client) - dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="python/rust phase pairs")
    parser.add_argument("--frames", type=int, default=150, help="frames per phase")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--quality", type=int, default=80, help="of the sender's JPEGs")
    parser.add_argument("--decoder", default="zune-jpeg", choices=mjpeg_rtp.decoders())
    parser.add_argument("--decode-threads", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 60 frames")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.frames = 3, 60

    client = mjpeg_rtp.MJPEGRTPClient(decode_threads=args.decode_threads, decoder=args.decoder)
    client.add_camera(mjpeg_rtp.CameraConfig("cam", "127.0.0.1", 0, width=args.width,
                                             height=args.height, fps=args.fps, queue_size=64,
                                             socket_buffer_size=8 << 20))
    client.start()
    port = client.local_address("cam")[1]
    sender = subprocess.Popen(
        [sender_binary(), "send", "--pattern", "--width", str(args.width), "--height",
         str(args.height), "--quality", str(args.quality), "--fps", str(args.fps), "--loop",
         "--to", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    results: Dict[str, List[float]] = {"python": [], "rust": []}
    consumers: Dict[str, List[float]] = {"python": [], "rust": []}
    try:
        # Warm: the sender's pattern encoded (it encodes every picture
        # before sending the first), the pools full.
        if client.get_frame(timeout=60.0) is None:
            sys.exit("no frames arrived from the sender")
        python_path(client, int(args.fps * 2))
        print(f"{args.width}x{args.height} q{args.quality} at {args.fps:g} fps, decoder {args.decoder}, "
              f"{args.rounds} rounds of {args.frames} frames per path", file=sys.stderr)
        print(f"{'round':>5} {'path':>6} {'frames':>6} {'dropped':>7} {'CPU ms/frame':>12} "
              f"{'consumer us/frame':>17}", file=sys.stderr)
        for r in range(args.rounds):
            # Alternate which path goes first: drift in the machine's load
            # then favours neither.
            order = [("python", python_path), ("rust", rust_path)]
            if r % 2:
                order.reverse()
            for name, take in order:
                per_frame, consumer, taken, dropped = phase(client, take, args.frames)
                note = "" if dropped == 0 and taken == args.frames else "  (not counted)"
                print(f"{r:>5} {name:>6} {taken:>6} {dropped:>7} {per_frame * 1e3:>12.3f} "
                      f"{consumer * 1e6:>17.1f}{note}", file=sys.stderr)
                if not note:
                    results[name].append(per_frame)
                    consumers[name].append(consumer)
    finally:
        sender.terminate()
        sender.wait()
        client.stop()
    if not results["python"] or not results["rust"]:
        sys.exit("every phase dropped frames: lower --fps")
    py = statistics.median(results["python"])
    rs = statistics.median(results["rust"])
    py_consumer = statistics.median(consumers["python"])
    rs_consumer = statistics.median(consumers["rust"])
    print(f"python path: {py * 1e3:.3f} ms CPU/frame, of which the consumer thread "
          f"{py_consumer * 1e6:.1f} us (median of {len(results['python'])})")
    print(f"rust path:   {rs * 1e3:.3f} ms CPU/frame, of which the consumer thread "
          f"{rs_consumer * 1e6:.1f} us (median of {len(results['rust'])})")
    print(f"ratio python/rust: {py / rs:.3f}x (goal <= 1.03x)")
    # Receiving and decoding are the same work in both paths: what differs
    # is the consumer thread, whose CPU is measured without the noise of
    # the decoders sharing the machine.
    print(f"ratio from the consumer threads: {(rs + py_consumer - rs_consumer) / rs:.3f}x")


if __name__ == "__main__":
    main()
