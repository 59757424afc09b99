//! A client whose every camera has latest delivery starts no decode
//! workers: its frames are decoded by whoever takes them, so idle workers
//! would only wake to look at the stop flag. Its own test binary, so that
//! no other test's client shares the process's thread list.

#![cfg(target_os = "linux")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, Delivery};
use mjpeg_rtp_testkit::wait_until;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Decode workers running. A new thread carries its parent's name until
/// it runs and names itself, so the count waits until no thread but this
/// one has this one's name.
fn decode_workers() -> usize {
    let own = std::fs::read_to_string("/proc/thread-self/comm").expect("own name");
    let own = own.trim();
    let names = wait_until(thread_names, |names| {
        names.iter().filter(|name| *name == own).count() == 1
    });
    names
        .iter()
        .filter(|name| name.starts_with("decode-"))
        .count()
}

fn client(deliveries: &[Delivery]) -> Client {
    let mut client = Client::new(ClientOptions {
        decode_threads: 2,
        ..ClientOptions::default()
    });
    for (n, delivery) in deliveries.iter().enumerate() {
        let camera = CameraConfig::new(format!("cam{n}"), SocketAddr::new(LOCALHOST, 0))
            .with_sender(LOCALHOST)
            .with_delivery(*delivery);
        client.add_camera(camera).expect("add camera");
    }
    client.start().expect("start");
    client
}

#[test]
fn decode_workers_start_only_for_queue_delivery() {
    let latest = client(&[Delivery::Latest, Delivery::Latest]);
    assert_eq!(decode_workers(), 0, "threads: {:?}", thread_names());
    latest.stop();

    let mixed = client(&[Delivery::Latest, Delivery::Queue]);
    assert_eq!(decode_workers(), 2, "threads: {:?}", thread_names());
    mixed.stop();
    assert_eq!(decode_workers(), 0, "threads: {:?}", thread_names());
}
