//! The membership a log implies: a pure function of its set of operations.
//!
//! # The rules
//!
//! 1. **Order.** Operations are applied parents first. Among operations whose
//!    parents are all applied (concurrent ones), the one whose author's
//!    organisation is the most *senior* (admitted earliest; the founder is
//!    the most senior) goes first, then the smaller hash. This is Keyhive's
//!    "seniority, then hash" tie-break; it decides, for instance, that when
//!    two coordinators remove each other at the same moment, the senior one's
//!    removal stands.
//! 2. **Authority.** An operation counts only if its author device belongs to
//!    an active organisation at that point, and that organisation may do it
//!    (a coordinator, where the rule says so). Otherwise it stays in the log,
//!    marked invalid with the reason, and changes nothing.
//! 3. **Motions.** Admitting an organisation (`Admit`), removing one
//!    (`RemoveOrg`) and changing the rule (`SetAdmission`) are motions. The
//!    author's organisation approves its own motion; others add `Approve`.
//!    After every operation, each pending motion is checked against the
//!    alliance's rule, counting one vote per organisation (never per device),
//!    among the active organisations (for a removal, all but the one
//!    removed): `coordinator` passes with one coordinator's approval;
//!    `majority` with more than half; `consensus` with all, and any one
//!    `Block` (with a reason) stops it for good. A motion passes at the first
//!    point in the order where it is satisfied, and takes effect there.
//! 4. **Strong removal.** When an organisation or a device is removed, every
//!    operation its devices signed that is not in the causal past of the
//!    operation that made the removal effective is invalid, even if it came
//!    first in the order (p2panda-auth's "strong remove"): a member cannot
//!    race its own removal by admitting a friend or approving a motion
//!    concurrently. The state is recomputed until this is stable.
//! 5. **Documents.** A removal records, per document, the last change of each
//!    removed device that the remover held (`Cutoff`). Nodes keep what a
//!    removed device wrote up to its cutoff and refuse anything later.
//!
//! 6. **Who decides about whom.** The organisation a removal is about
//!    neither approves nor blocks it: its `Approve` or `Block` of that motion
//!    is invalid and never counted, so under `consensus` the removal passes
//!    with every *other* active organisation. Only a coordinator may propose
//!    to admit an organisation as a coordinator, whatever the rule. A
//!    coordinator may revoke a device of any active organisation (a stolen
//!    device of an organisation with no other device to revoke it); others
//!    only their own organisation's.
//! 7. **Names and ids.** Alliance and organisation names and organisation
//!    ids are at most [`MAX_NAME_CHARS`](crate::MAX_NAME_CHARS) characters,
//!    not blank, without control characters ([`check_name`]). An
//!    organisation id is never given twice: an `Admit` naming an id that any
//!    organisation had (active, pending, blocked or removed) is invalid.
//!
//! 8. **Leaving.** An active organisation leaves on its own decision with
//!    `Leave` (no vote; not the last active organisation): it is removed at
//!    that operation exactly as a passed removal removes it (rules 4 and 5,
//!    with the cutoffs its own node wrote).
//!
//! Re-admission: a removed organisation may be admitted again by a new motion,
//! as a new organisation (a new id) with a new device; its removed devices
//! stay removed. An invitation admits once, whether its motion passes or not.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    AdmissionRule, Cutoff, DeviceId, MembershipLog, OpBody, OpHash, Role, SignedOp, check_name,
};

/// The alliance itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllianceInfo {
    /// Its id: the hash of the founding operation.
    pub id: OpHash,
    /// Its name.
    pub name: String,
    /// How it admits and removes organisations.
    pub admission: AdmissionRule,
    /// How its proposals are decided unless a proposal says otherwise
    /// (`consent`, `consensus` or `majority`); `None` until a `SetProcess`
    /// motion passes, which reads as `consensus`.
    pub default_process: Option<String>,
}

