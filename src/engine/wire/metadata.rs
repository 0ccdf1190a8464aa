//! The `ut_metadata` extension (BEP 9): fetching the info dictionary from
//! peers for a magnet link, in 16 KiB pieces, and checking it against the
//! info-hash before anything trusts it.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha1::{Digest, Sha1};

use super::codec::WireError;
use crate::engine::bencode::{self, DecodeLimits, OwnedValue, Value};
use crate::engine::limits::{MAX_EXTENDED_MESSAGE_BYTES, MAX_METADATA_BYTES};
use crate::engine::metainfo::InfoHash;

/// The extension's name in BEP 10 handshakes.
pub const UT_METADATA: &str = "ut_metadata";

/// The extended message id we ask peers to send `ut_metadata` under (the
/// one libtorrent uses too).
pub const OUR_UT_METADATA_ID: u8 = 2;

/// Bytes per metadata piece; only the last may be shorter (BEP 9).
pub const METADATA_PIECE_BYTES: u32 = 16 * 1024;

const MSG_REQUEST: i64 = 0;
const MSG_DATA: i64 = 1;
const MSG_REJECT: i64 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMessage {
    Request {
        piece: u32,
    },
    /// A piece of the info dictionary; its length has been checked
    /// against `piece` and `total_size`.
    Data {
        piece: u32,
        total_size: u32,
        data: Bytes,
    },
    Reject {
        piece: u32,
    },
}

fn invalid(reason: impl Into<String>) -> WireError {
    WireError::InvalidExtensionMessage {
        extension: UT_METADATA,
        reason: reason.into(),
    }
}

/// Pieces in metadata of `total_size` bytes.
fn piece_count(total_size: u32) -> u32 {
    total_size.div_ceil(METADATA_PIECE_BYTES)
}

/// Length of piece `piece` of metadata of `total_size` bytes, if it exists.
fn piece_len(piece: u32, total_size: u32) -> Option<u32> {
    let start = piece.checked_mul(METADATA_PIECE_BYTES)?;
    (start < total_size).then(|| (total_size - start).min(METADATA_PIECE_BYTES))
}

impl MetadataMessage {
    /// Decodes a `ut_metadata` payload (after the extended message id).
    /// `Ok(None)` is a message type BEP 9 says to ignore.
    pub fn decode(payload: &Bytes) -> Result<Option<Self>, WireError> {
        let limits = DecodeLimits::with_max_bytes(MAX_EXTENDED_MESSAGE_BYTES as usize);
        let (value, used) =
            bencode::decode_prefix(payload, limits).map_err(|e| invalid(e.to_string()))?;
        let dict = value.as_dict().ok_or_else(|| invalid("not a dictionary"))?;
        let int = |key: &[u8]| dict.get(key).and_then(Value::as_int);
        let piece = int(b"piece")
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p < piece_count(MAX_METADATA_BYTES))
            .ok_or_else(|| invalid("missing or impossible `piece`"))?;
        let trailing = payload.slice(used..);
        let msg_type = int(b"msg_type").ok_or_else(|| invalid("missing `msg_type`"))?;
        if msg_type != MSG_DATA && !trailing.is_empty() {
            return Err(invalid("data after a request or reject"));
        }
        Ok(Some(match msg_type {
            MSG_REQUEST => MetadataMessage::Request { piece },
            MSG_REJECT => MetadataMessage::Reject { piece },
            MSG_DATA => {
                let total_size = int(b"total_size")
                    .and_then(|s| u32::try_from(s).ok())
                    .filter(|&s| s > 0 && s <= MAX_METADATA_BYTES)
                    .ok_or_else(|| invalid("missing or too large `total_size`"))?;
                let expected = piece_len(piece, total_size)
                    .ok_or_else(|| invalid("`piece` past the end of the metadata"))?;
                if trailing.len() != expected as usize {
                    return Err(invalid(format!(
                        "piece {piece} has {} bytes, not {expected}",
                        trailing.len()
                    )));
                }
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data: trailing,
                }
            }
            _ => return Ok(None),
        }))
    }

    pub fn encode(&self) -> Bytes {
        let (msg_type, piece) = match self {
            MetadataMessage::Request { piece } => (MSG_REQUEST, piece),
            MetadataMessage::Data { piece, .. } => (MSG_DATA, piece),
            MetadataMessage::Reject { piece } => (MSG_REJECT, piece),
        };
        let mut dict = BTreeMap::new();
        dict.insert(b"msg_type".to_vec(), OwnedValue::Int(msg_type));
        dict.insert(b"piece".to_vec(), OwnedValue::Int(i64::from(*piece)));
        let mut out = match self {
            MetadataMessage::Data { total_size, .. } => {
                dict.insert(
                    b"total_size".to_vec(),
                    OwnedValue::Int(i64::from(*total_size)),
                );
                OwnedValue::Dict(dict).encode()
            }
            _ => OwnedValue::Dict(dict).encode(),
        };
        if let MetadataMessage::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out.into()
    }

    /// The data message for `piece` of our own info dictionary, or `None`
    /// when there is no such piece (answer with a reject).
    pub fn data_from(info_bytes: &Bytes, piece: u32) -> Option<Self> {
        let total_size = u32::try_from(info_bytes.len()).ok()?;
        let len = piece_len(piece, total_size)?;
        let start = (piece * METADATA_PIECE_BYTES) as usize;
        Some(MetadataMessage::Data {
            piece,
            total_size,
            data: info_bytes.slice(start..start + len as usize),
        })
    }
}

