//! The alliance's solidarity ledger: fees, the support fund, loans between
//! members, and the payments that settle them.
//!
//! Money is never a float: an amount is a whole number of cents with a
//! currency (three capital letters, `EUR` unless said otherwise), typed and
//! printed with two decimals ([`parse_amount`], [`format_cents`]).
//!
//! Schema (automerge):
//! ```text
//! { entries: { <id>: { kind: "payment", payer, payee, amount, currency,
//!                      reference, note, org, device, at, under?,
//!                      confirmed: { <payer>: { at, device, under? } } }
//!              <id>: { kind: "loan", borrower, amount, currency, rate_bp,
//!                      repay, note, org, device, at,
//!                      accepted: { <borrower>: { at, device } } } } }
//! ```
//! A party is an organisation's id, or `fund` for the alliance's common
//! fund (which the fees fill and the support fund lends and gives from).
//!
//! # Who writes what (enforced by [`crate::authority`])
//!
//! - A **payment** is recorded by the organisation that *received* it
//!   (`payee` is the writer's own organisation): a receipt is written by the
//!   one it disadvantages, so nobody can record that another organisation
//!   paid. A payment received by the fund is recorded by a coordinator
//!   (citing the membership that makes it one, `under`). Only the payer
//!   confirms it (a coordinator for the fund), under its own key of
//!   `confirmed`; a confirmation is a courtesy and changes no balance.
//! - A **loan offer** is written by the lender, and becomes a loan only by
//!   the borrower's own signed acceptance, under its own key of `accepted`.
//! - **Fees** and the **support fund** are decided by proposals (kinds
//!   `fees` and `fund`, see [`FeeSchedule`] and [`FundRequest`]): no ledger
//!   entry writes them; every node reads them from the passed proposals.
//!
//! Entries are fixed once written: a mistaken payment is corrected by
//! another one (a payment back), as in any accounting book.
//!
//! # The statement
//!
//! [`statement`] computes everything a treasurer reads from the entries,
//! the passed proposals and the clock, the same on every node:
//!
//! - **Obligations**: who owes whom how much, by when, and for what
//!   (`reference`). A loan accepted at `t` obliges the lender to pay out the
//!   principal at `t`, then the borrower to repay it in `count` installments,
//!   the k-th due `k` periods after `t` (months added on the calendar, UTC,
//!   a day past a month's end falling on its last day). Each installment
//!   repays `principal / count` cents (the last one the rest) plus interest
//!   on what was still owed before it: `outstanding × rate_bp / 10 000 /
//!   periods per year`, rounded to the nearest cent, halves away from zero.
//!   A passed `fund` request does the same from the fund, from its decision
//!   time, at 0 % (a grant or a gift is paid out and never repaid; a
//!   guarantee moves no money). Fees: every year from the year the first
//!   `fees` proposal passed, each active organisation that the schedule in
//!   force names owes its tier's amount to the fund, due on 1 January
//!   (UTC); the schedule in force for a year is the last one decided before
//!   that year ended.
//! - **Payments** settle the obligations whose `reference`, payer and payee
//!   they match (a payment with another reference counts in balances only).
//! - **Balances**, per party and currency: `balance` is what it received
//!   minus what it paid (its cash movements, as the CSV export lists them);
//!   `owes` is what it should have paid by now and has not (per reference:
//!   due so far minus paid, never below zero); `is_owed` the reverse.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};
use chrono::{DateTime, Datelike, Months, TimeZone, Utc};

use crate::doc::Record;
use crate::lookup::{LookupError, resolve};
use crate::{Author, DocKind, SharedDoc};

/// The alliance's common fund, as a party.
pub const FUND: &str = "fund";
/// The currency when none is named.
pub const DEFAULT_CURRENCY: &str = "EUR";
/// The largest amount of one entry, in cents (ten billion).
pub const MAX_CENTS: i64 = 1_000_000_000_000;
/// Longest note or reason, in characters.
pub const MAX_NOTE: usize = 2_000;
/// Longest reference, in characters.
pub const MAX_REFERENCE: usize = 100;
/// The highest interest rate, in basis points (100 %).
pub const MAX_RATE_BP: i64 = 10_000;
/// Most installments of one loan.
pub const MAX_INSTALLMENTS: u32 = 600;

