//! The changes of a whole save, read straight from its columns.
//!
//! A newcomer's first sync receives each document as one automerge save (a
//! *document chunk*): every operation of the document, sorted by object and
//! key, each with its successors, and a table of changes (author, sequence
//! number, last counter, dependencies). automerge 0.12 rebuilds every change
//! from these columns when it loads the save (to check the save's heads),
//! then drops them; the only way it gives them back is `get_changes`, which
//! rebuilds them all again. For the authority check that doubled the cost
//! of a first sync. This module rebuilds each change's operations itself,
//! borrowing the save's bytes, so that the check runs on the second core
//! while automerge loads the same save on the first
//! ([`crate::SharedDoc::apply_verified`]).
//!
//! It also closes a gap automerge leaves open. automerge rebuilds a change
//! from the operations whose ids fall in the change's counters, and a
//! deletion from the successors that name it; an operation or a successor
//! whose id falls in no change is kept in the document but belongs to no
//! change, so no hash covers it and no check sees it. A member's modified
//! client could delete any booking that way, in a save that loads. Here,
//! every operation (and every deletion) must belong to exactly one change,
//! and every change's operations must follow each other counter by counter;
//! a save where one does not is refused whole.
//!
//! It must never read an operation otherwise than automerge does, or the
//! check would judge operations automerge does not apply. So, as
//! [`crate::ops`] does for a change:
//!
//! - it reads only the layout automerge 0.12 writes: a document chunk (the
//!   changes of any chunks after it are checked as changes), the columns
//!   automerge knows (compressed or not) in their order, each exactly as
//!   long as automerge requires, values whose bytes are read whole.
//!   Anything else is [`Unreadable`], and the save is refused: an honest
//!   node never writes it;
//! - each change is made again into the bytes automerge would make of it
//!   (the same layout, written with `hexane`, the column encoders automerge
//!   itself writes with) and hashed; the changes that no other depends on
//!   must be the save's heads ([`heads_match`]), else the save is refused.
//!   automerge loads a save only when its heads are the hashes of the
//!   changes it rebuilds, and each hash covers the hashes of the change's
//!   dependencies: so once automerge loaded the save, every change read
//!   is, to the byte, a change automerge loaded, and its hash is known
//!   without asking automerge for its metadata of every change (which cost
//!   a tenth of the load);
//! - property tests compare every operation it rebuilds with `get_changes`
//!   on random documents, and a fuzz target does so on any bytes.
//!
//! The grouping follows automerge's own rebuilding (`ChangeCollector`): the
//! operations are read in the save's order; an operation's predecessors are
//! the earlier operations of the same object and key (a list element's key
//! is the id of the operation that inserted it) that name it as a
//! successor; a successor that names no operation there is a deletion, made
//! at that object and key once its group ends.

use rustc_hash::FxHashMap;

use crate::ops::{
    Action, Booleans, DELETE, Delta, Key, Op, OpId, Reader, Rle, Unreadable, action_of, value,
};

/// A save's columns, decompressed where they were compressed.
pub struct Save<'a> {
    /// How many bytes the document chunk takes (more chunks may follow:
    /// changes made since the save).
    chunk_len: usize,
    actors: Vec<&'a [u8]>,
    heads: Vec<[u8; 32]>,
    changes: Columns<'a, CHANGE_COLUMNS>,
    ops: Columns<'a, OP_COLUMNS>,
}

/// One change of a save, rebuilt.
#[derive(Debug)]
pub struct ReadChange<'a> {
    /// Its author's actor.
    pub actor: &'a [u8],
    pub seq: u64,
    /// The counter of its first operation (its last counter plus one when
    /// it has none), as automerge gives it.
    pub start_op: u64,
    pub max_op: u64,
    /// Its dependencies, as positions of earlier changes of the save.
    pub deps: Vec<usize>,
    /// Its author's clock when it was made, in ms since the epoch.
    pub time: i64,
    /// Its hash: of the change's bytes as automerge makes them from what
    /// was read. It is automerge's own hash of the change only when the
    /// save's heads are found among these ([`heads_match`]).
    pub hash: [u8; 32],
    /// Its operations in counter order: a range of [`ReadChanges::ops`].
    ops: std::ops::Range<usize>,
}

/// The changes of a save, in the save's order, and their operations.
#[derive(Debug)]
pub struct ReadChanges<'a> {
    pub changes: Vec<ReadChange<'a>>,
    /// Every change's operations, one change after the other.
    ops: Vec<Op<'a>>,
}

impl<'a> ReadChanges<'a> {
    /// The operations of `change`, in counter order.
    pub fn ops(&self, change: &ReadChange<'a>) -> &[Op<'a>] {
        &self.ops[change.ops.clone()]
    }
}

/// How many column slots each table has (by column id).
const CHANGE_COLUMNS: usize = 6;
const OP_COLUMNS: usize = 11;

