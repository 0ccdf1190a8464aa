//! The seam between whatever holds a video's bytes (the torrent engine, a
//! local file) and the `torrentsrc` element that feeds them to GStreamer.
//!
//! The trait carries no GStreamer or engine types, so the engine's stream
//! gets an adapter `impl ByteSource` in this room and the engine itself never
//! depends on the player.
//!
//! Read heads: the element calls [`ByteSource::read_at`] with the exact
//! offset every demuxer pull asks for, so the engine side learns the read
//! heads (and seeks, as jumps between them) from these calls; no other hook
//! is needed.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

/// Random access to the bytes of one file (of a torrent, or on disk).
///
/// Called from GStreamer threads: `read_at` from the streaming thread of
/// whichever element pulls, `interrupt`/`clear_interrupt` from the thread
/// that flushes or changes state, possibly while `read_at` is blocked.
pub trait ByteSource: Send + Sync + 'static {
    /// Length of the file in bytes.
    fn size(&self) -> u64;

    /// The file's name (its path inside the torrent). Its extension tells
    /// typefinding which format to try first.
    fn file_name(&self) -> &str;

    /// Whether `read_at(offset, len)` would return without waiting for data.
    /// Must not block; the element uses it to tell the player it is waiting.
    fn is_available(&self, offset: u64, len: usize) -> bool;

    /// Blocks until the `len` bytes at `offset` (clamped to the end of the
    /// file) are there and verified, then returns exactly those bytes: never
    /// fewer, never placeholder zeros. Returns `Err(SourceError::Interrupted)`
    /// promptly once [`interrupt`](Self::interrupt) has been called, and
    /// keeps doing so until [`clear_interrupt`](Self::clear_interrupt).
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, SourceError>;

    /// Makes blocked and future reads return `Interrupted` (a flushing seek or
    /// a state change is under way).
    fn interrupt(&self);

    /// Lets reads block again after [`interrupt`](Self::interrupt).
    fn clear_interrupt(&self);
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("the read was interrupted")]
    Interrupted,
    /// The bytes cannot be had; the sentence is shown to the user.
    #[error("{0}")]
    Failed(String),
    /// The bytes cannot be had because the download folder's disk is full;
    /// the sentence is the engine's, for logs.
    #[error("{0}")]
    DiskFull(String),
}

/// The number of bytes a read of `len` at `offset` returns from a file of
/// `size` bytes: short only at the end, zero past it.
pub fn clamped_len(size: u64, offset: u64, len: usize) -> usize {
    let remaining = size.saturating_sub(offset);
    usize::try_from(remaining).map_or(len, |remaining| remaining.min(len))
}

/// A local file, complete on disk: lets the player and its tests play a file
/// through the same element and code path as a torrent.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    size: u64,
    path: String,
    name: String,
    interrupted: AtomicBool,
}

impl FileSource {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            file,
            size,
            path: path.display().to_string(),
            name: path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            interrupted: AtomicBool::new(false),
        })
    }
}

impl ByteSource for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn file_name(&self) -> &str {
        &self.name
    }

    fn is_available(&self, _offset: u64, _len: usize) -> bool {
        true
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, SourceError> {
        if self.interrupted.load(Ordering::Acquire) {
            return Err(SourceError::Interrupted);
        }
        let mut bytes = vec![0; clamped_len(self.size, offset, len)];
        self.file.read_exact_at(&mut bytes, offset).map_err(|err| {
            SourceError::Failed(format!(
                "Could not read “{}” at byte {offset}: {err}.",
                self.path
            ))
        })?;
        Ok(bytes.into())
    }

    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Release);
    }

    fn clear_interrupt(&self) {
        self.interrupted.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamped_len_is_short_only_at_the_end() {
        assert_eq!(clamped_len(100, 0, 10), 10);
        assert_eq!(clamped_len(100, 95, 10), 5);
        assert_eq!(clamped_len(100, 100, 10), 0);
        assert_eq!(clamped_len(100, 200, 10), 0);
        assert_eq!(clamped_len(u64::MAX, 0, usize::MAX), usize::MAX);
    }
}
