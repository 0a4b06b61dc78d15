//! Working groups across member nodes (`entraide serve` processes): a
//! group's documents reach its members' nodes only, a member added later
//! receives the group's history, a member removed receives nothing written
//! after, a group's proposal is decided by its members, and a member of the
//! group cannot write in another's name there either.

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};
use entraide_docs::{DocKind, Shelf};
use entraide_tests::rogue::{self, RogueMember, obj};
use entraide_tests::{Serve, TestHome, eventually, join};

/// Whether the home's store file contains `needle` anywhere (documents,
/// files, anything the node kept).
fn store_holds(home: &TestHome, needle: &str) -> bool {
    let bytes = std::fs::read(home.path().join("entraide.redb")).expect("read the store");
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn titles(home: &TestHome) -> Vec<String> {
    home.json(&["library", "list"])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["title"].as_str().map(str::to_owned))
        .collect()
}

fn member(home: &TestHome, group: &str) -> Option<bool> {
    home.json(&["group", "list"])
        .as_array()?
        .iter()
        .find(|g| g["name"] == group)
        .and_then(|g| g["member"].as_bool())
}

fn add_file(home: &TestHome, name: &str, body: &str, group: &str) -> String {
    let file = home.scratch().join(name);
    std::fs::write(&file, body).expect("write");
    let out = home.ok(&[
        "library",
        "add",
        file.to_str().expect("path"),
        "--title",
        name,
        "--group",
        group,
    ]);
    out.stdout.trim().to_owned()
}

