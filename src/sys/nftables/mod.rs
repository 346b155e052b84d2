//! The nftables table `inet keepalived` that accepts VRRP, through raw NETLINK_NETFILTER (the
//! image has no `nft` binary). `message` is the pure byte layer; this file does the socket I/O.
//!
//! The table holds one base chain, `type filter hook input priority 0; policy accept;`, with
//! `ip daddr 224.0.0.18 accept`, `ip6 daddr ff02::12 accept` and `meta l4proto vrrp accept`
//! (the last covers unicast VRRP).
//!
//! This is defence in depth, not a guarantee, exactly like today's image: an `accept` ends
//! evaluation only in its own base chain. Every other base chain on the input hook (other
//! nftables tables, iptables-nft, firewalld) still sees the packet and may drop it; a `drop`
//! anywhere wins. It only helps where nothing else drops VRRP.
pub mod message;

use std::io;
use std::time::Duration;

use self::message::{self as m, Batch};
use crate::sys::netlink::message::{
    NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, messages, parse_ack, parse_done,
};
use crate::sys::netlink::socket::{NlSocket, initial_seq};

/// How long to wait for each kernel reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Receive buffer: large enough for any dump datagram the kernel builds (it caps them at 32 KiB).
const RECV_BUF: usize = 64 * 1024;
/// Dumps redone when the ruleset changed while they ran (NLM_F_DUMP_INTR).
const DUMP_ATTEMPTS: usize = 3;

/// Create (or repair) the table `inet keepalived` accepting VRRP. Returns `true` when the
/// ruleset was changed, `false` when the table already held exactly our chain and rules.
/// Anything else found in the table (other rules or chains, a dormant table) is replaced in
/// one atomic batch; other tables are never touched. Needs CAP_NET_ADMIN.
pub fn ensure_vrrp_table() -> io::Result<bool> {
    let mut nf = Nfnl::open()?;
    if let Some(table) = nf.get_table()? {
        let chains = nf.dump(m::push_dump_chains, m::NEWCHAIN, m::parse_chain, "GETCHAIN")?;
        let rules = nf.dump(m::push_dump_rules, m::NEWRULE, m::parse_rule, "GETRULE")?;
        if m::is_vrrp_table(&table, &chains, &rules) {
            return Ok(false);
        }
    }
    nf.batch(m::push_ensure_batch)?.map_err(Nack::into_error)?;
    Ok(true)
}

/// Delete the table `inet keepalived`. Returns `true` when it was deleted, `false` when it was
/// not there. Needs CAP_NET_ADMIN.
pub fn delete_vrrp_table() -> io::Result<bool> {
    let mut nf = Nfnl::open()?;
    match nf.batch(m::push_delete_batch)? {
        Ok(()) => Ok(true),
        Err(nack) if nack.errno == libc::ENOENT => Ok(false),
        Err(nack) => Err(nack.into_error()),
    }
}

/// The kernel refused a request.
struct Nack {
    errno: i32,
    what: &'static str,
    message: Option<String>,
}

impl Nack {
    fn into_error(self) -> io::Error {
        let os = io::Error::from_raw_os_error(self.errno);
        let text = match self.message {
            Some(msg) => format!("nftables {}: {os} ({msg})", self.what),
            None => format!("nftables {}: {os}", self.what),
        };
        io::Error::new(os.kind(), text)
    }
}

/// A blocking NETLINK_NETFILTER socket with its request state.
struct Nfnl {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
    req: Vec<u8>,
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("nftables {what}: {e}"))
}

fn malformed(e: impl std::fmt::Display, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("nftables {what}: {e}"))
}

impl Nfnl {
    fn open() -> io::Result<Nfnl> {
        let sock = NlSocket::open(libc::NETLINK_NETFILTER, 0, false)
            .map_err(|e| ctx(e, "NETLINK_NETFILTER"))?;
        sock.set_recv_timeout(REPLY_TIMEOUT)?;
        Ok(Nfnl {
            sock,
            seq: initial_seq(),
            buf: vec![0; RECV_BUF],
            req: Vec::new(),
        })
    }

    fn send(&self, what: &str) -> io::Result<()> {
        self.sock.send(&self.req).map_err(|e| ctx(e, what))
    }

    /// Receive one datagram from the kernel (others' are skipped); returns its length.
    /// `wait` false: only what is already queued (TimedOut when nothing is).
    fn recv(&mut self, what: &str, wait: bool) -> io::Result<usize> {
        self.sock
            .recv_reply(&mut self.buf, wait)
            .map_err(|e| ctx(e, what))
    }

