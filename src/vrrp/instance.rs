//! One VRRP instance as a pure state machine (RFC 3768 §6.4, RFC 5798 §6.4, keepalived 2.2).
//!
//! Inputs are events plus `now` (time since daemon start); outputs are [`Action`]s in the
//! order they must be executed. The instance never sleeps: the caller asks
//! [`Instance::next_deadline`] and calls [`Instance::on_timeout`] when it is reached.
use super::timers::{interval, master_down_interval, skew_time};
use crate::config::Preemption;
use crate::wire::vrrp::Version;
use smallvec::SmallVec;
use std::net::IpAddr;
use std::time::Duration;

/// GARP rounds and the delay before the second burst (keepalived garp_master_repeat / _delay).
pub const GARP_DELAY: Duration = Duration::from_secs(5);

/// Protocol states. `Init` means "not started yet": waiting for the first health verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
}

/// The state word passed to the notify script (`$3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
}

impl NotifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }
}

/// Why a transition happened; logged on the line before keepalived's `Entering ... STATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The node became healthy (first check result, or recovery).
    Up,
    /// The health check failed or the interface went down; the text says which.
    Down(String),
    /// No advert within Master_Down_Interval.
    MasterDown,
    /// The master left (priority-0 advert) and Skew_Time passed.
    HandOff,
    /// A better advert arrived while we were master.
    HigherPriority { from: IpAddr, priority: u8 },
    /// Same priority, higher primary address.
    HigherAddress { from: IpAddr, priority: u8 },
    /// Someone removed one of our VIPs from the interface while we were master.
    VipRemoved(IpAddr),
}

/// Something worth one log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `(name) Entering <STATE> STATE`, preceded by the reason.
    Entering { state: State, why: Why },
    /// As master: a lower advert forced a new election (we re-advertise and re-GARP).
    LowerPriority { from: IpAddr, theirs: u8, ours: u8 },
    /// As backup: a lower-priority master is being discarded (preemption under way).
    DiscardingLower { from: IpAddr, theirs: u8 },
    /// As backup: the preempt delay started.
    PreemptDelayStarted {
        from: IpAddr,
        theirs: u8,
        delay: Duration,
    },
    /// As master: an equal-priority advert carrying our own address.
    OwnAddress { from: IpAddr },
    /// As backup: the master gave up (priority 0); we take over after Skew_Time.
    MasterStepsDown { from: IpAddr },
}

/// What the caller must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send one advert with this priority (0 = "I am leaving").
    SendAdvert { priority: u8 },
    /// Add every VIP of the instance to the interface.
    AddVips,
    /// Remove every VIP of the instance from the interface.
    RemoveVips,
    /// One burst of gratuitous ARP / unsolicited NA: 5 rounds over every VIP.
    Garp,
    /// Run the notify script with this state.
    Notify(NotifyState),
    /// Log one line.
    Log(Event),
}

pub type Actions = SmallVec<[Action; 8]>;

/// The fixed parameters of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub version: Version,
    pub priority: u8,
    pub preemption: Preemption,
    /// Our own advert interval, centiseconds.
    pub interval_cs: u16,
    /// Our primary address, compared with the sender's on equal priority.
    pub local_addr: IpAddr,
}

/// A running instance.
#[derive(Clone, Debug)]
pub struct Instance {
    params: Params,
    state: State,
    /// v3: learned from the master's adverts; v2: always our own interval.
    master_interval_cs: u16,
    /// BACKUP: when the master is declared down.
    down_at: Option<Duration>,
    /// MASTER: when the next advert is due.
    advert_at: Option<Duration>,
    /// MASTER: when the second GARP burst is due.
    garp_at: Option<Duration>,
    /// BACKUP with preempt_delay: when the first lower-priority advert was seen.
    preempt_since: Option<Duration>,
    /// BACKUP: the down timer was shortened by a priority-0 advert.
    handing_off: bool,
}

