//! AF_PACKET send-only socket for whole Ethernet frames (gratuitous ARP, unsolicited NA).
use std::io;
use std::mem::zeroed;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::sockopt;

/// Ethernet header: dst MAC, src MAC, ethertype.
const ETH_HLEN: usize = 14;

/// A packet socket bound to one interface that never receives: protocol 0 plus a
/// "return 0" BPF filter (as keepalived does), so no frames queue up on it.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Open a non-blocking packet socket for interface `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let what = |e: io::Error| {
            io::Error::new(e.kind(), format!("packet socket on ifindex {ifindex}: {e}"))
        };
        let index = sockopt::ifindex_i32(ifindex).map_err(what)?;
        let fd = sockopt::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
        .map_err(what)?;
        let mut drop_all = [sockopt::bpf(libc::BPF_RET | libc::BPF_K, 0, 0, 0)];
        sockopt::attach_filter(&fd, &mut drop_all).map_err(what)?;
        sockopt::bind(&fd, &ll_addr(index, 0, [0; 6])).map_err(what)?;
        Ok(PacketSocket { fd, ifindex: index })
    }

    /// Send one complete Ethernet frame (header included) out of the interface. The link-layer
    /// destination and protocol are taken from the frame itself. Being non-blocking, a full
    /// device queue shows up as `WouldBlock` rather than stalling the caller.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        let (Some(dst), Some(proto)) = (frame.get(..6), frame.get(12..ETH_HLEN)) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        };
        let mut mac = [0u8; 6];
        mac.copy_from_slice(dst);
        // The ethertype bytes are already in network order; keep them as they are in memory.
        let sa = ll_addr(self.ifindex, u16::from_ne_bytes([proto[0], proto[1]]), mac);
        sockopt::send_to(&self.fd, frame, 0, &sa).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("frame send on ifindex {}: {e}", self.ifindex),
            )
        })
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A link-layer address; `protocol` is in network byte order.
fn ll_addr(ifindex: i32, protocol: u16, mac: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sa: libc::sockaddr_ll = unsafe { zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = protocol;
    sa.sll_ifindex = ifindex;
    sa.sll_halen = 6;
    sa.sll_addr[..6].copy_from_slice(&mac);
    sa
}
