//! Property test of the booking rule (see the `calendar` module docs).
//!
//! Three to five simulated nodes load the same base calendar (one or two
//! resources, the first sometimes with a quota), each as its own device;
//! several devices belong to one organisation (`NODE_ORGS`), the owner's
//! organisation is a coordinator. Each books random slots on a small grid (so
//! overlaps and quota breaches are frequent) at random clock readings, and
//! sometimes cancels bookings of its organisation, forges a cancellation of
//! another organisation's booking (claiming to be a coordinator), or decides
//! on a pending one (as the owner if its organisation is the owner, else as a
//! forgery), all without seeing the others. Then they gossip (random pairwise
//! merges), may act again on what they have seen, and finally all sync. We
//! check that:
//!
//! (a) every node ends with identical `bookings(None)`;
//! (b) no two bookings of one resource that hold their slot (confirmed or
//!     pending) overlap, and no organisation's confirmed and pending minutes
//!     exceed the quota in any period;
//! (c) every overlap conflict's `conflict_with` names a booking that holds
//!     its slot, overlaps it and ranks before it; every quota conflict has no
//!     `conflict_with` and would take its organisation over the quota;
//! (d) merging is idempotent (merging the same document again changes
//!     nothing) and order-independent (merging the nodes' documents in any
//!     order gives the same bookings);
//! (e) every cancellation by the booking's organisation or a coordinator
//!     holds, and forged ones (by another organisation's device) and forged
//!     decisions (by a device of an organisation that does not own the
//!     resource) change nothing;
//! (f) what a calendar keeps of the bookings it read, brought up to date
//!     from automerge's patches after each write and merge, always equals
//!     what reading the whole document again gives.

use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Tz;
use entraide_docs::calendar::{
    Booking, BookingStatus, CalendarError, ConflictReason, DeviceOrg, NewBooking, NewResource,
    Period, Quota, ResourceKind,
};
use entraide_docs::time::parse_time;
use entraide_docs::{Author, Calendar, DocKind, Part, SharedDoc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const BXL: Tz = chrono_tz::Europe::Brussels;
const HALF_HOUR_MS: i64 = 30 * 60_000;
/// The organisation that owns the resources.
const OWNER: &str = "org-0";
/// `room-a` never needs approval; `room-b` may.
const ROOMS: [&str; 2] = ["room-a", "room-b"];
const BASE_DEVICE: [u8; 32] = [0xEE; 32];
/// The organisation of each node's device: node 0 is the owner's; two
/// devices each for org-1 and org-2.
const NODE_ORGS: [&str; 5] = [OWNER, "org-1", "org-1", "org-2", "org-2"];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn node_device(index: usize) -> [u8; 32] {
    [index as u8 + 1; 32]
}

/// The membership as the booking rule sees it: every node's device, and the
/// base device, with their organisations; the owner's is a coordinator.
fn directory() -> BTreeMap<String, DeviceOrg> {
    let entry = |device: [u8; 32], org: &str| {
        (
            hex(&device),
            DeviceOrg {
                org: org.to_owned(),
                coordinator: org == OWNER,
            },
        )
    };
    NODE_ORGS
        .iter()
        .enumerate()
        .map(|(i, org)| entry(node_device(i), org))
        .chain([entry(BASE_DEVICE, OWNER)])
        .collect()
}

#[derive(Clone, Debug)]
enum Op {
    /// Books one to three slots at once for the node's organisation: (id
    /// salt, start, length), start and length in half hours from 08:00 on
    /// one day.
    Book {
        room: usize,
        now: i64,
        slots: Vec<(u32, i64, i64)>,
    },
    /// Cancels one booking of its organisation this node knows.
    Cancel { pick: Index, now: i64 },
    /// Cancels a booking of another organisation this node knows, claiming
    /// to be a coordinator (a forgery unless its organisation is one).
    Forge { pick: Index, now: i64 },
    /// Approves or declines one booking of `room-b` this node knows, as the
    /// owner (a forgery unless its organisation is the owner).
    Decide {
        pick: Index,
        approve: bool,
        now: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            0..2usize,
            0..40i64,
            vec((any::<u32>(), 0..16i64, 1..6i64), 1..=3)
        )
            .prop_map(|(room, now, slots)| Op::Book { room, now, slots }),
        2 => (any::<Index>(), 0..40i64).prop_map(|(pick, now)| Op::Cancel { pick, now }),
        2 => (any::<Index>(), 0..40i64).prop_map(|(pick, now)| Op::Forge { pick, now }),
        1 => (any::<Index>(), any::<bool>(), 0..40i64)
            .prop_map(|(pick, approve, now)| Op::Decide { pick, approve, now }),
    ]
}

