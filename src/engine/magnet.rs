//! Magnet links (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=…&tr=…&x.pe=…&ws=…`.
//!
//! Only the info-hash is required; the other parameters are hints. Hints
//! that are unusable (a tracker with another scheme, a peer that is not an
//! `ip:port`, an unsafe display name) are dropped, so one bad hint does not
//! cost the user the whole link.

use std::net::SocketAddr;

use thiserror::Error;
use url::form_urlencoded;

use super::limits::MAX_MAGNET_URI_BYTES;
use super::metainfo::{
    InfoHash, Metainfo, is_tracker_url, is_web_seed_url, sanitize_path_component,
};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MagnetError {
    #[error("the link is {len} bytes long, more than the limit of {MAX_MAGNET_URI_BYTES}")]
    TooLong { len: usize },
    #[error("this is not a magnet link (it must start with \"magnet:?\")")]
    NotMagnet,
    #[error("the magnet link has no BitTorrent info-hash (xt=urn:btih:…)")]
    MissingInfoHash,
    #[error("the magnet link only has a BitTorrent v2 hash (btmh), which is not supported")]
    OnlyV2Hash,
    #[error("the info-hash {0:?} is neither 40 hex digits nor 32 base32 characters")]
    InvalidInfoHash(String),
    #[error("the magnet link names two different info-hashes")]
    ConflictingInfoHashes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    /// `dn`, already checked like a file name.
    pub display_name: Option<String>,
    /// `tr`: http, https and udp trackers, each its own tier.
    pub trackers: Vec<String>,
    /// `x.pe`: peers to try directly.
    pub peers: Vec<SocketAddr>,
    /// `ws`: web seeds (BEP 19).
    pub web_seeds: Vec<String>,
}

impl Magnet {
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        if uri.len() > MAX_MAGNET_URI_BYTES {
            return Err(MagnetError::TooLong { len: uri.len() });
        }
        let uri = uri.trim();
        let query = uri
            .get(..8)
            .filter(|scheme| scheme.eq_ignore_ascii_case("magnet:?"))
            .and_then(|_| uri.get(8..))
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut saw_v2 = false;
        let mut magnet = Magnet {
            info_hash: InfoHash([0; 20]),
            display_name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim();
            match key.as_ref() {
                "xt" => {
                    if let Some(hash) = strip_prefix_ignore_case(value, "urn:btih:") {
                        let hash = parse_info_hash(hash)?;
                        if info_hash.is_some_and(|seen| seen != hash) {
                            return Err(MagnetError::ConflictingInfoHashes);
                        }
                        info_hash = Some(hash);
                    } else if strip_prefix_ignore_case(value, "urn:btmh:").is_some() {
                        saw_v2 = true;
                    }
                }
                "dn" => magnet.display_name = sanitize_path_component(value.as_bytes()).ok(),
                "tr" if is_tracker_url(value) => {
                    push_unique(&mut magnet.trackers, value.to_owned())
                }
                "ws" if is_web_seed_url(value) => {
                    push_unique(&mut magnet.web_seeds, value.to_owned())
                }
                "x.pe" => {
                    if let Ok(peer) = value.parse::<SocketAddr>() {
                        push_unique(&mut magnet.peers, peer);
                    }
                }
                _ => {}
            }
        }
        magnet.info_hash = match info_hash {
            Some(hash) => hash,
            None if saw_v2 => return Err(MagnetError::OnlyV2Hash),
            None => return Err(MagnetError::MissingInfoHash),
        };
        Ok(magnet)
    }

    /// The link in canonical form: hex hash, then `dn`, `tr`, `ws`, `x.pe`.
    pub fn to_uri(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(name) = &self.display_name {
            query.append_pair("dn", name);
        }
        for tracker in &self.trackers {
            query.append_pair("tr", tracker);
        }
        for seed in &self.web_seeds {
            query.append_pair("ws", seed);
        }
        for peer in &self.peers {
            query.append_pair("x.pe", &peer.to_string());
        }
        let rest = query.finish();
        let separator = if rest.is_empty() { "" } else { "&" };
        format!(
            "magnet:?xt=urn:btih:{}{separator}{rest}",
            self.info_hash.to_hex()
        )
    }
}

