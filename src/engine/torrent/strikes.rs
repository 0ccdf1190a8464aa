//! Who to ban for corrupt data: the sole supplier of a failed piece at
//! once, shared suppliers after `MAX_HASH_FAILURE_STRIKES` failed pieces
//! (a shared piece may have been spoiled by any of them). Peers are judged
//! by address, web seeds each on its own.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::engine::limits::MAX_HASH_FAILURE_STRIKES;
use crate::engine::picker::PeerKey;

/// Who sent blocks of a piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Supplier {
    Peer(IpAddr),
    WebSeed(PeerKey),
}

#[derive(Debug, Default)]
pub struct HashFailureStrikes {
    counts: HashMap<Supplier, u32>,
}

impl HashFailureStrikes {
    /// Records a piece that failed its hash, sent by `suppliers`; returns
    /// the suppliers to ban (or drop) now.
    pub fn piece_failed(&mut self, suppliers: &HashSet<Supplier>) -> Vec<Supplier> {
        let sole = suppliers.len() == 1;
        let mut ban = Vec::new();
        for &supplier in suppliers {
            let strikes = self.counts.entry(supplier).or_insert(0);
            *strikes += 1;
            if sole || *strikes >= MAX_HASH_FAILURE_STRIKES {
                self.counts.remove(&supplier);
                ban.push(supplier);
            }
        }
        ban
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Supplier {
        Supplier::Peer(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn sole_supplier_of_a_failed_piece_is_banned_at_once() {
        let mut strikes = HashFailureStrikes::default();
        assert_eq!(strikes.piece_failed(&HashSet::from([ip(1)])), vec![ip(1)]);
    }

    #[test]
    fn shared_suppliers_are_banned_when_strikes_reach_the_limit() {
        let mut strikes = HashFailureStrikes::default();
        let shared = HashSet::from([ip(1), ip(2)]);
        for _ in 1..MAX_HASH_FAILURE_STRIKES {
            assert!(strikes.piece_failed(&shared).is_empty());
        }
        let mut banned = strikes.piece_failed(&shared);
        banned.sort();
        assert_eq!(banned, vec![ip(1), ip(2)]);
    }

    #[test]
    fn a_web_seed_sharing_failed_pieces_with_a_peer_is_struck_like_one() {
        let mut strikes = HashFailureStrikes::default();
        let shared = HashSet::from([ip(1), Supplier::WebSeed(7)]);
        assert!(strikes.piece_failed(&shared).is_empty());
        assert_eq!(
            strikes.piece_failed(&HashSet::from([Supplier::WebSeed(7)])),
            vec![Supplier::WebSeed(7)]
        );
    }
}
