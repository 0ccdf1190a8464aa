//! Who to ban for corrupt data: the sole supplier of a failed piece at
//! once, shared suppliers after `MAX_HASH_FAILURE_STRIKES` failed pieces
//! (a shared piece may have been spoiled by any of them).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::engine::limits::MAX_HASH_FAILURE_STRIKES;

#[derive(Debug, Default)]
pub struct HashFailureStrikes {
    counts: HashMap<IpAddr, u32>,
}

impl HashFailureStrikes {
    /// Records a piece that failed its hash, sent by `suppliers`; returns
    /// the addresses to ban now.
    pub fn piece_failed(&mut self, suppliers: &HashSet<IpAddr>) -> Vec<IpAddr> {
        let sole = suppliers.len() == 1;
        let mut ban = Vec::new();
        for &ip in suppliers {
            let strikes = self.counts.entry(ip).or_insert(0);
            *strikes += 1;
            if sole || *strikes >= MAX_HASH_FAILURE_STRIKES {
                self.counts.remove(&ip);
                ban.push(ip);
            }
        }
        ban
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
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
}
