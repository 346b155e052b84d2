//! The built-in HTTP check (`OPENSHIFT_HA_CHECK_HTTP_PATH`) and rise/fall damping
//! (`OPENSHIFT_HA_CHECK_RISE` / `_FALL`), against a real HTTP server. Needs root.
//!
//! Part 1 drives [`Health`] with its own mio loop in a private network namespace (fast,
//! exact verdicts). Part 2 runs the daemon on a LAN and watches its state and log.
mod common;

use common::{Env, HttpServer, Lan, Reply, in_private_netns, wait_until};
use ipfailover::config::Check;
use ipfailover::daemon::health::{Health, Verdict};
use mio::{Events, Poll, Token};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::thread;
use std::time::{Duration, Instant};

const TOKEN: Token = Token(4);
const PATH: &str = "/healthz/ready";
/// Short interval for the direct tests: also the timeout.
const I: Duration = Duration::from_millis(300);

/// A mio loop around one check.
struct Loop {
    poll: Poll,
    events: Events,
}

impl Loop {
    fn new() -> Loop {
        Loop {
            poll: Poll::new().expect("poll"),
            events: Events::with_capacity(8),
        }
    }

    /// Every verdict the check returns until `end`.
    fn verdicts_until(&mut self, h: &mut Health, end: Instant, max: usize) -> Vec<Verdict> {
        let mut out = Vec::new();
        while Instant::now() < end && out.len() < max {
            let now = Instant::now();
            if h.deadline().is_some_and(|d| d <= now) {
                out.extend(h.on_timer(now, self.poll.registry(), TOKEN));
                continue;
            }
            let wait = h
                .deadline()
                .map_or(end, |d| d.min(end))
                .saturating_duration_since(now);
            self.poll.poll(&mut self.events, Some(wait)).expect("poll");
            if self.events.iter().any(|e| e.token() == TOKEN) {
                out.extend(h.on_ready(self.poll.registry()));
            }
        }
        out
    }

    /// The next verdict within `within`.
    fn next(&mut self, h: &mut Health, within: Duration) -> Verdict {
        let mut v = self.verdicts_until(h, Instant::now() + within, 1);
        v.pop()
            .unwrap_or_else(|| panic!("no verdict within {within:?}"))
    }
}

fn server(reply: Reply) -> HttpServer {
    HttpServer::start(None, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), reply)
}

fn check(srv: &HttpServer, start: Instant) -> Health {
    let c = Check::Http {
        port: srv.addr.port(),
        path: PATH.into(),
    };
    Health::new(&c, Some(Ipv4Addr::LOCALHOST), I, start)
}

fn unhealthy(srv: &HttpServer, what: &str) -> Verdict {
    Verdict::Unhealthy(format!("GET http://{}{PATH}: {what}", srv.addr))
}

#[test]
fn each_kind_of_answer_gives_its_verdict() {
    in_private_netns(|| {
        let srv = server(Reply::Ok);
        let mut lp = Loop::new();
        let mut h = check(&srv, Instant::now());
        assert_eq!(
            h.describe(),
            format!("http GET {}{PATH} every 300ms", srv.addr)
        );
        assert_eq!(lp.next(&mut h, I * 2), Verdict::Healthy);
        let req = srv.requests().pop().unwrap_or_default();
        assert!(
            req.starts_with(&format!("GET {PATH} HTTP/1.1\r\nHost: {}\r\n", srv.addr)),
            "{req:?}"
        );
        assert!(req.contains("\r\nConnection: close\r\n"), "{req:?}");

        let cases = [
            (Reply::Unavailable, "503 Service Unavailable"),
            (Reply::Close, "connection closed before the status line"),
            (Reply::Reset, "Connection reset by peer"),
            (Reply::Hang, "no response after 300ms"),
        ];
        for (reply, why) in cases {
            srv.set(reply);
            let t = Instant::now();
            assert_eq!(lp.next(&mut h, I * 3), unhealthy(&srv, why), "{reply:?}");
            eprintln!("{reply:?}: verdict after {:?}", t.elapsed());
        }
        srv.set(Reply::Split);
        assert_eq!(
            lp.next(&mut h, I * 3),
            Verdict::Healthy,
            "status line in two pieces"
        );
        srv.set(Reply::Ok);
        assert_eq!(lp.next(&mut h, I * 3), Verdict::Healthy);
        let s = h.stats();
        assert_eq!((s.successes, s.failures, s.up), (3, 4, Some(true)));
        assert!(s.last_duration.is_some_and(|d| d < I));
    });
}

