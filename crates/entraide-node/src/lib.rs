//! One member organisation's node.
//!
//! A node lives in a *home* directory ([`Home`]): its device key, its store
//! (see `entraide-store`) and, while `entraide serve` runs, a local socket.
//! [`Node`] opens a home, loads the shared documents (see `entraide-docs`) and
//! the membership log (see `entraide-membership`), and answers every
//! command of the command-line contract as a [`Request`] with a [`Reply`]: the
//! contract's JSON and a short human text. The command line only parses
//! arguments into a request and prints the reply; a running daemon answers
//! the same requests over its socket.
//!
//! This crate is the IO layer around the pure crates: it writes the store,
//! and reads the time and draws randomness from the [`Env`] a node is opened
//! with (the system's, or a simulation's). Every write goes through one
//! durable store transaction before a command reports success, and a refused
//! command changes nothing. It must never print, exit the process, or hand
//! out an automerge handle.

mod audit;
mod docs;
mod env;
pub mod equivocation;
mod error;
mod events;
mod governance;
mod groups;
mod home;
mod invite;
mod ledger;
mod node;
mod profiles;
mod request;
pub mod session;
mod sync;

pub use audit::{AUDIT_KEEP, RefusedChange};
pub use env::{Env, SystemEnv};
pub use error::{NodeError, RefusalCode};
pub use home::Home;
pub use invite::{Admission, JoinRequest, Ticket, TicketError, parse_duration_ms};
pub use ledger::{Deciding, FeeChanges};
pub use node::{MAX_LIBRARY_FILE, Node, PeerRecord, resolve_zone};
pub use request::{ErrorReply, Reply, Request, ResourceEdit};
pub use sync::{Attestation, BlobPart, Bundle, Received, Summary, SyncError};
