//! rtnetlink messages as bytes: build requests, parse replies. Pure and panic-free on any input,
//! because every byte here comes from the kernel (or, later, a fuzzer).
//!
//! Netlink uses host byte order; every message and attribute is padded to 4 bytes.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Netlink control message: no-op.
pub const NLMSG_NOOP: u16 = 1;
/// Netlink control message: error or ack (error 0).
pub const NLMSG_ERROR: u16 = 2;
/// Netlink control message: end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// Netlink control message: data lost.
pub const NLMSG_OVERRUN: u16 = 4;

/// Link created or changed.
pub const RTM_NEWLINK: u16 = 16;
/// Link removed.
pub const RTM_DELLINK: u16 = 17;
/// Link query.
pub const RTM_GETLINK: u16 = 18;
/// Address added (or add request).
pub const RTM_NEWADDR: u16 = 20;
/// Address removed (or delete request).
pub const RTM_DELADDR: u16 = 21;
/// Address query.
pub const RTM_GETADDR: u16 = 22;
/// Route (dump reply).
pub const RTM_NEWROUTE: u16 = 24;
/// Route query.
pub const RTM_GETROUTE: u16 = 26;

/// Header flag: this is a request.
pub const NLM_F_REQUEST: u16 = 0x1;
/// Header flag: ask for an ack.
pub const NLM_F_ACK: u16 = 0x4;
/// Header flag: dump everything (ROOT | MATCH).
pub const NLM_F_DUMP: u16 = 0x300;
/// Reply flag: the dump was inconsistent because the table changed meanwhile.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// Error-message flag: the echoed request was cut to its header (NETLINK_CAP_ACK).
const NLM_F_CAPPED: u16 = 0x100;
/// Error-message flag: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// Extended-ack attribute: human readable message.
const NLMSGERR_ATTR_MSG: u16 = 1;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
/// The `main` routing table.
pub const RT_TABLE_MAIN: u32 = 254;
/// Route type for ordinary unicast routes.
pub const RTN_UNICAST: u8 = 1;
const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Size of `nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTMSG_LEN: usize = 12;
const RTA_HDRLEN: usize = 4;
/// Strip NLA_F_NESTED / NLA_F_NET_BYTEORDER from attribute types.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// A network interface as rtnetlink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// IFF_UP: administratively up.
    pub up: bool,
    /// IFF_RUNNING: operationally up (carrier); keepalived faults on losing either flag.
    pub running: bool,
    /// Hardware address, if it is a 6-byte (Ethernet-like) one.
    pub mac: Option<[u8; 6]>,
}

/// One address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// Interface index.
    pub index: u32,
    /// The local address (IFA_LOCAL, else IFA_ADDRESS).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Scope (0 global, 253 link, 254 host).
    pub scope: u8,
}

/// The parts of a route that matter for finding the default-route interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Address family (2 or 10).
    pub family: u8,
    /// Destination prefix length (0 for a default route).
    pub dst_len: u8,
    /// Routing table (RTA_TABLE wins over the 8-bit header field).
    pub table: u32,
    /// Route type (RTN_UNICAST, ...).
    pub kind: u8,
    /// Output interface, or the first nexthop's for a multipath route.
    pub oif: Option<u32>,
    /// Metric (RTA_PRIORITY); 0 when absent.
    pub priority: u32,
}

/// A byte buffer that is not a well-formed netlink message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed netlink message: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

/// One message borrowed from a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlMsg<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`: the port the message is addressed to (ours for replies).
    pub port: u32,
    /// Bytes after the header, within `nlmsg_len`.
    pub payload: &'a [u8],
}

/// The result carried by an NLMSG_ERROR message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack<'a> {
    /// Positive errno, or 0 for a plain acknowledgement.
    pub errno: i32,
    /// The kernel's extended-ack text, if it sent one.
    pub message: Option<&'a str>,
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?)?
        .try_into()
        .ok()
        .map(u16::from_ne_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_ne_bytes)
}

