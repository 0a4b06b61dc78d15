//! The sync core without a network: what one node accepts from another.

use chrono_tz::Tz;
use entraide_docs::DocKind;
use entraide_node::{Home, Node, Request, Ticket};

mod common;
use common::{admit, founder, node, push, vvs};

fn charter(n: &mut Node) -> String {
    n.execute(Request::CharterShow).expect("show").json["text"]
        .as_str()
        .expect("text")
        .to_owned()
}

fn set_charter(n: &mut Node, text: &str) {
    n.execute(Request::CharterSet { text: text.into() })
        .expect("set");
}

#[test]
fn members_converge_both_ways() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    set_charter(&mut a, "one\nthree\n");
    push(&mut a, &mut b);
    set_charter(&mut a, "one\ntwo\nthree\n");
    set_charter(&mut b, "one\nthree\nfour\n");
    push(&mut a, &mut b);
    push(&mut b, &mut a);
    assert_eq!(charter(&mut a), "one\ntwo\nthree\nfour\n");
    assert_eq!(charter(&mut a), charter(&mut b));
    assert_eq!(vvs(&mut a), vvs(&mut b));
    // Nothing is sent when nothing is missing.
    let theirs = vvs(&mut b);
    for doc in DocKind::ALL {
        assert!(a.bundle_for(doc, &theirs[&doc]).is_none());
    }
}

#[test]
fn tampered_bundles_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    push(&mut a, &mut b);
    set_charter(&mut a, "Article 1. Solidarity.\n");
    let theirs = vvs(&mut b);
    let bundle = a
        .bundle_for(DocKind::Charter, &theirs[&DocKind::Charter])
        .expect("bundle");
    let before = charter(&mut b);
    let heads_before = b.doc_version_vector(DocKind::Charter);

    // A forged signature.
    let mut forged = bundle.clone();
    for a in &mut forged.attestations {
        a.signature[0] ^= 1;
    }
    assert!(b.receive_bundle(&forged).is_err());
    // No signature at all.
    let mut unsigned = bundle.clone();
    unsigned.attestations.clear();
    assert!(b.receive_bundle(&unsigned).is_err());
    assert_eq!(charter(&mut b), before);
    assert_eq!(b.doc_version_vector(DocKind::Charter), heads_before);
    // A byte flipped anywhere in the changes: refused or ignored, or (where
    // automerge does not read the byte) accepted as exactly A's change; never
    // anything else.
    let mut refused = 0;
    for i in (0..bundle.bytes.len()).step_by(3) {
        let mut bad = bundle.clone();
        bad.bytes[i] ^= 0x01;
        let result = b.receive_bundle(&bad);
        let text = charter(&mut b);
        if text == before {
            // Refused with an error, or dropped by automerge as unreadable.
            let _ = result;
            refused += 1;
        } else {
            assert_eq!(
                text,
                charter(&mut a),
                "flip at {i} accepted a different text"
            );
            break;
        }
    }
    assert!(refused > 0);
    // The genuine bundle goes through.
    b.receive_bundle(&bundle).expect("genuine");
    assert_eq!(charter(&mut b), "Article 1. Solidarity.\n");
}

#[test]
fn changes_by_a_non_member_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    // X learns the alliance's membership log but was never admitted.
    let mut x = node(&dir, "x");
    let ops = a.ops_for(&[]);
    x.receive_ops(&ops).expect("ops");
    push(&mut a, &mut x);
    set_charter(&mut x, "written by an outsider\n");
    let theirs = vvs(&mut b);
    let bundle = x
        .bundle_for(DocKind::Charter, &theirs[&DocKind::Charter])
        .expect("bundle");
    let err = b.receive_bundle(&bundle).expect_err("must refuse");
    assert!(err.to_string().contains("not a member"), "{err}");
    assert_eq!(charter(&mut b), "");
}