/// The ledger's entries could not be written, or an amount read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum LedgerError {
    /// Not an amount.
    #[error(
        "'{0}' is not an amount: write it with at most two decimals, like 1500.00 (at most 10000000000.00)"
    )]
    Amount(String),
    /// Zero or negative.
    #[error("an amount must be more than zero")]
    NotPositive,
    /// Not a currency code.
    #[error("'{0}' is not a currency: use three capital letters, like EUR")]
    Currency(String),
    /// Not a rate.
    #[error("'{0}' is not an interest rate: a percentage per year from 0 to 100, like 0 or 1.5")]
    Rate(String),
    /// Not a repayment schedule.
    #[error(
        "'{0}' is not a repayment schedule: write it like \"12 x monthly\" (weekly, monthly, quarterly or yearly; 1 to {MAX_INSTALLMENTS} installments)"
    )]
    Repay(String),
    /// Not a fund request kind.
    #[error("'{0}' is not a kind of fund request: use loan, guarantee, grant or gift")]
    FundKind(String),
    /// A fund loan without its schedule, or a gift with one.
    #[error("a fund loan needs --repay (like \"12 x monthly\"), and only a loan has one")]
    FundRepay,
    /// A fee schedule that does not read.
    #[error("fee schedule, line {line}: {what}")]
    Fees {
        /// The line (1-based).
        line: usize,
        /// What is wrong there.
        what: String,
    },
    /// Too long a note, reason or reference.
    #[error("{0} is too long")]
    TooLong(&'static str),
    /// Empty reason.
    #[error("a fund request needs a reason (--reason)")]
    Reason,
    /// Paying oneself.
    #[error("the payer and the payee must differ")]
    SameParty,
    /// Lending to oneself.
    #[error("an organisation cannot lend to itself")]
    SelfLoan,
    /// Recording a receipt for another organisation.
    #[error(
        "a payment is recorded by the organisation that received it; the other organisation records its own receipts"
    )]
    NotPayee,
    /// Confirming another's payment.
    #[error("only the organisation that paid may confirm this payment (it was paid by {0})")]
    NotPayer(String),
    /// Accepting another's loan.
    #[error("only the borrower may accept this loan")]
    NotBorrower,
    /// Accepting twice.
    #[error("this loan is already accepted")]
    AlreadyAccepted,
    /// The fund's payments need a coordinator.
    #[error("only a coordinator records or confirms the fund's payments")]
    NotCoordinator,
    /// Unknown entry.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

// ----------------------------------------------------------------- money

/// Reads `1500`, `1500.5` or `1500.00` (a comma works as the decimal mark
/// too) as cents; at most two decimals, never negative.
pub fn parse_amount(input: &str) -> Result<i64, LedgerError> {
    let bad = || LedgerError::Amount(input.to_owned());
    let s = input.trim().replace(',', ".");
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 11 || !digits(whole) || frac.len() > 2 || !digits(frac) {
        return Err(bad());
    }
    if s.contains('.') && frac.is_empty() {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let cents = whole * 100 + frac;
    if cents > MAX_CENTS {
        return Err(bad());
    }
    Ok(cents)
}

/// Cents as `1500.00` (`-12.30` below zero).
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A currency code: three capital letters (`eur` is read as `EUR`).
pub fn parse_currency(input: &str) -> Result<String, LedgerError> {
    let code = input.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(LedgerError::Currency(input.to_owned()))
    }
}

/// A yearly rate in percent (`0`, `1.5`, `2.25`) as basis points.
pub fn parse_rate(input: &str) -> Result<i64, LedgerError> {
    let bp = parse_amount(input.trim().trim_end_matches('%'))
        .map_err(|_| LedgerError::Rate(input.to_owned()))?;
    if bp > MAX_RATE_BP {
        return Err(LedgerError::Rate(input.to_owned()));
    }
    Ok(bp)
}

/// Basis points as a percentage (`1.5`, `0`).
pub fn format_rate(bp: i64) -> String {
    let s = format_cents(bp);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

// ------------------------------------------------------------- schedules

/// How often a loan is repaid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// Every 7 days.
    Weekly,
    /// Every calendar month.
    Monthly,
    /// Every three months.
    Quarterly,
    /// Every year.
    Yearly,
}

impl Period {
    const ALL: [Period; 4] = [Self::Weekly, Self::Monthly, Self::Quarterly, Self::Yearly];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::Yearly => "yearly",
        }
    }

    fn per_year(self) -> i128 {
        match self {
            Self::Weekly => 52,
            Self::Monthly => 12,
            Self::Quarterly => 4,
            Self::Yearly => 1,
        }
    }

    /// `start` plus `k` periods (UTC calendar; `None` out of range).
    fn after(self, start: i64, k: u32) -> Option<i64> {
        let start = Utc.timestamp_millis_opt(start).single()?;
        let t = match self {
            Self::Weekly => start.checked_add_signed(chrono::Duration::days(7 * i64::from(k)))?,
            Self::Monthly => start.checked_add_months(Months::new(k))?,
            Self::Quarterly => start.checked_add_months(Months::new(3 * k))?,
            Self::Yearly => start.checked_add_months(Months::new(12 * k))?,
        };
        Some(t.timestamp_millis())
    }
}

/// A repayment schedule: `count` installments, one every `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repay {
    /// How many installments.
    pub count: u32,
    /// How often.
    pub period: Period,
}

impl Repay {
    /// Reads `12 x monthly` (also `12x monthly`, `once`).
    pub fn parse(input: &str) -> Result<Self, LedgerError> {
        let bad = || LedgerError::Repay(input.to_owned());
        let s = input.trim().to_ascii_lowercase();
        if s == "once" {
            return Ok(Self {
                count: 1,
                period: Period::Monthly,
            });
        }
        let (count, period) = s.split_once('x').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = Period::ALL
            .into_iter()
            .find(|p| p.name() == period.trim())
            .ok_or_else(bad)?;
        if !(1..=MAX_INSTALLMENTS).contains(&count) {
            return Err(bad());
        }
        Ok(Self { count, period })
    }

    /// As [`Repay::parse`] reads it.
    pub fn name(&self) -> String {
        format!("{} x {}", self.count, self.period.name())
    }
}

