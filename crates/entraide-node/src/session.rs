//! One sync session with one peer, as a state machine without IO.
//!
//! Every rule of a sync session lives here, once: what to send on meeting a
//! peer, what to push and what to announce, whom to ask for what, when to
//! give up waiting for an answer, which files to fetch and send, when a
//! session is done. The network layer (`entraide-net`), the deterministic
//! simulation and the benchmark all drive this same code: they turn what
//! happens into an [`Event`], call [`Session::handle`] with the node, and
//! carry out the [`Output`] (send these messages, end the session, tell the
//! other sessions that the node changed). No socket, no task, no clock
//! read: time comes in with each event, in milliseconds of any monotonic
//! clock.
//!
//! The protocol. Both sides run the same code. Each sends `Hello` (its
//! summary); on the other's `Hello` each sends what the other lacks
//! (membership operations first, then each document's missing changes as
//! one bundle), asks for the library files it lacks, and sends `Synced`. A
//! one-shot session ends once both sides said `Synced`, acknowledged each
//! other, every wanted file arrived and every asked file went out.
//!
//! A live session then keeps going, and spreads changes in two ways:
//!
//! - **Own changes are pushed.** When this device writes, the session sends
//!   the peer what it lacks of that document at once (one hop, nobody else
//!   has the change yet).
//! - **Others' changes are announced.** Changes received from another peer
//!   are not pushed on: the session sends `Have` with the version vector's
//!   entries that moved. A peer that lacks them answers `Want` with what it
//!   holds, and gets one bundle (or an empty `Have`: nothing to send after
//!   all, and what it claimed is forgotten). A node asks one peer at a time
//!   per document ([`Asking`], shared by all its sessions); the others'
//!   announcements wait until that answer is in, or until the peer has been
//!   silent for [`WANT_PATIENCE`]. So each change crosses each link about
//!   once.
//!
//! Membership operations are few and small; they are pushed.
//!
//! Library files are asked of one peer at a time each, and sent in messages
//! of at most [`FILE_PART`] bytes of files (a large file one part at a
//! time, many small ones together), a few at a time ([`Output::more`]), so
//! that a peer asking for many files never makes this node read them all
//! at once. Answers to `Want` go the same way: at most
//! [`ANSWERS_PER_CALL`] documents a round, the next round once the driver
//! says the last went out ([`Event::Drained`]), so a peer that asks and
//! does not read holds one round of this node's memory, not a queue of
//! answers. A file asked twice in one question, or while it is being sent,
//! is sent once. A node asks for the files it lacks once the documents its
//! peer lacks are on their way (which files are missing can take reading
//! the whole library), and not at a `Hello` that shows no library entry:
//! a newcomer holds no file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use entraide_docs::{DocKind, VersionVector, merge_version, version_beyond};
use entraide_membership::DeviceId;
use serde::{Deserialize, Serialize};

use crate::equivocation::Proof;
use crate::{BlobPart, Bundle, Node, NodeError, Summary, SyncError};

/// Library files travel in parts of this size, so a cut transfer resumes.
pub const FILE_PART: usize = 1024 * 1024;
/// How long a peer has to answer a `Want` before another peer is asked.
pub const WANT_PATIENCE_MS: u64 = 30_000;
/// The same, as a duration.
pub const WANT_PATIENCE: std::time::Duration = std::time::Duration::from_millis(WANT_PATIENCE_MS);
/// How often the driver should send [`Event::Tick`].
pub const TICK_MS: u64 = WANT_PATIENCE_MS / 4;
/// Most `BlobParts` messages one call to [`Session::handle`] sends.
const PARTS_PER_CALL: usize = 4;
/// Most documents one call to [`Session::handle`] sends in answer to
/// `Want`s.
pub const ANSWERS_PER_CALL: usize = 4;
/// Most parts in one `BlobParts` message.
pub const MAX_PARTS_PER_MESSAGE: usize = 1024;
/// How long a throttled peer is kept away.
pub const THROTTLE_MS: u64 = 60_000;
/// Most membership operations in one `Ops` message (a whole log of a large
/// alliance is a few thousand).
pub const MAX_OPS_PER_MESSAGE: usize = 100_000;
/// Most actors one version vector of a `Have` or `Want` may name.
pub const MAX_VECTOR_ENTRIES: usize = 100_000;
/// Messages that bring this node nothing new (a bundle or operations it
/// already holds, a second `Synced`, a part of a file it did not ask for):
/// how many a peer may send at once, and how many more per second.
pub const IDLE_BURST: u32 = 200;
/// See [`IDLE_BURST`].
pub const IDLE_PER_SECOND: u32 = 20;
/// Questions that make this node build a bundle or read files (`Want`,
/// `WantBlobs`): how many at once, and how many more per second.
pub const QUESTION_BURST: u32 = 100;
/// See [`QUESTION_BURST`].
pub const QUESTION_PER_SECOND: u32 = 10;
/// Most devices of a `Hello`'s address book looked at.
const MAX_HELLO_DEVICES: usize = 1_000;
/// Most addresses of one device looked at in a `Hello`.
const MAX_HELLO_ADDRS: usize = 16;
/// Most files one peer may have asked for and not received yet.
const FILES_ASKED_AT_ONCE: usize = 10_000;

