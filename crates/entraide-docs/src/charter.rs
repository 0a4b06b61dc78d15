//! The charter: one collaborative text the alliance writes together.
//!
//! Schema (automerge): `{ text: Text }`. Replacing the text goes through
//! automerge's `update_text`, which turns the old text into the new one with
//! the smallest splices, so that two coordinators editing different parts at
//! the same time both keep their edits after merging.

use automerge::ReadDoc;

use crate::{ChangeHash, ChangeSummary, DocKind, GENESIS_ACTOR, SharedDoc};

/// The charter document.
#[derive(Debug)]
pub struct Charter {
    doc: SharedDoc,
}

impl Charter {
    /// Wraps a charter document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind(), DocKind::Charter);
        Self { doc }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    /// The text as this node has it now.
    pub fn text(&self) -> String {
        let obj = self.doc.root_obj("text");
        self.doc.read().text(&obj).unwrap_or_default()
    }

    /// The text as it was at `heads`; `None` if this node lacks those changes.
    pub fn text_at(&self, heads: &[ChangeHash]) -> Option<String> {
        let obj = self.doc.root_obj("text");
        self.doc.read().text_at(&obj, heads).ok()
    }

    /// Replaces the text by the smallest edit; returns whether anything changed.
    pub fn set_text(&mut self, now_ms: i64, new_text: &str) -> bool {
        if self.text() == new_text {
            return false;
        }
        let obj = self.doc.root_obj("text");
        // update_text only fails when `obj` is not a text object, and the
        // genesis change makes it one.
        if automerge::transaction::Transactable::update_text(self.doc.write(), &obj, new_text)
            .is_err()
        {
            return false;
        }
        self.doc.commit(now_ms, "charter");
        true
    }

    /// Every change to the charter after its genesis, oldest first.
    pub fn history(&mut self) -> Vec<ChangeSummary> {
        self.doc
            .changes_since(&[])
            .into_iter()
            .filter(|c| c.actor != GENESIS_ACTOR)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(device: u8) -> Charter {
        Charter::new(SharedDoc::new(DocKind::Charter, [device; 32]))
    }

    #[test]
    fn concurrent_edits_merge() {
        let mut a = doc(1);
        a.set_text(1, "Article 1. Solidarity.\nArticle 2. Autonomy.\n");
        let base = a.doc_mut().save();
        let mut b = Charter::new(SharedDoc::load(DocKind::Charter, [2; 32], [&base[..]]).unwrap());
        a.set_text(2, "Article 1. Solidarity first.\nArticle 2. Autonomy.\n");
        b.set_text(
            3,
            "Article 1. Solidarity.\nArticle 2. Autonomy of each member.\n",
        );
        let mut b_fork = b.doc_mut().fork();
        a.doc_mut().merge(&mut b_fork).unwrap();
        assert_eq!(
            a.text(),
            "Article 1. Solidarity first.\nArticle 2. Autonomy of each member.\n"
        );
        assert_eq!(a.history().len(), 3);
    }

    #[test]
    fn two_fresh_nodes_share_the_genesis() {
        let mut a = doc(1);
        let mut b = doc(2);
        a.set_text(1, "from a");
        b.set_text(1, "from b");
        let mut b_fork = b.doc_mut().fork();
        a.doc_mut().merge(&mut b_fork).unwrap();
        let text = a.text();
        // One text object, both insertions kept (in an order automerge picks).
        assert!(text == "from afrom b" || text == "from bfrom a", "{text}");
    }
}