/// One installment of a loan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installment {
    /// Its number, from 1.
    pub number: u32,
    /// When it is due, ms.
    pub due: i64,
    /// Principal repaid, cents.
    pub principal: i64,
    /// Interest, cents.
    pub interest: i64,
}

/// The installments of `principal` cents lent at `rate_bp` from `start`.
pub fn installments(principal: i64, rate_bp: i64, repay: Repay, start: i64) -> Vec<Installment> {
    let count = i64::from(repay.count);
    let part = principal / count;
    let mut outstanding = principal;
    let mut out = Vec::new();
    for number in 1..=repay.count {
        let Some(due) = repay.period.after(start, number) else {
            break;
        };
        let principal_part = if number == repay.count {
            outstanding
        } else {
            part
        };
        let interest = round_div(
            i128::from(outstanding) * i128::from(rate_bp),
            10_000 * repay.period.per_year(),
        );
        out.push(Installment {
            number,
            due,
            principal: principal_part,
            interest,
        });
        outstanding -= principal_part;
    }
    out
}

/// `n / d` rounded to the nearest integer, halves away from zero (`d > 0`).
fn round_div(n: i128, d: i128) -> i64 {
    let q = (2 * n.abs() + d) / (2 * d);
    let q = if n < 0 { -q } else { q };
    i64::try_from(q).unwrap_or(i64::MAX)
}

// ----------------------------------------------- what proposals decide

/// What a support-fund request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FundKind {
    /// Lent at 0 %, repaid on a schedule.
    Loan,
    /// The fund stands surety; no money moves unless it is called.
    Guarantee,
    /// Paid out, not repaid.
    Grant,
    /// Paid out in an emergency, not repaid.
    Gift,
}

impl FundKind {
    /// Every kind.
    pub const ALL: [FundKind; 4] = [Self::Loan, Self::Guarantee, Self::Grant, Self::Gift];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loan => "loan",
            Self::Guarantee => "guarantee",
            Self::Grant => "grant",
            Self::Gift => "gift",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self, LedgerError> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| LedgerError::FundKind(s.to_owned()))
    }
}

/// A support-fund request: the text of a proposal of kind `fund`, whose
/// beneficiary is the proposing organisation.
///
/// ```text
/// fund request: loan
/// amount: 1500.00 EUR
/// repay: 12 x monthly
/// reason: <the rest, any number of lines>
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundRequest {
    /// Loan, guarantee, grant or gift.
    pub kind: FundKind,
    /// Cents.
    pub amount: i64,
    /// Currency code.
    pub currency: String,
    /// For a loan: how it is repaid.
    pub repay: Option<Repay>,
    /// Why.
    pub reason: String,
}

impl FundRequest {
    /// Checks a request before it is proposed.
    pub fn check(&self) -> Result<(), LedgerError> {
        if self.amount <= 0 {
            return Err(LedgerError::NotPositive);
        }
        if (self.kind == FundKind::Loan) != self.repay.is_some() {
            return Err(LedgerError::FundRepay);
        }
        if self.reason.trim().is_empty() {
            return Err(LedgerError::Reason);
        }
        if self.reason.chars().count() > MAX_NOTE {
            return Err(LedgerError::TooLong("the reason"));
        }
        Ok(())
    }

    /// The proposal's text.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "fund request: {}\namount: {} {}\n",
            self.kind.name(),
            format_cents(self.amount),
            self.currency
        );
        if let Some(r) = self.repay {
            text += &format!("repay: {}\n", r.name());
        }
        text + "reason: " + self.reason.trim()
    }

    /// Reads a proposal's text; `None` if it is not a well-formed request
    /// (a modified client's proposal then decides nothing).
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let kind = FundKind::parse(lines.next()?.strip_prefix("fund request: ")?).ok()?;
        let (amount, currency) = lines.next()?.strip_prefix("amount: ")?.split_once(' ')?;
        let mut next = lines.next()?;
        let repay = match next.strip_prefix("repay: ") {
            Some(r) => {
                let r = Repay::parse(r).ok()?;
                next = lines.next()?;
                Some(r)
            }
            None => None,
        };
        let first = next.strip_prefix("reason: ")?;
        let rest: Vec<&str> = lines.collect();
        // Trimmed as `to_text` writes it, so that a request reads back to itself.
        let reason = std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned();
        let request = Self {
            kind,
            amount: parse_amount(amount).ok()?,
            currency: parse_currency(currency).ok().filter(|c| c == currency)?,
            repay,
            reason,
        };
        request.check().ok().map(|()| request)
    }
}

/// The alliance's fee tiers and each organisation's tier: the text of a
/// proposal of kind `fees`. Fees are yearly.
///
/// ```text
/// fees per year
/// tier small: 100.00 EUR
/// tier large: 500.00 EUR
/// org <organisation id>: large   # anything after '#' is a comment
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeeSchedule {
    /// Tier name → (cents per year, currency).
    pub tiers: BTreeMap<String, (i64, String)>,
    /// Organisation id → tier name.
    pub orgs: BTreeMap<String, String>,
}