/// A table's columns by id, each with its type (the spec's low 3 bits).
struct Columns<'a, const N: usize> {
    data: [[std::borrow::Cow<'a, [u8]>; 8]; N],
}

impl<const N: usize> Default for Columns<'_, N> {
    fn default() -> Self {
        Self {
            data: std::array::from_fn(|_| std::array::from_fn(|_| Default::default())),
        }
    }
}

impl<const N: usize> Columns<'_, N> {
    fn get(&self, spec: u64) -> &[u8] {
        &self.data[(spec >> 4) as usize][(spec & 7) as usize]
    }
}

// Column specifications: id << 4 | type (1 actor, 2 integer, 3 delta,
// 4 boolean, 5 string, 6 value metadata, 7 value, 0 group), bit 3 set when
// the column is compressed (deflate).
const DEFLATE: u64 = 8;
const CHANGE_ACTOR: u64 = 0x01;
const CHANGE_SEQ: u64 = 0x03;
const CHANGE_MAX_OP: u64 = 0x13;
const CHANGE_TIME: u64 = 0x23;
const CHANGE_MESSAGE: u64 = 0x35;
const CHANGE_DEPS_NUM: u64 = 0x40;
const CHANGE_DEPS: u64 = 0x43;
const CHANGE_EXTRA_META: u64 = 0x56;
const CHANGE_EXTRA: u64 = 0x57;
const OBJ_ACTOR: u64 = 0x01;
const OBJ_CTR: u64 = 0x02;
const KEY_ACTOR: u64 = 0x11;
const KEY_CTR: u64 = 0x13;
const KEY_STR: u64 = 0x15;
const ID_ACTOR: u64 = 0x21;
const ID_CTR: u64 = 0x23;
const INSERT: u64 = 0x34;
const ACTION: u64 = 0x42;
const VAL_META: u64 = 0x56;
const VAL_RAW: u64 = 0x57;
const SUCC_NUM: u64 = 0x80;
const SUCC_ACTOR: u64 = 0x81;
const SUCC_CTR: u64 = 0x83;
const EXPAND: u64 = 0x94;
// A change's predecessors, where a save has successors.
const PRED_NUM: u64 = 0x70;
const PRED_ACTOR: u64 = 0x71;
const PRED_CTR: u64 = 0x73;
const MARK_NAME: u64 = 0xa5;

/// No column of a save decompresses to more than this (automerge would
/// need as much to load it).
const MAX_COLUMN: u64 = 1 << 30;

