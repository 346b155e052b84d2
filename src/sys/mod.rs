//! OS adapters: the only place that talks to the kernel.
pub mod capabilities;
pub mod host_root;
pub mod netlink;
pub mod nftables;
pub mod packet_socket;
pub mod process;
pub mod script_check;
pub mod signals;
mod sockopt;
pub mod timer;
pub mod vrrp_socket;
pub mod vrrp_socket_v6;