impl FeeSchedule {
    /// Reads a schedule; every line must be well formed and every
    /// organisation's tier must exist.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let mut schedule = Self::default();
        let mut header = false;
        for (i, raw) in text.lines().enumerate() {
            let err = |what: &str| LedgerError::Fees {
                line: i + 1,
                what: what.to_owned(),
            };
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            if !header {
                if line != "fees per year" {
                    return Err(err("a fee schedule starts with 'fees per year'"));
                }
                header = true;
                continue;
            }
            let (left, right) = line
                .split_once(':')
                .ok_or_else(|| err("expected 'tier NAME: AMOUNT CURRENCY' or 'org ID: TIER'"))?;
            let right = right.trim();
            if let Some(name) = left.strip_prefix("tier ") {
                let name = name.trim();
                if !is_word(name) {
                    return Err(err(
                        "a tier's name is one word of letters, digits, '-' or '_'",
                    ));
                }
                let (amount, currency) = right.split_once(' ').unwrap_or((right, DEFAULT_CURRENCY));
                let amount = parse_amount(amount).map_err(|e| err(&e.to_string()))?;
                let currency = parse_currency(currency).map_err(|e| err(&e.to_string()))?;
                if schedule
                    .tiers
                    .insert(name.to_owned(), (amount, currency))
                    .is_some()
                {
                    return Err(err("this tier is named twice"));
                }
            } else if let Some(org) = left.strip_prefix("org ") {
                let org = org.trim();
                if !is_word(org) {
                    return Err(err("an organisation is named by its id"));
                }
                if !schedule.tiers.contains_key(right) {
                    return Err(err(&format!("no tier named '{right}' above")));
                }
                if schedule
                    .orgs
                    .insert(org.to_owned(), right.to_owned())
                    .is_some()
                {
                    return Err(err("this organisation is named twice"));
                }
            } else {
                return Err(err(
                    "expected 'tier NAME: AMOUNT CURRENCY' or 'org ID: TIER'",
                ));
            }
        }
        if !header {
            return Err(LedgerError::Fees {
                line: 1,
                what: "a fee schedule starts with 'fees per year'".into(),
            });
        }
        Ok(schedule)
    }

    /// The proposal's text; `name` gives each organisation's name for a
    /// comment.
    pub fn to_text(&self, name: &dyn Fn(&str) -> String) -> String {
        let mut text = String::from("fees per year\n");
        for (tier, (cents, currency)) in &self.tiers {
            text += &format!("tier {tier}: {} {currency}\n", format_cents(*cents));
        }
        for (org, tier) in &self.orgs {
            text += &format!("org {org}: {tier}   # {}\n", name(org));
        }
        text
    }
}

/// 1 to 64 letters, digits, `-` or `_`.
fn is_word(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// A passed proposal that the ledger reads (kinds `fund` and `fees`).
#[derive(Clone, Debug)]
pub struct Decision {
    /// The proposal's id.
    pub id: String,
    /// `fund` or `fees`.
    pub kind: String,
    /// The proposing organisation.
    pub org: String,
    /// Its text.
    pub text: String,
    /// When it passed, ms.
    pub decided_at: i64,
}

// ------------------------------------------------------------ the document

/// A payment, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Its id.
    pub id: String,
    /// Who paid (an organisation's id or [`FUND`]).
    pub payer: String,
    /// Who received it.
    pub payee: String,
    /// Cents.
    pub amount: i64,
    /// Currency code.
    pub currency: String,
    /// What it pays (`fee:2026`, `loan:<id>`, `fund:<proposal id>`, or
    /// free text).
    pub reference: String,
    /// A note.
    pub note: String,
    /// The recording organisation.
    pub recorded_by: String,
    /// When it was recorded, ms.
    pub at: i64,
    /// When the payer confirmed it, if it did.
    pub confirmed_at: Option<i64>,
}

/// A loan between members, offered and perhaps accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loan {
    /// Its id.
    pub id: String,
    /// The lending organisation.
    pub lender: String,
    /// The borrowing organisation.
    pub borrower: String,
    /// Cents.
    pub amount: i64,
    /// Currency code.
    pub currency: String,
    /// Yearly interest, basis points.
    pub rate_bp: i64,
    /// How it is repaid.
    pub repay: Repay,
    /// A note.
    pub note: String,
    /// When it was offered, ms.
    pub offered_at: i64,
    /// When the borrower accepted it, if it did.
    pub accepted_at: Option<i64>,
}

/// A new payment.
#[derive(Clone, Debug)]
pub struct NewPayment<'a> {
    /// Its id ([`crate::record_id`]).
    pub id: &'a str,
    /// Who paid.
    pub payer: &'a str,
    /// Who received it: the writer's organisation, or [`FUND`].
    pub payee: &'a str,
    /// Cents.
    pub amount: i64,
    /// Currency.
    pub currency: &'a str,
    /// What it pays.
    pub reference: &'a str,
    /// A note.
    pub note: &'a str,
    /// For the fund's receipts: the membership heads (hex, comma
    /// separated) under which the writer is a coordinator.
    pub under: Option<&'a str>,
}

/// A new loan offer.
#[derive(Clone, Debug)]
pub struct NewLoan<'a> {
    /// Its id ([`crate::record_id`]).
    pub id: &'a str,
    /// The borrowing organisation.
    pub borrower: &'a str,
    /// Cents.
    pub amount: i64,
    /// Currency.
    pub currency: &'a str,
    /// Yearly interest, basis points.
    pub rate_bp: i64,
    /// How it is repaid.
    pub repay: Repay,
    /// A note.
    pub note: &'a str,
}

