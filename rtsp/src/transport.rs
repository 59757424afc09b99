//! What a session asks for in SETUP ([`TransportRequest`]) and what the
//! server's `Transport` answer makes of it ([`Negotiated`]): the
//! request's header value, and the reply read against what was asked
//! (a multicast answer that names no group is no multicast stream).

use std::net::IpAddr;

use crate::error::Error;
use crate::headers::{parse_transport, TransportReply};

/// What to ask for in SETUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportRequest {
    /// RTP/AVP over UDP to this even/odd client port pair; with
    /// `fallback_to_tcp`, a 461 answer makes the session ask for TCP.
    Udp {
        client_port: (u16, u16),
        fallback_to_tcp: bool,
    },
    /// RTP/AVP/TCP interleaved on the RTSP connection.
    Tcp,
    /// RTP/AVP to a multicast group. Each field left `None` is the
    /// server's choice (its address pool); a reconnect asks for the group
    /// and ports it had before, so that the sockets already joined stay
    /// right.
    Multicast {
        destination: Option<IpAddr>,
        port: Option<(u16, u16)>,
        ttl: Option<u8>,
    },
}

impl TransportRequest {
    /// The `Transport` header of a SETUP asking for this.
    pub(crate) fn header_value(self) -> String {
        match self {
            TransportRequest::Udp {
                client_port: (rtp, rtcp),
                ..
            } => format!("RTP/AVP;unicast;client_port={rtp}-{rtcp}"),
            TransportRequest::Tcp => "RTP/AVP/TCP;unicast;interleaved=0-1".to_owned(),
            TransportRequest::Multicast {
                destination,
                port,
                ttl,
            } => {
                let mut v = "RTP/AVP;multicast".to_owned();
                if let Some(d) = destination {
                    v += &format!(";destination={d}");
                }
                if let Some((rtp, rtcp)) = port {
                    v += &format!(";port={rtp}-{rtcp}");
                }
                if let Some(ttl) = ttl {
                    v += &format!(";ttl={ttl}");
                }
                v
            }
        }
    }
}

/// Where the stream flows once playing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Negotiated {
    /// To the client ports asked for, from the server's `server_port`
    /// pair (when it said) at `source` (when it said; else the host the
    /// RTSP connection goes to).
    Udp {
        server_port: Option<(u16, u16)>,
        source: Option<String>,
        ssrc: Option<u32>,
    },
    /// Interleaved on the RTSP connection on these channels.
    Interleaved {
        rtp: u8,
        rtcp: u8,
        ssrc: Option<u32>,
    },
    /// To the multicast group `destination` on the RTP/RTCP `port` pair:
    /// join it there. `source` as for [`Negotiated::Udp`].
    Multicast {
        destination: IpAddr,
        port: (u16, u16),
        ttl: Option<u8>,
        source: Option<String>,
        ssrc: Option<u32>,
    },
}

/// Where the stream flows, from the SETUP answer's `Transport` header
/// value `reply` to a request for `asked`.
pub(crate) fn negotiate(asked: TransportRequest, reply: &str) -> Result<Negotiated, Error> {
    let reply = parse_transport(reply);
    Ok(match asked {
        TransportRequest::Tcp => {
            // Quirk: channels absent from the reply; the ones asked for.
            let (rtp, rtcp) = reply.interleaved.unwrap_or((0, 1));
            Negotiated::Interleaved {
                rtp,
                rtcp,
                ssrc: reply.ssrc,
            }
        }
        TransportRequest::Udp { .. } => Negotiated::Udp {
            server_port: reply.server_port,
            source: reply.source,
            ssrc: reply.ssrc,
        },
        TransportRequest::Multicast { .. } => {
            multicast_reply(asked, reply).ok_or(Error::BadResponse {
                method: "SETUP",
                what: "no multicast group and port in its Transport",
            })?
        }
    })
}

/// Where a multicast stream flows: the reply's group and ports, else the
/// ones asked for. `None` when neither names a multicast group and a
/// port pair (a server that ignored `multicast` and answered unicast
/// would send to nobody we listen as).
fn multicast_reply(asked: TransportRequest, reply: TransportReply) -> Option<Negotiated> {
    let TransportRequest::Multicast {
        destination, port, ..
    } = asked
    else {
        return None;
    };
    // An answer naming neither `multicast` nor a group is some other
    // transport (a server that ignored the request), not the group asked
    // for on a reconnect.
    if !reply.multicast && reply.destination.is_none() {
        return None;
    }
    let destination = match reply.destination {
        Some(d) => d.trim_matches(['[', ']']).parse::<IpAddr>().ok()?,
        None => destination?,
    };
    Some(Negotiated::Multicast {
        destination: Some(destination).filter(IpAddr::is_multicast)?,
        port: reply.port.or(port)?,
        ttl: reply.ttl,
        source: reply.source,
        ssrc: reply.ssrc,
    })
}
