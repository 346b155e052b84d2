//! Signals as readable events: block them and read them from a `signalfd`.
//!
//! The event loop polls the fd like any socket, so a signal never interrupts the
//! protocol code and needs no async-signal-safe handler.
//!
//! Children must start with an empty signal mask, or a script would ignore SIGTERM
//! from our own timeout. `std::process::Command` (used by [`super::process`]) clears
//! the mask in the child before exec; `tests/process.rs` checks this.
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A non-blocking, close-on-exec `signalfd` for a set of blocked signals.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` in the calling thread and opens a signalfd for them.
    ///
    /// Call it in the main thread before any other thread is started: threads inherit
    /// the mask, and a process-directed signal is delivered to any thread that does
    /// not block it (where the default action would apply instead).
    pub fn new(signals: &[libc::c_int]) -> io::Result<Self> {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before any use.
        let mut set = unsafe {
            let mut set = MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(set.as_mut_ptr());
            set.assume_init()
        };
        for &sig in signals {
            // SAFETY: `set` is a valid, initialised sigset_t.
            if unsafe { libc::sigaddset(&mut set, sig) } != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid signal number {sig}"),
                ));
            }
        }
        // SAFETY: valid set pointer; a null old-set pointer is allowed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: -1 asks for a new fd; `set` is valid.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(SignalFd { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Takes one pending signal; `None` when none is pending.
    /// The fd is edge-triggered in mio: call this until it returns `None`.
    pub fn read(&self) -> io::Result<Option<libc::c_int>> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = size_of::<libc::signalfd_siginfo>();
        loop {
            // SAFETY: the buffer is exactly one signalfd_siginfo long.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => return Ok(None),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(err),
                }
            }
            if n as usize != size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("signalfd: short read of {n} bytes"),
                ));
            }
            // SAFETY: the kernel filled the whole struct (checked above).
            let info = unsafe { info.assume_init() };
            // ssi_signo is a small positive signal number; the cast cannot truncate.
            return Ok(Some(info.ssi_signo as libc::c_int));
        }
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_blocked_thread_signal_once() {
        // Runs on its own thread: the mask is per thread, and raise() targets this thread only.
        std::thread::spawn(|| {
            let fd = SignalFd::new(&[libc::SIGUSR1, libc::SIGUSR2]).expect("signalfd");
            assert_eq!(fd.read().expect("read"), None);
            // SAFETY: SIGUSR1 is blocked in this thread, so it stays pending.
            assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
            assert_eq!(fd.read().expect("read"), Some(libc::SIGUSR1));
            assert_eq!(fd.read().expect("read"), None);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn rejects_bad_signal_number() {
        std::thread::spawn(|| {
            assert!(SignalFd::new(&[100_000]).is_err());
        })
        .join()
        .expect("thread");
    }
}
