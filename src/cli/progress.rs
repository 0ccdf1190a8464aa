//! What the verbs that run an engine share: engine options, start-up, and the
//! one-line progress display.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crate::engine::events::{EngineEvent, TorrentEvent, TorrentState};
use crate::engine::handle::{
    DhtConfig, Engine, EngineConfig, OriginUse, TorrentHandle, TorrentSource,
};
use crate::engine::picker::Policy;
use crate::outlet::{ChosenFile, want_only};

/// What `cat` and `serve` share: a torrent and the one file of it they
/// hand out.
#[derive(Args, Debug)]
pub struct OneFileArgs {
    /// The file of the torrent, by its index in the torrent (default: the
    /// largest video).
    #[arg(long, value_name = "N")]
    pub file: Option<usize>,
    /// Folder the torrent's files are written into (default: the cache
    /// folder the GStreamer plugin uses, $XDG_CACHE_HOME/piecewise/torrents).
    #[arg(long, value_name = "DIR")]
    pub download_dir: Option<PathBuf>,
    /// Use of the torrent's web seeds (HTTP origins): never, avoid-stall
    /// or always.
    #[arg(long, value_name = "USE", default_value = "avoid-stall", value_parser = crate::cli::parse_origin)]
    pub origin: OriginUse,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

impl OneFileArgs {
    /// Starts the torrent with `policy` and makes the chosen file the only
    /// one downloaded.
    pub async fn start(
        &self,
        policy: Policy,
    ) -> anyhow::Result<(Engine, TorrentHandle, ChosenFile)> {
        // A pipe to a player should leave nothing in the working folder.
        let download_dir = self
            .download_dir
            .clone()
            .unwrap_or_else(crate::player::torrent_cache_dir);
        let (engine, torrent) = start(
            &self.swarm,
            &download_dir,
            self.origin,
            policy,
            ListenNotice::Stderr,
        )
        .await?;
        let file = want_only(&torrent, self.file)?;
        Ok((engine, torrent, file))
    }
}

/// The torrent a verb runs, the peers it starts with and the engine's
/// options: what `download`, `seed`, `cat` and `serve` share.
#[derive(Args, Debug)]
pub struct SwarmArgs {
    /// A peer to connect to, besides those the trackers name (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    #[command(flatten)]
    pub options: TorrentOptions,
    /// The `.torrent` file or a `magnet:` link.
    pub torrent: String,
}

#[derive(Args, Debug)]
pub struct TorrentOptions {
    /// Address to accept peers on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub listen_ip: IpAddr,
    /// Port to accept peers on; 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub listen_port: u16,
    /// Upload limit in bytes per second; 0 means none.
    #[arg(long, value_name = "BYTES_PER_S", default_value_t = 0)]
    pub upload_limit: u64,
    /// Download limit in bytes per second; 0 means none.
    #[arg(long, value_name = "BYTES_PER_S", default_value_t = 0)]
    pub download_limit: u64,
    #[command(flatten)]
    pub dht: DhtOptions,
}

/// How the mainline DHT is joined, for every verb that runs an engine.
#[derive(Args, Debug)]
pub struct DhtOptions {
    /// Do not use the DHT: peers come from trackers, the link and PEX only.
    #[arg(long)]
    pub no_dht: bool,
    /// Join the DHT through this node instead of the public routers
    /// (repeatable). The routing table saved between runs is then neither
    /// read nor written, so a private DHT stays apart from the public one.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_dht")]
    pub dht_bootstrap: Vec<String>,
}

impl DhtOptions {
    pub fn config(&self) -> Option<DhtConfig> {
        if self.no_dht {
            None
        } else if self.dht_bootstrap.is_empty() {
            Some(DhtConfig::default())
        } else {
            Some(DhtConfig::private(self.dht_bootstrap.clone()))
        }
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Where [`start`] prints the address the engine accepts peers on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenNotice {
    /// `download` and `seed`: scripts and tests read it there.
    Stdout,
    /// Verbs whose standard output is data (`cat`) or a URL (`serve`).
    Stderr,
}

/// Starts the engine with `policy`, prints where it listens, and adds the
/// torrent (a `.torrent` path or a magnet link, whose metadata is fetched
/// first). The engine must be kept alive for as long as the torrent runs.
pub async fn start(
    swarm: &SwarmArgs,
    download_dir: &Path,
    origin: OriginUse,
    policy: Policy,
    notice: ListenNotice,
) -> anyhow::Result<(Engine, TorrentHandle)> {
    let SwarmArgs {
        peers,
        options,
        torrent,
    } = swarm;
    let (source, peers) = source_and_peers(torrent, peers).await?;
    let mut config = EngineConfig::new(download_dir);
    config.listen_ip = options.listen_ip;
    config.listen_port = options.listen_port;
    config.upload_rate_limit = options.upload_limit;
    config.download_rate_limit = options.download_limit;
    config.origin = origin;
    config.dht = options.dht.config();
    config.policy = policy;
    let engine = Engine::start(config).await?;
    match notice {
        ListenNotice::Stdout => println!("listening on {}", engine.listen_addr()),
        ListenNotice::Stderr => eprintln!("listening on {}", engine.listen_addr()),
    }
    let metadata_progress = matches!(source, TorrentSource::Magnet(_))
        .then(|| tokio::spawn(show_metadata_progress(engine.events())));
    let added = engine.add_torrent(source).await;
    if let Some(mut progress) = metadata_progress {
        // On success "metadata received" is queued already: let it print.
        if added.is_err()
            || tokio::time::timeout(Duration::from_secs(1), &mut progress)
                .await
                .is_err()
        {
            progress.abort();
        }
    }
    let torrent = added.with_context(|| format!("cannot add {torrent}"))?;
    if !peers.is_empty() {
        torrent.add_peers(peers)?;
    }
    Ok((engine, torrent))
}

/// The torrent named on the command line (a `.torrent` path or a magnet
/// link) and the `HOST:PORT` peers, resolved. A magnet link takes the
/// peers, since they may serve its metadata; for a file they are returned,
/// to be added once the torrent is.
pub(crate) async fn source_and_peers(
    torrent: &str,
    peers: &[String],
) -> anyhow::Result<(TorrentSource, Vec<SocketAddr>)> {
    let mut addrs = Vec::new();
    for peer in peers {
        let resolved = tokio::net::lookup_host(peer.as_str())
            .await
            .with_context(|| format!("cannot resolve peer address {peer}"))?;
        addrs.extend(resolved);
    }
    let mut source = TorrentSource::from_argument(torrent)?;
    if let TorrentSource::Magnet(magnet) = &mut source {
        magnet.peers.append(&mut addrs);
    }
    Ok((source, addrs))
}

/// Says on stderr how resolving a magnet link goes.
async fn show_metadata_progress(events: async_channel::Receiver<EngineEvent>) {
    while let Ok(event) = events.recv().await {
        match event.kind {
            TorrentEvent::LookingForPeers => eprintln!("looking for peers"),
            TorrentEvent::FetchingMetadata { peers } => {
                eprintln!("fetching metadata ({peers} peers)");
            }
            TorrentEvent::PeersDiscovered { source, peers } => {
                eprintln!("found {peers} peers through {source:?}");
            }
            TorrentEvent::MetadataReceived => {
                eprintln!("metadata received");
                return;
            }
            _ => {}
        }
    }
}

/// Says on stderr, on a line of its own, what the progress line does not
/// show: a web seed the engine stopped using, and why.
pub fn report(event: &TorrentEvent) {
    if let TorrentEvent::WebSeedDropped { url, reason } = event {
        eprintln!("\ndropped web seed {url}: {reason}");
    }
}

/// Reports the engine's events (see [`report`]) for as long as it runs,
/// handing each to `also` as well. The engine's events go to one reader,
/// so a verb runs one of these.
pub async fn report_events(
    events: async_channel::Receiver<EngineEvent>,
    mut also: impl FnMut(&TorrentEvent),
) {
    while let Ok(event) = events.recv().await {
        report(&event.kind);
        also(&event.kind);
    }
}

/// Shows progress on stderr, once a second, until `done` holds for the
/// state; returns that state. An error state ends it with the error.
pub async fn follow(
    torrent: &TorrentHandle,
    done: impl Fn(&TorrentState) -> bool,
) -> anyhow::Result<TorrentState> {
    let mut stats = torrent.stats_watch();
    loop {
        let snapshot = stats.borrow_and_update().clone();
        if let TorrentState::Error(message) = &snapshot.state {
            bail!("{message}");
        }
        let percent = if snapshot.piece_count == 0 {
            100.0
        } else {
            100.0 * f64::from(snapshot.pieces_had) / f64::from(snapshot.piece_count)
        };
        eprint!(
            "\r{:?}: {}/{} pieces ({percent:.1} %), down {:.1} MB/s, up {:.1} MB/s, {} peers   ",
            snapshot.state,
            snapshot.pieces_had,
            snapshot.piece_count,
            snapshot.download_rate / 1e6,
            snapshot.upload_rate / 1e6,
            snapshot.peers,
        );
        let _ = std::io::stderr().flush();
        if done(&snapshot.state) {
            return Ok(snapshot.state);
        }
        if stats.changed().await.is_err() {
            bail!("the torrent stopped");
        }
    }
}
