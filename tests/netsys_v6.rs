//! IPv6 OS adapter tests against a real kernel: the raw VRRPv3 socket and the unsolicited NA
//! frame. Each test runs on its own thread inside a fresh network namespace ("A", from
//! unshare(CLONE_NEWNET)) and creates a second one ("B"); a veth pair va (in A) <-> vb (in B)
//! joins them. The test thread hops between the two with setns. Needs root; skipped
//! (with a message) otherwise.
mod isolated;

use isolated::{in_netns, ip, wait_readable};

use std::fs::File;
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use ipfailover::sys::netlink::Rtnl;
use ipfailover::sys::packet_socket::PacketSocket;
use ipfailover::sys::vrrp_socket_v6::{Received6, VrrpSocketV6};
use ipfailover::wire::ndisc::unsolicited_na;
use ipfailover::wire::vrrp::{Advert, GROUP_V6, Version};
use smallvec::smallvec;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

/// A network namespace kept alive by an open handle (it vanishes with the last handle and
/// the last socket created in it).
struct NetNs(File);

impl NetNs {
    /// The calling thread's namespace.
    fn current() -> NetNs {
        NetNs(File::open("/proc/thread-self/ns/net").expect("open own netns"))
    }

    /// A new, empty namespace, made on a short-lived thread.
    fn new() -> NetNs {
        std::thread::spawn(|| {
            // SAFETY: only this (temporary) thread's network namespace changes.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            NetNs::current()
        })
        .join()
        .expect("new netns")
    }

    /// Run `f` in this namespace (sockets it opens stay in it), then return.
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let home = NetNs::current();
        enter(&self.0);
        let out = f();
        enter(&home.0);
        out
    }

    /// A path another process (`ip ... netns PATH`) can open to name this namespace.
    fn path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.0.as_raw_fd())
    }
}

fn enter(ns: &File) {
    // SAFETY: changes only the calling thread's network namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
}

/// No duplicate address detection, so addresses are usable (not "tentative") at once;
/// a tentative address is refused as a source by IPV6_PKTINFO.
fn no_dad() {
    for conf in ["all", "default"] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad"), "0").unwrap();
    }
}

/// One end of the veth pair as seen from its namespace.
struct End {
    ns: NetNs,
    name: &'static str,
    index: u32,
    link_local: Ipv6Addr,
    global: Ipv6Addr,
}

/// va (namespace A = the caller's) <-> vb (a new namespace B), with fixed MACs,
/// 2001:db8::1/64 and ::2/64, both up with their kernel-made link-local addresses ready.
fn veth_pair() -> (End, End) {
    let a = NetNs::current();
    let b = NetNs::new();
    no_dad();
    b.run(no_dad);
    ip("link add va type veth peer name vb");
    ip("link set va address 02:00:00:00:00:0a");
    ip("link set vb address 02:00:00:00:00:0b");
    ip(&format!("link set vb netns {}", b.path()));
    let up = |name: &'static str, global: &str| {
        ip(&format!("addr add {global}/64 dev {name} nodad"));
        ip(&format!("link set {name} up"));
        let index = Rtnl::open()
            .unwrap()
            .link_by_name(name)
            .unwrap()
            .expect("veth end")
            .index;
        (index, global.parse().unwrap())
    };
    let (ia, ga) = up("va", "2001:db8::1");
    let (ib, gb) = b.run(|| up("vb", "2001:db8::2"));
    // The link-local address appears only once the carrier is up (asynchronously).
    let lla = wait_link_local("va");
    let llb = b.run(|| wait_link_local("vb"));
    (
        End {
            ns: a,
            name: "va",
            index: ia,
            link_local: lla,
            global: ga,
        },
        End {
            ns: b,
            name: "vb",
            index: ib,
            link_local: llb,
            global: gb,
        },
    )
}

fn wait_link_local(dev: &str) -> Ipv6Addr {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let shown = ip(&format!("-o -6 addr show dev {dev} scope link"));
        if !shown.contains("tentative") {
            let addr = shown
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            if let Some(addr) = addr {
                return addr;
            }
        }
        assert!(Instant::now() < deadline, "no link-local on {dev}: {shown}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An AF_PACKET socket seeing every IPv6 frame on `ifindex` (in the current namespace).
fn capture(ifindex: u32) -> OwnedFd {
    let proto = (libc::ETH_P_IPV6 as u16).to_be();
    // SAFETY: plain syscalls; the fd is owned right away.
    let fd = unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            i32::from(proto),
        );
        assert!(fd >= 0, "AF_PACKET: {}", io::Error::last_os_error());
        OwnedFd::from_raw_fd(fd)
    };
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: valid sockaddr_ll of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    fd
}

