//! The session state machine (`entraide_node::session`) driven in memory
//! with real nodes: two honest nodes complete a one-shot session, and a
//! member's modified client that floods a node with messages is throttled
//! (the budgets of ARCHITECTURE.md, "Budgets").

mod common;

use common::{admit, founder, library, node};
use entraide_docs::DocKind;
use entraide_node::session::{
    ANSWERS_PER_CALL, End, Event, FILE_PART, IDLE_BURST, MAX_OPS_PER_MESSAGE,
    MAX_PARTS_PER_MESSAGE, MAX_VECTOR_ENTRIES, Mode, Msg, Output, QUESTION_BURST, Session,
};
use entraide_node::{BlobPart, Node, Request};

/// Hands `event` to `session`, then keeps asking for more while it says
/// there is more to send; every message it sends, in order, and how it
/// ended.
fn run(
    session: &mut Session,
    node: &mut Node,
    event: Event,
    now_ms: u64,
) -> (Vec<Msg>, Option<End>) {
    let mut sent = Vec::new();
    let mut event = Some(event);
    while let Some(ev) = event.take() {
        let Output {
            send, end, more, ..
        } = session.handle(node, ev, now_ms);
        sent.extend(send);
        if end.is_some() {
            return (sent, end);
        }
        if more {
            event = Some(Event::Drained);
        }
    }
    (sent, None)
}

/// Two member nodes and `a`'s session with `b`, past `b`'s `Hello`.
fn met() -> (tempfile::TempDir, Node, Node, Session) {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    let mut session = Session::new(b.device(), Mode::Live);
    run(&mut session, &mut a, Event::Start, 0);
    let hello = Msg::Hello {
        summary: b.summary(),
        addrs: b.address_book(),
    };
    let (_, end) = run(&mut session, &mut a, Event::Received(hello), 0);
    assert!(end.is_none(), "{end:?}");
    (dir, a, b, session)
}

fn add_file(n: &mut Node, name: &str, bytes: Vec<u8>) {
    n.execute(Request::LibraryAdd {
        file_name: name.into(),
        bytes,
        title: name.into(),
        kind: "procedure".into(),
        tags: Vec::new(),
        group: None,
    })
    .expect("library add");
}

/// The file hash of a library entry as listed.
fn entry_hash(entry: &serde_json::Value) -> [u8; 32] {
    let hex = entry["hash"].as_str().expect("hash");
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    bytes.try_into().expect("32 bytes")
}

/// The hash of the one library file `n` holds.
fn file_hash(n: &mut Node) -> [u8; 32] {
    entry_hash(&library(n)[0])
}

/// A one-shot session between `a` and `b`, run to its end; every message
/// `a` sent goes through `tamper` on its way to `b`. How each side ended,
/// and what `a` sent.
fn one_shot(
    a: &mut Node,
    b: &mut Node,
    mut tamper: impl FnMut(Msg) -> Msg,
) -> (Option<End>, Option<End>, Vec<Msg>) {
    let mut at_a = Session::new(b.device(), Mode::OneShot);
    let mut at_b = Session::new(a.device(), Mode::OneShot);
    let (mut to_b, _) = run(&mut at_a, a, Event::Start, 0);
    let (mut to_a, _) = run(&mut at_b, b, Event::Start, 0);
    let (mut a_end, mut b_end) = (None, None);
    let mut from_a = Vec::new();
    for _ in 0..100 {
        if to_a.is_empty() && to_b.is_empty() || b_end.is_some() {
            break;
        }
        for msg in std::mem::take(&mut to_b) {
            from_a.push(msg.clone());
            let (sent, end) = run(&mut at_b, b, Event::Received(tamper(msg)), 1);
            to_a.extend(sent);
            b_end = b_end.or(end);
        }
        for msg in std::mem::take(&mut to_a) {
            let (sent, end) = run(&mut at_a, a, Event::Received(msg), 1);
            to_b.extend(sent);
            a_end = a_end.or(end);
        }
    }
    (a_end, b_end, from_a)
}

