//! Property test of the seat rule (see the `events` module docs).
//!
//! Three or four simulated nodes load the same base events document (one
//! event, a random number of seats, sometimes a per-organisation limit),
//! each as its own device of its own organisation. Each registers, registers
//! again with other seats, or cancels, at random clock readings, without
//! seeing the others; then they gossip (random pairwise merges), may act
//! again on what they have seen, and finally all sync. We check that:
//!
//! (a) every node ends with the same event, registrations and statuses;
//! (b) confirmed seats never exceed the event's seats, and no confirmed
//!     registration asks more than the per-organisation limit;
//! (c) first fit: a waiting registration within the limit did not fit in
//!     the seats that the registrations ranked before it left;
//! (d) merging is idempotent and order-independent;
//! (e) the ranking is a function of the registrations as a set: shuffling
//!     them gives the same lists.

use entraide_docs::events::{Event, NewEvent, RegistrationStatus, rank};
use entraide_docs::{Author, DocKind, Events, SharedDoc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const BASE_DEVICE: [u8; 32] = [0xEE; 32];

#[derive(Clone, Debug)]
enum Act {
    Register { seats: i64, at: i64 },
    Cancel { at: i64 },
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => (1i64..6, 0i64..50).prop_map(|(seats, at)| Act::Register { seats, at: 2_000 + at }),
        1 => (0i64..50).prop_map(|at| Act::Cancel { at: 2_000 + at }),
    ]
}

fn author(node: usize) -> Author {
    Author {
        device: [u8::try_from(node).unwrap() + 1; 32],
        org: format!("org-{node}"),
    }
}

fn run(events: &mut Events, node: usize, id: &str, act: &Act) {
    let a = author(node);
    // Refusals (over the limit, nothing to cancel) change nothing.
    let _ = match *act {
        Act::Register { seats, at } => events.register(&a, at, id, seats, "").map(|_| ()),
        Act::Cancel { at } => events.cancel_registration(&a, at, id).map(|_| ()),
    };
}

fn event(events: &Events) -> Event {
    events.list().into_iter().next().expect("the event")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn every_node_ranks_registrations_alike(
        seats in 1i64..10,
        per_org in proptest::option::of(1i64..4),
        nodes in 3usize..5,
        first in vec(vec(act(), 0..3), 4),
        gossip in vec((any::<Index>(), any::<Index>()), 0..6),
        second in vec(vec(act(), 0..2), 4),
        order in any::<Index>(),
    ) {
        let per_org = per_org.filter(|p| *p <= seats);
        let id = entraide_docs::record_id([9; 8], &BASE_DEVICE);
        let mut base = Events::new(SharedDoc::new(DocKind::Events, BASE_DEVICE));
        base.add(
            &Author { device: BASE_DEVICE, org: "org-base".into() },
            1_000,
            &NewEvent {
                id: &id, title: "Formation", from: 10_000_000, to: 20_000_000,
                seats, per_org, resource: None, booking: None,
            },
        ).unwrap();
        let bytes = base.doc_mut().save();
        let mut docs: Vec<Events> = (0..nodes)
            .map(|n| Events::new(
                SharedDoc::load(DocKind::Events, author(n).device, [&bytes[..]]).unwrap(),
            ))
            .collect();
        for (n, acts) in first.iter().enumerate().take(nodes) {
            for a in acts {
                run(&mut docs[n], n, &id, a);
            }
        }
        for (x, y) in &gossip {
            let (x, y) = (x.index(nodes), y.index(nodes));
            if x != y {
                let mut other = docs[y].doc_mut().fork();
                docs[x].doc_mut().merge(&mut other).unwrap();
            }
        }
        for (n, acts) in second.iter().enumerate().take(nodes) {
            for a in acts {
                run(&mut docs[n], n, &id, a);
            }
        }
        // Everyone syncs, in an order that depends on `order`.
        let start = order.index(nodes);
        for i in 0..nodes {
            let from = (start + i) % nodes;
            let mut other = docs[from].doc_mut().fork();
            for (n, d) in docs.iter_mut().enumerate() {
                if n != from {
                    d.doc_mut().merge(&mut other).unwrap();
                }
            }
        }
        for i in 0..nodes {
            let mut other = docs[i].doc_mut().fork();
            docs[0].doc_mut().merge(&mut other).unwrap();
        }
        let all = docs[0].doc_mut().save();
        for d in &mut docs[1..] {
            d.doc_mut().load_incremental(&all).unwrap();
        }
        let e = event(&docs[0]);
        // (a)
        for d in &docs[1..] {
            prop_assert_eq!(&event(d), &e);
        }
        // (b)
        prop_assert!(e.confirmed_seats() <= e.seats);
        for r in &e.registrations {
            if r.status == RegistrationStatus::Confirmed {
                prop_assert!(e.per_org.is_none_or(|p| r.seats <= p));
            }
        }
        // (c)
        let mut left = e.seats;
        for r in &e.registrations {
            match r.status {
                RegistrationStatus::Confirmed => left -= r.seats,
                RegistrationStatus::Waiting => prop_assert!(
                    r.seats > left || e.per_org.is_some_and(|p| r.seats > p) || r.after_close,
                    "{:?} waits though {} seats were left", r, left
                ),
            }
        }
        // (d) merging again, in the other order, changes nothing.
        let mut again = docs[nodes - 1].doc_mut().fork();
        docs[0].doc_mut().merge(&mut again).unwrap();
        prop_assert_eq!(&event(&docs[0]), &e);
        // (e)
        let raw: Vec<_> = e.registrations.iter().rev()
            .map(|r| (r.org.clone(), r.seats, r.names.clone(), r.at))
            .collect();
        prop_assert_eq!(rank(e.seats, e.per_org, e.closed_at, raw), e.registrations.clone());
    }
}
