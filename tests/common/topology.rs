//! More topologies for the protocol tests (issue 4): IPv6-only and dual-stack LANs, two LANs
//! joined by a router namespace, and nftables rules inside a node.
//!
//! Addresses: node `i` gets 192.0.2.(10+i)/24 and/or 2001:db8::(10+i)/64 (the host part written
//! as hex digits, e.g. `2001:db8::10`), the client 192.0.2.100/24 and/or 2001:db8::100/64.
//! IPv6 duplicate address detection is off in every namespace before any link exists, so both the
//! global and the link-local addresses are usable at once (a tentative link-local address cannot
//! be the source of the daemon's VRRPv3 adverts).
//!
//! The routed topology keeps one switch namespace (so [`Lan::unplug`] works for every node) with
//! two bridges: `br0` = LAN A 192.0.2.0/24 and `br1` = LAN B 198.51.100.0/24; a router namespace
//! has `eth0` = 192.0.2.1 on `br0` and `eth1` = 198.51.100.1 on `br1` and forwards IPv4.

use super::{CLIENT_IP, Daemon, IFACE, Lan, enter_netns, node_ip, parse_addrs, run, wait_until};
use ipfailover::sys::netlink::Rtnl;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// IPv6 address of node `i` on a LAN built with IPv6.
pub fn node_ip6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(
        0x2001,
        0xdb8,
        0,
        0,
        0,
        0,
        0,
        0x10 + u16::try_from(i).expect("node index"),
    )
}

/// IPv6 address of the client namespace on a LAN built with IPv6.
pub const CLIENT_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

/// Router address on LAN A (192.0.2.0/24) in [`Lan::new_routed`].
pub const ROUTER_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Router address on LAN B (198.51.100.0/24) in [`Lan::new_routed`].
pub const ROUTER_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// IPv4 address of node `i` in [`Lan::new_routed`]: even nodes on LAN A (192.0.2.(10+i)),
/// odd nodes on LAN B (198.51.100.(10+i)).
pub fn routed_node_ip(i: usize) -> Ipv4Addr {
    let host = 10 + u8::try_from(i).expect("node index");
    if i.is_multiple_of(2) {
        Ipv4Addr::new(192, 0, 2, host)
    } else {
        Ipv4Addr::new(198, 51, 100, host)
    }
}

/// Which address families a LAN from [`Lan::new_with`] gives its nodes and client.
#[derive(Clone, Copy, Debug)]
pub struct LanOptions {
    /// Number of node namespaces.
    pub nodes: usize,
    /// 192.0.2.(10+i)/24 on nodes, 192.0.2.100/24 on the client.
    pub ipv4: bool,
    /// 2001:db8::(10+i)/64 on nodes, 2001:db8::100/64 on the client.
    pub ipv6: bool,
}

impl LanOptions {
    /// Only IPv6 (plus link-local) on every namespace.
    pub fn ipv6_only(nodes: usize) -> LanOptions {
        LanOptions {
            nodes,
            ipv4: false,
            ipv6: true,
        }
    }

    /// IPv4 and IPv6 on every namespace.
    pub fn dual_stack(nodes: usize) -> LanOptions {
        LanOptions {
            nodes,
            ipv4: true,
            ipv6: true,
        }
    }
}

/// Addresses (CIDR strings) and an optional default route for one plugged namespace.
struct Leg<'a> {
    ns: &'a str,
    /// Switch port name (in the switch namespace).
    port: &'a str,
    bridge: &'a str,
    /// Interface name inside `ns`.
    ifname: &'a str,
    v4: Option<String>,
    v6: Option<String>,
    gateway: Option<Ipv4Addr>,
}

impl Lan {
    /// A LAN like [`Lan::new`] with the address families of `opts` (see the module docs).
    pub fn new_with(opts: LanOptions) -> Lan {
        let mut lan = Lan::bare(opts.nodes);
        let v4 = |a: Ipv4Addr| opts.ipv4.then(|| format!("{a}/24"));
        let v6 = |a: Ipv6Addr| opts.ipv6.then(|| format!("{a}/64"));
        for i in 0..opts.nodes {
            let ns = lan.nodes[i].clone();
            lan.plug_leg(Leg {
                ns: &ns,
                port: &format!("n{i}"),
                bridge: "br0",
                ifname: IFACE,
                v4: v4(node_ip(i)),
                v6: v6(node_ip6(i)),
                gateway: None,
            });
        }
        let client = lan.client.clone();
        lan.plug_leg(Leg {
            ns: &client,
            port: "c",
            bridge: "br0",
            ifname: IFACE,
            v4: v4(CLIENT_IP),
            v6: v6(CLIENT_IP6),
            gateway: None,
        });
        lan
    }

