//! ipfailover: VRRP failover for OpenShift, configured by `OPENSHIFT_HA_*` variables.
//!
//! The crate is layered so that the protocol can be read and tested without a network:
//!
//! * [`config`] — environment → validated settings → the plan of VRRP instances (pure).
//! * [`wire`]   — byte-exact codecs: VRRP adverts, IPv4 header, gratuitous ARP (pure).
//! * [`vrrp`]   — the per-instance state machine: events and `now` in, actions out (pure).
//! * [`sys`]    — OS adapters: raw sockets, rtnetlink, processes, signals.
//! * [`daemon`] — the `mio` event loop that feeds events to the core and executes its actions.
//! * [`cli`]    — the commands (`run`, `config`, ...) and multi-call dispatch; [`inspect`] for
//!   `status` and `probe`, [`pgrep`] for the documented liveness probe.
pub mod cli;
pub mod config;
pub mod daemon;
pub mod inspect;
pub mod log;
pub mod pgrep;
pub mod sys;
pub mod vrrp;
pub mod wire;
