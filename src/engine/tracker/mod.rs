//! Trackers: HTTP(S) announces (BEP 3, BEP 23 compact peers, BEP 7
//! `peers6`), UDP announces (BEP 15), and the per-torrent [`Announcer`]
//! task that works through announce tiers (BEP 12).
//!
//! Every tracker failure is a value ([`TrackerError`]) and, in the
//! announcer, an event: a torrent never fails because a tracker did.

mod announcer;
mod http;
mod udp;

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use super::limits::{MAX_ANNOUNCE_INTERVAL_SECS, MIN_ANNOUNCE_INTERVAL_SECS};
use super::metainfo::InfoHash;
use super::wire::PeerId;

pub use announcer::{AnnounceTarget, Announcer, TrackerEvent, TransferStats};

/// The `event` of an announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// A regular re-announce.
    None,
    Started,
    Completed,
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// Our listening port for peer connections.
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: AnnounceEvent,
    /// How many peers we would like; the tracker may send fewer.
    pub num_want: u32,
    /// A random number that identifies us across IP changes (BEP 15 `key`).
    pub key: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceReply {
    /// When to announce next, clamped to
    /// `MIN_ANNOUNCE_INTERVAL_SECS..=MAX_ANNOUNCE_INTERVAL_SECS`.
    pub interval: Duration,
    /// The earliest an extra announce is welcome, within the same bounds.
    pub min_interval: Option<Duration>,
    /// Peers, possibly including ourselves: sessions drop self-connections
    /// by peer id.
    pub peers: Vec<SocketAddr>,
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
    /// A tracker's `warning message`: the announce still worked.
    pub warning: Option<String>,
}

#[derive(Debug, Error)]
pub enum TrackerError {
    #[error("the tracker refused the announce: {0}")]
    Failure(String),
    #[error("unsupported tracker URL {0:?} (only http, https and udp)")]
    UnsupportedUrl(String),
    #[error("the tracker's reply is larger than {limit} bytes")]
    ReplyTooLarge { limit: usize },
    #[error("the tracker's reply is malformed: {0}")]
    MalformedReply(String),
    #[error("the tracker did not answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP error: {0}")]
    Http(String),
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
}

/// Per-request time limits. The defaults suit a player: a dead tracker
/// must not hold up the next one for minutes.
#[derive(Clone, Copy, Debug)]
pub struct TrackerTimeouts {
    /// Whole HTTP request, connection to last byte.
    pub http: Duration,
    /// First UDP wait; BEP 15 doubles it on each retry.
    pub udp_first: Duration,
    /// UDP attempts per request (BEP 15 allows 9; 2 bounds a dead tracker
    /// at 45 s with the 15 s start).
    pub udp_attempts: u32,
}

impl Default for TrackerTimeouts {
    fn default() -> Self {
        Self {
            http: Duration::from_secs(15),
            udp_first: Duration::from_secs(15),
            udp_attempts: 2,
        }
    }
}

/// Announces to one tracker, choosing the protocol from the URL's scheme.
pub async fn announce(
    url: &str,
    request: &AnnounceRequest,
    timeouts: &TrackerTimeouts,
) -> Result<AnnounceReply, TrackerError> {
    let parsed = url::Url::parse(url).map_err(|_| TrackerError::UnsupportedUrl(url.to_owned()))?;
    match parsed.scheme() {
        "http" | "https" => http::announce(parsed, request, timeouts.http).await,
        "udp" => udp::announce(&parsed, request, timeouts).await,
        _ => Err(TrackerError::UnsupportedUrl(url.to_owned())),
    }
}

fn clamp_interval(seconds: i64) -> Duration {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    Duration::from_secs(seconds.clamp(MIN_ANNOUNCE_INTERVAL_SECS, MAX_ANNOUNCE_INTERVAL_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_outside_the_bounds_are_clamped() {
        assert_eq!(
            clamp_interval(1),
            Duration::from_secs(MIN_ANNOUNCE_INTERVAL_SECS)
        );
        assert_eq!(
            clamp_interval(-5),
            Duration::from_secs(MIN_ANNOUNCE_INTERVAL_SECS)
        );
        assert_eq!(clamp_interval(1800), Duration::from_secs(1800));
        assert_eq!(
            clamp_interval(i64::MAX),
            Duration::from_secs(MAX_ANNOUNCE_INTERVAL_SECS)
        );
    }
}
