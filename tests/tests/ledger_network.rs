//! The solidarity ledger across member nodes (`entraide serve` processes):
//! fees and a support-fund loan decided by votes, payments recorded by the
//! organisations that received them, a loan between members accepted by
//! its borrower, a partition, and the treasurers' CSV export.

use std::process::Command;

use entraide_tests::{Serve, TestHome, eventually, join};
use serde_json::Value;

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

/// Every proposal reaches every node, then each organisation agrees.
fn everyone_agrees(homes: &[&TestHome], proposal: &str) {
    for h in homes {
        eventually(20, "the proposal reaches every node", || {
            h.run(&["vote", proposal, "agree"]).code == 0
        });
    }
    for h in homes {
        eventually(20, "the proposal passes everywhere", || {
            h.json(&["proposals"])
                .as_array()
                .and_then(|l| l.iter().find(|p| p["id"] == proposal))
                .is_some_and(|p| p["status"] == "passed")
        });
    }
}

/// A party's balance row in one currency.
fn balance(ledger: &Value, party: &str) -> Value {
    ledger["balances"]
        .as_array()
        .and_then(|b| {
            b.iter()
                .find(|b| b["party"] == party && b["currency"] == "EUR")
        })
        .cloned()
        .unwrap_or(Value::Null)
}

/// The ledger without the reader's local times (the same data reads alike).
fn ledger(home: &TestHome) -> Value {
    home.json(&["ledger"])
}

