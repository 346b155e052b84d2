//! Typed views over bytes: parse what arrives, emit what we send. No I/O here.
pub mod arp;
pub mod checksum;
pub mod ipv4;
pub mod vrrp;

pub use vrrp::DecodeError;
