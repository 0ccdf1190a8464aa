//! The extension protocol handshake (BEP 10): message id 20, extended id 0,
//! a bencoded dictionary naming the extensions a peer speaks.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bytes::Bytes;

use super::codec::WireError;
use crate::engine::bencode::{self, DecodeLimits, OwnedValue, Value};
use crate::engine::limits::{
    MAX_CLIENT_NAME_BYTES, MAX_EXTENDED_MESSAGE_BYTES, MAX_EXTENSION_NAMES, MAX_METADATA_BYTES,
};

/// The extended message id of the handshake itself.
pub const EXTENSION_HANDSHAKE_ID: u8 = 0;

/// A BEP 10 handshake. Optional fields that are absent, malformed or out of
/// range are `None`: they are hints, and a peer that sends a bad one can
/// still trade pieces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// Extension name → the id the sender wants to receive it under;
    /// extensions the sender disabled (id 0) are left out.
    pub extensions: BTreeMap<String, u8>,
    /// The sender's listening port (`p`).
    pub listen_port: Option<u16>,
    /// Client name and version (`v`), at most `MAX_CLIENT_NAME_BYTES`.
    pub client: Option<String>,
    /// How many outstanding requests the sender accepts (`reqq`).
    pub request_queue: Option<u32>,
    /// Size of the info dictionary (BEP 9), when ≤ `MAX_METADATA_BYTES`.
    pub metadata_size: Option<u32>,
    /// Our address as the sender sees it (`yourip`).
    pub your_ip: Option<IpAddr>,
}

