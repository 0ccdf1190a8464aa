//! One task per torrent: it owns the picker, the peer table, the pieces
//! being assembled, the choker, bans and stats. Peer sessions and disk jobs
//! report back to it over channels; nothing else mutates this state.

mod candidates;
mod choker;
mod early_rate;
mod peer_exchange;
mod piece_buffer;
mod pipeline;
mod snapshots;
mod strikes;
mod web_seeds;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::seq::IteratorRandom;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};

use crate::engine::bitfield::Bitfield;
use crate::engine::events::{
    EngineEvent, PeerSnapshot, PeerSource, PieceState, TorrentEvent, TorrentFailure, TorrentState,
    TorrentStats,
};
use crate::engine::limits::{MAX_PEERS_PER_TORRENT, SNUB_TIMEOUT};
use crate::engine::metainfo::Metainfo;
use crate::engine::peer::{self, PeerCommand, PeerCounters, PeerEvent, PeerEventKind, PeerParams};
use crate::engine::picker::{PeerKey, Picker, Policy};
use crate::engine::rate_limit::SmoothedRate;
use crate::engine::session::SessionShared;
use crate::engine::storage::{Storage, StorageError};
use crate::engine::stream::{StreamDemands, StreamUpdate};
use crate::engine::tracker::{AnnounceTarget, Announcer, TrackerEvent, TransferStats};
use crate::engine::webseed::{OriginUse, WebSeedError, WebSeedEvent};
use crate::engine::wire::{BLOCK_SIZE, BlockRequest, Handshake, PexFlags};
use candidates::Candidates;
use choker::{
    ChokeCandidate, OPTIMISTIC_UNCHOKE_INTERVAL, RECHOKE_INTERVAL, REGULAR_UNCHOKE_SLOTS,
    peers_to_unchoke,
};
use early_rate::EarlyRate;
use peer_exchange::PexState;
use piece_buffer::{PieceBuffer, SpareBuffers};
use pipeline::MAX_REQUESTS_IN_FLIGHT;
use strikes::{HashFailureStrikes, Supplier};
use web_seeds::WebSeed;

/// How often rates, snubs, connections and stats are updated.
const TICK: Duration = Duration::from_secs(1);

/// Tracker events buffered for the torrent task; the announcer waits when
/// it is full.
const TRACKER_EVENT_QUEUE: usize = 16;

/// Peer events buffered for the torrent task; a full queue makes peer
/// sessions wait, which slows their sockets down instead of growing memory.
const PEER_EVENT_QUEUE: usize = 1024;

/// What the engine and handles ask of a torrent task.
pub(crate) enum TorrentCommand {
    AddPeers(Vec<SocketAddr>),
    Incoming {
        stream: TcpStream,
        addr: SocketAddr,
        handshake: Handshake,
        permit: OwnedSemaphorePermit,
    },
    Pause,
    Resume,
    Remove {
        delete_data: bool,
        done: oneshot::Sender<Result<(), StorageError>>,
    },
    PieceStates(oneshot::Sender<Vec<PieceState>>),
    /// The handshaken peers.
    Peers(oneshot::Sender<Vec<PeerSnapshot>>),
    /// A stream opened, moved its read heads or closed.
    Stream(StreamUpdate),
    /// Files to download (`false`: skipped unless streamed).
    SetWantedFiles(Vec<bool>),
}

/// The watch channels a torrent task publishes through.
pub(crate) struct TorrentOutputs {
    pub stats: watch::Sender<TorrentStats>,
    /// Verified pieces; readers wait on this (the stream API).
    pub have: watch::Sender<Bitfield>,
}

/// How a torrent picks pieces and uses its sources.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TorrentParams {
    pub policy: Policy,
    pub origin: OriginUse,
}

/// Spawns the task of one torrent, fetching `wanted_files` (`false`:
/// skipped unless streamed) from its first request on.
pub(crate) fn spawn(
    metainfo: Arc<Metainfo>,
    params: TorrentParams,
    wanted_files: Vec<bool>,
    shared: Arc<SessionShared>,
    commands: mpsc::UnboundedReceiver<TorrentCommand>,
    outputs: TorrentOutputs,
) {
    tokio::spawn(async move {
        let task = match open_storage(&metainfo, &shared).await {
            Ok((storage, have)) => TorrentTask::new(
                metainfo,
                params,
                wanted_files,
                shared,
                storage,
                have,
                outputs,
            ),
            Err(error) => {
                report_failed_start(&metainfo, &shared, &outputs, error);
                drain_after_error(commands).await;
                return;
            }
        };
        task.run(commands).await;
    });
}

/// Creates or opens the files and hashes what is already there (resume).
async fn open_storage(
    metainfo: &Arc<Metainfo>,
    shared: &SessionShared,
) -> Result<(Arc<Storage>, Bitfield), StorageError> {
    let metainfo = metainfo.clone();
    let dir = shared.download_dir.clone();
    tokio::task::spawn_blocking(move || {
        let storage = Storage::open(&dir, &metainfo.info)?;
        let have = storage.verify_existing()?;
        Ok((Arc::new(storage), have))
    })
    .await
    .unwrap_or_else(|e| Err(StorageError::Task(e.to_string())))
}

fn report_failed_start(
    metainfo: &Metainfo,
    shared: &SessionShared,
    outputs: &TorrentOutputs,
    error: StorageError,
) {
    let failure = TorrentFailure::from(&error);
    let message = failure.to_string();
    tracing::error!(torrent = %metainfo.info.name, %message, "cannot start torrent");
    outputs.stats.send_modify(|stats| {
        stats.state = TorrentState::Error(failure);
        stats.piece_count = metainfo.info.piece_count();
    });
    shared.emit(EngineEvent {
        info_hash: metainfo.info_hash,
        kind: TorrentEvent::Error(message),
    });
}

