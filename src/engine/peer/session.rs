//! The peer session task and its reader task.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::{PeerCommand, PeerEvent, PeerEventKind};
use crate::engine::bitfield::Bitfield;
use crate::engine::limits::{
    CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, KEEPALIVE_INTERVAL, MAX_BLOCK_BYTES, MAX_INVALID_REQUESTS,
    MAX_QUEUED_REQUESTS, PEER_SILENCE_TIMEOUT, PEX_INTERVAL,
};
use crate::engine::metainfo::Metainfo;
use crate::engine::picker::PeerKey;
use crate::engine::rate_limit::{RateLimiter, RateMeter};
use crate::engine::storage::Storage;
use crate::engine::wire::metadata::OUR_UT_METADATA_ID;
use crate::engine::wire::pex::OUR_UT_PEX_ID;
use crate::engine::wire::{
    BlockRequest, EXTENSION_HANDSHAKE_ID, ExtensionHandshake, Handshake, Message, MessageCodec,
    MetadataMessage, PexMessage, Reserved, UT_METADATA, UT_PEX, WireError,
};

/// Messages the reader may parse ahead of the session: enough to keep the
/// socket busy, few enough that a flood waits in the kernel, not in memory.
const READ_AHEAD_MESSAGES: usize = 64;

/// Payload bytes moved on one connection, read by the torrent task for
/// rates and choking.
#[derive(Default)]
pub struct PeerCounters {
    pub downloaded: RateMeter,
    pub uploaded: RateMeter,
}

/// Everything a session needs from its torrent and engine.
pub struct PeerParams {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub metainfo: Arc<Metainfo>,
    pub our_peer_id: [u8; 20],
    /// Where we accept peers, told in our BEP 10 handshake so that peers
    /// that did not dial us can pass our address on.
    pub listen_port: u16,
    /// Our verified pieces: what we announce and may serve.
    pub have: watch::Receiver<Bitfield>,
    pub storage: Arc<Storage>,
    pub upload_limit: Arc<RateLimiter>,
    pub download_limit: Arc<RateLimiter>,
    pub counters: Arc<PeerCounters>,
    pub events: mpsc::Sender<PeerEvent>,
    /// One of the engine's connection slots, held while the session lives.
    pub permit: OwnedSemaphorePermit,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("silent for too long")]
    Silent,
    #[error("connection closed by the peer")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("peer is for another torrent")]
    WrongInfoHash,
    #[error("connected to ourselves")]
    SelfConnection,
    #[error("protocol violation: {0}")]
    Violation(&'static str),
    #[error("more than {MAX_QUEUED_REQUESTS} queued requests")]
    TooManyRequests,
    #[error("more than {MAX_INVALID_REQUESTS} invalid requests")]
    TooManyInvalidRequests,
    #[error("disconnected by us")]
    Disconnected,
    #[error("storage: {0}")]
    Storage(String),
}

/// Connects to `params.addr`, handshakes and runs the session until it ends.
pub async fn run_outgoing(params: PeerParams, commands: mpsc::UnboundedReceiver<PeerCommand>) {
    let result = async {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(params.addr))
            .await
            .map_err(|_| SessionEnd::ConnectTimeout)??;
        // Small messages (requests, haves) must not wait for Nagle.
        stream.set_nodelay(true)?;
        let (mut reader, mut writer) = stream.into_split();
        our_handshake(&params).write(&mut writer).await?;
        let theirs = tokio::time::timeout(HANDSHAKE_TIMEOUT, Handshake::read(&mut reader))
            .await
            .map_err(|_| SessionEnd::HandshakeTimeout)??;
        check_handshake(&theirs, &params)?;
        Ok((reader, writer, theirs))
    }
    .await;
    match result {
        Ok((reader, writer, theirs)) => {
            let result = Session::run(reader, writer, &theirs, &params, commands).await;
            finish(result, &params).await;
        }
        Err(end) => finish(Err(end), &params).await,
    }
}

/// Runs an incoming connection whose handshake the listener already read.
pub async fn run_incoming(
    stream: TcpStream,
    theirs: Handshake,
    params: PeerParams,
    commands: mpsc::UnboundedReceiver<PeerCommand>,
) {
    let result = async {
        check_handshake(&theirs, &params)?;
        stream.set_nodelay(true)?;
        let (reader, mut writer) = stream.into_split();
        our_handshake(&params).write(&mut writer).await?;
        Session::run(reader, writer, &theirs, &params, commands).await
    }
    .await;
    finish(result, &params).await;
}

