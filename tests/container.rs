//! The FROM scratch image, run as containers the way the documented Deployment runs it.
//!
//! Builds the image with `scripts/build-image`, creates a user-defined bridge network on
//! 198.51.100.0/24 and runs three containers with only `NET_ADMIN`, `NET_RAW` and `SYS_CHROOT`
//! (everything else dropped; not privileged), the host's `/` mounted read-only at `/host`
//! and a `#!/bin/sh` check script mounted at `/etc/keepalive` — the image has no `/bin/sh`,
//! so the check runs through the host root. Then: one holder per VIP; a failing check moves
//! the VIP; `docker kill` of the holder moves it; `docker stop` moves it within Skew_Time +
//! 0.3 s; `pgrep keepalived` in the container answers from /proc; the removal entrypoint
//! removes the VIPs. VIPs are looked up from the host with `nsenter` (no `ip` in the image).
//!
//! Skipped (with a message) when `docker info` fails. Containers, network, image and temp
//! files are removed by a drop guard, also when an assertion fails.
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const NODES: usize = 3;
const VIPS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 51, 100, 200),
    Ipv4Addr::new(198, 51, 100, 201),
];
const CONFIG_NAME: &str = "ipfct";

fn node_ip(i: usize) -> String {
    format!("198.51.100.{}", 10 + i)
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"))
}

