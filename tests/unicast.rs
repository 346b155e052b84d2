//! Unicast VRRP (`OPENSHIFT_HA_UNICAST_PEERS`, issue 4) on a LAN of network namespaces: where an
//! nftables rule in every node drops multicast VRRP, and across a router namespace between two
//! LANs. Needs root and `nft`.
//!
//! Priorities on 192.0.2.(10+i) / 198.51.100.(10+i) nodes: node i has ipslot 10+i, so VIP 1
//! (master-type) goes to the node with the lowest address: 245 on node 0, 244 on node 1, ...
mod common;

use common::topology::{ROUTER_B, routed_node_ip};
use common::{Daemon, Env, Lan, wait_since, wait_until};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(20);
/// Start-up to a settled election: every node waits Master_Down_Interval (< 4 s) first.
const CONVERGE: Duration = Duration::from_secs(15);
/// Master_Down_Interval for any priority (3 s + skew < 4 s) plus the 0.5 s the issue allows.
const MDI_BOUND: Duration = Duration::from_millis(4500);
/// Skew_Time for any priority (< 1 s) plus the 0.3 s the issue allows.
const SKEW_BOUND: Duration = Duration::from_millis(1300);

fn start_all(lan: &Lan, env: &Env) -> Vec<Daemon> {
    (0..lan.len()).map(|i| lan.start(i, env)).collect()
}

/// A 3-node LAN where every node drops incoming multicast VRRP.
fn lan_without_multicast() -> Lan {
    let lan = Lan::new(3);
    for i in 0..3 {
        lan.drop_vrrp_multicast(i);
    }
    lan
}

/// Asserts that for `span` exactly the nodes `want` hold `vip`, polling every 100 ms.
fn holders_stay(lan: &Lan, vip: Ipv4Addr, want: &[usize], span: Duration) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        assert_eq!(lan.holders(vip), want, "{vip} holders changed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What unicast fixes: with multicast VRRP dropped and no peers configured, no node hears any
/// other, so every node becomes MASTER and adds the VIP (split brain).
#[test]
fn multicast_dropped_without_peers_is_split_brain() {
    let lan = lan_without_multicast();
    let vip = common::ip("192.0.2.201");
    let daemons = start_all(
        &lan,
        &Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0),
    );
    let all = wait_until(CONVERGE, Duration::from_millis(100), || {
        lan.holders(vip) == vec![0, 1, 2]
    });
    assert!(
        all.is_some(),
        "expected a split brain, holders {:?}",
        lan.holders(vip)
    );
    for d in &daemons {
        assert!(
            d.logged("ipfailover_VIP_1", "Entering MASTER STATE"),
            "node {}",
            d.node
        );
    }
    // And it stays that way: nobody ever hears the others.
    holders_stay(&lan, vip, &[0, 1, 2], Duration::from_millis(1500));
}

