//! The common wrapper around one automerge document: actor, genesis, commits,
//! incremental saves, and small typed readers for map records.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use crate::LoadError;
use crate::authority::{Members, Refusal, check_changes};
use crate::equivocation::Equivocation;
use crate::ops::Unreadable;

/// The shared documents of an alliance, and of its working groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DocKind {
    /// The charter: one collaborative text.
    Charter,
    /// The shared values and which organisations endorse them.
    Values,
    /// The library of procedures, job profiles, statutes...
    Library,
    /// Shared resources and their bookings: one part of the alliance's
    /// calendar (see [`Part`]).
    Calendar(Part),
    /// Proposals and votes.
    Proposals,
    /// Trainings and events with seats, and registrations.
    Events,
    /// What each organisation says of itself.
    Profiles,
    /// Payments and loans: the solidarity ledger.
    Ledger,
    /// One document of a working group: only its member organisations'
    /// nodes hold it.
    Group(GroupDoc),
}

/// A document of a working group: which group, which of its shelves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupDoc {
    /// The group's id (from its `GroupCreate` operation).
    pub group: [u8; 16],
    /// Which of its documents.
    pub shelf: Shelf,
}

/// The documents a working group has, each with the schema and rules of
/// the alliance's document of the same kind ([`Shelf::kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Shelf {
    /// Notes: one collaborative text, like the charter.
    Notes,
    /// Its library shelf.
    Library,
    /// Its resources and bookings.
    Calendar,
    /// Its proposals, decided by its member organisations.
    Proposals,
    /// Its trainings and events.
    Events,
    /// Its own book: fund requests it decides, loans and payments between
    /// its members, seen by them only.
    Ledger,
}

impl Shelf {
    /// Every shelf, in a fixed order.
    pub const ALL: [Shelf; 6] = [
        Self::Notes,
        Self::Library,
        Self::Calendar,
        Self::Proposals,
        Self::Events,
        Self::Ledger,
    ];

    /// The alliance document whose schema and rules it has.
    pub fn kind(self) -> DocKind {
        match self {
            Self::Notes => DocKind::Charter,
            Self::Library => DocKind::Library,
            Self::Calendar => DocKind::Calendar(Part::FIRST),
            Self::Proposals => DocKind::Proposals,
            Self::Events => DocKind::Events,
            Self::Ledger => DocKind::Ledger,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Notes => "notes",
            Self::Library => "library",
            Self::Calendar => "calendar",
            Self::Proposals => "proposals",
            Self::Events => "events",
            Self::Ledger => "ledger",
        }
    }
}

impl DocKind {
    /// Every document of the alliance itself, in a fixed order (a working
    /// group's documents are [`DocKind::Group`]).
    pub const ALL: [DocKind; 7 + Part::COUNT as usize] = [
        Self::Charter,
        Self::Values,
        Self::Library,
        Self::Calendar(Part(0)),
        Self::Calendar(Part(1)),
        Self::Calendar(Part(2)),
        Self::Calendar(Part(3)),
        Self::Calendar(Part(4)),
        Self::Calendar(Part(5)),
        Self::Calendar(Part(6)),
        Self::Calendar(Part(7)),
        Self::Proposals,
        Self::Events,
        Self::Profiles,
        Self::Ledger,
    ];

    /// A group's document.
    pub fn group(group: [u8; 16], shelf: Shelf) -> Self {
        Self::Group(GroupDoc { group, shelf })
    }

    /// The part of the alliance's calendar that holds the resource `id`
    /// (and its bookings).
    pub fn calendar_of(resource_id: &str) -> Self {
        Self::Calendar(Part::of(resource_id))
    }

    /// Whether it holds resources and bookings: a part of the alliance's
    /// calendar, or a group's calendar.
    pub fn is_calendar(self) -> bool {
        matches!(self.base(), Self::Calendar(_))
    }

    /// The alliance document whose schema and rules this one has (itself,
    /// unless it is a group's).
    pub fn base(self) -> DocKind {
        match self {
            Self::Group(g) => g.shelf.kind(),
            other => other,
        }
    }

    /// The group it belongs to, if it is a group's.
    pub fn group_id(self) -> Option<[u8; 16]> {
        match self {
            Self::Group(g) => Some(g.group),
            _ => None,
        }
    }

    /// The name used in the store, on the wire and on the command line
    /// (`group/<32 hex digits>/<shelf>` for a group's).
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        let name = match self {
            Self::Charter => "charter",
            Self::Values => "values",
            Self::Library => "library",
            Self::Calendar(p) => return format!("calendar/{}", p.0).into(),
            Self::Proposals => "proposals",
            Self::Events => "events",
            Self::Profiles => "profiles",
            Self::Ledger => "ledger",
            Self::Group(g) => {
                let id = hex::encode(g.group);
                return format!("group/{id}/{}", g.shelf.name()).into();
            }
        };
        name.into()
    }

    /// The inverse of [`DocKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        if let Some(rest) = name.strip_prefix("group/") {
            let (id, shelf) = rest.split_once('/')?;
            let shelf = Shelf::ALL.into_iter().find(|s| s.name() == shelf)?;
            if id.len() != 32 {
                return None;
            }
            let mut group = [0u8; 16];
            for (i, b) in group.iter_mut().enumerate() {
                *b = u8::from_str_radix(id.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            return Some(Self::group(group, shelf));
        }
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The root objects every node creates identically (see [`GENESIS_ACTOR`]).
    fn root_objects(self) -> &'static [(&'static str, ObjType)] {
        match self.base() {
            Self::Charter => &[("text", ObjType::Text)],
            Self::Values => &[("values", ObjType::Map)],
            Self::Library => &[("entries", ObjType::Map)],
            Self::Calendar(_) => &[("resources", ObjType::Map), ("bookings", ObjType::Map)],
            Self::Proposals => &[("proposals", ObjType::Map)],
            Self::Events => &[("events", ObjType::Map)],
            Self::Profiles => &[("orgs", ObjType::Map)],
            Self::Ledger | Self::Group(_) => &[("entries", ObjType::Map)],
        }
    }
}

/// One of the [`Part::COUNT`] documents the alliance's calendar is kept in.
///
/// A resource and all its bookings live in the part its id names
/// ([`Part::of`]), so that a command about one resource loads an eighth of
/// the bookings, and a booking's rules (overlaps, quotas, the owner's
/// decisions) never look beyond one document. Every part starts from the
/// same genesis (the calendar's root objects), so the union of their
/// changes is one automerge document holding the whole calendar (what
/// `export calendar` writes). More parts would load less each, at the
/// price of an attestation per part and booking device on the wire (the
/// benchmark prices it under scenario 1b).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Part(u8);

impl Part {
    /// How many parts the calendar has.
    pub const COUNT: u8 = 8;

    /// The first part (the one a group's single calendar document starts
    /// like).
    pub const FIRST: Part = Part(0);

    /// Every part, in order.
    pub fn all() -> impl Iterator<Item = Part> {
        (0..Self::COUNT).map(Part)
    }

    /// The part that holds the resource `id`: the 64-bit FNV-1a hash of
    /// its bytes, modulo [`Part::COUNT`]. Written out rather than taken
    /// from a hashing crate because every node must compute the same part
    /// for ever, whatever version of a crate it was built with.
    pub fn of(id: &str) -> Part {
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Part((hash % u64::from(Self::COUNT)) as u8)
    }

    /// Its number, from 0.
    pub fn index(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Part {
    type Error = String;

    fn try_from(n: u8) -> Result<Self, Self::Error> {
        if n < Self::COUNT {
            Ok(Part(n))
        } else {
            Err(format!("no calendar part {n}"))
        }
    }
}

impl From<Part> for u8 {
    fn from(p: Part) -> u8 {
        p.0
    }
}

impl std::fmt::Display for DocKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The actor of the genesis change of every document.
///
/// Every node creates the root objects of each document in one change made by
/// this actor at time 0. The change is byte-identical everywhere, so it has the
/// same hash everywhere and automerge merges it as one: two nodes that start
/// apart never end up with two competing `text` objects.
pub const GENESIS_ACTOR: &[u8; 16] = b"entraide-genesis";

/// How many bytes each opening of a home draws for its automerge actor.
pub const EPOCH_LEN: usize = 8;

/// The device that wrote under an automerge actor. A device writes under
/// its 32-byte key followed by [`EPOCH_LEN`] bytes drawn each time its home
/// is opened ([`SharedDoc::write_as`]): two copies of one home (a backup
/// restored, a folder copied to a new laptop while the old one still runs)
/// then never write two different changes under the same actor and
/// sequence number, which automerge cannot hold together and which would
/// split the alliance. A bare 32-byte actor (homes before epochs) is the
/// device itself. `None`: not a device's actor.
pub fn device_of_actor(actor: &[u8]) -> Option<[u8; 32]> {
    match actor.len() {
        32 => actor.try_into().ok(),
        n if n == 32 + EPOCH_LEN => actor[..32].try_into().ok(),
        _ => None,
    }
}

/// [`device_of_actor`] as lowercase hex (empty for an actor that is no
/// device's): how documents name a device.
pub fn device_hex_of_actor(actor: &ActorId) -> String {
    device_of_actor(actor.to_bytes())
        .map(hex::encode)
        .unwrap_or_default()
}

/// Who makes an edit: the device (its ed25519 public key) and the
/// organisation it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    /// The device's public key.
    pub device: [u8; 32],
    /// The organisation's id.
    pub org: String,
}

/// A generation no document had before (see `SharedDoc::generation`).
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The last bundle a document applied (see `SharedDoc::last_applied`).
#[derive(Debug)]
struct LastApplied {
    before: Vec<ChangeHash>,
    added: Vec<ChangeHash>,
    after: Vec<ChangeHash>,
}

/// One automerge document with its kind and this device's actor.
#[derive(Debug)]
pub struct SharedDoc {
    kind: DocKind,
    device: [u8; 32],
    /// The actor this opening writes under (see [`device_of_actor`]).
    actor: Vec<u8>,
    /// Boxed: an `AutoCommit` is a few kilobytes, and a node holds a dozen or more
    /// documents inside futures that run on small thread stacks.
    doc: Box<AutoCommit>,
    /// The version vector as of `vv_heads`, updated lazily.
    vv: VersionVector,
    vv_heads: Vec<ChangeHash>,
    /// The heads the store holds (everything in their past is saved).
    saved: Vec<ChangeHash>,
    /// This device's latest change, until the caller takes it.
    last_local: Option<ChangeHash>,
    /// Changes received since `saved`, as they came (the heads after them,
    /// their encoded bytes): stored as they are, not encoded again.
    received_raw: Option<(Vec<ChangeHash>, Vec<u8>)>,
    /// The changes this opening received or checked lately (see [`Recent`]).
    recent: Recent,
    /// The last bundle applied: the heads before it, the changes it added
    /// and the heads after (what a reader that was up to date before it
    /// must read again, without asking automerge).
    last_applied: Option<LastApplied>,
    /// Changes with every call that may change the content, and is never
    /// the same for two documents: what a reader read at one generation
    /// still holds while it lasts.
    generation: u64,
}

/// Whether the version vector `theirs` names nothing but the genesis.
pub fn holds_nothing(theirs: &VersionVector) -> bool {
    theirs
        .iter()
        .all(|(actor, _)| actor.as_slice() == GENESIS_ACTOR.as_slice())
}

impl SharedDoc {
    /// A document holding only its genesis change, edited as `device`.
    pub fn new(kind: DocKind, device: [u8; 32]) -> Self {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
        for (key, obj_type) in kind.root_objects() {
            // Cannot fail: ROOT is a map and the key is a plain string.
            let _ = doc.put_object(ROOT, *key, *obj_type);
        }
        doc.commit_with(CommitOptions::default().with_time(0));
        doc.set_actor(ActorId::from(device));
        // The genesis is recreated on every load: it never needs saving.
        let saved = doc.get_heads();
        Self {
            kind,
            device,
            actor: device.to_vec(),
            doc: Box::new(doc),
            vv: VersionVector::new(),
            vv_heads: Vec::new(),
            saved,
            last_local: None,
            received_raw: None,
            recent: Recent::default(),
            last_applied: None,
            generation: next_generation(),
        }
    }

