//! Torrent metainfo (BEP 3, BEP 12, BEP 19): the parsed, validated form of a
//! `.torrent` file or of the info dictionary fetched for a magnet link.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha1::{Digest, Sha1};
use thiserror::Error;

use super::bencode::{self, BencodeError, DecodeLimits, Dict, OwnedValue, Value};
use super::limits::{
    MAX_FILE_BYTES, MAX_PATH_COMPONENT_BYTES, MAX_PATH_DEPTH, MAX_PIECE_COUNT, MAX_PIECE_LENGTH,
    MAX_TORRENT_FILE_BYTES, MIN_PIECE_LENGTH,
};

/// SHA-1 of the bencoded info dictionary: the torrent's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

/// One file of the torrent, in torrent order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path below the download folder, already sanitized: it starts
    /// with the torrent's name for multi-file torrents and never leaves the
    /// download folder.
    pub path: PathBuf,
    pub length: u64,
    /// Byte offset of the file's first byte within the torrent's data.
    pub offset: u64,
    /// A BEP 47 pad file: zeros that align the next file to a piece
    /// boundary. Storage need not write it and the UI does not list it.
    pub pad: bool,
}

/// The info dictionary: what the info-hash covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub piece_length: u32,
    pub piece_hashes: Vec<[u8; 20]>,
    pub files: Vec<FileEntry>,
    pub total_length: u64,
    pub private: bool,
}

impl Info {
    pub fn piece_count(&self) -> u32 {
        self.piece_hashes.len() as u32
    }

    /// Length of piece `index`: all are `piece_length` but the last.
    pub fn piece_len(&self, index: u32) -> u32 {
        let start = u64::from(index) * u64::from(self.piece_length);
        let end = (start + u64::from(self.piece_length)).min(self.total_length);
        end.saturating_sub(start) as u32
    }
}

/// The pieces holding any byte of `bytes`, in a torrent of pieces of
/// `piece_length` bytes: empty for no bytes or a zero piece length.
pub fn pieces_holding(bytes: Range<u64>, piece_length: u64) -> Range<u64> {
    if bytes.is_empty() || piece_length == 0 {
        return 0..0;
    }
    bytes.start / piece_length..(bytes.end - 1) / piece_length + 1
}

/// A whole `.torrent`: the info dictionary plus where to find peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    pub info_hash: InfoHash,
    pub info: Info,
    /// The exact bencoded bytes of the info dictionary, served to peers
    /// over `ut_metadata` and hashed into `info_hash`.
    pub info_bytes: Bytes,
    /// Announce tiers (BEP 12); a lone `announce` is one tier of one URL.
    pub trackers: Vec<Vec<String>>,
    /// Web seeds (BEP 19 `url-list`).
    pub web_seeds: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
}

