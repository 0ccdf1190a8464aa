//! The engine's [`FileStream`] as a [`ByteSource`] for `torrentsrc`, and the
//! process-wide source factory that hands prepared streams to the element.
//!
//! `read_at` runs on a GStreamer streaming thread and blocks it on the
//! engine's tokio runtime until the bytes are verified, or until
//! `interrupt` (a flushing seek, a stop) wins the race.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::engine::events::TorrentFailure;
use crate::engine::metainfo::InfoHash;
use crate::engine::stream::{FileStream, StreamError};
use crate::player::byte_source::{ByteSource, SourceError};
use crate::player::torrentsrc::{self, SourceRequest};

/// One file of a torrent, read through the engine.
pub struct EngineSource {
    stream: FileStream,
    runtime: Handle,
    /// Level-triggered: true from `interrupt` until `clear_interrupt`.
    interrupted: watch::Sender<bool>,
}

impl EngineSource {
    /// Reads `stream` on `runtime`, the engine's tokio runtime.
    pub fn new(stream: FileStream, runtime: Handle) -> Self {
        Self {
            stream,
            runtime,
            interrupted: watch::Sender::new(false),
        }
    }

    pub fn stream(&self) -> &FileStream {
        &self.stream
    }
}

impl ByteSource for EngineSource {
    fn size(&self) -> u64 {
        self.stream.len()
    }

    fn file_name(&self) -> &str {
        self.stream.name()
    }

    fn is_available(&self, offset: u64, len: usize) -> bool {
        self.stream.is_available(offset, len)
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, SourceError> {
        let mut interrupted = self.interrupted.subscribe();
        if *interrupted.borrow_and_update() {
            return Err(SourceError::Interrupted);
        }
        self.runtime.block_on(async {
            tokio::select! {
                read = self.stream.read_at(offset, len) => read.map_err(|error| match error {
                    StreamError::TorrentFailed(TorrentFailure::DiskFull(sentence)) => {
                        SourceError::DiskFull(sentence)
                    }
                    error => SourceError::Failed(error.to_string()),
                }),
                // A closed channel cannot happen while `self` lives; either
                // way the read is given up.
                _ = interrupted.wait_for(|interrupted| *interrupted) => {
                    Err(SourceError::Interrupted)
                }
            }
        })
    }

    fn interrupt(&self) {
        self.interrupted.send_replace(true);
    }

    fn clear_interrupt(&self) {
        self.interrupted.send_replace(false);
    }
}

/// The URI under which the player opens file `file` of a torrent: a magnet
/// link selecting the file with BEP 53's `so=`, so `torrentsrc` picks it up.
pub fn stream_uri(info_hash: InfoHash, file: usize) -> String {
    format!("magnet:?xt=urn:btih:{}&so={file}", info_hash.to_hex())
}

type PreparedSources = Mutex<HashMap<String, Arc<EngineSource>>>;

fn prepared() -> &'static PreparedSources {
    static PREPARED: OnceLock<PreparedSources> = OnceLock::new();
    PREPARED.get_or_init(|| {
        // The factory only looks up what a session prepared: it runs in the
        // element's `start()` and must answer at once (torrentsrc/DESIGN.md).
        torrentsrc::set_source_factory(Arc::new(|request: &SourceRequest| {
            let uri = request.uri;
            let source = prepared()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(uri)
                .cloned();
            match source {
                Some(source) => Ok(source as Arc<dyn ByteSource>),
                None => Err(SourceError::Failed(format!(
                    "“{uri}” was not prepared for playback: its torrent is not open."
                ))),
            }
        }));
        Mutex::new(HashMap::new())
    })
}

/// Makes `source` what `torrentsrc` reads for `uri` until [`withdraw`]; installs
/// the factory on first use.
pub fn prepare(uri: &str, source: Arc<EngineSource>) {
    prepared()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(uri.to_owned(), source);
}

/// Forgets the source prepared for `uri`.
pub fn withdraw(uri: &str) {
    prepared()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(uri);
}