/// The processes a `SetProcess` motion may name.
pub const PROCESSES: [&str; 3] = ["consent", "consensus", "majority"];

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
    /// Its devices that may act for it (for a pending one: the device to admit).
    pub devices: BTreeSet<DeviceId>,
    /// Its revoked devices.
    pub removed_devices: BTreeSet<DeviceId>,
    /// The motion that admitted it (or the founding), or that proposes it.
    pub admitted_by: OpHash,
    /// Admission order: 0 for the founder.
    pub seniority: usize,
}

impl OrgState {
    /// Whether its devices' changes to documents count: it was admitted (it
    /// is active, or was removed after it was).
    fn writes_documents(&self) -> bool {
        matches!(self.status, OrgStatus::Active | OrgStatus::Removed)
            && self.seniority != usize::MAX
    }
}

/// Where a motion stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MotionStatus {
    /// Waiting for approvals.
    Pending,
    /// Took effect.
    Passed,
    /// Blocked under consensus.
    Blocked,
}

/// A motion and its votes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Motion {
    /// The motion's operation.
    pub hash: OpHash,
    /// "admit", "remove", "set-admission" or "set-process".
    pub kind: &'static str,
    /// The organisation it is about.
    pub org: Option<String>,
    /// Organisations that approve it.
    pub approvals: BTreeSet<String>,
    /// Organisations that block it, with their reasons.
    pub blocks: BTreeMap<String, String>,
    /// Where it stands.
    pub status: MotionStatus,
    /// The rule it is decided by.
    pub rule: AdmissionRule,
    /// For an admission: the role it asks for the newcomer (shown to those
    /// who approve; the organisation gets it only when the motion passes).
    pub role: Option<Role>,
    body: OpBody,
}

/// Whether one operation took effect, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// It is valid (a pending motion is valid).
    pub valid: bool,
    /// Why it is invalid, or what a motion still waits for, in plain words.
    pub reason: Option<String>,
}

/// How a device was removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// The operation at which the removal took effect.
    pub effective: OpHash,
    /// The device's last valid changes.
    pub cutoffs: Vec<Cutoff>,
}

/// A working group: some organisations of the alliance, with documents of
/// their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState {
    /// Its id (16 bytes).
    pub id: [u8; 16],
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its member organisations now (active in the alliance).
    pub orgs: BTreeSet<String>,
    /// Every organisation that was ever a member: their changes to the
    /// group's documents count, as a removed organisation's do in the
    /// alliance's.
    pub ever: BTreeSet<String>,
    /// The organisation that created it.
    pub created_by: String,
    /// Whether a coordinator dissolved it.
    pub dissolved: bool,
}

impl GroupState {
    /// Its id as 32 lowercase hex digits.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }
}

/// Longest group description, in characters.
pub const MAX_GROUP_DESCRIPTION: usize = 1_000;

/// The membership of an alliance as one node knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipState {
    /// The alliance, once founded.
    pub alliance: Option<AllianceInfo>,
    /// Organisations by id.
    pub orgs: BTreeMap<String, OrgState>,
    /// The verdict on every operation.
    pub verdicts: BTreeMap<OpHash, Verdict>,
    /// Every motion.
    pub motions: BTreeMap<OpHash, Motion>,
    /// Removed devices.
    pub removals: BTreeMap<DeviceId, Removal>,
    /// Working groups by id.
    pub groups: BTreeMap<[u8; 16], GroupState>,
    used_invitations: BTreeSet<[u8; 32]>,
    /// Every organisation id a valid operation ever introduced (founded,
    /// admitted, pending, blocked or removed): none is ever given again.
    known_org_ids: BTreeSet<String>,
    next_seniority: usize,
}

impl MembershipState {
    /// The state `log` implies.
    pub(crate) fn compute(log: &MembershipLog) -> Self {
        let mut excluded: BTreeSet<OpHash> = BTreeSet::new();
        let mut state = Self::run(log, &excluded);
        for _ in 0..=log.len() {
            let next = state.strong_exclusions(log);
            if next == excluded {
                break;
            }
            excluded = next;
            state = Self::run(log, &excluded);
        }
        state
    }

