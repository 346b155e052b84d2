//! The `inet keepalived` table against a real kernel, checked with Debian's `nft`. Each test
//! runs on its own thread inside a fresh network namespace (nftables state is per namespace),
//! and runs `nft` from that thread so it sees the same ruleset. Needs root and `nft`; skipped
//! (with a message) otherwise.
mod isolated;

use std::io;
use std::process::{Command, Stdio};

use ipfailover::sys::nftables::{delete_vrrp_table, ensure_vrrp_table};

/// Runs `body` in a fresh network namespace, if we are root and have `nft`.
fn in_netns(body: impl FnOnce() + Send + 'static) {
    isolated::in_netns_if(
        have_nft(),
        "skipped: needs root (network namespaces) and the nft binary",
        body,
    );
}

fn have_nft() -> bool {
    Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run `nft` with one argument per word, or a whole script on stdin with `-f -`.
fn nft(args: &[&str]) -> String {
    let out = Command::new("nft").args(args).output().expect("run nft");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn nft_script(script: &str) {
    use std::io::Write;
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run nft -f -");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    assert!(
        child.wait().expect("wait nft").success(),
        "nft -f: {script}"
    );
}

/// Our table, normalised to trimmed non-empty lines.
fn listed() -> Vec<String> {
    nft(&["list", "table", "inet", "keepalived"])
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Exactly what `nft` prints for the table we promise.
const EXPECTED: &[&str] = &[
    "table inet keepalived {",
    "chain filter {",
    "type filter hook input priority filter; policy accept;",
    "ip daddr 224.0.0.18 accept",
    "ip6 daddr ff02::12 accept",
    "meta l4proto vrrp accept",
    "}",
    "}",
];

#[test]
fn ensure_creates_exactly_our_table_and_is_idempotent() {
    in_netns(|| {
        assert_eq!(nft(&["list", "ruleset"]), "");
        assert!(ensure_vrrp_table().expect("ensure"));
        assert_eq!(listed(), EXPECTED);
        // Handles included: a second call must not touch anything.
        let before = nft(&["-a", "list", "ruleset"]);
        assert!(!ensure_vrrp_table().expect("ensure again"));
        assert_eq!(nft(&["-a", "list", "ruleset"]), before);
    });
}

/// A `table inet keepalived` script for `nft -f` with these chain `policy` and rule lines.
fn our_table(policy: &str, rules: &[&str]) -> String {
    format!(
        "table inet keepalived {{\nchain filter {{\ntype filter hook input priority 0; policy {policy};\n{}\n}}\n}}\n",
        rules.join("\n")
    )
}

const V4: &str = "ip daddr 224.0.0.18 accept";
const V6: &str = "ip6 daddr ff02::12 accept";
const L4: &str = "meta l4proto 112 accept";

#[test]
fn ensure_repairs_a_table_with_other_content_and_leaves_other_tables() {
    in_netns(|| {
        nft_script(&our_table("accept", &[V4, "tcp dport 22 drop"]));
        nft_script(
            "table inet keepalived {\nchain extra {\ntype filter hook forward priority 0; policy drop;\n}\n}\n\
             table ip other {\nchain c {\ntype filter hook input priority 10;\nip saddr 192.0.2.1 drop\n}\n}\n",
        );
        let other = nft(&["list", "table", "ip", "other"]);
        assert!(ensure_vrrp_table().expect("repair"));
        assert_eq!(listed(), EXPECTED);
        assert_eq!(nft(&["list", "table", "ip", "other"]), other);
        assert!(!ensure_vrrp_table().expect("ensure after repair"));
    });
}

#[test]
fn ensure_repairs_wrong_rule_order_policy_and_dormant_table() {
    in_netns(|| {
        nft_script(&our_table("accept", &[V6, V4, L4]));
        assert!(ensure_vrrp_table().expect("reorder"));
        assert_eq!(listed(), EXPECTED);

        nft(&["delete", "table", "inet", "keepalived"]);
        nft_script(&our_table("drop", &[V4, V6, L4]));
        assert!(ensure_vrrp_table().expect("policy"));
        assert_eq!(listed(), EXPECTED);

        // Same content but dormant (hooks unregistered): must be woken up.
        nft_script("add table inet keepalived { flags dormant; }\n");
        assert!(listed().iter().any(|l| l.contains("dormant")));
        assert!(ensure_vrrp_table().expect("dormant"));
        assert_eq!(listed(), EXPECTED);
    });
}

#[test]
fn table_made_by_nft_itself_counts_as_ours() {
    in_netns(|| {
        // What a person would type: the bytecode nft makes must compare equal to ours.
        nft_script(&our_table("accept", &[V4, V6, L4]));
        let before = nft(&["-a", "list", "ruleset"]);
        assert!(!ensure_vrrp_table().expect("ensure"));
        assert_eq!(nft(&["-a", "list", "ruleset"]), before);
    });
}

#[test]
fn delete_removes_the_table_once() {
    in_netns(|| {
        assert!(!delete_vrrp_table().expect("delete absent"));
        nft(&["add", "table", "ip", "keepalived"]); // same name, other family: not ours
        assert!(ensure_vrrp_table().expect("ensure"));
        assert!(delete_vrrp_table().expect("delete"));
        assert_eq!(
            nft(&["list", "tables"]).trim(),
            "table ip keepalived",
            "only our inet table is gone"
        );
        assert!(!delete_vrrp_table().expect("delete again"));
        assert!(ensure_vrrp_table().expect("ensure after delete"));
        assert_eq!(listed(), EXPECTED);
    });
}

#[test]
fn errors_name_the_operation_without_privilege() {
    in_netns(|| {
        // Drop CAP_NET_ADMIN for this thread only: the kernel must refuse, and we say so.
        let mut hdr = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: header and two data structs are what capget/capset v3 expect.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_capget, &raw mut hdr, data.as_mut_ptr()),
                0
            );
            data[0].effective &= !(1 << 12); // CAP_NET_ADMIN
            assert_eq!(
                libc::syscall(libc::SYS_capset, &raw mut hdr, data.as_ptr()),
                0
            );
        }
        let e = ensure_vrrp_table().expect_err("no CAP_NET_ADMIN");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().starts_with("nftables "), "{e}");
        let e = delete_vrrp_table().expect_err("no CAP_NET_ADMIN");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().starts_with("nftables batch: "), "{e}");
    });
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
