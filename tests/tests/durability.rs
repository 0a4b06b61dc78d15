//! Durability: what a command acknowledged is still there in the next
//! process, after a `kill -9` in the middle of other commands, and the
//! node's files are private to its user.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use entraide_tests::{Serve, TestHome, binary, eventually, join};
use serde_json::Value;

const ORG: &str = "Asbl Un";

fn one_id(stdout: &str) -> String {
    let lines: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected one id, got {stdout:?}");
    lines[0].to_owned()
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
}

fn by_id<'a>(list: &'a Value, id: &str) -> &'a Value {
    array(list)
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry with id {id} in {list:#}"))
}

/// Everything a user sees of the node's data.
fn everything(home: &TestHome) -> Vec<Value> {
    [
        &["status"][..],
        &["member", "list"],
        &["charter", "show"],
        &["values", "list"],
        &["library", "list"],
        &["resource", "list"],
        &["bookings"],
    ]
    .iter()
    .map(|args| home.json(args))
    .collect()
}

#[test]
fn data_survives_from_one_process_to_the_next() {
    let home = TestHome::new();
    let device = one_id(&home.ok(&["init", "--org", ORG]).stdout);
    home.ok(&[
        "alliance",
        "create",
        "Alliance Durable",
        "--admission",
        "coordinator",
    ]);
    let s = home.scratch();
    let charter = "Charte durable.\nDeuxième ligne.\n";
    std::fs::write(s.join("charte.md"), charter).unwrap();
    home.ok(&[
        "charter",
        "set",
        "--file",
        s.join("charte.md").to_str().unwrap(),
    ]);
    let value = one_id(
        &home
            .ok(&["values", "add", "Solidarité", "--description", "Aide"])
            .stdout,
    );
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    std::fs::write(s.join("gros.bin"), &bytes).unwrap();
    let entry = one_id(
        &home
            .ok(&[
                "library",
                "add",
                s.join("gros.bin").to_str().unwrap(),
                "--title",
                "Gros fichier",
                "--kind",
                "template",
                "--tag",
                "archive",
            ])
            .stdout,
    );
    let room = one_id(
        &home
            .ok(&[
                "resource",
                "add",
                "Salle Verte",
                "--kind",
                "room",
                "--capacity",
                "12",
                "--approval",
            ])
            .stdout,
    );
    let kept = one_id(
        &home
            .ok(&[
                "book",
                "Salle Verte",
                "--from",
                "2027-06-07T10:00",
                "--to",
                "2027-06-07T12:00",
                "--purpose",
                "Réunion",
            ])
            .stdout,
    );
    home.ok(&["booking", "approve", &kept]);
    let dropped = one_id(
        &home
            .ok(&[
                "book",
                "Salle Verte",
                "--from",
                "2027-06-08T10:00",
                "--to",
                "2027-06-08T12:00",
            ])
            .stdout,
    );
    home.ok(&["cancel", &dropped]);

    // Each check below runs in a new process.
    let status = home.json(&["status"]);
    assert_eq!(status["device"], device.as_str());
    assert_eq!(status["org"], ORG);
    assert_eq!(status["alliance"]["name"], "Alliance Durable");
    assert_eq!(status["members"], 1);
    assert_eq!(home.json(&["charter", "show"])["text"], charter);
    let values = home.json(&["values", "list"]);
    assert_eq!(by_id(&values, &value)["name"], "Solidarité");
    let library = home.json(&["library", "list"]);
    let e = by_id(&library, &entry);
    assert_eq!(e["title"], "Gros fichier");
    assert_eq!(e["size"], bytes.len());
    assert_eq!(e["available"], true);
    let out = s.join("sorti.bin");
    home.ok(&["library", "get", &entry, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let resources = home.json(&["resource", "list"]);
    assert_eq!(by_id(&resources, &room)["capacity"], 12);
    let bookings = home.json(&["bookings"]);
    assert_eq!(by_id(&bookings, &kept)["status"], "confirmed");
    assert_eq!(by_id(&bookings, &kept)["purpose"], "Réunion");
    assert_eq!(by_id(&bookings, &dropped)["status"], "cancelled");

    // Reading changes nothing.
    let first = everything(&home);
    assert_eq!(everything(&home), first);

    // Everything lives under the home: a copy of it is the same node.
    let copy = s.join("copie");
    let status = Command::new("cp")
        .arg("-a")
        .arg(home.path())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let run = Command::new(binary())
        .args(["--home", copy.to_str().unwrap(), "status", "--json"])
        .env("ENTRAIDE_TZ", "Europe/Brussels")
        .env_remove("ENTRAIDE_HOME")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let copied: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(copied, first[0], "a copy of the home shows the same node");
}

// ------------------------------------------------------------- kill -9

/// A small seeded generator (xorshift64*), so that a failure can be replayed
/// with ENTRAIDE_KILL_SEED.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The `i`th one-hour slot: 12 a day from 08:00, 28 days a month, from 2028.
fn slot(i: usize) -> (String, String) {
    let day = i / 12;
    let hour = 8 + i % 12;
    let year = 2028 + day / (28 * 12);
    let month = 1 + (day / 28) % 12;
    let d = 1 + day % 28;
    (
        format!("{year}-{month:02}-{d:02}T{hour:02}:00"),
        format!("{year}-{month:02}-{d:02}T{:02}:00", hour + 1),
    )
}

/// Whether a process of group `pgid` still runs (zombies do not count).
fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(Result::ok).any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

/// One write the loop makes, as a user would type it.
#[derive(Clone, Debug)]
enum Write {
    /// `book "Salle Verte" --from A --to B`.
    Book(String, String),
    /// `charter set --file F`, F holding the text.
    Charter(PathBuf, String),
    /// `library add F --title T`, F holding the bytes.
    Library(PathBuf, String, Vec<u8>),
}

impl Write {
    fn args(&self) -> [String; 3] {
        match self {
            Write::Book(from, to) => ["book".into(), from.clone(), to.clone()],
            Write::Charter(path, _) => ["charter".into(), path.display().to_string(), "-".into()],
            Write::Library(path, title, _) => {
                ["library".into(), path.display().to_string(), title.clone()]
            }
        }
    }
}

/// Makes writes one after the other from a shell loop, each a whole
/// `entraide` process, reading each acknowledgement as soon as the command
/// returned; kills the whole loop with SIGKILL after `acks` acknowledged
/// writes and `delay` more. Returns, for each acknowledged write in order,
/// the last line the command printed (the new id for a booking or entry).
fn write_until_killed(
    home: &TestHome,
    writes: &[Write],
    acks: usize,
    delay: Duration,
    log: &Path,
) -> Vec<String> {
    let script = r#"
        bin="$1"; home="$2"; shift 2
        while [ $# -ge 3 ]; do
            kind="$1"; a="$2"; b="$3"; shift 3
            case "$kind" in
                book) out=$("$bin" --home "$home" book "Salle Verte" --from "$a" --to "$b") ;;
                charter) out=$("$bin" --home "$home" charter set --file "$a") ;;
                library) out=$("$bin" --home "$home" library add "$a" --title "$b" --kind procedure) ;;
                *) out=""; false ;;
            esac || { echo "FAILED $? $kind $a"; exit 1; }
            echo "ACK $(printf '%s\n' "$out" | tail -n 1)"
        done
        echo "DONE"
    "#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .arg(binary())
        .arg(home.path());
    for w in writes {
        cmd.args(w.args());
    }
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    cmd.env("ENTRAIDE_TZ", "Europe/Brussels")
        .env_remove("ENTRAIDE_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn sh");
    let pgid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let kill = || {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pgid}")])
            .status();
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut acked = Vec::new();
    let mut problem = None;
    while acked.len() < acks {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("ACK ") => acked.push(line[4..].to_owned()),
            Ok(line) => {
                problem = Some(format!("the write loop said {line:?}"));
                break;
            }
            Err(e) => {
                problem = Some(format!("no write acknowledged in time: {e}"));
                break;
            }
        }
    }
    std::thread::sleep(delay);
    kill();
    let _ = child.wait();
    // SIGKILL is delivered asynchronously: wait until no process of the
    // group is left running (the killed command may still hold the store
    // open for a moment otherwise).
    let gone = Instant::now() + Duration::from_secs(5);
    while Instant::now() < gone && group_alive(pgid) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Writes acknowledged between the last read and the kill count too.
    for line in rx.iter() {
        if let Some(out) = line.strip_prefix("ACK ") {
            acked.push(out.to_owned());
        }
    }
    let _ = reader.join();
    if let Some(problem) = problem {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        panic!("{problem}; stderr of the loop:\n{log}");
    }
    acked
}

