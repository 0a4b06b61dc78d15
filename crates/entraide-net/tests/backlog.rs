//! Two members that each owe the other more than the connection holds
//! (loopback, relays off, bounded to about two minutes).
//!
//! A node whose messages to a peer wait in its send queue stops reading
//! that peer only if it cannot hold what the peer sends meanwhile. When
//! both sides have a backlog larger than the transport's buffers (two
//! coordinators writing long proposals at once while their nodes are
//! connected, two nodes meeting after a long partition), a node that
//! stopped reading while its own queue was full would wait for a peer that
//! waits for it, for ever.
//!
//! The peer here is a member's device speaking the sync protocol with a
//! client of its own, the way a node whose queue is full behaves: it says
//! hello, sends its whole backlog (its own proposals, one bundle each,
//! valid and signed), and only then reads. Meanwhile the honest daemon's
//! organisation writes proposals of its own, which it pushes to the peer.
//! What must hold: the peer gets its whole backlog out, then receives every
//! proposal of the daemon's, and the daemon holds every one of the peer's.

use std::time::{Duration, Instant};

use chrono_tz::Tz;
use entraide_docs::DocKind;
use entraide_net::daemon::Daemon;
use entraide_net::wire::{Msg, SYNC_ALPN, read_frame, write_frame};
use entraide_node::{Home, Node, Request};
use iroh::SecretKey;

mod common;
use common::{addr_of, admit, loopback};

/// Proposals each side writes; with [`TEXT`] bytes each, each side's
/// backlog is more than the stream's flow-control window (1.25 MB) plus
/// what a send queue and a receive queue of 64 messages hold.
const PROPOSALS: usize = 200;
/// Bytes of text in each proposal (not compressible: hex of a counter's
/// hash), so that each bundle is about this large on the wire.
const TEXT: usize = 24 * 1024;
/// How long the peer may take to get its backlog out, and then to receive
/// the daemon's: far beyond what a few megabytes take on loopback.
const PATIENCE: Duration = Duration::from_secs(60);

/// A hash that spreads its input: FNV-1a, for text that does not compress.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A proposal whose text does not compress.
fn proposal(org: &str, n: usize) -> Request {
    let mut text = String::with_capacity(TEXT);
    let mut i = 0u64;
    while text.len() < TEXT {
        text.push_str(&format!("{:016x}", fnv(&format!("{org} {n} {i}"))));
        i += 1;
    }
    Request::Propose {
        kind: "general".into(),
        title: format!("{org} {n}"),
        text,
        process: None,
        quorum: None,
        deadline: None,
        org: None,
        group: None,
    }
}

fn titles(reply: &serde_json::Value, prefix: &str) -> usize {
    reply
        .as_array()
        .expect("a list")
        .iter()
        .filter(|p| p["title"].as_str().is_some_and(|t| t.starts_with(prefix)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backlogs_larger_than_the_connection_both_get_through() {
    let dir = tempfile::tempdir().expect("tmp");
    let (ha, hp) = (
        Home::new(dir.path().join("a")),
        Home::new(dir.path().join("p")),
    );
    let mut a = common::founder(&ha, "Asbl A");
    a.set_listen_addrs(vec!["127.0.0.1:9".parse().expect("addr")], None)
        .expect("addrs");
    let mut p = Node::init(&hp, "Asbl P", Tz::UTC).expect("init");
    admit(&mut a, &mut p);
    let ops = a.ops_for(&p.op_heads());
    p.receive_ops(&ops).expect("ops");

    // The peer's backlog: its hello as of now, then each of its proposals
    // as one bundle of that change alone.
    let hello = Msg::Hello {
        summary: p.summary(),
        addrs: Vec::new(),
    };
    let mut backlog = vec![hello];
    for n in 0..PROPOSALS {
        let before = p.doc_version_vector(DocKind::Proposals);
        p.execute(proposal("P", n)).expect("propose");
        let bundle = p
            .bundle_for(DocKind::Proposals, &before)
            .expect("a bundle of the new proposal");
        backlog.push(Msg::Docs(bundle));
    }
    let backlog_bytes: usize = backlog
        .iter()
        .map(|m| entraide_net::wire::encode(m).len())
        .sum();
    assert!(
        backlog_bytes > 1_250_000 + 2 * 64 * TEXT,
        "the backlog ({backlog_bytes} B) must exceed what the connection holds"
    );
    let peer_key = SecretKey::from_bytes(&p.secret_key_bytes());

    let da = Daemon::start(&ha, a, loopback()).await.expect("start a");
    let peer = common::client(peer_key).await;
    let conn = peer
        .connect(addr_of(&da), SYNC_ALPN)
        .await
        .expect("connect");
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");

    // The peer says hello; the daemon's organisation then writes its
    // proposals, which the daemon pushes to the peer, who is not reading.
    write_frame(&mut send, &backlog[0]).await.expect("hello");
    for n in 0..PROPOSALS {
        da.execute(proposal("A", n)).await.expect("propose on a");
    }
    // Then the peer sends the rest of its backlog.
    let started = Instant::now();
    let sent = tokio::time::timeout(PATIENCE, async {
        for msg in &backlog[1..] {
            write_frame(&mut send, msg).await?;
        }
        Ok::<_, entraide_net::wire::FrameError>(())
    })
    .await;
    assert!(
        matches!(sent, Ok(Ok(()))),
        "the peer could not get its backlog out in {PATIENCE:?}: the daemon stopped reading ({sent:?})"
    );
    let sent_in = started.elapsed();

    // Now the peer reads, as a node whose queue has emptied does: every
    // bundle the daemon sends goes into its node, until it holds all of the
    // daemon's proposals.
    let received = tokio::time::timeout(PATIENCE, async {
        loop {
            let msg = read_frame::<_, Msg>(&mut recv)
                .await
                .expect("a frame")
                .expect("the daemon ended the stream");
            if let Msg::Docs(bundle) = msg {
                p.receive_bundle(&bundle)
                    .expect("the daemon's bundle applies");
                let listed = p
                    .execute(Request::Proposals { open: false })
                    .expect("proposals");
                if titles(&listed.json, "A ") == PROPOSALS {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        received.is_ok(),
        "the peer did not receive all of the daemon's proposals within {PATIENCE:?}"
    );
    // And the daemon holds all of the peer's.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = da
            .execute(Request::Proposals { open: false })
            .await
            .expect("proposals on a");
        let held = titles(&listed.json, "P ");
        if held == PROPOSALS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon holds {held} of the peer's {PROPOSALS} proposals"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("backlogs of {backlog_bytes} B each way; the peer's went out in {sent_in:?}");
    conn.close(0u32.into(), b"done");
    da.stop().await.expect("stop");
}