#[derive(Clone, Debug)]
struct Scenario {
    resources: usize,
    approval: bool,
    /// Hours per week each organisation may book `room-a`.
    quota: Option<u32>,
    /// Per node, what it does before seeing anyone.
    apart: Vec<Vec<Op>>,
    /// Random pairwise merges `(into, from)`.
    gossip: Vec<(usize, usize)>,
    /// Per node, what it does after the gossip (possibly nothing).
    after: Vec<Vec<Op>>,
    /// Orders in which to merge the nodes' final documents.
    orders: Vec<Vec<usize>>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        3usize..=5,
        1usize..=2,
        any::<bool>(),
        proptest::option::weighted(0.6, 1u32..=4),
    )
        .prop_flat_map(|(nodes, resources, approval, quota)| {
            let order = Just((0..nodes).collect::<Vec<_>>()).prop_shuffle();
            (
                vec(vec(op(), 1..10), nodes),
                vec((0..nodes, 0..nodes), 0..8),
                vec(vec(op(), 0..6), nodes),
                vec(order, 3),
            )
                .prop_map(move |(apart, gossip, after, orders)| Scenario {
                    resources,
                    approval,
                    quota,
                    apart,
                    gossip,
                    after,
                    orders,
                })
        })
}

struct Node {
    index: usize,
    device: [u8; 32],
    org: &'static str,
    cal: Calendar,
    /// Bookings this node made.
    made: Vec<String>,
    /// Bookings this node cancelled with the right to.
    cancelled: Vec<String>,
    /// Bookings whose cancellation this node forged.
    forged: Vec<String>,
    /// Bookings this node decided on as the owner.
    decided: Vec<String>,
    /// Bookings whose decision this node forged.
    forged_decisions: Vec<String>,
}

fn base_doc(resources: usize, approval: bool, quota: Option<u32>) -> Vec<u8> {
    let mut cal = Calendar::new(SharedDoc::new(DocKind::Calendar(Part::FIRST), BASE_DEVICE));
    let owner = Author {
        device: BASE_DEVICE,
        org: OWNER.into(),
    };
    for (i, id) in ROOMS.iter().take(resources).enumerate() {
        cal.add_resource(
            &owner,
            1 + i as i64,
            NewResource {
                id,
                name: id,
                kind: ResourceKind::Room,
                capacity: None,
                location: None,
                quota: quota
                    .filter(|_| i == 0)
                    .map(|h| Quota::parse(&format!("{h}h/week")).expect("quota")),
                approval: i == 1 && approval,
                zone: BXL,
                hours: None,
            },
        )
        .expect("add resource");
    }
    cal.doc_mut().save()
}

fn day_start() -> i64 {
    parse_time("2026-06-01T08:00", BXL).expect("time")
}

impl Node {
    fn author(&self) -> Author {
        Author {
            device: self.device,
            org: self.org.to_owned(),
        }
    }

