//! Everything a node can refuse, with the exit code the command line uses.

use std::path::PathBuf;

use entraide_docs::calendar::CalendarError;
use entraide_docs::events::EventError;
use entraide_docs::ledger::LedgerError;
use entraide_docs::library::LibraryError;
use entraide_docs::lookup::LookupError;
use entraide_docs::profiles::ProfileError;
use entraide_docs::time::TimeError;
use entraide_docs::values::ValueError;
use entraide_store::{OpenError, StoreError};

/// A command failed; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The home has no node yet.
    #[error("{0} is not an entraide home; run `entraide init --org <NAME>` first (or pass --home)")]
    NotInitialised(PathBuf),
    /// `init` on a home that has one.
    #[error("{0} is already an entraide home; use another --home to create a new node")]
    AlreadyInitialised(PathBuf),
    /// A command that needs an alliance.
    #[error(
        "this node is not in an alliance yet; run `entraide alliance create <NAME>` or `entraide join <TICKET>`"
    )]
    NoAlliance,
    /// `alliance create` twice.
    #[error("this node already belongs to the alliance '{0}'")]
    AlreadyInAlliance(String),
    /// Input that makes no sense.
    #[error("{0}")]
    Invalid(String),
    /// This node's own change broke an authority rule (a bug: nothing stored).
    #[error("{0}")]
    Unauthorized(String),
    /// A booking, resource or calendar refusal.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// A library refusal.
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// A values refusal.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// An event or registration refusal.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A ledger refusal.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A profile refusal.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A time that could not be read.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// Something not found or ambiguous.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The store could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data could not be read.
    #[error(transparent)]
    Load(#[from] entraide_docs::LoadError),
    /// The file's bytes are not here yet.
    #[error("the bytes of '{0}' have not reached this node yet; run `entraide sync` and try again")]
    Unavailable(String),
    /// A file-system failure.
    #[error("{action} {path}: {reason}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
}

impl NodeError {
    /// 2 for bad input or usage, 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::NotInitialised(_)
            | Self::AlreadyInitialised(_)
            | Self::NoAlliance
            | Self::AlreadyInAlliance(_)
            | Self::Invalid(_)
            | Self::Calendar(_)
            | Self::Library(_)
            | Self::Value(_)
            | Self::Event(_)
            | Self::Ledger(_)
            | Self::Profile(_)
            | Self::Time(_)
            | Self::Lookup(_) => 2,
            Self::Open(
                OpenError::NotAStore { .. }
                | OpenError::Foreign { .. }
                | OpenError::UnknownFormat { .. }
                | OpenError::Outdated { .. },
            ) => 2,
            Self::Open(_)
            | Self::Store(_)
            | Self::Load(_)
            | Self::Unavailable(_)
            | Self::Unauthorized(_)
            | Self::Io { .. } => 1,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        e: impl std::fmt::Display,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            reason: e.to_string(),
        }
    }
}
