//! How many requests to keep in flight to one peer: enough that its link
//! never idles, few enough that time-critical blocks (a seek) never wait
//! behind seconds of other work queued at a slow peer.

use crate::engine::bitfield::Bitfield;
use crate::engine::wire::{BLOCK_SIZE, BlockRequest};

/// Seconds of a peer's measured rate we keep requested from it: enough to
/// cover the round trip and the peer's disk, and a rate-limited libtorrent
/// peer's quota for one of its 0.5-s ticks, so the link never idles. Not
/// more: libtorrent sends every block it was asked for even after a
/// cancel, so after a seek the new blocks wait behind this queue (1 s of
/// it cost a seek about 0.2 s more in the streaming benchmark).
pub(super) const REQUEST_QUEUE_SECONDS: f64 = 0.5;

/// Requests in flight to a peer before its rate is known (slow start).
pub(super) const MIN_REQUESTS_IN_FLIGHT: usize = 32;

/// Fewest requests in flight to a peer of known rate: the blocks behind
/// the one it sends. A slow peer keeps only about half a second queued, so
/// time-critical blocks (a seek) never wait behind seconds of other work.
const MIN_REQUESTS_AT_KNOWN_RATE: usize = 4;

/// Upper bound on requests in flight to one peer: 8 MiB, below the 2000
/// that libtorrent queues from one peer.
pub(super) const MAX_REQUESTS_IN_FLIGHT: usize = 512;

/// Requests to keep in flight to a peer delivering `rate` bytes/s (0:
/// unknown) that accepts at most `max_requests` (BEP 10 `reqq`). A snubbed
/// peer keeps one, so it can prove itself again.
pub(super) fn target_requests(rate: f64, snubbed: bool, max_requests: usize) -> usize {
    if snubbed {
        return 1;
    }
    let target = if rate.is_finite() && rate > 0.0 {
        // `as` saturates: an absurd rate cannot wrap.
        let by_rate = (rate * REQUEST_QUEUE_SECONDS / f64::from(BLOCK_SIZE)) as usize;
        by_rate.clamp(MIN_REQUESTS_AT_KNOWN_RATE, MAX_REQUESTS_IN_FLIGHT)
    } else {
        MIN_REQUESTS_IN_FLIGHT
    };
    target.min(max_requests)
}

/// The rate a peer's pipeline is sized by: its measured rate, else (0:
/// not measured yet) the average rate the picker credits it with once it
/// proved fast, else 0 (unknown: slow start).
pub(super) fn sizing_rate(measured: f64, proven: Option<f64>) -> f64 {
    if measured > 0.0 {
        measured
    } else {
        proven.unwrap_or(0.0)
    }
}

/// Requests a choke takes back. Without the Fast extension a choke drops
/// them all, silently. With it (BEP 6) the peer rejects each one it will
/// not send, and blocks already in its send buffer still arrive (libtorrent
/// sends them): dropping those now would count them as waste and fetch
/// them twice. Allowed-fast pieces stay requested either way.
pub(super) fn dropped_by_choke(
    fast: bool,
    requests: impl Iterator<Item = BlockRequest>,
    allowed_fast: &Bitfield,
) -> Vec<BlockRequest> {
    if fast {
        return Vec::new();
    }
    requests.filter(|r| !allowed_fast.get(r.piece)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choke_drops_requests_only_from_peers_that_will_not_reject_them() {
        let request = |piece| BlockRequest {
            piece,
            offset: 0,
            length: BLOCK_SIZE,
        };
        let mut allowed = Bitfield::new(4);
        allowed.set(2);
        let requests = [request(1), request(2), request(3)];
        let dropped = dropped_by_choke(false, requests.into_iter(), &allowed);
        assert_eq!(dropped, vec![request(1), request(3)]);
        assert!(dropped_by_choke(true, requests.into_iter(), &allowed).is_empty());
    }

    #[test]
    fn a_peer_proven_fast_is_sized_by_its_average_until_measured() {
        // One unlimited seeder proven at 100 MB/s: the full pipeline, not
        // the 32 requests of slow start.
        let proven = sizing_rate(0.0, Some(100e6));
        assert_eq!(target_requests(proven, false, 5000), MAX_REQUESTS_IN_FLIGHT);
        assert_eq!(
            target_requests(sizing_rate(0.0, None), false, 5000),
            MIN_REQUESTS_IN_FLIGHT
        );
        // Once measured, the measurement holds.
        assert_eq!(sizing_rate(121_000.0, Some(100e6)), 121_000.0);
    }

    #[test]
    fn a_peer_keeps_about_half_a_second_of_its_rate_in_flight() {
        let block = f64::from(BLOCK_SIZE);
        // (rate, snubbed, reqq) -> requests
        let table = [
            (0.0, false, 500, MIN_REQUESTS_IN_FLIGHT), // unknown: slow start
            (f64::NAN, false, 500, MIN_REQUESTS_IN_FLIGHT),
            // 121 KB/s (a quarter of 1.3× a 3 Mbit/s video): not 32 blocks,
            // which would be 4 s of queue, but the floor.
            (121_000.0, false, 500, MIN_REQUESTS_AT_KNOWN_RATE),
            (1e6, false, 500, 30),
            (block, false, 500, MIN_REQUESTS_AT_KNOWN_RATE), // slow: the floor
            (100.0 * block, false, 500, 50),
            (1e12, false, 5000, MAX_REQUESTS_IN_FLIGHT),
            (100.0 * block, false, 10, 10), // the peer's reqq
            (100.0 * block, true, 500, 1),  // snubbed
        ];
        for (rate, snubbed, reqq, expected) in table {
            assert_eq!(
                target_requests(rate, snubbed, reqq),
                expected,
                "rate {rate} snubbed {snubbed} reqq {reqq}"
            );
        }
    }
}