    /// Two IPv4 LANs joined by a router (see the module docs): node `i` at [`routed_node_ip`],
    /// default route via the router; the client on LAN A.
    pub fn new_routed(nodes: usize) -> Lan {
        let mut lan = Lan::bare(nodes);
        lan.add_bridge("br1");
        let router = format!("{}r", lan.prefix);
        for (port, bridge, ifname, addr) in [
            ("ra", "br0", "eth0", ROUTER_A),
            ("rb", "br1", "eth1", ROUTER_B),
        ] {
            lan.plug_leg(Leg {
                ns: &router,
                port,
                bridge,
                ifname,
                v4: Some(format!("{addr}/24")),
                v6: None,
                gateway: None,
            });
        }
        run(
            "ip",
            &[
                "netns",
                "exec",
                &router,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        );
        for i in 0..nodes {
            let ns = lan.nodes[i].clone();
            let (bridge, gw) = if i.is_multiple_of(2) {
                ("br0", ROUTER_A)
            } else {
                ("br1", ROUTER_B)
            };
            lan.plug_leg(Leg {
                ns: &ns,
                port: &format!("n{i}"),
                bridge,
                ifname: IFACE,
                v4: Some(format!("{}/24", routed_node_ip(i))),
                v6: None,
                gateway: Some(gw),
            });
        }
        let client = lan.client.clone();
        lan.plug_leg(Leg {
            ns: &client,
            port: "c",
            bridge: "br0",
            ifname: IFACE,
            v4: Some(format!("{CLIENT_IP}/24")),
            v6: None,
            gateway: Some(ROUTER_A),
        });
        lan
    }

    /// Creates `leg.ns` (DAD off) with `leg.ifname` cabled to `leg.bridge` and its addresses.
    fn plug_leg(&mut self, leg: Leg<'_>) {
        if !self.created.iter().any(|n| n == leg.ns) {
            self.add_ns(leg.ns);
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    leg.ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ],
            );
        }
        self.cable(leg.ns, leg.port, leg.bridge, leg.ifname);
        if let Some(a) = &leg.v4 {
            run("ip", &["-n", leg.ns, "addr", "add", a, "dev", leg.ifname]);
        }
        if let Some(a) = &leg.v6 {
            run(
                "ip",
                &[
                    "-n", leg.ns, "-6", "addr", "add", a, "dev", leg.ifname, "nodad",
                ],
            );
        }
        run("ip", &["-n", leg.ns, "link", "set", leg.ifname, "up"]);
        if let Some(gw) = leg.gateway {
            run(
                "ip",
                &[
                    "-n",
                    leg.ns,
                    "route",
                    "add",
                    "default",
                    "via",
                    &gw.to_string(),
                ],
            );
        }
    }

    /// `ip -o -6 addr show dev eth0` of node `i`.
    pub fn addr6_dump(&self, i: usize) -> String {
        run(
            "ip",
            &[
                "-n",
                self.node_ns(i),
                "-o",
                "-6",
                "addr",
                "show",
                "dev",
                IFACE,
            ],
        )
    }

    /// IPv6 addresses on node `i`'s `eth0` (link-local included).
    pub fn addrs6(&self, i: usize) -> Vec<Ipv6Addr> {
        parse_inet6(&self.addr6_dump(i))
    }

    /// Nodes whose `eth0` carries `vip` now.
    pub fn holders6(&self, vip: Ipv6Addr) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.addrs6(i).contains(&vip))
            .collect()
    }

    /// One IPv6 ping from the client (`ping -6 -c1 -W1`): true if answered.
    pub fn ping6_from_client(&self, addr: Ipv6Addr) -> bool {
        self.ping_any_from_client(addr.into())
    }

    /// The client's IPv6 neighbour entry (MAC) for `addr`, if any.
    pub fn client_neigh6(&self, addr: Ipv6Addr) -> Option<String> {
        self.client_neigh_any(addr.into())
    }

    /// Runs `nft <args>` inside node `i`'s namespace.
    pub fn nft(&self, i: usize, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", self.node_ns(i), "nft"];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Drops incoming IPv4 multicast VRRP (to 224.0.0.18) in node `i`, before anything else
    /// on the input hook: a network where multicast does not get through.
    pub fn drop_vrrp_multicast(&self, i: usize) {
        self.nft(i, &["add", "table", "inet", "t"]);
        self.nft(
            i,
            &[
                "add",
                "chain",
                "inet",
                "t",
                "in",
                "{ type filter hook input priority -10; }",
            ],
        );
        self.nft(
            i,
            &[
                "add",
                "rule",
                "inet",
                "t",
                "in",
                "ip",
                "daddr",
                "224.0.0.18",
                "drop",
            ],
        );
    }
}

