//! The one synchronous `mio` loop: signals, VRRP packets, link changes, the health check and
//! timers go in; the core's actions come out (executed in `execute.rs`; packets and netlink
//! events are read in `inbound.rs`).
use super::health::{Health, Verdict};
use super::host::Host;
use super::metrics::{InstanceStats, Metrics, Stats};
use super::receive::Drops;
use super::status;
use super::transmit::Sender;
use crate::config::{InstancePlan, Plan};
use crate::log;
use crate::sys::netlink::{Monitor, Rtnl};
use crate::sys::process;
use crate::sys::signals::SignalFd;
use crate::sys::timer::Timer;
use crate::vrrp::{Instance, Params, Why};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

const SIGNALS: Token = Token(0);
pub(super) const VRRP4: Token = Token(1);
pub(super) const VRRP6: Token = Token(2);
const NETLINK: Token = Token(3);
const HEALTH: Token = Token(4);
const TIMER: Token = Token(5);
/// The metrics listener; its connections take the next `metrics::MAX_CONNS` tokens.
const METRICS: Token = Token(100);

/// Packets read per wake-up before timers get their turn (a flood must not starve adverts).
pub(super) const RX_BATCH: usize = 64;
/// How long STOP notify scripts may run at shutdown before their groups are killed.
pub(super) const STOP_NOTIFY_GRACE: Duration = Duration::from_secs(1);

/// One instance with what the loop keeps beside the pure machine.
pub(super) struct Slot {
    pub(super) plan: InstancePlan,
    pub(super) machine: Instance,
    pub(super) ip_id: u16,
    /// The master's address as last seen in an accepted advert (ours while MASTER).
    pub(super) master: Option<IpAddr>,
    /// Wall-clock time (unix ms) and reason of the last transition, for `status`.
    pub(super) since_ms: u64,
    pub(super) why: String,
}

/// Everything the running daemon owns.
pub struct Daemon {
    pub(super) plan: Plan,
    pub(super) check_name: String,
    pub(super) ifindex: u32,
    pub(super) slots: Vec<Slot>,
    /// Per family (0 = IPv4, 1 = IPv6): VRID → index into `slots`.
    pub(super) by_vrid: [[Option<u8>; 256]; 2],
    pub(super) poll: Poll,
    pub(super) signals: SignalFd,
    pub(super) sender: Sender,
    pub(super) rtnl: Rtnl,
    pub(super) monitor: Monitor,
    pub(super) health: Health,
    /// Wakes the loop at the next deadline, more precisely than a poll timeout.
    pub(super) timer: Timer,
    /// `None` until the first check result.
    pub(super) healthy: Option<bool>,
    pub(super) link_up: bool,
    pub(super) start: Instant,
    pub(super) drops: Drops,
    /// Notify scripts still running (pids), so shutdown can wait for STOP.
    pub(super) notify_pids: Vec<i32>,
    /// The last health verdict in words, for `status`.
    pub(super) check_text: String,
    /// When the status file was last written; `None` forces a write.
    pub(super) status_written: Option<Instant>,
    /// When the status file was last written or touched (the heartbeat).
    pub(super) status_touched: Option<Instant>,
    /// `drops.counters.total` at the last full write.
    pub(super) status_counted: u64,
    /// A failed write is logged once.
    pub(super) status_failed: bool,
    pub(super) metrics: Option<Metrics>,
    /// Counters for the metrics.
    pub(super) stats: Stats,
}

