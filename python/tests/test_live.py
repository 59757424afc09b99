"""Frames from real loopback senders: the project's `send` and GStreamer's
rtpjpegpay. Every sent frame comes back, pixels as libjpeg-turbo decodes
the sent JPEG, metadata right."""

from __future__ import annotations

import time
from typing import List

import numpy as np
import pytest

import mjpeg_rtp
from conftest import (
    Frames,
    Originals,
    collect,
    decoders,
    djpeg,
    make_jpegs,
    psnr,
    send,
    start_gst_send,
    start_send,
    started_client,
)


def check_frames(
    frames: Frames, originals: Originals, decoder: str, camera_id: str, fps: int
) -> None:
    """Every original once, in order, pixel-checked, with coherent metadata."""
    assert len(frames) == len(originals.jpegs), "every frame that was sent comes back"
    order: List[int] = []
    for rgb, meta in frames:
        assert isinstance(rgb, np.ndarray) and isinstance(meta, mjpeg_rtp.Frame)
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        assert rgb.flags.c_contiguous and rgb.flags.writeable
        # jpeg_data is the rebuilt JPEG: it decodes to the original's pixels.
        index = originals.index_of(djpeg(meta.jpeg_data))
        order.append(index)
        reference = originals.pixels[index]
        assert rgb.shape == reference.shape == (meta.height, meta.width, 3)
        if decoder == "libjpeg-turbo":
            assert np.array_equal(rgb, reference), "byte-identical to djpeg"
        else:
            assert psnr(rgb, reference) >= 40.0
        assert meta.camera_id == camera_id
        assert meta.packets_lost == 0
        assert meta.packets == (meta.sequence_end - meta.sequence_start) % 65536 + 1
        assert meta.first_packet_time <= meta.receive_time
    assert order == list(range(len(originals.jpegs))), "in send order"
    metas = [m for _, m in frames]
    assert len({m.ssrc for m in metas}) == 1
    steps = {(b.timestamp - a.timestamp) % 2**32 for a, b in zip(metas, metas[1:])}
    assert steps == {90000 // fps}
    assert all(b.packets_received > a.packets_received for a, b in zip(metas, metas[1:]))
    assert metas[-1].packets_received == sum(m.packets for m in metas)
    sequences = [(b.sequence_start - a.sequence_end) % 65536 for a, b in zip(metas, metas[1:])]
    assert set(sequences) == {1}


@pytest.mark.parametrize("decoder", decoders())
def test_project_sender(small_jpegs: Originals, decoder: str) -> None:
    client, port = started_client("door", decoder=decoder, width=320, height=240, fps=30)
    wall, mono = time.time(), time.monotonic()
    sender = start_send(small_jpegs.paths, port, fps=30)
    frames = collect(client, len(small_jpegs.paths), timeout=3.0)
    wall_end, mono_end = time.time(), time.monotonic()
    assert sender.wait(timeout=10) == 0
    check_frames(frames, small_jpegs, decoder, "door", 30)
    for _, meta in frames:
        assert wall - 0.01 <= meta.receive_time <= wall_end
        assert meta.receive_monotonic is not None
        assert mono - 0.01 <= meta.receive_monotonic <= mono_end
    stats = client.stats("door")
    assert stats["frames_delivered"] == stats["frames_decoded"] == len(frames)
    assert stats["packets_lost"] == 0 and stats["decode_errors"] == 0
    assert (stats["width"], stats["height"]) == (320, 240)
    client.stop()
    # Every complete frame is delivered or named by one counter, stop
    # included; a plain-UDP camera refuses no interleaved RTCP.
    stats = client.stats("door")
    named = (
        "frames_dropped_backlog", "frames_dropped_queue", "frames_dropped_out_of_order",
        "frames_thinned", "frames_superseded", "decode_errors", "frames_dropped_stopping",
    )
    assert stats["frames_complete"] == stats["frames_delivered"] + sum(stats[k] for k in named)
    assert stats["interleaved_too_long"] == 0


@pytest.mark.parametrize("decoder", decoders())
def test_gstreamer_sender(small_jpegs: Originals, decoder: str) -> None:
    client, port = started_client("gst", decoder=decoder)
    sender = start_gst_send(small_jpegs.paths, port, fps=30, mtu=900)
    frames = collect(client, len(small_jpegs.paths), timeout=3.0)
    assert sender.wait(timeout=30) == 0
    check_frames(frames, small_jpegs, decoder, "gst", 30)
    client.stop()


def test_gstreamer_422(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """4:2:2 (RFC 2435 type 0) from GStreamer, 1080p: the size of the benchmark."""
    originals = Originals(make_jpegs(tmp_path, 3, 1920, 1080, sample="2x1"))
    decoder = decoders()[-1]
    client, port = started_client("hd", decoder=decoder, width=1920, height=1080)
    sender = start_gst_send(originals.paths, port, fps=10, mtu=1400)
    frames = collect(client, len(originals.paths), timeout=3.0)
    assert sender.wait(timeout=30) == 0
    check_frames(frames, originals, decoder, "hd", 10)
    client.stop()


def test_any_camera_and_frames_iterator(small_jpegs: Originals) -> None:
    client = mjpeg_rtp.Client()
    assert mjpeg_rtp.Client is mjpeg_rtp.MJPEGRTPClient
    with client:
        client.add_camera(mjpeg_rtp.CameraConfig("a", "127.0.0.1", 0))
        client.add_camera(mjpeg_rtp.CameraConfig("b", None, 0))
        assert client.camera_ids == ["a", "b"]
        client.start()
        assert client.is_running
        send(small_jpegs.paths[:3], client.local_address("a")[1], fps=100)
        send(small_jpegs.paths[3:5], client.local_address("b")[1], fps=100)
        got = [(meta.camera_id, small_jpegs.index_of(djpeg(meta.jpeg_data)))
               for _, meta in client.frames(timeout=1.0)]
        assert sorted(got) == [("a", 0), ("a", 1), ("a", 2), ("b", 3), ("b", 4)]
    assert not client.is_running
    assert client.get_frame(timeout=None) is None, "stopped and drained: at once"


def test_frames_of_one_camera_end_at_stop(small_jpegs: Originals) -> None:
    client, port = started_client("one")
    send(small_jpegs.paths[:4], port, fps=100)
    frames = []
    for rgb, meta in client.frames("one"):
        frames.append(meta)
        if len(frames) == 4:
            client.stop()
    assert len(frames) == 4


def test_host_filter(small_jpegs: Originals) -> None:
    """Only the configured host's packets are used."""
    client, port = started_client("far", host="127.0.0.2")
    send(small_jpegs.paths[:3], port, fps=100)
    assert client.get_frame("far", timeout=0.3) is None
    stats = client.stats("far")
    assert stats["packets_foreign"] > 0 and stats["frames_complete"] == 0
    client.stop()


def test_size_other_than_configured_is_logged_once(
    small_jpegs: Originals, caplog: pytest.LogCaptureFixture
) -> None:
    client, port = started_client("cam", width=640, height=480)
    with caplog.at_level("WARNING", logger="mjpeg_rtp"):
        send(small_jpegs.paths[:3], port, fps=100)
        frames = collect(client, 3, timeout=2.0)
    assert [rgb.shape for rgb, _ in frames] == [(240, 320, 3)] * 3, "delivered, not refused"
    warnings = [r for r in caplog.records if "320x240" in r.getMessage()]
    assert len(warnings) == 1
    client.stop()