    fn apply(&mut self, op: &Op, resources: usize) {
        let dir = directory();
        match op {
            Op::Book { room, now, slots } => {
                let room = ROOMS[room % resources];
                let slots: Vec<NewBooking> = slots
                    .iter()
                    .enumerate()
                    .map(|(k, &(salt, start, len))| {
                        let from = day_start() + start * HALF_HOUR_MS;
                        NewBooking {
                            // Random order between nodes, unique per node.
                            id: format!("{salt:08x}{:x}{:03x}", self.index, self.made.len() + k),
                            from,
                            to: from + len * HALF_HOUR_MS,
                        }
                    })
                    .collect();
                let heads = self.cal.doc_mut().heads();
                let author = self.author();
                match self
                    .cal
                    .book(&author, *now, room, &slots, "", None, BXL, &dir)
                {
                    Ok(booked) => {
                        assert_eq!(
                            booked.ids.len() + booked.skipped.len(),
                            slots.len(),
                            "slots lost"
                        );
                        self.made.extend(booked.ids);
                    }
                    Err(
                        CalendarError::Overlap { .. }
                        | CalendarError::Quota { .. }
                        | CalendarError::SeriesClash { .. },
                    ) => {
                        assert_eq!(self.cal.doc_mut().heads(), heads, "a refusal wrote");
                    }
                    Err(e) => panic!("unexpected refusal: {e}"),
                }
            }
            Op::Cancel { pick, now } => {
                let own: Vec<Booking> = self
                    .cal
                    .bookings(None, &dir)
                    .into_iter()
                    .filter(|b| b.org == self.org)
                    .collect();
                if own.is_empty() {
                    return;
                }
                let id = own[pick.index(own.len())].id.clone();
                let author = self.author();
                let coordinator = self.org == OWNER;
                match self.cal.cancel(&author, coordinator, *now, &id, &dir) {
                    Ok(_) => self.cancelled.push(id),
                    Err(CalendarError::Closed(..)) => {}
                    Err(e) => panic!("unexpected refusal to cancel: {e}"),
                }
            }
            Op::Forge { pick, now } => {
                let others: Vec<Booking> = self
                    .cal
                    .bookings(None, &dir)
                    .into_iter()
                    .filter(|b| b.org != self.org)
                    .collect();
                if others.is_empty() {
                    return;
                }
                let id = others[pick.index(others.len())].id.clone();
                let rightful = self.org == OWNER;
                let author = self.author();
                match self.cal.cancel(&author, true, *now, &id, &dir) {
                    Ok(_) if rightful => self.cancelled.push(id),
                    Ok(_) => self.forged.push(id),
                    Err(CalendarError::Closed(..)) => {}
                    Err(e) => panic!("unexpected refusal to cancel: {e}"),
                }
            }
            Op::Decide { pick, approve, now } => {
                if resources < 2 {
                    return;
                }
                let known = self.cal.bookings(Some(ROOMS[1]), &dir);
                if known.is_empty() {
                    return;
                }
                let id = known[pick.index(known.len())].id.clone();
                let owner = Author {
                    device: self.device,
                    org: OWNER.into(),
                };
                match self.cal.decide(&owner, *now, &id, *approve, None, &dir) {
                    Ok(_) if self.org == OWNER => self.decided.push(id),
                    Ok(_) => self.forged_decisions.push(id),
                    Err(CalendarError::NotPending(_)) => {}
                    Err(e) => panic!("unexpected refusal to decide: {e}"),
                }
            }
        }
    }
}

/// `into` merges a copy of `from`; merging it again changes nothing (same
/// heads, so the same document; the final checks compare bookings too).
fn pull(nodes: &mut [Node], into: usize, from: usize) {
    let mut copy = nodes[from].cal.doc_mut().fork();
    let target = &mut nodes[into].cal;
    target.doc_mut().merge(&mut copy).expect("merge");
    let heads = target.doc_mut().heads();
    target.doc_mut().merge(&mut copy).expect("merge again");
    assert_eq!(
        target.doc_mut().heads(),
        heads,
        "merging twice changed heads"
    );
    // As the node does once it stored what it received.
    target.refresh();
    read_matches(target);
}