impl Metainfo {
    /// A magnet link for this torrent, with its trackers and web seeds.
    pub fn magnet(&self) -> Magnet {
        Magnet {
            info_hash: self.info_hash,
            display_name: Some(self.info.name.clone()),
            trackers: self.trackers.iter().flatten().cloned().collect(),
            peers: Vec::new(),
            web_seeds: self.web_seeds.clone(),
        }
    }
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    value
        .get(..prefix.len())
        .filter(|start| start.eq_ignore_ascii_case(prefix))
        .and_then(|_| value.get(prefix.len()..))
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn parse_info_hash(text: &str) -> Result<InfoHash, MagnetError> {
    let invalid = || MagnetError::InvalidInfoHash(text.to_owned());
    let mut hash = [0u8; 20];
    match text.len() {
        40 => {
            for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
                let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
                *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
            }
        }
        32 => {
            // RFC 4648 base32: 32 characters of 5 bits are exactly 20 bytes.
            let mut bits: u64 = 0;
            let mut bit_count = 0;
            let mut out = 0;
            for c in text.bytes() {
                let value = match c.to_ascii_uppercase() {
                    c @ b'A'..=b'Z' => c - b'A',
                    c @ b'2'..=b'7' => c - b'2' + 26,
                    _ => return Err(invalid()),
                };
                bits = (bits << 5) | u64::from(value);
                bit_count += 5;
                if bit_count >= 8 {
                    bit_count -= 8;
                    if let Some(byte) = hash.get_mut(out) {
                        *byte = (bits >> bit_count) as u8;
                    }
                    out += 1;
                }
            }
        }
        _ => return Err(invalid()),
    }
    Ok(InfoHash(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn parses_hash_name_trackers_peers_and_web_seeds() {
        let uri = format!(
            "magnet:?xt=urn:btih:{}&dn=Big+Buck%20Bunny.mp4&tr=udp%3A%2F%2F127.0.0.1%3A6969\
             &tr=http://127.0.0.1:8080/announce&tr=udp%3A%2F%2F127.0.0.1%3A6969&x.pe=127.0.0.1:6881\
             &x.pe=[::1]:6882&ws=https%3A%2F%2Fseed.example%2Fbbb.mp4&unknown=1",
            HEX.to_uppercase()
        );
        let magnet = Magnet::parse(&uri).unwrap();
        assert_eq!(magnet.info_hash.to_hex(), HEX);
        assert_eq!(magnet.display_name.as_deref(), Some("Big Buck Bunny.mp4"));
        assert_eq!(
            magnet.trackers,
            vec![
                "udp://127.0.0.1:6969".to_owned(),
                "http://127.0.0.1:8080/announce".to_owned()
            ]
        );
        assert_eq!(
            magnet.peers,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "[::1]:6882".parse().unwrap()
            ]
        );
        assert_eq!(
            magnet.web_seeds,
            vec!["https://seed.example/bbb.mp4".to_owned()]
        );
        assert_eq!(Magnet::parse(&magnet.to_uri()), Ok(magnet));
    }

    #[test]
    fn base32_hash_equals_its_hex_form() {
        let base32 = Magnet::parse("magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK").unwrap();
        assert_eq!(base32.info_hash.to_hex(), HEX);
        let lower = Magnet::parse("MAGNET:?xt=URN:BTIH:yex6dqdlxisuvhoj6um3gnnkpqjwpkek").unwrap();
        assert_eq!(lower.info_hash, base32.info_hash);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            Magnet::parse("http://example.com"),
            Err(MagnetError::NotMagnet)
        );
        assert_eq!(
            Magnet::parse("magnet:?dn=x"),
            Err(MagnetError::MissingInfoHash)
        );
        assert_eq!(
            Magnet::parse("magnet:?xt=urn:btmh:1220abcd"),
            Err(MagnetError::OnlyV2Hash)
        );
        for bad in [
            "abc",
            &HEX[..39],
            &format!("{}g", &HEX[..39]),
            "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1",
        ] {
            assert_eq!(
                Magnet::parse(&format!("magnet:?xt=urn:btih:{bad}")),
                Err(MagnetError::InvalidInfoHash(bad.to_owned()))
            );
        }
        let two = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}", "0".repeat(40));
        assert_eq!(Magnet::parse(&two), Err(MagnetError::ConflictingInfoHashes));
        let same_twice =
            format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK");
        assert!(Magnet::parse(&same_twice).is_ok());
    }

    #[test]
    fn unsafe_hints_are_dropped() {
        let uri = format!(
            "magnet:?xt=urn:btih:{HEX}&dn=..%2F..%2F.bashrc&tr=file:///etc/passwd&tr=javascript:x\
             &x.pe=example.com:80&x.pe=1.2.3.4&ws=ftp://x/"
        );
        let magnet = Magnet::parse(&uri).unwrap();
        assert_eq!(magnet.display_name, None);
        assert!(
            magnet.trackers.is_empty() && magnet.peers.is_empty() && magnet.web_seeds.is_empty()
        );
        let nul = format!("magnet:?xt=urn:btih:{HEX}&dn=a%00b");
        assert_eq!(Magnet::parse(&nul).unwrap().display_name, None);
        let dots = format!("magnet:?xt=urn:btih:{HEX}&dn=..");
        assert_eq!(Magnet::parse(&dots).unwrap().display_name, None);
    }

    #[test]
    fn links_longer_than_the_limit_are_refused() {
        let base = format!("magnet:?xt=urn:btih:{HEX}&dn=");
        let at_limit = format!("{base}{}", "a".repeat(MAX_MAGNET_URI_BYTES - base.len()));
        assert_eq!(
            Magnet::parse(&at_limit).map(|m| m.info_hash.to_hex()),
            Ok(HEX.to_owned())
        );
        let over = format!("{at_limit}a");
        assert_eq!(
            Magnet::parse(&over),
            Err(MagnetError::TooLong {
                len: MAX_MAGNET_URI_BYTES + 1
            })
        );
    }

    #[test]
    fn random_text_never_panics_the_magnet_parser() {
        use rand::{Rng, SeedableRng};
        let original = format!(
            "magnet:?xt=urn:btih:{HEX}&dn=a%20b&tr=udp%3A%2F%2F127.0.0.1%3A1&x.pe=[::1]:2&ws=http://x/"
        );
        let alphabet = b"%:/?&=+[]0123456789abcdefXYZ\xc3\xa9";
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        for _ in 0..10_000 {
            let mut bytes = original.clone().into_bytes();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = alphabet[rng.gen_range(0..alphabet.len())];
            }
            let _ = Magnet::parse(&String::from_utf8_lossy(&bytes));
        }
    }
}
