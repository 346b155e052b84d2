//! Mixed clusters on one LAN: Debian's keepalived 2.2.7 (K) and ipfailover (I) with the same
//! environment, keepalived fed the keepalived.conf today's scripts would write (issue 3, "Interop
//! with real keepalived"). Needs root, `keepalived` and `tcpdump`.
//!
//! Every cluster uses `OPENSHIFT_HA_REPLICA_COUNT=1` (the default): every instance is
//! "master-type", so priorities carry no random part and both kinds compute the same ones:
//! node `192.0.2.(10+i)` has 245-i / 11+i / 245-i for VIP 1 / 2 / 3 (flip-flop). The expected
//! holder of each VIP is therefore computed, and holders of both kinds exist in every mix.
//! `OPENSHIFT_HA_PREEMPTION=preempt` keeps the scenarios short (the default 300 s delay applies
//! to our master-type instances, contract §2, but not to keepalived's).
//!
//! Bounds (advert interval 1 s, VRRPv2): Skew_Time(p) = (256-p)/256 s, Master_Down_Interval =
//! 3 s + Skew_Time, both of the node that takes over.
mod common;

use common::keepalived::{self as ka, Keepalived};
use common::{Daemon, Env, Lan, node_ip, wait_since, wait_until};
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

const VIPS: &str = "192.0.2.201-203";
const POLL: Duration = Duration::from_millis(10);
/// Start-up to a settled election, including a preemption by a node that joins later.
const CONVERGE: Duration = Duration::from_secs(15);
/// Check interval of every node in these tests.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// SIGKILL: Master_Down_Interval of the taker + 0.5 s.
fn kill_bound(p: i64) -> Duration {
    Duration::from_secs(3) + ka::skew(p) + Duration::from_millis(500)
}

/// SIGTERM (priority-0 hand-off): Skew_Time of the taker + 0.3 s.
fn term_bound(p: i64) -> Duration {
    ka::skew(p) + Duration::from_millis(300)
}

/// Check failure: the next check run (≤ one interval, plus 1 s for running the script), then
/// the priority-0 hand-off.
fn check_bound(p: i64) -> Duration {
    CHECK_INTERVAL + ka::skew(p) + Duration::from_secs(1)
}

/// Which implementation runs on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    K,
    I,
}

/// One started process of either kind.
enum Run {
    K(Keepalived),
    I(Daemon),
}

impl Run {
    fn stderr(&self) -> String {
        match self {
            Run::K(k) => k.stderr(),
            Run::I(d) => d.stderr(),
        }
    }

    fn exited(&self) -> Option<ExitStatus> {
        match self {
            Run::K(k) => k.daemon.exited(),
            Run::I(d) => d.exited(),
        }
    }

    fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        match self {
            Run::K(k) => k.daemon.wait_exit(timeout),
            Run::I(d) => d.wait_exit(timeout),
        }
    }

    fn sigterm(&self) {
        match self {
            Run::K(k) => k.daemon.kill(libc::SIGTERM),
            Run::I(d) => d.kill(libc::SIGTERM),
        }
    }

    fn sigkill(&self) {
        match self {
            Run::K(k) => k.sigkill(),
            Run::I(d) => d.kill(libc::SIGKILL),
        }
    }
}

/// A LAN whose node `i` runs `kinds[i]`, each with a check script failing while its flag exists.
struct Cluster {
    lan: Lan,
    kinds: Vec<Kind>,
    envs: Vec<Env>,
    flags: Vec<PathBuf>,
    vips: Vec<Ipv4Addr>,
    /// `prio[node][instance]`, from today's formula.
    prio: Vec<Vec<i64>>,
    /// Every process started, in order (logs are checked at the end).
    runs: Vec<(usize, Run)>,
    /// Index into `runs` of the process now running on each node.
    current: Vec<Option<usize>>,
    name: String,
}

