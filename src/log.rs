//! One line per event on stderr, in keepalived's console format (`%c: message`), so that
//! existing greps and alerts on `oc logs` keep working.
use std::io::Write;
use std::time::{Duration, Instant};

/// Write one line. A single `write` call so concurrent writers never interleave mid-line.
pub fn line(msg: &str) {
    let mut buf = String::with_capacity(32 + msg.len());
    buf.push_str(&timestamp());
    buf.push_str(": ");
    buf.push_str(msg);
    buf.push('\n');
    // Nothing sensible to do if stderr is gone; the daemon must keep running.
    let _ = std::io::stderr().lock().write_all(buf.as_bytes());
}

/// `strftime("%c")` in the C locale: `Thu Dec  3 18:11:06 2026`, local time (UTC in a
/// scratch image without zoneinfo).
fn timestamp() -> String {
    // SAFETY: time(NULL) and localtime_r with valid pointers to locals.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format_c_time(&tm)
}

fn format_c_time(tm: &libc::tm) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = DAYS.get(tm.tm_wday as usize).unwrap_or(&"???");
    let month = MONTHS.get(tm.tm_mon as usize).unwrap_or(&"???");
    format!(
        "{day} {month} {:2} {:02}:{:02}:{:02} {}",
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

/// Lets at most `burst` lines through per `period`; counts the rest so a flood of bad
/// packets costs one summary line instead of one line each.
#[derive(Debug)]
pub struct RateLimit {
    period: Duration,
    burst: u32,
    window_start: Option<Instant>,
    passed: u32,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(burst: u32, period: Duration) -> RateLimit {
        RateLimit {
            period,
            burst,
            window_start: None,
            passed: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)` when the caller may log now; `n` lines were suppressed since the last one.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .window_start
            .is_none_or(|s| now.duration_since(s) >= self.period)
        {
            self.window_start = Some(now);
            self.passed = 0;
        }
        if self.passed < self.burst {
            self.passed += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_locale_time_matches_keepalived_console_format() {
        // SAFETY: an all-zero tm is a valid value to fill in.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        (
            tm.tm_wday, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year,
        ) = (3, 6, 22, 17, 15, 52, 126);
        assert_eq!(format_c_time(&tm), "Wed Jul 22 17:15:52 2026");
        tm.tm_mday = 3;
        assert_eq!(format_c_time(&tm), "Wed Jul  3 17:15:52 2026");
    }

    #[test]
    fn rate_limit_passes_burst_then_reports_suppressed() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(2, Duration::from_secs(1));
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0), None);
        assert_eq!(r.allow(t0), None);
        assert_eq!(r.allow(t0 + Duration::from_secs(1)), Some(2));
    }
}
