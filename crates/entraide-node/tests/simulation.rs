//! A deterministic simulation of the sync sessions and the membership log:
//! no sockets, one seeded scheduler, and the real session state machine
//! (`entraide_node::session`) on every link.
//!
//! Each schedule starts from the same small alliance (four organisations, one
//! of them with a second device, an outsider that holds a copy of the
//! alliance's data, two organisations waiting to be invited) and runs
//! members' nodes in one process. Each connection is a pair of
//! [`Session`]s, one per side, driven the way `entraide-net`'s driver drives
//! them: the session says what to send, and the network is a queue of
//! deliveries by virtual time (milliseconds, passed to every call, with a
//! `Tick` every `TICK_MS`), with seeded loss, duplication and reordering,
//! links cut and healed, and nodes restarted (the `Node` dropped and its home
//! opened again); a stopped home is now and then backed up, and a later
//! start may open the backup instead (a laptop restored from an older
//! backup: it writes under a new actor, and what it had sent before comes
//! back to it). A session that ends (a refusal, a peer no longer a member,
//! a throttled peer) closes the connection once what it queued went out; a
//! throttled peer is not taken back for `THROTTLE_MS`. Members write at
//! random: charter lines, values, endorsements, bookings, cancellations,
//! library files (small ones, now and then one of two parts: so files are
//! asked for, sent part by part or answered with `NoBlob` through the
//! sessions), approvals, removals, blocks, admissions, second devices and
//! their revocation; the outsider injects changes and operations of its own.
//! Sometimes a member's node falls silent for a while: it announces changes
//! but never answers a `Want`, and the others must stop waiting on it after
//! `WANT_PATIENCE_MS` and ask another peer. Now and then the network falls
//! quiet for longer than that patience (what is on the way arrives, the ticks
//! go by); and whenever nothing is on the way while a question waits, virtual
//! time jumps to the next tick.
//!
//! After a reliable final phase (silence over, every link up, every node
//! running, sessions opened again until nothing moves), each schedule checks:
//!
//! 1. **Convergence**: every active member device holds the same heads of
//!    every document and of the membership log, the same charter text and
//!    the same bookings with the same statuses, and every library file its
//!    library names (but a file only a device no longer active ever held).
//! 2. **Same operations, same membership**: any two nodes holding the same
//!    membership operations (whenever checked, not only at the end) show
//!    the same member list and the same verdict on every operation.
//! 3. **Acknowledged means kept**: a write a node acknowledged (a library
//!    file's bytes too) is still there after that node restarts, and at the
//!    end on every member node if its device is still a member. After a
//!    restore from a backup, this holds for every write another node held
//!    at the restore; only what no other node held is gone with the disk.
//! 4. **A removed device is cut off**: what a device wrote after its own node
//!    knew it was removed is on no member node at the end; a node that knows
//!    of the removal refuses it when it is offered.
//! 5. **No outsider gets in**: every operation the outsider signed is
//!    invalid on every node, its changes are refused wherever offered, and
//!    its organisation never appears as a member.
//!
//! A second set of schedules (`an_equivocating_member_is_set_aside...`)
//! adds an equivocation to the same random schedule: member C's home is
//! copied while stopped, opened and written to, then replaced by the copy
//! opened with the same randomness (a virtual machine's snapshot restored:
//! the same actor), which writes another change under the same actor and
//! sequence number. Every rule above holds at the end, for the honest
//! writes built on either side too, and once any member proved the
//! equivocation, no member holds a change of the forked actor at or past
//! the fork (the twin may write its sibling's writes again, as its own
//! device's writes set aside).
//!
//! `ENTRAIDE_SIM_SEED=N` runs the one schedule `N` (printed when a schedule
//! fails, with its trace: every message delivered, every session ended);
//! `ENTRAIDE_SIM_SCHEDULES=N` runs more or fewer. A schedule is a function
//! of its seed, byte for byte: who does what, which message is lost, which
//! link is cut, and, through the [`Env`] each node is opened with, the
//! time every node reads (virtual) and the randomness it draws (seeded):
//! the same ids, keys and change hashes on every run
//! (`a_seed_replays_its_schedule_byte_for_byte`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono_tz::Tz;
use entraide_docs::DocKind;
use entraide_membership::{DeviceId, Op, OpBody, SignedOp};
use entraide_node::session::{
    End, Event, FILE_PART, Mode, Msg, Output, Session, THROTTLE_MS, TICK_MS, WANT_PATIENCE_MS,
};
use entraide_node::{Env, Home, Node, Request, Summary, Ticket};
use rand_pcg::Pcg64;
use rand_pcg::rand_core::{Rng, SeedableRng};
use serde_json::Value;

mod common;
use common::copy_dir;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;
const B2: usize = 4;
const X: usize = 5;
const E: usize = 6;
const F: usize = 7;
const NAMES: [&str; 8] = ["a", "b", "c", "d", "b2", "x", "e", "f"];
const ORGS: [&str; 8] = [
    "Asbl A", "Asbl B", "Asbl C", "Asbl D", "Asbl B", "Asbl X", "Asbl E", "Asbl F",
];
const RULES: [&str; 3] = ["coordinator", "majority", "consensus"];

/// A directory for the homes: in memory where the system offers it, since
/// the simulation is about logic, and durability has tests of its own.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("entraide-sim")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temp dir")
}

/// When a schedule's virtual time starts: 2026-06-01T00:00:00Z.
const EPOCH_MS: i64 = 1_780_272_000_000;

/// A node's time and randomness in a schedule: the schedule's virtual time,
/// and a generator the schedule seeds. So a seed replays its schedule byte
/// for byte: the same ids, keys and times in the same changes.
#[derive(Debug)]
struct SimEnv {
    clock: Arc<AtomicU64>,
    rng: RefCell<Pcg64>,
}

impl SimEnv {
    fn boxed(clock: &Arc<AtomicU64>, seed: u64) -> Box<dyn Env> {
        Box::new(SimEnv {
            clock: clock.clone(),
            rng: RefCell::new(Pcg64::seed_from_u64(seed)),
        })
    }
}

impl Env for SimEnv {
    fn now_ms(&self) -> i64 {
        EPOCH_MS + self.clock.load(Ordering::Relaxed) as i64
    }

    fn fill(&self, bytes: &mut [u8]) -> std::io::Result<()> {
        self.rng.borrow_mut().fill_bytes(bytes);
        Ok(())
    }
}

fn open(dir: &Path, i: usize, env: Box<dyn Env>) -> Node {
    Node::open_with(&Home::new(dir.join(NAMES[i])), Tz::UTC, env).expect("open")
}

fn n(nodes: &mut [Option<Node>], i: usize) -> &mut Node {
    nodes[i].as_mut().expect("node")
}

/// Two distinct nodes, mutably.
fn two(nodes: &mut [Option<Node>], i: usize, j: usize) -> (&mut Node, &mut Node) {
    assert_ne!(i, j);
    let (l, r) = nodes.split_at_mut(i.max(j));
    let (low, high) = (l[i.min(j)].as_mut(), r[0].as_mut());
    let (low, high) = (low.expect("running"), high.expect("running"));
    if i < j { (low, high) } else { (high, low) }
}

/// Sends everything each of `among` lacks from the others until nothing moves.
fn settle(nodes: &mut [Option<Node>], among: &[usize]) {
    for _ in 0..3 {
        for &i in among {
            for &j in among {
                if i != j {
                    let (from, to) = two(nodes, i, j);
                    common::push(from, to);
                }
            }
        }
    }
}