impl ExtensionHandshake {
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let invalid = |reason: &str| WireError::InvalidExtensionHandshake(reason.to_owned());
        let value = bencode::decode(
            payload,
            DecodeLimits::with_max_bytes(MAX_EXTENDED_MESSAGE_BYTES as usize),
        )
        .map_err(|e| WireError::InvalidExtensionHandshake(e.to_string()))?;
        let dict = value.as_dict().ok_or_else(|| invalid("not a dictionary"))?;
        let mut extensions = BTreeMap::new();
        if let Some(m) = dict.get(b"m") {
            let m = m
                .as_dict()
                .ok_or_else(|| invalid("`m` is not a dictionary"))?;
            if m.len() > MAX_EXTENSION_NAMES {
                return Err(invalid("too many extensions in `m`"));
            }
            for (name, id) in m.iter() {
                let id = id
                    .as_int()
                    .and_then(|id| u8::try_from(id).ok())
                    .ok_or_else(|| invalid("extension id outside 0..=255"))?;
                if id != 0 {
                    extensions.insert(String::from_utf8_lossy(name).into_owned(), id);
                }
            }
        }
        let int = |key: &[u8]| dict.get(key).and_then(Value::as_int);
        Ok(ExtensionHandshake {
            extensions,
            listen_port: int(b"p")
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0),
            client: dict.get(b"v").and_then(Value::as_bytes).map(|v| {
                let mut name = String::from_utf8_lossy(v).into_owned();
                if name.len() > MAX_CLIENT_NAME_BYTES {
                    let mut end = MAX_CLIENT_NAME_BYTES;
                    while !name.is_char_boundary(end) {
                        end -= 1;
                    }
                    name.truncate(end);
                }
                name
            }),
            request_queue: int(b"reqq")
                .and_then(|q| u32::try_from(q).ok())
                .filter(|&q| q != 0),
            metadata_size: int(b"metadata_size")
                .and_then(|s| u32::try_from(s).ok())
                .filter(|&s| s != 0 && s <= MAX_METADATA_BYTES),
            your_ip: dict
                .get(b"yourip")
                .and_then(Value::as_bytes)
                .and_then(|ip| match ip.len() {
                    4 => <[u8; 4]>::try_from(ip).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(ip).ok().map(IpAddr::from),
                    _ => None,
                }),
        })
    }

    pub fn encode(&self) -> Bytes {
        let m = self
            .extensions
            .iter()
            .map(|(name, id)| (name.as_bytes().to_vec(), OwnedValue::Int(i64::from(*id))))
            .collect();
        let mut dict = BTreeMap::new();
        dict.insert(b"m".to_vec(), OwnedValue::Dict(m));
        if let Some(port) = self.listen_port {
            dict.insert(b"p".to_vec(), OwnedValue::Int(i64::from(port)));
        }
        if let Some(client) = &self.client {
            dict.insert(b"v".to_vec(), OwnedValue::string(client));
        }
        if let Some(queue) = self.request_queue {
            dict.insert(b"reqq".to_vec(), OwnedValue::Int(i64::from(queue)));
        }
        if let Some(size) = self.metadata_size {
            dict.insert(b"metadata_size".to_vec(), OwnedValue::Int(i64::from(size)));
        }
        if let Some(ip) = self.your_ip {
            let octets = match ip {
                IpAddr::V4(ip) => ip.octets().to_vec(),
                IpAddr::V6(ip) => ip.octets().to_vec(),
            };
            dict.insert(b"yourip".to_vec(), OwnedValue::Bytes(octets.into()));
        }
        OwnedValue::Dict(dict).encode().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> ExtensionHandshake {
        ExtensionHandshake {
            extensions: [("ut_metadata".to_owned(), 1), ("ut_pex".to_owned(), 2)].into(),
            listen_port: Some(6881),
            client: Some("Piecewise 0.1".to_owned()),
            request_queue: Some(250),
            metadata_size: Some(31_337),
            your_ip: Some("127.0.0.1".parse().unwrap()),
        }
    }

    #[test]
    fn extension_handshake_round_trips_every_field() {
        assert_eq!(
            ExtensionHandshake::decode(&full().encode()).unwrap(),
            full()
        );
        let v6 = ExtensionHandshake {
            your_ip: Some("::1".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(ExtensionHandshake::decode(&v6.encode()).unwrap(), v6);
    }

    #[test]
    fn decodes_a_libtorrent_style_handshake_and_drops_disabled_extensions() {
        let payload = b"d1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi0ee13:metadata_sizei5678e1:pi51413e4:reqqi500e11:upload_onlyi1e1:v17:libtorrent 2.0.8 6:yourip4:\x7f\x00\x00\x01e";
        let handshake = ExtensionHandshake::decode(payload).unwrap();
        assert_eq!(handshake.extensions.get("ut_metadata"), Some(&2));
        assert_eq!(handshake.extensions.get("ut_pex"), None);
        assert_eq!(handshake.extensions.len(), 5);
        assert_eq!(handshake.listen_port, Some(51413));
        assert_eq!(handshake.request_queue, Some(500));
        assert_eq!(handshake.metadata_size, Some(5678));
        assert_eq!(handshake.client.as_deref(), Some("libtorrent 2.0.8 "));
        assert_eq!(handshake.your_ip, Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn out_of_range_hints_are_ignored_not_fatal() {
        let payload = format!(
            "d13:metadata_sizei{}e1:pi70000e4:reqqi-1e6:yourip3:abce",
            u64::from(MAX_METADATA_BYTES) + 1
        );
        let handshake = ExtensionHandshake::decode(payload.as_bytes()).unwrap();
        assert_eq!(handshake, ExtensionHandshake::default());
        let at_limit = format!("d13:metadata_sizei{MAX_METADATA_BYTES}ee");
        assert_eq!(
            ExtensionHandshake::decode(at_limit.as_bytes())
                .unwrap()
                .metadata_size,
            Some(MAX_METADATA_BYTES)
        );
    }

    #[test]
    fn client_names_longer_than_the_limit_are_truncated() {
        let long = ExtensionHandshake {
            client: Some("é".repeat(MAX_CLIENT_NAME_BYTES)),
            ..Default::default()
        };
        let decoded = ExtensionHandshake::decode(&long.encode()).unwrap();
        let client = decoded.client.unwrap();
        assert_eq!(client.len(), MAX_CLIENT_NAME_BYTES);
        assert!(client.chars().all(|c| c == 'é'));
    }

    #[test]
    fn more_extension_names_than_the_limit_are_refused() {
        let many = |count: usize| ExtensionHandshake {
            extensions: (0..count).map(|i| (format!("ext{i:03}"), 1)).collect(),
            ..Default::default()
        };
        assert!(ExtensionHandshake::decode(&many(MAX_EXTENSION_NAMES).encode()).is_ok());
        assert!(matches!(
            ExtensionHandshake::decode(&many(MAX_EXTENSION_NAMES + 1).encode()),
            Err(WireError::InvalidExtensionHandshake(_))
        ));
    }

    #[test]
    fn malformed_handshakes_are_refused() {
        for payload in [
            &b"le"[..],
            b"d1:mi1ee",
            b"d1:md1:xi256eee",
            b"d1:md1:xi-1eee",
            b"d1:m",
            b"",
        ] {
            assert!(
                matches!(
                    ExtensionHandshake::decode(payload),
                    Err(WireError::InvalidExtensionHandshake(_))
                ),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        let mut deep = b"d1:m".to_vec();
        deep.extend(std::iter::repeat_n(b'l', 1000));
        assert!(ExtensionHandshake::decode(&deep).is_err());
        let oversized = vec![b'x'; MAX_EXTENDED_MESSAGE_BYTES as usize + 1];
        assert!(matches!(
            ExtensionHandshake::decode(&oversized),
            Err(WireError::InvalidExtensionHandshake(reason)) if reason.contains("limit")
        ));
    }

    #[test]
    fn randomly_corrupted_handshakes_never_panic() {
        use rand::{Rng, SeedableRng};
        let original = full().encode();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..10_000 {
            let mut bytes = original.to_vec();
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = rng.r#gen();
            let _ = ExtensionHandshake::decode(&bytes);
        }
    }
}
