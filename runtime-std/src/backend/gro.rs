//! UDP GRO messages, for every backend that receives them: where a
//! message's control data says its segment size, and how it is cut back
//! into the datagrams sent.
//!
//! With UDP GRO on a socket (Linux; [`enable_udp_gro`]) one message may
//! carry a run of one sender's datagrams back to back: equal-size
//! segments, the last possibly shorter, and a `UDP_GRO` control message
//! giving the segment size. The kernel then dequeues, copies and frees
//! one buffer for the run instead of one per datagram; the reader cuts
//! the message apart again with [`split_segments`], so that the ingest
//! sees every datagram as it was sent, in order, with its sender.
//! RTP/JPEG frames are runs of equal-size packets with a shorter last
//! one, GRO's shape exactly.
//!
//! A reader must pass a message whose control data was cut off
//! (`MSG_CTRUNC`) on as one empty datagram, as for `MSG_TRUNC`: it may
//! have been a run whose segment size was lost, which would otherwise
//! reach the core as one long datagram.
//!
//! [`enable_udp_gro`]: crate::backend::enable_udp_gro

/// Largest message a UDP socket hands over: a datagram's payload is at
/// most 65,527 bytes, and the kernel stops merging a GRO run below
/// 64 KiB of packet, headers included.
pub const MAX_MESSAGE: usize = 65_536;

/// Call `each` for every datagram of a message of `bytes`: the whole
/// message when `segment` is `None` (no GRO) or not shorter than it,
/// else `segment`-byte pieces, the last one possibly shorter. Returns
/// how many.
pub fn split_segments(bytes: &[u8], segment: Option<usize>, mut each: impl FnMut(&[u8])) -> usize {
    match segment {
        Some(segment) if segment > 0 && bytes.len() > segment => {
            let mut count = 0;
            for datagram in bytes.chunks(segment) {
                each(datagram);
                count += 1;
            }
            count
        }
        // An empty datagram is a datagram too (`chunks` would yield
        // none).
        _ => {
            each(bytes);
            1
        }
    }
}

/// The segment size of the `UDP_GRO` control message among `control`
/// (the bytes the kernel wrote), if there is one and it is not zero.
#[cfg(target_os = "linux")]
pub fn gro_segment(control: &[u8]) -> Option<usize> {
    let data = control_message(control, libc::SOL_UDP, libc::UDP_GRO)?;
    let size = libc::c_int::from_ne_bytes(data.get(..4)?.try_into().ok()?);
    usize::try_from(size).ok().filter(|&s| s > 0)
}

/// The data of the first control message of `level` and `kind` among
/// `control` (the bytes the kernel wrote, `msg_controllen` of them), if
/// there is one and it lies whole within them.
///
/// Read from the bytes rather than through `CMSG_FIRSTHDR`/`CMSG_NXTHDR`
/// pointers, so that no length the kernel (or a bug) writes can make it
/// read out of bounds, and so that the bytes need no alignment (an
/// io_uring buffer's control data sits wherever the name before it
/// ends): each control message is the kernel's
/// `struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; }`
/// followed by its data, and the next starts at `cmsg_len` rounded up to
/// a `size_t` (`CMSG_ALIGN`).
#[cfg(target_os = "linux")]
pub fn control_message(control: &[u8], level: libc::c_int, kind: libc::c_int) -> Option<&[u8]> {
    const WORD: usize = std::mem::size_of::<usize>();
    /// `CMSG_LEN(0)`: where a control message's data starts.
    const HEADER: usize = (WORD + 8).next_multiple_of(WORD);
    fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
        bytes.get(at..at.checked_add(N)?)?.try_into().ok()
    }
    let mut at = 0;
    while at < control.len() {
        let len = usize::from_ne_bytes(field(control, at)?);
        let found_level = libc::c_int::from_ne_bytes(field(control, at + WORD)?);
        let found_kind = libc::c_int::from_ne_bytes(field(control, at + WORD + 4)?);
        // A length shorter than its own header would never advance.
        if len < HEADER {
            return None;
        }
        if found_level == level && found_kind == kind {
            return control.get(at + HEADER..at.checked_add(len)?);
        }
        // `CMSG_ALIGN`, checked: a length near usize::MAX ends the walk.
        at = at.checked_add(len.checked_next_multiple_of(WORD)?)?;
    }
    None
}

