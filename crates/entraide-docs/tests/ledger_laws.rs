//! Property tests of the ledger's laws (see the `ledger` module docs).
//!
//! (a) Amounts survive every round trip without rounding: typed, stored in
//!     a document, saved, loaded, printed and typed again.
//! (b) A loan's installments repay its principal exactly, interest is never
//!     negative, and a 0 % loan carries none.
//! (c) Nodes that record payments, offer and accept loans apart, then merge
//!     in any order, compute the same statement; merging twice changes
//!     nothing.
//! (d) Money is conserved: per currency, the balances of all parties sum to
//!     zero, and `owes` of all parties equals `is_owed` of all parties.

use entraide_docs::ledger::{
    self, Decision, FUND, FundKind, FundRequest, MAX_CENTS, NewLoan, NewPayment, Repay,
    format_cents, installments, parse_amount,
};
use entraide_docs::{Author, DocKind, Ledger, SharedDoc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const NODES: usize = 3;
const BASE_DEVICE: [u8; 32] = [0xEE; 32];

fn author(node: usize) -> Author {
    Author {
        device: [u8::try_from(node).unwrap() + 1; 32],
        org: format!("org-{node}"),
    }
}

fn org(i: usize) -> String {
    author(i % NODES).org
}

#[derive(Clone, Debug)]
enum Act {
    /// This node's organisation received `cents` from `from` (another node's
    /// organisation, or the fund when `from == NODES`).
    Receive { from: usize, cents: i64, on: u8 },
    /// Offers a loan to another node's organisation.
    Offer {
        to: usize,
        cents: i64,
        rate_bp: i64,
        count: u32,
    },
    /// Accepts the `which`-th loan it can see offered to it.
    Accept { which: Index },
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => (0..=NODES, 1i64..1_000_000, 0u8..3).prop_map(|(from, cents, on)| Act::Receive { from, cents, on }),
        1 => (0..NODES, 1i64..5_000_000, 0i64..1_000, 1u32..24)
            .prop_map(|(to, cents, rate_bp, count)| Act::Offer { to, cents, rate_bp, count }),
        1 => any::<Index>().prop_map(|which| Act::Accept { which }),
    ]
}

fn run(ledger: &mut Ledger, node: usize, step: usize, act: &Act) {
    let a = author(node);
    let now = 1_800_000_000_000 + i64::try_from(step).unwrap() * 86_400_000;
    let id = entraide_docs::record_id(
        [u8::try_from(step % 256).unwrap(), 1, 2, 3, 4, 5, 6, 7],
        &a.device,
    );
    // Refusals (paying oneself, lending to oneself) change nothing.
    let _ = match *act {
        Act::Receive { from, cents, on } => {
            let payer = if from == NODES {
                FUND.to_owned()
            } else {
                org(from)
            };
            let reference = match on {
                0 => "fee:2027".to_owned(),
                1 => ledger
                    .loans()
                    .first()
                    .map(|l| ledger::loan_reference(&l.id))
                    .unwrap_or_default(),
                _ => ledger::fund_reference("p1"),
            };
            ledger.record_payment(
                &a,
                now,
                &NewPayment {
                    id: &id,
                    payer: &payer,
                    payee: &a.org,
                    amount: cents,
                    currency: "EUR",
                    reference: &reference,
                    note: "",
                    under: None,
                },
            )
        }
        Act::Offer {
            to,
            cents,
            rate_bp,
            count,
        } => ledger.offer_loan(
            &a,
            now,
            &NewLoan {
                id: &id,
                borrower: &org(to),
                amount: cents,
                currency: "EUR",
                rate_bp,
                repay: Repay::parse(&format!("{count} x monthly")).unwrap(),
                note: "",
            },
        ),
        Act::Accept { which } => {
            let mine: Vec<_> = ledger
                .loans()
                .into_iter()
                .filter(|l| l.borrower == a.org && l.accepted_at.is_none())
                .collect();
            if mine.is_empty() {
                Ok(())
            } else {
                ledger
                    .accept_loan(&a, now, &mine[which.index(mine.len())].id)
                    .map(|_| ())
            }
        }
    };
}

fn decisions() -> Vec<Decision> {
    let request = FundRequest {
        kind: FundKind::Loan,
        amount: 150_000,
        currency: "EUR".into(),
        repay: Some(Repay::parse("12 x monthly").unwrap()),
        reason: "boiler".into(),
    };
    vec![
        Decision {
            id: "p1".into(),
            kind: "fund".into(),
            org: org(1),
            text: request.to_text(),
            decided_at: 1_800_000_000_000,
        },
        Decision {
            id: "p2".into(),
            kind: "fees".into(),
            org: org(0),
            text: format!(
                "fees per year\ntier small: 100.00 EUR\norg {}: small\norg {}: small\n",
                org(0),
                org(2)
            ),
            decided_at: 1_800_000_000_000,
        },
    ]
}

type Seen = (
    Vec<ledger::Balance>,
    Vec<ledger::Obligation>,
    Vec<ledger::Fee>,
);

