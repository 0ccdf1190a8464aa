//! One peer connection: a task that speaks the wire protocol over any
//! ordered byte stream (TCP now) on behalf of its torrent task.
//!
//! The session validates everything the peer sends against
//! `engine::limits`, serves the peer's requests itself (from storage, after
//! unchoking, through the global upload limit) and reports the rest to the
//! torrent task as [`PeerEvent`]s; the torrent task drives it with
//! [`PeerCommand`]s. A reader task turns bytes into messages so that the
//! session can wait on messages, commands and timers at once.

mod session;

pub use session::{PeerCounters, PeerParams, run_incoming, run_outgoing};

use std::net::SocketAddr;

use bytes::Bytes;

use crate::engine::bitfield::Bitfield;
use crate::engine::picker::PeerKey;
use crate::engine::wire::{BlockRequest, PexMessage};

/// What the torrent task tells a peer session to do.
#[derive(Debug)]
pub enum PeerCommand {
    Request(Vec<BlockRequest>),
    Cancel(BlockRequest),
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    /// We verified this piece.
    Have(u32),
    /// Tell the peer about other peers (sent only if it speaks `ut_pex`).
    Pex(PexMessage),
    Disconnect,
}

/// What a peer session reports to its torrent task.
#[derive(Debug)]
pub struct PeerEvent {
    pub key: PeerKey,
    pub kind: PeerEventKind,
}

#[derive(Debug)]
pub enum PeerEventKind {
    /// The handshake completed.
    Connected {
        addr: SocketAddr,
        fast: bool,
    },
    /// The peer's validated piece set (bitfield, HaveAll or HaveNone).
    Pieces(Bitfield),
    Have(u32),
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    /// A block with exactly `request.length` bytes.
    Block {
        request: BlockRequest,
        data: Bytes,
    },
    /// The peer will not send this block (Fast extension).
    Rejected(BlockRequest),
    /// The peer's BEP 10 handshake: how many requests it accepts in
    /// flight (`reqq`), its client's name (`v`, length-limited), its
    /// listen port (`p`), and whether it takes `ut_pex` messages.
    Extensions {
        request_queue: Option<u32>,
        client: Option<String>,
        listen_port: Option<u16>,
        pex: bool,
    },
    /// Peers the peer says it is connected to (`ut_pex` added).
    Pex(Vec<SocketAddr>),
    /// The peer lets us request this piece even while it chokes us.
    AllowedFast(u32),
    /// The session ended; `reason` says why, for logs and events.
    Gone {
        reason: String,
    },
}
