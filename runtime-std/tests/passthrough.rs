//! `Client::set_decode(false)`: frames arrive with their JPEG and no RGB.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mjpeg_rtp::{CameraConfig, Client, ClientOptions};
use mjpeg_rtp_testkit::picture::{camera_jpeg, decode, Sampling};
use mjpeg_rtp_testkit::rtp::Sender;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn passthrough_delivers_jpeg_without_rgb() {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client.set_decode(false);
    client
        .add_camera(CameraConfig::new("cam", SocketAddr::new(LOCALHOST, 0)).with_sender(LOCALHOST))
        .expect("add camera");
    client.start().expect("start");
    // Too late: ignored.
    client.set_decode(true);
    let to = client.local_addr("cam").unwrap();
    let mut sender = Sender::new("127.0.0.1:0", to, 0x0BAD_CAFE);
    let original = camera_jpeg(320, 240, Sampling::Yuv420, 0, 7);
    sender.send_frame(&original, 90_000);
    let frame = client
        .get_frame("cam", Duration::from_secs(5))
        .expect("frame");
    assert_eq!((frame.width, frame.height), (320, 240));
    assert!(frame.rgb().is_empty());
    // The JPEG is complete: it decodes to the original's pixels.
    assert_eq!(decode(frame.jpeg()), decode(&original));
    let stats = client.camera_stats("cam").unwrap();
    assert_eq!(stats.decode_errors, 0);
    client.stop();
}
