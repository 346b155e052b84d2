//! Integration-test harness: a LAN of network namespaces with the real daemon running in them.
//!
//! Layout built by [`Lan::new`] (all names carry a per-test prefix `ipf<pid>x<n>`):
//! a switch namespace with bridge `br0`; node namespaces, each with `eth0` = 192.0.2.(10+i)/24
//! plugged into the bridge as `n<i>`; a client namespace with `eth0` = 192.0.2.100/24 (`c`).
//! Interface names are created directly inside their namespaces, so they never clash between
//! tests and stay far below the 15-character limit.
//!
//! [`Lan`]'s `Drop` kills the daemons it started (only those) with their descendants, kills leftover processes whose
//! command line names its private temp dir, deletes its namespaces and its temp dir, also
//! when a test panics; on panic it first prints every daemon log and script log.
#![allow(dead_code)] // each test crate includes this module and uses a different subset of it

pub mod keepalived;

use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ipfailover");

/// Interface name inside every node and the client.
pub const IFACE: &str = "eth0";

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this test process and call: `ipf<pid>x<n>`.
pub fn unique_prefix() -> String {
    format!(
        "ipf{}x{}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::SeqCst)
    )
}

/// IPv4 address of node `i`.
pub fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + u8::try_from(i).expect("node index"))
}

/// IPv4 address of the client namespace.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// Parses a dotted IPv4 literal written in a test.
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("IPv4 literal in test")
}

/// Runs a command, panics with its stderr if it fails, returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`wait_until`], but the returned time is measured from `t0` (e.g. the moment a signal
/// was sent), so that setup steps between `t0` and the first poll are counted too.
pub fn wait_since(
    t0: Instant,
    timeout: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    let mut at = None;
    wait_until(timeout.saturating_sub(t0.elapsed()), poll, || {
        let ok = cond();
        if ok {
            at = Some(t0.elapsed());
        }
        ok
    });
    at
}

/// Polls `moved` every 10 ms for up to `timeout` until all its flags are set; returns, per
/// flag, how long after `t0` it was first seen set (`None`: never).
pub fn first_set_since(
    t0: Instant,
    timeout: Duration,
    mut moved: impl FnMut() -> Vec<bool>,
) -> Vec<Option<Duration>> {
    let mut at: Vec<Option<Duration>> = Vec::new();
    wait_until(timeout, Duration::from_millis(10), || {
        let now = moved();
        at.resize(now.len(), None);
        for (first, set) in at.iter_mut().zip(now) {
            if first.is_none() && set {
                *first = Some(t0.elapsed());
            }
        }
        at.iter().all(Option::is_some)
    });
    at
}

