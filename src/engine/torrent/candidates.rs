//! Addresses a torrent may dial (from trackers, the user, magnet links),
//! with retry back-off. Bounded by `MAX_PEER_CANDIDATES` so a tracker or a
//! peer exchange cannot grow memory.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::engine::limits::MAX_PEER_CANDIDATES;

/// Wait before reconnecting an address, doubled after each failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// Failed connection attempts after which an address is forgotten.
const MAX_CONNECT_FAILURES: u32 = 5;

/// While a session to an address is running, it is not dialled again.
const WHILE_CONNECTED: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Candidate {
    next_attempt: Instant,
    failures: u32,
}

#[derive(Debug, Default)]
pub struct Candidates {
    addresses: HashMap<SocketAddr, Candidate>,
}

impl Candidates {
    /// Remembers `addr`; returns false when the list is full.
    pub fn add(&mut self, addr: SocketAddr, now: Instant) -> bool {
        if self.addresses.len() >= MAX_PEER_CANDIDATES && !self.addresses.contains_key(&addr) {
            return false;
        }
        self.addresses.entry(addr).or_insert(Candidate {
            next_attempt: now,
            failures: 0,
        });
        true
    }

    /// Remembers `addr` if it is not known yet; says whether it was new.
    pub fn add_new(&mut self, addr: SocketAddr, now: Instant) -> bool {
        !self.addresses.contains_key(&addr) && self.add(addr, now)
    }

    /// Addresses due for a connection attempt, except `connected` ones.
    pub fn due(&self, now: Instant, connected: &HashSet<SocketAddr>) -> Vec<SocketAddr> {
        self.addresses
            .iter()
            .filter(|(addr, c)| c.next_attempt <= now && !connected.contains(addr))
            .map(|(addr, _)| *addr)
            .collect()
    }

    pub fn dialling(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(candidate) = self.addresses.get_mut(&addr) {
            candidate.next_attempt = now + WHILE_CONNECTED;
        }
    }

    pub fn handshaken(&mut self, addr: SocketAddr) {
        if let Some(candidate) = self.addresses.get_mut(&addr) {
            candidate.failures = 0;
        }
    }

    /// A session to `addr` ended; a failed attempt backs off, repeated
    /// failures forget the address.
    pub fn ended(&mut self, addr: SocketAddr, handshaken: bool, now: Instant) {
        let Some(candidate) = self.addresses.get_mut(&addr) else {
            return;
        };
        if !handshaken {
            candidate.failures += 1;
        }
        if candidate.failures >= MAX_CONNECT_FAILURES {
            self.addresses.remove(&addr);
        } else {
            candidate.next_attempt = now + RECONNECT_DELAY * 2u32.pow(candidate.failures);
        }
    }

    pub fn forget(&mut self, addr: SocketAddr) {
        self.addresses.remove(&addr);
    }

    pub fn forget_ip(&mut self, ip: IpAddr) {
        self.addresses.retain(|addr, _| addr.ip() != ip);
    }

    /// After a pause: try everyone again at once.
    pub fn retry_all(&mut self, now: Instant) {
        for candidate in self.addresses.values_mut() {
            candidate.next_attempt = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn candidates_past_max_peer_candidates_are_dropped() {
        let mut candidates = Candidates::default();
        let now = Instant::now();
        for port in 0..MAX_PEER_CANDIDATES as u16 {
            assert!(candidates.add(addr(port), now));
        }
        assert!(!candidates.add(addr(u16::MAX), now));
        assert!(candidates.add(addr(0), now), "known addresses are fine");
        assert_eq!(
            candidates.due(now, &HashSet::new()).len(),
            MAX_PEER_CANDIDATES
        );
    }

    #[test]
    fn failed_addresses_back_off_then_are_forgotten() {
        let mut candidates = Candidates::default();
        let now = Instant::now();
        candidates.add(addr(1), now);
        candidates.dialling(addr(1), now);
        assert!(candidates.due(now, &HashSet::new()).is_empty());
        candidates.ended(addr(1), false, now);
        assert!(candidates.due(now, &HashSet::new()).is_empty());
        assert_eq!(
            candidates.due(now + RECONNECT_DELAY * 2, &HashSet::new()),
            vec![addr(1)]
        );
        for _ in 1..MAX_CONNECT_FAILURES {
            candidates.ended(addr(1), false, now);
        }
        candidates.retry_all(now);
        assert!(candidates.due(now, &HashSet::new()).is_empty());
    }
}
