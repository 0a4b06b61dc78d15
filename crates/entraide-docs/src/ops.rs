//! A change's operations, read straight from the change's bytes.
//!
//! The authority check ([`crate::authority`]) reads every operation of every
//! change a node receives or makes. automerge 0.12 gives a change's
//! operations only through `Change::decode()`, which builds an
//! `ExpandedChange`: each operation id with its own copy of its actor (a
//! 33-byte key: one heap allocation each), found in a map with a
//! cryptographic hasher, each key and value copied. That was most of the
//! check's cost. This module reads the same columns (automerge's binary
//! format) without copying: strings and actors borrow the change's bytes.
//!
//! It must never read an operation otherwise than automerge does, or the
//! check would judge an operation that automerge does not apply. So:
//!
//! - it reads only the layout automerge 0.12 writes, and refuses the rest
//!   ([`Unreadable`]): an unknown or compressed column, a value whose length
//!   automerge would skip, a key or object id in a form automerge never
//!   writes. An honest change is never refused (automerge writes none of
//!   these); a crafted one is, and the check refuses its change;
//! - what it reads of the change's header is compared with what automerge
//!   parsed of the same bytes (author, other actors, dependencies, numbers,
//!   message, the bytes after the columns), and the number of operations
//!   with automerge's count, so that the columns it reads are the ones
//!   automerge read;
//! - a property test compares every operation it reads with
//!   `Change::decode()`, on random changes and on corrupted ones.
//!
//! Column semantics follow automerge's own decoders: run-length columns
//! (a run of one value, a run of literals, or a run of nulls), delta
//! columns (run-length deltas from 0), boolean columns (run lengths,
//! alternating from false), a column that ends reads as nulls. The marks'
//! columns (`expand`, mark names) are not read: no document holds marks,
//! and the check refuses every mark operation by its action alone.

use automerge::{Change, ObjType};

/// Why a change's operations could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("its operations cannot be read: {0}")]
pub struct Unreadable(pub(crate) &'static str);

/// An operation id: the author's counter and actor (the actor's bytes, as
/// the change names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpId<'a> {
    pub counter: u64,
    pub actor: &'a [u8],
}

/// Where in its object an operation writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key<'a> {
    /// A map key.
    Map(&'a str),
    /// The start of a list or text.
    Head,
    /// After (or at) a list or text element.
    Elem(OpId<'a>),
}

/// A scalar value an operation puts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Uint(u64),
    Int(i64),
    F64(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Counter(i64),
    Timestamp(i64),
    Unknown,
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action<'a> {
    Make(ObjType),
    Put(Value<'a>),
    Delete,
    Increment,
    Mark,
}

/// One operation of a change.
#[derive(Clone, Debug, PartialEq)]
pub struct Op<'a> {
    /// The object it writes into; `None`: the document's root.
    pub obj: Option<OpId<'a>>,
    pub key: Key<'a>,
    pub insert: bool,
    pub action: Action<'a>,
    /// The operations it overwrites or deletes.
    pub pred: Vec<OpId<'a>>,
}

impl Op<'_> {
    /// The value it puts, if it puts a scalar.
    pub fn put(&self) -> Option<&Value<'_>> {
        match &self.action {
            Action::Put(v) => Some(v),
            _ => None,
        }
    }

    /// The key, if it writes a map key.
    pub fn map_key(&self) -> Option<&str> {
        match self.key {
            Key::Map(k) => Some(k),
            _ => None,
        }
    }
}

