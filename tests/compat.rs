//! The documented Deployment with only the image swapped (issue 3, second half; contract §4):
//! multi-call names (`monitor.sh`, `remove-failover.sh`, `pgrep`), the written keepalived.conf,
//! and the log lines the OpenShift e2e test greps. Needs root; the config test needs Debian's
//! `keepalived`.
mod common;

use common::keepalived::keepalived_conf;
use common::{BIN, Daemon, Env, Lan, node_ip, wait_until};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);
const CONVERGE: Duration = Duration::from_secs(15);

/// Symlinks the binary as `<lan dir>/<rel>` (directories created); returns the link.
fn link_as(lan: &Lan, rel: &str) -> PathBuf {
    let link = lan.dir().join(rel);
    fs::create_dir_all(link.parent().expect("link has a parent")).expect("mkdir");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink binary");
    link
}

/// The documented paths of the image's scripts, under the LAN's temp dir.
const MONITOR: &str = "var/lib/ipfailover/keepalived/monitor.sh";
const REMOVE: &str = "var/lib/ipfailover/keepalived/remove-failover.sh";

/// Runs the `pgrep` applet with `args` on the host; returns (exit code, pids printed).
fn pgrep(applet: &Path, args: &[&str]) -> (Option<i32>, Vec<u32>) {
    let out = Command::new(applet)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pgrep applet");
    let pids = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("pgrep printed {l:?}"))
        })
        .collect();
    (out.status.code(), pids)
}

fn wait_holds(lan: &Lan, node: usize, vips: &[Ipv4Addr], d: &Daemon) {
    let ok = wait_until(CONVERGE, POLL, || {
        if let Some(st) = d.exited() {
            panic!("daemon exited ({st}):\n{}", d.stderr());
        }
        let have = lan.addrs(node);
        vips.iter().all(|v| have.contains(v))
    });
    assert!(
        ok.is_some(),
        "node {node} does not hold {vips:?}: {:?}\n{}",
        lan.addrs(node),
        d.stderr()
    );
}

/// `monitor.sh` runs the daemon (it takes the VIP); `pgrep keepalived` finds it while it runs
/// (its process name is `keepalived`), and `pgrep -f <its unique path>` answers 0 while it runs
/// and 1 once it is gone: a real /proc lookup.
#[test]
fn pgrep_follows_the_daemon_started_as_monitor_sh() {
    let lan = Lan::new(1);
    let monitor = link_as(&lan, MONITOR);
    let applet = link_as(&lan, "bin/pgrep");
    let path = monitor.display().to_string();
    let vip = common::ip("192.0.2.201");
    let env = Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0);

    assert_eq!(
        pgrep(&applet, &["-f", &path]),
        (Some(1), vec![]),
        "nothing runs yet"
    );
    let d = lan.spawn(0, &path, &[], &env);
    wait_holds(&lan, 0, &[vip], &d);
    let pid = d.pid();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "keepalived", "process name of the daemon");

    let (code, pids) = pgrep(&applet, &["keepalived"]);
    assert_eq!(code, Some(0), "pgrep keepalived while the daemon runs");
    assert!(
        pids.contains(&pid),
        "pgrep keepalived printed {pids:?}, not {pid}"
    );
    assert_eq!(pgrep(&applet, &["-f", &path]), (Some(0), vec![pid]));
    assert_eq!(
        pgrep(&applet, &["-f", &format!("^{path}$")]),
        (Some(0), vec![pid]),
        "anchored full command line"
    );
    assert_eq!(pgrep(&applet, &["-f", "-o", &path]), (Some(0), vec![pid]));
    assert_eq!(pgrep(&applet, &["-n", "-f", &path]), (Some(0), vec![pid]));
    assert_eq!(
        pgrep(&applet, &["^keepalived$"]).0,
        Some(0),
        "anchored process name"
    );

    d.kill(libc::SIGTERM);
    let st = d
        .wait_exit(Duration::from_secs(5))
        .expect("daemon exits on SIGTERM");
    assert_eq!(st.code(), Some(0), "exit status {st}");
    assert_eq!(
        pgrep(&applet, &["-f", &path]),
        (Some(1), vec![]),
        "pgrep -f after the daemon exited"
    );
    let (_, pids) = pgrep(&applet, &["keepalived"]);
    assert!(
        !pids.contains(&pid),
        "pgrep keepalived still lists {pid} after exit"
    );
    assert!(
        lan.addrs(0).iter().all(|a| *a != vip),
        "VIP left after SIGTERM"
    );
}

