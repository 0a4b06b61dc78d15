//! The solidarity ledger as the command line asks for it: fees, support-fund
//! requests, loans between members, payments, the statement and its CSV
//! export. The ledger's rules live in `entraide_docs::ledger`; this module
//! only gathers what they need (the passed proposals, the membership, the
//! clock) and shapes the replies.

use entraide_docs::ledger::{
    self, Decision, FUND, FeeSchedule, FundKind, FundRequest, NewLoan, NewPayment, Repay,
    Statement, format_cents, format_rate, parse_amount, parse_currency, parse_rate,
};
use entraide_docs::proposals::Outcome;
use entraide_docs::time::format_time;
use entraide_docs::{DocKind, Shelf};
use entraide_membership::Role;
use entraide_store::WriteBatch;
use serde_json::{Value, json};

use crate::{Node, NodeError, Reply};

/// What `fees propose` changes in the schedule in force.
#[derive(Clone, Debug, Default)]
pub struct FeeChanges {
    /// `NAME=AMOUNT`: a tier, new or changed.
    pub tiers: Vec<String>,
    /// `ORG=TIER`: an organisation's tier (`ORG=none` takes it out).
    pub assign: Vec<String>,
    /// The currency of the tiers given.
    pub currency: Option<String>,
}

/// How a proposal opened by the ledger is decided.
#[derive(Clone, Debug, Default)]
pub struct Deciding {
    /// consent, consensus or majority (default: the alliance's).
    pub process: Option<String>,
    /// Its deadline (default: a week).
    pub deadline: Option<String>,
    /// A working group that decides it (its fund committee), in its own
    /// book; `None`: the alliance.
    pub group: Option<String>,
}

/// The book a ledger command reads or writes: the alliance's (every member
/// sees it), or a working group's (its members only: the group's fund,
/// and loans and payments between its members).
#[derive(Clone, Debug)]
pub(crate) struct Book {
    ledger: DocKind,
    group: Option<entraide_membership::GroupState>,
}

impl Node {
    fn is_coordinator(&self) -> bool {
        self.membership
            .state
            .orgs
            .get(&self.org_id)
            .is_some_and(|o| o.role == Role::Coordinator)
    }

    /// The membership heads this node holds, as a coordinator's act cites
    /// them.
    fn membership_heads_hex(&self) -> String {
        let heads: Vec<String> = self
            .membership
            .log
            .heads()
            .iter()
            .map(|h| h.to_hex())
            .collect();
        heads.join(",")
    }

    /// A party as the user typed it: `fund` or an organisation.
    fn resolve_party(&self, query: &str) -> Result<String, NodeError> {
        if query.trim().eq_ignore_ascii_case(FUND) {
            Ok(FUND.to_owned())
        } else {
            self.resolve_org(query)
        }
    }

    fn party_name(&self, party: &str) -> String {
        if party == FUND {
            FUND.to_owned()
        } else {
            self.org_display_name(party)
        }
    }

    /// The alliance's book, or the book of a group this organisation
    /// belongs to.
    pub(crate) fn book_of(&self, group: Option<&str>) -> Result<Book, NodeError> {
        Ok(match group {
            Some(g) => {
                let g = self.my_group(g)?;
                Book {
                    ledger: DocKind::group(g.id, Shelf::Ledger),
                    group: Some(g),
                }
            }
            None => Book {
                ledger: DocKind::Ledger,
                group: None,
            },
        })
    }

    /// The books this organisation sees: the alliance's, then its groups'.
    fn books(&self) -> Vec<Book> {
        let mut out = vec![Book {
            ledger: DocKind::Ledger,
            group: None,
        }];
        out.extend(self.my_groups().into_iter().map(|g| Book {
            ledger: DocKind::group(g.id, Shelf::Ledger),
            group: Some(g),
        }));
        out
    }

