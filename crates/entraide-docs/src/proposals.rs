//! Proposals and votes: how the alliance decides together.
//!
//! Schema (automerge): `{ proposals: { <id>: { title, kind, text, process,
//! quorum?, deadline, created_by, created_at, motion?, votes: { <device hex>:
//! { position, reason, org, at } } } } }` (`motion`: for `admission` and
//! `removal`, the hex hash of the membership motion the proposal decides).
//! A vote is written by the voting device under its own
//! key; a vote object whose author (automerge actor) is not that device is
//! ignored, so nobody can vote for another organisation.
//!
//! # Counting
//!
//! - Each organisation has one position: the latest (`at`, then device) vote of
//!   its devices cast at or before the deadline. Votes after the deadline do
//!   not count; `at` is the time of the voting change, signed with it.
//! - Causal order: a vote is never earlier than anything its organisation had
//!   already written in this document (the changes in the vote's causal past
//!   made by that organisation's devices). An organisation that wrote
//!   something after the deadline and then set its clock back cannot vote
//!   "before" the deadline. Only the voter's own organisation's stamps are
//!   used: another organisation's wrong clock never makes an honest vote late.
//! - Only organisations active in the membership count.
//! - `consent` passes unless an organisation objects (`disagree` or `block`,
//!   both with a reason): then it is `blocked`.
//! - `consensus` passes if every active organisation agrees (`abstain` stands
//!   aside); a `block` makes it `blocked`, a `disagree` `rejected`.
//! - `majority` needs a quorum of organisations voting (default: more than
//!   half of the active ones), then more `agree` than `disagree`; without the
//!   quorum it is `expired`.
//! - A proposal is decided at its deadline, or as soon as every active
//!   organisation agrees (the outcome can no longer change).
//!
//! The outcome is a function of the document, the membership and the clock
//! only to tell whether the deadline has passed: every node that holds the
//! same votes reaches the same outcome once the deadline is past.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};

use crate::calendar::Directory;
use crate::doc::Record;
use crate::lookup::{LookupError, resolve};
use crate::{Author, DocKind, SharedDoc};

/// The kinds of proposal.
pub const KINDS: [&str; 7] = [
    "charter-amendment",
    "admission",
    "removal",
    "general",
    "library-quota",
    "fund",
    "fees",
];

/// The largest library quota a proposal may set, in MB per organisation.
pub const MAX_LIBRARY_QUOTA_MB: u64 = 1_000_000;

/// The quota a `library-quota` proposal's text sets, in MB per organisation.
pub fn library_quota_mb(text: &str) -> Option<u64> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|mb| (1..=MAX_LIBRARY_QUOTA_MB).contains(mb))
}

/// How a proposal is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    /// Passes unless someone objects with a reason.
    Consent,
    /// Every organisation agrees.
    Consensus,
    /// More agree than disagree, with a quorum.
    Majority,
}

impl Process {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Consensus => "consensus",
            Self::Majority => "majority",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self, ProposalError> {
        match s.trim() {
            "consent" => Ok(Self::Consent),
            "consensus" => Ok(Self::Consensus),
            "majority" => Ok(Self::Majority),
            other => Err(ProposalError::Invalid(format!(
                "unknown process '{other}'; use consent, consensus or majority"
            ))),
        }
    }
}

/// A position in a vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// For.
    Agree,
    /// Stands aside.
    Abstain,
    /// Against.
    Disagree,
    /// Against, and stops it (consent, consensus).
    Block,
}

impl Position {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Agree => "agree",
            Self::Abstain => "abstain",
            Self::Disagree => "disagree",
            Self::Block => "block",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self, ProposalError> {
        match s.trim() {
            "agree" => Ok(Self::Agree),
            "abstain" => Ok(Self::Abstain),
            "disagree" => Ok(Self::Disagree),
            "block" => Ok(Self::Block),
            other => Err(ProposalError::Invalid(format!(
                "unknown position '{other}'; use agree, abstain, disagree or block"
            ))),
        }
    }
}

/// Where a proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Still open.
    Open,
    /// Adopted.
    Passed,
    /// Not adopted.
    Rejected,
    /// Stopped by an objection or a block.
    Blocked,
    /// Majority without its quorum at the deadline.
    Expired,
}

impl Outcome {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Passed => "passed",
            Self::Rejected => "rejected",
            Self::Blocked => "blocked",
            Self::Expired => "expired",
        }
    }
}