impl Instance {
    pub fn new(params: Params) -> Instance {
        Instance {
            master_interval_cs: params.interval_cs,
            params,
            state: State::Init,
            down_at: None,
            advert_at: None,
            garp_at: None,
            preempt_since: None,
            handing_off: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The earliest time at which [`Instance::on_timeout`] has something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.down_at, self.advert_at, self.garp_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn master_down(&self) -> Duration {
        master_down_interval(
            self.params.version,
            self.params.priority,
            self.master_interval_cs,
        )
    }

    fn skew(&self) -> Duration {
        skew_time(
            self.params.version,
            self.params.priority,
            self.master_interval_cs,
        )
    }

    fn clear_timers(&mut self) {
        self.down_at = None;
        self.advert_at = None;
        self.garp_at = None;
        self.preempt_since = None;
        self.handing_off = false;
    }

    /// The node's fault condition changed (health check or interface). `Init` leaves on the
    /// first call either way.
    pub fn set_fault(&mut self, now: Duration, fault: bool, why: Why) -> Actions {
        let mut out = Actions::new();
        match (self.state, fault) {
            (State::Init | State::Backup, true) => {
                self.clear_timers();
                self.enter(State::Fault, why, &mut out);
                out.push(Action::Notify(NotifyState::Fault));
            }
            (State::Master, true) => {
                self.clear_timers();
                // keepalived sends two priority-0 adverts when a master faults.
                out.push(Action::SendAdvert { priority: 0 });
                out.push(Action::SendAdvert { priority: 0 });
                self.enter(State::Fault, why, &mut out);
                out.push(Action::RemoveVips);
                out.push(Action::Notify(NotifyState::Fault));
            }
            (State::Init | State::Fault, false) => self.become_backup(now, why, &mut out),
            (State::Backup | State::Master, false) | (State::Fault, true) => {}
        }
        out
    }

    fn become_backup(&mut self, now: Duration, why: Why, out: &mut Actions) {
        self.clear_timers();
        self.master_interval_cs = self.params.interval_cs;
        self.down_at = Some(now + self.master_down());
        self.enter(State::Backup, why, out);
        out.push(Action::Notify(NotifyState::Backup));
    }

    fn become_master(&mut self, now: Duration, out: &mut Actions) {
        let why = if self.handing_off {
            Why::HandOff
        } else {
            Why::MasterDown
        };
        self.clear_timers();
        // Advert first: the old master must drop the VIPs before our GARPs go out.
        out.push(Action::SendAdvert {
            priority: self.params.priority,
        });
        self.enter(State::Master, why, out);
        out.push(Action::AddVips);
        out.push(Action::Garp);
        out.push(Action::Notify(NotifyState::Master));
        self.advert_at = Some(now + interval(self.params.interval_cs));
        self.garp_at = Some(now + GARP_DELAY);
    }

    fn enter(&mut self, state: State, why: Why, out: &mut Actions) {
        self.state = state;
        out.push(Action::Log(Event::Entering { state, why }));
    }

    /// Timers: master-down in BACKUP, advert and second GARP burst in MASTER.
    pub fn on_timeout(&mut self, now: Duration) -> Actions {
        let mut out = Actions::new();
        match self.state {
            State::Backup if self.down_at.is_some_and(|t| t <= now) => {
                self.become_master(now, &mut out)
            }
            State::Master => {
                if let Some(t) = self.advert_at.filter(|t| *t <= now) {
                    out.push(Action::SendAdvert {
                        priority: self.params.priority,
                    });
                    // Keep the schedule: the next advert is one interval after the due time,
                    // unless we are more than an interval late.
                    let step = interval(self.params.interval_cs);
                    self.advert_at = Some(if t + step > now { t + step } else { now + step });
                }
                if self.garp_at.is_some_and(|t| t <= now) {
                    self.garp_at = None;
                    out.push(Action::Garp);
                }
            }
            _ => {}
        }
        out
    }

    /// A valid advert for our VRID (already checked by [`super::validate`]).
    pub fn on_advert(
        &mut self,
        now: Duration,
        from: IpAddr,
        priority: u8,
        interval_cs: u16,
    ) -> Actions {
        let mut out = Actions::new();
        match self.state {
            State::Backup => self.backup_rx(now, from, priority, interval_cs, &mut out),
            State::Master => self.master_rx(now, from, priority, interval_cs, &mut out),
            State::Init | State::Fault => {}
        }
        out
    }

    fn backup_rx(
        &mut self,
        now: Duration,
        from: IpAddr,
        theirs: u8,
        interval_cs: u16,
        out: &mut Actions,
    ) {
        let ours = self.params.priority;
        if theirs == 0 {
            self.down_at = Some(now + self.skew());
            self.handing_off = true;
            out.push(Action::Log(Event::MasterStepsDown { from }));
            return;
        }
        let delaying = match self.params.preemption {
            Preemption::Delay(d) => self.preempt_since.is_none_or(|since| now < since + d),
            Preemption::Preempt | Preemption::NoPreempt => false,
        };
        // Equal priority counts as higher in BACKUP: no address tie-break here (RFC 5798 §6.4.2).
        if self.params.preemption == Preemption::NoPreempt || theirs >= ours || delaying {
            if self.params.version == Version::V3 {
                self.master_interval_cs = interval_cs;
            }
            self.down_at = Some(now + self.master_down());
            self.handing_off = false;
            if theirs >= ours {
                self.preempt_since = None;
            } else if let (Preemption::Delay(delay), None) =
                (self.params.preemption, self.preempt_since)
            {
                self.preempt_since = Some(now);
                out.push(Action::Log(Event::PreemptDelayStarted {
                    from,
                    theirs,
                    delay,
                }));
            }
        } else {
            // Discard: the down timer keeps running and we take over when it fires.
            out.push(Action::Log(Event::DiscardingLower { from, theirs }));
        }
    }

    fn master_rx(
        &mut self,
        now: Duration,
        from: IpAddr,
        theirs: u8,
        interval_cs: u16,
        out: &mut Actions,
    ) {
        let ours = self.params.priority;
        let local = self.params.local_addr;
        if theirs == 0 {
            out.push(Action::SendAdvert { priority: ours });
            return;
        }
        if theirs == ours && from == local {
            out.push(Action::Log(Event::OwnAddress { from }));
            return;
        }
        if theirs < ours || (theirs == ours && from < local) {
            // keepalived answers at once and re-announces the VIPs; our advert schedule is
            // untouched (a received packet never postpones our adverts).
            out.push(Action::Log(Event::LowerPriority { from, theirs, ours }));
            out.push(Action::SendAdvert { priority: ours });
            out.push(Action::Garp);
            self.garp_at = Some(now + GARP_DELAY);
            return;
        }
        let why = if theirs > ours {
            Why::HigherPriority {
                from,
                priority: theirs,
            }
        } else {
            Why::HigherAddress {
                from,
                priority: theirs,
            }
        };
        self.clear_timers();
        if self.params.version == Version::V3 {
            self.master_interval_cs = interval_cs;
        }
        self.enter(State::Backup, why, out);
        out.push(Action::RemoveVips);
        out.push(Action::Notify(NotifyState::Backup));
        self.down_at = Some(now + self.master_down());
    }

    /// A VIP vanished from the interface while we were master (someone ran `ip addr del`).
    /// As keepalived: step down with one priority-0 advert and take over again after
    /// Skew_Time, which puts every VIP back and re-announces it.
    pub fn on_vip_removed(&mut self, now: Duration, vip: IpAddr) -> Actions {
        let mut out = Actions::new();
        if self.state != State::Master {
            return out;
        }
        self.clear_timers();
        out.push(Action::SendAdvert { priority: 0 });
        self.enter(State::Backup, Why::VipRemoved(vip), &mut out);
        out.push(Action::RemoveVips);
        out.push(Action::Notify(NotifyState::Backup));
        self.down_at = Some(now + self.skew());
        self.handing_off = true;
        out
    }

    /// SIGTERM: a master hands off at once (priority 0) and removes its VIPs; every instance
    /// notifies STOP. The instance is inert afterwards.
    pub fn shutdown(&mut self) -> Actions {
        let mut out = Actions::new();
        if self.state == State::Master {
            out.push(Action::SendAdvert { priority: 0 });
            out.push(Action::RemoveVips);
        }
        out.push(Action::Notify(NotifyState::Stop));
        self.clear_timers();
        self.state = State::Init;
        out
    }
}
