//! Putting the core's sending actions on the wire: adverts (to the multicast group or to
//! each unicast peer) and gratuitous ARP bursts.
use crate::sys::packet_socket::PacketSocket;
use crate::sys::vrrp_socket::VrrpSocketV4;
use crate::wire::arp::gratuitous_arp;
use crate::wire::ipv4::Ipv4Header;
use crate::wire::vrrp::{Advert, Version};
use smallvec::SmallVec;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// VRRP's IPv4 multicast group (RFC 3768 §5.2.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// GARP rounds per burst (keepalived garp_master_repeat).
pub const GARP_ROUNDS: usize = 5;
/// Large enough for 255 IPv4 VIPs: 20 + 8 + 4·255 + 8.
const MAX_DATAGRAM: usize = 20 + 8 + 4 * 255 + 8;

/// The fixed facts every advert of this node shares.
pub struct Sender {
    pub socket: VrrpSocketV4,
    pub packet: PacketSocket,
    pub src: Ipv4Addr,
    pub mac: [u8; 6],
    pub password: [u8; 8],
    /// Empty: multicast.
    pub peers: Vec<Ipv4Addr>,
}

/// One advert as keepalived builds it for our configuration: VRRPv2, PASS auth, 1 s.
pub fn advert(vrid: u8, priority: u8, vips: &[IpAddr], password: [u8; 8]) -> Advert {
    Advert {
        version: Version::V2,
        vrid,
        priority,
        interval_cs: 100,
        addrs: vips.iter().copied().collect(),
        auth_type: 1,
        auth_data: password,
    }
}

impl Sender {
    /// Sends one advert; `ip_id` is the instance's IP ID counter (incremented here, never 0).
    pub fn send_advert(&self, vrid: u8, priority: u8, vips: &[IpAddr], ip_id: &mut u16) -> io::Result<()> {
        let adv = advert(vrid, priority, vips, self.password);
        let dsts: SmallVec<[Ipv4Addr; 4]> =
            if self.peers.is_empty() { smallvec::smallvec![VRRP_GROUP_V4] } else { self.peers.iter().copied().collect() };
        for dst in dsts {
            *ip_id = ip_id.wrapping_add(1).max(1);
            let mut buf = [0u8; MAX_DATAGRAM];
            let len = adv.buffer_len();
            let header = Ipv4Header::for_vrrp(self.src, dst, *ip_id, len);
            let h = header.emit(&mut buf);
            let Some(body) = buf.get_mut(h..h + len) else {
                return Err(io::Error::other(format!("advert of {len} bytes does not fit")));
            };
            adv.emit(IpAddr::V4(self.src), IpAddr::V4(dst), body);
            self.socket.send(dst, &buf[..h + len])?;
        }
        Ok(())
    }

    /// One burst: `GARP_ROUNDS` rounds over every IPv4 VIP, back to back like keepalived.
    pub fn garp(&self, vips: &[IpAddr]) -> io::Result<()> {
        for _ in 0..GARP_ROUNDS {
            for vip in vips {
                if let IpAddr::V4(v4) = vip {
                    self.packet.send_frame(&gratuitous_arp(self.mac, *v4))?;
                }
            }
        }
        Ok(())
    }
}
