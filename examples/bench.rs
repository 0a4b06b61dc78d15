//! Benchmarks of entraide beside automerge's own sync protocol and the
//! hardware's limits (issue 8).
//!
//! Run: `cargo run --release --example bench -- [--quick] [--json PATH]`.
//! Prints one table (each figure beside its baseline measured in the same
//! run, the ratio and the target) and writes the same figures as JSON.
//! `--quick` uses smaller data, finishes in about a minute and asserts no
//! timing; it fails only when something does not work (a sync that does not
//! converge, a refused bundle).
//!
//! Data: `../shared/data/` beside the workspace (or `$ENTRAIDE_DATA`), read at
//! run time: the automerge-perf editing trace (`edits.json`) replayed as
//! charter edits by three member devices taking turns in bursts, and the real
//! documents (essay, Moby Dick, meeting notes), which are authored by
//! non-members and so serve only as load/save and native-sync baselines.
//! Without that directory the trace is synthetic. The alliance itself (50
//! organisations, 200 resources, 50,000 bookings, 2,000 library entries with
//! their files, values and endorsements) is generated here from a seed,
//! following the document schemas of ARCHITECTURE.md, and every document
//! reaches a node through `Node::receive_bundle` (authorship checked).
//!
//! Code paths measured: `entraide_node::Node` (`execute`, the sync core),
//! `entraide_net::daemon::Daemon`, `entraide_net::oneshot::{join, sync_once}`
//! over loopback iroh, the `entraide` binary (`target/release/entraide` when
//! built, else this program re-run as a child doing the same library calls),
//! and `entraide_net::traffic`, which records every frame a sync session sends
//! or receives. Scenario 4 drives the real session state machine
//! (`entraide_node::session::Session`) in virtual time, without sockets (see
//! `convergence`), because the daemon dials every member it can reach, so a
//! topology of at most 6 neighbours cannot be imposed on daemons. Scenario
//! 9 books a room that already holds 10,000 bookings (300 with `--quick`)
//! beside an empty room of the same home.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use automerge::sync::SyncDoc;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use chrono_tz::Tz;
use ed25519_dalek::SigningKey;
use entraide_docs::{DocKind, Part, SharedDoc, VersionVector};
use entraide_membership::DeviceId;
use entraide_net::daemon::{Daemon, ServeConfig};
use entraide_net::shared::{EndpointConfig, RelayChoice};
use entraide_net::traffic::{self, FrameEvent};
use entraide_net::wire::{self, JoinMsg, Msg};
use entraide_node::session::{Event, Mode, Session, TICK_MS, WANT_PATIENCE_MS};
use entraide_node::{Admission, Attestation, Bundle, Home, JoinRequest, Node, Request, Ticket};
use serde_json::{Value, json};

const ZONE: Tz = Tz::UTC;
/// 2025-01-01T00:00Z: when the synthetic history starts.
const T0: i64 = 1_735_689_600_000;
const HOUR: i64 = 3_600_000;
const MIB: f64 = 1024.0 * 1024.0;

// ---------------------------------------------------------------- settings

struct Config {
    quick: bool,
    /// Trace edits used (`None`: all of them).
    trace_edits: Option<usize>,
    /// Consecutive edits per automerge change.
    edits_per_change: usize,
    /// Changes a device makes before the next one takes over.
    burst_changes: usize,
    orgs: usize,
    resources: usize,
    bookings: usize,
    library: usize,
    values: usize,
    proposals: usize,
    votes_per_proposal: usize,
    endorsements_per_value: usize,
    latency_bookings: usize,
    convergence_nodes: Vec<usize>,
    convergence_bookings: usize,
    convergence_resources: usize,
    local_writes: usize,
    process_runs: usize,
    repeats: usize,
    /// Newcomers timed joining in scenarios 1a and 1b.
    joins: usize,
    real_docs: Vec<&'static str>,
    per_edit_trace: bool,
    /// Past bookings of the busy room in scenario 9.
    room_history: usize,
}

impl Config {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                trace_edits: Some(30_000),
                edits_per_change: 10,
                burst_changes: 100,
                orgs: 10,
                resources: 20,
                bookings: 2_000,
                library: 100,
                values: 10,
                proposals: 5,
                votes_per_proposal: 5,
                endorsements_per_value: 4,
                latency_bookings: 50,
                convergence_nodes: vec![8],
                convergence_bookings: 20,
                convergence_resources: 4,
                local_writes: 50,
                process_runs: 3,
                repeats: 1,
                joins: 1,
                real_docs: vec!["monday-meeting-notes.automerge"],
                per_edit_trace: false,
                room_history: 300,
            }
        } else {
            Self {
                quick,
                trace_edits: None,
                edits_per_change: 10,
                burst_changes: 100,
                orgs: 50,
                resources: 200,
                bookings: 50_000,
                library: 2_000,
                values: 30,
                proposals: 40,
                votes_per_proposal: 30,
                endorsements_per_value: 20,
                latency_bookings: 1_000,
                convergence_nodes: vec![8, 32, 64],
                convergence_bookings: 100,
                convergence_resources: 16,
                local_writes: 500,
                process_runs: 10,
                repeats: 3,
                joins: 5,
                real_docs: vec![
                    "monday-meeting-notes.automerge",
                    "essay.amrg",
                    "moby-dick.automerge",
                ],
                per_edit_trace: true,
                room_history: 10_000,
            }
        }
    }
}

// ---------------------------------------------------------------- results

#[derive(Clone, Copy)]
enum Unit {
    Bytes,
    Ms,
    Count,
    MiB,
}

struct Row {
    id: String,
    measure: String,
    value: f64,
    unit: Unit,
    baseline: Option<(String, f64)>,
    ratio_max: Option<f64>,
    value_max: Option<f64>,
}

impl Row {
    fn new(id: &str, measure: impl Into<String>, value: f64, unit: Unit) -> Self {
        Self {
            id: id.into(),
            measure: measure.into(),
            value,
            unit,
            baseline: None,
            ratio_max: None,
            value_max: None,
        }
    }

    fn vs(mut self, name: impl Into<String>, baseline: f64) -> Self {
        self.baseline = Some((name.into(), baseline));
        self
    }

    fn ratio_at_most(mut self, r: f64) -> Self {
        self.ratio_max = Some(r);
        self
    }

    fn at_most(mut self, v: f64) -> Self {
        self.value_max = Some(v);
        self
    }

    fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .and_then(|(_, b)| (*b > 0.0).then(|| self.value / b))
    }

    fn met(&self) -> Option<bool> {
        if self.ratio_max.is_none() && self.value_max.is_none() {
            return None;
        }
        let ratio_ok = match (self.ratio_max, self.ratio()) {
            (Some(max), Some(r)) => r <= max,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let value_ok = self.value_max.is_none_or(|max| self.value <= max);
        Some(ratio_ok && value_ok)
    }

    fn target(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.ratio_max {
            parts.push(format!("≤ {r:.2}×"));
        }
        if let Some(v) = self.value_max {
            parts.push(format!("≤ {}", fmt_value(v, self.unit)));
        }
        parts.join(", ")
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "measure": self.measure,
            "value": self.value,
            "unit": match self.unit {
                Unit::Bytes => "bytes",
                Unit::Ms => "ms",
                Unit::Count => "count",
                Unit::MiB => "MiB",
            },
            "baseline_name": self.baseline.as_ref().map(|b| b.0.clone()),
            "baseline": self.baseline.as_ref().map(|b| b.1),
            "ratio": self.ratio(),
            "target_ratio_max": self.ratio_max,
            "target_value_max": self.value_max,
            "met": self.met(),
        })
    }
}

fn fmt_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => format!("{} B", group(v.round() as u64)),
        Unit::Ms if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
        Unit::Ms if v >= 100.0 => format!("{v:.0} ms"),
        Unit::Ms if v >= 10.0 => format!("{v:.1} ms"),
        Unit::Ms => format!("{v:.2} ms"),
        Unit::Count => {
            if v.fract() == 0.0 {
                group(v as u64)
            } else {
                format!("{v:.1}")
            }
        }
        Unit::MiB => format!("{v:.1} MiB"),
    }
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Report {
    rows: Vec<Row>,
    details: serde_json::Map<String, Value>,
    notes: Vec<String>,
}

impl Report {
    fn push(&mut self, row: Row) {
        eprintln!(
            "   {} {}: {}{}",
            row.id,
            row.measure,
            fmt_value(row.value, row.unit),
            row.baseline
                .as_ref()
                .map(|(n, b)| format!(" (baseline {n}: {})", fmt_value(*b, row.unit)))
                .unwrap_or_default()
        );
        self.rows.push(row);
    }

    fn detail(&mut self, key: &str, value: Value) {
        self.details.insert(key.into(), value);
    }

    fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("   note: {text}");
        self.notes.push(text);
    }

    fn table(&self, header: &str) -> String {
        let mut out = String::new();
        out += header;
        let cells: Vec<[String; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.id.clone(),
                    r.measure.clone(),
                    fmt_value(r.value, r.unit),
                    r.baseline
                        .as_ref()
                        .map(|(n, b)| format!("{n} {}", fmt_value(*b, r.unit)))
                        .unwrap_or_default(),
                    r.ratio().map(|x| format!("{x:.2}×")).unwrap_or_default(),
                    r.target(),
                    match r.met() {
                        Some(true) => "met".into(),
                        Some(false) => "MISSED".into(),
                        None => String::new(),
                    },
                ]
            })
            .collect();
        let titles = [
            "#", "measure", "entraide", "baseline", "ratio", "target", "verdict",
        ];
        let mut widths = titles.map(|t| t.chars().count());
        for c in &cells {
            for (w, cell) in widths.iter_mut().zip(c) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |c: &[String]| -> String {
            let mut l = String::from("|");
            for (i, (cell, w)) in c.iter().zip(widths).enumerate() {
                let pad = w - cell.chars().count();
                if i == 2 || i == 4 {
                    l += &format!(" {}{} |", " ".repeat(pad), cell);
                } else {
                    l += &format!(" {}{} |", cell, " ".repeat(pad));
                }
            }
            l + "\n"
        };
        out += &line(&titles.map(String::from));
        out += &format!(
            "|{}\n",
            widths
                .iter()
                .map(|w| format!("{}|", "-".repeat(w + 2)))
                .collect::<String>()
        );
        for c in &cells {
            out += &line(c);
        }
        for n in &self.notes {
            out += &format!("\n- {n}");
        }
        out + "\n"
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let t = Instant::now();
    let out = f()?;
    Ok((out, t.elapsed()))
}

/// CPU time this process has used so far, every thread and core together
/// (user and system, from /proc/self/stat, in the kernel's 10 ms ticks).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let field = |n: usize| {
        after
            .split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((field(14) + field(15)) * 10)
}

// ---------------------------------------------------------------- seeded randomness

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        out
    }

    fn id(&mut self) -> String {
        hex(&self.bytes::<16>())
    }

    /// The id of a record `member` creates (random, ending with its
    /// device's prefix, as the authority check requires).
    fn record_id(&mut self, member: &Member) -> String {
        entraide_docs::record_id(self.bytes::<8>(), &member.device())
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------- identities and admission

/// A member organisation's device that is not a node of this process: its
/// changes are made here and signed with its key.
struct Member {
    key: SigningKey,
    org_id: String,
    org_name: String,
}

impl Member {
    fn device(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
}

fn members(rng: &mut Rng, n: usize, first: usize) -> Vec<Member> {
    (0..n)
        .map(|i| Member {
            key: SigningKey::from_bytes(&rng.bytes::<32>()),
            org_id: rng.id(),
            org_name: format!("Association {}", first + i + 1),
        })
        .collect()
}

fn free_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn loopback(port: u16) -> ServeConfig {
    ServeConfig {
        endpoint: EndpointConfig {
            listen: Some(([127, 0, 0, 1], port).into()),
            relay: RelayChoice::Disabled,
            mdns: false,
        },
    }
}

/// A new node that founds an alliance; `port` is where it will serve.
fn found(root: &Path, org: &str, port: u16) -> Result<Node> {
    let mut node = Node::init(&Home::new(root), org, ZONE)?;
    node.execute(Request::AllianceCreate {
        name: "Alliance solidaire".into(),
        admission: "coordinator".into(),
        process: None,
    })?;
    node.set_listen_addrs(vec![([127, 0, 0, 1], port).into()], None)?;
    Ok(node)
}

/// A member's invitation from a running daemon, valid an hour.
async fn daemon_ticket(a: &Daemon) -> Result<Ticket> {
    let invite = a
        .execute(Request::Invite {
            role: "member".into(),
            expires: "1h".into(),
        })
        .await?
        .json;
    Ok(Ticket::decode(
        invite["ticket"].as_str().context("no ticket")?,
    )?)
}

fn ticket(a: &mut Node) -> Result<Ticket> {
    let reply = a.execute(Request::Invite {
        role: "member".into(),
        expires: "1d".into(),
    })?;
    Ok(Ticket::decode(
        reply.json["ticket"].as_str().context("no ticket")?,
    )?)
}

fn admit_member(a: &mut Node, m: &Member) -> Result<()> {
    let t = ticket(a)?;
    admitted(a.admit(
        DeviceId(m.device()),
        &JoinRequest {
            secret: t.secret,
            org_id: m.org_id.clone(),
            org_name: m.org_name.clone(),
        },
    )?)?;
    Ok(())
}

fn admitted(answer: Admission) -> Result<Vec<Vec<u8>>> {
    match answer {
        Admission::Admitted(ops) => Ok(ops),
        Admission::Pending(_, why) => bail!("admission pending: {why}"),
    }
}

/// Admits node `b` in-process (invite, admit, accept), as the tests do.
fn admit_node(a: &mut Node, b: &mut Node) -> Result<(usize, usize)> {
    let t = ticket(a)?;
    let request = b.join_request(&t)?;
    let ops = admitted(a.admit(b.device(), &request)?)?;
    ensure!(b.accept_admission(&t, &ops)?, "not admitted");
    Ok((
        wire::encode(&JoinMsg::Request(request)).len(),
        wire::encode(&JoinMsg::Admitted(ops)).len(),
    ))
}

fn vvs(n: &mut Node) -> BTreeMap<DocKind, VersionVector> {
    n.summary()
        .docs
        .into_iter()
        .map(|(k, vv)| (k, vv.into_iter().collect()))
        .collect()
}

/// Sends `to` everything `from` holds that it lacks, through the sync core.
fn push(from: &mut Node, to: &mut Node) -> Result<()> {
    let ops = from.ops_for(&to.op_heads());
    to.receive_ops(&ops)?;
    let theirs = vvs(to);
    for doc in DocKind::ALL {
        if let Some(b) = from.bundle_for(doc, &theirs.get(&doc).cloned().unwrap_or_default()) {
            to.receive_bundle(&b)?;
        }
    }
    Ok(())
}

/// `export <doc>`: "calendar" is the whole calendar, its parts merged.
fn export(n: &mut Node, doc: &str) -> Result<Vec<u8>> {
    n.execute(Request::Export { doc: doc.into() })?
        .file
        .context("export gave no bytes")
}

fn sorted_heads(doc: &mut AutoCommit) -> Vec<ChangeHash> {
    let mut h = doc.get_heads();
    h.sort();
    h
}

// ---------------------------------------------------------------- documents and signatures

/// A document holding exactly the genesis change every node makes.
fn genesis(kind: DocKind) -> Result<AutoCommit> {
    let bytes = SharedDoc::new(kind, [0; 32]).save();
    let mut doc = AutoCommit::load(&bytes)?;
    ensure!(
        doc.get_heads() == vec![SharedDoc::genesis_hash(kind)],
        "the genesis of {kind} does not match the node's"
    );
    Ok(doc)
}

/// Each signer's attestation of its latest change in `doc`.
fn attestations(
    doc: &mut AutoCommit,
    alliance: [u8; 32],
    kind: DocKind,
    keys: &[&SigningKey],
) -> Vec<Attestation> {
    let mut latest: HashMap<Vec<u8>, (u64, ChangeHash)> = HashMap::new();
    for m in doc.get_changes_meta(&[]) {
        let e = latest
            .entry(m.actor.to_bytes().to_vec())
            .or_insert((0, m.hash));
        if m.seq >= e.0 {
            *e = (m.seq, m.hash);
        }
    }
    keys.iter()
        .filter_map(|k| {
            let device = k.verifying_key().to_bytes();
            let (seq, hash) = latest.get(device.as_slice())?;
            Some(Attestation::sign(k, &alliance, kind, hash.0, *seq))
        })
        .collect()
}

fn bundle(
    node: &Node,
    kind: DocKind,
    doc: &mut AutoCommit,
    keys: &[&SigningKey],
) -> Result<Bundle> {
    let alliance = node.alliance_id().context("no alliance")?;
    Ok(Bundle {
        doc: kind,
        bytes: doc.save(),
        attestations: attestations(doc, alliance, kind, keys),
    })
}

/// Hands `doc` to `node` the way a peer would: `receive_bundle` checks every
/// change's author against the membership and the attestations.
fn inject(
    node: &mut Node,
    kind: DocKind,
    doc: &mut AutoCommit,
    keys: &[&SigningKey],
) -> Result<()> {
    let b = bundle(node, kind, doc, keys)?;
    node.receive_bundle(&b)
        .with_context(|| format!("the node refused the {kind} bundle"))?;
    Ok(())
}

fn child(doc: &AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match doc.get(obj, key)? {
        Some((_, id)) => Ok(id),
        None => bail!("no object at {key}"),
    }
}

fn commit(doc: &mut AutoCommit, time: i64, message: &str) {
    doc.commit_with(
        CommitOptions::default()
            .with_time(time)
            .with_message(message.to_owned()),
    );
}

// ---------------------------------------------------------------- the editing trace

struct Edit {
    pos: usize,
    del: usize,
    ins: String,
}

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ENTRAIDE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    dir.join("edits.json").is_file().then_some(dir)
}

fn load_trace(dir: Option<&Path>, limit: Option<usize>, rng: &mut Rng) -> Result<Vec<Edit>> {
    let mut edits = Vec::new();
    if let Some(dir) = dir {
        let raw: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("edits.json"))?)?;
        for e in raw.iter().take(limit.unwrap_or(usize::MAX)) {
            edits.push(Edit {
                pos: e[0].as_u64().context("bad edit")? as usize,
                del: e[1].as_u64().context("bad edit")? as usize,
                ins: e.get(2).and_then(Value::as_str).unwrap_or("").to_owned(),
            });
        }
    } else {
        // Typing at a moving cursor, with some deletions: the trace's shape.
        let (mut len, mut cursor) = (0usize, 0usize);
        for _ in 0..limit.unwrap_or(259_778) {
            if rng.below(20) == 0 {
                cursor = rng.below(len + 1);
            }
            if len > 0 && cursor > 0 && rng.below(8) == 0 {
                edits.push(Edit {
                    pos: cursor - 1,
                    del: 1,
                    ins: String::new(),
                });
                cursor -= 1;
                len -= 1;
            } else {
                let c = b"abcdefghijklmnopqrstuvwxyz  \n"[rng.below(29)] as char;
                edits.push(Edit {
                    pos: cursor,
                    del: 0,
                    ins: c.to_string(),
                });
                cursor += 1;
                len += 1;
            }
        }
    }
    Ok(edits)
}