/// One message of the sync protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// What the sender holds, and where it and its peers can be reached.
    Hello {
        /// Membership heads and version vectors.
        summary: Summary,
        /// Device keys and their addresses.
        addrs: Vec<([u8; 32], Vec<SocketAddr>)>,
    },
    /// Membership operations the receiver lacks.
    Ops(Vec<Vec<u8>>),
    /// Changes of one document the receiver lacks.
    Docs(Bundle),
    /// Library files the sender lacks, each from the offset it already holds.
    WantBlobs(Vec<([u8; 32], u64)>),
    /// Parts of library files, each file's next part, at most
    /// [`FILE_PART`] bytes and [`MAX_PARTS_PER_MESSAGE`] parts in all: a
    /// large file one part at a time, many small ones together.
    BlobParts(Vec<BlobPart>),
    /// The sender does not hold that file either.
    NoBlob([u8; 32]),
    /// Everything the receiver lacked as of its `Hello` has been sent.
    Synced,
    /// The receiver got the sender's `Synced`, and so everything before it.
    Ack,
    /// The sender now holds these changes of a document (the version
    /// vector's entries that moved): changes it received from others are
    /// announced, not pushed, so that each crosses each link about once.
    /// Empty: the answer to a `Want` that found nothing to send.
    Have {
        /// Which document.
        doc: DocKind,
        /// For each actor, the highest sequence number the sender holds.
        held: Vec<(Vec<u8>, u64)>,
    },
    /// The sender lacks changes the receiver announced: what it holds of the
    /// document, to be answered by one `Docs` bundle (or an empty `Have`).
    Want {
        /// Which document.
        doc: DocKind,
        /// The sender's version vector of that document.
        held: Vec<(Vec<u8>, u64)>,
        /// Empty, or the sender's heads: a bundle built from the version
        /// vector did not apply (it built on changes the sender lacks
        /// although its version vector named them: an equivocation), so
        /// the answer is everything past the heads both hold.
        heads: Vec<[u8; 32]>,
    },
    /// A device signed two different changes under one actor and sequence
    /// number: the proof, for a peer that still holds either side (it sets
    /// the fork aside, as the sender did).
    Equivocation(Box<Proof>),
}

/// How long a session lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Until the connection or the node ends.
    Live,
    /// Until both sides hold what the other held when they met.
    OneShot,
}

/// What happened, for [`Session::handle`].
#[derive(Debug)]
pub enum Event {
    /// The connection is up: the session says hello.
    Start,
    /// The peer sent a message.
    Received(Msg),
    /// The node changed (a command, another session): send what the peer
    /// now lacks, ask for what this node now lacks.
    NodeChanged,
    /// Time passed (send one about every [`TICK_MS`]).
    Tick,
    /// The messages of the last output were sent and [`Output::more`] was
    /// set: ask for the files this node lacks, send the next answers and
    /// file parts.
    Drained,
    /// No message from the peer is waiting: what it sent is made durable
    /// now, in one commit (see `Node::store_received`). Send it once the
    /// messages that arrived together have been handled.
    Idle,
    /// The connection ended, or the driver ends the session: release what
    /// this session was asking, so that other sessions ask instead.
    Closed,
}

/// Why a session ended.
#[derive(Debug)]
pub enum End {
    /// A one-shot session that got and gave everything.
    Done,
    /// The peer broke the protocol or sent what this node refuses; the
    /// connection is closed with the reason.
    Refused(String),
    /// The peer's device is not (or no longer) a member's.
    NotMember,
    /// The peer went over one of its budgets (see [`Budgets`]): the
    /// connection is closed, and the driver should not take the peer back
    /// for [`THROTTLE_MS`].
    Throttled(String),
    /// The node failed (its store).
    Node(NodeError),
}

/// What the driver must do after an event.
#[derive(Debug, Default)]
pub struct Output {
    /// Messages to send, in order.
    pub send: Vec<Msg>,
    /// The session is over (after sending `send`).
    pub end: Option<End>,
    /// The node changed, or a question it was waiting on was answered: the
    /// other sessions must hear [`Event::NodeChanged`].
    pub node_changed: bool,
    /// The membership changed: who may connect may have changed too.
    pub members_changed: bool,
    /// Addresses learned from the peer, for the dialer.
    pub addrs: Vec<(DeviceId, Vec<SocketAddr>)>,
    /// More work waits (files to ask for, documents asked for, file parts
    /// to send): send [`Event::Drained`] once `send` is out.
    pub more: bool,
}

/// What a node is asking its peers right now, shared by all its sessions:
/// each document's missing changes are asked of one peer at a time, each
/// missing file too.
#[derive(Debug, Default)]
pub struct Asking {
    docs: BTreeMap<DocKind, DeviceId>,
    files: BTreeSet<[u8; 32]>,
}

impl Asking {
    /// Whether any question is waiting for an answer.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty() && self.files.is_empty()
    }
}

