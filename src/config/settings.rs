//! Every `OPENSHIFT_HA_*` variable, parsed strictly with today's implemented defaults.
//!
//! Pure: the caller passes the environment as a map. An empty (or blank) value counts as
//! unset. Errors name the variable, the bad item and what is expected.
use super::vips::{parse_addr, parse_vips, split_list};
use super::{ConfigError, Preemption, Script};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

/// `OPENSHIFT_HA_CONFIG_NAME`: instance names, router_id and VRRPv2 password.
pub const CONFIG_NAME: &str = "OPENSHIFT_HA_CONFIG_NAME";
/// `OPENSHIFT_HA_VIRTUAL_IPS`: the VIP list (required).
pub const VIRTUAL_IPS: &str = "OPENSHIFT_HA_VIRTUAL_IPS";
/// `OPENSHIFT_HA_VIP_GROUPS`: number of instances to spread the VIPs over.
pub const VIP_GROUPS: &str = "OPENSHIFT_HA_VIP_GROUPS";
/// `OPENSHIFT_HA_NETWORK_INTERFACE`: VRRP and VIP interface.
pub const NETWORK_INTERFACE: &str = "OPENSHIFT_HA_NETWORK_INTERFACE";
/// `OPENSHIFT_HA_MONITOR_PORT`: built-in TCP check port, 0 disables.
pub const MONITOR_PORT: &str = "OPENSHIFT_HA_MONITOR_PORT";
/// `OPENSHIFT_HA_CHECK_SCRIPT`: replaces the built-in check.
pub const CHECK_SCRIPT: &str = "OPENSHIFT_HA_CHECK_SCRIPT";
/// `OPENSHIFT_HA_CHECK_INTERVAL`: check period and timeout, seconds.
pub const CHECK_INTERVAL: &str = "OPENSHIFT_HA_CHECK_INTERVAL";
/// `OPENSHIFT_HA_NOTIFY_SCRIPT`: run on every state change.
pub const NOTIFY_SCRIPT: &str = "OPENSHIFT_HA_NOTIFY_SCRIPT";
/// `OPENSHIFT_HA_PREEMPTION`: `nopreempt`, `preempt` or `preempt_delay N`.
pub const PREEMPTION: &str = "OPENSHIFT_HA_PREEMPTION";
/// `OPENSHIFT_HA_REPLICA_COUNT`: spreads master-type instances over nodes.
pub const REPLICA_COUNT: &str = "OPENSHIFT_HA_REPLICA_COUNT";
/// `OPENSHIFT_HA_VRRP_ID_OFFSET`: VRID = offset + instance index.
pub const VRRP_ID_OFFSET: &str = "OPENSHIFT_HA_VRRP_ID_OFFSET";
/// `HA_EXCLUDED_VRRP_IDS`: VRIDs to skip (today's unprefixed name).
pub const EXCLUDED_VRRP_IDS: &str = "HA_EXCLUDED_VRRP_IDS";
/// `OPENSHIFT_HA_EXCLUDED_VRRP_IDS`: alias of [`EXCLUDED_VRRP_IDS`]; both are read.
pub const EXCLUDED_VRRP_IDS_ALIAS: &str = "OPENSHIFT_HA_EXCLUDED_VRRP_IDS";
/// `OPENSHIFT_HA_UNICAST_PEERS`: peers switch to unicast mode.
pub const UNICAST_PEERS: &str = "OPENSHIFT_HA_UNICAST_PEERS";
/// `OPENSHIFT_HA_USE_UNICAST`: `true` requires peers.
pub const USE_UNICAST: &str = "OPENSHIFT_HA_USE_UNICAST";
/// `OPENSHIFT_HA_NFTABLES_RULE`: non-empty opens the firewall for VRRP.
pub const NFTABLES_RULE: &str = "OPENSHIFT_HA_NFTABLES_RULE";
/// `OPENSHIFT_HA_IPTABLES_CHAIN`: deprecated alias of [`NFTABLES_RULE`].
pub const IPTABLES_CHAIN: &str = "OPENSHIFT_HA_IPTABLES_CHAIN";
/// `MULTICAST_SOURCE_IPADDRESS`: source address of multicast adverts.
pub const MULTICAST_SOURCE: &str = "MULTICAST_SOURCE_IPADDRESS";
/// `UNICAST_SOURCE_IPADDRESS`: source address of unicast adverts.
pub const UNICAST_SOURCE: &str = "UNICAST_SOURCE_IPADDRESS";
/// `OPENSHIFT_HA_KEEPALIVED_CONF` (extension): where the keepalived rendering of the plan is
/// written at start; `none` turns it off.
pub const KEEPALIVED_CONF: &str = "OPENSHIFT_HA_KEEPALIVED_CONF";
/// `OPENSHIFT_HA_STATUS_FILE` (extension): the file `status` and `probe` read; `none` turns
/// it off.
pub const STATUS_FILE: &str = "OPENSHIFT_HA_STATUS_FILE";
/// `OPENSHIFT_HA_CHECK_HTTP_PATH` (extension): turns the built-in TCP check into an HTTP GET
/// of this path; 2xx = healthy.
pub const CHECK_HTTP_PATH: &str = "OPENSHIFT_HA_CHECK_HTTP_PATH";
/// `OPENSHIFT_HA_CHECK_RISE` (extension): consecutive successes that end a failure.
pub const CHECK_RISE: &str = "OPENSHIFT_HA_CHECK_RISE";
/// `OPENSHIFT_HA_CHECK_FALL` (extension): consecutive failures that make the node unhealthy.
pub const CHECK_FALL: &str = "OPENSHIFT_HA_CHECK_FALL";
/// `OPENSHIFT_HA_METRICS_PORT` (extension): port of the Prometheus `/metrics` listener.
pub const METRICS_PORT: &str = "OPENSHIFT_HA_METRICS_PORT";
/// Longest accepted [`CHECK_HTTP_PATH`]: the request must stay one small write.
const MAX_HTTP_PATH: usize = 1024;
/// Default status file: private to the container.
pub const DEFAULT_STATUS_FILE: &str = "/run/ipfailover/status";
/// `OPENSHIFT_HA_VRRP_VERSION` (extension): 2 (default, keepalived's) or 3 for IPv4
/// instances; IPv6 instances always speak VRRPv3.
pub const VRRP_VERSION: &str = "OPENSHIFT_HA_VRRP_VERSION";
/// `OPENSHIFT_HA_ADVERT_INTERVAL` (extension): seconds between adverts, default 1; below one
/// second needs VRRPv3 (the sub-second profile).
pub const ADVERT_INTERVAL: &str = "OPENSHIFT_HA_ADVERT_INTERVAL";
/// Where today's image keeps its generated configuration (QE tests read it).
pub const DEFAULT_KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";
/// `OPENSHIFT_HA_SCRIPT_ROOT` (extension): the host root a script whose `#!` interpreter is
/// missing in the image runs in (chroot); `none` turns that off. Default: `/host`, then `/hosts`.
pub const SCRIPT_ROOT: &str = "OPENSHIFT_HA_SCRIPT_ROOT";
/// Host-root mount points tried by default: the documented Deployment's, then the docs' other spelling.
pub const DEFAULT_SCRIPT_ROOTS: [&str; 2] = ["/host", "/hosts"];

