//! The charter: one collaborative text the alliance writes together.
//!
//! Schema (automerge): `{ text: Text }`. Replacing the text goes through
//! automerge's `update_text`, which turns the old text into the new one with
//! the smallest splices, so that two coordinators editing different parts at
//! the same time both keep their edits after merging.

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use similar::{DiffTag, TextDiff};

use crate::{ChangeHash, ChangeSummary, DocKind, GENESIS_ACTOR, SharedDoc};

/// The charter document.
#[derive(Debug)]
pub struct Charter {
    doc: SharedDoc,
}

impl Charter {
    /// Wraps a charter document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind().base(), DocKind::Charter);
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

    /// Applies an edit made on an older copy: `new_text` is what the user
    /// typed starting from the text at `base` (heads this node holds). The
    /// user's own difference from `base` to `new_text` (per character) is
    /// applied where those characters are now, so edits that reached this
    /// node since `base` stay. Returns `None` if this node lacks `base`,
    /// else whether anything changed.
    pub fn edit_from(&mut self, now_ms: i64, base: &[ChangeHash], new_text: &str) -> Option<bool> {
        if base.is_empty() || !base.iter().all(|h| self.doc.has_change(h)) {
            return None;
        }
        let base_text = self.text_at(base)?;
        if base_text == new_text {
            return Some(false);
        }
        let obj = self.doc.root_obj("text");
        let diff = TextDiff::from_chars(base_text.as_str(), new_text);
        let new_chars: Vec<char> = new_text.chars().collect();
        let base_len = base_text.chars().count();
        let doc = self.doc.write();
        // A stable address for every base position an operation touches,
        // taken at `base`, resolved against the document as it is now.
        let mut edits = Vec::new();
        for op in diff.ops() {
            let (tag, old, new) = op.as_tag_tuple();
            if tag == DiffTag::Equal {
                continue;
            }
            let deleted: Vec<_> = old
                .clone()
                .filter_map(|i| doc.get_cursor(&obj, i, Some(base)).ok())
                .collect();
            let insert_at = if old.end >= base_len {
                doc.get_cursor(&obj, automerge::CursorPosition::End, Some(base))
            } else {
                doc.get_cursor(&obj, old.end, Some(base))
            }
            .ok()?;
            let inserted: String = new_chars[new].iter().collect();
            edits.push((deleted, insert_at, inserted));
        }
        let mut changed = false;
        for (deleted, insert_at, inserted) in edits {
            for cursor in deleted {
                let Ok(at) = doc.get_cursor_position(&obj, &cursor, None) else {
                    continue;
                };
                // The cursor resolves to the character while it is there;
                // once someone deleted it, to the next one still there.
                let there = doc.get_cursor(&obj, at, None).is_ok_and(|c| c == cursor);
                if there && doc.splice_text(&obj, at, 1, "").is_ok() {
                    changed = true;
                }
            }
            if !inserted.is_empty() {
                let at = doc.get_cursor_position(&obj, &insert_at, None).ok()?;
                if doc.splice_text(&obj, at, 0, &inserted).is_ok() {
                    changed = true;
                }
            }
        }
        if changed {
            self.doc.commit(now_ms, "charter");
        }
        Some(changed)
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
    fn an_edit_from_an_older_copy_keeps_what_arrived_since() {
        let mut a = doc(1);
        a.set_text(1, "Article 1. Solidarity.\nArticle 2. Autonomy.\n");
        let base = a.doc_mut().heads();
        // A peer's edit arrives after the user's page loaded the text.
        let mut b = Charter::new(
            SharedDoc::load(DocKind::Charter, [2; 32], [&a.doc_mut().save()[..]]).unwrap(),
        );
        b.set_text(2, "Article 1. Solidarity first.\nArticle 2. Autonomy.\n");
        let mut b_fork = b.doc_mut().fork();
        a.doc_mut().merge(&mut b_fork).unwrap();
        // The user typed on the text at `base`, in two places.
        let typed = "Preamble.\nArticle 1. Solidarity.\nArticle 2. Autonomy of each member.\n";
        assert_eq!(a.edit_from(3, &base, typed), Some(true));
        assert_eq!(
            a.text(),
            "Preamble.\nArticle 1. Solidarity first.\nArticle 2. Autonomy of each member.\n"
        );
        // Deleting text a peer already deleted, and unknown heads.
        let base = a.doc_mut().heads();
        a.set_text(
            4,
            "Article 1. Solidarity first.\nArticle 2. Autonomy of each member.\n",
        );
        assert_eq!(
            a.edit_from(
                5,
                &base,
                "Article 1. Solidarity first.\nArticle 2. Autonomy of each member.\n"
            ),
            Some(false)
        );
        assert_eq!(
            a.text(),
            "Article 1. Solidarity first.\nArticle 2. Autonomy of each member.\n"
        );
        assert_eq!(a.edit_from(6, &[ChangeHash([7; 32])], "x"), None);
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
