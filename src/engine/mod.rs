//! The BitTorrent engine: streaming-first, on tokio. No GTK, GLib or
//! GStreamer here; the rest of the application talks to it through
//! [`handle`] and its events. See `DESIGN.md` beside this file.

pub mod bencode;
pub mod bitfield;
pub mod compact;
pub mod create;
pub mod dht;
pub mod events;
pub mod handle;
mod http_guard;
pub mod limits;
pub mod magnet;
mod metadata_fetch;
pub mod metainfo;
pub mod peer;
pub mod picker;
pub mod rate_limit;
mod session;
pub mod storage;
pub mod stream;
pub mod torrent;
pub mod tracker;
pub mod webseed;
pub mod wire;
