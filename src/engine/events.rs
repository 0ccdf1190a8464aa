//! What the engine reports: an event stream (for the UI, through
//! `async-channel` so it can be awaited from any executor) and stats
//! snapshots.

use std::net::{IpAddr, SocketAddr};

use crate::engine::metainfo::InfoHash;
use crate::engine::storage::StorageError;

/// One thing that happened to a torrent.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineEvent {
    pub info_hash: InfoHash,
    pub kind: TorrentEvent,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TorrentEvent {
    /// A magnet link is being resolved: trackers, the DHT and the link's
    /// peers are being asked for peers.
    LookingForPeers,
    /// New addresses learned without a tracker, to connect to.
    PeersDiscovered {
        source: PeerSource,
        peers: usize,
    },
    /// The info dictionary is being fetched from this many peers at once.
    FetchingMetadata {
        peers: usize,
    },
    /// The info dictionary arrived and matched the info-hash; the torrent
    /// starts as if opened from a file.
    MetadataReceived,
    /// A piece matched its hash and is on disk.
    PieceVerified(u32),
    /// A piece did not match its hash; it is downloaded again.
    HashFailed {
        piece: u32,
    },
    PeerConnected(SocketAddr),
    PeerDisconnected {
        addr: SocketAddr,
        reason: String,
    },
    /// An address that sent corrupt data; it is not reconnected.
    PeerBanned(IpAddr),
    TrackerReply {
        url: String,
        peers: usize,
    },
    TrackerError {
        url: String,
        message: String,
    },
    /// A web seed (HTTP origin) is not used any more, for this reason
    /// (errors, wrong data, an ignored range, a refused redirect).
    WebSeedDropped {
        url: String,
        reason: String,
    },
    /// Every wanted piece is verified.
    Finished,
    /// The torrent stopped on an error it cannot recover from (disk).
    Error(String),
}

/// Where peers without a tracker come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerSource {
    /// The mainline DHT (BEP 5).
    Dht,
    /// Another peer's `ut_pex` message (BEP 11).
    Pex,
}

/// Where a torrent is in its life.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TorrentState {
    /// Hashing the data already on disk (resume).
    #[default]
    Checking,
    Downloading,
    Seeding,
    Paused,
    /// Stopped on this error.
    Error(TorrentFailure),
}

/// Why a torrent stopped: the engine's sentence (what the CLI prints), and
/// its kind, which a user interface puts in its own, translated words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TorrentFailure {
    /// No space (or quota) left in the download folder.
    #[error("{0}")]
    DiskFull(String),
    /// Any other disk error.
    #[error("{0}")]
    Storage(String),
}

impl From<&StorageError> for TorrentFailure {
    fn from(error: &StorageError) -> Self {
        match error {
            StorageError::DiskFull { .. } => Self::DiskFull(error.to_string()),
            _ => Self::Storage(error.to_string()),
        }
    }
}

/// A piece as the UI shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceState {
    Missing,
    /// Not verified yet and inside a read head's deadline window: the
    /// picker fetches it before anything else (in flight or not).
    TimeCritical,
    /// Some blocks are in memory, waiting for the rest and the hash check.
    Downloading,
    Verified,
}

/// One connected peer as the UI shows it (`TorrentHandle::peers`).
#[derive(Clone, Debug, PartialEq)]
pub struct PeerSnapshot {
    pub addr: SocketAddr,
    /// The name its BEP 10 handshake gave (`v`), if any.
    pub client: Option<String>,
    /// Payload bytes per second, smoothed like the torrent's rates.
    pub download_rate: f64,
    pub upload_rate: f64,
    /// Pieces it has, of the torrent's piece count.
    pub pieces: u32,
    /// It chokes us: we may not request (except allowed-fast pieces).
    pub choking_us: bool,
    /// It wants something we have.
    pub interested_in_us: bool,
    /// We choke it.
    pub choked_by_us: bool,
    /// We want something it has.
    pub we_are_interested: bool,
    /// It stopped sending what we asked for (snub timeout).
    pub snubbed: bool,
    /// It connected to us.
    pub incoming: bool,
}

/// A snapshot of one torrent, refreshed about once a second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TorrentStats {
    pub state: TorrentState,
    /// Payload bytes per second, smoothed over a few seconds.
    pub download_rate: f64,
    pub upload_rate: f64,
    pub peers: usize,
    pub pieces_had: u32,
    pub piece_count: u32,
    /// Payload bytes received / sent since the torrent was added.
    pub bytes_downloaded: u64,
    pub bytes_uploaded: u64,
    /// Bytes received that did not count: duplicates, unrequested blocks,
    /// pieces that failed their hash.
    pub wasted_bytes: u64,
    /// The part of `bytes_downloaded` that came from web seeds (origins).
    pub bytes_from_web_seeds: u64,
    /// Web seeds in use.
    pub web_seeds: usize,
    /// How many connected peers have each piece.
    pub availability: Vec<u32>,
}
