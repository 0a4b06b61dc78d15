//! What a node is asked to do, and what it answers.
//!
//! The command line turns its arguments into a [`Request`]; a node answers
//! with a [`Reply`] (the contract's JSON, a short human text, and file bytes
//! when the command produces a file) or an [`ErrorReply`]. The same values
//! travel over the local socket of a running `entraide serve`, so a command
//! behaves the same whether it opens the home itself or asks the daemon.

use serde::{Deserialize, Serialize};

/// One command for a node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Request {
    /// `alliance create`.
    AllianceCreate {
        /// The alliance's name.
        name: String,
        /// coordinator, majority or consensus.
        admission: String,
        /// How proposals are decided by default: consent, consensus or
        /// majority (`None`: consensus).
        #[serde(default)]
        process: Option<String>,
    },
    /// `status`.
    Status,
    /// `member list`.
    MemberList,
    /// `member log`.
    MemberLog,
    /// `audit`: the changes this node refused.
    Audit,
    /// `charter show`.
    CharterShow,
    /// `charter set`.
    CharterSet {
        /// The new text.
        text: String,
    },
    /// `charter history`.
    CharterHistory,
    /// An edit typed on an older copy of the charter (the web interface):
    /// the difference from the text at `base` to `text` is applied where
    /// those characters are now, keeping edits that arrived since.
    CharterEdit {
        /// The heads (hex) of the copy the user started from.
        base: Vec<String>,
        /// The whole text as the user has it.
        text: String,
    },
    /// `values add`.
    ValuesAdd {
        /// Name.
        name: String,
        /// Description.
        description: String,
    },
    /// `values endorse`.
    ValuesEndorse {
        /// Id, prefix or name.
        value: String,
    },
    /// `values list`.
    ValuesList,
    /// `values withdraw`: this organisation no longer endorses a value.
    ValuesWithdraw {
        /// Id, prefix or name.
        value: String,
    },
    /// `values edit`: the proposing organisation corrects the wording.
    ValuesEdit {
        /// Id, prefix or name.
        value: String,
        /// New name.
        #[serde(default)]
        name: Option<String>,
        /// New description.
        #[serde(default)]
        description: Option<String>,
    },
    /// `library add`.
    LibraryAdd {
        /// The file's base name.
        file_name: String,
        /// Its bytes.
        #[serde(with = "base64")]
        bytes: Vec<u8>,
        /// Title.
        title: String,
        /// Kind.
        kind: String,
        /// Tags.
        tags: Vec<String>,
        /// The group whose shelf it goes on (its members' nodes only).
        #[serde(default)]
        group: Option<String>,
    },
    /// `library list`.
    LibraryList {
        /// Only this kind.
        kind: Option<String>,
        /// Only entries with this tag.
        tag: Option<String>,
        /// Only entries matching every word.
        search: Option<String>,
    },
    /// `library get`.
    LibraryGet {
        /// Id, prefix or title.
        entry: String,
    },
    /// `library withdraw`.
    LibraryWithdraw {
        /// Id, prefix or title.
        entry: String,
    },
    /// `resource add`.
    ResourceAdd {
        /// Name.
        name: String,
        /// Kind.
        kind: String,
        /// Capacity.
        capacity: Option<u32>,
        /// Location.
        location: Option<String>,
        /// Quota, `20h/week`.
        quota: Option<String>,
        /// Bookings need approval.
        approval: bool,
        /// Opening hours, `Mo-Fr 08:00-18:00`.
        #[serde(default)]
        hours: Option<String>,
        /// A working group's resource: only its members see and book it.
        #[serde(default)]
        group: Option<String>,
    },
    /// `resource edit`: what is given changes, the rest stays.
    ResourceEdit(ResourceEdit),
    /// `resource withdraw`: no new booking; future ones are declined.
    ResourceWithdraw {
        /// Id, prefix or name.
        resource: String,
        /// Told to the organisations whose bookings are declined.
        reason: String,
    },
    /// `resource list`.
    ResourceList,
    /// `book`.
    Book {
        /// Resource id, prefix or name.
        resource: String,
        /// Start as typed.
        from: String,
        /// End as typed.
        to: String,
        /// Purpose.
        purpose: String,
        /// daily or weekly.
        repeat: Option<String>,
        /// Occurrences.
        count: Option<u32>,
        /// The last day of the repeat (YYYY-MM-DD, inclusive, local).
        #[serde(default)]
        until: Option<String>,
    },
    /// `bookings`.
    Bookings {
        /// Only this resource.
        resource: Option<String>,
        /// Only this organisation.
        org: Option<String>,
        /// Only bookings ending after this time (as typed).
        #[serde(default)]
        from: Option<String>,
        /// Only bookings starting before this time (as typed).
        #[serde(default)]
        to: Option<String>,
    },
    /// `booking approve` / `booking decline`.
    BookingDecide {
        /// Booking id or prefix.
        booking: String,
        /// Approve, or decline.
        approve: bool,
        /// Why.
        reason: Option<String>,
    },
    /// `cancel`.
    Cancel {
        /// Booking id or prefix.
        booking: String,
        /// Every occurrence of its series.
        #[serde(default)]
        series: bool,
    },
    /// `calendar export`.
    CalendarExport {
        /// Only this resource.
        resource: Option<String>,
    },
    /// `invite`.
    Invite {
        /// member or coordinator.
        role: String,
        /// How long it stays valid: 7d, 12h.
        expires: String,
    },
    /// `peers`.
    Peers,
    /// `propose`.
    Propose {
        /// charter-amendment, admission, removal or general.
        kind: String,
        /// Title.
        title: String,
        /// Text (an amendment: the proposed charter).
        text: String,
        /// consent, consensus or majority.
        process: Option<String>,
        /// Majority: organisations that must vote.
        quorum: Option<u32>,
        /// Deadline as typed.
        deadline: Option<String>,
        /// For admission and removal: the organisation concerned.
        #[serde(default)]
        org: Option<String>,
        /// A group's proposal, decided by its member organisations.
        #[serde(default)]
        group: Option<String>,
    },
    /// `proposals`.
    Proposals {
        /// Only open ones.
        open: bool,
    },
    /// `vote`.
    Vote {
        /// Id, prefix or title.
        proposal: String,
        /// agree, abstain, disagree or block.
        position: String,
        /// Why.
        reason: String,
    },
    /// `charter show --adopted`.
    CharterAdopted,
    /// `charter diff`.
    CharterDiff {
        /// draft, adopted or a proposal.
        from: String,
        /// draft, adopted or a proposal.
        to: String,
        /// A text to compare with `from` instead of `to` (an amendment
        /// being written, before it is proposed).
        #[serde(default)]
        text: Option<String>,
    },
    /// `decisions`.
    Decisions,
    /// `decisions export --format markdown`.
    DecisionsExport,
    /// `member approve`.
    MemberApprove {
        /// Name or id of the organisation whose admission or removal waits.
        org: String,
    },
    /// `member remove`.
    MemberRemove {
        /// Name or id.
        org: String,
        /// Why.
        reason: String,
    },
    /// `leave`: this organisation leaves the alliance.
    Leave {
        /// Why.
        reason: String,
    },
    /// `member role`: a coordinator sets an organisation's role.
    MemberRole {
        /// Name or id.
        org: String,
        /// member or coordinator.
        role: String,
    },
    /// `member block`.
    MemberBlock {
        /// Name or id.
        org: String,
        /// Why (required).
        reason: String,
    },
    /// `device invite`.
    DeviceInvite {
        /// How long the ticket stays valid.
        expires: String,
    },
    /// `device remove`.
    DeviceRemove {
        /// The device's id or a unique prefix.
        device: String,
    },
    /// `sync` while `serve` runs: sync with every reachable member now.
    SyncNow {
        /// Seconds to wait at most.
        timeout_secs: u64,
    },
    /// `event add`.
    EventAdd {
        /// Title.
        title: String,
        /// Start.
        from: String,
        /// End.
        to: String,
        /// Seats offered.
        seats: i64,
        /// Most seats per organisation.
        #[serde(default)]
        per_org: Option<i64>,
        /// A resource to book for it (id, prefix or name).
        #[serde(default)]
        resource: Option<String>,
        /// A working group's event: only its members see it and register.
        #[serde(default)]
        group: Option<String>,
    },
    /// `event register`.
    EventRegister {
        /// Event id, prefix or title.
        event: String,
        /// Seats.
        seats: i64,
        /// Who will attend.
        #[serde(default)]
        names: String,
    },
    /// `event cancel-registration`.
    EventCancelRegistration {
        /// Event id, prefix or title.
        event: String,
    },
    /// `event close` (`open: false`) and `event open`.
    EventSetOpen {
        /// Event id, prefix or title.
        event: String,
        /// Open (true) or close (false) its registrations.
        open: bool,
    },
    /// `event list`.
    EventList,
    /// `event attendance`: the CSV attendance list.
    EventAttendance {
        /// Event id, prefix or title.
        event: String,
    },
    /// `group create`.
    GroupCreate {
        /// Its name.
        name: String,
        /// What it is for.
        #[serde(default)]
        description: String,
        /// Its other member organisations.
        #[serde(default)]
        orgs: Vec<String>,
    },
    /// `group list`.
    GroupList,
    /// `group add` (`add: true`), `group remove`, `group leave` (no `org`).
    GroupChange {
        /// The group.
        group: String,
        /// The organisation (none: this one).
        #[serde(default)]
        org: Option<String>,
        /// Add, or remove.
        add: bool,
    },
    /// `group dissolve`.
    GroupDissolve {
        /// The group.
        group: String,
    },
    /// `group notes show`.
    GroupNotes {
        /// The group.
        group: String,
    },
    /// `group notes set`.
    GroupNotesSet {
        /// The group.
        group: String,
        /// The new text.
        text: String,
        /// The heads the text was taken at (none: replace by the smallest
        /// edit).
        #[serde(default)]
        base: Vec<String>,
    },
    /// `fees`.
    Fees,
    /// `fees propose`.
    FeesPropose {
        /// `NAME=AMOUNT` tiers.
        #[serde(default)]
        tiers: Vec<String>,
        /// `ORG=TIER` assignments.
        #[serde(default)]
        assign: Vec<String>,
        /// The tiers' currency.
        #[serde(default)]
        currency: Option<String>,
        /// How it is decided.
        #[serde(default)]
        process: Option<String>,
        /// Its deadline.
        #[serde(default)]
        deadline: Option<String>,
    },
    /// `fund request`.
    FundRequest {
        /// loan, guarantee, grant or gift.
        kind: String,
        /// Amount, two decimals.
        amount: String,
        /// Currency code.
        #[serde(default)]
        currency: Option<String>,
        /// Why.
        reason: String,
        /// For a loan: `12 x monthly`.
        #[serde(default)]
        repay: Option<String>,
        /// A working group that decides it, in its own book.
        #[serde(default)]
        group: Option<String>,
        /// How it is decided.
        #[serde(default)]
        process: Option<String>,
        /// Its deadline.
        #[serde(default)]
        deadline: Option<String>,
    },
    /// `loan offer`.
    LoanOffer {
        /// The borrowing organisation.
        org: String,
        /// Amount, two decimals.
        amount: String,
        /// Currency code.
        #[serde(default)]
        currency: Option<String>,
        /// Yearly rate, percent.
        #[serde(default = "zero_rate")]
        rate: String,
        /// `12 x monthly`.
        schedule: String,
        /// A note.
        #[serde(default)]
        note: String,
        /// In a working group's book.
        #[serde(default)]
        group: Option<String>,
    },
    /// `loan accept`.
    LoanAccept {
        /// The loan's id or prefix.
        loan: String,
    },
    /// `ledger record-payment`.
    RecordPayment {
        /// Who paid: an organisation or `fund`.
        from: String,
        /// Who received it: this organisation unless `fund`.
        #[serde(default)]
        to: Option<String>,
        /// Amount, two decimals.
        amount: String,
        /// Currency code.
        #[serde(default)]
        currency: Option<String>,
        /// What it pays: `fee:2026`, `loan:<id>`, `fund:<proposal>`...
        #[serde(default)]
        reference: Option<String>,
        /// A note.
        #[serde(default)]
        note: String,
        /// In a working group's book.
        #[serde(default)]
        group: Option<String>,
    },
    /// `ledger confirm`.
    ConfirmPayment {
        /// The payment's id or prefix.
        payment: String,
    },
    /// `ledger`.
    Ledger {
        /// A working group's book.
        #[serde(default)]
        group: Option<String>,
    },
    /// `ledger export --format csv`.
    LedgerExport {
        /// A working group's book.
        #[serde(default)]
        group: Option<String>,
    },
    /// `org show`.
    OrgShow {
        /// Name or id.
        org: String,
    },
    /// `org set`: this organisation's profile; `None` keeps a field.
    OrgSet {
        /// What it does.
        #[serde(default)]
        description: Option<String>,
        /// Where it is.
        #[serde(default)]
        address: Option<String>,
        /// Whom to ask, and how.
        #[serde(default)]
        contact: Option<String>,
        /// What it offers (tags).
        #[serde(default)]
        offers: Option<Vec<String>>,
        /// What it needs (tags).
        #[serde(default)]
        needs: Option<Vec<String>>,
        /// Trade and territory tags.
        #[serde(default)]
        tags: Option<Vec<String>>,
    },
    /// `org list`.
    OrgList {
        /// Only those offering this.
        #[serde(default)]
        offers: Option<String>,
        /// Only those needing this.
        #[serde(default)]
        needs: Option<String>,
        /// Only those with this tag.
        #[serde(default)]
        tag: Option<String>,
    },
    /// `export <doc> --format automerge`.
    Export {
        /// A document: charter, values, library, calendar, proposals or events.
        doc: String,
    },
}