/// Read by today's image but without effect; accepted here with one warning each.
const IGNORED: [(&str, &str); 4] = [
    ("OPENSHIFT_HA_SELECTOR", "never used by the image"),
    ("OPENSHIFT_HA_ADMIN_EMAILS", "keepalived never sent mail"),
    ("OPENSHIFT_HA_SMTP_SERVER", "keepalived never sent mail"),
    (
        "KEEPALIVED_OPTIONS",
        "there is no keepalived process to pass options to",
    ),
];

const DEFAULT_NAME: &str = "OpenShift-IPFailover";

/// The validated environment, before host facts are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Raw `OPENSHIFT_HA_CONFIG_NAME` (the password is taken from it).
    pub config_name: String,
    /// [`scrub_name`] of the config name; never empty.
    pub scrubbed_name: String,
    /// VIPs in the order given.
    pub vips: Vec<IpAddr>,
    /// `None` = one VIP per instance.
    pub vip_groups: Option<u32>,
    /// `None` = use the default-route interface.
    pub interface: Option<String>,
    /// 0 = built-in check disabled.
    pub monitor_port: u16,
    pub check_script: Option<Script>,
    pub check_interval: Duration,
    pub notify_script: Option<Script>,
    pub preemption: Preemption,
    /// At least 1.
    pub replica_count: u32,
    /// 0..=254.
    pub vrid_offset: u8,
    /// Union of both exclusion variables; each 1..=255.
    pub excluded_vrids: BTreeSet<u8>,
    /// Deduplicated, order kept; may include our own addresses (the plan drops them).
    pub unicast_peers: Vec<IpAddr>,
    /// Unicast mode: peers were given (with or without `OPENSHIFT_HA_USE_UNICAST=true`).
    pub use_unicast: bool,
    /// Open the firewall for VRRP (`NFTABLES_RULE` or `IPTABLES_CHAIN` non-empty).
    pub firewall: bool,
    pub mcast_src: Option<IpAddr>,
    pub unicast_src: Option<IpAddr>,
    /// VRRP version of IPv4 instances: 2 or 3.
    pub vrrp_version: u8,
    /// Advert interval in centiseconds (v2: whole seconds only).
    pub advert_interval_cs: u16,
    /// Where to write the keepalived rendering; `None` = not at all.
    pub keepalived_conf: Option<String>,
    /// Where the daemon keeps its status; `None` = not at all.
    pub status_file: Option<String>,
    /// Where scripts whose interpreter is missing in the image may find it.
    pub script_root: ScriptRoot,
    /// Path of the built-in HTTP check; `None` = plain TCP connect.
    pub check_http_path: Option<String>,
    /// Consecutive successes needed to become healthy again (1..=100).
    pub check_rise: u32,
    /// Consecutive failures needed to become unhealthy (1..=100).
    pub check_fall: u32,
    /// Port of the metrics listener; `None` = off.
    pub metrics_port: Option<u16>,
    /// Non-fatal remarks: ignored variables, values mapped to something else.
    pub warnings: Vec<String>,
}

/// Today's scrub: keep `[A-Za-z0-9_-]`, then `-` becomes `_` (`my-ipf.v1 x` → `my_ipfv1x`).
pub fn scrub_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .map(|c| if c == '-' { '_' } else { c })
        .collect()
}

impl Settings {
    /// Parses every variable; the first error wins.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Settings, ConfigError> {
        from_env(env)
    }
}

