//! Real keepalived (Debian's 2.2.7) in a node namespace, with the keepalived.conf that today's
//! OpenShift scripts would generate for the same environment.
//!
//! The configuration is written here from the rules in openshift-ipfailover-today.md §3.1-§3.4
//! (config-generators.sh), independently of the daemon's own rendering, so that a mixed cluster
//! tests our reading of those rules against keepalived's. One deliberate difference: the
//! scripts' `RANDOM % 32` in "slave" priorities is taken as 0 here (the contract makes ours a
//! deterministic hash instead), so tests must not rely on slave priorities being equal on
//! both kinds; master-type and flip-flop priorities carry no random part and are exact.
#![allow(dead_code)] // each test crate uses a different subset

use super::{Daemon, Env, Lan};
use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Value of `key` in `env`, if set.
fn get<'a>(env: &'a Env, key: &str) -> Option<&'a str> {
    env.vars()
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Value of a numeric variable, `default` when unset, empty or not a number (bash arithmetic
/// would make garbage 0 or an error; tests never pass garbage).
fn num(env: &Env, key: &str, default: i64) -> i64 {
    get(env, key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// `scrub` of today's scripts: keep alphanumerics, `-` and `_`, then `-` becomes `_`.
fn scrub(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .map(|c| if c == '-' { '_' } else { c })
        .collect()
}

/// The VIPs of `OPENSHIFT_HA_VIRTUAL_IPS`: IPv4 items `a.b.c.d` or `a.b.c.d-e` separated by
/// commas (the only forms the tests use; the scripts' quirks on other input are not modelled).
pub fn vips(env: &Env) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for item in get(env, "OPENSHIFT_HA_VIRTUAL_IPS")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (first, end) = match item.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (item, None),
        };
        let start: Ipv4Addr = first.parse().expect("IPv4 VIP in test env");
        let [a, b, c, d] = start.octets();
        let last = end.map_or(d, |e| {
            e.rsplit('.')
                .next()
                .and_then(|x| x.parse().ok())
                .expect("range end")
        });
        out.extend((d..=last).map(|x| Ipv4Addr::new(a, b, c, x)));
    }
    out
}

/// VIPs split into instances: one per VIP, or `OPENSHIFT_HA_VIP_GROUPS` groups where the first
/// N%G groups get N/G+1 VIPs (G > N: one VIP per instance).
pub fn groups(env: &Env) -> Vec<Vec<Ipv4Addr>> {
    let all = vips(env);
    let g = usize::try_from(num(env, "OPENSHIFT_HA_VIP_GROUPS", 0)).unwrap_or(0);
    if g == 0 || g >= all.len() {
        return all.into_iter().map(|v| vec![v]).collect();
    }
    let (base, extra) = (all.len() / g, all.len() % g);
    let mut rest = all.as_slice();
    (0..g)
        .map(|i| {
            let (head, tail) = rest.split_at(base + usize::from(i < extra));
            rest = tail;
            head.to_vec()
        })
        .collect()
}

/// One `vrrp_instance` as the scripts compute it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// `<scrub(name)>_VIP_<n>`.
    pub name: String,
    pub vrid: i64,
    /// As written in the config (the scripts never clamp; the random part is 0 here).
    pub priority: i64,
    /// Whether the `state MASTER` line is written ("master-type").
    pub master: bool,
    pub vips: Vec<Ipv4Addr>,
}