/// The ledger document.
#[derive(Debug)]
pub struct Ledger {
    doc: SharedDoc,
}

impl Ledger {
    /// Wraps a ledger document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind().base(), DocKind::Ledger);
        Self { doc }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    fn root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("entries"))
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        let mut out: Vec<Payment> = self
            .root()
            .children()
            .into_iter()
            .filter(|(_, r)| r.string("kind") == "payment")
            .filter_map(|(id, r)| {
                let payer = r.str("payer")?;
                let confirmed_at = r
                    .child("confirmed")
                    .and_then(|c| c.child(&payer))
                    .and_then(|c| c.int("at"));
                Some(Payment {
                    id,
                    payee: r.str("payee")?,
                    amount: r.int("amount").filter(|a| (1..=MAX_CENTS).contains(a))?,
                    currency: r.str("currency")?,
                    reference: r.string("reference"),
                    note: r.string("note"),
                    recorded_by: r.str("org")?,
                    at: r.int("at")?,
                    confirmed_at,
                    payer,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        out
    }

    /// Every loan offer between members, oldest first.
    pub fn loans(&self) -> Vec<Loan> {
        let mut out: Vec<Loan> = self
            .root()
            .children()
            .into_iter()
            .filter(|(_, r)| r.string("kind") == "loan")
            .filter_map(|(id, r)| {
                let borrower = r.str("borrower")?;
                let accepted_at = r
                    .child("accepted")
                    .and_then(|c| c.child(&borrower))
                    .and_then(|c| c.int("at"));
                Some(Loan {
                    id,
                    lender: r.str("org")?,
                    amount: r.int("amount").filter(|a| (1..=MAX_CENTS).contains(a))?,
                    currency: r.str("currency")?,
                    rate_bp: r.int("rate_bp").filter(|r| (0..=MAX_RATE_BP).contains(r))?,
                    repay: Repay::parse(&r.string("repay")).ok()?,
                    note: r.string("note"),
                    offered_at: r.int("at")?,
                    accepted_at,
                    borrower,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.offered_at, &a.id).cmp(&(b.offered_at, &b.id)));
        out
    }

    /// One payment by id or id prefix.
    pub fn payment(&self, query: &str) -> Result<Payment, LedgerError> {
        let list = self.payments();
        let id = resolve(
            query,
            list.iter().map(|p| (p.id.as_str(), p.id.as_str())),
            "payment",
            "ledger",
        )?;
        list.into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| not_found("payment", &id))
    }

    /// One loan by id or id prefix.
    pub fn loan(&self, query: &str) -> Result<Loan, LedgerError> {
        let list = self.loans();
        let id = resolve(
            query,
            list.iter().map(|l| (l.id.as_str(), l.id.as_str())),
            "loan",
            "ledger",
        )?;
        list.into_iter()
            .find(|l| l.id == id)
            .ok_or_else(|| not_found("loan", &id))
    }

    /// Records a payment received by `author`'s organisation (or, for a
    /// coordinator, by the fund).
    pub fn record_payment(
        &mut self,
        author: &Author,
        now_ms: i64,
        new: &NewPayment<'_>,
    ) -> Result<(), LedgerError> {
        if new.amount <= 0 {
            return Err(LedgerError::NotPositive);
        }
        if new.amount > MAX_CENTS {
            return Err(LedgerError::Amount(format_cents(new.amount)));
        }
        if new.payer == new.payee {
            return Err(LedgerError::SameParty);
        }
        if new.payee == FUND && new.under.is_none() {
            return Err(LedgerError::NotCoordinator);
        }
        if new.payee != FUND && new.payee != author.org {
            return Err(LedgerError::NotPayee);
        }
        if new.note.chars().count() > MAX_NOTE {
            return Err(LedgerError::TooLong("the note"));
        }
        if new.reference.chars().count() > MAX_REFERENCE {
            return Err(LedgerError::TooLong("the reference"));
        }
        let currency = parse_currency(new.currency)?;
        let root = self.doc.root_obj("entries");
        let device = hex::encode(author.device);
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&root, new.id, ObjType::Map)?;
            tx.put(&obj, "kind", "payment")?;
            tx.put(&obj, "payer", new.payer)?;
            tx.put(&obj, "payee", new.payee)?;
            tx.put(&obj, "amount", ScalarValue::Int(new.amount))?;
            tx.put(&obj, "currency", currency.as_str())?;
            tx.put(&obj, "reference", new.reference.trim())?;
            tx.put(&obj, "note", new.note.trim())?;
            tx.put(&obj, "org", author.org.as_str())?;
            tx.put(&obj, "device", device.as_str())?;
            tx.put(&obj, "at", ScalarValue::Int(now_ms))?;
            if let Some(under) = new.under {
                tx.put(&obj, "under", under)?;
            }
            tx.put_object(&obj, "confirmed", ObjType::Map)?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "ledger payment");
        Ok(())
    }

    /// The payer confirms a payment (`under`: for the fund, the membership
    /// heads under which `author`'s organisation is a coordinator).
    pub fn confirm(
        &mut self,
        author: &Author,
        now_ms: i64,
        payment: &str,
        under: Option<&str>,
    ) -> Result<Payment, LedgerError> {
        let payment = self.payment(payment)?;
        let slot = if payment.payer == FUND {
            if under.is_none() {
                return Err(LedgerError::NotCoordinator);
            }
            FUND
        } else if payment.payer == author.org {
            author.org.as_str()
        } else {
            return Err(LedgerError::NotPayer(payment.payer));
        };
        let Some(map) = self
            .root()
            .child(&payment.id)
            .and_then(|r| r.child("confirmed"))
            .map(|r| r.obj().clone())
        else {
            return Err(not_found("payment", &payment.id));
        };
        let device = hex::encode(author.device);
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&map, slot, ObjType::Map)?;
            tx.put(&obj, "at", ScalarValue::Int(now_ms))?;
            tx.put(&obj, "device", device.as_str())?;
            if let Some(under) = under {
                tx.put(&obj, "under", under)?;
            }
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "ledger confirm");
        self.payment(&payment.id)
    }

    /// `author`'s organisation offers a loan.
    pub fn offer_loan(
        &mut self,
        author: &Author,
        now_ms: i64,
        new: &NewLoan<'_>,
    ) -> Result<(), LedgerError> {
        if new.amount <= 0 {
            return Err(LedgerError::NotPositive);
        }
        if new.borrower == author.org {
            return Err(LedgerError::SelfLoan);
        }
        if !(0..=MAX_RATE_BP).contains(&new.rate_bp) {
            return Err(LedgerError::Rate(format_rate(new.rate_bp)));
        }
        if new.note.chars().count() > MAX_NOTE {
            return Err(LedgerError::TooLong("the note"));
        }
        let currency = parse_currency(new.currency)?;
        let root = self.doc.root_obj("entries");
        let device = hex::encode(author.device);
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&root, new.id, ObjType::Map)?;
            tx.put(&obj, "kind", "loan")?;
            tx.put(&obj, "borrower", new.borrower)?;
            tx.put(&obj, "amount", ScalarValue::Int(new.amount))?;
            tx.put(&obj, "currency", currency.as_str())?;
            tx.put(&obj, "rate_bp", ScalarValue::Int(new.rate_bp))?;
            tx.put(&obj, "repay", new.repay.name())?;
            tx.put(&obj, "note", new.note.trim())?;
            tx.put(&obj, "org", author.org.as_str())?;
            tx.put(&obj, "device", device.as_str())?;
            tx.put(&obj, "at", ScalarValue::Int(now_ms))?;
            tx.put_object(&obj, "accepted", ObjType::Map)?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "ledger loan offer");
        Ok(())
    }

    /// The borrower accepts a loan.
    pub fn accept_loan(
        &mut self,
        author: &Author,
        now_ms: i64,
        loan: &str,
    ) -> Result<Loan, LedgerError> {
        let loan = self.loan(loan)?;
        if loan.borrower != author.org {
            return Err(LedgerError::NotBorrower);
        }
        if loan.accepted_at.is_some() {
            return Err(LedgerError::AlreadyAccepted);
        }
        let Some(map) = self
            .root()
            .child(&loan.id)
            .and_then(|r| r.child("accepted"))
            .map(|r| r.obj().clone())
        else {
            return Err(not_found("loan", &loan.id));
        };
        let device = hex::encode(author.device);
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&map, author.org.as_str(), ObjType::Map)?;
            tx.put(&obj, "at", ScalarValue::Int(now_ms))?;
            tx.put(&obj, "device", device.as_str())?;
            Ok(())
        };
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "ledger loan accept");
        self.loan(&loan.id)
    }
}

