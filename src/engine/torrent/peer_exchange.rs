//! What we tell one peer in `ut_pex` messages (BEP 11): the listen
//! addresses of the other peers we are connected to, as changes since the
//! last message, at most one message per `PEX_INTERVAL` and
//! `MAX_PEX_PEERS` added and dropped addresses in each; the rest waits for
//! the next message.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

use crate::engine::limits::{MAX_PEX_PEERS, PEX_INTERVAL};
use crate::engine::wire::{PexFlags, PexMessage};

#[derive(Debug, Default)]
pub struct PexState {
    /// What the peer has been told is connected.
    told: HashSet<SocketAddr>,
    last_sent: Option<Instant>,
}

impl PexState {
    /// The next message for this peer, given the addresses of every other
    /// connected peer now; `None` before `PEX_INTERVAL` has passed since
    /// the last one, or when nothing changed.
    pub fn next_message(
        &mut self,
        now: Instant,
        connected: &HashMap<SocketAddr, PexFlags>,
    ) -> Option<PexMessage> {
        if self
            .last_sent
            .is_some_and(|last| now.duration_since(last) < PEX_INTERVAL)
        {
            return None;
        }
        let added: Vec<(SocketAddr, PexFlags)> = connected
            .iter()
            .filter(|(addr, _)| !self.told.contains(addr))
            .take(MAX_PEX_PEERS)
            .map(|(&addr, &flags)| (addr, flags))
            .collect();
        let dropped: Vec<SocketAddr> = self
            .told
            .iter()
            .filter(|addr| !connected.contains_key(addr))
            .take(MAX_PEX_PEERS)
            .copied()
            .collect();
        if added.is_empty() && dropped.is_empty() {
            return None;
        }
        self.told.extend(added.iter().map(|(addr, _)| *addr));
        for addr in &dropped {
            self.told.remove(addr);
        }
        self.last_sent = Some(now);
        Some(PexMessage { added, dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(range: std::ops::Range<u16>) -> HashMap<SocketAddr, PexFlags> {
        range
            .map(|port| (SocketAddr::from(([10, 0, 0, 1], port)), PexFlags::default()))
            .collect()
    }

    #[test]
    fn more_peers_than_a_message_holds_go_out_one_interval_later() {
        let mut state = PexState::default();
        let start = Instant::now();
        let connected = peers(1..61);
        let first = state.next_message(start, &connected).unwrap();
        assert_eq!(first.added.len(), MAX_PEX_PEERS);
        assert!(first.dropped.is_empty());
        assert_eq!(
            state.next_message(start + PEX_INTERVAL / 2, &connected),
            None
        );
        let second = state
            .next_message(start + PEX_INTERVAL, &connected)
            .unwrap();
        assert_eq!(second.added.len(), 60 - MAX_PEX_PEERS);
        let told: HashSet<_> = first
            .added
            .iter()
            .chain(&second.added)
            .map(|(a, _)| *a)
            .collect();
        assert_eq!(told, connected.keys().copied().collect());
        // Nothing changed: nothing to say.
        assert_eq!(
            state.next_message(start + PEX_INTERVAL * 3, &connected),
            None
        );
    }

    #[test]
    fn peers_that_left_are_dropped_at_most_the_limit_per_message() {
        let mut state = PexState::default();
        let mut now = Instant::now();
        state.next_message(now, &peers(1..51)).unwrap();
        now += PEX_INTERVAL;
        state.next_message(now, &peers(1..71)).unwrap();
        // All 70 leave and 5 others arrive.
        let remaining = peers(100..105);
        now += PEX_INTERVAL;
        let message = state.next_message(now, &remaining).unwrap();
        assert_eq!(message.added.len(), 5);
        assert_eq!(message.dropped.len(), MAX_PEX_PEERS);
        now += PEX_INTERVAL;
        let message = state.next_message(now, &remaining).unwrap();
        assert!(message.added.is_empty());
        assert_eq!(message.dropped.len(), 70 - MAX_PEX_PEERS);
    }
}
