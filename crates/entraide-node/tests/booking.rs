//! Bookings between two members' nodes, synced without a network: a
//! conflict and its suggestions, cancellation rights.

use entraide_node::{Node, Request};
use serde_json::Value;

mod common;
use common::{admit, founder, node, push};

/// Founder `a` (coordinator) and member `b`.
fn two_members(dir: &tempfile::TempDir) -> (Node, Node) {
    let mut a = founder(dir);
    let mut b = node(dir, "b");
    admit(&mut a, &mut b);
    (a, b)
}

fn book(n: &mut Node, from: &str, to: &str) -> String {
    let reply = n
        .execute(Request::Book {
            resource: "Salle".into(),
            from: from.into(),
            to: to.into(),
            purpose: String::new(),
            repeat: None,
            count: None,
            until: None,
        })
        .expect("book");
    reply.json["ids"][0].as_str().expect("id").to_owned()
}

fn bookings(n: &mut Node) -> Value {
    n.execute(Request::Bookings {
        resource: None,
        org: None,
        from: None,
        to: None,
    })
    .expect("bookings")
    .json
}

fn by_id<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no booking {id} in {list:#}"))
}

#[test]
fn a_lost_booking_shows_why_and_where_to_rebook_on_both_nodes() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut a, mut b) = two_members(&dir);
    a.execute(Request::ResourceAdd {
        name: "Salle".into(),
        kind: "room".into(),
        capacity: None,
        location: None,
        quota: Some("10h/week".into()),
        approval: false,
        hours: None,
        group: None,
    })
    .expect("resource");
    push(&mut a, &mut b);

    // Apart: a books first, b a little later, overlapping.
    let first = book(&mut a, "2027-06-07T10:00", "2027-06-07T12:00");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = book(&mut b, "2027-06-07T11:00", "2027-06-07T13:00");
    push(&mut a, &mut b);
    push(&mut b, &mut a);

    let (la, lb) = (bookings(&mut a), bookings(&mut b));
    assert_eq!(la, lb, "the two nodes disagree");
    assert_eq!(by_id(&la, &first)["status"], "confirmed");
    let lost = by_id(&la, &second);
    assert_eq!(lost["status"], "conflict");
    assert_eq!(lost["reason"], "overlap");
    assert_eq!(lost["conflict_with"], first.as_str());
    let starts: Vec<(&str, &str)> = lost["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .map(|s| (s["from"].as_str().unwrap(), s["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        starts,
        [
            ("2027-06-07T12:00:00+00:00", "2027-06-07T14:00:00+00:00"),
            ("2027-06-07T12:15:00+00:00", "2027-06-07T14:15:00+00:00"),
            ("2027-06-07T12:30:00+00:00", "2027-06-07T14:30:00+00:00"),
        ]
    );

    // b sees its conflict, with suggestions, in status; a sees none.
    let sb = b.execute(Request::Status).expect("status").json;
    let conflicts = sb["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{sb:#}");
    assert_eq!(conflicts[0]["id"], second.as_str());
    assert_eq!(conflicts[0]["suggestions"], lost["suggestions"]);
    let sa = a.execute(Request::Status).expect("status").json;
    assert_eq!(sa["conflicts"], serde_json::json!([]));

    // b, a plain member, may not cancel a's booking; a, a coordinator, may
    // cancel b's, and b sees it.
    let err = b
        .execute(Request::Cancel {
            booking: first.clone(),
            series: false,
        })
        .expect_err("a member cancelled another's booking");
    assert_eq!(err.exit_code(), 2, "{err}");
    a.execute(Request::Cancel {
        booking: second.clone(),
        series: false,
    })
    .expect("coordinator cancels");
    push(&mut a, &mut b);
    assert_eq!(by_id(&bookings(&mut b), &second)["status"], "cancelled");
    assert_eq!(
        by_id(&bookings(&mut b), &second)["suggestions"],
        serde_json::json!([])
    );
    let sb = b.execute(Request::Status).expect("status").json;
    assert_eq!(sb["conflicts"], serde_json::json!([]));
}
