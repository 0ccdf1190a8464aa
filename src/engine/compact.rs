//! Compact peer addresses, as trackers (BEP 23, BEP 7) and PEX (BEP 11)
//! send them: 4 or 16 address bytes, then the port, big-endian.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const V4_BYTES: usize = 6;
pub const V6_BYTES: usize = 18;

/// IPv4 entries; a trailing partial entry is ignored.
pub fn decode_v4(bytes: &[u8]) -> impl Iterator<Item = SocketAddr> + '_ {
    bytes.chunks_exact(V4_BYTES).map(|c| {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([c[4], c[5]]))
    })
}

/// IPv6 entries; a trailing partial entry is ignored.
pub fn decode_v6(bytes: &[u8]) -> impl Iterator<Item = SocketAddr> + '_ {
    bytes.chunks_exact(V6_BYTES).map(|c| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&c[..16]);
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::from(octets)),
            u16::from_be_bytes([c[16], c[17]]),
        )
    })
}

/// Appends `peer` in compact form.
pub fn encode(peer: &SocketAddr, out: &mut Vec<u8>) {
    match peer.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&peer.port().to_be_bytes());
}

/// Whether an address can be connected to: port 0 and the unspecified
/// address only appear in broken or hostile lists.
pub fn is_usable(peer: &SocketAddr) -> bool {
    peer.port() != 0 && !peer.ip().is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_peers_round_trip_and_partial_entries_are_ignored() {
        let peers: [SocketAddr; 2] = [
            "127.0.0.1:6881".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        ];
        let mut bytes = Vec::new();
        peers.iter().for_each(|p| encode(p, &mut bytes));
        bytes.extend_from_slice(&[9, 9]);
        assert_eq!(decode_v4(&bytes).collect::<Vec<_>>(), peers);
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        let mut bytes = Vec::new();
        encode(&v6, &mut bytes);
        assert_eq!(decode_v6(&bytes).collect::<Vec<_>>(), [v6]);
    }

    #[test]
    fn port_zero_and_unspecified_addresses_are_unusable() {
        assert!(is_usable(&"127.0.0.1:1".parse().unwrap()));
        assert!(!is_usable(&"127.0.0.1:0".parse().unwrap()));
        assert!(!is_usable(&"0.0.0.0:80".parse().unwrap()));
        assert!(!is_usable(&"[::]:80".parse().unwrap()));
    }
}
