//! Who belongs to an alliance, decided by every node on its own.
//!
//! Membership is a log of operations (found the alliance, admit an
//! organisation, add or remove a device...). Each operation names the
//! operations it builds on (its *parents*, by BLAKE3 hash), its author device,
//! and is signed with that device's ed25519 key ([`SignedOp`]). The log is a
//! hash-linked DAG: a node that holds an operation holds its whole past.
//!
//! The state ([`MembershipState`]: the alliance, its organisations with their
//! roles and devices) is a pure function of the *set* of operations a node
//! holds: [`MembershipLog::state`] orders them topologically, breaking ties by
//! hash, and applies each in turn, marking each valid or invalid with a plain
//! reason. Two nodes holding the same operations compute the same state,
//! whatever order the operations arrived in.
//!
//! This crate is pure: no IO, no clock, no randomness (times and secrets are
//! passed in). It must never touch the network or the disk.

mod log;
mod op;
mod state;

pub use log::{InsertError, MembershipLog};
pub use op::{
    AdmissionRule, Cutoff, DecodeError, DeviceId, MAX_NAME_CHARS, Op, OpBody, OpHash, Role,
    SignedOp, check_name,
};
pub use state::{
    AllianceInfo, GroupState, MAX_GROUP_DESCRIPTION, MembershipState, Motion, MotionStatus,
    OrgState, OrgStatus, PROCESSES, Removal, Verdict,
};
