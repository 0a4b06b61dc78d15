//! Replays the fuzz targets' kept inputs under an ordinary `cargo test`.
//!
//! `tests/fuzz-fixtures/<target>/` holds, per fuzz target (see
//! `fuzz/README.md`), hand-made seeds (`seed-*`) and every crash the fuzzers
//! found, minimised (`crash-*`). Each is run through the very checks the
//! fuzz target runs, from `fuzz/src/checks.rs` (included here, so the two
//! cannot drift apart): no panic, and a refused input changes nothing.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../../fuzz/src/checks.rs"]
mod checks;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-fixtures")
}

/// Every file of `tests/fuzz-fixtures/<target>/`, sorted; never none.
fn fixtures(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fixtures_dir().join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", dir.display());
    out
}

/// Runs every fixture of `target` through `check` on one harness.
fn replay<H>(target: &str, harness: impl Fn() -> H, check: impl Fn(&mut H, &[u8])) {
    let mut h = harness();
    for (path, bytes) in fixtures(target) {
        eprintln!("replaying {}", path.display());
        check(&mut h, &bytes);
    }
}

#[test]
fn wire_msg() {
    replay("wire_msg", || (), |(), d| checks::wire_msg(d));
}

#[test]
fn join_msg() {
    replay("join_msg", || (), |(), d| checks::join_msg(d));
}

#[test]
fn change_ops() {
    replay("change_ops", || (), |(), d| checks::change_ops(d));
}

#[test]
fn save_ops() {
    replay("save_ops", || (), |(), d| checks::save_ops(d));
}

#[test]
fn ledger_text() {
    replay("ledger_text", || (), |(), d| checks::ledger_text(d));
}

#[test]
fn ticket() {
    replay("ticket", || (), |(), d| checks::ticket(d));
}

#[test]
fn membership_op() {
    replay("membership_op", || (), |(), d| checks::membership_op(d));
}

#[test]
fn bundle() {
    replay("bundle", checks::BundleHarness::new, checks::bundle);
}

#[test]
fn store_open() {
    replay("store_open", checks::StoreHarness::new, |h, d| {
        checks::store_open(h, d);
    });
}

/// The seeds as this version makes them (the files may be older) pass too.
/// To rewrite the files: `cargo run --manifest-path fuzz/Cargo.toml
/// --example write_seeds`.
#[test]
fn fresh_seeds() {
    let mut bundles = checks::BundleHarness::new();
    let stores = checks::StoreHarness::new();
    for (target, name, bytes) in checks::seeds() {
        eprintln!("seed {target}/{name}");
        match target {
            "wire_msg" => checks::wire_msg(&bytes),
            "join_msg" => checks::join_msg(&bytes),
            "ticket" => checks::ticket(&bytes),
            "ledger_text" => checks::ledger_text(&bytes),
            "membership_op" => checks::membership_op(&bytes),
            "bundle" => checks::bundle(&mut bundles, &bytes),
            "store_open" => checks::store_open(&stores, &bytes),
            "change_ops" => checks::change_ops(&bytes),
            "save_ops" => checks::save_ops(&bytes),
            other => panic!("a seed for an unknown target {other}"),
        }
    }
}
