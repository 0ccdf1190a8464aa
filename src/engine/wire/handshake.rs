//! The BitTorrent handshake (BEP 3) and its reserved bits: the extension
//! protocol (BEP 10), the Fast extension (BEP 6) and DHT (BEP 5). Timeouts
//! are the caller's: wrap these calls in `tokio::time::timeout`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::codec::WireError;
use crate::engine::metainfo::InfoHash;

const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Bytes of a whole handshake.
pub const HANDSHAKE_BYTES: usize = 68;

/// A 20-byte peer id (BEP 20 style: client prefix, then random).
pub type PeerId = [u8; 20];

/// The eight reserved bytes announcing what a peer supports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    // (byte, mask) of each flag, as BEP 10, BEP 6 and BEP 5 place them.
    const EXTENSION_PROTOCOL: (usize, u8) = (5, 0x10);
    const FAST: (usize, u8) = (7, 0x04);
    const DHT: (usize, u8) = (7, 0x01);

    /// What Piecewise announces: extension protocol, Fast and DHT.
    pub fn ours() -> Self {
        let mut reserved = Reserved::default();
        for (byte, mask) in [Self::EXTENSION_PROTOCOL, Self::FAST, Self::DHT] {
            reserved.0[byte] |= mask;
        }
        reserved
    }

    fn has(&self, (byte, mask): (usize, u8)) -> bool {
        self.0[byte] & mask != 0
    }

    pub fn extension_protocol(&self) -> bool {
        self.has(Self::EXTENSION_PROTOCOL)
    }

    pub fn fast(&self) -> bool {
        self.has(Self::FAST)
    }

    pub fn dht(&self) -> bool {
        self.has(Self::DHT)
    }
}

/// Checks the first 20 bytes: the length byte and the protocol string.
fn check_protocol(start: &[u8]) -> Result<(), WireError> {
    match start.split_first() {
        Some((&19, name)) if name == PROTOCOL => Ok(()),
        _ => Err(WireError::NotBitTorrent),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: Reserved,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
}

impl Handshake {
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_BYTES] {
        let mut bytes = [0; HANDSHAKE_BYTES];
        bytes[0] = PROTOCOL.len() as u8;
        bytes[1..20].copy_from_slice(PROTOCOL);
        bytes[20..28].copy_from_slice(&self.reserved.0);
        bytes[28..48].copy_from_slice(&self.info_hash.0);
        bytes[48..68].copy_from_slice(&self.peer_id);
        bytes
    }

    pub fn from_bytes(bytes: &[u8; HANDSHAKE_BYTES]) -> Result<Self, WireError> {
        check_protocol(&bytes[..20])?;
        let mut handshake = Handshake {
            reserved: Reserved::default(),
            info_hash: InfoHash([0; 20]),
            peer_id: [0; 20],
        };
        handshake.reserved.0.copy_from_slice(&bytes[20..28]);
        handshake.info_hash.0.copy_from_slice(&bytes[28..48]);
        handshake.peer_id.copy_from_slice(&bytes[48..68]);
        Ok(handshake)
    }

    /// Reads a whole handshake; the protocol string is checked as soon as
    /// it arrives, so a stranger is dropped before we wait for more.
    pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Self, WireError> {
        let mut bytes = [0; HANDSHAKE_BYTES];
        reader.read_exact(&mut bytes[..20]).await?;
        check_protocol(&bytes[..20])?;
        reader.read_exact(&mut bytes[20..]).await?;
        Self::from_bytes(&bytes)
    }

    pub async fn write<W: AsyncWrite + Unpin>(&self, writer: &mut W) -> Result<(), WireError> {
        writer.write_all(&self.to_bytes()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake {
            reserved: Reserved::ours(),
            info_hash: InfoHash([0x11; 20]),
            peer_id: *b"-PW0001-abcdefghijkl",
        }
    }

    #[test]
    fn handshake_round_trips_with_the_bep_3_layout() {
        let bytes = sample().to_bytes();
        assert_eq!(bytes[0], 19);
        assert_eq!(&bytes[1..20], b"BitTorrent protocol");
        assert_eq!(&bytes[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert_eq!(Handshake::from_bytes(&bytes).unwrap(), sample());
    }

    #[test]
    fn reserved_bits_announce_extension_fast_and_dht_separately() {
        let ours = Reserved::ours();
        assert!(ours.extension_protocol() && ours.fast() && ours.dht());
        let none = Reserved::default();
        assert!(!none.extension_protocol() && !none.fast() && !none.dht());
        let only_fast = Reserved([0, 0, 0, 0, 0, 0, 0, 0x04]);
        assert!(only_fast.fast() && !only_fast.dht() && !only_fast.extension_protocol());
    }

    #[tokio::test]
    async fn handshake_travels_over_a_byte_stream() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move { sample().write(&mut a).await });
        assert_eq!(Handshake::read(&mut b).await.unwrap(), sample());
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_stranger_is_refused_after_twenty_bytes() {
        let (mut a, mut b) = tokio::io::duplex(64);
        // Only 20 bytes are sent and the stream stays open: the reader must
        // not wait for the rest.
        a.write_all(b"GET / HTTP/1.1\r\nHost").await.unwrap();
        assert!(matches!(
            Handshake::read(&mut b).await,
            Err(WireError::NotBitTorrent)
        ));
        let mut bytes = sample().to_bytes();
        bytes[0] = 18;
        assert!(matches!(
            Handshake::from_bytes(&bytes),
            Err(WireError::NotBitTorrent)
        ));
    }

    #[tokio::test]
    async fn a_truncated_handshake_is_an_io_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&sample().to_bytes()[..40]).await.unwrap();
        drop(a);
        assert!(matches!(
            Handshake::read(&mut b).await,
            Err(WireError::Io(_))
        ));
    }
}
