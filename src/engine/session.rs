//! What all torrents of one engine share: our peer id, the download
//! folder, rate limits, connection slots, the event stream, and the TCP
//! listener that routes incoming peers to their torrent by info-hash.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use crate::engine::dht::DhtNode;
use crate::engine::events::EngineEvent;
use crate::engine::limits::{HANDSHAKE_TIMEOUT, WEB_SEED_SILENCE_TIMEOUT};
use crate::engine::metainfo::InfoHash;
use crate::engine::picker::PeerKey;
use crate::engine::rate_limit::RateLimiter;
use crate::engine::torrent::TorrentCommand;
use crate::engine::wire::Handshake;

pub(crate) struct SessionShared {
    pub peer_id: [u8; 20],
    /// Our listen port, announced to trackers and the DHT.
    pub listen_port: u16,
    /// The address the listener is bound to (unspecified: every address),
    /// so that peer exchange does not hand us our own address.
    pub listen_ip: IpAddr,
    /// The engine's DHT node, when the DHT is on.
    pub dht: Option<DhtNode>,
    pub download_dir: PathBuf,
    pub upload_limit: Arc<RateLimiter>,
    pub download_limit: Arc<RateLimiter>,
    /// How long a web seed may send nothing before it is dropped.
    pub web_seed_silence_timeout: Duration,
    /// One permit per peer connection of the whole engine.
    pub connection_slots: Arc<Semaphore>,
    next_peer_key: AtomicU64,
    events: async_channel::Sender<EngineEvent>,
    torrents: Mutex<HashMap<InfoHash, mpsc::UnboundedSender<TorrentCommand>>>,
}

impl SessionShared {
    pub fn new(
        listen_port: u16,
        download_dir: PathBuf,
        upload_limit: u64,
        download_limit: u64,
        max_connections: usize,
        events: async_channel::Sender<EngineEvent>,
    ) -> Self {
        Self {
            peer_id: new_peer_id(),
            listen_port,
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dht: None,
            download_dir,
            upload_limit: Arc::new(RateLimiter::new(upload_limit)),
            download_limit: Arc::new(RateLimiter::new(download_limit)),
            web_seed_silence_timeout: WEB_SEED_SILENCE_TIMEOUT,
            connection_slots: Arc::new(Semaphore::new(max_connections)),
            next_peer_key: AtomicU64::new(0),
            events,
            torrents: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `addr` is our own listener, as far as we can tell without
    /// knowing our public address (a handshake with our own peer id is
    /// refused later anyway).
    pub fn is_own_address(&self, addr: SocketAddr) -> bool {
        addr.port() == self.listen_port
            && (addr.ip() == self.listen_ip
                || addr.ip().is_loopback()
                || addr.ip().is_unspecified())
    }

    pub fn next_peer_key(&self) -> PeerKey {
        self.next_peer_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues an event; a consumer that lags loses the oldest ones rather
    /// than growing memory.
    pub fn emit(&self, event: EngineEvent) {
        let _ = self.events.force_send(event);
    }

    pub fn torrents(
        &self,
    ) -> MutexGuard<'_, HashMap<InfoHash, mpsc::UnboundedSender<TorrentCommand>>> {
        // Only inserts and removes happen under this lock; a panic there
        // leaves the map consistent.
        self.torrents.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Azureus-style peer id: client code and version, then random bytes.
fn new_peer_id() -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-PW0001-");
    rand::Rng::fill(&mut rand::thread_rng(), &mut id[8..]);
    id
}

/// Accepts peers and hands each, after its handshake, to its torrent.
pub(crate) async fn listen(listener: TcpListener, shared: Arc<SessionShared>) {
    loop {
        let (mut stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically out of file descriptors: wait instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = shared.connection_slots.clone().try_acquire_owned() else {
            tracing::debug!(peer = %addr, "connection limit reached; refusing peer");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let handshake =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, Handshake::read(&mut stream)).await {
                    Ok(Ok(handshake)) => handshake,
                    _ => return,
                };
            let torrent = shared.torrents().get(&handshake.info_hash).cloned();
            if let Some(torrent) = torrent {
                let _ = torrent.send(TorrentCommand::Incoming {
                    stream,
                    addr,
                    handshake,
                    permit,
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::TorrentEvent;
    use crate::engine::limits::EVENT_QUEUE_CAPACITY;

    #[test]
    fn events_past_the_queue_capacity_drop_the_oldest() {
        let (events, received) = async_channel::bounded(EVENT_QUEUE_CAPACITY);
        let shared = SessionShared::new(0, PathBuf::new(), 0, 0, 1, events);
        let total = EVENT_QUEUE_CAPACITY as u32 + 10;
        for piece in 0..total {
            shared.emit(EngineEvent {
                info_hash: InfoHash([0; 20]),
                kind: TorrentEvent::PieceVerified(piece),
            });
        }
        assert_eq!(received.len(), EVENT_QUEUE_CAPACITY);
        let first = received.try_recv().unwrap();
        assert_eq!(first.kind, TorrentEvent::PieceVerified(10));
    }
}
