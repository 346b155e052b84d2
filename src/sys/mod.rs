//! OS adapters: the only place that talks to the kernel.
pub mod netlink;
pub mod packet_socket;
mod sockopt;
pub mod vrrp_socket;