/// (f): the bookings as the calendar keeps them equal a fresh reading of
/// its document.
fn read_matches(cal: &mut Calendar) {
    let dir = directory();
    let kept = cal.bookings(None, &dir);
    let fresh = Calendar::new(cal.doc_mut().fork()).bookings(None, &dir);
    assert_eq!(kept, fresh, "the bookings kept differ from the document's");
    // A calendar page: what overlaps a period, found by start.
    for b in fresh.iter().take(4) {
        for period in [
            Period {
                from: Some(b.from + 1),
                to: Some(b.to + 3_600_000),
            },
            Period {
                from: None,
                to: Some(b.from),
            },
            Period {
                from: Some(b.to),
                to: None,
            },
        ] {
            let want: Vec<Booking> = fresh
                .iter()
                .filter(|x| period.overlaps(x.from, x.to))
                .cloned()
                .collect();
            assert_eq!(
                cal.bookings_in(None, period, &dir),
                want,
                "the bookings of {period:?}"
            );
        }
    }
}

fn holds(b: &Booking) -> bool {
    matches!(b.status, BookingStatus::Confirmed | BookingStatus::Pending)
}

fn overlap(a: &Booking, b: &Booking) -> bool {
    a.resource == b.resource && a.from < b.to && b.from < a.to
}

/// Whole minutes of a booking.
fn minutes(b: &Booking) -> i64 {
    (b.to - b.from) / 60_000
}

/// The minutes each organisation holds (confirmed or pending) per quota
/// period of `room-a` (one day here, so one week).
fn quota_use(list: &[Booking], quota: Option<u32>) -> BTreeMap<(String, i64), i64> {
    let mut used = BTreeMap::new();
    if let Some(hours) = quota {
        let q = Quota::parse(&format!("{hours}h/week")).expect("quota");
        for b in list.iter().filter(|b| b.resource == ROOMS[0] && holds(b)) {
            *used
                .entry((b.org.clone(), q.period_of(b.from, BXL).0))
                .or_default() += minutes(b);
        }
    }
    used
}

/// Checks (b) and (c), and that statuses fit the resource.
fn check_rule(list: &[Booking], approval_room: Option<&str>, quota: Option<u32>) {
    let ids: BTreeSet<(&str, &str)> = list
        .iter()
        .map(|b| (b.resource.as_str(), b.id.as_str()))
        .collect();
    assert_eq!(ids.len(), list.len(), "a booking is listed twice");
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            assert!(
                !(holds(a) && holds(b) && overlap(a, b)),
                "{} and {} both hold overlapping slots",
                a.id,
                b.id
            );
        }
        let needs_approval = approval_room == Some(a.resource.as_str());
        if !needs_approval {
            assert!(
                !matches!(a.status, BookingStatus::Pending | BookingStatus::Declined),
                "{} is {:?} on a resource without approval",
                a.id,
                a.status
            );
        }
        if a.status != BookingStatus::Conflict {
            assert_eq!(a.conflict_with, None, "{} is not a conflict", a.id);
            assert_eq!(a.conflict, None, "{} is not a conflict", a.id);
            continue;
        }
        if a.conflict == Some(ConflictReason::Quota) {
            assert_eq!(a.conflict_with, None, "{} is a quota conflict", a.id);
            let hours = quota
                .filter(|_| a.resource == ROOMS[0])
                .unwrap_or_else(|| panic!("{} is a quota conflict without a quota", a.id));
            let q = Quota::parse(&format!("{hours}h/week")).expect("quota");
            let held = quota_use(list, quota)
                .get(&(a.org.clone(), q.period_of(a.from, BXL).0))
                .copied()
                .unwrap_or(0);
            assert!(
                held + minutes(a) > q.minutes,
                "{} lost on quota but fits: {held} + {} <= {}",
                a.id,
                minutes(a),
                q.minutes
            );
            continue;
        }
        assert_eq!(a.conflict, Some(ConflictReason::Overlap), "{}", a.id);
        let winner_id = a.conflict_with.as_deref().expect("conflict names a winner");
        let winner = list
            .iter()
            .find(|w| w.resource == a.resource && w.id == winner_id)
            .expect("the winner is listed");
        assert!(
            holds(winner),
            "{} loses to {winner_id}, which holds nothing",
            a.id
        );
        assert!(
            overlap(a, winner),
            "{} loses to {winner_id} without overlap",
            a.id
        );
        // The winner ranks first: the earliest kept booking it overlaps.
        if !needs_approval {
            assert!(
                (winner.created_at, &winner.id) < (a.created_at, &a.id),
                "{} loses to {winner_id}, which ranks after it",
                a.id
            );
            let first = list
                .iter()
                .filter(|w| holds(w) && overlap(a, w))
                .min_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)))
                .expect("a winner");
            assert_eq!(
                first.id, winner_id,
                "conflict_with is not the first in rank"
            );
        }
    }
    // No organisation over its quota in any period.
    if let Some(hours) = quota {
        for ((org, period), used) in quota_use(list, quota) {
            assert!(
                used <= i64::from(hours) * 60,
                "{org} holds {used} minutes in the week from {period}, over {hours}h"
            );
        }
    }
}

