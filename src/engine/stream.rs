//! Random-access reads of one file of a torrent, for a player that starts
//! before the download ends.
//!
//! A [`FileStream`] reads verified bytes only: `read_at` waits until every
//! piece covering the range has passed its hash check and is on disk, and
//! is cancelled by dropping its future. Each read also tells the torrent
//! where the player reads: reads near an earlier one continue its read
//! head, far ones open another (demuxers read two places at once, e.g. MP4
//! samples at the front and the `moov` index at the end). The torrent task
//! turns the read heads and the playback rate into the picker's `Demand`.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::engine::bitfield::Bitfield;
use crate::engine::events::{TorrentFailure, TorrentState, TorrentStats};
use crate::engine::metainfo::Info;
use crate::engine::picker::Demand;
use crate::engine::torrent::TorrentCommand;

/// Read heads kept per stream: a demuxer's data and index, plus one for a
/// seek target while the old position fades out.
const MAX_READ_HEADS: usize = 3;

/// A read this close (bytes) to a head's last read continues that head;
/// demuxers skip over a few frames or re-read a header without seeking.
const READ_HEAD_REACH: u64 = 4 * 1024 * 1024;

/// A head not read for this long no longer asks for pieces: the player
/// moved on (a seek) or finished reading the index.
const READ_HEAD_IDLE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the torrent has no file number {0}")]
    NoSuchFile(usize),
    #[error("the torrent is no longer running")]
    TorrentGone,
    /// The torrent stopped on an error (a full disk) before the bytes came.
    #[error("the torrent stopped: {0}")]
    TorrentFailed(TorrentFailure),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a stream tells its torrent task.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StreamUpdate {
    Opened { stream: u64, file: usize },
    Demand { stream: u64, demand: Demand },
    Closed { stream: u64 },
}

/// One file of a torrent as a random-access byte stream. Clones share the
/// stream and its read heads.
#[derive(Clone)]
pub struct FileStream {
    inner: Arc<StreamInner>,
}

struct StreamInner {
    id: u64,
    /// The file's first byte within the torrent, and its length.
    offset: u64,
    length: u64,
    name: String,
    path: PathBuf,
    piece_length: u32,
    have: watch::Receiver<Bitfield>,
    /// The torrent's state: a read waiting for pieces that will not come
    /// (the torrent failed) ends with the torrent's error.
    stats: watch::Receiver<TorrentStats>,
    commands: mpsc::UnboundedSender<TorrentCommand>,
    demand: Mutex<StreamDemand>,
    file: Mutex<Option<Arc<File>>>,
}

/// The read heads and playback state of one stream.
struct StreamDemand {
    heads: ReadHeads,
    bytes_per_second: f64,
    playing: bool,
}

