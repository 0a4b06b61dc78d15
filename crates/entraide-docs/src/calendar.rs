//! Shared resources (rooms, vehicles, equipment) and their bookings.
//!
//! Schema (automerge):
//! ```text
//! { resources: { <id>: { name, kind, capacity?, location?, quota? ("20h/week"), zone?, withdrawn_at?,
//!                        approval, owner, created_at } },
//!   bookings:  { <resource id>: { <booking id>: { fixed (bytes: BookingFixed),
//!                                                 decision?, decision_reason?,
//!                                                 decided_by?, decided_by_device?,
//!                                                 cancelled_by?, cancelled_by_device?,
//!                                                 cancelled_at? } } } }
//! ```
//! A booking's fields fixed when it is made (organisation, device, times,
//! purpose, creation time, series) are one value, [`BookingFixed`]; a
//! booking written before schema version 3 has them as keys of its map
//! (`org`, `device`, `from`, `to`, `purpose`, `created_at`, `series?`), and
//! is read as it is.
//!
//! Bookings are grouped by resource, so that reading one resource's calendar
//! never walks the others'. `zone` is the IANA zone of the node that added the
//! resource: quota weeks and months are counted in it, so that every node
//! counts them alike whatever its own zone (a resource without one counts in
//! UTC).
//!
//! # The booking rule
//!
//! A node refuses a booking that overlaps one it knows, or that would take
//! its organisation over the resource's quota. Members who book while apart
//! can still overlap, or together exceed a quota, once they sync; then every
//! node decides the same way, from the synced data alone:
//!
//! 1. cancelled and declined bookings take no slot;
//! 2. the others are ranked: on a resource that needs approval, an approved
//!    booking ranks before a pending one; then the booking *created* earlier
//!    (`created_at`, a hybrid logical clock: never behind any booking the
//!    creating node knew), then the smaller id;
//! 3. in that order, a booking keeps its slot unless it overlaps one already
//!    kept (then it is a `conflict` for reason [`ConflictReason::Overlap`], and
//!    `conflict_with` names the kept booking it overlaps first in rank), or
//!    its minutes, added to those its organisation already keeps in the
//!    quota period (week or month, in the resource's zone) in which it
//!    starts, exceed the quota (then it is a `conflict` for reason
//!    [`ConflictReason::Quota`], with no `conflict_with`).
//!
//! So the first to book keeps the room, whoever syncs first, and quotas hold
//! after sync: what an organisation booked beyond its quota, latest first,
//! loses its slot.
//!
//! # Who may cancel or decide
//!
//! A cancellation counts only when the device that wrote it belongs to the
//! booking's organisation or to a coordinator organisation; an approval or a
//! refusal counts only when its device belongs to the organisation that owns
//! the resource. The device of an edit is the automerge actor of the change
//! that made it, which the sync layer has checked against the device's
//! signature; `cancelled_by_device` and `decided_by_device` record it for
//! readers, and the organisation fields (`cancelled_by`, `decided_by`) are
//! only what the writer claimed. Which organisation a device belongs to, and
//! whether it is a coordinator, comes from the membership log through a
//! [`Directory`] that the caller passes in: this crate stays pure. An edit
//! that does not count is ignored by every node alike.
//!
//! # Finding free slots
//!
//! To rebook a booking that lost its slot, [`Calendar::free_slots`] proposes
//! the free slots of one resource with a given length, nearest to a given time
//! by start, before or after it (nearest first; of two equally near, the
//! earlier first). A slot is free when it overlaps no confirmed or pending
//! booking; quotas are not checked there ([`Calendar::book`] checks them, and
//! [`Calendar::suggestions`] keeps only slots within the organisation's quota).
//! Slots start on a quarter hour of local time (:00, :15, :30, :45) and last
//! exactly the given length. They are instants, so none starts in the hour the
//! clocks skip in spring, and both occurrences of the hour repeated in autumn
//! are offered. The search looks back at most [`FREE_SLOTS_DAYS_BEFORE`] days
//! and ahead at most [`FREE_SLOTS_DAYS_AFTER`] days.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::doc::Record;
use crate::lookup::{LookupError, resolve};
use crate::time::{format_time, local_to_ms, ms_to_local};
use crate::{Author, SharedDoc};

/// A booking's purpose: at most this many characters (the node refuses a
/// longer one, and every node refuses a change that writes one).
pub const MAX_PURPOSE: usize = 500;
/// A booking's series id: at most this many characters.
pub const MAX_SERIES: usize = 64;
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

    /// "week" or "month".
    pub fn period_name(self) -> &'static str {
        match self.period {
            QuotaPeriod::Week => "week",
            QuotaPeriod::Month => "month",
        }
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
    /// The zone its quota periods are counted in: the zone of the node that
    /// added it (UTC for a resource stored without one).
    pub zone: Tz,
    /// When it may be booked, in its zone (`None`: always).
    pub hours: Option<OpeningHours>,
    /// When its owner withdrew it (it leaves the alliance's list and takes
    /// no new booking), if it did.
    pub withdrawn_at: Option<i64>,
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
    /// The zone its quota periods are counted in (the adding node's zone).
    pub zone: Tz,
    /// When it may be booked, in the resource's zone.
    pub hours: Option<OpeningHours>,
}

/// What to change of a resource ([`Calendar::edit_resource`]): `None`
/// leaves a field as it is; for the optional fields, `Some(None)` removes it.
#[derive(Clone, Debug, Default)]
pub struct ResourceChange<'a> {
    /// A new name.
    pub name: Option<&'a str>,
    /// A new kind.
    pub kind: Option<ResourceKind>,
    /// A new capacity, or none.
    pub capacity: Option<Option<u32>>,
    /// A new location, or none.
    pub location: Option<Option<&'a str>>,
    /// A new quota, or none.
    pub quota: Option<Option<Quota>>,
    /// Whether bookings wait for the owner's approval.
    pub approval: Option<bool>,
    /// New opening hours, or none (always open).
    pub hours: Option<Option<OpeningHours>>,
}

/// What the booking rule knows of a device: the organisation it belongs to
/// (or belonged to) and whether that organisation is a coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceOrg {
    /// The organisation's id.
    pub org: String,
    /// Whether the organisation is a coordinator of the alliance.
    pub coordinator: bool,
}

/// Which organisation a device belongs to, from the membership log. The
/// booking rule asks it who made a cancellation or a decision (see "Who may
/// cancel or decide" in the module docs); the node answers from the synced
/// membership, so every node gets the same answer from the same data.
pub trait Directory {
    /// The organisation of a device (its ed25519 public key, 64 lowercase
    /// hex digits), or `None` for a device no member organisation ever had.
    fn device_org(&self, device_hex: &str) -> Option<DeviceOrg>;
}

impl<F: Fn(&str) -> Option<DeviceOrg>> Directory for F {
    fn device_org(&self, device_hex: &str) -> Option<DeviceOrg> {
        self(device_hex)
    }
}

impl Directory for BTreeMap<String, DeviceOrg> {
    fn device_org(&self, device_hex: &str) -> Option<DeviceOrg> {
        self.get(device_hex).cloned()
    }
}

/// Why a booking lost its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConflictReason {
    /// It overlaps a booking that ranks before it.
    Overlap,
    /// It would take its organisation over the resource's quota.
    Quota,
    /// It falls outside the resource's opening hours (a refusal only: the
    /// hours never change after the resource is added).
    Closed,
}

impl ConflictReason {
    /// Its name: `overlap`, `quota` or `closed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Overlap => "overlap",
            Self::Quota => "quota",
            Self::Closed => "closed",
        }
    }
}

/// When a resource may be booked: windows of local time on some weekdays,
/// written `Mo-Fr 08:00-18:00; Sa 09:00-12:30` (a window without days means
/// every day; `24:00` ends at midnight). A booking must lie within one window.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OpeningHours {
    windows: Vec<([bool; 7], u32, u32)>,
    text: String,
}

const WEEKDAYS: [&str; 7] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];

impl OpeningHours {
    /// Parses `Mo-Fr 08:00-18:00; Sa 09:00-12:30`.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let bad = || CalendarError::HoursFormat(text.to_owned());
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let day = |d: &str| {
            WEEKDAYS
                .iter()
                .position(|w| w.eq_ignore_ascii_case(d.trim()))
        };
        let mut windows = Vec::new();
        for segment in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (days_text, times) = match segment.rsplit_once(' ') {
                Some((d, t)) => (Some(d), t),
                None => (None, segment),
            };
            let mut days = [days_text.is_none(); 7];
            for part in days_text
                .unwrap_or_default()
                .split(',')
                .filter(|p| !p.trim().is_empty())
            {
                match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                        let mut i = a;
                        loop {
                            days[i] = true;
                            if i == b {
                                break;
                            }
                            i = (i + 1) % 7;
                        }
                    }
                    None => days[day(part).ok_or_else(bad)?] = true,
                }
            }
            let (start, end) = times.split_once('-').ok_or_else(bad)?;
            let (start, end) = (
                minutes(start).ok_or_else(bad)?,
                minutes(end).ok_or_else(bad)?,
            );
            if start >= end {
                return Err(bad());
            }
            windows.push((days, start, end));
        }
        if windows.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            windows,
            text: text.trim().to_owned(),
        })
    }

    /// As written.
    pub fn to_text(&self) -> &str {
        &self.text
    }

    /// Whether `[from, to)` lies within one window, in `zone`'s local time.
    pub fn allows(&self, from: i64, to: i64, zone: Tz) -> bool {
        let (start, end) = (ms_to_local(from, zone), ms_to_local(to - 1, zone));
        if start.date() != end.date() {
            return false;
        }
        let weekday = start.date().weekday().num_days_from_monday() as usize;
        let minute = |t: chrono::NaiveDateTime| t.time().num_seconds_from_midnight() / 60;
        let (a, b) = (minute(start), minute(end) + 1);
        self.windows
            .iter()
            .any(|(days, open, close)| days[weekday] && *open <= a && b <= *close)
    }
}

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BookingStatus {
    /// It holds its slot.
    Confirmed,
    /// It holds its slot and waits for the owner's approval.
    Pending,
    /// It overlaps a booking that ranks before it, or would take its
    /// organisation over the quota (see the module docs).
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
    /// For a conflict: the booking that keeps the slot (none for a quota
    /// conflict).
    pub conflict_with: Option<String>,
    /// For a conflict: why it lost its slot.
    pub conflict: Option<ConflictReason>,
    /// Why it was declined, if said.
    pub reason: Option<String>,
    /// Whether the owner's approval or refusal of it counts (see the module
    /// docs).
    pub decided: bool,
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

/// An occurrence [`Calendar::book`] left out because it clashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The id it would have had.
    pub id: String,
    /// Start.
    pub from: i64,
    /// End.
    pub to: i64,
    /// Overlap or quota.
    pub reason: ConflictReason,
    /// For an overlap: the booking it overlaps.
    pub conflict_with: Option<String>,
    /// The refusal, as a user reads it.
    pub error: CalendarError,
}

/// What [`Calendar::book`] stored and what it left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booked {
    /// The ids of the bookings stored, in time order.
    pub ids: Vec<String>,
    /// The occurrences left out, in time order.
    pub skipped: Vec<Skipped>,
}

/// How much of its quota an organisation has booked on a resource in one
/// period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The organisation.
    pub org: String,
    /// The period's start, ms.
    pub period_start: i64,
    /// The period's end (exclusive), ms.
    pub period_end: i64,
    /// Minutes booked by bookings that hold their slot (confirmed or
    /// pending) and start in the period.
    pub minutes: i64,
    /// The quota, in minutes per period.
    pub quota_minutes: i64,
}

/// A resource or booking could not be added or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum CalendarError {
    /// Unknown resource kind.
    #[error("unknown resource kind '{0}'; use room, vehicle, equipment or other")]
    Kind(String),
    /// Bad quota text.
    #[error("'{0}' is not a quota; write hours per week or month, e.g. 20h/week or 6h/month")]
    QuotaFormat(String),
    /// Bad opening hours.
    #[error("'{0}' are not opening hours; write e.g. \"Mo-Fr 08:00-18:00; Sa 09:00-12:00\"")]
    HoursFormat(String),
    /// Outside the opening hours.
    #[error("{resource} is open {hours}; book within those hours")]
    OutsideHours {
        /// The resource's name.
        resource: String,
        /// Its hours.
        hours: String,
    },
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
    /// `--until` before the first occurrence.
    #[error("--until {until} is before the first occurrence ({first}); give a later date")]
    UntilBeforeStart {
        /// The date given.
        until: String,
        /// The first occurrence's start, formatted.
        first: String,
    },
    /// `--until` too far.
    #[error(
        "--until {0} gives more than {MAX_REPEAT} occurrences; give an earlier date or book in several series"
    )]
    UntilTooFar(String),
    /// Every occurrence of a series clashes.
    #[error(
        "all {count} occurrences clash with bookings this node knows or with the quota, so nothing was booked (the first: {first}); pick another time"
    )]
    SeriesClash {
        /// How many occurrences.
        count: usize,
        /// Why the first clashes.
        first: Box<CalendarError>,
    },
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
    /// Every occurrence of a series is already cancelled or declined.
    #[error(
        "every occurrence of series {0} that your organisation may cancel is already cancelled or declined; nothing changed"
    )]
    SeriesClosed(String),
    /// Approve/decline on something not pending.
    #[error("booking {0} is not waiting for approval; nothing changed")]
    NotPending(String),
}

