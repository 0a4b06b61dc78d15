//! One sync session with one peer over one connection.
//!
//! Both sides run the same code. Each sends `Hello` (its summary); on the
//! other's `Hello` each sends what the other lacks (membership operations
//! first, then each document's missing changes as one bundle), asks for the
//! library files it lacks, and sends `Synced`. A one-shot session ends once
//! both sides said `Synced`, acknowledged each other, and every wanted file
//! arrived.
//!
//! A live session then keeps going, and spreads changes in two ways:
//!
//! - **Own changes are pushed.** When this device writes, the session sends
//!   the peer what it lacks of that document at once (one hop, nobody else
//!   has the change yet).
//! - **Others' changes are announced.** Changes received from another peer
//!   are not pushed on: the session sends `Have` with the version vector's
//!   entries that moved. A peer that lacks them answers `Want` with what it
//!   holds, and gets one bundle. A node asks one peer at a time per
//!   document (`Shared::docs_in_flight`), the others' announcements wait
//!   until that answer is in. So each change crosses each link about once,
//!   where pushing everything on sent it once per path (every member twice
//!   or more in a full mesh, and six times over in the benchmark's
//!   six-neighbour graph).
//!
//! Membership operations are few and small; they are pushed as before.
//!
//! The reader and the writer are tasks of their own so that two peers sending
//! large bundles at once never wait on each other; the session loop only
//! handles whole messages, which keeps it cancel-safe.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use entraide_docs::{DocKind, VersionVector, merge_version, version_beyond};
use entraide_membership::DeviceId;
use iroh::endpoint::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::NetError;
use crate::shared::{CLOSE_NOT_MEMBER, CLOSE_REFUSED, Shared};
use crate::wire::{BLOB_PART, Msg, read_frame, write_frame};

/// How long a session lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Until the connection or the node ends.
    Live,
    /// Until both sides hold what the other held when they met.
    OneShot,
}

/// What the session knows of the peer.
#[derive(Default)]
struct PeerView {
    hello: bool,
    docs: BTreeMap<DocKind, VersionVector>,
    op_heads: Vec<[u8; 32]>,
    wanted: HashSet<[u8; 32]>,
    /// What this node announced to the peer with `Have`.
    told: BTreeMap<DocKind, VersionVector>,
    /// Documents asked of the peer with `Want`, not answered yet: since
    /// when, or `None` once it took too long and others may be asked too.
    asked: HashMap<DocKind, Option<Instant>>,
    peer_synced: bool,
    acked: bool,
}

/// Runs a session on an established connection until it ends.
pub async fn run(
    shared: Shared,
    conn: Connection,
    dialer: bool,
    mode: Mode,
    cancel: CancellationToken,
) -> Result<(), NetError> {
    let peer = DeviceId(*conn.remote_id().as_bytes());
    let (send, recv) = if dialer {
        conn.open_bi().await?
    } else {
        conn.accept_bi().await?
    };
    let (out_tx, out_rx) = mpsc::channel::<Msg>(64);
    let (in_tx, mut in_rx) = mpsc::channel::<Msg>(64);
    let writer = tokio::spawn(write_loop(send, out_rx));
    let reader = tokio::spawn(read_loop(recv, in_tx));
    shared
        .sessions
        .lock()
        .map_err(|_| NetError::Poisoned)?
        .insert(peer);
    shared.with(move |n| n.set_connected(peer, true)).await?;

    let mut view = PeerView::default();
    let result = crate::traffic::scope(
        shared.device.0,
        peer.0,
        drive(
            &shared, peer, &conn, &out_tx, &mut in_rx, &mut view, mode, cancel,
        ),
    )
    .await;

    drop(out_tx);
    if mode == Mode::OneShot || result.is_err() {
        // Let the writer flush what is queued before closing.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
    } else {
        writer.abort();
    }
    reader.abort();
    if let Ok(mut s) = shared.sessions.lock() {
        s.remove(&peer);
    }
    if let Ok(mut in_flight) = shared.blobs_in_flight.lock() {
        for hash in &view.wanted {
            in_flight.remove(hash);
        }
    }
    if !view.asked.is_empty() {
        // The questions this peer will not answer go to the others.
        let asked: HashSet<DocKind> = view.asked.drain().map(|(doc, _)| doc).collect();
        release_docs(&shared, peer, &asked);
        shared.bump();
    }
    let _ = shared.with(move |n| n.set_connected(peer, false)).await;
    match &result {
        Err(NetError::Refused(reason)) => {
            conn.close(VarInt::from_u32(CLOSE_REFUSED), reason.as_bytes())
        }
        Err(NetError::NotMember) => conn.close(
            VarInt::from_u32(CLOSE_NOT_MEMBER),
            b"not a member of this alliance",
        ),
        _ => conn.close(VarInt::from_u32(0), b"done"),
    }
    result
}

