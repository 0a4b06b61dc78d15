//! The authority check's two ends in a node: the membership as the check
//! asks it ([`MembersView`]), and the audit list of every change this node
//! refused (`entraide audit`), kept in the store so that a coordinator can
//! see who tried what, and when.

use std::collections::BTreeSet;

use entraide_docs::{DocKind, Members, Refusal, time::format_time};
use entraide_membership::{DeviceId, MembershipLog, MembershipState, OpHash, OrgStatus, Role};
use entraide_store::WriteBatch;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Node, NodeError, Reply};

/// How many refused changes the audit keeps (the oldest go first).
pub const AUDIT_KEEP: usize = 1_000;

/// The membership, as the authority check asks it.
pub(crate) struct MembersView<'a> {
    pub(crate) state: &'a MembershipState,
    pub(crate) log: &'a MembershipLog,
}

impl Members for MembersView<'_> {
    fn org_of(&self, device: &[u8; 32]) -> Option<String> {
        self.state
            .document_author_org(&DeviceId(*device))
            .map(|o| o.id.clone())
    }

    fn was_in_group(&self, group: &[u8; 16], org: &str) -> Option<bool> {
        self.state.groups.get(group).map(|g| g.ever.contains(org))
    }

    fn coordinator_at(&self, org: &str, heads: &[[u8; 32]]) -> Option<bool> {
        if heads.iter().any(|h| !self.log.contains(&OpHash(*h))) {
            return None;
        }
        let mut past = BTreeSet::new();
        for h in heads {
            past.extend(self.log.ancestors(&OpHash(*h)));
        }
        let mut then = MembershipLog::new();
        let _ = then.insert_all(
            past.iter()
                .filter_map(|h| self.log.get(h).cloned())
                .collect(),
        );
        let state = then.state();
        Some(
            state
                .orgs
                .get(org)
                .is_some_and(|o| o.status == OrgStatus::Active && o.role == Role::Coordinator),
        )
    }
}

/// One change this node refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedChange {
    /// Which document.
    pub doc: DocKind,
    /// The change's hash, hex.
    pub change: String,
    /// Its author device, hex.
    pub author_device: String,
    /// The rule it broke.
    pub rule: String,
    /// When this node refused it first, ms since the epoch.
    pub at_ms: i64,
}

impl Node {
    /// Records a refused change in the audit (once per change).
    pub(crate) fn record_refusal(
        &mut self,
        doc: DocKind,
        refusal: &Refusal,
    ) -> Result<(), NodeError> {
        let change = refusal.change.to_string();
        if refusal.undecided || self.docs.refused.iter().any(|r| r.change == change) {
            return Ok(());
        }
        tracing::warn!(doc = %doc, %change, rule = %refusal.rule, "refused a change");
        self.docs.refused.push(RefusedChange {
            doc,
            change,
            // The device behind the change's actor (an actor is the device
            // key and the bytes of one opening of its home).
            author_device: hex::encode(
                entraide_docs::device_of_actor(&refusal.author)
                    .map_or(refusal.author.as_slice(), |_| &refusal.author[..32]),
            ),
            rule: refusal.rule.clone(),
            at_ms: self.env.now_ms(),
        });
        if self.docs.refused.len() > AUDIT_KEEP {
            let excess = self.docs.refused.len() - AUDIT_KEEP;
            self.docs.refused.drain(..excess);
        }
        let mut batch = WriteBatch::new();
        batch.meta(
            "refused",
            serde_json::to_vec(&self.docs.refused).unwrap_or_default(),
        );
        self.store.commit(batch)?;
        Ok(())
    }

    /// How many changes this node refused (and keeps in its audit).
    pub fn refused_changes(&self) -> usize {
        self.docs.refused.len()
    }

    /// `entraide audit`: every change this node refused, oldest first.
    pub(crate) fn audit(&self) -> Reply {
        let mut text = String::new();
        let list: Vec<Value> = self
            .docs
            .refused
            .iter()
            .map(|r| {
                let author_org = DeviceId::from_hex(&r.author_device)
                    .and_then(|d| self.membership.state.any_org_of_device(&d))
                    .map(|o| o.name.clone());
                let time = format_time(r.at_ms, self.zone);
                text += &format!(
                    "{time}  {}  {}  by {}: {}\n",
                    r.doc.name(),
                    crate::node::short(&r.change, 12),
                    author_org.as_deref().unwrap_or("?"),
                    r.rule
                );
                json!({
                    "doc": r.doc.name(),
                    "change": r.change,
                    "author_device": r.author_device,
                    "author_org": author_org,
                    "rule": r.rule,
                    "time": time,
                })
            })
            .collect();
        if text.is_empty() {
            text = "no change was refused\n".into();
        }
        Reply::new(Value::Array(list), text)
    }
}
