//! The IPv4 header (RFC 791) as VRRP needs it: parsed on receive, built for `IP_HDRINCL` sends.
//! Options are skipped on parse and never emitted.
use super::checksum::checksum;
use super::vrrp::{self, DecodeError};
use std::net::Ipv4Addr;

/// Length of a header without options (IHL 5).
pub const MIN_HEADER_LEN: usize = 20;
/// TOS keepalived sends with: internetwork control (precedence 6).
pub const TOS_NETWORK_CONTROL: u8 = 0xc0;

/// The fields of an IPv4 header that VRRP reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Type of service byte (DSCP + ECN).
    pub tos: u8,
    /// Identification; keepalived counts it per instance, skipping 0.
    pub id: u16,
    /// Time to live; VRRP requires 255 on multicast receive.
    pub ttl: u8,
    /// Upper-layer protocol (112 for VRRP).
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Total length field as carried: header plus payload.
    pub total_len: u16,
    /// Header length in bytes (IHL × 4), options included. `emit` always writes 20.
    pub header_len: usize,
}

/// Parses the header at the start of `buf` and returns it with the bytes after it.
///
/// Checks the version (4), IHL ≥ 5 and that the buffer holds the whole header. The payload is
/// everything after the header in `buf`; `total_len` is *not* enforced here, see
/// [`Ipv4Header::check_total_len`]. The header checksum is not verified: the kernel drops
/// packets with a bad one before a raw socket sees them.
pub fn parse(buf: &[u8]) -> Result<(Ipv4Header, &[u8]), DecodeError> {
    if buf.len() < MIN_HEADER_LEN {
        return Err(DecodeError::TooShort);
    }
    let version = buf[0] >> 4;
    if version != 4 {
        return Err(DecodeError::NotIpv4(version));
    }
    let ihl = buf[0] & 0x0f;
    if ihl < 5 {
        return Err(DecodeError::BadHeaderLen(ihl));
    }
    let header_len = usize::from(ihl) * 4;
    let Some(payload) = buf.get(header_len..) else {
        return Err(DecodeError::TooShort);
    };
    let header = Ipv4Header {
        tos: buf[1],
        total_len: u16::from_be_bytes([buf[2], buf[3]]),
        id: u16::from_be_bytes([buf[4], buf[5]]),
        ttl: buf[8],
        protocol: buf[9],
        src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
        dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
        header_len,
    };
    Ok((header, payload))
}

impl Ipv4Header {
    /// The header keepalived puts in front of an advert of `vrrp_len` bytes:
    /// TOS 0xC0, TTL 255, protocol 112, no options.
    pub fn for_vrrp(src: Ipv4Addr, dst: Ipv4Addr, id: u16, vrrp_len: usize) -> Ipv4Header {
        Ipv4Header {
            tos: TOS_NETWORK_CONTROL,
            id,
            ttl: vrrp::TTL,
            protocol: vrrp::PROTOCOL,
            src,
            dst,
            // An advert is at most a few kilobytes; saturate rather than wrap on misuse.
            total_len: u16::try_from(MIN_HEADER_LEN.saturating_add(vrrp_len)).unwrap_or(u16::MAX),
            header_len: MIN_HEADER_LEN,
        }
    }

    /// keepalived's "ip_tot_len mismatch" check: the total length field must equal the number
    /// of bytes actually received.
    pub fn check_total_len(&self, received: usize) -> Result<(), DecodeError> {
        if usize::from(self.total_len) == received {
            Ok(())
        } else {
            Err(DecodeError::IpTotalLen {
                header: self.total_len,
                received,
            })
        }
    }

