//! Hostile packets against a running MASTER (issue 6): malformed, invalid and foreign VRRP
//! datagrams built by hand and injected with a raw `IP_HDRINCL` socket from the client
//! namespace, a flood of 100 000 of them, and valid adverts from a stranger (priority 0 and
//! 255). Needs root. Figures are printed (run with `--nocapture` to see them).
//!
//! Layout: node 0 runs the daemon under test (VIP 192.0.2.201, VRID 11, check disabled);
//! in the flood test node 1 runs a second daemon with a lower priority as a passive observer;
//! the client namespace (192.0.2.100) is the attacker and also captures the adverts on the LAN.
mod common;

use common::{CLIENT_IP, Capture, Daemon, Env, IFACE, Lan, RawIpv4, cpu_time, node_ip, wait_until};
use ipfailover::daemon::receive::decode;
use ipfailover::daemon::status::Status;
use ipfailover::wire::ipv4::Ipv4Header;
use ipfailover::wire::vrrp::{Advert, GROUP_V4, PROTOCOL, Version};
use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::thread;
use std::time::{Duration, Instant};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 201);
const OTHER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 202);
/// VRRP_ID_OFFSET 10 + instance 1.
const VRID: u8 = 11;
/// keepalived's auth_pass: the first 8 bytes of the config name `ipfailover`.
const PASSWORD: [u8; 8] = *b"ipfailov";
const INSTANCE: &str = "ipfailover_VIP_1";
const POLL: Duration = Duration::from_millis(20);
/// Packets sent per hostile kind.
const PER_KIND: u64 = 5;
/// Valid lower-priority adverts sent back to back to a MASTER.
const LOWER_BURST: usize = 200;
/// The flood: at least this many packets, as fast as the injector can send them...
const FLOOD: usize = 100_000;
/// ...and for at least this long, well past two Master_Down_Intervals, so starved adverts
/// would show as a takeover by the observer.
const FLOOD_MIN: Duration = Duration::from_secs(8);
/// The flood stops after this long even if not every packet went out.
const FLOOD_MAX: Duration = Duration::from_secs(30);
/// The injector's ceiling (packets per second). Unbounded, it took a whole core of this
/// 2-core machine, and the observer — a second daemon starved of CPU, not of adverts — then
/// lost the master's adverts in its full socket queue once in CI (at 80 000/s). 30 000/s is
/// still 240 000 packets in 8 s.
const FLOOD_RATE: f64 = 30_000.0;

/// Reject kinds that also count as `vrid_collision` (`daemon::receive::is_collision`).
const COLLISION_KINDS: [&str; 7] = [
    "version",
    "auth_type",
    "auth_type_mismatch",
    "password",
    "interval",
    "addr_count",
    "addr_list",
];

fn env() -> Env {
    Env::lan(&VIP.to_string()).set("OPENSHIFT_HA_MONITOR_PORT", 0)
}

/// A valid advert for our instance as a peer would send it.
fn advert(vrid: u8, priority: u8) -> Advert {
    Advert {
        version: Version::V2,
        vrid,
        priority,
        interval_cs: 100,
        addrs: vec![IpAddr::V4(VIP)].into(),
        auth_type: 1,
        auth_data: PASSWORD,
    }
}

/// IPv4 header + advert, checksums right, as keepalived would build it (then callers corrupt).
fn datagram(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, adv: &Advert) -> Vec<u8> {
    let len = adv.buffer_len();
    let mut buf = vec![0u8; 20 + len];
    let mut h = Ipv4Header::for_vrrp(src, dst, 1, len);
    h.ttl = ttl;
    h.emit(&mut buf);
    assert_eq!(adv.emit(src.into(), dst.into(), &mut buf[20..]), len);
    buf
}

/// One kind of hostile packet and the single counter it must move (`None`: never received).
struct Case {
    what: &'static str,
    counter: Option<&'static str>,
    packet: Vec<u8>,
    dst: Ipv4Addr,
}

