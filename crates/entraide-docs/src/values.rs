//! The values the alliance shares, and which organisations endorse each.
//!
//! Schema (automerge): `{ values: { <id>: { name, description, created_by,
//! created_at, edited_at?, endorsements: { <org id>: <time ms> } } } }`.
//! Endorsements are one map key per organisation, so concurrent endorsements
//! all survive; an organisation withdraws its own by deleting its key. The
//! organisation that proposed a value may correct its wording (`edited_at`);
//! an endorsement older than the last correction was given to an earlier
//! wording, and lists say so.

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};

use crate::doc::Record;
use crate::lookup::{LookupError, resolve};
use crate::{Author, DocKind, SharedDoc};

/// Longest name accepted, in characters.
pub const MAX_NAME: usize = 200;
/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;

/// One shared value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueEntry {
    /// Its id.
    pub id: String,
    /// Its name ("Solidarity").
    pub name: String,
    /// What it means for the alliance.
    pub description: String,
    /// The organisation that proposed it.
    pub created_by: String,
    /// When, in ms since the epoch.
    pub created_at: i64,
    /// Organisations that endorse it, sorted by id.
    pub endorsed_by: Vec<String>,
    /// When its wording was last corrected, if it was.
    pub edited_at: Option<i64>,
    /// Of `endorsed_by`, those that endorsed it before that correction.
    pub endorsed_earlier_wording: Vec<String>,
}

/// A value could not be added or endorsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum ValueError {
    /// Empty or too long a name.
    #[error("a value needs a name of 1 to {MAX_NAME} characters")]
    Name,
    /// Too long a description.
    #[error("the description is longer than {MAX_DESCRIPTION} characters; shorten it")]
    Description,
    /// The same name exists.
    #[error("a value named '{0}' already exists; endorse it instead (`entraide values list`)")]
    Duplicate(String),
    /// Correcting another organisation's value.
    #[error("only the organisation that proposed '{0}' may correct its wording")]
    NotProposer(String),
    /// Withdrawing an endorsement that was never given.
    #[error("this organisation does not endorse '{0}'")]
    NotEndorsed(String),
    /// Unknown value.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// The values document.
#[derive(Debug)]
pub struct Values {
    doc: SharedDoc,
}

impl Values {
    /// Wraps a values document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind().base(), DocKind::Values);
        Self { doc }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    fn root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("values"))
    }

    /// Every value, oldest first.
    pub fn list(&self) -> Vec<ValueEntry> {
        let mut list: Vec<ValueEntry> = self
            .root()
            .children()
            .into_iter()
            .map(|(id, r)| {
                let edited_at = r.int("edited_at");
                let endorsements: Vec<(String, i64)> = r
                    .child("endorsements")
                    .map(|e| {
                        e.keys()
                            .into_iter()
                            .map(|k| {
                                let at = e.int(&k).unwrap_or_default();
                                (k, at)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                ValueEntry {
                    id,
                    name: r.string("name"),
                    description: r.string("description"),
                    created_by: r.string("created_by"),
                    created_at: r.int("created_at").unwrap_or_default(),
                    endorsed_earlier_wording: endorsements
                        .iter()
                        .filter(|(_, at)| edited_at.is_some_and(|e| *at < e))
                        .map(|(o, _)| o.clone())
                        .collect(),
                    endorsed_by: endorsements.into_iter().map(|(o, _)| o).collect(),
                    edited_at,
                }
            })
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }

    /// Finds a value by id, id prefix or name.
    pub fn resolve(&self, query: &str) -> Result<String, LookupError> {
        let list = self.list();
        resolve(
            query,
            list.iter().map(|v| (v.id.as_str(), v.name.as_str())),
            "value",
            "values list",
        )
    }

    /// Adds a value proposed by `author`'s organisation (which endorses it).
    pub fn add(
        &mut self,
        author: &Author,
        now_ms: i64,
        id: &str,
        name: &str,
        description: &str,
    ) -> Result<(), ValueError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(ValueError::Name);
        }
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(ValueError::Description);
        }
        if self
            .list()
            .iter()
            .any(|v| v.name.eq_ignore_ascii_case(name))
        {
            return Err(ValueError::Duplicate(name.to_owned()));
        }
        let root = self.doc.root_obj("values");
        let tx = self.doc.write();
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&root, id, ObjType::Map)?;
            tx.put(&obj, "name", name)?;
            tx.put(&obj, "description", description)?;
            tx.put(&obj, "created_by", author.org.as_str())?;
            tx.put(&obj, "created_at", ScalarValue::Int(now_ms))?;
            let endorsements = tx.put_object(&obj, "endorsements", ObjType::Map)?;
            tx.put(&endorsements, author.org.as_str(), ScalarValue::Int(now_ms))?;
            Ok(())
        };
        // Writing plain keys into maps this document created cannot fail.
        let _ = put(tx);
        self.doc.commit(now_ms, "value add");
        Ok(())
    }

    /// Records `author`'s organisation's endorsement; returns false if it
    /// already endorsed that value.
    pub fn endorse(&mut self, author: &Author, now_ms: i64, id: &str) -> Result<bool, ValueError> {
        let id = self.resolve(id)?;
        let Some(value) = self.root().child(&id) else {
            return Err(ValueError::Name);
        };
        let endorsements = match value.child("endorsements") {
            Some(e) if e.keys().contains(&author.org) => return Ok(false),
            Some(e) => e.obj().clone(),
            None => return Err(ValueError::Name),
        };
        let _ = self
            .doc
            .write()
            .put(&endorsements, author.org.as_str(), ScalarValue::Int(now_ms));
        self.doc.commit(now_ms, "value endorse");
        Ok(true)
    }
}