/// Runs a scenario, checks it, and returns the bookings everyone ends with.
fn run(s: &Scenario) -> Vec<Booking> {
    let base = base_doc(s.resources, s.approval, s.quota);
    let approval_room = (s.resources == 2 && s.approval).then_some(ROOMS[1]);
    let dir = directory();
    let mut nodes: Vec<Node> = (0..s.apart.len())
        .map(|i| {
            let device = node_device(i);
            Node {
                index: i,
                device,
                org: NODE_ORGS[i],
                cal: Calendar::new(
                    SharedDoc::load(DocKind::Calendar(Part::FIRST), device, [&base[..]])
                        .expect("load"),
                ),
                made: Vec::new(),
                cancelled: Vec::new(),
                forged: Vec::new(),
                decided: Vec::new(),
                forged_decisions: Vec::new(),
            }
        })
        .collect();

    // Apart: each node sees only its own bookings, which never conflict.
    for (node, ops) in nodes.iter_mut().zip(&s.apart) {
        for op in ops {
            node.apply(op, s.resources);
            read_matches(&mut node.cal);
        }
        let own = node.cal.bookings(None, &dir);
        assert_eq!(own.len(), node.made.len());
        assert!(own.iter().all(|b| b.status != BookingStatus::Conflict));
        check_rule(&own, approval_room, s.quota);
    }

    // Gossip, then act again on what each has seen.
    for &(into, from) in &s.gossip {
        if into != from {
            pull(&mut nodes, into, from);
            check_rule(
                &nodes[into].cal.bookings(None, &dir),
                approval_room,
                s.quota,
            );
        }
    }
    for (node, ops) in nodes.iter_mut().zip(&s.after) {
        for op in ops {
            node.apply(op, s.resources);
            read_matches(&mut node.cal);
        }
    }

    // The documents as they stand before the final sync.
    let mut finals: Vec<SharedDoc> = nodes.iter_mut().map(|n| n.cal.doc_mut().fork()).collect();

    // Full sync: a pass down the line, then the last node back to all.
    let n = nodes.len();
    for i in 1..n {
        pull(&mut nodes, i, i - 1);
    }
    for i in 0..n - 1 {
        pull(&mut nodes, i, n - 1);
    }

    // (a) Everyone agrees.
    let expected = nodes[0].cal.bookings(None, &dir);
    let heads = nodes[0].cal.doc_mut().heads();
    for node in &mut nodes[1..] {
        assert_eq!(
            node.cal.doc_mut().heads(),
            heads,
            "node {} lags",
            node.index
        );
        assert_eq!(
            node.cal.bookings(None, &dir),
            expected,
            "node {} disagrees",
            node.index
        );
    }

    // Nothing is lost: every booking made is there, every cancel holds.
    let listed: BTreeSet<&str> = expected.iter().map(|b| b.id.as_str()).collect();
    let made: BTreeSet<&str> = nodes
        .iter()
        .flat_map(|n| n.made.iter().map(String::as_str))
        .collect();
    assert_eq!(listed, made, "bookings lost or invented");
    let find = |id: &str| expected.iter().find(|b| b.id == id).expect("listed");
    for id in nodes.iter().flat_map(|n| &n.cancelled) {
        assert_eq!(find(id).status, BookingStatus::Cancelled, "{id} came back");
    }

    // (e) Forgeries change nothing.
    let rightful: BTreeSet<&String> = nodes.iter().flat_map(|n| &n.cancelled).collect();
    for id in nodes.iter().flat_map(|n| &n.forged) {
        if !rightful.contains(id) {
            assert_ne!(
                find(id).status,
                BookingStatus::Cancelled,
                "a forged cancellation of {id} counted"
            );
        }
    }
    let decided: BTreeSet<&String> = nodes.iter().flat_map(|n| &n.decided).collect();
    for id in nodes.iter().flat_map(|n| &n.forged_decisions) {
        if !decided.contains(id) {
            let b = find(id);
            assert!(!b.decided, "a forged decision on {id} counted");
            assert_ne!(b.status, BookingStatus::Declined, "{id}");
        }
    }

    // (b), (c)
    check_rule(&expected, approval_room, s.quota);

    // (d) Any merge order gives the same; merging again changes nothing.
    for order in &s.orders {
        let mut acc = Calendar::new(finals[order[0]].fork());
        for &k in &order[1..] {
            acc.doc_mut().merge(&mut finals[k].fork()).expect("merge");
        }
        assert_eq!(
            acc.bookings(None, &dir),
            expected,
            "merge order {order:?} differs"
        );
        assert_eq!(acc.doc_mut().heads(), heads);
        for doc in &mut finals {
            acc.doc_mut().merge(&mut doc.fork()).expect("merge again");
        }
        let mut itself = acc.doc_mut().fork();
        acc.doc_mut().merge(&mut itself).expect("merge itself");
        assert_eq!(
            acc.bookings(None, &dir),
            expected,
            "merging again changed bookings"
        );
        assert_eq!(acc.doc_mut().heads(), heads, "merging again changed heads");
    }
    expected
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn booking_rule_converges(s in scenario()) {
        run(&s);
    }
}