/// Replays `edits` on the charter text, `per_change` edits per change, the
/// `authors` taking turns every `burst` changes. Returns the changes made.
fn replay(
    doc: &mut AutoCommit,
    edits: &[Edit],
    per_change: usize,
    burst: usize,
    authors: &[[u8; 32]],
    t0: i64,
) -> Result<usize> {
    let text = child(doc, &ROOT, "text")?;
    let mut changes = 0;
    for (i, chunk) in edits.chunks(per_change).enumerate() {
        let actor = authors[(i / burst) % authors.len()];
        if doc.get_actor().to_bytes() != actor.as_slice() {
            doc.set_actor(ActorId::from(&actor[..]));
        }
        for e in chunk {
            let len = doc.length(&text);
            let pos = e.pos.min(len);
            let del = e.del.min(len - pos);
            doc.splice_text(&text, pos, del as isize, &e.ins)?;
        }
        commit(doc, t0 + i as i64 * 1000, "charter");
        changes += 1;
    }
    Ok(changes)
}

// ---------------------------------------------------------------- the synthetic alliance

struct Synth {
    docs: Vec<(DocKind, AutoCommit)>,
    blobs: Vec<([u8; 32], Vec<u8>)>,
    resources: Vec<String>,
    /// Bookings of `resources[0]`.
    first_resource_bookings: usize,
    /// Each (resource index, organisation index) pair with a booking.
    resource_bookers: HashSet<(usize, usize)>,
}

const PURPOSES: &[&str] = &[
    "Assemblée générale",
    "Réunion d'équipe",
    "Formation premiers secours",
    "Permanence sociale",
    "Atelier cuisine",
    "Conseil d'administration",
    "Distribution alimentaire",
    "Cours de français",
    "Supervision",
    "Déménagement",
];
const TAGS: &[&str] = &[
    "rh",
    "finances",
    "ag",
    "sécurité",
    "bénévoles",
    "2025",
    "subsides",
    "juridique",
    "logement",
    "santé",
];
const ENTRY_KINDS: &[&str] = &[
    "procedure",
    "job-profile",
    "regulation",
    "statute",
    "budget",
    "template",
    "other",
];
const WORDS: &[&str] = &[
    "l'association",
    "assure",
    "la",
    "coordination",
    "des",
    "bénévoles",
    "et",
    "le",
    "suivi",
    "budgétaire",
    "chaque",
    "membre",
    "conserve",
    "son",
    "autonomie",
    "dans",
    "le",
    "respect",
    "de",
    "la",
    "charte",
    "commune",
];

fn prose(rng: &mut Rng, bytes: usize) -> String {
    let mut s = String::new();
    while s.len() < bytes {
        s += rng.pick(WORDS);
        s.push(if rng.below(12) == 0 { '\n' } else { ' ' });
    }
    s
}

/// Runs `f` once per member, each on a copy of `base` with that member's
/// device as actor, and merges every copy back.
fn by_members(
    base: &mut AutoCommit,
    members: &[Member],
    mut f: impl FnMut(usize, &mut AutoCommit) -> Result<()>,
) -> Result<()> {
    let start = base.save();
    for (i, m) in members.iter().enumerate() {
        let mut copy = AutoCommit::load(&start)?;
        copy.set_actor(ActorId::from(&m.device()[..]));
        f(i, &mut copy)?;
        base.merge(&mut copy)?;
    }
    Ok(())
}

