//! Property test of the booking rule (see the `calendar` module docs).
//!
//! Three to five simulated nodes load the same base calendar (one or two
//! resources), each as its own device. Each books random slots on a small grid
//! (so overlaps are frequent), for random organisations at random clock
//! readings, and sometimes cancels its own bookings or, acting as the owner,
//! decides on a pending one, all without seeing the others. Then they gossip
//! (random pairwise merges), may act again on what they have seen, and finally
//! all sync. We check that:
//!
//! (a) every node ends with identical `bookings(None)`;
//! (b) no two bookings of one resource that hold their slot (confirmed or
//!     pending) overlap;
//! (c) every conflict's `conflict_with` names a booking that holds its slot,
//!     overlaps it and ranks before it;
//! (d) merging is idempotent (merging the same document again changes
//!     nothing) and order-independent (merging the nodes' documents in any
//!     order gives the same bookings).

use std::collections::BTreeSet;

use chrono_tz::Tz;
use entraide_docs::calendar::{
    Booking, BookingStatus, CalendarError, NewBooking, NewResource, ResourceKind,
};
use entraide_docs::time::parse_time;
use entraide_docs::{Author, Calendar, DocKind, SharedDoc};
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

#[derive(Clone, Debug)]
enum Op {
    /// Books one or two slots at once: (id salt, start, length), start and
    /// length in half hours from 08:00 on one day.
    Book {
        room: usize,
        org: u8,
        now: i64,
        slots: Vec<(u32, i64, i64)>,
    },
    /// Cancels one of the bookings this node made.
    Cancel { pick: Index, now: i64 },
    /// As the owner, approves or declines one booking of `room-b` this node knows.
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
            0..4u8,
            0..40i64,
            vec((any::<u32>(), 0..16i64, 1..6i64), 1..=2)
        )
            .prop_map(|(room, org, now, slots)| Op::Book { room, org, now, slots }),
        2 => (any::<Index>(), 0..40i64).prop_map(|(pick, now)| Op::Cancel { pick, now }),
        1 => (any::<Index>(), any::<bool>(), 0..40i64)
            .prop_map(|(pick, approve, now)| Op::Decide { pick, approve, now }),
    ]
}

