//! Raw IPv6 protocol-112 socket for one interface. Unlike IPv4 there is no header-included
//! mode: the kernel builds the IPv6 header and, with IPV6_CHECKSUM, computes the VRRPv3
//! checksum on send and drops datagrams whose checksum is wrong on receive. Addresses and
//! the hop limit travel as ancillary data.
use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr;

use crate::sys::sockopt::{self, set};

/// IANA protocol number of VRRP.
const IPPROTO_VRRP: i32 = 112;
/// The VRRP IPv6 multicast group (RFC 5798 §5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Byte offset of the checksum in a VRRP message, for IPV6_CHECKSUM.
const CHECKSUM_OFFSET: i32 = 6;
/// Traffic class CS6 / "internetwork control", as keepalived sets it.
const TCLASS_CS6: i32 = 0xC0;
/// RFC 5798 §5.1.2.3: adverts are sent with hop limit 255 and checked on receipt.
const HOP_LIMIT: i32 = 255;
/// Room for the IPV6_PKTINFO and IPV6_HOPLIMIT control messages, 8-byte aligned for cmsghdr.
type CmsgBuf = [u64; 16];

/// One received advert's length and addressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received6 {
    /// Bytes of the VRRP message at the start of the buffer (no IPv6 header).
    pub len: usize,
    /// The IPv6 source address.
    pub src: Ipv6Addr,
    /// The IPv6 destination address (ff02::12 or one of ours), from IPV6_PKTINFO.
    pub dst: Ipv6Addr,
    /// The hop limit the datagram arrived with, from IPV6_HOPLIMIT.
    pub hop_limit: u8,
}

/// One socket that both sends and receives VRRPv3 on one interface. Multicast loop is off,
/// so it never sees its own adverts, and IPV6_MULTICAST_ALL is off, so it only hears groups
/// it joined itself. In multicast mode it joins ff02::12 and is bound to it, as keepalived's
/// receive socket is, so unicast VRRP is not received. In unicast mode it is unbound and
/// hears any unicast VRRP arriving on the interface (a socket filter keeps multicast out):
/// the caller checks `Received6::dst` against its own addresses.
///
/// The hop limit is 255 for unicast as well as multicast. keepalived leaves unicast at the
/// kernel default (usually 64) unless `unicast_ttl` is set, but it never checks the hop
/// limit of unicast adverts, so 255 is accepted by it and by any stricter RFC peer.
pub struct VrrpSocketV6 {
    fd: OwnedFd,
    ifindex: u32,
}

