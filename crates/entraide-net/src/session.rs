//! One sync session with one peer over one connection: the shell around
//! `entraide_node::session`, which holds every rule of the session.
//!
//! The loop waits for what happens (a message, a change of the node, a
//! tick of the clock, the connection ending), hands it to the state machine
//! under the node's lock once, and carries out what it says: send these
//! messages, tell the other sessions the node changed, refresh the member
//! gate, learn addresses, end the session.
//!
//! The reader and the writer are tasks of their own so that two peers sending
//! large bundles at once never wait on each other; the session loop only
//! handles whole messages, which keeps it cancel-safe.
//!
//! The reader runs ahead of the loop by up to [`READ_AHEAD`] bytes, however
//! many messages that is. The loop waits while its send queue is full, and
//! so stops taking the peer's messages; if the reader stopped reading at
//! the same time, two peers that each owe the other more than the
//! connection holds would each wait for the other for ever (a peer whose
//! own queue is full does not read either). The reader keeps reading
//! instead, so the peer's queue empties, the peer reads again, and so does
//! this node's queue. A peer that sends without end while never reading
//! holds this much of this node's memory at most, then waits.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entraide_membership::DeviceId;
use entraide_node::session::{End, Event, Output, Session, TICK_MS};
use iroh::endpoint::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

pub use entraide_node::session::Mode;

use crate::NetError;
use crate::shared::{CLOSE_NOT_MEMBER, CLOSE_REFUSED, Shared};
use crate::wire::{MAX_FRAME, Msg, decode, read_payload_at_most, write_frame};

/// How many bytes of the peer's messages the reader may hold that the
/// session loop has not handled yet. A frame larger than this (up to
/// [`MAX_FRAME`]) is read once the loop has handled all the others.
pub const READ_AHEAD: usize = 16 * 1024 * 1024;
/// What a message counts against [`READ_AHEAD`] at least, whatever its
/// size: a flood of tiny messages is bounded in number too.
const MESSAGE_WEIGHT: usize = 4 * 1024;

/// A message from the peer, and its share of [`READ_AHEAD`], given back
/// once the session loop has handled it.
type Incoming = (Msg, OwnedSemaphorePermit);

/// Runs a session on an established connection until it ends.
pub async fn run(
    shared: Shared,
    conn: Connection,
    dialer: bool,
    mode: Mode,
    cancel: CancellationToken,
) -> Result<(), NetError> {
    let peer = DeviceId(*conn.remote_id().as_bytes());
    // Its own token: a session that a simultaneous dial replaces ends alone.
    let cancel = cancel.child_token();
    let opened = shared
        .sessions
        .lock()
        .map_err(|_| NetError::Poisoned)?
        .open(shared.device, peer, dialer, &cancel, Instant::now());
    let Some(id) = opened else {
        tracing::debug!(peer = %conn.remote_id().fmt_short(), "both sides dialled at once: the other session stays");
        conn.close(VarInt::from_u32(0), b"a session with this device is open");
        return Ok(());
    };
    let forget = || {
        if let Ok(mut s) = shared.sessions.lock() {
            s.close(&peer, id);
        }
    };
    let streams = if dialer {
        conn.open_bi().await
    } else {
        conn.accept_bi().await
    };
    let (send, recv) = match streams {
        Ok(streams) => streams,
        Err(e) => {
            forget();
            return Err(e.into());
        }
    };
    let (out_tx, out_rx) = mpsc::channel::<Msg>(64);
    let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Incoming>();
    let writer = tokio::spawn(write_loop(send, out_rx));
    let reader = tokio::spawn(read_loop(recv, in_tx));

    let mut driver = Driver {
        shared: &shared,
        session: Some(Session::new(peer, mode)),
        out: &out_tx,
        started: Instant::now(),
        more: false,
    };
    let result = crate::traffic::scope(
        shared.device.0,
        peer.0,
        drive(&mut driver, &conn, &mut in_rx, mode, cancel),
    )
    .await;
    // Whatever ended the session, what it was asking goes to the others.
    let _ = driver.step(Event::Closed).await;
    drop(driver);

    drop(out_tx);
    if mode == Mode::OneShot || result.is_err() {
        // Let the writer flush what is queued before closing.
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    } else {
        writer.abort();
    }
    reader.abort();
    forget();
    match &result {
        Err(NetError::Refused(reason)) => {
            conn.close(VarInt::from_u32(CLOSE_REFUSED), reason.as_bytes())
        }
        Err(NetError::NotMember) => conn.close(
            VarInt::from_u32(CLOSE_NOT_MEMBER),
            b"not a member of this alliance",
        ),
        _ => conn.close(VarInt::from_u32(0), b"done"),
    }
    result
}

async fn write_loop(mut send: SendStream, mut out: mpsc::Receiver<Msg>) -> Result<(), NetError> {
    while let Some(msg) = out.recv().await {
        write_frame(&mut send, &msg).await?;
    }
    let _ = send.finish();
    let _ = send.stopped().await;
    Ok(())
}

async fn read_loop(
    mut recv: RecvStream,
    inbox: mpsc::UnboundedSender<Incoming>,
) -> Result<(), NetError> {
    let room = Arc::new(Semaphore::new(READ_AHEAD));
    while let Some(payload) = read_payload_at_most(&mut recv, MAX_FRAME).await? {
        let weight = payload.len().clamp(MESSAGE_WEIGHT, READ_AHEAD);
        let Ok(permit) = room
            .clone()
            .acquire_many_owned(u32::try_from(weight).unwrap_or(u32::MAX))
            .await
        else {
            break;
        };
        let msg: Msg = decode(&payload)?;
        if inbox.send((msg, permit)).is_err() {
            break;
        }
    }
    Ok(())
}

