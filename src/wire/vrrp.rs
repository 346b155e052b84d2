//! VRRP advertisement codec: VRRPv2 (RFC 3768 §5.1) and VRRPv3 (RFC 5798 §5.1).
use super::checksum::{Checksum, pseudo_header};
use smallvec::SmallVec;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Protocol version carried in the high nibble of the first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

/// One decoded (or to-be-encoded) advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds. v2 carries whole seconds on the wire
    /// (cs / 100); v3 carries 12 bits of centiseconds.
    pub interval_cs: u16,
    /// Virtual addresses, all of one family.
    pub addrs: SmallVec<[IpAddr; 4]>,
    /// v2 only: auth type byte (0 none, 1 simple password, 2 AH) and the 8 auth bytes,
    /// which keepalived always sends (zeros without auth). Zero / zeros for v3.
    pub auth_type: u8,
    pub auth_data: [u8; 8],
}

/// IP protocol number of VRRP (IPv4 protocol / IPv6 next header).
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group adverts are sent to (RFC 3768 §5.2.2).
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group adverts are sent to (RFC 5798 §5.1.2.2).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit every multicast advert must carry (RFC 3768 §5.2.3, RFC 5798 §5.1.1.3).
pub const TTL: u8 = 255;
/// Fixed part of every advert: version/type, VRID, priority, count, 2 bytes, checksum.
pub const HEADER_LEN: usize = 8;
/// The VRRPv2 authentication data that follows the addresses (always sent by keepalived).
pub const AUTH_LEN: usize = 8;
/// The only packet type VRRP defines: ADVERTISEMENT.
const TYPE_ADVERT: u8 = 1;
/// v3 carries the interval in the low 12 bits; the top 4 are reserved.
const V3_INTERVAL_MASK: u16 = 0x0fff;

/// Why bytes could not be decoded as an IPv4 header or a VRRP advert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the fixed header (20 + options for IPv4, 8 for VRRP).
    TooShort,
    /// VRRP version nibble is neither 2 nor 3.
    BadVersion(u8),
    /// VRRP type nibble is not 1 (ADVERTISEMENT).
    BadType(u8),
    /// The advert length does not match its address count (keepalived: exact equality).
    BadLength { got: usize, expected: usize },
    /// The VRRP checksum does not verify.
    BadChecksum,
    /// Source and destination differ in family, or VRRPv2 over IPv6 (not supported).
    AddressFamily,
    /// IPv4 version nibble is not 4.
    NotIpv4(u8),
    /// IPv4 IHL below 5 (in 32-bit words).
    BadHeaderLen(u8),
    /// IPv4 total length differs from the number of bytes received.
    IpTotalLen { header: u16, received: usize },
}

impl DecodeError {
    /// A short, stable, snake_case kind name, usable as a counter label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::BadVersion(_) => "bad_version",
            Self::BadType(_) => "bad_type",
            Self::BadLength { .. } => "bad_length",
            Self::BadChecksum => "bad_checksum",
            Self::AddressFamily => "address_family",
            Self::NotIpv4(_) => "not_ipv4",
            Self::BadHeaderLen(_) => "bad_header_len",
            Self::IpTotalLen { .. } => "ip_total_len",
        }
    }
}