/// Polls `cond` every `poll` until it holds (returns the time it took) or `timeout` passes.
pub fn wait_until(
    timeout: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        thread::sleep(poll);
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/<name>` (fresh).
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(name);
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Environment for one daemon: starts empty (the harness adds only `PATH`).
#[derive(Clone, Debug, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    /// The usual LAN settings: config name `ipfailover` (instances `ipfailover_VIP_<n>`),
    /// interface `eth0`, the given VIPs.
    pub fn lan(vips: &str) -> Env {
        Env::default()
            .set("OPENSHIFT_HA_CONFIG_NAME", "ipfailover")
            .set("OPENSHIFT_HA_NETWORK_INTERFACE", IFACE)
            .set("OPENSHIFT_HA_VIRTUAL_IPS", vips)
    }

    /// Sets (or replaces) a variable.
    pub fn set(mut self, key: &str, value: impl ToString) -> Env {
        self = self.unset(key);
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    /// Removes a variable.
    pub fn unset(mut self, key: &str) -> Env {
        self.0.retain(|(k, _)| k != key);
        self
    }

    /// The variables, in insertion order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.0
    }
}

/// One process of the binary under test, started by [`Lan::start`].
pub struct Daemon {
    /// Node index it runs on.
    pub node: usize,
    pid: u32,
    child: Arc<Mutex<Child>>,
    stderr_path: PathBuf,
    stdout_path: PathBuf,
    /// Where this daemon keeps its status file (`OPENSHIFT_HA_STATUS_FILE`).
    pub status_path: PathBuf,
}

impl Daemon {
    /// Process id (the `ip netns exec` wrapper execs the binary, so this is the daemon).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `sig` unless the process was already reaped (so a recycled pid is never hit).
    pub fn kill(&self, sig: libc::c_int) {
        let mut child = self.child.lock().expect("daemon lock");
        if matches!(child.try_wait(), Ok(None)) {
            let pid = libc::pid_t::try_from(self.pid).expect("pid fits pid_t");
            // SAFETY: plain syscall; the child is ours and not yet reaped.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// The exit status once the process has ended, without waiting.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .expect("daemon lock")
            .try_wait()
            .ok()
            .flatten()
    }

    /// Panics with the daemon's stderr if it has already exited (e.g. while waiting for the
    /// LAN to converge, where an early exit would otherwise look like a timeout).
    pub fn assert_running(&self) {
        if let Some(st) = self.exited() {
            panic!(
                "daemon on node {} exited early ({st}):\n{}",
                self.node,
                self.stderr()
            );
        }
    }

    /// After a SIGTERM sent at `t0`: asserts the daemon exits with status 0 within 2 s of it
    /// (waiting up to 5 s, to tell late from hung); returns when it exited, from `t0`.
    pub fn assert_sigterm_exit(&self, t0: Instant) -> Duration {
        let node = self.node;
        let exit_at = wait_since(
            t0,
            Duration::from_secs(5),
            Duration::from_millis(10),
            || self.exited().is_some(),
        )
        .unwrap_or_else(|| panic!("node {node} still running 5 s after SIGTERM"));
        assert!(
            exit_at <= Duration::from_secs(2),
            "node {node} exited {exit_at:?} after SIGTERM (> 2 s)"
        );
        let status = self.exited().expect("exited");
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after SIGTERM: {status}"
        );
        exit_at
    }

    /// Waits up to `timeout` for the process to end.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, Duration::from_millis(10), || {
            status = self.exited();
            status.is_some()
        });
        status
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Everything the daemon wrote to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Whether stderr has a `(<instance>) <phrase>` log line, e.g. `Entering MASTER STATE`.
    pub fn logged(&self, instance: &str, phrase: &str) -> bool {
        let needle = format!("({instance}) {phrase}");
        self.stderr().lines().any(|l| l.contains(&needle))
    }
}

/// Interface addresses of every node, taken at one moment.
pub struct Snapshot(pub Vec<Vec<Ipv4Addr>>);

impl Snapshot {
    /// Nodes whose `eth0` carries `vip`.
    pub fn holders(&self, vip: Ipv4Addr) -> Vec<usize> {
        (0..self.0.len())
            .filter(|&n| self.0[n].contains(&vip))
            .collect()
    }
}

/// A TCP listener open inside a node namespace, accepting in the background; drop it to stop.
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One process seen in /proc.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// `R`, `S`, `Z`, ...
    pub state: char,
    /// NUL separators replaced by spaces; empty for zombies and kernel threads.
    pub cmdline: String,
    /// Time since the process started.
    pub age: Duration,
}

/// Every process currently in /proc (processes that vanish while reading are skipped).
pub fn processes() -> Vec<Proc> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|u| u.parse().ok()))
        .unwrap_or(0.0);
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name is in parentheses and may contain anything: split after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 20 {
            continue;
        }
        let state = f[0].chars().next().unwrap_or('?');
        let ppid = f[1].parse().unwrap_or(0);
        let start_ticks: f64 = f[19].parse().unwrap_or(0.0);
        let age = Duration::from_secs_f64((uptime - start_ticks / ticks).max(0.0));
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .replace('\0', " ")
                    .trim_end()
                    .to_string()
            })
            .unwrap_or_default();
        out.push(Proc {
            pid,
            ppid,
            state,
            cmdline,
            age,
        });
    }
    out
}

/// Processes whose command line contains `marker`, excluding this test process.
pub fn processes_with(marker: &str) -> Vec<Proc> {
    let me = std::process::id();
    processes()
        .into_iter()
        .filter(|p| p.pid != me && p.cmdline.contains(marker))
        .collect()
}

/// Deletes namespaces and temp dirs left by earlier test processes that died without cleaning
/// up (SIGKILL, timeout): names `ipf<pid>x<n>...` whose `<pid>` no longer exists.
fn sweep_stale() {
    fn dead_owner(name: &str) -> bool {
        let Some(rest) = name.strip_prefix("ipf") else {
            return false;
        };
        let Some((pid, tail)) = rest.split_once('x') else {
            return false;
        };
        let numbered = tail.chars().next().is_some_and(|c| c.is_ascii_digit());
        numbered && pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists()
    }
    if let Ok(dir) = fs::read_dir("/run/netns") {
        for e in dir.flatten() {
            if let Some(name) = e.file_name().to_str().filter(|n| dead_owner(n)) {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
    }
    if let Ok(dir) = fs::read_dir(std::env::temp_dir()) {
        for e in dir.flatten() {
            if e.file_name().to_str().is_some_and(dead_owner) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A LAN of namespaces: one switch, `n` nodes, one client. See the module docs.
pub struct Lan {
    /// `ipf<pid>x<n>`: prefix of every namespace name and of the temp dir.
    pub prefix: String,
    dir: TempDir,
    switch: String,
    nodes: Vec<String>,
    client: String,
    /// Namespaces actually created, deleted on drop (also after a half-built LAN).
    created: Vec<String>,
    daemons: Mutex<Vec<Arc<Mutex<Child>>>>,
    runs: AtomicUsize,
}

impl Lan {
    /// Builds the LAN. Needs root.
    pub fn new(nodes: usize) -> Lan {
        let mut lan = Lan::bare(nodes);
        for i in 0..nodes {
            let ns = lan.nodes[i].clone();
            lan.plug(&ns, &format!("n{i}"), node_ip(i));
        }
        let client = lan.client.clone();
        lan.plug(&client, "c", CLIENT_IP);
        lan
    }

    /// The switch namespace with `br0`, nothing plugged yet. Needs root.
    fn bare(nodes: usize) -> Lan {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "integration tests need root (network namespaces)"
        );
        sweep_stale();
        let prefix = unique_prefix();
        let mut lan = Lan {
            dir: TempDir::new(&prefix),
            switch: format!("{prefix}sw"),
            nodes: (0..nodes).map(|i| format!("{prefix}n{i}")).collect(),
            client: format!("{prefix}c"),
            prefix,
            created: Vec::new(),
            daemons: Mutex::new(Vec::new()),
            runs: AtomicUsize::new(0),
        };
        let sw = lan.switch.clone();
        lan.add_ns(&sw);
        lan.add_bridge("br0");
        lan
    }

    fn add_ns(&mut self, ns: &str) {
        run("ip", &["netns", "add", ns]);
        self.created.push(ns.to_string());
        run("ip", &["-n", ns, "link", "set", "lo", "up"]);
    }

    /// Adds bridge `name` (multicast snooping off, so VRRP adverts reach every port) to the
    /// switch namespace and sets it up.
    fn add_bridge(&self, name: &str) {
        let sw = self.switch.as_str();
        run(
            "ip",
            &[
                "-n",
                sw,
                "link",
                "add",
                name,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        );
        run("ip", &["-n", sw, "link", "set", name, "up"]);
    }

    /// Cables interface `ifname` of the existing namespace `ns` to switch port `port` on
    /// `bridge`: a veth pair whose switch end is up and enslaved (the `ns` end stays down).
    fn cable(&self, ns: &str, port: &str, bridge: &str, ifname: &str) {
        let sw = self.switch.as_str();
        run(
            "ip",
            &[
                "-n", sw, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns,
            ],
        );
        run(
            "ip",
            &["-n", sw, "link", "set", port, "master", bridge, "up"],
        );
    }

    /// Creates namespace `ns` with `eth0` = `addr`/24, cabled to switch port `port`.
    fn plug(&mut self, ns: &str, port: &str, addr: Ipv4Addr) {
        self.add_ns(ns);
        self.cable(ns, port, "br0", IFACE);
        run(
            "ip",
            &["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", IFACE],
        );
        run("ip", &["-n", ns, "link", "set", IFACE, "up"]);
    }

    /// Private temp dir of this LAN (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/`: occurs in the command line of every process running a file from the temp dir.
    pub fn marker(&self) -> String {
        format!("{}/", self.dir().display())
    }

    /// Namespace name of node `i`.
    pub fn node_ns(&self, i: usize) -> &str {
        &self.nodes[i]
    }

    /// Namespace name of the switch (node `i` is plugged into its port `n<i>`).
    pub fn switch_ns(&self) -> &str {
        &self.switch
    }

    /// Namespace name of the client.
    pub fn client_ns(&self) -> &str {
        &self.client
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Starts the daemon (`run`, the default command) on node `node`.
    pub fn start(&self, node: usize, env: &Env) -> Daemon {
        self.spawn(node, BIN, &[], env)
    }

    /// Runs the binary under test with `args` (e.g. `config`) on node `node`.
    pub fn start_cmd(&self, node: usize, args: &[&str], env: &Env) -> Daemon {
        self.spawn(node, BIN, args, env)
    }

    /// Starts `program` with `args` on node `node`: `ip netns exec <ns> <program> <args>`, with a
    /// cleared environment plus `PATH` and `env`; stdout and stderr go to files in the temp dir.
    ///
    /// The process also gets a private mount namespace where `/etc` is an overlay whose upper
    /// layer is a private tmpfs: what the daemon writes to `/etc/keepalived` stays out of the
    /// host and apart from the other nodes. It gets SIGKILL if the test thread dies.
    pub fn spawn(&self, node: usize, program: &str, args: &[&str], env: &Env) -> Daemon {
        let run_no = self.runs.fetch_add(1, Ordering::SeqCst);
        let stem = format!("node{node}-{run_no}");
        let stderr_path = self.dir().join(format!("{stem}.stderr"));
        let stdout_path = self.dir().join(format!("{stem}.stdout"));
        let scratch = self.dir().join(format!("{stem}.mnt"));
        let status_path = self.dir().join(format!("{stem}.status"));
        fs::create_dir_all(&scratch).expect("create mount scratch dir");
        let mounts = PrivateEtc::new(&scratch);
        let path = std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.node_ns(node), program])
            .args(args)
            .env_clear()
            .env("PATH", path)
            // /run is shared between the nodes; each daemon gets its own status file.
            .env("OPENSHIFT_HA_STATUS_FILE", &status_path)
            .envs(env.vars().iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("stdout file"))
            .stderr(File::create(&stderr_path).expect("stderr file"));
        // SAFETY: the closure only makes raw syscalls on data prepared before the fork.
        unsafe { cmd.pre_exec(move || mounts.apply()) };
        // Register before anything can panic, so Drop always finds the child.
        let child = cmd.spawn().expect("spawn ip netns exec <daemon>");
        let pid = child.id();
        let child = Arc::new(Mutex::new(child));
        self.daemons
            .lock()
            .expect("daemons lock")
            .push(child.clone());
        Daemon {
            node,
            pid,
            child,
            stderr_path,
            stdout_path,
            status_path,
        }
    }

    /// IPv4 addresses on node `i`'s `eth0`.
    pub fn addrs(&self, i: usize) -> Vec<Ipv4Addr> {
        let out = run(
            "ip",
            &[
                "-n",
                self.node_ns(i),
                "-o",
                "-4",
                "addr",
                "show",
                "dev",
                IFACE,
            ],
        );
        parse_addrs(&out, &["inet"]).collect()
    }

    /// Addresses of all nodes now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot((0..self.len()).map(|i| self.addrs(i)).collect())
    }

    /// Nodes whose `eth0` carries `vip` now.
    pub fn holders(&self, vip: Ipv4Addr) -> Vec<usize> {
        self.snapshot().holders(vip)
    }

    /// `ip -o addr` of node `i` (all interfaces), for before/after comparisons.
    pub fn addr_dump(&self, i: usize) -> String {
        run("ip", &["-n", self.node_ns(i), "-o", "addr"])
    }

    /// MAC address of node `i`'s `eth0`.
    pub fn mac(&self, i: usize) -> String {
        let out = run(
            "ip",
            &["-n", self.node_ns(i), "-o", "link", "show", "dev", IFACE],
        );
        let mut words = out
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .skip(1);
        words.next().expect("eth0 has a MAC").to_string()
    }

    /// The client's neighbour entry (MAC) for `addr`, if any.
    pub fn client_neigh(&self, addr: Ipv4Addr) -> Option<String> {
        self.client_neigh_any(addr.into())
    }

    /// The client's neighbour entry (MAC) for `addr` of either family (`ip -6 neigh` for
    /// IPv6), if any.
    fn client_neigh_any(&self, addr: IpAddr) -> Option<String> {
        let family: &[&str] = if addr.is_ipv6() { &["-6"] } else { &[] };
        let out = run(
            "ip",
            &[
                &["-n", self.client_ns()],
                family,
                &["neigh", "show", &addr.to_string()],
            ]
            .concat(),
        );
        let mut words = out
            .split_whitespace()
            .skip_while(|w| *w != "lladdr")
            .skip(1);
        words.next().map(str::to_string)
    }

    /// One ping from the client (`ping -c1 -W1`): true if answered.
    pub fn ping_from_client(&self, addr: Ipv4Addr) -> bool {
        self.ping_any_from_client(addr.into())
    }

    /// One ping from the client to `addr` of either family (`ping -6` for IPv6): true if
    /// answered.
    fn ping_any_from_client(&self, addr: IpAddr) -> bool {
        let family: &[&str] = if addr.is_ipv6() { &["-6"] } else { &[] };
        Command::new("ip")
            .args(["netns", "exec", self.client_ns(), "ping"])
            .args(family)
            .args(["-n", "-q", "-c1", "-W1"])
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Whether a TCP connection from the client namespace to `addr:port` succeeds (1 s timeout).
    pub fn connect_from_client(&self, addr: Ipv4Addr, port: u16) -> bool {
        let ns_path = Path::new("/run/netns").join(self.client_ns());
        let target = SocketAddrV4::new(addr, port).into();
        thread::spawn(move || {
            enter_netns(&ns_path).is_ok()
                && TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_ok()
        })
        .join()
        .unwrap_or(false)
    }

    /// Unplugs node `i` from the switch (its port goes down): the node is gone for the LAN.
    pub fn unplug(&self, i: usize) {
        run(
            "ip",
            &["-n", &self.switch, "link", "set", &format!("n{i}"), "down"],
        );
    }

    /// Opens a TCP listener on `<node ip>:port` inside node `i`'s namespace.
    pub fn listen(&self, i: usize, port: u16) -> Listener {
        let ns_path = Path::new("/run/netns").join(self.node_ns(i));
        let addr = SocketAddrV4::new(node_ip(i), port);
        match accept_loop(Some(ns_path), addr, Duration::from_millis(20), drop) {
            Ok((listener, _)) => listener,
            Err(e) => panic!("listen on {addr} in node {i}: {e}"),
        }
    }

    /// Writes an executable `#!/bin/sh` script `<dir>/<name>` with `body`; returns its path.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod script");
        path
    }

    /// A notify script appending its arguments (`$*`) as one line to `<dir>/<name>.log`.
    /// Returns (script, log).
    pub fn notify_script(&self, name: &str) -> (PathBuf, PathBuf) {
        let log = self.dir().join(format!("{name}.log"));
        let script = self.script(
            &format!("{name}.sh"),
            &format!("echo \"$*\" >> '{}'", log.display()),
        );
        (script, log)
    }

    /// Prints every log of this LAN (daemon stderr/stdout, script logs) to the test output.
    pub fn dump_logs(&self) {
        let Ok(dir) = fs::read_dir(self.dir()) else {
            return;
        };
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let interesting = f
                .extension()
                .and_then(OsStr::to_str)
                .is_some_and(|x| ["stderr", "stdout", "log"].contains(&x));
            if interesting && let Ok(text) = fs::read_to_string(&f) {
                eprintln!("===== {} =====\n{}", f.display(), tail(&text, 8000));
            }
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump_logs();
        }
        let daemons = std::mem::take(&mut *self.daemons.lock().unwrap_or_else(|e| e.into_inner()));
        // Scripts run in their own process groups, so collect every descendant (and every
        // process running one of our temp files) before the daemons die and orphan them.
        let table = processes();
        let mut doomed: Vec<u32> = Vec::new();
        for d in &daemons {
            let child = d.lock().unwrap_or_else(|e| e.into_inner());
            descendants(&table, child.id(), &mut doomed);
        }
        let marker = self.marker();
        doomed.extend(
            table
                .iter()
                .filter(|p| p.cmdline.contains(&marker))
                .map(|p| p.pid),
        );
        for d in daemons {
            let mut child = d.lock().unwrap_or_else(|e| e.into_inner());
            // std sends nothing to an already reaped child, so no recycled pid is hit.
            let _ = child.kill();
            let _ = child.wait();
        }
        let me = std::process::id();
        for pid in doomed.into_iter().filter(|&p| p != me) {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: plain syscall on a process this LAN's daemons started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for ns in self.created.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Appends every descendant of `pid` found in `table` to `out`.
fn descendants(table: &[Proc], pid: u32, out: &mut Vec<u32>) {
    for p in table.iter().filter(|p| p.ppid == pid && p.pid != pid) {
        out.push(p.pid);
        descendants(table, p.pid, out);
    }
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Accepts TCP connections on `addr` (inside the namespace at `netns`, else the caller's) on a
/// thread that hands each to `on_conn` and polls every `idle`, until the returned [`Listener`]
/// drops. Also returns the bound address (the real port when `addr` asks for port 0).
fn accept_loop(
    netns: Option<PathBuf>,
    addr: SocketAddrV4,
    idle: Duration,
    mut on_conn: impl FnMut(TcpStream) + Send + 'static,
) -> io::Result<(Listener, SocketAddrV4)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let stop_flag = stop.clone();
    let thread = thread::spawn(move || {
        let bound = netns
            .map_or(Ok(()), |p| enter_netns(&p))
            .and_then(|()| TcpListener::bind(addr))
            .and_then(|l| {
                l.set_nonblocking(true)?;
                Ok(l)
            });
        let listener = match bound {
            Ok(l) => {
                let _ = tx.send(l.local_addr().map(|a| match a {
                    std::net::SocketAddr::V4(a) => a,
                    std::net::SocketAddr::V6(_) => addr,
                }));
                l
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        while !stop_flag.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((conn, _)) => on_conn(conn),
                Err(_) => thread::sleep(idle),
            }
        }
    });
    let bound = rx
        .recv()
        .map_err(|_| io::Error::other("listener thread died"))??;
    let listener = Listener {
        stop,
        thread: Some(thread),
    };
    Ok((listener, bound))
}

/// The addresses after the `families` words (`inet`, `inet6`) in `ip -o addr` output, one
/// per line; lines without one, or with one that does not parse as `A`, are skipped.
pub fn parse_addrs<'a, A: std::str::FromStr>(
    out: &'a str,
    families: &'a [&str],
) -> impl Iterator<Item = A> + 'a {
    out.lines().filter_map(|l| {
        let mut words = l
            .split_whitespace()
            .skip_while(|w| !families.contains(w))
            .skip(1);
        words
            .next()
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse().ok())
    })
}

