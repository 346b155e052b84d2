//! `ipfailover status` and `ipfailover probe`: read the daemon's status file from another
//! process (`oc exec`, a liveness probe). They need no configuration besides the file's path.
use crate::config::settings::{DEFAULT_STATUS_FILE, STATUS_FILE};
use crate::daemon::status::{Status, unix_ms};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// A heartbeat older than this means the event loop is stuck (it refreshes every second).
pub const PROBE_MAX_AGE: Duration = Duration::from_secs(5);

fn status_path() -> String {
    std::env::var(STATUS_FILE)
        .ok()
        .filter(|p| !p.trim().is_empty() && p != "none")
        .unwrap_or(DEFAULT_STATUS_FILE.into())
}

/// The status file, with the heartbeat taken from its mtime when that is newer (the daemon
/// only touches the file between rewrites).
fn read() -> Result<Status, String> {
    let path = status_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {path}: {e} (is the daemon running?)"))?;
    let mut status = Status::parse(&text);
    status.heartbeat_ms =
        crate::daemon::status::heartbeat_ms(std::path::Path::new(&path), status.heartbeat_ms);
    Ok(status)
}

/// Exit 0 when the daemon is alive and its loop turned recently; else 1 with the reason.
pub fn probe() -> i32 {
    let verdict = read().and_then(|s| {
        let alive = std::path::Path::new(&format!("/proc/{}", s.pid)).exists();
        judge(&s, alive, unix_ms(SystemTime::now()))
    });
    match verdict {
        Ok(msg) => {
            println!("{msg}");
            0
        }
        Err(why) => {
            eprintln!("probe failed: {why}");
            1
        }
    }
}

/// The probe's decision, pure: `alive` says whether the recorded pid exists.
pub fn judge(s: &Status, alive: bool, now_ms: u64) -> Result<String, String> {
    if s.pid == 0 {
        return Err("the status file has no pid".into());
    }
    if !alive {
        return Err(format!("daemon pid {} is gone", s.pid));
    }
    let age = Duration::from_millis(now_ms.saturating_sub(s.heartbeat_ms));
    if age > PROBE_MAX_AGE {
        return Err(format!(
            "daemon pid {} has not turned its event loop for {} s",
            s.pid,
            age.as_secs()
        ));
    }
    Ok(format!(
        "ok: pid {}, heartbeat {} ms ago",
        s.pid,
        age.as_millis()
    ))
}

/// Prints the instance table, or JSON with `--json`.
pub fn status(json: bool) -> i32 {
    match read() {
        Ok(s) => {
            print!(
                "{}",
                if json {
                    render_json(&s)
                } else {
                    render_table(&s, unix_ms(SystemTime::now()))
                }
            );
            0
        }
        Err(why) => {
            eprintln!("status: {why}");
            1
        }
    }
}

/// Human table: one line per instance.
pub fn render_table(s: &Status, now_ms: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "pid {}  check: {}", s.pid, s.check);
    let _ = writeln!(
        out,
        "{:<28} {:>4} {:<7} {:>4} {:<26} {:>8}  {:<20} WHY",
        "NAME", "VRID", "STATE", "PRIO", "MASTER", "SINCE", "VIPS"
    );
    for i in &s.instances {
        let since = Duration::from_millis(now_ms.saturating_sub(i.since_ms)).as_secs();
        let _ = writeln!(
            out,
            "{:<28} {:>4} {:<7} {:>4} {:<26} {:>7}s  {:<20} {}",
            i.name,
            i.vrid,
            i.state,
            i.priority,
            i.master.as_deref().unwrap_or("-"),
            since,
            i.vips.join(","),
            i.why
        );
    }
    if !s.counters.is_empty() {
        let counters: Vec<String> = s.counters.iter().map(|(k, n)| format!("{k}={n}")).collect();
        let _ = writeln!(out, "received packets: {}", counters.join(" "));
    }
    out
}

/// JSON for machines, written by hand (no serde in a four-dependency binary).
pub fn render_json(s: &Status) -> String {
    let instances: Vec<String> = s
        .instances
        .iter()
        .map(|i| {
            let vips: Vec<String> = i.vips.iter().map(|v| json_str(v)).collect();
            format!(
                "{{\"name\":{},\"vrid\":{},\"state\":{},\"priority\":{},\"master\":{},\"since_ms\":{},\"vips\":[{}],\"why\":{}}}",
                json_str(&i.name),
                i.vrid,
                json_str(&i.state),
                i.priority,
                i.master.as_deref().map_or("null".to_string(), json_str),
                i.since_ms,
                vips.join(","),
                json_str(&i.why)
            )
        })
        .collect();
    let counters: Vec<String> = s
        .counters
        .iter()
        .map(|(k, n)| format!("{}:{n}", json_str(k)))
        .collect();
    format!(
        "{{\"pid\":{},\"heartbeat_ms\":{},\"check\":{},\"instances\":[{}],\"counters\":{{{}}}}}\n",
        s.pid,
        s.heartbeat_ms,
        json_str(&s.check),
        instances.join(","),
        counters.join(",")
    )
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::InstanceStatus;

    fn sample() -> Status {
        Status {
            pid: 7,
            heartbeat_ms: 10_000,
            check: "healthy".into(),
            instances: vec![InstanceStatus {
                name: "ipfailover_VIP_1".into(),
                vrid: 11,
                state: "MASTER".into(),
                priority: 244,
                master: Some("192.0.2.11".into()),
                since_ms: 4_000,
                vips: vec!["192.0.2.201".into()],
                why: "say \"hi\"".into(),
            }],
            counters: vec![("accepted".into(), 3)],
        }
    }

    #[test]
    fn probe_judges_pid_and_heartbeat_age() {
        let s = sample();
        assert!(judge(&s, true, 12_000).is_ok());
        assert!(judge(&s, true, 16_000).unwrap_err().contains("not turned"));
        assert!(judge(&s, false, 12_000).unwrap_err().contains("gone"));
        assert!(judge(&Status::default(), true, 0).is_err());
    }

    #[test]
    fn json_is_escaped_and_complete() {
        let j = render_json(&sample());
        assert!(j.contains("\"why\":\"say \\\"hi\\\"\""), "{j}");
        assert!(
            j.contains("\"master\":\"192.0.2.11\"") && j.contains("\"counters\":{\"accepted\":3}")
        );
        assert!(j.starts_with('{') && j.ends_with("}\n"));
    }

    #[test]
    fn table_shows_age_of_last_transition() {
        let t = render_table(&sample(), 10_000);
        assert!(
            t.contains("ipfailover_VIP_1") && t.contains("      6s"),
            "{t}"
        );
    }
}
