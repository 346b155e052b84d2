//! The VRRP protocol core: receive validation and the per-instance state machine.
//! Pure: no sockets, clocks or globals. Time is a `Duration` since daemon start.
pub mod instance;
pub mod timers;
pub mod validate;

#[cfg(test)]
mod instance_tests;

pub use instance::{Action, Actions, Event, Instance, NotifyState, Params, State, Why};