/// Every hostile kind. `own` is the daemon's address, `ours` its priority.
fn cases(own: Ipv4Addr, ours: u8) -> Vec<Case> {
    let group = GROUP_V4;
    let from = |src: Ipv4Addr, ttl: u8, a: &Advert| datagram(src, group, ttl, a);
    let good = from(CLIENT_IP, 255, &advert(VRID, 100));
    let patched = |at: usize, f: &dyn Fn(u8) -> u8| {
        let mut p = good.clone();
        p[at] = f(p[at]);
        p
    };
    let with = |f: &dyn Fn(&mut Advert)| {
        let mut a = advert(VRID, 100);
        f(&mut a);
        from(CLIENT_IP, 255, &a)
    };
    let mcast = |what, counter, packet| Case {
        what,
        counter: Some(counter),
        packet,
        dst: group,
    };
    let unseen = |what, packet, dst| Case {
        what,
        counter: None,
        packet,
        dst,
    };
    vec![
        mcast("truncated: 4 VRRP bytes", "too_short", good[..24].to_vec()),
        mcast(
            "truncated: 12 of 20 VRRP bytes",
            "bad_length",
            good[..32].to_vec(),
        ),
        mcast("version nibble 4", "bad_version", patched(20, &|_| 0x41)),
        mcast("type 2", "bad_type", patched(20, &|_| 0x22)),
        mcast(
            "bad VRRP checksum",
            "bad_checksum",
            patched(26, &|b| b ^ 0xff),
        ),
        mcast("TTL 254", "ttl", from(CLIENT_IP, 254, &advert(VRID, 100))),
        mcast(
            "VRRPv3 advert",
            "version",
            with(&|a| {
                a.version = Version::V3;
                a.auth_type = 0;
                a.auth_data = [0; 8];
            }),
        ),
        mcast(
            "auth type 0",
            "auth_type_mismatch",
            with(&|a| a.auth_type = 0),
        ),
        mcast("auth type 7", "auth_type", with(&|a| a.auth_type = 7)),
        mcast(
            "wrong password",
            "password",
            with(&|a| a.auth_data = *b"ipfailoX"),
        ),
        mcast("interval 2 s", "interval", with(&|a| a.interval_cs = 200)),
        mcast(
            "two addresses",
            "addr_count",
            with(&|a| a.addrs = vec![IpAddr::V4(VIP), IpAddr::V4(OTHER_ADDR)].into()),
        ),
        mcast(
            "wrong address",
            "addr_list",
            with(&|a| a.addrs = vec![IpAddr::V4(OTHER_ADDR)].into()),
        ),
        mcast(
            "other VRID, valid",
            "unknown_vrid",
            from(CLIENT_IP, 255, &advert(99, 100)),
        ),
        mcast(
            "other VRID, priority 255",
            "unknown_vrid",
            from(CLIENT_IP, 255, &advert(VRID + 1, 255)),
        ),
        mcast(
            "other VRID, TTL 254",
            "unknown_vrid",
            from(CLIENT_IP, 254, &advert(99, 100)),
        ),
        mcast("other VRID, bad checksum", "bad_checksum", {
            let mut p = from(CLIENT_IP, 255, &advert(99, 100));
            p[26] ^= 0xff;
            p
        }),
        // Linux drops a packet whose source is one of the receiver's own addresses before any
        // socket sees it (martian source, accept_local=0): spoofing our address does nothing.
        unseen(
            "own source address, our priority",
            from(own, 255, &advert(VRID, ours)),
            group,
        ),
        unseen(
            "own source address, priority 255",
            from(own, 255, &advert(VRID, 255)),
            group,
        ),
        unseen(
            "own source address, wrong password",
            {
                let mut a = advert(VRID, ours);
                a.auth_data = *b"ipfailoX";
                from(own, 255, &a)
            },
            group,
        ),
        // The receive socket is bound to 224.0.0.18 in multicast mode, as keepalived's.
        unseen(
            "unicast to the node",
            datagram(CLIENT_IP, own, 255, &advert(VRID, 100)),
            own,
        ),
    ]
}