    /// Loads a document from the chunks the store holds (a full save followed
    /// by incremental saves, in order).
    pub fn load<'a>(
        kind: DocKind,
        device: [u8; 32],
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, LoadError> {
        let mut chunks = chunks.into_iter();
        let mut this = Self::new(kind, device);
        let genesis = this.doc.get_heads();
        if let Some(first) = chunks.next() {
            // A full save loads column by column, far faster than replaying
            // its changes; it must hold the genesis like every document.
            match Self::from_full_save(kind, device, first, &genesis) {
                Some(full) => this = full,
                None => this.load_stored(first)?,
            }
        }
        for chunk in chunks {
            this.load_stored(chunk)?;
        }
        this.saved = this.doc.get_heads();
        Ok(this)
    }

    fn from_full_save(
        kind: DocKind,
        device: [u8; 32],
        bytes: &[u8],
        genesis: &[ChangeHash],
    ) -> Option<Self> {
        let mut doc =
            unpanicked(kind, || AutoCommit::load(bytes).map_err(|e| e.to_string())).ok()?;
        doc.get_change_meta_by_hash(&genesis[0])?;
        doc.set_actor(ActorId::from(device));
        let saved = doc.get_heads();
        Some(Self {
            kind,
            device,
            actor: device.to_vec(),
            doc: Box::new(doc),
            vv: VersionVector::new(),
            vv_heads: Vec::new(),
            saved,
            last_local: None,
            received_raw: None,
            recent: Recent::default(),
            last_applied: None,
            generation: next_generation(),
        })
    }

    /// Whether this document holds nothing but its genesis.
    pub fn is_genesis_only(&mut self) -> bool {
        Self::are_genesis_heads(self.kind, &self.doc.get_heads())
    }

    /// Whether `heads` are those of a document of this kind that holds
    /// nothing but its genesis.
    pub fn are_genesis_heads(kind: DocKind, heads: &[ChangeHash]) -> bool {
        heads == [Self::genesis_hash(kind)]
    }

    /// The hash of the genesis change of a document of this kind.
    pub fn genesis_hash(kind: DocKind) -> ChangeHash {
        static HASHES: std::sync::OnceLock<Vec<ChangeHash>> = std::sync::OnceLock::new();
        let hashes = HASHES.get_or_init(|| {
            DocKind::ALL
                .into_iter()
                .map(|k| Self::new(k, [0; 32]).doc.get_heads()[0])
                .collect()
        });
        // A group's documents start like the alliance's of the same kind.
        let base = kind.base();
        let index = DocKind::ALL.iter().position(|k| *k == base).unwrap_or(0);
        hashes[index]
    }

    /// Which document this is.
    pub fn kind(&self) -> DocKind {
        self.kind
    }

    /// The current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The current heads as lowercase hex strings.
    pub fn heads_hex(&mut self) -> Vec<String> {
        self.heads().iter().map(|h| h.to_string()).collect()
    }

    /// The changes made or received since the last call, as one incremental
    /// chunk, or `None` when there are none.
    pub fn take_unsaved(&mut self) -> Option<Vec<u8>> {
        let heads = self.doc.get_heads();
        let received = self.received_raw.take();
        if heads == self.saved {
            return None;
        }
        if let Some((after, bytes)) = received
            && after == heads
        {
            self.saved = heads;
            return Some(bytes);
        }
        // Nothing stored yet (the genesis never is): store a full save, so
        // that the document's first chunk loads fast.
        let nothing_stored = Self::are_genesis_heads(self.kind, &self.saved);
        let bytes = if nothing_stored {
            self.doc.save()
        } else {
            let since: Vec<ChangeHash> = self
                .doc
                .get_changes_meta(&self.saved)
                .into_iter()
                .map(|m| m.hash)
                .collect();
            match self.recent.chunk_of(&since) {
                Some(bytes) => bytes,
                None => self.doc.save_after(&self.saved),
            }
        };
        self.saved = heads;
        (!bytes.is_empty()).then_some(bytes)
    }

    /// Marks everything as saved (after the caller stored a full save).
    pub fn mark_saved(&mut self) {
        self.saved = self.doc.get_heads();
    }

    /// The whole document in automerge's standard binary format.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes not in the causal past of `heads`, compressed.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Whether this document holds the change `hash`.
    pub fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// Metadata of every change not in the causal past of `heads`.
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<ChangeSummary> {
        self.doc
            .get_changes_meta(heads)
            .iter()
            .map(ChangeSummary::of_meta)
            .collect()
    }

    /// Writes from now on under this device's key followed by `epoch`
    /// (drawn at each opening of the home; see [`device_of_actor`]).
    pub fn write_as(&mut self, epoch: [u8; EPOCH_LEN]) {
        let mut actor = self.device.to_vec();
        actor.extend_from_slice(&epoch);
        self.doc.set_actor(ActorId::from(actor.clone()));
        self.actor = actor;
    }

    /// The device this node writes as.
    pub fn device(&self) -> [u8; 32] {
        self.device
    }

    /// The actor this opening writes under.
    pub fn actor(&self) -> &[u8] {
        &self.actor
    }

    /// A copy of this document to try incoming changes on before accepting them.
    pub fn fork(&mut self) -> Self {
        Self {
            kind: self.kind,
            device: self.device,
            actor: self.actor.clone(),
            doc: Box::new(
                self.doc
                    .fork()
                    .with_actor(ActorId::from(self.actor.clone())),
            ),
            vv: self.vv.clone(),
            vv_heads: self.vv_heads.clone(),
            saved: self.saved.clone(),
            last_local: None,
            received_raw: None,
            recent: Recent::default(),
            last_applied: None,
            generation: next_generation(),
        }
    }

