//! Scripts, process groups, reaping and the health check, against the real kernel.
//!
//! Every test holds `LOCK`: `reap()` (called by the test loop) waits for *any* child, so
//! two tests running at once would steal each other's exits.
use ipfailover::config::{Check, Script};
use ipfailover::daemon::health::{Health, Verdict};
use ipfailover::sys::process::{self, Exit};
use ipfailover::sys::signals::SignalFd;
use mio::{Events, Poll, Token};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const TOKEN: Token = Token(7);

/// A minimal event loop around one check: timers, readiness, and reaping every child.
struct Loop {
    poll: Poll,
    events: Events,
}

impl Loop {
    fn new() -> Self {
        Loop {
            poll: Poll::new().expect("poll"),
            events: Events::with_capacity(16),
        }
    }

    /// Runs until `end`, returning every verdict in order.
    fn run_until(&mut self, h: &mut Health, end: Instant, max: usize) -> Vec<Verdict> {
        let mut out = Vec::new();
        loop {
            let now = Instant::now();
            if now >= end || out.len() >= max {
                return out;
            }
            if let Some(d) = h.deadline()
                && d <= now
            {
                out.extend(h.on_timer(now, self.poll.registry(), TOKEN));
                continue;
            }
            let mut wait = end - now;
            if let Some(d) = h.deadline() {
                wait = wait.min(d - now);
            }
            // Short polls stand in for SIGCHLD, which another test thread might receive.
            self.poll
                .poll(&mut self.events, Some(wait.min(Duration::from_millis(10))))
                .expect("poll");
            if self.events.iter().any(|e| e.token() == TOKEN) {
                out.extend(h.on_ready(self.poll.registry()));
            }
            for (pid, exit) in process::reap() {
                out.extend(h.on_child_exit(pid, exit));
            }
        }
    }

    fn next_verdict(&mut self, h: &mut Health, within: Duration) -> Verdict {
        let v = self.run_until(h, Instant::now() + within, 1);
        v.into_iter().next().expect("a verdict in time")
    }
}

/// (pid, ppid, pgid, state) of every process.
fn processes() -> Vec<(i32, i32, i32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..." — comm may contain anything, so split after ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let pid: i32 = match stat[..close].split(' ').next().and_then(|p| p.parse().ok()) {
            Some(p) => p,
            None => continue,
        };
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let state = f[0].chars().next().unwrap_or('?');
        out.push((
            pid,
            f[1].parse().unwrap_or(0),
            f[2].parse().unwrap_or(0),
            state,
        ));
    }
    out
}

fn group_members(pgid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.2 == pgid)
        .map(|p| p.0)
        .collect()
}

fn our_children() -> Vec<(i32, char)> {
    let me = std::process::id() as i32;
    processes()
        .into_iter()
        .filter(|p| p.1 == me)
        .map(|p| (p.0, p.3))
        .collect()
}

