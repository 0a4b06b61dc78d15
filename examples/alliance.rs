//! The main job of entraide, on a fresh machine: one member organisation's
//! node founds an alliance, writes the charter, shares its values, fills the
//! library and books a room, then shows what it holds, including what it
//! refused.
//!
//! Run: `cargo run --release --example alliance`. Everything happens in a
//! temporary home that is removed at the end; nothing touches the network.

use anyhow::Result;
use entraide_node::{Home, Node, Request};

fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let zone = chrono_tz::Europe::Brussels;
    let home = Home::new(dir.path().join("maison-medicale"));
    let mut node = Node::init(&home, "Maison médicale du Midi", zone)?;
    println!("device {} for 'Maison médicale du Midi'", node.device());

    let mut run = |request: Request| -> Result<serde_json::Value> {
        let reply = node.execute(request)?;
        Ok(reply.json)
    };

    run(Request::AllianceCreate {
        name: "Alliance solidaire de Saint-Gilles".into(),
        admission: "consensus".into(),
    })?;
    run(Request::CharterSet {
        text: "Charte de l'alliance\n\n1. Chaque membre garde son identité et son autonomie.\n\
               2. Les décisions stratégiques se prennent au consensus.\n"
            .into(),
    })?;
    run(Request::CharterSet {
        text: "Charte de l'alliance\n\n1. Chaque membre garde son identité et son autonomie.\n\
               2. Les décisions stratégiques se prennent au consensus.\n\
               3. Les ressources partagées sont réservées équitablement.\n"
            .into(),
    })?;
    let value = run(Request::ValuesAdd {
        name: "Solidarité".into(),
        description: "Nous partageons ce que nous avons.".into(),
    })?;
    run(Request::ValuesEndorse {
        value: value["id"].as_str().unwrap_or_default().into(),
    })?;
    run(Request::LibraryAdd {
        file_name: "profil-coordinateur.md".into(),
        bytes: b"# Profil de fonction: coordinateur\n\nMissions: ...\n".to_vec(),
        title: "Profil de fonction: coordinateur".into(),
        kind: "job-profile".into(),
        tags: vec!["rh".into()],
    })?;
    run(Request::ResourceAdd {
        name: "Salle Victor Horta".into(),
        kind: "room".into(),
        capacity: Some(20),
        location: Some("Rue Haute 12, Bruxelles".into()),
        quota: Some("10h/week".into()),
        approval: false,
    })?;
    run(Request::Book {
        resource: "Salle Victor Horta".into(),
        from: "2026-06-02T09:00".into(),
        to: "2026-06-02T12:00".into(),
        purpose: "Assemblée générale".into(),
        repeat: None,
        count: None,
    })?;
    run(Request::Book {
        resource: "Salle Victor Horta".into(),
        from: "2026-06-09T14:00".into(),
        to: "2026-06-09T16:00".into(),
        purpose: "Formation premiers secours".into(),
        repeat: Some("weekly".into()),
        count: Some(3),
    })?;
    let refused = node
        .execute(Request::Book {
            resource: "Salle Victor Horta".into(),
            from: "2026-06-02T11:00".into(),
            to: "2026-06-02T13:00".into(),
            purpose: String::new(),
            repeat: None,
            count: None,
        })
        .err();

    println!(
        "\n== charter ==\n{}",
        node.execute(Request::CharterShow)?.text
    );
    println!("== values ==\n{}", node.execute(Request::ValuesList)?.text);
    println!(
        "== library ==\n{}",
        node.execute(Request::LibraryList {
            kind: None,
            tag: None,
            search: None
        })?
        .text
    );
    println!(
        "== bookings ==\n{}",
        node.execute(Request::Bookings {
            resource: None,
            org: None
        })?
        .text
    );
    if let Some(e) = refused {
        println!("== refused, as it should be ==\n{e}\n");
    }
    println!("== status ==\n{}", node.execute(Request::Status)?.text);
    Ok(())
}