    /// Applies a chunk of changes (a save, or `save_after` output).
    /// Loads one stored chunk: changes one after another, or a whole save.
    /// A chunk must parse to its end: automerge's incremental load keeps
    /// what parses and drops the rest with a log line, which would show a
    /// damaged document shorter than it is (an empty charter) for the next
    /// write to build on.
    fn load_stored(&mut self, bytes: &[u8]) -> Result<(), LoadError> {
        let kind = self.kind;
        if let Some(changes) = split_changes(bytes) {
            self.generation = next_generation();
            let doc = &mut self.doc;
            let applied = unpanicked(kind, || {
                doc.apply_changes(changes).map_err(|e| e.to_string())
            });
            self.forget_patches();
            return applied;
        }
        // A whole save stands on its own: it must load alone, strictly.
        unpanicked(kind, || {
            automerge::Automerge::load(bytes)
                .map(drop)
                .map_err(|e| format!("a stored part of it is damaged ({e})"))
        })?;
        self.load_incremental(bytes)
    }

    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<(), LoadError> {
        self.generation = next_generation();
        let doc = &mut self.doc;
        let loaded = unpanicked(self.kind, || {
            doc.load_incremental(bytes)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        self.forget_patches();
        loaded
    }

    /// Drops what automerge logged for patches. automerge 0.12 logs every
    /// operation it applies from outside into the document's patch log even
    /// when that log is inactive, and never drops it: the log grew with
    /// every received change, and each device's first change made automerge
    /// rewrite all of it (5 % of the samples of benchmark scenario 4 at 64
    /// nodes). This crate asks for no patches.
    fn forget_patches(&mut self) {
        self.doc.reset_diff_cursor();
    }

    /// Several documents of one kind as one automerge document of their
    /// content (their histories cannot be merged: automerge numbers each
    /// actor's changes per document, so the same device's first change in
    /// two parts would clash). Each root map's entries are copied, in the
    /// order given; what is not a root map (a text) is not copied. For
    /// `export calendar`: the parts of the calendar as one document.
    pub fn content_of(docs: &mut [&mut SharedDoc]) -> Result<Vec<u8>, LoadError> {
        let Some(kind) = docs.first().map(|d| d.kind) else {
            return Ok(Vec::new());
        };
        let mut out = SharedDoc::new(kind, [0; 32]);
        let failed = |e: automerge::AutomergeError| LoadError {
            doc: kind,
            reason: e.to_string(),
        };
        for doc in docs.iter_mut() {
            for (key, obj_type) in kind.root_objects() {
                if *obj_type != ObjType::Map {
                    continue;
                }
                let (from, to) = (doc.root_obj(key), out.root_obj(key));
                copy_map(&doc.doc, &from, &mut out.doc, &to).map_err(failed)?;
            }
        }
        out.doc.commit_with(CommitOptions::default().with_time(0));
        Ok(out.doc.save())
    }

    /// Merges another copy of this document into this one.
    pub fn merge(&mut self, other: &mut SharedDoc) -> Result<(), LoadError> {
        self.generation = next_generation();
        let merged = self
            .doc
            .merge(&mut other.doc)
            .map(|_| ())
            .map_err(|e| LoadError {
                doc: self.kind,
                reason: e.to_string(),
            });
        self.forget_patches();
        merged
    }

    /// For each actor, the highest sequence number this document holds.
    ///
    /// An actor's changes always arrive in sequence (each depends on the
    /// previous one), so this vector describes exactly which changes a
    /// document holds: the compact summary peers exchange.
    pub fn version_vector(&mut self) -> VersionVector {
        let heads = self.doc.get_heads();
        if heads != self.vv_heads {
            for change in self.doc.get_changes_meta(&self.vv_heads) {
                let seq = self.vv.entry(change.actor.to_bytes().to_vec()).or_default();
                *seq = (*seq).max(change.seq);
            }
            self.vv_heads = heads;
        }
        self.vv.clone()
    }

    /// Whether a peer whose version vector is `theirs` holds nothing of
    /// this document but its genesis while this node holds more, every
    /// change of it stored: what the store holds of the document is then
    /// what the peer lacks, and can be sent as it is (building a whole save
    /// for a newcomer cost the inviter its time and 10 MiB at its peak,
    /// benchmark scenario 8).
    pub fn stored_is_all_they_lack(&mut self, theirs: &VersionVector) -> bool {
        holds_nothing(theirs) && !self.is_genesis_only() && self.doc.get_heads() == self.saved
    }

    /// The changes a peer whose version vector is `theirs` lacks, as one
    /// compressed chunk (a whole save when it holds nothing but the genesis),
    /// or `None` when it lacks nothing.
    pub fn bundle_for(&mut self, theirs: &VersionVector) -> Option<Vec<u8>> {
        let mine = self.version_vector();
        let lacks = mine
            .iter()
            .any(|(actor, seq)| theirs.get(actor).copied().unwrap_or(0) < *seq);
        if !lacks {
            return None;
        }
        if holds_nothing(theirs) {
            return Some(self.doc.save());
        }
        // The changes they hold that border on those they lack: walk back
        // from our heads through the changes they lack only, so that the
        // cost follows what is sent, not the length of the history.
        let held = |actor: &[u8], seq: u64| theirs.get(actor).is_some_and(|s| seq <= *s);
        let mut border: std::collections::BTreeSet<ChangeHash> = std::collections::BTreeSet::new();
        let mut lacked: Vec<ChangeHash> = Vec::new();
        let mut seen: std::collections::HashSet<ChangeHash> = std::collections::HashSet::new();
        let mut stack = self.doc.get_heads();
        while let Some(hash) = stack.pop() {
            if !seen.insert(hash) {
                continue;
            }
            // A kept change answers without asking automerge.
            let (theirs_too, deps) = match self.recent.get(&hash) {
                Some(change) => (
                    held(change.actor_id().to_bytes(), change.seq()),
                    change.deps().to_vec(),
                ),
                None => match self.doc.get_change_meta_by_hash(&hash) {
                    Some(meta) => (held(meta.actor.to_bytes(), meta.seq), meta.deps),
                    None => continue,
                },
            };
            if theirs_too {
                border.insert(hash);
            } else {
                lacked.push(hash);
                stack.extend(deps);
            }
        }
        // What they lack is usually what this node received or made
        // lately: sent as it came, not rebuilt by automerge.
        if let Some(bytes) = self.recent.chunk_of(&lacked) {
            return (!bytes.is_empty()).then_some(bytes);
        }
        // Everything not in the causal past of the border is what they lack.
        let heads: Vec<ChangeHash> = border.into_iter().collect();
        let bytes = self.doc.save_after(&heads);
        (!bytes.is_empty()).then_some(bytes)
    }

    /// The changes not in the causal past of those of `their_heads` this
    /// document holds: what a peer whose heads are `their_heads` may lack
    /// when its version vector cannot say (it holds a change this document
    /// does not, under an actor and sequence number this document has under
    /// another change: an equivocation). `None` when there is nothing.
    pub fn bundle_after_heads(&mut self, their_heads: &[ChangeHash]) -> Option<Vec<u8>> {
        let known: Vec<ChangeHash> = their_heads
            .iter()
            .copied()
            .filter(|h| self.doc.get_change_meta_by_hash(h).is_some())
            .collect();
        let bytes = self.doc.save_after(&known);
        (!bytes.is_empty()).then_some(bytes)
    }

    /// Whether this document holds the change `hash`.
    pub fn holds(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// Applies a chunk received from a peer only if `verify` accepts every
    /// change it adds (who signed it) and the authority check accepts what
    /// each one writes (see [`crate::authority`]); returns the added
    /// changes. On refusal, nothing changes.
    ///
    /// A chunk of separate changes (what `save_after` makes, the usual
    /// bundle between members that already share a history) is checked
    /// before it touches the document, so the cost follows the size of the
    /// bundle; from 256 changes on (a catch-up), it is checked on
    /// a second core while automerge applies it, and a refusal puts back a
    /// copy of the document as it was. Anything else (a whole save) is
    /// tried on a copy first.
    pub fn apply_verified<E: Send>(
        &mut self,
        bytes: &[u8],
        members: &dyn Members,
        verify: impl FnOnce(&[ChangeSummary]) -> Result<(), E> + Send,
    ) -> Result<Vec<ChangeSummary>, ApplyError<E>> {
        self.apply_prepared(bytes, members, verify, None)
    }

    /// [`Self::apply_verified`], with the load and the reading of a whole
    /// save done ahead by [`Self::prepare_saves`]: used only when it was
    /// prepared from these very bytes, for this document as it still is
    /// (holding nothing but its genesis), and with the same `members`
    /// (the caller's to ensure); otherwise the work is done here. Either
    /// way, the same checks judge the same changes.
    pub fn apply_prepared<E: Send>(
        &mut self,
        bytes: &[u8],
        members: &dyn Members,
        verify: impl FnOnce(&[ChangeSummary]) -> Result<(), E> + Send,
        prepared: Option<PreparedSave>,
    ) -> Result<Vec<ChangeSummary>, ApplyError<E>> {
        self.generation = next_generation();
        let before = self.heads();
        let genesis_only = self.is_genesis_only();
        // Anything but a whole save to a document that holds nothing yet
        // is taken change by change, so that every check (equivocation
        // too) sees each change before automerge does.
        if !genesis_only && let Some(changes) = crate::equivocation::changes_in(bytes) {
            return self.apply_changes_verified(changes, members, verify);
        }
        // A whole save to a document that holds nothing yet (a newcomer's
        // first sync): its changes are read from its columns, hashed and
        // checked on a second core while automerge loads it (see
        // [`crate::save_ops`] and [`Self::prepare_saves`]), unless that was
        // done ahead.
        let mut read = None;
        let prepared = prepared.filter(|p| genesis_only && p.is_for(self, bytes));
        let full = if let Some(prepared) = prepared {
            read = Some(prepared.read);
            prepared.full
        } else if genesis_only && crate::save_ops::is_document_chunk(bytes) {
            // The same work as prepared ahead, for this save alone.
            match Self::prepare_saves(&[(self.kind, bytes)], self.device, members).pop() {
                Some(Some(prepared)) => {
                    read = Some(prepared.read);
                    prepared.full
                }
                _ => {
                    read = Some(Err(Unreadable("the reading failed")));
                    None
                }
            }
        } else if genesis_only {
            Self::from_full_save(self.kind, self.device, bytes, &before)
        } else {
            None
        };
        if read.is_some() && full.is_none() {
            // automerge refused the save, or it is another document's.
            return Err(ApplyError::Load(LoadError {
                doc: self.kind,
                reason: "a whole save that does not load as this document".into(),
            }));
        }
        let mut trial = match full {
            // A whole save received by a document that holds nothing yet is
            // stored as it came (it loaded, so it is a valid save): saving
            // it again cost a new member as much as loading it.
            Some(mut full) if before == self.saved => {
                full.received_raw = Some((full.doc.get_heads(), bytes.to_vec()));
                full.doc.set_actor(ActorId::from(self.actor.clone()));
                full.actor = self.actor.clone();
                full
            }
            Some(mut full) => {
                full.doc.set_actor(ActorId::from(self.actor.clone()));
                full.actor = self.actor.clone();
                full
            }
            None => {
                let mut trial = self.fork();
                trial.load_incremental(bytes).map_err(ApplyError::Load)?;
                trial
            }
        };
        if !trial.missing_deps(&[]).is_empty() {
            return Err(ApplyError::MissingDeps);
        }
        let kind = self.kind;
        let Some(read) = read else {
            return self.check_loaded(trial, &before, members, verify);
        };
        let read = match read {
            Ok(read) => read,
            Err(unreadable) => {
                return Err(ApplyError::Load(LoadError {
                    doc: self.kind,
                    reason: unreadable.to_string(),
                }));
            }
        };
        // Changes in chunks after the save (made since it) are checked as
        // changes.
        let later = if read.chunk_len < bytes.len() {
            let heads: Vec<ChangeHash> = read.heads.iter().copied().map(ChangeHash).collect();
            trial.doc.get_changes(&heads)
        } else {
            Vec::new()
        };
        let later_refused = check_changes(kind, &trial.doc, &later, members).err();
        let mut added = read.summaries;
        added.extend(later.iter().map(ChangeSummary::of));
        let refused = read.refused.or(later_refused);
        if added.is_empty() {
            return Ok(added);
        }
        verify(&added).map_err(ApplyError::Refused)?;
        if let Some(refusal) = refused {
            return Err(ApplyError::Unauthorized(refusal));
        }
        self.take_trial(trial, &added);
        Ok(added)
    }

    /// Checks every change `trial` holds beyond `before` (what is not a
    /// whole save read from its columns), then puts it in this document's
    /// place.
    fn check_loaded<E>(
        &mut self,
        mut trial: SharedDoc,
        before: &[ChangeHash],
        members: &dyn Members,
        verify: impl FnOnce(&[ChangeSummary]) -> Result<(), E>,
    ) -> Result<Vec<ChangeSummary>, ApplyError<E>> {
        let metas = trial.doc.document().get_changes_meta(before);
        let added: Vec<ChangeSummary> = metas.iter().map(ChangeSummary::of_meta).collect();
        drop(metas);
        if added.is_empty() {
            return Ok(added);
        }
        verify(&added).map_err(ApplyError::Refused)?;
        let genesis = Self::genesis_hash(self.kind);
        let changes: Vec<automerge::Change> = trial
            .doc
            .get_changes(before)
            .into_iter()
            .filter(|c| c.hash() != genesis)
            .collect();
        check_changes(self.kind, &trial.doc, &changes, members)
            .map_err(ApplyError::Unauthorized)?;
        self.take_trial(trial, &added);
        Ok(added)
    }

    /// Puts `trial` (this document with `added` applied) in this one's
    /// place, its version vector this one's with `added` (asking automerge
    /// for the metadata of every change again cost a whole save as much as
    /// a tenth of its load).
    fn take_trial(&mut self, mut trial: SharedDoc, added: &[ChangeSummary]) {
        trial.vv = advanced(self.version_vector(), added);
        trial.vv_heads = trial.doc.get_heads();
        trial.saved = self.saved.clone();
        *self = trial;
        self.generation = next_generation();
    }

    fn apply_changes_verified<E: Send>(
        &mut self,
        changes: Vec<automerge::Change>,
        members: &dyn Members,
        verify: impl FnOnce(&[ChangeSummary]) -> Result<(), E> + Send,
    ) -> Result<Vec<ChangeSummary>, ApplyError<E>> {
        let mut seen = rustc_hash::FxHashSet::default();
        seen.reserve(changes.len());
        // A change past what this document holds of its actor is new
        // without asking automerge (most of a catch-up); one within it is
        // new only if its hash is not held (else an equivocation, below).
        let held = self.version_vector();
        let mut new = changes;
        // Each run of one actor's changes looks its actor up once.
        let mut run: Option<(Vec<u8>, Option<u64>)> = None;
        new.retain(|c| {
            let actor = c.actor_id().to_bytes();
            let top = match &run {
                Some((a, top)) if a.as_slice() == actor => *top,
                _ => run.insert((actor.to_vec(), held.get(actor).copied())).1,
            };
            let beyond = top.is_none_or(|top| c.seq() > top);
            seen.insert(c.hash()) && (beyond || !self.has_change(&c.hash()))
        });
        if new.is_empty() {
            return Ok(Vec::new());
        }
        for c in &new {
            if c.deps()
                .iter()
                .any(|d| !seen.contains(d) && !self.has_change(d))
            {
                return Err(ApplyError::MissingDeps);
            }
        }
        let unsaved_before = self.doc.get_heads() != self.saved;
        let kind = self.kind;
        // Everything the node checks of the bundle before it may stay: who
        // signed each change (`verify`) and what each one writes. Then the
        // bytes to store, as they came, when nothing else is unsaved.
        let checks = |new: &[automerge::Change], doc: &AutoCommit| {
            let added: Vec<ChangeSummary> = new.iter().map(ChangeSummary::of).collect();
            verify(&added).map_err(ApplyError::Refused)?;
            check_changes(kind, doc, new, members).map_err(ApplyError::Unauthorized)?;
            let raw: Vec<u8> = if unsaved_before {
                Vec::new()
            } else {
                new.iter()
                    .flat_map(|c| c.raw_bytes().iter().copied())
                    .collect()
            };
            Ok((added, raw))
        };
        let equivocation = self.check_no_equivocation(&new);
        let (added, raw, kept) = if new.len() < CHECK_BESIDE_APPLY_FROM || equivocation.is_err() {
            // An unsigned change is refused as such before anything it would
            // equivocate with is looked at.
            let (added, raw) = match (checks(&new, &self.doc), equivocation) {
                (Err(refused @ ApplyError::Refused(_)), _) => return Err(refused),
                (_, Err(e)) => return Err(ApplyError::Equivocation(e)),
                (checked, Ok(())) => checked?,
            };
            let doc = &mut self.doc;
            // automerge may have applied part of the changes: the caller
            // must reload the document from what it stored.
            let owned = new.clone();
            let applied = unpanicked(kind, || doc.apply_changes(owned).map_err(|e| e.to_string()));
            self.forget_patches();
            applied.map_err(ApplyError::Damaged)?;
            (added, raw, new)
        } else {
            // A large bundle (a catch-up): the checks read a copy of the
            // document as it was while automerge applies the changes on the
            // other core, and a refusal puts that copy back, so nothing of a
            // refused bundle stays. The copy shares automerge's columns until
            // written (`fork`: 5 ms for the 260,000-change editing trace).
            let mut before = self.doc.fork();
            before.set_actor(ActorId::from(self.actor.clone()));
            let doc = &mut self.doc;
            let limit = self.recent.limit;
            // automerge takes the changes it applies by value, in batches of
            // at most `APPLY_BATCH` (measured: one batch of tens of thousands
            // of changes is faster than several, several batches of hundreds
            // of thousands faster than one). The
            // checking thread, which takes the bundle, copies them (0.6 µs
            // a change) and hands the copies over while automerge reads
            // them ([`Handed`]), then checks the originals and gives back
            // only the last ones (kept in `Recent`), dropping the rest
            // itself: nothing of the copying or the dropping waits on this
            // core.
            let total = new.len();
            let (checked, applied) = std::thread::scope(|s| {
                let (slices, handed) = Handed::channel();
                let before = &before;
                let checking = s.spawn(move || {
                    let mut new = new;
                    for slice in new.chunks(HAND_OVER) {
                        if slices.send(slice.to_vec()).is_err() {
                            break;
                        }
                    }
                    drop(slices);
                    let checked = checks(&new, before);
                    let kept = new.split_off(new.len() - Recent::fitting(&new, limit));
                    checked.map(|(added, raw)| (added, raw, kept))
                });
                // Without every change (the thread failed), the checks'
                // failure below puts the document back.
                let mut applied = Ok(());
                for _ in (0..total).step_by(APPLY_BATCH) {
                    if applied.is_ok() {
                        let batch = handed.clone().take(APPLY_BATCH);
                        applied = unpanicked(kind, || {
                            doc.apply_changes(batch).map_err(|e| e.to_string())
                        });
                    }
                }
                (checking.join(), applied)
            });
            self.forget_patches();
            let checked = checked.unwrap_or_else(|_| {
                Err(ApplyError::Damaged(LoadError {
                    doc: kind,
                    reason: "the checks failed on these changes".into(),
                }))
            });
            match checked {
                Err(refused) => {
                    *self.doc = before;
                    return Err(refused);
                }
                Ok(checked) => {
                    applied.map_err(ApplyError::Damaged)?;
                    checked
                }
            }
        };
        // Everything unsaved is these changes: store them as they came.
        let heads = self.doc.get_heads();
        if !unsaved_before {
            self.received_raw = Some((heads.clone(), raw));
        }
        // `held` was the version vector at the heads before the bundle: it
        // moves by the added changes alone.
        let vv = advanced(held, &added);
        self.last_applied = Some(LastApplied {
            before: std::mem::replace(&mut self.vv_heads, heads.clone()),
            added: added.iter().map(|c| c.hash).collect(),
            after: heads,
        });
        self.vv = vv;
        self.recent.keep_last(kept);
        Ok(added)
    }

    /// Finds a signed change that reuses an actor and sequence number this
    /// document (or the same bundle) already has under another change: the
    /// device wrote two histories (equivocation; an honest device never
    /// does, each opening of its home writing under an actor of its own).
    /// automerge can hold only one of the two: the node sets the actor's
    /// fork aside on every side (see [`crate::equivocation`]).
    fn check_no_equivocation(&mut self, new: &[automerge::Change]) -> Result<(), Equivocation> {
        let held = self.version_vector();
        // Per actor: the highest sequence number met in `new` so far, and
        // whether its changes came in rising order. Only an actor whose
        // numbers go back (rare: a bundle lists each actor's changes in
        // order) needs each number remembered.
        let mut rising: rustc_hash::FxHashMap<&[u8], u64> = Default::default();
        let mut seen: rustc_hash::FxHashMap<(&[u8], u64), ChangeHash> = Default::default();
        let mut tangled = false;
        // A bundle holds runs of one actor's changes: each run's actor is
        // looked up once.
        let mut run: Option<(&[u8], u64)> = None;
        for c in new {
            let actor = c.actor_id().to_bytes();
            let last = match &mut run {
                Some((a, last)) if *a == actor => last,
                _ => {
                    if let Some((a, last)) = run {
                        rising.insert(a, last);
                    }
                    &mut run
                        .insert((actor, rising.get(actor).copied().unwrap_or(0)))
                        .1
                }
            };
            tangled |= c.seq() <= *last;
            *last = (*last).max(c.seq());
        }
        let mut top: Option<(&[u8], Option<u64>)> = None;
        for c in new {
            let actor = c.actor_id().to_bytes();
            let held_top = match top {
                Some((a, t)) if a == actor => t,
                _ => top.insert((actor, held.get(actor).copied())).1,
            };
            let other = if held_top.is_some_and(|top| c.seq() <= top) {
                self.change_at(actor, c.seq())
            } else if tangled {
                seen.insert((actor, c.seq()), c.hash())
                    .filter(|other| *other != c.hash())
            } else {
                None
            };
            if let Some(held) = other {
                return Err(Equivocation {
                    actor: actor.to_vec(),
                    seq: c.seq(),
                    held,
                    offered: c.hash(),
                });
            }
        }
        Ok(())
    }

    /// Hashes of changes that `heads` depend on and this document lacks.
    pub fn missing_deps(&mut self, heads: &[ChangeHash]) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(heads)
    }

    pub(crate) fn read(&self) -> &AutoCommit {
        &self.doc
    }

    pub(crate) fn write(&mut self) -> &mut AutoCommit {
        self.generation = next_generation();
        &mut self.doc
    }

    /// See the `generation` field.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Where each operation of the changes since `heads` writes: the map
    /// keys from the document's root to the key it writes (to its object,
    /// for a list), empty when that cannot be told. `None` when there are
    /// more than `max` such changes.
    pub(crate) fn paths_written_since(
        &mut self,
        heads: &[ChangeHash],
        max: usize,
    ) -> Option<Vec<Vec<String>>> {
        let hashes: Vec<ChangeHash> = match &self.last_applied {
            Some(last) if last.before == heads && last.after == self.doc.get_heads() => {
                last.added.clone()
            }
            _ => self
                .doc
                .get_changes_meta(heads)
                .into_iter()
                .map(|m| m.hash)
                .collect(),
        };
        if hashes.len() > max {
            return None;
        }
        if let Some(changes) = self.recent.all(&hashes) {
            return Some(crate::authority::paths_written(&self.doc, changes));
        }
        let changes = self.doc.get_changes(heads);
        Some(crate::authority::paths_written(&self.doc, &changes))
    }

    /// The sequence number of the change `hash` among its actor's changes,
    /// if held.
    pub fn change_seq(&mut self, hash: &ChangeHash) -> Option<u64> {
        self.doc.get_change_meta_by_hash(hash).map(|m| m.seq)
    }

    /// Makes an empty change on top of every change held, stamped with
    /// `now_ms`: this device's signature over it then covers everything the
    /// document holds (see the node's authorship check).
    pub fn vouch(&mut self, now_ms: i64) {
        self.generation = next_generation();
        let options = CommitOptions::default()
            .with_time(now_ms)
            .with_message("vouch");
        self.last_local = Some(self.doc.empty_change(options));
    }

    /// Commits the pending operations as one change stamped with `now_ms`.
    pub(crate) fn commit(&mut self, now_ms: i64, message: &str) {
        self.generation = next_generation();
        let options = CommitOptions::default()
            .with_time(now_ms)
            .with_message(message);
        if let Some(hash) = self.doc.commit_with(options) {
            self.last_local = Some(hash);
        }
    }

    /// Checks what this device wrote since the last save against the
    /// authority rules, as a peer will: the node's own commands pass the
    /// same gate as everything it receives.
    pub fn check_local(&mut self, members: &dyn Members) -> Result<(), Refusal> {
        if self.last_local.is_none() {
            return Ok(());
        }
        let saved = self.saved.clone();
        let (own, others): (Vec<automerge::Change>, Vec<automerge::Change>) = self
            .doc
            .get_changes(&saved)
            .into_iter()
            .partition(|c| c.actor_id().to_bytes() == self.actor.as_slice());
        check_changes(self.kind, &self.doc, &own, members)?;
        // Stored next (`take_unsaved`), and sent to peers, as they are.
        for change in own.into_iter().chain(others) {
            self.recent.keep(change);
        }
        Ok(())
    }

    /// Keeps at most `bytes` of the changes received or checked lately
    /// (1 MiB unless told), from which bundles for peers and what readers
    /// read again are taken without automerge building them again.
    pub fn keep_recent(&mut self, bytes: usize) {
        self.recent.limit = bytes;
        self.recent.shrink();
    }

    /// This device's latest change since the last call, if it made one.
    pub fn take_last_local(&mut self) -> Option<ChangeHash> {
        self.last_local.take()
    }

    /// The actor of a change this document holds.
    pub fn change_actor(&mut self, hash: &ChangeHash) -> Option<Vec<u8>> {
        self.doc
            .get_change_meta_by_hash(hash)
            .map(|m| m.actor.to_bytes().to_vec())
    }

    /// The object at `key` of the root map.
    pub(crate) fn root_obj(&self, key: &str) -> ObjId {
        // The genesis change creates the root objects in order, as
        // operations 1, 2... of its actor, and nothing may write the root
        // afterwards (see `authority`): their ids are known without asking
        // automerge, which cost a booking on a large calendar 3 % of its time.
        match self.kind.root_objects().iter().position(|(k, _)| *k == key) {
            Some(i) => ObjId::Id(i as u64 + 1, ActorId::from(GENESIS_ACTOR), 0),
            None => ROOT,
        }
    }
}

/// The changes in `bytes` when it is a sequence of change chunks (what
/// `save_after` makes); `None` when it holds anything else, such as a whole
/// document, or is not automerge data.
pub(crate) fn split_changes(bytes: &[u8]) -> Option<Vec<automerge::Change>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    const CHANGE: u8 = 1;
    const COMPRESSED_CHANGE: u8 = 2;
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        // magic (4), checksum (4), chunk type (1), length (unsigned LEB128)
        let rest = bytes.get(at..)?;
        if rest.get(..4)? != MAGIC || !matches!(*rest.get(8)?, CHANGE | COMPRESSED_CHANGE) {
            return None;
        }
        let mut len: u64 = 0;
        let mut header = 9usize;
        for shift in (0..64).step_by(7) {
            let byte = *rest.get(header)?;
            header += 1;
            len |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let end = header.checked_add(usize::try_from(len).ok()?)?;
        let chunk = rest.get(..end)?;
        out.push(automerge::Change::try_from(chunk).ok()?);
        at += end;
    }
    (!out.is_empty()).then_some(out)
}

/// Copies every entry of the map `from` of `source` into the map `to`.
fn copy_map(
    source: &AutoCommit,
    from: &ObjId,
    target: &mut AutoCommit,
    to: &ObjId,
) -> Result<(), automerge::AutomergeError> {
    for item in source.map_range(from, ..) {
        let id = item.id();
        copy_value(
            source,
            item.value,
            &id,
            target,
            to,
            automerge::Prop::Map(item.key.into()),
        )?;
    }
    Ok(())
}

/// Copies one value (a scalar, or the object `id` with all it holds) to
/// `prop` of `to`.
fn copy_value(
    source: &AutoCommit,
    value: automerge::ValueRef<'_>,
    id: &ObjId,
    target: &mut AutoCommit,
    to: &ObjId,
    prop: automerge::Prop,
) -> Result<(), automerge::AutomergeError> {
    let obj_type = match value {
        automerge::ValueRef::Scalar(s) => {
            let scalar: ScalarValue = s.into();
            return match prop {
                automerge::Prop::Map(key) => target.put(to, key, scalar),
                automerge::Prop::Seq(i) => target.insert(to, i, scalar),
            };
        }
        automerge::ValueRef::Object(obj_type) => obj_type,
    };
    let made = match prop {
        automerge::Prop::Map(key) => target.put_object(to, key, obj_type)?,
        automerge::Prop::Seq(i) => target.insert_object(to, i, obj_type)?,
    };
    match obj_type {
        ObjType::Map | ObjType::Table => copy_map(source, id, target, &made),
        ObjType::Text => target.splice_text(&made, 0, 0, &source.text(id)?),
        ObjType::List => {
            for (i, item) in source.list_range(id, ..).enumerate() {
                let item_id = item.id();
                copy_value(
                    source,
                    item.value,
                    &item_id,
                    target,
                    &made,
                    automerge::Prop::Seq(i),
                )?;
            }
            Ok(())
        }
    }
}

/// Runs automerge on bytes from outside, turning a panic inside it into an
/// error: hostile data must never crash a node. (Fuzzing found one:
/// automerge 0.12 adds counter increments without overflow checks of its
/// own, which panics in a build with overflow checks.)
fn unpanicked<T>(doc: DocKind, f: impl FnOnce() -> Result<T, String>) -> Result<T, LoadError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|reason| LoadError { doc, reason }),
        Err(_) => Err(LoadError {
            doc,
            reason: "automerge failed on these changes".into(),
        }),
    }
}