/// A torrent that could not start still answers its handle until removed.
async fn drain_after_error(mut commands: mpsc::UnboundedReceiver<TorrentCommand>) {
    while let Some(command) = commands.recv().await {
        match command {
            TorrentCommand::Remove { done, .. } => {
                let _ = done.send(Ok(()));
                return;
            }
            TorrentCommand::PieceStates(reply) => {
                let _ = reply.send(Vec::new());
            }
            TorrentCommand::Peers(reply) => {
                let _ = reply.send(Vec::new());
            }
            _ => {}
        }
    }
}

/// A connected (or connecting) peer, as the torrent sees it.
struct Peer {
    addr: SocketAddr,
    /// We dialled it, so its address is worth reconnecting to.
    outgoing: bool,
    commands: mpsc::UnboundedSender<PeerCommand>,
    counters: Arc<PeerCounters>,
    handshaken: bool,
    pieces: Bitfield,
    /// It speaks the Fast extension (BEP 6): it rejects what it will not
    /// send.
    fast: bool,
    /// Pieces it lets us request while it chokes us (BEP 6).
    allowed_fast: Bitfield,
    peer_choking: bool,
    peer_interested: bool,
    am_choking: bool,
    am_interested: bool,
    requests: HashSet<BlockRequest>,
    /// Requests cancelled at a Fast peer and not yet answered: it sends
    /// each block or rejects it (libtorrent sends what its send buffer
    /// holds), ahead of what we ask for now.
    cancelled: HashSet<BlockRequest>,
    download_rate: SmoothedRate,
    upload_rate: SmoothedRate,
    /// Last block received, or when requests started after a quiet spell.
    last_block: Instant,
    snubbed: bool,
    /// The most requests the peer accepts at once (BEP 10 `reqq`).
    max_requests: usize,
    /// Its client's name, from the BEP 10 handshake.
    client: Option<String>,
    /// Where the peer accepts connections: the address we dialled, or for
    /// an incoming peer its IP with the port of its BEP 10 handshake.
    listen_addr: Option<SocketAddr>,
    /// What we told it over `ut_pex`; `None` if it does not speak it.
    pex: Option<PexState>,
}

impl Peer {
    fn send(&self, command: PeerCommand) {
        // A closed channel means the session is ending; its Gone event
        // follows and cleans up.
        let _ = self.commands.send(command);
    }

    /// Requests to keep in flight: half a second of its rate, bounded; until
    /// its rate is measured, of the average rate the picker credits it with
    /// once it proved fast (on one unlimited seeder, the 32 requests of
    /// slow start held the deadline policy to 80–110 MB/s).
    fn target_requests(&self, proven_rate: Option<f64>) -> usize {
        let rate = pipeline::sizing_rate(self.download_rate.get(), proven_rate);
        pipeline::target_requests(rate, self.snubbed, self.max_requests)
    }

    /// Takes back an outstanding request; returns whether the peer will
    /// still answer it (its backlog grew).
    fn cancel(&mut self, request: BlockRequest) -> bool {
        if !self.requests.remove(&request) {
            return false;
        }
        self.send(PeerCommand::Cancel(request));
        // Bounded like its pipeline: a peer that never answers is snubbed.
        self.fast && self.cancelled.len() < MAX_REQUESTS_IN_FLIGHT && self.cancelled.insert(request)
    }

    /// Bytes of cancelled requests it will still answer.
    fn backlog_bytes(&self) -> u64 {
        self.cancelled.iter().map(|r| u64::from(r.length)).sum()
    }
}

/// The outcome of hashing (and writing) one piece off the runtime.
struct PieceChecked {
    piece: u32,
    contributors: HashSet<Supplier>,
    /// The piece's buffer, back for the next piece.
    buffer: Vec<u8>,
    /// `Ok(true)`: verified and written; `Ok(false)`: hash mismatch.
    result: Result<bool, StorageError>,
}

struct TorrentTask {
    metainfo: Arc<Metainfo>,
    shared: Arc<SessionShared>,
    storage: Arc<Storage>,
    picker: Picker,
    /// The files the user wants; streamed files are wanted too.
    wanted_files: Vec<bool>,
    streams: StreamDemands,
    have: Bitfield,
    outputs: TorrentOutputs,
    state: TorrentState,
    peers: HashMap<PeerKey, Peer>,
    candidates: Candidates,
    banned: HashSet<IpAddr>,
    strikes: HashFailureStrikes,
    pieces: HashMap<u32, PieceBuffer>,
    spare_buffers: SpareBuffers,
    availability: Vec<u32>,
    peer_events_tx: mpsc::Sender<PeerEvent>,
    peer_events: mpsc::Receiver<PeerEvent>,
    checked_tx: mpsc::UnboundedSender<PieceChecked>,
    checked: mpsc::UnboundedReceiver<PieceChecked>,
    /// Announces while the torrent runs; `None` when paused or trackerless.
    announcer: Option<Announcer>,
    /// Looks the torrent up in the DHT and announces it while it runs;
    /// `None` when paused, private or without DHT.
    dht_lookup: Option<tokio::task::JoinHandle<()>>,
    dht_peers_tx: mpsc::Sender<Vec<SocketAddr>>,
    dht_peers: mpsc::Receiver<Vec<SocketAddr>>,
    transfer: watch::Sender<TransferStats>,
    tracker_events_tx: mpsc::Sender<TrackerEvent>,
    tracker_events: mpsc::Receiver<TrackerEvent>,
    /// Bytes of the pieces not yet verified, for trackers' `left`.
    left: u64,
    optimistic: Option<PeerKey>,
    last_rechoke: Instant,
    last_optimistic: Instant,
    last_tick: Instant,
    downloaded: u64,
    wasted: u64,
    download_rate: SmoothedRate,
    upload_rate: SmoothedRate,
    /// The download rate published before the first tick after the first
    /// block.
    early_rate: EarlyRate,
    /// Payload totals of peers that are gone, so torrent totals keep them.
    gone_downloaded: u64,
    gone_uploaded: u64,
    origin: OriginUse,
    /// Running web seeds, keyed like peers (the picker sees them as seeds).
    web_seeds: HashMap<PeerKey, WebSeed>,
    /// Web seeds dropped for a failure; never started again.
    dropped_web_seeds: HashSet<String>,
    web_seed_events_tx: mpsc::Sender<WebSeedEvent>,
    web_seed_events: mpsc::Receiver<WebSeedEvent>,
    /// Every byte web seeds sent, counted or not (for the download rate).
    web_seed_received: u64,
    /// Verified-path bytes from web seeds: the part of `downloaded` that
    /// came from the origin.
    bytes_from_web_seeds: u64,
    /// The last block from a peer (or when downloading started): under
    /// "avoid stall", web seeds fill in only while peers stay silent.
    last_peer_block: Instant,
}