impl fmt::Display for DecodeError {
    /// keepalived-like phrases where keepalived has one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort => f.write_str("VRRP packet too short"),
            Self::BadVersion(v) => write!(f, "invalid VRRP version {v}"),
            Self::BadType(t) => write!(f, "Invalid packet type. {t} and expect {TYPE_ADVERT}"),
            Self::BadLength { got, expected } => {
                let how = if got < expected { "short" } else { "long" };
                write!(
                    f,
                    "vrrp packet too {how}, length {got} and expect {expected}"
                )
            }
            Self::BadChecksum => f.write_str("Invalid VRRP checksum"),
            Self::AddressFamily => {
                f.write_str("address family mismatch between packet and VRRP version")
            }
            Self::NotIpv4(v) => write!(f, "not an IPv4 packet (version {v})"),
            Self::BadHeaderLen(ihl) => write!(f, "invalid IPv4 header length {ihl}"),
            Self::IpTotalLen { header, received } => {
                write!(
                    f,
                    "ip_tot_len mismatch against received length. {header} and received {received}"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// The version number as it appears on the wire and in log lines.
pub fn version_number(version: Version) -> u8 {
    match version {
        Version::V2 => 2,
        Version::V3 => 3,
    }
}

impl Advert {
    /// Decodes the VRRP part of a packet (after the IPv4 header; the whole payload for IPv6).
    ///
    /// `src` and `dst` are the packet's IP addresses. They choose the address family and
    /// feed the v3 pseudo-header, so `dst` must be the *actual* destination (224.0.0.18,
    /// ff02::12 or our unicast address). The length must match the count exactly, as in
    /// keepalived: v2 `8 + 4n + 8`, v3 `8 + 4n` or `8 + 16n`. Checks, in order: too short,
    /// version, family, length, type, checksum. A unicast v3 sender from keepalived ≤ 1.3.6
    /// computes its checksum with 224.0.0.18 as dst; a caller that wants keepalived's
    /// compatibility retry calls `parse` again with [`GROUP_V4`].
    pub fn parse(buf: &[u8], src: IpAddr, dst: IpAddr) -> Result<Advert, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::TooShort);
        }
        let version = match buf[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(DecodeError::BadVersion(v)),
        };
        let v6 = family_is_v6(version, src, dst).ok_or(DecodeError::AddressFamily)?;
        let count = usize::from(buf[3]);
        let expected = wire_len(version, v6, count);
        if buf.len() != expected {
            return Err(DecodeError::BadLength {
                got: buf.len(),
                expected,
            });
        }
        let kind = buf[0] & 0x0f;
        if kind != TYPE_ADVERT {
            return Err(DecodeError::BadType(kind));
        }
        if sum(version, src, dst, buf).finish() != 0 {
            return Err(DecodeError::BadChecksum);
        }
        let addr_end = expected - if version == Version::V2 { AUTH_LEN } else { 0 };
        let list = &buf[HEADER_LEN..addr_end];
        let addrs = if v6 {
            list.chunks_exact(16)
                .map(|c| IpAddr::from(array::<16>(c)))
                .collect()
        } else {
            list.chunks_exact(4)
                .map(|c| IpAddr::from(array::<4>(c)))
                .collect()
        };
        let mut advert = Advert {
            version,
            vrid: buf[1],
            priority: buf[2],
            interval_cs: 0,
            addrs,
            auth_type: 0,
            auth_data: [0; AUTH_LEN],
        };
        match version {
            Version::V2 => {
                advert.auth_type = buf[4];
                advert.interval_cs = u16::from(buf[5]) * 100;
                advert.auth_data.copy_from_slice(&buf[addr_end..]);
            }
            Version::V3 => {
                advert.interval_cs = u16::from_be_bytes([buf[4], buf[5]]) & V3_INTERVAL_MASK;
            }
        }
        Ok(advert)
    }

    /// Bytes [`Advert::emit`] writes: 8, plus 4 or 16 per address, plus 8 auth bytes for v2.
    pub fn buffer_len(&self) -> usize {
        let addrs: usize = self
            .addrs
            .iter()
            .map(|a| if a.is_ipv4() { 4 } else { 16 })
            .sum();
        HEADER_LEN
            + addrs
            + if self.version == Version::V2 {
                AUTH_LEN
            } else {
                0
            }
    }

