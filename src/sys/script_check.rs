//! What we check about a check or notify script before running it.
//!
//! * Security, as keepalived's script security: a script that anyone but root can change
//!   (the file or a directory on its path writable by group or others, or owned by another
//!   user) lets that user run code as root. We warn once, loudly, and still run it, as
//!   keepalived does without `enable_script_security`.
//! * No implicit shell: glibc's `execvp` runs a file without a `#!` line through `/bin/sh`.
//!   We refuse such a file instead, so a script only ever runs under the interpreter it names.
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The owner and mode of one path component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub uid: u32,
    pub mode: u32,
    pub is_dir: bool,
}

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Why a component with these permissions lets a non-root user change the script, if it does.
pub fn weakness(p: Perm) -> Option<&'static str> {
    if p.uid != 0 {
        return Some("is owned by a non-root user");
    }
    // A sticky directory (like /tmp) only lets owners rename or delete their own entries.
    if p.mode & GROUP_OR_OTHER_WRITE != 0 && !(p.is_dir && p.mode & STICKY != 0) {
        return Some("is writable by group or others");
    }
    None
}

/// Checks the script and every directory above it; returns one line per weak component.
pub fn insecure(script: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for component in script.ancestors() {
        if component.as_os_str().is_empty() {
            continue;
        }
        let Ok(meta) = fs::metadata(component) else {
            continue;
        };
        let perm = Perm {
            uid: meta.uid(),
            mode: meta.mode(),
            is_dir: meta.is_dir(),
        };
        if let Some(why) = weakness(perm) {
            found.push(format!("{} {why}", component.display()));
        }
    }
    found
}

/// Refuses a file that is neither a `#!` script nor an ELF binary: exec would hand it to
/// `/bin/sh` behind our back.
pub fn refuse_implicit_shell(script: &Path) -> io::Result<()> {
    let mut head = [0u8; 4];
    let n = match fs::File::open(script).and_then(|mut f| f.read(&mut head)) {
        Ok(n) => n,
        // Missing or unreadable: exec reports that better, with the reason.
        Err(_) => return Ok(()),
    };
    if head[..n].starts_with(b"#!") || head[..n].starts_with(b"\x7fELF") {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{}: no #! line and not a binary; it is never run through a shell implicitly \
             (add e.g. #!/bin/sh as its first line)",
            script.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keepalived_rules() {
        let root = |mode, is_dir| Perm {
            uid: 0,
            mode,
            is_dir,
        };
        assert_eq!(weakness(root(0o755, false)), None);
        assert_eq!(weakness(root(0o755, true)), None);
        assert!(weakness(root(0o775, false)).is_some());
        assert!(weakness(root(0o757, true)).is_some());
        assert_eq!(weakness(root(0o1777, true)), None, "sticky /tmp");
        assert!(
            weakness(root(0o1777, false)).is_some(),
            "sticky means nothing on a file"
        );
        assert!(
            weakness(Perm {
                uid: 1000,
                mode: 0o755,
                is_dir: false
            })
            .is_some()
        );
    }

    #[test]
    fn files_without_shebang_are_refused() {
        let dir = std::env::temp_dir().join(format!("ipf-script-check-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let plain = dir.join("plain");
        let script = dir.join("script");
        fs::write(&plain, "exit 0\n").expect("write");
        fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write");
        assert!(refuse_implicit_shell(&plain).is_err());
        assert!(refuse_implicit_shell(&script).is_ok());
        assert!(
            refuse_implicit_shell(Path::new("/proc/self/exe")).is_ok(),
            "ELF"
        );
        assert!(
            refuse_implicit_shell(&dir.join("missing")).is_ok(),
            "left to exec"
        );
        fs::set_permissions(&script, fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(
            insecure(&script)
                .iter()
                .any(|l| l.contains("writable by group or others"))
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