impl Cluster {
    fn new(kinds: &[Kind]) -> Cluster {
        let lan = Lan::new(kinds.len());
        let mut envs = Vec::new();
        let mut flags = Vec::new();
        for i in 0..kinds.len() {
            let flag = lan.dir().join(format!("fail{i}"));
            let check = lan.script(
                &format!("check{i}.sh"),
                &format!("[ ! -e '{}' ]", flag.display()),
            );
            envs.push(
                Env::lan(VIPS)
                    .set("OPENSHIFT_HA_PREEMPTION", "preempt")
                    .set("OPENSHIFT_HA_CHECK_SCRIPT", check.display())
                    .set("OPENSHIFT_HA_CHECK_INTERVAL", CHECK_INTERVAL.as_secs()),
            );
            flags.push(flag);
        }
        let prio: Vec<Vec<i64>> = (0..kinds.len())
            .map(|i| {
                let inst = ka::instances(&envs[i], node_ip(i));
                assert!(
                    inst.iter().all(|x| x.master),
                    "test premise: every instance master-type"
                );
                inst.iter().map(|x| x.priority).collect()
            })
            .collect();
        let name = kinds
            .iter()
            .map(|k| format!("{k:?}"))
            .collect::<Vec<_>>()
            .join("+");
        Cluster {
            vips: ka::vips(&envs[0]),
            lan,
            kinds: kinds.to_vec(),
            envs,
            flags,
            prio,
            runs: Vec::new(),
            current: vec![None; kinds.len()],
            name,
        }
    }

    fn start(&mut self, i: usize) {
        let run = match self.kinds[i] {
            Kind::K => Run::K(Keepalived::start(&self.lan, i, &self.envs[i])),
            Kind::I => Run::I(self.lan.start(i, &self.envs[i])),
        };
        self.runs.push((i, run));
        self.current[i] = Some(self.runs.len() - 1);
    }

    fn run(&self, i: usize) -> &Run {
        let idx = self.current[i].expect("node has a running process");
        &self.runs[idx].1
    }

    fn label(&self, i: usize) -> String {
        format!("node {i} ({:?})", self.kinds[i])
    }

    /// The holder of each VIP when exactly `alive` nodes take part: highest priority wins.
    fn expected(&self, alive: &[usize]) -> Vec<usize> {
        (0..self.vips.len())
            .map(|k| {
                *alive
                    .iter()
                    .max_by_key(|&&n| self.prio[n][k])
                    .expect("some node alive")
            })
            .collect()
    }

    fn assert_running(&self) {
        for (i, cur) in self.current.iter().enumerate() {
            if let Some(st) = cur.and_then(|c| self.runs[c].1.exited()) {
                panic!(
                    "{} exited early ({st}):\n{}",
                    self.label(i),
                    self.run(i).stderr()
                );
            }
        }
    }

    /// Waits until VIP `k` is on exactly `want[k]` for every k; returns the time it took.
    fn settle(&self, want: &[usize], timeout: Duration, what: &str) -> Duration {
        let took = wait_until(timeout, Duration::from_millis(50), || {
            self.assert_running();
            let snap = self.lan.snapshot();
            self.vips
                .iter()
                .zip(want)
                .all(|(v, &n)| snap.holders(*v) == vec![n])
        });
        took.unwrap_or_else(|| {
            panic!(
                "[{}] {what}: VIPs not on {want:?} within {timeout:?}; addresses {:?}",
                self.name,
                self.lan.snapshot().0
            )
        })
    }

    /// VIP indices node `i` holds now.
    fn held_by(&self, i: usize) -> Vec<usize> {
        let snap = self.lan.snapshot();
        let ks: Vec<usize> = (0..self.vips.len())
            .filter(|&k| snap.holders(self.vips[k]).contains(&i))
            .collect();
        assert!(
            !ks.is_empty(),
            "[{}] {} holds no VIP",
            self.name,
            self.label(i)
        );
        ks
    }

    /// After an event at `t0` on node `from`, which held VIPs `ks`: waits until each is on `to`
    /// and on no other node (`from` excepted if it is `dead`), asserts `bound(priority of
    /// the taker)` per VIP and prints the times.
    fn moved(
        &self,
        t0: Instant,
        (from, ks): (usize, &[usize]),
        to: usize,
        bound: fn(i64) -> Duration,
        dead: bool,
        what: &str,
    ) {
        let limit = bound(self.prio[to][ks[0]]) + Duration::from_secs(5);
        let mut at: Vec<Option<Duration>> = vec![None; ks.len()];
        wait_since(t0, limit, POLL, || {
            let snap = self.lan.snapshot();
            for (j, &k) in ks.iter().enumerate() {
                let live: Vec<usize> = snap
                    .holders(self.vips[k])
                    .into_iter()
                    .filter(|&n| !(dead && n == from))
                    .collect();
                if at[j].is_none() && live == vec![to] {
                    at[j] = Some(t0.elapsed());
                }
            }
            at.iter().all(Option::is_some)
        });
        for (j, &k) in ks.iter().enumerate() {
            let (vip, b) = (self.vips[k], bound(self.prio[to][k]));
            let took = at[j].unwrap_or_else(|| {
                panic!(
                    "[{}] {what} of {}: {vip} not (only) on {} within {limit:?}; addresses {:?}",
                    self.name,
                    self.label(from),
                    self.label(to),
                    self.lan.snapshot().0
                )
            });
            eprintln!(
                "[{}] {what} of {}: {vip} on {} after {took:?} (bound {b:?})",
                self.name,
                self.label(from),
                self.label(to)
            );
            assert!(
                took <= b,
                "[{}] {what} of {}: {vip} moved to {} after {took:?} > {b:?}",
                self.name,
                self.label(from),
                self.label(to)
            );
        }
    }