fn synth_alliance(cfg: &Config, members: &[Member], rng: &mut Rng) -> Result<Synth> {
    let n = members.len();
    let mut clock = T0;
    let mut tick = move || {
        clock += 60_000;
        clock
    };

    // Values, each endorsed by several organisations.
    let mut values = genesis(DocKind::Values)?;
    let value_ids: Vec<String> = (0..cfg.values)
        .map(|v| rng.record_id(&members[v % n]))
        .collect();
    let endorsers: Vec<HashSet<usize>> = (0..cfg.values)
        .map(|v| {
            let mut s = HashSet::new();
            while s.len() < cfg.endorsements_per_value.min(n - 1) {
                let m = rng.below(n);
                if m != v % n {
                    s.insert(m);
                }
            }
            s
        })
        .collect();
    let descriptions: Vec<String> = (0..cfg.values).map(|_| prose(rng, 160)).collect();
    by_members(&mut values, members, |i, d| {
        let root = child(d, &ROOT, "values")?;
        for v in (0..cfg.values).filter(|v| v % n == i) {
            let t = tick();
            let obj = d.put_object(&root, value_ids[v].as_str(), ObjType::Map)?;
            d.put(&obj, "name", format!("Valeur {}", v + 1))?;
            d.put(&obj, "description", descriptions[v].as_str())?;
            d.put(&obj, "created_by", members[i].org_id.as_str())?;
            d.put(&obj, "created_at", ScalarValue::Int(t))?;
            let e = d.put_object(&obj, "endorsements", ObjType::Map)?;
            d.put(&e, members[i].org_id.as_str(), ScalarValue::Int(t))?;
            commit(d, t, "value add");
        }
        Ok(())
    })?;
    by_members(&mut values, members, |i, d| {
        let root = child(d, &ROOT, "values")?;
        for v in (0..cfg.values).filter(|v| endorsers[*v].contains(&i)) {
            let t = tick();
            let e = child(d, &child(d, &root, &value_ids[v])?, "endorsements")?;
            d.put(&e, members[i].org_id.as_str(), ScalarValue::Int(t))?;
            commit(d, t, "value endorse");
        }
        Ok(())
    })?;

    // The library, with a file behind each entry.
    let mut library = genesis(DocKind::Library)?;
    let mut blobs = Vec::new();
    // Per member: (id, title, tags, hash, size).
    type Entry = (String, String, Vec<String>, String, usize);
    let mut entries: Vec<Vec<Entry>> = (0..n).map(|_| Vec::new()).collect();
    for e in 0..cfg.library {
        let owner = rng.below(n);
        let kind = rng.pick(ENTRY_KINDS);
        let size = 300 + rng.below(2_700);
        let content = prose(rng, size);
        let hash = blake3::hash(content.as_bytes());
        let tags = (0..1 + rng.below(3))
            .map(|_| rng.pick(TAGS).to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let id = rng.record_id(&members[owner]);
        entries[owner].push((
            id,
            format!("{} {}", kind, e + 1),
            tags,
            hash.to_hex().to_string(),
            content.len(),
        ));
        blobs.push((*hash.as_bytes(), content.into_bytes()));
    }
    by_members(&mut library, members, |i, d| {
        let root = child(d, &ROOT, "entries")?;
        let device = hex(&members[i].device());
        for (id, title, tags, hash, size) in &entries[i] {
            let t = tick();
            let obj = d.put_object(&root, id.as_str(), ObjType::Map)?;
            d.put(&obj, "title", title.as_str())?;
            let kind = title.split(' ').next().unwrap_or("other");
            d.put(&obj, "kind", kind)?;
            let list = d.put_object(&obj, "tags", ObjType::List)?;
            for (k, tag) in tags.iter().enumerate() {
                d.insert(&list, k, tag.as_str())?;
            }
            d.put(&obj, "size", ScalarValue::Int(*size as i64))?;
            d.put(&obj, "hash", hash.as_str())?;
            d.put(&obj, "file_name", format!("{}.md", &id[..8]))?;
            d.put(&obj, "added_by", members[i].org_id.as_str())?;
            d.put(&obj, "added_by_device", device.as_str())?;
            d.put(&obj, "added_at", ScalarValue::Int(t))?;
            commit(d, t, "library add");
        }
        Ok(())
    })?;

    // Resources, then bookings made by every organisation concurrently,
    // each resource with its bookings in the calendar's part its id names.
    let owners: Vec<usize> = (0..cfg.resources).map(|_| rng.below(n)).collect();
    let resources: Vec<String> = owners.iter().map(|&o| rng.record_id(&members[o])).collect();
    let part_of: Vec<DocKind> = resources.iter().map(|r| DocKind::calendar_of(r)).collect();
    // Booking k: resource k % R, its (k / R)-th slot (one hour every three),
    // by an organisation drawn at random: no two overlap.
    let mut mine: Vec<Vec<usize>> = (0..n).map(|_| Vec::new()).collect();
    let mut booker = Vec::with_capacity(cfg.bookings);
    for k in 0..cfg.bookings {
        let m = rng.below(n);
        mine[m].push(k);
        booker.push(m);
    }
    let purposes: Vec<&str> = (0..cfg.bookings).map(|_| rng.pick(PURPOSES)).collect();
    let ids: Vec<String> = booker.iter().map(|&m| rng.record_id(&members[m])).collect();
    let booking_t0 = T0 + 400 * 24 * HOUR;
    let mut serial = 0;
    let mut calendars = Vec::new();
    for part in Part::all().map(DocKind::Calendar) {
        let mut calendar = genesis(part)?;
        by_members(&mut calendar, members, |i, d| {
            let rroot = child(d, &ROOT, "resources")?;
            let broot = child(d, &ROOT, "bookings")?;
            for r in (0..cfg.resources).filter(|r| owners[*r] == i && part_of[*r] == part) {
                let t = tick();
                serial += 1;
                let (kind, name) = match r % 10 {
                    8 => ("vehicle", format!("Camionnette {}", r + 1)),
                    9 => ("equipment", format!("Projecteur {}", r + 1)),
                    _ => ("room", format!("Salle {}", r + 1)),
                };
                let obj = d.put_object(&rroot, resources[r].as_str(), ObjType::Map)?;
                d.put(&obj, "name", name)?;
                d.put(&obj, "kind", kind)?;
                if kind == "room" {
                    d.put(&obj, "capacity", ScalarValue::Int(8 + (r % 5) as i64 * 10))?;
                }
                d.put(&obj, "location", format!("Rue de l'Entraide {serial}"))?;
                d.put(&obj, "approval", r % 20 == 19)?;
                d.put(&obj, "zone", "UTC")?;
                d.put(&obj, "owner", members[i].org_id.as_str())?;
                d.put(&obj, "created_at", ScalarValue::Int(t))?;
                d.put_object(&broot, resources[r].as_str(), ObjType::Map)?;
                commit(d, t, "resource add");
            }
            Ok(())
        })?;
        by_members(&mut calendar, members, |i, d| {
            let broot = child(d, &ROOT, "bookings")?;
            let device = members[i].device();
            for &k in &mine[i] {
                let r = k % cfg.resources;
                if part_of[r] != part {
                    continue;
                }
                let from = booking_t0 + (k / cfg.resources) as i64 * 3 * HOUR;
                let created = T0 + 30 * 24 * HOUR + k as i64 * 60_000;
                let map = child(d, &broot, &resources[r])?;
                let obj = d.put_object(&map, ids[k].as_str(), ObjType::Map)?;
                let fixed = entraide_docs::BookingFixed {
                    org: members[i].org_id.clone(),
                    device,
                    from,
                    to: from + HOUR,
                    purpose: purposes[k].to_owned(),
                    created_at: created,
                    series: None,
                };
                d.put(&obj, "fixed", ScalarValue::Bytes(fixed.pack()))?;
                commit(d, created, "book");
            }
            Ok(())
        })?;
        calendars.push((part, calendar));
    }
    // Proposals, each voted on by several organisations from their own
    // devices (a vote counts only if its author is the voting device).
    let mut proposals = genesis(DocKind::Proposals)?;
    let proposal_ids: Vec<String> = (0..cfg.proposals)
        .map(|p| rng.record_id(&members[p % n]))
        .collect();
    let proposal_texts: Vec<String> = (0..cfg.proposals).map(|_| prose(rng, 600)).collect();
    let voters: Vec<HashSet<usize>> = (0..cfg.proposals)
        .map(|_| {
            let mut s = HashSet::new();
            while s.len() < cfg.votes_per_proposal.min(n) {
                s.insert(rng.below(n));
            }
            s
        })
        .collect();
    let positions: Vec<Vec<&str>> = (0..cfg.proposals)
        .map(|_| {
            (0..n)
                .map(|_| rng.pick(&["agree", "agree", "agree", "abstain", "disagree"]))
                .collect()
        })
        .collect();
    by_members(&mut proposals, members, |i, d| {
        let root = child(d, &ROOT, "proposals")?;
        for p in (0..cfg.proposals).filter(|p| p % n == i) {
            let t = tick();
            let obj = d.put_object(&root, proposal_ids[p].as_str(), ObjType::Map)?;
            d.put(&obj, "title", format!("Proposition {}", p + 1))?;
            d.put(&obj, "kind", "general")?;
            d.put(&obj, "text", proposal_texts[p].as_str())?;
            d.put(&obj, "process", ["consent", "consensus", "majority"][p % 3])?;
            d.put(&obj, "deadline", ScalarValue::Int(t + 30 * 24 * HOUR))?;
            d.put(&obj, "created_by", members[i].org_id.as_str())?;
            d.put(&obj, "created_at", ScalarValue::Int(t))?;
            d.put_object(&obj, "votes", ObjType::Map)?;
            commit(d, t, "propose");
        }
        Ok(())
    })?;
    by_members(&mut proposals, members, |i, d| {
        let root = child(d, &ROOT, "proposals")?;
        let device = hex(&members[i].device());
        for p in (0..cfg.proposals).filter(|p| voters[*p].contains(&i)) {
            let t = tick();
            let votes = child(d, &child(d, &root, &proposal_ids[p])?, "votes")?;
            let v = d.put_object(&votes, device.as_str(), ObjType::Map)?;
            let position = if p % 3 == 0 && positions[p][i] == "disagree" {
                "abstain"
            } else {
                positions[p][i]
            };
            d.put(&v, "position", position)?;
            d.put(
                &v,
                "reason",
                if position == "disagree" {
                    "Pas dans notre budget cette année"
                } else {
                    ""
                },
            )?;
            d.put(&v, "org", members[i].org_id.as_str())?;
            d.put(&v, "at", ScalarValue::Int(t))?;
            commit(d, t, "vote");
        }
        Ok(())
    })?;
    Ok(Synth {
        docs: [(DocKind::Values, values), (DocKind::Library, library)]
            .into_iter()
            .chain(calendars)
            .chain([(DocKind::Proposals, proposals)])
            .collect(),
        blobs,
        first_resource_bookings: cfg.bookings.div_ceil(cfg.resources),
        resource_bookers: booker
            .iter()
            .enumerate()
            .map(|(k, &m)| (k % cfg.resources, m))
            .collect(),
        resources,
    })
}

// ---------------------------------------------------------------- frames, bytes and round trips

/// One frame as the newcomer (or returning member) saw it.
struct Ev {
    at: Instant,
    sent: bool,
    bytes: usize,
    data: bool,
    kind: &'static str,
}

impl From<&FrameEvent> for Ev {
    fn from(e: &FrameEvent) -> Self {
        Self {
            at: e.at,
            sent: e.sent,
            bytes: e.bytes,
            data: matches!(e.kind, "Ops" | "Docs" | "BlobParts"),
            kind: e.kind,
        }
    }
}

#[derive(Default)]
struct Flow {
    sent: usize,
    received: usize,
    frames: usize,
    by_kind: BTreeMap<&'static str, usize>,
    /// Round trips until every data frame arrived.
    rt_data: u32,
    /// Round trips until the last frame of the session.
    rt_done: u32,
    span: Duration,
}

/// Bytes and round trips of one session, seen from `mine` (the newcomer or
/// returning member), with the peer's frames `theirs` when it ran in this
/// process. Each frame gets a depth, a Lamport clock counted in half round
/// trips: a frame sent is one deeper than the deepest frame its sender had
/// handled when it queued it (at least 2 for the side that accepted the
/// connection, which cannot send before the dialer's first bytes arrive); a
/// frame received has the depth it was sent with (the k-th handled is the
/// peer's k-th queued: one ordered stream). Without the peer's frames, a
/// frame received is taken as one deeper than the deepest this side had sent
/// before: an upper bound. Round trips are depths / 2, rounded up, as they
/// would be on a link whose latency dwarfs the processing time.
fn flow(mine: &[Ev], theirs: &[Ev]) -> Flow {
    let mut merged: Vec<(usize, &Ev)> = mine
        .iter()
        .map(|e| (0, e))
        .chain(theirs.iter().map(|e| (1, e)))
        .collect();
    merged.sort_by_key(|(side, e)| (e.at, !e.sent, *side));
    let debug = std::env::var_os("BENCH_FRAMES").is_some();
    let first_sent = |evs: &[Ev]| evs.iter().filter(|e| e.sent).map(|e| e.at).min();
    let dialer = match (first_sent(mine), first_sent(theirs)) {
        (Some(a), Some(b)) if b < a => 1,
        _ => 0,
    };
    let mut f = Flow::default();
    let mut sent_depths: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    let mut received = [0usize; 2];
    let (mut max_sent, mut max_recv) = ([0u32; 2], [0u32; 2]);
    let (mut data_depth, mut max_depth) = (0u32, 0u32);
    for (side, e) in &merged {
        let side = *side;
        let depth = if e.sent {
            let floor = if side == dialer { 1 } else { 2 };
            let d = (max_recv[side] + 1).max(floor);
            sent_depths[side].push(d);
            max_sent[side] = max_sent[side].max(d);
            d
        } else {
            let k = received[side];
            received[side] += 1;
            let d = if theirs.is_empty() {
                max_sent[side] + 1
            } else {
                sent_depths[1 - side]
                    .get(k)
                    .copied()
                    .unwrap_or(max_sent[side] + 1)
            };
            max_recv[side] = max_recv[side].max(d);
            d
        };
        if debug {
            eprintln!(
                "      {:>9.3} ms  {} {:<5} {:<9} {:>9} B  depth {depth}",
                ms(e.at - merged[0].1.at),
                if side == 0 { "me  " } else { "peer" },
                if e.sent { "sent" } else { "recv" },
                e.kind,
                e.bytes
            );
        }
        // Bytes as sent (a frame the other side never got to handle counts),
        // each frame once.
        let counted = e.sent || (side == 0 && theirs.is_empty());
        if e.sent && side == 0 {
            f.sent += e.bytes;
        } else if counted {
            f.received += e.bytes;
        }
        if counted {
            f.frames += 1;
            *f.by_kind.entry(e.kind).or_default() += e.bytes;
        }
        if e.data {
            data_depth = data_depth.max(depth);
        }
        max_depth = max_depth.max(depth);
    }
    f.rt_data = data_depth.div_ceil(2);
    f.rt_done = max_depth.div_ceil(2);
    let ats: Vec<Instant> = mine.iter().map(|e| e.at).collect();
    if let (Some(a), Some(b)) = (ats.iter().min(), ats.iter().max()) {
        f.span = *b - *a;
    }
    f
}

fn flow_json(f: &Flow) -> Value {
    json!({
        "bytes_sent": f.sent,
        "bytes_received": f.received,
        "frames": f.frames,
        "bytes_by_message": f.by_kind,
        "round_trips_data": f.rt_data,
        "round_trips_done": f.rt_done,
        "session_ms": ms(f.span),
    })
}

/// The frames `local` recorded on its session with `peer`.
fn frames(events: &[FrameEvent], local: [u8; 32], peer: [u8; 32]) -> Vec<Ev> {
    events
        .iter()
        .filter(|e| e.local == local && e.peer == peer)
        .map(Ev::from)
        .collect()
}

// ---------------------------------------------------------------- automerge's own sync over iroh

const NATIVE_ALPN: &[u8] = b"entraide-bench/automerge-sync/1";

async fn bench_endpoint(rng_seed: u64, accept: bool) -> Result<iroh::Endpoint> {
    let mut rng = Rng(rng_seed);
    let mut b = iroh::Endpoint::builder(iroh::endpoint::presets::Minimal)
        .secret_key(iroh::SecretKey::from_bytes(&rng.bytes::<32>()))
        .relay_mode(iroh::RelayMode::Disabled)
        .portmapper_config(iroh::endpoint::PortmapperConfig::Disabled)
        .clear_ip_transports()
        .bind_addr("127.0.0.1:0")?;
    if accept {
        b = b.alpns(vec![NATIVE_ALPN.to_vec()]);
    }
    Ok(b.bind().await?)
}

type NativeFrame = (u8, Vec<u8>);

fn native_event(sent: bool, frame: &NativeFrame, data: bool) -> Ev {
    Ev {
        at: Instant::now(),
        sent,
        bytes: wire::encode(frame).len(),
        data,
        kind: "sync",
    }
}

async fn native_server(ep: iroh::Endpoint, mut docs: Vec<AutoCommit>) -> Result<Vec<Ev>> {
    let incoming = ep.accept().await.context("endpoint closed")?;
    let conn = incoming.await?;
    let (mut send, mut recv) = conn.accept_bi().await?;
    let mut states: Vec<automerge::sync::State> =
        docs.iter().map(|_| automerge::sync::State::new()).collect();
    let mut evs = Vec::new();
    while let Some(frame) = wire::read_frame::<_, NativeFrame>(&mut recv).await? {
        let d = frame.0 as usize;
        let msg = automerge::sync::Message::decode(&frame.1)?;
        evs.push(native_event(false, &frame, !msg.changes.is_empty()));
        docs[d].sync().receive_sync_message(&mut states[d], msg)?;
        if let Some(m) = docs[d].sync().generate_sync_message(&mut states[d]) {
            let data = !m.changes.is_empty();
            let frame = (d as u8, m.encode());
            evs.push(native_event(true, &frame, data));
            wire::write_frame(&mut send, &frame).await?;
        }
    }
    let _ = send.finish();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    Ok(evs)
}

struct Native {
    flow: Flow,
    time: Duration,
    heads: Vec<Vec<ChangeHash>>,
}

/// automerge's sync protocol (`generate_sync_message`/`receive_sync_message`,
/// one state per document) between a fresh client and a server holding
/// `server`, over one iroh bi-stream of length-prefixed frames, the client
/// opening: as automerge-repo syncs. Time: from binding the client's endpoint
/// until it holds everything and the server closed.
async fn native_sync(server: &[Vec<u8>], client: &[Vec<u8>]) -> Result<Native> {
    let server_docs = server
        .iter()
        .map(|b| Ok(AutoCommit::load(b)?))
        .collect::<Result<Vec<_>>>()?;
    let mut docs = client
        .iter()
        .map(|b| {
            Ok(if b.is_empty() {
                AutoCommit::new()
            } else {
                AutoCommit::load(b)?
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let server_ep = bench_endpoint(1, true).await?;
    let addr = iroh::EndpointAddr::from_parts(
        server_ep.id(),
        entraide_net::shared::reachable_addrs(&server_ep)
            .into_iter()
            .map(iroh::TransportAddr::Ip),
    );
    let server_task = tokio::spawn(native_server(server_ep.clone(), server_docs));
    let start = Instant::now();
    let ep = bench_endpoint(2, false).await?;
    let conn = ep.connect(addr, NATIVE_ALPN).await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let n = docs.len();
    let mut states: Vec<automerge::sync::State> =
        (0..n).map(|_| automerge::sync::State::new()).collect();
    let mut done = vec![false; n];
    let mut evs = Vec::new();
    let mut record = |sent: bool, frame: &NativeFrame, data: bool| {
        evs.push(native_event(sent, frame, data));
    };
    for (d, doc) in docs.iter_mut().enumerate() {
        if let Some(m) = doc.sync().generate_sync_message(&mut states[d]) {
            let data = !m.changes.is_empty();
            let frame = (d as u8, m.encode());
            record(true, &frame, data);
            wire::write_frame(&mut send, &frame).await?;
        }
    }
    let deadline = Duration::from_secs(120);
    while !done.iter().all(|d| *d) {
        let frame = tokio::time::timeout(deadline, wire::read_frame::<_, NativeFrame>(&mut recv))
            .await
            .context("native sync stalled")??
            .context("the server closed early")?;
        let d = frame.0 as usize;
        let msg = automerge::sync::Message::decode(&frame.1)?;
        record(false, &frame, !msg.changes.is_empty());
        docs[d].sync().receive_sync_message(&mut states[d], msg)?;
        let mine = sorted_heads(&mut docs[d]);
        let theirs = states[d].their_heads.clone().map(|mut h| {
            h.sort();
            h
        });
        done[d] = theirs.as_ref() == Some(&mine);
        if let Some(m) = docs[d].sync().generate_sync_message(&mut states[d]) {
            let data = !m.changes.is_empty();
            let frame = (d as u8, m.encode());
            record(true, &frame, data);
            wire::write_frame(&mut send, &frame).await?;
        }
    }
    let _ = send.finish();
    while let Some(frame) =
        tokio::time::timeout(deadline, wire::read_frame::<_, NativeFrame>(&mut recv))
            .await
            .context("native sync did not close")??
    {
        record(false, &frame, false);
    }
    let time = start.elapsed();
    conn.close(0u32.into(), b"done");
    let server_evs = server_task.await??;
    ep.close().await;
    server_ep.close().await;
    Ok(Native {
        flow: flow(&evs, &server_evs),
        time,
        heads: docs.iter_mut().map(sorted_heads).collect(),
    })
}

// ---------------------------------------------------------------- child processes

/// How a command runs as its own process: the `entraide` binary when built,
/// else this program re-run doing the same library calls.
enum Cli {
    Binary(PathBuf),
    SelfExec(PathBuf),
}

impl Cli {
    fn find() -> Result<Self> {
        let me = std::env::current_exe()?;
        // Cargo puts the binary beside the examples' directory, wherever the
        // target directory is (`<target>/release/entraide`).
        let beside = me
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("entraide"))
            .unwrap_or_default();
        let built = std::env::var_os("ENTRAIDE_BIN").map_or(beside, PathBuf::from);
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        // A binary older than the libraries this program was built with may
        // speak an older protocol: use it only if it is newer than them.
        let newest_lib = built
            .parent()
            .and_then(|d| std::fs::read_dir(d.join("deps")).ok())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("libentraide_") && name.ends_with(".rlib")
            })
            .filter_map(|e| modified(&e.path()))
            .max();
        // Without a deps directory beside it (a separate build directory),
        // a binary linked within 10 minutes of this program counts as fresh.
        let newest_lib = newest_lib.or_else(|| {
            modified(&me).map(|m| m.checked_sub(Duration::from_secs(600)).unwrap_or(m))
        });
        let fresh = built.is_file() && modified(&built) >= newest_lib;
        Ok(if fresh {
            Cli::Binary(built)
        } else {
            Cli::SelfExec(me)
        })
    }

    fn describe(&self) -> String {
        match self {
            Cli::Binary(p) => format!("the entraide binary ({})", p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()),
            Cli::SelfExec(_) => {
                "this program as a child process doing the CLI's library calls (<target>/release/entraide is not built, or is older than the libraries: `cargo build --release -p entraide-cli`)".into()
            }
        }
    }

    /// A process of the same program that only starts and exits
    /// (`entraide --version`): what every command pays besides its work.
    fn start_only(&self) -> Result<Duration> {
        let mut cmd = match self {
            Cli::Binary(p) => {
                let mut c = Command::new(p);
                c.arg("--version");
                c
            }
            Cli::SelfExec(p) => {
                let mut c = Command::new(p);
                c.arg("--child-start");
                c
            }
        };
        let t = Instant::now();
        let out = cmd.stderr(Stdio::piped()).output()?;
        let took = t.elapsed();
        ensure!(out.status.success(), "the program did not start");
        Ok(took)
    }

    /// Runs one command to completion; `args` are the CLI's words.
    fn run(&self, home: &Home, request: &Request, args: &[&str]) -> Result<Value> {
        let mut cmd = match self {
            Cli::Binary(p) => {
                let mut c = Command::new(p);
                c.arg("--home")
                    .arg(home.root())
                    .args(["--tz", "UTC", "--json"])
                    .args(args);
                c
            }
            Cli::SelfExec(p) => {
                let mut c = Command::new(p);
                c.arg("--child-exec")
                    .arg(home.root())
                    .arg(serde_json::to_string(request)?);
                c
            }
        };
        let out = cmd.stderr(Stdio::piped()).output()?;
        ensure!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    fn serve(&self, home: &Home) -> Result<Child> {
        let mut cmd = match self {
            Cli::Binary(p) => {
                let mut c = Command::new(p);
                c.arg("--home").arg(home.root()).args([
                    "--tz",
                    "UTC",
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--no-relay",
                    "--no-mdns",
                    "--ui",
                    "off",
                ]);
                c
            }
            Cli::SelfExec(p) => {
                let mut c = Command::new(p);
                c.arg("--child-serve").arg(home.root());
                c
            }
        };
        Ok(cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?)
    }
}

fn ask(home: &Home, request: &Request) -> Option<Result<Value>> {
    entraide_net::client::ask_daemon(home, request).map(|r| {
        r.map(|reply| reply.json)
            .map_err(|f| anyhow!("{}", f.message))
    })
}

fn wait_for_daemon(home: &Home, child: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("`serve` exited early ({status})");
        }
        // `peers`: an answer that reads no document, so that waiting for
        // the daemon does not load what the scenario measures.
        if let Some(Ok(_)) = ask(home, &Request::Peers) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("`serve` did not answer within 120 s")
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn stop(mut child: Child) -> Result<()> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

fn child_serve(home: &str) -> Result<()> {
    let home = Home::new(home);
    let node = Node::open(&home, ZONE)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let daemon = Daemon::start(&home, node, loopback(0)).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        daemon
            .run_until(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            })
            .await?;
        Ok(())
    })
}

