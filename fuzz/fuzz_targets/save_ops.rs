#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| entraide_fuzz::checks::save_ops(data));
