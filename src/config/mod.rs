//! Configuration: the `OPENSHIFT_HA_*` environment, parsed strictly, then turned into a plan.
//!
//! Two pure steps, so that every rule is unit-testable without a host:
//! 1. [`settings::Settings::from_env`] reads variables (a map, not the process environment);
//! 2. [`plan::Plan::build`] combines settings with facts about the host (interface, node IPv4)
//!    into VRRP instances with names, VRIDs and priorities.
use std::net::IpAddr;
use std::time::Duration;

pub mod error;
pub mod plan;
pub mod render;
pub mod settings;
pub mod vips;

pub use error::ConfigError;
pub use plan::{HostFacts, InstancePlan, Plan};
pub use settings::Settings;

/// How an instance in BACKUP treats a live master of lower priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preemption {
    /// Take over as soon as the lower-priority master is seen (after Master_Down_Interval).
    Preempt,
    /// Never take over from a live master.
    NoPreempt,
    /// Take over only once lower-priority adverts have been seen for this long.
    Delay(Duration),
}

/// An external program: absolute path first, then its own arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub argv: Vec<String>,
}

/// How node health is judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// `OPENSHIFT_HA_CHECK_SCRIPT`: exit 0 = healthy.
    Script(Script),
    /// Built-in TCP connect to `<node IPv4>:<port>`.
    Tcp(u16),
    /// Built-in HTTP/1.1 GET of `path` at `<node IPv4>:<port>` (`OPENSHIFT_HA_CHECK_HTTP_PATH`):
    /// a 2xx status is healthy.
    Http { port: u16, path: String },
    /// `OPENSHIFT_HA_MONITOR_PORT=0`: always healthy.
    Disabled,
}

/// Address family of an instance (one family per instance).
pub fn family_name(addr: &IpAddr) -> &'static str {
    if addr.is_ipv4() { "IPv4" } else { "IPv6" }
}