/// The operations of `change`, in their order (the first has the change's
/// start counter, the next one more, and so on).
pub fn operations(change: &Change) -> Result<Vec<Op<'_>>, Unreadable> {
    let bytes = change.raw_bytes();
    let mut r = Reader(bytes);
    // The chunk header: magic bytes, checksum, type (1: a change), length.
    if r.take(4)? != [0x85, 0x6f, 0x4a, 0x83] {
        return Err(Unreadable("not a change chunk"));
    }
    r.take(4)?;
    if r.take(1)? != [1] {
        return Err(Unreadable("not an uncompressed change chunk"));
    }
    let len = r.uleb()?;
    if usize::try_from(len).ok() != Some(r.0.len()) {
        return Err(Unreadable("chunk length"));
    }
    let same = |ok: bool, what: &'static str| if ok { Ok(()) } else { Err(Unreadable(what)) };
    let deps = r.uleb()?;
    same(
        usize::try_from(deps).ok() == Some(change.deps().len()),
        "dependencies",
    )?;
    for dep in change.deps() {
        same(r.take(32)? == dep.0, "dependencies")?;
    }
    let mut actors = vec![r.length_prefixed()?];
    same(actors[0] == change.actor_id().to_bytes(), "author")?;
    same(r.uleb()? == change.seq(), "sequence number")?;
    same(r.uleb()? == change.start_op().get(), "start counter")?;
    same(r.sleb()? == change.timestamp(), "time")?;
    let message = r.length_prefixed()?;
    same(
        message == change.message().unwrap_or_default().as_bytes(),
        "message",
    )?;
    let others = r.uleb()?;
    same(
        usize::try_from(others).ok() == Some(change.other_actor_ids().len()),
        "actors",
    )?;
    for other in change.other_actor_ids() {
        let actor = r.length_prefixed()?;
        same(actor == other.to_bytes(), "actors")?;
        actors.push(actor);
    }
    // Column specifications and lengths, then the columns in that order.
    let count = r.uleb()?;
    let mut specs = Vec::new();
    for _ in 0..count {
        let spec = r.uleb()?;
        let len = usize::try_from(r.uleb()?).map_err(|_| Unreadable("column length"))?;
        if specs.last().is_some_and(|&(last, _)| last >= spec) {
            return Err(Unreadable("columns out of order"));
        }
        specs.push((spec, len));
    }
    let mut columns = Columns::default();
    for (spec, len) in specs {
        let data = r.take(len)?;
        let slot = match spec {
            OBJ_ACTOR => &mut columns.obj_actor,
            OBJ_CTR => &mut columns.obj_ctr,
            KEY_ACTOR => &mut columns.key_actor,
            KEY_CTR => &mut columns.key_ctr,
            KEY_STR => &mut columns.key_str,
            INSERT => &mut columns.insert,
            ACTION => &mut columns.action,
            VAL_META => &mut columns.val_meta,
            VAL_RAW => &mut columns.val_raw,
            PRED_NUM => &mut columns.pred_num,
            PRED_ACTOR => &mut columns.pred_actor,
            PRED_CTR => &mut columns.pred_ctr,
            // Only marks use these (see the module's overview).
            EXPAND | MARK_NAME => continue,
            _ => return Err(Unreadable("an unknown or compressed column")),
        };
        *slot = data;
    }
    same(r.0 == change.extra_bytes(), "extra bytes")?;
    let ops = columns.read(&actors)?;
    same(ops.len() == change.len(), "number of operations")?;
    Ok(ops)
}

// Column specifications: the column's id shifted by 4, then its type
// (1 actor, 2 integer, 3 delta, 4 boolean, 5 string, 6 value metadata,
// 7 value, 0 group); bit 3 (compression) is never set in a change.
const OBJ_ACTOR: u64 = 0x01;
const OBJ_CTR: u64 = 0x02;
const KEY_ACTOR: u64 = 0x11;
const KEY_CTR: u64 = 0x13;
const KEY_STR: u64 = 0x15;
const INSERT: u64 = 0x34;
const ACTION: u64 = 0x42;
const VAL_META: u64 = 0x56;
const VAL_RAW: u64 = 0x57;
const PRED_NUM: u64 = 0x70;
const PRED_ACTOR: u64 = 0x71;
const PRED_CTR: u64 = 0x73;
const EXPAND: u64 = 0x94;
const MARK_NAME: u64 = 0xa5;