/// `inviter` lets `newcomer` in: a new organisation, or with `device` a
/// second device of the inviter's organisation. `Ok(false)`: pending.
fn invite(
    inviter: &mut Node,
    newcomer: &mut Node,
    device: bool,
    role: &str,
) -> Result<bool, String> {
    let request = if device {
        Request::DeviceInvite {
            expires: "1d".into(),
        }
    } else {
        Request::Invite {
            role: role.into(),
            expires: "1d".into(),
        }
    };
    let reply = inviter.execute(request).map_err(|e| e.to_string())?;
    let ticket = Ticket::decode(reply.json["ticket"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let request = newcomer.join_request(&ticket).map_err(|e| e.to_string())?;
    let answer = inviter
        .admit(newcomer.device(), &request)
        .map_err(|e| e.to_string())?;
    newcomer
        .accept_admission(&ticket, answer.ops())
        .map_err(|e| e.to_string())
}

/// The alliance every schedule starts from, one per admission rule.
fn template(rule: usize) -> &'static Path {
    static TEMPLATES: OnceLock<(tempfile::TempDir, Vec<std::path::PathBuf>)> = OnceLock::new();
    let (_, paths) = TEMPLATES.get_or_init(|| {
        let dir = scratch();
        let paths = RULES
            .iter()
            .map(|r| {
                let path = dir.path().join(r);
                build_template(&path, r);
                path
            })
            .collect();
        (dir, paths)
    });
    &paths[rule]
}

fn build_template(dir: &Path, rule: &str) {
    let clock = Arc::new(AtomicU64::new(0));
    let mut nodes: Vec<Option<Node>> = (0..NAMES.len())
        .map(|i| {
            let home = Home::new(dir.join(NAMES[i]));
            let env = SimEnv::boxed(&clock, i as u64);
            Some(Node::init_with(&home, ORGS[i], Tz::UTC, env).expect("init"))
        })
        .collect();
    n(&mut nodes, A)
        .execute(Request::AllianceCreate {
            name: "Alliance".into(),
            admission: rule.into(),
            process: None,
        })
        .expect("found");
    for i in 0..NAMES.len() {
        n(&mut nodes, i)
            .set_listen_addrs(vec!["127.0.0.1:9".parse().expect("addr")], None)
            .expect("addrs");
    }
    common::add_room(n(&mut nodes, A), "Salle");
    for (i, role) in [(B, "member"), (C, "coordinator"), (D, "member")] {
        let (a, newcomer) = two(&mut nodes, A, i);
        invite(a, newcomer, false, role).expect("invite");
        let group: Vec<usize> = [A, B, C, D].into_iter().filter(|&k| k <= i).collect();
        for _ in 0..3 {
            settle(&mut nodes, &group);
            let device = n(&mut nodes, i).device();
            if n(&mut nodes, A).is_member_device(&device) {
                break;
            }
            for &k in &group {
                if k != i && k != A {
                    let _ = n(&mut nodes, k).execute(Request::MemberApprove {
                        org: ORGS[i].into(),
                    });
                }
            }
        }
        settle(&mut nodes, &group);
        let device = n(&mut nodes, i).device();
        assert!(
            n(&mut nodes, A).is_member_device(&device),
            "{} not admitted under {rule}",
            ORGS[i]
        );
    }
    let (b, b2) = two(&mut nodes, B, B2);
    assert_eq!(invite(b, b2, true, "member"), Ok(true), "second device");
    settle(&mut nodes, &[A, B, C, D, B2]);
    // The outsider learns the log and the documents, but is never admitted.
    let (a, x) = two(&mut nodes, A, X);
    let ops = a.ops_for(&[]);
    x.receive_ops(&ops).expect("outsider ops");
    common::push(a, x);
    let members = n(&mut nodes, A)
        .execute(Request::MemberList)
        .expect("list")
        .json;
    assert_eq!(members.as_array().map(Vec::len), Some(4), "{members}");
    for i in [B, C, D, B2] {
        assert_eq!(
            n(&mut nodes, i)
                .execute(Request::MemberList)
                .expect("list")
                .json,
            members
        );
    }
}

/// The seeded source of every choice a schedule makes.
struct Dice(Pcg64);

impl Dice {
    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
}

/// Something on its way from one node to another: a message of their
/// session `epoch`, or (`None`) the end of that connection, which the
/// receiver learns once what the sender had queued is in.
struct Delivery {
    from: usize,
    to: usize,
    epoch: u64,
    msg: Option<Msg>,
}

/// One side of a connection: node i's session with node j.
struct Link {
    /// Which connection (both sides share it): a message of an older one
    /// is not delivered.
    epoch: u64,
    session: Session,
}

/// A short name for a message, for the trace.
fn label(msg: &Msg) -> String {
    let short = |h: &[u8; 32]| format!("{:02x}{:02x}", h[0], h[1]);
    match msg {
        Msg::Hello { .. } => "Hello".into(),
        Msg::Ops(ops) => format!("Ops({})", ops.len()),
        Msg::Docs(bundle) => format!("Docs({})", bundle.doc.name()),
        Msg::WantBlobs(files) => format!("WantBlobs({})", files.len()),
        Msg::BlobParts(parts) => {
            let parts: Vec<String> = parts
                .iter()
                .map(|p| format!("{}@{}", short(&p.hash), p.offset))
                .collect();
            format!("BlobParts({})", parts.join(" "))
        }
        Msg::NoBlob(hash) => format!("NoBlob({})", short(hash)),
        Msg::Synced => "Synced".into(),
        Msg::Ack => "Ack".into(),
        Msg::Have { doc, held } => format!("Have({}, {})", doc.name(), held.len()),
        Msg::Want { doc, .. } => format!("Want({})", doc.name()),
        Msg::Equivocation(proof) => format!("Equivocation({})", proof.doc.name()),
    }
}

/// Something a node acknowledged, as a user would look for it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Line(String),
    Value(String),
    Booking(String),
    Cancel(String),
    Op(String),
    /// A library entry, by id.
    File(String),
}

#[derive(Clone, Debug)]
struct Ack {
    node: usize,
    token: Token,
    /// Written while the node itself knew its device was removed.
    after_removal: bool,
    /// Written after the backup its node was restored from, and held by no
    /// other node at the restore: gone with the disk it was on.
    lost_with_disk: bool,
    /// Written after the backup its node was restored from, and held by
    /// these other nodes at the restore: it must come back through the
    /// sessions, if one of them is still a member at the end (and was not
    /// restored itself since).
    holders: Vec<usize>,
}

impl Ack {
    /// Whether its node's restore took it away, for the time being.
    fn restored_away(&self) -> bool {
        self.lost_with_disk || !self.holders.is_empty()
    }
}

