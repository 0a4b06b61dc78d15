//! Equivocation: two different changes under one actor and sequence number.
//!
//! An honest device never writes two (each opening of its home writes under
//! an actor of its own), but a modified client can, and send one to some
//! members and the other to the rest. automerge holds only one change per
//! actor and sequence number, so the two sides could never take each
//! other's changes again (Kleppmann, "Making CRDTs Byzantine Fault
//! Tolerant", PaPoC 2022: version vectors cannot tell the two apart).
//!
//! The way out is one deterministic rule that every node applies once it
//! holds a proof (both changes, each in the causal past of a change their
//! device attested): the actor is a [`Fork`] from that sequence number on,
//! and every change of that actor from there, and every change built on
//! one, is **set aside**. Both sides drop their side of the fork, so they
//! hold the same changes again. What an honest node had written on top of
//! the fork is not lost: it writes it again, as one new change under a
//! fresh actor ([`SharedDoc::set_aside`] replays the effects of its own
//! set-aside changes on the document without them).
//!
//! This module is pure like the rest of the crate: it reads and rebuilds
//! documents; the node finds the proofs, checks their signatures, stores
//! the result and tells its peers.

use std::collections::{HashMap, HashSet, VecDeque};

use automerge::legacy::{ElementId, Key, ObjectId, OpType};
use automerge::transaction::Transactable;
use automerge::{
    AutoCommit, Change, ChangeHash, Cursor, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
};
use serde::{Deserialize, Serialize};

/// An automerge change, as proofs carry them.
pub use automerge::Change as EncodedChange;

use crate::LoadError;
use crate::authority::causal_order;
use crate::doc::{SharedDoc, device_of_actor};
use crate::{EPOCH_LEN, Members};

/// Most changes a path of a proof may hold, and a tenth of the changes a
/// search for one may visit.
pub const MAX_PATH: usize = 10_000;

/// An actor set aside from a sequence number on (its device equivocated
/// there).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fork {
    /// The actor (the device's key and one opening of its home).
    pub actor: Vec<u8>,
    /// The first sequence number with two changes.
    pub seq: u64,
}

impl Fork {
    /// Whether `change` falls in the fork itself (not counting what was
    /// built on it).
    fn holds(&self, actor: &[u8], seq: u64) -> bool {
        self.actor == actor && seq >= self.seq
    }
}

/// Two changes met under one actor and sequence number: the one this
/// document holds and the one offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The actor.
    pub actor: Vec<u8>,
    /// The sequence number.
    pub seq: u64,
    /// The change held here.
    pub held: ChangeHash,
    /// The change offered.
    pub offered: ChangeHash,
}

/// What a path of changes shows: the first change (the one an attestation
/// names) has the last one in its causal past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathEnds {
    /// The first change's hash.
    pub head: ChangeHash,
    /// The last change's actor.
    pub actor: Vec<u8>,
    /// The last change's sequence number.
    pub seq: u64,
    /// The last change's hash.
    pub hash: ChangeHash,
}

/// Checks a path of encoded changes, each a dependency of the one before,
/// and says what it links.
pub fn check_path(path: &[Vec<u8>]) -> Result<PathEnds, String> {
    if path.is_empty() || path.len() > MAX_PATH {
        return Err(format!(
            "a path holds from 1 to {MAX_PATH} changes, not {}",
            path.len()
        ));
    }
    let mut changes = Vec::with_capacity(path.len());
    for bytes in path {
        let change = Change::try_from(bytes.as_slice())
            .map_err(|_| "a path holds something that is not an automerge change".to_owned())?;
        changes.push(change);
    }
    for pair in changes.windows(2) {
        if !pair[0].deps().contains(&pair[1].hash()) {
            return Err("a change of the path does not build on the next one".into());
        }
    }
    let (first, last) = (&changes[0], &changes[changes.len() - 1]);
    Ok(PathEnds {
        head: first.hash(),
        actor: last.actor_id().to_bytes().to_vec(),
        seq: last.seq(),
        hash: last.hash(),
    })
}