/// How many changes since the bookings were read [`Calendar::refresh`]
/// follows one by one; after more, it reads what is asked for again.
const MAX_FOLLOWED_CHANGES: usize = 1_000;

/// The calendar document.
#[derive(Debug)]
pub struct Calendar {
    doc: SharedDoc,
    /// Bookings as read from the document, kept up to date by
    /// [`Calendar::refresh`].
    read: RefCell<ReadBookings>,
    /// The membership heads this node holds, hex, comma-separated: a
    /// cancellation made for another organisation cites them as
    /// `cancelled_under`, so that every node checks the coordinator's role
    /// against the same membership (see `authority`).
    membership_heads: String,
}

impl Calendar {
    /// Wraps a calendar document.
    pub fn new(mut doc: SharedDoc) -> Self {
        debug_assert!(doc.kind().is_calendar());
        let heads = doc.heads();
        let read = RefCell::new(ReadBookings {
            generation: doc.generation(),
            heads,
            by_resource: BTreeMap::new(),
            resources: KeptResources::default(),
        });
        Self {
            doc,
            read,
            membership_heads: String::new(),
        }
    }

    /// Brings the bookings read so far up to date with the document: the
    /// bookings that an operation of a change since they were read writes
    /// into are marked, and read again when their resource is asked for
    /// (their whole resource for an operation on the resource's map).
    /// Reading is correct without it (a stale read is not used), only
    /// slower. Operations, not automerge's patches: a
    /// received change can add a value that loses to the one a key shows (a
    /// cancellation concurrent with a forged one), which no patch reports,
    /// yet the booking rule reads every value of the key.
    pub fn refresh(&mut self) {
        let generation = self.doc.generation();
        let read = self.read.get_mut();
        if read.generation == generation {
            return;
        }
        read.generation = generation;
        let known = std::mem::take(&mut read.heads);
        let empty = read.by_resource.is_empty();
        let heads = self.doc.heads();
        let read = self.read.get_mut();
        read.heads = heads;
        if empty {
            read.resources = KeptResources::default();
            return;
        }
        // A document put back to what the store holds may lack them; many
        // changes (a month offline) cost less read again than followed.
        let paths = if known.iter().all(|h| self.doc.holds(h)) {
            self.doc.paths_written_since(&known, MAX_FOLLOWED_CHANGES)
        } else {
            None
        };
        let read = self.read.get_mut();
        let Some(paths) = paths else {
            read.by_resource.clear();
            read.resources = KeptResources::default();
            return;
        };
        if paths
            .iter()
            .any(|path| path.first().is_none_or(|key| key == "resources"))
        {
            read.resources = KeptResources::default();
        }
        let mut again: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
        for path in &paths {
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            match keys.as_slice() {
                [] | ["bookings"] => {
                    read.by_resource.clear();
                    return;
                }
                ["bookings", resource] => {
                    again.insert((*resource).to_owned(), None);
                }
                ["bookings", resource, booking, ..] => {
                    if let Some(ids) = again
                        .entry((*resource).to_owned())
                        .or_insert_with(|| Some(BTreeSet::new()))
                    {
                        ids.insert((*booking).to_owned());
                    }
                }
                _ => {}
            }
        }
        // What was written is read when its resource is asked for.
        for (resource, ids) in again {
            match ids {
                Some(ids) => {
                    if let Some(room) = read.by_resource.get_mut(&resource) {
                        room.dirty.extend(ids);
                    }
                }
                None => {
                    read.by_resource.remove(&resource);
                }
            }
        }
    }

    /// Reads again the bookings of `room` (of `resource`) that changes
    /// wrote into since it was read. New bookings are added to the rule's
    /// outcome when they rank last; any other change means ranking again.
    fn settle(&self, room: &mut Room, resource: &str) {
        let dirty = std::mem::take(&mut room.dirty);
        let Some(map) = self.bookings_root().child(resource) else {
            *room = Room::default();
            return;
        };
        let mut added = Vec::new();
        for id in dirty {
            let known = room.raw.contains_key(&id);
            match map.child(&id) {
                Some(r) if !known => added.push(read_booking(resource, id, &r)),
                Some(r) => {
                    room.rule = None;
                    room.insert(read_booking(resource, id, &r));
                }
                None => {
                    room.rule = None;
                    room.remove(&id);
                }
            }
        }
        room.add(added);
    }

    /// Keeps the bookings [`Calendar::book`] just wrote without reading the
    /// document again: what was read at `read_at` (the generation before
    /// the write) plus `written` is the document now. Anything else (the
    /// read was older, an id was already there) falls back to
    /// [`Calendar::refresh`].
    fn note_own_bookings(&mut self, resource: &str, read_at: u64, written: Vec<RawBooking>) {
        let read = self.read.get_mut();
        let room = read.by_resource.get(resource);
        if read.generation != read_at
            || room.is_none_or(|room| written.iter().any(|b| room.raw.contains_key(&b.id)))
        {
            self.refresh();
            return;
        }
        let heads = self.doc.heads();
        let read = self.read.get_mut();
        read.heads = heads;
        read.generation = self.doc.generation();
        if let Some(room) = read.by_resource.get_mut(resource) {
            room.add(written);
        }
    }

    /// Sets the membership heads a cancellation for another organisation
    /// cites (the node's current ones).
    pub fn cite_membership(&mut self, heads: String) {
        self.membership_heads = heads;
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
        self.resource_list().to_vec()
    }

    /// The resource list kept, if it is as of the document now.
    fn kept_resources(&self) -> Option<std::sync::Arc<[Resource]>> {
        let read = self.read.borrow();
        (read.generation == self.doc.generation())
            .then(|| read.resources.all.clone())
            .flatten()
    }

    /// Every resource, kept while no change writes into the resources (as
    /// [`Calendar::refresh`] follows them).
    fn resource_list(&self) -> std::sync::Arc<[Resource]> {
        if let Some(list) = self.kept_resources() {
            return list;
        }
        let current = self.read.borrow().generation == self.doc.generation();
        let mut list: Vec<Resource> = self
            .resources_root()
            .children()
            .into_iter()
            .map(|(id, r)| read_resource(id, &r))
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let list: std::sync::Arc<[Resource]> = list.into();
        if current {
            self.read.borrow_mut().resources.all = Some(list.clone());
        }
        list
    }

    /// One resource by id, id prefix or name.
    pub fn resource(&self, query: &str) -> Result<Resource, CalendarError> {
        // An exact id wins over everything else: read that one resource only
        // (or find it in the list kept, when it is current).
        let id = query.trim();
        if let Some(list) = self.kept_resources() {
            if let Some(r) = list.iter().find(|r| r.id == id) {
                return Ok(r.clone());
            }
        } else {
            let current = self.read.borrow().generation == self.doc.generation();
            if current && let Some(r) = self.read.borrow().resources.by_id.get(id) {
                return Ok(r.clone());
            }
            if let Some(r) = self.resources_root().child(id) {
                let r = read_resource(id.to_owned(), &r);
                if current {
                    let kept = &mut self.read.borrow_mut().resources.by_id;
                    kept.insert(r.id.clone(), r.clone());
                }
                return Ok(r);
            }
        }
        let list = self.resource_list();
        let id = resolve(
            query,
            list.iter().map(|r| (r.id.as_str(), r.name.as_str())),
            "resource",
            "resource list",
        )?;
        list.iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or(CalendarError::Name)
    }

