//! `entraide serve`: the node running on the network until it is told to stop.
//!
//! One task owns nothing but spawns children in a `JoinSet`: the iroh router
//! (sync and join protocols), the peer dialer (keeps a session with every
//! member device it can reach, with back-off), and the local control socket
//! through which other `entraide` commands on the same home reach the node.
//! Cancelling the token stops them all; the router closes connections and the
//! endpoint; the socket file is removed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use entraide_membership::DeviceId;
use entraide_node::{Admission, ErrorReply, Home, JoinRequest, Node, Request};
use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh::{Endpoint, EndpointAddr, EndpointId, TransportAddr};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::session::{self, Mode};
use crate::shared::{
    CLOSE_WAIT, EndpointConfig, RelayChoice, Shared, bind_endpoint, reachable_addrs,
};
use crate::wire::{
    FrameError, JOIN_ALPN, JOIN_REQUEST_TIMEOUT, JoinMsg, MAX_JOIN_REQUEST, SYNC_ALPN,
    read_frame_at_most, write_frame,
};
use crate::{NetError, SyncReport};

/// A running node: its endpoint and shared state.
pub struct Daemon {
    shared: Shared,
    endpoint: Endpoint,
    router: Router,
    socket: PathBuf,
    socket_inode: Option<u64>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

#[derive(Debug, Clone)]
struct SyncProtocol {
    shared: Shared,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shared({})", self.device)
    }
}

impl ProtocolHandler for SyncProtocol {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = conn.remote_id();
        if let Err(e) = session::run(
            self.shared.clone(),
            conn,
            false,
            Mode::Live,
            self.cancel.clone(),
        )
        .await
        {
            tracing::info!(peer = %peer.fmt_short(), error = %e, "session ended");
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct JoinProtocol {
    shared: Shared,
}

impl ProtocolHandler for JoinProtocol {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let device = DeviceId(*conn.remote_id().as_bytes());
        // Anyone may dial this protocol: bound what they can make us read
        // and for how long.
        let request = tokio::time::timeout(JOIN_REQUEST_TIMEOUT, async {
            let (send, mut recv) = conn.accept_bi().await?;
            let request = read_frame_at_most::<_, JoinMsg>(&mut recv, MAX_JOIN_REQUEST).await;
            Ok::<_, AcceptError>((send, request))
        })
        .await;
        let Ok(request) = request else {
            tracing::info!(device = %device, "join request timed out");
            conn.close(0u32.into(), b"join request timed out");
            return Ok(());
        };
        let (mut send, request) = request?;
        let reply = match request {
            Ok(Some(JoinMsg::Request(request))) => self.admit(device, request).await,
            Err(FrameError::TooLarge(_)) => JoinMsg::Refused("join request too large".into()),
            _ => JoinMsg::Refused("malformed join request".into()),
        };
        match &reply {
            JoinMsg::Refused(reason) => tracing::info!(device = %device, %reason, "join refused"),
            JoinMsg::Pending(_, waiting) => {
                tracing::info!(device = %device, %waiting, "admission pending")
            }
            _ => tracing::info!(device = %device, "admitted"),
        }
        write_frame(&mut send, &reply)
            .await
            .map_err(AcceptError::from_err)?;
        send.finish()?;
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        Ok(())
    }
}

impl JoinProtocol {
    async fn admit(&self, device: DeviceId, request: JoinRequest) -> JoinMsg {
        let result = self.shared.with(move |n| n.admit(device, &request)).await;
        match result {
            Ok(Ok(admission)) => {
                self.shared.refresh_members().await;
                self.shared.bump();
                match admission {
                    Admission::Admitted(ops) => JoinMsg::Admitted(ops),
                    Admission::Pending(ops, waiting) => JoinMsg::Pending(ops, waiting),
                }
            }
            Ok(Err(e)) => JoinMsg::Refused(e.to_string()),
            Err(e) => JoinMsg::Refused(e.to_string()),
        }
    }
}

/// What `serve` was told.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The endpoint.
    pub endpoint: EndpointConfig,
}

