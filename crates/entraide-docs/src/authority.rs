//! Who may write what: the one check every node applies to every change of
//! a shared document before it stores it, whoever made it and whichever path
//! brought it (a live session, `join`, a one-shot `sync`, or this node's own
//! commands).
//!
//! An alliance has no server: the only thing that keeps a member's modified
//! client from rewriting another organisation's booking, vote or library
//! entry is that every honest node refuses such a change. So a change is
//! checked operation by operation ([`crate::ops::operations`]) against
//! the schema of its document and the authority table in ARCHITECTURE.md:
//!
//! - **Where it writes.** Every object has a fixed place in its document: an
//!   automerge object is created once, by one operation, at one key of one
//!   parent, and never moves. The place is read from the object's creating
//!   operation (for objects created in the same bundle) or from the document
//!   (`parents`, which also sees deleted and conflicting objects).
//! - **Who created it.** An object's id is `counter@actor` of the operation
//!   that made it: the creator of a booking, a vote or a library entry is a
//!   fact of the data, never a field someone wrote.
//! - **Records carry their creator.** A record's key (its id) ends with the
//!   first 16 hex digits of its creating device's key ([`record_id`]), so
//!   nobody can create a competing object under another device's record.
//! - **Fixed at creation.** Most fields may only be written by the change
//!   that creates their record. Changing a fixed field (moving a booking)
//!   means a new record.
//! - **Anything else is refused**: a write to a document's root or to the
//!   genesis objects other than creating a record in them, an unknown key, a
//!   wrong type, an oversized string, a counter or a mark.
//!
//! The verdict is a pure function of the change, the places and creators of
//! the objects it writes into (fixed facts, the same on every node), and the
//! membership as [`Members`] answers it: the organisation of a device (which
//! never changes) and, for a coordinator's rights, the membership as the
//! change itself cites it. So every node reaches the same verdict on the
//! same change, whatever the order it arrives in.

use std::collections::HashMap;

use rustc_hash::{FxHashMap, FxHashSet};
use std::rc::Rc;

use automerge::{AutoCommit, Change, ChangeHash, ObjType, ReadDoc};

use crate::ops::{Action, Op, OpId, Value};

use crate::DocKind;

/// What the membership says, as the check needs it.
pub trait Members: Sync {
    /// The organisation of `device`, if it is a device of an organisation
    /// that was admitted (still a member or removed since: a removed
    /// device's changes before its removal still count). `None` for devices
    /// of pending or refused organisations and for strangers.
    fn org_of(&self, device: &[u8; 32]) -> Option<String>;

    /// Whether `org` was a coordinator in the membership made of the
    /// operations `heads` and their past; `None` when this node does not
    /// hold all of them yet.
    fn coordinator_at(&self, org: &str, heads: &[[u8; 32]]) -> Option<bool>;

    /// Whether `org` was ever a member of the working group `group` (its
    /// changes to the group's documents count, as a removed organisation's
    /// do in the alliance's); `None` when this node does not know the group
    /// yet.
    fn was_in_group(&self, group: &[u8; 16], org: &str) -> Option<bool> {
        let _ = (group, org);
        Some(false)
    }
}

/// A change the check refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("change {change} by {}: {rule}", hex::encode(author))]
pub struct Refusal {
    /// The refused change.
    pub change: ChangeHash,
    /// Its actor (the writing device's key).
    pub author: Vec<u8>,
    /// The rule it broke, in plain words.
    pub rule: String,
    /// The verdict cannot be reached yet (the change cites membership
    /// operations this node does not hold): try again later, not an attack.
    pub undecided: bool,
}

/// The id of a new record (value, library entry, resource, booking,
/// proposal): 8 random bytes from the caller, then the first 8 bytes of the
/// creating device's key, as 32 lowercase hex digits.
pub fn record_id(random: [u8; 8], device: &[u8; 32]) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&random);
    bytes[8..].copy_from_slice(&device[..8]);
    hex::encode(bytes)
}

/// The names each kind of field takes: the same enums that write them.
fn entry_kind(s: &str) -> bool {
    crate::library::EntryKind::ALL.iter().any(|k| k.name() == s)
}
fn resource_kind(s: &str) -> bool {
    crate::calendar::ResourceKind::ALL
        .iter()
        .any(|k| k.name() == s)
}
fn proposal_kind(s: &str) -> bool {
    crate::proposals::KINDS.contains(&s)
}
fn process(s: &str) -> bool {
    crate::proposals::Process::parse(s).is_ok_and(|p| p.name() == s)
}
fn position(s: &str) -> bool {
    crate::proposals::Position::parse(s).is_ok_and(|p| p.name() == s)
}
fn decision(s: &str) -> bool {
    matches!(s, "approved" | "declined")
}

/// Longest string of any field, unless its field says otherwise (chars).
const MAX_STRING: usize = 10_000;
use crate::calendar::{MAX_PURPOSE, MAX_SERIES};
/// Longest proposal text (a charter amendment carries a whole charter).
const MAX_PROPOSAL_TEXT: usize = 1_000_000;
/// Longest string one operation may insert into the charter text.
const MAX_TEXT_INSERT: usize = 64;

/// Checks `changes` (in any order; their dependencies are either in
/// `changes` or in `doc`) against the authority rules of `kind`. `doc` holds
/// every object the changes write into that they do not create themselves.
pub fn check_changes(
    kind: DocKind,
    doc: &AutoCommit,
    changes: &[Change],
    members: &dyn Members,
) -> Result<(), Refusal> {
    let mut places = Places::default();
    let members = Remembered {
        members,
        orgs: Default::default(),
    };
    for change in causal_order(changes) {
        check_change(kind, doc, change, &members, &mut places)?;
    }
    Ok(())
}

