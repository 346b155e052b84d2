//! `OPENSHIFT_HA_VIRTUAL_IPS`: a list of addresses and ranges, parsed strictly.
//!
//! Today's script deletes characters it does not like and silently drops what it cannot
//! parse (a space-separated list or a `/2` suffix yields wrong VIPs). Here every item must
//! be an address or a range, or the whole list is rejected.
use super::ConfigError;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ANY_FORM: &str = "an IPv4 or IPv6 address, or a range such as 192.0.2.1-5 or 2001:db8::a-1f";
const ASCENDING: &str = "an ascending range such as 192.0.2.1-5";

/// Parses a VIP list: items separated by commas, spaces, tabs or newlines; order kept.
///
/// Forms: `a.b.c.d`, `a.b.c.d-e`, `a.b.c.d-a.b.c.e`, an IPv6 address, `x::a-b` (last group,
/// hex, any case) and `x::a-x::b`. Errors name `var` and the bad item.
pub fn parse_vips(var: &'static str, text: &str) -> Result<Vec<IpAddr>, ConfigError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for item in split_list(text) {
        let addrs = parse_item(var, item)?;
        // Checked per item, so a list of huge IPv6 ranges fails fast instead of expanding them all.
        if out.len() + addrs.len() > MAX_VIPS {
            return Err(ConfigError::new(
                var,
                item,
                format!("at most {MAX_VIPS} addresses in all (255 instances of 255 VIPs)"),
            ));
        }
        for addr in addrs {
            if !seen.insert(addr) {
                return Err(ConfigError::new(
                    var,
                    item,
                    format!("each address once, but {addr} is already listed"),
                ));
            }
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err(ConfigError::new(
            var,
            text,
            "at least one address, such as 192.0.2.10 or 192.0.2.10-12",
        ));
    }
    Ok(out)
}

/// The most VIPs a plan can hold: 255 instances × 255 VIPs.
pub const MAX_VIPS: usize = 255 * 255;

/// Splits on commas and ASCII whitespace, skipping empty items.
pub(crate) fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|s| !s.is_empty())
}

/// Parses one address strictly (no leading-zero octets, no IPv4-mapped IPv6); used for
/// VIPs, peers and source addresses alike.
pub(crate) fn parse_addr(var: &'static str, item: &str) -> Result<IpAddr, ConfigError> {
    if item.contains('/') {
        return Err(ConfigError::new(
            var,
            item,
            "a plain address without a /prefix (addresses are used as /32 or /128)",
        ));
    }
    if item.contains(':') {
        let a: Ipv6Addr = item
            .parse()
            .map_err(|_| ConfigError::new(var, item, "an IPv6 address such as 2001:db8::1"))?;
        if a.to_ipv4_mapped().is_some() || item.contains('.') {
            return Err(ConfigError::new(
                var,
                item,
                "an IPv6 address without an embedded IPv4 part (write IPv4 addresses as a.b.c.d)",
            ));
        }
        Ok(IpAddr::V6(a))
    } else if item.contains('.') {
        parse_ipv4(var, item).map(IpAddr::V4)
    } else {
        Err(ConfigError::new(var, item, "an IPv4 or IPv6 address"))
    }
}

/// Dotted quad with decimal octets 0..=255 and no leading zeros (`010` is 8 to some
/// parsers and 10 to others, and glibc's inet_pton rejects it).
fn parse_ipv4(var: &'static str, item: &str) -> Result<Ipv4Addr, ConfigError> {
    let fields: Vec<&str> = item.split('.').collect();
    if fields.len() != 4 {
        return Err(ConfigError::new(var, item, "an IPv4 address a.b.c.d"));
    }
    let mut octets = [0u8; 4];
    for (slot, field) in octets.iter_mut().zip(&fields) {
        *slot = parse_octet(field).map_err(|why| ConfigError::new(var, item, why))?;
    }
    Ok(Ipv4Addr::from(octets))
}

/// One decimal octet; the error says what is wrong with it.
fn parse_octet(field: &str) -> Result<u8, &'static str> {
    if field.is_empty() || field.len() > 3 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err("an IPv4 address a.b.c.d with decimal octets 0..255");
    }
    if field.len() > 1 && field.starts_with('0') {
        return Err("octets without leading zeros (010 is ambiguous: octal 8 or decimal 10)");
    }
    field
        .parse::<u16>()
        .ok()
        .and_then(|v| u8::try_from(v).ok())
        .ok_or("octets between 0 and 255")
}

/// One list item: a single address or a range.
fn parse_item(var: &'static str, item: &str) -> Result<Vec<IpAddr>, ConfigError> {
    let bad = |why: &str| ConfigError::new(var, item, why);
    if item.contains('/') {
        return Err(bad(
            "a plain address or range without a /prefix (VIPs are added as /32 or /128)",
        ));
    }
    let Some((start, end)) = item.split_once('-') else {
        let addr = parse_addr(var, item).map_err(|e| retag(e, item))?;
        return usable(var, item, addr).map(|a| vec![a]);
    };
    if end.contains('-') || start.is_empty() || end.is_empty() {
        return Err(bad(ANY_FORM));
    }
    let addrs = match parse_addr(var, start).map_err(|e| retag(e, item))? {
        IpAddr::V4(s) => v4_range(var, item, s, end)?,
        IpAddr::V6(s) => v6_range(var, item, s, end)?,
    };
    addrs.into_iter().map(|a| usable(var, item, a)).collect()
}