fn seen(ledger: &Ledger, now: i64) -> Seen {
    let orgs: Vec<String> = (0..NODES).map(org).collect();
    let s = ledger::statement(
        &ledger.payments(),
        &ledger.loans(),
        &decisions(),
        &orgs,
        now,
    );
    (s.balances, s.obligations, s.fees)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn amounts_survive_every_round_trip(cents in 1i64..=MAX_CENTS) {
        let typed = format_cents(cents);
        prop_assert_eq!(parse_amount(&typed), Ok(cents));
        let mut ledger = Ledger::new(SharedDoc::new(DocKind::Ledger, BASE_DEVICE));
        let a = author(0);
        let id = entraide_docs::record_id([1; 8], &a.device);
        ledger.record_payment(&a, 1, &NewPayment {
            id: &id, payer: &org(1), payee: &a.org, amount: cents, currency: "EUR",
            reference: "", note: "", under: None,
        }).unwrap();
        let bytes = ledger.doc_mut().save();
        let loaded = Ledger::new(SharedDoc::load(DocKind::Ledger, author(1).device, [&bytes[..]]).unwrap());
        let back = loaded.payments()[0].amount;
        prop_assert_eq!(back, cents);
        prop_assert_eq!(parse_amount(&format_cents(back)), Ok(cents));
    }

    #[test]
    fn proposal_texts_from_any_member_read_back_or_are_refused(
        lines in vec(prop_oneof![
            Just("fees per year".to_owned()),
            "tier [a-z#:]{1,6}: [0-9]{0,6}([.,][0-9]{0,3})? ?[A-Za-z]{0,4}",
            "org [a-z0-9 #]{0,8}: [a-z]{0,6}( # .{0,6})?",
            "fund request: (loan|gift|grant|guarantee|x)",
            "amount: [0-9]{0,12}([.][0-9]{0,3})? (EUR|eur|CHF|E)",
            "repay: [0-9]{0,4} ?x ?(monthly|weekly|quarterly|yearly|daily)",
            "reason: .{0,12}",
            ".{0,20}",
        ], 0..8),
    ) {
        let text = lines.join("\n");
        if let Some(request) = FundRequest::parse(&text) {
            prop_assert_eq!(FundRequest::parse(&request.to_text()), Some(request));
        }
        if let Ok(fees) = ledger::FeeSchedule::parse(&text) {
            let written = fees.to_text(&|o| o.to_owned());
            prop_assert_eq!(ledger::FeeSchedule::parse(&written), Ok(fees));
        }
    }

    #[test]
    fn installments_repay_the_principal_exactly(
        principal in 1i64..=MAX_CENTS,
        rate_bp in 0i64..=10_000,
        count in 1u32..=600,
        period in 0usize..4,
        start in 0i64..4_000_000_000_000,
    ) {
        let period = ["weekly", "monthly", "quarterly", "yearly"][period];
        let repay = Repay::parse(&format!("{count} x {period}")).unwrap();
        let list = installments(principal, rate_bp, repay, start);
        prop_assert_eq!(list.len(), count as usize);
        prop_assert_eq!(list.iter().map(|i| i.principal).sum::<i64>(), principal);
        prop_assert!(list.iter().all(|i| i.interest >= 0 && i.principal >= 0));
        prop_assert!(list.windows(2).all(|w| w[0].due < w[1].due));
        if rate_bp == 0 {
            prop_assert!(list.iter().all(|i| i.interest == 0));
        }
    }

    #[test]
    fn nodes_apart_compute_the_same_statement(
        first in vec(vec(act(), 0..5), NODES),
        gossip in vec((any::<Index>(), any::<Index>()), 0..4),
        second in vec(vec(act(), 0..4), NODES),
        order in any::<Index>(),
        now_days in 0i64..800,
    ) {
        let base = Ledger::new(SharedDoc::new(DocKind::Ledger, BASE_DEVICE));
        let mut base = base;
        let bytes = base.doc_mut().save();
        let mut docs: Vec<Ledger> = (0..NODES)
            .map(|n| Ledger::new(SharedDoc::load(DocKind::Ledger, author(n).device, [&bytes[..]]).unwrap()))
            .collect();
        let mut step = 0;
        for (n, acts) in first.iter().enumerate() {
            for a in acts {
                step += 1;
                run(&mut docs[n], n, step, a);
            }
        }
        for (x, y) in &gossip {
            let (x, y) = (x.index(NODES), y.index(NODES));
            if x != y {
                let mut other = docs[y].doc_mut().fork();
                docs[x].doc_mut().merge(&mut other).unwrap();
            }
        }
        for (n, acts) in second.iter().enumerate() {
            for a in acts {
                step += 1;
                run(&mut docs[n], n, step, a);
            }
        }
        let start = order.index(NODES);
        for i in 0..NODES {
            let from = (start + i) % NODES;
            let mut other = docs[from].doc_mut().fork();
            for (n, d) in docs.iter_mut().enumerate() {
                if n != from {
                    d.doc_mut().merge(&mut other).unwrap();
                }
            }
        }
        for i in 0..NODES {
            let mut other = docs[i].doc_mut().fork();
            docs[0].doc_mut().merge(&mut other).unwrap();
        }
        let all = docs[0].doc_mut().save();
        for d in &mut docs[1..] {
            d.doc_mut().load_incremental(&all).unwrap();
        }
        let now = 1_800_000_000_000 + now_days * 86_400_000;
        let s = seen(&docs[0], now);
        // (c)
        for d in &docs[1..] {
            prop_assert_eq!(&seen(d, now), &s);
        }
        let mut again = docs[1].doc_mut().fork();
        docs[0].doc_mut().merge(&mut again).unwrap();
        prop_assert_eq!(&seen(&docs[0], now), &s);
        // (d)
        let (balances, _, _) = &s;
        prop_assert_eq!(balances.iter().map(|b| b.balance).sum::<i64>(), 0);
        prop_assert_eq!(
            balances.iter().map(|b| b.owes).sum::<i64>(),
            balances.iter().map(|b| b.is_owed).sum::<i64>()
        );
        prop_assert!(balances.iter().all(|b| b.owes >= 0 && b.is_owed >= 0));
    }
}