/// Whether `bytes` start as a document chunk (a whole save) does.
pub fn is_document_chunk(bytes: &[u8]) -> bool {
    bytes.len() > 8 && bytes[..4] == MAGIC && bytes[8] == 0
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

impl<'a> Save<'a> {
    /// Reads the layout of `bytes`, which must be one whole document chunk.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Unreadable> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(Unreadable("not an automerge save"));
        }
        r.take(4)?;
        if r.take(1)? != [0] {
            return Err(Unreadable("not a document chunk"));
        }
        let len = usize::try_from(r.uleb()?).map_err(|_| Unreadable("chunk length"))?;
        let chunk_len = bytes.len() - r.0.len() + len;
        let mut r = Reader(r.take(len)?);
        let mut actors = Vec::new();
        for _ in 0..r.uleb()? {
            actors.push(r.length_prefixed()?);
        }
        let mut heads = Vec::new();
        for _ in 0..r.uleb()? {
            heads.push(<[u8; 32]>::try_from(r.take(32)?).map_err(|_| Unreadable("a head"))?);
        }
        let change_specs = specs(&mut r)?;
        let op_specs = specs(&mut r)?;
        let changes = columns(&mut r, &change_specs, |spec| {
            matches!(
                spec,
                CHANGE_ACTOR
                    | CHANGE_SEQ
                    | CHANGE_MAX_OP
                    | CHANGE_TIME
                    | CHANGE_MESSAGE
                    | CHANGE_DEPS_NUM
                    | CHANGE_DEPS
                    | CHANGE_EXTRA_META
                    | CHANGE_EXTRA
            )
        })?;
        let ops = columns(&mut r, &op_specs, |spec| {
            matches!(
                spec,
                OBJ_ACTOR
                    | OBJ_CTR
                    | KEY_ACTOR
                    | KEY_CTR
                    | KEY_STR
                    | ID_ACTOR
                    | ID_CTR
                    | INSERT
                    | ACTION
                    | VAL_META
                    | VAL_RAW
                    | SUCC_NUM
                    | SUCC_ACTOR
                    | SUCC_CTR
                    | EXPAND
                    | MARK_NAME
            )
        })?;
        // The heads' positions among the changes, written by automerge
        // since 0.5 (absent from older saves).
        if !r.0.is_empty() {
            for _ in 0..heads.len() {
                r.uleb()?;
            }
        }
        if !r.0.is_empty() {
            return Err(Unreadable("bytes after the document chunk's heads"));
        }
        Ok(Self {
            chunk_len,
            actors,
            heads,
            changes,
            ops,
        })
    }

    /// How many bytes the document chunk takes; other chunks may follow.
    pub fn chunk_len(&self) -> usize {
        self.chunk_len
    }

    /// The save's heads, as it names them.
    pub fn heads(&self) -> &[[u8; 32]] {
        &self.heads
    }

    /// Every change of the save, in the save's order (which is causal: a
    /// change's dependencies come before it), with its operations.
    pub fn changes<'s>(&'s self) -> Result<ReadChanges<'s>, Unreadable> {
        let mut changes = self.change_table()?;
        let actor_of = |i: u64| -> Result<u32, Unreadable> {
            u32::try_from(i)
                .ok()
                .filter(|&i| (i as usize) < self.actors.len())
                .ok_or(Unreadable("an actor the save does not name"))
        };
        // Each actor's changes, in sequence order, by counters: a change
        // takes the operations of its author from the counter after its
        // dependencies' last one to its own last one.
        let mut by_actor: Vec<Vec<(u64, u64, usize)>> = vec![Vec::new(); self.actors.len()];
        for (i, c) in changes.iter().enumerate() {
            let runs = &mut by_actor[c.actor];
            if c.seq != runs.len() as u64 + 1 {
                return Err(Unreadable("an author's changes out of sequence"));
            }
            if runs.last().is_some_and(|&(_, max, _)| c.first <= max) {
                return Err(Unreadable("two changes of one author share counters"));
            }
            runs.push((c.first, c.max_op, i));
        }
        // Operations next to each other in the save are mostly of one
        // change (a word typed, a booking's fields): the last change found
        // is tried first.
        let last = std::cell::Cell::new((u32::MAX, 0u64, 0u64, 0usize));
        let route = |actor: u32, counter: u64| -> Option<usize> {
            let (a, first, max, i) = last.get();
            if a == actor && first <= counter && counter <= max {
                return Some(i);
            }
            let runs = &by_actor[actor as usize];
            let at = runs.partition_point(|&(_, max, _)| max < counter);
            let &(first, max, i) = runs.get(at).filter(|&&(first, _, _)| first <= counter)?;
            last.set((actor, first, max, i));
            Some(i)
        };
        let ops = &self.ops;
        let mut obj_actor = Exact::new(Rle::new(ops.get(OBJ_ACTOR), Reader::uleb));
        let mut obj_ctr = Exact::new(Rle::new(ops.get(OBJ_CTR), Reader::uleb));
        let mut key_actor = Exact::new(Rle::new(ops.get(KEY_ACTOR), Reader::uleb));
        let mut key_ctr = Exact::new(Delta::new(ops.get(KEY_CTR)));
        let mut key_str = Exact::new(Rle::new(ops.get(KEY_STR), Reader::str));
        let mut id_actor = Exact::new(Rle::new(ops.get(ID_ACTOR), Reader::uleb));
        let mut id_ctr = Exact::new(Delta::new(ops.get(ID_CTR)));
        let mut insert = Exact::new(Booleans::new(ops.get(INSERT)));
        let mut action = Exact::new(Rle::new(ops.get(ACTION), Reader::uleb));
        let mut val_meta = Exact::new(Rle::new(ops.get(VAL_META), Reader::uleb));
        let mut val_raw = Reader(ops.get(VAL_RAW));
        let mut succ_num = Exact::new(Rle::new(ops.get(SUCC_NUM), Reader::uleb));
        let mut succ_actor = Exact::new(Rle::new(ops.get(SUCC_ACTOR), Reader::uleb));
        let mut succ_ctr = Exact::new(Delta::new(ops.get(SUCC_CTR)));
        let mut expand = Exact::new(Booleans::new(ops.get(EXPAND)));
        let mut mark_name = Exact::new(Rle::new(ops.get(MARK_NAME), Reader::str));
        let counter = |c: i64| -> Result<u64, Unreadable> {
            u32::try_from(c)
                .map(u64::from)
                .map_err(|_| Unreadable("a counter"))
        };
        // The group being read (object, key) and the successors named in
        // it that no operation of it has taken yet: deletions.
        let mut group: Option<(Option<(u32, u64)>, GroupKey<'s>)> = None;
        let mut pending: FxHashMap<(u64, u32), Vec<(u32, u64)>> = FxHashMap::default();
        // Every operation, with its change's position and its counter.
        let mut routed: Vec<(u32, u64, RawOp<'s>)> = Vec::new();
        let place = |counter: u64, actor: u32, op: RawOp<'s>, routed: &mut Vec<_>| match route(
            actor, counter,
        ) {
            Some(i) => {
                routed.push((i as u32, counter, op));
                Ok(())
            }
            None => Err(Unreadable("an operation that belongs to no change")),
        };
        let flush = |group: &Option<(Option<(u32, u64)>, GroupKey<'s>)>,
                     pending: &mut FxHashMap<(u64, u32), Vec<(u32, u64)>>,
                     routed: &mut Vec<(u32, u64, RawOp<'s>)>|
         -> Result<(), Unreadable> {
            let Some((obj, key)) = group else {
                return Ok(());
            };
            if pending.is_empty() {
                return Ok(());
            }
            for ((ctr, actor), pred) in pending.drain() {
                let op = RawOp {
                    obj: *obj,
                    key: *key,
                    insert: false,
                    code: DELETE,
                    action: Action::Delete,
                    meta: 0,
                    raw: &[],
                    pred,
                };
                place(ctr, actor, op, routed)?;
            }
            Ok(())
        };
        while !id_actor.done() {
            let op_actor = actor_of(id_actor.required()?)?;
            let op_ctr = counter(id_ctr.required()?)?;
            let obj = match (obj_actor.next()?, obj_ctr.next()?) {
                (None, None) => None,
                (Some(a), Some(c)) if c > 0 => Some((actor_of(a)?, counter(c as i64)?)),
                _ => return Err(Unreadable("an object id")),
            };
            let key = match (key_actor.next()?, key_ctr.next()?, key_str.next()?) {
                (None, None, Some(s)) => GroupKey::Map(s),
                (None, Some(0), None) => GroupKey::Head,
                (Some(a), Some(c), None) if c > 0 => GroupKey::Elem(actor_of(a)?, counter(c)?),
                _ => return Err(Unreadable("a key")),
            };
            let is_insert = insert.next()?.unwrap_or(false);
            let code = action.required()?;
            let meta = val_meta.required()?;
            let before = val_raw.0;
            let value = value(meta, &mut val_raw)?;
            let raw = &before[..before.len() - val_raw.0.len()];
            if expand.next()?.unwrap_or(false) || mark_name.next()?.is_some() {
                // Only marks use these; no document holds marks.
                return Err(Unreadable("a mark"));
            }
            let act = action_of(code, value)?;
            let own = if is_insert {
                GroupKey::Elem(op_actor, op_ctr)
            } else {
                key
            };
            let next = (obj, own);
            if group.as_ref() != Some(&next) {
                flush(&group, &mut pending, &mut routed)?;
                group = Some(next);
            }
            let pred = pending.remove(&(op_ctr, op_actor)).unwrap_or_default();
            let op = RawOp {
                obj,
                key,
                insert: is_insert,
                code,
                action: act,
                meta,
                raw,
                pred,
            };
            place(op_ctr, op_actor, op, &mut routed)?;
            for _ in 0..succ_num.required()? {
                let a = actor_of(succ_actor.required()?)?;
                let c = counter(succ_ctr.required()?)?;
                pending.entry((c, a)).or_default().push((op_actor, op_ctr));
            }
        }
        flush(&group, &mut pending, &mut routed)?;
        let all_read = obj_actor.done()
            && obj_ctr.done()
            && key_actor.done()
            && key_ctr.done()
            && key_str.done()
            && id_ctr.done()
            && insert.done()
            && action.done()
            && val_meta.done()
            && val_raw.0.is_empty()
            && succ_num.done()
            && succ_actor.done()
            && succ_ctr.done()
            && expand.done()
            && mark_name.done();
        if !all_read {
            return Err(Unreadable("columns of different lengths"));
        }
        // Each change's operations follow each other counter by counter,
        // up to its last counter. Its hash follows from them and from its
        // dependencies' hashes (earlier in the save).
        let actors = &self.actors;
        let id = |(actor, counter): (u32, u64)| OpId {
            counter,
            actor: actors[actor as usize],
        };
        // Each change's operations, by counter: positions in `routed`.
        let mut starts = vec![0usize; changes.len() + 1];
        for (i, _, _) in &routed {
            starts[*i as usize + 1] += 1;
        }
        for i in 0..changes.len() {
            starts[i + 1] += starts[i];
        }
        let mut order = vec![0u32; routed.len()];
        let mut next = starts.clone();
        for (at, (i, _, _)) in routed.iter().enumerate() {
            order[next[*i as usize]] = at as u32;
            next[*i as usize] += 1;
        }
        let mut read: Vec<ReadChange<'s>> = Vec::with_capacity(changes.len());
        let mut ops: Vec<Op<'s>> = Vec::with_capacity(routed.len());
        let mut encoder = ChangeEncoder::default();
        for (i, c) in changes.drain(..).enumerate() {
            let own = &mut order[starts[i]..starts[i + 1]];
            own.sort_unstable_by_key(|&at| routed[at as usize].1);
            let counter = |k: usize| routed[own[k] as usize].1;
            let start_op = if own.is_empty() {
                c.max_op + 1
            } else {
                counter(0)
            };
            let follow = (0..own.len()).all(|k| counter(k) == start_op + k as u64);
            if !follow || (!own.is_empty() && counter(own.len() - 1) != c.max_op) {
                return Err(Unreadable("a change's operations do not follow each other"));
            }
            let hash = encoder.hash(
                actors,
                &c,
                start_op,
                own.iter().map(|&at| &routed[at as usize].2),
                c.deps.iter().map(|&d| &read[d].hash),
            );
            let from = ops.len();
            ops.extend(own.iter().map(|&at| {
                let op = &routed[at as usize].2;
                Op {
                    obj: op.obj.map(id),
                    key: op.key.key(&|a, c| id((a, c))),
                    insert: op.insert,
                    action: op.action,
                    pred: op.pred.iter().copied().map(id).collect(),
                }
            }));
            read.push(ReadChange {
                actor: self.actors[c.actor],
                seq: c.seq,
                start_op,
                max_op: c.max_op,
                time: c.time,
                hash,
                ops: from..ops.len(),
                deps: c.deps,
            });
        }
        Ok(ReadChanges { changes: read, ops })
    }

    /// The table of changes: author, sequence number, last counter and
    /// dependencies of each, and the first counter its operations may have.
    fn change_table(&self) -> Result<Vec<TableRow<'_>>, Unreadable> {
        let cols = &self.changes;
        let mut actor = Exact::new(Rle::new(cols.get(CHANGE_ACTOR), Reader::uleb));
        let mut seq = Exact::new(Delta::new(cols.get(CHANGE_SEQ)));
        let mut max_op = Exact::new(Delta::new(cols.get(CHANGE_MAX_OP)));
        let mut time = Exact::new(Delta::new(cols.get(CHANGE_TIME)));
        let mut message = Exact::new(Rle::new(cols.get(CHANGE_MESSAGE), Reader::str));
        let mut deps_num = Exact::new(Rle::new(cols.get(CHANGE_DEPS_NUM), Reader::uleb));
        let mut deps = Exact::new(Delta::new(cols.get(CHANGE_DEPS)));
        let mut extra_meta = Exact::new(Rle::new(cols.get(CHANGE_EXTRA_META), Reader::uleb));
        let mut extra = Reader(cols.get(CHANGE_EXTRA));
        let mut rows: Vec<TableRow<'_>> = Vec::new();
        while !actor.done() {
            let a = usize::try_from(actor.required()?)
                .ok()
                .filter(|&a| a < self.actors.len())
                .ok_or(Unreadable("an actor the save does not name"))?;
            let s = u32::try_from(seq.required()?).map_err(|_| Unreadable("a sequence number"))?;
            let m = u32::try_from(max_op.required()?).map_err(|_| Unreadable("a counter"))?;
            let time = time.next()?.unwrap_or(0);
            let message = message.next()?.unwrap_or("");
            let before = extra.0;
            value(extra_meta.required()?, &mut extra)?;
            let extra_bytes = &before[..before.len() - extra.0.len()];
            let mut ds = Vec::new();
            let mut first = 1;
            for _ in 0..deps_num.required()? {
                let d = usize::try_from(deps.required()?)
                    .ok()
                    .filter(|&d| d < rows.len())
                    .ok_or(Unreadable("a dependency on a later change"))?;
                first = first.max(rows[d].max_op + 1);
                ds.push(d);
            }
            if u64::from(m) + 1 < first {
                return Err(Unreadable(
                    "a change's last counter before its dependencies'",
                ));
            }
            rows.push(TableRow {
                actor: a,
                seq: u64::from(s),
                max_op: u64::from(m),
                time,
                message,
                extra: extra_bytes,
                first,
                deps: ds,
            });
        }
        let all_read = seq.done()
            && max_op.done()
            && time.done()
            && message.done()
            && deps_num.done()
            && deps.done()
            && extra_meta.done()
            && extra.0.is_empty();
        if !all_read {
            return Err(Unreadable("columns of different lengths"));
        }
        Ok(rows)
    }
}

