//! Attacks on the membership rules by members holding valid keys: every
//! operation here is correctly signed by its author's own device, and each
//! must still be refused (kept in the log, marked invalid, changing nothing).

use ed25519_dalek::SigningKey;
use entraide_membership::{
    AdmissionRule, DeviceId, MAX_NAME_CHARS, MembershipLog, MembershipState, MotionStatus, Op,
    OpBody, OpHash, OrgStatus, Role, SignedOp,
};

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn dev(n: u8) -> DeviceId {
    DeviceId(key(n).verifying_key().to_bytes())
}

fn org(n: u8) -> String {
    format!("org{n}")
}

fn sign(author: u8, parents: Vec<OpHash>, body: OpBody) -> SignedOp {
    SignedOp::sign(
        Op {
            parents,
            author: dev(author),
            time_ms: 0,
            body,
        },
        &key(author),
    )
}

/// A log where device `n` is the first device of `org{n}`.
struct History {
    log: MembershipLog,
}

impl History {
    fn found(rule: AdmissionRule) -> Self {
        let mut log = MembershipLog::new();
        log.insert(sign(
            1,
            vec![],
            OpBody::Found {
                alliance_name: "Alliance".into(),
                org_id: org(1),
                org_name: "Org 1".into(),
                admission: rule,
            },
        ))
        .expect("found");
        Self { log }
    }

    fn add(&mut self, author: u8, body: OpBody) -> OpHash {
        let op = sign(author, self.log.heads(), body);
        let hash = op.hash();
        self.log.insert(op).expect("insert");
        hash
    }

    fn admit_as(&mut self, author: u8, n: u8, role: Role) -> OpHash {
        self.add(
            author,
            OpBody::Admit {
                org_id: org(n),
                org_name: format!("Org {n}"),
                role,
                device: dev(n),
                invitation: [n; 32],
            },
        )
    }

    fn approve(&mut self, author: u8, motion: OpHash) -> OpHash {
        self.add(author, OpBody::Approve { motion })
    }

    fn state(&self) -> MembershipState {
        self.log.state()
    }

    fn status(&self, n: u8) -> Option<OrgStatus> {
        self.state().orgs.get(&org(n)).map(|o| o.status)
    }

    fn refused(&self, op: OpHash, because: &str) {
        let s = self.state();
        let v = &s.verdicts[&op];
        assert!(!v.valid, "accepted: {v:?}");
        let reason = v.reason.as_deref().unwrap_or("");
        assert!(
            reason.contains(because),
            "reason {reason:?} lacks {because:?}"
        );
    }
}

/// Orgs 1, 2 and 3 under `rule`, every admission approved by all; org 1 is
/// the only coordinator.
fn three(rule: AdmissionRule) -> History {
    let mut h = History::found(rule);
    let a2 = h.admit_as(1, 2, Role::Member);
    h.approve(1, a2);
    let a3 = h.admit_as(1, 3, Role::Member);
    h.approve(2, a3);
    assert_eq!(h.status(3), Some(OrgStatus::Active));
    h
}

#[test]
fn a_removed_organisation_cannot_block_or_approve_its_own_removal() {
    let mut h = three(AdmissionRule::Consensus);
    let motion = h.add(
        1,
        OpBody::RemoveOrg {
            org_id: org(3),
            reason: "test".into(),
            cutoffs: vec![],
        },
    );
    // Org 3, still active, blocks and approves its own removal.
    let block = h.add(
        3,
        OpBody::Block {
            motion,
            reason: "we do not agree".into(),
        },
    );
    let approve = h.approve(3, motion);
    h.refused(block, "cannot block its own removal");
    h.refused(approve, "cannot approve its own removal");
    let s = h.state();
    assert_eq!(s.motions[&motion].status, MotionStatus::Pending);
    assert!(s.motions[&motion].blocks.is_empty());
    assert!(!s.motions[&motion].approvals.contains(&org(3)));
    assert_eq!(
        s.verdicts[&motion].reason.as_deref(),
        Some("pending: needs consensus: 1 of 2 approvals"),
        "org 3 is not counted"
    );
    // Every other active organisation approves: it passes despite the block.
    h.approve(2, motion);
    assert_eq!(h.status(3), Some(OrgStatus::Removed));
    assert_eq!(h.state().motions[&motion].status, MotionStatus::Passed);
}

