//! Commands that use the network without a running daemon: `join` and
//! `sync`. Each binds a short-lived endpoint with the device key, does its
//! work, and closes the endpoint before returning.

use std::time::Duration;

use entraide_membership::DeviceId;
use entraide_node::{Node, Ticket};
use iroh::{Endpoint, EndpointAddr, EndpointId, TransportAddr};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::NetError;
use crate::session::{self, Mode};
use crate::shared::{EndpointConfig, RelayChoice, Shared, bind_endpoint, close_endpoint};
use crate::wire::{JOIN_ALPN, JoinMsg, SYNC_ALPN, read_frame, write_frame};

pub use crate::SyncReport;

fn config_for(relay: Option<String>) -> EndpointConfig {
    EndpointConfig {
        listen: Some(std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        relay: relay.map_or(RelayChoice::Disabled, RelayChoice::Custom),
        mdns: false,
    }
}

async fn open(node: Node, relay: Option<String>) -> Result<(Shared, Endpoint), NetError> {
    let secret = node.secret_key_bytes();
    let shared = Shared::new(node);
    let endpoint = bind_endpoint(secret, &config_for(relay), None, Some(&shared)).await?;
    Ok((shared, endpoint))
}

/// Syncs both ways with every member device reachable within `timeout`.
pub async fn sync_once(node: Node, timeout: Duration) -> Result<SyncReport, NetError> {
    let relay = node.relay_url();
    let (shared, endpoint) = open(node, relay.clone()).await?;
    let peers = shared.with(|n| n.known_peers()).await?;
    let addrs = peers
        .into_iter()
        .filter_map(|(device, addrs)| peer_addr(&device, &addrs, relay.as_deref()))
        .collect();
    let report = sync_with(&shared, &endpoint, addrs, timeout).await;
    close_endpoint(&endpoint).await;
    Ok(report)
}

/// How to dial a peer: its known addresses and the alliance relay; `None`
/// when there is neither.
pub(crate) fn peer_addr(
    device: &DeviceId,
    addrs: &[std::net::SocketAddr],
    relay: Option<&str>,
) -> Option<EndpointAddr> {
    let id = EndpointId::from_bytes(&device.0).ok()?;
    let mut addr = EndpointAddr::from_parts(id, addrs.iter().copied().map(TransportAddr::Ip));
    if let Some(url) = relay.and_then(|r| r.parse().ok()) {
        addr = addr.with_relay_url(url);
    }
    (!addr.addrs.is_empty()).then_some(addr)
}

async fn sync_with(
    shared: &Shared,
    endpoint: &Endpoint,
    peers: Vec<EndpointAddr>,
    timeout: Duration,
) -> SyncReport {
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut pending = Vec::new();
    for addr in peers {
        let device = DeviceId(*addr.id.as_bytes());
        pending.push(device);
        let (shared, endpoint, cancel) = (shared.clone(), endpoint.clone(), cancel.clone());
        tasks.spawn(async move {
            let result = async {
                let conn = endpoint
                    .connect(addr, SYNC_ALPN)
                    .await
                    .map_err(|e| NetError::Unreachable(e.to_string()))?;
                session::run(shared, conn, true, Mode::OneShot, cancel).await
            }
            .await;
            (device, result)
        });
    }
    let mut report = SyncReport::default();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            biased;
            () = &mut deadline => {
                cancel.cancel();
                break;
            }
            next = tasks.join_next() => match next {
                None => break,
                Some(Ok((device, result))) => {
                    pending.retain(|d| *d != device);
                    match result {
                        Ok(()) => report.synced.push(device),
                        Err(e) => report.failed.push((device, e.to_string())),
                    }
                }
                Some(Err(_)) => {}
            }
        }
    }
    tasks.abort_all();
    // Peers still dialling or syncing when the time ran out.
    report.failed.extend(
        pending
            .into_iter()
            .map(|device| (device, "no answer within the timeout".to_owned())),
    );
    report
}

/// Where a join ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// A member, with every document.
    Joined(String),
    /// Waiting for the alliance's approvals: what it waits for.
    Pending(String),
}

/// Joins the alliance of `ticket`: asks the inviter for admission, then pulls
/// every document. With `wait`, asks again every two seconds while the
/// admission waits for approvals, until `timeout`.
pub async fn join(node: Node, ticket: &Ticket, timeout: Duration) -> Result<String, NetError> {
    match join_waiting(node, ticket, timeout, false).await? {
        JoinOutcome::Joined(name) => Ok(name),
        JoinOutcome::Pending(waiting) => Err(NetError::Unreachable(format!(
            "admission pending: {waiting}"
        ))),
    }
}