impl Daemon {
    /// Opens the node of `home` and starts serving it.
    pub async fn start(
        home: &Home,
        mut node: Node,
        config: ServeConfig,
    ) -> Result<Daemon, NetError> {
        node.load_held_docs()?;
        let secret = node.secret_key_bytes();
        let last_port = node.last_listen_port();
        let shared = Shared::new(node);
        let endpoint = bind_endpoint(secret, &config.endpoint, last_port, Some(&shared)).await?;
        let cancel = CancellationToken::new();
        let router = Router::builder(endpoint.clone())
            .incoming_filter(shared.gate.incoming_filter())
            .accept(
                SYNC_ALPN,
                SyncProtocol {
                    shared: shared.clone(),
                    cancel: cancel.clone(),
                },
            )
            .accept(
                JOIN_ALPN,
                JoinProtocol {
                    shared: shared.clone(),
                },
            )
            .spawn();
        let addrs = reachable_addrs(&endpoint);
        let relay = match &config.endpoint.relay {
            RelayChoice::Custom(url) => Some(url.clone()),
            _ => None,
        };
        let listening = addrs.clone();
        let told = relay.clone();
        shared
            .with(move |n| n.set_listen_addrs(addrs, told))
            .await??;

        let socket = home.socket_path();
        let listener = bind_socket(&socket).await?;
        let socket_inode = inode(&socket);
        let mut tasks = JoinSet::new();
        tasks.spawn(control_loop(listener, shared.clone(), cancel.clone()));
        tasks.spawn(dial_loop(shared.clone(), endpoint.clone(), cancel.clone()));
        tasks.spawn(follow_own_addrs(
            shared.clone(),
            endpoint.clone(),
            relay,
            listening,
            cancel.clone(),
        ));
        Ok(Daemon {
            shared,
            endpoint,
            router,
            socket,
            socket_inode,
            cancel,
            tasks,
        })
    }

    /// This device's id.
    pub fn device(&self) -> DeviceId {
        self.shared.device
    }

    /// Where it can be reached.
    pub fn addrs(&self) -> Vec<std::net::SocketAddr> {
        reachable_addrs(&self.endpoint)
    }

    /// Notified whenever the node changes (a request, or data from a peer).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.subscribe()
    }

    /// Answers a request as if it came from the command line.
    pub async fn execute(&self, request: Request) -> Result<entraide_node::Reply, NetError> {
        self.handle().execute(request).await
    }

    /// A cheap handle on the running node, for other local front ends (the
    /// web interface): it answers requests and reports changes, and stops
    /// working when the daemon stops.
    pub fn handle(&self) -> DaemonHandle {
        DaemonHandle {
            shared: self.shared.clone(),
            cancel: self.cancel.clone(),
        }
    }

    /// Stops the daemon now.
    pub async fn stop(self) -> Result<(), NetError> {
        self.run_until(std::future::ready(())).await
    }

    /// Runs until `shutdown` completes, then stops cleanly: every session
    /// ends (what its peer sent is durable), then the endpoint closes, and
    /// its port is free again when this returns.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), NetError> {
        self.run_until_with(shutdown, DRAIN_WAIT).await
    }

    /// [`Daemon::run_until`] for a process that exits next (`entraide
    /// serve`): it waits at most a quarter second (`CLOSE_WAIT`) for the
    /// endpoint's connections to drain, as the process's exit frees the
    /// port.
    pub async fn run_until_exit(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), NetError> {
        self.run_until_with(shutdown, CLOSE_WAIT).await
    }

    async fn run_until_with(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
        drain: Duration,
    ) -> Result<(), NetError> {
        tokio::select! {
            biased;
            () = shutdown => {}
            () = self.cancel.cancelled() => {}
        }
        tracing::info!("shutting down");
        self.cancel.cancel();
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_secs(5), self.tasks.join_next()).await
        {}
        self.tasks.abort_all();
        let _ = tokio::time::timeout(drain, self.router.shutdown()).await;
        remove_own_socket(&self.socket, self.socket_inode);
        Ok(())
    }
}

/// How long [`Daemon::run_until`] waits for the endpoint's connections to
/// drain: a dial that no member answered holds it for QUIC's first probe
/// timeouts, 3 s.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// What a local front end may do with a running node.
#[derive(Clone, Debug)]
pub struct DaemonHandle {
    shared: Shared,
    cancel: CancellationToken,
}

