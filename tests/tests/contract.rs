//! One reply per command, whichever path answers it. Every command of
//! README.md that prints data is run with `--json` on the same home twice:
//! once with no `serve` running (the command opens the home itself), once
//! while `serve` runs (the daemon answers over its socket). The two replies
//! must have the same shape, field by field: the same keys, and values of
//! the same kind (a field may be `null` on one run and set on the other,
//! since the data differ: a new id, another date).
//!
//! `sync` is part of it: with a reachable member and an unreachable one, it
//! names the first in `synced_with` and the second in `failed` on both
//! paths, after trying both.

use std::collections::BTreeMap;

use entraide_tests::{Serve, TestHome, eventually, join};
use serde_json::Value;

/// Where the shapes of `a` and `b` differ, as a path; `None` if they agree.
fn differ(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Object(x), Value::Object(y)) => {
            let (kx, ky): (Vec<&String>, Vec<&String>) = (x.keys().collect(), y.keys().collect());
            if kx != ky {
                return Some(format!("{path}: keys {kx:?} and {ky:?}"));
            }
            x.iter()
                .find_map(|(k, v)| differ(&format!("{path}.{k}"), v, &y[k]))
        }
        (Value::Array(x), Value::Array(y)) => match (x.first(), y.first()) {
            (Some(first), Some(other)) => x.iter().chain(y).find_map(|v| {
                differ(&format!("{path}[]"), v, first).or(differ(&format!("{path}[]"), v, other))
            }),
            _ => None,
        },
        (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_)) => None,
        _ => Some(format!("{path}: {a} and {b}")),
    }
}

