//! The event loop: reads sockets, signals, children and timers, feeds the core, executes actions.
pub mod health;
