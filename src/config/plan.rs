//! From settings and host facts to the list of VRRP instances (names, VRIDs, priorities).
use super::settings::{UNICAST_PEERS, VIP_GROUPS, VIRTUAL_IPS, VRRP_ID_OFFSET};
use super::{Check, ConfigError, Preemption, Script, Settings, family_name};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// What the plan needs to know about the host; gathered by the caller through netlink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    pub interface: String,
    /// First IPv4 address of the interface; `None` when it has none.
    pub node_ipv4: Option<Ipv4Addr>,
    /// First global IPv6 address of the interface: the node's identity for priorities when it
    /// has no IPv4 (today's image then gave every node ipslot 0, i.e. equal priorities).
    pub node_ipv6: Option<Ipv6Addr>,
    /// Every address configured on the host, to drop our own from the unicast peer list.
    pub local_addrs: Vec<IpAddr>,
}

/// One VRRP instance, exactly as it will run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstancePlan {
    /// `<scrubbed config name>_VIP_<index>`.
    pub name: String,
    /// 1-based position among the instances.
    pub index: u32,
    pub vrid: u8,
    /// 1..=254.
    pub priority: u8,
    /// "master-type" in today's formula (would carry `state MASTER` in keepalived.conf).
    pub master_type: bool,
    pub preemption: Preemption,
    /// Non-empty, one family.
    pub vips: Vec<IpAddr>,
}

/// The whole running configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub config_name: String,
    pub interface: String,
    pub node_ipv4: Option<Ipv4Addr>,
    /// First 8 bytes of the config name, NUL-padded (keepalived's auth_pass).
    pub password: [u8; 8],
    pub check: Check,
    pub check_interval: Duration,
    /// Consecutive successes that end a failure (keepalived's `rise`), 1..=100.
    pub check_rise: u32,
    /// Consecutive failures that make the node unhealthy (keepalived's `fall`), 1..=100.
    pub check_fall: u32,
    /// Port of the Prometheus metrics listener; `None` = off.
    pub metrics_port: Option<u16>,
    pub notify: Option<Script>,
    /// Unicast peers with our own addresses removed; empty = multicast.
    pub unicast_peers: Vec<IpAddr>,
    pub mcast_src: Option<IpAddr>,
    pub unicast_src: Option<IpAddr>,
    pub firewall: bool,
    pub instances: Vec<InstancePlan>,
    /// VRRP version of IPv4 instances (2 or 3); IPv6 instances always use 3.
    pub vrrp_version: u8,
    /// Advert interval, centiseconds.
    pub advert_interval_cs: u16,
    /// Where the keepalived rendering is written at start; `None` = not at all.
    pub keepalived_conf: Option<String>,
    /// Where the daemon keeps its status for `status` and `probe`; `None` = not at all.
    pub status_file: Option<String>,
    /// Non-fatal remarks to log once at start (ignored variables, mapped values).
    pub warnings: Vec<String>,
}

/// Instances and VIPs per instance are both capped by one byte on the wire.
const MAX_INSTANCES: usize = 255;
const MAX_VIPS_PER_INSTANCE: usize = 255;

