//! What a node sends to and accepts from a peer, with no networking:
//! summaries, bundles of changes with their authors' signatures, membership
//! operations and library files. The network layer (`entraide-net`) only
//! moves these values between nodes.
//!
//! # Authorship
//!
//! Changes are not signed one by one. Instead each device signs its *latest*
//! change in each document (an [`Attestation`]); because a change's hash
//! commits to its dependencies, that one signature covers every earlier change
//! of the same device. A received change is accepted only if its actor is a
//! device the membership log knows and it lies in the causal past of a change
//! that device attested (or is the well-known genesis). Otherwise the whole
//! bundle is refused and nothing is stored.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use entraide_docs::{
    ApplyError, ChangeHash, ChangeSummary, DocKind, GENESIS_ACTOR, Refusal, SharedDoc,
    VersionVector,
};
use entraide_membership::{DeviceId, OpHash, SignedOp};
use entraide_store::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::{Node, NodeError};

const ATTEST_CONTEXT: &[u8] = b"entraide-attest-v2";

/// A device's signature over its latest change in one document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attestation {
    /// The signing device (also the change's actor).
    pub device: [u8; 32],
    /// The change's hash.
    pub hash: [u8; 32],
    /// The change's sequence number in the device's changes.
    pub seq: u64,
    /// ed25519 over `entraide-attest-v2 ++ alliance ++ doc name ++ 0 ++ hash
    /// ++ seq (u64 LE)`: every field attestations are ordered by is signed.
    #[serde(with = "serde_sig")]
    pub signature: [u8; 64],
}

mod serde_sig {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(sig)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let bytes: Vec<u8> = Vec::deserialize(d)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a signature is 64 bytes"))
    }
}

fn attest_message(alliance: &[u8; 32], doc: DocKind, hash: &[u8; 32], seq: u64) -> Vec<u8> {
    let mut m = ATTEST_CONTEXT.to_vec();
    m.extend_from_slice(alliance);
    m.extend_from_slice(doc.name().as_bytes());
    m.push(0);
    m.extend_from_slice(hash);
    m.extend_from_slice(&seq.to_le_bytes());
    m
}

impl Attestation {
    /// `key`'s signature over its change `hash`, the `seq`-th of its
    /// changes in `doc` of the alliance `alliance`.
    pub fn sign(
        key: &ed25519_dalek::SigningKey,
        alliance: &[u8; 32],
        doc: DocKind,
        hash: [u8; 32],
        seq: u64,
    ) -> Self {
        let signature = key
            .sign(&attest_message(alliance, doc, &hash, seq))
            .to_bytes();
        Self {
            device: key.verifying_key().to_bytes(),
            hash,
            seq,
            signature,
        }
    }

    /// Whether the signature is the device's over these fields.
    pub fn verify(&self, alliance: &[u8; 32], doc: DocKind) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.device) else {
            return false;
        };
        let message = attest_message(alliance, doc, &self.hash, self.seq);
        key.verify_strict(&message, &Signature::from_bytes(&self.signature))
            .is_ok()
    }
}

/// A version vector as a list: (actor, highest sequence number).
pub type VectorEntries = Vec<(Vec<u8>, u64)>;

/// What a node holds, as it tells a peer when they meet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The alliance.
    pub alliance: [u8; 32],
    /// Heads of the membership log.
    pub op_heads: Vec<[u8; 32]>,
    /// Each document's version vector.
    pub docs: Vec<(DocKind, VectorEntries)>,
    /// Each document's heads: two changes under one actor and sequence
    /// number look the same in version vectors, not in heads.
    pub heads: Vec<(DocKind, Vec<[u8; 32]>)>,
}

/// Changes of one document for a peer, with the signatures that cover them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Which document.
    pub doc: DocKind,
    /// A save or `save_after` chunk.
    pub bytes: Vec<u8>,
    /// The authors' attestations.
    pub attestations: Vec<Attestation>,
}

/// Data from a peer was refused; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Not the same alliance.
    #[error("the peer belongs to another alliance")]
    OtherAlliance,
    /// This node has no alliance.
    #[error("this node is not in an alliance yet")]
    NoAlliance,
    /// A change or operation failed a check.
    #[error("refused data from a peer: {0}")]
    Refused(String),
    /// A change writes what its author may not (see `entraide audit`).
    #[error("refused a change from a peer: {0}")]
    Unauthorized(entraide_docs::Refusal),
    /// The changes build on changes this node does not hold.
    #[error("the changes build on changes this node does not hold yet")]
    MissingDeps,
    /// Storing failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// What applying a peer's data added.
#[derive(Debug, Default)]
pub struct Received {
    /// For each actor, the highest sequence number received.
    pub changes: Vec<(Vec<u8>, u64)>,
    /// How many changes were new here.
    pub new_changes: usize,
    /// How many were left out: set aside by an equivocation this node
    /// knows (the peer has not heard of it yet).
    pub set_aside: usize,
}

impl Drop for Node {
    fn drop(&mut self) {
        // What peers sent since the last durable commit: kept unless the
        // disk fails now (it is then fetched again).
        let _ = self.flush();
    }
}

/// What peers sent is made durable at the latest after this many deferred
/// commits (see [`Node::store_received`]).
pub const DEFERRED_WRITES: usize = 256;
/// ... or this many deferred bytes.
pub const DEFERRED_BYTES: u64 = 32 * 1024 * 1024;

impl Node {
    /// The alliance's id, once founded or joined.
    pub fn alliance_id(&self) -> Option<[u8; 32]> {
        self.membership.state.alliance.as_ref().map(|a| a.id.0)
    }

    /// Whether `device` is a device of an active member organisation.
    pub fn is_member_device(&self, device: &DeviceId) -> bool {
        self.membership.state.org_of_device(device).is_some()
    }

    /// Devices of active member organisations, other than this one.
    pub fn peer_devices(&self) -> Vec<DeviceId> {
        self.membership
            .state
            .active_devices()
            .into_iter()
            .filter(|d| *d != self.device)
            .collect()
    }

    /// The organisation name of a device, if known.
    pub fn org_name_of_device(&self, device: &DeviceId) -> Option<String> {
        self.membership
            .state
            .any_org_of_device(device)
            .map(|o| o.name.clone())
    }

    /// What this node holds of the alliance's documents (its groups' are
    /// told only to their members: [`Node::summary_for`]).
    pub fn summary(&mut self) -> Summary {
        self.summary_of(DocKind::ALL.to_vec())
    }