    /// Adds a resource owned by `author`'s organisation.
    pub fn add_resource(
        &mut self,
        author: &Author,
        now_ms: i64,
        new: NewResource<'_>,
    ) -> Result<(), CalendarError> {
        let name = self.check_name(new.name, None)?;
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
            tx.put(&obj, "zone", new.zone.name())?;
            if let Some(h) = &new.hours {
                tx.put(&obj, "hours", h.to_text())?;
            }
            tx.put(&obj, "owner", author.org.as_str())?;
            tx.put(&obj, "created_at", ScalarValue::Int(now_ms))?;
            tx.put_object(&bookings, new.id, ObjType::Map)?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "resource add");
        self.refresh();
        Ok(())
    }

    /// A resource's name, trimmed, if it is one: 1 to 200 characters, no
    /// control character, and no other resource (but `except`) named so.
    fn check_name<'n>(
        &self,
        name: &'n str,
        except: Option<&str>,
    ) -> Result<&'n str, CalendarError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(CalendarError::Name);
        }
        self.check_name_free(name, except)?;
        Ok(name)
    }

    /// Refuses `name` (trimmed) if a resource of this calendar but `except`
    /// is named so, whatever the case: the node asks every part of the
    /// alliance's calendar before it adds or renames a resource in one.
    pub fn check_name_free(&self, name: &str, except: Option<&str>) -> Result<(), CalendarError> {
        let name = name.trim();
        if self
            .resources()
            .iter()
            .any(|r| Some(r.id.as_str()) != except && r.name.eq_ignore_ascii_case(name))
        {
            return Err(CalendarError::DuplicateName(name.to_owned()));
        }
        Ok(())
    }

    /// The object of the resource `id` (found by [`Calendar::resource`]).
    fn resource_obj(&self, id: &str) -> Result<ObjId, CalendarError> {
        self.resources_root()
            .child(id)
            .map(|r| r.obj().clone())
            .ok_or(CalendarError::Name)
    }

    /// Changes what `change` names of a resource, which only its owner may
    /// do (its owner, zone and creation time never change). Bookings made
    /// before stay as they are: a new quota, approval or opening hours
    /// apply to the bookings made from now on. Returns the resource as it
    /// is now.
    pub fn edit_resource(
        &mut self,
        author: &Author,
        now_ms: i64,
        resource_id: &str,
        change: &ResourceChange<'_>,
    ) -> Result<Resource, CalendarError> {
        let resource = self.resource(resource_id)?;
        if resource.owner != author.org {
            return Err(CalendarError::NotAllowed(format!(
                "only the organisation that owns {} may change it",
                resource.name
            )));
        }
        let name = change
            .name
            .map(|n| self.check_name(n, Some(&resource.id)))
            .transpose()?;
        if change.capacity == Some(Some(0)) {
            return Err(CalendarError::Capacity);
        }
        let obj = self.resource_obj(&resource.id)?;
        let tx = self.doc.write();
        let mut write = || -> Result<(), automerge::AutomergeError> {
            if let Some(n) = name.filter(|n| *n != resource.name) {
                tx.put(&obj, "name", n)?;
            }
            if let Some(k) = change.kind.filter(|k| *k != resource.kind) {
                tx.put(&obj, "kind", k.name())?;
            }
            match change.capacity {
                Some(Some(c)) if resource.capacity != Some(c) => {
                    tx.put(&obj, "capacity", ScalarValue::Int(i64::from(c)))?
                }
                Some(None) if resource.capacity.is_some() => tx.delete(&obj, "capacity")?,
                _ => {}
            }
            match change
                .location
                .map(|l| l.map(str::trim).filter(|l| !l.is_empty()))
            {
                Some(Some(l)) if resource.location.as_deref() != Some(l) => {
                    tx.put(&obj, "location", l)?
                }
                Some(None) if resource.location.is_some() => tx.delete(&obj, "location")?,
                _ => {}
            }
            match &change.quota {
                Some(Some(q)) if resource.quota.as_ref() != Some(q) => {
                    tx.put(&obj, "quota", q.to_text())?
                }
                Some(None) if resource.quota.is_some() => tx.delete(&obj, "quota")?,
                _ => {}
            }
            match &change.hours {
                Some(Some(h)) if resource.hours.as_ref() != Some(h) => {
                    tx.put(&obj, "hours", h.to_text())?
                }
                Some(None) if resource.hours.is_some() => tx.delete(&obj, "hours")?,
                _ => {}
            }
            if let Some(a) = change.approval.filter(|a| *a != resource.approval) {
                tx.put(&obj, "approval", a)?;
            }
            Ok(())
        };
        let _ = write();
        self.doc.commit(now_ms, "resource edit");
        self.refresh();
        self.resource(&resource.id)
    }

    /// Runs `f` on the bookings of one resource as the document holds them,
    /// with the booking rule's outcome on them: those read before if the
    /// document did not change since (see [`Calendar::refresh`]), else read
    /// from the document now; the outcome kept if it still holds.
    fn with_rule<R>(
        &self,
        resource: &Resource,
        dir: &dyn Directory,
        f: impl FnOnce(&Room, &Rule) -> R,
    ) -> R {
        let mut read = self.read.borrow_mut();
        if read.generation == self.doc.generation() {
            let room = read
                .by_resource
                .entry(resource.id.clone())
                .or_insert_with(|| Room::read(self.read_bookings(&resource.id)));
            if !room.dirty.is_empty() {
                self.settle(room, &resource.id);
            }
            room.rule(resource, dir);
            if let Some(rule) = &room.rule {
                return f(room, rule);
            }
        }
        drop(read);
        let room = Room::read(self.read_bookings(&resource.id));
        let rule = Rule::compute(resource, &room.raw, dir);
        f(&room, &rule)
    }

    /// Reads every booking of one resource from the document.
    fn read_bookings(&self, resource: &str) -> BTreeMap<String, RawBooking> {
        let Some(map) = self.bookings_root().child(resource) else {
            return BTreeMap::new();
        };
        map.children()
            .into_iter()
            .map(|(id, r)| (id.clone(), read_booking(resource, id, &r)))
            .collect()
    }

    /// The resources `resource` (an id) names, or all.
    fn resources_of(&self, resource: Option<&str>) -> Vec<Resource> {
        match resource {
            Some(id) => self
                .resources_root()
                .child(id)
                .map(|r| read_resource(id.to_owned(), &r))
                .into_iter()
                .collect(),
            None => self.resources(),
        }
    }

    /// The bookings of one resource (or of all), with the status every node
    /// computes the same way (see the module docs), sorted by start. `dir`
    /// tells which organisation each device belongs to.
    pub fn bookings(&self, resource: Option<&str>, dir: &dyn Directory) -> Vec<Booking> {
        self.bookings_in(resource, Period::ALL, dir)
    }

    /// [`Calendar::bookings`] that overlap `period` (what a calendar page
    /// shows): only those are read out, although each one's status is the
    /// rule's on the whole resource.
    pub fn bookings_in(
        &self,
        resource: Option<&str>,
        period: Period,
        dir: &dyn Directory,
    ) -> Vec<Booking> {
        let mut out = Vec::new();
        for r in &self.resources_of(resource) {
            out.extend(self.with_rule(r, dir, |raw, rule| rank(raw, rule, period)));
        }
        out.sort_by(|a, b| (a.from, &a.resource, &a.id).cmp(&(b.from, &b.resource, &b.id)));
        out
    }

    /// The bookings of every resource that lost their slot (`conflict`),
    /// of one organisation (or of all): what `status` shows, without
    /// copying out every other booking.
    pub fn conflicts(&self, org: Option<&str>, dir: &dyn Directory) -> Vec<Booking> {
        let keep = lost_by(org);
        let mut out = Vec::new();
        for r in &self.resources() {
            out.extend(self.with_rule(r, dir, |room, rule| {
                rank_where(room, rule, Period::ALL, &keep)
            }));
        }
        out.sort_by(|a, b| (a.from, &a.resource, &a.id).cmp(&(b.from, &b.resource, &b.id)));
        out
    }

    /// One booking by id or id prefix.
    pub fn booking(&self, query: &str, dir: &dyn Directory) -> Result<Booking, CalendarError> {
        let all = self.bookings(None, dir);
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
        dir: &dyn Directory,
    ) -> Vec<(i64, i64)> {
        let Ok(resource) = self.resource(resource_id) else {
            return Vec::new();
        };
        let busy = self.with_rule(&resource, dir, |_, rule| rule.holding.busy());
        free_slots_in(&busy, length_ms, around_ms, zone, count, &|_| true)
    }

    /// For every `conflict` booking of one resource (or of all), of one
    /// organisation (or of all), that overlaps `period`: the `count` free
    /// slots of the same length on its resource nearest to its start (see
    /// [`Calendar::free_slots`]), keeping only those that fit its
    /// organisation's quota. Keyed by booking id.
    pub fn suggestions(
        &self,
        resource: Option<&str>,
        org: Option<&str>,
        period: Period,
        zone: Tz,
        count: usize,
        dir: &dyn Directory,
    ) -> BTreeMap<String, Vec<(i64, i64)>> {
        let mut out = BTreeMap::new();
        for r in &self.resources_of(resource) {
            self.with_rule(r, dir, |room, rule| {
                let conflicts = rank_where(room, rule, period, &lost_by(org));
                if conflicts.is_empty() {
                    return;
                }
                let busy = rule.holding.busy();
                for b in conflicts {
                    let length = b.to.saturating_sub(b.from);
                    let fits = |from: i64| {
                        !rule
                            .holding
                            .over_quota(r, &b.org, from, from.saturating_add(length))
                    };
                    out.insert(
                        b.id.clone(),
                        free_slots_in(&busy, length, b.from, zone, count, &fits),
                    );
                }
            });
        }
        out
    }

    /// How much of a resource's quota each organisation has booked in the
    /// period (week or month, in the resource's zone) containing `at_ms` and
    /// in the next one: every organisation with booked minutes there, and
    /// those of `include` even at 0; sorted by period, then organisation.
    /// Empty for a resource without a quota.
    pub fn usage(
        &self,
        resource_id: &str,
        at_ms: i64,
        include: &[&str],
        dir: &dyn Directory,
    ) -> Vec<Usage> {
        let Ok(resource) = self.resource(resource_id) else {
            return Vec::new();
        };
        let Some(quota) = resource.quota else {
            return Vec::new();
        };
        let current = quota.period_of(at_ms, resource.zone);
        let next = quota.period_of(current.1, resource.zone);
        let used = self.with_rule(&resource, dir, |_, rule| rule.holding.used.clone());
        let mut out = Vec::new();
        for period in [current, next] {
            let mut per_org: BTreeMap<&str, i64> = include.iter().map(|o| (*o, 0)).collect();
            for ((org, start), minutes) in &used {
                if *start == period.0 {
                    *per_org.entry(org.as_str()).or_default() += minutes;
                }
            }
            out.extend(per_org.into_iter().map(|(org, minutes)| Usage {
                org: org.to_owned(),
                period_start: period.0,
                period_end: period.1,
                minutes,
                quota_minutes: quota.minutes,
            }));
        }
        out
    }

    /// Books `slots` of a resource for `author`'s organisation. A slot that
    /// overlaps a booking this node knows that holds its slot (or an earlier
    /// slot of the same call), or that would bring the organisation over the
    /// resource's quota, is skipped and reported; the others are stored. When
    /// every slot clashes, nothing is stored and the call is refused (with
    /// the clash itself for one slot, [`CalendarError::SeriesClash`] for
    /// several). A slot of a bad length refuses the whole call.
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
        dir: &dyn Directory,
    ) -> Result<Booked, CalendarError> {
        let resource = self.resource(resource_id)?;
        if resource.withdrawn_at.is_some() {
            return Err(CalendarError::NotAllowed(format!(
                "{} was withdrawn by its owner and takes no new booking",
                resource.name
            )));
        }
        if slots.is_empty() || slots.len() > MAX_REPEAT as usize {
            return Err(CalendarError::RepeatCount);
        }
        for slot in slots {
            check_length(slot.from, slot.to, zone)?;
        }
        // Each slot against what holds its slot (and the slots accepted
        // before it), and the latest creation time known.
        let (accepted, skipped, latest) = self.with_rule(&resource, dir, |_, rule| {
            let mut earlier: Vec<Held> = Vec::new();
            let mut accepted: Vec<&NewBooking> = Vec::new();
            let mut skipped: Vec<Skipped> = Vec::new();
            for slot in slots {
                match clash(&resource, &author.org, &rule.holding, &earlier, slot, zone) {
                    Some(skip) => skipped.push(skip),
                    None => {
                        earlier.push(Held {
                            id: slot.id.clone(),
                            org: author.org.clone(),
                            from: slot.from,
                            to: slot.to,
                        });
                        accepted.push(slot);
                    }
                }
            }
            (accepted, skipped, rule.latest)
        });
        if accepted.is_empty() {
            let first = skipped
                .into_iter()
                .next()
                .map_or(CalendarError::RepeatCount, |s| s.error);
            return Err(if slots.len() == 1 {
                first
            } else {
                CalendarError::SeriesClash {
                    count: slots.len(),
                    first: Box::new(first),
                }
            });
        }
        // Hybrid logical clock: never behind a booking this node knows.
        let latest = latest.unwrap_or(i64::MIN);
        let created_at = now_ms.max(latest.saturating_add(1));
        let device_hex = hex::encode(author.device);
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
        // Each booking's map in one batch (one put per field cost automerge
        // a splice of its operation columns each), its fixed fields packed
        // in one value (`BookingFixed`).
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            use automerge::hydrate::Value;
            for slot in &accepted {
                let fixed = BookingFixed {
                    org: author.org.clone(),
                    device: author.device,
                    from: slot.from,
                    to: slot.to,
                    purpose: purpose.to_owned(),
                    created_at,
                    series: series.map(str::to_owned),
                };
                let fields: std::collections::HashMap<&str, Value> =
                    [("fixed", Value::scalar(ScalarValue::Bytes(fixed.pack())))].into();
                tx.batch_create_object(&parent, slot.id.as_str(), &Value::from(fields), false)?;
            }
            Ok(())
        };
        let read_at = self.doc.generation();
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "book");
        let written = accepted
            .iter()
            .map(|slot| RawBooking {
                id: slot.id.clone(),
                resource: resource.id.clone(),
                org: author.org.clone(),
                device: device_hex.clone(),
                from: slot.from,
                to: slot.to,
                purpose: purpose.to_owned(),
                created_at,
                series: series.map(str::to_owned),
                decisions: Vec::new(),
                decision_reason: None,
                cancels: Vec::new(),
            })
            .collect();
        self.note_own_bookings(&resource.id, read_at, written);
        Ok(Booked {
            ids: accepted.iter().map(|s| s.id.clone()).collect(),
            skipped,
        })
    }

    fn booking_obj(&self, booking: &Booking) -> Option<ObjId> {
        self.bookings_root()
            .child(&booking.resource)?
            .child(&booking.id)
            .map(|r| r.obj().clone())
    }

    /// Cancels a booking. Only its organisation, or a coordinator
    /// (`is_coordinator`), may; other nodes check it too (see the module
    /// docs).
    pub fn cancel(
        &mut self,
        author: &Author,
        is_coordinator: bool,
        now_ms: i64,
        query: &str,
        dir: &dyn Directory,
    ) -> Result<Booking, CalendarError> {
        let booking = self.booking(query, dir)?;
        may_cancel(author, is_coordinator, &booking)?;
        if is_closed(&booking) {
            return Err(CalendarError::Closed(booking.id, booking.status.name()));
        }
        self.write_cancel(author, now_ms, std::slice::from_ref(&booking))?;
        Ok(booking)
    }

    /// Cancels every occurrence of the series `query` (a booking id or id
    /// prefix) belongs to that is not cancelled or declined yet and that
    /// `author`'s organisation may cancel (its own, or any for a
    /// coordinator), in one change; just that booking when it belongs to no
    /// series. Returns the bookings cancelled, in time order.
    pub fn cancel_series(
        &mut self,
        author: &Author,
        is_coordinator: bool,
        now_ms: i64,
        query: &str,
        dir: &dyn Directory,
    ) -> Result<Vec<Booking>, CalendarError> {
        let booking = self.booking(query, dir)?;
        let Some(series) = booking.series.clone() else {
            return self
                .cancel(author, is_coordinator, now_ms, &booking.id, dir)
                .map(|b| vec![b]);
        };
        may_cancel(author, is_coordinator, &booking)?;
        let targets: Vec<Booking> = self
            .bookings(Some(&booking.resource), dir)
            .into_iter()
            .filter(|b| {
                b.series.as_deref() == Some(series.as_str())
                    && !is_closed(b)
                    && (b.org == author.org || is_coordinator)
            })
            .collect();
        if targets.is_empty() {
            return Err(CalendarError::SeriesClosed(series));
        }
        self.write_cancel(author, now_ms, &targets)?;
        Ok(targets)
    }

    fn write_cancel(
        &mut self,
        author: &Author,
        now_ms: i64,
        bookings: &[Booking],
    ) -> Result<(), CalendarError> {
        let objs: Vec<ObjId> = bookings
            .iter()
            .map(|b| self.booking_obj(b).ok_or(CalendarError::Name))
            .collect::<Result<_, _>>()?;
        let device_hex = hex::encode(author.device);
        let tx = self.doc.write();
        for (obj, booking) in objs.iter().zip(bookings) {
            let _ = tx.put(obj, "cancelled_by", author.org.as_str());
            let _ = tx.put(obj, "cancelled_by_device", device_hex.as_str());
            let _ = tx.put(obj, "cancelled_at", ScalarValue::Int(now_ms));
            if booking.org != author.org {
                let _ = tx.put(obj, "cancelled_under", self.membership_heads.as_str());
            }
        }
        self.doc.commit(now_ms, "cancel");
        self.refresh();
        Ok(())
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
        dir: &dyn Directory,
    ) -> Result<Booking, CalendarError> {
        let booking = self.booking(query, dir)?;
        let resource = self.resource(&booking.resource)?;
        if resource.owner != author.org {
            return Err(CalendarError::NotAllowed(format!(
                "only the organisation that owns {} may approve or decline its bookings",
                resource.name
            )));
        }
        if !resource.approval || booking.decided || booking.status == BookingStatus::Cancelled {
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
        let _ = tx.put(
            &obj,
            "decided_by_device",
            hex::encode(author.device).as_str(),
        );
        if let Some(r) = reason.map(str::trim).filter(|r| !r.is_empty()) {
            let _ = tx.put(&obj, "decision_reason", r);
        }
        self.doc
            .commit(now_ms, if approve { "approve" } else { "decline" });
        Ok(booking)
    }
}

