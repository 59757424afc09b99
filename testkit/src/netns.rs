//! Two network namespaces joined by a veth pair, for the multicast test:
//! a server and a client on one host cannot share a multicast group's
//! port the way two hosts do (the receiver would bind the port the
//! sender's own RTCP socket holds), so each gets a namespace of its own,
//! as two machines on one link would. Needs root (`ip netns`, iproute2).
//!
//! ```text
//!  server ns  veth 10.213.0.1/30 <--------> veth 10.213.0.2/30  client ns
//!             route 224.0.0.0/4                decoy0 10.214.0.1/30 <-> decoy1
//!                                              route 224.0.0.0/4 via decoy0
//! ```
//!
//! The client's multicast route points at a decoy link, not at the one
//! the server is on: a receiver that joins on the system's default
//! interface misses the stream, one that joins on the interface that
//! reaches the server gets it.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

/// The pair; both namespaces (and with them the veth pair) are deleted on
/// drop.
pub struct NetnsPair {
    pub server: String,
    pub client: String,
    pub server_addr: Ipv4Addr,
    pub client_addr: Ipv4Addr,
}

impl NetnsPair {
    /// Create the namespaces `mjr<pid><tag>s` and `...c`, the veth pair
    /// between them, addresses, links up, the server's multicast route on
    /// the pair and the client's on a decoy pair. An error says which `ip` command failed (not root, no
    /// iproute2).
    pub fn create(tag: &str) -> Result<NetnsPair, String> {
        let base = format!("mjr{}{tag}", std::process::id());
        let pair = NetnsPair {
            server: format!("{base}s"),
            client: format!("{base}c"),
            server_addr: Ipv4Addr::new(10, 213, 0, 1),
            client_addr: Ipv4Addr::new(10, 213, 0, 2),
        };
        // Interface names are at most 15 bytes; the namespace names too,
        // so that the veth ends can be named after them.
        if pair.server.len() > 15 {
            return Err(format!("namespace name {:?} too long", pair.server));
        }
        ip(&["netns", "add", &pair.server])?;
        // From here on, drop deletes what exists.
        ip(&["netns", "add", &pair.client])?;
        ip(&[
            "link",
            "add",
            &pair.server,
            "netns",
            &pair.server,
            "type",
            "veth",
            "peer",
            "name",
            &pair.client,
            "netns",
            &pair.client,
        ])?;
        for (ns, addr) in [
            (&pair.server, pair.server_addr),
            (&pair.client, pair.client_addr),
        ] {
            ip_in(ns, &["link", "set", "lo", "up"])?;
            ip_in(ns, &["addr", "add", &format!("{addr}/30"), "dev", ns])?;
            ip_in(ns, &["link", "set", ns, "up"])?;
        }
        ip_in(
            &pair.server,
            &["route", "add", "224.0.0.0/4", "dev", &pair.server],
        )?;
        let client = |args: &[&str]| ip_in(&pair.client, args);
        client(&[
            "link", "add", "decoy0", "type", "veth", "peer", "name", "decoy1",
        ])?;
        client(&["addr", "add", "10.214.0.1/30", "dev", "decoy0"])?;
        client(&["link", "set", "decoy0", "up"])?;
        client(&["link", "set", "decoy1", "up"])?;
        client(&["route", "add", "224.0.0.0/4", "dev", "decoy0"])?;
        Ok(pair)
    }

    /// Give the server's end of the pair another address, `addr/32`,
    /// that the client namespace routes over the pair: a second sender
    /// on the server's link, as another host there would be.
    pub fn add_server_address(&self, addr: Ipv4Addr) -> Result<(), String> {
        let host = format!("{addr}/32");
        ip_in(&self.server, &["addr", "add", &host, "dev", &self.server])?;
        ip_in(&self.client, &["route", "add", &host, "dev", &self.client])
    }

    /// Move the calling thread into the client namespace: the sockets it
    /// opens from now on, and the threads it spawns, live there. Call it
    /// on a thread of its own.
    pub fn enter_client(&self) -> io::Result<()> {
        enter(&self.client)
    }

    /// Move the calling thread into the server namespace (as
    /// [`NetnsPair::enter_client`]).
    pub fn enter_server(&self) -> io::Result<()> {
        enter(&self.server)
    }
}

/// Move the calling thread into the network namespace `name`.
fn enter(name: &str) -> io::Result<()> {
    let ns = File::open(format!("/run/netns/{name}"))?;
    // SAFETY: `ns` is an open namespace file for the duration of the
    // call; setns changes only the calling thread's network namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// `ip ARGS` inside namespace `ns`.
fn ip_in(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut all = vec!["netns", "exec", ns, "ip"];
    all.extend_from_slice(args);
    ip(&all)
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}
