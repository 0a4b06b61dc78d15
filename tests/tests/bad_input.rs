//! Bad input, table-driven: each is refused with the right exit code (2 for
//! the user's input, 1 for anything else), exactly one line on stderr that
//! starts with `error: `, never a panic, and NOTHING stored.

use std::path::Path;

use entraide_tests::{Run, TestHome};
use serde_json::Value;

const ORG: &str = "Asbl Un";

/// Everything a user can see of a node's stored data.
fn snapshot(home: &TestHome) -> Vec<(String, Value)> {
    [
        &["status"][..],
        &["member", "list"],
        &["member", "log"],
        &["charter", "show"],
        &["charter", "history"],
        &["values", "list"],
        &["library", "list"],
        &["resource", "list"],
        &["bookings"],
    ]
    .iter()
    .map(|args| (args.join(" "), home.json(args)))
    .collect()
}

/// A founded home with some of everything, and the files the cases use.
fn fixture() -> TestHome {
    let home = TestHome::founded(ORG);
    let s = home.scratch();
    std::fs::write(s.join("charte.md"), "Charte initiale.\n").unwrap();
    home.ok(&[
        "charter",
        "set",
        "--file",
        s.join("charte.md").to_str().unwrap(),
    ]);
    home.ok(&["values", "add", "Solidarité", "--description", "On s'aide"]);
    std::fs::write(s.join("doc.txt"), "Un document.\n").unwrap();
    home.ok(&[
        "library",
        "add",
        s.join("doc.txt").to_str().unwrap(),
        "--title",
        "Doc",
    ]);
    home.ok(&[
        "resource",
        "add",
        "Salle Verte",
        "--kind",
        "room",
        "--quota",
        "20h/week",
    ]);
    home.ok(&[
        "book",
        "Salle Verte",
        "--from",
        "2027-06-07T10:00",
        "--to",
        "2027-06-07T12:00",
    ]);
    std::fs::write(
        s.join("latin1.txt"),
        b"Charte en latin-1 : \xe9t\xe9 \xff\xfe\n",
    )
    .unwrap();
    std::fs::create_dir_all(s.join("a-directory")).unwrap();
    home
}

/// What is wrong with a refused command's result, if anything.
fn check_refusal(run: &Run, codes: &[i32]) -> Option<String> {
    if !codes.contains(&run.code) {
        return Some(format!("exit {} instead of {codes:?}", run.code));
    }
    if run.stderr.contains("panicked") || run.stderr.contains("RUST_BACKTRACE") {
        return Some("panicked".into());
    }
    if !run.stderr.starts_with("error: ") {
        return Some("stderr does not start with `error: `".into());
    }
    if run.stderr.trim_end().lines().count() != 1 {
        return Some("stderr is not exactly one line".into());
    }
    None
}

struct Case {
    what: &'static str,
    args: Vec<String>,
    /// Accepted exit codes.
    codes: &'static [i32],
    /// A file the command must not create.
    no_file: Option<&'static str>,
}

fn case(what: &'static str, args: &[&str]) -> Case {
    Case {
        what,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        codes: &[2],
        no_file: None,
    }
}

