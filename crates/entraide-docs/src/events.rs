//! Trainings and events with seats, and each organisation's registration.
//!
//! Schema (automerge):
//! ```text
//! { events: { <id>: { title, from, to, seats, per_org?, resource?, booking?,
//!                     org, device, created_at, closed_at?,
//!                     registrations: { <org id>: { seats, names, at, device } } } } }
//! ```
//! An event is fixed when it is created, except `closed_at`, which only its
//! organising organisation writes (closing registrations) or deletes
//! (opening them again). An organisation has at most one registration per
//! event, under its own id: registering again replaces it (a new map, so
//! the fields of one registration always come from one change), and
//! cancelling deletes it. Nobody writes under another organisation's id
//! (the authority check, [`crate::authority`]).
//!
//! # The seat rule
//!
//! Members register while apart; once they sync, every node computes the
//! same lists from the data alone ([`Event::registrations`]):
//!
//! 1. registrations are ranked by `at` (a hybrid logical clock: never behind
//!    a registration to the same event that the registering node knew), then
//!    by organisation id;
//! 2. in that order, a registration is `confirmed` when its seats fit in the
//!    seats that the registrations confirmed before it left, and it asks no
//!    more than the per-organisation limit; otherwise it is `waiting`. A
//!    registration that does not fit does not hold back a later, smaller
//!    one (first fit), so nobody can block the list by asking too much;
//! 3. a registration made after the organiser closed registrations (`at`
//!    after `closed_at`) is never confirmed.
//!
//! So a cancellation frees its seats, and the first waiting registrations
//! that now fit are confirmed, on every node alike. Registering again with
//! fewer seats keeps the registration's place (`at`); with more, it goes to
//! the end of the list.

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};

use crate::doc::Record;
use crate::lookup::{LookupError, resolve};
use crate::{Author, DocKind, SharedDoc};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 300;
/// Longest list of attendees' names, in characters.
pub const MAX_NAMES: usize = 2_000;
/// Most seats of one event.
pub const MAX_SEATS: i64 = 100_000;

/// Whether a registration has a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationStatus {
    /// Its seats are held.
    Confirmed,
    /// On the waiting list.
    Waiting,
}

impl RegistrationStatus {
    /// The contract's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Waiting => "waiting",
        }
    }
}

/// One organisation's registration, with the status every node computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The registering organisation's id.
    pub org: String,
    /// Seats asked for.
    pub seats: i64,
    /// Who will attend, as the organisation typed it.
    pub names: String,
    /// Its place in the list (hybrid logical clock, ms).
    pub at: i64,
    /// Confirmed or waiting.
    pub status: RegistrationStatus,
    /// Made after registrations closed (never confirmed).
    pub after_close: bool,
}

/// An event and its registrations, ranked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Start, ms since the epoch.
    pub from: i64,
    /// End, ms since the epoch.
    pub to: i64,
    /// Seats offered.
    pub seats: i64,
    /// Most seats one organisation may hold (`None`: no limit).
    pub per_org: Option<i64>,
    /// The resource it takes place in, if any.
    pub resource: Option<String>,
    /// The booking of that resource, if any.
    pub booking: Option<String>,
    /// The organising organisation's id.
    pub org: String,
    /// When it was created, ms.
    pub created_at: i64,
    /// When registrations closed, if they did.
    pub closed_at: Option<i64>,
    /// Every registration, in rank order.
    pub registrations: Vec<Registration>,
}

impl Event {
    /// Seats held by confirmed registrations.
    pub fn confirmed_seats(&self) -> i64 {
        self.registrations
            .iter()
            .filter(|r| r.status == RegistrationStatus::Confirmed)
            .map(|r| r.seats)
            .sum()
    }

    /// This organisation's registration, if any.
    pub fn registration_of(&self, org: &str) -> Option<&Registration> {
        self.registrations.iter().find(|r| r.org == org)
    }
}

/// What a new event is.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    /// Its id ([`crate::record_id`]).
    pub id: &'a str,
    /// Title.
    pub title: &'a str,
    /// Start, ms.
    pub from: i64,
    /// End, ms.
    pub to: i64,
    /// Seats offered.
    pub seats: i64,
    /// Per-organisation limit.
    pub per_org: Option<i64>,
    /// The resource booked for it.
    pub resource: Option<&'a str>,
    /// That booking's id.
    pub booking: Option<&'a str>,
}

impl NewEvent<'_> {
    /// Whether [`Events::add`] would take it (checked before a room is
    /// booked for it).
    pub fn check(&self) -> Result<(), EventError> {
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(EventError::Title);
        }
        if self.to <= self.from {
            return Err(EventError::Times);
        }
        if !(1..=MAX_SEATS).contains(&self.seats) {
            return Err(EventError::Seats);
        }
        if let Some(p) = self.per_org
            && !(1..=self.seats).contains(&p)
        {
            return Err(EventError::PerOrg(self.seats));
        }
        Ok(())
    }
}

