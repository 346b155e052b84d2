//! Text forms of a plan: the summary printed by `ipfailover config`, and the equivalent
//! keepalived.conf (written for people and tools that look for it; never read back).
use super::settings::scrub_name;
use super::{Check, InstancePlan, Plan, Preemption, Script};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

impl Plan {
    /// Human-readable plan: a header (interface, check, notify, mode) and one line per instance.
    pub fn render_summary(&self) -> String {
        let mut out = String::new();
        let node = self
            .node_ipv4
            .map_or_else(|| "none".to_string(), |a| a.to_string());
        let _ = writeln!(out, "config name  {}", self.config_name);
        let _ = writeln!(out, "interface    {} (node IPv4 {node})", self.interface);
        let _ = writeln!(out, "check        {}", self.check_summary());
        let notify = self
            .notify
            .as_ref()
            .map_or_else(|| "none".to_string(), command_line);
        let _ = writeln!(out, "notify       {notify}");
        let _ = writeln!(out, "mode         {}", self.mode_summary());
        let _ = writeln!(
            out,
            "adverts      VRRPv{} for IPv4 (v3 for IPv6) every {} s",
            self.vrrp_version,
            super::settings::seconds(self.advert_interval_cs)
        );
        let metrics = self.metrics_port.map_or_else(
            || "off".to_string(),
            |p| format!("http://0.0.0.0:{p}/metrics"),
        );
        let _ = writeln!(out, "metrics      {metrics}");
        let firewall = if self.firewall {
            "nftables table inet keepalived accepts VRRP"
        } else {
            "not touched"
        };
        let _ = writeln!(out, "firewall     {firewall}");
        let width = self
            .instances
            .iter()
            .map(|i| i.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(out, "instances    {}", self.instances.len());
        let _ = writeln!(
            out,
            "  {:width$}  VRID  PRIO  TYPE         PREEMPTION         VIPS",
            "NAME"
        );
        for i in &self.instances {
            let kind = if i.master_type { "master-type" } else { "-" };
            let preempt = preemption_line(i.preemption).unwrap_or_else(|| "preempt".to_string());
            let _ = writeln!(
                out,
                "  {:width$}  {:>4}  {:>4}  {kind:11}  {preempt:17}  {}",
                i.name,
                i.vrid,
                i.priority,
                join(i.vips.iter(), " ")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }

    /// keepalived.conf equivalent to this plan, in the layout today's image generates.
    pub fn render_keepalived_conf(&self) -> String {
        let mut out = String::new();
        let router_id = scrub_name(&self.config_name);
        let chk = format!("chk_{router_id}");
        let _ = writeln!(out, "! Configuration File for keepalived");
        let _ = writeln!(
            out,
            "! Written by ipfailover: the equivalent of its running plan, not read back.\n"
        );
        let _ = writeln!(
            out,
            "global_defs {{\n   max_auto_priority 99\n   router_id {router_id}\n   enable_script_security\n   script_user root\n}}\n"
        );
        if let Check::Http { port, path } = &self.check {
            let _ = writeln!(
                out,
                "! built-in HTTP check: GET http://{}:{port}{path}, 2xx = healthy, done by ipfailover itself.\n\
                 ! keepalived-based pods cannot do this (their image has no HTTP client): the script below always succeeds.",
                self.tcp_target()
            );
        }
        let _ = writeln!(out, "vrrp_script {chk} {{");
        let _ = writeln!(out, "   script \"{}\"", self.check_command());
        let _ = writeln!(out, "   interval {}", self.check_interval.as_secs().max(1));
        if self.check_rise > 1 {
            let _ = writeln!(out, "   rise {}", self.check_rise);
        }
        if self.check_fall > 1 {
            let _ = writeln!(out, "   fall {}", self.check_fall);
        }
        let _ = writeln!(out, "}}");
        for inst in &self.instances {
            out.push('\n');
            self.render_instance(&mut out, inst, &chk);
        }
        out
    }

    fn render_instance(&self, out: &mut String, inst: &InstancePlan, chk: &str) {
        let is_v4 = inst.vips.first().is_some_and(IpAddr::is_ipv4);
        let same_family = |a: &IpAddr| a.is_ipv4() == is_v4;
        let _ = writeln!(out, "vrrp_instance {} {{", inst.name);
        let _ = writeln!(out, "   interface {}", self.interface);
        // No `state MASTER`: keepalived would then drop the preemption setting, while this
        // plan applies it to every instance (contract §2). Without it keepalived behaves as we do.
        let _ = writeln!(out, "   virtual_router_id {}", inst.vrid);
        let _ = writeln!(out, "   priority {}", inst.priority);
        if let Some(line) = preemption_line(inst.preemption) {
            let _ = writeln!(out, "   {line}");
        }
        if is_v4 && self.vrrp_version == 3 {
            let _ = writeln!(out, "   version 3");
        }
        if self.advert_interval_cs != 100 {
            let _ = writeln!(
                out,
                "   advert_int {}",
                super::settings::seconds(self.advert_interval_cs)
            );
        }
        // VRRPv3 has no authentication; keepalived would ignore the block.
        if is_v4 && self.vrrp_version == 2 {
            // What keepalived keeps of auth_pass anyway (first word, 8 bytes); saying so spares
            // `keepalived --config-test` its "Truncating auth_pass" error.
            let pass = String::from_utf8_lossy(&self.password)
                .trim_end_matches('\0')
                .to_string();
            let _ = writeln!(
                out,
                "   authentication {{\n      auth_type PASS\n      auth_pass {pass}\n   }}"
            );
        }
        let _ = writeln!(out, "   track_script {{\n      {chk}\n   }}");
        if let Some(notify) = &self.notify {
            let _ = writeln!(out, "   notify \"{}\"", command_line(notify));
        }
        if let Some(src) = self.mcast_src.filter(same_family) {
            let _ = writeln!(out, "   mcast_src_ip {src}");
        }
        if let Some(src) = self.unicast_src.filter(same_family) {
            let _ = writeln!(out, "   unicast_src_ip {src}");
        }
        let peers: Vec<&IpAddr> = self
            .unicast_peers
            .iter()
            .filter(|a| same_family(a))
            .collect();
        if !peers.is_empty() {
            let _ = writeln!(out, "   unicast_peer {{");
            for p in peers {
                let _ = writeln!(out, "      {p}");
            }
            let _ = writeln!(out, "   }}");
        }
        let _ = writeln!(out, "   virtual_ipaddress {{");
        for vip in &inst.vips {
            let _ = writeln!(out, "      {vip} dev {}", self.interface);
        }
        let _ = writeln!(out, "   }}\n}}");
    }

    /// Where the built-in TCP check connects: the node IPv4, else loopback (as today).
    fn tcp_target(&self) -> Ipv4Addr {
        self.node_ipv4.unwrap_or(Ipv4Addr::LOCALHOST)
    }

    fn check_summary(&self) -> String {
        let every = self.check_interval.as_secs();
        let what = match &self.check {
            Check::Script(s) => format!("script {} every {every}s", command_line(s)),
            Check::Tcp(port) => format!("tcp {}:{port} every {every}s", self.tcp_target()),
            Check::Http { port, path } => {
                format!("http GET {}:{port}{path} every {every}s", self.tcp_target())
            }
            Check::Disabled => return "disabled (monitor port 0)".to_string(),
        };
        if (self.check_rise, self.check_fall) == (1, 1) {
            what
        } else {
            format!(
                "{what} (rise {}, fall {})",
                self.check_rise, self.check_fall
            )
        }
    }

    /// The `script` line today's image writes for the same settings.
    fn check_command(&self) -> String {
        match &self.check {
            Check::Script(s) => command_line(s),
            Check::Tcp(port) => format!("/bin/bash -c '</dev/tcp/{}/{port}'", self.tcp_target()),
            Check::Http { .. } | Check::Disabled => "true".to_string(),
        }
    }

    fn mode_summary(&self) -> String {
        let (mode, src) = if self.unicast_peers.is_empty() {
            ("multicast".to_string(), self.mcast_src)
        } else {
            (
                format!("unicast to {}", join(self.unicast_peers.iter(), ", ")),
                self.unicast_src,
            )
        };
        match src {
            Some(src) => format!("{mode} from {src}"),
            None => mode,
        }
    }
}

/// The keepalived keyword line for a preemption strategy; `None` for plain preempt.
fn preemption_line(p: Preemption) -> Option<String> {
    match p {
        Preemption::Preempt => None,
        Preemption::NoPreempt => Some("nopreempt".to_string()),
        Preemption::Delay(d) if d.subsec_nanos() == 0 => {
            Some(format!("preempt_delay {}", d.as_secs()))
        }
        Preemption::Delay(d) => Some(format!("preempt_delay {}", d.as_secs_f64())),
    }
}

/// argv back to one line, single-quoting words that need it (as a shell would read them).
fn command_line(script: &Script) -> String {
    let quote = |w: &String| {
        let plain = !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-=:@,+%".contains(c));
        if plain {
            w.clone()
        } else {
            format!("'{}'", w.replace('\'', r"'\''"))
        }
    };
    script.argv.iter().map(quote).collect::<Vec<_>>().join(" ")
}

fn join<'a>(addrs: impl Iterator<Item = &'a IpAddr>, sep: &str) -> String {
    addrs.map(|a| a.to_string()).collect::<Vec<_>>().join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostFacts, Settings};
    use std::collections::BTreeMap;

    fn plan(pairs: &[(&str, &str)]) -> Plan {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s = Settings::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
        let node: Ipv4Addr = "10.0.2.15".parse().unwrap();
        let host = HostFacts {
            interface: "eth0".into(),
            node_ipv4: Some(node),
            node_ipv6: None,
            local_addrs: vec![IpAddr::V4(node)],
        };
        Plan::build(&s, &host).unwrap_or_else(|e| panic!("{e}"))
    }

    const EXAMPLE: &[(&str, &str)] = &[
        ("OPENSHIFT_HA_VIRTUAL_IPS", "10.0.2.100-102"),
        ("OPENSHIFT_HA_REPLICA_COUNT", "2"),
    ];

    #[test]
    fn keepalived_conf_of_the_worked_example() {
        let conf = plan(EXAMPLE).render_keepalived_conf();
        for want in [
            "   router_id OpenShift_IPFailover\n",
            "vrrp_script chk_OpenShift_IPFailover {\n   script \"/bin/bash -c '</dev/tcp/10.0.2.15/80'\"\n   interval 2\n}",
            "vrrp_instance OpenShift_IPFailover_VIP_1 {\n   interface eth0\n   virtual_router_id 11\n",
            "vrrp_instance OpenShift_IPFailover_VIP_2 {\n   interface eth0\n   virtual_router_id 12\n   priority 240\n   preempt_delay 300\n",
            "   virtual_router_id 13\n",
            "      auth_type PASS\n      auth_pass OpenShif\n",
            "   track_script {\n      chk_OpenShift_IPFailover\n   }\n",
            "   virtual_ipaddress {\n      10.0.2.101 dev eth0\n   }\n}\n",
        ] {
            assert!(conf.contains(want), "missing {want:?} in\n{conf}");
        }
        assert_eq!(conf.matches("vrrp_instance ").count(), 3);
        assert!(
            !conf.contains("state MASTER"),
            "preemption applies to every instance"
        );
        assert!(!conf.contains("notify") && !conf.contains("unicast") && !conf.contains("mcast"));
    }

    #[test]
    fn keepalived_conf_options() {
        let conf = plan(&[
            ("OPENSHIFT_HA_VIRTUAL_IPS", "10.0.2.100 2001:db8::1"),
            ("OPENSHIFT_HA_PREEMPTION", "nopreempt"),
            ("OPENSHIFT_HA_CHECK_SCRIPT", "/etc/keepalive/check.sh 'a b'"),
            ("OPENSHIFT_HA_NOTIFY_SCRIPT", "/etc/keepalive/notify.sh"),
            (
                "OPENSHIFT_HA_UNICAST_PEERS",
                "10.0.2.15 10.0.2.16 2001:db8::16",
            ),
            ("UNICAST_SOURCE_IPADDRESS", "10.0.2.15"),
        ])
        .render_keepalived_conf();
        assert!(
            conf.contains("   script \"/etc/keepalive/check.sh 'a b'\"\n"),
            "{conf}"
        );
        assert!(conf.contains("   notify \"/etc/keepalive/notify.sh\"\n"));
        assert_eq!(conf.matches("   nopreempt\n").count(), 2);
        assert!(!conf.contains("state MASTER"));
        assert_eq!(conf.matches("unicast_src_ip 10.0.2.15").count(), 1);
        assert!(
            conf.contains("   unicast_peer {\n      10.0.2.16\n   }\n"),
            "{conf}"
        );
        assert!(
            conf.contains("   unicast_peer {\n      2001:db8::16\n   }\n"),
            "{conf}"
        );
        // Only the IPv4 instance carries the VRRPv2 password.
        assert_eq!(conf.matches("auth_type PASS").count(), 1);
        assert!(conf.contains("      2001:db8::1 dev eth0\n"));
        let conf = plan(&[
            ("OPENSHIFT_HA_VIRTUAL_IPS", "10.0.2.100"),
            ("OPENSHIFT_HA_MONITOR_PORT", "0"),
            ("OPENSHIFT_HA_PREEMPTION", "preempt"),
        ])
        .render_keepalived_conf();
        assert!(conf.contains("   script \"true\"\n"));
        assert!(!conf.contains("preempt"), "{conf}");
    }

    #[test]
    fn summary() {
        let p = plan(EXAMPLE);
        let text = p.render_summary();
        assert!(
            text.contains("interface    eth0 (node IPv4 10.0.2.15)\n"),
            "{text}"
        );
        assert!(
            text.contains("check        tcp 10.0.2.15:80 every 2s\n"),
            "{text}"
        );
        assert!(text.contains("notify       none\n"));
        assert!(text.contains("mode         multicast\n"));
        let line = text
            .lines()
            .find(|l| l.contains("OpenShift_IPFailover_VIP_2"))
            .unwrap_or_default();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "OpenShift_IPFailover_VIP_2",
                "12",
                "240",
                "master-type",
                "preempt_delay",
                "300",
                "10.0.2.101"
            ]
        );
        let text = plan(&[
            ("OPENSHIFT_HA_VIRTUAL_IPS", "10.0.2.100"),
            ("OPENSHIFT_HA_UNICAST_PEERS", "10.0.2.16,10.0.2.17"),
            ("OPENSHIFT_HA_CHECK_SCRIPT", "/bin/check -x"),
            ("KEEPALIVED_OPTIONS", "-D"),
        ])
        .render_summary();
        assert!(
            text.contains("mode         unicast to 10.0.2.16, 10.0.2.17\n"),
            "{text}"
        );
        assert!(
            text.contains("check        script /bin/check -x every 2s\n"),
            "{text}"
        );
        assert!(text.contains("warning: KEEPALIVED_OPTIONS"), "{text}");
    }

    #[test]
    fn http_check_rise_fall_and_metrics() {
        let p = plan(&[
            ("OPENSHIFT_HA_VIRTUAL_IPS", "10.0.2.100"),
            ("OPENSHIFT_HA_MONITOR_PORT", "1936"),
            ("OPENSHIFT_HA_CHECK_HTTP_PATH", "/healthz/ready"),
            ("OPENSHIFT_HA_CHECK_RISE", "2"),
            ("OPENSHIFT_HA_CHECK_FALL", "3"),
            ("OPENSHIFT_HA_METRICS_PORT", "9100"),
        ]);
        let text = p.render_summary();
        assert!(
            text.contains(
                "check        http GET 10.0.2.15:1936/healthz/ready every 2s (rise 2, fall 3)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("metrics      http://0.0.0.0:9100/metrics\n"),
            "{text}"
        );
        let conf = p.render_keepalived_conf();
        assert!(
            conf.contains(
                "! built-in HTTP check: GET http://10.0.2.15:1936/healthz/ready, 2xx = healthy"
            ),
            "{conf}"
        );
        assert!(
            conf.contains("keepalived-based pods cannot do this"),
            "{conf}"
        );
        assert!(
            conf.contains("   script \"true\"\n   interval 2\n   rise 2\n   fall 3\n}\n"),
            "{conf}"
        );
        // Every comment line starts with '!', as keepalived requires.
        for l in conf.lines().filter(|l| l.contains("HTTP")) {
            assert!(l.starts_with('!'), "{l:?}");
        }
        let text = plan(&[
            ("OPENSHIFT_HA_VIRTUAL_IPS", "10.0.2.100"),
            ("OPENSHIFT_HA_CHECK_SCRIPT", "/bin/check"),
            ("OPENSHIFT_HA_CHECK_FALL", "3"),
        ])
        .render_summary();
        assert!(
            text.contains("check        script /bin/check every 2s (rise 1, fall 3)\n"),
            "{text}"
        );
        assert!(text.contains("metrics      off\n"), "{text}");
    }

    #[test]
    fn quoting_round_trips_awkward_words() {
        let s = Script {
            argv: vec!["/bin/x".into(), "it's".into(), "".into(), "a b".into()],
        };
        assert_eq!(command_line(&s), r"/bin/x 'it'\''s' '' 'a b'");
    }
}