/// The shortest path of changes from `from` down to `to` through
/// dependencies, each change looked up with `lookup`, encoded; `None` when
/// `to` is not in the causal past of `from` (or too far).
pub fn find_path(
    mut lookup: impl FnMut(&ChangeHash) -> Option<Change>,
    from: ChangeHash,
    to: ChangeHash,
) -> Option<Vec<Vec<u8>>> {
    let mut came_from: HashMap<ChangeHash, Option<ChangeHash>> = HashMap::new();
    let mut changes: HashMap<ChangeHash, Change> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    came_from.insert(from, None);
    while let Some(hash) = queue.pop_front() {
        let change = lookup(&hash)?;
        if hash == to {
            changes.insert(hash, change);
            break;
        }
        if came_from.len() > MAX_PATH * 10 {
            return None;
        }
        for dep in change.deps() {
            if !came_from.contains_key(dep) {
                came_from.insert(*dep, Some(hash));
                queue.push_back(*dep);
            }
        }
        changes.insert(hash, change);
    }
    let mut path = Vec::new();
    let mut at = Some(to);
    while let Some(hash) = at {
        path.push(changes.get(&hash)?.raw_bytes().to_vec());
        at = *came_from.get(&hash)?;
    }
    path.reverse();
    (path.len() <= MAX_PATH).then_some(path)
}

/// The changes in `bytes`: a sequence of change chunks (what `save_after`
/// makes) as they are, a whole save loaded apart; `None` when it is not
/// automerge data.
pub fn changes_in(bytes: &[u8]) -> Option<Vec<Change>> {
    if let Some(changes) = crate::doc::split_changes(bytes) {
        return Some(changes);
    }
    let loaded = std::panic::catch_unwind(|| AutoCommit::load(bytes).ok()).ok()??;
    let mut doc = loaded;
    Some(doc.get_changes(&[]))
}

/// Goes through `changes` parents first and says which are set aside by
/// `forks` (in the fork, or built on a change set aside, here or in
/// `aside`); adds them to `aside`.
pub fn sort_out<'a>(
    changes: &'a [Change],
    forks: &[Fork],
    aside: &mut HashSet<ChangeHash>,
) -> (Vec<&'a Change>, Vec<&'a Change>) {
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    for change in causal_order(changes) {
        let actor = change.actor_id().to_bytes();
        let forked = forks.iter().any(|f| f.holds(actor, change.seq()))
            || change.deps().iter().any(|d| aside.contains(d));
        if forked {
            aside.insert(change.hash());
            dropped.push(change);
        } else {
            kept.push(change);
        }
    }
    (kept, dropped)
}

/// What [`SharedDoc::set_aside`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetAside {
    /// The changes set aside.
    pub changes: Vec<ChangeHash>,
    /// How many of them were this device's, written again as one change.
    pub rewritten: usize,
    /// How many of this device's could not be written again (their effect
    /// was on what the fork created, or broke a rule without it).
    pub lost: usize,
}

impl SetAside {
    /// What was set aside, in the audit's words.
    pub fn describe(&self) -> String {
        format!(
            "{} changes in all with those built on them ({} of this node's written again{})",
            self.changes.len(),
            self.rewritten,
            if self.lost > 0 {
                ", some of their effect lost"
            } else {
                ""
            },
        )
    }
}

impl SharedDoc {
    /// The change this document holds under `actor` and `seq`.
    pub fn change_at(&mut self, actor: &[u8], seq: u64) -> Option<ChangeHash> {
        self.write()
            .get_changes_meta(&[])
            .into_iter()
            .find(|m| m.seq == seq && m.actor.to_bytes() == actor)
            .map(|m| m.hash)
    }

    /// Every change this document holds.
    pub fn all_changes(&mut self) -> Vec<Change> {
        self.write().get_changes(&[])
    }

    /// A change this document holds.
    pub fn change(&mut self, hash: &ChangeHash) -> Option<Change> {
        self.write().get_change_by_hash(hash)
    }

    /// A path from the held change `from` down to `to` (see [`find_path`]).
    pub fn path_between(&mut self, from: ChangeHash, to: ChangeHash) -> Option<Vec<Vec<u8>>> {
        let doc = self.write();
        find_path(|h| doc.get_change_by_hash(h), from, to)
    }

