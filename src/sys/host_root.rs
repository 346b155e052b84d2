//! Scripts in a scratch image. Today's users mount `#!/bin/bash` scripts, and our image has
//! no bash. When a script's `#!` interpreter is missing here but present under the host's
//! root filesystem (the documented Deployment mounts it read-only at `/host`; the docs also
//! say `/hosts`), the script runs with the host's interpreter in a chroot to that root.
//!
//! The script is opened here first and executed as `/dev/fd/N`: its path in the image (a
//! ConfigMap mount) does not exist under the host root, its open descriptor does. The
//! kernel then runs the `#!` line itself, inside the chroot, exactly as for a direct exec.
//! `/dev/fd/N` needs `/dev/fd` and `/proc` in that root, which a real host root has.
use super::process::shebang_interpreter;
use crate::config::settings::{SCRIPT_ROOT, ScriptRoot};
use crate::log;
use std::ffi::{CString, OsString};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Symlinks followed at most while looking inside a root, as the kernel's limit.
const MAX_SYMLINKS: usize = 40;

/// How a script is to be started.
#[derive(Debug)]
pub enum Resolution {
    /// As is: not a `#!` script, its interpreter is here, or it cannot be read (the exec
    /// itself then says why).
    Native,
    /// Through a host root that has the interpreter.
    ViaRoot(Route),
    /// The interpreter is neither here nor under any root tried.
    Missing {
        /// The `#!` interpreter path.
        interpreter: String,
        /// The roots tried, in order (empty when the fallback is off).
        looked: Vec<String>,
    },
}

/// A script that runs in a chroot to a host root, holding the script open until it started.
#[derive(Debug)]
pub struct Route {
    root: String,
    root_c: CString,
    interpreter: String,
    script: File,
}

impl Route {
    /// The host root the script runs in.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// A command that runs the script as `/dev/fd/N` in the chroot, with `program` as its
    /// argv[0]; the caller adds arguments, stdio and the rest as for a direct exec.
    pub fn command(&self, program: &str) -> Command {
        let fd = self.script.as_raw_fd();
        let mut cmd = Command::new(format!("/dev/fd/{fd}"));
        cmd.arg0(program);
        let root = self.root_c.clone();
        // SAFETY: runs in the forked child before exec; chroot, chdir and fcntl are
        // async-signal-safe and `root` was allocated before the fork.
        unsafe { cmd.pre_exec(move || enter(&root, fd)) };
        cmd
    }

    /// `"<script>: cannot execute with <root><interp> in a chroot to <root>: <reason>[ (<hint>)]"`.
    pub fn exec_error(&self, program: &str, err: io::Error) -> io::Error {
        let reason = super::process::error_text(&err);
        let hint = match err.raw_os_error() {
            Some(libc::EPERM) => Some("chroot needs the SYS_CHROOT capability".to_string()),
            Some(libc::ENOENT) => Some(format!("{} needs /proc and /dev/fd", self.root)),
            _ => None,
        };
        let what = format!(
            "{program}: cannot execute with {}{} in a chroot to {}: {reason}",
            self.root, self.interpreter, self.root
        );
        match hint {
            Some(h) => io::Error::new(err.kind(), format!("{what} ({h})")),
            None => io::Error::new(err.kind(), what),
        }
    }
}

