//! The node as the network tasks share it, and the endpoint they use.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use entraide_membership::DeviceId;
use entraide_node::session::THROTTLE_MS;
use entraide_node::{Node, NodeError};
use iroh::address_lookup::MemoryLookup;
use iroh::endpoint::{
    AfterHandshakeOutcome, Connection, EndpointHooks, Incoming, IncomingAddr, PortmapperConfig,
    VarInt, presets,
};
use iroh::protocol::{IncomingFilter, IncomingFilterOutcome};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMode, RelayUrl, SecretKey, TransportAddr};
use tokio::sync::watch;

use crate::NetError;
use crate::wire::JOIN_ALPN;

/// Close code: the peer is not a member of this node's alliance.
pub const CLOSE_NOT_MEMBER: u32 = 403;
/// Close code: the peer sent data this node refused.
pub const CLOSE_REFUSED: u32 = 400;
/// Close code: this node is shutting down.
pub const CLOSE_SHUTDOWN: u32 = 0;

/// How a node reaches peers beyond direct addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayChoice {
    /// iroh's public relays and address lookup, when the internet is reachable.
    Public,
    /// The alliance's own relay.
    Custom(String),
    /// LAN and direct addresses only.
    Disabled,
}

/// How to build the endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Where to listen; `None`: all interfaces, the port used last time.
    pub listen: Option<SocketAddr>,
    /// Relays.
    pub relay: RelayChoice,
    /// mDNS on the LAN.
    pub mdns: bool,
}

/// Lets only member devices through, for every protocol but joining, and
/// keeps a throttled peer away for a while ([`Shared::throttle`]).
///
/// A throttled peer is kept away twice: by its key after the handshake,
/// and before the handshake by the addresses it last came from (or its
/// key, when it comes through a relay), so that a peer redialling in a
/// loop costs this node a refusal packet, not a handshake each time.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemberGate {
    pub(crate) members: Arc<RwLock<BTreeSet<EndpointId>>>,
    kept_away: Arc<Mutex<KeptAway>>,
}

/// Who is kept away, and until when.
#[derive(Debug, Default)]
struct KeptAway {
    ids: HashMap<EndpointId, Instant>,
    addrs: HashMap<SocketAddr, Instant>,
}

impl KeptAway {
    fn forget_expired(&mut self) {
        let now = Instant::now();
        self.ids.retain(|_, at| *at > now);
        self.addrs.retain(|_, at| *at > now);
    }
}

impl MemberGate {
    /// Whether `peer` went over its budgets recently.
    pub(crate) fn throttled(&self, peer: &EndpointId) -> bool {
        let Ok(mut away) = self.kept_away.lock() else {
            return true;
        };
        away.forget_expired();
        away.ids.contains_key(peer)
    }

    /// Keeps the peer at the other end of `conn` away for [`THROTTLE_MS`],
    /// with the direct addresses the connection runs over.
    fn keep_away(&self, conn: &Connection) {
        let paths = conn.paths();
        let addrs: Vec<SocketAddr> = paths
            .iter()
            .filter_map(|path| match path.remote_addr() {
                TransportAddr::Ip(addr) => Some(*addr),
                _ => None,
            })
            .collect();
        let Ok(mut away) = self.kept_away.lock() else {
            return;
        };
        let until = Instant::now() + Duration::from_millis(THROTTLE_MS);
        away.ids.insert(conn.remote_id(), until);
        for addr in addrs {
            away.addrs.insert(addr, until);
        }
    }

    /// The check made on a connection attempt before any handshake: one
    /// from where a throttled peer last came is refused at once.
    pub(crate) fn incoming_filter(&self) -> IncomingFilter {
        let gate = self.clone();
        Arc::new(move |incoming: &Incoming| {
            let Ok(mut away) = gate.kept_away.lock() else {
                return IncomingFilterOutcome::Reject;
            };
            away.forget_expired();
            let kept = match incoming.remote_addr() {
                IncomingAddr::Ip(addr) => away.addrs.contains_key(&addr),
                IncomingAddr::Relay { endpoint_id, .. } => away.ids.contains_key(&endpoint_id),
                _ => false,
            };
            if kept {
                IncomingFilterOutcome::Reject
            } else {
                IncomingFilterOutcome::Accept
            }
        })
    }
}

