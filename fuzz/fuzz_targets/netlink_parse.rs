#![no_main]
//! cargo-fuzz target; the checks live in `ipfailover_fuzz::netlink_parse` (shared with tests/fuzz_corpus.rs).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ipfailover_fuzz::netlink_parse(data));