/// How many parts of files the `BlobParts` messages of `sent` carry, and
/// in how many messages.
fn file_parts(sent: &[Msg]) -> (usize, usize) {
    sent.iter().fold((0, 0), |(parts, messages), m| match m {
        Msg::BlobParts(p) => (parts + p.len(), messages + 1),
        _ => (parts, messages),
    })
}

#[test]
fn two_nodes_complete_a_one_shot_session_with_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    add_file(&mut a, "statuts.txt", vec![7; FILE_PART + 10]);
    let (a_end, b_end, _) = one_shot(&mut a, &mut b, |m| m);
    assert!(matches!(a_end, Some(End::Done)), "{a_end:?}");
    assert!(matches!(b_end, Some(End::Done)), "{b_end:?}");
    // A one-shot session is over only once what it received is durable.
    assert_eq!(b.writes_not_yet_durable(), 0);
    assert!(b.missing_blobs().expect("missing").is_empty());
    for doc in DocKind::ALL {
        assert_eq!(
            a.doc_version_vector(doc),
            b.doc_version_vector(doc),
            "{doc:?}"
        );
    }
}

/// Many small files travel together: the 300 files of a library fit in one
/// message (a message and a transaction each made a newcomer's 2,000 files
/// cost more than the documents' checks).
#[test]
fn many_small_files_travel_together_and_arrive_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    for i in 0..300u32 {
        let bytes = format!("procédure {i}\n")
            .repeat(1 + i as usize % 7)
            .into_bytes();
        add_file(&mut a, &format!("procedure-{i}.txt"), bytes);
    }
    // One large file, sent in parts around the small ones.
    add_file(&mut a, "statuts.pdf", vec![3; 2 * FILE_PART + 5]);
    let (a_end, b_end, sent) = one_shot(&mut a, &mut b, |m| m);
    assert!(matches!(a_end, Some(End::Done)), "{a_end:?}");
    assert!(matches!(b_end, Some(End::Done)), "{b_end:?}");
    let (parts, messages) = file_parts(&sent);
    assert!(parts >= 301, "every file sent: {parts} parts");
    assert!(messages <= 4, "{parts} parts in {messages} messages");
    assert!(b.missing_blobs().expect("missing").is_empty());
    let listed = library(&mut b);
    assert_eq!(listed, library(&mut a));
    for entry in listed.as_array().expect("entries") {
        let hash = entry_hash(entry);
        assert_eq!(b.blob(&hash).expect("read"), a.blob(&hash).expect("read"));
    }
}

/// A modified client sends one file twice in one message: each part is
/// checked against what the store held before the message, so a second
/// part of the same file would be checked against the wrong state. The
/// session ends, whether the copies differ or not, and forged bytes are
/// never kept.
#[test]
fn rogue_sending_a_file_twice_in_one_message_is_refused() {
    for forged in [false, true] {
        let dir = tempfile::tempdir().expect("dir");
        let mut a = founder(&dir);
        let mut b = node(&dir, "b");
        admit(&mut a, &mut b);
        add_file(&mut a, "charte.txt", b"Nous, associations...".to_vec());
        let hash = file_hash(&mut a);
        let (_, b_end, _) = one_shot(&mut a, &mut b, |m| match m {
            Msg::BlobParts(mut parts) => {
                let mut again = parts[0].clone();
                if forged {
                    again.bytes = b"Nous, les seuls...".to_vec();
                }
                parts.push(again);
                Msg::BlobParts(parts)
            }
            m => m,
        });
        assert!(
            matches!(&b_end, Some(End::Refused(r)) if r.contains("twice")),
            "forged {forged}: {b_end:?}"
        );
        if let Some(bytes) = b.blob(&hash).expect("read") {
            assert_eq!(bytes, b"Nous, associations...", "forged {forged}");
        }
    }
}

