"""The bench's LAN: a switch namespace with bridge br0 and node namespaces 192.0.2.10+i/24,
daemons started in them (keepalived or ipfailover), the capture on br0, and the cleanup of
everything created (only what this process created: namespaces named ipfb<pid>..., and the
processes inside them)."""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PFX = f"ipfb{os.getpid()}"
IFACE = "eth0"
CHECK_PORT = 80
CHECK_INTERVAL = 2
# VRRP and what a new master announces: IPv4 VRRP, IPv6 VRRPv3, ARP, IGMP (joins at start-up),
# ICMPv6 (unsolicited NA).
CAPTURE_FILTER = "ip proto 112 or ip6 proto 112 or arp or igmp or icmp6"

_namespaces = []   # every namespace we created and have not deleted yet
_procs = []        # every Popen we started


def sh(*args, check=True, env=None):
    """Runs a command, returns stdout; raises with stderr on failure."""
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def spawn(args, **kw):
    """Popen that the cleanup knows about."""
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    _procs.append(p)
    return p


def _kill_ns_procs(ns):
    for pid in sh("ip", "netns", "pids", ns, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def delete_namespaces(names):
    """Kills what runs inside our namespaces, then deletes them."""
    for ns in names:
        _kill_ns_procs(ns)
    for p in list(_procs):
        if p.poll() is None:
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        if p.poll() is not None:
            _procs.remove(p)
    for ns in names:
        sh("ip", "netns", "del", ns, check=False)
        if ns in _namespaces:
            _namespaces.remove(ns)


def cleanup_all():
    """Everything we created, also after an error or a signal."""
    delete_namespaces(list(_namespaces))
    for p in _procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=2)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


def _add_ns(name):
    sh("ip", "netns", "add", name)
    _namespaces.append(name)
    sh("ip", "-n", name, "link", "set", "lo", "up")


class Lan:
    """Switch + nodes. Node i: namespace <prefix>n<i>, eth0 = 192.0.2.(10+i)/24, DAD off (so the
    link-local address VRRPv3 needs is usable at once)."""

    def __init__(self, tag, nodes=2):
        self.sw = f"{PFX}{tag}s"
        self.ns = [f"{PFX}{tag}n{i}" for i in range(nodes)]
        self.ip = [f"192.0.2.{10 + i}" for i in range(nodes)]
        _add_ns(self.sw)
        sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        sh("ip", "-n", self.sw, "link", "set", "br0", "up")
        self.mac = []
        for i, ns in enumerate(self.ns):
            _add_ns(ns)
            sh("ip", "-n", self.sw, "link", "add", f"n{i}", "type", "veth", "peer", "name", IFACE, "netns", ns)
            sh("ip", "-n", self.sw, "link", "set", f"n{i}", "master", "br0", "up")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
               "net.ipv6.conf.default.accept_dad=0", f"net.ipv6.conf.{IFACE}.accept_dad=0")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip[i]}/24", "dev", IFACE)
            sh("ip", "-n", ns, "link", "set", IFACE, "up")
            m = re.search(r"link/ether ([0-9a-f:]{17})", sh("ip", "-n", ns, "-o", "link", "show", IFACE))
            self.mac.append(bytes.fromhex(m.group(1).replace(":", "")))

    def addrs(self, i):
        """Addresses on node i's eth0 (without prefix length)."""
        out = sh("ip", "-n", self.ns[i], "-o", "addr", "show", "dev", IFACE)
        return {m.group(1) for m in re.finditer(r"inet6? ([0-9a-f.:]+)/", out)}

    def holds(self, i, vips):
        """How many of `vips` node i has."""
        return len(self.addrs(i) & set(vips))

    def close(self):
        delete_namespaces([self.sw] + self.ns)


def wait_for(cond, timeout, poll):
    """Polls cond until true (returns True) or timeout (False)."""
    end = time.time() + timeout
    while True:
        if cond():
            return True
        if time.time() >= end:
            return False
        time.sleep(poll)


