"""Receive MJPEG over RTP (RFC 2435) from many cameras as numpy RGB frames.

    from mjpeg_rtp import MJPEGRTPClient, CameraConfig

    with MJPEGRTPClient() as client:
        client.add_camera(CameraConfig(camera_id="cam1", host="192.168.1.100", port=17000,
                                       width=1920, height=1080, fps=30))
        client.start()
        result = client.get_frame("cam1", timeout=1.0)   # None on timeout
        if result:
            rgb, meta = result    # numpy (H, W, 3) uint8 RGB; Frame

Backed by the Rust runtime: receiving, reassembly and JPEG decoding run on
Rust threads; waiting releases the GIL; the array is the decoder's buffer
(no copy), recycled when the last view of it dies.
"""

from ._native import (
    AuthError,
    BindError,
    CameraConfig,
    CaptureError,
    ConfigError,
    DecodeError,
    Frame,
    FrameBuffer,
    FrameIterator,
    MJPEGRTPClient,
    MjpegRtpError,
    PcapReader,
    StartError,
    StateError,
    UnknownCameraError,
    __version__,
    decode,
    decoders,
    read_pcap,
)

Client = MJPEGRTPClient
"""Same class as MJPEGRTPClient."""

__all__ = [
    "AuthError",
    "BindError",
    "CameraConfig",
    "CaptureError",
    "Client",
    "ConfigError",
    "DecodeError",
    "Frame",
    "FrameBuffer",
    "FrameIterator",
    "MJPEGRTPClient",
    "MjpegRtpError",
    "PcapReader",
    "StartError",
    "StateError",
    "UnknownCameraError",
    "__version__",
    "decode",
    "decoders",
    "read_pcap",
]
