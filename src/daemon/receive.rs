//! The receive path: bytes from the raw socket → a validated advert for one instance, or a
//! counted drop. A hostile or malformed packet costs a counter increment and, at most a few
//! times a second, a log line; never a panic and never a state change.
use super::transmit::{Speak, advert};
use crate::log::RateLimit;
use crate::vrrp::validate::{Expect, Reject};
use crate::wire::ipv4::{self, Ipv4Header};
use crate::wire::vrrp::{Advert, DecodeError};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Log lines about dropped packets allowed per second; the rest are counted.
const DROP_LOG_BURST: u32 = 5;

/// Received packets by outcome (`accepted`, or the drop kind).
#[derive(Debug, Default)]
pub struct Counters {
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Total of all counts: tells the status writer whether anything moved.
    pub total: u64,
}

impl Counters {
    pub fn count(&mut self, kind: &'static str) {
        *self.by_kind.entry(kind).or_insert(0) += 1;
        self.total += 1;
    }
}

/// Decodes an IPv4 datagram carrying VRRP: IP header, total length, then the advert.
pub fn decode(pkt: &[u8]) -> Result<(Ipv4Header, Advert), DecodeError> {
    let (ip, payload) = ipv4::parse(pkt)?;
    ip.check_total_len(pkt.len())?;
    let adv = Advert::parse(payload, IpAddr::V4(ip.src), IpAddr::V4(ip.dst))?;
    Ok((ip, adv))
}

/// One collision warning per source and VRID per this long.
const COLLISION_WARN_EVERY: Duration = Duration::from_secs(60);
/// Sources remembered for collision warnings; beyond this the table is pruned.
const COLLISION_TABLE: usize = 1024;

/// Counts and (rate-limited) logs what is dropped.
pub struct Drops {
    pub counters: Counters,
    limit: RateLimit,
    /// (source, VRID) → when we last warned about a collision.
    warned: BTreeMap<(IpAddr, u8), Instant>,
}

impl Default for Drops {
    fn default() -> Self {
        Drops {
            counters: Counters::default(),
            limit: RateLimit::new(DROP_LOG_BURST, Duration::from_secs(1)),
            warned: BTreeMap::new(),
        }
    }
}

/// Checks that fail when a *different* VRRP cluster uses our VRID (another ipfailover
/// deployment, the on-prem API/Ingress keepalived): wrong password, interval or VIP set.
pub fn is_collision(r: &Reject) -> bool {
    matches!(
        r,
        Reject::Password
            | Reject::AuthType(_)
            | Reject::AuthTypeMismatch { .. }
            | Reject::Interval { .. }
            | Reject::AddrCount { .. }
            | Reject::AddrList(_)
            | Reject::Version(_)
    )
}

impl Drops {
    /// A packet that is not even a well-formed advert.
    pub fn malformed(&mut self, from: Option<IpAddr>, e: &DecodeError) {
        self.counters.count(e.as_str());
        self.log(|| match from {
            Some(src) => format!("VRRP packet from {src} dropped: {e}"),
            None => format!("VRRP packet dropped: {e}"),
        });
    }

    /// A well-formed advert for our VRID that instance `name` does not accept.
    pub fn rejected(&mut self, name: &str, vrid: u8, from: IpAddr, r: &Reject, now: Instant) {
        self.counters.count(r.as_str());
        if is_collision(r) {
            self.counters.count("vrid_collision");
            if self.should_warn(from, vrid, now) {
                crate::log::line(&format!(
                    "({name}) WARNING - VRID {vrid} collision: adverts from {from} fail our checks ({r}); \
                     another VRRP cluster on this network uses VRID {vrid} - move ours with \
                     OPENSHIFT_HA_VRRP_ID_OFFSET or HA_EXCLUDED_VRRP_IDS"
                ));
            }
            return;
        }
        self.log(|| format!("({name}) {r} (from {from})"));
    }

    fn should_warn(&mut self, from: IpAddr, vrid: u8, now: Instant) -> bool {
        if self
            .warned
            .get(&(from, vrid))
            .is_some_and(|t| now.duration_since(*t) < COLLISION_WARN_EVERY)
        {
            return false;
        }
        if self.warned.len() >= COLLISION_TABLE {
            self.warned
                .retain(|_, t| now.duration_since(*t) < COLLISION_WARN_EVERY);
        }
        if self.warned.len() < COLLISION_TABLE {
            self.warned.insert((from, vrid), now);
        }
        true
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(suppressed) = self.limit.allow(Instant::now()) {
            let mut l = line();
            if suppressed > 0 {
                l.push_str(&format!(" ({suppressed} similar lines suppressed)"));
            }
            crate::log::line(&l);
        }
    }
}

