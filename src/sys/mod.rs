//! OS adapters: the only place that talks to the kernel.
pub mod netlink;
pub mod packet_socket;
pub mod process;
pub mod signals;
mod sockopt;
pub mod vrrp_socket;
