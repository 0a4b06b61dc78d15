//! The sync protocol's messages and their framing.
//!
//! ALPN `entraide/sync/10`: after the QUIC handshake (which authenticates the
//! peer's device key), the dialing side opens one bidirectional stream and
//! both sides exchange [`Msg`] frames on it: `u32` little-endian length, then
//! the postcard encoding of the message. A frame over [`MAX_FRAME`] bytes, or
//! one that does not decode, ends the connection.
//!
//! ALPN `entraide/join/5`: the newcomer opens one stream, sends one
//! [`JoinMsg::Request`] frame; the inviter answers one [`JoinMsg::Admitted`]
//! or [`JoinMsg::Refused`] frame.

use entraide_node::JoinRequest;
pub use entraide_node::session::Msg;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The sync protocol, version 10 (version 9 sent each part of a library
/// file in a message of its own, where version 10 sends many small files in
/// one `BlobParts`; version 8 had the calendar in one document, where
/// version 9 has it in 8 parts; version 7 wrote a booking's fixed fields
/// one key each, and refuses the packed `fixed` field of schema version 3
/// as a key no booking has; version 7 added `Equivocation` and the heads
/// of `Want`; version 6 the ledger; version 5 had no ledger document nor
/// groups, whose documents' kinds and operations a version 5 node cannot
/// decode; version 4 had five documents, and a
/// version 4 node cannot decode the events and profiles documents' kinds
/// nor the `Leave` operation; version 3 had no heads in `Hello`, so two
/// changes under one actor and sequence number went unseen; version 2 had
/// record ids without their creator; version 1 had no `Have`/`Want`).
/// Nodes of two versions refuse each other at the handshake: the members
/// of an alliance update together.
pub const SYNC_ALPN: &[u8] = b"entraide/sync/10";
/// Joining an alliance with a ticket, version 5 (version 4 led to the sync
/// protocol's version 9: a newcomer of that version would be admitted, then
/// refused at the sync's handshake, its invitation used; version 3 refuses packed
/// bookings, which the documents sent after the admission hold; version 2 knew no group
/// operations, version 1 no `Leave`, which the admission may carry).
pub const JOIN_ALPN: &[u8] = b"entraide/join/5";
/// The largest frame accepted (a document bundle can be large).
pub const MAX_FRAME: usize = 80 * 1024 * 1024;
/// The largest join request accepted: the join protocol is open to anyone
/// holding the node's address, so it never reads more than a ticket, a name
/// and a signature need.
pub const MAX_JOIN_REQUEST: usize = 64 * 1024;
/// How long a newcomer has to send its join request once connected.
pub const JOIN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The join protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinMsg {
    /// The newcomer's request.
    Request(JoinRequest),
    /// Admitted: the whole membership log.
    Admitted(Vec<Vec<u8>>),
    /// Waiting for approvals: the log so far and what it waits for.
    Pending(Vec<Vec<u8>>, String),
    /// Refused, with the reason.
    Refused(String),
}

/// A frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed or closed.
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// Too large.
    #[error("a peer sent a {0}-byte message, over the limit")]
    TooLarge(usize),
    /// Not a message.
    #[error("a peer sent a malformed message")]
    Malformed,
}

/// Decodes one message from a frame's payload.
pub fn decode<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, FrameError> {
    postcard::from_bytes(payload).map_err(|_| FrameError::Malformed)
}

/// Encodes one message as a whole frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = postcard::to_allocvec(msg).unwrap_or_default();
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Reads one frame of at most [`MAX_FRAME`] bytes; `Ok(None)` at a clean
/// end of stream.
pub async fn read_frame<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    recv: &mut R,
) -> Result<Option<T>, FrameError> {
    read_frame_at_most(recv, MAX_FRAME).await
}

/// Reads one frame of at most `max` bytes; `Ok(None)` at a clean end of
/// stream. Memory grows with the bytes that actually arrive, never with the
/// length a peer announces.
pub async fn read_frame_at_most<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    recv: &mut R,
    max: usize,
) -> Result<Option<T>, FrameError> {
    match read_payload_at_most(recv, max).await? {
        Some(payload) => decode(&payload).map(Some),
        None => Ok(None),
    }
}

/// The payload of one frame of at most `max` bytes, not decoded yet;
/// `Ok(None)` at a clean end of stream.
pub async fn read_payload_at_most<R: AsyncRead + Unpin>(
    recv: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = Vec::with_capacity(len.min(64 * 1024));
    (&mut *recv)
        .take(len as u64)
        .read_to_end(&mut payload)
        .await?;
    if payload.len() != len {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Some(payload))
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    send: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    send.write_all(&encode(msg)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_roundtrip_and_refuse_garbage() {
        let msgs = vec![
            Msg::Synced,
            Msg::NoBlob([7; 32]),
            Msg::Ops(vec![vec![1, 2, 3]]),
        ];
        let mut bytes = Vec::new();
        for m in &msgs {
            bytes.extend(encode(m));
        }
        let mut reader = bytes.as_slice();
        for m in &msgs {
            let got: Msg = read_frame(&mut reader).await.unwrap().unwrap();
            assert_eq!(&got, m);
        }
        assert!(read_frame::<_, Msg>(&mut reader).await.unwrap().is_none());
        let mut huge: &[u8] = &u32::MAX.to_le_bytes();
        assert!(matches!(
            read_frame::<_, Msg>(&mut huge).await,
            Err(FrameError::TooLarge(_))
        ));
        let garbage = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame::<_, Msg>(&mut &garbage[..]).await,
            Err(FrameError::Malformed)
        ));
    }
}
