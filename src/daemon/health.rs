//! The node health check, run by the event loop: a script, a TCP connect, an HTTP GET, or
//! nothing.
//!
//! Schedule (contract §3, keepalived's track scripts): the first run is due at once,
//! then one run every `interval` counted from the start of the previous run; a run
//! that is still going when the next one is due has timed out (timeout = interval).
//! It is then failed and stopped, and that slot is skipped, so two runs never overlap.
//! A timed-out script's process group gets SIGTERM, then SIGKILL 2 s later (or just
//! before the next run, if that comes first).
//!
//! Every method takes `now`; the loop calls [`Health::on_timer`] at [`Health::deadline`],
//! [`Health::on_ready`] on readiness of the token it passed, and
//! [`Health::on_child_exit`] for every reaped child.
//!
//! Results pass through [`RiseFall`] (keepalived's `rise`/`fall`): a result that does not
//! (yet) change the damped state is logged here and not returned to the loop.
use super::http_check::{self, MAX_RESPONSE, Parsed};
use crate::config::Check;
use crate::sys::process::{self, Exit};
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How much of a failing script's output is kept for the log line.
const OUTPUT_LIMIT: usize = 512;
/// Delay between SIGTERM and SIGKILL of a timed-out script's group.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The outcome of one completed check run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Why, on one line.
    Unhealthy(String),
}

/// keepalived's rise/fall damping of check results (keepalived-behaviour.md §7).
///
/// The first result decides at once. After that, `fall` consecutive failures make a healthy
/// node unhealthy and `rise` consecutive successes make an unhealthy node healthy; a result
/// that agrees with the current state resets the count. (keepalived's `result` counter,
/// which jumps back to its end on an agreeing result, behaves exactly so.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    healthy: Option<bool>,
    /// Consecutive results disagreeing with `healthy`.
    streak: u32,
}

impl RiseFall {
    /// Counts of at least 1 (0 is taken as 1).
    pub fn new(rise: u32, fall: u32) -> Self {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            healthy: None,
            streak: 0,
        }
    }

    /// Records one result; returns the damped state after it.
    pub fn record(&mut self, ok: bool) -> bool {
        match self.healthy {
            Some(h) if h != ok => {
                self.streak += 1;
                let needed = if ok { self.rise } else { self.fall };
                if self.streak >= needed {
                    self.healthy = Some(ok);
                    self.streak = 0;
                }
            }
            _ => {
                self.healthy = Some(ok);
                self.streak = 0;
            }
        }
        self.healthy == Some(true)
    }

    /// The damped state; `None` before the first result.
    pub fn state(&self) -> Option<bool> {
        self.healthy
    }

    /// Consecutive results so far that disagree with the state.
    pub fn streak(&self) -> u32 {
        self.streak
    }

    /// (rise, fall).
    pub fn counts(&self) -> (u32, u32) {
        (self.rise, self.fall)
    }
}

/// What the metrics endpoint shows about the check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// The damped state; `None` before the first result.
    pub up: Option<bool>,
    /// Completed runs that passed (before damping).
    pub successes: u64,
    /// Completed runs that failed, timed out or could not start (before damping).
    pub failures: u64,
    /// Duration of the last completed run.
    pub last_duration: Option<Duration>,
    /// Runs whose script could not be executed at all.
    pub exec_failures: u64,
}

/// What is checked.
#[derive(Debug)]
enum Kind {
    Script(Vec<String>),
    Tcp {
        ip: Option<Ipv4Addr>,
        port: u16,
    },
    Http {
        ip: Option<Ipv4Addr>,
        port: u16,
        path: String,
    },
    Disabled,
}

/// The run in progress, if any.
#[derive(Debug)]
enum Run {
    Idle,
    Script {
        pid: i32,
        output: Option<io::PipeReader>,
        kept: Vec<u8>,
        truncated: bool,
    },
    Tcp {
        stream: TcpStream,
        addr: SocketAddrV4,
    },
    Http(HttpRun),
}

