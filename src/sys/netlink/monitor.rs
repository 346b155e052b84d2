//! Link and address change notifications, read from a non-blocking socket in the event loop.
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use super::message::{self as m, AddrInfo, Link};
use super::socket::{NlSocket, RECV_BUF};

/// Kernel-side queue for notifications: generous, so that bursts (many VIPs) do not overflow.
const MONITOR_RCVBUF: i32 = 4 * 1024 * 1024;

/// One change reported by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link appeared or changed (flags, name, MAC...). A removed link (RTM_DELLINK) is
    /// reported here too, with `up` and `running` false, since for VRRP it is simply down.
    Link(Link),
    /// An address was added (or its flags changed, e.g. IPv6 DAD finished).
    AddrAdded(AddrInfo),
    /// An address was removed.
    AddrRemoved(AddrInfo),
}

/// A non-blocking rtnetlink socket subscribed to link and IPv4/IPv6 address groups.
pub struct Monitor {
    sock: NlSocket,
    buf: Vec<u8>,
}

/// True if `e` (from [`Monitor::read_events`]) means notifications were lost: the caller must
/// resynchronise with fresh dumps (`Rtnl::links`, `Rtnl::addresses`).
pub fn is_overflow(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOBUFS)
}

impl Monitor {
    /// Open and subscribe (RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR).
    pub fn open() -> io::Result<Monitor> {
        let groups =
            (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        let sock = NlSocket::open(libc::NETLINK_ROUTE, groups, true)?;
        sock.grow_rcvbuf(MONITOR_RCVBUF);
        Ok(Monitor {
            sock,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Append every pending event to `out`, reading until EAGAIN (so edge-triggered polling
    /// is safe). If notifications were lost (ENOBUFS, or a cut datagram) the socket is still
    /// drained, the events that did arrive are in `out`, and an error with raw errno ENOBUFS
    /// is returned: see [`is_overflow`]. Other errors are returned as they happen.
    pub fn read_events(&mut self, out: &mut Vec<NetEvent>) -> io::Result<()> {
        let mut overflow = false;
        loop {
            let d = match self.sock.recv(&mut self.buf) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if is_overflow(&e) => {
                    overflow = true;
                    continue;
                }
                Err(e) => return Err(io::Error::new(e.kind(), format!("netlink monitor: {e}"))),
            };
            if d.truncated {
                overflow = true;
                continue;
            }
            if d.sender != 0 {
                continue; // only the kernel speaks for the network state
            }
            // A malformed tail ends this datagram; what parsed before it is still good.
            for msg in m::messages(&self.buf[..d.len]).map_while(Result::ok) {
                let event = match msg.kind {
                    m::RTM_NEWLINK => m::parse_link(msg.payload).map(NetEvent::Link),
                    m::RTM_DELLINK => m::parse_link(msg.payload).map(|l| {
                        NetEvent::Link(Link {
                            up: false,
                            running: false,
                            ..l
                        })
                    }),
                    m::RTM_NEWADDR => m::parse_addr(msg.payload).map(NetEvent::AddrAdded),
                    m::RTM_DELADDR => m::parse_addr(msg.payload).map(NetEvent::AddrRemoved),
                    _ => None,
                };
                out.extend(event);
            }
        }
        if overflow {
            return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
        }
        Ok(())
    }
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