async fn write_loop(mut send: SendStream, mut out: mpsc::Receiver<Msg>) -> Result<(), NetError> {
    while let Some(msg) = out.recv().await {
        write_frame(&mut send, &msg).await?;
    }
    let _ = send.finish();
    let _ = send.stopped().await;
    Ok(())
}

async fn read_loop(mut recv: RecvStream, inbox: mpsc::Sender<Msg>) -> Result<(), NetError> {
    while let Some(msg) = read_frame::<_, Msg>(&mut recv).await? {
        if inbox.send(msg).await.is_err() {
            break;
        }
    }
    Ok(())
}

async fn send(out: &mpsc::Sender<Msg>, msg: Msg) -> Result<(), NetError> {
    crate::traffic::queued(&msg);
    out.send(msg).await.map_err(|_| NetError::Closed)
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    shared: &Shared,
    peer: DeviceId,
    conn: &Connection,
    out: &mpsc::Sender<Msg>,
    inbox: &mut mpsc::Receiver<Msg>,
    view: &mut PeerView,
    mode: Mode,
    cancel: CancellationToken,
) -> Result<(), NetError> {
    let mut changes = shared.subscribe();
    let (summary, addrs) = shared.with(|n| (n.summary(), n.address_book())).await?;
    let my_alliance = summary.alliance;
    send(out, Msg::Hello { summary, addrs }).await?;
    let mut patience = tokio::time::interval(WANT_PATIENCE / 4);
    patience.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if mode == Mode::OneShot
            && view.hello
            && view.peer_synced
            && view.acked
            && view.wanted.is_empty()
        {
            return Ok(());
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            reason = conn.closed() => {
                tracing::debug!(peer = %peer, ?reason, "connection closed");
                return if mode == Mode::OneShot { Err(NetError::Closed) } else { Ok(()) };
            }
            msg = inbox.recv() => {
                let Some(msg) = msg else {
                    return if mode == Mode::OneShot { Err(NetError::Closed) } else { Ok(()) };
                };
                crate::traffic::handled(&msg);
                handle(shared, peer, out, view, my_alliance, msg).await?;
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                // A peer removed from the alliance is cut off at once.
                if !shared.with(move |n| n.is_member_device(&peer)).await? {
                    return Err(NetError::NotMember);
                }
                if view.hello {
                    push_updates(shared, out, view, Push::OwnChanges).await?;
                    want_docs(shared, peer, out, view).await?;
                    let wanted = shared.with(|n| n.missing_blobs()).await??;
                    want(shared, out, view, wanted).await?;
                }
            }
            _ = patience.tick() => {
                // A peer slow to answer a `Want` (a large file ahead of the
                // answer on a slow link, or a peer that never answers) no
                // longer holds the question up: other peers that announced
                // the changes may be asked. This session waits for its
                // answer without asking again.
                let late: HashSet<DocKind> = view
                    .asked
                    .iter()
                    .filter(|(_, at)| at.is_some_and(|at| at.elapsed() >= WANT_PATIENCE))
                    .map(|(doc, _)| *doc)
                    .collect();
                if !late.is_empty() {
                    tracing::info!(peer = %peer, docs = late.len(), "slow answer to a question about changes; other peers may be asked");
                    for doc in &late {
                        view.asked.insert(*doc, None);
                    }
                    release_docs(shared, peer, &late);
                    shared.bump();
                }
            }
        }
    }
}

