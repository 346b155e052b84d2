//! Thin typed wrappers over the socket syscalls shared by the raw-socket adapters.
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `socket(2)`, owned so it closes on drop. Callers pass SOCK_CLOEXEC (and SOCK_NONBLOCK) in `ty`.
pub(crate) fn socket(domain: i32, ty: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; a non-negative return is a fresh fd we now own.
    let fd = unsafe { libc::socket(domain, ty, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is valid and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(2)` with a value of any plain type; `what` names the option in the error.
pub(crate) fn set<T>(fd: &OwnedFd, level: i32, name: i32, value: &T, what: &str) -> io::Result<()> {
    // SAFETY: `value` points to `size_of::<T>()` readable bytes for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setsockopt {what}: {e}")));
    }
    Ok(())
}

/// `bind(2)` to a sockaddr of type `T`.
pub(crate) fn bind<T>(fd: &OwnedFd, addr: &T) -> io::Result<()> {
    // SAFETY: `addr` is a valid sockaddr_* of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (addr as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `sendto(2)` the whole of `data`, retrying on EINTR; a short send is an error.
pub(crate) fn send_to<T>(fd: &OwnedFd, data: &[u8], flags: i32, addr: &T) -> io::Result<()> {
    loop {
        // SAFETY: `data` and `addr` are valid for the sizes passed.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                flags,
                (addr as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if n >= 0 {
            if n as usize != data.len() {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
            }
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// SO_BINDTODEVICE to interface `name`: traffic only to and from that interface.
pub(crate) fn bind_to_device(fd: &OwnedFd, name: &str) -> io::Result<()> {
    let mut ifname = [0u8; libc::IFNAMSIZ];
    // The kernel wants a NUL-terminated name of at most IFNAMSIZ - 1 bytes.
    if name.is_empty() || name.len() >= ifname.len() || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    ifname[..name.len()].copy_from_slice(name.as_bytes());
    set(
        fd,
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        &ifname,
        "SO_BINDTODEVICE",
    )
}

/// An interface index as the kernel's `int` (sockaddr_ll, ip_mreqn, IPV6_MULTICAST_IF).
pub(crate) fn ifindex_i32(ifindex: u32) -> io::Result<i32> {
    i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))
}

/// One classic BPF instruction.
pub(crate) const fn bpf(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// SO_ATTACH_FILTER: run the classic BPF program `prog` on every packet the socket would
/// queue (it returns how many bytes to keep, 0 = drop).
pub(crate) fn attach_filter(fd: &OwnedFd, prog: &mut [libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?,
        filter: prog.as_mut_ptr(),
    };
    set(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &fprog,
        "SO_ATTACH_FILTER",
    )
}