    /// Node `i`'s check fails; its VIPs move to `to`; the check passes again and, with
    /// `preempt`, everything returns to `back`.
    fn check_failure(&self, i: usize, to: usize, back: &[usize]) {
        let ks = self.held_by(i);
        let t0 = Instant::now();
        fs::write(&self.flags[i], "").expect("flag");
        self.moved(t0, (i, &ks), to, check_bound, false, "check failure");
        fs::remove_file(&self.flags[i]).expect("flag");
        let took = self.settle(back, CONVERGE, "check recovered");
        eprintln!(
            "[{}] check of {} passes again: VIPs back after {took:?}",
            self.name,
            self.label(i)
        );
    }

    /// SIGTERM to node `i`; its VIPs move to `to` within Skew_Time + 0.3 s.
    fn sigterm(&mut self, i: usize, to: usize) {
        let ks = self.held_by(i);
        let t0 = Instant::now();
        self.run(i).sigterm();
        self.moved(t0, (i, &ks), to, term_bound, false, "SIGTERM");
        let st = self
            .run(i)
            .wait_exit(Duration::from_secs(6))
            .unwrap_or_else(|| {
                panic!("[{}] {} still runs after SIGTERM", self.name, self.label(i))
            });
        // Seen only after the move was, so this is an upper bound when the move took longer.
        let exit = t0.elapsed();
        eprintln!(
            "[{}] SIGTERM of {}: exit seen {exit:?} after the signal ({st})",
            self.name,
            self.label(i)
        );
        if self.kinds[i] == Kind::I {
            assert!(
                exit <= Duration::from_secs(2) && st.code() == Some(0),
                "ours must exit 0 within 2 s of SIGTERM: {st} after {exit:?}"
            );
        }
        self.current[i] = None;
    }

    /// SIGKILL to node `i`, then unplug it; its VIPs move to `to` within Master_Down_Interval
    /// + 0.5 s.
    fn sigkill(&mut self, i: usize, to: usize) {
        let ks = self.held_by(i);
        let t0 = Instant::now();
        self.run(i).sigkill();
        self.lan.unplug(i);
        self.current[i] = None;
        self.moved(t0, (i, &ks), to, kill_bound, true, "SIGKILL");
    }

    /// Neither kind complains about the other's packets.
    fn assert_no_complaints(&self) {
        for (i, run) in &self.runs {
            let log = run.stderr();
            let bad: Vec<&str> = log
                .lines()
                .filter(|l| match self.kinds[*i] {
                    Kind::K => keepalived_complaint(l),
                    Kind::I => our_rejection(l),
                })
                .collect();
            assert!(
                bad.is_empty(),
                "[{}] {} complained about a peer's packets:\n{}",
                self.name,
                self.label(*i),
                bad.join("\n")
            );
        }
    }
}

/// A keepalived log line rejecting a received packet (keepalived-behaviour.md §3).
fn keepalived_complaint(line: &str) -> bool {
    let l = line.to_lowercase();
    ["invalid", "mismatch", "wrong version", "unexpected"]
        .iter()
        .any(|w| l.contains(w))
        || line.contains("TTL")
}

/// One of our rejection lines: `(<name>) <reason> (from <addr>)` or `VRRP packet ... dropped:`.
fn our_rejection(line: &str) -> bool {
    line.contains("dropped") || line.contains(" (from ") || line.contains("collision")
}