/// The documents a peer lacks go out before this node looks for the files
/// it lacks, which can take reading the whole library: the peer does not
/// wait for that to start loading them.
#[test]
fn documents_go_out_before_the_files_are_looked_for() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    // A knows of B's file without holding it, and wrote what B lacks.
    add_file(&mut b, "budget.ods", vec![5; 1000]);
    push_doc(&mut b, &mut a, DocKind::Library);
    common::append(&mut a, "Article 1");
    let mut session = Session::new(b.device(), Mode::Live);
    session.handle(&mut a, Event::Start, 0);
    let hello = Msg::Hello {
        summary: b.summary(),
        addrs: b.address_book(),
    };
    let out = session.handle(&mut a, Event::Received(hello), 0);
    assert!(out.end.is_none(), "{:?}", out.end);
    assert!(
        out.send.iter().any(|m| matches!(m, Msg::Docs(_))),
        "{:?}",
        out.send
    );
    assert!(!out.send.iter().any(|m| matches!(m, Msg::WantBlobs(_))));
    assert!(out.more, "the files are asked for next");
    let out = session.handle(&mut a, Event::Drained, 0);
    assert!(
        out.send
            .iter()
            .any(|m| matches!(m, Msg::WantBlobs(w) if w.len() == 1)),
        "{:?}",
        out.send
    );

    // A newcomer holds no library, so no file: it is not asked for any
    // (nor is the library read for it).
    session.handle(&mut a, Event::Closed, 0);
    let mut newcomer = node(&dir, "c");
    admit(&mut a, &mut newcomer);
    let mut session = Session::new(newcomer.device(), Mode::Live);
    session.handle(&mut a, Event::Start, 0);
    let hello = Msg::Hello {
        summary: newcomer.summary(),
        addrs: Vec::new(),
    };
    let (sent, end) = run(&mut session, &mut a, Event::Received(hello), 0);
    assert!(end.is_none(), "{end:?}");
    assert!(
        !sent.iter().any(|m| matches!(m, Msg::WantBlobs(_))),
        "{sent:?}"
    );
    // Its library before the charter and the rest: the files the library
    // names then travel while the newcomer takes in the other documents.
    let docs: Vec<DocKind> = sent
        .iter()
        .filter_map(|m| match m {
            Msg::Docs(bundle) => Some(bundle.doc),
            _ => None,
        })
        .collect();
    assert!(docs.contains(&DocKind::Charter), "{docs:?}");
    assert_eq!(docs.first(), Some(&DocKind::Library), "{docs:?}");
}

/// What a peer sends is stored without waiting for the disk, and made
/// durable in one commit once no message of the peer is waiting.
#[test]
fn what_a_peer_sent_is_durable_once_none_of_its_messages_waits() {
    let (_dir, mut a, mut b, mut session) = met();
    common::append(&mut b, "Article 1");
    common::append(&mut b, "Article 2");
    let theirs = a.doc_version_vector(DocKind::Charter);
    let bundle = b.bundle_for(DocKind::Charter, &theirs).expect("a bundle");
    let (_, end) = run(&mut session, &mut a, Event::Received(Msg::Docs(bundle)), 1);
    assert!(end.is_none(), "{end:?}");
    assert_eq!(common::charter(&mut a), common::charter(&mut b));
    assert!(a.writes_not_yet_durable() > 0, "stored without an fsync");
    let (sent, end) = run(&mut session, &mut a, Event::Idle, 1);
    assert!(sent.is_empty() && end.is_none(), "{sent:?} {end:?}");
    assert_eq!(a.writes_not_yet_durable(), 0);
    // The node's own write makes every earlier one durable with it.
    let bundle = {
        common::append(&mut b, "Article 3");
        let theirs = a.doc_version_vector(DocKind::Charter);
        b.bundle_for(DocKind::Charter, &theirs).expect("a bundle")
    };
    run(&mut session, &mut a, Event::Received(Msg::Docs(bundle)), 2);
    assert!(a.writes_not_yet_durable() > 0);
    common::append(&mut a, "Article 4");
    assert_eq!(a.writes_not_yet_durable(), 0);
}

#[test]
fn rogue_flood_of_messages_that_bring_nothing_is_throttled() {
    let (_dir, mut a, _b, mut session) = met();
    // The first `Synced` is the protocol; every later one brings nothing.
    let mut throttled_after = None;
    for i in 0..10 * IDLE_BURST {
        let (_, end) = run(&mut session, &mut a, Event::Received(Msg::Synced), 5);
        if let Some(end) = end {
            assert!(matches!(end, End::Throttled(_)), "{end:?}");
            throttled_after = Some(i);
            break;
        }
    }
    assert_eq!(throttled_after, Some(IDLE_BURST + 1));
}

