//! The fuzz targets' checks in the normal test suite: every committed corpus file
//! (fuzz/corpus/<target>/*) and a few thousand seeded pseudo-random inputs go through the same
//! entry points the cargo-fuzz targets call. No network, no root.
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::fs;
use std::path::Path;

/// Random inputs per target; the xorshift seed is fixed so any failure replays.
const RANDOM_INPUTS: usize = 3000;
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// xorshift64*: tiny, deterministic, good enough to make bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

type Target = fn(&[u8]);

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                fs::read(&p).expect("read corpus file"),
            )
        })
        .collect()
}

/// Runs the corpus, then random inputs: half pure noise, half corpus files with a few bytes
/// flipped, cut or repeated (noise alone rarely gets past the first length check).
fn exercise(target: &str, run: Target) {
    let files = corpus(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for (name, bytes) in &files {
        if std::panic::catch_unwind(|| run(bytes)).is_err() {
            panic!("{target}: corpus file {name} panics");
        }
    }
    let mut rng = Rng(SEED ^ target.len() as u64);
    for i in 0..RANDOM_INPUTS {
        let input = if i % 2 == 0 {
            let len = rng.below(300);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let pick = rng.below(files.len());
            mutate(&mut rng, &files[pick].1)
        };
        if std::panic::catch_unwind(|| run(&input)).is_err() {
            panic!("{target}: random input #{i} panics (seed {SEED:#x}): {input:02x?}");
        }
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let at = rng.below(v.len());
                v[at] = rng.next() as u8;
            }
            1 => v.truncate(rng.below(v.len() + 1)),
            2 if !v.is_empty() => {
                let at = rng.below(v.len());
                let b = v[at];
                v.insert(at, b);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

#[test]
fn vrrp_decode_corpus_and_random() {
    exercise("vrrp_decode", harness::vrrp_decode);
}

#[test]
fn netlink_parse_corpus_and_random() {
    exercise("netlink_parse", harness::netlink_parse);
}

#[test]
fn env_parse_corpus_and_random() {
    exercise("env_parse", harness::env_parse);
}

#[test]
fn env_from_maps_parts_to_variables_in_order() {
    let env = harness::env_from(b"192.0.2.1\0\x003");
    assert_eq!(
        env.get("OPENSHIFT_HA_VIRTUAL_IPS").map(String::as_str),
        Some("192.0.2.1")
    );
    assert_eq!(
        env.get("OPENSHIFT_HA_VIP_GROUPS").map(String::as_str),
        Some("")
    );
    assert_eq!(
        env.get("OPENSHIFT_HA_VRRP_ID_OFFSET").map(String::as_str),
        Some("3")
    );
    assert_eq!(env.len(), 3);
}