/// Checks every change of a whole save as [`crate::save_ops`] reads it, in
/// the save's order (which is causal), against the authority rules of
/// `kind`; `doc` holds the document's genesis and nothing else. The save's
/// genesis change (the genesis actor's first) is not checked: the caller
/// makes sure it is the genesis. A refusal
/// comes with the position of its change in `changes`, and without its
/// hash (all zeros), which automerge gives once it has loaded the save.
pub fn check_read_changes(
    kind: DocKind,
    doc: &AutoCommit,
    changes: &crate::save_ops::ReadChanges<'_>,
    members: &dyn Members,
) -> Result<(), (usize, Refusal)> {
    let mut places = Places::default();
    let members = Remembered {
        members,
        orgs: Default::default(),
    };
    for (i, change) in changes.changes.iter().enumerate() {
        if change.actor == crate::GENESIS_ACTOR.as_slice() && change.seq == 1 {
            continue;
        }
        let written = Written {
            hash: ChangeHash([0; 32]),
            actor: change.actor,
            start: change.start_op,
        };
        check_written(
            kind,
            doc,
            &written,
            || Ok(std::borrow::Cow::Borrowed(changes.ops(change))),
            &members,
            &mut places,
        )
        .map_err(|refusal| (i, refusal))?;
    }
    Ok(())
}

/// The membership as one check asks it, each device's organisation asked
/// once (a node's answer walks every organisation's devices; a bundle asks
/// for the same few devices at every operation).
struct Remembered<'a> {
    members: &'a dyn Members,
    orgs: std::sync::Mutex<FxHashMap<[u8; 32], Option<String>>>,
}

impl Members for Remembered<'_> {
    fn org_of(&self, device: &[u8; 32]) -> Option<String> {
        let Ok(mut orgs) = self.orgs.lock() else {
            return self.members.org_of(device);
        };
        orgs.entry(*device)
            .or_insert_with(|| self.members.org_of(device))
            .clone()
    }

    fn coordinator_at(&self, org: &str, heads: &[[u8; 32]]) -> Option<bool> {
        self.members.coordinator_at(org, heads)
    }

    fn was_in_group(&self, group: &[u8; 16], org: &str) -> Option<bool> {
        self.members.was_in_group(group, org)
    }
}

/// Parents before children, whatever order the changes came in. (Change
/// hashes are uniformly random: a fast hasher is enough, and a catch-up
/// bundle holds hundreds of thousands of them.)
pub(crate) fn causal_order<C: std::borrow::Borrow<Change>>(changes: &[C]) -> Vec<&C> {
    let index: FxHashMap<ChangeHash, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.borrow().hash(), i))
        .collect();
    // Each change's parents within `changes`, and the children of each, as
    // one flat list with offsets (one allocation, not one per change).
    let mut waiting = vec![0usize; changes.len()];
    let mut offsets = vec![0usize; changes.len() + 1];
    let mut edges = Vec::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        for &p in c.borrow().deps().iter().filter_map(|d| index.get(d)) {
            waiting[i] += 1;
            offsets[p + 1] += 1;
            edges.push((p, i));
        }
    }
    // Already parents first (as a peer sends them): nothing to sort.
    if edges.iter().all(|&(p, i)| p < i) {
        return changes.iter().collect();
    }
    for k in 0..changes.len() {
        offsets[k + 1] += offsets[k];
    }
    let mut children = vec![0usize; edges.len()];
    let mut fill = offsets.clone();
    for &(p, i) in &edges {
        children[fill[p]] = i;
        fill[p] += 1;
    }
    let mut order: Vec<usize> = (0..changes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut next = 0;
    while next < order.len() {
        let i = order[next];
        next += 1;
        for &c in &children[offsets[i]..offsets[i + 1]] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                order.push(c);
            }
        }
    }
    order.into_iter().map(|i| &changes[i]).collect()
}

/// One step of an object's place: its key in its parent and its creator.
#[derive(Clone, Debug)]
struct Step {
    key: Rc<str>,
    /// Shared by every step its change made: copying a path to make a
    /// child's copies no bytes.
    creator: Rc<[u8]>,
}

/// An operation or object id as a map key: its counter and its actor's
/// bytes, with their length last (actors longer than a device's actor are
/// never a device's: such keys only need to differ from devices').
type OpKey = (u64, [u8; ACTOR_KEY]);

const ACTOR_KEY: usize = 32 + crate::EPOCH_LEN + 1;

fn op_key(counter: u64, bytes: &[u8]) -> OpKey {
    let mut key = [0xff; ACTOR_KEY];
    let n = bytes.len().min(ACTOR_KEY - 1);
    key[..n].copy_from_slice(&bytes[..n]);
    key[ACTOR_KEY - 1] = bytes.len().min(255) as u8;
    (counter, key)
}

/// Where objects are: those created by the changes checked so far, and
/// those looked up in the document (cached).
#[derive(Default)]
struct Places {
    known: FxHashMap<OpKey, Rc<[Step]>>,
    root: Option<Rc<[Step]>>,
    /// The last object asked about: a change's operations mostly write
    /// into one object (a text, a record).
    last: Option<(OpKey, Rc<[Step]>)>,
    /// Each author's organisation and key in hex, found once per check.
    authors: FxHashMap<[u8; 32], Option<Author>>,
}

