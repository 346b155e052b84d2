//! The one synchronous `mio` loop: signals, VRRP packets, link changes, the health check and
//! timers go in; the core's actions come out and are executed here, in order.
use super::health::{Health, Verdict};
use super::host::Host;
use super::metrics::{InstanceStats, Metrics, Stats};
use super::receive::{self, Drops};
use super::status::{self, InstanceStatus, Status};
use super::report;
use super::transmit::Sender;
use crate::config::{InstancePlan, Plan};
use crate::log;
use crate::sys::netlink::{Link, Monitor, NetEvent, Rtnl};
use crate::sys::process;
use crate::sys::signals::SignalFd;
use crate::vrrp::{Action, Actions, Event, Instance, NotifyState, Params, State, Why};
use crate::vrrp::validate::validate;
use crate::wire::vrrp::Advert;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

const SIGNALS: Token = Token(0);
const VRRP4: Token = Token(1);
const VRRP6: Token = Token(2);
const NETLINK: Token = Token(3);
const HEALTH: Token = Token(4);
/// The metrics listener; its connections take the next `metrics::MAX_CONNS` tokens.
const METRICS: Token = Token(100);

/// Packets read per wake-up before timers get their turn (a flood must not starve adverts).
const RX_BATCH: usize = 64;
/// How long STOP notify scripts may run at shutdown before their groups are killed.
const STOP_NOTIFY_GRACE: Duration = Duration::from_secs(1);

/// One instance with what the loop keeps beside the pure machine.
struct Slot {
    plan: InstancePlan,
    machine: Instance,
    ip_id: u16,
    /// The master's address as last seen in an accepted advert (ours while MASTER).
    master: Option<IpAddr>,
    /// Wall-clock time (unix ms) and reason of the last transition, for `status`.
    since_ms: u64,
    why: String,
}

/// Everything the running daemon owns.
pub struct Daemon {
    plan: Plan,
    check_name: String,
    ifindex: u32,
    slots: Vec<Slot>,
    /// Per family (0 = IPv4, 1 = IPv6): VRID → index into `slots`.
    by_vrid: [[Option<u8>; 256]; 2],
    poll: Poll,
    signals: SignalFd,
    sender: Sender,
    rtnl: Rtnl,
    monitor: Monitor,
    health: Health,
    /// `None` until the first check result.
    healthy: Option<bool>,
    link_up: bool,
    start: Instant,
    drops: Drops,
    /// Notify scripts still running (pids), so shutdown can wait for STOP.
    notify_pids: Vec<i32>,
    /// The last health verdict in words, for `status`.
    check_text: String,
    /// When the status file was last written; `None` forces a write.
    status_written: Option<Instant>,
    /// A failed write is logged once.
    status_failed: bool,
    metrics: Option<Metrics>,
    /// Counters for the metrics.
    stats: Stats,
}

