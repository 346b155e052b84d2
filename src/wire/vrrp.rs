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
                write!(f, "vrrp packet too {how}, length {got} and expect {expected}")
            }
            Self::BadChecksum => f.write_str("Invalid VRRP checksum"),
            Self::AddressFamily => f.write_str("address family mismatch between packet and VRRP version"),
            Self::NotIpv4(v) => write!(f, "not an IPv4 packet (version {v})"),
            Self::BadHeaderLen(ihl) => write!(f, "invalid IPv4 header length {ihl}"),
            Self::IpTotalLen { header, received } => {
                write!(f, "ip_tot_len mismatch against received length. {header} and received {received}")
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
            return Err(DecodeError::BadLength { got: buf.len(), expected });
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
            list.chunks_exact(16).map(|c| IpAddr::from(array::<16>(c))).collect()
        } else {
            list.chunks_exact(4).map(|c| IpAddr::from(array::<4>(c))).collect()
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
        let addrs: usize = self.addrs.iter().map(|a| if a.is_ipv4() { 4 } else { 16 }).sum();
        HEADER_LEN + addrs + if self.version == Version::V2 { AUTH_LEN } else { 0 }
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
        let Some(v6) = family_is_v6(self.version, src, dst) else { return 0 };
        let Ok(count) = u8::try_from(self.addrs.len()) else { return 0 };
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
        let Some(out) = out.get_mut(..len) else { return 0 };

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
