//! Membership operations, their signed envelope and its byte format.
//!
//! Wire and storage format, version 1:
//! `[1u8] ++ u32-LE(len(op)) ++ postcard(Op) ++ signature(64 bytes)`, where the
//! signature is the author's ed25519 signature over
//! `b"entraide-membership-v1" ++ postcard(Op)`. The operation's hash is the
//! BLAKE3 hash of the whole envelope.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

const FORMAT: u8 = 1;
const CONTEXT: &[u8] = b"entraide-membership-v1";
/// Largest envelope accepted.
pub const MAX_OP_BYTES: usize = 16 * 1024;
/// Longest alliance or organisation name (or organisation id), in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Whether `name` may name an alliance or an organisation (or be an
/// organisation's id): not blank, at most [`MAX_NAME_CHARS`] characters, no
/// control character (`char::is_control`: no newline, tab, escape...).
/// `what` says what it names, for the plain-words reason.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("the {what} is empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!(
            "the {what} is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the {what} contains a control character (a line break, tab or escape)"
        ));
    }
    Ok(())
}

/// A device's ed25519 public key: its identity, its iroh endpoint id and the
/// automerge actor of its changes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceId(pub [u8; 32]);

impl DeviceId {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        parse_hex32(s).map(Self)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", &self.to_hex()[..10])
    }
}

/// The hash of a signed operation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpHash(pub [u8; 32]);

impl OpHash {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        parse_hex32(s).map(Self)
    }
}

impl fmt::Display for OpHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for OpHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpHash({})", &self.to_hex()[..10])
    }
}

/// What an organisation may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// An ordinary member.
    Member,
    /// A coordinator: may invite, admit under the `coordinator` rule, cancel others' bookings.
    Coordinator,
}

impl Role {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Coordinator => "coordinator",
        }
    }
}

/// How the alliance admits and removes organisations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AdmissionRule {
    /// One coordinator's signature.
    Coordinator,
    /// More than half of the active organisations.
    Majority,
    /// Every active organisation.
    Consensus,
}

impl AdmissionRule {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Coordinator => "coordinator",
            Self::Majority => "majority",
            Self::Consensus => "consensus",
        }
    }

    /// Parses a rule name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "coordinator" => Some(Self::Coordinator),
            "majority" => Some(Self::Majority),
            "consensus" => Some(Self::Consensus),
            _ => None,
        }
    }
}

/// The last change of a removed device that stays valid, per document: what
/// the remover knew of it. Changes by that device in the causal past of the
/// cutoff are kept everywhere; later ones are refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cutoff {
    /// The document's name.
    pub doc: String,
    /// The removed device.
    pub device: DeviceId,
    /// Its last change the remover held in that document.
    pub hash: [u8; 32],
}

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpBody {
    /// Founds the alliance; the author's organisation is its first member, a coordinator.
    Found {
        /// The alliance's name.
        alliance_name: String,
        /// The founding organisation's id.
        org_id: String,
        /// Its name.
        org_name: String,
        /// How organisations are admitted and removed.
        admission: AdmissionRule,
    },
    /// Proposes to admit an organisation with its first device, on an
    /// invitation; the author's organisation approves it. A motion.
    Admit {
        /// The new organisation's id.
        org_id: String,
        /// Its name.
        org_name: String,
        /// Its role.
        role: Role,
        /// Its first device.
        device: DeviceId,
        /// BLAKE3 of the invitation's one-time secret: each admits once.
        invitation: [u8; 32],
    },
    /// The author's organisation approves a motion.
    Approve {
        /// The motion.
        motion: OpHash,
    },
    /// The author's organisation blocks a motion (under `consensus`).
    Block {
        /// The motion.
        motion: OpHash,
        /// Why, in plain words.
        reason: String,
    },
    /// Proposes to remove an organisation; the author's organisation approves it. A motion.
    RemoveOrg {
        /// The organisation.
        org_id: String,
        /// Why.
        reason: String,
        /// Its devices' last valid changes, as the author knows them.
        cutoffs: Vec<Cutoff>,
    },
    /// Proposes a new admission and removal rule. A motion, decided by the current rule.
    SetAdmission {
        /// The new rule.
        rule: AdmissionRule,
    },
    /// A coordinator sets an organisation's role.
    SetRole {
        /// The organisation.
        org_id: String,
        /// Its new role.
        role: Role,
    },
    /// Adds a device to the author's organisation, on an invitation.
    AddDevice {
        /// The new device.
        device: DeviceId,
        /// BLAKE3 of the invitation's one-time secret.
        invitation: [u8; 32],
    },
    /// Revokes a device of the author's organisation.
    RemoveDevice {
        /// The revoked device.
        device: DeviceId,
        /// Its last valid changes, as the author knows them.
        cutoffs: Vec<Cutoff>,
    },
    /// Proposes the alliance's default way of deciding proposals
    /// (`consent`, `consensus` or `majority`). A motion, decided by the
    /// admission rule; signed with `Found` when the alliance is created.
    SetProcess {
        /// The process's name.
        process: String,
    },
    /// The author's organisation leaves the alliance on its own decision
    /// (no vote): it is removed there, as a passed removal would remove it.
    Leave {
        /// Why, in plain words.
        reason: String,
        /// Its devices' last valid changes (its own node knows them all).
        cutoffs: Vec<Cutoff>,
    },
    /// Creates a working group of organisations (the author's included),
    /// with documents of its own that only its members' nodes hold.
    /// New variants go last, so that older operations keep their bytes.
    GroupCreate {
        /// The group's id: 16 random bytes.
        group: [u8; 16],
        /// Its name, unique among the alliance's groups.
        name: String,
        /// What it is for.
        description: String,
        /// Its first member organisations besides the author's.
        orgs: Vec<String>,
    },
    /// A member of the group adds an organisation to it.
    GroupAdd {
        /// The group.
        group: [u8; 16],
        /// The organisation.
        org_id: String,
    },
    /// A member of the group removes an organisation from it (its own:
    /// it leaves the group).
    GroupRemove {
        /// The group.
        group: [u8; 16],
        /// The organisation.
        org_id: String,
    },
    /// A coordinator of the alliance dissolves a group.
    GroupDissolve {
        /// The group.
        group: [u8; 16],
    },
}

