//! The metrics listener (`OPENSHIFT_HA_METRICS_PORT`). Needs root.
//!
//! Part 1 drives [`Metrics`] with its own mio loop in a private network namespace: format,
//! routes, limits. Part 2 scrapes the daemon on a LAN with curl; it needs the event loop to
//! open and serve `Metrics`, so it is ignored until the lead wires it in.
mod common;

use common::{Env, Lan, in_private_netns, parse_exposition, wait_until};
use ipfailover::daemon::health::CheckStats;
use ipfailover::daemon::metrics::{
    IDLE_TIMEOUT, InstanceStats, MAX_CONNS, MAX_REQUEST, Metrics, Stats,
};
use ipfailover::daemon::status::{InstanceStatus, Status};
use mio::{Events, Poll, Token};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---- Part 1: the server on its own loop ----

/// A [`Metrics`] on 127.0.0.1 served by a loop on its own thread; stops on drop.
struct Served {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Most connections open at once.
    peak: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(status: Status, stats: Stats) -> Served {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let (stop2, peak2) = (stop.clone(), peak.clone());
    let thread = thread::spawn(move || {
        let mut poll = Poll::new().expect("poll");
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let mut m = Metrics::open_on(addr, poll.registry(), Token(100)).expect("listen");
        tx.send(m.local_addr().expect("addr")).expect("send addr");
        let mut events = Events::with_capacity(64);
        while !stop2.load(Ordering::SeqCst) {
            let now = Instant::now();
            let tick = Duration::from_millis(20);
            let wait = m
                .deadline()
                .map_or(tick, |d| d.saturating_duration_since(now).min(tick));
            poll.poll(&mut events, Some(wait)).expect("poll");
            for e in events.iter() {
                assert!(m.owns(e.token()), "foreign token {:?}", e.token());
                m.on_ready(e.token(), poll.registry(), &status, &stats);
            }
            m.on_timer(Instant::now(), poll.registry());
            peak2.fetch_max(m.connections(), Ordering::SeqCst);
        }
    });
    let addr = rx.recv().expect("server thread started");
    Served {
        addr,
        stop,
        peak,
        thread: Some(thread),
    }
}

/// One answer: status code, head (lower-cased), body.
struct Answer {
    code: u16,
    head: String,
    body: String,
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s
}

/// Sends `request` in one write, reads until the server closes.
fn ask(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = connect(addr);
    s.write_all(request).expect("write");
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read until close");
    let text = String::from_utf8(raw).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let code = head
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let head = head.to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    assert_eq!(len, body.len(), "Content-Length vs body");
    Answer {
        code,
        head,
        body: body.to_string(),
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n").into_bytes()
}

fn instance(n: usize) -> InstanceStatus {
    InstanceStatus {
        name: format!("ipfailover_VIP_{n}"),
        vrid: u8::try_from(n % 255 + 1).unwrap_or(1),
        state: ["BACKUP", "MASTER", "FAULT", "INIT"][n % 4].into(),
        priority: 100,
        master: None,
        since_ms: 1_700_000_000_000,
        vips: vec![format!("192.0.2.{}", n % 250 + 1)],
        why: "test".into(),
    }
}

fn sample(instances: usize) -> (Status, Stats) {
    let status = Status {
        pid: 1,
        heartbeat_ms: 0,
        check: "healthy".into(),
        instances: (1..=instances).map(instance).collect(),
        counters: vec![("accepted".into(), 10), ("password".into(), 2)],
    };
    let stats = Stats {
        instances: vec![InstanceStats {
            transitions: 3,
            adverts_sent: 9,
            adverts_received: 4,
        }],
        check: CheckStats {
            up: Some(true),
            successes: 5,
            failures: 1,
            last_duration: Some(Duration::from_micros(1500)),
            exec_failures: 0,
        },
        notify_exec_failures: 0,
    };
    (status, stats)
}

fn value(samples: &[common::Sample], name: &str, labels: &str) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| n == name && l == labels)
        .map(|s| s.2)
        .unwrap_or_else(|| panic!("no {name}{{{labels}}}"))
}