/// Same network with every node (itself included, in commas and spaces) as unicast peer:
/// exactly one holder, which stays; SIGKILL (+ unplug) of it moves the VIP within
/// Master_Down_Interval + 0.5 s and the client follows; SIGTERM of the next holder hands off
/// within Skew_Time + 0.3 s.
#[test]
fn unicast_peers_elect_one_holder_and_fail_over() {
    let lan = lan_without_multicast();
    let vip = common::ip("192.0.2.201");
    let env = Env::lan("192.0.2.201")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set(
            "OPENSHIFT_HA_UNICAST_PEERS",
            "192.0.2.10,192.0.2.11 192.0.2.12",
        );
    // With the default preempt_delay 300, whichever node's timer fires first would keep the
    // VIP for five minutes; plain preemption makes the outcome independent of start order.
    let env = env.set("OPENSHIFT_HA_PREEMPTION", "preempt");
    let daemons = start_all(&lan, &env);
    lan.converge_ips(&daemons, &[IpAddr::V4(vip)], CONVERGE);
    let first = 0;
    assert!(
        wait_until(CONVERGE, POLL, || lan.holders(vip) == vec![first]).is_some(),
        "node 0 has the highest priority for VIP 1: {:?}",
        lan.snapshot().0
    );
    // A backup may have been MASTER for a moment at start-up (its timer fired first, before
    // node 0 preempted it); once settled, no backup enters MASTER: they hear node 0's unicast.
    let masters = |d: &Daemon| d.stderr().matches("Entering MASTER STATE").count();
    let before: Vec<usize> = daemons.iter().map(masters).collect();
    holders_stay(&lan, vip, &[first], Duration::from_secs(2));
    for d in daemons.iter().filter(|d| d.node != first) {
        assert_eq!(
            masters(d),
            before[d.node],
            "backup node {} became MASTER:\n{}",
            d.node,
            d.stderr()
        );
    }
    assert!(wait_until(Duration::from_secs(3), POLL, || lan.ping_from_client(vip)).is_some());
    assert_eq!(lan.client_neigh(vip), Some(lan.mac(first)));

    let t0 = Instant::now();
    daemons[first].kill(libc::SIGKILL);
    lan.unplug(first);
    let mut second = None;
    let took = wait_since(t0, Duration::from_secs(10), POLL, || {
        second = lan.holders(vip).into_iter().find(|&n| n != first);
        second.is_some()
    })
    .unwrap_or_else(|| panic!("{vip} not taken over within 10 s of SIGKILL"));
    eprintln!("unicast SIGKILL of node {first}: {vip} on node {second:?} after {took:?}");
    assert!(
        took <= MDI_BOUND,
        "{vip} taken over after {took:?} (> {MDI_BOUND:?})"
    );
    let second = second.expect("holder");
    assert_eq!(second, 1, "node 1 has the next priority");
    holders_stay(&lan, vip, &[0, 1], Duration::from_secs(1)); // 0 is dead but unplugged
    assert!(wait_until(Duration::from_secs(3), POLL, || lan.ping_from_client(vip)).is_some());
    assert_eq!(
        lan.client_neigh(vip),
        Some(lan.mac(second)),
        "client ARP not updated"
    );

    let t1 = Instant::now();
    daemons[second].kill(libc::SIGTERM);
    let took = wait_since(
        t1,
        Duration::from_secs(5),
        Duration::from_millis(10),
        || lan.holders(vip).contains(&2),
    )
    .unwrap_or_else(|| panic!("{vip} not taken over within 5 s of SIGTERM"));
    eprintln!("unicast SIGTERM of node {second}: {vip} on node 2 after {took:?}");
    assert!(
        took <= SKEW_BOUND,
        "{vip} taken over after {took:?} (> {SKEW_BOUND:?})"
    );
    let st = daemons[second]
        .wait_exit(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("node {second} still running 2 s after SIGTERM"));
    assert_eq!(st.code(), Some(0), "exit status {st}");
    assert!(
        !lan.holders(vip).contains(&second),
        "node {second} kept {vip}"
    );
}