/// Parses every variable of the contract from `env`; the first error wins.
pub fn from_env(env: &BTreeMap<String, String>) -> Result<Settings, ConfigError> {
    let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut warnings = Vec::new();

    let config_name = get(CONFIG_NAME)
        .map_or(DEFAULT_NAME, |_| env[CONFIG_NAME].as_str())
        .to_string();
    let scrubbed_name = scrub_name(&config_name);
    if scrubbed_name.is_empty() {
        return Err(ConfigError::new(
            CONFIG_NAME,
            config_name,
            "a name with letters, digits, '-' or '_'",
        ));
    }

    let vips = parse_vips(VIRTUAL_IPS, get(VIRTUAL_IPS).unwrap_or(""))?;
    // 0 meant "no groups" today; keep it.
    let vip_groups = match get(VIP_GROUPS) {
        None => None,
        Some(v) => match number(
            VIP_GROUPS,
            v,
            0,
            u32::MAX.into(),
            "a whole number of groups",
        )? {
            0 => None,
            g => Some(g as u32),
        },
    };
    let interface = get(NETWORK_INTERFACE).map(interface_name).transpose()?;
    let monitor_port = match get(MONITOR_PORT) {
        None => 80,
        Some(v) => number(
            MONITOR_PORT,
            v,
            0,
            65535,
            "a TCP port 0..65535 (0 disables the check)",
        )? as u16,
    };
    let check_script = get(CHECK_SCRIPT)
        .map(|v| script(CHECK_SCRIPT, v))
        .transpose()?;
    let check_interval = match get(CHECK_INTERVAL) {
        None => Duration::from_secs(2),
        Some(v) => Duration::from_secs(number(
            CHECK_INTERVAL,
            v,
            1,
            u32::MAX.into(),
            "whole seconds, at least 1",
        )?),
    };
    let notify_script = get(NOTIFY_SCRIPT)
        .map(|v| script(NOTIFY_SCRIPT, v))
        .transpose()?;
    let preemption = match get(PREEMPTION) {
        None => Preemption::Delay(Duration::from_secs(300)),
        Some(v) => preemption(v, &mut warnings)?,
    };
    let replica_count = match get(REPLICA_COUNT) {
        None => 1,
        Some(v) => number(
            REPLICA_COUNT,
            v,
            1,
            u32::MAX.into(),
            "a whole number of replicas, at least 1",
        )? as u32,
    };
    let vrid_offset = match get(VRRP_ID_OFFSET) {
        None => 10,
        Some(v) => number(VRRP_ID_OFFSET, v, 0, 254, "a whole number 0..254")? as u8,
    };
    let mut excluded_vrids = BTreeSet::new();
    for var in [EXCLUDED_VRRP_IDS, EXCLUDED_VRRP_IDS_ALIAS] {
        for item in split_list(get(var).unwrap_or("")) {
            excluded_vrids.insert(number(
                var,
                item,
                1,
                255,
                "VRIDs 1..255 separated by spaces or commas",
            )? as u8);
        }
    }

    let mut unicast_peers: Vec<IpAddr> = Vec::new();
    for item in split_list(get(UNICAST_PEERS).unwrap_or("")) {
        let peer = parse_addr(UNICAST_PEERS, item)?;
        if unicast_peers.contains(&peer) {
            warnings.push(format!(
                "{UNICAST_PEERS}: {peer} is listed twice; using it once"
            ));
        } else {
            unicast_peers.push(peer);
        }
    }
    let use_unicast = match get(USE_UNICAST).map(|v| v.to_ascii_lowercase()) {
        None => !unicast_peers.is_empty(),
        Some(v) if v == "true" => {
            if unicast_peers.is_empty() {
                return Err(ConfigError::new(
                    USE_UNICAST,
                    "true",
                    format!("{UNICAST_PEERS} to list the peers when unicast is on"),
                ));
            }
            true
        }
        Some(v) if v == "false" => {
            if !unicast_peers.is_empty() {
                warnings.push(format!(
                    "{USE_UNICAST}=false but {UNICAST_PEERS} is set: unicast is used, as before"
                ));
            }
            !unicast_peers.is_empty()
        }
        Some(_) => {
            return Err(ConfigError::new(
                USE_UNICAST,
                env[USE_UNICAST].as_str(),
                "true or false",
            ));
        }
    };

    let firewall = get(NFTABLES_RULE).is_some() || get(IPTABLES_CHAIN).is_some();
    let mcast_src = get(MULTICAST_SOURCE)
        .map(|v| parse_addr(MULTICAST_SOURCE, v))
        .transpose()?;
    let unicast_src = get(UNICAST_SOURCE)
        .map(|v| parse_addr(UNICAST_SOURCE, v))
        .transpose()?;

    let vrrp_version = match get(VRRP_VERSION) {
        None | Some("2") => 2,
        Some("3") => 3,
        Some(v) => return Err(ConfigError::new(VRRP_VERSION, v, "2 or 3")),
    };
    let advert_interval_cs = match get(ADVERT_INTERVAL) {
        None => 100,
        Some(v) => advert_interval(v, vrrp_version)?,
    };
    if vrrp_version != 2 || advert_interval_cs != 100 {
        warnings.push(format!(
            "VRRPv{vrrp_version} every {} s: keepalived-based pods on this network must use the same \
             (vrrp_version {vrrp_version}, advert_int {}) or they will reject these adverts",
            seconds(advert_interval_cs),
            seconds(advert_interval_cs)
        ));
    }
    let keepalived_conf = optional_path(
        KEEPALIVED_CONF,
        get(KEEPALIVED_CONF),
        DEFAULT_KEEPALIVED_CONF,
    )?;
    let status_file = optional_path(STATUS_FILE, get(STATUS_FILE), DEFAULT_STATUS_FILE)?;
    let script_root = ScriptRoot::parse(get(SCRIPT_ROOT))?;

    let check_http_path = get(CHECK_HTTP_PATH).map(http_path).transpose()?;
    if check_http_path.is_some() {
        if check_script.is_some() {
            warnings.push(format!(
                "{CHECK_HTTP_PATH} is ignored: {CHECK_SCRIPT} replaces the built-in check"
            ));
        } else if monitor_port == 0 {
            warnings.push(format!(
                "{CHECK_HTTP_PATH} is ignored: {MONITOR_PORT}=0 disables the built-in check"
            ));
        }
    }
    let count = |var: &'static str| match get(var) {
        None => Ok(1),
        Some(v) => {
            number(var, v, 1, 100, "a whole number of check results 1..100").map(|n| n as u32)
        }
    };
    let check_rise = count(CHECK_RISE)?;
    let check_fall = count(CHECK_FALL)?;
    let metrics_port = match get(METRICS_PORT) {
        None => None,
        Some(v) => Some(number(METRICS_PORT, v, 1, 65535, "a TCP port 1..65535")? as u16),
    };
    if let Some(port) = metrics_port
        && check_script.is_none()
        && port == monitor_port
    {
        // Our own listener would answer the built-in check: it could never fail.
        return Err(ConfigError::new(
            METRICS_PORT,
            port.to_string(),
            format!(
                "a port other than {MONITOR_PORT} ({monitor_port}), which the built-in check probes"
            ),
        ));
    }

    for (var, why) in IGNORED {
        if get(var).is_some() {
            warnings.push(format!("{var} is accepted and ignored: {why}"));
        }
    }

    Ok(Settings {
        config_name,
        scrubbed_name,
        vips,
        vip_groups,
        interface,
        monitor_port,
        check_script,
        check_interval,
        notify_script,
        preemption,
        replica_count,
        vrid_offset,
        excluded_vrids,
        unicast_peers,
        use_unicast,
        firewall,
        mcast_src,
        unicast_src,
        vrrp_version,
        advert_interval_cs,
        keepalived_conf,
        status_file,
        script_root,
        check_http_path,
        check_rise,
        check_fall,
        metrics_port,
        warnings,
    })
}