/// One HTTP exchange: connect, send the request, read up to the status line.
#[derive(Debug)]
struct HttpRun {
    stream: TcpStream,
    /// Registered with WRITABLE until the request is sent, then READABLE.
    token: Token,
    /// `http://<ip>:<port><path>`, for the log lines.
    url: String,
    request: Vec<u8>,
    sent: usize,
    response: Vec<u8>,
}

/// One health check and its schedule.
#[derive(Debug)]
pub struct Health {
    kind: Kind,
    interval: Duration,
    /// Start of the next run; `None` once a disabled check has reported.
    next: Option<Instant>,
    run: Run,
    /// Start of the run in progress, for its duration.
    started: Instant,
    /// A timed-out script's process group and when it gets SIGKILL.
    kill: Option<(i32, Instant)>,
    damping: RiseFall,
    stats: CheckStats,
}

impl Health {
    /// A check whose first run is due at `now`. `node_ip` is the target of a TCP or HTTP check.
    /// Without [`Health::with_rise_fall`], every result counts at once (rise = fall = 1).
    pub fn new(check: &Check, node_ip: Option<Ipv4Addr>, interval: Duration, now: Instant) -> Self {
        let kind = match check {
            Check::Script(s) => Kind::Script(s.argv.clone()),
            Check::Tcp(port) => Kind::Tcp {
                ip: node_ip,
                port: *port,
            },
            Check::Http { port, path } => Kind::Http {
                ip: node_ip,
                port: *port,
                path: path.clone(),
            },
            Check::Disabled => Kind::Disabled,
        };
        Health {
            kind,
            interval,
            next: Some(now),
            run: Run::Idle,
            started: now,
            kill: None,
            damping: RiseFall::new(1, 1),
            stats: CheckStats::default(),
        }
    }

    /// Damps results with keepalived's `rise` and `fall` counts (see [`RiseFall`]).
    pub fn with_rise_fall(mut self, rise: u32, fall: u32) -> Self {
        self.damping = RiseFall::new(rise, fall);
        self
    }

    /// Counters and the damped state, for the metrics endpoint.
    pub fn stats(&self) -> &CheckStats {
        &self.stats
    }