impl Places {
    fn of(&mut self, doc: &AutoCommit, obj: &Option<OpId<'_>>) -> Option<Rc<[Step]>> {
        let Some(id) = obj else {
            return Some(
                self.root
                    .get_or_insert_with(|| Rc::from(Vec::new()))
                    .clone(),
            );
        };
        let key = op_key(id.counter, id.actor);
        if let Some((last, place)) = &self.last
            && *last == key
        {
            return Some(place.clone());
        }
        if let Some(place) = self.known.get(&key) {
            self.last = Some((key, place.clone()));
            return Some(place.clone());
        }
        let exid = doc
            .import_obj(&format!("{}@{}", id.counter, hex::encode(id.actor)))
            .ok()?;
        let mut steps = Vec::new();
        let mut child_creator = id.actor.to_vec();
        for parent in doc.parents(&exid).ok()? {
            let key = match parent.prop {
                automerge::Prop::Map(k) => k,
                automerge::Prop::Seq(i) => i.to_string(),
            };
            steps.push(Step {
                key: Rc::from(key),
                creator: Rc::from(child_creator),
            });
            child_creator = match &parent.obj {
                automerge::ObjId::Id(_, actor, _) => actor.to_bytes().to_vec(),
                automerge::ObjId::Root => Vec::new(),
            };
        }
        steps.reverse();
        let steps: Rc<[Step]> = Rc::from(steps);
        self.known.insert(key, steps.clone());
        Some(steps)
    }
}

/// An author's organisation and device key in hex.
type Author = (Rc<str>, Rc<str>);

/// What the rules know of the change being checked.
struct Ctx<'a> {
    kind: DocKind,
    device: [u8; 32],
    device_hex: Rc<str>,
    org: Rc<str>,
    members: &'a dyn Members,
    /// Objects this change creates.
    created: FxHashSet<OpKey>,
    /// Proposals this change creates: kind and whether it names a motion.
    proposals: HashMap<String, (Option<String>, bool)>,
    /// Membership heads the change cites (`cancelled_under`, `under`), per
    /// act that needs a coordinator.
    cites: HashMap<Vec<u8>, Vec<[u8; 32]>>,
    /// Acts only a coordinator may do (cancelling another organisation's
    /// booking, the fund's payments), with the rule a refusal names.
    coordinator_acts: Vec<(Vec<u8>, &'static str)>,
    /// Ledger entries this change creates: their kind and parties.
    entries: HashMap<String, LedgerEntry>,
}

/// What the check gathers of a ledger entry the change creates.
#[derive(Default)]
struct LedgerEntry {
    kind: Option<String>,
    payee: Option<String>,
    payer: Option<String>,
    borrower: Option<String>,
}

impl Ctx<'_> {
    /// Notes an act that only a coordinator may do.
    fn needs_coordinator(&mut self, act: Vec<u8>, rule: &'static str) {
        if !self.coordinator_acts.iter().any(|(a, _)| *a == act) {
            self.coordinator_acts.push((act, rule));
        }
    }
}

fn check_change(
    kind: DocKind,
    doc: &AutoCommit,
    change: &Change,
    members: &dyn Members,
    places: &mut Places,
) -> Result<(), Refusal> {
    let written = Written {
        hash: change.hash(),
        actor: change.actor_id().to_bytes(),
        start: change.start_op().get(),
    };
    check_written(
        kind,
        doc,
        &written,
        || crate::ops::operations(change).map(std::borrow::Cow::Owned),
        members,
        places,
    )
}

/// What the rules need of a change besides its operations.
struct Written<'a> {
    hash: ChangeHash,
    actor: &'a [u8],
    /// The counter of its first operation.
    start: u64,
}

/// The rules for one change, whose operations `ops` reads (only once its
/// author is known to be a member's device).
fn check_written<'x, 'o: 'x>(
    kind: DocKind,
    doc: &AutoCommit,
    change: &Written<'_>,
    ops: impl FnOnce() -> Result<std::borrow::Cow<'x, [Op<'o>]>, crate::ops::Unreadable>,
    members: &dyn Members,
    places: &mut Places,
) -> Result<(), Refusal> {
    let refuse = |rule: String| Refusal {
        change: change.hash,
        author: change.actor.to_vec(),
        rule,
        undecided: false,
    };
    let Some(device) = crate::device_of_actor(change.actor) else {
        return Err(refuse("the change is not by a device".into()));
    };
    let author = places
        .authors
        .entry(device)
        .or_insert_with(|| {
            members
                .org_of(&device)
                .map(|org| (Rc::from(org), Rc::from(hex::encode(device))))
        })
        .clone();
    let Some((org, device_hex)) = author else {
        // Perhaps an organisation whose admission this node has not seen
        // pass yet: no verdict until it has (the change is not stored).
        return Err(Refusal {
            undecided: true,
            ..refuse("the change is by a device of no admitted organisation".into())
        });
    };
    // A group's documents: written by its member organisations only.
    if let Some(group) = kind.group_id() {
        match members.was_in_group(&group, &org) {
            Some(true) => {}
            Some(false) => {
                return Err(refuse(
                    "the change is by an organisation that is not a member of the group".into(),
                ));
            }
            None => {
                return Err(Refusal {
                    undecided: true,
                    ..refuse("the change is to a group this node does not know yet".into())
                });
            }
        }
    }
    let ops = ops().map_err(|e| refuse(e.to_string()))?;
    let start = change.start;
    let actor = change.actor;
    let mut ctx = Ctx {
        // A group's document has the schema of the alliance's of its kind.
        kind: kind.base(),
        device,
        device_hex,
        org,
        members,
        created: FxHashSet::default(),
        proposals: HashMap::new(),
        cites: HashMap::new(),
        coordinator_acts: Vec::new(),
        entries: HashMap::new(),
    };
    // The author as the creator of the objects this change makes.
    let mut creator: Option<Rc<[u8]>> = None;
    for (i, op) in ops.iter().enumerate() {
        let id = op_key(start + i as u64, actor);
        let Some(place) = places.of(doc, &op.obj) else {
            return Err(refuse(
                "it writes into an object that does not exist".into(),
            ));
        };
        let target_here = op
            .obj
            .is_some_and(|o| ctx.created.contains(&op_key(o.counter, o.actor)));
        let key = op.map_key();
        check_op(&mut ctx, &place, target_here, key, op).map_err(&refuse)?;
        if let Action::Make(_) = op.action {
            let creator = creator.get_or_insert_with(|| Rc::from(actor)).clone();
            let mut child = place.to_vec();
            child.push(Step {
                key: Rc::from(key.unwrap_or_default()),
                creator,
            });
            places.known.insert(id, Rc::from(child));
            ctx.created.insert(id);
        }
    }
    // Fields checked together once the whole change is read.
    for (id, (kind, motion)) in &ctx.proposals {
        let deciding = matches!(kind.as_deref(), Some("admission" | "removal"));
        if deciding != *motion {
            return Err(refuse(format!(
                "proposal {id}: only admission and removal proposals name a membership motion, and they must"
            )));
        }
    }
    let entries = std::mem::take(&mut ctx.entries);
    for (id, entry) in &entries {
        let ok = match entry.kind.as_deref() {
            Some("payment") => match (&entry.payer, &entry.payee) {
                (Some(payer), Some(payee)) if payer == payee => false,
                (Some(_), Some(payee)) if payee.as_str() == crate::ledger::FUND => {
                    ctx.needs_coordinator(
                        format!("ledger:{id}").into_bytes(),
                        "only a coordinator records a payment received by the fund",
                    );
                    true
                }
                (Some(_), Some(payee)) => *payee == *ctx.org,
                _ => false,
            },
            Some("loan") => entry.borrower.as_ref().is_some_and(|b| *b != *ctx.org),
            _ => false,
        };
        if !ok {
            return Err(refuse(format!(
                "ledger entry {id}: a payment is recorded by the organisation that received it, from another party; a loan is offered by the lender to another organisation"
            )));
        }
    }
    for (act, rule) in &ctx.coordinator_acts {
        let cited = ctx.cites.get(act).cloned().unwrap_or_default();
        match members.coordinator_at(&ctx.org, &cited) {
            Some(true) if !cited.is_empty() => {}
            None => {
                return Err(Refusal {
                    undecided: true,
                    ..refuse("it cites membership operations this node does not hold yet".into())
                });
            }
            _ => return Err(refuse((*rule).into())),
        }
    }
    Ok(())
}

