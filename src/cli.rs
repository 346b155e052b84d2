//! Commands and multi-call dispatch (like busybox: the name we are called by picks the
//! command, so the documented Deployment's paths keep working).
use crate::config::error::EXIT_CONFIG;
use crate::config::{ConfigError, Plan, Settings};
use crate::daemon::event_loop::Daemon;
use crate::daemon::host::{self, Host, HostError};
use crate::daemon::transmit::Sender;
use crate::log;
use crate::sys::netlink::Rtnl;
use crate::sys::process;
use crate::sys::signals::SignalFd;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::IpAddr;

const USAGE: &str = "\
ipfailover: VRRP failover for OpenShift, configured by OPENSHIFT_HA_* variables

Usage:
  ipfailover [run]             run the daemon (also when called as monitor.sh)
  ipfailover config            print the plan: instances, VRIDs, priorities, VIPs, check, notify
  ipfailover config --keepalived
                               print the equivalent keepalived.conf
  ipfailover cleanup           remove this configuration's VIPs and the nftables table
                               inet keepalived (also as remove-failover.sh)
  ipfailover status [--json]   the running daemon's instances, from its status file
  ipfailover probe             exit 0 when the daemon is alive and its loop turns (liveness)
  ipfailover --help | --version
  pgrep [-f] [-o|-n] PATTERN   (when called as pgrep) for the liveness probe

Configuration errors exit with status 2 before anything on the host is changed.";

/// Exit status for a failure of the host (kernel refused, socket could not open).
const EXIT_FAILURE: i32 = 1;