/// One row of the table of changes.
struct TableRow<'a> {
    actor: usize,
    seq: u64,
    max_op: u64,
    time: i64,
    message: &'a str,
    /// Bytes automerge keeps after the change's operations, as they came.
    extra: &'a [u8],
    /// The first counter its operations may have: one past its
    /// dependencies' last (automerge's rebuilding assumes as much).
    first: u64,
    deps: Vec<usize>,
}

/// One operation as the save holds it, with what its change's bytes hold
/// of it: ids by the save's actor positions, its action's code, its value's
/// metadata and bytes.
struct RawOp<'a> {
    obj: Option<(u32, u64)>,
    /// The key it was written at (for an insertion, the element it follows).
    key: GroupKey<'a>,
    insert: bool,
    code: u64,
    action: Action<'a>,
    meta: u64,
    raw: &'a [u8],
    pred: Vec<(u32, u64)>,
}

/// Makes a change's bytes as automerge makes them when it rebuilds a
/// change from a save (`ChangeCollector`), and hashes them: the same
/// layout, and the column encoders of `hexane`, the crate automerge encodes
/// with (at automerge's own version). Its buffers serve every change.
#[derive(Default)]
struct ChangeEncoder {
    /// Whether each save actor is named by the change's operations.
    named: Vec<bool>,
    /// Each save actor's position among the change's actors.
    mapping: Vec<u64>,
    others: Vec<usize>,
    columns: Vec<u8>,
    body: Vec<u8>,
}