    /// The organisations a book is about: the alliance's active members, or
    /// the group's.
    fn book_orgs(&self, book: &Book) -> Vec<String> {
        match &book.group {
            Some(g) => g.orgs.iter().cloned().collect(),
            None => self.active_org_ids(),
        }
    }

    /// The proposals that decide for a book.
    fn book_proposals(
        &mut self,
        book: &Book,
    ) -> Result<Vec<entraide_docs::proposals::Proposal>, NodeError> {
        Ok(match &book.group {
            None => self.proposal_list()?,
            Some(g) => self
                .group_proposal_list()?
                .into_iter()
                .filter(|(gg, _)| gg.id == g.id)
                .map(|(_, p)| p)
                .collect(),
        })
    }

    /// A book's statement now, with the proposals it reads.
    fn statement(
        &mut self,
        book: &Book,
    ) -> Result<(Statement, Vec<entraide_docs::proposals::Proposal>), NodeError> {
        let proposals: Vec<_> = self
            .book_proposals(book)?
            .into_iter()
            .filter(|p| matches!(p.kind.as_str(), "fund" | "fees"))
            .collect();
        let decisions: Vec<Decision> = proposals
            .iter()
            .filter(|p| p.outcome == Outcome::Passed)
            .filter_map(|p| {
                Some(Decision {
                    id: p.id.clone(),
                    kind: p.kind.clone(),
                    org: p.created_by.clone(),
                    text: p.text.clone(),
                    decided_at: p.decided_at?,
                })
            })
            .collect();
        let orgs = self.book_orgs(book);
        let now = self.env.now_ms();
        let ledger = self.ledger_of(book.ledger)?;
        let statement =
            ledger::statement(&ledger.payments(), &ledger.loans(), &decisions, &orgs, now);
        Ok((statement, proposals))
    }

