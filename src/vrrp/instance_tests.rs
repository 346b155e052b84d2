//! State machine tests: every transition of keepalived-behaviour.md §4.8, timers and preemption.
use super::instance::*;
use crate::config::Preemption;
use crate::wire::vrrp::Version;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const LOWER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const HIGHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn inst(priority: u8, preemption: Preemption) -> Instance {
    Instance::new(Params {
        version: Version::V2,
        priority,
        preemption,
        interval_cs: 100,
        local_addr: ME,
    })
}

fn backup(priority: u8, preemption: Preemption) -> Instance {
    let mut i = inst(priority, preemption);
    i.set_fault(ms(0), false, Why::Up);
    i
}

/// A master at priority `p`, having taken over at t = 3.7 s.
fn master(priority: u8, preemption: Preemption) -> (Instance, Duration) {
    let mut i = backup(priority, preemption);
    let t = i.next_deadline().expect("down timer");
    let a = i.on_timeout(t);
    assert_eq!(i.state(), State::Master, "{a:?}");
    (i, t)
}

fn kinds(actions: &Actions) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Log(_)))
        .cloned()
        .collect()
}

fn entering(actions: &Actions) -> Option<State> {
    actions.iter().find_map(|a| match a {
        Action::Log(Event::Entering { state, .. }) => Some(*state),
        _ => None,
    })
}

#[test]
fn init_waits_for_the_first_health_verdict() {
    let mut i = inst(100, Preemption::Preempt);
    assert_eq!(i.state(), State::Init);
    assert_eq!(i.next_deadline(), None);
    assert!(i.on_advert(ms(0), HIGHER_IP, 200, 100).is_empty());
    assert!(i.on_timeout(ms(10_000)).is_empty());
}

#[test]
fn healthy_start_enters_backup_with_notify_and_down_timer() {
    let mut i = inst(100, Preemption::Preempt);
    let a = i.set_fault(ms(0), false, Why::Up);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(entering(&a), Some(State::Backup));
    assert_eq!(kinds(&a), vec![Action::Notify(NotifyState::Backup)]);
    assert_eq!(i.next_deadline(), Some(Duration::from_micros(3_609_375)));
}

#[test]
fn failing_first_check_enters_fault_with_notify() {
    let mut i = inst(100, Preemption::Preempt);
    let a = i.set_fault(ms(0), true, Why::Down("check failed".into()));
    assert_eq!(i.state(), State::Fault);
    assert_eq!(kinds(&a), vec![Action::Notify(NotifyState::Fault)]);
    assert_eq!(i.next_deadline(), None);
}

#[test]
fn down_timer_makes_master_in_keepalived_order() {
    let mut i = backup(100, Preemption::Preempt);
    assert!(i.on_timeout(ms(3_609)).is_empty(), "not yet");
    let a = i.on_timeout(Duration::from_micros(3_609_375));
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        kinds(&a),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::AddVips,
            Action::Garp,
            Action::Notify(NotifyState::Master)
        ]
    );
    // Advert first, then the Entering line, then VIPs.
    assert!(matches!(
        a[1],
        Action::Log(Event::Entering {
            state: State::Master,
            why: Why::MasterDown
        })
    ));
}

