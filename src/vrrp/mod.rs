//! The VRRP protocol core: receive validation and the per-instance state machine.
//! Pure: no sockets, clocks or globals. Time is a `Duration` since daemon start.
pub mod validate;
