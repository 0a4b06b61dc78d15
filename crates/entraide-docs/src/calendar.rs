//! Shared resources (rooms, vehicles, equipment) and their bookings.
//!
//! Schema (automerge):
//! ```text
//! { resources: { <id>: { name, kind, capacity?, location?, quota_minutes?, quota_period?,
//!                        approval, owner, created_at } },
//!   bookings:  { <resource id>: { <booking id>: { org, device, from, to, purpose, created_at,
//!                                                 series?, decision?, decision_reason?,
//!                                                 decided_by?, cancelled_by?, cancelled_at? } } } }
//! ```
//! Bookings are grouped by resource, so that reading one resource's calendar
//! never walks the others'.
//!
//! # The booking rule
//!
//! A node refuses a booking that overlaps one it knows. Two members who book
//! the same slot while apart can still overlap once they sync; then every node
//! decides the same way, from the synced data alone:
//!
//! 1. cancelled and declined bookings take no slot;
//! 2. the others are ranked: on a resource that needs approval, an approved
//!    booking ranks before a pending one; then the booking *created* earlier
//!    (`created_at`, a hybrid logical clock: never behind any booking the
//!    creating node knew), then the smaller id;
//! 3. in that order, a booking keeps its slot unless it overlaps one already
//!    kept; then it is a `conflict`, and `conflict_with` names the kept
//!    booking it overlaps first in rank.
//!
//! So the first to book keeps the room, whoever syncs first.
//!
//! # Finding free slots
//!
//! To rebook a booking that lost its slot, [`Calendar::free_slots`] proposes
//! the free slots of one resource with a given length, nearest to a given time
//! by start, before or after it (nearest first; of two equally near, the
//! earlier first). A slot is free when it overlaps no confirmed or pending
//! booking; quotas are not checked there ([`Calendar::book`] checks them).
//! Slots start on a quarter hour of local time (:00, :15, :30, :45) and last
//! exactly the given length. They are instants, so none starts in the hour the
//! clocks skip in spring, and both occurrences of the hour repeated in autumn
//! are offered. The search looks back at most [`FREE_SLOTS_DAYS_BEFORE`] days
//! and ahead at most [`FREE_SLOTS_DAYS_AFTER`] days.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::doc::Record;
use crate::lookup::{LookupError, resolve};
use crate::time::{format_time, local_to_ms, ms_to_local};
use crate::{Author, DocKind, SharedDoc};

/// Shortest booking, in minutes.
pub const MIN_BOOKING_MINUTES: i64 = 5;
/// Longest booking, in days.
pub const MAX_BOOKING_DAYS: i64 = 92;
/// Most occurrences of one repeated booking.
pub const MAX_REPEAT: u32 = 366;

/// Free slots start on multiples of this many minutes of local time.
pub const FREE_SLOT_STEP_MINUTES: i64 = 15;
/// [`Calendar::free_slots`] never proposes a slot starting more than this
/// many days before the time it searches around...
pub const FREE_SLOTS_DAYS_BEFORE: i64 = 7;
/// ...nor more than this many days after it.
pub const FREE_SLOTS_DAYS_AFTER: i64 = 366;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
const STEP_MS: i64 = FREE_SLOT_STEP_MINUTES * MINUTE_MS;

/// What a resource is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A meeting room.
    Room,
    /// A vehicle.
    Vehicle,
    /// Equipment (projector, tools...).
    Equipment,
    /// Anything else.
    Other,
}

impl ResourceKind {
    /// Every kind.
    pub const ALL: [ResourceKind; 4] = [Self::Room, Self::Vehicle, Self::Equipment, Self::Other];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Room => "room",
            Self::Vehicle => "vehicle",
            Self::Equipment => "equipment",
            Self::Other => "other",
        }
    }

    /// Parses a kind name.
    pub fn parse(name: &str) -> Result<Self, CalendarError> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .ok_or_else(|| CalendarError::Kind(name.to_owned()))
    }
}

/// The period a quota counts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaPeriod {
    /// Monday 00:00 to Monday 00:00, local time.
    Week,
    /// The 1st 00:00 to the next 1st, local time.
    Month,
}

/// How many hours each organisation may book a resource per period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Minutes per period.
    pub minutes: i64,
    /// The period.
    pub period: QuotaPeriod,
}

impl Quota {
    /// Parses `20h/week` or `6h/month`.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let bad = || CalendarError::QuotaFormat(text.to_owned());
        let (hours, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let hours: u32 = hours
            .trim()
            .strip_suffix('h')
            .ok_or_else(bad)?
            .trim()
            .parse()
            .map_err(|_| bad())?;
        if hours == 0 || hours > 744 {
            return Err(bad());
        }
        let period = match period.trim() {
            "week" => QuotaPeriod::Week,
            "month" => QuotaPeriod::Month,
            _ => return Err(bad()),
        };
        Ok(Self {
            minutes: i64::from(hours) * 60,
            period,
        })
    }

    /// `20h/week`.
    pub fn to_text(self) -> String {
        let period = match self.period {
            QuotaPeriod::Week => "week",
            QuotaPeriod::Month => "month",
        };
        format!("{}h/{period}", self.minutes / 60)
    }

    /// The period containing `ms`, as `[start, end)` in ms, in `zone`.
    pub fn period_of(self, ms: i64, zone: Tz) -> (i64, i64) {
        let day = ms_to_local(ms, zone).date();
        let (start, end) = match self.period {
            QuotaPeriod::Week => {
                let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
                (monday, monday + Duration::days(7))
            }
            QuotaPeriod::Month => {
                let first = day.with_day(1).unwrap_or(day);
                let next = if first.month() == 12 {
                    NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
                };
                (first, next.unwrap_or(first))
            }
        };
        let at_midnight = |d: NaiveDate| {
            // Midnight exists in every zone we know of; if not, take 01:00.
            local_to_ms(d.and_time(NaiveTime::MIN), zone)
                .or_else(|| local_to_ms(d.and_hms_opt(1, 0, 0).unwrap_or_default(), zone))
                .unwrap_or(ms)
        };
        (at_midnight(start), at_midnight(end))
    }
}

