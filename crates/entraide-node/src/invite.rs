//! Invitations: the ticket a coordinator hands to a new organisation, and
//! the admission that follows when the newcomer presents it.
//!
//! Ticket format, version 1: `entraide1` followed by the lowercase base32
//! (RFC 4648, no padding) of `postcard(TicketBody) ++ signature (64 bytes)`;
//! the inviter's device signs `entraide-ticket-v1 ++ postcard(TicketBody)`.
//! The ticket carries a one-time secret; the inviter keeps only its BLAKE3
//! hash, and the admission operation records that hash, so a ticket admits
//! at most once on every node, and never after it expires.

use std::net::SocketAddr;

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use entraide_docs::calendar::BookingStatus;
use entraide_membership::{AdmissionRule, Cutoff, DeviceId, Op, OpBody, Role, SignedOp};
use entraide_store::WriteBatch;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::node::random;
use crate::{Node, NodeError, Reply};

const PREFIX: &str = "entraide1";
const TICKET_CONTEXT: &[u8] = b"entraide-ticket-v1";
const B32: data_encoding::Encoding = data_encoding::BASE32_NOPAD;

/// What a ticket says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The alliance's id.
    pub alliance: [u8; 32],
    /// Its name.
    pub alliance_name: String,
    /// The inviting device: where to ask.
    pub inviter: [u8; 32],
    /// Its addresses.
    pub addrs: Vec<SocketAddr>,
    /// The alliance's relay, if any.
    pub relay: Option<String>,
    /// The one-time secret.
    pub secret: [u8; 16],
    /// Expiry, ms since the epoch.
    pub expires_ms: i64,
    /// The role the newcomer gets.
    pub role: Role,
    /// For a second device: the organisation (id, name) it joins.
    pub for_org: Option<(String, String)>,
}

/// A ticket could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not a ticket at all.
    #[error("this is not an entraide ticket; copy the whole line that `entraide invite` printed")]
    Malformed,
    /// Signature does not match.
    #[error("this ticket's signature does not match; ask for a new ticket")]
    Signature,
}

impl Ticket {
    /// Signs and encodes the ticket.
    pub fn encode(&self, key: &ed25519_dalek::SigningKey) -> String {
        let body = postcard::to_allocvec(self).unwrap_or_default();
        let mut message = TICKET_CONTEXT.to_vec();
        message.extend_from_slice(&body);
        let mut bytes = body;
        bytes.extend_from_slice(&key.sign(&message).to_bytes());
        format!("{PREFIX}{}", B32.encode(&bytes).to_lowercase())
    }

    /// Decodes a ticket and checks the inviter's signature.
    pub fn decode(text: &str) -> Result<Self, TicketError> {
        let text = text.trim();
        let encoded = text.strip_prefix(PREFIX).ok_or(TicketError::Malformed)?;
        let bytes = B32
            .decode(encoded.to_uppercase().as_bytes())
            .map_err(|_| TicketError::Malformed)?;
        if bytes.len() < 64 || bytes.len() > 4096 {
            return Err(TicketError::Malformed);
        }
        let (body, sig) = bytes.split_at(bytes.len() - 64);
        let ticket: Ticket = postcard::from_bytes(body).map_err(|_| TicketError::Malformed)?;
        let key = VerifyingKey::from_bytes(&ticket.inviter).map_err(|_| TicketError::Signature)?;
        let mut message = TICKET_CONTEXT.to_vec();
        message.extend_from_slice(body);
        let sig: [u8; 64] = sig.try_into().map_err(|_| TicketError::Malformed)?;
        key.verify_strict(&message, &Signature::from_bytes(&sig))
            .map_err(|_| TicketError::Signature)?;
        Ok(ticket)
    }
}

/// What the inviter remembers of an invitation.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Invitation {
    expires_ms: i64,
    role: Role,
    for_org: Option<String>,
}

/// What the inviter answers a newcomer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Admission {
    /// Admitted: the whole membership log.
    Admitted(Vec<Vec<u8>>),
    /// Waiting for approvals: the log so far, and what it waits for.
    Pending(Vec<Vec<u8>>, String),
}

/// A newcomer's request to join, sent to the inviter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The ticket's secret.
    pub secret: [u8; 16],
    /// The newcomer organisation's id.
    pub org_id: String,
    /// Its name.
    pub org_name: String,
}

impl Admission {
    /// The membership log sent with the answer.
    pub fn ops(&self) -> &[Vec<u8>] {
        match self {
            Self::Admitted(ops) | Self::Pending(ops, _) => ops,
        }
    }
}