impl EndpointHooks for MemberGate {
    async fn after_handshake<'a>(&'a self, conn: &'a Connection) -> AfterHandshakeOutcome {
        let member = self
            .members
            .read()
            .map(|m| m.contains(&conn.remote_id()))
            .unwrap_or(false);
        if member && self.throttled(&conn.remote_id()) {
            tracing::info!(peer = %conn.remote_id().fmt_short(), "refused a throttled peer");
            // It may come from a new address: keep that one away too.
            self.keep_away(conn);
            AfterHandshakeOutcome::Reject {
                error_code: VarInt::from_u32(CLOSE_REFUSED),
                reason: b"too many messages: try again later".to_vec(),
            }
        } else if member || conn.alpn() == JOIN_ALPN {
            AfterHandshakeOutcome::Accept
        } else {
            tracing::info!(peer = %conn.remote_id().fmt_short(), "refused a device that is not a member");
            AfterHandshakeOutcome::Reject {
                error_code: VarInt::from_u32(CLOSE_NOT_MEMBER),
                reason: b"not a member of this alliance".to_vec(),
            }
        }
    }
}

/// How long after a session opens another one with the same peer counts as
/// the two daemons having dialled each other at once.
const DIAL_RACE: Duration = Duration::from_secs(2);

/// The sessions open with each peer.
///
/// Two daemons that know each other's address can dial each other at the
/// same moment, before either sees the other's session: they then kept two
/// sessions, and each change crossed the link twice (a live booking cost
/// 690 bytes on the wire instead of 460 in the benchmark's runs where it
/// happened). Of two sessions opened within [`DIAL_RACE`] of each other,
/// both ends keep the one the smaller device key dialled: the same
/// connection, seen from its two ends. Sessions further apart (a peer that
/// restarted while its old connection has not timed out yet) are all kept.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    next: u64,
    by_peer: HashMap<DeviceId, Vec<OpenSession>>,
}

#[derive(Debug)]
struct OpenSession {
    id: u64,
    /// Dialled by the smaller of the two device keys.
    by_smaller: bool,
    since: Instant,
    cancel: tokio_util::sync::CancellationToken,
}

impl Sessions {
    /// Registers a session with `peer` that this device dialled (`dialer`)
    /// or accepted, and returns its id; `None` if it is the duplicate of a
    /// session just opened, which then stays the only one. A session just
    /// opened that this one replaces is cancelled.
    pub(crate) fn open(
        &mut self,
        me: DeviceId,
        peer: DeviceId,
        dialer: bool,
        cancel: &tokio_util::sync::CancellationToken,
        now: Instant,
    ) -> Option<u64> {
        let by_smaller = if dialer { me.0 < peer.0 } else { peer.0 < me.0 };
        let list = self.by_peer.entry(peer).or_default();
        let racing = |o: &OpenSession| now.saturating_duration_since(o.since) < DIAL_RACE;
        if !by_smaller && list.iter().any(|o| o.by_smaller && racing(o)) {
            return None;
        }
        if by_smaller {
            for o in list.iter().filter(|o| !o.by_smaller && racing(o)) {
                o.cancel.cancel();
            }
        }
        self.next += 1;
        list.push(OpenSession {
            id: self.next,
            by_smaller,
            since: now,
            cancel: cancel.clone(),
        });
        Some(self.next)
    }

    /// Forgets a session that ended.
    pub(crate) fn close(&mut self, peer: &DeviceId, id: u64) {
        if let Some(list) = self.by_peer.get_mut(peer) {
            list.retain(|o| o.id != id);
            if list.is_empty() {
                self.by_peer.remove(peer);
            }
        }
    }

    /// Whether a session with `peer` is open.
    pub(crate) fn contains(&self, peer: &DeviceId) -> bool {
        self.by_peer.contains_key(peer)
    }
}

/// The node and what the network tasks share about it.
#[derive(Clone)]
pub struct Shared {
    node: Arc<Mutex<Node>>,
    changed: watch::Sender<u64>,
    pub(crate) gate: MemberGate,
    pub(crate) lookup: MemoryLookup,
    pub(crate) sessions: Arc<Mutex<Sessions>>,
    pub(crate) device: DeviceId,
    /// Why the daemon's last dial of a peer failed, and when that dial began.
    pub(crate) dial_failures: Arc<Mutex<HashMap<DeviceId, (Instant, String)>>>,
    /// Wakes the daemon's dialer to try every peer now (`entraide sync`).
    pub(crate) dial_now: Arc<tokio::sync::Notify>,
}