/// Runs every case on `home`; reports every failing case at once.
fn run_table(home: &TestHome, cases: Vec<Case>) {
    let scratch = home.scratch().to_str().unwrap().to_owned();
    let mut failures = Vec::new();
    for c in cases {
        let args: Vec<String> = c.args.iter().map(|a| a.replace("{S}", &scratch)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = snapshot(home);
        let run = home.run(&args);
        if let Some(problem) = check_refusal(&run, c.codes) {
            failures.push(format!(
                "{}: `entraide {}`: {problem}: {run:?}",
                c.what,
                args.join(" ")
            ));
        }
        let after = snapshot(home);
        for ((cmd, b), (_, a)) in before.iter().zip(&after) {
            if a != b {
                failures.push(format!(
                    "{}: `entraide {}` changed `{cmd} --json`:\nbefore {b:#}\nafter {a:#}",
                    c.what,
                    args.join(" ")
                ));
            }
        }
        if let Some(f) = c.no_file
            && home.scratch().join(f).exists()
        {
            failures.push(format!(
                "{}: `entraide {}` wrote {f}",
                c.what,
                args.join(" ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn bad_input_is_refused_with_one_line_and_stores_nothing() {
    let home = fixture();
    let book = |what: &'static str, from: &str, to: &str| {
        case(what, &["book", "Salle Verte", "--from", from, "--to", to])
    };
    let cases = vec![
        case(
            "unknown resource",
            &[
                "book",
                "Salle Introuvable",
                "--from",
                "2027-06-08T10:00",
                "--to",
                "2027-06-08T11:00",
            ],
        ),
        book("end before start", "2027-06-08T11:00", "2027-06-08T10:00"),
        book("0-minute booking", "2027-06-08T10:00", "2027-06-08T10:00"),
        book("10-year booking", "2027-06-08T10:00", "2037-06-08T10:00"),
        book(
            "time that does not exist in Europe/Brussels (2026)",
            "2026-03-29T02:30",
            "2026-03-29T04:00",
        ),
        book(
            "time that does not exist in Europe/Brussels (2027)",
            "2027-03-28T02:30",
            "2027-03-28T04:00",
        ),
        book("garbage start time", "demain matin", "2027-06-08T10:00"),
        book("garbage end time", "2027-06-08T10:00", "2027-13-45T99:00"),
        book(
            "overlapping booking",
            "2027-06-07T11:00",
            "2027-06-07T13:00",
        ),
        book(
            "booking inside a known booking",
            "2027-06-07T10:30",
            "2027-06-07T11:00",
        ),
        book(
            "booking around a known booking",
            "2027-06-07T09:00",
            "2027-06-07T13:00",
        ),
        book(
            "booking over the quota (20h/week)",
            "2027-06-08T00:00",
            "2027-06-08T20:00",
        ),
        case(
            "repeat with count 0",
            &[
                "book",
                "Salle Verte",
                "--from",
                "2027-06-09T10:00",
                "--to",
                "2027-06-09T11:00",
                "--repeat",
                "weekly",
                "--count",
                "0",
            ],
        ),
        case(
            "unknown repeat",
            &[
                "book",
                "Salle Verte",
                "--from",
                "2027-06-09T10:00",
                "--to",
                "2027-06-09T11:00",
                "--repeat",
                "hourly",
                "--count",
                "2",
            ],
        ),
        case(
            // The first overlaps the fixture's booking; the second, 19h,
            // would bring the week to 21h of 20h.
            "repeat whose every occurrence clashes",
            &[
                "book",
                "Salle Verte",
                "--from",
                "2027-06-07T11:00",
                "--to",
                "2027-06-08T06:00",
                "--repeat",
                "daily",
                "--count",
                "2",
            ],
        ),
        case(
            "repeat until a date before the start",
            &[
                "book",
                "Salle Verte",
                "--from",
                "2027-06-09T10:00",
                "--to",
                "2027-06-09T11:00",
                "--repeat",
                "weekly",
                "--until",
                "2027-06-01",
            ],
        ),
        case(
            "repeat until a date that is not one",
            &[
                "book",
                "Salle Verte",
                "--from",
                "2027-06-09T10:00",
                "--to",
                "2027-06-09T11:00",
                "--repeat",
                "weekly",
                "--until",
                "next week",
            ],
        ),
        case(
            "unknown resource kind",
            &["resource", "add", "Fusée", "--kind", "spaceship"],
        ),
        case(
            "bad quota",
            &[
                "resource",
                "add",
                "Salle Rouge",
                "--kind",
                "room",
                "--quota",
                "lots",
            ],
        ),
        case(
            "duplicate resource name",
            &["resource", "add", "Salle Verte", "--kind", "room"],
        ),
        case(
            "empty resource name",
            &["resource", "add", "", "--kind", "room"],
        ),
        case(
            "unknown library kind",
            &[
                "library",
                "add",
                "{S}/doc.txt",
                "--title",
                "Roman",
                "--kind",
                "novel",
            ],
        ),
        case(
            "missing library file",
            &["library", "add", "{S}/absent.pdf", "--title", "Absent"],
        ),
        case(
            "library add of a directory",
            &["library", "add", "{S}/a-directory", "--title", "Dossier"],
        ),
        case(
            "library list of an unknown kind",
            &["library", "list", "--kind", "novel"],
        ),
        case(
            "non-UTF-8 charter file",
            &["charter", "set", "--file", "{S}/latin1.txt"],
        ),
        case(
            "missing charter file",
            &["charter", "set", "--file", "{S}/absent.md"],
        ),
        case(
            "library title over 300 characters",
            &["library", "add", "{S}/doc.txt", "--title", &"t".repeat(301)],
        ),
        case(
            "library title with a line break",
            &["library", "add", "{S}/doc.txt", "--title", "Statuts\nfaux"],
        ),
        case(
            "library tag over 50 characters",
            &[
                "library",
                "add",
                "{S}/doc.txt",
                "--title",
                "Statuts",
                "--tag",
                &"t".repeat(51),
            ],
        ),
        case(
            "value description over 10,000 characters",
            &[
                "values",
                "add",
                "Respect",
                "--description",
                &"d".repeat(10_001),
            ],
        ),
        case(
            "resource name of 1,000 characters",
            &["resource", "add", &"r".repeat(1000), "--kind", "room"],
        ),
        case("empty value name", &["values", "add", ""]),
        case("blank value name", &["values", "add", "   "]),
        case(
            "endorse an unknown value",
            &["values", "endorse", "ffffffffffff"],
        ),
        case("cancel an unknown booking", &["cancel", "ffffffffffff"]),
        case(
            "approve an unknown booking",
            &["booking", "approve", "ffffffffffff"],
        ),
        case("a second alliance", &["alliance", "create", "Une autre"]),
        case(
            "unknown time zone",
            &["bookings", "--tz", "Mars/Olympus_Mons"],
        ),
        Case {
            no_file: Some("nope.automerge"),
            ..case(
                "unknown export doc",
                &[
                    "export",
                    "budget",
                    "--format",
                    "automerge",
                    "--out",
                    "{S}/nope.automerge",
                ],
            )
        },
        Case {
            no_file: Some("charter.json"),
            ..case(
                "unknown export format",
                &[
                    "export",
                    "charter",
                    "--format",
                    "json",
                    "--out",
                    "{S}/charter.json",
                ],
            )
        },
        Case {
            no_file: Some("absent.out"),
            ..case(
                "get an unknown library entry",
                &["library", "get", "ffffffffffff", "--out", "{S}/absent.out"],
            )
        },
        Case {
            // Not the user's data: the place to write is missing. 1 or 2.
            codes: &[1, 2],
            ..case(
                "export to a directory that does not exist",
                &["calendar", "export", "--out", "{S}/no/such/dir/agenda.ics"],
            )
        },
    ];
    run_table(&home, cases);
}

#[test]
fn an_ambiguous_id_prefix_is_refused() {
    let home = fixture();
    // 17 ids: at least two share their first hex digit.
    let run = home.ok(&[
        "book",
        "Salle Verte",
        "--from",
        "2027-09-06T08:00",
        "--to",
        "2027-09-06T08:30",
        "--repeat",
        "daily",
        "--count",
        "17",
    ]);
    let ids: Vec<&str> = run
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(ids.len(), 17, "{run:?}");
    let shared = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|p| ids.iter().filter(|i| i.starts_with(p.as_str())).count() >= 2)
        .expect("pigeonhole");
    let before = snapshot(&home);
    let run = home.run(&["cancel", &shared]);
    if let Some(problem) = check_refusal(&run, &[2]) {
        panic!("`entraide cancel {shared}` (prefix of several bookings): {problem}: {run:?}");
    }
    assert_eq!(
        snapshot(&home),
        before,
        "an ambiguous prefix cancelled something"
    );
}

#[test]
fn a_home_that_is_not_initialised_is_refused_and_left_alone() {
    let home = TestHome::new();
    let s = home.scratch();
    std::fs::write(s.join("charte.md"), "Texte.\n").unwrap();
    let charter = s.join("charte.md").to_str().unwrap().to_owned();
    let mut failures = Vec::new();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["bookings", "--json"],
        &["member", "list"],
        &["charter", "show"],
        &["charter", "set", "--file", &charter],
        &["values", "add", "Solidarité"],
        &["library", "list"],
        &["resource", "add", "Salle", "--kind", "room"],
        &[
            "book",
            "Salle",
            "--from",
            "2027-06-08T10:00",
            "--to",
            "2027-06-08T11:00",
        ],
        &["alliance", "create", "Alliance"],
    ] {
        let run = home.run(args);
        if let Some(problem) = check_refusal(&run, &[2]) {
            failures.push(format!("`entraide {}`: {problem}: {run:?}", args.join(" ")));
        }
        if home.path().exists() {
            failures.push(format!("`entraide {}` created the home", args.join(" ")));
            let _ = std::fs::remove_dir_all(home.path());
        }
    }
    // An empty directory is not a home either.
    std::fs::create_dir_all(home.path()).unwrap();
    let run = home.run(&["status"]);
    if let Some(problem) = check_refusal(&run, &[2]) {
        failures.push(format!(
            "`entraide status` on an empty directory: {problem}: {run:?}"
        ));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
    // And it can still be initialised afterwards.
    home.ok(&["init", "--org", ORG]);
}

/// Writes `bytes` over the store from `offset` on, and checks that every
/// command gives a clear one-line error, no panic, and leaves the file as is.
fn damaged_store_is_refused(offset: usize, fill: impl Fn(usize) -> u8) {
    let home = fixture();
    let db = home.path().join("entraide.redb");
    let mut bytes = std::fs::read(&db).expect("the store is entraide.redb");
    let len = bytes.len();
    for (i, b) in bytes.iter_mut().enumerate().skip(offset) {
        *b = fill(i);
    }
    assert_eq!(bytes.len(), len);
    std::fs::write(&db, &bytes).unwrap();

    let mut failures = Vec::new();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["bookings", "--json"],
        &["library", "list", "--json"],
        &["charter", "show", "--json"],
        &[
            "book",
            "Salle Verte",
            "--from",
            "2027-06-08T10:00",
            "--to",
            "2027-06-08T11:00",
        ],
    ] {
        let run = home.run(args);
        if let Some(problem) = check_refusal(&run, &[1, 2]) {
            failures.push(format!("`entraide {}`: {problem}: {run:?}", args.join(" ")));
        }
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "the damaged store must be left as it was, for recovery"
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// A small seeded generator, so that a failure can be replayed.
fn noise(seed: u64) -> impl Fn(usize) -> u8 {
    move |i| {
        let mut x = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        (x & 0xff) as u8
    }
}

#[test]
fn a_store_full_of_garbage_gives_a_clear_error() {
    damaged_store_is_refused(0, noise(1));
}

#[test]
fn a_store_with_damaged_pages_gives_a_clear_error() {
    // The first page (the header) intact, the rest garbage: a disk error.
    damaged_store_is_refused(4096, noise(2));
}

#[test]
fn an_empty_store_file_gives_a_clear_error() {
    let home = fixture();
    std::fs::write(home.path().join("entraide.redb"), b"").unwrap();
    let run = home.run(&["status"]);
    if let Some(problem) = check_refusal(&run, &[1, 2]) {
        panic!("`entraide status` on an empty store: {problem}: {run:?}");
    }
}

/// Usage errors (missing or unknown arguments) follow the same rule: exit 2,
/// one line on stderr (spec/cli.md, Conventions).
#[test]
fn usage_errors_are_one_line_with_exit_2() {
    let home = fixture();
    let mut failures = Vec::new();
    for args in [
        &["book", "Salle Verte", "--from", "2027-06-08T10:00"][..],
        &["teleport"],
        &["bookings", "--colour", "red"],
        &[
            "resource",
            "add",
            "Salle Rouge",
            "--kind",
            "room",
            "--capacity",
            "beaucoup",
        ],
        &["init"],
    ] {
        let before = snapshot(&home);
        let run = home.run(args);
        if let Some(problem) = check_refusal(&run, &[2]) {
            failures.push(format!("`entraide {}`: {problem}: {run:?}", args.join(" ")));
        }
        assert_eq!(snapshot(&home), before);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn the_charter_is_unchanged_after_a_refused_set() {
    let home = fixture();
    let before = home.json(&["charter", "show"]);
    let file = home.scratch().join("latin1.txt");
    home.fails(&["charter", "set", "--file", file.to_str().unwrap()], 2);
    assert_eq!(home.json(&["charter", "show"]), before);
    assert_eq!(
        home.json(&["charter", "show"])["text"],
        "Charte initiale.\n"
    );
    assert!(Path::new(&home.path()).join("entraide.redb").exists());
}

/// The charter draft every node stores has a size limit: a longer text is
/// refused with one line and changes nothing.
#[test]
fn a_charter_over_the_size_limit_is_refused() {
    let home = fixture();
    let before = home.json(&["charter", "show"]);
    let file = home.scratch().join("huge.txt");
    std::fs::write(&file, "a".repeat(1_000_001)).unwrap();
    let run = home.fails(&["charter", "set", "--file", file.to_str().unwrap()], 2);
    assert!(run.stderr.contains("limited to 1000000"), "{run:?}");
    assert_eq!(home.json(&["charter", "show"]), before);
}

/// A library title that looks like a path is only a title: it is stored as
/// typed, and no file is created from it, in the home or anywhere else.
#[test]
fn a_library_title_that_looks_like_a_path_is_only_text() {
    let home = fixture();
    let files = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = walk(dir)
            .into_iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        names.sort();
        names
    };
    // A file of its own: the fixture's is in the library already.
    let doc = home.scratch().join("path-title.txt");
    std::fs::write(&doc, "Un document au titre étrange\n").unwrap();
    let before = files(&home.path());
    let title = "../../../../etc/entraide-title-test";
    let id = home
        .ok(&["library", "add", doc.to_str().unwrap(), "--title", title])
        .stdout
        .trim()
        .to_owned();
    let list = home.json(&["library", "list"]);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .expect("listed");
    assert_eq!(entry["title"], title);
    assert_eq!(files(&home.path()), before, "no file appeared in the home");
    assert!(!std::path::Path::new("/etc/entraide-title-test").exists());
    let out = home.scratch().join("copy.txt");
    home.ok(&["library", "get", &id, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&doc).unwrap());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