/// Moves the calling thread (only it) into the network namespace at `path`.
fn enter_netns(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    // SAFETY: plain syscall on an fd we own; affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Paths for the private `/etc` overlay, prepared before fork so the child only makes syscalls.
struct PrivateEtc {
    scratch: CString,
    upper: CString,
    work: CString,
    options: CString,
}

impl PrivateEtc {
    fn new(scratch: &Path) -> PrivateEtc {
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("path without NUL");
        let upper = scratch.join("upper");
        let work = scratch.join("work");
        let options = format!(
            "lowerdir=/etc,upperdir={},workdir={}",
            upper.display(),
            work.display()
        );
        PrivateEtc {
            scratch: c(scratch),
            upper: c(&upper),
            work: c(&work),
            options: CString::new(options).expect("options without NUL"),
        }
    }

    /// In the forked child: private mounts, tmpfs on the scratch dir, overlay on /etc,
    /// and SIGKILL when the spawning test thread dies.
    fn apply(&self) -> io::Result<()> {
        fn check(rc: libc::c_int) -> io::Result<()> {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        }
        let none = c"none".as_ptr();
        // SAFETY: raw syscalls with NUL-terminated strings that outlive the calls.
        unsafe {
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                none,
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"tmpfs".as_ptr(),
                self.scratch.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ))?;
            check(libc::mkdir(self.upper.as_ptr(), 0o755))?;
            check(libc::mkdir(self.work.as_ptr(), 0o755))?;
            check(libc::mount(
                c"overlay".as_ptr(),
                c"/etc".as_ptr(),
                c"overlay".as_ptr(),
                0,
                self.options.as_ptr().cast(),
            ))?;
        }
        Ok(())
    }
}

