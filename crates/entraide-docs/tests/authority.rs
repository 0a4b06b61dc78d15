//! The authority check (`entraide_docs::authority`), on documents made by
//! the typed APIs (what honest nodes write must pass) and on raw automerge
//! edits (what a modified client could write must not), plus its laws: the
//! verdict on a set of changes does not depend on the order they come in.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue};
use chrono_tz::Tz;
use entraide_docs::calendar::{DeviceOrg, NewBooking, NewResource, ResourceKind};
use entraide_docs::{
    Author, Calendar, DocKind, Members, Part, SharedDoc, Values, check_changes, record_id,
};
use proptest::prelude::*;

const BXL: Tz = chrono_tz::Europe::Brussels;
const T0: i64 = 1_780_000_000_000;
const A_DEV: [u8; 32] = [0xA1; 32];
const B_DEV: [u8; 32] = [0xB1; 32];
const STRANGER: [u8; 32] = [0x55; 32];

/// Two organisations, `org-a` (a coordinator) and `org-b`, one device each.
struct Two;

impl Members for Two {
    fn org_of(&self, device: &[u8; 32]) -> Option<String> {
        match *device {
            A_DEV => Some("org-a".into()),
            B_DEV => Some("org-b".into()),
            _ => None,
        }
    }

    fn coordinator_at(&self, org: &str, heads: &[[u8; 32]]) -> Option<bool> {
        (!heads.is_empty()).then_some(org == "org-a")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dir(device_hex: &str) -> Option<DeviceOrg> {
    let org = if device_hex == hex(&A_DEV) {
        "org-a"
    } else if device_hex == hex(&B_DEV) {
        "org-b"
    } else {
        return None;
    };
    Some(DeviceOrg {
        org: org.into(),
        coordinator: org == "org-a",
    })
}

fn author(device: [u8; 32]) -> Author {
    Author {
        device,
        org: Two.org_of(&device).expect("member"),
    }
}

/// A calendar where org-a added a room and org-b booked it.
fn calendar() -> (Calendar, String, String) {
    let mut cal = Calendar::new(SharedDoc::new(DocKind::Calendar(Part::FIRST), A_DEV));
    let room = record_id([1; 8], &A_DEV);
    cal.add_resource(
        &author(A_DEV),
        T0,
        NewResource {
            id: &room,
            name: "Salle Horta",
            kind: ResourceKind::Room,
            capacity: Some(20),
            location: None,
            quota: None,
            approval: true,
            zone: BXL,
            hours: None,
        },
    )
    .expect("room");
    let saved = cal.doc_mut().save();
    let mut b = Calendar::new(SharedDoc::new(DocKind::Calendar(Part::FIRST), B_DEV));
    b.doc_mut().load_incremental(&saved).expect("load");
    let booking = record_id([2; 8], &B_DEV);
    b.book(
        &author(B_DEV),
        T0 + 1,
        &room,
        &[NewBooking {
            id: booking.clone(),
            from: T0 + 86_400_000,
            to: T0 + 90_000_000,
        }],
        "AG",
        None,
        BXL,
        &dir,
    )
    .expect("book");
    (b, room, booking)
}

/// Every change of `doc` but the genesis, checked against `doc` itself.
fn check_all(doc: &mut AutoCommit, kind: DocKind) -> Result<(), entraide_docs::Refusal> {
    let genesis = SharedDoc::genesis_hash(kind);
    let changes: Vec<_> = doc
        .get_changes(&[])
        .into_iter()
        .filter(|c| c.hash() != genesis)
        .collect();
    check_changes(kind, doc, &changes, &Two)
}

fn raw(shared: &mut SharedDoc, device: [u8; 32]) -> AutoCommit {
    AutoCommit::load(&shared.save())
        .expect("load")
        .with_actor(ActorId::from(device.as_slice()))
}

fn booking_obj(doc: &AutoCommit, room: &str, booking: &str) -> automerge::ObjId {
    let (_, bookings) = doc.get(ROOT, "bookings").unwrap().unwrap();
    let (_, shelf) = doc.get(&bookings, room).unwrap().unwrap();
    doc.get(&shelf, booking).unwrap().unwrap().1
}

/// The verdict on `doc`'s changes after `edit` by `device`.
fn after(
    shared: &mut SharedDoc,
    kind: DocKind,
    device: [u8; 32],
    edit: impl FnOnce(&mut AutoCommit),
) -> Result<(), entraide_docs::Refusal> {
    let mut doc = raw(shared, device);
    edit(&mut doc);
    doc.commit();
    check_all(&mut doc, kind)
}

#[test]
fn what_the_typed_apis_write_passes() {
    let (mut cal, _, booking) = calendar();
    cal.cancel(&author(B_DEV), false, T0 + 2, &booking, &dir)
        .expect("cancel");
    check_all(
        &mut raw(cal.doc_mut(), B_DEV),
        DocKind::Calendar(Part::FIRST),
    )
    .expect("honest calendar");

    let mut values = Values::new(SharedDoc::new(DocKind::Values, A_DEV));
    let id = record_id([3; 8], &A_DEV);
    values
        .add(&author(A_DEV), T0, &id, "Solidarité", "Nous partageons")
        .expect("value");
    check_all(&mut raw(values.doc_mut(), A_DEV), DocKind::Values).expect("honest values");
}

#[test]
fn fixed_fields_cannot_be_rewritten_even_by_their_author() {
    let (mut cal, room, booking) = calendar();
    for (field, value) in [
        ("org", ScalarValue::Str("org-a".into())),
        ("created_at", ScalarValue::Int(0)),
        ("from", ScalarValue::Int(T0)),
    ] {
        let refused = after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), B_DEV, |d| {
            let obj = booking_obj(d, &room, &booking);
            d.put(&obj, field, value).unwrap();
        })
        .expect_err(field);
        assert!(refused.rule.contains("fixed"), "{}", refused.rule);
        assert_eq!(refused.author, B_DEV.to_vec());
    }
}

