//! Which time-critical blocks a standby source (an HTTP origin under
//! "avoid stall") is asked for: those the peers, working through their
//! queues at their measured rates, would bring after the deadline. Judging
//! each block by the quickest peer alone counts every peer's capacity once
//! per block: a swarm that brings one block in time is then judged in time
//! for the whole window, and the origin is asked only when the deadline is
//! upon it.

use super::PeerKey;

/// The other peers' queues, played forward: each open time-critical block,
/// in deadline order, is booked on the peer that would finish it first.
#[derive(Debug, Default)]
pub(super) struct PeerSchedule {
    peers: Vec<PlannedPeer>,
}

#[derive(Debug)]
struct PlannedPeer {
    key: PeerKey,
    /// Seconds from now until the peer is through what it holds and what
    /// was booked on it.
    busy_secs: f64,
    /// Bytes/s; 0 while not measured.
    rate: f64,
    /// Blocks a peer of unknown rate may still take, each counted as
    /// arriving after `unmeasured_secs`.
    unmeasured_slots: usize,
}

impl PeerSchedule {
    /// Adds a peer with `queued_bytes` in flight at `rate` bytes/s (0:
    /// unknown; it may then take `unmeasured_slots` more blocks).
    pub fn add(&mut self, key: PeerKey, queued_bytes: u64, rate: f64, unmeasured_slots: usize) {
        let measured = rate.is_finite() && rate > 0.0;
        self.peers.push(PlannedPeer {
            key,
            busy_secs: if measured {
                queued_bytes as f64 / rate
            } else {
                0.0
            },
            rate: if measured { rate } else { 0.0 },
            unmeasured_slots: if measured { 0 } else { unmeasured_slots },
        });
    }

    /// Whether a peer for which `has` holds would bring a block of `length`
    /// bytes within `secs_left` (a peer of unknown rate: after
    /// `unmeasured_secs`); if so the block is booked on the quickest one.
    pub fn book(
        &mut self,
        length: u32,
        secs_left: f64,
        unmeasured_secs: f64,
        has: impl Fn(PeerKey) -> bool,
    ) -> bool {
        let finish = |peer: &PlannedPeer| {
            if peer.rate > 0.0 {
                peer.busy_secs + f64::from(length) / peer.rate
            } else if peer.unmeasured_slots > 0 {
                unmeasured_secs
            } else {
                f64::INFINITY
            }
        };
        let quickest = self
            .peers
            .iter_mut()
            .filter(|peer| has(peer.key))
            .map(|peer| (finish(peer), peer))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match quickest {
            Some((secs, peer)) if secs <= secs_left => {
                if peer.rate > 0.0 {
                    peer.busy_secs = secs;
                } else {
                    peer.unmeasured_slots -= 1;
                }
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: u32 = 16 * 1024;

    #[test]
    fn blocks_are_booked_on_the_peer_that_finishes_first_until_none_is_in_time() {
        let mut schedule = PeerSchedule::default();
        // Peer 1: a block per second, one already queued; peer 2: a block
        // per half second, idle.
        schedule.add(1, u64::from(BLOCK), f64::from(BLOCK), 0);
        schedule.add(2, 0, 2.0 * f64::from(BLOCK), 0);
        let anyone = |_| true;
        // Finishes: peer 2 at 0.5, 1.0, 1.5 s; peer 1 at 2 s.
        assert!(schedule.book(BLOCK, 0.5, 3.0, anyone));
        assert!(schedule.book(BLOCK, 1.0, 3.0, anyone));
        assert!(!schedule.book(BLOCK, 1.2, 3.0, anyone));
        assert!(schedule.book(BLOCK, 1.5, 3.0, anyone));
        // Only peer 1 has this piece: 2 s.
        assert!(!schedule.book(BLOCK, 1.9, 3.0, |key| key == 1));
        assert!(schedule.book(BLOCK, 2.0, 3.0, |key| key == 1));
    }

    #[test]
    fn a_peer_of_unknown_rate_takes_its_few_blocks_after_the_assumed_delay() {
        let mut schedule = PeerSchedule::default();
        schedule.add(1, 0, 0.0, 2);
        let anyone = |_| true;
        assert!(!schedule.book(BLOCK, 2.0, 3.0, anyone));
        assert!(schedule.book(BLOCK, 3.0, 3.0, anyone));
        assert!(schedule.book(BLOCK, 3.0, 3.0, anyone));
        assert!(!schedule.book(BLOCK, 100.0, 3.0, anyone));
    }
}