/// An event could not be added, or a registration made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum EventError {
    /// Empty or too long a title.
    #[error("an event needs a title of 1 to {MAX_TITLE} characters")]
    Title,
    /// End not after start.
    #[error("an event must end after it starts")]
    Times,
    /// Seats out of range.
    #[error("seats must be between 1 and {MAX_SEATS}")]
    Seats,
    /// Per-organisation limit out of range.
    #[error("--per-org must be between 1 and the event's seats ({0})")]
    PerOrg(i64),
    /// Too long a list of names.
    #[error("the names of the attendees must be at most {MAX_NAMES} characters")]
    Names,
    /// More seats than one organisation may hold.
    #[error("this event lets each organisation register at most {0} seats")]
    OverPerOrg(i64),
    /// More seats than the event has.
    #[error("this event has {0} seats in all")]
    OverSeats(i64),
    /// Registrations are closed.
    #[error("registrations for '{0}' are closed")]
    Closed(String),
    /// The event is over.
    #[error("'{0}' has already ended")]
    Past(String),
    /// Cancelling without a registration.
    #[error("this organisation is not registered for '{0}'")]
    NotRegistered(String),
    /// Closing someone else's event.
    #[error("only the organisation that organises '{0}' may close or open its registrations")]
    NotOrganiser(String),
    /// Unknown event.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// The events document.
#[derive(Debug)]
pub struct Events {
    doc: SharedDoc,
}

impl Events {
    /// Wraps an events document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind().base(), DocKind::Events);
        Self { doc }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    fn root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("events"))
    }

    /// Every event with its ranked registrations, soonest first.
    pub fn list(&self) -> Vec<Event> {
        let mut list: Vec<Event> = self
            .root()
            .children()
            .into_iter()
            .filter_map(|(id, r)| read_event(id, &r))
            .collect();
        list.sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
        list
    }

    /// One event, by id, id prefix or title.
    pub fn get(&self, query: &str) -> Result<Event, EventError> {
        let list = self.list();
        let id = resolve(
            query,
            list.iter().map(|e| (e.id.as_str(), e.title.as_str())),
            "event",
            "event list",
        )?;
        list.into_iter()
            .find(|e| e.id == id)
            .ok_or(EventError::Title)
    }

    /// Adds an event organised by `author`'s organisation.
    pub fn add(
        &mut self,
        author: &Author,
        now_ms: i64,
        new: &NewEvent<'_>,
    ) -> Result<(), EventError> {
        new.check()?;
        let title = new.title.trim();
        let root = self.doc.root_obj("events");
        let device = hex::encode(author.device);
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&root, new.id, ObjType::Map)?;
            tx.put(&obj, "title", title)?;
            tx.put(&obj, "from", ScalarValue::Int(new.from))?;
            tx.put(&obj, "to", ScalarValue::Int(new.to))?;
            tx.put(&obj, "seats", ScalarValue::Int(new.seats))?;
            if let Some(p) = new.per_org {
                tx.put(&obj, "per_org", ScalarValue::Int(p))?;
            }
            if let Some(r) = new.resource {
                tx.put(&obj, "resource", r)?;
            }
            if let Some(b) = new.booking {
                tx.put(&obj, "booking", b)?;
            }
            tx.put(&obj, "org", author.org.as_str())?;
            tx.put(&obj, "device", device.as_str())?;
            tx.put(&obj, "created_at", ScalarValue::Int(now_ms))?;
            tx.put_object(&obj, "registrations", ObjType::Map)?;
            Ok(())
        };
        // Writing plain keys into a map this document holds cannot fail.
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "event add");
        Ok(())
    }

    /// Registers `author`'s organisation for `seats` seats (replacing its
    /// registration, if it had one). Returns the event as it now stands.
    pub fn register(
        &mut self,
        author: &Author,
        now_ms: i64,
        event: &str,
        seats: i64,
        names: &str,
    ) -> Result<Event, EventError> {
        let event = self.get(event)?;
        if seats < 1 {
            return Err(EventError::Seats);
        }
        if names.chars().count() > MAX_NAMES {
            return Err(EventError::Names);
        }
        if let Some(p) = event.per_org
            && seats > p
        {
            return Err(EventError::OverPerOrg(p));
        }
        if seats > event.seats {
            return Err(EventError::OverSeats(event.seats));
        }
        if event.closed_at.is_some() {
            return Err(EventError::Closed(event.title));
        }
        if event.to <= now_ms {
            return Err(EventError::Past(event.title));
        }
        // Hybrid logical clock: never behind a registration this node knows.
        let latest = event.registrations.iter().map(|r| r.at).max();
        let fresh = now_ms.max(latest.map_or(i64::MIN, |l| l.saturating_add(1)));
        let at = match event.registration_of(&author.org) {
            Some(old) if seats <= old.seats => old.at,
            _ => fresh,
        };
        let Some(regs) = self.registrations_obj(&event.id) else {
            return Err(EventError::Title);
        };
        let device = hex::encode(author.device);
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&regs, author.org.as_str(), ObjType::Map)?;
            tx.put(&obj, "seats", ScalarValue::Int(seats))?;
            tx.put(&obj, "names", names)?;
            tx.put(&obj, "at", ScalarValue::Int(at))?;
            tx.put(&obj, "device", device.as_str())?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "event register");
        self.get(&event.id)
    }

    /// Withdraws `author`'s organisation's registration.
    pub fn cancel_registration(
        &mut self,
        author: &Author,
        now_ms: i64,
        event: &str,
    ) -> Result<Event, EventError> {
        let event = self.get(event)?;
        if event.registration_of(&author.org).is_none() {
            return Err(EventError::NotRegistered(event.title));
        }
        let Some(regs) = self.registrations_obj(&event.id) else {
            return Err(EventError::Title);
        };
        let _ = self.doc.write().delete(&regs, author.org.as_str());
        self.doc.commit(now_ms, "event cancel registration");
        self.get(&event.id)
    }

    /// Closes (`open: false`) or opens again the registrations of an event
    /// that `author`'s organisation organises.
    pub fn set_open(
        &mut self,
        author: &Author,
        now_ms: i64,
        event: &str,
        open: bool,
    ) -> Result<Event, EventError> {
        let event = self.get(event)?;
        if event.org != author.org {
            return Err(EventError::NotOrganiser(event.title));
        }
        let Some(obj) = self.root().child(&event.id).map(|r| r.obj().clone()) else {
            return Err(EventError::Title);
        };
        let tx = self.doc.write();
        let _ = if open {
            tx.delete(&obj, "closed_at")
        } else {
            tx.put(&obj, "closed_at", ScalarValue::Int(now_ms))
        };
        self.doc.commit(now_ms, "event close");
        self.get(&event.id)
    }

    fn registrations_obj(&self, event: &str) -> Option<automerge::ObjId> {
        self.root()
            .child(event)?
            .child("registrations")
            .map(|r| r.obj().clone())
    }
}