impl DaemonHandle {
    /// Answers a request as the local socket does (`SyncNow` included).
    pub async fn execute(&self, request: Request) -> Result<entraide_node::Reply, NetError> {
        if let Request::SyncNow { timeout_secs } = request {
            return sync_now(&self.shared, timeout_secs)
                .await
                .map_err(|e| NetError::Unreachable(e.message));
        }
        let reply = self.shared.with(move |n| n.execute(request)).await??;
        self.shared.bump();
        Ok(reply)
    }

    /// Notified whenever the node changes (a request, or data from a peer).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.subscribe()
    }

    /// This device's id.
    pub fn device(&self) -> DeviceId {
        self.shared.device
    }

    /// Completes when the daemon stops.
    pub async fn stopped(&self) {
        self.cancel.cancelled().await;
    }
}

fn inode(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| m.ino())
}

/// Removes the socket file unless another daemon has replaced it since.
fn remove_own_socket(path: &std::path::Path, ours: Option<u64>) {
    if ours.is_some() && inode(path) == ours {
        let _ = std::fs::remove_file(path);
    }
}

async fn bind_socket(path: &PathBuf) -> Result<UnixListener, NetError> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(NetError::Config(
                "another `entraide serve` already runs on this home".into(),
            ));
        }
        let _ = std::fs::remove_file(path);
    }
    UnixListener::bind(path)
        .map_err(|e| NetError::Config(format!("cannot listen on {}: {e}", path.display())))
}

/// Answers other `entraide` commands on the same home.
async fn control_loop(listener: UnixListener, shared: Shared, cancel: CancellationToken) {
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                clients.spawn(control_client(stream, shared.clone()));
            }
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
    clients.abort_all();
}

async fn control_client(stream: UnixStream, shared: Shared) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    if lines.read_line(&mut line).await.is_err() {
        return;
    }
    let answer = match serde_json::from_str::<Request>(&line) {
        Err(e) => Err(ErrorReply {
            message: format!(
                "the daemon did not understand the request ({e}); use the same version of entraide"
            ),
            exit_code: 2,
        }),
        Ok(Request::SyncNow { timeout_secs }) => sync_now(&shared, timeout_secs).await,
        Ok(request) => match shared.with(move |n| n.execute(request)).await {
            Ok(Ok(reply)) => {
                shared.bump();
                Ok(reply)
            }
            Ok(Err(e)) => Err(ErrorReply {
                message: e.to_string(),
                exit_code: e.exit_code(),
            }),
            Err(e) => Err(ErrorReply {
                message: e.to_string(),
                exit_code: 1,
            }),
        },
    };
    let mut out = serde_json::to_vec(&answer).unwrap_or_default();
    out.push(b'\n');
    let _ = write.write_all(&out).await;
    let _ = write.shutdown().await;
}