/// How many bytes of changes a document keeps in [`Recent`].
const RECENT_BYTES: usize = 1 << 20;

/// The changes a document received or checked lately, as automerge encoded
/// them, by hash, the oldest dropped first past [`RECENT_BYTES`] (or
/// [`SharedDoc::keep_recent`]). These are what peers lack next and what the
/// readers read again, and automerge 0.12 keeps no change as such:
/// `get_changes` and `save_after` build every change they return again
/// from its columns, over the range of operations the changes span. Sending a live bundle that way was the largest cost of
/// a session's sending side (12 % of the samples of benchmark scenario 4 at
/// 64 nodes), and reading a received booking's paths another 6 %.
/// A change's hash is that of its bytes, so what is kept is exactly what
/// automerge would build again.
struct Recent {
    by_hash: rustc_hash::FxHashMap<ChangeHash, automerge::Change>,
    order: std::collections::VecDeque<ChangeHash>,
    bytes: usize,
    limit: usize,
}

impl Default for Recent {
    fn default() -> Self {
        Self {
            by_hash: Default::default(),
            order: Default::default(),
            bytes: 0,
            limit: RECENT_BYTES,
        }
    }
}

impl std::fmt::Debug for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} recent changes, {} bytes",
            self.order.len(),
            self.bytes
        )
    }
}

