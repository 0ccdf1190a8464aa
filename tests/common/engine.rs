//! Piecewise engines inside the test process, listening on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use piecewise::engine::events::{EngineEvent, TorrentEvent};
use piecewise::engine::handle::{Engine, EngineConfig, TorrentHandle, TorrentSource};
use piecewise::engine::picker::Policy;

/// The longest adding a torrent may take: a magnet's metadata must arrive.
const ADD_TIMEOUT: Duration = Duration::from_secs(60);

/// An engine configuration downloading into `download_dir` that listens on
/// 127.0.0.1 only.
pub fn loopback_config(download_dir: impl Into<PathBuf>) -> EngineConfig {
    let mut config = EngineConfig::new(download_dir);
    config.listen_ip = [127, 0, 0, 1].into();
    config
}

/// One torrent in an engine of its own, with the engine's events from
/// before the torrent was added.
pub struct LoopbackDownload {
    pub engine: Engine,
    pub events: async_channel::Receiver<EngineEvent>,
    pub handle: TorrentHandle,
}

impl LoopbackDownload {
    /// Downloads the torrent file `torrent` into `download_dir` rarest
    /// first, as a download without a reader does.
    pub async fn of_file(download_dir: &Path, torrent: &Path) -> LoopbackDownload {
        let mut config = loopback_config(download_dir);
        config.policy = Policy::RarestFirst;
        Self::start(config, TorrentSource::File(torrent.to_owned())).await
    }

    /// Starts an engine with `config` and adds `source` to it.
    pub async fn start(config: EngineConfig, source: TorrentSource) -> LoopbackDownload {
        let engine = Engine::start(config).await.unwrap();
        let events = engine.events();
        let handle = tokio::time::timeout(ADD_TIMEOUT, engine.add_torrent(source))
            .await
            .expect("torrent added (metadata fetched) in time")
            .unwrap();
        LoopbackDownload {
            engine,
            events,
            handle,
        }
    }

    /// Collects events until the torrent finishes; panics after `timeout`.
    pub async fn events_until_finished(&self, timeout: Duration) -> Vec<TorrentEvent> {
        let mut seen = Vec::new();
        tokio::time::timeout(timeout, async {
            loop {
                let kind = self.events.recv().await.unwrap().kind;
                if kind == TorrentEvent::Finished {
                    return;
                }
                seen.push(kind);
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "download did not finish: {:?}; {seen:?}",
                self.handle.stats()
            )
        });
        seen
    }
}