impl Shared {
    /// Shares `node`.
    pub fn new(node: Node) -> Self {
        let device = node.device();
        let (changed, _) = watch::channel(0);
        let shared = Self {
            node: Arc::new(Mutex::new(node)),
            changed,
            gate: MemberGate::default(),
            lookup: MemoryLookup::new(),
            sessions: Arc::default(),
            device,
            dial_failures: Arc::default(),
            dial_now: Arc::default(),
        };
        shared.refresh_members_blocking();
        shared
    }

    /// Runs `f` on the node in a blocking task.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node) -> R + Send + 'static,
    ) -> Result<R, NetError> {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = node.lock().map_err(|_| NetError::Poisoned)?;
            Ok(f(&mut guard))
        })
        .await
        .map_err(|_| NetError::Poisoned)?
    }

    /// Keeps the peer at the other end of `conn` away for [`THROTTLE_MS`]:
    /// its connections are refused and it is not dialled.
    pub(crate) fn throttle(&self, conn: &Connection) {
        self.gate.keep_away(conn);
    }

    /// Whether `peer` is kept away right now.
    pub(crate) fn is_throttled(&self, peer: &DeviceId) -> bool {
        EndpointId::from_bytes(&peer.0).is_ok_and(|id| self.gate.throttled(&id))
    }

    /// Tells every session that the node changed.
    pub fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// A receiver of change notifications.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Re-reads the member devices and their addresses.
    pub(crate) fn refresh_members_blocking(&self) {
        let Ok(node) = self.node.lock() else { return };
        let members: BTreeSet<EndpointId> = node
            .peer_devices()
            .into_iter()
            .filter_map(|d| EndpointId::from_bytes(&d.0).ok())
            .collect();
        for (device, addrs) in node.known_peers() {
            self.add_addrs(&device, &addrs);
        }
        if let Ok(mut gate) = self.gate.members.write() {
            *gate = members;
        }
    }

    /// Re-reads the member devices, off the async threads.
    pub async fn refresh_members(&self) {
        let this = self.clone();
        let _ = tokio::task::spawn_blocking(move || this.refresh_members_blocking()).await;
    }

    pub(crate) fn add_addrs(&self, device: &DeviceId, addrs: &[SocketAddr]) {
        if addrs.is_empty() {
            return;
        }
        if let Ok(id) = EndpointId::from_bytes(&device.0) {
            let addr = EndpointAddr::from_parts(id, addrs.iter().copied().map(TransportAddr::Ip));
            self.lookup.add_endpoint_info(addr);
        }
    }
}

/// How long a process that is about to exit (`entraide serve`, `sync`,
/// `join`) waits for its endpoint's connections to drain (iroh's
/// `Endpoint::close` waits for every QUIC connection to). The sessions
/// have already closed theirs, and their close frames left at once; the
/// wait only lets a lost one be sent again, which a peer answers within a
/// round trip. A dial that no one answered (a member offline, as some
/// always are) would hold every stop for QUIC's first probe timeouts, 3 s,
/// for nothing. Nothing durable waits on it: each session made what its
/// peer sent durable as it ended, and the node flushes the rest when it
/// closes. The endpoint's socket stays bound until the drain ends: a
/// daemon that may be started again on the same port in the same process
/// stops with [`crate::Daemon::run_until`], which waits.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_millis(250);

/// Closes `endpoint`, waiting at most [`CLOSE_WAIT`] for its connections
/// to drain.
pub(crate) async fn close_endpoint(endpoint: &Endpoint) {
    let _ = tokio::time::timeout(CLOSE_WAIT, endpoint.close()).await;
}

