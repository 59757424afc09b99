"""read_pcap over the real-peer captures of tests/fixtures (GStreamer and
FFmpeg senders, pcap and pcapng): every frame, pixel-checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mjpeg_rtp
from conftest import FIXTURES, Originals, decoders, djpeg, psnr, wait_until

CAPTURES = ["gst-420", "gst-422", "gst-restart", "ffmpeg-420", "ffmpeg-422"]


@pytest.mark.parametrize("decoder", decoders())
@pytest.mark.parametrize("fixture", CAPTURES)
def test_every_frame_of_a_capture(fixture: str, decoder: str) -> None:
    directory = FIXTURES / fixture
    manifest = json.loads((directory / "manifest.json").read_text())
    originals = Originals(sorted(directory.glob("[0-9][0-9][0-9].jpg")))
    reader = mjpeg_rtp.read_pcap(directory / "capture.pcap", decoder=decoder)
    assert reader.summary is None
    frames = list(reader)
    assert len(frames) == manifest["frames"] == len(originals.jpegs)
    for i, (rgb, meta) in enumerate(frames):
        assert originals.index_of(djpeg(meta.jpeg_data)) == i
        if decoder == "libjpeg-turbo":
            assert np.array_equal(rgb, originals.pixels[i])
        else:
            assert psnr(rgb, originals.pixels[i]) >= 40.0
        assert meta.camera_id == str(manifest["port"])
        assert (meta.width, meta.height) == (manifest["width"], manifest["height"])
        assert f"0x{meta.ssrc:08x}" == manifest["ssrc"]
        assert meta.packets == manifest["packets_per_frame"][i]
        assert meta.packets_lost == 0
        assert meta.first_packet_time <= meta.receive_time
        assert meta.receive_time > 1.5e9, "capture time, Unix seconds"
        assert meta.receive_monotonic is None
        assert isinstance(rgb.base, mjpeg_rtp.FrameBuffer)
    assert [m.packets_received for _, m in frames][-1] == manifest["packets"]
    summary = reader.summary
    assert summary is not None
    [stream] = summary["streams"]
    assert stream["frames_complete"] == manifest["frames"]
    assert stream["decode_errors"] == 0


def test_pcapng_and_port_filter() -> None:
    capture = FIXTURES / "gst-420" / "capture.pcapng"
    assert len(list(mjpeg_rtp.read_pcap(capture))) == 4
    assert len(list(mjpeg_rtp.read_pcap(capture, port=5004))) == 4
    assert len(list(mjpeg_rtp.read_pcap(str(capture), port=[5004, 9]))) == 4
    other = mjpeg_rtp.read_pcap(capture, port=9)
    assert list(other) == []
    assert other.summary is not None and other.summary["capture"]["filtered"] == 32


def test_capture_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        mjpeg_rtp.read_pcap(tmp_path / "missing.pcap")
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    with pytest.raises(mjpeg_rtp.CaptureError) as raised:
        list(mjpeg_rtp.read_pcap(junk))
    assert isinstance(raised.value, ValueError)
    with pytest.raises(mjpeg_rtp.ConfigError):
        mjpeg_rtp.read_pcap(junk, port=70000)


def test_abandoned_iterator_ends_its_thread() -> None:
    def threads() -> int:
        return len(list(Path("/proc/self/task").iterdir()))

    capture = FIXTURES / "gst-420" / "capture.pcap"
    before = threads()
    for _ in range(20):
        reader = mjpeg_rtp.read_pcap(capture)
        next(reader)
        del reader
    assert wait_until(lambda: threads() <= before)


def test_rtp_interleaved_in_rtsp_over_tcp() -> None:
    """tcpdump's recording of ffmpeg reading gst-rtsp-server over TCP:
    gst-420's frames, under the server's port, channel from SETUP."""
    originals = Originals(sorted((FIXTURES / "gst-420").glob("[0-9][0-9][0-9].jpg")))
    reader = mjpeg_rtp.read_pcap(FIXTURES / "rtsp-tcp" / "interleaved.pcap")
    frames = list(reader)
    assert len(frames) == len(originals.jpegs) == 4
    for i, (_, meta) in enumerate(frames):
        assert originals.index_of(djpeg(meta.jpeg_data)) == i
        assert meta.camera_id == "28754"
        assert meta.packets_lost == 0
    summary = reader.summary
    assert summary is not None
    [stream] = summary["streams"]
    assert stream["port"] == 28754
    interleaved = stream["interleaved"]
    assert (interleaved["channel"], interleaved["channel_assumed"]) == (0, False)
    assert interleaved["server"].endswith(":28754")
    assert interleaved["client"] != interleaved["server"]
    assert summary["capture"]["rtsp_tcp"]["setup_replies"] == 1