/// A booking's packed fields (schema version 3) are checked like the
/// fields written one by one: in the writer's own name, bounded, and fixed.
#[test]
fn packed_bookings_are_made_in_their_writers_name_only() {
    use entraide_docs::BookingFixed;
    let (mut cal, room, booking) = calendar();
    let fixed = |org: &str, device: [u8; 32], purpose: &str| BookingFixed {
        org: org.into(),
        device,
        from: T0 + 100_000_000,
        to: T0 + 103_600_000,
        purpose: purpose.into(),
        created_at: T0 + 5,
        series: None,
    };
    let new_booking = |value: ScalarValue| {
        let room = room.clone();
        move |d: &mut AutoCommit| {
            let (_, bookings) = d.get(ROOT, "bookings").unwrap().unwrap();
            let (_, shelf) = d.get(&bookings, room.as_str()).unwrap().unwrap();
            let id = record_id([9; 8], &B_DEV);
            let b = d.put_object(&shelf, id.as_str(), ObjType::Map).unwrap();
            d.put(&b, "fixed", value).unwrap();
        }
    };
    let honest = fixed("org-b", B_DEV, "Formation").pack();
    after(
        cal.doc_mut(),
        DocKind::Calendar(Part::FIRST),
        B_DEV,
        new_booking(ScalarValue::Bytes(honest.clone())),
    )
    .expect("an honest packed booking");
    let mut trailing = honest.clone();
    trailing.push(0);
    let mut unknown_version = honest.clone();
    unknown_version[0] = 2;
    for (what, value, rule) in [
        (
            "another organisation's name",
            ScalarValue::Bytes(fixed("org-a", B_DEV, "x").pack()),
            "own name",
        ),
        (
            "another device",
            ScalarValue::Bytes(fixed("org-b", A_DEV, "x").pack()),
            "own name",
        ),
        (
            "an oversized purpose",
            ScalarValue::Bytes(fixed("org-b", B_DEV, &"x".repeat(501)).pack()),
            "500",
        ),
        (
            "trailing bytes",
            ScalarValue::Bytes(trailing),
            "known version",
        ),
        (
            "another version",
            ScalarValue::Bytes(unknown_version),
            "known version",
        ),
        ("a string", ScalarValue::Str("org-b".into()), "bytes"),
    ] {
        let refused = after(
            cal.doc_mut(),
            DocKind::Calendar(Part::FIRST),
            B_DEV,
            new_booking(value),
        )
        .expect_err(what);
        assert!(refused.rule.contains(rule), "{what}: {}", refused.rule);
    }
    // Written once: the booking's own device cannot move it afterwards.
    let refused = after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), B_DEV, |d| {
        let obj = booking_obj(d, &room, &booking);
        d.put(&obj, "fixed", ScalarValue::Bytes(honest)).unwrap();
    })
    .expect_err("rewriting the packed fields");
    assert!(refused.rule.contains("fixed"), "{}", refused.rule);
}