/// Loads `files` with automerge alone; prints this process's peak RSS
/// (KiB, scenario 8's baseline) and the loads' time (ns).
fn child_load(files: &[String]) -> Result<()> {
    let saves = files
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<Vec<_>>>()?;
    let start = Instant::now();
    let mut docs = Vec::new();
    for bytes in &saves {
        docs.push(AutoCommit::load(bytes)?);
    }
    let took = start.elapsed();
    println!(
        "{} {}",
        peak_rss_kib(std::process::id()).context("no VmHWM in /proc")?,
        took.as_nanos()
    );
    drop(docs);
    Ok(())
}

/// `automerge::load` of `saves` in new processes of this program (which
/// links the same libraries), whose heap holds nothing yet, as a
/// command's or a newcomer's does: the first touch of every page the load
/// needs is part of it, where [`load_time`] repeats the load in a process
/// that already has them. The peak RSS of the first, the median time of
/// `runs`.
fn load_in_new_process(
    dir: &Path,
    saves: &[(DocKind, Vec<u8>)],
    runs: usize,
) -> Result<(u64, Duration)> {
    let mut files = Vec::new();
    for (kind, bytes) in saves {
        let path = dir.join(format!("save-{}.automerge", kind.name().replace('/', "-")));
        std::fs::write(&path, bytes)?;
        files.push(path);
    }
    let mut kib = None;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let out = Command::new(std::env::current_exe()?)
            .arg("--child-load")
            .args(&files)
            .output()?;
        ensure!(out.status.success(), "the load child failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.split_whitespace();
        let peak: u64 = fields.next().context("no peak RSS")?.parse()?;
        let nanos: u64 = fields.next().context("no time")?.parse()?;
        kib.get_or_insert(peak);
        times.push(Duration::from_nanos(nanos));
    }
    Ok((kib.unwrap_or(0), median(times)))
}

fn child_exec(home: &str, request: &str) -> Result<()> {
    let home = Home::new(home);
    let mut node =
        entraide_net::client::open_node(&home, ZONE).map_err(|f| anyhow!("{}", f.message))?;
    let reply = node.execute(serde_json::from_str(request)?)?;
    println!("{}", reply.json);
    Ok(())
}

// ---------------------------------------------------------------- scenario 1 (and 8): a new member's first sync

struct FirstSync {
    flow: Flow,
    /// When the newcomer started handling its last frames of each kind.
    timeline: Value,
    admission: usize,
    /// Each newcomer's join, the first (the one traced) first.
    walls: Vec<Duration>,
    /// One `load()` of `saves` after each join, the baseline of `walls`.
    loads: Vec<Duration>,
    saves: Vec<(DocKind, Vec<u8>)>,
    file_bytes: usize,
    files: usize,
}

/// Serves `home_a` (a `Daemon`, in this process so that both ends of the
/// session are recorded), invites a new organisation and runs
/// `oneshot::join` for it: admission on `entraide/join/5`, then the sync
/// session on `entraide/sync/10`, whose frames `traffic` records. Checks that
/// the newcomer then holds exactly `expected` heads and every library file.
fn first_sync(
    rt: &tokio::runtime::Runtime,
    home_a: &Home,
    port: u16,
    newcomer: &Home,
    expected: &BTreeMap<DocKind, Vec<ChangeHash>>,
    runs: usize,
) -> Result<FirstSync> {
    let (flow, timeline, walls, loads, request, saves, mut n) = rt.block_on(async {
        let node_a = Node::open(home_a, ZONE)?;
        let a_dev = node_a.device().0;
        let a = Daemon::start(home_a, node_a, loopback(port)).await?;
        let ticket = daemon_ticket(&a).await?;
        let node = Node::init(newcomer, "Nouvelle association", ZONE)?;
        let n_dev = node.device().0;
        let request = node.join_request(&ticket)?;
        traffic::take();
        traffic::enable(true);
        let start = Instant::now();
        let joined = entraide_net::oneshot::join(node, &ticket, Duration::from_secs(600)).await;
        let mut walls = vec![start.elapsed()];
        traffic::enable(false);
        joined?;
        let events = traffic::take();
        let mine = frames(&events, n_dev, a_dev);
        let flow = flow(&mine, &frames(&events, a_dev, n_dev));
        let t0 = mine.iter().map(|e| e.at).min().unwrap_or_else(Instant::now);
        let last = |kinds: &[&str]| {
            mine.iter()
                .filter(|e| !e.sent && kinds.contains(&e.kind))
                .map(|e| ms(e.at - t0))
                .fold(0.0, f64::max)
        };
        let timeline = json!({
            "last_docs_handled_ms": last(&["Docs", "Ops"]),
            "last_file_part_handled_ms": last(&["BlobParts"]),
            "session_end_ms": ms(flow.span),
        });
        a.stop().await?;
        let mut n = Node::open(newcomer, ZONE)?;
        let mut saves = Vec::new();
        for (kind, heads) in expected {
            let bytes = export(&mut n, &kind.name())?;
            ensure!(
                &sorted_heads(&mut AutoCommit::load(&bytes)?) == heads,
                "the newcomer's {kind} differs from the inviter's"
            );
            saves.push((*kind, bytes));
        }
        // After each join, one `load()` of the same documents: the
        // baseline is measured between the joins, so that a slower stretch
        // of the machine weighs on both alike.
        let mut loads = vec![load_time(&saves, 1)?];
        // More newcomers, timed alone, each with the inviter started
        // afresh as for the first: one join's wall time swings by a third
        // between runs on two shared cores, their median much less.
        for i in 1..runs {
            let a = Daemon::start(home_a, Node::open(home_a, ZONE)?, loopback(port)).await?;
            let ticket = daemon_ticket(&a).await?;
            let home = Home::new(newcomer.root().with_extension(format!("again-{i}")));
            let node = Node::init(&home, &format!("Nouvelle association {i}"), ZONE)?;
            let start = Instant::now();
            entraide_net::oneshot::join(node, &ticket, Duration::from_secs(600)).await?;
            walls.push(start.elapsed());
            a.stop().await?;
            loads.push(load_time(&saves, 1)?);
        }
        Ok::<_, anyhow::Error>((flow, timeline, walls, loads, request, saves, n))
    })?;
    let admission = wire::encode(&JoinMsg::Request(request)).len()
        + wire::encode(&JoinMsg::Admitted(n.ops_for(&[]))).len();
    ensure!(
        n.missing_blobs()?.is_empty(),
        "the newcomer lacks library files"
    );
    let files: Vec<Value> = n
        .execute(Request::LibraryList {
            kind: None,
            tag: None,
            search: None,
        })?
        .json
        .as_array()
        .cloned()
        .unwrap_or_default();
    let file_bytes = files.iter().filter_map(|f| f["size"].as_u64()).sum::<u64>() as usize;
    Ok(FirstSync {
        flow,
        timeline,
        admission,
        walls,
        loads,
        saves,
        file_bytes,
        files: files.len(),
    })
}

struct MemoryRun {
    started_kib: u64,
    joined_kib: u64,
    peak_kib: u64,
    join: Duration,
}

/// Peak memory (VmHWM) of `serve` as its own process on `home_a`, while it
/// starts, answers a new member's `join` (whole documents) and a query.
fn serve_memory(
    rt: &tokio::runtime::Runtime,
    cli: &Cli,
    home_a: &Home,
    newcomer: &Home,
    query: &str,
) -> Result<MemoryRun> {
    let mut serve = cli.serve(home_a)?;
    let result = (|| {
        wait_for_daemon(home_a, &mut serve)?;
        let started_kib = peak_rss_kib(serve.id()).context("no VmHWM in /proc")?;
        let invite = ask(
            home_a,
            &Request::Invite {
                role: "member".into(),
                expires: "1h".into(),
            },
        )
        .context("the daemon did not answer")??;
        let ticket = Ticket::decode(invite["ticket"].as_str().context("no ticket")?)?;
        let node = Node::init(newcomer, "Autre association", ZONE)?;
        let start = Instant::now();
        rt.block_on(entraide_net::oneshot::join(
            node,
            &ticket,
            Duration::from_secs(600),
        ))?;
        let wall = start.elapsed();
        let joined_kib = peak_rss_kib(serve.id()).context("no VmHWM in /proc")?;
        let answer = ask(
            home_a,
            &Request::Bookings {
                resource: Some(query.into()),
                org: None,
                from: None,
                to: None,
            },
        )
        .context("the daemon did not answer")??;
        ensure!(answer.as_array().is_some_and(|a| !a.is_empty()));
        let peak_kib = peak_rss_kib(serve.id()).context("no VmHWM in /proc")?;
        Ok(MemoryRun {
            started_kib,
            joined_kib,
            peak_kib,
            join: wall,
        })
    })();
    stop(serve)?;
    result
}

fn load_time(saves: &[(DocKind, Vec<u8>)], repeats: usize) -> Result<Duration> {
    let mut runs = Vec::new();
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        for (_, b) in saves {
            std::hint::black_box(AutoCommit::load(b)?);
        }
        runs.push(t.elapsed());
    }
    Ok(median(runs))
}

/// What splitting the calendar per resource would add to a newcomer's
/// first sync, beside its 8 parts today: each device signs its latest
/// change in each document apart, so one attestation per (document,
/// booking device) pair. A projection from the synthetic alliance and the
/// encoded size of an attestation, printed as a note.
fn split_price(
    report: &mut Report,
    fs: &FirstSync,
    resources: &[String],
    bookers: &HashSet<(usize, usize)>,
) {
    let save: usize = fs.saves.iter().map(|(_, b)| b.len()).sum();
    let key = SigningKey::from_bytes(&[1; 32]);
    let one = Attestation::sign(&key, &[2; 32], DocKind::Calendar(Part::FIRST), [3; 32], 250);
    let bundle = |n: usize| {
        wire::encode(&Msg::Docs(Bundle {
            doc: DocKind::Calendar(Part::FIRST),
            bytes: Vec::new(),
            attestations: vec![one.clone(); n],
        }))
        .len()
    };
    let each = (bundle(100) - bundle(0)) as f64 / 100.0;
    let per_part = bookers
        .iter()
        .map(|&(r, m)| (Part::of(&resources[r]), m))
        .collect::<HashSet<_>>()
        .len();
    let pairs = bookers.len();
    let more = pairs.saturating_sub(per_part) as f64 * each;
    report.note(format!(
        "1b: the calendar split per resource would be signed as {pairs} (document, device) pairs, not {per_part} \
         (its 8 parts): {} B more attestations ({each:.0} B each) on the first sync, {:.1} % of save() (the target leaves 10 %)",
        group(more as u64),
        100.0 * more / save as f64
    ));
}

fn report_first_sync(
    report: &mut Report,
    rt: &tokio::runtime::Runtime,
    cfg: &Config,
    id: &str,
    what: &str,
    fs: &FirstSync,
) -> Result<()> {
    let save: usize = fs.saves.iter().map(|(_, b)| b.len()).sum();
    let load = median(fs.loads.clone());
    let file_kinds = ["WantBlobs", "BlobParts", "NoBlob"];
    let file_traffic: usize = file_kinds
        .iter()
        .filter_map(|k| fs.flow.by_kind.get(k))
        .sum();
    let doc_traffic = fs.flow.sent + fs.flow.received - file_traffic + fs.admission;
    let docs: Vec<Vec<u8>> = fs.saves.iter().map(|(_, b)| b.clone()).collect();
    let empty: Vec<Vec<u8>> = docs.iter().map(|_| Vec::new()).collect();
    let native = rt.block_on(native_sync(&docs, &empty))?;
    for (i, (_, b)) in fs.saves.iter().enumerate() {
        ensure!(
            native.heads[i] == sorted_heads(&mut AutoCommit::load(b)?),
            "native sync did not converge"
        );
    }
    let native_bytes = (native.flow.sent + native.flow.received) as f64;
    report.push(
        Row::new(
            id,
            format!("{what}: bytes both ways, signatures and admission included"),
            doc_traffic as f64,
            Unit::Bytes,
        )
        .vs("save()", save as f64)
        .ratio_at_most(1.10),
    );
    report.push(
        Row::new(
            id,
            format!("{what}: automerge sync protocol, bytes both ways"),
            native_bytes,
            Unit::Bytes,
        )
        .vs("save()", save as f64),
    );
    if fs.files > 0 {
        report.push(
            Row::new(
                id,
                format!(
                    "{what}: library files, bytes both ways ({} files)",
                    fs.files
                ),
                file_traffic as f64,
                Unit::Bytes,
            )
            .vs("file sizes", fs.file_bytes as f64),
        );
    }
    report.push(
        Row::new(
            id,
            format!("{what}: round trips after connect, until the session ends"),
            f64::from(fs.flow.rt_done),
            Unit::Count,
        )
        .vs("automerge", f64::from(native.flow.rt_done))
        .at_most(2.0),
    );
    report.push(
        Row::new(
            id,
            format!("{what}: round trips until the last document byte"),
            f64::from(fs.flow.rt_data),
            Unit::Count,
        )
        .vs("automerge", f64::from(native.flow.rt_data)),
    );
    let wall = median(fs.walls.clone());
    report.push(
        Row::new(
            id,
            format!(
                "{what}: wall time of `join` (admission + sync + stored), median of {}",
                fs.walls.len()
            ),
            ms(wall),
            Unit::Ms,
        )
        .vs("load()", ms(load))
        .ratio_at_most(1.5),
    );
    let cold_dir = tempfile::tempdir()?;
    let (_, cold) = load_in_new_process(cold_dir.path(), &fs.saves, cfg.repeats.max(3))?;
    report.push(
        Row::new(
            id,
            format!("{what}: wall time of `join`, against load() in a new process"),
            ms(wall),
            Unit::Ms,
        )
        .vs("load(), new process", ms(cold)),
    );
    report.push(
        Row::new(
            id,
            format!("{what}: automerge sync protocol, wall time (not stored)"),
            ms(native.time),
            Unit::Ms,
        )
        .vs("load()", ms(load)),
    );
    report.detail(
        &format!("scenario_{id}"),
        json!({
            "save_bytes": fs.saves.iter().map(|(k, b)| (k.name(), b.len())).collect::<BTreeMap<_, _>>(),
            "admission_bytes": fs.admission,
            "session": flow_json(&fs.flow),
            "timeline": fs.timeline,
            "files": fs.files,
            "file_bytes": fs.file_bytes,
            "wall_ms": ms(wall),
            "walls_ms": fs.walls.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "load_ms": ms(load),
            "load_new_process_ms": ms(cold),
            "native": flow_json(&native.flow),
            "native_ms": ms(native.time),
        }),
    );
    Ok(())
}

// ---------------------------------------------------------------- scenario 2: back after a month offline

