//! The documents a node holds, each loaded from the store when first asked
//! for.
//!
//! A command run without `serve` answers from one or two documents; loading
//! all of them first made every command cost the load of the largest (the
//! calendar, the charter's long history). [`Docs`] keeps each alliance
//! document unread (an empty cell) until an accessor (`Docs::calendar`
//! for one part of the calendar, `Docs::doc_mut`...) reads it from the
//! store; a document that cannot be
//! read is an error of that accessor, never a panic nor an empty document
//! standing in for it. A group's six documents are loaded together when
//! first needed, by `Node::load_group`: one that cannot be read is an error
//! of every command that reads that group's documents, and the group stays
//! unloaded (never shown nor written from its genesis).
//!
//! Each document's [`Summary`] (version vector and heads), stored beside
//! its chunks with every write, tells what an unloaded document holds
//! while no later chunk was written (`Docs::summary`): `serve` syncs from
//! summaries and reads a document only when something needs its content.
//!
//! Each part of the calendar keeps the ids and names of its resources
//! beside its chunks (`Docs::resource_named`), so that a resource given by
//! name is read from its own part, not searched for part after part.
//!
//! This module never writes a document's content: only the compaction of
//! a document stored in many chunks into one, when it is loaded, the
//! summary of one loaded without a summary that holds, and a part's
//! resource names when they changed.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use entraide_docs::{
    Calendar, Charter, DocKind, EPOCH_LEN, Events, Ledger, Library, Part, Profiles, Proposals,
    SharedDoc, Values,
};
use entraide_store::{Store, WriteBatch};

use crate::NodeError;
use crate::groups::NamedFiles;
use crate::node::MissingFile;
use crate::sync::Attestation;

/// Documents with more stored chunks than this are compacted into one when
/// loaded.
const COMPACT_AFTER_CHUNKS: usize = 256;

/// Where each part of the calendar keeps, beside its chunks, the ids and
/// names of its resources (`Docs::resource_named`).
const RESOURCE_NAMES: &[u8] = b"resource_names";

/// The alliance's shared documents as this node holds them, with their
/// signatures, the changes it refused, and the library files it lacks.
/// Each document is read from the store when first asked for (its
/// accessor), so that a command reads only what it answers from.
#[derive(Debug)]
pub(crate) struct Docs {
    charter: OnceCell<Charter>,
    values: OnceCell<Values>,
    library: OnceCell<Library>,
    /// The calendar's parts (`entraide_docs::Part`), each loaded alone.
    calendar: [OnceCell<Calendar>; Part::COUNT as usize],
    proposals: OnceCell<Proposals>,
    events: OnceCell<Events>,
    profiles: OnceCell<Profiles>,
    ledger: OnceCell<Ledger>,
    /// Where documents not loaded yet are read from.
    store: Arc<Store>,
    /// The documents of the working groups this organisation belongs to
    /// (loaded when first needed).
    pub(crate) groups: BTreeMap<[u8; 16], crate::groups::GroupDocs>,
    /// This device and opening, for a group's documents loaded later.
    pub(crate) device: [u8; 32],
    pub(crate) epoch: [u8; EPOCH_LEN],
    /// The latest attestation of each actor (a device in one opening of
    /// its home), per document: read from the store the first time a
    /// document's are asked for ([`Docs::attestations`]). Only sync needs
    /// them, and reading every document's at each opening cost a command
    /// on a large alliance a millisecond.
    attestations: BTreeMap<DocKind, BTreeMap<Vec<u8>, Attestation>>,
    /// When changes by this device that this home did not hold last
    /// arrived (another copy of the home, or a backup restored).
    pub(crate) other_copy_seen: Option<i64>,
    /// Devices that equivocated, per document, with their proofs and what
    /// was set aside (see `crate::equivocation`).
    pub(crate) forks: crate::equivocation::Forks,
    /// Changes this node refused (`entraide audit`).
    pub(crate) refused: Vec<crate::audit::RefusedChange>,
    /// The library files still missing, with how much of each is held, as of
    /// the library document's heads (kept up to date as parts arrive):
    /// sessions ask for missing files after every change of any document,
    /// and reading 2,000 entries each time cost more than the change itself.
    pub(crate) missing_files: Option<(Vec<entraide_docs::ChangeHash>, Vec<MissingFile>)>,
    /// The files the alliance's library names, and those each group's
    /// names, as of those libraries' heads: every file a peer asks for is
    /// looked up there (reading 2,000 entries per request made a
    /// newcomer's first sync of 2,000 files take minutes).
    pub(crate) named_files: Option<(Vec<entraide_docs::ChangeHash>, NamedFiles)>,
    /// Each library file's size as its entry declares it (as of the last
    /// `missing_blobs`): a file received must have that size.
    pub(crate) file_sizes: BTreeMap<[u8; 32], u64>,
    /// The library quota per organisation, and what it was computed from.
    #[allow(clippy::type_complexity)]
    pub(crate) quota_cache: Option<(
        (
            Vec<entraide_docs::ChangeHash>,
            Vec<entraide_membership::OpHash>,
        ),
        i64,
        u64,
    )>,
    /// What unloaded alliance documents hold, as their summaries stored
    /// beside their chunks say (see [`Docs::summary`]).
    summaries: BTreeMap<DocKind, Summary>,
    /// Parts of the calendar that peers changed since their resource names
    /// were last kept (`Docs::keep_resource_names`).
    pub(crate) names_to_keep: std::collections::BTreeSet<Part>,
    /// Work done ahead for messages waiting to be handled
    /// (`Node::prepare_bundles`).
    pub(crate) prepared: Prepared,
}

