//! Deciding together, in-process: the alliance's default process, and
//! admission and removal proposals that decide the membership motion.

mod common;

use common::{node, push};
use entraide_node::{Node, Request, Ticket};
use serde_json::Value;

fn run(n: &mut Node, request: Request) -> Value {
    n.execute(request).expect("request").json
}

fn found(n: &mut Node, admission: &str, process: Option<&str>) -> Value {
    let reply = run(
        n,
        Request::AllianceCreate {
            name: "Alliance".into(),
            admission: admission.into(),
            process: process.map(str::to_owned),
        },
    );
    n.set_listen_addrs(vec!["127.0.0.1:9".parse().expect("addr")], None)
        .expect("addrs");
    reply
}

fn propose(n: &mut Node, kind: &str, title: &str, org: Option<&str>) -> Result<String, String> {
    n.execute(Request::Propose {
        kind: kind.into(),
        title: title.into(),
        text: String::new(),
        process: None,
        quorum: None,
        deadline: None,
        org: org.map(str::to_owned),
        group: None,
    })
    .map(|r| r.json["id"].as_str().expect("id").to_owned())
    .map_err(|e| e.to_string())
}

fn vote(n: &mut Node, proposal: &str, position: &str, reason: &str) -> Value {
    run(
        n,
        Request::Vote {
            proposal: proposal.into(),
            position: position.into(),
            reason: reason.into(),
        },
    )
}

fn proposal(n: &mut Node, id: &str) -> Value {
    let list = run(n, Request::Proposals { open: false });
    list.as_array()
        .expect("list")
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .expect("the proposal is listed")
}

fn org_status(n: &mut Node, name: &str) -> Option<String> {
    let list = run(n, Request::MemberList);
    list.as_array()
        .expect("members")
        .iter()
        .find(|o| o["org"] == name)
        .map(|o| o["status"].as_str().expect("status").to_owned())
}

/// `joiner` asks `inviter` to join; returns whether it was admitted at once.
fn ask_to_join(inviter: &mut Node, joiner: &mut Node) -> bool {
    let reply = run(
        inviter,
        Request::Invite {
            role: "member".into(),
            expires: "1d".into(),
        },
    );
    let ticket = Ticket::decode(reply["ticket"].as_str().expect("ticket")).expect("ticket");
    let request = joiner.join_request(&ticket).expect("request");
    let admission = inviter.admit(joiner.device(), &request).expect("admit");
    joiner
        .accept_admission(&ticket, admission.ops())
        .expect("accept")
}

#[test]
fn the_default_process_is_chosen_at_founding() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = node(&dir, "a");
    let refused = a.execute(Request::AllianceCreate {
        name: "Alliance".into(),
        admission: "consensus".into(),
        process: Some("unanimity".into()),
    });
    let message = refused.expect_err("an unknown process").to_string();
    assert!(
        message.contains("consent, consensus or majority"),
        "{message}"
    );
    assert!(run(&mut a, Request::Status)["alliance"].is_null());

    let founded = found(&mut a, "consensus", Some("consent"));
    assert_eq!(founded["process"], "consent");
    assert_eq!(
        run(&mut a, Request::Status)["alliance"]["process"],
        "consent"
    );
    let id = propose(&mut a, "general", "Summer party", None).expect("propose");
    assert_eq!(proposal(&mut a, &id)["process"], "consent");

    // A member that joins later learns the same default from the log.
    let mut b = node(&dir, "b");
    assert!(ask_to_join(&mut a, &mut b));
    assert_eq!(
        run(&mut b, Request::Status)["alliance"]["process"],
        "consent"
    );
    let id = propose(&mut b, "general", "Autumn party", None).expect("propose");
    assert_eq!(proposal(&mut b, &id)["process"], "consent");
}