    /// When the loop must call [`Health::on_timer`] next; `None` = never.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.next, self.kill) {
            (Some(n), Some((_, k))) => Some(n.min(k)),
            (n, k) => n.or(k.map(|(_, at)| at)),
        }
    }

    /// Starts a run when one is due, times out a run past its interval, and sends a
    /// pending SIGKILL. `token` is used to register the run's socket or pipe.
    pub fn on_timer(&mut self, now: Instant, registry: &Registry, token: Token) -> Option<Verdict> {
        if let Some((pgid, at)) = self.kill
            && now >= at
        {
            process::kill_group(pgid, libc::SIGKILL);
            self.kill = None;
        }
        let next = self.next?;
        if now < next {
            return None;
        }
        if !matches!(self.run, Run::Idle) {
            // The next run is due, so this one is past its timeout: fail it, skip this slot.
            self.next = Some(now + self.interval);
            let verdict = self.time_out(now, registry);
            return self.conclude(verdict, now);
        }
        let verdict = self.start(now, registry, token)?;
        self.conclude(verdict, now)
    }

    /// Our script `pid` ended: its verdict. Other pids are ignored (`None`).
    pub fn on_child_exit(&mut self, pid: i32, exit: Exit) -> Option<Verdict> {
        match &mut self.run {
            Run::Script {
                pid: p,
                output,
                kept,
                truncated,
            } if *p == pid => {
                // Whatever the script wrote is in the pipe already. Dropping our read end
                // also removes it from epoll (it is the only descriptor of that pipe end).
                if let Some(r) = output.take() {
                    drain(&r, kept, truncated);
                }
                let verdict = match exit {
                    Exit::Code(0) => Verdict::Healthy,
                    _ if kept.is_empty() => Verdict::Unhealthy(exit.to_string()),
                    _ => Verdict::Unhealthy(format!("{exit}: {}", one_line(kept, *truncated))),
                };
                self.run = Run::Idle;
                self.conclude(verdict, Instant::now())
            }
            _ => None,
        }
    }

    /// Readiness on the run's socket or output pipe: a verdict once a TCP connect completes
    /// or an HTTP status line (or a failure) arrives.
    pub fn on_ready(&mut self, registry: &Registry) -> Option<Verdict> {
        let verdict = match &mut self.run {
            Run::Idle => return None,
            Run::Script {
                output,
                kept,
                truncated,
                ..
            } => {
                if let Some(r) = output
                    && drain(r, kept, truncated)
                {
                    let _ = registry.deregister(&mut SourceFd(&r.as_raw_fd()));
                    *output = None;
                }
                return None;
            }
            Run::Tcp { stream, addr } => {
                let verdict = match connect_result(stream) {
                    None => return None, // spurious wake-up, still connecting
                    Some(Ok(())) => Verdict::Healthy,
                    Some(Err(e)) => Verdict::Unhealthy(format!(
                        "connect to {addr}: {}",
                        process::error_text(&e)
                    )),
                };
                let _ = registry.deregister(stream);
                verdict
            }
            Run::Http(http) => {
                let verdict = http.step(registry)?;
                let _ = registry.deregister(&mut http.stream);
                verdict
            }
        };
        self.run = Run::Idle;
        self.conclude(verdict, Instant::now())
    }

    /// One line for the start-up log, e.g. `tcp 192.0.2.11:80 every 2s`.
    pub fn describe(&self) -> String {
        let every = self.interval;
        let what = match &self.kind {
            Kind::Script(argv) => format!("script {} every {every:?}", argv.join(" ")),
            Kind::Tcp { ip, port } => format!("tcp {}:{port} every {every:?}", target(*ip)),
            Kind::Http { ip, port, path } => {
                format!("http GET {}:{port}{path} every {every:?}", target(*ip))
            }
            Kind::Disabled => return "disabled".to_string(),
        };
        match self.damping.counts() {
            (1, 1) => what,
            (rise, fall) => format!("{what} (rise {rise}, fall {fall})"),
        }
    }

    /// Counts a completed run and damps it: the verdict for the loop, or `None` (logged
    /// here) while the damped state holds against it.
    fn conclude(&mut self, verdict: Verdict, now: Instant) -> Option<Verdict> {
        if matches!(self.kind, Kind::Disabled) {
            self.stats.up = Some(true);
            return Some(verdict);
        }
        let ok = verdict == Verdict::Healthy;
        if ok {
            self.stats.successes += 1;
        } else {
            self.stats.failures += 1;
        }
        self.stats.last_duration = Some(now.saturating_duration_since(self.started));
        let healthy = self.damping.record(ok);
        self.stats.up = Some(healthy);
        if healthy == ok {
            return Some(verdict);
        }
        let (rise, fall) = self.damping.counts();
        let n = self.damping.streak();
        match &verdict {
            Verdict::Healthy => crate::log::line(&format!(
                "Health check succeeded ({n} of {rise} successes needed to recover)"
            )),
            Verdict::Unhealthy(why) => crate::log::line(&format!(
                "Health check failed ({n} of {fall} failures before FAULT): {why}"
            )),
        }
        None
    }

    /// Starts a run; a verdict only when it ends at once (exec failure, no address, ...).
    fn start(&mut self, now: Instant, registry: &Registry, token: Token) -> Option<Verdict> {
        self.next = Some(now + self.interval);
        self.started = now;
        let run = match &self.kind {
            Kind::Disabled => {
                self.next = None;
                return Some(Verdict::Healthy);
            }
            Kind::Script(argv) => {
                let spawned = match process::spawn_script(argv, &[], true) {
                    Ok(s) => s,
                    Err(e) => {
                        self.stats.exec_failures += 1;
                        return Some(Verdict::Unhealthy(e.to_string()));
                    }
                };
                if let Some(r) = &spawned.output {
                    // Unregistered, the pipe is still drained when the script exits.
                    let _ =
                        registry.register(&mut SourceFd(&r.as_raw_fd()), token, Interest::READABLE);
                }
                Run::Script {
                    pid: spawned.pid,
                    output: spawned.output,
                    kept: Vec::new(),
                    truncated: false,
                }
            }
            Kind::Tcp { ip: None, .. } | Kind::Http { ip: None, .. } => {
                return Some(Verdict::Unhealthy(
                    "no IPv4 address on the interface".to_string(),
                ));
            }
            Kind::Tcp { ip: Some(ip), port } => {
                let addr = SocketAddrV4::new(*ip, *port);
                match connect(addr, registry, token) {
                    Ok(stream) => Run::Tcp { stream, addr },
                    Err(e) => {
                        let why = process::error_text(&e);
                        return Some(Verdict::Unhealthy(format!("connect to {addr}: {why}")));
                    }
                }
            }
            Kind::Http {
                ip: Some(ip),
                port,
                path,
            } => {
                let addr = SocketAddrV4::new(*ip, *port);
                let url = format!("http://{addr}{path}");
                match connect(addr, registry, token) {
                    Ok(stream) => Run::Http(HttpRun {
                        stream,
                        token,
                        url,
                        request: http_check::request(addr, path),
                        sent: 0,
                        response: Vec::new(),
                    }),
                    Err(e) => {
                        let why = process::error_text(&e);
                        return Some(Verdict::Unhealthy(format!("GET {url}: connect: {why}")));
                    }
                }
            }
        };
        self.run = run;
        None
    }

    fn time_out(&mut self, now: Instant, registry: &Registry) -> Verdict {
        match std::mem::replace(&mut self.run, Run::Idle) {
            Run::Script { pid, output, .. } => {
                process::kill_group(pid, libc::SIGTERM);
                self.kill = Some((pid, now + KILL_GRACE.min(self.interval)));
                if let Some(r) = output {
                    let _ = registry.deregister(&mut SourceFd(&r.as_raw_fd()));
                }
                Verdict::Unhealthy(format!("timed out after {:?}", self.interval))
            }
            Run::Tcp { mut stream, addr } => {
                let _ = registry.deregister(&mut stream);
                Verdict::Unhealthy(format!("connect to {addr} timed out"))
            }
            Run::Http(mut http) => {
                let _ = registry.deregister(&mut http.stream);
                let what = if http.sent == 0 {
                    "connect timed out"
                } else {
                    "no response"
                };
                Verdict::Unhealthy(format!(
                    "GET {}: {what} after {:?}",
                    http.url, self.interval
                ))
            }
            Run::Idle => Verdict::Unhealthy(format!("timed out after {:?}", self.interval)),
        }
    }
}