/// A record key: 32 lowercase hex digits ending with the device's prefix.
fn own_record_key(key: &str, device_hex: &str) -> bool {
    key.len() == 32
        && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && key[16..] == device_hex[..16]
}

/// The rule for one operation. `place` is where the object it writes into
/// sits (empty: the document's root); `here`: that object was created by
/// this same change.
fn check_op(
    ctx: &mut Ctx<'_>,
    place: &[Step],
    here: bool,
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    match &op.action {
        Action::Increment => return Err("counters are not part of any document".into()),
        Action::Mark => {
            return Err("marks are not part of any document".into());
        }
        _ => {}
    }
    // Every place in the schema is at most four steps deep.
    let mut buf = [""; 5];
    for (slot, step) in buf.iter_mut().zip(place) {
        *slot = &step.key;
    }
    let path = &buf[..place.len().min(5)];
    let kind = ctx.kind;
    match (kind, path) {
        (_, []) => Err("nothing may be written at a document's root".into()),
        (DocKind::Charter, ["text"]) => charter_text(op),
        (DocKind::Values, ["values"])
        | (DocKind::Library, ["entries"])
        | (DocKind::Calendar(_), ["resources"])
        | (DocKind::Proposals, ["proposals"])
        | (DocKind::Events, ["events"])
        | (DocKind::Ledger, ["entries"]) => new_record(ctx, op, key),
        (DocKind::Calendar(_), ["bookings"]) => {
            // A resource's shelf of bookings comes with the resource.
            let key = key.unwrap_or_default();
            let with_resource = matches!(op.action, Action::Make(ObjType::Map))
                && op.pred.is_empty()
                && own_record_key(key, &ctx.device_hex);
            if with_resource {
                Ok(())
            } else {
                Err("a resource's bookings are created with the resource, by its owner".into())
            }
        }
        (DocKind::Calendar(_), ["bookings", _]) => new_record(ctx, op, key),
        (DocKind::Values, ["values", _]) => {
            let proposer = same_org(ctx, &place[1].creator);
            value_field(ctx, here, proposer, key, op)
        }
        (DocKind::Values, ["values", _, "endorsements"]) => endorsement(ctx, key, op),
        (DocKind::Library, ["entries", _]) => entry_field(ctx, here, key, op),
        (DocKind::Library, ["entries", _, "tags"]) => {
            if !here {
                return Err("a library entry's tags are fixed when it is added".into());
            }
            match op.put() {
                Some(Value::Str(s)) if op.insert && s.chars().count() <= 50 => Ok(()),
                _ => Err("a tag is a short string".into()),
            }
        }
        (DocKind::Calendar(_), ["resources", _]) => {
            let owner = same_org(ctx, &place[1].creator);
            resource_field(ctx, here, owner, key, op)
        }
        (DocKind::Calendar(_), ["bookings", _, _]) => {
            let booker = same_org(ctx, &place[2].creator);
            let owner = same_org(ctx, &place[1].creator);
            booking_field(ctx, here, booker, owner, &place[2].creator, key, op)
        }
        (DocKind::Proposals, ["proposals", id]) => proposal_field(ctx, here, id, key, op),
        (DocKind::Proposals, ["proposals", _, "votes"]) => {
            let mine = key == Some(&*ctx.device_hex);
            let replaces_own = op
                .pred
                .iter()
                .all(|p| crate::device_of_actor(p.actor) == Some(ctx.device));
            match op.action {
                Action::Make(ObjType::Map) if mine && replaces_own => Ok(()),
                _ => Err("a vote is cast by its own device, under its own key".into()),
            }
        }
        (DocKind::Proposals, ["proposals", _, "votes", _]) => vote_field(ctx, here, key, op),
        (DocKind::Events, ["events", _]) => {
            let organiser = same_org(ctx, &place[1].creator);
            event_field(ctx, here, organiser, key, op)
        }
        (DocKind::Events, ["events", _, "registrations"]) => {
            // One registration per organisation, under its own id.
            own_org_slot(ctx, key, op, true).map_err(|()| {
                "an organisation registers (or withdraws) in its own name only".into()
            })
        }
        (DocKind::Events, ["events", _, "registrations", _]) => {
            registration_field(ctx, here, key, op)
        }
        (DocKind::Ledger, ["entries", id]) => ledger_field(ctx, here, id, key, op),
        (DocKind::Ledger, ["entries", id, slots @ ("confirmed" | "accepted")]) => {
            // A payer confirms, a borrower accepts, in its own name only
            // (the fund's name: a coordinator's), once.
            let fund = *slots == "confirmed" && key == Some(crate::ledger::FUND);
            if fund {
                ctx.needs_coordinator(
                    format!("ledger:{id}:confirm").into_bytes(),
                    "only a coordinator confirms the fund's payments",
                );
            }
            let own = key == Some(&*ctx.org) || fund;
            match op.action {
                Action::Make(ObjType::Map) if own && op.pred.is_empty() => Ok(()),
                _ => Err(format!(
                    "an organisation signs a payment's confirmation or a loan's acceptance in its own name only, once ({slots})"
                )),
            }
        }
        (DocKind::Ledger, ["entries", id, _, _]) => {
            let field = key.unwrap_or_default();
            fixed(here, field)?;
            match field {
                "at" => scalar(op, field, Want::Int),
                "device" => scalar(op, field, Want::Is(&ctx.device_hex)),
                "under" => cite(ctx, format!("ledger:{id}:confirm").into_bytes(), op),
                _ => Err(format!("a signature has no field '{field}' of this kind")),
            }
        }
        (DocKind::Profiles, ["orgs"]) => own_org_slot(ctx, key, op, false)
            .map_err(|()| "an organisation writes its own profile only".into()),
        (DocKind::Profiles, ["orgs", _]) => profile_field(ctx, here, key, op),
        (DocKind::Profiles, ["orgs", _, "offers" | "needs" | "tags"]) => {
            if !here {
                return Err("a profile's tags are fixed; a new profile replaces them".into());
            }
            match op.put() {
                Some(Value::Str(s))
                    if op.insert && s.chars().count() <= crate::profiles::MAX_TAG =>
                {
                    Ok(())
                }
                _ => Err("a tag is a short string".into()),
            }
        }
        _ => Err(format!(
            "{} has no object at {}",
            kind.name(),
            path.join("/")
        )),
    }
}