#[test]
fn a_ticket_admits_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let reply = a
        .execute(Request::Invite {
            role: "member".into(),
            expires: "1d".into(),
        })
        .expect("invite");
    let ticket = Ticket::decode(reply.json["ticket"].as_str().expect("ticket")).expect("decode");
    let mut b = node(&dir, "b");
    let c = node(&dir, "c");
    let ops = a
        .admit(b.device(), &b.join_request(&ticket).expect("req"))
        .expect("admit b");
    b.accept_admission(&ticket, ops.ops()).expect("accept");
    let again = a.admit(c.device(), &c.join_request(&ticket).expect("req"));
    assert!(
        again
            .expect_err("reuse")
            .to_string()
            .contains("already used")
    );
    assert!(Ticket::decode("entraide1notaticket").is_err());
    let mut text = reply.json["ticket"].as_str().expect("ticket").to_owned();
    // Change the last character to another one (never to itself).
    let last = text.pop().expect("a character");
    text.push(if last == 'a' { 'b' } else { 'a' });
    assert!(Ticket::decode(&text).is_err());
}

#[test]
fn an_expired_ticket_is_refused_before_asking() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let reply = a
        .execute(Request::Invite {
            role: "member".into(),
            expires: "1d".into(),
        })
        .expect("invite");
    let mut ticket =
        Ticket::decode(reply.json["ticket"].as_str().expect("ticket")).expect("decode");
    ticket.expires_ms = 0;
    let b = node(&dir, "b");
    let err = b.join_request(&ticket).expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn a_library_file_transfer_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    a.execute(Request::LibraryAdd {
        file_name: "big.bin".into(),
        bytes: bytes.clone(),
        title: "Big".into(),
        kind: "other".into(),
        tags: vec![],
        group: None,
    })
    .expect("add");
    push(&mut a, &mut b);
    let missing = b.missing_blobs().expect("missing");
    assert_eq!(missing.len(), 1);
    let (hash, offset) = missing[0];
    assert_eq!(offset, 0);
    let total = bytes.len() as u64;
    // The first megabyte arrives, then the connection drops and B restarts.
    assert!(
        !b.receive_blob_part(&hash, 0, total, bytes[..1_000_000].to_vec())
            .expect("part")
    );
    drop(b);
    let mut b = Node::open(&Home::new(dir.path().join("b")), Tz::UTC).expect("reopen");
    assert_eq!(b.missing_blobs().expect("missing"), vec![(hash, 1_000_000)]);
    // A part that does not start where the held bytes end is ignored.
    assert!(
        !b.receive_blob_part(&hash, 2_000_000, total, bytes[2_000_000..].to_vec())
            .expect("skip")
    );
    assert_eq!(b.blob_received(&hash).expect("held"), 1_000_000);
    assert!(
        !b.receive_blob_part(
            &hash,
            1_000_000,
            total,
            bytes[1_000_000..2_000_000].to_vec()
        )
        .expect("part")
    );
    assert!(
        b.receive_blob_part(&hash, 2_000_000, total, bytes[2_000_000..].to_vec())
            .expect("last")
    );
    assert_eq!(b.blob(&hash).expect("read"), Some(bytes));
    assert!(b.missing_blobs().expect("missing").is_empty());
}

#[test]
fn a_library_file_that_does_not_match_its_hash_is_dropped() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    a.execute(Request::LibraryAdd {
        file_name: "f.txt".into(),
        bytes: b"the real procedure".to_vec(),
        title: "Procedure".into(),
        kind: "procedure".into(),
        tags: vec![],
        group: None,
    })
    .expect("add");
    push(&mut a, &mut b);
    let (hash, _) = b.missing_blobs().expect("missing")[0];
    let fake = b"a fake procedure!!".to_vec();
    assert!(
        b.receive_blob_part(&hash, 0, fake.len() as u64, fake)
            .is_err()
    );
    assert_eq!(b.blob(&hash).expect("read"), None);
    assert_eq!(b.missing_blobs().expect("missing"), vec![(hash, 0)]);
}

#[test]
fn a_live_edit_carries_only_its_authors_attestation() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    let mut c = node(&dir, "c");
    admit(&mut a, &mut b);
    admit(&mut a, &mut c);
    // C's edit reaches A, so A holds attestations of two devices.
    push(&mut a, &mut c);
    set_charter(&mut c, "Article 1.\n");
    push(&mut c, &mut a);
    push(&mut a, &mut b);
    set_charter(&mut a, "Article 1. Solidarity.\n");
    let theirs = vvs(&mut b);
    let bundle = a
        .bundle_for(DocKind::Charter, &theirs[&DocKind::Charter])
        .expect("bundle");
    let signers: Vec<[u8; 32]> = bundle.attestations.iter().map(|x| x.device).collect();
    assert_eq!(signers, vec![a.device().0]);
    b.receive_bundle(&bundle).expect("accepted");
    assert_eq!(charter(&mut b), "Article 1. Solidarity.\n");
}