/// One sync session with one peer.
#[derive(Debug)]
pub struct Session {
    peer: DeviceId,
    mode: Mode,
    started: bool,
    /// Counted among the peer's sessions (`Node::set_connected`).
    counted: bool,
    ended: bool,
    hello: bool,
    /// The peer's version vectors, as far as this session knows.
    docs: BTreeMap<DocKind, VersionVector>,
    op_heads: Vec<[u8; 32]>,
    /// Files asked of the peer, not all received yet.
    wanted: BTreeSet<[u8; 32]>,
    /// Files the peer said it lacks (`NoBlob`), not asked of it again
    /// until the next tick.
    peer_lacks: BTreeSet<[u8; 32]>,
    /// Each document's heads as the peer's `Hello` gave them.
    their_heads: BTreeMap<DocKind, Vec<[u8; 32]>>,
    /// What this node announced to the peer with `Have`.
    told: BTreeMap<DocKind, VersionVector>,
    /// Every version vector entry of this node the peer was sent (its
    /// `Hello`, its `Have`s and `Want`s): the peer's idea of what this node
    /// holds is at least that, so a `Want` leaves those entries out.
    sent_entries: BTreeMap<DocKind, VersionVector>,
    /// Documents asked of the peer with `Want`, not answered yet: since
    /// when, or `None` once it took too long and others may be asked too.
    asked: BTreeMap<DocKind, Option<u64>>,
    /// Addresses from the peer's `Hello` of devices not known as members yet.
    heard_addrs: Vec<(DeviceId, Vec<SocketAddr>)>,
    /// Files the peer asked for, from which offset, in order.
    to_send: VecDeque<([u8; 32], u64)>,
    /// The same files, and the one being sent, for asking twice.
    queued: BTreeSet<[u8; 32]>,
    /// The file being sent: its bytes and where the next part starts.
    sending: Option<([u8; 32], Vec<u8>, usize)>,
    peer_synced: bool,
    acked: bool,
    budgets: Budgets,
    /// Equivocations whose proof went to the peer: document, actor.
    proofs_sent: BTreeSet<(DocKind, Vec<u8>)>,
    /// Documents asked by heads after a bundle that did not apply.
    repairing: BTreeSet<DocKind>,
    /// The files this node lacks are to be asked for once the messages
    /// already queued have gone out (`Event::Drained`).
    files_due: bool,
    /// Documents the peer asked for (`Want`) and not answered yet, each with
    /// the heads it gave (empty: by its version vector). One entry per
    /// document, however often it asks.
    owed: BTreeMap<DocKind, Vec<[u8; 32]>>,
    /// Answers or file parts went out since the last `Event::Drained`: no
    /// more are built until the driver says those left.
    answering: bool,
}

impl Session {
    /// A session with `peer`, not started yet.
    pub fn new(peer: DeviceId, mode: Mode) -> Self {
        Self {
            peer,
            mode,
            started: false,
            counted: false,
            ended: false,
            hello: false,
            docs: BTreeMap::new(),
            op_heads: Vec::new(),
            wanted: BTreeSet::new(),
            peer_lacks: BTreeSet::new(),
            their_heads: BTreeMap::new(),
            told: BTreeMap::new(),
            sent_entries: BTreeMap::new(),
            asked: BTreeMap::new(),
            heard_addrs: Vec::new(),
            to_send: VecDeque::new(),
            queued: BTreeSet::new(),
            sending: None,
            peer_synced: false,
            acked: false,
            budgets: Budgets::default(),
            proofs_sent: BTreeSet::new(),
            repairing: BTreeSet::new(),
            files_due: false,
            owed: BTreeMap::new(),
            answering: false,
        }
    }

    /// The peer's device.
    pub fn peer(&self) -> DeviceId {
        self.peer
    }

    /// Whether the session waits on the peer for an answer about a document.
    pub fn is_asking(&self) -> bool {
        !self.asked.is_empty()
    }