pub fn main() -> i32 {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = if args.is_empty() {
        OsString::new()
    } else {
        args.remove(0)
    };
    let called_as = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    if called_as.as_deref() == Some("pgrep") {
        return crate::pgrep::main(args);
    }
    let mut pargs = pico_args::Arguments::from_vec(args);
    if pargs.contains(["-h", "--help"]) {
        println!("{USAGE}");
        return 0;
    }
    if pargs.contains(["-V", "--version"]) {
        println!("ipfailover {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let command = match called_as.as_deref() {
        Some("monitor.sh") => Some("run".to_string()),
        Some("remove-failover.sh") => Some("cleanup".to_string()),
        _ => match pargs.subcommand() {
            Ok(c) => c,
            Err(e) => return usage_error(&e.to_string()),
        },
    };
    let keepalived = pargs.contains("--keepalived");
    let json = pargs.contains("--json");
    let rest = pargs.finish();
    if !rest.is_empty() {
        return usage_error(&format!("unexpected arguments {rest:?}"));
    }
    match command.as_deref().unwrap_or("run") {
        "run" => run(),
        "config" => config(keepalived),
        "cleanup" => cleanup(),
        "status" => crate::inspect::status(json),
        "probe" => crate::inspect::probe(),
        other => usage_error(&format!("unknown command {other:?}")),
    }
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("ipfailover: {msg}\n\n{USAGE}");
    EXIT_CONFIG
}

/// The process environment as a map; values that are not UTF-8 become lossy text, which
/// the strict parsers then reject with the variable's name.
fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// Why start-up stopped, with the exit status it deserves.
enum Failure {
    Config(ConfigError),
    Host(String),
}

impl Failure {
    fn report(self) -> i32 {
        match self {
            Failure::Config(e) => {
                log::line(&e.to_string());
                EXIT_CONFIG
            }
            Failure::Host(msg) => {
                log::line(&msg);
                EXIT_FAILURE
            }
        }
    }
}

/// Environment → settings → host facts → plan. Reads the host, changes nothing.
fn load() -> Result<(Plan, Host, Rtnl), Failure> {
    let settings = Settings::from_env(&environment()).map_err(Failure::Config)?;
    let mut rtnl = Rtnl::open().map_err(|e| Failure::Host(format!("Netlink: cannot open: {e}")))?;
    let host = host::discover(&mut rtnl, &settings).map_err(|e| match e {
        HostError::Config(c) => Failure::Config(c),
        HostError::Io(e) => Failure::Host(format!("Netlink: cannot read the interfaces: {e}")),
    })?;
    let plan = Plan::build(&settings, &host.facts).map_err(Failure::Config)?;
    Ok((plan, host, rtnl))
}

fn config(keepalived: bool) -> i32 {
    match load() {
        Ok((plan, _, _)) => {
            let text = if keepalived {
                plan.render_keepalived_conf()
            } else {
                plan.render_summary()
            };
            print!("{text}");
            0
        }
        Err(f) => f.report(),
    }
}

fn cleanup() -> i32 {
    let mut status = 0;
    // The documented removal Job sets no environment; today's script then releases nothing
    // and succeeds. Do the same (the firewall table is still removed), but say so.
    if std::env::var(crate::config::settings::VIRTUAL_IPS).is_ok_and(|v| !v.trim().is_empty()) {
        let (plan, host, mut rtnl) = match load() {
            Ok(loaded) => loaded,
            Err(f) => return f.report(),
        };
        let vips: Vec<IpAddr> = plan
            .instances
            .iter()
            .flat_map(|i| i.vips.iter().copied())
            .collect();
        log::line(&format!(
            "Releasing VIPs (interface {}): {}",
            plan.interface,
            join(&vips)
        ));
        if let Err(e) = rtnl.del_addrs(host.link.index, &vips) {
            status = Failure::Host(format!("cannot remove VIPs: {e}")).report();
        }
    } else {
        log::line(
            "Releasing VIPs: none (OPENSHIFT_HA_VIRTUAL_IPS is not set; give the removal Job the \
             Deployment's environment and hostNetwork to release them)",
        );
    }
    match crate::sys::nftables::delete_vrrp_table() {
        Ok(true) => log::line("Removed nftables table inet keepalived"),
        Ok(false) => {}
        Err(e) => {
            status =
                Failure::Host(format!("cannot remove nftables table inet keepalived: {e}")).report()
        }
    }
    status
}

fn join(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The address our adverts of one family come from: the configured override, else the
/// node IPv4 (IPv4) or the interface's link-local address (IPv6, as keepalived).
fn source_address(plan: &Plan, host: &Host, v6: bool) -> Result<IpAddr, Failure> {
    let (var, configured) = if plan.unicast_peers.is_empty() {
        ("MULTICAST_SOURCE_IPADDRESS", plan.mcast_src)
    } else {
        ("UNICAST_SOURCE_IPADDRESS", plan.unicast_src)
    };
    let fallback = if v6 {
        host.link_local.map(IpAddr::V6)
    } else {
        plan.node_ipv4.map(IpAddr::V4)
    };
    configured
        .filter(|a| a.is_ipv6() == v6)
        .or(fallback)
        .ok_or_else(|| {
            Failure::Config(ConfigError {
                var: if configured.is_some() {
                    var
                } else {
                    "OPENSHIFT_HA_NETWORK_INTERFACE"
                },
                item: plan.interface.clone(),
                expected: format!(
                    "an interface with {} address (VRRP adverts need a source address)",
                    if v6 { "a link-local IPv6" } else { "an IPv4" }
                ),
            })
        })
}

/// Exit 2 naming the capability, before anything is touched (contract: least privilege).
fn check_capabilities() -> Result<(), Failure> {
    let mask = crate::sys::capabilities::effective()
        .map_err(|e| Failure::Host(format!("cannot read capabilities: {e}")))?;
    match crate::sys::capabilities::missing(mask).first() {
        None => Ok(()),
        Some(name) => Err(Failure::Config(ConfigError {
            var: "capabilities",
            item: format!("CAP_{name}"),
            expected: format!(
                "the container to have CAP_{name} (securityContext.capabilities.add: [NET_ADMIN, NET_RAW], \
                 or docker run --cap-add {name}); nothing else is needed, not even privileged"
            ),
        })),
    }
}

/// Once at start: scripts anyone but root can change, and scripts that cannot run at all
/// (the check then fails at every run, with the same reason).
fn report_scripts(plan: &Plan) {
    let check = match &plan.check {
        crate::config::Check::Script(s) => Some(("check", s)),
        _ => None,
    };
    let notify = plan.notify.as_ref().map(|s| ("notify", s));
    for (role, script) in check.into_iter().chain(notify) {
        let Some(program) = script.argv.first() else {
            continue;
        };
        // Logs once how the script will run when its interpreter is only in the host root,
        // or that it cannot run at all.
        crate::sys::host_root::resolve(program);
        let path = std::path::Path::new(program);
        for weak in crate::sys::script_check::insecure(path) {
            log::line(&format!(
                "SECURITY WARNING - {role} script {program}: {weak}; whoever can change it runs code as root here"
            ));
        }
        if let Err(e) = crate::sys::script_check::refuse_implicit_shell(path) {
            log::line(&format!("{role} script cannot run: {e}"));
        } else if let Err(e) = std::fs::metadata(path) {
            log::line(&format!(
                "{role} script {program} cannot run: {e}; every run will fail until it exists"
            ));
        }
    }
}

/// Best effort, as today's image: QE tests and operators read the generated keepalived.conf.
fn write_keepalived_conf(plan: &Plan) {
    let Some(path) = &plan.keepalived_conf else {
        return;
    };
    let path = std::path::Path::new(path);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, plan.render_keepalived_conf()));
    if let Err(e) = written {
        log::line(&format!(
            "cannot write {} (not needed to run): {e}",
            path.display()
        ));
    }
}

