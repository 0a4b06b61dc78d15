//! Through the alliance's own relay: a relay server started by the test on
//! loopback (plain HTTP), and a newcomer that knows the inviter only by its
//! key and the relay's URL.

use std::net::Ipv4Addr;
use std::time::Duration;

use chrono_tz::Tz;
use entraide_net::daemon::{Daemon, ServeConfig};
use entraide_net::shared::{EndpointConfig, RelayChoice};
use entraide_node::{Home, Node, Request, Ticket};
use iroh_relay::server::{RelayConfig, Server, ServerConfig};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_joins_and_syncs_through_the_relay() {
    let mut config = ServerConfig::default();
    config.relay = Some(RelayConfig::new((Ipv4Addr::LOCALHOST, 0)));
    let relay = Server::spawn(config).await.expect("relay");
    let url = format!("http://{}", relay.http_addr().expect("http addr"));

    let dir = tempfile::tempdir().expect("tmp");
    let home_a = Home::new(dir.path().join("a"));
    let node = common::founder(&home_a, "A");
    let serve = |relay: &str| ServeConfig {
        endpoint: EndpointConfig {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            relay: RelayChoice::Custom(relay.to_owned()),
            mdns: false,
        },
    };
    let a = Daemon::start(&home_a, node, serve(&url))
        .await
        .expect("start a");
    a.execute(Request::CharterSet {
        text: "relayed charter".into(),
    })
    .await
    .expect("set");
    let ticket = a
        .execute(Request::Invite {
            role: "member".into(),
            expires: "1h".into(),
        })
        .await
        .expect("invite")
        .json["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    let mut ticket = Ticket::decode(&ticket).expect("decode");
    assert_eq!(ticket.relay.as_deref(), Some(url.as_str()));
    // The newcomer knows no address of A: only its key and the relay.
    ticket.addrs.clear();

    let home_b = Home::new(dir.path().join("b"));
    Node::init(&home_b, "B", Tz::UTC).expect("init b");
    let mut joined = None;
    // A reaches its home relay in the background: give it a few tries.
    for _ in 0..10 {
        let node_b = Node::open(&home_b, Tz::UTC).expect("open b");
        match entraide_net::oneshot::join(node_b, &ticket, Duration::from_secs(5)).await {
            Ok(name) => {
                joined = Some(name);
                break;
            }
            Err(e) => {
                eprintln!("join through the relay not yet possible: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    assert_eq!(joined.as_deref(), Some("Alliance"));
    let mut b = Node::open(&home_b, Tz::UTC).expect("open b");
    let text = b.execute(Request::CharterShow).expect("show").json["text"].clone();
    assert_eq!(text, "relayed charter");
    a.stop().await.expect("stop");
    relay.shutdown().await.expect("relay shutdown");
}