#[test]
fn a_groups_documents_reach_its_members_only() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    for h in [&a, &b, &c] {
        eventually(20, "three members everywhere", || {
            h.json(&["status"])["members"] == 3
        });
    }
    let created = a.json(&[
        "group",
        "create",
        "Finances",
        "--description",
        "Les trésorier·es",
        "--org",
        "Asbl B",
    ]);
    let group = created["id"].as_str().expect("the group's id").to_owned();
    // Every member sees that the group exists, and who is in it.
    eventually(20, "the group is known everywhere", || {
        member(&b, "Finances") == Some(true) && member(&c, "Finances") == Some(false)
    });

    // A file on the group's shelf reaches B, and never C.
    let secret = "budget-2027-confidentiel-7f3a";
    add_file(&a, "Budget 2027", secret, "Finances");
    let notes = a.scratch().join("notes.md");
    std::fs::write(&notes, "Réunion du 12: budget serré\n").expect("write");
    a.ok(&[
        "group",
        "notes",
        "Finances",
        "set",
        "--file",
        notes.to_str().expect("path"),
    ]);
    eventually(30, "the file reaches B", || {
        b.json(&["library", "list"]).as_array().is_some_and(|l| {
            l.iter()
                .any(|e| e["title"] == "Budget 2027" && e["available"] == true)
        })
    });
    eventually(20, "the notes reach B", || {
        b.json(&["group", "notes", "Finances"])["text"] == "Réunion du 12: budget serré\n"
    });
    let listed = b.json(&["library", "list"]);
    assert_eq!(listed[0]["group"], "Finances", "{listed}");
    let out = b.scratch().join("budget.txt");
    b.ok(&[
        "library",
        "get",
        "Budget 2027",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(std::fs::read_to_string(&out).expect("read"), secret);

    // Its own room, booked by B, and its own training.
    a.ok(&[
        "resource",
        "add",
        "Salle du conseil",
        "--kind",
        "room",
        "--group",
        "Finances",
    ]);
    let training = a.json(&[
        "event",
        "add",
        "Formation trésorerie",
        "--from",
        "2030-03-10T09:00",
        "--to",
        "2030-03-10T12:00",
        "--seats",
        "4",
        "--resource",
        "Salle du conseil",
        "--group",
        "Finances",
    ]);
    assert!(training["booking"].is_string(), "{training}");
    eventually(30, "the room and the training reach B", || {
        b.run(&["event", "register", "Formation trésorerie", "--seats", "2"])
            .code
            == 0
    });
    let rooms = b.json(&["resource", "list"]);
    assert_eq!(rooms[0]["group"], "Finances", "{rooms}");
    b.ok(&[
        "book",
        "Salle du conseil",
        "--from",
        "2030-03-11T09:00",
        "--to",
        "2030-03-11T10:00",
    ]);
    eventually(20, "B's registration and booking reach A", || {
        let events = a.json(&["event", "list"]);
        events[0]["group"] == "Finances"
            && events[0]["registrations"].as_array().map(Vec::len) == Some(1)
            && a.json(&["bookings", "--resource", "Salle du conseil"])
                .as_array()
                .map(Vec::len)
                == Some(2)
    });

    // A proposal of the group, decided by its two members alone.
    let proposal = a.ok(&[
        "propose",
        "general",
        "--title",
        "Cotiser à un fonds commun",
        "--text",
        "Entre A et B",
        "--process",
        "consensus",
        "--group",
        "Finances",
    ]);
    let proposal = proposal.stdout.trim().to_owned();
    a.ok(&["vote", &proposal, "agree"]);
    eventually(20, "the proposal reaches B", || {
        b.run(&["vote", &proposal, "agree"]).code == 0
    });
    eventually(20, "passed on A with two votes of two", || {
        a.json(&["proposals"])
            .as_array()
            .and_then(|l| l.iter().find(|p| p["id"] == proposal.as_str()).cloned())
            .is_some_and(|p| p["status"] == "passed" && p["group"] == "Finances")
    });
    // C never saw any of it: not listed, not stored, cannot vote (what B
    // stores shows what to look for).
    std::thread::sleep(std::time::Duration::from_secs(2));
    for needle in [
        secret,
        "Budget 2027",
        "Cotiser",
        "budget serr",
        "Salle du conseil",
        "Formation tr",
    ] {
        assert!(store_holds(&b, needle), "B's store does not show {needle}");
    }
    assert!(!titles(&c).contains(&"Budget 2027".to_owned()));
    assert!(!store_holds(&c, secret), "the file's bytes are on C's disk");
    assert!(!store_holds(&c, "Budget 2027"), "the entry is on C's disk");
    assert!(!store_holds(&c, "Cotiser"), "the proposal is on C's disk");
    assert!(!store_holds(&c, "budget serr"), "the notes are on C's disk");
    assert!(
        !store_holds(&c, "Salle du conseil"),
        "the room is on C's disk"
    );
    assert!(
        !store_holds(&c, "Formation tr"),
        "the training is on C's disk"
    );
    assert_eq!(c.json(&["resource", "list"]), serde_json::json!([]));
    assert_eq!(c.json(&["event", "list"]), serde_json::json!([]));
    c.fails(
        &[
            "book",
            "Salle du conseil",
            "--from",
            "2030-03-12T09:00",
            "--to",
            "2030-03-12T10:00",
        ],
        2,
    );
    assert!(
        !c.json(&["proposals"]).to_string().contains(&proposal),
        "C lists the group's proposal"
    );
    c.fails(&["vote", &proposal, "agree"], 2);
    c.fails(
        &[
            "library",
            "add",
            "/dev/null",
            "--title",
            "x",
            "--group",
            "Finances",
        ],
        2,
    );
    let c_docs = c.json(&["status"])["docs"].to_string();
    assert!(
        !c_docs.contains(&group),
        "C's status names the group's documents: {c_docs}"
    );

    // C, added later, receives the group's whole history.
    b.ok(&["group", "add", "Finances", "Asbl C"]);
    eventually(30, "the group's file reaches C", || {
        c.json(&["library", "list"]).as_array().is_some_and(|l| {
            l.iter()
                .any(|e| e["title"] == "Budget 2027" && e["available"] == true)
        })
    });
    eventually(20, "and its proposal", || {
        c.json(&["proposals"]).to_string().contains(&proposal)
    });

    // B, removed, receives nothing written after its removal.
    a.ok(&["group", "remove", "Finances", "Asbl B"]);
    eventually(20, "B knows it was removed", || {
        member(&b, "Finances") == Some(false)
    });
    let later = "apres-le-retrait-de-b-91c2";
    add_file(&a, "Après B", later, "Finances");
    eventually(30, "the new file reaches C", || {
        titles(&c).contains(&"Après B".to_owned())
    });
    // B syncs with everyone once more, and still has nothing of it.
    b.run(&["sync", "--timeout", "5"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(!titles(&b).contains(&"Après B".to_owned()));
    assert!(
        !store_holds(&b, later),
        "B holds what was written after its removal"
    );
    b.fails(
        &[
            "library",
            "add",
            "/dev/null",
            "--title",
            "x",
            "--group",
            "Finances",
        ],
        2,
    );
    // A partition: apart, A takes B back into the group while C writes
    // the group's notes.
    sb.stop();
    sc.stop();
    a.ok(&["group", "add", "Finances", "Asbl B"]);
    let notes = c.scratch().join("adieu.md");
    std::fs::write(&notes, "C s'en va\n").expect("write");
    c.ok(&[
        "group",
        "notes",
        "Finances",
        "set",
        "--file",
        notes.to_str().expect("path"),
    ]);
    let _sb = Serve::start(&b);
    let _sc = Serve::start(&c);
    // Every node lists the same group and members, and B gets back what
    // was written while it was out.
    let list = |h: &TestHome| {
        let mut l = h.json(&["group", "list"]);
        for g in l.as_array_mut().into_iter().flatten() {
            g.as_object_mut().map(|g| g.remove("member"));
        }
        l
    };
    eventually(30, "the same groups everywhere after the partition", || {
        let l = list(&a);
        l[0]["orgs"] == serde_json::json!(["Asbl A", "Asbl B", "Asbl C"])
            && list(&b) == l
            && list(&c) == l
    });
    eventually(30, "B gets what was written while it was out", || {
        titles(&b).contains(&"Après B".to_owned())
    });
    // C's notes, written apart, reach A and B.
    eventually(30, "C's notes reach A and B", || {
        [&a, &b]
            .iter()
            .all(|h| h.json(&["group", "notes", "Finances"])["text"] == "C s'en va\n")
    });
    // C leaves: it no longer writes there.
    c.ok(&["group", "leave", "Finances"]);
    c.fails(
        &[
            "group",
            "notes",
            "Finances",
            "set",
            "--file",
            notes.to_str().expect("path"),
        ],
        2,
    );
    eventually(20, "everyone knows C left", || {
        [&a, &b].iter().all(|h| {
            h.json(&["group", "list"])[0]["orgs"] == serde_json::json!(["Asbl A", "Asbl B"])
        })
    });
}

#[test]
fn a_member_of_a_group_cannot_write_in_another_organisations_name_there() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let r = join(&a, "Asbl R");
    let sr = Serve::start(&r);
    let a_org = a.json(&["status"])["org_id"]
        .as_str()
        .expect("org id")
        .to_owned();
    let created = a.json(&["group", "create", "RH", "--org", "Asbl R"]);
    let id = created["id"].as_str().expect("id").to_owned();
    let group: [u8; 16] = (0..16)
        .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).expect("hex"))
        .collect::<Vec<_>>()
        .try_into()
        .expect("16 bytes");
    eventually(20, "R is in the group", || member(&r, "RH") == Some(true));
    add_file(&r, "Procédure R", "procedure", "RH");
    eventually(30, "R's honest entry reaches A", || {
        titles(&a).contains(&"Procédure R".to_owned())
    });
    // R's modified client adds an entry that says A added it.
    sr.stop();
    let rogue = RogueMember::open(&r.path());
    let hash = rogue.edit(DocKind::group(group, Shelf::Library), |d| {
        let entries = obj(d, &["entries"]);
        let e = d
            .put_object(&entries, rogue.new_id().as_str(), ObjType::Map)
            .expect("put");
        d.put(&e, "title", "Licenciements").expect("put");
        d.put(&e, "kind", "other").expect("put");
        d.put_object(&e, "tags", ObjType::List).expect("put");
        d.put(&e, "size", ScalarValue::Int(1)).expect("put");
        d.put(&e, "hash", "0".repeat(64).as_str()).expect("put");
        d.put(&e, "file_name", "x").expect("put");
        d.put(&e, "added_by", a_org.as_str()).expect("put");
        d.put(&e, "added_by_device", rogue.device_hex().as_str())
            .expect("put");
        d.put(&e, "added_at", ScalarValue::Int(rogue::now_ms()))
            .expect("put");
    });
    drop(rogue);
    let _sr = Serve::start(&r);
    eventually(30, "A's audit names R's forged entry", || {
        a.json(&["audit"]).to_string().contains(&hash)
    });
    assert!(!titles(&a).contains(&"Licenciements".to_owned()));
}

