//! Every limit on what peers, trackers and files may send us, in one place.
//! Each constant says its unit and why; each has a test that crosses it.
//! Values follow what libtorrent, Transmission and rqbit enforce
//! (see `shared/limits.md`).

/// Deepest nesting of bencoded lists and dictionaries, in levels, for every
/// bencode source (torrents, trackers, BEP 10, BEP 9). Real torrents nest
/// about five levels; 64 keeps the recursive decoder's stack small while
/// leaving room for odd but honest encoders (libtorrent allows 100).
pub const MAX_BENCODE_DEPTH: usize = 64;

/// Most bencode values (integers, strings, lists, dictionaries) in one
/// input. Each decoded value costs about 48 bytes, so this caps the decoded
/// tree at ~50 MB; a torrent of 100,000 files needs well under a million
/// (libtorrent allows 3 million).
pub const MAX_BENCODE_TOKENS: usize = 1_000_000;

/// Largest `.torrent` file we read, in bytes (libtorrent's limit). The
/// biggest honest ones, with hundreds of thousands of pieces or files, stay
/// well below it.
pub const MAX_TORRENT_FILE_BYTES: usize = 10 * 1024 * 1024;

/// Smallest piece length we accept, in bytes: one block. Smaller pieces
/// only make sense for toy torrents and multiply per-piece overhead; zero
/// has crashed other clients.
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;

/// Largest piece length we accept, in bytes. A piece is the unit of
/// verification, so a streaming reader waits for a whole piece before it
/// gets any of it; beyond 64 MiB that wait defeats streaming, and buffers
/// per piece grow with it.
pub const MAX_PIECE_LENGTH: u32 = 64 * 1024 * 1024;

/// Most pieces in one torrent (libtorrent's limit): 40 MiB of hashes
/// already exceed the torrent file size limit, and bitfields stay ≤ 256 KiB.
pub const MAX_PIECE_COUNT: u32 = 2_097_152;

/// Largest single file, in bytes (libtorrent's limit, 2^48 − 1). Keeps sums
/// of file lengths far from u64 overflow.
pub const MAX_FILE_BYTES: u64 = (1 << 48) - 1;

/// Longest path component (file or folder name), in bytes: what Linux file
/// systems accept in one name.
pub const MAX_PATH_COMPONENT_BYTES: usize = 255;

/// Most components in one file's path, below the torrent's folder. Deeper
/// trees only exhaust PATH_MAX or serve as an attack.
pub const MAX_PATH_DEPTH: usize = 100;
