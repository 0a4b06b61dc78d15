//! The shared documents of a solidarity alliance, as automerge CRDTs.
//!
//! An alliance shares eight documents, each one automerge document (see
//! [`DocKind`]): the **charter** (one collaborative text), the **values**
//! (names, descriptions and which organisations endorse them), the
//! **library** (entries describing files: procedures, job profiles, statutes;
//! the bytes themselves live beside, content-addressed by BLAKE3), the
//! **calendar** (shared resources such as rooms, vehicles and equipment, and
//! their bookings), the **proposals** (decisions taken together, with their
//! votes), the **events** (trainings with seats, and each organisation's
//! registration), the **profiles** (what each organisation says of
//! itself) and the **ledger** (payments and loans between members; fees
//! and the support fund's awards are read from passed proposals). [`SharedDoc`] wraps one automerge document; [`Charter`],
//! [`Values`], [`Library`], [`Calendar`], [`Proposals`], [`Events`],
//! [`Profiles`] and [`Ledger`] give each its typed API, so that no caller ever touches a raw
//! automerge handle.
//!
//! Every document starts with the same *genesis change* on every node (see
//! [`doc::GENESIS_ACTOR`]), so that nodes that start apart never create
//! competing root objects. Every later change is made by a device: its actor id
//! is the device's ed25519 public key, which lets the sync layer check who
//! wrote what.
//!
//! Booking rules live here too, because they must give the same answer on
//! every node from the same data: [`calendar::Calendar::bookings`] computes
//! each booking's status (confirmed, pending, conflict, cancelled, declined)
//! from the synced data alone, never from arrival order or a local clock;
//! so does the seat rule ([`events::rank`]) for registrations, and the
//! ledger's statement ([`ledger::statement`]) for balances and schedules.
//!
//! This crate is pure: no IO, no clock and no randomness. Time (`now_ms`),
//! new ids and the author are passed in by the caller. It must never read a
//! file, open a socket, or look at the system clock. Its one thread is
//! scoped: a large bundle's checks run on a second core while automerge
//! applies it ([`SharedDoc::apply_verified`]), and end before the call
//! returns, so no result depends on timing.

pub mod authority;
pub mod calendar;
pub mod charter;
mod doc;
pub mod equivocation;
pub mod events;
pub mod ledger;
pub mod library;
pub mod lookup;
pub mod ops;
pub mod profiles;
pub mod proposals;
pub mod save_ops;
pub mod time;
pub mod values;

pub use authority::{Members, Refusal, check_changes, record_id};
pub use automerge::ChangeHash;
pub use calendar::{BookingFixed, Calendar};
pub use charter::Charter;
pub use doc::{
    ApplyError, Author, ChangeSummary, DocKind, EPOCH_LEN, GENESIS_ACTOR, GroupDoc, Part,
    PreparedSave, SharedDoc, Shelf, VersionVector, device_hex_of_actor, device_of_actor,
    holds_nothing, merge_version, version_beyond,
};
pub use events::Events;
pub use ledger::Ledger;
pub use library::Library;
pub use profiles::Profiles;
pub use proposals::Proposals;
pub use values::Values;

/// A document's stored or received bytes could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the {doc} document could not be read ({reason}); the data may be damaged")]
pub struct LoadError {
    /// Which document.
    pub doc: DocKind,
    /// What automerge said.
    pub reason: String,
}

/// An id for a new value, library entry, resource or booking: 16 random bytes
/// from the caller, as 32 lowercase hex digits.
pub fn new_id(random: [u8; 16]) -> String {
    hex::encode(random)
}
