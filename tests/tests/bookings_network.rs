//! Bookings across member nodes: partitions, the same verdict everywhere,
//! approval by the owning organisation.

use entraide_tests::{Serve, TestHome, eventually, join};
use serde_json::Value;

fn founded() -> (TestHome, Serve) {
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

fn bookings(home: &TestHome) -> Vec<Value> {
    let mut list = home
        .json(&["bookings"])
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.sort_by_key(|b| b["id"].as_str().unwrap_or_default().to_owned());
    list
}

fn verdicts(home: &TestHome) -> Vec<(String, String, String)> {
    bookings(home)
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap_or_default().to_owned(),
                b["status"].as_str().unwrap_or_default().to_owned(),
                b["conflict_with"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn three_members_booking_the_same_room_while_partitioned_agree_afterwards() {
    let (a, _sa) = founded();
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    a.ok(&[
        "resource",
        "add",
        "Salle Horta",
        "--kind",
        "room",
        "--hours",
        "Mo-Sa 08:00-20:00",
    ]);
    for home in [&b, &c] {
        eventually(10, "the room reaches everyone", || {
            home.json(&["resource", "list"]).as_array().map(Vec::len) == Some(1)
        });
    }
    // The network splits: each member alone books Tuesday 10:00-12:00.
    sb.stop();
    sc.stop();
    let slot = ["--from", "2026-06-02T10:00", "--to", "2026-06-02T12:00"];
    let book = |home: &TestHome, purpose: &str| {
        let mut args = vec!["book", "Salle Horta", "--purpose", purpose];
        args.extend_from_slice(&slot);
        home.ok(&args).stdout.trim().to_owned()
    };
    let first = book(&c, "C first");
    std::thread::sleep(std::time::Duration::from_millis(20));
    book(&a, "A second");
    std::thread::sleep(std::time::Duration::from_millis(20));
    book(&b, "B third");
    // Outside the opening hours is refused everywhere, partition or not.
    b.fails(
        &[
            "book",
            "Salle Horta",
            "--from",
            "2026-06-07T10:00",
            "--to",
            "2026-06-07T11:00",
        ],
        2,
    );
    // The network heals.
    let _sb = Serve::start(&b);
    let _sc = Serve::start(&c);
    for home in [&a, &b, &c] {
        eventually(15, "all three bookings everywhere", || {
            bookings(home).len() == 3
        });
    }
    eventually(10, "the same verdict everywhere", || {
        verdicts(&a) == verdicts(&b) && verdicts(&a) == verdicts(&c)
    });
    let list = bookings(&a);
    let confirmed: Vec<&Value> = list.iter().filter(|b| b["status"] == "confirmed").collect();
    assert_eq!(confirmed.len(), 1, "{list:?}");
    assert_eq!(
        confirmed[0]["id"],
        first.as_str(),
        "the first to book keeps the room"
    );
    for loser in list.iter().filter(|b| b["status"] == "conflict") {
        assert_eq!(loser["conflict_with"], first.as_str());
        assert_eq!(loser["reason"], "overlap");
        assert!(
            !loser["suggestions"]
                .as_array()
                .expect("suggestions")
                .is_empty()
        );
    }
    // A loser sees its conflict first in `status`.
    let status = a.json(&["status"]);
    assert_eq!(
        status["conflicts"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
}

#[test]
fn the_owner_approves_a_booking_made_on_another_node() {
    let (a, _sa) = founded();
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    a.ok(&[
        "resource",
        "add",
        "Camionnette",
        "--kind",
        "vehicle",
        "--approval",
    ]);
    eventually(10, "B has the van", || {
        b.json(&["resource", "list"]).as_array().map(Vec::len) == Some(1)
    });
    let id = b
        .ok(&[
            "book",
            "Camionnette",
            "--from",
            "2026-06-03T08:00",
            "--to",
            "2026-06-03T18:00",
            "--purpose",
            "déménagement",
        ])
        .stdout
        .trim()
        .to_owned();
    assert_eq!(bookings(&b)[0]["status"], "pending");
    // B does not own the van: it cannot approve its own booking.
    b.fails(&["booking", "approve", &id], 2);
    eventually(10, "A sees the pending booking", || {
        bookings(&a)
            .first()
            .is_some_and(|x| x["status"] == "pending")
    });
    a.ok(&["booking", "approve", &id]);
    eventually(10, "B sees it confirmed", || {
        bookings(&b)
            .first()
            .is_some_and(|x| x["status"] == "confirmed")
    });
    let other = b
        .ok(&[
            "book",
            "Camionnette",
            "--from",
            "2026-06-04T08:00",
            "--to",
            "2026-06-04T18:00",
        ])
        .stdout
        .trim()
        .to_owned();
    eventually(10, "A sees the second booking", || bookings(&a).len() == 2);
    a.ok(&[
        "booking",
        "decline",
        &other,
        "--reason",
        "révision du véhicule",
    ]);
    eventually(10, "B sees it declined", || {
        bookings(&b).iter().any(|x| {
            x["id"] == other.as_str() && x["status"] == "cancelled" && x["declined"] == true
        })
    });
}

#[test]
fn two_devices_of_one_organisation_over_its_quota_while_apart() {
    let (a, sa) = founded();
    a.ok(&[
        "resource",
        "add",
        "Salle Horta",
        "--kind",
        "room",
        "--quota",
        "3h/week",
    ]);
    // A second device of Asbl A.
    let ticket = a.ok(&["device", "invite"]).stdout.trim().to_owned();
    let laptop = TestHome::new();
    laptop.ok(&["init", "--org", "Asbl A (laptop)"]);
    assert_eq!(laptop.json(&["join", &ticket])["status"], "active");
    // Apart, each device books 2 hours the same week: each alone is within
    // the quota, together they are 4 hours for a quota of 3.
    let addr = sa.addr.clone();
    sa.stop();
    let office = a
        .ok(&[
            "book",
            "Salle Horta",
            "--from",
            "2026-06-01T09:00",
            "--to",
            "2026-06-01T11:00",
        ])
        .stdout
        .trim()
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let travel = laptop
        .ok(&[
            "book",
            "Salle Horta",
            "--from",
            "2026-06-03T09:00",
            "--to",
            "2026-06-03T11:00",
        ])
        .stdout
        .trim()
        .to_owned();
    // The office node comes back where the laptop knows it.
    let _sa = Serve::start_at(&a, &addr);
    laptop.ok(&["sync", "--timeout", "10"]);
    for home in [&a, &laptop] {
        let list = bookings(home);
        assert_eq!(list.len(), 2, "{list:?}");
        let by_id = |id: &str| {
            list.iter()
                .find(|b| b["id"] == id)
                .cloned()
                .expect("booking")
        };
        assert_eq!(by_id(&office)["status"], "confirmed");
        assert_eq!(by_id(&travel)["status"], "conflict");
        assert_eq!(by_id(&travel)["reason"], "quota");
    }
}

#[test]
fn only_the_owner_changes_or_withdraws_a_resource_and_every_member_sees_it() {
    let (a, _sa) = founded();
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    a.ok(&[
        "resource",
        "add",
        "Salle Horta",
        "--kind",
        "room",
        "--capacity",
        "20",
    ]);
    eventually(30, "the room reaches B", || {
        b.run(&["resource", "list"]).stdout.contains("Salle Horta")
    });
    // B does not own it: refused, nothing changes.
    let refused = b.fails(&["resource", "edit", "Salle Horta", "--capacity", "2"], 2);
    assert!(
        refused.stderr.contains("only the organisation that owns"),
        "{}",
        refused.stderr
    );
    b.fails(
        &["resource", "withdraw", "Salle Horta", "--reason", "à moi"],
        2,
    );
    // The owner renames it, sets a quota and drops the capacity.
    a.ok(&[
        "resource",
        "edit",
        "Salle Horta",
        "--name",
        "Salle Victor Horta",
        "--quota",
        "1h/week",
        "--clear",
        "capacity",
    ]);
    let room = |home: &TestHome| -> Option<Value> {
        home.json(&["resource", "list"])
            .as_array()?
            .iter()
            .find(|r| r["name"] == "Salle Victor Horta")
            .cloned()
    };
    eventually(30, "B sees the change", || {
        room(&b).is_some_and(|r| r["quota"] == "1h/week" && r["capacity"].is_null())
    });
    // The new quota holds on B for what B books now.
    let day = "2030-04-02";
    b.ok(&[
        "book",
        "Salle Victor Horta",
        "--from",
        &format!("{day}T09:00"),
        "--to",
        &format!("{day}T10:00"),
    ]);
    b.fails(
        &[
            "book",
            "Salle Victor Horta",
            "--from",
            &format!("{day}T11:00"),
            "--to",
            &format!("{day}T12:00"),
        ],
        2,
    );
    // Withdrawn: B's future booking is declined with the reason, and the
    // room leaves every list.
    a.fails(
        &[
            "resource",
            "withdraw",
            "Salle Victor Horta",
            "--reason",
            " ",
        ],
        2,
    );
    a.ok(&[
        "resource",
        "withdraw",
        "Salle Victor Horta",
        "--reason",
        "Vendue",
    ]);
    eventually(
        30,
        "B sees the room withdrawn and its booking declined",
        || {
            room(&b).is_none()
                && bookings(&b)
                    .iter()
                    .any(|x| x["declined"] == true && x["reason"] == "Vendue")
        },
    );
}