    /// Messages from the peer that wait to be handled, in order: the
    /// documents among them that this session will take whole are loaded
    /// and read ahead, all at once (see `Node::prepare_bundles`). Only
    /// *when* that work is done changes: each message is still handled by
    /// [`Self::handle`], with every check, in the order it came.
    pub fn prepare<'m>(&self, node: &mut Node, waiting: impl IntoIterator<Item = &'m Msg>) {
        let bundles: Vec<&Bundle> = waiting
            .into_iter()
            .filter_map(|msg| match msg {
                Msg::Docs(bundle) if node.shares_with(bundle.doc, &self.peer) => Some(bundle),
                _ => None,
            })
            .collect();
        if !self.ended && bundles.len() > 1 {
            node.prepare_bundles(&bundles);
        }
    }

    /// Handles one event at time `now_ms` (milliseconds of any monotonic
    /// clock): the one entry point of every session rule.
    pub fn handle(&mut self, node: &mut Node, event: Event, now_ms: u64) -> Output {
        let mut out = Output::default();
        if self.ended {
            return out;
        }
        let result = match event {
            Event::Start => self.start(node, &mut out),
            Event::Received(msg) => self.receive(node, msg, now_ms, &mut out),
            Event::NodeChanged => self.node_changed(node, now_ms, &mut out),
            Event::Tick => {
                self.tick(node, now_ms, &mut out);
                Ok(())
            }
            Event::Drained => {
                self.answering = false;
                if std::mem::take(&mut self.files_due) {
                    self.want_files(node, &mut out)
                } else {
                    Ok(())
                }
            }
            Event::Idle => node.flush().map_err(End::Node),
            Event::Closed => {
                self.close(node, &mut out);
                return out;
            }
        };
        if let Err(end) = result {
            out.end = Some(end);
        } else if let Err(end) = self.answer(node, &mut out) {
            out.end = Some(end);
        }
        if out.end.is_none()
            && self.mode == Mode::OneShot
            && self.hello
            && self.peer_synced
            && self.acked
            && self.wanted.is_empty()
            && !self.files_due
            && self.to_send.is_empty()
            && self.sending.is_none()
            && self.owed.is_empty()
        {
            out.end = Some(End::Done);
        }
        if let Some(end) = out.end.take() {
            // What the peer sent is durable before the session says it is
            // over (a one-shot `sync` or `join` reports it as received).
            out.end = Some(match node.flush() {
                Err(e) if matches!(end, End::Done) => End::Node(e),
                _ => end,
            });
            self.close(node, &mut out);
        }
        out
    }

    fn start(&mut self, node: &mut Node, out: &mut Output) -> Result<(), End> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        // Documents are read from the store when first asked for: one that
        // cannot be read ends the session here, with why.
        let shared = node.docs_shared_with(&self.peer);
        node.load_docs(&shared).map_err(End::Node)?;
        node.set_connected(self.peer, true);
        self.counted = true;
        let summary = node.summary_for(&self.peer);
        for (doc, held) in &summary.docs {
            merge_version(
                self.sent_entries.entry(*doc).or_default(),
                held.iter().map(|(a, s)| (a, s)),
            );
        }
        out.send.push(Msg::Hello {
            summary,
            addrs: node.address_book(),
        });
        Ok(())
    }

    /// Ends the session: what it was asking goes back to the other sessions.
    fn close(&mut self, node: &mut Node, out: &mut Output) {
        if self.ended {
            return;
        }
        self.ended = true;
        for hash in std::mem::take(&mut self.wanted) {
            node.peers.asking.files.remove(&hash);
        }
        if !self.asked.is_empty() {
            self.asked.clear();
            self.release_docs(node, |_| true);
            out.node_changed = true;
        }
        if std::mem::take(&mut self.counted) {
            node.set_connected(self.peer, false);
        }
    }

    fn receive(
        &mut self,
        node: &mut Node,
        msg: Msg,
        now_ms: u64,
        out: &mut Output,
    ) -> Result<(), End> {
        check_size(&msg)?;
        match msg {
            Msg::Hello { summary, addrs } => {
                if self.hello {
                    return Err(End::Throttled("said hello twice".into()));
                }
                if Some(summary.alliance) != node.alliance_id() {
                    return Err(End::Refused("the peer belongs to another alliance".into()));
                }
                self.hello = true;
                self.op_heads = summary.op_heads;
                // A group's documents only between two of its members.
                let peer = self.peer;
                self.their_heads = summary
                    .heads
                    .into_iter()
                    .filter(|(k, _)| node.shares_with(*k, &peer))
                    .collect();
                self.docs = summary
                    .docs
                    .into_iter()
                    .filter(|(k, _)| node.shares_with(*k, &peer))
                    .map(|(k, vv)| (k, vv.into_iter().collect()))
                    .collect();
                self.heard_addrs = addrs
                    .into_iter()
                    .take(MAX_HELLO_DEVICES)
                    .map(|(d, a)| (DeviceId(d), a.into_iter().take(MAX_HELLO_ADDRS).collect()))
                    .collect();
                // Which files this node lacks can take reading the whole
                // library: the peer gets the documents first. A peer that
                // holds no library (a newcomer) holds no file to ask for.
                self.files_due = self.peer_may_hold_files();
                self.learn_addrs(node, out)?;
                self.push(node, Push::Everything, out);
                out.send.push(Msg::Synced);
            }
            Msg::Ops(ops) => {
                let added = node
                    .receive_ops(&ops)
                    .map_err(|e| End::Refused(e.to_string()))?;
                if added > 0 {
                    tracing::info!(peer = %self.peer, added, "membership operations received");
                    self.op_heads = node.op_heads();
                    out.members_changed = true;
                    out.node_changed = true;
                    // Devices the peer named before this node knew them.
                    self.learn_addrs(node, out)?;
                } else {
                    self.idle(now_ms)?;
                }
            }
            Msg::Docs(bundle) if !node.shares_with(bundle.doc, &self.peer) => {
                // A group's document from a peer this node does not share
                // it with (either side left, or never joined): not taken.
                self.idle(now_ms)?;
            }
            Msg::Have { doc, .. } | Msg::Want { doc, .. } if !node.shares_with(doc, &self.peer) => {
                self.idle(now_ms)?;
            }
            Msg::Docs(bundle) => {
                if !self.receive_docs(node, &bundle, out)? {
                    self.idle(now_ms)?;
                }
            }
            Msg::Equivocation(proof) if !node.shares_with(proof.doc, &self.peer) => {
                self.idle(now_ms)?;
            }
            Msg::Equivocation(proof) => {
                let new = node
                    .receive_proof(&proof)
                    .map_err(|e| End::Refused(e.to_string()))?;
                if new {
                    tracing::warn!(peer = %self.peer, doc = %proof.doc, "an equivocation was proven and set aside");
                    // The peer knows it: never sent back.
                    if let Ok(fork) = proof.check(&node.alliance_id().unwrap_or_default()) {
                        self.proofs_sent.insert((proof.doc, fork.actor));
                    }
                    out.node_changed = true;
                    self.push(node, Push::Everything, out);
                } else {
                    self.idle(now_ms)?;
                }
            }
            Msg::Have { doc, held } => {
                let theirs = self.docs.entry(doc).or_default();
                let before = theirs.clone();
                merge_version(theirs, held.iter().map(|(a, s)| (a, s)));
                let moved = *theirs != before;
                let answer = held.is_empty() && self.asked.contains_key(&doc);
                if !moved && !answer {
                    self.idle(now_ms)?;
                }
                self.send_proofs(node, out);
                if held.is_empty() && self.asked.remove(&doc).is_some() {
                    // Nothing to send after all.
                    self.forget_claims(node, doc);
                    self.release_docs(node, |d| d == doc);
                    out.node_changed = true;
                }
                self.want_docs(node, now_ms, out);
            }
            Msg::Want { doc, held, heads } => {
                self.question(now_ms)?;
                let theirs = self.docs.entry(doc).or_default();
                merge_version(theirs, held.iter().map(|(a, s)| (a, s)));
                // Answered by `answer`, once what went before has gone out;
                // asked by heads, it stays asked by heads (the wider answer).
                let owed = self.owed.entry(doc).or_default();
                if !heads.is_empty() {
                    *owed = heads;
                }
            }
            Msg::WantBlobs(wanted) => {
                self.question(now_ms)?;
                for (hash, offset) in wanted {
                    // A file asked twice, or while it is being sent, is sent once.
                    if !self.queued.insert(hash) {
                        continue;
                    }
                    if self.queued.len() > FILES_ASKED_AT_ONCE {
                        return Err(End::Throttled(format!(
                            "asked for more than {FILES_ASKED_AT_ONCE} files at once"
                        )));
                    }
                    self.to_send.push_back((hash, offset));
                }
            }
            Msg::BlobParts(parts) => {
                if !self.receive_file_parts(node, parts, out)? {
                    return self.idle(now_ms);
                }
            }
            Msg::NoBlob(hash) => {
                if self.wanted.remove(&hash) {
                    // Another peer may hold it: the other sessions ask,
                    // this one not again before the next tick.
                    node.peers.asking.files.remove(&hash);
                    self.peer_lacks.insert(hash);
                    out.node_changed = true;
                } else {
                    self.idle(now_ms)?;
                }
            }
            Msg::Synced => {
                if self.peer_synced {
                    return self.idle(now_ms);
                }
                self.peer_synced = true;
                out.send.push(Msg::Ack);
                node.record_sync(self.peer).map_err(End::Node)?;
            }
            Msg::Ack => {
                if self.acked {
                    return self.idle(now_ms);
                }
                self.acked = true;
            }
        }
        Ok(())
    }

    /// Remembers the addresses the peer's `Hello` gave for member devices
    /// (a peer cannot fill this node's address book, or its dialer, with
    /// strangers); the others wait until the membership names them.
    fn learn_addrs(&mut self, node: &mut Node, out: &mut Output) -> Result<(), End> {
        let heard = std::mem::take(&mut self.heard_addrs);
        for (device, a) in heard {
            if node.is_member_device(&device) {
                node.remember_peer(device, &a).map_err(End::Node)?;
                out.addrs.push((device, a));
            } else {
                self.heard_addrs.push((device, a));
            }
        }
        Ok(())
    }

    /// A message that brought nothing new: it spends the peer's allowance.
    fn idle(&mut self, now_ms: u64) -> Result<(), End> {
        if self.budgets.idle.take(now_ms) {
            return Ok(());
        }
        Err(End::Throttled(format!(
            "sent too many messages that bring nothing new (more than {IDLE_BURST} at once, {IDLE_PER_SECOND} a second)"
        )))
    }

    /// A question that makes this node build a bundle or read files.
    fn question(&mut self, now_ms: u64) -> Result<(), End> {
        if self.budgets.questions.take(now_ms) {
            return Ok(());
        }
        Err(End::Throttled(format!(
            "asked too many questions (more than {QUESTION_BURST} at once, {QUESTION_PER_SECOND} a second)"
        )))
    }

    /// Takes a bundle in; whether it brought anything (new changes, or the
    /// answer to a question).
    fn receive_docs(
        &mut self,
        node: &mut Node,
        bundle: &Bundle,
        out: &mut Output,
    ) -> Result<bool, End> {
        let doc = bundle.doc;
        let received = match node.receive_bundle(bundle) {
            Ok(received) => received,
            Err(SyncError::Unauthorized(refusal)) => {
                // A member's forbidden change (now in `entraide audit`): this
                // document's bundle is refused, the session goes on with the
                // others, and what the peer claimed of this document is
                // forgotten, as after an empty answer.
                tracing::warn!(peer = %self.peer, doc = %doc, %refusal, "refused a change");
                if self.asked.remove(&doc).is_some() {
                    self.release_docs(node, |d| d == doc);
                    out.node_changed = true;
                }
                self.forget_claims(node, doc);
                return Ok(true);
            }
            Err(SyncError::MissingDeps) if self.repairing.insert(doc) => {
                // The peer's version vector said this node held what the
                // bundle builds on, and it does not (two changes under one
                // actor and sequence number): ask once for everything past
                // the heads both hold, which shows the equivocation.
                tracing::warn!(peer = %self.peer, doc = %doc, "a bundle built on changes this node lacks; asking by heads");
                out.send.push(Msg::Want {
                    doc,
                    held: node.doc_version_vector(doc).into_iter().collect(),
                    heads: node.doc_heads(doc),
                });
                return Ok(true);
            }
            Err(e) => return Err(End::Refused(e.to_string())),
        };
        if received.set_aside > 0 {
            // The peer still holds a fork this node set aside: it gets the proof.
            self.send_proofs(node, out);
        }
        let vv = self.docs.entry(doc).or_default();
        merge_version(vv, received.changes.iter().map(|(a, s)| (a, s)));
        let answered = self.asked.remove(&doc).is_some();
        if answered {
            self.release_docs(node, |d| d == doc);
        }
        if received.new_changes > 0 {
            tracing::info!(peer = %self.peer, doc = %doc, changes = received.new_changes, "changes received");
            out.node_changed = true;
        } else if answered {
            // Other sessions may hold announcements that wait on this answer.
            out.node_changed = true;
        }
        if doc.base() == DocKind::Library {
            self.want_files(node, out)?;
        }
        Ok(received.new_changes > 0 || answered)
    }

    /// Stores the parts of files this session asked for; `false` if the
    /// message held none of them.
    fn receive_file_parts(
        &mut self,
        node: &mut Node,
        parts: Vec<BlobPart>,
        out: &mut Output,
    ) -> Result<bool, End> {
        let parts: Vec<BlobPart> = parts
            .into_iter()
            .filter(|p| self.wanted.contains(&p.hash))
            .collect();
        if parts.is_empty() {
            return Ok(false);
        }
        let ends: Vec<([u8; 32], bool)> = parts
            .iter()
            .map(|p| (p.hash, p.offset + p.bytes.len() as u64 >= p.total))
            .collect();
        let answers = node
            .receive_blob_parts(parts)
            .map_err(|e| End::Refused(e.to_string()))?;
        for ((hash, last), answer) in ends.into_iter().zip(answers) {
            match answer {
                Ok(true) => {
                    self.wanted.remove(&hash);
                    node.peers.asking.files.remove(&hash);
                    out.node_changed = true;
                }
                Ok(false) if last => {
                    // Parts arrived out of step: ask again (any session).
                    self.wanted.remove(&hash);
                    node.peers.asking.files.remove(&hash);
                    out.node_changed = true;
                }
                Ok(false) => {}
                Err(e) => {
                    self.wanted.remove(&hash);
                    node.peers.asking.files.remove(&hash);
                    return Err(End::Refused(e.to_string()));
                }
            }
        }
        if self.wanted.is_empty() {
            node.flush().map_err(End::Node)?;
        }
        Ok(true)
    }

    fn node_changed(&mut self, node: &mut Node, now_ms: u64, out: &mut Output) -> Result<(), End> {
        // A peer removed from the alliance is cut off at once.
        if !node.is_member_device(&self.peer) {
            return Err(End::NotMember);
        }
        if self.hello {
            self.push(node, Push::OwnChanges, out);
            self.want_docs(node, now_ms, out);
            self.want_files(node, out)?;
        }
        Ok(())
    }

    /// A peer slow to answer a `Want` (a large file ahead of the answer on
    /// a slow link, or a peer that never answers) no longer holds the
    /// question up: other peers that announced the changes may be asked.
    /// This session waits for its answer without asking again.
    fn tick(&mut self, node: &mut Node, now_ms: u64, out: &mut Output) {
        // The peer may have fetched since the files it said it lacked.
        if !self.peer_lacks.is_empty() {
            self.peer_lacks.clear();
            out.node_changed = true;
        }
        let late: Vec<DocKind> = self
            .asked
            .iter()
            .filter(|(_, at)| at.is_some_and(|at| now_ms.saturating_sub(at) >= WANT_PATIENCE_MS))
            .map(|(doc, _)| *doc)
            .collect();
        if late.is_empty() {
            return;
        }
        tracing::info!(peer = %self.peer, docs = late.len(), "slow answer to a question about changes; other peers may be asked");
        for doc in &late {
            self.asked.insert(*doc, None);
        }
        self.release_docs(node, |d| late.contains(&d));
        out.node_changed = true;
    }

    /// Sends the peer the membership operations it lacks and, per `push`,
    /// the documents' changes it lacks (assuming it will hold them) or an
    /// announcement of them.
    fn push(&mut self, node: &mut Node, push: Push, out: &mut Output) {
        // Operations the peer lacks, unless none came since the last push.
        let heads = node.op_heads();
        if heads != self.op_heads {
            let ops = node.ops_for(&self.op_heads);
            if !ops.is_empty() {
                out.send.push(Msg::Ops(ops));
            }
        }
        self.send_proofs(node, out);
        self.op_heads = heads;
        // Changes by this device, under any of its actors (one per opening
        // of its home): nobody else has them yet.
        let device = node.device().0;
        // Libraries first: they name the files the peer will ask for, which
        // then travel while it takes in the other documents (they come
        // after every document queued before them).
        let mut docs = node.docs_shared_with(&self.peer);
        docs.sort_by_key(|doc| doc.base() != DocKind::Library);
        for doc in docs {
            let theirs = self.docs.get(&doc).cloned().unwrap_or_default();
            let mine = node.doc_version_vector(doc);
            let lacking = version_beyond(&mine, &theirs);
            if push == Push::Everything && self.equivocation_hidden(node, doc, &theirs, &mine) {
                // Version vectors cannot tell two changes under one actor and
                // sequence apart: send everything past the heads both hold,
                // and the peer's check names the equivocating device.
                if let Some(bundle) = node.bundle_after_heads(doc, &self.their_heads[&doc]) {
                    out.send.push(Msg::Docs(bundle));
                    merge_version(self.docs.entry(doc).or_default(), &mine);
                    continue;
                }
            }
            if lacking.is_empty() {
                continue;
            }
            let own = lacking
                .keys()
                .any(|actor| entraide_docs::device_of_actor(actor) == Some(device));
            let bundle = (push == Push::Everything || own)
                .then(|| node.bundle_for(doc, &theirs))
                .flatten();
            match bundle {
                Some(bundle) => {
                    out.send.push(Msg::Docs(bundle));
                    merge_version(self.docs.entry(doc).or_default(), &mine);
                }
                None => {
                    let mut known = theirs;
                    merge_version(&mut known, self.told.get(&doc).into_iter().flatten());
                    let held: Vec<(Vec<u8>, u64)> =
                        version_beyond(&mine, &known).into_iter().collect();
                    if !held.is_empty() {
                        merge_version(self.told.entry(doc).or_default(), &mine);
                        merge_version(
                            self.sent_entries.entry(doc).or_default(),
                            held.iter().map(|(a, s)| (a, s)),
                        );
                        out.send.push(Msg::Have { doc, held });
                    }
                }
            }
        }
    }

    /// Sends the proof of each equivocation this node set aside whose fork
    /// the peer still claims to hold (once per session).
    fn send_proofs(&mut self, node: &mut Node, out: &mut Output) {
        for doc in node.docs_shared_with(&self.peer) {
            let Some(theirs) = self.docs.get(&doc) else {
                continue;
            };
            for fork in node.forked(doc) {
                let holds = theirs.get(&fork.actor).is_some_and(|&s| s >= fork.seq);
                if holds
                    && !self.proofs_sent.contains(&(doc, fork.actor.clone()))
                    && let Some(proof) = node.proof_of(doc, &fork.actor)
                {
                    self.proofs_sent.insert((doc, fork.actor));
                    out.send.push(Msg::Equivocation(Box::new(proof)));
                }
            }
        }
    }

    /// Whether the peer holds a change of `doc` that this node does not,
    /// although its version vector claims nothing this node lacks: a change
    /// under an actor and sequence number this node holds under another
    /// change (only a modified client writes two: each opening of a home
    /// writes under an actor of its own).
    fn equivocation_hidden(
        &self,
        node: &mut Node,
        doc: DocKind,
        theirs: &VersionVector,
        mine: &VersionVector,
    ) -> bool {
        let Some(heads) = self.their_heads.get(&doc) else {
            return false;
        };
        version_beyond(theirs, mine).is_empty() && heads.iter().any(|h| !node.holds_change(doc, h))
    }

    /// Asks the peer for the changes it announced that this node lacks, for
    /// each document no other session is already asking about.
    fn want_docs(&mut self, node: &mut Node, now_ms: u64, out: &mut Output) {
        for doc in node.docs_shared_with(&self.peer) {
            if self.asked.contains_key(&doc) || node.peers.asking.docs.contains_key(&doc) {
                continue;
            }
            let theirs = self.docs.get(&doc).cloned().unwrap_or_default();
            let mut mine = node.doc_version_vector(doc);
            // Nothing more is wanted of an actor set aside by an equivocation.
            for fork in node.forked(doc) {
                mine.insert(fork.actor, u64::MAX);
            }
            if version_beyond(&theirs, &mine).is_empty() {
                continue;
            }
            node.peers.asking.docs.insert(doc, self.peer);
            self.asked.insert(doc, Some(now_ms));
            // The peer takes a `Want`'s entries as the highest of what it
            // knew of this node and what it is told: the entries it was
            // already sent would change nothing. (Sending the whole version
            // vector of each calendar part, per question, was 4.5 % of the
            // bytes at 64 nodes.)
            let sent = self.sent_entries.entry(doc).or_default();
            let held: Vec<(Vec<u8>, u64)> = mine
                .into_iter()
                .filter(|(actor, seq)| sent.get(actor).is_none_or(|s| s < seq))
                .collect();
            merge_version(sent, held.iter().map(|(a, s)| (a, s)));
            out.send.push(Msg::Want {
                doc,
                held,
                heads: Vec::new(),
            });
        }
    }

    /// Whether the peer holds any library entry, and so possibly a file
    /// (before anything is sent to it: it will hold what it is sent, not
    /// the files).
    fn peer_may_hold_files(&self) -> bool {
        self.docs
            .iter()
            .any(|(doc, vv)| doc.base() == DocKind::Library && !entraide_docs::holds_nothing(vv))
    }

    /// Asks the peer for the files this node lacks that no other session is
    /// already fetching.
    fn want_files(&mut self, node: &mut Node, out: &mut Output) -> Result<(), End> {
        let missing = node.missing_blobs().map_err(End::Node)?;
        let new: Vec<([u8; 32], u64)> = missing
            .into_iter()
            .filter(|(h, _)| {
                !self.wanted.contains(h)
                    && !self.peer_lacks.contains(h)
                    && node.peers.asking.files.insert(*h)
            })
            .collect();
        self.wanted.extend(new.iter().map(|(h, _)| *h));
        if !new.is_empty() {
            out.send.push(Msg::WantBlobs(new));
        }
        Ok(())
    }

    /// Answers what the peer asked: the documents it wants, then the next
    /// file parts. At most [`ANSWERS_PER_CALL`] bundles and
    /// [`PARTS_PER_CALL`] file messages, and none while the last ones have
    /// not gone out ([`Event::Drained`]): a peer that asks and does not
    /// read makes this node hold one round of answers, not as many as its
    /// questions.
    fn answer(&mut self, node: &mut Node, out: &mut Output) -> Result<(), End> {
        if !self.answering {
            let before = out.send.len();
            for _ in 0..ANSWERS_PER_CALL {
                let Some((doc, heads)) = self.owed.pop_first() else {
                    break;
                };
                let bundle = if heads.is_empty() {
                    let theirs = self.docs.get(&doc).cloned().unwrap_or_default();
                    node.bundle_for(doc, &theirs)
                } else {
                    node.bundle_after_heads(doc, &heads)
                };
                match bundle {
                    Some(bundle) => {
                        out.send.push(Msg::Docs(bundle));
                        let mine = node.doc_version_vector(doc);
                        merge_version(self.docs.entry(doc).or_default(), &mine);
                    }
                    None => out.send.push(Msg::Have {
                        doc,
                        held: Vec::new(),
                    }),
                }
            }
            self.send_files(node, out)?;
            self.answering = out.send.len() > before;
        }
        out.more = !self.owed.is_empty()
            || self.sending.is_some()
            || !self.to_send.is_empty()
            || self.files_due;
        Ok(())
    }

    /// Sends the next parts of the files the peer asked for: a few
    /// messages, each at most [`FILE_PART`] bytes of files.
    fn send_files(&mut self, node: &mut Node, out: &mut Output) -> Result<(), End> {
        let mut messages = 0;
        let mut parts: Vec<BlobPart> = Vec::new();
        let mut room = FILE_PART;
        while messages < PARTS_PER_CALL {
            let Some((hash, bytes, at)) = &mut self.sending else {
                let Some((hash, offset)) = self.to_send.pop_front() else {
                    break;
                };
                // A group's file only to a member of the group.
                let visible = node.file_visible_to(&hash, &self.peer);
                match node.blob(&hash).map_err(End::Node)?.filter(|_| visible) {
                    Some(bytes) => {
                        let at = usize::try_from(offset)
                            .unwrap_or(usize::MAX)
                            .min(bytes.len());
                        self.sending = Some((hash, bytes, at));
                    }
                    None => {
                        self.queued.remove(&hash);
                        out.send.push(Msg::NoBlob(hash));
                    }
                }
                continue;
            };
            // A file appears once in a message: its part ends the file or
            // fills the message.
            let end = (*at + room).min(bytes.len());
            parts.push(BlobPart {
                hash: *hash,
                offset: *at as u64,
                total: bytes.len() as u64,
                bytes: bytes[*at..end].to_vec(),
            });
            room -= end - *at;
            *at = end;
            if end >= bytes.len() {
                self.queued.remove(hash);
                self.sending = None;
            }
            if room == 0 || parts.len() == MAX_PARTS_PER_MESSAGE {
                out.send.push(Msg::BlobParts(std::mem::take(&mut parts)));
                room = FILE_PART;
                messages += 1;
            }
        }
        if !parts.is_empty() {
            out.send.push(Msg::BlobParts(parts));
        }
        Ok(())
    }

    /// Forgets what the peer claimed to hold of `doc` beyond what this node
    /// holds, so that a peer that announces changes it does not send is not
    /// asked about them again and again (it is asked again if it announces
    /// anything new).
    fn forget_claims(&mut self, node: &mut Node, doc: DocKind) {
        let mine = node.doc_version_vector(doc);
        if let Some(theirs) = self.docs.get_mut(&doc) {
            for (actor, seq) in theirs.iter_mut() {
                *seq = (*seq).min(mine.get(actor).copied().unwrap_or(0));
            }
        }
    }

    /// Lets other sessions ask about the documents `which` picks again.
    fn release_docs(&self, node: &mut Node, which: impl Fn(DocKind) -> bool) {
        node.peers
            .asking
            .docs
            .retain(|doc, asked| !(which(*doc) && *asked == self.peer));
    }
}

