//! Multicast RTSP streams: the group and RTP/RTCP port pair a server
//! hands out in its SETUP answer (`destination=`, `port=`) are bound
//! with `SO_REUSEADDR`, so that other receivers on the host can join the
//! same group, and joined on the interface of the address the RTSP
//! connection leaves from (the one that reaches the camera, whatever the
//! default route says). The group is left when the session ends.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use mjpeg_rtp_rtsp::{Negotiated, TransportRequest};

use super::{Established, Link, PortPair};
use crate::config::CameraConfig;
use crate::error::Error;
use crate::socket::{bind_group, join_group, leave_group, multicast_sender};

/// TTL of our RTCP to the group when the server named none (the data's
/// own TTL is the server's business).
const DEFAULT_RTCP_TTL: u32 = 16;

/// A joined group, on both ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Membership {
    group: IpAddr,
    ports: (u16, u16),
    interface: IpAddr,
}

impl Membership {
    /// What a reconnect asks for: the same group and ports, which the
    /// receive path's socket is bound to and joined on.
    fn request(&self) -> TransportRequest {
        TransportRequest::Multicast {
            destination: Some(self.group),
            port: Some(self.ports),
            ttl: None,
        }
    }

    /// Leave the group on both sockets (best effort).
    pub(super) fn leave(&self, rtp: Option<&UdpSocket>, rtcp: Option<&UdpSocket>) {
        for socket in [rtp, rtcp].into_iter().flatten() {
            if let Err(e) = leave_group(socket, self.group, Some(self.interface)) {
                log::debug!("leaving multicast group {}: {e}", self.group);
            }
        }
    }
}

/// SETUP gave a multicast transport ([`mjpeg_rtp_rtsp::Event::Join`]):
/// join the group before PLAY, so that the first frame has a listener.
/// The first session binds and joins the group's ports; a reconnect
/// follows the server to a new group ([`follow`]).
pub(super) fn join(link: &mut Link, negotiated: &Negotiated) -> Result<(), Error> {
    if link.membership.is_some() {
        return follow(link, negotiated).map_err(|e| link.io_error(io::Error::other(e)));
    }
    let &Negotiated::Multicast {
        destination,
        port,
        ttl,
        ..
    } = negotiated
    else {
        return Err(Error::Config {
            camera: link.camera.clone(),
            reason: "a multicast camera was answered with another transport",
        });
    };
    let interface = link.stream.local_addr().map_err(|e| link.io_error(e))?.ip();
    let rtp = bind_group(
        &link.config,
        SocketAddr::new(destination, port.0),
        interface,
    )?;
    let rtcp = bind_group(
        &link.config,
        SocketAddr::new(destination, port.1),
        interface,
    )?
    .socket;
    // Receiver reports and the BYE go to the group from the interface that
    // reaches the server, as far as the server said the stream goes.
    let ttl = ttl.map_or(DEFAULT_RTCP_TTL, u32::from);
    multicast_sender(&rtcp, interface, ttl).map_err(|e| link.io_error(e))?;
    let membership = Membership {
        group: destination,
        ports: port,
        interface,
    };
    link.transport = membership.request();
    link.membership = Some(membership);
    link.rtcp = Some(rtcp.try_clone().map_err(|e| link.io_error(e))?);
    link.rtp = Some(rtp.socket.try_clone().map_err(|e| link.io_error(e))?);
    link.joined = Some(PortPair { rtp, rtcp });
    Ok(())
}

/// PLAY was answered for the group [`join`] joined: hand the camera's
/// receive path the RTP socket.
pub(super) fn start(
    mut link: Link,
    mut config: CameraConfig,
    negotiated: &Negotiated,
) -> Result<Established, Error> {
    let (Some(pair), Some(membership)) = (link.joined.take(), link.membership) else {
        return Err(Error::Config {
            camera: config.id,
            reason: "a multicast camera was answered with another transport",
        });
    };
    config.sender = Some(sender(negotiated, &link));
    log::info!(
        "camera {:?}: {} playing over multicast {} ports {}-{}, joined on {}",
        link.camera,
        link.url,
        membership.group,
        membership.ports.0,
        membership.ports.1,
        membership.interface
    );
    Ok(Established {
        link,
        config,
        pair: Some(pair),
    })
}

/// Who may send to the group: the source the server named, else the
/// server. Anyone on the segment can send to a group.
pub(super) fn sender(negotiated: &Negotiated, link: &Link) -> IpAddr {
    let source = match negotiated {
        Negotiated::Multicast { source, .. } => source.as_deref(),
        _ => None,
    };
    source
        .and_then(|s| s.parse().ok())
        .unwrap_or(link.peer.ip())
}

/// After a reconnect of a multicast session: keep the membership when
/// the server gave the same group, move to its new group when only the
/// group changed. New ports cannot be followed (the receive path's socket
/// is bound to the old ones): an error, and the attempt is retried.
pub(super) fn follow(link: &mut Link, negotiated: &Negotiated) -> Result<(), String> {
    let (
        Some(old),
        &Negotiated::Multicast {
            destination, port, ..
        },
    ) = (link.membership, negotiated)
    else {
        return Ok(());
    };
    if port != old.ports {
        return Err(format!(
            "the server moved the stream to ports {}-{} (bound: {}-{})",
            port.0, port.1, old.ports.0, old.ports.1
        ));
    }
    if destination == old.group {
        return Ok(());
    }
    // Join the new group before leaving the old one, and undo a partial
    // join: a failed attempt leaves the sockets in the membership
    // `link.membership` still names, so the next attempt starts from it.
    let sockets: Vec<&UdpSocket> = [link.rtp.as_ref(), link.rtcp.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    for (i, socket) in sockets.iter().enumerate() {
        if let Err(e) = join_group(socket, destination, Some(old.interface)) {
            for joined in &sockets[..i] {
                let _ = leave_group(joined, destination, Some(old.interface));
            }
            return Err(format!("joining {destination}: {e}"));
        }
    }
    old.leave(link.rtp.as_ref(), link.rtcp.as_ref());
    let new = Membership {
        group: destination,
        ..old
    };
    log::info!(
        "camera {:?}: multicast group is now {destination}",
        link.camera
    );
    link.transport = new.request();
    link.membership = Some(new);
    Ok(())
}