    /// Encodes the advert into `out` with its checksum and returns the number of bytes written.
    ///
    /// v2: interval byte = `interval_cs / 100` (whole seconds, truncated as keepalived does),
    /// then `auth_type` and, after the addresses, `auth_data` as given; checksum over the
    /// message only. v3: 12-bit centisecond interval with the reserved bits zero; checksum
    /// with the pseudo-header of `src`/`dst` (for IPv6 the kernel recomputes the same value
    /// when `IPV6_CHECKSUM` is set).
    ///
    /// Returns 0, having written nothing meaningful, when the advert cannot be encoded:
    /// `out` shorter than [`Advert::buffer_len`], `src`/`dst`/addresses not all one family,
    /// v2 over IPv6, more than 255 addresses, or an interval that does not fit the field.
    pub fn emit(&self, src: IpAddr, dst: IpAddr, out: &mut [u8]) -> usize {
        let Some(v6) = family_is_v6(self.version, src, dst) else {
            return 0;
        };
        let Ok(count) = u8::try_from(self.addrs.len()) else {
            return 0;
        };
        if self.addrs.iter().any(|a| a.is_ipv6() != v6) {
            return 0;
        }
        let interval = match self.version {
            Version::V2 => match u8::try_from(self.interval_cs / 100) {
                Ok(secs) => [self.auth_type, secs],
                Err(_) => return 0,
            },
            Version::V3 if self.interval_cs <= V3_INTERVAL_MASK => self.interval_cs.to_be_bytes(),
            Version::V3 => return 0,
        };
        let len = self.buffer_len();
        let Some(out) = out.get_mut(..len) else {
            return 0;
        };

        out[0] = (version_number(self.version) << 4) | TYPE_ADVERT;
        out[1] = self.vrid;
        out[2] = self.priority;
        out[3] = count;
        out[4..6].copy_from_slice(&interval);
        out[6..8].fill(0);
        let mut at = HEADER_LEN;
        for addr in &self.addrs {
            let n = match addr {
                IpAddr::V4(a) => copy(&mut out[at..], &a.octets()),
                IpAddr::V6(a) => copy(&mut out[at..], &a.octets()),
            };
            at += n;
        }
        if self.version == Version::V2 {
            out[at..].copy_from_slice(&self.auth_data);
        }
        let csum = sum(self.version, src, dst, out).finish();
        out[6..8].copy_from_slice(&csum.to_be_bytes());
        len
    }
}

/// `Some(is_ipv6)` when `src` and `dst` agree on a family this version supports.
fn family_is_v6(version: Version, src: IpAddr, dst: IpAddr) -> Option<bool> {
    match (src, dst, version) {
        (IpAddr::V4(_), IpAddr::V4(_), _) => Some(false),
        (IpAddr::V6(_), IpAddr::V6(_), Version::V3) => Some(true),
        _ => None,
    }
}

/// Exact length of an advert with `count` addresses.
fn wire_len(version: Version, v6: bool, count: usize) -> usize {
    let per_addr = if v6 { 16 } else { 4 };
    HEADER_LEN + per_addr * count + if version == Version::V2 { AUTH_LEN } else { 0 }
}

/// The checksum sum over `msg`: v2 covers the message only, v3 adds the pseudo-header.
fn sum(version: Version, src: IpAddr, dst: IpAddr, msg: &[u8]) -> Checksum {
    let start = match version {
        Version::V2 => Checksum::new(),
        // An advert is at most 8 + 255 * 16 bytes, so the length always fits.
        Version::V3 => pseudo_header(src, dst, PROTOCOL, msg.len() as u32),
    };
    start.add_bytes(msg)
}

/// The first `N` bytes of `bytes` (zero-padded if shorter; callers pass exact chunks).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    let n = bytes.len().min(N);
    a[..n].copy_from_slice(&bytes[..n]);
    a
}