/// Parses `7d`, `12h`, `30m`.
pub fn parse_duration_ms(text: &str) -> Result<i64, NodeError> {
    let bad = || {
        NodeError::Invalid(format!(
            "'{text}' is not a duration; write e.g. 7d, 12h or 30m"
        ))
    };
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        _ => return Err(bad()),
    };
    if n <= 0 || n > 365 {
        return Err(bad());
    }
    Ok(n * unit_ms)
}

impl Node {
    /// Creates a single-use invitation for a new organisation and its ticket.
    /// Needs the addresses this node listens on (a running or past `serve`).
    pub fn invite(
        &mut self,
        role: &str,
        expires: &str,
        relay: Option<String>,
    ) -> Result<Reply, NodeError> {
        self.invite_for(role, expires, relay, false)
    }

    /// Creates an invitation for a new organisation, or (`device`) for a
    /// second device of this node's organisation.
    pub fn invite_for(
        &mut self,
        role: &str,
        expires: &str,
        relay: Option<String>,
        device: bool,
    ) -> Result<Reply, NodeError> {
        let alliance = self
            .membership
            .state
            .alliance
            .clone()
            .ok_or(NodeError::NoAlliance)?;
        let role = parse_role(role)?;
        let ttl = parse_duration_ms(expires)?;
        let me = self.membership.state.org_of_device(&self.device).cloned();
        let may_invite = match (device, alliance.admission) {
            (true, _) => me.is_some(),
            (false, AdmissionRule::Coordinator) => {
                me.as_ref().is_some_and(|o| o.role == Role::Coordinator)
            }
            (false, AdmissionRule::Majority | AdmissionRule::Consensus) => me.is_some(),
        };
        if !may_invite {
            return Err(NodeError::Invalid(if me.is_none() {
                "this device is not an active member of the alliance".into()
            } else {
                "only a coordinator may invite under this alliance's admission rule".into()
            }));
        }
        if !device
            && role == Role::Coordinator
            && let Some(me) = me.as_ref().filter(|o| o.role != Role::Coordinator)
        {
            return Err(NodeError::Invalid(format!(
                "only a coordinator may invite a coordinator; {} is a member (invite with --role member)",
                me.name
            )));
        }
        if self.peers.listen_addrs.is_empty() {
            return Err(NodeError::Invalid(
                "this node does not know where it can be reached yet; start `entraide serve` first"
                    .into(),
            ));
        }
        let secret: [u8; 16] = random(&*self.env)?;
        let expires_ms = self.env.now_ms() + ttl;
        let for_org = device.then(|| (self.org_id.clone(), self.org_name.clone()));
        let ticket = Ticket {
            alliance: alliance.id.0,
            alliance_name: alliance.name.clone(),
            inviter: self.device.0,
            addrs: self.peers.listen_addrs.clone(),
            relay,
            secret,
            expires_ms,
            role,
            for_org: for_org.clone(),
        };
        let mut batch = WriteBatch::new();
        let key = format!("invite:{}", blake3::hash(&secret).to_hex());
        let invitation = Invitation {
            expires_ms,
            role,
            for_org: for_org.map(|(id, _)| id),
        };
        batch.meta(&key, postcard::to_allocvec(&invitation).unwrap_or_default());
        self.store.commit(batch)?;
        let text = ticket.encode(&self.key);
        Ok(Reply::new(
            json!({"ticket": text, "expires": entraide_docs::time::format_time(expires_ms, self.zone), "role": role.name(), "device": device}),
            text,
        ))
    }

    /// Signs `body` as this device, on top of every operation held, and
    /// stores it only if it takes effect (a motion may stay pending).
    pub(crate) fn append_op(&mut self, body: OpBody) -> Result<SignedOp, NodeError> {
        let op = SignedOp::sign(
            Op {
                parents: self.membership.log.heads(),
                author: self.device,
                time_ms: self.env.now_ms(),
                body,
            },
            &self.key,
        );
        let mut trial = self.membership.log.clone();
        trial
            .insert(op.clone())
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let state = trial.state();
        match state.verdicts.get(&op.hash()) {
            Some(v) if v.valid => {}
            Some(v) => {
                return Err(NodeError::Invalid(format!(
                    "refused: {}",
                    v.reason.clone().unwrap_or_default()
                )));
            }
            None => {
                return Err(NodeError::Invalid(
                    "the operation could not be applied".into(),
                ));
            }
        }
        let mut batch = WriteBatch::new();
        batch.op(op.hash().0, op.bytes().to_vec());
        self.store.commit(batch)?;
        self.membership.log = trial;
        let removals_changed = state.removals != self.membership.state.removals;
        self.membership.state = state;
        if removals_changed {
            self.vouch_past_cutoffs()?;
        }
        self.settle_voided()?;
        Ok(op)
    }