impl VrrpSocketV6 {
    /// Open for interface `ifindex`/`ifname`; with `multicast`, join ff02::12 on it.
    pub fn open(ifindex: u32, ifname: &str, multicast: bool) -> io::Result<Self> {
        let what =
            |e: io::Error| io::Error::new(e.kind(), format!("VRRPv6 socket on {ifname}: {e}"));
        let index = sockopt::ifindex_i32(ifindex).map_err(what)?;
        let fd = sockopt::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            IPPROTO_VRRP,
        )
        .map_err(what)?;
        sockopt::bind_to_device(&fd, ifname).map_err(what)?;
        let int_options = [
            (libc::IPV6_CHECKSUM, CHECKSUM_OFFSET, "IPV6_CHECKSUM"),
            (libc::IPV6_MULTICAST_IF, index, "IPV6_MULTICAST_IF"),
            (libc::IPV6_MULTICAST_HOPS, HOP_LIMIT, "IPV6_MULTICAST_HOPS"),
            (libc::IPV6_UNICAST_HOPS, HOP_LIMIT, "IPV6_UNICAST_HOPS"),
            (libc::IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP"),
            // Otherwise we would also get groups joined by any other socket on the host.
            (libc::IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL"),
            (libc::IPV6_TCLASS, TCLASS_CS6, "IPV6_TCLASS"),
            (libc::IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"),
            (libc::IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO"),
        ];
        for (name, value, label) in int_options {
            set(&fd, libc::IPPROTO_IPV6, name, &value, label).map_err(what)?;
        }
        if multicast {
            let mreq = libc::ipv6_mreq {
                ipv6mr_multiaddr: in6(VRRP_GROUP_V6),
                ipv6mr_interface: ifindex,
            };
            set(
                &fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_ADD_MEMBERSHIP,
                &mreq,
                "IPV6_ADD_MEMBERSHIP ff02::12",
            )
            .map_err(what)?;
            sockopt::bind(&fd, &sockaddr(VRRP_GROUP_V6, ifindex))
                .map_err(|e| what(io::Error::new(e.kind(), format!("bind ff02::12: {e}"))))?;
        } else {
            drop_multicast(&fd).map_err(what)?;
        }
        Ok(VrrpSocketV6 { fd, ifindex })
    }

    /// Send one VRRP message from `src` (an address on this interface, normally its
    /// link-local one) to `dst`. `payload` is the message only; the kernel prepends the
    /// IPv6 header and overwrites the checksum field. Multicast goes out with MSG_DONTROUTE;
    /// unicast is routed normally.
    pub fn send(&self, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> io::Result<()> {
        let what = |e: io::Error| io::Error::new(e.kind(), format!("VRRP send to {dst}: {e}"));
        let mut name = sockaddr(dst, self.ifindex);
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr().cast_mut().cast(),
            iov_len: payload.len(),
        };
        let info = libc::in6_pktinfo {
            ipi6_addr: in6(src),
            ipi6_ifindex: self.ifindex,
        };
        let mut control: CmsgBuf = [0; 16];
        let mut msg = msghdr(&mut name, &mut iov, &mut control);
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen =
            unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) } as usize;
        // SAFETY: the control buffer is aligned, zeroed and larger than msg_controllen, so
        // the first header and its data are in bounds.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
            (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as usize;
            ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
        }
        let flags = if dst.is_multicast() {
            libc::MSG_DONTROUTE
        } else {
            0
        };
        loop {
            // SAFETY: `msg` and everything it points to are valid for the call.
            let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, flags) };
            if n >= 0 {
                if n as usize != payload.len() {
                    return Err(what(io::Error::new(io::ErrorKind::WriteZero, "short send")));
                }
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(what(e));
            }
        }
    }

    /// Receive one VRRP message (no IPv6 header) into `buf`. `Ok(None)`: nothing pending.
    /// A datagram larger than `buf`, or one without its addressing, is dropped and reported
    /// as `ErrorKind::InvalidData`; the socket is fine, so keep reading until `Ok(None)`.
    /// Datagrams with a bad checksum never get here: the kernel drops them.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received6>> {
        let invalid = |m: String| Err(io::Error::new(io::ErrorKind::InvalidData, m));
        loop {
            // SAFETY: all-zero is a valid sockaddr_in6.
            let mut name: libc::sockaddr_in6 = unsafe { zeroed() };
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut control: CmsgBuf = [0; 16];
            let mut msg = msghdr(&mut name, &mut iov, &mut control);
            // SAFETY: `msg` describes valid writable buffers. MSG_TRUNC makes a raw socket
            // return the datagram's real length.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return Ok(None),
                    _ => return Err(io::Error::new(e.kind(), format!("VRRP recv: {e}"))),
                }
            }
            let len = n as usize;
            if len > buf.len() || msg.msg_flags & libc::MSG_TRUNC != 0 {
                return invalid(format!(
                    "VRRP datagram of {len} bytes truncated to {}",
                    buf.len()
                ));
            }
            if msg.msg_flags & libc::MSG_CTRUNC != 0 {
                return invalid("VRRP datagram with truncated ancillary data".into());
            }
            if (msg.msg_namelen as usize) < size_of::<libc::sockaddr_in6>() {
                return invalid("VRRP datagram without a source address".into());
            }
            let src = Ipv6Addr::from(name.sin6_addr.s6_addr);
            let (dst, hop_limit) = ancillary(&msg);
            let Some(dst) = dst else {
                return invalid(format!("VRRP datagram from {src} without IPV6_PKTINFO"));
            };
            // The kernel always sends IPV6_HOPLIMIT once asked to; should it not, assume
            // 255 rather than drop every advert on the floor.
            let hop_limit = hop_limit.unwrap_or(255);
            return Ok(Some(Received6 {
                len,
                src,
                dst,
                hop_limit,
            }));
        }
    }
}

