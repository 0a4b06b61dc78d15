//! Attacks by a member whose client is modified (the rogue, R), against two
//! honest organisations (A, the founder and a coordinator, and B), all real
//! `entraide serve` processes on loopback.
//!
//! Each test makes honest data through the stock command line, stops R's
//! node, writes one forbidden change into R's store with R's own device key
//! (a valid attestation: the change really is R's), restarts R's node, and
//! checks that A and B refuse it: they show exactly what they showed before,
//! `entraide audit` names the change with the rule it broke, and an honest
//! edit made on A afterwards still reaches B.
//!
//! So that a test knows R's node has had its chance to deliver the attack,
//! R first writes an honest marker with the stock command line (a value, or
//! the charter when the attack is on the values) before the attack, in
//! another document, and the test waits until A and B show it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ScalarValue};
use entraide_docs::{DocKind, Part};
use entraide_tests::rogue::{self, RogueMember, obj, record_id};
use entraide_tests::{Serve, TestHome, charter, eventually, join, set_charter};
use serde_json::{Value, json};

/// How long a test waits for R's node to come back and deliver its changes.
const DELIVERY_SECS: u64 = 30;

/// The three members and their running nodes.
struct World {
    a: TestHome,
    b: TestHome,
    r: TestHome,
    _sa: Serve,
    _sb: Serve,
    sr: Option<Serve>,
    a_dev: String,
    b_dev: String,
    r_dev: String,
    a_org: String,
    b_org: String,
    r_org: String,
    /// What the honest members made (ids).
    ids: Ids,
}

/// Ids of the honest data every test starts from.
#[derive(Default)]
struct Ids {
    /// A's room, bookings wait for A's approval.
    salle: String,
    /// A's van, no approval.
    van: String,
    /// R's own room.
    r_room: String,
    /// A's booking of the room, approved by A.
    a_salle_booking: String,
    /// B's booking of the room, pending A's decision.
    b_salle_booking: String,
    /// A's booking of the van.
    a_van_booking: String,
    /// A's library entry.
    a_entry: String,
    /// R's library entry.
    r_entry: String,
    /// A's value (A endorses it).
    a_value: String,
    /// R's value (R endorses it).
    r_value: String,
    /// A's open general proposal; A voted, B did not.
    proposal: String,
    /// R's open charter amendment.
    r_amendment: String,
    /// The founding SetProcess motion (passed).
    set_process: String,
    /// A's training (3 seats); A registered for 2 of them.
    event: String,
    /// A's loan to R (1000.00, accepted by R).
    loan: String,
    /// R's receipt of that loan's payout.
    r_payout: String,
}

fn status(home: &TestHome) -> Value {
    home.json(&["status"])
}

fn out(run: &entraide_tests::Run) -> String {
    run.stdout.trim().to_owned()
}

/// `inviter` (whose daemon runs) invites with `role`; the newcomer joins.
fn join_as(inviter: &TestHome, org: &str, role: &str) -> TestHome {
    let ticket = out(&inviter.ok(&["invite", "--role", role]));
    let home = TestHome::new();
    home.ok(&["init", "--org", org]);
    home.ok(&["join", &ticket, "--timeout", "20"]);
    home
}

fn all_heads(home: &TestHome) -> Value {
    status(home)["docs"].clone()
}

/// An alliance of A, B and R (R with `r_role`), with honest data from all
/// three, everyone in sync.
fn world(r_role: &str) -> World {
    let a = TestHome::founded("Asbl A");
    let sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let r = join_as(&a, "Asbl R", r_role);
    let sr = Serve::start(&r);
    let st = |h: &TestHome, k: &str| status(h)[k].as_str().expect(k).to_owned();
    let (a_dev, b_dev, r_dev) = (st(&a, "device"), st(&b, "device"), st(&r, "device"));
    let (a_org, b_org, r_org) = (st(&a, "org_id"), st(&b, "org_id"), st(&r, "org_id"));
    eventually(20, "three active members everywhere", || {
        [&a, &b, &r]
            .iter()
            .all(|h| status(h)["members"].as_u64() == Some(3))
    });

    let mut ids = Ids::default();
    set_charter(&a, "Our charter\n\n1. Solidarity.\n");
    ids.salle = out(&a.ok(&["resource", "add", "Salle", "--kind", "room", "--approval"]));
    ids.van = out(&a.ok(&["resource", "add", "Camionnette", "--kind", "vehicle"]));
    let book = |h: &TestHome, res: &str, from: &str, to: &str, purpose: &str| {
        out(&h.ok(&[
            "book",
            res,
            "--from",
            from,
            "--to",
            to,
            "--purpose",
            purpose,
        ]))
    };
    ids.a_salle_booking = book(&a, "Salle", "2030-06-03T10:00", "2030-06-03T12:00", "AG");
    a.ok(&["booking", "approve", &ids.a_salle_booking]);
    ids.a_van_booking = book(
        &a,
        "Camionnette",
        "2030-06-04T10:00",
        "2030-06-04T12:00",
        "A",
    );
    let file = a.scratch().join("procedure.txt");
    std::fs::write(&file, "Procédure d'accueil\n").expect("write");
    ids.a_entry = out(&a.ok(&[
        "library",
        "add",
        file.to_str().expect("path"),
        "--title",
        "Accueil",
        "--kind",
        "procedure",
    ]));
    ids.a_value = out(&a.ok(&["values", "add", "Solidarité"]));
    ids.proposal = out(&a.ok(&[
        "propose",
        "general",
        "--title",
        "Partager la camionnette",
        "--text",
        "A prête sa camionnette",
        "--process",
        "consent",
        "--deadline",
        "2030-01-01T00:00",
    ]));
    a.ok(&["vote", &ids.proposal, "agree"]);
    ids.event = a.json(&[
        "event",
        "add",
        "Formation",
        "--from",
        "2030-06-11T09:00",
        "--to",
        "2030-06-11T12:00",
        "--seats",
        "3",
    ])["id"]
        .as_str()
        .expect("the event's id")
        .to_owned();
    a.ok(&["event", "register", &ids.event, "--seats", "2"]);
    a.ok(&[
        "org",
        "set",
        "--description",
        "Maison médicale",
        "--offers",
        "salle",
    ]);
    let log = a.json(&["member", "log"]);
    ids.set_process = log
        .as_array()
        .and_then(|l| l.iter().find(|o| o["kind"] == "set-process"))
        .and_then(|o| o["id"].as_str())
        .expect("the founding set-process motion")
        .to_owned();

    // B and R see A's resources before booking them.
    for h in [&b, &r] {
        eventually(20, "the resources reach B and R", || {
            h.json(&["resource", "list"]).as_array().map(Vec::len) == Some(2)
        });
    }
    ids.b_salle_booking = book(&b, "Salle", "2030-06-05T10:00", "2030-06-05T12:00", "B");
    ids.r_room = out(&r.ok(&[
        "resource",
        "add",
        "Bureau R",
        "--kind",
        "room",
        "--capacity",
        "4",
    ]));
    let file = r.scratch().join("statuts.txt");
    std::fs::write(&file, "Statuts de R\n").expect("write");
    ids.r_entry = out(&r.ok(&[
        "library",
        "add",
        file.to_str().expect("path"),
        "--title",
        "Statuts R",
    ]));
    ids.r_value = out(&r.ok(&["values", "add", "Autonomie"]));
    let text = r.scratch().join("amendment.md");
    std::fs::write(&text, "Charter by R\n").expect("write");
    ids.r_amendment = out(&r.ok(&[
        "propose",
        "charter-amendment",
        "--title",
        "Charter R",
        "--file",
        text.to_str().expect("path"),
        "--process",
        "consent",
        "--deadline",
        "2030-01-01T00:00",
    ]));
    // A lends R 1000.00; R accepts and records the payout it received.
    ids.loan = a.json(&[
        "loan",
        "offer",
        "Asbl R",
        "--amount",
        "1000.00",
        "--schedule",
        "4 x quarterly",
    ])["id"]
        .as_str()
        .expect("the loan's id")
        .to_owned();
    eventually(20, "the loan offer reaches R", || {
        r.run(&["loan", "accept", &ids.loan]).code == 0
    });
    ids.r_payout = r.json(&[
        "ledger",
        "record-payment",
        "--from",
        "Asbl A",
        "--amount",
        "1000.00",
        "--for",
        &format!("loan:{}", ids.loan),
    ])["id"]
        .as_str()
        .expect("the payment's id")
        .to_owned();
    eventually(30, "A, B and R hold the same documents", || {
        let h = all_heads(&a);
        all_heads(&b) == h && all_heads(&r) == h
    });
    World {
        a,
        b,
        r,
        _sa: sa,
        _sb: sb,
        sr: Some(sr),
        a_dev,
        b_dev,
        r_dev,
        a_org,
        b_org,
        r_org,
        ids,
    }
}

