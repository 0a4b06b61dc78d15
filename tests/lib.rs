//! Helpers for the end-to-end tests in `tests/tests/`: a fresh node home in a
//! temporary directory and a way to run the real `entraide` binary on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `entraide` binary built by cargo for this workspace.
pub fn binary() -> PathBuf {
    // Integration tests live in another package than the binary, so
    // CARGO_BIN_EXE_entraide is not set: find it beside the test executable.
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("entraide{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p entraide-cli`",
        bin.display()
    );
    bin
}

/// A node home in a temporary directory, removed when dropped.
pub struct TestHome {
    dir: tempfile::TempDir,
}

/// What one command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Stdout parsed as the one JSON document it must be.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

impl TestHome {
    /// A fresh, uninitialised home.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A home initialised for `org`, with a founded alliance.
    pub fn founded(org: &str) -> Self {
        let home = Self::new();
        home.ok(&["init", "--org", org]);
        home.ok(&[
            "alliance",
            "create",
            "Alliance Test",
            "--admission",
            "coordinator",
        ]);
        home
    }

    /// The home directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A scratch directory beside the home.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A command ready to run on this home, in Europe/Brussels.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.arg("--home")
            .arg(self.path())
            .args(args)
            .env("ENTRAIDE_TZ", "Europe/Brussels")
            .env_remove("ENTRAIDE_HOME");
        cmd
    }

    /// Runs a command.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run entraide"))
    }

    /// Runs a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "entraide {args:?} failed: {}", run.stderr);
        run
    }

    /// Runs a command with `--json` that must succeed; returns its JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.ok(&all).json()
    }

    /// Runs a command that must fail with `code`, one line on stderr, and no panic.
    pub fn fails(&self, args: &[&str], code: i32) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, code,
            "entraide {args:?}: expected exit {code}, got {run:?}"
        );
        assert!(run.stderr.starts_with("error: "), "{run:?}");
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
        run
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}