/// `remove-failover.sh` (and `ipfailover cleanup`) removes the VIPs a killed daemon left
/// behind, keeps every other address, and can run again with the same result.
#[test]
fn remove_failover_removes_stale_vips_and_is_idempotent() {
    let lan = Lan::new(1);
    let monitor = link_as(&lan, MONITOR);
    let remove = link_as(&lan, REMOVE);
    let vips = [common::ip("192.0.2.201"), common::ip("192.0.2.202")];
    let env = Env::lan("192.0.2.201-202").set("OPENSHIFT_HA_MONITOR_PORT", 0);
    let foreign = "192.0.2.250";
    common::run(
        "ip",
        &[
            "-n",
            lan.node_ns(0),
            "addr",
            "add",
            &format!("{foreign}/32"),
            "dev",
            common::IFACE,
        ],
    );

    let d = lan.spawn(0, &monitor.display().to_string(), &[], &env);
    wait_holds(&lan, 0, &vips, &d);
    // A pod killed hard (no SIGTERM) leaves its VIPs on the node, as the removal Job finds them.
    d.kill(libc::SIGKILL);
    d.wait_exit(Duration::from_secs(5))
        .expect("killed daemon reaped");
    assert!(
        vips.iter().all(|v| lan.addrs(0).contains(v)),
        "VIPs should be stale"
    );

    let want = vec![node_ip(0), common::ip(foreign)];
    let remove_s = remove.display().to_string();
    for (round, (program, args)) in [
        (remove_s.as_str(), &[][..]),
        (remove_s.as_str(), &[][..]),
        (BIN, &["cleanup"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let c = lan.spawn(0, program, args, &env);
        let st = c
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("cleanup run {round} did not finish"));
        assert_eq!(
            st.code(),
            Some(0),
            "cleanup run {round} ({program}): {st}\n{}",
            c.stderr()
        );
        assert_eq!(
            lan.addrs(0),
            want,
            "addresses after cleanup run {round} ({program})"
        );
    }
}

/// The keepalived.conf the daemon writes at start (here to `OPENSHIFT_HA_KEEPALIVED_CONF`,
/// since the default `/etc/keepalived` is private to the daemon's mount namespace) passes
/// `keepalived --config-test`, names VRID 11, and equals `ipfailover config --keepalived`.
#[test]
fn written_keepalived_conf_passes_keepalived_config_test() {
    let lan = Lan::new(1);
    let conf = lan.dir().join("written").join("keepalived.conf");
    fs::create_dir_all(conf.parent().expect("parent")).expect("mkdir");
    let env = Env::lan("192.0.2.201-205")
        .set("OPENSHIFT_HA_VIP_GROUPS", 2)
        .set("OPENSHIFT_HA_KEEPALIVED_CONF", conf.display());
    let d = lan.start(0, &env);
    let written = wait_until(Duration::from_secs(5), POLL, || {
        fs::read_to_string(&conf).is_ok_and(|s| s.contains("virtual_ipaddress"))
    });
    assert!(
        written.is_some(),
        "{} not written:\n{}",
        conf.display(),
        d.stderr()
    );
    let text = fs::read_to_string(&conf).expect("read written conf");
    assert!(
        text.contains("virtual_router_id 11"),
        "no `virtual_router_id 11` in:\n{text}"
    );

    let conf_s = conf.display().to_string();
    let t = lan.spawn(0, "keepalived", &["--config-test", "-f", &conf_s], &env);
    let st = t
        .wait_exit(Duration::from_secs(10))
        .expect("keepalived --config-test finishes");
    let out = format!("{}{}", t.stdout(), t.stderr());
    assert_eq!(
        st.code(),
        Some(0),
        "keepalived --config-test: {st}\n{out}\n---\n{text}"
    );
    for bad in [
        "Unknown keyword",
        "not valid",
        "outside range",
        "SECURITY VIOLATION",
    ] {
        assert!(
            !out.contains(bad),
            "keepalived --config-test says {bad:?}:\n{out}"
        );
    }

    let printed = lan.start_cmd(0, &["config", "--keepalived"], &env);
    let st = printed
        .wait_exit(Duration::from_secs(5))
        .expect("config --keepalived finishes");
    assert!(
        st.success(),
        "config --keepalived: {st}\n{}",
        printed.stderr()
    );
    assert_eq!(
        printed.stdout(),
        text,
        "`ipfailover config --keepalived` differs from the written file"
    );
}

/// The OpenShift e2e check `ensureIpfailoverMasterBackup`: the last log line containing
/// `Entering` is `(ipfailover_VIP_1) Entering MASTER STATE` on one pod and `... BACKUP STATE`
/// on the other.
#[test]
fn e2e_last_entering_line_is_master_on_one_backup_on_other() {
    let lan = Lan::new(2);
    let vip = common::ip("192.0.2.201");
    let env = Env::lan("192.0.2.201").set("OPENSHIFT_HA_MONITOR_PORT", 0);
    let daemons: Vec<Daemon> = (0..2).map(|i| lan.start(i, &env)).collect();
    let last_entering = |d: &Daemon| {
        d.stderr()
            .lines()
            .rfind(|l| l.contains("Entering"))
            .unwrap_or_default()
            .to_string()
    };
    let mut master = None;
    let ok = wait_until(CONVERGE, POLL, || {
        let holders = lan.holders(vip);
        let lines: Vec<String> = daemons.iter().map(last_entering).collect();
        let is = |i: usize, s: &str| {
            lines[i].contains(&format!("(ipfailover_VIP_1) Entering {s} STATE"))
        };
        master = (0..2).find(|&i| is(i, "MASTER") && is(1 - i, "BACKUP"));
        master.is_some_and(|m| holders == vec![m])
    });
    assert!(
        ok.is_some(),
        "last `Entering` lines: {:?}, holders {:?}",
        daemons.iter().map(last_entering).collect::<Vec<_>>(),
        lan.holders(vip)
    );
}

/// The helper's keepalived.conf reproduces the worked example of openshift-ipfailover-today.md
/// §3.8 (the output of the real scripts) byte for byte, with `RANDOM % 32` = 0: the slave
/// priorities are 15 where the scripts drew 27 and 42. (Addresses are only text here.)
#[test]
fn keepalived_conf_helper_matches_the_scripts_worked_example() {
    let env = Env::default()
        .set("OPENSHIFT_HA_VIRTUAL_IPS", "10.0.2.100-102")
        .set("OPENSHIFT_HA_REPLICA_COUNT", 2);
    let got = keepalived_conf(&env, Ipv4Addr::new(10, 0, 2, 15), "eth0");
    let instance = |n: u32, state: &str, prio: u32, vip: &str| {
        format!(
            "\nvrrp_instance OpenShift_IPFailover_VIP_{n} {{\n   interface eth0\n   {state}\n   \
             virtual_router_id {}\n   priority {prio}\n   preempt_delay 300\n   \n   \
             authentication {{\n      auth_type PASS\n      auth_pass OpenShift-IPFailover\n   }}\n   \n   \
             track_script {{\n      chk_OpenShift_IPFailover\n   }}\n   \n \n   \n   \
             virtual_ipaddress {{\n    {vip} dev eth0\n   }}\n}}\n\n",
            10 + n
        )
    };
    let want = format!(
        "! Configuration File for keepalived\n\nglobal_defs {{\n   max_auto_priority    99\n   \
         notification_email {{\n     root@localhost\n   }}\n\n   \
         notification_email_from ipfailover@openshift.local\n   smtp_server 127.0.0.1\n   \
         smtp_connect_timeout 30\n   router_id OpenShift_IPFailover\n}}\n\n\
         vrrp_script chk_OpenShift_IPFailover {{\n   script \"/bin/bash -c '</dev/tcp/10.0.2.15/80'\"\n   \
         interval 2\n}}\n\n{}{}{}",
        instance(1, "", 15, "10.0.2.100"),
        instance(2, "state MASTER", 240, "10.0.2.101"),
        instance(3, "", 15, "10.0.2.102"),
    );
    assert_eq!(got, want);

    // The other replica of that example (node .16): all three master-type, 239 / 17 / 239.
    let other = common::keepalived::instances(&env, Ipv4Addr::new(10, 0, 2, 16));
    let prios: Vec<(i64, bool)> = other.iter().map(|i| (i.priority, i.master)).collect();
    assert_eq!(prios, vec![(239, true), (17, true), (239, true)]);
}