/// Runs docker, panics with its stderr on failure, returns stdout.
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Everything the test created, removed on drop.
struct Setup {
    tag: String,
    network: String,
    containers: Vec<String>,
    dir: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for c in &self.containers {
                let logs = docker(&["logs", c]);
                eprintln!(
                    "--- logs of {c}:\n{}",
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
        }
        for c in &self.containers {
            docker(&["rm", "-f", c]);
        }
        docker(&["network", "rm", &self.network]);
        docker(&["image", "rm", "-f", &self.tag]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Setup {
    /// The container's init pid on the host, `None` when it is not running.
    fn pid(&self, i: usize) -> Option<String> {
        let out = docker(&["inspect", "-f", "{{.State.Pid}}", &self.containers[i]]);
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && pid != "0" && !pid.is_empty()).then_some(pid)
    }

    /// Our VIPs present in container `i`'s network namespace.
    fn vips_in(&self, i: usize) -> Vec<Ipv4Addr> {
        let Some(pid) = self.pid(i) else {
            return Vec::new();
        };
        let out = Command::new("nsenter")
            .args([
                "-t", &pid, "-n", "ip", "-o", "-4", "addr", "show", "dev", "eth0",
            ])
            .output()
            .expect("nsenter");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .filter(|a| VIPS.contains(a))
            .collect()
    }

    /// For each VIP, the containers (among `live`) holding it.
    fn holders(&self, live: &[usize]) -> Vec<Vec<usize>> {
        let held: Vec<(usize, Vec<Ipv4Addr>)> =
            live.iter().map(|&i| (i, self.vips_in(i))).collect();
        VIPS.iter()
            .map(|v| {
                held.iter()
                    .filter(|(_, vips)| vips.contains(v))
                    .map(|(i, _)| *i)
                    .collect()
            })
            .collect()
    }

    /// Priority of instance `n` (1-based) in container `i`, from its start-up plan table.
    fn priority(&self, i: usize, n: usize) -> u8 {
        let logs = docker(&["logs", &self.containers[i]]);
        let text = String::from_utf8_lossy(&logs.stderr).into_owned();
        let name = format!("{CONFIG_NAME}_VIP_{n}");
        text.lines()
            .find_map(|l| {
                let mut words = l.split_whitespace().skip_while(|w| *w != name);
                words.next()?;
                let _vrid = words.next()?;
                words.next()?.parse().ok()
            })
            .unwrap_or_else(|| {
                panic!(
                    "no plan line for {name} in the logs of {}:\n{text}",
                    self.containers[i]
                )
            })
    }

    fn logs(&self, i: usize) -> String {
        String::from_utf8_lossy(&docker(&["logs", &self.containers[i]]).stderr).into_owned()
    }
}

/// Polls `cond` until it returns `Some` or `timeout` passes since `t0`.
fn wait_since<T>(
    t0: Instant,
    timeout: Duration,
    mut cond: impl FnMut() -> Option<T>,
) -> Option<(T, Duration)> {
    loop {
        if let Some(v) = cond() {
            return Some((v, t0.elapsed()));
        }
        if t0.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The single holder of VIP `v` among `live`, once there is exactly one.
fn single_holder(s: &Setup, live: &[usize], v: usize) -> Option<usize> {
    match s.holders(live)[v].as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn skew_time(priority: u8) -> Duration {
    Duration::from_secs_f64(f64::from(256 - u32::from(priority)) / 256.0)
}

fn docker_available() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn scratch_image_in_containers() {
    if !docker_available() {
        eprintln!("SKIP: `docker info` failed; the container test needs a docker daemon");
        return;
    }
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("ipf{id}container"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let s = Setup {
        tag: format!("ipfailover-test:{id}"),
        network: format!("ipf{id}net"),
        containers: (0..NODES).map(|i| format!("ipf{id}c{i}")).collect(),
        dir: dir.clone(),
    };

    let t = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new(root.join("scripts/build-image"))
        .arg(&s.tag)
        .status()
        .expect("scripts/build-image");
    assert!(built.success(), "scripts/build-image failed");
    let size = docker_ok(&["image", "inspect", "-f", "{{.Size}}", &s.tag]);
    eprintln!("image {} built in {:?}: {size} bytes", s.tag, t.elapsed());

    // Not --internal: Docker drops bridged traffic to addresses outside an internal
    // network's subnet, which includes VRRP's 224.0.0.18.
    docker_ok(&[
        "network",
        "create",
        "--subnet",
        "198.51.100.0/24",
        "--gateway",
        "198.51.100.1",
        &s.network,
    ]);

    // The image has no /bin/sh: this check runs with the host's, in a chroot to /host. It
    // fails while `fail-<node>` exists (a host path, seen through /host).
    let script = dir.join("check.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n[ ! -e {}/fail-$1 ]\n", dir.display()),
    )
    .expect("check script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let env = |i: usize| {
        vec![
            format!("OPENSHIFT_HA_CONFIG_NAME={CONFIG_NAME}"),
            format!("OPENSHIFT_HA_VIRTUAL_IPS={}-201", VIPS[0]),
            "OPENSHIFT_HA_NETWORK_INTERFACE=eth0".to_string(),
            format!("OPENSHIFT_HA_CHECK_SCRIPT=/etc/keepalive/check.sh n{i}"),
            "OPENSHIFT_HA_CHECK_INTERVAL=1".to_string(),
        ]
    };
    let volume = format!("{}:/etc/keepalive:ro", dir.display());
    let t0 = Instant::now();
    for i in 0..NODES {
        let ip = node_ip(i);
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &s.containers[i],
            "--network",
            &s.network,
            "--ip",
            &ip,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        for cap in [
            "--cap-drop=ALL",
            "--cap-add=NET_ADMIN",
            "--cap-add=NET_RAW",
            "--cap-add=SYS_CHROOT",
        ] {
            args.push(cap.to_string());
        }
        for v in ["/:/host:ro", &volume] {
            args.extend(["-v".to_string(), v.to_string()]);
        }
        for e in env(i) {
            args.extend(["-e".to_string(), e]);
        }
        args.push(s.tag.clone());
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let mut live: Vec<usize> = (0..NODES).collect();

    // One holder per VIP, and it stays so.
    let all_single = |s: &Setup, live: &[usize]| {
        (0..VIPS.len())
            .map(|v| single_holder(s, live, v))
            .collect::<Option<Vec<_>>>()
    };
    let (first, took) = wait_since(t0, Duration::from_secs(20), || all_single(&s, &live))
        .expect("one holder per VIP");
    eprintln!("election: holders {first:?} after {took:?} (containers started at t0)");
    let calm = Instant::now();
    while calm.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            all_single(&s, &live),
            Some(first.clone()),
            "holders changed while nothing happened"
        );
    }
    for i in 0..NODES {
        let logs = s.logs(i);
        assert!(
            logs.contains("/etc/keepalive/check.sh: interpreter /bin/sh is not in this image: running the script with /host/bin/sh in a chroot to /host"),
            "{logs}"
        );
        assert!(logs.contains("VRRP_Script(chk_ipfct) succeeded"), "{logs}");
    }

    // The liveness probe looks at /proc: the daemon is found, a made-up name is not.
    let c = &s.containers[0];
    let probe = docker(&["exec", c, "pgrep", "keepalived"]);
    assert!(probe.status.success(), "pgrep keepalived: {probe:?}");
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "1",
        "the daemon is PID 1"
    );
    assert_eq!(
        docker(&["exec", c, "pgrep", "no-such-daemon"])
            .status
            .code(),
        Some(1)
    );

    // A failing check (FAULT) moves VIP 1 away from its holder.
    let holder = first[0];
    let flag = dir.join(format!("fail-n{holder}"));
    std::fs::write(&flag, "").expect("fail flag");
    let t0 = Instant::now();
    let others: Vec<usize> = live.iter().copied().filter(|&i| i != holder).collect();
    let (to, took) = wait_since(t0, Duration::from_secs(6), || single_holder(&s, &others, 0))
        .expect("VIP moves on check failure");
    eprintln!(
        "check failure on {holder}: VIP {} on {to} after {took:?}",
        VIPS[0]
    );
    assert!(
        s.holders(&[holder])[0].is_empty(),
        "the faulted node dropped the VIP"
    );
    std::fs::remove_file(&flag).expect("remove fail flag");

    // docker kill (SIGKILL, no goodbye): the others notice after Master_Down_Interval.
    let victim = single_holder(&s, &live, 0).expect("a holder");
    let t0 = Instant::now();
    docker_ok(&["kill", &s.containers[victim]]);
    live.retain(|&i| i != victim);
    let (to, took) = wait_since(t0, Duration::from_secs(6), || single_holder(&s, &live, 0))
        .expect("VIP moves after docker kill");
    eprintln!(
        "docker kill {victim}: VIP {} on {to} after {took:?}",
        VIPS[0]
    );
    assert!(
        took <= Duration::from_millis(4500),
        "Master_Down_Interval is at most 4 s, took {took:?}"
    );

    // docker stop (SIGTERM): priority-0 adverts hand over within Skew_Time of the new holder.
    let victim = to;
    let heir = *live.iter().find(|&&i| i != victim).expect("one left");
    let bound = skew_time(s.priority(heir, 1)) + Duration::from_millis(300);
    let t0 = Instant::now();
    let mut stop = Command::new("docker")
        .args(["stop", "-t", "10", &s.containers[victim]])
        .stdout(Stdio::null())
        .spawn()
        .expect("docker stop");
    let (_, took) = wait_since(t0, Duration::from_secs(5), || {
        (single_holder(&s, &[heir], 0) == Some(heir)).then_some(())
    })
    .expect("VIP moves after docker stop");
    let stopped = stop.wait().expect("docker stop");
    let stop_took = t0.elapsed();
    eprintln!(
        "docker stop {victim}: VIP {} on {heir} after {took:?} (bound {bound:?}); docker stop returned after {stop_took:?}",
        VIPS[0]
    );
    assert!(stopped.success());
    assert!(
        took <= bound,
        "took {took:?}, bound Skew_Time + 0.3 s = {bound:?}"
    );
    assert!(
        stop_took < Duration::from_secs(3),
        "the daemon exits on SIGTERM within 2 s, not after docker's 10 s"
    );
    assert_eq!(
        docker_ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}}",
            &s.containers[victim]
        ]),
        "0"
    );
    live.retain(|&i| i != victim);
    let stop_logs = s.logs(victim);
    assert!(
        stop_logs.contains(&format!("({CONFIG_NAME}_VIP_1) Entering MASTER STATE")),
        "{stop_logs}"
    );

    // The last one holds everything; freeze it (its namespace stays) and run the removal
    // entrypoint in its network namespace, as the documented removal Job does on a node.
    let (_, took) = wait_since(Instant::now(), Duration::from_secs(5), || {
        (s.vips_in(heir).len() == VIPS.len()).then_some(())
    })
    .expect("survivor holds both VIPs");
    eprintln!("survivor {heir} holds both VIPs (+{took:?})");
    docker_ok(&["pause", &s.containers[heir]]);
    let netns = format!("container:{}", s.containers[heir]);
    let mut args = vec![
        "run",
        "--rm",
        "--network",
        &netns,
        "--cap-drop=ALL",
        "--cap-add=NET_ADMIN",
    ];
    let env_heir = env(heir);
    for e in &env_heir {
        args.extend(["-e", e]);
    }
    args.extend([
        "--entrypoint",
        "/var/lib/ipfailover/keepalived/remove-failover.sh",
        &s.tag,
    ]);
    let removal = docker(&args);
    let removal_log = String::from_utf8_lossy(&removal.stderr);
    assert!(removal.status.success(), "remove-failover.sh: {removal:?}");
    assert!(
        removal_log.contains("Releasing VIPs (interface eth0): 198.51.100.200 198.51.100.201"),
        "{removal_log}"
    );
    assert_eq!(
        s.vips_in(heir),
        Vec::<Ipv4Addr>::new(),
        "removal entrypoint left VIPs"
    );
    docker_ok(&["unpause", &s.containers[heir]]);
}