#[test]
fn a_groups_fund_and_loans_are_in_a_book_its_members_only_see() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let _sc = Serve::start(&c);
    a.ok(&["group", "create", "Fonds", "--org", "Asbl B"]);
    eventually(20, "B is in the group", || {
        member(&b, "Fonds") == Some(true)
    });
    // B asks the group's fund; the group's two members decide.
    let request = b.ok(&[
        "fund",
        "request",
        "--kind",
        "grant",
        "--amount",
        "800.00",
        "--reason",
        "Ordinateurs-pour-l-accueil",
        "--process",
        "consensus",
        "--group",
        "Fonds",
    ]);
    let proposal = request.stdout.trim().to_owned();
    b.ok(&["vote", &proposal, "agree"]);
    eventually(20, "the request reaches A, which agrees", || {
        a.run(&["vote", &proposal, "agree"]).code == 0
    });
    let book = |h: &TestHome| h.json(&["ledger", "--group", "Fonds"]);
    eventually(20, "the grant passes in the group's book", || {
        book(&b)["fund"]["requests"][0]["status"] == "passed"
    });
    assert_eq!(
        book(&a)["visible_to"],
        serde_json::json!(["Asbl A", "Asbl B"])
    );
    // B records the payout it received; A lends B, and B accepts.
    b.ok(&[
        "ledger",
        "record-payment",
        "--from",
        "fund",
        "--amount",
        "800.00",
        "--for",
        &format!("fund:{proposal}"),
        "--group",
        "Fonds",
    ]);
    let loan = a.json(&[
        "loan",
        "offer",
        "Asbl B",
        "--amount",
        "300.00",
        "--schedule",
        "3 x monthly",
        "--group",
        "Fonds",
    ])["id"]
        .as_str()
        .expect("the loan's id")
        .to_owned();
    a.fails(
        &[
            "loan",
            "offer",
            "Asbl C",
            "--amount",
            "1.00",
            "--schedule",
            "once",
            "--group",
            "Fonds",
        ],
        2,
    );
    eventually(20, "the offer reaches B, which accepts it", || {
        b.run(&["loan", "accept", &loan]).code == 0
    });
    eventually(20, "the same book on A and B", || {
        let l = book(&a);
        l["loans"][0]["status"] == "accepted"
            && l["payments"].as_array().map(Vec::len) == Some(1)
            && book(&b) == l
    });
    // C sees none of it, and the alliance's book holds none of it.
    c.fails(&["ledger", "--group", "Fonds"], 2);
    for h in [&a, &c] {
        let alliance = h.json(&["ledger"]);
        assert_eq!(alliance["payments"], serde_json::json!([]), "{alliance}");
        assert_eq!(alliance["loans"], serde_json::json!([]), "{alliance}");
        assert_eq!(
            alliance["fund"]["requests"],
            serde_json::json!([]),
            "{alliance}"
        );
    }
    assert!(store_holds(&b, "Ordinateurs-pour-l-accueil"));
    assert!(!store_holds(&c, "Ordinateurs-pour-l-accueil"));
}