/// What `Node::prepare_bundles` did ahead, for `Node::receive_bundle`.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// The membership's heads the saves were checked against.
    pub(crate) op_heads: Vec<[u8; 32]>,
    /// Whole saves loaded and read.
    pub(crate) saves: BTreeMap<DocKind, entraide_docs::PreparedSave>,
    /// Attestations whose signature is valid, with their document.
    pub(crate) signed: std::collections::HashSet<(DocKind, Attestation)>,
}

/// What a document's stored chunks hold: its version vector and heads,
/// stored beside the chunks with every write (`WriteBatch::doc_summary`),
/// so that `serve` tells a peer what it holds without loading every
/// document (automerge holding every document of the synthetic alliance
/// at once needs about 100 MiB).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Summary {
    pub(crate) vv: Vec<(Vec<u8>, u64)>,
    pub(crate) heads: Vec<[u8; 32]>,
}

impl Summary {
    /// The summary of `doc` as it is.
    pub(crate) fn of(doc: &mut SharedDoc) -> Summary {
        Summary {
            vv: doc.version_vector().into_iter().collect(),
            heads: doc.heads().iter().map(|h| h.0).collect(),
        }
    }

    /// Its encoding in the store.
    pub(crate) fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// A typed document over its [`SharedDoc`].
trait Typed: Sized {
    fn new(doc: SharedDoc) -> Self;
}

macro_rules! typed {
    ($($ty:ident),* $(,)?) => {$(
        impl Typed for $ty {
            fn new(doc: SharedDoc) -> Self {
                $ty::new(doc)
            }
        }
    )*};
}

typed!(
    Charter, Values, Library, Calendar, Proposals, Events, Profiles, Ledger
);

/// Reads one document from the store, to write under `epoch`; one stored
/// in many chunks is compacted into one.
pub(crate) fn load_doc(
    store: &Store,
    kind: DocKind,
    device: [u8; 32],
    epoch: [u8; EPOCH_LEN],
) -> Result<SharedDoc, NodeError> {
    let chunks = store.doc_chunks(&kind.name())?;
    let mut doc = SharedDoc::load(kind, device, chunks.iter().map(Vec::as_slice))?;
    doc.write_as(epoch);
    // A store opened to read only keeps its chunks as they are.
    if store.is_read_only() {
        return Ok(doc);
    }
    if chunks.len() > COMPACT_AFTER_CHUNKS {
        let mut batch = WriteBatch::new();
        batch.replace_doc(&kind.name(), doc.save());
        batch.doc_summary(&kind.name(), Summary::of(&mut doc).encode());
        store.commit(batch)?;
    } else if !chunks.is_empty() && store.doc_summary(&kind.name()).ok().flatten().is_none() {
        // A home written before summaries: the next `serve` need not load
        // this one again. Lost in a crash, or refused by a read-only home,
        // it is only written again later.
        let mut batch = WriteBatch::new();
        batch.doc_summary(&kind.name(), Summary::of(&mut doc).encode());
        let _ = store.commit_deferred(batch);
    }
    Ok(doc)
}

/// The document `kind` in `slot`, loaded first if it is not yet.
fn loaded<'a, T: Typed>(
    slot: &'a OnceCell<T>,
    kind: DocKind,
    store: &Store,
    device: [u8; 32],
    epoch: [u8; EPOCH_LEN],
) -> Result<&'a T, NodeError> {
    if let Some(typed) = slot.get() {
        return Ok(typed);
    }
    let typed = T::new(load_doc(store, kind, device, epoch)?);
    Ok(slot.get_or_init(|| typed))
}