/// What the node acknowledged so far, to check after each kill.
#[derive(Default)]
struct Acknowledged {
    /// Booking id → (from, to).
    bookings: BTreeMap<String, (String, String)>,
    /// Library entry id → bytes.
    library: BTreeMap<String, Vec<u8>>,
    /// The text of the last acknowledged charter edit.
    charter: Option<String>,
}

/// The writes of round `round`: bookings, charter edits and library files,
/// mixed by `rng`.
fn writes_for(home: &TestHome, round: usize, count: usize, rng: &mut Rng) -> Vec<Write> {
    (0..count)
        .map(|i| {
            let n = round * 100 + i;
            match rng.below(4) {
                0 | 1 => {
                    let (from, to) = slot(n);
                    Write::Book(from, to)
                }
                2 => {
                    let text = format!(
                        "Charte de l'alliance, version {n}\n\n{}",
                        "Nous mettons en commun nos salles et nos savoirs.\n".repeat(1 + n % 7)
                    );
                    let path = home.scratch().join(format!("charter-{n}.txt"));
                    std::fs::write(&path, &text).unwrap();
                    Write::Charter(path, text)
                }
                _ => {
                    let len = 1 + rng.below(300_000) as usize;
                    let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                    let path = home.scratch().join(format!("procedure-{n}.bin"));
                    std::fs::write(&path, &bytes).unwrap();
                    Write::Library(path, format!("Procédure {n}"), bytes)
                }
            }
        })
        .collect()
}

