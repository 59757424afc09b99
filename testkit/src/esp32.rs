//! RTP/JPEG as ESP32 camera firmware sends it, made from a well-formed
//! stream: the Q byte changed after the first fragment (Micro-RTSP: Q 128
//! with tables at offset 0, 94 after; espp: 128, then 96), and a whole
//! JPEG file carried where RFC 2435 has the scan data (espp).

use mjpeg_rtp_core::jpeg::{write_headers, FrameHeaderParams, JpegInfo, MAX_HEADER_LEN};

/// Length of the RTP header the core's packetizer writes (no CSRC, no
/// extension).
const RTP: usize = 12;

/// Q the ESP32 servers put in a frame's first fragment (with tables).
pub const FIRST_Q: u8 = 128;
/// Q Micro-RTSP puts in every later fragment.
pub const MICRO_RTSP_LATER_Q: u8 = 94;
/// Q espp puts in every later fragment.
pub const ESPP_LATER_Q: u8 = 96;

/// An RTP/JPEG packet rewritten to Q `q`; a first fragment (offset 0)
/// with Q 128..=255 gets `tables` in-band (empty: a Quantization Table
/// header of length 0, as a sender that sent them before writes). Later
/// fragments get only the Q byte: RFC 2435 carries tables at offset 0
/// only.
pub fn with_q(packet: &[u8], q: u8, tables: &[u8]) -> Vec<u8> {
    let mut p = packet.to_vec();
    let old_q = p[RTP + 5];
    p[RTP + 5] = q;
    if fragment_offset(packet) != 0 {
        return p;
    }
    let quant = RTP + 8 + if p[RTP + 4] >= 64 { 4 } else { 0 };
    if old_q >= 128 {
        let len = usize::from(u16::from_be_bytes([p[quant + 2], p[quant + 3]]));
        p.drain(quant..quant + 4 + len);
    }
    if q >= 128 {
        let [hi, lo] = (tables.len() as u16).to_be_bytes();
        let header = [&[0, 0, hi, lo][..], tables].concat();
        p.splice(quant..quant, header);
    }
    p
}

/// The fragment offset of an RTP/JPEG packet.
pub fn fragment_offset(packet: &[u8]) -> u32 {
    u32::from_be_bytes([0, packet[RTP + 1], packet[RTP + 2], packet[RTP + 3]])
}

/// The packets of one frame of `jpeg` as an ESP32 server sends them: the
/// first fragment with Q [`FIRST_Q`] and `jpeg`'s tables, every later
/// one with Q `later_q`.
pub fn q_changed(packets: &[Vec<u8>], jpeg: &[u8], later_q: u8) -> Vec<Vec<u8>> {
    let tables = dqt_tables(jpeg);
    packets
        .iter()
        .map(|p| match fragment_offset(p) {
            0 => with_q(p, FIRST_Q, &tables),
            _ => with_q(p, later_q, &[]),
        })
        .collect()
}

/// A JPEG whose scan data is the whole of `jpeg` (from SOI to its EOI):
/// packetized, it is `jpeg` sent where RFC 2435 has the scan data, as
/// espp does (the packetizer leaves the final EOI out, as for any scan;
/// the receiver puts it back). Its headers are `jpeg`'s own, so that the
/// RTP/JPEG header says what the camera's would.
pub fn jfif_wrapped(jpeg: &[u8]) -> Vec<u8> {
    let info = JpegInfo::parse(jpeg).expect("a baseline JPEG");
    let params = FrameHeaderParams::new(info.width, info.height, info.sampling, &info.tables);
    let mut out = vec![0u8; MAX_HEADER_LEN];
    let n = write_headers(&params, &mut out).expect("headers fit");
    out.truncate(n);
    out.extend_from_slice(jpeg);
    if !jpeg.ends_with(&[0xFF, 0xD9]) {
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
    out
}

/// The 8-bit quantization tables of a baseline JPEG's DQT segments, in
/// the order of their ids, zig-zag as RFC 2435 carries them.
pub fn dqt_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut tables: Vec<(u8, &[u8])> = Vec::new();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF && jpeg[i + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if jpeg[i + 1] == 0xDB {
            let mut t = i + 4;
            while t + 65 <= i + 2 + len {
                tables.push((jpeg[t] & 0x0F, &jpeg[t + 1..t + 65]));
                t += 65;
            }
        }
        i += 2 + len;
    }
    tables.sort_by_key(|(id, _)| *id);
    tables.into_iter().flat_map(|(_, t)| t.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures_dir;
    use crate::rtp::frame_packets;
    use mjpeg_rtp_core::{Packetizer, PacketizerConfig};

    #[test]
    fn q_rewrite_puts_tables_in_the_first_packet_only() {
        let jpeg = std::fs::read(fixtures_dir().join("gst-420/000.jpg")).unwrap();
        let tables = dqt_tables(&jpeg);
        assert_eq!(tables.len(), 128);
        let mut packetizer = Packetizer::new(PacketizerConfig::default());
        let packets = frame_packets(&mut packetizer, &jpeg, 0);
        let with = with_q(&packets[0], 200, &tables);
        let without = with_q(&packets[0], 200, &[]);
        assert_eq!((with[17], without[17]), (200, 200));
        assert_eq!(&with[20..24], &[0, 0, 0, 128]);
        assert_eq!(&with[24..152], &tables[..]);
        assert_eq!(&without[20..24], &[0, 0, 0, 0]);
        assert_eq!(with.len(), without.len() + 128);
        assert_eq!(with_q(&with, 200, &[]), without);
        assert_eq!(with_q(&packets[1], 200, &tables).len(), packets[1].len());
        // Back below 128: the Quantization Table header goes.
        assert_eq!(with_q(&with, 50, &[]).len(), packets[0].len());
    }

    #[test]
    fn esp32_frames_change_q_after_the_first_fragment() {
        let jpeg = std::fs::read(fixtures_dir().join("gst-420/001.jpg")).unwrap();
        let mut packetizer = Packetizer::new(PacketizerConfig {
            max_packet: 600,
            ..PacketizerConfig::default()
        });
        let packets = q_changed(&frame_packets(&mut packetizer, &jpeg, 0), &jpeg, 94);
        assert!(packets.len() > 2);
        assert_eq!(packets[0][RTP + 5], FIRST_Q);
        assert!(packets[1..].iter().all(|p| p[RTP + 5] == 94));
        let wrapped = jfif_wrapped(&jpeg);
        assert!(wrapped.ends_with(&jpeg));
        assert_eq!(
            JpegInfo::parse(&wrapped).unwrap().scan,
            &jpeg[..jpeg.len() - 2]
        );
    }
}
