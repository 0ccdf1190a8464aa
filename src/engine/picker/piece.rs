//! Block bookkeeping of one started piece: which blocks are open, in flight
//! (on which peers, late from when) or received.

use std::time::Instant;

use super::PeerKey;
use crate::engine::wire::{BLOCK_SIZE, BlockRequest};

/// One outstanding request of a block on one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct InFlight {
    pub peer: PeerKey,
    /// When it was requested.
    pub sent_at: Instant,
    /// When the block should arrive, by the peer's rate and queue.
    pub expected_at: Instant,
    /// When the block should have arrived from this peer, with slack; past
    /// it the block is late and may be requested again elsewhere.
    pub late_at: Instant,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Block {
    Open,
    /// Never empty: a block whose last request goes away is `Open` again.
    Requested(Vec<InFlight>),
    Received,
}

/// A piece with at least one block requested since it was last reset.
#[derive(Clone, Debug)]
pub(super) struct PartialPiece {
    pub blocks: Vec<Block>,
    pub open: u32,
    pub received: u32,
}

impl PartialPiece {
    pub fn new(piece_len: u32) -> Self {
        let count = piece_len.div_ceil(BLOCK_SIZE);
        Self {
            blocks: vec![Block::Open; count as usize],
            open: count,
            received: 0,
        }
    }

    pub fn is_complete(&self) -> bool {
        self.received as usize == self.blocks.len()
    }

    /// Marks a block requested from `peer`.
    pub fn add_request(&mut self, index: usize, flight: InFlight) {
        match self.blocks.get_mut(index) {
            Some(block @ Block::Open) => {
                *block = Block::Requested(vec![flight]);
                self.open -= 1;
            }
            Some(Block::Requested(flights)) => flights.push(flight),
            Some(Block::Received) | None => {}
        }
    }

    /// Forgets the request of a block on `peer`; returns true when the
    /// block became open again (no other copy in flight).
    pub fn remove_request(&mut self, index: usize, peer: PeerKey) -> bool {
        let Some(block) = self.blocks.get_mut(index) else {
            return false;
        };
        if let Block::Requested(flights) = block {
            flights.retain(|flight| flight.peer != peer);
            if flights.is_empty() {
                *block = Block::Open;
                self.open += 1;
                return true;
            }
        }
        false
    }

    /// Marks a block received; returns the other peers it was still
    /// requested from, or `None` when it was already received.
    pub fn receive(&mut self, index: usize) -> Option<Vec<PeerKey>> {
        let block = self.blocks.get_mut(index)?;
        let others = match std::mem::replace(block, Block::Received) {
            Block::Received => return None,
            Block::Open => {
                self.open -= 1;
                Vec::new()
            }
            Block::Requested(flights) => flights.into_iter().map(|f| f.peer).collect(),
        };
        self.received += 1;
        Some(others)
    }

    /// Every block open again (hash failure, or data that no longer counts).
    /// Returns the requests that were still in flight.
    pub fn reset(&mut self) -> Vec<(usize, PeerKey)> {
        let mut in_flight = Vec::new();
        for (index, block) in self.blocks.iter_mut().enumerate() {
            if let Block::Requested(flights) = block {
                in_flight.extend(flights.iter().map(|f| (index, f.peer)));
            }
            *block = Block::Open;
        }
        self.open = self.blocks.len() as u32;
        self.received = 0;
        in_flight
    }
}

/// The request for block `index` of a piece of `piece_len` bytes.
pub(super) fn block_request(piece: u32, piece_len: u32, index: usize) -> BlockRequest {
    let offset = index as u32 * BLOCK_SIZE;
    BlockRequest {
        piece,
        offset,
        length: (piece_len - offset).min(BLOCK_SIZE),
    }
}

/// The block index of `block` if it is exactly one block of a piece of
/// `piece_len` bytes (peers choose what they send: check it all).
pub(super) fn block_index(block: &BlockRequest, piece_len: u32) -> Option<usize> {
    if block.offset % BLOCK_SIZE != 0 || block.offset >= piece_len {
        return None;
    }
    let index = (block.offset / BLOCK_SIZE) as usize;
    (block_request(block.piece, piece_len, index) == *block).then_some(index)
}
