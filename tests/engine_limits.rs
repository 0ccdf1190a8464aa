//! Peer input limits, crossed by a hostile peer written here: a real TCP
//! socket speaking raw bytes to a seeding engine on 127.0.0.1. Each test
//! crosses one limit and expects the engine to hang up; one holds the
//! seeder to the Fast extension's answer to a cancel.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::engine::{LoopbackDownload, loopback_config};
use common::peers::seeded_torrent;
use futures::StreamExt;
use piecewise::engine::events::TorrentState;
use piecewise::engine::handle::{Engine, TorrentHandle, TorrentSource};
use piecewise::engine::limits::{
    HANDSHAKE_TIMEOUT, MAX_CONNECTIONS, MAX_INVALID_REQUESTS, MAX_MESSAGE_BYTES,
    MAX_PEERS_PER_TORRENT, MAX_QUEUED_REQUESTS,
};
use piecewise::engine::wire::{BlockRequest, Message, MessageCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::FramedRead;

/// A seeding engine with a ~3 MB torrent of 100 pieces (not a multiple of
/// eight, so bitfields have spare bits).
struct Seeder {
    _dir: tempfile::TempDir,
    engine: Engine,
    handle: TorrentHandle,
}

impl Seeder {
    async fn start() -> Seeder {
        let dir = tempfile::tempdir().unwrap();
        let (_, torrent, _) = seeded_torrent(dir.path(), &[]);
        let LoopbackDownload { engine, handle, .. } = LoopbackDownload::start(
            loopback_config(dir.path().join("seed")),
            TorrentSource::File(torrent),
        )
        .await;
        handle
            .stats_watch()
            .wait_for(|s| s.state == TorrentState::Seeding)
            .await
            .unwrap();
        assert_eq!(handle.stats().piece_count, 100);
        Seeder {
            _dir: dir,
            engine,
            handle,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.engine.listen_addr()
    }

    /// Connects and completes the handshake (announcing Fast).
    async fn hostile_peer(&self) -> TcpStream {
        let mut stream = TcpStream::connect(self.addr()).await.unwrap();
        let mut handshake = Vec::with_capacity(68);
        handshake.push(19);
        handshake.extend_from_slice(b"BitTorrent protocol");
        handshake.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x04]);
        handshake.extend_from_slice(&self.handle.info_hash().0);
        handshake.extend_from_slice(b"-XX0000-hostilepeer!");
        stream.write_all(&handshake).await.unwrap();
        let mut reply = [0u8; 68];
        stream.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply[28..48], &self.handle.info_hash().0);
        stream
    }

    /// A hostile peer that said it is interested and was unchoked.
    async fn unchoked_peer(&self) -> (FramedRead<OwnedReadHalf, MessageCodec>, OwnedWriteHalf) {
        let (reader, mut writer) = self.hostile_peer().await.into_split();
        writer.write_all(&frame(2, &[])).await.unwrap(); // interested
        let mut messages = FramedRead::new(reader, MessageCodec);
        let unchoked = tokio::time::timeout(SOON, async {
            while let Some(Ok(message)) = messages.next().await {
                if message == Message::Unchoke {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(unchoked, Ok(true), "an interested peer is unchoked");
        (messages, writer)
    }
}

/// Reads (and discards) until the engine closes the connection.
async fn assert_disconnected(stream: &mut TcpStream, within: Duration) {
    let closed = tokio::time::timeout(within, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the engine kept the hostile peer connected");
}

fn frame(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    bytes.push(id);
    bytes.extend_from_slice(payload);
    bytes
}

/// A message naming one block (request: 6, cancel: 8).
fn block_message(id: u8, piece: u32, offset: u32) -> Vec<u8> {
    let mut payload = Vec::new();
    for value in [piece, offset, 16 * 1024] {
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(id, &payload)
}

fn request(piece: u32, offset: u32) -> Vec<u8> {
    block_message(6, piece, offset)
}

const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn length_prefix_over_max_message_bytes_disconnects_before_buffering() {
    let seeder = Seeder::start().await;
    let mut peer = seeder.hostile_peer().await;
    // Only the prefix and id: the engine must not wait for the payload.
    let mut bytes = (MAX_MESSAGE_BYTES + 1).to_be_bytes().to_vec();
    bytes.push(5);
    peer.write_all(&bytes).await.unwrap();
    assert_disconnected(&mut peer, SOON).await;
}

#[tokio::test]
async fn bitfield_of_the_wrong_size_disconnects() {
    let seeder = Seeder::start().await;
    let mut peer = seeder.hostile_peer().await;
    // 100 pieces need 13 bytes.
    peer.write_all(&frame(5, &[0xff; 14])).await.unwrap();
    assert_disconnected(&mut peer, SOON).await;
}

#[tokio::test]
async fn bitfield_with_spare_bits_set_disconnects() {
    let seeder = Seeder::start().await;
    let mut peer = seeder.hostile_peer().await;
    let mut bits = [0u8; 13];
    bits[12] = 0x01; // piece 103 of 100
    peer.write_all(&frame(5, &bits)).await.unwrap();
    assert_disconnected(&mut peer, SOON).await;
}

#[tokio::test]
async fn have_beyond_the_piece_count_disconnects() {
    let seeder = Seeder::start().await;
    let mut peer = seeder.hostile_peer().await;
    peer.write_all(&frame(4, &100u32.to_be_bytes()))
        .await
        .unwrap();
    assert_disconnected(&mut peer, SOON).await;
}

#[tokio::test]
async fn requests_past_max_queued_requests_disconnect() {
    let seeder = Seeder::start().await;
    let (messages, mut writer) = seeder.unchoked_peer().await;
    // Twice as many requests as the queue holds, in one write: the engine
    // serves some while they arrive, but cannot keep up with a flood.
    let flood: Vec<u8> = (0..2 * MAX_QUEUED_REQUESTS as u32)
        .flat_map(|i| request(i % 100, 0))
        .collect();
    writer.write_all(&flood).await.unwrap();
    let mut stream = messages.into_inner().reunite(writer).unwrap();
    assert_disconnected(&mut stream, SOON).await;
}

#[tokio::test]
async fn invalid_requests_past_max_invalid_requests_disconnect() {
    let seeder = Seeder::start().await;
    let mut peer = seeder.hostile_peer().await;
    // Requests while choked are invalid; with Fast each is rejected.
    let flood: Vec<u8> = (0..=MAX_INVALID_REQUESTS)
        .flat_map(|i| request(i % 100, 0))
        .collect();
    peer.write_all(&flood).await.unwrap();
    assert_disconnected(&mut peer, SOON).await;
}

#[tokio::test]
async fn peer_that_never_handshakes_is_dropped_after_handshake_timeout() {
    let seeder = Seeder::start().await;
    let mut peer = TcpStream::connect(seeder.addr()).await.unwrap();
    let start = Instant::now();
    assert_disconnected(&mut peer, HANDSHAKE_TIMEOUT + SOON).await;
    assert!(start.elapsed() >= HANDSHAKE_TIMEOUT - Duration::from_secs(1));
}

#[tokio::test]
async fn connections_past_max_peers_per_torrent_are_refused() {
    let seeder = Seeder::start().await;
    let mut peers = Vec::new();
    for _ in 0..MAX_PEERS_PER_TORRENT {
        peers.push(seeder.hostile_peer().await);
    }
    let mut extra = TcpStream::connect(seeder.addr()).await.unwrap();
    let mut handshake = vec![19];
    handshake.extend_from_slice(b"BitTorrent protocol");
    handshake.extend_from_slice(&[0; 8]);
    handshake.extend_from_slice(&seeder.handle.info_hash().0);
    handshake.extend_from_slice(b"-XX0000-onetoomany!!");
    extra.write_all(&handshake).await.unwrap();
    assert_disconnected(&mut extra, SOON).await;
    assert!(seeder.handle.stats().peers <= MAX_PEERS_PER_TORRENT);
}

#[tokio::test]
async fn connections_past_max_connections_are_closed_at_once() {
    let seeder = Seeder::start().await;
    // Silent connections hold their slot until the handshake times out.
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(seeder.addr()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(seeder.addr()).await.unwrap();
    let start = Instant::now();
    assert_disconnected(&mut extra, SOON).await;
    assert!(
        start.elapsed() < HANDSHAKE_TIMEOUT / 2,
        "refused, not timed out"
    );
}

#[tokio::test]
async fn a_cancelled_request_still_queued_is_rejected_under_fast() {
    let seeder = Seeder::start().await;
    // A block a second: the later requests wait in the seeder's queue.
    seeder.engine.set_rate_limits(16 * 1024, 0);
    let (mut messages, mut writer) = seeder.unchoked_peer().await;
    let requests: Vec<u8> = (0..8).flat_map(|piece| request(piece, 0)).collect();
    writer.write_all(&requests).await.unwrap();
    writer.write_all(&block_message(8, 7, 0)).await.unwrap();
    let cancelled = BlockRequest {
        piece: 7,
        offset: 0,
        length: 16 * 1024,
    };
    let answer = tokio::time::timeout(SOON, async {
        while let Some(Ok(message)) = messages.next().await {
            match message {
                Message::RejectRequest(request) if request == cancelled => return "reject",
                Message::Piece { piece: 7, .. } => return "piece",
                _ => {}
            }
        }
        "hang-up"
    })
    .await;
    assert_eq!(
        answer,
        Ok("reject"),
        "BEP 6: a cancelled request is answered with its block or a reject"
    );
}