/// Sizes no honest peer's message comes near.
fn check_size(msg: &Msg) -> Result<(), End> {
    let too_big = |what: &str| Err(End::Throttled(format!("sent {what}")));
    match msg {
        Msg::Ops(ops) if ops.len() > MAX_OPS_PER_MESSAGE => {
            too_big("more membership operations at once than any alliance has")
        }
        Msg::BlobParts(parts)
            if parts.len() > MAX_PARTS_PER_MESSAGE
                || parts.iter().map(|p| p.bytes.len()).sum::<usize>() > FILE_PART =>
        {
            too_big("more library file parts at once than a message holds")
        }
        Msg::Want { heads, .. } if heads.len() > MAX_VECTOR_ENTRIES => {
            too_big("more heads than any document has")
        }
        Msg::Have { held, .. } | Msg::Want { held, .. } if held.len() > MAX_VECTOR_ENTRIES => {
            too_big("a version vector longer than any alliance's")
        }
        Msg::Hello { summary, .. }
            if summary
                .docs
                .iter()
                .any(|(_, vv)| vv.len() > MAX_VECTOR_ENTRIES)
                || summary
                    .heads
                    .iter()
                    .any(|(_, heads)| heads.len() > MAX_VECTOR_ENTRIES)
                || summary.op_heads.len() > MAX_VECTOR_ENTRIES =>
        {
            too_big("a summary longer than any alliance's")
        }
        _ => Ok(()),
    }
}