impl FileStream {
    /// Opens file `file` of `info`, whose data lies below `download_dir`.
    pub(crate) fn open(
        info: &Info,
        file: usize,
        download_dir: PathBuf,
        have: watch::Receiver<Bitfield>,
        stats: watch::Receiver<TorrentStats>,
        commands: mpsc::UnboundedSender<TorrentCommand>,
    ) -> Result<Self, StreamError> {
        static NEXT_STREAM_ID: AtomicU64 = AtomicU64::new(0);
        let entry = info
            .files
            .get(file)
            .filter(|entry| !entry.pad)
            .ok_or(StreamError::NoSuchFile(file))?;
        let id = NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed);
        commands
            .send(TorrentCommand::Stream(StreamUpdate::Opened {
                stream: id,
                file,
            }))
            .map_err(|_| StreamError::TorrentGone)?;
        Ok(Self {
            inner: Arc::new(StreamInner {
                id,
                offset: entry.offset,
                length: entry.length,
                name: entry.path.display().to_string(),
                path: download_dir.join(&entry.path),
                piece_length: info.piece_length,
                have,
                stats,
                commands,
                demand: Mutex::new(StreamDemand {
                    heads: ReadHeads::default(),
                    bytes_per_second: 0.0,
                    playing: false,
                }),
                file: Mutex::new(None),
            }),
        })
    }

    /// Length of the file in bytes.
    pub fn len(&self) -> u64 {
        self.inner.length
    }

    pub fn is_empty(&self) -> bool {
        self.inner.length == 0
    }

    /// The file's path inside the torrent.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Where the file's data is written on disk; complete once every piece
    /// of it is verified.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// Whether `read_at(offset, len)` would return without waiting.
    pub fn is_available(&self, offset: u64, len: usize) -> bool {
        let pieces = self.inner.pieces(offset, len);
        let have = self.inner.have.borrow();
        pieces.into_iter().all(|piece| have.get(piece))
    }

    /// How many bytes from `offset` on are verified without a gap, up to
    /// the end of the file: the player's buffer ahead of its playhead.
    pub fn verified_len_from(&self, offset: u64) -> u64 {
        let inner = &self.inner;
        if offset >= inner.length || inner.piece_length == 0 {
            return 0;
        }
        let piece_length = u64::from(inner.piece_length);
        let end = inner.offset + inner.length;
        let have = inner.have.borrow();
        let mut position = inner.offset + offset;
        while position < end {
            let piece = position / piece_length;
            if !u32::try_from(piece).is_ok_and(|piece| have.get(piece)) {
                break;
            }
            position = (piece + 1) * piece_length;
        }
        position.min(end) - (inner.offset + offset)
    }

    /// The `len` bytes at `offset` (fewer only at the end of the file),
    /// once they are verified and on disk. Dropping the future cancels the
    /// read; the read head it opened stays until it idles out.
    pub async fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StreamError> {
        let inner = &self.inner;
        let len = inner.clamp(offset, len);
        if len == 0 {
            return Ok(Bytes::new());
        }
        inner.note_read(offset, len as u64);
        let pieces = inner.pieces(offset, len);
        let mut have = inner.have.clone();
        let mut stats = inner.stats.clone();
        tokio::select! {
            // Verified pieces stay readable after the torrent failed.
            biased;
            arrived = have.wait_for(|have| pieces.clone().all(|piece| have.get(piece))) => {
                arrived.map_err(|_| StreamError::TorrentGone)?;
            }
            failed = stats.wait_for(|stats| matches!(stats.state, TorrentState::Error(_))) => {
                return Err(match failed.as_deref().map(|stats| &stats.state) {
                    Ok(TorrentState::Error(failure)) => StreamError::TorrentFailed(failure.clone()),
                    _ => StreamError::TorrentGone,
                });
            }
        }
        let file = inner.file()?;
        let path = inner.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut bytes = vec![0; len];
            file.read_exact_at(&mut bytes, offset)
                .map(|()| Bytes::from(bytes))
                .map_err(|source| StreamError::Io { path, source })
        })
        .await
        .map_err(|_| StreamError::TorrentGone)?
    }

    /// The player's consumption rate (bytes/s, the media bitrate) and
    /// whether it plays; deadlines follow from it.
    pub fn set_playback(&self, bytes_per_second: f64, playing: bool) {
        let mut demand = self.inner.demand();
        demand.bytes_per_second = bytes_per_second;
        demand.playing = playing;
        self.inner.send_demand(&demand);
    }

    /// Forgets every read head, e.g. on a flushing seek: the reads that
    /// follow place them anew. The torrent learns of it with the first
    /// read, which cancels the old windows' requests and puts the new one
    /// first in one step: told of no heads in between, it would fill
    /// every peer's pipeline with other work that a peer sends even after
    /// a cancel, ahead of the seek's blocks.
    pub fn reset_read_heads(&self) {
        self.inner.demand().heads = ReadHeads::default();
    }
}

impl StreamInner {
    fn demand(&self) -> MutexGuard<'_, StreamDemand> {
        // The guarded state stays consistent even if a holder panicked.
        self.demand.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clamp(&self, offset: u64, len: usize) -> usize {
        let remaining = self.length.saturating_sub(offset);
        usize::try_from(remaining).map_or(len, |remaining| remaining.min(len))
    }