#[test]
fn serves_metrics_healthz_and_errors() {
    in_private_netns(|| {
        let (status, stats) = sample(3);
        let srv = serve(status, stats);

        let a = ask(srv.addr, &get("/metrics"));
        assert_eq!(a.code, 200);
        assert!(
            a.head.contains("content-type: text/plain; version=0.0.4"),
            "{}",
            a.head
        );
        assert!(a.head.contains("connection: close"), "{}", a.head);
        let samples = parse_exposition(&a.body).unwrap_or_else(|e| panic!("{e}\n{}", a.body));
        let i1 = "instance=\"ipfailover_VIP_1\",vrid=\"2\"";
        assert_eq!(value(&samples, "ipfailover_instance_state", i1), 2.0);
        assert_eq!(value(&samples, "ipfailover_adverts_sent_total", i1), 9.0);
        assert_eq!(
            value(
                &samples,
                "ipfailover_receive_errors_total",
                "kind=\"password\""
            ),
            2.0
        );
        assert_eq!(
            value(&samples, "ipfailover_check_duration_seconds", ""),
            0.0015
        );

        let a = ask(srv.addr, &get("/healthz"));
        assert_eq!((a.code, a.body.as_str()), (200, "ok\n"));
        assert_eq!(ask(srv.addr, &get("/")).code, 404);
        assert_eq!(ask(srv.addr, &get("/metrics/x")).code, 404);
        assert_eq!(
            ask(
                srv.addr,
                b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
            )
            .code,
            405
        );
        assert_eq!(ask(srv.addr, b"HELLO\r\n\r\n").code, 400);

        // Oversized: answered 431 although the client is still sending.
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_REQUEST * 2));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(ask(srv.addr, &big).code, 431);

        // A request trickling in byte by byte.
        let mut s = connect(srv.addr);
        for b in get("/healthz") {
            s.write_all(&[b]).expect("write");
            thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(read_answer(&mut s).code, 200);
    });
}

#[test]
fn idle_connections_do_not_block_a_scrape() {
    in_private_netns(|| {
        let (status, stats) = sample(2);
        let srv = serve(status, stats);
        let idle: Vec<TcpStream> = (0..20).map(|_| connect(srv.addr)).collect();
        // Half a request on some of them.
        for mut s in idle.iter().take(5) {
            let _ = s.write_all(b"GET /met");
        }
        thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        let a = ask(srv.addr, &get("/metrics"));
        assert_eq!(a.code, 200);
        parse_exposition(&a.body).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("scrape with 20 idle connections took {:?}", t.elapsed());
        assert!(srv.peak.load(Ordering::SeqCst) <= MAX_CONNS);
        // Evicted connections were closed, not left hanging.
        let closed = idle
            .iter()
            .filter(|s| {
                let mut r: &TcpStream = s;
                let _ = r.set_read_timeout(Some(Duration::from_millis(50)));
                match r.read(&mut [0u8; 1]) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
                }
            })
            .count();
        assert!(
            closed > 20 - MAX_CONNS,
            "only {closed} idle connections closed"
        );
        drop(idle);
    });
}

#[test]
fn silent_connection_is_closed_after_the_idle_timeout() {
    in_private_netns(|| {
        let (status, stats) = sample(1);
        let srv = serve(status, stats);
        let mut s = connect(srv.addr);
        s.set_read_timeout(Some(IDLE_TIMEOUT + Duration::from_secs(2)))
            .expect("timeout");
        s.write_all(b"GET /metrics HTTP/1.1\r\n").expect("write");
        let t = Instant::now();
        let r = s.read(&mut [0u8; 64]);
        assert!(
            matches!(r, Ok(0))
                || r.as_ref()
                    .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionReset),
            "{r:?}"
        );
        let took = t.elapsed();
        assert!(
            took >= IDLE_TIMEOUT - Duration::from_millis(100),
            "closed after {took:?}"
        );
        assert!(
            took < IDLE_TIMEOUT + Duration::from_secs(1),
            "closed after {took:?}"
        );
    });
}

#[test]
fn large_answer_is_complete() {
    in_private_netns(|| {
        let (status, stats) = sample(255);
        let srv = serve(status, stats);
        let mut s = connect(srv.addr);
        s.write_all(&get("/metrics")).expect("write");
        // Read slowly at first so the server meets a full socket buffer.
        thread::sleep(Duration::from_millis(300));
        let a = read_answer(&mut s);
        assert_eq!(a.code, 200);
        let samples = parse_exposition(&a.body).unwrap_or_else(|e| panic!("{e}"));
        let states = samples
            .iter()
            .filter(|s| s.0 == "ipfailover_instance_state")
            .count();
        assert_eq!(states, 255);
        eprintln!("{} bytes, {} samples", a.body.len(), samples.len());
    });
}