async fn handle(
    shared: &Shared,
    peer: DeviceId,
    out: &mpsc::Sender<Msg>,
    view: &mut PeerView,
    my_alliance: [u8; 32],
    msg: Msg,
) -> Result<(), NetError> {
    match msg {
        Msg::Hello { summary, addrs } => {
            if summary.alliance != my_alliance {
                return Err(NetError::Refused(
                    "the peer belongs to another alliance".into(),
                ));
            }
            view.hello = true;
            view.op_heads = summary.op_heads.clone();
            view.docs = summary
                .docs
                .into_iter()
                .map(|(k, vv)| (k, vv.into_iter().collect()))
                .collect();
            let known: Vec<(DeviceId, Vec<std::net::SocketAddr>)> =
                addrs.into_iter().map(|(d, a)| (DeviceId(d), a)).collect();
            for (device, a) in &known {
                shared.add_addrs(device, a);
            }
            shared
                .with(move |n| {
                    for (device, a) in &known {
                        let _ = n.remember_peer(*device, a);
                    }
                })
                .await?;
            push_updates(shared, out, view, Push::Everything).await?;
            let wanted = shared.with(|n| n.missing_blobs()).await??;
            want(shared, out, view, wanted).await?;
            send(out, Msg::Synced).await?;
        }
        Msg::Ops(ops) => {
            let added = shared
                .with(move |n| n.receive_ops(&ops))
                .await?
                .map_err(|e| NetError::Refused(e.to_string()))?;
            if added > 0 {
                tracing::info!(peer = %peer, added, "membership operations received");
                view.op_heads = shared.with(|n| n.op_heads()).await?;
                shared.refresh_members().await;
                shared.bump();
            }
        }
        Msg::Docs(bundle) => {
            let doc = bundle.doc;
            let received = match shared.with(move |n| n.receive_bundle(&bundle)).await? {
                Ok(received) => received,
                Err(entraide_node::SyncError::Unauthorized(refusal)) => {
                    // A member's forbidden change (now in `entraide audit`):
                    // this document's bundle is refused, the session goes on
                    // with the others, and what the peer claimed of this
                    // document is forgotten, as after an empty answer.
                    tracing::warn!(peer = %peer, doc = doc.name(), %refusal, "refused a change");
                    if view.asked.remove(&doc).is_some() {
                        release_docs(shared, peer, &HashSet::from([doc]));
                        shared.bump();
                    }
                    forget_claims(shared, view, doc).await?;
                    return Ok(());
                }
                Err(e) => return Err(NetError::Refused(e.to_string())),
            };
            let vv = view.docs.entry(doc).or_default();
            merge_version(vv, received.changes.iter().map(|(a, s)| (a, s)));
            let answered = view.asked.remove(&doc).is_some();
            if answered {
                release_docs(shared, peer, &HashSet::from([doc]));
            }
            if received.new_changes > 0 {
                tracing::info!(peer = %peer, doc = doc.name(), changes = received.new_changes, "changes received");
                shared.bump();
            } else if answered {
                // Other sessions may hold announcements that wait on this answer.
                shared.bump();
            }
            if doc == DocKind::Library {
                let wanted = shared.with(|n| n.missing_blobs()).await??;
                want(shared, out, view, wanted).await?;
            }
        }
        Msg::Have { doc, held } => {
            merge_version(
                view.docs.entry(doc).or_default(),
                held.iter().map(|(a, s)| (a, s)),
            );
            if held.is_empty() && view.asked.remove(&doc).is_some() {
                // Nothing to send after all.
                forget_claims(shared, view, doc).await?;
                release_docs(shared, peer, &HashSet::from([doc]));
                shared.bump();
            }
            want_docs(shared, peer, out, view).await?;
        }
        Msg::Want { doc, held } => {
            let theirs = view.docs.entry(doc).or_default();
            merge_version(theirs, held.iter().map(|(a, s)| (a, s)));
            let theirs = theirs.clone();
            let (bundle, mine) = shared
                .with(move |n| (n.bundle_for(doc, &theirs), n.doc_version_vector(doc)))
                .await?;
            match bundle {
                Some(bundle) => {
                    send(out, Msg::Docs(bundle)).await?;
                    merge_version(view.docs.entry(doc).or_default(), &mine);
                }
                None => {
                    send(
                        out,
                        Msg::Have {
                            doc,
                            held: Vec::new(),
                        },
                    )
                    .await?
                }
            }
        }
        Msg::WantBlobs(wanted) => {
            for (hash, offset) in wanted.into_iter().take(10_000) {
                let bytes = shared.with(move |n| n.blob(&hash)).await??;
                let Some(bytes) = bytes else {
                    send(out, Msg::NoBlob(hash)).await?;
                    continue;
                };
                let total = bytes.len() as u64;
                let mut at = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                loop {
                    let end = (at + BLOB_PART).min(bytes.len());
                    send(
                        out,
                        Msg::BlobPart {
                            hash,
                            offset: at as u64,
                            total,
                            bytes: bytes[at..end].to_vec(),
                        },
                    )
                    .await?;
                    at = end;
                    if at >= bytes.len() {
                        break;
                    }
                }
            }
        }
        Msg::BlobPart {
            hash,
            offset,
            total,
            bytes,
        } => {
            if !view.wanted.contains(&hash) {
                return Ok(());
            }
            let last = offset + bytes.len() as u64 >= total;
            let complete = shared
                .with(move |n| n.receive_blob_part(&hash, offset, total, bytes))
                .await?;
            match complete {
                Ok(true) => {
                    view.wanted.remove(&hash);
                    release(shared, &hash);
                    if view.wanted.is_empty() {
                        shared.with(|n| n.flush_files()).await??;
                    }
                    shared.bump();
                }
                Ok(false) if last => {
                    // Parts arrived out of step: ask again later.
                    view.wanted.remove(&hash);
                    release(shared, &hash);
                }
                Ok(false) => {}
                Err(e) => {
                    view.wanted.remove(&hash);
                    release(shared, &hash);
                    return Err(NetError::Refused(e.to_string()));
                }
            }
        }
        Msg::NoBlob(hash) => {
            if view.wanted.remove(&hash) {
                release(shared, &hash);
            }
        }
        Msg::Synced => {
            view.peer_synced = true;
            send(out, Msg::Ack).await?;
            shared.with(move |n| n.record_sync(peer)).await??;
        }
        Msg::Ack => view.acked = true,
    }
    Ok(())
}

