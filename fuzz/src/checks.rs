//! What every fuzz target checks on one input.
//!
//! The fuzz targets (`fuzz/fuzz_targets/*.rs`) call these functions on what
//! libFuzzer generates; `tests/tests/fuzz_fixtures.rs` includes this same file
//! and replays the kept inputs (`tests/fuzz-fixtures/<target>/`) through them
//! under an ordinary `cargo test`. A check panics when the code under test
//! misbehaves: a panic inside a decoder, an answer that contradicts itself, or
//! a refused input that changed something.
//!
//! Everything here is deterministic (fixed keys, times and ids, no clock and
//! no randomness in what the inputs reach), so an input that fails once fails
//! again on any machine.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use automerge::marks::{ExpandMark, Mark};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use chrono_tz::Tz;
use ed25519_dalek::{Signer, SigningKey};
use entraide_docs::calendar::{DeviceOrg, Directory, NewBooking, NewResource, Quota, ResourceKind};
use entraide_docs::library::{EntryKind, NewEntry};
use entraide_docs::{
    ApplyError, Author, Calendar, ChangeSummary, Charter, DocKind, Library, SharedDoc, Values,
    VersionVector,
};
use entraide_membership::{
    AdmissionRule, Cutoff, DeviceId, MembershipLog, Op, OpBody, OpHash, Role, SignedOp,
};
use entraide_net::wire::{self, JoinMsg, Msg};
use entraide_node::{Attestation, Bundle, Home, Node, PeerRecord, Request, SyncError, Ticket};
use entraide_store::{Store, WriteBatch};

/// The largest membership envelope `SignedOp::decode` accepts.
const MAX_OP_BYTES: usize = 16 * 1024;
/// 2030-01-01T00:00:00Z: the time of everything the fixed home holds.
pub const T0: i64 = 1_893_456_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// The fixed home's organisation (device 0, founder, coordinator).
pub const ORG_A: &str = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
/// The second organisation (device 1; device 2 was added, then removed).
pub const ORG_B: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
const ROOM: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e01";
const VAN: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e02";
const BOOKING: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b001";
const PENDING: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b002";
const VALUE: &str = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a01";
const ENTRY: &str = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e001";
const LIBRARY_FILE: &[u8] = b"Welcome! Here is how we share rooms.\n";
const TICKET_CONTEXT: &[u8] = b"entraide-ticket-v1";
/// How many fixed keys there are: 0 and 1 are member devices of the fixed
/// home, 2 a removed device, the others outsiders.
const KEYS: u8 = 6;

/// Fixed key number `i`.
pub fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[0x40 + i; 32])
}

/// The device of fixed key number `i`.
pub fn device(i: u8) -> DeviceId {
    DeviceId(key(i).verifying_key().to_bytes())
}

/// UTC, the zone of every fixed home.
pub fn utc() -> Tz {
    Tz::UTC
}

/// Whether to print what each input did (`ENTRAIDE_FUZZ_VERBOSE=1`), to
/// see which paths the seeds reach.
fn verbose() -> bool {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("ENTRAIDE_FUZZ_VERBOSE").is_some())
}

fn key_of_actor(actor: &[u8]) -> Option<u8> {
    (0..KEYS).find(|i| device(*i).0.as_slice() == actor)
}

// ---------------------------------------------------------------------------
// Wire and join messages.

/// Polls a future that never waits (it reads from a byte slice).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("reading frames from a byte slice waited"),
    }
}