/// The bytes of each column a change's operations are read from (empty
/// when the change has none).
#[derive(Default)]
struct Columns<'a> {
    obj_actor: &'a [u8],
    obj_ctr: &'a [u8],
    key_actor: &'a [u8],
    key_ctr: &'a [u8],
    key_str: &'a [u8],
    insert: &'a [u8],
    action: &'a [u8],
    val_meta: &'a [u8],
    val_raw: &'a [u8],
    pred_num: &'a [u8],
    pred_actor: &'a [u8],
    pred_ctr: &'a [u8],
}

impl<'a> Columns<'a> {
    fn read(&self, actors: &[&'a [u8]]) -> Result<Vec<Op<'a>>, Unreadable> {
        let actor = |i: u64| -> Result<&'a [u8], Unreadable> {
            usize::try_from(i)
                .ok()
                .and_then(|i| actors.get(i).copied())
                .ok_or(Unreadable("an actor the change does not name"))
        };
        let mut obj_actor = Rle::new(self.obj_actor, Reader::uleb);
        let mut obj_ctr = Rle::new(self.obj_ctr, Reader::uleb);
        let mut key_actor = Rle::new(self.key_actor, Reader::uleb);
        let mut key_ctr = Delta::new(self.key_ctr);
        let mut key_str = Rle::new(self.key_str, Reader::str);
        let mut insert = Booleans::new(self.insert);
        let mut action = Rle::new(self.action, Reader::uleb);
        let mut val_meta = Rle::new(self.val_meta, Reader::uleb);
        let mut val_raw = Reader(self.val_raw);
        let mut pred_num = Rle::new(self.pred_num, Reader::uleb);
        let mut pred_actor = Rle::new(self.pred_actor, Reader::uleb);
        let mut pred_ctr = Delta::new(self.pred_ctr);
        let mut ops = Vec::new();
        // As automerge: the operations are as many as the actions.
        while !action.done() {
            let obj = match (obj_actor.next()?, obj_ctr.next()?) {
                (None, None) => None,
                (Some(a), Some(c)) if c > 0 => Some(OpId {
                    counter: c,
                    actor: actor(a)?,
                }),
                _ => return Err(Unreadable("an object id")),
            };
            let key = match (key_actor.next()?, key_ctr.next()?, key_str.next()?) {
                (None, None, Some(s)) => Key::Map(s),
                (None, Some(0), None) => Key::Head,
                (Some(a), Some(c), None) if c > 0 => Key::Elem(OpId {
                    counter: c.unsigned_abs(),
                    actor: actor(a)?,
                }),
                _ => return Err(Unreadable("a key")),
            };
            let insert = insert.next()?.ok_or(Unreadable("an insert flag"))?;
            let act = action.next()?.ok_or(Unreadable("an action"))?;
            let meta = val_meta.next()?.ok_or(Unreadable("a value"))?;
            let value = value(meta, &mut val_raw)?;
            let mut pred = Vec::new();
            for _ in 0..pred_num
                .next()?
                .ok_or(Unreadable("a count of predecessors"))?
            {
                match (pred_actor.next()?, pred_ctr.next()?) {
                    (Some(a), Some(c)) if c >= 0 => pred.push(OpId {
                        counter: c.unsigned_abs(),
                        actor: actor(a)?,
                    }),
                    _ => return Err(Unreadable("a predecessor")),
                }
            }
            let action = action_of(act, value)?;
            ops.push(Op {
                obj,
                key,
                insert,
                action,
                pred,
            });
        }
        Ok(ops)
    }
}

/// The code of a deletion (the action a save's deletions are rebuilt with).
pub(crate) const DELETE: u64 = 3;

/// An operation's action from its code and value (as automerge numbers
/// them, in a change and in a save alike).
pub(crate) fn action_of(code: u64, value: Value<'_>) -> Result<Action<'_>, Unreadable> {
    Ok(match code {
        0 => Action::Make(ObjType::Map),
        1 => Action::Put(value),
        2 => Action::Make(ObjType::List),
        DELETE => Action::Delete,
        4 => Action::Make(ObjType::Text),
        5 if matches!(value, Value::Int(_) | Value::Uint(_)) => Action::Increment,
        6 => Action::Make(ObjType::Table),
        7 => Action::Mark,
        _ => return Err(Unreadable("an action")),
    })
}

/// A value from its metadata (its length shifted by 4, then its type) and
/// the raw column.
pub(crate) fn value<'a>(meta: u64, raw: &mut Reader<'a>) -> Result<Value<'a>, Unreadable> {
    let len = usize::try_from(meta >> 4).map_err(|_| Unreadable("a value's length"))?;
    let whole = |raw: &mut Reader<'a>, read: fn(&mut Reader<'a>) -> Result<i64, Unreadable>| {
        let mut bytes = Reader(raw.take(len)?);
        let v = read(&mut bytes)?;
        if bytes.0.is_empty() {
            Ok(v)
        } else {
            Err(Unreadable("a value's length"))
        }
    };
    Ok(match meta & 0xf {
        // automerge reads no bytes for these, whatever the length says.
        0..=2 if len != 0 => return Err(Unreadable("a value's length")),
        0 => Value::Null,
        1 => Value::Bool(false),
        2 => Value::Bool(true),
        3 => {
            let mut bytes = Reader(raw.take(len)?);
            let v = bytes.uleb()?;
            if !bytes.0.is_empty() {
                return Err(Unreadable("a value's length"));
            }
            Value::Uint(v)
        }
        4 => Value::Int(whole(raw, Reader::sleb)?),
        5 => {
            let bytes: [u8; 8] = raw
                .take(len)?
                .try_into()
                .map_err(|_| Unreadable("a float's length"))?;
            Value::F64(f64::from_le_bytes(bytes))
        }
        6 => Value::Str(std::str::from_utf8(raw.take(len)?).map_err(|_| Unreadable("a string"))?),
        7 => Value::Bytes(raw.take(len)?),
        8 => Value::Counter(whole(raw, Reader::sleb)?),
        9 => Value::Timestamp(whole(raw, Reader::sleb)?),
        _ => {
            raw.take(len)?;
            Value::Unknown
        }
    })
}