/// The addresses of `inet6` words in `ip -o -6 addr` output.
pub fn parse_inet6(out: &str) -> Vec<Ipv6Addr> {
    parse_addrs(out, &["inet6"]).collect()
}

impl Lan {
    /// Every address (both families) on node `i`'s `eth0`.
    pub fn node_addrs(&self, i: usize) -> HashSet<IpAddr> {
        let out = run(
            "ip",
            &["-n", self.node_ns(i), "-o", "addr", "show", "dev", IFACE],
        );
        parse_addrs(&out, &["inet", "inet6"]).collect()
    }

    /// For each VIP, the nodes carrying it now (one `ip` call per node).
    pub fn owners(&self, vips: &[IpAddr]) -> Vec<Vec<usize>> {
        let addrs: Vec<HashSet<IpAddr>> = (0..self.len()).map(|i| self.node_addrs(i)).collect();
        vips.iter()
            .map(|v| (0..addrs.len()).filter(|&i| addrs[i].contains(v)).collect())
            .collect()
    }

    /// Waits up to `timeout` until every VIP is on exactly one node; returns the holder of each.
    /// Panics (with the addresses) on timeout, or if a daemon exits meanwhile.
    pub fn converge_ips(
        &self,
        daemons: &[Daemon],
        vips: &[IpAddr],
        timeout: Duration,
    ) -> Vec<usize> {
        let mut owners = Vec::new();
        let ok = wait_until(timeout, Duration::from_millis(100), || {
            daemons.iter().for_each(Daemon::assert_running);
            owners = self.owners(vips);
            owners.iter().all(|o| o.len() == 1)
        });
        if ok.is_none() {
            let bad: Vec<String> = vips
                .iter()
                .zip(&owners)
                .filter(|(_, o)| o.len() != 1)
                .map(|(v, o)| format!("{v} on {o:?}"))
                .collect();
            panic!("no convergence within {timeout:?}: {}", bad.join(", "));
        }
        owners.into_iter().map(|o| o[0]).collect()
    }
}

/// Polls the addresses of some nodes through rtnetlink dumps (no process per poll, so a 10 ms
/// period holds even on a busy machine) and records when each watched address first appears.
pub struct AddrWatch {
    thread: JoinHandle<(HashMap<IpAddr, Instant>, u32)>,
}

impl AddrWatch {
    /// Waits for the watch to end (every address seen, or its timeout); returns, for each
    /// address seen, the first poll that saw it, and the number of polls.
    pub fn finish(self) -> (HashMap<IpAddr, Instant>, u32) {
        self.thread.join().expect("address watch thread")
    }
}

impl Lan {
    /// Starts watching `nodes` for `vips` every `poll`, for at most `timeout`; returns once the
    /// netlink sockets are open in every namespace, so a signal sent after this is observed.
    pub fn watch_addrs(
        &self,
        nodes: &[usize],
        vips: &[IpAddr],
        poll: Duration,
        timeout: Duration,
    ) -> AddrWatch {
        let paths: Vec<PathBuf> = nodes
            .iter()
            .map(|&i| Path::new("/run/netns").join(self.node_ns(i)))
            .collect();
        let wanted: HashSet<IpAddr> = vips.iter().copied().collect();
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut socks = Vec::new();
            for p in &paths {
                // The socket stays in the namespace it was opened in; the thread moves on.
                let opened = enter_netns(p).and_then(|()| Rtnl::open());
                match opened {
                    Ok(s) => socks.push(s),
                    Err(e) => {
                        let _ = tx.send(Err(format!("{}: {e}", p.display())));
                        return (HashMap::new(), 0);
                    }
                }
            }
            let _ = tx.send(Ok(()));
            let mut seen: HashMap<IpAddr, Instant> = HashMap::new();
            let mut polls = 0;
            let end = Instant::now() + timeout;
            while seen.len() < wanted.len() && Instant::now() < end {
                polls += 1;
                for s in &mut socks {
                    let addrs = s.addresses().unwrap_or_default();
                    let now = Instant::now();
                    for a in addrs.iter().filter(|a| wanted.contains(&a.addr)) {
                        seen.entry(a.addr).or_insert(now);
                    }
                }
                thread::sleep(poll);
            }
            (seen, polls)
        });
        match rx.recv() {
            Ok(Ok(())) => AddrWatch { thread },
            Ok(Err(e)) => panic!("address watch: {e}"),
            Err(_) => panic!("address watch thread died"),
        }
    }
}
