//! Equivocation between real nodes (`entraide_node::equivocation`): a
//! member's home opened twice with the same randomness (a virtual machine's
//! snapshot restored while the original ran, or a modified client) writes
//! two charter changes under one actor and sequence number. The node that
//! meets both sides proves it, sets the fork aside and rewrites its own
//! writes built on it; its proof alone makes a node holding the other side
//! do the same; and a proof tampered with by a hostile member is refused
//! through a session and sets nothing aside.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use chrono_tz::Tz;
use common::{admit, append, charter, copy_dir, founder, meet, node, push};
use entraide_docs::DocKind;
use entraide_node::equivocation::{MAX_FORKS_PER_DOC, Proof};
use entraide_node::session::{End, Event, Mode, Msg, Session};
use entraide_node::{Attestation, Bundle, Env, Home, Node};

/// The same time and the same "randomness" for every node opened with the
/// same seed.
#[derive(Debug)]
struct Twin(AtomicU64);

impl Env for Twin {
    fn now_ms(&self) -> i64 {
        1_780_000_000_000
    }

    fn fill(&self, bytes: &mut [u8]) -> std::io::Result<()> {
        for b in bytes {
            let x = self.0.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
            *b = (x >> 56) as u8;
        }
        Ok(())
    }
}

/// Founder `a`, members `b`, `c` and `r`; `r`'s two openings under one
/// actor wrote "R first" (taken by `a`, which wrote "A" on top, and by `c`
/// from `a`) and "R second" (taken by `b`, which wrote "B" on top).
fn split(dir: &tempfile::TempDir) -> (Node, Node, Node) {
    let mut a = founder(dir);
    let (mut b, mut c, mut r) = (node(dir, "b"), node(dir, "c"), node(dir, "r"));
    for n in [&mut b, &mut c, &mut r] {
        admit(&mut a, n);
    }
    append(&mut a, "Charte");
    for n in [&mut b, &mut c, &mut r] {
        push(&mut a, n);
        push(n, &mut a);
    }
    for n in [&mut b, &mut c, &mut r] {
        push(&mut a, n);
    }
    drop(r);
    copy_dir(&dir.path().join("r"), &dir.path().join("r2"));
    let open = |name: &str| {
        Node::open_with(
            &Home::new(dir.path().join(name)),
            Tz::UTC,
            Box::new(Twin(AtomicU64::new(7))),
        )
        .expect("open")
    };
    let (mut r1, mut r2) = (open("r"), open("r2"));
    append(&mut r1, "R first");
    append(&mut r2, "R second");
    push(&mut r1, &mut a);
    append(&mut a, "A");
    push(&mut a, &mut c);
    push(&mut r2, &mut b);
    append(&mut b, "B");
    assert!(charter(&mut c).contains("R first"));
    (a, b, c)
}

#[test]
fn the_node_that_meets_both_sides_sets_the_fork_aside_and_its_proof_heals_the_others() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut a, mut b, mut c) = split(&dir);
    // A meets B: A is offered the second side and proves the equivocation.
    let end = meet(&mut b, &mut a);
    assert!(end.is_none(), "{end:?}");
    assert_eq!(a.forks(DocKind::Charter).len(), 1, "a proved it");
    let text = charter(&mut a);
    assert!(
        !text.contains("R first") && !text.contains("R second"),
        "{text}"
    );
    assert!(text.contains("A\n"), "a wrote its line again: {text}");
    // B hears of it from A and sets its side aside too; they converge.
    let end = meet(&mut a, &mut b);
    assert!(end.is_none(), "{end:?}");
    let end = meet(&mut b, &mut a);
    assert!(end.is_none(), "{end:?}");
    assert_eq!(b.forks(DocKind::Charter).len(), 1, "b took the proof");
    assert_eq!(charter(&mut a), charter(&mut b));
    let text = charter(&mut b);
    assert!(text.contains("A\n") && text.contains("B\n") && !text.contains("R "));
    // C held the first side from A: B's proof alone sets it aside there.
    let end = meet(&mut b, &mut c);
    assert!(end.is_none(), "{end:?}");
    let end = meet(&mut c, &mut b);
    assert!(end.is_none(), "{end:?}");
    assert_eq!(c.forks(DocKind::Charter).len(), 1, "c took the proof");
    assert_eq!(charter(&mut c), charter(&mut b));
    assert_eq!(
        c.summary().heads,
        b.summary().heads,
        "c and b hold the same changes"
    );
    // The fork stays set aside after a restart.
    drop(c);
    let mut c = Node::open(&Home::new(dir.path().join("c")), Tz::UTC).expect("reopen");
    assert_eq!(c.forks(DocKind::Charter).len(), 1);
    assert_eq!(charter(&mut c), charter(&mut b));
}

/// Sends `proof` to `to` through a session; how the session ended.
fn send_proof(from: &mut Node, to: &mut Node, proof: Proof) -> Option<End> {
    let mut session = Session::new(from.device(), Mode::Live);
    let _ = session.handle(to, Event::Start, 0);
    let hello = Msg::Hello {
        summary: from.summary_for(&to.device()),
        addrs: Vec::new(),
    };
    let _ = session.handle(to, Event::Received(hello), 0);
    session
        .handle(to, Event::Received(Msg::Equivocation(Box::new(proof))), 0)
        .end
}