/// One capture of a VRRP packet arriving on node `i`'s eth0: tcpdump's verbose line.
fn capture_vrrp(lan: &Lan, i: usize) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", lan.node_ns(i), "timeout", "5"])
        .args([
            "tcpdump",
            "-c",
            "1",
            "-n",
            "-v",
            "-i",
            "eth0",
            "ip proto 112",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run tcpdump");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two LANs joined by a router; node 0 (192.0.2.10, priority 245) on one side, node 1
/// (198.51.100.11, 244) on the other, peers of each other. Adverts cross the router (TTL 254 on
/// arrival) and are accepted: exactly one holder, the backup stays BACKUP while the master lives,
/// and takes over after SIGKILL of the master.
#[test]
fn unicast_across_a_router() {
    let lan = Lan::new_routed(2);
    assert!(
        Command::new("ip")
            .args(["netns", "exec", lan.node_ns(0), "ping", "-c1", "-W1", "-q"])
            .arg(routed_node_ip(1).to_string())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "node 0 cannot reach node 1 through the router ({ROUTER_B} side)"
    );
    let vip = common::ip("198.51.100.201");
    // Plain preemption: with the default delay whichever node's timer fires first keeps the VIP.
    let env = Env::lan("198.51.100.201")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt")
        .set(
            "OPENSHIFT_HA_UNICAST_PEERS",
            format!("{} {}", routed_node_ip(0), routed_node_ip(1)),
        );
    let daemons = start_all(&lan, &env);
    lan.converge_ips(&daemons, &[IpAddr::V4(vip)], CONVERGE);
    assert!(
        wait_until(CONVERGE, POLL, || lan.holders(vip) == vec![0]).is_some(),
        "node 0 has the higher priority: {:?}",
        lan.snapshot().0
    );

    let seen = capture_vrrp(&lan, 1);
    eprintln!(
        "routed advert on node 1: {}",
        seen.lines().next().unwrap_or("")
    );
    assert!(
        seen.contains("ttl 254")
            && seen.contains(&format!("{} > {}", routed_node_ip(0), routed_node_ip(1))),
        "advert from node 0 did not arrive routed (TTL 254):\n{seen}"
    );
    holders_stay(&lan, vip, &[0], Duration::from_secs(4));
    assert!(
        !daemons[1].logged("ipfailover_VIP_1", "Entering MASTER STATE"),
        "backup across the router became MASTER (routed adverts rejected?):\n{}",
        daemons[1].stderr()
    );

    let t0 = Instant::now();
    daemons[0].kill(libc::SIGKILL);
    let took = wait_since(t0, Duration::from_secs(10), POLL, || {
        lan.holders(vip).contains(&1)
    })
    .unwrap_or_else(|| panic!("{vip} not taken over across the router within 10 s"));
    eprintln!("routed unicast SIGKILL of node 0: {vip} on node 1 after {took:?}");
    assert!(
        took <= MDI_BOUND,
        "{vip} taken over after {took:?} (> {MDI_BOUND:?})"
    );
}

/// `UNICAST_SOURCE_IPADDRESS` is honoured: each node advertises from a second address of its
/// own (198.51.100.1x) to the peers' second addresses, and the backup names that address as
/// the master's in its status.
#[test]
fn unicast_source_address_is_honoured() {
    let lan = Lan::new(2);
    for i in 0..2 {
        lan.drop_vrrp_multicast(i);
        common::run(
            "ip",
            &[
                "-n",
                lan.node_ns(i),
                "addr",
                "add",
                &format!("198.51.100.{}/24", 10 + i),
                "dev",
                "eth0",
            ],
        );
    }
    let base = Env::lan("192.0.2.201")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt")
        .set("OPENSHIFT_HA_UNICAST_PEERS", "198.51.100.10,198.51.100.11");
    let daemons: Vec<Daemon> = (0..2)
        .map(|i| {
            lan.start(
                i,
                &base
                    .clone()
                    .set("UNICAST_SOURCE_IPADDRESS", format!("198.51.100.{}", 10 + i)),
            )
        })
        .collect();
    let vip = common::ip("192.0.2.201");
    assert!(
        wait_until(CONVERGE, POLL, || lan.holders(vip) == vec![0]).is_some(),
        "{:?}",
        lan.snapshot().0
    );
    let master_seen = wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
        std::fs::read_to_string(&daemons[1].status_path).is_ok_and(|s| {
            s.lines().any(|l| {
                l.starts_with("instance\t")
                    && l.contains("\tBACKUP\t")
                    && l.contains("\t198.51.100.10\t")
            })
        })
    });
    assert!(
        master_seen.is_some(),
        "the backup must see adverts from 198.51.100.10:\n{}",
        std::fs::read_to_string(&daemons[1].status_path).unwrap_or_default()
    );
    holders_stay(&lan, vip, &[0], Duration::from_secs(2));
}