/// [`loaded`], to change it.
fn loaded_mut<'a, T: Typed>(
    slot: &'a mut OnceCell<T>,
    kind: DocKind,
    store: &Store,
    device: [u8; 32],
    epoch: [u8; EPOCH_LEN],
) -> Result<&'a mut T, NodeError> {
    loaded(slot, kind, store, device, epoch)?;
    slot.get_mut()
        .ok_or_else(|| NodeError::Invalid(format!("the {kind} document is not loaded")))
}

macro_rules! accessors {
    ($($name:ident, $name_mut:ident: $ty:ident),* $(,)?) => {$(
        #[doc = concat!("The ", stringify!($name), " document, loaded first if it is not yet.")]
        // Some documents are only ever read to be changed.
        #[allow(dead_code)]
        pub(crate) fn $name(&self) -> Result<&$ty, NodeError> {
            loaded(&self.$name, DocKind::$ty, &self.store, self.device, self.epoch)
        }
        #[doc = concat!("The ", stringify!($name), " document to change, loaded first if it is not yet.")]
        pub(crate) fn $name_mut(&mut self) -> Result<&mut $ty, NodeError> {
            loaded_mut(&mut self.$name, DocKind::$ty, &self.store, self.device, self.epoch)
        }
    )*};
}

impl Docs {
    /// The documents of the node of `store`, none loaded yet.
    pub(crate) fn new(store: Arc<Store>, device: [u8; 32], epoch: [u8; EPOCH_LEN]) -> Docs {
        Docs {
            charter: OnceCell::new(),
            values: OnceCell::new(),
            library: OnceCell::new(),
            calendar: Default::default(),
            proposals: OnceCell::new(),
            events: OnceCell::new(),
            profiles: OnceCell::new(),
            ledger: OnceCell::new(),
            store,
            groups: BTreeMap::new(),
            device,
            epoch,
            attestations: BTreeMap::new(),
            other_copy_seen: None,
            forks: Default::default(),
            refused: Vec::new(),
            missing_files: None,
            named_files: None,
            file_sizes: BTreeMap::new(),
            quota_cache: None,
            summaries: BTreeMap::new(),
            names_to_keep: Default::default(),
            prepared: Default::default(),
        }
    }

    accessors!(
        charter, charter_mut: Charter,
        values, values_mut: Values,
        library, library_mut: Library,
        proposals, proposals_mut: Proposals,
        events, events_mut: Events,
        profiles, profiles_mut: Profiles,
        ledger, ledger_mut: Ledger,
    );

    /// One part of the calendar, loaded first if it is not yet.
    pub(crate) fn calendar(&self, part: Part) -> Result<&Calendar, NodeError> {
        let slot = &self.calendar[usize::from(part.index())];
        let fresh = slot.get().is_none();
        let calendar = loaded(
            slot,
            DocKind::Calendar(part),
            &self.store,
            self.device,
            self.epoch,
        )?;
        if fresh {
            self.note_resource_names(part, calendar);
        }
        Ok(calendar)
    }

    /// The ids and names of a part's resources, as stored beside its chunks
    /// (`WriteBatch::doc_extra` under [`RESOURCE_NAMES`]).
    fn resource_names(calendar: &Calendar) -> Vec<u8> {
        let names: Vec<(String, String)> = calendar
            .resources()
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        postcard::to_allocvec(&names).unwrap_or_default()
    }