/// Why a `.torrent` file or info dictionary was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetainfoError {
    #[error("the torrent file is {len} bytes, more than the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("the torrent file is not valid bencode: {0}")]
    Bencode(#[from] BencodeError),
    #[error("the torrent file is not a bencoded dictionary")]
    NotADictionary,
    #[error("the torrent has no `{0}` field")]
    MissingField(&'static str),
    #[error("the torrent's `{0}` field has the wrong type or value")]
    InvalidField(&'static str),
    #[error("this is a BitTorrent v2-only torrent, which is not supported")]
    V2Only,
    #[error("piece length {length} is outside {MIN_PIECE_LENGTH}..={MAX_PIECE_LENGTH} bytes")]
    InvalidPieceLength { length: i64 },
    #[error("`pieces` is {len} bytes, not a multiple of 20")]
    PiecesNotMultipleOf20 { len: usize },
    #[error("the torrent has {count} pieces, more than the limit of {MAX_PIECE_COUNT}")]
    TooManyPieces { count: u64 },
    #[error("the torrent's data needs {expected} pieces but {actual} hashes are given")]
    PieceCountMismatch { expected: u64, actual: u64 },
    #[error("file length {length} is negative or larger than {MAX_FILE_BYTES} bytes")]
    InvalidFileLength { length: i64 },
    #[error("the files' lengths add up to more than 2^64 bytes")]
    TotalLengthOverflow,
    #[error("the torrent contains no data")]
    Empty,
    #[error("the info dictionary has both `length` and `files`")]
    BothLengthAndFiles,
    #[error("the info dictionary has neither `length` nor `files`")]
    NeitherLengthNorFiles,
    #[error("unsafe file name {name:?}: {problem}")]
    UnsafePath { name: String, problem: PathProblem },
    #[error("a file path has {depth} components, more than the limit of {MAX_PATH_DEPTH}")]
    PathTooDeep { depth: usize },
    #[error("two files share the path {0:?}")]
    DuplicatePath(PathBuf),
    #[error("symlink entry {0:?} has data; BEP 47 symlinks have length 0")]
    SymlinkWithData(PathBuf),
}

/// What is wrong with one path component (a file or folder name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PathProblem {
    #[error("it is empty")]
    Empty,
    #[error("it is `.` or `..`")]
    DotComponent,
    #[error("it contains a path separator")]
    Separator,
    #[error("it contains a NUL or control character")]
    ControlCharacter,
    #[error("it contains a bidirectional text control, which can disguise a file type")]
    BidiControl,
    #[error("it is longer than {MAX_PATH_COMPONENT_BYTES} bytes")]
    TooLong,
}

/// Checks one path component from untrusted input (torrent `name`, `path`
/// elements, magnet `dn`) and returns it as a string. Invalid UTF-8 is
/// replaced rather than refused, as old torrents carry legacy encodings.
pub fn sanitize_path_component(raw: &[u8]) -> Result<String, PathProblem> {
    let name = String::from_utf8_lossy(raw);
    if name.is_empty() {
        return Err(PathProblem::Empty);
    }
    if name == "." || name == ".." {
        return Err(PathProblem::DotComponent);
    }
    if name.contains(['/', '\\']) {
        return Err(PathProblem::Separator);
    }
    if name.chars().any(char::is_control) {
        return Err(PathProblem::ControlCharacter);
    }
    if name.chars().any(is_bidi_control) {
        return Err(PathProblem::BidiControl);
    }
    if name.len() > MAX_PATH_COMPONENT_BYTES {
        return Err(PathProblem::TooLong);
    }
    Ok(name.into_owned())
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl Metainfo {
    /// Parses and validates a whole `.torrent` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        if bytes.len() > MAX_TORRENT_FILE_BYTES {
            return Err(MetainfoError::TooLarge {
                len: bytes.len(),
                limit: MAX_TORRENT_FILE_BYTES,
            });
        }
        let root = bencode::decode(bytes, DecodeLimits::with_max_bytes(MAX_TORRENT_FILE_BYTES))?;
        let root = root.as_dict().ok_or(MetainfoError::NotADictionary)?;
        let info = match root.get(b"info") {
            Some(Value::Dict(info)) => info,
            Some(_) => return Err(MetainfoError::InvalidField("info")),
            None => return Err(MetainfoError::MissingField("info")),
        };
        let mut metainfo = Metainfo::from_info_dict(info)?;
        metainfo.trackers = parse_trackers(root);
        metainfo.web_seeds = parse_web_seeds(root);
        metainfo.comment = text_field(root, b"comment");
        metainfo.created_by = text_field(root, b"created by");
        Ok(metainfo)
    }

    /// Builds a metainfo from a bare info dictionary, as fetched from peers
    /// for a magnet link (BEP 9); it has no trackers or web seeds of its own.
    pub fn from_info_bytes(info_bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        let value = bencode::decode(
            info_bytes,
            DecodeLimits::with_max_bytes(MAX_TORRENT_FILE_BYTES),
        )?;
        let info = value.as_dict().ok_or(MetainfoError::NotADictionary)?;
        Metainfo::from_info_dict(info)
    }

    fn from_info_dict(info: &Dict<'_>) -> Result<Metainfo, MetainfoError> {
        let parsed = Info::from_dict(info)?;
        Ok(Metainfo {
            info_hash: InfoHash(Sha1::digest(info.raw).into()),
            info: parsed,
            info_bytes: Bytes::copy_from_slice(info.raw),
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            created_by: None,
        })
    }

    /// Encodes the whole `.torrent`, keeping the info dictionary's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut root = std::collections::BTreeMap::new();
        let mut urls = self.trackers.iter().flatten();
        if let Some(first) = urls.next() {
            root.insert(b"announce".to_vec(), OwnedValue::string(first));
        }
        if urls.next().is_some() {
            let tiers = self
                .trackers
                .iter()
                .map(|tier| {
                    OwnedValue::List(tier.iter().map(|url| OwnedValue::string(url)).collect())
                })
                .collect();
            root.insert(b"announce-list".to_vec(), OwnedValue::List(tiers));
        }
        if !self.web_seeds.is_empty() {
            let seeds = self
                .web_seeds
                .iter()
                .map(|url| OwnedValue::string(url))
                .collect();
            root.insert(b"url-list".to_vec(), OwnedValue::List(seeds));
        }
        if let Some(comment) = &self.comment {
            root.insert(b"comment".to_vec(), OwnedValue::string(comment));
        }
        if let Some(created_by) = &self.created_by {
            root.insert(b"created by".to_vec(), OwnedValue::string(created_by));
        }
        root.insert(b"info".to_vec(), OwnedValue::Raw(self.info_bytes.clone()));
        OwnedValue::Dict(root).encode()
    }
}