/// Iterates the messages in one datagram; yields one `Err` and stops at the first bad header.
pub struct Messages<'a> {
    rest: &'a [u8],
}

/// Walk the netlink messages in `buf` (one `recv` worth).
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<NlMsg<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        let parsed = (|| {
            let len = u32_at(buf, 0).ok_or(Malformed("short header"))? as usize;
            if len < NLMSG_HDRLEN {
                return Err(Malformed("nlmsg_len below header size"));
            }
            let body = buf
                .get(NLMSG_HDRLEN..len)
                .ok_or(Malformed("nlmsg_len beyond buffer"))?;
            let msg = NlMsg {
                kind: u16_at(buf, 4).ok_or(Malformed("short header"))?,
                flags: u16_at(buf, 6).ok_or(Malformed("short header"))?,
                seq: u32_at(buf, 8).ok_or(Malformed("short header"))?,
                port: u32_at(buf, 12).ok_or(Malformed("short header"))?,
                payload: body,
            };
            // The last message may omit its padding.
            Ok((msg, buf.get(align4(len)..).unwrap_or(&[])))
        })();
        match parsed {
            Ok((msg, rest)) => {
                self.rest = rest;
                Some(Ok(msg))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Iterates `(type, value)` attributes; stops silently at a truncated or bad one.
pub struct Attrs<'a> {
    rest: &'a [u8],
}

/// Walk the rtattrs in `buf`.
pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { rest: buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.rest;
        let len = usize::from(u16_at(buf, 0)?);
        let kind = u16_at(buf, 2)? & NLA_TYPE_MASK;
        let value = match len
            .checked_sub(RTA_HDRLEN)
            .and_then(|_| buf.get(RTA_HDRLEN..len))
        {
            Some(v) => v,
            None => {
                self.rest = &[];
                return None;
            }
        };
        self.rest = buf.get(align4(len)..).unwrap_or(&[]);
        Some((kind, value))
    }
}

/// Decode an NLMSG_ERROR payload (`nlmsgerr` plus optional extended-ack attributes).
pub fn parse_ack<'a>(msg: &NlMsg<'a>) -> Result<Ack<'a>, Malformed> {
    let p = msg.payload;
    let raw = u32_at(p, 0).ok_or(Malformed("short nlmsgerr"))? as i32;
    // The kernel sends -errno; guard against i32::MIN from garbage.
    let errno = raw.checked_neg().ok_or(Malformed("bad errno"))?.max(0);
    let mut message = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        let echoed = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32_at(p, 4).map_or(NLMSG_HDRLEN, |l| l as usize)
        };
        let tlvs = 4usize
            .checked_add(align4(echoed))
            .and_then(|at| p.get(at..))
            .unwrap_or(&[]);
        message = attrs(tlvs)
            .find(|(k, _)| *k == NLMSGERR_ATTR_MSG)
            .and_then(|(_, v)| std::str::from_utf8(cstr(v)).ok());
    }
    Ok(Ack { errno, message })
}

/// Decode an NLMSG_DONE payload: a positive errno if the dump failed, else 0.
pub fn parse_done(msg: &NlMsg<'_>) -> i32 {
    u32_at(msg.payload, 0).map_or(0, |v| (v as i32).checked_neg().unwrap_or(0).max(0))
}

fn cstr(v: &[u8]) -> &[u8] {
    v.split(|b| *b == 0).next().unwrap_or(&[])
}

/// Decode an RTM_NEWLINK / RTM_DELLINK payload. Only the generic (AF_UNSPEC) form counts:
/// bridge-port (AF_BRIDGE) notifications share the group and an RTM_DELLINK there only
/// means "left the bridge", not "interface gone".
pub fn parse_link(payload: &[u8]) -> Option<Link> {
    if *payload.first()? != 0 {
        return None;
    }
    let index = u32_at(payload, 4)?;
    let flags = u32_at(payload, 8)?;
    let mut name = None;
    let mut mac = None;
    for (kind, value) in attrs(payload.get(IFINFOMSG_LEN..)?) {
        match kind {
            IFLA_IFNAME => name = Some(String::from_utf8_lossy(cstr(value)).into_owned()),
            IFLA_ADDRESS => mac = value.try_into().ok(),
            _ => {}
        }
    }
    Some(Link {
        index,
        name: name?,
        up: flags & IFF_UP != 0,
        running: flags & IFF_RUNNING != 0,
        mac,
    })
}