/// Errors from a part of an item quote the whole item.
fn retag(mut e: ConfigError, item: &str) -> ConfigError {
    if e.expected == "an IPv4 or IPv6 address" {
        e.expected = ANY_FORM.to_string();
    }
    e.item = item.to_string();
    e
}

/// `a.b.c.d-e` or `a.b.c.d-a.b.c.e`.
fn v4_range(
    var: &'static str,
    item: &str,
    start: Ipv4Addr,
    end: &str,
) -> Result<Vec<IpAddr>, ConfigError> {
    let s = start.octets();
    let last = if end.contains('.') {
        let e = parse_ipv4(var, end).map_err(|e| retag(e, item))?.octets();
        if e[..3] != s[..3] {
            return Err(ConfigError::new(
                var,
                item,
                "a range that varies only the last octet, such as 192.0.2.1-192.0.2.5",
            ));
        }
        e[3]
    } else {
        parse_octet(end).map_err(|_| {
            ConfigError::new(
                var,
                item,
                "a range end between 0 and 255 without leading zeros, such as 192.0.2.1-5",
            )
        })?
    };
    if last < s[3] {
        return Err(ConfigError::new(var, item, ASCENDING));
    }
    Ok((s[3]..=last)
        .map(|o| IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], o)))
        .collect())
}

/// `x::a-b` (b = last group in hex) or `x::a-x::b`.
fn v6_range(
    var: &'static str,
    item: &str,
    start: Ipv6Addr,
    end: &str,
) -> Result<Vec<IpAddr>, ConfigError> {
    let s = start.segments();
    let last = if end.contains(':') {
        let e = match parse_addr(var, end).map_err(|e| retag(e, item))? {
            IpAddr::V6(e) => e.segments(),
            IpAddr::V4(_) => return Err(ConfigError::new(var, item, ANY_FORM)),
        };
        if e[..7] != s[..7] {
            return Err(ConfigError::new(
                var,
                item,
                "a range that varies only the last group, such as 2001:db8::1-2001:db8::1f",
            ));
        }
        e[7]
    } else {
        if end.is_empty() || !end.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::new(
                var,
                item,
                "a range end in hex, such as 2001:db8::a-1f",
            ));
        }
        u16::from_str_radix(end, 16).map_err(|_| {
            ConfigError::new(
                var,
                item,
                "a range end of at most ffff (the last group of the address)",
            )
        })?
    };
    if last < s[7] {
        return Err(ConfigError::new(
            var,
            item,
            "an ascending range such as 2001:db8::a-1f",
        ));
    }
    Ok((s[7]..=last)
        .map(|g| {
            let mut seg = s;
            seg[7] = g;
            IpAddr::V6(Ipv6Addr::from(seg))
        })
        .collect())
}

