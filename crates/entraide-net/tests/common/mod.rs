//! What the daemon's tests share: loopback daemons, members admitted
//! without a network, and a client endpoint of a device of one's own.

#![allow(dead_code)]

use chrono_tz::Tz;
use entraide_net::daemon::{Daemon, ServeConfig};
use entraide_net::shared::{EndpointConfig, RelayChoice};
use entraide_node::{Home, Node, Request, Ticket};
use iroh::endpoint::{PortmapperConfig, presets};
use iroh::{Endpoint, EndpointAddr, RelayMode, SecretKey};

/// A daemon on an ephemeral loopback port, relays and mDNS off.
pub fn loopback() -> ServeConfig {
    ServeConfig {
        endpoint: EndpointConfig {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            relay: RelayChoice::Disabled,
            mdns: false,
        },
    }
}

/// A node of `org` in `home` that founds an alliance under the coordinator
/// rule.
pub fn founder(home: &Home, org: &str) -> Node {
    let mut node = Node::init(home, org, Tz::UTC).expect("init");
    node.execute(Request::AllianceCreate {
        name: "Alliance".into(),
        admission: "coordinator".into(),
        process: None,
    })
    .expect("found");
    node
}

/// `a` invites `b`, which is admitted (no network).
pub fn admit(a: &mut Node, b: &mut Node) {
    let reply = a
        .execute(Request::Invite {
            role: "member".into(),
            expires: "1d".into(),
        })
        .expect("invite");
    let ticket = Ticket::decode(reply.json["ticket"].as_str().expect("ticket")).expect("decode");
    let request = b.join_request(&ticket).expect("request");
    let ops = a.admit(b.device(), &request).expect("admit");
    assert!(b.accept_admission(&ticket, ops.ops()).expect("accept"));
}

/// Where a daemon listens, as a client dials it.
pub fn addr_of(daemon: &Daemon) -> EndpointAddr {
    let id = iroh::EndpointId::from_bytes(&daemon.device().0).expect("id");
    EndpointAddr::from_parts(id, daemon.addrs().into_iter().map(iroh::TransportAddr::Ip))
}

/// An endpoint of the device `key` on loopback: a client of one's own,
/// speaking the protocols by hand.
pub async fn client(key: SecretKey) -> Endpoint {
    Endpoint::builder(presets::Minimal)
        .secret_key(key)
        .relay_mode(RelayMode::Disabled)
        .portmapper_config(PortmapperConfig::Disabled)
        .clear_ip_transports()
        .bind_addr("127.0.0.1:0")
        .expect("bind addr")
        .bind()
        .await
        .expect("bind")
}
