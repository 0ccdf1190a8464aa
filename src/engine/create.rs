//! Making a v1 `.torrent` (BEP 3, BEP 12, BEP 19) from a file or folder.
//!
//! Files are read in large batches of whole pieces and the pieces of a
//! batch are hashed on all cores, so hashing a 1 GiB file is bound by
//! SHA-1 speed, not by small reads.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha1::{Digest, Sha1};
use thiserror::Error;

use super::metainfo::{
    FileEntry, Info, InfoHash, Metainfo, PathProblem, is_tracker_url, is_web_seed_url,
    sanitize_path_component,
};
use crate::engine::limits::{MAX_PATH_DEPTH, MIN_PIECE_LENGTH};

/// Largest piece length `create` writes, in bytes. Streaming readers wait
/// for whole pieces, so bigger pieces would only slow playback start.
pub const MAX_CREATED_PIECE_LENGTH: u32 = 16 * 1024 * 1024;

/// The piece count the default piece length aims at: enough pieces for a
/// fine-grained picker, few enough to keep the torrent file small.
const TARGET_PIECE_COUNT: u64 = 2000;

/// Bytes read per batch before its pieces are hashed in parallel.
const HASH_BATCH_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum CreateError {
    #[error("piece length {0} must be a power of two from 16 KiB to 16 MiB")]
    InvalidPieceLength(u32),
    #[error("{0:?} is not a usable file or folder name: {1}")]
    UnsafeName(PathBuf, PathProblem),
    #[error("{0:?} is not valid UTF-8, which torrents need for names")]
    NotUtf8(PathBuf),
    #[error("{0:?} is nested more than {MAX_PATH_DEPTH} folders deep")]
    TooDeep(PathBuf),
    #[error("{0:?} contains no data to share")]
    Empty(PathBuf),
    #[error("{0:?} is not a valid tracker URL (http, https or udp)")]
    InvalidTracker(String),
    #[error("{0:?} is not a valid web seed URL (http or https)")]
    InvalidWebSeed(String),
    #[error("{0:?} changed size while it was being hashed")]
    FileChanged(PathBuf),
    #[error("cannot read {path:?}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// What to put into a new torrent besides the data.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// `None` picks one from the content size (see [`default_piece_length`]).
    pub piece_length: Option<u32>,
    /// Tracker URLs, each its own BEP 12 tier, tried in this order.
    pub trackers: Vec<String>,
    pub web_seeds: Vec<String>,
    pub private: bool,
}

/// The smallest power of two from 16 KiB to 16 MiB that keeps the piece
/// count at or below about 2000.
pub fn default_piece_length(total_length: u64) -> u32 {
    let mut length = MIN_PIECE_LENGTH;
    while length < MAX_CREATED_PIECE_LENGTH
        && total_length.div_ceil(u64::from(length)) > TARGET_PIECE_COUNT
    {
        length *= 2;
    }
    length
}

/// Hashes `path` (a file, or a folder taken recursively in name order)
/// into a new torrent. Symbolic links and special files are left out.
pub fn create_torrent(path: &Path, options: &CreateOptions) -> Result<Metainfo, CreateError> {
    for url in &options.trackers {
        if !is_tracker_url(url) {
            return Err(CreateError::InvalidTracker(url.clone()));
        }
    }
    for url in &options.web_seeds {
        if !is_web_seed_url(url) {
            return Err(CreateError::InvalidWebSeed(url.clone()));
        }
    }
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CreateError::Io { path, source }
    };
    let name_os = path
        .canonicalize()
        .map_err(io_error(path))?
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_default();
    let name = checked_name(&name_os, path)?;
    let metadata = std::fs::metadata(path).map_err(io_error(path))?;
    // (path on disk, entry) pairs in torrent order.
    let mut sources = Vec::new();
    if metadata.is_dir() {
        collect_files(path, &PathBuf::from(&name), 1, &mut sources)?;
    } else {
        sources.push((path.to_path_buf(), PathBuf::from(&name), metadata.len()));
    }
    let mut files = Vec::with_capacity(sources.len());
    let mut offset = 0u64;
    for (_, torrent_path, length) in &sources {
        files.push(FileEntry {
            path: torrent_path.clone(),
            length: *length,
            offset,
            pad: false,
        });
        offset += length;
    }
    let total_length = offset;
    if total_length == 0 {
        return Err(CreateError::Empty(path.to_path_buf()));
    }
    let piece_length = match options.piece_length {
        Some(length)
            if length.is_power_of_two()
                && (MIN_PIECE_LENGTH..=MAX_CREATED_PIECE_LENGTH).contains(&length) =>
        {
            length
        }
        Some(length) => return Err(CreateError::InvalidPieceLength(length)),
        None => default_piece_length(total_length),
    };
    let disk_files: Vec<(&Path, u64)> = sources
        .iter()
        .map(|(disk, _, len)| (disk.as_path(), *len))
        .collect();
    let piece_hashes = hash_pieces(&disk_files, piece_length)?;
    let info = Info {
        name,
        piece_length,
        piece_hashes,
        files,
        total_length,
        private: options.private,
    };
    let info_bytes = Bytes::from(info.to_bencode());
    Ok(Metainfo {
        info_hash: InfoHash(Sha1::digest(&info_bytes).into()),
        info,
        info_bytes,
        trackers: options
            .trackers
            .iter()
            .map(|url| vec![url.clone()])
            .collect(),
        web_seeds: options.web_seeds.clone(),
        comment: None,
        created_by: Some(format!("Piecewise {}", env!("CARGO_PKG_VERSION"))),
    })
}

