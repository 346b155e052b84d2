//! The status file: what `ipfailover status` and `ipfailover probe` read from another
//! process (`oc exec`). Rewritten atomically (write + rename) at most every [`HEARTBEAT`]
//! when a state or counter changed, and every [`REFRESH`] anyway; in between, its mtime is
//! refreshed every [`HEARTBEAT`] as the liveness heartbeat.
//!
//! Format: one record per line, tab-separated, first field the record kind:
//! `pid N`, `heartbeat <unix ms>`, `check <text>`, `counter <kind> <n>`, and
//! `instance <name> <vrid> <state> <priority> <master|-> <since unix ms> <vips,> <why>`.
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the heartbeat (the file's mtime) is refreshed.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often the whole file is rewritten when no state changed (counters move on).
pub const REFRESH: Duration = Duration::from_secs(10);

/// One instance as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStatus {
    pub name: String,
    pub vrid: u8,
    pub state: String,
    pub priority: u8,
    /// The current master's address, if known.
    pub master: Option<String>,
    /// Unix time of the last transition, milliseconds.
    pub since_ms: u64,
    pub vips: Vec<String>,
    /// Why the last transition happened.
    pub why: String,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub pid: u32,
    pub heartbeat_ms: u64,
    pub check: String,
    pub instances: Vec<InstanceStatus>,
    pub counters: Vec<(String, u64)>,
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Tabs and newlines would break the record layout; they never occur in our own values but
/// reasons may quote script output.
fn field(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

impl Status {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "pid\t{}", self.pid);
        let _ = writeln!(out, "heartbeat\t{}", self.heartbeat_ms);
        let _ = writeln!(out, "check\t{}", field(&self.check));
        for i in &self.instances {
            let _ = writeln!(
                out,
                "instance\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                field(&i.name),
                i.vrid,
                i.state,
                i.priority,
                i.master.as_deref().unwrap_or("-"),
                i.since_ms,
                i.vips.join(","),
                field(&i.why)
            );
        }
        for (k, n) in &self.counters {
            let _ = writeln!(out, "counter\t{}\t{n}", field(k));
        }
        out
    }

    /// Parses what [`Status::render`] wrote; unknown or broken lines are skipped so an
    /// older reader survives a newer writer.
    pub fn parse(text: &str) -> Status {
        let mut s = Status::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["pid", pid] => s.pid = pid.parse().unwrap_or(0),
                ["heartbeat", ms] => s.heartbeat_ms = ms.parse().unwrap_or(0),
                ["check", text] => s.check = text.to_string(),
                ["counter", k, n] => s.counters.push((k.to_string(), n.parse().unwrap_or(0))),
                [
                    "instance",
                    name,
                    vrid,
                    state,
                    prio,
                    master,
                    since,
                    vips,
                    why,
                ] => s.instances.push(InstanceStatus {
                    name: name.to_string(),
                    vrid: vrid.parse().unwrap_or(0),
                    state: state.to_string(),
                    priority: prio.parse().unwrap_or(0),
                    master: (*master != "-").then(|| master.to_string()),
                    since_ms: since.parse().unwrap_or(0),
                    vips: vips
                        .split(',')
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .collect(),
                    why: why.to_string(),
                }),
                _ => {}
            }
        }
        s
    }
}

/// The heartbeat between rewrites: sets the file's mtime to now.
pub fn touch(path: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: valid C string; a null times pointer means "now" for both timestamps.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The last heartbeat: the later of the recorded one and the file's mtime.
pub fn heartbeat_ms(path: &Path, recorded_ms: u64) -> u64 {
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_or(0, unix_ms);
    recorded_ms.max(mtime)
}

/// Writes the file atomically.
pub fn write(path: &Path, status: &Status) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = PathBuf::from(path);
    tmp.set_extension("tmp");
    std::fs::write(&tmp, status.render())?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_round_trip() {
        let s = Status {
            pid: 42,
            heartbeat_ms: 1_700_000_000_123,
            check: "failed: exited with status 1:\tboom".to_string(),
            instances: vec![InstanceStatus {
                name: "ipfailover_VIP_1".into(),
                vrid: 11,
                state: "MASTER".into(),
                priority: 244,
                master: Some("192.0.2.11".into()),
                since_ms: 1_700_000_000_000,
                vips: vec!["192.0.2.201".into(), "192.0.2.202".into()],
                why: "no advert from a master".into(),
            }],
            counters: vec![("password".into(), 3)],
        };
        let mut expected = s.clone();
        expected.check = "failed: exited with status 1: boom".into();
        assert_eq!(Status::parse(&s.render()), expected);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let s = Status::parse("pid\tx\nwhat\nheartbeat\t5\ninstance\ttoo\tfew\n");
        assert_eq!(s.pid, 0);
        assert_eq!(s.heartbeat_ms, 5);
        assert!(s.instances.is_empty());
    }
}