fn release(shared: &Shared, hash: &[u8; 32]) {
    if let Ok(mut in_flight) = shared.blobs_in_flight.lock() {
        in_flight.remove(hash);
    }
}

/// Asks the peer for the files this node lacks that no other session is
/// already fetching.
async fn want(
    shared: &Shared,
    out: &mpsc::Sender<Msg>,
    view: &mut PeerView,
    hashes: Vec<([u8; 32], u64)>,
) -> Result<(), NetError> {
    let new: Vec<([u8; 32], u64)> = {
        let mut in_flight = shared
            .blobs_in_flight
            .lock()
            .map_err(|_| NetError::Poisoned)?;
        hashes
            .into_iter()
            .filter(|(h, _)| !view.wanted.contains(h) && in_flight.insert(*h))
            .collect()
    };
    view.wanted.extend(new.iter().map(|(h, _)| *h));
    if !new.is_empty() {
        send(out, Msg::WantBlobs(new)).await?;
    }
    Ok(())
}

/// How long a peer has to answer a `Want` before another peer is asked.
const WANT_PATIENCE: Duration = Duration::from_secs(30);

/// What [`push_updates`] sends of the documents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Push {
    /// Everything the peer lacks (on its `Hello`).
    Everything,
    /// What it lacks of the documents this device wrote to since; the rest
    /// is announced with `Have`.
    OwnChanges,
}

