//! Request/response rtnetlink: one-shot dumps and batched address changes.
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use super::message::{self as m, AddrInfo, Link, NlMsg};
use super::socket::{NlSocket, RECV_BUF, ctx, initial_seq};

/// How long to wait for each kernel reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_millis(2000);
/// Address changes per datagram: bounds both the request size and the acks queued at once.
const BATCH: usize = 64;
/// Dumps redone when the kernel flags them inconsistent (NLM_F_DUMP_INTR).
const DUMP_ATTEMPTS: usize = 3;

/// A blocking rtnetlink request socket (replies time out after a couple of seconds).
pub struct Rtnl {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
    req: Vec<u8>,
}

impl Rtnl {
    /// Open a request socket in the current network namespace.
    pub fn open() -> io::Result<Rtnl> {
        let sock = NlSocket::open(libc::NETLINK_ROUTE, 0, false)?;
        sock.set_recv_timeout(REPLY_TIMEOUT)?;
        Ok(Rtnl {
            sock,
            seq: initial_seq(),
            buf: vec![0; RECV_BUF],
            req: Vec::new(),
        })
    }

    /// All interfaces (RTM_GETLINK dump).
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        self.dump(m::RTM_GETLINK, 0, m::RTM_NEWLINK, m::parse_link)
    }

    /// The interface called `name`, if it exists.
    pub fn link_by_name(&mut self, name: &str) -> io::Result<Option<Link>> {
        Ok(self.links()?.into_iter().find(|l| l.name == name))
    }

    /// Every IPv4 and IPv6 address on every interface (RTM_GETADDR dump).
    pub fn addresses(&mut self) -> io::Result<Vec<AddrInfo>> {
        self.dump(m::RTM_GETADDR, 0, m::RTM_NEWADDR, m::parse_addr)
    }

    /// Interface of the default route in the main table: IPv4 first, else IPv6. With several
    /// default routes the lowest metric wins, as in the kernel's own choice.
    pub fn default_route_ifindex(&mut self) -> io::Result<Option<u32>> {
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            let routes = self.dump(m::RTM_GETROUTE, family, m::RTM_NEWROUTE, m::parse_route)?;
            let best = routes
                .iter()
                .filter(|r| {
                    r.dst_len == 0 && r.table == m::RT_TABLE_MAIN && r.kind == m::RTN_UNICAST
                })
                .filter_map(|r| Some((r.priority, r.oif?)))
                .min_by_key(|(prio, _)| *prio);
            if let Some((_, oif)) = best {
                return Ok(Some(oif));
            }
        }
        Ok(None)
    }

    /// Add host addresses (/32, /128; scope global; IPv6 nodad + deprecated) to interface
    /// `index`. Already present (EEXIST) counts as success. All requests are sent in one
    /// datagram per 64 addresses and every ack is collected; the first failure is returned.
    pub fn add_addrs(&mut self, index: u32, addrs: &[IpAddr]) -> io::Result<()> {
        self.change_addrs(m::RTM_NEWADDR, index, addrs, &[libc::EEXIST])
    }

    /// Remove host addresses from interface `index`. Already absent (EADDRNOTAVAIL, ENOENT,
    /// or the interface itself gone: ENODEV) counts as success. Batched like `add_addrs`.
    pub fn del_addrs(&mut self, index: u32, addrs: &[IpAddr]) -> io::Result<()> {
        self.change_addrs(
            m::RTM_DELADDR,
            index,
            addrs,
            &[libc::EADDRNOTAVAIL, libc::ENOENT, libc::ENODEV],
        )
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Receive one reply from the kernel (SO_RCVTIMEO expiry is TimedOut).
    fn recv(&mut self, what: &str) -> io::Result<usize> {
        self.sock
            .recv_reply(&mut self.buf, true)
            .map_err(|e| ctx(e, what))
    }

    /// Run a dump and parse every reply of type `reply` with `parse` (unparsable ones skipped).
    fn dump<T>(
        &mut self,
        request: u16,
        family: u8,
        reply: u16,
        parse: fn(&[u8]) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        let what = match request {
            m::RTM_GETLINK => "RTM_GETLINK dump",
            m::RTM_GETADDR => "RTM_GETADDR dump",
            _ => "RTM_GETROUTE dump",
        };
        let mut out = Vec::new();
        for _ in 0..DUMP_ATTEMPTS {
            out.clear();
            let seq = self.next_seq();
            self.req.clear();
            m::push_dump(&mut self.req, request, seq, family);
            self.sock.send(&self.req).map_err(|e| ctx(e, what))?;
            let mut interrupted = false;
            'recv: loop {
                let n = self.recv(what)?;
                for msg in m::messages(&self.buf[..n]) {
                    let msg = msg.map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
                    })?;
                    if msg.seq != seq || msg.port != self.sock.port() {
                        continue; // a late reply to an earlier, abandoned request
                    }
                    interrupted |= msg.flags & m::NLM_F_DUMP_INTR != 0;
                    match msg.kind {
                        m::NLMSG_DONE => match m::parse_done(&msg) {
                            0 => break 'recv,
                            errno => return Err(kernel_error(what, errno, None)),
                        },
                        m::NLMSG_ERROR => {
                            let ack = parse_ack(&msg, what)?;
                            if ack.errno == 0 {
                                break 'recv;
                            }
                            return Err(kernel_error(what, ack.errno, ack.message));
                        }
                        m::NLMSG_OVERRUN => {
                            return Err(io::Error::other(format!("{what}: overrun")));
                        }
                        kind if kind == reply => out.extend(parse(msg.payload)),
                        _ => {}
                    }
                }
            }
            if !interrupted {
                break;
            }
        }
        // After repeated interruptions the last view is still usable: the monitor reports changes.
        Ok(out)
    }

    /// Send `addrs` as `kind` requests in batches and collect one ack per request.
    fn change_addrs(
        &mut self,
        kind: u16,
        index: u32,
        addrs: &[IpAddr],
        ok: &[i32],
    ) -> io::Result<()> {
        let op = if kind == m::RTM_NEWADDR {
            "RTM_NEWADDR"
        } else {
            "RTM_DELADDR"
        };
        let mut first_err: Option<io::Error> = None;
        let mut failures = 0usize;
        for chunk in addrs.chunks(BATCH) {
            self.req.clear();
            let first = self.seq.wrapping_add(1);
            for addr in chunk {
                let seq = self.next_seq();
                m::push_addr(&mut self.req, kind, seq, index, *addr);
            }
            let describe = |i: usize| {
                let a = chunk[i];
                let plen = if a.is_ipv4() { 32 } else { 128 };
                format!("{op} {a}/{plen} on ifindex {index}")
            };
            if let Err(e) = self.sock.send(&self.req) {
                return Err(ctx(
                    e,
                    &format!("{op} batch of {} on ifindex {index}", chunk.len()),
                ));
            }
            let mut acked = vec![false; chunk.len()];
            let mut pending = chunk.len();
            while pending > 0 {
                let what = describe(acked.iter().position(|a| !a).unwrap_or(0));
                let n = self.recv(&what)?;
                for msg in m::messages(&self.buf[..n]) {
                    let msg = msg.map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
                    })?;
                    let i = msg.seq.wrapping_sub(first) as usize;
                    if msg.kind != m::NLMSG_ERROR
                        || msg.port != self.sock.port()
                        || i >= chunk.len()
                        || acked[i]
                    {
                        continue;
                    }
                    acked[i] = true;
                    pending -= 1;
                    let ack = parse_ack(&msg, &describe(i))?;
                    if ack.errno != 0 && !ok.contains(&ack.errno) {
                        failures += 1;
                        first_err.get_or_insert_with(|| {
                            kernel_error(&describe(i), ack.errno, ack.message)
                        });
                    }
                }
            }
        }
        match first_err {
            Some(e) if failures > 1 => Err(io::Error::new(
                e.kind(),
                format!("{e} (and {} more failed)", failures - 1),
            )),
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn parse_ack<'a>(msg: &NlMsg<'a>, what: &str) -> io::Result<m::Ack<'a>> {
    m::parse_ack(msg)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}")))
}

/// An errno from the kernel, with context and the extended-ack text when there is one.
fn kernel_error(what: &str, errno: i32, text: Option<&str>) -> io::Error {
    let e = io::Error::from_raw_os_error(errno);
    match text {
        Some(t) => io::Error::new(e.kind(), format!("{what}: {e} ({t})")),
        None => io::Error::new(e.kind(), format!("{what}: {e}")),
    }
}
