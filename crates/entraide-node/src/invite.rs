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
use entraide_membership::{AdmissionRule, DeviceId, Op, OpBody, Role, SignedOp};
use entraide_store::WriteBatch;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::node::{now_ms, random};
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
    /// Creates a single-use invitation and its ticket. Needs the addresses
    /// this node listens on (a running or past `entraide serve`).
    pub fn invite(
        &mut self,
        role: &str,
        expires: &str,
        relay: Option<String>,
    ) -> Result<Reply, NodeError> {
        let alliance = self
            .membership
            .alliance
            .clone()
            .ok_or(NodeError::NoAlliance)?;
        let role = match role {
            "member" => Role::Member,
            "coordinator" => Role::Coordinator,
            other => {
                return Err(NodeError::Invalid(format!(
                    "unknown role '{other}'; use member or coordinator"
                )));
            }
        };
        let ttl = parse_duration_ms(expires)?;
        let me = self.membership.org_of_device(&self.device).cloned();
        let may_invite = match alliance.admission {
            AdmissionRule::Coordinator => me.as_ref().is_some_and(|o| o.role == Role::Coordinator),
            AdmissionRule::Majority | AdmissionRule::Consensus => me.is_some(),
        };
        if !may_invite {
            return Err(NodeError::Invalid(
                "only a coordinator may invite under this alliance's admission rule".into(),
            ));
        }
        if self.listen_addrs.is_empty() {
            return Err(NodeError::Invalid(
                "this node does not know where it can be reached yet; start `entraide serve` first"
                    .into(),
            ));
        }
        let secret: [u8; 16] = random()?;
        let expires_ms = now_ms() + ttl;
        let ticket = Ticket {
            alliance: alliance.id.0,
            alliance_name: alliance.name.clone(),
            inviter: self.device.0,
            addrs: self.listen_addrs.clone(),
            relay,
            secret,
            expires_ms,
            role,
        };
        let mut batch = WriteBatch::new();
        let key = format!("invite:{}", blake3::hash(&secret).to_hex());
        batch.meta(
            &key,
            postcard::to_allocvec(&Invitation { expires_ms, role }).unwrap_or_default(),
        );
        self.store.commit(batch)?;
        let text = ticket.encode(&self.key);
        Ok(Reply::new(
            json!({"ticket": text, "expires": entraide_docs::time::format_time(expires_ms, self.zone), "role": role.name()}),
            text,
        ))
    }

    /// Admits the organisation presenting `request` on an invitation of this
    /// node; returns the whole membership log for the newcomer.
    pub fn admit(
        &mut self,
        device: DeviceId,
        request: &JoinRequest,
    ) -> Result<Vec<Vec<u8>>, NodeError> {
        let secret_hash = *blake3::hash(&request.secret).as_bytes();
        let key = format!("invite:{}", blake3::Hash::from(secret_hash).to_hex());
        let invitation: Invitation = self
            .store
            .meta(&key)?
            .and_then(|b| postcard::from_bytes(&b).ok())
            .ok_or_else(|| {
                NodeError::Invalid("this ticket is unknown to the inviting node".into())
            })?;
        if invitation.expires_ms < now_ms() {
            return Err(NodeError::Invalid(
                "this ticket has expired; ask for a new one".into(),
            ));
        }
        if self.membership.invitation_used(&secret_hash) {
            return Err(NodeError::Invalid(
                "this ticket was already used; ask for a new one".into(),
            ));
        }
        let org_name = request.org_name.trim().to_owned();
        let op = SignedOp::sign(
            Op {
                parents: self.log.heads(),
                author: self.device,
                time_ms: now_ms(),
                body: OpBody::Admit {
                    org_id: request.org_id.clone(),
                    org_name,
                    role: invitation.role,
                    device,
                    invitation: secret_hash,
                },
            },
            &self.key,
        );
        let mut trial = self.log.clone();
        trial
            .insert(op.clone())
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let state = trial.state();
        if let Some(reason) = state
            .verdicts
            .get(&op.hash())
            .and_then(|v| v.reason.clone())
        {
            return Err(NodeError::Invalid(format!("cannot admit: {reason}")));
        }
        let mut batch = WriteBatch::new();
        batch.op(op.hash().0, op.bytes().to_vec());
        self.store.commit(batch)?;
        self.log = trial;
        self.membership = state;
        Ok(self
            .log
            .ordered()
            .into_iter()
            .map(|o| o.bytes().to_vec())
            .collect())
    }

    /// The request this node sends to join with `ticket`. Refuses a node
    /// already in an alliance, or an expired ticket.
    pub fn join_request(&self, ticket: &Ticket) -> Result<JoinRequest, NodeError> {
        if let Some(a) = &self.membership.alliance {
            return Err(NodeError::AlreadyInAlliance(a.name.clone()));
        }
        if ticket.expires_ms < now_ms() {
            return Err(NodeError::Invalid(
                "this ticket has expired; ask for a new one".into(),
            ));
        }
        Ok(JoinRequest {
            secret: ticket.secret,
            org_id: self.org_id.clone(),
            org_name: self.org_name.clone(),
        })
    }

    /// Stores the membership log the inviter sent; succeeds only if it
    /// admits this device into the ticket's alliance.
    pub fn accept_admission(&mut self, ticket: &Ticket, ops: &[Vec<u8>]) -> Result<(), NodeError> {
        self.receive_ops(ops)
            .map_err(|e| NodeError::Invalid(format!("the inviter's answer was refused: {e}")))?;
        if self.alliance_id() != Some(ticket.alliance) || !self.is_member_device(&self.device) {
            return Err(NodeError::Invalid(
                "the inviter's answer does not admit this node; ask for a new ticket".into(),
            ));
        }
        self.remember_peer(DeviceId(ticket.inviter), &ticket.addrs)?;
        self.remember_relay(ticket.relay.clone())?;
        Ok(())
    }
}