impl Info {
    fn from_dict(info: &Dict<'_>) -> Result<Info, MetainfoError> {
        let pieces = match info.get(b"pieces") {
            Some(value) => value
                .as_bytes()
                .ok_or(MetainfoError::InvalidField("pieces"))?,
            None if info.get(b"meta version").and_then(Value::as_int) == Some(2) => {
                return Err(MetainfoError::V2Only);
            }
            None => return Err(MetainfoError::MissingField("pieces")),
        };
        let piece_length = match info.get(b"piece length") {
            Some(Value::Int(length)) => u32::try_from(*length)
                .ok()
                .filter(|l| (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(l))
                .ok_or(MetainfoError::InvalidPieceLength { length: *length })?,
            Some(_) => return Err(MetainfoError::InvalidField("piece length")),
            None => return Err(MetainfoError::MissingField("piece length")),
        };
        if pieces.len() % 20 != 0 {
            return Err(MetainfoError::PiecesNotMultipleOf20 { len: pieces.len() });
        }
        let hash_count = (pieces.len() / 20) as u64;
        if hash_count > u64::from(MAX_PIECE_COUNT) {
            return Err(MetainfoError::TooManyPieces { count: hash_count });
        }
        let name = {
            let raw = utf8_variant(info, b"name")
                .ok_or(MetainfoError::MissingField("name"))?
                .as_bytes()
                .ok_or(MetainfoError::InvalidField("name"))?;
            sanitize_path_component(raw).map_err(|problem| MetainfoError::UnsafePath {
                name: String::from_utf8_lossy(raw).into_owned(),
                problem,
            })?
        };
        let files = match (info.get(b"length"), info.get(b"files")) {
            (Some(_), Some(_)) => return Err(MetainfoError::BothLengthAndFiles),
            (None, None) => return Err(MetainfoError::NeitherLengthNorFiles),
            (Some(length), None) => vec![FileEntry {
                path: PathBuf::from(&name),
                length: file_length(length)?,
                offset: 0,
                pad: false,
            }],
            (None, Some(Value::List(list))) => parse_files(&name, &list.items)?,
            (None, Some(_)) => return Err(MetainfoError::InvalidField("files")),
        };
        let total_length = files.last().map_or(0, |f| f.offset + f.length);
        if total_length == 0 {
            return Err(MetainfoError::Empty);
        }
        let expected = total_length.div_ceil(u64::from(piece_length));
        if expected != hash_count {
            return Err(MetainfoError::PieceCountMismatch {
                expected,
                actual: hash_count,
            });
        }
        let piece_hashes = pieces
            .chunks_exact(20)
            .map(|chunk| {
                let mut hash = [0; 20];
                hash.copy_from_slice(chunk);
                hash
            })
            .collect();
        Ok(Info {
            name,
            piece_length,
            piece_hashes,
            files,
            total_length,
            private: info.get(b"private").and_then(Value::as_int) == Some(1),
        })
    }

    /// Whether this is a single-file torrent: one file named like the
    /// torrent, with no folder.
    pub fn is_single_file(&self) -> bool {
        matches!(self.files.as_slice(), [file] if file.path == Path::new(&self.name))
    }

    /// Encodes the info dictionary (BEP 3, with BEP 47 pad attributes).
    pub fn to_bencode(&self) -> Vec<u8> {
        let pieces: Vec<u8> = self.piece_hashes.iter().flatten().copied().collect();
        let mut info = bencode::dict([
            ("name", OwnedValue::string(&self.name)),
            (
                "piece length",
                OwnedValue::Int(i64::from(self.piece_length)),
            ),
            ("pieces", OwnedValue::Bytes(pieces.into())),
        ]);
        if let OwnedValue::Dict(entries) = &mut info {
            if self.is_single_file() {
                entries.insert(
                    b"length".to_vec(),
                    OwnedValue::Int(self.total_length as i64),
                );
            } else {
                let files = self
                    .files
                    .iter()
                    .map(|file| self.file_to_bencode(file))
                    .collect();
                entries.insert(b"files".to_vec(), OwnedValue::List(files));
            }
            if self.private {
                entries.insert(b"private".to_vec(), OwnedValue::Int(1));
            }
        }
        info.encode()
    }

    fn file_to_bencode(&self, file: &FileEntry) -> OwnedValue {
        let relative = file.path.strip_prefix(&self.name).unwrap_or(&file.path);
        let components = relative
            .components()
            .map(|c| OwnedValue::string(&c.as_os_str().to_string_lossy()))
            .collect();
        let mut entry = bencode::dict([
            ("length", OwnedValue::Int(file.length as i64)),
            ("path", OwnedValue::List(components)),
        ]);
        if file.pad
            && let OwnedValue::Dict(entries) = &mut entry
        {
            entries.insert(b"attr".to_vec(), OwnedValue::string("p"));
        }
        entry
    }
}

/// Prefers the `<key>.utf-8` variant some clients add beside a field in a
/// legacy encoding.
fn utf8_variant<'v, 'a>(dict: &'v Dict<'a>, key: &[u8]) -> Option<&'v Value<'a>> {
    let mut utf8_key = key.to_vec();
    utf8_key.extend_from_slice(b".utf-8");
    dict.get(&utf8_key)
        .filter(|v| v.as_bytes().is_some() || v.as_list().is_some())
        .or_else(|| dict.get(key))
}

fn file_length(value: &Value<'_>) -> Result<u64, MetainfoError> {
    let length = value
        .as_int()
        .ok_or(MetainfoError::InvalidField("length"))?;
    u64::try_from(length)
        .ok()
        .filter(|&l| l <= MAX_FILE_BYTES)
        .ok_or(MetainfoError::InvalidFileLength { length })
}

fn parse_files(name: &str, entries: &[Value<'_>]) -> Result<Vec<FileEntry>, MetainfoError> {
    let mut files = Vec::with_capacity(entries.len());
    let mut offset = 0u64;
    for entry in entries {
        let entry = entry
            .as_dict()
            .ok_or(MetainfoError::InvalidField("files"))?;
        let length = file_length(
            entry
                .get(b"length")
                .ok_or(MetainfoError::MissingField("length"))?,
        )?;
        let components = utf8_variant(entry, b"path")
            .ok_or(MetainfoError::MissingField("path"))?
            .as_list()
            .ok_or(MetainfoError::InvalidField("path"))?;
        if components.items.is_empty() {
            return Err(MetainfoError::UnsafePath {
                name: String::new(),
                problem: PathProblem::Empty,
            });
        }
        if components.items.len() > MAX_PATH_DEPTH {
            return Err(MetainfoError::PathTooDeep {
                depth: components.items.len(),
            });
        }
        let mut path = PathBuf::from(name);
        for component in &components.items {
            let raw = component
                .as_bytes()
                .ok_or(MetainfoError::InvalidField("path"))?;
            let checked =
                sanitize_path_component(raw).map_err(|problem| MetainfoError::UnsafePath {
                    name: String::from_utf8_lossy(raw).into_owned(),
                    problem,
                })?;
            path.push(checked);
        }
        let attributes = entry
            .get(b"attr")
            .and_then(Value::as_bytes)
            .unwrap_or_default();
        if attributes.contains(&b'l') {
            // BEP 47 symlinks are never created: a link could point outside
            // the download folder. Skip them if they carry no data.
            if length != 0 {
                return Err(MetainfoError::SymlinkWithData(path));
            }
            continue;
        }
        files.push(FileEntry {
            path,
            length,
            offset,
            pad: attributes.contains(&b'p'),
        });
        // 65,536 files of 2^48 bytes already wrap a u64: other clients did.
        offset = offset
            .checked_add(length)
            .ok_or(MetainfoError::TotalLengthOverflow)?;
    }
    // Two files clash when one path equals or is a folder of another. In
    // component order such a pair is adjacent, so sorting finds every clash
    // without building a set of all folders (deep hostile trees).
    let mut paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    paths.sort_unstable();
    if let Some(pair) = paths.windows(2).find(|pair| pair[1].starts_with(pair[0])) {
        return Err(MetainfoError::DuplicatePath(pair[0].to_path_buf()));
    }
    Ok(files)
}

fn parse_trackers(root: &Dict<'_>) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    let mut keep = |url: &str| is_tracker_url(url) && seen.insert(url.to_owned());
    // BEP 12: when `announce-list` is present, `announce` is ignored.
    if let Some(Value::List(tiers)) = root.get(b"announce-list") {
        let tiers: Vec<Vec<String>> = tiers
            .items
            .iter()
            .filter_map(Value::as_list)
            .map(|tier| {
                tier.items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::trim)
                    .filter(|url| keep(url))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|tier| !tier.is_empty())
            .collect();
        if !tiers.is_empty() {
            return tiers;
        }
    }
    root.get(b"announce")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|url| keep(url))
        .map(|url| vec![vec![url.to_owned()]])
        .unwrap_or_default()
}

/// Tracker URLs we may contact: http, https and udp only.
pub fn is_tracker_url(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "udp") && u.host().is_some())
}