impl OpBody {
    /// A short name of the kind of operation.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Found { .. } => "found",
            Self::Admit { .. } => "admit",
            Self::Approve { .. } => "approve",
            Self::Block { .. } => "block",
            Self::RemoveOrg { .. } => "remove",
            Self::SetAdmission { .. } => "set-admission",
            Self::SetRole { .. } => "set-role",
            Self::AddDevice { .. } => "add-device",
            Self::RemoveDevice { .. } => "remove-device",
            Self::SetProcess { .. } => "set-process",
            Self::Leave { .. } => "leave",
            Self::GroupCreate { .. } => "group-create",
            Self::GroupAdd { .. } => "group-add",
            Self::GroupRemove { .. } => "group-remove",
            Self::GroupDissolve { .. } => "group-dissolve",
        }
    }

    /// Whether it is a motion that others approve.
    pub fn is_motion(&self) -> bool {
        matches!(
            self,
            Self::Admit { .. }
                | Self::RemoveOrg { .. }
                | Self::SetAdmission { .. }
                | Self::SetProcess { .. }
        )
    }
}

/// An operation, before signing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The operations this one builds on (empty only for `Found`).
    pub parents: Vec<OpHash>,
    /// The device that signs it.
    pub author: DeviceId,
    /// The author's clock, ms since the epoch (informative only).
    pub time_ms: i64,
    /// What it does.
    pub body: OpBody,
}

/// An operation with its author's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOp {
    op: Op,
    bytes: Vec<u8>,
    hash: OpHash,
}

/// Bytes that are not a valid signed operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Empty, truncated or oversized.
    #[error("membership operation is truncated or too large ({0} bytes)")]
    Length(usize),
    /// Unknown format version.
    #[error(
        "membership operation has format {0}, this version of entraide reads format 1; upgrade entraide"
    )]
    Format(u8),
    /// Not decodable.
    #[error("membership operation is malformed")]
    Malformed,
    /// Bad signature.
    #[error("membership operation's signature does not match its author")]
    Signature,
}

