//! The shapes of the API's replies, for its OpenAPI description.
//!
//! The node answers every request with the JSON the command line prints
//! with `--json`; these types describe that JSON field by field so that
//! someone else can write a client from `/api/openapi.json`. They are never
//! built: the replies come from the node. The browser test
//! `the_openapi_document_validates_and_every_reply_matches_its_schema`
//! checks every reply the interface gets against them, so a field the node
//! adds, renames or drops without its description here fails that test.

#![allow(dead_code)]

use utoipa::ToSchema;

/// The alliance this node belongs to.
#[derive(ToSchema)]
pub(crate) struct AllianceInfo {
    id: String,
    name: String,
    /// coordinator, majority or consensus.
    admission: String,
    /// How proposals are decided by default: consent, consensus or majority.
    process: String,
}

/// A shared document and the heads this node holds of it.
#[derive(ToSchema)]
pub(crate) struct DocHeads {
    name: String,
    heads: Vec<String>,
}

/// A member device this node knows.
#[derive(ToSchema)]
pub(crate) struct Peer {
    device: String,
    org: Option<String>,
    connected: bool,
    last_sync: Option<String>,
    addrs: Vec<String>,
}

/// This node: its device, organisation, alliance, documents, peers, lost
/// bookings.
#[derive(ToSchema)]
pub(crate) struct Status {
    device: String,
    org: String,
    org_id: String,
    alliance: Option<AllianceInfo>,
    /// Active member organisations.
    members: i64,
    docs: Vec<DocHeads>,
    peers: Vec<Peer>,
    /// This organisation's bookings that lost their slot.
    conflicts: Vec<Booking>,
    /// Changes from members this node refused (`entraide audit` names them).
    refused_changes: i64,
    /// When another copy of this home wrote as this device (ms), if ever.
    other_copy_seen: Option<i64>,
    time_zone: String,
}

/// A motion about an organisation that waits for approvals.
#[derive(ToSchema)]
pub(crate) struct Waiting {
    motion: String,
    /// admit or remove.
    kind: String,
    role: Option<String>,
    approved_by: Vec<String>,
    /// What it still needs, in the node's words.
    needs: Option<String>,
}

/// A member organisation.
#[derive(ToSchema)]
pub(crate) struct Member {
    org: String,
    org_id: String,
    /// member or coordinator.
    role: String,
    /// active, pending or removed.
    status: String,
    devices: Vec<String>,
    removed_devices: Vec<String>,
    waiting: Vec<Waiting>,
}

/// A signed membership operation this node appended.
#[derive(ToSchema)]
pub(crate) struct MembershipReply {
    /// The operation's hash.
    id: String,
    kind: String,
    /// done, or pending (then `reason` says what it waits for).
    status: String,
    reason: Option<String>,
    /// The motion an approval or a block is about.
    motion: Option<String>,
    /// Whether the motion passed with this approval.
    decided: Option<bool>,
}

/// A member the sync could not reach.
#[derive(ToSchema)]
pub(crate) struct SyncFailure {
    device: String,
    error: String,
}

/// What one sync did.
#[derive(ToSchema)]
pub(crate) struct SyncReport {
    synced_with: Vec<String>,
    failed: Vec<SyncFailure>,
}

/// A single-use ticket, with its QR code.
#[derive(ToSchema)]
pub(crate) struct Ticket {
    ticket: String,
    expires: String,
    role: String,
    /// A ticket for another device of this organisation.
    device: bool,
    /// The QR code of `ticket`, an SVG image.
    qr_svg: Option<String>,
}

/// A one-time login link.
#[derive(ToSchema)]
pub(crate) struct LoginLink {
    url: String,
}

/// What leaving did.
#[derive(ToSchema)]
pub(crate) struct Left {
    org: String,
    status: String,
    cancelled: Vec<String>,
    declined: Vec<String>,
    withdrawn: Vec<String>,
}

/// The charter draft as this node has it.
#[derive(ToSchema)]
pub(crate) struct Charter {
    text: String,
    heads: Vec<String>,
}