/// The state machine and where its output goes.
struct Driver<'a> {
    shared: &'a Shared,
    /// Moved into the node's lock for each step.
    session: Option<Session>,
    out: &'a mpsc::Sender<Msg>,
    started: Instant,
    /// The state machine has more to send ([`Output::more`]): it gets
    /// [`Event::Drained`] once the writer has taken all it queued.
    more: bool,
}

impl Driver<'_> {
    /// Hands one event to the state machine under the node's lock, then
    /// carries out its output. `Some` once the session is over.
    async fn step(&mut self, event: Event) -> Result<Option<End>, NetError> {
        let Some(mut session) = self.session.take() else {
            return Ok(Some(End::Done));
        };
        let now_ms = self.started.elapsed().as_millis() as u64;
        let (session, output) = self
            .shared
            .with(move |n| {
                let output = session.handle(n, event, now_ms);
                (session, output)
            })
            .await?;
        self.session = Some(session);
        let Output {
            send,
            end,
            node_changed,
            members_changed,
            addrs,
            more,
        } = output;
        for (device, a) in &addrs {
            self.shared.add_addrs(device, a);
        }
        if members_changed {
            self.shared.refresh_members().await;
        }
        if node_changed {
            self.shared.bump();
        }
        for msg in send {
            crate::traffic::queued(&msg);
            self.out.send(msg).await.map_err(|_| NetError::Closed)?;
        }
        if end.is_some() {
            return Ok(end);
        }
        self.more = more;
        Ok(None)
    }

    /// Lets the state machine see the messages waiting, before it is
    /// handed them one by one (see `Session::prepare`).
    async fn prepare(
        &mut self,
        waiting: VecDeque<Incoming>,
    ) -> Result<VecDeque<Incoming>, NetError> {
        let Some(session) = self.session.take() else {
            return Ok(waiting);
        };
        let (session, waiting) = self
            .shared
            .with(move |n| {
                session.prepare(n, waiting.iter().map(|(msg, _)| msg));
                (session, waiting)
            })
            .await?;
        self.session = Some(session);
        Ok(waiting)
    }

    /// Resolves once the state machine said it has more to send and the
    /// writer has taken everything queued: file parts are read as the peer
    /// takes them, so a node sending many files holds about one message of
    /// them, not as many as the queue holds (64 messages of up to 1 MiB).
    async fn drained(&self) {
        if !self.more {
            return std::future::pending().await;
        }
        if let Ok(permits) = self.out.reserve_many(self.out.max_capacity()).await {
            drop(permits);
        }
    }
}

async fn drive(
    driver: &mut Driver<'_>,
    conn: &Connection,
    inbox: &mut mpsc::UnboundedReceiver<Incoming>,
    mode: Mode,
    cancel: CancellationToken,
) -> Result<(), NetError> {
    let mut changes = driver.shared.subscribe();
    let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut event = Event::Start;
    // The share of [`READ_AHEAD`] of the message being handled.
    let mut handling: Option<OwnedSemaphorePermit> = None;
    // Messages taken from the inbox together, to be handled in order.
    let mut waiting: VecDeque<Incoming> = VecDeque::new();
    loop {
        // Messages that arrived together are made durable together, once
        // none is waiting.
        let idle_due = matches!(event, Event::Received(_));
        match driver.step(event).await? {
            None => {}
            Some(End::Done) => return Ok(()),
            Some(End::Refused(reason)) => return Err(NetError::Refused(reason)),
            Some(End::NotMember) => return Err(NetError::NotMember),
            Some(End::Throttled(reason)) => {
                tracing::warn!(peer = %conn.remote_id().fmt_short(), %reason, "peer throttled");
                driver.shared.throttle(conn);
                return Err(NetError::Refused(reason));
            }
            Some(End::Node(e)) => return Err(NetError::Node(e)),
        }
        drop(handling.take());
        if idle_due && waiting.is_empty() && inbox.is_empty() {
            event = Event::Idle;
            continue;
        }
        // Several messages waiting: the state machine sees them all first
        // (a newcomer's documents are then loaded side by side).
        if waiting.is_empty() && inbox.len() > 1 {
            while let Ok(incoming) = inbox.try_recv() {
                waiting.push_back(incoming);
            }
            waiting = driver.prepare(waiting).await?;
        }
        event = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            reason = conn.closed() => {
                tracing::debug!(peer = %conn.remote_id().fmt_short(), ?reason, "connection closed");
                return if mode == Mode::OneShot { Err(NetError::Closed) } else { Ok(()) };
            }
            // Before the peer's messages, so that a busy peer does not
            // hold up the files it asked for.
            () = driver.drained() => {
                driver.more = false;
                Event::Drained
            }
            incoming = next_incoming(&mut waiting, inbox) => {
                let Some((msg, permit)) = incoming else {
                    return if mode == Mode::OneShot { Err(NetError::Closed) } else { Ok(()) };
                };
                handling = Some(permit);
                crate::traffic::handled(&msg);
                Event::Received(msg)
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                Event::NodeChanged
            }
            _ = ticks.tick() => Event::Tick,
        };
    }
}

/// The next message: one taken from the inbox already, else the inbox's.
async fn next_incoming(
    waiting: &mut VecDeque<Incoming>,
    inbox: &mut mpsc::UnboundedReceiver<Incoming>,
) -> Option<Incoming> {
    match waiting.pop_front() {
        Some(incoming) => Some(incoming),
        None => inbox.recv().await,
    }
}
