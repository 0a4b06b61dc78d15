//! Deciding together: proposals, votes, the adopted charter and the
//! decision log, as the command line asks for them.

use entraide_docs::DocKind;
use entraide_docs::proposals::{NewProposal, Outcome, Position, Process, Proposal};
use entraide_docs::time::{format_time, parse_time};
use entraide_membership::{AdmissionRule, MotionStatus, OpBody, OpHash};
use entraide_store::WriteBatch;
use serde_json::{Value, json};

use crate::node::directory;
use crate::{Node, NodeError, Reply};

/// Default time a proposal stays open.
const DEFAULT_OPEN_MS: i64 = 7 * 24 * 3_600_000;

impl Node {
    pub(crate) fn active_org_ids(&self) -> Vec<String> {
        self.membership
            .state
            .active_orgs()
            .map(|o| o.id.clone())
            .collect()
    }

    pub(crate) fn proposal_list(&mut self) -> Result<Vec<Proposal>, NodeError> {
        let active = self.active_org_ids();
        let list = self
            .docs
            .proposals_mut()?
            .list(
                &active,
                &directory(&self.membership.state),
                self.env.now_ms(),
            )
            .into_iter()
            .map(|p| self.with_motion_outcome(p))
            .collect();
        Ok(list)
    }

    /// The proposals of this organisation's groups, each counted among its
    /// group's member organisations.
    pub(crate) fn group_proposal_list(
        &mut self,
    ) -> Result<Vec<(entraide_membership::GroupState, Proposal)>, NodeError> {
        let now = self.env.now_ms();
        let mut out = Vec::new();
        for g in self.my_groups() {
            let orgs: Vec<String> = g.orgs.iter().cloned().collect();
            self.load_group(g.id)?;
            let dir = directory(&self.membership.state);
            let Some(docs) = self.docs.groups.get_mut(&g.id) else {
                continue;
            };
            let list = docs.proposals.list(&orgs, &dir, now);
            out.extend(list.into_iter().map(|p| (g.clone(), p)));
        }
        Ok(out)
    }

    fn proposal_json(&self, p: &Proposal) -> Value {
        json!({
            "id": p.id,
            "title": p.title,
            "kind": p.kind,
            "process": p.process.name(),
            "quorum": p.quorum,
            "status": p.outcome.name(),
            "deadline": format_time(p.deadline, self.zone),
            "decided_at": p.decided_at.map(|t| format_time(t, self.zone)),
            "created_by": self.org_display_name(&p.created_by),
            "text": p.text,
            "votes": p.votes.iter().map(|v| json!({
                "org": self.org_display_name(&v.org),
                "position": v.position.name(),
                "reason": v.reason,
                "at": format_time(v.at, self.zone),
            })).collect::<Vec<_>>(),
            "awaiting_my_vote": p.outcome == Outcome::Open && !p.votes.iter().any(|v| v.org == self.org_id),
            "motion": p.motion,
        })
    }

    pub(crate) fn org_display_name(&self, org_id: &str) -> String {
        self.membership
            .state
            .orgs
            .get(org_id)
            .map_or_else(|| org_id.to_owned(), |o| o.name.clone())
    }

