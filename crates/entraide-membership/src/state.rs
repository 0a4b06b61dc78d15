//! The membership a log implies: a pure function of its set of operations.
//!
//! Operations are applied in [`MembershipLog::ordered`](crate::MembershipLog::ordered)
//! order. Each is checked against the state built so far; an operation that
//! breaks a rule is kept in the log (it is signed history) but marked invalid
//! with the reason, and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::{AdmissionRule, DeviceId, OpBody, OpHash, Role, SignedOp};

/// The alliance itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllianceInfo {
    /// Its id: the hash of the founding operation.
    pub id: OpHash,
    /// Its name.
    pub name: String,
    /// How it admits and removes organisations.
    pub admission: AdmissionRule,
}

/// Where an organisation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgStatus {
    /// A member.
    Active,
    /// Waiting for approvals.
    Pending,
    /// Removed.
    Removed,
}

impl OrgStatus {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Removed => "removed",
        }
    }
}

/// One organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgState {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Where it stands.
    pub status: OrgStatus,
    /// Its devices that may act for it.
    pub devices: BTreeSet<DeviceId>,
    /// Its revoked devices.
    pub removed_devices: BTreeSet<DeviceId>,
    /// The operation that admitted it (or founded the alliance).
    pub admitted_by: OpHash,
}

/// Whether one operation took effect, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// It took effect.
    pub valid: bool,
    /// Why not, in plain words.
    pub reason: Option<String>,
}

/// The membership of an alliance as one node knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipState {
    /// The alliance, once founded.
    pub alliance: Option<AllianceInfo>,
    /// Organisations by id.
    pub orgs: BTreeMap<String, OrgState>,
    /// The verdict on every operation.
    pub verdicts: BTreeMap<OpHash, Verdict>,
    used_invitations: BTreeSet<[u8; 32]>,
}

