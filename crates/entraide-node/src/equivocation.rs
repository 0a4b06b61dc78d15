//! Proofs of equivocation, and what a node does with them.
//!
//! A device equivocates when it signs two different changes under one
//! actor and sequence number (see `entraide_docs::equivocation`). A node
//! offered the second change while it holds the first builds a [`Proof`]:
//! for each change, the device's attestation of a change that has it in
//! its causal past, and the path of changes between the two. The proof
//! needs nothing else to be checked, so it travels to peers that still
//! hold either side (`Msg::Equivocation`), and each node that checks it
//! sets the fork aside by the same rule: every node ends up holding the
//! same changes, and each rewrites its own writes that were built on the
//! fork.
//!
//! A proof names a device of the alliance, signed by that device twice:
//! nobody can make one against a device that did not equivocate.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use entraide_docs::equivocation::{
    EncodedChange, Equivocation, Fork, SetAside, check_path, find_path, sort_out,
};
use entraide_docs::{ChangeHash, DocKind, Refusal};
use entraide_membership::DeviceId;
use entraide_store::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::node::random;
use crate::{Attestation, Bundle, Node, NodeError, SyncError};

/// Most forks a node keeps per document (each is a device that signed two
/// histories; the alliance removes such a member long before).
pub const MAX_FORKS_PER_DOC: usize = 64;

/// Two changes of one document under one actor and sequence number, each
/// shown signed by its device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Which document.
    pub doc: DocKind,
    /// The two changes.
    pub sides: [Side; 2],
}

/// One change of an equivocation, shown signed by its device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// The device's attestation of a change.
    pub attestation: Attestation,
    /// The encoded changes from the attested one down to the forked one,
    /// each a dependency of the one before.
    pub path: Vec<Vec<u8>>,
}

impl Proof {
    /// Checks the proof for the alliance `alliance`; the fork it shows.
    pub fn check(&self, alliance: &[u8; 32]) -> Result<Fork, String> {
        let mut ends = Vec::with_capacity(2);
        for side in &self.sides {
            let a = &side.attestation;
            if !a.verify(alliance, self.doc) {
                return Err("an attestation of the proof is not its device's signature".into());
            }
            let end = check_path(&side.path)?;
            if end.head.0 != a.hash {
                return Err("a path of the proof does not start at the attested change".into());
            }
            if entraide_docs::device_of_actor(&end.actor) != Some(a.device) {
                return Err("a change of the proof is not by the device that attested it".into());
            }
            ends.push(end);
        }
        let (one, two) = (&ends[0], &ends[1]);
        if one.actor != two.actor || one.seq != two.seq || one.hash == two.hash {
            return Err(
                "the proof's two changes are not two changes under one actor and sequence number"
                    .into(),
            );
        }
        Ok(Fork {
            actor: one.actor.clone(),
            seq: one.seq,
        })
    }
}

/// The forks this node knows, per document, with their proofs and the
/// changes they set aside (kept so that what peers still send built on
/// them is set aside too).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Forks {
    known: BTreeMap<DocKind, Vec<(Fork, Proof)>>,
    aside: BTreeMap<DocKind, Vec<[u8; 32]>>,
    #[serde(skip)]
    aside_set: BTreeMap<DocKind, HashSet<ChangeHash>>,
    /// Stored apart (meta `voided`), so that homes written before it read
    /// their forks as before.
    #[serde(skip)]
    voided: Vec<Voided>,
    /// The devices whose changes counted when the documents were last
    /// looked over for void admissions (`None`: not yet since opening).
    #[serde(skip)]
    authors: Option<BTreeSet<DeviceId>>,
}

/// An actor of a device whose admission turned out void, set aside from
/// one document with what was built on it. Decided from the membership
/// alone, so it needs no proof; lifted if the device is admitted after all.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Voided {
    doc: DocKind,
    device: [u8; 32],
    actor: Vec<u8>,
    /// The changes its setting aside took out (its own and those built on them).
    changes: Vec<[u8; 32]>,
}

impl Forks {
    /// The forks stored in `bytes` (none if absent or unreadable).
    pub(crate) fn decode(bytes: Option<Vec<u8>>, voided: Option<Vec<u8>>) -> Self {
        let mut forks: Forks = bytes
            .and_then(|b| postcard::from_bytes(&b).ok())
            .unwrap_or_default();
        forks.voided = voided
            .and_then(|b| postcard::from_bytes(&b).ok())
            .unwrap_or_default();
        forks.aside_set = forks
            .aside
            .iter()
            .map(|(doc, hashes)| (*doc, hashes.iter().map(|h| ChangeHash(*h)).collect()))
            .collect();
        forks
    }