impl Plan {
    /// Combines settings with host facts: groups, names, VRIDs, priorities, check, peers.
    pub fn build(s: &Settings, host: &HostFacts) -> Result<Plan, ConfigError> {
        let groups = group_vips(s)?;
        let vrids = assign_vrids(s, &groups)?;
        let priorities = priorities(s, identity(host), groups.len());
        let instances: Vec<InstancePlan> = groups
            .into_iter()
            .zip(vrids)
            .zip(priorities)
            .enumerate()
            .map(
                |(i, ((vips, vrid), (priority, master_type)))| InstancePlan {
                    name: instance_name(&s.scrubbed_name, i + 1),
                    index: (i + 1) as u32,
                    vrid,
                    priority,
                    master_type,
                    preemption: s.preemption,
                    vips,
                },
            )
            .collect();

        let mut warnings = s.warnings.clone();
        let unicast_peers: Vec<IpAddr> = s
            .unicast_peers
            .iter()
            .copied()
            .filter(|p| !host.local_addrs.contains(p))
            .collect();
        if s.use_unicast {
            if unicast_peers.is_empty() {
                return Err(ConfigError::new(
                    UNICAST_PEERS,
                    join(&s.unicast_peers),
                    "at least one peer that is not an address of this host",
                ));
            }
            for inst in &instances {
                let fam = family_name(&inst.vips[0]);
                if !unicast_peers.iter().any(|p| family_name(p) == fam) {
                    warnings.push(format!(
                        "{}: no {fam} unicast peer; its adverts go nowhere",
                        inst.name
                    ));
                }
            }
        }
        let check = match (&s.check_script, s.monitor_port) {
            (Some(script), _) => Check::Script(script.clone()),
            (None, 0) => Check::Disabled,
            (None, port) => match &s.check_http_path {
                Some(path) => Check::Http {
                    port,
                    path: path.clone(),
                },
                None => Check::Tcp(port),
            },
        };
        if host.node_ipv4.is_none() {
            warnings.push(format!(
                "{} has no IPv4 address: priorities use {}{}",
                host.interface,
                host.node_ipv6
                    .map_or("ipslot 0".to_string(), |a| format!("the last bytes of {a}")),
                if matches!(check, Check::Tcp(_) | Check::Http { .. }) {
                    " and the TCP check targets 127.0.0.1"
                } else {
                    ""
                }
            ));
        }

        Ok(Plan {
            config_name: s.config_name.clone(),
            interface: host.interface.clone(),
            node_ipv4: host.node_ipv4,
            password: password(&s.config_name),
            check,
            check_interval: s.check_interval,
            check_rise: s.check_rise,
            check_fall: s.check_fall,
            metrics_port: s.metrics_port,
            notify: s.notify_script.clone(),
            unicast_peers,
            mcast_src: s.mcast_src,
            unicast_src: s.unicast_src,
            firewall: s.firewall,
            instances,
            vrrp_version: s.vrrp_version,
            advert_interval_cs: s.advert_interval_cs,
            keepalived_conf: s.keepalived_conf.clone(),
            status_file: s.status_file.clone(),
            warnings,
        })
    }
}

/// `<scrubbed>_VIP_<n>`, as today.
fn instance_name(scrubbed: &str, index: usize) -> String {
    format!("{scrubbed}_VIP_{index}")
}

/// keepalived's auth_pass: the first word of the name, truncated to 8 bytes, NUL-padded.
/// (Same as the first 8 bytes of the name unless the name contains whitespace.)
fn password(config_name: &str) -> [u8; 8] {
    let word = config_name.split_whitespace().next().unwrap_or("");
    let mut out = [0u8; 8];
    for (slot, b) in out.iter_mut().zip(word.bytes()) {
        *slot = b;
    }
    out
}

