//! Scripts whose interpreter is missing in our root run through a host root (chroot), with
//! the real kernel: a fake host root holding a static busybox stands in for the host's `/`.
//!
//! The interpreter lives at `/opt/fakehost/sh`, a path this machine does not have, so the
//! scenario is real even though the test host has a `/bin/sh`. Each test that spawns holds
//! `LOCK`: the script root is process-wide.
use ipfailover::config::settings::ScriptRoot;
use ipfailover::sys::host_root::{self, Resolution};
use ipfailover::sys::process::{self, Exit};
use std::ffi::CString;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Debian's busybox-static (installed by scripts/test).
const BUSYBOX: &str = "/bin/busybox";
const FAKE_INTERP: &str = "/opt/fakehost/sh";

/// A temp dir with a fake host root in `root/` and scripts next to it; removed on drop
/// (only after the thread that bind-mounted /proc into it has ended).
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    /// `None` (test skipped, reason printed) when busybox-static is not installed.
    fn new(tag: &str) -> Option<Fixture> {
        if !Path::new(BUSYBOX).exists() {
            eprintln!("SKIP: {BUSYBOX} missing (apt-get install busybox-static)");
            return None;
        }
        assert!(
            !Path::new(FAKE_INTERP).exists(),
            "{FAKE_INTERP} exists on this host"
        );
        let dir =
            std::env::temp_dir().join(format!("ipf-hostroot-it-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("root");
        for d in ["bin", "opt/fakehost", "dev", "proc"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
        // Absolute symlinks must resolve inside the root, as the chroot will.
        symlink("/bin/busybox", root.join("opt/fakehost/sh")).expect("symlink");
        symlink("/proc/self/fd", root.join("dev/fd")).expect("symlink");
        Some(Fixture { dir })
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// An executable script outside the root (as a ConfigMap mount would be).
    fn script(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        fs::write(&path, text).expect("write script");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        path.to_str().expect("utf-8 temp path").to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs `body` on a thread with a private mount namespace in which the host's /proc is
/// bind-mounted at `<root>/proc` (a real host root has its own); nothing leaks out.
fn with_proc_in<T: Send>(root: &Path, body: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare/mount with valid NUL-terminated strings; affects this thread
            // (and children it forks) only.
            unsafe {
                assert_eq!(
                    libc::unshare(libc::CLONE_NEWNS),
                    0,
                    "unshare: {}",
                    std::io::Error::last_os_error()
                );
                let slash = c"/";
                let rc = libc::mount(
                    std::ptr::null(),
                    slash.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                );
                assert_eq!(rc, 0, "make / private: {}", std::io::Error::last_os_error());
                let target = CString::new(root.join("proc").as_os_str().as_bytes()).expect("path");
                let rc = libc::mount(
                    c"/proc".as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                );
                assert_eq!(rc, 0, "bind /proc: {}", std::io::Error::last_os_error());
            }
            body()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Runs the script with `args`, returns how it ended and its output.
fn run(argv: &[String], args: &[&str]) -> std::io::Result<(Exit, String)> {
    let spawned = process::spawn_script(argv, args, true)?;
    let mut reader = spawned.output.expect("captured output");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut buf = [0u8; 512];
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "script did not finish");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    let pid = unsafe { libc::waitpid(spawned.pid, &mut status, 0) };
    assert_eq!(pid, spawned.pid);
    let exit = if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    };
    Ok((exit, String::from_utf8_lossy(&out).into_owned()))
}

const PROOF_SCRIPT: &str = "#!/opt/fakehost/sh\n\
    # runs in the fake root: busybox is at /bin/busybox there\n\
    [ -x /bin/busybox ] && echo in-root\n\
    echo \"script=$0 cwd=$(pwd) args=$*\"\n\
    exit \"$1\"\n";

#[test]
fn script_runs_with_the_host_roots_interpreter() {
    let _g = lock();
    let Some(fx) = Fixture::new("run") else {
        return;
    };
    let script = fx.script("check.sh", PROOF_SCRIPT);
    let root = fx.root();
    host_root::configure(ScriptRoot::At(root.to_str().expect("utf-8").to_string()));
    let argv = vec![script.clone()];
    let (ok, failed) = with_proc_in(&root, || (run(&argv, &["0"]), run(&argv, &["3", "x y"])));
    let (exit, out) = ok.expect("spawn through the host root");
    assert_eq!(exit, Exit::Code(0), "{out}");
    assert!(out.starts_with("in-root\nscript=/dev/fd/"), "{out}");
    assert!(out.contains(" cwd=/ args=0\n"), "{out}");
    let (exit, out) = failed.expect("spawn through the host root");
    assert_eq!(exit, Exit::Code(3), "{out}");
    assert!(out.contains(" args=3 x y\n"), "{out}");
    host_root::configure(ScriptRoot::Default);
}

#[test]
fn root_without_proc_fails_with_a_reason() {
    let _g = lock();
    let Some(fx) = Fixture::new("noproc") else {
        return;
    };
    let script = fx.script("check.sh", PROOF_SCRIPT);
    host_root::configure(ScriptRoot::At(
        fx.root().to_str().expect("utf-8").to_string(),
    ));
    // No /proc mounted in the root: /dev/fd/N cannot resolve there.
    let err = run(std::slice::from_ref(&script), &["0"]).expect_err("no /proc in the root");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{script}: cannot execute with ")),
        "{msg}"
    );
    assert!(msg.ends_with("needs /proc and /dev/fd)"), "{msg}");
    host_root::configure(ScriptRoot::Default);
}

#[test]
fn fallback_can_be_turned_off() {
    let _g = lock();
    let Some(fx) = Fixture::new("off") else {
        return;
    };
    let script = fx.script("check.sh", PROOF_SCRIPT);
    host_root::configure(ScriptRoot::Off);
    let err = with_proc_in(&fx.root(), || run(std::slice::from_ref(&script), &["0"]))
        .expect_err("fallback is off");
    assert_eq!(
        err.to_string(),
        format!(
            "{script}: cannot execute: No such file or directory (missing interpreter {FAKE_INTERP}?)"
        )
    );
    host_root::configure(ScriptRoot::Default);
}

#[test]
fn missing_interpreter_is_explained() {
    let Some(fx) = Fixture::new("missing") else {
        return;
    };
    let script = fx.script("check.sh", "#!/opt/nowhere/bash\nexit 0\n");
    let root = fx.root();
    let root = root.to_str().expect("utf-8");
    let r = host_root::resolve_in(Path::new(&script), &[root]);
    assert!(matches!(r, Resolution::Missing { .. }), "{r:?}");
    let line = host_root::describe(&script, &r).expect("a line");
    assert_eq!(
        line,
        format!(
            "{script}: cannot run: interpreter /opt/nowhere/bash is not in this image nor under {root}; \
             the script fails until you mount the host's / read-only at /host (or name the mount in \
             OPENSHIFT_HA_SCRIPT_ROOT), make it a static binary, or use the built-in check \
             (OPENSHIFT_HA_MONITOR_PORT)"
        )
    );
}