    /// The book a payment (id or prefix) is in.
    fn book_of_payment(&mut self, query: &str) -> Result<Book, NodeError> {
        let mut first = None;
        for book in self.books() {
            match self.ledger_of(book.ledger)?.payment(query) {
                Ok(_) => return Ok(book),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.map_or_else(
            || NodeError::Invalid(format!("no payment '{query}'")),
            Into::into,
        ))
    }

    /// The book a loan (id or prefix) is in.
    fn book_of_loan(&mut self, query: &str) -> Result<Book, NodeError> {
        let mut first = None;
        for book in self.books() {
            match self.ledger_of(book.ledger)?.loan(query) {
                Ok(_) => return Ok(book),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.map_or_else(
            || NodeError::Invalid(format!("no loan '{query}'")),
            Into::into,
        ))
    }

    /// The fee schedule in force (the last one passed), if any.
    fn fee_schedule(&mut self) -> Result<FeeSchedule, NodeError> {
        let alliance = Book {
            ledger: DocKind::Ledger,
            group: None,
        };
        Ok(self
            .statement(&alliance)?
            .1
            .into_iter()
            .filter(|p| p.kind == "fees" && p.outcome == Outcome::Passed)
            .max_by_key(|p| (p.decided_at, p.id.clone()))
            .and_then(|p| FeeSchedule::parse(&p.text).ok())
            .unwrap_or_default())
    }

    /// `fees`: what each organisation owes and has paid, year by year.
    pub(crate) fn fees(&mut self) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let schedule = self.fee_schedule()?;
        let alliance = self.book_of(None)?;
        let (mut statement, _) = self.statement(&alliance)?;
        statement
            .fees
            .sort_by_cached_key(|f| (f.year, self.org_display_name(&f.org), f.org.clone()));
        let mut text = String::new();
        for (tier, (cents, currency)) in &schedule.tiers {
            text += &format!("tier {tier}: {} {currency} a year\n", format_cents(*cents));
        }
        for f in &statement.fees {
            text += &format!(
                "{}  {}  {}: {} {} owed, {} paid\n",
                f.year,
                self.org_display_name(&f.org),
                f.tier,
                format_cents(f.amount),
                f.currency,
                format_cents(f.paid),
            );
        }
        if text.is_empty() {
            text = "no fees decided yet; propose a schedule with `entraide fees propose`".into();
        }
        let fees: Vec<Value> = statement
            .fees
            .iter()
            .map(|f| {
                json!({
                    "org": self.org_display_name(&f.org),
                    "org_id": f.org,
                    "year": f.year,
                    "period": f.year.to_string(),
                    "tier": f.tier,
                    "amount": format_cents(f.amount),
                    "amount_cents": f.amount,
                    "currency": f.currency,
                    "paid": format_cents(f.paid),
                    "paid_cents": f.paid,
                    "owes": format_cents((f.amount - f.paid).max(0)),
                    "owes_cents": (f.amount - f.paid).max(0),
                    "reference": ledger::fee_reference(f.year),
                })
            })
            .collect();
        let tiers: Vec<Value> = schedule
            .tiers
            .iter()
            .map(|(name, (cents, currency))| {
                json!({"tier": name, "amount": format_cents(*cents), "amount_cents": cents, "currency": currency})
            })
            .collect();
        let orgs: Vec<Value> = schedule
            .orgs
            .iter()
            .map(|(org, tier)| json!({"org": self.org_display_name(org), "org_id": org, "tier": tier}))
            .collect();
        Ok(Reply::new(
            json!({"tiers": tiers, "orgs": orgs, "fees": fees}),
            text.trim_end().to_owned(),
        ))
    }

    /// `fees propose`: opens a proposal of kind `fees` carrying the schedule
    /// in force with these changes.
    pub(crate) fn fees_propose(
        &mut self,
        changes: &FeeChanges,
        deciding: &Deciding,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let mut schedule = self.fee_schedule()?;
        let currency = parse_currency(changes.currency.as_deref().unwrap_or("EUR"))?;
        for tier in &changes.tiers {
            let (name, amount) = tier.split_once('=').ok_or_else(|| {
                NodeError::Invalid(format!(
                    "--tier '{tier}': write NAME=AMOUNT, like small=100.00"
                ))
            })?;
            let name = name.trim();
            if name == "none" {
                return Err(NodeError::Invalid(format!(
                    "--tier '{tier}': 'none' takes an organisation out; name the tier otherwise"
                )));
            }
            schedule
                .tiers
                .insert(name.to_owned(), (parse_amount(amount)?, currency.clone()));
        }
        for assign in &changes.assign {
            let (org, tier) = assign.split_once('=').ok_or_else(|| {
                NodeError::Invalid(format!(
                    "--org '{assign}': write ORG=TIER, like 'La Ruche=small'"
                ))
            })?;
            let org = self.resolve_org(org)?;
            let tier = tier.trim();
            if tier == "none" {
                schedule.orgs.remove(&org);
            } else if schedule.tiers.contains_key(tier) {
                schedule.orgs.insert(org, tier.to_owned());
            } else {
                return Err(NodeError::Invalid(format!(
                    "no tier named '{tier}'; add it with --tier {tier}=AMOUNT"
                )));
            }
        }
        if changes.tiers.is_empty() && changes.assign.is_empty() {
            return Err(NodeError::Invalid(
                "say what changes: --tier NAME=AMOUNT and --org ORG=TIER".into(),
            ));
        }
        let text = schedule.to_text(&|org| self.org_display_name(org));
        self.propose(
            "fees",
            "Fee schedule",
            &text,
            deciding.process.as_deref(),
            None,
            deciding.deadline.as_deref(),
            None,
            None,
        )
    }

    /// `fund request`: opens a proposal of kind `fund`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fund_request(
        &mut self,
        kind: &str,
        amount: &str,
        currency: Option<&str>,
        reason: &str,
        repay: Option<&str>,
        deciding: &Deciding,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let request = FundRequest {
            kind: FundKind::parse(kind)?,
            amount: parse_amount(amount)?,
            currency: parse_currency(currency.unwrap_or("EUR"))?,
            repay: repay.map(Repay::parse).transpose()?,
            reason: reason.trim().to_owned(),
        };
        request.check()?;
        let title = format!(
            "Support fund: {} of {} {}",
            request.kind.name(),
            format_cents(request.amount),
            request.currency
        );
        self.propose(
            "fund",
            &title,
            &request.to_text(),
            deciding.process.as_deref(),
            None,
            deciding.deadline.as_deref(),
            None,
            deciding.group.as_deref(),
        )
    }