impl Request {
    /// Whether answering it only reads the node: the command line then
    /// opens the home to read only ([`crate::Node::open_to_read`]), which
    /// writes nothing to it. A request listed here that writes after all
    /// is refused there and asked again of a node opened to write, so this
    /// list decides only what a command costs, never what it does.
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            Self::Status
                | Self::MemberList
                | Self::MemberLog
                | Self::Audit
                | Self::CharterShow
                | Self::CharterHistory
                | Self::CharterAdopted
                | Self::CharterDiff { .. }
                | Self::ValuesList
                | Self::LibraryList { .. }
                | Self::LibraryGet { .. }
                | Self::ResourceList
                | Self::Bookings { .. }
                | Self::CalendarExport { .. }
                | Self::Peers
                | Self::Proposals { .. }
                | Self::Decisions
                | Self::DecisionsExport
                | Self::EventList
                | Self::EventAttendance { .. }
                | Self::GroupList
                | Self::GroupNotes { .. }
                | Self::Fees
                | Self::Ledger { .. }
                | Self::LedgerExport { .. }
                | Self::OrgShow { .. }
                | Self::OrgList { .. }
                | Self::Export { .. }
        )
    }
}

/// A node's answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    /// The contract's JSON document.
    pub json: serde_json::Value,
    /// The same, in a few human lines.
    pub text: String,
    /// A file to write, for commands that produce one.
    #[serde(with = "base64_opt", default)]
    pub file: Option<Vec<u8>>,
}