fn month_offline(
    report: &mut Report,
    rt: &tokio::runtime::Runtime,
    cfg: &Config,
    edits: &[Edit],
    trace_members: &[Member],
    dir: &Path,
) -> Result<()> {
    let n = edits.len();
    let (common, a_new, b_new) = (
        &edits[..n * 8 / 10],
        &edits[n * 8 / 10..n * 9 / 10],
        &edits[n * 9 / 10..],
    );
    let port = free_port()?;
    let mut a = found(&dir.join("s2-a"), "Maison médicale", port)?;
    for m in trace_members {
        admit_member(&mut a, m)?;
    }
    let mut b = Node::init(&Home::new(dir.join("s2-b")), "Groupe Terre", ZONE)?;
    admit_node(&mut a, &mut b)?;
    let b_key = SigningKey::from_bytes(&b.secret_key_bytes());
    let devs: Vec<[u8; 32]> = trace_members.iter().map(Member::device).collect();
    let mut base = genesis(DocKind::Charter)?;
    replay(
        &mut base,
        common,
        cfg.edits_per_change,
        cfg.burst_changes,
        &devs,
        T0,
    )?;
    let common_heads = base.get_heads();
    let mut a_doc = base.fork();
    replay(
        &mut a_doc,
        a_new,
        cfg.edits_per_change,
        cfg.burst_changes,
        &[devs[0], devs[2]],
        T0 + 1_000_000_000,
    )?;
    let mut b_doc = base.fork();
    replay(
        &mut b_doc,
        b_new,
        cfg.edits_per_change,
        cfg.burst_changes,
        &[b.device().0],
        T0 + 2_000_000_000,
    )?;
    let missing_compressed =
        a_doc.save_after(&common_heads).len() + b_doc.save_after(&common_heads).len();
    let missing_raw: usize = a_doc
        .get_changes(&common_heads)
        .iter()
        .chain(b_doc.get_changes(&common_heads).iter())
        .map(|c| c.raw_bytes().len())
        .sum();
    let new_changes =
        a_doc.get_changes(&common_heads).len() + b_doc.get_changes(&common_heads).len();
    let keys: Vec<&SigningKey> = trace_members.iter().map(|m| &m.key).collect();
    inject(&mut a, DocKind::Charter, &mut a_doc, &keys)?;
    let mut b_keys = keys.clone();
    b_keys.push(&b_key);
    inject(&mut b, DocKind::Charter, &mut b_doc, &b_keys)?;
    let mut union = a_doc.fork();
    union.merge(&mut b_doc.fork())?;
    let union_heads = sorted_heads(&mut union);
    let b_device = b.device().0;
    let a_device = a.device().0;
    let home_a = a.home().clone();
    let home_b = b.home().clone();

    let (flow, wall) = rt.block_on(async {
        let daemon = Daemon::start(&home_a, a, loopback(port)).await?;
        traffic::take();
        traffic::enable(true);
        let start = Instant::now();
        let report = entraide_net::oneshot::sync_once(b, Duration::from_secs(300)).await?;
        let wall = start.elapsed();
        traffic::enable(false);
        ensure!(
            !report.synced.is_empty(),
            "the returning member could not sync: {:?}",
            report.failed
        );
        let events = traffic::take();
        let flow = flow(
            &frames(&events, b_device, a_device),
            &frames(&events, a_device, b_device),
        );
        let exported = daemon
            .execute(Request::Export {
                doc: "charter".into(),
            })
            .await?
            .file
            .context("no export")?;
        ensure!(
            sorted_heads(&mut AutoCommit::load(&exported)?) == union_heads,
            "A does not hold B's changes"
        );
        daemon.stop().await?;
        Ok::<_, anyhow::Error>((flow, wall))
    })?;
    let mut b = Node::open(&home_b, ZONE)?;
    ensure!(
        sorted_heads(&mut AutoCommit::load(&export(&mut b, "charter")?)?) == union_heads,
        "B does not hold A's changes"
    );
    let native = rt.block_on(native_sync(&[a_doc.save()], &[b_doc.save()]))?;
    ensure!(
        native.heads[0] == union_heads,
        "native sync did not converge"
    );

    report.push(
        Row::new(
            "2",
            format!("month offline ({new_changes} new changes): bytes both ways"),
            (flow.sent + flow.received) as f64,
            Unit::Bytes,
        )
        .vs("missing changes", missing_compressed as f64)
        .ratio_at_most(1.2),
    );
    report.push(
        Row::new(
            "2",
            "month offline: automerge sync protocol, bytes both ways",
            (native.flow.sent + native.flow.received) as f64,
            Unit::Bytes,
        )
        .vs("missing changes", missing_compressed as f64),
    );
    report.push(
        Row::new(
            "2",
            "month offline: round trips after connect, until the session ends",
            f64::from(flow.rt_done),
            Unit::Count,
        )
        .vs("automerge", f64::from(native.flow.rt_done))
        .at_most(3.0),
    );
    report.push(
        Row::new(
            "2",
            "month offline: wall time of `sync` (both sides stored)",
            ms(wall),
            Unit::Ms,
        )
        .vs("automerge", ms(native.time)),
    );
    report.detail(
        "scenario_2",
        json!({
            "edits": {"common": common.len(), "a_new": a_new.len(), "b_new": b_new.len()},
            "new_changes": new_changes,
            "missing_changes_compressed_bytes": missing_compressed,
            "missing_changes_raw_bytes": missing_raw,
            "session": flow_json(&flow),
            "wall_ms": ms(wall),
            "native": flow_json(&native.flow),
            "native_ms": ms(native.time),
        }),
    );
    Ok(())
}

// ---------------------------------------------------------------- scenario 9: a room's past

/// How many `book`s scenario 9 times on each room.
const ROOM_SAMPLES: usize = 21;

/// `book` through the library API on a room that holds `cfg.room_history`
/// bookings (made through the same API, one after the other), beside the
/// same on an empty room of the same home: the p50 of `ROOM_SAMPLES` each,
/// taking turns.
fn room_history(report: &mut Report, cfg: &Config, dir: &Path) -> Result<()> {
    let mut a = found(&dir.join("s9"), "Maison médicale", 9)?;
    let (busy, fresh) = ("Salle du passé", "Salle neuve");
    for name in [busy, fresh] {
        a.execute(Request::ResourceAdd {
            name: name.into(),
            kind: "room".into(),
            capacity: None,
            location: None,
            quota: None,
            approval: false,
            hours: None,
            group: None,
        })?;
    }
    let (_, filled) = timed(|| {
        for i in 0..cfg.room_history {
            a.execute(book(busy, i, T0))?;
        }
        Ok(())
    })?;
    let later = T0 + (cfg.room_history as i64 + 1) * 2 * HOUR;
    let (mut on_busy, mut on_fresh) = (Vec::new(), Vec::new());
    for i in 0..ROOM_SAMPLES {
        on_busy.push(timed(|| Ok(a.execute(book(busy, i, later))?))?.1);
        on_fresh.push(timed(|| Ok(a.execute(book(fresh, i, later))?))?.1);
    }
    report.push(
        Row::new(
            "9",
            format!(
                "`book` on a room with {} past bookings, p50",
                cfg.room_history
            ),
            ms(median(on_busy)),
            Unit::Ms,
        )
        .vs("empty room", ms(median(on_fresh)))
        .ratio_at_most(1.5),
    );
    // The week a calendar page shows, holding the same bookings on both
    // rooms (the ones just timed): only the busy room has a past.
    let (week_from, _) = slot(0, later);
    let (week_to, _) = slot(7 * 12, later);
    let week = |resource: &str| Request::Bookings {
        resource: Some(resource.into()),
        org: None,
        from: Some(week_from.clone()),
        to: Some(week_to.clone()),
    };
    let listed = |reply: &entraide_node::Reply| reply.json.as_array().map_or(0, Vec::len);
    let (mut week_busy, mut week_fresh) = (Vec::new(), Vec::new());
    for _ in 0..ROOM_SAMPLES {
        let (reply, took) = timed(|| Ok(a.execute(week(busy))?))?;
        ensure!(
            listed(&reply) == ROOM_SAMPLES,
            "scenario 9: the busy room's week lists {} bookings, not {ROOM_SAMPLES}",
            listed(&reply)
        );
        week_busy.push(took);
        let (reply, took) = timed(|| Ok(a.execute(week(fresh))?))?;
        ensure!(
            listed(&reply) == ROOM_SAMPLES,
            "scenario 9: the empty room's week lists {} bookings, not {ROOM_SAMPLES}",
            listed(&reply)
        );
        week_fresh.push(took);
    }
    report.push(
        Row::new(
            "9",
            format!(
                "a week of a room with {} past bookings (`bookings --from --to`), p50",
                cfg.room_history
            ),
            ms(median(week_busy)),
            Unit::Ms,
        )
        .vs("empty room", ms(median(week_fresh)))
        .ratio_at_most(1.5),
    );
    // A room booked from two nodes in touch: each `book` of A comes right
    // after a booking of B on the same room, received through the sync
    // core (and B receives A's in turn).
    let mut b = Node::init(&Home::new(dir.join("s9b")), "Ferme des enfants", ZONE)?;
    admit_node(&mut a, &mut b)?;
    push(&mut a, &mut b)?;
    let (theirs, mine) = (later + 200 * 2 * HOUR, later + 400 * 2 * HOUR);
    let (mut after_busy, mut after_fresh) = (Vec::new(), Vec::new());
    for i in 0..ROOM_SAMPLES {
        for (room, times) in [(busy, &mut after_busy), (fresh, &mut after_fresh)] {
            b.execute(book(room, i, theirs))?;
            push(&mut b, &mut a)?;
            times.push(timed(|| Ok(a.execute(book(room, i, mine))?))?.1);
            push(&mut a, &mut b)?;
        }
    }
    report.push(
        Row::new(
            "9",
            format!(
                "`book` on a room with {} past bookings after one received from another member, p50",
                cfg.room_history
            ),
            ms(median(after_busy)),
            Unit::Ms,
        )
        .vs("empty room", ms(median(after_fresh)))
        .ratio_at_most(1.5),
    );
    report.details.insert(
        "9".into(),
        json!({
            "past_bookings": cfg.room_history,
            "filling_ms": ms(filled),
            "samples": ROOM_SAMPLES,
        }),
    );
    Ok(())
}

// ---------------------------------------------------------------- scenario 3: one booking reaching a connected member

fn slot(i: usize, base: i64) -> (String, String) {
    let from = base + i as i64 * 2 * HOUR;
    let f = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    };
    (f(from), f(from + HOUR))
}

fn book(resource: &str, i: usize, base: i64) -> Request {
    let (from, to) = slot(i, base);
    Request::Book {
        resource: resource.into(),
        from,
        to,
        purpose: "Réunion de coordination".into(),
        repeat: None,
        count: None,
        until: None,
    }
}

/// Raw sizes of the last `n` changes `device` made to the calendar.
/// The sizes of `device`'s latest `n` changes in the calendar's parts
/// (`calendar/<n>` as exported, one after the other).
fn own_change_sizes(parts: &[Vec<u8>], device: [u8; 32], n: usize) -> Result<Vec<usize>> {
    let mut sizes: Vec<(i64, u64, usize)> = Vec::new();
    for part in parts {
        let mut doc = AutoCommit::load(part)?;
        sizes.extend(
            doc.get_changes(&[])
                .iter()
                .filter(|c| entraide_docs::device_of_actor(c.actor_id().to_bytes()) == Some(device))
                .map(|c| (c.timestamp(), c.seq(), c.raw_bytes().len())),
        );
    }
    sizes.sort();
    Ok(sizes.iter().rev().take(n).map(|(_, _, s)| *s).collect())
}

/// Every part of the calendar, as `export calendar/<n>` writes it.
fn export_parts(n: &mut Node) -> Result<Vec<Vec<u8>>> {
    Part::all()
        .map(|p| export(n, &DocKind::Calendar(p).name()))
        .collect()
}

async fn connected(daemon: &Daemon, peer: [u8; 32]) -> Result<bool> {
    let peers = daemon.execute(Request::Peers).await?.json;
    Ok(peers.as_array().into_iter().flatten().any(|p| {
        p["device"].as_str() == Some(hex(&peer).as_str()) && p["connected"].as_bool() == Some(true)
    }))
}

fn live_booking(
    report: &mut Report,
    rt: &tokio::runtime::Runtime,
    cfg: &Config,
    home_a: &Home,
    port_a: u16,
    home_b: &Home,
    resources: &[String],
) -> Result<()> {
    let n = cfg.latency_bookings;
    let base = T0 + 5 * 365 * 24 * HOUR;
    let (commits, beyond, totals, flow_ab, flow_ba, sizes, new_sessions) = rt.block_on(async {
        // A serves where B met it (the ticket's address); B dials it. Only B
        // knows an address of the other, so exactly one session opens.
        let node_a = Node::open(home_a, ZONE)?;
        let a_dev = node_a.device().0;
        let a = Daemon::start(home_a, node_a, loopback(port_a)).await?;
        let node_b = Node::open(home_b, ZONE)?;
        let b_dev = node_b.device().0;
        let b = Daemon::start(home_b, node_b, loopback(0)).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(connected(&a, b_dev).await? && connected(&b, a_dev).await?) {
            ensure!(Instant::now() < deadline, "A and B did not connect");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the first session's exchange settle.
        tokio::time::sleep(Duration::from_millis(500)).await;
        traffic::take();
        traffic::enable(true);
        let mut rx = b.subscribe();
        let (mut commits, mut beyond, mut totals) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            rx.borrow_and_update();
            let t0 = Instant::now();
            a.execute(book(&resources[i % resources.len()], i, base))
                .await?;
            let t1 = Instant::now();
            tokio::time::timeout(Duration::from_secs(30), rx.changed())
                .await
                .context("B did not receive a booking within 30 s")??;
            let t2 = Instant::now();
            commits.push(ms(t1 - t0));
            beyond.push(ms(t2 - t1));
            totals.push(ms(t2 - t0));
        }
        traffic::enable(false);
        let events = traffic::take();
        let (flow_ab, flow_ba) = (
            flow(&frames(&events, a_dev, b_dev), &[]),
            flow(&frames(&events, b_dev, a_dev), &[]),
        );
        // A Hello during the run is a second session between A and B.
        let new_sessions = events
            .iter()
            .filter(|e| e.sent && e.kind == "Hello")
            .count();
        // B holds every booking A made.
        let mut parts = Vec::new();
        for part in Part::all() {
            let doc = DocKind::Calendar(part).name().into_owned();
            parts.push(
                b.execute(Request::Export { doc })
                    .await?
                    .file
                    .context("no export")?,
            );
        }
        let sizes = own_change_sizes(&parts, a_dev, n)?;
        ensure!(
            sizes.len() == n,
            "B holds {} of A's {n} bookings",
            sizes.len()
        );
        a.stop().await?;
        b.stop().await?;
        Ok::<_, anyhow::Error>((
            commits,
            beyond,
            totals,
            flow_ab,
            flow_ba,
            sizes,
            new_sessions,
        ))
    })?;
    let sort = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let (commits, beyond, totals) = (sort(commits), sort(beyond), sort(totals));
    let change = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
    let per_booking = (flow_ab.sent + flow_ba.sent) as f64 / n as f64;
    report.push(
        Row::new(
            "3",
            format!("one booking A→B, p50 latency beyond A's commit ({n} bookings)"),
            percentile(&beyond, 50.0),
            Unit::Ms,
        )
        .vs("A's commit p50", percentile(&commits, 50.0))
        .at_most(5.0),
    );
    report.push(
        Row::new(
            "3",
            "one booking A→B, p99 latency beyond A's commit",
            percentile(&beyond, 99.0),
            Unit::Ms,
        )
        .vs("A's commit p99", percentile(&commits, 99.0)),
    );
    report.push(
        Row::new(
            "3",
            "one booking A→B, bytes on the wire per booking (both ways)",
            per_booking,
            Unit::Bytes,
        )
        .vs("the change", change)
        .at_most(change + 200.0),
    );
    report.detail(
        "scenario_3",
        json!({
            "bookings": n,
            "beyond_commit_ms": {"p50": percentile(&beyond, 50.0), "p99": percentile(&beyond, 99.0), "max": beyond.last()},
            "a_commit_ms": {"p50": percentile(&commits, 50.0), "p99": percentile(&commits, 99.0)},
            "total_ms": {"p50": percentile(&totals, 50.0), "p99": percentile(&totals, 99.0)},
            "a_to_b": flow_json(&flow_ab),
            "b_to_a": flow_json(&flow_ba),
            "change_bytes_mean": change,
            "hellos_during_run": new_sessions,
        }),
    );
    if new_sessions > 0 {
        report.note(format!(
            "scenario 3: {new_sessions} Hello frames during the run: A and B opened another session while connected, and each booking travelled on both"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- scenario 4: convergence at scale

/// Virtual time one round stands for: one message's way across a link. The
/// sessions read time only for their patience with a question
/// (`WANT_PATIENCE_MS`, 600 rounds), their ticks (`TICK_MS`, 150 rounds)
/// and the refill of their budgets: a run of a few dozen rounds reaches
/// neither, and its figures do not depend on this value.
const ROUND_MS: u64 = 50;

/// A node and its live sessions, one with each neighbour: the real state
/// machine (`entraide_node::session`), driven as `entraide-net` drives it.
struct SimNode {
    node: Node,
    /// Its session with each neighbour (one per direction of each link).
    sessions: BTreeMap<usize, Session>,
    /// Messages arrived this round, from whom, in the order sent.
    inbox: Vec<(usize, Msg)>,
    /// Messages to send, to whom, in order, each with its size as a whole
    /// frame (`wire::encode`, done by the sender, as a daemon's would be).
    outbox: Vec<(usize, Msg, usize)>,
    /// The node changed: each of its sessions hears `NodeChanged`.
    changed: bool,
    receives: usize,
    /// Frames and bytes that arrived at this node after the hellos.
    frames_in: usize,
    bytes_in: usize,
    error: Option<String>,
}

impl SimNode {
    /// Hands `event` to the session with `j` at virtual time `now` and
    /// carries out its output as the network driver does: its messages go
    /// out, a changed node tells all its sessions, more file parts are sent
    /// while there are more. A session that ends (refused, throttled) fails
    /// the run: none should here.
    fn step(&mut self, j: usize, event: Event, now: u64) -> Result<()> {
        let mut event = Some(event);
        while let Some(ev) = event.take() {
            let session = self.sessions.get_mut(&j).context("no session")?;
            let out = session.handle(&mut self.node, ev, now);
            self.outbox.extend(out.send.into_iter().map(|m| {
                let len = wire::encode(&m).len();
                (j, m, len)
            }));
            self.changed |= out.node_changed || out.members_changed;
            if let Some(end) = out.end {
                bail!("the session with node {j} ended: {end:?}");
            }
            if out.more {
                event = Some(Event::Drained);
            }
        }
        Ok(())
    }

    /// Says hello to every neighbour.
    fn start(&mut self, now: u64) -> Result<()> {
        let peers: Vec<usize> = self.sessions.keys().copied().collect();
        for j in peers {
            self.step(j, Event::Start, now)?;
        }
        Ok(())
    }

    /// One round at this node: the messages that arrived, each to its
    /// session in the order sent; the tick if one is due; then, if the node
    /// changed, `NodeChanged` to every session, until none changes it
    /// again. Like the network driver, whose sessions read waiting
    /// messages before a change notice (a biased select) and whose notices
    /// coalesce (a watch channel).
    fn round(&mut self, now: u64, tick: bool) -> Result<()> {
        let mut last_sender = None;
        for (from, msg) in std::mem::take(&mut self.inbox) {
            if matches!(msg, Msg::Docs(_)) {
                self.receives += 1;
            }
            self.step(from, Event::Received(msg), now)?;
            last_sender = Some(from);
        }
        // Nothing more is waiting: what arrived becomes durable, one commit.
        if let Some(from) = last_sender {
            self.step(from, Event::Idle, now)?;
        }
        let peers: Vec<usize> = self.sessions.keys().copied().collect();
        if tick {
            for &j in &peers {
                self.step(j, Event::Tick, now)?;
            }
        }
        while std::mem::take(&mut self.changed) {
            for &j in &peers {
                self.step(j, Event::NodeChanged, now)?;
            }
        }
        Ok(())
    }
}

fn par_each(items: &mut [SimNode], f: impl Fn(usize, &mut SimNode) -> Result<()> + Sync) {
    // Two threads a core: while one node waits on its disk (a flush),
    // another works, as separate daemons would.
    let threads = (2 * std::thread::available_parallelism().map_or(2, usize::from))
        .min(items.len())
        .max(1);
    // Each thread takes the next node still waiting, so that one busy node
    // does not leave the other cores idle until the round ends.
    let queue: Vec<std::sync::Mutex<&mut SimNode>> =
        items.iter_mut().map(std::sync::Mutex::new).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (f, queue, next) = (&f, &queue, &next);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(slot) = queue.get(i) else { break };
                    let Ok(mut item) = slot.lock() else { break };
                    if let Err(e) = f(i, &mut item) {
                        item.error = Some(format!("{e:#}"));
                    }
                }
            });
        }
    });
}

