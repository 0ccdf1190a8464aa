//! Web seeds (BEP 19): an HTTP(S) origin holding the torrent's files, used
//! as a source that never leaves. One task per web seed takes batches of
//! block requests from the torrent task, coalesces adjacent blocks of one
//! piece into byte ranges, keeps several ranges in flight over the shared
//! keep-alive client, and hands every block back to the torrent task, which
//! hash-checks it like a peer's. Any failure ends the task with a reason;
//! the torrent then drops the web seed.

mod fetch;
mod layout;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::{AbortHandle, Abortable, Aborted};
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use crate::engine::limits::MAX_WEB_SEED_RESPONSE_BYTES;
use crate::engine::picker::PeerKey;
use crate::engine::rate_limit::RateLimiter;
use crate::engine::wire::BlockRequest;
pub use layout::LayoutError;
use layout::Segment;
pub(crate) use layout::WebSeedLayout;

/// Byte ranges one web seed has in flight at once: enough to hide the
/// round trip behind transfers, few enough to stay polite to the origin.
const RANGES_IN_FLIGHT: usize = 4;

/// How much the origin (web seeds) is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OriginUse {
    /// Web seeds are ignored.
    Never,
    /// Only for time-critical blocks that peers will not deliver before
    /// their deadline; without a player, only while no peer delivers.
    #[default]
    AvoidStall,
    /// A source like a fast peer.
    Always,
}

impl OriginUse {
    pub const NAMES: [&str; 3] = ["never", "avoid-stall", "always"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::AvoidStall => "avoid-stall",
            Self::Always => "always",
        }
    }

    /// Parses one of [`Self::NAMES`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "never" => Some(Self::Never),
            "avoid-stall" => Some(Self::AvoidStall),
            "always" => Some(Self::Always),
            _ => None,
        }
    }
}

/// Why a web seed was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebSeedError {
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("HTTP request failed: {0}")]
    Http(String),
    #[error("the server answered with status {0}")]
    Status(u16),
    #[error("the server ignored the byte range and sent the whole file")]
    IgnoredRange,
    #[error("asked for bytes {asked}, the server sent {got:?}")]
    WrongRange { asked: String, got: String },
    #[error("the response is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the response ended after {got} of {asked} bytes")]
    Short { got: u64, asked: u64 },
    #[error("the server sent nothing for {0:?}")]
    Silent(Duration),
    #[error("it served data that failed the hash check (piece {0})")]
    HashFailed(u32),
    /// The torrent stopped listening; not the server's fault.
    #[error("the torrent is gone")]
    TorrentGone,
}

/// What a web seed task reports to its torrent.
pub(crate) struct WebSeedEvent {
    pub key: PeerKey,
    pub kind: WebSeedEventKind,
}

pub(crate) enum WebSeedEventKind {
    Block {
        request: BlockRequest,
        data: Bytes,
    },
    /// The task ended; the web seed is not used again.
    Failed(WebSeedError),
}

/// What the torrent task tells a web seed task.
#[derive(Debug)]
pub(crate) enum WebSeedCommand {
    /// Fetch these blocks.
    Fetch(Vec<BlockRequest>),
    /// The block is no longer wanted from us (a copy arrived, or a seek).
    Cancel(BlockRequest),
}

pub(crate) struct WebSeedParams {
    pub key: PeerKey,
    pub layout: Arc<WebSeedLayout>,
    pub piece_length: u32,
    pub download_limit: Arc<RateLimiter>,
    /// Longest the server may send nothing while we wait for it.
    pub silence_timeout: Duration,
    pub events: mpsc::Sender<WebSeedEvent>,
}

/// Starts a web seed task; it ends when `commands` closes or on a failure.
pub(crate) fn spawn(params: WebSeedParams, commands: mpsc::UnboundedReceiver<WebSeedCommand>) {
    tokio::spawn(run(params, commands));
}

/// A range under way: the blocks of it still wanted, and how to stop it.
struct RangeInFlight {
    wanted: Arc<Mutex<HashSet<BlockRequest>>>,
    abort: AbortHandle,
}

