//! Members' nodes as separate `entraide serve` processes on loopback, relays
//! and mDNS off (except the offline test, which runs default flags inside a
//! network namespace it creates).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use entraide_tests::{Serve, TestHome, binary, charter, eventually, heads, join, set_charter};

fn founder() -> (TestHome, Serve) {
    let a = TestHome::new();
    a.ok(&["init", "--org", "Asbl A"]);
    a.ok(&[
        "alliance",
        "create",
        "Alliance",
        "--admission",
        "coordinator",
    ]);
    let serve = Serve::start(&a);
    (a, serve)
}

fn three_members() -> ([TestHome; 3], [Serve; 3]) {
    let (a, sa) = founder();
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    ([a, b, c], [sa, sb, sc])
}

#[test]
fn three_members_merge_concurrent_edits_and_share_files() {
    let ([a, b, c], [_sa, sb, sc]) = three_members();
    for home in [&a, &b, &c] {
        eventually(10, "every member sees three organisations", || {
            home.json(&["member", "list"]).as_array().map(Vec::len) == Some(3)
        });
    }
    set_charter(&a, "Charter\n\nArticle 1.\n\nArticle 2.\n");
    eventually(10, "the first text reaches everyone", || {
        charter(&b) == charter(&a) && charter(&c) == charter(&a)
    });
    // Three coordinators edit different articles at the same time, each on
    // the text as it was (B and C offline for the moment, so that none of
    // them sees another's edit first: `charter set` makes the text what it is
    // told, so an edit it has already received would be undone).
    let (b_addr, c_addr) = (sb.addr.clone(), sc.addr.clone());
    sb.stop();
    sc.stop();
    std::thread::scope(|s| {
        s.spawn(|| set_charter(&a, "Charter of the alliance\n\nArticle 1.\n\nArticle 2.\n"));
        s.spawn(|| set_charter(&b, "Charter\n\nArticle 1. Solidarity.\n\nArticle 2.\n"));
        s.spawn(|| set_charter(&c, "Charter\n\nArticle 1.\n\nArticle 2. Autonomy.\n"));
    });
    let _sb = Serve::start_at(&b, &b_addr);
    let _sc = Serve::start_at(&c, &c_addr);
    let merged = "Charter of the alliance\n\nArticle 1. Solidarity.\n\nArticle 2. Autonomy.\n";
    for home in [&a, &b, &c] {
        eventually(20, "the merged charter everywhere", || {
            let now = charter(home);
            if now != merged {
                eprintln!("not yet: {now:?}");
            }
            now == merged
        });
    }
    assert_eq!(heads(&a, "charter"), heads(&b, "charter"));
    assert_eq!(heads(&a, "charter"), heads(&c, "charter"));

    // A library file added on B arrives byte for byte on C.
    let bytes: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = b.scratch().join("statuts.pdf");
    std::fs::write(&file, &bytes).expect("write");
    let id = b
        .ok(&[
            "library",
            "add",
            file.to_str().expect("path"),
            "--title",
            "Statuts",
            "--kind",
            "statute",
        ])
        .stdout
        .trim()
        .to_owned();
    eventually(10, "the file is available on C", || {
        c.json(&["library", "list"]).as_array().is_some_and(|l| {
            l.iter()
                .any(|e| e["id"] == id.as_str() && e["available"] == true)
        })
    });
    let out = c.scratch().join("copy.pdf");
    c.ok(&["library", "get", &id, "--out", out.to_str().expect("path")]);
    assert_eq!(std::fs::read(&out).expect("read"), bytes);
}

#[test]
fn a_member_offline_for_a_while_catches_up() {
    let ([a, b, c], [sa, sb, sc]) = three_members();
    set_charter(&a, "one\n");
    eventually(10, "C has the first text", || charter(&c) == "one\n");
    sc.stop();
    set_charter(&a, "zero\none\n");
    set_charter(&b, "zero\none\ntwo\n");
    // C edits while its daemon is down: the command opens the home itself.
    set_charter(&c, "one\nthree\n");
    a.ok(&["resource", "add", "Salle Horta", "--kind", "room"]);
    let _sc = Serve::start(&c);
    let expected = "zero\none\ntwo\nthree\n";
    for home in [&a, &b, &c] {
        eventually(15, "all three converge after C is back", || {
            charter(home) == expected
        });
    }
    eventually(10, "C has A's resource", || {
        c.json(&["resource", "list"]).as_array().map(Vec::len) == Some(1)
    });
    assert_eq!(heads(&a, "charter"), heads(&c, "charter"));
    drop((sa, sb));
}

