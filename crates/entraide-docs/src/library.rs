//! The shared library: procedures, job profiles, regulations, statutes,
//! budgets and templates that members lend each other.
//!
//! Schema (automerge): `{ entries: { <id>: { title, kind, tags: [str], size,
//! hash, file_name, added_by, added_by_device, added_at } } }`. The document
//! holds only the description; the file's bytes live in the node's store under
//! their BLAKE3 `hash` and travel beside the document.

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};

use crate::doc::Record;
use crate::lookup::{LookupError, resolve};
use crate::{Author, DocKind, SharedDoc};

/// Longest title accepted, in characters.
pub const MAX_TITLE: usize = 300;
/// Most tags on one entry.
pub const MAX_TAGS: usize = 32;

/// What kind of document a library entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// A procedure.
    Procedure,
    /// A job profile.
    JobProfile,
    /// Internal rules.
    Regulation,
    /// Statutes.
    Statute,
    /// A budget.
    Budget,
    /// A template.
    Template,
    /// Anything else.
    Other,
}

impl EntryKind {
    /// Every kind.
    pub const ALL: [EntryKind; 7] = [
        Self::Procedure,
        Self::JobProfile,
        Self::Regulation,
        Self::Statute,
        Self::Budget,
        Self::Template,
        Self::Other,
    ];

    /// Its name on the command line and in the document.
    pub fn name(self) -> &'static str {
        match self {
            Self::Procedure => "procedure",
            Self::JobProfile => "job-profile",
            Self::Regulation => "regulation",
            Self::Statute => "statute",
            Self::Budget => "budget",
            Self::Template => "template",
            Self::Other => "other",
        }
    }

    /// Parses a kind name.
    pub fn parse(name: &str) -> Result<Self, LibraryError> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .ok_or_else(|| LibraryError::Kind(name.to_owned()))
    }
}

/// One library entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryEntry {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its kind.
    pub kind: EntryKind,
    /// Its tags.
    pub tags: Vec<String>,
    /// The file's size in bytes.
    pub size: u64,
    /// The file's BLAKE3 hash, hex.
    pub hash: String,
    /// The file's name when it was added (no directories).
    pub file_name: String,
    /// The organisation that added it.
    pub added_by: String,
    /// The device that added it, hex.
    pub added_by_device: String,
    /// When, ms since the epoch.
    pub added_at: i64,
}

/// What a new entry says; the caller has already stored the bytes.
#[derive(Clone, Debug)]
pub struct NewEntry<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its title.
    pub title: &'a str,
    /// Its kind.
    pub kind: EntryKind,
    /// Its tags.
    pub tags: &'a [String],
    /// The file's size.
    pub size: u64,
    /// The file's BLAKE3 hash, hex.
    pub hash: &'a str,
    /// The file's base name.
    pub file_name: &'a str,
}

/// A library entry could not be added or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum LibraryError {
    /// Unknown kind.
    #[error(
        "unknown kind '{0}'; use one of procedure, job-profile, regulation, statute, budget, template, other"
    )]
    Kind(String),
    /// Bad title.
    #[error(
        "a library entry needs a title of 1 to {MAX_TITLE} characters without control characters"
    )]
    Title,
    /// Bad tags.
    #[error("tags must be 1 to 50 characters each, at most {MAX_TAGS} of them")]
    Tags,
    /// The same file is already in the library.
    #[error("this file is already in the library as '{title}' (entry {id}); nothing was added")]
    Duplicate {
        /// The entry's title.
        title: String,
        /// Its id.
        id: String,
    },
    /// Unknown entry.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// Each organisation's share of the shared library, in MB, unless the
/// alliance decided otherwise (a passed `library-quota` proposal): every
/// node stores every member's files, so no member may fill them.
pub const DEFAULT_QUOTA_MB: u64 = 500;

/// The library document.
#[derive(Debug)]
pub struct Library {
    doc: SharedDoc,
    /// The entries as last read, with the document's generation then (see
    /// `SharedDoc::generation`): a node asks for them several times per
    /// change (the files it lacks, those over quota, which files a peer
    /// may fetch), and reading 2,000 entries out of automerge costs tens of
    /// milliseconds each time.
    listed: std::cell::RefCell<Option<(u64, std::sync::Arc<[LibraryEntry]>)>>,
}