/// `entraide sync` while serving: has the dialer try every member device it
/// knows an address of now, and waits (until the timeout) until each one is
/// either in a live session that finished its first exchange, or a dial of
/// it begun since the command began failed. Answers as the one-shot sync
/// does.
async fn sync_now(shared: &Shared, timeout_secs: u64) -> Result<entraide_node::Reply, ErrorReply> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(timeout_secs.clamp(1, 3600));
    shared.dial_now.notify_one();
    loop {
        let listed = shared
            .with(|n| {
                // The devices the one-shot sync would dial, and any
                // connected now.
                let relay = n.relay_url();
                let mut peers: Vec<DeviceId> = n
                    .known_peers()
                    .into_iter()
                    .filter(|(d, addrs)| {
                        crate::oneshot::peer_addr(d, addrs, relay.as_deref()).is_some()
                    })
                    .map(|(d, _)| d)
                    .collect();
                peers.extend(n.connected_peers());
                peers.sort();
                peers.dedup();
                (peers, n.synced_peers())
            })
            .await;
        let Ok((peers, synced)) = listed else {
            return Err(ErrorReply {
                message: "the node could not list its peers".into(),
                exit_code: 1,
            });
        };
        let failures = shared
            .dial_failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default();
        let mut report = SyncReport::default();
        let mut waiting = false;
        for device in peers {
            if synced.contains(&device) {
                report.synced.push(device);
            } else if let Some((_, why)) = failures.get(&device).filter(|(at, _)| *at >= start) {
                report.failed.push((device, why.clone()));
            } else if Instant::now() >= deadline {
                report
                    .failed
                    .push((device, format!("no answer within {timeout_secs} s")));
            } else {
                waiting = true;
            }
        }
        if !waiting {
            return report.into_reply();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long a dial waits for the device to answer.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait between two dials of a member that does not answer.
///
/// Each dial makes the endpoint look the member up (by DNS, with relays
/// on), which costs an offline node about 9 ms of CPU per member even
/// though it cannot succeed: with 49 members away, redialled every 30 s,
/// an idle `serve` spent 2 % of a core. The wait doubles from half a
/// second, so a member away for a minute is still tried within about
/// 30 s; one away for longer is tried every 5 minutes, and it dials this
/// node itself when it comes back (`entraide sync` dials at once).
const MAX_DIAL_WAIT: Duration = Duration::from_secs(300);

/// The wait before the next dial of a member after one that waited
/// `previous` (none: the first dial, or after a session).
fn next_delay(previous: Option<Duration>) -> Duration {
    previous.map_or(Duration::from_millis(500), |d| (d * 2).min(MAX_DIAL_WAIT))
}

/// Keeps a session with every member device this node can reach.
///
/// One dial per device and addresses at a time (`entraide sync` dials every
/// member not in a session at once, and a device heard of at new addresses
/// is dialled there without waiting for the dial to the old ones), and a
/// device that did not answer is
/// dialled again only after its backoff ([`next_delay`]), counted from
/// the end of its dial ([`DIAL_TIMEOUT`] at most). Before, the backoff
/// counted from the start of a dial: a member away was dialled again while
/// its last dial still waited (five dials at once within the timeout), then
/// every time a dial gave up. A member that comes back dials this node
/// itself, so waiting longer here does not delay its sync.
async fn dial_loop(shared: Shared, endpoint: Endpoint, cancel: CancellationToken) {
    let mut backoff: HashMap<DeviceId, (Instant, Duration)> = HashMap::new();
    let mut dials = JoinSet::new();
    // The device each running dial is for, and the addresses it dials.
    let mut dialing: HashMap<tokio::task::Id, (DeviceId, Vec<std::net::SocketAddr>)> =
        HashMap::new();
    let mut changes = shared.subscribe();
    loop {
        let peers = shared.with(|n| n.known_peers()).await.unwrap_or_default();
        let now = Instant::now();
        for (device, addrs) in peers {
            // A dial under way to the addresses known now is waited for; one
            // to addresses the device has since left is not.
            let busy = dialing.values().any(|(d, a)| *d == device && *a == addrs)
                || shared
                    .sessions
                    .lock()
                    .map(|s| s.contains(&device))
                    .unwrap_or(true);
            let due = backoff.get(&device).is_none_or(|(at, _)| *at <= now);
            if busy || !due || shared.is_throttled(&device) {
                continue;
            }
            let Ok(id) = EndpointId::from_bytes(&device.0) else {
                continue;
            };
            let delay = next_delay(backoff.get(&device).map(|(_, d)| *d));
            backoff.insert(device, (now + delay, delay));
            let addr = EndpointAddr::from_parts(id, addrs.iter().copied().map(TransportAddr::Ip));
            let (shared, endpoint, cancel) = (shared.clone(), endpoint.clone(), cancel.clone());
            let task = dials.spawn(async move {
                let started = Instant::now();
                let connecting =
                    tokio::time::timeout(DIAL_TIMEOUT, endpoint.connect(addr, SYNC_ALPN)).await;
                match connecting {
                    Ok(Ok(conn)) => {
                        let result = session::run(shared, conn, true, Mode::Live, cancel).await;
                        (device, started, true, result.err())
                    }
                    Ok(Err(e)) => (
                        device,
                        started,
                        false,
                        Some(NetError::Config(e.to_string())),
                    ),
                    Err(_) => (
                        device,
                        started,
                        false,
                        Some(NetError::Unreachable(format!(
                            "no answer within {} s",
                            DIAL_TIMEOUT.as_secs()
                        ))),
                    ),
                }
            });
            dialing.insert(task.id(), (device, addrs));
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(done) = dials.join_next_with_id(), if !dials.is_empty() => {
                let id = match &done {
                    Ok((id, _)) => *id,
                    Err(e) => e.id(),
                };
                dialing.remove(&id);
                if let Ok((_, (device, started, connected, error))) = done {
                    if connected {
                        // It was reachable: try again soon after it drops.
                        backoff.insert(device, (Instant::now() + Duration::from_millis(500), Duration::from_millis(250)));
                    } else if let Some((at, delay)) = backoff.get_mut(&device) {
                        // The wait counts from the end of the dial, not its
                        // start: a device that never answers is otherwise
                        // dialled again the moment each dial gives up.
                        *at = Instant::now() + *delay;
                    }
                    if let Some(e) = &error {
                        tracing::debug!(device = %device, error = %e, "dial ended");
                    }
                    if let Ok(mut failures) = shared.dial_failures.lock() {
                        match error {
                            // What a dial begun earlier found does not
                            // replace what a later one found.
                            Some(e) if !connected => {
                                if failures.get(&device).is_none_or(|(at, _)| *at <= started) {
                                    failures.insert(device, (started, e.to_string()));
                                }
                            }
                            _ => {
                                failures.remove(&device);
                            }
                        }
                    }
                }
            }
            // Asked to sync now: every member not in a session is dialled
            // again at once, even one whose dial still waits (on an
            // address it may have left).
            () = shared.dial_now.notified() => {
                backoff.clear();
                dialing.clear();
            }
            _ = changes.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    dials.abort_all();
}

/// Follows this node's own addresses. When they change (a laptop back on a
/// network, a new address from the router), its tickets and hellos give
/// the new ones from then on, and every member is dialled again at once,
/// as `entraide sync` asks: a member that could not be reached from where
/// the node was may otherwise wait up to [`MAX_DIAL_WAIT`]. Only the
/// addresses count, not the relay's view of the network, which comes and
/// goes offline.
async fn follow_own_addrs(
    shared: Shared,
    endpoint: Endpoint,
    relay: Option<String>,
    mut listening: Vec<std::net::SocketAddr>,
    cancel: CancellationToken,
) {
    use iroh::Watcher as _;
    let mut own = endpoint.watch_addr();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            updated = own.updated() => {
                if updated.is_err() {
                    break;
                }
                let now = reachable_addrs(&endpoint);
                if now == listening {
                    continue;
                }
                tracing::info!(addrs = ?now, "this node's addresses changed");
                listening.clone_from(&now);
                let relay = relay.clone();
                match shared.with(move |n| n.set_listen_addrs(now, relay)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot record this node's new addresses"),
                    Err(_) => break,
                }
                shared.dial_now.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_away_is_dialled_less_and_less_often_down_to_every_five_minutes() {
        assert_eq!(next_delay(None), Duration::from_millis(500));
        // Dials that each wait out the timeout, then the backoff.
        let (mut at, mut wait, mut waits) = (Duration::ZERO, None, Vec::new());
        while at < Duration::from_secs(3600) {
            let next = next_delay(wait);
            waits.push((at, next));
            at += DIAL_TIMEOUT + next;
            wait = Some(next);
        }
        // Away for a minute: the next try is within about 30 s.
        let (_, after_a_minute) = waits
            .iter()
            .rev()
            .find(|(at, _)| *at <= Duration::from_secs(60))
            .expect("a dial in the first minute");
        assert!(
            *after_a_minute <= Duration::from_secs(32),
            "{after_a_minute:?}"
        );
        // Away for an hour: tried every 5 minutes, never less often.
        assert!(waits.iter().all(|(_, w)| *w <= MAX_DIAL_WAIT));
        let last_quarter: Vec<_> = waits
            .iter()
            .filter(|(at, _)| *at >= Duration::from_secs(45 * 60))
            .collect();
        assert!(!last_quarter.is_empty());
        assert!(last_quarter.iter().all(|(_, w)| *w == MAX_DIAL_WAIT));
        // Far fewer dials than with a 30 s cap: about 12 an hour, not 90.
        assert!(waits.len() < 25, "{} dials in an hour", waits.len());
    }
}
