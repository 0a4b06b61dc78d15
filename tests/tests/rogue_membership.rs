//! Attacks on the membership rules by a member whose client is modified: it
//! signs, with its own valid device key, a membership operation the stock
//! client refuses to sign, writes it into its own store, and lets the next
//! `entraide serve` deliver it to the others through the real sync path.
//! Every node must keep it, mark it invalid and not let it change anything.

use ed25519_dalek::SigningKey;
use entraide_membership::{MembershipLog, Op, OpBody, OpHash, Role, SignedOp};
use entraide_store::{Store, WriteBatch};
use entraide_tests::{Serve, TestHome, eventually};
use serde_json::Value;

/// What a modified client does: signs `body` with the device key of `home`
/// (whose `serve` is stopped) on top of every operation its store holds,
/// and stores it as the stock node stores its own operations. Returns its hash.
fn rogue_sign(home: &TestHome, body: OpBody) -> OpHash {
    let path = home.path();
    let seed: [u8; 32] = std::fs::read(path.join("device.key"))
        .expect("read device.key")
        .try_into()
        .expect("device.key is 32 bytes");
    let key = SigningKey::from_bytes(&seed);
    let store = Store::open(&path.join("entraide.redb")).expect("open the rogue's store");
    let mut log = MembershipLog::new();
    let ops: Vec<SignedOp> = store
        .ops()
        .expect("read membership operations")
        .iter()
        .map(|b| SignedOp::decode(b).expect("a stored operation decodes"))
        .collect();
    log.insert_all(ops);
    let op = SignedOp::sign(
        Op {
            parents: log.heads(),
            author: entraide_membership::DeviceId(key.verifying_key().to_bytes()),
            time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
            body,
        },
        &key,
    );
    let mut batch = WriteBatch::new();
    batch.op(op.hash().0, op.bytes().to_vec());
    store.commit(batch).expect("store the rogue operation");
    op.hash()
}

fn founded(rule: &str) -> (TestHome, Serve) {
    let a = TestHome::new();
    a.ok(&["init", "--org", "Asbl A"]);
    a.ok(&["alliance", "create", "Alliance", "--admission", rule]);
    let serve = Serve::start(&a);
    (a, serve)
}