    /// Ops signed by removed devices outside the causal past of their removal.
    fn strong_exclusions(&self, log: &MembershipLog) -> BTreeSet<OpHash> {
        let mut out = BTreeSet::new();
        let mut pasts: BTreeMap<OpHash, BTreeSet<OpHash>> = BTreeMap::new();
        for (device, removal) in &self.removals {
            let past = pasts
                .entry(removal.effective)
                .or_insert_with(|| log.ancestors(&removal.effective));
            for op in log.iter() {
                if op.op().author == *device && !past.contains(&op.hash()) {
                    out.insert(op.hash());
                }
            }
        }
        out
    }

    fn seniority_of(&self, device: &DeviceId) -> usize {
        self.any_org_of_device(device)
            .map_or(usize::MAX, |o| o.seniority)
    }

    fn run(log: &MembershipLog, excluded: &BTreeSet<OpHash>) -> Self {
        let mut state = Self::default();
        let mut waiting: BTreeMap<OpHash, usize> = BTreeMap::new();
        let mut children: BTreeMap<OpHash, Vec<OpHash>> = BTreeMap::new();
        for op in log.iter() {
            waiting.insert(op.hash(), op.op().parents.len());
            for p in &op.op().parents {
                children.entry(*p).or_default().push(op.hash());
            }
        }
        let mut ready: BTreeSet<OpHash> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(h, _)| *h)
            .collect();
        while !ready.is_empty() {
            let next = ready
                .iter()
                .copied()
                .filter_map(|h| log.get(&h))
                .min_by_key(|op| (state.seniority_of(&op.op().author), op.hash()));
            let Some(op) = next else { break };
            let hash = op.hash();
            ready.remove(&hash);
            let verdict = if excluded.contains(&hash) {
                Verdict {
                    valid: false,
                    reason: Some(
                        "signed by a device concurrently with, or after, its removal; strong removal voids it".into(),
                    ),
                }
            } else {
                match state.apply(op) {
                    Ok(()) => Verdict {
                        valid: true,
                        reason: None,
                    },
                    Err(reason) => Verdict {
                        valid: false,
                        reason: Some(reason),
                    },
                }
            };
            state.verdicts.insert(hash, verdict);
            state.decide_motions(hash);
            for child in children.get(&hash).into_iter().flatten() {
                if let Some(n) = waiting.get_mut(child) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(*child);
                    }
                }
            }
        }
        state.describe_motions();
        state
    }

    /// The active organisation a device acts for, if it may act.
    pub fn org_of_device(&self, device: &DeviceId) -> Option<&OrgState> {
        self.orgs
            .values()
            .find(|o| o.status == OrgStatus::Active && o.devices.contains(device))
    }

    /// The organisation a device belongs, belonged or asks to belong to.
    pub fn any_org_of_device(&self, device: &DeviceId) -> Option<&OrgState> {
        self.orgs
            .values()
            .find(|o| o.devices.contains(device) || o.removed_devices.contains(device))
    }

    /// The organisation whose documents `device` may write, or wrote: the
    /// organisation that has (or, once revoked or removed, had) the device,
    /// only if that organisation was admitted (it is active or removed).
    /// `None` for a device of a pending organisation (its admission has not
    /// passed) or of one whose admission was blocked, and for a stranger.
    /// Whether a removed device's change is within its cutoff is a separate
    /// question ([`Self::removals`]).
    pub fn document_author_org(&self, device: &DeviceId) -> Option<&OrgState> {
        self.orgs.values().find(|o| {
            o.writes_documents()
                && (o.devices.contains(device) || o.removed_devices.contains(device))
        })
    }

    /// Every device whose changes to documents count
    /// ([`Self::document_author_org`] answers for it). The set can shrink
    /// as operations arrive: an admission that a concurrent removal of its
    /// admitter voids takes its devices out.
    pub fn document_authors(&self) -> BTreeSet<DeviceId> {
        self.orgs
            .values()
            .filter(|o| o.writes_documents())
            .flat_map(|o| o.devices.iter().chain(&o.removed_devices).copied())
            .collect()
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

    /// Whether this invitation secret hash was already used.
    pub fn invitation_used(&self, invitation: &[u8; 32]) -> bool {
        self.used_invitations.contains(invitation)
    }

    /// The pending admission motion of `device`, if any.
    pub fn pending_admission_of(&self, device: &DeviceId) -> Option<&Motion> {
        self.motions.values().find(|m| {
            m.status == MotionStatus::Pending
                && matches!(&m.body, OpBody::Admit { device: d, .. } if d == device)
        })
    }

    /// The latest admission motion for `device`, whatever its status.
    pub fn admission_motion_of(&self, device: &DeviceId) -> Option<&Motion> {
        self.motions
            .values()
            .rfind(|m| matches!(&m.body, OpBody::Admit { device: d, .. } if d == device))
    }

    /// The pending motions about `org` (its admission or removal).
    pub fn pending_motions_about(&self, org_id: &str) -> Vec<&Motion> {
        self.motions
            .values()
            .filter(|m| m.status == MotionStatus::Pending && m.org.as_deref() == Some(org_id))
            .collect()
    }

    fn author_org(&self, signed: &SignedOp) -> Result<OrgState, String> {
        let author = signed.op().author;
        if let Some(org) = self.org_of_device(&author) {
            return Ok(org.clone());
        }
        Err(match self.any_org_of_device(&author) {
            Some(org) if org.removed_devices.contains(&author) => {
                format!("signed by a device of {} that was removed", org.name)
            }
            Some(org) if org.status == OrgStatus::Removed => {
                format!(
                    "signed by a device of {}, which was removed from the alliance",
                    org.name
                )
            }
            Some(org) => format!(
                "signed by a device of {}, which is not admitted yet",
                org.name
            ),
            None => "signed by a device that is not a member".into(),
        })
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
            check_name("alliance name", alliance_name)?;
            check_name("organisation name", org_name)?;
            check_name("organisation id", org_id)?;
            self.known_org_ids.insert(org_id.clone());
            self.alliance = Some(AllianceInfo {
                id: signed.hash(),
                name: alliance_name.clone(),
                admission: *admission,
                default_process: None,
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
                    seniority: 0,
                },
            );
            self.next_seniority = 1;
            return Ok(());
        }
        let Some(alliance) = self.alliance.clone() else {
            return Err("no founding operation precedes it".into());
        };
        let author = self.author_org(signed)?;
        let coordinator_only = |what: &str| -> Result<(), String> {
            if alliance.admission == AdmissionRule::Coordinator && author.role != Role::Coordinator
            {
                Err(format!(
                    "{what} needs a coordinator under this alliance's rule; {} is a member",
                    author.name
                ))
            } else {
                Ok(())
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
                coordinator_only("admitting an organisation")?;
                if *role == Role::Coordinator && author.role != Role::Coordinator {
                    return Err(format!(
                        "only a coordinator may admit an organisation as a coordinator; {} is a member",
                        author.name
                    ));
                }
                check_name("organisation name", org_name)?;
                check_name("organisation id", org_id)?;
                if let Some(existing) = self.orgs.get(org_id) {
                    return Err(format!(
                        "the organisation id {org_id} belongs to {}, which is {}; a newcomer needs an id of its own",
                        existing.name,
                        existing.status.name()
                    ));
                }
                if self.known_org_ids.contains(org_id) {
                    return Err(format!(
                        "the organisation id {org_id} was already used by an earlier admission; a newcomer needs an id of its own"
                    ));
                }
                if self.orgs.values().any(|o| {
                    o.id != *org_id
                        && o.status != OrgStatus::Removed
                        && o.name.eq_ignore_ascii_case(org_name)
                }) {
                    return Err(format!("another organisation is already named {org_name}"));
                }
                if self.any_org_of_device(device).is_some() {
                    return Err(
                        "that device already belongs, or belonged, to an organisation".into(),
                    );
                }
                if self.used_invitations.contains(invitation) {
                    return Err("that invitation was already used".into());
                }
                self.used_invitations.insert(*invitation);
                self.known_org_ids.insert(org_id.clone());
                self.orgs.insert(
                    org_id.clone(),
                    OrgState {
                        id: org_id.clone(),
                        name: org_name.clone(),
                        role: Role::Member,
                        status: OrgStatus::Pending,
                        devices: BTreeSet::from([*device]),
                        removed_devices: BTreeSet::new(),
                        admitted_by: signed.hash(),
                        seniority: usize::MAX,
                    },
                );
                self.open_motion(
                    signed,
                    "admit",
                    Some(org_id.clone()),
                    &author.id,
                    alliance.admission,
                );
                Ok(())
            }
            OpBody::RemoveOrg { org_id, .. } => {
                coordinator_only("removing an organisation")?;
                if self.active_orgs().count() <= 1 {
                    return Err("the alliance cannot remove its last member".into());
                }
                match self.orgs.get(org_id) {
                    Some(o) if o.status == OrgStatus::Active => {}
                    Some(o) => {
                        return Err(format!(
                            "organisation {} is {}, not active",
                            o.name,
                            o.status.name()
                        ));
                    }
                    None => return Err("no such organisation".into()),
                }
                self.open_motion(
                    signed,
                    "remove",
                    Some(org_id.clone()),
                    &author.id,
                    alliance.admission,
                );
                Ok(())
            }
            OpBody::Leave { cutoffs, .. } => {
                if self.active_orgs().count() <= 1 {
                    return Err(
                        "the alliance's last member cannot leave it; there would be no alliance"
                            .into(),
                    );
                }
                self.remove_org(&author.id, cutoffs, signed.hash());
                Ok(())
            }
            OpBody::GroupCreate {
                group,
                name,
                description,
                orgs,
            } => {
                check_name("group name", name)?;
                if description.chars().count() > MAX_GROUP_DESCRIPTION {
                    return Err(format!(
                        "a group's description is at most {MAX_GROUP_DESCRIPTION} characters"
                    ));
                }
                if self.groups.contains_key(group) {
                    return Err("a group with this id exists already".into());
                }
                if self
                    .groups
                    .values()
                    .any(|g| !g.dissolved && g.name.eq_ignore_ascii_case(name))
                {
                    return Err(format!("a group named '{name}' exists already"));
                }
                let mut members = BTreeSet::from([author.id.clone()]);
                for org in orgs {
                    if !self.is_active(org) {
                        return Err(format!("{org} is not an active member of the alliance"));
                    }
                    members.insert(org.clone());
                }
                self.groups.insert(
                    *group,
                    GroupState {
                        id: *group,
                        name: name.clone(),
                        description: description.clone(),
                        ever: members.clone(),
                        orgs: members,
                        created_by: author.id.clone(),
                        dissolved: false,
                    },
                );
                Ok(())
            }
            OpBody::GroupAdd { group, org_id } => {
                let active = self.is_active(org_id);
                let g = self.group_of_member(group, &author.id)?;
                if !active {
                    return Err(format!("{org_id} is not an active member of the alliance"));
                }
                if !g.orgs.insert(org_id.clone()) {
                    return Err(format!("{org_id} is already a member of {}", g.name));
                }
                g.ever.insert(org_id.clone());
                Ok(())
            }
            OpBody::GroupRemove { group, org_id } => {
                let g = self.group_of_member(group, &author.id)?;
                if !g.orgs.contains(org_id) {
                    return Err(format!("{org_id} is not a member of {}", g.name));
                }
                if g.orgs.len() == 1 {
                    return Err(format!(
                        "{} would have no member left; a coordinator dissolves a group",
                        g.name
                    ));
                }
                g.orgs.remove(org_id);
                Ok(())
            }
            OpBody::GroupDissolve { group } => {
                if author.role != Role::Coordinator {
                    return Err(format!(
                        "only a coordinator of the alliance dissolves a group; {} is a member",
                        author.name
                    ));
                }
                match self.groups.get_mut(group) {
                    Some(g) if !g.dissolved => {
                        g.dissolved = true;
                        g.orgs.clear();
                        Ok(())
                    }
                    Some(_) => Err("this group is already dissolved".into()),
                    None => Err("no such group".into()),
                }
            }
            OpBody::SetAdmission { .. } => {
                coordinator_only("changing the admission rule")?;
                self.open_motion(
                    signed,
                    "set-admission",
                    None,
                    &author.id,
                    alliance.admission,
                );
                Ok(())
            }
            OpBody::SetProcess { process } => {
                coordinator_only("changing the alliance's decision process")?;
                if !PROCESSES.contains(&process.as_str()) {
                    return Err(format!(
                        "unknown decision process '{process}'; use consent, consensus or majority"
                    ));
                }
                self.open_motion(signed, "set-process", None, &author.id, alliance.admission);
                Ok(())
            }
            OpBody::Approve { motion } => {
                let Some(m) = self.motions.get_mut(motion) else {
                    return Err("it approves something that is not a motion".into());
                };
                if m.kind == "remove" && m.org.as_deref() == Some(author.id.as_str()) {
                    return Err(format!(
                        "{} cannot approve its own removal; the other organisations decide it",
                        author.name
                    ));
                }
                if m.status != MotionStatus::Pending {
                    return Ok(());
                }
                if m.rule == AdmissionRule::Coordinator && author.role != Role::Coordinator {
                    return Err(format!(
                        "under the coordinator rule only a coordinator's approval counts; {} is a member",
                        author.name
                    ));
                }
                m.approvals.insert(author.id.clone());
                Ok(())
            }
            OpBody::Block { motion, reason } => {
                let Some(m) = self.motions.get_mut(motion) else {
                    return Err("it blocks something that is not a motion".into());
                };
                if m.kind == "remove" && m.org.as_deref() == Some(author.id.as_str()) {
                    return Err(format!(
                        "{} cannot block its own removal; the other organisations decide it",
                        author.name
                    ));
                }
                if m.rule != AdmissionRule::Consensus {
                    return Err(
                        "only a consensus decision can be blocked; vote against it instead".into(),
                    );
                }
                if reason.trim().is_empty() {
                    return Err("a block needs a reason".into());
                }
                if m.status == MotionStatus::Pending {
                    m.blocks.insert(author.id.clone(), reason.clone());
                }
                Ok(())
            }
            OpBody::SetRole { org_id, role } => {
                if author.role != Role::Coordinator {
                    return Err(format!(
                        "only a coordinator may change roles; {} is a member",
                        author.name
                    ));
                }
                let coordinators = self
                    .active_orgs()
                    .filter(|o| o.role == Role::Coordinator)
                    .count();
                let Some(target) = self
                    .orgs
                    .get_mut(org_id)
                    .filter(|o| o.status == OrgStatus::Active)
                else {
                    return Err("no such active organisation".into());
                };
                if *role == Role::Member && target.role == Role::Coordinator && coordinators == 1 {
                    return Err("the alliance would be left without a coordinator".into());
                }
                target.role = *role;
                Ok(())
            }
            OpBody::AddDevice { device, invitation } => {
                if self.any_org_of_device(device).is_some() {
                    return Err(
                        "that device already belongs, or belonged, to an organisation".into(),
                    );
                }
                if self.used_invitations.contains(invitation) {
                    return Err("that invitation was already used".into());
                }
                self.used_invitations.insert(*invitation);
                if let Some(org) = self.orgs.get_mut(&author.id) {
                    org.devices.insert(*device);
                }
                Ok(())
            }
            OpBody::RemoveDevice { device, cutoffs } => {
                // Its own organisation, or a coordinator (a stolen device of
                // an organisation that has no other device left to revoke it).
                let owner = if author.devices.contains(device) {
                    author.id.clone()
                } else {
                    let Some(owner) = self
                        .active_orgs()
                        .find(|o| o.devices.contains(device))
                        .map(|o| o.id.clone())
                    else {
                        return Err("that device is not a device of an active organisation".into());
                    };
                    if author.role != Role::Coordinator {
                        return Err(format!(
                            "a device can only be removed by its own organisation or by a coordinator; {} is a member",
                            author.name
                        ));
                    }
                    owner
                };
                if let Some(org) = self.orgs.get_mut(&owner) {
                    org.devices.remove(device);
                    org.removed_devices.insert(*device);
                }
                self.removals.insert(
                    *device,
                    Removal {
                        effective: signed.hash(),
                        cutoffs: cutoffs
                            .iter()
                            .filter(|c| c.device == *device)
                            .cloned()
                            .collect(),
                    },
                );
                Ok(())
            }
        }
    }

    fn open_motion(
        &mut self,
        signed: &SignedOp,
        kind: &'static str,
        org: Option<String>,
        author_org: &str,
        rule: AdmissionRule,
    ) {
        self.motions.insert(
            signed.hash(),
            Motion {
                hash: signed.hash(),
                kind,
                org,
                approvals: BTreeSet::from([author_org.to_owned()]),
                blocks: BTreeMap::new(),
                status: MotionStatus::Pending,
                rule,
                role: match &signed.op().body {
                    OpBody::Admit { role, .. } => Some(*role),
                    _ => None,
                },
                body: signed.op().body.clone(),
            },
        );
    }

    /// Who may vote on a motion, and whether it passes now.
    fn tally(&self, m: &Motion) -> (usize, usize, bool) {
        let eligible: Vec<&OrgState> = self
            .active_orgs()
            .filter(|o| !(m.kind == "remove" && m.org.as_deref() == Some(o.id.as_str())))
            .collect();
        let approving: Vec<&&OrgState> = eligible
            .iter()
            .filter(|o| m.approvals.contains(&o.id))
            .collect();
        // Nobody left to decide (the last member removing itself): never.
        let passes = !eligible.is_empty()
            && match m.rule {
                AdmissionRule::Coordinator => approving.iter().any(|o| o.role == Role::Coordinator),
                AdmissionRule::Majority => approving.len() * 2 > eligible.len(),
                AdmissionRule::Consensus => approving.len() == eligible.len(),
            };
        (approving.len(), eligible.len(), passes)
    }

    /// Decides every pending motion that can be decided after `at`.
    fn decide_motions(&mut self, at: OpHash) {
        loop {
            let mut changed = false;
            let pending: Vec<OpHash> = self
                .motions
                .values()
                .filter(|m| m.status == MotionStatus::Pending)
                .map(|m| m.hash)
                .collect();
            for hash in pending {
                let Some(m) = self.motions.get(&hash).cloned() else {
                    continue;
                };
                if !m.blocks.is_empty() {
                    self.close_blocked(&m);
                    changed = true;
                    continue;
                }
                if self.tally(&m).2 {
                    self.pass(&m, at);
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    fn close_blocked(&mut self, m: &Motion) {
        if let Some(motion) = self.motions.get_mut(&m.hash) {
            motion.status = MotionStatus::Blocked;
        }
        if let (OpBody::Admit { org_id, .. }, Some(org)) =
            (&m.body, m.org.as_ref().and_then(|o| self.orgs.get(o)))
            && org.status == OrgStatus::Pending
            && org.admitted_by == m.hash
        {
            if org.removed_devices.is_empty() && org.seniority == usize::MAX {
                self.orgs.remove(org_id);
            } else if let Some(org) = self.orgs.get_mut(org_id) {
                org.status = OrgStatus::Removed;
                org.devices.clear();
            }
        }
    }

    fn is_active(&self, org_id: &str) -> bool {
        self.orgs
            .get(org_id)
            .is_some_and(|o| o.status == OrgStatus::Active)
    }

    /// A live group that `org_id` is a member of, to change it.
    fn group_of_member(
        &mut self,
        group: &[u8; 16],
        org_id: &str,
    ) -> Result<&mut GroupState, String> {
        match self.groups.get_mut(group) {
            None => Err("no such group".into()),
            Some(g) if g.dissolved => Err(format!("{} was dissolved", g.name)),
            Some(g) if !g.orgs.contains(org_id) => Err(format!(
                "only a member of {} changes who belongs to it",
                g.name
            )),
            Some(g) => Ok(g),
        }
    }

    /// The live groups `org_id` is a member of.
    pub fn groups_of(&self, org_id: &str) -> impl Iterator<Item = &GroupState> {
        self.groups
            .values()
            .filter(move |g| !g.dissolved && g.orgs.contains(org_id))
    }

    /// Whether `org_id` is a member of the live group `group` now.
    pub fn in_group(&self, group: &[u8; 16], org_id: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| !g.dissolved && g.orgs.contains(org_id))
    }

    /// Removes `org_id` at the operation `at` (a passed removal, or its own
    /// `Leave`): its devices' operations outside the past of `at` are void
    /// (strong removal), and their document changes count up to `cutoffs`.
    /// It leaves every group too.
    fn remove_org(&mut self, org_id: &str, cutoffs: &[Cutoff], at: OpHash) {
        for g in self.groups.values_mut() {
            g.orgs.remove(org_id);
        }
        if let Some(org) = self.orgs.get_mut(org_id) {
            org.status = OrgStatus::Removed;
            let devices: Vec<DeviceId> = org.devices.iter().copied().collect();
            org.removed_devices.extend(devices.iter().copied());
            org.devices.clear();
            for device in devices {
                self.removals.insert(
                    device,
                    Removal {
                        effective: at,
                        cutoffs: cutoffs
                            .iter()
                            .filter(|c| c.device == device)
                            .cloned()
                            .collect(),
                    },
                );
            }
        }
    }

    fn pass(&mut self, m: &Motion, at: OpHash) {
        if let Some(motion) = self.motions.get_mut(&m.hash) {
            motion.status = MotionStatus::Passed;
        }
        match &m.body {
            OpBody::Admit { org_id, role, .. } => {
                let seniority = self.next_seniority;
                if let Some(org) = self.orgs.get_mut(org_id) {
                    org.status = OrgStatus::Active;
                    org.role = *role;
                    if org.seniority == usize::MAX {
                        org.seniority = seniority;
                        self.next_seniority += 1;
                    }
                }
            }
            OpBody::RemoveOrg {
                org_id, cutoffs, ..
            } => self.remove_org(org_id, cutoffs, at),
            OpBody::SetAdmission { rule } => {
                if let Some(a) = self.alliance.as_mut() {
                    a.admission = *rule;
                }
            }
            OpBody::SetProcess { process } => {
                if let Some(a) = self.alliance.as_mut() {
                    a.default_process = Some(process.clone());
                }
            }
            _ => {}
        }
    }

    /// Writes, on each motion's verdict, where it stands.
    fn describe_motions(&mut self) {
        let texts: Vec<(OpHash, String)> = self
            .motions
            .values()
            .filter_map(|m| match m.status {
                MotionStatus::Passed => None,
                MotionStatus::Blocked => {
                    let who: Vec<String> = m
                        .blocks
                        .iter()
                        .map(|(org, reason)| {
                            format!(
                                "{}: {reason}",
                                self.orgs.get(org).map_or(org.as_str(), |o| o.name.as_str())
                            )
                        })
                        .collect();
                    Some((m.hash, format!("blocked ({})", who.join("; "))))
                }
                MotionStatus::Pending => {
                    let (yes, of, _) = self.tally(m);
                    let asks = match m.role {
                        Some(Role::Coordinator) => "; it admits the organisation as a coordinator",
                        _ => "",
                    };
                    Some((
                        m.hash,
                        format!(
                            "pending: needs {}: {yes} of {of} approvals{asks}",
                            m.rule.name()
                        ),
                    ))
                }
            })
            .collect();
        for (hash, text) in texts {
            if let Some(v) = self.verdicts.get_mut(&hash)
                && v.valid
            {
                v.reason = Some(text);
            }
        }
    }
}