/// The instances for `env` on a node whose interface IPv4 is `node_ip` (§3.3: ipslot, replica
/// spreading, flip-flop, VRID offset with persistent exclusion bumps).
pub fn instances(env: &Env, node_ip: Ipv4Addr) -> Vec<Instance> {
    let name = scrub(get(env, "OPENSHIFT_HA_CONFIG_NAME").unwrap_or("OpenShift-IPFailover"));
    let preemption = get(env, "OPENSHIFT_HA_PREEMPTION").unwrap_or("preempt_delay 300");
    let excluded: Vec<i64> = get(env, "HA_EXCLUDED_VRRP_IDS")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let ipslot = i64::from(node_ip.octets()[3]) % 128;
    let replicas = num(env, "OPENSHIFT_HA_REPLICA_COUNT", 1);
    let nodecount = if replicas > 0 { replicas } else { 1 };
    let idx = ipslot % nodecount + 1;
    let mut offset = num(env, "OPENSHIFT_HA_VRRP_ID_OFFSET", 10);
    let mut previous = "none";
    let mut out = Vec::new();
    for (i, vips) in groups(env).into_iter().enumerate() {
        let counter = i64::try_from(i).expect("instance index") + 1;
        // `RANDOM % 32` taken as 0 (see the module docs).
        let mut priority = ipslot % 64;
        let mut master = false;
        if counter % idx == 0 {
            let kind = if preemption == "nopreempt" {
                "slave"
            } else {
                "master"
            };
            master = kind == "master";
            if previous == "master" {
                priority = ipslot + 1;
                previous = "flip-flop";
            } else {
                priority = 255 - ipslot;
                previous = kind;
            }
        }
        while excluded.contains(&(offset + counter)) {
            offset += 1;
        }
        out.push(Instance {
            name: format!("{name}_VIP_{counter}"),
            vrid: offset + counter,
            priority,
            master,
            vips,
        });
    }
    out
}

/// The keepalived.conf today's scripts write for `env` on a node with interface `iface` holding
/// `node_ip` (§3.1, §3.4): same blocks, same order, same verbatim values.
pub fn keepalived_conf(env: &Env, node_ip: Ipv4Addr, iface: &str) -> String {
    let raw_name = get(env, "OPENSHIFT_HA_CONFIG_NAME").unwrap_or("OpenShift-IPFailover");
    let chk = format!("chk_{}", raw_name.replace('-', "_"));
    let preemption = get(env, "OPENSHIFT_HA_PREEMPTION").unwrap_or("preempt_delay 300");
    let port = num(env, "OPENSHIFT_HA_MONITOR_PORT", 80);
    let script = match get(env, "OPENSHIFT_HA_CHECK_SCRIPT").filter(|s| !s.is_empty()) {
        Some(s) => s.to_string(),
        None if port == 0 => "true".to_string(),
        None => format!("/bin/bash -c '</dev/tcp/{node_ip}/{port}'"),
    };
    let interval = get(env, "OPENSHIFT_HA_CHECK_INTERVAL").unwrap_or("2");
    let emails = get(env, "OPENSHIFT_HA_ADMIN_EMAILS").unwrap_or("root@localhost");
    let smtp = get(env, "OPENSHIFT_HA_SMTP_SERVER").unwrap_or("127.0.0.1");

    let mut c = String::from("! Configuration File for keepalived\n\nglobal_defs {\n");
    c.push_str("   max_auto_priority    99\n   notification_email {\n");
    for e in emails.split_whitespace() {
        let _ = writeln!(c, "     {e}");
    }
    let _ = write!(
        c,
        "   }}\n\n   notification_email_from ipfailover@openshift.local\n   smtp_server {smtp}\n   \
         smtp_connect_timeout 30\n   router_id {}\n}}\n\n",
        scrub(raw_name)
    );
    let _ = write!(
        c,
        "vrrp_script {chk} {{\n   script \"{script}\"\n   interval {interval}\n}}\n\n"
    );
    for inst in instances(env, node_ip) {
        let _ = write!(
            c,
            "\nvrrp_instance {} {{\n   interface {iface}\n",
            inst.name
        );
        c.push_str(if inst.master {
            "   state MASTER\n"
        } else {
            "   \n"
        });
        let _ = write!(
            c,
            "   virtual_router_id {}\n   priority {}\n   {preemption}\n   \n   authentication {{\n      \
             auth_type PASS\n      auth_pass {raw_name}\n   }}\n   \n   track_script {{\n      {chk}\n   }}\n",
            inst.vrid, inst.priority
        );
        // The generator leaves whitespace-only lines where optional settings are absent.
        match get(env, "OPENSHIFT_HA_NOTIFY_SCRIPT").filter(|s| !s.is_empty()) {
            Some(n) => _ = writeln!(c, "   notify \"{n}\""),
            None => c.push_str("   \n"),
        }
        c.push_str(" \n");
        if let Some(src) = get(env, "MULTICAST_SOURCE_IPADDRESS").filter(|s| !s.is_empty()) {
            let _ = writeln!(c, "    mcast_src_ip {src}");
        }
        if let Some(src) = get(env, "UNICAST_SOURCE_IPADDRESS").filter(|s| !s.is_empty()) {
            let _ = writeln!(c, "    unicast_src_ip {src}");
        }
        if let Some(peers) = get(env, "OPENSHIFT_HA_UNICAST_PEERS").filter(|s| !s.is_empty()) {
            c.push_str("    unicast_peer {\n");
            for p in peers.split(',') {
                let _ = writeln!(c, "        {p}");
            }
            c.push_str("    }\n");
        }
        c.push_str("   \n   virtual_ipaddress {\n");
        for v in &inst.vips {
            let _ = writeln!(c, "    {v} dev {iface}");
        }
        c.push_str("   }\n}\n\n");
    }
    c
}