/// The change chunk's type, the first byte of what its hash covers.
const CHANGE_CHUNK: u8 = 1;

impl ChangeEncoder {
    fn hash<'r, 'a: 'r>(
        &mut self,
        actors: &[&[u8]],
        row: &TableRow<'_>,
        start_op: u64,
        ops: impl Iterator<Item = &'r RawOp<'a>> + Clone,
        deps: impl ExactSizeIterator<Item = &'r [u8; 32]>,
    ) -> [u8; 32] {
        use hexane::{DeltaEncoder, Encoder, EncoderApi};
        use sha2::Digest;
        // The change's actors: its author, then every other actor its
        // operations name, in the save's order.
        self.named.clear();
        self.named.resize(actors.len(), false);
        for op in ops.clone() {
            let key_actor = match op.key {
                GroupKey::Elem(a, _) => Some(a),
                _ => None,
            };
            for a in op.obj.map(|(a, _)| a).into_iter().chain(key_actor) {
                self.named[a as usize] = true;
            }
            for &(a, _) in &op.pred {
                self.named[a as usize] = true;
            }
        }
        self.named[row.actor] = false;
        self.mapping.clear();
        self.mapping.resize(actors.len(), 0);
        self.others.clear();
        for (i, _) in self.named.iter().enumerate().filter(|(_, named)| **named) {
            self.others.push(i);
            self.mapping[i] = self.others.len() as u64;
        }
        let map = &self.mapping;
        // The operations' columns, in automerge's order; an empty one is
        // left out.
        let data = &mut self.columns;
        data.clear();
        let key_ctr = |op: &RawOp<'_>| match op.key {
            GroupKey::Map(_) => None,
            GroupKey::Head => Some(0),
            GroupKey::Elem(_, c) => Some(c as i64),
        };
        let preds = ops.clone().flat_map(|op| op.pred.iter());
        let columns = [
            (
                OBJ_ACTOR,
                Encoder::<Option<u64>>::encode_to_unless(
                    data,
                    ops.clone().map(|op| op.obj.map(|(a, _)| map[a as usize])),
                    None,
                ),
            ),
            (
                OBJ_CTR,
                Encoder::<Option<u64>>::encode_to_unless(
                    data,
                    ops.clone().map(|op| op.obj.map(|(_, c)| c)),
                    None,
                ),
            ),
            (
                KEY_ACTOR,
                Encoder::<Option<u64>>::encode_to_unless(
                    data,
                    ops.clone().map(|op| match op.key {
                        GroupKey::Elem(a, _) => Some(map[a as usize]),
                        _ => None,
                    }),
                    None,
                ),
            ),
            (
                KEY_CTR,
                DeltaEncoder::<Option<i64>>::encode_to_unless(data, ops.clone().map(key_ctr), None),
            ),
            (
                KEY_STR,
                Encoder::<Option<String>>::encode_to_unless(
                    data,
                    ops.clone().map(|op| match op.key {
                        GroupKey::Map(s) => Some(s),
                        _ => None,
                    }),
                    None,
                ),
            ),
            (
                INSERT,
                Encoder::<bool>::encode_to(data, ops.clone().map(|op| op.insert)),
            ),
            (
                ACTION,
                Encoder::<u64>::encode_to(data, ops.clone().map(|op| op.code)),
            ),
            (
                VAL_META,
                Encoder::<u64>::encode_to(data, ops.clone().map(|op| op.meta)),
            ),
            (VAL_RAW, {
                let from = data.len();
                for op in ops.clone() {
                    data.extend_from_slice(op.raw);
                }
                from..data.len()
            }),
            (
                PRED_NUM,
                Encoder::<u64>::encode_to(data, ops.clone().map(|op| op.pred.len() as u64)),
            ),
            (
                PRED_ACTOR,
                Encoder::<u64>::encode_to(data, preds.clone().map(|&(a, _)| map[a as usize])),
            ),
            (
                PRED_CTR,
                DeltaEncoder::<i64>::encode_to(data, preds.map(|&(_, c)| c as i64)),
            ),
        ];
        // The change's body, as automerge lays it out.
        let body = &mut self.body;
        body.clear();
        let uleb = |out: &mut Vec<u8>, n: u64| {
            leb128::write::unsigned(out, n).expect("writing to a vector");
        };
        let prefixed = |out: &mut Vec<u8>, bytes: &[u8]| {
            uleb(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        };
        uleb(body, deps.len() as u64);
        for dep in deps {
            body.extend_from_slice(dep);
        }
        prefixed(body, actors[row.actor]);
        uleb(body, row.seq);
        uleb(body, start_op);
        leb128::write::signed(body, row.time).expect("writing to a vector");
        prefixed(body, row.message.as_bytes());
        uleb(body, self.others.len() as u64);
        for &i in &self.others {
            prefixed(body, actors[i]);
        }
        let written = columns.iter().filter(|(_, range)| !range.is_empty());
        uleb(body, written.clone().count() as u64);
        for (spec, range) in written.clone() {
            uleb(body, *spec);
            uleb(body, range.len() as u64);
        }
        for (_, range) in written {
            body.extend_from_slice(&data[range.clone()]);
        }
        body.extend_from_slice(row.extra);
        let mut header = Vec::with_capacity(6);
        header.push(CHANGE_CHUNK);
        uleb(&mut header, body.len() as u64);
        let mut hasher = sha2::Sha256::new();
        hasher.update(&header);
        hasher.update(&body[..]);
        hasher.finalize().into()
    }
}

