//! What comes in from the network side: VRRP packets (both families) and rtnetlink events
//! about our interface and its addresses.
use super::event_loop::{Daemon, RX_BATCH, VRRP4, VRRP6, family};
use super::receive;
use super::transmit::Sender;
use crate::log;
use crate::sys::netlink::{Link, NetEvent};
use crate::vrrp::State;
use crate::vrrp::validate::validate;
use crate::wire::vrrp::Advert;
use mio::Interest;
use mio::unix::SourceFd;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::time::Instant;

impl Daemon {
    /// Reads a bounded batch of packets from each socket; `true` when one may hold more.
    pub(super) fn receive(&mut self) -> bool {
        let more4 = self.receive_v4();
        let more6 = self.receive_v6();
        more4 || more6
    }

    pub(super) fn receive_v4(&mut self) -> bool {
        let mut buf = [0u8; 2048];
        for _ in 0..RX_BATCH {
            let Some(v4) = &self.sender.v4 else {
                return false;
            };
            match v4.socket.recv(&mut buf) {
                Ok(Some(n)) => match receive::decode(&buf[..n]) {
                    Ok((ip, adv)) => {
                        let dst = IpAddr::V4(ip.dst);
                        self.on_advert(IpAddr::V4(ip.src), dst, ip.ttl, &adv);
                    }
                    Err(e) => {
                        let src = (n >= 20)
                            .then(|| IpAddr::V4(Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15])));
                        self.drops.malformed(src, &e);
                    }
                },
                Ok(None) => return false,
                // One oversized datagram was dropped; the socket is fine, keep draining.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.drops.counters.count("oversized")
                }
                Err(e) => {
                    log::line(&format!("VRRP receive error: {e}"));
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn receive_v6(&mut self) -> bool {
        let mut buf = [0u8; 8 + 16 * 256];
        for _ in 0..RX_BATCH {
            let Some(v6) = &self.sender.v6 else {
                return false;
            };
            match v6.socket.recv(&mut buf) {
                Ok(Some(r)) => {
                    let (src, dst) = (IpAddr::V6(r.src), IpAddr::V6(r.dst));
                    match Advert::parse(&buf[..r.len], src, dst) {
                        Ok(adv) => self.on_advert(src, dst, r.hop_limit, &adv),
                        Err(e) => self.drops.malformed(Some(src), &e),
                    }
                }
                Ok(None) => return false,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.drops.counters.count("oversized")
                }
                Err(e) => {
                    log::line(&format!("VRRP (IPv6) receive error: {e}"));
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn on_advert(&mut self, from: IpAddr, dst: IpAddr, ttl: u8, adv: &Advert) {
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
            return self
                .drops
                .rejected(&slot.plan.name, adv.vrid, from, &r, Instant::now());
        }
        self.drops.counters.count("accepted");
        self.stats.instances[i].adverts_received += 1;
        if adv.priority > 0 && slot.machine.state() == State::Backup {
            slot.master = Some(from);
        }
        let actions =
            slot.machine
                .on_advert(self.start.elapsed(), from, adv.priority, adv.interval_cs);
        self.execute(i, actions);
    }

    pub(super) fn on_netlink(&mut self) {
        let mut events = Vec::new();
        if let Err(e) = self.monitor.read_events(&mut events) {
            log::line(&format!(
                "Netlink: monitor error: {e}; re-reading the interface"
            ));
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
                NetEvent::Link(l) if l.name == self.plan.interface && l.index != self.ifindex => {
                    self.reattach(&l)
                }
                NetEvent::Link(l) if l.index == self.ifindex => {
                    let renamed = l.name != self.plan.interface;
                    if renamed {
                        log::line(&format!(
                            "Netlink: interface {} was renamed to {}",
                            self.plan.interface, l.name
                        ));
                    }
                    self.set_link(l.up && l.running && !renamed);
                }
                NetEvent::AddrRemoved(a) if a.index == self.ifindex => self.on_addr_removed(a.addr),
                _ => {}
            }
        }
    }

    pub(super) fn set_link(&mut self, up: bool) {
        if up != self.link_up {
            self.link_up = up;
            let word = if up { "up" } else { "down" };
            log::line(&format!(
                "Netlink: interface {} is {word}",
                self.plan.interface
            ));
            self.apply_fault();
        }
    }

    /// Our interface came back under a new index (deleted and re-created, or renamed back):
    /// reopen the sockets on it, keeping our source addresses.
    pub(super) fn reattach(&mut self, link: &Link) {
        log::line(&format!(
            "Netlink: interface {} is back (index {})",
            link.name, link.index
        ));
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
            Err(e) => log::line(&format!(
                "cannot reopen VRRP sockets on {}: {e}; staying in FAULT",
                link.name
            )),
        }
    }

    pub(super) fn register_vrrp(&self) -> io::Result<()> {
        let registry = self.poll.registry();
        if let Some(v4) = &self.sender.v4 {
            registry.register(
                &mut SourceFd(&v4.socket.as_raw_fd()),
                VRRP4,
                Interest::READABLE,
            )?;
        }
        if let Some(v6) = &self.sender.v6 {
            registry.register(
                &mut SourceFd(&v6.socket.as_raw_fd()),
                VRRP6,
                Interest::READABLE,
            )?;
        }
        Ok(())
    }

    /// Our own removals arrive here too, after we left MASTER; only a master reacts.
    pub(super) fn on_addr_removed(&mut self, addr: IpAddr) {
        let now = self.now();
        if let Some(i) = self.slots.iter().position(|s| s.plan.vips.contains(&addr)) {
            let actions = self.slots[i].machine.on_vip_removed(now, addr);
            self.execute(i, actions);
        }
    }
}
