//! A timerfd for the event loop's next deadline.
//!
//! `epoll_wait`'s own timeout is in whole milliseconds (mio rounds up) and the kernel adds
//! 0.1 % of it as slack: up to ~1 ms late for a 750 ms sleep, which is most of a takeover's
//! reaction time. A timerfd is an hrtimer without that slack (measured here: 0.1–0.2 ms late
//! instead of 0.8–0.9 ms).
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub struct Timer {
    fd: OwnedFd,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        // SAFETY: plain syscall; the returned fd is owned below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd we own.
        Ok(Timer {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Fires once, `after` from now (a zero delay still fires, at once).
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        // An all-zero it_value would disarm the timer instead.
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: valid fd and pointer to a local itimerspec.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes an expiry so that the next one is reported again.
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer; EAGAIN when nothing expired.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn fires_close_to_the_deadline() {
        let t = Timer::new().expect("timerfd");
        let start = Instant::now();
        t.arm(Duration::from_millis(30)).expect("arm");
        let mut pfd = libc::pollfd {
            fd: t.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 1000) };
        assert_eq!(n, 1);
        let late = start.elapsed().saturating_sub(Duration::from_millis(30));
        assert!(late < Duration::from_millis(20), "late by {late:?}");
        t.drain();
        t.arm(Duration::ZERO).expect("zero still fires");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 1000) }, 1);
    }
}
