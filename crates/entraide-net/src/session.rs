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

use std::time::{Duration, Instant};

use entraide_membership::DeviceId;
use entraide_node::session::{End, Event, Output, Session, TICK_MS};
use iroh::endpoint::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use entraide_node::session::Mode;

use crate::NetError;
use crate::shared::{CLOSE_NOT_MEMBER, CLOSE_REFUSED, Shared};
use crate::wire::{Msg, read_frame, write_frame};

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
    let (in_tx, mut in_rx) = mpsc::channel::<Msg>(64);
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

async fn read_loop(mut recv: RecvStream, inbox: mpsc::Sender<Msg>) -> Result<(), NetError> {
    while let Some(msg) = read_frame::<_, Msg>(&mut recv).await? {
        if inbox.send(msg).await.is_err() {
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
    inbox: &mut mpsc::Receiver<Msg>,
    mode: Mode,
    cancel: CancellationToken,
) -> Result<(), NetError> {
    let mut changes = driver.shared.subscribe();
    let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut event = Event::Start;
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
        if idle_due && inbox.is_empty() {
            event = Event::Idle;
            continue;
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
            msg = inbox.recv() => {
                let Some(msg) = msg else {
                    return if mode == Mode::OneShot { Err(NetError::Closed) } else { Ok(()) };
                };
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