    /// Rebuilds the document without what `forks` set aside (see the module
    /// overview). This device's own changes among them are written again
    /// as one change under `epoch`, stamped `now_ms`, if the authority
    /// check (`members`) accepts it; the document then writes on under
    /// `epoch`. Nothing set aside: nothing changes.
    pub fn set_aside(
        &mut self,
        forks: &[Fork],
        epoch: [u8; EPOCH_LEN],
        now_ms: i64,
        members: &dyn Members,
    ) -> Result<SetAside, LoadError> {
        let device = self.device();
        let kind = self.kind();
        let all = self.all_changes();
        let mut aside = HashSet::new();
        let (kept, dropped) = sort_out(&all, forks, &mut aside);
        if dropped.is_empty() {
            return Ok(SetAside::default());
        }
        let kept: Vec<u8> = kept
            .iter()
            .flat_map(|c| c.raw_bytes().iter().copied())
            .collect();
        let own: Vec<&Change> = dropped
            .iter()
            .copied()
            .filter(|c| device_of_actor(c.actor_id().to_bytes()) == Some(device))
            .collect();
        let rebuild = || -> Result<SharedDoc, LoadError> {
            let mut doc = SharedDoc::load(kind, device, [kept.as_slice()])?;
            doc.write_as(epoch);
            Ok(doc)
        };
        let mut doc = rebuild()?;
        let mut outcome = SetAside {
            changes: dropped.iter().map(|c| c.hash()).collect(),
            rewritten: 0,
            lost: 0,
        };
        if !own.is_empty() {
            let (mut made, mut elems) = (HashMap::new(), HashMap::new());
            let skipped: usize = own
                .iter()
                .map(|c| rewrite(doc.write(), self.read(), c, &mut made, &mut elems))
                .sum();
            doc.commit(now_ms, "written again after an equivocation");
            if doc.check_local(members).is_ok() {
                outcome.rewritten = own.len();
                outcome.lost = usize::from(skipped > 0);
            } else {
                doc = rebuild()?;
                outcome.lost = own.len();
            }
        }
        *self = doc;
        Ok(outcome)
    }
}

impl SharedDoc {
    /// Writes again, as one change, this device's changes `own` that a
    /// fork set aside before this document held them (they came back from
    /// a peer after a restore), reading where they wrote in `context`, the
    /// changes that came with them. Returns how many operations found
    /// nothing to act on.
    pub fn rewrite_set_aside(&mut self, context: &[Change], own: &[Change], now_ms: i64) -> usize {
        let mut old = self.fork();
        let doc = old.write();
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            doc.apply_changes(context.to_vec()).is_ok()
        }));
        if !matches!(applied, Ok(true)) {
            return own.iter().map(|c| c.len()).sum();
        }
        let (mut made, mut elems) = (HashMap::new(), HashMap::new());
        let skipped = own
            .iter()
            .map(|c| rewrite(self.write(), old.read(), c, &mut made, &mut elems))
            .sum();
        self.commit(now_ms, "written again after an equivocation");
        skipped
    }
}