#[test]
fn the_same_messages_at_an_honest_pace_are_not_throttled() {
    let (_dir, mut a, _b, mut session) = met();
    // One useless message a second for ten minutes: well within the
    // allowance, which refills.
    for second in 0..600u64 {
        let (_, end) = run(
            &mut session,
            &mut a,
            Event::Received(Msg::Ack),
            second * 1000,
        );
        assert!(end.is_none(), "throttled at second {second}: {end:?}");
    }
}

#[test]
fn rogue_flood_of_questions_is_throttled() {
    let (_dir, mut a, _b, mut session) = met();
    let mut throttled_after = None;
    for i in 0..10 * QUESTION_BURST {
        let want = Msg::Want {
            doc: DocKind::Charter,
            held: Vec::new(),
            heads: Vec::new(),
        };
        let (sent, end) = run(&mut session, &mut a, Event::Received(want), 5);
        if let Some(end) = end {
            assert!(matches!(end, End::Throttled(_)), "{end:?}");
            throttled_after = Some(i);
            break;
        }
        assert_eq!(sent.len(), 1, "one answer per question");
    }
    assert_eq!(throttled_after, Some(QUESTION_BURST));
}

#[test]
fn rogue_asking_for_one_file_thousands_of_times_gets_it_once() {
    let (_dir, mut a, _b, mut session) = met();
    add_file(&mut a, "charte.txt", vec![1; 2 * FILE_PART + 1]);
    let hash = file_hash(&mut a);
    let (sent, end) = run(
        &mut session,
        &mut a,
        Event::Received(Msg::WantBlobs(vec![(hash, 0); 5_000])),
        5,
    );
    assert!(end.is_none(), "{end:?}");
    let parts = sent
        .iter()
        .map(|m| match m {
            Msg::BlobParts(parts) => parts.len(),
            _ => 0,
        })
        .sum::<usize>();
    assert_eq!(parts, 3, "the file is sent once, in three parts");
}

#[test]
fn rogue_asking_for_more_files_than_any_library_holds_is_throttled() {
    let (_dir, mut a, _b, mut session) = met();
    let hashes: Vec<([u8; 32], u64)> = (0..10_001u32)
        .map(|i| {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_le_bytes());
            (h, 0)
        })
        .collect();
    let (_, end) = run(
        &mut session,
        &mut a,
        Event::Received(Msg::WantBlobs(hashes)),
        5,
    );
    assert!(matches!(end, Some(End::Throttled(_))), "{end:?}");
}

#[test]
fn rogue_messages_longer_than_any_alliance_needs_end_the_session() {
    let long_vector: Vec<(Vec<u8>, u64)> = (0..=MAX_VECTOR_ENTRIES as u64)
        .map(|i| (i.to_le_bytes().to_vec(), 1))
        .collect();
    let many_heads: Vec<[u8; 32]> = vec![[7; 32]; MAX_VECTOR_ENTRIES + 1];
    let attacks = [
        (
            "operations",
            Msg::Ops(vec![vec![0u8; 1]; MAX_OPS_PER_MESSAGE + 1]),
        ),
        (
            "announcement",
            Msg::Have {
                doc: DocKind::Charter,
                held: long_vector.clone(),
            },
        ),
        (
            "question by version vector",
            Msg::Want {
                doc: DocKind::Charter,
                held: long_vector.clone(),
                heads: Vec::new(),
            },
        ),
        (
            "question by heads",
            Msg::Want {
                doc: DocKind::Charter,
                held: Vec::new(),
                heads: many_heads.clone(),
            },
        ),
    ];
    let part = |bytes: usize| BlobPart {
        hash: [9; 32],
        offset: 0,
        total: bytes as u64,
        bytes: vec![0; bytes],
    };
    let attacks = attacks.into_iter().chain([
        (
            "file parts, too many",
            Msg::BlobParts(vec![part(0); MAX_PARTS_PER_MESSAGE + 1]),
        ),
        (
            "file parts, too many bytes",
            Msg::BlobParts(vec![part(FILE_PART / 2 + 1); 2]),
        ),
    ]);
    for (what, msg) in attacks {
        let (_dir, mut a, _b, mut session) = met();
        let ops_before = a.op_heads();
        let (sent, end) = run(&mut session, &mut a, Event::Received(msg), 5);
        assert!(matches!(end, Some(End::Throttled(_))), "{what}: {end:?}");
        assert!(sent.is_empty(), "{what}: answered {} messages", sent.len());
        assert_eq!(a.op_heads(), ops_before, "{what}: the membership changed");
    }
    // A hello whose summary is longer than any alliance's, in each part.
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    let honest = b.summary();
    let mut long_docs = honest.clone();
    long_docs.docs[0].1 = long_vector.into_iter().collect();
    let mut long_heads = honest.clone();
    long_heads.heads[0].1 = many_heads.clone();
    let mut long_ops = honest;
    long_ops.op_heads = many_heads;
    for (what, summary) in [
        ("version vectors", long_docs),
        ("heads", long_heads),
        ("membership heads", long_ops),
    ] {
        let mut session = Session::new(b.device(), Mode::Live);
        run(&mut session, &mut a, Event::Start, 0);
        let hello = Msg::Hello {
            summary,
            addrs: Vec::new(),
        };
        let (_, end) = run(&mut session, &mut a, Event::Received(hello), 0);
        assert!(matches!(end, Some(End::Throttled(_))), "{what}: {end:?}");
    }
}