impl TorrentTask {
    fn new(
        metainfo: Arc<Metainfo>,
        params: TorrentParams,
        wanted_files: Vec<bool>,
        shared: Arc<SessionShared>,
        storage: Arc<Storage>,
        have: Bitfield,
        outputs: TorrentOutputs,
    ) -> Self {
        let mut picker = Picker::new(&metainfo.info, params.policy);
        picker.set_wanted_files(&wanted_files);
        for piece in have.iter_set() {
            picker.have_piece(piece);
        }
        outputs.have.send_replace(have.clone());
        let piece_count = metainfo.info.piece_count();
        let (peer_events_tx, peer_events) = mpsc::channel(PEER_EVENT_QUEUE);
        let (checked_tx, checked) = mpsc::unbounded_channel();
        let (tracker_events_tx, tracker_events) = mpsc::channel(TRACKER_EVENT_QUEUE);
        let (web_seed_events_tx, web_seed_events) = mpsc::channel(PEER_EVENT_QUEUE);
        let (dht_peers_tx, dht_peers) = mpsc::channel(TRACKER_EVENT_QUEUE);
        let left = metainfo.info.total_length
            - have
                .iter_set()
                .map(|piece| u64::from(metainfo.info.piece_len(piece)))
                .sum::<u64>();
        let now = Instant::now();
        let state = if picker.is_complete() {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        };
        Self {
            metainfo,
            shared,
            storage,
            picker,
            wanted_files,
            streams: StreamDemands::default(),
            have,
            outputs,
            state,
            peers: HashMap::new(),
            candidates: Candidates::default(),
            banned: HashSet::new(),
            strikes: HashFailureStrikes::default(),
            pieces: HashMap::new(),
            spare_buffers: SpareBuffers::default(),
            availability: vec![0; piece_count as usize],
            peer_events_tx,
            peer_events,
            checked_tx,
            checked,
            announcer: None,
            dht_lookup: None,
            dht_peers_tx,
            dht_peers,
            transfer: watch::Sender::new(TransferStats {
                left,
                ..TransferStats::default()
            }),
            tracker_events_tx,
            tracker_events,
            left,
            optimistic: None,
            last_rechoke: now,
            last_optimistic: now,
            last_tick: now,
            downloaded: 0,
            wasted: 0,
            download_rate: SmoothedRate::default(),
            upload_rate: SmoothedRate::default(),
            early_rate: EarlyRate::default(),
            gone_downloaded: 0,
            gone_uploaded: 0,
            origin: params.origin,
            web_seeds: HashMap::new(),
            dropped_web_seeds: HashSet::new(),
            web_seed_events_tx,
            web_seed_events,
            web_seed_received: 0,
            bytes_from_web_seeds: 0,
            last_peer_block: now,
        }
    }

