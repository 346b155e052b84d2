//! Carrying out the core's actions, in order: adverts, VIPs, GARPs, notify scripts and log
//! lines; the shutdown sequence; and the status snapshot other processes read.
use super::event_loop::{Daemon, STOP_NOTIFY_GRACE};
use super::report;
use super::status::{self, InstanceStatus, Status};
use crate::log;
use crate::sys::process;
use crate::vrrp::{Action, Actions, Event, NotifyState, State, Why};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

impl Daemon {
    pub(super) fn execute(&mut self, i: usize, actions: Actions) {
        for action in actions {
            self.execute_one(i, action);
        }
    }

    pub(super) fn execute_one(&mut self, i: usize, action: Action) {
        let slot = &mut self.slots[i];
        let name = &slot.plan.name;
        match action {
            Action::SendAdvert { priority } => {
                match self.sender.send_advert(
                    slot.plan.vrid,
                    priority,
                    &slot.plan.vips,
                    &mut slot.ip_id,
                ) {
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
                    slot.master = match (state, &why) {
                        (State::Master, _) => self.sender.source(&slot.plan.vips[0]),
                        // The advert that made us step down names the new master.
                        (_, Why::HigherPriority { from, .. } | Why::HigherAddress { from, .. }) => {
                            Some(*from)
                        }
                        _ => None,
                    };
                    self.status_written = None;
                    self.status_touched = None;
                }
            }
        }
    }

    /// Fire and forget: the script runs in its own group and is reaped on SIGCHLD.
    pub(super) fn notify(&mut self, name: &str, state: NotifyState, priority: u8) {
        let Some(script) = &self.plan.notify else {
            return;
        };
        let prio = priority.to_string();
        match process::spawn_script(
            &script.argv,
            &["INSTANCE", name, state.as_str(), &prio],
            false,
        ) {
            Ok(child) => self.notify_pids.push(child.pid),
            Err(e) => {
                self.stats.notify_exec_failures += 1;
                log::line(&format!("({name}) notify script failed to start: {e}"));
            }
        }
    }

    /// Hand off first (priority-0 adverts from every master), then remove VIPs, then STOP
    /// notifies, then give those scripts a moment.
    pub(super) fn shutdown(&mut self) -> i32 {
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
    pub(super) fn write_status(&mut self) {
        let now = Instant::now();
        if self
            .status_touched
            .is_some_and(|t| now < t + status::HEARTBEAT)
        {
            return;
        }
        self.status_touched = Some(now);
        let Some(path) = &self.plan.status_file else {
            return;
        };
        let path = std::path::Path::new(path);
        // Rewriting 255 instances every second costs more than the rest of a steady-state
        // master's second; when nothing moved, a touch (the file's mtime) is the heartbeat.
        let moved = self.status_counted != self.drops.counters.total;
        let full = moved
            || self
                .status_written
                .is_none_or(|t| now >= t + status::REFRESH);
        let written = if full {
            self.status_written = Some(now);
            self.status_counted = self.drops.counters.total;
            status::write(path, &self.snapshot())
        } else {
            status::touch(path)
        };
        if let Err(e) = written {
            if !self.status_failed {
                log::line(&format!(
                    "cannot write the status file {}: {e} (status and probe will not work)",
                    path.display()
                ));
            }
            self.status_failed = true;
            // Try a full write next time: the file may be gone.
            self.status_written = None;
        }
    }

    /// What `status` and `/metrics` show now.
    pub(super) fn snapshot(&self) -> Status {
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
            counters: self
                .drops
                .counters
                .by_kind
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
        }
    }
}
