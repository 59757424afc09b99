//! A decoded frame handed to the consumer.

use std::fmt;
use std::ops::{Deref, DerefMut, Range};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::decode::RgbSize;
use crate::pool::Pooled;

/// One complete, decoded frame of one camera.
///
/// The pixels and the JPEG live in pooled buffers that go back to their
/// camera's pool when the `Frame` is dropped: keep it only as long as
/// needed, or copy out with [`Frame::into_rgb`].
pub struct Frame {
    pub(crate) camera_id: Arc<str>,
    pub(crate) rgb: Pooled,
    /// What the pixels were decoded to (the picture's size unless the
    /// camera's decode options scale or resize); `None` for a frame
    /// passed through undecoded.
    pub(crate) rgb_size: Option<RgbSize>,
    pub(crate) jpeg: Pooled,
    pub(crate) jpeg_range: Range<usize>,
    /// Picture size in pixels, as sent (the JPEG's); the RGB may be
    /// smaller ([`Frame::shape`]).
    pub width: u16,
    pub height: u16,
    /// RTP SSRC of the stream the frame came from.
    pub ssrc: u32,
    /// RTP timestamp (90 kHz) and the same extended across wrap-around.
    pub timestamp: u32,
    pub extended_timestamp: u64,
    /// Sequence numbers of the frame's first (offset 0) and last (marker)
    /// packets.
    pub first_sequence: u16,
    pub last_sequence: u16,
    /// Packets this frame was made of.
    pub packets: u32,
    /// The camera's current stream so far, when the frame completed:
    /// distinct packets received and RFC 3550 packets lost.
    pub packets_received: u64,
    pub packets_lost: u64,
    /// RFC 2435 Q of the frame.
    pub q: u8,
    /// Arrival of the frame's first packet and of the packet that
    /// completed it, on the monotonic clock.
    pub first_packet_at: Instant,
    pub received_at: Instant,
    /// Wall-clock time at which the frame completed.
    pub received_at_system: SystemTime,
    /// Wall-clock time at which the camera captured the frame: its RTP
    /// timestamp through the NTP <-> RTP mapping of the sender's RTCP
    /// sender reports (RTSP cameras, and plain-UDP ones with
    /// [`CameraConfig::rtcp`](crate::CameraConfig::rtcp)). `None` until
    /// two consecutive reports agree, and again after the camera's clock
    /// jumped until two agree anew. Looked up when the frame is decoded,
    /// so a frame that completed just before the reports agreed may have
    /// it too. As exact as the camera's clock.
    pub capture_time: Option<SystemTime>,
}

impl Frame {
    /// Id of the camera ([`CameraConfig::id`](crate::CameraConfig::id)).
    pub fn camera_id(&self) -> &str {
        &self.camera_id
    }

    /// Packed RGB pixels, row-major, H x W x 3 bytes; empty when the
    /// frame was passed through undecoded ([`Frame::has_rgb`]).
    pub fn rgb(&self) -> &[u8] {
        self.rgb.as_slice()
    }

    /// Whether the frame was decoded: `false` when its camera (or the
    /// client) passes JPEGs through ([`Client::set_decode`](crate::Client::set_decode),
    /// [`CameraConfig::decode_rgb`](crate::CameraConfig::decode_rgb)).
    pub fn has_rgb(&self) -> bool {
        self.rgb_size.is_some()
    }

    /// (height, width, channels) of [`Frame::rgb`]: the size it was
    /// decoded to ([`DecodeOptions`](crate::decode::DecodeOptions)), which
    /// is the picture's size ([`Frame::width`], [`Frame::height`]) unless
    /// the camera scales or resizes. For a frame passed through
    /// undecoded, the picture's size.
    pub fn shape(&self) -> (usize, usize, usize) {
        let size = self.rgb_size.unwrap_or(RgbSize {
            width: usize::from(self.width),
            height: usize::from(self.height),
        });
        (size.height, size.width, 3)
    }

    /// The rebuilt JPEG the pixels were decoded from, SOI to EOI.
    pub fn jpeg(&self) -> &[u8] {
        self.jpeg
            .as_slice()
            .get(self.jpeg_range.clone())
            .unwrap_or(&[])
    }

    /// Take the pixels out (their buffer is not recycled).
    pub fn into_rgb(self) -> Vec<u8> {
        let Frame { rgb, .. } = self;
        rgb.into_vec()
    }

    /// Take the pixels out in their pooled buffer, which goes back to the
    /// camera's pool when the [`RgbBuffer`] is dropped, also after the
    /// client is stopped or dropped. For consumers that outlive the frame
    /// but not the pixels (the Python package hands it to numpy as the
    /// array's owner). The JPEG's buffer goes back now.
    pub fn into_rgb_buffer(self) -> RgbBuffer {
        let Frame { rgb, .. } = self;
        RgbBuffer(rgb)
    }

    /// Take the pixels and the JPEG out, each in its pooled buffer (see
    /// [`Frame::into_rgb_buffer`]), for a consumer that hands both on
    /// without copying either (the Python package: the array and
    /// `jpeg_data`).
    pub fn into_buffers(self) -> (RgbBuffer, JpegBuffer) {
        let Frame {
            rgb,
            jpeg,
            jpeg_range,
            ..
        } = self;
        (RgbBuffer(rgb), JpegBuffer { jpeg, jpeg_range })
    }
}

/// A frame's rebuilt JPEG, SOI to EOI, owned apart from the frame (see
/// [`Frame::into_buffers`]); its buffer goes back to the camera's pool on
/// drop.
pub struct JpegBuffer {
    jpeg: Pooled,
    jpeg_range: Range<usize>,
}

impl Deref for JpegBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.jpeg
            .as_slice()
            .get(self.jpeg_range.clone())
            .unwrap_or(&[])
    }
}

impl fmt::Debug for JpegBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JpegBuffer")
            .field("len", &self.len())
            .finish()
    }
}

/// A frame's RGB pixels, owned apart from the frame (see
/// [`Frame::into_rgb_buffer`]): H x W x 3 bytes, mutable, recycled on drop.
pub struct RgbBuffer(Pooled);

impl Deref for RgbBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl DerefMut for RgbBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }
}

impl fmt::Debug for RgbBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RgbBuffer")
            .field("len", &self.len())
            .finish()
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("camera_id", &self.camera_id)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("shape", &self.shape())
            .field("ssrc", &format_args!("{:#010x}", self.ssrc))
            .field("timestamp", &self.timestamp)
            .field("first_sequence", &self.first_sequence)
            .field("last_sequence", &self.last_sequence)
            .field("packets", &self.packets)
            .field("jpeg_bytes", &self.jpeg_range.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::BufferPool;

    #[test]
    fn an_rgb_buffer_goes_back_to_its_pool() {
        let pool = BufferPool::new(12, 2);
        let mut rgb = RgbBuffer(Pooled::new(pool.get(), pool.clone()));
        rgb[0] = 7;
        let address = rgb.as_ptr();
        drop(rgb);
        assert_eq!(pool.spare(), 1);
        let again = pool.get();
        assert_eq!((again.as_ptr(), again[0]), (address, 7));
    }
}