/// The virtual clock of scenario 4.
#[derive(Default)]
struct Clock {
    /// Virtual milliseconds since the sessions started.
    now: u64,
    /// When the sessions hear the next `Tick` (the driver's interval ticks
    /// once at the start).
    next_tick: u64,
    ticks: usize,
}

/// What crossed the links until the nodes were quiet.
#[derive(Default)]
struct Traffic {
    rounds: usize,
    frames: usize,
    bytes: usize,
}

impl Clock {
    /// Runs rounds until no message is on the way and no node changed. In
    /// each round every node handles what arrived (in parallel,
    /// `par_each`), then every message it sent crosses its link
    /// (`ROUND_MS` of virtual time), counted as a whole frame
    /// (`wire::encode`). Every `TICK_MS` of virtual time each session hears
    /// `Tick`; with nothing on the way and a question unanswered, time
    /// moves to the next tick, as a waiting daemon's would.
    fn settle(&mut self, sim: &mut [SimNode], what: &str) -> Result<Traffic> {
        let limit = 20 * sim.len();
        let mut t = Traffic::default();
        let mut waits = 0;
        loop {
            let (now, tick) = (self.now, self.now >= self.next_tick);
            if tick {
                self.next_tick += TICK_MS;
                self.ticks += 1;
            }
            par_each(sim, |_, s| s.round(now, tick));
            if let Some(e) = sim.iter().find_map(|s| s.error.clone()) {
                bail!("{what} failed: {e}");
            }
            t.rounds += 1;
            let mut moved = 0;
            for i in 0..sim.len() {
                for (j, msg, len) in std::mem::take(&mut sim[i].outbox) {
                    t.bytes += len;
                    sim[j].frames_in += 1;
                    sim[j].bytes_in += len;
                    t.frames += 1;
                    moved += 1;
                    sim[j].inbox.push((i, msg));
                }
            }
            let quiet = moved == 0 && sim.iter().all(|s| !s.changed);
            let asking = sim
                .iter()
                .any(|s| s.sessions.values().any(Session::is_asking));
            if quiet && !asking {
                self.now += ROUND_MS;
                return Ok(t);
            }
            if quiet {
                waits += 1;
                ensure!(
                    waits <= (WANT_PATIENCE_MS / TICK_MS + 2) as usize,
                    "{what}: a question is never answered"
                );
                self.now = self.next_tick;
            } else {
                waits = 0;
                self.now += ROUND_MS;
            }
            ensure!(t.rounds < limit, "{what}: no end after {} rounds", t.rounds);
        }
    }
}

/// A connected graph where every node has at most `degree` neighbours: a
/// ring, then random chords.
fn topology(n: usize, degree: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut adj: Vec<HashSet<usize>> = vec![HashSet::new(); n];
    for i in 0..n {
        let j = (i + 1) % n;
        if i != j {
            adj[i].insert(j);
            adj[j].insert(i);
        }
    }
    for _ in 0..n * degree * 4 {
        let (i, j) = (rng.below(n), rng.below(n));
        if i != j && adj[i].len() < degree && adj[j].len() < degree {
            adj[i].insert(j);
            adj[j].insert(i);
        }
    }
    adj.into_iter()
        .map(|s| {
            let mut v: Vec<usize> = s.into_iter().collect();
            v.sort();
            v
        })
        .collect()
}

struct Convergence {
    time: Duration,
    bookings_time: Duration,
    bytes: usize,
    lower_bound: usize,
    frames: usize,
    rounds: usize,
    receives: usize,
    /// The node that received the most bytes after the hellos: its bytes,
    /// (and the most frames and bundles any node received).
    busiest_bytes_in: usize,
    busiest_frames_in: usize,
    busiest_receives: usize,
    max_degree: usize,
    /// The sessions' hellos, before the bookings.
    connect: Traffic,
    /// Virtual time from the bookings until the nodes were quiet (the
    /// rounds × `ROUND_MS`).
    virtual_ms: u64,
    ticks: usize,
}

/// `n` nodes, each connected to at most 6 others by live sessions (the
/// real state machine, `entraide_node::session::Session`, one at each end
/// of each link), which say hello before the bookings. Each node then makes
/// `per_node` bookings at once (durable `book` through `Node::execute`, all
/// before the clock starts: `bookings_time` is reported apart), and its
/// sessions hear that it changed. The sessions spread the bookings by their
/// own rules in rounds (`Clock::settle`): every message sent in a round
/// arrives in the next, one hop. The time is until no message is on the
/// way, when every node must hold every booking. Nodes work on two threads
/// a core (`par_each`). Bytes are whole frames (`wire::encode`, by the
/// sender) after the hellos, which are counted apart.
fn convergence(cfg: &Config, n: usize, dir: &Path, rng: &mut Rng) -> Result<Convergence> {
    let dir = dir.join(format!("s4-{n}"));
    let mut founder = found(&dir.join("n0"), "Organisation 0", 9)?;
    for r in 0..cfg.convergence_resources {
        founder.execute(Request::ResourceAdd {
            name: format!("Salle {r}"),
            kind: "room".into(),
            capacity: Some(10),
            location: None,
            quota: None,
            approval: false,
            hours: None,
            group: None,
        })?;
    }
    let resources: Vec<String> = founder
        .execute(Request::ResourceList)?
        .json
        .as_array()
        .context("no resources")?
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    let mut nodes = vec![founder];
    for i in 1..n {
        let mut b = Node::init(
            &Home::new(dir.join(format!("n{i}"))),
            &format!("Organisation {i}"),
            ZONE,
        )?;
        admit_node(&mut nodes[0], &mut b)?;
        nodes.push(b);
    }
    let (first, rest) = nodes.split_at_mut(1);
    for b in rest {
        push(&mut first[0], b)?;
    }
    let adj = topology(n, 6, rng);
    let start_heads: Vec<Vec<ChangeHash>> = export_parts(&mut nodes[0])?
        .iter()
        .map(|b| Ok(sorted_heads(&mut AutoCommit::load(b)?)))
        .collect::<Result<_>>()?;
    let devices: Vec<DeviceId> = nodes.iter().map(Node::device).collect();
    let mut sim: Vec<SimNode> = nodes
        .into_iter()
        .enumerate()
        .map(|(i, node)| SimNode {
            node,
            sessions: adj[i]
                .iter()
                .map(|&j| (j, Session::new(devices[j], Mode::Live)))
                .collect(),
            inbox: Vec::new(),
            outbox: Vec::new(),
            changed: false,
            receives: 0,
            frames_in: 0,
            bytes_in: 0,
            error: None,
        })
        .collect();
    let mut clock = Clock::default();
    par_each(&mut sim, |_, s| s.start(0));
    let connect = clock.settle(&mut sim, &format!("the hellos at {n} nodes"))?;
    let base = T0 + 6 * 365 * 24 * HOUR;
    let per_node = cfg.convergence_bookings;
    let booking_start = Instant::now();
    par_each(&mut sim, |i, s| {
        for r in 0..per_node {
            s.node.execute(book(
                &resources[(i + r) % resources.len()],
                i * per_node + r,
                base,
            ))?;
        }
        s.changed = true;
        Ok(())
    });
    let bookings_time = booking_start.elapsed();
    if let Some(e) = sim.iter().find_map(|s| s.error.clone()) {
        bail!("bookings at {n} nodes failed: {e}");
    }
    for s in &mut sim {
        (s.frames_in, s.bytes_in) = (0, 0);
    }
    let (from, ticks) = (clock.now, clock.ticks);
    let start = Instant::now();
    let spread = clock.settle(&mut sim, &format!("convergence at {n} nodes"))?;
    let time = start.elapsed();
    let calendar_vvs = |node: &mut Node| -> Vec<VersionVector> {
        Part::all()
            .map(|p| node.doc_version_vector(DocKind::Calendar(p)))
            .collect()
    };
    let target = calendar_vvs(&mut sim[0].node);
    for s in &mut sim {
        ensure!(
            calendar_vvs(&mut s.node) == target,
            "a node did not converge"
        );
    }
    let (mut count, mut bytes) = (0, 0);
    for (part, heads) in export_parts(&mut sim[0].node)?.iter().zip(&start_heads) {
        let changes = AutoCommit::load(part)?.get_changes(heads);
        count += changes.len();
        bytes += changes.iter().map(|c| c.raw_bytes().len()).sum::<usize>();
    }
    ensure!(count == n * per_node, "bookings are missing");
    let lower_bound = bytes * (n - 1);
    Ok(Convergence {
        time,
        bookings_time,
        bytes: spread.bytes,
        lower_bound,
        frames: spread.frames,
        rounds: spread.rounds,
        receives: sim.iter().map(|s| s.receives).sum(),
        busiest_bytes_in: sim.iter().map(|s| s.bytes_in).max().unwrap_or(0),
        busiest_frames_in: sim.iter().map(|s| s.frames_in).max().unwrap_or(0),
        busiest_receives: sim.iter().map(|s| s.receives).max().unwrap_or(0),
        max_degree: adj.iter().map(Vec::len).max().unwrap_or(0),
        connect,
        virtual_ms: clock.now - from,
        ticks: clock.ticks - ticks,
    })
}

// ---------------------------------------------------------------- scenario 5: durable local writes

fn local_writes(home: &Home, resources: &[String], n: usize, base: i64) -> Result<(Vec<f64>, f64)> {
    let mut node = Node::open(home, ZONE)?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let request = book(&resources[i % resources.len()], i, base);
        let t = Instant::now();
        node.execute(request)?;
        times.push(ms(t.elapsed()));
    }
    let sizes = own_change_sizes(&export_parts(&mut node)?, node.device().0, n)?;
    times.sort_by(f64::total_cmp);
    Ok((
        times,
        sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64,
    ))
}

/// A redb `Durability::Immediate` commit of `bytes` (a chunk) plus an
/// attestation-sized value, as the node's store writes them, `n` times,
/// into a new database at `path`.
fn raw_commits(path: &Path, bytes: usize, n: usize) -> Result<Vec<f64>> {
    const CHUNKS: redb::TableDefinition<(&str, u64), &[u8]> = redb::TableDefinition::new("chunks");
    const EXTRAS: redb::TableDefinition<(&str, &[u8]), &[u8]> =
        redb::TableDefinition::new("extras");
    let db = redb::Database::create(path)?;
    timed_commits(&db, CHUNKS, EXTRAS, &["calendar".into()], bytes, n)
}

/// The same commits into a copy of a home's store (`path`), into the
/// tables where its node keeps the calendar's chunks and attestations,
/// going round the calendar's parts as the bookings do: what redb itself
/// costs on a store of that size, whatever the node adds.
fn raw_commits_into_store(path: &Path, bytes: usize, n: usize) -> Result<Vec<f64>> {
    // The store's own table names (entraide-store keeps them private).
    const CHUNKS: redb::TableDefinition<(&str, u64), &[u8]> =
        redb::TableDefinition::new("doc_chunks_v1");
    const EXTRAS: redb::TableDefinition<(&str, &[u8]), &[u8]> =
        redb::TableDefinition::new("doc_extras_v1");
    let db = redb::Database::open(path)?;
    let parts: Vec<String> = Part::all()
        .map(|p| DocKind::Calendar(p).name().into_owned())
        .collect();
    timed_commits(&db, CHUNKS, EXTRAS, &parts, bytes, n)
}