/// Reaps for up to `within` until `done(just reaped)` holds.
fn reap_until(within: Duration, mut done: impl FnMut(&[(i32, Exit)]) -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if done(&process::reap()) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reaps until `pid` has ended; its exit.
fn wait_for(pid: i32) -> Option<Exit> {
    let mut exit = None;
    reap_until(Duration::from_secs(5), |reaped| {
        exit = exit.or(reaped.iter().find(|r| r.0 == pid).map(|r| r.1));
        exit.is_some()
    });
    exit
}

fn tmp(name: &str) -> PathBuf {
    // One fixed directory, so that runs do not pile up; tests hold `LOCK` while using it.
    let dir = std::env::temp_dir().join("ipfailover-proc-tests");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn write_script(name: &str, body: &str, mode: u32) -> String {
    let path = tmp(name);
    std::fs::write(&path, body).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path.to_string_lossy().into_owned()
}

fn sh(body: &str) -> Check {
    Check::Script(Script {
        argv: vec!["/bin/sh".into(), "-c".into(), body.into()],
    })
}

fn unhealthy(v: Verdict) -> String {
    match v {
        Verdict::Unhealthy(why) => why,
        Verdict::Healthy => panic!("expected Unhealthy, got Healthy"),
    }
}

#[test]
fn children_start_with_default_signals() {
    let _g = lock();
    std::thread::spawn(|| {
        // Blocks SIGTERM in this thread, as the daemon does in its main thread; an ignored
        // signal would survive exec as well.
        let _fd = SignalFd::new(&[libc::SIGTERM]).expect("signalfd");
        // SAFETY: SIGUSR1 is used by no other test in this binary; restored below.
        let old = unsafe { libc::signal(libc::SIGUSR1, libc::SIG_IGN) };

        let argv = [
            "/bin/sh".to_string(),
            "-c".into(),
            "kill -TERM $$; exit 3".into(),
        ];
        let s = process::spawn_script(&argv, &[], false).expect("spawn");
        assert_eq!(wait_for(s.pid), Some(Exit::Signal(libc::SIGTERM)));

        let body = "exec grep -E '^Sig(Blk|Ign)' /proc/self/status";
        let argv = ["/bin/sh".to_string(), "-c".into(), body.into()];
        let s = process::spawn_script(&argv, &[], true).expect("spawn");
        assert_eq!(wait_for(s.pid), Some(Exit::Code(0)));
        let mut text = String::new();
        std::io::Read::read_to_string(&mut s.output.expect("captured"), &mut text).expect("read");
        let mask = |name: &str| {
            let line = text
                .lines()
                .find(|l| l.starts_with(name))
                .expect("status line");
            u64::from_str_radix(line[name.len()..].trim(), 16).expect("hex")
        };
        assert_eq!(mask("SigBlk:"), 0, "{text}");
        // Only the classic signals: glibc keeps its internal real-time ones to itself.
        assert_eq!(mask("SigIgn:") & 0x7fff_ffff, 0, "{text}");

        // SAFETY: restores the disposition saved above.
        unsafe { libc::signal(libc::SIGUSR1, old) };
    })
    .join()
    .expect("thread");
}

#[test]
fn spawned_script_gets_own_group_args_and_environment() {
    let _g = lock();
    // SAFETY: set before spawning; tests that read this variable hold the lock.
    unsafe { std::env::set_var("IPFAILOVER_TEST_VAR", "inherited") };
    let argv = [
        "/bin/sh".to_string(),
        "-c".into(),
        "echo $IPFAILOVER_TEST_VAR $0 $1; exit 4".into(),
    ];
    let s = process::spawn_script(&argv, &["zero", "one"], true).expect("spawn");
    let pgid = unsafe { libc::getpgid(s.pid) };
    assert!(
        pgid == s.pid || pgid == -1,
        "own process group (or already gone)"
    );
    assert_eq!(wait_for(s.pid), Some(Exit::Code(4)));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s.output.expect("captured"), &mut text).expect("read");
    assert_eq!(text.trim(), "inherited zero one");
}

#[test]
fn failing_script_output_is_reported_bounded() {
    let _g = lock();
    let mut lp = Loop::new();
    let i = Duration::from_secs(2);
    let mut h = Health::new(
        &sh("echo oops; echo 'on stderr' >&2; exit 3"),
        None,
        i,
        Instant::now(),
    );
    assert_eq!(
        lp.next_verdict(&mut h, i),
        Verdict::Unhealthy("exited with status 3: oops\\non stderr".into())
    );

    // Much more than a pipe holds: the script must not block, and we keep only a bounded chunk.
    let mut h = Health::new(
        &sh("yes 0123456789 | head -c 300000; exit 1"),
        None,
        i,
        Instant::now(),
    );
    let why = unhealthy(lp.next_verdict(&mut h, i));
    assert!(
        why.starts_with("exited with status 1: 0123456789\\n0123"),
        "{why}"
    );
    assert!(why.ends_with("..."), "{why}");
    assert!(why.len() < 1000, "{}", why.len());

    let mut h = Health::new(&sh("exit 0"), None, i, Instant::now());
    assert_eq!(lp.next_verdict(&mut h, i), Verdict::Healthy);
    let mut h = Health::new(&sh("kill -KILL $$"), None, i, Instant::now());
    assert_eq!(
        lp.next_verdict(&mut h, i),
        Verdict::Unhealthy("killed by signal 9".into())
    );
}

/// A hanging script is failed after the interval and its whole group is killed.
fn hang_is_killed(name: &str, body: &str) {
    let _g = lock();
    process::become_subreaper().expect("subreaper");
    let pids = tmp(name);
    let _ = std::fs::remove_file(&pids);
    let script = format!("echo $$ >> {}; {body}", pids.display());
    let interval = Duration::from_millis(300);
    let mut lp = Loop::new();
    let mut h = Health::new(&sh(&script), None, interval, Instant::now());
    let t0 = Instant::now();
    assert_eq!(
        lp.next_verdict(&mut h, Duration::from_secs(2)),
        Verdict::Unhealthy("timed out after 300ms".into())
    );
    assert!(t0.elapsed() >= interval);
    let first: i32 = std::fs::read_to_string(&pids)
        .expect("pid file")
        .lines()
        .next()
        .expect("pid")
        .parse()
        .expect("pid");
    // SIGKILL (if SIGTERM was not enough) comes at the latest when the next run is due.
    let verdicts = lp.run_until(
        &mut h,
        Instant::now() + interval + Duration::from_millis(100),
        10,
    );
    assert!(verdicts.is_empty(), "{verdicts:?}");
    assert!(
        reap_until(Duration::from_secs(1), |_| group_members(first).is_empty()),
        "group {first} survived: {:?}",
        group_members(first)
    );
    // The next run has started; dropping the check kills it too.
    let all = std::fs::read_to_string(&pids).expect("pid file");
    let second: i32 = all
        .lines()
        .nth(1)
        .expect("second run")
        .parse()
        .expect("pid");
    drop(h);
    assert!(
        reap_until(Duration::from_secs(1), |_| group_members(second).is_empty()),
        "group {second} survived"
    );
}

#[test]
fn hanging_script_and_its_children_are_killed() {
    hang_is_killed("hang-pids", "sleep 100 & sleep 100");
}

#[test]
fn hanging_script_ignoring_sigterm_is_killed() {
    hang_is_killed("hang-term-pids", "trap '' TERM; sleep 100 & sleep 100");
}

#[test]
fn many_runs_leave_no_zombie_and_no_stray_process() {
    let _g = lock();
    process::become_subreaper().expect("subreaper");
    let mut lp = Loop::new();
    let mut h = Health::new(
        &sh("sleep 0.2 & exit 0"),
        None,
        Duration::from_millis(40),
        Instant::now(),
    );
    let verdicts = lp.run_until(&mut h, Instant::now() + Duration::from_secs(60), 200);
    assert_eq!(verdicts.len(), 200);
    // On a loaded machine a run can miss its 40 ms slot and time out; that is a verdict too,
    // and its process group is killed. What matters here is what is left afterwards.
    let healthy = verdicts.iter().filter(|v| **v == Verdict::Healthy).count();
    assert!(
        healthy >= 150,
        "{healthy}/200 healthy; first other: {:?}",
        verdicts.iter().find(|v| **v != Verdict::Healthy)
    );
    drop(h);
    // The orphaned `sleep 0.2`s were reparented to us (subreaper) and must be reaped too.
    assert!(
        reap_until(Duration::from_secs(2), |_| our_children().is_empty()),
        "left: {:?}",
        our_children()
    );
}

#[test]
fn exec_failures_are_unhealthy_with_the_reason() {
    let _g = lock();
    let mut lp = Loop::new();
    let i = Duration::from_secs(1);
    let check = |argv: &str| {
        Check::Script(Script {
            argv: vec![argv.to_string()],
        })
    };

    let mut h = Health::new(&check("/nonexistent/check.sh"), None, i, Instant::now());
    assert_eq!(
        lp.next_verdict(&mut h, i),
        Verdict::Unhealthy(
            "/nonexistent/check.sh: cannot execute: No such file or directory".into()
        )
    );

    let path = write_script("bad-interp.sh", "#!/nonexistent/bash\nexit 0\n", 0o755);
    let mut h = Health::new(&check(&path), None, i, Instant::now());
    assert_eq!(
        lp.next_verdict(&mut h, i),
        Verdict::Unhealthy(format!(
            "{path}: cannot execute: No such file or directory (missing interpreter /nonexistent/bash?)"
        ))
    );

    let path = write_script("no-x.sh", "#!/bin/sh\nexit 0\n", 0o644);
    let mut h = Health::new(&check(&path), None, i, Instant::now());
    assert_eq!(
        lp.next_verdict(&mut h, i),
        Verdict::Unhealthy(format!("{path}: cannot execute: Permission denied"))
    );

    // Failing again on every run, never once "healthy".
    let verdicts = lp.run_until(
        &mut h,
        Instant::now() + i * 2 + Duration::from_millis(200),
        10,
    );
    assert_eq!(verdicts.len(), 2);
    assert!(verdicts.iter().all(|v| matches!(v, Verdict::Unhealthy(_))));
}

#[test]
fn tcp_check_follows_the_listener() {
    let _g = lock();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut lp = Loop::new();
    let i = Duration::from_millis(200);
    let mut h = Health::new(
        &Check::Tcp(port),
        Some(Ipv4Addr::LOCALHOST),
        i,
        Instant::now(),
    );
    assert_eq!(h.describe(), format!("tcp 127.0.0.1:{port} every 200ms"));
    assert_eq!(lp.next_verdict(&mut h, i * 2), Verdict::Healthy);
    assert_eq!(lp.next_verdict(&mut h, i * 2), Verdict::Healthy);
    drop(listener);
    assert_eq!(
        lp.next_verdict(&mut h, i * 2),
        Verdict::Unhealthy(format!("connect to 127.0.0.1:{port}: Connection refused"))
    );
}

#[test]
fn tcp_check_times_out_without_an_answer() {
    std::thread::spawn(|| {
        // SAFETY: moves only this thread into a fresh network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!("skipped: unshare(CLONE_NEWNET) failed (not root?)");
            return;
        }
        let _g = lock();
        {
            for args in [
                &["link", "add", "v0", "type", "veth", "peer", "name", "v1"][..],
                &["addr", "add", "192.0.2.1/24", "dev", "v0"],
                &["link", "set", "v0", "up"],
                &["link", "set", "v1", "up"],
            ] {
                let ok = Command::new("ip")
                    .args(args)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "ip {args:?}");
            }
        }
        // Nobody on the veth answers ARP for 192.0.2.99: the SYN never even leaves.
        let mut lp = Loop::new();
        let i = Duration::from_millis(300);
        let t0 = Instant::now();
        let mut h = Health::new(&Check::Tcp(80), Some(Ipv4Addr::new(192, 0, 2, 99)), i, t0);
        assert_eq!(
            lp.next_verdict(&mut h, i * 3),
            Verdict::Unhealthy("connect to 192.0.2.99:80 timed out".into())
        );
        assert!(t0.elapsed() >= i);
        // The slot of the timed-out run is skipped; the next run comes one interval later.
        assert_eq!(h.deadline().map(|d| d > Instant::now()), Some(true));
    })
    .join()
    .expect("thread");
}
