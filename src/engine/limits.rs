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

/// Largest peer wire message we accept, in bytes after the 4-byte length
/// prefix: a bitfield for `MAX_PIECE_COUNT` pieces plus its id. Checked on
/// the prefix before any payload is buffered; larger ones disconnect the
/// peer (libtorrent's cap is 1 MiB, but nothing legitimate needs more).
pub const MAX_MESSAGE_BYTES: u32 = MAX_PIECE_COUNT / 8 + 1;

/// Largest `piece` message payload, in bytes: one 16 KiB block (BEP 3
/// requests never ask for more; libtorrent disconnects beyond it).
pub const MAX_BLOCK_BYTES: u32 = 16 * 1024;

/// Largest extension protocol message (BEP 10), in bytes after the length
/// prefix. The biggest legitimate one is a `ut_metadata` data message: a
/// 16 KiB metadata piece plus a small dictionary; handshakes and PEX are a
/// few hundred bytes. Transmission once let these grow without bound.
pub const MAX_EXTENDED_MESSAGE_BYTES: u32 = 20 * 1024;

/// Most entries in a BEP 10 handshake's `m` dictionary. Clients announce a
/// handful; the byte id space has 255.
pub const MAX_EXTENSION_NAMES: usize = 64;

/// Longest client name (`v`) kept from a BEP 10 handshake, in bytes; longer
/// names are truncated (it is display-only).
pub const MAX_CLIENT_NAME_BYTES: usize = 128;

/// Largest info dictionary we fetch from peers (BEP 9), in bytes. 16 MiB
/// (anacrolix's limit) holds torrents of ~800,000 pieces; larger
/// `metadata_size` announcements are ignored.
pub const MAX_METADATA_BYTES: u32 = 16 * 1024 * 1024;

/// Longest magnet URI we parse, in bytes. Magnets arrive from clipboards
/// and web pages; a few dozen trackers and peers fit in well under 16 KiB.
pub const MAX_MAGNET_URI_BYTES: usize = 64 * 1024;
