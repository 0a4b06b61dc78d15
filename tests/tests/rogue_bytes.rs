//! A modified client's change whose bytes read two ways.
//!
//! automerge reads no bytes for a value of no bytes (null, true, false, an
//! object's creation), whatever length the value's metadata claims. A
//! change can therefore carry bytes that a reader skipping the claimed
//! length reads as one value, and automerge as another: a check reading it
//! so would judge one change while automerge applies another. The
//! authority check reads only the layout automerge writes
//! (`entraide_docs::ops`) and refuses such a change.
//!
//! A stock node cannot send it (automerge takes such a change but panics
//! building it again, as every sending path does), so the rogue's bundle is
//! handed to the honest node's `receive_bundle`, the function every session
//! hands a peer's `Docs` message to.

use automerge::ObjType;
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