#[test]
fn changes_a_member_took_before_it_knew_of_a_removal_still_spread() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    let mut c = node(&dir, "c");
    admit(&mut a, &mut b);
    admit(&mut a, &mut c);
    push(&mut a, &mut b);
    push(&mut a, &mut c);
    // A removes C; C, not knowing yet, writes and syncs with B, who does not
    // know either.
    a.execute(Request::MemberRemove {
        org: "c".into(),
        reason: "left".into(),
    })
    .expect("remove");
    set_charter(&mut c, "written by C while apart\n");
    c.execute(Request::ValuesAdd {
        name: "Apart".into(),
        description: String::new(),
    })
    .expect("value");
    push(&mut c, &mut b);
    assert_eq!(charter(&mut b), "written by C while apart\n");
    // B hears of the removal. What it took in good faith must still reach A
    // (whether B wrote on top of it or not), or B could never sync with A
    // again.
    push(&mut a, &mut b);
    set_charter(&mut b, "written by C while apart\nand by B\n");
    push(&mut b, &mut a);
    assert_eq!(charter(&mut a), "written by C while apart\nand by B\n");
    assert_eq!(vvs(&mut a), vvs(&mut b));
    // Now that A and B know of the removal, anything new from C is refused.
    c.execute(Request::ValuesAdd {
        name: "Late".into(),
        description: String::new(),
    })
    .expect("value");
    for n in [&mut a, &mut b] {
        let before = n.doc_version_vector(DocKind::Values);
        let late = c.bundle_for(DocKind::Values, &before).expect("bundle");
        let err = n.receive_bundle(&late).expect_err("refused");
        assert!(err.to_string().contains("not signed"), "{err}");
        assert_eq!(n.doc_version_vector(DocKind::Values), before);
    }
}

/// A member relays attestations: one by a stranger's key (a valid
/// signature over a change nobody holds), one by a member over another
/// device's change, and one over its own change with a wrong sequence
/// number. None is kept, so none travels on to other members.
#[test]
fn rogue_attestations_of_strangers_or_of_others_changes_are_not_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    push(&mut a, &mut b);
    set_charter(&mut a, "Article 1.\n");
    set_charter(&mut b, "Article 1.\nArticle 2.\n");
    push(&mut b, &mut a);
    let alliance = a.alliance_id().expect("alliance");
    let empty = entraide_docs::VersionVector::new();
    let mut bundle = b
        .bundle_for(DocKind::Charter, &vvs(&mut a)[&DocKind::Charter])
        .unwrap_or_else(|| b.bundle_for(DocKind::Charter, &empty).expect("bundle"));
    let held = |n: &mut Node| {
        n.bundle_for(DocKind::Charter, &empty)
            .map(|x| x.attestations)
            .unwrap_or_default()
    };
    let before = held(&mut a);
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let b_key = ed25519_dalek::SigningKey::from_bytes(&b.secret_key_bytes());
    let a_change = before
        .iter()
        .find(|x| x.device == a.device().0)
        .expect("a's attestation")
        .clone();
    bundle.attestations = vec![
        entraide_node::Attestation::sign(&stranger, &alliance, DocKind::Charter, [9; 32], 1),
        entraide_node::Attestation::sign(&b_key, &alliance, DocKind::Charter, a_change.hash, 99),
        entraide_node::Attestation::sign(
            &ed25519_dalek::SigningKey::from_bytes(&a.secret_key_bytes()),
            &alliance,
            DocKind::Charter,
            a_change.hash,
            a_change.seq + 5,
        ),
    ];
    let _ = a.receive_bundle(&bundle);
    assert_eq!(held(&mut a), before, "a stored an attestation it must not");
}

