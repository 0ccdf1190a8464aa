//! Every limit on what peers, trackers and files may send us, in one place.
//! Each constant says its unit and why; each has a test that crosses it.
//! Values follow what libtorrent, Transmission and rqbit enforce
//! (see `shared/limits.md`).

use std::time::Duration;

/// Requests a peer may have queued with us before we disconnect it, in
/// blocks. libtorrent's default is 2000 too: deep enough for a peer that
/// pipelines a fast link (libtorrent itself keeps up to 500 in flight), yet
/// only ~24 KB of bookkeeping, since block data is read when served.
pub const MAX_QUEUED_REQUESTS: usize = 2000;

/// Invalid requests (pieces we lack, out of range, too long, while choked
/// without Fast) a peer may send before we disconnect it, as libtorrent.
pub const MAX_INVALID_REQUESTS: u32 = 300;

/// Time to open a TCP connection to a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time for a peer to complete the handshake once connected; libtorrent
/// allows 10 s.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer that sends nothing at all (not even a keep-alive) for this long
/// is dropped: well above the two-minute keep-alive period of BEP 3
/// clients.
pub const PEER_SILENCE_TIMEOUT: Duration = Duration::from_secs(150);

/// We send a keep-alive after this much idle time: below libtorrent's 120 s
/// inactivity timeout so that it never drops us while choked.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(90);

/// A peer with requests outstanding that sends no block for this long is
/// snubbed: its requests go back to the picker and it gets one at a time.
/// libtorrent uses 20 s; a player cannot wait that long.
pub const SNUB_TIMEOUT: Duration = Duration::from_secs(10);

/// Peer connections of the whole engine (libtorrent and Transmission: 200).
pub const MAX_CONNECTIONS: usize = 200;

/// Peer connections of one torrent (Transmission 50, rqbit 128).
pub const MAX_PEERS_PER_TORRENT: usize = 80;

/// Addresses (from trackers, the user, incoming peers) a torrent remembers
/// for connecting later; more are dropped so a tracker cannot grow memory.
pub const MAX_PEER_CANDIDATES: usize = 2000;

/// Failed pieces an address may take part in before it is banned; the sole
/// supplier of a failed piece is banned at once. libtorrent bans after about
/// four shared failures, Transmission after five.
pub const MAX_HASH_FAILURE_STRIKES: u32 = 3;

/// Events buffered for a consumer that does not keep up; beyond this the
/// oldest are dropped (stats snapshots remain exact).
pub const EVENT_QUEUE_CAPACITY: usize = 4096;

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

/// Largest HTTP tracker reply we read, in bytes (libtorrent's limit). A
/// reply of 200 compact peers is about 1.2 KiB; the body is read in chunks
/// and the request abandoned once past this.
pub const MAX_TRACKER_REPLY_BYTES: usize = 1024 * 1024;

/// Most redirects an HTTP tracker announce follows, and never from a
/// public host to a loopback or private one (request forgery).
pub const MAX_TRACKER_REDIRECTS: usize = 3;

/// Shortest re-announce interval we accept from a tracker, in seconds: a
/// tracker (or a forged reply) must not make us announce in a tight loop.
pub const MIN_ANNOUNCE_INTERVAL_SECS: u64 = 60;

/// Longest re-announce interval we accept from a tracker, in seconds:
/// beyond two hours the peer list goes stale and the tracker forgets us.
pub const MAX_ANNOUNCE_INTERVAL_SECS: u64 = 2 * 60 * 60;

/// Most peers in the `added` list, and in the `dropped` list, of one PEX
/// message (BEP 11, IPv4 and IPv6 together). Larger messages are refused.
pub const MAX_PEX_PEERS: usize = 50;

/// Largest subtitle file of a torrent loaded beside its video, in bytes.
/// A feature film's SRT is ~100 KB and an ASS with styling a few MB; a
/// bigger "subtitle" is not worth delaying or downloading for.
pub const MAX_SUBTITLE_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Largest body we read from one web-seed (BEP 19) response, in bytes. Our
/// range requests never ask for more (adjacent blocks of one piece are
/// coalesced up to this), so a longer body means the server ignored the
/// range or misbehaves; it is refused before it is buffered. Four ranges in
/// flight keep at most 16 MiB per web seed in memory.
pub const MAX_WEB_SEED_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// Most redirects one web-seed request follows, and never from a public
/// host to a loopback or private one (request forgery), as for trackers.
pub const MAX_WEB_SEED_REDIRECTS: usize = 3;

/// A web seed that sends no byte of a response for this long is dropped:
/// long enough for a busy server's first byte, short enough that a
/// player's time-critical blocks go elsewhere. The default of
/// `EngineConfig::web_seed_silence_timeout`.
pub const WEB_SEED_SILENCE_TIMEOUT: Duration = Duration::from_secs(15);

/// HTTP connections `piecewise serve` holds open at once; more are closed
/// as they arrive. Players open one or two (mpv, VLC: a second for the
/// index at the end); a web page that reached the port through DNS
/// rebinding could open hundreds, each a read head and a socket.
pub const MAX_HTTP_CONNECTIONS: usize = 16;

/// Longest `piecewise serve` waits for a request's head, on a new
/// connection or a kept-alive one between requests; then the connection is
/// closed, so idle or trickling clients cannot hold the
/// `MAX_HTTP_CONNECTIONS` slots. Players send a request at once and
/// reconnect when they need more.
pub const HTTP_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Least time between two PEX messages we send to one peer (BEP 11: at
/// most one a minute). A peer's messages that come sooner than half of it
/// after the last one we took are ignored, so a chatty peer cannot make us
/// churn through candidates (half: honest timers jitter).
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);

/// Most DHT nodes saved between runs (and read back), one `IP:PORT` a
/// line: a full routing table of 160 buckets × 8 nodes, so the file stays
/// a few KiB whatever it holds.
pub const MAX_SAVED_DHT_NODES: usize = 1280;