impl Daemon {
    /// Opens every socket and registers it. Nothing is sent yet.
    pub fn new(plan: Plan, host: &Host, signals: SignalFd, rtnl: Rtnl, sender: Sender) -> io::Result<Daemon> {
        let poll = Poll::new()?;
        let monitor = Monitor::open()?;
        let registry = poll.registry();
        registry.register(&mut SourceFd(&signals.as_raw_fd()), SIGNALS, Interest::READABLE)?;
        registry.register(&mut SourceFd(&monitor.as_raw_fd()), NETLINK, Interest::READABLE)?;
        let start = Instant::now();
        let health = Health::new(&plan.check, plan.node_ipv4, plan.check_interval, start)
            .with_rise_fall(plan.check_rise, plan.check_fall);
        let metrics = plan.metrics_port.map(|p| Metrics::open(p, registry, METRICS)).transpose()?;
        let stats = Stats { instances: vec![InstanceStats::default(); plan.instances.len()], ..Stats::default() };
        let mut by_vrid = [[None; 256]; 2];
        let mut slots = Vec::with_capacity(plan.instances.len());
        for (i, p) in plan.instances.iter().enumerate() {
            let first = p.vips.first().ok_or_else(|| io::Error::other(format!("{} has no VIP", p.name)))?;
            let local_addr = sender
                .source(first)
                .ok_or_else(|| io::Error::other(format!("{}: no VRRP socket for its family", p.name)))?;
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
            healthy: None,
            start,
            drops: Drops::default(),
            notify_pids: Vec::new(),
            check_text: "pending".to_string(),
            status_written: None,
            status_failed: false,
            metrics,
            stats,
        };
        daemon.register_vrrp()?;
        Ok(daemon)
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Runs until SIGTERM, SIGINT or SIGHUP; returns the exit status.
    pub fn run(&mut self) -> i32 {
        log::line(&format!("Health check: {}", self.health.describe()));
        if !self.link_up {
            log::line(&format!("Netlink: interface {} is down", self.plan.interface));
        }
        let mut events = Events::with_capacity(16);
        let mut rx_pending = false;
        loop {
            self.fire_timers();
            self.write_status();
            let timeout = if rx_pending { Some(Duration::ZERO) } else { self.next_timeout() };
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
        let instance = self.slots.iter().filter_map(|s| s.machine.next_deadline()).min().map(|d| self.start + d);
        let heartbeat = self.status_written.map(|t| t + status::HEARTBEAT);
        let metrics = self.metrics.as_ref().and_then(Metrics::deadline);
        let deadline = [instance, self.health.deadline(), heartbeat, metrics].into_iter().flatten().min()?;
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
            if self.slots[i].machine.next_deadline().is_some_and(|d| d <= t) {
                let actions = self.slots[i].machine.on_timeout(t);
                self.execute(i, actions);
            }
        }
    }

    /// Reads a bounded batch of packets from each socket; `true` when one may hold more.
    fn receive(&mut self) -> bool {
        let more4 = self.receive_v4();
        let more6 = self.receive_v6();
        more4 || more6
    }

    fn receive_v4(&mut self) -> bool {
        let mut buf = [0u8; 2048];
        for _ in 0..RX_BATCH {
            let Some(v4) = &self.sender.v4 else { return false };
            match v4.socket.recv(&mut buf) {
                Ok(Some(n)) => match receive::decode(&buf[..n]) {
                    Ok((ip, adv)) => {
                        let dst = IpAddr::V4(ip.dst);
                        self.on_advert(IpAddr::V4(ip.src), dst, ip.ttl, &adv);
                    }
                    Err(e) => {
                        let src = (n >= 20).then(|| IpAddr::V4(Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15])));
                        self.drops.malformed(src, &e);
                    }
                },
                Ok(None) => return false,
                // One oversized datagram was dropped; the socket is fine, keep draining.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => self.drops.counters.count("oversized"),
                Err(e) => {
                    log::line(&format!("VRRP receive error: {e}"));
                    return false;
                }
            }
        }
        true
    }

    fn receive_v6(&mut self) -> bool {
        let mut buf = [0u8; 8 + 16 * 256];
        for _ in 0..RX_BATCH {
            let Some(v6) = &self.sender.v6 else { return false };
            match v6.socket.recv(&mut buf) {
                Ok(Some(r)) => {
                    let (src, dst) = (IpAddr::V6(r.src), IpAddr::V6(r.dst));
                    match Advert::parse(&buf[..r.len], src, dst) {
                        Ok(adv) => self.on_advert(src, dst, r.hop_limit, &adv),
                        Err(e) => self.drops.malformed(Some(src), &e),
                    }
                }
                Ok(None) => return false,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => self.drops.counters.count("oversized"),
                Err(e) => {
                    log::line(&format!("VRRP (IPv6) receive error: {e}"));
                    return false;
                }
            }
        }
        true
    }

    fn on_advert(&mut self, from: IpAddr, dst: IpAddr, ttl: u8, adv: &Advert) {
        // Other VRIDs on the segment belong to other clusters: ignored silently, like keepalived.
        let Some(i) = self.by_vrid[family(&from)][usize::from(adv.vrid)].map(usize::from) else {
            return self.drops.counters.count("unknown_vrid");
        };
        let slot = &mut self.slots[i];
        if matches!(slot.machine.state(), State::Init | State::Fault) {
            return self.drops.counters.count("not_running");
        }
        let unicast = !self.plan.unicast_peers.is_empty();
        let expect = receive::expect(&slot.plan.vips, &self.sender.speak, unicast);
        if let Err(r) = validate(adv, ttl, dst, &expect) {
            return self.drops.rejected(&slot.plan.name, adv.vrid, from, &r, Instant::now());
        }
        self.drops.counters.count("accepted");
        self.stats.instances[i].adverts_received += 1;
        if adv.priority > 0 && slot.machine.state() == State::Backup {
            slot.master = Some(from);
        }
        let actions = slot.machine.on_advert(self.start.elapsed(), from, adv.priority, adv.interval_cs);
        self.execute(i, actions);
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

    fn on_netlink(&mut self) {
        let mut events = Vec::new();
        if let Err(e) = self.monitor.read_events(&mut events) {
            log::line(&format!("Netlink: monitor error: {e}; re-reading the interface"));
            match self.rtnl.links() {
                Ok(links) => {
                    if let Some(l) = links.into_iter().find(|l| l.index == self.ifindex) {
                        events.push(NetEvent::Link(l));
                    }
                }
                Err(e) => log::line(&format!("Netlink: cannot re-read links: {e}")),
            }
        }
        for event in events {
            match event {
                NetEvent::Link(l) if l.name == self.plan.interface && l.index != self.ifindex => self.reattach(&l),
                NetEvent::Link(l) if l.index == self.ifindex => {
                    let renamed = l.name != self.plan.interface;
                    if renamed {
                        log::line(&format!("Netlink: interface {} was renamed to {}", self.plan.interface, l.name));
                    }
                    self.set_link(l.up && l.running && !renamed);
                }
                NetEvent::AddrRemoved(a) if a.index == self.ifindex => self.on_addr_removed(a.addr),
                _ => {}
            }
        }
    }

    fn set_link(&mut self, up: bool) {
        if up != self.link_up {
            self.link_up = up;
            let word = if up { "up" } else { "down" };
            log::line(&format!("Netlink: interface {} is {word}", self.plan.interface));
            self.apply_fault();
        }
    }

    /// Our interface came back under a new index (deleted and re-created, or renamed back):
    /// reopen the sockets on it, keeping our source addresses.
    fn reattach(&mut self, link: &Link) {
        log::line(&format!("Netlink: interface {} is back (index {})", link.name, link.index));
        let src4 = self.sender.v4.as_ref().map(|t| t.src);
        let src6 = self.sender.v6.as_ref().map(|t| t.src);
        match Sender::open(&self.plan, link, src4, src6) {
            Ok(sender) => {
                self.sender = sender;
                self.ifindex = link.index;
                if let Err(e) = self.register_vrrp() {
                    log::line(&format!("cannot watch the new VRRP sockets: {e}"));
                }
                self.set_link(link.up && link.running);
            }
            Err(e) => log::line(&format!("cannot reopen VRRP sockets on {}: {e}; staying in FAULT", link.name)),
        }
    }

    fn register_vrrp(&self) -> io::Result<()> {
        let registry = self.poll.registry();
        if let Some(v4) = &self.sender.v4 {
            registry.register(&mut SourceFd(&v4.socket.as_raw_fd()), VRRP4, Interest::READABLE)?;
        }
        if let Some(v6) = &self.sender.v6 {
            registry.register(&mut SourceFd(&v6.socket.as_raw_fd()), VRRP6, Interest::READABLE)?;
        }
        Ok(())
    }

    /// Our own removals arrive here too, after we left MASTER; only a master reacts.
    fn on_addr_removed(&mut self, addr: IpAddr) {
        let now = self.now();
        if let Some(i) = self.slots.iter().position(|s| s.plan.vips.contains(&addr)) {
            let actions = self.slots[i].machine.on_vip_removed(now, addr);
            self.execute(i, actions);
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        let healthy = matches!(verdict, Verdict::Healthy);
        if self.healthy != Some(healthy) {
            match &verdict {
                Verdict::Healthy => log::line(&format!("VRRP_Script({}) succeeded", self.check_name)),
                Verdict::Unhealthy(why) => log::line(&format!("VRRP_Script({}) failed: {why}", self.check_name)),
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
    fn apply_fault(&mut self) {
        let (fault, why) = match (self.link_up, self.healthy) {
            (false, _) => (true, Why::Down(format!("interface {} down", self.plan.interface))),
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

    fn execute(&mut self, i: usize, actions: Actions) {
        for action in actions {
            self.execute_one(i, action);
        }
    }

    fn execute_one(&mut self, i: usize, action: Action) {
        let slot = &mut self.slots[i];
        let name = &slot.plan.name;
        match action {
            Action::SendAdvert { priority } => {
                match self.sender.send_advert(slot.plan.vrid, priority, &slot.plan.vips, &mut slot.ip_id) {
                    Ok(_) => self.stats.instances[i].adverts_sent += 1,
                    Err(e) => log::line(&format!("({name}) cannot send advert: {e}")),
                }
            }
            Action::AddVips => {
                if let Err(e) = self.rtnl.add_addrs(self.ifindex, &slot.plan.vips) {
                    log::line(&format!("({name}) cannot add VIPs: {e}"));
                }
            }
            Action::RemoveVips => {
                if let Err(e) = self.rtnl.del_addrs(self.ifindex, &slot.plan.vips) {
                    log::line(&format!("({name}) cannot remove VIPs: {e}"));
                }
            }
            Action::Garp => {
                if let Err(e) = self.sender.garp(&slot.plan.vips) {
                    log::line(&format!("({name}) cannot send gratuitous ARP: {e}"));
                }
            }
            Action::Notify(state) => {
                let (name, priority) = (name.clone(), slot.plan.priority);
                self.notify(&name, state, priority);
            }
            Action::Log(event) => {
                let lines = report::lines(name, slot.plan.priority, &event);
                for l in &lines {
                    log::line(l);
                }
                if let Event::Entering { state, why } = event {
                    self.stats.instances[i].transitions += 1;
                    slot.since_ms = status::unix_ms(SystemTime::now());
                    slot.why = report::reason(&why, slot.plan.priority);
                    slot.master = (state == State::Master).then(|| self.sender.source(&slot.plan.vips[0])).flatten();
                    self.status_written = None;
                }
            }
        }
    }

    /// Fire and forget: the script runs in its own group and is reaped on SIGCHLD.
    fn notify(&mut self, name: &str, state: NotifyState, priority: u8) {
        let Some(script) = &self.plan.notify else { return };
        let prio = priority.to_string();
        match process::spawn_script(&script.argv, &["INSTANCE", name, state.as_str(), &prio], false) {
            Ok(child) => self.notify_pids.push(child.pid),
            Err(e) => {
                self.stats.notify_exec_failures += 1;
                log::line(&format!("({name}) notify script failed to start: {e}"));
            }
        }
    }

    /// Hand off first (priority-0 adverts from every master), then remove VIPs, then STOP
    /// notifies, then give those scripts a moment.
    fn shutdown(&mut self) -> i32 {
        let mut all: Vec<(usize, Action)> = Vec::new();
        for i in 0..self.slots.len() {
            all.extend(self.slots[i].machine.shutdown().into_iter().map(|a| (i, a)));
        }
        all.sort_by_key(|(_, a)| match a {
            Action::SendAdvert { .. } => 0,
            Action::RemoveVips => 1,
            _ => 2,
        });
        for (i, action) in all {
            self.execute_one(i, action);
        }
        let deadline = Instant::now() + STOP_NOTIFY_GRACE;
        while !self.notify_pids.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            for (pid, _) in process::reap() {
                self.notify_pids.retain(|p| *p != pid);
            }
        }
        for pid in self.notify_pids.drain(..) {
            process::kill_group(pid, libc::SIGKILL);
        }
        log::line("Stopped");
        0
    }

    /// Rewrites the status file when something changed or the heartbeat is due.
    fn write_status(&mut self) {
        let now = Instant::now();
        if self.status_written.is_some_and(|t| now < t + status::HEARTBEAT) {
            return;
        }
        self.status_written = Some(now);
        let Some(path) = &self.plan.status_file else { return };
        let snapshot = self.snapshot();
        if let Err(e) = status::write(std::path::Path::new(path), &snapshot) {
            if !self.status_failed {
                log::line(&format!("cannot write the status file {path}: {e} (status and probe will not work)"));
            }
            self.status_failed = true;
        }
    }

    /// What `status` and `/metrics` show now.
    fn snapshot(&self) -> Status {
        Status {
            pid: std::process::id(),
            heartbeat_ms: status::unix_ms(SystemTime::now()),
            check: self.check_text.clone(),
            instances: self
                .slots
                .iter()
                .map(|s| InstanceStatus {
                    name: s.plan.name.clone(),
                    vrid: s.plan.vrid,
                    state: report::state_word(s.machine.state()).to_string(),
                    priority: s.plan.priority,
                    master: s.master.map(|a| a.to_string()),
                    since_ms: s.since_ms,
                    vips: s.plan.vips.iter().map(IpAddr::to_string).collect(),
                    why: s.why.clone(),
                })
                .collect(),
            counters: self.drops.counters.by_kind.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        }
    }

}

/// Index of an address family in per-family tables.
fn family(addr: &IpAddr) -> usize {
    usize::from(addr.is_ipv6())
}