#[test]
fn members_sync_without_the_founder() {
    let ([a, b, c], [sa, _sb, _sc]) = three_members();
    eventually(10, "B and C know each other", || {
        b.json(&["peers"]).as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p["org"] == "Asbl C" && p["connected"] == true)
        })
    });
    sa.stop();
    drop(a);
    set_charter(&b, "written while the founder is gone\n");
    eventually(10, "C gets B's edit directly", || {
        charter(&c) == "written while the founder is gone\n"
    });
}

#[test]
fn sync_without_a_daemon_and_status_peers() {
    let (a, _sa) = founder();
    let b = join(&a, "Asbl B");
    set_charter(&a, "from A\n");
    let run = b.json(&["sync", "--timeout", "10"]);
    assert_eq!(run["synced_with"].as_array().map(Vec::len), Some(1));
    assert_eq!(charter(&b), "from A\n");
    let status = b.json(&["status"]);
    let peers = status["peers"].as_array().expect("peers");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["org"], "Asbl A");
    assert!(peers[0]["last_sync"].is_string(), "{status}");
    assert!(peers[0].get("connected").is_some());
    // With A's daemon gone, nobody is reachable: exit 1, one line.
    drop(_sa);
    b.fails(&["sync", "--timeout", "3"], 1);
}

#[test]
fn a_ticket_cannot_be_used_twice_and_garbage_is_refused() {
    let (a, _sa) = founder();
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let b = TestHome::new();
    b.ok(&["init", "--org", "Asbl B"]);
    b.ok(&["join", &ticket]);
    let c = TestHome::new();
    c.ok(&["init", "--org", "Asbl C"]);
    let run = c.fails(&["join", &ticket, "--timeout", "10"], 1);
    assert!(run.stderr.contains("already used"), "{run:?}");
    c.fails(&["join", "entraide1garbage"], 2);
    c.fails(&["join", "not a ticket"], 2);
    assert_eq!(c.json(&["status"])["alliance"], serde_json::Value::Null);
}

#[test]
fn an_interrupted_large_sync_leaves_nothing_partial_and_resumes() {
    let (a, _sa) = founder();
    let b = join(&a, "Asbl B");
    // About 300 KB of text in a few large edits.
    let mut text = String::new();
    for round in 0..3 {
        for i in 0..6_000 {
            text.push_str(&format!(
                "line {round}-{i} of the shared procedures library\n"
            ));
        }
        set_charter(&a, &text);
    }
    let target = heads(&a, "charter");
    let old = charter(&b);
    for delay_ms in [60u64, 150, 250] {
        let mut child = b
            .command(&["sync", "--timeout", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sync");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // The store opens, and the charter is all or nothing.
        let now = charter(&b);
        assert!(
            now == old || now == text,
            "a partial charter of {} bytes",
            now.len()
        );
    }
    b.ok(&["sync", "--timeout", "60"]);
    assert_eq!(heads(&b, "charter"), target);
    assert_eq!(charter(&b), text);
}

/// A network namespace of the test's own, deleted when dropped.
struct Netns(String);

impl Netns {
    fn new() -> Self {
        // One per test: tests of this file run side by side in one process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "entraide-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "`ip netns add` failed: this test needs root and iproute2 (CI runs as root)"
        );
        let up = Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(up, "cannot bring up loopback in the namespace");
        Self(name)
    }

    /// Runs `ip` inside the namespace.
    fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .arg("-n")
            .arg(&self.0)
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?} failed in the namespace");
    }

    fn command(&self, home: &TestHome, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0])
            .arg(binary())
            .arg("--home")
            .arg(home.path())
            .args(args)
            .env("ENTRAIDE_TZ", "Europe/Brussels");
        cmd
    }

    fn ok(&self, home: &TestHome, args: &[&str]) -> String {
        let out = self.command(home, args).output().expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn default_flags_work_without_internet() {
    // Inside a namespace with only loopback: no internet, and mDNS stays inside.
    let ns = Netns::new();
    let a = TestHome::new();
    a.ok(&["init", "--org", "Asbl A"]);
    a.ok(&[
        "alliance",
        "create",
        "Alliance",
        "--admission",
        "coordinator",
    ]);
    let started = Instant::now();
    let serve = Serve::spawn(&mut ns.command(&a, &["serve"]));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "serve took {:?} to start",
        started.elapsed()
    );
    let ticket = ns.ok(&a, &["invite"]).trim().to_owned();
    let b = TestHome::new();
    b.ok(&["init", "--org", "Asbl B"]);
    ns.ok(&b, &["join", &ticket, "--timeout", "20"]);
    set_charter(&a, "offline and fine\n");
    let begun = Instant::now();
    ns.ok(&b, &["sync", "--timeout", "20"]);
    assert!(
        begun.elapsed() < Duration::from_secs(10),
        "sync took {:?}",
        begun.elapsed()
    );
    assert_eq!(charter(&b), "offline and fine\n");
    serve.stop();
}