/// Reads a byte slice from its start.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Unreadable> {
        if n > self.0.len() {
            return Err(Unreadable("the change ends too soon"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(crate) fn uleb(&mut self) -> Result<u64, Unreadable> {
        leb128::read::unsigned(&mut self.0).map_err(|_| Unreadable("a number"))
    }

    pub(crate) fn sleb(&mut self) -> Result<i64, Unreadable> {
        leb128::read::signed(&mut self.0).map_err(|_| Unreadable("a number"))
    }

    pub(crate) fn length_prefixed(&mut self) -> Result<&'a [u8], Unreadable> {
        let len = usize::try_from(self.uleb()?).map_err(|_| Unreadable("a length"))?;
        self.take(len)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, Unreadable> {
        std::str::from_utf8(self.length_prefixed()?).map_err(|_| Unreadable("a string"))
    }
}

/// A run-length column: a positive count and one value repeated, a
/// negative count and as many values, or zero and a count of nulls. A
/// column that ends reads as nulls.
pub(crate) struct Rle<'a, T> {
    data: Reader<'a>,
    read: fn(&mut Reader<'a>) -> Result<T, Unreadable>,
    left: u64,
    literal: bool,
    value: Option<T>,
}

impl<'a, T: Copy> Rle<'a, T> {
    pub(crate) fn new(data: &'a [u8], read: fn(&mut Reader<'a>) -> Result<T, Unreadable>) -> Self {
        Self {
            data: Reader(data),
            read,
            left: 0,
            literal: false,
            value: None,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.left == 0 && self.data.0.is_empty()
    }

    pub(crate) fn next(&mut self) -> Result<Option<T>, Unreadable> {
        while self.left == 0 {
            if self.data.0.is_empty() {
                return Ok(None);
            }
            let count = self.data.sleb()?;
            if count > 0 {
                self.left = count.unsigned_abs();
                self.literal = false;
                self.value = Some((self.read)(&mut self.data)?);
            } else if count < 0 {
                self.left = count.unsigned_abs();
                self.literal = true;
            } else {
                self.left = self.data.uleb()?;
                self.literal = false;
                self.value = None;
            }
        }
        self.left -= 1;
        if self.literal {
            Ok(Some((self.read)(&mut self.data)?))
        } else {
            Ok(self.value)
        }
    }
}

/// A delta column: run-length deltas, summed from 0.
pub(crate) struct Delta<'a> {
    deltas: Rle<'a, i64>,
    sum: i64,
}

impl<'a> Delta<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            deltas: Rle::new(data, Reader::sleb),
            sum: 0,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.deltas.done()
    }

    pub(crate) fn next(&mut self) -> Result<Option<i64>, Unreadable> {
        Ok(self.deltas.next()?.map(|d| {
            self.sum = self.sum.saturating_add(d);
            self.sum
        }))
    }
}