    /// Writes in `batch` the resource names of `part`, as they now are.
    pub(crate) fn keep_names_in(batch: &mut WriteBatch, part: Part, calendar: &Calendar) {
        let names = Self::resource_names(calendar);
        batch.doc_extra(&DocKind::Calendar(part).name(), RESOURCE_NAMES, names);
    }

    /// Keeps a part's resource names up to date in the store, once it is
    /// loaded (what peers sent may have added or renamed resources): not
    /// durable at once, and not at all in a store opened to read only.
    fn note_resource_names(&self, part: Part, calendar: &Calendar) {
        if self.store.is_read_only() {
            return;
        }
        let kept = self
            .store
            .doc_extra(&DocKind::Calendar(part).name(), RESOURCE_NAMES);
        if kept.ok().flatten() == Some(Self::resource_names(calendar)) {
            return;
        }
        let mut batch = WriteBatch::new();
        Self::keep_names_in(&mut batch, part, calendar);
        let _ = self.store.commit_deferred(batch);
    }

    /// Keeps the resource names of the parts peers changed, as they now
    /// are (once per burst of received changes, not per change).
    pub(crate) fn keep_resource_names(&mut self) {
        for part in std::mem::take(&mut self.names_to_keep) {
            if let Some(calendar) = self.calendar[usize::from(part.index())].get() {
                self.note_resource_names(part, calendar);
            }
        }
    }

    /// The id of the alliance's resource that `query` names (an id, a
    /// name, an id prefix, read as everywhere else), from the names each
    /// part of the calendar kept when it was last loaded to write: a hint,
    /// so that a command finds a resource by name without loading every
    /// part, to be checked in the part the id belongs to. `None` when the
    /// names kept do not say (a part never loaded to write, a resource
    /// added by a peer since).
    pub(crate) fn resource_named(&self, query: &str) -> Option<String> {
        let mut names: Vec<(String, String)> = Vec::new();
        for part in Part::all() {
            let kept = self
                .store
                .doc_extra(&DocKind::Calendar(part).name(), RESOURCE_NAMES)
                .ok()
                .flatten()?;
            names.extend(postcard::from_bytes::<Vec<(String, String)>>(&kept).ok()?);
        }
        entraide_docs::lookup::resolve(
            query,
            names.iter().map(|(id, name)| (id.as_str(), name.as_str())),
            "resource",
            "resource list",
        )
        .ok()
    }

    /// The attestations held for `doc`, by actor, read from the store if
    /// they were not yet: those stored were checked when they arrived (or
    /// signed here); a stored value that is not an attestation by a device
    /// (a document's summary, its resource names) is none.
    pub(crate) fn attestations(
        &mut self,
        doc: DocKind,
    ) -> Result<&mut BTreeMap<Vec<u8>, Attestation>, NodeError> {
        if !self.attestations.contains_key(&doc) {
            let mut held = BTreeMap::new();
            for (actor, bytes) in self.store.doc_extras(&doc.name())? {
                if let (Some(_), Ok(a)) = (
                    entraide_docs::device_of_actor(&actor),
                    postcard::from_bytes::<Attestation>(&bytes),
                ) {
                    held.insert(actor, a);
                }
            }
            self.attestations.insert(doc, held);
        }
        Ok(self.attestations.entry(doc).or_default())
    }

    /// Every attestation held of the alliance's documents and of the
    /// groups' loaded here, with its document.
    pub(crate) fn every_attestation(
        &mut self,
    ) -> Result<impl Iterator<Item = (DocKind, &Vec<u8>, &Attestation)>, NodeError> {
        let groups: Vec<DocKind> = self
            .groups
            .keys()
            .flat_map(|g| entraide_docs::Shelf::ALL.map(|shelf| DocKind::group(*g, shelf)))
            .collect();
        for doc in DocKind::ALL.into_iter().chain(groups) {
            self.attestations(doc)?;
        }
        Ok(self
            .attestations
            .iter()
            .flat_map(|(doc, held)| held.iter().map(|(actor, a)| (*doc, actor, a))))
    }

    /// One part of the calendar to change, loaded first if it is not yet.
    pub(crate) fn calendar_mut(&mut self, part: Part) -> Result<&mut Calendar, NodeError> {
        self.calendar(part)?;
        let slot = &mut self.calendar[usize::from(part.index())];
        loaded_mut(
            slot,
            DocKind::Calendar(part),
            &self.store,
            self.device,
            self.epoch,
        )
    }

