//! Membership rules end to end, across `entraide serve` processes on loopback.

use entraide_tests::{Serve, TestHome, charter, eventually, join, set_charter};
use serde_json::Value;

fn founded(rule: &str) -> (TestHome, Serve) {
    let a = TestHome::new();
    a.ok(&["init", "--org", "Asbl A"]);
    a.ok(&["alliance", "create", "Alliance", "--admission", rule]);
    let serve = Serve::start(&a);
    (a, serve)
}

fn org_status(home: &TestHome, org: &str) -> Option<String> {
    home.json(&["member", "list"])
        .as_array()?
        .iter()
        .find(|o| o["org"] == org)
        .and_then(|o| o["status"].as_str().map(str::to_owned))
}

fn active_count(home: &TestHome) -> usize {
    home.json(&["member", "list"])
        .as_array()
        .map_or(0, |l| l.iter().filter(|o| o["status"] == "active").count())
}

#[test]
fn consensus_admission_completes_where_the_last_approval_did_not_arrive_first() {
    let (a, _sa) = founded("consensus");
    // A alone: its own approval is every approval.
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    eventually(10, "A and B see two members", || {
        active_count(&a) == 2 && active_count(&b) == 2
    });

    // C asks to join: A (the inviter) approves by proposing; B must approve too.
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let c = TestHome::new();
    c.ok(&["init", "--org", "Asbl C"]);
    let pending = c.json(&["join", &ticket]);
    assert_eq!(pending["status"], "pending", "{pending}");
    eventually(10, "B sees C pending", || {
        org_status(&b, "Asbl C").as_deref() == Some("pending")
    });
    let list = b.json(&["member", "list"]);
    let waiting = list
        .as_array()
        .and_then(|l| l.iter().find(|o| o["org"] == "Asbl C"))
        .map(|o| o["waiting"].clone())
        .unwrap_or(Value::Null);
    assert!(waiting.to_string().contains("1 of 2"), "{list}");

    // B approves on its node; A learns it through sync and admits C.
    b.ok(&["member", "approve", "Asbl C"]);
    eventually(10, "A sees C active", || {
        org_status(&a, "Asbl C").as_deref() == Some("active")
    });
    let joined = c.json(&["join", &ticket, "--wait", "--timeout", "20"]);
    assert_eq!(joined["status"], "active", "{joined}");
    set_charter(&a, "three of us\n");
    c.ok(&["sync", "--timeout", "10"]);
    assert_eq!(charter(&c), "three of us\n");

    // The member log explains every operation.
    let log = a.json(&["member", "log"]);
    let kinds: Vec<&str> = log
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"found") && kinds.contains(&"admit") && kinds.contains(&"approve"),
        "{log}"
    );
    for op in log.as_array().expect("log") {
        for field in [
            "id",
            "kind",
            "author_org",
            "author_device",
            "time",
            "parents",
            "valid",
            "reason",
        ] {
            assert!(op.get(field).is_some(), "missing {field}: {op}");
        }
    }
}

#[test]
fn a_block_stops_an_admission_under_consensus() {
    let (a, _sa) = founded("consensus");
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    eventually(10, "two members", || active_count(&b) == 2);
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let d = TestHome::new();
    d.ok(&["init", "--org", "Asbl D"]);
    assert_eq!(d.json(&["join", &ticket])["status"], "pending");
    eventually(10, "B sees D pending", || {
        org_status(&b, "Asbl D").as_deref() == Some("pending")
    });
    b.fails(&["member", "block", "Asbl D"], 2);
    b.ok(&[
        "member",
        "block",
        "Asbl D",
        "--reason",
        "we have not met them yet",
    ]);
    eventually(10, "A sees the block", || {
        org_status(&a, "Asbl D").is_none()
    });
    let run = d.fails(&["join", &ticket, "--timeout", "10"], 1);
    assert!(run.stderr.contains("we have not met them yet"), "{run:?}");
    let log = a.json(&["member", "log"]);
    assert!(log.to_string().contains("blocked"), "{log}");
}

#[test]
fn a_removed_member_is_cut_off() {
    let (a, _sa) = founded("coordinator");
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let _sc = Serve::start(&c);
    set_charter(&a, "before\n");
    eventually(10, "C has the charter", || charter(&c) == "before\n");

    let removed = a.json(&[
        "member",
        "remove",
        "Asbl C",
        "--reason",
        "left the alliance",
    ]);
    assert_eq!(removed["status"], "done", "{removed}");
    eventually(10, "B sees C removed", || {
        org_status(&b, "Asbl C").as_deref() == Some("removed")
    });
    eventually(10, "nobody is connected to C any more", || {
        a.json(&["peers"]).as_array().is_none_or(|p| {
            !p.iter()
                .any(|p| p["org"] == "Asbl C" && p["connected"] == true)
        }) && b.json(&["peers"]).as_array().is_none_or(|p| {
            !p.iter()
                .any(|p| p["org"] == "Asbl C" && p["connected"] == true)
        })
    });
    // C keeps writing on its own; nothing of it reaches the members.
    set_charter(&c, "written after the removal\n");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(charter(&a), "before\n");
    assert_eq!(charter(&b), "before\n");
    // What C wrote before its removal stays.
    let log = a.json(&["member", "log"]);
    assert!(log.to_string().contains("\"remove\""), "{log}");
}

