//! `entraide`: the command line of an entraide node.
//!
//! This binary only parses arguments into an [`entraide_node::Request`],
//! hands it to the node, and prints the reply (the contract's JSON with
//! `--json`, a short text otherwise). Errors go to stderr as one line; the
//! exit code is 2 for bad input or usage and 1 for anything else.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use entraide_net::client;
use entraide_net::daemon::{Daemon, ServeConfig};
use entraide_net::shared::{EndpointConfig, RelayChoice};
use entraide_node::{Home, Node, NodeError, Reply, Request, Ticket, resolve_zone};

/// `println!` that does not panic. A reader that stopped reading (a closed
/// pipe: `entraide bookings | head`) ends the command quietly, with
/// success; any other failure to print is an error. Whatever the command
/// wrote to the home is written by then.
macro_rules! say {
    ($($arg:tt)*) => {
        print_line(format_args!($($arg)*))?
    };
}

fn print_line(line: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure {
            message: String::new(),
            code: 0,
        }),
        Err(e) => Err(Failure {
            message: format!("cannot print the answer: {e}"),
            code: 1,
        }),
    }
}

/// A peer-to-peer, offline-first node for solidarity alliances of non-profits.
#[derive(Parser, Debug)]
#[command(name = "entraide", version, about, long_about = None)]
struct Cli {
    /// The node's home directory (default: ~/.local/share/entraide).
    #[arg(long, global = true, env = "ENTRAIDE_HOME")]
    home: Option<PathBuf>,
    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Time zone for reading and printing times (default: the system's).
    #[arg(long, global = true, env = "ENTRAIDE_TZ")]
    tz: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create this node's home: a device key and a store.
    Init {
        /// The organisation this node belongs to.
        #[arg(long)]
        org: String,
    },
    /// Found an alliance.
    Alliance {
        #[command(subcommand)]
        command: AllianceCommand,
    },
    /// This node, its alliance, documents and peers.
    Status,
    /// Every change from a member that this node refused, and the rule it broke.
    Audit,
    /// Member organisations.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// The charter the alliance writes together.
    Charter {
        #[command(subcommand)]
        command: CharterCommand,
    },
    /// The values the alliance shares.
    Values {
        #[command(subcommand)]
        command: ValuesCommand,
    },
    /// The shared library of documents.
    Library {
        #[command(subcommand)]
        command: LibraryCommand,
    },
    /// Shared rooms, vehicles and equipment.
    Resource {
        #[command(subcommand)]
        command: ResourceCommand,
    },
    /// Book a resource.
    #[command(long_about = BOOK_HELP)]
    Book(BookArgs),
    /// List bookings with their status.
    Bookings {
        /// Only this resource (id, id prefix or name).
        #[arg(long)]
        resource: Option<String>,
        /// Only this organisation (name or id).
        #[arg(long)]
        org: Option<String>,
        /// Only bookings ending after this time (a week's start, say).
        #[arg(long)]
        from: Option<String>,
        /// Only bookings starting before this time.
        #[arg(long)]
        to: Option<String>,
    },
    /// Approve or decline bookings of resources your organisation owns.
    Booking {
        #[command(subcommand)]
        command: BookingCommand,
    },
    /// Cancel a booking (your organisation's, or any as coordinator).
    Cancel {
        /// The booking's id or id prefix.
        booking: String,
        /// Cancel every occurrence of its series that is not cancelled yet
        /// (those your organisation may cancel).
        #[arg(long)]
        series: bool,
    },
    /// Your organisation leaves the alliance (no vote): its future
    /// bookings are cancelled and its resources withdrawn; what it wrote
    /// stays. Coming back later means being admitted again, as a newcomer.
    Leave {
        /// Why, for the other members.
        #[arg(long)]
        reason: String,
    },
    /// Organisation profiles: what each member says of itself.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Trainings and events with seats, and your organisation's
    /// registrations.
    Event {
        #[command(subcommand)]
        command: EventCommand,
    },
    /// The alliance's fees: what each organisation owes and has paid, per
    /// year (`fees propose` opens a new fee schedule to decide).
    Fees {
        #[command(subcommand)]
        command: Option<FeesCommand>,
    },
    /// The support fund: ask it for a loan, a guarantee, a grant or a gift.
    Fund {
        #[command(subcommand)]
        command: FundCommand,
    },
    /// Loans between members.
    Loan {
        #[command(subcommand)]
        command: LoanCommand,
    },
    /// The solidarity ledger: balances, loans and their schedules, the
    /// fund, payments.
    Ledger {
        /// A working group's book (seen by its members only).
        #[arg(long)]
        group: Option<String>,
        #[command(subcommand)]
        command: Option<LedgerCommand>,
    },
    /// Export the calendar.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Run the node: sync with every member it can reach, answer other
    /// commands on this home, until Ctrl-C or SIGTERM.
    Serve {
        /// Where to listen (default: every interface, the port used last time).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The alliance's own iroh relay, e.g. https://relay.example.org.
        #[arg(long, conflicts_with = "no_relay")]
        relay: Option<String>,
        /// LAN and direct addresses only: no relay at all.
        #[arg(long)]
        no_relay: bool,
        /// Do not look for members on the LAN with mDNS.
        #[arg(long)]
        no_mdns: bool,
        /// Where the web interface listens (IP:PORT; port 0 picks a free
        /// one), or `off`. If the default address is taken (another node on
        /// this machine), the node serves without it and says so.
        #[arg(long, value_name = "IP:PORT|off")]
        ui: Option<String>,
        /// Let the web interface listen on an address other machines reach
        /// (the office network) over plain HTTP: logins cross the network
        /// unencrypted. Refused without it; put a TLS proxy in front instead
        /// (README, "Colleagues on the office network").
        #[arg(long)]
        ui_plain_http: bool,
        /// A host name a TLS reverse proxy serves the interface under
        /// (accepted in Host and Origin besides IP addresses); repeatable.
        #[arg(long, value_name = "NAME")]
        ui_host: Vec<String>,
    },
    /// Print a one-time link that opens this node's web interface (while
    /// `entraide serve` runs).
    UiUrl,
    /// Print a one-line ticket that lets another organisation join.
    Invite {
        /// The role the newcomer gets: member or coordinator.
        #[arg(long, default_value = "member")]
        role: String,
        /// How long the ticket stays valid: 7d, 12h, 30m.
        #[arg(long, default_value = "7d")]
        expires: String,
    },
    /// Join an alliance with a ticket (on a freshly initialised home).
    Join {
        /// The ticket `entraide invite` printed.
        ticket: String,
        /// Wait until admitted (admission rules that need approvals).
        #[arg(long)]
        wait: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Sync both ways with every member this node can reach, then exit.
    Sync {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Known member devices, their addresses, connected or not, last sync.
    Peers,
    /// Open a proposal for the alliance to decide; prints its id.
    Propose {
        /// charter-amendment, admission, removal or general.
        kind: String,
        /// Its title.
        #[arg(long)]
        title: String,
        /// A file holding its text (for an amendment: the proposed charter).
        #[arg(long, conflicts_with = "text")]
        file: Option<PathBuf>,
        /// Its text.
        #[arg(long)]
        text: Option<String>,
        /// consent (passes unless someone objects), consensus (all agree) or
        /// majority (with a quorum); default: the alliance's process.
        #[arg(long)]
        process: Option<String>,
        /// For majority: how many organisations must vote.
        #[arg(long)]
        quorum: Option<u32>,
        /// When voting closes (default: in 7 days).
        #[arg(long)]
        deadline: Option<String>,
        /// admission and removal: the organisation concerned (its pending
        /// admission, or its removal, is what the proposal decides).
        #[arg(long)]
        org: Option<String>,
        /// A working group's proposal (general), decided by its member
        /// organisations only.
        #[arg(long)]
        group: Option<String>,
    },
    /// Working groups: some organisations of the alliance, with documents
    /// of their own (notes, library, proposals) that only their nodes hold.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Proposals, those awaiting your organisation's vote first.
    Proposals {
        /// Only open ones.
        #[arg(long)]
        open: bool,
    },
    /// Your organisation's position on a proposal (its latest vote counts).
    Vote {
        /// The proposal's id, id prefix or title.
        proposal: String,
        /// agree, abstain, disagree or block.
        position: String,
        /// Why (needed to block, and to disagree under consent).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// The decision log: every closed proposal.
    Decisions {
        #[command(subcommand)]
        command: Option<DecisionsCommand>,
    },
    /// Devices of your organisation.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Export a shared document as a standard automerge file.
    Export {
        /// A document: charter, values, library, calendar, proposals or events.
        doc: String,
        /// The format: automerge.
        #[arg(long, default_value = "automerge")]
        format: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum AllianceCommand {
    /// Found an alliance; this organisation is its first member, a coordinator.
    Create {
        /// Its name.
        name: String,
        /// How organisations are admitted: coordinator, majority or consensus.
        #[arg(long, default_value = "consensus")]
        admission: String,
        /// How proposals are decided unless one says otherwise: consent,
        /// consensus or majority.
        #[arg(long, default_value = "consensus")]
        process: String,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Member organisations, their roles, status, devices and what waits.
    List,
    /// Every membership operation and whether it took effect.
    Log,
    /// Your organisation approves the pending admission (or removal) of ORG.
    Approve {
        /// The organisation's name or id.
        org: String,
    },
    /// Proposes to remove ORG, or adds your organisation's vote to the
    /// removal already proposed (the alliance's rule decides when it holds).
    Remove {
        /// The organisation's name or id.
        org: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// A coordinator makes ORG a member or a coordinator.
    Role {
        /// The organisation's name or id.
        org: String,
        /// member or coordinator.
        role: String,
    },
    /// Under consensus: your organisation blocks the pending motion about ORG.
    Block {
        /// The organisation's name or id.
        org: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
enum DecisionsCommand {
    /// Write the decision log as a document.
    Export {
        /// The format: markdown.
        #[arg(long, default_value = "markdown")]
        format: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// A ticket for a second device of your organisation (joins with `entraide join`).
    Invite {
        /// How long the ticket stays valid: 7d, 12h, 30m.
        #[arg(long, default_value = "7d")]
        expires: String,
    },
    /// Revokes a device of your organisation (a lost laptop).
    Remove {
        /// The device's id or a unique prefix (`entraide member list`).
        device: String,
    },
}

#[derive(Subcommand, Debug)]
enum CharterCommand {
    /// The charter as this node has it now (`--adopted`: the version the
    /// alliance adopted by its last passed amendment).
    Show {
        /// The adopted version instead of the working draft.
        #[arg(long)]
        adopted: bool,
    },
    /// The difference between two versions: `draft`, `adopted` or a proposal id.
    Diff {
        /// The older version.
        from: String,
        /// The newer version.
        to: String,
    },
    /// Write the charter (`--file -` reads stdin). With `--base`: apply only
    /// your own difference from that version, keeping what others wrote
    /// since; without it: make the text the file's, by the smallest edit.
    Set {
        /// The file holding the new text (UTF-8).
        #[arg(long)]
        file: PathBuf,
        /// The `heads` that `charter show --json` printed when you took the
        /// text (one or more; repeat `--base` or list them after it).
        #[arg(long, value_name = "HEAD", num_args = 1.., value_delimiter = ',')]
        base: Option<Vec<String>>,
    },
    /// Edit the charter in $EDITOR.
    Edit,
    /// Who changed the charter, when, how much.
    History,
}

#[derive(Subcommand, Debug)]
enum ValuesCommand {
    /// Propose a value (your organisation endorses it); prints its id.
    Add {
        /// Its name.
        name: String,
        /// What it means.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Your organisation endorses a value.
    Endorse {
        /// Its id, id prefix or name.
        id: String,
    },
    /// Every value and who endorses it.
    List,
    /// Your organisation no longer endorses a value.
    Withdraw {
        /// Its id, id prefix or name.
        id: String,
    },
    /// Correct the wording of a value your organisation proposed (those
    /// who endorsed the earlier wording are shown as such).
    Edit {
        /// Its id, id prefix or name.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// Create a working group with these organisations (yours included);
    /// prints its id.
    Create {
        /// Its name.
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// A member organisation (repeat for several).
        #[arg(long = "org")]
        orgs: Vec<String>,
    },
    /// The alliance's groups, and whether your organisation belongs to each.
    List,
    /// Add an organisation to a group your organisation belongs to.
    Add {
        /// The group's name or id.
        group: String,
        /// The organisation.
        org: String,
    },
    /// Remove an organisation from a group your organisation belongs to.
    Remove {
        /// The group's name or id.
        group: String,
        /// The organisation.
        org: String,
    },
    /// Your organisation leaves a group.
    Leave {
        /// The group's name or id.
        group: String,
    },
    /// Dissolve a group (a coordinator of the alliance).
    Dissolve {
        /// The group's name or id.
        group: String,
    },
    /// A group's notes, co-edited like the charter (`notes G set --file F`).
    Notes {
        /// The group's name or id.
        group: String,
        #[command(subcommand)]
        command: Option<NotesCommand>,
    },
}

#[derive(Subcommand, Debug)]
enum NotesCommand {
    /// Make the notes this file's text: with `--base` (the heads `group
    /// notes G --json` printed when you took the text), only your own
    /// difference, keeping what others wrote since; without, by the
    /// smallest edit.
    Set {
        /// The file (`-`: standard input).
        #[arg(long)]
        file: PathBuf,
        /// A head of the version the text was taken at (repeatable).
        #[arg(long)]
        base: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum LibraryCommand {
    /// Share a file with every member; prints the entry's id.
    Add {
        /// The file.
        file: PathBuf,
        /// Its title.
        #[arg(long)]
        title: String,
        /// procedure, job-profile, regulation, statute, budget, template or other.
        #[arg(long, default_value = "other")]
        kind: String,
        /// A tag (repeat for several).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// On a working group's shelf: only its members' nodes receive it.
        #[arg(long)]
        group: Option<String>,
    },
    /// Library entries.
    List {
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only entries with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only entries matching all these words.
        #[arg(long)]
        search: Option<String>,
    },
    /// Write an entry's file, byte for byte.
    Get {
        /// Its id, id prefix or title.
        id: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Withdraw an entry your organisation added; its file is deleted from
    /// every member's store once no entry names it.
    Withdraw {
        /// Its id, id prefix or title.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum ResourceCommand {
    /// Share a resource owned by your organisation; prints its id.
    Add {
        /// Its name.
        name: String,
        /// room, vehicle, equipment or other.
        #[arg(long)]
        kind: String,
        /// How many people it takes.
        #[arg(long)]
        capacity: Option<u32>,
        /// Where it is.
        #[arg(long)]
        location: Option<String>,
        /// Hours each organisation may book per period: 20h/week, 6h/month.
        #[arg(long)]
        quota: Option<String>,
        /// Bookings wait for your organisation's approval.
        #[arg(long)]
        approval: bool,
        /// When it may be booked, e.g. "Mo-Fr 08:00-18:00; Sa 09:00-12:00".
        #[arg(long)]
        hours: Option<String>,
        /// A working group's resource: only its members see and book it.
        #[arg(long)]
        group: Option<String>,
    },
    /// Change a resource your organisation owns: what you give changes, the
    /// rest stays. A new quota, approval or opening hours apply to bookings
    /// made from now on.
    Edit(ResourceEditArgs),
    /// Withdraw a resource your organisation owns: it takes no new booking,
    /// and its future bookings are declined with your reason.
    Withdraw {
        /// Id, prefix or name.
        resource: String,
        /// Why: told to the organisations whose bookings are declined.
        #[arg(long)]
        reason: String,
    },
    /// Shared resources; with --json, each with `usage`: every
    /// organisation's booked minutes against the quota in the current and the
    /// next period.
    List,
}

/// `resource edit`: what is given changes, the rest stays.
#[derive(Args, Debug)]
struct ResourceEditArgs {
    /// Id, prefix or name.
    resource: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// room, vehicle, equipment or other.
    #[arg(long)]
    kind: Option<String>,
    /// How many people it takes.
    #[arg(long)]
    capacity: Option<u32>,
    /// Where it is.
    #[arg(long)]
    location: Option<String>,
    /// Hours each organisation may book per period: 20h/week, 6h/month.
    #[arg(long)]
    quota: Option<String>,
    /// When it may be booked, e.g. "Mo-Fr 08:00-18:00".
    #[arg(long)]
    hours: Option<String>,
    /// Bookings wait for your organisation's approval (true or false).
    #[arg(long)]
    approval: Option<bool>,
    /// Remove a field: capacity, location, quota or hours (repeatable).
    #[arg(long)]
    clear: Vec<String>,
}

impl From<ResourceEditArgs> for entraide_node::ResourceEdit {
    fn from(a: ResourceEditArgs) -> Self {
        Self {
            resource: a.resource,
            name: a.name,
            kind: a.kind,
            capacity: a.capacity,
            location: a.location,
            quota: a.quota,
            hours: a.hours,
            approval: a.approval,
            clear: a.clear,
        }
    }
}

/// The long help of `entraide book`: what it refuses, series, and the
/// booking rule every node applies.
const BOOK_HELP: &str = "\
Book a resource.

Refused (exit 2, nothing stored) when the slot overlaps a booking this
node knows, or would take your organisation over the resource's quota.

With --repeat, each occurrence is its own booking of one series; an
occurrence that overlaps or breaks the quota is skipped and listed
(\"skipped ...\", and `skipped` in --json) while the others are booked.
If every occurrence clashes, nothing is booked (exit 2).

The booking rule. Members who book while apart learn of clashes when
they sync, and every node decides alike, from the synced data only:
  1. cancelled and declined bookings hold no slot;
  2. the others are ranked: on a resource that needs approval, approved
     before pending; then the booking made first (by the clock of the
     node that made it, never behind a booking that node knew); then
     the smaller id;
  3. in that order, a booking keeps its slot unless it overlaps one
     already kept (it becomes `conflict`, reason `overlap`, and
     `conflict_with` names the booking that keeps the slot), or its
     hours, added to what its organisation already keeps in that week
     or month (in the zone the resource was added in), exceed the quota
     (it becomes `conflict`, reason `quota`).

The first to book keeps the room, whoever syncs first. A losing
organisation sees its conflicts first in `entraide status`, and
`entraide bookings` suggests the nearest free slots of the same length.
Only the booking's organisation or a coordinator may cancel, and only
the owner may approve or decline: every node ignores a cancellation or
decision made from another organisation's device.";

#[derive(Args, Debug)]
struct BookArgs {
    /// The resource (id, id prefix or name).
    resource: String,
    /// Start: YYYY-MM-DDTHH:MM in the node's time zone, or RFC 3339.
    #[arg(long)]
    from: String,
    /// End: YYYY-MM-DDTHH:MM in the node's time zone, or RFC 3339.
    #[arg(long)]
    to: String,
    /// What it is for.
    #[arg(long, default_value = "")]
    purpose: String,
    /// Repeat the booking: daily or weekly.
    #[arg(long)]
    repeat: Option<String>,
    /// How many occurrences, with --repeat.
    #[arg(long, conflicts_with = "until")]
    count: Option<u32>,
    /// The last day of the repeat, with --repeat: YYYY-MM-DD in the node's
    /// time zone, inclusive.
    #[arg(long)]
    until: Option<String>,
}

#[derive(Subcommand, Debug)]
enum BookingCommand {
    /// Approve a pending booking.
    Approve {
        /// The booking's id or id prefix.
        booking: String,
    },
    /// Decline a pending booking.
    Decline {
        /// The booking's id or id prefix.
        booking: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    /// An organisation's profile.
    Show {
        /// Its name or id.
        org: String,
    },
    /// Change your organisation's profile (the fields you name; a list you
    /// name replaces the old one).
    Set {
        /// What it does.
        #[arg(long)]
        description: Option<String>,
        /// Where it is.
        #[arg(long)]
        address: Option<String>,
        /// Whom to ask, and how (a person, a phone, an address).
        #[arg(long)]
        contact: Option<String>,
        /// What it can offer others (repeat for each).
        #[arg(long = "offers", value_name = "TAG")]
        offers: Vec<String>,
        /// What it needs (repeat for each).
        #[arg(long = "needs", value_name = "TAG")]
        needs: Vec<String>,
        /// Its trade and territory (repeat for each).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// The member organisations' profiles.
    List {
        /// Only those that offer this.
        #[arg(long, value_name = "TAG")]
        offers: Option<String>,
        /// Only those that need this.
        #[arg(long, value_name = "TAG")]
        needs: Option<String>,
        /// Only those with this trade or territory tag.
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum FeesCommand {
    /// Propose a new fee schedule: the one in force with these changes,
    /// decided by the alliance's process.
    Propose {
        /// A tier and its yearly amount: `small=100.00` (repeatable).
        #[arg(long = "tier")]
        tiers: Vec<String>,
        /// An organisation's tier: `"La Ruche=small"` (`=none` takes it
        /// out; repeatable).
        #[arg(long = "org")]
        assign: Vec<String>,
        /// The tiers' currency.
        #[arg(long)]
        currency: Option<String>,
        /// consent, consensus or majority (default: the alliance's).
        #[arg(long)]
        process: Option<String>,
        /// When the vote closes (default: in a week).
        #[arg(long)]
        deadline: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum FundCommand {
    /// Ask the support fund; opens a proposal of kind `fund` that the
    /// alliance decides. Prints the proposal's id.
    Request {
        /// loan, guarantee, grant or gift.
        #[arg(long)]
        kind: String,
        /// How much, like 1500.00.
        #[arg(long)]
        amount: String,
        /// Currency (default EUR).
        #[arg(long)]
        currency: Option<String>,
        /// Why: what the alliance reads before it decides.
        #[arg(long)]
        reason: String,
        /// For a loan: how it is repaid, like "12 x monthly".
        #[arg(long)]
        repay: Option<String>,
        /// Ask a working group's fund (its fund committee decides; only its
        /// members see the request and its book).
        #[arg(long)]
        group: Option<String>,
        /// consent, consensus or majority (default: the alliance's).
        #[arg(long)]
        process: Option<String>,
        /// When the vote closes (default: in a week).
        #[arg(long)]
        deadline: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum LoanCommand {
    /// Offer a loan to another organisation; it becomes a loan when that
    /// organisation accepts it. Prints its id.
    Offer {
        /// The borrowing organisation.
        org: String,
        /// How much, like 5000.00.
        #[arg(long)]
        amount: String,
        /// Currency (default EUR).
        #[arg(long)]
        currency: Option<String>,
        /// Yearly interest in percent (default 0).
        #[arg(long, default_value = "0")]
        rate: String,
        /// How it is repaid, like "12 x monthly".
        #[arg(long)]
        schedule: String,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
        /// In a working group's book (seen by its members only).
        #[arg(long)]
        group: Option<String>,
    },
    /// Accept a loan offered to your organisation (signed: its schedule
    /// starts now).
    Accept {
        /// The loan's id or id prefix.
        loan: String,
    },
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Record a payment your organisation received (`--to fund`: one the
    /// fund received, by a coordinator). Prints its id.
    RecordPayment {
        /// Who paid: an organisation, or `fund`.
        #[arg(long)]
        from: String,
        /// Who received it (default: your organisation).
        #[arg(long)]
        to: Option<String>,
        /// How much, like 125.00.
        #[arg(long)]
        amount: String,
        /// Currency (default EUR).
        #[arg(long)]
        currency: Option<String>,
        /// What it pays: fee:2026, loan:<id>, fund:<proposal id>, or text.
        #[arg(long = "for")]
        reference: Option<String>,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
        /// In a working group's book.
        #[arg(long)]
        group: Option<String>,
    },
    /// Confirm a payment your organisation made.
    Confirm {
        /// The payment's id or id prefix.
        payment: String,
    },
    /// Write every payment as CSV, for the treasurers' accounts.
    Export {
        /// csv.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Where to write the file.
        #[arg(long)]
        out: PathBuf,
        /// A working group's book.
        #[arg(long)]
        group: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum EventCommand {
    /// Offer a training or event with seats; prints its id.
    Add {
        /// Its title.
        title: String,
        /// Start (YYYY-MM-DDTHH:MM in the node's zone, or RFC 3339).
        #[arg(long)]
        from: String,
        /// End.
        #[arg(long)]
        to: String,
        /// Seats offered.
        #[arg(long)]
        seats: i64,
        /// Most seats one organisation may take.
        #[arg(long)]
        per_org: Option<i64>,
        /// Book this resource for it too (refused, and nothing stored, if
        /// the room is taken).
        #[arg(long)]
        resource: Option<String>,
        /// A working group's event: only its members see it and register.
        #[arg(long)]
        group: Option<String>,
    },
    /// Register your organisation (again: changes its seats; fewer seats
    /// keep its place in the list, more go to the end).
    Register {
        /// The event's id, id prefix or title.
        event: String,
        /// How many seats.
        #[arg(long)]
        seats: i64,
        /// Who will attend.
        #[arg(long, default_value = "")]
        names: String,
    },
    /// Withdraw your organisation's registration (the first waiting
    /// registrations that fit take its seats).
    CancelRegistration {
        /// The event's id, id prefix or title.
        event: String,
    },
    /// Close the registrations of an event your organisation organises.
    Close {
        /// The event's id, id prefix or title.
        event: String,
    },
    /// Open them again.
    Open {
        /// The event's id, id prefix or title.
        event: String,
    },
    /// Every event with its registrations, confirmed or waiting.
    List,
    /// Write the attendance list of an event as CSV.
    Attendance {
        /// The event's id, id prefix or title.
        event: String,
        /// Where to write the .csv file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum CalendarCommand {
    /// Write bookings as an RFC 5545 iCalendar file.
    Export {
        /// Only this resource.
        #[arg(long)]
        resource: Option<String>,
        /// Where to write the .ics file.
        #[arg(long)]
        out: PathBuf,
    },
    /// The address of your organisation's calendar feed: every booking you
    /// see, as iCalendar, for Thunderbird, GNOME Calendar, Nextcloud or a
    /// phone to subscribe to (served by `entraide serve`'s interface; keep
    /// it secret).
    Feed {
        /// Make a new address: the old one stops working.
        #[arg(long)]
        revoke: bool,
    },
}

/// A failure with its exit code.
struct Failure {
    message: String,
    code: u8,
}

impl From<client::Failure> for Failure {
    fn from(e: client::Failure) -> Self {
        Self {
            message: e.message,
            code: u8::try_from(e.exit_code).unwrap_or(1),
        }
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        Self {
            message: e.to_string(),
            code: u8::try_from(e.exit_code()).unwrap_or(1),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 2,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    tune_allocator(&cli);
    // No panic reaches a user as a backtrace: one line, exit 1.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(move || run(cli));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        // Whoever read the answer stopped (`entraide bookings | head`):
        // nothing is wrong, and nobody is left to tell.
        Ok(Err(f)) if f.message.is_empty() => ExitCode::from(f.code),
        Ok(Err(f)) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!(
                "error: entraide failed unexpectedly ({}); the store may be damaged: restore the home from a backup, and report this",
                what.lines().next().unwrap_or("no detail")
            );
            ExitCode::from(1)
        }
    }
}

/// Clap's message for bad arguments, as one line; help and version as usual.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let rendered = e.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:"))
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    eprintln!("error: {}; see `entraide --help`", message.join(" "));
    ExitCode::from(2)
}

fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| {
        usage(format!(
            "cannot read {}: {e}; check the path",
            path.display()
        ))
    })
}

fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|_| {
        usage(format!(
            "{} is not UTF-8 text; save it as UTF-8 and try again",
            path.display()
        ))
    })
}

fn write_output(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure {
        message: format!(
            "cannot write {}: {e}; check the path and permissions",
            path.display()
        ),
        code: 1,
    })
}

fn run(cli: Cli) -> Result<(), Failure> {
    let home = Home::new(cli.home.clone().unwrap_or_else(Home::default_root));
    let zone = resolve_zone(cli.tz.as_deref())?;
    let json = cli.json;
    let print = |reply: &Reply| -> Result<(), Failure> {
        if json {
            say!(
                "{}",
                serde_json::to_string_pretty(&reply.json).unwrap_or_default()
            );
        } else if !reply.text.is_empty() {
            say!("{}", reply.text.trim_end());
        }
        Ok(())
    };

    let (request, out) = match cli.command {
        Command::Init { org } => {
            let node = Node::init(&home, &org, zone)?;
            let device = node.device().to_hex();
            if json {
                say!(
                    "{}",
                    serde_json::json!({"device": device, "org": org.trim(), "home": home.root()})
                );
            } else {
                say!("{device}");
            }
            return Ok(());
        }
        Command::Charter {
            command: CharterCommand::Edit,
        } => return charter_edit(&home, zone, json),
        Command::Calendar {
            command: CalendarCommand::Feed { revoke },
        } => {
            if !home.store_path().exists() {
                return Err(Failure {
                    message: format!(
                        "no entraide home at {}; run `entraide init --org <NAME>` first",
                        home.root().display()
                    ),
                    code: 2,
                });
            }
            let url = entraide_web::feed_url(home.root(), revoke).map_err(|e| Failure {
                message: e.to_string(),
                code: 1,
            })?;
            if json {
                say!("{}", serde_json::json!({ "url": url, "revoked": revoke }));
            } else {
                say!("{url}");
            }
            return Ok(());
        }
        Command::UiUrl => {
            // An address file left by a node that was killed names nothing.
            if client::ask_daemon(&home, &Request::Status).is_none() {
                return Err(Failure {
                    message: entraide_web::WebError::NotRunning.to_string(),
                    code: 1,
                });
            }
            let url = entraide_web::login_url(home.root()).map_err(|e| Failure {
                message: e.to_string(),
                code: 1,
            })?;
            if json {
                say!("{}", serde_json::json!({ "url": url }));
            } else {
                say!("{url}");
            }
            return Ok(());
        }
        Command::Serve {
            listen,
            relay,
            no_relay,
            no_mdns,
            ui,
            ui_plain_http,
            ui_host,
        } => {
            let ui = parse_ui(ui.as_deref())?;
            if let UiChoice::At(addr) = ui
                && !addr.ip().is_loopback()
                && !ui_plain_http
            {
                return Err(usage(format!(
                    "--ui {addr} would let other machines reach the web interface over plain HTTP, where logins cross the network unencrypted; put a TLS proxy in front (README, \"Colleagues on the office network\") and give --ui-host NAME, or pass --ui-plain-http if this network is trusted"
                )));
            }
            let relay = match (relay, no_relay) {
                (_, true) => RelayChoice::Disabled,
                (Some(url), false) => RelayChoice::Custom(url),
                (None, false) => RelayChoice::Public,
            };
            let config = EndpointConfig {
                listen,
                relay,
                mdns: !no_mdns,
            };
            return serve(&home, zone, config, ui, ui_host);
        }
        Command::Join {
            ticket,
            timeout,
            wait,
        } => return join(&home, zone, &ticket, timeout, wait, json),
        Command::Sync { timeout } => return sync(&home, zone, timeout, json),
        other => to_request(other)?,
    };
    let reply = client::execute(&home, zone, request)?;
    if let Some(path) = out {
        write_output(&path, reply.file.as_deref().unwrap_or_default())?;
    }
    print(&reply)?;
    Ok(())
}

/// The request for a command, and where to write the file it produces.
fn to_request(command: Command) -> Result<(Request, Option<PathBuf>), Failure> {
    Ok(match command {
        Command::Init { .. }
        | Command::Serve { .. }
        | Command::UiUrl
        | Command::Join { .. }
        | Command::Sync { .. } => {
            return Err(usage("this command is handled before"));
        }
        Command::Invite { role, expires } => (Request::Invite { role, expires }, None),
        Command::Peers => (Request::Peers, None),
        Command::Propose {
            kind,
            title,
            file,
            text,
            process,
            quorum,
            deadline,
            org,
            group,
        } => {
            let text = match (file, text) {
                (Some(path), _) => utf8(read_input(&path)?, &path)?,
                (None, Some(t)) => t,
                (None, None) => String::new(),
            };
            (
                Request::Propose {
                    kind,
                    title,
                    text,
                    process,
                    quorum,
                    deadline,
                    org,
                    group,
                },
                None,
            )
        }
        Command::Group { command } => match command {
            GroupCommand::Create {
                name,
                description,
                orgs,
            } => (
                Request::GroupCreate {
                    name,
                    description,
                    orgs,
                },
                None,
            ),
            GroupCommand::List => (Request::GroupList, None),
            GroupCommand::Add { group, org } => (
                Request::GroupChange {
                    group,
                    org: Some(org),
                    add: true,
                },
                None,
            ),
            GroupCommand::Remove { group, org } => (
                Request::GroupChange {
                    group,
                    org: Some(org),
                    add: false,
                },
                None,
            ),
            GroupCommand::Leave { group } => (
                Request::GroupChange {
                    group,
                    org: None,
                    add: false,
                },
                None,
            ),
            GroupCommand::Dissolve { group } => (Request::GroupDissolve { group }, None),
            GroupCommand::Notes {
                group,
                command: None,
            } => (Request::GroupNotes { group }, None),
            GroupCommand::Notes {
                group,
                command: Some(NotesCommand::Set { file, base }),
            } => {
                let text = utf8(read_input(&file)?, &file)?;
                (Request::GroupNotesSet { group, text, base }, None)
            }
        },
        Command::Proposals { open } => (Request::Proposals { open }, None),
        Command::Vote {
            proposal,
            position,
            reason,
        } => (
            Request::Vote {
                proposal,
                position,
                reason,
            },
            None,
        ),
        Command::Decisions { command: None } => (Request::Decisions, None),
        Command::Decisions {
            command: Some(DecisionsCommand::Export { format, out }),
        } => {
            if format != "markdown" {
                return Err(usage(format!(
                    "unknown format '{format}'; use --format markdown"
                )));
            }
            (Request::DecisionsExport, Some(out))
        }
        Command::Device { command } => (
            match command {
                DeviceCommand::Invite { expires } => Request::DeviceInvite { expires },
                DeviceCommand::Remove { device } => Request::DeviceRemove { device },
            },
            None,
        ),
        Command::Alliance {
            command:
                AllianceCommand::Create {
                    name,
                    admission,
                    process,
                },
        } => (
            Request::AllianceCreate {
                name,
                admission,
                process: Some(process),
            },
            None,
        ),
        Command::Status => (Request::Status, None),
        Command::Audit => (Request::Audit, None),
        Command::Member { command } => (
            match command {
                MemberCommand::List => Request::MemberList,
                MemberCommand::Log => Request::MemberLog,
                MemberCommand::Approve { org } => Request::MemberApprove { org },
                MemberCommand::Remove { org, reason } => Request::MemberRemove { org, reason },
                MemberCommand::Block { org, reason } => Request::MemberBlock { org, reason },
                MemberCommand::Role { org, role } => Request::MemberRole { org, role },
            },
            None,
        ),
        Command::Charter { command } => (
            match command {
                CharterCommand::Show { adopted: false } => Request::CharterShow,
                CharterCommand::Show { adopted: true } => Request::CharterAdopted,
                CharterCommand::Diff { from, to } => Request::CharterDiff {
                    from,
                    to,
                    text: None,
                },
                CharterCommand::Set { file, base: None } => Request::CharterSet {
                    text: utf8(read_input(&file)?, &file)?,
                },
                // The web page's rule: only the user's own difference from
                // the version they started from.
                CharterCommand::Set {
                    file,
                    base: Some(base),
                } => Request::CharterEdit {
                    base,
                    text: utf8(read_input(&file)?, &file)?,
                },
                CharterCommand::History => Request::CharterHistory,
                CharterCommand::Edit => return Err(usage("charter edit is handled before")),
            },
            None,
        ),
        Command::Values { command } => (
            match command {
                ValuesCommand::Add { name, description } => {
                    Request::ValuesAdd { name, description }
                }
                ValuesCommand::Endorse { id } => Request::ValuesEndorse { value: id },
                ValuesCommand::List => Request::ValuesList,
                ValuesCommand::Withdraw { id } => Request::ValuesWithdraw { value: id },
                ValuesCommand::Edit {
                    id,
                    name,
                    description,
                } => Request::ValuesEdit {
                    value: id,
                    name,
                    description,
                },
            },
            None,
        ),
        Command::Library { command } => match command {
            LibraryCommand::Add {
                file,
                title,
                kind,
                tags,
                group,
            } => {
                if file.is_dir() {
                    return Err(usage(format!(
                        "{} is a directory; give a file",
                        file.display()
                    )));
                }
                let bytes = read_input(&file)?;
                let file_name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    Request::LibraryAdd {
                        file_name,
                        bytes,
                        title,
                        kind,
                        tags,
                        group,
                    },
                    None,
                )
            }
            LibraryCommand::List { kind, tag, search } => {
                (Request::LibraryList { kind, tag, search }, None)
            }
            LibraryCommand::Get { id, out } => (Request::LibraryGet { entry: id }, Some(out)),
            LibraryCommand::Withdraw { id } => (Request::LibraryWithdraw { entry: id }, None),
        },
        Command::Resource { command } => (
            match command {
                ResourceCommand::Add {
                    name,
                    kind,
                    capacity,
                    location,
                    quota,
                    approval,
                    hours,
                    group,
                } => Request::ResourceAdd {
                    name,
                    kind,
                    capacity,
                    location,
                    quota,
                    approval,
                    hours,
                    group,
                },
                ResourceCommand::Edit(edit) => Request::ResourceEdit(edit.into()),
                ResourceCommand::Withdraw { resource, reason } => {
                    Request::ResourceWithdraw { resource, reason }
                }
                ResourceCommand::List => Request::ResourceList,
            },
            None,
        ),
        Command::Book(a) => (
            Request::Book {
                resource: a.resource,
                from: a.from,
                to: a.to,
                purpose: a.purpose,
                repeat: a.repeat,
                count: a.count,
                until: a.until,
            },
            None,
        ),
        Command::Bookings {
            resource,
            org,
            from,
            to,
        } => (
            Request::Bookings {
                resource,
                org,
                from,
                to,
            },
            None,
        ),
        Command::Booking { command } => (
            match command {
                BookingCommand::Approve { booking } => Request::BookingDecide {
                    booking,
                    approve: true,
                    reason: None,
                },
                BookingCommand::Decline { booking, reason } => Request::BookingDecide {
                    booking,
                    approve: false,
                    reason,
                },
            },
            None,
        ),
        Command::Cancel { booking, series } => (Request::Cancel { booking, series }, None),
        Command::Calendar {
            command: CalendarCommand::Export { resource, out },
        } => (Request::CalendarExport { resource }, Some(out)),
        Command::Calendar {
            command: CalendarCommand::Feed { .. },
        } => return Err(usage("this command is handled before")),
        Command::Leave { reason } => (Request::Leave { reason }, None),
        Command::Org { command } => match command {
            OrgCommand::Show { org } => (Request::OrgShow { org }, None),
            OrgCommand::Set {
                description,
                address,
                contact,
                offers,
                needs,
                tags,
            } => {
                let given = |v: Vec<String>| (!v.is_empty()).then_some(v);
                (
                    Request::OrgSet {
                        description,
                        address,
                        contact,
                        offers: given(offers),
                        needs: given(needs),
                        tags: given(tags),
                    },
                    None,
                )
            }
            OrgCommand::List { offers, needs, tag } => {
                (Request::OrgList { offers, needs, tag }, None)
            }
        },
        Command::Event { command } => match command {
            EventCommand::Add {
                title,
                from,
                to,
                seats,
                per_org,
                resource,
                group,
            } => (
                Request::EventAdd {
                    title,
                    from,
                    to,
                    seats,
                    per_org,
                    resource,
                    group,
                },
                None,
            ),
            EventCommand::Register {
                event,
                seats,
                names,
            } => (
                Request::EventRegister {
                    event,
                    seats,
                    names,
                },
                None,
            ),
            EventCommand::CancelRegistration { event } => {
                (Request::EventCancelRegistration { event }, None)
            }
            EventCommand::Close { event } => (Request::EventSetOpen { event, open: false }, None),
            EventCommand::Open { event } => (Request::EventSetOpen { event, open: true }, None),
            EventCommand::List => (Request::EventList, None),
            EventCommand::Attendance { event, out } => {
                (Request::EventAttendance { event }, Some(out))
            }
        },
        Command::Fees { command } => match command {
            None => (Request::Fees, None),
            Some(FeesCommand::Propose {
                tiers,
                assign,
                currency,
                process,
                deadline,
            }) => (
                Request::FeesPropose {
                    tiers,
                    assign,
                    currency,
                    process,
                    deadline,
                },
                None,
            ),
        },
        Command::Fund {
            command:
                FundCommand::Request {
                    kind,
                    amount,
                    currency,
                    reason,
                    repay,
                    process,
                    deadline,
                    group,
                },
        } => (
            Request::FundRequest {
                kind,
                amount,
                currency,
                reason,
                repay,
                process,
                deadline,
                group,
            },
            None,
        ),
        Command::Loan { command } => match command {
            LoanCommand::Offer {
                org,
                amount,
                currency,
                rate,
                schedule,
                note,
                group,
            } => (
                Request::LoanOffer {
                    org,
                    amount,
                    currency,
                    rate,
                    schedule,
                    note,
                    group,
                },
                None,
            ),
            LoanCommand::Accept { loan } => (Request::LoanAccept { loan }, None),
        },
        Command::Ledger {
            group: book,
            command,
        } => match command {
            None => (Request::Ledger { group: book }, None),
            Some(LedgerCommand::RecordPayment {
                from,
                to,
                amount,
                currency,
                reference,
                note,
                group,
            }) => (
                Request::RecordPayment {
                    from,
                    to,
                    amount,
                    currency,
                    reference,
                    note,
                    group: group.or(book),
                },
                None,
            ),
            Some(LedgerCommand::Confirm { payment }) => (Request::ConfirmPayment { payment }, None),
            Some(LedgerCommand::Export { format, out, group }) => {
                if format != "csv" {
                    return Err(usage(format!(
                        "unknown format '{format}'; use --format csv"
                    )));
                }
                (
                    Request::LedgerExport {
                        group: group.or(book),
                    },
                    Some(out),
                )
            }
        },
        Command::Export { doc, format, out } => {
            if format != "automerge" {
                return Err(usage(format!(
                    "unknown format '{format}'; use --format automerge"
                )));
            }
            (Request::Export { doc }, Some(out))
        }
    })
}

/// `charter edit`: the charter in $EDITOR, then `charter set --base` with the
/// result and the heads of what the editor opened, so that edits arriving
/// while the editor is open are kept.
fn charter_edit(home: &Home, zone: chrono_tz::Tz, json: bool) -> Result<(), Failure> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .map_err(|_| {
            usage("set $EDITOR (e.g. EDITOR=nano) or use `entraide charter set --file <PATH>`")
        })?;
    let current = client::execute(home, zone, Request::CharterShow)?;
    let text = current.json["text"].as_str().unwrap_or_default().to_owned();
    let base: Vec<String> = current.json["heads"]
        .as_array()
        .map(|heads| {
            heads
                .iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let dir =
        tempfile::tempdir().map_err(|e| usage(format!("cannot create a temporary file: {e}")))?;
    let path = dir.path().join("charter.md");
    write_output(&path, text.as_bytes())?;
    let mut editor_cmd = std::process::Command::new("sh");
    // The allocator settings this command set for itself are not the
    // editor's (`tune_allocator`).
    if std::env::var_os(TUNED).is_some() {
        editor_cmd.env_remove("GLIBC_TUNABLES").env_remove(TUNED);
    }
    let status = editor_cmd
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .map_err(|e| usage(format!("cannot start the editor '{editor}': {e}")))?;
    if !status.success() {
        return Err(usage(format!(
            "the editor '{editor}' failed; the charter is unchanged"
        )));
    }
    let new_text = utf8(read_input(&path)?, &path)?;
    let reply = client::execute(
        home,
        zone,
        Request::CharterEdit {
            base,
            text: new_text,
        },
    )?;
    if json {
        say!("{}", reply.json);
    } else if std::io::stdout().is_terminal() || !reply.text.is_empty() {
        say!("{}", reply.text);
    }
    Ok(())
}

/// The glibc allocator settings `serve` runs with: one arena. glibc gives
/// threads that allocate at once arenas of their own, and memory freed into
/// one arena is not reused by the others; the daemon's work moves between
/// tokio's blocking-pool threads, and a large alliance's daemon peaked 60 MB
/// higher (benchmark scenario 8: 199 MiB, 139 MiB with one arena, and a
/// live booking no slower). Huge pages for the heap (`hugetlb=1`) were
/// tried too: a cold command on the big home took 0.26-0.34 s instead of
/// 0.39 s when the machine had huge pages free, and 0.35-0.41 s in full
/// benchmark runs, where it had not (the kernel compacts memory to find
/// them), with more memory held: not taken.
///
/// glibc reads tunables only when a process starts, and setting them from
/// inside needs `unsafe`, which this workspace forbids: so `serve` starts
/// itself again with them (same pid, arguments and standard streams),
/// marked [`TUNED`], unless `GLIBC_TUNABLES` is already set (by the user).
/// Other C libraries and systems ignore all this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNABLES: &str = "glibc.malloc.arena_max=1";

/// Set in the environment of a command started again by [`tune_allocator`]
/// (glibc rewrites `GLIBC_TUNABLES` as it reads it).
const TUNED: &str = "ENTRAIDE_ALLOCATOR_TUNED";

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator(cli: &Cli) {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some()
        || std::env::var_os(TUNED).is_some()
        || !matches!(cli.command, Command::Serve { .. })
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    // Only returns if it failed: go on as we are.
    let _ = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", TUNABLES)
        .env(TUNED, "1")
        .exec();
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator(_: &Cli) {}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            message: format!("cannot start the async runtime: {e}"),
            code: 1,
        })
}

fn net_failure(e: entraide_net::NetError) -> Failure {
    let code = match &e {
        entraide_net::NetError::Config(_) => 2,
        entraide_net::NetError::Node(n) => n.exit_code(),
        _ => 1,
    };
    Failure {
        message: e.to_string(),
        code: u8::try_from(code).unwrap_or(1),
    }
}

/// Where `serve` puts the web interface: off, the default, or where asked.
#[derive(Clone, Copy, Debug)]
enum UiChoice {
    Off,
    Default(std::net::SocketAddr),
    At(std::net::SocketAddr),
}

fn parse_ui(ui: Option<&str>) -> Result<UiChoice, Failure> {
    match ui.map(str::trim) {
        None => entraide_web::DEFAULT_ADDR
            .parse()
            .map(UiChoice::Default)
            .map_err(|_| usage("the default web interface address is invalid")),
        Some("off") => Ok(UiChoice::Off),
        Some(addr) => addr.parse().map(UiChoice::At).map_err(|_| {
            usage(format!(
                "--ui '{addr}' is not an address; use IP:PORT such as 127.0.0.1:7878, or off"
            ))
        }),
    }
}

/// `entraide serve`: runs until SIGINT or SIGTERM.
fn serve(
    home: &Home,
    zone: chrono_tz::Tz,
    config: EndpointConfig,
    ui: UiChoice,
    ui_names: Vec<String>,
) -> Result<(), Failure> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,iroh=warn,noq=warn,iroh_relay=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if client::ask_daemon(home, &Request::Status).is_some() {
        return Err(usage("`entraide serve` already runs on this home"));
    }
    let rt = runtime()?;
    // A home with no organisation or no alliance yet is set up from the
    // browser first, on the interface's address, which the node's own
    // interface then takes over.
    let mut ui = ui;
    let mut node = if home.is_initialised() {
        Some(client::open_node(home, zone)?)
    } else {
        None
    };
    // Not `status`: it reads every document and ranks every room's
    // bookings to list conflicts (30 MB kept on a large alliance's node).
    let in_alliance = node.as_ref().is_some_and(|n| n.alliance_id().is_some());
    let setup_at = match ui {
        UiChoice::Default(a) | UiChoice::At(a) if !in_alliance => Some(a),
        _ => None,
    };
    if let Some(addr) = setup_at {
        drop(node.take());
        let finished = rt.block_on(async {
            let options = entraide_web::WebOptions {
                addr,
                names: ui_names.clone(),
            };
            let mut setup = entraide_web::SetupServer::start(home.root(), &options, zone)
                .await
                .map_err(|e| Failure {
                    message: e.to_string(),
                    code: 1,
                })?;
            eprintln!("web interface on http://{}/", setup.addr());
            eprintln!(
                "this home belongs to no alliance yet: set it up in the browser (create the organisation, then found or join an alliance)"
            );
            eprintln!("log in to the web interface: {}", setup.login_link());
            let finished = tokio::select! {
                () = setup.finished() => true,
                () = shutdown_signal() => false,
            };
            let at = setup.addr();
            setup.stop().await;
            Ok::<_, Failure>(finished.then_some(at))
        })?;
        match finished {
            Some(at) => ui = UiChoice::At(at),
            None => return Ok(()),
        }
    }
    let node = match node {
        Some(node) => node,
        None => client::open_node(home, zone)?,
    };
    rt.block_on(async {
        let daemon = Daemon::start(home, node, ServeConfig { endpoint: config })
            .await
            .map_err(net_failure)?;
        let web = match ui {
            UiChoice::Off => None,
            UiChoice::Default(addr) | UiChoice::At(addr) => {
                let options = entraide_web::WebOptions {
                    addr,
                    names: ui_names,
                };
                match entraide_web::WebServer::start(daemon.handle(), home.root(), &options).await {
                    Ok(web) => {
                        eprintln!("web interface on http://{}/", web.addr());
                        eprintln!("log in to the web interface: {}", web.login_link());
                        Some(web)
                    }
                    // Two nodes on one machine: the second keeps serving
                    // the network without an interface at the default.
                    Err(e @ entraide_web::WebError::Bind { in_use: true, .. })
                        if matches!(ui, UiChoice::Default(_)) =>
                    {
                        eprintln!("warning: {e}; the node runs without it");
                        None
                    }
                    Err(e) => {
                        let _ = daemon.stop().await;
                        return Err(Failure {
                            message: e.to_string(),
                            code: 1,
                        });
                    }
                }
            }
        };
        let addrs: Vec<String> = daemon.addrs().iter().map(ToString::to_string).collect();
        eprintln!("serving device {} on {}", daemon.device(), addrs.join(", "));
        let result = daemon
            .run_until_exit(shutdown_signal())
            .await
            .map_err(net_failure);
        if let Some(web) = web {
            web.stop().await;
        }
        result
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `entraide join`.
fn join(
    home: &Home,
    zone: chrono_tz::Tz,
    ticket: &str,
    timeout: u64,
    wait: bool,
    json: bool,
) -> Result<(), Failure> {
    let ticket = Ticket::decode(ticket).map_err(|e| usage(e.to_string()))?;
    if client::ask_daemon(home, &Request::Status).is_some() {
        return Err(usage(
            "stop `entraide serve` on this home, join, then start it again",
        ));
    }
    let node = client::open_node(home, zone)?;
    let rt = runtime()?;
    let outcome = rt
        .block_on(entraide_net::oneshot::join_waiting(
            node,
            &ticket,
            std::time::Duration::from_secs(timeout.max(1)),
            wait,
        ))
        .map_err(net_failure)?;
    match outcome {
        entraide_net::oneshot::JoinOutcome::Joined(name) => {
            if json {
                say!(
                    "{}",
                    serde_json::json!({"alliance": name, "status": "active"})
                );
            } else {
                say!("joined the alliance '{name}'");
            }
        }
        entraide_net::oneshot::JoinOutcome::Pending(waiting) => {
            if json {
                say!(
                    "{}",
                    serde_json::json!({"alliance": ticket.alliance_name, "status": "pending", "waiting": waiting})
                );
            } else {
                say!(
                    "admission to '{}' is pending ({waiting}); run `entraide join <TICKET> --wait` to wait for it",
                    ticket.alliance_name
                );
            }
        }
    }
    Ok(())
}

/// `entraide sync`: through the daemon if one runs, else on its own; both
/// answer with [`entraide_net::SyncReport::into_reply`], the same shape.
fn sync(home: &Home, zone: chrono_tz::Tz, timeout: u64, json: bool) -> Result<(), Failure> {
    let request = Request::SyncNow {
        timeout_secs: timeout,
    };
    let answer = match client::ask_daemon(home, &request) {
        Some(answer) => answer?,
        None => {
            let node = client::open_node(home, zone)?;
            let rt = runtime()?;
            let report = rt
                .block_on(entraide_net::oneshot::sync_once(
                    node,
                    std::time::Duration::from_secs(timeout.max(1)),
                ))
                .map_err(net_failure)?;
            report.into_reply().map_err(|e| Failure {
                message: e.message,
                code: u8::try_from(e.exit_code).unwrap_or(1),
            })?
        }
    };
    if json {
        say!("{}", answer.json);
    } else {
        say!("{}", answer.text);
    }
    Ok(())
}