impl Calendar {
    /// Withdraws a resource `author`'s organisation owns: it takes no new
    /// booking, and every booking of it that has not ended yet is declined
    /// with `reason` (so its organisation sees why). Returns those bookings.
    pub fn withdraw_resource(
        &mut self,
        author: &Author,
        now_ms: i64,
        resource_id: &str,
        reason: &str,
        dir: &dyn Directory,
    ) -> Result<Vec<Booking>, CalendarError> {
        let resource = self.resource(resource_id)?;
        if resource.owner != author.org {
            return Err(CalendarError::NotAllowed(format!(
                "only the organisation that owns {} may withdraw it",
                resource.name
            )));
        }
        let obj = self.resource_obj(&resource.id)?;
        let future: Vec<Booking> = self
            .bookings(Some(&resource.id), dir)
            .into_iter()
            .filter(|b| b.to > now_ms && !is_closed(b))
            .collect();
        let targets: Vec<ObjId> = future.iter().filter_map(|b| self.booking_obj(b)).collect();
        let device = hex::encode(author.device);
        let tx = self.doc.write();
        let _ = tx.put(&obj, "withdrawn_at", ScalarValue::Int(now_ms));
        for b in &targets {
            let _ = tx.put(b, "decision", "declined");
            let _ = tx.put(b, "decided_by", author.org.as_str());
            let _ = tx.put(b, "decided_by_device", device.as_str());
            let _ = tx.put(b, "decision_reason", reason);
        }
        self.doc.commit(now_ms, "resource withdraw");
        Ok(future)
    }
}

/// The fields of a booking fixed when it is made, packed in one value (the
/// booking's `fixed` field, automerge bytes): its organisation, device,
/// times, purpose, creation time and series.
///
/// One value instead of seven map keys: automerge pays for every operation
/// when it loads, applies and holds a document, and a booking's fixed
/// fields are never written again. With 50,000 bookings, the calendar's
/// `load()` went from 435 to 233 ms (BENCHMARKS.md).
/// Bookings written before (one key per field) are read as they are.
///
/// Bytes: a version byte (1), then the fields in postcard, in this order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookingFixed {
    /// The booking's organisation.
    pub org: String,
    /// The device that made it.
    pub device: [u8; 32],
    /// When it starts (ms).
    pub from: i64,
    /// When it ends (ms).
    pub to: i64,
    /// What it is for.
    pub purpose: String,
    /// When it was made (the booking rule's hybrid logical clock).
    pub created_at: i64,
    /// The series it belongs to, if it repeats.
    pub series: Option<String>,
}

impl BookingFixed {
    /// The packed format's version byte.
    const VERSION: u8 = 1;
    /// The largest packed value read: a purpose of 500 characters of four
    /// bytes each, a series id and the rest fit well within it.
    pub const MAX_BYTES: usize = 4096;

