//! io_uring receive backend for mjpeg-rtp.
