//! Putting the core's sending actions on the wire: adverts (to the multicast group or to
//! each unicast peer) and gratuitous ARP / unsolicited NA bursts.
use crate::config::Plan;
use crate::sys::netlink::Link;
use crate::sys::packet_socket::PacketSocket;
use crate::sys::vrrp_socket::VrrpSocketV4;
use crate::sys::vrrp_socket_v6::VrrpSocketV6;
use crate::wire::arp::gratuitous_arp;
use crate::wire::ipv4::Ipv4Header;
use crate::wire::ndisc::unsolicited_na;
use crate::wire::vrrp::{Advert, GROUP_V4, GROUP_V6, Version};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// GARP / NA rounds per burst (keepalived garp_master_repeat).
pub const GARP_ROUNDS: usize = 5;
/// Large enough for 255 IPv6 VIPs (8 + 16·255), or an IPv4 datagram with 255 VIPs.
const MAX_ADVERT: usize = 8 + 16 * 255;

/// What every advert of this node has in common; fixed for the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Speak {
    /// VRRPv2 (keepalived's default) or v3 for IPv4; IPv6 always speaks v3.
    pub ipv4_version: Version,
    /// Centiseconds between adverts (1 s unless the sub-second profile is configured).
    pub interval_cs: u16,
    /// VRRPv2 simple password (keepalived's auth_pass bytes).
    pub password: [u8; 8],
}

impl Speak {
    pub fn from_plan(plan: &Plan) -> Speak {
        Speak {
            ipv4_version: if plan.vrrp_version == 3 {
                Version::V3
            } else {
                Version::V2
            },
            interval_cs: plan.advert_interval_cs,
            password: plan.password,
        }
    }

    /// The version an instance whose first VIP is `vip` speaks.
    pub fn version_for(&self, vip: &IpAddr) -> Version {
        if vip.is_ipv4() {
            self.ipv4_version
        } else {
            Version::V3
        }
    }
}

/// IPv4 instances: VRRPv2 with PASS auth.
pub struct V4 {
    pub socket: VrrpSocketV4,
    pub src: Ipv4Addr,
    /// Empty: multicast.
    pub peers: Vec<Ipv4Addr>,
}

/// IPv6 instances: VRRPv3 without auth, from the link-local address.
pub struct V6 {
    pub socket: VrrpSocketV6,
    pub src: Ipv6Addr,
    /// Empty: multicast.
    pub peers: Vec<Ipv6Addr>,
}

/// Everything needed to speak for this node on its interface.
pub struct Sender {
    pub v4: Option<V4>,
    pub v6: Option<V6>,
    pub packet: PacketSocket,
    pub ifname: String,
    pub mac: [u8; 6],
    pub speak: Speak,
}

/// One advert as keepalived builds it for our configuration: v2 with PASS auth, or v3
/// without auth.
pub fn advert(vrid: u8, priority: u8, vips: &[IpAddr], speak: &Speak) -> Advert {
    let version = vips
        .first()
        .map_or(speak.ipv4_version, |v| speak.version_for(v));
    let (auth_type, auth_data) = match version {
        Version::V2 => (1, speak.password),
        Version::V3 => (0, [0; 8]),
    };
    Advert {
        version,
        vrid,
        priority,
        interval_cs: speak.interval_cs,
        addrs: vips.iter().copied().collect(),
        auth_type,
        auth_data,
    }
}

impl Sender {
    /// Opens the sockets each family needs on `link`; a family without a source is skipped.
    pub fn open(
        plan: &Plan,
        link: &Link,
        src4: Option<Ipv4Addr>,
        src6: Option<Ipv6Addr>,
    ) -> io::Result<Sender> {
        let (index, name) = (link.index, link.name.as_str());
        let multicast = plan.unicast_peers.is_empty();
        let v4 = match src4 {
            Some(src) => Some(V4 {
                socket: VrrpSocketV4::open(index, name, multicast)?,
                src,
                peers: plan
                    .unicast_peers
                    .iter()
                    .filter_map(|p| {
                        if let IpAddr::V4(a) = p {
                            Some(*a)
                        } else {
                            None
                        }
                    })
                    .collect(),
            }),
            None => None,
        };
        let v6 = match src6 {
            Some(src) => Some(V6 {
                socket: VrrpSocketV6::open(index, name, multicast)?,
                src,
                peers: plan
                    .unicast_peers
                    .iter()
                    .filter_map(|p| {
                        if let IpAddr::V6(a) = p {
                            Some(*a)
                        } else {
                            None
                        }
                    })
                    .collect(),
            }),
            None => None,
        };
        Ok(Sender {
            v4,
            v6,
            packet: PacketSocket::open(index)?,
            ifname: name.to_string(),
            mac: link.mac.unwrap_or([0; 6]),
            speak: Speak::from_plan(plan),
        })
    }