fn charter_of(node: &mut Node) -> String {
    node.execute(Request::CharterShow).expect("charter").json["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// What a user sees on one node.
#[derive(Debug, PartialEq)]
struct Seen {
    lines: BTreeSet<String>,
    charter: String,
    values: BTreeSet<String>,
    bookings: BTreeMap<String, String>,
    bookings_json: Value,
    ops: BTreeSet<String>,
    members: Value,
    log: Value,
    /// Library entries' ids.
    files: BTreeSet<String>,
}

impl Seen {
    fn of(node: &mut Node) -> Self {
        let mut get = |r: Request| node.execute(r).expect("read").json;
        let charter = get(Request::CharterShow)["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let values = get(Request::ValuesList)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        let bookings_json = get(Request::Bookings {
            resource: None,
            org: None,
            from: None,
            to: None,
        });
        let bookings = bookings_json
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                (
                    b["id"].as_str().unwrap_or_default().to_owned(),
                    b["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let log = get(Request::MemberLog);
        let ops = log
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["id"].as_str().map(str::to_owned))
            .collect();
        let files = get(Request::LibraryList {
            kind: None,
            tag: None,
            search: None,
        })
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
        Self {
            lines: charter.lines().map(str::to_owned).collect(),
            charter,
            values,
            bookings,
            bookings_json,
            ops,
            members: get(Request::MemberList),
            log,
            files,
        }
    }

    fn has(&self, token: &Token) -> bool {
        match token {
            Token::Line(s) => self.lines.contains(s),
            Token::Value(s) => self.values.contains(s),
            Token::Booking(id) => self.bookings.contains_key(id),
            Token::Cancel(id) => self.bookings.get(id).is_some_and(|s| s == "cancelled"),
            Token::Op(id) => self.ops.contains(id),
            Token::File(id) => self.files.contains(id),
        }
    }
}

/// How many things happened, over all schedules.
#[derive(Default, Debug)]
struct Stats {
    delivered: u64,
    lost: u64,
    duplicated: u64,
    restarts: u64,
    /// Nodes started from an older backup of their home.
    restores: u64,
    /// Acknowledged writes held by no other node when their node was
    /// restored from an older backup.
    lost_with_disk: u64,
    /// Acknowledged writes newer than the backup their node was restored
    /// from, held by another node: they came back.
    came_back: u64,
    cuts: u64,
    acks: u64,
    refused_bundles: u64,
    refused_ops: u64,
    outsider_refused: u64,
    removed_refused: u64,
    final_rounds: u64,
    /// Sessions ended on another refusal (a stranger, another alliance).
    refused_other: u64,
    /// Sessions ended because the peer is no longer a member.
    cut_off: u64,
    /// Sessions ended on a peer over its budgets (duplicated messages).
    throttled: u64,
    files: u64,
    file_parts: u64,
    no_blob: u64,
    wants: u64,
    ticks: u64,
    /// Times virtual time jumped to the next tick while a question waited.
    waits: u64,
    silences: u64,
    quiet: u64,
    /// `Want`s a silent node left unanswered.
    unanswered: u64,
    /// Sessions that stopped being the only one asked about a document,
    /// before the final phase.
    patience_ran_out: u64,
    /// Nodes whose audit names an equivocation at the end.
    equivocations_seen: u64,
}

impl Stats {
    fn add(&mut self, s: &Stats) {
        let Stats {
            delivered,
            lost,
            duplicated,
            restarts,
            restores,
            lost_with_disk,
            came_back,
            cuts,
            acks,
            refused_bundles,
            refused_ops,
            outsider_refused,
            removed_refused,
            final_rounds,
            refused_other,
            cut_off,
            throttled,
            files,
            file_parts,
            no_blob,
            wants,
            ticks,
            waits,
            silences,
            quiet,
            unanswered,
            patience_ran_out,
            equivocations_seen,
        } = s;
        self.delivered += delivered;
        self.lost += lost;
        self.duplicated += duplicated;
        self.restarts += restarts;
        self.restores += restores;
        self.lost_with_disk += lost_with_disk;
        self.came_back += came_back;
        self.cuts += cuts;
        self.acks += acks;
        self.refused_bundles += refused_bundles;
        self.refused_ops += refused_ops;
        self.outsider_refused += outsider_refused;
        self.removed_refused += removed_refused;
        self.final_rounds += final_rounds;
        self.refused_other += refused_other;
        self.cut_off += cut_off;
        self.throttled += throttled;
        self.files += files;
        self.file_parts += file_parts;
        self.no_blob += no_blob;
        self.wants += wants;
        self.ticks += ticks;
        self.waits += waits;
        self.silences += silences;
        self.quiet += quiet;
        self.unanswered += unanswered;
        self.patience_ran_out += patience_ran_out;
        self.equivocations_seen += equivocations_seen;
    }
}

/// Which message a session is handling, to count why it ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ops,
    Docs,
}

struct Sim {
    seed: u64,
    rng: Dice,
    /// Virtual time as the nodes read it (`t`).
    clock: Arc<AtomicU64>,
    dir: tempfile::TempDir,
    nodes: Vec<Option<Node>>,
    devices: Vec<DeviceId>,
    /// Nodes taking part in the network.
    joined: BTreeSet<usize>,
    /// Devices that were members at some point.
    ever_member: BTreeSet<DeviceId>,
    /// Virtual time, in milliseconds.
    t: u64,
    /// When every session next hears `Tick`.
    next_tick: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Delivery>,
    /// (i, j) → node i's session with node j.
    links: BTreeMap<(usize, usize), Link>,
    /// Nodes whose sessions must hear `NodeChanged`.
    pending: BTreeSet<usize>,
    /// The message being handled, if it carries data.
    handling: Option<Kind>,
    next_epoch: u64,
    cut: BTreeSet<(usize, usize)>,
    /// Pairs that do not connect before the time given (a throttled peer).
    throttled: BTreeMap<(usize, usize), u64>,
    lossy: bool,
    /// A member node that announces but never answers a `Want`.
    silent: Option<usize>,
    /// A node that writes nothing in the random schedule for now.
    no_writes: Option<usize>,
    /// When the last `Want` was sent.
    last_want: Option<u64>,
    /// Library entries added: id → the file's hash.
    files: BTreeMap<String, [u8; 32]>,
    /// Files' bytes added so far, some of them added again.
    file_bytes: Vec<Vec<u8>>,
    acks: Vec<Ack>,
    /// Node → how many acknowledgements there were when its stopped home
    /// was backed up (the backup is `<name>-backup` beside the homes).
    backups: BTreeMap<usize, usize>,
    counter: u64,
    outsider_ops: Vec<String>,
    outsider_lines: Vec<String>,
    bookings: Vec<(usize, String)>,
    removals: usize,
    /// Removed nodes that, knowing it, got changes into a member that did
    /// not know yet (what they wrote may then spread, through that member).
    leaked: BTreeSet<usize>,
    trace: Vec<String>,
    stats: Stats,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = Dice(Pcg64::seed_from_u64(seed));
        let rule = rng.below(RULES.len());
        let dir = scratch();
        copy_dir(template(rule), dir.path());
        let clock = Arc::new(AtomicU64::new(0));
        let nodes: Vec<Option<Node>> = (0..NAMES.len())
            .map(|i| Some(open(dir.path(), i, SimEnv::boxed(&clock, rng.0.next_u64()))))
            .collect();
        let devices = nodes
            .iter()
            .map(|n| n.as_ref().expect("node").device())
            .collect();
        let joined: BTreeSet<usize> = [A, B, C, D, B2].into();
        let mut sim = Self {
            seed,
            rng,
            clock,
            dir,
            nodes,
            devices,
            ever_member: BTreeSet::new(),
            joined,
            t: 0,
            next_tick: TICK_MS,
            seq: 0,
            queue: BTreeMap::new(),
            links: BTreeMap::new(),
            pending: BTreeSet::new(),
            handling: None,
            next_epoch: 1,
            cut: BTreeSet::new(),
            throttled: BTreeMap::new(),
            lossy: true,
            silent: None,
            no_writes: None,
            last_want: None,
            files: BTreeMap::new(),
            file_bytes: Vec::new(),
            acks: Vec::new(),
            backups: BTreeMap::new(),
            counter: 0,
            outsider_ops: Vec::new(),
            outsider_lines: Vec::new(),
            bookings: Vec::new(),
            removals: 0,
            leaked: BTreeSet::new(),
            trace: vec![format!("rule {}", RULES[rule])],
            stats: Stats::default(),
        };
        sim.note_members();
        sim
    }

    fn up(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    fn node(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("running node")
    }

    fn trace(&mut self, line: String) {
        self.trace.push(format!("t={} {line}", self.t));
    }

    /// Whether node `i` takes device `of` for an active member's.
    fn knows_member(&self, i: usize, of: usize) -> bool {
        self.nodes[i]
            .as_ref()
            .is_some_and(|n| n.is_member_device(&self.devices[of]))
    }

    fn note_members(&mut self) {
        for i in 0..self.nodes.len() {
            if let Some(n) = &self.nodes[i] {
                for d in &self.devices {
                    if n.is_member_device(d) {
                        self.ever_member.insert(*d);
                    }
                }
            }
        }
    }

    /// Node `i` knows its own device was removed.
    fn knows_removed(&self, i: usize) -> bool {
        self.ever_member.contains(&self.devices[i]) && self.up(i) && !self.knows_member(i, i)
    }

    /// Queues `msg` from `from` to `to` on connection `epoch`, with the
    /// schedule's loss, duplication and delay.
    fn send(&mut self, from: usize, to: usize, epoch: u64, msg: Msg) {
        let copies = if self.lossy {
            match self.rng.below(100) {
                0..5 => {
                    self.stats.lost += 1;
                    0
                }
                5..10 => {
                    self.stats.duplicated += 1;
                    2
                }
                _ => 1,
            }
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.lossy {
                1 + self.rng.below(29) as u64
            } else {
                1
            };
            self.seq += 1;
            self.queue.insert(
                (self.t + delay, self.seq),
                Delivery {
                    from,
                    to,
                    epoch,
                    msg: Some(msg.clone()),
                },
            );
        }
    }

    fn linked(&self, i: usize, j: usize) -> bool {
        !self.cut.contains(&(i.min(j), i.max(j)))
    }

    /// Hands `event` to node `i`'s session with `j` at the virtual time, and
    /// carries out what it says, as `entraide-net`'s driver does: its
    /// messages go out (all but a silent node's answers to a `Want`), the
    /// other sessions of the node hear that it changed, more file parts are
    /// asked for while there are more, and an ended session closes the
    /// connection.
    fn step(&mut self, i: usize, j: usize, event: Event) {
        let mut event = Some(event);
        while let Some(ev) = event.take() {
            let answering = matches!(ev, Event::Received(Msg::Want { .. }));
            let ticking = matches!(ev, Event::Tick);
            let (Some(link), Some(node)) = (self.links.get_mut(&(i, j)), self.nodes[i].as_mut())
            else {
                return;
            };
            let epoch = link.epoch;
            let Output {
                send,
                end,
                node_changed,
                members_changed,
                addrs: _,
                more,
            } = link.session.handle(node, ev, self.t);
            for msg in send {
                let answer = matches!(&msg, Msg::Docs(_))
                    || matches!(&msg, Msg::Have { held, .. } if held.is_empty());
                if answering && answer && self.silent == Some(i) {
                    self.stats.unanswered += 1;
                    self.trace(format!(
                        "{} (silent) does not answer {}",
                        NAMES[i], NAMES[j]
                    ));
                    continue;
                }
                if matches!(msg, Msg::Want { .. }) {
                    self.last_want = Some(self.t);
                    self.stats.wants += 1;
                }
                self.send(i, j, epoch, msg);
            }
            if ticking && node_changed && self.lossy {
                self.stats.patience_ran_out += 1;
                self.trace(format!(
                    "{} no longer waits on {} alone",
                    NAMES[i], NAMES[j]
                ));
            }
            if node_changed || members_changed {
                self.changed(i);
            }
            if let Some(end) = end {
                self.ended(i, j, epoch, end);
                return;
            }
            if more {
                event = Some(Event::Drained);
            }
        }
    }

    /// Node `i`'s session with `j` ended (it released what it was asking
    /// itself): the connection closes once what `i` queued went out, and
    /// `j`'s session hears `Closed` then.
    fn ended(&mut self, i: usize, j: usize, epoch: u64, end: End) {
        self.trace(format!(
            "{} ends its session with {}: {end:?}",
            NAMES[i], NAMES[j]
        ));
        match &end {
            End::Done => {}
            End::Refused(_) if self.handling == Some(Kind::Ops) => self.stats.refused_ops += 1,
            End::Refused(_) if self.handling == Some(Kind::Docs) => self.stats.refused_bundles += 1,
            End::Refused(_) => self.stats.refused_other += 1,
            End::NotMember => self.stats.cut_off += 1,
            End::Throttled(_) => {
                self.stats.throttled += 1;
                self.throttled
                    .insert((i.min(j), i.max(j)), self.t + THROTTLE_MS);
            }
            End::Node(e) => panic!("{}'s store failed: {e}", NAMES[i]),
        }
        self.links.remove(&(i, j));
        let last = self
            .queue
            .iter()
            .filter(|(_, d)| d.from == i && d.to == j && d.epoch == epoch)
            .map(|(&(at, _), _)| at)
            .max()
            .unwrap_or(0);
        self.seq += 1;
        self.queue.insert(
            (last.max(self.t + 1), self.seq),
            Delivery {
                from: i,
                to: j,
                epoch,
                msg: None,
            },
        );
    }

    /// Node `i`'s session with `j` hears that the connection is gone.
    fn close(&mut self, i: usize, j: usize) {
        self.step(i, j, Event::Closed);
        self.links.remove(&(i, j));
    }

    /// The connection between `i` and `j` is gone at once (a cut, a stop).
    fn disconnect(&mut self, i: usize, j: usize) {
        self.close(i, j);
        self.close(j, i);
    }

    /// Opens a session between `i` and `j` where the network and both
    /// member gates let it (and neither throttles the other).
    fn connect(&mut self, i: usize, j: usize) {
        if i == j
            || self.links.contains_key(&(i, j))
            || self.links.contains_key(&(j, i))
            || !self.up(i)
            || !self.up(j)
            || !self.linked(i, j)
            || !self.knows_member(i, j)
            || !self.knows_member(j, i)
            || self
                .throttled
                .get(&(i.min(j), i.max(j)))
                .is_some_and(|&until| self.t < until)
        {
            return;
        }
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        for (a, b) in [(i, j), (j, i)] {
            self.links.insert(
                (a, b),
                Link {
                    epoch,
                    session: Session::new(self.devices[b], Mode::Live),
                },
            );
        }
        for (a, b) in [(i, j), (j, i)] {
            self.step(a, b, Event::Start);
        }
    }

    fn connect_all(&mut self) {
        let joined: Vec<usize> = self.joined.iter().copied().collect();
        for &i in &joined {
            for &j in &joined {
                if i < j {
                    self.connect(i, j);
                }
            }
        }
    }

    /// Node `i` changed (a write, a session's output): each of its sessions
    /// hears it once the current event is handled.
    fn changed(&mut self, i: usize) {
        self.note_members();
        self.pending.insert(i);
    }

    /// Tells the sessions of every node that changed, until none did: a
    /// queue, not recursive calls, since each session may change its node
    /// again.
    fn flush_changes(&mut self) {
        while let Some(i) = self.pending.pop_first() {
            self.note_members();
            if !self.up(i) {
                continue;
            }
            let peers: Vec<usize> = self
                .links
                .keys()
                .filter(|(a, _)| *a == i)
                .map(|(_, b)| *b)
                .collect();
            for j in peers {
                self.step(i, j, Event::NodeChanged);
            }
        }
    }

    /// Virtual time moves to `to`; every session hears each tick on the way.
    fn advance(&mut self, to: u64) {
        while self.next_tick <= to {
            self.t = self.t.max(self.next_tick);
            self.clock.store(self.t, Ordering::Relaxed);
            self.next_tick += TICK_MS;
            self.stats.ticks += 1;
            let all: Vec<(usize, usize)> = self.links.keys().copied().collect();
            for (i, j) in all {
                self.step(i, j, Event::Tick);
            }
            self.flush_changes();
        }
        self.t = self.t.max(to);
        self.clock.store(self.t, Ordering::Relaxed);
    }

    /// The time and randomness of a node opened now.
    fn env(&mut self) -> Box<dyn Env> {
        SimEnv::boxed(&self.clock, self.rng.0.next_u64())
    }

    /// Whether a question may still be waiting for its answer within the
    /// patience: then, with nothing on the way, time passes.
    fn waiting(&self) -> bool {
        self.last_want
            .is_some_and(|at| self.t < at + WANT_PATIENCE_MS + TICK_MS)
            && self.links.values().any(|l| l.session.is_asking())
    }

    /// With nothing on the way and a question waiting, time passes to the
    /// next tick.
    fn wait(&mut self) -> bool {
        if !self.queue.is_empty() || !self.waiting() {
            return false;
        }
        self.stats.waits += 1;
        self.advance(self.next_tick);
        true
    }

    fn deliver(&mut self) -> bool {
        let Some((&(at, seq), _)) = self.queue.iter().next() else {
            return false;
        };
        let d = self.queue.remove(&(at, seq)).expect("queued");
        self.advance(at);
        let (to, from) = (d.to, d.from);
        let current = self.links.get(&(to, from)).map(|l| l.epoch) == Some(d.epoch);
        if !current || !self.linked(from, to) || !self.up(to) {
            return true;
        }
        let Some(msg) = d.msg else {
            self.trace(format!(
                "{}'s connection with {} closes",
                NAMES[to], NAMES[from]
            ));
            self.close(to, from);
            self.flush_changes();
            return true;
        };
        self.stats.delivered += 1;
        self.trace(format!("{} → {} {}", NAMES[from], NAMES[to], label(&msg)));
        self.handling = match &msg {
            Msg::Ops(_) => Some(Kind::Ops),
            Msg::Docs(_) => Some(Kind::Docs),
            _ => None,
        };
        match &msg {
            Msg::BlobParts(parts) => self.stats.file_parts += parts.len() as u64,
            Msg::NoBlob(_) => self.stats.no_blob += 1,
            _ => {}
        }
        let before = match &msg {
            Msg::Docs(bundle) => Some((bundle.doc, self.node(to).doc_version_vector(bundle.doc))),
            _ => None,
        };
        self.step(to, from, Event::Received(msg));
        // Messages are delivered one at a time: none is waiting behind it.
        self.step(to, from, Event::Idle);
        self.handling = None;
        if let Some((doc, before)) = before
            && self.up(to)
        {
            let after = self.node(to).doc_version_vector(doc);
            let new: u64 = after
                .iter()
                .map(|(a, s)| s.saturating_sub(before.get(a).copied().unwrap_or(0)))
                .sum();
            if new > 0 {
                self.trace(format!(
                    "{} takes {new} {} changes from {}",
                    NAMES[to],
                    doc.name(),
                    NAMES[from]
                ));
                if self.knows_removed(from) {
                    self.leaked.insert(from);
                }
            }
        }
        self.flush_changes();
        true
    }

    fn ack(&mut self, i: usize, token: Token) {
        let after_removal = self.knows_removed(i);
        self.trace(format!(
            "{} acknowledges {token:?}{}",
            NAMES[i],
            if after_removal {
                " after its removal"
            } else {
                ""
            }
        ));
        self.stats.acks += 1;
        self.acks.push(Ack {
            node: i,
            token,
            after_removal,
            lost_with_disk: false,
            holders: Vec::new(),
        });
    }

    fn stop(&mut self, i: usize) {
        let peers: BTreeSet<usize> = self
            .links
            .keys()
            .filter_map(|&(a, b)| {
                if a == i {
                    Some(b)
                } else {
                    (b == i).then_some(a)
                }
            })
            .collect();
        for j in peers {
            self.disconnect(i, j);
        }
        self.flush_changes();
        self.nodes[i] = None;
        self.stats.restarts += 1;
        self.trace(format!("{} stops", NAMES[i]));
    }

    /// Node `i`'s organisation stops it, copies its home (`cp -a`) and
    /// starts it again.
    fn back_up(&mut self, i: usize) {
        let was_up = self.up(i);
        if was_up {
            self.stop(i);
        }
        let backup = self.backup_dir(i);
        if backup.exists() {
            std::fs::remove_dir_all(&backup).expect("remove the old backup");
        }
        copy_dir(&self.dir.path().join(NAMES[i]), &backup);
        self.backups.insert(i, self.acks.len());
        self.trace(format!("{}'s home is backed up", NAMES[i]));
        if was_up {
            self.start(i);
        }
    }

    /// Node `i` is stopped, and started from its backup.
    fn start_from_backup(&mut self, i: usize) {
        if self.up(i) {
            self.stop(i);
        }
        self.restore(i);
        self.start(i);
    }

    fn backup_dir(&self, i: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("{}-backup", NAMES[i]))
    }

    /// Opens node `i` again; everything it acknowledged is there (but
    /// what a restore from a backup took away).
    fn start(&mut self, i: usize) {
        let env = self.env();
        self.nodes[i] = Some(open(self.dir.path(), i, env));
        self.trace(format!("{} starts again", NAMES[i]));
        let seen = Seen::of(self.node(i));
        let node = self.nodes[i].as_ref().expect("started");
        for ack in self
            .acks
            .iter()
            .filter(|a| a.node == i && !a.restored_away())
        {
            assert!(
                seen.has(&ack.token),
                "{} lost {:?} across a restart",
                NAMES[i],
                ack.token
            );
            if let Token::File(id) = &ack.token {
                assert!(
                    node.blob(&self.files[id]).expect("blob").is_some(),
                    "{} lost the bytes of its file {id} across a restart",
                    NAMES[i]
                );
            }
        }
    }

    /// Puts node `i`'s backup in place of its (stopped) home: a laptop
    /// restored from last week's backup. What it acknowledged since then
    /// and any other node holds must come back through the sessions; what
    /// no other node holds is gone with the disk.
    fn restore(&mut self, i: usize) {
        let since = self.backups.remove(&i).expect("a backup");
        let home = self.dir.path().join(NAMES[i]);
        std::fs::remove_dir_all(&home).expect("remove the home");
        std::fs::rename(self.backup_dir(i), &home).expect("restore the backup");
        self.stats.restores += 1;
        self.trace(format!("{}'s home is restored from its backup", NAMES[i]));
        // What it held of others' writes may now be held by nobody.
        for ack in &mut self.acks {
            ack.holders.retain(|&h| h != i);
        }
        // What every other node holds now (a stopped one opened for a look).
        let mut envs: Vec<Box<dyn Env>> = (0..NAMES.len()).map(|_| self.env()).collect();
        let others: Vec<(usize, Seen, Vec<[u8; 32]>)> = (0..NAMES.len())
            .filter(|&j| j != i && self.joined.contains(&j))
            .map(|j| {
                let mut look = None;
                let node = match self.nodes[j].as_mut() {
                    Some(node) => node,
                    None => look.insert(open(self.dir.path(), j, envs.pop().expect("env"))),
                };
                let blobs: Vec<[u8; 32]> = self
                    .files
                    .values()
                    .copied()
                    .filter(|h| node.blob(h).expect("blob").is_some())
                    .collect();
                (j, Seen::of(node), blobs)
            })
            .collect();
        for k in since..self.acks.len() {
            if self.acks[k].node != i {
                continue;
            }
            let token = self.acks[k].token.clone();
            let holders: Vec<usize> = others
                .iter()
                .filter(|(_, seen, blobs)| match &token {
                    Token::File(id) => seen.has(&token) && blobs.contains(&self.files[id]),
                    other => seen.has(other),
                })
                .map(|(j, _, _)| *j)
                .collect();
            let ack = &mut self.acks[k];
            if !holders.is_empty() {
                ack.holders = holders;
                self.stats.came_back += 1;
            } else {
                ack.lost_with_disk = true;
                self.stats.lost_with_disk += 1;
            }
        }
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.below(from.len())])
    }

    fn act(&mut self) {
        let running: Vec<usize> = self
            .joined
            .iter()
            .copied()
            .filter(|&i| self.up(i))
            .collect();
        let roll = self.rng.below(100);
        if roll < 3 {
            // A home is restored from its backup, if it wrote since; or
            // else backed up.
            let all: Vec<usize> = self.joined.iter().copied().collect();
            let restorable: Vec<usize> = all
                .iter()
                .copied()
                .filter(|i| {
                    self.backups
                        .get(i)
                        .is_some_and(|&at| self.acks[at..].iter().any(|a| a.node == *i))
                })
                .collect();
            if let Some(i) = self.pick(&restorable) {
                self.start_from_backup(i);
            } else if let Some(i) = self.pick(&all) {
                self.back_up(i);
            }
            return;
        }
        if roll < 8 {
            // A node stops, or starts again.
            let all: Vec<usize> = self.joined.iter().copied().collect();
            if let Some(i) = self.pick(&all) {
                if self.up(i) {
                    self.stop(i)
                } else {
                    self.start(i)
                }
            }
            return;
        }
        if roll < 16 {
            // A link is cut or heals.
            let all: Vec<usize> = self.joined.iter().copied().collect();
            let (Some(i), Some(j)) = (self.pick(&all), self.pick(&all)) else {
                return;
            };
            if i == j {
                return;
            }
            let link = (i.min(j), i.max(j));
            if !self.cut.remove(&link) {
                self.cut.insert(link);
                self.stats.cuts += 1;
                self.disconnect(i, j);
                self.trace(format!("link {}-{} cut", NAMES[i], NAMES[j]));
            }
            return;
        }
        if roll < 30 {
            self.connect_all();
            return;
        }
        if roll < 33 {
            self.outsider();
            return;
        }
        if roll < 36 {
            self.removed_member_pushes();
            return;
        }
        if roll < 38 {
            // A member's node falls silent, or speaks again.
            if let Some(i) = self.silent.take() {
                self.trace(format!("{} answers again", NAMES[i]));
                return;
            }
            let members: Vec<usize> = running
                .iter()
                .copied()
                .filter(|&i| self.knows_member(i, i))
                .collect();
            if let Some(i) = self.pick(&members) {
                self.silent = Some(i);
                self.stats.silences += 1;
                self.trace(format!("{} falls silent", NAMES[i]));
            }
            return;
        }
        if roll < 40 {
            self.quiet();
            return;
        }
        let writers: Vec<usize> = running
            .iter()
            .copied()
            .filter(|&i| Some(i) != self.no_writes)
            .collect();
        let Some(i) = self.pick(&writers) else { return };
        self.counter += 1;
        let n = self.counter;
        let seed = self.seed;
        let result = match roll {
            40..44 => {
                // A small file, now and then one of two parts, or the same
                // bytes as an earlier one.
                let bytes = match self.file_bytes.len() {
                    k if k > 0 && self.rng.below(5) == 0 => {
                        self.file_bytes[self.rng.below(k)].clone()
                    }
                    _ if self.rng.below(10) == 0 => {
                        let block: Vec<u8> = (0..64).map(|_| self.rng.below(256) as u8).collect();
                        let len = FILE_PART + 1 + self.rng.below(1000);
                        block.iter().cycle().take(len).copied().collect()
                    }
                    _ => {
                        let len = 1 + self.rng.below(3000);
                        (0..len).map(|_| self.rng.below(256) as u8).collect()
                    }
                };
                self.file_bytes.push(bytes.clone());
                let hash = *blake3::hash(&bytes).as_bytes();
                self.node(i)
                    .execute(Request::LibraryAdd {
                        file_name: format!("f{n}.txt"),
                        bytes,
                        title: format!("F{seed}-{n}"),
                        kind: "procedure".into(),
                        tags: Vec::new(),
                        group: None,
                    })
                    .map(|r| {
                        let id = r.json["id"].as_str().unwrap_or_default().to_owned();
                        self.files.insert(id.clone(), hash);
                        self.stats.files += 1;
                        Some(Token::File(id))
                    })
            }
            44..52 => {
                let token = format!("L{seed}-{n}");
                let mut text = charter_of(self.node(i));
                text.push_str(&token);
                text.push('\n');
                self.node(i)
                    .execute(Request::CharterSet { text })
                    .map(|_| Some(Token::Line(token)))
            }
            52..60 => {
                let name = format!("V{seed}-{n}");
                self.node(i)
                    .execute(Request::ValuesAdd {
                        name: name.clone(),
                        description: String::new(),
                    })
                    .map(|_| Some(Token::Value(name)))
            }
            60..63 => {
                let values: Vec<String> = self
                    .node(i)
                    .execute(Request::ValuesList)
                    .expect("values")
                    .json
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["name"].as_str().map(str::to_owned))
                    .collect();
                let Some(value) = values.get(self.rng.below(values.len().max(1))).cloned() else {
                    return;
                };
                self.node(i)
                    .execute(Request::ValuesEndorse { value })
                    .map(|_| None)
            }
            63..78 => {
                let k = self.rng.below(30) as u32;
                let (day, hour) = (1 + k / 6, 8 + 2 * (k % 6));
                self.node(i)
                    .execute(Request::Book {
                        resource: "Salle".into(),
                        from: format!("2026-06-{day:02}T{hour:02}:00"),
                        to: format!("2026-06-{day:02}T{:02}:00", hour + 2),
                        purpose: format!("B{seed}-{n}"),
                        repeat: None,
                        count: None,
                        until: None,
                    })
                    .map(|r| {
                        let id = r.json["ids"][0].as_str().unwrap_or_default().to_owned();
                        self.bookings.push((i, id.clone()));
                        Some(Token::Booking(id))
                    })
            }
            78..82 => {
                let org = ORGS[i];
                let mine: Vec<String> = self
                    .bookings
                    .iter()
                    .filter(|(k, _)| ORGS[*k] == org)
                    .map(|(_, id)| id.clone())
                    .collect();
                let Some(id) = mine.get(self.rng.below(mine.len().max(1))).cloned() else {
                    return;
                };
                self.node(i)
                    .execute(Request::Cancel {
                        booking: id.clone(),
                        series: false,
                    })
                    .map(|_| Some(Token::Cancel(id)))
            }
            82..88 => {
                let org = ORGS[self.rng.below(ORGS.len())];
                self.node(i)
                    .execute(Request::MemberApprove { org: org.into() })
                    .map(|r| {
                        Some(Token::Op(
                            r.json["id"].as_str().unwrap_or_default().to_owned(),
                        ))
                    })
            }
            88..91 => {
                if self.removals >= 2 {
                    return;
                }
                let target = ORGS[[A, B, C, D][self.rng.below(4)]];
                let r = self.node(i).execute(Request::MemberRemove {
                    org: target.into(),
                    reason: "left".into(),
                });
                if r.is_ok() {
                    self.removals += 1;
                }
                r.map(|r| {
                    Some(Token::Op(
                        r.json["id"].as_str().unwrap_or_default().to_owned(),
                    ))
                })
            }
            91..93 => {
                let org = ORGS[self.rng.below(ORGS.len())];
                self.node(i)
                    .execute(Request::MemberBlock {
                        org: org.into(),
                        reason: "not yet".into(),
                    })
                    .map(|r| {
                        Some(Token::Op(
                            r.json["id"].as_str().unwrap_or_default().to_owned(),
                        ))
                    })
            }
            93..96 => {
                let Some(&newcomer) = [E, F].iter().find(|k| !self.joined.contains(k)) else {
                    return;
                };
                let (inviter, new) = two(&mut self.nodes, i, newcomer);
                match invite(inviter, new, false, "member") {
                    Ok(admitted) => {
                        self.joined.insert(newcomer);
                        self.trace(format!(
                            "{} invites {} (admitted: {admitted})",
                            NAMES[i], NAMES[newcomer]
                        ));
                        self.changed(i);
                    }
                    Err(e) => self.trace(format!("{} cannot invite: {e}", NAMES[i])),
                }
                return;
            }
            _ => {
                if i != B && i != B2 {
                    return;
                }
                let other = self.devices[if i == B { B2 } else { B }].to_hex();
                self.node(i)
                    .execute(Request::DeviceRemove { device: other })
                    .map(|r| {
                        Some(Token::Op(
                            r.json["id"].as_str().unwrap_or_default().to_owned(),
                        ))
                    })
            }
        };
        match result {
            Ok(token) => {
                if let Some(token) = token {
                    self.ack(i, token);
                }
                self.changed(i);
            }
            Err(e) => self.trace(format!("{} refuses a command: {e}", NAMES[i])),
        }
    }

    /// The outsider writes, and offers its changes and a forged operation to
    /// a member: its changes are refused, its operation never counts.
    fn outsider(&mut self) {
        let running: Vec<usize> = self
            .joined
            .iter()
            .copied()
            .filter(|&i| self.up(i))
            .collect();
        let Some(j) = self.pick(&running) else { return };
        self.counter += 1;
        let token = format!("X{}-{}", self.seed, self.counter);
        let x = self.node(X);
        let mut text = charter_of(x);
        text.push_str(&token);
        text.push('\n');
        x.execute(Request::CharterSet { text })
            .expect("outsider writes locally");
        self.outsider_lines.push(token);
        let theirs = self.node(j).doc_version_vector(DocKind::Charter);
        let bundle = self
            .node(X)
            .bundle_for(DocKind::Charter, &theirs)
            .expect("outsider bundle");
        let before = self.node(j).doc_version_vector(DocKind::Charter);
        let result = self.node(j).receive_bundle(&bundle);
        assert!(
            result.is_err(),
            "{} accepted the outsider's changes",
            NAMES[j]
        );
        assert_eq!(self.node(j).doc_version_vector(DocKind::Charter), before);
        self.stats.outsider_refused += 1;
        // An operation signed by the outsider's own key: removing the founder.
        let key_bytes =
            std::fs::read(Home::new(self.dir.path().join(NAMES[X])).key_path()).expect("key");
        let key = ed25519_dalek::SigningKey::from_bytes(&key_bytes.try_into().expect("32 bytes"));
        let members = self
            .node(j)
            .execute(Request::MemberList)
            .expect("list")
            .json;
        let founder_org = members.as_array().and_then(|m| {
            m.iter()
                .find(|o| o["org"] == ORGS[A])
                .and_then(|o| o["org_id"].as_str().map(str::to_owned))
        });
        let Some(org_id) = founder_org else { return };
        let parents = self
            .node(j)
            .op_heads()
            .into_iter()
            .map(entraide_membership::OpHash)
            .collect();
        let op = SignedOp::sign(
            Op {
                parents,
                author: self.devices[X],
                time_ms: 0,
                body: OpBody::RemoveOrg {
                    org_id,
                    reason: "takeover".into(),
                    cutoffs: vec![],
                },
            },
            &key,
        );
        self.outsider_ops.push(op.hash().to_hex());
        if self.node(j).receive_ops(&[op.bytes().to_vec()]).is_ok() {
            self.changed(j);
        }
    }

    /// A node that knows its device was removed offers its documents to a
    /// member anyway: whatever it wrote after that is refused by a member
    /// that knows of the removal.
    fn removed_member_pushes(&mut self) {
        // A removed device whose node is up, and a member that knows of it.
        let pairs: Vec<(usize, usize)> = self
            .joined
            .iter()
            .flat_map(|&r| self.joined.iter().map(move |&j| (r, j)))
            .filter(|&(r, j)| {
                r != j
                    && self.up(r)
                    && self.ever_member.contains(&self.devices[r])
                    && self.knows_member(j, j)
                    && !self.knows_member(j, r)
            })
            .collect();
        let Some(&(r, j)) = pairs.get(self.rng.below(pairs.len().max(1))) else {
            return;
        };
        // It hears of its removal (from anyone: operations are not secret),
        // writes anyway, and offers what it holds.
        let heads = self.node(r).op_heads();
        let ops = self.node(j).ops_for(&heads);
        if self.node(r).receive_ops(&ops).is_err() {
            return;
        }
        self.counter += 1;
        let name = format!("R{}-{}", self.seed, self.counter);
        if self
            .node(r)
            .execute(Request::ValuesAdd {
                name: name.clone(),
                description: String::new(),
            })
            .is_ok()
        {
            self.ack(r, Token::Value(name));
        }
        let knows = !self.knows_member(j, r);
        for doc in DocKind::ALL {
            let theirs = self.node(j).doc_version_vector(doc);
            if let Some(bundle) = self.node(r).bundle_for(doc, &theirs)
                && let Ok(received) = self.node(j).receive_bundle(&bundle)
                && received.new_changes > 0
            {
                if !knows {
                    self.leaked.insert(r);
                }
                self.changed(j);
            }
        }
        if knows && !self.leaked.contains(&r) {
            self.stats.removed_refused += 1;
            let seen = Seen::of(self.node(j));
            for ack in self.acks.iter().filter(|a| a.node == r && a.after_removal) {
                assert!(
                    !seen.has(&ack.token),
                    "{} accepted {:?} from removed {}",
                    NAMES[j],
                    ack.token,
                    NAMES[r]
                );
            }
        }
    }

    /// The network falls quiet for longer than a question's patience: what
    /// is on the way arrives (or is lost), and every session hears the ticks
    /// meanwhile. A question a silent node never answers is then asked of
    /// another peer that announced the changes.
    fn quiet(&mut self) {
        self.trace("a quiet while".into());
        self.stats.quiet += 1;
        let until = self.t + WANT_PATIENCE_MS + TICK_MS;
        let mut steps = 0;
        loop {
            while self.deliver() {
                steps += 1;
                assert!(steps < 100_000, "a quiet while does not settle");
            }
            if self.t >= until {
                break;
            }
            self.advance(self.next_tick.min(until));
        }
    }

    /// Every session of every node hears that its connection is gone.
    fn close_all(&mut self) {
        let all: Vec<(usize, usize)> = self.links.keys().copied().collect();
        for (i, j) in all {
            self.close(i, j);
        }
        self.flush_changes();
    }

    /// Silence over, every link up, every node running, no loss: sessions
    /// open again until nothing moves.
    fn heal(&mut self) {
        self.lossy = false;
        self.cut.clear();
        if let Some(i) = self.silent.take() {
            self.trace(format!("{} answers again", NAMES[i]));
        }
        self.trace("the final phase begins".into());
        let all: Vec<usize> = self.joined.iter().copied().collect();
        for &i in &all {
            if !self.up(i) {
                self.start(i);
            }
        }
        let mut last = None;
        for round in 0..12 {
            self.stats.final_rounds += 1;
            // Throttled peers are taken back once their time is over.
            if let Some(&until) = self.throttled.values().max() {
                self.advance(until);
                self.throttled.clear();
            }
            // New connections, as the daemon's dialer makes after a cut.
            self.close_all();
            self.connect_all();
            self.flush_changes();
            let mut steps = 0;
            while self.deliver() || self.wait() {
                steps += 1;
                assert!(steps < 100_000, "the final phase does not settle");
            }
            let now: Vec<_> = all
                .iter()
                .map(|&i| {
                    let node = self.node(i);
                    (node.summary(), node.missing_blobs().expect("missing files"))
                })
                .collect();
            if last.as_ref() == Some(&now) && round > 0 {
                break;
            }
            last = Some(now);
        }
    }

    /// Checks every rule at the end; the members, by the reference node's account.
    fn check(&mut self) -> Vec<usize> {
        let all: Vec<usize> = self.joined.iter().copied().collect();
        // Who the members are: by the account of the node most others count
        // as a member. A removed node that never heard of its removal (every
        // member refuses its connections) may still count itself in.
        let candidates: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| self.knows_member(i, i))
            .collect();
        let mut votes: Vec<(usize, usize)> = candidates
            .iter()
            .map(|&i| {
                (
                    candidates
                        .iter()
                        .filter(|&&j| self.knows_member(j, i))
                        .count(),
                    i,
                )
            })
            .collect();
        votes.sort_by_key(|&(n, i)| (std::cmp::Reverse(n), i));
        let reference = votes.first().map(|&(_, i)| i).expect("no member left");
        let members: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| self.knows_member(reference, i))
            .collect();
        for &i in &all {
            if self.knows_member(i, i) && !members.contains(&i) {
                assert!(
                    self.ever_member.contains(&self.devices[i]),
                    "{} counts itself a member but {} does not know it",
                    NAMES[i],
                    NAMES[reference]
                );
            }
        }
        self.trace(format!(
            "members at the end: {:?}",
            members.iter().map(|&i| NAMES[i]).collect::<Vec<_>>()
        ));
        let seen: Vec<Seen> = members
            .iter()
            .map(|&i| Seen::of(self.nodes[i].as_mut().expect("node")))
            .collect();
        let summaries: Vec<Summary> = members.iter().map(|&i| self.node(i).summary()).collect();
        let mut heads: Vec<Vec<[u8; 32]>> = summaries
            .iter()
            .map(|s| {
                let mut h = s.op_heads.clone();
                h.sort();
                h
            })
            .collect();
        heads.dedup();
        assert_eq!(
            heads.len(),
            1,
            "members hold different membership operations: {:?}",
            seen.iter()
                .zip(&members)
                .map(|(s, &i)| (NAMES[i], s.ops.len()))
                .collect::<Vec<_>>()
        );
        for (k, &i) in members.iter().enumerate().skip(1) {
            let first = NAMES[members[0]];
            assert_eq!(
                summaries[k].docs, summaries[0].docs,
                "{} and {first} hold different changes",
                NAMES[i]
            );
            assert_eq!(
                seen[k].charter, seen[0].charter,
                "{} and {first}: charter",
                NAMES[i]
            );
            assert_eq!(
                seen[k].bookings_json, seen[0].bookings_json,
                "{} and {first}: bookings",
                NAMES[i]
            );
            assert_eq!(
                seen[k].members, seen[0].members,
                "{} and {first}: member list",
                NAMES[i]
            );
            assert_eq!(
                seen[k].log, seen[0].log,
                "{} and {first}: member log",
                NAMES[i]
            );
        }
        // Every member agrees on who is a member.
        for &i in &members {
            for &j in &members {
                assert!(
                    self.knows_member(i, j),
                    "{} does not count {} as a member",
                    NAMES[i],
                    NAMES[j]
                );
            }
        }
        // A write a restore took from its node, and that no node still a
        // member held at the restore, is gone with the disk.
        let active: BTreeSet<usize> = (0..NAMES.len())
            .filter(|&k| self.knows_member(members[0], k))
            .collect();
        let gone = |ack: &Ack| {
            ack.lost_with_disk
                || (!ack.holders.is_empty() && !ack.holders.iter().any(|h| active.contains(h)))
        };
        // Every member holds every file its library names, but a file that
        // only devices no longer active ever held (a removed device's entry
        // taken before its removal was known, its bytes fetched by nobody).
        for &i in &members {
            let missing = self.node(i).missing_blobs().expect("missing files");
            for (hash, _) in missing {
                let acks: Vec<&Ack> = self
                    .acks
                    .iter()
                    .filter(|a| matches!(&a.token, Token::File(id) if self.files[id] == hash))
                    .collect();
                // Its bytes were only ever on a disk that a restore erased
                // (its entry may have gone out without them).
                if acks.iter().any(|a| gone(a))
                    && !acks.iter().any(|a| !gone(a) && active.contains(&a.node))
                {
                    continue;
                }
                let authors: Vec<usize> = acks.iter().map(|a| a.node).collect();
                let held = members.iter().any(|&k| {
                    self.nodes[k]
                        .as_ref()
                        .is_some_and(|n| n.blob(&hash).expect("blob").is_some())
                });
                let active = authors.iter().any(|&k| self.knows_member(members[0], k));
                assert!(
                    !authors.is_empty() && !held && !active,
                    "{} lacks the library file {} (added by {:?}, held by a member: {held})",
                    NAMES[i],
                    blake3::Hash::from_bytes(hash).to_hex(),
                    authors.iter().map(|&k| NAMES[k]).collect::<Vec<_>>()
                );
            }
        }
        let view = &seen[0];
        for ack in self.acks.iter().filter(|a| !gone(a)) {
            let device_active = self.knows_member(members[0], ack.node);
            // The same token written first by a member (a cancellation made
            // by another device of the organisation before the removal, and
            // made again by the removed device, not yet knowing of it) is
            // there because of the member's write.
            let also_by_a_member = self
                .acks
                .iter()
                .any(|other| other.token == ack.token && !other.after_removal);
            if ack.after_removal && !self.leaked.contains(&ack.node) && !also_by_a_member {
                assert!(
                    !view.has(&ack.token),
                    "{:?} written by removed {} was accepted",
                    ack.token,
                    NAMES[ack.node]
                );
            } else if device_active && !ack.after_removal {
                assert!(
                    view.has(&ack.token),
                    "{:?} acknowledged by {} is missing",
                    ack.token,
                    NAMES[ack.node]
                );
            }
        }
        for line in &self.outsider_lines {
            assert!(!view.lines.contains(line), "the outsider's {line} got in");
        }
        let log = view.log.as_array().cloned().unwrap_or_default();
        for id in &self.outsider_ops {
            if let Some(op) = log.iter().find(|o| o["id"] == id.as_str()) {
                assert_eq!(op["valid"], false, "the outsider's operation counts: {op}");
            }
        }
        assert!(
            view.members
                .as_array()
                .into_iter()
                .flatten()
                .all(|o| o["org"] != ORGS[X]),
            "the outsider is listed"
        );
        members
    }

    /// Nodes with the same operations show the same membership.
    fn check_same_ops_same_membership(&mut self) {
        let mut by_heads: BTreeMap<Vec<[u8; 32]>, (usize, Value, Value)> = BTreeMap::new();
        let running: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.up(i)).collect();
        for i in running {
            let mut heads = self.node(i).op_heads();
            heads.sort();
            let list = self
                .node(i)
                .execute(Request::MemberList)
                .expect("list")
                .json;
            let log = self.node(i).execute(Request::MemberLog).expect("log").json;
            match by_heads.get(&heads) {
                Some((k, l, g)) => {
                    assert_eq!(
                        &list, l,
                        "{} and {} hold the same operations but list different members",
                        NAMES[i], NAMES[*k]
                    );
                    assert_eq!(
                        &log, g,
                        "{} and {} hold the same operations but judge them differently",
                        NAMES[i], NAMES[*k]
                    );
                }
                None => {
                    by_heads.insert(heads, (i, list, log));
                }
            }
        }
    }

    fn run(&mut self, steps: usize) {
        self.steps(steps);
        self.heal();
        self.check_same_ops_same_membership();
        self.check();
    }

    /// `count` steps of the random schedule.
    fn steps(&mut self, count: usize) {
        for step in 0..count {
            self.advance(self.t + 1);
            if self.wait() {
                // Nothing on the way, and a question waits: time passed.
            } else if self.rng.below(10) < 6 && !self.queue.is_empty() {
                self.deliver();
            } else {
                self.act();
            }
            self.flush_changes();
            if step % 50 == 49 {
                self.check_same_ops_same_membership();
            }
        }
    }

    /// Opens node `i` with the randomness `seed` (so under the actor that
    /// seed draws) and makes it write `line` into the charter at once.
    fn open_and_write(&mut self, i: usize, seed: u64, line: &str) {
        self.nodes[i] = Some(open(self.dir.path(), i, SimEnv::boxed(&self.clock, seed)));
        let mut text = charter_of(self.node(i));
        text.push_str(line);
        text.push('\n');
        let wrote = self.node(i).execute(Request::CharterSet { text });
        self.trace(format!(
            "{} opens with seed {seed} and writes {line}: {}",
            NAMES[i],
            wrote.is_ok()
        ));
        self.changed(i);
    }

    /// A schedule in which member `r` equivocates without meaning to: its
    /// home is copied while stopped, started and written to (the first
    /// side), then replaced by the copy opened with the same randomness (a
    /// virtual machine's snapshot restored: the same actor again), which
    /// writes another line under the same actor and sequence number (the
    /// second side). Honest nodes write on top of either side meanwhile.
    /// After the final phase, every rule of [`Sim::check`] holds, for the
    /// honest writes too, and the first side shows nowhere.
    fn run_equivocation(&mut self, steps: usize) {
        let r = C;
        self.steps(steps / 3);
        if self.up(r) {
            self.stop(r);
        }
        let home = self.dir.path().join(NAMES[r]);
        let twin = self.dir.path().join(format!("{}-twin", NAMES[r]));
        copy_dir(&home, &twin);
        let seed = self.rng.0.next_u64();
        let (first, second) = (
            format!("T{}-first", self.seed),
            format!("T{}-second", self.seed),
        );
        self.open_and_write(r, seed, &first);
        // The first opening writes nothing else: what it wrote under the
        // forked actor is set aside, and nobody writes it again.
        let since = self.acks.len();
        self.no_writes = Some(r);
        self.steps(steps / 3);
        self.no_writes = None;
        if self.up(r) {
            self.stop(r);
        }
        std::fs::remove_dir_all(&home).expect("remove the home");
        std::fs::rename(&twin, &home).expect("put the twin in place");
        // A backup of the first opening would bring it back: there is none.
        self.backups.remove(&r);
        for ack in &mut self.acks[since..] {
            if ack.node == r {
                ack.lost_with_disk = true;
            }
        }
        self.open_and_write(r, seed, &second);
        self.steps(steps / 3);
        self.heal();
        self.check_same_ops_same_membership();
        let members = self.check();
        // Once a member proved the equivocation, the first side is set
        // aside on every member. (It is not when `r` was removed before its
        // twin's change reached anyone: then nothing was forked.)
        let mut proven = false;
        for &i in &members {
            let audit = self.node(i).execute(Request::Audit).expect("audit").json;
            if audit.to_string().contains("equivocation") {
                self.stats.equivocations_seen += 1;
                proven = true;
            }
        }
        if proven {
            for &i in &members {
                // No member holds a change of the forked actor at or past
                // the fork. (The twin may write its sibling's line again,
                // as its own device's write set aside: once at most.)
                let vv = self.node(i).doc_version_vector(DocKind::Charter);
                for (fork, _) in self.node(i).forks(DocKind::Charter) {
                    let held = vv.get(&fork.actor).copied().unwrap_or(0);
                    assert!(held < fork.seq, "{} holds the fork", NAMES[i]);
                }
                let text = charter_of(self.node(i));
                assert!(
                    text.matches(&first).count() <= 1,
                    "{} shows {first} twice",
                    NAMES[i]
                );
            }
        }
    }
}

