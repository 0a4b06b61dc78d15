//! A member whose modified client equivocates: from one state of its home
//! it signs two different charter changes under the same actor and sequence
//! number, and sends one to A and the other to B (through `entraide serve`,
//! with valid attestations). A and B each write on top of what they took,
//! and C takes A's side from A. automerge can hold only one of the two
//! changes, so without a rule the alliance would stay split for good. What
//! holds: once two of them meet, the fork is proven and set aside on every
//! node (C hears of it from B alone), each honest node's own writes built on
//! it are written again, and all three show the same charter, with every
//! honest line and neither rogue one.

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

#[test]
fn rogue_equivocation_is_set_aside_everywhere_and_honest_nodes_converge() {
    let a = TestHome::founded("Asbl A");
    let sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    let r = join(&a, "Asbl R");
    let sr = Serve::start(&r);
    let (a_addr, b_addr, c_addr, r_addr) = (
        sa.addr.clone(),
        sb.addr.clone(),
        sc.addr.clone(),
        sr.addr.clone(),
    );
    let r_dev = r.json(&["status"])["device"]
        .as_str()
        .expect("device")
        .to_owned();
    set_charter(&a, "Charte\n");
    for home in [&b, &c, &r] {
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
    // The first version reaches A only; A writes on top of it, and C takes
    // both from A.
    sb.stop();
    sc.stop();
    let sr = Serve::start_at(&r, &r_addr);
    eventually(20, "A takes the first version", || {
        charter(&a).contains("version for A")
    });
    sr.stop();
    set_charter(&a, &format!("{}Article A.\n", charter(&a)));
    let sc = Serve::start_at(&c, &c_addr);
    eventually(20, "C takes A's side", || {
        charter(&c).contains("Article A.")
    });
    sc.stop();
    // The second version reaches B only; B writes on top of it.
    sa.stop();
    let sb = Serve::start_at(&b, &b_addr);
    let sr2 = Serve::start_at(&r2, &r_addr);
    eventually(20, "B takes the second version", || {
        charter(&b).contains("version for B")
    });
    sr2.stop();
    set_charter(&b, &format!("{}Article B.\n", charter(&b)));
    // A and B meet again: the fork is proven and set aside on both.
    let sa = Serve::start_at(&a, &a_addr);
    let settled = |home: &TestHome| {
        let text = charter(home);
        text.contains("Article A.") && text.contains("Article B.") && !text.contains("version for")
    };
    for home in [&a, &b] {
        eventually(30, "the fork is set aside and both articles kept", || {
            settled(home)
        });
        assert!(audit_names(home, &r_dev), "the audit names the device");
    }
    eventually(20, "A and B show the same charter", || {
        charter(&a) == charter(&b)
    });
    // C never met A again: B's proof alone sets the fork aside there.
    sa.stop();
    let _sc = Serve::start_at(&c, &c_addr);
    eventually(30, "C converges with B", || {
        settled(&c) && charter(&c) == charter(&b)
    });
    assert!(audit_names(&c, &r_dev), "C's audit names the device");
    // And writing goes on: a new line from C reaches B.
    set_charter(&c, &format!("{}Article C.\n", charter(&c)));
    eventually(20, "C's new line reaches B", || {
        charter(&b).contains("Article C.")
    });
    drop(sb);
}