/// [`join`], reporting a pending admission instead of failing on it.
pub async fn join_waiting(
    node: Node,
    ticket: &Ticket,
    timeout: Duration,
    wait: bool,
) -> Result<JoinOutcome, NetError> {
    let request = node.join_request(ticket)?;
    let (shared, endpoint) = open(node, ticket.relay.clone()).await?;
    let addr = peer_addr(
        &DeviceId(ticket.inviter),
        &ticket.addrs,
        ticket.relay.as_deref(),
    )
    .ok_or_else(|| NetError::Refused("the ticket names no address and no relay".into()))?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let answer = tokio::time::timeout(
            left,
            ask_inviter(&endpoint, addr.clone(), JoinMsg::Request(request.clone())),
        )
        .await
        .map_err(|_| {
            NetError::Unreachable(
                "the inviter did not answer in time; is its `entraide serve` running?".into(),
            )
        })??;
        let (ops, waiting) = match answer {
            Some(JoinMsg::Admitted(ops)) => (ops, None),
            Some(JoinMsg::Pending(ops, waiting)) => (ops, Some(waiting)),
            Some(JoinMsg::Refused(reason)) => {
                close_endpoint(&endpoint).await;
                return Err(NetError::Refused(reason));
            }
            _ => {
                close_endpoint(&endpoint).await;
                return Err(NetError::Refused("the inviter sent no answer".into()));
            }
        };
        let ticket_copy = ticket.clone();
        let admitted = shared
            .with(move |n| n.accept_admission(&ticket_copy, &ops))
            .await??;
        if admitted {
            break;
        }
        let waiting = waiting.unwrap_or_else(|| "approvals".into());
        if !wait {
            close_endpoint(&endpoint).await;
            return Ok(JoinOutcome::Pending(waiting));
        }
        if tokio::time::Instant::now() + Duration::from_secs(2) > deadline {
            close_endpoint(&endpoint).await;
            return Err(NetError::Unreachable(format!(
                "still pending when the time ran out: {waiting}"
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    shared.refresh_members().await;
    let refused_before = shared.with(|n| n.refused_changes()).await?;
    let report = sync_with(
        &shared,
        &endpoint,
        vec![addr],
        deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(5)),
    )
    .await;
    let mut report = report;
    let refused = shared.with(|n| n.refused_changes()).await? > refused_before;
    if report.synced.is_empty() || refused {
        // The inviter did not answer, or sent what this node refuses (a
        // member's forbidden change: see `entraide audit`): fetch the
        // documents from the other members it told us about.
        let inviter = DeviceId(ticket.inviter);
        let relay = ticket.relay.clone();
        let others: Vec<EndpointAddr> = shared
            .with(|n| n.known_peers())
            .await?
            .into_iter()
            .filter(|(device, _)| *device != inviter)
            .filter_map(|(device, addrs)| peer_addr(&device, &addrs, relay.as_deref()))
            .collect();
        if !others.is_empty() {
            let more = sync_with(
                &shared,
                &endpoint,
                others,
                deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(Duration::from_secs(5)),
            )
            .await;
            report.synced.extend(more.synced);
        }
    }
    close_endpoint(&endpoint).await;
    if report.synced.is_empty() {
        let reason = report.failed.first().map_or_else(
            || "it did not answer in time".to_owned(),
            |(_, e)| e.clone(),
        );
        return Err(NetError::Unreachable(format!(
            "admitted, but the documents could not be fetched yet ({reason}); run `entraide sync`"
        )));
    }
    Ok(JoinOutcome::Joined(ticket.alliance_name.clone()))
}

async fn ask_inviter(
    endpoint: &Endpoint,
    addr: EndpointAddr,
    request: JoinMsg,
) -> Result<Option<JoinMsg>, NetError> {
    let conn = endpoint
        .connect(addr, JOIN_ALPN)
        .await
        .map_err(|e| NetError::Unreachable(format!("cannot reach the inviter: {e}")))?;
    let (mut send, mut recv) = conn.open_bi().await?;
    write_frame(&mut send, &request).await?;
    send.finish()
        .map_err(|e| NetError::Unreachable(e.to_string()))?;
    let reply = read_frame::<_, JoinMsg>(&mut recv).await?;
    conn.close(0u32.into(), b"joined");
    Ok(reply)
}
