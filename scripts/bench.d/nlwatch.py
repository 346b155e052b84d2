"""Logs every address added to or removed from this network namespace, with the time the
event was read (ns), through an rtnetlink socket with a large buffer (no ENOBUFS on a burst of
a thousand addresses). Prints "ready" once subscribed; writes "t_ns add|del addr" lines to
OUTFILE on SIGTERM. Usage: nlwatch.py OUTFILE"""
import ipaddress
import signal
import socket
import struct
import sys
import time

RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x10, 0x100
RTM_NEWADDR, RTM_DELADDR = 20, 21
IFA_ADDRESS = 1
SO_RCVBUFFORCE = 33

out = sys.argv[1]
events = []


def stop(_sig, _frm):
    raise SystemExit(0)


signal.signal(signal.SIGTERM, stop)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
s.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
print("ready", flush=True)
try:
    while True:
        data = s.recv(1 << 20)
        t = time.time_ns()
        off = 0
        while off + 16 <= len(data):
            ln, typ = struct.unpack_from("=IH", data, off)
            if ln < 16:
                break
            if typ in (RTM_NEWADDR, RTM_DELADDR):
                fam = data[off + 16]
                a = off + 24  # nlmsghdr 16 + ifaddrmsg 8
                while a + 4 <= off + ln:
                    alen, atyp = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atyp == IFA_ADDRESS:
                        raw = data[a + 4:a + alen]
                        addr = ipaddress.ip_address(raw if fam != socket.AF_INET else raw[:4])
                        events.append((t, "add" if typ == RTM_NEWADDR else "del", str(addr)))
                    a += (alen + 3) & ~3
            off += (ln + 3) & ~3
finally:
    with open(out, "w") as f:
        for t, kind, addr in events:
            f.write(f"{t} {kind} {addr}\n")