/// In the child: into the root, and let the script's descriptor survive exec.
fn enter(root: &CString, fd: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscalls on a NUL-terminated path and a descriptor we hold open.
    unsafe {
        if libc::chroot(root.as_ptr()) != 0
            || libc::chdir(c"/".as_ptr()) != 0
            || libc::fcntl(fd, libc::F_SETFD, 0) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `OPENSHIFT_HA_SCRIPT_ROOT` as set by [`configure`]; `None` = read the environment.
static CONFIG: Mutex<Option<ScriptRoot>> = Mutex::new(None);
/// Scripts already reported in the log (each is reported once).
static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sets where to look, instead of reading `OPENSHIFT_HA_SCRIPT_ROOT` from the environment.
pub fn configure(root: ScriptRoot) {
    *CONFIG.lock().unwrap_or_else(|e| e.into_inner()) = Some(root);
}

fn configured() -> ScriptRoot {
    let mut config = CONFIG.lock().unwrap_or_else(|e| e.into_inner());
    config
        .get_or_insert_with(|| {
            // Settings already rejected a bad value at start-up (exit 2).
            let value = std::env::var(SCRIPT_ROOT).ok();
            let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
            ScriptRoot::parse(value).unwrap_or(ScriptRoot::Default)
        })
        .clone()
}

/// How `program` starts with the configured roots; the first time a script needs a host
/// root, or cannot run at all, one line says so. Called for every spawn and, by the
/// daemon at start-up, for each configured script.
pub fn resolve(program: &str) -> Resolution {
    let root = configured();
    let resolution = resolve_in(Path::new(program), &root.candidates());
    if let Some(line) = describe(program, &resolution) {
        let mut reported = REPORTED.lock().unwrap_or_else(|e| e.into_inner());
        if !reported.iter().any(|p| p == program) {
            reported.push(program.to_string());
            log::line(&line);
        }
    }
    resolution
}

/// How `program` starts when `roots` are tried in order (no logging).
pub fn resolve_in(program: &Path, roots: &[&str]) -> Resolution {
    let Ok(mut script) = File::open(program) else {
        return Resolution::Native;
    };
    let mut head = [0u8; 256];
    let Ok(n) = script.read(&mut head) else {
        return Resolution::Native;
    };
    let Some(interpreter) = shebang_interpreter(&head[..n]) else {
        return Resolution::Native;
    };
    if !interpreter.starts_with('/') || Path::new(&interpreter).exists() {
        return Resolution::Native;
    }
    for root in roots {
        let found = find_in_root(Path::new(root), &interpreter);
        if !found.is_some_and(|p| is_executable(&p)) {
            continue;
        }
        // Stdio setup in the child overwrites 0..2: keep the script above them.
        if script.as_raw_fd() < 3 {
            match script.try_clone() {
                Ok(moved) => script = moved,
                Err(_) => return Resolution::Native,
            }
        }
        let Ok(root_c) = CString::new(root.as_bytes()) else {
            continue;
        };
        return Resolution::ViaRoot(Route {
            root: root.to_string(),
            root_c,
            interpreter,
            script,
        });
    }
    Resolution::Missing {
        interpreter,
        looked: roots.iter().map(|r| r.to_string()).collect(),
    }
}

/// The one log line for a script that needs a host root or cannot run; `None` otherwise.
pub fn describe(program: &str, resolution: &Resolution) -> Option<String> {
    match resolution {
        Resolution::Native => None,
        Resolution::ViaRoot(r) => Some(format!(
            "{program}: interpreter {interp} is not in this image: running the script with \
             {root}{interp} in a chroot to {root} ({SCRIPT_ROOT}=none turns this off)",
            interp = r.interpreter,
            root = r.root,
        )),
        Resolution::Missing {
            interpreter,
            looked,
        } => {
            let where_ = if looked.is_empty() {
                format!("and the host-root fallback is off ({SCRIPT_ROOT}=none)")
            } else {
                format!("nor under {}", looked.join(" or "))
            };
            Some(format!(
                "{program}: cannot run: interpreter {interpreter} is not in this image {where_}; \
                 the script fails until you mount the host's / read-only at /host (or name the \
                 mount in {SCRIPT_ROOT}), make it a static binary, or use the built-in check \
                 (OPENSHIFT_HA_MONITOR_PORT)"
            ))
        }
    }
}

/// `path` looked up as if `root` were `/`: symlinks, absolute ones too, never lead out.
fn find_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    // Components still to walk, last first; `cur` is the part resolved so far.
    let mut todo: Vec<OsString> = Vec::new();
    push_components(&mut todo, Path::new(path));
    let mut cur = PathBuf::new();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&part);
        let full = root.join(&next);
        if fs::symlink_metadata(&full).ok()?.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_SYMLINKS {
                return None;
            }
            let target = fs::read_link(&full).ok()?;
            if target.is_absolute() {
                cur = PathBuf::new();
            }
            push_components(&mut todo, &target);
        } else {
            cur = next;
        }
    }
    Some(root.join(cur))
}

