//! Bytes that automerge reads otherwise than the change they seem to be.
//!
//! - A change whose bytes read two ways. automerge reads no bytes for a
//!   value of no bytes (null, true, false, an object's creation), whatever
//!   length the value's metadata claims. A change can therefore carry
//!   bytes that a reader skipping the claimed length reads as one value,
//!   and automerge as another: a check reading it so would judge one
//!   change while automerge applies another. The authority check reads
//!   only the layout automerge writes (`entraide_docs::ops`) and refuses
//!   such a change.
//! - A whole save with a deletion that belongs to no change (see the
//!   test's own comment): `entraide_docs::save_ops` refuses it.
//!
//! A stock node cannot send either (automerge takes such a change but
//! panics building it again, as every sending path does; a stock node
//! never writes such a save), so the rogue's bundle is handed to the honest
//! node's `receive_bundle`, the function every session hands a peer's
//! `Docs` message to.

use automerge::ObjType;
use automerge::ReadDoc;
use automerge::transaction::Transactable;
use entraide_docs::DocKind;
use entraide_docs::calendar::BookingFixed;
use entraide_node::{Bundle, Home, Node};
use entraide_tests::rogue::{self, RogueMember, obj};
use entraide_tests::{Serve, TestHome};

fn device(hex: &str) -> [u8; 32] {
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>()
        .try_into()
        .expect("32 bytes")
}

#[test]
fn rogue_books_in_another_orgs_name_with_a_value_read_two_ways() {
    let a = TestHome::founded("Asbl A");
    let van = a
        .ok(&["resource", "add", "Camionnette", "--kind", "vehicle"])
        .stdout
        .trim()
        .to_owned();
    // A's node listens where R met it, before and after the attack.
    let mut a_addr = String::new();
    let r = {
        let sa = Serve::start(&a);
        a_addr.clone_from(&sa.addr);
        let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
        let r = TestHome::new();
        r.ok(&["init", "--org", "Asbl R"]);
        r.ok(&["join", &ticket, "--timeout", "20"]);
        r
    };
    let status = |h: &TestHome, k: &str| h.json(&["status"])[k].as_str().expect(k).to_owned();
    let (a_org, a_dev, r_org) = (
        status(&a, "org_id"),
        status(&a, "device"),
        status(&r, "org_id"),
    );
    let booked_before = a.json(&["bookings", "--resource", &van]);
    let doc = DocKind::calendar_of(&van);

    // R books A's van in R's own name, a booking any member may make; the
    // booking record's creation then claims a booking in A's name as its
    // value, which automerge reads as the booking's fixed fields instead.
    let fixed = |org: &str, dev: [u8; 32], purpose: &str| BookingFixed {
        org: org.to_owned(),
        device: dev,
        from: 1_907_308_800_000,
        to: 1_907_316_000_000,
        purpose: purpose.to_owned(),
        created_at: rogue::now_ms(),
        series: None,
    };
    let rogue = RogueMember::open(&r.path());
    let own = fixed(&r_org, rogue.device(), "R").pack();
    let in_a_name = fixed(&a_org, device(&a_dev), "A").pack();
    assert_eq!(own.len(), in_a_name.len(), "organisation ids of one length");
    let (bytes, attestation) = rogue.change_rewritten(
        doc,
        |d| {
            let shelf = obj(d, &["bookings", &van]);
            let booking = d
                .put_object(&shelf, rogue.new_id().as_str(), ObjType::Map)
                .expect("a booking");
            d.put(&booking, "fixed", own.clone()).expect("its fields");
        },
        |change| rogue::shift_value(change, 0, &in_a_name),
    );
    // What automerge applies: a booking in A's name.
    let read = automerge::Change::from_bytes(bytes.clone()).expect("automerge takes it");
    let applied = read.decode();
    assert!(
        applied.operations.iter().any(|op| matches!(
            &op.action,
            automerge::legacy::OpType::Put(automerge::ScalarValue::Bytes(b)) if *b == in_a_name
        )),
        "automerge reads the booking in A's name"
    );
    let hash = rogue::hex(&attestation.hash);
    drop(rogue);

    let mut node = Node::open(&Home::new(a.path()), chrono_tz::UTC).expect("open A's node");
    let refused = node.receive_bundle(&Bundle {
        doc,
        bytes,
        attestations: vec![attestation],
    });
    assert!(refused.is_err(), "A took R's change");
    drop(node);

    // A shows what it showed, does not hold the change, and its audit
    // names it, its author and why.
    assert_eq!(a.json(&["bookings", "--resource", &van]), booked_before);
    assert!(!a.json(&["status"])["docs"].to_string().contains(&hash));
    let audit = a.json(&["audit"]);
    let entry = audit
        .as_array()
        .and_then(|all| all.iter().find(|e| e["change"] == hash.as_str()))
        .unwrap_or_else(|| panic!("A's audit does not name {hash}: {audit}"));
    assert_eq!(entry["author_device"], status(&r, "device").as_str());
    assert!(
        entry["rule"]
            .as_str()
            .is_some_and(|rule| rule.contains("cannot be read")),
        "{entry}"
    );

    // And A and R still sync: R's honest booking reaches A.
    let (_sa, _sr) = (Serve::start_at(&a, &a_addr), Serve::start(&r));
    r.ok(&[
        "book",
        "Camionnette",
        "--from",
        "2030-06-10T10:00",
        "--to",
        "2030-06-10T12:00",
        "--purpose",
        "honest",
    ]);
    entraide_tests::eventually(30, "R's honest booking reaches A", || {
        a.json(&["bookings", "--resource", &van])
            .to_string()
            .contains("honest")
    });
}

