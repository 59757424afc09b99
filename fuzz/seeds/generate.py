#!/usr/bin/env python3
"""Regenerate the committed seed corpora of the byte-input fuzz targets.

rtp_parse / rfc2435_parse get real packets of the GStreamer and FFmpeg
fixture captures plus hand-made edge cases; capture_reader gets the first
records of the fixture captures (pcap and pcapng, tcpdump -i any's cooked
ones too) and tiny synthetic captures for the other link types and IPv6. The structured targets
(reassembly, rebuild_decode) keep a few small inputs picked from a
minimized fuzzing corpus instead (any bytes are a valid input for them).

Run from anywhere: python3 fuzz/seeds/generate.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

# The fixtures' own capture tool knows the link layers of their captures.
sys.path.insert(0, os.path.join(FIXTURES, "tools"))
from rtpjpeg_inspect import udp_payload  # noqa: E402


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pcap_records(path, limit):
    """(header bytes, [(record header, data)]) of a classic pcap file."""
    with open(path, "rb") as f:
        raw = f.read()
    endian = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(endian + "I", raw[20:24])[0]
    pos, out = 24, []
    while pos + 16 <= len(raw) and len(out) < limit:
        incl = struct.unpack(endian + "I", raw[pos + 8:pos + 12])[0]
        out.append((raw[pos:pos + 16], raw[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return raw[:24], link, out


def rtp_header(seq, ts, ssrc, marker=False, pt=26, ext=None, csrcs=(), pad=0):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrcs)
    h = struct.pack(">BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    for c in csrcs:
        h += struct.pack(">I", c)
    if ext is not None:
        profile, data = ext
        h += struct.pack(">HH", profile, len(data) // 4) + data
    return h


def jpeg_header(offset, typ, q, w8, h8, restart=None, tables=None):
    h = struct.pack(">I", offset)[1:]
    h = b"\x00" + h + bytes([typ, q, w8, h8])
    if restart is not None:
        h += struct.pack(">HH", restart[0], restart[1])
    if tables is not None:
        h += struct.pack(">BBH", 0, 0, len(tables)) + tables
    return h


def ethernet_ipv4_udp(payload, dport=5004):
    udp = struct.pack(">HHHH", 40000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + udp


def ipv6_udp(payload, dport=5004):
    udp = struct.pack(">HHHH", 40000, dport, 8 + len(payload), 0) + payload
    return (struct.pack(">IHBB", 0x60000000, len(udp), 17, 64)
            + bytes(15) + b"\x01" + bytes(15) + b"\x02" + udp)


def pcap(link, frames):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)
    for i, fr in enumerate(frames):
        out += struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)) + fr
    return out


def pcapng(link, frames):
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb = struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body + struct.pack("<I", 12 + len(shb_body))
    idb_body = struct.pack("<HHI", link, 0, 65535)
    idb = struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body))
    out = shb + idb
    for i, fr in enumerate(frames):
        padded = fr + bytes((-len(fr)) % 4)
        body = struct.pack("<IIIII", 0, 0, 1000 + i, len(fr), len(fr)) + padded
        out += struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    return out


def main():
    rtp_seeds, payload_seeds = [], []
    for name in ("gst-420", "gst-422", "gst-restart", "ffmpeg-420", "ffmpeg-422"):
        path = os.path.join(FIXTURES, name, "capture.pcap")
        if not os.path.exists(path):
            continue
        head, link, records = pcap_records(path, 4)
        for i, (_, data) in enumerate(records[:2]):
            udp = udp_payload(link, data)  # (port, payload) or None
            if udp is not None and len(udp[1]) >= 12:
                # Keep seeds small: the headers and a little scan data.
                rtp_seeds.append((f"{name}-{i}", udp[1][:300]))
        cut = head + b"".join(r + d for r, d in records[:3])
        write("capture_reader", f"{name}.pcap", cut)
    # tcpdump -i any: Linux cooked v1 and v2 with loopback's hardware type.
    for version in ("sll", "sll2"):
        path = os.path.join(FIXTURES, "gst-any", f"capture-{version}.pcap")
        if os.path.exists(path):
            head, _, records = pcap_records(path, 3)
            cut = head + b"".join(r + d for r, d in records)
            write("capture_reader", f"gst-any-{version}.pcap", cut)

    onvif_sof = bytes([0xFF, 0xC0, 0, 17, 8, 0x04, 0x38, 0x0F, 0x00, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0])
    scan = bytes(range(32))
    tables = bytes(range(1, 129))
    made = {
        "plain-420": rtp_header(1, 3000, 0x11223344, marker=True) + jpeg_header(0, 1, 80, 8, 6) + scan,
        "restart-422": rtp_header(2, 3000, 1) + jpeg_header(0, 64, 50, 80, 60, (4, 0xFFFF)) + scan,
        "q255-tables": rtp_header(3, 0, 2) + jpeg_header(0, 1, 255, 8, 8, tables=tables) + scan,
        "q200-one-table": rtp_header(4, 0, 2) + jpeg_header(0, 65, 200, 8, 8, (1, 0xC000), tables[:64]) + scan,
        "fragment": rtp_header(5, 0, 2, marker=True) + jpeg_header(1400, 0, 90, 8, 8) + scan + b"\xff\xd9",
        "onvif-4k": rtp_header(6, 0, 3, pt=96, ext=(0xFFD8, onvif_sof)) + jpeg_header(0, 1, 70, 0, 0) + scan,
        "csrc-pad": rtp_header(7, 0, 3, csrcs=(9, 10), pad=4) + jpeg_header(0, 1, 70, 8, 8) + scan + b"\x00\x00\x00\x04",
    }
    for name, p in made.items():
        rtp_seeds.append((name, p))
    for name, p in rtp_seeds:
        write("rtp_parse", name, p)
        cc = p[0] & 0x0F
        at = 12 + 4 * cc
        if p[0] & 0x10:
            at += 4 + 4 * struct.unpack(">H", p[at + 2:at + 4])[0]
        end = len(p) - (p[-1] if p[0] & 0x20 else 0)
        payload_seeds.append((name, p[at:end]))
    for name, p in payload_seeds:
        write("rfc2435_parse", name, p)

    pkts = [made["plain-420"], made["q255-tables"]]
    write("capture_reader", "synthetic-ether.pcap", pcap(1, [ethernet_ipv4_udp(p) for p in pkts]))
    write("capture_reader", "synthetic-raw-ipv6.pcapng", pcapng(101, [ipv6_udp(p) for p in pkts]))
    sll = b"\x00\x00\x00\x01\x00\x06\x00\x11\x22\x33\x44\x55\x00\x00\x08\x00"
    write("capture_reader", "synthetic-sll.pcap", pcap(113, [sll + ethernet_ipv4_udp(p)[14:] for p in pkts]))
    rtsp_seeds()


# RTSP: a camera's side of a conversation with the session (CSeq 1, 2,
# ... as the session numbers its requests), its SDP, its headers, RTCP.
SDP_HIKVISION = (
    b"v=0\r\no=- 1109162014219182 1109162014219192 IN IP4 192.168.1.64\r\n"
    b"s=Media Presentation\r\ne=NONE\r\nb=AS:5050\r\nt=0 0\r\n"
    b"a=control:rtsp://192.168.1.64:554/Streaming/Channels/102/?transportmode=unicast\r\n"
    b"m=video 0 RTP/AVP 26\r\nb=AS:5000\r\na=recvonly\r\na=x-dimensions:640,480\r\n"
    b"a=control:rtsp://192.168.1.64:554/Streaming/Channels/102/trackID=1?transportmode=unicast\r\n"
)
SDP_AXIS = (
    b"v=0\r\no=- 1234567890 1 IN IP4 192.168.0.90\r\ns=Session streamed with GStreamer\r\n"
    b"t=0 0\r\na=control:*\r\nm=audio 0 RTP/AVP 97\r\nc=IN IP4 0.0.0.0\r\n"
    b"a=rtpmap:97 MPEG4-GENERIC/16000/1\r\na=control:stream=1\r\n"
    b"m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 JPEG/90000\r\n"
    b"a=framesize:96 2592-1944\r\na=control:stream=0\r\n"
)
SDP_BROKEN = b"v=0\no=- 0 0 IN\ns=\nc=IN IP4\n\na=control:*\nm=video 0 RTP/AVP 26\na=control:track1\n"
SDP_OUT_OF_ORDER = (
    b"v=0\r\no=- 1 1 IN IP4 EXTRA 127.0.0.1\r\ns=Quirks\r\na=control:*\r\n"
    b"m=video 0 RTP/AVP 96\r\na=control:/video\r\na=framesize:96 192-144\r\n"
    b"a=rtpmap:96 JPEG/90000\r\nb=AS:2000\r\nc=IN IP4 0.0.0.0\r\n"
)
DIGEST = b'WWW-Authenticate: Basic realm="cam"\r\nWWW-Authenticate: Digest realm="cam", nonce="6b9f", algorithm=SHA-256, qop="auth"\r\n'


def reply(cseq, status=b"200 OK", headers=b"", body=b""):
    return (b"RTSP/1.0 " + status + b"\r\nCSeq: " + str(cseq).encode() + b"\r\n" + headers
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def interleaved(channel, data):
    return b"$" + bytes([channel]) + struct.pack(">H", len(data)) + data


def sender_report(ssrc, ntp_hi, ntp_lo, rtp):
    return struct.pack(">BBHIIIIII", 0x80, 200, 6, ssrc, ntp_hi, ntp_lo, rtp, 10, 1000)


def session_records(records):
    """rtsp_session's records: ("feed", bytes) | ("wait", ms) | ("teardown",)."""
    out = b""
    for r in records:
        if r[0] == "feed":
            out += b"\x00" + struct.pack(">H", len(r[1])) + r[1]
        elif r[0] == "wait":
            out += b"\x01" + struct.pack(">H", r[1])
        else:
            out += b"\x02\x00\x00"
    return out


