#![no_main]

use std::cell::RefCell;

use entraide_fuzz::checks::{self, StoreHarness};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static HARNESS: RefCell<Option<StoreHarness>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    HARNESS.with(|h| {
        let mut h = h.borrow_mut();
        checks::store_open(h.get_or_insert_with(StoreHarness::new), data);
    });
});