/// Seconds with up to two decimals, as keepalived's `advert_int`: v2 carries whole seconds
/// 1..255, v3 twelve bits of centiseconds (0.01..40.95).
fn advert_interval(text: &str, version: u8) -> Result<u16, ConfigError> {
    let expected = if version == 2 {
        "whole seconds 1..255 (sub-second intervals need OPENSHIFT_HA_VRRP_VERSION=3)"
    } else {
        "seconds 0.01..40.95, at most two decimals, e.g. 0.1"
    };
    let bad = || ConfigError::new(ADVERT_INTERVAL, text, expected);
    let (whole, frac) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(frac) || frac.len() > 2 || whole.len() > 3 {
        return Err(bad());
    }
    let whole: u32 = whole.parse().map_err(|_| bad())?;
    let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let cs = whole * 100 + frac;
    let ok = if version == 2 {
        cs.is_multiple_of(100) && (100..=25_500).contains(&cs)
    } else {
        (1..=4095).contains(&cs)
    };
    if ok {
        u16::try_from(cs).map_err(|_| bad())
    } else {
        Err(bad())
    }
}

/// Centiseconds as keepalived writes `advert_int` (`1`, `0.1`, `0.05`).
pub fn seconds(cs: u16) -> String {
    let text = format!("{}.{:02}", cs / 100, cs % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `OPENSHIFT_HA_SCRIPT_ROOT`: where a script's missing `#!` interpreter may be found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptRoot {
    /// Unset: try [`DEFAULT_SCRIPT_ROOTS`] in order.
    Default,
    /// `none`: never run a script in another root.
    Off,
    /// This absolute path (a host root mounted somewhere else).
    At(String),
}

impl ScriptRoot {
    /// Parses the variable's (trimmed, non-empty) value; `None` = unset.
    pub fn parse(value: Option<&str>) -> Result<ScriptRoot, ConfigError> {
        match value {
            None => Ok(ScriptRoot::Default),
            Some("none") => Ok(ScriptRoot::Off),
            Some(path) if path.starts_with('/') && path != "/" => {
                Ok(ScriptRoot::At(path.to_string()))
            }
            Some(path) => Err(ConfigError::new(
                SCRIPT_ROOT,
                path,
                "the absolute path where the host's / is mounted (not / itself), or none",
            )),
        }
    }

    /// The roots to try, in order.
    pub fn candidates(&self) -> Vec<&str> {
        match self {
            ScriptRoot::Default => DEFAULT_SCRIPT_ROOTS.to_vec(),
            ScriptRoot::Off => Vec::new(),
            ScriptRoot::At(path) => vec![path.as_str()],
        }
    }
}

/// An origin-form request target: starts with '/', visible ASCII only (a space or control
/// character would end the request line early), at most [`MAX_HTTP_PATH`] bytes.
fn http_path(text: &str) -> Result<String, ConfigError> {
    let valid = text.starts_with('/')
        && text.len() <= MAX_HTTP_PATH
        && text.bytes().all(|b| b.is_ascii_graphic())
        && !text.contains('#');
    if valid {
        Ok(text.to_string())
    } else {
        Err(ConfigError::new(
            CHECK_HTTP_PATH,
            text,
            "a URL path starting with '/', such as /healthz/ready (visible ASCII, no spaces or '#', at most 1024 bytes)",
        ))
    }
}

/// A file the daemon writes: absolute path, default when unset, `none` to turn it off.
fn optional_path(
    var: &'static str,
    value: Option<&str>,
    default: &str,
) -> Result<Option<String>, ConfigError> {
    match value {
        None => Ok(Some(default.to_string())),
        Some("none") => Ok(None),
        Some(path) if path.starts_with('/') => Ok(Some(path.to_string())),
        Some(path) => Err(ConfigError::new(
            var,
            path,
            "an absolute file path, or none",
        )),
    }
}

/// A decimal number in `min..=max`: digits only, no sign, no leading zeros (bash read
/// `010` as octal 8).
fn number(
    var: &'static str,
    text: &str,
    min: u64,
    max: u64,
    expected: &str,
) -> Result<u64, ConfigError> {
    let bad = || ConfigError::new(var, text, expected);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(ConfigError::new(
            var,
            text,
            format!("{expected}, without leading zeros"),
        ));
    }
    let n: u64 = text.parse().map_err(|_| bad())?;
    if n < min || n > max {
        Err(bad())
    } else {
        Ok(n)
    }
}