/// Sends the peer the membership operations it lacks and, per `push`, the
/// documents' changes it lacks (assuming it will hold them) or an
/// announcement of them.
async fn push_updates(
    shared: &Shared,
    out: &mpsc::Sender<Msg>,
    view: &mut PeerView,
    push: Push,
) -> Result<(), NetError> {
    let their_heads = view.op_heads.clone();
    let their_docs = view.docs.clone();
    let own = shared.device.0.to_vec();
    let (ops, heads, docs) = shared
        .with(move |n| {
            let ops = n.ops_for(&their_heads);
            let heads = n.op_heads();
            let mut docs = Vec::new();
            for doc in DocKind::ALL {
                let theirs = their_docs.get(&doc).cloned().unwrap_or_default();
                let mine = n.doc_version_vector(doc);
                let lacking = version_beyond(&mine, &theirs);
                if lacking.is_empty() {
                    continue;
                }
                let bundle = (push == Push::Everything || lacking.contains_key(&own))
                    .then(|| n.bundle_for(doc, &theirs))
                    .flatten();
                docs.push((doc, bundle, mine));
            }
            (ops, heads, docs)
        })
        .await?;
    if !ops.is_empty() {
        send(out, Msg::Ops(ops)).await?;
    }
    view.op_heads = heads;
    for (doc, bundle, mine) in docs {
        match bundle {
            Some(bundle) => {
                send(out, Msg::Docs(bundle)).await?;
                merge_version(view.docs.entry(doc).or_default(), &mine);
            }
            None => {
                let mut known = view.docs.get(&doc).cloned().unwrap_or_default();
                merge_version(&mut known, view.told.get(&doc).into_iter().flatten());
                let held: Vec<(Vec<u8>, u64)> = version_beyond(&mine, &known).into_iter().collect();
                if !held.is_empty() {
                    merge_version(view.told.entry(doc).or_default(), &mine);
                    send(out, Msg::Have { doc, held }).await?;
                }
            }
        }
    }
    Ok(())
}

/// Asks the peer for the changes it announced that this node lacks, for each
/// document no other session is already asking about.
async fn want_docs(
    shared: &Shared,
    peer: DeviceId,
    out: &mpsc::Sender<Msg>,
    view: &mut PeerView,
) -> Result<(), NetError> {
    let mine = shared
        .with(|n| {
            DocKind::ALL
                .into_iter()
                .map(|doc| (doc, n.doc_version_vector(doc)))
                .collect::<Vec<_>>()
        })
        .await?;
    for (doc, mine) in mine {
        let theirs = view.docs.get(&doc).cloned().unwrap_or_default();
        if view.asked.contains_key(&doc) || version_beyond(&theirs, &mine).is_empty() {
            continue;
        }
        let claimed = {
            let mut in_flight = shared
                .docs_in_flight
                .lock()
                .map_err(|_| NetError::Poisoned)?;
            match in_flight.get(&doc) {
                Some(_) => false,
                None => {
                    in_flight.insert(doc, peer);
                    true
                }
            }
        };
        if claimed {
            view.asked.insert(doc, Some(Instant::now()));
            let held = mine.into_iter().collect();
            send(out, Msg::Want { doc, held }).await?;
        }
    }
    Ok(())
}

/// Forgets what the peer claimed to hold of `doc` beyond what this node
/// holds, so that a peer that announces changes it does not send is not
/// asked about them again and again (it is asked again if it announces
/// anything new).
async fn forget_claims(shared: &Shared, view: &mut PeerView, doc: DocKind) -> Result<(), NetError> {
    let mine = shared.with(move |n| n.doc_version_vector(doc)).await?;
    if let Some(theirs) = view.docs.get_mut(&doc) {
        for (actor, seq) in theirs.iter_mut() {
            *seq = (*seq).min(mine.get(actor).copied().unwrap_or(0));
        }
    }
    Ok(())
}

/// Lets other sessions ask about `docs` again.
fn release_docs(shared: &Shared, peer: DeviceId, docs: &HashSet<DocKind>) {
    if let Ok(mut in_flight) = shared.docs_in_flight.lock() {
        in_flight.retain(|doc, asked| !(docs.contains(doc) && *asked == peer));
    }
}