impl Recent {
    fn keep(&mut self, change: automerge::Change) {
        let hash = change.hash();
        if self.by_hash.contains_key(&hash) {
            return;
        }
        self.bytes += change.raw_bytes().len();
        self.order.push_back(hash);
        self.by_hash.insert(hash, change);
        self.shrink();
    }

    fn shrink(&mut self) {
        while self.bytes > self.limit {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.by_hash.remove(&oldest) {
                self.bytes -= gone.raw_bytes().len();
            }
        }
    }

    /// Keeps the last of `changes` that fit (a catch-up's first ones
    /// would be dropped at once).
    fn keep_last(&mut self, mut changes: Vec<automerge::Change>) {
        let fit = Self::fitting(&changes, self.limit);
        for change in changes.drain(changes.len() - fit..) {
            self.keep(change);
        }
    }

    /// How many of the last of `changes` fit in `limit` bytes.
    fn fitting(changes: &[automerge::Change], limit: usize) -> usize {
        let mut bytes = 0;
        changes
            .iter()
            .rev()
            .take_while(|c| {
                bytes += c.raw_bytes().len();
                bytes <= limit
            })
            .count()
    }

    fn get(&self, hash: &ChangeHash) -> Option<&automerge::Change> {
        self.by_hash.get(hash)
    }

