//! Rewrites the seed inputs under `tests/fuzz-fixtures/<target>/seed-*` as
//! this version of the code makes them:
//! `cargo run --manifest-path fuzz/Cargo.toml --example write_seeds`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz-fixtures");
    for (target, name, bytes) in entraide_fuzz::checks::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&name), bytes)?;
        println!("{target}/{name}");
    }
    Ok(())
}
