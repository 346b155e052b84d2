//! Fuzz entry points, one per target. Each takes arbitrary bytes, feeds them to the daemon's
//! decoders and asserts properties that must hold for *any* input (a panic is a finding).
//! The cargo-fuzz targets call these, and tests/fuzz_corpus.rs includes this very file
//! (`#[path]`) to replay the committed corpus and seeded random inputs in `cargo test`.
use ipfailover::config::{HostFacts, Plan, Settings, settings};
use ipfailover::daemon::receive;
use ipfailover::daemon::transmit::Speak;
use ipfailover::sys::netlink::message as nl;
use ipfailover::vrrp::validate::validate;
use ipfailover::wire::vrrp::{Advert, GROUP_V4, GROUP_V6, Version};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
const DST4: IpAddr = IpAddr::V4(GROUP_V4);
const UNICAST4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
const DST6: IpAddr = IpAddr::V6(GROUP_V6);
const VIP4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100));

/// VRRP receive path: the bytes as a whole IPv4 datagram (what the raw socket hands the
/// daemon) and as a bare advert for IPv4, IPv6 and mismatched address pairs.
pub fn vrrp_decode(data: &[u8]) {
    match receive::decode(data) {
        Ok((ip, adv)) => {
            let (src, dst) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
            assert_eq!(
                usize::from(ip.total_len),
                data.len(),
                "decode accepted a bad total length"
            );
            round_trip(&adv, src, dst);
            check_validate(&adv, ip.ttl, dst);
        }
        Err(e) => assert!(!e.as_str().is_empty() && !e.to_string().is_empty()),
    }
    for (src, dst) in [(SRC4, DST4), (SRC4, UNICAST4), (SRC6, DST6), (SRC4, DST6)] {
        match Advert::parse(data, src, dst) {
            Ok(adv) => {
                assert_eq!(
                    adv.buffer_len(),
                    data.len(),
                    "parse accepted a length that emit would not write"
                );
                round_trip(&adv, src, dst);
                check_validate(&adv, 255, dst);
            }
            Err(e) => assert!(!e.as_str().is_empty() && !e.to_string().is_empty()),
        }
    }
}

/// What `parse` accepted, `emit` must write back and `parse` must read as the same advert.
fn round_trip(adv: &Advert, src: IpAddr, dst: IpAddr) {
    let mut out = vec![0u8; adv.buffer_len()];
    assert_eq!(
        adv.emit(src, dst, &mut out),
        out.len(),
        "emit refused a decoded advert: {adv:?}"
    );
    assert_eq!(
        Advert::parse(&out, src, dst).as_ref(),
        Ok(adv),
        "emit/parse round trip"
    );
}

/// Validation never panics, and an accepted advert really carries every expected VIP.
fn check_validate(adv: &Advert, ttl: u8, dst: IpAddr) {
    let own: Vec<IpAddr> = adv.addrs.iter().copied().collect();
    let lists: [&[IpAddr]; 4] = [&[VIP4], &[VIP6], &[VIP4, VIP6], &own];
    for vips in lists {
        for unicast in [false, true] {
            for password in [*b"OpenShif", adv.auth_data] {
                let speak = Speak {
                    ipv4_version: Version::V2,
                    interval_cs: 100,
                    password,
                };
                let expect = receive::expect(vips, &speak, unicast);
                match validate(adv, ttl, dst, &expect) {
                    Ok(()) => {
                        assert_eq!(adv.addrs.len(), vips.len());
                        assert!(vips.iter().all(|v| adv.addrs.contains(v)));
                        assert!(
                            unicast || ttl == 255,
                            "multicast advert with TTL {ttl} accepted"
                        );
                    }
                    Err(r) => assert!(!r.as_str().is_empty() && !r.to_string().is_empty()),
                }
            }
        }
    }
}

/// rtnetlink replies: every message of a datagram through every payload parser, and a
/// request built from the input bytes must parse back to what was put in.
pub fn netlink_parse(data: &[u8]) {
    for msg in nl::messages(data) {
        let Ok(m) = msg else { break };
        assert!(m.payload.len() <= data.len());
        if let Ok(ack) = nl::parse_ack(&m) {
            assert!(ack.errno >= 0);
        }
        assert!(nl::parse_done(&m) >= 0);
        let _ = nl::parse_link(m.payload);
        let _ = nl::parse_addr(m.payload);
        let _ = nl::parse_route(m.payload);
        for (_, value) in nl::attrs(m.payload) {
            assert!(value.len() <= m.payload.len());
        }
    }
    for (_, value) in nl::attrs(data) {
        assert!(value.len() <= data.len());
    }
    request_round_trip(data);
}