impl HttpRun {
    /// Moves the exchange on as far as the socket allows; `None` while waiting for it.
    fn step(&mut self, registry: &Registry) -> Option<Verdict> {
        match self.exchange(registry) {
            Ok(None) => None,
            Ok(Some(p)) if p.is_success() => Some(Verdict::Healthy),
            Ok(Some(Parsed::Status { code, reason })) if reason.is_empty() => {
                Some(Verdict::Unhealthy(format!("GET {}: {code}", self.url)))
            }
            Ok(Some(Parsed::Status { code, reason })) => Some(Verdict::Unhealthy(format!(
                "GET {}: {code} {reason}",
                self.url
            ))),
            Ok(Some(Parsed::Invalid(why))) | Err(why) => {
                Some(Verdict::Unhealthy(format!("GET {}: {why}", self.url)))
            }
            Ok(Some(Parsed::Incomplete)) => None,
        }
    }

    /// `Ok(None)` while waiting, `Ok(Some(_))` once the status line is parsed (or is
    /// invalid), `Err(why)` when the connection fails first.
    fn exchange(&mut self, registry: &Registry) -> Result<Option<Parsed>, String> {
        if self.sent < self.request.len() {
            match connect_result(&self.stream) {
                None => return Ok(None),
                Some(Err(e)) => return Err(format!("connect: {}", process::error_text(&e))),
                Some(Ok(())) => {}
            }
            while self.sent < self.request.len() {
                match self.stream.write(&self.request[self.sent..]) {
                    Ok(0) => return Err("connection closed while sending the request".into()),
                    Ok(n) => self.sent += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                    Err(e) => return Err(process::error_text(&e)),
                }
            }
            registry
                .reregister(&mut self.stream, self.token, Interest::READABLE)
                .map_err(|e| process::error_text(&e))?;
        }
        // The answer may be there already: read now rather than wait for an edge.
        let mut buf = [0u8; 1024];
        loop {
            let room = MAX_RESPONSE
                .saturating_sub(self.response.len())
                .clamp(1, buf.len());
            match self.stream.read(&mut buf[..room]) {
                Ok(0) => return Err("connection closed before the status line".into()),
                Ok(n) => {
                    self.response.extend_from_slice(&buf[..n]);
                    match http_check::parse_status(&self.response) {
                        Parsed::Incomplete => {}
                        done => return Ok(Some(done)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(process::error_text(&e)),
            }
        }
    }
}

/// Starts a non-blocking connect, registered for WRITABLE (connect completion).
fn connect(addr: SocketAddrV4, registry: &Registry, token: Token) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(SocketAddr::V4(addr))?;
    registry.register(&mut stream, token, Interest::WRITABLE)?;
    Ok(stream)
}

/// The check target as shown in `describe`.
fn target(ip: Option<Ipv4Addr>) -> String {
    ip.map_or_else(|| "<no IPv4>".to_string(), |ip| ip.to_string())
}

impl Drop for Health {
    /// A check that goes away takes its scripts with it.
    fn drop(&mut self) {
        if let Run::Script { pid, .. } = self.run {
            process::kill_group(pid, libc::SIGKILL);
        }
        if let Some((pgid, _)) = self.kill {
            process::kill_group(pgid, libc::SIGKILL);
        }
    }
}

/// The state of a non-blocking connect after a wake-up: `None` while still in progress.
fn connect_result(stream: &TcpStream) -> Option<io::Result<()>> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Some(Err(e)),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Some(Ok(())),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => None,
        Err(e) => Some(Err(e)),
    }
}

