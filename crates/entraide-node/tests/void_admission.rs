//! An admission that turns out void, between real nodes: coordinator `a`
//! admits `e` while coordinator `b` removes `a`, neither knowing of the
//! other's operation. Once both are known, strong removal voids `a`'s
//! admission of `e`: `e` was never a member. `c`, which took `e`'s charter
//! line (and wrote its own on top) before it knew of the removal, must end
//! up holding what `b` holds, which never took it: `e`'s changes set aside,
//! `c`'s own line written again, the audit naming why.

mod common;

use common::{admit_as, append, charter, founder, meet, node, push};
use entraide_docs::DocKind;

use entraide_node::{Node, Request};

fn members(n: &mut Node) -> Vec<String> {
    let reply = n.execute(Request::MemberList).expect("members");
    let mut names: Vec<String> = reply
        .json
        .as_array()
        .expect("organisations")
        .iter()
        .filter(|o| o["status"] == "active")
        .map(|o| o["org"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn rogue_an_admission_voided_by_its_admitters_removal_cannot_split_a_document() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let (mut b, mut c, mut e) = (node(&dir, "b"), node(&dir, "c"), node(&dir, "e"));
    admit_as(&mut a, &mut b, "coordinator");
    admit_as(&mut a, &mut c, "member");
    append(&mut a, "Charte");
    for n in [&mut b, &mut c] {
        push(&mut a, n);
    }
    // Concurrently: `b` removes `a`, `a` admits `e`.
    b.execute(Request::MemberRemove {
        org: "a".into(),
        reason: "on bad terms".into(),
    })
    .expect("remove a");
    admit_as(&mut a, &mut e, "member");
    push(&mut a, &mut e);
    append(&mut e, "E was here");
    push(&mut e, &mut a);
    // `c` hears of `e` first, takes its line and writes on top.
    push(&mut a, &mut c);
    append(&mut c, "C agrees");
    assert!(charter(&mut c).contains("E was here"));
    assert_eq!(members(&mut c), ["a", "b", "c", "e"]);

    // `c` and `b` meet: the removal voids `e`'s admission everywhere.
    let end = meet(&mut b, &mut c);
    assert!(end.is_none(), "{end:?}");
    let end = meet(&mut c, &mut b);
    assert!(end.is_none(), "{end:?}");
    for n in [&mut b, &mut c] {
        assert_eq!(members(n), ["b", "c"]);
    }
    let (tb, tc) = (charter(&mut b), charter(&mut c));
    assert!(!tc.contains("E was here"), "c still shows e's line: {tc}");
    assert!(tc.contains("C agrees"), "c's own line was lost: {tc}");
    assert_eq!(tb, tc, "b and c show different charters");
    assert_eq!(
        b.doc_heads(DocKind::Charter),
        c.doc_heads(DocKind::Charter),
        "b and c hold different changes"
    );
    let audit = c.execute(Request::Audit).expect("audit");
    let rules: Vec<&str> = audit
        .json
        .as_array()
        .expect("refused")
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert!(
        rules.iter().any(|r| r.starts_with("void admission")),
        "{rules:?}"
    );

    // Whatever `a` and `e` still send later is refused, and changes nothing.
    let before = charter(&mut c);
    let _ = meet(&mut e, &mut c);
    let _ = meet(&mut a, &mut c);
    assert_eq!(charter(&mut c), before);
    // `c` and `b` still sync: a later line of `b` reaches `c`.
    append(&mut b, "B later");
    let end = meet(&mut b, &mut c);
    assert!(end.is_none(), "{end:?}");
    assert!(charter(&mut c).contains("B later"));

    // `b` admits `e` after all: its line, set aside while it was never a
    // member, is taken again from `e`, and `b` and `c` still agree.
    b.set_listen_addrs(vec!["127.0.0.1:9".parse().expect("addr")], None)
        .expect("addrs");
    admit_as(&mut b, &mut e, "member");
    for _ in 0..2 {
        for (x, y) in [(0, 1), (1, 2), (0, 2)] {
            let mut nodes = [&mut b, &mut c, &mut e];
            let (left, right) = nodes.split_at_mut(y);
            let end = meet(left[x], right[0]);
            assert!(end.is_none(), "{end:?}");
        }
    }
    let (tb, tc) = (charter(&mut b), charter(&mut c));
    assert!(tc.contains("E was here"), "{tc}");
    assert_eq!(tb, tc);
    assert_eq!(b.doc_heads(DocKind::Charter), c.doc_heads(DocKind::Charter));
}