fn our_handshake(params: &PeerParams) -> Handshake {
    Handshake {
        reserved: Reserved::ours(),
        info_hash: params.metainfo.info_hash,
        peer_id: params.our_peer_id,
    }
}

fn check_handshake(theirs: &Handshake, params: &PeerParams) -> Result<(), SessionEnd> {
    if theirs.info_hash != params.metainfo.info_hash {
        return Err(SessionEnd::WrongInfoHash);
    }
    if theirs.peer_id == params.our_peer_id {
        return Err(SessionEnd::SelfConnection);
    }
    Ok(())
}

async fn finish(result: Result<(), SessionEnd>, params: &PeerParams) {
    let reason = match result {
        Ok(()) => "torrent closed".to_owned(),
        Err(end) => end.to_string(),
    };
    tracing::debug!(peer = %params.addr, %reason, "peer session ended");
    // The torrent may already be gone; then nobody needs to know.
    let _ = params
        .events
        .send(PeerEvent {
            key: params.key,
            kind: PeerEventKind::Gone { reason },
        })
        .await;
}

/// State of one running session, apart from the sockets.
struct Session<'a, W> {
    params: &'a PeerParams,
    writer: W,
    /// Encoded messages not yet written; flushed once per loop turn so a
    /// burst of requests leaves in one write.
    out: BytesMut,
    piece_count: u32,
    fast: bool,
    am_choking: bool,
    /// Whether the peer has told us its pieces (bitfield, HaveAll, HaveNone);
    /// only allowed once, before any Have.
    pieces_known: bool,
    queued: VecDeque<BlockRequest>,
    invalid_requests: u32,
    last_write: Instant,
    /// The id the peer wants `ut_metadata` messages under, if it speaks it.
    their_ut_metadata: Option<u8>,
    /// The id the peer wants `ut_pex` messages under, if it speaks it.
    their_ut_pex: Option<u8>,
    /// When the peer's last `ut_pex` message was taken.
    last_pex_received: Option<Instant>,
}

impl<'a, W: AsyncWrite + Unpin> Session<'a, W> {
    async fn run<R>(
        reader: R,
        writer: W,
        theirs: &Handshake,
        params: &'a PeerParams,
        mut commands: mpsc::UnboundedReceiver<PeerCommand>,
    ) -> Result<(), SessionEnd>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let fast = theirs.reserved.fast();
        let mut session = Session {
            params,
            writer,
            out: BytesMut::new(),
            piece_count: params.metainfo.info.piece_count(),
            fast,
            am_choking: true,
            pieces_known: false,
            queued: VecDeque::new(),
            invalid_requests: 0,
            last_write: Instant::now(),
            their_ut_metadata: None,
            their_ut_pex: None,
            last_pex_received: None,
        };
        session
            .report(PeerEventKind::Connected {
                addr: params.addr,
                fast,
            })
            .await?;
        if theirs.reserved.extension_protocol() {
            session.send_extension_handshake();
        }
        session.send_our_pieces();
        session.flush().await?;