fn checked_name(name: &std::ffi::OsStr, path: &Path) -> Result<String, CreateError> {
    let utf8 = name
        .to_str()
        .ok_or_else(|| CreateError::NotUtf8(path.to_path_buf()))?;
    sanitize_path_component(utf8.as_bytes())
        .map_err(|problem| CreateError::UnsafeName(path.to_path_buf(), problem))
}

fn collect_files(
    dir: &Path,
    torrent_dir: &Path,
    depth: usize,
    out: &mut Vec<(PathBuf, PathBuf, u64)>,
) -> Result<(), CreateError> {
    if depth > MAX_PATH_DEPTH {
        return Err(CreateError::TooDeep(dir.to_path_buf()));
    }
    let io_error = |source| CreateError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let disk_path = entry.path();
        // file_type() does not follow symlinks: links are skipped.
        let file_type = entry.file_type().map_err(io_error)?;
        if !file_type.is_dir() && !file_type.is_file() {
            continue;
        }
        let torrent_path = torrent_dir.join(checked_name(&entry.file_name(), &disk_path)?);
        if file_type.is_dir() {
            collect_files(&disk_path, &torrent_path, depth + 1, out)?;
        } else {
            let length = entry.metadata().map_err(io_error)?.len();
            out.push((disk_path, torrent_path, length));
        }
    }
    Ok(())
}

