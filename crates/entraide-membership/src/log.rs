//! The set of signed operations a node holds, as a hash-linked DAG.

use std::collections::{BTreeMap, BTreeSet};

use crate::state::MembershipState;
use crate::{OpBody, OpHash, SignedOp};

/// An operation could not join the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// Some parents are unknown here: fetch them first.
    #[error("membership operation {op} builds on {count} operation(s) this node does not hold yet")]
    MissingParents {
        /// The operation.
        op: OpHash,
        /// How many parents are missing.
        count: usize,
    },
    /// A second founding, or an operation of another alliance.
    #[error("membership operation {0} belongs to another alliance")]
    OtherAlliance(OpHash),
    /// A non-founding operation without parents.
    #[error("membership operation {0} has no parents")]
    NoParents(OpHash),
}

/// Every membership operation this node holds.
#[derive(Clone, Debug, Default)]
pub struct MembershipLog {
    ops: BTreeMap<OpHash, SignedOp>,
    founding: Option<OpHash>,
    /// The operations no other operation builds on, kept as operations
    /// arrive: an operation comes in after all its parents, so it is never
    /// the parent of one already held.
    heads: BTreeSet<OpHash>,
}

impl MembershipLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The alliance's id: the hash of its founding operation.
    pub fn alliance_id(&self) -> Option<OpHash> {
        self.founding
    }

    /// How many operations it holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Whether it holds `hash`.
    pub fn contains(&self, hash: &OpHash) -> bool {
        self.ops.contains_key(hash)
    }

    /// One operation.
    pub fn get(&self, hash: &OpHash) -> Option<&SignedOp> {
        self.ops.get(hash)
    }

    /// Adds an operation whose parents are all held; returns whether it was new.
    pub fn insert(&mut self, op: SignedOp) -> Result<bool, InsertError> {
        let hash = op.hash();
        if self.ops.contains_key(&hash) {
            return Ok(false);
        }
        let is_found = matches!(op.op().body, OpBody::Found { .. });
        if is_found {
            if self.founding.is_some() || !op.op().parents.is_empty() {
                return Err(InsertError::OtherAlliance(hash));
            }
        } else {
            if op.op().parents.is_empty() {
                return Err(InsertError::NoParents(hash));
            }
            let missing = op
                .op()
                .parents
                .iter()
                .filter(|p| !self.ops.contains_key(p))
                .count();
            if missing > 0 {
                return Err(InsertError::MissingParents {
                    op: hash,
                    count: missing,
                });
            }
        }
        if is_found {
            self.founding = Some(hash);
        }
        for parent in &op.op().parents {
            self.heads.remove(parent);
        }
        self.heads.insert(hash);
        self.ops.insert(hash, op);
        Ok(true)
    }

    /// Inserts many operations in any order, retrying those whose parents
    /// come later in the batch; returns the new ones and the refused ones.
    pub fn insert_all(&mut self, ops: Vec<SignedOp>) -> (Vec<OpHash>, Vec<InsertError>) {
        let mut pending = ops;
        let mut added = Vec::new();
        loop {
            let mut progress = false;
            let mut errors = Vec::new();
            let mut again = Vec::new();
            for op in pending {
                match self.insert(op.clone()) {
                    Ok(true) => {
                        added.push(op.hash());
                        progress = true;
                    }
                    Ok(false) => {}
                    Err(e @ InsertError::MissingParents { .. }) => {
                        again.push(op);
                        errors.push(e);
                    }
                    Err(e) => errors.push(e),
                }
            }
            if !progress || again.is_empty() {
                return (added, errors);
            }
            pending = again;
        }
    }

    /// The operations no other operation builds on, sorted.
    pub fn heads(&self) -> Vec<OpHash> {
        self.heads.iter().copied().collect()
    }

    /// Every operation in the one deterministic topological order: parents
    /// first, ties broken by the smaller hash.
    pub fn ordered(&self) -> Vec<&SignedOp> {
        let mut children: BTreeMap<OpHash, Vec<OpHash>> = BTreeMap::new();
        let mut waiting: BTreeMap<OpHash, usize> = BTreeMap::new();
        for (hash, op) in &self.ops {
            waiting.insert(*hash, op.op().parents.len());
            for p in &op.op().parents {
                children.entry(*p).or_default().push(*hash);
            }
        }
        let mut ready: BTreeSet<OpHash> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(h, _)| *h)
            .collect();
        let mut out = Vec::with_capacity(self.ops.len());
        while let Some(hash) = ready.pop_first() {
            out.push(&self.ops[&hash]);
            for child in children.get(&hash).into_iter().flatten() {
                if let Some(n) = waiting.get_mut(child) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(*child);
                    }
                }
            }
        }
        out
    }

    /// The operations not in the causal past of `known` (hashes another node
    /// said it holds; unknown ones are ignored), parents first.
    pub fn missing_for(&self, known: &[OpHash]) -> Vec<&SignedOp> {
        let mut past: BTreeSet<OpHash> = BTreeSet::new();
        let mut stack: Vec<OpHash> = known
            .iter()
            .filter(|h| self.ops.contains_key(h))
            .copied()
            .collect();
        while let Some(h) = stack.pop() {
            if past.insert(h)
                && let Some(op) = self.ops.get(&h)
            {
                stack.extend(op.op().parents.iter().copied());
            }
        }
        self.ordered()
            .into_iter()
            .filter(|op| !past.contains(&op.hash()))
            .collect()
    }

    /// The membership this log implies.
    pub fn state(&self) -> MembershipState {
        MembershipState::compute(self)
    }

    /// Every operation, by hash.
    pub fn iter(&self) -> impl Iterator<Item = &SignedOp> {
        self.ops.values()
    }

    /// `hash` and every operation in its causal past.
    pub fn ancestors(&self, hash: &OpHash) -> BTreeSet<OpHash> {
        let mut past = BTreeSet::new();
        let mut stack = vec![*hash];
        while let Some(h) = stack.pop() {
            if past.insert(h)
                && let Some(op) = self.ops.get(&h)
            {
                stack.extend(op.op().parents.iter().copied());
            }
        }
        past
    }
}