/// Checks that the store opens and holds everything acknowledged; `in_flight`
/// is the write that may have been committed without its acknowledgement
/// being read.
fn check_acknowledged(home: &TestHome, ack: &Acknowledged, in_flight: Option<&Write>, what: &str) {
    let status = home.run(&["status"]);
    assert_eq!(status.code, 0, "{what}: status after kill -9: {status:?}");
    let bookings = home.json(&["bookings"]);
    for (id, (from, to)) in &ack.bookings {
        let b = by_id(&bookings, id);
        assert_eq!(b["status"], "confirmed", "{what}: {b:#}");
        assert_eq!(
            b["from"].as_str().unwrap(),
            format!("{from}:00{}", offset(from)),
            "{what}: {b:#}"
        );
        assert_eq!(
            b["to"].as_str().unwrap(),
            format!("{to}:00{}", offset(to)),
            "{what}: {b:#}"
        );
    }
    // The bytes are compared at the end, on another member; here, the
    // entry's BLAKE3 hash and size against the file added.
    let library = home.json(&["library", "list"]);
    for (id, bytes) in &ack.library {
        let entry = by_id(&library, id);
        assert_eq!(entry["available"], true, "{what}: {entry:#}");
        assert_eq!(entry["size"], bytes.len(), "{what}: {entry:#}");
        assert_eq!(
            entry["hash"].as_str(),
            Some(blake3::hash(bytes).to_hex().as_str()),
            "{what}: {entry:#}"
        );
    }
    if let Some(text) = &ack.charter {
        let now = entraide_tests::charter(home);
        let in_flight_text = match in_flight {
            Some(Write::Charter(_, t)) => Some(t),
            _ => None,
        };
        assert!(
            now == *text || Some(&now) == in_flight_text,
            "{what}: the charter is not the last acknowledged edit:\n{now}"
        );
    }
}