/// A member relays membership operations signed by keys no operation of
/// the alliance names (valid signatures, on top of the alliance's heads):
/// none is kept, so a node's log does not grow with what strangers sign;
/// a member's own operation in the same message is kept.
#[test]
fn rogue_operations_signed_by_strangers_are_not_kept() {
    use entraide_membership::{Op, OpBody, OpHash, SignedOp};
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    push(&mut a, &mut b);
    let log_len = |n: &mut Node| {
        n.execute(Request::MemberLog)
            .expect("log")
            .json
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = log_len(&mut a);
    let parents: Vec<OpHash> = a.op_heads().into_iter().map(OpHash).collect();
    let sign = |key: &ed25519_dalek::SigningKey, author, time_ms| {
        SignedOp::sign(
            Op {
                parents: parents.clone(),
                author,
                time_ms,
                body: OpBody::SetProcess {
                    process: "majority".into(),
                },
            },
            key,
        )
        .bytes()
        .to_vec()
    };
    let mut ops: Vec<Vec<u8>> = (0..50u8)
        .map(|i| {
            let key = ed25519_dalek::SigningKey::from_bytes(&[i.wrapping_add(100); 32]);
            let author = entraide_membership::DeviceId(key.verifying_key().to_bytes());
            sign(&key, author, i64::from(i))
        })
        .collect();
    let b_key = ed25519_dalek::SigningKey::from_bytes(&b.secret_key_bytes());
    ops.push(sign(&b_key, b.device(), 1));
    let added = a
        .receive_ops(&ops)
        .expect("the member's operation is taken");
    assert_eq!(added, 1);
    assert_eq!(
        log_len(&mut a),
        before + 1,
        "a stranger's operation was kept"
    );
}

/// A newcomer is sent each document as the inviter's store holds it (a
/// whole save and the changes stored after it), not a save built for it:
/// it ends with the same documents, keeps them across a restart, and
/// passes them on the same way to the next newcomer.
/// A node that has not read its documents (as `serve` starts) tells a
/// peer what they hold from the summaries stored beside them: exactly
/// what it tells once it has read them all.
#[test]
fn what_a_node_tells_of_documents_it_has_not_read_is_what_they_hold() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    set_charter(&mut a, "Nous, associations de Bruxelles\n");
    for name in ["Salle Verte", "Salle Bleue", "Camionnette"] {
        common::add_room(&mut a, name);
        a.execute(Request::Book {
            resource: name.into(),
            from: "2027-03-01T10:00".into(),
            to: "2027-03-01T12:00".into(),
            purpose: "réunion".into(),
            repeat: None,
            count: None,
            until: None,
        })
        .expect("book");
    }
    let home = a.home().clone();
    drop(a);
    // Every document written has its summary, so the node below reads none
    // of them to tell what they hold.
    let store = entraide_store::Store::open(&home.store_path()).expect("store");
    for kind in DocKind::ALL {
        let written = !store.doc_chunks(&kind.name()).expect("chunks").is_empty();
        let summed = store.doc_summary(&kind.name()).expect("summary").is_some();
        assert_eq!(written, summed, "{kind}");
    }
    drop(store);
    let mut unread = Node::open(&home, Tz::UTC).expect("reopen");
    unread.load_held_docs().expect("ready to serve");
    let told = unread.summary();
    drop(unread);
    let mut read = Node::open(&home, Tz::UTC).expect("reopen");
    for kind in DocKind::ALL {
        read.execute(Request::Export {
            doc: kind.name().into_owned(),
        })
        .expect("every document read");
    }
    let held = read.summary();
    assert_eq!(told.docs, held.docs, "version vectors");
    assert_eq!(told.heads, held.heads, "heads");
    assert!(
        told.docs
            .iter()
            .filter(|(k, _)| matches!(k, DocKind::Calendar(_)))
            .count()
            == 8,
        "every part of the calendar is told"
    );
}