/// Skew_Time of VRRPv2 for priority `p`: (256 - p) / 256 s.
pub fn skew(p: i64) -> std::time::Duration {
    std::time::Duration::from_secs_f64((256 - p) as f64 / 256.0)
}

/// keepalived running on a node: the parent process (as [`Daemon`]) and its VRRP child.
pub struct Keepalived {
    /// The parent `keepalived -n` process; its stderr is keepalived's console log.
    pub daemon: Daemon,
    /// The configuration file it was started with.
    pub conf: PathBuf,
    vrrp_pidfile: PathBuf,
}

impl Keepalived {
    /// Starts keepalived on node `node` with [`keepalived_conf`] for `env` (files in the LAN's
    /// temp dir, one set per start). `env` is also its environment, as in the image, so check
    /// and notify scripts see the same variables.
    pub fn start(lan: &Lan, node: usize, env: &Env) -> Keepalived {
        let stem = lan
            .dir()
            .join(format!("ka{node}-{}", super::unique_prefix()));
        let conf = stem.with_extension("conf");
        let pidfile = stem.with_extension("pid");
        let vrrp_pidfile = stem.with_extension("vrrp.pid");
        fs::write(
            &conf,
            keepalived_conf(env, super::node_ip(node), super::IFACE),
        )
        .expect("write keepalived.conf");
        let (c, p, r) = (
            conf.display().to_string(),
            pidfile.display().to_string(),
            vrrp_pidfile.display().to_string(),
        );
        // -n/-l as the image runs it; -D for detail, -G keeps it out of the host's syslog.
        let daemon = lan.spawn(
            node,
            "keepalived",
            &["-n", "-l", "-D", "-G", "-f", &c, "-p", &p, "-r", &r],
            env,
        );
        Keepalived {
            daemon,
            conf,
            vrrp_pidfile,
        }
    }

    /// Pid of the VRRP child, once it has written its pid file.
    pub fn vrrp_pid(&self) -> Option<u32> {
        fs::read_to_string(&self.vrrp_pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Everything keepalived logged so far (console log of parent and children).
    pub fn stderr(&self) -> String {
        self.daemon.stderr()
    }

    /// SIGKILL to the VRRP child and the parent: nothing more is sent, nothing is cleaned up.
    /// The parent is stopped first so that it cannot respawn the child in between.
    pub fn sigkill(&self) {
        if self.daemon.exited().is_none() {
            self.daemon.kill(libc::SIGSTOP);
            if let Some(pid) = self.vrrp_pid().and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: plain syscall on keepalived's VRRP child, which its (stopped) parent
                // has not reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        self.daemon.kill(libc::SIGKILL);
    }
}
