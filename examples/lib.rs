//! Runnable examples: see `alliance.rs` (`cargo run --release --example alliance`).
