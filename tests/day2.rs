//! Day-2 operations on a running node (issue 5): `ipfailover status` and `probe` from another
//! process, the nftables table made at start and removed by `cleanup`, and the script checks
//! an administrator is warned about (issue 6). Needs root and `nft`.
mod common;

use common::{Env, Lan, wait_until};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);

fn env() -> Env {
    Env::lan("192.0.2.201-202")
        .set("OPENSHIFT_HA_MONITOR_PORT", 0)
        .set("OPENSHIFT_HA_KEEPALIVED_CONF", "none")
}

/// Runs `ipfailover <args>` outside the namespace, reading `status_file` as `oc exec` would.
fn inspect(status_file: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::BIN)
        .args(args)
        .env_clear()
        .env("OPENSHIFT_HA_STATUS_FILE", status_file)
        .output()
        .expect("run ipfailover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_and_probe_follow_the_daemon() {
    let lan = Lan::new(1);
    let d = lan.start(0, &env());
    let mastered = wait_until(Duration::from_secs(8), POLL, || {
        inspect(&d.status_path, &["status"])
            .1
            .matches(" MASTER ")
            .count()
            == 2
    });
    assert!(
        mastered.is_some(),
        "status must show both instances MASTER:\n{}",
        inspect(&d.status_path, &["status"]).1
    );
    let (code, table, _) = inspect(&d.status_path, &["status"]);
    assert_eq!(code, 0);
    for want in [
        "ipfailover_VIP_1",
        "ipfailover_VIP_2",
        "192.0.2.201",
        "192.0.2.10",
        "check: healthy",
    ] {
        assert!(table.contains(want), "{want} missing in\n{table}");
    }
    let (code, json, _) = inspect(&d.status_path, &["status", "--json"]);
    assert_eq!(code, 0);
    assert!(
        json.starts_with('{') && json.trim_end().ends_with('}'),
        "{json}"
    );
    assert!(
        json.contains("\"state\":\"MASTER\"") && json.contains("\"vrid\":11"),
        "{json}"
    );
    let (code, out, _) = inspect(&d.status_path, &["probe"]);
    assert_eq!(code, 0, "{out}");
    // A stopped loop fails the probe within a few seconds, with the reason.
    d.kill(libc::SIGSTOP);
    let failed = wait_until(Duration::from_secs(10), Duration::from_millis(250), || {
        inspect(&d.status_path, &["probe"]).0 != 0
    });
    assert!(
        failed.is_some(),
        "probe must fail when the loop does not turn"
    );
    assert!(
        inspect(&d.status_path, &["probe"])
            .2
            .contains("has not turned its event loop")
    );
    d.kill(libc::SIGCONT);
    assert!(
        wait_until(Duration::from_secs(5), POLL, || inspect(
            &d.status_path,
            &["probe"]
        )
        .0 == 0)
        .is_some()
    );
    d.kill(libc::SIGTERM);
    d.wait_exit(Duration::from_secs(3)).expect("exit");
    let (code, _, err) = inspect(&d.status_path, &["probe"]);
    assert_ne!(code, 0);
    assert!(err.contains("is gone"), "{err}");
}

#[test]
fn firewall_table_is_made_at_start_kept_at_stop_and_removed_by_cleanup() {
    let lan = Lan::new(1);
    let ns = lan.node_ns(0).to_string();
    let nft = || {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "nft",
                "list",
                "table",
                "inet",
                "keepalived",
            ])
            .output()
    };
    let env = env().set("OPENSHIFT_HA_NFTABLES_RULE", "INPUT");
    let d = lan.start(0, &env);
    assert!(
        wait_until(Duration::from_secs(5), POLL, || nft()
            .is_ok_and(|o| o.status.success()))
        .is_some()
    );
    let listing = String::from_utf8_lossy(&nft().expect("nft").stdout).into_owned();
    for want in [
        "hook input",
        "ip daddr 224.0.0.18 accept",
        "ip6 daddr ff02::12 accept",
        "meta l4proto vrrp accept",
    ] {
        assert!(listing.contains(want), "{want} missing in\n{listing}");
    }
    d.kill(libc::SIGTERM);
    d.wait_exit(Duration::from_secs(3)).expect("exit");
    assert!(
        nft().expect("nft").status.success(),
        "SIGTERM keeps the table (contract §3)"
    );
    for _ in 0..2 {
        let c = lan.start_cmd(0, &["cleanup"], &env);
        assert_eq!(
            c.wait_exit(Duration::from_secs(5)).and_then(|s| s.code()),
            Some(0),
            "{}",
            c.stderr()
        );
    }
    assert!(
        !nft().expect("nft").status.success(),
        "cleanup removes the table (and is idempotent)"
    );
}

#[test]
fn scripts_others_can_change_are_reported_once_and_files_without_shebang_never_run() {
    let lan = Lan::new(1);
    let open = lan.script("open-notify.sh", "exit 0");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
    let plain = lan.dir().join("plain-check");
    let marker = lan.dir().join("ran");
    fs::write(&plain, format!("touch {}\n", marker.display())).expect("write");
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o755)).expect("chmod");
    let env = env()
        .set("OPENSHIFT_HA_NOTIFY_SCRIPT", open.display())
        .set("OPENSHIFT_HA_CHECK_SCRIPT", plain.display())
        .set("OPENSHIFT_HA_CHECK_INTERVAL", 1);
    let d = lan.start(0, &env);
    let faulted = wait_until(Duration::from_secs(5), POLL, || {
        d.logged("ipfailover_VIP_1", "Entering FAULT STATE")
    });
    assert!(
        faulted.is_some(),
        "a check that cannot run is a failure:\n{}",
        d.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    let log = d.stderr();
    assert_eq!(
        log.matches("SECURITY WARNING - notify script").count(),
        1,
        "{log}"
    );
    assert!(log.contains("is writable by group or others"), "{log}");
    assert!(log.contains("no #! line and not a binary"), "{log}");
    assert!(
        !marker.exists(),
        "a file without #! must never be run through a shell"
    );
}