fn ip_from(family: u8, value: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => <[u8; 4]>::try_from(value)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        AF_INET6 => <[u8; 16]>::try_from(value)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

/// Decode an RTM_NEWADDR / RTM_DELADDR payload (IPv4 or IPv6 only).
pub fn parse_addr(payload: &[u8]) -> Option<AddrInfo> {
    let family = *payload.first()?;
    let prefix_len = *payload.get(1)?;
    let scope = *payload.get(3)?;
    let index = u32_at(payload, 4)?;
    let (mut local, mut address) = (None, None);
    for (kind, value) in attrs(payload.get(IFADDRMSG_LEN..)?) {
        match kind {
            IFA_LOCAL => local = ip_from(family, value),
            IFA_ADDRESS => address = ip_from(family, value),
            _ => {}
        }
    }
    // IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL is ours when present.
    Some(AddrInfo {
        index,
        addr: local.or(address)?,
        prefix_len,
        scope,
    })
}

/// Decode an RTM_NEWROUTE payload.
pub fn parse_route(payload: &[u8]) -> Option<Route> {
    let header = payload.get(..RTMSG_LEN)?;
    let mut route = Route {
        family: header[0],
        dst_len: header[1],
        table: u32::from(header[4]),
        kind: header[7],
        oif: None,
        priority: 0,
    };
    for (kind, value) in attrs(&payload[RTMSG_LEN..]) {
        match kind {
            RTA_TABLE => route.table = u32_at(value, 0).unwrap_or(route.table),
            RTA_OIF => route.oif = u32_at(value, 0).or(route.oif),
            RTA_PRIORITY => route.priority = u32_at(value, 0).unwrap_or(0),
            // rtnexthop { len u16, flags u8, hops u8, ifindex i32 }: take the first one.
            RTA_MULTIPATH if route.oif.is_none() => route.oif = u32_at(value, 4),
            _ => {}
        }
    }
    Some(route)
}

/// Start a message: push the header with a placeholder length; returns its offset.
pub(crate) fn begin(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port 0: the kernel fills in ours
    start
}

/// Patch the length of the message started at `start`.
pub(crate) fn finish(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Append attribute `kind` with `value`, padded to 4 bytes.
pub(crate) fn push_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = RTA_HDRLEN + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + align4(len) - len, 0);
}

/// Append a dump request (`RTM_GETLINK`, `RTM_GETADDR` or `RTM_GETROUTE`) for `family`
/// (0 = all). The fixed header is sized to match the request type so strict kernels accept it.
pub fn push_dump(buf: &mut Vec<u8>, kind: u16, seq: u32, family: u8) {
    let start = begin(buf, kind, NLM_F_REQUEST | NLM_F_DUMP, seq);
    let fixed = match kind {
        RTM_GETLINK => IFINFOMSG_LEN,
        RTM_GETROUTE => RTMSG_LEN,
        _ => IFADDRMSG_LEN,
    };
    buf.push(family);
    buf.resize(buf.len() + fixed - 1, 0);
    finish(buf, start);
}