/// Whether the hashes of `changes` are automerge's: the changes that no
/// other names as a dependency are the save's heads. automerge refuses to
/// load a save whose heads are not the hashes of the changes it rebuilds,
/// so once it loaded `save`, this means every change was read as automerge
/// rebuilt it, to the byte (each hash covers its dependencies' hashes).
pub fn heads_match(save: &Save<'_>, changes: &ReadChanges<'_>) -> bool {
    let changes = &changes.changes;
    let mut depended = vec![false; changes.len()];
    for c in changes {
        for &d in &c.deps {
            depended[d] = true;
        }
    }
    let mut heads: Vec<[u8; 32]> = changes
        .iter()
        .zip(&depended)
        .filter(|(_, depended)| !**depended)
        .map(|(c, _)| c.hash)
        .collect();
    heads.sort_unstable();
    heads == save.heads
}

/// What groups operations: a map key, or a list element (the id of the
/// operation that inserted it; `Head` for the list's start).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GroupKey<'a> {
    Map(&'a str),
    Head,
    Elem(u32, u64),
}

impl<'a> GroupKey<'a> {
    fn key(&self, id: &impl Fn(u32, u64) -> OpId<'a>) -> Key<'a> {
        match *self {
            GroupKey::Map(s) => Key::Map(s),
            GroupKey::Head => Key::Head,
            GroupKey::Elem(a, c) => Key::Elem(id(a, c)),
        }
    }
}

/// Column specifications and lengths, in automerge's order.
fn specs(r: &mut Reader<'_>) -> Result<Vec<(u64, usize)>, Unreadable> {
    let mut specs: Vec<(u64, usize)> = Vec::new();
    for _ in 0..r.uleb()? {
        let spec = r.uleb()?;
        let len = usize::try_from(r.uleb()?).map_err(|_| Unreadable("a column's length"))?;
        if specs
            .last()
            .is_some_and(|&(last, _)| last & !DEFLATE >= spec & !DEFLATE)
        {
            return Err(Unreadable("columns out of order"));
        }
        specs.push((spec, len));
    }
    Ok(specs)
}

/// The columns `specs` names, read from `r` and decompressed.
fn columns<'a, const N: usize>(
    r: &mut Reader<'a>,
    specs: &[(u64, usize)],
    known: impl Fn(u64) -> bool,
) -> Result<Columns<'a, N>, Unreadable> {
    let mut cols = Columns::default();
    for &(spec, len) in specs {
        let data = r.take(len)?;
        let plain = spec & !DEFLATE;
        if !known(plain) || (plain >> 4) as usize >= N {
            return Err(Unreadable("an unknown column"));
        }
        let data = if spec & DEFLATE != 0 {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::bufread::DeflateDecoder::new(data)
                .take(MAX_COLUMN)
                .read_to_end(&mut out)
                .map_err(|_| Unreadable("a compressed column"))?;
            if out.len() as u64 >= MAX_COLUMN {
                return Err(Unreadable("a column too large"));
            }
            std::borrow::Cow::Owned(out)
        } else {
            std::borrow::Cow::Borrowed(data)
        };
        cols.data[(plain >> 4) as usize][(plain & 7) as usize] = data;
    }
    Ok(cols)
}

