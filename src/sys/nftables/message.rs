//! nf_tables messages as bytes: the batch that installs or removes the `inet keepalived` table,
//! the queries that read it back, and the parsers for the kernel's replies. Pure and panic-free
//! on any input, because every byte parsed here comes from the kernel.
//!
//! Layout: `nlmsghdr`, then `nfgenmsg { family u8, version u8, res_id be16 }`, then attributes.
//! Attribute headers are host order (as all netlink), but nf_tables attribute *values* are
//! big-endian (`NLA_U32` means be32). The expressions mirror what `nft` 1.0 generates, so
//! `nft list table inet keepalived` prints the rules in its usual syntax.
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::sys::netlink::message::{
    self as nl, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, attrs, finish, push_attr as put,
};

/// Name of our table (family `inet`), as today's image names it.
pub const TABLE: &str = "keepalived";
/// Name of our base chain.
pub const CHAIN: &str = "filter";

/// nfnetlink message type of an nf_tables reply carrying a table (`NFT_MSG_NEWTABLE`).
pub const NEWTABLE: u16 = nft_type(libc::NFT_MSG_NEWTABLE);
/// ... a chain (`NFT_MSG_NEWCHAIN`).
pub const NEWCHAIN: u16 = nft_type(libc::NFT_MSG_NEWCHAIN);
/// ... a rule (`NFT_MSG_NEWRULE`).
pub const NEWRULE: u16 = nft_type(libc::NFT_MSG_NEWRULE);

// Not in libc. Values from include/uapi/linux/netlink.h.
const NLA_F_NESTED: u16 = 0x8000;
// Values from include/uapi/linux/netfilter/nf_tables.h (enum nft_*_attributes, nft_table_flags).
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFT_TABLE_F_DORMANT: u32 = 0x1;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_META_SREG: u16 = 3;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_PAYLOAD_SREG: u16 = 5;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

/// Everything below lives in family `inet` (one table for IPv4 and IPv6).
const FAMILY: u8 = libc::NFPROTO_INET as u8;
/// Size of `nfgenmsg`.
const NFGENMSG_LEN: usize = 4;
/// VRRP's IP protocol number (IANA), what `meta l4proto vrrp` matches.
const IPPROTO_VRRP: u8 = 112;
/// Offsets of the destination address in the IPv4 and IPv6 headers.
const IPV4_DADDR_OFFSET: u32 = 16;
const IPV6_DADDR_OFFSET: u32 = 24;
/// VRRP's multicast groups (RFC 3768, RFC 5798).
const VRRP_V4_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const VRRP_V6_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

const fn nft_type(msg: i32) -> u16 {
    ((libc::NFNL_SUBSYS_NFTABLES as u16) << 8) | msg as u16
}

/// One nf_tables expression, reduced to what a VRRP accept rule is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `meta load <key> => reg <dreg>`.
    Meta {
        /// `NFT_META_*` key.
        key: u32,
        /// Destination register.
        dreg: u32,
    },
    /// `payload load <len>b @ <base> header + <offset> => reg <dreg>`.
    Payload {
        /// Destination register.
        dreg: u32,
        /// `NFT_PAYLOAD_*_HEADER`.
        base: u32,
        /// Byte offset in that header.
        offset: u32,
        /// Bytes loaded.
        len: u32,
    },
    /// `cmp <op> reg <sreg> <data>`.
    Cmp {
        /// Source register.
        sreg: u32,
        /// `NFT_CMP_*` operator.
        op: u32,
        /// Value compared with, network order.
        data: Vec<u8>,
    },
    /// `immediate reg 0 <verdict>` with a plain verdict code (no jump target).
    Verdict(i32),
    /// Anything else (another expression, or one of these in a form we do not build).
    Other(String),
}

/// A table as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// `NFT_TABLE_F_*` flags (dormant, owner).
    pub flags: u32,
}

/// A chain as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    /// Table the chain is in.
    pub table: String,
    /// Chain name.
    pub name: String,
    /// Base chains only: (hook number, priority).
    pub hook: Option<(u32, i32)>,
    /// Base chains only: default verdict.
    pub policy: Option<u32>,
    /// Base chains only: chain type (`filter`, `nat`, `route`).
    pub kind: Option<String>,
}

/// A rule as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// Table the rule is in.
    pub table: String,
    /// Chain the rule is in.
    pub chain: String,
    /// Its expressions, in order.
    pub exprs: Vec<Expr>,
}