#[test]
fn refused_and_garbage() {
    in_private_netns(|| {
        let srv = server(Reply::Ok);
        let port = srv.addr.port();
        drop(srv);
        let mut lp = Loop::new();
        let c = Check::Http {
            port,
            path: PATH.into(),
        };
        let mut h = Health::new(&c, Some(Ipv4Addr::LOCALHOST), I, Instant::now());
        assert_eq!(
            lp.next(&mut h, I * 2),
            Verdict::Unhealthy(format!(
                "GET http://127.0.0.1:{port}{PATH}: connect: Connection refused"
            ))
        );

        // Something that is not HTTP at all answers on the port.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let t = thread::spawn(move || {
            use std::io::Write;
            if let Ok((mut c, _)) = l.accept() {
                let _ = c.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
                thread::sleep(Duration::from_millis(200));
            }
        });
        let c = Check::Http {
            port: addr.port(),
            path: PATH.into(),
        };
        let mut h = Health::new(&c, Some(Ipv4Addr::LOCALHOST), I, Instant::now());
        match lp.next(&mut h, I * 2) {
            Verdict::Unhealthy(why) => assert!(why.contains("SSH-2.0"), "{why}"),
            v => panic!("{v:?}"),
        }
        let _ = t.join();
    });
}

#[test]
fn fall_and_rise_damp_single_results() {
    in_private_netns(|| {
        let srv = server(Reply::Ok);
        let mut lp = Loop::new();
        let mut h = check(&srv, Instant::now()).with_rise_fall(2, 3);
        assert_eq!(
            lp.next(&mut h, I * 2),
            Verdict::Healthy,
            "the first result decides"
        );

        // Two failures in a row, then success: never reported unhealthy.
        srv.queue(&[Reply::Unavailable, Reply::Unavailable]);
        let v = lp.verdicts_until(&mut h, Instant::now() + I * 4 + I / 2, 10);
        assert!(v.iter().all(|v| *v == Verdict::Healthy), "{v:?}");
        assert_eq!(h.stats().failures, 2);
        assert_eq!(h.stats().up, Some(true));

        // The third consecutive failure is reported.
        srv.set(Reply::Unavailable);
        let v = lp.verdicts_until(&mut h, Instant::now() + I * 4, 1);
        assert_eq!(v, vec![unhealthy(&srv, "503 Service Unavailable")]);
        assert_eq!(h.stats().up, Some(false));

        // One success is not enough to recover (rise 2), the second is.
        srv.set(Reply::Ok);
        let t = Instant::now();
        assert_eq!(lp.next(&mut h, I * 4), Verdict::Healthy);
        assert!(
            t.elapsed() >= I,
            "recovered after a single success ({:?})",
            t.elapsed()
        );
        assert_eq!(h.stats().up, Some(true));
    });
}

// ---- Part 2: the daemon on a LAN ----

const PORT: u16 = 8080;
const VIP: &str = "192.0.2.201";
const INSTANCE: &str = "ipfailover_VIP_1";

fn http_env() -> Env {
    Env::lan(VIP)
        .set("OPENSHIFT_HA_MONITOR_PORT", PORT)
        .set("OPENSHIFT_HA_CHECK_HTTP_PATH", PATH)
        .set("OPENSHIFT_HA_CHECK_INTERVAL", 1)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt")
}