#[test]
fn a_block_of_its_own_removal_concurrent_with_the_last_approval_is_void() {
    let mut h = three(AdmissionRule::Consensus);
    let motion = h.add(
        1,
        OpBody::RemoveOrg {
            org_id: org(3),
            reason: "test".into(),
            cutoffs: vec![],
        },
    );
    // Org 3 blocks while org 2 approves, on two branches.
    let block = sign(
        3,
        vec![motion],
        OpBody::Block {
            motion,
            reason: "no".into(),
        },
    );
    let ok = sign(2, vec![motion], OpBody::Approve { motion });
    for order in [[block.clone(), ok.clone()], [ok, block.clone()]] {
        let mut log = h.log.clone();
        log.insert_all(order.to_vec());
        let s = log.state();
        assert_eq!(s.orgs[&org(3)].status, OrgStatus::Removed);
        assert!(!s.verdicts[&block.hash()].valid);
    }
}

#[test]
fn only_a_coordinator_admits_a_coordinator_under_every_rule() {
    for rule in [
        AdmissionRule::Coordinator,
        AdmissionRule::Majority,
        AdmissionRule::Consensus,
    ] {
        let mut h = three(rule);
        // Org 2, a plain member, invites org 5 as a coordinator.
        let rogue = h.admit_as(2, 5, Role::Coordinator);
        h.refused(rogue, "coordinator");
        assert_eq!(h.status(5), None, "{rule:?}");
        // Approvals of an invalid motion change nothing.
        let late = h.approve(1, rogue);
        h.approve(3, rogue);
        assert!(!h.state().verdicts[&late].valid);
        assert_eq!(h.status(5), None, "{rule:?}");
        assert!(h.state().org_of_device(&dev(5)).is_none());
    }
}

#[test]
fn a_coordinator_admits_a_coordinator_and_the_pending_motion_says_so() {
    let mut h = three(AdmissionRule::Majority);
    let motion = h.admit_as(1, 5, Role::Coordinator);
    let s = h.state();
    assert_eq!(s.motions[&motion].role, Some(Role::Coordinator));
    let reason = s.verdicts[&motion].reason.clone().unwrap_or_default();
    assert!(reason.contains("as a coordinator"), "{reason}");
    assert_eq!(s.orgs[&org(5)].role, Role::Member, "not before it passes");
    h.approve(2, motion);
    let s = h.state();
    assert_eq!(s.orgs[&org(5)].status, OrgStatus::Active);
    assert_eq!(s.orgs[&org(5)].role, Role::Coordinator);
}

#[test]
fn an_organisation_id_is_never_given_to_a_newcomer_twice() {
    let mut h = three(AdmissionRule::Consensus);
    let newcomer = |h: &mut History, id: String, n: u8| {
        h.add(
            1,
            OpBody::Admit {
                org_id: id,
                org_name: format!("Newcomer {n}"),
                role: Role::Member,
                device: dev(n),
                invitation: [n; 32],
            },
        )
    };
    // Active, and the founder's.
    let active = newcomer(&mut h, org(2), 40);
    h.refused(active, "a newcomer needs an id of its own");
    let founder = newcomer(&mut h, org(1), 41);
    h.refused(founder, "a newcomer needs an id of its own");
    // Pending.
    let pending = h.admit_as(1, 6, Role::Member);
    assert_eq!(h.status(6), Some(OrgStatus::Pending));
    let taken = newcomer(&mut h, org(6), 42);
    h.refused(taken, "a newcomer needs an id of its own");
    // Blocked: the organisation is gone from the state, its id is not free.
    h.add(
        2,
        OpBody::Block {
            motion: pending,
            reason: "no".into(),
        },
    );
    assert_eq!(h.status(6), None);
    let after_block = newcomer(&mut h, org(6), 43);
    h.refused(after_block, "already used");
    // Removed.
    let rm = h.add(
        1,
        OpBody::RemoveOrg {
            org_id: org(3),
            reason: "test".into(),
            cutoffs: vec![],
        },
    );
    h.approve(2, rm);
    assert_eq!(h.status(3), Some(OrgStatus::Removed));
    let removed = newcomer(&mut h, org(3), 44);
    h.refused(removed, "a newcomer needs an id of its own");
    let s = h.state();
    for n in [40, 41, 42, 43, 44] {
        assert!(s.any_org_of_device(&dev(n)).is_none());
    }
    assert!(!s.orgs[&org(3)].devices.contains(&dev(44)));
}

