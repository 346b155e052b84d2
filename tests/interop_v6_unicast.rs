//! Mixed clusters with Debian's keepalived beyond IPv4 multicast (issue 4): unicast on a LAN
//! where multicast VRRP is dropped, and IPv6 (VRRPv3) on an IPv6-only LAN. Needs root,
//! keepalived and nft.
mod common;

use common::keepalived::Keepalived;
use common::topology::{LanOptions, node_ip6};
use common::{Env, Lan, wait_since, wait_until};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(20);
const CONVERGE: Duration = Duration::from_secs(15);
/// Skew_Time (< 1 s) plus the 0.3 s the core tests allow.
const SKEW_BOUND: Duration = Duration::from_millis(1300);
/// Master_Down_Interval (< 4 s) plus 0.5 s.
const MDI_BOUND: Duration = Duration::from_millis(4500);

/// keepalived lines that would mean it rejected our packets.
fn complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            ["invalid", "mismatch", "wrong version", "unexpected", "TTL"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect()
}

/// Our lines that would mean we rejected keepalived's packets.
fn rejections(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("dropped") || l.contains("(from ") || l.contains("collision"))
        .collect()
}

#[test]
fn unicast_with_keepalived_where_multicast_is_dropped() {
    let lan = Lan::new(2);
    for i in 0..2 {
        lan.drop_vrrp_multicast(i);
    }
    let vip = Ipv4Addr::new(192, 0, 2, 201);
    // Every node listed, itself included, as operators do with OPENSHIFT_HA_UNICAST_PEERS.
    let env = Env::lan("192.0.2.201")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt")
        .set("OPENSHIFT_HA_UNICAST_PEERS", "192.0.2.10,192.0.2.11");
    // Node 0 (ipslot 10, priority 245) outranks node 1 (244) for the single master-type VIP.
    let k = Keepalived::start(&lan, 0, &env);
    let i = lan.start(1, &env);
    assert!(
        wait_until(CONVERGE, POLL, || lan.holders(vip) == vec![0]).is_some(),
        "keepalived (245) must hold it: {:?}",
        lan.snapshot().0
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lan.holders(vip), vec![0], "one holder, over unicast only");
    // keepalived hands off by unicast priority 0; we take over within Skew_Time.
    let t0 = Instant::now();
    k.daemon.kill(libc::SIGTERM);
    let took = wait_since(t0, SKEW_BOUND, POLL, || lan.holders(vip) == vec![1]);
    assert!(
        took.is_some(),
        "ours must take over from keepalived: {:?}",
        lan.snapshot().0
    );
    eprintln!("unicast K->I hand-off: {:?}", took);
    // keepalived back: it preempts us (245 > 244) through unicast adverts.
    let k2 = Keepalived::start(&lan, 0, &env);
    assert!(
        wait_until(CONVERGE, POLL, || lan.holders(vip) == vec![0]).is_some(),
        "keepalived must take it back"
    );
    // Ours dies: keepalived stays; ours restarts as backup; keepalived dies hard: ours takes over.
    k2.sigkill();
    let t0 = Instant::now();
    let took = wait_since(t0, MDI_BOUND, POLL, || lan.holders(vip).contains(&1));
    assert!(
        took.is_some(),
        "ours must notice keepalived's death by unicast silence"
    );
    for log in [&k.stderr(), &k2.stderr()] {
        assert!(
            complaints(log).is_empty(),
            "keepalived complained: {:?}",
            complaints(log)
        );
    }
    assert!(
        rejections(&i.stderr()).is_empty(),
        "we rejected keepalived: {:?}",
        rejections(&i.stderr())
    );
}

/// A keepalived.conf for one IPv6 VIP (the IPv4 generator of today's rules does not model IPv6
/// VIPs): keepalived makes the instance VRRPv3 without auth by itself.
fn keepalived_conf_v6(vip: Ipv6Addr, priority: u8) -> String {
    format!(
        "global_defs {{\n   router_id ipfailover\n}}\n\nvrrp_instance ipfailover_VIP_1 {{\n   interface eth0\n   \
         virtual_router_id 11\n   priority {priority}\n   virtual_ipaddress {{\n    {vip} dev eth0\n   }}\n}}\n"
    )
}

#[test]
fn ipv6_vrrpv3_with_keepalived() {
    let lan = Lan::new_with(LanOptions::ipv6_only(2));
    let vip: Ipv6Addr = "2001:db8::1:a".parse().expect("vip");
    let env = Env::lan("2001:db8::1:a")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt");
    // Ours on node 1: IPv6-only, its priority comes from 2001:db8::11 -> 255 - 0x11 = 238.
    assert_eq!(
        node_ip6(1),
        "2001:db8::11".parse::<Ipv6Addr>().expect("addr")
    );
    let conf = lan.dir().join("ka-v6.conf");
    std::fs::write(&conf, keepalived_conf_v6(vip, 200)).expect("write conf");
    let c = conf.display().to_string();
    let pid = lan.dir().join("ka-v6.pid").display().to_string();
    let vpid = lan.dir().join("ka-v6.vrrp.pid").display().to_string();
    let k = lan.spawn(
        0,
        "keepalived",
        &["-n", "-l", "-D", "-G", "-f", &c, "-p", &pid, "-r", &vpid],
        &env,
    );
    assert!(
        wait_until(CONVERGE, POLL, || lan.holders6(vip) == vec![0]).is_some(),
        "keepalived alone: {}",
        k.stderr()
    );
    // Ours joins with a higher priority and preempts keepalived.
    let i = lan.start(1, &env);
    assert!(
        wait_until(CONVERGE, POLL, || lan.holders6(vip) == vec![1]).is_some(),
        "ours (238) must preempt keepalived (200):\n{}",
        i.stderr()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lan.holders6(vip), vec![1]);
    // Ours hands off: keepalived takes over within its Skew_Time (56/256 s) + 0.3 s.
    let t0 = Instant::now();
    i.kill(libc::SIGTERM);
    let took = wait_since(t0, Duration::from_millis(600), POLL, || {
        lan.holders6(vip) == vec![0]
    });
    assert!(
        took.is_some(),
        "keepalived must take over after our priority-0 advert: {}",
        k.stderr()
    );
    eprintln!("IPv6 I->K hand-off: {:?}", took);
    assert!(
        complaints(&k.stderr()).is_empty(),
        "keepalived complained: {:?}",
        complaints(&k.stderr())
    );
    assert!(
        rejections(&i.stderr()).is_empty(),
        "we rejected keepalived: {:?}",
        rejections(&i.stderr())
    );
}