impl Library {
    /// Wraps a library document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind().base(), DocKind::Library);
        Self {
            doc,
            listed: Default::default(),
        }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    fn root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("entries"))
    }

    /// The file hash of every entry (as the entry gives it, in no
    /// particular order): the entries as last read, else only their `hash`
    /// fields (a third of the cost of reading every field), which is what
    /// deciding whether a peer may fetch a file needs.
    pub fn file_hashes(&self) -> Vec<String> {
        if let Some((at, entries)) = &*self.listed.borrow()
            && *at == self.doc.generation()
        {
            return entries.iter().map(|e| e.hash.clone()).collect();
        }
        self.root()
            .children()
            .into_iter()
            .filter_map(|(_, r)| r.str_alone("hash"))
            .collect()
    }

    /// Every entry, oldest first.
    pub fn list(&self) -> Vec<LibraryEntry> {
        self.entries().to_vec()
    }

    /// Every entry, oldest first, read again only when the document
    /// changed since it was last read.
    fn entries(&self) -> std::sync::Arc<[LibraryEntry]> {
        let generation = self.doc.generation();
        let mut listed = self.listed.borrow_mut();
        match &*listed {
            Some((at, entries)) if *at == generation => entries.clone(),
            _ => {
                let entries: std::sync::Arc<[LibraryEntry]> = self.read_entries().into();
                *listed = Some((generation, entries.clone()));
                entries
            }
        }
    }

    fn read_entries(&self) -> Vec<LibraryEntry> {
        let mut list: Vec<LibraryEntry> = self
            .root()
            .children()
            .into_iter()
            .map(|(id, r)| LibraryEntry {
                id,
                title: r.string("title"),
                kind: EntryKind::parse(&r.string("kind")).unwrap_or(EntryKind::Other),
                tags: r.str_list("tags"),
                size: r
                    .int("size")
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
                hash: r.string("hash"),
                file_name: r.string("file_name"),
                added_by: r.string("added_by"),
                added_by_device: r.string("added_by_device"),
                added_at: r.int("added_at").unwrap_or_default(),
            })
            .collect();
        list.sort_by(|a, b| (a.added_at, &a.id).cmp(&(b.added_at, &b.id)));
        list
    }

    /// The entries over their organisation's quota (`quota` bytes each):
    /// each organisation's entries, oldest first, count until the next would
    /// go over. A function of the document alone, so every node sees the
    /// same; nodes fetch and store no file of an entry over quota.
    pub fn over_quota(&self, quota: u64) -> std::collections::HashSet<String> {
        let mut used: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut over = std::collections::HashSet::new();
        for e in self.entries().iter() {
            let used = used.entry(e.added_by.clone()).or_default();
            match used.checked_add(e.size) {
                Some(total) if total <= quota => *used = total,
                _ => {
                    over.insert(e.id.clone());
                }
            }
        }
        over
    }

    /// Finds an entry by id, id prefix or exact title.
    pub fn resolve(&self, query: &str) -> Result<String, LookupError> {
        let list = self.list();
        resolve(
            query,
            list.iter().map(|e| (e.id.as_str(), e.title.as_str())),
            "library entry",
            "library list",
        )
    }

    /// One entry by id, id prefix or title.
    pub fn get(&self, query: &str) -> Result<LibraryEntry, LibraryError> {
        let id = self.resolve(query)?;
        self.list()
            .into_iter()
            .find(|e| e.id == id)
            .ok_or(LibraryError::Title)
    }

    /// Withdraws an entry (the caller checked it is the author's
    /// organisation's: only those pass the authority check).
    pub fn withdraw(&mut self, now_ms: i64, id: &str) {
        let root = self.doc.root_obj("entries");
        let _ = self.doc.write().delete(&root, id);
        self.doc.commit(now_ms, "library withdraw");
    }

    /// Describes a new file in the library.
    pub fn add(
        &mut self,
        author: &Author,
        now_ms: i64,
        entry: NewEntry<'_>,
    ) -> Result<(), LibraryError> {
        let title = entry.title.trim();
        if title.is_empty()
            || title.chars().count() > MAX_TITLE
            || title.chars().any(char::is_control)
        {
            return Err(LibraryError::Title);
        }
        if entry.tags.len() > MAX_TAGS
            || entry.tags.iter().any(|t| {
                t.trim().is_empty() || t.chars().count() > 50 || t.chars().any(char::is_control)
            })
        {
            return Err(LibraryError::Tags);
        }
        // The same file twice is a mistake (dropped again, or by a
        // colleague): say where it already is.
        if let Some(same) = self.list().into_iter().find(|e| e.hash == entry.hash) {
            return Err(LibraryError::Duplicate {
                title: same.title,
                id: same.id,
            });
        }
        let device_hex = hex::encode(author.device);
        let root = self.doc.root_obj("entries");
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&root, entry.id, ObjType::Map)?;
            tx.put(&obj, "title", title)?;
            tx.put(&obj, "kind", entry.kind.name())?;
            let tags = tx.put_object(&obj, "tags", ObjType::List)?;
            for (i, tag) in entry.tags.iter().enumerate() {
                tx.insert(&tags, i, tag.trim())?;
            }
            tx.put(
                &obj,
                "size",
                ScalarValue::Int(i64::try_from(entry.size).unwrap_or(i64::MAX)),
            )?;
            tx.put(&obj, "hash", entry.hash)?;
            tx.put(&obj, "file_name", entry.file_name)?;
            tx.put(&obj, "added_by", author.org.as_str())?;
            tx.put(&obj, "added_by_device", device_hex.as_str())?;
            tx.put(&obj, "added_at", ScalarValue::Int(now_ms))?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "library add");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_resolve() {
        let mut lib = Library::new(SharedDoc::new(DocKind::Library, [1; 32]));
        let author = Author {
            device: [1; 32],
            org: "org-a".into(),
        };
        let tags = vec!["rh".to_owned(), "2026".to_owned()];
        lib.add(
            &author,
            5,
            NewEntry {
                id: "e1",
                title: "Profil de poste: coordinateur",
                kind: EntryKind::JobProfile,
                tags: &tags,
                size: 12,
                hash: "ab",
                file_name: "profil.pdf",
            },
        )
        .unwrap();
        let e = lib.get("profil de poste: coordinateur").unwrap();
        assert_eq!(e.kind, EntryKind::JobProfile);
        assert_eq!(e.tags, tags);
        assert_eq!(e.size, 12);
        assert!(matches!(
            EntryKind::parse("poem"),
            Err(LibraryError::Kind(_))
        ));
    }

    /// The kept list follows every change: an entry added or withdrawn
    /// here, and one received from another member.
    #[test]
    fn the_kept_list_follows_every_change() {
        let author = |device: u8, org: &str| Author {
            device: [device; 32],
            org: org.into(),
        };
        let entry = |id: &'static str, title: &'static str| NewEntry {
            id,
            title,
            kind: EntryKind::Procedure,
            tags: &[],
            size: 10,
            hash: "ab",
            file_name: "f.pdf",
        };
        let ids = |lib: &Library| -> Vec<String> { lib.list().into_iter().map(|e| e.id).collect() };
        let mut a = Library::new(SharedDoc::new(DocKind::Library, [1; 32]));
        assert!(ids(&a).is_empty());
        a.add(&author(1, "org-a"), 5, entry("e1", "Premier"))
            .unwrap();
        assert_eq!(ids(&a), ["e1"]);
        let mut b = Library::new(SharedDoc::new(DocKind::Library, [2; 32]));
        b.add(&author(2, "org-b"), 6, entry("e2", "Second"))
            .unwrap();
        let bytes = b.doc_mut().save_after(&a.doc_mut().heads());
        a.doc_mut().load_incremental(&bytes).unwrap();
        assert_eq!(ids(&a), ["e1", "e2"]);
        assert!(a.over_quota(10).is_empty());
        assert_eq!(a.over_quota(5).len(), 2);
        a.withdraw(7, "e1");
        assert_eq!(ids(&a), ["e2"]);
    }

    /// The hashes read alone are those of the entries, before the entries
    /// were ever listed and after.
    #[test]
    fn the_file_hashes_are_the_entries_hashes() {
        let author = Author {
            device: [1; 32],
            org: "org-a".into(),
        };
        let mut a = Library::new(SharedDoc::new(DocKind::Library, [1; 32]));
        for (id, hash) in [("e1", "aa"), ("e2", "bb"), ("e3", "cc")] {
            let entry = NewEntry {
                id,
                title: id,
                kind: EntryKind::Statute,
                tags: &[],
                size: 3,
                hash,
                file_name: "f.pdf",
            };
            a.add(&author, 5, entry).unwrap();
        }
        a.withdraw(6, "e2");
        let bytes = a.doc_mut().save();
        let b =
            Library::new(SharedDoc::load(DocKind::Library, [2; 32], [bytes.as_slice()]).unwrap());
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let unread = sorted(b.file_hashes());
        assert_eq!(unread, ["aa", "cc"]);
        let listed = sorted(b.list().into_iter().map(|e| e.hash).collect());
        assert_eq!(unread, listed);
        assert_eq!(sorted(b.file_hashes()), listed);
    }
}