#[test]
fn names_with_control_characters_or_too_long_are_invalid() {
    // A founding with a bad alliance name founds nothing.
    for (alliance, org_name) in [
        ("Alli\nance", "Org 1"),
        ("Alliance", "Org\u{1b}[2J 1"),
        ("Alliance", "   "),
    ] {
        let mut log = MembershipLog::new();
        let f = sign(
            1,
            vec![],
            OpBody::Found {
                alliance_name: alliance.into(),
                org_id: org(1),
                org_name: org_name.into(),
                admission: AdmissionRule::Coordinator,
            },
        );
        log.insert(f.clone()).expect("insert");
        let s = log.state();
        assert!(!s.verdicts[&f.hash()].valid);
        assert!(s.alliance.is_none());
        assert!(s.orgs.is_empty());
    }
    let long = "x".repeat(MAX_NAME_CHARS + 1);
    let longest = "é".repeat(MAX_NAME_CHARS);
    let mut h = History::found(AdmissionRule::Coordinator);
    for (n, (id, name, valid)) in (10..).zip([
        (org(10), "Org\r\n10".to_owned(), false),
        (org(11), "Org\u{7f}11".to_owned(), false),
        (org(12), "Org\u{202e}12\u{85}".to_owned(), false),
        (org(13), long.clone(), false),
        ("id\n13".to_owned(), "Org 13".to_owned(), false),
        (long, "Org 14".to_owned(), false),
        (org(15), longest, true),
    ]) {
        let op = h.add(
            1,
            OpBody::Admit {
                org_id: id.clone(),
                org_name: name.clone(),
                role: Role::Member,
                device: dev(n),
                invitation: [n; 32],
            },
        );
        let s = h.state();
        assert_eq!(s.verdicts[&op].valid, valid, "{id:?} {name:?}");
        assert_eq!(s.orgs.contains_key(&id), valid, "{id:?} {name:?}");
    }
}

#[test]
fn document_author_org_answers_only_for_admitted_organisations() {
    let mut h = three(AdmissionRule::Consensus);
    let laptop = h.add(
        2,
        OpBody::AddDevice {
            device: dev(22),
            invitation: [22; 32],
        },
    );
    h.add(
        2,
        OpBody::RemoveDevice {
            device: dev(22),
            cutoffs: vec![],
        },
    );
    let pending = h.admit_as(1, 6, Role::Member);
    let blocked = h.admit_as(1, 7, Role::Member);
    h.add(
        2,
        OpBody::Block {
            motion: blocked,
            reason: "no".into(),
        },
    );
    let rm = h.add(
        1,
        OpBody::RemoveOrg {
            org_id: org(3),
            reason: "test".into(),
            cutoffs: vec![],
        },
    );
    h.approve(2, rm);
    let s = h.state();
    assert!(s.verdicts[&laptop].valid);
    assert_eq!(s.motions[&pending].status, MotionStatus::Pending);
    let author = |n: u8| s.document_author_org(&dev(n)).map(|o| o.id.clone());
    assert_eq!(author(1), Some(org(1)), "active");
    assert_eq!(author(2), Some(org(2)), "active");
    assert_eq!(
        author(22),
        Some(org(2)),
        "a revoked device of an active one"
    );
    assert_eq!(author(3), Some(org(3)), "a removed organisation's device");
    assert_eq!(author(6), None, "pending");
    assert_eq!(author(7), None, "blocked");
    assert_eq!(author(99), None, "a stranger");
    // Unlike any_org_of_device, which also answers for a pending one.
    assert_eq!(
        s.any_org_of_device(&dev(6)).map(|o| o.id.clone()),
        Some(org(6))
    );
}

#[test]
fn a_coordinator_revokes_a_stolen_device_of_another_organisation() {
    let mut h = three(AdmissionRule::Majority);
    // Org 3's only device is stolen; the coordinator, org 1, revokes it.
    let revoke = h.add(
        1,
        OpBody::RemoveDevice {
            device: dev(3),
            cutoffs: vec![],
        },
    );
    let s = h.state();
    assert!(s.verdicts[&revoke].valid, "{:?}", s.verdicts[&revoke]);
    assert!(s.removals.contains_key(&dev(3)));
    assert!(s.orgs[&org(3)].removed_devices.contains(&dev(3)));
    assert!(s.org_of_device(&dev(3)).is_none());
    assert!(s.orgs[&org(1)].removed_devices.is_empty());
    // The thief, offline, keeps signing: nothing of it counts.
    let thief = sign(
        3,
        vec![h.log.alliance_id().expect("founded")],
        OpBody::Admit {
            org_id: "friend".into(),
            org_name: "Friend".into(),
            role: Role::Member,
            device: dev(50),
            invitation: [50; 32],
        },
    );
    h.log.insert(thief.clone()).expect("insert");
    h.refused(thief.hash(), "");
    // A plain member may not revoke another organisation's device.
    let rogue = h.add(
        2,
        OpBody::RemoveDevice {
            device: dev(1),
            cutoffs: vec![],
        },
    );
    h.refused(rogue, "by its own organisation or by a coordinator");
    assert!(h.state().org_of_device(&dev(1)).is_some());
    // Nor may anyone revoke a device of a pending organisation this way.
    h.admit_as(1, 6, Role::Member);
    assert_eq!(h.status(6), Some(OrgStatus::Pending));
    let pending = h.add(
        1,
        OpBody::RemoveDevice {
            device: dev(6),
            cutoffs: vec![],
        },
    );
    h.refused(pending, "not a device of an active organisation");
}
