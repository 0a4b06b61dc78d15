//! The daemon in-process, on loopback, relays off.

use std::time::Duration;

use chrono_tz::Tz;
use entraide_net::daemon::Daemon;
use entraide_net::wire::{JOIN_ALPN, JoinMsg, MAX_JOIN_REQUEST, SYNC_ALPN, decode};
use entraide_node::{Home, Node, Request, Ticket};
use iroh::endpoint::ConnectionError;
use iroh::{Endpoint, SecretKey};

mod common;
use common::{addr_of, loopback};

async fn founder(dir: &tempfile::TempDir) -> Daemon {
    let home = Home::new(dir.path().join("a"));
    let node = common::founder(&home, "A");
    Daemon::start(&home, node, loopback()).await.expect("start")
}

async fn outsider() -> Endpoint {
    common::client(SecretKey::from_bytes(&[42; 32])).await
}

/// The join protocol is open to anyone who knows the address: an announced
/// huge request is refused before any of it is read, and a dialler that
/// never sends its request is let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_protocol_bounds_what_outsiders_make_it_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = founder(&dir).await;
    let outsider = outsider().await;

    let conn = outsider
        .connect(addr_of(&a), JOIN_ALPN)
        .await
        .expect("handshake");
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let announced = u32::try_from(MAX_JOIN_REQUEST + 1).expect("small");
    send.write_all(&announced.to_le_bytes())
        .await
        .expect("write");
    send.write_all(&[0; 1024]).await.expect("write");
    let answer = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(1 << 16))
        .await
        .expect("answered at once")
        .expect("read");
    let reply: JoinMsg = decode(&answer[4..]).expect("a join reply");
    assert_eq!(reply, JoinMsg::Refused("join request too large".into()));

    let silent = outsider
        .connect(addr_of(&a), JOIN_ALPN)
        .await
        .expect("handshake");
    let (_send, _recv) = silent.open_bi().await.expect("stream");
    tokio::time::timeout(Duration::from_secs(30), silent.closed())
        .await
        .expect("a silent dialler is let go");
    outsider.close().await;
    a.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_gets_no_document_byte() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = founder(&dir).await;
    a.execute(Request::CharterSet {
        text: "secret plans of the alliance".into(),
    })
    .await
    .expect("set");
    let outsider = outsider().await;
    let conn = outsider
        .connect(addr_of(&a), SYNC_ALPN)
        .await
        .expect("handshake");
    // The member closes the connection right after the handshake: opening a
    // stream, writing or reading all fail, and nothing is ever read.
    if let Ok((mut send, mut recv)) = conn.open_bi().await {
        let _ = send.write_all(b"hello?").await;
        let read = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(1 << 20))
            .await
            .expect("answer in time");
        assert!(read.is_err(), "an outsider read {:?}", read);
    }
    match tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .expect("closed")
    {
        ConnectionError::ApplicationClosed(close) => assert_eq!(close.error_code.into_inner(), 403),
        other => panic!("unexpected close: {other:?}"),
    }
    outsider.close().await;
    a.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_member_receives_live_edits() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = founder(&dir).await;
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
    let ticket = Ticket::decode(&ticket).expect("decode");
    let home_b = Home::new(dir.path().join("b"));
    let node_b = Node::init(&home_b, "B", Tz::UTC).expect("init b");
    entraide_net::oneshot::join(node_b, &ticket, Duration::from_secs(10))
        .await
        .expect("join");
    let b = Daemon::start(
        &home_b,
        Node::open(&home_b, Tz::UTC).expect("open b"),
        loopback(),
    )
    .await
    .expect("start b");
    a.execute(Request::CharterSet {
        text: "live".into(),
    })
    .await
    .expect("set");
    let mut text = String::new();
    for _ in 0..100 {
        text = b.execute(Request::CharterShow).await.expect("show").json["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if text == "live" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(text, "live");
    b.stop().await.expect("stop b");
    a.stop().await.expect("stop a");
}