async fn run(params: WebSeedParams, mut commands: mpsc::UnboundedReceiver<WebSeedCommand>) {
    let failed = |error| WebSeedEvent {
        key: params.key,
        kind: WebSeedEventKind::Failed(error),
    };
    let client = match fetch::client() {
        Ok(client) => client,
        Err(error) => {
            let _ = params.events.send(failed(error)).await;
            return;
        }
    };
    let mut queue: VecDeque<Vec<BlockRequest>> = VecDeque::new();
    let mut ranges: Vec<RangeInFlight> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < RANGES_IN_FLIGHT
            && let Some(run) = queue.pop_front()
        {
            let wanted = Arc::new(Mutex::new(run.iter().copied().collect()));
            let blocks = BlockAssembly {
                key: params.key,
                pending: run.into(),
                wanted: wanted.clone(),
                buffer: BytesMut::new(),
                events: params.events.clone(),
            };
            let (abort, registration) = AbortHandle::new_pair();
            ranges.push(RangeInFlight { wanted, abort });
            in_flight.push(Abortable::new(
                fetch_blocks(
                    client,
                    params.layout.clone(),
                    params.piece_length,
                    blocks,
                    params.download_limit.clone(),
                    params.silence_timeout,
                ),
                registration,
            ));
        }
        tokio::select! {
            command = commands.recv() => match command {
                Some(WebSeedCommand::Fetch(batch)) => queue.extend(coalesce(batch)),
                Some(WebSeedCommand::Cancel(block)) => cancel(&mut queue, &mut ranges, block),
                // The torrent dropped us (paused, removed, or done).
                None => return,
            },
            Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                ranges.retain(|range| !range.abort.is_aborted() && !range.finished());
                match result {
                    // Finished, or aborted because nothing in it is wanted.
                    Ok(Ok(())) | Err(Aborted) => {}
                    Ok(Err(WebSeedError::TorrentGone)) => return,
                    Ok(Err(error)) => {
                        let _ = params.events.send(failed(error)).await;
                        return;
                    }
                }
            }
        }
    }
}

impl RangeInFlight {
    fn finished(&self) -> bool {
        lock(&self.wanted).is_empty()
    }
}

fn lock(wanted: &Mutex<HashSet<BlockRequest>>) -> MutexGuard<'_, HashSet<BlockRequest>> {
    // The set stays consistent whatever panicked while holding it.
    wanted.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forgets a block: a queued run loses it, and a range in flight whose
/// every remaining block is cancelled is stopped. Stopping a response
/// midway closes its connection (HTTP/1.1 has no other way), which costs a
/// new handshake but no more of a throttled origin's time on bytes nobody
/// wants; the pool opens another for the next range.
fn cancel(
    queue: &mut VecDeque<Vec<BlockRequest>>,
    ranges: &mut Vec<RangeInFlight>,
    block: BlockRequest,
) {
    if let Some(index) = queue.iter().position(|run| run.contains(&block)) {
        let mut run = queue.remove(index).unwrap_or_default();
        run.retain(|b| *b != block);
        // What remains may have a gap: split it into adjacent runs again.
        for (offset, part) in coalesce(run).into_iter().enumerate() {
            queue.insert(index + offset, part);
        }
        return;
    }
    ranges.retain(|range| {
        let mut wanted = lock(&range.wanted);
        if wanted.remove(&block) && wanted.is_empty() {
            range.abort.abort();
            return false;
        }
        true
    });
}

/// Groups requests into runs of adjacent blocks of one piece, each at most
/// [`MAX_WEB_SEED_RESPONSE_BYTES`]: one HTTP range per run and file.
fn coalesce(mut blocks: Vec<BlockRequest>) -> Vec<Vec<BlockRequest>> {
    blocks.sort_unstable_by_key(|b| (b.piece, b.offset));
    blocks.dedup();
    let mut runs: Vec<Vec<BlockRequest>> = Vec::new();
    let mut run_bytes = 0u64;
    for block in blocks {
        if let Some(run) = runs.last_mut()
            && let Some(last) = run.last()
            && last.piece == block.piece
            && last.offset.checked_add(last.length) == Some(block.offset)
            && run_bytes + u64::from(block.length) <= MAX_WEB_SEED_RESPONSE_BYTES
        {
            run.push(block);
            run_bytes += u64::from(block.length);
            continue;
        }
        run_bytes = u64::from(block.length);
        runs.push(vec![block]);
    }
    runs
}

/// The blocks of one run, handed to the torrent one by one as their bytes
/// arrive: a throttled origin's first block need not wait for its last.
pub(crate) struct BlockAssembly {
    key: PeerKey,
    pending: VecDeque<BlockRequest>,
    /// Blocks of the run neither delivered nor cancelled, shared with the
    /// task that may stop the range.
    wanted: Arc<Mutex<HashSet<BlockRequest>>>,
    buffer: BytesMut,
    events: mpsc::Sender<WebSeedEvent>,
}

impl BlockAssembly {
    async fn push(&mut self, bytes: &[u8]) -> Result<(), WebSeedError> {
        self.buffer.extend_from_slice(bytes);
        while let Some(&request) = self.pending.front()
            && self.buffer.len() >= request.length as usize
        {
            let data: Bytes = self.buffer.split_to(request.length as usize).freeze();
            self.pending.pop_front();
            lock(&self.wanted).remove(&request);
            let event = WebSeedEvent {
                key: self.key,
                kind: WebSeedEventKind::Block { request, data },
            };
            self.events
                .send(event)
                .await
                .map_err(|_| WebSeedError::TorrentGone)?;
        }
        Ok(())
    }
}

