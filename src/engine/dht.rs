//! Trackerless peer discovery over the mainline DHT (BEP 5), through the
//! `mainline` crate: it runs the node (routing table, KRPC over UDP) on a
//! thread of its own; this module joins it to the engine. One node per
//! engine, shared by every torrent and magnet link: each asks it for peers
//! of its info-hash and announces our listen port, again every
//! `DHT_ANNOUNCE_INTERVAL` (sooner while nobody is found).
//!
//! The routing table's good nodes are saved to a file after each lookup
//! and used to bootstrap the next run, before the configured routers.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use mainline::async_dht::AsyncDht;
use mainline::{Dht, Id};
use tokio::sync::mpsc;

use crate::engine::limits::MAX_SAVED_DHT_NODES;
use crate::engine::metainfo::InfoHash;

/// The public routers a node joins through when it knows no other node.
pub const PUBLIC_BOOTSTRAP_NODES: [&str; 3] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
];

/// Re-announce and look up again this often while a torrent runs; DHT
/// nodes forget announced peers after about 30 minutes.
const DHT_ANNOUNCE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Look up again this soon when a lookup found nobody (a small or young
/// swarm, or a routing table still filling).
const DHT_RETRY_INTERVAL: Duration = Duration::from_secs(20);

/// How the engine joins the DHT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtConfig {
    /// `HOST:PORT` of nodes to join through when the saved table is empty
    /// or stale (IPv4; names are resolved when the engine starts).
    pub bootstrap: Vec<String>,
    /// Where the routing table's good nodes are kept between runs; `None`
    /// keeps nothing.
    pub nodes_file: Option<PathBuf>,
}

impl Default for DhtConfig {
    /// The public routers, and the table saved in the user's state folder.
    fn default() -> Self {
        Self {
            bootstrap: PUBLIC_BOOTSTRAP_NODES.map(str::to_owned).to_vec(),
            nodes_file: default_nodes_file(),
        }
    }
}

impl DhtConfig {
    /// Joins through `nodes` instead of the public routers. The saved table
    /// is neither read nor written, so a private DHT stays apart from the
    /// public one.
    pub fn private(nodes: Vec<String>) -> Self {
        Self {
            bootstrap: nodes,
            nodes_file: None,
        }
    }
}

/// `$XDG_STATE_HOME/piecewise/dht-nodes`, or below `~/.local/state`.
pub fn default_nodes_file() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")))?;
    Some(state.join("piecewise").join("dht-nodes"))
}

#[derive(Debug, thiserror::Error)]
pub enum DhtError {
    #[error("cannot start the DHT node: {0}")]
    Start(#[source] std::io::Error),
}

/// The engine's DHT node; clones share it. The node stops when the last
/// clone is dropped.
#[derive(Clone, Debug)]
pub(crate) struct DhtNode {
    dht: AsyncDht,
    nodes_file: Option<PathBuf>,
}

impl DhtNode {
    /// Starts a node on `bind_ip`, on UDP `port` if free (BitTorrent
    /// clients share the TCP listen port), else on any port. Resolving the
    /// bootstrap names blocks, so this runs off the async threads.
    pub async fn start(config: DhtConfig, bind_ip: Ipv4Addr, port: u16) -> Result<Self, DhtError> {
        let nodes_file = config.nodes_file.clone();
        let saved = match &nodes_file {
            Some(path) => read_nodes_file(path).await,
            None => Vec::new(),
        };
        let dht = tokio::task::spawn_blocking(move || {
            let mut bootstrap: Vec<String> = saved.iter().map(ToString::to_string).collect();
            bootstrap.extend(config.bootstrap);
            let build = |port| {
                Dht::builder()
                    .bind_address(bind_ip)
                    .port(port)
                    .bootstrap(&bootstrap)
                    .build()
            };
            build(port).or_else(|_| build(0))
        })
        .await
        .map_err(|e| DhtError::Start(std::io::Error::other(e.to_string())))?
        .map_err(DhtError::Start)?;
        Ok(DhtNode {
            dht: dht.as_async(),
            nodes_file,
        })
    }