    /// The address adverts of this family come from (compared on equal priority).
    pub fn source(&self, vip: &IpAddr) -> Option<IpAddr> {
        match vip {
            IpAddr::V4(_) => self.v4.as_ref().map(|t| IpAddr::V4(t.src)),
            IpAddr::V6(_) => self.v6.as_ref().map(|t| IpAddr::V6(t.src)),
        }
    }

    /// Sends one advert; `ip_id` is the instance's IPv4 ID counter (never 0, as keepalived).
    pub fn send_advert(
        &self,
        vrid: u8,
        priority: u8,
        vips: &[IpAddr],
        ip_id: &mut u16,
    ) -> io::Result<()> {
        let adv = advert(vrid, priority, vips, &self.speak);
        match vips.first() {
            Some(IpAddr::V4(_)) => {
                let t = self
                    .v4
                    .as_ref()
                    .ok_or_else(|| io::Error::other("no IPv4 VRRP socket"))?;
                let group = [GROUP_V4];
                let dsts = if t.peers.is_empty() {
                    &group[..]
                } else {
                    &t.peers[..]
                };
                for dst in dsts {
                    *ip_id = ip_id.wrapping_add(1).max(1);
                    send_v4(t, &adv, *dst, *ip_id)?;
                }
            }
            Some(IpAddr::V6(_)) => {
                let t = self
                    .v6
                    .as_ref()
                    .ok_or_else(|| io::Error::other("no IPv6 VRRP socket"))?;
                let group = [GROUP_V6];
                let dsts = if t.peers.is_empty() {
                    &group[..]
                } else {
                    &t.peers[..]
                };
                for dst in dsts {
                    let mut buf = [0u8; MAX_ADVERT];
                    let len = adv.emit(IpAddr::V6(t.src), IpAddr::V6(*dst), &mut buf);
                    t.socket.send(t.src, *dst, &buf[..len])?;
                }
            }
            None => {}
        }
        Ok(())
    }

    /// One burst: `GARP_ROUNDS` rounds over every VIP, back to back like keepalived.
    pub fn garp(&self, vips: &[IpAddr]) -> io::Result<()> {
        let router = vips.iter().any(IpAddr::is_ipv6) && ipv6_forwarding(&self.ifname);
        for _ in 0..GARP_ROUNDS {
            for vip in vips {
                match vip {
                    IpAddr::V4(v4) => self.packet.send_frame(&gratuitous_arp(self.mac, *v4))?,
                    IpAddr::V6(v6) => self
                        .packet
                        .send_frame(&unsolicited_na(self.mac, *v6, router))?,
                }
            }
        }
        Ok(())
    }
}

fn send_v4(t: &V4, adv: &Advert, dst: Ipv4Addr, id: u16) -> io::Result<()> {
    let mut buf = [0u8; 20 + MAX_ADVERT];
    let len = adv.buffer_len();
    let h = Ipv4Header::for_vrrp(t.src, dst, id, len).emit(&mut buf);
    let Some(body) = buf.get_mut(h..h + len) else {
        return Err(io::Error::other(format!(
            "advert of {len} bytes does not fit"
        )));
    };
    adv.emit(IpAddr::V4(t.src), IpAddr::V4(dst), body);
    t.socket.send(dst, &buf[..h + len])
}

/// NA carries the Router flag only when the interface forwards IPv6 (keepalived §5.3).
fn ipv6_forwarding(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|v| v.trim() == "1")
}
