//! Every local command, end to end from the built binary, on a fresh home per
//! test, checking the output the contract (`spec/cli.md`, "Identity and
//! alliance" and "Shared documents") promises.

use std::collections::BTreeSet;

use automerge::ReadDoc;
use entraide_tests::{Run, Serve, TestHome, cp_a, set_charter};
use icalendar::{CalendarComponent, CalendarDateTime, Component, DatePerhapsTime};
use serde_json::Value;

const ORG: &str = "Asbl Un";

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The ids a command printed, one per line.
fn ids(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The one id a command printed.
fn id(run: &Run) -> String {
    let all = ids(run);
    assert_eq!(
        all.len(),
        1,
        "expected one id on stdout, got {:?}",
        run.stdout
    );
    all[0].clone()
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
}

/// The entry of `list` whose `id` is `id`.
fn by_id<'a>(list: &'a Value, id: &str) -> &'a Value {
    array(list)
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry with id {id} in {list:#}"))
}

fn strings(v: &Value) -> Vec<&str> {
    array(v)
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")))
        .collect()
}

/// A file in the home's scratch directory.
fn write(home: &TestHome, name: &str, bytes: &[u8]) -> String {
    let path = home.scratch().join(name);
    std::fs::write(&path, bytes).expect("write scratch file");
    path.to_str().expect("utf-8 path").to_owned()
}

/// Every byte value, several times, in a non-trivial order.
fn all_bytes() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend((0..=255u8).rev());
    bytes.extend((0..=255u8).map(|b| b.wrapping_mul(167)));
    bytes
}

/// A resource that needs no approval, no quota.
fn room(home: &TestHome, name: &str) -> String {
    id(&home.ok(&["resource", "add", name, "--kind", "room"]))
}

fn book(home: &TestHome, resource: &str, from: &str, to: &str) -> String {
    id(&home.ok(&["book", resource, "--from", from, "--to", to]))
}

// ---------------------------------------------------------------- identity

#[test]
fn init_prints_a_64_hex_device_id_and_refuses_a_second_init() {
    let home = TestHome::new();
    let run = home.ok(&["init", "--org", ORG]);
    let device = run.stdout.trim().to_owned();
    assert!(
        is_hex(&device, 64),
        "device id {device:?} is not 64 hex digits"
    );
    assert_eq!(run.stdout.trim_end().lines().count(), 1, "{run:?}");

    home.fails(&["init", "--org", "Autre Asbl"], 2);

    // The second init changed nothing: same device, same organisation.
    let status = home.json(&["status"]);
    assert_eq!(status["device"], device.as_str());
    assert_eq!(status["org"], ORG);
    assert!(status["alliance"].is_null(), "{status:#}");
}

#[test]
fn two_homes_get_two_different_device_ids() {
    let a = TestHome::new();
    let b = TestHome::new();
    let da = a.ok(&["init", "--org", ORG]).stdout.trim().to_owned();
    let db = b.ok(&["init", "--org", ORG]).stdout.trim().to_owned();
    assert_ne!(da, db);
}

#[test]
fn alliance_create_shows_in_status() {
    let home = TestHome::new();
    let device = home.ok(&["init", "--org", ORG]).stdout.trim().to_owned();
    home.ok(&["alliance", "create", "Alliance Bruxelloise"]);

    let status = home.json(&["status"]);
    assert_eq!(status["device"], device.as_str(), "{status:#}");
    assert_eq!(status["org"], ORG, "{status:#}");
    let alliance_id = status["alliance"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("alliance.id missing: {status:#}"));
    assert!(!alliance_id.is_empty());
    assert_eq!(
        status["alliance"]["name"], "Alliance Bruxelloise",
        "{status:#}"
    );
    assert_eq!(status["members"], 1, "{status:#}");

    let docs = array(&status["docs"]);
    assert!(docs.len() >= 4, "{status:#}");
    let names: BTreeSet<&str> = docs
        .iter()
        .map(|d| {
            d["name"]
                .as_str()
                .unwrap_or_else(|| panic!("doc without name: {d}"))
        })
        .collect();
    let expected: BTreeSet<&str> = [
        "charter",
        "values",
        "library",
        "calendar",
        "proposals",
        "events",
        "profiles",
        "ledger",
    ]
    .into();
    assert_eq!(names, expected, "{status:#}");
    for doc in docs {
        assert!(doc["heads"].is_array(), "doc without heads array: {doc}");
    }
    assert!(status["peers"].is_array(), "{status:#}");
    assert!(
        array(&status["peers"]).is_empty(),
        "a lone node has no peers: {status:#}"
    );

    // The id stays the same from one command to the next.
    assert_eq!(home.json(&["status"])["alliance"]["id"], alliance_id);
}

#[test]
fn member_list_shows_the_founder_as_active_coordinator() {
    let home = TestHome::new();
    let device = home.ok(&["init", "--org", ORG]).stdout.trim().to_owned();
    home.ok(&[
        "alliance",
        "create",
        "Alliance Test",
        "--admission",
        "majority",
    ]);

    let members = home.json(&["member", "list"]);
    let members = array(&members);
    assert_eq!(members.len(), 1, "{members:#?}");
    let me = &members[0];
    assert_eq!(me["org"], ORG);
    assert_eq!(me["role"], "coordinator");
    assert_eq!(me["status"], "active");
    assert_eq!(strings(&me["devices"]), vec![device.as_str()]);
}

// ---------------------------------------------------------------- charter

