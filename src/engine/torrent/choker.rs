//! Which peers we upload to: a few regular slots for the peers that
//! reciprocate best, plus one optimistic slot that gives a newcomer a
//! chance to prove itself (BEP 3 tit-for-tat, as libtorrent's default).

use std::collections::HashSet;
use std::time::Duration;

use crate::engine::picker::PeerKey;

/// Regular unchoke slots per torrent: few, so each unchoked peer gets a
/// useful share of our upload.
pub const REGULAR_UNCHOKE_SLOTS: usize = 4;

/// How often the regular slots are recomputed.
pub const RECHOKE_INTERVAL: Duration = Duration::from_secs(10);

/// How often the optimistic slot moves to another peer.
pub const OPTIMISTIC_UNCHOKE_INTERVAL: Duration = Duration::from_secs(30);

/// A peer as the choker sees it.
#[derive(Clone, Copy, Debug)]
pub struct ChokeCandidate {
    pub key: PeerKey,
    /// Only interested peers take a slot.
    pub interested: bool,
    /// What ranks peers, bytes/s: their upload to us while we download,
    /// our upload to them while we seed (favouring peers that take data
    /// fast, so it spreads through the swarm).
    pub rate: f64,
}

/// The peers to unchoke: the best `REGULAR_UNCHOKE_SLOTS` interested peers
/// by rate, plus the optimistic peer if it is interested.
pub fn peers_to_unchoke(
    candidates: &[ChokeCandidate],
    optimistic: Option<PeerKey>,
) -> HashSet<PeerKey> {
    let mut interested: Vec<_> = candidates.iter().filter(|c| c.interested).collect();
    interested.sort_by(|a, b| b.rate.total_cmp(&a.rate).then(a.key.cmp(&b.key)));
    let mut unchoked: HashSet<PeerKey> = interested
        .iter()
        .take(REGULAR_UNCHOKE_SLOTS)
        .map(|c| c.key)
        .collect();
    if let Some(key) = optimistic
        && interested.iter().any(|c| c.key == key)
    {
        unchoked.insert(key);
    }
    unchoked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(key: PeerKey, interested: bool, rate: f64) -> ChokeCandidate {
        ChokeCandidate {
            key,
            interested,
            rate,
        }
    }

    #[test]
    fn fastest_interested_peers_get_the_regular_slots() {
        let candidates: Vec<_> = (0..10)
            .map(|key| candidate(key, key != 9, key as f64))
            .collect();
        let unchoked = peers_to_unchoke(&candidates, None);
        // Peer 9 is fastest but not interested.
        assert_eq!(unchoked, HashSet::from([8, 7, 6, 5]));
    }

    #[test]
    fn optimistic_peer_gets_an_extra_slot_only_when_interested() {
        let candidates: Vec<_> = (0..10)
            .map(|key| candidate(key, key != 1, key as f64))
            .collect();
        assert!(peers_to_unchoke(&candidates, Some(0)).contains(&0));
        assert_eq!(peers_to_unchoke(&candidates, Some(0)).len(), 5);
        assert!(!peers_to_unchoke(&candidates, Some(1)).contains(&1));
    }
}