    pub(crate) fn encode(&mut self) -> Vec<u8> {
        self.aside = self
            .aside_set
            .iter()
            .map(|(doc, set)| (*doc, set.iter().map(|h| h.0).collect()))
            .collect();
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// The forks of `doc`.
    pub(crate) fn of(&self, doc: DocKind) -> impl Iterator<Item = &(Fork, Proof)> {
        self.known.get(&doc).into_iter().flatten()
    }

    /// Every fork of `doc`: the equivocations proven, and the actors of
    /// devices whose admission turned out void (from their first change).
    fn forks_of(&self, doc: DocKind) -> Vec<Fork> {
        self.of(doc)
            .map(|(f, _)| f.clone())
            .chain(self.voided.iter().filter(|v| v.doc == doc).map(|v| Fork {
                actor: v.actor.clone(),
                seq: 1,
            }))
            .collect()
    }

    fn encode_voided(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.voided).unwrap_or_default()
    }
}

impl Node {
    /// The forks of `doc` this node set aside, with their proofs.
    pub fn forks(&self, doc: DocKind) -> Vec<(Fork, Proof)> {
        self.docs.forks.of(doc).cloned().collect()
    }

    /// The forks of `doc` this node set aside (without their proofs, which
    /// may be long: sessions look at these on every change).
    pub fn forked(&self, doc: DocKind) -> Vec<Fork> {
        self.docs.forks.forks_of(doc)
    }

    /// The proof of the fork of `actor` in `doc`, if this node set it aside.
    pub fn proof_of(&self, doc: DocKind, actor: &[u8]) -> Option<Proof> {
        self.docs
            .forks
            .of(doc)
            .find(|(f, _)| f.actor == actor)
            .map(|(_, p)| p.clone())
    }

    /// Checks a proof from a peer and, if it shows a fork this node did not
    /// know, sets it aside. Whether it was new.
    pub fn receive_proof(&mut self, proof: &Proof) -> Result<bool, SyncError> {
        let alliance = self.alliance_id().ok_or(SyncError::NoAlliance)?;
        let fork = proof.check(&alliance).map_err(SyncError::Refused)?;
        let device = DeviceId(entraide_docs::device_of_actor(&fork.actor).unwrap_or_default());
        let known = self.membership.state.any_org_of_device(&device).is_some()
            || self.membership.state.removals.contains_key(&device);
        if !known {
            return Err(SyncError::Refused(
                "a proof of equivocation about a device that was never a member".into(),
            ));
        }
        if self
            .docs
            .forks
            .of(proof.doc)
            .any(|(f, _)| f.actor == fork.actor && f.seq <= fork.seq)
        {
            return Ok(false);
        }
        self.set_fork_aside(proof.clone(), fork)?;
        Ok(true)
    }

