"""What a sampling consumer pays, and how fresh its frames are: mjpeg-rtp's
delivery policies against eager decode, and against OpenCV and PyAV.

Four parts, each a ratio measured within one run (the machine is noisy;
absolute times are printed for context only):

- cpu: one 1080p30 camera (the project's sender, a separate process whose
  CPU is not counted). Process CPU (every thread: receive, reassembly,
  decode, the consumer) per second of wall time for an eager consumer
  taking every frame (delivery="queue") and for one taking 3 fps with
  delivery="latest" (std and io_uring receive). Goal: latest <= 0.15x
  eager.
- staleness: the same camera, a consumer taking 10 fps: the age of each
  frame get_frame returns (from the arrival of its last packet to the
  return), p50 and p99, with delivery="queue" (queue_size 10) and
  delivery="latest". Goal for latest: p50 <= one frame interval plus one
  decode, p99 <= two intervals plus one decode.
- peers: one 1080p30 camera served by gst-rtsp-server over RTSP (the
  frame index drawn in each picture as 12 black-or-white blocks, read
  back from the pixels), a consumer taking 3 fps, each contender in its
  own process: mjpeg-rtp (latest over RTP/UDP and over RTSP's TCP
  connection, queue), cv2.VideoCapture (which asks for TCP) and PyAV
  (made to ask for UDP), each read plain (decode only what is read) and
  kept fresh (a thread reads continuously, the consumer takes the
  newest). Frame age is the time from the frame's scheduled send (the
  server pipeline's base time on CLOCK_MONOTONIC, which every process
  reads alike, plus index / fps) to the consumer taking it; CPU is the
  contender's process CPU per consumed frame. --peer-rounds N runs the
  contenders N times in alternating order: medians of the figures, and
  of the rounds' own CPU ratios. Goals for latest: <= 0.3x the
  kept-fresh peers' CPU per consumed frame at equal or better
  freshness; >= 10x fresher at p50 than the plain peers at no more CPU
  per consumed frame. --with-fast adds `latest` with fast=True
  (libjpeg-turbo's fast IDCT and replicated chroma; the chroma is what
  swscale's unscaled conversion hands the peers; not the default, so
  reported beside the goal, not for it).

- sweep: 8 cameras of 1080p10 (the project's senders) with
  delivery="latest", a consumer taking the newest frame of every camera
  in one sweep: get_frame per camera in turn, the same calls from a
  ThreadPoolExecutor (get_frame releases the GIL while it decodes), and
  one get_frames call. Wall time per sweep, alternating, median.

    python python/bench/bench_consumption.py                 # all, ~5 min
    python python/bench/bench_consumption.py --part cpu      # or staleness, peers, sweep

Needs the project's command (MJPEG_RTP_BIN or cargo), and for `peers`
GStreamer's gst-rtsp-server for the system python3 and the pip packages
opencv-python-headless and av.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import mjpeg_rtp

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "tests"))
from project_command import project_command  # noqa: E402

WIDTH, HEIGHT, FPS = 1920, 1080, 30
SERVER = REPO / "tests" / "fixtures" / "tools" / "rtsp_server.py"
# gst-rtsp-server's Python bindings come from Debian, for its python3.
SYSTEM_PYTHON = "/usr/bin/python3"
BITS = 12


def sender_binary() -> str:
    return project_command(lambda: sys.exit("no mjpeg-rtp command: set MJPEG_RTP_BIN or install cargo"))


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_sender(port: int, fps: int = FPS) -> subprocess.Popen:  # type: ignore[type-arg]
    return subprocess.Popen(
        [sender_binary(), "send", "--pattern", "--width", str(WIDTH), "--height", str(HEIGHT),
         "--fps", str(fps), "--loop", "--to", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


DECODER = "zune-jpeg"
# JPEG sizes of the frames seen, for the report.
FRAME_BYTES: List[int] = []


def udp_client(**options: Any) -> Tuple[mjpeg_rtp.MJPEGRTPClient, int]:
    io = options.pop("io", "std")
    client = mjpeg_rtp.MJPEGRTPClient(io=io, decoder=DECODER)
    client.add_camera(mjpeg_rtp.CameraConfig("cam", "127.0.0.1", 0, socket_buffer_size=8 << 20, **options))
    client.start()
    return client, client.local_address("cam")[1]


# ---------------------------------------------------------------- cpu


def cpu_round(options: Dict[str, Any], take_fps: Optional[float], seconds: float) -> Tuple[float, int]:
    """(cores used, frames taken) over `seconds` of a consumer taking
    every frame (`take_fps` None) or `take_fps` frames a second."""
    client, port = udp_client(**options)
    sender = start_sender(port)
    try:
        first = client.get_frame("cam", timeout=60.0)
        if first is None:
            sys.exit("no frames arrived from the sender")
        FRAME_BYTES.append(len(first[1].jpeg_data))
        time.sleep(1.0)
        taken = 0
        wall, cpu = time.monotonic(), time.process_time()
        end = wall + seconds
        while time.monotonic() < end:
            if client.get_frame("cam", timeout=1.0) is not None:
                taken += 1
            if take_fps:
                time.sleep(1.0 / take_fps)
        cores = (time.process_time() - cpu) / (time.monotonic() - wall)
    finally:
        sender.terminate()
        sender.wait()
        client.stop()
    return cores, taken


def part_cpu(rounds: int, seconds: float) -> None:
    modes = {
        "eager (queue, every frame)": ({}, None),
        "latest, 3 fps taken": ({"delivery": "latest"}, 3.0),
        "latest, 3 fps, io_uring": ({"delivery": "latest", "io": "uring"}, 3.0),
    }
    results: Dict[str, List[float]] = {m: [] for m in modes}
    for r in range(rounds):
        for name, (options, take) in modes.items():
            cores, taken = cpu_round(dict(options), take, seconds)
            results[name].append(cores)
            print(f"  round {r} {name:<28} {cores:.3f} cores, {taken} frames taken", file=sys.stderr)
    eager = statistics.median(results["eager (queue, every frame)"])
    print(f"cpu: 1080p{FPS} ({statistics.median(FRAME_BYTES) / 1e3:.0f} KB frames), {DECODER}, "
          f"{rounds} rounds of {seconds:g} s, median process CPU")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:<28} {median:.3f} cores  ({median / eager:.3f}x eager; min {min(values):.3f})")


# ---------------------------------------------------------- staleness


def part_staleness(seconds: float) -> None:
    decode_ms: List[float] = []
    print(f"staleness: 1080p{FPS}, a consumer taking 10 fps for {seconds:g} s; "
          "age = return - arrival of the frame's last packet")
    for name, options in {"queue (queue_size 10)": {}, "latest": {"delivery": "latest"}}.items():
        client, port = udp_client(**options)
        sender = start_sender(port)
        ages: List[float] = []
        try:
            if client.get_frame("cam", timeout=60.0) is None:
                sys.exit("no frames arrived from the sender")
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                got = client.get_frame("cam", timeout=1.0)
                now = time.monotonic()
                if got is not None and got[1].receive_monotonic is not None:
                    ages.append(now - got[1].receive_monotonic)
                    if len(decode_ms) < 20:
                        t = time.perf_counter()
                        mjpeg_rtp.decode(got[1].jpeg_data, decoder=DECODER)
                        decode_ms.append((time.perf_counter() - t) * 1e3)
                time.sleep(0.1)
        finally:
            sender.terminate()
            sender.wait()
            client.stop()
        print(f"  {name:<22} p50 {percentile(ages, 50) * 1e3:7.1f} ms  p99 "
              f"{percentile(ages, 99) * 1e3:7.1f} ms  ({len(ages)} frames)")
    decode = statistics.median(decode_ms)
    interval = 1e3 / FPS
    print(f"  one decode {decode:.1f} ms, one interval {interval:.1f} ms: goals for latest "
          f"p50 <= {interval + decode:.1f} ms, p99 <= {2 * interval + decode:.1f} ms")


# -------------------------------------------------------------- sweep


def part_sweep(rounds: int, cameras: int, workers: int) -> None:
    """The newest frame of every camera, taken in one sweep (a model's
    batch): get_frame per camera in turn, the same calls from a thread
    pool (get_frame releases the GIL while it decodes, so the decodes of
    different cameras run at once), and one get_frames call (the batch's
    decodes side by side on up to decode_threads threads it starts)."""
    client = mjpeg_rtp.MJPEGRTPClient(decoder=DECODER, delivery="latest", decode_threads=workers)
    ids = [f"cam{i}" for i in range(cameras)]
    for camera in ids:
        client.add_camera(mjpeg_rtp.CameraConfig(camera, "127.0.0.1", 0, socket_buffer_size=8 << 20))
    client.start()
    sweep_fps = 10
    senders = [start_sender(client.local_address(c)[1], fps=sweep_fps) for c in ids]
    pool = ThreadPoolExecutor(workers)

    def in_turn() -> int:
        return sum(client.get_frame(c, timeout=1.0) is not None for c in ids)

    def in_pool() -> int:
        return sum(g is not None for g in pool.map(lambda c: client.get_frame(c, timeout=1.0), ids))

    def batch() -> int:
        return len(client.get_frames(ids, timeout=1.0))

    ways: Dict[str, Callable[[], int]] = {
        "get_frame in turn": in_turn,
        f"ThreadPoolExecutor({workers})": in_pool,
        "get_frames": batch,
    }
    times: Dict[str, List[float]] = {name: [] for name in ways}
    try:
        for camera in ids:
            if client.get_frame(camera, timeout=60.0) is None:
                sys.exit(f"no frames arrived on {camera}")
        for _ in range(rounds):
            for name, sweep in ways.items():
                # A new frame on every camera since the last sweep.
                time.sleep(1.5 / sweep_fps)
                start = time.perf_counter()
                taken = sweep()
                times[name].append(time.perf_counter() - start)
                if taken != cameras:
                    sys.exit(f"{name}: {taken} of {cameras} cameras had a new frame")
    finally:
        for sender in senders:
            sender.terminate()
            sender.wait()
        client.stop()
        pool.shutdown()
    serial = statistics.median(times["get_frame in turn"])
    print(f"sweep: the newest frame of each of {cameras} cameras (1080p{sweep_fps}, latest, "
          f"{DECODER}, {workers} decode threads), {rounds} sweeps each way, alternating; "
          "median wall time per sweep")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<24} {median * 1e3:7.1f} ms  ({median / serial:.2f}x)")


# -------------------------------------------------------------- peers


def index_picture(index: int) -> np.ndarray:
    """A picture with `index` drawn as BITS large blocks along the top
    (white 1, black 0) over a moving gradient (so the JPEGs are
    camera-sized)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    rgb = np.stack([(x + index * 7) % 256, (y + index * 3) % 256, (x + y) % 256], axis=-1)
    rgb = rgb.astype(np.uint8)
    block = WIDTH // BITS
    for bit in range(BITS):
        value = 255 if index >> bit & 1 else 0
        rgb[0:block // 2, bit * block:(bit + 1) * block] = value
    return rgb


def read_index(rgb: np.ndarray) -> int:
    """The index drawn by index_picture, at any decoded size."""
    h, w = rgb.shape[:2]
    block = w / BITS
    row = int(h * (WIDTH // BITS // 4) / HEIGHT)
    index = 0
    for bit in range(BITS):
        if rgb[row, int((bit + 0.5) * block)].mean() > 128:
            index |= 1 << bit
    return index


def make_stream(directory: Path, frames: int) -> str:
    import cv2  # type: ignore[import-not-found]

    for i in range(frames):
        bgr = index_picture(i)[:, :, ::-1]
        cv2.imwrite(str(directory / f"{i:04d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return str(directory / "%04d.jpg")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def contender(name: str, url: str, seconds: float, take_fps: float) -> Dict[str, Any]:
    """Run one contender in this process: a consumer taking `take_fps`
    frames a second for `seconds`; (index, time) of each taken frame and
    the process CPU."""
    taken: List[Tuple[int, float]] = []
    newest: List[Any] = [None]
    stop = threading.Event()

    def keep_fresh(read: Callable[[], Any]) -> threading.Thread:
        def run() -> None:
            while not stop.is_set():
                got = read()
                if got is None:
                    return
                newest[0] = got

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    take: Callable[[], Optional[np.ndarray]]
    if name.startswith("mjpeg-rtp"):
        # "mjpeg-rtp DELIVERY [tcp] [fast]": RTP over UDP, full decode
        # unless said.
        words = name.split()
        delivery = words[1]
        transport = "tcp" if "tcp" in words[2:] else "udp"
        client = mjpeg_rtp.MJPEGRTPClient(decoder=DECODER, fast="fast" in words[2:])
        client.add_camera(mjpeg_rtp.CameraConfig("cam", None, 0, rtsp_url=url, delivery=delivery,
                                                 rtsp_transport=transport))
        client.start()

        def take() -> Optional[np.ndarray]:
            got = client.get_frame("cam", timeout=5.0)
            return None if got is None else got[0]
    elif name.startswith("opencv"):
        import cv2

        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        if name.endswith("fresh"):
            keep_fresh(lambda: (lambda r: r[1] if r[0] else None)(cap.read()))

            def take() -> Optional[np.ndarray]:
                frame = newest[0]
                return None if frame is None else frame[:, :, ::-1]
        else:
            def take() -> Optional[np.ndarray]:
                ok, frame = cap.read()
                return frame[:, :, ::-1] if ok else None
    else:
        import av  # type: ignore[import-not-found]

        container = av.open(url, options={"rtsp_transport": "udp"})
        frames = container.decode(video=0)
        if name.endswith("fresh"):
            keep_fresh(lambda: next(frames, None))

            def take() -> Optional[np.ndarray]:
                frame = newest[0]
                return None if frame is None else frame.to_ndarray(format="rgb24")
        else:
            def take() -> Optional[np.ndarray]:
                frame = next(frames, None)
                return None if frame is None else frame.to_ndarray(format="rgb24")
    # Warm up: the first frame, then measure.
    start = time.monotonic()
    while take() is None and time.monotonic() - start < 20:
        time.sleep(0.05)
    cpu = time.process_time()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rgb = take()
        if rgb is not None:
            taken.append((read_index(rgb), time.monotonic()))
        time.sleep(1.0 / take_fps)
    cpu = time.process_time() - cpu
    stop.set()
    return {"taken": taken, "cpu": cpu}


def part_peers(rounds: int, seconds: float, take_fps: float, with_fast: bool) -> None:
    if not Path(SYSTEM_PYTHON).exists() or not shutil.which("gst-launch-1.0"):
        sys.exit("peers: needs GStreamer and gst-rtsp-server for /usr/bin/python3")
    # cv2.VideoCapture asks for RTSP over TCP (OpenCV's default for
    # FFmpeg); PyAV is made to ask for UDP, which mjpeg-rtp's default
    # ("auto") tries first.
    # "mjpeg-rtp latest tcp" is the like-for-like opponent of OpenCV.
    contenders = ["mjpeg-rtp latest", "mjpeg-rtp latest tcp", "mjpeg-rtp queue", "opencv plain",
                  "opencv fresh", "pyav plain", "pyav fresh"]
    if with_fast:
        if DECODER != "libjpeg-turbo":
            sys.exit("peers: --with-fast needs --decoder libjpeg-turbo")
        contenders[2:2] = ["mjpeg-rtp latest fast", "mjpeg-rtp latest tcp fast"]
    frames = int((seconds + 25) * FPS)
    # Per contender, one (age p50, age p99, CPU per frame, frames) per round.
    results: Dict[str, List[Tuple[float, float, float, int]]] = {c: [] for c in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        pattern = make_stream(Path(tmp), frames)
        print(f"peers: 1080p{FPS} from gst-rtsp-server, {take_fps:g} fps taken for {seconds:g} s, "
              f"{rounds} round(s) in alternating order; age = from the frame's scheduled send "
              "to the consumer taking it; CPU = the contender's process, per consumed frame")
        for round_index in range(rounds):
            # Alternate the order so that no contender always runs first
            # (or last) while the machine warms up or gets busy.
            order = contenders if round_index % 2 == 0 else contenders[::-1]
            for name in order:
                row = peer_round(name, pattern, frames, seconds, take_fps)
                results[name].append(row)
                print(f"  round {round_index + 1} {name:<18} age p50 {row[0] * 1e3:8.0f} ms  "
                      f"p99 {row[1] * 1e3:8.0f} ms  CPU {row[2] * 1e3:7.1f} ms/frame "
                      f"({row[3]} frames)", flush=True)
    # The median round of each figure: one noisy round moves nothing.
    median = {name: tuple(statistics.median(r[k] for r in rows) for k in range(3))
              for name, rows in results.items()}
    if rounds > 1:
        for name in contenders:
            p50, p99, cpu = median[name]
            print(f"  median {name:<17} age p50 {p50 * 1e3:8.0f} ms  p99 {p99 * 1e3:8.0f} ms  "
                  f"CPU {cpu * 1e3:7.1f} ms/frame")
    for peer in contenders:
        if not peer.startswith(("opencv", "pyav")):
            continue
        p50, p99, cpu = median[peer]
        # Against each peer, `latest` on the peer's own transport first.
        ours_names = ["mjpeg-rtp latest tcp", "mjpeg-rtp latest"]
        if peer.startswith("pyav"):
            ours_names.reverse()
        ours_names += [f"{n} fast" for n in ours_names if f"{n} fast" in median]
        for ours_name in ours_names:
            ours = median[ours_name]
            label = f"{ours_name[len('mjpeg-rtp '):]:<15} vs {peer:<12}"
            # CPU: the median of the rounds' own ratios (each pair ran
            # minutes apart at most, under the same load).
            ratios = [o[2] / t[2] for o, t in zip(results[ours_name], results[peer])]
            cpu_ratio = (f"CPU {statistics.median(ratios):.2f}x (per round "
                         f"{', '.join(f'{r:.2f}' for r in ratios)})")
            if peer.endswith("fresh"):
                print(f"  {label}: {cpu_ratio} (goal <= 0.3); age p50 {ours[0] * 1e3:.0f} vs "
                      f"{p50 * 1e3:.0f} ms, p99 {ours[1] * 1e3:.0f} vs {p99 * 1e3:.0f} ms")
            else:
                print(f"  {label}: {p50 / max(ours[0], 1e-3):.0f}x fresher at p50 (goal >= 10), "
                      f"{cpu_ratio} (goal <= 1)")


def peer_round(name: str, pattern: str, frames: int, seconds: float,
               take_fps: float) -> Tuple[float, float, float, int]:
    """One contender against its own gst-rtsp-server: (age p50, age p99,
    CPU per consumed frame, frames taken)."""
    port = free_tcp_port()
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER), "--say-playing", "--fps", str(FPS), str(port), pattern,
         str(frames), "26"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "READY"
        url = f"rtsp://127.0.0.1:{port}/cam"
        out = subprocess.run(
            [sys.executable, __file__, "--contender", name, "--url", url, "--seconds",
             str(seconds), "--take-fps", str(take_fps), "--decoder", DECODER],
            stdout=subprocess.PIPE, text=True, timeout=seconds + 120,
        )
    finally:
        server.terminate()
        said, _ = server.communicate()
    result = json.loads(out.stdout)
    taken = result["taken"]
    # Picture i is due to leave the server at base + i / FPS on
    # CLOCK_MONOTONIC, the clock time.monotonic reads in every process (the
    # server's pipeline clock, "PLAYING NS"; the last session's, should a
    # contender connect twice). A TCP reader that falls behind holds the
    # server back, and that counts in its age too.
    playing = [int(line.split()[1]) for line in said.splitlines() if line.startswith("PLAYING ")]
    if not playing:
        sys.exit(f"peers: the server did not say when {name}'s stream started")
    base = playing[-1] / 1e9
    if not taken:
        sys.exit(f"peers: {name} took no frame")
    ages = [t - (base + i / FPS) for i, t in taken]
    per_frame = result["cpu"] / len(taken)
    return percentile(ages, 50), percentile(ages, 99), per_frame, len(taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["cpu", "staleness", "peers", "sweep", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer-rounds", type=lambda v: max(1, int(v)), default=1,
                        help="rounds of the peers part (medians reported)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--take-fps", type=float, default=3.0)
    parser.add_argument("--decoder", default="zune-jpeg", choices=mjpeg_rtp.decoders(),
                        help="mjpeg-rtp's decoder")
    parser.add_argument("--with-fast", action="store_true",
                        help="peers: also latest with fast=True (needs libjpeg-turbo)")
    parser.add_argument("--sweep-cameras", type=int, default=8, help="sweep: cameras")
    parser.add_argument("--sweep-workers", type=int, default=os.cpu_count() or 2,
                        help="sweep: the thread pool's threads and the client's decode threads")
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DECODER
    DECODER = args.decoder
    if args.with_fast and args.part not in ("peers", "all"):
        print("--with-fast: only the peers part has fast contenders", file=sys.stderr)
    if args.contender:
        print(json.dumps(contender(args.contender, args.url, args.seconds, args.take_fps)),
              flush=True)
        os._exit(0)  # peers' reader threads may still block in a read
    if args.part in ("cpu", "all"):
        part_cpu(args.rounds, args.seconds)
    if args.part in ("staleness", "all"):
        part_staleness(args.seconds)
    if args.part in ("peers", "all"):
        part_peers(args.peer_rounds, args.seconds, args.take_fps, args.with_fast)
    if args.part in ("sweep", "all"):
        part_sweep(20 * args.rounds, args.sweep_cameras, args.sweep_workers)


if __name__ == "__main__":
    main()
