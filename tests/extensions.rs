//! Opt-in features beyond keepalived (issue 8): the sub-second profile, least privilege and
//! VRID collision detection, on a LAN of network namespaces. Needs root and `capsh`.
mod common;

use common::{Env, Lan, wait_since, wait_until};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 201);
const POLL: Duration = Duration::from_millis(5);

fn holder(lan: &Lan) -> Option<usize> {
    let h = lan.holders(VIP);
    (h.len() == 1).then(|| h[0])
}

/// The single holder once the election has settled (start-up can briefly give two masters).
fn settled_holder(lan: &Lan) -> usize {
    let mut last = None;
    let mut since = Instant::now();
    let ok = wait_until(Duration::from_secs(8), POLL, || {
        let now = holder(lan);
        if now != last {
            last = now;
            since = Instant::now();
        }
        last.is_some() && since.elapsed() > Duration::from_millis(500)
    });
    assert!(ok.is_some(), "no settled holder: {:?}", lan.snapshot().0);
    last.unwrap_or(0)
}

fn sub_second() -> Env {
    Env::lan("192.0.2.201")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_PREEMPTION", "preempt")
        .set("OPENSHIFT_HA_VRRP_VERSION", 3)
        .set("OPENSHIFT_HA_ADVERT_INTERVAL", "0.1")
}

#[test]
fn sub_second_profile_takes_over_in_a_third_of_a_second() {
    let lan = Lan::new(2);
    let daemons: Vec<_> = (0..2).map(|i| lan.start(i, &sub_second())).collect();
    let h = settled_holder(&lan);
    let other = 1 - h;
    // VRRPv3 with 0.1 s adverts: Master_Down_Interval = 0.3 s + Skew_Time (< 0.1 s).
    let t0 = Instant::now();
    daemons[h].kill(libc::SIGKILL);
    lan.unplug(h);
    // The killed node keeps its VIP configured (SIGKILL cleans nothing); it is unplugged.
    let took = wait_since(t0, Duration::from_secs(3), POLL, || {
        lan.holders(VIP).contains(&other)
    })
    .unwrap_or_else(|| panic!("no takeover after SIGKILL: {:?}", lan.snapshot().0));
    println!(
        "sub-second profile: takeover {} ms after SIGKILL",
        took.as_millis()
    );
    assert!(
        took < Duration::from_millis(700),
        "takeover took {took:?}, bound 0.4 s + 0.3 s"
    );
    assert!(
        daemons[other]
            .stderr()
            .contains("keepalived-based pods on this network must use the same")
    );
}

#[test]
fn sub_second_profile_hands_off_within_a_tenth_of_skew() {
    let lan = Lan::new(2);
    let daemons: Vec<_> = (0..2).map(|i| lan.start(i, &sub_second())).collect();
    let h = settled_holder(&lan);
    let t0 = Instant::now();
    daemons[h].kill(libc::SIGTERM);
    let took = wait_since(t0, Duration::from_secs(3), POLL, || {
        lan.holders(VIP) == vec![1 - h]
    })
    .unwrap_or_else(|| panic!("no hand-off after SIGTERM: {:?}", lan.snapshot().0));
    println!(
        "sub-second profile: hand-off {} ms after SIGTERM",
        took.as_millis()
    );
    assert!(
        took < Duration::from_millis(400),
        "hand-off took {took:?}, bound Skew_Time (< 0.1 s) + 0.3 s"
    );
}

/// Runs the daemon under `capsh` with exactly `keep` in the bounding set (root's effective set
/// after exec is the bounding set).
fn start_with_caps(lan: &Lan, node: usize, keep: &[&str], env: &Env) -> common::Daemon {
    let all = common::run("capsh", &["--print"]);
    let bounding = all
        .lines()
        .find_map(|l| l.strip_prefix("Bounding set =").map(str::trim))
        .expect("capsh --print shows the bounding set");
    let drop: Vec<&str> = bounding.split(',').filter(|c| !keep.contains(c)).collect();
    let cmd = format!("exec {}", common::BIN);
    lan.spawn(
        node,
        "capsh",
        &[&format!("--drop={}", drop.join(",")), "--", "-c", &cmd],
        env,
    )
}

#[test]
fn needs_only_net_admin_and_net_raw() {
    let lan = Lan::new(1);
    let env = Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0);
    let d = start_with_caps(&lan, 0, &["cap_net_admin", "cap_net_raw"], &env);
    let held = wait_until(Duration::from_secs(8), Duration::from_millis(50), || {
        lan.holders(VIP) == vec![0]
    });
    assert!(
        held.is_some(),
        "with only NET_ADMIN and NET_RAW the node must become master:\n{}",
        d.stderr()
    );
    assert!(d.exited().is_none());
}

#[test]
fn a_missing_capability_exits_2_naming_it() {
    let lan = Lan::new(1);
    let env = Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0);
    for (keep, missing) in [
        ("cap_net_admin", "CAP_NET_RAW"),
        ("cap_net_raw", "CAP_NET_ADMIN"),
    ] {
        let before = lan.addr_dump(0);
        let d = start_with_caps(&lan, 0, &[keep], &env);
        let status = d.wait_exit(Duration::from_secs(5)).expect("must exit");
        assert_eq!(status.code(), Some(2), "{}", d.stderr());
        assert!(
            d.stderr().contains(missing),
            "must name {missing}:\n{}",
            d.stderr()
        );
        assert_eq!(lan.addr_dump(0), before, "nothing changed on the host");
    }
}

#[test]
fn another_cluster_on_our_vrids_is_named_in_a_warning_and_counted() {
    let lan = Lan::new(2);
    // Same VRIDs, different config name: a different password, as with a second deployment.
    let ours = Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0);
    let theirs = Env::lan("192.0.2.202")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_CONFIG_NAME", "other");
    let a = lan.start(0, &ours);
    let _b = lan.start(1, &theirs);
    let warned = wait_until(Duration::from_secs(8), Duration::from_millis(100), || {
        a.stderr()
            .contains("WARNING - VRID 11 collision: adverts from 192.0.2.11")
    });
    assert!(warned.is_some(), "no collision warning:\n{}", a.stderr());
    // One warning per source and VRID per minute, however many adverts arrive.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        a.stderr().matches("VRID 11 collision").count(),
        1,
        "{}",
        a.stderr()
    );
    let status = std::fs::read_to_string(&a.status_path).expect("status file");
    let count = status
        .lines()
        .find_map(|l| l.strip_prefix("counter\tvrid_collision\t"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(count >= 3, "vrid_collision counter {count} in\n{status}");
}