    /// Builds the proof of an equivocation met while applying `bundle`:
    /// each change with an attestation of its device that covers it, from
    /// the bundle or from what this node holds.
    pub(crate) fn prove(&mut self, bundle: &Bundle, e: &Equivocation) -> Option<Proof> {
        let doc = bundle.doc;
        let alliance = self.alliance_id()?;
        let device = entraide_docs::device_of_actor(&e.actor)?;
        let in_bundle: HashMap<ChangeHash, EncodedChange> =
            entraide_docs::equivocation::changes_in(&bundle.bytes)
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.hash(), c))
                .collect();
        let mut attestations: Vec<Attestation> = bundle
            .attestations
            .iter()
            .filter(|a| a.device == device && a.verify(&alliance, doc))
            .cloned()
            .collect();
        attestations.extend(
            self.docs
                .attestations(doc)
                .ok()?
                .values()
                .filter(|a| a.device == device)
                .cloned(),
        );
        let shared = self.held_doc(doc)?;
        let mut side = |target: ChangeHash| -> Option<Side> {
            attestations.iter().find_map(|a| {
                let path = find_path(
                    |h| in_bundle.get(h).cloned().or_else(|| shared.change(h)),
                    ChangeHash(a.hash),
                    target,
                )?;
                Some(Side {
                    attestation: a.clone(),
                    path,
                })
            })
        };
        let proof = Proof {
            doc,
            sides: [side(e.held)?, side(e.offered)?],
        };
        proof.check(&alliance).ok().map(|_| proof)
    }

    /// Sets `fork` of `proof.doc` aside: the document is rebuilt without it,
    /// this device's own writes built on it written again, and the proof
    /// kept for peers that still hold either side.
    pub(crate) fn set_fork_aside(&mut self, proof: Proof, fork: Fork) -> Result<(), NodeError> {
        let doc = proof.doc;
        let count = self.docs.forks.known.get(&doc).map_or(0, Vec::len);
        if count >= MAX_FORKS_PER_DOC {
            return Err(NodeError::Unauthorized(format!(
                "{doc}: more than {MAX_FORKS_PER_DOC} equivocations; this one is not set aside"
            )));
        }
        let mut forks = self.docs.forks.forks_of(doc);
        forks.push(fork.clone());
        let (outcome, mut batch) = self.rebuild_without(doc, &forks)?;
        self.docs
            .forks
            .known
            .entry(doc)
            .or_default()
            .push((fork.clone(), proof.clone()));
        batch.meta("equivocations", self.docs.forks.encode());
        self.store.commit(batch)?;
        let offered = check_path(&proof.sides[1].path).map(|e| e.hash).ok();
        self.record_refusal(
            doc,
            &Refusal {
                change: offered.unwrap_or(ChangeHash([0; 32])),
                author: fork.actor.clone(),
                rule: format!(
                    "equivocation: its device signed two different changes with sequence number {} under one actor; both were set aside, {}",
                    fork.seq,
                    outcome.describe(),
                ),
                undecided: false,
            },
        )?;
        tracing::warn!(doc = %doc, seq = fork.seq, set_aside = outcome.changes.len(), rewritten = outcome.rewritten, "an equivocation was set aside");
        Ok(())
    }

    /// Rebuilds `doc` without what `forks` set aside, this device's own
    /// writes built on them written again under a fresh actor; what is to
    /// be stored, in a batch the caller completes and commits.
    fn rebuild_without(
        &mut self,
        doc: DocKind,
        forks: &[Fork],
    ) -> Result<(SetAside, WriteBatch), NodeError> {
        // Writes from now on go under a fresh actor: this opening's may have
        // changes set aside whose sequence numbers it would otherwise reuse.
        let epoch = random(&*self.env)?;
        self.epoch = epoch;
        self.docs.epoch = epoch;
        let now = self.env.now_ms();
        // A group's documents are loaded from the store first.
        let _ = self.doc_mut(doc)?;
        let members = crate::audit::MembersView {
            state: &self.membership.state,
            log: &self.membership.log,
        };
        let shared = self.docs.doc_mut(doc)?;
        let outcome = shared.set_aside(forks, epoch, now, &members)?;
        let mut batch = WriteBatch::new();
        batch.replace_doc(&doc.name(), shared.save());
        shared.mark_saved();
        if outcome.rewritten > 0 {
            self.attest_local(doc, &mut batch)?;
        }
        // Attestations of changes set aside cover nothing held any more.
        let held = self.docs.attestations(doc)?;
        let gone: Vec<Vec<u8>> = held
            .iter()
            .filter(|(_, a)| outcome.changes.contains(&ChangeHash(a.hash)))
            .map(|(actor, _)| actor.clone())
            .collect();
        for actor in gone {
            // Stored empty: read back as no attestation.
            batch.doc_extra(&doc.name(), &actor, Vec::new());
            held.remove(&actor);
        }
        self.docs
            .forks
            .aside_set
            .entry(doc)
            .or_default()
            .extend(outcome.changes.iter().copied());
        Ok((outcome, batch))
    }

    /// Brings what this node holds in line with the membership after it
    /// changed. A device whose admission turned out void (its admitter's
    /// removal, concurrent with it, voided the motion) was never a member:
    /// the changes this node took from it before it knew are set aside
    /// like a fork, with what was built on them, and this device's own
    /// writes among those written again, so that this node holds what the
    /// nodes that never took them hold. A device set aside so that is
    /// admitted after all comes back: its changes are taken again from
    /// peers that hold them.
    pub(crate) fn settle_voided(&mut self) -> Result<(), NodeError> {
        let authors = self.membership.state.document_authors();
        let (lifted, kept): (Vec<Voided>, Vec<Voided>) =
            std::mem::take(&mut self.docs.forks.voided)
                .into_iter()
                .partition(|v| authors.contains(&DeviceId(v.device)));
        self.docs.forks.voided = kept;
        if !lifted.is_empty() {
            for v in &lifted {
                if let Some(aside) = self.docs.forks.aside_set.get_mut(&v.doc) {
                    for h in &v.changes {
                        aside.remove(&ChangeHash(*h));
                    }
                }
                tracing::warn!(doc = %v.doc, device = %DeviceId(v.device), "a device set aside as never admitted was admitted: its changes are taken again");
            }
            let mut batch = WriteBatch::new();
            batch.meta("equivocations", self.docs.forks.encode());
            batch.meta("voided", self.docs.forks.encode_voided());
            self.store.commit(batch)?;
        }
        // Only a device that stopped counting can leave changes to set
        // aside (and, once per opening, whatever a crash left undone).
        let shrank = self
            .docs
            .forks
            .authors
            .replace(authors.clone())
            .is_none_or(|before| before.iter().any(|d| !authors.contains(d)));
        // A node that is not a member itself leaves its documents as they are.
        if !shrank || !self.is_member_device(&self.device) {
            return Ok(());
        }
        for doc in self.docs_held() {
            // The actors a document holds, from its summary while it is
            // not loaded (`serve` loads only what it needs).
            let Some((vv, _)) = self.doc_state(doc) else {
                self.doc_mut(doc)?;
                continue;
            };
            let void: Vec<(Vec<u8>, [u8; 32])> = vv
                .keys()
                .filter_map(|actor| {
                    let device = entraide_docs::device_of_actor(actor)?;
                    let known = self
                        .docs
                        .forks
                        .voided
                        .iter()
                        .any(|v| v.doc == doc && v.actor == *actor);
                    (!authors.contains(&DeviceId(device)) && !known)
                        .then(|| (actor.clone(), device))
                })
                .collect();
            if void.is_empty() {
                continue;
            }
            let mut forks = self.docs.forks.forks_of(doc);
            forks.extend(void.iter().map(|(actor, _)| Fork {
                actor: actor.clone(),
                seq: 1,
            }));
            let (outcome, mut batch) = self.rebuild_without(doc, &forks)?;
            let changes: Vec<[u8; 32]> = outcome.changes.iter().map(|h| h.0).collect();
            for (actor, device) in &void {
                self.docs.forks.voided.push(Voided {
                    doc,
                    device: *device,
                    actor: actor.clone(),
                    changes: changes.clone(),
                });
            }
            batch.meta("equivocations", self.docs.forks.encode());
            batch.meta("voided", self.docs.forks.encode_voided());
            self.store.commit(batch)?;
            for (actor, device) in &void {
                self.record_refusal(
                    doc,
                    &Refusal {
                        change: outcome.changes.first().copied().unwrap_or(ChangeHash([0; 32])),
                        author: actor.clone(),
                        rule: format!(
                            "void admission: {} was never admitted (a concurrent removal of its admitter voided the motion); its changes were set aside, {}",
                            DeviceId(*device),
                            outcome.describe(),
                        ),
                        undecided: false,
                    },
                )?;
            }
            tracing::warn!(doc = %doc, set_aside = outcome.changes.len(), rewritten = outcome.rewritten, "changes of a device never admitted were set aside");
        }
        Ok(())
    }

    /// `bundle` without the changes the known forks set aside (they are
    /// remembered as set aside too); `None` when no fork of its document
    /// is known or the bundle is not automerge data.
    pub(crate) fn without_forks(&mut self, bundle: &Bundle) -> Option<Sorted> {
        let forks = self.docs.forks.forks_of(bundle.doc);
        if forks.is_empty() {
            return None;
        }
        let changes = entraide_docs::equivocation::changes_in(&bundle.bytes)?;
        let aside = self.docs.forks.aside_set.entry(bundle.doc).or_default();
        let before: HashSet<ChangeHash> = changes
            .iter()
            .map(|c| c.hash())
            .filter(|h| aside.contains(h))
            .collect();
        let (kept, dropped) = sort_out(&changes, &forks, aside);
        let bytes = kept
            .iter()
            .flat_map(|c| c.raw_bytes().iter().copied())
            .collect();
        // This device's changes set aside here for the first time: written
        // before a restore from a backup, they come back only from others,
        // and this node alone can write them again.
        let device = self.device.0;
        let own = dropped
            .iter()
            .filter(|c| {
                !before.contains(&c.hash())
                    && entraide_docs::device_of_actor(c.actor_id().to_bytes()) == Some(device)
            })
            .map(|c| (*c).clone())
            .collect();
        let set_aside = dropped.len();
        Some(Sorted {
            bundle: Bundle {
                doc: bundle.doc,
                bytes,
                attestations: bundle.attestations.clone(),
            },
            set_aside,
            own,
            context: changes,
        })
    }

    /// Writes again this device's changes `own` that `context` brought and
    /// a fork set aside (see [`Node::without_forks`]), and stores them.
    pub(crate) fn rewrite_own(
        &mut self,
        doc: DocKind,
        context: &[EncodedChange],
        own: &[EncodedChange],
    ) -> Result<(), NodeError> {
        let now = self.env.now_ms();
        let lost = self.doc_mut(doc)?.rewrite_set_aside(context, own, now);
        if let Err(e) = self.persist(doc, WriteBatch::new()) {
            tracing::warn!(doc = %doc, error = %e, "this device's writes set aside could not be written again");
        } else {
            tracing::warn!(doc = %doc, changes = own.len(), lost, "this device's writes set aside by an equivocation were written again");
        }
        Ok(())
    }
}

/// A bundle sorted out by the known forks.
pub(crate) struct Sorted {
    /// What is left of it.
    pub(crate) bundle: Bundle,
    /// How many of its changes were set aside.
    pub(crate) set_aside: usize,
    /// This device's changes among them, set aside for the first time.
    pub(crate) own: Vec<EncodedChange>,
    /// Every change it held.
    pub(crate) context: Vec<EncodedChange>,
}
