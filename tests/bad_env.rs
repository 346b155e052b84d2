//! A bad environment (one case per variable) makes the real `run` command exit 2 with one
//! stderr line naming the variable, and leaves the node's addresses unchanged (issue 2, item 7).
//! Needs root. All cases run one after another in one node namespace.
mod common;

use common::{Env, Lan, wait_until};
use std::time::Duration;

/// One bad setting: `var` set to `value` (or removed when `None`) on top of a good base.
struct Case {
    var: &'static str,
    value: Option<&'static str>,
    /// Names the error line may use (the first is the variable itself).
    names: &'static [&'static str],
}

const fn case(var: &'static str, value: &'static str) -> Case {
    Case {
        var,
        value: Some(value),
        names: &[],
    }
}

const CASES: &[Case] = &[
    Case {
        var: "OPENSHIFT_HA_VIRTUAL_IPS",
        value: None,
        names: &[],
    },
    case("OPENSHIFT_HA_VIRTUAL_IPS", "garbage"),
    case("OPENSHIFT_HA_VIRTUAL_IPS", "192.0.2.203-201"),
    case("OPENSHIFT_HA_VIRTUAL_IPS", "192.0.2.201/24"),
    case("OPENSHIFT_HA_VIRTUAL_IPS", "192.0.2.250-260"),
    case("OPENSHIFT_HA_VIRTUAL_IPS", "192.0.2.201,192.0.2.201"),
    case("OPENSHIFT_HA_VIP_GROUPS", "abc"),
    case("OPENSHIFT_HA_NETWORK_INTERFACE", "nosuch0"),
    case("OPENSHIFT_HA_MONITOR_PORT", "70000"),
    case("OPENSHIFT_HA_CHECK_INTERVAL", "0"),
    case("OPENSHIFT_HA_CHECK_INTERVAL", "x"),
    case("OPENSHIFT_HA_CHECK_SCRIPT", "check.sh"),
    case("OPENSHIFT_HA_NOTIFY_SCRIPT", "notify.sh"),
    case("OPENSHIFT_HA_PREEMPTION", "bogus"),
    case("OPENSHIFT_HA_REPLICA_COUNT", "0"),
    case("OPENSHIFT_HA_VRRP_ID_OFFSET", "5x"),
    case("HA_EXCLUDED_VRRP_IDS", "300"),
    case("OPENSHIFT_HA_EXCLUDED_VRRP_IDS", "300"),
    case("OPENSHIFT_HA_UNICAST_PEERS", "garbage"),
    Case {
        var: "OPENSHIFT_HA_USE_UNICAST",
        value: Some("true"),
        names: &["OPENSHIFT_HA_UNICAST_PEERS"],
    },
    case("MULTICAST_SOURCE_IPADDRESS", "garbage"),
];

/// A configuration that is valid on the node: the control case proves each failure is the
/// variable's fault.
fn base() -> Env {
    Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0)
}

#[test]
fn each_bad_variable_exits_2_naming_it_and_changes_nothing() {
    let lan = Lan::new(1);
    // IPv6 DAD flips the link-local address from "tentative" while we compare: let it settle.
    let settled = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        !lan.addr_dump(0).contains("tentative")
    });
    assert!(settled.is_some(), "link-local address never left DAD");

    let control = lan.start_cmd(0, &["config"], &base());
    let st = control
        .wait_exit(Duration::from_secs(5))
        .expect("config exits");
    assert_eq!(
        st.code(),
        Some(0),
        "the base configuration must be valid: {}",
        control.stderr()
    );

    let mut failures = Vec::new();
    for c in CASES {
        let env = match c.value {
            Some(v) => base().set(c.var, v),
            None => base().unset(c.var),
        };
        let label = format!("{}={:?}", c.var, c.value);
        let before = lan.addr_dump(0);
        let d = lan.start(0, &env);
        let Some(status) = d.wait_exit(Duration::from_secs(5)) else {
            d.kill(libc::SIGKILL);
            let _ = d.wait_exit(Duration::from_secs(2));
            failures.push(format!("{label}: still running after 5 s"));
            continue;
        };
        let stderr = d.stderr();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        if status.code() != Some(2) {
            failures.push(format!("{label}: exit status {status}, want 2"));
        }
        let named = |l: &&str| l.contains(c.var) || c.names.iter().any(|n| l.contains(n));
        if lines.len() != 1 || !lines.iter().any(named) {
            failures.push(format!(
                "{label}: want one stderr line naming {}, got {lines:?}",
                c.var
            ));
        }
        let after = lan.addr_dump(0);
        if before != after {
            failures.push(format!(
                "{label}: addresses changed\nbefore:\n{before}after:\n{after}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
