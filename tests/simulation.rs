//! Deterministic cluster simulation: N copies of the pure state machine on a simulated clock
//! and a simulated LAN with loss, delay, duplication, reordering, partitions, crashes,
//! graceful stops and health faults. Every schedule is seeded; a failure prints its seed and
//! `SIM_SEED=<seed> cargo test --test simulation` replays it; `SIM_SCHEDULES=<n>` runs more.
//!
//! Invariants, checked on every schedule:
//! * a node holds the VIP exactly while it is MASTER (never in FAULT, never after a stop);
//! * once the network heals and stays healthy, within one Master_Down_Interval plus one
//!   advert interval (plus the preempt delay, when one is configured) there is exactly one
//!   MASTER;
//! * with plain preemption, within two Master_Down_Intervals the MASTER is the live healthy
//!   node with the highest priority;
//! * a graceful stop of the MASTER (priority-0 advert) hands over within Skew_Time + delay.
use ipfailover::config::Preemption;
use ipfailover::vrrp::timers::{master_down_interval, skew_time};
use ipfailover::vrrp::{Action, Instance, Params, State, Why};
use ipfailover::wire::vrrp::Version;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// xorshift64*: tiny, seedable, good enough to draw schedules.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Msg {
    /// An advert from node `from` with `prio`, to be delivered to node `to`.
    Advert { to: usize, from: usize, prio: u8 },
}

struct Node {
    machine: Instance,
    alive: bool,
    holds_vip: bool,
    addr: IpAddr,
}

struct Lan {
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(Duration, u64, Msg)>>,
    seq: u64,
    now: Duration,
    /// Percent chances while the network is unhealthy.
    loss: u64,
    dup: u64,
    /// Partition: node → side; messages cross only within a side.
    side: Vec<u8>,
    healthy_net: bool,
    rng: Rng,
    /// Last delivery time per (from, to): one sender's packets are never reordered on a LAN.
    last_delivery: Vec<Vec<Duration>>,
    /// Log events of every node, shown when an invariant fails.
    trace: Vec<String>,
}

const MS: Duration = Duration::from_millis(1);

impl Lan {
    fn new(seed: u64, priorities: &[u8], preemption: Preemption) -> Lan {
        let nodes = priorities
            .iter()
            .enumerate()
            .map(|(i, &priority)| {
                let addr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + i as u8));
                Node {
                    machine: Instance::new(Params {
                        version: Version::V2,
                        priority,
                        preemption,
                        interval_cs: 100,
                        local_addr: addr,
                    }),
                    alive: true,
                    holds_vip: false,
                    addr,
                }
            })
            .collect::<Vec<_>>();
        let n = nodes.len();
        Lan {
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            now: Duration::ZERO,
            loss: 0,
            dup: 0,
            side: vec![0; n],
            healthy_net: true,
            rng: Rng::new(seed),
            last_delivery: vec![vec![Duration::ZERO; n]; n],
            trace: Vec::new(),
        }
    }

    fn apply(&mut self, i: usize, actions: impl IntoIterator<Item = Action>) {
        for a in actions {
            match a {
                Action::SendAdvert { priority } => self.broadcast(i, priority),
                Action::AddVips => self.nodes[i].holds_vip = true,
                Action::RemoveVips => self.nodes[i].holds_vip = false,
                Action::Garp | Action::Notify(_) => {}
                Action::Log(e) => self.trace.push(format!("{:?} n{i}: {e:?}", self.now)),
            }
        }
    }

    fn broadcast(&mut self, from: usize, prio: u8) {
        for to in 0..self.nodes.len() {
            if to == from {
                continue;
            }
            let copies = if !self.healthy_net && self.rng.chance(self.dup) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                if !self.healthy_net
                    && (self.rng.chance(self.loss) || self.side[to] != self.side[from])
                {
                    continue;
                }
                // Up to 5 ms of jitter reorders adverts from different senders.
                let at = (self.now + MS * (1 + self.rng.below(5) as u32))
                    .max(self.last_delivery[from][to]);
                self.last_delivery[from][to] = at;
                self.seq += 1;
                self.queue
                    .push(Reverse((at, self.seq, Msg::Advert { to, from, prio })));
            }
        }
    }

    fn next_time(&self) -> Option<Duration> {
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.machine.next_deadline())
            .min();
        let msg = self.queue.peek().map(|Reverse((t, _, _))| *t);
        [timers, msg].into_iter().flatten().min()
    }

    /// Advances the clock to `until`, processing everything due on the way.
    fn run_until(&mut self, until: Duration) {
        while let Some(t) = self.next_time().filter(|t| *t <= until) {
            self.now = t;
            while let Some(Reverse((t, _, msg))) = self.queue.peek().copied() {
                if t > self.now {
                    break;
                }
                self.queue.pop();
                let Msg::Advert { to, from, prio } = msg;
                if self.nodes[to].alive {
                    let from_addr = self.nodes[from].addr;
                    let a = self.nodes[to]
                        .machine
                        .on_advert(self.now, from_addr, prio, 100);
                    self.apply(to, a);
                }
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].alive
                    && self.nodes[i]
                        .machine
                        .next_deadline()
                        .is_some_and(|d| d <= self.now)
                {
                    let a = self.nodes[i].machine.on_timeout(self.now);
                    self.apply(i, a);
                }
            }
            self.check_vip_matches_state();
        }
        self.now = until;
    }

    fn check_vip_matches_state(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            let master = n.alive && n.machine.state() == State::Master;
            assert_eq!(
                n.holds_vip,
                master,
                "node {i} holds VIP {} but is {:?}",
                n.holds_vip,
                n.machine.state()
            );
        }
    }

    /// The last events, for failure messages.
    fn tail(&self) -> String {
        self.trace[self.trace.len().saturating_sub(40)..].join("\n")
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].machine.state() == State::Master)
            .collect()
    }

    fn set_fault(&mut self, i: usize, fault: bool) {
        let why = if fault {
            Why::Down("simulated check failure".into())
        } else {
            Why::Up
        };
        let a = self.nodes[i].machine.set_fault(self.now, fault, why);
        self.apply(i, a);
    }

    /// SIGKILL: no goodbye; the VIP dies with the node.
    fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
        self.nodes[i].holds_vip = false;
    }

    /// SIGTERM: priority-0 advert, VIPs removed.
    fn stop(&mut self, i: usize) {
        let a = self.nodes[i].machine.shutdown();
        self.apply(i, a);
        self.nodes[i].alive = false;
    }
}

