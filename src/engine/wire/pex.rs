//! The `ut_pex` extension (BEP 11): peers tell each other about peers.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;

use super::codec::WireError;
use crate::engine::bencode::{self, DecodeLimits, Dict, OwnedValue, Value};
use crate::engine::compact;
use crate::engine::limits::{MAX_EXTENDED_MESSAGE_BYTES, MAX_PEX_PEERS};

/// The extension's name in BEP 10 handshakes.
pub const UT_PEX: &str = "ut_pex";

/// The extended message id we ask peers to send `ut_pex` under.
pub const OUR_UT_PEX_ID: u8 = 1;

/// What a peer says about a peer it adds (one byte each, BEP 11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PexFlags(pub u8);

impl PexFlags {
    pub const PREFERS_ENCRYPTION: u8 = 0x01;
    pub const SEED: u8 = 0x02;
    pub const UTP: u8 = 0x04;
    pub const HOLEPUNCH: u8 = 0x08;
    pub const REACHABLE: u8 = 0x10;

    pub fn is_seed(self) -> bool {
        self.0 & Self::SEED != 0
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    pub added: Vec<(SocketAddr, PexFlags)>,
    pub dropped: Vec<SocketAddr>,
}

fn invalid(reason: &str) -> WireError {
    WireError::InvalidExtensionMessage {
        extension: UT_PEX,
        reason: reason.to_owned(),
    }
}

/// The compact peers under `key`, which must be whole entries and at most
/// `MAX_PEX_PEERS`.
fn compact_peers(dict: &Dict<'_>, key: &[u8], v6: bool) -> Result<Vec<SocketAddr>, WireError> {
    let Some(value) = dict.get(key) else {
        return Ok(Vec::new());
    };
    let bytes = value
        .as_bytes()
        .ok_or_else(|| invalid("peer list is not a string"))?;
    let entry = if v6 {
        compact::V6_BYTES
    } else {
        compact::V4_BYTES
    };
    if bytes.len() % entry != 0 {
        return Err(invalid("peer list is not whole entries"));
    }
    if bytes.len() / entry > MAX_PEX_PEERS {
        return Err(invalid("more peers than the limit"));
    }
    Ok(if v6 {
        compact::decode_v6(bytes).collect()
    } else {
        compact::decode_v4(bytes).collect()
    })
}

impl PexMessage {
    /// Decodes a `ut_pex` payload. More than `MAX_PEX_PEERS` added or
    /// dropped peers, or malformed lists, are an error: drop the message.
    /// Peers with port 0 or an unspecified address are left out.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let limits = DecodeLimits::with_max_bytes(MAX_EXTENDED_MESSAGE_BYTES as usize);
        let value =
            bencode::decode(payload, limits).map_err(|e| WireError::InvalidExtensionMessage {
                extension: UT_PEX,
                reason: e.to_string(),
            })?;
        let dict = value.as_dict().ok_or_else(|| invalid("not a dictionary"))?;
        let flags = |key: &[u8]| dict.get(key).and_then(Value::as_bytes).unwrap_or_default();
        let mut added = Vec::new();
        for (peers, flag_key) in [
            (compact_peers(dict, b"added", false)?, &b"added.f"[..]),
            (compact_peers(dict, b"added6", true)?, b"added6.f"),
        ] {
            let flags = flags(flag_key);
            for (index, peer) in peers.into_iter().enumerate() {
                // Flags are optional; a short list leaves the rest at 0.
                added.push((peer, PexFlags(flags.get(index).copied().unwrap_or(0))));
            }
        }
        let mut dropped = compact_peers(dict, b"dropped", false)?;
        dropped.extend(compact_peers(dict, b"dropped6", true)?);
        if added.len() > MAX_PEX_PEERS || dropped.len() > MAX_PEX_PEERS {
            return Err(invalid("more peers than the limit"));
        }
        added.retain(|(peer, _)| compact::is_usable(peer));
        dropped.retain(compact::is_usable);
        Ok(PexMessage { added, dropped })
    }

