//! Facts about the host that the plan depends on, read once at start through rtnetlink:
//! which interface, its MAC and node IPv4, and every local address.
use crate::config::{ConfigError, HostFacts, Settings};
use crate::sys::netlink::{AddrInfo, Link, Rtnl};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why the host could not be described.
#[derive(Debug)]
pub enum HostError {
    /// The configuration names something the host does not have (exit 2).
    Config(ConfigError),
    /// The kernel did not answer as expected.
    Io(io::Error),
}

impl From<io::Error> for HostError {
    fn from(e: io::Error) -> Self {
        HostError::Io(e)
    }
}

/// The interface we run on and what it carries.
#[derive(Clone, Debug)]
pub struct Host {
    pub link: Link,
    pub facts: HostFacts,
    /// First link-local IPv6 address of the interface: the source of VRRPv3 adverts.
    pub link_local: Option<Ipv6Addr>,
}

/// Resolves the interface (named, or the default-route one) and reads its addresses.
/// Addresses that are our own VIPs are not taken as the node address: they may be stale
/// leftovers of a previous run.
pub fn discover(rtnl: &mut Rtnl, settings: &Settings) -> Result<Host, HostError> {
    let link = match &settings.interface {
        Some(name) => rtnl.link_by_name(name)?.ok_or_else(|| {
            HostError::Config(ConfigError {
                var: "OPENSHIFT_HA_NETWORK_INTERFACE",
                item: name.clone(),
                expected: "the name of an existing network interface on this node".to_string(),
            })
        })?,
        None => {
            let index = rtnl.default_route_ifindex()?.ok_or_else(|| {
                HostError::Config(ConfigError {
                    var: "OPENSHIFT_HA_NETWORK_INTERFACE",
                    item: String::new(),
                    expected: "an interface name (unset, and this node has no default route to pick one from)"
                        .to_string(),
                })
            })?;
            let links = rtnl.links()?;
            links
                .into_iter()
                .find(|l| l.index == index)
                .ok_or_else(|| {
                    HostError::Io(io::Error::other(format!(
                        "default route via ifindex {index}, which has no link"
                    )))
                })?
        }
    };
    let addrs = rtnl.addresses()?;
    let node_ipv4 = node_ipv4(&addrs, link.index, &settings.vips);
    let node_ipv6 = addrs
        .iter()
        .filter(|a| a.index == link.index && !settings.vips.contains(&a.addr))
        .find_map(|a| match a.addr {
            IpAddr::V6(v6) if !v6.is_unicast_link_local() => Some(v6),
            _ => None,
        });
    let facts = HostFacts {
        interface: link.name.clone(),
        node_ipv4,
        node_ipv6,
        local_addrs: addrs.iter().map(|a| a.addr).collect(),
    };
    let link_local = addrs
        .iter()
        .filter(|a| a.index == link.index)
        .find_map(|a| match a.addr {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(v6),
            _ => None,
        });
    Ok(Host {
        link,
        facts,
        link_local,
    })
}

/// The first IPv4 address of the interface that is not one of our VIPs.
fn node_ipv4(addrs: &[AddrInfo], index: u32, vips: &[IpAddr]) -> Option<Ipv4Addr> {
    addrs
        .iter()
        .filter(|a| a.index == index && !vips.contains(&a.addr))
        .find_map(|a| match a.addr {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(index: u32, a: &str) -> AddrInfo {
        AddrInfo {
            index,
            addr: a.parse().expect("test address"),
            prefix_len: 24,
            scope: 0,
        }
    }

    #[test]
    fn node_address_skips_other_interfaces_ipv6_and_stale_vips() {
        let addrs = [
            addr(1, "127.0.0.1"),
            addr(2, "2001:db8::1"),
            addr(2, "192.0.2.201"),
            addr(2, "192.0.2.11"),
        ];
        let vips = ["192.0.2.201".parse().expect("vip")];
        assert_eq!(
            node_ipv4(&addrs, 2, &vips),
            Some(Ipv4Addr::new(192, 0, 2, 11))
        );
        assert_eq!(node_ipv4(&addrs, 3, &vips), None);
    }
}
