//! The unsolicited Neighbour Advertisement frame keepalived sends for each IPv6 VIP on
//! becoming MASTER (RFC 4861 §4.4, §7.2.6).
use std::net::{IpAddr, Ipv6Addr};

use super::checksum::pseudo_header;

/// Length of the whole frame: Ethernet 14 + IPv6 40 + NA 24 + one 8-byte option.
pub const FRAME_LEN: usize = 86;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// ICMPv6 next-header number.
const ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbour Advertisement.
const TYPE_NA: u8 = 136;
/// Bytes of ICMPv6 in the frame (the IPv6 payload length).
const ICMP_LEN: u16 = 32;
/// All-nodes link-local multicast and its Ethernet mapping 33:33 + low 32 bits (RFC 2464 §7).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// NA flags byte: Router, Override (Solicited, 0x40, is never set when unsolicited).
const FLAG_ROUTER: u8 = 0x80;
const FLAG_OVERRIDE: u8 = 0x20;
/// Option "Target Link-Layer Address", length in units of 8 bytes.
const OPT_TARGET_LLADDR: u8 = 2;

/// keepalived's unsolicited NA for `vip` owned by the interface with `mac`: from the VIP to
/// ff02::1 with hop limit 255, Override always set, Solicited never, Router only when
/// `router` (keepalived: when IPv6 forwarding is on for the interface), and a target
/// link-layer address option carrying `mac`. The ICMPv6 checksum is filled in.
pub fn unsolicited_na(mac: [u8; 6], vip: Ipv6Addr, router: bool) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    // Ethernet header.
    f[0..6].copy_from_slice(&ALL_NODES_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header: version 6, traffic class 0, flow label 0.
    f[14] = 0x60;
    f[18..20].copy_from_slice(&ICMP_LEN.to_be_bytes());
    f[20] = ICMPV6;
    f[21] = 255;
    f[22..38].copy_from_slice(&vip.octets());
    f[38..54].copy_from_slice(&ALL_NODES.octets());
    // ICMPv6 NA: type, code 0, checksum (below), flags + 3 reserved bytes, target.
    f[54] = TYPE_NA;
    f[58] = FLAG_OVERRIDE | if router { FLAG_ROUTER } else { 0 };
    f[62..78].copy_from_slice(&vip.octets());
    f[78] = OPT_TARGET_LLADDR;
    f[79] = 1;
    f[80..86].copy_from_slice(&mac);
    let csum = pseudo_header(
        IpAddr::V6(vip),
        IpAddr::V6(ALL_NODES),
        ICMPV6,
        u32::from(ICMP_LEN),
    )
    .add_bytes(&f[54..])
    .finish();
    f[56..58].copy_from_slice(&csum.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::Checksum;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];

    fn vip() -> Ipv6Addr {
        "2001:db8::100".parse().unwrap()
    }

    #[test]
    fn exact_bytes() {
        let frame = unsolicited_na(MAC, vip(), false);
        #[rustfmt::skip]
        let expected: [u8; FRAME_LEN] = [
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01,       // eth dst: all-nodes multicast
            0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,       // eth src: interface MAC
            0x86, 0xdd,                               // ethertype IPv6
            0x60, 0x00, 0x00, 0x00,                   // version 6, tclass 0, flow 0
            0x00, 0x20, 58, 255,                      // payload 32, ICMPv6, hop limit 255
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,       // src = VIP
            0, 0, 0, 0, 0, 0, 0x01, 0x00,
            0xff, 0x02, 0, 0, 0, 0, 0, 0,             // dst = ff02::1
            0, 0, 0, 0, 0, 0, 0, 0x01,
            136, 0, 0x78, 0xed,                       // NA, code 0, checksum (python-computed)
            0x20, 0, 0, 0,                            // O only
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,       // target = VIP
            0, 0, 0, 0, 0, 0, 0x01, 0x00,
            2, 1, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // target link-layer address option
        ];
        assert_eq!(frame, expected);
    }

    /// Re-sum the ICMPv6 part with a hand-built pseudo-header: a correct checksum folds
    /// to 0xffff.
    fn verifies(frame: &[u8; FRAME_LEN]) -> bool {
        let mut ph = Vec::new();
        ph.extend_from_slice(&frame[22..54]); // src, dst
        ph.extend_from_slice(&[0, 0, 0, 32, 0, 0, 0, 58]);
        Checksum::new()
            .add_bytes(&ph)
            .add_bytes(&frame[54..])
            .fold()
            == 0xffff
    }

    #[test]
    fn flags_and_checksum() {
        let plain = unsolicited_na(MAC, vip(), false);
        let router = unsolicited_na(MAC, vip(), true);
        assert_eq!(plain[58], 0x20, "O, not S, not R");
        assert_eq!(router[58], 0xa0, "R and O, not S");
        assert_eq!(&router[56..58], &[0xf8, 0xec]);
        assert!(verifies(&plain) && verifies(&router));
        // Only the flags byte and the checksum differ.
        let diff: Vec<usize> = (0..FRAME_LEN).filter(|&i| plain[i] != router[i]).collect();
        assert_eq!(diff, [56, 57, 58]);
        let other = unsolicited_na([0xaa; 6], "2001:db8:1::ffff".parse().unwrap(), true);
        assert!(verifies(&other));
    }
}