impl Reply {
    /// A reply with JSON and text.
    pub fn new(json: serde_json::Value, text: impl Into<String>) -> Self {
        Self {
            json,
            text: text.into(),
            file: None,
        }
    }
}

/// A refusal, as it travels over the local socket.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The one-line message.
    pub message: String,
    /// The exit code: 2 for bad input or usage, 1 otherwise.
    pub exit_code: i32,
}

mod base64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&data_encoding::BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        data_encoding::BASE64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

mod base64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&data_encoding::BASE64.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            data_encoding::BASE64
                .decode(t.as_bytes())
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

fn zero_rate() -> String {
    "0".into()
}

/// `resource edit`: a resource's owner changes what it gives; the rest stays.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResourceEdit {
    /// Id, prefix or name.
    pub resource: String,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// New capacity.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// New location.
    #[serde(default)]
    pub location: Option<String>,
    /// New quota, `20h/week`.
    #[serde(default)]
    pub quota: Option<String>,
    /// New opening hours.
    #[serde(default)]
    pub hours: Option<String>,
    /// Whether bookings wait for approval from now on.
    #[serde(default)]
    pub approval: Option<bool>,
    /// Fields to remove: `capacity`, `location`, `quota`, `hours`.
    #[serde(default)]
    pub clear: Vec<String>,
}