    /// Pieces holding the file's bytes `offset..offset + len`.
    fn pieces(&self, offset: u64, len: usize) -> std::ops::Range<u32> {
        let len = self.clamp(offset, len) as u64;
        if len == 0 || self.piece_length == 0 {
            return 0..0;
        }
        let start = self.offset + offset;
        let first = start / u64::from(self.piece_length);
        let last = (start + len - 1) / u64::from(self.piece_length);
        first as u32..last as u32 + 1
    }

    fn note_read(&self, offset: u64, len: u64) {
        let mut demand = self.demand();
        let before = demand.heads.pieces(self.offset, self.piece_length);
        demand.heads.read(offset, len, Instant::now());
        // Only whole pieces matter to the picker: stay quiet within one.
        if demand.heads.pieces(self.offset, self.piece_length) != before {
            self.send_demand(&demand);
        }
    }

    fn send_demand(&self, demand: &StreamDemand) {
        let update = StreamUpdate::Demand {
            stream: self.id,
            demand: Demand {
                read_heads: demand.heads.offsets().map(|o| self.offset + o).collect(),
                bytes_per_second: demand.bytes_per_second,
                playing: demand.playing,
            },
        };
        // A closed channel means the torrent is gone; reads report it.
        let _ = self.commands.send(TorrentCommand::Stream(update));
    }

    fn file(&self) -> Result<Arc<File>, StreamError> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = file.as_ref() {
            return Ok(file.clone());
        }
        let opened = Arc::new(File::open(&self.path).map_err(|source| StreamError::Io {
            path: self.path.clone(),
            source,
        })?);
        *file = Some(opened.clone());
        Ok(opened)
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let closed = StreamUpdate::Closed { stream: self.id };
        let _ = self.commands.send(TorrentCommand::Stream(closed));
    }
}

/// The places a player reads from in one file, told apart by distance.
#[derive(Clone, Debug, Default)]
struct ReadHeads {
    heads: Vec<ReadHead>,
}

#[derive(Clone, Copy, Debug)]
struct ReadHead {
    /// Start of the last read: the byte the player needs now.
    offset: u64,
    /// End of the last read: where a sequential reader goes next.
    end: u64,
    last_read: Instant,
}

impl ReadHeads {
    fn read(&mut self, offset: u64, len: u64, now: Instant) {
        self.heads
            .retain(|head| now.saturating_duration_since(head.last_read) < READ_HEAD_IDLE);
        let end = offset.saturating_add(len);
        let near = |head: &&mut ReadHead| {
            offset.saturating_add(READ_HEAD_REACH) >= head.offset
                && offset <= head.end.saturating_add(READ_HEAD_REACH)
        };
        if let Some(head) = self.heads.iter_mut().find(near) {
            *head = ReadHead {
                offset,
                end,
                last_read: now,
            };
            return;
        }
        if self.heads.len() >= MAX_READ_HEADS
            && let Some(oldest) = (0..self.heads.len()).min_by_key(|&i| self.heads[i].last_read)
        {
            self.heads.swap_remove(oldest);
        }
        self.heads.push(ReadHead {
            offset,
            end,
            last_read: now,
        });
    }

    fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        self.heads.iter().map(|head| head.offset)
    }

    /// The torrent piece under each head of a file starting at torrent
    /// byte `file_offset`.
    fn pieces(&self, file_offset: u64, piece_length: u32) -> Vec<u64> {
        let piece_length = u64::from(piece_length.max(1));
        let mut pieces: Vec<u64> = self
            .offsets()
            .map(|o| file_offset.saturating_add(o) / piece_length)
            .collect();
        pieces.sort_unstable();
        pieces
    }
}

/// The streams open on one torrent, merged into what the picker needs.
#[derive(Debug, Default)]
pub(crate) struct StreamDemands {
    /// Stream id (increasing with opening order) to its file and latest
    /// demand.
    streams: HashMap<u64, (usize, Option<Demand>)>,
    /// The most recently opened stream: its file's head and tail come first.
    latest: Option<u64>,
}