#[test]
fn an_admission_proposal_decides_the_pending_admission() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut a, mut b, mut c) = (node(&dir, "a"), node(&dir, "b"), node(&dir, "c"));
    found(&mut a, "consensus", None);
    assert!(ask_to_join(&mut a, &mut b), "alone, a admits b at once");
    // With two members, c waits for b's approval too.
    assert!(!ask_to_join(&mut a, &mut c));
    push(&mut a, &mut b);
    assert_eq!(org_status(&mut b, "c").as_deref(), Some("pending"));

    let refused = propose(&mut b, "admission", "Welcome c", None).expect_err("no --org");
    assert!(refused.contains("--org"), "{refused}");
    let refused = propose(&mut b, "admission", "Welcome a", Some("a")).expect_err("a is in");
    assert!(
        refused.contains("no admission of a is waiting"),
        "{refused}"
    );

    let id = propose(&mut b, "admission", "Welcome c", Some("c")).expect("propose");
    let listed = proposal(&mut b, &id);
    assert_eq!(listed["status"], "open");
    assert!(listed["motion"].is_string());

    // b's agreement is b's signed approval: the motion passes, c is in.
    vote(&mut b, &id, "agree", "");
    assert_eq!(org_status(&mut b, "c").as_deref(), Some("active"));
    assert_eq!(proposal(&mut b, &id)["status"], "passed");

    // a learns both the proposal and the approval, and agrees.
    push(&mut b, &mut a);
    assert_eq!(org_status(&mut a, "c").as_deref(), Some("active"));
    assert_eq!(proposal(&mut a, &id)["status"], "passed");
    let late = a.execute(Request::Vote {
        proposal: id.clone(),
        position: "block".into(),
        reason: "too late".into(),
    });
    assert!(late.expect_err("closed").to_string().contains("closed"));
}

#[test]
fn a_block_on_an_admission_proposal_blocks_the_admission() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut a, mut b, mut c) = (node(&dir, "a"), node(&dir, "b"), node(&dir, "c"));
    found(&mut a, "consensus", None);
    assert!(ask_to_join(&mut a, &mut b));
    assert!(!ask_to_join(&mut a, &mut c));
    let id = propose(&mut a, "admission", "Welcome c", Some("c")).expect("propose");
    push(&mut a, &mut b);
    let reply = vote(&mut b, &id, "block", "we have never met them");
    assert_eq!(reply["status"], "blocked");
    assert_ne!(org_status(&mut b, "c").as_deref(), Some("active"));
    push(&mut b, &mut a);
    assert_eq!(proposal(&mut a, &id)["status"], "blocked");
    let log = run(&mut a, Request::MemberLog);
    assert!(
        log.to_string().contains("we have never met them"),
        "the block's reason is in the membership log: {log}"
    );
}

#[test]
fn a_removal_proposal_opens_and_decides_the_removal() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut a, mut b, mut c) = (node(&dir, "a"), node(&dir, "b"), node(&dir, "c"));
    found(&mut a, "majority", None);
    assert!(ask_to_join(&mut a, &mut b));
    push(&mut a, &mut b);
    // Under majority, a and b admit c.
    if !ask_to_join(&mut a, &mut c) {
        push(&mut a, &mut b);
        run(&mut b, Request::MemberApprove { org: "c".into() });
        push(&mut b, &mut a);
    }
    push(&mut a, &mut b);
    assert_eq!(org_status(&mut a, "c").as_deref(), Some("active"));

    // Proposing the removal signs the motion (a's approval); b's agreement
    // makes the majority.
    let id = propose(&mut a, "removal", "c left the alliance", Some("c")).expect("propose");
    assert_eq!(org_status(&mut a, "c").as_deref(), Some("active"));
    push(&mut a, &mut b);
    vote(&mut b, &id, "agree", "");
    assert_eq!(org_status(&mut b, "c").as_deref(), Some("removed"));
    push(&mut b, &mut a);
    assert_eq!(org_status(&mut a, "c").as_deref(), Some("removed"));
    assert_eq!(proposal(&mut a, &id)["status"], "passed");
}
