//! Frame counters for benchmarks (`examples/bench.rs`).
//!
//! Off unless [`enable`]d: then every sync session of this process records
//! each frame it sends and receives (its size on the wire, its kind, when),
//! so a benchmark can count bytes and round trips on real connections. When
//! off, a session pays one relaxed atomic load per frame.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::wire::Msg;

static ENABLED: AtomicBool = AtomicBool::new(false);
static EVENTS: Mutex<Vec<FrameEvent>> = Mutex::new(Vec::new());

/// One frame a session sent or received.
#[derive(Clone, Debug)]
pub struct FrameEvent {
    /// When it was handed to the stream (sent) or fully read (received).
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

pub(crate) fn record(local: [u8; 32], peer: [u8; 32], sent: bool, msg: &Msg) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let body = postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
        .unwrap_or_default();
    let kind = match msg {
        Msg::Hello { .. } => "Hello",
        Msg::Ops(_) => "Ops",
        Msg::Docs(_) => "Docs",
        Msg::WantBlobs(_) => "WantBlobs",
        Msg::BlobPart { .. } => "BlobPart",
        Msg::NoBlob(_) => "NoBlob",
        Msg::Synced => "Synced",
        Msg::Ack => "Ack",
        // Messages added later count under a common name.
        #[allow(unreachable_patterns)]
        _ => "Other",
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