/// The next captured frame that satisfies `pred`, or None after a couple of seconds.
fn captured(fd: &OwnedFd, pred: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if !wait_readable(fd.as_raw_fd(), Duration::from_millis(100)) {
            continue;
        }
        let mut buf = [0u8; 2048];
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 && pred(&buf[..n as usize]) {
            return Some(buf[..n as usize].to_vec());
        }
    }
    None
}

fn advert(vip: &str) -> Advert {
    Advert {
        version: Version::V3,
        vrid: 51,
        priority: 100,
        interval_cs: 100,
        addrs: smallvec![vip.parse().unwrap()],
        auth_type: 0,
        auth_data: [0; 8],
    }
}

fn encode(a: &Advert, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut buf = vec![0u8; a.buffer_len()];
    let n = a.emit(src.into(), dst.into(), &mut buf);
    assert_eq!(n, buf.len());
    buf
}

fn recv_one(s: &VrrpSocketV6, buf: &mut [u8]) -> Received6 {
    assert!(
        wait_readable(s.as_raw_fd(), Duration::from_secs(3)),
        "nothing received"
    );
    s.recv(buf).unwrap().expect("a datagram")
}

#[test]
fn vrrpv3_multicast_between_namespaces() {
    in_netns(|| {
        let (a, b) = veth_pair();
        let tx = VrrpSocketV6::open(a.index, a.name, true).unwrap();
        let (rx, cap) = b.ns.run(|| {
            (
                VrrpSocketV6::open(b.index, b.name, true).unwrap(),
                capture(b.index),
            )
        });
        let mut buf = [0u8; 1500];
        assert_eq!(rx.recv(&mut buf).unwrap(), None);

        let sent = advert("2001:db8::100");
        let good = encode(&sent, a.link_local, GROUP_V6);
        // The kernel owns the checksum: whatever we put there is overwritten.
        let mut zeroed = good.clone();
        zeroed[6..8].fill(0);
        tx.send(a.link_local, GROUP_V6, &zeroed).unwrap();

        let got = recv_one(&rx, &mut buf);
        assert_eq!(
            got,
            Received6 {
                len: good.len(),
                src: a.link_local,
                dst: GROUP_V6,
                hop_limit: 255
            }
        );
        // The kernel's checksum is the one our codec computes and verifies.
        assert_eq!(&buf[..got.len], &good[..]);
        assert_eq!(
            Advert::parse(&buf[..got.len], got.src.into(), got.dst.into()),
            Ok(sent)
        );
        // Loop is off: the sender does not hear itself.
        assert_eq!(tx.recv(&mut buf).unwrap(), None);

        // On the wire: 33:33:00:00:00:12, traffic class 0xC0, flow 0, hop limit 255.
        let frame = captured(&cap, |f| f.len() > 54 && f[6..12] == MAC_A && f[20] == 112)
            .expect("advert not captured on vb");
        assert_eq!(&frame[..6], &[0x33, 0x33, 0, 0, 0, 0x12]);
        // (The flow label is the kernel's automatic one, as with keepalived.)
        let tclass = (frame[14] & 0x0f) << 4 | frame[15] >> 4;
        assert_eq!(
            (frame[14] >> 4, tclass),
            (6, 0xC0),
            "version, traffic class"
        );
        assert_eq!(u16::from_be_bytes([frame[18], frame[19]]), 24);
        assert_eq!(frame[21], 255, "hop limit");
        assert_eq!(&frame[22..38], &a.link_local.octets());
        assert_eq!(&frame[38..54], &GROUP_V6.octets());
        assert_eq!(&frame[54..], &good[..]);

        // Too big for the buffer: reported, and the socket keeps working.
        tx.send(a.link_local, GROUP_V6, &good).unwrap();
        assert!(wait_readable(rx.as_raw_fd(), Duration::from_secs(2)));
        let err = rx.recv(&mut buf[..10]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(rx.recv(&mut buf).unwrap(), None);
    });
}

#[test]
fn kernel_checks_checksum_and_reports_hop_limit() {
    in_netns(|| {
        let (a, b) = veth_pair();
        let rx =
            b.ns.run(|| VrrpSocketV6::open(b.index, b.name, true).unwrap());
        let tx = PacketSocket::open(a.index).unwrap();
        // Hand-built frames, so the checksum and hop limit are exactly what we put there.
        let frame = |vrrp: &[u8], hop_limit: u8| {
            let mut f = vec![0x33, 0x33, 0, 0, 0, 0x12];
            f.extend_from_slice(&MAC_A);
            f.extend_from_slice(&[0x86, 0xdd, 0x6c, 0, 0, 0, 0, vrrp.len() as u8, 112]);
            f.push(hop_limit);
            f.extend_from_slice(&a.link_local.octets());
            f.extend_from_slice(&GROUP_V6.octets());
            f.extend_from_slice(vrrp);
            f
        };
        let good = encode(&advert("2001:db8::100"), a.link_local, GROUP_V6);
        let mut bad = encode(&advert("2001:db8::101"), a.link_local, GROUP_V6);
        bad[7] ^= 1;
        tx.send_frame(&frame(&bad, 255)).unwrap();
        tx.send_frame(&frame(&good, 64)).unwrap();
        let mut buf = [0u8; 1500];
        let got = recv_one(&rx, &mut buf);
        assert_eq!(&buf[..got.len], &good[..], "the bad one got through");
        // The real hop limit is reported (the caller rejects it), not a default.
        assert_eq!(got.hop_limit, 64);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(rx.recv(&mut buf).unwrap(), None);
    });
}

#[test]
fn unicast_and_group_sockets_split_traffic() {
    in_netns(|| {
        let (a, b) = veth_pair();
        let tx = VrrpSocketV6::open(a.index, a.name, false).unwrap();
        let (uni, group) = b.ns.run(|| {
            (
                VrrpSocketV6::open(b.index, b.name, false).unwrap(),
                VrrpSocketV6::open(b.index, b.name, true).unwrap(),
            )
        });
        let mut buf = [0u8; 1500];

        // Unicast between global addresses (neighbour discovery and all) reaches only the
        // unbound socket, with hop limit 255 too.
        let msg = encode(&advert("2001:db8::100"), a.global, b.global);
        tx.send(a.global, b.global, &msg).unwrap();
        let got = recv_one(&uni, &mut buf);
        assert_eq!((got.src, got.dst, got.hop_limit), (a.global, b.global, 255));
        assert_eq!(
            Advert::parse(&buf[..got.len], got.src.into(), got.dst.into()),
            Ok(advert("2001:db8::100"))
        );
        assert_eq!(
            group.recv(&mut buf).unwrap(),
            None,
            "group socket got unicast"
        );

        // Link-local unicast needs the scope: the socket supplies it.
        let msg = encode(&advert("2001:db8::100"), a.link_local, b.link_local);
        tx.send(a.link_local, b.link_local, &msg).unwrap();
        let got = recv_one(&uni, &mut buf);
        assert_eq!((got.src, got.dst), (a.link_local, b.link_local));
        assert_eq!(group.recv(&mut buf).unwrap(), None);

        // Multicast reaches only the member (IPV6_MULTICAST_ALL=0 keeps the other one out),
        // even when sent from a unicast-mode socket.
        let msg = encode(&advert("2001:db8::100"), a.link_local, GROUP_V6);
        tx.send(a.link_local, GROUP_V6, &msg).unwrap();
        let got = recv_one(&group, &mut buf);
        assert_eq!((got.src, got.dst), (a.link_local, GROUP_V6));
        assert_eq!(
            uni.recv(&mut buf).unwrap(),
            None,
            "non-member got multicast"
        );

        // A source that is not ours is refused by the kernel.
        let other: Ipv6Addr = "2001:db8::99".parse().unwrap();
        assert!(tx.send(other, b.global, &msg).is_err());
    });
}

#[test]
fn vrrp_v6_socket_rejects_bad_interface() {
    in_netns(|| {
        assert!(VrrpSocketV6::open(1, "no-such-if", true).is_err());
        assert!(VrrpSocketV6::open(1, "", false).is_err());
    });
}

#[test]
fn unsolicited_na_overrides_peer_neighbour_entry() {
    in_netns(|| {
        let (a, b) = veth_pair();
        let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let cap = b.ns.run(|| {
            // A stale entry pointing elsewhere, as a peer has after the old master left.
            ip(&format!(
                "-6 neigh add {vip} lladdr 02:00:00:00:00:ff dev {} nud stale",
                b.name
            ));
            capture(b.index)
        });
        let frame = unsolicited_na(MAC_A, vip, true);
        let tx = PacketSocket::open(a.index).unwrap();
        tx.send_frame(&frame).unwrap();

        let got = captured(&cap, |f| {
            f[6..12] == MAC_A && f.len() == frame.len() && f[54] == 136
        })
        .expect("NA not captured on vb");
        assert_eq!(got, frame);

        // The peer's kernel verified our ICMPv6 checksum and took the new MAC (O flag)
        // and the router flag.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let shown =
                b.ns.run(|| ip(&format!("-6 neigh show {vip} dev {}", b.name)));
            if shown.contains("lladdr 02:00:00:00:00:0a") && shown.contains("router") {
                break;
            }
            assert!(Instant::now() < deadline, "neighbour not updated: {shown}");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}
