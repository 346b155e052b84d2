//! Receive validation of a decoded advert against one instance: keepalived's checks 2-13
//! (`vrrp_check_packet()`), in keepalived's order so the first failing check is the one
//! reported. Length, type, checksum and IP total length are wire errors, checked earlier by
//! [`crate::wire::vrrp::Advert::parse`] and [`crate::wire::ipv4`].
use crate::wire::vrrp::{self, Advert, Version, version_number};
use std::fmt;
use std::net::IpAddr;

/// v2 auth types keepalived knows: none, simple password, IPsec AH.
const AUTH_NONE: u8 = 0;
const AUTH_PASS: u8 = 1;
const AUTH_AH: u8 = 2;

/// What one instance expects of the adverts it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect<'a> {
    pub version: Version,
    /// Our configured advert interval in centiseconds (only v2 compares it, in whole seconds).
    pub interval_cs: u16,
    /// v2 auth type we send (0 none, 1 PASS); ignored for v3.
    pub auth_type: u8,
    /// v2 PASS: the 8 password bytes, NUL-padded; ignored otherwise.
    pub auth_data: [u8; 8],
    /// Our configured VIPs; each must appear in the advert.
    pub vips: &'a [IpAddr],
    /// Unicast mode: no TTL check, and the destination must not be multicast.
    pub unicast: bool,
}

/// Why a well-formed advert is not accepted by this instance. keepalived ignores the advert
/// in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Multicast advert whose TTL / hop limit is not 255.
    Ttl(u8),
    /// The advert's version differs from ours.
    Version(Version),
    /// v2 auth type outside {0, 1, 2}.
    AuthType(u8),
    /// v2 auth type valid but not ours.
    AuthTypeMismatch { got: u8, expected: u8 },
    /// v2 PASS: the password bytes differ.
    Password,
    /// v2: the interval in whole seconds differs (RFC 3768 §7.1). Both in centiseconds.
    Interval { ours_cs: u16, theirs_cs: u16 },
    /// The number of addresses differs from our VIP count.
    AddrCount { got: usize, expected: usize },
    /// One of our VIPs is missing from the advert.
    AddrList(IpAddr),
    /// Unicast instance received a multicast advert.
    Multicast,
    /// Multicast instance received a unicast advert.
    Unicast,
}

impl Reject {
    /// A short, stable, snake_case kind name, usable as a counter label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ttl(_) => "ttl",
            Self::Version(_) => "version",
            Self::AuthType(_) => "auth_type",
            Self::AuthTypeMismatch { .. } => "auth_type_mismatch",
            Self::Password => "password",
            Self::Interval { .. } => "interval",
            Self::AddrCount { .. } => "addr_count",
            Self::AddrList(_) => "addr_list",
            Self::Multicast => "multicast",
            Self::Unicast => "unicast",
        }
    }
}

impl fmt::Display for Reject {
    /// keepalived's log phrases, without the `(instance)` prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Ttl(ttl) => write!(f, "invalid TTL/HL. Received {ttl} and expect {}", vrrp::TTL),
            Self::Version(v) => {
                // Only two versions exist, so ours is the other one.
                let ours = if v == Version::V2 {
                    Version::V3
                } else {
                    Version::V2
                };
                write!(
                    f,
                    "wrong version. Received {} and expect {}",
                    version_number(v),
                    version_number(ours)
                )
            }
            Self::AuthType(t) => write!(f, "Invalid auth type: {t}"),
            Self::AuthTypeMismatch { got, expected } => {
                write!(f, "received a {got} auth, expecting {expected}!")
            }
            Self::Password => f.write_str("received an invalid passwd!"),
            Self::Interval { ours_cs, theirs_cs } => {
                write!(
                    f,
                    "advertisement interval mismatch mine={} sec rcv'd={} sec",
                    ours_cs / 100,
                    theirs_cs / 100
                )
            }
            Self::AddrCount { got, expected } => {
                write!(
                    f,
                    "received an unexpected ip number count {got}, expected {expected}!"
                )
            }
            Self::AddrList(a) => write!(
                f,
                "ip address associated with VRID not present in MASTER advert : {a}"
            ),
            Self::Multicast => f.write_str("Expected unicast packet but received multicast packet"),
            Self::Unicast => f.write_str("Expected multicast packet but received unicast packet"),
        }
    }
}