/// What a node shows of each document, by document name.
fn views(home: &TestHome) -> BTreeMap<&'static str, Value> {
    let mut library = home.json(&["library", "list"]);
    // Whether a file's bytes have arrived yet is not what the attacks change.
    if let Some(list) = library.as_array_mut() {
        for e in list {
            if let Some(e) = e.as_object_mut() {
                e.remove("available");
                e.remove("received");
            }
        }
    }
    BTreeMap::from([
        (
            "charter",
            json!([
                home.json(&["charter", "show"]),
                home.json(&["charter", "show", "--adopted"])
            ]),
        ),
        ("values", home.json(&["values", "list"])),
        ("library", library),
        (
            "calendar",
            json!([home.json(&["resource", "list"]), home.json(&["bookings"])]),
        ),
        (
            "proposals",
            json!([home.json(&["proposals"]), home.json(&["decisions"])]),
        ),
        ("events", home.json(&["event", "list"])),
        ("profiles", home.json(&["org", "list"])),
        ("ledger", home.json(&["ledger"])),
    ])
}

/// The same without what depends on who reads (for comparing two nodes).
fn neutral(mut views: BTreeMap<&'static str, Value>) -> BTreeMap<&'static str, Value> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in ["awaiting_my_vote", "usage", "heads"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(l) => {
                l.iter_mut().for_each(strip);
                // Lists put what awaits the reader first: compare by id.
                l.sort_by_key(|e| e["id"].as_str().unwrap_or_default().to_owned());
            }
            _ => {}
        }
    }
    views.values_mut().for_each(strip);
    views
}

fn without(
    mut views: BTreeMap<&'static str, Value>,
    doc: DocKind,
) -> BTreeMap<&'static str, Value> {
    views.remove(&*doc.name());
    views
}

/// The audit entry naming `change`, if the node lists it.
fn audited(home: &TestHome, change: &str) -> Option<Value> {
    let run = home.run(&["audit", "--json"]);
    if run.code != 0 {
        return None;
    }
    serde_json::from_str::<Value>(&run.stdout)
        .ok()?
        .as_array()?
        .iter()
        .find(|e| e["change"] == change)
        .cloned()
}

/// Whether a node shows R's honest marker.
type ShowsMarker = Box<dyn Fn(&TestHome) -> bool>;

/// A delivered attack: the change's hash and what A and B showed before.
struct Attack {
    hash: String,
    doc: DocKind,
    marker: DocKind,
    before: Vec<BTreeMap<&'static str, Value>>,
}

impl World {
    /// A books the van, then R, apart (its node stopped, so its command
    /// does not know A's booking), the same slot: R's booking is in conflict
    /// everywhere once R is back. Returns R's booking.
    fn r_conflicting_booking(&mut self) -> String {
        self.stop_rogue();
        let slot = ["--from", "2030-06-06T10:00", "--to", "2030-06-06T12:00"];
        let mut args = vec!["book", "Camionnette"];
        args.extend_from_slice(&slot);
        self.a.ok(&args);
        std::thread::sleep(Duration::from_millis(50));
        let id = out(&self.r.ok(&args));
        self.sr = Some(Serve::start(&self.r));
        let (a, b, r) = (&self.a, &self.b, &self.r);
        eventually(30, "A, B and R hold the same documents", || {
            let h = all_heads(a);
            all_heads(b) == h && all_heads(r) == h
        });
        id
    }

    fn honest(&self) -> [&TestHome; 2] {
        [&self.a, &self.b]
    }

    fn stop_rogue(&mut self) {
        if let Some(sr) = self.sr.take() {
            sr.stop();
        }
    }

    /// R's honest marker, written with the stock command line while its
    /// node is stopped, in a document other than `doc`. Returns which
    /// document and a check that a node shows it.
    fn write_marker(&self, doc: DocKind) -> (DocKind, ShowsMarker) {
        let word = format!("marker-{}", &rogue::random_hex()[..8]);
        if doc == DocKind::Values {
            let text = format!("{word}\n");
            set_charter(&self.r, &text);
            (DocKind::Charter, Box::new(move |h| charter(h) == text))
        } else {
            self.r.ok(&["values", "add", &word]);
            (
                DocKind::Values,
                Box::new(move |h| h.json(&["values", "list"]).to_string().contains(&word)),
            )
        }
    }

    /// Stops R, writes the attack into its store with a valid attestation
    /// by R's own key, restarts R and waits until A and B had the chance to
    /// take it.
    fn attack(&mut self, doc: DocKind, f: impl FnOnce(&RogueMember, &mut AutoCommit)) -> Attack {
        self.attack_signed(doc, None, f)
    }