    /// `propose`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn propose(
        &mut self,
        kind: &str,
        title: &str,
        text: &str,
        process: Option<&str>,
        quorum: Option<u32>,
        deadline: Option<&str>,
        org: Option<&str>,
        group: Option<&str>,
    ) -> Result<Reply, NodeError> {
        if self.membership.state.org_of_device(&self.device).is_none() {
            return Err(NodeError::Invalid(
                "only an active member may propose".into(),
            ));
        }
        let group = group.map(|g| self.my_group(g)).transpose()?;
        if group.is_some() && !matches!(kind, "general" | "fund") {
            return Err(NodeError::Invalid(format!(
                "a group decides general proposals and its fund's requests only, not {kind}"
            )));
        }
        let doc = match &group {
            Some(g) => DocKind::group(g.id, entraide_docs::Shelf::Proposals),
            None => DocKind::Proposals,
        };
        let process = Process::parse(process.unwrap_or(self.default_process()))
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let now = self.env.now_ms();
        let deadline = match deadline {
            Some(d) => parse_time(d, self.zone)?,
            None => now + DEFAULT_OPEN_MS,
        };
        let motion = match (kind, org) {
            ("admission", Some(org)) => Some(self.admission_motion(org)?),
            ("removal", Some(org)) => Some(self.removal_motion(org, title)?),
            ("admission" | "removal", None) => {
                return Err(NodeError::Invalid(format!(
                    "a {kind} proposal names the organisation concerned: --org <ORG>"
                )));
            }
            (_, Some(_)) => {
                return Err(NodeError::Invalid(format!(
                    "--org is for admission and removal proposals, not {kind}"
                )));
            }
            (_, None) => None,
        };
        let motion = motion.map(|m| m.to_hex());
        let id = self.new_record_id()?;
        let author = self.author_for_docs();
        self.proposals_of(doc)?
            .propose(
                &author,
                now,
                NewProposal {
                    id: &id,
                    title,
                    kind,
                    text,
                    process,
                    quorum,
                    deadline,
                    motion: motion.as_deref(),
                },
            )
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.persist(doc, WriteBatch::new())?;
        Ok(Reply::new(
            json!({"id": id, "motion": motion, "group": group.map(|g| g.name)}),
            id,
        ))
    }

    /// The pending admission motion of `org` (a newcomer waiting with
    /// `join --wait`).
    fn admission_motion(&self, org: &str) -> Result<OpHash, NodeError> {
        let org_id = self.resolve_org(org)?;
        self.membership.state
            .pending_motions_about(&org_id)
            .into_iter()
            .find(|m| m.kind == "admit")
            .map(|m| m.hash)
            .ok_or_else(|| {
                NodeError::Invalid(format!(
                    "no admission of {} is waiting: the newcomer first runs `entraide join <TICKET> --wait`",
                    self.org_display_name(&org_id)
                ))
            })
    }

    /// The pending removal motion of `org`, opened now (signed by this
    /// organisation, which thereby approves it) if there is none.
    fn removal_motion(&mut self, org: &str, reason: &str) -> Result<OpHash, NodeError> {
        let org_id = self.resolve_org(org)?;
        let pending = |n: &Node| {
            n.membership
                .state
                .pending_motions_about(&org_id)
                .into_iter()
                .find(|m| m.kind == "remove")
                .map(|m| m.hash)
        };
        if let Some(motion) = pending(self) {
            return Ok(motion);
        }
        let op = self.open_removal(&org_id, reason)?;
        Ok(op.hash())
    }

    /// For a proposal deciding a membership motion: the motion's own
    /// verdict wins once it is decided (the membership log is what admits
    /// and removes); until then the proposal is open, or expired past its
    /// deadline.
    fn with_motion_outcome(&self, mut p: Proposal) -> Proposal {
        let Some(motion) = p.motion.as_deref().and_then(OpHash::from_hex) else {
            return p;
        };
        // A proposal decides only the kind of motion it says it decides
        // (the authority check already refuses a motion on other kinds).
        let kind = match p.kind.as_str() {
            "admission" => "admit",
            "removal" => "remove",
            _ => return p,
        };
        let status = self
            .membership
            .state
            .motions
            .get(&motion)
            .filter(|m| m.kind == kind)
            .map(|m| m.status);
        p.outcome = match status {
            Some(MotionStatus::Passed) => Outcome::Passed,
            Some(MotionStatus::Blocked) => Outcome::Blocked,
            _ if self.env.now_ms() >= p.deadline => Outcome::Expired,
            _ => Outcome::Open,
        };
        if p.outcome == Outcome::Open {
            p.decided_at = None;
        } else if p.decided_at.is_none() {
            p.decided_at = p.votes.iter().map(|v| v.at).max().or(Some(p.deadline));
        }
        p
    }

    /// This organisation's vote on a proposal deciding a membership motion
    /// is also its signed approval (`agree`) or block (`block`) of the
    /// motion. Returns what happened, for the reply.
    fn vote_on_motion(
        &mut self,
        motion: &str,
        position: Position,
        reason: &str,
    ) -> Result<Option<String>, NodeError> {
        let Some(motion) = OpHash::from_hex(motion) else {
            return Ok(None);
        };
        let Some(m) = self.membership.state.motions.get(&motion) else {
            return Ok(Some("the membership motion is not known here yet".into()));
        };
        if m.status != MotionStatus::Pending {
            return Ok(None);
        }
        let body = match position {
            Position::Agree if !m.approvals.contains(&self.org_id) => OpBody::Approve { motion },
            Position::Block
                if m.rule == AdmissionRule::Consensus && !m.blocks.contains_key(&self.org_id) =>
            {
                OpBody::Block {
                    motion,
                    reason: reason.trim().to_owned(),
                }
            }
            _ => return Ok(None),
        };
        // The vote is already stored: a refusal here (say, a block where
        // the admission rule has no blocks) is reported, not an error.
        let op = match self.append_op(body) {
            Ok(op) => op,
            Err(e) => return Ok(Some(format!("membership: not signed ({e})"))),
        };
        let verdict = self.membership.state.verdicts.get(&op.hash());
        Ok(Some(match verdict.and_then(|v| v.reason.clone()) {
            Some(waiting) => format!("membership: signed; {waiting}"),
            None => "membership: signed, and the motion is decided".into(),
        }))
    }

    /// `proposals`: those awaiting this organisation's vote first.
    pub(crate) fn proposals_list(&mut self, open_only: bool) -> Result<Reply, NodeError> {
        let mut list: Vec<(Option<String>, Proposal)> = self
            .proposal_list()?
            .into_iter()
            .map(|p| (None, p))
            .collect();
        list.extend(
            self.group_proposal_list()?
                .into_iter()
                .map(|(g, p)| (Some(g.name), p)),
        );
        list.retain(|(_, p)| !open_only || p.outcome == Outcome::Open);
        let awaiting = |p: &Proposal| {
            p.outcome == Outcome::Open && !p.votes.iter().any(|v| v.org == self.org_id)
        };
        list.sort_by_key(|(_, p)| (!awaiting(p), p.created_at));
        let mut text = String::new();
        for (group, p) in &list {
            text += &format!(
                "{}  {:<8} {:<17} {}{}{}\n",
                crate::node::short(&p.id, 8),
                p.outcome.name(),
                p.kind,
                p.title,
                group
                    .as_ref()
                    .map(|g| format!(" (group {g})"))
                    .unwrap_or_default(),
                if awaiting(p) {
                    "  (awaiting your vote)"
                } else {
                    ""
                }
            );
        }
        let json: Vec<Value> = list
            .iter()
            .map(|(group, p)| {
                let mut j = self.proposal_json(p);
                j["group"] = json!(group);
                j
            })
            .collect();
        Ok(Reply::new(Value::Array(json), text))
    }

    /// `vote`.
    pub(crate) fn vote(
        &mut self,
        proposal: &str,
        position: &str,
        reason: &str,
    ) -> Result<Reply, NodeError> {
        if self.membership.state.org_of_device(&self.device).is_none() {
            return Err(NodeError::Invalid("only an active member may vote".into()));
        }
        let position = Position::parse(position).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let active = self.active_org_ids();
        let author = self.author_for_docs();
        // A proposal deciding a membership motion is closed once the motion
        // is, whatever the votes say.
        let id = match self.docs.proposals()?.resolve(proposal) {
            Ok(id) => id,
            Err(e) => {
                // A proposal of one of this organisation's groups?
                for g in self.my_groups() {
                    let doc = DocKind::group(g.id, entraide_docs::Shelf::Proposals);
                    if self.proposals_of(doc)?.resolve(proposal).is_ok() {
                        return self.vote_in_group(&g, proposal, position, reason);
                    }
                }
                return Err(NodeError::Invalid(e.to_string()));
            }
        };
        let linked = self.proposal_list()?.into_iter().find(|p| p.id == id);
        if let Some(p) = linked.as_ref().filter(|p| p.motion.is_some())
            && p.outcome != Outcome::Open
        {
            return Err(NodeError::Invalid(format!(
                "proposal '{}' is closed ({}); votes no longer change it",
                p.title,
                p.outcome.name()
            )));
        }
        let dir = directory(&self.membership.state);
        let result = self
            .docs
            .proposals_mut()?
            .vote(
                &author,
                self.env.now_ms(),
                &id,
                position,
                reason,
                &active,
                &dir,
            )
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.persist(DocKind::Proposals, WriteBatch::new())?;
        let membership = match result.motion.clone() {
            Some(motion) => self.vote_on_motion(&motion, position, reason)?,
            None => None,
        };
        let result = self.with_motion_outcome(result);
        let mut text = format!(
            "{} votes {} on '{}'; it is {}",
            self.org_name.clone(),
            position.name(),
            result.title,
            result.outcome.name()
        );
        if let Some(m) = &membership {
            text += &format!("\n{m}");
        }
        Ok(Reply::new(self.proposal_json(&result), text))
    }

    /// A vote on a group's proposal, counted among the group's members.
    fn vote_in_group(
        &mut self,
        g: &entraide_membership::GroupState,
        proposal: &str,
        position: Position,
        reason: &str,
    ) -> Result<Reply, NodeError> {
        let doc = DocKind::group(g.id, entraide_docs::Shelf::Proposals);
        let orgs: Vec<String> = g.orgs.iter().cloned().collect();
        let author = self.author_for_docs();
        let now = self.env.now_ms();
        self.load_group(g.id)?;
        let dir = directory(&self.membership.state);
        let docs = self
            .docs
            .groups
            .get_mut(&g.id)
            .ok_or_else(|| NodeError::Invalid("no such group".into()))?;
        let result = docs
            .proposals
            .vote(&author, now, proposal, position, reason, &orgs, &dir)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.persist(doc, WriteBatch::new())?;
        let text = format!(
            "{} votes {} on '{}' ({}); it is {}",
            self.org_name.clone(),
            position.name(),
            result.title,
            g.name,
            result.outcome.name()
        );
        let mut json = self.proposal_json(&result);
        json["group"] = json!(g.name);
        Ok(Reply::new(json, text))
    }

    /// Each organisation's share of the shared library, in bytes: the
    /// quota of the last passed `library-quota` proposal, or the default.
    /// Cached until the proposals or the membership change, or an open
    /// quota proposal's deadline passes.
    pub(crate) fn library_quota(&mut self) -> Result<u64, NodeError> {
        let proposals = self.docs.proposals_mut()?.doc_mut().heads();
        let key = (proposals, self.membership.log.heads());
        let now = self.env.now_ms();
        if let Some((k, until, quota)) = &self.docs.quota_cache
            && *k == key
            && now < *until
        {
            return Ok(*quota);
        }
        let quotas: Vec<Proposal> = self
            .proposal_list()?
            .into_iter()
            .filter(|p| p.kind == "library-quota")
            .collect();
        let until = quotas
            .iter()
            .filter(|p| p.outcome == Outcome::Open)
            .map(|p| p.deadline)
            .min()
            .unwrap_or(i64::MAX);
        let mb = quotas
            .iter()
            .filter(|p| p.outcome == Outcome::Passed)
            .max_by_key(|p| (p.decided_at, p.created_at, p.id.clone()))
            .and_then(|p| entraide_docs::proposals::library_quota_mb(&p.text))
            .unwrap_or(entraide_docs::library::DEFAULT_QUOTA_MB);
        let quota = mb.saturating_mul(1024 * 1024);
        self.docs.quota_cache = Some((key, until, quota));
        Ok(quota)
    }

    /// The adopted charter: the text of the last passed amendment.
    pub(crate) fn adopted_charter(&mut self) -> Result<Option<Proposal>, NodeError> {
        Ok(self
            .proposal_list()?
            .into_iter()
            .filter(|p| p.kind == "charter-amendment" && p.outcome == Outcome::Passed)
            .max_by_key(|p| (p.decided_at, p.created_at, p.id.clone())))
    }

    /// Every passed charter amendment: (proposal, when, proposing organisation).
    pub(crate) fn adopted_versions(
        &mut self,
    ) -> Result<Vec<(String, Option<i64>, String)>, NodeError> {
        let mut list: Vec<Proposal> = self
            .proposal_list()?
            .into_iter()
            .filter(|p| p.kind == "charter-amendment" && p.outcome == Outcome::Passed)
            .collect();
        list.sort_by_key(|p| (p.decided_at, p.created_at));
        Ok(list
            .into_iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.decided_at,
                    self.org_display_name(&p.created_by),
                )
            })
            .collect())
    }

    /// `charter show --adopted`.
    pub(crate) fn charter_adopted(&mut self) -> Result<Reply, NodeError> {
        match self.adopted_charter()? {
            Some(p) => Ok(Reply::new(
                json!({"text": p.text, "proposal": p.id, "adopted_at": p.decided_at.map(|t| format_time(t, self.zone))}),
                p.text.clone(),
            )),
            None => Ok(Reply::new(
                json!({"text": null, "proposal": null, "adopted_at": null}),
                "no charter has been adopted yet: propose one with `entraide propose charter-amendment`",
            )),
        }
    }

    fn charter_version(&mut self, name: &str) -> Result<String, NodeError> {
        match name {
            "draft" | "working" => Ok(self.docs.charter()?.text()),
            "adopted" => Ok(self.adopted_charter()?.map(|p| p.text).unwrap_or_default()),
            query => {
                let id = self.docs.proposals()?.resolve(query)?;
                self.proposal_list()?
                    .into_iter()
                    .find(|p| p.id == id)
                    .map(|p| p.text)
                    .ok_or_else(|| NodeError::Invalid(format!("no charter version '{query}'")))
            }
        }
    }

    /// `charter diff A B`: versions are `draft`, `adopted` or a proposal;
    /// `text`, when given, stands for B (a text not stored yet).
    pub(crate) fn charter_diff(
        &mut self,
        a: &str,
        b: &str,
        text: Option<String>,
    ) -> Result<Reply, NodeError> {
        let old = self.charter_version(a)?;
        let new = match text {
            Some(text) => text,
            None => self.charter_version(b)?,
        };
        let diff = similar::TextDiff::from_lines(&old, &new);
        let unified = diff.unified_diff().header(a, b).to_string();
        Ok(Reply::new(
            json!({"from": a, "to": b, "diff": unified, "changed": old != new}),
            if old == new {
                "no difference".to_owned()
            } else {
                unified
            },
        ))
    }

    fn decided(&mut self) -> Result<Vec<Proposal>, NodeError> {
        let mut list: Vec<Proposal> = self
            .proposal_list()?
            .into_iter()
            .filter(|p| p.outcome != Outcome::Open)
            .collect();
        list.sort_by_key(|p| (p.decided_at, p.created_at));
        Ok(list)
    }

    /// `decisions`.
    pub(crate) fn decisions(&mut self) -> Result<Reply, NodeError> {
        let list = self.decided()?;
        let text = list
            .iter()
            .map(|p| {
                format!(
                    "{}  {:<8} {}\n",
                    p.decided_at
                        .map(|t| format_time(t, self.zone))
                        .unwrap_or_default(),
                    p.outcome.name(),
                    p.title
                )
            })
            .collect::<String>();
        Ok(Reply::new(
            Value::Array(list.iter().map(|p| self.proposal_json(p)).collect()),
            text,
        ))
    }

    /// `decisions export --format markdown`.
    pub(crate) fn decisions_markdown(&mut self) -> Result<Reply, NodeError> {
        let alliance = self
            .membership
            .state
            .alliance
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let mut md = format!("# Decisions of {alliance}\n\n");
        let list = self.decided()?;
        for p in &list {
            md += &format!(
                "## {}\n\n- Kind: {}\n- Process: {}\n- Outcome: **{}**\n- Decided: {}\n- Proposed by: {}\n\n",
                p.title,
                p.kind,
                p.process.name(),
                p.outcome.name(),
                p.decided_at
                    .map(|t| format_time(t, self.zone))
                    .unwrap_or_default(),
                self.org_display_name(&p.created_by)
            );
            if !p.text.is_empty() {
                md += &format!(
                    "{}\n\n",
                    p.text
                        .lines()
                        .map(|l| format!("> {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            md += "| Organisation | Position | Reason |\n|---|---|---|\n";
            for v in &p.votes {
                md += &format!(
                    "| {} | {} | {} |\n",
                    self.org_display_name(&v.org),
                    v.position.name(),
                    v.reason.replace('|', "\\|")
                );
            }
            md += "\n";
        }
        let mut reply = Reply::new(
            json!({"decisions": list.len()}),
            format!("{} decision(s) exported", list.len()),
        );
        reply.file = Some(md.into_bytes());
        Ok(reply)
    }
}
