//! Scaffolding for OS adapter tests that each run on their own thread inside a fresh, private
//! network namespace (unshare(CLONE_NEWNET)); the namespace vanishes when the thread ends.
//! Commands run from that thread (e.g. `ip`) see the same namespace. Lighter than
//! `tests/common` (no daemon, no named namespaces).
#![allow(dead_code)] // each test crate includes this module and uses a different subset of it

use std::io;
use std::process::Command;
use std::time::Duration;

/// Runs `body` in a fresh network namespace; skipped (with a message) unless we are root.
pub fn in_netns(body: impl FnOnce() + Send + 'static) {
    in_netns_if(true, "skipped: needs root for network namespaces", body);
}

/// Runs `body` in a fresh network namespace if we are root and `ready` holds (e.g. a tool the
/// test needs is installed); otherwise prints `skip` and returns. A panic in `body` fails the
/// calling test.
pub fn in_netns_if(ready: bool, skip: &str, body: impl FnOnce() + Send + 'static) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !ready {
        eprintln!("{skip}");
        return;
    }
    let joined = std::thread::spawn(move || {
        // SAFETY: only this thread's network namespace changes.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            io::Error::last_os_error()
        );
        body();
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `ip` with one argument per word in the calling thread's namespace; panics with its
/// stderr if it fails, returns its stdout.
pub fn ip(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `fd` becomes readable within `timeout`.
pub fn wait_readable(fd: i32, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) == 1 }
}
