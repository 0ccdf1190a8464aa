//! Peer wire messages as values. Framing and limits live beside them.

use bytes::Bytes;

/// Bytes in a block, the unit of requests (BEP 3); the last block of a
/// piece may be shorter.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// A request for (or cancel of, or rejection of) one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRequest {
    pub piece: u32,
    pub offset: u32,
    pub length: u32,
}

/// One message after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    /// Raw bitfield bytes, validated against the piece count by the session.
    Bitfield(Bytes),
    Request(BlockRequest),
    Piece {
        piece: u32,
        offset: u32,
        data: Bytes,
    },
    Cancel(BlockRequest),
    /// DHT port (BEP 5).
    Port(u16),
    // Fast extension (BEP 6).
    SuggestPiece(u32),
    HaveAll,
    HaveNone,
    RejectRequest(BlockRequest),
    AllowedFast(u32),
    /// Extension protocol (BEP 10): id 0 is the extension handshake.
    Extended {
        id: u8,
        payload: Bytes,
    },
}