/// Two-node mix: node 0 starts alone and takes every VIP, node 1 joins and preempts VIP 2 (the
/// flip-flop instance); then check failures on both, SIGTERM of node 0 (and restart), SIGKILL
/// of node 1.
fn two_node_mix(first: Kind, second: Kind) {
    let mut c = Cluster::new(&[first, second]);
    c.start(0);
    let alone = c.settle(&c.expected(&[0]), CONVERGE, "first node alone");
    eprintln!("[{}] node 0 alone holds every VIP after {alone:?}", c.name);
    c.start(1);
    let both = c.expected(&[0, 1]);
    assert_eq!(
        both,
        vec![0, 1, 0],
        "test premise: flip-flop spreads the VIPs"
    );
    let took = c.settle(&both, CONVERGE, "second node joined");
    eprintln!("[{}] node 1 joined: converged after {took:?}", c.name);

    c.check_failure(0, 1, &both);
    c.check_failure(1, 0, &both);

    c.sigterm(0, 1);
    c.start(0);
    let took = c.settle(&both, CONVERGE, "node 0 restarted");
    eprintln!("[{}] node 0 restarted: converged after {took:?}", c.name);

    c.sigkill(1, 0);
    c.assert_no_complaints();
}

/// keepalived first, ipfailover joins (and takes VIP 2 from keepalived).
#[test]
fn k_then_i() {
    two_node_mix(Kind::K, Kind::I);
}

/// ipfailover first, keepalived joins (and takes VIPs 1 and 3 from ipfailover).
#[test]
fn i_then_k() {
    two_node_mix(Kind::I, Kind::K);
}

/// Three nodes started together: keepalived (VIPs 1, 3) and two ipfailover (VIP 2 on node 2).
#[test]
fn k_i_i() {
    let mut c = Cluster::new(&[Kind::K, Kind::I, Kind::I]);
    for i in 0..3 {
        c.start(i);
    }
    let all = c.expected(&[0, 1, 2]);
    assert_eq!(
        all,
        vec![0, 2, 0],
        "test premise: flip-flop spreads the VIPs"
    );
    let took = c.settle(&all, CONVERGE, "all started");
    eprintln!("[{}] converged after {took:?}", c.name);

    c.check_failure(0, 1, &all);
    c.sigkill(0, 1);
    c.sigterm(2, 1);
    c.assert_no_complaints();
}

/// A peer with another password (config name `ipfailoX…` → `ipfailoX`): both sides reject the
/// other's adverts and say so, and both become MASTER (the split brain a VRID collision gives
/// today). Also proves that the log checks above would see a complaint.
#[test]
fn wrong_password_is_rejected_by_both_kinds() {
    let lan = Lan::new(2);
    let env = Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0);
    let k = Keepalived::start(
        &lan,
        0,
        &env.clone().set("OPENSHIFT_HA_CONFIG_NAME", "ipfailoXer"),
    );
    let i = lan.start(1, &env);
    let seen = wait_until(CONVERGE, Duration::from_millis(100), || {
        k.stderr().lines().any(keepalived_complaint) && i.stderr().lines().any(our_rejection)
    });
    assert!(
        seen.is_some(),
        "no password complaint on both sides:\nkeepalived:\n{}\nours:\n{}",
        k.stderr(),
        i.stderr()
    );
    let line = |log: String, f: fn(&str) -> bool| {
        log.lines().find(|l| f(l)).unwrap_or_default().to_string()
    };
    let (kl, il) = (
        line(k.stderr(), keepalived_complaint),
        line(i.stderr(), our_rejection),
    );
    assert!(kl.contains("invalid passwd"), "keepalived: {kl}");
    assert!(
        il.contains("received an invalid passwd!")
            && il.contains("VRID 11 collision: adverts from 192.0.2.10"),
        "ours: {il}"
    );
    let both = wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
        lan.holders(common::ip("192.0.2.201")) == vec![0, 1]
    });
    assert!(
        both.is_some(),
        "expected both MASTER: {:?}",
        lan.snapshot().0
    );
}

/// One IPv4 packet from a pcap file: Ethernet destination and the bytes from the IP header on.
struct Frame {
    eth_dst: [u8; 6],
    ip: Vec<u8>,
}