/// Pushes `path`'s components so that the first is popped first; `.` and `/` are dropped.
fn push_components(todo: &mut Vec<OsString>, path: &Path) {
    for c in path.components().rev() {
        match c {
            Component::Normal(n) => todo.push(n.to_os_string()),
            Component::ParentDir => todo.push(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A scratch directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("ipf-hostroot-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn executable(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let t = TempDir::new("links");
        let root = t.0.join("root");
        executable(&root.join("usr/bin/bash"), "");
        fs::create_dir_all(root.join("etc/alternatives")).expect("mkdir");
        // Fedora-style relative /bin, Debian-style absolute alternatives chain.
        symlink("usr/bin", root.join("bin")).expect("symlink");
        symlink("/usr/bin/bash", root.join("etc/alternatives/sh")).expect("symlink");
        symlink("/etc/alternatives/sh", root.join("usr/bin/sh")).expect("symlink");
        symlink("../../../../../usr/bin/bash", root.join("usr/bin/up")).expect("symlink");
        let want = Some(root.join("usr/bin/bash"));
        assert_eq!(find_in_root(&root, "/bin/bash"), want);
        assert_eq!(find_in_root(&root, "/bin/sh"), want);
        assert_eq!(find_in_root(&root, "/bin/up"), want);
        assert_eq!(find_in_root(&root, "/bin/./../bin/sh"), want);
        assert_eq!(find_in_root(&root, "/bin/zsh"), None);
        symlink("loop", root.join("loop")).expect("symlink");
        assert_eq!(find_in_root(&root, "/loop"), None);
    }

    #[test]
    fn resolution() {
        let t = TempDir::new("resolve");
        let root = t.0.join("root");
        let root_s = root.to_str().expect("utf-8 temp path");
        executable(&root.join("opt/only-there/bash"), "");
        let script = t.0.join("check.sh");

        executable(&script, "#!/opt/only-there/bash\nexit 0\n");
        let r = resolve_in(&script, &["/nonexistent-root", root_s]);
        let Resolution::ViaRoot(route) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(route.root(), root_s);
        let line = describe("/etc/keepalive/check.sh", &r).expect("a line");
        assert!(
            line.contains(&format!(
                "{root_s}/opt/only-there/bash in a chroot to {root_s}"
            )),
            "{line}"
        );

        // Our own interpreter wins; non-scripts and unreadable files exec directly.
        executable(&script, "#!/bin/sh\nexit 0\n");
        assert!(matches!(resolve_in(&script, &[root_s]), Resolution::Native));
        executable(&script, "\x7fELF");
        assert!(matches!(resolve_in(&script, &[root_s]), Resolution::Native));
        assert!(matches!(
            resolve_in(Path::new("/nonexistent/x"), &[root_s]),
            Resolution::Native
        ));

        executable(&script, "#!/opt/nowhere/bash -e\n");
        let r = resolve_in(&script, &["/host", "/hosts"]);
        let line = describe("/etc/keepalive/check.sh", &r).expect("a line");
        assert!(
            line.starts_with("/etc/keepalive/check.sh: cannot run: interpreter /opt/nowhere/bash is not in this image nor under /host or /hosts;"),
            "{line}"
        );
        for advice in [
            "mount the host's / read-only at /host",
            "static binary",
            "built-in check",
        ] {
            assert!(line.contains(advice), "{line}");
        }
        let r = resolve_in(&script, &[]);
        let line = describe("/x.sh", &r).expect("a line");
        assert!(
            line.contains("fallback is off (OPENSHIFT_HA_SCRIPT_ROOT=none)"),
            "{line}"
        );
    }

    #[test]
    fn exec_error_hints() {
        let t = TempDir::new("hints");
        let root = t.0.join("root");
        executable(&root.join("bin/x"), "");
        let script = t.0.join("s");
        executable(&script, "#!/bin/x\n");
        // /bin/x is not on this host, so the route is taken.
        assert!(!Path::new("/bin/x").exists());
        let Resolution::ViaRoot(route) = resolve_in(&script, &[root.to_str().expect("utf-8")])
        else {
            panic!("no route")
        };
        let e = route.exec_error("/s", io::Error::from_raw_os_error(libc::EPERM));
        assert!(
            e.to_string()
                .ends_with("Operation not permitted (chroot needs the SYS_CHROOT capability)"),
            "{e}"
        );
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }
}