    /// Every change of `hashes`, in causal order (each after those it
    /// depends on), or `None` if one is not kept.
    fn all(&self, hashes: &[ChangeHash]) -> Option<Vec<&automerge::Change>> {
        let kept: Vec<&automerge::Change> =
            hashes.iter().map(|h| self.get(h)).collect::<Option<_>>()?;
        Some(
            crate::authority::causal_order(&kept)
                .into_iter()
                .copied()
                .collect(),
        )
    }

    /// The changes of `hashes` as one chunk (their bytes, in causal order),
    /// or `None` if one is not kept.
    fn chunk_of(&self, hashes: &[ChangeHash]) -> Option<Vec<u8>> {
        let changes = self.all(hashes)?;
        let mut bytes = Vec::with_capacity(changes.iter().map(|c| c.raw_bytes().len()).sum());
        for change in changes {
            bytes.extend_from_slice(change.raw_bytes());
        }
        Some(bytes)
    }
}

/// From how many changes a bundle is checked beside its application (on
/// another core) rather than before it: below, a thread and a copy of the
/// document cost more than the check.
const CHECK_BESIDE_APPLY_FROM: usize = 256;

/// How many changes of a large bundle the checking thread hands over at a
/// time.
const HAND_OVER: usize = 1024;

/// The most changes automerge applies in one batch.
const APPLY_BATCH: usize = 65_536;

/// The changes of a large bundle as automerge reads them, while the
/// checking thread still copies the rest. automerge 0.12's `apply_changes`
/// asks for an iterator it can clone but reads it once: the clones share
/// one stream.
#[derive(Clone)]
struct Handed(std::sync::Arc<std::sync::Mutex<Stream>>);

/// What the checking thread sends, and the slice being read.
type Stream = (
    std::sync::mpsc::Receiver<Vec<automerge::Change>>,
    std::vec::IntoIter<automerge::Change>,
);

impl Handed {
    fn channel() -> (std::sync::mpsc::Sender<Vec<automerge::Change>>, Self) {
        let (send, receive) = std::sync::mpsc::channel();
        let stream = (receive, Vec::new().into_iter());
        (
            send,
            Self(std::sync::Arc::new(std::sync::Mutex::new(stream))),
        )
    }
}

impl Iterator for Handed {
    type Item = automerge::Change;

    fn next(&mut self) -> Option<automerge::Change> {
        let mut stream = self.0.lock().ok()?;
        loop {
            if let Some(change) = stream.1.next() {
                return Some(change);
            }
            // Ends when the checking thread has handed everything over.
            stream.1 = stream.0.recv().ok()?.into_iter();
        }
    }
}

/// For each actor (its bytes), the highest sequence number held.
pub type VersionVector = std::collections::BTreeMap<Vec<u8>, u64>;

/// Raises `into` to hold at least what `from` holds, actor by actor.
pub fn merge_version<'a>(
    into: &mut VersionVector,
    from: impl IntoIterator<Item = (&'a Vec<u8>, &'a u64)>,
) {
    for (actor, seq) in from {
        let known = into.entry(actor.clone()).or_default();
        *known = (*known).max(*seq);
    }
}

/// The entries of `mine` that go beyond `known`: what a holder of `known`
/// lacks, one entry per actor. Empty when `known` holds all of `mine`.
pub fn version_beyond(mine: &VersionVector, known: &VersionVector) -> VersionVector {
    mine.iter()
        .filter(|(actor, seq)| known.get(*actor).copied().unwrap_or(0) < **seq)
        .map(|(actor, seq)| (actor.clone(), *seq))
        .collect()
}

/// Changes received from a peer were not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError<E> {
    /// The bytes are not automerge data (or, for a whole save, not what
    /// this node reads as automerge does: see [`crate::save_ops`]).
    #[error(transparent)]
    Load(LoadError),
    /// They build on changes this document lacks.
    #[error("the changes build on changes this node does not hold yet")]
    MissingDeps,
    /// automerge refused them after they passed the checks, possibly half
    /// way: the document in memory must be reloaded from the store.
    #[error(transparent)]
    Damaged(LoadError),
    /// The signature check refused them.
    #[error(transparent)]
    Refused(E),
    /// A change writes what its author may not (the authority check).
    #[error(transparent)]
    Unauthorized(Refusal),
    /// A change reuses an actor and sequence number held under another.
    #[error("its device signed two different changes with sequence number {} under one actor", .0.seq)]
    Equivocation(Equivocation),
}

/// What one change did, for history views and authorship checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSummary {
    /// The change's hash.
    pub hash: ChangeHash,
    /// Its actor: the authoring device's public key (or the genesis actor).
    pub actor: Vec<u8>,
    /// Its sequence number within the actor's changes.
    pub seq: u64,
    /// The author's clock when it was made, in ms since the epoch.
    pub time_ms: i64,
    /// How many operations it holds (about one per character for text).
    pub ops: u64,
    /// The changes it builds on.
    pub deps: Vec<ChangeHash>,
}

/// `vv` moved by the `added` changes (each actor's highest sequence number).
fn advanced(mut vv: VersionVector, added: &[ChangeSummary]) -> VersionVector {
    for c in added {
        // Few actors, many changes: a key is copied only when new.
        match vv.get_mut(&c.actor) {
            Some(seq) => *seq = (*seq).max(c.seq),
            None => {
                vv.insert(c.actor.clone(), c.seq);
            }
        }
    }
    vv
}

/// From this many bytes on, a whole save is read and checked on a second
/// core while automerge loads it.
const READ_BESIDE_LOAD_FROM: usize = 64 * 1024;

/// What the reading of a whole save found (see
/// [`SharedDoc::apply_verified`]).
struct SaveRead {
    /// How many bytes the save's document chunk takes (changes may follow).
    chunk_len: usize,
    /// The save's heads.
    heads: Vec<[u8; 32]>,
    /// Every change of the save but the genesis.
    summaries: Vec<ChangeSummary>,
    /// The first change the authority check refused.
    refused: Option<Refusal>,
}

/// The costly part of taking a whole save into a document that holds
/// nothing but its genesis, done ahead by [`SharedDoc::prepare_saves`]:
/// automerge's load of the save and the reading of its changes (with the
/// authority check, against the members it was given).
pub struct PreparedSave {
    kind: DocKind,
    device: [u8; 32],
    /// SHA-256 of the save's bytes.
    digest: [u8; 32],
    full: Option<SharedDoc>,
    read: Result<SaveRead, Unreadable>,
}

impl std::fmt::Debug for PreparedSave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedSave")
            .field("kind", &self.kind)
            .field("loaded", &self.full.is_some())
            .field("read", &self.read.is_ok())
            .finish_non_exhaustive()
    }
}