fn not_found(what: &'static str, id: &str) -> LedgerError {
    LookupError::NotFound {
        what,
        query: id.to_owned(),
        list: "ledger",
    }
    .into()
}

// ------------------------------------------------------------ the statement

/// Something one party owes another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obligation {
    /// Who pays.
    pub debtor: String,
    /// Who receives.
    pub creditor: String,
    /// Cents.
    pub amount: i64,
    /// Currency code.
    pub currency: String,
    /// When it is due, ms.
    pub due: i64,
    /// What payments settle it.
    pub reference: String,
    /// In words: `fee 2026`, `installment 3 of 12`, `payout`.
    pub what: String,
    /// Cents paid against it: the payments of its reference, payer, payee
    /// and currency settle that reference's obligations earliest due first.
    pub paid: i64,
}

/// One party's position in one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// An organisation's id, or [`FUND`].
    pub party: String,
    /// Currency code.
    pub currency: String,
    /// Everything it received, cents.
    pub received: i64,
    /// Everything it paid, cents.
    pub paid: i64,
    /// Received minus paid.
    pub balance: i64,
    /// Due by now and not yet paid.
    pub owes: i64,
    /// Due to it by now and not yet received.
    pub is_owed: i64,
}

/// One organisation's fee for one year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fee {
    /// The organisation.
    pub org: String,
    /// The year.
    pub year: i32,
    /// Its tier.
    pub tier: String,
    /// Cents owed for the year.
    pub amount: i64,
    /// Currency code.
    pub currency: String,
    /// Cents paid against it.
    pub paid: i64,
}

/// A support-fund request that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundAward {
    /// The proposal.
    pub proposal: String,
    /// The beneficiary organisation.
    pub org: String,
    /// What it asked for.
    pub request: FundRequest,
    /// When it passed, ms.
    pub decided_at: i64,
}

