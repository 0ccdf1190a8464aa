//! Benchmark, not run by `cargo test`: how fast the peer wire codec moves
//! `piece` messages over TCP on 127.0.0.1, against raw socket reads of the
//! same bytes. Prints numbers; never fails on speed.
//!
//!     cargo test --test wire_throughput -- --ignored --nocapture

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use piecewise::engine::wire::{BLOCK_SIZE, Message, MessageCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

const TOTAL_BYTES: usize = 1 << 30;
const BLOCKS_PER_WRITE: usize = 16;
/// Blocks a session may have on their way to the torrent task: its
/// read-ahead of messages.
const HELD_BLOCKS: usize = 64;
/// Bytes of a `piece` frame before its block: length, id, index, offset.
const PIECE_FRAME_HEADER: usize = 13;

async fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (server, client) = tokio::join!(listener.accept(), client);
    (server.unwrap().0, client.unwrap())
}

/// Writes `TOTAL_BYTES` of block data as framed `piece` messages.
async fn send_pieces(mut stream: TcpStream) {
    let block = Bytes::from(vec![0x5a; BLOCK_SIZE as usize]);
    let mut out = BytesMut::new();
    let blocks = TOTAL_BYTES / BLOCK_SIZE as usize;
    for index in 0..blocks {
        Message::Piece {
            piece: (index / 64) as u32,
            offset: (index % 64) as u32 * BLOCK_SIZE,
            data: block.clone(),
        }
        .encode_into(&mut out);
        if out.len() >= BLOCKS_PER_WRITE * BLOCK_SIZE as usize || index + 1 == blocks {
            stream.write_all(&out).await.unwrap();
            out.clear();
        }
    }
}

fn rate(bytes: usize, started: Instant) -> f64 {
    bytes as f64 / started.elapsed().as_secs_f64() / 1e6
}

async fn raw_round() -> f64 {
    let (sender, mut receiver) = connected_pair().await;
    let started = Instant::now();
    let writer = tokio::spawn(send_pieces(sender));
    let mut buffer = vec![0u8; 256 * 1024];
    let mut received = 0;
    while let Ok(n) = receiver.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        received += n;
    }
    writer.await.unwrap();
    rate(received, started)
}

/// Reads the stream through the codec, keeping the latest `held` blocks
/// alive as a session's blocks on their way to the torrent are: payload
/// MB/s, and how many read buffers the blocks came out of (a block not
/// right after the previous one in memory starts another).
async fn codec_round(held: usize) -> (f64, usize) {
    let (sender, receiver) = connected_pair().await;
    let started = Instant::now();
    let writer = tokio::spawn(send_pieces(sender));
    let mut frames = FramedRead::new(receiver, MessageCodec);
    let mut payload = 0;
    let mut in_flight = VecDeque::with_capacity(held + 1);
    let mut buffers = 0;
    let mut next_in_buffer = 0;
    while let Some(message) = frames.next().await {
        if let Message::Piece { data, .. } = message.unwrap() {
            payload += data.len();
            let start = data.as_ptr() as usize;
            if start != next_in_buffer {
                buffers += 1;
            }
            next_in_buffer = start + data.len() + PIECE_FRAME_HEADER;
            in_flight.push_back(data);
            if in_flight.len() > held {
                in_flight.pop_front();
            }
        }
    }
    writer.await.unwrap();
    assert_eq!(payload, TOTAL_BYTES);
    (rate(payload, started), buffers)
}

/// Best of three alternating rounds each: the machine is shared and noisy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn piece_messages_through_the_codec_against_raw_reads() {
    let (mut raw, mut codec, mut held) = (0f64, 0f64, 0f64);
    let (mut buffers, mut held_buffers) = (0, 0);
    for _ in 0..3 {
        raw = raw.max(raw_round().await);
        let (rate, used) = codec_round(0).await;
        (codec, buffers) = (codec.max(rate), used);
        let (rate, used) = codec_round(HELD_BLOCKS).await;
        (held, held_buffers) = (held.max(rate), used);
    }
    let mib = TOTAL_BYTES >> 20;
    println!("raw reads of the stream: {raw:.0} MB/s");
    println!("codec, block payload:    {codec:.0} MB/s, {buffers} read buffers for {mib} MiB");
    println!(
        "codec, {HELD_BLOCKS} blocks held:   {held:.0} MB/s, {held_buffers} read buffers for {mib} MiB"
    );
    println!("codec / raw: {:.0} %", 100.0 * codec / raw);
}
