#![no_main]

use std::cell::RefCell;

use entraide_fuzz::checks::{self, BundleHarness};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static HARNESS: RefCell<Option<BundleHarness>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    HARNESS.with(|h| {
        let mut h = h.borrow_mut();
        checks::bundle(h.get_or_insert_with(BundleHarness::new), data);
    });
});
