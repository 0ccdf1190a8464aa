//! Torrent metainfo (BEP 3, BEP 12, BEP 19): the parsed, validated form of a
//! `.torrent` file or of the info dictionary fetched for a magnet link.

use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;

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
