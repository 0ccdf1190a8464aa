//! The engine `torrentsrc` runs by itself when another GStreamer
//! application loads it from the plugin library (`gst-launch-1.0 playbin
//! uri=magnet:…`): no Piecewise application is there to prepare streams.
//! Inside Piecewise this is never installed; the application's factory
//! (`engine_source`) hands out the streams of its own engine.
//!
//! One tokio runtime for the process, started on first use; one engine per
//! download folder (the element's `download-dir`, by default
//! `$XDG_CACHE_HOME/piecewise/torrents`); each torrent added once and
//! shared by every element that plays from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::Mutex;

use super::{SourceRequest, set_source_factory};
use crate::engine::handle::{Engine, EngineConfig, EngineError, TorrentHandle, TorrentSource};
use crate::engine::metainfo::InfoHash;
use crate::player::byte_source::{ByteSource, SourceError};
use crate::player::engine_source::EngineSource;
use crate::player::file_choice;

/// Longest the element's start waits for a torrent: a magnet link's
/// metadata from its peers. The state change blocks meanwhile (the element
/// needs the file's size to start), so it must end.
const ADD_TORRENT_WAIT: Duration = Duration::from_secs(60);

/// Makes every `torrentsrc` of this process open its location with the
/// plugin's own engine. Called by the plugin library's init.
pub fn install() {
    set_source_factory(Arc::new(open));
}

struct OwnEngines {
    runtime: Runtime,
    engines: Mutex<HashMap<PathBuf, Arc<OwnEngine>>>,
}

struct OwnEngine {
    engine: Engine,
    torrents: Mutex<HashMap<InfoHash, TorrentHandle>>,
}

fn open(request: &SourceRequest) -> Result<Arc<dyn ByteSource>, SourceError> {
    static OWN: OnceLock<Result<OwnEngines, String>> = OnceLock::new();
    let own = OWN
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name("piecewise-engine")
                .enable_all()
                .build()
                .map_err(|error| format!("Cannot start the torrent engine: {error}."))?;
            Ok(OwnEngines {
                runtime,
                engines: Mutex::new(HashMap::new()),
            })
        })
        .as_ref()
        .map_err(|error| SourceError::Failed(error.clone()))?;
    let (source, file) = parse_location(request.uri)?;
    let download_dir = request
        .download_dir
        .map_or_else(crate::player::torrent_cache_dir, Path::to_path_buf);
    own.runtime.block_on(async {
        let engine = own.engine(download_dir).await?;
        let torrent = engine.torrent(source, file).await?;
        let info = &torrent.metainfo().info;
        let file = match file {
            Some(file) => file,
            None => {
                file_choice::default_video(info)
                    .ok_or_else(|| {
                        failed(format!(
                            "The torrent “{}” contains no video file that can be played.",
                            info.name
                        ))
                    })?
                    .index
            }
        };
        let stream = torrent.open_stream(file).map_err(failed)?;
        // Only streamed files are wanted: each element's stream adds its own.
        torrent
            .set_wanted_files(vec![false; info.files.len()])
            .map_err(failed)?;
        Ok(
            Arc::new(EngineSource::new(stream, own.runtime.handle().clone()))
                as Arc<dyn ByteSource>,
        )
    })
}

impl OwnEngines {
    async fn engine(&self, download_dir: PathBuf) -> Result<Arc<OwnEngine>, SourceError> {
        let mut engines = self.engines.lock().await;
        if let Some(engine) = engines.get(&download_dir) {
            return Ok(engine.clone());
        }
        let engine = Engine::start(EngineConfig::new(&download_dir))
            .await
            .map_err(failed)?;
        tracing::info!(dir = %download_dir.display(), addr = %engine.listen_addr(), "torrentsrc started its engine");
        let engine = Arc::new(OwnEngine {
            engine,
            torrents: Mutex::new(HashMap::new()),
        });
        engines.insert(download_dir, engine.clone());
        Ok(engine)
    }
}

impl OwnEngine {
    /// The torrent of `source`, added (fetching only `file`, or the
    /// default video, until its stream opens) unless it already was.
    async fn torrent(
        &self,
        source: TorrentSource,
        file: Option<usize>,
    ) -> Result<TorrentHandle, SourceError> {
        let mut torrents = self.torrents.lock().await;
        let adding = self
            .engine
            .add_torrent_selecting(source, |info| file_choice::files_to_play(info, file));
        let added = tokio::time::timeout(ADD_TORRENT_WAIT, adding)
            .await
            .map_err(|_| {
                failed(format!(
                    "No peer sent the torrent within {} s.",
                    ADD_TORRENT_WAIT.as_secs()
                ))
            })?;
        let torrent = match added {
            Ok(torrent) => torrent,
            Err(EngineError::AlreadyAdded(info_hash)) => torrents
                .get(&info_hash)
                .cloned()
                .ok_or_else(|| failed(EngineError::AlreadyAdded(info_hash)))?,
            Err(error) => return Err(failed(error)),
        };
        torrents.insert(torrent.info_hash(), torrent.clone());
        Ok(torrent)
    }
}

/// The torrent a location names and the file chosen with BEP 53's `so=`
/// (its first index), if any: `magnet:?xt=…[&so=N]` or
/// `torrent+file:///path/x.torrent[?so=N]`.
fn parse_location(location: &str) -> Result<(TorrentSource, Option<usize>), SourceError> {
    let invalid = || {
        failed(format!(
            "“{location}” is not a magnet link or a torrent file URI."
        ))
    };
    let (source, url) = match location.strip_prefix("torrent+") {
        Some(file_uri) => {
            let url = url::Url::parse(file_uri).map_err(|_| invalid())?;
            let path = url.to_file_path().map_err(|()| invalid())?;
            (TorrentSource::File(path), url)
        }
        None => {
            let source = TorrentSource::from_argument(location).map_err(failed)?;
            let url = url::Url::parse(location).map_err(|_| invalid())?;
            (source, url)
        }
    };
    if !matches!(
        (&source, url.scheme()),
        (TorrentSource::Magnet(_), "magnet") | (TorrentSource::File(_), "file")
    ) {
        return Err(invalid());
    }
    let file = url
        .query_pairs()
        .find(|(key, _)| key == "so")
        .and_then(|(_, value)| first_index(&value));
    Ok((source, file))
}

/// The first file index of a BEP 53 list such as `2,4-6`.
fn first_index(list: &str) -> Option<usize> {
    let first = list.split(',').next()?;
    first.split('-').next()?.trim().parse().ok()
}

fn failed(error: impl ToString) -> SourceError {
    SourceError::Failed(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_torrent_and_maybe_a_file() {
        let hash = "0123456789abcdef0123456789abcdef01234567";
        let magnet = format!("magnet:?xt=urn:btih:{hash}&x.pe=127.0.0.1:6881&so=3,5-7");
        let (source, file) = parse_location(&magnet).unwrap();
        assert!(matches!(source, TorrentSource::Magnet(m) if m.info_hash.to_hex() == hash));
        assert_eq!(file, Some(3));
        let (source, file) = parse_location("torrent+file:///tmp/a%20b.torrent").unwrap();
        assert!(
            matches!(source, TorrentSource::File(path) if path == Path::new("/tmp/a b.torrent"))
        );
        assert_eq!(file, None);
        let (_, file) = parse_location("torrent+file:///tmp/x.torrent?so=2-4").unwrap();
        assert_eq!(file, Some(2));
        for bad in [
            "torrent+http://example.org/x.torrent",
            "torrent+file://example.org/x.torrent",
            "magnet:?dn=x",
        ] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
    }
}
