//! Deciding together across three member nodes: consent, blocks, quorum,
//! the adopted charter and the decision log.

use std::time::Duration;

use entraide_tests::{Serve, TestHome, charter, eventually, join, set_charter};
use serde_json::Value;

fn in_seconds(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn proposal(home: &TestHome, id: &str) -> Value {
    home.json(&["proposals"])
        .as_array()
        .and_then(|l| l.iter().find(|p| p["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

#[test]
fn three_members_decide_and_every_node_agrees() {
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
    let _sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let _sc = Serve::start(&c);
    set_charter(&a, "Draft charter\n");

    // 1. A consent amendment that everyone agrees to passes at once.
    let amendment = a.scratch().join("charter-v1.md");
    std::fs::write(&amendment, "Charter v1\n\n1. Solidarity.\n").expect("write");
    let p1 = a
        .ok(&[
            "propose",
            "charter-amendment",
            "--title",
            "Charter v1",
            "--file",
            amendment.to_str().expect("path"),
            "--process",
            "consent",
            "--deadline",
            &in_seconds(3600),
        ])
        .stdout
        .trim()
        .to_owned();
    for home in [&b, &c] {
        eventually(10, "the proposal reaches everyone", || {
            proposal(home, &p1)["status"] == "open"
        });
        let list = home.json(&["proposals"]);
        assert_eq!(list[0]["awaiting_my_vote"], true, "{list}");
    }
    a.ok(&["vote", &p1, "agree"]);
    b.ok(&["vote", &p1, "agree"]);
    c.ok(&["vote", &p1, "agree"]);
    for home in [&a, &b, &c] {
        eventually(10, "passed everywhere", || {
            proposal(home, &p1)["status"] == "passed"
        });
        eventually(10, "adopted everywhere", || {
            home.json(&["charter", "show", "--adopted"])["text"] == "Charter v1\n\n1. Solidarity.\n"
        });
    }
    // The working draft is still the draft: adoption is a separate version.
    assert_eq!(charter(&a), "Draft charter\n");
    let diff = a.json(&["charter", "diff", "draft", "adopted"]);
    assert_eq!(diff["changed"], true);
    assert!(
        diff["diff"]
            .as_str()
            .unwrap_or("")
            .contains("+1. Solidarity."),
        "{diff}"
    );
    // Closed: votes no longer change it.
    a.fails(&["vote", &p1, "disagree", "--reason", "too late"], 2);

    // 2. A block, with a reason, stops a consent proposal at its deadline.
    let p2 = b
        .ok(&[
            "propose",
            "general",
            "--title",
            "Share the van",
            "--text",
            "B lends its van",
            "--process",
            "consent",
            "--deadline",
            &in_seconds(4),
        ])
        .stdout
        .trim()
        .to_owned();
    eventually(10, "C sees p2", || proposal(&c, &p2)["status"] == "open");
    c.fails(&["vote", &p2, "block"], 2);
    c.ok(&[
        "vote",
        &p2,
        "block",
        "--reason",
        "our insurance does not cover it",
    ]);

    // 3. A majority proposal with a quorum of 3 gets one vote.
    let p3 = c
        .ok(&[
            "propose",
            "general",
            "--title",
            "New logo",
            "--process",
            "majority",
            "--quorum",
            "3",
            "--deadline",
            &in_seconds(4),
        ])
        .stdout
        .trim()
        .to_owned();
    c.ok(&["vote", &p3, "agree"]);
    std::thread::sleep(Duration::from_secs(5));
    for home in [&a, &b, &c] {
        eventually(10, "p2 blocked everywhere", || {
            proposal(home, &p2)["status"] == "blocked"
        });
        eventually(10, "p3 expired everywhere", || {
            proposal(home, &p3)["status"] == "expired"
        });
    }
    // A vote after the deadline is refused.
    a.fails(&["vote", &p3, "agree"], 2);

    // The decision log, as JSON and as a document for funders.
    let decisions = a.json(&["decisions"]);
    assert_eq!(decisions.as_array().map(Vec::len), Some(3), "{decisions}");
    let blocked = decisions
        .as_array()
        .and_then(|l| l.iter().find(|d| d["id"] == p2.as_str()))
        .expect("p2 in the log");
    assert_eq!(
        blocked["votes"][0]["reason"],
        "our insurance does not cover it"
    );
    let out = a.scratch().join("decisions.md");
    a.ok(&[
        "decisions",
        "export",
        "--format",
        "markdown",
        "--out",
        out.to_str().expect("path"),
    ]);
    let md = std::fs::read_to_string(&out).expect("read");
    assert!(
        md.contains("Charter v1")
            && md.contains("our insurance does not cover it")
            && md.contains("expired"),
        "{md}"
    );
}