/// A shared resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Its id.
    pub id: String,
    /// Its name ("Salle Victor Horta").
    pub name: String,
    /// Its kind.
    pub kind: ResourceKind,
    /// How many people it takes.
    pub capacity: Option<u32>,
    /// Where it is.
    pub location: Option<String>,
    /// Hours each organisation may book per period.
    pub quota: Option<Quota>,
    /// Whether bookings wait for the owner's approval.
    pub approval: bool,
    /// The organisation that owns it.
    pub owner: String,
    /// When it was added.
    pub created_at: i64,
}

/// A new resource.
#[derive(Clone, Debug)]
pub struct NewResource<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its kind.
    pub kind: ResourceKind,
    /// Capacity.
    pub capacity: Option<u32>,
    /// Location.
    pub location: Option<&'a str>,
    /// Quota.
    pub quota: Option<Quota>,
    /// Approval needed.
    pub approval: bool,
}

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BookingStatus {
    /// It holds its slot.
    Confirmed,
    /// It holds its slot and waits for the owner's approval.
    Pending,
    /// It overlaps a booking that ranks before it (see the module docs).
    Conflict,
    /// Cancelled by its organisation or a coordinator.
    Cancelled,
    /// Declined by the owning organisation.
    Declined,
}

impl BookingStatus {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Pending => "pending",
            Self::Conflict => "conflict",
            Self::Cancelled => "cancelled",
            Self::Declined => "declined",
        }
    }
}

/// A booking with its computed status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    /// Its id.
    pub id: String,
    /// The resource's id.
    pub resource: String,
    /// The booking organisation.
    pub org: String,
    /// The device that made it, hex.
    pub device: String,
    /// Start, ms since the epoch.
    pub from: i64,
    /// End (exclusive), ms since the epoch.
    pub to: i64,
    /// Why.
    pub purpose: String,
    /// When it was made (hybrid logical clock, ms).
    pub created_at: i64,
    /// The repeated series it belongs to.
    pub series: Option<String>,
    /// Its status.
    pub status: BookingStatus,
    /// For a conflict: the booking that keeps the slot.
    pub conflict_with: Option<String>,
    /// Why it was declined or cancelled, if said.
    pub reason: Option<String>,
}

/// A slot to book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBooking {
    /// The booking's id.
    pub id: String,
    /// Start.
    pub from: i64,
    /// End.
    pub to: i64,
}

/// A resource or booking could not be added or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Unknown resource kind.
    #[error("unknown resource kind '{0}'; use room, vehicle, equipment or other")]
    Kind(String),
    /// Bad quota text.
    #[error("'{0}' is not a quota; write hours per week or month, e.g. 20h/week or 6h/month")]
    QuotaFormat(String),
    /// Bad name.
    #[error("a resource needs a name of 1 to 200 characters")]
    Name,
    /// Name taken.
    #[error("a resource named '{0}' already exists; choose another name")]
    DuplicateName(String),
    /// Capacity 0.
    #[error("capacity must be at least 1")]
    Capacity,
    /// End not after start.
    #[error(
        "the booking ends ({to}) before or when it starts ({from}); give an end after the start"
    )]
    EndBeforeStart {
        /// Start, formatted.
        from: String,
        /// End, formatted.
        to: String,
    },
    /// Too short.
    #[error("a booking must last at least {MIN_BOOKING_MINUTES} minutes")]
    TooShort,
    /// Too long.
    #[error("a booking may last at most {MAX_BOOKING_DAYS} days; book a shorter slot or repeat it")]
    TooLong,
    /// Bad repeat count.
    #[error("--count must be between 1 and {MAX_REPEAT}")]
    RepeatCount,
    /// Overlap with a known booking.
    #[error(
        "{resource} is already booked by {org} from {from} to {to} (booking {id}); pick another slot (`entraide bookings --resource {resource}`)"
    )]
    Overlap {
        /// The resource's name.
        resource: String,
        /// The other booking's id.
        id: String,
        /// Its organisation.
        org: String,
        /// Its start, formatted.
        from: String,
        /// Its end, formatted.
        to: String,
    },
    /// Quota exceeded.
    #[error(
        "this would bring {org} to {booked_minutes} minutes on {resource} in the {period} starting {period_start}, over its quota of {quota}; book less or ask the owner"
    )]
    Quota {
        /// The resource's name.
        resource: String,
        /// The organisation.
        org: String,
        /// Minutes it would have booked.
        booked_minutes: i64,
        /// The quota.
        quota: String,
        /// "week" or "month".
        period: &'static str,
        /// Start of the period, formatted.
        period_start: String,
    },
    /// Unknown resource or booking.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// Not allowed for this organisation.
    #[error("{0}")]
    NotAllowed(String),
    /// Already cancelled or declined.
    #[error("booking {0} is already {1}; nothing changed")]
    Closed(String, &'static str),
    /// Approve/decline on something not pending.
    #[error("booking {0} is not waiting for approval; nothing changed")]
    NotPending(String),
}

/// The calendar document.
#[derive(Debug)]
pub struct Calendar {
    doc: SharedDoc,
}