/// One organisation's counted position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The organisation.
    pub org: String,
    /// Its position.
    pub position: Position,
    /// Why.
    pub reason: String,
    /// When, ms.
    pub at: i64,
}

/// A proposal with its counted votes and outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `charter-amendment`, `admission`, `removal` or `general`.
    pub kind: String,
    /// Its text (for an amendment: the proposed charter).
    pub text: String,
    /// How it is decided.
    pub process: Process,
    /// For majority: organisations that must vote.
    pub quorum: Option<u32>,
    /// Deadline, ms.
    pub deadline: i64,
    /// Proposing organisation.
    pub created_by: String,
    /// When, ms.
    pub created_at: i64,
    /// Counted votes, one per organisation.
    pub votes: Vec<Vote>,
    /// The outcome now.
    pub outcome: Outcome,
    /// When it was decided (the deadline, or the last agreeing vote).
    pub decided_at: Option<i64>,
    /// For `admission` and `removal`: the membership motion it decides
    /// (hex of the operation's hash).
    pub motion: Option<String>,
}

/// A new proposal.
#[derive(Clone, Debug)]
pub struct NewProposal<'a> {
    /// Its id.
    pub id: &'a str,
    /// Title.
    pub title: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Text.
    pub text: &'a str,
    /// Process.
    pub process: Process,
    /// Quorum.
    pub quorum: Option<u32>,
    /// Deadline, ms.
    pub deadline: i64,
    /// For `admission` and `removal`: the membership motion it decides.
    pub motion: Option<&'a str>,
}

/// A proposal or vote was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum ProposalError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Unknown proposal.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// Closed.
    #[error("proposal '{0}' is closed ({1}); votes no longer change it")]
    Closed(String, &'static str),
}

/// The proposals document.
#[derive(Debug)]
pub struct Proposals {
    doc: SharedDoc,
}

