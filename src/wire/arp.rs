//! The gratuitous ARP frame keepalived sends for each IPv4 VIP on becoming MASTER.
use std::net::Ipv4Addr;

/// Length of the Ethernet + ARP frame (14 + 28), without padding; the NIC pads to 60.
pub const FRAME_LEN: usize = 42;
/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];

/// keepalived's gratuitous ARP for `vip` owned by the interface with `mac`:
/// a broadcast ARP REQUEST whose sender and target IP are both the VIP and whose target
/// hardware address is ff:ff:ff:ff:ff:ff (not zeros).
pub fn gratuitous_arp(mac: [u8; 6], vip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    // Ethernet header.
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // ARP: htype Ethernet, ptype IPv4, hlen 6, plen 4, op REQUEST.
    f[14..16].copy_from_slice(&1u16.to_be_bytes());
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes());
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let mac = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
        let frame = gratuitous_arp(mac, Ipv4Addr::new(192, 0, 2, 100));
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       // eth dst: broadcast
            0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,       // eth src: interface MAC
            0x08, 0x06,                               // ethertype ARP
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04,       // htype 1, ptype IPv4, hlen 6, plen 4
            0x00, 0x01,                               // op REQUEST
            0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,       // sender MAC
            192, 0, 2, 100,                           // sender IP = VIP
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       // target MAC: broadcast
            192, 0, 2, 100,                           // target IP = VIP
        ];
        assert_eq!(frame, expected);
    }
}