impl AsRawFd for VrrpSocketV6 {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Attach a classic BPF filter that drops datagrams sent to a multicast address. An unbound
/// raw IPv6 socket receives every multicast the host accepts on the interface, whoever
/// joined the group: IPV6_MULTICAST_ALL only applies to sockets bound to an address (IPv4
/// raw sockets do honour it). This keeps unicast mode as deaf to ff02::12 as keepalived's
/// address-bound unicast socket.
fn drop_multicast(fd: &OwnedFd) -> io::Result<()> {
    // The socket sees the VRRP message; the IPv6 header is reached through SKF_NET_OFF.
    // Byte 24 of it is the first byte of the destination address, 0xff for multicast.
    let mut prog = [
        sockopt::bpf(
            libc::BPF_LD | libc::BPF_B | libc::BPF_ABS,
            0,
            0,
            (libc::SKF_NET_OFF + 24) as u32,
        ),
        sockopt::bpf(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 1, 0, 0xff),
        sockopt::bpf(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX),
        sockopt::bpf(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
    ];
    sockopt::attach_filter(fd, &mut prog)
}

/// A msghdr over `name`, one `iov` and all of `control`. It holds raw pointers to the three:
/// they must outlive every use of the msghdr.
fn msghdr(
    name: &mut libc::sockaddr_in6,
    iov: &mut libc::iovec,
    control: &mut CmsgBuf,
) -> libc::msghdr {
    // SAFETY: a zeroed msghdr is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = ptr::from_mut(name).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<CmsgBuf>();
    msg
}

/// The destination (IPV6_PKTINFO) and hop limit (IPV6_HOPLIMIT) from a received `msg`.
fn ancillary(msg: &libc::msghdr) -> (Option<Ipv6Addr>, Option<u8>) {
    let (mut dst, mut hop_limit) = (None, None);
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR stay within msg_controllen
    // and each header's data is read only when its length covers the type read.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let data_len = c.cmsg_len.saturating_sub(libc::CMSG_LEN(0) as usize);
            let data = libc::CMSG_DATA(cmsg);
            if c.cmsg_level == libc::IPPROTO_IPV6 {
                if c.cmsg_type == libc::IPV6_PKTINFO && data_len >= size_of::<libc::in6_pktinfo>() {
                    let info: libc::in6_pktinfo = ptr::read_unaligned(data.cast());
                    dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                } else if c.cmsg_type == libc::IPV6_HOPLIMIT && data_len >= size_of::<i32>() {
                    let hl: i32 = ptr::read_unaligned(data.cast());
                    hop_limit = u8::try_from(hl).ok();
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    (dst, hop_limit)
}

fn in6(addr: Ipv6Addr) -> libc::in6_addr {
    libc::in6_addr {
        s6_addr: addr.octets(),
    }
}

/// A socket address for `addr`, scoped to `ifindex` when the address needs a scope
/// (link-local unicast, or multicast: we only ever send to link-scope groups).
fn sockaddr(addr: Ipv6Addr, ifindex: u32) -> libc::sockaddr_in6 {
    // SAFETY: all-zero is a valid sockaddr_in6.
    let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr = in6(addr);
    if addr.is_unicast_link_local() || addr.is_multicast() {
        sa.sin6_scope_id = ifindex;
    }
    sa
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_only_where_needed() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let global: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(sockaddr(ll, 7).sin6_scope_id, 7);
        assert_eq!(sockaddr(VRRP_GROUP_V6, 7).sin6_scope_id, 7);
        assert_eq!(sockaddr(global, 7).sin6_scope_id, 0);
        assert_eq!(sockaddr(global, 7).sin6_addr.s6_addr, global.octets());
        assert_eq!(sockaddr(global, 7).sin6_family, libc::AF_INET6 as u16);
    }
}
