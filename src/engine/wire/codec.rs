//! Framing of peer messages (BEP 3, BEP 6, BEP 10) as a
//! `tokio_util::codec` decoder and encoder, so a session can wrap any
//! ordered byte stream in `Framed`.
//!
//! Every length prefix is checked before its payload is buffered:
//! fixed-size messages must have their exact size, `piece` payloads at most
//! one block, extension messages at most `MAX_EXTENDED_MESSAGE_BYTES`,
//! anything else at most `MAX_MESSAGE_BYTES`. Unknown message ids within
//! that size are skipped, so peers speaking later extensions (BEP 52 hash
//! messages, for one) stay connected; a session that wants stricter rules
//! can still drop peers on its own counts.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

use super::message::{BlockRequest, Message};
use crate::engine::limits::{MAX_BLOCK_BYTES, MAX_EXTENDED_MESSAGE_BYTES, MAX_MESSAGE_BYTES};

/// Why a peer's byte stream is no longer a valid message stream. Every
/// variant means: disconnect.
#[derive(Debug, Error)]
pub enum WireError {
    #[error("message of {length} bytes is larger than the limit of {limit}")]
    MessageTooLarge { length: u32, limit: u32 },
    #[error("message id {id} has length {length}, which is not valid for it")]
    InvalidLength { id: u8, length: u32 },
    #[error("the peer's handshake does not speak the BitTorrent protocol")]
    NotBitTorrent,
    #[error("the peer's extension handshake is invalid: {0}")]
    InvalidExtensionHandshake(String),
    #[error("the peer's {extension} message is invalid: {reason}")]
    InvalidExtensionMessage {
        extension: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub const ID_CHOKE: u8 = 0;
pub const ID_UNCHOKE: u8 = 1;
pub const ID_INTERESTED: u8 = 2;
pub const ID_NOT_INTERESTED: u8 = 3;
pub const ID_HAVE: u8 = 4;
pub const ID_BITFIELD: u8 = 5;
pub const ID_REQUEST: u8 = 6;
pub const ID_PIECE: u8 = 7;
pub const ID_CANCEL: u8 = 8;
pub const ID_PORT: u8 = 9;
pub const ID_SUGGEST_PIECE: u8 = 13;
pub const ID_HAVE_ALL: u8 = 14;
pub const ID_HAVE_NONE: u8 = 15;
pub const ID_REJECT_REQUEST: u8 = 16;
pub const ID_ALLOWED_FAST: u8 = 17;
pub const ID_EXTENDED: u8 = 20;

/// Bytes of a `piece` message before its block: id, index, offset.
const PIECE_HEADER_BYTES: u32 = 9;

/// Extra buffer space reserved when the read buffer must grow for a frame,
/// in bytes. Block payloads share their read buffer, so this also bounds
/// how much memory a retained block can pin.
const READ_AHEAD_BYTES: usize = 128 * 1024;

/// Room a read should have beyond the frame being read, in bytes: below
/// it the buffer grows, so reads stay large.
const MIN_READ_ROOM: usize = READ_AHEAD_BYTES / 2;

/// Makes room for `needed` more bytes of the frame being read and a
/// read's worth beyond. The buffer grows only when that does not fit, and
/// then by `READ_AHEAD_BYTES`: reserving the read-ahead on every
/// incomplete frame replaced the buffer after nearly every read while
/// blocks cut from it were still held (an allocation and a copy of the
/// partial frame each time).
fn make_room(src: &mut BytesMut, needed: usize) {
    if src.capacity() - src.len() < needed + MIN_READ_ROOM {
        src.reserve(needed + READ_AHEAD_BYTES);
    }
}

/// Decodes and encodes [`Message`]s; stateless.
#[derive(Debug, Default, Clone, Copy)]
pub struct MessageCodec;

/// Checks a frame's declared length against its id before the payload is
/// buffered. `Ok(false)` marks an unknown id to be skipped.
fn check_length(id: u8, length: u32) -> Result<bool, WireError> {
    let invalid = || WireError::InvalidLength { id, length };
    let exact = |expected: u32| {
        if length == expected {
            Ok(true)
        } else {
            Err(invalid())
        }
    };
    match id {
        ID_CHOKE | ID_UNCHOKE | ID_INTERESTED | ID_NOT_INTERESTED | ID_HAVE_ALL | ID_HAVE_NONE => {
            exact(1)
        }
        ID_HAVE | ID_SUGGEST_PIECE | ID_ALLOWED_FAST => exact(5),
        ID_REQUEST | ID_CANCEL | ID_REJECT_REQUEST => exact(13),
        ID_PORT => exact(3),
        ID_PIECE if length <= PIECE_HEADER_BYTES => Err(invalid()),
        ID_PIECE if length > PIECE_HEADER_BYTES + MAX_BLOCK_BYTES => {
            Err(WireError::MessageTooLarge {
                length,
                limit: PIECE_HEADER_BYTES + MAX_BLOCK_BYTES,
            })
        }
        ID_EXTENDED if length < 2 => Err(invalid()),
        ID_EXTENDED if length > MAX_EXTENDED_MESSAGE_BYTES => Err(WireError::MessageTooLarge {
            length,
            limit: MAX_EXTENDED_MESSAGE_BYTES,
        }),
        ID_PIECE | ID_EXTENDED | ID_BITFIELD => Ok(true),
        _ => Ok(false),
    }
}

fn block_request(payload: &mut Bytes) -> BlockRequest {
    BlockRequest {
        piece: payload.get_u32(),
        offset: payload.get_u32(),
        length: payload.get_u32(),
    }
}

impl Decoder for MessageCodec {
    type Item = Message;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, WireError> {
        loop {
            let Some(prefix) = src.get(..4) else {
                return Ok(None);
            };
            let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            if length == 0 {
                src.advance(4);
                return Ok(Some(Message::KeepAlive));
            }
            if length > MAX_MESSAGE_BYTES {
                return Err(WireError::MessageTooLarge {
                    length,
                    limit: MAX_MESSAGE_BYTES,
                });
            }
            let Some(&id) = src.get(4) else {
                return Ok(None);
            };
            let known = check_length(id, length)?;
            // Safe to reserve now: the length passed its limit above.
            let frame_len = 4 + length as usize;
            if src.len() < frame_len {
                make_room(src, frame_len - src.len());
                return Ok(None);
            }
            if !known {
                src.advance(frame_len);
                continue;
            }
            src.advance(5);
            let mut payload = src.split_to(frame_len - 5).freeze();
            return Ok(Some(parse(id, &mut payload)));
        }
    }
}

/// Builds the message from a payload whose size `check_length` accepted.
fn parse(id: u8, payload: &mut Bytes) -> Message {
    match id {
        ID_CHOKE => Message::Choke,
        ID_UNCHOKE => Message::Unchoke,
        ID_INTERESTED => Message::Interested,
        ID_NOT_INTERESTED => Message::NotInterested,
        ID_HAVE => Message::Have(payload.get_u32()),
        ID_BITFIELD => Message::Bitfield(payload.split_off(0)),
        ID_REQUEST => Message::Request(block_request(payload)),
        ID_PIECE => Message::Piece {
            piece: payload.get_u32(),
            offset: payload.get_u32(),
            data: payload.split_off(0),
        },
        ID_CANCEL => Message::Cancel(block_request(payload)),
        ID_PORT => Message::Port(payload.get_u16()),
        ID_SUGGEST_PIECE => Message::SuggestPiece(payload.get_u32()),
        ID_HAVE_ALL => Message::HaveAll,
        ID_HAVE_NONE => Message::HaveNone,
        ID_REJECT_REQUEST => Message::RejectRequest(block_request(payload)),
        ID_ALLOWED_FAST => Message::AllowedFast(payload.get_u32()),
        _ => Message::Extended {
            id: payload.get_u8(),
            payload: payload.split_off(0),
        },
    }
}

impl Message {
    /// The message's length prefix: its size on the wire minus four.
    pub fn wire_len(&self) -> usize {
        match self {
            Message::KeepAlive => 0,
            Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 1,
            Message::Have(_) | Message::SuggestPiece(_) | Message::AllowedFast(_) => 5,
            Message::Request(_) | Message::Cancel(_) | Message::RejectRequest(_) => 13,
            Message::Port(_) => 3,
            Message::Bitfield(bits) => 1 + bits.len(),
            Message::Piece { data, .. } => PIECE_HEADER_BYTES as usize + data.len(),
            Message::Extended { payload, .. } => 2 + payload.len(),
        }
    }

    /// Appends the framed message to `dst`.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        let wire_len = self.wire_len();
        dst.reserve(4 + wire_len);
        // Our own messages are bounded by the same limits we enforce.
        dst.put_u32(wire_len as u32);
        let put_request = |dst: &mut BytesMut, id: u8, r: &BlockRequest| {
            dst.put_u8(id);
            dst.put_u32(r.piece);
            dst.put_u32(r.offset);
            dst.put_u32(r.length);
        };
        match self {
            Message::KeepAlive => {}
            Message::Choke => dst.put_u8(ID_CHOKE),
            Message::Unchoke => dst.put_u8(ID_UNCHOKE),
            Message::Interested => dst.put_u8(ID_INTERESTED),
            Message::NotInterested => dst.put_u8(ID_NOT_INTERESTED),
            Message::HaveAll => dst.put_u8(ID_HAVE_ALL),
            Message::HaveNone => dst.put_u8(ID_HAVE_NONE),
            Message::Have(piece) => {
                dst.put_u8(ID_HAVE);
                dst.put_u32(*piece);
            }
            Message::SuggestPiece(piece) => {
                dst.put_u8(ID_SUGGEST_PIECE);
                dst.put_u32(*piece);
            }
            Message::AllowedFast(piece) => {
                dst.put_u8(ID_ALLOWED_FAST);
                dst.put_u32(*piece);
            }
            Message::Request(r) => put_request(dst, ID_REQUEST, r),
            Message::Cancel(r) => put_request(dst, ID_CANCEL, r),
            Message::RejectRequest(r) => put_request(dst, ID_REJECT_REQUEST, r),
            Message::Port(port) => {
                dst.put_u8(ID_PORT);
                dst.put_u16(*port);
            }
            Message::Bitfield(bits) => {
                dst.put_u8(ID_BITFIELD);
                dst.put_slice(bits);
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                dst.put_u8(ID_PIECE);
                dst.put_u32(*piece);
                dst.put_u32(*offset);
                dst.put_slice(data);
            }
            Message::Extended { id, payload } => {
                dst.put_u8(ID_EXTENDED);
                dst.put_u8(*id);
                dst.put_slice(payload);
            }
        }
    }
}

impl Encoder<Message> for MessageCodec {
    type Error = WireError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), WireError> {
        message.encode_into(dst);
        Ok(())
    }
}