fn count(log: &str, phrase: &str) -> usize {
    log.matches(&format!("({INSTANCE}) {phrase}")).count()
}

/// One node: 200 → MASTER; 503, a hang, an early close each → FAULT with the reason in the
/// log; 200 again → back to MASTER every time.
#[test]
fn daemon_faults_on_each_failure_and_recovers() {
    let lan = Lan::new(1);
    let vip: Ipv4Addr = common::ip(VIP);
    let srv = lan.http_server(0, PORT, Reply::Ok);
    let d = lan.start(0, &http_env());
    let master = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        lan.holders(vip) == vec![0]
    });
    assert!(
        master.is_some(),
        "no MASTER with a healthy HTTP check:\n{}",
        d.stderr()
    );
    assert!(
        d.stderr().contains(&format!(
            "Health check: http GET 192.0.2.10:{PORT}{PATH} every 1s"
        )),
        "{}",
        d.stderr()
    );

    let url = format!("GET http://192.0.2.10:{PORT}{PATH}");
    let cases = [
        (
            Reply::Unavailable,
            format!("{url}: 503 Service Unavailable"),
        ),
        (Reply::Hang, format!("{url}: no response after 1s")),
        (
            Reply::Close,
            format!("{url}: connection closed before the status line"),
        ),
    ];
    for (n, (reply, why)) in cases.into_iter().enumerate() {
        srv.set(reply);
        let fault = wait_until(Duration::from_secs(4), Duration::from_millis(50), || {
            count(&d.stderr(), "Entering FAULT STATE") == n + 1
        });
        assert!(fault.is_some(), "{reply:?}: no FAULT:\n{}", d.stderr());
        assert!(lan.holders(vip).is_empty(), "{reply:?}: VIP kept in FAULT");
        assert!(
            d.stderr().contains(&format!("failed: {why}")),
            "{reply:?}: no {why:?} in\n{}",
            d.stderr()
        );
        srv.set(Reply::Ok);
        let back = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
            count(&d.stderr(), "Entering MASTER STATE") == n + 2 && lan.holders(vip) == vec![0]
        });
        assert!(
            back.is_some(),
            "{reply:?}: not MASTER again:\n{}",
            d.stderr()
        );
    }
    assert!(d.exited().is_none());
}

/// With fall 3 a single 503 (or two) does not fault; three in a row do.
///
/// Needs the event loop to apply `OPENSHIFT_HA_CHECK_RISE`/`_FALL`
/// (`Health::new(..).with_rise_fall(plan.check_rise, plan.check_fall)`): ignored until then.
#[test]
fn daemon_damps_with_fall() {
    let lan = Lan::new(1);
    let vip: Ipv4Addr = common::ip(VIP);
    let srv = lan.http_server(0, PORT, Reply::Ok);
    let d = lan.start(0, &http_env().set("OPENSHIFT_HA_CHECK_FALL", 3));
    let master = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        lan.holders(vip) == vec![0]
    });
    assert!(master.is_some(), "no MASTER:\n{}", d.stderr());
    assert!(
        d.stderr().contains("every 1s (rise 1, fall 3)"),
        "{}",
        d.stderr()
    );

    srv.queue(&[Reply::Unavailable, Reply::Unavailable]);
    let damped = wait_until(Duration::from_secs(4), Duration::from_millis(50), || {
        d.stderr()
            .contains("Health check failed (2 of 3 failures before FAULT)")
    });
    assert!(
        damped.is_some(),
        "damped failures not logged:\n{}",
        d.stderr()
    );
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        count(&d.stderr(), "Entering FAULT STATE"),
        0,
        "{}",
        d.stderr()
    );
    assert_eq!(lan.holders(vip), vec![0]);

    srv.set(Reply::Unavailable);
    let fault = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        count(&d.stderr(), "Entering FAULT STATE") == 1
    });
    assert!(
        fault.is_some(),
        "no FAULT after three 503s:\n{}",
        d.stderr()
    );
}
