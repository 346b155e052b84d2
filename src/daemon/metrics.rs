//! `OPENSHIFT_HA_METRICS_PORT`: a plain HTTP/1.1 listener in the event loop serving
//! `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz`.
//!
//! Never blocks and never grows without bound: at most [`MAX_CONNS`] connections, requests
//! of at most [`MAX_REQUEST`] bytes (else 431), one request per connection, every
//! connection closed after [`IDLE_TIMEOUT`] at the latest. When every slot is taken, a new
//! connection evicts the oldest one still waiting for its request, so idle connections
//! cannot lock out a scrape.
//!
//! Tokens: the listener uses the token given to [`Metrics::open`]; connection `i` uses
//! `Token(listener + 1 + i)`, so the loop must keep `listener ..= listener + MAX_CONNS` free.
use super::health::CheckStats;
use super::status::Status;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CONNS: usize = 16;
/// Longest request (request line and headers) accepted.
pub const MAX_REQUEST: usize = 8192;
/// How long a connection may take to send its request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the rest of a request is read and discarded after the answer, so that closing
/// with unread data (which sends a RST) cannot destroy the answer in flight.
const LINGER: Duration = Duration::from_secs(1);

/// Counters the loop keeps beside the status snapshot, for the metrics only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per instance, in the order of [`Status::instances`]; missing entries count as zero.
    pub instances: Vec<InstanceStats>,
    /// The health check, from [`super::health::Health::stats`].
    pub check: CheckStats,
    /// Notify scripts that could not be executed.
    pub notify_exec_failures: u64,
}

/// Per-instance counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// `Entering ... STATE` events.
    pub transitions: u64,
    /// Adverts sent successfully (including priority 0).
    pub adverts_sent: u64,
    /// Adverts accepted for this instance.
    pub adverts_received: u64,
}

/// Where a connection is in its single exchange.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting the request.
    Reading,
    /// Sending the answer.
    Writing,
    /// Answer sent and our side shut down; discarding input until the peer closes.
    Draining,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    phase: Phase,
    request: Vec<u8>,
    response: Vec<u8>,
    written: usize,
    accepted: Instant,
    deadline: Instant,
}

/// The metrics listener and its connections.
#[derive(Debug)]
pub struct Metrics {
    listener: TcpListener,
    token: Token,
    conns: Vec<Option<Conn>>,
}

impl Metrics {
    /// Listens on `0.0.0.0:port`, registered under `listener_token`.
    pub fn open(port: u16, registry: &Registry, listener_token: Token) -> io::Result<Metrics> {
        Self::open_on(
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port),
            registry,
            listener_token,
        )
    }

    /// Listens on `addr` (port 0 = any free port, see [`Metrics::local_addr`]).
    pub fn open_on(
        addr: SocketAddrV4,
        registry: &Registry,
        listener_token: Token,
    ) -> io::Result<Metrics> {
        let mut listener = TcpListener::bind(SocketAddr::V4(addr))?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        Ok(Metrics {
            listener,
            token: listener_token,
            conns: (0..MAX_CONNS).map(|_| None).collect(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether `token` is the listener's or one of its connections'.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.token.0 && token.0 - self.token.0 <= MAX_CONNS
    }

    /// Number of open connections.
    pub fn connections(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// Handles readiness of an owned token: accepts, reads requests, writes answers.
    /// `status` and `stats` are what `/metrics` shows if a request completes now.
    pub fn on_ready(&mut self, token: Token, registry: &Registry, status: &Status, stats: &Stats) {
        if token == self.token {
            return self.accept(registry);
        }
        let Some(slot) = token
            .0
            .checked_sub(self.token.0 + 1)
            .filter(|&i| i < MAX_CONNS)
        else {
            return;
        };
        let Some(conn) = &mut self.conns[slot] else {
            return;
        };
        if !conn.advance(registry, token, || render_metrics(status, stats)) {
            self.close(slot, registry);
        }
    }

    /// The earliest connection deadline; `None` without connections.
    pub fn deadline(&self) -> Option<Instant> {
        self.conns.iter().flatten().map(|c| c.deadline).min()
    }

    /// Closes connections whose deadline has passed.
    pub fn on_timer(&mut self, now: Instant, registry: &Registry) {
        for slot in 0..MAX_CONNS {
            if self.conns[slot].as_ref().is_some_and(|c| c.deadline <= now) {
                self.close(slot, registry);
            }
        }
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock: drained. Anything else (EMFILE, ...): try again on the next
                // connection rather than spin.
                Err(_) => return,
            };
            let Some(slot) = self.free_slot(registry) else {
                continue; // dropped: closed at once
            };
            let token = Token(self.token.0 + 1 + slot);
            if registry
                .register(&mut stream, token, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            let now = Instant::now();
            self.conns[slot] = Some(Conn {
                stream,
                phase: Phase::Reading,
                request: Vec::new(),
                response: Vec::new(),
                written: 0,
                accepted: now,
                deadline: now + IDLE_TIMEOUT,
            });
        }
    }

    /// A free slot, evicting the oldest connection still waiting for its request if needed.
    fn free_slot(&mut self, registry: &Registry) -> Option<usize> {
        if let Some(i) = self.conns.iter().position(Option::is_none) {
            return Some(i);
        }
        let oldest = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.as_ref()
                    .filter(|c| c.phase == Phase::Reading)
                    .map(|c| (c.accepted, i))
            })
            .min()?
            .1;
        self.close(oldest, registry);
        Some(oldest)
    }

    fn close(&mut self, slot: usize, registry: &Registry) {
        if let Some(mut conn) = self.conns[slot].take() {
            let _ = registry.deregister(&mut conn.stream);
        }
    }
}

