//! The event loop: reads sockets, signals, children and timers, feeds the core, executes actions.
pub mod event_loop;
mod execute;
pub mod health;
pub mod host;
mod inbound;
pub mod http_check;
pub mod metrics;
pub mod receive;
pub mod report;
pub mod status;
pub mod transmit;