/// Whether every operation `op` overwrites or deletes was written by a
/// device of the writing device's organisation.
fn replaces_own_org(ctx: &Ctx<'_>, op: &Op<'_>) -> bool {
    op.pred.iter().all(|p| same_org(ctx, p.actor))
}

/// Whether `creator` (an actor) is a device of the writing device's organisation.
fn same_org(ctx: &Ctx<'_>, creator: &[u8]) -> bool {
    crate::device_of_actor(creator)
        .and_then(|d| ctx.members.org_of(&d))
        .is_some_and(|o| *o == *ctx.org)
}

fn charter_text(op: &Op<'_>) -> Result<(), String> {
    match &op.action {
        Action::Delete => Ok(()),
        Action::Put(Value::Str(s)) if s.chars().count() <= MAX_TEXT_INSERT => Ok(()),
        _ => Err("the charter text holds characters only".into()),
    }
}

/// A new record in a collection: a map under the creating device's id.
fn new_record(ctx: &Ctx<'_>, op: &Op<'_>, key: Option<&str>) -> Result<(), String> {
    match op.action {
        Action::Make(ObjType::Map)
            if op.pred.is_empty() && key.is_some_and(|k| own_record_key(k, &ctx.device_hex)) =>
        {
            Ok(())
        }
        Action::Make(ObjType::Map) if op.pred.is_empty() => Err(
            "a new record's id must end with its device's key (an id of another device's record)"
                .into(),
        ),
        Action::Delete if ctx.kind == DocKind::Library && replaces_own_org(ctx, op) => {
            // An organisation may withdraw its own library entries.
            Ok(())
        }
        _ => Err("records are never replaced or deleted".into()),
    }
}

/// Checks a scalar put: its type and size; `Err` names the field.
fn scalar(op: &Op<'_>, field: &str, want: Want) -> Result<(), String> {
    let ok = match (op.put(), want) {
        (Some(Value::Str(s)), Want::Str(max)) => s.chars().count() <= max,
        (Some(Value::Str(s)), Want::Named(_, valid)) => valid(s),
        (Some(Value::Str(s)), Want::Is(v)) => *s == v,
        (Some(Value::Int(_) | Value::Uint(_) | Value::Timestamp(_)), Want::Int) => true,
        (Some(Value::Bool(_)), Want::Bool) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: {}", want.describe()))
    }
}

#[derive(Clone, Copy)]
enum Want<'a> {
    Str(usize),
    Named(&'static str, fn(&str) -> bool),
    Is(&'a str),
    Int,
    Bool,
}

impl Want<'_> {
    fn describe(&self) -> String {
        match self {
            Want::Str(max) => format!("a string of at most {max} characters"),
            Want::Named(what, _) => (*what).to_owned(),
            Want::Is(v) => format!("must be the writer's own ({v})"),
            Want::Int => "an integer".into(),
            Want::Bool => "true or false".into(),
        }
    }
}