/// One entry of the charter's history: an edit or an adoption.
#[derive(ToSchema)]
pub(crate) struct CharterChange {
    /// edit or adopted.
    kind: String,
    time: String,
    org: String,
    hash: Option<String>,
    device: Option<String>,
    ops: Option<i64>,
    /// The decision that adopted it.
    proposal: Option<String>,
    /// The colleague who made the edit from this node's interface.
    by: Option<String>,
}

/// The adopted charter, if any.
#[derive(ToSchema)]
pub(crate) struct AdoptedCharter {
    text: Option<String>,
    proposal: Option<String>,
    adopted_at: Option<String>,
}

/// Two versions of the charter compared.
#[derive(ToSchema)]
pub(crate) struct CharterDiff {
    from: String,
    to: String,
    /// A unified diff.
    diff: String,
    changed: bool,
}

/// A value of the alliance.
#[derive(ToSchema)]
pub(crate) struct Value {
    id: String,
    name: String,
    description: String,
    created_by: String,
    edited_at: Option<String>,
    endorsed_by: Vec<String>,
    endorsed_by_all: bool,
    /// Organisations whose endorsement was given to an earlier wording.
    endorsed_earlier_wording: Vec<String>,
}

/// The id of what was made.
#[derive(ToSchema)]
pub(crate) struct Made {
    id: String,
}

/// An organisation's endorsement of a value.
#[derive(ToSchema)]
pub(crate) struct Endorsement {
    id: String,
    endorsed: bool,
    changed: Option<bool>,
}

/// An organisation's profile.
#[derive(ToSchema)]
pub(crate) struct Profile {
    org: String,
    org_id: String,
    role: String,
    status: String,
    description: String,
    address: String,
    contact: String,
    offers: Vec<String>,
    needs: Vec<String>,
    tags: Vec<String>,
    updated_at: Option<String>,
}

/// A library entry.
#[derive(ToSchema)]
pub(crate) struct LibraryEntry {
    id: String,
    title: String,
    kind: String,
    tags: Vec<String>,
    size: i64,
    /// BLAKE3 of the file, hex.
    hash: String,
    file_name: String,
    added_by: String,
    added_at: String,
    /// Whether the file's bytes are on this node.
    available: bool,
    /// Bytes received so far.
    received: i64,
    /// Over its organisation's share: not fetched nor stored by others.
    over_quota: bool,
    group: Option<String>,
}

/// A file added to the library.
#[derive(ToSchema)]
pub(crate) struct LibraryAdded {
    id: String,
    hash: String,
    size: i64,
    group: Option<String>,
}

/// An organisation's use of a resource's quota in a period.
#[derive(ToSchema)]
pub(crate) struct QuotaUsage {
    org: String,
    org_id: String,
    minutes: i64,
    quota_minutes: i64,
    period_start: String,
    period_end: String,
}

/// A shared resource.
#[derive(ToSchema)]
pub(crate) struct Resource {
    id: String,
    name: String,
    /// room, vehicle, equipment or other.
    kind: String,
    capacity: Option<i64>,
    location: Option<String>,
    /// 20h/week, 6h/month.
    quota: Option<String>,
    approval: bool,
    hours: Option<String>,
    owner: String,
    zone: String,
    group: Option<String>,
    usage: Vec<QuotaUsage>,
}

/// A resource withdrawn by its owner.
#[derive(ToSchema)]
pub(crate) struct Withdrawn {
    id: String,
    withdrawn: bool,
    /// Future bookings declined with the reason.
    declined: Vec<String>,
}

/// A free slot.
#[derive(ToSchema)]
pub(crate) struct Slot {
    from: String,
    to: String,
}