    fn all_ops(&self) -> Vec<Vec<u8>> {
        self.membership
            .log
            .ordered()
            .into_iter()
            .map(|o| o.bytes().to_vec())
            .collect()
    }

    fn admission_of(&self, device: &DeviceId) -> Option<Admission> {
        if self.membership.state.org_of_device(device).is_some() {
            return Some(Admission::Admitted(self.all_ops()));
        }
        let motion = self.membership.state.pending_admission_of(device)?;
        let waiting = self
            .membership
            .state
            .verdicts
            .get(&motion.hash)
            .and_then(|v| v.reason.clone())
            .unwrap_or_else(|| "pending".into());
        Some(Admission::Pending(self.all_ops(), waiting))
    }

    /// Answers a newcomer presenting an invitation of this node: admits it
    /// (or its device) at once where the rule allows, else proposes its
    /// admission and answers `Pending`. Asking again with the same ticket
    /// from the same device answers where it stands.
    pub fn admit(
        &mut self,
        device: DeviceId,
        request: &JoinRequest,
    ) -> Result<Admission, NodeError> {
        let secret_hash = *blake3::hash(&request.secret).as_bytes();
        let key = format!("invite:{}", blake3::Hash::from(secret_hash).to_hex());
        let invitation: Invitation = self
            .store
            .meta(&key)?
            .and_then(|b| postcard::from_bytes(&b).ok())
            .ok_or_else(|| {
                NodeError::Invalid("this ticket is unknown to the inviting node".into())
            })?;
        if self.membership.state.invitation_used(&secret_hash) {
            if let Some(m) = self.membership.state.admission_motion_of(&device)
                && m.status == entraide_membership::MotionStatus::Blocked
            {
                let reasons: Vec<String> = m.blocks.values().cloned().collect();
                return Err(NodeError::Invalid(format!(
                    "the alliance blocked this admission: {}",
                    reasons.join("; ")
                )));
            }
            return self.admission_of(&device).ok_or_else(|| {
                NodeError::Invalid("this ticket was already used; ask for a new one".into())
            });
        }
        if invitation.expires_ms < self.env.now_ms() {
            return Err(NodeError::Invalid(
                "this ticket has expired; ask for a new one".into(),
            ));
        }
        let body = match &invitation.for_org {
            Some(org) if *org == self.org_id => OpBody::AddDevice {
                device,
                invitation: secret_hash,
            },
            Some(_) => {
                return Err(NodeError::Invalid(
                    "this device ticket belongs to another organisation".into(),
                ));
            }
            None => {
                let name = request.org_name.trim();
                entraide_membership::check_name("newcomer's organisation name", name)
                    .and_then(|()| {
                        entraide_membership::check_name(
                            "newcomer's organisation id",
                            &request.org_id,
                        )
                    })
                    .map_err(NodeError::Invalid)?;
                OpBody::Admit {
                    org_id: request.org_id.clone(),
                    org_name: request.org_name.trim().to_owned(),
                    role: invitation.role,
                    device,
                    invitation: secret_hash,
                }
            }
        };
        self.append_op(body)?;
        self.admission_of(&device)
            .ok_or_else(|| NodeError::Invalid("the admission did not take effect".into()))
    }

    /// The request this node sends to join with `ticket`. Refuses a node
    /// already in an alliance, or an expired ticket.
    pub fn join_request(&self, ticket: &Ticket) -> Result<JoinRequest, NodeError> {
        if let Some(a) = &self.membership.state.alliance
            && (self.is_member_device(&self.device) || a.id.0 != ticket.alliance)
        {
            return Err(NodeError::AlreadyInAlliance(a.name.clone()));
        }
        if ticket.expires_ms < self.env.now_ms() {
            return Err(NodeError::Invalid(
                "this ticket has expired; ask for a new one".into(),
            ));
        }
        if ticket.for_org.is_none() {
            entraide_membership::check_name("organisation name", self.org_name.trim())
                .map_err(|e| NodeError::Invalid(format!("{e}; this node cannot join with it")))?;
        }
        Ok(JoinRequest {
            secret: ticket.secret,
            org_id: self.org_id.clone(),
            org_name: self.org_name.clone(),
        })
    }