/// What an instance with these VIPs expects of an advert: what it sends itself.
pub fn expect<'a>(vips: &'a [IpAddr], speak: &Speak, unicast: bool) -> Expect<'a> {
    let ours = advert(0, 0, vips, speak);
    Expect {
        version: ours.version,
        interval_cs: ours.interval_cs,
        auth_type: ours.auth_type,
        auth_data: ours.auth_data,
        vips,
        unicast,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::validate::validate;
    use crate::wire::vrrp::Version;
    use std::net::Ipv4Addr;

    fn datagram(adv: &Advert, ttl: u8) -> Vec<u8> {
        let src = Ipv4Addr::new(192, 0, 2, 12);
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let mut buf = vec![0u8; 20 + adv.buffer_len()];
        let mut h = Ipv4Header::for_vrrp(src, dst, 1, adv.buffer_len());
        h.ttl = ttl;
        h.emit(&mut buf);
        adv.emit(IpAddr::V4(src), IpAddr::V4(dst), &mut buf[20..]);
        buf
    }

    const SPEAK: Speak = Speak {
        ipv4_version: Version::V2,
        interval_cs: 100,
        password: *b"OpenShif",
    };

    fn accept(adv: &Advert, ip: &Ipv4Header, expect: &Expect) -> Result<(), Reject> {
        validate(adv, ip.ttl, IpAddr::V4(ip.dst), expect)
    }

    #[test]
    fn our_own_advert_decodes_and_is_accepted() {
        let vips = ["192.0.2.201".parse().expect("vip")];
        let adv = advert(11, 100, &vips, &SPEAK);
        let (ip, got) = decode(&datagram(&adv, 255)).expect("decodes");
        assert_eq!(got, adv);
        assert_eq!(accept(&got, &ip, &expect(&vips, &SPEAK, false)), Ok(()));
        assert_eq!(
            accept(
                &got,
                &ip,
                &expect(
                    &vips,
                    &Speak {
                        password: *b"OpenShiX",
                        ..SPEAK
                    },
                    false
                )
            ),
            Err(Reject::Password)
        );
    }

    #[test]
    fn ttl_254_is_rejected_in_multicast_only() {
        let vips = ["192.0.2.201".parse().expect("vip")];
        let adv = advert(11, 100, &vips, &SPEAK);
        let (ip, got) = decode(&datagram(&adv, 254)).expect("decodes");
        assert_eq!(
            accept(&got, &ip, &expect(&vips, &SPEAK, false)),
            Err(Reject::Ttl(254))
        );
    }

    #[test]
    fn collision_warns_once_per_source_and_vrid_per_minute() {
        let mut d = Drops::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.50".parse().expect("addr");
        let b: IpAddr = "192.0.2.51".parse().expect("addr");
        assert!(d.should_warn(a, 11, t0));
        assert!(!d.should_warn(a, 11, t0 + Duration::from_secs(59)));
        assert!(d.should_warn(a, 12, t0), "another VRID");
        assert!(d.should_warn(b, 11, t0), "another source");
        assert!(d.should_warn(a, 11, t0 + Duration::from_secs(60)));
        d.rejected("v", 11, a, &Reject::Password, t0);
        d.rejected("v", 11, a, &Reject::Ttl(1), t0);
        assert_eq!(d.counters.by_kind.get("vrid_collision"), Some(&1));
        assert_eq!(d.counters.by_kind.get("password"), Some(&1));
        assert!(!is_collision(&Reject::Ttl(254)) && !is_collision(&Reject::Multicast));
    }

    #[test]
    fn truncated_datagrams_are_errors_not_panics() {
        let vips = ["192.0.2.201".parse().expect("vip")];
        let pkt = datagram(&advert(11, 100, &vips, &SPEAK), 255);
        for n in 0..pkt.len() {
            assert!(decode(&pkt[..n]).is_err(), "prefix {n}");
        }
    }
}