    /// Writes a 20-byte header (IHL 5, no options, flags/fragment 0 so DF is clear, as
    /// keepalived) into `out` and returns 20, or 0 if `out` is shorter than that.
    /// `header_len` is ignored. The checksum is computed, so the bytes are a valid header on
    /// their own; with `IP_HDRINCL` the kernel rewrites it anyway.
    pub fn emit(&self, out: &mut [u8]) -> usize {
        let Some(h) = out.get_mut(..MIN_HEADER_LEN) else {
            return 0;
        };
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&self.total_len.to_be_bytes());
        h[4..6].copy_from_slice(&self.id.to_be_bytes());
        h[6..8].fill(0);
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10..12].fill(0);
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let csum = checksum(h);
        h[10..12].copy_from_slice(&csum.to_be_bytes());
        MIN_HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

    fn header() -> Ipv4Header {
        Ipv4Header::for_vrrp(SRC, DST, 1, 20)
    }

    #[test]
    fn emit_exact_bytes() {
        let mut out = [0u8; 20];
        assert_eq!(header().emit(&mut out), 20);
        let expected = [
            0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x00, 0x00, 192, 0, 2, 1,
            224, 0, 0, 18,
        ];
        assert_eq!(out[..10], expected[..10]);
        assert_eq!(out[12..], expected[12..]);
        // Header checksum verifies.
        assert_eq!(checksum(&out), 0);
    }

    #[test]
    fn emit_short_buffer_writes_nothing() {
        let mut out = [0xaau8; 19];
        assert_eq!(header().emit(&mut out), 0);
        assert_eq!(out, [0xaa; 19]);
    }

    #[test]
    fn round_trip_with_payload() {
        let mut buf = [0u8; 40];
        header().emit(&mut buf);
        buf[20..].fill(7);
        let (h, payload) = parse(&buf).unwrap();
        assert_eq!(h, header());
        assert_eq!(payload, &[7u8; 20][..]);
        assert_eq!(h.check_total_len(buf.len()), Ok(()));
    }

    #[test]
    fn options_are_skipped() {
        let mut buf = [0u8; 32];
        header().emit(&mut buf);
        buf[0] = 0x46; // IHL 6: 4 bytes of options
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        buf[24..].fill(9);
        let (h, payload) = parse(&buf).unwrap();
        assert_eq!(h.header_len, 24);
        assert_eq!(payload, &[9u8; 8][..]);
    }

    #[test]
    fn decode_errors() {
        let mut buf = [0u8; 24];
        header().emit(&mut buf);
        assert_eq!(parse(&buf[..19]), Err(DecodeError::TooShort));
        assert_eq!(parse(&[]), Err(DecodeError::TooShort));
        let mut v6 = buf;
        v6[0] = 0x65;
        assert_eq!(parse(&v6), Err(DecodeError::NotIpv4(6)));
        let mut ihl = buf;
        ihl[0] = 0x44;
        assert_eq!(parse(&ihl), Err(DecodeError::BadHeaderLen(4)));
        let mut long = buf;
        long[0] = 0x47; // 28-byte header in a 24-byte buffer
        assert_eq!(parse(&long), Err(DecodeError::TooShort));
    }

    #[test]
    fn total_len_mismatch() {
        let h = header();
        assert_eq!(
            h.check_total_len(41),
            Err(DecodeError::IpTotalLen {
                header: 40,
                received: 41
            })
        );
        let e = DecodeError::IpTotalLen {
            header: 40,
            received: 41,
        };
        assert_eq!(
            e.to_string(),
            "ip_tot_len mismatch against received length. 40 and received 41"
        );
        assert_eq!(e.as_str(), "ip_total_len");
    }

    #[test]
    fn for_vrrp_saturates_absurd_length() {
        assert_eq!(
            Ipv4Header::for_vrrp(SRC, DST, 1, usize::MAX).total_len,
            u16::MAX
        );
    }

    #[test]
    fn no_panic_on_any_prefix_or_byte() {
        let mut buf = [0u8; 40];
        header().emit(&mut buf);
        for n in 0..=buf.len() {
            let _ = parse(&buf[..n]);
        }
        for i in 0..buf.len() {
            for v in 0..=255u8 {
                let mut m = buf;
                m[i] = v;
                if let Ok((h, p)) = parse(&m) {
                    assert_eq!(h.header_len + p.len(), m.len());
                }
            }
        }
    }
}