    /// Stores the membership log the inviter sent. Returns whether this
    /// device is now a member (`false`: its admission waits for approvals).
    pub fn accept_admission(
        &mut self,
        ticket: &Ticket,
        ops: &[Vec<u8>],
    ) -> Result<bool, NodeError> {
        self.receive_ops(ops)
            .map_err(|e| NodeError::Invalid(format!("the inviter's answer was refused: {e}")))?;
        if self.alliance_id() != Some(ticket.alliance) {
            return Err(NodeError::Invalid(
                "the inviter's answer is about another alliance; ask for a new ticket".into(),
            ));
        }
        if let Some((org_id, org_name)) = &ticket.for_org {
            // A second device takes on its organisation's identity.
            if self
                .membership
                .state
                .org_of_device(&self.device)
                .map(|o| &o.id)
                == Some(org_id)
                && *org_id != self.org_id
            {
                let mut batch = WriteBatch::new();
                batch
                    .meta("org_id", org_id.clone().into_bytes())
                    .meta("org_name", org_name.clone().into_bytes());
                self.store.commit(batch)?;
                self.org_id = org_id.clone();
                self.org_name = org_name.clone();
            }
        }
        self.remember_peer(DeviceId(ticket.inviter), &ticket.addrs)?;
        self.remember_relay(ticket.relay.clone())?;
        if self.is_member_device(&self.device) {
            return Ok(true);
        }
        if self
            .membership
            .state
            .pending_admission_of(&self.device)
            .is_some()
        {
            return Ok(false);
        }
        Err(NodeError::Invalid(
            "the inviter's answer does not admit this node; ask for a new ticket".into(),
        ))
    }

    /// Cutoffs for `devices`: their latest changes this node holds.
    fn cutoffs_for(&mut self, devices: &[DeviceId]) -> Result<Vec<Cutoff>, NodeError> {
        Ok(self
            .docs
            .every_attestation()?
            .filter(|(_, actor, _)| {
                let device = entraide_docs::device_of_actor(actor);
                devices.iter().any(|x| Some(x.0) == device)
            })
            .map(|(doc, _, a)| Cutoff {
                doc: doc.name().into_owned(),
                device: DeviceId(a.device),
                hash: a.hash,
            })
            .collect())
    }

    pub(crate) fn resolve_org(&self, query: &str) -> Result<String, NodeError> {
        let orgs: Vec<(String, String)> = self
            .membership
            .state
            .orgs
            .values()
            .map(|o| (o.id.clone(), o.name.clone()))
            .collect();
        Ok(entraide_docs::lookup::resolve(
            query,
            orgs.iter().map(|(i, n)| (i.as_str(), n.as_str())),
            "organisation",
            "member list",
        )?)
    }

    fn org_display(&self, org_id: &str) -> String {
        self.membership
            .state
            .orgs
            .get(org_id)
            .map_or_else(|| org_id.to_owned(), |o| o.name.clone())
    }

    fn membership_reply(&self, op: &SignedOp, done: &str) -> Reply {
        let verdict = self.membership.state.verdicts.get(&op.hash());
        let waiting = verdict.and_then(|v| v.reason.clone());
        let text = match &waiting {
            Some(w) => format!("{done}; {w}"),
            None => done.to_owned(),
        };
        Reply::new(
            json!({"id": op.hash().to_hex(), "kind": op.op().body.kind(), "status": if waiting.is_some() { "pending" } else { "done" }, "reason": waiting}),
            text,
        )
    }

    /// `member approve`: this organisation approves what waits about `org`.
    pub fn member_approve(&mut self, org: &str) -> Result<Reply, NodeError> {
        let org_id = self.resolve_org(org)?;
        let motions: Vec<_> = self
            .membership
            .state
            .pending_motions_about(&org_id)
            .into_iter()
            .map(|m| m.hash)
            .collect();
        let Some(motion) = motions.first().copied() else {
            return Err(NodeError::Invalid(format!(
                "nothing about {} waits for approval (`entraide member list`)",
                self.org_display(&org_id)
            )));
        };
        self.refuse_own_removal(&org_id, motion, "approve")?;
        let op = self.append_op(OpBody::Approve { motion })?;
        let name = self.org_display(&org_id);
        let mut reply = self.membership_reply(
            &op,
            &format!("{} approves the motion about {name}", self.org_name),
        );
        let motion_state = self
            .membership
            .state
            .motions
            .get(&motion)
            .map(|m| (m.kind, m.status));
        reply.json["motion"] = json!(motion.to_hex());
        reply.json["decided"] = json!(matches!(
            motion_state,
            Some((_, entraide_membership::MotionStatus::Passed))
        ));
        Ok(reply)
    }

