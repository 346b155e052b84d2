//! Raw IPv4 protocol-112 socket for one interface: sends caller-built datagrams (IP_HDRINCL)
//! and receives whole datagrams, header included.
use std::io;
use std::mem::zeroed;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::sockopt::{self, set};

/// IANA protocol number of VRRP.
const IPPROTO_VRRP: i32 = 112;
/// The VRRP IPv4 multicast group (RFC 3768 §5.2.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// DSCP CS6 / "internetwork control", as keepalived sets it.
const TOS_INTERNETWORK_CONTROL: i32 = 0xC0;

/// One socket that both sends and receives VRRP on one interface. Multicast loop is off, so
/// it never sees its own adverts. In multicast mode it is bound to 224.0.0.18, as keepalived's
/// receive socket is, so unicast VRRP is not received (the kernel still picks the source
/// route normally for sending, since a multicast bind leaves the socket's source unset).
/// In unicast mode it is unbound: the caller checks the destination in the IP header.
pub struct VrrpSocketV4 {
    fd: OwnedFd,
}

impl VrrpSocketV4 {
    /// Open for interface `ifindex`/`ifname`; with `multicast`, join 224.0.0.18 on it.
    pub fn open(ifindex: u32, ifname: &str, multicast: bool) -> io::Result<Self> {
        let what = |e: io::Error| io::Error::new(e.kind(), format!("VRRP socket on {ifname}: {e}"));
        let fd = sockopt::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            IPPROTO_VRRP,
        )
        .map_err(what)?;
        let ifindex = sockopt::ifindex_i32(ifindex).map_err(what)?;
        let (one, zero) = (1i32, 0i32);
        let ip = libc::IPPROTO_IP;
        set(&fd, ip, libc::IP_HDRINCL, &one, "IP_HDRINCL").map_err(what)?;
        sockopt::bind_to_device(&fd, ifname).map_err(what)?;
        let mreq = |group: Ipv4Addr| libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from(group).to_be(),
            },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: ifindex,
        };
        set(
            &fd,
            ip,
            libc::IP_MULTICAST_IF,
            &mreq(Ipv4Addr::UNSPECIFIED),
            "IP_MULTICAST_IF",
        )
        .map_err(what)?;
        set(&fd, ip, libc::IP_MULTICAST_LOOP, &zero, "IP_MULTICAST_LOOP").map_err(what)?;
        // Otherwise we would also get groups joined by any other socket on the host.
        set(&fd, ip, libc::IP_MULTICAST_ALL, &zero, "IP_MULTICAST_ALL").map_err(what)?;
        set(&fd, ip, libc::IP_TOS, &TOS_INTERNETWORK_CONTROL, "IP_TOS").map_err(what)?;
        if multicast {
            set(
                &fd,
                ip,
                libc::IP_ADD_MEMBERSHIP,
                &mreq(VRRP_GROUP_V4),
                "IP_ADD_MEMBERSHIP 224.0.0.18",
            )
            .map_err(what)?;
            // SAFETY: all-zero is a valid sockaddr_in.
            let mut sa: libc::sockaddr_in = unsafe { zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(VRRP_GROUP_V4).to_be();
            sockopt::bind(&fd, &sa)
                .map_err(|e| what(io::Error::new(e.kind(), format!("bind 224.0.0.18: {e}"))))?;
        }
        Ok(VrrpSocketV4 { fd })
    }

    /// Send a complete IP datagram (header built by the caller) to `dst`. Multicast goes out
    /// with MSG_DONTROUTE; unicast is routed normally.
    pub fn send(&self, dst: Ipv4Addr, packet: &[u8]) -> io::Result<()> {
        // SAFETY: all-zero is a valid sockaddr_in.
        let mut sa: libc::sockaddr_in = unsafe { zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from(dst).to_be();
        let flags = if dst.is_multicast() {
            libc::MSG_DONTROUTE
        } else {
            0
        };
        sockopt::send_to(&self.fd, packet, flags, &sa)
            .map_err(|e| io::Error::new(e.kind(), format!("VRRP send to {dst}: {e}")))
    }

    /// Receive one datagram (IP header included) into `buf`. `Ok(None)`: nothing pending.
    /// A datagram larger than `buf` is dropped and reported as `ErrorKind::InvalidData`; the
    /// socket is fine, so keep reading until `Ok(None)`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: `buf` is valid for writes of its length. MSG_TRUNC makes a raw socket
            // return the datagram's real length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n >= 0 {
                let n = n as usize;
                if n > buf.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("VRRP datagram of {n} bytes truncated to {}", buf.len()),
                    ));
                }
                return Ok(Some(n));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(io::Error::new(e.kind(), format!("VRRP recv: {e}"))),
            }
        }
    }
}

impl AsRawFd for VrrpSocketV4 {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