/// A Linux interface name: 1..=15 bytes, no '/', ':' or whitespace, not `.` or `..`.
fn interface_name(text: &str) -> Result<String, ConfigError> {
    let valid = text.len() <= 15
        && text != "."
        && text != ".."
        && !text
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if valid {
        Ok(text.to_string())
    } else {
        Err(ConfigError::new(
            NETWORK_INTERFACE,
            text,
            "one interface name of at most 15 bytes without '/', ':' or spaces, such as br-ex",
        ))
    }
}

/// `nopreempt`, `preempt`, `preempt_delay N`; `preempt_nodelay ...` (the documented default,
/// which keepalived ignored as an unknown keyword) means `preempt`.
fn preemption(text: &str, warnings: &mut Vec<String>) -> Result<Preemption, ConfigError> {
    const EXPECTED: &str = "nopreempt, preempt or preempt_delay N (N = 0..1000 seconds)";
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["nopreempt"] => Ok(Preemption::NoPreempt),
        ["preempt"] => Ok(Preemption::Preempt),
        ["preempt_delay", n] => {
            let secs = number(
                PREEMPTION,
                n,
                0,
                1000,
                "preempt_delay N with N = 0..1000 seconds",
            )
            .map_err(|e| ConfigError {
                item: text.to_string(),
                ..e
            })?;
            Ok(Preemption::Delay(Duration::from_secs(secs)))
        }
        ["preempt_nodelay", ..] => {
            warnings.push(format!(
                "{PREEMPTION}={text:?} is not a keepalived keyword (keepalived ignored it): using preempt"
            ));
            Ok(Preemption::Preempt)
        }
        _ => Err(ConfigError::new(PREEMPTION, text, EXPECTED)),
    }
}

/// A script command line, split like a shell word list (no expansion): `'...'` literal,
/// `"..."` with `\"` `\\` `\$` `` \` `` escapes, `\x` outside quotes. argv[0] must be absolute.
fn script(var: &'static str, text: &str) -> Result<Script, ConfigError> {
    let argv = split_words(text)
        .ok_or_else(|| ConfigError::new(var, text, "balanced quotes and no trailing backslash"))?;
    match argv.first() {
        Some(prog) if prog.starts_with('/') => Ok(Script { argv }),
        _ => Err(ConfigError::new(
            var,
            text,
            "an absolute path to the program, optionally followed by arguments",
        )),
    }
}

