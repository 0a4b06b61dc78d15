//! The membership rules, case by case with fixed expected outcomes, and the
//! order-independence law over random histories with concurrent branches.

use ed25519_dalek::SigningKey;
use entraide_membership::{
    AdmissionRule, DeviceId, MembershipLog, MembershipState, MotionStatus, Op, OpBody, OpHash,
    OrgStatus, Role, SignedOp,
};
use proptest::prelude::*;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn dev(n: u8) -> DeviceId {
    DeviceId(key(n).verifying_key().to_bytes())
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

fn org(n: u8) -> String {
    format!("org{n}")
}

/// A log builder: device `n` is the first device of organisation `org{n}`.
struct History {
    log: MembershipLog,
}

impl History {
    fn found(rule: AdmissionRule) -> (Self, OpHash) {
        let f = sign(
            1,
            vec![],
            OpBody::Found {
                alliance_name: "Alliance".into(),
                org_id: org(1),
                org_name: "Org 1".into(),
                admission: rule,
            },
        );
        let hash = f.hash();
        let mut log = MembershipLog::new();
        log.insert(f).expect("found");
        (Self { log }, hash)
    }

    fn add(&mut self, op: SignedOp) -> OpHash {
        let hash = op.hash();
        self.log.insert(op).expect("insert");
        hash
    }

    fn admit(&mut self, author: u8, parents: Vec<OpHash>, n: u8) -> OpHash {
        self.add(sign(
            author,
            parents,
            OpBody::Admit {
                org_id: org(n),
                org_name: format!("Org {n}"),
                role: Role::Member,
                device: dev(n),
                invitation: [n; 32],
            },
        ))
    }

    fn approve(&mut self, author: u8, parents: Vec<OpHash>, motion: OpHash) -> OpHash {
        self.add(sign(author, parents, OpBody::Approve { motion }))
    }

    fn remove(&mut self, author: u8, parents: Vec<OpHash>, n: u8) -> OpHash {
        self.add(sign(
            author,
            parents,
            OpBody::RemoveOrg {
                org_id: org(n),
                reason: "test".into(),
                cutoffs: vec![],
            },
        ))
    }

    fn role(&mut self, author: u8, parents: Vec<OpHash>, n: u8, role: Role) -> OpHash {
        self.add(sign(
            author,
            parents,
            OpBody::SetRole {
                org_id: org(n),
                role,
            },
        ))
    }

    fn state(&self) -> MembershipState {
        self.log.state()
    }

    fn heads(&self) -> Vec<OpHash> {
        self.log.heads()
    }
}

fn status(state: &MembershipState, n: u8) -> Option<OrgStatus> {
    state.orgs.get(&org(n)).map(|o| o.status)
}

/// Founder (1) admits 2 and 3 under the coordinator rule; 2 is a coordinator too.
fn three_coordinators() -> History {
    let (mut h, f) = History::found(AdmissionRule::Coordinator);
    let a2 = h.admit(1, vec![f], 2);
    let a3 = h.admit(1, vec![a2], 3);
    h.role(1, vec![a3], 2, Role::Coordinator);
    h
}

#[test]
fn consensus_admission_waits_for_every_member_and_a_block_stops_it() {
    let (mut h, f) = History::found(AdmissionRule::Consensus);
    let a2 = h.admit(1, vec![f], 2);
    assert_eq!(
        status(&h.state(), 2),
        Some(OrgStatus::Active),
        "a sole member decides alone"
    );
    let a3 = h.admit(2, vec![a2], 3);
    let s = h.state();
    assert_eq!(status(&s, 3), Some(OrgStatus::Pending));
    assert_eq!(
        s.verdicts[&a3].reason.as_deref(),
        Some("pending: needs consensus: 1 of 2 approvals")
    );
    let ok = h.approve(1, vec![a3], a3);
    assert_eq!(status(&h.state(), 3), Some(OrgStatus::Active));
    assert!(h.state().verdicts[&ok].valid);

    // Org 4: org 3 blocks with a reason; approvals after that change nothing.
    let a4 = h.admit(1, vec![ok], 4);
    h.add(sign(
        3,
        vec![a4],
        OpBody::Block {
            motion: a4,
            reason: "values not shared".into(),
        },
    ));
    h.approve(2, vec![a4], a4);
    let s = h.state();
    assert_eq!(s.motions[&a4].status, MotionStatus::Blocked);
    assert_eq!(status(&s, 4), None);
    assert!(
        s.verdicts[&a4]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("values not shared")
    );
}

#[test]
fn majority_counts_organisations_not_devices() {
    let (mut h, f) = History::found(AdmissionRule::Majority);
    let a2 = h.admit(1, vec![f], 2);
    let a3 = h.admit(1, vec![a2], 3); // 1 of 2: not more than half
    assert_eq!(status(&h.state(), 3), Some(OrgStatus::Pending));
    // A second device of org 1 approving adds nothing.
    let d = h.add(sign(
        1,
        vec![a3],
        OpBody::AddDevice {
            device: dev(11),
            invitation: [11; 32],
        },
    ));
    h.approve(11, vec![d], a3);
    assert_eq!(status(&h.state(), 3), Some(OrgStatus::Pending));
    h.approve(2, vec![a3], a3);
    assert_eq!(status(&h.state(), 3), Some(OrgStatus::Active));
}

#[test]
fn two_coordinators_removing_each_other_the_senior_wins() {
    let mut h = three_coordinators();
    let base = h.heads();
    let r2 = h.remove(1, base.clone(), 2);
    let r1 = h.remove(2, base, 1);
    let s = h.state();
    assert_eq!(status(&s, 1), Some(OrgStatus::Active));
    assert_eq!(status(&s, 2), Some(OrgStatus::Removed));
    assert!(s.verdicts[&r2].valid);
    assert!(!s.verdicts[&r1].valid);
}

#[test]
fn a_removed_member_cannot_race_its_removal() {
    let mut h = three_coordinators();
    let base = h.heads();
    // Org 2 is removed; concurrently it admits org 5 and promotes org 3.
    h.remove(1, base.clone(), 2);
    let sneaky = h.admit(2, base.clone(), 5);
    let promote = h.role(2, base, 3, Role::Coordinator);
    let s = h.state();
    assert_eq!(status(&s, 2), Some(OrgStatus::Removed));
    assert_eq!(status(&s, 5), None);
    assert!(!s.verdicts[&sneaky].valid);
    assert!(
        s.verdicts[&sneaky]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("strong removal")
    );
    assert!(!s.verdicts[&promote].valid);
    assert_eq!(s.orgs[&org(3)].role, Role::Member);
}

#[test]
fn an_organisation_leaves_on_its_own_and_what_it_signs_after_is_void() {
    let mut h = three_coordinators();
    let base = h.heads();
    let leave = h.add(sign(
        2,
        base.clone(),
        OpBody::Leave {
            reason: "we merge with another association".into(),
            cutoffs: vec![],
        },
    ));
    // Signed concurrently with its departure: void, as for a removal.
    let sneaky = h.admit(2, base, 5);
    // Signed after it: void too.
    let after = h.role(2, vec![leave], 3, Role::Coordinator);
    let s = h.state();
    assert_eq!(status(&s, 2), Some(OrgStatus::Removed));
    assert!(s.verdicts[&leave].valid, "{:?}", s.verdicts[&leave]);
    assert!(!s.verdicts[&sneaky].valid);
    assert!(!s.verdicts[&after].valid);
    assert_eq!(status(&s, 5), None);
    // The others go on: 1 and 3 remain, and the last one cannot leave.
    let l3 = h.add(sign(
        3,
        h.heads(),
        OpBody::Leave {
            reason: "fin".into(),
            cutoffs: vec![],
        },
    ));
    let l1 = h.add(sign(
        1,
        vec![l3],
        OpBody::Leave {
            reason: "fin".into(),
            cutoffs: vec![],
        },
    ));
    let s = h.state();
    assert_eq!(status(&s, 3), Some(OrgStatus::Removed));
    assert!(!s.verdicts[&l1].valid, "the last member stays");
    assert_eq!(status(&s, 1), Some(OrgStatus::Active));
}

#[test]
fn groups_are_changed_by_their_members_and_dissolved_by_a_coordinator() {
    let mut h = three_coordinators();
    let a4 = h.admit(1, h.heads(), 4);
    let g = [7; 16];
    // 4 is a plain member; it creates a group with 2.
    let create = h.add(sign(
        4,
        vec![a4],
        OpBody::GroupCreate {
            group: g,
            name: "Finances".into(),
            description: "Les trésorier·es".into(),
            orgs: vec![org(2)],
        },
    ));
    let s = h.state();
    assert!(s.verdicts[&create].valid, "{:?}", s.verdicts[&create]);
    assert_eq!(
        s.groups[&g].orgs,
        [org(2), org(4)]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
    );
    // 3 is no member: it can neither add itself nor remove anyone.
    let intrude = h.add(sign(
        3,
        vec![create],
        OpBody::GroupAdd {
            group: g,
            org_id: org(3),
        },
    ));
    let evict = h.add(sign(
        3,
        vec![create],
        OpBody::GroupRemove {
            group: g,
            org_id: org(2),
        },
    ));
    // 2, a member, adds 3 (after seeing those); a second group of the same
    // name is refused.
    let add = h.add(sign(
        2,
        vec![intrude, evict],
        OpBody::GroupAdd {
            group: g,
            org_id: org(3),
        },
    ));
    let twin = h.add(sign(
        2,
        vec![add],
        OpBody::GroupCreate {
            group: [8; 16],
            name: "finances".into(),
            description: String::new(),
            orgs: vec![],
        },
    ));
    let s = h.state();
    assert!(!s.verdicts[&intrude].valid);
    assert!(!s.verdicts[&evict].valid);
    assert!(s.verdicts[&add].valid);
    assert!(!s.verdicts[&twin].valid, "names are unique");
    assert!(s.in_group(&g, &org(3)));
    // 2 leaves; a plain member cannot dissolve; a coordinator can.
    let leave = h.add(sign(
        2,
        vec![twin],
        OpBody::GroupRemove {
            group: g,
            org_id: org(2),
        },
    ));
    let by_member = h.add(sign(4, vec![leave], OpBody::GroupDissolve { group: g }));
    let s = h.state();
    assert!(s.verdicts[&leave].valid);
    assert!(!s.in_group(&g, &org(2)));
    assert!(
        s.groups[&g].ever.contains(&org(2)),
        "its past changes count"
    );
    assert!(!s.verdicts[&by_member].valid);
    let by_coordinator = h.add(sign(1, vec![by_member], OpBody::GroupDissolve { group: g }));
    let s = h.state();
    assert!(s.verdicts[&by_coordinator].valid);
    assert!(s.groups[&g].dissolved);
    assert_eq!(s.groups_of(&org(3)).count(), 0);
}

#[test]
fn what_was_done_before_the_removal_stays() {
    let mut h = three_coordinators();
    let a5 = h.admit(2, h.heads(), 5);
    let r = h.remove(1, vec![a5], 2);
    let s = h.state();
    assert_eq!(status(&s, 5), Some(OrgStatus::Active));
    assert_eq!(status(&s, 2), Some(OrgStatus::Removed));
    assert!(s.verdicts[&r].valid);
}

#[test]
fn an_approval_concurrent_with_the_approvers_removal_does_not_count() {
    let (mut h, f) = History::found(AdmissionRule::Majority);
    let a2 = h.admit(1, vec![f], 2);
    let a3 = h.admit(1, vec![a2], 3); // pending: 1 of 2
    let a3_ok = h.approve(2, vec![a3], a3); // passes: 2 of 2
    let a4 = h.admit(1, vec![a3_ok], 4); // pending: 1 of 3
    // Org 3 approves org 4 while orgs 1 and 2 remove org 3.
    let vote = h.approve(3, vec![a4], a4);
    let rm = h.remove(1, vec![a4], 3);
    h.approve(2, vec![rm], rm);
    let s = h.state();
    assert_eq!(status(&s, 3), Some(OrgStatus::Removed));
    assert!(!s.verdicts[&vote].valid);
    assert_eq!(
        status(&s, 4),
        Some(OrgStatus::Pending),
        "1 of 2 remaining is not a majority"
    );
}

#[test]
fn a_device_removed_while_offline_keeps_nothing_it_signs_later() {
    let (mut h, f) = History::found(AdmissionRule::Coordinator);
    let d = h.add(sign(
        1,
        vec![f],
        OpBody::AddDevice {
            device: dev(11),
            invitation: [11; 32],
        },
    ));
    let rm = h.add(sign(
        1,
        vec![d],
        OpBody::RemoveDevice {
            device: dev(11),
            cutoffs: vec![],
        },
    ));
    // The lost laptop, offline, does not know it was removed.
    let late = h.admit(11, vec![d], 6);
    let s = h.state();
    assert!(s.verdicts[&rm].valid);
    assert!(!s.verdicts[&late].valid);
    assert!(!s.active_devices().contains(&dev(11)));
    assert!(s.removals.contains_key(&dev(11)));
}

#[test]
fn readmission_after_removal_with_a_new_device() {
    let mut h = three_coordinators();
    let r = h.remove(1, h.heads(), 3);
    // The same id is never given again, even to the organisation it was.
    let same_id = h.add(sign(
        1,
        vec![r],
        OpBody::Admit {
            org_id: org(3),
            org_name: "Org 3".into(),
            role: Role::Member,
            device: dev(33),
            invitation: [33; 32],
        },
    ));
    let s = h.state();
    assert!(!s.verdicts[&same_id].valid);
    assert_eq!(status(&s, 3), Some(OrgStatus::Removed));
    // It comes back as a new organisation, with a new device.
    let again = h.add(sign(
        1,
        vec![same_id],
        OpBody::Admit {
            org_id: "org3-again".into(),
            org_name: "Org 3".into(),
            role: Role::Member,
            device: dev(34),
            invitation: [34; 32],
        },
    ));
    let s = h.state();
    assert!(s.verdicts[&again].valid, "{:?}", s.verdicts[&again]);
    assert_eq!(
        s.orgs.get("org3-again").map(|o| o.status),
        Some(OrgStatus::Active)
    );
    assert!(s.org_of_device(&dev(34)).is_some());
    assert!(
        s.org_of_device(&dev(3)).is_none(),
        "its removed device stays removed"
    );
    // The old device cannot be admitted again.
    let old = h.add(sign(
        1,
        h.heads(),
        OpBody::Admit {
            org_id: "org3-old".into(),
            org_name: "Org 3 old".into(),
            role: Role::Member,
            device: dev(3),
            invitation: [35; 32],
        },
    ));
    assert!(!h.state().verdicts[&old].valid);
}

#[test]
fn a_member_cannot_admit_under_the_coordinator_rule() {
    let (mut h, f) = History::found(AdmissionRule::Coordinator);
    let a2 = h.admit(1, vec![f], 2);
    let a3 = h.admit(2, vec![a2], 3);
    let s = h.state();
    assert!(!s.verdicts[&a3].valid);
    assert!(
        s.verdicts[&a3]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("coordinator")
    );
}

#[test]
fn forged_replayed_truncated_and_reparented_operations_are_refused() {
    let (mut h, f) = History::found(AdmissionRule::Coordinator);
    let a2 = sign(1, vec![f], OpBody::Approve { motion: f });
    // Forged: signed by another key than its author.
    let mut forged_bytes = sign(
        7,
        vec![f],
        OpBody::SetRole {
            org_id: org(1),
            role: Role::Member,
        },
    )
    .bytes()
    .to_vec();
    let author_at = 5 + 1 + 1 + 32; // format, length, vec len, one parent
    forged_bytes[author_at..author_at + 32].copy_from_slice(&dev(1).0);
    assert!(SignedOp::decode(&forged_bytes).is_err());
    // Truncated.
    assert!(SignedOp::decode(&a2.bytes()[..a2.bytes().len() - 3]).is_err());
    // Re-parented: changing a parent breaks the signature.
    let mut reparented = a2.bytes().to_vec();
    reparented[7] ^= 0xff;
    assert!(SignedOp::decode(&reparented).is_err());
    // Replayed: the same operation twice is one operation.
    let hash = h.add(a2.clone());
    assert!(!h.log.insert(a2).expect("replay"));
    assert_eq!(h.log.len(), 2);
    assert!(h.state().verdicts.contains_key(&hash));
}

/// Random histories: nodes act on their own view and merge now and then.
fn random_history(seed: u64, steps: usize) -> Vec<SignedOp> {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let rule = [
        AdmissionRule::Coordinator,
        AdmissionRule::Majority,
        AdmissionRule::Consensus,
    ][(next() % 3) as usize];
    let (h, _) = History::found(rule);
    // Three replicas: node i acts as device i+1.
    let mut views: Vec<MembershipLog> = vec![h.log.clone(), h.log.clone(), h.log.clone()];
    let mut all: Vec<SignedOp> = h.log.iter().cloned().collect();
    let mut next_org = 4u8;
    for _ in 0..steps {
        let node = (next() % 3) as usize;
        let author = (node + 1) as u8;
        let view = &mut views[node];
        let parents = view.heads();
        let state = view.state();
        let target = 1 + (next() % u64::from(next_org.min(8))) as u8;
        let body = match next() % 8 {
            0 | 1 => {
                next_org = next_org.saturating_add(1);
                let n = if next() % 4 == 0 {
                    2 + (next() % 2) as u8
                } else {
                    next_org
                };
                OpBody::Admit {
                    org_id: org(n),
                    org_name: format!("Org {n}"),
                    role: if next() % 3 == 0 {
                        Role::Coordinator
                    } else {
                        Role::Member
                    },
                    device: dev(n),
                    invitation: [n; 32],
                }
            }
            2 => match state
                .motions
                .keys()
                .nth((next() % (state.motions.len() as u64 + 1)) as usize)
            {
                Some(m) => OpBody::Approve { motion: *m },
                None => continue,
            },
            3 => match state.motions.keys().next_back() {
                Some(m) => OpBody::Block {
                    motion: *m,
                    reason: "no".into(),
                },
                None => continue,
            },
            4 => OpBody::RemoveOrg {
                org_id: org(target),
                reason: "test".into(),
                cutoffs: vec![],
            },
            5 => OpBody::SetRole {
                org_id: org(target),
                role: Role::Coordinator,
            },
            // Its own device, or (as a coordinator) another organisation's.
            6 if next() % 2 == 0 => OpBody::RemoveDevice {
                device: dev(target),
                cutoffs: vec![],
            },
            // Now and then, the author's organisation leaves.
            7 if next() % 3 == 0 => OpBody::Leave {
                reason: "test".into(),
                cutoffs: vec![],
            },
            // Working groups: two ids, so that concurrent changes meet.
            7 => {
                let group = [(next() % 2) as u8; 16];
                match next() % 4 {
                    0 => OpBody::GroupCreate {
                        group,
                        name: format!("Group {}", group[0]),
                        description: String::new(),
                        orgs: vec![org(target)],
                    },
                    1 => OpBody::GroupAdd {
                        group,
                        org_id: org(target),
                    },
                    2 => OpBody::GroupRemove {
                        group,
                        org_id: org(target),
                    },
                    _ => OpBody::GroupDissolve { group },
                }
            }
            _ => {
                // Merge another replica's view into this one.
                let other = views[(node + 1 + (next() % 2) as usize) % 3].clone();
                let ops: Vec<SignedOp> = other.iter().cloned().collect();
                views[node].insert_all(ops);
                continue;
            }
        };
        let op = sign(author, parents, body);
        views[node].insert(op.clone()).expect("own op");
        all.push(op);
    }
    all
}

fn shuffled(ops: &[SignedOp], seed: u64) -> Vec<SignedOp> {
    let mut out = ops.to_vec();
    let mut r = seed | 1;
    for i in (1..out.len()).rev() {
        r = r
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.swap(i, (r >> 33) as usize % (i + 1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The same operations give the same state, whatever order they arrive
    /// in, and the invariants hold.
    #[test]
    fn same_operations_same_state_in_any_order(seed in any::<u64>(), steps in 5usize..40, orders in proptest::collection::vec(any::<u64>(), 1..5)) {
        let ops = random_history(seed, steps);
        let mut reference = MembershipLog::new();
        let (_, errors) = reference.insert_all(ops.clone());
        prop_assert!(errors.is_empty());
        let expected = reference.state();
        // The heads, kept as operations arrive, are the operations no other
        // one builds on.
        let parents: std::collections::BTreeSet<_> = ops.iter().flat_map(|o| o.op().parents.clone()).collect();
        let mut heads: Vec<_> = ops.iter().map(|o| o.hash()).filter(|h| !parents.contains(h)).collect();
        heads.sort();
        heads.dedup();
        prop_assert_eq!(reference.heads(), heads.clone());
        for order in orders {
            let mut log = MembershipLog::new();
            log.insert_all(shuffled(&ops, order));
            prop_assert_eq!(log.state(), expected.clone());
            prop_assert_eq!(log.heads(), heads.clone());
        }
        // Idempotence: inserting everything again changes nothing.
        reference.insert_all(ops);
        prop_assert_eq!(reference.state(), expected.clone());
        // Invariants: a device acts for at most one organisation; removed
        // devices act for none; there is always an active founder or member.
        for device in expected.active_devices() {
            let owners = expected.orgs.values().filter(|o| o.status == OrgStatus::Active && o.devices.contains(&device)).count();
            prop_assert_eq!(owners, 1);
            prop_assert!(!expected.removals.contains_key(&device));
        }
        prop_assert!(expected.active_orgs().count() >= 1);
        // A group's members are active organisations that were ever in it.
        for g in expected.groups.values() {
            for o in &g.orgs {
                prop_assert!(expected.orgs.get(o).is_some_and(|o| o.status == OrgStatus::Active));
                prop_assert!(g.ever.contains(o));
            }
            prop_assert!(!g.dissolved || g.orgs.is_empty());
        }
    }
}