fn timed_commits(
    db: &redb::Database,
    chunks: redb::TableDefinition<(&str, u64), &[u8]>,
    extras: redb::TableDefinition<(&str, &[u8]), &[u8]>,
    docs: &[String],
    bytes: usize,
    n: usize,
) -> Result<Vec<f64>> {
    let chunk = vec![0x5au8; bytes];
    let extra = vec![0xa5u8; 140];
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let doc = docs[i % docs.len()].as_str();
        let t = Instant::now();
        let mut tx = db.begin_write()?;
        tx.set_durability(redb::Durability::Immediate)?;
        {
            let mut c = tx.open_table(chunks)?;
            // After every chunk the document holds, as a new one goes.
            c.insert((doc, (1 << 40) + i as u64), chunk.as_slice())?;
            let mut e = tx.open_table(extras)?;
            e.insert((doc, &[7u8; 32][..]), extra.as_slice())?;
        }
        tx.commit()?;
        times.push(ms(t.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn process_runs(
    cli: &Cli,
    home: &Home,
    runs: usize,
    request: impl Fn(usize) -> (Request, Vec<String>),
) -> Result<Vec<f64>> {
    let mut times = Vec::new();
    for i in 0..runs {
        let (req, args) = request(i);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let t = Instant::now();
        cli.run(home, &req, &args)?;
        times.push(ms(t.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn book_args(resource: &str, i: usize, base: i64) -> (Request, Vec<String>) {
    let (from, to) = slot(i, base);
    (
        book(resource, i, base),
        vec![
            "book".into(),
            resource.into(),
            "--from".into(),
            from,
            "--to".into(),
            to,
            "--purpose".into(),
            "Réunion de coordination".into(),
        ],
    )
}

/// `book` through `Node::execute` (a durable commit each), beside a raw redb
/// commit of the same bytes, on a fresh home and on the big one; writes go
/// round the resources, as an alliance's bookings do.
fn durable_writes(
    report: &mut Report,
    cfg: &Config,
    cli: &Cli,
    dir: &Path,
    big: (&Home, &[String]),
) -> Result<()> {
    let n = cfg.local_writes;
    let mut small = found(&dir.join("s5-small"), "Petite association", 9)?;
    let rooms: Vec<String> = (1..=20).map(|r| format!("Salle {r}")).collect();
    for name in &rooms {
        small.execute(Request::ResourceAdd {
            name: name.clone(),
            kind: "room".into(),
            capacity: Some(12),
            location: None,
            quota: None,
            approval: false,
            hours: None,
            group: None,
        })?;
    }
    let small_home = small.home().clone();
    drop(small);
    let base = T0 + 7 * 365 * 24 * HOUR;
    for (k, (label, home, resources)) in [
        ("a fresh home", &small_home, rooms.as_slice()),
        ("the big home", big.0, big.1),
    ]
    .into_iter()
    .enumerate()
    {
        // A copy of the store as the writes find it.
        let copy = dir.join(format!("raw-copy-{k}.redb"));
        std::fs::copy(home.store_path(), &copy)?;
        let (times, change) = local_writes(home, resources, n, base)?;
        let raw = raw_commits(
            &dir.join(format!("raw-{k}.redb")),
            change.round() as usize,
            n,
        )?;
        let in_store = raw_commits_into_store(&copy, change.round() as usize, n)?;
        std::fs::remove_file(&copy)?;
        report.push(
            Row::new(
                "5",
                format!("`book` through Node::execute on {label}, p50 ({n} writes)"),
                percentile(&times, 50.0),
                Unit::Ms,
            )
            .vs("redb commit p50", percentile(&raw, 50.0))
            .ratio_at_most(1.5),
        );
        report.push(
            Row::new(
                "5",
                format!("`book` through Node::execute on {label}, p99"),
                percentile(&times, 99.0),
                Unit::Ms,
            )
            .vs("redb commit p99", percentile(&raw, 99.0))
            .ratio_at_most(1.5),
        );
        report.push(
            Row::new(
                "5",
                format!("the same `book` on {label}, against a commit into a copy of its store"),
                percentile(&times, 50.0),
                Unit::Ms,
            )
            .vs("redb commit there p50", percentile(&in_store, 50.0)),
        );
        let runs = process_runs(cli, home, cfg.process_runs, |i| {
            book_args(&resources[(n + i) % resources.len()], n + i, base)
        })?;
        report.push(
            Row::new(
                "5",
                format!(
                    "`entraide book` as a process on {label}, p50 ({} runs)",
                    cfg.process_runs
                ),
                percentile(&runs, 50.0),
                Unit::Ms,
            )
            .vs("redb commit p50", percentile(&raw, 50.0)),
        );
        report.detail(
            &format!("scenario_5_{}", label.replace(' ', "_")),
            json!({
                "book_ms": {"p50": percentile(&times, 50.0), "p99": percentile(&times, 99.0), "max": times.last()},
                "redb_ms": {"p50": percentile(&raw, 50.0), "p99": percentile(&raw, 99.0)},
                "redb_into_a_copy_of_the_store_ms": {"p50": percentile(&in_store, 50.0), "p99": percentile(&in_store, 99.0)},
                "change_bytes_mean": change,
                "process_ms": {"p50": percentile(&runs, 50.0), "max": runs.last()},
            }),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- scenario 6: cold start

fn cold_start(
    report: &mut Report,
    cfg: &Config,
    cli: &Cli,
    home: &Home,
    saves: &[(DocKind, Vec<u8>)],
    resource: &str,
    expected: usize,
) -> Result<()> {
    // What the answer reads: the calendar (documents load when a command
    // first needs them).
    let read: Vec<(DocKind, Vec<u8>)> = saves
        .iter()
        .filter(|(kind, _)| *kind == DocKind::calendar_of(resource))
        .cloned()
        .collect();
    let bookings = |query: &str| Request::Bookings {
        resource: Some(query.into()),
        org: None,
        from: None,
        to: None,
    };
    // What a user types: the room's name, as `resource list` shows it.
    let name: String;
    // The same question to a node already open, as `serve` answers the
    // command line (and the web interface) while it runs.
    let mut warm = Vec::new();
    {
        let mut node = Node::open(home, ZONE)?;
        let list = node.execute(Request::ResourceList)?.json;
        name = list
            .as_array()
            .and_then(|l| l.iter().find(|r| r["id"] == resource))
            .and_then(|r| r["name"].as_str())
            .context("the resource's name")?
            .to_owned();
        for _ in 0..(cfg.repeats.max(3) * 10) {
            let (count, t) = timed(|| {
                let answer = node.execute(bookings(resource))?;
                Ok(answer.json.as_array().map_or(0, Vec::len))
            })?;
            ensure!(count == expected, "{count} bookings, expected {expected}");
            warm.push(t);
        }
    }
    warm.sort();
    // Each round measures every cold start and both baselines once, one
    // after the other, so that a slower stretch of the machine weighs on
    // the baselines as on what they are the baselines of.
    let cold_dir = tempfile::tempdir()?;
    let (mut in_process, mut loads, mut colds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut runs, mut by_name, mut starts) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..cfg.repeats.max(3) * 3 {
        let ((), t) = timed(|| {
            let mut node = Node::open(home, ZONE)?;
            let answer = node.execute(bookings(resource))?;
            let count = answer.json.as_array().map_or(0, Vec::len);
            ensure!(count == expected, "{count} bookings, expected {expected}");
            Ok(())
        })?;
        in_process.push(t);
        loads.push(load_time(&read, 1)?);
        // `entraide bookings --resource <query>` as a process. The first
        // process after the in-process runs is the slower (about 2 ms
        // here, by id or by name alike): each goes first every other round.
        let mut queries = [(resource, &mut runs), (name.as_str(), &mut by_name)];
        if round % 2 == 1 {
            queries.reverse();
        }
        for (query, times) in queries {
            times.extend(process_runs(cli, home, 1, |_| {
                (
                    bookings(query),
                    vec!["bookings".into(), "--resource".into(), query.into()],
                )
            })?);
        }
        colds.push(load_in_new_process(cold_dir.path(), &read, 1)?.1);
        starts.push(cli.start_only()?);
    }
    runs.sort_by(f64::total_cmp);
    by_name.sort_by(f64::total_cmp);
    let load = median(loads);
    let cold = median(colds);
    let process = percentile(&runs, 50.0);
    report.push(
        Row::new(
            "6",
            "cold start to the first answer of `bookings --resource X`, process",
            process,
            Unit::Ms,
        )
        .vs("load() of the calendar part read", ms(load))
        .ratio_at_most(1.5)
        .at_most(300.0),
    );
    report.push(
        Row::new(
            "6",
            "the same cold start, the room given by its name, process",
            percentile(&by_name, 50.0),
            Unit::Ms,
        )
        .vs("load() of the calendar part read", ms(load))
        .ratio_at_most(1.5)
        .at_most(300.0),
    );
    report.push(
        Row::new(
            "6",
            "the same cold start, against load() of the part in a new process",
            process,
            Unit::Ms,
        )
        .vs("load(), new process", ms(cold)),
    );
    report.push(
        Row::new(
            "6",
            "of which a process of the same program that only starts and exits",
            ms(median(starts.clone())),
            Unit::Ms,
        )
        .vs("the cold start, process", process),
    );
    report.push(
        Row::new(
            "6",
            "cold start: Node::open + execute(Bookings), in-process",
            ms(median(in_process.clone())),
            Unit::Ms,
        )
        .vs("load() of the calendar part read", ms(load))
        .ratio_at_most(1.5)
        .at_most(300.0),
    );
    report.push(
        Row::new(
            "6",
            "`bookings --resource X` on an open node (as `serve` answers), p50",
            ms(warm[warm.len() / 2]),
            Unit::Ms,
        )
        .vs("cold start, in-process", ms(median(in_process.clone())))
        .at_most(100.0),
    );
    report.detail(
        "scenario_6",
        json!({
            "warm_ms": {"p50": ms(warm[warm.len() / 2]), "p99": ms(warm[warm.len() * 99 / 100]), "count": warm.len()},
            "save_bytes": saves.iter().map(|(k, b)| (k.name(), b.len())).collect::<BTreeMap<_, _>>(),
            "load_ms": ms(load),
            "load_new_process_ms": ms(cold),
            "process_ms": runs,
            "by_name_process_ms": by_name,
            "in_process_ms": in_process.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "start_only_ms": starts.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "answer_bookings": expected,
        }),
    );
    Ok(())
}

// ---------------------------------------------------------------- scenario 7: authorship verification

/// Every author taken as a member of one organisation: the authority check
/// runs its rules without the membership's cost.
struct EveryoneMember;

impl entraide_docs::Members for EveryoneMember {
    fn org_of(&self, _device: &[u8; 32]) -> Option<String> {
        Some("org".into())
    }

    fn coordinator_at(&self, _org: &str, _heads: &[[u8; 32]]) -> Option<bool> {
        Some(false)
    }
}

/// `receive_bundle` of the whole trace on fresh member nodes, against the
/// same receipt without any check (`AutoCommit::load` of the bundle, the
/// full save the node stores, and a durable redb commit of it): the
/// difference is the checks (signatures, membership, causal cover, and the
/// authority check of every operation). A third measure is the receipt with
/// the authority check alone (`SharedDoc::apply_verified` with every author
/// taken as a member and no signatures). Fastest of several interleaved runs
/// each.
fn verification(
    report: &mut Report,
    cfg: &Config,
    dir: &Path,
    label: &str,
    trace: &mut AutoCommit,
    trace_members: &[Member],
) -> Result<()> {
    let tag = label.replace(' ', "-");
    let mut f = found(&dir.join(format!("s7-{tag}")), "Fondatrice", 9)?;
    for m in trace_members {
        admit_member(&mut f, m)?;
    }
    let keys: Vec<&SigningKey> = trace_members.iter().map(|m| &m.key).collect();
    let b = bundle(&f, DocKind::Charter, trace, &keys)?;
    let changes = trace.get_changes_meta(&[]).len();
    let (mut with_check, mut without, mut loads) = (Vec::new(), Vec::new(), Vec::new());
    let mut authority_only = Vec::new();
    let (mut split_without, mut split_authority) = (Vec::new(), Vec::new());
    let (mut cpu_without, mut cpu_authority) = (Vec::new(), Vec::new());
    let (prefix, rest) = {
        let order = trace.get_changes_meta(&[]);
        let cut = order[order.len() / 10].hash;
        (trace.fork_at(&[cut])?.save(), trace.save_after(&[cut]))
    };
    const T: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("t");
    let db = redb::Database::create(dir.join(format!("s7-{tag}-raw.redb")))?;
    {
        // Grow the file once, as the node's store has grown before.
        let tx = db.begin_write()?;
        tx.open_table(T)?.insert(u64::MAX, b.bytes.as_slice())?;
        tx.commit()?;
    }
    for r in 0..cfg.repeats.max(3) {
        let mut v = Node::init(
            &Home::new(dir.join(format!("s7-{tag}-v{r}"))),
            &format!("Vérificatrice {r}"),
            ZONE,
        )?;
        admit_node(&mut f, &mut v)?;
        let (_, t) = timed(|| Ok(v.receive_bundle(&b)?))?;
        with_check.push(t);
        // The same receipt with no check at all, and with the authority
        // check alone (every author taken as a member, no signatures).
        for (checked, into) in [(false, &mut without), (true, &mut authority_only)] {
            let (_, t) = timed(|| {
                let saved = if checked {
                    let mut doc = SharedDoc::new(DocKind::Charter, v.device().0);
                    doc.apply_verified(&b.bytes, &EveryoneMember, |_| Ok::<(), String>(()))
                        .map_err(|e| anyhow!("{e}"))?;
                    doc.save()
                } else {
                    // What the receipt does without any check: load the
                    // save as automerge does (column by column).
                    AutoCommit::load(&b.bytes)?.save()
                };
                let tx = db.begin_write()?;
                tx.open_table(T)?.insert(r as u64, saved.as_slice())?;
                tx.commit()?;
                Ok(())
            })?;
            into.push(t);
        }
        let (_, t) = timed(|| Ok(AutoCommit::load(&b.bytes)?))?;
        loads.push(t);
        // A member catching up: it holds the first tenth of the trace and
        // receives the rest as the changes themselves (a live session's
        // bundle), checked one by one before automerge applies them.
        for (checked, into, cpu) in [
            (false, &mut split_without, &mut cpu_without),
            (true, &mut split_authority, &mut cpu_authority),
        ] {
            let mut doc = SharedDoc::new(DocKind::Charter, v.device().0);
            doc.apply_verified(&prefix, &EveryoneMember, |_| Ok::<(), String>(()))
                .map_err(|e| anyhow!("{e}"))?;
            let cpu_before = cpu_time();
            let (_, t) = timed(|| {
                if checked {
                    doc.apply_verified(&rest, &EveryoneMember, |_| Ok::<(), String>(()))
                        .map_err(|e| anyhow!("{e}"))?;
                } else {
                    doc.load_incremental(&rest)?;
                }
                Ok(())
            })?;
            cpu.push(cpu_time().saturating_sub(cpu_before));
            into.push(t);
        }
    }
    // The fastest of several runs: the least disturbed by other work.
    let fastest = |v: Vec<Duration>| v.into_iter().min().unwrap_or_default();
    let (with_check, without, load) = (fastest(with_check), fastest(without), fastest(loads));
    let authority = fastest(authority_only);
    let (split_without, split_authority) = (fastest(split_without), fastest(split_authority));
    let (cpu_without, cpu_authority) = (fastest(cpu_without), fastest(cpu_authority));
    let check = with_check.saturating_sub(without);
    report.push(
        Row::new(
            "7",
            format!("authorship check on receipt, {label} ({changes} changes)"),
            ms(check),
            Unit::Ms,
        )
        .vs("load()", ms(load))
        .at_most(500.0),
    );
    report.push(
        Row::new(
            "7",
            format!("receive_bundle of {label}: check, load, store"),
            ms(with_check),
            Unit::Ms,
        )
        .vs("without check", ms(without)),
    );
    report.push(
        Row::new(
            "7",
            format!("receive of {label} with the authority check alone"),
            ms(authority),
            Unit::Ms,
        )
        .vs("without check", ms(without))
        .ratio_at_most(1.1),
    );
    report.push(
        Row::new(
            "7",
            format!("catching up on 9/10 of {label} as changes, authority check alone"),
            ms(split_authority),
            Unit::Ms,
        )
        .vs("without check", ms(split_without))
        .ratio_at_most(1.1),
    );
    // The check runs beside automerge on the other core for a large
    // bundle: the same catch-up in CPU time says what it costs in work.
    report.push(
        Row::new(
            "7",
            format!("the same catch-up of {label} in CPU time (both cores)"),
            ms(cpu_authority),
            Unit::Ms,
        )
        .vs("without check", ms(cpu_without)),
    );
    report.detail(
        &format!("scenario_7_{tag}"),
        json!({
            "changes": changes,
            "bytes": b.bytes.len(),
            "receive_bundle_ms": ms(with_check),
            "without_check_ms": ms(without),
            "check_ms": ms(check),
            "authority_only_ms": ms(authority),
            "catch_up_without_check_ms": ms(split_without),
            "catch_up_authority_only_ms": ms(split_authority),
            "catch_up_cpu_without_check_ms": ms(cpu_without),
            "catch_up_cpu_authority_only_ms": ms(cpu_authority),
            "load_ms": ms(load),
        }),
    );
    Ok(())
}

// ---------------------------------------------------------------- the run

fn machine(dir: &Path) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let disk = Command::new("df")
        .args(["-hT"])
        .arg(dir)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .nth(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, usize::from),
        "cpu": cpu,
        "memory": mem,
        "disk_of_temp_dir": disk,
    })
}

fn step(name: &str) {
    eprintln!("== {name}");
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child-serve") => return child_serve(args.get(1).context("home")?),
        Some("--child-exec") => {
            return child_exec(
                args.get(1).context("home")?,
                args.get(2).context("request")?,
            );
        }
        Some("--child-load") => return child_load(&args[1..]),
        Some("--child-start") => return Ok(()),
        _ => {}
    }
    const USAGE: &str = "usage: cargo run --release --example bench -- [--quick] [--json PATH] [--only 1a,3,...] [--nodes 8,32,64] [--per-node 100]\n\
        (BENCH_KEEP=1 keeps the homes; BENCH_FRAMES=1 prints every frame; ENTRAIDE_DATA, ENTRAIDE_BIN)";
    let mut quick = false;
    let mut json_path = None;
    let mut only: Option<Vec<String>> = None;
    let mut nodes: Option<Vec<usize>> = None;
    let mut per_node: Option<usize> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--json" => json_path = Some(PathBuf::from(it.next().context("--json PATH")?)),
            "--only" => {
                only = Some(
                    it.next()
                        .context("--only 1a,3,...")?
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                );
            }
            "--nodes" => {
                let list = it.next().context("--nodes 8,32,64")?;
                nodes = Some(
                    list.split(',')
                        .map(|n| n.trim().parse::<usize>())
                        .collect::<Result<_, _>>()
                        .with_context(|| {
                            format!("--nodes takes numbers like 8,32,64, not {list}")
                        })?,
                );
            }
            "--per-node" => {
                let n = it.next().context("--per-node 10")?;
                per_node = Some(
                    n.parse()
                        .with_context(|| format!("--per-node takes a number, not {n}"))?,
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}; {USAGE}"),
        }
    }
    // `--only 1` selects 1a, 1b and the real documents.
    let want = |id: &str| {
        only.as_ref()
            .is_none_or(|o| o.iter().any(|w| id.starts_with(w.as_str())))
    };
    let mut cfg = Config::new(quick);
    if let Some(nodes) = nodes {
        cfg.convergence_nodes = nodes;
    }
    if let Some(n) = per_node {
        cfg.convergence_bookings = n;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    if std::env::var_os("BENCH_KEEP").is_some() {
        eprintln!("homes kept in {}", dir.display());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cli = Cli::find()?;
    let mut rng = Rng(0x656e_7472_6169_6465);
    let mut report = Report {
        rows: Vec::new(),
        details: serde_json::Map::new(),
        notes: Vec::new(),
    };
    let machine = machine(dir);
    let data = data_dir();

    step("data");
    let edits = load_trace(data.as_deref(), cfg.trace_edits, &mut rng)?;
    match &data {
        Some(_) => report.note(format!(
            "data: {} edits of ../shared/data/edits.json (or $ENTRAIDE_DATA), {} edits per change, devices taking turns every {} changes",
            edits.len(),
            cfg.edits_per_change,
            cfg.burst_changes
        )),
        None => report.note(
            "data: ../shared/data not found (set ENTRAIDE_DATA): synthetic trace, no real documents",
        ),
    }
    report.note(format!("processes: {}", cli.describe()));
    let trace_members = members(&mut rng, 3, 0);
    let devs: Vec<[u8; 32]> = trace_members.iter().map(Member::device).collect();
    let mut trace = genesis(DocKind::Charter)?;
    let changes = replay(
        &mut trace,
        &edits,
        cfg.edits_per_change,
        cfg.burst_changes,
        &devs,
        T0,
    )?;
    eprintln!("   trace: {changes} changes");

    if want("7") {
        step("7 authorship verification");
        verification(
            &mut report,
            &cfg,
            dir,
            "the trace",
            &mut trace,
            &trace_members,
        )?;
    }
    if cfg.per_edit_trace && want("7") {
        let mut per_edit = genesis(DocKind::Charter)?;
        replay(
            &mut per_edit,
            &edits,
            1,
            cfg.burst_changes * cfg.edits_per_change,
            &devs,
            T0,
        )?;
        verification(
            &mut report,
            &cfg,
            dir,
            "the trace, one change per edit",
            &mut per_edit,
            &trace_members,
        )?;
    }

    if want("1a") {
        step("1a first sync of the trace charter");
        let trace_home = {
            let mut t = found(&dir.join("s1a"), "Maison médicale", 9)?;
            for m in &trace_members {
                admit_member(&mut t, m)?;
            }
            let keys: Vec<&SigningKey> = trace_members.iter().map(|m| &m.key).collect();
            inject(&mut t, DocKind::Charter, &mut trace, &keys)?;
            t.home().clone()
        };
        let expected: BTreeMap<DocKind, Vec<ChangeHash>> =
            [(DocKind::Charter, sorted_heads(&mut trace))].into();
        let fs = first_sync(
            &rt,
            &trace_home,
            free_port()?,
            &Home::new(dir.join("s1a-newcomer")),
            &expected,
            cfg.joins,
        )?;
        report_first_sync(&mut report, &rt, &cfg, "1a", "trace charter", &fs)?;
    }

    let big = ["1b", "3", "5", "6", "8"].iter().any(|id| want(id));
    if big {
        step("building the alliance");
        let orgs = members(
            &mut rng,
            cfg.orgs - 1 - trace_members.len(),
            trace_members.len(),
        );
        let all: Vec<&Member> = trace_members.iter().chain(orgs.iter()).collect();
        let owned: Vec<Member> = all
            .iter()
            .map(|m| Member {
                key: m.key.clone(),
                org_id: m.org_id.clone(),
                org_name: m.org_name.clone(),
            })
            .collect();
        let (mut synth, t) = timed(|| synth_alliance(&cfg, &owned, &mut rng))?;
        eprintln!("   generated in {:.1} s", t.as_secs_f64());
        let big_home = {
            let mut a = found(&dir.join("big"), "Maison médicale du Midi", 9)?;
            for m in &owned {
                admit_member(&mut a, m)?;
            }
            let trace_keys: Vec<&SigningKey> = trace_members.iter().map(|m| &m.key).collect();
            let all_keys: Vec<&SigningKey> = owned.iter().map(|m| &m.key).collect();
            inject(&mut a, DocKind::Charter, &mut trace, &trace_keys)?;
            for (kind, doc) in &mut synth.docs {
                inject(&mut a, *kind, doc, &all_keys)?;
            }
            for (hash, bytes) in &synth.blobs {
                let whole = a.receive_blob_part(hash, 0, bytes.len() as u64, bytes.clone())?;
                ensure!(whole, "a library file was not stored whole");
            }
            let mut count = |r: Request| -> Result<usize> {
                Ok(a.execute(r)?.json.as_array().map_or(0, Vec::len))
            };
            ensure!(count(Request::ResourceList)? == cfg.resources);
            ensure!(
                count(Request::LibraryList {
                    kind: None,
                    tag: None,
                    search: None
                })? == cfg.library
            );
            ensure!(count(Request::ValuesList)? == cfg.values);
            ensure!(count(Request::Proposals { open: false })? == cfg.proposals);
            a.home().clone()
        };
        report.note(format!(
        "alliance: {} organisations, {} resources, {} bookings, {} library entries with their files, {} values with {} endorsements each, {} proposals with {} votes each",
        cfg.orgs,
        cfg.resources,
        cfg.bookings,
        cfg.library,
        cfg.values,
        cfg.endorsements_per_value,
        cfg.proposals,
        cfg.votes_per_proposal
    ));
        let resource = synth.resources[0].clone();
        let mut expected: BTreeMap<DocKind, Vec<ChangeHash>> =
            [(DocKind::Charter, sorted_heads(&mut trace))].into();
        for (kind, doc) in &mut synth.docs {
            expected.insert(*kind, sorted_heads(doc));
        }

        let mut saves = Vec::new();
        {
            let mut node = Node::open(&big_home, ZONE)?;
            for kind in DocKind::ALL {
                saves.push((kind, export(&mut node, &kind.name())?));
            }
        }
        if want("6") {
            step("6 cold start");
            cold_start(
                &mut report,
                &cfg,
                &cli,
                &big_home,
                &saves,
                &resource,
                synth.first_resource_bookings,
            )?;
        }

        let newcomer = Home::new(dir.join("big-newcomer"));
        let big_port = free_port()?;
        if want("1b") || want("3") {
            step("1b first sync of the whole alliance");
            let fs = first_sync(&rt, &big_home, big_port, &newcomer, &expected, cfg.joins)?;
            report_first_sync(&mut report, &rt, &cfg, "1b", "whole alliance", &fs)?;
            split_price(&mut report, &fs, &synth.resources, &synth.resource_bookers);
        }

        if want("8") {
            step("8 peak memory of serve");
            let save_total: usize = saves.iter().map(|(_, b)| b.len()).sum();
            let mem = serve_memory(
                &rt,
                &cli,
                &big_home,
                &Home::new(dir.join("big-newcomer-2")),
                &resource,
            )?;
            report.push(
                Row::new(
                    "8",
                    "peak RSS of `serve` on the big home (start, a new member's join, a query)",
                    mem.peak_kib as f64 / 1024.0,
                    Unit::MiB,
                )
                .vs(
                    "3×save()+50 MB",
                    (3 * save_total) as f64 / MIB + 50_000_000.0 / MIB,
                )
                .ratio_at_most(1.0),
            );
            // The same documents loaded by automerge alone.
            let (load_kib, _) = load_in_new_process(dir, &saves, 1)?;
            report.push(
                Row::new(
                    "8",
                    "peak RSS of `serve` once started, before any peer",
                    mem.started_kib as f64 / 1024.0,
                    Unit::MiB,
                )
                .vs("automerge::load alone", load_kib as f64 / 1024.0),
            );
            report.detail(
                "scenario_8",
                json!({
                    "vm_hwm_kib_started": mem.started_kib,
                    "vm_hwm_kib_after_join": mem.joined_kib,
                    "vm_hwm_kib_after_query": mem.peak_kib,
                    "vm_hwm_kib_automerge_load_only": load_kib,
                    "save_bytes_total": save_total,
                    "join_against_serve_process_ms": ms(mem.join),
                }),
            );
        }

        if want("3") {
            step("3 one booking reaching a connected member");
            live_booking(
                &mut report,
                &rt,
                &cfg,
                &big_home,
                big_port,
                &newcomer,
                &synth.resources,
            )?;
        }

        if want("5") {
            step("5 durable local writes");
            durable_writes(&mut report, &cfg, &cli, dir, (&big_home, &synth.resources))?;
        }
    }

    if want("2") {
        step("2 back after a month offline");
        month_offline(&mut report, &rt, &cfg, &edits, &trace_members, dir)?;
    }

    for &n in cfg.convergence_nodes.iter().filter(|_| want("4")) {
        step(&format!("4 convergence at {n} nodes"));
        let c = convergence(&cfg, n, dir, &mut rng)?;
        let mut time = Row::new(
            "4",
            format!(
                "{n} nodes ≤{} neighbours, {} bookings each: time to converge",
                c.max_degree, cfg.convergence_bookings
            ),
            ms(c.time),
            Unit::Ms,
        );
        let mut bytes = Row::new(
            "4",
            format!("{n} nodes: total bytes"),
            c.bytes as f64,
            Unit::Bytes,
        )
        .vs("each change once to each node", c.lower_bound as f64);
        // The target is issue 17's: 64 nodes, 100 bookings each.
        if n == 64 && cfg.convergence_bookings == 100 {
            time = time.at_most(10_000.0);
            bytes = bytes.ratio_at_most(3.0);
        }
        report.push(time);
        report.push(bytes);
        report.push(Row::new(
            "4",
            format!("{n} nodes: making the bookings (durable, before the clock starts)"),
            ms(c.bookings_time),
            Unit::Ms,
        ));
        // Each node lacked every change but its own.
        let per_node_bound = c.lower_bound as f64 / n as f64;
        report.push(
            Row::new(
                "4",
                format!("{n} nodes: bytes received by the busiest node"),
                c.busiest_bytes_in as f64,
                Unit::Bytes,
            )
            .vs("the changes it lacked", per_node_bound),
        );
        report.push(Row::new(
            "4",
            format!("{n} nodes: rounds (one hop each) until quiet"),
            c.rounds as f64,
            Unit::Count,
        ));
        report.detail(
            &format!("scenario_4_{n}"),
            json!({
                "time_ms": ms(c.time),
                "bookings_time_ms": ms(c.bookings_time),
                "bytes": c.bytes,
                "lower_bound": c.lower_bound,
                "frames": c.frames,
                "rounds": c.rounds,
                "receive_bundle_calls": c.receives,
                "busiest_node": {
                    "bytes_in": c.busiest_bytes_in,
                    "frames_in": c.busiest_frames_in,
                    "receive_bundle_calls": c.busiest_receives,
                },
                "bookings_per_node": cfg.convergence_bookings,
                "max_degree": c.max_degree,
                "virtual_ms": c.virtual_ms,
                "ticks": c.ticks,
                "hello_frames": c.connect.frames,
                "hello_bytes": c.connect.bytes,
                "hello_rounds": c.connect.rounds,
            }),
        );
    }
    if want("9") {
        step("9 a room's past");
        room_history(&mut report, &cfg, dir)?;
    }
    if want("4") {
        report.note(
            "scenario 4 drives the real session state machine (entraide_node::session::Session, one live session at each end of each link, as entraide-net drives it; what a node received in a round made durable in one commit when its messages are handled, Event::Idle) in rounds of virtual time (one hop each), nodes taken in turn by two threads a core; the sessions say hello before the bookings, and the bytes count what follows (the hellos are hello_bytes in the JSON); not daemons: a daemon dials every member it learns of, so at most 6 neighbours cannot be imposed on it",
        );
    }

    if let Some(d) = data.as_ref().filter(|_| want("1")) {
        for name in &cfg.real_docs {
            step(&format!("real document {name}"));
            let bytes = std::fs::read(d.join(name))?;
            let mut doc = AutoCommit::load(&bytes)?;
            let save = doc.save();
            let changes = doc.get_changes_meta(&[]).len();
            let load = load_time(&[(DocKind::Charter, save.clone())], cfg.repeats)?;
            let native = rt.block_on(native_sync(std::slice::from_ref(&save), &[Vec::new()]))?;
            ensure!(
                native.heads[0] == sorted_heads(&mut doc),
                "native sync failed"
            );
            report.push(
                Row::new(
                    "1",
                    format!("{name} ({changes} changes, non-members): automerge sync bytes"),
                    (native.flow.sent + native.flow.received) as f64,
                    Unit::Bytes,
                )
                .vs("save()", save.len() as f64),
            );
            report.push(Row::new(
                "1",
                format!("{name}: automerge sync round trips"),
                f64::from(native.flow.rt_done),
                Unit::Count,
            ));
            report.push(
                Row::new(
                    "1",
                    format!("{name}: automerge sync time"),
                    ms(native.time),
                    Unit::Ms,
                )
                .vs("load()", ms(load)),
            );
        }
    }

    let header = format!(
        "entraide bench ({} run, {:.0} s) on {} cores, {}; disk: {}\n\n",
        if cfg.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64(),
        machine["nproc"],
        machine["cpu"].as_str().unwrap_or("?"),
        machine["disk_of_temp_dir"].as_str().unwrap_or("?"),
    );
    println!("{}", report.table(&header));
    if cfg.quick {
        println!("(quick run: smaller data; verdicts are indicative and nothing fails on timing)");
    }
    if let Some(path) = json_path {
        let out = json!({
            "mode": if cfg.quick { "quick" } else { "full" },
            "seconds": started.elapsed().as_secs_f64(),
            "machine": machine,
            "rows": report.rows.iter().map(Row::json).collect::<Vec<_>>(),
            "details": report.details,
            "notes": report.notes,
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&out)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        let kept = tmp.keep();
        eprintln!("homes kept in {}", kept.display());
    }
    Ok(())
}
