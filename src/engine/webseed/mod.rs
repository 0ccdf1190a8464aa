//! Web seeds (BEP 19): an HTTP(S) origin holding the torrent's files, used
//! as a source that never leaves. One task per web seed takes batches of
//! block requests from the torrent task, coalesces adjacent blocks of one
//! piece into byte ranges, keeps several ranges in flight over the shared
//! keep-alive client, and hands every block back to the torrent task, which
//! hash-checks it like a peer's. Any failure ends the task with a reason;
//! the torrent then drops the web seed.

mod fetch;
mod layout;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
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

pub(crate) struct WebSeedParams {
    pub key: PeerKey,
    pub layout: Arc<WebSeedLayout>,
    pub piece_length: u32,
    pub download_limit: Arc<RateLimiter>,
    pub events: mpsc::Sender<WebSeedEvent>,
}

/// Starts a web seed task; it ends when `requests` closes or on a failure.
pub(crate) fn spawn(params: WebSeedParams, requests: mpsc::UnboundedReceiver<Vec<BlockRequest>>) {
    tokio::spawn(run(params, requests));
}

async fn run(params: WebSeedParams, mut requests: mpsc::UnboundedReceiver<Vec<BlockRequest>>) {
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
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < RANGES_IN_FLIGHT
            && let Some(run) = queue.pop_front()
        {
            let blocks = BlockAssembly {
                key: params.key,
                pending: run.into(),
                buffer: BytesMut::new(),
                events: params.events.clone(),
            };
            in_flight.push(fetch_blocks(
                client,
                params.layout.clone(),
                params.piece_length,
                blocks,
                params.download_limit.clone(),
            ));
        }
        tokio::select! {
            batch = requests.recv() => match batch {
                Some(batch) => queue.extend(coalesce(batch)),
                // The torrent dropped us (paused, removed, or done).
                None => return,
            },
            Some(result) = in_flight.next(), if !in_flight.is_empty() => match result {
                Ok(()) => {}
                Err(WebSeedError::TorrentGone) => return,
                Err(error) => {
                    let _ = params.events.send(failed(error)).await;
                    return;
                }
            },
        }
    }
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
    fn origin_use_names_round_trip() {
        for name in OriginUse::NAMES {
            assert_eq!(OriginUse::from_name(name).map(OriginUse::name), Some(name));
        }
        assert_eq!(OriginUse::from_name("sometimes"), None);
    }
}
