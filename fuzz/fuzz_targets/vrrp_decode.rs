#![no_main]
//! cargo-fuzz target; the checks live in `ipfailover_fuzz::vrrp_decode` (shared with tests/fuzz_corpus.rs).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ipfailover_fuzz::vrrp_decode(data));