#[test]
fn a_newcomer_gets_the_documents_as_they_are_stored() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    for line in ["Nous, associations", "de Bruxelles", "et de Wallonie"] {
        let text = format!("{}{line}\n", charter(&mut a));
        set_charter(&mut a, &text);
    }
    common::add_room(&mut a, "Salle Verte");
    let home = a.home().clone();
    drop(a);
    let store = entraide_store::Store::open(&home.store_path()).expect("store");
    let stored = store.doc_chunks("charter").expect("chunks");
    drop(store);
    let mut a = Node::open(&home, Tz::UTC).expect("reopen");
    assert!(stored.len() > 1, "a save, then changes stored after it");
    let nothing = entraide_docs::VersionVector::new();
    let bundle = a.bundle_for(DocKind::Charter, &nothing).expect("bundle");
    assert_eq!(bundle.bytes, stored.concat(), "sent as stored");

    let mut b = node(&dir, "b");
    common::admit_as(&mut a, &mut b, "coordinator");
    push(&mut a, &mut b);
    assert_eq!(vvs(&mut a), vvs(&mut b));
    assert_eq!(
        charter(&mut b),
        "Nous, associations\nde Bruxelles\net de Wallonie\n"
    );
    let home = b.home().clone();
    drop(b);
    let mut b = Node::open(&home, Tz::UTC).expect("reopen");
    b.set_listen_addrs(vec!["127.0.0.1:10".parse().expect("addr")], None)
        .expect("addrs");
    assert_eq!(vvs(&mut a), vvs(&mut b), "as stored by the newcomer");

    let mut c = node(&dir, "c");
    admit(&mut b, &mut c);
    push(&mut b, &mut c);
    assert_eq!(vvs(&mut a), vvs(&mut c));
    assert_eq!(charter(&mut c), charter(&mut a));
}

/// A newcomer's documents loaded and read together ahead of time
/// (`Node::prepare_bundles`, as a session does with the messages waiting)
/// are judged as when taken one by one: an outsider's whole charter and a
/// forged signature are refused alike, the rest is taken alike.
#[test]
fn whole_saves_taken_together_are_checked_as_one_by_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = founder(&dir);
    set_charter(&mut a, "Article 1. Solidarity.\n");
    common::add_room(&mut a, "Salle Verte");
    // An outsider who learnt the alliance's log and documents.
    let mut x = node(&dir, "x");
    x.receive_ops(&a.ops_for(&[])).expect("ops");
    push(&mut a, &mut x);
    set_charter(&mut x, "written by an outsider\n");
    let nothing = entraide_docs::VersionVector::new();
    let bundles = |a: &mut Node, x: &mut Node| -> Vec<entraide_node::Bundle> {
        DocKind::ALL
            .into_iter()
            .filter_map(|doc| match doc {
                DocKind::Charter => x.bundle_for(doc, &nothing),
                _ => a.bundle_for(doc, &nothing),
            })
            .map(|mut bundle| {
                // The room's part of the calendar (the only one written).
                if matches!(bundle.doc, DocKind::Calendar(_)) && !bundle.attestations.is_empty() {
                    for att in &mut bundle.attestations {
                        att.signature[0] ^= 1;
                    }
                }
                bundle
            })
            .collect()
    };
    let sent = bundles(&mut a, &mut x);
    let room = sent
        .iter()
        .find(|b| matches!(b.doc, DocKind::Calendar(_)) && !b.attestations.is_empty())
        .expect("the room's part")
        .doc;
    let mut outcomes = Vec::new();
    for prepared in [false, true] {
        let mut b = node(&dir, if prepared { "b" } else { "c" });
        admit(&mut a, &mut b);
        if prepared {
            b.prepare_bundles(&sent.iter().collect::<Vec<_>>());
        }
        let results: Vec<(DocKind, Result<usize, String>)> = sent
            .iter()
            .map(|bundle| {
                let result = b.receive_bundle(bundle);
                (
                    bundle.doc,
                    result.map(|r| r.new_changes).map_err(|e| e.to_string()),
                )
            })
            .collect();
        for (doc, result) in &results {
            match doc {
                DocKind::Charter => {
                    let err = result.as_ref().expect_err("an outsider's charter");
                    assert!(err.contains("not a member"), "{err}");
                }
                _ if *doc == room => assert!(result.is_err(), "a forged signature"),
                _ => assert!(result.is_ok(), "{doc}: {result:?}"),
            }
        }
        assert_eq!(charter(&mut b), "");
        outcomes.push((results, vvs(&mut b)));
    }
    assert_eq!(outcomes[0], outcomes[1]);
}