        let (incoming_tx, mut incoming) = mpsc::channel(READ_AHEAD_MESSAGES);
        let reader_task = tokio::spawn(read_messages(
            reader,
            params.download_limit.clone(),
            params.counters.clone(),
            incoming_tx,
        ));
        let result = session.serve(&mut incoming, &mut commands).await;
        reader_task.abort();
        result
    }

    async fn serve(
        &mut self,
        incoming: &mut mpsc::Receiver<Result<Message, SessionEnd>>,
        commands: &mut mpsc::UnboundedReceiver<PeerCommand>,
    ) -> Result<(), SessionEnd> {
        let mut keepalive = tokio::time::interval(KEEPALIVE_INTERVAL / 3);
        loop {
            let can_serve = !self.am_choking && !self.queued.is_empty();
            tokio::select! {
                message = incoming.recv() => {
                    self.on_incoming(message).await?;
                    // Take in what else has arrived before serving another
                    // block, so a request flood meets the queue limit
                    // instead of hiding behind our own slow writes.
                    while let Ok(message) = incoming.try_recv() {
                        self.on_incoming(Some(message)).await?;
                    }
                }
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command)?,
                    None => return Ok(()),
                },
                _ = keepalive.tick() => {
                    if self.last_write.elapsed() >= KEEPALIVE_INTERVAL {
                        self.send(&Message::KeepAlive);
                    }
                }
                () = std::future::ready(()), if can_serve => self.serve_one().await?,
            }
            // Batch what is ready (e.g. a burst of requests) into one write.
            while let Ok(command) = commands.try_recv() {
                self.on_command(command)?;
            }
            self.flush().await?;
        }
    }

    async fn on_incoming(
        &mut self,
        message: Option<Result<Message, SessionEnd>>,
    ) -> Result<(), SessionEnd> {
        match message {
            Some(Ok(message)) => self.on_message(message).await,
            Some(Err(end)) => Err(end),
            None => Err(SessionEnd::Closed),
        }
    }

    async fn flush(&mut self) -> Result<(), SessionEnd> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
            self.last_write = Instant::now();
        }
        Ok(())
    }

    async fn report(&self, kind: PeerEventKind) -> Result<(), SessionEnd> {
        self.params
            .events
            .send(PeerEvent {
                key: self.params.key,
                kind,
            })
            .await
            // The torrent task is gone: end quietly.
            .map_err(|_| SessionEnd::Disconnected)
    }

    fn send(&mut self, message: &Message) {
        message.encode_into(&mut self.out);
    }

    fn send_extension_handshake(&mut self) {
        // We serve our info dictionary to peers resolving a magnet link,
        // and trade peers, except for private torrents (BEP 27).
        let mut extensions = vec![(UT_METADATA.to_owned(), OUR_UT_METADATA_ID)];
        if !self.params.metainfo.info.private {
            extensions.push((UT_PEX.to_owned(), OUR_UT_PEX_ID));
        }
        let handshake = ExtensionHandshake {
            extensions: extensions.into_iter().collect(),
            listen_port: Some(self.params.listen_port).filter(|&port| port != 0),
            client: Some(concat!("Piecewise ", env!("CARGO_PKG_VERSION")).to_owned()),
            request_queue: Some(MAX_QUEUED_REQUESTS as u32),
            metadata_size: u32::try_from(self.params.metainfo.info_bytes.len())
                .ok()
                .filter(|&size| size > 0),
            ..ExtensionHandshake::default()
        };
        self.send(&Message::Extended {
            id: EXTENSION_HANDSHAKE_ID,
            payload: handshake.encode(),
        });
    }

    fn send_our_pieces(&mut self) {
        let have = self.params.have.borrow().clone();
        let message = if self.fast && have.is_full() {
            Message::HaveAll
        } else if have.count() == 0 {
            if !self.fast {
                // Without Fast, an empty set is announced by silence.
                return;
            }
            Message::HaveNone
        } else {
            Message::Bitfield(have.to_wire())
        };
        self.send(&message);
    }

    fn on_command(&mut self, command: PeerCommand) -> Result<(), SessionEnd> {
        match command {
            PeerCommand::Request(requests) => {
                for request in requests {
                    self.send(&Message::Request(request));
                }
            }
            PeerCommand::Cancel(request) => self.send(&Message::Cancel(request)),
            PeerCommand::Choke => {
                if !self.am_choking {
                    self.am_choking = true;
                    self.send(&Message::Choke);
                    // BEP 6: with Fast, every dropped request is rejected.
                    let dropped: Vec<_> = self.queued.drain(..).collect();
                    if self.fast {
                        for request in dropped {
                            self.send(&Message::RejectRequest(request));
                        }
                    }
                }
            }
            PeerCommand::Unchoke => {
                if self.am_choking {
                    self.am_choking = false;
                    self.send(&Message::Unchoke);
                }
            }
            PeerCommand::Interested => self.send(&Message::Interested),
            PeerCommand::NotInterested => self.send(&Message::NotInterested),
            PeerCommand::Have(piece) => self.send(&Message::Have(piece)),
            PeerCommand::Pex(message) => {
                if let Some(id) = self.their_ut_pex {
                    self.send(&Message::Extended {
                        id,
                        payload: message.encode(),
                    });
                }
            }
            PeerCommand::Disconnect => return Err(SessionEnd::Disconnected),
        }
        Ok(())
    }

    fn check_piece_index(&self, piece: u32) -> Result<(), SessionEnd> {
        if piece < self.piece_count {
            Ok(())
        } else {
            Err(SessionEnd::Violation("piece index out of range"))
        }
    }

    fn require_fast(&self) -> Result<(), SessionEnd> {
        if self.fast {
            Ok(())
        } else {
            Err(SessionEnd::Violation("Fast extension message without Fast"))
        }
    }

    /// The peer's whole piece set, allowed once and before any Have.
    async fn on_pieces(&mut self, pieces: Bitfield) -> Result<(), SessionEnd> {
        if self.pieces_known {
            return Err(SessionEnd::Violation(
                "piece set sent twice or after a have",
            ));
        }
        self.pieces_known = true;
        self.report(PeerEventKind::Pieces(pieces)).await
    }

    async fn on_message(&mut self, message: Message) -> Result<(), SessionEnd> {
        match message {
            Message::KeepAlive | Message::Port(_) => Ok(()),
            Message::Extended { id, payload } => {
                if id == EXTENSION_HANDSHAKE_ID {
                    let handshake = ExtensionHandshake::decode(&payload)?;
                    self.their_ut_metadata = handshake.extensions.get(UT_METADATA).copied();
                    if !self.params.metainfo.info.private {
                        self.their_ut_pex = handshake.extensions.get(UT_PEX).copied();
                    }
                    self.report(PeerEventKind::Extensions {
                        request_queue: handshake.request_queue,
                        client: handshake.client,
                        listen_port: handshake.listen_port,
                        pex: self.their_ut_pex.is_some(),
                    })
                    .await?;
                } else if id == OUR_UT_METADATA_ID {
                    self.on_metadata_message(&payload)?;
                } else if id == OUR_UT_PEX_ID && self.their_ut_pex.is_some() {
                    self.on_pex_message(&payload).await?;
                }
                // Extensions we do not speak are ignored; the codec
                // already bounded their size.
                Ok(())
            }
            Message::Choke => self.report(PeerEventKind::Choke).await,
            Message::Unchoke => self.report(PeerEventKind::Unchoke).await,
            Message::Interested => self.report(PeerEventKind::Interested).await,
            Message::NotInterested => self.report(PeerEventKind::NotInterested).await,
            Message::Have(piece) => {
                self.check_piece_index(piece)?;
                self.pieces_known = true;
                self.report(PeerEventKind::Have(piece)).await
            }
            Message::Bitfield(bytes) => {
                let pieces = Bitfield::from_wire(&bytes, self.piece_count)
                    .ok_or(SessionEnd::Violation("malformed bitfield"))?;
                self.on_pieces(pieces).await
            }
            Message::HaveAll => {
                self.require_fast()?;
                self.on_pieces(Bitfield::full(self.piece_count)).await
            }
            Message::HaveNone => {
                self.require_fast()?;
                self.on_pieces(Bitfield::new(self.piece_count)).await
            }
            Message::Request(request) => self.on_request(request).await,
            Message::Cancel(request) => {
                let queued = self.queued.len();
                self.queued.retain(|queued| *queued != request);
                // BEP 6: with Fast every request gets exactly one answer, a
                // cancelled one too; without it the peer counts the block as
                // still coming (its backlog) for good.
                if self.fast && self.queued.len() < queued {
                    self.send(&Message::RejectRequest(request));
                }
                Ok(())
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                self.check_piece_index(piece)?;
                let request = BlockRequest {
                    piece,
                    offset,
                    length: data.len() as u32,
                };
                self.report(PeerEventKind::Block { request, data }).await
            }
            Message::SuggestPiece(piece) => {
                self.require_fast()?;
                self.check_piece_index(piece)
            }
            Message::RejectRequest(request) => {
                self.require_fast()?;
                self.report(PeerEventKind::Rejected(request)).await
            }
            Message::AllowedFast(piece) => {
                self.require_fast()?;
                self.check_piece_index(piece)?;
                self.report(PeerEventKind::AllowedFast(piece)).await
            }
        }
    }

    /// Answers a peer's request for a piece of our info dictionary (BEP 9);
    /// each answer is at most one 16 KiB piece per request received.
    fn on_metadata_message(&mut self, payload: &Bytes) -> Result<(), SessionEnd> {
        let (Some(MetadataMessage::Request { piece }), Some(their_id)) =
            (MetadataMessage::decode(payload)?, self.their_ut_metadata)
        else {
            return Ok(());
        };
        let answer = MetadataMessage::data_from(&self.params.metainfo.info_bytes, piece)
            .unwrap_or(MetadataMessage::Reject { piece });
        self.send(&Message::Extended {
            id: their_id,
            payload: answer.encode(),
        });
        Ok(())
    }

    /// Passes on the peers a `ut_pex` message adds. Messages sooner than
    /// half a `PEX_INTERVAL` after the last one taken are ignored (honest
    /// peers send one a minute), and so are malformed ones: PEX is a hint,
    /// not worth a connection.
    async fn on_pex_message(&mut self, payload: &Bytes) -> Result<(), SessionEnd> {
        let now = Instant::now();
        if self
            .last_pex_received
            .is_some_and(|last| now.duration_since(last) < PEX_INTERVAL / 2)
        {
            return Ok(());
        }
        self.last_pex_received = Some(now);
        match PexMessage::decode(payload) {
            Ok(message) if !message.added.is_empty() => {
                let added = message.added.into_iter().map(|(addr, _)| addr).collect();
                self.report(PeerEventKind::Pex(added)).await
            }
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::debug!(peer = %self.params.addr, %error, "ignoring a PEX message");
                Ok(())
            }
        }
    }

    fn request_is_valid(&self, request: &BlockRequest) -> bool {
        let info = &self.params.metainfo.info;
        request.piece < self.piece_count
            && request.length > 0
            && request.length <= MAX_BLOCK_BYTES
            && request
                .offset
                .checked_add(request.length)
                .is_some_and(|end| end <= info.piece_len(request.piece))
            && self.params.have.borrow().get(request.piece)
    }

    async fn on_request(&mut self, request: BlockRequest) -> Result<(), SessionEnd> {
        if self.am_choking || !self.request_is_valid(&request) {
            self.invalid_requests += 1;
            if self.invalid_requests > MAX_INVALID_REQUESTS {
                return Err(SessionEnd::TooManyInvalidRequests);
            }
            if self.fast {
                self.send(&Message::RejectRequest(request));
            }
            return Ok(());
        }
        if self.queued.len() >= MAX_QUEUED_REQUESTS {
            return Err(SessionEnd::TooManyRequests);
        }
        self.queued.push_back(request);
        Ok(())
    }

    /// Sends the oldest queued block.
    async fn serve_one(&mut self) -> Result<(), SessionEnd> {
        let Some(request) = self.queued.pop_front() else {
            return Ok(());
        };
        let storage = self.params.storage.clone();
        let data = tokio::task::spawn_blocking(move || {
            storage.read_block(request.piece, request.offset, request.length)
        })
        .await
        .map_err(|e| SessionEnd::Storage(e.to_string()))?
        .map_err(|e| SessionEnd::Storage(e.to_string()))?;
        self.params
            .upload_limit
            .acquire(u64::from(request.length))
            .await;
        self.send(&Message::Piece {
            piece: request.piece,
            offset: request.offset,
            data: Bytes::from(data),
        });
        self.params.counters.uploaded.add(u64::from(request.length));
        Ok(())
    }
}