impl Proposals {
    /// Wraps a proposals document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind().base(), DocKind::Proposals);
        Self { doc }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    fn root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("proposals"))
    }

    /// Opens a proposal.
    pub fn propose(
        &mut self,
        author: &Author,
        now_ms: i64,
        new: NewProposal<'_>,
    ) -> Result<(), ProposalError> {
        let title = new.title.trim();
        if title.is_empty() || title.chars().count() > 300 {
            return Err(ProposalError::Invalid(
                "a proposal needs a title of 1 to 300 characters".into(),
            ));
        }
        if !KINDS.contains(&new.kind) {
            return Err(ProposalError::Invalid(format!(
                "unknown proposal kind '{}'; use charter-amendment, admission, removal, general, library-quota, fund or fees",
                new.kind
            )));
        }
        if new.kind == "charter-amendment" && new.text.trim().is_empty() {
            return Err(ProposalError::Invalid(
                "a charter amendment carries the proposed charter: --file <PATH> or --text <TEXT>"
                    .into(),
            ));
        }
        if new.kind == "library-quota" && library_quota_mb(new.text).is_none() {
            return Err(ProposalError::Invalid(format!(
                "a library quota proposal carries the quota, in MB per organisation, from 1 to {MAX_LIBRARY_QUOTA_MB}: --text <MB>"
            )));
        }
        if new.kind == "fund" && crate::ledger::FundRequest::parse(new.text).is_none() {
            return Err(ProposalError::Invalid(
                "a fund request is opened with `entraide fund request`".into(),
            ));
        }
        if new.kind == "fees" {
            crate::ledger::FeeSchedule::parse(new.text)
                .map_err(|e| ProposalError::Invalid(e.to_string()))?;
        }
        if new.deadline <= now_ms {
            return Err(ProposalError::Invalid(
                "the deadline must be in the future".into(),
            ));
        }
        if matches!(new.kind, "admission" | "removal") != new.motion.is_some() {
            return Err(ProposalError::Invalid(format!(
                "an admission or removal proposal, and only one, names the organisation concerned (--org <ORG>); this one is '{}'",
                new.kind
            )));
        }
        if new.quorum == Some(0) {
            return Err(ProposalError::Invalid(
                "a quorum is at least 1 organisation".into(),
            ));
        }
        let root = self.doc.root_obj("proposals");
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&root, new.id, ObjType::Map)?;
            tx.put(&obj, "title", title)?;
            tx.put(&obj, "kind", new.kind)?;
            tx.put(&obj, "text", new.text)?;
            tx.put(&obj, "process", new.process.name())?;
            if let Some(q) = new.quorum {
                tx.put(&obj, "quorum", ScalarValue::Int(i64::from(q)))?;
            }
            tx.put(&obj, "deadline", ScalarValue::Int(new.deadline))?;
            tx.put(&obj, "created_by", author.org.as_str())?;
            tx.put(&obj, "created_at", ScalarValue::Int(now_ms))?;
            if let Some(motion) = new.motion {
                tx.put(&obj, "motion", motion)?;
            }
            tx.put_object(&obj, "votes", ObjType::Map)?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "propose");
        Ok(())
    }

    /// Finds a proposal by id, prefix or title.
    pub fn resolve(&self, query: &str) -> Result<String, LookupError> {
        let list: Vec<(String, String)> = self
            .root()
            .children()
            .into_iter()
            .map(|(id, r)| (id, r.string("title")))
            .collect();
        resolve(
            query,
            list.iter().map(|(i, t)| (i.as_str(), t.as_str())),
            "proposal",
            "proposals",
        )
    }

    /// Casts (or changes) `author`'s device's vote.
    #[allow(clippy::too_many_arguments)]
    pub fn vote(
        &mut self,
        author: &Author,
        now_ms: i64,
        query: &str,
        position: Position,
        reason: &str,
        active_orgs: &[String],
        dir: &dyn Directory,
    ) -> Result<Proposal, ProposalError> {
        let id = self.resolve(query)?;
        let proposal = self
            .list(active_orgs, dir, now_ms)
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| ProposalError::Invalid("no such proposal".into()))?;
        if proposal.outcome != Outcome::Open {
            return Err(ProposalError::Closed(id, proposal.outcome.name()));
        }
        let needs_reason = matches!(position, Position::Block)
            || (matches!(position, Position::Disagree) && proposal.process == Process::Consent);
        if needs_reason && reason.trim().is_empty() {
            return Err(ProposalError::Invalid(format!(
                "a '{}' under {} needs a reason: --reason <TEXT>",
                position.name(),
                proposal.process.name()
            )));
        }
        if position == Position::Block && proposal.process == Process::Majority {
            return Err(ProposalError::Invalid(
                "a majority vote cannot be blocked; vote disagree".into(),
            ));
        }
        let Some(votes) = self
            .root()
            .child(&id)
            .and_then(|p| p.child("votes"))
            .map(|v| v.obj().clone())
        else {
            return Err(ProposalError::Invalid(
                "the proposal has no vote list".into(),
            ));
        };
        let device = hex::encode(author.device);
        if crate::device_hex_of_actor(self.doc.read().get_actor()) != device {
            return Err(ProposalError::Invalid(
                "a vote is cast from the voting device's own copy".into(),
            ));
        }
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let v = tx.put_object(&votes, device.as_str(), ObjType::Map)?;
            tx.put(&v, "position", position.name())?;
            tx.put(&v, "reason", reason.trim())?;
            tx.put(&v, "org", author.org.as_str())?;
            tx.put(&v, "at", ScalarValue::Int(now_ms))?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "vote");
        self.list(active_orgs, dir, now_ms)
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| ProposalError::Invalid("no such proposal".into()))
    }

    /// Every proposal with its counted votes and outcome at `now_ms`.
    pub fn list(
        &mut self,
        active_orgs: &[String],
        dir: &dyn Directory,
        now_ms: i64,
    ) -> Vec<Proposal> {
        let clocks = OrgClocks::new(self.doc.write(), dir);
        let mut out: Vec<Proposal> = self
            .root()
            .children()
            .into_iter()
            .map(|(id, r)| {
                let deadline = r.int("deadline").unwrap_or(i64::MAX);
                let process = Process::parse(&r.string("process")).unwrap_or(Process::Consensus);
                let quorum = r.int("quorum").and_then(|q| u32::try_from(q).ok());
                let mut latest: BTreeMap<String, (i64, String, Vote)> = BTreeMap::new();
                if let Some(votes) = r.child("votes") {
                    for (device, v) in votes.children() {
                        // Only the device itself may write its vote.
                        let author_ok = match v.obj() {
                            automerge::ObjId::Id(_, actor, _) => {
                                crate::device_hex_of_actor(actor) == device
                            }
                            automerge::ObjId::Root => false,
                        };
                        let Some(org) = dir.device_org(&device).map(|d| d.org) else {
                            continue;
                        };
                        // The vote's time as its organisation's own causal
                        // past tells it: never earlier than anything that
                        // organisation wrote before it.
                        let at = v.int("at").unwrap_or(i64::MAX);
                        let at = match v.obj() {
                            automerge::ObjId::Id(counter, actor, _) => {
                                at.max(clocks.latest_before(&actor.to_hex_string(), *counter, &org))
                            }
                            automerge::ObjId::Root => at,
                        };
                        let Ok(position) = Position::parse(&v.string("position")) else {
                            continue;
                        };
                        if !author_ok || at > deadline || !active_orgs.contains(&org) {
                            continue;
                        }
                        let vote = Vote {
                            org: org.clone(),
                            position,
                            reason: v.string("reason"),
                            at,
                        };
                        let newer = latest
                            .get(&org)
                            .is_none_or(|(t, d, _)| (at, &device) > (*t, d));
                        if newer {
                            latest.insert(org, (at, device, vote));
                        }
                    }
                }
                let votes: Vec<Vote> = latest.into_values().map(|(_, _, v)| v).collect();
                let (outcome, decided_at) =
                    decide(process, quorum, deadline, &votes, active_orgs.len(), now_ms);
                Proposal {
                    id,
                    title: r.string("title"),
                    kind: r.string("kind"),
                    text: r.string("text"),
                    process,
                    quorum,
                    deadline,
                    created_by: r.string("created_by"),
                    created_at: r.int("created_at").unwrap_or_default(),
                    votes,
                    outcome,
                    decided_at,
                    motion: Some(r.string("motion")).filter(|m| !m.is_empty()),
                }
            })
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }
}

