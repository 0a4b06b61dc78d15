//! Frame counters for benchmarks (`examples/bench.rs`).
//!
//! Off unless [`enable`]d: then every sync session of this process records
//! each frame it sends and receives (its size on the wire, its kind, when),
//! so a benchmark can count bytes and round trips on real connections. A
//! frame sent is recorded when the session queues it, a frame received when
//! the session starts handling it: in that order, every frame a session sends
//! follows the frames it was a response to. When off, a session pays one
//! relaxed atomic load per frame.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::wire::Msg;

static ENABLED: AtomicBool = AtomicBool::new(false);
static EVENTS: Mutex<Vec<FrameEvent>> = Mutex::new(Vec::new());

tokio::task_local! {
    /// The session being driven: this device and the peer's.
    static SESSION: ([u8; 32], [u8; 32]);
}

/// One frame a session sent or received.
#[derive(Clone, Debug)]
pub struct FrameEvent {
    /// When the session queued it (sent) or started handling it (received).
    pub at: Instant,
    /// The device of the node that recorded it.
    pub local: [u8; 32],
    /// The device at the other end.
    pub peer: [u8; 32],
    /// Sent by `local` (else received).
    pub sent: bool,
    /// The message's name: `Hello`, `Ops`, `Docs`...
    pub kind: &'static str,
    /// The whole frame: 4-byte length and postcard body.
    pub bytes: usize,
}

/// Starts or stops recording.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::SeqCst);
}

/// The frames recorded so far, oldest first; clears the record.
pub fn take() -> Vec<FrameEvent> {
    EVENTS
        .lock()
        .map(|mut e| std::mem::take(&mut *e))
        .unwrap_or_default()
}

/// Drives a session's future with its two ends known to the recorder.
pub(crate) async fn scope<F: std::future::Future>(
    local: [u8; 32],
    peer: [u8; 32],
    session: F,
) -> F::Output {
    SESSION.scope((local, peer), session).await
}

/// A message the session queues for the peer.
pub(crate) fn queued(msg: &Msg) {
    record(true, msg);
}

/// A message from the peer that the session starts handling.
pub(crate) fn handled(msg: &Msg) {
    record(false, msg);
}

fn record(sent: bool, msg: &Msg) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Ok((local, peer)) = SESSION.try_with(|s| *s) else {
        return;
    };
    let body = postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
        .unwrap_or_default();
    let kind = match msg {
        Msg::Hello { .. } => "Hello",
        Msg::Ops(_) => "Ops",
        Msg::Docs(_) => "Docs",
        Msg::WantBlobs(_) => "WantBlobs",
        Msg::BlobParts(_) => "BlobParts",
        Msg::NoBlob(_) => "NoBlob",
        Msg::Synced => "Synced",
        Msg::Ack => "Ack",
        Msg::Have { .. } => "Have",
        Msg::Want { .. } => "Want",
        Msg::Equivocation(_) => "Equivocation",
    };
    let event = FrameEvent {
        at: Instant::now(),
        local,
        peer,
        sent,
        kind,
        bytes: 4 + body,
    };
    if let Ok(mut events) = EVENTS.lock() {
        events.push(event);
    }
}
