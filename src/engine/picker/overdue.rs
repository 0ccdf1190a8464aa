//! Copies of overdue time-critical blocks for peers whose rate is not
//! measured yet. At the start of a stream the first frame's pieces are due
//! at once, and every one of their blocks is soon in flight at the first
//! peers to connect, queued behind their rate limits: a rate-limited
//! libtorrent peer sends the blocks of its first request at once (its
//! limiter's saved quota), then 3–4 blocks per half-second tick, and not
//! always as many as it holds. Peers that connected later, or had room
//! again, took pieces due later, and the first frame waited for the
//! slowest queue (1.3x benchmark: the last blocks came one or two ticks
//! after the rest). Until rates are measured (the first 1-s tick) nothing
//! tells which queue is slow, so such a peer copies the stuck blocks, at
//! most one extra copy each and within the few critical blocks a peer of
//! unknown rate may hold: whichever copy comes first wins.

use std::time::Duration;

use super::piece::Block;
use super::{PeerKey, PickRound, Picker, UNKNOWN_RATE_CRITICAL_BLOCKS};

/// A block another peer has held this long did not come in that peer's
/// first burst (answered within a few milliseconds on loopback); a
/// rate-limited peer now sends it at one of its later ticks, up to half a
/// second on. Younger blocks may still come at once: copying them would
/// waste this peer's slot and the other peer's quota.
const COPY_AFTER: Duration = Duration::from_millis(50);

impl Picker {
    /// Time-critical blocks this peer of unknown rate may still request.
    pub(super) fn unmeasured_critical_room(&self, peer: PeerKey) -> usize {
        let Some(state) = self.peers.get(&peer) else {
            return 0;
        };
        let critical = state.in_flight.iter();
        let critical = critical.filter(|b| self.is_critical.get(b.piece)).count();
        UNKNOWN_RATE_CRITICAL_BLOCKS.saturating_sub(critical)
    }

    /// For a peer of unknown rate: copies of time-critical blocks all in
    /// flight elsewhere, in pieces due before any block still open that
    /// this peer could take (open blocks go first), held there for at
    /// least `COPY_AFTER`, and whose every copy is expected after the
    /// deadline (at a peer of unknown rate, a copy is expected only after
    /// 3 s). At most `max_copies` copies of a block.
    pub(super) fn pick_overdue_copies(&mut self, round: &mut PickRound, max_copies: usize) {
        let mut wanted = Vec::new();
        let room = self
            .unmeasured_critical_room(round.peer)
            .min(round.slots.saturating_sub(round.picked.len()));
        'pieces: for entry in &self.critical {
            if wanted.len() >= room {
                break;
            }
            let piece = entry.due.piece;
            if self.have.get(piece) || !round.pieces.get(piece) {
                continue;
            }
            let Some(partial) = self.partial.get(&piece) else {
                break;
            };
            if partial.open > 0 {
                break;
            }
            for (index, block) in partial.blocks.iter().enumerate() {
                let Block::Requested(flights) = block else {
                    continue;
                };
                let copy = flights.len() < max_copies
                    && flights.iter().all(|f| {
                        f.peer != round.peer
                            && round.now.saturating_duration_since(f.sent_at) >= COPY_AFTER
                            && self.expected_arrival(f, round.now) > entry.due.deadline
                    });
                if copy {
                    wanted.push((piece, index));
                    if wanted.len() >= room {
                        break 'pieces;
                    }
                }
            }
        }
        for (piece, index) in wanted {
            self.request(round, piece, index);
        }
    }
}
