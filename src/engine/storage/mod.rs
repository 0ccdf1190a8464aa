//! Storage: the torrent's pieces mapped onto its files below the download
//! folder. Every method is blocking file I/O or hashing; callers run them
//! off the async runtime (`tokio::task::spawn_blocking`).
//!
//! A piece is written only after its SHA-1 matched, in one go, so every byte
//! on disk that the have-bitfield covers is verified data. Files are created
//! sparse at their full length, which keeps positional writes simple.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::engine::bitfield::Bitfield;
use crate::engine::metainfo::Info;

/// A disk problem. It is ours, never a peer's fault: the torrent stops with
/// this message instead of blaming whoever sent the data.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("refusing to write outside the download folder: {0}")]
    OutsideDownloadDir(PathBuf),
    #[error("piece {0} is out of range")]
    PieceOutOfRange(u32),
    #[error("read of {length} bytes at {offset} is beyond the torrent's end")]
    ReadOutOfRange { offset: u64, length: u64 },
    #[error("disk task failed: {0}")]
    Task(String),
}

struct StorageFile {
    path: PathBuf,
    offset: u64,
    length: u64,
    /// Bytes the file held before we opened it: only pieces fully inside
    /// such data can already be valid, so a fresh download hashes nothing.
    existing_len: u64,
    file: File,
}

/// The files of one torrent, opened for reading and writing.
pub struct Storage {
    files: Vec<StorageFile>,
    piece_length: u32,
    total_length: u64,
    piece_hashes: Vec<[u8; 20]>,
}

