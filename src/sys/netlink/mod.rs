//! rtnetlink over raw `libc` sockets: interface/address queries, VIP add/del, change monitor.
//!
//! `message` is the pure byte layer (fuzzable); `socket`, `rtnl` and `monitor` do the I/O.
pub mod message;
mod monitor;
mod rtnl;
pub(crate) mod socket;

pub use message::{AddrInfo, Link};
pub use monitor::{Monitor, NetEvent, is_overflow};
pub use rtnl::Rtnl;