/// Reads a classic pcap file (any byte order, µs or ns timestamps) of Ethernet frames; keeps
/// the IPv4 ones.
fn read_pcap(path: &std::path::Path) -> Vec<Frame> {
    let data = fs::read(path).expect("read pcap");
    assert!(data.len() >= 24, "pcap too short: {} bytes", data.len());
    let magic = [data[0], data[1], data[2], data[3]];
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a pcap file: magic {magic:02x?}"),
    };
    let u32_at = |b: &[u8], o: usize| {
        let x = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        }
    };
    assert_eq!(u32_at(&data, 20), 1, "link type is not Ethernet");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let len = u32_at(&data, at + 8) as usize;
        let start = at + 16;
        let Some(frame) = data.get(start..start + len) else {
            break; // a record cut short by the capture being stopped
        };
        at = start + len;
        if frame.len() >= 34 && frame[12..14] == [0x08, 0x00] {
            let mut eth_dst = [0; 6];
            eth_dst.copy_from_slice(&frame[..6]);
            out.push(Frame {
                eth_dst,
                ip: frame[14..].to_vec(),
            });
        }
    }
    out
}

/// RFC 1071 sum over `b` folded to 16 bits (0xffff when the embedded checksum is right).
fn ones_sum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Named fields of an IPv4 + VRRPv2 advert with `n` VIPs: (name, byte range).
fn fields(n: usize) -> Vec<(&'static str, std::ops::Range<usize>)> {
    vec![
        ("version/IHL", 0..1),
        ("TOS", 1..2),
        ("total length", 2..4),
        ("IP ID", 4..6),
        ("flags/fragment", 6..8),
        ("TTL", 8..9),
        ("protocol", 9..10),
        ("IP checksum", 10..12),
        ("source", 12..16),
        ("destination", 16..20),
        ("VRRP version/type", 20..21),
        ("VRID", 21..22),
        ("priority", 22..23),
        ("address count", 23..24),
        ("auth type", 24..25),
        ("advert interval", 25..26),
        ("VRRP checksum", 26..28),
        ("VIPs", 28..28 + 4 * n),
        ("auth data", 28 + 4 * n..36 + 4 * n),
    ]
}

/// Names of the fields that differ between two adverts (lengths compared first).
fn differing(a: &[u8], b: &[u8]) -> Vec<&'static str> {
    assert_eq!(
        a.len(),
        b.len(),
        "advert lengths differ:\n{a:02x?}\n{b:02x?}"
    );
    let n = usize::from(a[23]);
    assert_eq!(
        a.len(),
        36 + 4 * n,
        "not a VRRPv2 advert with {n} VIPs: {a:02x?}"
    );
    fields(n)
        .into_iter()
        .filter(|(_, r)| a[r.clone()] != b[r.clone()])
        .map(|(name, _)| name)
        .collect()
}

/// Wire facts both implementations must show on every advert.
fn assert_wire_basics(who: &str, f: &Frame) {
    let ip = &f.ip;
    assert_eq!(
        f.eth_dst,
        [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12],
        "{who}: Ethernet destination"
    );
    assert_eq!(ip[0], 0x45, "{who}: version/IHL");
    assert_eq!(ip[1], 0xc0, "{who}: TOS");
    assert_eq!(ip[6] & 0x40, 0, "{who}: DF must be clear");
    assert_eq!(ip[8], 255, "{who}: TTL");
    assert_eq!(ip[9], 112, "{who}: protocol");
    assert_eq!(ip[16..20], [224, 0, 0, 18], "{who}: destination");
    assert_eq!(ones_sum(&ip[..20]), 0xffff, "{who}: IP header checksum");
    assert_eq!(ones_sum(&ip[20..]), 0xffff, "{who}: VRRPv2 checksum");
    assert_eq!(
        usize::from(u16::from_be_bytes([ip[2], ip[3]])),
        ip.len(),
        "{who}: total length"
    );
}

