//! The event loop: reads sockets, signals, children and timers, feeds the core, executes actions.
pub mod event_loop;
mod execute;
pub mod health;
pub mod host;
pub mod http_check;
mod inbound;
pub mod metrics;
pub mod receive;
pub mod report;
pub mod status;
pub mod transmit;
