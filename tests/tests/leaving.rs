//! An organisation leaves the alliance on its own: its future bookings are
//! cancelled and its resources withdrawn on every node, what it wrote
//! before stays, and it can no longer write.

use entraide_tests::{Serve, TestHome, eventually, join};
use serde_json::Value;

fn member_status(home: &TestHome, org: &str) -> String {
    home.json(&["member", "list"])
        .as_array()
        .and_then(|l| l.iter().find(|m| m["org"] == org).cloned())
        .map(|m| m["status"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn booking<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|b| b["id"] == id))
        .unwrap_or(&Value::Null)
}

#[test]
fn leaving_cancels_future_bookings_and_withdraws_resources_on_every_node() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let _sc = Serve::start(&c);
    a.ok(&["resource", "add", "Salle A", "--kind", "room"]);
    b.ok(&["resource", "add", "Camionnette B", "--kind", "vehicle"]);
    b.ok(&["values", "add", "Autonomie"]);
    for h in [&a, &b, &c] {
        eventually(20, "both resources everywhere", || {
            h.json(&["resource", "list"]).as_array().map(Vec::len) == Some(2)
        });
    }
    let book = |h: &TestHome, res: &str, day: &str| {
        h.ok(&[
            "book",
            res,
            "--from",
            &format!("{day}T10:00"),
            "--to",
            &format!("{day}T12:00"),
        ])
        .stdout
        .trim()
        .to_owned()
    };
    // B's booking of A's room, and C's booking of B's van.
    let b_books_a = book(&b, "Salle A", "2030-05-06");
    let c_books_b = book(&c, "Camionnette B", "2030-05-07");
    for h in [&a, &b, &c] {
        eventually(20, "both bookings everywhere", || {
            h.json(&["bookings"]).as_array().map(Vec::len) == Some(2)
        });
    }
    // B also booked the room of a working group of A and B.
    a.ok(&["group", "create", "Atelier", "--org", "Asbl B"]);
    a.ok(&[
        "resource", "add", "Salle G", "--kind", "room", "--group", "Atelier",
    ]);
    eventually(20, "the group's room reaches B", || {
        b.run(&["resource", "list"]).stdout.contains("Salle G")
    });
    let b_books_g = book(&b, "Salle G", "2030-05-08");
    eventually(20, "B's booking of the group's room reaches A", || {
        booking(&a.json(&["bookings"]), &b_books_g)["status"] == "confirmed"
    });
    // Leaving needs a reason, and the last member cannot leave.
    b.fails(&["leave", "--reason", " "], 2);
    let left = b.json(&["leave", "--reason", "nous fusionnons avec une autre asbl"]);
    assert_eq!(left["status"], "removed", "{left}");
    for h in [&a, &c] {
        eventually(20, "B's departure everywhere", || {
            member_status(h, "Asbl B") == "removed"
        });
        eventually(20, "B's bookings cancelled and its van withdrawn", || {
            let list = h.json(&["bookings"]);
            booking(&list, &b_books_a)["status"] == "cancelled"
                && booking(&list, &c_books_b)["declined"] == true
                && !h
                    .json(&["resource", "list"])
                    .to_string()
                    .contains("Camionnette B")
        });
    }
    // Its booking in the group's calendar went too.
    eventually(20, "B's group booking cancelled on A", || {
        booking(&a.json(&["bookings"]), &b_books_g)["status"] == "cancelled"
    });
    // C's organisation is told why its booking of the van went.
    let list = c.json(&["bookings"]);
    let reason = booking(&list, &c_books_b)["reason"].to_string()
        + &booking(&list, &c_books_b)["decision_reason"].to_string();
    assert!(
        reason.contains("nous fusionnons"),
        "{}",
        booking(&list, &c_books_b)
    );
    // What B wrote before stays.
    assert!(
        a.json(&["values", "list"])
            .to_string()
            .contains("Autonomie")
    );
    // The van takes no new booking.
    c.fails(
        &[
            "book",
            "Camionnette B",
            "--from",
            "2030-05-08T10:00",
            "--to",
            "2030-05-08T11:00",
        ],
        2,
    );
    // A and C remain; the last of them cannot leave.
    c.ok(&["leave", "--reason", "fin du projet"]);
    eventually(20, "C's departure reaches A", || {
        member_status(&a, "Asbl C") == "removed"
    });
    a.fails(&["leave", "--reason", "plus personne"], 2);
}