/// A boolean column: run lengths, alternating from false.
pub(crate) struct Booleans<'a> {
    data: Reader<'a>,
    left: u64,
    value: bool,
}

impl<'a> Booleans<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data: Reader(data),
            left: 0,
            value: true,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.left == 0 && self.data.0.is_empty()
    }

    pub(crate) fn next(&mut self) -> Result<Option<bool>, Unreadable> {
        while self.left == 0 {
            if self.data.0.is_empty() {
                return Ok(None);
            }
            self.left = self.data.uleb()?;
            self.value = !self.value;
        }
        self.left -= 1;
        Ok(Some(self.value))
    }
}

/// Whether this module reads every operation of `change` as automerge's
/// `Change::decode()` does (`Err` when it cannot read them). For the
/// property tests and the fuzz target that compare the two readings.
pub fn reads_as_automerge(change: &Change) -> Result<bool, Unreadable> {
    Ok(our_reading(&operations(change)?) == automerge_reading(change))
}

/// An operation as `Change::decode()` gives it, in a form both readings
/// can be compared in.
#[derive(Debug, PartialEq)]
pub(crate) struct Seen {
    obj: Option<(u64, Vec<u8>)>,
    key: String,
    insert: bool,
    action: String,
    pred: Vec<(u64, Vec<u8>)>,
}

fn id(o: &automerge::legacy::OpId) -> (u64, Vec<u8>) {
    (o.counter(), o.actor().to_bytes().to_vec())
}

fn automerge_reading(change: &Change) -> Vec<Seen> {
    use automerge::legacy::{ElementId, Key as LKey, ObjectId, OpType};
    change
        .decode()
        .operations
        .iter()
        .map(|op| {
            let mut pred: Vec<_> = op.pred.iter().map(id).collect();
            pred.sort();
            Seen {
                obj: match &op.obj {
                    ObjectId::Root => None,
                    ObjectId::Id(o) => Some(id(o)),
                },
                key: match &op.key {
                    LKey::Map(k) => format!("map {k}"),
                    LKey::Seq(ElementId::Head) => "head".into(),
                    LKey::Seq(ElementId::Id(o)) => format!("elem {:?}", id(o)),
                },
                insert: op.insert,
                action: match &op.action {
                    OpType::Make(t) => format!("make {t:?}"),
                    OpType::Put(v) => format!("put {}", scalar(v)),
                    OpType::Delete => "delete".into(),
                    OpType::Increment(_) => "increment".into(),
                    OpType::MarkBegin(_) | OpType::MarkEnd(_) => "mark".into(),
                },
                pred,
            }
        })
        .collect()
}

