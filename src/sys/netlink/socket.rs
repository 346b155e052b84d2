//! A netlink socket (NETLINK_ROUTE for rtnetlink, NETLINK_NETFILTER for nftables): open, send
//! to the kernel, receive one datagram with its sender.
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::sys::sockopt;

/// Receive buffer size: the kernel sizes dump datagrams by our buffer, capped at 32 KiB.
pub(crate) const RECV_BUF: usize = 32 * 1024;

/// What one `recv` produced.
pub(crate) struct Datagram {
    /// Bytes placed in the buffer.
    pub len: usize,
    /// Sender port: 0 is the kernel; anything else is another process and must be ignored.
    pub sender: u32,
    /// The datagram did not fit the buffer and was cut.
    pub truncated: bool,
}

/// An open netlink socket bound to a kernel-chosen port.
pub(crate) struct NlSocket {
    fd: OwnedFd,
    port: u32,
}

impl NlSocket {
    /// Open a `protocol` (e.g. `NETLINK_ROUTE`) socket and bind it, subscribing to multicast
    /// `groups` (0 for none).
    pub fn open(protocol: i32, groups: u32, nonblocking: bool) -> io::Result<NlSocket> {
        let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        if nonblocking {
            ty |= libc::SOCK_NONBLOCK;
        }
        let fd = sockopt::socket(libc::AF_NETLINK, ty, protocol)
            .map_err(|e| ctx(e, "socket(AF_NETLINK)"))?;
        // Acks carry only the echoed header, and errors carry the kernel's text; both optional.
        let one: i32 = 1;
        let _ = sockopt::set(
            &fd,
            libc::SOL_NETLINK,
            libc::NETLINK_CAP_ACK,
            &one,
            "NETLINK_CAP_ACK",
        );
        let _ = sockopt::set(
            &fd,
            libc::SOL_NETLINK,
            libc::NETLINK_EXT_ACK,
            &one,
            "NETLINK_EXT_ACK",
        );
        // SAFETY: all-zero is a valid sockaddr_nl.
        let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sa.nl_groups = groups;
        sockopt::bind(&fd, &sa).map_err(|e| ctx(e, "bind(AF_NETLINK)"))?;
        let mut len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `sa` and `len` are valid out-parameters of the right size.
        let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut sa).cast(), &mut len) };
        if rc < 0 {
            return Err(ctx(io::Error::last_os_error(), "getsockname(AF_NETLINK)"));
        }
        Ok(NlSocket {
            fd,
            port: sa.nl_pid,
        })
    }

    /// Our port id: replies to our requests carry it in `nlmsg_pid`.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Make blocking receives give up (with `WouldBlock`) after `timeout`.
    pub fn set_recv_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        sockopt::set(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv,
            "SO_RCVTIMEO",
        )
    }

    /// Ask for a larger receive buffer: privileged (FORCE) first, then within rmem_max.
    pub fn grow_rcvbuf(&self, bytes: i32) {
        if sockopt::set(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &bytes,
            "SO_RCVBUFFORCE",
        )
        .is_err()
        {
            let _ = sockopt::set(
                &self.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &bytes,
                "SO_RCVBUF",
            );
        }
    }

    /// Send one datagram (possibly many messages) to the kernel.
    pub fn send(&self, data: &[u8]) -> io::Result<()> {
        // SAFETY: all-zero is a valid sockaddr_nl; pid 0 = the kernel.
        let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sockopt::send_to(&self.fd, data, 0, &sa)
    }

    /// Receive one datagram, retrying on EINTR. EAGAIN/ENOBUFS come back as errors.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        self.recv_flags(buf, 0)
    }

    /// Receive the kernel's next reply into `buf` (datagrams from other senders are skipped);
    /// returns its length. `wait` false: only what is already queued. No reply in time (see
    /// [`NlSocket::set_recv_timeout`]) is `TimedOut`, a reply cut by a short `buf` is
    /// `InvalidData`; callers add what they were doing.
    pub fn recv_reply(&self, buf: &mut [u8], wait: bool) -> io::Result<usize> {
        let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
        loop {
            let d = self.recv_flags(buf, flags).map_err(|e| {
                if e.kind() == io::ErrorKind::WouldBlock {
                    io::Error::new(io::ErrorKind::TimedOut, "no reply from the kernel")
                } else {
                    e
                }
            })?;
            if d.sender != 0 {
                continue;
            }
            if d.truncated {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply truncated",
                ));
            }
            return Ok(d.len);
        }
    }

    fn recv_flags(&self, buf: &mut [u8], flags: i32) -> io::Result<Datagram> {
        loop {
            // SAFETY: zeroed sockaddr_nl/msghdr/iovec are valid; pointers below outlive the call.
            let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut msg: libc::msghdr = unsafe { zeroed() };
            msg.msg_name = (&raw mut sa).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            // SAFETY: `msg` describes valid memory for the duration of the call.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, flags) };
            if n >= 0 {
                return Ok(Datagram {
                    len: (n as usize).min(buf.len()),
                    sender: sa.nl_pid,
                    truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
                });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl AsRawFd for NlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A fresh, arbitrary first sequence number: keeps replies to a previous process' socket apart.
pub(crate) fn initial_seq() -> u32 {
    std::process::id().wrapping_mul(0x9E37_79B9)
}

/// Prefix an error with what we were doing, keeping its kind.
pub(super) fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
