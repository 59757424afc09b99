"""Type stubs of mjpeg_rtp._native, the compiled part of the package
(hand-written; checked by mypy.stubtest). The package's typed
`__init__.py` re-exports it, so nothing here is said twice."""

import os
from types import TracebackType
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Type, TypedDict, Union, final, overload

import numpy as np
import numpy.typing as npt

__version__: str

_RGB = npt.NDArray[np.uint8]
# scale=: "1", "1/2", "1/4", "1/8" (or 1).
_Scale = Union[str, int]

class MjpegRtpError(Exception):
    """Base class of every error raised by mjpeg_rtp."""

class BindError(MjpegRtpError, OSError):
    """A camera's socket cannot be bound or cannot join its multicast group."""

class ConfigError(MjpegRtpError, ValueError):
    """A setting is invalid."""

class UnknownCameraError(MjpegRtpError, KeyError):
    """No camera with this id was added to the client."""

class StateError(MjpegRtpError, RuntimeError):
    """The call does not fit the client's state."""

class AuthError(MjpegRtpError, PermissionError):
    """An RTSP camera refused the credentials."""

class StartError(MjpegRtpError, OSError):
    """The receive or decode threads could not be started."""

class DecodeError(MjpegRtpError, ValueError):
    """Data given to decode() is not a JPEG the decoder can decode."""

class CaptureError(MjpegRtpError, ValueError):
    """A file given to read_pcap() is not a readable capture."""

