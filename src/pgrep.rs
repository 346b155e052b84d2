//! A small real `pgrep`, so the documented liveness probe `pgrep keepalived` works in a
//! `FROM scratch` image: it looks the pattern up in /proc, it does not answer a constant.
//!
//! Supported: `pgrep [-f] [-o|-n] PATTERN`. The pattern is a substring match with optional
//! `^` / `$` anchors (the forms probes use), against the process name (`comm`), or the
//! whole command line with `-f`. Exit 0 and the pids when something matches, else 1;
//! 2 for a usage error, like procps.
use std::fs;

/// Runs the applet on its arguments (without argv[0]); returns the exit status.
pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    let mut full = false;
    let mut pick: Option<Pick> = None;
    let mut pattern: Option<String> = None;
    for arg in args {
        let arg = arg.to_string_lossy().into_owned();
        match arg.as_str() {
            "-f" | "--full" => full = true,
            "-o" | "--oldest" => pick = Some(Pick::Oldest),
            "-n" | "--newest" => pick = Some(Pick::Newest),
            s if s.starts_with('-') && s.len() > 1 => {
                return usage(&format!("unsupported option {s}"));
            }
            _ if pattern.is_some() => return usage("only one pattern is supported"),
            _ => pattern = Some(arg),
        }
    }
    let Some(pattern) = pattern else {
        return usage("no pattern given");
    };
    let me = std::process::id();
    let mut found: Vec<Proc> = processes()
        .into_iter()
        .filter(|p| p.pid != me && matches(&pattern, p.text(full)))
        .collect();
    match pick {
        Some(Pick::Oldest) => {
            found = found
                .into_iter()
                .min_by_key(|p| (p.start, p.pid))
                .into_iter()
                .collect()
        }
        Some(Pick::Newest) => {
            found = found
                .into_iter()
                .max_by_key(|p| (p.start, p.pid))
                .into_iter()
                .collect()
        }
        None => {}
    }
    for p in &found {
        println!("{}", p.pid);
    }
    if found.is_empty() { 1 } else { 0 }
}

enum Pick {
    Oldest,
    Newest,
}

fn usage(msg: &str) -> i32 {
    eprintln!("pgrep: {msg}\nUsage: pgrep [-f] [-o|-n] PATTERN");
    2
}

struct Proc {
    pid: u32,
    comm: String,
    cmdline: String,
    /// Start time in clock ticks since boot (field 22 of /proc/PID/stat).
    start: u64,
}

impl Proc {
    fn text(&self, full: bool) -> &str {
        if full { &self.cmdline } else { &self.comm }
    }
}

fn processes() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter_map(read_proc)
        .collect()
}

/// A process that vanished while we looked is simply skipped.
fn read_proc(pid: u32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (comm, start) = parse_stat(&stat)?;
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&raw)
        .trim_end_matches('\0')
        .replace('\0', " ");
    Some(Proc {
        pid,
        comm,
        cmdline,
        start,
    })
}

/// `comm` sits between the first `(` and the last `)`; it may itself contain both.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // After ") ": state is field 3, so starttime (field 22) is the 20th word.
    let start = stat
        .get(close + 1..)?
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    Some((comm, start))
}

/// Substring match with optional `^` and `$` anchors.
fn matches(pattern: &str, text: &str) -> bool {
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let (anchored_end, needle) = match rest.strip_suffix('$') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    match (anchored_start, anchored_end) {
        (true, true) => text == needle,
        (true, false) => text.starts_with(needle),
        (false, true) => text.ends_with(needle),
        (false, false) => text.contains(needle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_substrings() {
        assert!(matches("keepalived", "keepalived"));
        assert!(matches("keep", "keepalived"));
        assert!(matches("^keep", "keepalived"));
        assert!(!matches("^alived", "keepalived"));
        assert!(matches("alived$", "keepalived"));
        assert!(matches("^keepalived$", "keepalived"));
        assert!(!matches("^keepalive$", "keepalived"));
        assert!(!matches("keepalived", "ipfailover"));
    }

    #[test]
    fn stat_with_parentheses_in_comm() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 10";
        assert_eq!(parse_stat(stat), Some(("a (b) c".to_string(), 12345)));
        assert_eq!(parse_stat("42 (x"), None);
        assert_eq!(parse_stat("42 (x) S 1"), None);
    }

    #[test]
    fn finds_this_test_process_by_its_own_name() {
        let me = read_proc(std::process::id()).expect("own /proc entry");
        assert!(processes().iter().any(|p| p.comm == me.comm));
    }
}
