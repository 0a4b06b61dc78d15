//! A node's durable store, on redb.
//!
//! One redb file per node home holds everything the node must not lose:
//! the shared documents (as a sequence of automerge chunks per document: a
//! full save followed by incremental saves, so an edit appends a few hundred
//! bytes instead of rewriting the document), the membership operations, the
//! library files' bytes (content-addressed by their BLAKE3 hash) and the
//! node's settings.
//!
//! Every write goes through [`Store::commit`] with a [`WriteBatch`]: one redb
//! transaction, committed with `Durability::Immediate` (fsync) before it
//! returns, so a write the node acknowledged survives a crash or `kill -9`.
//! The one exception, [`Store::commit_deferred`], is for what can be fetched
//! again (what peers sent: their documents' changes, library files, peer
//! records): it becomes durable with the next [`Store::commit`] or
//! [`Store::flush`], and a crash before that loses the whole transaction,
//! never part of it. The store counts what waits ([`Store::deferred`]) so
//! that its owner can decide when to pay the one fsync for all of it.
//!
//! Layout, format version 3 (the version is stored under `format` in `meta_v1`,
//! and a store of another version is refused, never guessed at):
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta_v1` | setting name (`format`, `org_id`...) | bytes |
//! | `doc_chunks_v1` | (document name, sequence number) | automerge chunk |
//! | `membership_ops_v1` | operation hash (32 bytes) | signed operation |
//! | `blobs_v1` | BLAKE3 hash (32 bytes) | file bytes |
//! | `doc_extras_v1` | (document name, key) | sync metadata (signed heads) |
//! | `blob_parts_v1` | (BLAKE3 hash, offset) | the received part of a file still arriving |
//!
//! This crate knows nothing of automerge, signatures or the network: it
//! stores bytes under keys. It must never interpret document content.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{
    Database, Durability, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, TransactionError, WriteTransaction,
};

/// The store format this code reads and writes.
pub const FORMAT_VERSION: u32 = 3;

/// The document format 2 kept the whole calendar in (format 3 keeps it in
/// parts, `calendar/<n>`): a format 2 store holding none of it is taken
/// as it is, one holding some is refused.
const FORMAT_2_CALENDAR: &str = "calendar";

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta_v1");
const DOC_CHUNKS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("doc_chunks_v1");
const OPS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("membership_ops_v1");
const BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs_v1");
const DOC_EXTRAS: TableDefinition<(&str, &[u8]), &[u8]> = TableDefinition::new("doc_extras_v1");
const BLOB_PARTS: TableDefinition<(&[u8; 32], u64), &[u8]> = TableDefinition::new("blob_parts_v1");

/// Why a store of an earlier format cannot be read on.
fn outdated_why(format: u32) -> &'static str {
    match format {
        1 => "whose records and signatures other members can no longer verify",
        _ => {
            "that kept the alliance's calendar in one document, where members now keep it in 8 parts"
        }
    }
}

/// Where a document's summary is kept in `doc_extras_v1` (no actor is 7
/// bytes long).
const SUMMARY_KEY: &[u8] = b"summary";

/// The sequence number of a document's last chunk (`u64::MAX` for none).
fn last_chunk(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    doc: &str,
) -> Result<u64, StoreError> {
    Ok(table
        .range((doc, 0)..=(doc, u64::MAX))
        .map_err(StoreError::read)?
        .next_back()
        .transpose()
        .map_err(StoreError::read)?
        .map_or(u64::MAX, |(k, _)| k.value().1))
}

/// The store could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is not a redb database, or is damaged.
    #[error(
        "{path} is not an entraide store or is damaged ({reason}); restore it from a backup or initialise a new home"
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What redb said.
        reason: String,
    },
    /// A redb database, but not ours.
    #[error("{path} is a database of another program; point --home at an entraide home")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// Written by an earlier version of entraide whose documents members
    /// can no longer exchange (format 1: record ids without their device,
    /// attestations without their sequence number; format 2: the calendar
    /// in one document).
    #[error(
        "{path} was made by an earlier entraide (store format {found}) {}; keep the file to read it with that version (`entraide export`), and join the alliance again from a new home (`entraide init --home <NEW>` then `entraide join <TICKET>`)",
        outdated_why(*found)
    )]
    Outdated {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u32,
    },
    /// Written by another version of entraide.
    #[error(
        "{path} has store format {found}, this entraide reads format {FORMAT_VERSION}; use a matching version of entraide"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u32,
    },
    /// Another process holds it.
    #[error(
        "{path} is in use by another entraide process; stop it or talk to it through `entraide serve`"
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file system refused.
    #[error(
        "cannot open {path}: {reason}; check that the home exists, is writable and its disk has free space"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A read or write failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store could not be {action} ({reason}); check free disk space and permissions, nothing was changed"
)]
pub struct StoreError {
    action: &'static str,
    reason: String,
    /// A write refused because the store was opened to read only.
    read_only: bool,
}

impl StoreError {
    /// Whether it is a write refused by a store opened to read only: the
    /// same write on a store opened by [`Store::open`] may succeed.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read(e: impl std::fmt::Display) -> Self {
        Self {
            action: "read",
            reason: e.to_string(),
            read_only: false,
        }
    }

    fn write(e: impl std::fmt::Display) -> Self {
        Self {
            action: "written",
            reason: e.to_string(),
            read_only: false,
        }
    }

    /// A write refused by a store opened by [`Store::open_read_only`].
    fn read_only() -> Self {
        Self {
            action: "written",
            reason: "it was opened to read only".into(),
            read_only: true,
        }
    }
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Writes to commit together, atomically and durably.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    doc_chunks: Vec<(String, Vec<u8>)>,
    doc_replacements: Vec<(String, Vec<u8>)>,
    doc_extras: Vec<(String, Vec<u8>, Vec<u8>)>,
    doc_summaries: Vec<(String, Vec<u8>)>,
    ops: Vec<([u8; 32], Vec<u8>)>,
    blobs: Vec<([u8; 32], Vec<u8>)>,
    blob_parts: Vec<([u8; 32], u64, Vec<u8>)>,
    drop_parts: Vec<[u8; 32]>,
    drop_blobs: Vec<[u8; 32]>,
    meta: Vec<(String, Vec<u8>)>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes of the values it writes.
    fn bytes(&self) -> u64 {
        let values = self.doc_chunks.iter().map(|(_, v)| v.len()).sum::<usize>()
            + self
                .doc_replacements
                .iter()
                .map(|(_, v)| v.len())
                .sum::<usize>()
            + self
                .doc_extras
                .iter()
                .map(|(_, _, v)| v.len())
                .sum::<usize>()
            + self
                .doc_summaries
                .iter()
                .map(|(_, v)| v.len())
                .sum::<usize>()
            + self.ops.iter().map(|(_, v)| v.len()).sum::<usize>()
            + self.blobs.iter().map(|(_, v)| v.len()).sum::<usize>()
            + self
                .blob_parts
                .iter()
                .map(|(_, _, v)| v.len())
                .sum::<usize>()
            + self.meta.iter().map(|(_, v)| v.len()).sum::<usize>();
        values as u64
    }

    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.doc_chunks.is_empty()
            && self.doc_replacements.is_empty()
            && self.doc_extras.is_empty()
            && self.doc_summaries.is_empty()
            && self.ops.is_empty()
            && self.blobs.is_empty()
            && self.blob_parts.is_empty()
            && self.drop_parts.is_empty()
            && self.drop_blobs.is_empty()
            && self.meta.is_empty()
    }

    /// Appends a chunk to a document.
    pub fn doc_chunk(&mut self, doc: &str, bytes: Vec<u8>) -> &mut Self {
        self.doc_chunks.push((doc.to_owned(), bytes));
        self
    }

    /// Sets what a document's chunks hold, as the caller sums it up (see
    /// [`Store::doc_summary`]): it stands for the chunks as they are once
    /// this batch is written, and for nothing written after.
    pub fn doc_summary(&mut self, doc: &str, bytes: Vec<u8>) -> &mut Self {
        self.doc_summaries.push((doc.to_owned(), bytes));
        self
    }

    /// Replaces every chunk of a document by one full save.
    pub fn replace_doc(&mut self, doc: &str, bytes: Vec<u8>) -> &mut Self {
        self.doc_replacements.push((doc.to_owned(), bytes));
        self
    }

    /// Sets a piece of sync metadata of a document.
    pub fn doc_extra(&mut self, doc: &str, key: &[u8], value: Vec<u8>) -> &mut Self {
        self.doc_extras.push((doc.to_owned(), key.to_vec(), value));
        self
    }

    /// Stores a membership operation.
    pub fn op(&mut self, hash: [u8; 32], bytes: Vec<u8>) -> &mut Self {
        self.ops.push((hash, bytes));
        self
    }

    /// Stores a file's bytes under their hash.
    pub fn blob(&mut self, hash: [u8; 32], bytes: Vec<u8>) -> &mut Self {
        self.blobs.push((hash, bytes));
        self
    }

    /// Stores a received part of a file that is still arriving.
    pub fn blob_part(&mut self, hash: [u8; 32], offset: u64, bytes: Vec<u8>) -> &mut Self {
        self.blob_parts.push((hash, offset, bytes));
        self
    }

    /// Forgets the received parts of a file (complete, or bad).
    pub fn drop_blob_parts(&mut self, hash: [u8; 32]) -> &mut Self {
        self.drop_parts.push(hash);
        self
    }

    /// Deletes a file's bytes (no library entry names it any more).
    pub fn drop_blob(&mut self, hash: [u8; 32]) -> &mut Self {
        self.drop_blobs.push(hash);
        self
    }

    /// Sets a setting.
    pub fn meta(&mut self, key: &str, value: Vec<u8>) -> &mut Self {
        self.meta.push((key.to_owned(), value));
        self
    }
}

/// The database, opened to write or to read only.
enum Db {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Db::Writable(db) => db.fmt(f),
            Db::ReadOnly(_) => f.write_str("ReadOnlyDatabase"),
        }
    }
}

impl Db {
    fn begin_read(&self) -> Result<ReadTransaction, TransactionError> {
        match self {
            Db::Writable(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
        }
    }

    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        match self {
            Db::Writable(db) => db.begin_write().map_err(StoreError::write),
            Db::ReadOnly(_) => Err(StoreError::read_only()),
        }
    }
}

/// A node's store.
#[derive(Debug)]
pub struct Store {
    /// Always `Some` until the store is dropped.
    db: Option<Db>,
    /// Deferred commits not yet made durable, and their bytes.
    deferred: std::sync::Mutex<Deferred>,
    /// Set once redb panicked on a damaged page: from then on every call is
    /// refused without touching the file, and the database is not dropped
    /// (redb's own drop would panic again).
    damaged: AtomicBool,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(db) = self.db.take()
            && (self.damaged.load(Ordering::SeqCst) || std::thread::panicking())
        {
            std::mem::forget(db);
        }
    }
}

const DAMAGED: &str = "its pages are damaged: restore the home from a backup, or start a new home and join the alliance again";

fn open_error(path: &Path, e: redb::DatabaseError) -> OpenError {
    let path = path.to_owned();
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::Locked { path },
        // The file cannot be reached or written (permissions, a read-only
        // or full disk): the store itself may be fine, so never advise
        // replacing it.
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if matches!(
                io.kind(),
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::ReadOnlyFilesystem
                    | std::io::ErrorKind::StorageFull
                    | std::io::ErrorKind::QuotaExceeded
                    | std::io::ErrorKind::FileTooLarge
            ) =>
        {
            OpenError::Io {
                path,
                reason: io.to_string(),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::WouldBlock =>
        {
            OpenError::Locked { path }
        }
        other => OpenError::NotAStore {
            path,
            reason: other.to_string(),
        },
    }
}

/// A database opened by `open` (redb's own), with redb's errors, and its
/// panics on some damaged pages, told as an [`OpenError`].
fn opened<D>(
    path: &Path,
    open: impl FnOnce(&Path) -> Result<D, redb::DatabaseError> + std::panic::UnwindSafe,
) -> Result<D, OpenError> {
    std::panic::catch_unwind(|| open(path))
        .map_err(|_| OpenError::NotAStore {
            path: path.to_owned(),
            reason: "its pages are damaged".into(),
        })?
        .map_err(|e| open_error(path, e))
}

impl Store {
    fn from_db(db: Db) -> Self {
        Self {
            db: Some(db),
            damaged: AtomicBool::new(false),
            deferred: Default::default(),
        }
    }

    /// Runs one store operation, turning a panic inside redb (which it raises
    /// on some damaged pages instead of returning an error) into a
    /// [`StoreError`]: a damaged file must give the user a message, never a
    /// crash.
    fn guarded<T>(
        &self,
        action: &'static str,
        f: impl FnOnce(&Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let damaged = || StoreError {
            action,
            reason: DAMAGED.into(),
            read_only: false,
        };
        let Some(db) = self.db.as_ref() else {
            return Err(damaged());
        };
        if self.damaged.load(Ordering::SeqCst) {
            return Err(damaged());
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(db))).unwrap_or_else(|_| {
            self.damaged.store(true, Ordering::SeqCst);
            Err(damaged())
        })
    }

    /// Creates a new store at `path`, which must not exist.
    pub fn create(path: &Path) -> Result<Self, OpenError> {
        if path.exists() {
            return Err(OpenError::Io {
                path: path.to_owned(),
                reason: "the file already exists".into(),
            });
        }
        let db = Database::create(path).map_err(|e| open_error(path, e))?;
        let store = Self::from_db(Db::Writable(db));
        store.write_format(path)?;
        Ok(store)
    }

    /// Marks the store as of this code's format.
    fn write_format(&self, path: &Path) -> Result<(), OpenError> {
        let mut batch = WriteBatch::new();
        batch.meta("format", FORMAT_VERSION.to_le_bytes().to_vec());
        self.commit(batch).map_err(|e| OpenError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Opens an existing store to read only: nothing is written to the
    /// file, not even what redb writes when it opens and closes a database
    /// (a few pages and five fsyncs, which a command that only reads need
    /// not pay, on a slow disk least of all). Every write is refused
    /// ([`StoreError::is_read_only`]). Only a store of this code's format
    /// that was closed cleanly opens so; for any other (one left by a
    /// crash, which opening it to write repairs, one of another format,
    /// one that is not a store) this fails, and [`Store::open`] says why.
    pub fn open_read_only(path: &Path) -> Result<Self, OpenError> {
        let store = Self::from_db(Db::ReadOnly(opened(path, |p| ReadOnlyDatabase::open(p))?));
        match store.meta("format") {
            Ok(Some(format)) if format == FORMAT_VERSION.to_le_bytes() => Ok(store),
            _ => Err(OpenError::NotAStore {
                path: path.to_owned(),
                reason: "not of this version's format".into(),
            }),
        }
    }

    /// Whether it was opened by [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        matches!(self.db, Some(Db::ReadOnly(_)))
    }

    /// Opens an existing store, checking that it is one and of our format.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        if !path.is_file() {
            return Err(OpenError::Io {
                path: path.to_owned(),
                reason: "no such file".into(),
            });
        }
        let store = Self::from_db(Db::Writable(opened(path, |p| Database::open(p))?));
        let damaged = || OpenError::NotAStore {
            path: path.to_owned(),
            reason: "its pages are damaged".into(),
        };
        let format = match store.meta("format") {
            Ok(format) => format,
            Err(_) if store.damaged.load(Ordering::SeqCst) => return Err(damaged()),
            Err(_) => {
                return Err(OpenError::Foreign {
                    path: path.to_owned(),
                });
            }
        };
        let found = match format.as_deref().map(<[u8; 4]>::try_from) {
            Some(Ok(bytes)) if u32::from_le_bytes(bytes) == FORMAT_VERSION => return Ok(store),
            Some(Ok(bytes)) => Some(u32::from_le_bytes(bytes)),
            _ => None,
        };
        if found == Some(2)
            && store
                .doc_chunks(FORMAT_2_CALENDAR)
                .is_ok_and(|c| c.is_empty())
        {
            // Nothing was ever booked: the store is format 3 as it is.
            store.write_format(path)?;
            return Ok(store);
        }
        // Not ours to open: let go of the file without closing the database
        // (redb writes on close, and panics there on some damaged pages).
        store.damaged.store(true, Ordering::SeqCst);
        drop(store);
        match found {
            Some(found) if found < FORMAT_VERSION => Err(OpenError::Outdated {
                path: path.to_owned(),
                found,
            }),
            Some(found) => Err(OpenError::UnknownFormat {
                path: path.to_owned(),
                found,
            }),
            None => Err(OpenError::Foreign {
                path: path.to_owned(),
            }),
        }
    }

    /// Runs `f` on a table in a read transaction; `absent` when the table
    /// was never written.
    fn read_table<K: redb::Key + 'static, V: redb::Value + 'static, T>(
        &self,
        table: TableDefinition<K, V>,
        absent: T,
        f: impl FnOnce(&redb::ReadOnlyTable<K, V>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.guarded("read", |db| {
            let tx = db.begin_read().map_err(StoreError::read)?;
            match optional_table(tx.open_table(table))? {
                Some(t) => f(&t),
                None => Ok(absent),
            }
        })
    }

    /// A setting.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_table(META, None, |table| {
            let value = table.get(key).map_err(StoreError::read)?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// The chunks of a document, in order.
    pub fn doc_chunks(&self, doc: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read_table(DOC_CHUNKS, Vec::new(), |table| {
            let range = table
                .range((doc, 0)..=(doc, u64::MAX))
                .map_err(StoreError::read)?;
            range
                .map(|entry| {
                    entry
                        .map(|(_, v)| v.value().to_vec())
                        .map_err(StoreError::read)
                })
                .collect()
        })
    }

    /// What [`WriteBatch::doc_summary`] last set for a document, if no
    /// chunk of it was written since (by any path).
    pub fn doc_summary(&self, doc: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(stored) = self.doc_extra(doc, SUMMARY_KEY)? else {
            return Ok(None);
        };
        let last = self.read_table(DOC_CHUNKS, None, |table| last_chunk(table, doc).map(Some))?;
        Ok(match (stored.split_first_chunk::<8>(), last) {
            (Some((seq, rest)), Some(last)) if u64::from_le_bytes(*seq) == last => {
                Some(rest.to_vec())
            }
            _ => None,
        })
    }

    /// One sync metadata entry of a document ([`WriteBatch::doc_extra`]).
    pub fn doc_extra(&self, doc: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_table(DOC_EXTRAS, None, |table| {
            Ok(table
                .get((doc, key))
                .map_err(StoreError::read)?
                .map(|v| v.value().to_vec()))
        })
    }

    /// Every sync metadata entry of a document.
    pub fn doc_extras(&self, doc: &str) -> Result<Vec<KeyValue>, StoreError> {
        self.read_table(DOC_EXTRAS, Vec::new(), |table| {
            let mut out = Vec::new();
            for entry in table.iter().map_err(StoreError::read)? {
                let (k, v) = entry.map_err(StoreError::read)?;
                let (d, key) = k.value();
                if d == doc {
                    out.push((key.to_vec(), v.value().to_vec()));
                }
            }
            Ok(out)
        })
    }

    /// Every membership operation.
    pub fn ops(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read_table(OPS, Vec::new(), |table| {
            table
                .iter()
                .map_err(StoreError::read)?
                .map(|entry| {
                    entry
                        .map(|(_, v)| v.value().to_vec())
                        .map_err(StoreError::read)
                })
                .collect()
        })
    }

    /// A file's bytes.
    pub fn blob(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_table(BLOBS, None, |table| {
            let value = table.get(hash).map_err(StoreError::read)?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// Whether the store holds a file's bytes.
    pub fn has_blob(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        self.read_table(BLOBS, false, |table| {
            Ok(table.get(hash).map_err(StoreError::read)?.is_some())
        })
    }

    /// The received parts of a file still arriving, in order from offset 0,
    /// as far as they are contiguous.
    pub fn blob_parts(&self, hash: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        self.read_table(BLOB_PARTS, Vec::new(), |table| {
            let mut out = Vec::new();
            for entry in table
                .range((hash, 0)..=(hash, u64::MAX))
                .map_err(StoreError::read)?
            {
                let (k, v) = entry.map_err(StoreError::read)?;
                if k.value().1 != out.len() as u64 {
                    break;
                }
                out.extend_from_slice(v.value());
            }
            Ok(out)
        })
    }

    /// The hashes of every file held whole.
    pub fn blob_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        self.read_table(BLOBS, Vec::new(), |table| {
            let mut out = Vec::new();
            for entry in table.iter().map_err(StoreError::read)? {
                let (k, _) = entry.map_err(StoreError::read)?;
                out.push(*k.value());
            }
            Ok(out)
        })
    }

    /// How many bytes of a file still arriving are held, from offset 0.
    pub fn blob_parts_len(&self, hash: &[u8; 32]) -> Result<u64, StoreError> {
        self.read_table(BLOB_PARTS, 0, |table| contiguous_len(table, hash))
    }

    /// Of `hashes`, the files not held, each with how many of its bytes are
    /// (from offset 0): one read transaction for the whole list.
    pub fn missing_blobs(&self, hashes: &[[u8; 32]]) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        self.guarded("read", |db| {
            let tx = db.begin_read().map_err(StoreError::read)?;
            let blobs = optional_table(tx.open_table(BLOBS))?;
            let parts = optional_table(tx.open_table(BLOB_PARTS))?;
            let mut out = Vec::new();
            for hash in hashes {
                let held = match &blobs {
                    Some(t) => t.get(hash).map_err(StoreError::read)?.is_some(),
                    None => false,
                };
                if !held {
                    let len = match &parts {
                        Some(t) => contiguous_len(t, hash)?,
                        None => 0,
                    };
                    out.push((*hash, len));
                }
            }
            Ok(out)
        })
    }

    /// Commits a batch in one durable transaction: all of it or nothing.
    pub fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.commit_with(batch, Durability::Immediate)
    }

    /// Commits a batch in one transaction without waiting for the disk: it
    /// is visible at once, and becomes durable with the next [`Store::commit`]
    /// (a crash before that loses it, all of it, never part of it). Only for
    /// what can be fetched again, never for a write the node acknowledges.
    pub fn commit_deferred(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.commit_with(batch, Durability::None)
    }

    /// Makes every deferred commit durable (one fsync); nothing to do if
    /// none waits.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.deferred() == Deferred::default() {
            return Ok(());
        }
        self.guarded("written", |db| {
            let tx = db.begin_write()?;
            tx.commit().map_err(StoreError::write)
        })?;
        self.set_deferred(|d| *d = Deferred::default());
        Ok(())
    }

    /// What [`Store::commit_deferred`] wrote since the last durable commit.
    pub fn deferred(&self) -> Deferred {
        *self.deferred_count()
    }

    fn set_deferred(&self, f: impl FnOnce(&mut Deferred)) {
        f(&mut self.deferred_count());
    }

    /// The count, even after a panic elsewhere held its lock (it is two
    /// numbers, never left half-written): a lost count would skip a flush.
    fn deferred_count(&self) -> std::sync::MutexGuard<'_, Deferred> {
        self.deferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn commit_with(&self, batch: WriteBatch, durability: Durability) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let bytes = batch.bytes();
        self.guarded("written", |db| {
            let mut tx = db.begin_write()?;
            tx.set_durability(durability).map_err(StoreError::write)?;
            // Only the tables the batch writes are opened: a booking writes
            // two of the seven, and each table opened costs the commit.
            if !batch.doc_replacements.is_empty() || !batch.doc_chunks.is_empty() {
                let mut chunks = tx.open_table(DOC_CHUNKS).map_err(StoreError::write)?;
                for (doc, bytes) in &batch.doc_replacements {
                    let keys: Vec<u64> = chunks
                        .range((doc.as_str(), 0)..=(doc.as_str(), u64::MAX))
                        .map_err(StoreError::write)?
                        .filter_map(|e| e.ok().map(|(k, _)| k.value().1))
                        .collect();
                    let next = keys.last().map_or(0, |k| k + 1);
                    for k in keys {
                        chunks
                            .remove((doc.as_str(), k))
                            .map_err(StoreError::write)?;
                    }
                    chunks
                        .insert((doc.as_str(), next), bytes.as_slice())
                        .map_err(StoreError::write)?;
                }
                for (doc, bytes) in &batch.doc_chunks {
                    let next = chunks
                        .range((doc.as_str(), 0)..=(doc.as_str(), u64::MAX))
                        .map_err(StoreError::write)?
                        .next_back()
                        .and_then(|e| e.ok())
                        .map_or(0, |(k, _)| k.value().1 + 1);
                    chunks
                        .insert((doc.as_str(), next), bytes.as_slice())
                        .map_err(StoreError::write)?;
                }
            }
            if !batch.doc_extras.is_empty() || !batch.doc_summaries.is_empty() {
                let mut extras = tx.open_table(DOC_EXTRAS).map_err(StoreError::write)?;
                for (doc, key, value) in &batch.doc_extras {
                    extras
                        .insert((doc.as_str(), key.as_slice()), value.as_slice())
                        .map_err(StoreError::write)?;
                }
                if !batch.doc_summaries.is_empty() {
                    let chunks = tx.open_table(DOC_CHUNKS).map_err(StoreError::write)?;
                    for (doc, bytes) in &batch.doc_summaries {
                        // Tagged with the last chunk's sequence number, which
                        // no later write of the document reuses.
                        let mut value = last_chunk(&chunks, doc)?.to_le_bytes().to_vec();
                        value.extend_from_slice(bytes);
                        extras
                            .insert((doc.as_str(), SUMMARY_KEY), value.as_slice())
                            .map_err(StoreError::write)?;
                    }
                }
            }
            if !batch.ops.is_empty() {
                let mut ops = tx.open_table(OPS).map_err(StoreError::write)?;
                for (hash, bytes) in &batch.ops {
                    ops.insert(hash, bytes.as_slice())
                        .map_err(StoreError::write)?;
                }
            }
            if !batch.blobs.is_empty() || !batch.drop_blobs.is_empty() {
                let mut blobs = tx.open_table(BLOBS).map_err(StoreError::write)?;
                for (hash, bytes) in &batch.blobs {
                    blobs
                        .insert(hash, bytes.as_slice())
                        .map_err(StoreError::write)?;
                }
                for hash in &batch.drop_blobs {
                    blobs.remove(hash).map_err(StoreError::write)?;
                }
            }
            if !batch.drop_parts.is_empty() || !batch.blob_parts.is_empty() {
                let mut parts = tx.open_table(BLOB_PARTS).map_err(StoreError::write)?;
                for hash in &batch.drop_parts {
                    let offsets: Vec<u64> = parts
                        .range((hash, 0)..=(hash, u64::MAX))
                        .map_err(StoreError::write)?
                        .filter_map(|e| e.ok().map(|(k, _)| k.value().1))
                        .collect();
                    for offset in offsets {
                        parts.remove((hash, offset)).map_err(StoreError::write)?;
                    }
                }
                for (hash, offset, bytes) in &batch.blob_parts {
                    parts
                        .insert((hash, *offset), bytes.as_slice())
                        .map_err(StoreError::write)?;
                }
            }
            if !batch.meta.is_empty() {
                let mut meta = tx.open_table(META).map_err(StoreError::write)?;
                for (key, value) in &batch.meta {
                    meta.insert(key.as_str(), value.as_slice())
                        .map_err(StoreError::write)?;
                }
            }
            tx.commit().map_err(StoreError::write)
        })?;
        // A durable commit makes every earlier one durable too.
        self.set_deferred(|d| match durability {
            Durability::None => {
                d.commits += 1;
                d.bytes += bytes;
            }
            _ => *d = Deferred::default(),
        });
        Ok(())
    }
}

/// What waits for the next durable commit (see [`Store::commit_deferred`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deferred {
    /// Deferred commits.
    pub commits: usize,
    /// The bytes they wrote (values, not keys).
    pub bytes: u64,
}

/// A table opened for reading, `None` if it was never written.
fn optional_table<T>(opened: Result<T, redb::TableError>) -> Result<Option<T>, StoreError> {
    match opened {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(StoreError::read(e)),
    }
}

/// The bytes of a file's parts held contiguously from offset 0.
fn contiguous_len(
    table: &redb::ReadOnlyTable<(&[u8; 32], u64), &[u8]>,
    hash: &[u8; 32],
) -> Result<u64, StoreError> {
    let mut len = 0u64;
    for entry in table
        .range((hash, 0)..=(hash, u64::MAX))
        .map_err(StoreError::read)?
    {
        let (k, v) = entry.map_err(StoreError::read)?;
        if k.value().1 != len {
            break;
        }
        len += v.value().len() as u64;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_append_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::create(&path).unwrap();
        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![1])
            .doc_chunk("charter", vec![2])
            .doc_chunk("values", vec![9]);
        store.commit(b).unwrap();
        assert_eq!(store.doc_chunks("charter").unwrap(), vec![vec![1], vec![2]]);
        let mut b = WriteBatch::new();
        b.replace_doc("charter", vec![3]);
        store.commit(b).unwrap();
        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![4]);
        store.commit(b).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.doc_chunks("charter").unwrap(), vec![vec![3], vec![4]]);
        assert_eq!(store.doc_chunks("values").unwrap(), vec![vec![9]]);
    }

    #[test]
    fn refuses_foreign_and_garbage_and_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("g.redb");
        std::fs::write(&garbage, b"this is not a database at all, just text").unwrap();
        assert!(matches!(
            Store::open(&garbage),
            Err(OpenError::NotAStore { .. })
        ));

        let foreign = dir.path().join("f.redb");
        drop(Database::create(&foreign).unwrap());
        assert!(matches!(
            Store::open(&foreign),
            Err(OpenError::Foreign { .. })
        ));

        // A store file of format `format`, holding a chunk of `doc`.
        let made = |name: &str, format: u32, doc: Option<&str>| {
            let path = dir.path().join(name);
            let store = Store::create(&path).unwrap();
            let mut b = WriteBatch::new();
            b.meta("format", format.to_le_bytes().to_vec());
            if let Some(doc) = doc {
                b.doc_chunk(doc, vec![1, 2, 3]);
            }
            store.commit(b).unwrap();
            path
        };

        let err = Store::open(&made("v4.redb", 4, None)).unwrap_err();
        assert!(
            matches!(err, OpenError::UnknownFormat { found: 4, .. }),
            "{err}"
        );

        // Format 2 with bookings (a calendar in one document): refused,
        // and left as it was.
        let booked = made("v2.redb", 2, Some("calendar"));
        let err = Store::open(&booked).unwrap_err();
        assert!(matches!(err, OpenError::Outdated { found: 2, .. }), "{err}");
        assert!(err.to_string().contains("8 parts"), "{err}");
        assert!(Store::open(&booked).is_err(), "refused again");

        // Format 2 that never held a booking: taken as format 3.
        let unbooked = made("v2-empty.redb", 2, Some("charter"));
        let store = Store::open(&unbooked).unwrap();
        assert_eq!(store.doc_chunks("charter").unwrap(), vec![vec![1, 2, 3]]);
        drop(store);
        let store = Store::open(&unbooked).unwrap();
        assert_eq!(
            store.meta("format").unwrap(),
            Some(FORMAT_VERSION.to_le_bytes().to_vec())
        );

        let err = Store::open(&made("v1.redb", 1, None)).unwrap_err();
        assert!(matches!(err, OpenError::Outdated { found: 1, .. }), "{err}");
        assert!(err.to_string().contains("entraide join"), "{err}");
    }

    /// A summary stands for the chunks it was written with: any chunk
    /// written after it, by a write that did not set a new one (an append,
    /// a compaction), makes it stand for nothing.
    /// Deferred commits are counted until a durable commit or a flush
    /// makes them durable; a flush with nothing waiting writes nothing.
    #[test]
    fn deferred_commits_wait_for_the_next_durable_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("s.redb")).unwrap();
        assert_eq!(store.deferred(), Deferred::default());
        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![1, 2, 3]);
        store.commit_deferred(b).unwrap();
        let mut b = WriteBatch::new();
        b.meta("peers", vec![4; 10]);
        store.commit_deferred(b).unwrap();
        assert_eq!(
            store.deferred(),
            Deferred {
                commits: 2,
                bytes: 13
            }
        );
        assert_eq!(store.doc_chunks("charter").unwrap(), vec![vec![1, 2, 3]]);
        store.flush().unwrap();
        assert_eq!(store.deferred(), Deferred::default());

        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![5]);
        store.commit_deferred(b).unwrap();
        let mut b = WriteBatch::new();
        b.doc_chunk("values", vec![6]);
        store.commit(b).unwrap();
        assert_eq!(store.deferred(), Deferred::default());
        drop(store);
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        assert_eq!(
            store.doc_chunks("charter").unwrap(),
            vec![vec![1, 2, 3], vec![5]]
        );
    }

    #[test]
    fn a_summary_holds_until_the_next_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("s.redb")).unwrap();
        assert_eq!(store.doc_summary("charter").unwrap(), None);
        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![1])
            .doc_summary("charter", vec![7, 7]);
        store.commit(b).unwrap();
        assert_eq!(store.doc_summary("charter").unwrap(), Some(vec![7, 7]));
        assert_eq!(store.doc_summary("values").unwrap(), None);

        let mut b = WriteBatch::new();
        b.doc_chunk("values", vec![2]);
        store.commit(b).unwrap();
        assert_eq!(
            store.doc_summary("charter").unwrap(),
            Some(vec![7, 7]),
            "another document"
        );

        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![3]);
        store.commit(b).unwrap();
        assert_eq!(
            store.doc_summary("charter").unwrap(),
            None,
            "a chunk after it"
        );

        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![4])
            .doc_summary("charter", vec![8]);
        store.commit(b).unwrap();
        assert_eq!(store.doc_summary("charter").unwrap(), Some(vec![8]));
        let mut b = WriteBatch::new();
        b.replace_doc("charter", vec![1, 3, 4]);
        store.commit(b).unwrap();
        assert_eq!(
            store.doc_summary("charter").unwrap(),
            None,
            "a compaction after it"
        );
    }

    #[test]
    fn second_open_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let _store = Store::create(&path).unwrap();
        assert!(matches!(Store::open(&path), Err(OpenError::Locked { .. })));
    }

    #[test]
    fn a_store_opened_to_read_only_reads_and_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let store = Store::create(&path).unwrap();
            let mut b = WriteBatch::new();
            b.doc_chunk("charter", vec![1, 2, 3])
                .meta("org_name", b"A".to_vec());
            store.commit(b).unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        {
            let store = Store::open_read_only(&path).unwrap();
            assert!(store.is_read_only());
            assert_eq!(store.doc_chunks("charter").unwrap(), vec![vec![1, 2, 3]]);
            assert_eq!(store.meta("org_name").unwrap(), Some(b"A".to_vec()));
            // Held open to write, it is locked to the others.
            assert!(matches!(Store::open(&path), Err(OpenError::Locked { .. })));
            let mut b = WriteBatch::new();
            b.doc_chunk("charter", vec![4]);
            let refused = store.commit(b.clone()).unwrap_err();
            assert!(refused.is_read_only(), "{refused}");
            assert!(store.commit_deferred(b).unwrap_err().is_read_only());
            assert!(store.flush().is_ok(), "nothing waits to be flushed");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before, "not a byte written");
        // Opened to write, the same write goes through.
        let store = Store::open(&path).unwrap();
        assert!(!store.is_read_only());
        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![4]);
        store.commit(b).unwrap();
        assert_eq!(store.doc_chunks("charter").unwrap().len(), 2);
    }

    #[test]
    fn a_store_left_open_by_a_crash_or_of_another_format_is_not_opened_to_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::create(&path).unwrap();
        let mut b = WriteBatch::new();
        b.doc_chunk("charter", vec![1]);
        store.commit(b).unwrap();
        // A copy taken while it is open is a store its process left by
        // crashing: opening it to write repairs it, reading alone cannot.
        let crashed = dir.path().join("crashed.redb");
        std::fs::copy(&path, &crashed).unwrap();
        assert!(Store::open_read_only(&crashed).is_err());
        let repaired = Store::open(&crashed).unwrap();
        assert_eq!(repaired.doc_chunks("charter").unwrap(), vec![vec![1]]);
        drop(repaired);
        assert!(
            Store::open_read_only(&crashed).is_ok(),
            "closed cleanly now"
        );
        drop(store);
        // Another format: refused here, explained by `open`.
        let mut b = WriteBatch::new();
        b.meta("format", 2u32.to_le_bytes().to_vec());
        Store::open(&path).unwrap().commit(b).unwrap();
        assert!(Store::open_read_only(&path).is_err());
        let garbage = dir.path().join("g.redb");
        std::fs::write(&garbage, b"not a database").unwrap();
        assert!(Store::open_read_only(&garbage).is_err());
    }
}