    /// `member role`: a coordinator makes `org` a member or a coordinator
    /// (the membership's rule: only a coordinator, and never the last
    /// coordinator down to member).
    pub fn member_role(&mut self, org: &str, role: &str) -> Result<Reply, NodeError> {
        let role = parse_role(role)?;
        let org_id = self.resolve_org(org)?;
        let op = self.append_op(OpBody::SetRole {
            org_id: org_id.clone(),
            role,
        })?;
        let name = self.org_display(&org_id);
        Ok(self.membership_reply(&op, &format!("{name} is now {}", role.name())))
    }

    /// `member block`: this organisation blocks what waits about `org`.
    pub fn member_block(&mut self, org: &str, reason: &str) -> Result<Reply, NodeError> {
        let org_id = self.resolve_org(org)?;
        let Some(motion) = self
            .membership
            .state
            .pending_motions_about(&org_id)
            .first()
            .map(|m| m.hash)
        else {
            return Err(NodeError::Invalid(format!(
                "nothing about {} waits for a decision",
                self.org_display(&org_id)
            )));
        };
        self.refuse_own_removal(&org_id, motion, "block")?;
        let op = self.append_op(OpBody::Block {
            motion,
            reason: reason.trim().to_owned(),
        })?;
        Ok(self.membership_reply(&op, &format!("{} blocks the motion", self.org_name)))
    }