    /// What this node holds that it shares with the device `peer`.
    pub fn summary_for(&mut self, peer: &DeviceId) -> Summary {
        let docs = self.docs_shared_with(peer);
        self.summary_of(docs)
    }

    fn summary_of(&mut self, kinds: Vec<DocKind>) -> Summary {
        let alliance = self.alliance_id().unwrap_or_default();
        let op_heads = self
            .membership
            .log
            .heads()
            .into_iter()
            .map(|h| h.0)
            .collect();
        // A document that cannot be read is left out (`Node::held_doc`).
        let mut docs = Vec::new();
        let mut heads = Vec::new();
        for k in kinds {
            if let Some((vv, h)) = self.doc_state(k) {
                docs.push((k, vv.into_iter().collect()));
                heads.push((k, h));
            }
        }
        Summary {
            alliance,
            op_heads,
            docs,
            heads,
        }
    }

    /// Membership operations a peer whose heads are `their_heads` lacks.
    pub fn ops_for(&self, their_heads: &[[u8; 32]]) -> Vec<Vec<u8>> {
        let known: Vec<OpHash> = their_heads.iter().map(|h| OpHash(*h)).collect();
        self.membership
            .log
            .missing_for(&known)
            .into_iter()
            .map(|op| op.bytes().to_vec())
            .collect()
    }

    /// Membership operation heads.
    pub fn op_heads(&self) -> Vec<[u8; 32]> {
        self.membership
            .log
            .heads()
            .into_iter()
            .map(|h| h.0)
            .collect()
    }

    /// Verifies and stores membership operations from a peer; returns how
    /// many were new. Operations of another alliance are refused.
    pub fn receive_ops(&mut self, ops: &[Vec<u8>]) -> Result<usize, SyncError> {
        let mut decoded = Vec::with_capacity(ops.len());
        for bytes in ops {
            let op = SignedOp::decode(bytes).map_err(|e| SyncError::Refused(e.to_string()))?;
            decoded.push(op);
        }
        let mut trial = self.membership.log.clone();
        let (mut added, errors) = trial.insert_all(decoded.clone());
        if let Some(e) = errors.first() {
            return Err(SyncError::Refused(e.to_string()));
        }
        if added.is_empty() {
            return Ok(0);
        }
        if self.membership.log.alliance_id().is_some()
            && trial.alliance_id() != self.membership.log.alliance_id()
        {
            return Err(SyncError::OtherAlliance);
        }
        // Only operations by devices some operation of the log names (the
        // founder, an admitted or added device, whether that operation counts
        // or not: validity changes as operations arrive, names do not) are
        // kept: a member relaying operations signed by strangers must not
        // make every node store them, and recompute them, for ever. One
        // that arrives before the operation naming its author is offered
        // again later, like any operation a node lacks.
        let named: BTreeSet<DeviceId> = trial
            .iter()
            .filter_map(|op| match &op.op().body {
                entraide_membership::OpBody::Found { .. } => Some(op.op().author),
                entraide_membership::OpBody::Admit { device, .. }
                | entraide_membership::OpBody::AddDevice { device, .. } => Some(*device),
                _ => None,
            })
            .collect();
        let strangers: BTreeSet<OpHash> = added
            .iter()
            .filter(|h| {
                trial
                    .get(h)
                    .is_some_and(|op| !named.contains(&op.op().author))
            })
            .copied()
            .collect();
        if !strangers.is_empty() {
            tracing::warn!(
                count = strangers.len(),
                "dropped membership operations signed by strangers"
            );
            trial = self.membership.log.clone();
            let (kept, errors) = trial.insert_all(
                decoded
                    .into_iter()
                    .filter(|op| !strangers.contains(&op.hash()))
                    .collect(),
            );
            if let Some(e) = errors.first() {
                return Err(SyncError::Refused(e.to_string()));
            }
            added = kept;
            if added.is_empty() {
                return Ok(0);
            }
        }
        let mut batch = WriteBatch::new();
        for hash in &added {
            if let Some(op) = trial.get(hash) {
                batch.op(hash.0, op.bytes().to_vec());
            }
        }
        self.store.commit(batch).map_err(NodeError::from)?;
        self.membership.log = trial;
        let removals_before = std::mem::take(&mut self.membership.state.removals);
        self.membership.state = self.membership.log.state();
        if self.membership.state.removals != removals_before {
            self.vouch_past_cutoffs()?;
        }
        self.settle_voided()?;
        Ok(added.len())
    }

    /// Where this node holds changes a device made past its removal's
    /// cutoff (accepted before the removal was known here), makes an empty
    /// change on top of them and signs it, so that every member accepts
    /// them from this node and the alliance's documents do not split.
    pub(crate) fn vouch_past_cutoffs(&mut self) -> Result<(), NodeError> {
        if !self.is_member_device(&self.device) {
            return Ok(());
        }
        let removals: Vec<(DeviceId, Vec<entraide_membership::Cutoff>)> = self
            .membership
            .state
            .removals
            .iter()
            .map(|(d, r)| (*d, r.cutoffs.clone()))
            .collect();
        if removals.is_empty() {
            return Ok(());
        }
        for doc in self.docs_held() {
            // A document no removed device wrote in is not loaded.
            let wrote = self.doc_state(doc).is_some_and(|(vv, _)| {
                vv.iter().any(|(actor, _)| {
                    entraide_docs::device_of_actor(actor)
                        .is_some_and(|d| removals.iter().any(|(r, _)| r.0 == d))
                })
            });
            if !wrote {
                continue;
            }
            let shared = self.doc_mut(doc)?;
            let vv = shared.version_vector();
            // Each actor of a removed device (one per opening of its home)
            // has its own chain of changes, and its own cutoff.
            let past_cutoff = vv.iter().any(|(actor, &held)| {
                let Some(device) = entraide_docs::device_of_actor(actor) else {
                    return false;
                };
                let Some((_, cutoffs)) = removals.iter().find(|(d, _)| d.0 == device) else {
                    return false;
                };
                let cutoff = cutoffs
                    .iter()
                    .filter(|c| c.doc == doc.name() && c.device.0 == device)
                    .find(|c| {
                        shared.change_actor(&ChangeHash(c.hash)).as_deref()
                            == Some(actor.as_slice())
                    })
                    .map_or(Some(0), |c| shared.change_seq(&ChangeHash(c.hash)));
                // An actor's changes form one chain: not holding the cutoff
                // change means holding nothing past it.
                cutoff.is_some_and(|seq| held > seq)
            });
            if past_cutoff {
                let now = self.env.now_ms();
                self.doc_mut(doc)?.vouch(now);
                self.persist(doc, WriteBatch::new())?;
            }
        }
        Ok(())
    }