#[test]
fn another_organisations_records_are_out_of_reach() {
    let (mut cal, room, booking) = calendar();
    // Deleting B's booking, as A.
    assert!(
        after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), A_DEV, |d| {
            let (_, bookings) = d.get(ROOT, "bookings").unwrap().unwrap();
            let (_, shelf) = d.get(&bookings, room.as_str()).unwrap().unwrap();
            d.delete(&shelf, booking.as_str()).unwrap();
        })
        .is_err()
    );
    // Deciding as B on A's room.
    let refused = after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), B_DEV, |d| {
        let obj = booking_obj(d, &room, &booking);
        d.put(&obj, "decision", "approved").unwrap();
    })
    .expect_err("decision by a non-owner");
    assert!(refused.rule.contains("owner"), "{}", refused.rule);
    // Changing the room's owner, as B.
    assert!(
        after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), B_DEV, |d| {
            let (_, resources) = d.get(ROOT, "resources").unwrap().unwrap();
            let (_, r) = d.get(&resources, room.as_str()).unwrap().unwrap();
            d.put(&r, "owner", "org-b").unwrap();
        })
        .is_err()
    );
    // A record under an id that names another device.
    assert!(
        after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), B_DEV, |d| {
            let (_, resources) = d.get(ROOT, "resources").unwrap().unwrap();
            d.put_object(&resources, record_id([9; 8], &A_DEV), ObjType::Map)
                .unwrap();
        })
        .is_err()
    );
    // A cancellation of B's booking by A (a coordinator) must cite the
    // membership it was a coordinator in.
    assert!(
        after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), A_DEV, |d| {
            let obj = booking_obj(d, &room, &booking);
            d.put(&obj, "cancelled_by", "org-a").unwrap();
        })
        .is_err()
    );
    after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), A_DEV, |d| {
        let obj = booking_obj(d, &room, &booking);
        d.put(&obj, "cancelled_by", "org-a").unwrap();
        d.put(&obj, "cancelled_under", hex(&[7; 32])).unwrap();
    })
    .expect("a coordinator's cancellation citing the membership");
}

#[test]
fn the_schema_refuses_roots_unknown_keys_types_counters_and_strangers() {
    let (mut cal, room, booking) = calendar();
    type Edit = Box<dyn FnOnce(&mut AutoCommit)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("root", Box::new(|d| d.put(ROOT, "x", 1).unwrap())),
        (
            "genesis object",
            Box::new(|d| {
                d.put_object(ROOT, "resources", ObjType::Map).unwrap();
            }),
        ),
        (
            "unknown key",
            Box::new(|d| {
                let (_, resources) = d.get(ROOT, "resources").unwrap().unwrap();
                let id = record_id([4; 8], &B_DEV);
                let r = d.put_object(&resources, id.as_str(), ObjType::Map).unwrap();
                d.put(&r, "colour", "red").unwrap();
            }),
        ),
        (
            "wrong type",
            Box::new(|d| {
                let (_, resources) = d.get(ROOT, "resources").unwrap().unwrap();
                let id = record_id([5; 8], &B_DEV);
                let r = d.put_object(&resources, id.as_str(), ObjType::Map).unwrap();
                d.put(&r, "capacity", "twenty").unwrap();
            }),
        ),
        (
            "counter",
            Box::new(move |d| {
                let obj = booking_obj(d, &room, &booking);
                d.put(&obj, "cancelled_at", ScalarValue::counter(1))
                    .unwrap();
                d.increment(&obj, "cancelled_at", 1).unwrap();
            }),
        ),
    ];
    for (what, edit) in cases {
        assert!(
            after(cal.doc_mut(), DocKind::Calendar(Part::FIRST), B_DEV, edit).is_err(),
            "{what} was accepted"
        );
    }
    let mut charter = SharedDoc::new(DocKind::Charter, STRANGER);
    let refused = after(&mut charter, DocKind::Charter, STRANGER, |d| {
        let (_, text) = d.get(ROOT, "text").unwrap().unwrap();
        d.splice_text(&text, 0, 0, "hello").unwrap();
    })
    .expect_err("a stranger's change");
    assert!(refused.rule.contains("no admitted organisation"));
    assert!(
        refused.undecided,
        "a stranger may yet be admitted: no verdict"
    );
}