fn run_scenario(seed: u64, steps: usize, scenario: fn(&mut Sim, usize)) -> Result<Stats, String> {
    let mut sim = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let s = sim.insert(Sim::new(seed));
        scenario(s, steps);
    }));
    let sim = sim.expect("started");
    match result {
        Ok(()) => Ok(sim.stats),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            // The rule, then the last events (all of them with ENTRAIDE_SIM_SEED).
            let keep = if env_u64("ENTRAIDE_SIM_SEED").is_some() {
                usize::MAX
            } else {
                40
            };
            let skip = sim.trace.len().saturating_sub(keep).max(1);
            let tail: Vec<&str> = sim.trace[..1]
                .iter()
                .chain(&sim.trace[skip..])
                .map(String::as_str)
                .collect();
            Err(format!(
                "schedule {seed} failed: {what}\nreplay it with ENTRAIDE_SIM_SEED={seed}\nits last events:\n  {}",
                tail.join("\n  ")
            ))
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs `scenario` on `schedules` seeds (or `ENTRAIDE_SIM_SEED` alone) on
/// every core; the stats summed, after asserting that none failed.
fn run_seeds(schedules: u64, scenario: fn(&mut Sim, usize)) -> (usize, Stats) {
    let seeds: Vec<u64> = match env_u64("ENTRAIDE_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("ENTRAIDE_SIM_SCHEDULES").unwrap_or(schedules)).collect(),
    };
    // Schedules are independent: run them on every core, then look at the
    // outcomes in seed order.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let mut outcomes: Vec<(u64, Result<Stats, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<u64> = seeds.iter().copied().skip(w).step_by(workers).collect();
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|seed| {
                            let steps = 30 + (seed % 4) as usize * 15;
                            (seed, run_scenario(seed, steps, scenario))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a simulation worker panicked"))
            .collect()
    });
    outcomes.sort_by_key(|(seed, _)| *seed);
    let mut total = Stats::default();
    let mut failures = Vec::new();
    for (seed, outcome) in outcomes {
        match outcome {
            Ok(s) => total.add(&s),
            Err(report) => {
                if failures.len() < 5 {
                    eprintln!("{report}");
                }
                failures.push(seed);
            }
        }
    }
    eprintln!("{} schedules: {total:?}", seeds.len());
    assert!(
        failures.is_empty(),
        "failing schedules (replay with ENTRAIDE_SIM_SEED): {failures:?}"
    );
    (seeds.len(), total)
}

