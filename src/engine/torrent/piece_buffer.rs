//! Pieces assembled in memory until they verify, and the buffers of
//! checked pieces kept for the next ones.

use std::collections::HashSet;

use super::strikes::Supplier;
use crate::engine::wire::BLOCK_SIZE;

/// Buffers of checked pieces kept for reuse. A fresh buffer costs zeroing
/// and page faults on every byte (a tenth of the download's CPU on
/// loopback); pieces complete one at a time, so two spares cover the
/// steady state while bounding memory to two pieces.
const MAX_SPARE_BUFFERS: usize = 2;

/// A piece whose blocks are arriving, kept in memory until it verifies:
/// only verified data reaches the disk.
pub(super) struct PieceBuffer {
    pub data: Vec<u8>,
    pub received: Vec<bool>,
    /// Who sent blocks of it, blamed if it fails the hash.
    pub contributors: HashSet<Supplier>,
}

impl PieceBuffer {
    /// A buffer for a piece of `length` bytes, reusing a spare of that
    /// length. A reused buffer holds an old piece's bytes: every block
    /// overwrites its range and the piece is hashed only once each block
    /// arrived, so none of them survives.
    pub fn new(length: u32, spares: &mut SpareBuffers) -> Self {
        Self {
            data: spares.take(length as usize),
            received: vec![false; length.div_ceil(BLOCK_SIZE) as usize],
            contributors: HashSet::new(),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.received.iter().all(|&r| r)
    }
}

#[derive(Debug, Default)]
pub(super) struct SpareBuffers(Vec<Vec<u8>>);

impl SpareBuffers {
    /// A buffer of exactly `length` bytes: a spare of that length, or a new
    /// zeroed one.
    fn take(&mut self, length: usize) -> Vec<u8> {
        match self.0.iter().position(|buffer| buffer.len() == length) {
            Some(index) => self.0.swap_remove(index),
            None => vec![0; length],
        }
    }

    /// Keeps a checked piece's buffer unless enough are kept already.
    pub fn give(&mut self, buffer: Vec<u8>) {
        if self.0.len() < MAX_SPARE_BUFFERS {
            self.0.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_of_the_right_length_is_reused_and_at_most_two_are_kept() {
        let mut spares = SpareBuffers::default();
        for fill in [1, 2, 3] {
            spares.give(vec![fill; 32 * 1024]);
        }
        assert_eq!(spares.0.len(), MAX_SPARE_BUFFERS);
        // The last piece is shorter: no spare fits, a new buffer is made.
        let last = PieceBuffer::new(1000, &mut spares);
        assert_eq!(last.data, vec![0; 1000]);
        assert_eq!(spares.0.len(), 2);
        let reused = PieceBuffer::new(32 * 1024, &mut spares);
        assert_eq!(reused.data.len(), 32 * 1024);
        assert_ne!(reused.data[0], 0, "a spare was reused");
        assert_eq!(reused.received, vec![false; 2]);
        assert_eq!(spares.0.len(), 1);
    }
}