impl Storage {
    /// Creates (sparse) or opens every file of `info` below `download_dir`.
    pub fn open(download_dir: &Path, info: &Info) -> Result<Self, StorageError> {
        let mut files = Vec::with_capacity(info.files.len());
        for entry in &info.files {
            // Metainfo already sanitized the path; check again because a
            // mistake here would write anywhere on the user's disk.
            if entry.path.as_os_str().is_empty()
                || !entry
                    .path
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
            {
                return Err(StorageError::OutsideDownloadDir(entry.path.clone()));
            }
            let path = download_dir.join(&entry.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| StorageError::Io {
                    action: "create folder",
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|source| StorageError::Io {
                    action: "open",
                    path: path.clone(),
                    source,
                })?;
            let existing_len = file
                .metadata()
                .map_err(|source| StorageError::Io {
                    action: "inspect",
                    path: path.clone(),
                    source,
                })?
                .len();
            if existing_len != entry.length {
                file.set_len(entry.length)
                    .map_err(|source| StorageError::Io {
                        action: "allocate",
                        path: path.clone(),
                        source,
                    })?;
            }
            files.push(StorageFile {
                path,
                offset: entry.offset,
                length: entry.length,
                existing_len: existing_len.min(entry.length),
                file,
            });
        }
        Ok(Self {
            files,
            piece_length: info.piece_length,
            total_length: info.total_length,
            piece_hashes: info.piece_hashes.clone(),
        })
    }

    pub fn piece_count(&self) -> u32 {
        self.piece_hashes.len() as u32
    }

    /// Byte range of `piece` within the torrent.
    fn piece_span(&self, piece: u32) -> Result<(u64, u64), StorageError> {
        if piece >= self.piece_count() {
            return Err(StorageError::PieceOutOfRange(piece));
        }
        let start = u64::from(piece) * u64::from(self.piece_length);
        let end = (start + u64::from(self.piece_length)).min(self.total_length);
        Ok((start, end - start))
    }

    /// Calls `visit(file, offset in file, range in buf)` for each file that
    /// the torrent bytes `[offset, offset + len)` touch.
    fn for_each_span(
        &self,
        offset: u64,
        len: u64,
        mut visit: impl FnMut(&StorageFile, u64, std::ops::Range<usize>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= self.total_length)
            .ok_or(StorageError::ReadOutOfRange {
                offset,
                length: len,
            })?;
        // Files are in torrent order: find the first one that ends after `offset`.
        let first = self
            .files
            .partition_point(|f| f.offset + f.length <= offset);
        for file in &self.files[first..] {
            if file.offset >= end {
                break;
            }
            if file.length == 0 {
                continue;
            }
            let from = offset.max(file.offset);
            let to = end.min(file.offset + file.length);
            let buf_range = (from - offset) as usize..(to - offset) as usize;
            visit(file, from - file.offset, buf_range)?;
        }
        Ok(())
    }

    /// Reads torrent bytes `[offset, offset + buf.len())`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.for_each_span(offset, buf.len() as u64, |file, at, range| {
            file.file
                .read_exact_at(&mut buf[range], at)
                .map_err(|source| StorageError::Io {
                    action: "read",
                    path: file.path.clone(),
                    source,
                })
        })
    }

    /// Reads `length` bytes at `offset` within `piece` (a block to upload).
    pub fn read_block(
        &self,
        piece: u32,
        offset: u32,
        length: u32,
    ) -> Result<Vec<u8>, StorageError> {
        let (start, piece_len) = self.piece_span(piece)?;
        if u64::from(offset) + u64::from(length) > piece_len {
            return Err(StorageError::ReadOutOfRange {
                offset: start + u64::from(offset),
                length: u64::from(length),
            });
        }
        let mut buf = vec![0; length as usize];
        self.read_at(start + u64::from(offset), &mut buf)?;
        Ok(buf)
    }

    /// True when `data` is piece `piece` as the torrent's hash says.
    pub fn piece_matches(&self, piece: u32, data: &[u8]) -> bool {
        self.piece_hashes
            .get(piece as usize)
            .is_some_and(|expected| Sha1::digest(data).as_slice() == expected)
    }

    /// Writes a whole, verified piece.
    pub fn write_piece(&self, piece: u32, data: &[u8]) -> Result<(), StorageError> {
        let (start, len) = self.piece_span(piece)?;
        if data.len() as u64 != len {
            return Err(StorageError::ReadOutOfRange {
                offset: start,
                length: data.len() as u64,
            });
        }
        self.for_each_span(start, len, |file, at, range| {
            file.file
                .write_all_at(&data[range], at)
                .map_err(|source| StorageError::Io {
                    action: "write",
                    path: file.path.clone(),
                    source,
                })
        })
    }

    /// Whether every byte of `piece` lies in data the files held before we
    /// opened them; only such pieces can be valid at resume.
    fn piece_may_exist(&self, piece: u32) -> Result<bool, StorageError> {
        let (start, len) = self.piece_span(piece)?;
        let mut all = true;
        self.for_each_span(start, len, |file, at, range| {
            all &= at + range.len() as u64 <= file.existing_len;
            Ok(())
        })?;
        Ok(all)
    }

    /// Resume: hashes the data already on disk and returns the pieces that
    /// match. Pieces in freshly created (sparse) space are skipped.
    pub fn verify_existing(&self) -> Result<Bitfield, StorageError> {
        let mut have = Bitfield::new(self.piece_count());
        let mut buf = Vec::with_capacity(self.piece_length as usize);
        for piece in 0..self.piece_count() {
            if !self.piece_may_exist(piece)? {
                continue;
            }
            let (start, len) = self.piece_span(piece)?;
            buf.resize(len as usize, 0);
            self.read_at(start, &mut buf)?;
            if self.piece_matches(piece, &buf) {
                have.set(piece);
            }
        }
        Ok(have)
    }

    /// Deletes the torrent's files (remove with "delete data"), then the
    /// folders that became empty.
    pub fn delete_files(&self, download_dir: &Path) -> Result<(), StorageError> {
        for file in &self.files {
            match std::fs::remove_file(&file.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(StorageError::Io {
                        action: "delete",
                        path: file.path.clone(),
                        source,
                    });
                }
            }
            let mut dir = file.path.parent();
            while let Some(d) = dir {
                if d == download_dir || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        Ok(())
    }
}
