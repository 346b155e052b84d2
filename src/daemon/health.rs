//! The node health check, run by the event loop: a script, a TCP connect, or nothing.
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
use crate::config::Check;
use crate::sys::process::{self, Exit};
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io::{self, Read};
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

/// What is checked.
#[derive(Debug)]
enum Kind {
    Script(Vec<String>),
    Tcp { ip: Option<Ipv4Addr>, port: u16 },
    Disabled,
}

/// The run in progress, if any.
#[derive(Debug)]
enum Run {
    Idle,
    Script { pid: i32, output: Option<io::PipeReader>, kept: Vec<u8>, truncated: bool },
    Tcp { stream: TcpStream, addr: SocketAddrV4 },
}

/// One health check and its schedule.
#[derive(Debug)]
pub struct Health {
    kind: Kind,
    interval: Duration,
    /// Start of the next run; `None` once a disabled check has reported.
    next: Option<Instant>,
    run: Run,
    /// A timed-out script's process group and when it gets SIGKILL.
    kill: Option<(i32, Instant)>,
}

impl Health {
    /// A check whose first run is due at `now`. `node_ip` is the target of a TCP check.
    pub fn new(check: &Check, node_ip: Option<Ipv4Addr>, interval: Duration, now: Instant) -> Self {
        let kind = match check {
            Check::Script(s) => Kind::Script(s.argv.clone()),
            Check::Tcp(port) => Kind::Tcp { ip: node_ip, port: *port },
            Check::Disabled => Kind::Disabled,
        };
        Health { kind, interval, next: Some(now), run: Run::Idle, kill: None }
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
            return Some(self.time_out(now, registry));
        }
        self.start(now, registry, token)
    }

    /// Our script `pid` ended: its verdict. Other pids are ignored (`None`).
    pub fn on_child_exit(&mut self, pid: i32, exit: Exit) -> Option<Verdict> {
        match &mut self.run {
            Run::Script { pid: p, output, kept, truncated } if *p == pid => {
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
                Some(verdict)
            }
            _ => None,
        }
    }

    /// Readiness on the run's TCP socket or output pipe: a verdict once a connect completes.
    pub fn on_ready(&mut self, registry: &Registry) -> Option<Verdict> {
        match &mut self.run {
            Run::Idle => None,
            Run::Script { output, kept, truncated, .. } => {
                if let Some(r) = output
                    && drain(r, kept, truncated)
                {
                    let _ = registry.deregister(&mut SourceFd(&r.as_raw_fd()));
                    *output = None;
                }
                None
            }
            Run::Tcp { stream, addr } => {
                let verdict = match connect_result(stream) {
                    None => return None, // spurious wake-up, still connecting
                    Some(Ok(())) => Verdict::Healthy,
                    Some(Err(e)) => {
                        Verdict::Unhealthy(format!("connect to {addr}: {}", process::error_text(&e)))
                    }
                };
                let _ = registry.deregister(stream);
                self.run = Run::Idle;
                Some(verdict)
            }
        }
    }

    /// One line for the start-up log, e.g. `tcp 192.0.2.11:80 every 2s`.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Script(argv) => format!("script {} every {:?}", argv.join(" "), self.interval),
            Kind::Tcp { ip: Some(ip), port } => format!("tcp {ip}:{port} every {:?}", self.interval),
            Kind::Tcp { ip: None, port } => {
                format!("tcp <no IPv4>:{port} every {:?}", self.interval)
            }
            Kind::Disabled => "disabled".to_string(),
        }
    }

    /// Starts a run; a verdict only when it ends at once (exec failure, no address, ...).
    fn start(&mut self, now: Instant, registry: &Registry, token: Token) -> Option<Verdict> {
        self.next = Some(now + self.interval);
        let run = match &self.kind {
            Kind::Disabled => {
                self.next = None;
                return Some(Verdict::Healthy);
            }
            Kind::Script(argv) => {
                let spawned = match process::spawn_script(argv, &[], true) {
                    Ok(s) => s,
                    Err(e) => return Some(Verdict::Unhealthy(e.to_string())),
                };
                if let Some(r) = &spawned.output {
                    // Unregistered, the pipe is still drained when the script exits.
                    let _ = registry.register(&mut SourceFd(&r.as_raw_fd()), token, Interest::READABLE);
                }
                Run::Script { pid: spawned.pid, output: spawned.output, kept: Vec::new(), truncated: false }
            }
            Kind::Tcp { ip: None, .. } => {
                return Some(Verdict::Unhealthy("no IPv4 address on the interface".to_string()));
            }
            Kind::Tcp { ip: Some(ip), port } => {
                let addr = SocketAddrV4::new(*ip, *port);
                let connected = TcpStream::connect(SocketAddr::V4(addr)).and_then(|mut stream| {
                    registry.register(&mut stream, token, Interest::WRITABLE)?;
                    Ok(stream)
                });
                match connected {
                    Ok(stream) => Run::Tcp { stream, addr },
                    Err(e) => {
                        let why = process::error_text(&e);
                        return Some(Verdict::Unhealthy(format!("connect to {addr}: {why}")));
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
            Run::Idle => Verdict::Unhealthy(format!("timed out after {:?}", self.interval)),
        }
    }
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
        assert_eq!(one_line(b"  bad\tthing\nsecond\x1b[0m\n", false), "bad\\tthing\\nsecond\\u{1b}[0m");
        assert_eq!(one_line(b"abc", true), "abc...");
        assert_eq!(one_line(b"\xffok", false), "\u{fffd}ok");
    }

    #[test]
    fn disabled_is_healthy_once() {
        let poll = Poll::new().expect("poll");
        let t0 = Instant::now();
        let mut h = Health::new(&Check::Disabled, None, Duration::from_secs(2), t0);
        assert_eq!(h.deadline(), Some(t0));
        assert_eq!(h.on_timer(t0, poll.registry(), Token(0)), Some(Verdict::Healthy));
        assert_eq!(h.deadline(), None);
        assert_eq!(h.on_timer(t0 + Duration::from_secs(10), poll.registry(), Token(0)), None);
        assert_eq!(h.describe(), "disabled");
    }

    #[test]
    fn tcp_without_ipv4_is_unhealthy_every_interval() {
        let poll = Poll::new().expect("poll");
        let t0 = Instant::now();
        let i = Duration::from_secs(2);
        let mut h = Health::new(&Check::Tcp(80), None, i, t0);
        let bad = Some(Verdict::Unhealthy("no IPv4 address on the interface".into()));
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
        assert_eq!(Health::new(&Check::Tcp(80), ip, i, t0).describe(), "tcp 192.0.2.11:80 every 2s");
        let s = Check::Script(Script { argv: vec!["/x".into(), "a".into()] });
        assert_eq!(Health::new(&s, ip, i, t0).describe(), "script /x a every 2s");
    }

    #[test]
    fn foreign_pids_are_ignored() {
        let mut h = Health::new(&Check::Disabled, None, Duration::from_secs(2), Instant::now());
        assert_eq!(h.on_child_exit(12345, Exit::Code(0)), None);
    }
}