fn scalar(v: &automerge::ScalarValue) -> String {
    use automerge::ScalarValue;
    match v {
        ScalarValue::Null => "null".into(),
        ScalarValue::Boolean(b) => format!("bool {b}"),
        ScalarValue::Uint(u) => format!("uint {u}"),
        ScalarValue::Int(i) => format!("int {i}"),
        ScalarValue::F64(f) => format!("f64 {}", f.to_bits()),
        ScalarValue::Str(s) => format!("str {s}"),
        ScalarValue::Bytes(b) => format!("bytes {b:?}"),
        ScalarValue::Counter(c) => format!("counter {}", i64::from(c)),
        ScalarValue::Timestamp(t) => format!("timestamp {t}"),
        ScalarValue::Unknown { .. } => "unknown".into(),
    }
}

pub(crate) fn our_reading(ops: &[Op<'_>]) -> Vec<Seen> {
    let id = |o: &OpId<'_>| (o.counter, o.actor.to_vec());
    ops.iter()
        .map(|op| {
            let mut pred: Vec<_> = op.pred.iter().map(id).collect();
            pred.sort();
            Seen {
                obj: op.obj.as_ref().map(id),
                key: match &op.key {
                    Key::Map(k) => format!("map {k}"),
                    Key::Head => "head".into(),
                    Key::Elem(o) => format!("elem {:?}", id(o)),
                },
                insert: op.insert,
                action: match &op.action {
                    Action::Make(t) => format!("make {t:?}"),
                    Action::Put(v) => format!(
                        "put {}",
                        match v {
                            Value::Null => "null".into(),
                            Value::Bool(b) => format!("bool {b}"),
                            Value::Uint(u) => format!("uint {u}"),
                            Value::Int(i) => format!("int {i}"),
                            Value::F64(f) => format!("f64 {}", f.to_bits()),
                            Value::Str(s) => format!("str {s}"),
                            Value::Bytes(b) => format!("bytes {b:?}"),
                            Value::Counter(c) => format!("counter {c}"),
                            Value::Timestamp(t) => format!("timestamp {t}"),
                            Value::Unknown => "unknown".into(),
                        }
                    ),
                    Action::Delete => "delete".into(),
                    Action::Increment => "increment".into(),
                    Action::Mark => "mark".into(),
                },
                pred,
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT, ReadDoc, ScalarValue};
    use proptest::prelude::*;

    /// One edit of a random document.
    #[derive(Clone, Debug)]
    pub(crate) enum Edit {
        Put(u8, u8, ScalarValue),
        MakeMap(u8, u8),
        MakeList(u8, u8),
        MakeText(u8, u8),
        Splice(u8, usize, usize, String),
        Insert(u8, usize, ScalarValue),
        Delete(u8, u8),
        Increment(u8, u8),
        Mark(u8, usize, usize),
        Merge,
    }

    fn scalar_value() -> impl Strategy<Value = ScalarValue> {
        prop_oneof![
            Just(ScalarValue::Null),
            any::<bool>().prop_map(ScalarValue::Boolean),
            any::<u64>().prop_map(ScalarValue::Uint),
            any::<i64>().prop_map(ScalarValue::Int),
            any::<f64>().prop_map(ScalarValue::F64),
            ".{0,20}".prop_map(|s| ScalarValue::Str(s.into())),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(ScalarValue::Bytes),
            any::<i64>().prop_map(ScalarValue::counter),
            any::<i64>().prop_map(ScalarValue::Timestamp),
        ]
    }

    pub(crate) fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<u8>(), 0u8..6, scalar_value()).prop_map(|(o, k, v)| Edit::Put(o, k, v)),
            (any::<u8>(), 0u8..6).prop_map(|(o, k)| Edit::MakeMap(o, k)),
            (any::<u8>(), 0u8..6).prop_map(|(o, k)| Edit::MakeList(o, k)),
            (any::<u8>(), 0u8..6).prop_map(|(o, k)| Edit::MakeText(o, k)),
            (any::<u8>(), 0usize..20, 0usize..3, ".{0,8}")
                .prop_map(|(o, at, del, s)| Edit::Splice(o, at, del, s)),
            (any::<u8>(), 0usize..20, scalar_value()).prop_map(|(o, at, v)| Edit::Insert(o, at, v)),
            (any::<u8>(), 0u8..6).prop_map(|(o, k)| Edit::Delete(o, k)),
            (any::<u8>(), 0u8..6).prop_map(|(o, k)| Edit::Increment(o, k)),
            (any::<u8>(), 0usize..10, 0usize..10).prop_map(|(o, a, b)| Edit::Mark(o, a, b)),
            Just(Edit::Merge),
        ]
    }

    /// Applies random edits to two documents of two actors (32-byte keys
    /// and longer ones, as devices' actors are), merging now and then, so
    /// that changes overwrite each other's operations.
    fn changes_of(edits: &[Edit], commit_every: usize) -> Vec<Change> {
        doc_of(edits, commit_every).get_changes(&[])
    }

    /// The document the edits make, both actors' changes merged.
    pub(crate) fn doc_of(edits: &[Edit], commit_every: usize) -> AutoCommit {
        use automerge::ObjType as T;
        let mut docs = [
            AutoCommit::new().with_actor(ActorId::from(vec![7u8; 33])),
            AutoCommit::new().with_actor(ActorId::from(vec![9u8; 32])),
        ];
        let mut objs: Vec<(automerge::ObjId, T)> = vec![(ROOT, T::Map)];
        let key = |k: u8| format!("k{k}");
        for (i, e) in edits.iter().enumerate() {
            let d = &mut docs[i % 2];
            let pick = |o: u8, want: &[T]| {
                objs.iter()
                    .filter(|(_, t)| want.contains(t))
                    .nth(o as usize % objs.iter().filter(|(_, t)| want.contains(t)).count().max(1))
                    .cloned()
            };
            let _ = match e {
                Edit::Put(o, k, v) => {
                    pick(*o, &[T::Map]).map(|(obj, _)| d.put(&obj, key(*k), v.clone()).is_ok())
                }
                Edit::MakeMap(o, k) | Edit::MakeList(o, k) | Edit::MakeText(o, k) => {
                    let t = match e {
                        Edit::MakeMap(..) => T::Map,
                        Edit::MakeList(..) => T::List,
                        _ => T::Text,
                    };
                    pick(*o, &[T::Map]).and_then(|(obj, _)| {
                        d.put_object(&obj, key(*k), t).ok().map(|new| {
                            objs.push((new, t));
                            true
                        })
                    })
                }
                Edit::Splice(o, at, del, s) => pick(*o, &[T::Text]).map(|(obj, _)| {
                    let len = d.length(&obj);
                    let at = (*at).min(len);
                    let del = (*del).min(len - at) as isize;
                    d.splice_text(&obj, at, del, s).is_ok()
                }),
                Edit::Insert(o, at, v) => pick(*o, &[T::List]).map(|(obj, _)| {
                    let at = (*at).min(d.length(&obj));
                    d.insert(&obj, at, v.clone()).is_ok()
                }),
                Edit::Delete(o, k) => {
                    pick(*o, &[T::Map]).map(|(obj, _)| d.delete(&obj, key(*k)).is_ok())
                }
                Edit::Increment(o, k) => pick(*o, &[T::Map]).map(|(obj, _)| {
                    let k = format!("c{k}");
                    if d.get(&obj, &k).ok().flatten().is_none() {
                        let _ = d.put(&obj, &k, ScalarValue::counter(0));
                    }
                    d.increment(&obj, &k, 3).is_ok()
                }),
                Edit::Mark(o, a, b) => pick(*o, &[T::Text]).map(|(obj, _)| {
                    let len = d.length(&obj);
                    let (a, b) = ((*a).min(len), (*b).min(len));
                    let mark = automerge::marks::Mark::new("bold".into(), true, a.min(b), a.max(b));
                    d.mark(&obj, mark, automerge::marks::ExpandMark::After)
                        .is_ok()
                }),
                Edit::Merge => {
                    let [a, b] = &mut docs;
                    let _ = a.merge(b);
                    let _ = b.merge(a);
                    Some(true)
                }
            };
            if i % commit_every == commit_every - 1 {
                // A clock and, now and then, a message: both are in the
                // change's bytes.
                let mut options =
                    automerge::transaction::CommitOptions::default().with_time(1_000 * i as i64);
                if i % 3 == 0 {
                    options.set_message(format!("edit {i}"));
                }
                docs[i % 2].commit_with(options);
            }
        }
        let [a, b] = &mut docs;
        a.commit();
        b.commit();
        let _ = a.merge(b);
        a.clone()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every operation of every honest change is read as automerge
        /// reads it.
        #[test]
        fn reads_every_operation_as_automerge_does(
            edits in proptest::collection::vec(edit(), 1..60),
            every in 1usize..6,
        ) {
            for change in changes_of(&edits, every) {
                let ours = operations(&change).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(our_reading(&ours), automerge_reading(&change));
                prop_assert_eq!(reads_as_automerge(&change), Ok(true));
            }
        }

        /// A corrupted change that automerge still takes is read as
        /// automerge reads it, or refused: never read otherwise.
        #[test]
        fn never_reads_a_corrupted_change_otherwise(
            edits in proptest::collection::vec(edit(), 1..30),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            for change in changes_of(&edits, 3) {
                let mut bytes = change.raw_bytes().to_vec();
                for (at, byte) in &flips {
                    let at = at.index(bytes.len());
                    bytes[at] = *byte;
                }
                let Ok(corrupted) = Change::from_bytes(bytes) else { continue };
                if let Ok(ours) = operations(&corrupted) {
                    prop_assert_eq!(our_reading(&ours), automerge_reading(&corrupted));
                }
            }
        }
    }

    #[test]
    fn a_change_with_an_unknown_column_is_unreadable() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![1u8; 32]));
        doc.put(ROOT, "a", 1).unwrap();
        let change = doc.get_changes(&[]).pop().unwrap();
        assert!(operations(&change).is_ok());
        // The same change with one more column (id 12, an integer) that
        // automerge ignores: this reader refuses it.
        let bytes = change.raw_bytes();
        // Find the column count (just after the other actors, none here)
        // by reading the header again.
        let mut r = Reader(bytes);
        r.take(9).unwrap();
        r.uleb().unwrap();
        let header_start = bytes.len() - r.0.len();
        let mut body = Reader(&bytes[header_start..]);
        let deps = body.uleb().unwrap() as usize;
        body.take(32 * deps).unwrap();
        body.length_prefixed().unwrap();
        body.uleb().unwrap();
        body.uleb().unwrap();
        body.sleb().unwrap();
        body.length_prefixed().unwrap();
        body.uleb().unwrap();
        let at = bytes.len() - body.0.len();
        let count = body.uleb().unwrap();
        let mut cols = Vec::new();
        for _ in 0..count {
            cols.push((body.uleb().unwrap(), body.uleb().unwrap()));
        }
        cols.push((0xc2, 0));
        let mut out = bytes[header_start..at].to_vec();
        leb128::write::unsigned(&mut out, cols.len() as u64).unwrap();
        for (spec, len) in cols {
            leb128::write::unsigned(&mut out, spec).unwrap();
            leb128::write::unsigned(&mut out, len).unwrap();
        }
        out.extend_from_slice(body.0);
        let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
        leb128::write::unsigned(&mut chunk, out.len() as u64).unwrap();
        chunk.extend_from_slice(&out);
        let extended = Change::from_bytes(chunk).expect("automerge takes it");
        assert_eq!(
            operations(&extended),
            Err(Unreadable("an unknown or compressed column"))
        );
    }
}
