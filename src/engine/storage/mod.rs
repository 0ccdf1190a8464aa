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
    /// No space (or quota) left: said plainly, with what to do, because
    /// it is the disk error users meet most.
    #[error(
        "the disk is full: no space left to write into {}. Free some space and open the torrent again; the pieces already verified are kept",
        folder.display()
    )]
    DiskFull { folder: PathBuf },
}

impl StorageError {
    /// An I/O failure to `action` `path`; a full disk or quota becomes
    /// [`StorageError::DiskFull`].
    fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::DiskFull {
                folder: path.parent().unwrap_or(path).to_path_buf(),
            },
            _ => Self::Io {
                action,
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

struct StorageFile {
    path: PathBuf,
    offset: u64,
    length: u64,
    /// Bytes the file held before we opened it: only pieces fully inside
    /// such data can already be valid, so a fresh download hashes nothing.
    existing_len: u64,
    /// `None` for a BEP 47 pad file: zeros that are never stored.
    file: Option<File>,
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
            if entry.pad {
                files.push(StorageFile {
                    path: download_dir.join(&entry.path),
                    offset: entry.offset,
                    length: entry.length,
                    existing_len: entry.length,
                    file: None,
                });
                continue;
            }
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
                std::fs::create_dir_all(parent)
                    .map_err(|source| StorageError::io("create folder", parent, source))?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|source| StorageError::io("open", &path, source))?;
            let existing_len = file
                .metadata()
                .map_err(|source| StorageError::io("inspect", &path, source))?
                .len();
            if existing_len != entry.length {
                file.set_len(entry.length)
                    .map_err(|source| StorageError::io("allocate", &path, source))?;
            }
            files.push(StorageFile {
                path,
                offset: entry.offset,
                length: entry.length,
                existing_len: existing_len.min(entry.length),
                file: Some(file),
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
            let Some(handle) = &file.file else {
                buf[range].fill(0);
                return Ok(());
            };
            handle
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
            let Some(handle) = &file.file else {
                return Ok(());
            };
            handle
                .write_all_at(&data[range], at)
                .map_err(|source| StorageError::io("write", &file.path, source))
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
        for file in self.files.iter().filter(|f| f.file.is_some()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::TorrentFailure;
    use crate::engine::metainfo::FileEntry;

    /// An info for `files` (path, content) in pieces of `piece_length`.
    fn info_for(files: &[(&str, &[u8])], piece_length: u32) -> Info {
        let mut entries = Vec::new();
        let mut all = Vec::new();
        for (path, content) in files {
            entries.push(FileEntry {
                path: PathBuf::from(path),
                length: content.len() as u64,
                offset: all.len() as u64,
                pad: false,
            });
            all.extend_from_slice(content);
        }
        Info {
            name: "t".into(),
            piece_length,
            piece_hashes: all
                .chunks(piece_length as usize)
                .map(|piece| Sha1::digest(piece).into())
                .collect(),
            files: entries,
            total_length: all.len() as u64,
            private: false,
        }
    }

    fn torrent_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
        files.iter().flat_map(|(_, c)| c.iter().copied()).collect()
    }

    const FILES: &[(&str, &[u8])] = &[
        ("t/a", b"0123456789"),
        ("t/empty", b""),
        ("t/sub/b", b"abcdefghijklmnopqrstuvwxyz"),
        ("t/c", b"XYZ"),
    ];

    #[test]
    fn a_full_disk_or_quota_is_a_plain_disk_full_error_naming_the_folder() {
        for errno in [28, 122] {
            // ENOSPC, EDQUOT
            let error = StorageError::io(
                "write",
                Path::new("/videos/film/film.mkv"),
                io::Error::from_raw_os_error(errno),
            );
            assert!(
                matches!(&error, StorageError::DiskFull { folder } if folder == Path::new("/videos/film")),
                "{error:?}"
            );
            assert!(error.to_string().starts_with("the disk is full"));
            assert_eq!(
                TorrentFailure::from(&error),
                TorrentFailure::DiskFull(error.to_string())
            );
        }
        let other = StorageError::io("write", Path::new("/f"), io::Error::from_raw_os_error(5));
        assert!(matches!(other, StorageError::Io { .. }));
        assert!(matches!(
            TorrentFailure::from(&other),
            TorrentFailure::Storage(_)
        ));
    }

    #[test]
    fn pieces_spanning_files_are_written_into_each_file() {
        let dir = tempfile::tempdir().unwrap();
        let info = info_for(FILES, 16);
        let storage = Storage::open(dir.path(), &info).unwrap();
        let all = torrent_bytes(FILES);
        for (piece, data) in all.chunks(16).enumerate() {
            assert!(storage.piece_matches(piece as u32, data));
            storage.write_piece(piece as u32, data).unwrap();
        }
        for (path, content) in FILES {
            assert_eq!(std::fs::read(dir.path().join(path)).unwrap(), *content);
        }
        assert_eq!(storage.read_block(1, 4, 8).unwrap(), &all[20..28]);
        let mut tail = [0u8; 5];
        storage.read_at(34, &mut tail).unwrap();
        assert_eq!(&tail, b"yzXYZ");
        assert!(
            storage.read_block(2, 0, 8).is_err(),
            "beyond the last piece's end"
        );
    }

    #[test]
    fn resume_keeps_valid_pieces_and_drops_corrupt_ones() {
        let dir = tempfile::tempdir().unwrap();
        let info = info_for(FILES, 16);
        let all = torrent_bytes(FILES);
        {
            let storage = Storage::open(dir.path(), &info).unwrap();
            assert_eq!(storage.verify_existing().unwrap().count(), 0);
            storage.write_piece(0, &all[..16]).unwrap();
            storage.write_piece(2, &all[32..]).unwrap();
        }
        let storage = Storage::open(dir.path(), &info).unwrap();
        let have = storage.verify_existing().unwrap();
        assert_eq!(have.iter_set().collect::<Vec<_>>(), vec![0, 2]);

        // One flipped byte in file b loses piece 2 only.
        let b = dir.path().join("t/sub/b");
        let mut content = std::fs::read(&b).unwrap();
        content[25] ^= 1;
        std::fs::write(&b, content).unwrap();
        let storage = Storage::open(dir.path(), &info).unwrap();
        assert_eq!(
            storage
                .verify_existing()
                .unwrap()
                .iter_set()
                .collect::<Vec<_>>(),
            vec![0]
        );
    }

    #[test]
    fn paths_leaving_the_download_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../evil", "/etc/evil", "t/../../evil"] {
            let info = info_for(&[(bad, b"x")], 16);
            assert!(matches!(
                Storage::open(dir.path(), &info),
                Err(StorageError::OutsideDownloadDir(_))
            ));
        }
    }

    #[test]
    fn disk_errors_name_the_path_and_the_action() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the torrent needs a folder: even root cannot write.
        std::fs::write(dir.path().join("t"), b"in the way").unwrap();
        let info = info_for(FILES, 16);
        let error = Storage::open(dir.path(), &info).err().unwrap().to_string();
        assert!(error.starts_with("cannot create folder"), "{error}");
        assert!(
            error.contains(&dir.path().join("t").display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn pad_files_are_never_created_and_read_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let files: &[(&str, &[u8])] = &[
            ("t/a", b"0123456789"),
            ("t/.pad/6", &[0; 6]),
            ("t/b", b"bbbb"),
        ];
        let mut info = info_for(files, 16);
        info.files[1].pad = true;
        let storage = Storage::open(dir.path(), &info).unwrap();
        let all = torrent_bytes(files);
        storage.write_piece(0, &all[..16]).unwrap();
        storage.write_piece(1, &all[16..]).unwrap();
        assert!(!dir.path().join("t/.pad/6").exists());
        assert_eq!(storage.read_block(0, 8, 8).unwrap(), b"89\0\0\0\0\0\0");
        assert_eq!(
            storage.verify_existing().unwrap().count(),
            0,
            "fresh files are not hashed"
        );
        let storage = Storage::open(dir.path(), &info).unwrap();
        assert_eq!(storage.verify_existing().unwrap().count(), 2);
    }
}
