//! A member whose client is modified: it writes whatever automerge allows
//! into its own store, signed (attested) with its own device key exactly as
//! the stock node does, so that the next `entraide serve` on its home sends
//! those changes to honest nodes through the real sync path.
//!
//! Use it on a home whose `entraide serve` is stopped (the store is one
//! process's at a time):
//!
//! ```text
//! let rogue = RogueMember::open(&r.path());
//! let hash = rogue.edit(DocKind::Proposals, |d| {
//!     let vote = rogue::obj(d, &["proposals", &pid, "votes", &a_device]);
//!     d.put(&vote, "position", "block").unwrap();
//! });
//! drop(rogue);
//! let _sr = Serve::start(&r);
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, ObjId, ROOT, ReadDoc, Value};
use ed25519_dalek::SigningKey;
use entraide_docs::{DocKind, SharedDoc};
use entraide_membership::{OpBody, SignedOp};
use entraide_node::Attestation;
use entraide_store::{Store, WriteBatch};

/// Who signs the attestation of a rogue change.
pub enum Signer<'a> {
    /// The rogue's own device key: a valid attestation.
    Own,
    /// Another key, while the attestation still names the rogue's device
    /// (a forged attestation).
    Forged(&'a SigningKey),
}

/// A member's home opened by a modified client.
pub struct RogueMember {
    store: Store,
    key: SigningKey,
    device: [u8; 32],
    alliance: [u8; 32],
}

impl RogueMember {
    /// Opens the store of `home` (its `serve` must be stopped) and its device
    /// key; the alliance id is the hash of the `Found` operation it holds.
    pub fn open(home: &Path) -> Self {
        let bytes = std::fs::read(home.join("device.key")).expect("read device.key");
        let seed: [u8; 32] = bytes.as_slice().try_into().expect("device.key is 32 bytes");
        let key = SigningKey::from_bytes(&seed);
        let device = key.verifying_key().to_bytes();
        let store = Store::open(&home.join("entraide.redb")).expect("open the rogue's store");
        let alliance = store
            .ops()
            .expect("read membership operations")
            .iter()
            .filter_map(|b| SignedOp::decode(b).ok())
            .find(|op| matches!(op.op().body, OpBody::Found { .. }))
            .map(|op| op.hash().0)
            .expect("the store holds the alliance's Found operation");
        Self {
            store,
            key,
            device,
            alliance,
        }
    }

    /// The rogue device's public key.
    pub fn device(&self) -> [u8; 32] {
        self.device
    }

    /// The rogue device's public key, as 64 lowercase hex digits.
    pub fn device_hex(&self) -> String {
        hex(&self.device)
    }

    /// The alliance id.
    pub fn alliance(&self) -> [u8; 32] {
        self.alliance
    }

    /// A fresh record id that carries the rogue device's prefix (what an
    /// honest client of this device creates).
    pub fn new_id(&self) -> String {
        record_id(&self.device_hex())
    }

    /// The document as the rogue's store holds it, with the rogue's actor.
    pub fn load(&self, doc: DocKind) -> AutoCommit {
        let genesis = SharedDoc::new(doc, [0; 32]).save();
        let mut d = AutoCommit::load(&genesis).expect("load the genesis");
        for chunk in self.store.doc_chunks(&doc.name()).expect("read chunks") {
            d.load_incremental(&chunk).expect("load a stored chunk");
        }
        d.set_actor(ActorId::from(&self.device[..]));
        d
    }

    /// Runs `attack` on the document, commits it as one change by the rogue
    /// device, stores it and the device's valid attestation of it. Returns
    /// the change's hash (lowercase hex).
    pub fn edit(&self, doc: DocKind, attack: impl FnOnce(&mut AutoCommit)) -> String {
        self.edit_signed(doc, Signer::Own, attack)
    }

    /// The same, with the attestation signed by `forger` while it names the
    /// rogue device.
    pub fn edit_forged(
        &self,
        doc: DocKind,
        forger: &SigningKey,
        attack: impl FnOnce(&mut AutoCommit),
    ) -> String {
        self.edit_signed(doc, Signer::Forged(forger), attack)
    }

