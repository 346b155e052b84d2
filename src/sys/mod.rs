//! OS adapters: the only place that talks to the kernel.
pub mod process;
pub mod signals;