/// Writes the operations of `change` (made on another history of the same
/// document) again into `doc`, as the same edits against what `doc` holds:
/// map keys by name, text and list elements after the same element as
/// before (found by its id, so a line written after another lands after
/// it wherever the set-aside text was). Objects and elements the change
/// created are remembered in `made` and `elems` for the changes after it.
/// Returns how many operations found nothing to act on (their object or
/// element was set aside).
fn rewrite(
    doc: &mut AutoCommit,
    old: &AutoCommit,
    change: &Change,
    made: &mut HashMap<String, ObjId>,
    elems: &mut HashMap<String, Cursor>,
) -> usize {
    let expanded = change.decode();
    let start = change.start_op().get();
    let actor = change.actor_id().to_hex_string();
    let mut skipped = 0;
    for (i, op) in expanded.operations.iter().enumerate() {
        let id = format!("{}@{actor}", start + i as u64);
        let obj = match &op.obj {
            ObjectId::Root => Some(ROOT),
            ObjectId::Id(o) => {
                let o = op_str(o);
                made.get(&o).cloned().or_else(|| doc.import_obj(&o).ok())
            }
        };
        let Some(obj) = obj else {
            skipped += 1;
            continue;
        };
        let is_text = doc.object_type(&obj).ok() == Some(ObjType::Text);
        let done: Option<Result<(), automerge::AutomergeError>> = match (&op.key, &op.action) {
            (Key::Map(k), OpType::Make(t)) => Some(
                doc.put_object(&obj, k.as_str(), *t)
                    .map(|new| drop(made.insert(id, new))),
            ),
            (Key::Map(k), OpType::Put(v)) => Some(doc.put(&obj, k.as_str(), v.clone())),
            (Key::Map(k), OpType::Delete) => Some(doc.delete(&obj, k.as_str())),
            (Key::Map(k), OpType::Increment(n)) => Some(doc.increment(&obj, k.as_str(), *n)),
            (Key::Seq(after), action) if op.insert => {
                let at = match after {
                    ElementId::Head => Some(0),
                    ElementId::Id(e) => {
                        let e = op_str(e);
                        position(doc, &obj, &e, elems)
                            .map(|(p, _)| p + 1)
                            .or_else(|| kept_before(doc, old, &obj, &e, change.deps(), elems))
                    }
                };
                at.map(|at| {
                    let at = at.min(doc.length(&obj));
                    let result = match action {
                        OpType::Make(t) => doc
                            .insert_object(&obj, at, *t)
                            .map(|new| drop(made.insert(id.clone(), new))),
                        OpType::Put(ScalarValue::Str(c)) if is_text => {
                            doc.splice_text(&obj, at, 0, c)
                        }
                        OpType::Put(v) => doc.insert(&obj, at, v.clone()),
                        _ => Ok(()),
                    };
                    if let Ok(cursor) = doc.get_cursor(&obj, at, None) {
                        elems.insert(id, cursor);
                    }
                    result
                })
            }
            (Key::Seq(ElementId::Id(e)), OpType::Delete) => {
                match position(doc, &obj, &op_str(e), elems) {
                    Some((at, true)) if is_text => Some(doc.splice_text(&obj, at, 1, "")),
                    Some((at, true)) => Some(doc.delete(&obj, at)),
                    // Deleted already, or set aside: nothing left to do.
                    Some((_, false)) | None => Some(Ok(())),
                }
            }
            // Marks, and overwriting a list element in place: not written
            // by this project's documents.
            _ => Some(Ok(())),
        };
        if !matches!(done, Some(Ok(()))) {
            skipped += 1;
        }
    }
    skipped
}

/// Where to insert after element `id` of `obj`, which `doc` does not hold
/// (it was set aside): after the nearest element before it, in `old` as of
/// `deps`, that `doc` holds; at the start if none.
fn kept_before(
    doc: &AutoCommit,
    old: &AutoCommit,
    obj: &ObjId,
    id: &str,
    deps: &[ChangeHash],
    elems: &HashMap<String, Cursor>,
) -> Option<usize> {
    let old_obj = old.import_obj(&obj.to_string()).ok()?;
    let cursor = Cursor::try_from(id).ok()?;
    let at = old
        .get_cursor_position(&old_obj, &cursor, Some(deps))
        .ok()?;
    for before in (0..at).rev().take(MAX_PATH) {
        let Ok(c) = old.get_cursor(&old_obj, before, Some(deps)) else {
            continue;
        };
        if let Some((p, _)) = position(doc, obj, &c.to_string(), elems) {
            return Some(p + 1);
        }
    }
    Some(0)
}

/// "counter@actor", as automerge names operations in text.
fn op_str(id: &automerge::legacy::OpId) -> String {
    format!("{}@{}", id.0, id.1.to_hex_string())
}

/// Where element `id` of the sequence `obj` stands in `doc`, and whether it
/// is still there (a deleted element stands just after the visible one
/// before it). `None` when `doc` never held it.
fn position(
    doc: &AutoCommit,
    obj: &ObjId,
    id: &str,
    elems: &HashMap<String, Cursor>,
) -> Option<(usize, bool)> {
    let (after, before) = match elems.get(id) {
        Some(c) => (c.clone(), Cursor::try_from(format!("-{c}")).ok()?),
        None => (
            Cursor::try_from(id).ok()?,
            Cursor::try_from(format!("-{id}")).ok()?,
        ),
    };
    let at_after = doc.get_cursor_position(obj, &after, None).ok()?;
    let at_before = doc.get_cursor_position(obj, &before, None).ok()?;
    Some(if at_after == at_before {
        (at_after, true)
    } else {
        // Deleted: insertions after it go after the visible one before it.
        (at_before, false)
    })
}
