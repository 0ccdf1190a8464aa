//! The engine's public API: [`Engine`] starts the engine and adds torrents;
//! a [`TorrentHandle`] controls one torrent and observes it. Events arrive
//! on an `async-channel` receiver, so any executor (tokio, glib) can await
//! them. Everything here is cheap and never blocks: the work happens in the
//! engine's tasks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::engine::bitfield::Bitfield;
use crate::engine::dht::{DhtError, DhtNode};
use crate::engine::events::{EngineEvent, PeerSnapshot, PieceState, TorrentStats};
use crate::engine::limits::{
    EVENT_QUEUE_CAPACITY, MAX_CONNECTIONS, MAX_TORRENT_FILE_BYTES, WEB_SEED_SILENCE_TIMEOUT,
};
use crate::engine::magnet::{Magnet, MagnetError};
use crate::engine::metadata_fetch;
use crate::engine::metainfo::{Info, InfoHash, Metainfo, MetainfoError};
use crate::engine::session::{self, SessionShared};
use crate::engine::storage::StorageError;
use crate::engine::stream::{FileStream, StreamError};
use crate::engine::torrent::{self, TorrentCommand, TorrentOutputs, TorrentParams};

/// The piece policy is part of the engine's configuration, so callers
/// outside the engine name it through the handle.
pub use crate::engine::picker::{DeadlineParams, Policy};
/// Likewise how much web seeds (the origin) are used.
pub use crate::engine::webseed::OriginUse;

/// The DHT settings are part of the engine's configuration too.
pub use crate::engine::dht::DhtConfig;

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Torrents' files go below this folder.
    pub download_dir: PathBuf,
    /// Address the peer listener binds (all interfaces by default).
    pub listen_ip: IpAddr,
    /// 0 picks a free port.
    pub listen_port: u16,
    /// Global limits in bytes per second; 0 means unlimited.
    pub upload_rate_limit: u64,
    pub download_rate_limit: u64,
    /// Piece picking policy for new torrents.
    pub policy: Policy,
    /// How much new torrents use their web seeds.
    pub origin: OriginUse,
    /// How long a web seed may send nothing, while we wait for a response
    /// or its bytes, before it is dropped (`WEB_SEED_SILENCE_TIMEOUT`).
    pub web_seed_silence_timeout: Duration,
    /// The mainline DHT (BEP 5), or `None` for no DHT. `new` leaves it off,
    /// so an engine embedded in a test never reaches the public DHT; the
    /// command line and the window turn it on with `DhtConfig::default()`
    /// (the public routers).
    pub dht: Option<DhtConfig>,
}

