//! What a document sends a peer (`SharedDoc::bundle_for`) is exactly what
//! that peer lacks, each change after those it depends on, whether the
//! changes come from those the document kept lately (received, or its own
//! once checked) or are built again by automerge (what is kept is bounded,
//! `SharedDoc::keep_recent`: each node here keeps all, some or none). And
//! what it stores (`take_unsaved`) loads back to the same document.

use std::collections::BTreeSet;

use automerge::ChangeHash;
use entraide_docs::equivocation::changes_in;
use entraide_docs::{Charter, DocKind, EPOCH_LEN, Members, SharedDoc};
use proptest::prelude::*;

const T0: i64 = 1_780_000_000_000;
const DEVICES: [[u8; 32]; 3] = [[0xA1; 32], [0xB1; 32], [0xC1; 32]];

struct Three;

impl Members for Three {
    fn org_of(&self, device: &[u8; 32]) -> Option<String> {
        DEVICES
            .iter()
            .position(|d| d == device)
            .map(|i| format!("org-{i}"))
    }

    fn coordinator_at(&self, _org: &str, heads: &[[u8; 32]]) -> Option<bool> {
        (!heads.is_empty()).then_some(false)
    }
}

/// One member's node: its charter and what its store holds of it.
struct Node {
    charter: Charter,
    stored: Vec<Vec<u8>>,
}

impl Node {
    fn new(i: usize, keep: usize) -> Self {
        let mut doc = SharedDoc::new(DocKind::Charter, DEVICES[i]);
        doc.write_as([i as u8 + 1; EPOCH_LEN]);
        doc.keep_recent(keep);
        Node {
            charter: Charter::new(doc),
            stored: Vec::new(),
        }
    }

    /// What the node does after an edit or a receipt: check its own
    /// changes, then store what is unsaved.
    fn persist(&mut self) {
        let doc = self.charter.doc_mut();
        doc.check_local(&Three).expect("an honest edit passes");
        if let Some(bytes) = doc.take_unsaved() {
            self.stored.push(bytes);
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// A member writes a line of `len` characters.
    Write { node: usize, len: usize },
    /// `to` takes what `from` has that it lacks.
    Sync { from: usize, to: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 1..40usize)
            .prop_map(|(node, len)| Step::Write { node, len }),
        2 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

fn all_hashes(doc: &mut SharedDoc) -> BTreeSet<ChangeHash> {
    doc.changes_since(&[]).into_iter().map(|c| c.hash).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_bundle_is_what_the_peer_lacks_in_causal_order(
        steps in prop::collection::vec(step(), 1..30),
        keep in prop::collection::vec(prop_oneof![Just(0usize), 100..2_000usize, Just(1 << 20)], 3),
    ) {
        let mut nodes: Vec<Node> = (0..3).map(|i| Node::new(i, keep[i])).collect();
        for (t, s) in steps.iter().enumerate() {
            match *s {
                Step::Write { node, len } => {
                    let n = &mut nodes[node];
                    let line: String =
                        std::iter::repeat_n(char::from(b'a' + (t % 26) as u8), len).collect();
                    let text = format!("{}{line}\n", n.charter.text());
                    n.charter.set_text(T0 + t as i64, &text);
                    n.persist();
                }
                Step::Sync { from, to } if from != to => {
                    let theirs = nodes[to].charter.doc_mut().version_vector();
                    let held = all_hashes(nodes[to].charter.doc_mut());
                    let lacked: BTreeSet<ChangeHash> = all_hashes(nodes[from].charter.doc_mut())
                        .difference(&held)
                        .copied()
                        .collect();
                    let Some(bundle) = nodes[from].charter.doc_mut().bundle_for(&theirs) else {
                        prop_assert!(lacked.is_empty(), "nothing sent, {} lacked", lacked.len());
                        continue;
                    };
                    let changes = changes_in(&bundle).expect("a bundle is automerge data");
                    let sent: BTreeSet<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
                    let new: BTreeSet<ChangeHash> = sent.difference(&held).copied().collect();
                    prop_assert_eq!(&new, &lacked);
                    // A peer that holds only the genesis gets a whole save,
                    // any other only what it lacks.
                    if held.len() > 1 {
                        prop_assert_eq!(&sent, &lacked);
                    }
                    prop_assert_eq!(sent.len(), changes.len(), "a change sent twice");
                    let mut before = held.clone();
                    for c in changes.iter().filter(|c| !held.contains(&c.hash())) {
                        prop_assert!(
                            c.deps().iter().all(|d| before.contains(d)),
                            "a change comes before one it depends on"
                        );
                        before.insert(c.hash());
                    }
                    let added = nodes[to]
                        .charter
                        .doc_mut()
                        .apply_verified(&bundle, &Three, |_| Ok::<(), ()>(()))
                        .expect("an honest bundle applies");
                    prop_assert_eq!(added.len(), lacked.len());
                    nodes[to].persist();
                }
                Step::Sync { .. } => {}
            }
        }
        // What each node stored loads back to what it holds.
        for (i, n) in nodes.iter_mut().enumerate() {
            let mut loaded = SharedDoc::load(
                DocKind::Charter,
                DEVICES[i],
                n.stored.iter().map(Vec::as_slice),
            )
            .expect("the stored chunks load");
            prop_assert_eq!(all_hashes(&mut loaded), all_hashes(n.charter.doc_mut()));
        }
    }
}