impl SignedOp {
    /// Signs `op` with `key`, which must be the key of `op.author`.
    pub fn sign(op: Op, key: &SigningKey) -> Self {
        let body = postcard::to_allocvec(&op).unwrap_or_default();
        let mut message = CONTEXT.to_vec();
        message.extend_from_slice(&body);
        let signature = key.sign(&message);
        let mut bytes = Vec::with_capacity(1 + 4 + body.len() + 64);
        bytes.push(FORMAT);
        bytes.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&signature.to_bytes());
        let hash = OpHash(*blake3::hash(&bytes).as_bytes());
        Self { op, bytes, hash }
    }

    /// Decodes and verifies the envelope (format, size, signature).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, true)
    }

    /// Decodes an envelope that this node's own store holds: one that
    /// [`SignedOp::decode`] accepted, or that this node signed, before it was
    /// stored. Everything is checked as there but the signature, which is
    /// not verified a second time (one verification per operation of the
    /// alliance was 5 % of a command run without `serve`). Never for bytes
    /// from anywhere else.
    pub fn decode_stored(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, false)
    }

    fn decode_with(bytes: &[u8], verify: bool) -> Result<Self, DecodeError> {
        if bytes.len() < 1 + 4 + 64 || bytes.len() > MAX_OP_BYTES {
            return Err(DecodeError::Length(bytes.len()));
        }
        if bytes[0] != FORMAT {
            return Err(DecodeError::Format(bytes[0]));
        }
        let len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        if 1 + 4 + len + 64 != bytes.len() {
            return Err(DecodeError::Length(bytes.len()));
        }
        let body = &bytes[5..5 + len];
        let op: Op = postcard::from_bytes(body).map_err(|_| DecodeError::Malformed)?;
        // Canonical encoding only: re-encoding must give the same bytes.
        if postcard::to_allocvec(&op).ok().as_deref() != Some(body) {
            return Err(DecodeError::Malformed);
        }
        let sig_bytes: [u8; 64] = bytes[5 + len..]
            .try_into()
            .map_err(|_| DecodeError::Malformed)?;
        let signature = Signature::from_bytes(&sig_bytes);
        if verify {
            let key = VerifyingKey::from_bytes(&op.author.0).map_err(|_| DecodeError::Signature)?;
            let mut message = CONTEXT.to_vec();
            message.extend_from_slice(body);
            key.verify_strict(&message, &signature)
                .map_err(|_| DecodeError::Signature)?;
        }
        Ok(Self {
            op,
            bytes: bytes.to_vec(),
            hash: OpHash(*blake3::hash(bytes).as_bytes()),
        })
    }

    /// The operation.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// The envelope's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The envelope's hash.
    pub fn hash(&self) -> OpHash {
        self.hash
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(key: &SigningKey) -> SignedOp {
        SignedOp::sign(
            Op {
                parents: vec![],
                author: DeviceId(key.verifying_key().to_bytes()),
                time_ms: 1,
                body: OpBody::Found {
                    alliance_name: "Alliance".into(),
                    org_id: "o1".into(),
                    org_name: "Asbl Un".into(),
                    admission: AdmissionRule::Consensus,
                },
            },
            key,
        )
    }

    #[test]
    fn roundtrip_and_tamper() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let op = found(&key);
        let back = SignedOp::decode(op.bytes()).unwrap();
        assert_eq!(back, op);
        for i in 0..op.bytes().len() {
            let mut bad = op.bytes().to_vec();
            bad[i] ^= 1;
            assert!(SignedOp::decode(&bad).is_err(), "flip at {i} accepted");
        }
        assert!(SignedOp::decode(&op.bytes()[..op.bytes().len() - 1]).is_err());
        assert!(SignedOp::decode(&[]).is_err());
    }

    #[test]
    fn the_store_is_read_as_it_was_verified_but_the_signature() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let op = found(&key);
        assert_eq!(SignedOp::decode_stored(op.bytes()).unwrap(), op);
        // What only the signature would refuse: the last byte flipped.
        let mut bad_signature = op.bytes().to_vec();
        *bad_signature.last_mut().unwrap() ^= 1;
        assert!(SignedOp::decode(&bad_signature).is_err());
        assert!(SignedOp::decode_stored(&bad_signature).is_ok());
        // Everything else is refused as by `decode`.
        let body_end = op.bytes().len() - 64;
        for i in 0..body_end {
            let mut bad = op.bytes().to_vec();
            bad[i] ^= 0xff;
            if let Ok(read) = SignedOp::decode_stored(&bad) {
                // A body that still reads canonically is another operation
                // (which a stored envelope never is: it was verified).
                assert_ne!(read.op(), op.op(), "flip at {i} read as the same operation");
            }
        }
        assert!(SignedOp::decode_stored(&op.bytes()[..op.bytes().len() - 1]).is_err());
    }

    #[test]
    fn hex_ids() {
        let d = DeviceId([0xab; 32]);
        assert_eq!(DeviceId::from_hex(&d.to_hex()), Some(d));
        assert_eq!(DeviceId::from_hex("zz"), None);
    }
}