fn fixed(here: bool, field: &str) -> Result<(), String> {
    if here {
        Ok(())
    } else {
        Err(format!("{field} is fixed when its record is created"))
    }
}

fn value_field(
    ctx: &Ctx<'_>,
    here: bool,
    proposer: bool,
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    let field = key.unwrap_or_default();
    // The proposing organisation may correct the wording later.
    let rewording = matches!(field, "name" | "description" | "edited_at");
    if !(here || rewording && proposer) {
        return Err(if rewording {
            "only the organisation that proposed a value may correct its wording".into()
        } else {
            format!("{field} is fixed when its record is created")
        });
    }
    match field {
        "edited_at" => scalar(op, field, Want::Int),
        "name" => scalar(op, field, Want::Str(crate::values::MAX_NAME)),
        "description" => scalar(op, field, Want::Str(crate::values::MAX_DESCRIPTION)),
        "created_by" => scalar(op, field, Want::Is(&ctx.org)),
        "created_at" => scalar(op, field, Want::Int),
        "endorsements" if matches!(op.action, Action::Make(ObjType::Map)) => Ok(()),
        _ => Err(format!("a value has no field '{field}' of this kind")),
    }
}

fn endorsement(ctx: &Ctx<'_>, key: Option<&str>, op: &Op<'_>) -> Result<(), String> {
    if key != Some(&*ctx.org) {
        return Err("an organisation endorses (or withdraws) in its own name only".into());
    }
    match op.action {
        Action::Delete => Ok(()),
        _ => scalar(op, "endorsement", Want::Int),
    }
}

fn entry_field(ctx: &Ctx<'_>, here: bool, key: Option<&str>, op: &Op<'_>) -> Result<(), String> {
    let field = key.unwrap_or_default();
    fixed(here, field)?;
    match field {
        "title" => scalar(op, field, Want::Str(crate::library::MAX_TITLE)),
        "kind" => scalar(op, field, Want::Named("a library kind", entry_kind)),
        "tags" if matches!(op.action, Action::Make(ObjType::List)) => Ok(()),
        "size" => scalar(op, field, Want::Int),
        "hash" => match op.put() {
            Some(Value::Str(s))
                if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(())
            }
            _ => Err("hash: 64 lowercase hex digits".into()),
        },
        "file_name" => scalar(op, field, Want::Str(255)),
        "added_by" => scalar(op, field, Want::Is(&ctx.org)),
        "added_by_device" => scalar(op, field, Want::Is(&ctx.device_hex)),
        "added_at" => scalar(op, field, Want::Int),
        _ => Err(format!(
            "a library entry has no field '{field}' of this kind"
        )),
    }
}

fn resource_field(
    ctx: &Ctx<'_>,
    here: bool,
    owner: bool,
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    let field = key.unwrap_or_default();
    // Fixed at creation.
    match field {
        "owner" => return fixed(here, field).and_then(|()| scalar(op, field, Want::Is(&ctx.org))),
        "created_at" => return fixed(here, field).and_then(|()| scalar(op, field, Want::Int)),
        "zone" => return fixed(here, field).and_then(|()| scalar(op, field, Want::Str(64))),
        _ => {}
    }
    // The owner may change the rest later.
    if !here && !owner {
        return Err("only the resource's owner may change it".into());
    }
    if matches!(op.action, Action::Delete)
        && matches!(field, "capacity" | "location" | "quota" | "hours")
    {
        return Ok(());
    }
    match field {
        "name" | "location" | "hours" => scalar(op, field, Want::Str(200)),
        "kind" => scalar(op, field, Want::Named("a resource kind", resource_kind)),
        "capacity" => scalar(op, field, Want::Int),
        "quota" => scalar(op, field, Want::Str(50)),
        "approval" => scalar(op, field, Want::Bool),
        "withdrawn_at" => scalar(op, field, Want::Int),
        _ => Err(format!("a resource has no field '{field}' of this kind")),
    }
}

fn booking_field(
    ctx: &mut Ctx<'_>,
    here: bool,
    booker: bool,
    owner: bool,
    booking: &[u8],
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    let field = key.unwrap_or_default();
    match field {
        "fixed" => fixed(here, field).and_then(|()| packed_booking(ctx, op)),
        // One key per field: bookings written before schema version 3.
        "org" => fixed(here, field).and_then(|()| scalar(op, field, Want::Is(&ctx.org))),
        "device" => fixed(here, field).and_then(|()| scalar(op, field, Want::Is(&ctx.device_hex))),
        "from" | "to" | "created_at" => {
            fixed(here, field).and_then(|()| scalar(op, field, Want::Int))
        }
        "purpose" => fixed(here, field).and_then(|()| scalar(op, field, Want::Str(MAX_PURPOSE))),
        "series" => fixed(here, field).and_then(|()| scalar(op, field, Want::Str(MAX_SERIES))),
        "cancelled_by" | "cancelled_by_device" | "cancelled_at" | "cancelled_under" => {
            if !booker {
                ctx.needs_coordinator(
                    booking.to_vec(),
                    "only the booking's organisation or a coordinator may cancel a booking",
                );
            }
            match field {
                "cancelled_by" => scalar(op, field, Want::Is(&ctx.org)),
                "cancelled_by_device" => scalar(op, field, Want::Is(&ctx.device_hex)),
                "cancelled_at" => scalar(op, field, Want::Int),
                _ => cite(ctx, booking.to_vec(), op),
            }
        }
        "decision" | "decision_reason" | "decided_by" | "decided_by_device" => {
            if !owner {
                return Err("only the resource's owner decides its bookings".into());
            }
            match field {
                "decision" => scalar(op, field, Want::Named("approved or declined", decision)),
                "decision_reason" => scalar(op, field, Want::Str(MAX_STRING)),
                "decided_by" => scalar(op, field, Want::Is(&ctx.org)),
                _ => scalar(op, field, Want::Is(&ctx.device_hex)),
            }
        }
        _ => Err(format!("a booking has no field '{field}' of this kind")),
    }
}