/// The same instance (same environment: VRID 11, three VIPs in one group, password `ipfailov`)
/// advertised by keepalived and by us, captured by tcpdump on a third node: every byte of the IP
/// header and the advert is equal except source, priority, IP ID and the two checksums; the
/// priority-0 adverts sent at SIGTERM differ only in source, IP ID and IP checksum. Both count
/// IP IDs per instance from 1.
#[test]
fn advert_bytes_match_keepalived() {
    let lan = Lan::new(3);
    let env = Env::lan(VIPS)
        .set("OPENSHIFT_HA_VIP_GROUPS", 1)
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt");
    let vip = common::ip("192.0.2.201");
    let pcap = lan.dir().join("vrrp.pcap");
    let pcap_s = pcap.display().to_string();
    let dump = lan.spawn(
        2,
        "tcpdump",
        &[
            "-i",
            "eth0",
            "-n",
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-w",
            &pcap_s,
            "ip proto 112",
        ],
        &Env::default(),
    );
    let listening = wait_until(Duration::from_secs(5), POLL, || {
        dump.stderr().contains("listening on")
    });
    assert!(
        listening.is_some(),
        "tcpdump did not start: {}",
        dump.stderr()
    );

    // keepalived alone on the LAN until it has sent a few adverts, then stopped (priority 0).
    let k = Keepalived::start(&lan, 0, &env);
    let held = wait_until(CONVERGE, POLL, || lan.holders(vip) == vec![0]);
    assert!(
        held.is_some(),
        "keepalived never became MASTER:\n{}",
        k.stderr()
    );
    std::thread::sleep(Duration::from_millis(2500));
    k.daemon.kill(libc::SIGTERM);
    assert!(
        k.daemon.wait_exit(Duration::from_secs(5)).is_some(),
        "keepalived did not stop"
    );

    // Then ours, the same way.
    let i = lan.start(1, &env);
    let held = wait_until(CONVERGE, POLL, || lan.holders(vip) == vec![1]);
    assert!(held.is_some(), "ours never became MASTER:\n{}", i.stderr());
    std::thread::sleep(Duration::from_millis(2500));
    i.kill(libc::SIGTERM);
    assert!(
        i.wait_exit(Duration::from_secs(5)).is_some(),
        "ours did not stop"
    );
    std::thread::sleep(Duration::from_millis(300));
    dump.kill(libc::SIGTERM);
    assert!(
        dump.wait_exit(Duration::from_secs(5)).is_some(),
        "tcpdump did not stop"
    );

    let frames = read_pcap(&pcap);
    let from = |n: usize| -> Vec<&Frame> {
        frames
            .iter()
            .filter(|f| f.ip.len() >= 20 && f.ip[9] == 112 && f.ip[12..16] == node_ip(n).octets())
            .collect()
    };
    let (kf, of) = (from(0), from(1));
    for (who, list) in [("keepalived", &kf), ("ours", &of)] {
        assert!(
            list.len() >= 3,
            "{who}: only {} adverts captured",
            list.len()
        );
        for f in list.iter() {
            assert_wire_basics(who, f);
        }
        let ids: Vec<u16> = list
            .iter()
            .map(|f| u16::from_be_bytes([f.ip[4], f.ip[5]]))
            .collect();
        let want: Vec<u16> = (1..=ids.len() as u16).collect();
        assert_eq!(
            ids, want,
            "{who}: IP IDs are not a per-instance counter from 1"
        );
        eprintln!(
            "{who}: {} adverts, last (priority-0) {:02x?}",
            list.len(),
            list[list.len() - 1].ip
        );
    }
    let split = |list: &[&Frame]| -> (Vec<u8>, Vec<u8>) {
        let normal = list
            .iter()
            .find(|f| f.ip[22] != 0)
            .expect("a normal advert")
            .ip
            .clone();
        let last = list.last().expect("adverts").ip.clone();
        assert_eq!(last[22], 0, "last advert is not the priority-0 one");
        (normal, last)
    };
    let (k_adv, k_zero) = split(&kf);
    let (o_adv, o_zero) = split(&of);
    assert_eq!(
        k_adv[22], 245,
        "keepalived priority (node .10, master-type)"
    );
    assert_eq!(o_adv[22], 244, "our priority (node .11, master-type)");

    let diff = differing(&k_adv, &o_adv);
    eprintln!("adverts differ in {diff:?}\nkeepalived {k_adv:02x?}\nours       {o_adv:02x?}");
    let allowed = [
        "IP ID",
        "IP checksum",
        "source",
        "priority",
        "VRRP checksum",
    ];
    assert!(
        diff.iter().all(|d| allowed.contains(d)),
        "adverts differ in {diff:?}:\nkeepalived {k_adv:02x?}\nours       {o_adv:02x?}"
    );
    let diff = differing(&k_zero, &o_zero);
    assert!(
        diff.iter()
            .all(|d| ["IP ID", "IP checksum", "source"].contains(d)),
        "priority-0 adverts differ in {diff:?}:\nkeepalived {k_zero:02x?}\nours       {o_zero:02x?}"
    );
}
