//! The main job of entraide: three member organisations of an alliance, each
//! with its own node, syncing directly with each other (no server).
//!
//! The founder invites the two others; the three coordinators edit the
//! charter at the same moment; two of them book the same room at the same
//! hour; one shares a file. Then the example prints what each node holds,
//! side by side: the same charter, the same verdict on the double booking,
//! the same library.
//!
//! Run: `cargo run --release --example alliance`. Everything happens in
//! temporary homes, over loopback, relays and mDNS off; nothing leaves this
//! machine.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use entraide_net::daemon::{Daemon, ServeConfig};
use entraide_net::shared::{EndpointConfig, RelayChoice};
use entraide_node::{Home, Node, Request, Ticket};
use serde_json::Value;

const ZONE: chrono_tz::Tz = chrono_tz::Europe::Brussels;

fn loopback() -> ServeConfig {
    ServeConfig {
        endpoint: EndpointConfig {
            listen: Some(([127, 0, 0, 1], 0).into()),
            relay: RelayChoice::Disabled,
            mdns: false,
        },
    }
}

async fn json(node: &Daemon, request: Request) -> Result<Value> {
    Ok(node.execute(request).await?.json)
}

async fn join(founder: &Daemon, home: &Home, org: &str) -> Result<Daemon> {
    let ticket = json(
        founder,
        Request::Invite {
            role: "member".into(),
            expires: "1h".into(),
        },
    )
    .await?;
    let ticket = Ticket::decode(ticket["ticket"].as_str().context("no ticket")?)?;
    let node = Node::init(home, org, ZONE)?;
    entraide_net::oneshot::join(node, &ticket, Duration::from_secs(20)).await?;
    Ok(Daemon::start(home, Node::open(home, ZONE)?, loopback()).await?)
}

/// Waits until every node answers `request` with the same JSON `pick`ed.
async fn converge(
    nodes: &[&Daemon],
    request: Request,
    pick: impl Fn(&Value) -> Value,
) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut answers = Vec::new();
        for n in nodes {
            answers.push(pick(&json(n, request.clone()).await?));
        }
        if answers.windows(2).all(|w| w[0] == w[1]) {
            return Ok(answers.remove(0));
        }
        if Instant::now() > deadline {
            bail!("the nodes did not converge: {answers:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let homes =
        ["maison-medicale", "groupe-terre", "collectif-5c"].map(|h| Home::new(dir.path().join(h)));

    let mut founder_node = Node::init(&homes[0], "Maison médicale du Midi", ZONE)?;
    founder_node.execute(Request::AllianceCreate {
        name: "Alliance solidaire de Saint-Gilles".into(),
        admission: "coordinator".into(),
        process: None,
    })?;
    let a = Daemon::start(&homes[0], founder_node, loopback()).await?;
    let b = join(&a, &homes[1], "Groupe Terre").await?;
    let c = join(&a, &homes[2], "Collectif 5C").await?;
    let nodes = [&a, &b, &c];
    println!(
        "three member nodes: {}, {}, {}",
        a.device(),
        b.device(),
        c.device()
    );

    // The charter as the founder drafts it, then three edits at once.
    let draft = "Charte\n\n1. Chaque membre garde son autonomie.\n\n2. Nous décidons ensemble.\n";
    json(&a, Request::CharterSet { text: draft.into() }).await?;
    converge(&nodes, Request::CharterShow, |v| v["text"].clone()).await?;
    let (ra, rb, rc) = tokio::join!(
        a.execute(Request::CharterSet {
            text: draft.replace("Charte\n", "Charte de l'alliance\n"),
        }),
        b.execute(Request::CharterSet {
            text: draft.replace("son autonomie.", "son identité et son autonomie."),
        }),
        c.execute(Request::CharterSet {
            text: draft.replace("ensemble.", "ensemble, au consensus."),
        }),
    );
    ra?;
    rb?;
    rc?;

    // A room, and two members booking the same hour at the same moment.
    json(
        &a,
        Request::ResourceAdd {
            name: "Salle Victor Horta".into(),
            kind: "room".into(),
            capacity: Some(20),
            location: Some("Rue Haute 12".into()),
            quota: None,
            approval: false,
            hours: None,
            group: None,
        },
    )
    .await?;
    converge(&nodes, Request::ResourceList, |v| {
        v.as_array().map_or(0, Vec::len).into()
    })
    .await?;
    let slot = |purpose: &str| Request::Book {
        resource: "Salle Victor Horta".into(),
        from: "2026-06-02T09:00".into(),
        to: "2026-06-02T12:00".into(),
        purpose: purpose.into(),
        repeat: None,
        count: None,
        until: None,
    };
    let (rb, rc) = tokio::join!(
        b.execute(slot("Assemblée générale")),
        c.execute(slot("Formation"))
    );
    for r in [rb, rc] {
        if let Err(e) = r {
            println!("(a booking was refused at once: {e})");
        }
    }

    // A file shared by one member, for every member.
    json(
        &b,
        Request::LibraryAdd {
            file_name: "profil-coordinateur.md".into(),
            bytes: b"# Profil de fonction: coordinateur\n".to_vec(),
            title: "Profil de fonction: coordinateur".into(),
            kind: "job-profile".into(),
            tags: vec!["rh".into()],
            group: None,
        },
    )
    .await?;

    let charter = converge(&nodes, Request::CharterShow, |v| v["text"].clone()).await?;
    let bookings = converge(
        &nodes,
        Request::Bookings {
            resource: None,
            org: None,
            from: None,
            to: None,
        },
        |v| {
            Value::Array(
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| serde_json::json!([b["org"], b["purpose"], b["status"]]))
                    .collect(),
            )
        },
    )
    .await?;
    converge(
        &nodes,
        Request::LibraryList {
            kind: None,
            tag: None,
            search: None,
        },
        |v| {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|e| e["available"].clone())
                .collect()
        },
    )
    .await?;

    println!(
        "\n== the charter, identical on all three nodes ==\n{}",
        charter.as_str().unwrap_or_default()
    );
    println!("== side by side ==");
    println!(
        "{:<26} {:<17} {:<48} library",
        "node", "members", "double booking"
    );
    for (name, node) in ["Maison médicale du Midi", "Groupe Terre", "Collectif 5C"]
        .iter()
        .zip(nodes)
    {
        let members = json(node, Request::MemberList)
            .await?
            .as_array()
            .map_or(0, Vec::len);
        let list = json(
            node,
            Request::Bookings {
                resource: None,
                org: None,
                from: None,
                to: None,
            },
        )
        .await?;
        let verdict: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                format!(
                    "{} {}",
                    b["org"].as_str().unwrap_or("?"),
                    b["status"].as_str().unwrap_or("?")
                )
            })
            .collect();
        let library = json(
            node,
            Request::LibraryList {
                kind: None,
                tag: None,
                search: None,
            },
        )
        .await?;
        let files: Vec<String> = library
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} ({})",
                    e["title"].as_str().unwrap_or("?"),
                    if e["available"] == true {
                        "here"
                    } else {
                        "missing"
                    }
                )
            })
            .collect();
        println!(
            "{name:<26} {:<17} {:<48} {}",
            format!("{members} organisations"),
            verdict.join(", "),
            files.join(", ")
        );
    }
    println!("\nbookings as every node sees them: {bookings}");

    for node in [c, b, a] {
        node.stop().await?;
    }
    Ok(())
}
