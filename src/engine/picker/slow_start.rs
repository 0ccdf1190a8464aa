//! Slow start for a peer whose rate is not measured yet (the first 1-s
//! tick): it may be slow, so it holds few time-critical blocks, unless it
//! proves fast by what it delivers; then its allowance grows by one block
//! per block delivered (doubling every round trip) and the torrent task
//! sizes its pipeline by its average rate. With one unlimited seeder the
//! deadline policy fetched at 37 MB/s while held to 4 blocks for the first
//! second, 80–110 MB/s with slow start capped at 32 blocks.

use std::time::{Duration, Instant};

use super::{PeerKey, PeerState, Picker, UNKNOWN_RATE_CRITICAL_BLOCKS};
use crate::engine::wire::BLOCK_SIZE;

/// A peer of unknown rate is proven fast once it delivered at least this
/// many bytes/s on average since its first request ...
const SLOW_START_MIN_BYTES_PER_SECOND: f64 = 2_000_000.0;

/// ... counted over at least this long: a slow libtorrent peer sends its
/// first blocks at once (its rate limiter's saved quota), then little for
/// half a second, and must not pass for fast. A peer that brings what
/// 2 MB/s would bring in this time (200 kB) sooner is proven at once: on
/// one unlimited seeder after about 15 ms, and the pipeline it then gets
/// is filled before the player's first startup check.
const SLOW_START_PROOF_AFTER: Duration = Duration::from_millis(100);

impl PeerState {
    /// Whether its rate is still unknown but it delivered quickly enough
    /// to be trusted with more than `UNKNOWN_RATE_CRITICAL_BLOCKS`.
    pub(super) fn proven_fast(&self, now: Instant) -> bool {
        self.rate == 0.0
            && self
                .average_rate(now)
                .is_some_and(|rate| rate >= SLOW_START_MIN_BYTES_PER_SECOND)
    }

    /// Bytes/s delivered since its first request, counted over at least
    /// `SLOW_START_PROOF_AFTER`.
    fn average_rate(&self, now: Instant) -> Option<f64> {
        let first = self.first_request?;
        let elapsed = now
            .saturating_duration_since(first)
            .max(SLOW_START_PROOF_AFTER);
        let bytes = f64::from(self.delivered) * f64::from(BLOCK_SIZE);
        Some(bytes / elapsed.as_secs_f64())
    }

    /// More blocks a peer proven fast may have in flight while its rate is
    /// unknown and pieces are time-critical: slow start from
    /// `UNKNOWN_RATE_CRITICAL_BLOCKS`, one more per block delivered (the
    /// allowance doubles every round trip). The torrent task bounds it by
    /// the pipeline of its `proven_rate`.
    pub(super) fn slow_start_room(&self) -> usize {
        UNKNOWN_RATE_CRITICAL_BLOCKS
            .saturating_add(self.delivered as usize)
            .saturating_sub(self.in_flight.len())
    }

    /// Its average rate since its first request once proven fast.
    fn proven_rate(&self, now: Instant) -> Option<f64> {
        self.average_rate(now).filter(|_| self.proven_fast(now))
    }
}

impl Picker {
    /// The average rate of a peer whose rate is not measured yet but which
    /// proved fast (at least 2 MB/s since its first request, counted over
    /// at least 100 ms), for sizing its pipeline until the first
    /// measurement.
    pub fn proven_rate(&self, peer: PeerKey, now: Instant) -> Option<f64> {
        self.peers.get(&peer)?.proven_rate(now)
    }
}