/// Reads everything available, keeping the first [`OUTPUT_LIMIT`] bytes.
/// Returns true at end-of-file or on a read error (the pipe is done).
fn drain(mut r: &io::PipeReader, kept: &mut Vec<u8>, truncated: &mut bool) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                *truncated |= n > room;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Script output as one log-safe line: trimmed, control characters escaped.
fn one_line(bytes: &[u8], truncated: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if truncated {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Script;
    use mio::Poll;

    #[test]
    fn one_line_escapes_and_marks_truncation() {
        assert_eq!(
            one_line(b"  bad\tthing\nsecond\x1b[0m\n", false),
            "bad\\tthing\\nsecond\\u{1b}[0m"
        );
        assert_eq!(one_line(b"abc", true), "abc...");
        assert_eq!(one_line(b"\xffok", false), "\u{fffd}ok");
    }

    #[test]
    fn disabled_is_healthy_once() {
        let poll = Poll::new().expect("poll");
        let t0 = Instant::now();
        let mut h = Health::new(&Check::Disabled, None, Duration::from_secs(2), t0);
        assert_eq!(h.deadline(), Some(t0));
        assert_eq!(
            h.on_timer(t0, poll.registry(), Token(0)),
            Some(Verdict::Healthy)
        );
        assert_eq!(h.deadline(), None);
        assert_eq!(
            h.on_timer(t0 + Duration::from_secs(10), poll.registry(), Token(0)),
            None
        );
        assert_eq!(h.describe(), "disabled");
    }

    #[test]
    fn tcp_without_ipv4_is_unhealthy_every_interval() {
        let poll = Poll::new().expect("poll");
        let t0 = Instant::now();
        let i = Duration::from_secs(2);
        let mut h = Health::new(&Check::Tcp(80), None, i, t0);
        let bad = Some(Verdict::Unhealthy(
            "no IPv4 address on the interface".into(),
        ));
        assert_eq!(h.on_timer(t0, poll.registry(), Token(0)), bad);
        assert_eq!(h.deadline(), Some(t0 + i));
        assert_eq!(h.on_timer(t0 + i / 2, poll.registry(), Token(0)), None);
        assert_eq!(h.on_timer(t0 + i, poll.registry(), Token(0)), bad);
    }

    #[test]
    fn describe_lines() {
        let t0 = Instant::now();
        let i = Duration::from_secs(2);
        let ip = Some(Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(
            Health::new(&Check::Tcp(80), ip, i, t0).describe(),
            "tcp 192.0.2.11:80 every 2s"
        );
        let s = Check::Script(Script {
            argv: vec!["/x".into(), "a".into()],
        });
        assert_eq!(
            Health::new(&s, ip, i, t0).describe(),
            "script /x a every 2s"
        );
    }

    /// Feeds results (`'+'` success, `'-'` failure); returns the damped state after each.
    fn damp(rise: u32, fall: u32, results: &str) -> String {
        let mut d = RiseFall::new(rise, fall);
        results
            .chars()
            .map(|c| if d.record(c == '+') { '+' } else { '-' })
            .collect()
    }

    #[test]
    fn rise_fall_defaults_follow_every_result() {
        assert_eq!(damp(1, 1, "+-+--++"), "+-+--++");
        assert_eq!(RiseFall::new(1, 1).state(), None);
        assert_eq!(RiseFall::new(0, 0).counts(), (1, 1));
    }

    #[test]
    fn rise_fall_first_result_decides_at_once() {
        assert_eq!(damp(3, 3, "-"), "-");
        assert_eq!(damp(3, 3, "+"), "+");
    }

    #[test]
    fn fall_needs_consecutive_failures() {
        assert_eq!(damp(1, 3, "+--+--+---"), "+++++++++-");
        // Once failed, one success recovers (rise 1); a single failure after that counts anew.
        assert_eq!(damp(1, 3, "+---+-"), "+++-++");
    }

    #[test]
    fn rise_needs_consecutive_successes() {
        assert_eq!(damp(2, 1, "-+-++"), "----+");
        assert_eq!(damp(2, 3, "+---++-+-++"), "+++--++++++");
        let mut d = RiseFall::new(2, 1);
        d.record(false);
        d.record(true);
        assert_eq!((d.state(), d.streak()), (Some(false), 1));
    }

    #[test]
    fn describe_http_with_damping() {
        let t0 = Instant::now();
        let i = Duration::from_secs(2);
        let c = Check::Http {
            port: 1936,
            path: "/healthz/ready".into(),
        };
        let ip = Some(Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(
            Health::new(&c, ip, i, t0).with_rise_fall(2, 3).describe(),
            "http GET 192.0.2.11:1936/healthz/ready every 2s (rise 2, fall 3)"
        );
        assert_eq!(
            Health::new(&c, None, i, t0).describe(),
            "http GET <no IPv4>:1936/healthz/ready every 2s"
        );
    }

    #[test]
    fn damped_failures_are_not_returned_but_counted() {
        let poll = Poll::new().expect("poll");
        let t0 = Instant::now();
        let i = Duration::from_secs(2);
        let c = Check::Http {
            port: 80,
            path: "/".into(),
        };
        let mut h = Health::new(&c, None, i, t0).with_rise_fall(1, 2);
        h.damping.record(true); // as if a first run had passed
        assert_eq!(h.on_timer(t0, poll.registry(), Token(0)), None);
        let bad = Some(Verdict::Unhealthy(
            "no IPv4 address on the interface".into(),
        ));
        assert_eq!(h.on_timer(t0 + i, poll.registry(), Token(0)), bad);
        let s = h.stats();
        assert_eq!(
            (s.up, s.successes, s.failures, s.exec_failures),
            (Some(false), 0, 2, 0)
        );
        assert_eq!(s.last_duration, Some(Duration::ZERO));
    }

    #[test]
    fn exec_failures_are_counted() {
        let poll = Poll::new().expect("poll");
        let t0 = Instant::now();
        let s = Check::Script(Script {
            argv: vec!["/nonexistent/ipfailover-check".into()],
        });
        let mut h = Health::new(&s, None, Duration::from_secs(2), t0);
        assert!(matches!(
            h.on_timer(t0, poll.registry(), Token(0)),
            Some(Verdict::Unhealthy(_))
        ));
        assert_eq!(
            (h.stats().exec_failures, h.stats().failures, h.stats().up),
            (1, 1, Some(false))
        );
    }

    #[test]
    fn foreign_pids_are_ignored() {
        let mut h = Health::new(
            &Check::Disabled,
            None,
            Duration::from_secs(2),
            Instant::now(),
        );
        assert_eq!(h.on_child_exit(12345, Exit::Code(0)), None);
    }
}