impl Encoder<&Message> for MessageCodec {
    type Error = WireError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), WireError> {
        message.encode_into(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(mut bytes: BytesMut) -> Result<Vec<Message>, WireError> {
        let mut codec = MessageCodec;
        let mut out = Vec::new();
        while let Some(message) = codec.decode(&mut bytes)? {
            out.push(message);
        }
        assert!(bytes.is_empty(), "{} bytes left over", bytes.len());
        Ok(out)
    }

    fn frame(length: u32, id: u8, payload: &[u8]) -> BytesMut {
        let mut bytes = BytesMut::new();
        bytes.put_u32(length);
        bytes.put_u8(id);
        bytes.put_slice(payload);
        bytes
    }

    fn every_message() -> Vec<Message> {
        let request = BlockRequest {
            piece: 7,
            offset: 16384,
            length: 16384,
        };
        vec![
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(0xdead_beef),
            Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
            Message::Request(request),
            Message::Piece {
                piece: 3,
                offset: 32768,
                data: Bytes::from(vec![0xab; MAX_BLOCK_BYTES as usize]),
            },
            Message::Cancel(request),
            Message::Port(6881),
            Message::SuggestPiece(9),
            Message::HaveAll,
            Message::HaveNone,
            Message::RejectRequest(request),
            Message::AllowedFast(4),
            Message::Extended {
                id: 0,
                payload: Bytes::from_static(b"d1:md11:ut_metadatai1eee"),
            },
        ]
    }

    #[test]
    fn every_message_round_trips_through_the_codec() {
        let messages = every_message();
        let mut bytes = BytesMut::new();
        for message in &messages {
            MessageCodec.encode(message, &mut bytes).unwrap();
        }
        assert_eq!(decode_all(bytes).unwrap(), messages);
    }

    #[test]
    fn encoding_matches_the_bep_3_byte_layout() {
        let mut bytes = BytesMut::new();
        Message::Request(BlockRequest {
            piece: 1,
            offset: 2,
            length: 3,
        })
        .encode_into(&mut bytes);
        assert_eq!(
            &bytes[..],
            &[0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        bytes.clear();
        Message::KeepAlive.encode_into(&mut bytes);
        assert_eq!(&bytes[..], &[0, 0, 0, 0]);
        bytes.clear();
        Message::Port(0x1ae1).encode_into(&mut bytes);
        assert_eq!(&bytes[..], &[0, 0, 0, 3, 9, 0x1a, 0xe1]);
    }

    #[test]
    fn messages_split_at_every_byte_boundary_decode_once_complete() {
        let mut encoded = BytesMut::new();
        for message in every_message() {
            message.encode_into(&mut encoded);
        }
        let mut codec = MessageCodec;
        let mut buffer = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in encoded.iter() {
            buffer.put_u8(*byte);
            while let Some(message) = codec.decode(&mut buffer).unwrap() {
                decoded.push(message);
            }
        }
        assert_eq!(decoded, every_message());
    }

    #[test]
    fn an_incomplete_frame_that_fits_stays_in_the_buffer_its_held_blocks_share() {
        let block = Message::Piece {
            piece: 1,
            offset: 0,
            data: Bytes::from(vec![7; MAX_BLOCK_BYTES as usize]),
        };
        let mut wire = BytesMut::new();
        block.encode_into(&mut wire);
        block.encode_into(&mut wire);
        let frame = wire.len() / 2;
        // One whole frame, 100 bytes of the next, and room for the rest of
        // it and a read's worth beyond, but less than a whole read-ahead.
        let room = MIN_READ_ROOM + frame;
        let mut src = BytesMut::with_capacity(frame + 100 + room);
        src.extend_from_slice(&wire[..frame + 100]);
        let held = MessageCodec.decode(&mut src).unwrap().expect("a block");
        let buffer = src.as_ptr();
        assert!(MessageCodec.decode(&mut src).unwrap().is_none());
        assert_eq!(src.as_ptr(), buffer, "the read buffer was replaced");
        src.extend_from_slice(&wire[frame + 100..]);
        assert_eq!(MessageCodec.decode(&mut src).unwrap(), Some(block.clone()));
        assert_eq!(held, block);
    }

    #[test]
    fn length_prefix_over_the_limit_is_refused_before_the_payload_arrives() {
        let mut bytes = frame(MAX_MESSAGE_BYTES + 1, ID_BITFIELD, &[]);
        let capacity = bytes.capacity();
        assert!(matches!(
            MessageCodec.decode(&mut bytes),
            Err(WireError::MessageTooLarge { length, limit: MAX_MESSAGE_BYTES })
                if length == MAX_MESSAGE_BYTES + 1
        ));
        assert_eq!(bytes.capacity(), capacity, "nothing was reserved");
        // Refused from the prefix alone, before even the id arrives.
        let mut prefix_only = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert!(matches!(
            MessageCodec.decode(&mut prefix_only),
            Err(WireError::MessageTooLarge { .. })
        ));
        let mut at_limit = frame(
            MAX_MESSAGE_BYTES,
            ID_BITFIELD,
            &vec![0; MAX_MESSAGE_BYTES as usize - 1],
        );
        assert!(matches!(
            MessageCodec.decode(&mut at_limit),
            Ok(Some(Message::Bitfield(bits))) if bits.len() == MAX_MESSAGE_BYTES as usize - 1
        ));
    }

    #[test]
    fn piece_payload_over_one_block_is_refused() {
        let limit = PIECE_HEADER_BYTES + MAX_BLOCK_BYTES;
        let mut bytes = frame(limit + 1, ID_PIECE, &[0; 8]);
        assert!(matches!(
            MessageCodec.decode(&mut bytes),
            Err(WireError::MessageTooLarge { length, limit: l }) if length == limit + 1 && l == limit
        ));
        let mut empty = frame(PIECE_HEADER_BYTES, ID_PIECE, &[0; 8]);
        assert!(matches!(
            MessageCodec.decode(&mut empty),
            Err(WireError::InvalidLength {
                id: ID_PIECE,
                length: PIECE_HEADER_BYTES
            })
        ));
    }

    #[test]
    fn extended_message_over_its_limit_is_refused() {
        let mut bytes = frame(MAX_EXTENDED_MESSAGE_BYTES + 1, ID_EXTENDED, &[1]);
        assert!(matches!(
            MessageCodec.decode(&mut bytes),
            Err(WireError::MessageTooLarge {
                limit: MAX_EXTENDED_MESSAGE_BYTES,
                ..
            })
        ));
        let mut at_limit = frame(
            MAX_EXTENDED_MESSAGE_BYTES,
            ID_EXTENDED,
            &vec![3; MAX_EXTENDED_MESSAGE_BYTES as usize - 1],
        );
        assert!(matches!(
            MessageCodec.decode(&mut at_limit),
            Ok(Some(Message::Extended { id: 3, payload })) if payload.len() == MAX_EXTENDED_MESSAGE_BYTES as usize - 2
        ));
        let mut no_id = frame(1, ID_EXTENDED, &[]);
        assert!(matches!(
            MessageCodec.decode(&mut no_id),
            Err(WireError::InvalidLength {
                id: ID_EXTENDED,
                length: 1
            })
        ));
    }

    #[test]
    fn fixed_size_messages_with_any_other_size_are_refused() {
        let cases = [
            (ID_CHOKE, 1),
            (ID_UNCHOKE, 1),
            (ID_INTERESTED, 1),
            (ID_NOT_INTERESTED, 1),
            (ID_HAVE_ALL, 1),
            (ID_HAVE_NONE, 1),
            (ID_HAVE, 5),
            (ID_SUGGEST_PIECE, 5),
            (ID_ALLOWED_FAST, 5),
            (ID_REQUEST, 13),
            (ID_CANCEL, 13),
            (ID_REJECT_REQUEST, 13),
            (ID_PORT, 3),
        ];
        for (id, size) in cases {
            for wrong in [size - 1, size + 1] {
                if wrong == 0 {
                    continue;
                }
                let mut bytes = frame(wrong, id, &vec![0; wrong as usize - 1]);
                assert!(
                    matches!(
                        MessageCodec.decode(&mut bytes),
                        Err(WireError::InvalidLength { id: i, length }) if i == id && length == wrong
                    ),
                    "id {id} length {wrong}"
                );
            }
        }
    }

    #[test]
    fn unknown_message_ids_are_skipped() {
        let mut bytes = frame(4, 21, &[1, 2, 3]);
        bytes.extend_from_slice(&frame(1, ID_UNCHOKE, &[]));
        assert_eq!(decode_all(bytes).unwrap(), vec![Message::Unchoke]);
        let mut too_big = frame(MAX_MESSAGE_BYTES + 1, 99, &[]);
        assert!(matches!(
            MessageCodec.decode(&mut too_big),
            Err(WireError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn random_byte_streams_decode_or_fail_but_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..5_000 {
            let mut bytes = BytesMut::new();
            for _ in 0..rng.gen_range(1..8) {
                // Small lengths and known ids, so frames often complete.
                let length = rng.gen_range(0..40u32);
                bytes.put_u32(length);
                bytes.put_u8(rng.gen_range(0..25));
                bytes.extend((0..length.saturating_sub(1)).map(|_| rng.r#gen::<u8>()));
            }
            let mut codec = MessageCodec;
            while let Ok(Some(_)) = codec.decode(&mut bytes) {}
        }
    }
}