/// Parses messages off the socket and hands them to the session; piece
/// payloads pass the global download limit here, so a limited connection
/// stops reading and TCP slows the sender down.
async fn read_messages<R: AsyncRead + Unpin>(
    reader: R,
    download_limit: Arc<RateLimiter>,
    counters: Arc<PeerCounters>,
    messages: mpsc::Sender<Result<Message, SessionEnd>>,
) {
    let mut reader = FramedRead::new(reader, MessageCodec);
    loop {
        let message = match tokio::time::timeout(PEER_SILENCE_TIMEOUT, reader.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(e))) => {
                let _ = messages.send(Err(e.into())).await;
                return;
            }
            Ok(None) => {
                let _ = messages.send(Err(SessionEnd::Closed)).await;
                return;
            }
            Err(_) => {
                let _ = messages.send(Err(SessionEnd::Silent)).await;
                return;
            }
        };
        if let Message::Piece { data, .. } = &message {
            let bytes = data.len() as u64;
            download_limit.acquire(bytes).await;
            counters.downloaded.add(bytes);
        }
        if messages.send(Ok(message)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use sha1::{Digest, Sha1};
    use tokio::io::AsyncReadExt;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::engine::metainfo::{FileEntry, Info, InfoHash};

    fn params(dir: &std::path::Path) -> (PeerParams, mpsc::Receiver<PeerEvent>) {
        let info = Info {
            name: "t".into(),
            piece_length: 16 * 1024,
            piece_hashes: vec![Sha1::digest([7u8; 100]).into()],
            files: vec![FileEntry {
                path: PathBuf::from("t"),
                length: 100,
                offset: 0,
                pad: false,
            }],
            total_length: 100,
            private: false,
        };
        let storage = Storage::open(dir, &info).unwrap();
        let metainfo = Metainfo {
            info_hash: InfoHash([1; 20]),
            info,
            info_bytes: Bytes::new(),
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            created_by: None,
        };
        let (events, events_rx) = mpsc::channel(16);
        let (_, have) = watch::channel(Bitfield::new(1));
        let params = PeerParams {
            key: 1,
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            metainfo: Arc::new(metainfo),
            our_peer_id: [2; 20],
            listen_port: 0,
            have,
            storage: Arc::new(storage),
            upload_limit: Arc::new(RateLimiter::new(0)),
            download_limit: Arc::new(RateLimiter::new(0)),
            counters: Arc::default(),
            events,
            permit: Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap(),
        };
        (params, events_rx)
    }

    /// On a paused clock: a peer whose listener never completes the
    /// connection (its backlog is full, so our SYN goes unanswered) is
    /// given up after `CONNECT_TIMEOUT`.
    #[tokio::test(start_paused = true)]
    async fn connection_that_never_completes_is_given_up_after_the_connect_timeout() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        // A backlog of 0 holds one connection nobody accepts; later SYNs
        // are dropped.
        let _queued = std::net::TcpStream::connect(addr).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (mut params, mut events) = params(dir.path());
        params.addr = addr;
        let (_commands_tx, commands) = mpsc::unbounded_channel();
        let start = tokio::time::Instant::now();
        run_outgoing(params, commands).await;
        let elapsed = start.elapsed();
        let event = events.recv().await.unwrap();
        assert!(
            matches!(&event.kind, PeerEventKind::Gone { reason } if reason == "connect timed out"),
            "{:?}",
            event.kind
        );
        assert!(
            elapsed >= CONNECT_TIMEOUT && elapsed < CONNECT_TIMEOUT + Duration::from_secs(1),
            "{elapsed:?}"
        );
    }

    /// On a paused clock: an idle session sends keep-alives every
    /// `KEEPALIVE_INTERVAL` and drops a peer silent for
    /// `PEER_SILENCE_TIMEOUT`.
    #[tokio::test(start_paused = true)]
    async fn idle_session_keeps_alive_and_drops_a_silent_peer() {
        let dir = tempfile::tempdir().unwrap();
        let (params, _events) = params(dir.path());
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let (reader, writer) = tokio::io::split(ours);
        let handshake = Handshake {
            reserved: Reserved::default(),
            info_hash: params.metainfo.info_hash,
            peer_id: [3; 20],
        };
        let (_commands_tx, commands) = mpsc::unbounded_channel();
        let start = tokio::time::Instant::now();
        let silent_peer = tokio::spawn(async move {
            // Read what the session sends, note when keep-alives came.
            let mut keepalives = Vec::new();
            let mut frame = [0u8; 4];
            while theirs.read_exact(&mut frame).await.is_ok() {
                let length = u32::from_be_bytes(frame) as usize;
                if length == 0 {
                    keepalives.push(start.elapsed());
                } else {
                    let mut payload = vec![0; length];
                    theirs.read_exact(&mut payload).await.unwrap();
                }
            }
            keepalives
        });
        let end = Session::run(reader, writer, &handshake, &params, commands).await;
        assert!(matches!(end, Err(SessionEnd::Silent)), "{end:?}");
        let elapsed = start.elapsed();
        assert!(
            elapsed >= PEER_SILENCE_TIMEOUT
                && elapsed < PEER_SILENCE_TIMEOUT + Duration::from_secs(1)
        );
        drop(params);
        let keepalives = silent_peer.await.unwrap();
        assert!(!keepalives.is_empty(), "no keep-alive in {elapsed:?}");
        assert!(keepalives[0] >= KEEPALIVE_INTERVAL, "{keepalives:?}");
        assert!(
            keepalives[0] < KEEPALIVE_INTERVAL + KEEPALIVE_INTERVAL / 3 + Duration::from_secs(1)
        );
    }
}
