//! From settings and host facts to the list of VRRP instances (names, VRIDs, priorities).
use super::{Check, Preemption, Script};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// What the plan needs to know about the host; gathered by the caller through netlink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    pub interface: String,
    /// First IPv4 address of the interface; `None` when it has none (ipslot 0, as today).
    pub node_ipv4: Option<Ipv4Addr>,
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
    pub notify: Option<Script>,
    /// Unicast peers with our own addresses removed; empty = multicast.
    pub unicast_peers: Vec<IpAddr>,
    pub mcast_src: Option<IpAddr>,
    pub unicast_src: Option<IpAddr>,
    pub firewall: bool,
    pub instances: Vec<InstancePlan>,
    /// Non-fatal remarks to log once at start (ignored variables, mapped values).
    pub warnings: Vec<String>,
}