/// The write in flight at the kill may have landed without its
/// acknowledgement being read: if it did, it counts from now on.
fn absorb_in_flight(home: &TestHome, ack: &mut Acknowledged, in_flight: Option<&Write>) {
    match in_flight {
        Some(Write::Book(from, to)) => {
            let bookings = home.json(&["bookings"]);
            let landed = array(&bookings).iter().find(|b| {
                !ack.bookings
                    .contains_key(b["id"].as_str().unwrap_or_default())
                    && b["from"].as_str() == Some(&format!("{from}:00{}", offset(from)))
            });
            if let Some(b) = landed {
                let id = b["id"].as_str().unwrap().to_owned();
                ack.bookings.insert(id, (from.clone(), to.clone()));
            }
        }
        Some(Write::Library(_, title, bytes)) => {
            let library = home.json(&["library", "list"]);
            if let Some(e) = array(&library)
                .iter()
                .find(|e| e["title"] == title.as_str())
            {
                ack.library
                    .insert(e["id"].as_str().unwrap().to_owned(), bytes.clone());
            }
        }
        Some(Write::Charter(_, text)) if entraide_tests::charter(home) == *text => {
            ack.charter = Some(text.clone());
        }
        Some(Write::Charter(..)) | None => {}
    }
}

#[test]
fn acknowledged_writes_survive_50_kills_and_the_node_syncs_after() {
    let seed = std::env::var("ENTRAIDE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2027_u64);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let home = TestHome::founded(ORG);
    home.ok(&["resource", "add", "Salle Verte", "--kind", "room"]);
    let log = home.scratch().join("loop.stderr");

    let rounds = 50;
    let mut ack = Acknowledged::default();
    let started = Instant::now();
    for round in 0..rounds {
        let acks = 1 + rng.below(4) as usize; // 1..=4
        let delay = Duration::from_millis(rng.below(150));
        let writes = writes_for(&home, round, acks + 10, &mut rng);
        let outputs = write_until_killed(&home, &writes, acks, delay, &log);
        let what = format!("round {round} (seed {seed}, kill {delay:?} after {acks})");
        assert!(
            outputs.len() >= acks,
            "{what}: {} acknowledged",
            outputs.len()
        );
        for (write, out) in writes.iter().zip(&outputs) {
            match write {
                Write::Book(from, to) => {
                    let id = one_id(out);
                    assert!(
                        ack.bookings
                            .insert(id.clone(), (from.clone(), to.clone()))
                            .is_none(),
                        "{what}: booking id {id} printed twice"
                    );
                }
                Write::Charter(_, text) => ack.charter = Some(text.clone()),
                Write::Library(_, _, bytes) => {
                    ack.library.insert(one_id(out), bytes.clone());
                }
            }
        }
        let in_flight = writes.get(outputs.len());
        check_acknowledged(&home, &ack, in_flight, &what);
        absorb_in_flight(&home, &mut ack, in_flight);
        // Nothing was stored that was neither acknowledged nor in flight.
        let bookings = home.json(&["bookings"]);
        assert_eq!(
            array(&bookings).len(),
            ack.bookings.len(),
            "{what}: bookings"
        );
        let library = home.json(&["library", "list"]);
        assert_eq!(array(&library).len(), ack.library.len(), "{what}: library");
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the test is too slow"
        );
    }
    eprintln!(
        "{rounds} kills: {} bookings, {} library files, charter edited: {}",
        ack.bookings.len(),
        ack.library.len(),
        ack.charter.is_some()
    );

    // The node serves, and a new member receives everything acknowledged.
    let serve = Serve::start(&home);
    let member = join(&home, "Asbl Deux");
    let _member_serve = Serve::start(&member);
    eventually(60, "the new member holds every acknowledged write", || {
        let bookings = member.json(&["bookings"]);
        let library = member.json(&["library", "list"]);
        ack.bookings
            .keys()
            .all(|id| array(&bookings).iter().any(|b| b["id"] == id.as_str()))
            && ack.library.keys().all(|id| {
                array(&library)
                    .iter()
                    .any(|e| e["id"] == id.as_str() && e["available"] == true)
            })
            && entraide_tests::charter(&member) == entraide_tests::charter(&home)
    });
    for (id, bytes) in &ack.library {
        let out = member.scratch().join("got.bin");
        member.ok(&["library", "get", id, "--out", out.to_str().unwrap()]);
        assert!(
            std::fs::read(&out).unwrap() == *bytes,
            "{id} differs on the member"
        );
    }
    serve.stop();
}