/// Everything the ledger says at one moment.
#[derive(Clone, Debug, Default)]
pub struct Statement {
    /// Every obligation, due or not, by due date.
    pub obligations: Vec<Obligation>,
    /// Fees per organisation and year.
    pub fees: Vec<Fee>,
    /// Support-fund requests that passed.
    pub awards: Vec<FundAward>,
    /// Per party and currency, parties sorted.
    pub balances: Vec<Balance>,
}

fn paid_against(payments: &[Payment], debtor: &str, creditor: &str, reference: &str) -> i64 {
    payments
        .iter()
        .filter(|p| p.payer == debtor && p.payee == creditor && p.reference == reference)
        .map(|p| p.amount)
        .sum()
}

/// The reference of a loan's payments.
pub fn loan_reference(loan: &str) -> String {
    format!("loan:{loan}")
}

/// The reference of a fund award's payments.
pub fn fund_reference(proposal: &str) -> String {
    format!("fund:{proposal}")
}

/// The reference of a year's fees.
pub fn fee_reference(year: i32) -> String {
    format!("fee:{year}")
}

/// The obligations of a loan of `amount` from `lender` to `borrower` that
/// started at `start`.
#[allow(clippy::too_many_arguments)]
fn loan_obligations(
    out: &mut Vec<Obligation>,
    lender: &str,
    borrower: &str,
    amount: i64,
    currency: &str,
    rate_bp: i64,
    repay: Repay,
    start: i64,
    reference: &str,
) {
    out.push(Obligation {
        debtor: lender.to_owned(),
        creditor: borrower.to_owned(),
        amount,
        currency: currency.to_owned(),
        due: start,
        reference: reference.to_owned(),
        what: "payout".into(),
        paid: 0,
    });
    for i in installments(amount, rate_bp, repay, start) {
        out.push(Obligation {
            debtor: borrower.to_owned(),
            creditor: lender.to_owned(),
            amount: i.principal + i.interest,
            currency: currency.to_owned(),
            due: i.due,
            reference: reference.to_owned(),
            what: format!("installment {} of {}", i.number, repay.count),
            paid: 0,
        });
    }
}

/// The ledger's statement at `now_ms`: from the payments and loans of the
/// ledger document, the passed `fund` and `fees` proposals, and the
/// organisations now active. See the module's documentation for the rules.
pub fn statement(
    payments: &[Payment],
    loans: &[Loan],
    decisions: &[Decision],
    active_orgs: &[String],
    now_ms: i64,
) -> Statement {
    let mut obligations = Vec::new();
    for loan in loans {
        if let Some(start) = loan.accepted_at {
            loan_obligations(
                &mut obligations,
                &loan.lender,
                &loan.borrower,
                loan.amount,
                &loan.currency,
                loan.rate_bp,
                loan.repay,
                start,
                &loan_reference(&loan.id),
            );
        }
    }
    let mut decisions: Vec<&Decision> = decisions.iter().collect();
    decisions.sort_by(|a, b| (a.decided_at, &a.id).cmp(&(b.decided_at, &b.id)));
    // The support fund.
    let mut awards = Vec::new();
    for d in decisions.iter().filter(|d| d.kind == "fund") {
        let Some(request) = FundRequest::parse(&d.text) else {
            continue;
        };
        let reference = fund_reference(&d.id);
        match (request.kind, request.repay) {
            (FundKind::Loan, Some(repay)) => loan_obligations(
                &mut obligations,
                FUND,
                &d.org,
                request.amount,
                &request.currency,
                0,
                repay,
                d.decided_at,
                &reference,
            ),
            (FundKind::Grant | FundKind::Gift, _) => obligations.push(Obligation {
                debtor: FUND.into(),
                creditor: d.org.clone(),
                amount: request.amount,
                currency: request.currency.clone(),
                due: d.decided_at,
                reference,
                what: "payout".into(),
                paid: 0,
            }),
            _ => {}
        }
        awards.push(FundAward {
            proposal: d.id.clone(),
            org: d.org.clone(),
            request,
            decided_at: d.decided_at,
        });
    }
    // Fees, year by year.
    let schedules: Vec<(i32, FeeSchedule)> = decisions
        .iter()
        .filter(|d| d.kind == "fees")
        .filter_map(|d| Some((year_of(d.decided_at)?, FeeSchedule::parse(&d.text).ok()?)))
        .collect();
    let mut fees = Vec::new();
    if let (Some((first, _)), Some(this_year)) = (schedules.first(), year_of(now_ms)) {
        for year in *first..=this_year {
            let Some((_, schedule)) = schedules.iter().rev().find(|(y, _)| *y <= year) else {
                continue;
            };
            let Some(due) = Utc
                .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
                .single()
                .map(|t| t.timestamp_millis())
            else {
                continue;
            };
            for (org, tier) in &schedule.orgs {
                let Some((amount, currency)) = schedule.tiers.get(tier) else {
                    continue;
                };
                if !active_orgs.contains(org) {
                    continue;
                }
                let reference = fee_reference(year);
                fees.push(Fee {
                    org: org.clone(),
                    year,
                    tier: tier.clone(),
                    amount: *amount,
                    currency: currency.clone(),
                    paid: paid_against(payments, org, FUND, &reference),
                });
                obligations.push(Obligation {
                    debtor: org.clone(),
                    creditor: FUND.into(),
                    amount: *amount,
                    currency: currency.clone(),
                    due,
                    reference,
                    what: format!("fee {year}"),
                    paid: 0,
                });
            }
        }
    }
    obligations.sort_by(|a, b| {
        (a.due, &a.reference, &a.debtor, &a.what).cmp(&(b.due, &b.reference, &b.debtor, &b.what))
    });
    // Balances: cash movements, then what is overdue per reference.
    let mut balances: BTreeMap<(String, String), Balance> = BTreeMap::new();
    fn entry<'m>(
        balances: &'m mut BTreeMap<(String, String), Balance>,
        party: &str,
        currency: &str,
    ) -> &'m mut Balance {
        balances
            .entry((party.to_owned(), currency.to_owned()))
            .or_insert_with(|| Balance {
                party: party.to_owned(),
                currency: currency.to_owned(),
                ..Balance::default()
            })
    }
    for p in payments {
        entry(&mut balances, &p.payee, &p.currency).received += p.amount;
        entry(&mut balances, &p.payer, &p.currency).paid += p.amount;
    }
    // Payments settle their reference's obligations, earliest due first.
    let mut left: BTreeMap<(&str, &str, &str, &str), i64> = BTreeMap::new();
    for p in payments {
        *left
            .entry((&p.payer, &p.payee, &p.reference, &p.currency))
            .or_default() += p.amount;
    }
    for o in &mut obligations {
        let key = (
            o.debtor.as_str(),
            o.creditor.as_str(),
            o.reference.as_str(),
            o.currency.as_str(),
        );
        if let Some(pool) = left.get_mut(&key) {
            o.paid = o.amount.min(*pool);
            *pool -= o.paid;
        }
    }
    for o in obligations.iter().filter(|o| o.due <= now_ms) {
        let unpaid = o.amount - o.paid;
        entry(&mut balances, &o.debtor, &o.currency).owes += unpaid;
        entry(&mut balances, &o.creditor, &o.currency).is_owed += unpaid;
    }
    let balances = balances
        .into_values()
        .map(|b| Balance {
            balance: b.received - b.paid,
            ..b
        })
        .collect();
    Statement {
        obligations,
        fees,
        awards,
        balances,
    }
}