impl PreparedSave {
    /// Whether this was prepared from `bytes` for `doc`.
    fn is_for(&self, doc: &SharedDoc, bytes: &[u8]) -> bool {
        self.kind == doc.kind && self.device == doc.device && self.digest == digest(bytes)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl SharedDoc {
    /// Whether [`Self::apply_verified`] would take `bytes` as a whole save
    /// (loaded, its changes read beside the load): what
    /// [`Self::prepare_saves`] can do ahead.
    pub fn takes_whole_save(&mut self, bytes: &[u8]) -> bool {
        crate::save_ops::is_document_chunk(bytes) && self.is_genesis_only()
    }

    /// Loads and reads several whole saves at once (each for the document
    /// of its kind on `device`, holding nothing but its genesis: see
    /// [`Self::takes_whole_save`]), spread over the machine's cores (four
    /// at most); for [`Self::apply_prepared`], with the same `members`.
    /// Taken one at a time, each save's load and reading share two cores,
    /// and the reading ends long before the load: a newcomer's first sync
    /// left a core idle for about a third of the time. `None` where a
    /// save's work failed here: its apply does it again, and says why.
    pub fn prepare_saves(
        saves: &[(DocKind, &[u8])],
        device: [u8; 32],
        members: &dyn Members,
    ) -> Vec<Option<PreparedSave>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Clone, Copy)]
        enum Task {
            Load(usize),
            Read(usize),
        }
        enum Done {
            Loaded(usize, Option<Box<SharedDoc>>),
            Read(usize, Result<SaveRead, Unreadable>),
        }
        let mut tasks: Vec<Task> = (0..saves.len())
            .flat_map(|i| [Task::Load(i), Task::Read(i)])
            .collect();
        // The longest first, so that the last to end is a short one
        // (a load takes about one and a half times the reading).
        tasks.sort_by_key(|t| match *t {
            Task::Load(i) => std::cmp::Reverse(saves[i].1.len() * 3),
            Task::Read(i) => std::cmp::Reverse(saves[i].1.len() * 2),
        });
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            while let Some(task) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) {
                done.push(match *task {
                    Task::Load(i) => {
                        let (kind, bytes) = saves[i];
                        let genesis = [Self::genesis_hash(kind)];
                        Done::Loaded(
                            i,
                            Self::from_full_save(kind, device, bytes, &genesis).map(Box::new),
                        )
                    }
                    Task::Read(i) => {
                        let (kind, bytes) = saves[i];
                        let read =
                            read_and_check(kind, &Self::new(kind, device).doc, bytes, members);
                        Done::Read(i, read)
                    }
                });
            }
            done
        };
        // At most four loads at once: each holds its own peak of memory.
        // Small saves are all done on this core: a second thread (its stack,
        // its allocator's arena) costs more than it saves.
        let small = saves.iter().map(|(_, b)| b.len()).sum::<usize>() < READ_BESIDE_LOAD_FROM;
        let cores = match std::thread::available_parallelism() {
            Ok(n) if !small => n.get().min(4),
            _ => 1,
        };
        let done: Vec<Done> = std::thread::scope(|s| {
            let helpers: Vec<_> = (1..cores.min(tasks.len())).map(|_| s.spawn(work)).collect();
            // A task that panicked loses what its thread did: those saves
            // are not prepared.
            let mut done =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_default();
            for helper in helpers {
                done.extend(helper.join().unwrap_or_default());
            }
            done
        });
        let mut loaded: Vec<Option<Option<Box<SharedDoc>>>> = saves.iter().map(|_| None).collect();
        let mut read: Vec<Option<Result<_, Unreadable>>> = saves.iter().map(|_| None).collect();
        for d in done {
            match d {
                Done::Loaded(i, full) => loaded[i] = Some(full),
                Done::Read(i, r) => read[i] = Some(r),
            }
        }
        saves
            .iter()
            .zip(loaded.into_iter().zip(read))
            .map(|((kind, bytes), (full, read))| {
                Some(PreparedSave {
                    kind: *kind,
                    device,
                    digest: digest(bytes),
                    full: full?.map(|full| *full),
                    read: read?,
                })
            })
            .collect()
    }
}

/// Reads a whole save's changes, hashes them and checks them against
/// `genesis_doc`.
fn read_and_check(
    kind: DocKind,
    genesis_doc: &AutoCommit,
    bytes: &[u8],
    members: &dyn Members,
) -> Result<SaveRead, Unreadable> {
    let save = crate::save_ops::Save::parse(bytes)?;
    let changes = save.changes()?;
    // The save's heads are the hashes of the changes read: once automerge
    // loaded it (it checks the same heads), each change was read as
    // automerge loaded it, to the byte, and its hash is automerge's.
    if !crate::save_ops::heads_match(&save, &changes) {
        return Err(Unreadable(
            "its changes read otherwise than automerge loads them",
        ));
    }
    let refused = crate::authority::check_read_changes(kind, genesis_doc, &changes, members).err();
    let genesis = SharedDoc::genesis_hash(kind);
    let summaries: Vec<ChangeSummary> = changes
        .changes
        .iter()
        .filter(|c| c.hash != genesis.0)
        .map(|c| ChangeSummary {
            hash: ChangeHash(c.hash),
            actor: c.actor.to_vec(),
            seq: c.seq,
            time_ms: c.time,
            ops: c.max_op + 1 - c.start_op,
            deps: c
                .deps
                .iter()
                .map(|&d| ChangeHash(changes.changes[d].hash))
                .collect(),
        })
        .collect();
    let refused = refused.map(|(i, refusal)| Refusal {
        change: ChangeHash(changes.changes[i].hash),
        ..refusal
    });
    let chunk_len = save.chunk_len();
    let heads = save.heads().to_vec();
    // What was read is no longer needed: it is freed here, on this core.
    drop(changes);
    Ok(SaveRead {
        chunk_len,
        heads,
        summaries,
        refused,
    })
}

impl ChangeSummary {
    fn of_meta(m: &automerge::ChangeMetadata<'_>) -> Self {
        ChangeSummary {
            hash: m.hash,
            actor: m.actor.to_bytes().to_vec(),
            seq: m.seq,
            time_ms: m.timestamp,
            ops: m.max_op.saturating_sub(m.start_op) + 1,
            deps: m.deps.clone(),
        }
    }

    fn of(c: &automerge::Change) -> Self {
        ChangeSummary {
            hash: c.hash(),
            actor: c.actor_id().to_bytes().to_vec(),
            seq: c.seq(),
            time_ms: c.timestamp(),
            ops: (c.max_op() + 1).saturating_sub(c.start_op().get()),
            deps: c.deps().to_vec(),
        }
    }
}

/// Reads scalar fields of one map record.
pub(crate) struct Record<'a> {
    doc: &'a AutoCommit,
    obj: ObjId,
    /// Its fields, read in one pass over the map on the first ask (a
    /// booking is read field by field: one lookup each cost 10 × more).
    fields: std::cell::OnceCell<Fields>,
}

/// A record's fields: its scalars, and the ids of its child objects.
#[derive(Default)]
struct Fields {
    scalars: Vec<(String, ScalarValue)>,
    objects: Vec<(String, ObjId)>,
}

impl<'a> Record<'a> {
    pub(crate) fn new(doc: &'a AutoCommit, obj: ObjId) -> Self {
        Self {
            doc,
            obj,
            fields: std::cell::OnceCell::new(),
        }
    }

