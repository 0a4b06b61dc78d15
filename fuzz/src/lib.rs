//! Fuzz targets for every decoder of bytes that come from outside a node:
//! sync and join frames, tickets, membership operations, document bundles
//! and the store file. The checks live in [`checks`], which
//! `tests/tests/fuzz_fixtures.rs` also includes to replay the kept inputs.

pub mod checks;