fn request_round_trip(data: &[u8]) {
    let Some(head) = data.get(..21) else { return };
    let index = u32::from_ne_bytes([head[1], head[2], head[3], head[4]]);
    let addr = if head[0] & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(head[5], head[6], head[7], head[8]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&head[5..21]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let kind = if head[0] & 2 == 0 {
        nl::RTM_NEWADDR
    } else {
        nl::RTM_DELADDR
    };
    let mut buf = Vec::new();
    nl::push_addr(&mut buf, kind, index, index, addr);
    let msgs: Vec<_> = nl::messages(&buf).collect();
    assert_eq!(msgs.len(), 1, "one request, one message");
    let m = msgs[0].expect("our own request parses");
    assert_eq!((m.kind, m.seq), (kind, index));
    let got = nl::parse_addr(m.payload).expect("our own address request parses");
    assert_eq!((got.index, got.addr), (index, addr));
}

/// The variables the env target fills, in order: the n-th NUL-separated part of the input is
/// the n-th variable's value (an empty part counts as unset, as in the daemon).
pub const ENV_NAMES: [&str; 24] = [
    settings::VIRTUAL_IPS,
    settings::VIP_GROUPS,
    settings::VRRP_ID_OFFSET,
    settings::EXCLUDED_VRRP_IDS,
    settings::REPLICA_COUNT,
    settings::PREEMPTION,
    settings::UNICAST_PEERS,
    settings::USE_UNICAST,
    settings::CONFIG_NAME,
    settings::MONITOR_PORT,
    settings::CHECK_INTERVAL,
    settings::CHECK_SCRIPT,
    settings::NOTIFY_SCRIPT,
    settings::NETWORK_INTERFACE,
    settings::EXCLUDED_VRRP_IDS_ALIAS,
    settings::NFTABLES_RULE,
    settings::IPTABLES_CHAIN,
    settings::MULTICAST_SOURCE,
    settings::UNICAST_SOURCE,
    settings::KEEPALIVED_CONF,
    settings::STATUS_FILE,
    "OPENSHIFT_HA_SELECTOR",
    "KEEPALIVED_OPTIONS",
    "OPENSHIFT_HA_METRICS_PORT",
];

/// The environment `env_parse` derives from `data`.
pub fn env_from(data: &[u8]) -> BTreeMap<String, String> {
    ENV_NAMES
        .iter()
        .zip(data.split(|b| *b == 0))
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// Environment → settings → plan → rendered text, with the contract's plan invariants.
pub fn env_parse(data: &[u8]) {
    let env = env_from(data);
    let s = match Settings::from_env(&env) {
        Ok(s) => s,
        Err(e) => return one_line_error(&e.to_string()),
    };
    // The last input byte picks the node address (it drives the ipslot priority formula).
    let node = data
        .last()
        .map(|&b| Ipv4Addr::new(192, 0, 2, b))
        .filter(|_| !data.len().is_multiple_of(7));
    let host = HostFacts {
        interface: s.interface.clone().unwrap_or_else(|| "eth0".to_string()),
        node_ipv4: node,
        node_ipv6: None,
        local_addrs: node.map(IpAddr::V4).into_iter().collect(),
    };
    let plan = match Plan::build(&s, &host) {
        Ok(p) => p,
        Err(e) => return one_line_error(&e.to_string()),
    };
    assert!(!plan.instances.is_empty() && plan.instances.len() <= 255);
    let mut vrids = BTreeSet::new();
    let mut vips = 0;
    for inst in &plan.instances {
        assert!(inst.vrid >= 1, "VRID 0 in {}", inst.name);
        assert!(vrids.insert(inst.vrid), "VRID {} used twice", inst.vrid);
        assert!(
            (1..=254).contains(&inst.priority),
            "priority {} in {}",
            inst.priority,
            inst.name
        );
        assert!(!inst.vips.is_empty() && inst.vips.len() <= 255);
        let v4 = inst.vips[0].is_ipv4();
        assert!(
            inst.vips.iter().all(|a| a.is_ipv4() == v4),
            "mixed families in {}",
            inst.name
        );
        assert!(
            !s.excluded_vrids.contains(&inst.vrid),
            "excluded VRID {} used",
            inst.vrid
        );
        vips += inst.vips.len();
    }
    assert_eq!(vips, s.vips.len(), "every VIP in exactly one instance");
    assert!(
        plan.unicast_peers
            .iter()
            .all(|p| !host.local_addrs.contains(p))
    );
    assert!(!plan.render_summary().is_empty());
    assert!(!plan.render_keepalived_conf().is_empty());
}

/// Contract §1: every configuration error is one line.
fn one_line_error(text: &str) {
    assert!(
        !text.is_empty() && !text.contains('\n'),
        "error not on one line: {text:?}"
    );
}
