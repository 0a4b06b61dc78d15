//! Deciding together: proposals, votes, the adopted charter and the
//! decision log, as the command line asks for them.

use entraide_docs::proposals::{NewProposal, Outcome, Position, Process, Proposal};
use entraide_docs::time::{format_time, parse_time};
use entraide_docs::{DocKind, new_id};
use entraide_store::WriteBatch;
use serde_json::{Value, json};

use crate::node::{directory, now_ms, random};
use crate::{Node, NodeError, Reply};

/// Default time a proposal stays open.
const DEFAULT_OPEN_MS: i64 = 7 * 24 * 3_600_000;

impl Node {
    fn active_org_ids(&self) -> Vec<String> {
        self.membership
            .active_orgs()
            .map(|o| o.id.clone())
            .collect()
    }

    fn proposal_list(&self) -> Vec<Proposal> {
        let active = self.active_org_ids();
        self.proposals
            .list(&active, &directory(&self.membership), now_ms())
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
        })
    }

    pub(crate) fn org_display_name(&self, org_id: &str) -> String {
        self.membership
            .orgs
            .get(org_id)
            .map_or_else(|| org_id.to_owned(), |o| o.name.clone())
    }

    /// `propose`.
    pub(crate) fn propose(
        &mut self,
        kind: &str,
        title: &str,
        text: &str,
        process: Option<&str>,
        quorum: Option<u32>,
        deadline: Option<&str>,
    ) -> Result<Reply, NodeError> {
        if self.membership.org_of_device(&self.device).is_none() {
            return Err(NodeError::Invalid(
                "only an active member may propose".into(),
            ));
        }
        let process = Process::parse(process.unwrap_or("consensus"))
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let now = now_ms();
        let deadline = match deadline {
            Some(d) => parse_time(d, self.zone)?,
            None => now + DEFAULT_OPEN_MS,
        };
        let id = new_id(random()?);
        let author = self.author_for_docs();
        self.proposals
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
                },
            )
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.persist(DocKind::Proposals, WriteBatch::new())?;
        Ok(Reply::new(json!({"id": id}), id))
    }

    /// `proposals`: those awaiting this organisation's vote first.
    pub(crate) fn proposals_list(&mut self, open_only: bool) -> Result<Reply, NodeError> {
        let mut list = self.proposal_list();
        list.retain(|p| !open_only || p.outcome == Outcome::Open);
        let awaiting = |p: &Proposal| {
            p.outcome == Outcome::Open && !p.votes.iter().any(|v| v.org == self.org_id)
        };
        list.sort_by_key(|p| (!awaiting(p), p.created_at));
        let mut text = String::new();
        for p in &list {
            text += &format!(
                "{}  {:<8} {:<17} {}{}\n",
                crate::node::short(&p.id, 8),
                p.outcome.name(),
                p.kind,
                p.title,
                if awaiting(p) {
                    "  (awaiting your vote)"
                } else {
                    ""
                }
            );
        }
        let json: Vec<Value> = list.iter().map(|p| self.proposal_json(p)).collect();
        Ok(Reply::new(Value::Array(json), text))
    }

    /// `vote`.
    pub(crate) fn vote(
        &mut self,
        proposal: &str,
        position: &str,
        reason: &str,
    ) -> Result<Reply, NodeError> {
        if self.membership.org_of_device(&self.device).is_none() {
            return Err(NodeError::Invalid("only an active member may vote".into()));
        }
        let position = Position::parse(position).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let active = self.active_org_ids();
        let author = self.author_for_docs();
        let dir = directory(&self.membership);
        let result = self
            .proposals
            .vote(&author, now_ms(), proposal, position, reason, &active, &dir)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.persist(DocKind::Proposals, WriteBatch::new())?;
        let text = format!(
            "{} votes {} on '{}'; it is {}",
            self.org_name.clone(),
            position.name(),
            result.title,
            result.outcome.name()
        );
        Ok(Reply::new(self.proposal_json(&result), text))
    }

    /// The adopted charter: the text of the last passed amendment.
    pub(crate) fn adopted_charter(&self) -> Option<Proposal> {
        self.proposal_list()
            .into_iter()
            .filter(|p| p.kind == "charter-amendment" && p.outcome == Outcome::Passed)
            .max_by_key(|p| (p.decided_at, p.created_at, p.id.clone()))
    }

    /// Every passed charter amendment: (proposal, when, proposing organisation).
    pub(crate) fn adopted_versions(&self) -> Vec<(String, Option<i64>, String)> {
        let mut list: Vec<Proposal> = self
            .proposal_list()
            .into_iter()
            .filter(|p| p.kind == "charter-amendment" && p.outcome == Outcome::Passed)
            .collect();
        list.sort_by_key(|p| (p.decided_at, p.created_at));
        list.into_iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.decided_at,
                    self.org_display_name(&p.created_by),
                )
            })
            .collect()
    }

    /// `charter show --adopted`.
    pub(crate) fn charter_adopted(&self) -> Result<Reply, NodeError> {
        match self.adopted_charter() {
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
            "draft" | "working" => Ok(self.charter.text()),
            "adopted" => Ok(self.adopted_charter().map(|p| p.text).unwrap_or_default()),
            query => {
                let id = self.proposals.resolve(query)?;
                self.proposal_list()
                    .into_iter()
                    .find(|p| p.id == id)
                    .map(|p| p.text)
                    .ok_or_else(|| NodeError::Invalid(format!("no charter version '{query}'")))
            }
        }
    }

    /// `charter diff A B`: versions are `draft`, `adopted` or a proposal.
    pub(crate) fn charter_diff(&mut self, a: &str, b: &str) -> Result<Reply, NodeError> {
        let (old, new) = (self.charter_version(a)?, self.charter_version(b)?);
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

    fn decided(&self) -> Vec<Proposal> {
        let mut list: Vec<Proposal> = self
            .proposal_list()
            .into_iter()
            .filter(|p| p.outcome != Outcome::Open)
            .collect();
        list.sort_by_key(|p| (p.decided_at, p.created_at));
        list
    }

    /// `decisions`.
    pub(crate) fn decisions(&self) -> Reply {
        let list = self.decided();
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
        Reply::new(
            Value::Array(list.iter().map(|p| self.proposal_json(p)).collect()),
            text,
        )
    }

    /// `decisions export --format markdown`.
    pub(crate) fn decisions_markdown(&self) -> Reply {
        let alliance = self
            .membership
            .alliance
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let mut md = format!("# Decisions of {alliance}\n\n");
        let list = self.decided();
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
        reply
    }
}