fn join(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits the VIPs into instances: unset = one each; G groups = first N%G get N/G+1.
fn group_vips(s: &Settings) -> Result<Vec<Vec<IpAddr>>, ConfigError> {
    let n = s.vips.len();
    if n == 0 {
        return Err(ConfigError::new(VIRTUAL_IPS, "", "at least one address"));
    }
    let g = s.vip_groups.map_or(n, |g| (g as usize).min(n));
    let (base, extra) = (n / g, n % g);
    let mut groups = Vec::with_capacity(g);
    let mut rest = s.vips.as_slice();
    for i in 0..g {
        let (group, tail) = rest.split_at(base + usize::from(i < extra));
        groups.push(group.to_vec());
        rest = tail;
    }
    if groups.len() > MAX_INSTANCES {
        let (var, how) = match s.vip_groups {
            Some(_) => (VIP_GROUPS, "at most 255 groups"),
            None => (
                VIRTUAL_IPS,
                "at most 255 addresses, or OPENSHIFT_HA_VIP_GROUPS to group them",
            ),
        };
        return Err(ConfigError::new(
            var,
            format!("{} instances", groups.len()),
            format!("{how} (one VRRP instance each)"),
        ));
    }
    for (i, group) in groups.iter().enumerate() {
        if group.len() > MAX_VIPS_PER_INSTANCE {
            return Err(ConfigError::new(
                VIP_GROUPS,
                s.vip_groups.map_or_else(String::new, |g| g.to_string()),
                format!(
                    "at most 255 addresses per group (VRRP advert limit); {n} addresses need at least {} groups",
                    n.div_ceil(MAX_VIPS_PER_INSTANCE)
                ),
            ));
        }
        if group.iter().any(|a| a.is_ipv4() != group[0].is_ipv4()) {
            return Err(ConfigError::new(
                VIP_GROUPS,
                join(group),
                format!(
                    "one address family per group, but group {} mixes IPv4 and IPv6",
                    i + 1
                ),
            ));
        }
    }
    Ok(groups)
}

/// VRID = offset + n; while it is excluded the offset is bumped, and the bump persists.
fn assign_vrids(s: &Settings, groups: &[Vec<IpAddr>]) -> Result<Vec<u8>, ConfigError> {
    let mut offset = u32::from(s.vrid_offset);
    let mut out = Vec::with_capacity(groups.len());
    for counter in 1..=groups.len() as u32 {
        while s
            .excluded_vrids
            .iter()
            .any(|&x| u32::from(x) == offset + counter)
        {
            offset += 1;
        }
        let vrid = offset + counter;
        let vrid = u8::try_from(vrid).map_err(|_| {
            ConfigError::new(
                VRRP_ID_OFFSET,
                s.vrid_offset.to_string(),
                format!(
                    "an offset leaving room for {} instances: {} would get VRID {vrid} (VRIDs are 1..255, after exclusions)",
                    groups.len(),
                    instance_name(&s.scrubbed_name, counter as usize)
                ),
            )
        })?;
        out.push(vrid);
    }
    Ok(out)
}

/// What the previous master-selected instance got, for the flip-flop rule.
#[derive(PartialEq)]
enum Previous {
    None,
    Master,
    Slave,
    FlipFlop,
}

/// The four bytes a node's priorities derive from: its IPv4 address, else the last four bytes
/// of its global IPv6 address (so IPv6-only nodes still differ), else zeros (ipslot 0).
fn identity(host: &HostFacts) -> [u8; 4] {
    match (host.node_ipv4, host.node_ipv6) {
        (Some(v4), _) => v4.octets(),
        (None, Some(v6)) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
        (None, None) => [0; 4],
    }
}

/// Today's spreading formula (ipslot, idx, master-type, flip-flop) with the contract's
/// fixes: a hash instead of `$RANDOM`, priorities clamped to 1..=254. Returns
/// (priority, master_type) per instance.
fn priorities(s: &Settings, octets: [u8; 4], count: usize) -> Vec<(u8, bool)> {
    let ipslot = u32::from(octets[3]) % 128;
    let idx = ipslot % s.replica_count + 1;
    let mut previous = Previous::None;
    (1..=count as u32)
        .map(|counter| {
            let mut priority = ipslot % 64 + (spread_hash(octets, counter) % 32) as u32;
            let mut master_type = false;
            if counter % idx == 0 {
                master_type = s.preemption != Preemption::NoPreempt;
                if previous == Previous::Master {
                    priority = ipslot + 1;
                    previous = Previous::FlipFlop;
                } else {
                    priority = 255 - ipslot;
                    previous = if master_type {
                        Previous::Master
                    } else {
                        Previous::Slave
                    };
                }
            }
            // 255 would claim address ownership; 0 means "resigning".
            (priority.clamp(1, 254) as u8, master_type)
        })
        .collect()
}

/// FNV-1a 64 of (node IPv4, instance index): stable across restarts, different per node.
fn spread_hash(octets: [u8; 4], counter: u32) -> u64 {
    let c = counter.to_be_bytes();
    fnv1a(&[
        octets[0], octets[1], octets[2], octets[3], c[0], c[1], c[2], c[3],
    ])
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::{self, EXCLUDED_VRRP_IDS, PREEMPTION, REPLICA_COUNT};
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match settings::from_env(&env) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    fn host(node: &str) -> HostFacts {
        let node_ipv4: Ipv4Addr = node.parse().unwrap();
        HostFacts {
            interface: "eth0".into(),
            node_ipv4: Some(node_ipv4),
            node_ipv6: None,
            local_addrs: vec![IpAddr::V4(node_ipv4)],
        }
    }

    fn plan(node: &str, pairs: &[(&str, &str)]) -> Plan {
        Plan::build(&settings(pairs), &host(node)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fails(node: &str, pairs: &[(&str, &str)]) -> ConfigError {
        Plan::build(&settings(pairs), &host(node)).expect_err("accepted")
    }

    fn prios(p: &Plan) -> Vec<(u8, bool)> {
        p.instances
            .iter()
            .map(|i| (i.priority, i.master_type))
            .collect()
    }

    #[test]
    fn names_indexes_and_defaults() {
        let p = plan("192.0.2.15", &[(VIRTUAL_IPS, "192.0.2.100-101")]);
        let names: Vec<_> = p
            .instances
            .iter()
            .map(|i| (i.name.as_str(), i.index, i.vrid))
            .collect();
        assert_eq!(
            names,
            [
                ("OpenShift_IPFailover_VIP_1", 1, 11),
                ("OpenShift_IPFailover_VIP_2", 2, 12)
            ]
        );
        assert_eq!(&p.password, b"OpenShif");
        assert_eq!(p.check, Check::Tcp(80));
        assert_eq!(p.check_interval, Duration::from_secs(2));
        assert!(
            p.instances
                .iter()
                .all(|i| i.preemption == Preemption::Delay(Duration::from_secs(300)))
        );
        assert!(p.unicast_peers.is_empty() && p.warnings.is_empty());
    }

    #[test]
    fn password_is_keepalived_auth_pass() {
        let pw = |name: &str| {
            plan(
                "192.0.2.15",
                &[
                    (VIRTUAL_IPS, "192.0.2.1"),
                    ("OPENSHIFT_HA_CONFIG_NAME", name),
                ],
            )
            .password
        };
        assert_eq!(&pw("ipfailover"), b"ipfailov");
        assert_eq!(&pw("ha"), b"ha\0\0\0\0\0\0");
        assert_eq!(&pw("ab cdefghij"), b"ab\0\0\0\0\0\0");
    }

    #[test]
    fn groups() {
        let sizes = |pairs: &[(&str, &str)]| -> Vec<usize> {
            plan("192.0.2.15", pairs)
                .instances
                .iter()
                .map(|i| i.vips.len())
                .collect()
        };
        let seven = (VIRTUAL_IPS, "192.0.2.1-7");
        assert_eq!(sizes(&[seven, (VIP_GROUPS, "3")]), [3, 2, 2]);
        assert_eq!(sizes(&[seven, (VIP_GROUPS, "10")]), [1; 7]);
        assert_eq!(sizes(&[seven]), [1; 7]);
        assert_eq!(sizes(&[seven, (VIP_GROUPS, "1")]), [7]);
        let p = plan("192.0.2.15", &[seven, (VIP_GROUPS, "3")]);
        assert_eq!(
            p.instances[1].vips,
            [
                "192.0.2.4".parse::<IpAddr>().unwrap(),
                "192.0.2.5".parse().unwrap()
            ]
        );
        // Families in separate groups are fine; a mixed group is not.
        assert_eq!(
            sizes(&[
                (VIRTUAL_IPS, "192.0.2.1 192.0.2.2 2001:db8::1 2001:db8::2"),
                (VIP_GROUPS, "2")
            ]),
            [2, 2]
        );
        let e = fails(
            "192.0.2.15",
            &[
                (VIRTUAL_IPS, "192.0.2.1 2001:db8::1 2001:db8::2"),
                (VIP_GROUPS, "2"),
            ],
        );
        assert_eq!(
            (e.var, e.item.as_str()),
            (VIP_GROUPS, "192.0.2.1,2001:db8::1")
        );
        assert!(e.to_string().contains("OPENSHIFT_HA_VIP_GROUPS"));
    }

    #[test]
    fn instance_and_vip_limits() {
        let v256 = (VIRTUAL_IPS, "2001:db8::1-100");
        let offset0 = (VRRP_ID_OFFSET, "0");
        let e = fails("192.0.2.15", &[v256, offset0]);
        assert_eq!(e.var, VIRTUAL_IPS);
        assert!(e.expected.contains("255"), "{e}");
        assert_eq!(
            fails("192.0.2.15", &[v256, offset0, (VIP_GROUPS, "256")]).var,
            VIP_GROUPS
        );
        let e = fails("192.0.2.15", &[v256, (VIP_GROUPS, "1")]);
        assert_eq!(e.var, VIP_GROUPS);
        assert!(
            e.expected.contains("at most 255 addresses per group"),
            "{e}"
        );
        assert_eq!(
            plan("192.0.2.15", &[v256, (VIP_GROUPS, "2")])
                .instances
                .len(),
            2
        );
        assert_eq!(
            plan("192.0.2.15", &[(VIRTUAL_IPS, "2001:db8::1-ff"), offset0])
                .instances
                .len(),
            255
        );
    }

    #[test]
    fn vrid_bump_persists_as_today() {
        let p = plan(
            "192.0.2.15",
            &[(VIRTUAL_IPS, "192.0.2.1-5"), (EXCLUDED_VRRP_IDS, "12 14")],
        );
        let vrids: Vec<u8> = p.instances.iter().map(|i| i.vrid).collect();
        assert_eq!(vrids, [11, 13, 15, 16, 17]);
        let p = plan(
            "192.0.2.15",
            &[
                (VIRTUAL_IPS, "192.0.2.1-2"),
                (VRRP_ID_OFFSET, "9"),
                (EXCLUDED_VRRP_IDS, "9 10"),
            ],
        );
        assert_eq!(
            p.instances.iter().map(|i| i.vrid).collect::<Vec<_>>(),
            [11, 12]
        );
    }

    #[test]
    fn vrid_out_of_range() {
        let p = plan(
            "192.0.2.15",
            &[(VIRTUAL_IPS, "192.0.2.1-10"), (VRRP_ID_OFFSET, "245")],
        );
        assert_eq!(p.instances.last().map(|i| i.vrid), Some(255));
        let e = fails(
            "192.0.2.15",
            &[(VIRTUAL_IPS, "192.0.2.1-10"), (VRRP_ID_OFFSET, "250")],
        );
        assert_eq!((e.var, e.item.as_str()), (VRRP_ID_OFFSET, "250"));
        assert!(e.expected.contains("VRID 256"), "{e}");
        let e = fails(
            "192.0.2.15",
            &[
                (VIRTUAL_IPS, "192.0.2.1-10"),
                (VRRP_ID_OFFSET, "245"),
                (EXCLUDED_VRRP_IDS, "250"),
            ],
        );
        assert_eq!(e.var, VRRP_ID_OFFSET);
    }

    #[test]
    fn worked_example_node_15() {
        let p = plan(
            "10.0.2.15",
            &[(VIRTUAL_IPS, "192.0.2.100-102"), (REPLICA_COUNT, "2")],
        );
        let pr = prios(&p);
        assert_eq!(pr[1], (240, true));
        for (prio, master) in [pr[0], pr[2]] {
            assert!(!master);
            assert!((15..=46).contains(&prio), "{prio}");
        }
        // Deterministic: the same node gets the same priorities on every start.
        assert_eq!(
            prios(&plan(
                "10.0.2.15",
                &[(VIRTUAL_IPS, "192.0.2.100-102"), (REPLICA_COUNT, "2")]
            )),
            pr
        );
    }

    #[test]
    fn worked_example_node_16_flip_flop() {
        let p = plan(
            "10.0.2.16",
            &[(VIRTUAL_IPS, "192.0.2.100-102"), (REPLICA_COUNT, "2")],
        );
        assert_eq!(prios(&p), [(239, true), (17, true), (239, true)]);
        let p = plan(
            "10.0.2.16",
            &[
                (VIRTUAL_IPS, "192.0.2.100-102"),
                (REPLICA_COUNT, "2"),
                (PREEMPTION, "nopreempt"),
            ],
        );
        assert_eq!(prios(&p), [(239, false), (239, false), (239, false)]);
        assert!(
            p.instances
                .iter()
                .all(|i| i.preemption == Preemption::NoPreempt)
        );
        let p = plan(
            "10.0.2.15",
            &[
                (VIRTUAL_IPS, "192.0.2.100-102"),
                (REPLICA_COUNT, "2"),
                (PREEMPTION, "nopreempt"),
            ],
        );
        assert_eq!(prios(&p)[1], (240, false));
    }

    #[test]
    fn slave_priorities_in_range_and_node_dependent() {
        let pairs = [(VIRTUAL_IPS, "2001:db8::1-40"), (REPLICA_COUNT, "200")];
        let a = plan("192.0.2.77", &pairs);
        let b = plan("198.51.100.77", &pairs);
        // ipslot 77, idx 78: no instance among 64 is master-selected.
        for p in [&a, &b] {
            assert!(
                p.instances
                    .iter()
                    .all(|i| !i.master_type && (13..=44).contains(&i.priority))
            );
        }
        assert_ne!(prios(&a), prios(&b), "hash ignores the node address");
        let distinct: std::collections::BTreeSet<u8> =
            a.instances.iter().map(|i| i.priority).collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }

    #[test]
    fn priorities_clamped_to_1_254() {
        for node in ["192.0.2.0", "192.0.2.128"] {
            let p = plan(node, &[(VIRTUAL_IPS, "192.0.2.100-102")]);
            // ipslot 0: master-type 255 - 0 clamped; the flip-flop one gets ipslot + 1.
            assert_eq!(prios(&p), [(254, true), (1, true), (254, true)], "{node}");
        }
        // No address on the interface: ipslot 0, as today, but never 255.
        let mut h = host("192.0.2.1");
        h.node_ipv4 = None;
        let p = Plan::build(&settings(&[(VIRTUAL_IPS, "192.0.2.100")]), &h).unwrap();
        assert_eq!(prios(&p), [(254, true)]);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        // IPv6 only: the IPv6 address's last byte is the ipslot, so nodes differ.
        h.node_ipv6 = Some("2001:db8::11".parse().unwrap());
        let p = Plan::build(&settings(&[(VIRTUAL_IPS, "2001:db8::100")]), &h).unwrap();
        assert_eq!(prios(&p), [(255 - 0x11, true)]);
        assert!(p.warnings[0].contains("2001:db8::11"), "{:?}", p.warnings);
        // Node .64, replicas 3: ipslot 64, idx 2; odd instances are slaves with 0 + hash%32.
        let s = settings(&[
            (VIRTUAL_IPS, "2001:db8::1-ff"),
            (REPLICA_COUNT, "3"),
            (VRRP_ID_OFFSET, "0"),
        ]);
        let p = Plan::build(&s, &host("192.0.2.64")).unwrap();
        let mut zero_hash = 0;
        for i in p.instances.iter().filter(|i| i.index % 2 == 1) {
            assert!(!i.master_type);
            let raw = spread_hash([192, 0, 2, 64], i.index) % 32;
            assert_eq!(u64::from(i.priority), raw.max(1));
            zero_hash += usize::from(raw == 0);
        }
        assert!(
            zero_hash > 0,
            "no slave with raw priority 0 among 128; pick another node"
        );
    }

    #[test]
    fn check_selection() {
        let check = |pairs: &[(&str, &str)]| plan("192.0.2.15", pairs).check;
        let v = (VIRTUAL_IPS, "192.0.2.1");
        assert_eq!(
            check(&[v, ("OPENSHIFT_HA_MONITOR_PORT", "30060")]),
            Check::Tcp(30060)
        );
        assert_eq!(
            check(&[v, ("OPENSHIFT_HA_MONITOR_PORT", "0")]),
            Check::Disabled
        );
        let script = Script {
            argv: vec!["/bin/check".into(), "x".into()],
        };
        assert_eq!(
            check(&[
                v,
                ("OPENSHIFT_HA_CHECK_SCRIPT", "/bin/check x"),
                ("OPENSHIFT_HA_MONITOR_PORT", "0")
            ]),
            Check::Script(script)
        );
        let http = (
            ("OPENSHIFT_HA_CHECK_HTTP_PATH", "/healthz/ready"),
            ("OPENSHIFT_HA_MONITOR_PORT", "1936"),
        );
        assert_eq!(
            check(&[v, http.0, http.1]),
            Check::Http {
                port: 1936,
                path: "/healthz/ready".into()
            }
        );
        assert_eq!(
            check(&[v, http.0, ("OPENSHIFT_HA_MONITOR_PORT", "0")]),
            Check::Disabled
        );
        let p = plan(
            "192.0.2.15",
            &[
                v,
                http.0,
                ("OPENSHIFT_HA_CHECK_RISE", "2"),
                ("OPENSHIFT_HA_CHECK_FALL", "3"),
                ("OPENSHIFT_HA_METRICS_PORT", "9100"),
            ],
        );
        assert_eq!(
            (p.check_rise, p.check_fall, p.metrics_port),
            (2, 3, Some(9100))
        );
        assert_eq!(
            p.check,
            Check::Http {
                port: 80,
                path: "/healthz/ready".into()
            }
        );
    }

    #[test]
    fn unicast_peers_drop_own_addresses() {
        let pairs = [
            (VIRTUAL_IPS, "192.0.2.1"),
            (UNICAST_PEERS, "192.0.2.15,192.0.2.16,192.0.2.17"),
        ];
        let p = plan("192.0.2.15", &pairs);
        assert_eq!(
            p.unicast_peers,
            [
                "192.0.2.16".parse::<IpAddr>().unwrap(),
                "192.0.2.17".parse().unwrap()
            ]
        );
        let e = fails(
            "192.0.2.15",
            &[(VIRTUAL_IPS, "192.0.2.1"), (UNICAST_PEERS, "192.0.2.15")],
        );
        assert_eq!(e.var, UNICAST_PEERS);
        // An IPv6 instance with only IPv4 peers is reported.
        let p = plan(
            "192.0.2.15",
            &[(VIRTUAL_IPS, "2001:db8::1"), (UNICAST_PEERS, "192.0.2.16")],
        );
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        let p = plan(
            "192.0.2.15",
            &[
                (VIRTUAL_IPS, "192.0.2.1"),
                ("MULTICAST_SOURCE_IPADDRESS", "192.0.2.15"),
            ],
        );
        assert_eq!(p.mcast_src, Some("192.0.2.15".parse().unwrap()));
    }

    #[test]
    fn hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