    /// Encodes at most `MAX_PEX_PEERS` added and dropped peers; the rest
    /// belong in the next message.
    pub fn encode(&self) -> Bytes {
        let (mut added4, mut flags4, mut added6, mut flags6) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (peer, flags) in self.added.iter().take(MAX_PEX_PEERS) {
            let (list, flag_list) = if peer.is_ipv4() {
                (&mut added4, &mut flags4)
            } else {
                (&mut added6, &mut flags6)
            };
            compact::encode(peer, list);
            flag_list.push(flags.0);
        }
        let (mut dropped4, mut dropped6) = (Vec::new(), Vec::new());
        for peer in self.dropped.iter().take(MAX_PEX_PEERS) {
            compact::encode(
                peer,
                if peer.is_ipv4() {
                    &mut dropped4
                } else {
                    &mut dropped6
                },
            );
        }
        let mut dict = BTreeMap::new();
        for (key, bytes) in [
            ("added", added4),
            ("added.f", flags4),
            ("added6", added6),
            ("added6.f", flags6),
            ("dropped", dropped4),
            ("dropped6", dropped6),
        ] {
            dict.insert(key.as_bytes().to_vec(), OwnedValue::Bytes(bytes.into()));
        }
        OwnedValue::Dict(dict).encode().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 6881))
    }

    #[test]
    fn pex_round_trips_ipv4_and_ipv6_with_flags() {
        let message = PexMessage {
            added: vec![
                (v4(1), PexFlags(PexFlags::SEED)),
                (
                    "[2001:db8::1]:51413".parse().unwrap(),
                    PexFlags(PexFlags::UTP),
                ),
                (
                    v4(2),
                    PexFlags(PexFlags::PREFERS_ENCRYPTION | PexFlags::REACHABLE),
                ),
            ],
            dropped: vec![v4(3), "[2001:db8::2]:1".parse().unwrap()],
        };
        let decoded = PexMessage::decode(&message.encode()).unwrap();
        // IPv4 entries come first on the wire.
        assert_eq!(decoded.added[0], message.added[0]);
        assert_eq!(decoded.added[1], message.added[2]);
        assert_eq!(decoded.added[2], message.added[1]);
        assert!(decoded.added[0].1.is_seed());
        assert_eq!(decoded.dropped, message.dropped);
    }

    #[test]
    fn decodes_a_message_without_flags_and_skips_unusable_peers() {
        let payload = b"d5:added12:\x7f\x00\x00\x01\x1a\xe1\x00\x00\x00\x00\x00\x50e";
        let decoded = PexMessage::decode(payload).unwrap();
        assert_eq!(
            decoded.added,
            vec![("127.0.0.1:6881".parse().unwrap(), PexFlags(0))]
        );
        assert!(decoded.dropped.is_empty());
    }

    #[test]
    fn more_peers_than_the_limit_are_refused_and_never_sent() {
        let many = |count: u8| PexMessage {
            added: (0..count).map(|n| (v4(n), PexFlags::default())).collect(),
            dropped: Vec::new(),
        };
        let at_limit = many(MAX_PEX_PEERS as u8).encode();
        assert_eq!(
            PexMessage::decode(&at_limit).unwrap().added.len(),
            MAX_PEX_PEERS
        );
        // The encoder keeps to the limit.
        let capped = PexMessage::decode(&many(MAX_PEX_PEERS as u8 + 10).encode()).unwrap();
        assert_eq!(capped.added.len(), MAX_PEX_PEERS);
        // A peer that sends more is refused.
        let mut over = b"d5:added".to_vec();
        let entries = (MAX_PEX_PEERS + 1) * 6;
        over.extend_from_slice(format!("{entries}:").as_bytes());
        over.extend((0..entries).map(|i| (i % 200) as u8 + 1));
        over.push(b'e');
        assert!(PexMessage::decode(&over).is_err());
        // Split across families, the total still counts.
        let split = bencode::dict([
            (
                "added",
                OwnedValue::Bytes(vec![1; 30 * compact::V4_BYTES].into()),
            ),
            (
                "added6",
                OwnedValue::Bytes(vec![1; 21 * compact::V6_BYTES].into()),
            ),
        ]);
        assert!(PexMessage::decode(&split.encode()).is_err());
    }

    #[test]
    fn malformed_peer_lists_are_refused() {
        for payload in [
            &b"d5:added5:abcdee"[..],
            b"d5:addedi1ee",
            b"le",
            b"d7:dropped7:1234567e",
        ] {
            assert!(
                PexMessage::decode(payload).is_err(),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn randomly_corrupted_pex_messages_never_panic() {
        use rand::{Rng, SeedableRng};
        let original = PexMessage {
            added: vec![
                (v4(1), PexFlags(1)),
                ("[::1]:2".parse().unwrap(), PexFlags(2)),
            ],
            dropped: vec![v4(2)],
        }
        .encode();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..10_000 {
            let mut bytes = original.to_vec();
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = rng.r#gen();
            let _ = PexMessage::decode(&bytes);
        }
    }
}
