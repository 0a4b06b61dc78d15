//! The node: one organisation's device, its store and documents, and the
//! answer to every [`Request`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use chrono_tz::Tz;
use ed25519_dalek::SigningKey;
use entraide_docs::calendar::{
    Booking, BookingStatus, CalendarError, ConflictReason, DeviceOrg, NewBooking, NewResource,
    Period, Quota, Repeat, RepeatEnd, ResourceChange, ResourceKind, repeat_series,
};
use entraide_docs::library::{EntryKind, NewEntry};
use entraide_docs::time::{format_time, parse_time, parse_zone};
use entraide_docs::{Author, Calendar, DocKind, EPOCH_LEN, Part, SharedDoc, new_id};
use entraide_membership::{
    AdmissionRule, DeviceId, MembershipLog, MembershipState, Op, OpBody, Role, SignedOp,
};
use entraide_store::{Store, WriteBatch};
use serde_json::{Value, json};

use crate::docs::Docs;
use crate::{Env, Home, NodeError, Reply, Request, SystemEnv};

/// Largest library file accepted.
pub const MAX_LIBRARY_FILE: usize = 64 * 1024 * 1024;

/// A library file not held yet: its hash and how many of its bytes are.
pub(crate) type MissingFile = ([u8; 32], u64);

/// One organisation's node, opened on its home.
#[derive(Debug)]
pub struct Node {
    pub(crate) home: Home,
    pub(crate) store: Arc<Store>,
    pub(crate) key: SigningKey,
    pub(crate) device: DeviceId,
    pub(crate) org_id: String,
    pub(crate) org_name: String,
    pub(crate) zone: Tz,
    /// What this opening appends to the device key for its actor.
    pub(crate) epoch: [u8; EPOCH_LEN],
    /// Where it reads the time and draws randomness.
    pub(crate) env: Box<dyn Env>,
    /// The alliance's documents, its groups', and what the node keeps about them.
    pub(crate) docs: Docs,
    /// The membership log and what it says.
    pub(crate) membership: Membership,
    /// What the node knows of its peers and of how it is reached.
    pub(crate) peers: Peers,
}

/// The membership log and the state it computes.
#[derive(Debug)]
pub(crate) struct Membership {
    pub(crate) log: MembershipLog,
    pub(crate) state: MembershipState,
}

/// What a node knows of its peers, and of how it is reached itself.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    /// Where peers were last reached, and when they last synced.
    pub(crate) records: BTreeMap<DeviceId, PeerRecord>,
    /// Peers connected right now, with how many sessions each (kept by the
    /// sessions: one that ends while another with the same peer goes on
    /// leaves the peer connected).
    pub(crate) connected: BTreeMap<DeviceId, usize>,
    /// Connected peers whose session finished its first exchange.
    pub(crate) synced: BTreeSet<DeviceId>,
    /// Where this node listens while it serves.
    pub(crate) listen_addrs: Vec<SocketAddr>,
    /// The alliance's own relay, if this node uses one.
    pub(crate) relay_url: Option<String>,
    /// What this node's sync sessions are asking their peers right now.
    pub(crate) asking: crate::session::Asking,
}

/// What a node remembers of a peer device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Addresses it was reached at or announced.
    pub addrs: Vec<SocketAddr>,
    /// When a sync with it last completed, ms since the epoch.
    pub last_sync_ms: Option<i64>,
}

/// The first `n` characters of an id for human text; ids written by other
/// members can be any length, so never slice them blindly.
pub(crate) fn short(id: &str, n: usize) -> &str {
    id.char_indices().nth(n).map_or(id, |(i, _)| &id[..i])
}

/// The longest charter draft, in characters: every node stores it. The
/// same as the longest text a charter amendment may carry.
pub const MAX_CHARTER_CHARS: usize = 1_000_000;

pub(crate) fn check_charter_size(text: &str) -> Result<(), NodeError> {
    let chars = text.chars().count();
    if chars > MAX_CHARTER_CHARS {
        return Err(NodeError::Invalid(format!(
            "the charter draft would be {chars} characters long; it is limited to {MAX_CHARTER_CHARS}; nothing changed"
        )));
    }
    Ok(())
}

pub(crate) fn random<const N: usize>(env: &dyn Env) -> Result<[u8; N], NodeError> {
    let mut bytes = [0u8; N];
    env.fill(&mut bytes)
        .map_err(|e| NodeError::io("cannot draw randomness for", "the system", e))?;
    Ok(bytes)
}

/// The status name the contract knows: declined bookings are cancelled ones.
fn contract_status(status: BookingStatus) -> &'static str {
    match status {
        BookingStatus::Declined => "cancelled",
        other => other.name(),
    }
}

/// How many free slots `bookings` and `status` suggest for each conflict.
const SUGGESTIONS: usize = 3;

/// [`Node::device_org`], from the membership alone: the organisation that
/// has (or had, so that what a since-removed device did still counts) the
/// device, and whether it is a coordinator. The membership must give every
/// node the same answer from the same log: no local state here.
fn device_org_of(membership: &MembershipState, device_hex: &str) -> Option<(String, bool)> {
    let device = DeviceId::from_hex(device_hex)?;
    membership
        .document_author_org(&device)
        .map(|o| (o.id.clone(), o.role == Role::Coordinator))
}

/// The booking rule's lookup of devices ([`Node::device_org`]). It borrows
/// only the membership, so that the calendar can change meanwhile.
pub(crate) struct Members<'a>(&'a MembershipState);

impl entraide_docs::calendar::Directory for Members<'_> {
    fn device_org(&self, device_hex: &str) -> Option<DeviceOrg> {
        device_org_of(self.0, device_hex).map(|(org, coordinator)| DeviceOrg { org, coordinator })
    }
}

/// A part of the alliance's calendar (`DocKind::Calendar`) or a group's
/// calendar (a group's documents should be loaded first:
/// `Node::load_group`), with what it keeps of its bookings brought up to
/// date ([`Calendar::refresh`]).
pub(crate) fn calendar_in(docs: &mut Docs, doc: DocKind) -> Result<&mut Calendar, NodeError> {
    let calendar = match doc {
        DocKind::Calendar(part) => docs.calendar_mut(part)?,
        DocKind::Group(g) if doc.is_calendar() => &mut docs.group_mut(g.group).calendar,
        other => return Err(NodeError::Invalid(format!("{other} is not a calendar"))),
    };
    // What peers sent since the calendar was last used is followed now,
    // once, rather than after each bundle: a node syncing with six
    // neighbours spent a twentieth of its time following changes nobody
    // read before the next ones came.
    calendar.refresh();
    Ok(calendar)
}

pub(crate) fn directory(membership: &MembershipState) -> Members<'_> {
    Members(membership)
}

/// The zone to use: `--tz`, else the system's, else UTC.
pub fn resolve_zone(explicit: Option<&str>) -> Result<Tz, NodeError> {
    if let Some(name) = explicit {
        return Ok(parse_zone(name)?);
    }
    Ok(iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| parse_zone(&name).ok())
        .unwrap_or(Tz::UTC))
}