#[test]
fn a_second_device_joins_its_organisation_and_can_be_revoked() {
    let (a, _sa) = founded("coordinator");
    let ticket = a.ok(&["device", "invite"]).stdout.trim().to_owned();
    let laptop = TestHome::new();
    laptop.ok(&["init", "--org", "Asbl A (laptop)"]);
    assert_eq!(laptop.json(&["join", &ticket])["status"], "active");
    assert_eq!(laptop.json(&["status"])["org"], "Asbl A");
    let orgs = a.json(&["member", "list"]);
    let devices = orgs[0]["devices"].as_array().map_or(0, Vec::len);
    assert_eq!(devices, 2, "{orgs}");
    assert_eq!(active_count(&a), 1, "still one organisation");

    // The laptop's edits reach the office node, as Asbl A's.
    set_charter(&laptop, "from the laptop\n");
    laptop.ok(&["sync", "--timeout", "10"]);
    assert_eq!(charter(&a), "from the laptop\n");
    let history = a.json(&["charter", "history"]);
    assert_eq!(history[0]["org"], "Asbl A", "{history}");

    // The laptop is lost: revoke it. Its later writes are refused.
    let device = laptop.json(&["status"])["device"]
        .as_str()
        .expect("device")
        .to_owned();
    a.ok(&["device", "remove", &device[..16]]);
    set_charter(&laptop, "from a thief\n");
    laptop.fails(&["sync", "--timeout", "5"], 1);
    assert_eq!(charter(&a), "from the laptop\n");
    // Its ticket cannot bring it back.
    let again = TestHome::new();
    again.ok(&["init", "--org", "X"]);
    again.fails(&["join", &ticket, "--timeout", "5"], 1);
}

#[test]
fn majority_admits_with_more_than_half_of_the_organisations() {
    let (a, _sa) = founded("majority");
    let b = join(&a, "Asbl B"); // A alone: 1 of 1
    let _sb = Serve::start(&b);
    // C: A's proposal is 1 of 2, not more than half; B's approval makes 2 of 2.
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let c = TestHome::new();
    c.ok(&["init", "--org", "Asbl C"]);
    assert_eq!(c.json(&["join", &ticket])["status"], "pending");
    eventually(10, "B sees C pending", || {
        org_status(&b, "Asbl C").as_deref() == Some("pending")
    });
    b.ok(&["member", "approve", "Asbl C"]);
    assert_eq!(
        c.json(&["join", &ticket, "--wait", "--timeout", "20"])["status"],
        "active"
    );
    // D: 1 of 3 is not enough, 2 of 3 is, without waiting for C.
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let d = TestHome::new();
    d.ok(&["init", "--org", "Asbl D"]);
    assert_eq!(d.json(&["join", &ticket])["status"], "pending");
    eventually(10, "B sees D pending", || {
        org_status(&b, "Asbl D").as_deref() == Some("pending")
    });
    b.ok(&["member", "approve", "Asbl D"]);
    eventually(10, "A admits D with 2 of 3", || {
        org_status(&a, "Asbl D").as_deref() == Some("active")
    });
    // Removal by majority: A alone (1 of 3 others) is not enough.
    a.ok(&["member", "remove", "Asbl D", "--reason", "test"]);
    assert_eq!(org_status(&a, "Asbl D").as_deref(), Some("active"));
    eventually(10, "B sees the removal motion", || {
        b.json(&["member", "list"])
            .to_string()
            .contains("\"remove\"")
    });
    b.ok(&["member", "remove", "Asbl D"]);
    eventually(10, "A removes D with 2 of 3", || {
        org_status(&a, "Asbl D").as_deref() == Some("removed")
    });
}

#[test]
fn an_expired_or_foreign_ticket_is_refused() {
    let (a, _sa) = founded("coordinator");
    let ticket = a
        .ok(&["invite", "--expires", "1m"])
        .stdout
        .trim()
        .to_owned();
    let b = TestHome::new();
    b.ok(&["init", "--org", "Asbl B"]);
    // A ticket altered in one character fails its signature check.
    let mut altered = ticket.clone();
    let last = altered.pop().expect("char");
    altered.push(if last == 'a' { 'b' } else { 'a' });
    b.fails(&["join", &altered], 2);
    a.fails(&["invite", "--expires", "0d"], 2);
    a.fails(&["invite", "--role", "king"], 2);
    assert_eq!(b.json(&["status"])["alliance"], Value::Null);
}

#[test]
fn a_coordinator_sets_roles_a_member_cannot_and_the_last_coordinator_stays() {
    let (a, _sa) = founded("coordinator");
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    let role = |home: &TestHome, org: &str| -> String {
        home.json(&["member", "list"])
            .as_array()
            .and_then(|l| l.iter().find(|m| m["org"] == org).cloned())
            .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    // A plain member cannot.
    let refused = b.fails(&["member", "role", "Asbl B", "coordinator"], 2);
    assert!(
        refused.stderr.contains("only a coordinator"),
        "{}",
        refused.stderr
    );
    // The last coordinator cannot step down.
    let alone = a.fails(&["member", "role", "Asbl A", "member"], 2);
    assert!(
        alone.stderr.contains("without a coordinator"),
        "{}",
        alone.stderr
    );
    a.fails(&["member", "role", "Asbl B", "chief"], 2);
    // The coordinator makes B a coordinator; every node agrees.
    a.ok(&["member", "role", "Asbl B", "coordinator"]);
    eventually(20, "B is a coordinator on B", || {
        role(&b, "Asbl B") == "coordinator"
    });
    // Now A may step down.
    a.ok(&["member", "role", "Asbl A", "member"]);
    eventually(20, "A is a member on B", || role(&b, "Asbl A") == "member");
}
