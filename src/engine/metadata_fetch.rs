//! Resolving a magnet link (BEP 9): one task per magnet connects to the
//! link's peers (`x.pe`), its trackers' peers and the DHT's, asks each for the info
//! dictionary over `ut_metadata`, and returns the first copy whose SHA-1 is
//! the info-hash. The torrent task starts only then, exactly as for a file.
//!
//! Metadata is small (tens of KiB for most torrents), so every connection
//! fetches a whole copy into its own `MetadataAssembly` and verifies it: a
//! copy that does not hash is the fault of exactly one peer, which is
//! dropped for good, while the other connections carry on. A shared
//! assembly would save a few KiB but could not tell who lied.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::codec::Framed;

use crate::engine::events::{EngineEvent, PeerSource, TorrentEvent};
use crate::engine::limits::{CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT};
use crate::engine::magnet::Magnet;
use crate::engine::metainfo::{InfoHash, Metainfo};
use crate::engine::session::SessionShared;
use crate::engine::tracker::{self, AnnounceEvent, AnnounceRequest};
use crate::engine::wire::metadata::OUR_UT_METADATA_ID;
use crate::engine::wire::{
    EXTENSION_HANDSHAKE_ID, ExtensionHandshake, Handshake, Message, MessageCodec, MetadataAssembly,
    MetadataMessage, Reserved, UT_METADATA, WireError,
};

/// Peers asked for the metadata at once.
const MAX_METADATA_FETCH_PEERS: usize = 8;

/// Requests for metadata pieces kept in flight to one peer.
const METADATA_REQUESTS_IN_FLIGHT: usize = 8;

/// Wait before dialling an address again after it failed (refused,
/// timed out, no `ut_metadata`); peers that sent bad data are not retried.
const METADATA_RETRY_DELAY: Duration = Duration::from_secs(3);

/// Attempts per address before it is forgotten.
const METADATA_MAX_ATTEMPTS: u32 = 3;

/// Wait before announcing again to a tracker that failed or gave no peers.
const TRACKER_RETRY_DELAY: Duration = Duration::from_secs(15);

/// The verified info dictionary of a magnet link, with the peers that were
/// found on the way (for the torrent to connect to).
pub(crate) struct FetchedMetadata {
    pub metainfo: Metainfo,
    pub peers: Vec<SocketAddr>,
}

/// Why one peer could not give us the metadata.
#[derive(Debug, thiserror::Error)]
enum PeerFailure {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("timed out")]
    Timeout,
    #[error("connection closed")]
    Closed,
    #[error("the peer is for another torrent")]
    WrongInfoHash,
    #[error("the peer does not serve metadata")]
    NoMetadata,
    #[error("the peer refused a metadata piece")]
    Rejected,
    /// The peer's data did not hash to the info-hash, or was not a valid
    /// info dictionary: it is never asked again.
    #[error("bad metadata: {0}")]
    BadMetadata(String),
}

/// What a peer connection tells the fetch task.
enum PeerReport {
    /// The peer speaks `ut_metadata` and announced a size.
    Serving,
    Done(Result<Box<Metainfo>, PeerFailure>),
}