impl Calendar {
    /// Wraps a calendar document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind(), DocKind::Calendar);
        Self { doc }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    fn resources_root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("resources"))
    }

    fn bookings_root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("bookings"))
    }

    /// Every resource, oldest first.
    pub fn resources(&self) -> Vec<Resource> {
        let mut list: Vec<Resource> = self
            .resources_root()
            .children()
            .into_iter()
            .map(|(id, r)| read_resource(id, &r))
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }

    /// One resource by id, id prefix or name.
    pub fn resource(&self, query: &str) -> Result<Resource, CalendarError> {
        let list = self.resources();
        let id = resolve(
            query,
            list.iter().map(|r| (r.id.as_str(), r.name.as_str())),
            "resource",
            "resource list",
        )?;
        list.into_iter()
            .find(|r| r.id == id)
            .ok_or(CalendarError::Name)
    }

    /// Adds a resource owned by `author`'s organisation.
    pub fn add_resource(
        &mut self,
        author: &Author,
        now_ms: i64,
        new: NewResource<'_>,
    ) -> Result<(), CalendarError> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(CalendarError::Name);
        }
        if self
            .resources()
            .iter()
            .any(|r| r.name.eq_ignore_ascii_case(name))
        {
            return Err(CalendarError::DuplicateName(name.to_owned()));
        }
        if new.capacity == Some(0) {
            return Err(CalendarError::Capacity);
        }
        let resources = self.doc.root_obj("resources");
        let bookings = self.doc.root_obj("bookings");
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&resources, new.id, ObjType::Map)?;
            tx.put(&obj, "name", name)?;
            tx.put(&obj, "kind", new.kind.name())?;
            if let Some(c) = new.capacity {
                tx.put(&obj, "capacity", ScalarValue::Int(i64::from(c)))?;
            }
            if let Some(l) = new.location.map(str::trim).filter(|l| !l.is_empty()) {
                tx.put(&obj, "location", l)?;
            }
            if let Some(q) = new.quota {
                tx.put(&obj, "quota", q.to_text())?;
            }
            tx.put(&obj, "approval", new.approval)?;
            tx.put(&obj, "owner", author.org.as_str())?;
            tx.put(&obj, "created_at", ScalarValue::Int(now_ms))?;
            tx.put_object(&bookings, new.id, ObjType::Map)?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "resource add");
        Ok(())
    }

    /// The stored bookings of one resource, without statuses.
    fn raw_bookings(&self, resource: &str) -> Vec<RawBooking> {
        let Some(map) = self.bookings_root().child(resource) else {
            return Vec::new();
        };
        map.children()
            .into_iter()
            .map(|(id, r)| RawBooking {
                id,
                resource: resource.to_owned(),
                org: r.string("org"),
                device: r.string("device"),
                from: r.int("from").unwrap_or_default(),
                to: r.int("to").unwrap_or_default(),
                purpose: r.string("purpose"),
                created_at: r.int("created_at").unwrap_or_default(),
                series: r.str("series"),
                decision: r.str("decision"),
                reason: r.str("decision_reason").or_else(|| r.str("cancel_reason")),
                cancelled: r.str("cancelled_by").is_some(),
            })
            .collect()
    }

    /// The bookings of one resource (or of all), with the status every node
    /// computes the same way (see the module docs), sorted by start.
    pub fn bookings(&self, resource: Option<&str>) -> Vec<Booking> {
        let resources: Vec<Resource> = match resource {
            Some(id) => self
                .resources()
                .into_iter()
                .filter(|r| r.id == id)
                .collect(),
            None => self.resources(),
        };
        let mut out = Vec::new();
        for r in &resources {
            out.extend(rank(r, self.raw_bookings(&r.id)));
        }
        out.sort_by(|a, b| (a.from, &a.resource, &a.id).cmp(&(b.from, &b.resource, &b.id)));
        out
    }

    /// One booking by id or id prefix.
    pub fn booking(&self, query: &str) -> Result<Booking, CalendarError> {
        let all = self.bookings(None);
        let id = resolve(
            query,
            all.iter().map(|b| (b.id.as_str(), "")),
            "booking",
            "bookings",
        )?;
        all.into_iter()
            .find(|b| b.id == id)
            .ok_or(CalendarError::Name)
    }

    /// The `count` free slots of a resource (id, id prefix or name) lasting
    /// exactly `length_ms`, nearest to `around_ms` by start, nearest first (of
    /// two equally near, the earlier first), as `(from, to)`; see "Finding free
    /// slots" in the module docs. Empty when the resource is unknown, when
    /// `count` is 0, or when no booking may last `length_ms`.
    pub fn free_slots(
        &self,
        resource_id: &str,
        length_ms: i64,
        around_ms: i64,
        zone: Tz,
        count: usize,
    ) -> Vec<(i64, i64)> {
        let Ok(resource) = self.resource(resource_id) else {
            return Vec::new();
        };
        if count == 0 || check_length(0, length_ms, zone).is_err() {
            return Vec::new();
        }
        let mut held: Vec<(i64, i64)> = rank(&resource, self.raw_bookings(&resource.id))
            .iter()
            .filter(|b| matches!(b.status, BookingStatus::Confirmed | BookingStatus::Pending))
            .map(|b| (b.from, b.to))
            .collect();
        held.sort_unstable();
        // Disjoint busy intervals, in order.
        let mut busy: Vec<(i64, i64)> = Vec::with_capacity(held.len());
        for (from, to) in held {
            match busy.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => busy.push((from, to)),
            }
        }
        // The first busy interval that a slot starting at `s` overlaps.
        let clash = |s: i64| {
            let i = busy.partition_point(|b| b.1 <= s);
            busy.get(i)
                .copied()
                .filter(|b| b.0 < s.saturating_add(length_ms))
        };
        let on_step = |s: i64| {
            zone.timestamp_millis_opt(s).single().is_some_and(|t| {
                let local = t.naive_local();
                i64::from(local.minute()) % FREE_SLOT_STEP_MINUTES == 0
                    && local.second() == 0
                    && local.nanosecond() == 0
            })
        };
        // Instants are taken on multiples of the step since the epoch: in
        // every zone whose offset is a multiple of the step (all of them
        // today), these are exactly the quarter hours of local time.
        let floor = |ms: i64| ms.div_euclid(STEP_MS).saturating_mul(STEP_MS);

        // Starting at or after `around_ms`, nearest first.
        let latest = around_ms.saturating_add(FREE_SLOTS_DAYS_AFTER * DAY_MS);
        let mut after = Vec::new();
        let mut s = floor(around_ms);
        if s < around_ms {
            s = s.saturating_add(STEP_MS);
        }
        while after.len() < count && s >= around_ms && s <= latest {
            let next = match clash(s) {
                // Every start before the busy interval's end overlaps it.
                Some((_, to)) => floor(to.saturating_sub(1)).saturating_add(STEP_MS),
                None => {
                    if on_step(s) {
                        after.push(s);
                    }
                    s.saturating_add(STEP_MS)
                }
            };
            if next <= s {
                break;
            }
            s = next;
        }

        // Starting before `around_ms`, nearest first.
        let earliest = around_ms.saturating_sub(FREE_SLOTS_DAYS_BEFORE * DAY_MS);
        let mut before = Vec::new();
        let mut s = floor(around_ms.saturating_sub(1));
        while before.len() < count && s < around_ms && s >= earliest {
            let next = match clash(s) {
                // Every start after the busy interval's start minus the
                // length overlaps it.
                Some((from, _)) => floor(from.saturating_sub(length_ms)),
                None => {
                    if on_step(s) {
                        before.push(s);
                    }
                    s.saturating_sub(STEP_MS)
                }
            };
            if next >= s {
                break;
            }
            s = next;
        }

        let (mut after, mut before) = (after.into_iter().peekable(), before.into_iter().peekable());
        let mut out = Vec::new();
        while out.len() < count {
            let take_after = match (after.peek(), before.peek()) {
                (Some(&a), Some(&b)) => a - around_ms < around_ms - b,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let start = if take_after {
                after.next()
            } else {
                before.next()
            };
            if let Some(start) = start {
                out.push((start, start.saturating_add(length_ms)));
            }
        }
        out
    }

    /// Books `slots` of a resource for `author`'s organisation, all or none:
    /// refused when one overlaps a booking this node knows that holds its
    /// slot, or would bring the organisation over the resource's quota.
    // Every argument is a distinct input the caller passes in (this crate has
    // no clock or context of its own); the signature is used by other crates.
    #[allow(clippy::too_many_arguments)]
    pub fn book(
        &mut self,
        author: &Author,
        now_ms: i64,
        resource_id: &str,
        slots: &[NewBooking],
        purpose: &str,
        series: Option<&str>,
        zone: Tz,
    ) -> Result<(), CalendarError> {
        let resource = self.resource(resource_id)?;
        if slots.is_empty() || slots.len() > MAX_REPEAT as usize {
            return Err(CalendarError::RepeatCount);
        }
        let existing = rank(&resource, self.raw_bookings(&resource.id));
        let holding: Vec<&Booking> = existing
            .iter()
            .filter(|b| matches!(b.status, BookingStatus::Confirmed | BookingStatus::Pending))
            .collect();
        for (i, slot) in slots.iter().enumerate() {
            check_length(slot.from, slot.to, zone)?;
            let clash = holding
                .iter()
                .map(|b| (b.id.as_str(), b.org.as_str(), b.from, b.to))
                .chain(
                    slots[..i]
                        .iter()
                        .map(|s| (s.id.as_str(), author.org.as_str(), s.from, s.to)),
                )
                .find(|(_, _, from, to)| slot.from < *to && *from < slot.to);
            if let Some((id, org, from, to)) = clash {
                return Err(CalendarError::Overlap {
                    resource: resource.name.clone(),
                    id: id.to_owned(),
                    org: org.to_owned(),
                    from: format_time(from, zone),
                    to: format_time(to, zone),
                });
            }
        }
        if let Some(quota) = resource.quota {
            check_quota(&resource, quota, &author.org, &holding, slots, zone)?;
        }
        // Hybrid logical clock: never behind a booking this node knows.
        let latest = existing
            .iter()
            .map(|b| b.created_at)
            .max()
            .unwrap_or(i64::MIN);
        let created_at = now_ms.max(latest.saturating_add(1));
        let device_hex: String = author.device.iter().map(|b| format!("{b:02x}")).collect();
        let bookings_root = self.doc.root_obj("bookings");
        let parent = match self.bookings_root().child(&resource.id) {
            Some(r) => r.obj().clone(),
            None => {
                let Ok(obj) =
                    self.doc
                        .write()
                        .put_object(&bookings_root, resource.id.as_str(), ObjType::Map)
                else {
                    return Err(CalendarError::Name);
                };
                obj
            }
        };
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            for slot in slots {
                let obj = tx.put_object(&parent, slot.id.as_str(), ObjType::Map)?;
                tx.put(&obj, "org", author.org.as_str())?;
                tx.put(&obj, "device", device_hex.as_str())?;
                tx.put(&obj, "from", ScalarValue::Int(slot.from))?;
                tx.put(&obj, "to", ScalarValue::Int(slot.to))?;
                tx.put(&obj, "purpose", purpose)?;
                tx.put(&obj, "created_at", ScalarValue::Int(created_at))?;
                if let Some(s) = series {
                    tx.put(&obj, "series", s)?;
                }
            }
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "book");
        Ok(())
    }

    fn booking_obj(&self, booking: &Booking) -> Option<automerge::ObjId> {
        self.bookings_root()
            .child(&booking.resource)?
            .child(&booking.id)
            .map(|r| r.obj().clone())
    }

    /// Cancels a booking. Only its organisation, or a coordinator
    /// (`is_coordinator`), may.
    pub fn cancel(
        &mut self,
        author: &Author,
        is_coordinator: bool,
        now_ms: i64,
        query: &str,
    ) -> Result<Booking, CalendarError> {
        let booking = self.booking(query)?;
        if booking.org != author.org && !is_coordinator {
            return Err(CalendarError::NotAllowed(format!(
                "booking {} belongs to another organisation; only it or a coordinator may cancel it",
                booking.id
            )));
        }
        if matches!(
            booking.status,
            BookingStatus::Cancelled | BookingStatus::Declined
        ) {
            return Err(CalendarError::Closed(booking.id, booking.status.name()));
        }
        let Some(obj) = self.booking_obj(&booking) else {
            return Err(CalendarError::Name);
        };
        let tx = self.doc.write();
        let _ = tx.put(&obj, "cancelled_by", author.org.as_str());
        let _ = tx.put(&obj, "cancelled_at", ScalarValue::Int(now_ms));
        self.doc.commit(now_ms, "cancel");
        Ok(booking)
    }

    /// Approves (`approve = true`) or declines a pending booking of a
    /// resource that `author`'s organisation owns.
    pub fn decide(
        &mut self,
        author: &Author,
        now_ms: i64,
        query: &str,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<Booking, CalendarError> {
        let booking = self.booking(query)?;
        let resource = self.resource(&booking.resource)?;
        if resource.owner != author.org {
            return Err(CalendarError::NotAllowed(format!(
                "only the organisation that owns {} may approve or decline its bookings",
                resource.name
            )));
        }
        let raw = self.raw_bookings(&resource.id);
        let decided = raw
            .iter()
            .any(|b| b.id == booking.id && b.decision.is_some());
        if !resource.approval || decided || matches!(booking.status, BookingStatus::Cancelled) {
            return Err(CalendarError::NotPending(booking.id));
        }
        let Some(obj) = self.booking_obj(&booking) else {
            return Err(CalendarError::Name);
        };
        let tx = self.doc.write();
        let _ = tx.put(
            &obj,
            "decision",
            if approve { "approved" } else { "declined" },
        );
        let _ = tx.put(&obj, "decided_by", author.org.as_str());
        if let Some(r) = reason.map(str::trim).filter(|r| !r.is_empty()) {
            let _ = tx.put(&obj, "decision_reason", r);
        }
        self.doc
            .commit(now_ms, if approve { "approve" } else { "decline" });
        Ok(booking)
    }
}

