//! Child processes: spawning scripts in their own process group, killing groups, reaping.
//!
//! Nobody waits on a particular child: the event loop reaps every child with
//! `waitpid(-1)` on SIGCHLD (we are PID 1 / a subreaper, so orphaned grandchildren of
//! scripts end up here too) and routes each exit to whoever owns the pid.
use super::host_root::{self, Resolution};
use smallvec::SmallVec;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Normal exit with this status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// A started script.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid, which is also its process group id.
    pub pid: i32,
    /// Read end of its merged stdout+stderr (non-blocking, close-on-exec), when captured.
    pub output: Option<io::PipeReader>,
}

/// Makes orphaned descendants of our children ours, so that we reap them.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Starts `argv` followed by `extra` as a new process group.
///
/// The child inherits our environment, gets stdin from /dev/null, default signal
/// dispositions and an empty signal mask. With `capture`, stdout and stderr go to one pipe
/// whose read end is returned; otherwise to /dev/null. The child is never waited
/// for here: dropping std's `Child` neither waits nor kills.
///
/// A failed exec comes back as an error naming the script and, when it can be
/// told, why (e.g. a missing `#!` interpreter).
pub fn spawn_script(argv: &[String], extra: &[&str], capture: bool) -> io::Result<Spawned> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty script command",
        ));
    };
    super::script_check::refuse_implicit_shell(Path::new(program))?;
    // A script whose interpreter is only in the host root runs there (see host_root).
    let route = match host_root::resolve(program) {
        Resolution::ViaRoot(route) => Some(route),
        Resolution::Native | Resolution::Missing { .. } => None,
    };
    let mut cmd = match &route {
        Some(route) => route.command(program),
        None => Command::new(program),
    };
    cmd.args(args)
        .args(extra)
        .stdin(Stdio::null())
        .process_group(0);
    // std does not clear the signal mask in the child (checked: Rust 1.95, glibc 2.36), and
    // we block SIGTERM/SIGCHLD for the signalfd: a script would then ignore our SIGTERM.
    // SAFETY: runs in the forked child before exec; only async-signal-safe calls.
    unsafe { cmd.pre_exec(reset_signals) };
    let output = if capture {
        // Only the read end is non-blocking: a script writing a lot must block, not fail.
        let (reader, writer) = io::pipe()?;
        set_nonblocking(&reader)?;
        cmd.stderr(writer.try_clone()?).stdout(writer);
        Some(reader)
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        None
    };
    let child = cmd.spawn().map_err(|e| match &route {
        Some(route) => route.exec_error(program, e),
        None => exec_error(program, e),
    })?;
    // `cmd` still holds our copies of the pipe's write end: close them now, or the
    // reader would never see end-of-file. The child has its own copy of the script.
    drop(cmd);
    drop(route);
    let pid = i32::try_from(child.id())
        .map_err(|_| io::Error::other(format!("{program}: pid out of range")))?;
    Ok(Spawned { pid, output })
}

/// Sends `sig` to the process group `pgid`; a group that is already gone is fine.
/// `pgid` values below 2 are refused (silently ignored): `kill(-1)` would signal every process.
pub fn kill_group(pgid: i32, sig: libc::c_int) {
    if pgid <= 1 {
        return;
    }
    // SAFETY: plain syscall; the only failure that matters (ESRCH) is expected.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Reaps every child that has ended, without blocking.
pub fn reap() -> SmallVec<[(i32, Exit); 4]> {
    let mut out = SmallVec::new();
    loop {
        let mut status = 0;
        // SAFETY: valid pointer to a local int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            out.push((pid, decode_status(status)));
        } else if pid < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        } else {
            // 0: children left but none ended; -1/ECHILD: no children at all.
            return out;
        }
    }
}

/// In the child: default dispositions (an inherited SIG_IGN survives exec) and an empty mask.
fn reset_signals() -> io::Result<()> {
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: signal() is async-signal-safe; failures (invalid numbers) do not matter.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    // SAFETY: sigset_t is plain data, initialised by sigemptyset; sigprocmask is
    // async-signal-safe and the child has a single thread.
    unsafe {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        if libc::sigprocmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn decode_status(status: libc::c_int) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `"<script>: cannot execute: <reason>[ (<hint>)]"`, keeping the error kind.
fn exec_error(program: &str, err: io::Error) -> io::Error {
    let reason = error_text(&err);
    let hint = match err.raw_os_error() {
        Some(libc::ENOENT) => missing_interpreter_hint(Path::new(program)),
        Some(libc::ENOEXEC) => Some("no #! line?".to_string()),
        _ => None,
    };
    let msg = match hint {
        Some(h) => format!("{program}: cannot execute: {reason} ({h})"),
        None => format!("{program}: cannot execute: {reason}"),
    };
    io::Error::new(err.kind(), msg)
}

/// The error's text without std's " (os error N)" suffix, for one-line log messages.
pub fn error_text(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => {
            let suffix = format!(" (os error {code})");
            text.strip_suffix(&suffix).unwrap_or(&text).to_string()
        }
        None => text,
    }
}

/// ENOENT for a file that exists means its interpreter (`#!` or ELF loader) is missing.
fn missing_interpreter_hint(program: &Path) -> Option<String> {
    let mut head = [0u8; 256];
    let n = File::open(program).ok()?.read(&mut head).ok()?;
    let head = &head[..n];
    if head.starts_with(b"\x7fELF") {
        return Some("missing dynamic loader?".to_string());
    }
    let interp = shebang_interpreter(head)?;
    if Path::new(&interp).exists() {
        None
    } else {
        Some(format!("missing interpreter {interp}?"))
    }
}

/// The interpreter path of a `#!` line, if the file starts with one.
pub(super) fn shebang_interpreter(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    let line = String::from_utf8_lossy(line);
    line.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_parsing() {
        assert_eq!(
            shebang_interpreter(b"#!/bin/bash\necho"),
            Some("/bin/bash".into())
        );
        assert_eq!(
            shebang_interpreter(b"#! /bin/sh -e\n"),
            Some("/bin/sh".into())
        );
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env python3"),
            Some("/usr/bin/env".into())
        );
        assert_eq!(shebang_interpreter(b"echo hi\n"), None);
        assert_eq!(shebang_interpreter(b"#!\n"), None);
    }

    #[test]
    fn status_decoding() {
        // Linux encoding: exit code in bits 8..15, terminating signal in bits 0..6.
        assert_eq!(decode_status(3 << 8), Exit::Code(3));
        assert_eq!(decode_status(0), Exit::Code(0));
        assert_eq!(decode_status(libc::SIGKILL), Exit::Signal(libc::SIGKILL));
        assert_eq!(Exit::Code(2).to_string(), "exited with status 2");
        assert_eq!(Exit::Signal(15).to_string(), "killed by signal 15");
    }

    #[test]
    fn exec_error_message() {
        let e = exec_error("/x/check.sh", io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(
            e.to_string(),
            "/x/check.sh: cannot execute: Permission denied"
        );
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        // A missing file gets no hint (nothing to read).
        let e = exec_error(
            "/nonexistent/check.sh",
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(
            e.to_string(),
            "/nonexistent/check.sh: cannot execute: No such file or directory"
        );
    }

    #[test]
    fn empty_argv_is_an_error() {
        assert!(spawn_script(&[], &[], false).is_err());
    }

    #[test]
    fn kill_group_refuses_low_pgids() {
        // Would signal every process we may signal (or our own group); must be a no-op.
        kill_group(1, 0);
        kill_group(0, 0);
        kill_group(-5, 0);
    }
}