#[test]
fn a_large_library_file_survives_an_interrupted_sync() {
    let (a, _sa) = founder();
    let b = join(&a, "Asbl B");
    let bytes: Vec<u8> = (0..40_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let file = a.scratch().join("archive.bin");
    std::fs::write(&file, &bytes).expect("write");
    let id = a
        .ok(&[
            "library",
            "add",
            file.to_str().expect("path"),
            "--title",
            "Archives 2025",
        ])
        .stdout
        .trim()
        .to_owned();
    let received = |home: &TestHome| -> u64 {
        home.json(&["library", "list"])
            .as_array()
            .and_then(|l| l.iter().find(|e| e["id"] == id.as_str()))
            .and_then(|e| e["received"].as_u64())
            .unwrap_or(0)
    };
    let mut last = 0;
    for delay_ms in [300u64, 700, 1200] {
        let mut child = b
            .command(&["sync", "--timeout", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sync");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // What arrived stays: the next sync goes on from there.
        let now = received(&b);
        assert!(now >= last, "received went back from {last} to {now}");
        last = now;
    }
    b.ok(&["sync", "--timeout", "60"]);
    let out = b.scratch().join("copy.bin");
    b.ok(&["library", "get", &id, "--out", out.to_str().expect("path")]);
    assert_eq!(std::fs::read(&out).expect("read"), bytes);
}

/// The JSON skeleton of a value: its field names and types.
fn shape(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => {
            let mut kinds: Vec<Value> = items.iter().map(shape).collect();
            kinds.dedup();
            assert!(kinds.len() <= 1, "mixed elements in {value}");
            Value::Array(kinds)
        }
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

#[test]
fn sync_json_has_one_shape_with_and_without_a_daemon() {
    let (a, _sa) = founder();
    let b = join(&a, "Asbl B");
    // C joins, serves long enough for A to learn its address, then goes
    // offline: both paths name it as not synced.
    let c = join(&a, "Asbl C");
    let a_device = a.json(&["status"])["device"].clone();
    let c_device = c.json(&["status"])["device"].clone();
    let sc = Serve::start(&c);
    eventually(10, "A is connected to C", || {
        a.json(&["peers"]).as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p["device"] == c_device && p["connected"] == true)
        })
    });
    drop(sc);
    drop(c);
    let expected = serde_json::json!({
        "synced_with": ["string"],
        "failed": [{"device": "string", "error": "string"}],
    });
    let names_c = |reply: &serde_json::Value| {
        reply["failed"]
            .as_array()
            .is_some_and(|f| f.iter().any(|e| e["device"] == c_device))
    };

    // Without a daemon: the first sync tells B where C is, the second tries C.
    b.json(&["sync", "--timeout", "5"]);
    let alone = b.json(&["sync", "--timeout", "3"]);
    assert_eq!(shape(&alone), expected, "{alone}");
    assert_eq!(
        alone["synced_with"],
        serde_json::json!([a_device]),
        "{alone}"
    );
    assert!(names_c(&alone), "{alone}");

    // With B's daemon running, the same command on the same home.
    let _sb = Serve::start(&b);
    let served = b.json(&["sync", "--timeout", "15"]);
    assert_eq!(shape(&served), expected, "{served}");
    assert_eq!(
        served["synced_with"],
        serde_json::json!([a_device]),
        "{served}"
    );
    assert!(names_c(&served), "{served}");
    assert_eq!(shape(&alone), shape(&served));
}

/// A script or service manager starts `entraide serve` and talks to it at
/// once: a command run while the daemon is starting (it holds the home
/// before its socket is up) is answered as soon as the socket is, not after
/// waiting 10 s for a home the daemon will never give back.
#[test]
fn a_command_run_while_serve_starts_is_answered_by_the_daemon() {
    let home = TestHome::founded("Asbl A");
    for delay_ms in [0u64, 20, 60, 120, 250] {
        let mut serve = home
            .command(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-relay",
                "--no-mdns",
                "--ui",
                "off",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let started = Instant::now();
        let status = home.run(&["status", "--json"]);
        let took = started.elapsed();
        let _ = serve.kill();
        let _ = serve.wait();
        assert_eq!(
            status.code, 0,
            "status {delay_ms} ms after serve: {}",
            status.stderr
        );
        assert!(
            took < Duration::from_secs(5),
            "status {delay_ms} ms after serve took {took:?}"
        );
        assert_eq!(status.json()["org"], "Asbl A");
    }
}

/// `serve` runs with glibc's allocator kept to one arena (it starts itself
/// again so: see `tune_allocator` in the command line), and answers as any node does; one started with `GLIBC_TUNABLES`
/// already set keeps the user's value.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn serve_runs_with_the_allocator_settings_of_the_command_line() {
    let environ = |serve: &Serve| -> Vec<Vec<u8>> {
        std::fs::read(format!("/proc/{}/environ", serve.pid()))
            .expect("environ")
            .split(|b| *b == 0)
            .map(<[u8]>::to_vec)
            .collect()
    };
    // glibc splits the variable where it reads it: its first setting shows.
    let tuned = |serve: &Serve, arenas: &[u8]| {
        let vars = environ(serve);
        let mut wanted = b"GLIBC_TUNABLES=glibc.malloc.arena_max=".to_vec();
        wanted.extend_from_slice(arenas);
        (
            vars.iter().any(|v| v.starts_with(&wanted)),
            vars.contains(&b"ENTRAIDE_ALLOCATOR_TUNED=1".to_vec()),
        )
    };
    let (a, serve) = founder();
    assert_eq!(tuned(&serve, b"1"), (true, true), "serve runs tuned");
    let status = a.json(&["status"]);
    assert_eq!(status["org"], "Asbl A", "and answers: {status}");
    serve.stop();

    let mut cmd = Serve::command(&a, "127.0.0.1:0");
    cmd.env("GLIBC_TUNABLES", "glibc.malloc.arena_max=2");
    let serve = Serve::spawn(&mut cmd);
    assert_eq!(
        tuned(&serve, b"2"),
        (true, false),
        "the user's value is kept"
    );
    serve.stop();
}

/// A node follows its own addresses while it serves: one it gets (a laptop
/// back on a network) is in the tickets it prints from then on, and one it
/// loses is no longer. (On such a change it also dials every member again
/// at once, as `entraide sync` asks it to.)
#[test]
fn a_node_that_moves_gives_its_new_address_in_its_tickets() {
    let ns = Netns::new();
    let a = TestHome::founded("Asbl A");
    let serve = Serve::spawn(&mut ns.command(&a, &["serve", "--no-relay", "--no-mdns"]));
    let moved: std::net::IpAddr = "10.77.0.1".parse().expect("address");
    let in_ticket = || {
        let line = ns.ok(&a, &["invite"]);
        let ticket = entraide_node::Ticket::decode(line.trim()).expect("a ticket");
        ticket.addrs.iter().any(|s| s.ip() == moved)
    };
    let within = |what: &str, want: bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while in_ticket() != want {
            assert!(Instant::now() < deadline, "{what}: not within 20 s");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    assert!(!in_ticket());
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "lo"]);
    within("the new address in A's tickets", true);
    ns.ip(&["addr", "del", "10.77.0.1/24", "dev", "lo"]);
    within("the lost address out of A's tickets", false);
    serve.stop();
}