impl Daemon {
    /// Opens every socket and registers it. Nothing is sent yet.
    pub fn new(
        plan: Plan,
        host: &Host,
        signals: SignalFd,
        rtnl: Rtnl,
        sender: Sender,
    ) -> io::Result<Daemon> {
        let poll = Poll::new()?;
        let monitor = Monitor::open()?;
        let registry = poll.registry();
        registry.register(
            &mut SourceFd(&signals.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )?;
        let timer = Timer::new()?;
        registry.register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        registry.register(
            &mut SourceFd(&monitor.as_raw_fd()),
            NETLINK,
            Interest::READABLE,
        )?;
        let start = Instant::now();
        let health = Health::new(&plan.check, plan.node_ipv4, plan.check_interval, start)
            .with_rise_fall(plan.check_rise, plan.check_fall);
        let metrics = plan
            .metrics_port
            .map(|p| Metrics::open(p, registry, METRICS))
            .transpose()?;
        let stats = Stats {
            instances: vec![InstanceStats::default(); plan.instances.len()],
            ..Stats::default()
        };
        let mut by_vrid = [[None; 256]; 2];
        let mut slots = Vec::with_capacity(plan.instances.len());
        for (i, p) in plan.instances.iter().enumerate() {
            let first = p
                .vips
                .first()
                .ok_or_else(|| io::Error::other(format!("{} has no VIP", p.name)))?;
            let local_addr = sender.source(first).ok_or_else(|| {
                io::Error::other(format!("{}: no VRRP socket for its family", p.name))
            })?;
            by_vrid[family(first)][usize::from(p.vrid)] = u8::try_from(i).ok();
            slots.push(Slot {
                machine: Instance::new(Params {
                    version: sender.speak.version_for(first),
                    priority: p.priority,
                    preemption: p.preemption,
                    interval_cs: sender.speak.interval_cs,
                    local_addr,
                }),
                plan: p.clone(),
                ip_id: 0,
                master: None,
                since_ms: status::unix_ms(SystemTime::now()),
                why: "starting: waiting for the first health check result".to_string(),
            });
        }
        let daemon = Daemon {
            check_name: format!("chk_{}", plan.config_name.replace('-', "_")),
            ifindex: host.link.index,
            link_up: host.link.up && host.link.running,
            plan,
            slots,
            by_vrid,
            poll,
            signals,
            sender,
            rtnl,
            monitor,
            health,
            timer,
            healthy: None,
            start,
            drops: Drops::default(),
            notify_pids: Vec::new(),
            check_text: "pending".to_string(),
            status_written: None,
            status_touched: None,
            status_counted: 0,
            status_failed: false,
            metrics,
            stats,
        };
        daemon.register_vrrp()?;
        Ok(daemon)
    }

    pub(super) fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Runs until SIGTERM, SIGINT or SIGHUP; returns the exit status.
    pub fn run(&mut self) -> i32 {
        log::line(&format!("Health check: {}", self.health.describe()));
        if !self.link_up {
            log::line(&format!(
                "Netlink: interface {} is down",
                self.plan.interface
            ));
        }
        let mut events = Events::with_capacity(16);
        let mut rx_pending = false;
        loop {
            self.fire_timers();
            self.write_status();
            let timeout = match (rx_pending, self.next_timeout()) {
                (true, _) => Some(Duration::ZERO),
                (false, Some(d)) if d.is_zero() => Some(Duration::ZERO),
                (false, Some(d)) => match self.timer.arm(d) {
                    Ok(()) => None,
                    // Fall back to the poll timeout (coarser, but never missed).
                    Err(_) => Some(d),
                },
                (false, None) => None,
            };
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::line(&format!("poll failed: {e}"));
                return 1;
            }
            if rx_pending {
                rx_pending = self.receive();
            }
            for event in events.iter() {
                match event.token() {
                    SIGNALS if self.on_signals() => return self.shutdown(),
                    VRRP4 | VRRP6 => rx_pending = self.receive(),
                    NETLINK => self.on_netlink(),
                    TIMER => self.timer.drain(),
                    HEALTH => {
                        if let Some(v) = self.health.on_ready(self.poll.registry()) {
                            self.on_verdict(v);
                        }
                    }
                    t if self.metrics.as_ref().is_some_and(|m| m.owns(t)) => {
                        let snapshot = self.snapshot();
                        self.stats.check = self.health.stats().clone();
                        if let Some(m) = &mut self.metrics {
                            m.on_ready(t, self.poll.registry(), &snapshot, &self.stats);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let instance = self
            .slots
            .iter()
            .filter_map(|s| s.machine.next_deadline())
            .min()
            .map(|d| self.start + d);
        let heartbeat = self.status_touched.map(|t| t + status::HEARTBEAT);
        let metrics = self.metrics.as_ref().and_then(Metrics::deadline);
        let deadline = [instance, self.health.deadline(), heartbeat, metrics]
            .into_iter()
            .flatten()
            .min()?;
        Some(deadline.saturating_duration_since(now))
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.health.deadline().is_some_and(|d| d <= now)
            && let Some(v) = self.health.on_timer(now, self.poll.registry(), HEALTH)
        {
            self.on_verdict(v);
        }
        if let Some(m) = &mut self.metrics
            && m.deadline().is_some_and(|d| d <= now)
        {
            m.on_timer(now, self.poll.registry());
        }
        let t = self.now();
        for i in 0..self.slots.len() {
            if self.slots[i]
                .machine
                .next_deadline()
                .is_some_and(|d| d <= t)
            {
                let actions = self.slots[i].machine.on_timeout(t);
                self.execute(i, actions);
            }
        }
    }

    fn on_signals(&mut self) -> bool {
        let mut stop = false;
        loop {
            match self.signals.read() {
                Ok(Some(libc::SIGCHLD)) => self.reap(),
                Ok(Some(sig)) => {
                    log::line(&format!("Stopping on signal {sig}"));
                    stop = true;
                }
                Ok(None) => return stop,
                Err(e) => {
                    log::line(&format!("signalfd read failed: {e}"));
                    return stop;
                }
            }
        }
    }

    fn reap(&mut self) {
        for (pid, exit) in process::reap() {
            self.notify_pids.retain(|p| *p != pid);
            if let Some(v) = self.health.on_child_exit(pid, exit) {
                self.on_verdict(v);
            }
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        let healthy = matches!(verdict, Verdict::Healthy);
        if self.healthy != Some(healthy) {
            match &verdict {
                Verdict::Healthy => {
                    log::line(&format!("VRRP_Script({}) succeeded", self.check_name))
                }
                Verdict::Unhealthy(why) => {
                    log::line(&format!("VRRP_Script({}) failed: {why}", self.check_name))
                }
            }
        }
        self.check_text = match &verdict {
            Verdict::Healthy => "healthy".to_string(),
            Verdict::Unhealthy(why) => format!("failed: {why}"),
        };
        self.healthy = Some(healthy);
        self.apply_fault();
    }

    /// FAULT when the interface is down or the check failed; nothing until the first result.
    pub(super) fn apply_fault(&mut self) {
        let (fault, why) = match (self.link_up, self.healthy) {
            (false, _) => (
                true,
                Why::Down(format!("interface {} down", self.plan.interface)),
            ),
            (true, Some(false)) => (true, Why::Down(format!("health check {}", self.check_text))),
            (true, Some(true)) => (false, Why::Up),
            (true, None) => return,
        };
        let now = self.now();
        for i in 0..self.slots.len() {
            let actions = self.slots[i].machine.set_fault(now, fault, why.clone());
            self.execute(i, actions);
        }
    }
}

/// Index of an address family in per-family tables.
pub(super) fn family(addr: &IpAddr) -> usize {
    usize::from(addr.is_ipv6())
}