@final
class CameraConfig:
    def __new__(
        cls,
        camera_id: str,
        host: Optional[str],
        port: int,
        width: int = 0,
        height: int = 0,
        fps: float = 0.0,
        jitter_buffer_size: int = 30,
        max_frame_age_ms: int = 1000,
        socket_buffer_size: int = 2097152,
        *,
        bind_address: str = "0.0.0.0",
        multicast_group: Optional[str] = None,
        queue_size: int = 10,
        payload_type: Optional[int] = None,
        frames_in_flight: int = 4,
        max_frame_bytes: int = 4194304,
        max_width: int = 7680,
        max_height: int = 4320,
        rtsp_url: Optional[str] = None,
        rtsp_transport: str = "auto",
        rtcp: bool = False,
        scale: Optional[_Scale] = None,
        resize: Optional[Tuple[int, int]] = None,
        fast: Optional[bool] = None,
        decode: Optional[bool] = None,
        delivery: Optional[str] = None,
        max_fps: Optional[float] = None,
    ) -> "CameraConfig": ...
    @property
    def camera_id(self) -> str: ...
    @property
    def host(self) -> Optional[str]: ...
    @property
    def port(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def fps(self) -> float: ...
    @property
    def jitter_buffer_size(self) -> int: ...
    @property
    def max_frame_age_ms(self) -> int: ...
    @property
    def socket_buffer_size(self) -> int: ...
    @property
    def bind_address(self) -> str: ...
    @property
    def multicast_group(self) -> Optional[str]: ...
    @property
    def queue_size(self) -> int: ...
    @property
    def payload_type(self) -> Optional[int]: ...
    @property
    def frames_in_flight(self) -> int: ...
    @property
    def max_frame_bytes(self) -> int: ...
    @property
    def max_width(self) -> int: ...
    @property
    def max_height(self) -> int: ...
    @property
    def rtcp(self) -> bool: ...
    @property
    def rtsp_url(self) -> Optional[str]: ...
    @property
    def rtsp_transport(self) -> Optional[str]: ...
    @property
    def scale(self) -> Optional[str]: ...
    @property
    def resize(self) -> Optional[Tuple[int, int]]: ...
    @property
    def fast(self) -> Optional[bool]: ...
    @property
    def decode(self) -> Optional[bool]: ...
    @property
    def delivery(self) -> Optional[str]: ...
    @property
    def max_fps(self) -> Optional[float]: ...

@final
class Frame:
    """Metadata of one frame (read-only)."""

    @property
    def camera_id(self) -> str: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def sequence_start(self) -> int: ...
    @property
    def sequence_end(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def jpeg_data(self) -> bytes: ...
    @property
    def packets_received(self) -> int: ...
    @property
    def packets_lost(self) -> int: ...
    @property
    def receive_time(self) -> float: ...
    @property
    def first_packet_time(self) -> float: ...
    @property
    def receive_monotonic(self) -> Optional[float]: ...
    @property
    def ssrc(self) -> int: ...
    @property
    def extended_timestamp(self) -> int: ...
    @property
    def packets(self) -> int: ...
    @property
    def q(self) -> int: ...
    @property
    def capture_time(self) -> Optional[float]: ...

@final
class FrameBuffer:
    """The owner of a frame's RGB pixels: the base of the numpy array."""

    @property
    def nbytes(self) -> int: ...

class _CameraStats(TypedDict):
    camera_id: str
    local_address: str
    ssrc: Optional[str]
    streams: int
    packets_received: int
    packets_lost: int
    packets_duplicate: int
    packets_late: int
    packets_invalid: int
    frames_complete: int
    frames_dropped: int
    width: int
    height: int
    jitter: int
    drop_reasons: Dict[str, int]
    invalid_reasons: Dict[str, int]
    tolerated: Dict[str, int]
    decode_errors: int
    kernel_drops: Optional[int]
    packets_foreign: int
    frames_dropped_backlog: int
    frames_dropped_queue: int
    frames_dropped_stopping: int
    frames_dropped_out_of_order: int
    frames_thinned: int
    frames_superseded: int
    frames_decoded: int
    frames_delivered: int
    interleaved_too_long: int
    datagrams: int
    bytes: int
    socket_buffer_size: int

@final
class FrameIterator:
    def __iter__(self) -> "FrameIterator": ...
    def __next__(self) -> Tuple[Optional[_RGB], Frame]: ...

@final
class MJPEGRTPClient:
    def __new__(
        cls,
        decode_threads: int = 0,
        decoder: str = "zune-jpeg",
        *,
        scale: Optional[_Scale] = None,
        resize: Optional[Tuple[int, int]] = None,
        fast: bool = False,
        decode: bool = True,
        delivery: str = "queue",
        max_fps: Optional[float] = None,
        io: str = "std",
        gro: bool = True,
    ) -> "MJPEGRTPClient": ...
    def add_camera(self, config: CameraConfig) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def get_frame(
        self, camera_id: Optional[str] = None, timeout: Optional[float] = None
    ) -> Optional[Tuple[Optional[_RGB], Frame]]: ...
    def get_frames(
        self, camera_ids: Optional[Sequence[str]] = None, timeout: Optional[float] = None
    ) -> Dict[str, Tuple[Optional[_RGB], Frame]]: ...
    def frames(self, camera_id: Optional[str] = None, timeout: Optional[float] = None) -> FrameIterator: ...
    @overload
    def stats(self, camera_id: str) -> _CameraStats: ...
    @overload
    def stats(self, camera_id: None = None) -> Dict[str, _CameraStats]: ...
    def local_address(self, camera_id: str) -> Tuple[str, int]: ...
    @property
    def camera_ids(self) -> List[str]: ...
    @property
    def decoder(self) -> str: ...
    @property
    def io(self) -> str: ...
    @property
    def is_running(self) -> bool: ...
    def __enter__(self) -> "MJPEGRTPClient": ...
    def __exit__(
        self,
        *_args: Union[Optional[Type[BaseException]], Optional[BaseException], Optional[TracebackType]],
    ) -> bool: ...


@final
class PcapReader:
    def __iter__(self) -> "PcapReader": ...
    def __next__(self) -> Tuple[Optional[_RGB], Frame]: ...
    @property
    def summary(self) -> Optional[Dict[str, Any]]: ...

def read_pcap(
    path: Union[str, "os.PathLike[str]"],
    port: Union[int, Iterable[int], None] = None,
    *,
    decoder: str = "zune-jpeg",
    payload_type: Optional[int] = None,
    scale: Optional[_Scale] = None,
    resize: Optional[Tuple[int, int]] = None,
    fast: bool = False,
    decode: bool = True,
    max_fps: Optional[float] = None,
) -> PcapReader: ...
def decoders() -> List[str]: ...
def decode(
    jpeg: bytes,
    *,
    scale: Optional[_Scale] = None,
    resize: Optional[Tuple[int, int]] = None,
    fast: bool = False,
    decoder: str = "zune-jpeg",
) -> _RGB: ...
# The package benchmark's baseline (python/bench/bench_client.py).
def _take_frames_in_rust(client: MJPEGRTPClient, count: int, timeout: float) -> int: ...