/// A peer's allowance of one kind of message: a bucket of `burst` tokens
/// that refills at `per_second`, in the session's own time.
#[derive(Debug)]
struct Budget {
    tokens: u64,
    /// Thousandths of a token, so slow refills are not lost to rounding.
    milli: u64,
    last_ms: u64,
    burst: u32,
    per_second: u32,
}

impl Budget {
    fn new(burst: u32, per_second: u32) -> Self {
        Self {
            tokens: u64::from(burst),
            milli: 0,
            last_ms: 0,
            burst,
            per_second,
        }
    }

    /// Takes one token; false when none is left.
    fn take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let earned = self.milli + elapsed.saturating_mul(u64::from(self.per_second));
        self.tokens = (self.tokens + earned / 1000).min(u64::from(self.burst));
        self.milli = earned % 1000;
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// What a peer may cost this node: messages that bring nothing new, and
/// questions that make it build bundles or read files, each with its own
/// allowance ([`IDLE_BURST`], [`QUESTION_BURST`]). Messages that carry new
/// data cost nothing: they are the point of the session.
#[derive(Debug)]
struct Budgets {
    idle: Budget,
    questions: Budget,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            idle: Budget::new(IDLE_BURST, IDLE_PER_SECOND),
            questions: Budget::new(QUESTION_BURST, QUESTION_PER_SECOND),
        }
    }
}

/// What [`Session::push`] sends of the documents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Push {
    /// Everything the peer lacks (on its `Hello`).
    Everything,
    /// What it lacks of the documents this device wrote to since; the rest
    /// is announced with `Have`.
    OwnChanges,
}