    /// `member remove`: proposes the removal of `org`, or votes for the one
    /// already proposed.
    /// `leave`: this organisation leaves the alliance on its own decision.
    /// First its future bookings are cancelled and its resources withdrawn
    /// (their future bookings declined, with the reason, so their
    /// organisations see why), then it signs `Leave` with cutoffs that
    /// include those changes; what it wrote before stays.
    pub fn leave(&mut self, reason: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(NodeError::Invalid(
                "say why your organisation leaves: --reason <TEXT>".into(),
            ));
        }
        let state = &self.membership.state;
        let devices: Vec<DeviceId> = match state.orgs.get(&self.org_id) {
            Some(o) if o.status == entraide_membership::OrgStatus::Active => {
                o.devices.iter().copied().collect()
            }
            _ => {
                return Err(NodeError::Invalid(
                    "this organisation is not an active member of the alliance".into(),
                ));
            }
        };
        if state.active_orgs().count() <= 1 {
            return Err(NodeError::Invalid(
                "your organisation is the alliance's last member; there would be no alliance to leave"
                    .into(),
            ));
        }
        let (author, now) = (self.author(), self.env.now_ms());
        let why = format!("{} left the alliance: {reason}", self.org_name);
        let (mut own, mut resources, mut declined) = (Vec::new(), Vec::new(), Vec::new());
        // The alliance's calendar, and those of the groups it leaves too.
        for doc in self.calendars(None)? {
            let dir = crate::node::directory(&self.membership.state);
            let calendar = crate::node::calendar_in(&mut self.docs, doc)?;
            let mine: Vec<String> = calendar
                .bookings(None, &dir)
                .into_iter()
                .filter(|b| b.org == self.org_id && b.to > now)
                .filter(|b| !matches!(b.status, BookingStatus::Cancelled | BookingStatus::Declined))
                .map(|b| b.id)
                .collect();
            for id in &mine {
                calendar.cancel(&author, false, now, id, &dir)?;
            }
            let owned: Vec<(String, String)> = calendar
                .resources()
                .into_iter()
                .filter(|r| r.owner == self.org_id && r.withdrawn_at.is_none())
                .map(|r| (r.id, r.name))
                .collect();
            for (id, _) in &owned {
                let gone = calendar.withdraw_resource(&author, now, id, &why, &dir)?;
                declined.extend(gone.into_iter().map(|b| b.id));
            }
            if !mine.is_empty() || !owned.is_empty() {
                self.persist(doc, WriteBatch::new())?;
            }
            own.extend(mine);
            resources.extend(owned);
        }
        let cutoffs = self.cutoffs_for(&devices)?;
        self.append_op(OpBody::Leave {
            reason: reason.to_owned(),
            cutoffs,
        })?;
        let withdrawn: Vec<&str> = resources.iter().map(|(_, n)| n.as_str()).collect();
        Ok(Reply::new(
            json!({
                "org": self.org_name,
                "status": "removed",
                "cancelled": own,
                "withdrawn": withdrawn,
                "declined": declined,
            }),
            format!(
                "{} left the alliance; {} booking(s) cancelled, {} resource(s) withdrawn ({} booking(s) of them declined)",
                self.org_name,
                own.len(),
                withdrawn.len(),
                declined.len()
            ),
        ))
    }

    pub fn member_remove(&mut self, org: &str, reason: &str) -> Result<Reply, NodeError> {
        let org_id = self.resolve_org(org)?;
        let existing = self
            .membership
            .state
            .pending_motions_about(&org_id)
            .into_iter()
            .find(|m| m.kind == "remove")
            .map(|m| m.hash);
        let name = self.org_display(&org_id);
        let op = match existing {
            Some(motion) => {
                self.refuse_own_removal(&org_id, motion, "approve")?;
                self.append_op(OpBody::Approve { motion })?
            }
            None => self.open_removal(&org_id, reason)?,
        };
        let removed = self
            .membership
            .state
            .orgs
            .get(&org_id)
            .is_some_and(|o| o.status == entraide_membership::OrgStatus::Removed);
        let done = if removed {
            format!("{name} is removed from the alliance")
        } else {
            format!("{} votes to remove {name}", self.org_name)
        };
        Ok(self.membership_reply(&op, &done))
    }

    /// Refuses, before signing, to `verb` (approve or block) the removal of
    /// this node's own organisation: the membership rules would void it.
    fn refuse_own_removal(
        &self,
        org_id: &str,
        motion: entraide_membership::OpHash,
        verb: &str,
    ) -> Result<(), NodeError> {
        let own = self
            .membership
            .state
            .org_of_device(&self.device)
            .map_or(self.org_id.as_str(), |o| o.id.as_str());
        let is_removal = self
            .membership
            .state
            .motions
            .get(&motion)
            .is_some_and(|m| m.kind == "remove");
        if is_removal && org_id == own {
            return Err(NodeError::Invalid(format!(
                "{} cannot {verb} its own removal; the other organisations decide it",
                self.org_display(org_id)
            )));
        }
        Ok(())
    }

    /// Signs a motion to remove `org_id`, with its devices' cutoffs as this
    /// node knows them.
    pub(crate) fn open_removal(
        &mut self,
        org_id: &str,
        reason: &str,
    ) -> Result<SignedOp, NodeError> {
        let devices: Vec<DeviceId> = self
            .membership
            .state
            .orgs
            .get(org_id)
            .map(|o| o.devices.iter().copied().collect())
            .unwrap_or_default();
        let cutoffs = self.cutoffs_for(&devices)?;
        self.append_op(OpBody::RemoveOrg {
            org_id: org_id.to_owned(),
            reason: reason.trim().to_owned(),
            cutoffs,
        })
    }

    /// `device remove`: revokes a device of this organisation, or, run by
    /// a coordinator, of any active organisation (a stolen device).
    pub fn device_remove(&mut self, query: &str) -> Result<Reply, NodeError> {
        let coordinator = self
            .membership
            .state
            .org_of_device(&self.device)
            .is_some_and(|o| o.role == Role::Coordinator);
        let candidates: Vec<String> = self
            .membership
            .state
            .orgs
            .values()
            .filter(|o| {
                o.id == self.org_id
                    || (coordinator && o.status == entraide_membership::OrgStatus::Active)
            })
            .flat_map(|o| o.devices.iter().map(DeviceId::to_hex))
            .collect();
        let what = if coordinator {
            "device of an active organisation"
        } else {
            "device of your organisation (a coordinator may revoke others')"
        };
        let id = entraide_docs::lookup::resolve(
            query,
            candidates.iter().map(|h| (h.as_str(), "")),
            what,
            "member list",
        )?;
        let device =
            DeviceId::from_hex(&id).ok_or_else(|| NodeError::Invalid("not a device id".into()))?;
        let cutoffs = self.cutoffs_for(&[device])?;
        let op = self.append_op(OpBody::RemoveDevice { device, cutoffs })?;
        Ok(self.membership_reply(
            &op,
            &format!("device {} removed", crate::node::short(&id, 12)),
        ))
    }
}

fn parse_role(role: &str) -> Result<Role, NodeError> {
    match role {
        "member" => Ok(Role::Member),
        "coordinator" => Ok(Role::Coordinator),
        other => Err(NodeError::Invalid(format!(
            "unknown role '{other}'; use member or coordinator"
        ))),
    }
}