/// A save whose deletion belongs to no change.
///
/// A whole save lists every operation with the ids of those that overwrite
/// or delete it (its successors); automerge rebuilds each change from the
/// operations whose ids fall in its counters, to check the save's heads.
/// A successor whose id falls in no change is kept in the loaded document
/// (its operation reads as deleted) but in no change: no hash covers it,
/// and no check ever sees a deletion. R sends a newcomer a save of the
/// calendar where A's booking has such a successor: everything in it is
/// A's own signed work, and A's booking is gone. The newcomer refuses the
/// save (`entraide_docs::save_ops` accounts for every operation and every
/// deletion), and takes A's booking from an honest peer afterwards.
#[test]
fn rogue_hides_a_booking_in_a_save_with_a_deletion_of_no_change() {
    let a = TestHome::founded("Asbl A");
    let (r, n, a_addr) = {
        let sa = Serve::start(&a);
        // N joins while no resource exists: its calendar holds nothing yet,
        // so the calendar it receives next comes as a whole save.
        let n = entraide_tests::join(&a, "Asbl N");
        (entraide_tests::join(&a, "Asbl R"), n, sa.addr.clone())
    };
    let van = a
        .ok(&["resource", "add", "Camionnette", "--kind", "vehicle"])
        .stdout
        .trim()
        .to_owned();
    let booking = a
        .ok(&[
            "book",
            "Camionnette",
            "--from",
            "2030-06-10T10:00",
            "--to",
            "2030-06-10T12:00",
            "--purpose",
            "A's booking",
        ])
        .stdout
        .trim()
        .to_owned();
    {
        // R takes A's calendar, as any member does.
        let (_sa, _sr) = (Serve::start_at(&a, &a_addr), Serve::start(&r));
        entraide_tests::eventually(30, "A's booking reaches R", || {
            r.run(&["bookings", "--resource", &van, "--json"])
                .stdout
                .contains(&booking)
        });
    }
    let doc = DocKind::calendar_of(&van);
    let a_device = device(a.json(&["status"])["device"].as_str().expect("device"));

    // R's calendar as a whole save, A's booking with one more successor:
    // an id of A's actor far past A's changes.
    let rogue = RogueMember::open(&r.path());
    let d = rogue.load(doc);
    let shelf = obj(&d, &["bookings", &van]);
    let target = match d
        .get(&shelf, booking.as_str())
        .expect("read")
        .expect("A's booking")
    {
        (automerge::Value::Object(_), automerge::ObjId::Id(counter, actor, _)) => {
            (counter, actor.to_bytes().to_vec())
        }
        other => panic!("A's booking is not an object: {other:?}"),
    };
    assert_eq!(&target.1[..32], a_device.as_slice(), "A's booking is A's");
    let mut d = d;
    let save = d.save_nocompress();
    let crafted = rogue::orphan_successor(&save, (target.0, &target.1), (1 << 30, &target.1));
    drop(rogue);
    // What automerge makes of it: a valid save where A's booking is gone.
    let mut loaded = automerge::AutoCommit::load(&crafted).expect("automerge loads the save");
    assert_eq!(loaded.get_heads(), d.get_heads(), "the same changes");
    let shelf = obj(&loaded, &["bookings", &van]);
    assert!(
        loaded
            .get(&shelf, booking.as_str())
            .expect("read")
            .is_none(),
        "automerge shows A's booking deleted"
    );

    // R hands it to N as the calendar's bundle, with the attestations of
    // the changes in it (all A's, valid).
    let attestations = {
        let mut rn = Node::open(&Home::new(r.path()), chrono_tz::UTC).expect("open R's node");
        rn.bundle_for(doc, &Default::default())
            .expect("R holds the calendar")
            .attestations
    };
    let resources_before = n.json(&["resource", "list"]);
    let mut node = Node::open(&Home::new(n.path()), chrono_tz::UTC).expect("open N's node");
    let refused = node.receive_bundle(&Bundle {
        doc,
        bytes: crafted,
        attestations,
    });
    let err = refused.expect_err("N took R's save");
    assert!(
        err.to_string().contains("belongs to no change"),
        "N refuses it for what it is: {err}"
    );
    drop(node);
    assert_eq!(
        n.json(&["resource", "list"]),
        resources_before,
        "N shows what it showed"
    );

    // N still syncs with honest members: A's booking reaches it whole.
    let (_sa, _sn) = (Serve::start_at(&a, &a_addr), Serve::start(&n));
    entraide_tests::eventually(30, "A's booking reaches N", || {
        n.run(&["bookings", "--resource", &van, "--json"])
            .stdout
            .contains(&booking)
    });
}