impl Values {
    /// Withdraws `author`'s organisation's endorsement of a value.
    pub fn withdraw(&mut self, author: &Author, now_ms: i64, id: &str) -> Result<(), ValueError> {
        let id = self.resolve(id)?;
        let Some(value) = self.root().child(&id) else {
            return Err(ValueError::Name);
        };
        let name = value.string("name");
        let endorsements = match value.child("endorsements") {
            Some(e) if e.keys().contains(&author.org) => e.obj().clone(),
            _ => return Err(ValueError::NotEndorsed(name)),
        };
        let _ = self.doc.write().delete(&endorsements, author.org.as_str());
        self.doc.commit(now_ms, "value withdraw");
        Ok(())
    }

    /// Corrects the wording of a value `author`'s organisation proposed
    /// (its endorsement then goes to the new wording).
    pub fn reword(
        &mut self,
        author: &Author,
        now_ms: i64,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), ValueError> {
        let id = self.resolve(id)?;
        let Some(value) = self.root().child(&id) else {
            return Err(ValueError::Name);
        };
        if value.string("created_by") != author.org {
            return Err(ValueError::NotProposer(value.string("name")));
        }
        let name = name.map(str::trim);
        if name.is_some_and(|n| n.is_empty() || n.chars().count() > MAX_NAME) {
            return Err(ValueError::Name);
        }
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
            return Err(ValueError::Description);
        }
        if let Some(n) = name
            && self
                .list()
                .iter()
                .any(|v| v.id != id && v.name.eq_ignore_ascii_case(n))
        {
            return Err(ValueError::Duplicate(n.to_owned()));
        }
        let obj = value.obj().clone();
        let endorsements = value.child("endorsements").map(|e| e.obj().clone());
        let tx = self.doc.write();
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            if let Some(n) = name {
                tx.put(&obj, "name", n)?;
            }
            if let Some(d) = description {
                tx.put(&obj, "description", d)?;
            }
            tx.put(&obj, "edited_at", ScalarValue::Int(now_ms))?;
            if let Some(e) = &endorsements {
                tx.put(e, author.org.as_str(), ScalarValue::Int(now_ms))?;
            }
            Ok(())
        };
        let _ = put(tx);
        self.doc.commit(now_ms, "value reword");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(org: &str, device: u8) -> Author {
        Author {
            device: [device; 32],
            org: org.into(),
        }
    }

    #[test]
    fn add_endorse_and_merge() {
        let mut a = Values::new(SharedDoc::new(DocKind::Values, [1; 32]));
        a.add(&author("org-a", 1), 10, "v1", "Solidarity", "we help")
            .unwrap();
        assert_eq!(
            a.add(&author("org-a", 1), 11, "v2", "solidarity", ""),
            Err(ValueError::Duplicate("solidarity".into()))
        );
        let bytes = a.doc_mut().save();
        let mut b = Values::new(SharedDoc::load(DocKind::Values, [2; 32], [&bytes[..]]).unwrap());
        assert!(b.endorse(&author("org-b", 2), 20, "v1").unwrap());
        assert!(!b.endorse(&author("org-b", 2), 21, "Solidarity").unwrap());
        let mut c = SharedDoc::load(DocKind::Values, [3; 32], [&bytes[..]]).unwrap();
        let mut c = Values::new(c.fork());
        assert!(c.endorse(&author("org-c", 3), 22, "v1").unwrap());
        let mut fork = c.doc_mut().fork();
        b.doc_mut().merge(&mut fork).unwrap();
        assert_eq!(b.list()[0].endorsed_by, vec!["org-a", "org-b", "org-c"]);
    }

    #[test]
    fn the_proposer_rewords_and_earlier_endorsements_say_so_and_one_withdraws() {
        let mut a = Values::new(SharedDoc::new(DocKind::Values, [1; 32]));
        let id = crate::record_id([3; 8], &[1; 32]);
        a.add(&author("a", 1), 1_000, &id, "Solidarité", "")
            .unwrap();
        a.endorse(&author("b", 2), 2_000, &id).unwrap();
        assert_eq!(
            a.reword(&author("b", 2), 3_000, &id, Some("Autre"), None),
            Err(ValueError::NotProposer("Solidarité".into()))
        );
        a.reword(&author("a", 1), 4_000, &id, None, Some("Nous partageons"))
            .unwrap();
        let v = &a.list()[0];
        assert_eq!(v.description, "Nous partageons");
        assert_eq!(v.edited_at, Some(4_000));
        assert_eq!(v.endorsed_earlier_wording, ["b"]);
        a.withdraw(&author("b", 2), 5_000, &id).unwrap();
        assert_eq!(a.list()[0].endorsed_by, ["a"]);
        assert_eq!(
            a.withdraw(&author("b", 2), 6_000, &id),
            Err(ValueError::NotEndorsed("Solidarité".into()))
        );
    }
}