/// A booking's fixed fields in one value: in the writer's own name, with
/// the bounds of the fields written one by one.
fn packed_booking(ctx: &Ctx<'_>, op: &Op<'_>) -> Result<(), String> {
    let Some(Value::Bytes(bytes)) = op.put() else {
        return Err("fixed: a booking's packed fields (bytes)".into());
    };
    let Some(b) = crate::calendar::BookingFixed::unpack(bytes) else {
        return Err("fixed: not a booking's packed fields of a known version".into());
    };
    if b.org != *ctx.org || b.device != ctx.device {
        return Err("a booking is made in its writer's own name, by its own device".into());
    }
    let within = |s: &str, max: usize| s.chars().count() <= max;
    if !within(&b.purpose, MAX_PURPOSE)
        || !b.series.as_deref().is_none_or(|s| within(s, MAX_SERIES))
    {
        return Err(format!(
            "fixed: a purpose of at most {MAX_PURPOSE} characters, a series id of at most {MAX_SERIES}"
        ));
    }
    Ok(())
}

fn event_field(
    ctx: &Ctx<'_>,
    here: bool,
    organiser: bool,
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    let field = key.unwrap_or_default();
    if field == "closed_at" {
        // Registrations are closed and opened by the organiser alone.
        if !organiser {
            return Err("only the event's organisation may close its registrations".into());
        }
        return match op.action {
            Action::Delete => Ok(()),
            _ => scalar(op, field, Want::Int),
        };
    }
    fixed(here, field)?;
    match field {
        "title" => scalar(op, field, Want::Str(crate::events::MAX_TITLE)),
        "from" | "to" | "seats" | "per_org" | "created_at" => scalar(op, field, Want::Int),
        "resource" | "booking" => scalar(op, field, Want::Str(64)),
        "org" => scalar(op, field, Want::Is(&ctx.org)),
        "device" => scalar(op, field, Want::Is(&ctx.device_hex)),
        "registrations" if matches!(op.action, Action::Make(ObjType::Map)) => Ok(()),
        _ => Err(format!("an event has no field '{field}' of this kind")),
    }
}

/// A slot of one organisation under its own id (a registration, a
/// profile): made, replaced (a new map in place of its own) or, when
/// `delete` allows, withdrawn by that organisation's devices only.
fn own_org_slot(ctx: &Ctx<'_>, key: Option<&str>, op: &Op<'_>, delete: bool) -> Result<(), ()> {
    let own_key = key == Some(&*ctx.org);
    let replaces_own = replaces_own_org(ctx, op);
    let action = match op.action {
        Action::Make(ObjType::Map) => true,
        Action::Delete => delete,
        _ => false,
    };
    if own_key && replaces_own && action {
        Ok(())
    } else {
        Err(())
    }
}

fn profile_field(ctx: &Ctx<'_>, here: bool, key: Option<&str>, op: &Op<'_>) -> Result<(), String> {
    let field = key.unwrap_or_default();
    if !here {
        return Err("a profile is fixed once written; a new one replaces it".into());
    }
    match field {
        "description" => scalar(op, field, Want::Str(crate::profiles::MAX_DESCRIPTION)),
        "address" | "contact" => scalar(op, field, Want::Str(crate::profiles::MAX_LINE)),
        "offers" | "needs" | "tags" if matches!(op.action, Action::Make(ObjType::List)) => Ok(()),
        "device" => scalar(op, field, Want::Is(&ctx.device_hex)),
        "updated_at" => scalar(op, field, Want::Int),
        _ => Err(format!("a profile has no field '{field}' of this kind")),
    }
}

fn registration_field(
    ctx: &Ctx<'_>,
    here: bool,
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    let field = key.unwrap_or_default();
    if !here {
        return Err("a registration is fixed once made; a new one replaces it".into());
    }
    match field {
        "seats" | "at" => scalar(op, field, Want::Int),
        "names" => scalar(op, field, Want::Str(crate::events::MAX_NAMES)),
        "device" => scalar(op, field, Want::Is(&ctx.device_hex)),
        _ => Err(format!(
            "a registration has no field '{field}' of this kind"
        )),
    }
}

/// Notes the membership heads an act cites (`cancelled_under`, `under`).
fn cite(ctx: &mut Ctx<'_>, act: Vec<u8>, op: &Op<'_>) -> Result<(), String> {
    let heads = match op.put() {
        Some(Value::Str(s)) => parse_heads(s),
        _ => None,
    };
    let heads = heads.ok_or("the cited membership heads: hex, comma-separated")?;
    ctx.cites.insert(act, heads);
    Ok(())
}

fn currency(s: &str) -> bool {
    crate::ledger::parse_currency(s).is_ok_and(|c| c == s)
}
fn repay(s: &str) -> bool {
    crate::ledger::Repay::parse(s).is_ok_and(|r| r.name() == s)
}
fn ledger_kind(s: &str) -> bool {
    matches!(s, "payment" | "loan")
}

