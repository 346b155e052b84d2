//! A NETLINK_ROUTE socket: open, send to the kernel, receive one datagram with its sender.
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::sockopt;

/// Receive buffer size: the kernel sizes dump datagrams by our buffer, capped at 32 KiB.
pub(super) const RECV_BUF: usize = 32 * 1024;

/// What one `recv` produced.
pub(super) struct Datagram {
    /// Bytes placed in the buffer.
    pub len: usize,
    /// Sender port: 0 is the kernel; anything else is another process and must be ignored.
    pub sender: u32,
    /// The datagram did not fit the buffer and was cut.
    pub truncated: bool,
}

/// An open rtnetlink socket bound to a kernel-chosen port.
pub(super) struct NlSocket {
    fd: OwnedFd,
    port: u32,
}

impl NlSocket {
    /// Open and bind, subscribing to multicast `groups` (0 for none).
    pub fn open(groups: u32, nonblocking: bool) -> io::Result<NlSocket> {
        let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        if nonblocking {
            ty |= libc::SOCK_NONBLOCK;
        }
        let fd = sockopt::socket(libc::AF_NETLINK, ty, libc::NETLINK_ROUTE)
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

    /// The owned fd, for socket options.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
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
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
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

/// Prefix an error with what we were doing, keeping its kind.
pub(super) fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