def rtsp_seeds():
    rtp = rtp_header(1, 3000, 0x11223344, marker=True) + jpeg_header(0, 1, 80, 8, 6) + bytes(range(32))
    sr = sender_report(0x11223344, 0xE8000000, 0x80000000, 3000)
    base = b"Content-Base: rtsp://192.0.2.7/cam/\r\nContent-Type: application/sdp\r\n"
    tcp = [
        ("feed", reply(1, headers=b"Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n")),
        ("feed", reply(2, b"401 Unauthorized", DIGEST)),
        ("feed", reply(3, headers=base, body=SDP_AXIS)),
        ("feed", reply(4, headers=b"Session:  7A3F2C01 ; timeout = 30\r\nTransport: RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=4B1D2E\r\n")),
        ("feed", reply(5, headers=b"Session: 7A3F2C01\r\nRTP-Info: url=trackID=1;seq=0;rtptime=0;\r\n")
            + interleaved(2, rtp) + interleaved(3, sr) + interleaved(7, b"junk")),
        ("wait", 15000),
        ("feed", reply(5, b"405 Method Not Allowed")),
        ("wait", 15000),
        ("feed", b"OPTIONS * RTSP/1.0\r\nCSeq: 99\r\n\r\n" + reply(7)),
        ("teardown",),
        ("feed", reply(8)),
    ]
    write("rtsp_session", "tcp-digest-keepalive-teardown", b"\x03" + session_records(tcp))
    udp = [
        ("feed", reply(1, b"501 Not Implemented")),
        ("feed", reply(2, headers=b"Content-Location: 192.0.2.7/cam/\r\n", body=SDP_HIKVISION)),
        ("feed", reply(3, b"461 Unsupported Transport")),
        ("feed", reply(4, headers=b"Session: 12345678\r\nTransport: RTP/AVP/TCP\r\n")),
        ("feed", reply(5)),
        ("wait", 30000),
        ("wait", 10000),
    ]
    write("rtsp_session", "udp-461-tcp-timeout", b"\x00" + session_records(udp))
    redirect = [
        ("feed", reply(1, b"302 Found", b"Location: rtsp://192.0.2.8/other\r\n")),
        ("feed", reply(2, headers=b"Content-Base: rtsp://rtsp://192.0.2.8/other/\r\n", body=SDP_BROKEN)),
    ]
    write("rtsp_session", "redirect-broken-sdp", b"\x01" + session_records(redirect))
    # Credentials in the URL, a redirect to another port, a Basic
    # challenge there: no Authorization may follow.
    elsewhere = [
        ("feed", reply(1, b"302 Found", b"Location: rtsp://user:pw@192.0.2.7:8554/other\r\n")),
        ("feed", reply(2)),
        ("feed", reply(3, b"401 Unauthorized", b"WWW-Authenticate: Basic realm=\"r\"\r\n")),
    ]
    write("rtsp_session", "redirect-other-port-with-credentials", b"\x03" + session_records(elsewhere))
    multicast = [
        ("feed", reply(1)),
        ("feed", reply(2, headers=base, body=SDP_AXIS)),
        ("feed", reply(3, headers=b"Session: 99\r\nTransport: RTP/AVP;multicast;destination=224.3.0.1;ttl=16;port=5000-5001\r\n")),
        ("feed", reply(4, headers=b"Session: 99\r\n")),
        ("wait", 35000),
        ("wait", 35000),
        ("teardown",),
        ("feed", reply(6)),
    ]
    write("rtsp_session", "multicast-server-group", b"\x04" + session_records(multicast))

    write("rtsp_framing", "replies-and-frames",
          b"\x2a" + reply(1) + interleaved(0, rtp) + reply(2, headers=base, body=SDP_AXIS)
          + b"\x00garbage\r\n" + interleaved(1, sr) + b"GET_PARAMETER * RTSP/1.0\r\nCSeq: 4\r\n\r\n")
    write("rtsp_framing", "split-body", b"\x07" + reply(3, headers=base, body=SDP_HIKVISION) + interleaved(2, b""))

    for name, sdp in [("hikvision", SDP_HIKVISION), ("axis", SDP_AXIS), ("broken", SDP_BROKEN),
                      ("out-of-order", SDP_OUT_OF_ORDER)]:
        write("rtsp_sdp", name, sdp)

    write("rtsp_headers", "hikvision",
          b"7A3F2C01 ; timeout = 30\nRTP/AVP;unicast;client_port=50000-50001;server_port=8000-8001;ssrc=4B1D2E\n"
          b"rtsp://192.168.1.64:554/Streaming/Channels/102/\n\ntrackID=1")
    write("rtsp_headers", "onvif-query",
          b"12345678\nRTP/AVP/TCP;unicast;interleaved=4;ssrc=0x1234ABCD\n\nrtsp://rtsp://10.0.0.2/onvif?channel=1&proto=Onvif\n/video")
    write("rtsp_headers", "no-scheme", b" ;timeout=5\nRTP/AVP;ssrc=98765432\n10.0.0.2/y/\n\n*")

    def rtcp_input(flags, words, cname, raw):
        return bytes([flags, len(cname)]) + struct.pack(">14I", *words) + cname + raw
    words = [0x5155_4952, 0x11223344, 12, 3, 70000, 45, 0xE8000000 >> 16, 65536,
             0x11223344, 0xE8000000, 0x80000000, 3000, 10, 1000]
    write("rtcp", "receiver-report", rtcp_input(2, words, b"mjpeg-rtp@host", sr + sr))
    write("rtcp", "bye", rtcp_input(1, words, b"x", sender_report(1, 2, 3, 4)[:20]))
    write("rtcp", "bye-in-raw", rtcp_input(0, words, b"", b"\x81\xc9\x00\x01" + bytes(4)
                                         + struct.pack(">BBHII", 0x82, 203, 2, 0x11223344, 7)))
    write("rtcp", "empty-rr", rtcp_input(0, words, b"", b"\x81\xc9\x00\x07" + bytes(28) + sr))


if __name__ == "__main__":
    main()
