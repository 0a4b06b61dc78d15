//! Helpers for the end-to-end tests in `tests/tests/`: a fresh node home in a
//! temporary directory and a way to run the real `entraide` binary on it.

pub mod browser;
pub mod rogue;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `entraide` binary built by cargo for this workspace.
pub fn binary() -> PathBuf {
    // Integration tests live in another package than the binary, so
    // CARGO_BIN_EXE_entraide is not set: find it beside the test executable.
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let name = format!("entraide{}", std::env::consts::EXE_SUFFIX);
    // With a separate build directory (CARGO_BUILD_BUILD_DIR), the test runs
    // from there while the binary is placed in the target directory.
    if let (Some(target), Some(profile)) = (std::env::var_os("CARGO_TARGET_DIR"), dir.file_name()) {
        let bin = PathBuf::from(target).join(profile).join(&name);
        if bin.exists() {
            return bin;
        }
    }
    let bin = dir.join(name);
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

/// A running `entraide serve`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Serve {
    child: Child,
    /// Where it listens, as it printed.
    pub addr: String,
    /// The web interface's base URL (`http://IP:PORT`), when it serves one.
    pub ui: Option<String>,
    /// The one-time login link it printed, when it serves a web interface.
    pub login: Option<String>,
    /// What it printed before it served.
    pub early: Vec<String>,
}

impl Serve {
    /// `entraide serve` on loopback, relays and mDNS off, no web interface
    /// (many tests run several nodes at once).
    pub fn start(home: &TestHome) -> Self {
        Self::start_at(home, "127.0.0.1:0")
    }

    /// The same, on a given address (to restart a node where peers know it).
    pub fn start_at(home: &TestHome, listen: &str) -> Self {
        Self::spawn(&mut Self::command(home, listen))
    }

    /// The command [`Serve::start_at`] runs, to change before spawning it.
    pub fn command(home: &TestHome, listen: &str) -> Command {
        home.command(&[
            "serve",
            "--listen",
            listen,
            "--no-relay",
            "--no-mdns",
            "--ui",
            "off",
        ])
    }

    /// The same, with the web interface on a free loopback port.
    pub fn start_with_ui(home: &TestHome) -> Self {
        let mut cmd = home.command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-relay",
            "--no-mdns",
            "--ui",
            "127.0.0.1:0",
        ]);
        let serve = Self::spawn(&mut cmd);
        assert!(
            serve.ui.is_some() && serve.login.is_some(),
            "serve printed no web interface address"
        );
        serve
    }

    /// `entraide serve` on a home with no organisation or no alliance yet:
    /// returns once its set-up page is up (its login link printed), before
    /// any node runs (`addr` is empty).
    pub fn start_setup(home: &TestHome) -> Self {
        let mut cmd = home.command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-relay",
            "--no-mdns",
            "--ui",
            "127.0.0.1:0",
        ]);
        Self::spawn_until(&mut cmd, true)
    }

    /// Spawns a prepared `serve` command and waits until it serves.
    pub fn spawn(cmd: &mut Command) -> Self {
        Self::spawn_until(cmd, false)
    }

    fn spawn_until(cmd: &mut Command, setup: bool) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut ui, mut login, mut early) = (None, None, Vec::new());
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left);
            if let Ok(line) = &line {
                early.push(line.clone());
            }
            match line {
                Ok(line) if line.starts_with("web interface on ") => {
                    ui = Some(
                        line.trim_start_matches("web interface on ")
                            .trim_end_matches('/')
                            .to_owned(),
                    );
                }
                Ok(line) if line.starts_with("log in to the web interface: ") => {
                    login = Some(
                        line.trim_start_matches("log in to the web interface: ")
                            .to_owned(),
                    );
                    if setup {
                        break String::new();
                    }
                }
                Ok(line) if line.starts_with("serving device") => {
                    break line
                        .rsplit(" on ")
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("entraide serve did not start within 20 s");
                }
            }
        };
        // Keep draining stderr so the daemon never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Self {
            child,
            addr,
            ui,
            login,
            early,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it the way a user does (SIGTERM) and waits for a clean exit.
    pub fn stop(mut self) {
        match self.terminate(Duration::from_secs(15)) {
            Some(status) => assert!(status.success(), "serve exited with {status}"),
            None => panic!("serve did not stop within 15 s of SIGTERM"),
        }
    }

    /// Sends SIGTERM and waits up to `wait` for the exit: the daemon then
    /// makes durable what peers sent it (see `Node::flush`), as it does
    /// when a user stops it. A SIGKILL would lose it, as a crash does, and
    /// a test reading the home afterwards would race the daemon's flush.
    fn terminate(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.terminate(Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `home` joins `inviter`'s alliance (whose daemon runs).
pub fn join(inviter: &TestHome, org: &str) -> TestHome {
    let ticket = inviter.ok(&["invite"]).stdout.trim().to_owned();
    let home = TestHome::new();
    home.ok(&["init", "--org", org]);
    home.ok(&["join", &ticket, "--timeout", "20"]);
    home
}

pub fn charter(home: &TestHome) -> String {
    home.json(&["charter", "show"])["text"]
        .as_str()
        .expect("text")
        .to_owned()
}

pub fn heads(home: &TestHome, doc: &str) -> Vec<String> {
    let status = home.json(&["status"]);
    let docs = status["docs"].as_array().expect("docs");
    let doc = docs.iter().find(|d| d["name"] == doc).expect("doc");
    let mut heads: Vec<String> = doc["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h.as_str().expect("hash").to_owned())
        .collect();
    heads.sort();
    heads
}

pub fn set_charter(home: &TestHome, text: &str) {
    let path = home.scratch().join("charter.txt");
    std::fs::write(&path, text).expect("write");
    home.ok(&["charter", "set", "--file", path.to_str().expect("path")]);
}

/// Copies a home with `cp -a`, as a user copies the folder to another
/// computer (or keeps it as a backup).
pub fn cp_a(from: &TestHome, to: &TestHome) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from.path())
        .arg(to.path())
        .status()
        .expect("cp");
    assert!(status.success(), "cp -a failed");
}

/// Waits until `check` holds, for at most `secs` seconds.
pub fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {secs} s");
}