    /// Our table's description, or `None` if it does not exist.
    fn get_table(&mut self) -> io::Result<Option<m::TableInfo>> {
        let what = "GETTABLE";
        let seq = self.next_seq();
        self.req.clear();
        m::push_get_table(&mut self.req, seq);
        self.send(what)?;
        let mut table = None;
        loop {
            let n = self.recv(what, true)?;
            for msg in messages(&self.buf[..n]) {
                let msg = msg.map_err(|e| malformed(e, what))?;
                if msg.seq != seq || msg.port != self.sock.port() {
                    continue;
                }
                match msg.kind {
                    m::NEWTABLE => table = m::parse_table(msg.payload),
                    NLMSG_ERROR => {
                        let ack = parse_ack(&msg).map_err(|e| malformed(e, what))?;
                        return match ack.errno {
                            0 => Ok(table),
                            libc::ENOENT => Ok(None),
                            errno => Err(Nack {
                                errno,
                                what,
                                message: ack.message.map(str::to_owned),
                            }
                            .into_error()),
                        };
                    }
                    _ => {}
                }
            }
        }
    }

    /// Run a dump built by `push` and parse every reply of type `reply` (unparsable skipped).
    fn dump<T>(
        &mut self,
        push: fn(&mut Vec<u8>, u32),
        reply: u16,
        parse: fn(&[u8]) -> Option<T>,
        what: &'static str,
    ) -> io::Result<Vec<T>> {
        let mut out = Vec::new();
        for _ in 0..DUMP_ATTEMPTS {
            out.clear();
            let seq = self.next_seq();
            self.req.clear();
            push(&mut self.req, seq);
            self.send(what)?;
            let mut interrupted = false;
            'recv: loop {
                let n = self.recv(what, true)?;
                for msg in messages(&self.buf[..n]) {
                    let msg = msg.map_err(|e| malformed(e, what))?;
                    if msg.seq != seq || msg.port != self.sock.port() {
                        continue;
                    }
                    interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
                    match msg.kind {
                        NLMSG_DONE => match parse_done(&msg) {
                            0 => break 'recv,
                            errno => {
                                return Err(Nack {
                                    errno,
                                    what,
                                    message: None,
                                }
                                .into_error());
                            }
                        },
                        NLMSG_ERROR => {
                            let ack = parse_ack(&msg).map_err(|e| malformed(e, what))?;
                            let message = ack.message.map(str::to_owned);
                            return Err(Nack {
                                errno: ack.errno.max(1),
                                what,
                                message,
                            }
                            .into_error());
                        }
                        k if k == reply => out.extend(parse(msg.payload)),
                        _ => {}
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            format!("nftables {what}: ruleset kept changing during the dump"),
        ))
    }

    /// Send the batch built by `push` and collect one ack per command. `Ok(Err(nack))` is the
    /// kernel refusing it (the whole batch is then void); `Err` is a socket-level failure.
    fn batch(&mut self, push: fn(&mut Vec<u8>, &mut u32) -> Batch) -> io::Result<Result<(), Nack>> {
        let what = "batch";
        self.req.clear();
        let batch = push(&mut self.req, &mut self.seq);
        self.send(what)?;
        let mut pending = batch.commands;
        let mut refused: Option<Nack> = None;
        while !pending.is_empty() {
            // The kernel answers a batch while processing our send, so after a refusal whatever
            // is not queued yet will not come (it may skip acking the rest).
            let n = match self.recv(what, refused.is_none()) {
                Ok(n) => n,
                Err(e) if refused.is_some() && e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => return Err(e),
            };
            for msg in messages(&self.buf[..n]) {
                let msg = msg.map_err(|e| malformed(e, what))?;
                if msg.kind != NLMSG_ERROR || msg.port != self.sock.port() {
                    continue;
                }
                let ack = parse_ack(&msg).map_err(|e| malformed(e, what))?;
                let command = if msg.seq == batch.begin {
                    if ack.errno == 0 {
                        continue;
                    }
                    // The batch as a whole was refused (no permission, no nf_tables) or its
                    // commit failed: reported against BATCH_BEGIN; other replies do not matter.
                    pending.clear();
                    Some("batch")
                } else {
                    let i = pending.iter().position(|(s, _)| *s == msg.seq);
                    i.map(|i| pending.remove(i).1)
                };
                if let Some(what) = command
                    && ack.errno != 0
                    && refused.is_none()
                {
                    refused = Some(Nack {
                        errno: ack.errno,
                        what,
                        message: ack.message.map(str::to_owned),
                    });
                }
            }
        }
        Ok(refused.map_or(Ok(()), Err))
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }
}