fn max_mdi(priorities: &[u8]) -> Duration {
    priorities
        .iter()
        .map(|&p| master_down_interval(Version::V2, p, 100))
        .max()
        .unwrap_or_default()
}

/// One seeded schedule: random chaos for a while, then healing and the invariants.
fn schedule(seed: u64) {
    let mut rng = Rng::new(seed ^ 0xA5A5);
    let n = 2 + rng.below(4) as usize;
    let mut priorities: Vec<u8> = Vec::new();
    while priorities.len() < n {
        let p = 1 + rng.below(254) as u8;
        if !priorities.contains(&p) {
            priorities.push(p);
        }
    }
    let preemption = match rng.below(3) {
        0 => Preemption::Preempt,
        1 => Preemption::NoPreempt,
        _ => Preemption::Delay(Duration::from_secs(1 + rng.below(5))),
    };
    let mut lan = Lan::new(seed, &priorities, preemption);
    let mut faulty = vec![false; n];
    for i in 0..n {
        let start_at = lan.now + MS * rng.below(3000) as u32;
        lan.run_until(start_at);
        lan.set_fault(i, false);
    }
    // Chaos phase: ten random episodes of one to four seconds.
    lan.healthy_net = false;
    lan.loss = rng.below(60);
    lan.dup = rng.below(30);
    for _ in 0..10 {
        match rng.below(4) {
            0 => {
                for s in lan.side.iter_mut() {
                    *s = rng.below(2) as u8;
                }
            }
            1 => {
                let i = rng.below(n as u64) as usize;
                faulty[i] = !faulty[i];
                lan.set_fault(i, faulty[i]);
            }
            _ => lan.side.iter_mut().for_each(|s| *s = 0),
        }
        let until = lan.now + MS * (1000 + rng.below(3000) as u32);
        lan.run_until(until);
    }
    // Heal: perfect network, every node healthy.
    lan.healthy_net = true;
    lan.side.iter_mut().for_each(|s| *s = 0);
    for i in 0..n {
        lan.set_fault(i, false);
    }
    let healed = lan.now;
    // A preemption already under way may legitimately complete up to its delay later.
    let delay = if let Preemption::Delay(d) = preemption {
        d
    } else {
        Duration::ZERO
    };
    lan.run_until(healed + max_mdi(&priorities) + Duration::from_secs(1) + delay + 10 * MS);
    let masters = lan.masters();
    assert_eq!(
        masters.len(),
        1,
        "masters {masters:?} after healing ({priorities:?}, {preemption:?})\n{}",
        lan.tail()
    );
    if preemption == Preemption::Preempt {
        lan.run_until(healed + 2 * max_mdi(&priorities) + 10 * MS);
        let best = (0..n).max_by_key(|&i| priorities[i]).unwrap_or(0);
        assert_eq!(
            lan.masters(),
            vec![best],
            "highest of {priorities:?} must win with preempt\n{}",
            lan.tail()
        );
    }
    // A graceful stop of the master hands over within Skew_Time (+ delivery delay).
    let old = lan.masters()[0];
    lan.stop(old);
    let stopped = lan.now;
    let next_best = (0..n)
        .filter(|&i| i != old)
        .max_by_key(|&i| priorities[i])
        .unwrap_or(0);
    let bound = skew_time(Version::V2, priorities[next_best], 100) + 10 * MS;
    lan.run_until(stopped + bound);
    let masters = lan.masters();
    assert_eq!(
        masters.len(),
        1,
        "hand-off after stop of node {old}: masters {masters:?} within {bound:?}\n{}",
        lan.tail()
    );
    // A crash is noticed within Master_Down_Interval.
    let old = masters[0];
    if n > 2 {
        lan.crash(old);
        let crashed = lan.now;
        lan.run_until(crashed + max_mdi(&priorities) + 10 * MS);
        assert_eq!(
            lan.masters().len(),
            1,
            "takeover after crash of node {old}\n{}",
            lan.tail()
        );
    }
}

#[test]
fn thousands_of_seeded_schedules_keep_the_invariants() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED must be a number")],
        Err(_) => (1..=std::env::var("SIM_SCHEDULES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000))
            .collect(),
    };
    for seed in &seeds {
        let result = std::panic::catch_unwind(|| schedule(*seed));
        if let Err(e) = result {
            eprintln!(
                "simulation failed with seed {seed}; replay: SIM_SEED={seed} cargo test --test simulation"
            );
            std::panic::resume_unwind(e);
        }
    }
    println!("simulated {} schedules", seeds.len());
}