/// Collects metadata pieces from peers and checks the result against the
/// info-hash.
#[derive(Debug)]
pub struct MetadataAssembly {
    info_hash: InfoHash,
    total_size: u32,
    pieces: Vec<Option<Bytes>>,
}

impl MetadataAssembly {
    /// Starts assembling metadata of the size a peer announced (BEP 10
    /// `metadata_size`, already bounded by `MAX_METADATA_BYTES`).
    pub fn new(info_hash: InfoHash, total_size: u32) -> Result<Self, WireError> {
        if total_size == 0 || total_size > MAX_METADATA_BYTES {
            return Err(invalid(format!("metadata size {total_size} out of range")));
        }
        Ok(Self {
            info_hash,
            total_size,
            pieces: vec![None; piece_count(total_size) as usize],
        })
    }

    /// Pieces still missing, in order: what to request.
    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.pieces)
            .filter(|(_, piece)| piece.is_none())
            .map(|(index, _)| index)
    }

    /// Stores a data message. A message for another total size is refused:
    /// the peer disagrees about the torrent.
    pub fn insert(&mut self, message: &MetadataMessage) -> Result<(), WireError> {
        let MetadataMessage::Data {
            piece,
            total_size,
            data,
        } = message
        else {
            return Ok(());
        };
        if *total_size != self.total_size {
            return Err(invalid(
                "total_size differs from the announced metadata_size",
            ));
        }
        if let Some(slot) = self.pieces.get_mut(*piece as usize) {
            *slot = Some(data.clone());
        }
        Ok(())
    }

    /// The info dictionary once every piece is in and its SHA-1 is the
    /// info-hash. A mismatch clears every piece (start over, ideally from
    /// other peers) and is an error.
    pub fn finish(&mut self) -> Option<Result<Bytes, WireError>> {
        if self.pieces.iter().any(Option::is_none) {
            return None;
        }
        let mut info = Vec::with_capacity(self.total_size as usize);
        for piece in self.pieces.iter().flatten() {
            info.extend_from_slice(piece);
        }
        if <[u8; 20]>::from(Sha1::digest(&info)) != self.info_hash.0 {
            self.pieces.iter_mut().for_each(|piece| *piece = None);
            return Some(Err(invalid("the metadata does not match the info-hash")));
        }
        Some(Ok(info.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_bytes(len: usize) -> Bytes {
        (0..len)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn every_metadata_message_round_trips() {
        let info = info_bytes(40_000);
        for message in [
            MetadataMessage::Request { piece: 2 },
            MetadataMessage::Reject { piece: 0 },
            MetadataMessage::data_from(&info, 0).unwrap(),
            MetadataMessage::data_from(&info, 2).unwrap(),
        ] {
            assert_eq!(
                MetadataMessage::decode(&message.encode()).unwrap(),
                Some(message)
            );
        }
        assert_eq!(
            MetadataMessage::Request { piece: 1 }.encode(),
            Bytes::from_static(b"d8:msg_typei0e5:piecei1ee")
        );
        assert!(MetadataMessage::data_from(&info, 3).is_none());
    }

    #[test]
    fn data_length_must_match_the_piece_and_total_size() {
        let short =
            Bytes::from(format!("d8:msg_typei1e5:piecei0e10:total_sizei{}ee", 20_000).into_bytes());
        let mut payload = short.to_vec();
        payload.extend(vec![0; 16_383]);
        assert!(MetadataMessage::decode(&payload.into()).is_err());
        let last = b"d8:msg_typei1e5:piecei1e10:total_sizei20000ee";
        let mut payload = last.to_vec();
        payload.extend(vec![0; 20_000 - 16_384]);
        assert!(matches!(
            MetadataMessage::decode(&payload.into()),
            Ok(Some(MetadataMessage::Data { piece: 1, .. }))
        ));
        let past_end = b"d8:msg_typei1e5:piecei2e10:total_sizei20000ee".to_vec();
        assert!(MetadataMessage::decode(&past_end.into()).is_err());
        let trailing_request = b"d8:msg_typei0e5:piecei0eeXX".to_vec();
        assert!(MetadataMessage::decode(&trailing_request.into()).is_err());
    }

    #[test]
    fn total_size_over_the_limit_is_refused() {
        let over = format!(
            "d8:msg_typei1e5:piecei0e10:total_sizei{}ee",
            u64::from(MAX_METADATA_BYTES) + 1
        );
        let mut payload = over.into_bytes();
        payload.extend(vec![0; METADATA_PIECE_BYTES as usize]);
        assert!(MetadataMessage::decode(&payload.into()).is_err());
        assert!(MetadataAssembly::new(InfoHash([0; 20]), MAX_METADATA_BYTES + 1).is_err());
        assert!(MetadataAssembly::new(InfoHash([0; 20]), 0).is_err());
        assert!(MetadataAssembly::new(InfoHash([0; 20]), MAX_METADATA_BYTES).is_ok());
        let beyond = format!(
            "d8:msg_typei0e5:piecei{}ee",
            piece_count(MAX_METADATA_BYTES)
        );
        assert!(MetadataMessage::decode(&beyond.into_bytes().into()).is_err());
    }

    #[test]
    fn unknown_message_types_are_ignored() {
        let unknown = Bytes::from_static(b"d8:msg_typei7e5:piecei0ee");
        assert_eq!(MetadataMessage::decode(&unknown).unwrap(), None);
        assert!(MetadataMessage::decode(&Bytes::from_static(b"d5:piecei0ee")).is_err());
    }

    #[test]
    fn assembly_yields_metadata_only_when_complete_and_matching_the_hash() {
        let info = info_bytes(40_000);
        let hash = InfoHash(Sha1::digest(&info).into());
        let mut assembly = MetadataAssembly::new(hash, 40_000).unwrap();
        assert_eq!(assembly.missing().collect::<Vec<_>>(), [0, 1, 2]);
        for piece in [2, 0] {
            assembly
                .insert(&MetadataMessage::data_from(&info, piece).unwrap())
                .unwrap();
        }
        assert_eq!(assembly.missing().collect::<Vec<_>>(), [1]);
        assert!(assembly.finish().is_none());
        assembly
            .insert(&MetadataMessage::data_from(&info, 1).unwrap())
            .unwrap();
        assert_eq!(assembly.finish().unwrap().unwrap(), info);
    }

    #[test]
    fn assembly_refuses_metadata_that_does_not_match_the_hash_and_starts_over() {
        let info = info_bytes(20_000);
        let mut assembly = MetadataAssembly::new(InfoHash([9; 20]), 20_000).unwrap();
        for piece in 0..2 {
            assembly
                .insert(&MetadataMessage::data_from(&info, piece).unwrap())
                .unwrap();
        }
        assert!(assembly.finish().unwrap().is_err());
        assert_eq!(assembly.missing().count(), 2);
        let other_size = MetadataMessage::data_from(&info_bytes(30_000), 0).unwrap();
        assert!(assembly.insert(&other_size).is_err());
    }

    #[test]
    fn randomly_corrupted_metadata_messages_never_panic() {
        use rand::{Rng, SeedableRng};
        let original = MetadataMessage::data_from(&info_bytes(20_000), 1)
            .unwrap()
            .encode();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..10_000 {
            let mut bytes = original.to_vec();
            let at = rng.gen_range(0..60.min(bytes.len()));
            bytes[at] = rng.r#gen();
            let _ = MetadataMessage::decode(&bytes.into());
        }
    }
}
