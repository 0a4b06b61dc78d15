//! Second thoughts on shared values, across member nodes: the proposing
//! organisation corrects a value's wording, and an organisation withdraws
//! its endorsement.

use entraide_tests::{Serve, TestHome, eventually, join};
use serde_json::Value;

fn value(home: &TestHome) -> Value {
    home.json(&["values", "list"])[0].clone()
}

#[test]
fn a_value_is_reworded_by_its_proposer_and_an_endorsement_withdrawn() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    let id = a
        .ok(&["values", "add", "Solidarité", "--description", "On partage"])
        .stdout
        .trim()
        .to_owned();
    eventually(20, "the value reaches B", || value(&b)["id"] == id.as_str());
    b.ok(&["values", "endorse", &id]);
    eventually(20, "B's endorsement reaches A", || {
        value(&a)["endorsed_by"].as_array().map(Vec::len) == Some(2)
    });
    // Only the proposer corrects the wording.
    b.fails(&["values", "edit", &id, "--description", "Autre chose"], 2);
    a.ok(&[
        "values",
        "edit",
        &id,
        "--description",
        "Nous partageons ce que nous avons",
    ]);
    eventually(
        20,
        "the new wording reaches B, with whose endorsement predates it",
        || {
            let v = value(&b);
            v["description"] == "Nous partageons ce que nous avons"
                && v["endorsed_earlier_wording"] == serde_json::json!(["Asbl B"])
        },
    );
    // B withdraws its endorsement; A sees only its own.
    b.ok(&["values", "withdraw", &id]);
    eventually(20, "the withdrawal reaches A", || {
        value(&a)["endorsed_by"] == serde_json::json!(["Asbl A"])
    });
    b.fails(&["values", "withdraw", &id], 2);
}