    fn attack_signed(
        &mut self,
        doc: DocKind,
        forger: Option<&ed25519_dalek::SigningKey>,
        f: impl FnOnce(&RogueMember, &mut AutoCommit),
    ) -> Attack {
        let before: Vec<_> = self.honest().iter().map(|h| views(h)).collect();
        self.stop_rogue();
        let (marker, shows_marker) = self.write_marker(doc);
        let hash = {
            let rogue = RogueMember::open(&self.r.path());
            assert_eq!(rogue.device_hex(), self.r_dev);
            match forger {
                None => rogue.edit(doc, |d| f(&rogue, d)),
                Some(key) => rogue.edit_forged(doc, key, |d| f(&rogue, d)),
            }
        };
        self.sr = Some(Serve::start(&self.r));
        // R's own node holds its change (so it offers it to its peers).
        let r_heads = status(&self.r)["docs"].to_string();
        assert!(
            r_heads.contains(&hash),
            "R's node does not hold the rogue change {hash}: {r_heads}"
        );
        // Delivered once the node shows the marker (written before the
        // attack, in another document) or lists the attack as refused: a
        // node may end the session on a refused bundle before it takes R's
        // other documents.
        for h in self.honest() {
            eventually(
                DELIVERY_SECS,
                "R's honest marker, or its refused attack, reaches A and B",
                || shows_marker(h) || audited(h, &hash).is_some(),
            );
        }
        // The attack's document travels in its own bundle: give it until
        // the node either lists it as refused or shows something new.
        let deadline = Instant::now() + Duration::from_secs(10);
        for (h, was) in self.honest().iter().zip(&before) {
            while Instant::now() < deadline
                && audited(h, &hash).is_none()
                && without(views(h), marker) == without(was.clone(), marker)
            {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Attack {
            hash,
            doc,
            marker,
            before,
        }
    }

    /// A and B show what they showed before the attack, hold nothing of it,
    /// and their audit names it with a rule.
    fn assert_refused(&self, attack: &Attack) {
        self.assert_not_shown(attack);
        for (h, name) in self.honest().iter().zip(["A", "B"]) {
            let entry = audited(h, &attack.hash).unwrap_or_else(|| {
                panic!(
                    "{name}'s `entraide audit --json` does not name R's change {}: {}",
                    attack.hash,
                    h.run(&["audit", "--json"]).stdout
                )
            });
            assert_eq!(entry["doc"], &*attack.doc.name(), "{entry}");
            assert_eq!(entry["author_device"], self.r_dev.as_str(), "{entry}");
            assert!(
                entry["rule"].as_str().is_some_and(|r| !r.trim().is_empty()),
                "the audit names no rule: {entry}"
            );
            let refused = status(h)["refused_changes"].as_u64().unwrap_or(0);
            assert!(refused >= 1, "{name}: refused_changes = {refused}");
        }
        self.assert_converge();
    }

    /// A and B show exactly what they showed before and do not hold the
    /// change.
    fn assert_not_shown(&self, attack: &Attack) {
        for ((h, was), name) in self.honest().iter().zip(&attack.before).zip(["A", "B"]) {
            let now = without(views(h), attack.marker);
            let was = without(was.clone(), attack.marker);
            for (doc, view) in &was {
                assert_eq!(
                    &now[doc], view,
                    "{name}'s {doc} changed after R's forbidden change {}",
                    attack.hash
                );
            }
            let heads = status(h)["docs"].to_string();
            assert!(
                !heads.contains(&attack.hash),
                "{name} holds R's forbidden change {} as a head: {heads}",
                attack.hash
            );
        }
    }

    /// An honest edit made on A still reaches B.
    fn assert_converge(&self) {
        let text = format!("after the attack {}\n", &rogue::random_hex()[..8]);
        set_charter(&self.a, &text);
        eventually(20, "A's honest edit reaches B", || charter(&self.b) == text);
    }
}

fn booking_ms(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .expect("rfc3339")
        .timestamp_millis()
}

/// A booking of `resource` under `id`, with every field as the stock client
/// of the device `dev` of `org` writes it, on a free slot.
fn put_booking(
    d: &mut AutoCommit,
    resource: &str,
    id: &str,
    org: &str,
    dev: &str,
) -> automerge::ObjId {
    let parent = obj(d, &["bookings", resource]);
    let b = ok(d.put_object(&parent, id, ObjType::Map));
    ok(d.put(&b, "org", org));
    ok(d.put(&b, "device", dev));
    ok(d.put(
        &b,
        "from",
        ScalarValue::Int(booking_ms("2030-06-10T10:00:00+02:00")),
    ));
    ok(d.put(
        &b,
        "to",
        ScalarValue::Int(booking_ms("2030-06-10T12:00:00+02:00")),
    ));
    ok(d.put(&b, "purpose", "réunion"));
    ok(d.put(&b, "created_at", ScalarValue::Int(rogue::now_ms())));
    b
}

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.expect("automerge accepts the operation")
}

// ---------------------------------------------------------------- votes

#[test]
fn rogue_overwrites_another_orgs_vote_position() {
    let mut w = world("member");
    let (p, a_dev) = (w.ids.proposal.clone(), w.a_dev.clone());
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let vote = obj(d, &["proposals", &p, "votes", &a_dev]);
        ok(d.put(&vote, "position", "block"));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_overwrites_another_orgs_vote_reason() {
    let mut w = world("member");
    let (p, a_dev) = (w.ids.proposal.clone(), w.a_dev.clone());
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let vote = obj(d, &["proposals", &p, "votes", &a_dev]);
        ok(d.put(&vote, "reason", "A never agreed to this"));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_overwrites_another_orgs_vote_time() {
    let mut w = world("member");
    let (p, a_dev) = (w.ids.proposal.clone(), w.a_dev.clone());
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let vote = obj(d, &["proposals", &p, "votes", &a_dev]);
        // After the deadline: A's vote would no longer count.
        ok(d.put(&vote, "at", ScalarValue::Int(4_102_444_800_000)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_deletes_another_orgs_vote() {
    let mut w = world("member");
    let (p, a_dev) = (w.ids.proposal.clone(), w.a_dev.clone());
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let votes = obj(d, &["proposals", &p, "votes"]);
        ok(d.delete(&votes, a_dev.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_votes_in_another_devices_name() {
    let mut w = world("member");
    let (p, b_dev) = (w.ids.proposal.clone(), w.b_dev.clone());
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let votes = obj(d, &["proposals", &p, "votes"]);
        let v = ok(d.put_object(&votes, b_dev.as_str(), ObjType::Map));
        ok(d.put(&v, "position", "block"));
        ok(d.put(&v, "reason", "B objects (says R)"));
        ok(d.put(&v, "org", "Asbl B"));
        ok(d.put(&v, "at", ScalarValue::Int(rogue::now_ms())));
    });
    w.assert_refused(&attack);
}

// ------------------------------------------------------------ proposals

#[test]
fn rogue_rewrites_an_open_proposals_text() {
    let mut w = world("member");
    let p = w.ids.proposal.clone();
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let prop = obj(d, &["proposals", &p]);
        ok(d.put(&prop, "text", "A donne sa camionnette à R"));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_moves_an_open_proposals_deadline() {
    let mut w = world("member");
    let p = w.ids.proposal.clone();
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let prop = obj(d, &["proposals", &p]);
        ok(d.put(
            &prop,
            "deadline",
            ScalarValue::Int(rogue::now_ms() - 60_000),
        ));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_changes_an_open_proposals_process() {
    let mut w = world("member");
    let p = w.ids.proposal.clone();
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let prop = obj(d, &["proposals", &p]);
        ok(d.put(&prop, "process", "majority"));
        ok(d.put(&prop, "quorum", ScalarValue::Int(1)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_deletes_a_proposal() {
    let mut w = world("member");
    let p = w.ids.proposal.clone();
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let proposals = obj(d, &["proposals"]);
        ok(d.delete(&proposals, p.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_puts_a_passed_motion_into_its_charter_amendment() {
    let mut w = world("member");
    let (p, motion) = (w.ids.r_amendment.clone(), w.ids.set_process.clone());
    let attack = w.attack(DocKind::Proposals, |_, d| {
        // The founding SetProcess motion passed: an amendment carrying it
        // would pass with it, and its text become the adopted charter.
        let prop = obj(d, &["proposals", &p]);
        ok(d.put(&prop, "motion", motion.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_creates_a_charter_amendment_carrying_a_passed_motion() {
    let mut w = world("member");
    let (motion, r_org) = (w.ids.set_process.clone(), w.r_org.clone());
    let attack = w.attack(DocKind::Proposals, |rogue, d| {
        let proposals = obj(d, &["proposals"]);
        let p = ok(d.put_object(&proposals, rogue.new_id().as_str(), ObjType::Map));
        ok(d.put(&p, "title", "Charter by decree"));
        ok(d.put(&p, "kind", "charter-amendment"));
        ok(d.put(&p, "text", "R decides everything\n"));
        ok(d.put(&p, "process", "consent"));
        ok(d.put(&p, "deadline", ScalarValue::Int(4_102_444_800_000)));
        ok(d.put(&p, "created_by", r_org.as_str()));
        ok(d.put(&p, "created_at", ScalarValue::Int(rogue::now_ms())));
        ok(d.put(&p, "motion", motion.as_str()));
        ok(d.put_object(&p, "votes", ObjType::Map));
    });
    w.assert_refused(&attack);
}

// ------------------------------------------------------------- bookings

#[test]
fn rogue_takes_over_another_orgs_booking_and_cancels_it() {
    let mut w = world("member");
    let (res, id, r_org, r_dev) = (
        w.ids.salle.clone(),
        w.ids.a_salle_booking.clone(),
        w.r_org.clone(),
        w.r_dev.clone(),
    );
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        let b = obj(d, &["bookings", &res, &id]);
        ok(d.put(&b, "org", r_org.as_str()));
        ok(d.put(&b, "cancelled_by", r_org.as_str()));
        ok(d.put(&b, "cancelled_by_device", r_dev.as_str()));
        ok(d.put(&b, "cancelled_at", ScalarValue::Int(rogue::now_ms())));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_cancels_another_orgs_booking() {
    let mut w = world("member");
    let (res, id, r_org, r_dev) = (
        w.ids.van.clone(),
        w.ids.a_van_booking.clone(),
        w.r_org.clone(),
        w.r_dev.clone(),
    );
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        let b = obj(d, &["bookings", &res, &id]);
        ok(d.put(&b, "cancelled_by", r_org.as_str()));
        ok(d.put(&b, "cancelled_by_device", r_dev.as_str()));
        ok(d.put(&b, "cancelled_at", ScalarValue::Int(rogue::now_ms())));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_backdates_its_own_overlapping_booking() {
    let mut w = world("member");
    let id = w.r_conflicting_booking();
    let res = w.ids.van.clone();
    for h in w.honest() {
        let list = h.json(&["bookings", "--resource", "Camionnette"]);
        assert!(
            list.as_array().is_some_and(|l| l
                .iter()
                .any(|b| b["id"] == id.as_str() && b["status"] == "conflict")),
            "R's overlapping booking starts in conflict: {list}"
        );
    }
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        let b = obj(d, &["bookings", &res, &id]);
        ok(d.put(&b, "created_at", ScalarValue::Int(0)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_deletes_another_orgs_booking() {
    let mut w = world("member");
    let (res, id) = (w.ids.van.clone(), w.ids.a_van_booking.clone());
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        let parent = obj(d, &["bookings", &res]);
        ok(d.delete(&parent, id.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_takes_a_resource_and_declines_its_bookings() {
    let mut w = world("member");
    let (res, id, r_org, r_dev) = (
        w.ids.salle.clone(),
        w.ids.b_salle_booking.clone(),
        w.r_org.clone(),
        w.r_dev.clone(),
    );
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        let resource = obj(d, &["resources", &res]);
        ok(d.put(&resource, "owner", r_org.as_str()));
        let b = obj(d, &["bookings", &res, &id]);
        ok(d.put(&b, "decision", "declined"));
        ok(d.put(&b, "decision_reason", "the room is R's now"));
        ok(d.put(&b, "decided_by", r_org.as_str()));
        ok(d.put(&b, "decided_by_device", r_dev.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_decides_a_booking_of_a_resource_it_does_not_own() {
    let mut w = world("member");
    let (res, id, a_org, a_dev) = (
        w.ids.salle.clone(),
        w.ids.b_salle_booking.clone(),
        w.a_org.clone(),
        w.a_dev.clone(),
    );
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        // Claiming to be the owner in the fields changes nothing: the
        // writing device is R's.
        let b = obj(d, &["bookings", &res, &id]);
        ok(d.put(&b, "decision", "declined"));
        ok(d.put(&b, "decision_reason", "no"));
        ok(d.put(&b, "decided_by", a_org.as_str()));
        ok(d.put(&b, "decided_by_device", a_dev.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_deletes_a_resource() {
    let mut w = world("member");
    let res = w.ids.van.clone();
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        let resources = obj(d, &["resources"]);
        ok(d.delete(&resources, res.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_writes_an_unknown_key_in_a_booking() {
    let mut w = world("member");
    let (van, org, dev) = (w.ids.van.clone(), w.r_org.clone(), w.r_dev.clone());
    let attack = w.attack(DocKind::calendar_of(&van), |rogue, d| {
        let b = put_booking(d, &van, &rogue.new_id(), &org, &dev);
        ok(d.put(&b, "priority", ScalarValue::Int(1)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_writes_a_string_where_an_int_belongs() {
    let mut w = world("member");
    let room = w.ids.r_room.clone();
    let attack = w.attack(DocKind::calendar_of(&room), |_, d| {
        // R's own room: the owner may edit it, but capacity is an integer.
        let resource = obj(d, &["resources", &room]);
        ok(d.put(&resource, "capacity", "un millier"));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_writes_an_oversized_string() {
    let mut w = world("member");
    let (van, org, dev) = (w.ids.van.clone(), w.r_org.clone(), w.r_dev.clone());
    let attack = w.attack(DocKind::calendar_of(&van), |rogue, d| {
        let b = put_booking(d, &van, &rogue.new_id(), &org, &dev);
        ok(d.put(&b, "purpose", "x".repeat(1 << 20)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_writes_a_counter() {
    let mut w = world("member");
    let room = w.ids.r_room.clone();
    let attack = w.attack(DocKind::calendar_of(&room), |_, d| {
        let resource = obj(d, &["resources", &room]);
        ok(d.put(&resource, "capacity", ScalarValue::counter(4)));
        ok(d.increment(&resource, "capacity", 1_000));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_creates_a_booking_under_another_devices_id() {
    let mut w = world("member");
    let (van, org, dev, a_dev) = (
        w.ids.van.clone(),
        w.r_org.clone(),
        w.r_dev.clone(),
        w.a_dev.clone(),
    );
    let attack = w.attack(DocKind::calendar_of(&van), |_, d| {
        put_booking(d, &van, &record_id(&a_dev), &org, &dev);
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_books_in_another_orgs_name() {
    let mut w = world("member");
    let (van, a_org, a_dev) = (w.ids.van.clone(), w.a_org.clone(), w.a_dev.clone());
    let attack = w.attack(DocKind::calendar_of(&van), |rogue, d| {
        put_booking(d, &van, &rogue.new_id(), &a_org, &a_dev);
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_packs_a_booking_in_another_orgs_name() {
    let mut w = world("member");
    let (van, a_org, r_dev) = (w.ids.van.clone(), w.a_org.clone(), w.r_dev.clone());
    let attack = w.attack(DocKind::calendar_of(&van), |rogue, d| {
        // The stock client's packed fields, with R's own device and A's name.
        let device = data_encoding::HEXLOWER
            .decode(r_dev.as_bytes())
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let fixed = entraide_docs::BookingFixed {
            org: a_org.clone(),
            device,
            from: booking_ms("2030-06-10T10:00:00+02:00"),
            to: booking_ms("2030-06-10T12:00:00+02:00"),
            purpose: "réunion".into(),
            created_at: rogue::now_ms(),
            series: None,
        };
        let parent = obj(d, &["bookings", &van]);
        let b = ok(d.put_object(&parent, rogue.new_id().as_str(), ObjType::Map));
        ok(d.put(&b, "fixed", ScalarValue::Bytes(fixed.pack())));
    });
    w.assert_refused(&attack);
}

// -------------------------------------------------------------- library

#[test]
fn rogue_swaps_a_library_entrys_hash() {
    let mut w = world("member");
    let entry = w.ids.a_entry.clone();
    let attack = w.attack(DocKind::Library, |_, d| {
        let e = obj(d, &["entries", &entry]);
        let evil = blake3::hash(b"a procedure that sends the money to R");
        ok(d.put(&e, "hash", evil.to_hex().as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_forges_added_by_on_its_entry() {
    let mut w = world("member");
    let (entry, a_org, a_dev) = (w.ids.r_entry.clone(), w.a_org.clone(), w.a_dev.clone());
    let attack = w.attack(DocKind::Library, |_, d| {
        let e = obj(d, &["entries", &entry]);
        ok(d.put(&e, "added_by", a_org.as_str()));
        ok(d.put(&e, "added_by_device", a_dev.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_adds_a_library_entry_in_another_orgs_name() {
    let mut w = world("member");
    let (a_org, a_dev) = (w.a_org.clone(), w.a_dev.clone());
    let attack = w.attack(DocKind::Library, |rogue, d| {
        let entries = obj(d, &["entries"]);
        let e = ok(d.put_object(&entries, rogue.new_id().as_str(), ObjType::Map));
        ok(d.put(&e, "title", "Statuts de A (version officielle)"));
        ok(d.put(&e, "kind", "statute"));
        ok(d.put_object(&e, "tags", ObjType::List));
        ok(d.put(&e, "size", ScalarValue::Int(5)));
        ok(d.put(&e, "hash", blake3::hash(b"evil\n").to_hex().as_str()));
        ok(d.put(&e, "file_name", "statuts.txt"));
        ok(d.put(&e, "added_by", a_org.as_str()));
        ok(d.put(&e, "added_by_device", a_dev.as_str()));
        ok(d.put(&e, "added_at", ScalarValue::Int(rogue::now_ms())));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_withdraws_another_orgs_library_entry() {
    let mut w = world("member");
    let entry = w.ids.a_entry.clone();
    let attack = w.attack(DocKind::Library, |_, d| {
        let entries = obj(d, &["entries"]);
        ok(d.delete(&entries, entry.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_changes_another_orgs_resource_rules() {
    let mut w = world("member");
    let res = w.ids.salle.clone();
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        // No approval needed and a quota of nothing for everyone else.
        let r = obj(d, &["resources", &res]);
        ok(d.put(&r, "approval", false));
        ok(d.put(&r, "quota", "0h/week"));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_replaces_a_resources_bookings_shelf() {
    let mut w = world("member");
    let res = w.ids.salle.clone();
    let attack = w.attack(DocKind::calendar_of(&res), |_, d| {
        // A new, empty map under the room would hide all its bookings.
        let bookings = obj(d, &["bookings"]);
        ok(d.put_object(&bookings, res.as_str(), ObjType::Map));
    });
    w.assert_refused(&attack);
}

// --------------------------------------------------------------- values

#[test]
fn rogue_endorses_a_value_in_another_orgs_name() {
    let mut w = world("member");
    let (value, a_org) = (w.ids.r_value.clone(), w.a_org.clone());
    let attack = w.attack(DocKind::Values, |_, d| {
        let endorsements = obj(d, &["values", &value, "endorsements"]);
        ok(d.put(
            &endorsements,
            a_org.as_str(),
            ScalarValue::Int(rogue::now_ms()),
        ));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_removes_another_orgs_endorsement() {
    let mut w = world("member");
    let (value, a_org) = (w.ids.a_value.clone(), w.a_org.clone());
    let attack = w.attack(DocKind::Values, |_, d| {
        let endorsements = obj(d, &["values", &value, "endorsements"]);
        ok(d.delete(&endorsements, a_org.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_rewords_another_orgs_value() {
    let mut w = world("member");
    let value = w.ids.a_value.clone();
    let attack = w.attack(DocKind::Values, |_, d| {
        let v = obj(d, &["values", &value]);
        ok(d.put(&v, "name", "Profit"));
        ok(d.put(&v, "description", "We keep what we have"));
    });
    w.assert_refused(&attack);
}

// ----------------------------------------------------------------- roots

#[test]
fn rogue_writes_a_key_at_a_documents_root() {
    let mut w = world("member");
    let r_org = w.r_org.clone();
    let attack = w.attack(DocKind::Calendar(Part::FIRST), |_, d| {
        ok(d.put(ROOT, "admin", r_org.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_replaces_the_charter_text_object() {
    let mut w = world("member");
    let attack = w.attack(DocKind::Charter, |_, d| {
        let text = ok(d.put_object(ROOT, "text", ObjType::Text));
        ok(d.splice_text(&text, 0, 0, "R's charter\n"));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_replaces_a_genesis_root_map() {
    let mut w = world("member");
    let attack = w.attack(DocKind::Proposals, |_, d| {
        // A new, empty `proposals` map would hide every proposal.
        ok(d.put_object(ROOT, "proposals", ObjType::Map));
    });
    w.assert_refused(&attack);
}

// ---------------------------------------------------------- attestation

#[test]
fn rogue_change_with_a_forged_attestation_is_refused() {
    let mut w = world("member");
    let forger = rogue::stranger_key();
    let (p, r_org, r_dev) = (w.ids.proposal.clone(), w.r_org.clone(), w.r_dev.clone());
    // A change R may make (its own vote); only its attestation is not R's
    // signature. The marker (values) travels before the proposals.
    let attack = w.attack_signed(DocKind::Proposals, Some(&forger), |_, d| {
        let votes = obj(d, &["proposals", &p, "votes"]);
        let v = ok(d.put_object(&votes, r_dev.as_str(), ObjType::Map));
        ok(d.put(&v, "position", "agree"));
        ok(d.put(&v, "reason", ""));
        ok(d.put(&v, "org", r_org.as_str()));
        ok(d.put(&v, "at", ScalarValue::Int(rogue::now_ms())));
    });
    w.assert_not_shown(&attack);
    w.assert_converge();
}

// -------------------------------------------------------------- newcomer

#[test]
fn rogue_newcomer_joining_through_the_rogue_does_not_take_its_forbidden_change() {
    // R is a coordinator here, so that it may admit a newcomer itself.
    let mut w = world("coordinator");
    let entry = w.ids.a_entry.clone();
    let attack = w.attack(DocKind::Library, |_, d| {
        let e = obj(d, &["entries", &entry]);
        let evil = blake3::hash(b"not the file A shared");
        ok(d.put(&e, "hash", evil.to_hex().as_str()));
    });
    w.assert_refused(&attack);
    // N joins with R's ticket: everything it first gets comes from R.
    // Whether `join` reports the documents it could not take from R or not,
    // it is admitted and must not panic.
    let ticket = out(&w.r.ok(&["invite"]));
    let n = TestHome::new();
    n.ok(&["init", "--org", "Asbl N"]);
    let joined = n.run(&["join", &ticket, "--timeout", "20"]);
    assert!(
        !joined.stderr.contains("panicked") && joined.code != 2,
        "{joined:?}"
    );
    assert_eq!(status(&n)["members"].as_u64(), Some(4), "{joined:?}");
    let _sn = Serve::start(&n);
    // N shows what A shows (the honest data), never R's change.
    let expected = neutral(without(views(&w.a), attack.marker));
    let mut shown = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(DELIVERY_SECS);
    while Instant::now() < deadline {
        shown = neutral(without(views(&n), attack.marker));
        if shown == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    for (doc, view) in &expected {
        assert_eq!(
            &shown[doc], view,
            "the newcomer's {doc} is not the honest one after joining through R ({joined:?})"
        );
    }
    let heads = status(&n)["docs"].to_string();
    assert!(!heads.contains(&attack.hash), "{heads}");
    let entry = audited(&n, &attack.hash).unwrap_or_else(|| {
        panic!(
            "the newcomer's audit does not name R's change {}: {}",
            attack.hash,
            n.run(&["audit", "--json"]).stdout
        )
    });
    assert!(
        entry["rule"].as_str().is_some_and(|r| !r.is_empty()),
        "{entry}"
    );
}

/// A newcomer handed R's documents whole, several waiting at once (what
/// a session then loads and reads side by side, `Node::prepare_bundles`),
/// judges each as it would alone: R's calendar, where R cancels A's
/// booking, is refused and named in the newcomer's audit; the rest is
/// taken; and another newcomer that takes the same bundles one by one ends
/// the same way.
#[test]
fn rogue_newcomer_taking_documents_together_refuses_the_forbidden_one_alike() {
    use entraide_node::{Home, Node, Request, Ticket};
    let a = TestHome::founded("Asbl A");
    let (r, a_addr) = {
        let sa = Serve::start(&a);
        (join(&a, "Asbl R"), sa.addr.clone())
    };
    set_charter(&a, "Article 1. Solidarité.\n");
    let van = out(&a.ok(&["resource", "add", "Camionnette", "--kind", "vehicle"]));
    let booking = out(&a.ok(&[
        "book",
        "Camionnette",
        "--from",
        "2030-06-10T10:00",
        "--to",
        "2030-06-10T12:00",
        "--purpose",
        "A's booking",
    ]));
    {
        let (_sa, _sr) = (Serve::start_at(&a, &a_addr), Serve::start(&r));
        eventually(30, "A's booking reaches R", || {
            r.run(&["bookings", "--resource", &van, "--json"])
                .stdout
                .contains(&booking)
        });
    }
    let doc = DocKind::calendar_of(&van);
    let (r_org, r_dev) = (status(&r)["org_id"].clone(), status(&r)["device"].clone());
    let hash = RogueMember::open(&r.path()).edit(doc, |d| {
        let b = obj(d, &["bookings", &van, &booking]);
        ok(d.put(&b, "cancelled_by", r_org.as_str().expect("org")));
        ok(d.put(&b, "cancelled_by_device", r_dev.as_str().expect("device")));
        ok(d.put(&b, "cancelled_at", ScalarValue::Int(rogue::now_ms())));
    });
    // R's documents, whole, as R's node sends them to a newcomer; the
    // calendar's as one save (R's change inside it, not after it).
    let mut sent: Vec<entraide_node::Bundle> = {
        let mut rn = Node::open(&Home::new(r.path()), chrono_tz::UTC).expect("open R's node");
        DocKind::ALL
            .into_iter()
            .filter_map(|kind| rn.bundle_for(kind, &Default::default()))
            .collect()
    };
    let calendar = sent
        .iter_mut()
        .find(|b| b.doc == doc)
        .expect("R's calendar");
    calendar.bytes = RogueMember::open(&r.path()).load(doc).save();
    assert!(sent.len() > 3);
    let mut outcomes = Vec::new();
    for (together, org) in [(true, "Asbl N"), (false, "Asbl M")] {
        let n = TestHome::new();
        n.ok(&["init", "--org", org]);
        let mut an = Node::open(&Home::new(a.path()), chrono_tz::UTC).expect("open A's node");
        let mut nn = Node::open(&Home::new(n.path()), chrono_tz::UTC).expect("open N's node");
        // Admitted by A, and holding nothing else yet.
        let invite = an
            .execute(Request::Invite {
                role: "member".into(),
                expires: "1d".into(),
            })
            .expect("invite");
        let ticket =
            Ticket::decode(invite.json["ticket"].as_str().expect("ticket")).expect("ticket");
        let request = nn.join_request(&ticket).expect("request");
        let ops = an.admit(nn.device(), &request).expect("admit");
        assert!(nn.accept_admission(&ticket, ops.ops()).expect("accept"));
        drop(an);
        if together {
            nn.prepare_bundles(&sent.iter().collect::<Vec<_>>());
        }
        let results: Vec<(DocKind, Result<usize, String>)> = sent
            .iter()
            .map(|b| {
                let result = nn.receive_bundle(b);
                (
                    b.doc,
                    result.map(|r| r.new_changes).map_err(|e| e.to_string()),
                )
            })
            .collect();
        drop(nn);
        for (kind, result) in &results {
            assert_eq!(result.is_err(), *kind == doc, "{kind}: {result:?}");
        }
        assert!(!status(&n)["docs"].to_string().contains(&hash));
        assert!(
            audited(&n, &hash).is_some(),
            "{org}'s audit names R's change"
        );
        assert_eq!(charter(&n), "Article 1. Solidarité.\n");
        outcomes.push(results);
    }
    assert_eq!(outcomes[0], outcomes[1]);
}

// --------------------------------------------------------------- control

/// The harness and the delivery path work: the same kind of change R may
/// make (its own vote), written by the harness with R's own key, is taken
/// by A and B. So the refusals above come from the rules, not from the way
/// the attacks are written or delivered.
#[test]
fn rogue_harness_control_an_allowed_change_is_taken() {
    let mut w = world("member");
    let (p, r_org, r_dev) = (w.ids.proposal.clone(), w.r_org.clone(), w.r_dev.clone());
    let attack = w.attack(DocKind::Proposals, |_, d| {
        let votes = obj(d, &["proposals", &p, "votes"]);
        let v = ok(d.put_object(&votes, r_dev.as_str(), ObjType::Map));
        ok(d.put(&v, "position", "agree"));
        ok(d.put(&v, "reason", "written by the harness"));
        ok(d.put(&v, "org", r_org.as_str()));
        ok(d.put(&v, "at", ScalarValue::Int(rogue::now_ms())));
    });
    for h in w.honest() {
        eventually(DELIVERY_SECS, "R's allowed vote reaches A and B", || {
            h.json(&["proposals"])
                .to_string()
                .contains("written by the harness")
        });
        assert!(audited(h, &attack.hash).is_none());
        assert!(status(h)["docs"].to_string().contains(&attack.hash));
    }
    w.assert_converge();
}

#[test]
fn rogue_shares_a_file_over_its_quota_with_a_modified_client() {
    let mut w = world("member");
    // The alliance gives each organisation 1 MB of the library.
    let id = out(&w.a.ok(&[
        "propose",
        "library-quota",
        "--title",
        "1 MB each",
        "--text",
        "1",
        "--process",
        "consent",
    ]));
    for h in [&w.a, &w.b, &w.r] {
        eventually(DELIVERY_SECS, "the quota proposal reaches everyone", || {
            h.json(&["proposals"]).to_string().contains(&id)
        });
        h.ok(&["vote", &id, "agree"]);
    }
    for h in [&w.a, &w.b, &w.r] {
        eventually(DELIVERY_SECS, "the quota passes everywhere", || {
            h.json(&["proposals"])
                .as_array()
                .and_then(|l| l.iter().find(|p| p["id"] == id.as_str()))
                .is_some_and(|p| p["status"] == "passed")
        });
    }
    // With the stock client, R cannot add a 1.5 MB file.
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let file = w.r.scratch().join("gros.bin");
    std::fs::write(&file, &big).expect("write");
    let refused = w.r.run(&[
        "library",
        "add",
        file.to_str().expect("path"),
        "--title",
        "Gros",
    ]);
    assert!(
        refused.code != 0 && refused.stderr.contains("quota"),
        "the stock client added a file over the quota: {}{}",
        refused.stdout,
        refused.stderr
    );
    // Its modified client writes the entry (in its own name, with the
    // file's true size) and the file, and serves both.
    w.stop_rogue();
    let entry = {
        let rogue = RogueMember::open(&w.r.path());
        let hash = rogue.store_file(&big);
        let entry = rogue.new_id();
        let (r_org, r_dev) = (w.r_org.clone(), w.r_dev.clone());
        rogue.edit(DocKind::Library, |d| {
            let entries = obj(d, &["entries"]);
            let e = ok(d.put_object(&entries, entry.as_str(), ObjType::Map));
            ok(d.put(&e, "title", "Gros fichier"));
            ok(d.put(&e, "kind", "other"));
            ok(d.put_object(&e, "tags", ObjType::List));
            ok(d.put(&e, "size", ScalarValue::Int(big.len() as i64)));
            ok(d.put(&e, "hash", hash.as_str()));
            ok(d.put(&e, "file_name", "gros.bin"));
            ok(d.put(&e, "added_by", r_org.as_str()));
            ok(d.put(&e, "added_by_device", r_dev.as_str()));
            ok(d.put(&e, "added_at", ScalarValue::Int(rogue::now_ms())));
        });
        entry
    };
    w.sr = Some(Serve::start(&w.r));
    // A and B list the entry, marked over the quota, and never fetch its
    // bytes; R's small file of before stays available.
    let shown = |h: &TestHome, id: &str| -> Option<Value> {
        h.json(&["library", "list"])
            .as_array()
            .and_then(|l| l.iter().find(|e| e["id"] == id).cloned())
    };
    for h in w.honest() {
        eventually(DELIVERY_SECS, "R's entry reaches A and B", || {
            shown(h, &entry).is_some()
        });
    }
    // Time enough to fetch 1.5 MB over loopback many times over.
    std::thread::sleep(Duration::from_secs(5));
    for (h, name) in w.honest().into_iter().zip(["A", "B"]) {
        let e = shown(h, &entry).expect("entry");
        assert_eq!(e["over_quota"], json!(true), "{name}: {e}");
        assert_eq!(
            e["available"],
            json!(false),
            "{name} fetched R's file over its quota: {e}"
        );
        let small = shown(h, &w.ids.r_entry).expect("R's small entry");
        assert_eq!(small["available"], json!(true), "{name}: {small}");
    }
}

#[test]
fn rogue_registers_in_another_orgs_name() {
    let mut w = world("member");
    let (event, b_org) = (w.ids.event.clone(), w.b_org.clone());
    let attack = w.attack(DocKind::Events, |r, d| {
        let regs = obj(d, &["events", &event, "registrations"]);
        let reg = ok(d.put_object(&regs, b_org.as_str(), ObjType::Map));
        ok(d.put(&reg, "seats", ScalarValue::Int(1)));
        ok(d.put(&reg, "names", ""));
        ok(d.put(&reg, "at", ScalarValue::Int(rogue::now_ms())));
        ok(d.put(&reg, "device", r.device_hex().as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_cancels_another_orgs_registration() {
    let mut w = world("member");
    let (event, a_org) = (w.ids.event.clone(), w.a_org.clone());
    let attack = w.attack(DocKind::Events, |_, d| {
        let regs = obj(d, &["events", &event, "registrations"]);
        ok(d.delete(&regs, a_org.as_str()));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_shrinks_another_orgs_registration_to_take_its_seats() {
    let mut w = world("member");
    let (event, a_org) = (w.ids.event.clone(), w.a_org.clone());
    let attack = w.attack(DocKind::Events, |_, d| {
        let reg = obj(d, &["events", &event, "registrations", &a_org]);
        ok(d.put(&reg, "seats", ScalarValue::Int(1)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_closes_another_orgs_event_or_adds_seats_to_it() {
    let mut w = world("member");
    let event = w.ids.event.clone();
    let attack = w.attack(DocKind::Events, |_, d| {
        let e = obj(d, &["events", &event]);
        ok(d.put(&e, "closed_at", ScalarValue::Int(rogue::now_ms())));
        ok(d.put(&e, "seats", ScalarValue::Int(300)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_rewrites_another_orgs_profile() {
    let mut w = world("member");
    let a_org = w.a_org.clone();
    let attack = w.attack(DocKind::Profiles, |r, d| {
        let orgs = obj(d, &["orgs"]);
        let p = ok(d.put_object(&orgs, a_org.as_str(), ObjType::Map));
        ok(d.put(&p, "description", "Fermée définitivement"));
        ok(d.put(&p, "device", r.device_hex().as_str()));
        ok(d.put(&p, "updated_at", ScalarValue::Int(rogue::now_ms())));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_withdraws_another_orgs_resource() {
    let mut w = world("member");
    let salle = w.ids.salle.clone();
    let attack = w.attack(DocKind::calendar_of(&salle), |_, d| {
        let r = obj(d, &["resources", &salle]);
        ok(d.put(&r, "withdrawn_at", ScalarValue::Int(rogue::now_ms())));
    });
    w.assert_refused(&attack);
}

// -------------------------------------------------------------- ledger

/// A payment record as a modified client writes it, with R's own
/// organisation and device (the fields R cannot lie about).
fn put_payment(
    r: &RogueMember,
    d: &mut AutoCommit,
    r_org: &str,
    payer: &str,
    payee: &str,
    reference: &str,
    under: Option<&str>,
) {
    let entries = obj(d, &["entries"]);
    let p = ok(d.put_object(&entries, r.new_id().as_str(), ObjType::Map));
    ok(d.put(&p, "kind", "payment"));
    ok(d.put(&p, "payer", payer));
    ok(d.put(&p, "payee", payee));
    ok(d.put(&p, "amount", ScalarValue::Int(100_000)));
    ok(d.put(&p, "currency", "EUR"));
    ok(d.put(&p, "reference", reference));
    ok(d.put(&p, "note", ""));
    ok(d.put(&p, "org", r_org));
    ok(d.put(&p, "device", r.device_hex().as_str()));
    ok(d.put(&p, "at", ScalarValue::Int(rogue::now_ms())));
    if let Some(under) = under {
        ok(d.put(&p, "under", under));
    }
    ok(d.put_object(&p, "confirmed", ObjType::Map));
}

#[test]
fn rogue_records_its_repayment_as_received_by_the_lender() {
    // R owes A 1000.00: it writes "A received 1000.00 from R", which only A
    // may write.
    let mut w = world("member");
    let (a_org, r_org) = (w.a_org.clone(), w.r_org.clone());
    let reference = format!("loan:{}", w.ids.loan);
    let attack = w.attack(DocKind::Ledger, |r, d| {
        put_payment(r, d, &r_org, &r_org, &a_org, &reference, None);
    });
    w.assert_refused(&attack);
    for h in w.honest() {
        let ledger = h.json(&["ledger"]);
        let r_row = ledger["balances"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["party"] == "Asbl R"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(r_row["paid"], "0.00", "{ledger}");
    }
}

#[test]
fn rogue_records_a_payment_received_by_the_fund_without_being_a_coordinator() {
    let mut w = world("member");
    let (b_org, r_org) = (w.b_org.clone(), w.r_org.clone());
    let under = w.ids.set_process.clone();
    let attack = w.attack(DocKind::Ledger, |r, d| {
        put_payment(r, d, &r_org, &b_org, "fund", "fee:2030", Some(&under));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_shrinks_the_loan_it_accepted() {
    let mut w = world("member");
    let loan = w.ids.loan.clone();
    let attack = w.attack(DocKind::Ledger, |_, d| {
        let l = obj(d, &["entries", &loan]);
        ok(d.put(&l, "amount", ScalarValue::Int(100)));
    });
    w.assert_refused(&attack);
}

#[test]
fn rogue_confirms_a_payment_in_another_orgs_name() {
    // R's payout receipt names A as the payer: only A confirms it.
    let mut w = world("member");
    let (payout, a_org, r_dev) = (w.ids.r_payout.clone(), w.a_org.clone(), w.r_dev.clone());
    let attack = w.attack(DocKind::Ledger, |_, d| {
        let slots = obj(d, &["entries", &payout, "confirmed"]);
        let c = ok(d.put_object(&slots, a_org.as_str(), ObjType::Map));
        ok(d.put(&c, "at", ScalarValue::Int(rogue::now_ms())));
        ok(d.put(&c, "device", r_dev.as_str()));
    });
    w.assert_refused(&attack);
}