    /// The UDP address the node listens on.
    pub async fn local_addr(&self) -> SocketAddrV4 {
        self.dht.info().await.local_addr()
    }

    /// Asks the DHT for peers of `info_hash` and announces us on
    /// `listen_port`, repeatedly, sending what it finds to `found` until
    /// that channel closes. Runs as a task per torrent or magnet link.
    pub async fn discover(
        self,
        info_hash: InfoHash,
        listen_port: u16,
        found: mpsc::Sender<Vec<SocketAddr>>,
    ) {
        let id = Id::from(info_hash.0);
        loop {
            let mut lookup = self.dht.get_peers(id);
            let mut any = false;
            while let Some(peers) = lookup.next().await {
                let peers: Vec<SocketAddr> = peers.into_iter().map(SocketAddr::V4).collect();
                any |= !peers.is_empty();
                if found.send(peers).await.is_err() {
                    return;
                }
            }
            // A finished lookup has refreshed the routing table.
            self.save_nodes().await;
            if let Err(error) = self.dht.announce_peer(id, Some(listen_port)).await {
                tracing::debug!(%info_hash, %error, "DHT announce failed");
            }
            let wait = if any {
                DHT_ANNOUNCE_INTERVAL
            } else {
                DHT_RETRY_INTERVAL
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = found.closed() => return,
            }
        }
    }

    /// Writes the routing table's good nodes, to bootstrap the next run.
    async fn save_nodes(&self) {
        let Some(path) = &self.nodes_file else {
            return;
        };
        let nodes = self.dht.to_bootstrap().await;
        if nodes.is_empty() {
            // Keep what an earlier run learned rather than forget it.
            return;
        }
        let text: String = nodes
            .iter()
            .take(MAX_SAVED_DHT_NODES)
            .map(|node| format!("{node}\n"))
            .collect();
        if let Err(error) = write_atomically(path, text.as_bytes()).await {
            tracing::debug!(path = %path.display(), %error, "cannot save DHT nodes");
        }
    }
}

/// The saved nodes, as IPv4 addresses; anything else in the file (a
/// truncated line, a name) is skipped.
async fn read_nodes_file(path: &Path) -> Vec<SocketAddrV4> {
    let Ok(text) = tokio::fs::read_to_string(path).await else {
        return Vec::new();
    };
    parse_nodes(&text)
}

fn parse_nodes(text: &str) -> Vec<SocketAddrV4> {
    text.lines()
        .filter_map(|line| line.trim().parse().ok())
        .filter(|addr: &SocketAddrV4| addr.port() != 0 && !addr.ip().is_unspecified())
        .take(MAX_SAVED_DHT_NODES)
        .collect()
}

/// Replaces `path` in one rename, so a crash never leaves half a file.
async fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let temporary = path.with_extension("new");
    tokio::fs::write(&temporary, contents).await?;
    tokio::fs::rename(&temporary, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_nodes_past_the_limit_and_unusable_lines_are_skipped() {
        let mut text = String::from("not a node\n0.0.0.0:6881\n10.0.0.1:0\n[::1]:6881\n");
        for index in 0..MAX_SAVED_DHT_NODES + 5 {
            let index = u16::try_from(index).unwrap();
            text.push_str(&format!("127.0.0.1:{}\n", 1000 + index));
        }
        let nodes = parse_nodes(&text);
        assert_eq!(nodes.len(), MAX_SAVED_DHT_NODES);
        assert_eq!(nodes[0], "127.0.0.1:1000".parse().unwrap());
    }

    #[tokio::test]
    async fn saved_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/dht-nodes");
        write_atomically(&path, b"127.0.0.1:1\n").await.unwrap();
        write_atomically(&path, b"127.0.0.1:2\n").await.unwrap();
        assert_eq!(
            read_nodes_file(&path).await,
            vec!["127.0.0.1:2".parse().unwrap()]
        );
        assert!(!path.with_extension("new").exists());
    }
}