/// The rules our chain must hold, in order, each exactly as `nft` compiles it:
/// `ip daddr 224.0.0.18 accept`, `ip6 daddr ff02::12 accept`, `meta l4proto vrrp accept`.
/// In an `inet` table, `ip`/`ip6` matches start with a `meta nfproto` check.
pub fn vrrp_rules() -> [Vec<Expr>; 3] {
    let reg = libc::NFT_REG_1 as u32;
    let eq = libc::NFT_CMP_EQ as u32;
    let nfproto = |proto: i32| {
        [
            Expr::Meta {
                key: libc::NFT_META_NFPROTO as u32,
                dreg: reg,
            },
            Expr::Cmp {
                sreg: reg,
                op: eq,
                data: vec![proto as u8],
            },
        ]
    };
    let daddr = |offset: u32, addr: &[u8]| {
        [
            Expr::Payload {
                dreg: reg,
                base: libc::NFT_PAYLOAD_NETWORK_HEADER as u32,
                offset,
                len: addr.len() as u32,
            },
            Expr::Cmp {
                sreg: reg,
                op: eq,
                data: addr.to_vec(),
            },
        ]
    };
    let accept = Expr::Verdict(libc::NF_ACCEPT);
    let mut v4 = nfproto(libc::NFPROTO_IPV4).to_vec();
    v4.extend(daddr(IPV4_DADDR_OFFSET, &VRRP_V4_GROUP.octets()));
    v4.push(accept.clone());
    let mut v6 = nfproto(libc::NFPROTO_IPV6).to_vec();
    v6.extend(daddr(IPV6_DADDR_OFFSET, &VRRP_V6_GROUP.octets()));
    v6.push(accept.clone());
    let l4 = vec![
        Expr::Meta {
            key: libc::NFT_META_L4PROTO as u32,
            dreg: reg,
        },
        Expr::Cmp {
            sreg: reg,
            op: eq,
            data: vec![IPPROTO_VRRP],
        },
        accept,
    ];
    [v4, v6, l4]
}

/// True when the `inet` dumps show our table active and holding exactly our base chain
/// (`type filter hook input priority 0; policy accept`) with exactly our rules, in order.
/// `chains` and `rules` may include other tables' objects; they are ignored.
pub fn is_vrrp_table(table: &TableInfo, chains: &[ChainInfo], rules: &[RuleInfo]) -> bool {
    let ours: Vec<_> = chains.iter().filter(|c| c.table == TABLE).collect();
    let chain_ok = matches!(ours.as_slice(), [c] if c.name == CHAIN
        && c.hook == Some((libc::NF_INET_LOCAL_IN as u32, 0))
        && c.policy == Some(libc::NF_ACCEPT as u32)
        && c.kind.as_deref() == Some("filter"));
    let got: Vec<_> = rules.iter().filter(|r| r.table == TABLE).collect();
    let want = vrrp_rules();
    table.name == TABLE
        && table.flags & NFT_TABLE_F_DORMANT == 0
        && chain_ok
        && got.len() == want.len()
        && got
            .iter()
            .zip(&want)
            .all(|(r, w)| r.chain == CHAIN && r.exprs == *w)
}

// ---- building ----

/// Start a message with its nfgenmsg; returns its offset for `finish`.
fn begin(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
    let start = nl::begin(buf, kind, flags, seq);
    buf.extend_from_slice(&[family, libc::NFNETLINK_V0 as u8]);
    buf.extend_from_slice(&res_id.to_be_bytes());
    start
}

fn put_str(buf: &mut Vec<u8>, kind: u16, s: &str) {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    put(buf, kind, &v);
}

fn put_be32(buf: &mut Vec<u8>, kind: u16, value: u32) {
    put(buf, kind, &value.to_be_bytes());
}

/// Open a nested attribute; `nest_end` patches its length.
fn nest(buf: &mut Vec<u8>, kind: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    start
}