/// The scenario of the module docs, spelt out: the later booking loses even
/// when its node syncs first.
#[test]
fn first_to_book_keeps_the_room() {
    let s = Scenario {
        resources: 1,
        approval: false,
        quota: None,
        apart: vec![
            vec![Op::Book {
                room: 0,
                now: 20,
                slots: vec![(0, 0, 4)],
            }],
            vec![Op::Book {
                room: 0,
                now: 10,
                slots: vec![(0, 2, 4)],
            }],
            vec![],
        ],
        gossip: vec![(2, 0), (0, 1)],
        after: vec![vec![], vec![], vec![]],
        orders: vec![vec![0, 1, 2], vec![2, 1, 0]],
    };
    let list = run(&s);
    let status = |id: &str| {
        let b = list.iter().find(|b| b.id == id).expect("listed");
        (b.status, b.conflict_with.clone())
    };
    assert_eq!(status("000000001000"), (BookingStatus::Confirmed, None));
    assert_eq!(
        status("000000000000"),
        (BookingStatus::Conflict, Some("000000001000".to_owned()))
    );
}

/// Two devices of one organisation (nodes 1 and 2, both org-1) book 2h each
/// of a 3h/week room while apart: once synced, the later one is a quota
/// conflict, on every node, whoever syncs first.
#[test]
fn two_devices_together_over_the_quota() {
    let s = Scenario {
        resources: 1,
        approval: false,
        quota: Some(3),
        apart: vec![
            vec![],
            vec![Op::Book {
                room: 0,
                now: 10,
                slots: vec![(0, 0, 4)],
            }],
            vec![Op::Book {
                room: 0,
                now: 20,
                slots: vec![(0, 8, 4)],
            }],
        ],
        gossip: vec![(0, 2), (0, 1)],
        after: vec![vec![], vec![], vec![]],
        orders: vec![vec![0, 1, 2], vec![2, 1, 0]],
    };
    let list = run(&s);
    let status = |id: &str| {
        let b = list.iter().find(|b| b.id == id).expect("listed");
        (b.status, b.conflict, b.conflict_with.clone())
    };
    assert_eq!(
        status("000000001000"),
        (BookingStatus::Confirmed, None, None)
    );
    assert_eq!(
        status("000000002000"),
        (BookingStatus::Conflict, Some(ConflictReason::Quota), None)
    );
}