/// Reads the files as one stream and returns the SHA-1 of every piece.
fn hash_pieces(files: &[(&Path, u64)], piece_length: u32) -> Result<Vec<[u8; 20]>, CreateError> {
    let piece_length = piece_length as usize;
    let batch_len = HASH_BATCH_BYTES.max(piece_length) / piece_length * piece_length;
    let mut batch = vec![0u8; batch_len];
    let mut filled = 0;
    let mut hashes = Vec::new();
    for &(path, expected_len) in files {
        let mut file = File::open(path).map_err(|source| CreateError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut read_total = 0u64;
        loop {
            if filled == batch.len() {
                hash_batch(&batch, piece_length, &mut hashes);
                filled = 0;
            }
            let read = match file.read(&mut batch[filled..]) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CreateError::Io {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            };
            filled += read;
            read_total += read as u64;
            if read_total > expected_len {
                return Err(CreateError::FileChanged(path.to_path_buf()));
            }
        }
        if read_total != expected_len {
            return Err(CreateError::FileChanged(path.to_path_buf()));
        }
    }
    hash_batch(&batch[..filled], piece_length, &mut hashes);
    Ok(hashes)
}

/// Hashes the pieces of one batch on all cores; the last may be short.
fn hash_batch(batch: &[u8], piece_length: usize, hashes: &mut Vec<[u8; 20]>) {
    let pieces: Vec<&[u8]> = batch.chunks(piece_length).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = pieces.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = pieces
            .chunks(per_thread)
            .map(|group| {
                scope.spawn(move || {
                    group
                        .iter()
                        .map(|p| <[u8; 20]>::from(Sha1::digest(p)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            // A hashing thread cannot panic on data; propagate if it did.
            match worker.join() {
                Ok(group) => hashes.extend(group),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, len: usize, seed: u8) -> Vec<u8> {
        let data: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, &data).unwrap();
        data
    }

    #[test]
    fn default_piece_length_aims_at_about_2000_pieces_within_bounds() {
        assert_eq!(default_piece_length(1), MIN_PIECE_LENGTH);
        assert_eq!(default_piece_length(2000 * 16 * 1024), MIN_PIECE_LENGTH);
        assert_eq!(default_piece_length(2000 * 16 * 1024 + 1), 32 * 1024);
        assert_eq!(default_piece_length(1 << 30), 1 << 20);
        assert_eq!(default_piece_length(1 << 50), MAX_CREATED_PIECE_LENGTH);
    }

    #[test]
    fn single_file_pieces_hash_the_file_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.webm");
        let data = write(&path, 100_000, 7);
        let metainfo = create_torrent(
            &path,
            &CreateOptions {
                piece_length: Some(MIN_PIECE_LENGTH),
                trackers: vec!["udp://127.0.0.1:6969".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let expected: Vec<[u8; 20]> = data
            .chunks(MIN_PIECE_LENGTH as usize)
            .map(|c| Sha1::digest(c).into())
            .collect();
        assert_eq!(metainfo.info.piece_hashes, expected);
        assert_eq!(metainfo.info.name, "clip.webm");
        assert!(metainfo.info.is_single_file());
        assert_eq!(
            Metainfo::from_bytes(&metainfo.to_bytes()).unwrap(),
            metainfo
        );
    }

    #[test]
    fn folder_is_taken_in_name_order_with_pieces_spanning_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("show");
        let mut all = write(&root.join("b/part2.mkv"), 30_000, 2);
        let first = write(&root.join("a.mkv"), 20_000, 1);
        write(&root.join("c-empty"), 0, 0);
        all.splice(0..0, first);
        let metainfo = create_torrent(&root, &CreateOptions::default()).unwrap();
        let paths: Vec<&Path> = metainfo
            .info
            .files
            .iter()
            .map(|f| f.path.as_path())
            .collect();
        assert_eq!(
            paths,
            [
                Path::new("show/a.mkv"),
                Path::new("show/b/part2.mkv"),
                Path::new("show/c-empty")
            ]
        );
        let expected: Vec<[u8; 20]> = all
            .chunks(MIN_PIECE_LENGTH as usize)
            .map(|c| Sha1::digest(c).into())
            .collect();
        assert_eq!(metainfo.info.piece_hashes, expected);
        assert_eq!(
            Metainfo::from_bytes(&metainfo.to_bytes()).unwrap(),
            metainfo
        );
    }

    #[test]
    fn pieces_spanning_several_batches_hash_like_one_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let data = write(&path, HASH_BATCH_BYTES * 2 + 12_345, 3);
        let metainfo = create_torrent(&path, &CreateOptions::default()).unwrap();
        let piece = metainfo.info.piece_length as usize;
        let expected: Vec<[u8; 20]> = data.chunks(piece).map(|c| Sha1::digest(c).into()).collect();
        assert_eq!(metainfo.info.piece_hashes, expected);
    }

    #[test]
    fn bad_options_and_empty_content_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        write(&path, 10, 0);
        for length in [
            0,
            MIN_PIECE_LENGTH / 2,
            MIN_PIECE_LENGTH + 1,
            MAX_CREATED_PIECE_LENGTH * 2,
        ] {
            let options = CreateOptions {
                piece_length: Some(length),
                ..Default::default()
            };
            assert!(
                matches!(create_torrent(&path, &options), Err(CreateError::InvalidPieceLength(l)) if l == length)
            );
        }
        let options = CreateOptions {
            trackers: vec!["file:///etc/passwd".into()],
            ..Default::default()
        };
        assert!(matches!(
            create_torrent(&path, &options),
            Err(CreateError::InvalidTracker(_))
        ));
        let options = CreateOptions {
            web_seeds: vec!["udp://127.0.0.1:1".into()],
            ..Default::default()
        };
        assert!(matches!(
            create_torrent(&path, &options),
            Err(CreateError::InvalidWebSeed(_))
        ));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(matches!(
            create_torrent(&empty, &CreateOptions::default()),
            Err(CreateError::Empty(_))
        ));
        assert!(matches!(
            create_torrent(&dir.path().join("missing"), &CreateOptions::default()),
            Err(CreateError::Io { .. })
        ));
    }

    #[test]
    fn symlinks_inside_a_folder_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("show");
        write(&root.join("a"), 10, 0);
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let metainfo = create_torrent(&root, &CreateOptions::default()).unwrap();
        assert_eq!(metainfo.info.files.len(), 1);
    }
}
