//! OS adapter tests against a real kernel. Each test runs on its own thread inside a fresh
//! network namespace (unshare(CLONE_NEWNET)), and drives `ip` from that same thread so the
//! commands see the same namespace. Needs root; skipped (with a message) otherwise.
mod isolated;

use isolated::{in_netns, ip, wait_readable};

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ipfailover::sys::netlink::{Link, Monitor, NetEvent, Rtnl, is_overflow};
use ipfailover::sys::packet_socket::PacketSocket;
use ipfailover::sys::vrrp_socket::VrrpSocketV4;

/// veth pair va <-> vb, both up, with fixed MACs and 192.0.2.1/24, 192.0.2.2/24.
fn veth_pair() -> (Link, Link) {
    ip("link add va type veth peer name vb");
    ip("link set va address 02:00:00:00:00:0a");
    ip("link set vb address 02:00:00:00:00:0b");
    ip("addr add 192.0.2.1/24 dev va");
    ip("addr add 192.0.2.2/24 dev vb");
    ip("link set va up");
    ip("link set vb up");
    // Carrier (IFF_RUNNING) and the qdisc come up asynchronously (linkwatch); frames sent
    // before that are dropped, so wait for it.
    let mut rtnl = Rtnl::open().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (va, vb) = (
            rtnl.link_by_name("va").unwrap().unwrap(),
            rtnl.link_by_name("vb").unwrap().unwrap(),
        );
        if va.running && vb.running {
            return (va, vb);
        }
        assert!(
            Instant::now() < deadline,
            "veth pair never came up: {va:?} {vb:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Read monitor events until one matches, or fail after a few seconds.
fn expect_event(mon: &mut Monitor, what: &str, pred: impl Fn(&NetEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if wait_readable(mon.as_raw_fd(), Duration::from_millis(200)) {
            let mut out = Vec::new();
            mon.read_events(&mut out).unwrap();
            if out.iter().any(&pred) {
                return;
            }
            seen.extend(out);
        }
    }
    panic!("no event: {what}; saw {seen:?}");
}

#[test]
fn links_and_addresses() {
    in_netns(|| {
        let (va, vb) = veth_pair();
        let mut rtnl = Rtnl::open().unwrap();
        assert_eq!(va.mac, Some([2, 0, 0, 0, 0, 0x0a]));
        assert!(va.up && va.running, "{va:?}");
        let links = rtnl.links().unwrap();
        assert!(links.iter().any(|l| l.name == "lo" && l.mac.is_some()));
        assert!(links.contains(&vb));
        assert_eq!(rtnl.link_by_name("nope").unwrap(), None);

        let addrs = rtnl.addresses().unwrap();
        let a = addrs
            .iter()
            .find(|a| a.addr == IpAddr::from([192, 0, 2, 1]))
            .expect("192.0.2.1");
        assert_eq!((a.index, a.prefix_len, a.scope), (va.index, 24, 0));

        // Peer down: va stays administratively up but loses carrier (IFF_RUNNING).
        ip("link set vb down");
        // (operstate is updated asynchronously, so poll.)
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let va = rtnl.link_by_name("va").unwrap().unwrap();
            if va.up && !va.running {
                break;
            }
            assert!(Instant::now() < deadline, "va kept IFF_RUNNING: {va:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

#[test]
fn default_route_prefers_ipv4() {
    in_netns(|| {
        let (va, vb) = veth_pair();
        let mut rtnl = Rtnl::open().unwrap();
        assert_eq!(rtnl.default_route_ifindex().unwrap(), None);
        ip("-6 route add default dev vb");
        assert_eq!(rtnl.default_route_ifindex().unwrap(), Some(vb.index));
        ip("route add default dev va metric 100");
        assert_eq!(rtnl.default_route_ifindex().unwrap(), Some(va.index));
        // A lower metric wins among IPv4 defaults.
        ip("route add default dev vb metric 5");
        assert_eq!(rtnl.default_route_ifindex().unwrap(), Some(vb.index));
    });
}

#[test]
fn add_and_delete_ipv4_vips() {
    in_netns(|| {
        let (va, _) = veth_pair();
        let mut rtnl = Rtnl::open().unwrap();
        let vips: Vec<IpAddr> = (10..13).map(|i| IpAddr::from([192, 0, 2, i])).collect();
        rtnl.add_addrs(va.index, &vips).unwrap();
        let shown = ip("-o -4 addr show dev va");
        for v in &vips {
            assert!(
                shown.contains(&format!("inet {v}/32 scope global va")),
                "{shown}"
            );
        }
        rtnl.add_addrs(va.index, &vips).expect("EEXIST is success");
        rtnl.del_addrs(va.index, &vips).unwrap();
        let shown = ip("-o -4 addr show dev va");
        for v in &vips {
            assert!(!shown.contains(&format!("{v}/32")), "{shown}");
        }
        assert!(shown.contains("192.0.2.1/24"), "{shown}");
        rtnl.del_addrs(va.index, &vips)
            .expect("already absent is success");

        // Real failures carry the operation and the address; the socket stays usable.
        let err = rtnl.add_addrs(9999, &vips).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("RTM_NEWADDR 192.0.2.10/32 on ifindex 9999"),
            "{msg}"
        );
        assert!(msg.contains("(and 2 more failed)"), "{msg}");
        assert_eq!(rtnl.link_by_name("va").unwrap().unwrap().index, va.index);
    });
}

#[test]
fn many_vips_in_batches() {
    in_netns(|| {
        let (va, _) = veth_pair();
        let mut rtnl = Rtnl::open().unwrap();
        let vips: Vec<IpAddr> = (1..=200u8)
            .map(|i| IpAddr::from([198, 51, 100, i]))
            .collect();
        rtnl.add_addrs(va.index, &vips).unwrap();
        let count = rtnl
            .addresses()
            .unwrap()
            .iter()
            .filter(|a| a.index == va.index && a.prefix_len == 32)
            .count();
        assert_eq!(count, 200);
        rtnl.del_addrs(va.index, &vips).unwrap();
        let count = rtnl
            .addresses()
            .unwrap()
            .iter()
            .filter(|a| a.index == va.index && a.prefix_len == 32)
            .count();
        assert_eq!(count, 0);
    });
}

#[test]
fn ipv6_vip_is_nodad_and_deprecated() {
    in_netns(|| {
        let (va, _) = veth_pair();
        let mut rtnl = Rtnl::open().unwrap();
        let vip: IpAddr = "2001:db8::10".parse().unwrap();
        rtnl.add_addrs(va.index, &[vip]).unwrap();
        let shown = ip("-o -6 addr show dev va");
        let line = shown
            .lines()
            .find(|l| l.contains("2001:db8::10/128"))
            .unwrap_or_else(|| panic!("{shown}"));
        for word in [
            "scope global",
            "nodad",
            "deprecated",
            "valid_lft forever",
            "preferred_lft 0sec",
        ] {
            assert!(line.contains(word), "missing {word}: {line}");
        }
        assert!(!line.contains("tentative"), "{line}");
        rtnl.add_addrs(va.index, &[vip]).unwrap();
        rtnl.del_addrs(va.index, &[vip]).unwrap();
        assert!(!ip("-o -6 addr show dev va").contains("2001:db8::10"));
        rtnl.del_addrs(va.index, &[vip]).unwrap();
    });
}

#[test]
fn monitor_sees_link_and_address_changes() {
    in_netns(|| {
        let (va, _) = veth_pair();
        let mut mon = Monitor::open().unwrap();
        // Nothing pending yet: drains to EAGAIN without blocking.
        let mut out = Vec::new();
        mon.read_events(&mut out).unwrap();

        ip("link set va down");
        expect_event(
            &mut mon,
            "va down",
            |e| matches!(e, NetEvent::Link(l) if l.index == va.index && !l.up),
        );
        ip("link set va up");
        expect_event(
            &mut mon,
            "va up",
            |e| matches!(e, NetEvent::Link(l) if l.index == va.index && l.up),
        );
        ip("addr add 192.0.2.50/32 dev va");
        expect_event(
            &mut mon,
            "addr added",
            |e| matches!(e, NetEvent::AddrAdded(a) if a.addr == IpAddr::from([192, 0, 2, 50]) && a.index == va.index),
        );
        ip("addr del 192.0.2.1/24 dev va");
        expect_event(
            &mut mon,
            "addr removed",
            |e| matches!(e, NetEvent::AddrRemoved(a) if a.addr == IpAddr::from([192, 0, 2, 1]) && a.prefix_len == 24),
        );
        ip("link del va");
        expect_event(
            &mut mon,
            "va deleted",
            |e| matches!(e, NetEvent::Link(l) if l.index == va.index && !l.up && !l.running),
        );
    });
}

/// A minimal IPv4 header + 8-byte VRRPv2-shaped payload (contents do not matter here).
fn vrrp_datagram(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0x45, 0xC0, 0, 28, 0, 1, 0, 0, 255, 112, 0, 0];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0x21, 51, 100, 0, 0, 1, 0, 0]);
    p
}

#[test]
fn vrrp_multicast_over_veth() {
    in_netns(|| {
        let (va, vb) = veth_pair();
        // Both ends share one namespace, so vb sees 192.0.2.1 as one of our own addresses and
        // would drop it as a martian source without accept_local.
        std::fs::write("/proc/sys/net/ipv4/conf/vb/accept_local", "1").unwrap();
        let a = VrrpSocketV4::open(va.index, "va", true).unwrap();
        let b = VrrpSocketV4::open(vb.index, "vb", true).unwrap();
        let mut buf = [0u8; 1500];
        assert_eq!(b.recv(&mut buf).unwrap(), None);

        let src = Ipv4Addr::new(192, 0, 2, 1);
        a.send(
            Ipv4Addr::new(224, 0, 0, 18),
            &vrrp_datagram(src, Ipv4Addr::new(224, 0, 0, 18)),
        )
        .unwrap();
        assert!(
            wait_readable(b.as_raw_fd(), Duration::from_secs(2)),
            "nothing received on vb"
        );
        let n = b.recv(&mut buf).unwrap().expect("a datagram");
        assert_eq!(n, 28);
        assert_eq!(buf[1], 0xC0, "TOS");
        assert_eq!(buf[8], 255, "TTL");
        assert_eq!(buf[9], 112, "protocol");
        assert_eq!(&buf[12..16], &src.octets());
        assert_eq!(&buf[16..20], &[224, 0, 0, 18]);
        assert_eq!(&buf[20..28], &[0x21, 51, 100, 0, 0, 1, 0, 0]);
        // Loop is off: the sender does not hear itself.
        assert_eq!(a.recv(&mut buf).unwrap(), None);

        // Too big for the buffer: reported, and the socket keeps working.
        a.send(
            Ipv4Addr::new(224, 0, 0, 18),
            &vrrp_datagram(src, Ipv4Addr::new(224, 0, 0, 18)),
        )
        .unwrap();
        assert!(wait_readable(b.as_raw_fd(), Duration::from_secs(2)));
        let err = b.recv(&mut buf[..20]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(b.recv(&mut buf).unwrap(), None);
    });
}

#[test]
fn vrrp_socket_rejects_bad_interface() {
    in_netns(|| {
        assert!(VrrpSocketV4::open(1, "no-such-if", true).is_err());
    });
}

#[test]
fn packet_socket_sends_gratuitous_arp() {
    in_netns(|| {
        let (va, vb) = veth_pair();
        // Receiver on the peer: all ARP frames arriving on vb.
        let eth_p_arp = (libc::ETH_P_ARP as u16).to_be();
        // SAFETY: plain syscalls on fds owned by this test.
        let rx = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(eth_p_arp),
            )
        };
        assert!(rx >= 0);
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = eth_p_arp;
        sll.sll_ifindex = vb.index as i32;
        let rc = unsafe {
            libc::bind(
                rx,
                (&raw const sll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);

        let tx = PacketSocket::open(va.index).unwrap();
        let mac = va.mac.unwrap();
        let vip = [192, 0, 2, 77];
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&mac);
        frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
        frame.extend_from_slice(&mac);
        frame.extend_from_slice(&vip);
        frame.extend_from_slice(&[0xff; 6]);
        frame.extend_from_slice(&vip);
        assert_eq!(frame.len(), 42);
        tx.send_frame(&frame).unwrap();
        assert!(tx.send_frame(&frame[..10]).is_err());

        assert!(
            wait_readable(rx, Duration::from_secs(2)),
            "no ARP frame on vb"
        );
        let mut buf = [0u8; 128];
        let n = unsafe { libc::recv(rx, buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert!(n >= 42, "recv {n}");
        assert_eq!(&buf[..42], &frame[..]);
        // SAFETY: rx is ours and closed once.
        unsafe { libc::close(rx) };

        // The sender itself never queues anything.
        let mut buf = [0u8; 128];
        let n = unsafe { libc::recv(tx.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert_eq!(n, -1);
        assert_eq!(io::Error::last_os_error().kind(), io::ErrorKind::WouldBlock);
    });
}

#[test]
fn vrrp_unicast_and_group_filtering_across_namespaces() {
    in_netns(|| {
        ip("link add va type veth peer name vb");
        ip("addr add 192.0.2.1/24 dev va");
        ip("link set va up");
        // A second namespace on its own thread owns vb and opens the peer's sockets there;
        // sockets keep their namespace, so they are handed back over a channel.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            // SAFETY: only this thread's namespace changes.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            go_rx.recv().unwrap();
            ip("addr add 192.0.2.2/24 dev vb");
            ip("link set vb up");
            let vb = Rtnl::open().unwrap().link_by_name("vb").unwrap().unwrap();
            let uni = VrrpSocketV4::open(vb.index, "vb", false).unwrap();
            let group = VrrpSocketV4::open(vb.index, "vb", true).unwrap();
            (uni, group)
        });
        let tid = tid_rx.recv().unwrap();
        ip(&format!(
            "link set vb netns /proc/{}/task/{tid}/ns/net",
            std::process::id()
        ));
        go_tx.send(()).unwrap();
        let (uni, group) = peer.join().unwrap();
        let va = Rtnl::open().unwrap().link_by_name("va").unwrap().unwrap();
        let a = VrrpSocketV4::open(va.index, "va", false).unwrap();
        let mut buf = [0u8; 1500];
        let src = Ipv4Addr::new(192, 0, 2, 1);

        // Unicast is routed (ARP and all) and reaches only the unbound socket.
        let dst = Ipv4Addr::new(192, 0, 2, 2);
        a.send(dst, &vrrp_datagram(src, dst)).unwrap();
        assert!(
            wait_readable(uni.as_raw_fd(), Duration::from_secs(3)),
            "unicast not received"
        );
        assert_eq!(uni.recv(&mut buf).unwrap(), Some(28));
        assert_eq!(
            (&buf[16..20], buf[8], buf[9]),
            (&dst.octets()[..], 255, 112)
        );
        assert_eq!(
            group.recv(&mut buf).unwrap(),
            None,
            "group-bound socket got unicast"
        );

        // Multicast reaches only the member (IP_MULTICAST_ALL=0 keeps the other one out).
        let mc = Ipv4Addr::new(224, 0, 0, 18);
        a.send(mc, &vrrp_datagram(src, mc)).unwrap();
        assert!(
            wait_readable(group.as_raw_fd(), Duration::from_secs(3)),
            "multicast not received"
        );
        assert_eq!(group.recv(&mut buf).unwrap(), Some(28));
        assert_eq!(
            (buf[1], buf[8], &buf[12..16]),
            (0xC0, 255, &src.octets()[..])
        );
        assert_eq!(
            uni.recv(&mut buf).unwrap(),
            None,
            "non-member got multicast"
        );
    });
}

fn set_rcvbuf(mon: &Monitor, bytes: i32) {
    // SAFETY: valid fd and option value.
    let rc = unsafe {
        libc::setsockopt(
            mon.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const bytes).cast(),
            4,
        )
    };
    assert_eq!(rc, 0);
}

#[test]
fn monitor_reports_overflow_and_recovers() {
    in_netns(|| {
        let (va, _) = veth_pair();
        let mut mon = Monitor::open().unwrap();
        // Shrink the queue to the kernel minimum so a burst of changes overflows it.
        set_rcvbuf(&mon, 1);
        let vips: Vec<IpAddr> = (1..=100u8)
            .map(|i| IpAddr::from([198, 51, 100, i]))
            .collect();
        Rtnl::open().unwrap().add_addrs(va.index, &vips).unwrap();
        let mut out = Vec::new();
        let err = mon.read_events(&mut out).unwrap_err();
        assert!(is_overflow(&err), "{err}");
        assert!(out.len() < 100, "{} events survived", out.len());
        // Drained: the next read is clean and later events still arrive.
        out.clear();
        mon.read_events(&mut out).unwrap();
        set_rcvbuf(&mon, 1 << 20);
        ip("link set va down");
        expect_event(
            &mut mon,
            "va down after overflow",
            |e| matches!(e, NetEvent::Link(l) if !l.up),
        );
    });
}