/// For each change of a document, the latest time each organisation had
/// stamped on a change in its causal past (itself included): what an
/// organisation had already written when it made a change.
struct OrgClocks {
    /// Per actor (hex): its changes in op order.
    by_actor: BTreeMap<String, Vec<ChangeClock>>,
}

/// One change: its first and last op counters, and per organisation the
/// latest time it stamped on a change in this one's causal past.
struct ChangeClock {
    start_op: u64,
    max_op: u64,
    latest: BTreeMap<String, i64>,
}

impl OrgClocks {
    fn new(doc: &mut automerge::AutoCommit, dir: &dyn Directory) -> Self {
        let metas = doc.get_changes_meta(&[]);
        let index: BTreeMap<automerge::ChangeHash, usize> =
            metas.iter().enumerate().map(|(i, m)| (m.hash, i)).collect();
        let mut clocks: Vec<Option<BTreeMap<String, i64>>> = vec![None; metas.len()];
        // Iterative depth-first walk: deps before dependants, whatever the
        // order the changes come in.
        for start in 0..metas.len() {
            let mut stack = vec![(start, false)];
            while let Some((i, deps_done)) = stack.pop() {
                if clocks[i].is_some() {
                    continue;
                }
                let deps: Vec<usize> = metas[i]
                    .deps
                    .iter()
                    .filter_map(|d| index.get(d).copied())
                    .collect();
                if !deps_done {
                    stack.push((i, true));
                    stack.extend(
                        deps.iter()
                            .filter(|d| clocks[**d].is_none())
                            .map(|d| (*d, false)),
                    );
                    continue;
                }
                let mut clock: BTreeMap<String, i64> = BTreeMap::new();
                for d in deps {
                    for (org, t) in clocks[d].iter().flatten() {
                        let e = clock.entry(org.clone()).or_insert(i64::MIN);
                        *e = (*e).max(*t);
                    }
                }
                if let Some(org) = dir.device_org(&crate::device_hex_of_actor(&metas[i].actor)) {
                    let e = clock.entry(org.org).or_insert(i64::MIN);
                    *e = (*e).max(metas[i].timestamp);
                }
                clocks[i] = Some(clock);
            }
        }
        let mut by_actor: BTreeMap<String, Vec<ChangeClock>> = BTreeMap::new();
        for (m, clock) in metas.iter().zip(clocks) {
            by_actor
                .entry(m.actor.to_hex_string())
                .or_default()
                .push(ChangeClock {
                    start_op: m.start_op,
                    max_op: m.max_op,
                    latest: clock.unwrap_or_default(),
                });
        }
        for changes in by_actor.values_mut() {
            changes.sort_by_key(|c| c.start_op);
        }
        Self { by_actor }
    }