/// A booking and its status under the booking rule.
#[derive(ToSchema)]
pub(crate) struct Booking {
    id: String,
    resource: String,
    resource_name: String,
    org: String,
    from: String,
    to: String,
    purpose: String,
    /// confirmed, pending, conflict or cancelled.
    status: String,
    declined: bool,
    conflict_with: Option<String>,
    series: Option<String>,
    /// Why it lost its slot (overlap, quota), or why it was declined.
    reason: Option<String>,
    /// Free slots nearest to a lost booking.
    suggestions: Vec<Slot>,
    /// The colleague who booked it from this node's interface.
    by: Option<String>,
}

/// An occurrence of a series that was not booked.
#[derive(ToSchema)]
pub(crate) struct Skipped {
    from: String,
    to: String,
    reason: String,
    conflict_with: Option<String>,
    message: String,
}

/// What a booking (or a series) made.
#[derive(ToSchema)]
pub(crate) struct Booked {
    ids: Vec<String>,
    resource: String,
    series: Option<String>,
    skipped: Vec<Skipped>,
}

/// The owner's decision on a booking.
#[derive(ToSchema)]
pub(crate) struct Decided {
    id: String,
    status: String,
    declined: bool,
}

/// What a cancellation cancelled.
#[derive(ToSchema)]
pub(crate) struct Cancelled {
    id: String,
    ids: Vec<String>,
    status: String,
    series: Option<String>,
}

/// An organisation's position on a proposal.
#[derive(ToSchema)]
pub(crate) struct Vote {
    org: String,
    /// agree, abstain, disagree or block.
    position: String,
    reason: String,
    at: String,
}

/// A proposal and its votes.
#[derive(ToSchema)]
pub(crate) struct Proposal {
    id: String,
    title: String,
    kind: String,
    text: String,
    process: String,
    /// open, passed, rejected or blocked.
    status: String,
    deadline: String,
    decided_at: Option<String>,
    created_by: String,
    motion: Option<String>,
    quorum: Option<i64>,
    group: Option<String>,
    awaiting_my_vote: bool,
    votes: Vec<Vote>,
    /// The colleague who proposed it from this node's interface.
    by: Option<String>,
    /// The colleague who cast this organisation's vote from this node.
    vote_by: Option<String>,
}

/// A proposal opened.
#[derive(ToSchema)]
pub(crate) struct Proposed {
    id: String,
    motion: Option<String>,
    group: Option<String>,
}

/// An organisation's registration for an event.
#[derive(ToSchema)]
pub(crate) struct Registration {
    org: String,
    org_id: String,
    seats: i64,
    names: String,
    /// confirmed or waiting.
    status: String,
    after_close: bool,
}

/// A training or event with seats.
#[derive(ToSchema)]
pub(crate) struct Event {
    id: String,
    title: String,
    org: String,
    from: String,
    to: String,
    seats: i64,
    per_org: Option<i64>,
    closed: bool,
    confirmed_seats: i64,
    resource: Option<String>,
    booking: Option<String>,
    group: Option<String>,
    registrations: Vec<Registration>,
}

/// A working group.
#[derive(ToSchema)]
pub(crate) struct Group {
    id: String,
    name: String,
    description: String,
    created_by: String,
    /// Whether this organisation is a member.
    member: bool,
    orgs: Vec<String>,
    org_ids: Vec<String>,
}

/// A working group's notes.
#[derive(ToSchema)]
pub(crate) struct GroupNotes {
    group: String,
    text: String,
    heads: Vec<String>,
}

/// A party's balance in a book.
#[derive(ToSchema)]
pub(crate) struct Balance {
    party: String,
    party_id: String,
    currency: String,
    received: String,
    paid: String,
    balance: String,
    balance_cents: i64,
    owes: String,
    owes_cents: i64,
    is_owed: String,
    is_owed_cents: i64,
}

/// Something due: a fee, a payout, an installment.
#[derive(ToSchema)]
pub(crate) struct Obligation {
    what: String,
    debtor: String,
    creditor: String,
    amount: String,
    amount_cents: i64,
    currency: String,
    due: String,
    paid: String,
    overdue: bool,
    reference: String,
}