/// What [`HttpServer`] does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `200 OK` with a short body.
    Ok,
    /// `503 Service Unavailable`.
    Unavailable,
    /// Reads the request and never answers; the connection stays open until the server stops.
    Hang,
    /// Reads the request and closes without a byte.
    Close,
    /// Reads the request and resets the connection (SO_LINGER 0).
    Reset,
    /// Sends the status line in two pieces 100 ms apart, then `200 OK`.
    Split,
}

struct HttpState {
    default: Reply,
    queued: std::collections::VecDeque<Reply>,
    requests: Vec<String>,
    held: Vec<TcpStream>,
}

/// A tiny HTTP/1.1 server on a thread (optionally inside a network namespace), for the
/// built-in HTTP check; drop it to stop.
pub struct HttpServer {
    state: Arc<Mutex<HttpState>>,
    /// Where it listens.
    pub addr: SocketAddrV4,
    _listener: Listener,
}

impl HttpServer {
    /// Listens on `addr` in the calling thread's namespace, or in the namespace at `netns`.
    pub fn start(netns: Option<PathBuf>, addr: SocketAddrV4, reply: Reply) -> HttpServer {
        let state = Arc::new(Mutex::new(HttpState {
            default: reply,
            queued: Default::default(),
            requests: Vec::new(),
            held: Vec::new(),
        }));
        let shared = state.clone();
        let serve = move |conn| serve_one(&shared, conn);
        let (listener, addr) = accept_loop(netns, addr, Duration::from_millis(10), serve)
            .unwrap_or_else(|e| panic!("HTTP server on {addr}: {e}"));
        HttpServer {
            state,
            addr,
            _listener: listener,
        }
    }

