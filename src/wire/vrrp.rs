//! VRRP advertisement codec: VRRPv2 (RFC 3768 §5.1) and VRRPv3 (RFC 5798 §5.1).
use smallvec::SmallVec;
use std::net::IpAddr;

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
