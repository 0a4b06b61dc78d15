//! Setting an equivocation aside (`entraide_docs::equivocation`): a device
//! signs two charter changes under one actor and sequence number, A takes
//! one and writes on top, B takes the other and writes on top. Each sets
//! the fork aside on its own, A and B then take each other's changes, and
//! they hold the same charter with both honest articles and no rogue line,
//! whichever order things happen in.

use entraide_docs::equivocation::{Fork, sort_out};
use entraide_docs::{Charter, DocKind, EPOCH_LEN, Members, SharedDoc};
use proptest::prelude::*;

const T0: i64 = 1_780_000_000_000;
const A_DEV: [u8; 32] = [0xA1; 32];
const B_DEV: [u8; 32] = [0xB1; 32];
const R_DEV: [u8; 32] = [0x77; 32];

struct Three;

impl Members for Three {
    fn org_of(&self, device: &[u8; 32]) -> Option<String> {
        match *device {
            A_DEV => Some("org-a".into()),
            B_DEV => Some("org-b".into()),
            R_DEV => Some("org-r".into()),
            _ => None,
        }
    }

    fn coordinator_at(&self, _org: &str, heads: &[[u8; 32]]) -> Option<bool> {
        (!heads.is_empty()).then_some(false)
    }
}

fn charter(device: [u8; 32], epoch: u8, base: &[u8]) -> Charter {
    let mut doc = SharedDoc::load(DocKind::Charter, device, [base]).expect("load");
    doc.write_as([epoch; EPOCH_LEN]);
    Charter::new(doc)
}

/// Gives `to` what `from` holds that it lacks.
fn take(to: &mut Charter, from: &mut Charter) {
    let heads = to.doc_mut().heads();
    let bytes = from.doc_mut().save_after(&heads);
    if !bytes.is_empty() {
        to.doc_mut().load_incremental(&bytes).expect("take");
    }
}

/// The story of the module overview; `first` lines of the charter before
/// the fork, `a_lines` and `b_lines` written by A and B on their sides.
fn story(first: &[String], a_lines: &[String], b_lines: &[String]) -> (Charter, Charter, Fork) {
    let mut founder = charter(A_DEV, 1, &[]);
    let mut text = String::new();
    for line in first {
        text.push_str(line);
        text.push('\n');
        founder.set_text(T0, &text);
    }
    let base = founder.doc_mut().save();
    // The rogue's two openings under one actor.
    let mut r1 = charter(R_DEV, 9, &base);
    let mut r2 = charter(R_DEV, 9, &base);
    r1.set_text(T0 + 1, &format!("{text}R, first side\n"));
    r2.set_text(T0 + 1, &format!("R, second side\n{text}"));
    let mut a = charter(A_DEV, 2, &base);
    let mut b = charter(B_DEV, 3, &base);
    take(&mut a, &mut r1);
    take(&mut b, &mut r2);
    for (node, lines) in [(&mut a, a_lines), (&mut b, b_lines)] {
        for line in lines {
            let text = format!("{}{line}\n", node.text());
            node.set_text(T0 + 2, &text);
        }
    }
    let actor = r1.doc_mut().actor().to_vec();
    (a, b, Fork { actor, seq: 1 })
}

fn lines(c: &Charter) -> Vec<String> {
    c.text().lines().map(str::to_owned).collect()
}

#[test]
fn both_sides_set_their_fork_aside_and_converge_with_every_honest_line() {
    let first = vec!["Charte".to_owned()];
    let (mut a, mut b, fork) = story(&first, &["Article A.".into()], &["Article B.".into()]);
    let out = a
        .doc_mut()
        .set_aside(std::slice::from_ref(&fork), [4; EPOCH_LEN], T0 + 3, &Three)
        .expect("set aside");
    assert_eq!((out.changes.len(), out.rewritten, out.lost), (2, 1, 0));
    assert_eq!(a.text(), "Charte\nArticle A.\n");
    b.doc_mut()
        .set_aside(std::slice::from_ref(&fork), [5; EPOCH_LEN], T0 + 3, &Three)
        .expect("set aside");
    assert_eq!(b.text(), "Charte\nArticle B.\n");
    take(&mut a, &mut b);
    take(&mut b, &mut a);
    assert_eq!(a.doc_mut().heads(), b.doc_mut().heads());
    assert_eq!(a.text(), b.text());
    let mut got = lines(&a);
    got.sort();
    assert_eq!(got, ["Article A.", "Article B.", "Charte"]);
}

#[test]
fn a_node_that_holds_neither_side_loses_nothing() {
    let first = vec!["Charte".to_owned()];
    let (_, _, fork) = story(&first, &[], &[]);
    let mut c = charter(B_DEV, 6, &[]);
    c.set_text(T0, "Autre\n");
    let heads = c.doc_mut().heads();
    let out = c
        .doc_mut()
        .set_aside(&[fork], [7; EPOCH_LEN], T0, &Three)
        .expect("set aside");
    assert!(out.changes.is_empty());
    assert_eq!(c.doc_mut().heads(), heads);
}

#[test]
fn what_a_fork_sets_aside_does_not_depend_on_the_order_changes_come_in() {
    let first = vec!["Charte".to_owned()];
    let (mut a, _, fork) = story(&first, &["Article A.".into(), "Encore".into()], &[]);
    let changes = a.doc_mut().all_changes();
    let mut reversed = changes.clone();
    reversed.reverse();
    let mut one = std::collections::HashSet::new();
    let mut two = std::collections::HashSet::new();
    let (k1, _) = sort_out(&changes, std::slice::from_ref(&fork), &mut one);
    let (k2, _) = sort_out(&reversed, std::slice::from_ref(&fork), &mut two);
    assert_eq!(one, two);
    assert_eq!(k1.len(), k2.len());
    assert_eq!(one.len(), 3, "the rogue's change and A's two built on it");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever each side wrote, setting aside and exchanging converges,
    /// and every honest line is kept.
    #[test]
    fn setting_aside_converges_and_keeps_honest_lines(
        first in proptest::collection::vec("[a-z]{1,8}", 1..4),
        a_lines in proptest::collection::vec("A[a-z]{1,8}", 0..4),
        b_lines in proptest::collection::vec("B[a-z]{1,8}", 0..4),
        a_first in any::<bool>(),
    ) {
        let (mut a, mut b, fork) = story(&first, &a_lines, &b_lines);
        let forks = [fork];
        if a_first {
            a.doc_mut().set_aside(&forks, [4; EPOCH_LEN], T0 + 3, &Three).expect("a");
            b.doc_mut().set_aside(&forks, [5; EPOCH_LEN], T0 + 3, &Three).expect("b");
        } else {
            b.doc_mut().set_aside(&forks, [5; EPOCH_LEN], T0 + 3, &Three).expect("b");
            a.doc_mut().set_aside(&forks, [4; EPOCH_LEN], T0 + 3, &Three).expect("a");
        }
        take(&mut a, &mut b);
        take(&mut b, &mut a);
        prop_assert_eq!(a.doc_mut().heads(), b.doc_mut().heads());
        prop_assert_eq!(a.text(), b.text());
        let got = lines(&a);
        for line in first.iter().chain(&a_lines).chain(&b_lines) {
            prop_assert!(got.contains(line), "{} missing from {:?}", line, got);
        }
        prop_assert!(!a.text().contains("side"));
    }
}