    /// `loan offer`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn loan_offer(
        &mut self,
        org: &str,
        amount: &str,
        currency: Option<&str>,
        rate: &str,
        schedule: &str,
        note: &str,
        group: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let book = self.book_of(group)?;
        let borrower = self.resolve_org(org)?;
        if !self.book_orgs(&book).contains(&borrower) {
            return Err(NodeError::Invalid(format!(
                "{} is not an active member{}",
                self.org_display_name(&borrower),
                book.group
                    .as_ref()
                    .map(|g| format!(" of {}", g.name))
                    .unwrap_or_default()
            )));
        }
        let id = self.new_record_id()?;
        let (author, now) = (self.author(), self.env.now_ms());
        self.ledger_of(book.ledger)?.offer_loan(
            &author,
            now,
            &NewLoan {
                id: &id,
                borrower: &borrower,
                amount: parse_amount(amount)?,
                currency: &parse_currency(currency.unwrap_or("EUR"))?,
                rate_bp: parse_rate(rate)?,
                repay: Repay::parse(schedule)?,
                note,
            },
        )?;
        self.persist(book.ledger, WriteBatch::new())?;
        let loan = self.ledger_of(book.ledger)?.loan(&id)?;
        let text = format!(
            "{id}\noffered to {}; it becomes a loan when {} accepts it (`entraide loan accept {}`)",
            self.org_display_name(&borrower),
            self.org_display_name(&borrower),
            &id[..8]
        );
        Ok(Reply::new(self.loan_json(&loan, None), text))
    }

    /// `loan accept`.
    pub(crate) fn loan_accept(&mut self, loan: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (author, now) = (self.author(), self.env.now_ms());
        let book = self.book_of_loan(loan)?;
        let loan = self
            .ledger_of(book.ledger)?
            .accept_loan(&author, now, loan)?;
        self.persist(book.ledger, WriteBatch::new())?;
        let (statement, _) = self.statement(&book)?;
        let text = format!(
            "loan of {} {} from {} accepted; {} installment(s), the first due {}",
            format_cents(loan.amount),
            loan.currency,
            self.org_display_name(&loan.lender),
            loan.repay.count,
            statement
                .obligations
                .iter()
                .find(|o| o.reference == ledger::loan_reference(&loan.id)
                    && o.debtor == loan.borrower)
                .map_or_else(String::new, |o| format_time(o.due, self.zone)),
        );
        Ok(Reply::new(self.loan_json(&loan, Some(&statement)), text))
    }

    /// A reference as typed: `fee:2026`, `loan:<prefix>`, `fund:<prefix>`
    /// (prefixes resolved to full ids), or free text.
    fn resolve_reference(&mut self, reference: &str, book: &Book) -> Result<String, NodeError> {
        let reference = reference.trim();
        match reference.split_once(':') {
            Some(("loan", id)) => Ok(ledger::loan_reference(
                &self.ledger_of(book.ledger)?.loan(id)?.id,
            )),
            Some(("fund", id)) => {
                let proposals = match &book.group {
                    Some(g) => DocKind::group(g.id, Shelf::Proposals),
                    None => DocKind::Proposals,
                };
                let id = self.proposals_of(proposals)?.resolve(id)?;
                Ok(ledger::fund_reference(&id))
            }
            Some(("fee", year)) => match year.trim().parse::<i32>() {
                Ok(y) => Ok(ledger::fee_reference(y)),
                Err(_) => Err(NodeError::Invalid(format!(
                    "--for '{reference}': a year's fees are 'fee:2026'"
                ))),
            },
            _ => Ok(reference.to_owned()),
        }
    }

    /// `ledger record-payment`: a payment this organisation (or, `--to
    /// fund`, the fund) received.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_payment(
        &mut self,
        from: &str,
        to: Option<&str>,
        amount: &str,
        currency: Option<&str>,
        reference: Option<&str>,
        note: &str,
        group: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let book = self.book_of(group)?;
        let payer = self.resolve_party(from)?;
        if payer != FUND && book.group.is_some() && !self.book_orgs(&book).contains(&payer) {
            return Err(NodeError::Invalid(format!(
                "{} is not a member of the group",
                self.org_display_name(&payer)
            )));
        }
        let payee = match to {
            Some(to) => self.resolve_party(to)?,
            None => self.org_id.clone(),
        };
        let under = if payee == FUND {
            if !self.is_coordinator() {
                return Err(ledger::LedgerError::NotCoordinator.into());
            }
            Some(self.membership_heads_hex())
        } else {
            None
        };
        let reference = match reference {
            Some(r) => self.resolve_reference(r, &book)?,
            None => String::new(),
        };
        let id = self.new_record_id()?;
        let (author, now) = (self.author(), self.env.now_ms());
        let amount = parse_amount(amount)?;
        let currency = parse_currency(currency.unwrap_or("EUR"))?;
        self.ledger_of(book.ledger)?.record_payment(
            &author,
            now,
            &NewPayment {
                id: &id,
                payer: &payer,
                payee: &payee,
                amount,
                currency: &currency,
                reference: &reference,
                note,
                under: under.as_deref(),
            },
        )?;
        self.persist(book.ledger, WriteBatch::new())?;
        let payment = self.ledger_of(book.ledger)?.payment(&id)?;
        let text = format!(
            "{id}\n{} {currency} received by {} from {}",
            format_cents(amount),
            self.party_name(&payee),
            self.party_name(&payer)
        );
        Ok(Reply::new(self.payment_json(&payment), text))
    }

    /// `ledger confirm`: the payer confirms a payment.
    pub(crate) fn confirm_payment(&mut self, payment: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let under = self.is_coordinator().then(|| self.membership_heads_hex());
        let (author, now) = (self.author(), self.env.now_ms());
        let book = self.book_of_payment(payment)?;
        let payment =
            self.ledger_of(book.ledger)?
                .confirm(&author, now, payment, under.as_deref())?;
        self.persist(book.ledger, WriteBatch::new())?;
        let text = format!(
            "payment of {} {} to {} confirmed",
            format_cents(payment.amount),
            payment.currency,
            self.party_name(&payment.payee)
        );
        Ok(Reply::new(self.payment_json(&payment), text))
    }

    /// `ledger`: balances, loans and their schedules, the fund, payments.
    pub(crate) fn ledger_show(&mut self, group: Option<&str>) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let book = self.book_of(group)?;
        let (statement, proposals) = self.statement(&book)?;
        let now = self.env.now_ms();
        let payments = self.ledger_of(book.ledger)?.payments();
        let loans = self.ledger_of(book.ledger)?.loans();
        let balances: Vec<Value> = statement
            .balances
            .iter()
            .map(|b| {
                json!({
                    "party": self.party_name(&b.party),
                    "party_id": b.party,
                    "currency": b.currency,
                    "received": format_cents(b.received),
                    "paid": format_cents(b.paid),
                    "balance": format_cents(b.balance),
                    "balance_cents": b.balance,
                    "owes": format_cents(b.owes),
                    "owes_cents": b.owes,
                    "is_owed": format_cents(b.is_owed),
                    "is_owed_cents": b.is_owed,
                })
            })
            .collect();
        let requests: Vec<Value> = proposals
            .iter()
            .filter(|p| p.kind == "fund")
            .filter_map(|p| {
                let r = FundRequest::parse(&p.text)?;
                let reference = ledger::fund_reference(&p.id);
                Some(json!({
                    "proposal": p.id,
                    "org": self.org_display_name(&p.created_by),
                    "org_id": p.created_by,
                    "kind": r.kind.name(),
                    "amount": format_cents(r.amount),
                    "amount_cents": r.amount,
                    "currency": r.currency,
                    "repay": r.repay.map(|x| x.name()),
                    "reason": r.reason,
                    "status": p.outcome.name(),
                    "decided_at": p.decided_at.map(|t| format_time(t, self.zone)),
                    "reference": reference,
                    "schedule": self.schedule_json(&statement, &reference),
                }))
            })
            .collect();
        let mut visible_to: Vec<String> = self
            .book_orgs(&book)
            .iter()
            .map(|o| self.org_display_name(o))
            .collect();
        visible_to.sort();
        let json = json!({
            "group": book.group.as_ref().map(|g| g.name.clone()),
            "visible_to": visible_to,
            "balances": balances,
            "fund": {
                "balances": statement.balances.iter().filter(|b| b.party == FUND).map(|b| json!({
                    "currency": b.currency, "balance": format_cents(b.balance), "balance_cents": b.balance,
                })).collect::<Vec<_>>(),
                "requests": requests,
            },
            "loans": loans.iter().map(|l| self.loan_json(l, Some(&statement))).collect::<Vec<_>>(),
            "payments": payments.iter().map(|p| self.payment_json(p)).collect::<Vec<_>>(),
            "obligations": statement.obligations.iter().map(|o| json!({
                "debtor": self.party_name(&o.debtor),
                "creditor": self.party_name(&o.creditor),
                "amount": format_cents(o.amount),
                "amount_cents": o.amount,
                "paid": format_cents(o.paid),
                "currency": o.currency,
                "due": format_time(o.due, self.zone),
                "overdue": o.due <= now && o.paid < o.amount,
                "reference": o.reference,
                "what": o.what,
            })).collect::<Vec<_>>(),
        });
        let mut text = String::from("balances (received - paid; owes: due and unpaid):\n");
        for b in &statement.balances {
            text += &format!(
                "  {:<24} {:>12} {}   owes {}   is owed {}\n",
                self.party_name(&b.party),
                format_cents(b.balance),
                b.currency,
                format_cents(b.owes),
                format_cents(b.is_owed),
            );
        }
        for p in proposals.iter().filter(|p| p.kind == "fund") {
            if let Some(r) = FundRequest::parse(&p.text) {
                text += &format!(
                    "fund request {}: {} {} {} for {}, {}{}\n",
                    &p.id[..8],
                    r.kind.name(),
                    format_cents(r.amount),
                    r.currency,
                    self.org_display_name(&p.created_by),
                    p.outcome.name(),
                    r.repay
                        .map(|x| format!(", {}", x.name()))
                        .unwrap_or_default(),
                );
            }
        }
        for l in &loans {
            text += &format!(
                "loan {}: {} {} from {} to {} at {} %, {}, {}\n",
                &l.id[..8],
                format_cents(l.amount),
                l.currency,
                self.org_display_name(&l.lender),
                self.org_display_name(&l.borrower),
                format_rate(l.rate_bp),
                l.repay.name(),
                if l.accepted_at.is_some() {
                    "accepted"
                } else {
                    "offered"
                },
            );
        }
        for p in &payments {
            text += &format!(
                "payment {}: {} {} {} -> {} ({}){}\n",
                &p.id[..8],
                format_cents(p.amount),
                p.currency,
                self.party_name(&p.payer),
                self.party_name(&p.payee),
                if p.reference.is_empty() {
                    "-"
                } else {
                    &p.reference
                },
                if p.confirmed_at.is_some() {
                    ", confirmed"
                } else {
                    ""
                },
            );
        }
        Ok(Reply::new(json, text.trim_end().to_owned()))
    }

    /// `ledger export --format csv`: every payment, one row each.
    pub(crate) fn ledger_export(&mut self, group: Option<&str>) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let book = self.book_of(group)?;
        let payments = self.ledger_of(book.ledger)?.payments();
        let mut csv = csv::Writer::from_writer(Vec::new());
        let header = [
            "date",
            "id",
            "payer",
            "payee",
            "amount",
            "currency",
            "reference",
            "note",
            "recorded_by",
            "confirmed",
        ];
        let rows = std::iter::once(header.map(String::from)).chain(payments.iter().map(|p| {
            [
                format_time(p.at, self.zone),
                p.id.clone(),
                self.party_name(&p.payer),
                self.party_name(&p.payee),
                format_cents(p.amount),
                p.currency.clone(),
                p.reference.clone(),
                p.note.clone(),
                self.org_display_name(&p.recorded_by),
                p.confirmed_at.is_some().to_string(),
            ]
        }));
        for row in rows {
            csv.write_record(&row)
                .map_err(|e| NodeError::io("write", "the ledger export", e))?;
        }
        let bytes = csv
            .into_inner()
            .map_err(|e| NodeError::io("write", "the ledger export", e))?;
        let mut reply = Reply::new(
            json!({"payments": payments.len()}),
            format!("{} payment(s) exported", payments.len()),
        );
        reply.file = Some(bytes);
        Ok(reply)
    }

    fn payment_json(&self, p: &ledger::Payment) -> Value {
        json!({
            "id": p.id,
            "date": format_time(p.at, self.zone),
            "payer": self.party_name(&p.payer),
            "payer_id": p.payer,
            "payee": self.party_name(&p.payee),
            "payee_id": p.payee,
            "amount": format_cents(p.amount),
            "amount_cents": p.amount,
            "currency": p.currency,
            "reference": p.reference,
            "note": p.note,
            "recorded_by": self.org_display_name(&p.recorded_by),
            "confirmed": p.confirmed_at.is_some(),
        })
    }

    /// The obligations of one reference, as a schedule.
    fn schedule_json(&self, statement: &Statement, reference: &str) -> Vec<Value> {
        statement
            .obligations
            .iter()
            .filter(|o| o.reference == reference)
            .map(|o| {
                json!({
                    "what": o.what,
                    "from": self.party_name(&o.debtor),
                    "to": self.party_name(&o.creditor),
                    "due": format_time(o.due, self.zone),
                    "amount": format_cents(o.amount),
                    "amount_cents": o.amount,
                    "paid": format_cents(o.paid),
                    "paid_cents": o.paid,
                    "settled": o.paid >= o.amount,
                })
            })
            .collect()
    }

    fn loan_json(&self, l: &ledger::Loan, statement: Option<&Statement>) -> Value {
        let reference = ledger::loan_reference(&l.id);
        json!({
            "id": l.id,
            "lender": self.org_display_name(&l.lender),
            "lender_id": l.lender,
            "borrower": self.org_display_name(&l.borrower),
            "borrower_id": l.borrower,
            "amount": format_cents(l.amount),
            "amount_cents": l.amount,
            "currency": l.currency,
            "rate": format_rate(l.rate_bp),
            "repay": l.repay.name(),
            "note": l.note,
            "offered_at": format_time(l.offered_at, self.zone),
            "status": if l.accepted_at.is_some() { "accepted" } else { "offered" },
            "accepted_at": l.accepted_at.map(|t| format_time(t, self.zone)),
            "reference": reference,
            "schedule": statement.map(|s| self.schedule_json(s, &reference)).unwrap_or_default(),
        })
    }
}