#[test]
fn charter_set_from_a_file_and_from_stdin() {
    let home = TestHome::founded(ORG);
    let first = "# Charte de l'alliance\n\nNous nous entraidons.\n";
    let file = write(&home, "charte.md", first.as_bytes());
    home.ok(&["charter", "set", "--file", &file]);

    let shown = home.json(&["charter", "show"]);
    assert_eq!(shown["text"], first, "{shown:#}");
    let heads1 = strings(&shown["heads"]).join(",");
    assert!(!heads1.is_empty(), "{shown:#}");

    // From stdin, with non-ASCII text and no final newline.
    let second = "# Charte de l'alliance\n\nNous nous entraidons, même le dimanche. ✊";
    let mut cmd = home.command(&["charter", "set", "--file", "-"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn entraide");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(second.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait entraide");
    assert!(
        out.status.success(),
        "charter set --file - failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let shown = home.json(&["charter", "show"]);
    assert_eq!(shown["text"], second, "{shown:#}");
    let heads2 = strings(&shown["heads"]).join(",");
    assert!(!heads2.is_empty());
    assert_ne!(heads1, heads2, "the heads must move when the text changes");

    // The status reports the same heads for the charter.
    let status = home.json(&["status"]);
    let charter = array(&status["docs"])
        .iter()
        .find(|d| d["name"] == "charter")
        .expect("charter in status docs");
    assert_eq!(strings(&charter["heads"]).join(","), heads2);
}

#[test]
fn charter_history_lists_the_changes() {
    let home = TestHome::founded(ORG);
    let file = write(&home, "c1.md", b"Version un.\n");
    home.ok(&["charter", "set", "--file", &file]);
    let after_one = home.json(&["charter", "history"]);
    assert!(!array(&after_one).is_empty(), "{after_one:#}");
    assert!(
        after_one.to_string().contains(ORG),
        "history must say who changed the charter: {after_one:#}"
    );

    let file = write(&home, "c2.md", b"Version deux, plus longue.\n");
    home.ok(&["charter", "set", "--file", &file]);
    let after_two = home.json(&["charter", "history"]);
    assert!(
        array(&after_two).len() > array(&after_one).len(),
        "a second change must add to the history: {after_one:#} then {after_two:#}"
    );
}

// ---------------------------------------------------------------- values

#[test]
fn values_add_endorse_and_list() {
    let home = TestHome::founded(ORG);
    let solidarity = id(&home.ok(&[
        "values",
        "add",
        "Solidarité",
        "--description",
        "On s'aide les uns les autres",
    ]));
    let openness = id(&home.ok(&["values", "add", "Ouverture"]));
    assert_ne!(solidarity, openness);

    // Endorse by a unique prefix of the id; endorsing twice counts once.
    home.ok(&["values", "endorse", &openness[..8]]);
    home.ok(&["values", "endorse", &openness]);

    let list = home.json(&["values", "list"]);
    assert_eq!(array(&list).len(), 2, "{list:#}");
    let s = by_id(&list, &solidarity);
    assert_eq!(s["name"], "Solidarité");
    assert_eq!(s["description"], "On s'aide les uns les autres");
    assert!(strings(&s["endorsed_by"]).contains(&ORG), "{s:#}");
    let o = by_id(&list, &openness);
    assert_eq!(o["name"], "Ouverture");
    assert_eq!(o["description"], "");
    assert_eq!(strings(&o["endorsed_by"]), vec![ORG], "{o:#}");
}

// ---------------------------------------------------------------- library

#[test]
fn library_add_list_filter_and_get() {
    let home = TestHome::founded(ORG);
    let binary = all_bytes();
    let bin_path = write(&home, "budget.bin", &binary);
    let text = "Procédure d'accueil des bénévoles\n".as_bytes();
    let text_path = write(&home, "accueil.txt", text);
    let other_path = write(&home, "divers.txt", b"notes\n");

    let budget = id(&home.ok(&[
        "library",
        "add",
        &bin_path,
        "--title",
        "Budget annuel 2027",
        "--kind",
        "budget",
        "--tag",
        "finance",
        "--tag",
        "2027",
    ]));
    let procedure = id(&home.ok(&[
        "library",
        "add",
        &text_path,
        "--title",
        "Accueil des bénévoles",
        "--kind",
        "procedure",
        "--tag",
        "rh",
    ]));
    let other = id(&home.ok(&["library", "add", &other_path, "--title", "Notes diverses"]));

    let list = home.json(&["library", "list"]);
    assert_eq!(array(&list).len(), 3, "{list:#}");
    let b = by_id(&list, &budget);
    assert_eq!(b["title"], "Budget annuel 2027");
    assert_eq!(b["kind"], "budget");
    assert_eq!(strings(&b["tags"]), vec!["finance", "2027"]);
    assert_eq!(b["size"], binary.len());
    assert_eq!(b["added_by"], ORG);
    assert_eq!(b["available"], true);
    let p = by_id(&list, &procedure);
    assert_eq!(p["kind"], "procedure");
    assert_eq!(p["size"], text.len());
    assert_eq!(strings(&p["tags"]), vec!["rh"]);
    let o = by_id(&list, &other);
    assert_eq!(o["kind"], "other", "the default kind is other");
    assert!(array(&o["tags"]).is_empty());
    let hashes: BTreeSet<&str> = [b, p, o]
        .iter()
        .map(|e| e["hash"].as_str().unwrap_or_else(|| panic!("no hash: {e}")))
        .collect();
    assert_eq!(
        hashes.len(),
        3,
        "different files, different hashes: {list:#}"
    );
    assert!(hashes.iter().all(|h| !h.is_empty()));

    let only = |args: &[&str]| -> BTreeSet<String> {
        let mut all = vec!["library", "list"];
        all.extend_from_slice(args);
        array(&home.json(&all))
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let set = |ids: &[&String]| -> BTreeSet<String> { ids.iter().map(|s| (*s).clone()).collect() };
    assert_eq!(only(&["--kind", "budget"]), set(&[&budget]));
    assert_eq!(only(&["--kind", "procedure"]), set(&[&procedure]));
    assert_eq!(only(&["--kind", "statute"]), set(&[]));
    assert_eq!(only(&["--tag", "finance"]), set(&[&budget]));
    assert_eq!(only(&["--tag", "rh"]), set(&[&procedure]));
    assert_eq!(only(&["--tag", "absent"]), set(&[]));
    assert_eq!(only(&["--search", "bénévoles"]), set(&[&procedure]));
    assert_eq!(
        only(&["--search", "budget"]),
        set(&[&budget]),
        "search is case-blind"
    );
    assert_eq!(only(&["--search", "accueil bénévoles"]), set(&[&procedure]));
    assert_eq!(
        only(&["--search", "accueil budget"]),
        set(&[]),
        "all words must match"
    );
    assert_eq!(only(&["--kind", "budget", "--tag", "rh"]), set(&[]));

    // Byte for byte, by id and by a unique prefix of the id.
    let out = home.scratch().join("got.bin");
    home.ok(&["library", "get", &budget, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), binary);
    let out2 = home.scratch().join("got2.txt");
    home.ok(&[
        "library",
        "get",
        &procedure[..8],
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out2).unwrap(), text);
}

#[test]
fn the_same_bytes_twice_are_refused_naming_the_entry_that_holds_them() {
    let home = TestHome::founded(ORG);
    let a = write(&home, "a.bin", &all_bytes());
    let b = write(&home, "b.bin", &all_bytes());
    let ia = id(&home.ok(&["library", "add", &a, "--title", "Copie A"]));
    // Another name, the same bytes (content-addressed by BLAKE3).
    let again = home.fails(&["library", "add", &b, "--title", "Copie B"], 2);
    assert!(
        again.stderr.contains("already in the library as 'Copie A'") && again.stderr.contains(&ia),
        "{}",
        again.stderr
    );
    let list = home.json(&["library", "list"]);
    assert_eq!(array(&list).len(), 1, "nothing added: {list}");
}

// ---------------------------------------------------------------- resources

#[test]
fn resource_add_and_list() {
    let home = TestHome::founded(ORG);
    let salle = id(&home.ok(&[
        "resource",
        "add",
        "Salle Verte",
        "--kind",
        "room",
        "--capacity",
        "30",
        "--location",
        "Rue Haute 12, Bruxelles",
        "--quota",
        "10h/week",
        "--approval",
    ]));
    let van = id(&home.ok(&["resource", "add", "Camionnette", "--kind", "vehicle"]));
    let drill = id(&home.ok(&[
        "resource",
        "add",
        "Perceuse",
        "--kind",
        "equipment",
        "--quota",
        "6h/month",
    ]));

    let list = home.json(&["resource", "list"]);
    assert_eq!(array(&list).len(), 3, "{list:#}");
    let s = by_id(&list, &salle);
    assert_eq!(s["name"], "Salle Verte");
    assert_eq!(s["kind"], "room");
    assert_eq!(s["capacity"], 30);
    assert_eq!(s["location"], "Rue Haute 12, Bruxelles");
    assert_eq!(s["quota"], "10h/week");
    let v = by_id(&list, &van);
    assert_eq!(v["name"], "Camionnette");
    assert_eq!(v["kind"], "vehicle");
    assert!(v["capacity"].is_null(), "{v:#}");
    assert!(v["location"].is_null(), "{v:#}");
    assert!(v["quota"].is_null(), "{v:#}");
    let d = by_id(&list, &drill);
    assert_eq!(d["kind"], "equipment");
    assert_eq!(d["quota"], "6h/month");
}

// ---------------------------------------------------------------- reading

/// The store of a home, as bytes.
fn store_bytes(home: &TestHome) -> Vec<u8> {
    std::fs::read(home.path().join("entraide.redb")).expect("the store")
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    // `entraide bookings | head`: the reader is gone before the answer is
    // printed. Before, the write panicked and the user read that the store
    // may be damaged.
    let home = TestHome::founded(ORG);
    let room = id(&home.ok(&["resource", "add", "Salle 1", "--kind", "room"]));
    home.ok(&[
        "book",
        &room,
        "--from",
        "2027-03-01T10:00",
        "--to",
        "2027-03-01T11:00",
    ]);
    for args in [
        &["bookings", "--resource", room.as_str()][..],
        &["bookings", "--resource", room.as_str(), "--json"][..],
        &["status"][..],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = home
            .command(args)
            .stdout(writer)
            .output()
            .expect("run entraide");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?} said {stderr:?}");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
    // The booking it listed is still there, and the home still answers.
    let list = home.json(&["bookings", "--resource", &room]);
    assert_eq!(array(&list).len(), 1);
}

#[test]
fn commands_that_only_read_write_nothing_to_the_home() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    book(&home, "Salle Verte", "2027-07-05T09:00", "2027-07-05T11:30");
    set_charter(&home, "Charte commune\n");
    let before = store_bytes(&home);
    let reads: [&[&str]; 12] = [
        &["status"],
        &["member", "list"],
        &["audit"],
        &["charter", "show"],
        &["charter", "history"],
        &["values", "list"],
        &["library", "list"],
        &["resource", "list"],
        &["bookings", "--resource", "Salle Verte"],
        &["proposals"],
        &["event", "list"],
        &["org", "list"],
    ];
    for args in reads {
        home.ok(args);
    }
    assert_eq!(
        home.json(&["bookings", "--resource", "Salle Verte"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Not a byte of the store changed: a home on a slow disk pays no
    // write, a home being backed up is not touched.
    assert!(
        store_bytes(&home) == before,
        "a command that only reads wrote to the store"
    );
    // A write still goes through.
    book(&home, "Salle Verte", "2027-07-06T09:00", "2027-07-06T11:30");
    assert!(store_bytes(&home) != before);
    assert_eq!(
        array(&home.json(&["bookings", "--resource", "Salle Verte"])).len(),
        2
    );
}

#[test]
fn a_home_left_open_by_a_crash_answers_reads_and_is_repaired() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    book(&home, "Salle Verte", "2027-07-05T09:00", "2027-07-05T11:30");
    // Copied while `serve` holds it: the copy is a home whose process died
    // without closing its store.
    let serve = Serve::start(&home);
    let copy = TestHome::new();
    cp_a(&home, &copy);
    serve.stop();
    // Reading alone cannot repair it: the first read opens it to write.
    let listed = copy.json(&["bookings", "--resource", "Salle Verte"]);
    assert_eq!(array(&listed).len(), 1);
    // Repaired and closed cleanly, it is read without a write.
    let before = store_bytes(&copy);
    copy.json(&["bookings", "--resource", "Salle Verte"]);
    assert!(
        store_bytes(&copy) == before,
        "the second read wrote to the store"
    );
}

// ---------------------------------------------------------------- bookings

#[test]
fn book_and_bookings_print_rfc3339_in_brussels_time() {
    let home = TestHome::founded(ORG);
    let salle = room(&home, "Salle Verte");

    let summer = id(&home.ok(&[
        "book",
        "Salle Verte",
        "--from",
        "2027-07-05T09:00",
        "--to",
        "2027-07-05T11:30",
        "--purpose",
        "Assemblée générale",
    ]));
    let winter = book(&home, "Salle Verte", "2027-01-11T18:00", "2027-01-11T20:00");
    // Full RFC 3339 input, in UTC: printed back in the node's zone.
    let utc = book(
        &home,
        &salle,
        "2027-02-01T08:00:00Z",
        "2027-02-01T09:15:00Z",
    );

    let list = home.json(&["bookings"]);
    assert_eq!(array(&list).len(), 3, "{list:#}");
    let s = by_id(&list, &summer);
    assert!(
        s["resource"] == salle.as_str() || s["resource"] == "Salle Verte",
        "resource must name the resource: {s:#}"
    );
    assert_eq!(s["org"], ORG);
    assert_eq!(s["from"], "2027-07-05T09:00:00+02:00");
    assert_eq!(s["to"], "2027-07-05T11:30:00+02:00");
    assert_eq!(s["purpose"], "Assemblée générale");
    assert_eq!(s["status"], "confirmed");
    assert!(s["conflict_with"].is_null(), "{s:#}");

    let w = by_id(&list, &winter);
    assert_eq!(w["from"], "2027-01-11T18:00:00+01:00");
    assert_eq!(w["to"], "2027-01-11T20:00:00+01:00");
    assert_eq!(w["purpose"], "");
    assert_eq!(w["status"], "confirmed");

    let u = by_id(&list, &utc);
    assert_eq!(u["from"], "2027-02-01T09:00:00+01:00");
    assert_eq!(u["to"], "2027-02-01T10:15:00+01:00");

    // Filters.
    let other = room(&home, "Salle Bleue");
    let blue = book(&home, &other, "2027-07-05T09:00", "2027-07-05T10:00");
    let only_blue = home.json(&["bookings", "--resource", "Salle Bleue"]);
    assert_eq!(array(&only_blue).len(), 1, "{only_blue:#}");
    assert_eq!(array(&only_blue)[0]["id"], blue.as_str());
    let by_prefix = home.json(&["bookings", "--resource", &salle[..8]]);
    assert_eq!(array(&by_prefix).len(), 3, "{by_prefix:#}");
    assert_eq!(array(&home.json(&["bookings", "--org", ORG])).len(), 4);
}

#[test]
fn a_unique_id_prefix_is_accepted_in_place_of_an_id() {
    let home = TestHome::founded(ORG);
    let salle = room(&home, "Salle Verte");
    // The resource by a prefix of its id.
    let booking = book(&home, &salle[..6], "2027-03-01T10:00", "2027-03-01T11:00");
    let list = home.json(&["bookings"]);
    assert_eq!(by_id(&list, &booking)["status"], "confirmed");
    // The booking by a prefix of its id.
    home.ok(&["cancel", &booking[..6]]);
    let list = home.json(&["bookings"]);
    assert_eq!(by_id(&list, &booking)["status"], "cancelled");
}

#[test]
fn weekly_repeat_prints_one_id_per_occurrence() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    let run = home.ok(&[
        "book",
        "Salle Verte",
        "--from",
        "2027-10-18T19:00",
        "--to",
        "2027-10-18T21:00",
        "--purpose",
        "Chorale",
        "--repeat",
        "weekly",
        "--count",
        "3",
    ]);
    let printed = ids(&run);
    assert_eq!(printed.len(), 3, "{run:?}");
    assert_eq!(printed.iter().collect::<BTreeSet<_>>().len(), 3, "{run:?}");

    let list = home.json(&["bookings"]);
    assert_eq!(array(&list).len(), 3, "{list:#}");
    // Across the end of summer time (31 October 2027), same local hour.
    let mut froms: Vec<(String, String)> = printed
        .iter()
        .map(|i| {
            let b = by_id(&list, i);
            assert_eq!(b["purpose"], "Chorale");
            assert_eq!(b["status"], "confirmed");
            (
                b["from"].as_str().unwrap().to_owned(),
                b["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    froms.sort();
    assert_eq!(
        froms,
        vec![
            (
                "2027-10-18T19:00:00+02:00".into(),
                "2027-10-18T21:00:00+02:00".into()
            ),
            (
                "2027-10-25T19:00:00+02:00".into(),
                "2027-10-25T21:00:00+02:00".into()
            ),
            (
                "2027-11-01T19:00:00+01:00".into(),
                "2027-11-01T21:00:00+01:00".into()
            ),
        ]
    );
}

#[test]
fn a_quota_breach_is_refused_and_nothing_is_stored() {
    let home = TestHome::founded(ORG);
    home.ok(&[
        "resource",
        "add",
        "Salle Verte",
        "--kind",
        "room",
        "--quota",
        "10h/week",
    ]);
    // Monday 2027-03-08 .. Sunday 2027-03-14 is one week.
    book(&home, "Salle Verte", "2027-03-08T09:00", "2027-03-08T17:00"); // 8h
    let before = home.json(&["bookings"]);

    home.fails(
        &[
            "book",
            "Salle Verte",
            "--from",
            "2027-03-10T09:00",
            "--to",
            "2027-03-10T12:00",
        ],
        2,
    ); // 8h + 3h > 10h
    assert_eq!(
        home.json(&["bookings"]),
        before,
        "a refused booking stored something"
    );

    // A series whose last occurrence breaks the quota: that occurrence is
    // skipped and reported, the others are booked.
    book(&home, "Salle Verte", "2027-03-15T09:00", "2027-03-15T18:00"); // 9h in week 3
    let reply = home.json(&[
        "book",
        "Salle Verte",
        "--from",
        "2027-03-03T14:00",
        "--to",
        "2027-03-03T16:00",
        "--repeat",
        "weekly",
        "--count",
        "3",
    ]); // weeks 1 and 2 fit, week 3 would reach 11h
    assert_eq!(strings(&reply["ids"]).len(), 2, "{reply:#}");
    let skipped = array(&reply["skipped"]);
    assert_eq!(skipped.len(), 1, "{reply:#}");
    assert_eq!(skipped[0]["from"], "2027-03-17T14:00:00+01:00");
    assert_eq!(skipped[0]["reason"], "quota");
    assert_eq!(array(&home.json(&["bookings"])).len(), 4);

    // Exactly up to the quota is fine (8h + 2h in week 2), and the next
    // week starts afresh.
    home.fails(
        &[
            "book",
            "Salle Verte",
            "--from",
            "2027-03-12T09:00",
            "--to",
            "2027-03-12T09:30",
        ],
        2,
    ); // week 2 already holds 8h + 2h
    book(&home, "Salle Verte", "2027-03-22T09:00", "2027-03-22T19:00"); // week 4, 10h
    assert_eq!(array(&home.json(&["bookings"])).len(), 5);
}

#[test]
fn bookings_of_an_approval_resource_wait_for_the_owner() {
    let home = TestHome::founded(ORG);
    home.ok(&[
        "resource",
        "add",
        "Salle Verte",
        "--kind",
        "room",
        "--approval",
    ]);
    let booking = book(&home, "Salle Verte", "2027-05-03T10:00", "2027-05-03T12:00");
    assert_eq!(
        by_id(&home.json(&["bookings"]), &booking)["status"],
        "pending"
    );

    home.ok(&["booking", "approve", &booking[..8]]);
    assert_eq!(
        by_id(&home.json(&["bookings"]), &booking)["status"],
        "confirmed"
    );

    // A pending booking already holds its slot.
    let second = book(&home, "Salle Verte", "2027-05-04T10:00", "2027-05-04T12:00");
    home.fails(
        &[
            "book",
            "Salle Verte",
            "--from",
            "2027-05-04T11:00",
            "--to",
            "2027-05-04T13:00",
        ],
        2,
    );
    assert_eq!(
        by_id(&home.json(&["bookings"]), &second)["status"],
        "pending"
    );
}

#[test]
fn a_declined_booking_shows_a_status_the_contract_names() {
    let home = TestHome::founded(ORG);
    home.ok(&[
        "resource",
        "add",
        "Salle Verte",
        "--kind",
        "room",
        "--approval",
    ]);
    let booking = book(&home, "Salle Verte", "2027-05-03T10:00", "2027-05-03T12:00");
    home.ok(&["booking", "decline", &booking, "--reason", "travaux"]);
    let list = home.json(&["bookings"]);
    let status = by_id(&list, &booking)["status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(status, "pending", "a declined booking is no longer pending");
    assert_ne!(status, "confirmed", "a declined booking is not confirmed");
    assert!(
        ["confirmed", "pending", "conflict", "cancelled"].contains(&status.as_str()),
        "status {status:?} is not one of confirmed|pending|conflict|cancelled (spec/cli.md)"
    );
    // Its slot is free again.
    book(&home, "Salle Verte", "2027-05-03T10:00", "2027-05-03T12:00");
}

#[test]
fn cancel_frees_the_slot() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    let booking = book(&home, "Salle Verte", "2027-04-05T14:00", "2027-04-05T16:00");
    home.fails(
        &[
            "book",
            "Salle Verte",
            "--from",
            "2027-04-05T15:00",
            "--to",
            "2027-04-05T17:00",
        ],
        2,
    );

    home.ok(&["cancel", &booking]);
    let list = home.json(&["bookings"]);
    assert_eq!(by_id(&list, &booking)["status"], "cancelled");

    let again = book(&home, "Salle Verte", "2027-04-05T15:00", "2027-04-05T17:00");
    let list = home.json(&["bookings"]);
    assert_eq!(by_id(&list, &again)["status"], "confirmed");
    assert_eq!(by_id(&list, &booking)["status"], "cancelled");
}

// ---------------------------------------------------------------- exports

/// DTSTART / DTEND as a UTC instant in RFC 3339.
fn utc(t: Option<DatePerhapsTime>) -> String {
    match t {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(dt))) => {
            dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        }
        Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid })) => {
            format!("{} {tzid}", date_time.format("%Y-%m-%dT%H:%M:%S"))
        }
        other => panic!("expected a date-time, got {other:?}"),
    }
}

#[test]
fn calendar_export_writes_a_parsable_icalendar() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    room(&home, "Salle Bleue");
    let summer = book(&home, "Salle Verte", "2027-07-05T09:00", "2027-07-05T11:00");
    let winter = book(&home, "Salle Verte", "2027-01-11T18:00", "2027-01-11T20:00");
    let blue = book(&home, "Salle Bleue", "2027-01-12T08:00", "2027-01-12T09:00");
    let cancelled = book(&home, "Salle Verte", "2027-01-13T08:00", "2027-01-13T09:00");
    home.ok(&["cancel", &cancelled]);

    let out = home.scratch().join("agenda.ics");
    home.ok(&["calendar", "export", "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).expect("the .ics file is UTF-8 text");
    assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
    assert!(text.contains("VERSION:2.0"), "{text}");
    let calendar: icalendar::Calendar = text
        .parse()
        .unwrap_or_else(|e| panic!("not RFC 5545 ({e}):\n{text}"));

    let events: Vec<&icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(CalendarComponent::as_event)
        .collect();
    let find = |id: &str| {
        events
            .iter()
            .find(|e| e.get_uid().is_some_and(|u| u.contains(id)))
            .copied()
    };
    for (id, start, end) in [
        (&summer, "2027-07-05T07:00:00Z", "2027-07-05T09:00:00Z"),
        (&winter, "2027-01-11T17:00:00Z", "2027-01-11T19:00:00Z"),
        (&blue, "2027-01-12T07:00:00Z", "2027-01-12T08:00:00Z"),
    ] {
        let event = find(id).unwrap_or_else(|| panic!("no VEVENT for booking {id}:\n{text}"));
        assert_eq!(utc(event.get_start()), start, "DTSTART of {id}");
        assert_eq!(utc(event.get_end()), end, "DTEND of {id}");
    }
    // A cancelled booking is left out, or marked cancelled.
    if let Some(event) = find(&cancelled) {
        assert_eq!(
            event.get_status(),
            Some(icalendar::EventStatus::Cancelled),
            "a cancelled booking exported as a live event:\n{text}"
        );
    }
    assert_eq!(text.matches("BEGIN:VEVENT").count(), events.len());

    // Only one resource.
    let out = home.scratch().join("bleue.ics");
    home.ok(&[
        "calendar",
        "export",
        "--resource",
        "Salle Bleue",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let calendar: icalendar::Calendar = text.parse().unwrap();
    let events: Vec<&icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(CalendarComponent::as_event)
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    assert!(events[0].get_uid().unwrap().contains(&blue), "{text}");
}

#[test]
fn export_charter_as_automerge_loads_and_holds_the_text() {
    let home = TestHome::founded(ORG);
    let charter = "Charte\n\nArticle 1 : nous partageons nos salles. ✓\n";
    let file = write(&home, "charte.md", charter.as_bytes());
    home.ok(&["charter", "set", "--file", &file]);
    let heads = home.json(&["charter", "show"])["heads"].clone();

    let out = home.scratch().join("charter.automerge");
    home.ok(&[
        "export",
        "charter",
        "--format",
        "automerge",
        "--out",
        out.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&out).expect("export wrote the file");
    let mut doc = automerge::AutoCommit::load(&bytes).expect("a standard automerge document");
    let (value, text_id) = doc
        .get(automerge::ROOT, "text")
        .expect("read root")
        .expect("the charter document has a root \"text\"");
    assert!(
        matches!(value, automerge::Value::Object(automerge::ObjType::Text)),
        "root \"text\" is not a text object: {value:?}"
    );
    assert_eq!(doc.text(&text_id).expect("read text"), charter);

    // The same document the node shows: same heads.
    let exported: BTreeSet<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    let shown: BTreeSet<String> = strings(&heads).into_iter().map(str::to_owned).collect();
    assert_eq!(exported, shown);
}

#[test]
fn every_document_exports_as_loadable_automerge() {
    let home = TestHome::founded(ORG);
    home.ok(&["values", "add", "Solidarité"]);
    let f = write(&home, "f.txt", b"x");
    home.ok(&["library", "add", &f, "--title", "F"]);
    room(&home, "Salle Verte");
    book(&home, "Salle Verte", "2027-07-05T09:00", "2027-07-05T11:00");
    for doc in ["charter", "values", "library", "calendar"] {
        let out = home.scratch().join(format!("{doc}.automerge"));
        home.ok(&[
            "export",
            doc,
            "--format",
            "automerge",
            "--out",
            out.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&out).expect("export wrote the file");
        let loaded = automerge::AutoCommit::load(&bytes)
            .unwrap_or_else(|e| panic!("{doc}: not a loadable automerge document: {e}"));
        assert!(
            loaded.keys(automerge::ROOT).count() > 0,
            "{doc}: empty document"
        );
    }
}

#[test]
fn the_exported_calendar_holds_every_resource_and_booking_of_every_part() {
    let home = TestHome::founded(ORG);
    // Enough resources that they fall in several of the calendar's parts.
    let mut booked = Vec::new();
    for i in 0..12 {
        let resource = room(&home, &format!("Salle {i}"));
        let booking = book(&home, &resource, "2027-07-05T09:00", "2027-07-05T11:00");
        booked.push((resource, booking));
    }
    let status = home.json(&["status"]);
    let calendar = array(&status["docs"])
        .iter()
        .find(|d| d["name"] == "calendar")
        .unwrap_or_else(|| panic!("no calendar in status: {status:#}"));
    // One head per part written (each part's history is one line here).
    assert!(
        array(&calendar["heads"]).len() >= 2,
        "the resources all fell in one part: {calendar:#}"
    );

    let out = home.scratch().join("calendar.automerge");
    home.ok(&[
        "export",
        "calendar",
        "--format",
        "automerge",
        "--out",
        out.to_str().unwrap(),
    ]);
    let doc = automerge::AutoCommit::load(&std::fs::read(&out).expect("export wrote the file"))
        .expect("a standard automerge document");
    let map = |key: &str| {
        doc.get(automerge::ROOT, key)
            .expect("read root")
            .unwrap_or_else(|| panic!("no {key} in the exported calendar"))
            .1
    };
    let (resources, bookings) = (map("resources"), map("bookings"));
    assert_eq!(doc.keys(&resources).count(), booked.len());
    for (resource, booking) in &booked {
        let (_, shelf) = doc
            .get(&bookings, resource.as_str())
            .expect("read")
            .unwrap_or_else(|| panic!("resource {resource} has no bookings in the export"));
        assert!(
            doc.get(&shelf, booking.as_str()).expect("read").is_some(),
            "booking {booking} of {resource} is not in the export"
        );
    }
}

// ------------------------------------------------ series, quotas, export

/// `book ... --json` for a series.
fn book_series(home: &TestHome, args: &[&str]) -> Value {
    let mut all = vec!["book", "Salle Verte"];
    all.extend_from_slice(args);
    home.json(&all)
}

#[test]
fn a_series_skips_and_reports_what_clashes_and_books_the_rest() {
    let home = TestHome::founded(ORG);
    home.ok(&[
        "resource",
        "add",
        "Salle Verte",
        "--kind",
        "room",
        "--quota",
        "10h/week",
    ]);
    // Week of 2027-03-15: 9h already; 2027-03-24 (next week): taken at 15:00.
    book(&home, "Salle Verte", "2027-03-15T09:00", "2027-03-15T18:00");
    let taken = book(&home, "Salle Verte", "2027-03-24T15:00", "2027-03-24T16:00");
    let reply = book_series(
        &home,
        &[
            "--from",
            "2027-03-10T14:00",
            "--to",
            "2027-03-10T16:00",
            "--repeat",
            "weekly",
            "--count",
            "4",
        ],
    );
    let booked = strings(&reply["ids"]);
    assert_eq!(booked.len(), 2, "{reply:#}");
    let skipped = array(&reply["skipped"]);
    let summary: Vec<(&str, &str, &Value)> = skipped
        .iter()
        .map(|s| {
            (
                s["from"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
                &s["conflict_with"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("2027-03-17T14:00:00+01:00", "quota", &Value::Null),
            (
                "2027-03-24T14:00:00+01:00",
                "overlap",
                &Value::String(taken.clone())
            ),
        ],
        "{reply:#}"
    );
    assert!(skipped.iter().all(|s| s["to"].is_string()));
    let list = home.json(&["bookings"]);
    assert_eq!(array(&list).len(), 4);
    let series = by_id(&list, booked[0])["series"].clone();
    assert!(series.is_string(), "{list:#}");
    for id in &booked {
        assert_eq!(by_id(&list, id)["series"], series);
        assert_eq!(by_id(&list, id)["status"], "confirmed");
    }
    assert_eq!(reply["series"], series);

    // The human text lists the skipped occurrences with their reason.
    let run = home.ok(&[
        "book",
        "Salle Verte",
        "--from",
        "2027-04-07T14:00",
        "--to",
        "2027-04-07T16:00",
        "--repeat",
        "daily",
        "--count",
        "2",
        "--purpose",
        "x",
    ]);
    assert!(!run.stdout.contains("skipped"), "{run:?}");
    let run = home.ok(&[
        "book",
        "Salle Verte",
        "--from",
        "2027-04-08T15:00",
        "--to",
        "2027-04-08T16:00",
        "--repeat",
        "daily",
        "--count",
        "2",
    ]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(is_hex(lines[0], 32), "{run:?}");
    assert!(
        lines[1].starts_with("skipped 2027-04-08T15:00:00+02:00") && lines[1].contains("overlap"),
        "{run:?}"
    );

    // Every occurrence clashes: refused, nothing stored.
    let before = home.json(&["bookings"]);
    let run = home.fails(
        &[
            "book",
            "Salle Verte",
            "--from",
            "2027-04-07T15:00",
            "--to",
            "2027-04-07T17:00",
            "--repeat",
            "daily",
            "--count",
            "2",
        ],
        2,
    );
    assert!(run.stderr.contains("all 2 occurrences"), "{run:?}");
    assert_eq!(home.json(&["bookings"]), before);
}

#[test]
fn repeat_until_a_date_keeps_the_local_hour_across_dst() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    // Clocks spring forward in Brussels on Sunday 2027-03-28.
    let reply = book_series(
        &home,
        &[
            "--from",
            "2027-03-26T19:00",
            "--to",
            "2027-03-26T21:00",
            "--repeat",
            "daily",
            "--until",
            "2027-03-29",
        ],
    );
    let ids = strings(&reply["ids"]);
    assert_eq!(ids.len(), 4, "{reply:#}");
    assert!(array(&reply["skipped"]).is_empty());
    let list = home.json(&["bookings"]);
    let mut froms: Vec<&str> = ids
        .iter()
        .map(|i| by_id(&list, i)["from"].as_str().unwrap())
        .collect();
    froms.sort_unstable();
    assert_eq!(
        froms,
        [
            "2027-03-26T19:00:00+01:00",
            "2027-03-27T19:00:00+01:00",
            "2027-03-28T19:00:00+02:00",
            "2027-03-29T19:00:00+02:00",
        ]
    );
    for bad in [
        &["--until", "2027-03-25"][..],
        &["--until", "29/03/2027"],
        &["--until", "2027-03-29", "--count", "2"],
        &["--until", "2028-06-01"],
    ] {
        let mut args = vec![
            "book",
            "Salle Verte",
            "--from",
            "2027-05-03T19:00",
            "--to",
            "2027-05-03T20:00",
            "--repeat",
            "daily",
        ];
        args.extend_from_slice(bad);
        home.fails(&args, 2);
    }
    home.fails(
        &[
            "book",
            "Salle Verte",
            "--from",
            "2027-05-03T19:00",
            "--to",
            "2027-05-03T20:00",
            "--until",
            "2027-05-10",
        ],
        2,
    );
    assert_eq!(array(&home.json(&["bookings"])).len(), 4);
}

#[test]
fn cancel_one_occurrence_or_the_whole_series() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    let reply = book_series(
        &home,
        &[
            "--from",
            "2027-09-06T18:00",
            "--to",
            "2027-09-06T19:00",
            "--repeat",
            "weekly",
            "--count",
            "4",
        ],
    );
    let ids: Vec<String> = strings(&reply["ids"])
        .into_iter()
        .map(str::to_owned)
        .collect();
    let other = book(&home, "Salle Verte", "2027-09-07T18:00", "2027-09-07T19:00");
    // One occurrence.
    let one = home.json(&["cancel", &ids[1]]);
    assert_eq!(one["id"], ids[1].as_str());
    assert_eq!(strings(&one["ids"]), [ids[1].as_str()]);
    let list = home.json(&["bookings"]);
    assert_eq!(by_id(&list, &ids[1])["status"], "cancelled");
    assert_eq!(by_id(&list, &ids[0])["status"], "confirmed");
    // The rest of the series, named by any occurrence (even a cancelled one).
    let rest = home.json(&["cancel", &ids[1][..10], "--series"]);
    let mut got = strings(&rest["ids"]);
    got.sort_unstable();
    let mut want = vec![ids[0].as_str(), ids[2].as_str(), ids[3].as_str()];
    want.sort_unstable();
    assert_eq!(got, want, "{rest:#}");
    let list = home.json(&["bookings"]);
    for id in &ids {
        assert_eq!(by_id(&list, id)["status"], "cancelled");
    }
    assert_eq!(by_id(&list, &other)["status"], "confirmed");
    // Nothing left to cancel: refused, nothing changed.
    home.fails(&["cancel", &ids[0], "--series"], 2);
    // A booking of no series: --series cancels just it.
    home.ok(&["cancel", &other, "--series"]);
    assert_eq!(
        by_id(&home.json(&["bookings"]), &other)["status"],
        "cancelled"
    );
}

#[test]
fn resource_list_shows_quota_usage_this_period_and_the_next() {
    let home = TestHome::founded(ORG);
    home.ok(&[
        "resource",
        "add",
        "Salle Verte",
        "--kind",
        "room",
        "--quota",
        "10h/week",
    ]);
    room(&home, "Salle Bleue");
    let list = home.json(&["resource", "list"]);
    let verte = array(&list)
        .iter()
        .find(|r| r["name"] == "Salle Verte")
        .unwrap();
    assert_eq!(verte["zone"], "Europe/Brussels");
    let usage = array(&verte["usage"]);
    assert_eq!(usage.len(), 2, "{list:#}");
    for u in usage {
        assert_eq!(u["org"], ORG);
        assert_eq!(u["minutes"], 0);
        assert_eq!(u["quota_minutes"], 600);
    }
    let next = usage[1]["period_start"].as_str().unwrap().to_owned();
    assert_eq!(usage[0]["period_end"], next.as_str());
    assert!(next.contains("T00:00:00+0"), "{next}");
    let bleue = array(&list)
        .iter()
        .find(|r| r["name"] == "Salle Bleue")
        .unwrap();
    assert!(array(&bleue["usage"]).is_empty());

    // Two hours on Monday of the next week.
    let from = next.replace("T00:00:00", "T10:00:00");
    let to = next.replace("T00:00:00", "T12:00:00");
    book(&home, "Salle Verte", &from, &to);
    let list = home.json(&["resource", "list"]);
    let verte = array(&list)
        .iter()
        .find(|r| r["name"] == "Salle Verte")
        .unwrap();
    let minutes: Vec<(&str, &Value)> = array(&verte["usage"])
        .iter()
        .map(|u| (u["period_start"].as_str().unwrap(), &u["minutes"]))
        .collect();
    assert_eq!(minutes[1], (next.as_str(), &Value::from(120)), "{list:#}");
    assert_eq!(minutes[0].1, &Value::from(0));
    let text = home.ok(&["resource", "list"]).stdout;
    assert!(text.contains("Salle Verte"), "{text}");
}

#[test]
fn bookings_json_has_reason_and_suggestions_fields() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    let id = book(&home, "Salle Verte", "2027-06-07T10:00", "2027-06-07T12:00");
    let list = home.json(&["bookings"]);
    let b = by_id(&list, &id);
    assert_eq!(b["reason"], Value::Null);
    assert_eq!(b["suggestions"], serde_json::json!([]));
    assert_eq!(b["conflict_with"], Value::Null);
    // Nothing lost: status lists no conflicts.
    assert_eq!(home.json(&["status"])["conflicts"], serde_json::json!([]));
}

#[test]
fn book_help_explains_the_booking_rule() {
    let home = TestHome::new();
    let help = home.ok(&["book", "--help"]).stdout;
    for words in [
        "The booking rule",
        "approved",
        "made first",
        "conflict_with",
        "reason `quota`",
        "skipped",
        "coordinator",
    ] {
        assert!(
            help.contains(words),
            "`book --help` lacks {words:?}:\n{help}"
        );
    }
}

#[test]
fn calendar_export_round_trips_uids_statuses_and_times_across_dst() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    home.ok(&[
        "resource",
        "add",
        "Salle Jaune",
        "--kind",
        "room",
        "--approval",
    ]);
    // Across the spring change (01:00 CET .. 04:00 CEST: 2 hours) and the
    // autumn one (01:00 CEST .. 04:00 CET: 4 hours).
    let spring = book(&home, "Salle Verte", "2027-03-28T01:00", "2027-03-28T04:00");
    let autumn = book(&home, "Salle Verte", "2027-10-31T01:00", "2027-10-31T04:00");
    let cancelled = book(&home, "Salle Verte", "2027-05-03T10:00", "2027-05-03T11:00");
    home.ok(&["cancel", &cancelled]);
    let pending = book(&home, "Salle Jaune", "2027-05-03T10:00", "2027-05-03T11:00");
    let declined = book(&home, "Salle Jaune", "2027-05-04T10:00", "2027-05-04T11:00");
    home.ok(&["booking", "decline", &declined, "--reason", "travaux"]);

    let out = home.scratch().join("all.ics");
    let run = home.json(&["calendar", "export", "--out", out.to_str().unwrap()]);
    assert_eq!(run["events"], 5);
    let text = std::fs::read_to_string(&out).unwrap();
    let calendar: icalendar::Calendar = text
        .parse()
        .unwrap_or_else(|e| panic!("not RFC 5545 ({e}):\n{text}"));
    let events: Vec<&icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(CalendarComponent::as_event)
        .collect();
    assert_eq!(events.len(), 5, "{text}");
    let event = |id: &str| {
        let uid = format!("{id}@entraide");
        events
            .iter()
            .find(|e| e.get_uid() == Some(uid.as_str()))
            .copied()
            .unwrap_or_else(|| panic!("no VEVENT with UID {uid}:\n{text}"))
    };
    use icalendar::EventStatus::{Cancelled, Confirmed, Tentative};
    for (id, status, start, end) in [
        (
            &spring,
            Confirmed,
            "2027-03-28T00:00:00Z",
            "2027-03-28T02:00:00Z",
        ),
        (
            &autumn,
            Confirmed,
            "2027-10-30T23:00:00Z",
            "2027-10-31T03:00:00Z",
        ),
        (
            &cancelled,
            Cancelled,
            "2027-05-03T08:00:00Z",
            "2027-05-03T09:00:00Z",
        ),
        (
            &pending,
            Tentative,
            "2027-05-03T08:00:00Z",
            "2027-05-03T09:00:00Z",
        ),
        (
            &declined,
            Cancelled,
            "2027-05-04T08:00:00Z",
            "2027-05-04T09:00:00Z",
        ),
    ] {
        let e = event(id);
        assert_eq!(e.get_status(), Some(status), "STATUS of {id}:\n{text}");
        assert_eq!(utc(e.get_start()), start, "DTSTART of {id}");
        assert_eq!(utc(e.get_end()), end, "DTEND of {id}");
    }
    assert!(
        event(&declined)
            .get_description()
            .is_some_and(|d| d.contains("travaux")),
        "{text}"
    );
    // Stable: a second export has the same UIDs, statuses and times.
    let again = home.scratch().join("again.ics");
    home.ok(&["calendar", "export", "--out", again.to_str().unwrap()]);
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("DTSTAMP"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&text),
        strip(&std::fs::read_to_string(&again).unwrap())
    );
}

#[test]
fn bookings_of_one_week_are_those_that_overlap_it() {
    let home = TestHome::founded(ORG);
    room(&home, "Salle Verte");
    let before = book(&home, "Salle Verte", "2027-03-05T09:00", "2027-03-05T10:00");
    // Starts the Sunday evening before the week, ends in it.
    let across = book(&home, "Salle Verte", "2027-03-07T23:00", "2027-03-08T01:00");
    let thursday = book(&home, "Salle Verte", "2027-03-11T14:00", "2027-03-11T16:00");
    // Starts exactly when the week ends.
    let after = book(&home, "Salle Verte", "2027-03-15T00:00", "2027-03-15T02:00");
    let week = home.json(&[
        "bookings",
        "--resource",
        "Salle Verte",
        "--from",
        "2027-03-08T00:00",
        "--to",
        "2027-03-15T00:00",
    ]);
    let listed = ids_of(&week);
    assert_eq!(listed, [across.clone(), thursday.clone()], "{week}");
    // Without a period, all four.
    let all = ids_of(&home.json(&["bookings", "--resource", "Salle Verte"]));
    assert_eq!(all, [before, across, thursday, after]);
    // A time that is not one is refused, with nothing listed.
    let bad = home.fails(&["bookings", "--from", "mardi"], 2);
    assert!(bad.stdout.is_empty(), "{}", bad.stdout);
}

fn ids_of(list: &Value) -> Vec<String> {
    array(list)
        .iter()
        .filter_map(|b| b["id"].as_str().map(str::to_owned))
        .collect()
}