    /// The bytes stored in the booking's `fixed` field.
    pub fn pack(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        // Serialising a struct of strings and integers into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// The fields from a `fixed` value: `None` unless it is exactly one
    /// packed booking of a known version.
    pub fn unpack(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > Self::MAX_BYTES {
            return None;
        }
        match bytes.split_first() {
            Some((&Self::VERSION, rest)) => match postcard::take_from_bytes::<Self>(rest) {
                Ok((fixed, [])) => Some(fixed),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Every value a map key holds (several after concurrent writes) as text,
/// with the device (the automerge actor, hex) whose change wrote it.
fn written_by(doc: &automerge::AutoCommit, obj: &ObjId, key: &str) -> Vec<(String, String)> {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(value, id)| match id {
            automerge::ObjId::Id(_, actor, _) => Some((
                value.as_str()?.to_owned(),
                crate::device_hex_of_actor(&actor),
            )),
            automerge::ObjId::Root => None,
        })
        .collect()
}

fn is_closed(b: &Booking) -> bool {
    matches!(b.status, BookingStatus::Cancelled | BookingStatus::Declined)
}

fn may_cancel(
    author: &Author,
    is_coordinator: bool,
    booking: &Booking,
) -> Result<(), CalendarError> {
    if booking.org != author.org && !is_coordinator {
        return Err(CalendarError::NotAllowed(format!(
            "booking {} belongs to another organisation; only it or a coordinator may cancel it",
            booking.id
        )));
    }
    Ok(())
}

/// Whole minutes from `from` to `to` (0 when `to` is not after `from`).
fn minutes(from: i64, to: i64) -> i64 {
    to.saturating_sub(from).max(0) / MINUTE_MS
}

/// Why `slot` may not be booked for `org`, if it may not: against what
/// holds its slot, and the slots of the same call accepted `earlier`.
fn clash(
    resource: &Resource,
    org: &str,
    holding: &Holding,
    earlier: &[Held],
    slot: &NewBooking,
    zone: Tz,
) -> Option<Skipped> {
    if let Some(hours) = resource
        .hours
        .as_ref()
        .filter(|h| !h.allows(slot.from, slot.to, resource.zone))
    {
        return Some(Skipped {
            id: slot.id.clone(),
            from: slot.from,
            to: slot.to,
            reason: ConflictReason::Closed,
            conflict_with: None,
            error: CalendarError::OutsideHours {
                resource: resource.name.clone(),
                hours: hours.to_text().to_owned(),
            },
        });
    }
    if let Some(h) = holding.first_overlapping(slot.from, slot.to).or_else(|| {
        earlier
            .iter()
            .find(|h| slot.from < h.to && h.from < slot.to)
    }) {
        return Some(Skipped {
            id: slot.id.clone(),
            from: slot.from,
            to: slot.to,
            reason: ConflictReason::Overlap,
            conflict_with: Some(h.id.to_owned()),
            error: CalendarError::Overlap {
                resource: resource.name.clone(),
                id: h.id.to_owned(),
                org: h.org.to_owned(),
                from: format_time(h.from, zone),
                to: format_time(h.to, zone),
            },
        });
    }
    let quota = resource.quota?;
    // A booking counts in the period in which it starts.
    let period = quota.period_of(slot.from, resource.zone);
    let total = earlier
        .iter()
        .filter(|h| h.org == org && quota.period_of(h.from, resource.zone) == period)
        .map(|h| minutes(h.from, h.to))
        .fold(
            holding
                .used(org, period.0)
                .saturating_add(minutes(slot.from, slot.to)),
            i64::saturating_add,
        );
    (total > quota.minutes).then(|| Skipped {
        id: slot.id.clone(),
        from: slot.from,
        to: slot.to,
        reason: ConflictReason::Quota,
        conflict_with: None,
        error: CalendarError::Quota {
            resource: resource.name.clone(),
            org: org.to_owned(),
            booked_minutes: total,
            quota: quota.to_text(),
            period: quota.period_name(),
            period_start: format_time(period.0, zone),
        },
    })
}

/// The free slots between `busy` (the spans one resource's bookings hold,
/// merged, by start: [`Holding::busy`]) that `accept` (given a slot's
/// start) keeps; see
/// [`Calendar::free_slots`].
fn free_slots_in(
    busy: &[(i64, i64)],
    length_ms: i64,
    around_ms: i64,
    zone: Tz,
    count: usize,
    accept: &dyn Fn(i64) -> bool,
) -> Vec<(i64, i64)> {
    if count == 0 || check_length(0, length_ms, zone).is_err() {
        return Vec::new();
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
                if on_step(s) && accept(s) {
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
                if on_step(s) && accept(s) {
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

/// Checks a booking's length.
pub fn check_length(from: i64, to: i64, zone: Tz) -> Result<(), CalendarError> {
    if to <= from {
        return Err(CalendarError::EndBeforeStart {
            from: format_time(from, zone),
            to: format_time(to, zone),
        });
    }
    if to.saturating_sub(from) < MIN_BOOKING_MINUTES * MINUTE_MS {
        return Err(CalendarError::TooShort);
    }
    if to.saturating_sub(from) > MAX_BOOKING_DAYS * 24 * 60 * MINUTE_MS {
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

/// When a repeated booking stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatEnd {
    /// After this many occurrences.
    Count(u32),
    /// With the last occurrence that starts on or before this local date.
    Until(NaiveDate),
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
    repeat_series(from, to, repeat, RepeatEnd::Count(count), zone)
}

/// The occurrences of a slot repeated daily or weekly until `end` (a count,
/// or a last local date, inclusive), keeping the local wall-clock times
/// across daylight-saving changes. An occurrence whose local start or end
/// does not exist is refused, as are more than [`MAX_REPEAT`] occurrences.
pub fn repeat_series(
    from: i64,
    to: i64,
    repeat: Repeat,
    end: RepeatEnd,
    zone: Tz,
) -> Result<Vec<(i64, i64)>, CalendarError> {
    let step_days = match repeat {
        Repeat::Daily => 1,
        Repeat::Weekly => 7,
    };
    let (start, finish) = (ms_to_local(from, zone), ms_to_local(to, zone));
    let count = match end {
        RepeatEnd::Count(count) => {
            if count == 0 || count > MAX_REPEAT {
                return Err(CalendarError::RepeatCount);
            }
            count
        }
        RepeatEnd::Until(date) => {
            if date < start.date() {
                return Err(CalendarError::UntilBeforeStart {
                    until: date.to_string(),
                    first: format_time(from, zone),
                });
            }
            let count = (date - start.date()).num_days() / step_days + 1;
            match u32::try_from(count) {
                Ok(c) if c <= MAX_REPEAT => c,
                _ => return Err(CalendarError::UntilTooFar(date.to_string())),
            }
        }
    };
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..i64::from(count) {
        let shift = Duration::days(step_days * i);
        let (s, e) = (start + shift, finish + shift);
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
    /// Every `decision` value with the device that wrote it.
    decisions: Vec<(String, String)>,
    decision_reason: Option<String>,
    /// The devices that wrote the current `cancelled_by` value(s).
    cancels: Vec<String>,
}

/// Each resource's bookings as read from the document at `generation`
/// (`heads`), with the booking rule's outcome on them. Reading 3,000
/// bookings of one room out of automerge made a booking 100 × slower than
/// on an empty room; ranking 10,000 again on every booking made it 8 ×.
#[derive(Debug)]
struct ReadBookings {
    generation: u64,
    heads: Vec<crate::ChangeHash>,
    by_resource: BTreeMap<String, Room>,
    /// The resources read so far, dropped when a change writes into the
    /// resources.
    resources: KeptResources,
}

/// Resources as read from the document.
#[derive(Debug, Default)]
struct KeptResources {
    /// Every resource, sorted by creation, once read: `book` names its
    /// resource, and finding it by name read every resource each time.
    all: Option<std::sync::Arc<[Resource]>>,
    /// Resources asked for by id, each read alone (reading one out of
    /// automerge cost a booking on a large calendar a tenth of its time,
    /// twice).
    by_id: BTreeMap<String, Resource>,
}

/// One resource's bookings as read, found by id and by start, and the
/// booking rule's outcome on them once asked for.
#[derive(Debug, Default)]
struct Room {
    raw: BTreeMap<String, RawBooking>,
    /// (start, id) of every booking in `raw`.
    by_start: BTreeSet<(i64, String)>,
    /// At least the length of the longest booking in `raw` (it never
    /// shrinks), so that those overlapping a period are found by start.
    longest: i64,
    /// `None` until asked for, and again whenever `raw` changes otherwise
    /// than by a new booking that ranks last ([`Rule::add_last`]).
    rule: Option<Rule>,
    /// Bookings that changes wrote into since they were read: read again
    /// when the resource is asked for ([`Calendar::settle`]).
    dirty: BTreeSet<String>,
}

impl Room {
    fn read(raw: BTreeMap<String, RawBooking>) -> Self {
        let mut room = Self::default();
        for b in raw.into_values() {
            room.insert(b);
        }
        room
    }

    /// Adds or replaces a booking (the caller forgets the rule's outcome,
    /// unless it adds this node's own booking to it).
    fn insert(&mut self, b: RawBooking) {
        self.remove(&b.id);
        self.longest = self.longest.max(b.to.saturating_sub(b.from));
        self.by_start.insert((b.from, b.id.clone()));
        self.raw.insert(b.id.clone(), b);
    }

    /// Adds bookings that were not there, to the rule's outcome too when
    /// they rank after every other ([`Rule::add_last`]).
    fn add(&mut self, mut added: Vec<RawBooking>) {
        added.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        for b in added {
            if let Some(rule) = &mut self.rule
                && !rule.add_last(&b)
            {
                self.rule = None;
            }
            self.insert(b);
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.raw.remove(id) {
            self.by_start.remove(&(old.from, old.id));
        }
    }

    /// The bookings that overlap `period`, by start.
    fn in_period(&self, period: Period) -> impl Iterator<Item = &RawBooking> {
        let first = period
            .from
            .map_or(i64::MIN, |f| f.saturating_sub(self.longest));
        let last = period.to.unwrap_or(i64::MAX);
        self.by_start
            .range((first, String::new())..)
            .take_while(move |(start, _)| *start < last || period.to.is_none())
            .filter_map(|(_, id)| self.raw.get(id))
            .filter(move |b| period.overlaps(b.from, b.to))
    }

    /// The rule's outcome on these bookings, computed again unless the one
    /// kept was computed for the same resource with the same answers from
    /// `dir`.
    fn rule(&mut self, resource: &Resource, dir: &dyn Directory) -> &Rule {
        let kept = self.rule.take().filter(|r| r.holds_for(resource, dir));
        self.rule
            .insert(kept.unwrap_or_else(|| Rule::compute(resource, &self.raw, dir)))
    }
}

fn read_booking(resource: &str, id: String, r: &Record<'_>) -> RawBooking {
    let doc = r.doc();
    // Packed since schema version 3, one key per field before.
    let (fixed, device) = match r.bytes("fixed").and_then(|b| BookingFixed::unpack(&b)) {
        Some(fixed) => {
            let device = hex::encode(fixed.device);
            (fixed, device)
        }
        None => (
            BookingFixed {
                org: r.string("org"),
                device: [0; 32],
                from: r.int("from").unwrap_or_default(),
                to: r.int("to").unwrap_or_default(),
                purpose: r.string("purpose"),
                created_at: r.int("created_at").unwrap_or_default(),
                series: r.str("series"),
            },
            r.string("device"),
        ),
    };
    RawBooking {
        id,
        resource: resource.to_owned(),
        org: fixed.org,
        device,
        from: fixed.from,
        to: fixed.to,
        purpose: fixed.purpose,
        created_at: fixed.created_at,
        series: fixed.series,
        decisions: if r.str("decision").is_some() {
            written_by(doc, r.obj(), "decision")
        } else {
            Vec::new()
        },
        decision_reason: r.str("decision_reason"),
        cancels: if r.str("cancelled_by").is_some() {
            written_by(doc, r.obj(), "cancelled_by")
                .into_iter()
                .map(|(_, device)| device)
                .collect()
        } else {
            Vec::new()
        },
    }
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
        zone: r
            .str("zone")
            .and_then(|z| z.parse::<Tz>().ok())
            .unwrap_or(Tz::UTC),
        hours: r.str("hours").and_then(|h| OpeningHours::parse(&h).ok()),
        withdrawn_at: r.int("withdrawn_at"),
    }
}

/// The bookings of `room` that overlap `period`, with the status `rule`
/// gives them (see the module docs), by start.
fn rank(room: &Room, rule: &Rule, period: Period) -> Vec<Booking> {
    rank_where(room, rule, period, &|_, _| true)
}

/// [`rank`], keeping only the bookings `keep` accepts (given a booking's
/// organisation and status): only those are copied out.
fn rank_where(
    room: &Room,
    rule: &Rule,
    period: Period,
    keep: &dyn Fn(&str, BookingStatus) -> bool,
) -> Vec<Booking> {
    room.in_period(period)
        .filter_map(|b| {
            let outcome = rule.outcome.get(&b.id).cloned().unwrap_or_default();
            keep(&b.org, outcome.status).then_some((b, outcome))
        })
        .map(|(b, outcome)| Booking {
            id: b.id.clone(),
            resource: b.resource.clone(),
            org: b.org.clone(),
            device: b.device.clone(),
            from: b.from,
            to: b.to,
            purpose: b.purpose.clone(),
            created_at: b.created_at,
            series: b.series.clone(),
            status: outcome.status,
            conflict_with: outcome.conflict_with,
            conflict: outcome.conflict,
            reason: if outcome.decided {
                b.decision_reason.clone()
            } else {
                None
            },
            decided: outcome.decided,
        })
        .collect()
}

/// Whether a booking lost its slot (`conflict`), and is of `org` (any
/// organisation for `None`): given its organisation and status.
fn lost_by(org: Option<&str>) -> impl Fn(&str, BookingStatus) -> bool + '_ {
    move |o, status| status == BookingStatus::Conflict && org.is_none_or(|want| want == o)
}

/// A span of time that bookings are listed for: what overlaps it. Either
/// end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// Bookings that end at or before it are left out.
    pub from: Option<i64>,
    /// Bookings that start at or after it are left out.
    pub to: Option<i64>,
}

impl Period {
    /// All time.
    pub const ALL: Period = Period {
        from: None,
        to: None,
    };

    /// Whether `[from, to)` overlaps the period.
    pub fn overlaps(self, from: i64, to: i64) -> bool {
        self.from.is_none_or(|f| to > f) && self.to.is_none_or(|t| from < t)
    }
}

/// One booking's status as the rule gives it.
#[derive(Clone, Debug)]
struct Outcome {
    status: BookingStatus,
    /// The booking it loses to, for an overlap.
    conflict_with: Option<String>,
    conflict: Option<ConflictReason>,
    /// Whether a decision that counts was made on it.
    decided: bool,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            status: BookingStatus::Conflict,
            conflict_with: None,
            conflict: None,
            decided: false,
        }
    }
}

/// The booking rule's outcome on one resource's bookings: each booking's
/// status, the bookings that hold their slot, and what it depended on, so
/// that it is computed again only when that changes. A booking of this
/// node always ranks last (its `created_at` is after every other), and so
/// do most received ones, so they are added without ranking the others
/// again ([`Rule::add_last`]).
#[derive(Debug)]
struct Rule {
    /// The resource as it was ranked for (owner, approval, quota, zone).
    resource: Resource,
    /// Every device the rule asked the directory about, with its answer.
    consulted: BTreeMap<String, Option<DeviceOrg>>,
    outcome: rustc_hash::FxHashMap<String, Outcome>,
    holding: Holding,
    /// The latest `created_at` of any booking of the resource.
    latest: Option<i64>,
    /// The rank of the booking ranked last: (class, `created_at`, id).
    last: Option<(u8, i64, String)>,
}

impl Rule {
    /// The booking rule (see the module docs) on every booking of `raw`.
    fn compute(
        resource: &Resource,
        raw: &BTreeMap<String, RawBooking>,
        dir: &dyn Directory,
    ) -> Self {
        let consulted = RefCell::new(BTreeMap::new());
        let ask = |device: &str| -> Option<DeviceOrg> {
            consulted
                .borrow_mut()
                .entry(device.to_owned())
                .or_insert_with(|| dir.device_org(device))
                .clone()
        };
        let raw: Vec<&RawBooking> = raw.values().collect();
        // Which cancellations and decisions count (see the module docs).
        let cancelled: Vec<bool> = raw
            .iter()
            .map(|b| {
                b.cancels
                    .iter()
                    .any(|device| ask(device).is_some_and(|d| d.org == b.org || d.coordinator))
            })
            .collect();
        // Of concurrent decisions that count, a refusal wins.
        let decision: Vec<Option<&str>> = raw
            .iter()
            .map(|b| {
                b.decisions
                    .iter()
                    .filter(|(value, device)| {
                        matches!(value.as_str(), "approved" | "declined")
                            && ask(device).is_some_and(|d| d.org == resource.owner)
                    })
                    .map(|(value, _)| value.as_str())
                    .max()
            })
            .collect();
        let approved = |i: usize| decision[i] == Some("approved");
        let class = |x: usize| u8::from(resource.approval && !approved(x));
        let mut order: Vec<usize> = (0..raw.len()).collect();
        order.sort_by(|&a, &b| {
            (class(a), raw[a].created_at, &raw[a].id).cmp(&(
                class(b),
                raw[b].created_at,
                &raw[b].id,
            ))
        });
        let last = order
            .last()
            .map(|&i| (class(i), raw[i].created_at, raw[i].id.clone()));
        let mut holding = Holding::default();
        let mut outcome = rustc_hash::FxHashMap::default();
        for i in order {
            let b = raw[i];
            let (status, conflict_with, conflict) = if cancelled[i] {
                (BookingStatus::Cancelled, None, None)
            } else if decision[i] == Some("declined") {
                (BookingStatus::Declined, None, None)
            } else if let Some(w) = holding.first_overlapping(b.from, b.to) {
                (
                    BookingStatus::Conflict,
                    Some(w.id.clone()),
                    Some(ConflictReason::Overlap),
                )
            } else if holding.over_quota(resource, &b.org, b.from, b.to) {
                (BookingStatus::Conflict, None, Some(ConflictReason::Quota))
            } else {
                holding.push(resource, &b.id, &b.org, b.from, b.to);
                if resource.approval && !approved(i) {
                    (BookingStatus::Pending, None, None)
                } else {
                    (BookingStatus::Confirmed, None, None)
                }
            };
            outcome.insert(
                b.id.clone(),
                Outcome {
                    status,
                    conflict_with,
                    conflict,
                    decided: decision[i].is_some(),
                },
            );
        }
        Self {
            resource: resource.clone(),
            consulted: consulted.into_inner(),
            outcome,
            holding,
            latest: raw.iter().map(|b| b.created_at).max(),
            last,
        }
    }

    /// Whether this outcome is the rule's on the same bookings for
    /// `resource` with `dir`: the rule reads nothing else.
    fn holds_for(&self, resource: &Resource, dir: &dyn Directory) -> bool {
        self.resource == *resource
            && self
                .consulted
                .iter()
                .all(|(device, answer)| dir.device_org(device) == *answer)
    }

    /// Adds a new booking that ranks after every other (this node's own,
    /// or one received that was written after everything it knows), with
    /// neither a cancellation nor a decision on it: its verdict follows
    /// from what holds its slot, and no other verdict changes. `false`
    /// (and nothing added) when it does not rank last: the rule must then
    /// be computed again.
    fn add_last(&mut self, b: &RawBooking) -> bool {
        let key = (u8::from(self.resource.approval), b.created_at, b.id.clone());
        if !b.cancels.is_empty()
            || !b.decisions.is_empty()
            || self.outcome.contains_key(&b.id)
            || self.last.as_ref().is_some_and(|last| *last >= key)
        {
            return false;
        }
        let outcome = if let Some(w) = self.holding.first_overlapping(b.from, b.to) {
            Outcome {
                conflict_with: Some(w.id.clone()),
                conflict: Some(ConflictReason::Overlap),
                ..Outcome::default()
            }
        } else if self
            .holding
            .over_quota(&self.resource, &b.org, b.from, b.to)
        {
            Outcome {
                conflict: Some(ConflictReason::Quota),
                ..Outcome::default()
            }
        } else {
            self.holding
                .push(&self.resource, &b.id, &b.org, b.from, b.to);
            Outcome {
                status: if self.resource.approval {
                    BookingStatus::Pending
                } else {
                    BookingStatus::Confirmed
                },
                ..Outcome::default()
            }
        };
        self.outcome.insert(b.id.clone(), outcome);
        self.latest = self.latest.max(Some(b.created_at));
        self.last = Some(key);
        true
    }
}

/// A booking that holds its slot.
#[derive(Clone, Debug)]
struct Held {
    id: String,
    org: String,
    from: i64,
    to: i64,
}

/// The bookings that hold their slot on one resource, in rank order, found
/// by start, with the minutes each organisation holds per quota period.
#[derive(Debug, Default)]
struct Holding {
    held: Vec<Held>,
    kept: Kept,
    /// Minutes held per (organisation, quota period start).
    used: BTreeMap<(String, i64), i64>,
}

impl Holding {
    fn push(&mut self, resource: &Resource, id: &str, org: &str, from: i64, to: i64) {
        if let Some(q) = resource.quota {
            let total = self
                .used
                .entry((org.to_owned(), q.period_of(from, resource.zone).0))
                .or_default();
            *total = total.saturating_add(minutes(from, to));
        }
        self.kept.push(self.held.len(), from, to);
        self.held.push(Held {
            id: id.to_owned(),
            org: org.to_owned(),
            from,
            to,
        });
    }

    /// The holding booking first in rank that `[from, to)` overlaps.
    fn first_overlapping(&self, from: i64, to: i64) -> Option<&Held> {
        self.kept
            .first_overlapping(from, to)
            .and_then(|i| self.held.get(i))
    }

    /// The minutes `org` holds in the quota period that starts at `start`.
    fn used(&self, org: &str, start: i64) -> i64 {
        self.used
            .get(&(org.to_owned(), start))
            .copied()
            .unwrap_or(0)
    }

    /// Whether `[from, to)` would bring `org` over the resource's quota in
    /// the period it starts in.
    fn over_quota(&self, resource: &Resource, org: &str, from: i64, to: i64) -> bool {
        resource.quota.is_some_and(|q| {
            self.used(org, q.period_of(from, resource.zone).0)
                .saturating_add(minutes(from, to))
                > q.minutes
        })
    }

    /// The spans taken, merged, by start.
    fn busy(&self) -> Vec<(i64, i64)> {
        let mut held: Vec<(i64, i64)> = self.kept.spans().collect();
        if !self.kept.odd.is_empty() {
            held.sort_unstable();
        }
        let mut busy: Vec<(i64, i64)> = Vec::with_capacity(held.len());
        for (from, to) in held {
            match busy.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => busy.push((from, to)),
            }
        }
        busy
    }
}

/// The bookings [`Rule::compute`] kept so far, in rank order.
#[derive(Debug, Default)]
struct Kept {
    /// Those with a length, by (start, index): they never overlap.
    by_start: BTreeMap<(i64, usize), (i64, usize)>,
    /// Those without (start at or after their end): (start, end, rank, index).
    odd: Vec<(i64, i64, usize, usize)>,
    count: usize,
}

impl Kept {
    fn push(&mut self, i: usize, from: i64, to: i64) {
        if from < to {
            self.by_start.insert((from, i), (to, self.count));
        } else {
            self.odd.push((from, to, self.count, i));
        }
        self.count += 1;
    }

    /// Every kept span, those with a length by start, then the others.
    fn spans(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.by_start
            .iter()
            .map(|(&(from, _), &(to, _))| (from, to))
            .chain(self.odd.iter().map(|&(from, to, _, _)| (from, to)))
    }

    /// The index of the kept booking first in rank that `[from, to)`
    /// overlaps (`from < its end` and `its start < to`).
    fn first_overlapping(&self, from: i64, to: i64) -> Option<usize> {
        let mut first: Option<(usize, usize)> = None;
        let mut take = |rank: usize, i: usize| {
            if first.is_none_or(|(r, _)| rank < r) {
                first = Some((rank, i));
            }
        };
        for (&(_, i), &(end, rank)) in self.by_start.range(..(to, 0)).rev() {
            if end <= from {
                break;
            }
            take(rank, i);
        }
        for &(start, end, rank, i) in &self.odd {
            if from < end && start < to {
                take(rank, i);
            }
        }
        first.map(|(_, i)| i)
    }
}

#[cfg(test)]
mod kept_tests {
    use super::Kept;
    use proptest::prelude::*;

    proptest! {
        /// The kept booking first in rank that a booking overlaps is the
        /// one a scan of every kept booking in rank order finds, odd
        /// bookings (no length) included.
        #[test]
        fn first_overlapping_is_the_first_in_rank(
            slots in proptest::collection::vec((0i64..60, -5i64..20), 1..80)
        ) {
            let mut kept = Kept::default();
            let mut scan: Vec<(usize, i64, i64)> = Vec::new();
            for (i, &(from, len)) in slots.iter().enumerate() {
                let to = from + len;
                let naive = scan
                    .iter()
                    .find(|&&(_, f, t)| from < t && f < to)
                    .map(|&(k, _, _)| k);
                prop_assert_eq!(kept.first_overlapping(from, to), naive);
                if naive.is_none() {
                    kept.push(i, from, to);
                    scan.push((i, from, to));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DocKind;
    use crate::doc::Part;
    use crate::time::parse_time;

    const BXL: Tz = chrono_tz::Europe::Brussels;

    fn author(org: &str, device: u8) -> Author {
        Author {
            device: [device; 32],
            org: org.into(),
        }
    }

    /// Devices `[n; 32]`: 1 and 4 are org-a's (a coordinator, and the owner
    /// of the test rooms), 2 and 5 org-b's, 3 org-c's.
    fn dir() -> BTreeMap<String, DeviceOrg> {
        [
            (1, "org-a"),
            (2, "org-b"),
            (3, "org-c"),
            (4, "org-a"),
            (5, "org-b"),
        ]
        .into_iter()
        .map(|(d, org)| {
            (
                hex::encode([d; 32]),
                DeviceOrg {
                    org: org.into(),
                    coordinator: org == "org-a",
                },
            )
        })
        .collect()
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
        let mut cal = Calendar::new(SharedDoc::new(DocKind::Calendar(Part::FIRST), [1; 32]));
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
                zone: BXL,
                hours: None,
            },
        )
        .unwrap();
        cal
    }

    /// A booking stored before schema version 3 (one key per field) is read
    /// and ranked beside packed ones, and cancelled like them.
    #[test]
    fn bookings_of_the_old_schema_are_read_beside_packed_ones() {
        let mut cal = calendar_with_room(None, false);
        {
            let doc = cal.doc_mut();
            let bookings = doc.root_obj("bookings");
            let tx = doc.write();
            let shelf = tx.put_object(&bookings, "room1", ObjType::Map).unwrap();
            let old = tx.put_object(&shelf, "old1", ObjType::Map).unwrap();
            tx.put(&old, "org", "org-b").unwrap();
            tx.put(&old, "device", hex::encode([2; 32])).unwrap();
            tx.put(&old, "from", t("2026-06-01T10:00")).unwrap();
            tx.put(&old, "to", t("2026-06-01T12:00")).unwrap();
            tx.put(&old, "purpose", "AG").unwrap();
            tx.put(&old, "created_at", 5).unwrap();
            doc.commit(5, "book");
        }
        cal.refresh();
        let old = cal.booking("old1", &dir()).unwrap();
        assert_eq!(
            (old.org.as_str(), old.device.as_str(), old.purpose.as_str()),
            ("org-b", hex::encode([2; 32]).as_str(), "AG")
        );
        assert_eq!(
            (old.from, old.to, old.created_at),
            (t("2026-06-01T10:00"), t("2026-06-01T12:00"), 5)
        );
        // A packed booking of the same slot loses it to the older one...
        let book_new = |cal: &mut Calendar, now: i64| {
            let new = slot("new1", "2026-06-01T11:00", "2026-06-01T13:00");
            let org_a = author("org-a", 1);
            cal.book(&org_a, now, "room1", &new, "CA", None, BXL, &dir())
        };
        let err = book_new(&mut cal, 10).unwrap_err();
        assert!(
            matches!(err, CalendarError::Overlap { ref id, .. } if id == "old1"),
            "{err}"
        );
        // ...and takes it once the old one is cancelled by its organisation.
        cal.cancel(&author("org-b", 2), false, 11, "old1", &dir())
            .unwrap();
        book_new(&mut cal, 12).unwrap();
        assert_eq!(status_of(&cal, "old1").0, BookingStatus::Cancelled);
        assert_eq!(status_of(&cal, "new1").0, BookingStatus::Confirmed);
        let fresh = Calendar::new(
            SharedDoc::load(
                DocKind::Calendar(Part::FIRST),
                [1; 32],
                [cal.doc_mut().save().as_slice()],
            )
            .unwrap(),
        );
        let new = fresh.booking("new1", &dir()).unwrap();
        assert_eq!(
            (new.org.as_str(), new.purpose.as_str(), new.created_at),
            ("org-a", "CA", 12)
        );
        assert_eq!(new.device, hex::encode([1; 32]));
    }

    proptest::proptest! {
        /// Packed fields read back as written, and nothing else reads as
        /// packed fields but exactly what `pack` wrote.
        #[test]
        fn packed_bookings_read_back_exactly(
            org in "[0-9a-f]{32}",
            device in proptest::array::uniform32(0u8..),
            from in proptest::num::i64::ANY,
            len in 0i64..1_000_000_000,
            purpose in "\\PC{0,60}",
            created_at in proptest::num::i64::ANY,
            series in proptest::option::of("[0-9a-f]{32}"),
            cut in 0usize..200,
        ) {
            let fixed = BookingFixed { org, device, from, to: from.saturating_add(len), purpose, created_at, series };
            let bytes = fixed.pack();
            proptest::prop_assert_eq!(BookingFixed::unpack(&bytes), Some(fixed));
            if cut < bytes.len() {
                proptest::prop_assert_eq!(BookingFixed::unpack(&bytes[..cut]), None);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            proptest::prop_assert_eq!(BookingFixed::unpack(&longer), None);
        }
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
            &dir(),
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
                &dir(),
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
            &dir(),
        )
        .unwrap();
        assert_eq!(cal.bookings(Some("room1"), &dir()).len(), 2);
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
                cal.book(&a, 1, "room1", &slot("x", from, to), "", None, BXL, &dir())
                    .is_err()
            );
        }
        assert!(cal.bookings(None, &dir()).is_empty());
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
            &dir(),
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
                &dir(),
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
            &dir(),
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
            &dir(),
        )
        .unwrap();
    }

    #[test]
    fn concurrent_overlaps_resolve_the_same_everywhere() {
        let mut a = calendar_with_room(None, false);
        let base = a.doc_mut().save();
        let mut b = Calendar::new(
            SharedDoc::load(DocKind::Calendar(Part::FIRST), [2; 32], [&base[..]]).unwrap(),
        );
        a.book(
            &author("org-a", 1),
            100,
            "room1",
            &slot("ba", "2026-06-01T10:00", "2026-06-01T12:00"),
            "",
            None,
            BXL,
            &dir(),
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
            &dir(),
        )
        .unwrap();
        let mut fa = a.doc_mut().fork();
        let mut fb = b.doc_mut().fork();
        a.doc_mut().merge(&mut fb).unwrap();
        b.doc_mut().merge(&mut fa).unwrap();
        let (la, lb) = (a.bookings(None, &dir()), b.bookings(None, &dir()));
        assert_eq!(la, lb);
        let loser = la.iter().find(|x| x.id == "ba").unwrap();
        assert_eq!(loser.status, BookingStatus::Conflict);
        assert_eq!(loser.conflict_with.as_deref(), Some("bb"));
        // What `status` shows each organisation: its own lost bookings.
        assert_eq!(a.conflicts(Some("org-a"), &dir()), vec![loser.clone()]);
        assert_eq!(a.conflicts(None, &dir()), vec![loser.clone()]);
        assert!(b.conflicts(Some("org-b"), &dir()).is_empty());
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
            &dir(),
        )
        .unwrap();
        assert_eq!(
            cal.booking("b1", &dir()).unwrap().status,
            BookingStatus::Pending
        );
        assert!(
            cal.decide(&author("org-b", 2), 6, "b1", true, None, &dir())
                .is_err()
        );
        cal.decide(&author("org-a", 1), 7, "b1", true, None, &dir())
            .unwrap();
        assert_eq!(
            cal.booking("b1", &dir()).unwrap().status,
            BookingStatus::Confirmed
        );
        assert!(
            cal.cancel(&author("org-c", 3), false, 8, "b1", &dir())
                .is_err()
        );
        cal.cancel(&author("org-b", 2), false, 9, "b1", &dir())
            .unwrap();
        assert_eq!(
            cal.booking("b1", &dir()).unwrap().status,
            BookingStatus::Cancelled
        );
    }

    /// Acts on a copy of `cal` as device `[device; 32]`, then merges the
    /// copy back: what another device does, synced.
    fn on_device(cal: &mut Calendar, device: u8, act: impl FnOnce(&mut Calendar)) {
        let bytes = cal.doc_mut().save();
        let mut other = Calendar::new(
            SharedDoc::load(DocKind::Calendar(Part::FIRST), [device; 32], [&bytes[..]]).unwrap(),
        );
        act(&mut other);
        cal.doc_mut().merge(other.doc_mut()).unwrap();
    }

    fn status_of(cal: &Calendar, id: &str) -> (BookingStatus, Option<ConflictReason>) {
        let b = cal.booking(id, &dir()).unwrap();
        (b.status, b.conflict)
    }

    #[test]
    fn quota_holds_after_two_devices_book_apart() {
        // org-b's two devices, offline, each book 2h of a 3h/week room.
        let mut a = calendar_with_room(Some(Quota::parse("3h/week").unwrap()), false);
        let base = a.doc_mut().save();
        let load = |d: u8| {
            Calendar::new(
                SharedDoc::load(DocKind::Calendar(Part::FIRST), [d; 32], [&base[..]]).unwrap(),
            )
        };
        let (mut one, mut two) = (load(2), load(5));
        one.book(
            &author("org-b", 2),
            100,
            "room1",
            &slot("first", "2026-06-02T10:00", "2026-06-02T12:00"),
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        two.book(
            &author("org-b", 5),
            200,
            "room1",
            &slot("second", "2026-06-04T10:00", "2026-06-04T12:00"),
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        // org-c books the same week, within its own quota.
        a.book(
            &author("org-c", 3),
            300,
            "room1",
            &slot("other", "2026-06-05T10:00", "2026-06-05T13:00"),
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        let (mut f1, mut f2) = (one.doc_mut().fork(), two.doc_mut().fork());
        a.doc_mut().merge(&mut f2).unwrap();
        a.doc_mut().merge(&mut f1).unwrap();
        two.doc_mut().merge(&mut f1).unwrap();
        two.doc_mut().merge(&mut a.doc_mut().fork()).unwrap();
        assert_eq!(a.bookings(None, &dir()), two.bookings(None, &dir()));
        assert_eq!(status_of(&a, "first"), (BookingStatus::Confirmed, None));
        let second = a.booking("second", &dir()).unwrap();
        assert_eq!(second.status, BookingStatus::Conflict);
        assert_eq!(second.conflict, Some(ConflictReason::Quota));
        assert_eq!(second.conflict_with, None);
        assert_eq!(status_of(&a, "other"), (BookingStatus::Confirmed, None));
        // Cancelling the first frees the quota: the second holds again.
        a.cancel(&author("org-b", 2), false, 400, "first", &dir())
            .unwrap();
        assert_eq!(status_of(&a, "second"), (BookingStatus::Confirmed, None));
    }

    #[test]
    fn quota_periods_count_in_the_resource_zone() {
        // Sunday 20:00 and Monday 00:30 in Brussels are two weeks there, one
        // week in Tokyo: a node in Tokyo counts them in Brussels weeks.
        let tokyo = chrono_tz::Asia::Tokyo;
        let mut cal = calendar_with_room(Some(Quota::parse("3h/week").unwrap()), false);
        assert_eq!(cal.resource("room1").unwrap().zone, BXL);
        for (id, from, to) in [
            ("sun", "2026-06-07T20:00", "2026-06-07T22:00"),
            ("mon", "2026-06-08T00:30", "2026-06-08T02:30"),
        ] {
            cal.book(
                &author("org-b", 2),
                1,
                "room1",
                &slot(id, from, to),
                "",
                None,
                tokyo,
                &dir(),
            )
            .unwrap();
        }
        let usage = cal.usage("room1", t("2026-06-07T12:00"), &["org-c"], &dir());
        let summary: Vec<(String, String, i64)> = usage
            .iter()
            .map(|u| (u.org.clone(), format_time(u.period_start, BXL), u.minutes))
            .collect();
        assert_eq!(
            summary,
            [
                ("org-b".into(), "2026-06-01T00:00:00+02:00".into(), 120),
                ("org-c".into(), "2026-06-01T00:00:00+02:00".into(), 0),
                ("org-b".into(), "2026-06-08T00:00:00+02:00".into(), 120),
                ("org-c".into(), "2026-06-08T00:00:00+02:00".into(), 0),
            ]
        );
        assert!(usage.iter().all(|u| u.quota_minutes == 180));
        assert!(
            calendar_with_room(None, false)
                .usage("room1", 0, &["org-b"], &dir())
                .is_empty()
        );
    }

    #[test]
    fn a_series_skips_what_clashes_and_books_the_rest() {
        let mut cal = calendar_with_room(Some(Quota::parse("3h/week").unwrap()), false);
        book_slot(&mut cal, "taken", "2026-06-09T10:00", "2026-06-09T12:00");
        book_slot(&mut cal, "busy", "2026-06-15T08:00", "2026-06-15T09:00");
        let occurrences = repeat_slots(
            t("2026-06-01T10:00"),
            t("2026-06-01T12:00"),
            Repeat::Weekly,
            3,
            BXL,
        )
        .unwrap();
        let mut slots: Vec<NewBooking> = occurrences
            .iter()
            .enumerate()
            .map(|(i, &(from, to))| NewBooking {
                id: format!("w{i}"),
                from,
                to,
            })
            .collect();
        // A fourth slot that overlaps the first of the series.
        slots.push(NewBooking {
            id: "w3".into(),
            from: t("2026-06-01T11:00"),
            to: t("2026-06-01T11:30"),
        });
        let booked = cal
            .book(
                &author("org-b", 2),
                5,
                "room1",
                &slots,
                "",
                Some("s"),
                BXL,
                &dir(),
            )
            .unwrap();
        assert_eq!(booked.ids, ["w0", "w2"]);
        let skipped: Vec<(&str, ConflictReason, Option<&str>)> = booked
            .skipped
            .iter()
            .map(|s| (s.id.as_str(), s.reason, s.conflict_with.as_deref()))
            .collect();
        // w1: org-b already has 2h in that week (quota 3h); w3 overlaps w0;
        // w2 fits beside the hour org-b has in its week.
        assert_eq!(
            skipped,
            [
                ("w1", ConflictReason::Quota, None),
                ("w3", ConflictReason::Overlap, Some("w0")),
            ]
        );
        assert!(
            matches!(
                booked.skipped[0].error,
                CalendarError::Quota {
                    booked_minutes: 240,
                    ..
                }
            ),
            "{}",
            booked.skipped[0].error
        );
        assert_eq!(status_of(&cal, "w2"), (BookingStatus::Confirmed, None));

        // When every occurrence clashes, nothing is stored.
        let heads = cal.doc_mut().heads();
        let err = cal
            .book(
                &author("org-c", 3),
                6,
                "room1",
                &[
                    NewBooking {
                        id: "x1".into(),
                        from: t("2026-06-01T10:30"),
                        to: t("2026-06-01T11:30"),
                    },
                    NewBooking {
                        id: "x2".into(),
                        from: t("2026-06-22T08:00"),
                        to: t("2026-06-22T12:00"),
                    },
                ],
                "",
                Some("s2"),
                BXL,
                &dir(),
            )
            .unwrap_err();
        assert!(
            matches!(&err, CalendarError::SeriesClash { count: 2, first }
                if matches!(**first, CalendarError::Overlap { .. })),
            "{err}"
        );
        assert_eq!(cal.doc_mut().heads(), heads, "a refused series wrote");
    }

    #[test]
    fn cancel_a_whole_series_or_one_occurrence() {
        let mut cal = calendar_with_room(None, false);
        let slots: Vec<NewBooking> = (0..4)
            .map(|i| NewBooking {
                id: format!("s{i}"),
                from: t("2026-06-01T10:00") + i * DAY_MS,
                to: t("2026-06-01T11:00") + i * DAY_MS,
            })
            .collect();
        cal.book(
            &author("org-b", 2),
            1,
            "room1",
            &slots,
            "",
            Some("series"),
            BXL,
            &dir(),
        )
        .unwrap();
        book_slot(&mut cal, "alone", "2026-06-10T10:00", "2026-06-10T11:00");
        cal.cancel(&author("org-b", 2), false, 2, "s1", &dir())
            .unwrap();
        // Another organisation may not; a coordinator may.
        assert!(matches!(
            cal.cancel_series(&author("org-c", 3), false, 3, "s0", &dir()),
            Err(CalendarError::NotAllowed(_))
        ));
        let done = cal
            .cancel_series(&author("org-b", 2), false, 4, "s1", &dir())
            .unwrap();
        let ids: Vec<&str> = done.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["s0", "s2", "s3"]);
        for id in ["s0", "s1", "s2", "s3"] {
            assert_eq!(status_of(&cal, id).0, BookingStatus::Cancelled);
        }
        assert_eq!(status_of(&cal, "alone").0, BookingStatus::Confirmed);
        assert!(matches!(
            cal.cancel_series(&author("org-b", 2), false, 5, "s2", &dir()),
            Err(CalendarError::SeriesClosed(_))
        ));
        // A booking of no series: just itself.
        let done = cal
            .cancel_series(&author("org-a", 1), true, 6, "alone", &dir())
            .unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(status_of(&cal, "alone").0, BookingStatus::Cancelled);
    }

    /// The rule's outcome is kept between calls, but follows what it read
    /// besides the bookings: the directory's answers and the resource.
    #[test]
    fn the_kept_outcome_follows_the_directory_and_the_resource() {
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T11:00");
        book_slot(&mut cal, "b2", "2026-06-01T11:00", "2026-06-01T12:00");
        on_device(&mut cal, 3, |c| {
            c.cancel(&author("org-c", 3), true, 2, "b1", &dir())
                .unwrap();
        });
        cal.refresh();
        assert_eq!(status_of(&cal, "b1").0, BookingStatus::Confirmed);
        // org-c becomes a coordinator: its cancellation now counts.
        let mut promoted = dir();
        promoted.insert(
            hex::encode([3; 32]),
            DeviceOrg {
                org: "org-c".into(),
                coordinator: true,
            },
        );
        let status = |cal: &Calendar, dir: &BTreeMap<String, DeviceOrg>| {
            cal.booking("b1", dir).unwrap().status
        };
        assert_eq!(status(&cal, &promoted), BookingStatus::Cancelled);
        assert_eq!(status(&cal, &dir()), BookingStatus::Confirmed);
        // A quota set on the room: org-b's 2h are over 1h a week.
        let author_a = author("org-a", 1);
        cal.edit_resource(
            &author_a,
            3,
            "room1",
            &ResourceChange {
                quota: Some(Some(Quota::parse("1h/week").unwrap())),
                ..ResourceChange::default()
            },
        )
        .unwrap();
        let b2 = cal.booking("b2", &dir()).unwrap();
        assert_eq!(
            (b2.status, b2.conflict),
            (BookingStatus::Conflict, Some(ConflictReason::Quota))
        );
    }

    /// `room1` renamed by its owner org-a, at `at`.
    fn rename(c: &mut Calendar, at: i64, name: &str) {
        c.edit_resource(
            &author("org-a", 1),
            at,
            "room1",
            &ResourceChange {
                name: Some(name),
                ..ResourceChange::default()
            },
        )
        .unwrap();
    }

    /// Resources are found by name from a list kept between bookings: it
    /// follows a rename here, a rename and a new resource from another
    /// device, and is kept across this node's own bookings.
    #[test]
    fn the_kept_resource_list_follows_every_change_to_the_resources() {
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T11:00");
        assert_eq!(cal.resource("Salle Horta").unwrap().id, "room1");
        book_slot(&mut cal, "b2", "2026-06-01T11:00", "2026-06-01T12:00");
        rename(&mut cal, 3, "Salle Victor");
        cal.refresh();
        assert_eq!(cal.resource("Salle Victor").unwrap().id, "room1");
        assert!(cal.resource("Salle Horta").is_err());
        on_device(&mut cal, 1, |c| {
            rename(c, 4, "Salle Tamines");
            c.add_resource(
                &author("org-a", 1),
                5,
                NewResource {
                    id: "van1",
                    name: "Camionnette",
                    kind: ResourceKind::Vehicle,
                    capacity: None,
                    location: None,
                    quota: None,
                    approval: false,
                    zone: BXL,
                    hours: None,
                },
            )
            .unwrap();
        });
        cal.refresh();
        assert_eq!(cal.resource("Salle Tamines").unwrap().id, "room1");
        assert_eq!(cal.resource("Camionnette").unwrap().id, "van1");
        assert_eq!(cal.resources().len(), 2);
    }

    /// A resource asked for by its id is kept between bookings, and
    /// follows a rename here and one from another device.
    #[test]
    fn a_resource_asked_for_by_id_follows_every_change_to_it() {
        let name = |c: &Calendar| c.resource("room1").unwrap().name;
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T11:00");
        assert_eq!(name(&cal), "Salle Horta");
        book_slot(&mut cal, "b2", "2026-06-01T11:00", "2026-06-01T12:00");
        assert_eq!(name(&cal), "Salle Horta");
        rename(&mut cal, 3, "Salle Victor");
        assert_eq!(name(&cal), "Salle Victor", "before the refresh");
        cal.refresh();
        assert_eq!(name(&cal), "Salle Victor");
        book_slot(&mut cal, "b3", "2026-06-01T12:00", "2026-06-01T13:00");
        on_device(&mut cal, 1, |c| rename(c, 4, "Salle Tamines"));
        cal.refresh();
        assert_eq!(name(&cal), "Salle Tamines");
        assert_eq!(cal.resource("Salle Tamines").unwrap().id, "room1");
    }

    #[test]
    fn only_the_booking_org_or_a_coordinator_cancels_on_every_node() {
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T11:00");
        book_slot(&mut cal, "b2", "2026-06-01T11:00", "2026-06-01T12:00");
        book_slot(&mut cal, "b3", "2026-06-01T12:00", "2026-06-01T13:00");
        book_slot(&mut cal, "b4", "2026-06-01T13:00", "2026-06-01T14:00");
        // org-c's device claims to be a coordinator, or to be org-b: ignored.
        on_device(&mut cal, 3, |c| {
            c.cancel(&author("org-c", 3), true, 2, "b1", &dir())
                .unwrap();
            c.cancel(&author("org-b", 3), false, 2, "b2", &dir())
                .unwrap();
            // It sees its own forgery ignored too.
            assert_eq!(status_of(c, "b1").0, BookingStatus::Confirmed);
        });
        // A device no member has: ignored.
        on_device(&mut cal, 9, |c| {
            c.cancel(&author("org-b", 9), false, 2, "b3", &dir())
                .unwrap();
        });
        for id in ["b1", "b2", "b3"] {
            assert_eq!(status_of(&cal, id).0, BookingStatus::Confirmed, "{id}");
        }
        // org-b's second device, and a coordinator's device, count.
        on_device(&mut cal, 5, |c| {
            c.cancel(&author("org-b", 5), false, 3, "b1", &dir())
                .unwrap();
        });
        on_device(&mut cal, 4, |c| {
            c.cancel(&author("org-a", 4), true, 3, "b2", &dir())
                .unwrap();
        });
        assert_eq!(status_of(&cal, "b1").0, BookingStatus::Cancelled);
        assert_eq!(status_of(&cal, "b2").0, BookingStatus::Cancelled);
        // The device each cancellation was made with is stored beside it.
        let obj = cal
            .booking_obj(&cal.booking("b1", &dir()).unwrap())
            .unwrap();
        let record = Record::new(cal.doc.read(), obj);
        assert_eq!(
            record.str("cancelled_by_device"),
            Some(hex::encode([5; 32]))
        );
        // A forged cancellation and a real one, concurrently: it is cancelled.
        let bytes = cal.doc_mut().save();
        let mut forger = Calendar::new(
            SharedDoc::load(DocKind::Calendar(Part::FIRST), [3; 32], [&bytes[..]]).unwrap(),
        );
        forger
            .cancel(&author("org-b", 3), false, 4, "b4", &dir())
            .unwrap();
        on_device(&mut cal, 2, |c| {
            c.cancel(&author("org-b", 2), false, 4, "b4", &dir())
                .unwrap();
        });
        cal.doc_mut().merge(forger.doc_mut()).unwrap();
        assert_eq!(status_of(&cal, "b4").0, BookingStatus::Cancelled);
    }

    #[test]
    fn only_the_owner_decides_on_every_node() {
        let mut cal = calendar_with_room(None, true);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T11:00");
        book_slot(&mut cal, "b2", "2026-06-01T11:00", "2026-06-01T12:00");
        // org-b's device writes a decision as if it were the owner: ignored,
        // and the owner may still decide.
        on_device(&mut cal, 2, |c| {
            c.decide(&author("org-a", 2), 2, "b1", true, None, &dir())
                .unwrap();
        });
        let b1 = cal.booking("b1", &dir()).unwrap();
        assert_eq!((b1.status, b1.decided), (BookingStatus::Pending, false));
        // The owner's second device decides: it counts.
        on_device(&mut cal, 4, |c| {
            c.decide(&author("org-a", 4), 3, "b1", false, Some("travaux"), &dir())
                .unwrap();
        });
        let b1 = cal.booking("b1", &dir()).unwrap();
        assert_eq!(b1.status, BookingStatus::Declined);
        assert_eq!(b1.reason.as_deref(), Some("travaux"));
        // Concurrent approval and refusal by the owner: the refusal wins.
        let bytes = cal.doc_mut().save();
        let mut other = Calendar::new(
            SharedDoc::load(DocKind::Calendar(Part::FIRST), [4; 32], [&bytes[..]]).unwrap(),
        );
        other
            .decide(&author("org-a", 4), 4, "b2", true, None, &dir())
            .unwrap();
        cal.decide(&author("org-a", 1), 4, "b2", false, None, &dir())
            .unwrap();
        cal.doc_mut().merge(other.doc_mut()).unwrap();
        other.doc_mut().merge(&mut cal.doc_mut().fork()).unwrap();
        assert_eq!(status_of(&cal, "b2").0, BookingStatus::Declined);
        assert_eq!(status_of(&other, "b2").0, BookingStatus::Declined);
    }

    #[test]
    fn suggestions_are_free_and_within_the_quota() {
        let mut a = calendar_with_room(Some(Quota::parse("3h/week").unwrap()), false);
        let base = a.doc_mut().save();
        let mut b = Calendar::new(
            SharedDoc::load(DocKind::Calendar(Part::FIRST), [2; 32], [&base[..]]).unwrap(),
        );
        // org-a keeps Sunday 2026-06-07 10:00-12:00; org-b, apart and later,
        // booked 11:00-13:00 and already has 2h on Monday of that week.
        a.book(
            &author("org-a", 1),
            10,
            "room1",
            &slot("win", "2026-06-07T10:00", "2026-06-07T12:00"),
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        b.book(
            &author("org-b", 2),
            20,
            "room1",
            &[
                NewBooking {
                    id: "mon".into(),
                    from: t("2026-06-01T08:00"),
                    to: t("2026-06-01T09:00"),
                },
                NewBooking {
                    id: "lose".into(),
                    from: t("2026-06-07T11:00"),
                    to: t("2026-06-07T13:00"),
                },
            ],
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        a.doc_mut().merge(b.doc_mut()).unwrap();
        let lose = a.booking("lose", &dir()).unwrap();
        assert_eq!(lose.status, BookingStatus::Conflict);
        assert_eq!(lose.conflict, Some(ConflictReason::Overlap));
        assert_eq!(lose.conflict_with.as_deref(), Some("win"));
        let all = a.suggestions(None, None, Period::ALL, BXL, 3, &dir());
        assert_eq!(all.keys().collect::<Vec<_>>(), ["lose"]);
        // Only 2h fit in org-b's week until Sunday 24:00 (1h used, 2h slot
        // fits: 3h): 12:00 is nearest after; before, 08:00 is 3h away.
        assert_eq!(
            starts(&all["lose"], BXL),
            [
                "2026-06-07T12:00:00+02:00",
                "2026-06-07T12:15:00+02:00",
                "2026-06-07T12:30:00+02:00",
            ]
        );
        // With 3h already used that week (by org-b's other device), the
        // week is out: Monday of the next is nearest.
        let mut x = calendar_with_room(Some(Quota::parse("3h/week").unwrap()), false);
        let base = x.doc_mut().save();
        let load = |d: u8| {
            Calendar::new(
                SharedDoc::load(DocKind::Calendar(Part::FIRST), [d; 32], [&base[..]]).unwrap(),
            )
        };
        let (mut y, mut z) = (load(5), load(2));
        x.book(
            &author("org-a", 1),
            0,
            "room1",
            &slot("win", "2026-06-07T20:00", "2026-06-07T23:00"),
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        y.book(
            &author("org-b", 5),
            1,
            "room1",
            &slot("used", "2026-06-01T08:00", "2026-06-01T11:00"),
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        z.book(
            &author("org-b", 2),
            5,
            "room1",
            &slot("lose", "2026-06-07T21:00", "2026-06-07T22:00"),
            "",
            None,
            BXL,
            &dir(),
        )
        .unwrap();
        x.doc_mut().merge(y.doc_mut()).unwrap();
        x.doc_mut().merge(z.doc_mut()).unwrap();
        assert_eq!(
            status_of(&x, "lose"),
            (BookingStatus::Conflict, Some(ConflictReason::Overlap))
        );
        let hour = 60 * MINUTE_MS;
        assert_eq!(
            starts(
                &x.free_slots("room1", hour, t("2026-06-07T21:00"), BXL, 2, &dir()),
                BXL
            ),
            ["2026-06-07T19:00:00+02:00", "2026-06-07T23:00:00+02:00"]
        );
        let got = x.suggestions(Some("room1"), Some("org-b"), Period::ALL, BXL, 2, &dir());
        assert_eq!(
            starts(&got["lose"], BXL),
            ["2026-06-08T00:00:00+02:00", "2026-06-08T00:15:00+02:00"]
        );
        assert!(got["lose"].iter().all(|&(s, e)| e - s == hour));
        assert!(
            x.suggestions(None, Some("org-c"), Period::ALL, BXL, 2, &dir())
                .is_empty()
        );
    }

    #[test]
    fn repeat_until_a_date_inclusive() {
        let until = |d: &str| RepeatEnd::Until(NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap());
        let from = t("2026-03-22T10:00");
        let to = t("2026-03-22T11:00");
        let weekly = repeat_series(from, to, Repeat::Weekly, until("2026-04-05"), BXL).unwrap();
        assert_eq!(
            starts(&weekly, BXL),
            [
                "2026-03-22T10:00:00+01:00",
                "2026-03-29T10:00:00+02:00",
                "2026-04-05T10:00:00+02:00",
            ]
        );
        let weekly = repeat_series(from, to, Repeat::Weekly, until("2026-04-04"), BXL).unwrap();
        assert_eq!(weekly.len(), 2);
        let daily = repeat_series(from, to, Repeat::Daily, until("2026-03-22"), BXL).unwrap();
        assert_eq!(daily, [(from, to)]);
        assert!(matches!(
            repeat_series(from, to, Repeat::Daily, until("2026-03-21"), BXL),
            Err(CalendarError::UntilBeforeStart { .. })
        ));
        assert!(matches!(
            repeat_series(from, to, Repeat::Daily, until("2027-03-23"), BXL),
            Err(CalendarError::UntilTooFar(_))
        ));
        assert_eq!(
            repeat_series(from, to, Repeat::Daily, until("2027-03-22"), BXL)
                .unwrap()
                .len(),
            366
        );
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
            &dir(),
        )
        .unwrap();
    }

    #[test]
    fn free_slots_nearest_first() {
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:00", "2026-06-01T12:00");
        let hour = 60 * MINUTE_MS;
        let slots = cal.free_slots("room1", hour, t("2026-06-01T10:00"), BXL, 6, &dir());
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
        let slots = cal.free_slots("Salle Horta", hour, t("2026-06-01T13:07"), BXL, 2, &dir());
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
        cal.cancel(&author("org-b", 2), false, 2, "b1", &dir())
            .unwrap();
        cal.decide(&author("org-a", 1), 3, "b3", false, None, &dir())
            .unwrap();
        // b2 is pending: it holds its slot; b1 is cancelled, b3 declined.
        let half = 30 * MINUTE_MS;
        let slots = cal.free_slots("room1", half, t("2026-06-01T11:00"), BXL, 4, &dir());
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
            starts(&cal.free_slots("room1", hour, around, BXL, 1, &dir()), BXL),
            ["2026-06-01T10:00:00+02:00"]
        );
        // One minute more and it would start before the week: July it is.
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-06-01T10:59", "2026-07-01T10:00");
        assert_eq!(
            starts(&cal.free_slots("room1", hour, around, BXL, 2, &dir()), BXL),
            ["2026-07-01T10:00:00+02:00", "2026-07-01T10:15:00+02:00"]
        );
        assert!(
            cal.free_slots("nowhere", hour, around, BXL, 3, &dir())
                .is_empty()
        );
        assert!(
            cal.free_slots("room1", hour, around, BXL, 0, &dir())
                .is_empty()
        );
        assert!(
            cal.free_slots("room1", MINUTE_MS, around, BXL, 3, &dir())
                .is_empty()
        );
        assert!(
            cal.free_slots("room1", -hour, around, BXL, 3, &dir())
                .is_empty()
        );
        assert!(
            cal.free_slots("room1", 93 * DAY_MS, around, BXL, 3, &dir())
                .is_empty()
        );
        // Huge counts and extreme times end, and stay within the bounds.
        let all = cal.free_slots("room1", hour, around, BXL, usize::MAX, &dir());
        assert!(all.len() > 300 * 96);
        assert!(all.iter().all(
            |&(s, _)| s >= around - 7 * DAY_MS && s <= around + FREE_SLOTS_DAYS_AFTER * DAY_MS
        ));
        for extreme in [i64::MIN, i64::MAX, i64::MAX - 1, i64::MIN + 1] {
            let _ = cal.free_slots("room1", hour, extreme, BXL, 1000, &dir());
        }
    }

    #[test]
    fn free_slots_skip_the_spring_gap() {
        // 2026-03-29: clocks go from 02:00 to 03:00 in Brussels.
        let mut cal = calendar_with_room(None, false);
        book_slot(&mut cal, "b1", "2026-03-29T00:00", "2026-03-29T01:45");
        book_slot(&mut cal, "b2", "2026-03-29T03:30", "2026-03-29T06:00");
        let half = 30 * MINUTE_MS;
        let slots = cal.free_slots("room1", half, t("2026-03-29T01:45"), BXL, 3, &dir());
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
        let day = cal.free_slots("room1", half, t("2026-03-29T00:00"), BXL, 200, &dir());
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
            &dir(),
        )
        .unwrap();
    }

    #[test]
    fn free_slots_offer_both_autumn_hours() {
        // 2026-10-25: 02:00-03:00 happens twice in Brussels.
        let cal = calendar_with_room(None, false);
        let around = parse_time("2026-10-25T02:50:00+02:00", BXL).unwrap();
        let slots = cal.free_slots("room1", 15 * MINUTE_MS, around, BXL, 4, &dir());
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
            let slots = cal.free_slots("room1", 45 * MINUTE_MS, around, zone, 300, &dir());
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
                if cal.book(&author("org-b", 2), 1, "room1", &slots, "", None, BXL, &dir()).is_ok() && cancel {
                    cal.cancel(&author("org-b", 2), false, 2, &slots[0].id, &dir()).unwrap();
                }
            }
            let around = origin + around * quarter + around_offset * MINUTE_MS;
            let length = length * quarter;
            let held: Vec<(i64, i64)> = cal
                .bookings(Some("room1"), &dir())
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
            let got = cal.free_slots("room1", length, around, BXL, count, &dir());
            proptest::prop_assert_eq!(
                got.iter().map(|&(s, _)| s).collect::<Vec<_>>(),
                expected
            );
            proptest::prop_assert!(got.iter().all(|&(s, e)| e - s == length));
            if let Some(&(from, to)) = got.first() {
                let slot = [NewBooking { id: "new".into(), from, to }];
                proptest::prop_assert!(
                    cal.book(&author("org-c", 3), 3, "room1", &slot, "", None, BXL, &dir()).is_ok()
                );
            }
        }
    }
}