class Capture:
    """tcpdump on br0 in the switch namespace, writing a pcap with kernel timestamps."""

    def __init__(self, lan, path):
        self.path = path
        self.p = spawn(["ip", "netns", "exec", lan.sw, "tcpdump", "-Z", "root", "-i", "br0", "-n", "-U", "--immediate-mode",
                        "-s", "128", "-B", "65536", "-w", path, CAPTURE_FILTER],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.p.stderr.readline()
        if "listening on" not in line:
            raise RuntimeError(f"tcpdump did not start: {line.strip()}")
        self.dropped = 0

    def stop(self):
        """Stops tcpdump (flushes the file); remembers how many packets the kernel dropped."""
        self.p.send_signal(signal.SIGINT)
        _, err = self.p.communicate(timeout=10)
        m = re.search(r"(\d+) packets? dropped by kernel", err or "")
        self.dropped = int(m.group(1)) if m else 0


class Listener:
    """The check target: a TCP listener on node i's IP:80 that logs accept times."""

    def __init__(self, lan, i, work):
        self.log = f"{work}/listen{i}.log"
        self.p = spawn(["ip", "netns", "exec", lan.ns[i], sys.executable, f"{HERE}/listen.py",
                        lan.ip[i], str(CHECK_PORT), self.log], stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("listener did not start")

    def stop(self):
        """SIGKILL: the port closes at once, further connects get a RST."""
        t = time.time()
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()
        return t

    def accepts(self):
        with open(self.log) as f:
            return [int(x) / 1e9 for x in f.read().split()]


class AddrWatch:
    """Address events in node i's namespace, timestamped when read (nlwatch.py)."""

    def __init__(self, lan, i, work):
        self.out = f"{work}/nlwatch{i}.log"
        self.p = spawn(["ip", "netns", "exec", lan.ns[i], sys.executable, f"{HERE}/nlwatch.py", self.out],
                       stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("nlwatch did not start")

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)
        events = []
        with open(self.out) as f:
            for line in f:
                t, kind, addr = line.split()
                events.append((int(t) / 1e9, kind, addr))
        return events


def descendants(root):
    """root and every process below it (from /proc ppid links)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_usage(root):
    """(CPU seconds, RSS KiB) of a process tree. CPU: the on-CPU time of every live thread
    (schedstat, ns) plus cutime+cstime of every live process (ticks: the children it reaped,
    e.g. keepalived's bash checks). RSS: VmRSS summed."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, rss = 0.0, 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    cpu += int(f.read().split()[0]) / 1e9
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        cpu += (int(fields[13]) + int(fields[14])) / tick   # cutime cstime (stat fields 16-17)
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        rss += int(m.group(1)) if m else 0
    return cpu, rss


class Daemon:
    """One daemon (keepalived or ipfailover) in node i, started through stamp.py so the exec
    moment is known; a private tmpfs on /run so nothing lands on the host."""

    def __init__(self, lan, i, argv, env, work):
        self.lan, self.i = lan, i
        self.stamp = f"{work}/exec{i}.stamp"
        self.logpath = f"{work}/daemon{i}.log"
        log = open(self.logpath, "w")
        self.p = spawn(["ip", "netns", "exec", lan.ns[i], "unshare", "-m", "--propagation", "private",
                        "sh", "-c", 'mount -t tmpfs tmpfs /run && exec "$@"', "sh",
                        sys.executable, f"{HERE}/stamp.py", self.stamp, "--"] + argv,
                       env=env, stdout=log, stderr=log)
        log.close()

    @property
    def pid(self):
        return self.p.pid

    def exec_time(self):
        with open(self.stamp) as f:
            return int(f.read()) / 1e9

    def sigkill_tree(self):
        """Node death: freeze the whole tree first (so keepalived's parent cannot respawn its
        child and nothing gets a parent-death signal), then SIGKILL all of it. Returns the time."""
        pids = descendants(self.pid)
        t = time.time()
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        for p in pids:
            os.kill(p, signal.SIGKILL)
        return t

    def sigterm(self):
        t = time.time()
        os.kill(self.pid, signal.SIGTERM)
        return t

    def usage(self):
        return tree_usage(self.pid)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()
