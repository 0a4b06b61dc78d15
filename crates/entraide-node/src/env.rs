//! Where a node reads the time and draws its randomness.
//!
//! A node never reads the clock or the system's randomness itself: it asks
//! the [`Env`] it was opened with. The command line and the daemon open
//! nodes with [`SystemEnv`]; the deterministic simulation passes one of its
//! own (its virtual time, a seeded generator), so that a schedule replays
//! byte for byte: the same ids, the same times in the same changes. Such an
//! environment makes device keys and invitation secrets predictable, and is
//! for simulations only.

/// The time and randomness a node uses.
pub trait Env: Send + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Fills `bytes` with randomness fit for keys, secrets and ids.
    fn fill(&self, bytes: &mut [u8]) -> std::io::Result<()>;
}

/// The system's clock and randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn fill(&self, bytes: &mut [u8]) -> std::io::Result<()> {
        getrandom::fill(bytes).map_err(std::io::Error::other)
    }
}
