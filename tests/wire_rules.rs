//! The wire rules keepalived peers rely on (issue 3), pinned with adverts injected from the
//! client namespace: equal priority in BACKUP is not preempted; the VIP list's order does
//! not matter but its set does; a master answers a lower-priority advert with an advert at
//! once and a burst of gratuitous ARPs. Needs root and tcpdump.
mod common;

use common::{Daemon, Env, IFACE, Lan, RawIpv4, wait_until};
use ipfailover::wire::ipv4::Ipv4Header;
use ipfailover::wire::vrrp::{Advert, GROUP_V4, Version};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(20);
/// Node 0 (192.0.2.10, ipslot 10) gives its first, master-type instance 255 - 10.
const OURS: u8 = 245;
/// Lower than the node's address: an equal-priority master here loses the MASTER tie-break.
const LOWER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);

fn vip(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))
}

/// A valid advert for VRID 11 with the default password of config name `ipfailover`.
fn advert(priority: u8, vips: &[IpAddr]) -> Advert {
    Advert {
        version: Version::V2,
        vrid: 11,
        priority,
        interval_cs: 100,
        addrs: vips.iter().copied().collect(),
        auth_type: 1,
        auth_data: *b"ipfailov",
    }
}

fn datagram(src: Ipv4Addr, adv: &Advert) -> Vec<u8> {
    let len = adv.buffer_len();
    let mut buf = vec![0u8; 20 + len];
    Ipv4Header::for_vrrp(src, GROUP_V4, 1, len).emit(&mut buf);
    adv.emit(IpAddr::V4(src), IpAddr::V4(GROUP_V4), &mut buf[20..]);
    buf
}

/// Sends `packet` every second from the client namespace until dropped.
struct Injector {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Injector {
    fn start(lan: &Lan, packet: Vec<u8>) -> Injector {
        let sender = RawIpv4::sender(lan.client_ns(), IFACE);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let _ = sender.send(&packet, GROUP_V4);
                thread::sleep(Duration::from_secs(1));
            }
        });
        Injector {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn state(d: &Daemon) -> String {
    let status = std::fs::read_to_string(&d.status_path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("instance\t"))
        .and_then(|l| l.split('\t').nth(2))
        .unwrap_or("")
        .to_string()
}

fn counter(d: &Daemon, kind: &str) -> u64 {
    let status = std::fs::read_to_string(&d.status_path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("counter\t{kind}\t")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn env(vips: &str) -> Env {
    Env::lan(vips)
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt")
}

#[test]
fn equal_priority_in_backup_is_not_preempted() {
    let lan = Lan::new(1);
    // A master at our very priority, from a lower address, advertising before we start.
    let inj = Injector::start(&lan, datagram(LOWER_ADDR, &advert(OURS, &[vip(201)])));
    thread::sleep(Duration::from_millis(200));
    let d = lan.start(0, &env("192.0.2.201"));
    thread::sleep(Duration::from_secs(7));
    assert_eq!(
        state(&d),
        "BACKUP",
        "equal priority must not be preempted in BACKUP:\n{}",
        d.stderr()
    );
    assert!(lan.holders(common::ip("192.0.2.201")).is_empty());
    assert!(
        counter(&d, "accepted") >= 5,
        "the equal-priority adverts are valid"
    );
    drop(inj);
    let took = wait_until(Duration::from_millis(4500), POLL, || {
        lan.holders(common::ip("192.0.2.201")) == vec![0]
    });
    assert!(took.is_some(), "master once the other one falls silent");
}

#[test]
fn vip_order_does_not_matter_but_the_set_does() {
    let lan = Lan::new(1);
    let env = env("192.0.2.201-203").set("OPENSHIFT_HA_VIP_GROUPS", 1);
    let reordered = datagram(LOWER_ADDR, &advert(254, &[vip(203), vip(201), vip(202)]));
    let inj = Injector::start(&lan, reordered);
    thread::sleep(Duration::from_millis(200));
    let d = lan.start(0, &env);
    thread::sleep(Duration::from_secs(6));
    assert_eq!(
        state(&d),
        "BACKUP",
        "the same set in another order is a valid advert:\n{}",
        d.stderr()
    );
    assert!(counter(&d, "accepted") >= 4);
    drop(inj);
    // Same count, one address different: rejected, so the node takes over.
    let _other = Injector::start(
        &lan,
        datagram(LOWER_ADDR, &advert(254, &[vip(201), vip(202), vip(204)])),
    );
    let took = wait_until(Duration::from_secs(6), POLL, || state(&d) == "MASTER");
    assert!(
        took.is_some(),
        "a different VIP set must not hold us back:\n{}",
        d.stderr()
    );
    assert!(counter(&d, "addr_list") >= 1, "counted as addr_list");
}

/// `tcpdump` in the client namespace for `span`: lines of gratuitous ARPs for `target`.
fn garps(lan: &Lan, target: &str, span: Duration, during: impl FnOnce()) -> usize {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            lan.client_ns(),
            "tcpdump",
            "-i",
            IFACE,
            "-nn",
            "-l",
            "--immediate-mode",
            "arp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    thread::sleep(Duration::from_millis(500));
    during();
    thread::sleep(span);
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: our own tcpdump child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let out = child.wait_with_output().expect("tcpdump output");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // `Request who-has T (ff:ff:ff:ff:ff:ff) tell T`: keepalived's GARP form.
        .filter(|l| {
            l.contains(&format!("Request who-has {target} "))
                && l.contains(&format!("tell {target},"))
        })
        .count()
}

#[test]
fn master_answers_a_lower_advert_with_an_advert_and_a_garp_burst() {
    let lan = Lan::new(1);
    let d = lan.start(0, &env("192.0.2.201"));
    assert!(wait_until(Duration::from_secs(8), POLL, || state(&d) == "MASTER").is_some());
    // Let the takeover's second GARP burst (at +5 s) pass.
    thread::sleep(Duration::from_secs(6));
    let sender = RawIpv4::sender(lan.client_ns(), IFACE);
    let lower = datagram(LOWER_ADDR, &advert(100, &[vip(201)]));
    let n = garps(&lan, "192.0.2.201", Duration::from_millis(800), || {
        sender.send(&lower, GROUP_V4).expect("inject");
    });
    assert_eq!(
        n, 5,
        "one burst of 5 gratuitous ARPs right after the lower advert"
    );
    assert_eq!(state(&d), "MASTER");
    assert!(d.stderr().contains(
        "Received advert from 192.0.2.5 with lower priority 100, ours 245, forcing new election"
    ));
}
