//! Log lines for the core's events, keeping keepalived's phrases byte for byte where
//! alerts and the OpenShift e2e tests grep for them.
use crate::vrrp::{Event, State, Why};

/// keepalived's state word in `Entering <WORD> STATE`.
pub fn state_word(state: State) -> &'static str {
    match state {
        State::Init => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// The lines for one event of instance `name`: the reason (if any) first, then the event.
pub fn lines(name: &str, ours: u8, event: &Event) -> Vec<String> {
    match event {
        Event::Entering { state, why } => {
            let mut out = Vec::with_capacity(2);
            // Health and link changes are logged once for the node, not per instance.
            if !matches!(why, Why::Up | Why::Down(_)) {
                out.push(format!("({name}) {}", reason(why, ours)));
            }
            out.push(format!("({name}) Entering {} STATE", state_word(*state)));
            out
        }
        Event::LowerPriority { from, theirs, ours } => vec![format!(
            "({name}) Received advert from {from} with lower priority {theirs}, ours {ours}, forcing new election"
        )],
        Event::DiscardingLower { from, theirs } => {
            vec![format!(
                "({name}) received lower priority ({theirs}) advert from {from} - discarding"
            )]
        }
        Event::PreemptDelayStarted {
            from,
            theirs,
            delay,
        } => vec![format!(
            "({name}) start preempt delay ({} s): lower priority ({theirs}) advert from {from}",
            delay.as_secs()
        )],
        Event::OwnAddress { .. } => {
            vec![format!(
                "({name}) WARNING - equal priority advert received from remote host with our IP address."
            )]
        }
        Event::MasterStepsDown { from } => {
            vec![format!(
                "({name}) Backup received priority 0 advertisement from {from}"
            )]
        }
    }
}

/// Why a transition happened, in words (also shown by `ipfailover status`).
pub fn reason(why: &Why, ours: u8) -> String {
    match why {
        Why::Up => "node healthy".to_string(),
        Why::Down(what) => what.clone(),
        Why::MasterDown => "no advert from a master within Master_Down_Interval".to_string(),
        Why::VipRemoved(vip) => {
            format!("VIP {vip} was removed from the interface by someone else; re-taking")
        }
        Why::HandOff => "the master handed off (priority 0); Skew_Time passed".to_string(),
        Why::HigherPriority { from, priority } => {
            format!(
                "Master received advert from {from} with higher priority {priority}, ours {ours}"
            )
        }
        Why::HigherAddress { from, priority } => {
            format!(
                "Master received advert from {from} with same priority {priority} but higher IP address than ours"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn entering_lines_are_keepalived_byte_for_byte() {
        let l = lines(
            "ipfailover_VIP_1",
            100,
            &Event::Entering {
                state: State::Master,
                why: Why::Up,
            },
        );
        assert_eq!(l, vec!["(ipfailover_VIP_1) Entering MASTER STATE"]);
        let l = lines(
            "ipfailover_VIP_1",
            100,
            &Event::Entering {
                state: State::Backup,
                why: Why::Down("x".into()),
            },
        );
        assert_eq!(l, vec!["(ipfailover_VIP_1) Entering BACKUP STATE"]);
    }

    #[test]
    fn reason_comes_before_the_entering_line() {
        let from = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
        let l = lines(
            "v",
            100,
            &Event::Entering {
                state: State::Backup,
                why: Why::HigherPriority {
                    from,
                    priority: 200,
                },
            },
        );
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0],
            "(v) Master received advert from 192.0.2.12 with higher priority 200, ours 100"
        );
        assert_eq!(l[1], "(v) Entering BACKUP STATE");
    }
}