/// Checks `adv`, received with IPv4 TTL / IPv6 hop limit `ttl` at destination `dst`, against
/// `expect`. Pass 255 as `ttl` when the hop limit could not be read (keepalived then skips
/// the check).
pub fn validate(adv: &Advert, ttl: u8, dst: IpAddr, expect: &Expect) -> Result<(), Reject> {
    if !expect.unicast && ttl != vrrp::TTL {
        return Err(Reject::Ttl(ttl));
    }
    if adv.version != expect.version {
        return Err(Reject::Version(adv.version));
    }
    if adv.version == Version::V2 {
        if !matches!(adv.auth_type, AUTH_NONE | AUTH_PASS | AUTH_AH) {
            return Err(Reject::AuthType(adv.auth_type));
        }
        if adv.auth_type != expect.auth_type {
            return Err(Reject::AuthTypeMismatch {
                got: adv.auth_type,
                expected: expect.auth_type,
            });
        }
        if expect.auth_type == AUTH_PASS && !same_secret(&adv.auth_data, &expect.auth_data) {
            return Err(Reject::Password);
        }
        // v2 carries whole seconds; keepalived compares against its interval in seconds.
        if adv.interval_cs / 100 != expect.interval_cs / 100 {
            return Err(Reject::Interval {
                ours_cs: expect.interval_cs,
                theirs_cs: adv.interval_cs,
            });
        }
    }
    if adv.addrs.len() != expect.vips.len() {
        return Err(Reject::AddrCount {
            got: adv.addrs.len(),
            expected: expect.vips.len(),
        });
    }
    match (dst.is_multicast(), expect.unicast) {
        (true, true) => return Err(Reject::Multicast),
        (false, false) => return Err(Reject::Unicast),
        _ => {}
    }
    if let Some(missing) = expect.vips.iter().find(|v| !adv.addrs.contains(v)) {
        return Err(Reject::AddrList(*missing));
    }
    Ok(())
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
fn same_secret(a: &[u8; 8], b: &[u8; 8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vrrp::{GROUP_V4, GROUP_V6};
    use smallvec::smallvec;
    use std::net::Ipv4Addr;

    const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
    const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101));
    const GROUP: IpAddr = IpAddr::V4(GROUP_V4);
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
    const VIPS: &[IpAddr] = &[VIP];

    fn v2() -> Advert {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 100,
            interval_cs: 100,
            addrs: smallvec![VIP],
            auth_type: 1,
            auth_data: *b"OpenShif",
        }
    }
    fn expect_v2() -> Expect<'static> {
        Expect {
            version: Version::V2,
            interval_cs: 100,
            auth_type: 1,
            auth_data: *b"OpenShif",
            vips: VIPS,
            unicast: false,
        }
    }
    fn v3() -> Advert {
        Advert {
            version: Version::V3,
            auth_type: 0,
            auth_data: [0; 8],
            ..v2()
        }
    }
    fn expect_v3() -> Expect<'static> {
        Expect {
            version: Version::V3,
            auth_type: 0,
            auth_data: [0; 8],
            ..expect_v2()
        }
    }

    #[test]
    fn accepts_matching_adverts() {
        assert_eq!(validate(&v2(), 255, GROUP, &expect_v2()), Ok(()));
        assert_eq!(validate(&v3(), 255, GROUP, &expect_v3()), Ok(()));
        let none = Advert {
            auth_type: 0,
            auth_data: *b"ignored!",
            ..v2()
        };
        assert_eq!(
            validate(
                &none,
                255,
                GROUP,
                &Expect {
                    auth_type: 0,
                    ..expect_v2()
                }
            ),
            Ok(())
        );
        let v6vip: IpAddr = "2001:db8::100".parse().unwrap();
        let six = Advert {
            addrs: smallvec![v6vip],
            ..v3()
        };
        let vips = [v6vip];
        assert_eq!(
            validate(
                &six,
                255,
                IpAddr::V6(GROUP_V6),
                &Expect {
                    vips: &vips,
                    ..expect_v3()
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn ttl_checked_only_for_multicast() {
        assert_eq!(
            validate(&v2(), 254, GROUP, &expect_v2()),
            Err(Reject::Ttl(254))
        );
        assert_eq!(
            validate(
                &v2(),
                1,
                PEER,
                &Expect {
                    unicast: true,
                    ..expect_v2()
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn version_mismatch() {
        assert_eq!(
            validate(&v3(), 255, GROUP, &expect_v2()),
            Err(Reject::Version(Version::V3))
        );
        assert_eq!(
            validate(&v2(), 255, GROUP, &expect_v3()),
            Err(Reject::Version(Version::V2))
        );
    }

    #[test]
    fn auth_type_invalid_and_mismatch() {
        let bad = Advert {
            auth_type: 3,
            ..v2()
        };
        assert_eq!(
            validate(&bad, 255, GROUP, &expect_v2()),
            Err(Reject::AuthType(3))
        );
        let none = Advert {
            auth_type: 0,
            ..v2()
        };
        assert_eq!(
            validate(&none, 255, GROUP, &expect_v2()),
            Err(Reject::AuthTypeMismatch {
                got: 0,
                expected: 1
            })
        );
        let ah = Advert {
            auth_type: 2,
            ..v2()
        };
        assert_eq!(
            validate(&ah, 255, GROUP, &expect_v2()),
            Err(Reject::AuthTypeMismatch {
                got: 2,
                expected: 1
            })
        );
    }

    #[test]
    fn auth_ignored_for_v3() {
        let odd = Advert {
            auth_type: 9,
            auth_data: [1; 8],
            ..v3()
        };
        assert_eq!(validate(&odd, 255, GROUP, &expect_v3()), Ok(()));
    }

    #[test]
    fn password() {
        for i in 0..8 {
            let mut data = *b"OpenShif";
            data[i] ^= 1;
            let a = Advert {
                auth_data: data,
                ..v2()
            };
            assert_eq!(
                validate(&a, 255, GROUP, &expect_v2()),
                Err(Reject::Password)
            );
        }
    }

    #[test]
    fn v2_interval_in_whole_seconds() {
        let slow = Advert {
            interval_cs: 200,
            ..v2()
        };
        assert_eq!(
            validate(&slow, 255, GROUP, &expect_v2()),
            Err(Reject::Interval {
                ours_cs: 100,
                theirs_cs: 200
            })
        );
        // 150 cs configured is sent as 1 s; a 1 s advert matches it.
        assert_eq!(
            validate(
                &v2(),
                255,
                GROUP,
                &Expect {
                    interval_cs: 150,
                    ..expect_v2()
                }
            ),
            Ok(())
        );
        // v3 never checks the interval.
        let v3slow = Advert {
            interval_cs: 37,
            ..v3()
        };
        assert_eq!(validate(&v3slow, 255, GROUP, &expect_v3()), Ok(()));
    }

    #[test]
    fn address_count() {
        let two = Advert {
            addrs: smallvec![VIP, VIP2],
            ..v2()
        };
        assert_eq!(
            validate(&two, 255, GROUP, &expect_v2()),
            Err(Reject::AddrCount {
                got: 2,
                expected: 1
            })
        );
        let none = Advert {
            addrs: smallvec![],
            ..v3()
        };
        assert_eq!(
            validate(&none, 255, GROUP, &expect_v3()),
            Err(Reject::AddrCount {
                got: 0,
                expected: 1
            })
        );
    }

    #[test]
    fn multicast_iff_not_unicast() {
        let uni = Expect {
            unicast: true,
            ..expect_v2()
        };
        assert_eq!(validate(&v2(), 255, GROUP, &uni), Err(Reject::Multicast));
        // Any multicast destination counts, not only the VRRP group.
        let other = IpAddr::V4(Ipv4Addr::new(239, 1, 2, 3));
        assert_eq!(validate(&v2(), 255, other, &uni), Err(Reject::Multicast));
        assert_eq!(validate(&v2(), 255, other, &expect_v2()), Ok(()));
        assert_eq!(
            validate(&v2(), 255, PEER, &expect_v2()),
            Err(Reject::Unicast)
        );
        assert_eq!(validate(&v2(), 255, PEER, &uni), Ok(()));
        let six = "2001:db8::1".parse().unwrap();
        assert_eq!(
            validate(&v3(), 255, six, &expect_v3()),
            Err(Reject::Unicast)
        );
        assert_eq!(
            validate(
                &v3(),
                64,
                IpAddr::V6(GROUP_V6),
                &Expect {
                    unicast: true,
                    ..expect_v3()
                }
            ),
            Err(Reject::Multicast)
        );
    }

    #[test]
    fn address_list_any_order() {
        let vips = [VIP, VIP2];
        let e = Expect {
            vips: &vips,
            ..expect_v2()
        };
        let swapped = Advert {
            addrs: smallvec![VIP2, VIP],
            ..v2()
        };
        assert_eq!(validate(&swapped, 255, GROUP, &e), Ok(()));
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let wrong = Advert {
            addrs: smallvec![VIP, other],
            ..v2()
        };
        assert_eq!(
            validate(&wrong, 255, GROUP, &e),
            Err(Reject::AddrList(VIP2))
        );
        let dup = Advert {
            addrs: smallvec![VIP, VIP],
            ..v2()
        };
        assert_eq!(validate(&dup, 255, GROUP, &e), Err(Reject::AddrList(VIP2)));
    }

    #[test]
    fn first_failing_check_wins() {
        // Everything wrong: TTL is reported first.
        let awful = Advert {
            version: Version::V3,
            auth_type: 7,
            interval_cs: 500,
            addrs: smallvec![],
            ..v2()
        };
        assert_eq!(validate(&awful, 1, PEER, &expect_v2()), Err(Reject::Ttl(1)));
        assert_eq!(
            validate(&awful, 255, PEER, &expect_v2()),
            Err(Reject::Version(Version::V3))
        );
        let v2_awful = Advert {
            version: Version::V2,
            ..awful
        };
        assert_eq!(
            validate(&v2_awful, 255, PEER, &expect_v2()),
            Err(Reject::AuthType(7))
        );
        let pw = Advert {
            auth_type: 1,
            auth_data: [0; 8],
            ..v2_awful.clone()
        };
        assert_eq!(
            validate(&pw, 255, PEER, &expect_v2()),
            Err(Reject::Password)
        );
        let int = Advert {
            auth_data: *b"OpenShif",
            ..pw
        };
        assert_eq!(
            validate(&int, 255, PEER, &expect_v2()),
            Err(Reject::Interval {
                ours_cs: 100,
                theirs_cs: 500
            })
        );
        let cnt = Advert {
            interval_cs: 100,
            ..int
        };
        assert_eq!(
            validate(&cnt, 255, PEER, &expect_v2()),
            Err(Reject::AddrCount {
                got: 0,
                expected: 1
            })
        );
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let dst = Advert {
            addrs: smallvec![other],
            ..cnt
        };
        assert_eq!(
            validate(&dst, 255, PEER, &expect_v2()),
            Err(Reject::Unicast)
        );
        assert_eq!(
            validate(&dst, 255, GROUP, &expect_v2()),
            Err(Reject::AddrList(VIP))
        );
    }

    #[test]
    fn labels_and_messages() {
        let all = [
            (
                Reject::Ttl(254),
                "ttl",
                "invalid TTL/HL. Received 254 and expect 255",
            ),
            (
                Reject::Version(Version::V3),
                "version",
                "wrong version. Received 3 and expect 2",
            ),
            (
                Reject::Version(Version::V2),
                "version",
                "wrong version. Received 2 and expect 3",
            ),
            (Reject::AuthType(5), "auth_type", "Invalid auth type: 5"),
            (
                Reject::AuthTypeMismatch {
                    got: 0,
                    expected: 1,
                },
                "auth_type_mismatch",
                "received a 0 auth, expecting 1!",
            ),
            (Reject::Password, "password", "received an invalid passwd!"),
            (
                Reject::Interval {
                    ours_cs: 100,
                    theirs_cs: 200,
                },
                "interval",
                "advertisement interval mismatch mine=1 sec rcv'd=2 sec",
            ),
            (
                Reject::AddrCount {
                    got: 2,
                    expected: 1,
                },
                "addr_count",
                "received an unexpected ip number count 2, expected 1!",
            ),
            (
                Reject::AddrList(VIP),
                "addr_list",
                "ip address associated with VRID not present in MASTER advert : 192.0.2.100",
            ),
            (
                Reject::Multicast,
                "multicast",
                "Expected unicast packet but received multicast packet",
            ),
            (
                Reject::Unicast,
                "unicast",
                "Expected multicast packet but received unicast packet",
            ),
        ];
        for (r, label, msg) in all {
            assert_eq!(r.as_str(), label);
            assert_eq!(r.to_string(), msg);
        }
    }
}