/// Append an `RTM_NEWADDR` or `RTM_DELADDR` request for a host address (/32 or /128, scope
/// global) the way keepalived builds it: REQUEST|ACK only; IPv6 adds carry IFA_F_NODAD and
/// preferred lifetime 0 / valid forever, so the VIP is deprecated and never picked as a source.
pub fn push_addr(buf: &mut Vec<u8>, kind: u16, seq: u32, index: u32, addr: IpAddr) {
    let start = begin(buf, kind, NLM_F_REQUEST | NLM_F_ACK, seq);
    let (family, prefix) = match addr {
        IpAddr::V4(_) => (AF_INET, 32),
        IpAddr::V6(_) => (AF_INET6, 128),
    };
    buf.extend_from_slice(&[family, prefix, 0, 0]); // flags 0 (IFA_FLAGS carries them), scope 0
    buf.extend_from_slice(&index.to_ne_bytes());
    match addr {
        IpAddr::V4(a) => {
            push_attr(buf, IFA_LOCAL, &a.octets());
            if kind == RTM_DELADDR {
                push_attr(buf, IFA_ADDRESS, &a.octets());
            }
        }
        IpAddr::V6(a) => {
            push_attr(buf, IFA_LOCAL, &a.octets());
            if kind == RTM_NEWADDR {
                push_attr(buf, IFA_FLAGS, &IFA_F_NODAD.to_ne_bytes());
                // ifa_cacheinfo { prefered, valid, cstamp, tstamp }
                let mut ci = [0u8; 16];
                ci[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
                push_attr(buf, IFA_CACHEINFO, &ci);
            }
        }
    }
    finish(buf, start);
}

/// Deterministic pseudo-random bytes (xorshift32 advancing `state`), for parser tests.
#[cfg(test)]
pub(crate) fn noise(state: &mut u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 17;
            *state ^= *state << 5;
            (*state & 0xff) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a raw message by hand (independent of `begin`/`finish`).
    fn raw(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&77u32.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        push_attr(&mut v, kind, value);
        v
    }

    fn link_payload(index: u32, flags: u32, name: &[u8], mac: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8, 0, 1, 0];
        p.extend_from_slice(&index.to_ne_bytes());
        p.extend_from_slice(&flags.to_ne_bytes());
        p.extend_from_slice(&0u32.to_ne_bytes());
        p.extend(attr(IFLA_IFNAME, name));
        p.extend(attr(IFLA_ADDRESS, mac));
        p
    }

    #[test]
    fn walks_messages_and_parses_link() {
        let p = link_payload(3, IFF_UP | IFF_RUNNING, b"eth0\0", &[2, 0, 0, 0, 0, 1]);
        let mut buf = raw(RTM_NEWLINK, 2, 9, &p);
        buf.extend(raw(NLMSG_DONE, 2, 9, &0u32.to_ne_bytes()));
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            (msgs[0].kind, msgs[0].seq, msgs[0].port),
            (RTM_NEWLINK, 9, 77)
        );
        let link = parse_link(msgs[0].payload).unwrap();
        assert_eq!(
            link,
            Link {
                index: 3,
                name: "eth0".into(),
                up: true,
                running: true,
                mac: Some([2, 0, 0, 0, 0, 1])
            }
        );
        assert_eq!(msgs[1].kind, NLMSG_DONE);
        assert_eq!(parse_done(&msgs[1]), 0);
    }

    #[test]
    fn link_without_ethernet_mac_and_down() {
        let mut p = link_payload(1, 0, b"lo\0", &[]);
        let link = parse_link(&p).unwrap();
        assert_eq!((link.up, link.running, link.mac), (false, false, None));
        p[0] = 7; // AF_BRIDGE
        assert_eq!(parse_link(&p), None);
    }

    #[test]
    fn parses_addresses_preferring_local() {
        let mut p = vec![AF_INET, 24, 0, 0];
        p.extend_from_slice(&5u32.to_ne_bytes());
        p.extend(attr(IFA_ADDRESS, &[192, 0, 2, 99]));
        p.extend(attr(IFA_LOCAL, &[192, 0, 2, 1]));
        let a = parse_addr(&p).unwrap();
        assert_eq!(
            a,
            AddrInfo {
                index: 5,
                addr: "192.0.2.1".parse().unwrap(),
                prefix_len: 24,
                scope: 0
            }
        );

        let mut p6 = vec![AF_INET6, 64, 0, 253];
        p6.extend_from_slice(&2u32.to_ne_bytes());
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        p6.extend(attr(IFA_ADDRESS, &v6.octets()));
        let a = parse_addr(&p6).unwrap();
        assert_eq!((a.addr, a.prefix_len, a.scope), (IpAddr::V6(v6), 64, 253));

        // Wrong-length address, unknown family: no address, no panic.
        let mut bad = vec![AF_INET, 24, 0, 0, 1, 0, 0, 0];
        bad.extend(attr(IFA_LOCAL, &[1, 2, 3]));
        assert_eq!(parse_addr(&bad), None);
        bad[0] = 99;
        assert_eq!(parse_addr(&bad), None);
    }

    #[test]
    fn parses_routes_with_table_oif_and_multipath() {
        let mut p = vec![AF_INET, 0, 0, 0, 254, 3, 0, RTN_UNICAST, 0, 0, 0, 0];
        p.extend(attr(RTA_TABLE, &RT_TABLE_MAIN.to_ne_bytes()));
        p.extend(attr(RTA_PRIORITY, &100u32.to_ne_bytes()));
        p.extend(attr(RTA_OIF, &7u32.to_ne_bytes()));
        let r = parse_route(&p).unwrap();
        assert_eq!(
            r,
            Route {
                family: AF_INET,
                dst_len: 0,
                table: 254,
                kind: RTN_UNICAST,
                oif: Some(7),
                priority: 100
            }
        );

        let mut m = vec![AF_INET, 0, 0, 0, 254, 3, 0, RTN_UNICAST, 0, 0, 0, 0];
        let mut nh = vec![8, 0, 0, 0];
        nh.extend_from_slice(&4u32.to_ne_bytes());
        m.extend(attr(RTA_MULTIPATH, &nh));
        assert_eq!(parse_route(&m).unwrap().oif, Some(4));
        assert_eq!(parse_route(&m[..11]), None);
    }

    #[test]
    fn parses_ack_error_and_extack() {
        // errno -17, echoed header (capped), then NLMSGERR_ATTR_MSG.
        let mut p = (-17i32).to_ne_bytes().to_vec();
        p.extend(raw(RTM_NEWADDR, 5, 42, &[]));
        p.extend(attr(NLMSGERR_ATTR_MSG, b"address exists\0"));
        let buf = raw(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 42, &p);
        let msg = messages(&buf).next().unwrap().unwrap();
        let ack = parse_ack(&msg).unwrap();
        assert_eq!(
            ack,
            Ack {
                errno: 17,
                message: Some("address exists")
            }
        );

        let ok = raw(NLMSG_ERROR, 0, 1, &0i32.to_ne_bytes());
        let msg = messages(&ok).next().unwrap().unwrap();
        assert_eq!(
            parse_ack(&msg).unwrap(),
            Ack {
                errno: 0,
                message: None
            }
        );

        let short = raw(NLMSG_ERROR, 0, 1, &[1, 2]);
        let msg = messages(&short).next().unwrap().unwrap();
        assert!(parse_ack(&msg).is_err());

        let done = raw(NLMSG_DONE, 0, 1, &(-95i32).to_ne_bytes());
        assert_eq!(parse_done(&messages(&done).next().unwrap().unwrap()), 95);
    }

    #[test]
    fn rejects_truncated_and_garbage_headers() {
        let good = raw(NLMSG_NOOP, 0, 1, &[]);
        for cut in 0..good.len() {
            let r: Vec<_> = messages(&good[..cut]).collect();
            assert!(cut == 0 || r.len() == 1 && r[0].is_err(), "cut {cut}");
        }
        // nlmsg_len smaller than a header, or huge.
        let mut bad = good.clone();
        bad[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(matches!(messages(&bad).next(), Some(Err(_))));
        bad[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(messages(&bad).next(), Some(Err(_))));
        // A good message followed by garbage yields the good one then one error, then stops.
        let mut two = good.clone();
        two.extend_from_slice(&[9, 9, 9]);
        let r: Vec<_> = messages(&two).collect();
        assert_eq!(r.len(), 2);
        assert!(r[0].is_ok() && r[1].is_err());
    }

    #[test]
    fn attrs_stop_on_bad_lengths() {
        let mut a = attr(1, &[1, 2, 3, 4]);
        a.extend_from_slice(&[2, 0, 5, 0]); // rta_len 2 < header
        let got: Vec<_> = attrs(&a).collect();
        assert_eq!(got, vec![(1, &[1u8, 2, 3, 4][..])]);
        let mut b = attr(1, &[1]);
        b.extend_from_slice(&[200, 0, 5, 0, 1]); // rta_len beyond buffer
        assert_eq!(attrs(&b).count(), 1);
        assert_eq!(attrs(&[1]).count(), 0);
    }

    #[test]
    fn parsers_survive_every_prefix_and_byte_noise() {
        let p = link_payload(3, 1, b"veth-a\0", &[1, 2, 3, 4, 5, 6]);
        for cut in 0..=p.len() {
            let _ = parse_link(&p[..cut]);
            let _ = parse_addr(&p[..cut]);
            let _ = parse_route(&p[..cut]);
        }
        // Deterministic pseudo-random buffers through every parser.
        let mut x = 0x1234_5678u32;
        for len in 0..300 {
            let buf = noise(&mut x, len);
            for m in messages(&buf).flatten() {
                let _ = parse_ack(&m);
                let _ = parse_done(&m);
                let _ = parse_link(m.payload);
                let _ = parse_addr(m.payload);
                let _ = parse_route(m.payload);
            }
            let _ = attrs(&buf).count();
        }
    }

    #[test]
    fn builds_dump_requests() {
        let mut buf = Vec::new();
        push_dump(&mut buf, RTM_GETROUTE, 5, AF_INET);
        assert_eq!(buf.len(), 16 + 12);
        let m = messages(&buf).next().unwrap().unwrap();
        assert_eq!(
            (m.kind, m.flags, m.seq),
            (RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 5)
        );
        assert_eq!(m.payload[0], AF_INET);
        buf.clear();
        push_dump(&mut buf, RTM_GETLINK, 6, 0);
        assert_eq!(buf.len(), 32);
    }

    #[test]
    fn builds_address_requests_like_keepalived() {
        let mut buf = Vec::new();
        push_addr(&mut buf, RTM_NEWADDR, 1, 3, "192.0.2.10".parse().unwrap());
        push_addr(&mut buf, RTM_DELADDR, 2, 3, "192.0.2.10".parse().unwrap());
        push_addr(&mut buf, RTM_NEWADDR, 3, 3, "2001:db8::10".parse().unwrap());
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 3);
        for m in &msgs {
            assert_eq!(m.flags, NLM_F_REQUEST | NLM_F_ACK);
        }
        let attr_kinds = |m: &NlMsg| attrs(&m.payload[8..]).map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(&msgs[0].payload[..4], &[AF_INET, 32, 0, 0]);
        assert_eq!(u32_at(msgs[0].payload, 4), Some(3));
        assert_eq!(attr_kinds(&msgs[0]), vec![IFA_LOCAL]);
        assert_eq!(attr_kinds(&msgs[1]), vec![IFA_LOCAL, IFA_ADDRESS]);
        assert_eq!(&msgs[2].payload[..4], &[AF_INET6, 128, 0, 0]);
        assert_eq!(
            attr_kinds(&msgs[2]),
            vec![IFA_LOCAL, IFA_FLAGS, IFA_CACHEINFO]
        );
        let (_, ci) = attrs(&msgs[2].payload[8..])
            .find(|(k, _)| *k == IFA_CACHEINFO)
            .unwrap();
        assert_eq!(u32_at(ci, 0), Some(0));
        assert_eq!(u32_at(ci, 4), Some(u32::MAX));
        // Round-trip through the reply parser.
        assert_eq!(
            parse_addr(msgs[0].payload).unwrap().addr,
            "192.0.2.10".parse::<IpAddr>().unwrap()
        );
    }
}