fn status(d: &Daemon) -> Status {
    Status::parse(&fs::read_to_string(&d.status_path).unwrap_or_default())
}

fn counters(d: &Daemon) -> BTreeMap<String, u64> {
    status(d).counters.into_iter().collect()
}

/// Counters that changed between two readings, with their increase.
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// (state, priority, master) of our instance in the status file.
fn instance(d: &Daemon) -> Option<(String, u8, Option<String>)> {
    status(d)
        .instances
        .into_iter()
        .find(|i| i.name == INSTANCE)
        .map(|i| (i.state, i.priority, i.master))
}

fn entering_lines(d: &Daemon) -> usize {
    d.stderr()
        .lines()
        .filter(|l| l.contains("Entering "))
        .count()
}

/// Starts the daemon on `node` and waits until its status file shows `state`.
fn start(lan: &Lan, node: usize, state: &str) -> Daemon {
    let d = lan.start(node, &env());
    let ok = wait_until(Duration::from_secs(15), POLL, || {
        assert!(
            d.exited().is_none(),
            "daemon on node {node} exited:\n{}",
            d.stderr()
        );
        instance(&d).is_some_and(|(s, _, _)| s == state)
    });
    assert!(ok.is_some(), "node {node} never {state}:\n{}", d.stderr());
    d
}

/// The daemon is alive, MASTER, alone with the VIP and logged no transition since `entering`.
fn assert_still_master(lan: &Lan, d: &Daemon, entering: usize, after: &str) {
    assert!(
        d.exited().is_none(),
        "daemon died after {after}:\n{}",
        d.stderr()
    );
    assert_eq!(
        instance(d).map(|i| i.0),
        Some("MASTER".to_string()),
        "state after {after}"
    );
    assert_eq!(lan.holders(VIP), vec![0], "VIP holders after {after}");
    assert_eq!(
        entering_lines(d),
        entering,
        "a transition after {after}:\n{}",
        d.stderr()
    );
}

/// Adverts from `src` for our VRID in a capture: (arrival, priority).
fn adverts_from(cap: &Capture, src: Ipv4Addr) -> Vec<(Instant, u8)> {
    cap.seen()
        .into_iter()
        .filter_map(|(at, pkt)| {
            let (ip, adv) = decode(&pkt).ok()?;
            (ip.src == src && ip.protocol == PROTOCOL && adv.vrid == VRID)
                .then_some((at, adv.priority))
        })
        .collect()
}