    /// Sets the reply for every later request (after the queued ones).
    pub fn set(&self, reply: Reply) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.default = reply;
        s.queued.clear();
    }

    /// Replies to the next requests with `replies`, in order, then with the default again.
    pub fn queue(&self, replies: &[Reply]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.queued.extend(replies);
    }

    /// Every request head received so far.
    pub fn requests(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clone()
    }
}

impl Lan {
    /// An [`HttpServer`] on `<node ip>:port` inside node `i`'s namespace.
    pub fn http_server(&self, i: usize, port: u16, reply: Reply) -> HttpServer {
        let ns = Path::new("/run/netns").join(self.node_ns(i));
        HttpServer::start(Some(ns), SocketAddrV4::new(node_ip(i), port), reply)
    }

    /// Runs `f` on a thread inside the client namespace and returns its result.
    pub fn in_client<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns_path = Path::new("/run/netns").join(self.client_ns());
        thread::spawn(move || {
            enter_netns(&ns_path).expect("enter the client namespace");
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    /// `curl` run in the client namespace: (HTTP status, body); status 0 if curl failed.
    pub fn curl_from_client(&self, url: &str) -> (u16, String) {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                self.client_ns(),
                "curl",
                "-sS",
                "--max-time",
                "5",
            ])
            .args(["-o", "-", "-w", "\n%{http_code}", url])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl (apt-get install curl): {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

/// Reads one request head and replies as the server's state says.
fn serve_one(state: &Mutex<HttpState>, mut conn: TcpStream) {
    use std::io::{Read, Write};
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reply = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.requests.push(String::from_utf8_lossy(&head).into_owned());
        let d = s.default;
        s.queued.pop_front().unwrap_or(d)
    };
    let answer = |conn: &mut TcpStream, status: &str| {
        let body = "ready\n";
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    match reply {
        Reply::Ok => answer(&mut conn, "200 OK"),
        Reply::Unavailable => answer(&mut conn, "503 Service Unavailable"),
        Reply::Hang => state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .held
            .push(conn),
        Reply::Close => drop(conn),
        Reply::Reset => {
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt on a socket we own with a correctly sized value.
            unsafe {
                libc::setsockopt(
                    conn.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
            drop(conn);
        }
        Reply::Split => {
            let _ = conn.write_all(b"HTTP/1.1 2");
            let _ = conn.flush();
            thread::sleep(Duration::from_millis(100));
            let _ = conn.write_all(b"00 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    }
}

/// One sample of the Prometheus text format: (name, labels as written, value).
pub type Sample = (String, String, f64);

/// A strict reader of the Prometheus text format 0.0.4 as `/metrics` writes it: every sample
/// belongs to a family announced by `# HELP` then `# TYPE` (counter or gauge) just before its
/// samples, names and label keys are `[a-zA-Z0-9_:]`, label values are quoted with only
/// `\\`, `\"`, `\n` escapes, every value parses as f64, and the text ends with a newline.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut seen = std::collections::BTreeSet::new();
    let (mut help, mut current): (Option<&str>, Option<&str>) = (None, None);
    let mut samples = Vec::new();
    if !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest
                .split_once(' ')
                .ok_or(format!("HELP without text: {line}"))?;
            if !seen.insert(name) {
                return Err(format!("family {name} announced twice"));
            }
            (help, current) = (Some(name), None);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or(format!("bad TYPE: {line}"))?;
            if help != Some(name) || !["counter", "gauge"].contains(&kind) {
                return Err(format!(
                    "TYPE not right after its HELP, or unknown type: {line}"
                ));
            }
            current = Some(name);
        } else {
            let (series, value) = line
                .rsplit_once(' ')
                .ok_or(format!("not a sample: {line:?}"))?;
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (
                    n,
                    l.strip_suffix('}')
                        .ok_or(format!("no closing brace: {line}"))?,
                ),
                None => (series, ""),
            };
            if current != Some(name) || !name_ok(name) {
                return Err(format!("sample outside its family: {line}"));
            }
            check_labels(labels).map_err(|e| format!("{e}: {line}"))?;
            let v: f64 = value.parse().map_err(|_| format!("bad value: {line}"))?;
            samples.push((name.to_string(), labels.to_string(), v));
        }
    }
    Ok(samples)
}

fn check_labels(mut labels: &str) -> Result<(), String> {
    while !labels.is_empty() {
        let (key, rest) = labels.split_once("=\"").ok_or("label without =\"")?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name {key:?}"));
        }
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => {
                    if !matches!(chars.next(), Some((_, '\\' | '"' | 'n'))) {
                        return Err("bad escape".into());
                    }
                }
                Some((i, '"')) => break i,
                Some(_) => {}
                None => return Err("unterminated label value".into()),
            }
        };
        labels = &rest[end + 1..];
        if !labels.is_empty() {
            labels = labels
                .strip_prefix(',')
                .ok_or("labels not separated by ','")?;
        }
    }
    Ok(())
}

/// Extra topologies (IPv6, dual-stack, routed) and nftables helpers for the protocol tests.
pub mod topology;

/// Runs `f` on a fresh thread that has entered the network namespace `ns` (by name); sockets
/// it opens stay in that namespace whichever thread uses them later.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let path = Path::new("/run/netns").join(ns);
    thread::spawn(move || enter_netns(&path).map(|()| f()))
        .join()
        .map_err(|_| io::Error::other("thread in netns panicked"))?
}