    /// The same, with the attestation signed as `signer` says.
    pub fn edit_signed(
        &self,
        doc: DocKind,
        signer: Signer<'_>,
        attack: impl FnOnce(&mut AutoCommit),
    ) -> String {
        let (chunk, attestation) = self.change(doc, signer, attack, |bytes| bytes.to_vec());
        let mut batch = WriteBatch::new();
        batch.doc_chunk(&doc.name(), chunk);
        batch.doc_extra(
            &doc.name(),
            &self.device,
            postcard::to_allocvec(&attestation).expect("encode the attestation"),
        );
        self.store.commit(batch).expect("store the rogue change");
        hex(&attestation.hash)
    }

    /// The change `attack` makes, with its bytes rewritten by `rewrite`,
    /// and the device's valid attestation of it, without storing them: a
    /// change no stock client writes (see [`shift_value`]), which a stock
    /// node could not even send (automerge takes it but cannot build it
    /// again), for a test to hand to a node as a peer's bundle.
    pub fn change_rewritten(
        &self,
        doc: DocKind,
        attack: impl FnOnce(&mut AutoCommit),
        rewrite: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> (Vec<u8>, Attestation) {
        self.change(doc, Signer::Own, attack, rewrite)
    }

    fn change(
        &self,
        doc: DocKind,
        signer: Signer<'_>,
        attack: impl FnOnce(&mut AutoCommit),
        rewrite: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> (Vec<u8>, Attestation) {
        let mut d = self.load(doc);
        attack(&mut d);
        d.commit_with(CommitOptions::default().with_time(now_ms()))
            .expect("the attack wrote no operation");
        let change = d.get_last_local_change().expect("the new change");
        let chunk = rewrite(change.raw_bytes());
        let change = automerge::Change::from_bytes(chunk.clone()).expect("automerge takes it");
        let (hash, seq) = (change.hash(), change.seq());
        let attestation = match signer {
            Signer::Own => Attestation::sign(&self.key, &self.alliance, doc, hash.0, seq),
            Signer::Forged(forger) => {
                // The signed message does not include the device: a
                // signature by `forger` over the same fields, put under the
                // rogue's device.
                let mut a = Attestation::sign(forger, &self.alliance, doc, hash.0, seq);
                a.device = self.device;
                a
            }
        };
        (chunk, attestation)
    }

    /// Puts `bytes` in the rogue's store as a library file, as a stock
    /// `library add` would (without its checks). Returns the file's hash
    /// (lowercase hex).
    pub fn store_file(&self, bytes: &[u8]) -> String {
        let hash = *blake3::hash(bytes).as_bytes();
        let mut batch = WriteBatch::new();
        batch.blob(hash, bytes.to_vec());
        self.store.commit(batch).expect("store the rogue's file");
        hex(&hash)
    }
}

/// Rewrites a change so that the value of its operation number `op` (a
/// value of no bytes: null, true or false, or an object's creation) claims
/// `extra` as its bytes, inserted where its value would be. automerge reads
/// no bytes for such a value whatever its length says, so every later value
/// of the change is read from `extra` on: a reader that skips the claimed
/// bytes reads the original values, automerge the shifted ones. The
/// checksum is made again; the result is a change chunk automerge takes.
pub fn shift_value(change: &[u8], op: usize, extra: &[u8]) -> Vec<u8> {
    let mut r = change;
    // Header: magic, checksum, type, length; then the body up to the
    // column specifications, kept as it is.
    let magic = take(&mut r, 4);
    take(&mut r, 4);
    let kind = take(&mut r, 1);
    uleb(&mut r);
    let body = r;
    let deps = uleb(&mut r) as usize;
    take(&mut r, 32 * deps);
    let len = uleb(&mut r) as usize;
    take(&mut r, len);
    uleb(&mut r);
    uleb(&mut r);
    leb128::read::signed(&mut r).expect("a time");
    let len = uleb(&mut r) as usize;
    take(&mut r, len);
    for _ in 0..uleb(&mut r) {
        let len = uleb(&mut r) as usize;
        take(&mut r, len);
    }
    let prefix = body[..body.len() - r.len()].to_vec();
    let mut columns: Vec<(u64, Vec<u8>)> = Vec::new();
    let specs: Vec<(u64, usize)> = (0..uleb(&mut r))
        .map(|_| (uleb(&mut r), uleb(&mut r) as usize))
        .collect();
    for (spec, len) in specs {
        columns.push((spec, take(&mut r, len)));
    }
    let rest = r.to_vec();
    // The value metadata (a run-length column of lengths and types) and
    // the raw values.
    let meta_at = columns
        .iter()
        .position(|(s, _)| *s == 0x56)
        .expect("values");
    let mut metas: Vec<u64> = run_lengths(&columns[meta_at].1, false)
        .into_iter()
        .map(|v| v as u64)
        .collect();
    assert!(
        metas[op] >> 4 == 0 && metas[op] & 0xf <= 2,
        "a value of no bytes"
    );
    let offset: u64 = metas[..op]
        .iter()
        .filter(|v| *v & 0xf > 2)
        .map(|v| v >> 4)
        .sum();
    metas[op] |= (extra.len() as u64) << 4;
    let mut meta = Vec::new();
    leb128::write::signed(&mut meta, -(metas.len() as i64)).expect("write");
    for v in &metas {
        leb128::write::unsigned(&mut meta, *v).expect("write");
    }
    columns[meta_at].1 = meta;
    let raw = &mut columns
        .iter_mut()
        .find(|(s, _)| *s == 0x57)
        .expect("raw values")
        .1;
    raw.splice(offset as usize..offset as usize, extra.iter().copied());
    // The chunk again.
    let mut body = prefix;
    leb128::write::unsigned(&mut body, columns.len() as u64).expect("write");
    for (spec, data) in &columns {
        leb128::write::unsigned(&mut body, *spec).expect("write");
        leb128::write::unsigned(&mut body, data.len() as u64).expect("write");
    }
    for (_, data) in &columns {
        body.extend_from_slice(data);
    }
    body.extend_from_slice(&rest);
    let mut chunk = magic;
    chunk.extend_from_slice(&[0; 4]);
    chunk.extend_from_slice(&kind);
    leb128::write::unsigned(&mut chunk, body.len() as u64).expect("write");
    chunk.extend_from_slice(&body);
    let hash = automerge::Change::from_bytes(chunk.clone())
        .expect("automerge takes the rewritten change")
        .hash();
    chunk[4..8].copy_from_slice(&hash.0[..4]);
    chunk
}

/// The first `n` bytes of `r`, which moves past them.
fn take(r: &mut &[u8], n: usize) -> Vec<u8> {
    let (head, rest) = r.split_at(n);
    *r = rest;
    head.to_vec()
}

/// An unsigned LEB128 number at the start of `r`, which moves past it.
fn uleb(r: &mut &[u8]) -> u64 {
    leb128::read::unsigned(r).expect("a number")
}

/// The values of a run-length column without nulls (runs of one value,
/// runs of distinct values), read as signed numbers when `signed`.
fn run_lengths(data: &[u8], signed: bool) -> Vec<i64> {
    let mut m = data;
    let mut out = Vec::new();
    let read = |m: &mut &[u8]| -> i64 {
        if signed {
            leb128::read::signed(m).expect("a signed number")
        } else {
            leb128::read::unsigned(m).expect("a number") as i64
        }
    };
    while !m.is_empty() {
        let count = leb128::read::signed(&mut m).expect("a run");
        if count > 0 {
            let v = read(&mut m);
            out.extend(std::iter::repeat_n(v, count as usize));
        } else if count < 0 {
            for _ in 0..-count {
                out.push(read(&mut m));
            }
        } else {
            panic!("no nulls in these columns");
        }
    }
    out
}

/// The object at `path` (map keys from the document's root).
pub fn obj(d: &AutoCommit, path: &[&str]) -> ObjId {
    try_obj(d, path).unwrap_or_else(|| panic!("no object at {}", path.join("/")))
}

/// The object at `path`, if there is one.
pub fn try_obj(d: &AutoCommit, path: &[&str]) -> Option<ObjId> {
    let mut at = ROOT;
    for key in path {
        match d.get(&at, *key) {
            Ok(Some((Value::Object(_), id))) => at = id,
            _ => return None,
        }
    }
    Some(at)
}

/// The keys of the map at `path`.
pub fn keys(d: &AutoCommit, path: &[&str]) -> Vec<String> {
    d.keys(obj(d, path)).collect()
}

/// A fresh record id for a record created by `device_hex`: 16 random hex
/// digits, then the first 16 hex digits of the device key.
pub fn record_id(device_hex: &str) -> String {
    format!("{}{}", &random_hex()[..16], &device_hex[..16])
}

/// 64 random-enough lowercase hex digits (unique per call).
pub fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(&COUNTER.fetch_add(1, Ordering::SeqCst).to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(&nanos.to_le_bytes());
    h.finalize().to_hex().to_string()
}

/// A fresh ed25519 key that belongs to nobody.
pub fn stranger_key() -> SigningKey {
    let seed: [u8; 32] = blake3::hash(random_hex().as_bytes()).into();
    SigningKey::from_bytes(&seed)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Rewrites a whole save (a document chunk, uncompressed: `save_nocompress`)
/// so that the operation `target` (counter, position of its actor in the
/// save's actors) names one more successor, `orphan`, an id that no change
/// of the save holds. automerge 0.12 loads such a save: it rebuilds each
/// change from the operations in its counters (to check the save's heads)
/// and drops the deletion the successor stands for, which belongs to no
/// change, but keeps the successor in the document, where `target` reads
/// as deleted. The checksum is made again.
pub fn orphan_successor(save: &[u8], target: (u64, &[u8]), orphan: (u64, &[u8])) -> Vec<u8> {
    let mut r = save;
    let magic = take(&mut r, 4);
    take(&mut r, 4);
    assert_eq!(take(&mut r, 1), [0], "a document chunk");
    uleb(&mut r);
    let body = r;
    let actors: Vec<Vec<u8>> = (0..uleb(&mut r))
        .map(|_| {
            let len = uleb(&mut r) as usize;
            take(&mut r, len)
        })
        .collect();
    let index = |actor: &[u8]| {
        actors
            .iter()
            .position(|a| a.as_slice() == actor)
            .expect("an actor of the save") as u64
    };
    let (target, orphan) = ((target.0, index(target.1)), (orphan.0, index(orphan.1)));
    let heads = uleb(&mut r) as usize;
    take(&mut r, 32 * heads);
    let specs = |r: &mut &[u8]| -> Vec<(u64, usize)> {
        (0..uleb(r)).map(|_| (uleb(r), uleb(r) as usize)).collect()
    };
    let change_specs_at = body.len() - r.len();
    let change_specs = specs(&mut r);
    let prefix = body[..change_specs_at].to_vec();
    let op_specs = specs(&mut r);
    assert!(
        change_specs
            .iter()
            .chain(&op_specs)
            .all(|(s, _)| s & 8 == 0),
        "an uncompressed save"
    );
    let change_data = take(&mut r, change_specs.iter().map(|(_, l)| l).sum());
    let mut ops: Vec<(u64, Vec<u8>)> = op_specs
        .iter()
        .map(|&(spec, len)| (spec, take(&mut r, len)))
        .collect();
    let suffix = r.to_vec();
    let column = |ops: &[(u64, Vec<u8>)], spec: u64| -> Vec<i64> {
        let data = ops
            .iter()
            .find(|(s, _)| *s == spec)
            .map(|(_, d)| d.as_slice())
            .unwrap_or_default();
        let delta = spec & 7 == 3;
        let mut out = run_lengths(data, delta);
        if delta {
            let mut sum = 0;
            for v in &mut out {
                sum += *v;
                *v = sum;
            }
        }
        out
    };
    let (id_actor, id_ctr) = (column(&ops, 0x21), column(&ops, 0x23));
    let (mut succ_num, mut succ_actor, mut succ_ctr) =
        (column(&ops, 0x80), column(&ops, 0x81), column(&ops, 0x83));
    if succ_num.is_empty() {
        succ_num = vec![0; id_actor.len()];
    }
    let at = id_actor
        .iter()
        .zip(&id_ctr)
        .position(|(&a, &c)| (c as u64, a as u64) == target)
        .expect("the target operation");
    let offset: i64 = succ_num[..=at].iter().sum();
    succ_num[at] += 1;
    succ_actor.insert(offset as usize, orphan.1 as i64);
    succ_ctr.insert(offset as usize, orphan.0 as i64);
    // The three columns again: run-length encoded as automerge writes them
    // (runs of one value, runs of distinct values), deltas for counters.
    let encode = |values: &[i64], delta: bool| -> Vec<u8> {
        let mut vs = values.to_vec();
        if delta {
            let mut last = 0;
            for v in &mut vs {
                let d = *v - last;
                last = *v;
                *v = d;
            }
        }
        let write = |out: &mut Vec<u8>, v: i64| {
            if delta {
                leb128::write::signed(out, v).expect("write");
            } else {
                leb128::write::unsigned(out, v as u64).expect("write");
            }
        };
        let mut out = Vec::new();
        let mut literal: Vec<i64> = Vec::new();
        let flush = |out: &mut Vec<u8>, literal: &mut Vec<i64>| {
            if !literal.is_empty() {
                leb128::write::signed(out, -(literal.len() as i64)).expect("write");
                for &v in literal.iter() {
                    write(out, v);
                }
                literal.clear();
            }
        };
        let mut i = 0;
        while i < vs.len() {
            let run = vs[i..].iter().take_while(|&&v| v == vs[i]).count();
            if run > 1 {
                flush(&mut out, &mut literal);
                leb128::write::signed(&mut out, run as i64).expect("write");
                write(&mut out, vs[i]);
            } else {
                literal.push(vs[i]);
            }
            i += run;
        }
        flush(&mut out, &mut literal);
        out
    };
    for (spec, values, delta) in [
        (0x80, &succ_num, false),
        (0x81, &succ_actor, false),
        (0x83, &succ_ctr, true),
    ] {
        let data = encode(values, delta);
        match ops.iter_mut().find(|(s, _)| *s == spec) {
            Some(col) => col.1 = data,
            None => {
                let at = ops.partition_point(|(s, _)| *s < spec);
                ops.insert(at, (spec, data));
            }
        }
    }
    // The chunk again.
    let mut body = prefix;
    let write_specs = |body: &mut Vec<u8>, cols: &[(u64, usize)]| {
        leb128::write::unsigned(body, cols.len() as u64).expect("write");
        for (spec, len) in cols {
            leb128::write::unsigned(body, *spec).expect("write");
            leb128::write::unsigned(body, *len as u64).expect("write");
        }
    };
    write_specs(&mut body, &change_specs);
    let op_specs: Vec<(u64, usize)> = ops.iter().map(|(s, d)| (*s, d.len())).collect();
    write_specs(&mut body, &op_specs);
    body.extend_from_slice(&change_data);
    for (_, data) in &ops {
        body.extend_from_slice(data);
    }
    body.extend_from_slice(&suffix);
    let mut checked = vec![0u8];
    leb128::write::unsigned(&mut checked, body.len() as u64).expect("write");
    checked.extend_from_slice(&body);
    use sha2::Digest;
    let sum = sha2::Sha256::digest(&checked);
    let mut chunk = magic;
    chunk.extend_from_slice(&sum[..4]);
    chunk.extend_from_slice(&checked);
    chunk
}
