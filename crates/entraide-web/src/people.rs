//! The colleagues of an organisation: the people who use this node's
//! interface, each with a login of their own, and what each of them did.
//!
//! An association's staff share one node. Each person is invited by name
//! (a one-time login link, then a personal token in their browser's
//! cookie), can be revoked (their token stops working at once), and what
//! they do from the interface is attributed to them in this node's own
//! records. The alliance still sees the organisation: people never reach
//! the shared documents, the sync or the membership.
//!
//! Files in the home, 0600: `ui-people.json` (each person: id, name, the
//! BLAKE3 hash of their token, when they were added and revoked) and
//! `ui-actions.jsonl` (one line per attributed act: who, what, which ids).
//! Tokens themselves are never stored.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::WebError;
use crate::auth::{home_error, random_hex, write_private};

const PEOPLE_FILE: &str = "ui-people.json";
const ACTIONS_FILE: &str = "ui-actions.jsonl";

/// The longest name of a person.
pub(crate) const MAX_NAME: usize = 100;

/// A person who uses the interface.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Person {
    /// Stable id (hex).
    pub(crate) id: String,
    /// Their name, as the colleague who invited them wrote it.
    pub(crate) name: String,
    /// When they were invited (ms since the Unix epoch).
    pub(crate) added_ms: i64,
    /// When they were revoked, if they were.
    #[serde(default)]
    pub(crate) revoked_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(ignore)]
    token_hash: String,
}

impl Person {
    /// As the API shows it: never the token's hash.
    pub(crate) fn public(&self) -> Person {
        Person {
            token_hash: String::new(),
            ..self.clone()
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Everyone ever invited, revoked ones included.
pub(crate) fn list(home: &Path) -> Vec<Person> {
    fs::read(home.join(PEOPLE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(home: &Path, people: &[Person]) -> Result<(), WebError> {
    let bytes = serde_json::to_vec_pretty(people).unwrap_or_default();
    write_private(&home.join(PEOPLE_FILE), &bytes)
}

/// Why a person could not be invited or revoked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeopleError {
    /// No usable name.
    #[error("a person needs a name of 1 to {MAX_NAME} characters without control characters")]
    Name,
    /// Unknown id.
    #[error("no person '{0}' uses this interface")]
    Unknown(String),
    /// The files of the home.
    #[error(transparent)]
    Home(#[from] WebError),
}

/// Invites `name`: returns the person and their personal token (to put in
/// the one-time login link's code file, never stored as such).
pub(crate) fn add(home: &Path, name: &str) -> Result<(Person, String), PeopleError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(PeopleError::Name);
    }
    let token = random_hex()?;
    let person = Person {
        id: random_hex()?[..16].to_owned(),
        name: name.to_owned(),
        added_ms: now_ms(),
        revoked_ms: None,
        token_hash: hash(&token),
    };
    let mut people = list(home);
    people.push(person.clone());
    save(home, &people)?;
    Ok((person.public(), token))
}

/// Revokes a person: their token stops working at once.
pub(crate) fn revoke(home: &Path, id: &str) -> Result<Person, PeopleError> {
    let mut people = list(home);
    let Some(person) = people
        .iter_mut()
        .find(|p| p.id == id && p.revoked_ms.is_none())
    else {
        return Err(PeopleError::Unknown(id.to_owned()));
    };
    person.revoked_ms = Some(now_ms());
    let revoked = person.public();
    save(home, &people)?;
    Ok(revoked)
}

/// The person a token belongs to, if it is a person's and not revoked.
pub(crate) fn who(home: &Path, token: &str) -> Option<Person> {
    let presented = hash(token);
    list(home).into_iter().find(|p| {
        p.revoked_ms.is_none() && bool::from(p.token_hash.as_bytes().ct_eq(presented.as_bytes()))
    })
}

/// One act of a person, in this node's own records.
#[derive(Serialize, Deserialize)]
struct Act {
    person: String,
    name: String,
    what: String,
    ids: Vec<String>,
    at_ms: i64,
}

/// Records that `person` did `what` (a booking, a vote...) to `ids`.
pub(crate) fn record(home: &Path, person: &Person, what: &str, ids: &[String]) {
    let act = Act {
        person: person.id.clone(),
        name: person.name.clone(),
        what: what.to_owned(),
        ids: ids.to_vec(),
        at_ms: now_ms(),
    };
    let path = home.join(ACTIONS_FILE);
    let line = serde_json::to_string(&act).unwrap_or_default();
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        tracing::warn!(error = %home_error("write", &path, e), "an act was not attributed");
    }
}

/// Who did what: for each id an act named, the name of the person who did
/// it (the latest act wins).
pub(crate) fn attributions(home: &Path, what: &str) -> HashMap<String, String> {
    let mut by = HashMap::new();
    let Ok(text) = fs::read_to_string(home.join(ACTIONS_FILE)) else {
        return by;
    };
    for act in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Act>(l).ok())
    {
        if act.what == what {
            for id in act.ids {
                by.insert(id, act.name.clone());
            }
        }
    }
    by
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_logs_in_with_their_token_until_revoked_and_their_acts_are_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        assert!(matches!(add(home, " "), Err(PeopleError::Name)));
        let (anna, token) = add(home, "Anna").unwrap();
        let (_, other) = add(home, "Bert").unwrap();
        assert_eq!(who(home, &token).map(|p| p.name), Some("Anna".into()));
        assert!(who(home, "not a token").is_none());
        let stored = fs::read_to_string(home.join(PEOPLE_FILE)).unwrap();
        assert!(!stored.contains(&token), "tokens are never stored");
        record(home, &anna, "booking", &["b1".into(), "b2".into()]);
        assert_eq!(
            attributions(home, "booking").get("b2").map(String::as_str),
            Some("Anna")
        );
        assert!(attributions(home, "vote").is_empty());
        revoke(home, &anna.id).unwrap();
        assert!(who(home, &token).is_none(), "revoked at once");
        assert!(who(home, &other).is_some(), "the others stay");
        assert!(matches!(
            revoke(home, &anna.id),
            Err(PeopleError::Unknown(_))
        ));
    }
}