/// Shell-like word splitting without expansions; `None` on an unterminated quote or escape.
fn split_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            '\n' => {}
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => match chars.next()? {
                '\n' => {}
                c => {
                    in_word = true;
                    word.push(c);
                }
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod interval_tests {
    use super::*;

    #[test]
    fn advert_interval_by_version() {
        assert_eq!(advert_interval("1", 2), Ok(100));
        assert_eq!(advert_interval("3", 2), Ok(300));
        assert!(advert_interval("0.1", 2).is_err());
        assert!(advert_interval("1.5", 2).is_err());
        assert_eq!(advert_interval("0.1", 3), Ok(10));
        assert_eq!(advert_interval("0.05", 3), Ok(5));
        assert_eq!(advert_interval("40.95", 3), Ok(4095));
        for bad in ["0", "0.00", "41", "0.001", ".5", "1.", "x", "-1", "1e2"] {
            assert!(advert_interval(bad, 3).is_err(), "{bad}");
        }
        assert_eq!(seconds(100), "1");
        assert_eq!(seconds(10), "0.1");
        assert_eq!(seconds(5), "0.05");
        assert_eq!(seconds(250), "2.5");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const VIPS_ONLY: &[(&str, &str)] = &[(VIRTUAL_IPS, "192.0.2.10")];

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        VIPS_ONLY
            .iter()
            .chain(pairs)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Settings {
        match from_env(&env(pairs)) {
            Ok(s) => s,
            Err(e) => panic!("{pairs:?} rejected: {e}"),
        }
    }

    fn fails(pairs: &[(&str, &str)]) -> ConfigError {
        match from_env(&env(pairs)) {
            Ok(s) => panic!("{pairs:?} accepted: {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults() {
        let s = parse(&[]);
        assert_eq!(s.config_name, "OpenShift-IPFailover");
        assert_eq!(s.scrubbed_name, "OpenShift_IPFailover");
        assert_eq!(s.vips, vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))]);
        assert_eq!(s.vip_groups, None);
        assert_eq!(s.interface, None);
        assert_eq!(s.monitor_port, 80);
        assert_eq!(s.check_script, None);
        assert_eq!(s.check_interval, Duration::from_secs(2));
        assert_eq!(s.notify_script, None);
        assert_eq!(s.preemption, Preemption::Delay(Duration::from_secs(300)));
        assert_eq!(s.replica_count, 1);
        assert_eq!(s.vrid_offset, 10);
        assert!(s.excluded_vrids.is_empty());
        assert!(s.unicast_peers.is_empty());
        assert!(!s.use_unicast);
        assert!(!s.firewall);
        assert_eq!((s.mcast_src, s.unicast_src), (None, None));
        assert_eq!(s.check_http_path, None);
        assert_eq!((s.check_rise, s.check_fall), (1, 1));
        assert_eq!(s.metrics_port, None);
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn http_check_path() {
        let s = parse(&[(CHECK_HTTP_PATH, " /healthz/ready ")]);
        assert_eq!(s.check_http_path.as_deref(), Some("/healthz/ready"));
        assert!(s.warnings.is_empty());
        let s = parse(&[(CHECK_HTTP_PATH, "/a?b=c&d=%20")]);
        assert_eq!(s.check_http_path.as_deref(), Some("/a?b=c&d=%20"));
        let long = format!("/{}", "x".repeat(1024));
        for bad in [
            "healthz",
            "/a b",
            "/a\tb",
            "http://x/y",
            "/a#frag",
            "/caf\u{e9}",
            long.as_str(),
        ] {
            let e = fails(&[(CHECK_HTTP_PATH, bad)]);
            assert_eq!((e.var, e.item.as_str()), (CHECK_HTTP_PATH, bad), "{e}");
        }
        // A script or port 0 wins; the path is reported as ignored.
        let s = parse(&[(CHECK_HTTP_PATH, "/x"), (CHECK_SCRIPT, "/bin/true")]);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        let s = parse(&[(CHECK_HTTP_PATH, "/x"), (MONITOR_PORT, "0")]);
        assert!(
            s.warnings[0].starts_with(CHECK_HTTP_PATH),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn rise_and_fall() {
        let s = parse(&[(CHECK_RISE, "2"), (CHECK_FALL, "100")]);
        assert_eq!((s.check_rise, s.check_fall), (2, 100));
        for var in [CHECK_RISE, CHECK_FALL] {
            for bad in ["0", "101", "-1", "2x", "03", "1.5"] {
                let e = fails(&[(var, bad)]);
                assert_eq!((e.var, e.item.as_str()), (var, bad), "{e}");
            }
        }
    }

    #[test]
    fn metrics_port() {
        assert_eq!(parse(&[(METRICS_PORT, "9100")]).metrics_port, Some(9100));
        assert_eq!(parse(&[(METRICS_PORT, "65535")]).metrics_port, Some(65535));
        for bad in ["0", "65536", "x", "09100"] {
            let e = fails(&[(METRICS_PORT, bad)]);
            assert_eq!((e.var, e.item.as_str()), (METRICS_PORT, bad), "{e}");
        }
        // The built-in check would reach our own listener.
        assert_eq!(fails(&[(METRICS_PORT, "80")]).var, METRICS_PORT);
        assert_eq!(
            fails(&[(METRICS_PORT, "1936"), (MONITOR_PORT, "1936")]).var,
            METRICS_PORT
        );
        assert_eq!(
            parse(&[(METRICS_PORT, "80"), (MONITOR_PORT, "0")]).metrics_port,
            Some(80)
        );
        assert_eq!(
            parse(&[(METRICS_PORT, "80"), (CHECK_SCRIPT, "/bin/true")]).metrics_port,
            Some(80)
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let blank: Vec<(&str, &str)> = [
            CONFIG_NAME,
            VIP_GROUPS,
            NETWORK_INTERFACE,
            MONITOR_PORT,
            CHECK_SCRIPT,
            CHECK_INTERVAL,
            NOTIFY_SCRIPT,
            PREEMPTION,
            REPLICA_COUNT,
            VRRP_ID_OFFSET,
            EXCLUDED_VRRP_IDS,
            EXCLUDED_VRRP_IDS_ALIAS,
            UNICAST_PEERS,
            USE_UNICAST,
            NFTABLES_RULE,
            IPTABLES_CHAIN,
            MULTICAST_SOURCE,
            UNICAST_SOURCE,
            CHECK_HTTP_PATH,
            CHECK_RISE,
            CHECK_FALL,
            METRICS_PORT,
            "OPENSHIFT_HA_SELECTOR",
            "KEEPALIVED_OPTIONS",
        ]
        .iter()
        .map(|v| (*v, ""))
        .collect();
        assert_eq!(parse(&blank), parse(&[]));
    }

    #[test]
    fn virtual_ips_required() {
        let e = from_env(&BTreeMap::new()).unwrap_err();
        assert_eq!(e.var, VIRTUAL_IPS);
        let e = fails(&[(VIRTUAL_IPS, " ")]);
        assert_eq!(e.var, VIRTUAL_IPS);
    }

    #[test]
    fn config_name_and_scrub() {
        assert_eq!(scrub_name("ha-1"), "ha_1");
        assert_eq!(scrub_name("my-ipf.v1 x"), "my_ipfv1x");
        let s = parse(&[(CONFIG_NAME, "ipfailover")]);
        assert_eq!(
            (s.config_name.as_str(), s.scrubbed_name.as_str()),
            ("ipfailover", "ipfailover")
        );
        assert_eq!(fails(&[(CONFIG_NAME, "...")]).var, CONFIG_NAME);
    }

    /// Good values of numeric variables: (variable, text, parsed).
    #[test]
    fn numbers_good() {
        let s = parse(&[
            (VIP_GROUPS, "3"),
            (MONITOR_PORT, " 30060 "),
            (CHECK_INTERVAL, "5"),
            (REPLICA_COUNT, "2"),
            (VRRP_ID_OFFSET, "0"),
        ]);
        assert_eq!(s.vip_groups, Some(3));
        assert_eq!(s.monitor_port, 30060);
        assert_eq!(s.check_interval, Duration::from_secs(5));
        assert_eq!(s.replica_count, 2);
        assert_eq!(s.vrid_offset, 0);
        assert_eq!(parse(&[(VIP_GROUPS, "0")]).vip_groups, None);
        assert_eq!(parse(&[(MONITOR_PORT, "0")]).monitor_port, 0);
        assert_eq!(parse(&[(MONITOR_PORT, "65535")]).monitor_port, 65535);
        assert_eq!(parse(&[(VRRP_ID_OFFSET, "254")]).vrid_offset, 254);
    }

    #[test]
    fn numbers_bad() {
        let table: &[(&str, &str)] = &[
            (VIP_GROUPS, "abc"),
            (VIP_GROUPS, "2x"),
            (VIP_GROUPS, "-1"),
            (MONITOR_PORT, "65536"),
            (MONITOR_PORT, "80a"),
            (MONITOR_PORT, "00"),
            (MONITOR_PORT, "http"),
            (CHECK_INTERVAL, "0"),
            (CHECK_INTERVAL, "1.5"),
            (CHECK_INTERVAL, "2s"),
            (REPLICA_COUNT, "0"),
            (REPLICA_COUNT, "abc"),
            (REPLICA_COUNT, "2x"),
            (VRRP_ID_OFFSET, "5x"),
            (VRRP_ID_OFFSET, "abc"),
            (VRRP_ID_OFFSET, "-5"),
            (VRRP_ID_OFFSET, "255"),
            (VRRP_ID_OFFSET, "010"),
            (VRRP_ID_OFFSET, "99999999999999999999999"),
        ];
        for (var, text) in table {
            let e = fails(&[(var, text)]);
            assert_eq!((e.var, e.item.as_str()), (*var, *text), "{e}");
            assert!(e.to_string().starts_with(var), "{e}");
        }
    }

    #[test]
    fn interface() {
        assert_eq!(
            parse(&[(NETWORK_INTERFACE, "br-ex")]).interface.as_deref(),
            Some("br-ex")
        );
        assert_eq!(
            parse(&[(NETWORK_INTERFACE, "vlan.100@x")])
                .interface
                .as_deref(),
            Some("vlan.100@x")
        );
        for bad in ["br-ex ens3", "eth0:1", "a/b", "sixteen_chars_xx", ".", ".."] {
            assert_eq!(
                fails(&[(NETWORK_INTERFACE, bad)]).var,
                NETWORK_INTERFACE,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn scripts_split_like_a_shell() {
        let argv = |v: &str| parse(&[(CHECK_SCRIPT, v)]).check_script.map(|s| s.argv);
        let want = |w: &[&str]| Some(w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            argv("/etc/keepalive/mycheckscript.sh"),
            want(&["/etc/keepalive/mycheckscript.sh"])
        );
        assert_eq!(argv("/bin/check  -p 80"), want(&["/bin/check", "-p", "80"]));
        assert_eq!(
            argv("/bin/bash -c '</dev/tcp/192.0.2.1/80'"),
            want(&["/bin/bash", "-c", "</dev/tcp/192.0.2.1/80"])
        );
        assert_eq!(
            argv(r#"/bin/x "a b" c\ d "q\"t" 'e"f' "x\ny""#),
            want(&["/bin/x", "a b", "c d", "q\"t", "e\"f", "x\\ny"])
        );
        assert_eq!(argv("/bin/x ''"), want(&["/bin/x", ""]));
        assert_eq!(argv("/bin/x a\\\nb"), want(&["/bin/x", "ab"]));
        let n = parse(&[(NOTIFY_SCRIPT, "/etc/keepalive/mynotifyscript.sh")]).notify_script;
        assert_eq!(
            n.map(|s| s.argv),
            want(&["/etc/keepalive/mynotifyscript.sh"])
        );
        for var in [CHECK_SCRIPT, NOTIFY_SCRIPT] {
            for bad in [
                "mycheck.sh",
                "./check",
                "'/bin/x",
                "/bin/x \"a",
                "/bin/x \\",
                "''",
            ] {
                assert_eq!(fails(&[(var, bad)]).var, var, "{bad:?}");
            }
        }
    }

    #[test]
    fn preemption_values() {
        let p = |v: &str| parse(&[(PREEMPTION, v)]);
        assert_eq!(p("nopreempt").preemption, Preemption::NoPreempt);
        assert_eq!(p(" nopreempt ").preemption, Preemption::NoPreempt);
        assert_eq!(p("preempt").preemption, Preemption::Preempt);
        assert_eq!(
            p("preempt_delay 60").preemption,
            Preemption::Delay(Duration::from_secs(60))
        );
        assert_eq!(
            p("preempt_delay  0").preemption,
            Preemption::Delay(Duration::ZERO)
        );
        assert_eq!(
            p("preempt_delay 1000").preemption,
            Preemption::Delay(Duration::from_secs(1000))
        );
        let s = p("preempt_nodelay 300");
        assert_eq!(s.preemption, Preemption::Preempt);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains(PREEMPTION));
        for bad in [
            "preempt 300",
            "preempt_delay",
            "preempt_delay 1001",
            "preempt_delay 5s",
            "preempt_delay -1",
            "NOPREEMPT",
            "no preempt",
            "preempt_delay 300 x",
            "delay",
        ] {
            let e = fails(&[(PREEMPTION, bad)]);
            assert_eq!((e.var, e.item.as_str()), (PREEMPTION, bad), "{e}");
        }
    }

    #[test]
    fn excluded_vrids_union_and_lists() {
        let s = parse(&[
            (EXCLUDED_VRRP_IDS, "12 14"),
            (EXCLUDED_VRRP_IDS_ALIAS, "20,21, 12"),
        ]);
        assert_eq!(
            s.excluded_vrids.into_iter().collect::<Vec<_>>(),
            vec![12, 14, 20, 21]
        );
        // Today `12,14` is one token matching nothing; now it is a list.
        let s = parse(&[(EXCLUDED_VRRP_IDS, "12,14")]);
        assert_eq!(
            s.excluded_vrids.into_iter().collect::<Vec<_>>(),
            vec![12, 14]
        );
        assert_eq!(
            parse(&[(EXCLUDED_VRRP_IDS, "1 255")]).excluded_vrids.len(),
            2
        );
        for (var, bad) in [
            (EXCLUDED_VRRP_IDS, "0"),
            (EXCLUDED_VRRP_IDS, "256"),
            (EXCLUDED_VRRP_IDS_ALIAS, "12;14"),
            (EXCLUDED_VRRP_IDS_ALIAS, "x"),
        ] {
            let e = fails(&[(var, bad)]);
            assert_eq!((e.var, e.item.as_str()), (var, bad), "{e}");
        }
    }

    #[test]
    fn unicast() {
        let s = parse(&[(UNICAST_PEERS, "192.0.2.1, 192.0.2.2 192.0.2.1,2001:db8::2")]);
        assert_eq!(s.unicast_peers.len(), 3);
        assert!(s.use_unicast);
        assert_eq!(s.warnings.len(), 1);
        let s = parse(&[(UNICAST_PEERS, "192.0.2.1"), (USE_UNICAST, "true")]);
        assert!(s.use_unicast && s.warnings.is_empty());
        // Peers mean unicast, as today, even when the unused flag says false.
        let s = parse(&[(UNICAST_PEERS, "192.0.2.1"), (USE_UNICAST, "false")]);
        assert!(s.use_unicast);
        assert_eq!(s.warnings.len(), 1);
        assert!(!parse(&[(USE_UNICAST, "False")]).use_unicast);
        assert_eq!(fails(&[(USE_UNICAST, "true")]).var, USE_UNICAST);
        assert_eq!(
            fails(&[(USE_UNICAST, "yes"), (UNICAST_PEERS, "192.0.2.1")]).var,
            USE_UNICAST
        );
        for bad in [
            "192.0.2.1;192.0.2.2",
            "192.0.2.300",
            "node1",
            "192.0.2.0/24",
        ] {
            assert_eq!(fails(&[(UNICAST_PEERS, bad)]).var, UNICAST_PEERS, "{bad:?}");
        }
    }

    #[test]
    fn firewall_and_sources() {
        assert!(parse(&[(NFTABLES_RULE, "INPUT")]).firewall);
        assert!(parse(&[(IPTABLES_CHAIN, "INPUT")]).firewall);
        let s = parse(&[
            (MULTICAST_SOURCE, "192.0.2.5"),
            (UNICAST_SOURCE, "2001:db8::5"),
        ]);
        assert_eq!(s.mcast_src, Some("192.0.2.5".parse().unwrap()));
        assert_eq!(s.unicast_src, Some("2001:db8::5".parse().unwrap()));
        assert_eq!(fails(&[(MULTICAST_SOURCE, "x")]).var, MULTICAST_SOURCE);
        assert_eq!(
            fails(&[(UNICAST_SOURCE, "192.0.2.5/24")]).var,
            UNICAST_SOURCE
        );
    }

    #[test]
    fn ignored_variables_warn_once_each() {
        let s = parse(&[
            ("OPENSHIFT_HA_SELECTOR", "ipfailover=hello"),
            ("OPENSHIFT_HA_ADMIN_EMAILS", "root@localhost"),
            ("OPENSHIFT_HA_SMTP_SERVER", "127.0.0.1"),
            ("KEEPALIVED_OPTIONS", "-D"),
        ]);
        assert_eq!(s.warnings.len(), 4, "{:?}", s.warnings);
        assert!(
            s.warnings
                .iter()
                .any(|w| w.starts_with("KEEPALIVED_OPTIONS"))
        );
    }

    #[test]
    fn script_root() {
        assert_eq!(parse(&[]).script_root, ScriptRoot::Default);
        assert_eq!(parse(&[]).script_root.candidates(), vec!["/host", "/hosts"]);
        let s = parse(&[(SCRIPT_ROOT, "none")]);
        assert_eq!(s.script_root, ScriptRoot::Off);
        assert!(s.script_root.candidates().is_empty());
        let s = parse(&[(SCRIPT_ROOT, " /rootfs ")]);
        assert_eq!(s.script_root.candidates(), vec!["/rootfs"]);
        for bad in ["host", "/", "None"] {
            let e = fails(&[(SCRIPT_ROOT, bad)]);
            assert_eq!((e.var, e.item.as_str()), (SCRIPT_ROOT, bad), "{e}");
        }
    }

    #[test]
    fn documented_deployment_parses() {
        let s = parse(&[
            (CONFIG_NAME, "ipfailover"),
            (VIRTUAL_IPS, "192.0.2.1-2"),
            (VIP_GROUPS, "10"),
            (NETWORK_INTERFACE, "ens3"),
            (MONITOR_PORT, "30060"),
            (VRRP_ID_OFFSET, "0"),
            (REPLICA_COUNT, "2"),
            (USE_UNICAST, "false"),
            (IPTABLES_CHAIN, "INPUT"),
            (CHECK_SCRIPT, "/etc/keepalive/mycheckscript.sh"),
            (PREEMPTION, "preempt_delay 300"),
            (CHECK_INTERVAL, "2"),
        ]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.vips.len(), 2);
    }
}