#[test]
fn rogue_hello_twice_or_with_strangers_addresses() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    let mut session = Session::new(b.device(), Mode::Live);
    run(&mut session, &mut a, Event::Start, 0);
    // Thousands of made-up devices in the address book: none is learned.
    let mut addrs: Vec<([u8; 32], Vec<std::net::SocketAddr>)> = (0..5_000u32)
        .map(|i| {
            let mut d = [9u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            (d, vec!["127.0.0.1:4000".parse().expect("addr")])
        })
        .collect();
    // The sender's own address comes first, as in an honest address book.
    addrs.insert(
        0,
        (b.device().0, vec!["127.0.0.2:4000".parse().expect("addr")]),
    );
    let hello = Msg::Hello {
        summary: b.summary(),
        addrs,
    };
    let out = session.handle(&mut a, Event::Received(hello.clone()), 0);
    assert!(out.end.is_none(), "{:?}", out.end);
    let learned: Vec<_> = out.addrs.iter().map(|(d, _)| *d).collect();
    assert_eq!(
        learned,
        vec![b.device()],
        "only the member's address is learned"
    );
    assert_eq!(a.known_peers().len(), 1);
    // A second hello is not the protocol.
    let out = session.handle(&mut a, Event::Received(hello), 0);
    assert!(matches!(out.end, Some(End::Throttled(_))), "{:?}", out.end);
}

#[test]
fn own_changes_are_pushed_at_once_and_others_announced() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    let mut c = node(&dir, "c");
    admit(&mut a, &mut b);
    admit(&mut a, &mut c);
    common::push(&mut a, &mut b);
    common::push(&mut a, &mut c);
    common::push(&mut b, &mut c);
    // A's live session with B, past B's hello.
    let mut session = Session::new(b.device(), Mode::Live);
    run(&mut session, &mut a, Event::Start, 0);
    let hello = Msg::Hello {
        summary: b.summary(),
        addrs: Vec::new(),
    };
    run(&mut session, &mut a, Event::Received(hello), 0);
    // A writes: the change goes to B at once, as a bundle.
    a.execute(Request::ValuesAdd {
        name: "Solidarité".into(),
        description: String::new(),
    })
    .expect("value");
    let (sent, _) = run(&mut session, &mut a, Event::NodeChanged, 1);
    assert!(
        sent.iter()
            .any(|m| matches!(m, Msg::Docs(b) if b.doc == DocKind::Values)),
        "{sent:?}"
    );
    // C's change, received by A, is announced to B, not pushed.
    c.execute(Request::ValuesAdd {
        name: "Entraide".into(),
        description: String::new(),
    })
    .expect("value");
    common::push(&mut c, &mut a);
    let (sent, _) = run(&mut session, &mut a, Event::NodeChanged, 2);
    assert!(
        sent.iter().any(|m| matches!(
            m,
            Msg::Have {
                doc: DocKind::Values,
                ..
            }
        )),
        "{sent:?}"
    );
    assert!(!sent.iter().any(|m| matches!(m, Msg::Docs(_))), "{sent:?}");
}