#[test]
fn fees_a_fund_loan_and_a_loan_between_members_read_alike_on_every_node() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let sb = Serve::start(&b);
    let c = join(&a, "Asbl C");
    let sc = Serve::start(&c);
    let all = [&a, &b, &c];
    for h in all {
        eventually(20, "three members everywhere", || {
            h.json(&["status"])["members"] == 3
        });
    }

    // Fees: tiers and each organisation's tier, decided together.
    let fees = a.ok(&[
        "fees",
        "propose",
        "--tier",
        "small=100.00",
        "--tier",
        "large=500.00",
        "--org",
        "Asbl A=large",
        "--org",
        "Asbl B=small",
        "--org",
        "Asbl C=small",
        "--process",
        "consensus",
    ]);
    let fees_id = fees
        .stdout
        .lines()
        .next()
        .expect("the proposal's id")
        .to_owned();
    everyone_agrees(&all, &fees_id);
    for h in all {
        let owed: Vec<(String, String)> = h.json(&["fees"])["fees"]
            .as_array()
            .expect("fees")
            .iter()
            .map(|f| {
                (
                    f["org"].as_str().unwrap_or_default().to_owned(),
                    f["amount"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            owed,
            [
                ("Asbl A".to_owned(), "500.00".to_owned()),
                ("Asbl B".to_owned(), "100.00".to_owned()),
                ("Asbl C".to_owned(), "100.00".to_owned()),
            ],
            "each organisation owes its tier for this year"
        );
    }
    let year = a.json(&["fees"])["fees"][0]["year"]
        .as_i64()
        .expect("a year");

    // B asks the support fund for a loan; the alliance votes it.
    let request = b.ok(&[
        "fund",
        "request",
        "--kind",
        "loan",
        "--amount",
        "1500.00",
        "--reason",
        "Une chaudière avant l'hiver",
        "--repay",
        "12 x monthly",
        "--process",
        "consensus",
    ]);
    let fund_id = request.stdout.lines().next().expect("an id").to_owned();
    everyone_agrees(&all, &fund_id);
    let schedules: Vec<Value> = all
        .iter()
        .map(|h| ledger(h)["fund"]["requests"][0]["schedule"].clone())
        .collect();
    let schedule = schedules[0].as_array().expect("a schedule");
    assert_eq!(schedule.len(), 13, "a payout, then 12 installments");
    assert_eq!(schedule[0]["from"], "fund");
    assert_eq!(schedule[0]["to"], "Asbl B");
    let repaid: i64 = schedule[1..]
        .iter()
        .map(|i| i["amount_cents"].as_i64().expect("cents"))
        .sum();
    assert_eq!(repaid, 150_000, "the installments repay 1500.00 exactly");
    assert!(
        schedules.iter().all(|s| *s == schedules[0]),
        "the same schedule on every node: {schedules:?}"
    );

    // Payments, each recorded by the organisation that received it.
    let reference = format!("fund:{fund_id}");
    b.ok(&[
        "ledger",
        "record-payment",
        "--from",
        "fund",
        "--amount",
        "1500.00",
        "--for",
        &reference,
    ]);
    let repayment = id_of(&a.json(&[
        "ledger",
        "record-payment",
        "--to",
        "fund",
        "--from",
        "Asbl B",
        "--amount",
        "125.00",
        "--for",
        &reference,
    ]));
    a.ok(&[
        "ledger",
        "record-payment",
        "--to",
        "fund",
        "--from",
        "Asbl C",
        "--amount",
        "100.00",
        "--for",
        &format!("fee:{year}"),
    ]);
    // The wrong organisation cannot record a payment: C did not receive
    // it, and C is no coordinator to record the fund's receipts.
    let wrong = c.fails(
        &[
            "ledger",
            "record-payment",
            "--from",
            "Asbl B",
            "--to",
            "Asbl A",
            "--amount",
            "50.00",
        ],
        2,
    );
    assert!(wrong.stderr.contains("received"), "{}", wrong.stderr);
    c.fails(
        &[
            "ledger",
            "record-payment",
            "--from",
            "Asbl B",
            "--to",
            "fund",
            "--amount",
            "50.00",
        ],
        2,
    );
    // Only the payer confirms.
    eventually(20, "A's record of B's repayment reaches B and C", || {
        [&b, &c]
            .iter()
            .all(|h| h.run(&["ledger"]).stdout.contains(&repayment[..8]))
    });
    c.fails(&["ledger", "confirm", &repayment], 2);
    b.ok(&["ledger", "confirm", &repayment]);

    // A loan between members, accepted by its borrower, then a partition.
    let loan = id_of(&a.json(&[
        "loan",
        "offer",
        "Asbl C",
        "--amount",
        "1000.00",
        "--rate",
        "2",
        "--schedule",
        "4 x quarterly",
    ]));
    b.fails(&["loan", "accept", &loan], 2);
    eventually(20, "the offer reaches C, which accepts it", || {
        c.run(&["loan", "accept", &loan]).code == 0
    });
    sb.stop();
    sc.stop();
    // Apart: C records the payout it received, B pays its fee to... the
    // fund's treasurer, A, who records it.
    c.ok(&[
        "ledger",
        "record-payment",
        "--from",
        "Asbl A",
        "--amount",
        "1000.00",
        "--for",
        &format!("loan:{}", &loan[..8]),
    ]);
    a.ok(&[
        "ledger",
        "record-payment",
        "--to",
        "fund",
        "--from",
        "Asbl B",
        "--amount",
        "100.00",
        "--for",
        &format!("fee:{year}"),
    ]);
    let _sb = Serve::start(&b);
    let _sc = Serve::start(&c);
    for h in all {
        eventually(30, "five payments everywhere", || {
            ledger(h)["payments"].as_array().map(Vec::len) == Some(5)
        });
    }
    eventually(20, "the same ledger on every node", || {
        let l = ledger(&a);
        ledger(&b) == l && ledger(&c) == l
    });

    let l = ledger(&a);
    // Cash: the fund received 125 + 100 + 100 and paid out 1500.
    assert_eq!(balance(&l, "fund")["balance"], "-1175.00", "{l}");
    assert_eq!(balance(&l, "Asbl B")["balance"], "1275.00", "{l}");
    // Fees still due: A's 500.00; B and C paid theirs.
    assert_eq!(balance(&l, "Asbl A")["owes"], "500.00", "{l}");
    assert_eq!(balance(&l, "Asbl C")["owes"], "0.00", "{l}");
    let payments = l["payments"].as_array().expect("payments");
    assert!(
        payments
            .iter()
            .any(|p| p["id"] == repayment.as_str() && p["confirmed"] == true),
        "B's confirmation shows everywhere: {l}"
    );
    let member_loan = l["loans"]
        .as_array()
        .and_then(|ls| ls.iter().find(|x| x["id"] == loan.as_str()))
        .expect("the loan");
    assert_eq!(member_loan["status"], "accepted");
    // 1000.00 at 2 % over four quarters: 5.00, 3.75, 2.50, 1.25 interest.
    let interest: Vec<&str> = member_loan["schedule"]
        .as_array()
        .expect("a schedule")
        .iter()
        .skip(1)
        .map(|i| i["amount"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(interest, ["255.00", "253.75", "252.50", "251.25"]);

    // The treasurers' CSV parses with Python's csv module and sums to the
    // balances shown.
    for h in all {
        let out = h.scratch().join("ledger.csv");
        h.ok(&[
            "ledger",
            "export",
            "--format",
            "csv",
            "--out",
            out.to_str().expect("utf-8 path"),
        ]);
        let script = r#"
import csv, json, sys
from decimal import Decimal
net = {}
with open(sys.argv[1], newline="") as f:
    for row in csv.DictReader(f):
        amount = Decimal(row["amount"])
        net[row["payee"]] = net.get(row["payee"], Decimal(0)) + amount
        net[row["payer"]] = net.get(row["payer"], Decimal(0)) - amount
print(json.dumps({k: "%.2f" % v for k, v in net.items()}))
"#;
        let run = Command::new("python3")
            .args(["-c", script, out.to_str().expect("path")])
            .output()
            .expect("python3 runs");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let sums: Value = serde_json::from_slice(&run.stdout).expect("json");
        let shown = ledger(h);
        let balances = shown["balances"].as_array().expect("balances");
        assert_eq!(sums.as_object().map(|m| m.len()), Some(balances.len()));
        for b in balances {
            let party = b["party"].as_str().expect("a party");
            assert_eq!(sums[party], b["balance"], "{party}: {sums} vs {shown}");
        }
    }
}