// ---- Part 2: the daemon on a LAN ----

const METRICS_PORT: u16 = 9100;
const CHECK_PORT: u16 = 8080;

/// Two nodes with the metrics listener: scraped with curl from the client, strictly parsed,
/// the master and the backup tell their states and advert counters; routes and limits hold.
#[test]
fn daemon_serves_metrics_on_the_lan() {
    let lan = Lan::new(2);
    let vip = common::ip("192.0.2.201");
    let _listeners: Vec<_> = (0..2).map(|i| lan.listen(i, CHECK_PORT)).collect();
    let env = Env::lan("192.0.2.201")
        .set("OPENSHIFT_HA_MONITOR_PORT", CHECK_PORT)
        .set("OPENSHIFT_HA_CHECK_INTERVAL", 1)
        .set("OPENSHIFT_HA_METRICS_PORT", METRICS_PORT);
    let daemons: Vec<_> = (0..2).map(|i| lan.start(i, &env)).collect();
    let mut holder = None;
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        holder = Some(lan.holders(vip))
            .filter(|h| h.len() == 1)
            .map(|h| h[0]);
        holder.is_some()
    });
    assert!(
        settled.is_some(),
        "no master; logs:\n{}\n{}",
        daemons[0].stderr(),
        daemons[1].stderr()
    );
    let master = holder.unwrap_or_default();
    thread::sleep(Duration::from_secs(2)); // a few adverts and check runs

    let url = |i: usize, path: &str| format!("http://{}:{METRICS_PORT}{path}", common::node_ip(i));
    let labels = "instance=\"ipfailover_VIP_1\",vrid=\"11\"";
    for i in 0..2 {
        let (code, body) = lan.curl_from_client(&url(i, "/metrics"));
        assert_eq!(code, 200, "node {i}: {body}");
        let samples = parse_exposition(&body).unwrap_or_else(|e| panic!("node {i}: {e}\n{body}"));
        let (state, moving) = if i == master {
            (2.0, "ipfailover_adverts_sent_total")
        } else {
            (1.0, "ipfailover_adverts_received_total")
        };
        assert_eq!(
            value(&samples, "ipfailover_instance_state", labels),
            state,
            "node {i}"
        );
        assert!(
            value(&samples, moving, labels) >= 1.0,
            "node {i}: {moving}\n{body}"
        );
        assert!(value(&samples, "ipfailover_instance_transitions_total", labels) >= 1.0);
        assert_eq!(value(&samples, "ipfailover_check_up", ""), 1.0);
        assert!(
            value(
                &samples,
                "ipfailover_check_runs_total",
                "result=\"success\""
            ) >= 1.0
        );
        assert!(value(&samples, "ipfailover_check_duration_seconds", "") < 1.0);
    }
    assert_eq!(
        lan.curl_from_client(&url(0, "/healthz")),
        (200, "ok\n".to_string())
    );
    assert_eq!(lan.curl_from_client(&url(0, "/nope")).0, 404);

    let target = SocketAddr::V4(SocketAddrV4::new(common::node_ip(0), METRICS_PORT));
    let code = lan.in_client(move || {
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 3 * MAX_REQUEST));
        ask(target, &big).code
    });
    assert_eq!(code, 431);

    // 20 idle connections held from the client, then a scrape.
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<usize>();
    let holder_thread = {
        let ns = std::path::PathBuf::from("/run/netns").join(lan.client_ns());
        thread::spawn(move || {
            let f = std::fs::File::open(&ns).expect("client netns");
            // SAFETY: moves only this thread into the client namespace.
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns");
            let conns: Vec<TcpStream> = (0..20)
                .filter_map(|_| TcpStream::connect(target).ok())
                .collect();
            let _ = ready_tx.send(conns.len());
            let _ = hold_rx.recv_timeout(Duration::from_secs(20));
            drop(conns);
        })
    };
    assert_eq!(ready_rx.recv_timeout(Duration::from_secs(5)), Ok(20));
    let (code, body) = lan.curl_from_client(&url(0, "/metrics"));
    assert_eq!(code, 200, "scrape with 20 idle connections: {body}");
    parse_exposition(&body).unwrap_or_else(|e| panic!("{e}"));
    let _ = hold_tx.send(());
    let _ = holder_thread.join();
    for d in &daemons {
        assert!(
            d.exited().is_none(),
            "daemon on node {} died:\n{}",
            d.node,
            d.stderr()
        );
    }
}
