//! Organisation profiles across member nodes: what one organisation says of
//! itself reaches the others, who find it by what it offers.

use entraide_tests::{Serve, TestHome, eventually, join};

#[test]
fn a_profile_reaches_the_other_members_who_find_it_by_what_it_offers() {
    let a = TestHome::founded("Asbl A");
    let _sa = Serve::start(&a);
    let b = join(&a, "Asbl B");
    let _sb = Serve::start(&b);
    a.ok(&[
        "org",
        "set",
        "--description",
        "Maison médicale à Forest",
        "--contact",
        "Ana, 02 555 00 00",
        "--offers",
        "salle",
        "--offers",
        "Comptabilité",
        "--tag",
        "Bruxelles",
    ]);
    b.ok(&["org", "set", "--needs", "comptabilité"]);
    eventually(20, "A's profile reaches B", || {
        b.json(&["org", "show", "Asbl A"])["description"] == "Maison médicale à Forest"
    });
    // B looks for who offers accounting, whatever the case it types.
    let found = b.json(&["org", "list", "--offers", "COMPTABILITÉ"]);
    let orgs: Vec<&str> = found
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["org"].as_str())
        .collect();
    assert_eq!(orgs, ["Asbl A"], "{found}");
    eventually(20, "B's needs reach A", || {
        a.json(&["org", "list", "--needs", "comptabilité"])
            .as_array()
            .is_some_and(|l| l.len() == 1 && l[0]["org"] == "Asbl B")
    });
    // An edit names only what changes; the rest stays.
    a.ok(&["org", "set", "--address", "Rue du Midi 1, 1190 Forest"]);
    eventually(20, "A's new address reaches B", || {
        let p = b.json(&["org", "show", "Asbl A"]);
        p["address"] == "Rue du Midi 1, 1190 Forest" && p["contact"] == "Ana, 02 555 00 00"
    });
    // Nothing to change is bad input, and changes nothing.
    a.fails(&["org", "set"], 2);
}