/// A column read as automerge loads it: exactly as long as the table (an
/// empty column reads as nulls, or `false`).
struct Exact<C> {
    col: C,
    empty: bool,
}

trait Column {
    type Item;
    fn done(&self) -> bool;
    fn read(&mut self) -> Result<Option<Self::Item>, Unreadable>;
}

impl<'a, T: Copy> Column for Rle<'a, T> {
    type Item = T;
    fn done(&self) -> bool {
        Rle::done(self)
    }
    fn read(&mut self) -> Result<Option<T>, Unreadable> {
        self.next()
    }
}

impl Column for Delta<'_> {
    type Item = i64;
    fn done(&self) -> bool {
        Delta::done(self)
    }
    fn read(&mut self) -> Result<Option<i64>, Unreadable> {
        self.next()
    }
}

impl Column for Booleans<'_> {
    type Item = bool;
    fn done(&self) -> bool {
        Booleans::done(self)
    }
    fn read(&mut self) -> Result<Option<bool>, Unreadable> {
        self.next()
    }
}

impl<C: Column> Exact<C> {
    fn new(col: C) -> Self {
        let empty = col.done();
        Self { col, empty }
    }

    /// The next value (`None`: a null, or any value of an empty column).
    fn next(&mut self) -> Result<Option<C::Item>, Unreadable> {
        if self.empty {
            return Ok(None);
        }
        if self.col.done() {
            return Err(Unreadable("a column shorter than its table"));
        }
        self.col.read()
    }