/// One line of a schedule.
#[derive(ToSchema)]
pub(crate) struct Installment {
    what: String,
    from: String,
    to: String,
    amount: String,
    amount_cents: i64,
    due: String,
    paid: String,
    paid_cents: i64,
    settled: bool,
}

/// A loan between members.
#[derive(ToSchema)]
pub(crate) struct Loan {
    id: String,
    lender: String,
    lender_id: String,
    borrower: String,
    borrower_id: String,
    amount: String,
    amount_cents: i64,
    currency: String,
    /// Percent per year.
    rate: String,
    repay: String,
    note: String,
    reference: String,
    offered_at: String,
    accepted_at: Option<String>,
    /// offered or accepted.
    status: String,
    schedule: Vec<Installment>,
}

/// A payment recorded by the organisation that received it.
#[derive(ToSchema)]
pub(crate) struct Payment {
    id: String,
    payer: String,
    payer_id: String,
    payee: String,
    payee_id: String,
    amount: String,
    amount_cents: i64,
    currency: String,
    date: String,
    note: String,
    reference: String,
    /// Confirmed by the payer.
    confirmed: bool,
    recorded_by: String,
}

/// The support fund's balance in a currency.
#[derive(ToSchema)]
pub(crate) struct FundBalance {
    currency: String,
    balance: String,
    balance_cents: i64,
}

/// A request to the support fund, decided by a proposal.
#[derive(ToSchema)]
pub(crate) struct FundRequest {
    proposal: String,
    org: String,
    org_id: String,
    /// loan, guarantee, grant or gift.
    kind: String,
    amount: String,
    amount_cents: i64,
    currency: String,
    reason: String,
    repay: Option<String>,
    reference: String,
    status: String,
    decided_at: Option<String>,
    schedule: Vec<Installment>,
}

/// The support fund.
#[derive(ToSchema)]
pub(crate) struct Fund {
    balances: Vec<FundBalance>,
    requests: Vec<FundRequest>,
}

/// A book: the alliance's, or a working group's.
#[derive(ToSchema)]
pub(crate) struct Ledger {
    group: Option<String>,
    /// Who sees these amounts.
    visible_to: Vec<String>,
    balances: Vec<Balance>,
    obligations: Vec<Obligation>,
    loans: Vec<Loan>,
    payments: Vec<Payment>,
    fund: Fund,
}

/// A fee tier.
#[derive(ToSchema)]
pub(crate) struct FeeTier {
    tier: String,
    amount: String,
    amount_cents: i64,
    currency: String,
}

/// An organisation's tier.
#[derive(ToSchema)]
pub(crate) struct OrgTier {
    org: String,
    org_id: String,
    tier: String,
}

/// A yearly fee due.
#[derive(ToSchema)]
pub(crate) struct Fee {
    org: String,
    org_id: String,
    tier: String,
    year: i64,
    period: String,
    amount: String,
    amount_cents: i64,
    currency: String,
    paid: String,
    paid_cents: i64,
    owes: String,
    owes_cents: i64,
    reference: String,
}

/// The fees the alliance decided.
#[derive(ToSchema)]
pub(crate) struct Fees {
    tiers: Vec<FeeTier>,
    orgs: Vec<OrgTier>,
    fees: Vec<Fee>,
}

/// Who uses this browser.
#[derive(ToSchema)]
pub(crate) struct Me {
    /// A colleague invited by name, or null for the node's own login.
    person: Option<crate::people::Person>,
}

/// A colleague invited, and their one-time login link.
#[derive(ToSchema)]
pub(crate) struct Invited {
    person: crate::people::Person,
    url: String,
    /// The link's path, to put after the address the inviting browser uses.
    path: Option<String>,
}

/// A refusal.
#[derive(ToSchema)]
pub(crate) struct Refused {
    /// The command line's message, in English.
    error: String,
    /// A stable name of the refusal: `calendar.overlap`, `lookup.not_found`...
    code: String,
    /// What the message is made of.
    #[schema(value_type = Object)]
    fields: Option<serde_json::Value>,
}