fn nest_end(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// One `NFTA_LIST_ELEM` { name, data { ... } } in the order `nft` writes the attributes.
fn push_expr(buf: &mut Vec<u8>, expr: &Expr) {
    let elem = nest(buf, NFTA_LIST_ELEM);
    let name = match expr {
        Expr::Meta { .. } => "meta",
        Expr::Payload { .. } => "payload",
        Expr::Cmp { .. } => "cmp",
        Expr::Verdict(_) => "immediate",
        Expr::Other(name) => name,
    };
    put_str(buf, NFTA_EXPR_NAME, name);
    let data = nest(buf, NFTA_EXPR_DATA);
    match expr {
        Expr::Meta { key, dreg } => {
            put_be32(buf, NFTA_META_KEY, *key);
            put_be32(buf, NFTA_META_DREG, *dreg);
        }
        Expr::Payload {
            dreg,
            base,
            offset,
            len,
        } => {
            put_be32(buf, NFTA_PAYLOAD_DREG, *dreg);
            put_be32(buf, NFTA_PAYLOAD_BASE, *base);
            put_be32(buf, NFTA_PAYLOAD_OFFSET, *offset);
            put_be32(buf, NFTA_PAYLOAD_LEN, *len);
        }
        Expr::Cmp { sreg, op, data } => {
            put_be32(buf, NFTA_CMP_SREG, *sreg);
            put_be32(buf, NFTA_CMP_OP, *op);
            let d = nest(buf, NFTA_CMP_DATA);
            put(buf, NFTA_DATA_VALUE, data);
            nest_end(buf, d);
        }
        Expr::Verdict(code) => {
            put_be32(buf, NFTA_IMMEDIATE_DREG, libc::NFT_REG_VERDICT as u32);
            let d = nest(buf, NFTA_IMMEDIATE_DATA);
            let v = nest(buf, NFTA_DATA_VERDICT);
            put(buf, NFTA_VERDICT_CODE, &code.to_be_bytes());
            nest_end(buf, v);
            nest_end(buf, d);
        }
        Expr::Other(_) => {}
    }
    nest_end(buf, data);
    nest_end(buf, elem);
}

/// Append an `NFT_MSG_NEWRULE` (appended at the end of our chain).
fn push_rule(buf: &mut Vec<u8>, seq: u32, exprs: &[Expr]) {
    let flags = NLM_F_REQUEST | NLM_F_ACK | libc::NLM_F_CREATE as u16 | libc::NLM_F_APPEND as u16;
    let start = begin(buf, NEWRULE, flags, seq, FAMILY, 0);
    put_str(buf, NFTA_RULE_TABLE, TABLE);
    put_str(buf, NFTA_RULE_CHAIN, CHAIN);
    let list = nest(buf, NFTA_RULE_EXPRESSIONS);
    for e in exprs {
        push_expr(buf, e);
    }
    nest_end(buf, list);
    finish(buf, start);
}

fn push_table(buf: &mut Vec<u8>, msg: i32, flags: u16, seq: u32) {
    let start = begin(buf, nft_type(msg), NLM_F_REQUEST | flags, seq, FAMILY, 0);
    put_str(buf, NFTA_TABLE_NAME, TABLE);
    if msg == libc::NFT_MSG_NEWTABLE {
        put_be32(buf, NFTA_TABLE_FLAGS, 0); // not dormant
    }
    finish(buf, start);
}

/// Append `NFT_MSG_NEWCHAIN`: `type filter hook input priority 0; policy accept;`.
fn push_chain(buf: &mut Vec<u8>, seq: u32) {
    let flags = NLM_F_REQUEST | NLM_F_ACK | libc::NLM_F_CREATE as u16;
    let start = begin(buf, NEWCHAIN, flags, seq, FAMILY, 0);
    put_str(buf, NFTA_CHAIN_TABLE, TABLE);
    put_str(buf, NFTA_CHAIN_NAME, CHAIN);
    put_str(buf, NFTA_CHAIN_TYPE, "filter");
    put_be32(buf, NFTA_CHAIN_POLICY, libc::NF_ACCEPT as u32);
    let hook = nest(buf, NFTA_CHAIN_HOOK);
    put_be32(buf, NFTA_HOOK_HOOKNUM, libc::NF_INET_LOCAL_IN as u32);
    put_be32(buf, NFTA_HOOK_PRIORITY, 0);
    nest_end(buf, hook);
    finish(buf, start);
}

/// `NFNL_MSG_BATCH_BEGIN` / `_END`: family unspec, res_id = the nf_tables subsystem.
fn push_batch_marker(buf: &mut Vec<u8>, kind: i32, seq: u32) {
    let res_id = libc::NFNL_SUBSYS_NFTABLES as u16;
    let start = begin(buf, kind as u16, NLM_F_REQUEST, seq, 0, res_id);
    finish(buf, start);
}

/// The sequence numbers of one batch: a reply to `begin` is a failed commit; every command
/// asks for an ack, named here for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Sequence number of `NFNL_MSG_BATCH_BEGIN`.
    pub begin: u32,
    /// (sequence number, what) of each command.
    pub commands: Vec<(u32, &'static str)>,
}

/// One command inside a batch.
enum Command {
    NewTable,
    DelTable,
    NewChain,
    NewRule(Vec<Expr>),
}

/// Frame `commands` with BEGIN ... END; sequence numbers come from `seq`, which is left past
/// the last one used. Every command asks for an ack.
fn batch(buf: &mut Vec<u8>, seq: &mut u32, commands: Vec<Command>) -> Batch {
    let begin_seq = *seq;
    push_batch_marker(buf, libc::NFNL_MSG_BATCH_BEGIN, begin_seq);
    let mut next = begin_seq;
    let mut acked = Vec::with_capacity(commands.len());
    let create = NLM_F_ACK | libc::NLM_F_CREATE as u16;
    for command in commands {
        next = next.wrapping_add(1);
        let what = match command {
            Command::NewTable => {
                push_table(buf, libc::NFT_MSG_NEWTABLE, create, next);
                "NEWTABLE"
            }
            Command::DelTable => {
                push_table(buf, libc::NFT_MSG_DELTABLE, NLM_F_ACK, next);
                "DELTABLE"
            }
            Command::NewChain => {
                push_chain(buf, next);
                "NEWCHAIN"
            }
            Command::NewRule(exprs) => {
                push_rule(buf, next, &exprs);
                "NEWRULE"
            }
        };
        acked.push((next, what));
    }
    next = next.wrapping_add(1);
    push_batch_marker(buf, libc::NFNL_MSG_BATCH_END, next);
    *seq = next.wrapping_add(1);
    Batch {
        begin: begin_seq,
        commands: acked,
    }
}

/// Append the batch that (re)creates our table atomically, whatever was there before:
/// add table (so the delete cannot fail), delete it, add table, chain and the three rules.
/// Other tables are untouched; the kernel applies all of it or nothing.
pub fn push_ensure_batch(buf: &mut Vec<u8>, seq: &mut u32) -> Batch {
    let mut commands = vec![
        Command::NewTable,
        Command::DelTable,
        Command::NewTable,
        Command::NewChain,
    ];
    commands.extend(vrrp_rules().into_iter().map(Command::NewRule));
    batch(buf, seq, commands)
}

/// Append the batch that deletes our table (ENOENT if it is absent).
pub fn push_delete_batch(buf: &mut Vec<u8>, seq: &mut u32) -> Batch {
    batch(buf, seq, vec![Command::DelTable])
}

/// Append `NFT_MSG_GETTABLE` for our table (reply: one NEWTABLE, then the ack; or ENOENT).
pub fn push_get_table(buf: &mut Vec<u8>, seq: u32) {
    push_table(buf, libc::NFT_MSG_GETTABLE, NLM_F_ACK, seq);
}

/// Append a dump request for every chain of family `inet`.
pub fn push_dump_chains(buf: &mut Vec<u8>, seq: u32) {
    let kind = nft_type(libc::NFT_MSG_GETCHAIN);
    let start = begin(buf, kind, NLM_F_REQUEST | NLM_F_DUMP, seq, FAMILY, 0);
    finish(buf, start);
}

/// Append a dump request for the rules of our table (older kernels ignore the filter and
/// dump the whole family; callers filter again).
pub fn push_dump_rules(buf: &mut Vec<u8>, seq: u32) {
    let kind = nft_type(libc::NFT_MSG_GETRULE);
    let start = begin(buf, kind, NLM_F_REQUEST | NLM_F_DUMP, seq, FAMILY, 0);
    put_str(buf, NFTA_RULE_TABLE, TABLE);
    finish(buf, start);
}

// ---- parsing ----

fn be32(v: &[u8]) -> Option<u32> {
    v.try_into().ok().map(u32::from_be_bytes)
}

fn string(v: &[u8]) -> String {
    let s = v.split(|b| *b == 0).next().unwrap_or(&[]);
    String::from_utf8_lossy(s).into_owned()
}

/// The attributes after the nfgenmsg of a reply payload.
fn body(payload: &[u8]) -> Option<&[u8]> {
    payload.get(NFGENMSG_LEN..)
}

/// Value of the first attribute `kind` in `buf`.
fn find(buf: &[u8], kind: u16) -> Option<&[u8]> {
    attrs(buf).find(|(k, _)| *k == kind).map(|(_, v)| v)
}

/// Decode an `NFT_MSG_NEWTABLE` reply payload.
pub fn parse_table(payload: &[u8]) -> Option<TableInfo> {
    let b = body(payload)?;
    Some(TableInfo {
        name: string(find(b, NFTA_TABLE_NAME)?),
        flags: find(b, NFTA_TABLE_FLAGS).and_then(be32).unwrap_or(0),
    })
}

/// Decode an `NFT_MSG_NEWCHAIN` reply payload.
pub fn parse_chain(payload: &[u8]) -> Option<ChainInfo> {
    let b = body(payload)?;
    let hook = find(b, NFTA_CHAIN_HOOK).and_then(|h| {
        let num = find(h, NFTA_HOOK_HOOKNUM).and_then(be32)?;
        let prio = find(h, NFTA_HOOK_PRIORITY).and_then(be32)? as i32;
        Some((num, prio))
    });
    Some(ChainInfo {
        table: string(find(b, NFTA_CHAIN_TABLE)?),
        name: string(find(b, NFTA_CHAIN_NAME)?),
        hook,
        policy: find(b, NFTA_CHAIN_POLICY).and_then(be32),
        kind: find(b, NFTA_CHAIN_TYPE).map(string),
    })
}

/// Decode an `NFT_MSG_NEWRULE` reply payload.
pub fn parse_rule(payload: &[u8]) -> Option<RuleInfo> {
    let b = body(payload)?;
    let exprs = find(b, NFTA_RULE_EXPRESSIONS)
        .map(|list| {
            attrs(list)
                .filter(|(k, _)| *k == NFTA_LIST_ELEM)
                .map(|(_, e)| parse_expr(e))
                .collect()
        })
        .unwrap_or_default();
    Some(RuleInfo {
        table: string(find(b, NFTA_RULE_TABLE)?),
        chain: string(find(b, NFTA_RULE_CHAIN)?),
        exprs,
    })
}

/// Decode one expression; anything not in exactly the shape we build becomes `Other`.
fn parse_expr(elem: &[u8]) -> Expr {
    let name = find(elem, NFTA_EXPR_NAME).map(string).unwrap_or_default();
    let data = find(elem, NFTA_EXPR_DATA).unwrap_or(&[]);
    let parsed = match name.as_str() {
        "meta" => parse_meta(data),
        "payload" => parse_payload(data),
        "cmp" => parse_cmp(data),
        "immediate" => parse_verdict(data),
        _ => None,
    };
    parsed.unwrap_or(Expr::Other(name))
}

fn u32_in(data: &[u8], kind: u16) -> Option<u32> {
    find(data, kind).and_then(be32)
}

/// A meta load; a meta *set* (source register) is not one.
fn parse_meta(d: &[u8]) -> Option<Expr> {
    if find(d, NFTA_META_SREG).is_some() {
        return None;
    }
    Some(Expr::Meta {
        key: u32_in(d, NFTA_META_KEY)?,
        dreg: u32_in(d, NFTA_META_DREG)?,
    })
}

/// A payload load; a payload *set* (source register) is not one.
fn parse_payload(d: &[u8]) -> Option<Expr> {
    if find(d, NFTA_PAYLOAD_SREG).is_some() {
        return None;
    }
    Some(Expr::Payload {
        dreg: u32_in(d, NFTA_PAYLOAD_DREG)?,
        base: u32_in(d, NFTA_PAYLOAD_BASE)?,
        offset: u32_in(d, NFTA_PAYLOAD_OFFSET)?,
        len: u32_in(d, NFTA_PAYLOAD_LEN)?,
    })
}

fn parse_cmp(d: &[u8]) -> Option<Expr> {
    Some(Expr::Cmp {
        sreg: u32_in(d, NFTA_CMP_SREG)?,
        op: u32_in(d, NFTA_CMP_OP)?,
        data: find(find(d, NFTA_CMP_DATA)?, NFTA_DATA_VALUE)?.to_vec(),
    })
}

/// An immediate into the verdict register with a plain code (a jump/goto names a chain).
fn parse_verdict(d: &[u8]) -> Option<Expr> {
    if u32_in(d, NFTA_IMMEDIATE_DREG)? != libc::NFT_REG_VERDICT as u32 {
        return None;
    }
    let verdict = find(find(d, NFTA_IMMEDIATE_DATA)?, NFTA_DATA_VERDICT)?;
    if find(verdict, NFTA_VERDICT_CHAIN).is_some() {
        return None;
    }
    Some(Expr::Verdict(u32_in(verdict, NFTA_VERDICT_CODE)? as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::netlink::message::{NLMSG_ERROR, messages, noise, parse_ack};

    /// The NFTA_RULE_EXPRESSIONS value `nft` 1.0.6 sent (strace) for
    /// `add rule inet keepalived filter ip daddr 224.0.0.18 accept` on x86_64.
    #[cfg(target_endian = "little")]
    const NFT_IP_DADDR_EXPRS: &[u8] =
        b"\x24\x00\x01\x80\x09\x00\x01\x00\x6d\x65\x74\x61\x00\x00\x00\x00\
\x14\x00\x02\x80\x08\x00\x02\x00\x00\x00\x00\x0f\x08\x00\x01\x00\x00\x00\x00\x01\x2c\x00\x01\x80\
\x08\x00\x01\x00\x63\x6d\x70\x00\x20\x00\x02\x80\x08\x00\x01\x00\x00\x00\x00\x01\x08\x00\x02\x00\
\x00\x00\x00\x00\x0c\x00\x03\x80\x05\x00\x01\x00\x02\x00\x00\x00\x34\x00\x01\x80\x0c\x00\x01\x00\
\x70\x61\x79\x6c\x6f\x61\x64\x00\x24\x00\x02\x80\x08\x00\x01\x00\x00\x00\x00\x01\x08\x00\x02\x00\
\x00\x00\x00\x01\x08\x00\x03\x00\x00\x00\x00\x10\x08\x00\x04\x00\x00\x00\x00\x04\x2c\x00\x01\x80\
\x08\x00\x01\x00\x63\x6d\x70\x00\x20\x00\x02\x80\x08\x00\x01\x00\x00\x00\x00\x01\x08\x00\x02\x00\
\x00\x00\x00\x00\x0c\x00\x03\x80\x08\x00\x01\x00\xe0\x00\x00\x12\x30\x00\x01\x80\x0e\x00\x01\x00\
\x69\x6d\x6d\x65\x64\x69\x61\x74\x65\x00\x00\x00\x1c\x00\x02\x80\x08\x00\x01\x00\x00\x00\x00\x00\
\x10\x00\x02\x80\x0c\x00\x02\x80\x08\x00\x01\x00\x00\x00\x00\x01";

    #[test]
    #[cfg(target_endian = "little")]
    fn rule_bytes_match_what_nft_sends() {
        let mut buf = Vec::new();
        push_rule(&mut buf, 7, &vrrp_rules()[0]);
        let mut want = Vec::new();
        // nlmsghdr: len 276, type NEWRULE, REQUEST|ACK|CREATE|APPEND, seq 7, port 0.
        want.extend_from_slice(&276u32.to_le_bytes());
        want.extend_from_slice(&[0x06, 0x0a, 0x05, 0x0c]);
        want.extend_from_slice(&7u32.to_le_bytes());
        want.extend_from_slice(&[0; 4]);
        want.extend_from_slice(&[1, 0, 0, 0]); // nfgenmsg: inet, v0, res_id 0
        want.extend_from_slice(b"\x0f\x00\x01\x00keepalived\x00\x00");
        want.extend_from_slice(b"\x0b\x00\x02\x00filter\x00\x00");
        want.extend_from_slice(&[0xe4, 0x00, 0x04, 0x80]);
        want.extend_from_slice(NFT_IP_DADDR_EXPRS);
        assert_eq!(buf, want);
    }

    #[test]
    fn rules_round_trip_through_the_parser() {
        for (i, rule) in vrrp_rules().iter().enumerate() {
            let mut buf = Vec::new();
            push_rule(&mut buf, i as u32, rule);
            let m = messages(&buf).next().unwrap().unwrap();
            assert_eq!(m.kind, NEWRULE);
            let parsed = parse_rule(m.payload).unwrap();
            assert_eq!(parsed.table, TABLE);
            assert_eq!(parsed.chain, CHAIN);
            assert_eq!(&parsed.exprs, rule);
        }
    }

    #[test]
    fn ensure_batch_is_framed_and_numbered() {
        let mut buf = Vec::new();
        let mut seq = u32::MAX - 2; // wraps inside the batch
        let b = push_ensure_batch(&mut buf, &mut seq);
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        let kinds: Vec<u16> = msgs.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                libc::NFNL_MSG_BATCH_BEGIN as u16,
                NEWTABLE,
                nft_type(libc::NFT_MSG_DELTABLE),
                NEWTABLE,
                NEWCHAIN,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                libc::NFNL_MSG_BATCH_END as u16,
            ]
        );
        // Markers: family 0, res_id = NFNL_SUBSYS_NFTABLES big-endian; commands ack.
        assert_eq!(msgs[0].payload, &[0, 0, 0, 10]);
        assert_eq!(msgs[8].payload, &[0, 0, 0, 10]);
        assert_eq!(b.begin, u32::MAX - 2);
        assert_eq!(b.commands.len(), 7);
        for (m, (s, _)) in msgs[1..8].iter().zip(&b.commands) {
            assert_eq!(m.seq, *s);
            assert_ne!(m.flags & NLM_F_ACK, 0);
        }
        // begin MAX-2; commands MAX-1, MAX, 0..=4; end 5.
        assert_eq!(msgs[8].seq, 5);
        assert_eq!(seq, 6);
        let chain = parse_chain(msgs[4].payload).unwrap();
        assert_eq!(
            chain,
            ChainInfo {
                table: TABLE.into(),
                name: CHAIN.into(),
                hook: Some((1, 0)),
                policy: Some(1),
                kind: Some("filter".into()),
            }
        );
        assert_eq!(
            parse_table(msgs[1].payload),
            Some(TableInfo {
                name: TABLE.into(),
                flags: 0
            })
        );
    }

    #[test]
    fn delete_batch_and_queries() {
        let mut buf = Vec::new();
        let mut seq = 10;
        let b = push_delete_batch(&mut buf, &mut seq);
        assert_eq!(b.commands, vec![(11, "DELTABLE")]);
        assert_eq!(seq, 13);
        assert_eq!(messages(&buf).count(), 3);
        buf.clear();
        push_dump_rules(&mut buf, 1);
        push_dump_chains(&mut buf, 2);
        push_get_table(&mut buf, 3);
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs[0].flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(msgs[1].payload, &[1, 0, 0, 0]);
        assert_eq!(msgs[2].flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(parse_table(msgs[2].payload).unwrap().name, TABLE);
    }

    fn table() -> TableInfo {
        TableInfo {
            name: TABLE.into(),
            flags: 0,
        }
    }

    fn chain(table: &str) -> ChainInfo {
        ChainInfo {
            table: table.into(),
            name: CHAIN.into(),
            hook: Some((1, 0)),
            policy: Some(1),
            kind: Some("filter".into()),
        }
    }

    fn rules(table: &str) -> Vec<RuleInfo> {
        vrrp_rules()
            .into_iter()
            .map(|exprs| RuleInfo {
                table: table.into(),
                chain: CHAIN.into(),
                exprs,
            })
            .collect()
    }

    #[test]
    fn recognises_exactly_our_table() {
        let mut chains = vec![chain(TABLE), chain("other")];
        let mut all = rules(TABLE);
        all.extend(rules("other"));
        assert!(is_vrrp_table(&table(), &chains, &all));

        let dormant = TableInfo {
            flags: 1,
            ..table()
        };
        assert!(!is_vrrp_table(&dormant, &chains, &all));
        // A missing, extra or reordered rule; a changed chain; an extra chain.
        assert!(!is_vrrp_table(&table(), &chains, &all[1..]));
        let mut extra = all.clone();
        extra.push(RuleInfo {
            exprs: vec![Expr::Verdict(0)],
            ..all[0].clone()
        });
        assert!(!is_vrrp_table(&table(), &chains, &extra));
        let mut swapped = all.clone();
        swapped.swap(0, 1);
        assert!(!is_vrrp_table(&table(), &chains, &swapped));
        chains[0].policy = Some(0);
        assert!(!is_vrrp_table(&table(), &chains, &all));
        chains[0].policy = Some(1);
        chains.push(ChainInfo {
            name: "more".into(),
            ..chain(TABLE)
        });
        assert!(!is_vrrp_table(&table(), &chains, &all));
        assert!(!is_vrrp_table(&table(), &[], &all));
    }

    /// A hand-made NLMSG_ERROR as the kernel sends it for a failed batch command.
    fn error_reply(errno: i32, seq: u32, text: Option<&[u8]>) -> Vec<u8> {
        let mut p = (-errno).to_ne_bytes().to_vec();
        // Echoed (capped) header of the failing request.
        p.extend_from_slice(&16u32.to_ne_bytes());
        p.extend_from_slice(&NEWRULE.to_ne_bytes());
        p.extend_from_slice(&[0; 2]);
        p.extend_from_slice(&seq.to_ne_bytes());
        p.extend_from_slice(&[0; 4]);
        let mut flags = 0x100u16; // NLM_F_CAPPED
        if let Some(t) = text {
            flags |= 0x200; // NLM_F_ACK_TLVS
            put(&mut p, 1, t); // NLMSGERR_ATTR_MSG
        }
        let mut m = ((16 + p.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&99u32.to_ne_bytes());
        m.extend_from_slice(&p);
        m
    }

    #[test]
    fn parses_error_replies() {
        let mut buf = error_reply(libc::ENOENT, 5, Some(b"No such file\0"));
        buf.extend(error_reply(libc::EPERM, 6, None));
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        let a = parse_ack(&msgs[0]).unwrap();
        assert_eq!((a.errno, a.message), (libc::ENOENT, Some("No such file")));
        assert_eq!(msgs[0].seq, 5);
        let b = parse_ack(&msgs[1]).unwrap();
        assert_eq!((b.errno, b.message), (libc::EPERM, None));
    }

    #[test]
    fn odd_expressions_become_other() {
        // An immediate that jumps, a meta set, an unknown expression, an empty element.
        let mut e = Vec::new();
        let elem = nest(&mut e, NFTA_LIST_ELEM);
        put_str(&mut e, NFTA_EXPR_NAME, "immediate");
        let d = nest(&mut e, NFTA_EXPR_DATA);
        put_be32(&mut e, NFTA_IMMEDIATE_DREG, 0);
        let i = nest(&mut e, NFTA_IMMEDIATE_DATA);
        let v = nest(&mut e, NFTA_DATA_VERDICT);
        put_be32(&mut e, NFTA_VERDICT_CODE, (-3i32) as u32);
        put_str(&mut e, NFTA_VERDICT_CHAIN, "x");
        nest_end(&mut e, v);
        nest_end(&mut e, i);
        nest_end(&mut e, d);
        nest_end(&mut e, elem);
        let (_, value) = attrs(&e).next().unwrap();
        assert_eq!(parse_expr(value), Expr::Other("immediate".into()));

        let mut m = Vec::new();
        put_str(&mut m, NFTA_EXPR_NAME, "meta");
        let d = nest(&mut m, NFTA_EXPR_DATA);
        put_be32(&mut m, NFTA_META_KEY, 16);
        put_be32(&mut m, NFTA_META_SREG, 1);
        nest_end(&mut m, d);
        assert_eq!(parse_expr(&m), Expr::Other("meta".into()));
        assert_eq!(parse_expr(&[]), Expr::Other(String::new()));
        let mut c = Vec::new();
        put_str(&mut c, NFTA_EXPR_NAME, "counter");
        assert_eq!(parse_expr(&c), Expr::Other("counter".into()));
    }

    #[test]
    fn truncated_and_noisy_input_never_panics() {
        let mut buf = Vec::new();
        let mut seq = 1;
        push_ensure_batch(&mut buf, &mut seq);
        buf.extend(error_reply(libc::EINVAL, 3, Some(b"bad\0")));
        for cut in 0..=buf.len() {
            for m in messages(&buf[..cut]).flatten() {
                let _ = parse_ack(&m);
                let _ = parse_table(m.payload);
                let _ = parse_chain(m.payload);
                let _ = parse_rule(m.payload);
            }
            let tail = &buf[cut..];
            let _ = parse_rule(tail);
            let _ = parse_chain(tail);
            let _ = parse_table(tail);
            let _ = parse_expr(tail);
        }
        let mut x = 0x9e37_79b9u32;
        for len in 0..400 {
            let noise = noise(&mut x, len);
            let _ = parse_rule(&noise);
            let _ = parse_chain(&noise);
            let _ = parse_table(&noise);
            let _ = parse_expr(&noise);
            for m in messages(&noise).flatten() {
                let _ = parse_ack(&m);
            }
        }
    }
}