/// Copies `src` to the start of `dst` and returns its length (the caller sized `dst`).
fn copy(dst: &mut [u8], src: &[u8]) -> usize {
    dst[..src.len()].copy_from_slice(src);
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }
    fn v6(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const GROUP4: IpAddr = IpAddr::V4(GROUP_V4);
    const GROUP6: IpAddr = IpAddr::V6(GROUP_V6);

    /// §2.6: VRID 51, prio 100, VIP 10.0.0.100, 1 s, PASS "OpenShif".
    fn v2_pass() -> Advert {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 100,
            interval_cs: 100,
            addrs: smallvec![v4(10, 0, 0, 100)],
            auth_type: 1,
            auth_data: *b"OpenShif",
        }
    }
    const V2_PASS: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0xfd, 0xb8, 0x0a, 0x00, 0x00, 0x64, 0x4f, 0x70, 0x65,
        0x6e, 0x53, 0x68, 0x69, 0x66,
    ];

    fn v3_v4() -> Advert {
        Advert {
            version: Version::V3,
            auth_type: 0,
            auth_data: [0; 8],
            ..v2_pass()
        }
    }
    const V3_MCAST: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x75, 0x73, 0x0a, 0x00, 0x00, 0x64,
    ];

    fn v3_v6() -> Advert {
        Advert {
            addrs: smallvec![v6("2001:db8::100")],
            ..v3_v4()
        }
    }
    fn v6_bytes() -> Vec<u8> {
        let mut b = vec![0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x3d, 0x8f];
        b.extend_from_slice(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
        ]);
        b
    }

    fn encode(a: &Advert, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let mut out = vec![0u8; a.buffer_len()];
        assert_eq!(a.emit(src, dst, &mut out), out.len());
        out
    }

    #[test]
    fn golden_v2_pass() {
        assert_eq!(encode(&v2_pass(), SRC4, GROUP4), V2_PASS);
        assert_eq!(Advert::parse(&V2_PASS, SRC4, GROUP4), Ok(v2_pass()));
        // v2 has no pseudo-header: a unicast destination changes nothing.
        assert_eq!(encode(&v2_pass(), SRC4, v4(10, 0, 0, 2)), V2_PASS);
        assert_eq!(
            Advert::parse(&V2_PASS, v4(10, 0, 0, 9), v4(10, 0, 0, 2)),
            Ok(v2_pass())
        );
    }

    #[test]
    fn golden_v2_no_auth() {
        let a = Advert {
            auth_type: 0,
            auth_data: [0; 8],
            ..v2_pass()
        };
        let b = encode(&a, SRC4, GROUP4);
        assert_eq!(b[..6], [0x21, 0x33, 0x64, 0x01, 0x00, 0x01]);
        assert_eq!(b[6..8], [0x70, 0x66]);
        assert_eq!(b[12..], [0; 8]);
        assert_eq!(Advert::parse(&b, SRC4, GROUP4), Ok(a));
    }

    #[test]
    fn golden_v3_ipv4_multicast_and_unicast() {
        assert_eq!(encode(&v3_v4(), SRC4, GROUP4), V3_MCAST);
        assert_eq!(Advert::parse(&V3_MCAST, SRC4, GROUP4), Ok(v3_v4()));

        let peer = v4(10, 0, 0, 2);
        let uni = encode(&v3_v4(), SRC4, peer);
        assert_eq!(uni[6..8], [0x4b, 0x84]);
        assert_eq!(Advert::parse(&uni, SRC4, peer), Ok(v3_v4()));
        // The pseudo-header binds the checksum to the addresses.
        assert_eq!(
            Advert::parse(&uni, SRC4, GROUP4),
            Err(DecodeError::BadChecksum)
        );
        assert_eq!(
            Advert::parse(&V3_MCAST, v4(10, 0, 0, 3), GROUP4),
            Err(DecodeError::BadChecksum)
        );
        // keepalived <= 1.3.6 unicast (224.0.0.18 in the pseudo-header): the caller's retry works.
        assert_eq!(
            Advert::parse(&V3_MCAST, SRC4, peer),
            Err(DecodeError::BadChecksum)
        );
        assert_eq!(Advert::parse(&V3_MCAST, SRC4, GROUP4), Ok(v3_v4()));
    }

    #[test]
    fn golden_v3_ipv6() {
        let src = v6("fe80::1");
        assert_eq!(encode(&v3_v6(), src, GROUP6), v6_bytes());
        assert_eq!(Advert::parse(&v6_bytes(), src, GROUP6), Ok(v3_v6()));
    }

    #[test]
    fn round_trips() {
        let many: SmallVec<[IpAddr; 4]> = (1..=40).map(|i| v4(192, 0, 2, i)).collect();
        let cases = [
            (
                Advert {
                    addrs: many.clone(),
                    priority: 0,
                    ..v2_pass()
                },
                SRC4,
                GROUP4,
            ),
            (
                Advert {
                    addrs: many,
                    interval_cs: 4095,
                    ..v3_v4()
                },
                SRC4,
                v4(198, 51, 100, 7),
            ),
            (
                Advert {
                    addrs: SmallVec::new(),
                    ..v3_v4()
                },
                SRC4,
                GROUP4,
            ),
            (
                Advert {
                    addrs: SmallVec::new(),
                    ..v2_pass()
                },
                SRC4,
                GROUP4,
            ),
            (
                Advert {
                    interval_cs: 25500,
                    vrid: 255,
                    priority: 255,
                    ..v2_pass()
                },
                SRC4,
                GROUP4,
            ),
            (
                Advert {
                    addrs: (1..=255u16)
                        .map(|i| v6(&format!("2001:db8::{i:x}")))
                        .collect(),
                    interval_cs: 1,
                    ..v3_v6()
                },
                v6("fe80::2"),
                v6("2001:db8::1"),
            ),
        ];
        for (a, src, dst) in cases {
            let b = encode(&a, src, dst);
            assert_eq!(b.len(), a.buffer_len());
            assert_eq!(Advert::parse(&b, src, dst), Ok(a));
        }
    }

    #[test]
    fn v2_interval_truncates_to_seconds() {
        let a = Advert {
            interval_cs: 150,
            ..v2_pass()
        };
        let b = encode(&a, SRC4, GROUP4);
        assert_eq!(b[5], 1);
        assert_eq!(Advert::parse(&b, SRC4, GROUP4).unwrap().interval_cs, 100);
    }

    #[test]
    fn v3_reserved_bits_ignored_on_parse() {
        let mut b = V3_MCAST;
        b[4] |= 0xf0;
        // Fix the checksum for the changed word: recompute from scratch.
        b[6..8].fill(0);
        let c = sum(Version::V3, SRC4, GROUP4, &b).finish();
        b[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Advert::parse(&b, SRC4, GROUP4).unwrap().interval_cs, 100);
    }

    #[test]
    fn emit_refuses_what_it_cannot_encode() {
        let mut out = [0xaau8; 600];
        let refuse = |a: &Advert, src: IpAddr, dst: IpAddr, out: &mut [u8]| {
            assert_eq!(a.emit(src, dst, out), 0)
        };
        // Short buffer.
        refuse(&v2_pass(), SRC4, GROUP4, &mut out[..19]);
        // Families disagree.
        refuse(&v3_v4(), SRC4, GROUP6, &mut out);
        refuse(&v3_v6(), SRC4, GROUP4, &mut out);
        refuse(&v3_v4(), v6("fe80::1"), GROUP6, &mut out);
        // v2 over IPv6.
        refuse(
            &Advert {
                version: Version::V2,
                ..v3_v6()
            },
            v6("fe80::1"),
            GROUP6,
            &mut out,
        );
        // Intervals that do not fit.
        refuse(
            &Advert {
                interval_cs: 25600,
                ..v2_pass()
            },
            SRC4,
            GROUP4,
            &mut out,
        );
        refuse(
            &Advert {
                interval_cs: 4096,
                ..v3_v4()
            },
            SRC4,
            GROUP4,
            &mut out,
        );
        // More than 255 addresses.
        let too_many: SmallVec<[IpAddr; 4]> = (0..256u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)))
            .collect();
        let mut big = vec![0u8; 8 + 4 * 256];
        refuse(
            &Advert {
                addrs: too_many,
                ..v3_v4()
            },
            SRC4,
            GROUP4,
            &mut big,
        );
        assert!(out.iter().all(|&b| b == 0xaa));
    }

    #[test]
    fn decode_error_too_short() {
        assert_eq!(Advert::parse(&[], SRC4, GROUP4), Err(DecodeError::TooShort));
        assert_eq!(
            Advert::parse(&V2_PASS[..7], SRC4, GROUP4),
            Err(DecodeError::TooShort)
        );
    }

    #[test]
    fn decode_error_bad_version() {
        for v in [0u8, 1, 4, 15] {
            let mut b = V2_PASS;
            b[0] = (v << 4) | 1;
            assert_eq!(
                Advert::parse(&b, SRC4, GROUP4),
                Err(DecodeError::BadVersion(v))
            );
        }
    }

    #[test]
    fn decode_error_address_family() {
        let s6 = v6("fe80::1");
        assert_eq!(
            Advert::parse(&V3_MCAST, SRC4, GROUP6),
            Err(DecodeError::AddressFamily)
        );
        assert_eq!(
            Advert::parse(&v6_bytes(), s6, GROUP4),
            Err(DecodeError::AddressFamily)
        );
        assert_eq!(
            Advert::parse(&V2_PASS, s6, GROUP6),
            Err(DecodeError::AddressFamily)
        );
    }

    #[test]
    fn decode_error_bad_length() {
        assert_eq!(
            Advert::parse(&V2_PASS[..19], SRC4, GROUP4),
            Err(DecodeError::BadLength {
                got: 19,
                expected: 20
            })
        );
        let mut long = V2_PASS.to_vec();
        long.push(0);
        assert_eq!(
            Advert::parse(&long, SRC4, GROUP4),
            Err(DecodeError::BadLength {
                got: 21,
                expected: 20
            })
        );
        // v3 with a v2-style auth trailer is too long.
        let mut v3_auth = V3_MCAST.to_vec();
        v3_auth.extend_from_slice(&[0; 8]);
        assert_eq!(
            Advert::parse(&v3_auth, SRC4, GROUP4),
            Err(DecodeError::BadLength {
                got: 20,
                expected: 12
            })
        );
        // Count says 2 but only one address is present.
        let mut c = V3_MCAST;
        c[3] = 2;
        assert_eq!(
            Advert::parse(&c, SRC4, GROUP4),
            Err(DecodeError::BadLength {
                got: 12,
                expected: 16
            })
        );
        // IPv6 addresses are 16 bytes.
        assert_eq!(
            Advert::parse(&V3_MCAST, v6("fe80::1"), GROUP6),
            Err(DecodeError::BadLength {
                got: 12,
                expected: 24
            })
        );
    }

    #[test]
    fn decode_error_bad_type() {
        for t in [0u8, 2, 15] {
            let mut b = V2_PASS;
            b[0] = 0x20 | t;
            assert_eq!(
                Advert::parse(&b, SRC4, GROUP4),
                Err(DecodeError::BadType(t))
            );
        }
    }

    #[test]
    fn decode_error_bad_checksum() {
        let mut b = V2_PASS;
        b[7] ^= 1;
        assert_eq!(
            Advert::parse(&b, SRC4, GROUP4),
            Err(DecodeError::BadChecksum)
        );
        let mut w = V2_PASS;
        w[19] = b'X'; // wrong password byte also breaks the checksum
        assert_eq!(
            Advert::parse(&w, SRC4, GROUP4),
            Err(DecodeError::BadChecksum)
        );
        let mut six = v6_bytes();
        six[23] ^= 0x80;
        assert_eq!(
            Advert::parse(&six, v6("fe80::1"), GROUP6),
            Err(DecodeError::BadChecksum)
        );
    }

    #[test]
    fn error_labels_and_messages() {
        let all = [
            (DecodeError::TooShort, "too_short", "VRRP packet too short"),
            (
                DecodeError::BadVersion(4),
                "bad_version",
                "invalid VRRP version 4",
            ),
            (
                DecodeError::BadType(2),
                "bad_type",
                "Invalid packet type. 2 and expect 1",
            ),
            (
                DecodeError::BadLength {
                    got: 19,
                    expected: 20,
                },
                "bad_length",
                "vrrp packet too short, length 19 and expect 20",
            ),
            (
                DecodeError::BadLength {
                    got: 21,
                    expected: 20,
                },
                "bad_length",
                "vrrp packet too long, length 21 and expect 20",
            ),
            (
                DecodeError::BadChecksum,
                "bad_checksum",
                "Invalid VRRP checksum",
            ),
            (
                DecodeError::AddressFamily,
                "address_family",
                "address family mismatch between packet and VRRP version",
            ),
            (
                DecodeError::NotIpv4(6),
                "not_ipv4",
                "not an IPv4 packet (version 6)",
            ),
            (
                DecodeError::BadHeaderLen(3),
                "bad_header_len",
                "invalid IPv4 header length 3",
            ),
        ];
        for (e, label, msg) in all {
            assert_eq!(e.as_str(), label);
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn full_ipv4_packet_round_trip() {
        use crate::wire::ipv4::{self, Ipv4Header};
        let a = v2_pass();
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), GROUP_V4);
        let mut pkt = vec![0u8; ipv4::MIN_HEADER_LEN + a.buffer_len()];
        let h = Ipv4Header::for_vrrp(src, dst, 7, a.buffer_len());
        assert_eq!(h.emit(&mut pkt), 20);
        assert_eq!(a.emit(src.into(), dst.into(), &mut pkt[20..]), 20);
        let (got, payload) = ipv4::parse(&pkt).unwrap();
        assert_eq!(got.check_total_len(pkt.len()), Ok(()));
        assert_eq!(
            Advert::parse(payload, got.src.into(), got.dst.into()),
            Ok(a)
        );
    }

    /// Every prefix and every single-byte change of a valid advert: never a panic, and never
    /// accepted (a one-byte change always breaks the length, type, version or checksum).
    #[test]
    fn prefixes_and_mutations_never_panic_or_pass() {
        let s6 = v6("fe80::1");
        let cases: [(Vec<u8>, IpAddr, IpAddr); 4] = [
            (V2_PASS.to_vec(), SRC4, GROUP4),
            (V3_MCAST.to_vec(), SRC4, GROUP4),
            (
                encode(&v3_v4(), SRC4, v4(10, 0, 0, 2)),
                SRC4,
                v4(10, 0, 0, 2),
            ),
            (v6_bytes(), s6, GROUP6),
        ];
        for (good, src, dst) in cases {
            assert!(Advert::parse(&good, src, dst).is_ok());
            for n in 0..good.len() {
                assert!(Advert::parse(&good[..n], src, dst).is_err(), "prefix {n}");
            }
            for i in 0..good.len() {
                for v in 0..=255u8 {
                    if v == good[i] {
                        continue;
                    }
                    let mut m = good.clone();
                    m[i] = v;
                    assert!(Advert::parse(&m, src, dst).is_err(), "byte {i} = {v:#04x}");
                }
            }
        }
    }

    /// Arbitrary bytes (deterministic pseudo-random): parse never panics.
    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = b.first_mut() {
                *first = [0x21, 0x31, 0x20, 0x41][(next() % 4) as usize];
            }
            let _ = Advert::parse(&b, SRC4, GROUP4);
            let _ = Advert::parse(&b, v6("fe80::1"), GROUP6);
            let _ = crate::wire::ipv4::parse(&b);
        }
    }
}
