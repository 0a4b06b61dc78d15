//! A member whose modified client equivocates: from one state of its home
//! it signs two different charter changes under the same actor and sequence
//! number, and sends one to A and the other to B (through `entraide serve`,
//! with valid attestations). automerge can hold only one of the two, so A
//! and B cannot both take what the other took: what holds is that neither
//! node ends its sessions over it, both name the equivocating device in
//! their audit, and everything else keeps syncing between them.

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use entraide_docs::DocKind;
use entraide_tests::rogue::{self, RogueMember};
use entraide_tests::{Serve, TestHome, charter, cp_a, eventually, join, set_charter};
use serde_json::Value;

/// Appends `line` to the charter text of the rogue's copy, as one change.
fn equivocate(home: &TestHome, line: &str) -> String {
    let rogue = RogueMember::open(&home.path());
    rogue.edit(DocKind::Charter, |d| {
        let text = rogue::obj(d, &["text"]);
        let len = d.text(&text).expect("text").chars().count();
        d.splice_text(&text, len, 0, line).expect("splice");
    })
}

fn audit_names(home: &TestHome, device: &str) -> bool {
    home.json(&["audit"])
        .as_array()
        .expect("audit")
        .iter()
        .any(|e: &Value| {
            e["author_device"] == device
                && e["rule"]
                    .as_str()
                    .is_some_and(|r| r.contains("equivocation"))
        })
}

fn value_names(home: &TestHome) -> Vec<String> {
    let mut names: Vec<String> = home
        .json(&["values", "list"])
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn rogue_equivocation_is_named_and_does_not_stop_honest_nodes_syncing() {
    let a = TestHome::founded("Asbl A");
    let sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let r = join(&a, "Asbl R");
    let sr = Serve::start(&r);
    let (a_addr, b_addr, r_addr) = (sa.addr.clone(), sb.addr.clone(), sr.addr.clone());
    let r_dev = r.json(&["status"])["device"]
        .as_str()
        .expect("device")
        .to_owned();
    set_charter(&a, "Charte\n");
    for home in [&b, &r] {
        eventually(20, "the charter reaches everyone", || {
            charter(home) == "Charte\n"
        });
    }
    sr.stop();
    // Two copies of R's home, in the same state: each signs its own change.
    let r2 = TestHome::new();
    cp_a(&r, &r2);
    let x = equivocate(&r, "Article R, version for A.\n");
    let x2 = equivocate(&r2, "Article R, version for B.\n");
    assert_ne!(x, x2);
    // The first version reaches A only.
    sb.stop();
    let sr = Serve::start_at(&r, &r_addr);
    eventually(20, "A takes the first version", || {
        charter(&a).contains("version for A")
    });
    sr.stop();
    // The second reaches B only.
    sa.stop();
    let sb = Serve::start_at(&b, &b_addr);
    let sr2 = Serve::start_at(&r2, &r_addr);
    eventually(20, "B takes the second version", || {
        charter(&b).contains("version for B")
    });
    sr2.stop();
    // A and B meet again, each having written since.
    b.ok(&["values", "add", "Entraide", "--description", "from B"]);
    sb.stop();
    a.ok(&["values", "add", "Solidarité", "--description", "from A"]);
    let _sa = Serve::start_at(&a, &a_addr);
    let _sb = Serve::start_at(&b, &b_addr);
    for home in [&a, &b] {
        eventually(20, "each names the equivocating device", || {
            audit_names(home, &r_dev)
        });
    }
    for home in [&a, &b] {
        eventually(20, "the other documents keep syncing", || {
            value_names(home) == vec!["Entraide".to_owned(), "Solidarité".to_owned()]
        });
    }
    assert!(!charter(&a).contains("version for B"));
    assert!(!charter(&b).contains("version for A"));
}