#[test]
fn hostile_packets_are_counted_and_change_nothing() {
    let lan = Lan::new(2);
    let master = start(&lan, 0, "MASTER");
    let (_, ours, _) = instance(&master).expect("instance in status");
    let observer = start(&lan, 1, "BACKUP");
    let own = node_ip(0);
    let entering = entering_lines(&master);
    let sender = RawIpv4::sender(lan.client_ns(), IFACE);
    let capture = Capture::start(lan.client_ns(), IFACE, i32::from(PROTOCOL), GROUP_V4);

    // 1. Each kind on its own: exactly its counter moves, by exactly what was sent.
    for case in cases(own, ours) {
        let before = counters(&master);
        for _ in 0..PER_KIND {
            sender
                .send(&case.packet, case.dst)
                .unwrap_or_else(|e| panic!("{}: send: {e}", case.what));
        }
        let mut expected = BTreeMap::new();
        if let Some(kind) = case.counter {
            expected.insert(kind.to_string(), PER_KIND);
            // Checks a foreign cluster on our VRID fails are also counted as VRID collisions.
            if COLLISION_KINDS.contains(&kind) {
                expected.insert("vrid_collision".to_string(), PER_KIND);
            }
        } else {
            // Nothing to wait for: follow with one marker packet that is counted.
            sender
                .send(
                    &datagram(CLIENT_IP, GROUP_V4, 255, &advert(99, 1)),
                    GROUP_V4,
                )
                .expect("marker");
            expected.insert("unknown_vrid".to_string(), 1);
        }
        let mut got = BTreeMap::new();
        wait_until(Duration::from_secs(5), POLL, || {
            got = delta(&before, &counters(&master));
            got == expected
        });
        assert_eq!(got, expected, "{}: counters moved wrongly", case.what);
        assert_still_master(&lan, &master, entering, case.what);
    }
    let warnings = master
        .stderr()
        .lines()
        .filter(|l| {
            l.contains(
                "WARNING - equal priority advert received from remote host with our IP address",
            )
        })
        .count();
    assert_eq!(warnings, 0, "own-address adverts never reach the daemon");

    // 2. The flood: every invalid kind in turn, at our VRID and others, as fast as possible.
    let pool: Vec<Case> = cases(own, ours)
        .into_iter()
        .filter(|c| c.counter.is_some())
        .collect();
    let before = counters(&master);
    let lines_before = master.stderr().lines().count();
    let cpu_before = cpu_time(master.pid()).expect("daemon cpu time");
    let t0 = Instant::now();
    let (mut sent, mut failed) = (0usize, 0usize);
    while (sent + failed < FLOOD || t0.elapsed() < FLOOD_MIN) && t0.elapsed() < FLOOD_MAX {
        if (sent + failed) as f64 > t0.elapsed().as_secs_f64() * FLOOD_RATE {
            thread::sleep(Duration::from_micros(200));
            continue;
        }
        let c = &pool[(sent + failed) % pool.len()];
        match sender.send(&c.packet, c.dst) {
            Ok(_) => sent += 1,
            Err(_) => failed += 1,
        }
    }
    let flood_time = t0.elapsed();
    // Let the daemon drain its socket, then read everything once the status file caught up.
    thread::sleep(Duration::from_millis(1500));
    let cpu = cpu_time(master.pid()).expect("daemon cpu time") - cpu_before;
    // Every packet moves one counter; `vrid_collision` counts some of them a second time.
    let counted: u64 = delta(&before, &counters(&master))
        .iter()
        .filter(|(k, _)| k.as_str() != "vrid_collision")
        .map(|(_, n)| n)
        .sum();
    let flood_lines = master.stderr().lines().count() - lines_before;
    let adverts: Vec<Instant> = adverts_from(&capture, own)
        .into_iter()
        .filter(|(at, _)| *at >= t0 && *at <= t0 + flood_time + Duration::from_secs(1))
        .map(|(at, _)| at)
        .collect();
    let max_gap = adverts
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "flood: {sent} packets sent ({failed} send errors) in {flood_time:.2?} ({:.0} pkt/s); \
         daemon counted {counted}, used {cpu:.3?} CPU, wrote {flood_lines} log lines; \
         {} adverts seen during the flood, largest gap {max_gap:.3?}",
        sent as f64 / flood_time.as_secs_f64(),
        adverts.len(),
    );
    println!("flood counters: {:?}", delta(&before, &counters(&master)));
    assert!(
        sent >= FLOOD / 2,
        "the injector could not send: {sent} sent, {failed} failed"
    );
    assert!(
        counted > 0 && counted <= sent as u64,
        "counted {counted} of {sent}"
    );
    // 5 lines a second are allowed through; the rest are counted.
    assert!(
        flood_lines < 100,
        "{flood_lines} log lines for {sent} packets"
    );
    // Measured here: about 0.5 s per 100 000 packets; the bound is three times that.
    let per_100k = cpu.as_secs_f64() * 100_000.0 / sent as f64;
    println!("flood: {per_100k:.3} CPU seconds per 100 000 packets sent");
    assert!(per_100k < 1.5, "{cpu:?} CPU for {sent} packets");
    assert!(
        max_gap < Duration::from_millis(1500),
        "adverts late during the flood: gap {max_gap:?}"
    );
    assert!(
        adverts.len() as f64 >= flood_time.as_secs_f64() - 1.0,
        "adverts missing: {}",
        adverts.len()
    );
    assert_still_master(&lan, &master, entering, "the flood");
    assert!(
        observer.exited().is_none(),
        "observer died:\n{}",
        observer.stderr()
    );
    assert_eq!(
        instance(&observer).map(|i| i.0),
        Some("BACKUP".to_string()),
        "observer status:\n{}\nlog:\n{}",
        std::fs::read_to_string(&observer.status_path).unwrap_or_default(),
        observer.stderr()
    );
    assert!(
        !observer.logged(INSTANCE, "Entering MASTER STATE"),
        "observer took over:\n{}",
        observer.stderr()
    );
}

