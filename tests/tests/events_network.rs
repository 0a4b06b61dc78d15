//! Trainings with seats across member nodes: registrations made apart for
//! the last seats end with the same lists everywhere, and a cancellation
//! promotes the same registration everywhere.

use entraide_tests::{Serve, TestHome, eventually, join};
use serde_json::Value;

/// Each registration as (organisation, seats, status), in list order.
fn lists(home: &TestHome) -> Vec<(String, i64, String)> {
    let events = home.json(&["event", "list"]);
    events[0]["registrations"]
        .as_array()
        .map(|regs| {
            regs.iter()
                .map(|r| {
                    (
                        r["org"].as_str().unwrap_or_default().to_owned(),
                        r["seats"].as_i64().unwrap_or_default(),
                        r["status"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn status_of(list: &[(String, i64, String)], org: &str) -> String {
    list.iter()
        .find(|(o, _, _)| o == org)
        .map(|(_, _, s)| s.clone())
        .unwrap_or_default()
}

#[test]
fn members_registering_apart_for_the_last_seats_get_the_same_lists() {
    let a = TestHome::new();
    a.ok(&["init", "--org", "Asbl A"]);
    a.ok(&[
        "alliance",
        "create",
        "Alliance",
        "--admission",
        "coordinator",
    ]);
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    a.ok(&["resource", "add", "Salle Horta", "--kind", "room"]);
    let added: Value = a.json(&[
        "event",
        "add",
        "Formation RGPD",
        "--from",
        "2030-03-10T09:00",
        "--to",
        "2030-03-10T12:00",
        "--seats",
        "6",
        "--per-org",
        "4",
        "--resource",
        "Salle Horta",
    ]);
    let id = added["id"].as_str().expect("an id").to_owned();
    assert!(added["booking"].is_string(), "the room is booked: {added}");
    assert_eq!(
        a.json(&["bookings", "--resource", "Salle Horta"])[0]["purpose"],
        "Formation RGPD"
    );
    // A organises and takes two seats; six minus two leaves four.
    a.ok(&["event", "register", &id, "--seats", "2", "--names", "Ana"]);
    for home in [&b, &c] {
        eventually(15, "the event and A's registration reach everyone", || {
            lists(home).len() == 1
        });
    }
    // The network splits: B and C each take the last four seats.
    sb.stop();
    sc.stop();
    let took = b.json(&["event", "register", &id, "--seats", "4"]);
    assert_eq!(status_of(&lists(&b), "Asbl B"), "confirmed", "{took}");
    std::thread::sleep(std::time::Duration::from_millis(20));
    c.ok(&[
        "event", "register", &id, "--seats", "4", "--names", "Cy, Dee",
    ]);
    assert_eq!(status_of(&lists(&c), "Asbl C"), "confirmed");
    // Over the per-organisation limit is refused, partition or not.
    c.fails(&["event", "register", &id, "--seats", "5"], 2);
    // The network heals.
    let _sb = Serve::start(&b);
    let _sc = Serve::start(&c);
    for home in [&a, &b, &c] {
        eventually(15, "all three registrations everywhere", || {
            lists(home).len() == 3
        });
    }
    eventually(10, "the same lists everywhere", || {
        lists(&a) == lists(&b) && lists(&a) == lists(&c)
    });
    let list = lists(&a);
    assert_eq!(
        list,
        [
            ("Asbl A".to_owned(), 2, "confirmed".to_owned()),
            ("Asbl B".to_owned(), 4, "confirmed".to_owned()),
            ("Asbl C".to_owned(), 4, "waiting".to_owned()),
        ],
        "the first to register keeps the seats"
    );
    // B cancels: C, first on the waiting list, gets the seats everywhere.
    b.ok(&["event", "cancel-registration", &id]);
    for home in [&a, &b, &c] {
        eventually(15, "C is promoted everywhere", || {
            status_of(&lists(home), "Asbl C") == "confirmed" && lists(home).len() == 2
        });
    }
    // Only the organiser closes registrations; then nobody registers.
    c.fails(&["event", "close", &id], 2);
    a.ok(&["event", "close", &id]);
    eventually(15, "B sees the close", || {
        b.json(&["event", "list"])[0]["closed"] == true
    });
    b.fails(&["event", "register", &id, "--seats", "1"], 2);
    // The attendance list parses as CSV and counts the confirmed seats.
    let out = a.scratch().join("attendance.csv");
    a.ok(&[
        "event",
        "attendance",
        &id,
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    let csv = std::fs::read_to_string(&out).expect("the attendance list");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    let confirmed: i64 = rows
        .iter()
        .filter(|r| &r[4] == "confirmed")
        .map(|r| r[3].parse::<i64>().expect("seats"))
        .sum();
    assert_eq!(confirmed, 6, "{csv}");
    assert!(rows.iter().any(|r| &r[5] == "Cy, Dee"), "{csv}");
}