impl MembershipState {
    pub(crate) fn from_ordered<'a>(ops: impl IntoIterator<Item = &'a SignedOp>) -> Self {
        let mut state = Self::default();
        for op in ops {
            let verdict = match state.apply(op) {
                Ok(()) => Verdict {
                    valid: true,
                    reason: None,
                },
                Err(reason) => Verdict {
                    valid: false,
                    reason: Some(reason),
                },
            };
            state.verdicts.insert(op.hash(), verdict);
        }
        state
    }

    /// The active organisation a device acts for, if it may act.
    pub fn org_of_device(&self, device: &DeviceId) -> Option<&OrgState> {
        self.orgs
            .values()
            .find(|o| o.status == OrgStatus::Active && o.devices.contains(device))
    }

    /// The organisation a device belongs or belonged to, whatever its status.
    pub fn any_org_of_device(&self, device: &DeviceId) -> Option<&OrgState> {
        self.orgs
            .values()
            .find(|o| o.devices.contains(device) || o.removed_devices.contains(device))
    }

    /// Active organisations.
    pub fn active_orgs(&self) -> impl Iterator<Item = &OrgState> {
        self.orgs.values().filter(|o| o.status == OrgStatus::Active)
    }

    /// Devices of active organisations.
    pub fn active_devices(&self) -> BTreeSet<DeviceId> {
        self.active_orgs()
            .flat_map(|o| o.devices.iter().copied())
            .collect()
    }

    /// Whether this invitation secret hash already admitted someone.
    pub fn invitation_used(&self, invitation: &[u8; 32]) -> bool {
        self.used_invitations.contains(invitation)
    }

    fn apply(&mut self, signed: &SignedOp) -> Result<(), String> {
        let op = signed.op();
        if let OpBody::Found {
            alliance_name,
            org_id,
            org_name,
            admission,
        } = &op.body
        {
            if self.alliance.is_some() {
                return Err("the alliance is already founded".into());
            }
            self.alliance = Some(AllianceInfo {
                id: signed.hash(),
                name: alliance_name.clone(),
                admission: *admission,
            });
            self.orgs.insert(
                org_id.clone(),
                OrgState {
                    id: org_id.clone(),
                    name: org_name.clone(),
                    role: Role::Coordinator,
                    status: OrgStatus::Active,
                    devices: BTreeSet::from([op.author]),
                    removed_devices: BTreeSet::new(),
                    admitted_by: signed.hash(),
                },
            );
            return Ok(());
        }
        let Some(alliance) = self.alliance.clone() else {
            return Err("no founding operation precedes it".into());
        };
        let author_org = match self.org_of_device(&op.author) {
            Some(org) => org.clone(),
            None => {
                return Err(match self.any_org_of_device(&op.author) {
                    Some(org) => {
                        format!("signed by a device of {} that may no longer act", org.name)
                    }
                    None => "signed by a device that is not a member".into(),
                });
            }
        };
        match &op.body {
            OpBody::Found { .. } => Err("the alliance is already founded".into()),
            OpBody::Admit {
                org_id,
                org_name,
                role,
                device,
                invitation,
            } => {
                if self.orgs.contains_key(org_id) {
                    return Err(format!("organisation {org_name} is already known"));
                }
                if self
                    .orgs
                    .values()
                    .any(|o| o.name.eq_ignore_ascii_case(org_name))
                {
                    return Err(format!("another organisation is already named {org_name}"));
                }
                if self.any_org_of_device(device).is_some() {
                    return Err("that device already belongs to an organisation".into());
                }
                if self.used_invitations.contains(invitation) {
                    return Err("that invitation was already used".into());
                }
                let active = self.active_orgs().count();
                let allowed = match alliance.admission {
                    AdmissionRule::Coordinator => author_org.role == Role::Coordinator,
                    AdmissionRule::Majority | AdmissionRule::Consensus => active == 1,
                };
                if !allowed {
                    return Err(match alliance.admission {
                        AdmissionRule::Coordinator => {
                            format!(
                                "needs a coordinator's signature; {} is a member",
                                author_org.name
                            )
                        }
                        rule => format!("needs {}: 1 of {active} approvals", rule.name()),
                    });
                }
                self.used_invitations.insert(*invitation);
                self.orgs.insert(
                    org_id.clone(),
                    OrgState {
                        id: org_id.clone(),
                        name: org_name.clone(),
                        role: *role,
                        status: OrgStatus::Active,
                        devices: BTreeSet::from([*device]),
                        removed_devices: BTreeSet::new(),
                        admitted_by: signed.hash(),
                    },
                );
                Ok(())
            }
            OpBody::AddDevice { device, invitation } => {
                if self.any_org_of_device(device).is_some() {
                    return Err("that device already belongs to an organisation".into());
                }
                if self.used_invitations.contains(invitation) {
                    return Err("that invitation was already used".into());
                }
                self.used_invitations.insert(*invitation);
                if let Some(org) = self.orgs.get_mut(&author_org.id) {
                    org.devices.insert(*device);
                }
                Ok(())
            }
            OpBody::RemoveDevice { device } => {
                if !author_org.devices.contains(device) {
                    return Err("a device can only be removed by its own organisation".into());
                }
                if let Some(org) = self.orgs.get_mut(&author_org.id) {
                    org.devices.remove(device);
                    org.removed_devices.insert(*device);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use crate::{MembershipLog, Op};

    use super::*;

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

    fn found(rule: AdmissionRule) -> SignedOp {
        sign(
            1,
            vec![],
            OpBody::Found {
                alliance_name: "A".into(),
                org_id: "o1".into(),
                org_name: "One".into(),
                admission: rule,
            },
        )
    }

    fn admit(author: u8, parents: Vec<OpHash>, n: u8, secret: u8) -> SignedOp {
        sign(
            author,
            parents,
            OpBody::Admit {
                org_id: format!("o{n}"),
                org_name: format!("Org {n}"),
                role: Role::Member,
                device: dev(n),
                invitation: [secret; 32],
            },
        )
    }

    #[test]
    fn coordinator_admits_members_cannot() {
        let mut log = MembershipLog::new();
        let f = found(AdmissionRule::Coordinator);
        log.insert(f.clone()).unwrap();
        let a2 = admit(1, vec![f.hash()], 2, 2);
        log.insert(a2.clone()).unwrap();
        let a3 = admit(2, vec![a2.hash()], 3, 3);
        log.insert(a3.clone()).unwrap();
        let state = log.state();
        assert_eq!(state.active_orgs().count(), 2);
        assert!(!state.verdicts[&a3.hash()].valid);
        assert!(
            state.verdicts[&a3.hash()]
                .reason
                .as_deref()
                .unwrap()
                .contains("coordinator")
        );
    }

    #[test]
    fn invitation_admits_once_and_outsiders_cannot_sign() {
        let mut log = MembershipLog::new();
        let f = found(AdmissionRule::Coordinator);
        log.insert(f.clone()).unwrap();
        let a2 = admit(1, vec![f.hash()], 2, 9);
        let a3 = admit(1, vec![a2.hash()], 3, 9);
        let outsider = admit(7, vec![f.hash()], 4, 4);
        let (_, errors) = log.insert_all(vec![a3.clone(), outsider.clone(), a2.clone()]);
        assert!(errors.is_empty(), "{errors:?}");
        let state = log.state();
        assert!(state.verdicts[&a2.hash()].valid);
        assert!(!state.verdicts[&a3.hash()].valid);
        assert!(!state.verdicts[&outsider.hash()].valid);
        assert_eq!(state.active_orgs().count(), 2);
    }

    #[test]
    fn missing_parents_refused_then_accepted() {
        let mut log = MembershipLog::new();
        let f = found(AdmissionRule::Coordinator);
        let a2 = admit(1, vec![f.hash()], 2, 2);
        assert!(matches!(
            log.insert(a2.clone()),
            Err(InsertError::MissingParents { .. })
        ));
        log.insert(f.clone()).unwrap();
        assert!(log.insert(a2).unwrap());
        assert!(matches!(
            log.insert(found(AdmissionRule::Majority)),
            Err(InsertError::OtherAlliance(_))
        ));
    }

    use crate::InsertError;

    proptest! {
        /// The same set of operations gives the same state in any arrival order.
        #[test]
        fn order_independent(seed in any::<u64>(), shuffles in proptest::collection::vec(any::<u64>(), 1..6)) {
            let f = found(AdmissionRule::Coordinator);
            let mut ops = vec![f.clone()];
            let mut rng = seed;
            let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); rng >> 33 };
            for n in 2..10u8 {
                let author = 1 + (next() % u64::from(n - 1)) as u8;
                let parent = ops[(next() as usize) % ops.len()].hash();
                let secret = (next() % 6) as u8;
                ops.push(admit(author, vec![parent], n, secret));
            }
            let mut reference = MembershipLog::new();
            reference.insert_all(ops.clone());
            let expected = reference.state();
            for s in shuffles {
                let mut shuffled = ops.clone();
                let mut r = s;
                for i in (1..shuffled.len()).rev() {
                    r = r.wrapping_mul(6364136223846793005).wrapping_add(1);
                    shuffled.swap(i, (r >> 33) as usize % (i + 1));
                }
                let mut log = MembershipLog::new();
                log.insert_all(shuffled);
                prop_assert_eq!(log.state(), expected.clone());
            }
        }
    }
}