/// A catch-up (a bundle of hundreds of changes) is checked on another core
/// while automerge applies it: a hostile change anywhere in it, or a refused
/// signature, still leaves the receiving document exactly as it was, and an
/// honest one is taken whole.
#[test]
fn a_large_bundle_is_taken_whole_or_not_at_all() {
    for outcome in ["honest", "hostile", "unsigned"] {
        let (mut cal, room, booking) = calendar();
        let base = cal.doc_mut().save();
        let mut doc = AutoCommit::load(&base)
            .unwrap()
            .with_actor(ActorId::from(B_DEV.as_slice()));
        let before = doc.get_heads();
        for step in 0..400 {
            let obj = booking_obj(&doc, &room, &booking);
            if outcome == "hostile" && step == 399 {
                doc.put(&obj, "org", "org-a").unwrap();
            } else {
                doc.put(&obj, "cancelled_at", T0 + step).unwrap();
            }
            doc.commit();
        }
        let bundle = doc.save_after(&before);
        let mut receiver = SharedDoc::new(DocKind::Calendar(Part::FIRST), A_DEV);
        receiver.load_incremental(&base).expect("base");
        let held = receiver.heads();
        let result = receiver.apply_verified(&bundle, &Two, |added| {
            if outcome == "unsigned" {
                Err(format!("{} changes not signed", added.len()))
            } else {
                Ok(())
            }
        });
        let now = AutoCommit::load(&receiver.save()).expect("reload");
        let obj = booking_obj(&now, &room, &booking);
        let field = |key: &str| now.get(&obj, key).unwrap();
        match outcome {
            "honest" => {
                assert_eq!(result.expect("an honest catch-up").len(), 400);
                assert_eq!(receiver.heads(), doc.get_heads());
                assert!(field("cancelled_at").is_some());
            }
            _ => {
                match (outcome, result) {
                    ("hostile", Err(entraide_docs::ApplyError::Unauthorized(r))) => {
                        assert_eq!(r.author, B_DEV.to_vec());
                    }
                    ("unsigned", Err(entraide_docs::ApplyError::Refused(_))) => {}
                    (_, other) => panic!("{outcome}: {other:?}"),
                }
                assert_eq!(receiver.heads(), held, "{outcome}");
                assert!(field("cancelled_at").is_none(), "{outcome}");
                // The hostile `org` never landed beside the booking's
                // packed fields.
                assert!(field("org").is_none(), "{outcome}");
                assert!(field("fixed").is_some(), "{outcome}");
            }
        }
    }
}

/// A newcomer's whole save of hundreds of changes: a hostile change
/// anywhere in it leaves the newcomer's document as it was; an honest save
/// is taken whole.
#[test]
fn a_large_whole_save_is_taken_whole_or_not_at_all() {
    for (outcome, at) in [
        ("honest", 0),
        ("hostile", 10),
        ("hostile", 200),
        ("hostile", 399),
    ] {
        let (mut cal, room, booking) = calendar();
        let base = cal.doc_mut().save();
        let mut doc = AutoCommit::load(&base)
            .unwrap()
            .with_actor(ActorId::from(B_DEV.as_slice()));
        for step in 0..400 {
            let obj = booking_obj(&doc, &room, &booking);
            if outcome == "hostile" && step == at {
                doc.put(&obj, "org", "org-a").unwrap();
            } else {
                doc.put(&obj, "cancelled_at", T0 + step).unwrap();
            }
            doc.commit();
        }
        let save = doc.save();
        let mut newcomer = SharedDoc::new(DocKind::Calendar(Part::FIRST), A_DEV);
        let held = newcomer.heads();
        let result = newcomer.apply_verified(&save, &Two, |_| Ok::<(), String>(()));
        match (outcome, result) {
            ("honest", Ok(added)) => {
                assert!(added.len() > 400, "{}", added.len());
                assert_eq!(newcomer.heads(), doc.get_heads());
            }
            ("hostile", Err(entraide_docs::ApplyError::Unauthorized(r))) => {
                assert_eq!(r.author, B_DEV.to_vec(), "{at}");
                assert_eq!(newcomer.heads(), held, "{at}");
            }
            (_, other) => panic!("{outcome} at {at}: {other:?}"),
        }
    }
}

proptest! {
    /// The verdict on a bundle of honest and hostile changes is the same
    /// whatever order they arrive in, and checking twice changes nothing.
    #[test]
    fn the_verdict_does_not_depend_on_arrival_order(
        hostile in proptest::option::of(0usize..3),
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut v: Vec<usize> = (0..5).collect();
            for i in (1..v.len()).rev() {
                let j = (rng.next_u32() as usize) % (i + 1);
                v.swap(i, j);
            }
            v
        }),
    ) {
        let (mut cal, room, booking) = calendar();
        let base = cal.doc_mut().save();
        let mut doc = AutoCommit::load(&base).unwrap().with_actor(ActorId::from(B_DEV.as_slice()));
        let before = doc.get_heads();
        for step in 0..5 {
            let obj = booking_obj(&doc, &room, &booking);
            if hostile == Some(step % 3) && step < 3 {
                doc.put(&obj, "org", "org-a").unwrap();
            } else {
                doc.put(&obj, "cancelled_at", T0 + step as i64).unwrap();
            }
            doc.commit();
        }
        let changes = doc.get_changes(&before);
        let shuffled: Vec<_> = order.iter().map(|&i| changes[i].clone()).collect();
        let base_doc = AutoCommit::load(&base).unwrap();
        let in_order = check_changes(DocKind::Calendar(Part::FIRST), &base_doc, &changes, &Two);
        let any_order = check_changes(DocKind::Calendar(Part::FIRST), &base_doc, &shuffled, &Two);
        prop_assert_eq!(&in_order, &any_order);
        prop_assert_eq!(in_order.is_err(), hostile.is_some());
        prop_assert_eq!(check_changes(DocKind::Calendar(Part::FIRST), &base_doc, &changes, &Two), in_order);
    }
}