    /// The next value, which may not be a null.
    fn required(&mut self) -> Result<C::Item, Unreadable> {
        self.next()?.ok_or(Unreadable("a missing value"))
    }

    fn done(&self) -> bool {
        self.empty || self.col.done()
    }
}

/// Whether every change read from `bytes` is the change automerge loads
/// from them: the same hash and operations (`Ok(true)` too when automerge
/// refuses the bytes: so is the save). `Err` when this module refuses them
/// (it cannot read them, or their hashes are not the save's heads). For
/// the property tests and the fuzz target that compare the two readings.
pub fn reads_as_automerge(bytes: &[u8]) -> Result<bool, Unreadable> {
    let save = Save::parse(bytes)?;
    let read = save.changes()?;
    if !heads_match(&save, &read) {
        return Err(Unreadable("its heads are not the hashes of its changes"));
    }
    let bytes = &bytes[..save.chunk_len()];
    let Ok(Ok(mut doc)) = std::panic::catch_unwind(|| automerge::AutoCommit::load(bytes)) else {
        return Ok(true);
    };
    if doc.get_changes_meta(&[]).len() != read.changes.len() {
        return Ok(false);
    }
    for r in &read.changes {
        let Some(change) = doc.get_change_by_hash(&automerge::ChangeHash(r.hash)) else {
            return Ok(false);
        };
        let same = crate::ops::operations(&change).is_ok_and(|theirs| {
            crate::ops::our_reading(read.ops(r)) == crate::ops::our_reading(&theirs)
        });
        if !same || change.actor_id().to_bytes() != r.actor || change.seq() != r.seq {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::operations;
    use crate::ops::tests::{doc_of, edit};
    use automerge::AutoCommit;
    use proptest::prelude::*;

    fn has_marks(doc: &mut AutoCommit) -> bool {
        doc.get_changes(&[]).iter().any(|c| {
            operations(c).is_ok_and(|ops| ops.iter().any(|o| matches!(o.action, Action::Mark)))
        })
    }

    /// `save` with its checksum made again (automerge refuses a chunk whose
    /// checksum is wrong before reading anything of it).
    fn checksummed(mut save: Vec<u8>) -> Vec<u8> {
        use sha2::Digest;
        let sum = sha2::Sha256::digest(&save[8..]);
        save[4..8].copy_from_slice(&sum[..4]);
        save
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// A corrupted save that automerge still loads is read as automerge
        /// loads it, or refused: never read otherwise.
        #[test]
        fn never_reads_a_corrupted_save_otherwise(
            edits in proptest::collection::vec(edit(), 1..40),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut doc = doc_of(&edits, 2);
            let mut bytes = doc.save_nocompress();
            for (at, byte) in &flips {
                let at = 8 + at.index(bytes.len() - 8);
                bytes[at] = *byte;
            }
            let bytes = checksummed(bytes);
            prop_assert_ne!(reads_as_automerge(&bytes), Ok(false));
        }

        /// Every change of an honest save, compressed or not, is rebuilt as
        /// automerge rebuilds it (a save with marks is refused: no document
        /// holds marks).
        #[test]
        fn rebuilds_every_change_of_a_save_as_automerge_does(
            edits in proptest::collection::vec(edit(), 1..80),
            every in 1usize..6,
        ) {
            let mut doc = doc_of(&edits, every);
            let marks = has_marks(&mut doc);
            let theirs: Vec<[u8; 32]> = doc.get_changes(&[]).iter().map(|c| c.hash().0).collect();
            for bytes in [doc.save(), doc.save_nocompress()] {
                let verdict = reads_as_automerge(&bytes);
                if marks {
                    prop_assert!(verdict.is_err());
                } else {
                    prop_assert_eq!(verdict, Ok(true));
                    // Each change's bytes are made again to the byte: its
                    // hash is automerge's.
                    let save = Save::parse(&bytes).unwrap();
                    let read = save.changes().unwrap();
                    let mut ours: Vec<[u8; 32]> = read.changes.iter().map(|c| c.hash).collect();
                    let mut theirs = theirs.clone();
                    ours.sort_unstable();
                    theirs.sort_unstable();
                    prop_assert_eq!(ours, theirs);
                }
            }
        }
    }
}