fn validate_name(what: &str, name: &str) -> Result<String, NodeError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(NodeError::Invalid(format!(
            "the {what} name must be 1 to 100 characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

impl Node {
    /// Creates a node in `home`: a new device key, a store, the
    /// organisation's name. Refuses a home that already has a node.
    pub fn init(home: &Home, org_name: &str, zone: Tz) -> Result<Node, NodeError> {
        Self::init_with(home, org_name, zone, Box::new(SystemEnv))
    }

    /// [`Node::init`], with the time and randomness of `env`.
    pub fn init_with(
        home: &Home,
        org_name: &str,
        zone: Tz,
        env: Box<dyn Env>,
    ) -> Result<Node, NodeError> {
        let org_name = validate_name("organisation", org_name)?;
        if home.is_initialised() {
            return Err(NodeError::AlreadyInitialised(home.root().to_owned()));
        }
        let org_id = new_id(random(&*env)?);
        let key = home.create(random(&*env)?)?;
        let store = Store::create(&home.store_path())?;
        home.protect_store()?;
        let mut batch = WriteBatch::new();
        batch
            .meta("org_id", org_id.into_bytes())
            .meta("org_name", org_name.into_bytes());
        store.commit(batch)?;
        drop(store);
        drop(key);
        Self::open_with(home, zone, env)
    }

    /// Opens the node of `home`.
    pub fn open(home: &Home, zone: Tz) -> Result<Node, NodeError> {
        Self::open_with(home, zone, Box::new(SystemEnv))
    }

    /// Opens the node of `home` for a request that only reads
    /// ([`Request::only_reads`]): its store is opened to read only, so
    /// nothing is written to the home, when it can be (a store left by a
    /// crash must be opened to write, which repairs it). A write the
    /// request makes after all fails with [`NodeError::is_read_only`]: ask
    /// again of a node opened by [`Node::open`].
    pub fn open_to_read(home: &Home, zone: Tz) -> Result<Node, NodeError> {
        match Store::open_read_only(&home.store_path()) {
            Ok(store) => Self::open_store(home, zone, Box::new(SystemEnv), store),
            // `open` says why, or repairs what a crash left.
            Err(_) => Self::open(home, zone),
        }
    }

    /// [`Node::open`], with the time and randomness of `env`.
    pub fn open_with(home: &Home, zone: Tz, env: Box<dyn Env>) -> Result<Node, NodeError> {
        if !home.store_path().exists() {
            return Err(NodeError::NotInitialised(home.root().to_owned()));
        }
        let store = Store::open(&home.store_path())?;
        Self::open_store(home, zone, env, store)
    }

    fn open_store(
        home: &Home,
        zone: Tz,
        env: Box<dyn Env>,
        store: Store,
    ) -> Result<Node, NodeError> {
        let key = home.load_key()?;
        let device = DeviceId(key.verifying_key().to_bytes());
        let text = |k: &str| -> Result<String, NodeError> {
            let bytes = store.meta(k)?.unwrap_or_default();
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let org_id = text("org_id")?;
        let org_name = text("org_name")?;
        // This opening writes under an actor of its own (see
        // `entraide_docs::device_of_actor`): a copy of this home, or a
        // backup restored, never writes under the same actor as the original.
        let epoch: [u8; EPOCH_LEN] = random(&*env)?;
        let store = Arc::new(store);
        let mut docs = Docs::new(store.clone(), device.0, epoch);
        let mut log = MembershipLog::new();
        let ops = store
            .ops()?
            .iter()
            .filter_map(|bytes| SignedOp::decode_stored(bytes).ok())
            .collect();
        log.insert_all(ops);
        let membership = log.state();
        docs.other_copy_seen = store
            .meta("other_copy_seen")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(i64::from_le_bytes);
        let peers = store
            .meta("peers")?
            .and_then(|b| postcard::from_bytes(&b).ok())
            .unwrap_or_default();
        let relay_url = store
            .meta("relay")?
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|r| !r.is_empty());
        let listen_addrs = store
            .meta("listen_addrs")?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        docs.forks =
            crate::equivocation::Forks::decode(store.meta("equivocations")?, store.meta("voided")?);
        docs.refused = store
            .meta("refused")?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Node {
            home: home.clone(),
            store,
            key,
            device,
            org_id,
            org_name,
            zone,
            epoch,
            env,
            docs,
            membership: Membership {
                log,
                state: membership,
            },
            peers: Peers {
                records: peers,
                listen_addrs,
                relay_url,
                ..Peers::default()
            },
        })
    }

    /// This device's id.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The home it runs on.
    pub fn home(&self) -> &Home {
        &self.home
    }

    pub(crate) fn author_for_docs(&self) -> Author {
        self.author()
    }

    pub(crate) fn author(&self) -> Author {
        Author {
            device: self.device.0,
            org: self.org_id.clone(),
        }
    }

    pub(crate) fn require_alliance(&self) -> Result<(), NodeError> {
        match self.membership.state.alliance {
            Some(_) => Ok(()),
            None => Err(NodeError::NoAlliance),
        }
    }

    /// The id of a new record this device creates: random, ending with this
    /// device's key prefix, as the authority check requires.
    pub(crate) fn new_record_id(&self) -> Result<String, NodeError> {
        Ok(entraide_docs::record_id(
            random(&*self.env)?,
            &self.device.0,
        ))
    }

    /// A new record's id for the document `doc`: in a part of the
    /// calendar, one that names that part ([`DocKind::calendar_of`]), so
    /// that a booking is found by its id in the part of its resource
    /// without loading the others (8 draws on average).
    pub(crate) fn new_record_id_in(&self, doc: DocKind) -> Result<String, NodeError> {
        loop {
            let id = self.new_record_id()?;
            if !matches!(doc, DocKind::Calendar(_)) || DocKind::calendar_of(&id) == doc {
                return Ok(id);
            }
        }
    }

    pub(crate) fn doc_mut(&mut self, kind: DocKind) -> Result<&mut SharedDoc, NodeError> {
        if let Some(group) = kind.group_id() {
            self.load_group(group)?;
        }
        self.docs.doc_mut(kind)
    }

    /// A document for the sync layer's answers, which have no error to
    /// give: one that cannot be read is logged and answered as not held
    /// (a session reports it when it starts: [`Node::load_docs`]).
    pub(crate) fn held_doc(&mut self, kind: DocKind) -> Option<&mut SharedDoc> {
        match self.doc_mut(kind) {
            Ok(doc) => Some(doc),
            Err(e) => {
                unreadable(kind, &e);
                None
            }
        }
    }

    /// Makes `kinds` ready to sync: reads from the store each one that is
    /// neither held in memory nor summed up by a summary that holds
    /// (`crate::docs::Summary`); the others are read when something needs
    /// their content. An error: one could not be read.
    pub fn load_docs(&mut self, kinds: &[DocKind]) -> Result<(), NodeError> {
        for kind in kinds {
            if self.docs.summary(*kind).is_none() {
                self.doc_mut(*kind)?;
            }
        }
        Ok(())
    }

    /// [`Node::load_docs`] of every document this node holds: `serve` does
    /// when it starts, so that its first peer does not wait for them (a
    /// command run without `serve` reads only what it answers from).
    pub fn load_held_docs(&mut self) -> Result<(), NodeError> {
        let held = self.docs_held();
        self.load_docs(&held)
    }

    /// Stores what changed in `kind` (and whatever `batch` holds) in one
    /// durable transaction. On failure, drops the change from memory too.
    pub(crate) fn persist(&mut self, kind: DocKind, batch: WriteBatch) -> Result<(), NodeError> {
        self.persist_from(kind, batch, Origin::Here)
    }

    /// [`Node::persist`], for a write that is this node's own
    /// ([`Origin::Here`]: durable before it returns) or what a peer sent
    /// ([`Origin::Peer`]: see [`Node::store_received`]).
    pub(crate) fn persist_from(
        &mut self,
        kind: DocKind,
        mut batch: WriteBatch,
        origin: Origin,
    ) -> Result<(), NodeError> {
        // This node's own change passes the same gate as a peer's (once
        // its organisation is admitted: before, peers check it on receipt).
        let members = crate::audit::MembersView {
            state: &self.membership.state,
            log: &self.membership.log,
        };
        let doc = self.docs.doc_mut(kind)?;
        let checked = match entraide_docs::Members::org_of(&members, &self.device.0) {
            Some(_) => doc.check_local(&members),
            None => Ok(()),
        };
        if let Err(refusal) = checked {
            self.reload_doc(kind)?;
            return Err(NodeError::Unauthorized(format!(
                "this node's own change broke an authority rule ({}); nothing was stored",
                refusal.rule
            )));
        }
        self.attest_local(kind, &mut batch)?;
        let doc = self.doc_mut(kind)?;
        if let Some(bytes) = doc.take_unsaved() {
            batch.doc_chunk(&kind.name(), bytes);
            batch.doc_summary(&kind.name(), crate::docs::Summary::of(doc).encode());
        }
        let stored = match origin {
            Origin::Here => self.store.commit(batch).map_err(NodeError::from),
            Origin::Peer => {
                // A peer may have added or renamed resources: their names
                // are kept again at the next flush.
                if let DocKind::Calendar(part) = kind {
                    self.docs.names_to_keep.insert(part);
                }
                self.store_received(batch)
            }
        };
        if let Err(e) = stored {
            self.reload_doc(kind)?;
            return Err(e);
        }
        Ok(())
    }

    /// Goes back to what the store holds of `kind` (after a refused or
    /// failed write), writing on under this opening's actor.
    pub(crate) fn reload_doc(&mut self, kind: DocKind) -> Result<(), NodeError> {
        if kind.group_id().is_none() {
            // Read again when next asked for.
            self.docs.unload(kind);
            return Ok(());
        }
        let doc = crate::docs::load_doc(&self.store, kind, self.device.0, self.epoch)?;
        *self.doc_mut(kind)? = doc;
        Ok(())
    }

    /// An organisation's name from its id (the id itself if unknown).
    pub(crate) fn org_name(&self, org_id: &str) -> String {
        if org_id == self.org_id {
            return self.org_name.clone();
        }
        self.membership
            .state
            .orgs
            .get(org_id)
            .map_or_else(|| org_id.to_owned(), |o| o.name.clone())
    }

    /// Answers one request.
    pub fn execute(&mut self, request: Request) -> Result<Reply, NodeError> {
        match request {
            Request::AllianceCreate {
                name,
                admission,
                process,
            } => self.alliance_create(&name, &admission, process.as_deref()),
            Request::Status => self.status(),
            Request::MemberList => Ok(self.member_list()),
            Request::MemberLog => Ok(self.member_log()),
            Request::Audit => Ok(self.audit()),
            Request::CharterShow => self.charter_show(),
            Request::CharterSet { text } => self.charter_set(&text),
            Request::CharterHistory => self.charter_history(),
            Request::CharterEdit { base, text } => self.charter_edit(&base, &text),
            Request::ValuesAdd { name, description } => self.values_add(&name, &description),
            Request::ValuesEndorse { value } => self.values_endorse(&value),
            Request::ValuesList => self.values_list(),
            Request::ValuesWithdraw { value } => self.values_withdraw(&value),
            Request::ValuesEdit {
                value,
                name,
                description,
            } => self.values_edit(&value, name.as_deref(), description.as_deref()),
            Request::LibraryAdd {
                file_name,
                bytes,
                title,
                kind,
                tags,
                group,
            } => self.library_add(&file_name, bytes, &title, &kind, &tags, group.as_deref()),
            Request::LibraryList { kind, tag, search } => {
                self.library_list(kind.as_deref(), tag.as_deref(), search.as_deref())
            }
            Request::LibraryGet { entry } => self.library_get(&entry),
            Request::LibraryWithdraw { entry } => self.library_withdraw(&entry),
            Request::ResourceAdd {
                name,
                kind,
                capacity,
                location,
                quota,
                approval,
                hours,
                group,
            } => self.resource_add(
                &name,
                &kind,
                capacity,
                location.as_deref(),
                quota.as_deref(),
                approval,
                hours.as_deref(),
                group.as_deref(),
            ),
            Request::ResourceEdit(edit) => self.resource_edit(edit),
            Request::ResourceWithdraw { resource, reason } => {
                self.resource_withdraw(&resource, &reason)
            }
            Request::ResourceList => self.resource_list(),
            Request::Book {
                resource,
                from,
                to,
                purpose,
                repeat,
                count,
                until,
            } => self.book(
                &resource,
                &from,
                &to,
                &purpose,
                repeat.as_deref(),
                count,
                until.as_deref(),
            ),
            Request::Bookings {
                resource,
                org,
                from,
                to,
            } => self.bookings(
                resource.as_deref(),
                org.as_deref(),
                from.as_deref(),
                to.as_deref(),
            ),
            Request::BookingDecide {
                booking,
                approve,
                reason,
            } => self.booking_decide(&booking, approve, reason.as_deref()),
            Request::Cancel { booking, series } => self.cancel(&booking, series),
            Request::CalendarExport { resource } => self.calendar_export(resource.as_deref()),
            Request::EventAdd {
                title,
                from,
                to,
                seats,
                per_org,
                resource,
                group,
            } => self.event_add(
                &title,
                &from,
                &to,
                seats,
                per_org,
                resource.as_deref(),
                group.as_deref(),
            ),
            Request::EventRegister {
                event,
                seats,
                names,
            } => self.event_register(&event, seats, &names),
            Request::EventCancelRegistration { event } => self.event_cancel_registration(&event),
            Request::EventSetOpen { event, open } => self.event_set_open(&event, open),
            Request::EventList => self.event_list(),
            Request::EventAttendance { event } => self.event_attendance(&event),
            Request::GroupCreate {
                name,
                description,
                orgs,
            } => self.group_create(&name, &description, &orgs),
            Request::GroupList => self.group_list(),
            Request::GroupChange { group, org, add } => {
                self.group_change(&group, org.as_deref(), add)
            }
            Request::GroupDissolve { group } => self.group_dissolve(&group),
            Request::GroupNotes { group } => self.group_notes_show(&group),
            Request::GroupNotesSet { group, text, base } => {
                self.group_notes_set(&group, &text, &base)
            }
            Request::Fees => self.fees(),
            Request::FeesPropose {
                tiers,
                assign,
                currency,
                process,
                deadline,
            } => self.fees_propose(
                &crate::FeeChanges {
                    tiers,
                    assign,
                    currency,
                },
                &crate::Deciding {
                    process,
                    deadline,
                    group: None,
                },
            ),
            Request::FundRequest {
                kind,
                amount,
                currency,
                reason,
                repay,
                process,
                deadline,
                group,
            } => self.fund_request(
                &kind,
                &amount,
                currency.as_deref(),
                &reason,
                repay.as_deref(),
                &crate::Deciding {
                    process,
                    deadline,
                    group,
                },
            ),
            Request::LoanOffer {
                org,
                amount,
                currency,
                rate,
                schedule,
                note,
                group,
            } => self.loan_offer(
                &org,
                &amount,
                currency.as_deref(),
                &rate,
                &schedule,
                &note,
                group.as_deref(),
            ),
            Request::LoanAccept { loan } => self.loan_accept(&loan),
            Request::RecordPayment {
                from,
                to,
                amount,
                currency,
                reference,
                note,
                group,
            } => self.record_payment(
                &from,
                to.as_deref(),
                &amount,
                currency.as_deref(),
                reference.as_deref(),
                &note,
                group.as_deref(),
            ),
            Request::ConfirmPayment { payment } => self.confirm_payment(&payment),
            Request::Ledger { group } => self.ledger_show(group.as_deref()),
            Request::LedgerExport { group } => self.ledger_export(group.as_deref()),
            Request::OrgShow { org } => self.org_show(&org),
            Request::OrgSet {
                description,
                address,
                contact,
                offers,
                needs,
                tags,
            } => self.org_set(entraide_docs::profiles::ProfileEdit {
                description,
                address,
                contact,
                offers,
                needs,
                tags,
            }),
            Request::OrgList { offers, needs, tag } => {
                self.org_list(offers.as_deref(), needs.as_deref(), tag.as_deref())
            }
            Request::Export { doc } => self.export(&doc),
            Request::Invite { role, expires } => {
                let relay = self.peers.relay_url.clone();
                self.invite(&role, &expires, relay)
            }
            Request::Propose {
                kind,
                title,
                text,
                process,
                quorum,
                deadline,
                org,
                group,
            } => {
                self.require_alliance()?;
                self.propose(
                    &kind,
                    &title,
                    &text,
                    process.as_deref(),
                    quorum,
                    deadline.as_deref(),
                    org.as_deref(),
                    group.as_deref(),
                )
            }
            Request::Proposals { open } => {
                self.require_alliance()?;
                self.proposals_list(open)
            }
            Request::Vote {
                proposal,
                position,
                reason,
            } => {
                self.require_alliance()?;
                self.vote(&proposal, &position, &reason)
            }
            Request::CharterAdopted => {
                self.require_alliance()?;
                self.charter_adopted()
            }
            Request::CharterDiff { from, to, text } => {
                self.require_alliance()?;
                self.charter_diff(&from, &to, text)
            }
            Request::Decisions => {
                self.require_alliance()?;
                self.decisions()
            }
            Request::DecisionsExport => {
                self.require_alliance()?;
                self.decisions_markdown()
            }
            Request::MemberApprove { org } => self.member_approve(&org),
            Request::MemberRemove { org, reason } => self.member_remove(&org, &reason),
            Request::Leave { reason } => self.leave(&reason),
            Request::MemberRole { org, role } => self.member_role(&org, &role),
            Request::MemberBlock { org, reason } => {
                if reason.trim().is_empty() {
                    return Err(NodeError::Invalid(
                        "a block needs a reason: --reason <TEXT>".into(),
                    ));
                }
                self.member_block(&org, &reason)
            }
            Request::DeviceInvite { expires } => {
                let relay = self.peers.relay_url.clone();
                self.invite_for("member", &expires, relay, true)
            }
            Request::DeviceRemove { device } => self.device_remove(&device),
            Request::Peers => {
                let list = self.peers_json();
                let text = list
                    .iter()
                    .map(|p| {
                        format!(
                            "{}  {}  {}  last sync {}\n",
                            crate::node::short(p["device"].as_str().unwrap_or_default(), 12),
                            p["org"].as_str().unwrap_or("?"),
                            if p["connected"].as_bool().unwrap_or(false) {
                                "connected"
                            } else {
                                "offline"
                            },
                            p["last_sync"].as_str().unwrap_or("never")
                        )
                    })
                    .collect::<String>();
                Ok(Reply::new(serde_json::Value::Array(list), text))
            }
            Request::SyncNow { .. } => Err(NodeError::Invalid(
                "sync needs the network layer; run it through `entraide sync`".into(),
            )),
        }
    }

    fn alliance_create(
        &mut self,
        name: &str,
        admission: &str,
        process: Option<&str>,
    ) -> Result<Reply, NodeError> {
        if let Some(a) = &self.membership.state.alliance {
            return Err(NodeError::AlreadyInAlliance(a.name.clone()));
        }
        let name = validate_name("alliance", name)?;
        let admission = AdmissionRule::parse(admission).ok_or_else(|| {
            NodeError::Invalid(format!(
                "unknown admission rule '{admission}'; use coordinator, majority or consensus"
            ))
        })?;
        let process = process.unwrap_or("consensus");
        if !entraide_membership::PROCESSES.contains(&process) {
            return Err(NodeError::Invalid(format!(
                "unknown decision process '{process}'; use consent, consensus or majority"
            )));
        }
        let now = self.env.now_ms();
        let found = SignedOp::sign(
            Op {
                parents: vec![],
                author: self.device,
                time_ms: now,
                body: OpBody::Found {
                    alliance_name: name.clone(),
                    org_id: self.org_id.clone(),
                    org_name: self.org_name.clone(),
                    admission,
                },
            },
            &self.key,
        );
        // The default process is a motion like any later change of it; the
        // founder, alone in the alliance, decides it at once.
        let set_process = SignedOp::sign(
            Op {
                parents: vec![found.hash()],
                author: self.device,
                time_ms: now,
                body: OpBody::SetProcess {
                    process: process.to_owned(),
                },
            },
            &self.key,
        );
        let mut batch = WriteBatch::new();
        for op in [&found, &set_process] {
            batch.op(op.hash().0, op.bytes().to_vec());
        }
        self.store.commit(batch)?;
        let id = found.hash().to_hex();
        let _ = self.membership.log.insert(found);
        let _ = self.membership.log.insert(set_process);
        self.membership.state = self.membership.log.state();
        Ok(Reply::new(
            json!({"id": id, "name": name, "admission": admission.name(), "process": process}),
            format!(
                "founded the alliance '{name}' ({id}); admission rule: {}; proposals decided by {process} unless they say otherwise",
                admission.name()
            ),
        ))
    }

    /// How this alliance decides proposals by default.
    pub(crate) fn default_process(&self) -> &str {
        self.membership
            .state
            .alliance
            .as_ref()
            .and_then(|a| a.default_process.as_deref())
            .unwrap_or("consensus")
    }

    /// Each document's heads. The calendar is one entry, as the contract
    /// names it: the heads of its parts taken together (a part holding
    /// only its genesis adds none unless all do).
    fn docs_heads(&mut self) -> Result<Vec<Value>, NodeError> {
        let mut out = Vec::new();
        let (mut whole, mut genesis, mut parts) = (BTreeSet::new(), None, 0);
        for kind in DocKind::ALL {
            // What is not loaded says its heads in its summary.
            let (_, heads) = self.read_doc_state(kind)?;
            let heads: Vec<entraide_docs::ChangeHash> =
                heads.into_iter().map(entraide_docs::ChangeHash).collect();
            let genesis_only = SharedDoc::are_genesis_heads(kind, &heads);
            let heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
            if !matches!(kind, DocKind::Calendar(_)) {
                out.push(json!({"name": kind.name(), "heads": heads}));
                continue;
            }
            if genesis_only {
                genesis = Some(heads);
            } else {
                whole.extend(heads);
            }
            parts += 1;
            if parts == Part::COUNT {
                if whole.is_empty() {
                    whole.extend(genesis.take().unwrap_or_default());
                }
                out.push(json!({"name": "calendar", "heads": whole}));
            }
        }
        Ok(out)
    }

    fn status(&mut self) -> Result<Reply, NodeError> {
        let process = self.default_process().to_owned();
        let alliance = self.membership.state.alliance.as_ref().map(|a| {
            json!({"id": a.id.to_hex(), "name": a.name, "admission": a.admission.name(), "process": process})
        });
        let members = self.membership.state.active_orgs().count();
        let docs = self.docs_heads()?;
        let conflicts: Vec<Value> = self.own_conflicts_json()?;
        let json = json!({
            "device": self.device.to_hex(),
            "org": self.org_name,
            "org_id": self.org_id,
            "alliance": alliance,
            "members": members,
            "docs": docs,
            "peers": self.peers_json(),
            "conflicts": conflicts,
            "time_zone": self.zone.name(),
            "refused_changes": self.docs.refused.len(),
            "other_copy_seen": self.docs.other_copy_seen.map(|t| format_time(t, self.zone)),
        });
        let mut text = format!("organisation: {}\ndevice: {}\n", self.org_name, self.device);
        match &self.membership.state.alliance {
            Some(a) => text += &format!("alliance: {} ({members} member organisations)\n", a.name),
            None => {
                text += "alliance: none yet (`entraide alliance create <NAME>` or `entraide join <TICKET>`)\n"
            }
        }
        if let Some(t) = self.docs.other_copy_seen {
            text += &format!(
                "another copy of this home also wrote as this device (a copied folder, or this home restored from a backup; last seen {}): both copies' writes are kept, but keep only one copy in use\n",
                format_time(t, self.zone)
            );
        }
        if !self.docs.refused.is_empty() {
            text += &format!(
                "{} change(s) from members were refused: see `entraide audit`\n",
                self.docs.refused.len()
            );
        }
        if !conflicts.is_empty() {
            text += &format!(
                "{} of your bookings lost a conflict: see `entraide bookings --org {}`\n",
                conflicts.len(),
                self.org_name
            );
        }
        Ok(Reply::new(json, text))
    }

    fn member_list(&self) -> Reply {
        let mut list = Vec::new();
        let mut text = String::new();
        for o in self.membership.state.orgs.values() {
            let waiting: Vec<Value> = self
                .membership.state
                .pending_motions_about(&o.id)
                .into_iter()
                .map(|m| {
                    json!({
                        "motion": m.hash.to_hex(),
                        "kind": m.kind,
                        "role": m.role.map(Role::name),
                        "approved_by": m.approvals.iter().map(|a| self.org_name(a)).collect::<Vec<_>>(),
                        "needs": self.membership.state.verdicts.get(&m.hash).and_then(|v| v.reason.clone()),
                    })
                })
                .collect();
            text += &format!(
                "{}\t{}\t{}\t{} device(s){}\n",
                o.name,
                o.role.name(),
                o.status.name(),
                o.devices.len(),
                waiting
                    .iter()
                    .filter_map(|w| w["needs"]
                        .as_str()
                        .map(|n| format!("\t{} {n}", w["kind"].as_str().unwrap_or(""))))
                    .collect::<String>()
            );
            list.push(json!({
                "org": o.name,
                "org_id": o.id,
                "role": o.role.name(),
                "status": o.status.name(),
                "devices": o.devices.iter().map(DeviceId::to_hex).collect::<Vec<_>>(),
                "removed_devices": o.removed_devices.iter().map(DeviceId::to_hex).collect::<Vec<_>>(),
                "waiting": waiting,
            }));
        }
        Reply::new(Value::Array(list), text)
    }

    fn member_log(&self) -> Reply {
        let mut list = Vec::new();
        let mut text = String::new();
        for op in self.membership.log.ordered() {
            let verdict = self.membership.state.verdicts.get(&op.hash());
            let author_org = self
                .membership
                .state
                .any_org_of_device(&op.op().author)
                .map(|o| o.name.clone());
            let valid = verdict.is_some_and(|v| v.valid);
            let reason = verdict.and_then(|v| v.reason.clone());
            text += &format!(
                "{}  {:<13} by {}  {}\n",
                crate::node::short(&op.hash().to_hex(), 12),
                op.op().body.kind(),
                author_org.as_deref().unwrap_or("?"),
                reason.as_deref().unwrap_or("valid")
            );
            list.push(json!({
                "id": op.hash().to_hex(),
                "kind": op.op().body.kind(),
                "author_org": author_org,
                "author_device": op.op().author.to_hex(),
                "time": format_time(op.op().time_ms, self.zone),
                "parents": op.op().parents.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
                "valid": valid,
                "reason": reason,
            }));
        }
        Reply::new(Value::Array(list), text)
    }

    fn charter_show(&mut self) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let text = self.docs.charter()?.text();
        let heads = self.docs.charter_mut()?.doc_mut().heads_hex();
        Ok(Reply::new(json!({"text": text, "heads": heads}), text))
    }

    fn charter_set(&mut self, text: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        check_charter_size(text)?;
        let changed = self.docs.charter_mut()?.set_text(self.env.now_ms(), text);
        self.persist(DocKind::Charter, WriteBatch::new())?;
        let heads = self.docs.charter_mut()?.doc_mut().heads_hex();
        let message = if changed {
            "charter updated"
        } else {
            "the charter already has that text; nothing changed"
        };
        Ok(Reply::new(
            json!({"changed": changed, "heads": heads}),
            message,
        ))
    }

    fn charter_edit(&mut self, base: &[String], text: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        check_charter_size(text)?;
        let heads: Vec<entraide_docs::ChangeHash> = base
            .iter()
            .map(|h| {
                h.trim().parse().map_err(|_| {
                    NodeError::Invalid(format!(
                        "{:?} is not a charter version: give the heads `entraide charter show --json` printed (64 hexadecimal characters each); nothing changed",
                        short(h, 20)
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let changed = self.docs.charter_mut()?.edit_from(self.env.now_ms(), &heads, text).ok_or_else(|| {
            NodeError::Invalid(
                "this node does not know the version of the charter the edit started from (its heads); take the text and heads again (`entraide charter show --json`, or reload the page) and reapply the edit; nothing changed"
                    .into(),
            )
        })?;
        self.persist(DocKind::Charter, WriteBatch::new())?;
        let text = self.docs.charter()?.text();
        let heads = self.docs.charter_mut()?.doc_mut().heads_hex();
        Ok(Reply::new(
            json!({"changed": changed, "text": text, "heads": heads}),
            if changed {
                "charter updated"
            } else {
                "nothing changed"
            },
        ))
    }

    fn charter_history(&mut self) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let history = self.docs.charter_mut()?.history();
        let mut list = Vec::new();
        let mut text = String::new();
        for change in history {
            let author = entraide_docs::device_of_actor(&change.actor);
            let device = author.map(hex::encode).unwrap_or_default();
            let org = author
                .and_then(|d| {
                    self.membership
                        .state
                        .any_org_of_device(&DeviceId(d))
                        .map(|o| o.name.clone())
                })
                .unwrap_or_else(|| {
                    if author == Some(self.device.0) {
                        self.org_name.clone()
                    } else {
                        "unknown".into()
                    }
                });
            let time = format_time(change.time_ms, self.zone);
            text += &format!("{time}  {org}  {} edit(s)\n", change.ops);
            list.push(json!({
                "kind": "edit",
                "hash": change.hash.to_string(),
                "org": org,
                "device": device,
                "time": time,
                "ops": change.ops,
            }));
        }
        // Adopted versions, with the decision that adopted each.
        for (proposal, decided_at, proposer) in self.adopted_versions()? {
            let time = decided_at
                .map(|t| format_time(t, self.zone))
                .unwrap_or_default();
            text += &format!("{time}  adopted by decision {}\n", short(&proposal, 8));
            list.push(json!({
                "kind": "adopted",
                "proposal": proposal,
                "org": proposer,
                "time": time,
            }));
        }
        Ok(Reply::new(Value::Array(list), text))
    }

    fn values_add(&mut self, name: &str, description: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let id = self.new_record_id()?;
        let (author, now) = (self.author(), self.env.now_ms());
        self.docs
            .values_mut()?
            .add(&author, now, &id, name, description)?;
        self.persist(DocKind::Values, WriteBatch::new())?;
        Ok(Reply::new(json!({"id": id}), id))
    }

    fn values_endorse(&mut self, value: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let id = self.docs.values()?.resolve(value)?;
        let (author, now) = (self.author(), self.env.now_ms());
        let new = self.docs.values_mut()?.endorse(&author, now, &id)?;
        self.persist(DocKind::Values, WriteBatch::new())?;
        let text = if new {
            format!("{} endorses value {id}", self.org_name)
        } else {
            format!(
                "{} already endorses value {id}; nothing changed",
                self.org_name
            )
        };
        Ok(Reply::new(
            json!({"id": id, "endorsed": true, "changed": new}),
            text,
        ))
    }

    fn values_withdraw(&mut self, value: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let id = self.docs.values()?.resolve(value)?;
        let (author, now) = (self.author(), self.env.now_ms());
        self.docs.values_mut()?.withdraw(&author, now, &id)?;
        self.persist(DocKind::Values, WriteBatch::new())?;
        Ok(Reply::new(
            json!({"id": id, "endorsed": false}),
            format!("{} no longer endorses value {id}", self.org_name),
        ))
    }

    fn values_edit(
        &mut self,
        value: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        if name.is_none() && description.is_none() {
            return Err(NodeError::Invalid(
                "nothing to change; give --name or --description".into(),
            ));
        }
        let id = self.docs.values()?.resolve(value)?;
        let (author, now) = (self.author(), self.env.now_ms());
        self.docs
            .values_mut()?
            .reword(&author, now, &id, name, description)?;
        self.persist(DocKind::Values, WriteBatch::new())?;
        Ok(Reply::new(
            json!({"id": id}),
            format!("value {id} reworded"),
        ))
    }

    fn values_list(&mut self) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let active: Vec<String> = self
            .membership
            .state
            .active_orgs()
            .map(|o| o.id.clone())
            .collect();
        let mut text = String::new();
        let list: Vec<Value> = self
            .docs
            .values()?
            .list()
            .into_iter()
            .map(|v| {
                let names: Vec<String> = v.endorsed_by.iter().map(|o| self.org_name(o)).collect();
                let shared_by_all =
                    !active.is_empty() && active.iter().all(|o| v.endorsed_by.contains(o));
                text += &format!(
                    "{}  {}  ({})\n",
                    crate::node::short(&v.id, 8),
                    v.name,
                    names.join(", ")
                );
                json!({
                    "id": v.id,
                    "name": v.name,
                    "description": v.description,
                    "endorsed_by": names,
                    "endorsed_by_all": shared_by_all,
                    "endorsed_earlier_wording": v
                        .endorsed_earlier_wording
                        .iter()
                        .map(|o| self.org_name(o))
                        .collect::<Vec<_>>(),
                    "edited_at": v.edited_at.map(|t| format_time(t, self.zone)),
                    "created_by": self.org_name(&v.created_by),
                })
            })
            .collect();
        Ok(Reply::new(Value::Array(list), text))
    }

    #[allow(clippy::too_many_arguments)]
    fn library_add(
        &mut self,
        file_name: &str,
        bytes: Vec<u8>,
        title: &str,
        kind: &str,
        tags: &[String],
        group: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let group = group.map(|g| self.my_group(g)).transpose()?;
        let kind = EntryKind::parse(kind)?;
        if bytes.len() > MAX_LIBRARY_FILE {
            return Err(NodeError::Invalid(format!(
                "the file is {} MiB; the library takes files up to {} MiB",
                bytes.len() / (1024 * 1024),
                MAX_LIBRARY_FILE / (1024 * 1024)
            )));
        }
        // Keep only a base name: the title and file name are metadata, never paths.
        let file_name = file_name
            .rsplit(['/', '\\'])
            .next()
            .filter(|n| !n.is_empty() && *n != ".." && *n != ".")
            .unwrap_or("file")
            .to_owned();
        // Every node stores every member's files: each organisation has its
        // share (`library_quota`), decided by the alliance.
        // (A group's files go to its members' nodes only: they are not
        // counted against the alliance's quota.)
        let quota = self.library_quota()?;
        let over = self.docs.library()?.over_quota(quota);
        let used: u64 = self
            .docs
            .library()?
            .list()
            .iter()
            .filter(|e| e.added_by == self.org_id && !over.contains(&e.id))
            .map(|e| e.size)
            .sum();
        if group.is_none() && used + bytes.len() as u64 > quota {
            let mb = |b: u64| b.div_ceil(1024 * 1024);
            return Err(NodeError::Invalid(format!(
                "this file would bring {}'s files in the shared library to {} MB, over the alliance's quota of {} MB per organisation; withdraw an entry (`entraide library withdraw <ID>`) or propose a larger quota (`entraide propose library-quota --text <MB>`)",
                self.org_name,
                mb(used + bytes.len() as u64),
                mb(quota)
            )));
        }
        let hash = blake3::hash(&bytes);
        let hash_hex = hash.to_hex().to_string();
        let id = self.new_record_id()?;
        let doc = match &group {
            Some(g) => DocKind::group(g.id, entraide_docs::Shelf::Library),
            None => DocKind::Library,
        };
        let (author, now) = (self.author(), self.env.now_ms());
        self.library_of(doc)?.add(
            &author,
            now,
            NewEntry {
                id: &id,
                title,
                kind,
                tags,
                size: bytes.len() as u64,
                hash: &hash_hex,
                file_name: &file_name,
            },
        )?;
        let size = bytes.len();
        let mut batch = WriteBatch::new();
        batch.blob(*hash.as_bytes(), bytes);
        self.persist(doc, batch)?;
        Ok(Reply::new(
            json!({"id": id, "hash": hash_hex, "size": size, "group": group.map(|g| g.name)}),
            id,
        ))
    }

    pub(crate) fn blob_key(hash_hex: &str) -> Option<[u8; 32]> {
        blake3::Hash::from_hex(hash_hex).ok().map(|h| *h.as_bytes())
    }

    fn library_list(
        &mut self,
        kind: Option<&str>,
        tag: Option<&str>,
        search: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let kind = kind.map(EntryKind::parse).transpose()?;
        let words: Vec<String> = search
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let mut list = Vec::new();
        let mut text = String::new();
        let quota = self.library_quota()?;
        let over = self.docs.library()?.over_quota(quota);
        let mut entries: Vec<(Option<String>, entraide_docs::library::LibraryEntry)> = self
            .docs
            .library()?
            .list()
            .into_iter()
            .map(|e| (None, e))
            .collect();
        for (g, e) in self.group_library_entries()? {
            let name = self.membership.state.groups.get(&g).map(|g| g.name.clone());
            entries.push((name, e));
        }
        for (group, e) in entries {
            if kind.is_some_and(|k| k != e.kind) {
                continue;
            }
            if let Some(tag) = tag
                && !e.tags.iter().any(|t| t.eq_ignore_ascii_case(tag.trim()))
            {
                continue;
            }
            let haystack = format!(
                "{} {} {} {}",
                e.title,
                e.tags.join(" "),
                e.kind.name(),
                e.file_name
            )
            .to_lowercase();
            if !words.iter().all(|w| haystack.contains(w.as_str())) {
                continue;
            }
            let available = match Self::blob_key(&e.hash) {
                Some(k) => self.store.has_blob(&k)?,
                None => false,
            };
            text += &format!(
                "{}  {:<11} {}{}  [{}]{}\n",
                crate::node::short(&e.id, 8),
                e.kind.name(),
                e.title,
                group
                    .as_ref()
                    .map(|g| format!(" (group {g})"))
                    .unwrap_or_default(),
                e.tags.join(", "),
                if over.contains(&e.id) {
                    "  (over its organisation's quota: not shared)"
                } else if available {
                    ""
                } else {
                    "  (not here yet)"
                }
            );
            list.push(json!({
                "id": e.id,
                "title": e.title,
                "kind": e.kind.name(),
                "tags": e.tags,
                "size": e.size,
                "hash": e.hash,
                "file_name": e.file_name,
                "added_by": self.org_name(&e.added_by),
                "added_at": format_time(e.added_at, self.zone),
                "available": available,
                "over_quota": over.contains(&e.id),
                "group": group,
                "received": if available { e.size } else { Self::blob_key(&e.hash).map_or(0, |k| self.store.blob_parts_len(&k).unwrap_or(0)) },
            }));
        }
        Ok(Reply::new(Value::Array(list), text))
    }

    fn library_get(&mut self, entry: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (_, e) = self.find_library_entry(entry)?;
        let bytes = match Self::blob_key(&e.hash) {
            Some(k) => self.store.blob(&k)?,
            None => None,
        }
        .ok_or_else(|| NodeError::Unavailable(e.title.clone()))?;
        let mut reply = Reply::new(
            json!({"id": e.id, "title": e.title, "size": bytes.len(), "hash": e.hash}),
            format!("{} ({} bytes)", e.title, bytes.len()),
        );
        reply.file = Some(bytes);
        Ok(reply)
    }

    /// Withdraws an entry this organisation added; its file goes once no
    /// entry names it (here now, on the other nodes when they get the
    /// withdrawal).
    fn library_withdraw(&mut self, entry: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (doc, e) = self.find_library_entry(entry)?;
        if e.added_by != self.org_id {
            return Err(NodeError::Invalid(format!(
                "'{}' was added by another organisation; only the organisation that added an entry may withdraw it",
                e.title
            )));
        }
        let now = self.env.now_ms();
        self.library_of(doc)?.withdraw(now, &e.id);
        let mut batch = WriteBatch::new();
        self.drop_unnamed_files(&mut batch)?;
        self.persist(doc, batch)?;
        Ok(Reply::new(
            json!({"id": e.id, "withdrawn": true}),
            format!("withdrew '{}'", e.title),
        ))
    }

    /// Deletes, in `batch`, the files no library entry names any more.
    pub(crate) fn drop_unnamed_files(&mut self, batch: &mut WriteBatch) -> Result<(), NodeError> {
        // A newcomer receiving the library holds no file yet: nothing to
        // read the library for.
        let held = self.store.blob_hashes()?;
        if held.is_empty() {
            return Ok(());
        }
        let mut entries = self.docs.library()?.list();
        entries.extend(self.group_library_entries()?.into_iter().map(|(_, e)| e));
        let named: std::collections::BTreeSet<[u8; 32]> = entries
            .iter()
            .filter_map(|e| Self::blob_key(&e.hash))
            .collect();
        for hash in held {
            if !named.contains(&hash) {
                batch.drop_blob(hash);
            }
        }
        Ok(())
    }

    /// The organisation a device (64 hex digits) belongs to or belonged to,
    /// and whether that organisation is a coordinator, from the membership
    /// log: the hook the booking rule uses to decide which cancellations and
    /// decisions count (see "Who may cancel or decide" in
    /// `entraide_docs::calendar`). Every booking status this node shows goes
    /// through it (as [`Members`], which borrows only the membership).
    pub fn device_org(&self, device_hex: &str) -> Option<(String, bool)> {
        device_org_of(&self.membership.state, device_hex)
    }

    /// A resource as `resource list` shows it, with its quota usage now.
    fn resource_json(
        &mut self,
        doc: DocKind,
        r: &entraide_docs::calendar::Resource,
        now: i64,
    ) -> Result<Value, NodeError> {
        if let Some(g) = doc.group_id() {
            self.load_group(g)?;
        }
        let dir = directory(&self.membership.state);
        let usage: Vec<Value> = calendar_in(&mut self.docs, doc)?
            .usage(&r.id, now, &[self.org_id.as_str()], &dir)
            .into_iter()
            .map(|u| {
                json!({
                    "org": self.org_name(&u.org),
                    "org_id": u.org,
                    "period_start": format_time(u.period_start, self.zone),
                    "period_end": format_time(u.period_end, self.zone),
                    "minutes": u.minutes,
                    "quota_minutes": u.quota_minutes,
                })
            })
            .collect();
        Ok(json!({
            "id": r.id,
            "name": r.name,
            "kind": r.kind.name(),
            "capacity": r.capacity,
            "location": r.location,
            "quota": r.quota.map(Quota::to_text),
            "approval": r.approval,
            "hours": r.hours.as_ref().map(|h| h.to_text().to_owned()),
            "owner": self.org_name(&r.owner),
            "zone": r.zone.name(),
            "usage": usage,
            "group": doc.group_id().and_then(|g| self.membership.state.groups.get(&g)).map(|g| g.name.clone()),
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn resource_add(
        &mut self,
        name: &str,
        kind: &str,
        capacity: Option<u32>,
        location: Option<&str>,
        quota: Option<&str>,
        approval: bool,
        hours: Option<&str>,
        group: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let id = self.new_record_id()?;
        let doc = match group {
            Some(g) => DocKind::group(self.my_group(g)?.id, entraide_docs::Shelf::Calendar),
            None => DocKind::calendar_of(&id),
        };
        let kind = ResourceKind::parse(kind)?;
        let quota = quota.map(Quota::parse).transpose()?;
        let hours = hours
            .map(entraide_docs::calendar::OpeningHours::parse)
            .transpose()?;
        let (author, now) = (self.author(), self.env.now_ms());
        if let Some(g) = doc.group_id() {
            self.load_group(g)?;
        }
        self.check_name_in_other_parts(doc, name, None)?;
        calendar_in(&mut self.docs, doc)?.add_resource(
            &author,
            now,
            NewResource {
                id: &id,
                name,
                kind,
                capacity,
                location,
                quota,
                approval,
                zone: self.zone,
                hours,
            },
        )?;
        self.persist(doc, self.resource_names_of(doc)?)?;
        Ok(Reply::new(json!({"id": id}), id))
    }

    /// A batch that keeps the resource names of `doc`, a part of the
    /// calendar whose resources changed, as they now are (see
    /// `Node::find_resource`); empty for a group's calendar.
    fn resource_names_of(&self, doc: DocKind) -> Result<WriteBatch, NodeError> {
        let mut batch = WriteBatch::new();
        if let DocKind::Calendar(part) = doc {
            crate::docs::Docs::keep_names_in(&mut batch, part, self.docs.calendar(part)?);
        }
        Ok(batch)
    }

    /// A resource's name is the alliance's to give once: the part `doc`
    /// checks its own resources, this the other parts' (a group's calendar
    /// is one document).
    fn check_name_in_other_parts(
        &self,
        doc: DocKind,
        name: &str,
        except: Option<&str>,
    ) -> Result<(), NodeError> {
        if !matches!(doc, DocKind::Calendar(_)) {
            return Ok(());
        }
        for part in Part::all().filter(|p| DocKind::Calendar(*p) != doc) {
            self.docs.calendar(part)?.check_name_free(name, except)?;
        }
        Ok(())
    }

    fn resource_edit(&mut self, edit: crate::ResourceEdit) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (doc, resource) = self.find_resource(&edit.resource)?;
        let mut change = ResourceChange {
            name: edit.name.as_deref(),
            kind: edit.kind.as_deref().map(ResourceKind::parse).transpose()?,
            capacity: edit.capacity.map(Some),
            location: edit.location.as_deref().map(Some),
            quota: edit
                .quota
                .as_deref()
                .map(Quota::parse)
                .transpose()?
                .map(Some),
            approval: edit.approval,
            hours: edit
                .hours
                .as_deref()
                .map(entraide_docs::calendar::OpeningHours::parse)
                .transpose()?
                .map(Some),
        };
        for field in &edit.clear {
            let given = match field.as_str() {
                "capacity" => change.capacity.replace(None).is_some(),
                "location" => change.location.replace(None).is_some(),
                "quota" => change.quota.replace(None).is_some(),
                "hours" => change.hours.replace(None).is_some(),
                other => {
                    return Err(NodeError::Invalid(format!(
                        "--clear takes capacity, location, quota or hours, not '{other}'"
                    )));
                }
            };
            if given {
                return Err(NodeError::Invalid(format!(
                    "give a new {field} or clear it, not both"
                )));
            }
        }
        if let Some(name) = change.name {
            self.check_name_in_other_parts(doc, name, Some(&resource.id))?;
        }
        let (author, now) = (self.author(), self.env.now_ms());
        let updated =
            calendar_in(&mut self.docs, doc)?.edit_resource(&author, now, &resource.id, &change)?;
        self.persist(doc, self.resource_names_of(doc)?)?;
        let json = self.resource_json(doc, &updated, now)?;
        Ok(Reply::new(json, format!("{} changed", updated.name)))
    }

    fn resource_withdraw(&mut self, query: &str, reason: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(NodeError::Invalid(
                "say why in 1 to 500 characters (--reason): the organisations whose bookings are declined read it".into(),
            ));
        }
        let (doc, resource) = self.find_resource(query)?;
        let (author, now) = (self.author(), self.env.now_ms());
        let dir = directory(&self.membership.state);
        let declined = calendar_in(&mut self.docs, doc)?.withdraw_resource(
            &author,
            now,
            &resource.id,
            reason,
            &dir,
        )?;
        self.persist(doc, self.resource_names_of(doc)?)?;
        let ids: Vec<&str> = declined.iter().map(|b| b.id.as_str()).collect();
        Ok(Reply::new(
            json!({"id": resource.id, "withdrawn": true, "declined": ids}),
            format!(
                "{} withdrawn; {} future booking(s) declined",
                resource.name,
                ids.len()
            ),
        ))
    }

    fn resource_list(&mut self) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let now = self.env.now_ms();
        // A withdrawn resource (its owner left, or withdrew it) is no
        // longer offered.
        let mut resources = Vec::new();
        for doc in self.calendars(None)? {
            resources.extend(
                calendar_in(&mut self.docs, doc)?
                    .resources()
                    .into_iter()
                    .map(|r| (doc, r)),
            );
        }
        resources.retain(|(_, r)| r.withdrawn_at.is_none());
        let list: Vec<Value> = resources
            .iter()
            .map(|(doc, r)| self.resource_json(*doc, r, now))
            .collect::<Result<_, _>>()?;
        let resources: Vec<entraide_docs::calendar::Resource> =
            resources.into_iter().map(|(_, r)| r).collect();
        let text = resources
            .iter()
            .zip(&list)
            .map(|(r, json)| {
                // This organisation's use of the quota in the current period.
                let mine = json["usage"]
                    .as_array()
                    .and_then(|u| u.iter().find(|u| u["org_id"] == self.org_id.as_str()))
                    .map(|u| {
                        let m = u["minutes"].as_i64().unwrap_or(0);
                        let booked = if m % 60 == 0 {
                            format!("{}h", m / 60)
                        } else {
                            format!("{}h{:02}", m / 60, m % 60)
                        };
                        format!(
                            "; you have {booked} this {}",
                            r.quota.map_or("period", Quota::period_name)
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "{}  {:<9} {}{}{}{}\n",
                    short(&r.id, 8),
                    r.kind.name(),
                    r.name,
                    r.capacity
                        .map(|c| format!(", {c} people"))
                        .unwrap_or_default(),
                    r.quota
                        .map(|q| format!(", quota {}", q.to_text()))
                        .unwrap_or_default(),
                    mine
                )
            })
            .collect::<String>();
        Ok(Reply::new(Value::Array(list), text))
    }

    /// A calendar refusal with organisation names instead of ids.
    fn humanize(&self, e: CalendarError) -> CalendarError {
        match e {
            CalendarError::Overlap {
                resource,
                id,
                org,
                from,
                to,
            } => CalendarError::Overlap {
                resource,
                id,
                org: self.org_name(&org),
                from,
                to,
            },
            CalendarError::Quota {
                resource,
                org,
                booked_minutes,
                quota,
                period,
                period_start,
            } => CalendarError::Quota {
                resource,
                org: self.org_name(&org),
                booked_minutes,
                quota,
                period,
                period_start,
            },
            CalendarError::SeriesClash { count, first } => CalendarError::SeriesClash {
                count,
                first: Box::new(self.humanize(*first)),
            },
            other => other,
        }
    }

    // One argument per flag of `entraide book`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn book(
        &mut self,
        resource: &str,
        from: &str,
        to: &str,
        purpose: &str,
        repeat: Option<&str>,
        count: Option<u32>,
        until: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (doc, resource) = self.find_resource(resource)?;
        let from = parse_time(from, self.zone)?;
        let to = parse_time(to, self.zone)?;
        entraide_docs::calendar::check_length(from, to, self.zone)?;
        let max = entraide_docs::calendar::MAX_PURPOSE;
        if purpose.chars().count() > max {
            return Err(NodeError::Invalid(format!(
                "the purpose must be at most {max} characters"
            )));
        }
        let slots = match (repeat, count, until) {
            (None, None, None) => vec![(from, to)],
            (None, _, _) => {
                return Err(NodeError::Invalid(
                    "--count and --until go with --repeat daily|weekly".into(),
                ));
            }
            (Some(_), Some(_), Some(_)) => {
                return Err(NodeError::Invalid(
                    "give --count or --until, not both".into(),
                ));
            }
            (Some(r), count, until) => {
                let repeat = match r {
                    "daily" => Repeat::Daily,
                    "weekly" => Repeat::Weekly,
                    other => {
                        return Err(NodeError::Invalid(format!(
                            "unknown repeat '{other}'; use daily or weekly"
                        )));
                    }
                };
                let end = match until {
                    Some(date) => RepeatEnd::Until(
                        chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(
                            |_| {
                                NodeError::Invalid(format!(
                                    "'{date}' is not a date; write --until as YYYY-MM-DD (e.g. 2026-06-30)"
                                ))
                            },
                        )?,
                    ),
                    None => RepeatEnd::Count(count.unwrap_or(1)),
                };
                repeat_series(from, to, repeat, end, self.zone)?
            }
        };
        let series = (slots.len() > 1)
            .then(|| random::<16>(&*self.env).map(new_id))
            .transpose()?;
        let slots: Vec<NewBooking> = slots
            .into_iter()
            .map(|(from, to)| {
                Ok(NewBooking {
                    id: self.new_record_id_in(doc)?,
                    from,
                    to,
                })
            })
            .collect::<Result<_, NodeError>>()?;
        let author = self.author();
        let now = self.env.now_ms();
        let dir = directory(&self.membership.state);
        let booked = calendar_in(&mut self.docs, doc)?.book(
            &author,
            now,
            &resource.id,
            &slots,
            purpose,
            series.as_deref(),
            self.zone,
            &dir,
        );
        let booked = match booked {
            Ok(booked) => booked,
            Err(e) => return Err(self.humanize(e).into()),
        };
        self.persist(doc, WriteBatch::new())?;
        let mut text = booked.ids.join("\n");
        let mut skipped = Vec::new();
        for s in booked.skipped {
            let (from, to) = (format_time(s.from, self.zone), format_time(s.to, self.zone));
            let error = self.humanize(s.error);
            text += &format!("\nskipped {from} -> {to} ({}): {error}", s.reason.name());
            skipped.push(json!({
                "from": from,
                "to": to,
                "reason": s.reason.name(),
                "conflict_with": s.conflict_with,
                "message": error.to_string(),
            }));
        }
        Ok(Reply::new(
            json!({
                "ids": booked.ids,
                "resource": resource.id,
                "series": series,
                "skipped": skipped,
            }),
            text,
        ))
    }

    /// A booking as the contract shows it. A declined booking shows as
    /// `cancelled` (the contract's four statuses), with `declined: true`. A
    /// conflict's `reason` is `overlap` or `quota`, and `suggestions` the
    /// free slots nearest to it (empty for the others).
    /// `names` maps resource ids to names (read once per answer: reading
    /// every resource for every booking made a 250-booking answer slow).
    fn booking_json(
        &self,
        b: &Booking,
        suggestions: &[(i64, i64)],
        names: &BTreeMap<String, String>,
    ) -> Value {
        let resource_name = names.get(&b.resource).cloned().unwrap_or_default();
        let suggestions: Vec<Value> = suggestions
            .iter()
            .map(|&(from, to)| {
                json!({"from": format_time(from, self.zone), "to": format_time(to, self.zone)})
            })
            .collect();
        json!({
            "id": b.id,
            "resource": b.resource,
            "resource_name": resource_name,
            "org": self.org_name(&b.org),
            "from": format_time(b.from, self.zone),
            "to": format_time(b.to, self.zone),
            "purpose": b.purpose,
            "status": contract_status(b.status),
            "declined": b.status == BookingStatus::Declined,
            "conflict_with": b.conflict_with,
            "series": b.series,
            "reason": match b.conflict {
                Some(c) => Some(c.name().to_owned()),
                None => b.reason.clone(),
            },
            "suggestions": suggestions,
        })
    }

    /// This organisation's bookings that lost their slot, with the free
    /// slots nearest to each, for `status`.
    fn own_conflicts_json(&self) -> Result<Vec<Value>, NodeError> {
        let dir = directory(&self.membership.state);
        let parts: Vec<DocKind> = Part::all().map(DocKind::Calendar).collect();
        let names = self.resource_names(&parts)?;
        let mut out = Vec::new();
        for part in Part::all() {
            let calendar = self.docs.calendar(part)?;
            let suggestions = calendar.suggestions(
                None,
                Some(&self.org_id),
                Period::ALL,
                self.zone,
                SUGGESTIONS,
                &dir,
            );
            for b in calendar.conflicts(Some(&self.org_id), &dir) {
                let s = suggestions.get(&b.id).map_or(&[][..], Vec::as_slice);
                out.push(self.booking_json(&b, s, &names));
            }
        }
        Ok(out)
    }

    /// The names of the resources of these calendars (a group's as loaded),
    /// by id.
    fn resource_names(&self, docs: &[DocKind]) -> Result<BTreeMap<String, String>, NodeError> {
        let mut names = BTreeMap::new();
        for doc in docs {
            let resources = match doc {
                DocKind::Calendar(part) => self.docs.calendar(*part)?.resources(),
                DocKind::Group(g) => match self.docs.groups.get(&g.group) {
                    Some(docs) => docs.calendar.resources(),
                    None => continue,
                },
                _ => continue,
            };
            names.extend(resources.into_iter().map(|r| (r.id, r.name)));
        }
        Ok(names)
    }

    fn bookings(
        &mut self,
        resource: Option<&str>,
        org: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        // The period asked for: what overlaps it is listed.
        let from = from.map(|t| parse_time(t, self.zone)).transpose()?;
        let to = to.map(|t| parse_time(t, self.zone)).transpose()?;
        let (docs, resource_id) = match resource {
            Some(r) => {
                let (doc, r) = self.find_resource(r)?;
                (vec![doc], Some(r.id))
            }
            None => (self.calendars(None)?, None),
        };
        let org_id = org.map(|q| self.resolve_org(q)).transpose()?;
        let names = self.resource_names(&docs)?;
        let dir = directory(&self.membership.state);
        let period = Period { from, to };
        let mut suggestions = BTreeMap::new();
        let mut all = Vec::new();
        for doc in docs {
            let cal = calendar_in(&mut self.docs, doc)?;
            suggestions.extend(cal.suggestions(
                resource_id.as_deref(),
                org_id.as_deref(),
                period,
                self.zone,
                SUGGESTIONS,
                &dir,
            ));
            all.extend(cal.bookings_in(resource_id.as_deref(), period, &dir));
        }
        let mut list = Vec::new();
        let mut text = String::new();
        for b in all {
            if org_id.as_ref().is_some_and(|o| *o != b.org) {
                continue;
            }
            let mine = suggestions.get(&b.id).map_or(&[][..], Vec::as_slice);
            let lost = match (b.conflict, &b.conflict_with) {
                (Some(_), Some(w)) => format!(" (loses to {})", short(w, 8)),
                (Some(ConflictReason::Quota), None) => " (over the quota)".to_owned(),
                _ => String::new(),
            };
            let free = if mine.is_empty() {
                String::new()
            } else {
                let slots: Vec<String> = mine
                    .iter()
                    .map(|&(from, _)| format_time(from, self.zone))
                    .collect();
                format!("; free from {}", slots.join(", "))
            };
            text += &format!(
                "{}  {}  {} -> {}  {}  {}{lost}{free}\n",
                short(&b.id, 8),
                names.get(&b.resource).map_or("?", String::as_str),
                format_time(b.from, self.zone),
                format_time(b.to, self.zone),
                self.org_name(&b.org),
                b.status.name(),
            );
            list.push(self.booking_json(&b, mine, &names));
        }
        Ok(Reply::new(Value::Array(list), text))
    }

    fn booking_decide(
        &mut self,
        booking: &str,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let author = self.author();
        let doc = self.find_booking_doc(booking)?;
        let now = self.env.now_ms();
        let dir = directory(&self.membership.state);
        let b = calendar_in(&mut self.docs, doc)?
            .decide(&author, now, booking, approve, reason, &dir)?;
        self.persist(doc, WriteBatch::new())?;
        let dir = directory(&self.membership.state);
        let b = calendar_in(&mut self.docs, doc)?.booking(&b.id, &dir)?;
        Ok(Reply::new(
            json!({"id": b.id, "status": contract_status(b.status), "declined": !approve}),
            format!("booking {} is now {}", b.id, b.status.name()),
        ))
    }

    fn cancel(&mut self, booking: &str, series: bool) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let is_coordinator = self
            .membership
            .state
            .orgs
            .get(&self.org_id)
            .is_some_and(|o| o.role == Role::Coordinator);
        let author = self.author();
        let doc = self.find_booking_doc(booking)?;
        let now = self.env.now_ms();
        let heads: Vec<String> = self
            .membership
            .log
            .heads()
            .iter()
            .map(|h| h.to_hex())
            .collect();
        let dir = directory(&self.membership.state);
        let cal = calendar_in(&mut self.docs, doc)?;
        let named = cal.booking(booking, &dir)?;
        cal.cite_membership(heads.join(","));
        let cancelled = if series {
            cal.cancel_series(&author, is_coordinator, now, &named.id, &dir)?
        } else {
            vec![cal.cancel(&author, is_coordinator, now, &named.id, &dir)?]
        };
        self.persist(doc, WriteBatch::new())?;
        let ids: Vec<&str> = cancelled.iter().map(|b| b.id.as_str()).collect();
        let text = match (&named.series, series) {
            (Some(s), true) => format!(
                "{} occurrence(s) of series {s} cancelled:\n{}",
                ids.len(),
                ids.join("\n")
            ),
            _ => format!("booking {} cancelled", named.id),
        };
        Ok(Reply::new(
            json!({
                "id": named.id,
                "status": "cancelled",
                "series": named.series,
                "ids": ids,
            }),
            text,
        ))
    }

    /// Every booking as an RFC 5545 event, `UID:<booking id>@entraide`,
    /// times in UTC. Statuses: confirmed → CONFIRMED, pending → TENTATIVE;
    /// cancelled, declined and conflict (which hold no slot) → CANCELLED,
    /// with a DESCRIPTION saying why.
    fn calendar_export(&mut self, resource: Option<&str>) -> Result<Reply, NodeError> {
        use icalendar::{Component, EventLike, EventStatus};
        self.require_alliance()?;
        // The alliance's calendar: a group's resources are not exported.
        let (parts, resource_id) = match resource {
            Some(r) => {
                let (doc, r) = self.find_resource_in(r, Part::all().map(DocKind::Calendar))?;
                (vec![doc], Some(r.id))
            }
            None => (Part::all().map(DocKind::Calendar).collect(), None),
        };
        let resources = self.resource_names(&parts)?;
        let dir = directory(&self.membership.state);
        let mut bookings = Vec::new();
        for doc in &parts {
            bookings
                .extend(calendar_in(&mut self.docs, *doc)?.bookings(resource_id.as_deref(), &dir));
        }
        let mut cal = icalendar::Calendar::new();
        cal.name("entraide");
        let mut count = 0;
        for b in bookings {
            let (status, why) = match b.status {
                BookingStatus::Confirmed => (EventStatus::Confirmed, None),
                BookingStatus::Pending => (
                    EventStatus::Tentative,
                    Some("waiting for the owner's approval".to_owned()),
                ),
                BookingStatus::Cancelled => (EventStatus::Cancelled, Some("cancelled".to_owned())),
                BookingStatus::Declined => (
                    EventStatus::Cancelled,
                    Some(match &b.reason {
                        Some(r) => format!("declined by the owner: {r}"),
                        None => "declined by the owner".to_owned(),
                    }),
                ),
                BookingStatus::Conflict => (
                    EventStatus::Cancelled,
                    Some(match (&b.conflict_with, b.conflict) {
                        (Some(w), _) => format!(
                            "conflict: lost its slot to booking {w}, booked earlier; rebook with `entraide bookings`"
                        ),
                        (None, _) => format!(
                            "conflict: over the quota of {} on this resource; rebook with `entraide bookings`",
                            self.org_name(&b.org)
                        ),
                    }),
                ),
            };
            let (Some(start), Some(end)) = (
                chrono::DateTime::from_timestamp_millis(b.from),
                chrono::DateTime::from_timestamp_millis(b.to),
            ) else {
                continue;
            };
            let resource_name = resources.get(&b.resource).cloned().unwrap_or_default();
            let summary = if b.purpose.is_empty() {
                format!("{resource_name}: {}", self.org_name(&b.org))
            } else {
                format!("{resource_name}: {} ({})", self.org_name(&b.org), b.purpose)
            };
            let mut event = icalendar::Event::new();
            event
                .uid(&format!("{}@entraide", b.id))
                .summary(&summary)
                .location(&resource_name)
                .starts(start)
                .ends(end)
                .status(status);
            if let Some(why) = why {
                event.description(&why);
            }
            cal.push(event.done());
            count += 1;
        }
        let ics = cal.done().to_string();
        let mut reply = Reply::new(
            json!({"events": count}),
            format!("{count} booking(s) exported"),
        );
        reply.file = Some(ics.into_bytes());
        Ok(reply)
    }

    fn export(&mut self, doc: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let bytes = if doc == "calendar" {
            // The whole calendar, its parts' content in one document.
            let mut parts: Vec<&mut SharedDoc> = self
                .docs
                .calendar_parts_mut()?
                .into_iter()
                .map(Calendar::doc_mut)
                .collect();
            SharedDoc::content_of(&mut parts)?
        } else {
            let kind = DocKind::from_name(doc).ok_or_else(|| {
                let names: Vec<String> = std::iter::once("calendar".to_owned())
                    .chain(DocKind::ALL.iter().map(|k| k.name().into_owned()))
                    .collect();
                NodeError::Invalid(format!(
                    "unknown document '{doc}'; use one of {}",
                    names.join(", ")
                ))
            })?;
            if let Some(group) = kind.group_id()
                && !self.membership.state.in_group(&group, &self.org_id)
            {
                return Err(NodeError::Invalid(format!(
                    "your organisation is not a member of the group of '{doc}'"
                )));
            }
            self.doc_mut(kind)?.save()
        };
        let mut reply = Reply::new(
            json!({"doc": doc, "size": bytes.len()}),
            format!("{doc} ({} bytes)", bytes.len()),
        );
        reply.file = Some(bytes);
        Ok(reply)
    }
}

/// Who made a write, which decides when it reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This node (a command): durable before it is acknowledged.
    Here,
    /// A peer, which still holds it: durable with the next flush.
    Peer,
}

/// Logs a document that cannot be read, for the sync layer's answers,
/// which have no error to give (see `Node::held_doc`).
pub(crate) fn unreadable(kind: DocKind, e: &NodeError) {
    tracing::error!(doc = %kind.name(), error = %e, "cannot read a document");
}