#[derive(Clone, Debug)]
struct Scenario {
    resources: usize,
    approval: bool,
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
    (3usize..=5, 1usize..=2, any::<bool>()).prop_flat_map(|(nodes, resources, approval)| {
        let order = Just((0..nodes).collect::<Vec<_>>()).prop_shuffle();
        (
            vec(vec(op(), 1..10), nodes),
            vec((0..nodes, 0..nodes), 0..8),
            vec(vec(op(), 0..4), nodes),
            vec(order, 3),
        )
            .prop_map(move |(apart, gossip, after, orders)| Scenario {
                resources,
                approval,
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
    cal: Calendar,
    /// Bookings this node made: (id, organisation).
    made: Vec<(String, String)>,
    /// Bookings this node cancelled.
    cancelled: Vec<String>,
}

fn base_doc(resources: usize, approval: bool) -> Vec<u8> {
    let mut cal = Calendar::new(SharedDoc::new(DocKind::Calendar, BASE_DEVICE));
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
                quota: None,
                approval: i == 1 && approval,
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
    fn apply(&mut self, op: &Op, resources: usize) {
        match op {
            Op::Book {
                room,
                org,
                now,
                slots,
            } => {
                let room = ROOMS[room % resources];
                let org = format!("org-{org}");
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
                let author = Author {
                    device: self.device,
                    org: org.clone(),
                };
                let heads = self.cal.doc_mut().heads();
                match self.cal.book(&author, *now, room, &slots, "", None, BXL) {
                    Ok(()) => {
                        self.made
                            .extend(slots.into_iter().map(|s| (s.id, org.clone())));
                    }
                    Err(CalendarError::Overlap { .. }) => {
                        assert_eq!(self.cal.doc_mut().heads(), heads, "a refusal wrote");
                    }
                    Err(e) => panic!("unexpected refusal: {e}"),
                }
            }
            Op::Cancel { pick, now } => {
                if self.made.is_empty() {
                    return;
                }
                let (id, org) = self.made[pick.index(self.made.len())].clone();
                let author = Author {
                    device: self.device,
                    org,
                };
                match self.cal.cancel(&author, false, *now, &id) {
                    Ok(_) => self.cancelled.push(id),
                    Err(CalendarError::Closed(..)) => {}
                    Err(e) => panic!("unexpected refusal to cancel: {e}"),
                }
            }
            Op::Decide { pick, approve, now } => {
                if resources < 2 {
                    return;
                }
                let known = self.cal.bookings(Some(ROOMS[1]));
                if known.is_empty() {
                    return;
                }
                let id = known[pick.index(known.len())].id.clone();
                let owner = Author {
                    device: self.device,
                    org: OWNER.into(),
                };
                match self.cal.decide(&owner, *now, &id, *approve, None) {
                    Ok(_) | Err(CalendarError::NotPending(_)) => {}
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
}

fn holds(b: &Booking) -> bool {
    matches!(b.status, BookingStatus::Confirmed | BookingStatus::Pending)
}

fn overlap(a: &Booking, b: &Booking) -> bool {
    a.resource == b.resource && a.from < b.to && b.from < a.to
}

/// Checks (b) and (c), and that statuses fit the resource.
fn check_rule(list: &[Booking], approval_room: Option<&str>) {
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
            continue;
        }
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
}

/// Runs a scenario, checks it, and returns the bookings everyone ends with.
fn run(s: &Scenario) -> Vec<Booking> {
    let base = base_doc(s.resources, s.approval);
    let approval_room = (s.resources == 2 && s.approval).then_some(ROOMS[1]);
    let mut nodes: Vec<Node> = (0..s.apart.len())
        .map(|i| {
            let device = [i as u8 + 1; 32];
            Node {
                index: i,
                device,
                cal: Calendar::new(
                    SharedDoc::load(DocKind::Calendar, device, [&base[..]]).expect("load"),
                ),
                made: Vec::new(),
                cancelled: Vec::new(),
            }
        })
        .collect();

    // Apart: each node sees only its own bookings, which never conflict.
    for (node, ops) in nodes.iter_mut().zip(&s.apart) {
        for op in ops {
            node.apply(op, s.resources);
        }
        let own = node.cal.bookings(None);
        assert_eq!(own.len(), node.made.len());
        assert!(own.iter().all(|b| b.status != BookingStatus::Conflict));
        check_rule(&own, approval_room);
    }

    // Gossip, then act again on what each has seen.
    for &(into, from) in &s.gossip {
        if into != from {
            pull(&mut nodes, into, from);
            check_rule(&nodes[into].cal.bookings(None), approval_room);
        }
    }
    for (node, ops) in nodes.iter_mut().zip(&s.after) {
        for op in ops {
            node.apply(op, s.resources);
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
    let expected = nodes[0].cal.bookings(None);
    let heads = nodes[0].cal.doc_mut().heads();
    for node in &mut nodes[1..] {
        assert_eq!(
            node.cal.doc_mut().heads(),
            heads,
            "node {} lags",
            node.index
        );
        assert_eq!(
            node.cal.bookings(None),
            expected,
            "node {} disagrees",
            node.index
        );
    }

    // Nothing is lost: every booking made is there, every cancel holds.
    let listed: BTreeSet<&str> = expected.iter().map(|b| b.id.as_str()).collect();
    let made: BTreeSet<&str> = nodes
        .iter()
        .flat_map(|n| n.made.iter().map(|(id, _)| id.as_str()))
        .collect();
    assert_eq!(listed, made, "bookings lost or invented");
    for id in nodes.iter().flat_map(|n| &n.cancelled) {
        let b = expected.iter().find(|b| &b.id == id).expect("listed");
        assert_eq!(b.status, BookingStatus::Cancelled, "{id} came back");
    }

    // (b), (c)
    check_rule(&expected, approval_room);

    // (d) Any merge order gives the same; merging again changes nothing.
    for order in &s.orders {
        let mut acc = Calendar::new(finals[order[0]].fork());
        for &k in &order[1..] {
            acc.doc_mut().merge(&mut finals[k].fork()).expect("merge");
        }
        assert_eq!(
            acc.bookings(None),
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
            acc.bookings(None),
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
        apart: vec![
            vec![Op::Book {
                room: 0,
                org: 1,
                now: 20,
                slots: vec![(0, 0, 4)],
            }],
            vec![Op::Book {
                room: 0,
                org: 2,
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