/// Fetches one run of blocks (from one or more files, or pad zeros).
async fn fetch_blocks(
    client: &reqwest::Client,
    layout: Arc<WebSeedLayout>,
    piece_length: u32,
    mut blocks: BlockAssembly,
    download_limit: Arc<RateLimiter>,
    silence_timeout: Duration,
) -> Result<(), WebSeedError> {
    let Some(first) = blocks.pending.front() else {
        return Ok(());
    };
    let start = u64::from(first.piece) * u64::from(piece_length) + u64::from(first.offset);
    let length: u64 = blocks.pending.iter().map(|b| u64::from(b.length)).sum();
    for segment in layout.segments(start..start + length) {
        match segment {
            Segment::File {
                url,
                range,
                file_length,
            } => {
                fetch::fetch_range(
                    client,
                    &url,
                    range,
                    file_length,
                    &download_limit,
                    silence_timeout,
                    &mut blocks,
                )
                .await?;
            }
            Segment::Zeros(count) => blocks.push(&vec![0; count as usize]).await?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    fn block(piece: u32, index: u32) -> BlockRequest {
        BlockRequest {
            piece,
            offset: index * 16384,
            length: 16384,
        }
    }

    #[test]
    fn adjacent_blocks_of_one_piece_make_one_range() {
        let runs = coalesce(vec![
            block(1, 1),
            block(0, 0),
            block(1, 0),
            block(0, 2),
            block(0, 1),
            block(1, 3),
        ]);
        assert_eq!(
            runs,
            vec![
                vec![block(0, 0), block(0, 1), block(0, 2)],
                vec![block(1, 0), block(1, 1)],
                vec![block(1, 3)],
            ]
        );
    }

    #[test]
    fn a_range_never_exceeds_the_response_limit() {
        let per_run = (MAX_WEB_SEED_RESPONSE_BYTES / 16384) as u32;
        let runs = coalesce((0..per_run + 1).map(|i| block(0, i)).collect());
        assert_eq!(
            runs.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![per_run as usize, 1]
        );
    }

    #[test]
    fn cancelling_a_queued_block_keeps_the_rest_of_its_run_in_adjacent_ranges() {
        let mut queue: VecDeque<_> = coalesce((0..4).map(|i| block(0, i)).collect()).into();
        cancel(&mut queue, &mut Vec::new(), block(0, 1));
        assert_eq!(
            queue,
            vec![vec![block(0, 0)], vec![block(0, 2), block(0, 3)]]
        );
    }

    /// Reads an HTTP request head from `socket`.
    async fn read_request(socket: &mut TcpStream) {
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(socket.read(&mut byte).await.unwrap(), 1, "request ended");
            head.push(byte[0]);
        }
    }

    #[tokio::test]
    async fn a_range_whose_blocks_are_all_cancelled_stops_in_flight_and_the_seed_goes_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/file.bin",
            listener.local_addr().unwrap().port()
        );
        let mut info = layout::tests::info("file.bin", &[("file.bin", 65536, false)]);
        info.piece_length = 32768;
        let (events_tx, mut events) = mpsc::channel(16);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        spawn(
            WebSeedParams {
                key: 7,
                layout: Arc::new(WebSeedLayout::new(&url, &info).unwrap()),
                piece_length: 32768,
                download_limit: Arc::new(RateLimiter::new(0)),
                silence_timeout: Duration::from_secs(60),
                events: events_tx,
            },
            commands_rx,
        );
        commands
            .send(WebSeedCommand::Fetch(vec![block(0, 0), block(0, 1)]))
            .unwrap();
        // The origin sends the first block of the range and holds the second.
        let (mut socket, _) = listener.accept().await.unwrap();
        read_request(&mut socket).await;
        socket
            .write_all(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-32767/65536\r\nContent-Length: 32768\r\n\r\n")
            .await
            .unwrap();
        socket.write_all(&[1; 16384]).await.unwrap();
        let first = events.recv().await.unwrap();
        assert!(matches!(
            first.kind,
            WebSeedEventKind::Block { request, .. } if request == block(0, 0)
        ));
        commands.send(WebSeedCommand::Cancel(block(0, 1))).unwrap();
        // The client closes the connection long before the silence timeout.
        let mut rest = [0; 64];
        let closed = tokio::time::timeout(Duration::from_secs(20), socket.read(&mut rest))
            .await
            .expect("the range was not stopped");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        // Not a failure: the next range goes out.
        commands
            .send(WebSeedCommand::Fetch(vec![block(1, 0)]))
            .unwrap();
        let (mut socket, _) = listener.accept().await.unwrap();
        read_request(&mut socket).await;
        assert!(events.try_recv().is_err(), "no event after the cancel");
    }

    #[test]
    fn origin_use_names_round_trip() {
        for name in OriginUse::NAMES {
            assert_eq!(OriginUse::from_name(name).map(OriginUse::name), Some(name));
        }
        assert_eq!(OriginUse::from_name("sometimes"), None);
    }
}