/// The documented liveness probe is `pgrep keepalived`, which matches the process name.
fn set_process_name() {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            c"keepalived".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 {
        log::line(&format!(
            "cannot set the process name: {}",
            std::io::Error::last_os_error()
        ));
    }
}

fn run() -> i32 {
    let (plan, host, mut rtnl) = match load() {
        Ok(loaded) => loaded,
        Err(f) => return f.report(),
    };
    if let Err(f) = check_capabilities() {
        return f.report();
    }
    let has = |v6: bool| {
        plan.instances
            .iter()
            .any(|i| i.vips.first().is_some_and(|a| a.is_ipv6() == v6))
    };
    let src4 = match has(false)
        .then(|| source_address(&plan, &host, false))
        .transpose()
    {
        Ok(src) => src,
        Err(f) => return f.report(),
    };
    let src6 = match has(true)
        .then(|| source_address(&plan, &host, true))
        .transpose()
    {
        Ok(src) => src,
        Err(f) => return f.report(),
    };
    for l in plan.render_summary().lines() {
        log::line(l);
    }
    write_keepalived_conf(&plan);
    report_scripts(&plan);
    set_process_name();
    // Signals first: every child we start must find them blocked here and unblocked in itself.
    let signals = match SignalFd::new(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD]) {
        Ok(s) => s,
        Err(e) => return Failure::Host(format!("cannot set up signal handling: {e}")).report(),
    };
    if let Err(e) = process::become_subreaper() {
        log::line(&format!(
            "cannot become child subreaper (orphaned script children may linger): {e}"
        ));
    }
    // Stale VIPs of a previous run (SIGKILL, crash) must not stay on this node.
    let vips: Vec<IpAddr> = plan
        .instances
        .iter()
        .flat_map(|i| i.vips.iter().copied())
        .collect();
    if let Err(e) = rtnl.del_addrs(host.link.index, &vips) {
        log::line(&format!("cannot remove stale VIPs: {e}"));
    }
    let as_v4 = |a: IpAddr| {
        if let IpAddr::V4(v4) = a {
            Some(v4)
        } else {
            None
        }
    };
    let as_v6 = |a: IpAddr| {
        if let IpAddr::V6(v6) = a {
            Some(v6)
        } else {
            None
        }
    };
    if plan.firewall {
        match crate::sys::nftables::ensure_vrrp_table() {
            Ok(true) => log::line(
                "nftables table inet keepalived now accepts VRRP (224.0.0.18, ff02::12, protocol 112)",
            ),
            Ok(false) => log::line("nftables table inet keepalived already accepts VRRP"),
            Err(e) => log::line(&format!(
                "cannot set up nftables table inet keepalived (VRRP may be filtered): {e}"
            )),
        }
    }
    let sender = match Sender::open(
        &plan,
        &host.link,
        src4.and_then(as_v4),
        src6.and_then(as_v6),
    ) {
        Ok(s) => s,
        Err(e) => {
            return Failure::Host(format!(
                "cannot open VRRP sockets on {}: {e}",
                host.link.name
            ))
            .report();
        }
    };
    match Daemon::new(plan, &host, signals, rtnl, sender) {
        Ok(mut daemon) => daemon.run(),
        Err(e) => Failure::Host(format!("cannot start the event loop: {e}")).report(),
    }
}