/// Everything `from` holds of `doc` that `to` lacks, taken by `to`.
fn push_doc(from: &mut Node, to: &mut Node, doc: DocKind) {
    let theirs = to.doc_version_vector(doc);
    if let Some(bundle) = from.bundle_for(doc, &theirs) {
        to.receive_bundle(&bundle).expect("bundle");
    }
}

fn group_titles(n: &mut Node) -> Vec<String> {
    library(n)
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["group"].is_string())
        .filter_map(|e| e["title"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn rogue_a_groups_documents_and_files_never_go_to_or_come_from_a_non_member() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    let mut c = node(&dir, "c");
    admit(&mut a, &mut b);
    admit(&mut a, &mut c);
    common::push(&mut a, &mut b);
    common::push(&mut a, &mut c);
    let created = a
        .execute(Request::GroupCreate {
            name: "Finances".into(),
            description: String::new(),
            orgs: vec!["b".into()],
        })
        .expect("group create");
    let group = created.json["id"].as_str().expect("id").to_owned();
    let add = |n: &mut Node, title: &str| {
        n.execute(Request::LibraryAdd {
            file_name: format!("{title}.txt"),
            bytes: title.as_bytes().to_vec(),
            title: title.into(),
            kind: "budget".into(),
            tags: Vec::new(),
            group: Some("Finances".into()),
        })
        .expect("library add --group")
    };
    let hash_hex = add(&mut a, "Budget A").json["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let hash: [u8; 32] = (0..32)
        .map(|i| u8::from_str_radix(&hash_hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>()
        .try_into()
        .expect("32 bytes");
    common::push(&mut a, &mut b);
    common::push(&mut a, &mut c);
    let shared = a.docs_shared_with(&b.device());
    let group_docs: Vec<DocKind> = shared
        .into_iter()
        .filter(|d| d.group_id().is_some())
        .collect();
    assert_eq!(group_docs.len(), 6, "a group has six documents");
    for doc in &group_docs {
        push_doc(&mut a, &mut b, *doc);
    }
    assert_eq!(group_titles(&mut b), ["Budget A"]);
    assert!(
        a.docs_shared_with(&c.device())
            .iter()
            .all(|d| d.group_id().is_none())
    );

    // A's session with C, a non-member: nothing of the group, told or sent.
    let mut with_c = Session::new(c.device(), Mode::Live);
    let (mut sent, _) = run(&mut with_c, &mut a, Event::Start, 0);
    let hello = Msg::Hello {
        summary: c.summary_for(&a.device()),
        addrs: c.address_book(),
    };
    sent.extend(run(&mut with_c, &mut a, Event::Received(hello), 0).0);
    let names_group = |m: &Msg| match m {
        Msg::Hello { summary, .. } => summary.docs.iter().any(|(d, _)| d.group_id().is_some()),
        Msg::Docs(bundle) => bundle.doc.group_id().is_some(),
        Msg::Have { doc, .. } | Msg::Want { doc, .. } => doc.group_id().is_some(),
        _ => false,
    };
    assert!(
        !sent.iter().any(names_group),
        "A tells C of the group: {sent:?}"
    );
    assert!(!format!("{sent:?}").contains(&group[..8]));
    // C asks for the group's file by its hash: A does not send it.
    let (sent, end) = run(
        &mut with_c,
        &mut a,
        Event::Received(Msg::WantBlobs(vec![(hash, 0)])),
        10,
    );
    assert!(end.is_none(), "{end:?}");
    assert!(
        sent.iter()
            .any(|m| matches!(m, Msg::NoBlob(h) if *h == hash)),
        "{sent:?}"
    );
    assert!(!sent.iter().any(|m| matches!(m, Msg::BlobParts(_))));

    // B writes in the group; C relays B's valid change: A does not take it.
    add(&mut b, "Budget B");
    let doc = group_docs
        .iter()
        .copied()
        .find(|d| d.base() == DocKind::Library)
        .expect("the group's library");
    let bundle = b
        .bundle_for(doc, &a.doc_version_vector(doc))
        .expect("B's change");
    run(
        &mut with_c,
        &mut a,
        Event::Received(Msg::Docs(bundle.clone())),
        20,
    );
    assert_eq!(
        group_titles(&mut a),
        ["Budget A"],
        "A took the group's document from C"
    );
    // The same bundle from B, a member, is taken.
    let mut with_b = Session::new(b.device(), Mode::Live);
    run(&mut with_b, &mut a, Event::Start, 0);
    let hello = Msg::Hello {
        summary: b.summary_for(&a.device()),
        addrs: b.address_book(),
    };
    run(&mut with_b, &mut a, Event::Received(hello), 0);
    run(&mut with_b, &mut a, Event::Received(Msg::Docs(bundle)), 30);
    let mut titles = group_titles(&mut a);
    titles.sort();
    assert_eq!(titles, ["Budget A", "Budget B"]);
}

/// A peer with two sessions (two daemons that dialled each other at once,
/// one session about to be replaced) stays connected until the last one
/// ends; a session that ends before it started counts for nothing.
#[test]
fn a_peer_stays_connected_while_any_of_its_sessions_goes_on() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = founder(&dir);
    let mut b = node(&dir, "b");
    admit(&mut a, &mut b);
    let mut first = Session::new(b.device(), Mode::Live);
    let mut second = Session::new(b.device(), Mode::Live);
    let mut never_started = Session::new(b.device(), Mode::Live);
    run(&mut first, &mut a, Event::Start, 0);
    run(&mut second, &mut a, Event::Start, 0);
    assert_eq!(a.connected_peers(), vec![b.device()]);
    run(&mut never_started, &mut a, Event::Closed, 1);
    run(&mut first, &mut a, Event::Closed, 1);
    assert_eq!(
        a.connected_peers(),
        vec![b.device()],
        "the second session goes on"
    );
    run(&mut second, &mut a, Event::Closed, 2);
    assert!(a.connected_peers().is_empty());
}

#[test]
fn rogue_asking_and_never_reading_holds_one_round_of_answers() {
    let (_dir, mut a, _b, mut session) = met();
    // The rogue asks for every document, each twice, and never reads: the
    // driver never says the answers went out.
    let mut answers: Vec<DocKind> = Vec::new();
    let answered = |sent: Vec<Msg>, answers: &mut Vec<DocKind>| {
        for msg in sent {
            match msg {
                Msg::Docs(bundle) => answers.push(bundle.doc),
                Msg::Have { doc, held } if held.is_empty() => answers.push(doc),
                _ => {}
            }
        }
    };
    for doc in DocKind::ALL.into_iter().chain(DocKind::ALL) {
        let want = Msg::Want {
            doc,
            held: Vec::new(),
            heads: Vec::new(),
        };
        let out = session.handle(&mut a, Event::Received(want), 5);
        assert!(out.end.is_none(), "{:?}", out.end);
        answered(out.send, &mut answers);
    }
    // The first question is answered at once; the other 29 wait until
    // that answer went out.
    assert_eq!(
        answers,
        [DocKind::Charter],
        "one round of answers until those went out"
    );
    // Each time the driver says they went out, the next round: the 15
    // questions left (each document, the charter asked again after its
    // answer) in rounds of at most ANSWERS_PER_CALL.
    let mut drains = 0;
    loop {
        let out = session.handle(&mut a, Event::Drained, 5);
        drains += 1;
        let before = answers.len();
        answered(out.send, &mut answers);
        assert!(answers.len() - before <= ANSWERS_PER_CALL);
        if !out.more {
            break;
        }
    }
    assert_eq!(drains, DocKind::ALL.len().div_ceil(ANSWERS_PER_CALL));
    // Every document answered once however often it was asked while its
    // answer waited; the charter twice, asked again after its answer.
    let mut asked: Vec<DocKind> = DocKind::ALL.to_vec();
    asked.push(DocKind::Charter);
    asked.sort();
    answers.sort();
    assert_eq!(answers, asked);
}