/// Runs the fetch task for `magnet` until a verified copy arrives; dropping
/// the returned future stops the task and every connection.
pub(crate) async fn fetch(magnet: Magnet, shared: Arc<SessionShared>) -> FetchedMetadata {
    let task = tokio::spawn(run(magnet, shared));
    let _abort_on_drop = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(fetched) => fetched,
        // The task never panics on peer input; a panic is a bug here too.
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Addresses to try, and what became of those tried.
struct Candidates {
    queue: VecDeque<SocketAddr>,
    known: HashSet<SocketAddr>,
    attempts: HashMap<SocketAddr, u32>,
    bad: HashSet<SocketAddr>,
}

impl Candidates {
    /// Queues `addr` unless it is known already; says whether it was new.
    fn add(&mut self, addr: SocketAddr) -> bool {
        let new = self.known.insert(addr);
        if new {
            self.queue.push_back(addr);
        }
        new
    }
}

async fn run(magnet: Magnet, shared: Arc<SessionShared>) -> FetchedMetadata {
    let info_hash = magnet.info_hash;
    let emit = |kind| shared.emit(EngineEvent { info_hash, kind });
    emit(TorrentEvent::LookingForPeers);
    let (found_tx, mut found) = mpsc::channel::<Vec<SocketAddr>>(16);
    let mut sources = JoinSet::new();
    for url in &magnet.trackers {
        sources.spawn(announce_until_stopped(
            url.clone(),
            announce_request(info_hash, &shared),
            found_tx.clone(),
        ));
    }
    let (dht_tx, mut dht_found) = mpsc::channel::<Vec<SocketAddr>>(16);
    if let Some(dht) = &shared.dht {
        sources.spawn(dht.clone().discover(info_hash, shared.listen_port, dht_tx));
    }
    let mut candidates = Candidates {
        queue: VecDeque::new(),
        known: HashSet::new(),
        attempts: HashMap::new(),
        bad: HashSet::new(),
    };
    for &addr in &magnet.peers {
        candidates.add(addr);
    }
    let (reports_tx, mut reports) = mpsc::channel::<(SocketAddr, PeerReport)>(64);
    let (retry_tx, mut retries) = mpsc::unbounded_channel::<SocketAddr>();
    let mut connections = JoinSet::new();
    let mut serving = HashSet::new();
    loop {
        while connections.len() < MAX_METADATA_FETCH_PEERS {
            let Some(addr) = candidates.queue.pop_front() else {
                break;
            };
            *candidates.attempts.entry(addr).or_default() += 1;
            let reports = reports_tx.clone();
            let peer_id = shared.peer_id;
            connections.spawn(async move {
                let result = fetch_from_peer(addr, info_hash, peer_id, &reports).await;
                let _ = reports.send((addr, PeerReport::Done(result))).await;
            });
        }
        tokio::select! {
            Some(addrs) = found.recv() => {
                for addr in addrs {
                    candidates.add(addr);
                }
            }
            Some(addrs) = dht_found.recv() => {
                let new = addrs
                    .into_iter()
                    .filter(|&addr| !shared.is_own_address(addr) && candidates.add(addr))
                    .count();
                if new > 0 {
                    emit(TorrentEvent::PeersDiscovered { source: PeerSource::Dht, peers: new });
                }
            }
            Some(addr) = retries.recv() => candidates.queue.push_back(addr),
            Some((addr, report)) = reports.recv() => match report {
                PeerReport::Serving => {
                    serving.insert(addr);
                    emit(TorrentEvent::FetchingMetadata { peers: serving.len() });
                }
                PeerReport::Done(Ok(mut metainfo)) => {
                    metainfo.trackers = magnet.trackers.iter().map(|url| vec![url.clone()]).collect();
                    metainfo.web_seeds = magnet.web_seeds.clone();
                    let metainfo = *metainfo;
                    emit(TorrentEvent::MetadataReceived);
                    // Those serving metadata first: they are known to be up.
                    let others = candidates.known.iter().filter(|addr| {
                        !serving.contains(addr) && !candidates.bad.contains(addr)
                    });
                    let peers = serving.iter().chain(others).copied().collect();
                    return FetchedMetadata { metainfo, peers };
                }
                PeerReport::Done(Err(failure)) => {
                    tracing::debug!(peer = %addr, %failure, "no metadata from this peer");
                    if serving.remove(&addr) {
                        emit(TorrentEvent::FetchingMetadata { peers: serving.len() });
                    }
                    if matches!(failure, PeerFailure::BadMetadata(_)) {
                        candidates.bad.insert(addr);
                    } else if candidates.attempts.get(&addr).copied().unwrap_or(0)
                        < METADATA_MAX_ATTEMPTS
                    {
                        let retry_tx = retry_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(METADATA_RETRY_DELAY).await;
                            let _ = retry_tx.send(addr);
                        });
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn announce_request(info_hash: InfoHash, shared: &SessionShared) -> AnnounceRequest {
    AnnounceRequest {
        info_hash,
        peer_id: shared.peer_id,
        port: shared.listen_port,
        uploaded: 0,
        downloaded: 0,
        // The size is unknown until the metadata arrives; anything but 0
        // says "not a seed".
        left: 1,
        event: AnnounceEvent::Started,
        num_want: 50,
        key: rand::random(),
    }
}

/// Announces to one tracker, again after its interval (or a short wait when
/// it failed or knew nobody), and sends the peers it names.
async fn announce_until_stopped(
    url: String,
    mut request: AnnounceRequest,
    found: mpsc::Sender<Vec<SocketAddr>>,
) {
    loop {
        let wait = match tracker::announce(&url, &request, &Default::default()).await {
            Ok(reply) => {
                request.event = AnnounceEvent::None;
                let wait = if reply.peers.is_empty() {
                    TRACKER_RETRY_DELAY
                } else {
                    reply.interval
                };
                if found.send(reply.peers).await.is_err() {
                    return;
                }
                wait
            }
            Err(error) => {
                tracing::debug!(%url, %error, "metadata fetch: announce failed");
                TRACKER_RETRY_DELAY
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Connects to one peer and fetches a whole copy of the metadata from it.
async fn fetch_from_peer(
    addr: SocketAddr,
    info_hash: InfoHash,
    peer_id: [u8; 20],
    reports: &mpsc::Sender<(SocketAddr, PeerReport)>,
) -> Result<Box<Metainfo>, PeerFailure> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| PeerFailure::Timeout)??;
    stream.set_nodelay(true)?;
    let ours = Handshake {
        reserved: Reserved::ours(),
        info_hash,
        peer_id,
    };
    ours.write(&mut stream).await?;
    let theirs = tokio::time::timeout(HANDSHAKE_TIMEOUT, Handshake::read(&mut stream))
        .await
        .map_err(|_| PeerFailure::Timeout)??;
    if theirs.info_hash != info_hash {
        return Err(PeerFailure::WrongInfoHash);
    }
    if !theirs.reserved.extension_protocol() {
        return Err(PeerFailure::NoMetadata);
    }
    let mut framed = Framed::new(stream, MessageCodec);
    let handshake = ExtensionHandshake {
        extensions: [(UT_METADATA.to_owned(), OUR_UT_METADATA_ID)].into(),
        ..ExtensionHandshake::default()
    };
    framed
        .send(Message::Extended {
            id: EXTENSION_HANDSHAKE_ID,
            payload: handshake.encode(),
        })
        .await?;

    // Their extension handshake comes first among what matters; bitfields
    // and the like before it are skipped.
    let (their_id, size) = loop {
        let Message::Extended { id, payload } = next_message(&mut framed).await? else {
            continue;
        };
        if id == EXTENSION_HANDSHAKE_ID {
            let handshake = ExtensionHandshake::decode(&payload)?;
            match (
                handshake.extensions.get(UT_METADATA),
                handshake.metadata_size,
            ) {
                (Some(&their_id), Some(size)) => break (their_id, size),
                _ => return Err(PeerFailure::NoMetadata),
            }
        }
    };
    let _ = reports.send((addr, PeerReport::Serving)).await;

    let mut assembly = MetadataAssembly::new(info_hash, size)?;
    let mut to_request: VecDeque<u32> = assembly.missing().collect();
    let mut in_flight = 0;
    loop {
        while in_flight < METADATA_REQUESTS_IN_FLIGHT {
            let Some(piece) = to_request.pop_front() else {
                break;
            };
            framed
                .send(Message::Extended {
                    id: their_id,
                    payload: MetadataMessage::Request { piece }.encode(),
                })
                .await?;
            in_flight += 1;
        }
        let Message::Extended { id, payload } = next_message(&mut framed).await? else {
            continue;
        };
        if id != OUR_UT_METADATA_ID {
            continue;
        }
        match MetadataMessage::decode(&payload).map_err(bad_metadata)? {
            Some(message @ MetadataMessage::Data { .. }) => {
                assembly.insert(&message).map_err(bad_metadata)?;
                in_flight = in_flight.saturating_sub(1);
            }
            Some(MetadataMessage::Reject { .. }) => return Err(PeerFailure::Rejected),
            // A peer asking us for metadata we do not have: ignored.
            Some(MetadataMessage::Request { .. }) | None => continue,
        }
        match assembly.finish() {
            None => {}
            Some(Ok(info_bytes)) => {
                return Metainfo::from_info_bytes(&info_bytes)
                    .map(Box::new)
                    .map_err(|error| PeerFailure::BadMetadata(error.to_string()));
            }
            Some(Err(error)) => return Err(bad_metadata(error)),
        }
    }
}

fn bad_metadata(error: WireError) -> PeerFailure {
    PeerFailure::BadMetadata(error.to_string())
}

async fn next_message(
    framed: &mut Framed<TcpStream, MessageCodec>,
) -> Result<Message, PeerFailure> {
    // Metadata is a few round trips: a peer silent this long is not worth
    // waiting for while others may answer.
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Ok(Some(message)) => Ok(message?),
        Ok(None) => Err(PeerFailure::Closed),
        Err(_) => Err(PeerFailure::Timeout),
    }
}