#[test]
fn rogue_a_tampered_proof_of_equivocation_is_refused_and_sets_nothing_aside() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut a, mut b, mut c) = split(&dir);
    let end = meet(&mut b, &mut a);
    assert!(end.is_none(), "{end:?}");
    let (_, genuine) = a.forks(DocKind::Charter).pop().expect("a proof");
    let before = charter(&mut c);
    let heads = c.summary().heads;
    // The same change twice, as if it were two.
    let mut twice = genuine.clone();
    twice.sides[1] = twice.sides[0].clone();
    // A signature that is not the device's.
    let mut forged = genuine.clone();
    forged.sides[0].attestation.signature[0] ^= 1;
    // A path that does not start at the change the attestation names.
    let mut swapped = genuine.clone();
    let first = swapped.sides[0].attestation.clone();
    swapped.sides[0].attestation = swapped.sides[1].attestation.clone();
    swapped.sides[1].attestation = first;
    // Another document than the one signed.
    let mut elsewhere = genuine.clone();
    elsewhere.doc = DocKind::Values;
    // A path longer than any check is worth (`MAX_PATH`): refused before
    // a change of it is decoded.
    let mut endless = genuine.clone();
    let filler = endless.sides[0].path[0].clone();
    endless.sides[0]
        .path
        .resize(entraide_docs::equivocation::MAX_PATH + 1, filler);
    for (what, proof) in [
        ("the same change twice", twice),
        ("a forged signature", forged),
        ("swapped attestations", swapped),
        ("another document", elsewhere),
        ("a path over the limit", endless),
    ] {
        let end = send_proof(&mut b, &mut c, proof);
        assert!(matches!(end, Some(End::Refused(_))), "{what}: {end:?}");
        if what == "a path over the limit" {
            let limit = entraide_docs::equivocation::MAX_PATH.to_string();
            assert!(
                matches!(&end, Some(End::Refused(why)) if why.contains(&limit)),
                "{what}: {end:?}"
            );
        }
        assert!(c.forks(DocKind::Charter).is_empty(), "{what}");
        assert!(c.forks(DocKind::Values).is_empty(), "{what}");
        assert_eq!(charter(&mut c), before, "{what}");
        assert_eq!(c.summary().heads, heads, "{what}");
    }
    // The genuine one is taken.
    let end = send_proof(&mut b, &mut c, genuine);
    assert!(end.is_none(), "{end:?}");
    assert_eq!(c.forks(DocKind::Charter).len(), 1);
}

/// Two charter changes by `key`'s device under one fresh actor and sequence
/// number 1, built on `base`, each with its device's attestation: what a
/// modified client sends to equivocate.
fn two_histories(
    base: &[u8],
    key: &ed25519_dalek::SigningKey,
    alliance: &[u8; 32],
    epoch: u64,
) -> [Bundle; 2] {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut actor = key.verifying_key().to_bytes().to_vec();
    actor.extend_from_slice(&epoch.to_le_bytes());
    ["one", "two"].map(|word| {
        let mut doc = automerge::AutoCommit::load(base).expect("load");
        doc.set_actor(automerge::ActorId::from(actor.clone()));
        let (_, text) = doc
            .get(automerge::ROOT, "text")
            .expect("get")
            .expect("the charter's text");
        doc.splice_text(&text, 0, 0, &format!("{word} {epoch}\n"))
            .expect("splice");
        let hash = doc.commit().expect("a change");
        let change = doc.get_change_by_hash(&hash).expect("the change");
        Bundle {
            doc: DocKind::Charter,
            bytes: change.raw_bytes().to_vec(),
            attestations: vec![Attestation::sign(
                key,
                alliance,
                DocKind::Charter,
                hash.0,
                1,
            )],
        }
    })
}

#[test]
fn rogue_equivocating_again_and_again_is_set_aside_at_most_64_times_per_document() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut r = node(&dir, "r");
    admit(&mut a, &mut r);
    append(&mut a, "Charte");
    let key: [u8; 32] = std::fs::read(Home::new(dir.path().join("r")).key_path())
        .expect("r's key")
        .try_into()
        .expect("32 bytes");
    let key = ed25519_dalek::SigningKey::from_bytes(&key);
    let alliance = a.alliance_id().expect("alliance");
    let base = a
        .bundle_for(DocKind::Charter, &Default::default())
        .expect("a's charter")
        .bytes;
    for epoch in 0..MAX_FORKS_PER_DOC as u64 {
        let [one, two] = two_histories(&base, &key, &alliance, epoch);
        a.receive_bundle(&one).expect("the first history is taken");
        a.receive_bundle(&two)
            .expect("the second is proven and set aside");
        assert_eq!(a.forks(DocKind::Charter).len(), epoch as usize + 1);
    }
    let text = charter(&mut a);
    assert_eq!(text, "Charte\n", "every fork set aside: {text}");
    // One more: its first history is taken like any change, its second
    // refused; the node keeps no more proofs, nor rebuilds the document.
    let [one, two] = two_histories(&base, &key, &alliance, 1_000);
    a.receive_bundle(&one).expect("the first history is taken");
    let refused = a.receive_bundle(&two);
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(a.forks(DocKind::Charter).len(), MAX_FORKS_PER_DOC);
    assert_eq!(charter(&mut a), "one 1000\nCharte\n");
}