/// Turn on UDP GRO for every camera's socket, for a backend whose reader
/// cuts runs apart ([`split_segments`]). Called once the backend is about
/// to read, not where sockets are bound, so that no other reader ever
/// sees a run. A kernel that refuses (before 5.0) delivers datagrams one
/// by one, as without: logged, not an error.
pub fn enable_gro_for(cameras: &[crate::backend::CameraSocket]) {
    for camera in cameras {
        if let Err(e) = crate::socket::enable_udp_gro(&camera.socket) {
            log::debug!(
                "camera {:?}: UDP_GRO not enabled: {e}",
                camera.ingest.camera_id()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message is cut at the segment size, the last piece shorter; no
    /// segment size, a zero one or one not shorter than the message
    /// leaves it whole, an empty one included.
    #[test]
    fn split_cuts_at_the_segment_size() {
        let cut = |len: usize, segment: Option<usize>| {
            let bytes: Vec<u8> = (0..len).map(|k| (k * 7) as u8).collect();
            let mut pieces = Vec::new();
            let count = split_segments(&bytes, segment, |d| pieces.push(d.to_vec()));
            assert_eq!(count, pieces.len());
            assert!(pieces.concat() == bytes);
            pieces.iter().map(Vec::len).collect::<Vec<_>>()
        };
        assert_eq!(cut(10, Some(4)), [4, 4, 2]);
        assert_eq!(cut(8, Some(4)), [4, 4]);
        assert_eq!(cut(4, Some(4)), [4]);
        assert_eq!(cut(3, Some(4)), [3]);
        assert_eq!(cut(10, None), [10]);
        assert_eq!(cut(10, Some(0)), [10]);
        assert_eq!(cut(0, Some(4)), [0]);
        assert_eq!(cut(0, None), [0]);
    }

    /// A control message as the kernel lays it out: `cmsg_len`
    /// (`size_t`), level, type, the data, padding to a `size_t`.
    #[cfg(target_os = "linux")]
    fn cmsg(level: libc::c_int, kind: libc::c_int, data: &[u8]) -> Vec<u8> {
        const WORD: usize = std::mem::size_of::<usize>();
        let header = (WORD + 8).next_multiple_of(WORD);
        let mut bytes = (header + data.len()).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&level.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.resize(header, 0);
        bytes.extend_from_slice(data);
        bytes.resize(bytes.len().next_multiple_of(WORD), 0);
        bytes
    }

    /// The segment size is found among other control messages, and bytes
    /// that make no sense (cut short, a length of zero or past the end,
    /// every prefix of real ones) give none, never a panic or a loop.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_gro_segment_is_read_from_control_messages() {
        let gro = cmsg(libc::SOL_UDP, libc::UDP_GRO, &1400i32.to_ne_bytes());
        let drops = cmsg(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &7u32.to_ne_bytes());
        // The layout the kernel and libc agree on.
        // SAFETY: pure arithmetic on a length, no pointer involved.
        let space = unsafe { libc::CMSG_SPACE(4) } as usize;
        assert_eq!(gro.len(), space);

        assert_eq!(gro_segment(&gro), Some(1400));
        assert_eq!(
            gro_segment(&[drops.clone(), gro.clone()].concat()),
            Some(1400)
        );
        assert_eq!(
            gro_segment(&[gro.clone(), drops.clone()].concat()),
            Some(1400)
        );
        assert_eq!(
            control_message(
                &[gro.clone(), drops.clone()].concat(),
                libc::SOL_SOCKET,
                libc::SO_RXQ_OVFL
            ),
            Some(&7u32.to_ne_bytes()[..])
        );
        assert_eq!(gro_segment(&drops), None);
        assert_eq!(gro_segment(&[]), None);
        let zero = cmsg(libc::SOL_UDP, libc::UDP_GRO, &0i32.to_ne_bytes());
        assert_eq!(gro_segment(&zero), None);
        let negative = cmsg(libc::SOL_UDP, libc::UDP_GRO, &(-5i32).to_ne_bytes());
        assert_eq!(gro_segment(&negative), None);

        let both = [drops.clone(), gro.clone()].concat();
        for end in 0..both.len() {
            // Cut inside the GRO message: no segment size (never a wrong
            // one).
            let found = gro_segment(&both[..end]);
            let whole = end >= drops.len() + gro.len() - 4;
            assert!(found.is_none() || (whole && found == Some(1400)), "{end}");
        }
        for len in [0usize, 1, 15, usize::MAX, usize::MAX - 3, usize::MAX / 2] {
            let mut bad = drops.clone();
            bad[..std::mem::size_of::<usize>()].copy_from_slice(&len.to_ne_bytes());
            bad.extend_from_slice(&gro);
            assert_eq!(gro_segment(&bad), None, "cmsg_len {len}");
        }
        for fill in [0u8, 0xff, 0x11] {
            for len in 0..=128 {
                let _ = gro_segment(&vec![fill; len]);
            }
        }
    }
}