/// Rejects addresses that can never be a VIP.
fn usable(var: &'static str, item: &str, addr: IpAddr) -> Result<IpAddr, ConfigError> {
    let broadcast = matches!(addr, IpAddr::V4(a) if a.is_broadcast());
    if addr.is_unspecified() || addr.is_multicast() || broadcast {
        return Err(ConfigError::new(
            var,
            item,
            format!("unicast addresses only, but {addr} is unspecified, multicast or broadcast"),
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_lists_fail_fast_naming_the_limit() {
        let text: Vec<String> = (1..=100)
            .map(|i| format!("2001:db8:{i:x}::0-ffff"))
            .collect();
        let t0 = std::time::Instant::now();
        let e = parse_vips("V", &text.join(",")).unwrap_err();
        assert!(e.expected.contains("65025"), "{e}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    }

    const V: &str = "OPENSHIFT_HA_VIRTUAL_IPS";

    fn ok(text: &str) -> Vec<String> {
        match parse_vips(V, text) {
            Ok(v) => v.iter().map(|a| a.to_string()).collect(),
            Err(e) => panic!("{text:?} rejected: {e}"),
        }
    }

    fn err(text: &str) -> ConfigError {
        match parse_vips(V, text) {
            Ok(v) => panic!("{text:?} accepted as {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn good_inputs() {
        let table: &[(&str, &[&str])] = &[
            ("192.0.2.1", &["192.0.2.1"]),
            ("192.0.2.1-3", &["192.0.2.1", "192.0.2.2", "192.0.2.3"]),
            (
                "192.0.2.1-192.0.2.3",
                &["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            ),
            ("192.0.2.200-200", &["192.0.2.200"]),
            (
                "192.0.2.250-255",
                &[
                    "192.0.2.250",
                    "192.0.2.251",
                    "192.0.2.252",
                    "192.0.2.253",
                    "192.0.2.254",
                    "192.0.2.255",
                ],
            ),
            // Space-separated lists work now (today they are glued together).
            ("192.0.2.1 192.0.2.2", &["192.0.2.1", "192.0.2.2"]),
            (
                "192.0.2.42,198.51.100.20-22",
                &[
                    "192.0.2.42",
                    "198.51.100.20",
                    "198.51.100.21",
                    "198.51.100.22",
                ],
            ),
            // The script's own doc examples, now meaning what they say.
            (
                "192.0.2.100-102 192.0.2.200-200 192.0.2.42",
                &[
                    "192.0.2.100",
                    "192.0.2.101",
                    "192.0.2.102",
                    "192.0.2.200",
                    "192.0.2.42",
                ],
            ),
            (
                "192.0.2.1, 192.0.2.2,192.0.2.3-4  192.0.2.9",
                &[
                    "192.0.2.1",
                    "192.0.2.2",
                    "192.0.2.3",
                    "192.0.2.4",
                    "192.0.2.9",
                ],
            ),
            (
                "192.0.2.1\n192.0.2.2\t192.0.2.3\r\n",
                &["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            ),
            ("  ,192.0.2.7,, ", &["192.0.2.7"]),
            ("2001:db8::1", &["2001:db8::1"]),
            (
                "2001:DB8:1ABC::1F39-1F3B",
                &[
                    "2001:db8:1abc::1f39",
                    "2001:db8:1abc::1f3a",
                    "2001:db8:1abc::1f3b",
                ],
            ),
            // Lowercase IPv6 ranges work (today: bc syntax error, nothing).
            (
                "2001:db8:1abc::1f39-1f3b",
                &[
                    "2001:db8:1abc::1f39",
                    "2001:db8:1abc::1f3a",
                    "2001:db8:1abc::1f3b",
                ],
            ),
            ("2001:db8::fffe-FFFF", &["2001:db8::fffe", "2001:db8::ffff"]),
            ("2001:db8::a-2001:db8::b", &["2001:db8::a", "2001:db8::b"]),
            // Order is kept, not sorted.
            (
                "192.0.2.9 192.0.2.1 2001:db8::5",
                &["192.0.2.9", "192.0.2.1", "2001:db8::5"],
            ),
        ];
        for (input, want) in table {
            assert_eq!(ok(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn bad_inputs() {
        let table: &[(&str, &str)] = &[
            ("", "at least one"),
            (" , \n", "at least one"),
            ("192.0.2.5-3", "ascending"),
            ("192.0.2.250-192.0.3.2", "last octet"),
            ("192.0.2.250-260", "between 0 and 255"),
            ("192.0.2.1-", "range such as"),
            ("192.0.2.1-x", "between 0 and 255"),
            ("192.0.2.1-2-3", "range such as"),
            ("256.1.1.1", "between 0 and 255"),
            ("garbage", "range such as"),
            ("abc", "range such as"),
            ("192.0.2.1;192.0.2.2", "a.b.c.d"),
            ("192.0.2.5/24", "/prefix"),
            ("192.0.2.5/2", "/prefix"),
            ("2001:db8::1/64", "/prefix"),
            ("010.001.001.001", "leading zeros"),
            ("192.0.2.01-03", "leading zeros"),
            ("192.0.2.1-05", "leading zeros"),
            ("2001:db8::ffff-10001", "at most ffff"),
            ("2001:db8::1f-1a", "ascending"),
            ("2001:db8::1-g", "hex"),
            ("2001:db8::1-2001:db9::2", "last group"),
            ("::ffff:192.0.2.1", "embedded IPv4"),
            ("fe80::1%eth0", "IPv6 address"),
            ("192.0.2.1 192.0.2.1", "already listed"),
            ("192.0.2.1-3,192.0.2.3", "already listed"),
            ("2001:db8::A 2001:db8::a", "already listed"),
            ("0.0.0.0", "unicast"),
            ("224.0.0.18", "unicast"),
            ("255.255.255.255", "unicast"),
            ("ff02::12", "unicast"),
            ("192.0.2", "a.b.c.d"),
        ];
        for (input, want) in table {
            let e = err(input);
            assert_eq!(e.var, V);
            assert!(e.expected.contains(want), "input {input:?}: got {e}");
            assert!(e.to_string().starts_with(V), "{e}");
        }
    }

    #[test]
    fn error_quotes_the_bad_item_not_the_whole_list() {
        let e = err("192.0.2.1, 192.0.2.5-3, 192.0.2.9");
        assert_eq!(e.item, "192.0.2.5-3");
        assert_eq!(
            e.to_string(),
            "OPENSHIFT_HA_VIRTUAL_IPS: \"192.0.2.5-3\": expected an ascending range such as 192.0.2.1-5"
        );
    }

    #[test]
    fn a_full_ipv6_group_range_is_more_than_a_plan_can_hold() {
        // 65536 addresses > 255 × 255: refused while parsing; finer limits are the plan's.
        assert!(parse_vips(V, "2001:db8::0-ffff").is_err());
        assert_eq!(
            parse_vips(V, "2001:db8::0-fe00").map(|v| v.len()),
            Ok(65025)
        );
    }
}