#[test]
fn an_equivocating_member_is_set_aside_and_honest_nodes_converge_in_every_schedule() {
    let (schedules, total) = run_seeds(300, Sim::run_equivocation);
    if schedules >= 100 {
        assert!(
            total.equivocations_seen > 0,
            "no schedule met the equivocation"
        );
        assert!(total.lost > 0 && total.restarts > 0 && total.cuts > 0);
    }
}

#[test]
fn thousands_of_schedules_converge_and_keep_the_membership_rules() {
    let (schedules, total) = run_seeds(2000, Sim::run);
    // The schedules did exercise what they claim to.
    if schedules >= 100 {
        assert!(total.lost > 0 && total.duplicated > 0 && total.restarts > 0 && total.cuts > 0);
        assert!(total.restores > 0);
        assert!(total.outsider_refused > 0 && total.acks > 0);
        assert!(total.files > 0 && total.file_parts > 0);
        assert!(total.silences > 0 && total.unanswered > 0 && total.patience_ran_out > 0);
    }
}

/// What a schedule leaves behind, to compare two runs of one seed: its
/// trace (every message and acknowledgement, with their ids and hashes)
/// and what each running node holds (the heads of its documents and log).
fn fingerprint(seed: u64, steps: usize) -> (Vec<String>, Vec<String>) {
    let mut sim = Sim::new(seed);
    sim.run(steps);
    let held = sim
        .nodes
        .iter_mut()
        .zip(NAMES)
        .filter_map(|(node, name)| Some(format!("{name} {:?}", node.as_mut()?.summary())))
        .collect();
    (std::mem::take(&mut sim.trace), held)
}

#[test]
fn a_seed_replays_its_schedule_byte_for_byte() {
    for seed in 0..30 {
        let (trace, held) = fingerprint(seed, 60);
        let (again, held_again) = fingerprint(seed, 60);
        if let Some(k) = (0..trace.len().max(again.len())).find(|&k| trace.get(k) != again.get(k)) {
            panic!(
                "schedule {seed} ran differently the second time, from event {k}:\n  first: {:?}\n  again: {:?}",
                trace.get(k),
                again.get(k)
            );
        }
        assert_eq!(held, held_again, "schedule {seed} left different documents");
    }
}