fn member_list(home: &TestHome) -> Vec<Value> {
    home.json(&["member", "list"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn org_status(home: &TestHome, org: &str) -> Option<String> {
    member_list(home)
        .iter()
        .find(|o| o["org"] == org)
        .and_then(|o| o["status"].as_str().map(str::to_owned))
}

/// The verdict on one operation in `member log`: (valid, reason).
fn verdict(home: &TestHome, op: &OpHash) -> Option<(bool, String)> {
    let id = op.to_hex();
    home.json(&["member", "log"])
        .as_array()?
        .iter()
        .find(|o| o["id"] == id.as_str())
        .map(|o| {
            (
                o["valid"].as_bool().unwrap_or(true),
                o["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
}

/// A, B and C in a `rule` alliance, every node serving: A founds, B joins
/// (A alone decides), C is proposed by A and approved by B.
fn three(rule: &str) -> [(TestHome, Serve); 3] {
    let (a, sa) = founded(rule);
    let b = entraide_tests::join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let ticket = a.ok(&["invite"]).stdout.trim().to_owned();
    let c = TestHome::new();
    c.ok(&["init", "--org", "Asbl C"]);
    assert_eq!(c.json(&["join", &ticket])["status"], "pending");
    eventually(20, "B sees C pending", || {
        org_status(&b, "Asbl C").as_deref() == Some("pending")
    });
    b.ok(&["member", "approve", "Asbl C"]);
    assert_eq!(
        c.json(&["join", &ticket, "--wait", "--timeout", "20"])["status"],
        "active"
    );
    let sc = Serve::start(&c);
    let homes = [(a, sa), (b, sb), (c, sc)];
    eventually(20, "every node sees three active members", || {
        homes.iter().all(|(h, _)| {
            member_list(h)
                .iter()
                .filter(|o| o["status"] == "active")
                .count()
                == 3
        })
    });
    homes
}

#[test]
fn rogue_a_removed_organisation_cannot_block_its_own_removal() {
    let [(a, _sa), (b, _sb), (c, sc)] = three("consensus");
    let motion = a.json(&["member", "remove", "Asbl C", "--reason", "left us"]);
    assert_eq!(motion["status"], "pending", "{motion}");
    let motion = OpHash::from_hex(motion["id"].as_str().expect("id")).expect("hash");
    eventually(20, "C sees the motion to remove it", || {
        verdict(&c, &motion).is_some()
    });

    // The stock client refuses, before signing anything.
    for args in [
        &["member", "block", "Asbl C", "--reason", "we disagree"][..],
        &["member", "approve", "Asbl C"][..],
    ] {
        let run = c.fails(args, 2);
        assert!(run.stderr.contains("its own removal"), "{run:?}");
    }

    // A modified client signs the block anyway; sync delivers it.
    let addr = sc.addr.clone();
    sc.stop();
    let block = rogue_sign(
        &c,
        OpBody::Block {
            motion,
            reason: "we disagree".into(),
        },
    );
    let _sc = Serve::start_at(&c, &addr);
    for (name, home) in [("A", &a), ("B", &b), ("C", &c)] {
        eventually(20, &format!("{name} holds C's block, invalid"), || {
            verdict(home, &block).is_some_and(|(valid, reason)| {
                !valid && reason.contains("cannot block its own removal")
            })
        });
    }
    // The block is not counted: the motion still waits for B, only B.
    for home in [&a, &b] {
        assert_eq!(org_status(home, "Asbl C").as_deref(), Some("active"));
        let (valid, reason) = verdict(home, &motion).expect("motion");
        assert!(valid, "{reason}");
        assert!(reason.contains("1 of 2"), "{reason}");
    }

    // Every other organisation approves: C is removed, on every member node.
    b.ok(&["member", "approve", "Asbl C"]);
    for (name, home) in [("A", &a), ("B", &b)] {
        eventually(20, &format!("{name} sees C removed"), || {
            org_status(home, "Asbl C").as_deref() == Some("removed")
        });
    }
    // C's own node learns it too, and never counted its own block.
    eventually(20, "C sees itself removed", || {
        org_status(&c, "Asbl C").as_deref() == Some("removed")
    });
    let (valid, _) = verdict(&c, &block).expect("C keeps its block");
    assert!(!valid);
}

#[test]
fn rogue_a_plain_member_cannot_invite_a_coordinator() {
    let [(a, _sa), (b, sb), (c, _sc)] = three("majority");
    let role_of = |home: &TestHome, org: &str| {
        member_list(home)
            .iter()
            .find(|o| o["org"] == org)
            .and_then(|o| o["role"].as_str().map(str::to_owned))
    };
    assert_eq!(role_of(&a, "Asbl B").as_deref(), Some("member"));

    // The stock client refuses, before writing a ticket.
    let run = b.fails(&["invite", "--role", "coordinator"], 2);
    assert!(
        run.stderr
            .contains("only a coordinator may invite a coordinator"),
        "{run:?}"
    );
    // A coordinator's own invitation of a coordinator is fine, and those
    // who approve see the role it asks for.
    let ticket = a
        .ok(&["invite", "--role", "coordinator"])
        .stdout
        .trim()
        .to_owned();
    let d = TestHome::new();
    d.ok(&["init", "--org", "Asbl D"]);
    assert_eq!(d.json(&["join", &ticket])["status"], "pending");
    eventually(20, "B sees D pending, as a coordinator", || {
        member_list(&b)
            .iter()
            .find(|o| o["org"] == "Asbl D")
            .is_some_and(|o| {
                o["status"] == "pending" && o["waiting"].to_string().contains("as a coordinator")
            })
    });
    let text = b.ok(&["member", "list"]).stdout;
    assert!(
        text.lines()
            .any(|l| l.starts_with("Asbl D") && l.contains("as a coordinator")),
        "{text}"
    );

    // A modified client signs the admission of a friend as a coordinator.
    let friend = SigningKey::from_bytes(&[42; 32]);
    let addr = sb.addr.clone();
    sb.stop();
    let admit = rogue_sign(
        &b,
        OpBody::Admit {
            org_id: "rogue-friend".into(),
            org_name: "Rogue Friend".into(),
            role: Role::Coordinator,
            device: entraide_membership::DeviceId(friend.verifying_key().to_bytes()),
            invitation: [42; 32],
        },
    );
    let _sb = Serve::start_at(&b, &addr);
    for (name, home) in [("A", &a), ("B", &b), ("C", &c)] {
        eventually(20, &format!("{name} holds B's admission, invalid"), || {
            verdict(home, &admit).is_some_and(|(valid, reason)| {
                !valid && reason.contains("only a coordinator may admit")
            })
        });
    }
    // No node lists the friend, pending or otherwise; nobody can approve it.
    for home in [&a, &b, &c] {
        assert_eq!(org_status(home, "Rogue Friend"), None);
        let coordinators: Vec<String> = member_list(home)
            .iter()
            .filter(|o| o["role"] == "coordinator")
            .filter_map(|o| o["org"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(coordinators, ["Asbl A"]);
    }
    c.fails(&["member", "approve", "Rogue Friend"], 2);

    // C's only device is stolen: a plain member may not revoke another
    // organisation's device, the coordinator may.
    let device_of = |home: &TestHome| {
        home.json(&["status"])["device"]
            .as_str()
            .expect("device")
            .to_owned()
    };
    let (a_device, c_device) = (device_of(&a), device_of(&c));
    b.fails(&["device", "remove", &a_device], 2);
    a.ok(&["device", "remove", &c_device[..16]]);
    eventually(20, "B sees C's device revoked", || {
        member_list(&b)
            .iter()
            .any(|o| o["org"] == "Asbl C" && o["removed_devices"].to_string().contains(&c_device))
    });
}