    /// Everything of `doc` past what a peer with heads `their_heads` holds
    /// that this node holds too, with every attestation of the document:
    /// for a peer whose version vector hides what it lacks (see
    /// `SharedDoc::bundle_after_heads`).
    pub fn bundle_after_heads(&mut self, doc: DocKind, their_heads: &[[u8; 32]]) -> Option<Bundle> {
        let heads: Vec<ChangeHash> = their_heads.iter().map(|h| ChangeHash(*h)).collect();
        let bytes = self.held_doc(doc)?.bundle_after_heads(&heads)?;
        let attestations = self.attestations_of(doc, |_| true)?;
        Some(Bundle {
            doc,
            bytes,
            attestations,
        })
    }

    /// The attestations of `doc` whose actor `keep` picks, for a bundle;
    /// `None` (logged) if they cannot be read, as for the document itself
    /// (`Node::held_doc`).
    fn attestations_of(
        &mut self,
        doc: DocKind,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<Attestation>> {
        match self.docs.attestations(doc) {
            Ok(held) => Some(
                held.iter()
                    .filter(|(actor, _)| keep(actor))
                    .map(|(_, a)| a.clone())
                    .collect(),
            ),
            Err(e) => {
                crate::node::unreadable(doc, &e);
                None
            }
        }
    }

    /// The version vector and heads of `doc`: from its summary while it
    /// is not loaded and the summary holds (`crate::docs::Summary`), else
    /// from the document, loaded if it is not yet. `None`: it cannot be
    /// read (`Node::held_doc`).
    pub(crate) fn doc_state(&mut self, doc: DocKind) -> Option<(VersionVector, Vec<[u8; 32]>)> {
        self.read_doc_state(doc)
            .map_err(|e| crate::node::unreadable(doc, &e))
            .ok()
    }

    /// [`Node::doc_state`], with the error for a document that cannot be
    /// read (for `status`, which reports it).
    pub(crate) fn read_doc_state(
        &mut self,
        doc: DocKind,
    ) -> Result<(VersionVector, Vec<[u8; 32]>), NodeError> {
        if let Some(summary) = self.docs.summary(doc) {
            return Ok((summary.vv.iter().cloned().collect(), summary.heads.clone()));
        }
        let shared = self.doc_mut(doc)?;
        let vv = shared.version_vector();
        Ok((vv, shared.heads().iter().map(|h| h.0).collect()))
    }

    /// The heads of `doc`.
    pub fn doc_heads(&mut self, doc: DocKind) -> Vec<[u8; 32]> {
        self.doc_state(doc)
            .map(|(_, heads)| heads)
            .unwrap_or_default()
    }

    /// Whether this node holds the change `hash` of `doc`.
    pub fn holds_change(&mut self, doc: DocKind, hash: &[u8; 32]) -> bool {
        // Every document holds its genesis, and its heads.
        if *hash == SharedDoc::genesis_hash(doc).0
            || self
                .docs
                .summary(doc)
                .is_some_and(|s| s.heads.contains(hash))
        {
            return true;
        }
        self.held_doc(doc)
            .is_some_and(|d| d.holds(&ChangeHash(*hash)))
    }

    /// The changes of `doc` a peer with version vector `theirs` lacks.
    pub fn bundle_for(&mut self, doc: DocKind, theirs: &VersionVector) -> Option<Bundle> {
        // A peer that holds nothing (a newcomer) gets what the store holds,
        // as it is: the same changes as a whole save, without building one
        // (nor loading the document, while its summary holds).
        let all_stored = if !entraide_docs::holds_nothing(theirs) {
            false
        } else if let Some(summary) = self.docs.summary(doc) {
            let heads: Vec<ChangeHash> = summary.heads.iter().copied().map(ChangeHash).collect();
            if SharedDoc::are_genesis_heads(doc, &heads) {
                return None;
            }
            true
        } else {
            self.held_doc(doc)?.stored_is_all_they_lack(theirs)
        };
        let stored = all_stored
            .then(|| self.store.doc_chunks(&doc.name()).ok())
            .flatten()
            .filter(|chunks| !chunks.is_empty())
            .map(|chunks| chunks.concat());
        let bytes = match stored {
            Some(bytes) => bytes,
            None => self.held_doc(doc)?.bundle_for(theirs)?,
        };
        // An attestation covers only its own device's changes: send those of
        // the devices whose changes the peer lacks, not one per member (which
        // would cost ~140 bytes per member on every live edit).
        let mine = self.doc_version_vector(doc);
        let attestations = self.attestations_of(doc, |actor| {
            theirs.get(actor).copied().unwrap_or(0) < mine.get(actor).copied().unwrap_or(0)
        })?;
        Some(Bundle {
            doc,
            bytes,
            attestations,
        })
    }

    /// Signs this device's latest change of `doc`, if it made one, into `batch`.
    pub(crate) fn attest_local(
        &mut self,
        doc: DocKind,
        batch: &mut WriteBatch,
    ) -> Result<(), NodeError> {
        let Some(alliance) = self.alliance_id() else {
            return Ok(());
        };
        let shared = self.doc_mut(doc)?;
        let Some(hash) = shared.take_last_local() else {
            return Ok(());
        };
        let actor = shared.actor().to_vec();
        // This opening's actor writes only here: its latest change has its
        // highest sequence number (a whole version vector costs 40 ms on a
        // calendar just loaded, in a command run without `serve`).
        let seq = shared.change_seq(&hash).unwrap_or(0);
        let attestation = Attestation::sign(&self.key, &alliance, doc, hash.0, seq);
        batch.doc_extra(
            &doc.name(),
            &actor,
            postcard::to_allocvec(&attestation).unwrap_or_default(),
        );
        self.docs.attestations(doc)?.insert(actor, attestation);
        Ok(())
    }

    /// Does ahead, on all cores at once, the costly part of taking the
    /// whole saves among `bundles` (a newcomer's first sync: each document
    /// sent whole to a node that holds nothing of it yet): automerge's load
    /// of each, the reading of its changes, and the signatures of its
    /// attestations. [`Node::receive_bundle`] then takes the work done, for
    /// the same bytes, while the document still holds nothing and the
    /// membership did not change; it runs every check as it would have.
    /// One save alone is not prepared (its reading already runs beside its
    /// load).
    pub fn prepare_bundles(&mut self, bundles: &[&Bundle]) {
        self.docs.prepared = Default::default();
        let mut taken: Vec<&Bundle> = Vec::new();
        for bundle in bundles {
            if taken.iter().any(|b| b.doc == bundle.doc) {
                continue;
            }
            if let Ok(shared) = self.doc_mut(bundle.doc)
                && shared.takes_whole_save(&bundle.bytes)
            {
                taken.push(bundle);
            }
        }
        let Some(alliance) = self.alliance_id() else {
            return;
        };
        if taken.len() < 2 {
            return;
        }
        let saves: Vec<(DocKind, &[u8])> = taken.iter().map(|b| (b.doc, &b.bytes[..])).collect();
        let members = crate::audit::MembersView {
            state: &self.membership.state,
            log: &self.membership.log,
        };
        let device = self.docs.device;
        let (prepared, signed) = std::thread::scope(|s| {
            let signed = s.spawn(|| {
                taken
                    .iter()
                    .flat_map(|b| b.attestations.iter().map(|a| (b.doc, a)))
                    .filter(|(doc, a)| a.verify(&alliance, *doc))
                    .map(|(doc, a)| (doc, a.clone()))
                    .collect()
            });
            let prepared = SharedDoc::prepare_saves(&saves, device, &members);
            (prepared, signed.join().unwrap_or_default())
        });
        self.docs.prepared = crate::docs::Prepared {
            op_heads: self.op_heads(),
            saves: saves
                .iter()
                .zip(prepared)
                .filter_map(|((doc, _), p)| Some((*doc, p?)))
                .collect(),
            signed,
        };
    }

    /// The load and reading [`Node::prepare_bundles`] did for `doc`, if the
    /// membership is still the one they were done with.
    fn take_prepared(&mut self, doc: DocKind) -> Option<entraide_docs::PreparedSave> {
        let prepared = self.docs.prepared.saves.remove(&doc)?;
        (self.docs.prepared.op_heads == self.op_heads()).then_some(prepared)
    }

    /// Verifies and applies a bundle from a peer. Every new change must be
    /// by a member device and covered by that device's attestation. What a
    /// known equivocation set aside is left out (`Received::set_aside`);
    /// a new equivocation is set aside once proven, and the rest applied.
    pub fn receive_bundle(&mut self, bundle: &Bundle) -> Result<Received, SyncError> {
        let Some(sorted) = self.without_forks(bundle) else {
            return self.receive_checked(bundle);
        };
        let set_aside = sorted.set_aside;
        if !sorted.own.is_empty() {
            self.rewrite_own(bundle.doc, &sorted.context, &sorted.own)?;
        }
        let sorted = sorted.bundle;
        if set_aside > 0 {
            let mut batch = WriteBatch::new();
            batch.meta("equivocations", self.docs.forks.encode());
            self.store.commit(batch).map_err(NodeError::from)?;
        }
        let mut received = if sorted.bytes.is_empty() {
            Received::default()
        } else {
            self.receive_checked(&sorted)?
        };
        received.set_aside = set_aside;
        Ok(received)
    }

    fn receive_checked(&mut self, bundle: &Bundle) -> Result<Received, SyncError> {
        let alliance = self.alliance_id().ok_or(SyncError::NoAlliance)?;
        let doc = bundle.doc;
        let genesis = SharedDoc::genesis_hash(doc);
        // Attestations with a valid signature from a known device. Those this
        // node holds were checked when they arrived (or signed here).
        let mut offered: BTreeMap<[u8; 32], Vec<Attestation>> = BTreeMap::new();
        let mut held: BTreeSet<[u8; 64]> = BTreeSet::new();
        for a in self.docs.attestations(doc)?.values() {
            offered.entry(a.device).or_default().push(a.clone());
            held.insert(a.signature);
        }
        for a in &bundle.attestations {
            if held.contains(&a.signature) {
                continue;
            }
            if self.docs.prepared.signed.remove(&(doc, a.clone())) || a.verify(&alliance, doc) {
                offered.entry(a.device).or_default().push(a.clone());
            }
        }
        // A removed device's changes count only up to its removal's cutoffs,
        // or where a member built on them (below); its own signatures are
        // kept aside to tell its genuine changes from forged ones.
        let mut removed_signed: BTreeMap<[u8; 32], Vec<Attestation>> = BTreeMap::new();
        for (device, removal) in &self.membership.state.removals {
            if let Some(signed) = offered.remove(&device.0) {
                removed_signed.insert(device.0, signed);
            }
            let anchors: Vec<Attestation> = removal
                .cutoffs
                .iter()
                .filter(|c| c.doc == doc.name())
                .map(|c| Attestation {
                    device: device.0,
                    hash: c.hash,
                    seq: 0,
                    signature: [0; 64],
                })
                .collect();
            offered.insert(device.0, anchors);
        }
        // The membership is lent to the checks while the document is
        // borrowed mutably (below), and given back before anything else.
        let membership = std::mem::take(&mut self.membership.state);
        let check = |added: &[ChangeSummary]| -> Result<(), Unsigned> {
            // Changes covered by their own device's signature (or within a
            // removed device's cutoffs); changes a member's signed change
            // builds on; a removed device's changes it signed itself.
            // role 1: a member's signatures, 0: a removed device's cutoffs,
            // 2: a removed device's own signatures.
            let groups: Vec<(&[u8; 32], &[Attestation], u8)> = offered
                .iter()
                .map(|(d, a)| {
                    let member = !membership.removals.contains_key(&DeviceId(*d));
                    (d, a.as_slice(), if member { 1 } else { 0 })
                })
                .chain(removed_signed.iter().map(|(d, a)| (d, a.as_slice(), 2)))
                .collect();
            let reach = Reach::sweep(added, &groups);
            // Each device's groups (a removed device has two: its cutoffs
            // and its own signatures), and which groups are members'.
            let mut groups_of: BTreeMap<[u8; 32], Vec<GroupRole>> = BTreeMap::new();
            for (g, (device, _, role)) in groups.iter().enumerate() {
                groups_of.entry(**device).or_default().push((g, *role));
            }
            let members_mask = reach.mask(groups.iter().map(|(_, _, role)| *role == 1));
            let mut covered = vec![false; added.len()];
            let mut last: Option<(&[u8], &[GroupRole])> = None;
            for (i, c) in added.iter().enumerate() {
                let own: &[GroupRole] = match last {
                    Some((actor, own)) if actor == c.actor.as_slice() => own,
                    _ => {
                        let own = entraide_docs::device_of_actor(&c.actor)
                            .and_then(|d| groups_of.get(&d))
                            .map_or(&[][..], Vec::as_slice);
                        last = Some((c.actor.as_slice(), own));
                        own
                    }
                };
                // A member's signed change builds on it.
                let built_on = reach.any(i, &members_mask);
                let mut removed_own = false;
                for &(g, role) in own {
                    if reach.reaches(g, i) {
                        match role {
                            1 | 0 => covered[i] = true,
                            _ => removed_own = true,
                        }
                    }
                }
                // A removed device's genuine change past its cutoff counts
                // when a member built on it: that member accepted it before
                // it knew of the removal, and refusing it would split the
                // alliance for good.
                if removed_own && built_on {
                    covered[i] = true;
                }
            }
            let mut member_actor: Option<&[u8]> = None;
            for (c, covered) in added.iter().zip(&covered) {
                if c.actor.as_slice() == GENESIS_ACTOR.as_slice() {
                    if c.hash != genesis {
                        return Err(Unsigned::Other(format!(
                            "change {} claims the genesis actor",
                            c.hash
                        )));
                    }
                    continue;
                }
                let Some(device) = entraide_docs::device_of_actor(&c.actor) else {
                    return Err(Unsigned::Other(format!(
                        "change {} is not by a device",
                        c.hash
                    )));
                };
                // (A run of one actor's changes asks the membership once.)
                let known = member_actor == Some(c.actor.as_slice())
                    || membership.any_org_of_device(&DeviceId(device)).is_some();
                member_actor = known.then_some(c.actor.as_slice());
                if !known {
                    return Err(Unsigned::NotAMember(Refusal {
                        change: c.hash,
                        author: c.actor.clone(),
                        rule: format!(
                            "change {} is by {}, which is not a member device",
                            c.hash,
                            DeviceId(device)
                        ),
                        undecided: false,
                    }));
                }
                if !covered {
                    return Err(Unsigned::Other(format!(
                        "change {} is not signed by its author",
                        c.hash
                    )));
                }
            }
            Ok(())
        };
        // So is the log (cloning either per bundle cost more than the rest
        // of the check).
        let prepared = self.take_prepared(doc);
        let log = std::mem::take(&mut self.membership.log);
        let members = crate::audit::MembersView {
            state: &membership,
            log: &log,
        };
        let applied = match self.docs.doc_mut(doc) {
            Ok(shared) => Ok(shared.apply_prepared(&bundle.bytes, &members, check, prepared)),
            Err(e) => Err(e),
        };
        self.membership.log = log;
        self.membership.state = membership;
        let added = match applied? {
            Ok(added) => added,
            Err(ApplyError::Refused(Unsigned::NotAMember(refusal))) => {
                // Relayed by a member whose membership is behind this node's
                // (an admission since voided), or forged: this document's
                // bundle is refused and the session goes on, so that the
                // peer hears of the membership that refuses it.
                self.record_refusal(doc, &refusal)?;
                return Err(SyncError::Unauthorized(refusal));
            }
            Err(ApplyError::Refused(Unsigned::Other(reason))) => {
                return Err(SyncError::Refused(reason));
            }
            Err(ApplyError::Unauthorized(refusal)) => {
                self.record_refusal(doc, &refusal)?;
                return Err(SyncError::Unauthorized(refusal));
            }
            Err(ApplyError::Equivocation(e)) => {
                if let Some(proof) = self.prove(bundle, &e)
                    && let Ok(fork) = proof.check(&alliance)
                {
                    // Both sides of the fork go; the rest of the bundle is
                    // taken without them.
                    self.set_fork_aside(proof, fork)?;
                    return self.receive_bundle(bundle);
                }
                let refusal = entraide_docs::Refusal {
                    change: e.offered,
                    author: e.actor.clone(),
                    rule: format!(
                        "equivocation: its device signed another change with the same actor and sequence number ({}), and no signature of it shows both",
                        e.seq
                    ),
                    undecided: false,
                };
                self.record_refusal(doc, &refusal)?;
                return Err(SyncError::Unauthorized(refusal));
            }
            Err(ApplyError::MissingDeps) => return Err(SyncError::MissingDeps),
            Err(ApplyError::Damaged(e)) => {
                // Part of the bundle may be in memory: go back to what is stored.
                self.reload_doc(doc)?;
                return Err(SyncError::Refused(e.to_string()));
            }
            Err(e) => return Err(SyncError::Refused(e.to_string())),
        };
        let mut received: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for c in &added {
            let seq = received.entry(c.actor.clone()).or_default();
            *seq = (*seq).max(c.seq);
        }
        let mut batch = WriteBatch::new();
        let removed: BTreeSet<[u8; 32]> =
            self.membership.state.removals.keys().map(|d| d.0).collect();
        for a in offered
            .into_values()
            .flatten()
            .filter(|a| !removed.contains(&a.device))
            .chain(removed_signed.into_values().flatten())
        {
            // Kept only from a device of an admitted organisation, for its
            // own change, held here, with that change's own sequence number.
            let hash = ChangeHash(a.hash);
            let Some(actor) = self.doc_mut(doc)?.change_actor(&hash) else {
                continue;
            };
            let newer = self
                .docs
                .attestations(doc)?
                .get(&actor)
                .is_none_or(|old| old.seq < a.seq);
            let author = self
                .membership
                .state
                .document_author_org(&DeviceId(a.device))
                .is_some();
            let own = entraide_docs::device_of_actor(&actor) == Some(a.device)
                && self.doc_mut(doc)?.change_seq(&hash) == Some(a.seq);
            if newer && author && own {
                batch.doc_extra(
                    &doc.name(),
                    &actor,
                    postcard::to_allocvec(&a).unwrap_or_default(),
                );
                self.docs.attestations(doc)?.insert(actor, a);
            }
        }
        // Changes by this very device that this home did not hold: another
        // copy of this home wrote them (a folder copied to another
        // computer), or this home was restored from an older backup. Both
        // copies' writes are kept; the user is told once, in `status`.
        if doc.base() == DocKind::Library {
            // A withdrawn entry's file goes from every node's store.
            self.drop_unnamed_files(&mut batch)?;
        }
        if added
            .iter()
            .any(|c| entraide_docs::device_of_actor(&c.actor) == Some(self.device.0))
        {
            let now = self.env.now_ms();
            batch.meta("other_copy_seen", now.to_le_bytes().to_vec());
            self.docs.other_copy_seen = Some(now);
        }
        self.persist_from(doc, batch, crate::node::Origin::Peer)?;
        Ok(Received {
            new_changes: added.len(),
            changes: received.into_iter().collect(),
            set_aside: 0,
        })
    }

    /// Library files this node describes but does not hold, each with how
    /// many of its bytes already arrived (a transfer resumes there).
    pub fn missing_blobs(&mut self) -> Result<Vec<([u8; 32], u64)>, NodeError> {
        let mut heads = self.docs.library_mut()?.doc_mut().heads();
        let shelves = self.group_shelves(entraide_docs::Shelf::Library);
        for kind in &shelves {
            heads.extend(self.doc_mut(*kind)?.heads());
        }
        // The quota decides which files are fetched: it is part of the key.
        let quota = self.library_quota()?;
        heads.push(ChangeHash(blake3::hash(&quota.to_le_bytes()).into()));
        if let Some((at, missing)) = &self.docs.missing_files
            && *at == heads
        {
            // Parts and files received since are recorded as they arrive:
            // no store read per file on every change of the node.
            return Ok(missing.clone());
        }
        // Files of entries over their organisation's quota are neither
        // fetched nor stored.
        let over = self.docs.library()?.over_quota(quota);
        let mut entries: Vec<_> = self
            .docs
            .library()?
            .list()
            .into_iter()
            .filter(|e| !over.contains(&e.id))
            .collect();
        // The libraries of this organisation's groups: their files too.
        entries.extend(self.group_library_entries()?.into_iter().map(|(_, e)| e));
        self.docs.file_sizes = entries
            .iter()
            .filter_map(|e| Some((*blake3::Hash::from_hex(&e.hash).ok()?.as_bytes(), e.size)))
            .collect();
        let mut hashes: Vec<[u8; 32]> = self.docs.file_sizes.keys().copied().collect();
        let mut seen = BTreeSet::new();
        hashes.retain(|h| seen.insert(*h));
        let missing = self.store.missing_blobs(&hashes)?;
        self.docs.missing_files = Some((heads, missing.clone()));
        Ok(missing)
    }

    /// Records what the store now holds of missing files: `None` once
    /// whole. One pass over the missing files for a whole message of parts
    /// (a newcomer's first sync completes 2,000 files in a few messages).
    fn note_files(&mut self, held: &[([u8; 32], Option<u64>)]) {
        if let Some((_, missing)) = &mut self.docs.missing_files {
            let held: std::collections::HashMap<&[u8; 32], Option<u64>> =
                held.iter().map(|(hash, len)| (hash, *len)).collect();
            missing.retain_mut(|(hash, len)| match held.get(hash) {
                Some(Some(now)) => {
                    *len = *now;
                    true
                }
                Some(None) => false,
                None => true,
            });
        }
    }

    /// A library file's bytes, if held.
    pub fn blob(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, NodeError> {
        Ok(self.store.blob(hash)?)
    }

    /// How many bytes of a library file still arriving are held.
    pub fn blob_received(&self, hash: &[u8; 32]) -> Result<u64, NodeError> {
        Ok(self.store.blob_parts_len(hash)?)
    }

    /// Stores one part of a library file: [`Node::receive_blob_parts`] with
    /// one part.
    pub fn receive_blob_part(
        &mut self,
        hash: &[u8; 32],
        offset: u64,
        total: u64,
        bytes: Vec<u8>,
    ) -> Result<bool, SyncError> {
        let part = BlobPart {
            hash: *hash,
            offset,
            total,
            bytes,
        };
        self.receive_blob_parts(vec![part])?
            .pop()
            .unwrap_or(Ok(false))
    }

    /// Stores parts of library files, in one transaction (a peer sends
    /// many small files in one message: a transaction each cost a newcomer
    /// more than the files' bytes). Each part's `offset` must be where the
    /// held part of its file ends. One answer per part, in order: whether
    /// its file is now complete (then its bytes were checked against the
    /// hash and kept, or dropped if they do not match: an error). The
    /// answers stop at the first error; the parts before it are stored.
    /// A file twice in one call is refused: its second part would be
    /// checked against what the store held before the first.
    /// `Err`: nothing could be stored.
    pub fn receive_blob_parts(
        &mut self,
        parts: Vec<BlobPart>,
    ) -> Result<Vec<Result<bool, SyncError>>, SyncError> {
        let mut batch = WriteBatch::new();
        let mut held = Vec::new();
        let mut answers = Vec::with_capacity(parts.len());
        let mut seen = BTreeSet::new();
        for part in parts {
            let answer = if seen.insert(part.hash) {
                self.take_blob_part(part, &mut batch, &mut held)
            } else {
                Err(SyncError::Refused(
                    "the same library file twice in one message".into(),
                ))
            };
            let refused = answer.is_err();
            answers.push(answer);
            if refused {
                break;
            }
        }
        if !batch.is_empty() {
            self.store_received(batch)?;
        }
        self.note_files(&held);
        Ok(answers)
    }

    /// One part of [`Node::receive_blob_parts`], written into `batch`;
    /// what is then held of its file goes into `held` (`None` once whole).
    fn take_blob_part(
        &mut self,
        part: BlobPart,
        batch: &mut WriteBatch,
        held: &mut Vec<([u8; 32], Option<u64>)>,
    ) -> Result<bool, SyncError> {
        let BlobPart {
            hash,
            offset,
            total,
            bytes,
        } = part;
        // The size its library entry declares, or the file is not one this
        // node asked for: a member cannot store more than it declared.
        if !self.docs.file_sizes.contains_key(&hash) {
            // The sizes are read with what is missing (cached by heads).
            self.missing_blobs()?;
        }
        let Some(declared) = self.docs.file_sizes.get(&hash).copied() else {
            // No entry this node fetches names it (withdrawn, over its
            // organisation's quota): nothing is stored.
            return Ok(false);
        };
        if total > crate::MAX_LIBRARY_FILE as u64
            || offset + bytes.len() as u64 > total
            || declared != total
        {
            return Err(SyncError::Refused(
                "a library file is larger than announced or allowed".into(),
            ));
        }
        if self.store.has_blob(&hash).map_err(NodeError::from)? {
            held.push((hash, None));
            return Ok(true);
        }
        let stored = self.store.blob_parts_len(&hash).map_err(NodeError::from)?;
        if offset != stored {
            // Out of order (another peer's part raced it): ignore, ask again later.
            return Ok(false);
        }
        let len = bytes.len() as u64;
        if offset + len == total {
            let mut whole = self.store.blob_parts(&hash).map_err(NodeError::from)?;
            whole.extend_from_slice(&bytes);
            batch.drop_blob_parts(hash);
            if blake3::hash(&whole).as_bytes() != &hash {
                held.push((hash, Some(0)));
                return Err(SyncError::Refused(
                    "a library file does not match its hash".into(),
                ));
            }
            batch.blob(hash, whole);
            held.push((hash, None));
            return Ok(true);
        }
        batch.blob_part(hash, offset, bytes);
        held.push((hash, Some(offset + len)));
        Ok(false)
    }

    /// Stores what a peer sent (document changes, file parts, peer
    /// records) without waiting for the disk, and makes it durable every
    /// [`DEFERRED_WRITES`] commits or [`DEFERRED_BYTES`], at
    /// [`Node::flush`] (a session's peer fell silent or the session ended,
    /// see [`crate::session::Event::Idle`]), when the node closes, or
    /// earlier with the node's next durable write (redb makes every earlier
    /// commit durable with it, in order). What a crash loses is whole
    /// transactions of what peers hold, asked for again at the next
    /// session: what is missing is always read from the documents and the
    /// store. One fsync per message made a first sync of 2,000 files take
    /// seconds more than the documents themselves, and 64 nodes spend
    /// more time in fsync than in automerge.
    pub(crate) fn store_received(&mut self, batch: WriteBatch) -> Result<(), NodeError> {
        self.store.commit_deferred(batch)?;
        let waiting = self.store.deferred();
        if waiting.commits >= DEFERRED_WRITES || waiting.bytes >= DEFERRED_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Makes what peers sent so far durable (nothing to do if it is).
    pub fn flush(&mut self) -> Result<(), NodeError> {
        self.docs.keep_resource_names();
        Ok(self.store.flush()?)
    }

    /// How many writes of what peers sent wait for the next flush.
    pub fn writes_not_yet_durable(&self) -> usize {
        self.store.deferred().commits
    }
}

/// A group of attestations (its position) and its role in the signature
/// check: 1 a member's signatures, 0 a removed device's cutoffs, 2 a removed
/// device's own signatures.
type GroupRole = (usize, u8);

/// Which groups of attestations reach which of the `added` changes: a group
/// (a device's attestations) reaches a change when the change lies in the
/// causal past, within `added`, of a change of that device it attests. One
/// sweep over the changes, children before parents, carrying a bit per
/// group: the cost is the number of changes times the number of groups / 64,
/// not one walk of the whole history per device.
struct Reach {
    words: usize,
    marks: Vec<u64>,
}

impl Reach {
    fn sweep(added: &[ChangeSummary], groups: &[(&[u8; 32], &[Attestation], u8)]) -> Self {
        // (Change hashes are uniformly random: a fast hasher is enough.)
        let mut index: rustc_hash::FxHashMap<ChangeHash, usize> = Default::default();
        index.reserve(added.len());
        index.extend(added.iter().enumerate().map(|(i, c)| (c.hash, i)));
        let words = groups.len().div_ceil(64).max(1);
        let mut marks = vec![0u64; added.len() * words];
        for (g, (device, attestations, _)) in groups.iter().enumerate() {
            for a in *attestations {
                if let Some(&i) = index.get(&ChangeHash(a.hash))
                    && entraide_docs::device_of_actor(&added[i].actor) == Some(**device)
                {
                    marks[i * words + g / 64] |= 1 << (g % 64);
                }
            }
        }
        // Each change's dependencies within `added`, as one flat list.
        let mut offsets = Vec::with_capacity(added.len() + 1);
        let mut deps = Vec::with_capacity(added.len());
        offsets.push(0);
        for c in added {
            deps.extend(c.deps.iter().filter_map(|d| index.get(d).copied()));
            offsets.push(deps.len());
        }
        let deps_of = |i: usize| &deps[offsets[i]..offsets[i + 1]];
        // Parents first: as given when every dependency comes before its
        // change (a whole save, a bundle in causal order), else Kahn's
        // algorithm over the dependencies.
        let in_order = (0..added.len()).all(|i| deps_of(i).iter().all(|&d| d < i));
        let order: Vec<usize> = if in_order {
            (0..added.len()).collect()
        } else {
            let mut children: Vec<Vec<usize>> = vec![Vec::new(); added.len()];
            let mut waiting: Vec<usize> = (0..added.len()).map(|i| deps_of(i).len()).collect();
            for i in 0..added.len() {
                for &d in deps_of(i) {
                    children[d].push(i);
                }
            }
            let mut order: Vec<usize> = (0..added.len()).filter(|&i| waiting[i] == 0).collect();
            let mut next = 0;
            while next < order.len() {
                let i = order[next];
                next += 1;
                for &child in &children[i] {
                    waiting[child] -= 1;
                    if waiting[child] == 0 {
                        order.push(child);
                    }
                }
            }
            order
        };
        // Children first: pass each change's marks on to its dependencies.
        for &i in order.iter().rev() {
            for &d in deps_of(i) {
                for w in 0..words {
                    let m = marks[i * words + w];
                    marks[d * words + w] |= m;
                }
            }
        }
        Self { words, marks }
    }

    /// The groups for which `pick` holds, as a mask for [`Reach::any`].
    fn mask(&self, pick: impl Iterator<Item = bool>) -> Vec<u64> {
        let mut mask = vec![0u64; self.words];
        for (g, picked) in pick.enumerate() {
            if picked {
                mask[g / 64] |= 1 << (g % 64);
            }
        }
        mask
    }

    /// Whether any group of `mask` reaches `change`.
    fn any(&self, change: usize, mask: &[u64]) -> bool {
        self.marks[change * self.words..(change + 1) * self.words]
            .iter()
            .zip(mask)
            .any(|(m, k)| m & k != 0)
    }

    fn reaches(&self, group: usize, change: usize) -> bool {
        self.marks[change * self.words + group / 64] & (1 << (group % 64)) != 0
    }
}

/// Peer bookkeeping, kept by the network layer.
impl Node {
    /// Records where a peer device can be reached.
    pub fn remember_peer(
        &mut self,
        device: DeviceId,
        addrs: &[std::net::SocketAddr],
    ) -> Result<(), NodeError> {
        if device == self.device {
            return Ok(());
        }
        let record = self.peers.records.entry(device).or_default();
        let mut changed = false;
        for a in addrs {
            if !record.addrs.contains(a) {
                record.addrs.push(*a);
                changed = true;
            }
        }
        // Keep the most recent few.
        if record.addrs.len() > 8 {
            let excess = record.addrs.len() - 8;
            record.addrs.drain(..excess);
        }
        if changed {
            self.save_peers()?;
        }
        Ok(())
    }

    /// Records a completed sync with a peer.
    pub fn record_sync(&mut self, device: DeviceId) -> Result<(), NodeError> {
        self.peers.records.entry(device).or_default().last_sync_ms = Some(self.env.now_ms());
        if self.peers.connected.contains_key(&device) {
            self.peers.synced.insert(device);
        }
        self.save_peers()
    }

    /// Counts a session with a peer that starts (`connected`) or ends. A
    /// peer's first connection has not synced yet; it is no longer
    /// connected once its last session ends.
    pub fn set_connected(&mut self, device: DeviceId, connected: bool) {
        let count = self.peers.connected.entry(device).or_default();
        if connected {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
        if *count == 0 || (connected && *count == 1) {
            self.peers.synced.remove(&device);
        }
        if *count == 0 {
            self.peers.connected.remove(&device);
        }
    }

    /// Peers connected now.
    pub fn connected_peers(&self) -> Vec<DeviceId> {
        self.peers.connected.keys().copied().collect()
    }

    /// Peers connected now whose session finished its first exchange: each
    /// holds what this node held then, and hears of its changes as they
    /// happen.
    pub fn synced_peers(&self) -> Vec<DeviceId> {
        self.peers.synced.iter().copied().collect()
    }

    /// Records where this node listens (for tickets), and its relay.
    pub fn set_listen_addrs(
        &mut self,
        addrs: Vec<std::net::SocketAddr>,
        relay: Option<String>,
    ) -> Result<(), NodeError> {
        self.peers.listen_addrs = addrs;
        self.peers.relay_url = relay;
        let mut batch = WriteBatch::new();
        batch.meta(
            "listen_addrs",
            serde_json::to_vec(&self.peers.listen_addrs).unwrap_or_default(),
        );
        batch.meta(
            "relay",
            self.peers
                .relay_url
                .clone()
                .unwrap_or_default()
                .into_bytes(),
        );
        self.store.commit(batch)?;
        Ok(())
    }

    /// The alliance relay this node uses or was invited through, if any.
    pub fn relay_url(&self) -> Option<String> {
        self.peers.relay_url.clone()
    }

    /// Remembers the alliance's relay (from a ticket).
    pub fn remember_relay(&mut self, relay: Option<String>) -> Result<(), NodeError> {
        if relay.is_none() || relay == self.peers.relay_url {
            return Ok(());
        }
        self.peers.relay_url = relay;
        let mut batch = WriteBatch::new();
        batch.meta(
            "relay",
            self.peers
                .relay_url
                .clone()
                .unwrap_or_default()
                .into_bytes(),
        );
        self.store.commit(batch)?;
        Ok(())
    }

    /// The port this node listened on last time, if any.
    pub fn last_listen_port(&self) -> Option<u16> {
        self.peers
            .listen_addrs
            .first()
            .map(std::net::SocketAddr::port)
    }

    /// Every peer device of the alliance with the addresses known for it.
    pub fn known_peers(&self) -> Vec<(DeviceId, Vec<std::net::SocketAddr>)> {
        self.peer_devices()
            .into_iter()
            .map(|d| {
                (
                    d,
                    self.peers
                        .records
                        .get(&d)
                        .map(|p| p.addrs.clone())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    /// This node's own addresses and every peer's, to tell a peer.
    pub fn address_book(&self) -> Vec<([u8; 32], Vec<std::net::SocketAddr>)> {
        let mut out = vec![(self.device.0, self.peers.listen_addrs.clone())];
        out.extend(
            self.known_peers()
                .into_iter()
                .filter(|(_, a)| !a.is_empty())
                .map(|(d, a)| (d.0, a)),
        );
        out
    }

    /// Writes the peer records without waiting for the disk: they are
    /// bookkeeping (addresses, last sync times) that the node's next durable
    /// write makes durable, and a peer's messages must not cost this node a
    /// durable commit each (losing the last few to a crash costs nothing).
    fn save_peers(&mut self) -> Result<(), NodeError> {
        let mut batch = WriteBatch::new();
        batch.meta(
            "peers",
            postcard::to_allocvec(&self.peers.records).unwrap_or_default(),
        );
        self.store_received(batch)
    }

    /// The peers, as `status` and `peers` show them.
    pub(crate) fn peers_json(&self) -> Vec<serde_json::Value> {
        self.peer_devices()
            .into_iter()
            .map(|d| {
                let record = self.peers.records.get(&d).cloned().unwrap_or_default();
                serde_json::json!({
                    "device": d.to_hex(),
                    "org": self.org_name_of_device(&d),
                    "connected": self.peers.connected.contains_key(&d),
                    "last_sync": record.last_sync_ms.map(|t| entraide_docs::time::format_time(t, self.zone)),
                    "addrs": record.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect()
    }
}

impl Node {
    /// A document's version vector.
    pub fn doc_version_vector(&mut self, doc: DocKind) -> VersionVector {
        self.doc_state(doc).map(|(vv, _)| vv).unwrap_or_default()
    }

    /// The device's secret key bytes, for the network endpoint (the same key
    /// is the iroh endpoint id and the signing key).
    pub fn secret_key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

/// One part of a library file, as a peer sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobPart {
    /// The file's BLAKE3 hash.
    pub hash: [u8; 32],
    /// Where this part starts.
    pub offset: u64,
    /// The file's whole size.
    pub total: u64,
    /// The part's bytes.
    pub bytes: Vec<u8>,
}

/// Why the signature check refused a bundle.
#[derive(Debug, thiserror::Error)]
enum Unsigned {
    /// A change by a device this node does not know as a member's.
    #[error("{}", .0.rule)]
    NotAMember(Refusal),
    /// Anything else: a forged or malformed bundle.
    #[error("{0}")]
    Other(String),
}