    pub(crate) fn doc(&self) -> &'a AutoCommit {
        self.doc
    }

    pub(crate) fn obj(&self) -> &ObjId {
        &self.obj
    }

    fn fields(&self) -> &Fields {
        self.fields.get_or_init(|| {
            let mut fields = Fields::default();
            for item in self.doc.map_range(&self.obj, ..) {
                let id = item.id();
                let value: automerge::Value<'static> = item.value.into();
                match value {
                    automerge::Value::Scalar(v) => {
                        fields.scalars.push((item.key.into_owned(), v.into_owned()));
                    }
                    automerge::Value::Object(_) => fields.objects.push((item.key.into_owned(), id)),
                }
            }
            fields
        })
    }

    fn scalar(&self, key: &str) -> Option<ScalarValue> {
        self.fields()
            .scalars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.scalar(key)? {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }

    /// One string field, looked up alone: cheaper than [`Record::str`]
    /// (which reads every field once) when it is the only one wanted.
    pub(crate) fn str_alone(&self, key: &str) -> Option<String> {
        match self.doc.get(&self.obj, key) {
            Ok(Some((value, _))) => value.as_str().map(str::to_owned),
            _ => None,
        }
    }

    pub(crate) fn string(&self, key: &str) -> String {
        self.str(key).unwrap_or_default()
    }

    pub(crate) fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        match self.scalar(key)? {
            ScalarValue::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        match self.scalar(key)? {
            ScalarValue::Int(i) => Some(i),
            ScalarValue::Uint(u) => i64::try_from(u).ok(),
            ScalarValue::Timestamp(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn bool(&self, key: &str) -> bool {
        matches!(self.scalar(key), Some(ScalarValue::Boolean(true)))
    }

    /// A child map, if present.
    pub(crate) fn child(&self, key: &str) -> Option<Record<'a>> {
        // Found in the fields when they were read already.
        if let Some(fields) = self.fields.get() {
            return fields
                .objects
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, id)| Record::new(self.doc, id.clone()));
        }
        match self.doc.get(&self.obj, key) {
            Ok(Some((value, id))) if value.is_object() => Some(Record::new(self.doc, id)),
            _ => None,
        }
    }

    /// The keys of this map, sorted.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.doc.keys(&self.obj).collect()
    }

    /// Every child map of this map with its key, sorted by key.
    pub(crate) fn children(&self) -> Vec<(String, Record<'a>)> {
        self.doc
            .map_range(&self.obj, ..)
            .filter(|item| matches!(item.value, automerge::ValueRef::Object(_)))
            .map(|item| (item.key.to_string(), Record::new(self.doc, item.id())))
            .collect()
    }

    /// The strings of a list field.
    pub(crate) fn str_list(&self, key: &str) -> Vec<String> {
        let Some(list) = self.child(key) else {
            return Vec::new();
        };
        self.doc
            .list_range(&list.obj, ..)
            .filter_map(|item| item.value.into_value().as_str().map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resource's part never changes: every node, of every version,
    /// must look for it in the same document. The ids are fixed, and so
    /// are their parts (FNV-1a 64 of the id's bytes, modulo 8).
    #[test]
    fn a_resource_is_in_the_same_part_for_ever() {
        // Computed apart (FNV-1a 64 of the UTF-8 bytes, modulo 8).
        let fixed = [
            ("5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e01", Part(0)),
            ("a", Part(4)),
            ("salle", Part(4)),
            ("00000000000000000000000000000000", Part(5)),
        ];
        for (id, part) in fixed {
            assert_eq!(Part::of(id), part, "{id}");
            assert_eq!(DocKind::calendar_of(id), DocKind::Calendar(part));
        }
        // Ids spread over every part.
        let parts: std::collections::BTreeSet<Part> =
            (0..200).map(|i| Part::of(&format!("{i:032x}"))).collect();
        assert_eq!(parts.len(), usize::from(Part::COUNT));
    }

    /// A part number from outside is one of the 8, or the message does
    /// not decode; names round-trip.
    #[test]
    fn a_calendar_part_from_outside_is_one_of_the_eight() {
        for part in Part::all() {
            let kind = DocKind::Calendar(part);
            let bytes = postcard::to_allocvec(&kind).expect("encodes");
            assert_eq!(postcard::from_bytes::<DocKind>(&bytes).ok(), Some(kind));
            assert_eq!(DocKind::from_name(&kind.name()), Some(kind));
        }
        let mut bytes = postcard::to_allocvec(&DocKind::Calendar(Part::FIRST)).expect("encodes");
        *bytes.last_mut().expect("a part byte") = Part::COUNT;
        assert!(postcard::from_bytes::<DocKind>(&bytes).is_err());
        assert_eq!(DocKind::from_name("calendar/8"), None);
        assert_eq!(DocKind::from_name("calendar"), None);
    }

    /// A whole save's version vector is carried over from the receipt: it
    /// is the one automerge's metadata of every change gives. A small save
    /// is read on the receiving core, a large one beside automerge's load.
    #[test]
    fn a_whole_save_comes_with_its_version_vector() {
        struct Everyone;
        impl Members for Everyone {
            fn org_of(&self, _device: &[u8; 32]) -> Option<String> {
                Some("org".into())
            }
            fn coordinator_at(&self, _org: &str, _heads: &[[u8; 32]]) -> Option<bool> {
                Some(false)
            }
        }
        let kind = DocKind::Charter;
        // Words no compression shortens much (a linear congruential walk
        // over the letters), so that the large save is large.
        let mut x = 7u64;
        let mut word = |len: usize| -> String {
            (0..len)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    char::from(b'a' + (x >> 59) as u8 % 26)
                })
                .collect()
        };
        for edits in [3, 300] {
            let mut writer = SharedDoc::new(kind, [1; 32]);
            let text = writer.doc.get(ROOT, "text").unwrap().unwrap().1;
            for i in 0..edits {
                let device = [1 + (i % 2) as u8; 32];
                writer.doc.set_actor(ActorId::from(device.to_vec()));
                let at = writer.doc.length(&text);
                writer.doc.splice_text(&text, at, 0, &word(400)).unwrap();
                writer.doc.commit_with(
                    automerge::transaction::CommitOptions::default()
                        .with_time(1_700_000_000_000 + i as i64),
                );
            }
            // Two devices writing at once, then merged: a change with two
            // dependencies.
            let mut other = writer.doc.fork().with_actor(ActorId::from(vec![2u8; 32]));
            writer.doc.set_actor(ActorId::from(vec![1u8; 32]));
            for doc in [&mut writer.doc, &mut other] {
                doc.splice_text(&text, 0, 0, &word(40)).unwrap();
                doc.commit();
            }
            writer.doc.merge(&mut other).unwrap();
            writer.doc.splice_text(&text, 1, 2, "").unwrap();
            writer.doc.commit();
            let bytes = writer.doc.save();
            assert_eq!(bytes.len() >= READ_BESIDE_LOAD_FROM, edits > 3);
            let mut received = SharedDoc::new(kind, [3; 32]);
            let verified = std::sync::Mutex::new(Vec::new());
            let added = received
                .apply_verified(&bytes, &Everyone, |summaries| {
                    *verified.lock().unwrap() = summaries.to_vec();
                    Ok::<(), ()>(())
                })
                .expect("an honest save");
            // Every change but the genesis, each as automerge's metadata
            // shows it (its hash too), and the signature check saw them.
            let genesis = SharedDoc::genesis_hash(kind);
            let sorted = |mut all: Vec<ChangeSummary>| {
                for c in &mut all {
                    c.deps.sort_unstable();
                }
                all.sort_unstable_by_key(|c| c.hash);
                all
            };
            let theirs: Vec<ChangeSummary> = writer
                .doc
                .get_changes_meta(&[])
                .iter()
                .filter(|m| m.hash != genesis)
                .map(ChangeSummary::of_meta)
                .collect();
            assert_eq!(added.len(), edits + 3);
            assert_eq!(sorted(added.clone()), sorted(theirs));
            assert_eq!(*verified.lock().unwrap(), added);
            let mut expected = VersionVector::new();
            for m in writer.doc.get_changes_meta(&[]) {
                let seq = expected.entry(m.actor.to_bytes().to_vec()).or_default();
                *seq = (*seq).max(m.seq);
            }
            assert_eq!(received.version_vector(), expected);
            assert_eq!(received.heads(), writer.heads());
        }
    }

    /// A whole save loaded and read ahead, several at once, is judged as
    /// one taken then: the same changes added, the same refusal, the same
    /// document. The work is not used for other bytes, another kind of
    /// document, or a document that holds more than its genesis.
    #[test]
    fn a_save_prepared_ahead_is_judged_as_one_taken_then() {
        /// Members who are the devices `[1; 32]` and `[2; 32]`, or nobody.
        struct Some12(bool);
        impl Members for Some12 {
            fn org_of(&self, device: &[u8; 32]) -> Option<String> {
                (self.0 && (device == &[1; 32] || device == &[2; 32])).then(|| "org".into())
            }
            fn coordinator_at(&self, _org: &str, _heads: &[[u8; 32]]) -> Option<bool> {
                Some(false)
            }
        }
        let written = |kind: DocKind, edits: usize| -> Vec<u8> {
            let mut writer = SharedDoc::new(kind, [1; 32]);
            let text = writer.doc.get(ROOT, "text").unwrap().unwrap().1;
            for i in 0..edits {
                writer
                    .doc
                    .set_actor(ActorId::from(vec![1 + (i % 2) as u8; 32]));
                writer
                    .doc
                    .splice_text(&text, 0, 0, &format!("edit {i} "))
                    .unwrap();
                writer
                    .doc
                    .commit_with(CommitOptions::default().with_time(i as i64));
            }
            writer.doc.save()
        };
        let charter = written(DocKind::Charter, 40);
        let other_charter = written(DocKind::Charter, 41);
        let saves = [
            (DocKind::Charter, charter.as_slice()),
            (DocKind::Charter, &other_charter),
        ];
        let take = |doc: &mut SharedDoc, bytes: &[u8], members: &Some12, prepared| {
            let verified = std::sync::Mutex::new(0);
            let result = doc.apply_prepared(
                bytes,
                members,
                |summaries| {
                    *verified.lock().unwrap() += summaries.len();
                    Ok::<(), ()>(())
                },
                prepared,
            );
            (
                format!("{result:?}"),
                doc.heads(),
                *verified.lock().unwrap(),
            )
        };
        for members in [Some12(true), Some12(false)] {
            let prepared = SharedDoc::prepare_saves(&saves, [3; 32], &members);
            assert!(prepared.iter().all(Option::is_some));
            let mut prepared = prepared.into_iter().flatten();
            let (first, second) = (prepared.next().unwrap(), prepared.next().unwrap());
            let expected = take(
                &mut SharedDoc::new(DocKind::Charter, [3; 32]),
                &charter,
                &members,
                None,
            );
            if members.0 {
                assert!(expected.0.starts_with("Ok("), "{}", expected.0);
                assert_eq!(expected.2, 40, "the signature check saw every change");
            } else {
                assert!(expected.0.contains("Unauthorized"), "{}", expected.0);
            }
            let mut doc = SharedDoc::new(DocKind::Charter, [3; 32]);
            assert_eq!(take(&mut doc, &charter, &members, Some(first)), expected);
            // Prepared from other bytes: done again, with the same verdict.
            let mut doc = SharedDoc::new(DocKind::Charter, [3; 32]);
            assert_eq!(take(&mut doc, &charter, &members, Some(second)), expected);
        }
        // For another kind of document, or one that holds more than its
        // genesis: not used.
        let members = Some12(true);
        let prepared = || {
            SharedDoc::prepare_saves(&saves, [3; 32], &members)
                .into_iter()
                .next()
                .flatten()
        };
        let mut values = SharedDoc::new(DocKind::Values, [3; 32]);
        let alone = take(
            &mut SharedDoc::new(DocKind::Values, [3; 32]),
            &charter,
            &members,
            None,
        );
        assert_eq!(take(&mut values, &charter, &members, prepared()), alone);
        let mut doc = SharedDoc::new(DocKind::Charter, [3; 32]);
        take(&mut doc, &other_charter, &members, None);
        let mut again = SharedDoc::new(DocKind::Charter, [3; 32]);
        take(&mut again, &other_charter, &members, None);
        let expected = take(&mut again, &charter, &members, None);
        assert_eq!(take(&mut doc, &charter, &members, prepared()), expected);
    }

    /// The root objects' ids `root_obj` builds are those the document
    /// holds, for every kind of document, also once other actors wrote
    /// (which moves the genesis actor in automerge's table of actors) and
    /// the document went through a save and a load.
    #[test]
    fn root_objects_are_where_the_genesis_put_them() {
        let group = DocKind::group([7; 16], Shelf::Calendar);
        for kind in DocKind::ALL.into_iter().chain([group]) {
            let mut shared = SharedDoc::new(kind, [0; 32]);
            let (key, _) = kind.root_objects()[0];
            // An actor sorted before the genesis actor, writing something.
            shared.doc.set_actor(ActorId::from([0u8; 16]));
            let _ = shared.doc.put(ROOT, "probe", 1);
            shared.doc.commit();
            let loaded = AutoCommit::load(&shared.doc.save()).expect("a save loads");
            for doc in [&*shared.doc, &loaded] {
                for (key, _) in kind.root_objects() {
                    let held = doc.get(ROOT, *key).ok().flatten().map(|(_, id)| id);
                    assert_eq!(Some(shared.root_obj(key)), held, "{kind} {key}");
                    let id = shared.root_obj(key);
                    assert!(doc.object_type(&id).is_ok(), "{kind} {key} readable");
                }
            }
            assert_ne!(shared.root_obj(key), ROOT);
            assert_eq!(shared.root_obj("no such key"), ROOT);
        }
    }
}