#[test]
fn a_groups_notes_are_co_edited_like_the_charter() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    a.ok(&["group", "create", "RH", "--org", "Asbl B"]);
    let write = |h: &TestHome, text: &str, base: &[String]| {
        let file = h.scratch().join("notes.md");
        std::fs::write(&file, text).expect("write");
        let mut args = vec![
            "group".to_owned(),
            "notes".into(),
            "RH".into(),
            "set".into(),
            "--file".into(),
            file.to_str().expect("path").into(),
        ];
        for head in base {
            args.extend(["--base".into(), head.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        h.ok(&args);
    };
    write(&a, "Ordre du jour\n", &[]);
    let notes = |h: &TestHome| h.json(&["group", "notes", "RH"]);
    eventually(20, "the notes reach B", || {
        notes(&b)["text"] == "Ordre du jour\n"
    });
    // B takes the text; A adds a line meanwhile; B's edit keeps A's line.
    let taken = notes(&b);
    let heads: Vec<String> = taken["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect();
    write(&a, "Ordre du jour\n- budget (A)\n", &[]);
    eventually(20, "A's line reaches B", || {
        notes(&b)["text"] == "Ordre du jour\n- budget (A)\n"
    });
    write(&b, "Ordre du jour\n- engagements (B)\n", &heads);
    for h in [&a, &b] {
        eventually(20, "both lines everywhere", || {
            let text = notes(h)["text"].as_str().unwrap_or_default().to_owned();
            text.contains("- budget (A)") && text.contains("- engagements (B)")
        });
    }
}