    /// The latest time `org` stamped on a change in the causal past of the
    /// change holding op `counter` of `actor`.
    fn latest_before(&self, actor: &str, counter: u64, org: &str) -> i64 {
        self.by_actor
            .get(actor)
            .and_then(|changes| {
                let i = changes.partition_point(|c| c.start_op <= counter);
                changes[..i].last().filter(|c| counter <= c.max_op)
            })
            .and_then(|c| c.latest.get(org).copied())
            .unwrap_or(i64::MIN)
    }
}

/// The outcome of counted votes at `now_ms`.
fn decide(
    process: Process,
    quorum: Option<u32>,
    deadline: i64,
    votes: &[Vote],
    active: usize,
    now_ms: i64,
) -> (Outcome, Option<i64>) {
    let count = |p: Position| votes.iter().filter(|v| v.position == p).count();
    let (agree, disagree, block) = (
        count(Position::Agree),
        count(Position::Disagree),
        count(Position::Block),
    );
    // Everyone agreed: nothing can change any more.
    if active > 0 && agree == active {
        let at = votes.iter().map(|v| v.at).max();
        return (Outcome::Passed, at);
    }
    if now_ms < deadline {
        return (Outcome::Open, None);
    }
    let outcome = match process {
        Process::Consent if block + disagree > 0 => Outcome::Blocked,
        Process::Consent => Outcome::Passed,
        Process::Consensus if block > 0 => Outcome::Blocked,
        Process::Consensus if disagree > 0 || votes.len() < active => Outcome::Rejected,
        Process::Consensus => {
            if agree > 0 {
                Outcome::Passed
            } else {
                Outcome::Rejected
            }
        }
        Process::Majority => {
            let needed = quorum.map_or(active / 2 + 1, |q| q as usize);
            if votes.len() < needed {
                Outcome::Expired
            } else if agree > disagree {
                Outcome::Passed
            } else {
                Outcome::Rejected
            }
        }
    };
    (outcome, Some(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::DeviceOrg;

    fn author(n: u8) -> Author {
        Author {
            device: [n; 32],
            org: format!("o{n}"),
        }
    }

    fn dir() -> BTreeMap<String, DeviceOrg> {
        (1..=4u8)
            .map(|n| {
                (
                    hex::encode([n; 32]),
                    DeviceOrg {
                        org: format!("o{}", if n == 4 { 1 } else { n }),
                        coordinator: false,
                    },
                )
            })
            .collect()
    }

    fn active() -> Vec<String> {
        vec!["o1".into(), "o2".into(), "o3".into()]
    }

    fn open(process: Process, quorum: Option<u32>) -> Proposals {
        let mut p = Proposals::new(SharedDoc::new(DocKind::Proposals, [1; 32]));
        p.propose(
            &author(1),
            0,
            NewProposal {
                id: "p1",
                title: "Adopt",
                kind: "general",
                text: "",
                process,
                quorum,
                deadline: 100,
                motion: None,
            },
        )
        .unwrap();
        p
    }

    fn merged(a: &mut Proposals, b: &mut Proposals) {
        let mut f = b.doc_mut().fork();
        a.doc_mut().merge(&mut f).unwrap();
    }

    /// Device `n`'s copy of `base`.
    fn copy(base: &mut Proposals, n: u8) -> Proposals {
        let bytes = base.doc_mut().save();
        Proposals::new(SharedDoc::load(DocKind::Proposals, [n; 32], [&bytes[..]]).unwrap())
    }

    #[test]
    fn consent_passes_unless_someone_objects() {
        let mut p = open(Process::Consent, None);
        let d = dir();
        let mut b = copy(&mut p, 2);
        let mut c = copy(&mut p, 3);
        b.vote(&author(2), 10, "p1", Position::Agree, "", &active(), &d)
            .unwrap();
        assert_eq!(b.list(&active(), &d, 50)[0].outcome, Outcome::Open);
        assert_eq!(b.list(&active(), &d, 100)[0].outcome, Outcome::Passed);
        assert!(
            c.vote(&author(3), 20, "p1", Position::Disagree, "", &active(), &d)
                .is_err()
        );
        c.vote(
            &author(3),
            20,
            "p1",
            Position::Disagree,
            "too fast",
            &active(),
            &d,
        )
        .unwrap();
        merged(&mut b, &mut c);
        assert_eq!(b.list(&active(), &d, 100)[0].outcome, Outcome::Blocked);
        // Device 2 cannot vote from device 3's copy.
        assert!(
            c.vote(&author(2), 30, "p1", Position::Agree, "", &active(), &d)
                .is_err()
        );
    }

    #[test]
    fn two_devices_of_one_org_count_once_latest_wins() {
        let mut p = open(Process::Majority, Some(1));
        let d = dir();
        let mut q = copy(&mut p, 4);
        p.vote(&author(1), 10, "p1", Position::Agree, "", &active(), &d)
            .unwrap();
        let device4 = Author {
            device: [4; 32],
            org: "o1".into(),
        };
        q.vote(
            &device4,
            20,
            "p1",
            Position::Disagree,
            "changed our mind",
            &active(),
            &d,
        )
        .unwrap();
        merged(&mut p, &mut q);
        let list = p.list(&active(), &d, 200);
        assert_eq!(list[0].votes.len(), 1);
        assert_eq!(list[0].votes[0].position, Position::Disagree);
        assert_eq!(list[0].outcome, Outcome::Rejected);
    }

    #[test]
    fn late_votes_do_not_count_and_quorum_expires() {
        let d = dir();
        let mut p = open(Process::Majority, None);
        p.vote(&author(1), 10, "p1", Position::Agree, "", &active(), &d)
            .unwrap();
        assert_eq!(p.list(&active(), &d, 200)[0].outcome, Outcome::Expired);
        // A vote made at 150 (after the deadline at 100) on a node that had
        // not looked at the clock still arrives: it does not count.
        let mut late = copy(&mut p, 2);
        let _ = late.vote(&author(2), 150, "p1", Position::Agree, "", &active(), &d);
        merged(&mut p, &mut late);
        let list = p.list(&active(), &d, 200);
        assert_eq!(list[0].votes.len(), 1);
        assert_eq!(list[0].outcome, Outcome::Expired);
    }

    #[test]
    fn a_clock_set_back_does_not_bring_a_vote_before_the_deadline() {
        let d = dir();
        let mut p = open(Process::Majority, None);
        p.vote(&author(1), 10, "p1", Position::Agree, "", &active(), &d)
            .unwrap();
        // o2 writes something at 150, past p1's deadline (100)...
        let mut two = copy(&mut p, 2);
        two.propose(
            &author(2),
            150,
            NewProposal {
                id: "p2",
                title: "Next",
                kind: "general",
                text: "",
                process: Process::Consent,
                quorum: None,
                deadline: 300,
                motion: None,
            },
        )
        .unwrap();
        // ...then sets its clock back to 90 and votes on p1.
        two.vote(&author(2), 90, "p1", Position::Agree, "", &active(), &d)
            .unwrap();
        // o3, whose clock is right, votes at 95 after receiving all of that:
        // another organisation's clock does not make o3's vote late.
        let mut three = copy(&mut two, 3);
        three
            .vote(&author(3), 95, "p1", Position::Agree, "", &active(), &d)
            .unwrap();
        merged(&mut p, &mut three);
        merged(&mut two, &mut p);
        for q in [&mut p, &mut two] {
            let list = q.list(&active(), &d, 200);
            let p1 = list.iter().find(|x| x.id == "p1").unwrap();
            let orgs: Vec<&str> = p1.votes.iter().map(|v| v.org.as_str()).collect();
            assert_eq!(
                orgs,
                ["o1", "o3"],
                "o2's vote follows its own change at 150"
            );
            assert_eq!(p1.outcome, Outcome::Passed);
        }
    }

    #[test]
    fn everyone_agreeing_closes_early_in_any_merge_order() {
        let d = dir();
        let mut p = open(Process::Consensus, None);
        let mut nodes: Vec<Proposals> = (1..=3u8).map(|n| copy(&mut p, n)).collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            let a = author(i as u8 + 1);
            n.vote(&a, 10 + i as i64, "p1", Position::Agree, "", &active(), &d)
                .unwrap();
        }
        let mut outcomes = Vec::new();
        for order in [[0usize, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let mut target = copy(&mut p, 9);
            for i in order {
                merged(&mut target, &mut nodes[i]);
            }
            let list = target.list(&active(), &d, 50);
            outcomes.push((list[0].outcome, list[0].decided_at));
        }
        assert!(
            outcomes.iter().all(|o| *o == (Outcome::Passed, Some(12))),
            "{outcomes:?}"
        );
    }
}
