"""Reads a pcap file (Ethernet link type) and decodes the frames the bench cares about into
events with wire timestamps: VRRP adverts, gratuitous ARP, unsolicited NA, IGMP reports."""
import struct
from collections import namedtuple

# kind: "vrrp" (vrid, prio), "garp" (addr = sender IP), "na" (addr = target), "igmp";
# mac: Ethernet source (identifies the node).
Event = namedtuple("Event", "ts kind mac vrid prio addr")


def frames(path):
    """(timestamp in s, frame bytes) for every record."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    else:
        end = ">"
        magic = struct.unpack_from(">I", data, 0)[0]
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(end + "IIII", data, off)
        off += 16
        out.append((sec + frac * scale, data[off:off + incl]))
        off += incl
    return out


def _ip6(b):
    import ipaddress
    return str(ipaddress.IPv6Address(bytes(b)))


def decode(ts, fr):
    """The Event for one frame, or None."""
    if len(fr) < 14:
        return None
    mac = bytes(fr[6:12])
    etype = struct.unpack_from("!H", fr, 12)[0]
    p = fr[14:]
    if etype == 0x0806 and len(p) >= 28:
        op = struct.unpack_from("!H", p, 6)[0]
        spa, tpa = p[14:18], p[24:28]
        if op == 1 and spa == tpa:   # gratuitous: sender IP = target IP = VIP
            return Event(ts, "garp", mac, None, None, ".".join(map(str, spa)))
        return None
    if etype == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        proto = p[9]
        body = p[ihl:]
        if proto == 112 and len(body) >= 3:
            return Event(ts, "vrrp", mac, body[1], body[2], None)
        if proto == 2:
            return Event(ts, "igmp", mac, None, None, None)
        return None
    if etype == 0x86DD and len(p) >= 40:
        nh = p[6]
        body = p[40:]
        if nh == 112 and len(body) >= 3:
            return Event(ts, "vrrp", mac, body[1], body[2], None)
        if nh == 58 and len(body) >= 24 and body[0] == 136:
            return Event(ts, "na", mac, None, None, _ip6(body[8:24]))
    return None


def events(path):
    """Decoded events of a capture, in time order."""
    out = []
    for ts, fr in frames(path):
        e = decode(ts, fr)
        if e is not None:
            out.append(e)
    out.sort(key=lambda e: e.ts)
    return out