    /// Every part of the calendar, loaded first if they are not yet.
    pub(crate) fn calendar_parts_mut(&mut self) -> Result<Vec<&mut Calendar>, NodeError> {
        for part in Part::all() {
            self.calendar_mut(part)?;
        }
        Ok(self
            .calendar
            .iter_mut()
            .filter_map(OnceCell::get_mut)
            .collect())
    }

    /// One document, for storage and sync.
    pub(crate) fn doc_mut(&mut self, kind: DocKind) -> Result<&mut SharedDoc, NodeError> {
        Ok(match kind {
            DocKind::Charter => self.charter_mut()?.doc_mut(),
            DocKind::Values => self.values_mut()?.doc_mut(),
            DocKind::Library => self.library_mut()?.doc_mut(),
            DocKind::Calendar(part) => self.calendar_mut(part)?.doc_mut(),
            DocKind::Proposals => self.proposals_mut()?.doc_mut(),
            DocKind::Events => self.events_mut()?.doc_mut(),
            DocKind::Profiles => self.profiles_mut()?.doc_mut(),
            DocKind::Ledger => self.ledger_mut()?.doc_mut(),
            DocKind::Group(g) => self.group_mut(g.group).doc_mut(g.shelf),
        })
    }

    /// Whether an alliance document is loaded, or a group's documents.
    pub(crate) fn is_loaded(&self, kind: DocKind) -> bool {
        match kind {
            DocKind::Charter => self.charter.get().is_some(),
            DocKind::Values => self.values.get().is_some(),
            DocKind::Library => self.library.get().is_some(),
            DocKind::Calendar(part) => self.calendar[usize::from(part.index())].get().is_some(),
            DocKind::Proposals => self.proposals.get().is_some(),
            DocKind::Events => self.events.get().is_some(),
            DocKind::Profiles => self.profiles.get().is_some(),
            DocKind::Ledger => self.ledger.get().is_some(),
            DocKind::Group(g) => self.groups.contains_key(&g.group),
        }
    }

    /// What an unloaded alliance document holds, from the summary stored
    /// beside its chunks, if one is and no chunk was written since; `None`
    /// for a loaded document (ask it), a group's, or one whose summary
    /// does not hold (load it).
    pub(crate) fn summary(&mut self, kind: DocKind) -> Option<&Summary> {
        if kind.group_id().is_some() || self.is_loaded(kind) {
            return None;
        }
        if !self.summaries.contains_key(&kind) {
            let stored = self.store.doc_summary(&kind.name()).ok().flatten()?;
            let summary = postcard::from_bytes::<Summary>(&stored).ok()?;
            self.summaries.insert(kind, summary);
        }
        self.summaries.get(&kind)
    }

    /// Forgets an alliance document and its attestations as held in
    /// memory: the next access reads them from the store again (after a
    /// write that did not reach the store).
    pub(crate) fn unload(&mut self, kind: DocKind) {
        self.summaries.remove(&kind);
        self.attestations.remove(&kind);
        match kind {
            DocKind::Charter => self.charter = OnceCell::new(),
            DocKind::Values => self.values = OnceCell::new(),
            DocKind::Library => self.library = OnceCell::new(),
            DocKind::Calendar(part) => self.calendar[usize::from(part.index())] = OnceCell::new(),
            DocKind::Proposals => self.proposals = OnceCell::new(),
            DocKind::Events => self.events = OnceCell::new(),
            DocKind::Profiles => self.profiles = OnceCell::new(),
            DocKind::Ledger => self.ledger = OnceCell::new(),
            DocKind::Group(_) => {}
        }
    }

    /// A group's documents as held here (at their genesis if never loaded:
    /// `Node::load_group` loads them from the store first).
    pub(crate) fn group_mut(&mut self, group: [u8; 16]) -> &mut crate::groups::GroupDocs {
        let (device, epoch) = (self.device, self.epoch);
        self.groups
            .entry(group)
            .or_insert_with(|| crate::groups::GroupDocs::genesis(group, device, epoch))
    }
}