/// Web seed URLs we may fetch from: http and https only.
pub fn is_web_seed_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn parse_web_seeds(root: &Dict<'_>) -> Vec<String> {
    let urls: Vec<&str> = match root.get(b"url-list") {
        Some(Value::Bytes(_)) => root
            .get(b"url-list")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        Some(Value::List(list)) => list.items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut seeds: Vec<String> = Vec::new();
    for url in urls.into_iter().map(str::trim) {
        if is_web_seed_url(url) && !seeds.iter().any(|s| s == url) {
            seeds.push(url.to_owned());
        }
    }
    seeds
}

fn text_field(dict: &Dict<'_>, key: &[u8]) -> Option<String> {
    utf8_variant(dict, key)
        .and_then(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::bencode::dict;

    const PIECE: u32 = MIN_PIECE_LENGTH;

    fn s(text: &str) -> OwnedValue {
        OwnedValue::string(text)
    }

    fn list(items: Vec<OwnedValue>) -> OwnedValue {
        OwnedValue::List(items)
    }

    fn pieces(count: usize) -> OwnedValue {
        OwnedValue::Bytes((0..count * 20).map(|i| i as u8).collect::<Vec<u8>>().into())
    }

    fn file(length: i64, path: &[&str]) -> OwnedValue {
        dict([
            ("length", OwnedValue::Int(length)),
            ("path", list(path.iter().map(|c| s(c)).collect())),
        ])
    }

    fn single_info(length: i64) -> OwnedValue {
        dict([
            ("length", OwnedValue::Int(length)),
            ("name", s("movie.mkv")),
            ("piece length", OwnedValue::Int(i64::from(PIECE))),
            (
                "pieces",
                pieces((length as u64).div_ceil(u64::from(PIECE)) as usize),
            ),
        ])
    }

    fn multi_info(files: Vec<OwnedValue>, piece_count: usize) -> OwnedValue {
        dict([
            ("files", list(files)),
            ("name", s("show")),
            ("piece length", OwnedValue::Int(i64::from(PIECE))),
            ("pieces", pieces(piece_count)),
        ])
    }

    fn torrent(info: OwnedValue) -> Vec<u8> {
        dict([
            ("announce", s("http://127.0.0.1:6969/announce")),
            ("info", info),
        ])
        .encode()
    }

    fn with_info_field(key: &str, value: OwnedValue) -> Vec<u8> {
        let mut info = single_info(100_000);
        if let OwnedValue::Dict(entries) = &mut info {
            entries.insert(key.as_bytes().to_vec(), value);
        }
        torrent(info)
    }

    fn multi_file_error(files: Vec<OwnedValue>) -> MetainfoError {
        Metainfo::from_bytes(&torrent(multi_info(files, 1))).unwrap_err()
    }

    #[test]
    fn single_file_torrent_parses_and_hashes_the_raw_info_bytes() {
        let info = single_info(100_000);
        let info_bytes = info.encode();
        let metainfo = Metainfo::from_bytes(&torrent(info)).unwrap();
        assert_eq!(
            metainfo.info_hash.0,
            <[u8; 20]>::from(Sha1::digest(&info_bytes))
        );
        assert_eq!(metainfo.info_bytes, info_bytes);
        assert_eq!(
            metainfo.trackers,
            vec![vec!["http://127.0.0.1:6969/announce".to_owned()]]
        );
        let info = &metainfo.info;
        assert_eq!(info.name, "movie.mkv");
        assert_eq!(info.total_length, 100_000);
        assert_eq!(info.piece_count(), 7);
        assert_eq!(info.piece_len(6), 100_000 - 6 * PIECE);
        assert!(info.is_single_file());
        assert_eq!(
            info.files,
            vec![FileEntry {
                path: "movie.mkv".into(),
                length: 100_000,
                offset: 0,
                pad: false
            }]
        );
        assert_eq!(info.to_bencode(), info_bytes);
        assert_eq!(Metainfo::from_bytes(&metainfo.to_bytes()), Ok(metainfo));
    }

    #[test]
    fn multi_file_torrent_has_folder_paths_offsets_and_zero_length_files() {
        let files = vec![
            file(40_000, &["video", "a.mp4"]),
            file(0, &["empty.txt"]),
            dict([
                ("attr", s("p")),
                ("length", OwnedValue::Int(9_152)),
                ("path", list(vec![s(".pad"), s("9152")])),
            ]),
            file(20_000, &["b.srt"]),
        ];
        let info = multi_info(files, 5);
        let info_bytes = info.encode();
        let metainfo = Metainfo::from_bytes(&torrent(info)).unwrap();
        let info = &metainfo.info;
        assert!(!info.is_single_file());
        assert_eq!(info.total_length, 69_152);
        let layout: Vec<(PathBuf, u64, u64, bool)> = info
            .files
            .iter()
            .map(|f| (f.path.clone(), f.length, f.offset, f.pad))
            .collect();
        assert_eq!(
            layout,
            vec![
                ("show/video/a.mp4".into(), 40_000, 0, false),
                ("show/empty.txt".into(), 0, 40_000, false),
                ("show/.pad/9152".into(), 9_152, 40_000, true),
                ("show/b.srt".into(), 20_000, 49_152, false),
            ]
        );
        assert_eq!(info.to_bencode(), info_bytes);
        let rebuilt = Metainfo::from_info_bytes(&info_bytes).unwrap();
        assert_eq!(rebuilt.info_hash, metainfo.info_hash);
        assert!(rebuilt.trackers.is_empty());
    }

    #[test]
    fn symlink_entries_are_skipped_and_must_have_no_data() {
        let link = |length| {
            dict([
                ("attr", s("l")),
                ("length", OwnedValue::Int(length)),
                ("path", list(vec![s("link")])),
                ("symlink path", list(vec![s(".."), s("etc")])),
            ])
        };
        let metainfo =
            Metainfo::from_bytes(&torrent(multi_info(vec![link(0), file(10, &["a"])], 1))).unwrap();
        assert_eq!(metainfo.info.files.len(), 1);
        assert_eq!(metainfo.info.files[0].path, Path::new("show/a"));
        assert_eq!(
            multi_file_error(vec![link(5), file(10, &["a"])]),
            MetainfoError::SymlinkWithData("show/link".into())
        );
    }

    #[test]
    fn announce_list_tiers_replace_announce_and_unsafe_schemes_are_dropped() {
        let bytes = dict([
            ("announce", s("http://ignored.example/announce")),
            (
                "announce-list",
                list(vec![
                    list(vec![
                        s("udp://a.example:80"),
                        s("file:///etc/passwd"),
                        s("https://b.example/a"),
                    ]),
                    list(vec![s("javascript:alert(1)")]),
                    list(vec![
                        s("udp://a.example:80"),
                        s("http://c.example/announce"),
                    ]),
                ]),
            ),
            ("url-list", s("https://seed.example/movie.mkv")),
            ("comment", s("hello")),
            ("info", single_info(1)),
        ])
        .encode();
        let metainfo = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(
            metainfo.trackers,
            vec![
                vec![
                    "udp://a.example:80".to_owned(),
                    "https://b.example/a".to_owned()
                ],
                vec!["http://c.example/announce".to_owned()],
            ]
        );
        assert_eq!(
            metainfo.web_seeds,
            vec!["https://seed.example/movie.mkv".to_owned()]
        );
        assert_eq!(metainfo.comment.as_deref(), Some("hello"));
        assert_eq!(Metainfo::from_bytes(&metainfo.to_bytes()), Ok(metainfo));
    }

    #[test]
    fn url_list_may_be_a_list_and_keeps_only_http_urls() {
        let bytes = dict([
            ("info", single_info(1)),
            (
                "url-list",
                list(vec![
                    s("http://a.example/"),
                    s("ftp://b.example/"),
                    s("http://a.example/"),
                ]),
            ),
        ])
        .encode();
        let metainfo = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(metainfo.web_seeds, vec!["http://a.example/".to_owned()]);
        assert!(metainfo.trackers.is_empty());
    }

    #[test]
    fn torrent_file_larger_than_the_limit_is_rejected() {
        let padded = |n: usize| with_info_field("padding", OwnedValue::Bytes(vec![0; n].into()));
        let probe = MAX_TORRENT_FILE_BYTES - 1000;
        let overhead = padded(probe).len() - probe;
        let at_limit = padded(MAX_TORRENT_FILE_BYTES - overhead);
        assert_eq!(at_limit.len(), MAX_TORRENT_FILE_BYTES);
        assert!(Metainfo::from_bytes(&at_limit).is_ok());
        let over = padded(MAX_TORRENT_FILE_BYTES - overhead + 1);
        assert_eq!(
            Metainfo::from_bytes(&over),
            Err(MetainfoError::TooLarge {
                len: MAX_TORRENT_FILE_BYTES + 1,
                limit: MAX_TORRENT_FILE_BYTES
            })
        );
    }

    #[test]
    fn hostile_bencode_is_rejected_before_validation() {
        let mut deep = b"d4:info".to_vec();
        deep.extend(std::iter::repeat_n(b'l', 10_000));
        assert!(matches!(
            Metainfo::from_bytes(&deep),
            Err(MetainfoError::Bencode(BencodeError::TooDeep { .. }))
        ));
        assert!(matches!(
            Metainfo::from_bytes(b"d4:info999999999999:e"),
            Err(MetainfoError::Bencode(BencodeError::StringPastEnd { .. }))
        ));
        assert_eq!(
            Metainfo::from_bytes(b"le"),
            Err(MetainfoError::NotADictionary)
        );
        assert_eq!(
            Metainfo::from_bytes(b"de"),
            Err(MetainfoError::MissingField("info"))
        );
        assert_eq!(
            Metainfo::from_bytes(b"d4:infoi1ee"),
            Err(MetainfoError::InvalidField("info"))
        );
    }

    #[test]
    fn piece_length_outside_the_bounds_is_rejected() {
        for length in [
            0,
            -1,
            i64::from(MIN_PIECE_LENGTH) - 1,
            i64::from(MAX_PIECE_LENGTH) + 1,
            1 << 40,
        ] {
            assert_eq!(
                Metainfo::from_bytes(&with_info_field("piece length", OwnedValue::Int(length))),
                Err(MetainfoError::InvalidPieceLength { length }),
            );
        }
        let mut info = single_info(i64::from(MAX_PIECE_LENGTH));
        if let OwnedValue::Dict(entries) = &mut info {
            entries.insert(
                b"piece length".to_vec(),
                OwnedValue::Int(i64::from(MAX_PIECE_LENGTH)),
            );
            entries.insert(b"pieces".to_vec(), pieces(1));
        }
        assert_eq!(
            Metainfo::from_bytes(&torrent(info)).map(|m| m.info.piece_count()),
            Ok(1)
        );
    }

    #[test]
    fn pieces_must_be_whole_hashes_matching_the_data_length() {
        assert_eq!(
            Metainfo::from_bytes(&with_info_field(
                "pieces",
                OwnedValue::Bytes(vec![0; 139].into())
            )),
            Err(MetainfoError::PiecesNotMultipleOf20 { len: 139 })
        );
        assert_eq!(
            Metainfo::from_bytes(&with_info_field("pieces", pieces(8))),
            Err(MetainfoError::PieceCountMismatch {
                expected: 7,
                actual: 8
            })
        );
        assert_eq!(
            Metainfo::from_bytes(&with_info_field("pieces", pieces(6))),
            Err(MetainfoError::PieceCountMismatch {
                expected: 7,
                actual: 6
            })
        );
    }

    #[test]
    fn more_pieces_than_the_limit_are_rejected() {
        let count = MAX_PIECE_COUNT as usize + 1;
        let mut info = single_info(1);
        if let OwnedValue::Dict(entries) = &mut info {
            entries.insert(
                b"pieces".to_vec(),
                OwnedValue::Bytes(vec![0; count * 20].into()),
            );
        }
        let encoded = info.encode();
        // Past the file size limit too, so check the info dictionary alone.
        let value = bencode::decode(&encoded, DecodeLimits::with_max_bytes(usize::MAX)).unwrap();
        assert_eq!(
            Info::from_dict(value.as_dict().unwrap()),
            Err(MetainfoError::TooManyPieces {
                count: count as u64
            })
        );
    }

    #[test]
    fn file_lengths_must_be_non_negative_bounded_and_add_up_without_overflow() {
        assert_eq!(
            Metainfo::from_bytes(&with_info_field("length", OwnedValue::Int(-1))),
            Err(MetainfoError::InvalidFileLength { length: -1 })
        );
        let too_big = MAX_FILE_BYTES as i64 + 1;
        assert_eq!(
            multi_file_error(vec![file(too_big, &["a"])]),
            MetainfoError::InvalidFileLength { length: too_big }
        );
        let names: Vec<String> = (0..65_537).map(|i| format!("f{i}")).collect();
        let files = names
            .iter()
            .map(|n| file(MAX_FILE_BYTES as i64, &[n]))
            .collect();
        assert_eq!(multi_file_error(files), MetainfoError::TotalLengthOverflow);
    }

    #[test]
    fn torrents_without_data_or_with_ambiguous_layout_are_rejected() {
        assert_eq!(
            Metainfo::from_bytes(&torrent(multi_info(vec![file(0, &["a"])], 0))),
            Err(MetainfoError::Empty)
        );
        assert_eq!(
            Metainfo::from_bytes(&torrent(multi_info(vec![], 0))),
            Err(MetainfoError::Empty)
        );
        assert_eq!(
            Metainfo::from_bytes(&with_info_field("files", list(vec![file(1, &["a"])]))),
            Err(MetainfoError::BothLengthAndFiles)
        );
        let mut info = single_info(1);
        if let OwnedValue::Dict(entries) = &mut info {
            entries.remove(b"length".as_slice());
        }
        assert_eq!(
            Metainfo::from_bytes(&torrent(info)),
            Err(MetainfoError::NeitherLengthNorFiles)
        );
        let v2 = dict([
            ("meta version", OwnedValue::Int(2)),
            ("name", s("x")),
            ("piece length", OwnedValue::Int(16384)),
        ]);
        assert_eq!(
            Metainfo::from_bytes(&torrent(v2)),
            Err(MetainfoError::V2Only)
        );
    }

    #[test]
    fn path_traversal_and_unsafe_names_are_rejected() {
        let cases: [(&[&str], PathProblem); 9] = [
            (&["..", "etc", "passwd"], PathProblem::DotComponent),
            (&["a", "."], PathProblem::DotComponent),
            (&["/etc/passwd"], PathProblem::Separator),
            (&["a\\..\\b"], PathProblem::Separator),
            (&["a", ""], PathProblem::Empty),
            (&[], PathProblem::Empty),
            (&["nul\0byte"], PathProblem::ControlCharacter),
            (&["movie\u{202e}vkm.exe"], PathProblem::BidiControl),
            (
                &[&"x".repeat(MAX_PATH_COMPONENT_BYTES + 1)],
                PathProblem::TooLong,
            ),
        ];
        for (path, problem) in cases {
            assert!(
                matches!(multi_file_error(vec![file(1, path)]), MetainfoError::UnsafePath { problem: p, .. } if p == problem),
                "{path:?}"
            );
        }
        assert!(
            Metainfo::from_bytes(&torrent(multi_info(
                vec![file(1, &[&"x".repeat(MAX_PATH_COMPONENT_BYTES)])],
                1
            )))
            .is_ok()
        );
        for name in ["..", "", "a/b", "/"] {
            assert!(
                matches!(
                    Metainfo::from_bytes(&with_info_field("name", s(name))),
                    Err(MetainfoError::UnsafePath { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn paths_deeper_than_the_limit_are_rejected() {
        let deep: Vec<&str> = vec!["d"; MAX_PATH_DEPTH + 1];
        assert_eq!(
            multi_file_error(vec![file(1, &deep)]),
            MetainfoError::PathTooDeep {
                depth: MAX_PATH_DEPTH + 1
            }
        );
        let ok: Vec<&str> = vec!["d"; MAX_PATH_DEPTH];
        assert!(Metainfo::from_bytes(&torrent(multi_info(vec![file(1, &ok)], 1))).is_ok());
    }

    #[test]
    fn files_that_would_overwrite_each_other_are_rejected() {
        assert_eq!(
            multi_file_error(vec![file(1, &["a"]), file(1, &["a"])]),
            MetainfoError::DuplicatePath("show/a".into())
        );
        assert_eq!(
            multi_file_error(vec![file(1, &["a"]), file(1, &["a", "b"])]),
            MetainfoError::DuplicatePath("show/a".into())
        );
        assert_eq!(
            multi_file_error(vec![file(1, &["a", "b"]), file(1, &["a"])]),
            MetainfoError::DuplicatePath("show/a".into())
        );
        assert_eq!(
            multi_file_error(vec![
                file(1, &["x", "y", "z"]),
                file(1, &["a", "b"]),
                file(1, &["x", "y"])
            ]),
            MetainfoError::DuplicatePath("show/x/y".into())
        );
        // Names that merely share a prefix do not clash.
        let siblings = vec![
            file(1, &["a"]),
            file(1, &["ab"]),
            file(1, &["a.b", "c"]),
            file(1, &["a b"]),
        ];
        assert!(Metainfo::from_bytes(&torrent(multi_info(siblings, 1))).is_ok());
    }

    #[test]
    fn utf8_name_variant_is_preferred_over_legacy_encoding() {
        let bytes = with_info_field("name.utf-8", s("film.mkv"));
        assert_eq!(
            Metainfo::from_bytes(&bytes).map(|m| m.info.name),
            Ok("film.mkv".to_owned())
        );
        let legacy = with_info_field("name", OwnedValue::Bytes(vec![b'f', 0xe9, b'e'].into()));
        assert_eq!(
            Metainfo::from_bytes(&legacy).map(|m| m.info.name),
            Ok("f\u{fffd}e".to_owned())
        );
    }

    #[test]
    fn randomly_corrupted_torrents_are_refused_or_parsed_but_never_panic() {
        use rand::{Rng, SeedableRng};
        let original = torrent(multi_info(
            vec![file(40_000, &["video", "a.mp4"]), file(20_000, &["b.srt"])],
            4,
        ));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let mut bytes = original.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.r#gen();
            }
            bytes.truncate(rng.gen_range(bytes.len() / 2..=bytes.len()));
            let _ = Metainfo::from_bytes(&bytes);
        }
    }
    #[test]
    fn pieces_holding_a_byte_range_include_both_partial_ends() {
        assert_eq!(pieces_holding(0..400, 100), 0..4);
        assert_eq!(pieces_holding(150..350, 100), 1..4);
        assert_eq!(pieces_holding(250..251, 100), 2..3);
        assert_eq!(pieces_holding(100..100, 100), 0..0);
        assert_eq!(pieces_holding(0..400, 0), 0..0);
    }
}