/// Runs every command of the contract on `a`, with words and dates of
/// `round` so that two rounds do not clash; returns each reply by command.
fn every_command(a: &TestHome, round: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut run = |label: &str, args: &[&str]| {
        let reply = a.json(args);
        out.insert(label.to_owned(), reply.clone());
        reply
    };
    let day = if round == "direct" { "10" } else { "11" };
    let at = |h: &str| format!("2030-06-{day}T{h}");
    let scratch = a.scratch();
    let file = scratch.join(format!("{round}.txt"));
    std::fs::write(&file, format!("Procédure {round}\n")).expect("write");
    let file = file.to_str().expect("path").to_owned();
    let charter_file = scratch.join(format!("charter-{round}.md"));
    std::fs::write(&charter_file, format!("Charte\n\n1. {round}\n")).expect("write");
    let charter_file = charter_file.to_str().expect("path").to_owned();
    let out_file = |name: &str| {
        scratch
            .join(format!("{round}-{name}"))
            .to_str()
            .expect("path")
            .to_owned()
    };

    run("status", &["status"]);
    run("member list", &["member", "list"]);
    run("member log", &["member", "log"]);
    run("audit", &["audit"]);
    run("peers", &["peers"]);
    let shown = run("charter show", &["charter", "show"]);
    let mut set = vec!["charter", "set", "--file", &charter_file];
    let heads: Vec<String> = shown["heads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect();
    for h in &heads {
        set.extend(["--base", h]);
    }
    run("charter set --base", &set);
    run("charter history", &["charter", "history"]);
    run("charter show --adopted", &["charter", "show", "--adopted"]);
    let value = run("values add", &["values", "add", &format!("Valeur {round}")]);
    let value_id = value["id"].as_str().expect("value id").to_owned();
    run("values endorse", &["values", "endorse", &value_id]);
    run("values list", &["values", "list"]);
    run(
        "values edit",
        &["values", "edit", &value_id, "--description", round],
    );
    run("values withdraw", &["values", "withdraw", &value_id]);
    let event = run(
        "event add",
        &[
            "event",
            "add",
            &format!("Formation {round}"),
            "--from",
            &at("14:00"),
            "--to",
            &at("16:00"),
            "--seats",
            "4",
            "--per-org",
            "2",
        ],
    );
    let event_id = event["id"].as_str().expect("event id").to_owned();
    run(
        "event register",
        &[
            "event", "register", &event_id, "--seats", "2", "--names", "Ana",
        ],
    );
    run("event list", &["event", "list"]);
    run(
        "event attendance",
        &[
            "event",
            "attendance",
            &event_id,
            "--out",
            &out_file("attendance.csv"),
        ],
    );
    run("event close", &["event", "close", &event_id]);
    run("event open", &["event", "open", &event_id]);
    run(
        "event cancel-registration",
        &["event", "cancel-registration", &event_id],
    );
    let group = format!("Groupe {round}");
    run(
        "group create",
        &[
            "group",
            "create",
            &group,
            "--org",
            "Asbl B",
            "--description",
            round,
        ],
    );
    run("group list", &["group", "list"]);
    run("group add", &["group", "add", &group, "Asbl C"]);
    run("group remove", &["group", "remove", &group, "Asbl C"]);
    let notes = scratch.join(format!("notes-{round}.md"));
    std::fs::write(&notes, round).expect("write");
    run(
        "group notes set",
        &[
            "group",
            "notes",
            &group,
            "set",
            "--file",
            notes.to_str().expect("path"),
        ],
    );
    run("group notes", &["group", "notes", &group]);
    run(
        "library add --group",
        &[
            "library", "add", &file, "--title", &group, "--group", &group,
        ],
    );
    run(
        "resource add --group",
        &[
            "resource", "add", &group, "--kind", "room", "--group", &group,
        ],
    );
    run(
        "propose --group",
        &[
            "propose", "general", "--title", &group, "--text", round, "--group", &group,
        ],
    );
    run("group leave", &["group", "leave", &group]);
    run(
        "fees propose",
        &[
            "fees",
            "propose",
            "--tier",
            "small=100.00",
            "--org",
            "Asbl A=small",
        ],
    );
    run("fees", &["fees"]);
    run(
        "fund request",
        &[
            "fund",
            "request",
            "--kind",
            "loan",
            "--amount",
            "1500.00",
            "--reason",
            round,
            "--repay",
            "12 x monthly",
        ],
    );
    run(
        "loan offer",
        &[
            "loan",
            "offer",
            "Asbl B",
            "--amount",
            "500.00",
            "--rate",
            "1",
            "--schedule",
            "4 x quarterly",
        ],
    );
    run(
        "ledger record-payment",
        &[
            "ledger",
            "record-payment",
            "--to",
            "fund",
            "--from",
            "Asbl B",
            "--amount",
            "100.00",
        ],
    );
    let payout = run(
        "ledger record-payment --from fund",
        &[
            "ledger",
            "record-payment",
            "--from",
            "fund",
            "--amount",
            "10.00",
        ],
    );
    let payout_id = payout["id"].as_str().expect("payment id").to_owned();
    run("ledger confirm", &["ledger", "confirm", &payout_id]);
    run("ledger", &["ledger"]);
    run(
        "ledger export",
        &[
            "ledger",
            "export",
            "--format",
            "csv",
            "--out",
            &out_file("ledger.csv"),
        ],
    );
    run(
        "org set",
        &["org", "set", "--description", round, "--offers", "salle"],
    );
    run("org show", &["org", "show", "Asbl A"]);
    run("member role", &["member", "role", "Asbl A", "coordinator"]);
    run("org list", &["org", "list", "--offers", "salle"]);
    let entry = run(
        "library add",
        &[
            "library",
            "add",
            &file,
            "--title",
            round,
            "--kind",
            "procedure",
        ],
    );
    let entry_id = entry["id"].as_str().expect("entry id").to_owned();
    run("library list", &["library", "list"]);
    run(
        "library get",
        &["library", "get", &entry_id, "--out", &out_file("entry.txt")],
    );
    let resource = format!("Salle {round}");
    run(
        "resource add",
        &[
            "resource",
            "add",
            &resource,
            "--kind",
            "room",
            "--capacity",
            "12",
            "--approval",
        ],
    );
    run("resource list", &["resource", "list"]);
    let booking = run(
        "book",
        &[
            "book",
            &resource,
            "--from",
            &at("10:00"),
            "--to",
            &at("12:00"),
            "--purpose",
            "AG",
        ],
    );
    let booking_id = booking["ids"][0].as_str().expect("booking id").to_owned();
    run("booking approve", &["booking", "approve", &booking_id]);
    run(
        "book --repeat",
        &[
            "book",
            &resource,
            "--from",
            &at("14:00"),
            "--to",
            &at("15:00"),
            "--repeat",
            "weekly",
            "--count",
            "3",
        ],
    );
    let other = run(
        "book (to decline)",
        &[
            "book",
            &resource,
            "--from",
            &at("16:00"),
            "--to",
            &at("17:00"),
        ],
    );
    let other_id = other["ids"][0].as_str().expect("booking id").to_owned();
    run(
        "booking decline",
        &["booking", "decline", &other_id, "--reason", "travaux"],
    );
    run("bookings", &["bookings", "--resource", &resource]);
    run("cancel", &["cancel", &booking_id]);
    run(
        "resource edit",
        &[
            "resource", "edit", &resource, "--quota", "20h/week", "--clear", "capacity",
        ],
    );
    let spare = format!("Réserve {round}");
    run(
        "resource add (to withdraw)",
        &["resource", "add", &spare, "--kind", "equipment"],
    );
    run(
        "resource withdraw",
        &["resource", "withdraw", &spare, "--reason", "vendue"],
    );
    run(
        "calendar export",
        &["calendar", "export", "--out", &out_file("calendar.ics")],
    );
    let proposal = run(
        "propose",
        &[
            "propose",
            "general",
            "--title",
            round,
            "--text",
            "Un texte",
            "--deadline",
            "2031-01-01T00:00",
        ],
    );
    let proposal_id = proposal["id"].as_str().expect("proposal id").to_owned();
    run("vote", &["vote", &proposal_id, "agree"]);
    run("proposals", &["proposals"]);
    run("decisions", &["decisions"]);
    run(
        "decisions export",
        &[
            "decisions",
            "export",
            "--format",
            "markdown",
            "--out",
            &out_file("decisions.md"),
        ],
    );
    run("charter diff", &["charter", "diff", "adopted", "draft"]);
    run("invite", &["invite"]);
    run("device invite", &["device", "invite"]);
    run(
        "export",
        &[
            "export",
            "charter",
            "--format",
            "automerge",
            "--out",
            &out_file("charter.am"),
        ],
    );
    run("sync", &["sync", "--timeout", "10"]);
    run("library withdraw", &["library", "withdraw", &entry_id]);
    out
}

#[test]
fn every_command_answers_the_same_shape_with_and_without_serve() {
    let a = TestHome::founded("Asbl A");
    let sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    let b_dev = b.json(&["status"])["device"]
        .as_str()
        .expect("device")
        .to_owned();
    let c_dev = c.json(&["status"])["device"]
        .as_str()
        .expect("device")
        .to_owned();
    eventually(20, "A is connected to B and C", || {
        let peers = a.json(&["peers"]);
        [&b_dev, &c_dev].iter().all(|d| {
            peers
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["device"] == d.as_str() && p["connected"] == true)
        })
    });
    // C's node is stopped from now on: a member that cannot be reached.
    sc.stop();
    sa.stop();
    let direct = every_command(&a, "direct");
    let sa = Serve::start(&a);
    let served = every_command(&a, "served");
    sa.stop();

    assert_eq!(
        direct.keys().collect::<Vec<_>>(),
        served.keys().collect::<Vec<_>>()
    );
    for (command, reply) in &direct {
        if let Some(difference) = differ("", reply, &served[command]) {
            panic!(
                "`entraide {command} --json` answers differently with `serve` ({difference}):\nwithout: {reply}\nwith:    {}",
                served[command]
            );
        }
    }
    // `sync` tried both members on both paths: B synced, C failed.
    for (path, replies) in [("without serve", &direct), ("with serve", &served)] {
        let sync = &replies["sync"];
        let synced: Vec<&str> = sync["synced_with"]
            .as_array()
            .expect("synced_with")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let failed: Vec<&str> = sync["failed"]
            .as_array()
            .expect("failed")
            .iter()
            .filter_map(|f| f["device"].as_str())
            .collect();
        assert_eq!(synced, [b_dev.as_str()], "{path}: {sync}");
        assert_eq!(failed, [c_dev.as_str()], "{path}: {sync}");
    }

    // C comes back while A serves, its redials to C spaced out by then:
    // `sync` run at once tries C again and waits for it, rather than
    // answer with the peers connected at that moment.
    let _sa = Serve::start(&a);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let _sc = Serve::start(&c);
    let sync = a.json(&["sync", "--timeout", "20"]);
    let mut synced: Vec<&str> = sync["synced_with"]
        .as_array()
        .expect("synced_with")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    synced.sort();
    let mut both = [b_dev.as_str(), c_dev.as_str()];
    both.sort();
    assert_eq!(synced, both, "{sync}");
}