impl EngineConfig {
    pub fn new(download_dir: impl Into<PathBuf>) -> Self {
        Self {
            download_dir: download_dir.into(),
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            listen_port: 0,
            upload_rate_limit: 0,
            download_rate_limit: 0,
            policy: Policy::default(),
            origin: OriginUse::default(),
            web_seed_silence_timeout: WEB_SEED_SILENCE_TIMEOUT,
            dht: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    ReadTorrent {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is larger than {MAX_TORRENT_FILE_BYTES} bytes; not a torrent file")]
    TorrentFileTooLarge { path: PathBuf },
    #[error("invalid torrent: {0}")]
    Metainfo(#[from] MetainfoError),
    #[error("invalid magnet link: {0}")]
    Magnet(#[from] MagnetError),
    #[error(
        "the magnet link names no peers and no trackers, and the DHT is off: nowhere to ask for the torrent"
    )]
    MagnetWithoutSources,
    #[error(transparent)]
    Dht(#[from] DhtError),
    #[error("torrent {0} is already added")]
    AlreadyAdded(InfoHash),
    #[error("the torrent is no longer running")]
    TorrentGone,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where a torrent comes from.
#[derive(Clone, Debug)]
pub enum TorrentSource {
    File(PathBuf),
    Bytes(Vec<u8>),
    /// The info dictionary is fetched from peers first (BEP 9).
    Magnet(Magnet),
}

impl TorrentSource {
    /// A command-line or pasted argument: a `magnet:` link, else a path.
    pub fn from_argument(argument: &str) -> Result<TorrentSource, MagnetError> {
        let is_magnet = argument
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("magnet:"));
        if is_magnet {
            Ok(TorrentSource::Magnet(Magnet::parse(argument)?))
        } else {
            Ok(TorrentSource::File(PathBuf::from(argument)))
        }
    }
}

/// A running engine. Dropping it stops the listener; torrents stop when
/// their handles are dropped too.
pub struct Engine {
    shared: Arc<SessionShared>,
    listen_addr: SocketAddr,
    events: async_channel::Receiver<EngineEvent>,
    listener: JoinHandle<()>,
    torrent_params: TorrentParams,
}

impl Engine {
    /// Binds the listener and starts the engine on the current tokio runtime.
    pub async fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        let addr = SocketAddr::new(config.listen_ip, config.listen_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EngineError::Listen { addr, source })?;
        let listen_addr = listener
            .local_addr()
            .map_err(|source| EngineError::Listen { addr, source })?;
        let (events_tx, events) = async_channel::bounded(EVENT_QUEUE_CAPACITY);
        let mut shared = SessionShared::new(
            listen_addr.port(),
            config.download_dir,
            config.upload_rate_limit,
            config.download_rate_limit,
            MAX_CONNECTIONS,
            events_tx,
        );
        shared.listen_ip = listen_addr.ip();
        shared.web_seed_silence_timeout = config.web_seed_silence_timeout;
        if let Some(dht) = config.dht {
            // The mainline node speaks IPv4 only.
            let bind_ip = match listen_addr.ip() {
                IpAddr::V4(ip) => ip,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            shared.dht = Some(DhtNode::start(dht, bind_ip, listen_addr.port()).await?);
        }
        let shared = Arc::new(shared);
        let listener = tokio::spawn(session::listen(listener, shared.clone()));
        Ok(Engine {
            shared,
            listen_addr,
            events,
            listener,
            torrent_params: TorrentParams {
                policy: config.policy,
                origin: config.origin,
            },
        })
    }

    /// Where peers can reach us.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// Where the DHT node listens (UDP), when the DHT is on.
    pub async fn dht_addr(&self) -> Option<SocketAddr> {
        match &self.shared.dht {
            Some(dht) => Some(SocketAddr::V4(dht.local_addr().await)),
            None => None,
        }
    }

    /// The event stream of every torrent of this engine.
    pub fn events(&self) -> async_channel::Receiver<EngineEvent> {
        self.events.clone()
    }

    /// Changes the global limits, in bytes per second (0: unlimited).
    pub fn set_rate_limits(&self, upload: u64, download: u64) {
        self.shared.upload_limit.set_rate(upload);
        self.shared.download_limit.set_rate(download);
    }

    /// Adds a torrent and starts it: its existing data is verified first
    /// (resume), then it downloads or seeds.
    ///
    /// For a magnet link this first resolves the info dictionary from peers
    /// (a task of its own, reporting `LookingForPeers`, `FetchingMetadata`
    /// and `MetadataReceived` events) and only then returns, so that every
    /// handle has its metainfo. That can take long: the caller awaits it
    /// off its main thread, and dropping the future abandons the magnet.
    /// Every file is wanted; see [`Engine::add_torrent_selecting`].
    pub async fn add_torrent(&self, source: TorrentSource) -> Result<TorrentHandle, EngineError> {
        self.add_torrent_selecting(source, |info| vec![true; info.files.len()])
            .await
    }

    /// Like [`Engine::add_torrent`], fetching only the files `select`
    /// marks (`true`: wanted; streamed files are fetched anyway). `select`
    /// sees the file list as soon as it is known (after a magnet's
    /// metadata) and before the first request: choosing after the add
    /// would let the first unchoke ask for pieces of any file.
    pub async fn add_torrent_selecting(
        &self,
        source: TorrentSource,
        select: impl FnOnce(&Info) -> Vec<bool>,
    ) -> Result<TorrentHandle, EngineError> {
        let (metainfo, peers) = match source {
            TorrentSource::Bytes(bytes) => (Metainfo::from_bytes(&bytes)?, Vec::new()),
            TorrentSource::File(path) => (
                Metainfo::from_bytes(&read_torrent_file(&path).await?)?,
                Vec::new(),
            ),
            TorrentSource::Magnet(magnet) => {
                if magnet.peers.is_empty()
                    && magnet.trackers.is_empty()
                    && self.shared.dht.is_none()
                {
                    return Err(EngineError::MagnetWithoutSources);
                }
                if self.shared.torrents().contains_key(&magnet.info_hash) {
                    return Err(EngineError::AlreadyAdded(magnet.info_hash));
                }
                let fetched = metadata_fetch::fetch(magnet, self.shared.clone()).await;
                (fetched.metainfo, fetched.peers)
            }
        };
        let wanted_files = select(&metainfo.info);
        let metainfo = Arc::new(metainfo);
        let info_hash = metainfo.info_hash;
        let (commands_tx, commands) = mpsc::unbounded_channel();
        {
            let mut torrents = self.shared.torrents();
            if torrents.contains_key(&info_hash) {
                return Err(EngineError::AlreadyAdded(info_hash));
            }
            torrents.insert(info_hash, commands_tx.clone());
        }
        let piece_count = metainfo.info.piece_count();
        let (stats_tx, stats) = watch::channel(TorrentStats {
            piece_count,
            ..TorrentStats::default()
        });
        let (have_tx, have) = watch::channel(Bitfield::new(piece_count));
        torrent::spawn(
            metainfo.clone(),
            self.torrent_params,
            wanted_files,
            self.shared.clone(),
            commands,
            TorrentOutputs {
                stats: stats_tx,
                have: have_tx,
            },
        );
        let handle = TorrentHandle {
            metainfo,
            commands: commands_tx,
            stats,
            have,
            shared: self.shared.clone(),
        };
        if !peers.is_empty() {
            handle.add_peers(peers)?;
        }
        Ok(handle)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.listener.abort();
        self.shared.torrents().clear();
    }
}

async fn read_torrent_file(path: &Path) -> Result<Vec<u8>, EngineError> {
    let read_error = |source| EngineError::ReadTorrent {
        path: path.to_path_buf(),
        source,
    };
    let length = tokio::fs::metadata(path).await.map_err(read_error)?.len();
    if length > MAX_TORRENT_FILE_BYTES as u64 {
        return Err(EngineError::TorrentFileTooLarge {
            path: path.to_path_buf(),
        });
    }
    tokio::fs::read(path).await.map_err(read_error)
}

/// Controls and observes one torrent. Clones share the torrent.
#[derive(Clone)]
pub struct TorrentHandle {
    metainfo: Arc<Metainfo>,
    commands: mpsc::UnboundedSender<TorrentCommand>,
    stats: watch::Receiver<TorrentStats>,
    have: watch::Receiver<Bitfield>,
    shared: Arc<SessionShared>,
}

impl TorrentHandle {
    pub fn info_hash(&self) -> InfoHash {
        self.metainfo.info_hash
    }

    pub fn metainfo(&self) -> &Arc<Metainfo> {
        &self.metainfo
    }

    fn send(&self, command: TorrentCommand) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::TorrentGone)
    }

    /// Peers to connect to (from the user, a magnet link, a test).
    pub fn add_peers(&self, peers: Vec<SocketAddr>) -> Result<(), EngineError> {
        self.send(TorrentCommand::AddPeers(peers))
    }

    /// Disconnects every peer and stops transferring; verified data stays.
    pub fn pause(&self) -> Result<(), EngineError> {
        self.send(TorrentCommand::Pause)
    }

    pub fn resume(&self) -> Result<(), EngineError> {
        self.send(TorrentCommand::Resume)
    }

    /// Stops the torrent for good, deleting its files if asked.
    pub async fn remove(self, delete_data: bool) -> Result<(), EngineError> {
        self.shared.torrents().remove(&self.info_hash());
        let (done, result) = oneshot::channel();
        self.send(TorrentCommand::Remove { delete_data, done })?;
        result.await.map_err(|_| EngineError::TorrentGone)??;
        Ok(())
    }

    /// The latest stats snapshot.
    pub fn stats(&self) -> TorrentStats {
        self.stats.borrow().clone()
    }

    /// Stats as a watch, to await changes.
    pub fn stats_watch(&self) -> watch::Receiver<TorrentStats> {
        self.stats.clone()
    }

    /// Verified pieces as a watch: waiting for piece N is
    /// `wait_for(|have| have.get(n))`.
    pub fn verified_pieces(&self) -> watch::Receiver<Bitfield> {
        self.have.clone()
    }

    /// Opens file `file` (index in `metainfo().info.files`) as a
    /// random-access byte stream. The file becomes wanted; its head and
    /// tail are fetched first, then what its readers need next.
    pub fn open_stream(&self, file: usize) -> Result<FileStream, StreamError> {
        FileStream::open(
            &self.metainfo.info,
            file,
            self.shared.download_dir.clone(),
            self.have.clone(),
            self.stats.clone(),
            self.commands.clone(),
        )
    }

    /// Chooses the files to download, one flag per file of the torrent
    /// (`false`: not downloaded unless streamed).
    pub fn set_wanted_files(&self, wanted: Vec<bool>) -> Result<(), EngineError> {
        self.send(TorrentCommand::SetWantedFiles(wanted))
    }

    /// The state of every piece.
    pub async fn piece_states(&self) -> Result<Vec<PieceState>, EngineError> {
        let (reply, states) = oneshot::channel();
        self.send(TorrentCommand::PieceStates(reply))?;
        states.await.map_err(|_| EngineError::TorrentGone)
    }

    /// The connected peers, through the torrent task (which owns them).
    pub async fn peers(&self) -> Result<Vec<PeerSnapshot>, EngineError> {
        let (reply, peers) = oneshot::channel();
        self.send(TorrentCommand::Peers(reply))?;
        peers.await.map_err(|_| EngineError::TorrentGone)
    }
}
