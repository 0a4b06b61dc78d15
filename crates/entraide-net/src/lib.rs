//! entraide over iroh: member nodes sync directly, with no central server.
//!
//! A node's iroh endpoint uses its device key, so a peer's identity is
//! authenticated by the QUIC handshake; [`shared::MemberGate`] refuses any
//! device that the membership log does not list as an active member before a
//! single protocol byte is read, for every protocol but joining. The sync
//! protocol ([`wire`], [`session`]) exchanges summaries and then only what
//! each side lacks; the node (`entraide-node`) verifies every change's author
//! before storing it. [`daemon`] is `entraide serve`; [`oneshot`] holds `join`
//! and `sync` without a daemon; [`client`] lets any command reach the daemon
//! of its home over a local socket, so that no command ever meets a locked
//! database.
//!
//! This crate moves bytes and schedules work; it must never decide what a
//! document or the membership says (that is the node's and the pure crates'
//! job), and it never awaits the internet: with no network it degrades to the
//! addresses it knows.

pub mod client;
pub mod daemon;
pub mod oneshot;
pub mod session;
pub mod shared;
pub mod traffic;
pub mod wire;

use entraide_membership::DeviceId;
use entraide_node::{ErrorReply, NodeError, Reply};

/// What a sync did, whichever path ran it: the one-shot `entraide sync`
/// ([`oneshot::sync_once`]) or the running daemon (`SyncNow`). Both answer
/// through [`SyncReport::into_reply`], so `entraide sync --json` prints the
/// same document either way.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Peers synced with (for the daemon: those it holds a live session with).
    pub synced: Vec<DeviceId>,
    /// Peers that could not be reached or failed, and why.
    pub failed: Vec<(DeviceId, String)>,
}

impl SyncReport {
    /// The command's answer: `{"synced_with": ["<device>"], "failed":
    /// [{"device", "error"}]}`; an error (exit 1) when no member was synced.
    pub fn into_reply(self) -> Result<Reply, ErrorReply> {
        if self.synced.is_empty() {
            let why = self
                .failed
                .first()
                .map(|(_, e)| format!(" ({e})"))
                .unwrap_or_default();
            return Err(ErrorReply {
                message: format!(
                    "no member was reachable{why}; check the network or the peers' addresses (`entraide peers`), or start `entraide serve` on a peer"
                ),
                exit_code: 1,
            });
        }
        let json = serde_json::json!({
            "synced_with": self.synced.iter().map(DeviceId::to_hex).collect::<Vec<_>>(),
            "failed": self
                .failed
                .iter()
                .map(|(device, error)| serde_json::json!({"device": device.to_hex(), "error": error}))
                .collect::<Vec<_>>(),
        });
        let mut text = format!("synced with {} member device(s)", self.synced.len());
        if !self.failed.is_empty() {
            text.push_str(&format!("; {} not reached", self.failed.len()));
        }
        Ok(Reply::new(json, text))
    }
}

/// A network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Bad configuration (address, relay URL...).
    #[error("{0}")]
    Config(String),
    /// No peer could be reached.
    #[error("{0}")]
    Unreachable(String),
    /// The peer sent something this node refused, or refused us.
    #[error("{0}")]
    Refused(String),
    /// The peer is not (or no longer) a member.
    #[error("the peer is not a member of this alliance")]
    NotMember,
    /// The connection closed early.
    #[error("the connection closed before the sync finished")]
    Closed,
    /// The node failed.
    #[error(transparent)]
    Node(NodeError),
    /// An internal task failed.
    #[error("an internal task of the node failed; restart `entraide serve`")]
    Poisoned,
}

impl From<wire::FrameError> for NetError {
    fn from(e: wire::FrameError) -> Self {
        match e {
            wire::FrameError::Io(_) => NetError::Closed,
            other => NetError::Refused(other.to_string()),
        }
    }
}

impl From<iroh::endpoint::ConnectionError> for NetError {
    fn from(e: iroh::endpoint::ConnectionError) -> Self {
        NetError::Unreachable(format!("the connection failed: {e}"))
    }
}

impl From<iroh::endpoint::WriteError> for NetError {
    fn from(_: iroh::endpoint::WriteError) -> Self {
        NetError::Closed
    }
}

impl From<entraide_node::SyncError> for NetError {
    fn from(e: entraide_node::SyncError) -> Self {
        NetError::Refused(e.to_string())
    }
}
