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

/// A refusal as a program reads it: see [`NodeError::refusal`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RefusalCode {
    /// Stable, dotted: `calendar.overlap`, `lookup.not_found`, `invalid`...
    pub code: String,
    /// What the message is made of (names, times in RFC 3339, counts), or
    /// null.
    pub fields: serde_json::Value,
}

impl RefusalCode {
    /// From an error serialised as `{"code", "fields"}` (the error enums of
    /// the documents), prefixed with its area: `calendar.overlap`. A lookup
    /// inside any area is `lookup.<what>`; another error nested in a variant
    /// (a series' first clash) stays in `fields`, with its own code.
    fn from_tagged(area: &str, tagged: serde_json::Value) -> Self {
        let mut code = area.to_owned();
        let mut value = tagged;
        loop {
            let inner = value
                .get("code")
                .and_then(|c| c.as_str())
                .map(str::to_owned);
            let Some(inner) = inner else {
                return Self {
                    code,
                    fields: serde_json::Value::Null,
                };
            };
            let fields = value.get("fields").cloned().unwrap_or_default();
            code = if inner == "lookup" {
                inner
            } else {
                format!("{code}.{inner}")
            };
            let nested = fields.get("code").is_some() && code.ends_with("lookup");
            if !nested {
                return Self { code, fields };
            }
            value = fields;
        }
    }
}

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
    /// A write refused by a node opened to read only
    /// ([`crate::Node::open_to_read`]): the same request may succeed on a
    /// node opened by [`crate::Node::open`].
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_read_only())
    }

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

    /// What the refusal is, for a program that words it itself (the web
    /// interface, in its reader's language): a stable `code` such as
    /// `calendar.overlap` or `lookup.not_found`, and the `fields` the
    /// message is made of. The English message stays the `Display`.
    pub fn refusal(&self) -> RefusalCode {
        let area = |area: &str, e: serde_json::Result<serde_json::Value>| {
            RefusalCode::from_tagged(area, e.unwrap_or_default())
        };
        let plain = |code: &str, fields: serde_json::Value| RefusalCode {
            code: code.to_owned(),
            fields,
        };
        use serde_json::{Value, json, to_value};
        match self {
            Self::Calendar(e) => area("calendar", to_value(e)),
            Self::Library(e) => area("library", to_value(e)),
            Self::Value(e) => area("values", to_value(e)),
            Self::Event(e) => area("event", to_value(e)),
            Self::Ledger(e) => area("ledger", to_value(e)),
            Self::Profile(e) => area("profile", to_value(e)),
            Self::Time(e) => area("time", to_value(e)),
            Self::Lookup(e) => area("lookup", to_value(e)),
            Self::NotInitialised(_) => plain("not_initialised", Value::Null),
            Self::AlreadyInitialised(_) => plain("already_initialised", Value::Null),
            Self::NoAlliance => plain("no_alliance", Value::Null),
            Self::AlreadyInAlliance(name) => {
                plain("already_in_alliance", json!({ "alliance": name }))
            }
            Self::Invalid(_) => plain("invalid", Value::Null),
            Self::Unauthorized(_) => plain("unauthorized", Value::Null),
            Self::Unavailable(file) => plain("unavailable", json!({ "file": file })),
            Self::Open(_) | Self::Store(_) | Self::Load(_) | Self::Io { .. } => {
                plain("store", Value::Null)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_have_stable_codes_and_the_fields_of_their_message() {
        let overlap = NodeError::Calendar(CalendarError::Overlap {
            resource: "Salle Horta".into(),
            id: "b1".into(),
            org: "Groupe Terre".into(),
            from: "2030-04-02T09:00:00+02:00".into(),
            to: "2030-04-02T11:00:00+02:00".into(),
        });
        let r = overlap.refusal();
        assert_eq!(r.code, "calendar.overlap");
        assert_eq!(r.fields["resource"], "Salle Horta");
        assert_eq!(r.fields["from"], "2030-04-02T09:00:00+02:00");
        // A lookup is `lookup.*` whatever area it came from.
        let missing = LookupError::NotFound {
            what: "resource",
            query: "Salle X".into(),
            list: "resource list",
        };
        for e in [
            NodeError::Calendar(CalendarError::Lookup(missing.clone())),
            NodeError::Lookup(missing),
        ] {
            let r = e.refusal();
            assert_eq!(r.code, "lookup.not_found", "{e}");
            assert_eq!(r.fields["query"], "Salle X");
        }
        // A series whose every occurrence clashes carries the first reason.
        let clash = NodeError::Calendar(CalendarError::SeriesClash {
            count: 3,
            first: Box::new(CalendarError::TooShort),
        });
        let r = clash.refusal();
        assert_eq!(r.code, "calendar.series_clash");
        assert_eq!(r.fields["first"], json!({"code": "too_short"}));
        assert_eq!(NodeError::NoAlliance.refusal().code, "no_alliance");
        assert_eq!(
            NodeError::Event(EventError::OverSeats(12)).refusal(),
            RefusalCode {
                code: "event.over_seats".into(),
                fields: json!(12)
            }
        );
    }
}