#[test]
fn valid_adverts_from_a_stranger_follow_the_protocol() {
    let lan = Lan::new(1);
    let d = start(&lan, 0, "MASTER");
    let (_, ours, _) = instance(&d).expect("instance in status");
    let own = node_ip(0);
    let entering = entering_lines(&d);
    let sender = RawIpv4::sender(lan.client_ns(), IFACE);
    let capture = Capture::start(lan.client_ns(), IFACE, i32::from(PROTOCOL), GROUP_V4);
    let ours_seen = |after: Instant| -> Vec<(Instant, u8)> {
        adverts_from(&capture, own)
            .into_iter()
            .filter(|(at, _)| *at > after)
            .collect()
    };

    // Priority 0 while we are MASTER: one advert at once, schedule untouched, still MASTER.
    let start = Instant::now();
    wait_until(Duration::from_secs(3), Duration::from_millis(5), || {
        !ours_seen(start).is_empty()
    });
    let (scheduled, _) = ours_seen(start)[0];
    thread::sleep(Duration::from_millis(300));
    let before = counters(&d);
    let injected = Instant::now();
    sender
        .send(
            &datagram(CLIENT_IP, GROUP_V4, 255, &advert(VRID, 0)),
            GROUP_V4,
        )
        .expect("send");
    thread::sleep(Duration::from_millis(1500));
    let after = ours_seen(injected);
    assert!(
        after.len() >= 2,
        "adverts after the priority-0 advert: {after:?}"
    );
    let answer = after[0].0 - injected;
    let next = after[1].0.saturating_duration_since(scheduled);
    println!(
        "priority 0: answered after {answer:?}; next scheduled advert {next:?} after the previous one"
    );
    assert!(
        answer < Duration::from_millis(150),
        "no immediate answer: {answer:?}"
    );
    assert_eq!(after[0].1, ours, "answer carries our priority");
    assert!(
        next.abs_diff(Duration::from_secs(1)) < Duration::from_millis(150),
        "schedule moved: {next:?}"
    );
    assert_eq!(
        delta(&before, &counters(&d)),
        BTreeMap::from([("accepted".to_string(), 1)])
    );
    assert_still_master(&lan, &d, entering, "a priority-0 advert");

    // Lower priority (100 < ours) while we are MASTER: as keepalived, every one is answered
    // at once with an advert (plus gratuitous ARPs) and one log line, without any rate limit.
    let lower = datagram(CLIENT_IP, GROUP_V4, 255, &advert(VRID, 100));
    let before = counters(&d);
    let lines_before = d.stderr().lines().count();
    let burst = Instant::now();
    for _ in 0..LOWER_BURST {
        sender.send(&lower, GROUP_V4).expect("send");
    }
    thread::sleep(Duration::from_millis(500));
    let answers = ours_seen(burst).len();
    let forcing = d
        .stderr()
        .lines()
        .skip(lines_before)
        .filter(|l| l.contains("with lower priority 100") && l.contains("forcing new election"))
        .count();
    println!(
        "lower priority: {LOWER_BURST} adverts sent in a burst, {answers} adverts answered, {forcing} log lines"
    );
    assert_eq!(
        forcing, LOWER_BURST,
        "one log line per lower-priority advert"
    );
    assert!(
        answers >= LOWER_BURST,
        "one answer per lower-priority advert: {answers}"
    );
    wait_until(Duration::from_secs(2), POLL, || {
        delta(&before, &counters(&d)).get("accepted") == Some(&(LOWER_BURST as u64))
    });
    assert_eq!(
        delta(&before, &counters(&d)),
        BTreeMap::from([("accepted".to_string(), LOWER_BURST as u64)])
    );
    assert_still_master(&lan, &d, entering, "lower-priority adverts");

    // Priority 255 with our VIP and password: BACKUP at once, VIP removed, silent while the
    // stranger keeps advertising; MASTER again one Master_Down_Interval after its last advert.
    let adv255 = datagram(CLIENT_IP, GROUP_V4, 255, &advert(VRID, 255));
    let first = Instant::now();
    sender.send(&adv255, GROUP_V4).expect("send");
    let to_backup = wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
        d.stderr()
            .lines()
            .filter(|l| l.contains("Entering BACKUP STATE"))
            .count()
            == 2
    });
    let vip_gone = wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
        lan.holders(VIP).is_empty()
    });
    println!(
        "priority 255: BACKUP after {to_backup:?}, VIP removed after {vip_gone:?} (from the first advert)"
    );
    assert!(
        to_backup.is_some_and(|t| t < Duration::from_millis(500)),
        "not BACKUP: {to_backup:?}"
    );
    assert!(
        vip_gone.is_some_and(|t| t < Duration::from_secs(1)),
        "VIP kept: {vip_gone:?}"
    );
    let mut last = first;
    for _ in 0..4 {
        thread::sleep(Duration::from_secs(1).saturating_sub(last.elapsed()));
        last = Instant::now();
        sender.send(&adv255, GROUP_V4).expect("send");
        assert!(d.exited().is_none());
        assert_eq!(
            instance(&d).map(|i| (i.0, i.1)),
            Some(("BACKUP".into(), ours))
        );
        assert!(
            lan.holders(VIP).is_empty(),
            "VIP back while the stranger advertises"
        );
    }
    // The status file learns the master's address from its next advert (heartbeat ≤ 1 s).
    assert_eq!(
        instance(&d).and_then(|i| i.2),
        Some(CLIENT_IP.to_string()),
        "master in status"
    );
    let back = wait_until(Duration::from_secs(6), Duration::from_millis(5), || {
        ours_seen(last).iter().any(|(_, p)| *p == ours)
    });
    let retake = ours_seen(last).first().map(|(at, _)| *at - last);
    let quiet: Vec<_> = ours_seen(first + Duration::from_millis(100))
        .into_iter()
        .filter(|(at, _)| *at < last)
        .collect();
    let mdi =
        Duration::from_secs(3) + Duration::from_secs_f64(f64::from(256 - u32::from(ours)) / 256.0);
    println!(
        "priority 255: first own advert {retake:?} after the stranger's last (Master_Down_Interval {mdi:?})"
    );
    assert!(back.is_some(), "never MASTER again:\n{}", d.stderr());
    assert!(quiet.is_empty(), "adverts sent while BACKUP: {quiet:?}");
    let retake = retake.expect("own advert after the stranger stopped");
    assert!(
        retake + Duration::from_millis(50) >= mdi && retake < mdi + Duration::from_millis(300),
        "retake after {retake:?}, expected {mdi:?}"
    );
    wait_until(Duration::from_secs(2), POLL, || lan.holders(VIP) == vec![0]);
    assert_eq!(lan.holders(VIP), vec![0]);
    assert_eq!(instance(&d).map(|i| i.0), Some("MASTER".to_string()));
    assert_eq!(
        entering_lines(&d),
        entering + 2,
        "exactly BACKUP then MASTER:\n{}",
        d.stderr()
    );
}