/// Europe/Brussels offset of a local `YYYY-MM-DDTHH:MM` between 08:00 and
/// 20:00 (the changes happen at night, on the last Sunday of March and October).
fn offset(local: &str) -> String {
    let year: i32 = local[0..4].parse().unwrap();
    let month: u32 = local[5..7].parse().unwrap();
    let day: u32 = local[8..10].parse().unwrap();
    let last_sunday = |m: u32| -> u32 {
        // Day of the week of the 31st (Sakamoto), 0 = Sunday.
        let t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
        let y = if m < 3 { year - 1 } else { year };
        let dow = (y + y / 4 - y / 100 + y / 400 + t[(m - 1) as usize] + 31) % 7;
        31 - dow as u32
    };
    let summer = match month {
        4..=9 => true,
        3 => day >= last_sunday(3),
        10 => day < last_sunday(10),
        _ => false,
    };
    if summer { "+02:00" } else { "+01:00" }.to_owned()
}

// ------------------------------------------------------------- permissions

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file under `dir`, with its mode.
fn modes(dir: &Path, out: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push((path.display().to_string(), mode(&path)));
        if path.is_dir() {
            modes(&path, out);
        }
    }
}

fn check_private(home: &TestHome) {
    let root = home.path();
    assert_eq!(mode(&root), 0o700, "the home directory");
    assert_eq!(mode(&root.join("device.key")), 0o600, "device.key");
    assert_eq!(mode(&root.join("entraide.redb")), 0o600, "entraide.redb");
    let mut all = Vec::new();
    modes(&root, &mut all);
    let open: Vec<_> = all.iter().filter(|(_, m)| m & 0o077 != 0).collect();
    assert!(open.is_empty(), "readable by others: {open:?}");
}

fn exercise(home: &TestHome) {
    home.ok(&["alliance", "create", "Alliance Privée"]);
    let f = home.scratch().join("f.txt");
    std::fs::write(&f, "contenu").unwrap();
    home.ok(&["library", "add", f.to_str().unwrap(), "--title", "F"]);
    home.ok(&["charter", "set", "--file", f.to_str().unwrap()]);
    home.ok(&["resource", "add", "Salle", "--kind", "room"]);
    home.ok(&[
        "book",
        "Salle",
        "--from",
        "2027-06-07T10:00",
        "--to",
        "2027-06-07T11:00",
    ]);
}

#[test]
fn the_home_is_private_to_its_user() {
    let home = TestHome::new();
    home.ok(&["init", "--org", ORG]);
    check_private(&home);
    exercise(&home);
    check_private(&home);
}

#[test]
fn the_home_is_private_even_with_a_permissive_umask() {
    let home = TestHome::new();
    let run = |args: &[&str]| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"umask 000; exec "$@""#)
            .arg("sh")
            .arg(binary())
            .arg("--home")
            .arg(home.path())
            .args(args)
            .env("ENTRAIDE_TZ", "Europe/Brussels")
            .env_remove("ENTRAIDE_HOME")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init", "--org", ORG]);
    check_private(&home);
    run(&["alliance", "create", "Alliance Privée"]);
    let f = home.scratch().join("f.txt");
    std::fs::write(&f, "contenu").unwrap();
    run(&["library", "add", f.to_str().unwrap(), "--title", "F"]);
    check_private(&home);
}