/// Reads one event; `None` for a record missing a field every event has.
fn read_event(id: String, r: &Record<'_>) -> Option<Event> {
    let seats = r.int("seats")?;
    let per_org = r.int("per_org");
    let closed_at = r.int("closed_at");
    let raw: Vec<(String, i64, String, i64)> = r
        .child("registrations")
        .map(|regs| {
            regs.children()
                .into_iter()
                .filter_map(|(org, reg)| {
                    let seats = reg.int("seats").filter(|s| *s >= 1)?;
                    Some((org, seats, reg.string("names"), reg.int("at")?))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Event {
        title: r.str("title")?,
        from: r.int("from")?,
        to: r.int("to")?,
        seats,
        per_org,
        resource: r.str("resource"),
        booking: r.str("booking"),
        org: r.str("org")?,
        created_at: r.int("created_at").unwrap_or_default(),
        closed_at,
        registrations: rank(seats, per_org, closed_at, raw),
        id,
    })
}

/// The seat rule (module documentation): ranks registrations and gives each
/// its status. A pure function of the registrations as a set.
pub fn rank(
    seats: i64,
    per_org: Option<i64>,
    closed_at: Option<i64>,
    mut raw: Vec<(String, i64, String, i64)>,
) -> Vec<Registration> {
    raw.sort_by(|a, b| (a.3, &a.0).cmp(&(b.3, &b.0)));
    let mut left = seats;
    raw.into_iter()
        .map(|(org, seats, names, at)| {
            let after_close = closed_at.is_some_and(|c| at > c);
            let fits = seats <= left && per_org.is_none_or(|p| seats <= p);
            let status = if fits && !after_close {
                left -= seats;
                RegistrationStatus::Confirmed
            } else {
                RegistrationStatus::Waiting
            };
            Registration {
                org,
                seats,
                names,
                at,
                status,
                after_close,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(org: &str, device: u8) -> Author {
        Author {
            device: [device; 32],
            org: org.into(),
        }
    }

    fn event(events: &mut Events, seats: i64, per_org: Option<i64>) -> String {
        let id = crate::record_id([7; 8], &[1; 32]);
        events
            .add(
                &author("a", 1),
                1_000,
                &NewEvent {
                    id: &id,
                    title: "Formation RGPD",
                    from: 10_000_000,
                    to: 20_000_000,
                    seats,
                    per_org,
                    resource: None,
                    booking: None,
                },
            )
            .unwrap();
        id
    }

    #[test]
    fn registrations_made_apart_rank_alike_and_a_cancellation_promotes() {
        let mut a = Events::new(SharedDoc::new(DocKind::Events, [1; 32]));
        let id = event(&mut a, 10, Some(6));
        a.register(&author("a", 1), 2_000, &id, 6, "").unwrap();
        let base = a.doc_mut().save();
        let mut b = Events::new(SharedDoc::load(DocKind::Events, [2; 32], [&base[..]]).unwrap());
        let mut c = Events::new(SharedDoc::load(DocKind::Events, [3; 32], [&base[..]]).unwrap());
        // Apart, each takes the last four seats.
        b.register(&author("b", 2), 3_000, &id, 4, "Ana, Bo")
            .unwrap();
        c.register(&author("c", 3), 3_500, &id, 4, "").unwrap();
        a.doc_mut().merge(c.doc_mut()).unwrap();
        a.doc_mut().merge(b.doc_mut()).unwrap();
        b.doc_mut().merge(a.doc_mut()).unwrap();
        let (ea, eb) = (a.get(&id).unwrap(), b.get(&id).unwrap());
        assert_eq!(ea, eb);
        let status: Vec<_> = ea
            .registrations
            .iter()
            .map(|r| (r.org.as_str(), r.status))
            .collect();
        assert_eq!(
            status,
            [
                ("a", RegistrationStatus::Confirmed),
                ("b", RegistrationStatus::Confirmed),
                ("c", RegistrationStatus::Waiting)
            ]
        );
        let after = b.cancel_registration(&author("b", 2), 4_000, &id).unwrap();
        assert_eq!(
            after.registration_of("c").map(|r| r.status),
            Some(RegistrationStatus::Confirmed)
        );
        assert!(after.registration_of("b").is_none());
    }

    #[test]
    fn a_registration_that_does_not_fit_does_not_hold_back_a_smaller_one() {
        let raw = vec![
            ("a".into(), 3, String::new(), 1),
            ("b".into(), 5, String::new(), 2),
            ("c".into(), 2, String::new(), 3),
        ];
        let ranked = rank(5, None, None, raw);
        let status: Vec<_> = ranked.iter().map(|r| r.status).collect();
        assert_eq!(
            status,
            [
                RegistrationStatus::Confirmed,
                RegistrationStatus::Waiting,
                RegistrationStatus::Confirmed
            ]
        );
    }

    #[test]
    fn over_the_limit_or_after_closing_is_never_confirmed() {
        let raw = vec![
            ("a".into(), 4, String::new(), 1),
            ("b".into(), 1, String::new(), 50),
        ];
        let ranked = rank(10, Some(3), Some(10), raw);
        assert!(
            ranked
                .iter()
                .all(|r| r.status == RegistrationStatus::Waiting)
        );
        assert!(ranked[1].after_close && !ranked[0].after_close);
    }

    #[test]
    fn fewer_seats_keep_the_place_more_go_to_the_end() {
        let mut a = Events::new(SharedDoc::new(DocKind::Events, [1; 32]));
        let id = event(&mut a, 10, None);
        a.register(&author("a", 1), 2_000, &id, 4, "").unwrap();
        a.register(&author("b", 2), 3_000, &id, 4, "").unwrap();
        let e = a.register(&author("a", 1), 4_000, &id, 2, "").unwrap();
        assert_eq!(e.registrations[0].org, "a");
        let e = a.register(&author("a", 1), 5_000, &id, 5, "").unwrap();
        assert_eq!(e.registrations[0].org, "b");
        assert_eq!(e.registration_of("a").map(|r| r.at), Some(5_000));
    }

    #[test]
    fn the_command_refuses_what_the_rule_would_leave_waiting() {
        let mut a = Events::new(SharedDoc::new(DocKind::Events, [1; 32]));
        let id = event(&mut a, 10, Some(3));
        assert_eq!(
            a.register(&author("b", 2), 2_000, &id, 4, ""),
            Err(EventError::OverPerOrg(3))
        );
        a.set_open(&author("a", 1), 3_000, &id, false).unwrap();
        assert!(matches!(
            a.register(&author("b", 2), 4_000, &id, 1, ""),
            Err(EventError::Closed(_))
        ));
        assert!(matches!(
            a.set_open(&author("b", 2), 4_000, &id, true),
            Err(EventError::NotOrganiser(_))
        ));
        assert!(matches!(
            a.register(&author("b", 2), 30_000_000, &id, 1, ""),
            Err(EventError::Closed(_) | EventError::Past(_))
        ));
    }
}