    fn emit(&self, kind: TorrentEvent) {
        self.shared.emit(EngineEvent {
            info_hash: self.metainfo.info_hash,
            kind,
        });
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<TorrentCommand>) {
        if self.state == TorrentState::Seeding {
            self.emit(TorrentEvent::Finished);
        }
        self.start_announcer();
        self.start_web_seeds();
        self.publish_stats();
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(TorrentCommand::Remove { delete_data, done }) => {
                        self.remove(delete_data, done).await;
                        return;
                    }
                    Some(command) => self.on_command(command),
                    // Every handle is gone: the engine shut down.
                    None => break,
                },
                Some(event) = self.peer_events.recv() => self.on_peer_event(event),
                Some(checked) = self.checked.recv() => self.on_piece_checked(checked),
                Some(event) = self.tracker_events.recv() => self.on_tracker_event(event),
                Some(event) = self.web_seed_events.recv() => self.on_web_seed_event(event),
                Some(addrs) = self.dht_peers.recv() => self.on_discovered(PeerSource::Dht, addrs),
                _ = tick.tick() => self.on_tick(),
            }
        }
        self.disconnect_all();
        self.stop_announcer();
    }

    fn start_announcer(&mut self) {
        // BEP 27: a private torrent's peers come from its trackers only.
        if let Some(dht) = &self.shared.dht
            && self.dht_lookup.is_none()
            && !self.metainfo.info.private
        {
            self.dht_lookup = Some(tokio::spawn(dht.clone().discover(
                self.metainfo.info_hash,
                self.shared.listen_port,
                self.dht_peers_tx.clone(),
            )));
        }
        if self.announcer.is_some() || self.metainfo.trackers.is_empty() {
            return;
        }
        let target = AnnounceTarget {
            info_hash: self.metainfo.info_hash,
            peer_id: self.shared.peer_id,
            port: self.shared.listen_port,
            tiers: self.metainfo.trackers.clone(),
            timeouts: Default::default(),
        };
        self.announcer = Some(Announcer::spawn(
            target,
            self.transfer.subscribe(),
            self.tracker_events_tx.clone(),
        ));
    }

    /// Stops announcing; the `stopped` announce goes out in the background.
    fn stop_announcer(&mut self) {
        if let Some(lookup) = self.dht_lookup.take() {
            lookup.abort();
        }
        if let Some(announcer) = self.announcer.take() {
            tokio::spawn(announcer.stop());
        }
    }

    fn on_tracker_event(&mut self, event: TrackerEvent) {
        match event {
            TrackerEvent::Peers(addrs) => {
                tracing::trace!(peers = addrs.len(), "tracker peers");
                for addr in addrs {
                    self.add_candidate(addr);
                }
                self.connect_more();
            }
            TrackerEvent::Reply { url, peers, .. } => {
                self.emit(TorrentEvent::TrackerReply { url, peers });
            }
            TrackerEvent::Error { url, message } => {
                self.emit(TorrentEvent::TrackerError { url, message });
            }
        }
    }

    /// Peers from the DHT or from other peers' PEX messages.
    fn on_discovered(&mut self, source: PeerSource, addrs: Vec<SocketAddr>) {
        let now = Instant::now();
        let mut new = 0;
        for addr in addrs {
            if !self.shared.is_own_address(addr)
                && !self.banned.contains(&addr.ip())
                && self.candidates.add_new(addr, now)
            {
                new += 1;
            }
        }
        if new > 0 {
            self.emit(TorrentEvent::PeersDiscovered { source, peers: new });
            self.connect_more();
        }
    }

    fn is_running(&self) -> bool {
        matches!(
            self.state,
            TorrentState::Downloading | TorrentState::Seeding
        )
    }

    fn on_command(&mut self, command: TorrentCommand) {
        match command {
            TorrentCommand::AddPeers(addrs) => {
                for addr in addrs {
                    self.add_candidate(addr);
                }
                self.connect_more();
            }
            TorrentCommand::Incoming {
                stream,
                addr,
                handshake,
                permit,
            } => {
                if self.is_running()
                    && !self.banned.contains(&addr.ip())
                    && self.peers.len() < MAX_PEERS_PER_TORRENT
                {
                    self.start_peer(addr, permit, Some((stream, handshake)));
                }
            }
            TorrentCommand::Pause => {
                if self.is_running() {
                    self.disconnect_all();
                    self.stop_announcer();
                    self.stop_web_seeds();
                    self.state = TorrentState::Paused;
                    self.publish_stats();
                }
            }
            TorrentCommand::Resume => {
                if self.state == TorrentState::Paused {
                    self.state = if self.picker.is_complete() {
                        TorrentState::Seeding
                    } else {
                        TorrentState::Downloading
                    };
                    self.candidates.retry_all(Instant::now());
                    self.last_peer_block = Instant::now();
                    self.start_announcer();
                    self.start_web_seeds();
                    self.connect_more();
                    self.publish_stats();
                }
            }
            TorrentCommand::PieceStates(reply) => {
                let _ = reply.send(self.piece_states());
            }
            TorrentCommand::Peers(reply) => {
                let _ = reply.send(self.peer_snapshots());
            }
            TorrentCommand::Stream(update) => self.on_stream(update),
            TorrentCommand::SetWantedFiles(wanted) => {
                self.wanted_files = wanted;
                self.apply_wanted_files();
            }
            TorrentCommand::Remove { .. } => {}
        }
    }

    /// Feeds the streams' demand to the picker: cancels what no longer
    /// matters (a seek) and asks every peer for the new window at once.
    fn on_stream(&mut self, update: StreamUpdate) {
        // A streamed file is wanted while its stream is open, and only as
        // long as that unless the user chose it too: a player that moves to
        // another file stops the old one's download.
        let files_changed = matches!(
            update,
            StreamUpdate::Opened { .. } | StreamUpdate::Closed { .. }
        );
        self.streams.update(update);
        if files_changed {
            self.apply_wanted_files();
        }
        let now = Instant::now();
        let mut cancel = self.picker.set_stream_file(self.streams.stream_file(), now);
        let demand = self.streams.demand();
        let heads = demand.as_ref().map(|d| d.read_heads.clone());
        cancel.extend(self.picker.set_demand(demand, now));
        tracing::debug!(?heads, cancelled = cancel.len(), "stream demand");
        for (key, request) in cancel {
            self.cancel_request(key, request);
        }
        self.request_from_all();
    }

    /// Takes back a request the picker cancelled (a copy arrived, or a
    /// seek made it useless). A web seed's range stops once none of its
    /// blocks is wanted; bytes that still come count as wasted.
    fn cancel_request(&mut self, key: PeerKey, request: BlockRequest) {
        if let Some(peer) = self.peers.get_mut(&key) {
            if peer.cancel(request) {
                self.picker.set_backlog(key, peer.backlog_bytes());
            }
        } else if let Some(seed) = self.web_seeds.get_mut(&key) {
            seed.cancel(request);
        }
    }

    /// Tops up every peer and web seed from the picker. Peers take turns,
    /// a batch each, quickest first: the blocks of a piece needed at once
    /// (a seek) spread over every peer, instead of filling the first
    /// peer's pipeline while the others take later pieces.
    fn request_from_all(&mut self) {
        let mut by_rate: Vec<_> = self
            .peers
            .iter()
            .map(|(&key, peer)| (key, peer.download_rate.get()))
            .collect();
        by_rate.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut turns: Vec<_> = by_rate.into_iter().map(|(key, _)| key).collect();
        while !turns.is_empty() {
            turns.retain(|&key| self.request_batch(key, true) > 0);
        }
        let keys: Vec<_> = self.web_seeds.keys().copied().collect();
        for key in keys {
            self.request_web_seed(key);
        }
    }

    /// Tells the picker which files to fetch: the user's choice plus every
    /// streamed file. Finishes, or resumes downloading, accordingly.
    fn apply_wanted_files(&mut self) {
        let mut wanted = self.wanted_files.clone();
        for file in self.streams.files() {
            if let Some(flag) = wanted.get_mut(file) {
                *flag = true;
            }
        }
        self.picker.set_wanted_files(&wanted);
        match self.state {
            TorrentState::Downloading if self.picker.is_complete() => self.finished(),
            TorrentState::Seeding if !self.picker.is_complete() => {
                self.state = TorrentState::Downloading;
                let keys: Vec<_> = self.peers.keys().copied().collect();
                for key in keys {
                    self.update_interest(key);
                }
                self.start_web_seeds();
                self.publish_stats();
            }
            _ => {}
        }
    }

    async fn remove(mut self, delete_data: bool, done: oneshot::Sender<Result<(), StorageError>>) {
        self.disconnect_all();
        self.stop_announcer();
        self.stop_web_seeds();
        let result = if delete_data {
            let storage = self.storage;
            let dir = self.shared.download_dir.clone();
            tokio::task::spawn_blocking(move || storage.delete_files(&dir))
                .await
                .unwrap_or_else(|e| Err(StorageError::Task(e.to_string())))
        } else {
            Ok(())
        };
        let _ = done.send(result);
    }

    fn disconnect_all(&mut self) {
        for (key, peer) in self.peers.drain() {
            peer.send(PeerCommand::Disconnect);
            self.picker.peer_gone(key);
            for piece in peer.pieces.iter_set() {
                if let Some(count) = self.availability.get_mut(piece as usize) {
                    *count = count.saturating_sub(1);
                }
            }
            self.gone_downloaded += peer.counters.downloaded.total();
            self.gone_uploaded += peer.counters.uploaded.total();
        }
        self.optimistic = None;
    }

    fn add_candidate(&mut self, addr: SocketAddr) {
        if !self.banned.contains(&addr.ip()) {
            self.candidates.add(addr, Instant::now());
        }
    }

    /// Dials candidates while this torrent and the engine have room.
    fn connect_more(&mut self) {
        if !self.is_running() {
            return;
        }
        let now = Instant::now();
        let connected: HashSet<SocketAddr> =
            self.peers.values().filter_map(|p| p.listen_addr).collect();
        for addr in self.candidates.due(now, &connected) {
            if self.peers.len() >= MAX_PEERS_PER_TORRENT {
                break;
            }
            let Ok(permit) = self.shared.connection_slots.clone().try_acquire_owned() else {
                break;
            };
            self.candidates.dialling(addr, now);
            self.start_peer(addr, permit, None);
        }
    }

    fn start_peer(
        &mut self,
        addr: SocketAddr,
        permit: OwnedSemaphorePermit,
        incoming: Option<(TcpStream, Handshake)>,
    ) {
        let key = self.shared.next_peer_key();
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let counters = Arc::new(PeerCounters::default());
        let params = PeerParams {
            key,
            addr,
            metainfo: self.metainfo.clone(),
            our_peer_id: self.shared.peer_id,
            listen_port: self.shared.listen_port,
            have: self.outputs.have.subscribe(),
            storage: self.storage.clone(),
            upload_limit: self.shared.upload_limit.clone(),
            download_limit: self.shared.download_limit.clone(),
            counters: counters.clone(),
            events: self.peer_events_tx.clone(),
            permit,
        };
        let outgoing = incoming.is_none();
        tracing::trace!(peer = key, %addr, outgoing, "peer starts");
        match incoming {
            Some((stream, handshake)) => {
                tokio::spawn(peer::run_incoming(stream, handshake, params, commands));
            }
            None => {
                tokio::spawn(peer::run_outgoing(params, commands));
            }
        }
        let piece_count = self.metainfo.info.piece_count();
        let now = Instant::now();
        self.peers.insert(
            key,
            Peer {
                addr,
                outgoing,
                commands: commands_tx,
                counters,
                handshaken: false,
                pieces: Bitfield::new(piece_count),
                fast: false,
                allowed_fast: Bitfield::new(piece_count),
                peer_choking: true,
                peer_interested: false,
                am_choking: true,
                am_interested: false,
                requests: HashSet::new(),
                cancelled: HashSet::new(),
                download_rate: SmoothedRate::default(),
                upload_rate: SmoothedRate::default(),
                last_block: now,
                snubbed: false,
                max_requests: MAX_REQUESTS_IN_FLIGHT,
                client: None,
                listen_addr: outgoing.then_some(addr),
                pex: None,
            },
        );
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        let key = event.key;
        if let PeerEventKind::Gone { reason } = event.kind {
            self.peer_gone(key, reason);
            return;
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        match event.kind {
            PeerEventKind::Connected { addr, fast } => {
                tracing::trace!(peer = key, "handshaken");
                peer.handshaken = true;
                peer.fast = fast;
                self.candidates.handshaken(addr);
                self.emit(TorrentEvent::PeerConnected(addr));
            }
            PeerEventKind::Pieces(pieces) => {
                tracing::trace!(peer = key, pieces = pieces.count(), "pieces");
                for piece in peer.pieces.iter_set() {
                    if let Some(count) = self.availability.get_mut(piece as usize) {
                        *count = count.saturating_sub(1);
                    }
                }
                for piece in pieces.iter_set() {
                    if let Some(count) = self.availability.get_mut(piece as usize) {
                        *count += 1;
                    }
                }
                self.picker.peer_has(key, &pieces);
                peer.pieces = pieces;
                if self.have.is_full() && peer.pieces.is_full() {
                    // Two seeds have nothing to exchange.
                    peer.send(PeerCommand::Disconnect);
                    return;
                }
                self.update_interest(key);
            }
            PeerEventKind::Have(piece) => {
                if peer.pieces.set(piece) {
                    if let Some(count) = self.availability.get_mut(piece as usize) {
                        *count += 1;
                    }
                    self.picker.peer_have(key, piece);
                    if !peer.am_interested && !self.have.get(piece) {
                        self.update_interest(key);
                    }
                }
            }
            PeerEventKind::Choke => {
                tracing::trace!(peer = key, "choked");
                peer.peer_choking = true;
                let dropped = pipeline::dropped_by_choke(
                    peer.fast,
                    peer.requests.iter().copied(),
                    &peer.allowed_fast,
                );
                for request in dropped {
                    peer.requests.remove(&request);
                    self.picker.block_dropped(key, request);
                }
            }
            PeerEventKind::Unchoke => {
                tracing::trace!(peer = key, "unchoked");
                peer.peer_choking = false;
                peer.last_block = Instant::now();
                self.request_blocks(key);
            }
            PeerEventKind::Interested => {
                peer.peer_interested = true;
                let unchoked = self.peers.values().filter(|p| !p.am_choking).count();
                if unchoked < REGULAR_UNCHOKE_SLOTS + 1 {
                    self.rechoke();
                }
            }
            PeerEventKind::NotInterested => {
                peer.peer_interested = false;
            }
            PeerEventKind::Block { request, data } => self.on_block(key, request, data),
            PeerEventKind::Rejected(request) => {
                if peer.requests.remove(&request) {
                    self.picker.block_dropped(key, request);
                } else if peer.cancelled.remove(&request) {
                    self.picker.set_backlog(key, peer.backlog_bytes());
                }
            }
            PeerEventKind::Extensions {
                request_queue,
                client,
                listen_port,
                pex,
            } => {
                if let Some(queue) = request_queue {
                    peer.max_requests = (queue as usize).clamp(1, MAX_REQUESTS_IN_FLIGHT);
                }
                peer.client = client;
                if let Some(port) = listen_port
                    && !peer.outgoing
                {
                    peer.listen_addr = Some(SocketAddr::new(peer.addr.ip(), port));
                }
                if pex && peer.pex.is_none() {
                    peer.pex = Some(PexState::default());
                }
            }
            PeerEventKind::Pex(addrs) => self.on_discovered(PeerSource::Pex, addrs),
            PeerEventKind::AllowedFast(piece) => {
                peer.allowed_fast.set(piece);
                self.request_blocks(key);
            }
            PeerEventKind::Gone { .. } => {}
        }
    }

    fn peer_gone(&mut self, key: PeerKey, reason: String) {
        let Some(peer) = self.peers.remove(&key) else {
            return;
        };
        self.picker.peer_gone(key);
        for piece in peer.pieces.iter_set() {
            if let Some(count) = self.availability.get_mut(piece as usize) {
                *count = count.saturating_sub(1);
            }
        }
        self.gone_downloaded += peer.counters.downloaded.total();
        self.gone_uploaded += peer.counters.uploaded.total();
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
        if peer.handshaken {
            self.emit(TorrentEvent::PeerDisconnected {
                addr: peer.addr,
                reason,
            });
        }
        if peer.outgoing {
            let both_seeds = self.have.is_full() && peer.pieces.is_full();
            let banned = self.banned.contains(&peer.addr.ip());
            if both_seeds || banned {
                self.candidates.forget(peer.addr);
            } else {
                self.candidates
                    .ended(peer.addr, peer.handshaken, Instant::now());
            }
        }
        self.connect_more();
    }

    /// Tells a peer whether we want something it has.
    fn update_interest(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let interested =
            !self.picker.is_complete() && peer.pieces.iter_set().any(|piece| !self.have.get(piece));
        if interested != peer.am_interested {
            peer.am_interested = interested;
            peer.send(if interested {
                PeerCommand::Interested
            } else {
                PeerCommand::NotInterested
            });
        }
        if interested {
            self.request_blocks(key);
        }
    }

    /// Tops up a peer's pipeline from the picker.
    fn request_blocks(&mut self, key: PeerKey) {
        self.request_batch(key, false);
    }

    /// Requests blocks from a peer: its whole free pipeline once a batch (a
    /// quarter pipeline) fits, or, on its `turn` among all peers, up to one
    /// batch as soon as one request fits. Returns how many it requested.
    fn request_batch(&mut self, key: PeerKey, turn: bool) -> usize {
        if self.state != TorrentState::Downloading {
            return 0;
        }
        let now = Instant::now();
        let proven_rate = self.picker.proven_rate(key, now);
        let Some(peer) = self.peers.get_mut(&key) else {
            return 0;
        };
        if !peer.am_interested {
            return 0;
        }
        let target = peer.target_requests(proven_rate);
        // Top up in batches of a quarter pipeline: fewer picks, commands
        // and writes per block, and the link still never runs dry.
        let batch = (target / 4).max(1);
        let room = target.saturating_sub(peer.requests.len());
        if room == 0 || (!turn && room < batch) {
            return 0;
        }
        let slots = if turn { batch.min(room) } else { room };
        let restricted;
        let pieces = if peer.peer_choking {
            if peer.allowed_fast.count() == 0 {
                return 0;
            }
            let mut allowed = Bitfield::new(peer.pieces.len());
            for piece in peer.allowed_fast.iter_set().filter(|&p| peer.pieces.get(p)) {
                allowed.set(piece);
            }
            restricted = allowed;
            &restricted
        } else {
            &peer.pieces
        };
        let picked = self
            .picker
            .pick(key, pieces, peer.download_rate.get(), slots, now);
        if picked.is_empty() {
            return 0;
        }
        if peer.requests.is_empty() {
            // The snub clock starts when requests go out after a quiet spell.
            peer.last_block = now;
        }
        tracing::trace!(
            peer = key,
            rate = peer.download_rate.get(),
            queued = peer.requests.len(),
            picked = ?picked.iter().map(|r| (r.piece, r.offset / BLOCK_SIZE)).collect::<Vec<_>>(),
            "requests"
        );
        peer.requests.extend(picked.iter().copied());
        let count = picked.len();
        peer.send(PeerCommand::Request(picked));
        count
    }

    fn on_block(&mut self, key: PeerKey, request: BlockRequest, data: Bytes) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        tracing::trace!(
            peer = key,
            piece = request.piece,
            block = request.offset / BLOCK_SIZE,
            requested = peer.requests.contains(&request),
            "block"
        );
        if !peer.requests.remove(&request) {
            if !peer.cancelled.remove(&request) {
                // Unrequested, or dropped: not counted.
                self.wasted += data.len() as u64;
                return;
            }
            // Cancelled but sent anyway: still good if nobody else's copy
            // came first (the picker judges that).
            self.picker.set_backlog(key, peer.backlog_bytes());
        }
        let now = Instant::now();
        peer.last_block = now;
        peer.snubbed = false;
        self.last_peer_block = now;
        let supplier = Supplier::Peer(peer.addr.ip());
        self.accept_block(key, supplier, request, data);
        self.request_blocks(key);
    }

    /// Takes a requested block from a peer or web seed into its piece's
    /// buffer, cancels its other copies, and hashes the piece once whole.
    /// Returns whether the block was new (not a duplicate).
    fn accept_block(
        &mut self,
        key: PeerKey,
        supplier: Supplier,
        request: BlockRequest,
        data: Bytes,
    ) -> bool {
        if self.early_rate.counts_blocks() {
            self.early_rate.block_received(Instant::now(), data.len());
        }
        let received = self.picker.block_received(key, request);
        for (other, cancelled) in received.cancel {
            self.cancel_request(other, cancelled);
        }
        if !received.new {
            self.wasted += data.len() as u64;
        } else {
            self.downloaded += data.len() as u64;
            let piece_len = self.metainfo.info.piece_len(request.piece);
            let buffer = self
                .pieces
                .entry(request.piece)
                .or_insert_with(|| PieceBuffer::new(piece_len, &mut self.spare_buffers));
            let start = request.offset as usize;
            let block = (request.offset / BLOCK_SIZE) as usize;
            // The request was ours, so it lies inside the piece; check anyway
            // rather than trust that in an index.
            if let Some(slot) = buffer.data.get_mut(start..start + data.len())
                && let Some(flag) = buffer.received.get_mut(block)
            {
                slot.copy_from_slice(&data);
                *flag = true;
                buffer.contributors.insert(supplier);
            }
        }
        if received.piece_complete {
            self.check_piece(request.piece);
        }
        received.new
    }

    /// Hashes a complete piece off the runtime and writes it if it matches.
    fn check_piece(&mut self, piece: u32) {
        let buffer = self.pieces.remove(&piece);
        let Some(buffer) = buffer.filter(PieceBuffer::is_complete) else {
            // The picker and our buffer disagree; fetch the piece again
            // rather than hash a hole, and blame nobody.
            self.picker.piece_failed(piece);
            return;
        };
        tracing::trace!(piece, "piece complete, hashing");
        let storage = self.storage.clone();
        let done = self.checked_tx.clone();
        let contributors = buffer.contributors;
        let data = buffer.data;
        tokio::task::spawn_blocking(move || {
            let result = if storage.piece_matches(piece, &data) {
                storage.write_piece(piece, &data).map(|()| true)
            } else {
                Ok(false)
            };
            let _ = done.send(PieceChecked {
                piece,
                contributors,
                buffer: data,
                result,
            });
        });
    }

    fn on_piece_checked(&mut self, checked: PieceChecked) {
        let piece = checked.piece;
        self.spare_buffers.give(checked.buffer);
        match checked.result {
            Ok(true) => {
                if !self.have.set(piece) {
                    return;
                }
                tracing::trace!(piece, "piece verified");
                if self.early_rate.active() {
                    // Published before the piece: a reader it wakes sees
                    // the rate that came with it.
                    self.early_rate.measure(Instant::now());
                    self.publish_stats();
                }
                self.picker.have_piece(piece);
                self.left = self
                    .left
                    .saturating_sub(u64::from(self.metainfo.info.piece_len(piece)));
                self.outputs.have.send_modify(|have| {
                    have.set(piece);
                });
                for peer in self.peers.values() {
                    if peer.handshaken {
                        peer.send(PeerCommand::Have(piece));
                    }
                }
                self.emit(TorrentEvent::PieceVerified(piece));
                if self.picker.is_complete() && self.state == TorrentState::Downloading {
                    self.finished();
                }
            }
            Ok(false) => {
                self.wasted += u64::from(self.metainfo.info.piece_len(piece));
                self.picker.piece_failed(piece);
                self.emit(TorrentEvent::HashFailed { piece });
                self.blame(piece, &checked.contributors);
                self.request_from_all();
            }
            Err(error) => self.fail(error),
        }
    }

    /// Strikes the suppliers of a failed piece, banning peers and
    /// dropping web seeds as they deserve.
    fn blame(&mut self, piece: u32, contributors: &HashSet<Supplier>) {
        for supplier in self.strikes.piece_failed(contributors) {
            match supplier {
                Supplier::Peer(ip) => self.ban(ip),
                Supplier::WebSeed(key) => {
                    self.drop_web_seed(key, &WebSeedError::HashFailed(piece));
                }
            }
        }
    }

    fn ban(&mut self, ip: IpAddr) {
        if !self.banned.insert(ip) {
            return;
        }
        tracing::info!(%ip, "banned for sending corrupt data");
        self.candidates.forget_ip(ip);
        for peer in self.peers.values().filter(|p| p.addr.ip() == ip) {
            peer.send(PeerCommand::Disconnect);
        }
        self.emit(TorrentEvent::PeerBanned(ip));
    }

    fn finished(&mut self) {
        self.state = TorrentState::Seeding;
        self.stop_web_seeds();
        self.emit(TorrentEvent::Finished);
        let keys: Vec<_> = self.peers.keys().copied().collect();
        for key in keys {
            self.update_interest(key);
            if let Some(peer) = self.peers.get(&key)
                && peer.pieces.is_full()
            {
                peer.send(PeerCommand::Disconnect);
            }
        }
        self.publish_stats();
    }

    /// A disk error stops the torrent: it is ours, not the peers' fault.
    fn fail(&mut self, error: StorageError) {
        let failure = TorrentFailure::from(&error);
        let message = failure.to_string();
        tracing::error!(torrent = %self.metainfo.info.name, %message, "storage failed");
        self.disconnect_all();
        self.stop_announcer();
        self.stop_web_seeds();
        self.state = TorrentState::Error(failure);
        self.emit(TorrentEvent::Error(message));
        self.publish_stats();
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last_tick);
        self.last_tick = now;
        let mut snubbed = Vec::new();
        for (&key, peer) in &mut self.peers {
            peer.download_rate
                .update(peer.counters.downloaded.total(), elapsed);
            peer.upload_rate
                .update(peer.counters.uploaded.total(), elapsed);
            if !peer.requests.is_empty()
                && !peer.snubbed
                && now.duration_since(peer.last_block) >= SNUB_TIMEOUT
            {
                snubbed.push(key);
            }
        }
        for key in snubbed {
            self.snub(key);
        }
        for seed in self.web_seeds.values_mut() {
            seed.tick(elapsed);
        }
        let (downloaded, uploaded) = self.update_rates(elapsed);
        self.early_rate.tick();
        self.transfer.send_if_modified(|transfer| {
            let now = TransferStats {
                uploaded,
                downloaded,
                left: self.left,
            };
            let changed = *transfer != now;
            *transfer = now;
            changed
        });
        if now.duration_since(self.last_optimistic) >= OPTIMISTIC_UNCHOKE_INTERVAL {
            self.last_optimistic = now;
            self.optimistic = self
                .peers
                .iter()
                .filter(|(_, p)| p.peer_interested && p.am_choking)
                .map(|(&key, _)| key)
                .choose(&mut rand::thread_rng());
            self.rechoke();
        } else if now.duration_since(self.last_rechoke) >= RECHOKE_INTERVAL {
            self.rechoke();
        }
        self.request_from_all();
        self.connect_more();
        self.exchange_peers(now);
        self.publish_stats();
    }

    /// Sends each peer that speaks `ut_pex` what changed among the others,
    /// at most once per `PEX_INTERVAL` each.
    fn exchange_peers(&mut self, now: Instant) {
        if self.metainfo.info.private {
            return;
        }
        let connected: HashMap<SocketAddr, PexFlags> = self
            .peers
            .values()
            .filter(|p| p.handshaken)
            .filter_map(|p| {
                let mut flags = 0;
                if p.outgoing {
                    flags |= PexFlags::REACHABLE;
                }
                if p.pieces.is_full() {
                    flags |= PexFlags::SEED;
                }
                Some((p.listen_addr?, PexFlags(flags)))
            })
            .collect();
        for peer in self.peers.values_mut().filter(|p| p.handshaken) {
            let Some(pex) = &mut peer.pex else {
                continue;
            };
            let mut others = connected.clone();
            if let Some(own) = peer.listen_addr {
                others.remove(&own);
            }
            if let Some(message) = pex.next_message(now, &others) {
                let _ = peer.commands.send(PeerCommand::Pex(message));
            }
        }
    }

    /// A peer that stopped sending: its blocks go to others, and it keeps
    /// one request so it can prove itself again.
    fn snub(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        tracing::debug!(peer = %peer.addr, "snubbed");
        peer.snubbed = true;
        let requests: Vec<_> = peer.requests.iter().copied().collect();
        for request in requests {
            peer.cancel(request);
            self.picker.block_dropped(key, request);
        }
        self.picker.set_backlog(key, peer.backlog_bytes());
    }

    fn rechoke(&mut self) {
        self.last_rechoke = Instant::now();
        let seeding = self.state == TorrentState::Seeding;
        let candidates: Vec<_> = self
            .peers
            .iter()
            .filter(|(_, p)| p.handshaken)
            .map(|(&key, p)| ChokeCandidate {
                key,
                interested: p.peer_interested,
                rate: if seeding {
                    p.upload_rate.get()
                } else {
                    p.download_rate.get()
                },
            })
            .collect();
        let unchoke = peers_to_unchoke(&candidates, self.optimistic);
        for (key, peer) in &mut self.peers {
            let choke = !unchoke.contains(key);
            if choke != peer.am_choking && peer.handshaken {
                peer.am_choking = choke;
                peer.send(if choke {
                    PeerCommand::Choke
                } else {
                    PeerCommand::Unchoke
                });
            }
        }
    }

    /// Payload bytes received (from peers and web seeds) and sent so far.
    fn transferred(&self) -> (u64, u64) {
        let mut downloaded = self.gone_downloaded + self.web_seed_received;
        let mut uploaded = self.gone_uploaded;
        for peer in self.peers.values() {
            downloaded += peer.counters.downloaded.total();
            uploaded += peer.counters.uploaded.total();
        }
        (downloaded, uploaded)
    }

    /// Updates the torrent's rates from the bytes moved in the `elapsed`
    /// since the last tick; returns the totals.
    fn update_rates(&mut self, elapsed: Duration) -> (u64, u64) {
        let (downloaded, uploaded) = self.transferred();
        self.download_rate.update(downloaded, elapsed);
        self.upload_rate.update(uploaded, elapsed);
        (downloaded, uploaded)
    }

    fn publish_stats(&self) {
        let (_, uploaded) = self.transferred();
        let stats = TorrentStats {
            state: self.state.clone(),
            download_rate: self
                .early_rate
                .rate()
                .unwrap_or_else(|| self.download_rate.get()),
            upload_rate: self.upload_rate.get(),
            peers: self.peers.values().filter(|p| p.handshaken).count(),
            pieces_had: self.have.count(),
            piece_count: self.have.len(),
            bytes_downloaded: self.downloaded,
            bytes_uploaded: uploaded,
            wasted_bytes: self.wasted,
            bytes_from_web_seeds: self.bytes_from_web_seeds,
            web_seeds: self.web_seeds.len(),
            availability: self.availability.clone(),
        };
        self.outputs.stats.send_replace(stats);
    }
}