/// Builds this device's endpoint. Never waits for the internet.
pub async fn bind_endpoint(
    secret: [u8; 32],
    config: &EndpointConfig,
    last_port: Option<u16>,
    shared: Option<&Shared>,
) -> Result<Endpoint, NetError> {
    let relay_mode = match &config.relay {
        RelayChoice::Public => RelayMode::Default,
        RelayChoice::Custom(url) => {
            let url: RelayUrl = url.parse().map_err(|_| {
                NetError::Config(format!(
                    "'{url}' is not a relay URL; write e.g. https://relay.example.org"
                ))
            })?;
            RelayMode::custom([url])
        }
        RelayChoice::Disabled => RelayMode::Disabled,
    };
    let listen = match config.listen {
        Some(addr) => addr,
        None => SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::UNSPECIFIED,
            last_port.unwrap_or(0),
        )),
    };
    let build = |listen: SocketAddr| -> Result<iroh::endpoint::Builder, NetError> {
        let preset_builder = match config.relay {
            RelayChoice::Public => Endpoint::builder(presets::N0),
            _ => Endpoint::builder(presets::Minimal),
        };
        let mut builder = preset_builder
            .secret_key(SecretKey::from_bytes(&secret))
            .relay_mode(relay_mode.clone())
            .portmapper_config(PortmapperConfig::Disabled)
            .clear_ip_transports()
            .bind_addr(listen)
            .map_err(|e| NetError::Config(format!("cannot listen on {listen}: {e}")))?;
        if let Some(shared) = shared {
            builder = builder
                .address_lookup(shared.lookup.clone())
                .hooks(shared.gate.clone());
        }
        if config.mdns {
            builder =
                builder.address_lookup(iroh_mdns_address_lookup::MdnsAddressLookup::builder());
        }
        Ok(builder)
    };
    match build(listen)?.bind().await {
        Ok(ep) => Ok(ep),
        // The port used last time may be taken now: any port will do.
        Err(_) if config.listen.is_none() && listen.port() != 0 => {
            let any = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            build(any)?
                .bind()
                .await
                .map_err(|e| NetError::Config(format!("cannot listen on {any}: {e}")))
        }
        Err(e) => Err(NetError::Config(format!("cannot listen on {listen}: {e}"))),
    }
}

/// The addresses to put in tickets and tell peers.
pub fn reachable_addrs(ep: &Endpoint) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for sock in ep.bound_sockets() {
        if sock.ip().is_unspecified() {
            out.extend(
                ep.addr()
                    .ip_addrs()
                    .copied()
                    .filter(|a| a.port() == sock.port()),
            );
            if sock.is_ipv4() {
                out.push(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::LOCALHOST,
                    sock.port(),
                )));
            }
        } else {
            out.push(sock);
        }
    }
    out.sort();
    out.dedup();
    out
}

impl From<NodeError> for NetError {
    fn from(e: NodeError) -> Self {
        NetError::Node(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    /// Both ends of two simultaneous dials, in every order each end may see
    /// them: both keep the session the smaller key dialled, and only it.
    #[test]
    fn of_two_simultaneous_dials_both_ends_keep_the_same_one() {
        let (x, y) = (DeviceId([1; 32]), DeviceId([2; 32]));
        let now = Instant::now();
        for dial_first in [true, false] {
            for (me, peer) in [(x, y), (y, x)] {
                let mut sessions = Sessions::default();
                let (dialled, accepted) = (CancellationToken::new(), CancellationToken::new());
                let mut kept = Vec::new();
                let order = if dial_first {
                    [true, false]
                } else {
                    [false, true]
                };
                for dialer in order {
                    let token = if dialer { &dialled } else { &accepted };
                    if sessions.open(me, peer, dialer, token, now).is_some() {
                        kept.push(dialer);
                    }
                }
                // The session x dialled: x's dialled one, y's accepted one.
                let survivor_is_dialled = me == x;
                let (survivor, other) = if survivor_is_dialled {
                    (&dialled, &accepted)
                } else {
                    (&accepted, &dialled)
                };
                assert!(kept.contains(&survivor_is_dialled), "{me:?} {dial_first}");
                assert!(!survivor.is_cancelled(), "{me:?} {dial_first}");
                // The other one was refused, or cancelled once the survivor came.
                let other_ran = kept.contains(&!survivor_is_dialled);
                assert!(!other_ran || other.is_cancelled(), "{me:?} {dial_first}");
                assert!(sessions.contains(&peer));
            }
        }
    }

    /// A session opened well after another (the peer restarted before its
    /// old connection timed out) replaces nothing and is refused by nothing.
    #[test]
    fn sessions_apart_in_time_are_all_kept() {
        let (x, y) = (DeviceId([1; 32]), DeviceId([2; 32]));
        let now = Instant::now();
        let mut sessions = Sessions::default();
        let (old, new) = (CancellationToken::new(), CancellationToken::new());
        let first = sessions.open(y, x, true, &old, now).expect("first");
        let second = sessions
            .open(
                y,
                x,
                false,
                &new,
                now + DIAL_RACE + Duration::from_millis(1),
            )
            .expect("second");
        assert!(!old.is_cancelled() && !new.is_cancelled());
        sessions.close(&x, first);
        assert!(sessions.contains(&x));
        sessions.close(&x, second);
        assert!(!sessions.contains(&x));
    }
}