#[test]
fn master_adverts_every_interval_and_garps_again_after_5s() {
    let (mut i, t0) = master(100, Preemption::Preempt);
    assert_eq!(i.next_deadline(), Some(t0 + ms(1000)));
    let mut adverts = 0;
    let mut garps = 0;
    let mut t = t0;
    while t < t0 + ms(10_000) {
        t = i.next_deadline().expect("master always has a deadline");
        for a in i.on_timeout(t) {
            match a {
                Action::SendAdvert { priority: 100 } => adverts += 1,
                Action::Garp => garps += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(adverts, 10);
    assert_eq!(garps, 1, "one delayed burst at +5 s");
}

#[test]
fn late_timer_does_not_burst_adverts() {
    let (mut i, t0) = master(100, Preemption::Preempt);
    let a = i.on_timeout(t0 + ms(5_500));
    assert_eq!(
        a.iter()
            .filter(|a| matches!(a, Action::SendAdvert { .. }))
            .count(),
        1
    );
    assert_eq!(i.next_deadline(), Some(t0 + ms(6_500)));
}

#[test]
fn backup_resets_down_timer_on_higher_or_equal_advert() {
    for theirs in [100, 150, 254] {
        let mut i = backup(100, Preemption::Preempt);
        assert!(i.on_advert(ms(3_000), HIGHER_IP, theirs, 100).is_empty());
        assert_eq!(
            i.next_deadline(),
            Some(ms(3_000) + Duration::from_micros(3_609_375))
        );
        assert_eq!(i.state(), State::Backup);
    }
}

#[test]
fn equal_priority_in_backup_is_not_preempted_even_from_lower_address() {
    let mut i = backup(100, Preemption::Preempt);
    for k in 1..20 {
        i.on_advert(ms(k * 1000), LOWER_IP, 100, 100);
        assert!(i.on_timeout(ms(k * 1000 + 1)).is_empty());
    }
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn priority_zero_makes_backup_take_over_after_skew() {
    let mut i = backup(100, Preemption::Preempt);
    i.on_advert(ms(1_000), HIGHER_IP, 200, 100);
    let a = i.on_advert(ms(1_500), HIGHER_IP, 0, 100);
    assert!(matches!(a[0], Action::Log(Event::MasterStepsDown { .. })));
    assert_eq!(
        i.next_deadline(),
        Some(ms(1_500) + Duration::from_micros(609_375))
    );
    let a = i.on_timeout(ms(2_110));
    assert_eq!(i.state(), State::Master);
    assert!(
        matches!(
            a[1],
            Action::Log(Event::Entering {
                why: Why::HandOff,
                ..
            })
        ),
        "{a:?}"
    );
}

#[test]
fn preempt_discards_lower_advert_and_takes_over_at_down_timer() {
    let mut i = backup(200, Preemption::Preempt);
    let deadline = i.next_deadline();
    let a = i.on_advert(ms(1_000), LOWER_IP, 100, 100);
    assert!(matches!(
        a[0],
        Action::Log(Event::DiscardingLower { theirs: 100, .. })
    ));
    assert_eq!(
        i.next_deadline(),
        deadline,
        "discarded advert leaves the timer alone"
    );
}

#[test]
fn nopreempt_never_takes_over_from_a_live_lower_master() {
    let mut i = backup(200, Preemption::NoPreempt);
    for k in 1..400 {
        i.on_advert(ms(k * 1000), LOWER_IP, 50, 100);
        i.on_timeout(ms(k * 1000 + 1));
    }
    assert_eq!(i.state(), State::Backup);
    // ...but does when the adverts stop.
    let t = i.next_deadline().expect("down timer");
    i.on_timeout(t);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn preempt_delay_counts_from_first_lower_advert() {
    let delay = Duration::from_secs(300);
    let mut i = backup(200, Preemption::Delay(delay));
    let a = i.on_advert(ms(1_000), LOWER_IP, 50, 100);
    assert!(matches!(
        a[0],
        Action::Log(Event::PreemptDelayStarted { .. })
    ));
    // During the delay every lower advert is accepted.
    let mut t = ms(1_000);
    while t < ms(1_000) + delay {
        t += ms(1_000);
        i.on_advert(t, LOWER_IP, 50, 100);
        assert!(i.on_timeout(t + ms(1)).is_empty(), "at {t:?}");
    }
    // After it, lower adverts are discarded and the down timer fires.
    let a = i.on_advert(t + ms(1_000), LOWER_IP, 50, 100);
    assert!(matches!(a[0], Action::Log(Event::DiscardingLower { .. })));
    let takeover = i.next_deadline().expect("down timer");
    assert!(takeover - ms(1_000) <= delay + ms(1_000) + ms(3_022));
    i.on_timeout(takeover);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn preempt_delay_is_cleared_by_a_higher_advert() {
    let mut i = backup(200, Preemption::Delay(ms(10_000)));
    i.on_advert(ms(1_000), LOWER_IP, 50, 100);
    i.on_advert(ms(2_000), HIGHER_IP, 250, 100);
    let a = i.on_advert(ms(3_000), LOWER_IP, 50, 100);
    assert!(
        matches!(a[0], Action::Log(Event::PreemptDelayStarted { .. })),
        "restarted: {a:?}"
    );
}

#[test]
fn preempt_delay_does_not_delay_startup_without_master() {
    let mut i = backup(200, Preemption::Delay(Duration::from_secs(300)));
    let t = i.next_deadline().expect("down timer");
    assert!(t < ms(3_300));
    i.on_timeout(t);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn master_yields_to_higher_priority_without_sending() {
    let (mut i, t) = master(100, Preemption::Preempt);
    let a = i.on_advert(t + ms(10), LOWER_IP, 101, 100);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(
        kinds(&a),
        vec![Action::RemoveVips, Action::Notify(NotifyState::Backup)]
    );
    assert!(matches!(
        a[0],
        Action::Log(Event::Entering {
            state: State::Backup,
            why: Why::HigherPriority { priority: 101, .. }
        })
    ));
    assert_eq!(
        i.next_deadline(),
        Some(t + ms(10) + Duration::from_micros(3_609_375))
    );
}

#[test]
fn master_tie_break_on_primary_address() {
    let (mut i, t) = master(100, Preemption::Preempt);
    let a = i.on_advert(t, LOWER_IP, 100, 100);
    assert_eq!(i.state(), State::Master, "lower address loses");
    assert_eq!(
        kinds(&a),
        vec![Action::SendAdvert { priority: 100 }, Action::Garp]
    );
    let a = i.on_advert(t, HIGHER_IP, 100, 100);
    assert_eq!(i.state(), State::Backup, "higher address wins");
    assert!(matches!(
        a[0],
        Action::Log(Event::Entering {
            why: Why::HigherAddress { .. },
            ..
        })
    ));
}

#[test]
fn master_answers_lower_advert_without_moving_its_schedule() {
    let (mut i, t) = master(200, Preemption::Preempt);
    let next = i.next_deadline();
    let a = i.on_advert(t + ms(300), LOWER_IP, 100, 100);
    assert!(matches!(
        a[0],
        Action::Log(Event::LowerPriority {
            theirs: 100,
            ours: 200,
            ..
        })
    ));
    assert_eq!(
        kinds(&a),
        vec![Action::SendAdvert { priority: 200 }, Action::Garp]
    );
    assert_eq!(i.next_deadline(), next);
}

#[test]
fn master_answers_priority_zero_with_an_advert() {
    let (mut i, t) = master(100, Preemption::Preempt);
    let a = i.on_advert(t, HIGHER_IP, 0, 100);
    assert_eq!(kinds(&a), vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn own_address_at_equal_priority_is_only_logged() {
    let (mut i, t) = master(100, Preemption::Preempt);
    let a = i.on_advert(t, ME, 100, 100);
    assert_eq!(a.as_slice(), &[Action::Log(Event::OwnAddress { from: ME })]);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn master_fault_sends_two_priority_zero_adverts_then_drops_vips() {
    let (mut i, t) = master(100, Preemption::Preempt);
    let a = i.set_fault(t, true, Why::Down("check failed".into()));
    assert_eq!(i.state(), State::Fault);
    assert_eq!(
        kinds(&a),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::Notify(NotifyState::Fault)
        ]
    );
    assert_eq!(i.next_deadline(), None);
    assert!(
        i.on_advert(t, LOWER_IP, 1, 100).is_empty(),
        "FAULT ignores adverts"
    );
}

#[test]
fn fault_recovers_to_backup_and_repeated_verdicts_are_silent() {
    let mut i = backup(100, Preemption::Preempt);
    assert!(!i.set_fault(ms(1), true, Why::Down("x".into())).is_empty());
    assert!(i.set_fault(ms(2), true, Why::Down("x".into())).is_empty());
    let a = i.set_fault(ms(3), false, Why::Up);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(kinds(&a), vec![Action::Notify(NotifyState::Backup)]);
    assert!(i.set_fault(ms(4), false, Why::Up).is_empty());
}

#[test]
fn shutdown_of_master_hands_off_then_removes_then_notifies() {
    let (mut i, _) = master(100, Preemption::Preempt);
    assert_eq!(
        i.shutdown().to_vec(),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::Notify(NotifyState::Stop)
        ]
    );
    assert_eq!(i.next_deadline(), None);
}

#[test]
fn shutdown_of_backup_only_notifies() {
    let mut i = backup(100, Preemption::Preempt);
    assert_eq!(
        i.shutdown().to_vec(),
        vec![Action::Notify(NotifyState::Stop)]
    );
}

#[test]
fn v3_backup_adopts_the_masters_interval() {
    let mut i = Instance::new(Params {
        version: Version::V3,
        priority: 100,
        preemption: Preemption::Preempt,
        interval_cs: 100,
        local_addr: ME,
    });
    i.set_fault(ms(0), false, Why::Up);
    i.on_advert(ms(100), HIGHER_IP, 200, 10);
    // 3 × 100 ms + (256-100)/256 × 100 ms
    assert_eq!(
        i.next_deadline(),
        Some(ms(100) + Duration::from_micros(360_937))
    );
}

#[test]
fn vip_removed_by_hand_steps_down_then_retakes_after_skew() {
    let (mut i, t) = master(100, Preemption::Preempt);
    let vip: IpAddr = "192.0.2.201".parse().expect("vip");
    let a = i.on_vip_removed(t, vip);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(
        kinds(&a),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::Notify(NotifyState::Backup)
        ]
    );
    assert!(matches!(
        a[1],
        Action::Log(Event::Entering {
            why: Why::VipRemoved(_),
            ..
        })
    ));
    assert_eq!(i.next_deadline(), Some(t + Duration::from_micros(609_375)));
    let a = i.on_timeout(t + Duration::from_micros(609_375));
    assert_eq!(i.state(), State::Master);
    assert!(kinds(&a).contains(&Action::AddVips));
}

#[test]
fn vip_removed_outside_master_is_ignored() {
    let mut i = backup(100, Preemption::Preempt);
    assert!(
        i.on_vip_removed(ms(5), "192.0.2.201".parse().expect("vip"))
            .is_empty()
    );
}