fn ledger_field(
    ctx: &mut Ctx<'_>,
    here: bool,
    id: &str,
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    use crate::ledger::{MAX_CENTS, MAX_NOTE, MAX_RATE_BP, MAX_REFERENCE};
    let field = key.unwrap_or_default();
    if !here {
        return Err("a ledger entry is fixed once written; a new entry corrects it".into());
    }
    let int_in = |range: std::ops::RangeInclusive<i64>| match op.put() {
        Some(Value::Int(i)) if range.contains(i) => Ok(()),
        _ => Err(format!(
            "{field}: an integer from {} to {}",
            range.start(),
            range.end()
        )),
    };
    let text = match op.put() {
        Some(Value::Str(s)) => Some(s.to_string()),
        _ => None,
    };
    let entry = ctx.entries.entry(id.to_owned()).or_default();
    match field {
        "kind" => {
            entry.kind = text;
            scalar(op, field, Want::Named("payment or loan", ledger_kind))
        }
        "payer" | "payee" | "borrower" => {
            match field {
                "payer" => entry.payer = text,
                "payee" => entry.payee = text,
                _ => entry.borrower = text,
            }
            scalar(op, field, Want::Str(64))
        }
        "amount" => int_in(1..=MAX_CENTS),
        "rate_bp" => int_in(0..=MAX_RATE_BP),
        "currency" => scalar(op, field, Want::Named("three capital letters", currency)),
        "repay" => scalar(op, field, Want::Named("a repayment schedule", repay)),
        "reference" => scalar(op, field, Want::Str(MAX_REFERENCE)),
        "note" => scalar(op, field, Want::Str(MAX_NOTE)),
        "org" => scalar(op, field, Want::Is(&ctx.org)),
        "device" => scalar(op, field, Want::Is(&ctx.device_hex)),
        "at" => scalar(op, field, Want::Int),
        "under" => cite(ctx, format!("ledger:{id}").into_bytes(), op),
        "confirmed" | "accepted" if matches!(op.action, Action::Make(ObjType::Map)) => Ok(()),
        _ => Err(format!(
            "a ledger entry has no field '{field}' of this kind"
        )),
    }
}

fn parse_heads(s: &str) -> Option<Vec<[u8; 32]>> {
    s.split(',')
        .filter(|h| !h.is_empty())
        .map(|h| {
            let bytes: Vec<u8> = (0..h.len())
                .step_by(2)
                .map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
                .collect::<Option<_>>()?;
            bytes.try_into().ok()
        })
        .collect()
}

fn proposal_field(
    ctx: &mut Ctx<'_>,
    here: bool,
    id: &str,
    key: Option<&str>,
    op: &Op<'_>,
) -> Result<(), String> {
    let field = key.unwrap_or_default();
    fixed(here, field)?;
    let entry = ctx.proposals.entry(id.to_owned()).or_default();
    match field {
        "title" => scalar(op, field, Want::Str(300)),
        "kind" => {
            scalar(op, field, Want::Named("a proposal kind", proposal_kind))?;
            if let Some(Value::Str(s)) = op.put() {
                entry.0 = Some(s.to_string());
            }
            Ok(())
        }
        "text" => scalar(op, field, Want::Str(MAX_PROPOSAL_TEXT)),
        "process" => scalar(op, field, Want::Named("a process", process)),
        "quorum" | "deadline" | "created_at" => scalar(op, field, Want::Int),
        "created_by" => scalar(op, field, Want::Is(&ctx.org)),
        "motion" => {
            entry.1 = true;
            match op.put() {
                Some(Value::Str(s))
                    if s.len() == 64
                        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
                {
                    Ok(())
                }
                _ => Err("motion: a membership operation's hash".into()),
            }
        }
        "votes" if matches!(op.action, Action::Make(ObjType::Map)) => Ok(()),
        _ => Err(format!("a proposal has no field '{field}' of this kind")),
    }
}

fn vote_field(ctx: &Ctx<'_>, here: bool, key: Option<&str>, op: &Op<'_>) -> Result<(), String> {
    let field = key.unwrap_or_default();
    if !here {
        return Err("a vote is fixed once cast; a new vote replaces it".into());
    }
    match field {
        "position" => scalar(op, field, Want::Named("a position", position)),
        "reason" => scalar(op, field, Want::Str(MAX_STRING)),
        "org" => scalar(op, field, Want::Is(&ctx.org)),
        "at" => scalar(op, field, Want::Int),
        _ => Err(format!("a vote has no field '{field}' of this kind")),
    }
}

/// Where each operation of `changes` (which `doc` holds) writes: the map
/// keys from the document's root to the key it writes (to its object, for
/// a list element), empty for an object `doc` does not hold.
pub(crate) fn paths_written<'a>(
    doc: &AutoCommit,
    changes: impl IntoIterator<Item = &'a Change>,
) -> Vec<Vec<String>> {
    let mut places = Places::default();
    let mut out = Vec::new();
    for change in changes {
        let start = change.start_op().get();
        let Ok(ops) = crate::ops::operations(change) else {
            // Never for a change the check took; then: cannot be told.
            out.push(Vec::new());
            continue;
        };
        for (i, op) in ops.iter().enumerate() {
            let Some(place) = places.of(doc, &op.obj) else {
                out.push(Vec::new());
                continue;
            };
            let mut path: Vec<String> = place.iter().map(|step| step.key.to_string()).collect();
            if let Some(key) = op.map_key() {
                path.push(key.to_owned());
            }
            // An object made here is written into next: its place is known
            // without asking the document.
            if let Action::Make(_) = op.action {
                let mut child = place.to_vec();
                child.push(Step {
                    key: Rc::from(op.map_key().unwrap_or_default()),
                    creator: Rc::from(&[][..]),
                });
                places.known.insert(
                    op_key(start + i as u64, change.actor_id().to_bytes()),
                    Rc::from(child),
                );
            }
            out.push(path);
        }
    }
    out
}

/// Changes of `doc` not in the past of `heads`, in causal order: what a
/// document gained since `heads`, for [`check_changes`].
pub fn changes_since(doc: &mut AutoCommit, heads: &[ChangeHash]) -> Vec<Change> {
    doc.get_changes(heads)
}
