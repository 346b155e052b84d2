//! RFC 1071 Internet checksum: the 16-bit one's-complement of the one's-complement sum.
//!
//! The sum is kept unfolded in a `u64`, so any realistic amount of data can be added
//! without overflow and the order of additions does not matter (RFC 1071 §2).
use std::net::IpAddr;

/// A running one's-complement sum of big-endian 16-bit words.
///
/// Build it from pieces (a pseudo-header, then the message) and call [`Checksum::finish`].
/// Only the *last* piece may have an odd length: an odd piece is padded with one zero byte,
/// which would misalign any piece added after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum(u64);

impl Checksum {
    /// An empty sum.
    pub fn new() -> Self {
        Self(0)
    }

    /// Adds `data` as big-endian 16-bit words; a trailing odd byte is the high half of a word.
    pub fn add_bytes(self, data: &[u8]) -> Self {
        let mut chunks = data.chunks_exact(2);
        let mut acc = self.0;
        for w in &mut chunks {
            acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = chunks.remainder() {
            acc += u64::from(*last) << 8;
        }
        Self(acc)
    }

    /// Adds one 16-bit word.
    pub fn add_u16(self, word: u16) -> Self {
        Self(self.0 + u64::from(word))
    }

    /// Adds a 32-bit value as two 16-bit words (e.g. the IPv6 pseudo-header length).
    pub fn add_u32(self, value: u32) -> Self {
        self.add_u16((value >> 16) as u16).add_u16(value as u16)
    }

    /// The folded one's-complement sum, not complemented.
    /// A message that carries a correct checksum folds to `0xffff`.
    pub fn fold(self) -> u16 {
        let mut s = self.0;
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// The checksum to put on the wire: the complement of [`Checksum::fold`].
    /// Over a message that already carries a correct checksum this is 0.
    pub fn finish(self) -> u16 {
        !self.fold()
    }
}

/// The checksum of one byte slice, with no pseudo-header.
pub fn checksum(data: &[u8]) -> u16 {
    Checksum::new().add_bytes(data).finish()
}

/// The sum of the pseudo-header for upper-layer protocol `proto` carrying `len` bytes.
///
/// IPv4 (RFC 791/768 style): src, dst, zero, protocol, 16-bit length.
/// IPv6 (RFC 8200 §8.1): src, dst, 32-bit length, three zero bytes, next header.
/// Both layouts add up to the same sum apart from the address sizes, and the one's-complement
/// sum is insensitive to where the zero padding sits. Mixed families (a caller bug) sum both
/// addresses as given.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: u32) -> Checksum {
    let acc = add_addr(Checksum::new(), src);
    add_addr(acc, dst).add_u16(u16::from(proto)).add_u32(len)
}

fn add_addr(acc: Checksum, addr: IpAddr) -> Checksum {
    match addr {
        IpAddr::V4(a) => acc.add_bytes(&a.octets()),
        IpAddr::V6(a) => acc.add_bytes(&a.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Checksum::new().add_bytes(&data).fold(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0, 0, 0]), 0xffff);
    }

    #[test]
    fn odd_length_pads_low_byte() {
        assert_eq!(checksum(&[0x12]), !0x1200);
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234 + 0x5600));
    }

    #[test]
    fn carries_fold_repeatedly() {
        // 0xffff + 0xffff = 0x1fffe -> 0xffff.
        assert_eq!(Checksum::new().add_bytes(&[0xff; 4]).fold(), 0xffff);
        // Large input: no overflow, still folds into 16 bits.
        let big = vec![0xffu8; 1 << 20];
        assert_eq!(Checksum::new().add_bytes(&big).fold(), 0xffff);
    }

    #[test]
    fn verify_message_with_its_checksum() {
        let mut msg = [0x45, 0x00, 0x00, 0x1c, 0xab, 0xcd, 0x00, 0x00, 0x12, 0x34];
        let c = checksum(&msg);
        msg[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&msg), 0);
        assert_eq!(Checksum::new().add_bytes(&msg).fold(), 0xffff);
    }

    #[test]
    fn pieces_combine_like_one_buffer() {
        let a = [1u8, 2, 3, 4];
        let b = [5u8, 6, 7];
        let whole = [1u8, 2, 3, 4, 5, 6, 7];
        assert_eq!(
            Checksum::new().add_bytes(&a).add_bytes(&b),
            Checksum::new().add_bytes(&whole)
        );
        assert_eq!(
            Checksum::new().add_u32(0x0102_0304),
            Checksum::new().add_bytes(&a)
        );
        assert_eq!(
            Checksum::new().add_u16(0x0506),
            Checksum::new().add_bytes(&[5, 6])
        );
    }

    #[test]
    fn pseudo_header_layouts() {
        let s4 = Ipv4Addr::new(10, 0, 0, 1);
        let d4 = Ipv4Addr::new(224, 0, 0, 18);
        let mut ph4 = Vec::new();
        ph4.extend_from_slice(&s4.octets());
        ph4.extend_from_slice(&d4.octets());
        ph4.extend_from_slice(&[0, 112, 0, 12]);
        assert_eq!(
            pseudo_header(s4.into(), d4.into(), 112, 12),
            Checksum::new().add_bytes(&ph4)
        );

        let s6: Ipv6Addr = "fe80::1".parse().unwrap();
        let d6: Ipv6Addr = "ff02::12".parse().unwrap();
        let mut ph6 = Vec::new();
        ph6.extend_from_slice(&s6.octets());
        ph6.extend_from_slice(&d6.octets());
        ph6.extend_from_slice(&24u32.to_be_bytes());
        ph6.extend_from_slice(&[0, 0, 0, 112]);
        assert_eq!(
            pseudo_header(s6.into(), d6.into(), 112, 24),
            Checksum::new().add_bytes(&ph6)
        );
    }
}