fn year_of(ms: i64) -> Option<i32> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_and_print_exactly() {
        assert_eq!(parse_amount("1500.00"), Ok(150_000));
        assert_eq!(parse_amount("1500"), Ok(150_000));
        assert_eq!(parse_amount("0.5"), Ok(50));
        assert_eq!(parse_amount("12,30"), Ok(1_230));
        for bad in [
            "",
            "-1",
            "1.234",
            "1e3",
            "1.",
            ".5",
            "abc",
            "99999999999.00",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
        assert_eq!(format_cents(150_000), "1500.00");
        assert_eq!(format_cents(-1_230), "-12.30");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(parse_rate("1.5"), Ok(150));
        assert_eq!(format_rate(150), "1.5");
        assert_eq!(format_rate(0), "0");
    }

    #[test]
    fn installments_repay_the_principal_exactly() {
        let repay = Repay::parse("12 x monthly").unwrap();
        // 2026-01-31T10:00Z: months are added on the calendar.
        let start = 1_769_853_600_000;
        let list = installments(150_000, 0, repay, start);
        assert_eq!(list.len(), 12);
        assert_eq!(list.iter().map(|i| i.principal).sum::<i64>(), 150_000);
        assert!(
            list.iter()
                .all(|i| i.interest == 0 && i.principal == 12_500)
        );
        // 31 January + 1 month: the last day of February.
        let feb = Utc.timestamp_millis_opt(list[0].due).unwrap();
        assert_eq!((feb.month(), feb.day()), (2, 28));
        // 1000.00 at 6 % over 3 months: 5.00 on 1000.00, 3.33 on 666.67,
        // 1.67 on 333.34 (half a cent rounds away from zero).
        let list = installments(100_000, 600, Repay::parse("3 x monthly").unwrap(), start);
        let parts: Vec<(i64, i64)> = list.iter().map(|i| (i.principal, i.interest)).collect();
        assert_eq!(parts, vec![(33_333, 500), (33_333, 333), (33_334, 167)]);
    }

    #[test]
    fn fund_requests_and_fee_schedules_read_back() {
        let request = FundRequest {
            kind: FundKind::Loan,
            amount: 150_000,
            currency: "EUR".into(),
            repay: Some(Repay::parse("12 x monthly").unwrap()),
            reason: "new boiler\nbefore winter".into(),
        };
        assert_eq!(FundRequest::parse(&request.to_text()), Some(request));
        assert_eq!(
            FundRequest::parse("fund request: loan\namount: 1.00 EUR\nreason: x"),
            None
        );
        let text = "fees per year\ntier small: 100.00 EUR\ntier large: 500.00\norg abc: large # La Ruche\n";
        let fees = FeeSchedule::parse(text).unwrap();
        assert_eq!(fees.tiers["large"], (50_000, "EUR".into()));
        assert_eq!(FeeSchedule::parse(&fees.to_text(&|_| "x".into())), Ok(fees));
        assert!(FeeSchedule::parse("fees per year\norg abc: gold").is_err());
    }
}