impl Conn {
    /// Moves the exchange on; `false` when the connection is finished and must be closed.
    fn advance(
        &mut self,
        registry: &Registry,
        token: Token,
        metrics: impl FnOnce() -> String,
    ) -> bool {
        if self.phase == Phase::Reading {
            match self.read_request() {
                Ok(false) => return true,
                Ok(true) => {
                    self.response = answer(&self.request, metrics);
                    self.phase = Phase::Writing;
                    if registry
                        .reregister(&mut self.stream, token, Interest::WRITABLE)
                        .is_err()
                    {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        if self.phase == Phase::Writing {
            match self.write_response() {
                Ok(false) => return true,
                Ok(true) => {
                    let _ = self.stream.shutdown(Shutdown::Write);
                    self.phase = Phase::Draining;
                    self.deadline = Instant::now() + LINGER;
                    self.response = Vec::new();
                    if registry
                        .reregister(&mut self.stream, token, Interest::READABLE)
                        .is_err()
                    {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        self.drain()
    }

    /// Reads what is available; `Ok(true)` once the request is complete or over the limit.
    fn read_request(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 2048];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    let room = (MAX_REQUEST + 1).saturating_sub(self.request.len());
                    self.request.extend_from_slice(&buf[..n.min(room)]);
                    if head_end(&self.request).is_some() || self.request.len() > MAX_REQUEST {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes what the socket takes; `Ok(true)` once everything is sent.
    fn write_response(&mut self) -> io::Result<bool> {
        while self.written < self.response.len() {
            match self.stream.write(&self.response[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Discards input; `false` once the peer has closed (or the socket failed).
    fn drain(&mut self) -> bool {
        let mut buf = [0u8; 2048];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Index just past the blank line ending the request head, if it has arrived.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    crlf.into_iter().chain(lf).min()
}

/// The complete HTTP response to a request head (or to an oversized or malformed one).
fn answer(request: &[u8], metrics: impl FnOnce() -> String) -> Vec<u8> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let Some(end) = head_end(request).filter(|&e| e <= MAX_REQUEST) else {
        return response(
            431,
            "Request Header Fields Too Large",
            TEXT,
            "request too large\n",
            "",
        );
    };
    let line = request[..end].split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [method, target, version] = words.as_slice() else {
        return response(400, "Bad Request", TEXT, "bad request\n", "");
    };
    if !version.starts_with(b"HTTP/1.") || !target.starts_with(b"/") || method.is_empty() {
        return response(400, "Bad Request", TEXT, "bad request\n", "");
    }
    if *method != b"GET" {
        return response(
            405,
            "Method Not Allowed",
            TEXT,
            "only GET\n",
            "Allow: GET\r\n",
        );
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(&[]);
    match path {
        b"/metrics" => response(
            200,
            "OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &metrics(),
            "",
        ),
        b"/healthz" => response(200, "OK", TEXT, "ok\n", ""),
        _ => response(
            404,
            "Not Found",
            TEXT,
            "not found; try /metrics or /healthz\n",
            "",
        ),
    }
}

fn response(code: u16, reason: &str, content_type: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The state words of the status file, in the order of their gauge values.
const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

/// The Prometheus text exposition (format 0.0.4) of a status snapshot and the counters.
pub fn render_metrics(status: &Status, stats: &Stats) -> String {
    let mut out = String::new();
    let per_instance = |out: &mut String,
                        name: &str,
                        kind: &str,
                        help: &str,
                        value: &dyn Fn(usize) -> Option<String>| {
        family(out, name, kind, help);
        for (i, inst) in status.instances.iter().enumerate() {
            if let Some(v) = value(i) {
                let _ = writeln!(
                    out,
                    "{name}{{{}}} {v}",
                    instance_labels(&inst.name, inst.vrid, &[])
                );
            }
        }
    };
    let counts = |i: usize| stats.instances.get(i).copied().unwrap_or_default();

    per_instance(
        &mut out,
        "ipfailover_instance_state",
        "gauge",
        "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
        &|i| {
            STATES
                .iter()
                .position(|s| *s == status.instances[i].state)
                .map(|v| v.to_string())
        },
    );
    family(
        &mut out,
        "ipfailover_instance_in_state",
        "gauge",
        "1 for the VRRP state the instance is in, else 0.",
    );
    for inst in &status.instances {
        for s in STATES {
            let labels = instance_labels(&inst.name, inst.vrid, &[("state", s)]);
            let _ = writeln!(
                out,
                "ipfailover_instance_in_state{{{labels}}} {}",
                u8::from(inst.state == s)
            );
        }
    }
    per_instance(
        &mut out,
        "ipfailover_instance_priority",
        "gauge",
        "Configured VRRP priority.",
        &|i| Some(status.instances[i].priority.to_string()),
    );
    per_instance(
        &mut out,
        "ipfailover_instance_last_transition_timestamp_seconds",
        "gauge",
        "Unix time of the last state change.",
        &|i| Some(seconds(status.instances[i].since_ms as f64 / 1000.0)),
    );
    per_instance(
        &mut out,
        "ipfailover_instance_transitions_total",
        "counter",
        "State changes since start.",
        &|i| Some(counts(i).transitions.to_string()),
    );
    per_instance(
        &mut out,
        "ipfailover_adverts_sent_total",
        "counter",
        "VRRP adverts sent.",
        &|i| Some(counts(i).adverts_sent.to_string()),
    );
    per_instance(
        &mut out,
        "ipfailover_adverts_received_total",
        "counter",
        "Valid VRRP adverts accepted.",
        &|i| Some(counts(i).adverts_received.to_string()),
    );

    family(
        &mut out,
        "ipfailover_receive_errors_total",
        "counter",
        "VRRP packets dropped, by reason.",
    );
    for (kind, n) in status.counters.iter().filter(|(k, _)| k != "accepted") {
        let _ = writeln!(
            out,
            "ipfailover_receive_errors_total{{kind=\"{}\"}} {n}",
            escape(kind)
        );
    }

    let check = &stats.check;
    family(
        &mut out,
        "ipfailover_check_up",
        "gauge",
        "1 if the health check passes (after rise/fall), else 0.",
    );
    if let Some(up) = check.up {
        let _ = writeln!(out, "ipfailover_check_up {}", u8::from(up));
    }
    family(
        &mut out,
        "ipfailover_check_runs_total",
        "counter",
        "Completed health check runs, by result.",
    );
    let _ = writeln!(
        out,
        "ipfailover_check_runs_total{{result=\"success\"}} {}",
        check.successes
    );
    let _ = writeln!(
        out,
        "ipfailover_check_runs_total{{result=\"failure\"}} {}",
        check.failures
    );
    family(
        &mut out,
        "ipfailover_check_duration_seconds",
        "gauge",
        "Duration of the last health check run.",
    );
    if let Some(d) = check.last_duration {
        let _ = writeln!(
            out,
            "ipfailover_check_duration_seconds {}",
            seconds(d.as_secs_f64())
        );
    }
    family(
        &mut out,
        "ipfailover_script_exec_failures_total",
        "counter",
        "Scripts that could not be executed at all.",
    );
    let _ = writeln!(
        out,
        "ipfailover_script_exec_failures_total{{script=\"check\"}} {}",
        check.exec_failures
    );
    let _ = writeln!(
        out,
        "ipfailover_script_exec_failures_total{{script=\"notify\"}} {}",
        stats.notify_exec_failures
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn instance_labels(name: &str, vrid: u8, extra: &[(&str, &str)]) -> String {
    let mut labels = format!("instance=\"{}\",vrid=\"{vrid}\"", escape(name));
    for (k, v) in extra {
        let _ = write!(labels, ",{k}=\"{}\"", escape(v));
    }
    labels
}

/// A float sample value; Rust's `Display` never uses exponents, which the format allows anyway.
fn seconds(v: f64) -> String {
    format!("{v}")
}

/// Label value escaping of the text format: backslash, double quote and newline.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::InstanceStatus;
    use std::collections::BTreeSet;

    fn instance(name: &str, vrid: u8, state: &str) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            vrid,
            state: state.into(),
            priority: 200,
            master: None,
            since_ms: 1_700_000_000_250,
            vips: vec!["192.0.2.201".into()],
            why: String::new(),
        }
    }

    fn sample() -> (Status, Stats) {
        let status = Status {
            pid: 1,
            heartbeat_ms: 0,
            check: "healthy".into(),
            instances: vec![
                instance("ipfailover_VIP_1", 11, "MASTER"),
                instance("x\"y\\z\nw", 12, "FAULT"),
            ],
            counters: vec![
                ("accepted".into(), 40),
                ("password".into(), 3),
                ("unknown_vrid".into(), 1),
            ],
        };
        let stats = Stats {
            instances: vec![InstanceStats {
                transitions: 2,
                adverts_sent: 30,
                adverts_received: 5,
            }],
            check: CheckStats {
                up: Some(true),
                successes: 7,
                failures: 2,
                last_duration: Some(Duration::from_millis(12)),
                exec_failures: 1,
            },
            notify_exec_failures: 4,
        };
        (status, stats)
    }

    /// A strict reader of the text format: every sample belongs to a family announced by
    /// HELP then TYPE, names and labels are well-formed, values are floats. Returns samples.
    pub(crate) fn strict_parse(text: &str) -> Vec<(String, String, f64)> {
        let mut families: BTreeSet<String> = BTreeSet::new();
        let mut help: Option<String> = None;
        let mut current: Option<String> = None;
        let mut samples = Vec::new();
        assert!(text.ends_with('\n'), "no final newline");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                assert!(families.insert(name.clone()), "family {name} twice");
                help = Some(name);
                current = None;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert_eq!(help.as_deref(), Some(name), "TYPE without HELP: {line}");
                assert!(["counter", "gauge"].contains(&kind), "{line}");
                current = Some(name.to_string());
            } else {
                let (series, value) = line.rsplit_once(' ').expect("sample: series value");
                let (name, labels) = match series.split_once('{') {
                    Some((n, l)) => (n, l.strip_suffix('}').expect("closing brace")),
                    None => (series, ""),
                };
                assert_eq!(
                    current.as_deref(),
                    Some(name),
                    "sample outside its family: {line}"
                );
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                    "{line}"
                );
                check_labels(labels, line);
                let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
                samples.push((name.to_string(), labels.to_string(), v));
            }
        }
        samples
    }

    fn check_labels(mut labels: &str, line: &str) {
        while !labels.is_empty() {
            let (key, rest) = labels
                .split_once("=\"")
                .unwrap_or_else(|| panic!("label in {line}"));
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => {
                        let esc = chars.next().map(|(_, c)| c);
                        assert!(
                            matches!(esc, Some('\\' | '"' | 'n')),
                            "bad escape in {line}"
                        );
                    }
                    Some((i, '"')) => break i,
                    Some((_, '\n')) => panic!("raw newline in {line}"),
                    Some(_) => {}
                    None => panic!("unterminated label in {line}"),
                }
            };
            labels = &rest[end + 1..];
            labels = labels.strip_prefix(',').unwrap_or(labels);
        }
    }

    #[test]
    fn render_is_strictly_valid_and_complete() {
        let (status, stats) = sample();
        let text = render_metrics(&status, &stats);
        let samples = strict_parse(&text);
        let get = |name: &str, labels: &str| {
            samples
                .iter()
                .find(|(n, l, _)| n == name && l == labels)
                .map(|s| s.2)
                .unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{text}"))
        };
        let i1 = "instance=\"ipfailover_VIP_1\",vrid=\"11\"";
        assert_eq!(get("ipfailover_instance_state", i1), 2.0);
        assert_eq!(
            get(
                "ipfailover_instance_in_state",
                &format!("{i1},state=\"MASTER\"")
            ),
            1.0
        );
        assert_eq!(
            get(
                "ipfailover_instance_in_state",
                &format!("{i1},state=\"BACKUP\"")
            ),
            0.0
        );
        assert_eq!(get("ipfailover_instance_priority", i1), 200.0);
        assert_eq!(
            get("ipfailover_instance_last_transition_timestamp_seconds", i1),
            1_700_000_000.25
        );
        assert_eq!(get("ipfailover_instance_transitions_total", i1), 2.0);
        assert_eq!(get("ipfailover_adverts_sent_total", i1), 30.0);
        assert_eq!(get("ipfailover_adverts_received_total", i1), 5.0);
        assert_eq!(
            get("ipfailover_receive_errors_total", "kind=\"password\""),
            3.0
        );
        assert_eq!(
            get("ipfailover_receive_errors_total", "kind=\"unknown_vrid\""),
            1.0
        );
        assert!(!text.contains("kind=\"accepted\""));
        assert_eq!(get("ipfailover_check_up", ""), 1.0);
        assert_eq!(
            get("ipfailover_check_runs_total", "result=\"success\""),
            7.0
        );
        assert_eq!(
            get("ipfailover_check_runs_total", "result=\"failure\""),
            2.0
        );
        assert_eq!(get("ipfailover_check_duration_seconds", ""), 0.012);
        assert_eq!(
            get("ipfailover_script_exec_failures_total", "script=\"check\""),
            1.0
        );
        assert_eq!(
            get("ipfailover_script_exec_failures_total", "script=\"notify\""),
            4.0
        );
        // The second instance has no counters yet: zeros, not missing series.
        let i2 = "instance=\"x\\\"y\\\\z\\nw\",vrid=\"12\"";
        assert_eq!(get("ipfailover_instance_state", i2), 3.0);
        assert_eq!(get("ipfailover_adverts_sent_total", i2), 0.0);
    }

    #[test]
    fn label_escaping() {
        assert_eq!(escape("plain_VIP_1"), "plain_VIP_1");
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn before_the_first_check_and_without_instances() {
        let text = render_metrics(&Status::default(), &Stats::default());
        strict_parse(&text);
        assert!(!text.contains("\nipfailover_check_up "), "{text}");
        assert!(
            !text.contains("\nipfailover_check_duration_seconds "),
            "{text}"
        );
        assert!(text.contains("# TYPE ipfailover_check_up gauge\n"));
    }

    #[test]
    fn answers_by_method_and_path() {
        let ask = |req: &[u8]| String::from_utf8(answer(req, || "m 1\n".into())).expect("utf8");
        let r = ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4"),
            "{r}"
        );
        assert!(
            r.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\nm 1\n"),
            "{r}"
        );
        assert!(ask(b"GET /metrics?x=1 HTTP/1.0\n\n").starts_with("HTTP/1.1 200 "));
        assert!(ask(b"GET /healthz HTTP/1.1\r\n\r\n").ends_with("\r\n\r\nok\n"));
        assert!(ask(b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(ask(b"GET /metricsx HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        let r = ask(b"POST /metrics HTTP/1.1\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 405 ") && r.contains("Allow: GET\r\n"),
            "{r}"
        );
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
            b"GET /metrics SPDY/3\r\n\r\n",
        ] {
            assert!(
                ask(bad).starts_with("HTTP/1.1 400 "),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let big = [
            b"GET /metrics HTTP/1.1\r\nX: ".as_slice(),
            &[b'a'; MAX_REQUEST],
        ]
        .concat();
        assert!(ask(&big).starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn owns_its_token_range() {
        let poll = mio::Poll::new().expect("poll");
        let m = Metrics::open_on(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            poll.registry(),
            Token(100),
        )
        .expect("listen");
        assert!(!m.owns(Token(99)));
        assert!(m.owns(Token(100)) && m.owns(Token(100 + MAX_CONNS)));
        assert!(!m.owns(Token(101 + MAX_CONNS)));
        assert_eq!((m.deadline(), m.connections()), (None, 0));
    }
}