/// Checks a booking's length.
pub fn check_length(from: i64, to: i64, zone: Tz) -> Result<(), CalendarError> {
    if to <= from {
        return Err(CalendarError::EndBeforeStart {
            from: format_time(from, zone),
            to: format_time(to, zone),
        });
    }
    if to - from < MIN_BOOKING_MINUTES * MINUTE_MS {
        return Err(CalendarError::TooShort);
    }
    if to - from > MAX_BOOKING_DAYS * 24 * 60 * MINUTE_MS {
        return Err(CalendarError::TooLong);
    }
    Ok(())
}

/// How a booking repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Every day at the same local time.
    Daily,
    /// Every week at the same local time.
    Weekly,
}

/// The `count` occurrences of a slot repeated daily or weekly, keeping the
/// local wall-clock times across daylight-saving changes. An occurrence whose
/// local start or end does not exist is refused.
pub fn repeat_slots(
    from: i64,
    to: i64,
    repeat: Repeat,
    count: u32,
    zone: Tz,
) -> Result<Vec<(i64, i64)>, CalendarError> {
    if count == 0 || count > MAX_REPEAT {
        return Err(CalendarError::RepeatCount);
    }
    let step = match repeat {
        Repeat::Daily => Duration::days(1),
        Repeat::Weekly => Duration::days(7),
    };
    let (start, end) = (ms_to_local(from, zone), ms_to_local(to, zone));
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..i64::from(count) {
        let shift = step * i32::try_from(i).unwrap_or(i32::MAX);
        let (s, e) = (start + shift, end + shift);
        match (local_to_ms(s, zone), local_to_ms(e, zone)) {
            (Some(s), Some(e)) => out.push((s, e)),
            _ => {
                return Err(CalendarError::NotAllowed(format!(
                    "occurrence {} ({s}) falls in an hour the clocks skip in {}; pick another time",
                    i + 1,
                    zone.name()
                )));
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
struct RawBooking {
    id: String,
    resource: String,
    org: String,
    device: String,
    from: i64,
    to: i64,
    purpose: String,
    created_at: i64,
    series: Option<String>,
    decision: Option<String>,
    reason: Option<String>,
    cancelled: bool,
}

fn read_resource(id: String, r: &Record<'_>) -> Resource {
    Resource {
        id,
        name: r.string("name"),
        kind: ResourceKind::parse(&r.string("kind")).unwrap_or(ResourceKind::Other),
        capacity: r.int("capacity").and_then(|c| u32::try_from(c).ok()),
        location: r.str("location"),
        quota: r.str("quota").and_then(|q| Quota::parse(&q).ok()),
        approval: r.bool("approval"),
        owner: r.string("owner"),
        created_at: r.int("created_at").unwrap_or_default(),
    }
}

/// Applies the booking rule to one resource's bookings.
fn rank(resource: &Resource, raw: Vec<RawBooking>) -> Vec<Booking> {
    let mut order: Vec<&RawBooking> = raw.iter().collect();
    let approved = |b: &RawBooking| b.decision.as_deref() == Some("approved");
    order.sort_by(|a, b| {
        let class = |x: &RawBooking| u8::from(resource.approval && !approved(x));
        (class(a), a.created_at, &a.id).cmp(&(class(b), b.created_at, &b.id))
    });
    let mut kept: Vec<&RawBooking> = Vec::new();
    let mut status: BTreeMap<&str, (BookingStatus, Option<String>)> = BTreeMap::new();
    for b in order {
        let s = if b.cancelled {
            (BookingStatus::Cancelled, None)
        } else if b.decision.as_deref() == Some("declined") {
            (BookingStatus::Declined, None)
        } else if let Some(winner) = kept.iter().find(|k| b.from < k.to && k.from < b.to) {
            (BookingStatus::Conflict, Some(winner.id.clone()))
        } else {
            kept.push(b);
            if resource.approval && !approved(b) {
                (BookingStatus::Pending, None)
            } else {
                (BookingStatus::Confirmed, None)
            }
        };
        status.insert(b.id.as_str(), s);
    }
    raw.iter()
        .map(|b| {
            let (status, conflict_with) = status
                .get(b.id.as_str())
                .cloned()
                .unwrap_or((BookingStatus::Conflict, None));
            Booking {
                id: b.id.clone(),
                resource: b.resource.clone(),
                org: b.org.clone(),
                device: b.device.clone(),
                from: b.from,
                to: b.to,
                purpose: b.purpose.clone(),
                created_at: b.created_at,
                series: b.series.clone(),
                status,
                conflict_with,
                reason: b.reason.clone(),
            }
        })
        .collect()
}

fn check_quota(
    resource: &Resource,
    quota: Quota,
    org: &str,
    holding: &[&Booking],
    slots: &[NewBooking],
    zone: Tz,
) -> Result<(), CalendarError> {
    // A booking counts in the period in which it starts.
    let mut per_period: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for b in holding.iter().filter(|b| b.org == org) {
        *per_period.entry(quota.period_of(b.from, zone)).or_default() +=
            (b.to - b.from) / MINUTE_MS;
    }
    for s in slots {
        let period = quota.period_of(s.from, zone);
        let total = per_period.entry(period).or_default();
        *total += (s.to - s.from) / MINUTE_MS;
        if *total > quota.minutes {
            return Err(CalendarError::Quota {
                resource: resource.name.clone(),
                org: org.to_owned(),
                booked_minutes: *total,
                quota: quota.to_text(),
                period: match quota.period {
                    QuotaPeriod::Week => "week",
                    QuotaPeriod::Month => "month",
                },
                period_start: format_time(period.0, zone),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_time;

    const BXL: Tz = chrono_tz::Europe::Brussels;

    fn author(org: &str, device: u8) -> Author {
        Author {
            device: [device; 32],
            org: org.into(),
        }
    }

    fn t(s: &str) -> i64 {
        parse_time(s, BXL).unwrap()
    }

    fn slot(id: &str, from: &str, to: &str) -> Vec<NewBooking> {
        vec![NewBooking {
            id: id.into(),
            from: t(from),
            to: t(to),
        }]
    }

    fn calendar_with_room(quota: Option<Quota>, approval: bool) -> Calendar {
        let mut cal = Calendar::new(SharedDoc::new(DocKind::Calendar, [1; 32]));
        cal.add_resource(
            &author("org-a", 1),
            1,
            NewResource {
                id: "room1",
                name: "Salle Horta",
                kind: ResourceKind::Room,
                capacity: Some(12),
                location: Some("Rue Haute 1"),
                quota,
                approval,
            },
        )
        .unwrap();
        cal
    }

    #[test]
    fn overlap_is_refused_and_adjacent_is_fine() {
        let mut cal = calendar_with_room(None, false);
        let a = author("org-a", 1);
        cal.book(
            &a,
            10,
            "Salle Horta",
            &slot("b1", "2026-06-01T10:00", "2026-06-01T12:00"),
            "AG",
            None,
            BXL,
        )
        .unwrap();
        let err = cal
            .book(
                &a,
                11,
                "room1",
                &slot("b2", "2026-06-01T11:00", "2026-06-01T13:00"),
                "",
                None,
                BXL,
            )
            .unwrap_err();
        assert!(
            matches!(err, CalendarError::Overlap { ref id, .. } if id == "b1"),
            "{err}"
        );
        cal.book(
            &a,
            12,
            "room1",
            &slot("b3", "2026-06-01T12:00", "2026-06-01T13:00"),
            "",
            None,
            BXL,
        )
        .unwrap();
        assert_eq!(cal.bookings(Some("room1")).len(), 2);
    }

    #[test]
    fn bad_lengths() {
        let mut cal = calendar_with_room(None, false);
        let a = author("org-a", 1);
        for (from, to) in [
            ("2026-06-01T10:00", "2026-06-01T09:00"),
            ("2026-06-01T10:00", "2026-06-01T10:00"),
            ("2026-06-01T10:00", "2036-06-01T10:00"),
        ] {
            assert!(
                cal.book(&a, 1, "room1", &slot("x", from, to), "", None, BXL)
                    .is_err()
            );
        }
        assert!(cal.bookings(None).is_empty());
    }

    #[test]
    fn quota_counts_per_org_and_week() {
        let mut cal = calendar_with_room(Some(Quota::parse("3h/week").unwrap()), false);
        let a = author("org-a", 1);
        let b = author("org-b", 2);
        cal.book(
            &a,
            1,
            "room1",
            &slot("b1", "2026-06-01T08:00", "2026-06-01T10:00"),
            "",
            None,
            BXL,
        )
        .unwrap();
        let err = cal
            .book(
                &a,
                2,
                "room1",
                &slot("b2", "2026-06-03T08:00", "2026-06-03T10:00"),
                "",
                None,
                BXL,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                CalendarError::Quota {
                    booked_minutes: 240,
                    ..
                }
            ),
            "{err}"
        );
        // Another organisation, and next week, are fine.
        cal.book(
            &b,
            3,
            "room1",
            &slot("b3", "2026-06-03T08:00", "2026-06-03T10:00"),
            "",
            None,
            BXL,
        )
        .unwrap();
        cal.book(
            &a,
            4,
            "room1",
            &slot("b4", "2026-06-08T08:00", "2026-06-08T10:00"),
            "",
            None,
            BXL,
        )
        .unwrap();
    }

    #[test]
    fn concurrent_overlaps_resolve_the_same_everywhere() {
        let mut a = calendar_with_room(None, false);
        let base = a.doc_mut().save();
        let mut b =
            Calendar::new(SharedDoc::load(DocKind::Calendar, [2; 32], [&base[..]]).unwrap());
        a.book(
            &author("org-a", 1),
            100,
            "room1",
            &slot("ba", "2026-06-01T10:00", "2026-06-01T12:00"),
            "",
            None,
            BXL,
        )
        .unwrap();
        b.book(
            &author("org-b", 2),
            90,
            "room1",
            &slot("bb", "2026-06-01T11:00", "2026-06-01T13:00"),
            "",
            None,
            BXL,
        )
        .unwrap();
        let mut fa = a.doc_mut().fork();
        let mut fb = b.doc_mut().fork();
        a.doc_mut().merge(&mut fb).unwrap();
        b.doc_mut().merge(&mut fa).unwrap();
        let (la, lb) = (a.bookings(None), b.bookings(None));
        assert_eq!(la, lb);
        let loser = la.iter().find(|x| x.id == "ba").unwrap();
        assert_eq!(loser.status, BookingStatus::Conflict);
        assert_eq!(loser.conflict_with.as_deref(), Some("bb"));
    }

    #[test]
    fn approval_flow() {
        let mut cal = calendar_with_room(None, true);
        cal.book(
            &author("org-b", 2),
            5,
            "room1",
            &slot("b1", "2026-06-01T10:00", "2026-06-01T12:00"),
            "",
            None,
            BXL,
        )
        .unwrap();
        assert_eq!(cal.booking("b1").unwrap().status, BookingStatus::Pending);
        assert!(
            cal.decide(&author("org-b", 2), 6, "b1", true, None)
                .is_err()
        );
        cal.decide(&author("org-a", 1), 7, "b1", true, None)
            .unwrap();
        assert_eq!(cal.booking("b1").unwrap().status, BookingStatus::Confirmed);
        assert!(cal.cancel(&author("org-c", 3), false, 8, "b1").is_err());
        cal.cancel(&author("org-b", 2), false, 9, "b1").unwrap();
        assert_eq!(cal.booking("b1").unwrap().status, BookingStatus::Cancelled);
    }

    #[test]
    fn weekly_repeat_keeps_local_time_across_dst() {
        let slots = repeat_slots(
            t("2026-03-22T10:00"),
            t("2026-03-22T11:00"),
            Repeat::Weekly,
            2,
            BXL,
        )
        .unwrap();
        assert_eq!(format_time(slots[1].0, BXL), "2026-03-29T10:00:00+02:00");
        assert!(
            repeat_slots(
                t("2026-03-28T02:30"),
                t("2026-03-28T03:30"),
                Repeat::Daily,
                2,
                BXL
            )
            .is_err()
        );
    }

    fn starts(slots: &[(i64, i64)], zone: Tz) -> Vec<String> {
        slots.iter().map(|&(s, _)| format_time(s, zone)).collect()
    }

    fn book_slot(cal: &mut Calendar, id: &str, from: &str, to: &str) {
        cal.book(
            &author("org-b", 2),
            1,
            "room1",
            &slot(id, from, to),
            "",
            None,
            BXL,
        )
        .unwrap();
    }

    #[test]
    fn free_slots_nearest_first() {
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T12:00");
        let hour = 60 * MINUTE_MS;
        let slots = cal.free_slots("room1", hour, t("2026-06-01T10:00"), BXL, 6);
        assert!(slots.iter().all(|&(s, e)| e - s == hour));
        // 08:00 and 12:00 are equally near: the earlier comes first.
        assert_eq!(
            starts(&slots, BXL),
            [
                "2026-06-01T09:00:00+02:00",
                "2026-06-01T08:45:00+02:00",
                "2026-06-01T08:30:00+02:00",
                "2026-06-01T08:15:00+02:00",
                "2026-06-01T08:00:00+02:00",
                "2026-06-01T12:00:00+02:00",
            ]
        );
        // By name too; off the quarter hour, the nearest quarter hours.
        let slots = cal.free_slots("Salle Horta", hour, t("2026-06-01T13:07"), BXL, 2);
        assert_eq!(
            starts(&slots, BXL),
            ["2026-06-01T13:00:00+02:00", "2026-06-01T13:15:00+02:00"]
        );
    }

    #[test]
    fn free_slots_ignore_what_holds_no_slot() {
        let mut cal = calendar_with_room(None, true);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T11:00");
        book_slot(&mut cal, "b2", "2026-06-01T11:00", "2026-06-01T12:00");
        book_slot(&mut cal, "b3", "2026-06-01T12:00", "2026-06-01T13:00");
        cal.cancel(&author("org-b", 2), false, 2, "b1").unwrap();
        cal.decide(&author("org-a", 1), 3, "b3", false, None)
            .unwrap();
        // b2 is pending: it holds its slot; b1 is cancelled, b3 declined.
        let half = 30 * MINUTE_MS;
        let slots = cal.free_slots("room1", half, t("2026-06-01T11:00"), BXL, 4);
        assert_eq!(
            starts(&slots, BXL),
            [
                "2026-06-01T10:30:00+02:00",
                "2026-06-01T10:15:00+02:00",
                "2026-06-01T10:00:00+02:00",
                "2026-06-01T12:00:00+02:00",
            ]
        );
    }

    #[test]
    fn free_slots_bounds_and_nonsense() {
        let hour = 60 * MINUTE_MS;
        let around = t("2026-06-08T10:00");
        // Busy from just after a week before until July: the slot starting
        // exactly a week before is the nearest.
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T11:00", "2026-07-01T10:00");
        assert_eq!(
            starts(&cal.free_slots("room1", hour, around, BXL, 1), BXL),
            ["2026-06-01T10:00:00+02:00"]
        );
        // One minute more and it would start before the week: July it is.
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:59", "2026-07-01T10:00");
        assert_eq!(
            starts(&cal.free_slots("room1", hour, around, BXL, 2), BXL),
            ["2026-07-01T10:00:00+02:00", "2026-07-01T10:15:00+02:00"]
        );
        assert!(cal.free_slots("nowhere", hour, around, BXL, 3).is_empty());
        assert!(cal.free_slots("room1", hour, around, BXL, 0).is_empty());
        assert!(
            cal.free_slots("room1", MINUTE_MS, around, BXL, 3)
                .is_empty()
        );
        assert!(cal.free_slots("room1", -hour, around, BXL, 3).is_empty());
        assert!(
            cal.free_slots("room1", 93 * DAY_MS, around, BXL, 3)
                .is_empty()
        );
        // Huge counts and extreme times end, and stay within the bounds.
        let all = cal.free_slots("room1", hour, around, BXL, usize::MAX);
        assert!(all.len() > 300 * 96);
        assert!(all.iter().all(
            |&(s, _)| s >= around - 7 * DAY_MS && s <= around + FREE_SLOTS_DAYS_AFTER * DAY_MS
        ));
        for extreme in [i64::MIN, i64::MAX, i64::MAX - 1, i64::MIN + 1] {
            let _ = cal.free_slots("room1", hour, extreme, BXL, 1000);
        }
    }

    #[test]
    fn free_slots_skip_the_spring_gap() {
        // 2026-03-29: clocks go from 02:00 to 03:00 in Brussels.
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-03-29T00:00", "2026-03-29T01:45");
        book_slot(&mut cal, "b2", "2026-03-29T03:30", "2026-03-29T06:00");
        let half = 30 * MINUTE_MS;
        let slots = cal.free_slots("room1", half, t("2026-03-29T01:45"), BXL, 3);
        // 01:45 to 03:30 is 45 minutes: room for two half hours, not three.
        assert_eq!(
            starts(&slots, BXL),
            [
                "2026-03-29T01:45:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-28T23:30:00+01:00",
            ]
        );
        assert!(slots.iter().all(|&(s, e)| e - s == half));
        // Over the whole day, nothing starts in the skipped hour, and the
        // starts are every quarter hour of the 23-hour day.
        let mut cal = calendar_with_room(None, false);
        let day = cal.free_slots("room1", half, t("2026-03-29T00:00"), BXL, 200);
        let on_the_day: Vec<String> = starts(&day, BXL)
            .into_iter()
            .filter(|s| s.starts_with("2026-03-29"))
            .collect();
        assert_eq!(on_the_day.len(), 23 * 4);
        assert!(!on_the_day.iter().any(|s| s.starts_with("2026-03-29T02:")));
        // The slots rebook fine.
        let first = day[0];
        cal.book(
            &author("org-b", 2),
            1,
            "room1",
            &[NewBooking {
                id: "x".into(),
                from: first.0,
                to: first.1,
            }],
            "",
            None,
            BXL,
        )
        .unwrap();
    }

    #[test]
    fn free_slots_offer_both_autumn_hours() {
        // 2026-10-25: 02:00-03:00 happens twice in Brussels.
        let cal = calendar_with_room(None, false);
        let around = parse_time("2026-10-25T02:50:00+02:00", BXL).unwrap();
        let slots = cal.free_slots("room1", 15 * MINUTE_MS, around, BXL, 4);
        assert_eq!(
            starts(&slots, BXL),
            [
                "2026-10-25T02:45:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-25T02:15:00+01:00",
            ]
        );
    }

    #[test]
    fn free_slots_are_local_quarter_hours() {
        let cal = calendar_with_room(None, false);
        for zone in [
            chrono_tz::Asia::Kathmandu,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::America::St_Johns,
        ] {
            // Lord Howe moves its clocks by half an hour on 2026-04-05.
            let around = t("2026-04-04T15:07");
            let slots = cal.free_slots("room1", 45 * MINUTE_MS, around, zone, 300);
            assert_eq!(slots.len(), 300);
            for (s, _) in slots {
                let local = ms_to_local(s, zone);
                assert_eq!((local.minute() % 15, local.second()), (0, 0), "{zone}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Against brute force: every quarter hour from a week before on,
        /// free or not, nearest first.
        #[test]
        fn free_slots_match_brute_force(
            bookings in proptest::collection::vec((0..200i64, 1..24i64, proptest::bool::weighted(0.2)), 0..20),
            around in 0..200i64,
            around_offset in 0..15i64,
            length in 1..12i64,
            count in 1..12usize,
        ) {
            // Around the spring change, in quarter hours from 2026-03-28T00:00.
            let origin = t("2026-03-28T00:00");
            let quarter = 15 * MINUTE_MS;
            let mut cal = calendar_with_room(None, false);
            for (i, &(start, len, cancel)) in bookings.iter().enumerate() {
                let from = origin + start * quarter;
                let slots = [NewBooking { id: format!("b{i:02}"), from, to: from + len * quarter }];
                if cal.book(&author("org-b", 2), 1, "room1", &slots, "", None, BXL).is_ok() && cancel {
                    cal.cancel(&author("org-b", 2), false, 2, &slots[0].id).unwrap();
                }
            }
            let around = origin + around * quarter + around_offset * MINUTE_MS;
            let length = length * quarter;
            let held: Vec<(i64, i64)> = cal
                .bookings(Some("room1"))
                .iter()
                .filter(|b| b.status == BookingStatus::Confirmed)
                .map(|b| (b.from, b.to))
                .collect();
            let first = (around - 7 * DAY_MS).div_euclid(quarter) * quarter + quarter;
            let mut expected: Vec<i64> = (0..)
                .map(|k| first + k * quarter)
                .take_while(|&s| s < around + 14 * DAY_MS)
                .filter(|&s| s >= around - 7 * DAY_MS)
                .filter(|&s| !held.iter().any(|&(f, e)| s < e && f < s + length))
                .collect();
            expected.sort_by_key(|&s| ((s - around).abs(), s));
            expected.truncate(count);
            let got = cal.free_slots("room1", length, around, BXL, count);
            proptest::prop_assert_eq!(
                got.iter().map(|&(s, _)| s).collect::<Vec<_>>(),
                expected
            );
            proptest::prop_assert!(got.iter().all(|&(s, e)| e - s == length));
            if let Some(&(from, to)) = got.first() {
                let slot = [NewBooking { id: "new".into(), from, to }];
                proptest::prop_assert!(
                    cal.book(&author("org-c", 3), 3, "room1", &slot, "", None, BXL).is_ok()
                );
            }
        }
    }
}