/// Reads frames from `data` as a peer's stream until it ends or fails.
fn read_frames<T: for<'de> serde::Deserialize<'de>>(data: &[u8]) {
    let mut stream = data;
    for _ in 0..64 {
        let before = stream.len();
        match ready(wire::read_frame::<_, T>(&mut stream)) {
            Ok(Some(_)) => assert!(stream.len() < before, "a frame was read from no bytes"),
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
}

/// `wire_msg`: the bytes as one sync message's payload, then as a stream of frames.
pub fn wire_msg(data: &[u8]) {
    if let Ok(msg) = wire::decode::<Msg>(data) {
        let frame = wire::encode(&msg);
        let again: Msg = wire::decode(&frame[4..]).expect("a re-encoded message decodes");
        assert_eq!(again, msg, "a message changed through encode and decode");
    }
    read_frames::<Msg>(data);
}

/// `join_msg`: the bytes as one join message (and the operations an inviter
/// answers with, as the newcomer checks them), then as a stream of frames.
pub fn join_msg(data: &[u8]) {
    if let Ok(msg) = wire::decode::<JoinMsg>(data) {
        let frame = wire::encode(&msg);
        let again: JoinMsg = wire::decode(&frame[4..]).expect("a re-encoded message decodes");
        assert_eq!(again, msg, "a message changed through encode and decode");
        if let JoinMsg::Admitted(ops) | JoinMsg::Pending(ops, _) = &msg {
            let decoded: Vec<SignedOp> = ops
                .iter()
                .filter_map(|bytes| SignedOp::decode(bytes).ok())
                .collect();
            let mut log = MembershipLog::new();
            let _ = log.insert_all(decoded);
            check_log(&log);
        }
    }
    read_frames::<JoinMsg>(data);
}

// ---------------------------------------------------------------------------
// Tickets.

fn check_ticket(text: &str) {
    match Ticket::decode(text) {
        Ok(ticket) => {
            // Only a key we hold can sign the same ticket again.
            for i in 0..KEYS {
                if device(i).0 == ticket.inviter {
                    let again = ticket.encode(&key(i));
                    assert_eq!(
                        Ticket::decode(&again).as_ref(),
                        Ok(&ticket),
                        "a ticket changed through encode and decode"
                    );
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// `ticket`: the bytes as typed text, as `entraide1` + base32 of a body and
/// signature, and as a body signed here by fixed key 0 (so that decoding the
/// body itself is reached).
pub fn ticket(data: &[u8]) {
    check_ticket(&String::from_utf8_lossy(data));
    let b32 = |bytes: &[u8]| data_encoding::BASE32_NOPAD.encode(bytes).to_lowercase();
    check_ticket(&format!("entraide1{}", b32(data)));
    let mut message = TICKET_CONTEXT.to_vec();
    message.extend_from_slice(data);
    let mut signed = data.to_vec();
    signed.extend_from_slice(&key(0).sign(&message).to_bytes());
    check_ticket(&format!("entraide1{}", b32(&signed)));
}

/// A valid ticket of fixed key 0, as `entraide invite` prints it.
pub fn sample_ticket() -> Ticket {
    Ticket {
        alliance: [7; 32],
        alliance_name: "Fuzz alliance".into(),
        inviter: device(0).0,
        addrs: vec![
            "127.0.0.1:4433".parse().expect("an address"),
            "[::1]:4433".parse().expect("an address"),
        ],
        relay: Some("https://relay.example.invalid".into()),
        secret: [9; 16],
        expires_ms: T0 + 7 * DAY,
        role: Role::Member,
        for_org: None,
    }
}

// ---------------------------------------------------------------------------
// Membership operations.

/// Invariants of any log and its state.
fn check_log(log: &MembershipLog) {
    assert_eq!(
        log.ordered().len(),
        log.len(),
        "the topological order lost operations"
    );
    let state = log.state();
    assert_eq!(
        state.verdicts.len(),
        log.len(),
        "an operation got no verdict"
    );
    let _ = log.heads();
    let _ = log.missing_for(&[]);
}

/// Makes a decoded operation refer to things that exist: its author and the
/// devices it names become fixed keys, its parents and motions earlier
/// operations (unless the hash's second byte is 0xff: then it stays as is).
fn remap(mut op: Op, earlier: &[SignedOp]) -> (Op, u8) {
    let signer = op.author.0[0] % 4;
    op.author = device(signer);
    let pick = |h: OpHash| {
        if h.0[1] == 0xff || earlier.is_empty() {
            h
        } else {
            earlier[usize::from(h.0[0]) % earlier.len()].hash()
        }
    };
    let dev = |d: DeviceId| {
        if d.0[1] == 0xff {
            d
        } else {
            device(d.0[0] % 4)
        }
    };
    let cut = |cutoffs: &mut Vec<Cutoff>| {
        for c in cutoffs {
            c.device = dev(c.device);
        }
    };
    op.parents = op.parents.into_iter().map(pick).collect();
    match &mut op.body {
        OpBody::Admit { device, .. } | OpBody::AddDevice { device, .. } => *device = dev(*device),
        OpBody::RemoveDevice { device, cutoffs } => {
            *device = dev(*device);
            cut(cutoffs);
        }
        OpBody::RemoveOrg { cutoffs, .. } | OpBody::Leave { cutoffs, .. } => cut(cutoffs),
        OpBody::Approve { motion } | OpBody::Block { motion, .. } => *motion = pick(*motion),
        OpBody::Found { .. }
        | OpBody::SetAdmission { .. }
        | OpBody::SetRole { .. }
        | OpBody::SetProcess { .. }
        | OpBody::GroupCreate { .. }
        | OpBody::GroupAdd { .. }
        | OpBody::GroupRemove { .. }
        | OpBody::GroupDissolve { .. } => {}
    }
    (op, signer)
}

/// `membership_op`: the bytes as one signed envelope (decoded, then inserted
/// into the fixed alliance's log and into an empty one), and as a script of
/// postcard-encoded operations that are signed here with fixed keys and
/// inserted one by one, computing the state after each.
pub fn membership_op(data: &[u8]) {
    if let Ok(op) = SignedOp::decode(data) {
        assert_eq!(op.bytes(), data, "decoding changed the envelope");
        let mut log = MembershipLog::new();
        let _ = log.insert_all(membership_ops());
        let _ = log.insert(op.clone());
        check_log(&log);
        let mut alone = MembershipLog::new();
        let _ = alone.insert(op);
        check_log(&alone);
    }
    let mut rest = data;
    let mut signed: Vec<SignedOp> = Vec::new();
    let mut log = MembershipLog::new();
    while signed.len() < 24 {
        let Ok((op, tail)) = postcard::take_from_bytes::<Op>(rest) else {
            break;
        };
        rest = tail;
        let (op, signer) = remap(op, &signed);
        let op = SignedOp::sign(op, &key(signer));
        match SignedOp::decode(op.bytes()) {
            Ok(back) => assert_eq!(back, op, "an operation changed through sign and decode"),
            Err(e) => assert!(
                op.bytes().len() > MAX_OP_BYTES,
                "an operation signed here does not decode: {e}"
            ),
        }
        if log.insert(op.clone()).is_ok() {
            check_log(&log);
        }
        signed.push(op);
    }
}

/// The fixed alliance: A founds it (coordinator rule) and admits B; B adds
/// device 2, then removes it.
pub fn membership_ops() -> Vec<SignedOp> {
    let sign = |parents: Vec<OpHash>, signer: u8, time: i64, body: OpBody| {
        SignedOp::sign(
            Op {
                parents,
                author: device(signer),
                time_ms: time,
                body,
            },
            &key(signer),
        )
    };
    let found = sign(
        vec![],
        0,
        T0,
        OpBody::Found {
            alliance_name: "Fuzz alliance".into(),
            org_id: ORG_A.into(),
            org_name: "Org A".into(),
            admission: AdmissionRule::Coordinator,
        },
    );
    let admit = sign(
        vec![found.hash()],
        0,
        T0 + 1,
        OpBody::Admit {
            org_id: ORG_B.into(),
            org_name: "Org B".into(),
            role: Role::Member,
            device: device(1),
            invitation: [1; 32],
        },
    );
    let add = sign(
        vec![admit.hash()],
        1,
        T0 + 2,
        OpBody::AddDevice {
            device: device(2),
            invitation: [2; 32],
        },
    );
    let remove = sign(
        vec![add.hash()],
        1,
        T0 + 3,
        OpBody::RemoveDevice {
            device: device(2),
            cutoffs: vec![],
        },
    );
    vec![found, admit, add, remove]
}

// ---------------------------------------------------------------------------
// The fixed home.

/// Fixed key `signer`'s attestation of `hash`.
fn attestation(
    signer: u8,
    alliance: &[u8; 32],
    doc: DocKind,
    hash: [u8; 32],
    seq: u64,
) -> Attestation {
    Attestation::sign(&key(signer), alliance, doc, hash, seq)
}

fn push_chunk(batch: &mut WriteBatch, doc: &mut SharedDoc) {
    if let Some(bytes) = doc.take_unsaved() {
        batch.doc_chunk(&doc.kind().name(), bytes);
    }
}

fn attest_doc(batch: &mut WriteBatch, alliance: &[u8; 32], doc: &mut SharedDoc) {
    if let Some(hash) = doc.take_last_local() {
        let seq = doc
            .version_vector()
            .get(device(0).0.as_slice())
            .copied()
            .unwrap_or(0);
        let a = attestation(0, alliance, doc.kind(), hash.0, seq);
        batch.doc_extra(
            &doc.kind().name(),
            &device(0).0,
            postcard::to_allocvec(&a).expect("an attestation encodes"),
        );
    }
}

fn directory(hex: &str) -> Option<DeviceOrg> {
    (hex == device(0).to_hex()).then(|| DeviceOrg {
        org: ORG_A.into(),
        coordinator: true,
    })
}

/// Creates the fixed home in `root`: device key 0 of organisation A in the
/// fixed alliance, a charter (two chunks), a calendar with two resources and
/// two bookings and, when `full`, a value and a library entry with its file.
/// Built through the store directly, with fixed times, so that the store
/// file is the same on every run.
pub fn build_home(root: &Path, full: bool) -> Home {
    fs::create_dir_all(root).expect("create the home");
    fs::write(root.join("device.key"), key(0).to_bytes()).expect("write the key");
    let home = Home::new(root);
    let store = Store::create(&home.store_path()).expect("create the store");
    let ops = membership_ops();
    let alliance = ops[0].hash().0;
    let author = Author {
        device: device(0).0,
        org: ORG_A.into(),
    };
    let me = device(0).0;
    let mut first = WriteBatch::new();
    let mut peers = BTreeMap::new();
    peers.insert(
        device(1),
        PeerRecord {
            addrs: vec!["127.0.0.1:4434".parse().expect("an address")],
            last_sync_ms: Some(T0),
        },
    );
    first
        .meta("org_id", ORG_A.as_bytes().to_vec())
        .meta("org_name", b"Org A".to_vec())
        .meta("listen_addrs", br#"["127.0.0.1:4433"]"#.to_vec())
        .meta("relay", Vec::new())
        .meta(
            "peers",
            postcard::to_allocvec(&peers).expect("peers encode"),
        );
    for op in &ops {
        first.op(op.hash().0, op.bytes().to_vec());
    }
    let mut second = WriteBatch::new();

    let mut charter = Charter::new(SharedDoc::new(DocKind::Charter, me));
    charter.set_text(T0 + 10, "We help each other.");
    push_chunk(&mut first, charter.doc_mut());
    charter.set_text(T0 + 20, "We help each other, always.");
    push_chunk(&mut second, charter.doc_mut());
    attest_doc(&mut second, &alliance, charter.doc_mut());

    let mut calendar = Calendar::new(SharedDoc::new(DocKind::calendar_of(ROOM), me));
    let room = NewResource {
        id: ROOM,
        name: "Room",
        kind: ResourceKind::parse("room").expect("a kind"),
        capacity: Some(12),
        location: Some("Hall"),
        quota: Some(Quota::parse("20h/week").expect("a quota")),
        approval: false,
        zone: utc(),
        hours: None,
    };
    calendar
        .add_resource(&author, T0 + 30, room)
        .expect("add the room");
    let van = NewResource {
        id: VAN,
        name: "Van",
        kind: ResourceKind::parse("vehicle").expect("a kind"),
        capacity: None,
        location: None,
        quota: Some(Quota::parse("6h/month").expect("a quota")),
        approval: true,
        zone: "Europe/Brussels".parse().expect("a zone"),
        hours: None,
    };
    calendar
        .add_resource(&author, T0 + 31, van)
        .expect("add the van");
    push_chunk(&mut first, calendar.doc_mut());
    let slot = |id: &str, from: i64, hours: i64| NewBooking {
        id: id.into(),
        from,
        to: from + hours * HOUR,
    };
    calendar
        .book(
            &author,
            T0 + 40,
            ROOM,
            &[slot(BOOKING, T0 + 7 * DAY + 10 * HOUR, 2)],
            "General assembly",
            None,
            utc(),
            &directory as &dyn Directory,
        )
        .expect("book the room");
    calendar
        .book(
            &author,
            T0 + 41,
            VAN,
            &[slot(PENDING, T0 + 8 * DAY + 9 * HOUR, 3)],
            "Moving",
            None,
            utc(),
            &directory as &dyn Directory,
        )
        .expect("book the van");
    push_chunk(&mut second, calendar.doc_mut());
    attest_doc(&mut second, &alliance, calendar.doc_mut());

    if full {
        let mut values = Values::new(SharedDoc::new(DocKind::Values, me));
        values
            .add(
                &author,
                T0 + 50,
                VALUE,
                "Solidarity",
                "We share what we have.",
            )
            .expect("add a value");
        push_chunk(&mut second, values.doc_mut());
        attest_doc(&mut second, &alliance, values.doc_mut());

        let hash = blake3::hash(LIBRARY_FILE);
        let mut library = Library::new(SharedDoc::new(DocKind::Library, me));
        library
            .add(
                &author,
                T0 + 60,
                NewEntry {
                    id: ENTRY,
                    title: "Welcome procedure",
                    kind: EntryKind::parse("procedure").expect("a kind"),
                    tags: &["onboarding".to_owned()],
                    size: LIBRARY_FILE.len() as u64,
                    hash: &hash.to_hex(),
                    file_name: "welcome.txt",
                },
            )
            .expect("add a library entry");
        push_chunk(&mut second, library.doc_mut());
        attest_doc(&mut second, &alliance, library.doc_mut());
        second.blob(*hash.as_bytes(), LIBRARY_FILE.to_vec());
    }
    store.commit(first).expect("first commit");
    store.commit(second).expect("second commit");
    drop(store);
    home
}

/// What every node command that only reads answers, then a few writes that
/// read what is there first. Made from the requests' JSON form, so that a
/// command this version does not know is skipped rather than breaking the
/// build.
fn follow_up_requests() -> Vec<Request> {
    let mut json = vec![
        serde_json::json!({"command": "status"}),
        serde_json::json!({"command": "member_list"}),
        serde_json::json!({"command": "member_log"}),
        serde_json::json!({"command": "peers"}),
        serde_json::json!({"command": "charter_show"}),
        serde_json::json!({"command": "charter_history"}),
        serde_json::json!({"command": "charter_adopted"}),
        serde_json::json!({"command": "charter_diff", "from": "adopted", "to": "draft"}),
        serde_json::json!({"command": "values_list"}),
        serde_json::json!({"command": "library_list"}),
        serde_json::json!({"command": "library_list", "search": "welcome"}),
        serde_json::json!({"command": "library_get", "entry": "Welcome procedure"}),
        serde_json::json!({"command": "resource_list"}),
        serde_json::json!({"command": "bookings"}),
        serde_json::json!({"command": "calendar_export"}),
        serde_json::json!({"command": "proposals", "open": false}),
        serde_json::json!({"command": "decisions"}),
        serde_json::json!({"command": "decisions_export"}),
        serde_json::json!({"command": "event_list"}),
        serde_json::json!({"command": "org_list"}),
        serde_json::json!({"command": "ledger"}),
        serde_json::json!({"command": "ledger_export"}),
        serde_json::json!({"command": "fees"}),
    ];
    json.extend(DocKind::ALL.map(|k| serde_json::json!({"command": "export", "doc": k.name()})));
    json.extend([
        serde_json::json!({"command": "book", "resource": "Room", "from": "2030-01-08T11:00",
            "to": "2030-01-08T13:00", "purpose": "Overlaps the assembly", "repeat": "weekly",
            "count": 3}),
        serde_json::json!({"command": "booking_decide", "booking": PENDING, "approve": true}),
        serde_json::json!({"command": "cancel", "booking": BOOKING}),
        serde_json::json!({"command": "values_endorse", "value": "Solidarity"}),
        serde_json::json!({"command": "bookings", "resource": "Van", "org": "Org A"}),
    ]);
    json.into_iter()
        .filter(|j| !skipped(j["command"].as_str().unwrap_or_default()))
        .filter_map(|j| serde_json::from_value(j).ok())
        .collect()
}

/// Whether a caught panic's message contains one of the comma-separated
/// strings of `ENTRAIDE_FUZZ_KNOWN` (e.g. `btree_base.rs:283`): lets the
/// `store_open` fuzzer run past a crash already found and reported.
fn known(panic: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("ENTRAIDE_FUZZ_KNOWN")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .iter()
        .any(|k| panic.contains(k.as_str()))
}

/// Whether `command` is in `ENTRAIDE_FUZZ_SKIP` (comma-separated command
/// names, e.g. `values_list`): lets a fuzzer run past a crash already found
/// and reported, to look for others.
fn skipped(command: &str) -> bool {
    static SKIP: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("ENTRAIDE_FUZZ_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|s| s == command)
}

/// Each document's heads, as `status` reports them.
fn heads(node: &mut Node) -> String {
    let reply = node.execute(Request::Status).expect("status answers");
    reply.json["docs"].to_string()
}

fn file_stamp(path: &Path) -> (u64, Option<SystemTime>) {
    let meta = fs::metadata(path).expect("the store file exists");
    (meta.len(), meta.modified().ok())
}

// ---------------------------------------------------------------------------
// Bundles.

/// A node on the fixed home (charter and calendar written by A, values and
/// library holding only their genesis), reset to its first state after any
/// bundle it accepts.
pub struct BundleHarness {
    _dir: tempfile::TempDir,
    home: Home,
    node: Option<Node>,
    pristine: Vec<u8>,
    alliance: [u8; 32],
    /// Each document as the node holds it at first, as a full save.
    saves: Vec<Vec<u8>>,
    /// The same documents, to learn which changes a chunk adds.
    mirrors: Vec<SharedDoc>,
}

impl BundleHarness {
    /// Builds the home and opens the node.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let home = build_home(&dir.path().join("home"), false);
        let pristine = fs::read(home.store_path()).expect("read the store");
        let mut node = Node::open(&home, utc()).expect("the fixed home opens");
        assert!(node.is_member_device(&device(1)), "B is a member");
        assert!(!node.is_member_device(&device(2)), "device 2 is removed");
        let alliance = node.alliance_id().expect("an alliance");
        let saves: Vec<Vec<u8>> = DocKind::ALL
            .into_iter()
            .map(|k| {
                node.bundle_for(k, &VersionVector::new())
                    .expect("every document holds its genesis")
                    .bytes
            })
            .collect();
        let mirrors = DocKind::ALL
            .into_iter()
            .zip(&saves)
            .map(|(k, s)| SharedDoc::load(k, [0; 32], [s.as_slice()]).expect("a save loads"))
            .collect();
        Self {
            _dir: dir,
            home,
            node: Some(node),
            pristine,
            alliance,
            saves,
            mirrors,
        }
    }

    /// The alliance of the fixed home.
    pub fn alliance(&self) -> [u8; 32] {
        self.alliance
    }

    /// Document `kind` as the node holds it at first.
    pub fn save(&self, kind: DocKind) -> &[u8] {
        &self.saves[doc_index(kind)]
    }

    /// The changes `bytes` would add to document `kind` (the signature
    /// check runs first and stops there: the membership is never asked).
    fn added_by(&mut self, kind: DocKind, bytes: &[u8]) -> Vec<ChangeSummary> {
        match self.mirrors[doc_index(kind)]
            .apply_verified(bytes, &NoMembers, |added| Err::<(), _>(added.to_vec()))
        {
            Err(ApplyError::Refused(added)) => added,
            _ => Vec::new(),
        }
    }

    /// For each fixed key, its attestation of its latest change among `added`.
    fn honest(&self, kind: DocKind, added: &[ChangeSummary]) -> Vec<Attestation> {
        let mut latest: BTreeMap<u8, &ChangeSummary> = BTreeMap::new();
        for c in added {
            if let Some(k) = key_of_actor(&c.actor) {
                let entry = latest.entry(k).or_insert(c);
                if c.seq > entry.seq {
                    *entry = c;
                }
            }
        }
        latest
            .into_iter()
            .map(|(k, c)| attestation(k, &self.alliance, kind, c.hash.0, c.seq))
            .collect()
    }

    /// An attestation as three fuzz bytes describe it.
    fn described(&self, kind: DocKind, added: &[ChangeSummary], spec: &[u8]) -> Attestation {
        let [who, which, how] = [spec[0], spec[1], spec[2]];
        let signer = who % KEYS;
        let change = (!added.is_empty()).then(|| &added[usize::from(which) % added.len()]);
        let hash = change.map_or([which; 32], |c| c.hash.0);
        let seq = match change {
            Some(c) if how & 1 == 0 => c.seq,
            _ => u64::from(how >> 1),
        };
        let alliance = if how & 0x20 == 0 {
            self.alliance
        } else {
            [0; 32]
        };
        let mut a = attestation(signer, &alliance, kind, hash, seq);
        if how & 0x80 != 0
            && let Some(actor) = change.and_then(|c| <[u8; 32]>::try_from(c.actor.as_slice()).ok())
        {
            a.device = actor;
        }
        if how & 0x40 != 0 {
            a.signature[0] ^= 1;
        }
        a
    }

    /// The bundle an input describes. First byte: document (modulo the
    /// number of documents, in `DocKind::ALL` order) and mode (the quotient,
    /// modulo 3): 0 a chunk with attestations made here
    /// (second byte: how many described ones follow, three bytes each; none
    /// means each fixed key attests its latest change), 1 a postcard
    /// `Bundle` as a peer sends it, 2 a script of automerge edits made here
    /// by a fixed key, who attests it.
    fn bundle_from(&mut self, data: &[u8]) -> Option<Bundle> {
        let (&head, rest) = data.split_first()?;
        let kinds = DocKind::ALL.len();
        let kind = DocKind::ALL[usize::from(head) % kinds];
        match usize::from(head) / kinds % 3 {
            0 => {
                let (&n, rest) = rest.split_first().unwrap_or((&0, &[]));
                let n = usize::from(n % 8);
                if rest.len() < 3 * n {
                    return None;
                }
                let (specs, bytes) = rest.split_at(3 * n);
                let added = self.added_by(kind, bytes);
                let attestations = if n == 0 {
                    self.honest(kind, &added)
                } else {
                    specs
                        .chunks(3)
                        .map(|s| self.described(kind, &added, s))
                        .collect()
                };
                Some(Bundle {
                    doc: kind,
                    bytes: bytes.to_vec(),
                    attestations,
                })
            }
            1 => postcard::from_bytes::<Bundle>(rest).ok(),
            _ => {
                // The script is the member's own editing, done here with
                // automerge: where automerge fails on it (a debug assertion
                // of its own, `op_set.rs:584`, fails on some inserts), there
                // is no change to send, and the input is skipped. Only what
                // the node does with bytes it receives is under test.
                let base = self.save(kind);
                let bytes = catch_unwind(AssertUnwindSafe(|| script_change(base, rest)))
                    .ok()
                    .flatten()?;
                let added = self.added_by(kind, &bytes);
                let attestations = self.honest(kind, &added);
                Some(Bundle {
                    doc: kind,
                    bytes,
                    attestations,
                })
            }
        }
    }

    fn node(&mut self) -> &mut Node {
        self.node.as_mut().expect("the node is open")
    }

    /// Receives one bundle and checks what it did.
    fn receive(&mut self, bundle: &Bundle) {
        let path = self.home.store_path();
        let kind = bundle.doc;
        let node = self.node();
        let vectors: Vec<VersionVector> = DocKind::ALL
            .into_iter()
            .map(|k| node.doc_version_vector(k))
            .collect();
        let held = node.bundle_for(kind, &VersionVector::new());
        let stamp = file_stamp(&path);
        let result = node.receive_bundle(bundle);
        if verbose() {
            eprintln!("bundle for {}: {result:?}", kind.name());
        }
        match result {
            Err(e) => {
                // A change refused by the authority check is recorded in
                // the audit list (a store write), and only there.
                let audited = match &e {
                    SyncError::Unauthorized(refusal) if !refusal.undecided => {
                        let audit = node.execute(Request::Audit).expect("audit").json;
                        let change = refusal.change.to_string();
                        assert!(
                            audit
                                .as_array()
                                .is_some_and(|a| a.iter().any(|r| r["change"] == change.as_str())),
                            "a refused change is missing from the audit: {audit}"
                        );
                        true
                    }
                    _ => false,
                };
                let e = e.to_string();
                let after: Vec<VersionVector> = DocKind::ALL
                    .into_iter()
                    .map(|k| node.doc_version_vector(k))
                    .collect();
                assert_eq!(after, vectors, "a refused bundle changed a document ({e})");
                assert!(
                    node.bundle_for(kind, &VersionVector::new()) == held,
                    "a refused bundle changed the {} document or its attestations ({e})",
                    kind.name()
                );
                if !audited {
                    assert_eq!(
                        file_stamp(&path),
                        stamp,
                        "a refused bundle wrote to the store ({e})"
                    );
                }
            }
            Ok(received) => {
                if received.new_changes == 0 && file_stamp(&path) == stamp {
                    return;
                }
                for request in follow_up_requests() {
                    let name = format!("{request:?}");
                    let answer = node.execute(request);
                    if verbose() {
                        eprintln!(
                            "  {name}: {}",
                            match &answer {
                                Ok(reply) => reply.text.lines().next().unwrap_or("").to_owned(),
                                Err(e) => format!("error: {e}"),
                            }
                        );
                    }
                    if let Ok(reply) = answer {
                        let _ = reply.json.to_string();
                    }
                }
                let before = heads(node);
                drop(self.node.take());
                let mut again =
                    Node::open(&self.home, utc()).expect("a node that accepted a bundle opens");
                assert_eq!(
                    heads(&mut again),
                    before,
                    "what the node accepted is not what it stored"
                );
                drop(again);
                fs::write(&path, &self.pristine).expect("reset the store");
                self.node = Some(Node::open(&self.home, utc()).expect("the fixed home opens"));
            }
        }
    }
}

impl Default for BundleHarness {
    fn default() -> Self {
        Self::new()
    }
}

fn doc_index(kind: DocKind) -> usize {
    DocKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

/// `bundle`: the node receives the bundle the input describes (see
/// [`BundleHarness::bundle_from`]); a refusal must leave documents, their
/// attestations and the store file as they were; an acceptance must survive
/// a reopen, and every command must still answer without panicking.
pub fn bundle(h: &mut BundleHarness, data: &[u8]) {
    // A panic inside automerge on hostile changes is caught by
    // `entraide-docs` and refuses the bundle; one that escapes is a crash.
    install_panic_hook();
    let made = unwinding(|| h.bundle_from(data));
    let Some(bundle) = made.unwrap_or_else(|p| panic!("making the bundle panicked: {p}")) else {
        return;
    };
    if let Err(p) = unwinding(|| h.receive(&bundle)) {
        panic!("receiving the bundle panicked: {p}");
    }
}

// ---------------------------------------------------------------------------
// Automerge edit scripts: what a member that does not run entraide can write.

/// Words of the schemas and of the fixed home, so that scripts hit real keys.
const WORDS: &[&str] = &[
    "text",
    "values",
    "entries",
    "resources",
    "bookings",
    "name",
    "description",
    "created_by",
    "created_at",
    "endorsements",
    "title",
    "kind",
    "tags",
    "size",
    "hash",
    "file_name",
    "added_by",
    "added_by_device",
    "added_at",
    "capacity",
    "location",
    "quota",
    "zone",
    "approval",
    "owner",
    "org",
    "device",
    "from",
    "to",
    "purpose",
    "series",
    "decision",
    "decision_reason",
    "decided_by",
    "decided_by_device",
    "cancelled_by",
    "cancelled_by_device",
    "cancelled_at",
    "approved",
    "declined",
    "room",
    "vehicle",
    "equipment",
    "other",
    "procedure",
    "20h/week",
    "744h/month",
    "0h/week",
    "1h/month",
    "Europe/Brussels",
    "Pacific/Kiritimati",
    "America/St_Johns",
    "UTC",
    "",
    "proposals",
    "process",
    "quorum",
    "deadline",
    "votes",
    "position",
    "reason",
    "at",
    "agree",
    "abstain",
    "disagree",
    "block",
    "consent",
    "consensus",
    "majority",
    "charter-amendment",
    "general",
    "admission",
    "removal",
    "open",
    "passed",
    "rejected",
    "blocked",
    "expired",
    ORG_A,
    ORG_B,
    ROOM,
    VAN,
    BOOKING,
    PENDING,
    VALUE,
    ENTRY,
];

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let got = self.bytes(8);
        b[..got.len()].copy_from_slice(&got);
        u64::from_le_bytes(b)
    }

    fn index(&mut self, len: usize) -> usize {
        usize::from(self.u8()) % len.max(1)
    }

    fn int(&mut self) -> i64 {
        match self.u8() % 8 {
            0 => 0,
            1 => -1,
            2 => i64::MIN,
            3 => i64::MAX,
            4 => T0 + 7 * DAY + i64::from(self.u8()) * 900_000,
            5 => i64::from(self.u8() as i8),
            6 => self.u64() as i64,
            _ => T0 + 7 * DAY + i64::from(self.u8() as i8) * HOUR,
        }
    }

    fn word(&mut self) -> String {
        let k = self.u8();
        if k < 0xc0 {
            device_word(usize::from(k))
        } else {
            String::from_utf8_lossy(&self.bytes(usize::from(k & 0x3f))).into_owned()
        }
    }

    fn scalar(&mut self) -> ScalarValue {
        match self.u8() % 10 {
            0 => ScalarValue::from(self.word().as_str()),
            1 => ScalarValue::Int(self.int()),
            2 => ScalarValue::Uint(self.u64()),
            3 => ScalarValue::F64(f64::from_bits(self.u64())),
            4 => ScalarValue::Boolean(self.u8() & 1 == 1),
            5 => ScalarValue::Null,
            6 => ScalarValue::Timestamp(self.int()),
            7 => {
                let n = usize::from(self.u8() % 64);
                ScalarValue::Bytes(self.bytes(n))
            }
            8 => ScalarValue::counter(self.int()),
            _ => {
                let type_code = 10 + self.u8() % 6;
                let n = usize::from(self.u8() % 16);
                ScalarValue::Unknown {
                    type_code,
                    bytes: self.bytes(n),
                }
            }
        }
    }

    fn obj_type(&mut self) -> ObjType {
        match self.u8() % 3 {
            0 => ObjType::Map,
            1 => ObjType::List,
            _ => ObjType::Text,
        }
    }
}

/// Word `k`: a schema word, or a fixed device's hex id.
fn device_word(k: usize) -> String {
    let n = WORDS.len() + usize::from(KEYS);
    let k = k % n;
    match WORDS.get(k) {
        Some(w) => (*w).to_owned(),
        None => device(u8::try_from(k - WORDS.len()).unwrap_or(0)).to_hex(),
    }
}

/// Edits `base` (a full save) as the fixed key the script's first byte names
/// and returns the new changes, as a peer would send them.
pub fn script_change(base: &[u8], script: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader(script);
    let signer = r.u8() % KEYS;
    let mut doc = AutoCommit::load(base).ok()?;
    let base_heads = doc.get_heads();
    doc.set_actor(ActorId::from(device(signer).0.as_slice()));
    let mut cur: ObjId = ROOT;
    let mut time = T0 + DAY;
    for _ in 0..96 {
        if r.is_empty() {
            break;
        }
        let is_map = matches!(doc.object_type(&cur), Ok(ObjType::Map | ObjType::Table));
        let len = doc.length(&cur);
        match r.u8() % 14 {
            0 => {
                let key = r.word();
                if let Ok(Some((value, id))) = doc.get(&cur, key.as_str())
                    && value.is_object()
                {
                    cur = id;
                }
            }
            1 => {
                let child = if is_map {
                    let keys: Vec<String> = doc.keys(&cur).collect();
                    let i = r.index(keys.len());
                    keys.get(i)
                        .and_then(|k| doc.get(&cur, k.as_str()).ok().flatten())
                } else {
                    let i = r.index(len);
                    doc.get(&cur, i).ok().flatten()
                };
                if let Some((value, id)) = child
                    && value.is_object()
                {
                    cur = id;
                }
            }
            2 => cur = ROOT,
            3 => {
                let value = r.scalar();
                let _ = if is_map {
                    let key = r.word();
                    doc.put(&cur, key.as_str(), value)
                } else {
                    let i = r.index(len);
                    doc.put(&cur, i, value)
                };
            }
            4 => {
                let ty = r.obj_type();
                let made = if is_map {
                    let key = r.word();
                    doc.put_object(&cur, key.as_str(), ty)
                } else {
                    let i = r.index(len + 1);
                    doc.insert_object(&cur, i, ty)
                };
                if let Ok(id) = made
                    && r.u8() & 1 == 1
                {
                    cur = id;
                }
            }
            5 => {
                let _ = if is_map {
                    let key = r.word();
                    doc.delete(&cur, key.as_str())
                } else {
                    let i = r.index(len);
                    doc.delete(&cur, i)
                };
            }
            6 => {
                let i = r.index(len + 1);
                let value = r.scalar();
                let _ = doc.insert(&cur, i, value);
            }
            7 => {
                let pos = r.index(len + 1);
                let del = isize::from(r.u8() as i8 % 8);
                let text = r.word();
                let _ = doc.splice_text(&cur, pos, del, &text);
            }
            8 => {
                let key = r.word();
                let by = r.int();
                let _ = doc.increment(&cur, key.as_str(), by);
            }
            9 => {
                doc.commit_with(CommitOptions::default().with_time(time));
            }
            // Change times far apart overflow automerge's delta-encoded
            // time column (hexane), a panic under overflow checks only
            // (see fuzz/README.md): keep them within ±2^61 ms, far beyond
            // what dates can show anyway.
            10 => time = r.int().clamp(-(1 << 61), 1 << 61),
            11 => {
                let start = r.index(len + 1);
                let end = start + r.index(len + 1 - start);
                let name = r.word();
                let value = r.scalar();
                let expand = ExpandMark::from(r.u8() & 1 == 1, r.u8() & 1 == 1);
                let _ = doc.mark(&cur, Mark::new(name, value, start, end), expand);
            }
            12 => {
                let key = r.word();
                let value = r.scalar();
                let _ = doc.put(ROOT, key.as_str(), value);
            }
            _ => {
                let key = r.word();
                let _ = doc.put_object(ROOT, key.as_str(), ObjType::Map);
            }
        }
    }
    doc.commit_with(CommitOptions::default().with_time(time));
    Some(doc.save_after(&base_heads))
}

// ---------------------------------------------------------------------------
// Damaged stores.

thread_local! {
    /// Set while a panic may unwind to a `catch_unwind` (redb's panics on
    /// damaged pages, which `entraide-store` catches): the panic hook then
    /// records the message instead of aborting (libFuzzer aborts on every
    /// panic, caught or not).
    static UNWIND_EXPECTED: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs (once) a panic hook that lets the panics of a region marked
/// with [`UNWIND_EXPECTED`] unwind quietly, and hands every other panic to
/// the hook that was there (libFuzzer's, which aborts).
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if UNWIND_EXPECTED.with(Cell::get) {
                let mut text = info.to_string();
                if verbose() {
                    text += &format!("\n{}", std::backtrace::Backtrace::force_capture());
                }
                LAST_PANIC.with(|p| *p.borrow_mut() = text);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, letting a panic inside it unwind; returns the panic's message.
fn unwinding<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    UNWIND_EXPECTED.with(|u| u.set(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    UNWIND_EXPECTED.with(|u| u.set(false));
    out.map_err(|_| LAST_PANIC.with(|p| p.borrow().clone()))
}

/// A home whose store file each input replaces.
pub struct StoreHarness {
    _dir: tempfile::TempDir,
    home: Home,
    template: Vec<u8>,
    /// Offsets of the 64-byte blocks of the template that are not all zeros.
    blocks: Vec<usize>,
}

impl StoreHarness {
    /// Builds the fixed home (with every document) and keeps its store file.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let home = build_home(&dir.path().join("home"), true);
        let template = fs::read(home.store_path()).expect("read the store");
        if verbose() {
            eprintln!(
                "store template: {} bytes, blake3 {}",
                template.len(),
                blake3::hash(&template)
            );
        }
        let blocks = template
            .chunks(64)
            .enumerate()
            .filter(|(_, b)| b.iter().any(|x| *x != 0))
            .map(|(i, _)| i * 64)
            .collect();
        Self {
            _dir: dir,
            home,
            template,
            blocks,
        }
    }

    /// The store file the fixed home starts with.
    pub fn template(&self) -> &[u8] {
        &self.template
    }

    /// Where the store file is.
    pub fn store_path(&self) -> PathBuf {
        self.home.store_path()
    }

    /// The store file an input describes. First byte (modulo 4): 0 the rest
    /// is the whole file; 1 and 2 the template with patches written over
    /// (1) or xored into (2) it, each `block (u16 LE, an index into the
    /// template's non-zero 64-byte blocks), offset (u8), length (u8),
    /// bytes`; 3 the template cut at `u32 LE` then followed by the rest.
    pub fn file_for(&self, data: &[u8]) -> Vec<u8> {
        let Some((&mode, rest)) = data.split_first() else {
            return self.template.clone();
        };
        match mode % 4 {
            0 => rest.to_vec(),
            1 | 2 => {
                let mut file = self.template.clone();
                let mut r = Reader(rest);
                while !r.is_empty() && !self.blocks.is_empty() {
                    let block = usize::from(u16::from_le_bytes([r.u8(), r.u8()]));
                    let at = self.blocks[block % self.blocks.len()] + usize::from(r.u8() % 64);
                    let n = usize::from(r.u8());
                    for (i, b) in r.bytes(n).into_iter().enumerate() {
                        if let Some(x) = file.get_mut(at + i) {
                            *x = if mode % 4 == 1 { b } else { *x ^ b };
                        }
                    }
                }
                file
            }
            _ => {
                let mut r = Reader(rest);
                let cut = u32::from_le_bytes([r.u8(), r.u8(), r.u8(), r.u8()]) as usize;
                let mut file = self.template[..cut % (self.template.len() + 1)].to_vec();
                file.extend_from_slice(r.0);
                file
            }
        }
    }
}

impl Default for StoreHarness {
    fn default() -> Self {
        Self::new()
    }
}

/// `store_open`: the input's store file (see [`StoreHarness::file_for`])
/// replaces the home's; opening the node must give `Ok` or `Err`, never
/// panic (redb's panics that `entraide-store` catches excepted), and a node
/// that opens must answer every command.
pub fn store_open(h: &StoreHarness, data: &[u8]) {
    install_panic_hook();
    let file = h.file_for(data);
    // `ENTRAIDE_FUZZ_DUMP=path`: also write the input as a raw-mode input
    // (0 then the whole file), which replays the same on any build (the
    // template's bytes differ between builds with and without debug
    // assertions).
    if let Some(path) = std::env::var_os("ENTRAIDE_FUZZ_DUMP") {
        let mut raw = vec![0];
        raw.extend_from_slice(&file);
        fs::write(path, raw).expect("write the dump");
    }
    // A new file each time: a node leaked below may still lock the old one.
    let _ = fs::remove_file(h.home.store_path());
    fs::write(h.home.store_path(), file).expect("write the store file");
    let opened = match unwinding(|| Node::open(&h.home, utc())) {
        Ok(opened) => opened,
        Err(panic) if known(&panic) => return,
        Err(panic) => panic!("Node::open panicked on a damaged store: {panic}"),
    };
    if verbose() {
        eprintln!("store open: {:?}", opened.as_ref().map(|_| "opened"));
    }
    let mut node = match opened {
        Ok(node) => node,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for request in follow_up_requests() {
        let name = format!("{request:?}");
        let answer = match unwinding(|| node.execute(request)) {
            Ok(answer) => answer,
            Err(panic) => {
                // redb's locks may be poisoned now, and dropping it would
                // panic again (and abort).
                std::mem::forget(node);
                assert!(
                    known(&panic),
                    "after opening a damaged store, {name} panicked: {panic}"
                );
                return;
            }
        };
        if let Ok(reply) = answer {
            let _ = reply.json.to_string();
        }
    }
    if let Err(panic) = unwinding(|| node.missing_blobs().map(|m| m.len())) {
        std::mem::forget(node);
        assert!(
            known(&panic),
            "after opening a damaged store, missing_blobs panicked: {panic}"
        );
    }
}

// ---------------------------------------------------------------------------
// Seeds.

fn frame(msg: &impl serde::Serialize) -> Vec<u8> {
    wire::encode(msg)
}

fn op_script(ops: &[Op]) -> Vec<u8> {
    ops.iter()
        .flat_map(|op| postcard::to_allocvec(op).expect("an op encodes"))
        .collect()
}

fn script_op(parents: &[u8], signer: u8, body: OpBody) -> Op {
    let mut author = [0u8; 32];
    author[0] = signer;
    Op {
        parents: parents
            .iter()
            .map(|p| {
                let mut h = [0u8; 32];
                h[0] = *p;
                OpHash(h)
            })
            .collect(),
        author: DeviceId(author),
        time_ms: T0,
        body,
    }
}

fn dev_ref(i: u8) -> DeviceId {
    let mut d = [0u8; 32];
    d[0] = i;
    DeviceId(d)
}

fn motion_ref(i: u8) -> OpHash {
    let mut h = [0u8; 32];
    h[0] = i;
    OpHash(h)
}

/// Hand-made inputs for every target: (target, name, bytes). Written to
/// `tests/fuzz-fixtures/<target>/` by the ignored test `write_seeds` and
/// used as the fuzzers' first corpus.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((target, format!("seed-{name}"), bytes));
    };
    let ops = membership_ops();
    let op_bytes: Vec<Vec<u8>> = ops.iter().map(|o| o.bytes().to_vec()).collect();

    // wire_msg
    let hello = Msg::Hello {
        summary: entraide_node::Summary {
            alliance: ops[0].hash().0,
            op_heads: vec![ops[3].hash().0],
            docs: vec![
                (DocKind::Charter, vec![(device(0).0.to_vec(), 2)]),
                (
                    DocKind::calendar_of(ROOM),
                    vec![(b"entraide-genesis".to_vec(), 1)],
                ),
            ],
            heads: vec![(DocKind::Charter, vec![[7; 32]])],
        },
        addrs: vec![(
            device(1).0,
            vec!["127.0.0.1:4434".parse().expect("an address")],
        )],
    };
    let msgs = [
        hello.clone(),
        Msg::Ops(op_bytes.clone()),
        Msg::Docs(Bundle {
            doc: DocKind::Values,
            bytes: vec![0x85, 0x6f, 0x4a, 0x83],
            attestations: vec![attestation(0, &[7; 32], DocKind::Values, [1; 32], 1)],
        }),
        Msg::NoBlob([4; 32]),
        Msg::Synced,
        Msg::Ack,
        Msg::Have {
            doc: DocKind::calendar_of(ROOM),
            held: vec![(device(0).0.to_vec(), 7)],
        },
        Msg::Want {
            doc: DocKind::Charter,
            held: vec![(b"entraide-genesis".to_vec(), 1)],
            heads: vec![[5; 32]],
        },
    ];
    add("wire_msg", "hello-payload", frame(&hello)[4..].to_vec());
    let stream: Vec<u8> = msgs.iter().flat_map(frame).collect();
    add("wire_msg", "all-frames", stream.clone());
    add(
        "wire_msg",
        "truncated-frame",
        stream[..stream.len() / 2].to_vec(),
    );
    add("wire_msg", "over-limit", vec![0xff, 0xff, 0xff, 0x7f, 0]);
    add(
        "wire_msg",
        "at-limit-no-payload",
        vec![0x00, 0x00, 0x00, 0x05],
    );
    add(
        "wire_msg",
        "bad-variant",
        vec![3, 0, 0, 0, 0xff, 0xff, 0xff],
    );

    // join_msg
    let request = JoinMsg::Request(entraide_node::JoinRequest {
        secret: [9; 16],
        org_id: ORG_B.into(),
        org_name: "Org B".into(),
    });
    add("join_msg", "request", frame(&request)[4..].to_vec());
    add(
        "join_msg",
        "admitted",
        frame(&JoinMsg::Admitted(op_bytes.clone()))[4..].to_vec(),
    );
    add(
        "join_msg",
        "pending",
        frame(&JoinMsg::Pending(
            op_bytes[..2].to_vec(),
            "approvals".into(),
        ))[4..]
            .to_vec(),
    );
    add(
        "join_msg",
        "refused-frame",
        frame(&JoinMsg::Refused("this ticket was used".into())),
    );

    // ledger_text
    let request = entraide_docs::ledger::FundRequest {
        kind: entraide_docs::ledger::FundKind::Loan,
        amount: 150_000,
        currency: "EUR".into(),
        repay: entraide_docs::ledger::Repay::parse("12 x monthly").ok(),
        reason: "Une chaudière\navant l'hiver".into(),
    };
    add(
        "ledger_text",
        "fund-request",
        request.to_text().into_bytes(),
    );
    add(
        "ledger_text",
        "fee-schedule",
        b"fees per year\ntier small: 100.00 EUR\ntier large: 500,5 eur\norg abc: large # La Ruche\n".to_vec(),
    );
    add("ledger_text", "amount", b"1500.00".to_vec());

    // ticket
    let ticket = sample_ticket();
    let text = ticket.encode(&key(0));
    add("ticket", "valid", text.clone().into_bytes());
    add(
        "ticket",
        "valid-upper-spaced",
        format!("  {}\n", text.to_uppercase()).into_bytes(),
    );
    add(
        "ticket",
        "truncated",
        text.as_bytes()[..text.len() - 7].to_vec(),
    );
    let body = postcard::to_allocvec(&ticket).expect("a ticket encodes");
    add("ticket", "body", body.clone());
    let mut second_device = ticket.clone();
    second_device.for_org = Some((ORG_A.into(), "Org A".into()));
    second_device.relay = None;
    add(
        "ticket",
        "body-second-device",
        postcard::to_allocvec(&second_device).expect("a ticket encodes"),
    );

    // membership_op
    for (i, bytes) in op_bytes.iter().enumerate() {
        add("membership_op", &format!("envelope-{i}"), bytes.clone());
    }
    let mut flipped = op_bytes[1].clone();
    flipped[20] ^= 1;
    add("membership_op", "flipped-byte", flipped);
    add(
        "membership_op",
        "truncated",
        op_bytes[0][..op_bytes[0].len() - 1].to_vec(),
    );
    let mut format2 = op_bytes[0].clone();
    format2[0] = 2;
    add("membership_op", "format-2", format2);
    let admit = |org: &str, dev: u8| OpBody::Admit {
        org_id: org.into(),
        org_name: format!("Org {org}"),
        role: Role::Member,
        device: dev_ref(dev),
        invitation: [dev; 32],
    };
    add(
        "membership_op",
        "script-consensus",
        op_script(&[
            script_op(
                &[],
                0,
                OpBody::Found {
                    alliance_name: "A".into(),
                    org_id: "oa".into(),
                    org_name: "Org oa".into(),
                    admission: AdmissionRule::Coordinator,
                },
            ),
            script_op(&[0], 0, admit("ob", 1)),
            script_op(
                &[1],
                0,
                OpBody::SetAdmission {
                    rule: AdmissionRule::Consensus,
                },
            ),
            script_op(&[2], 1, admit("oc", 2)),
            script_op(
                &[3],
                0,
                OpBody::Approve {
                    motion: motion_ref(3),
                },
            ),
            script_op(
                &[3],
                0,
                OpBody::Block {
                    motion: motion_ref(3),
                    reason: "no".into(),
                },
            ),
            script_op(
                &[4],
                1,
                OpBody::AddDevice {
                    device: dev_ref(3),
                    invitation: [3; 32],
                },
            ),
            script_op(
                &[6],
                1,
                OpBody::RemoveDevice {
                    device: dev_ref(3),
                    cutoffs: vec![Cutoff {
                        doc: "charter".into(),
                        device: dev_ref(3),
                        hash: [5; 32],
                    }],
                },
            ),
            script_op(
                &[7],
                0,
                OpBody::SetRole {
                    org_id: "ob".into(),
                    role: Role::Coordinator,
                },
            ),
        ]),
    );
    add(
        "membership_op",
        "script-mutual-removal",
        op_script(&[
            script_op(
                &[],
                0,
                OpBody::Found {
                    alliance_name: "A".into(),
                    org_id: "oa".into(),
                    org_name: "Org oa".into(),
                    admission: AdmissionRule::Majority,
                },
            ),
            script_op(&[0], 0, admit("ob", 1)),
            script_op(&[1], 0, admit("oc", 2)),
            script_op(
                &[2],
                1,
                OpBody::Approve {
                    motion: motion_ref(2),
                },
            ),
            script_op(
                &[3],
                0,
                OpBody::RemoveOrg {
                    org_id: "ob".into(),
                    reason: "left".into(),
                    cutoffs: vec![],
                },
            ),
            script_op(
                &[3],
                1,
                OpBody::RemoveOrg {
                    org_id: "oa".into(),
                    reason: "left".into(),
                    cutoffs: vec![],
                },
            ),
            script_op(
                &[4, 5],
                2,
                OpBody::Approve {
                    motion: motion_ref(4),
                },
            ),
            script_op(
                &[4, 5],
                2,
                OpBody::Approve {
                    motion: motion_ref(5),
                },
            ),
        ]),
    );

    // bundle: changes by B (a member), C (removed) and an outsider, made on
    // the fixed home's documents as a peer would send them.
    let h = BundleHarness::new();
    let charter_by = |signer: u8, text: &str| {
        let mut doc = SharedDoc::load(
            DocKind::Charter,
            device(signer).0,
            [h.save(DocKind::Charter)],
        )
        .expect("the charter loads");
        let base = doc.heads();
        let mut charter = Charter::new(doc);
        charter.set_text(T0 + DAY, text);
        charter.doc_mut().save_after(&base)
    };
    let honest = |doc: u8, bytes: &[u8]| {
        let mut v = vec![doc, 0];
        v.extend_from_slice(bytes);
        v
    };
    let at = |kind: DocKind| u8::try_from(doc_index(kind)).expect("few documents");
    add(
        "bundle",
        "charter-by-b",
        honest(
            at(DocKind::Charter),
            &charter_by(1, "We help each other, B says."),
        ),
    );
    add(
        "bundle",
        "charter-by-removed",
        honest(
            at(DocKind::Charter),
            &charter_by(2, "Removed, still writing."),
        ),
    );
    add(
        "bundle",
        "charter-by-outsider",
        honest(at(DocKind::Charter), &charter_by(5, "Let me in.")),
    );
    let by_b = charter_by(1, "Signed for another alliance.");
    let mut described = vec![at(DocKind::Charter), 2, 1, 0, 0x20, 1, 0, 0x40];
    described.extend_from_slice(&by_b);
    add("bundle", "charter-bad-attestations", described);
    let mut truncated = honest(at(DocKind::Charter), &by_b);
    truncated.truncate(truncated.len() - 5);
    add("bundle", "charter-truncated", truncated);
    let mut flipped = honest(at(DocKind::Charter), &by_b);
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    add("bundle", "charter-flipped-byte", flipped);
    let kinds = u8::try_from(DocKind::ALL.len()).expect("few documents");
    let mut as_peer = vec![kinds];
    let mut changes = SharedDoc::load(DocKind::Charter, [0; 32], [h.save(DocKind::Charter)])
        .expect("the charter loads");
    let _ = changes.load_incremental(&by_b);
    let hash = changes
        .heads()
        .into_iter()
        .find(|c| changes.change_actor(c).as_deref() == Some(device(1).0.as_slice()))
        .expect("B's change");
    as_peer.extend(
        postcard::to_allocvec(&Bundle {
            doc: DocKind::Charter,
            bytes: by_b.clone(),
            attestations: vec![attestation(1, &h.alliance(), DocKind::Charter, hash.0, 1)],
        })
        .expect("a bundle encodes"),
    );
    add("bundle", "charter-as-peer-sends", as_peer);

    let author_b = Author {
        device: device(1).0,
        org: ORG_B.into(),
    };
    let mut v = Values::new(SharedDoc::new(DocKind::Values, device(1).0));
    v.add(&author_b, T0 + DAY, VALUE, "Openness", "Doors open.")
        .expect("add a value");
    add(
        "bundle",
        "values-full-save-by-b",
        honest(at(DocKind::Values), &v.doc_mut().save()),
    );

    let mut calendar = SharedDoc::load(
        DocKind::calendar_of(ROOM),
        device(1).0,
        [h.save(DocKind::calendar_of(ROOM))],
    )
    .expect("the calendar loads");
    let base = calendar.heads();
    let mut cal = Calendar::new(calendar);
    let dir_b = |hex: &str| {
        if hex == device(0).to_hex() {
            Some(DeviceOrg {
                org: ORG_A.into(),
                coordinator: true,
            })
        } else {
            (hex == device(1).to_hex()).then(|| DeviceOrg {
                org: ORG_B.into(),
                coordinator: false,
            })
        }
    };
    cal.book(
        &author_b,
        T0 + DAY,
        ROOM,
        &[NewBooking {
            id: "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0bb".into(),
            from: T0 + 7 * DAY + 14 * HOUR,
            to: T0 + 7 * DAY + 16 * HOUR,
        }],
        "Workshop",
        None,
        utc(),
        &dir_b as &dyn Directory,
    )
    .expect("B books the room");
    let _ = cal.cancel(
        &author_b,
        false,
        T0 + DAY + 1,
        BOOKING,
        &dir_b as &dyn Directory,
    );
    add(
        "bundle",
        "calendar-by-b",
        honest(
            at(DocKind::calendar_of(ROOM)),
            &cal.doc_mut().save_after(&base),
        ),
    );

    // Scripts (mode 2): signer, then edits.
    let script = |doc: u8, ops: &[u8]| {
        let mut v = vec![2 * kinds + doc];
        v.extend_from_slice(ops);
        v
    };
    let word = |w: &str| {
        u8::try_from(WORDS.iter().position(|x| *x == w).expect("a known word")).expect("few words")
    };
    // B: bookings/<room>/<booking>/to = i64::MAX, quota = "0h/week".
    add(
        "bundle",
        "script-calendar-huge-end",
        script(
            at(DocKind::calendar_of(ROOM)),
            &[
                1,
                0,
                word("bookings"),
                0,
                word(ROOM),
                0,
                word(BOOKING),
                3,
                1,
                3,
                word("to"),
                2,
                0,
                word("resources"),
                0,
                word(ROOM),
                3,
                0,
                word("0h/week"),
                word("quota"),
                3,
                0,
                word("Pacific/Kiritimati"),
                word("zone"),
            ],
        ),
    );
    // B: the charter's text replaced by a map, a value with a list name.
    add(
        "bundle",
        "script-charter-text-as-map",
        script(
            at(DocKind::Charter),
            &[1, 13, word("text"), 12, word("values"), 1, 3],
        ),
    );
    add(
        "bundle",
        "script-values-wrong-types",
        script(
            at(DocKind::Values),
            &[
                1,
                0,
                word("values"),
                4,
                0,
                word(VALUE),
                1,
                4,
                1,
                word("name"),
                0,
                3,
                6,
                4,
                10,
                word("created_at"),
            ],
        ),
    );
    // B: a proposal with a huge quorum, a deadline at the start of time and a block.
    add(
        "bundle",
        "script-proposal",
        script(
            at(DocKind::Proposals),
            &[
                1,
                0,
                word("proposals"),
                4,
                0,
                word(VALUE),
                1,
                3,
                0,
                word("charter-amendment"),
                word("kind"),
                3,
                0,
                word("general"),
                word("title"),
                3,
                0,
                word("majority"),
                word("process"),
                3,
                1,
                3,
                word("quorum"),
                3,
                1,
                2,
                word("deadline"),
                3,
                0,
                word(ORG_B),
                word("created_by"),
                3,
                1,
                4,
                0,
                word("created_at"),
                4,
                0,
                word("votes"),
                1,
                4,
                0,
                word(ORG_A),
                1,
                3,
                0,
                word("block"),
                word("position"),
            ],
        ),
    );
    // B: a library entry with a huge size and a hash that is not hex.
    add(
        "bundle",
        "script-library-entry",
        script(
            at(DocKind::Library),
            &[
                1,
                0,
                word("entries"),
                4,
                0,
                word(ENTRY),
                1,
                3,
                0,
                word("procedure"),
                word("title"),
                3,
                2,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                word("size"),
                3,
                0,
                word("zone"),
                word("hash"),
            ],
        ),
    );

    // store_open
    add("store_open", "template", vec![1]);
    add(
        "store_open",
        "not-redb",
        b"\0this is not a database".to_vec(),
    );
    add("store_open", "empty", vec![0]);
    add(
        "store_open",
        "patch-header",
        vec![1, 0, 0, 8, 4, 0xde, 0xad, 0xbe, 0xef],
    );
    add(
        "store_open",
        "xor-second-block",
        vec![2, 1, 0, 0, 2, 0xff, 0xff],
    );
    add("store_open", "cut-half", vec![3, 0, 0x80, 0, 0]);

    // change_ops: a device's changes of every kind of operation.
    let mut doc = AutoCommit::new().with_actor(ActorId::from(device(0).0.to_vec()));
    let mut changes = Vec::new();
    let mut edit = |doc: &mut AutoCommit, f: &dyn Fn(&mut AutoCommit)| {
        f(doc);
        doc.commit();
        changes.push(
            doc.get_last_local_change()
                .expect("a change")
                .raw_bytes()
                .to_vec(),
        );
    };
    edit(&mut doc, &|d| {
        let map = d.put_object(ROOT, "records", ObjType::Map).expect("a map");
        d.put(&map, "title", "Salle 101").expect("a put");
        d.put(&map, "size", 12_u64).expect("a put");
        d.put(&map, "at", ScalarValue::Timestamp(1_900_000_000_000))
            .expect("a put");
        d.put(&map, "fixed", vec![1u8, 2, 3]).expect("a put");
    });
    edit(&mut doc, &|d| {
        let text = d.put_object(ROOT, "text", ObjType::Text).expect("a text");
        d.splice_text(&text, 0, 0, "Charte commune")
            .expect("a splice");
        d.splice_text(&text, 3, 2, "é").expect("a splice");
    });
    edit(&mut doc, &|d| {
        let list = d.put_object(ROOT, "tags", ObjType::List).expect("a list");
        d.insert(&list, 0, "salle").expect("an insert");
        d.insert(&list, 1, 2.5).expect("an insert");
        d.put(ROOT, "count", ScalarValue::counter(1))
            .expect("a counter");
        d.increment(ROOT, "count", 2).expect("an increment");
        d.delete(ROOT, "records").expect("a delete");
    });
    for (i, bytes) in changes.into_iter().enumerate() {
        add("change_ops", &format!("change-{i}"), bytes);
    }

    // save_ops: the same document as whole saves, compressed or not, and
    // with a change made after the save.
    add("save_ops", "compressed", doc.save());
    add("save_ops", "uncompressed", doc.save_nocompress());
    let mut with_later = doc.save_nocompress();
    doc.put(ROOT, "later", "after the save").expect("a put");
    doc.commit();
    with_later.extend_from_slice(doc.get_last_local_change().expect("a change").raw_bytes());
    add("save_ops", "with-a-later-change", with_later);
    out
}

/// A membership that knows nobody: for reading what a bundle adds.
struct NoMembers;

impl entraide_docs::Members for NoMembers {
    fn org_of(&self, _device: &[u8; 32]) -> Option<String> {
        None
    }

    fn coordinator_at(&self, _org: &str, _heads: &[[u8; 32]]) -> Option<bool> {
        None
    }
}

/// `change_ops`: the bytes as an automerge change. Whatever automerge takes
/// as a change, `entraide_docs::ops` (what the authority check reads) reads
/// as automerge's `Change::decode()` does, or refuses: never otherwise.
pub fn change_ops(data: &[u8]) {
    let Ok(change) = automerge::Change::from_bytes(data.to_vec()) else {
        return;
    };
    if let Ok(agrees) = entraide_docs::ops::reads_as_automerge(&change) {
        assert!(agrees, "a change read otherwise than automerge reads it");
    }
}

/// `save_ops`: the bytes as an automerge save. Whatever `entraide_docs::
/// save_ops` (what a newcomer's check reads of a whole save) reads, it
/// reads as automerge loads it: the same changes, counters, dependencies
/// and operations, or automerge refuses the bytes too.
pub fn save_ops(data: &[u8]) {
    if let Ok(agrees) = entraide_docs::save_ops::reads_as_automerge(data) {
        assert!(agrees, "a save read otherwise than automerge loads it");
    }
}

/// The text decoders of the ledger: what a member writes in a proposal of
/// kind `fund` or `fees` (read by every node), and amounts, rates and
/// schedules as a user or a page types them. Never a panic; whatever is
/// accepted reads back to itself once written out.
pub fn ledger_text(data: &[u8]) {
    use entraide_docs::ledger::{
        FeeSchedule, FundRequest, Repay, format_cents, format_rate, parse_amount, parse_rate,
    };
    let text = String::from_utf8_lossy(data);
    if let Some(request) = FundRequest::parse(&text) {
        assert_eq!(
            FundRequest::parse(&request.to_text()).as_ref(),
            Some(&request),
            "a fund request reads back to itself"
        );
    }
    if let Ok(fees) = FeeSchedule::parse(&text) {
        let written = fees.to_text(&|org| format!("org {org}"));
        assert_eq!(
            FeeSchedule::parse(&written).as_ref(),
            Ok(&fees),
            "a fee schedule reads back to itself"
        );
    }
    if let Ok(cents) = parse_amount(&text) {
        assert!(cents >= 0);
        assert_eq!(parse_amount(&format_cents(cents)), Ok(cents));
    }
    if let Ok(bp) = parse_rate(&text) {
        assert_eq!(parse_rate(&format_rate(bp)), Ok(bp));
    }
    if let Ok(repay) = Repay::parse(&text) {
        assert_eq!(Repay::parse(&repay.name()), Ok(repay));
    }
}
