//! Portable std runtime for mjpeg-rtp: blocking sockets, decode workers.

pub mod decode;