/// Runs `f` on a thread in a fresh network namespace with loopback up; re-raises its panic.
pub fn in_private_netns(f: impl FnOnce() + Send + 'static) {
    thread::spawn(move || {
        // SAFETY: moves only this thread (and threads it spawns) into a new namespace.
        assert_eq!(
            unsafe { libc::unshare(libc::CLONE_NEWNET) },
            0,
            "unshare needs root"
        );
        run("ip", &["link", "set", "lo", "up"]);
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(Duration::from_secs_f64(ticks as f64 / hz))
}

/// A raw IPv4 socket living in one namespace: a sender of hand-built datagrams
/// (`IP_HDRINCL`) or a receiver of one IP protocol.
pub struct RawIpv4 {
    fd: std::os::fd::OwnedFd,
}

impl RawIpv4 {
    /// A send-only `IPPROTO_RAW` socket (so `IP_HDRINCL`: the caller writes the IPv4 header,
    /// any source address, any TTL) bound to `iface` in namespace `ns`, multicast loop off.
    /// The kernel still fills in the total length and the header checksum.
    pub fn sender(ns: &str, iface: &str) -> RawIpv4 {
        let iface = iface.to_string();
        in_netns(ns, move || {
            let s = RawIpv4::open(libc::IPPROTO_RAW)?;
            s.bind_device(&iface)?;
            s.set_int(libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 0)?;
            Ok::<_, io::Error>(s)
        })
        .and_then(|r| r)
        .unwrap_or_else(|e| panic!("raw sender in {ns}: {e}"))
    }

    /// A socket receiving every IPv4 datagram of `protocol` (header included) that reaches
    /// `iface` in namespace `ns`, a member of multicast `group` there; `recv` waits at most
    /// `timeout`.
    pub fn receiver(
        ns: &str,
        iface: &str,
        protocol: i32,
        group: Ipv4Addr,
        timeout: Duration,
    ) -> RawIpv4 {
        let iface = iface.to_string();
        in_netns(ns, move || {
            let s = RawIpv4::open(protocol)?;
            s.bind_device(&iface)?;
            let name = CString::new(iface).map_err(io::Error::other)?;
            // SAFETY: NUL-terminated name.
            let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from(group).to_be(),
                },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: i32::try_from(index).map_err(io::Error::other)?,
            };
            s.set(libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
            let tv = libc::timeval {
                tv_sec: timeout.as_secs() as libc::time_t,
                tv_usec: timeout.subsec_micros() as libc::suseconds_t,
            };
            s.set(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
            s.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20)?;
            Ok::<_, io::Error>(s)
        })
        .and_then(|r| r)
        .unwrap_or_else(|e| panic!("raw receiver in {ns}: {e}"))
    }

    fn open(protocol: i32) -> io::Result<RawIpv4> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain syscall; the fd is owned right away.
        let fd =
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd nobody else owns.
        Ok(RawIpv4 {
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
        })
    }

    fn bind_device(&self, iface: &str) -> io::Result<()> {
        // SAFETY: pointer and length describe `iface`.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                iface.as_ptr().cast(),
                iface.len() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn set<T>(&self, level: i32, name: i32, value: &T) -> io::Result<()> {
        // SAFETY: pointer and size describe `value`.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (value as *const T).cast(),
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn set_int(&self, level: i32, name: i32, value: libc::c_int) -> io::Result<()> {
        self.set(level, name, &value)
    }

    /// Sends one whole datagram (IPv4 header first) towards `dst`.
    pub fn send(&self, datagram: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        let to = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: buffer and address are valid for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                datagram.as_ptr().cast(),
                datagram.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Receives one datagram; `None` on timeout or error.
    pub fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: buffer valid for its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        usize::try_from(n).ok()
    }
}

/// Datagrams with their arrival times.
pub type Seen = Vec<(Instant, Vec<u8>)>;

/// Everything a [`RawIpv4::receiver`] sees, recorded with arrival times by a background
/// thread until dropped.
pub struct Capture {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Starts recording datagrams of `protocol` sent to `group` on `iface` in namespace `ns`.
    pub fn start(ns: &str, iface: &str, protocol: i32, group: Ipv4Addr) -> Capture {
        let sock = RawIpv4::receiver(ns, iface, protocol, group, Duration::from_millis(50));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::SeqCst) {
                if let Some(n) = sock.recv(&mut buf) {
                    let at = Instant::now();
                    seen2
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((at, buf[..n].to_vec()));
                }
            }
        });
        Capture {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// A copy of what was recorded so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