impl StreamDemands {
    pub fn update(&mut self, update: StreamUpdate) {
        match update {
            StreamUpdate::Opened { stream, file } => {
                self.streams.insert(stream, (file, None));
                self.latest = Some(stream);
            }
            StreamUpdate::Demand { stream, demand } => {
                if let Some((_, latest)) = self.streams.get_mut(&stream) {
                    *latest = Some(demand);
                }
            }
            StreamUpdate::Closed { stream } => {
                self.streams.remove(&stream);
                if self.latest == Some(stream) {
                    self.latest = self.streams.keys().max().copied();
                }
            }
        }
    }

    /// Files with a stream open.
    pub fn files(&self) -> impl Iterator<Item = usize> + '_ {
        self.streams.values().map(|&(file, _)| file)
    }

    /// The file being streamed, if any stream is open.
    pub fn stream_file(&self) -> Option<usize> {
        let latest = self.latest?;
        self.streams.get(&latest).map(|&(file, _)| file)
    }

    /// Every stream's read heads; the highest rate; playing if any plays.
    pub fn demand(&self) -> Option<Demand> {
        let mut merged: Option<Demand> = None;
        for demand in self.streams.values().filter_map(|(_, d)| d.as_ref()) {
            let merged = merged.get_or_insert_with(|| Demand {
                read_heads: Vec::new(),
                bytes_per_second: 0.0,
                playing: false,
            });
            merged.read_heads.extend(&demand.read_heads);
            merged.bytes_per_second = merged.bytes_per_second.max(demand.bytes_per_second);
            merged.playing |= demand.playing;
        }
        if let Some(merged) = merged.as_mut() {
            merged.read_heads.sort_unstable();
            merged.read_heads.dedup();
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn offsets(heads: &ReadHeads) -> Vec<u64> {
        let mut offsets: Vec<u64> = heads.offsets().collect();
        offsets.sort_unstable();
        offsets
    }

    #[tokio::test]
    async fn a_failed_torrent_ends_waiting_reads_with_its_error_and_verified_bytes_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("film.bin"), [7u8; 32768]).unwrap();
        let info = Info {
            name: "film.bin".to_owned(),
            piece_length: 16384,
            piece_hashes: vec![[0; 20]; 2],
            files: vec![crate::engine::metainfo::FileEntry {
                path: "film.bin".into(),
                length: 32768,
                offset: 0,
                pad: false,
            }],
            total_length: 32768,
            private: false,
        };
        let mut have = Bitfield::new(2);
        have.set(0);
        let (_have_tx, have) = watch::channel(have);
        let (stats_tx, stats) = watch::channel(TorrentStats::default());
        let (commands, _commands_rx) = mpsc::unbounded_channel();
        let stream =
            FileStream::open(&info, 0, dir.path().to_owned(), have, stats, commands).unwrap();
        let waiting = tokio::spawn({
            let stream = stream.clone();
            async move { stream.read_at(16384, 100).await }
        });
        let full = TorrentFailure::DiskFull("the disk is full".into());
        stats_tx.send_modify(|stats| stats.state = TorrentState::Error(full.clone()));
        let failed = waiting.await.unwrap();
        assert!(
            matches!(&failed, Err(StreamError::TorrentFailed(failure)) if *failure == full),
            "{failed:?}"
        );
        assert_eq!(stream.read_at(0, 100).await.unwrap(), vec![7u8; 100]);
    }

    #[test]
    fn nearby_reads_move_one_head_and_far_reads_open_another() {
        let mut heads = ReadHeads::default();
        let now = Instant::now();
        heads.read(0, 4096, now);
        heads.read(4096, 4096, now);
        heads.read(MIB, 65536, now);
        assert_eq!(offsets(&heads), vec![MIB]);
        // An MP4 index at the end of a 1 GiB file: a second head.
        heads.read(1024 * MIB, 4096, now);
        assert_eq!(offsets(&heads), vec![MIB, 1024 * MIB]);
        // Back to the samples: the first head moves on.
        heads.read(MIB + 65536, 4096, now);
        assert_eq!(offsets(&heads), vec![MIB + 65536, 1024 * MIB]);
    }

    #[test]
    fn beyond_max_read_heads_the_least_recently_read_is_dropped() {
        let mut heads = ReadHeads::default();
        let start = Instant::now();
        for (i, offset) in [0, 100 * MIB, 200 * MIB].into_iter().enumerate() {
            heads.read(offset, 4096, start + Duration::from_millis(i as u64));
        }
        heads.read(0, 4096, start + Duration::from_millis(10));
        heads.read(300 * MIB, 4096, start + Duration::from_millis(20));
        assert_eq!(heads.heads.len(), MAX_READ_HEADS);
        assert_eq!(offsets(&heads), vec![0, 200 * MIB, 300 * MIB]);
    }

    #[test]
    fn read_heads_idle_past_the_limit_are_forgotten() {
        let mut heads = ReadHeads::default();
        let start = Instant::now();
        heads.read(0, 4096, start);
        heads.read(500 * MIB, 4096, start + READ_HEAD_IDLE / 2);
        heads.read(500 * MIB + 4096, 4096, start + READ_HEAD_IDLE);
        assert_eq!(offsets(&heads), vec![500 * MIB + 4096]);
    }

    #[test]
    fn a_seek_tells_the_torrent_nothing_until_the_first_read_at_the_target() {
        use crate::engine::metainfo::FileEntry;
        let pieces = 64;
        let length = pieces * MIB;
        let info = Info {
            name: "t".into(),
            piece_length: MIB as u32,
            piece_hashes: vec![[0; 20]; pieces as usize],
            files: vec![FileEntry {
                path: PathBuf::from("t"),
                length,
                offset: 0,
                pad: false,
            }],
            total_length: length,
            private: false,
        };
        let (_have, have) = watch::channel(Bitfield::new(pieces as u32));
        let (_stats, stats) = watch::channel(TorrentStats::default());
        let (commands, mut received) = mpsc::unbounded_channel();
        let download_dir = PathBuf::from("/nowhere");
        let stream =
            FileStream::open(&info, 0, download_dir, have, stats, commands).expect("file 0 exists");
        let mut heads_sent = || {
            let mut sent = Vec::new();
            while let Ok(command) = received.try_recv() {
                if let TorrentCommand::Stream(StreamUpdate::Demand { demand, .. }) = command {
                    sent.push(demand.read_heads);
                }
            }
            sent
        };
        stream.set_playback(1e6, true);
        stream.inner.note_read(0, 4096);
        assert_eq!(heads_sent(), vec![vec![], vec![0]]);
        stream.reset_read_heads();
        assert!(heads_sent().is_empty());
        // The first read at the target replaces the old head in one step.
        stream.inner.note_read(40 * MIB, 4096);
        assert_eq!(heads_sent(), vec![vec![40 * MIB]]);
    }

    #[test]
    fn demands_of_all_streams_merge_and_the_latest_file_is_streamed() {
        let mut demands = StreamDemands::default();
        assert_eq!(demands.demand(), None);
        demands.update(StreamUpdate::Opened { stream: 1, file: 0 });
        demands.update(StreamUpdate::Opened { stream: 2, file: 3 });
        assert_eq!(demands.stream_file(), Some(3));
        assert_eq!(demands.demand(), None);
        let demand = |heads: Vec<u64>, rate, playing| Demand {
            read_heads: heads,
            bytes_per_second: rate,
            playing,
        };
        demands.update(StreamUpdate::Demand {
            stream: 1,
            demand: demand(vec![10, 500], 1e6, false),
        });
        demands.update(StreamUpdate::Demand {
            stream: 2,
            demand: demand(vec![900, 10], 2e6, true),
        });
        assert_eq!(
            demands.demand(),
            Some(demand(vec![10, 500, 900], 2e6, true))
        );
        demands.update(StreamUpdate::Closed { stream: 2 });
        assert_eq!(demands.stream_file(), Some(0));
        assert_eq!(demands.demand(), Some(demand(vec![10, 500], 1e6, false)));
        demands.update(StreamUpdate::Closed { stream: 1 });
        assert_eq!(demands.stream_file(), None);
        assert_eq!(demands.demand(), None);
    }
}
