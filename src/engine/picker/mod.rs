//! The piece picker: which blocks to request from which peer, so that the
//! player gets what it reads next in time and the swarm still gets rare
//! pieces from us. Pure and synchronous: the torrent task owns one
//! [`Picker`], feeds it events and the clock, and sends what it returns.
//! See `DESIGN.md` beside this file for the states and the deadline model.

mod deadline;
mod overdue;
mod piece;
mod rescue;
mod slow_start;
pub mod startup;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::engine::bitfield::Bitfield;
use crate::engine::metainfo::Info;
use crate::engine::wire::{BLOCK_SIZE, BlockRequest};

pub use deadline::{MAX_WINDOW_PIECES, PieceDeadline};
use piece::{Block, InFlight, PartialPiece, block_index, block_request};
use rescue::PeerSchedule;

/// Identifies one peer connection; unique for the torrent's lifetime.
pub type PeerKey = u64;

/// Most requests of one block that may be in flight at once in endgame
/// under the policies without [`DeadlineParams::max_duplicates`].
const ENDGAME_MAX_COPIES: usize = 2;

/// A request is never late sooner than this after it was sent: round trips
/// and rate estimates jitter by tens of milliseconds.
const MIN_LATE_AFTER: Duration = Duration::from_millis(500);

/// A copy of a block that will miss its deadline is requested from a
/// quicker peer only if that saves at least this much: smaller gains are
/// within the noise of rate estimates.
const MIN_RESCUE_GAIN: Duration = Duration::from_millis(500);

/// A standby source counts on the peers only for blocks they would bring
/// this long before the deadline: rate estimates trail a slowing peer, and
/// a block found late then still needs the origin's round trip and its
/// transfer. In a swarm below the bitrate this adds to the buffer, not to
/// the origin's share, which the swarm's deficit sets.
const RESCUE_MARGIN: Duration = Duration::from_secs(1);

/// When the peer's rate is still unknown, its request is late after this.
const UNKNOWN_RATE_LATE_AFTER: Duration = Duration::from_secs(3);

/// Time-critical blocks a peer whose rate is still unknown may have in
/// flight: a new peer may be slow, and the first frame's bytes must not
/// all queue on one peer. While any piece is time-critical it takes no
/// other work, so critical blocks never queue behind a full pipeline.
const UNKNOWN_RATE_CRITICAL_BLOCKS: usize = 4;

/// A peer with nothing in flight counts as a candidate for time-critical
/// blocks only if it asked for work this recently: a choked peer loses its
/// requests and stops calling `pick`.
const ACTIVE_PEER_WINDOW: Duration = Duration::from_secs(2);

/// Above this many pieces in one bitfield, availability is recounted in
/// bulk and the rarity order rebuilt in one sort, cheaper than moving each
/// piece in the order on its own.
const BULK_AVAILABILITY_CHANGE: u32 = 4096;

/// How pieces are chosen. Selectable so users and researchers can compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    /// Lowest wanted piece first; ignores read heads.
    Sequential,
    /// Classic BitTorrent: finish started pieces, then the rarest in the
    /// swarm, ties broken at random; ignores read heads.
    RarestFirst,
    /// Streaming: the window after each read head by deadline, from the
    /// peers that can deliver in time; rarest-first outside the window.
    Deadline(DeadlineParams),
}

impl Default for Policy {
    fn default() -> Self {
        Self::Deadline(DeadlineParams::default())
    }
}

/// Tuning of [`Policy::Deadline`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeadlineParams {
    /// Seconds of media after each read head that are time-critical.
    /// 10 s matches the buffer players keep ahead: enough to ride out a
    /// slow peer, short enough that most picks stay rarest-first.
    pub window_secs: f64,
    /// Fewest pieces in a window, whatever the rate: with low bitrates and
    /// big pieces a window of seconds would not even cover the next piece.
    pub min_window_pieces: u32,
    /// Extra copies of a late time-critical block that may be in flight at
    /// once (also the endgame bound). 1 caps the waste at one block per
    /// late block while one slow peer can no longer stall playback.
    pub max_duplicates: u32,
    /// A request is late after this many times its estimated delivery time
    /// (queue ahead of it plus the block, over the peer's rate). 2 leaves
    /// room for rate estimates that trail a slowing peer.
    pub lateness_factor: f64,
    /// Bytes at the start of the streamed file fetched first at open,
    /// before the demuxer's first read: the container header (MP4 `ftyp`
    /// and a fast-started `moov`, Matroska `SeekHead`/`Tracks`).
    pub head_bytes: u64,
    /// Bytes at the end of the streamed file fetched first at open: where
    /// MP4 keeps `moov` when not fast-started and Matroska its cues. 1 MiB
    /// holds Matroska cues and the `moov` of most clips; a bigger index is
    /// read (and so fetched) by the demuxer's read head, while a wasted
    /// tail costs startup time at low rates.
    pub tail_bytes: u64,
    /// Consumption rate, bytes/s, when the player has not measured one
    /// yet: 625,000 B/s (5 Mbit/s), a common HD bitrate.
    pub assumed_bytes_per_second: f64,
}

impl DeadlineParams {
    /// `lateness_factor`, kept within 1–1000 whatever was configured.
    fn lateness(&self) -> f64 {
        self.lateness_factor.clamp(1.0, 1000.0).max(1.0)
    }
}

impl Default for DeadlineParams {
    fn default() -> Self {
        Self {
            window_secs: 10.0,
            min_window_pieces: 4,
            max_duplicates: 1,
            lateness_factor: 2.0,
            head_bytes: 1024 * 1024,
            tail_bytes: 1024 * 1024,
            assumed_bytes_per_second: 625_000.0,
        }
    }
}

/// What the player needs now.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    /// Where the player reads next, absolute byte offsets in the torrent.
    pub read_heads: Vec<u64>,
    /// Media consumption rate, bytes/s (0 or unknown: the policy's assumed
    /// rate).
    pub bytes_per_second: f64,
    /// Paused players keep the same deadlines: they resume from there.
    pub playing: bool,
}

/// What `block_received` learned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockReceived {
    /// False when the block was already in (a wasted duplicate) or is not
    /// wanted: do not write it.
    pub new: bool,
    /// All blocks of the piece are in: hash it, then `have_piece` or
    /// `piece_failed`.
    pub piece_complete: bool,
    /// Duplicate requests of this block on other peers: send `cancel`s.
    pub cancel: Vec<(PeerKey, BlockRequest)>,
}

/// Piece geometry and files of the torrent, in bytes.
#[derive(Clone, Debug)]
struct Geometry {
    piece_length: u32,
    total_length: u64,
    piece_count: u32,
    /// (offset, length) of each file, in torrent order.
    files: Vec<(u64, u64)>,
    /// BEP 47 pad files: zeros nobody needs to download.
    pad: Vec<bool>,
}

impl Geometry {
    fn piece_start(&self, piece: u32) -> u64 {
        u64::from(piece) * u64::from(self.piece_length)
    }

    fn piece_len(&self, piece: u32) -> u32 {
        let start = self.piece_start(piece);
        let end = start
            .saturating_add(u64::from(self.piece_length))
            .min(self.total_length);
        end.saturating_sub(start) as u32
    }

    /// Pieces holding any byte of `bytes`.
    fn pieces_covering(&self, bytes: Range<u64>) -> Range<u32> {
        let end = bytes.end.min(self.total_length);
        if bytes.start >= end || self.piece_length == 0 {
            return 0..0;
        }
        let first = bytes.start / u64::from(self.piece_length);
        let last = (end - 1) / u64::from(self.piece_length);
        first as u32..(last as u32 + 1).min(self.piece_count)
    }

    /// End of the file that holds byte `offset`, if any does.
    fn end_of_file_at(&self, offset: u64) -> Option<u64> {
        if offset >= self.total_length {
            return None;
        }
        let after = self.files.partition_point(|&(start, _)| start <= offset);
        match after.checked_sub(1).and_then(|i| self.files.get(i)) {
            Some(&(start, length)) if start.saturating_add(length) > offset => {
                Some(start.saturating_add(length))
            }
            _ => Some(self.total_length),
        }
    }
}

/// Which pieces a peer has, as far as availability counts go.
#[derive(Clone, Debug)]
enum PeerPieces {
    /// Counted once in `Picker::seeds`, not per piece: a seed joining or
    /// leaving shifts every piece alike and leaves the rarity order alone.
    Seed,
    Some(Bitfield),
}

#[derive(Clone, Debug)]
struct PeerState {
    pieces: PeerPieces,
    in_flight: HashSet<BlockRequest>,
    /// Bytes requested from the peer and not yet in: the queue a new
    /// request waits behind.
    queued_bytes: u64,
    /// Bytes of cancelled requests the peer still sends: they queue ahead
    /// of anything requested now.
    backlog_bytes: u64,
    /// Download rate from the peer, bytes/s, as of its last `pick`; 0 when
    /// unknown.
    rate: f64,
    /// Blocks it delivered that were requested from it.
    delivered: u32,
    /// When the first block was requested from it.
    first_request: Option<Instant>,
    last_pick: Option<Instant>,
    /// A standby source (an HTTP origin asked only to rescue late blocks):
    /// left out when others judge whether the peers will be in time.
    standby: bool,
}

impl PeerState {
    fn new(piece_count: u32) -> Self {
        Self {
            pieces: PeerPieces::Some(Bitfield::new(piece_count)),
            in_flight: HashSet::new(),
            queued_bytes: 0,
            backlog_bytes: 0,
            rate: 0.0,
            delivered: 0,
            first_request: None,
            last_pick: None,
            standby: false,
        }
    }

    fn has(&self, piece: u32) -> bool {
        match &self.pieces {
            PeerPieces::Seed => true,
            PeerPieces::Some(field) => field.get(piece),
        }
    }

    /// Seconds until a block of `length` bytes requested now would arrive.
    fn delivery_secs(&self, length: u32) -> f64 {
        if self.rate > 0.0 {
            let ahead = self.backlog_bytes.saturating_add(self.queued_bytes);
            ahead.saturating_add(u64::from(length)) as f64 / self.rate
        } else {
            f64::INFINITY
        }
    }
}

/// The peer being served by one `pick` call.
struct PickRound<'a> {
    peer: PeerKey,
    pieces: &'a Bitfield,
    slots: usize,
    now: Instant,
    picked: Vec<BlockRequest>,
    /// Only blocks that the other sources will not deliver in time.
    rescue_only: bool,
}

impl PickRound<'_> {
    fn is_full(&self) -> bool {
        self.picked.len() >= self.slots
    }
}

/// Chooses blocks to request. See the module docs and `DESIGN.md`.
#[derive(Debug)]
pub struct Picker {
    geometry: Geometry,
    policy: Policy,
    have: Bitfield,
    /// Pieces overlapping a wanted file.
    wanted: Bitfield,
    /// Wanted pieces not had yet.
    wanted_missing: u32,
    /// Per piece: peers other than seeds that have it.
    availability: Vec<u32>,
    seeds: u32,
    /// Seeds the random rarest-first tie-break, per picker.
    tiebreak_seed: u32,
    /// Wanted pieces neither had nor started ...
    fresh: Bitfield,
    /// ... none of them below this index (pieces only leave `fresh` until
    /// it is rebuilt, so the sequential scan never looks back) ...
    sequential_from: u32,
    /// ... and by (availability, tie-break, piece).
    fresh_by_rarity: BTreeSet<(u32, u32, u32)>,
    /// Started pieces not had yet, with their blocks.
    partial: BTreeMap<u32, PartialPiece>,
    /// Started pieces with at least one open block.
    partial_open: BTreeSet<u32>,
    peers: HashMap<PeerKey, PeerState>,
    demand: Option<(Demand, Instant)>,
    /// The file being streamed and when it was chosen.
    stream_file: Option<(usize, Instant)>,
    /// Time-critical pieces not had yet, earliest deadline first.
    critical: Vec<CriticalPiece>,
    is_critical: Bitfield,
    /// A block of a critical piece was reopened: every piece's
    /// `quiet_until` must be checked again.
    critical_woken: bool,
    /// `fresh_by_rarity` is out of date after a bulk availability change
    /// and is rebuilt before its next use.
    rarity_stale: bool,
}

/// A time-critical piece and until when it needs no look: all its blocks
/// are in or in flight, none late yet. Saves `pick` from walking blocks
/// of the whole window on every call.
#[derive(Clone, Copy, Debug)]
struct CriticalPiece {
    due: PieceDeadline,
    quiet_until: Option<Instant>,
}

impl Picker {
    pub fn new(info: &Info, policy: Policy) -> Self {
        let piece_count = info.piece_count();
        let mut picker = Self {
            geometry: Geometry {
                piece_length: info.piece_length,
                total_length: info.total_length,
                piece_count,
                files: info.files.iter().map(|f| (f.offset, f.length)).collect(),
                pad: info.files.iter().map(|f| f.pad).collect(),
            },
            policy,
            have: Bitfield::new(piece_count),
            wanted: Bitfield::new(piece_count),
            wanted_missing: 0,
            availability: vec![0; piece_count as usize],
            seeds: 0,
            tiebreak_seed: rand::random(),
            fresh: Bitfield::new(piece_count),
            sequential_from: 0,
            fresh_by_rarity: BTreeSet::new(),
            partial: BTreeMap::new(),
            partial_open: BTreeSet::new(),
            peers: HashMap::new(),
            demand: None,
            stream_file: None,
            critical: Vec::new(),
            is_critical: Bitfield::new(piece_count),
            critical_woken: false,
            rarity_stale: false,
        };
        picker.set_wanted_files(&[]);
        picker
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
        // Requests already out stay useful: nothing to cancel.
        self.refresh_critical();
    }

    /// Chooses the files to download (`false`: not downloaded unless a read
    /// head asks for it). Files without an entry stay wanted; pad files
    /// never are.
    pub fn set_wanted_files(&mut self, wanted: &[bool]) {
        let count = self.geometry.piece_count;
        self.wanted = Bitfield::new(count);
        for (index, &(offset, length)) in self.geometry.files.iter().enumerate() {
            let pad = self.geometry.pad.get(index) == Some(&true);
            if !pad && wanted.get(index) != Some(&false) {
                for piece in self
                    .geometry
                    .pieces_covering(offset..offset.saturating_add(length))
                {
                    self.wanted.set(piece);
                }
            }
        }
        self.wanted_missing = (0..count)
            .filter(|&p| self.wanted.get(p) && !self.have.get(p))
            .count() as u32;
        self.rebuild_fresh();
    }

    /// Chooses the file being streamed: its head and tail are fetched
    /// before anything else. Returns requests to cancel: the previous
    /// file's head and tail, and every request outside the new edges (work
    /// queued before the stream opened, e.g. while the window set up its
    /// player, must not hold the head back). Choosing the same file again
    /// changes nothing.
    pub fn set_stream_file(
        &mut self,
        file: Option<usize>,
        now: Instant,
    ) -> Vec<(PeerKey, BlockRequest)> {
        if self.stream_file.map(|(index, _)| index) == file {
            return Vec::new();
        }
        self.stream_file = file.map(|index| (index, now));
        self.refresh_critical_taking_back(now)
    }

    /// Updates what the player needs; returns the requests that no longer
    /// matter: their pieces left every window, and, when a piece became
    /// due at once (a seek, a jump of the demuxer), every request outside
    /// the windows, so the new window does not queue behind them.
    pub fn set_demand(
        &mut self,
        demand: Option<Demand>,
        now: Instant,
    ) -> Vec<(PeerKey, BlockRequest)> {
        self.demand = demand.map(|d| (d, now));
        self.refresh_critical_taking_back(now)
    }

    /// The time-critical pieces not had yet, earliest deadline first.
    pub fn deadlines(&self) -> impl Iterator<Item = PieceDeadline> + '_ {
        self.critical.iter().map(|c| c.due)
    }

    /// A piece passed its hash check (or was found on disk at resume).
    pub fn have_piece(&mut self, piece: u32) {
        if !self.have.set(piece) {
            return;
        }
        if self.wanted.get(piece) {
            self.wanted_missing -= 1;
        }
        self.remove_fresh(piece);
        self.partial_open.remove(&piece);
        if let Some(mut partial) = self.partial.remove(&piece) {
            let piece_len = self.geometry.piece_len(piece);
            for (index, peer) in partial.reset() {
                self.forget_request(peer, block_request(piece, piece_len, index));
            }
        }
        if self.is_critical.get(piece) {
            self.is_critical.clear(piece);
            self.critical.retain(|c| c.due.piece != piece);
        }
    }

    /// A peer's whole piece set (bitfield, have-all, have-none); replaces
    /// what the picker knew of it.
    pub fn peer_has(&mut self, peer: PeerKey, pieces: &Bitfield) {
        if pieces.len() != self.geometry.piece_count {
            return;
        }
        let count = self.geometry.piece_count;
        let state = self
            .peers
            .entry(peer)
            .or_insert_with(|| PeerState::new(count));
        let new = if pieces.is_full() {
            PeerPieces::Seed
        } else {
            PeerPieces::Some(pieces.clone())
        };
        let old = std::mem::replace(&mut state.pieces, new.clone());
        self.count_availability(&old, false);
        self.count_availability(&new, true);
    }

    /// A peer announced one more piece.
    pub fn peer_have(&mut self, peer: PeerKey, piece: u32) {
        let count = self.geometry.piece_count;
        if piece >= count {
            return;
        }
        let state = self
            .peers
            .entry(peer)
            .or_insert_with(|| PeerState::new(count));
        if let PeerPieces::Some(pieces) = &mut state.pieces
            && pieces.set(piece)
        {
            self.change_availability(piece, true);
        }
    }

    /// `bytes` of requests taken back from `peer` that it will still send
    /// (a Fast peer answers each cancel with the block or a reject, and
    /// libtorrent sends what is in its send buffer): its next blocks
    /// arrive after them, so its estimates and lateness count them.
    pub fn set_backlog(&mut self, peer: PeerKey, bytes: u64) {
        let count = self.geometry.piece_count;
        self.peers
            .entry(peer)
            .or_insert_with(|| PeerState::new(count))
            .backlog_bytes = bytes;
    }

    /// The peer disconnected: its requests return to the pool.
    pub fn peer_gone(&mut self, peer: PeerKey) {
        let Some(state) = self.peers.remove(&peer) else {
            return;
        };
        self.count_availability(&state.pieces, false);
        for block in state.in_flight {
            self.reopen(peer, block);
        }
    }

    /// Chooses up to `slots` blocks to request from `peer`, which has
    /// `peer_pieces` and delivers `peer_rate` bytes/s (0: unknown).
    pub fn pick(
        &mut self,
        peer: PeerKey,
        peer_pieces: &Bitfield,
        peer_rate: f64,
        slots: usize,
        now: Instant,
    ) -> Vec<BlockRequest> {
        let mut round = self.start_round(peer, peer_pieces, peer_rate, slots, now, false);
        if round.slots == 0 {
            return round.picked;
        }
        if let Policy::Deadline(params) = self.policy {
            if self.peers.get(&peer).is_some_and(|state| state.rate == 0.0) {
                self.pick_overdue_copies(&mut round, 1 + params.max_duplicates as usize);
            }
            self.pick_critical(&mut round, &params);
            // Other work would queue seconds ahead of the next critical
            // block at a slow peer, and what is queued cannot be taken
            // back: a peer of unknown rate waits for its first measurement,
            // unless it proved fast (then within its slow-start room).
            if !self.critical.is_empty() {
                match self.peers.get(&peer) {
                    Some(state) if state.rate > 0.0 => {}
                    Some(state) if state.proven_fast(now) => {
                        let room = state.slow_start_room();
                        round.slots = round.slots.min(round.picked.len() + room);
                    }
                    _ => return round.picked,
                }
            }
        }
        self.pick_started(&mut round);
        self.pick_fresh(&mut round);
        self.pick_endgame(&mut round);
        round.picked
    }

    /// Chooses up to `slots` time-critical blocks for a standby source
    /// (a web seed under "avoid stall"), which has `pieces`: only blocks
    /// that the other sources, at their measured rates and queues, will not
    /// deliver before their deadline, or copies already late. Nothing under
    /// policies without deadlines.
    pub fn pick_rescue(
        &mut self,
        source: PeerKey,
        pieces: &Bitfield,
        rate: f64,
        slots: usize,
        now: Instant,
    ) -> Vec<BlockRequest> {
        let mut round = self.start_round(source, pieces, rate, slots, now, true);
        if round.slots > 0
            && let Policy::Deadline(params) = self.policy
        {
            self.pick_critical(&mut round, &params);
        }
        round.picked
    }

    /// Records the peer's rate and the pick, and opens a round for it (no
    /// slots when its bitfield does not fit the torrent).
    fn start_round<'a>(
        &mut self,
        peer: PeerKey,
        pieces: &'a Bitfield,
        rate: f64,
        slots: usize,
        now: Instant,
        rescue_only: bool,
    ) -> PickRound<'a> {
        let count = self.geometry.piece_count;
        let state = self
            .peers
            .entry(peer)
            .or_insert_with(|| PeerState::new(count));
        state.rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        state.last_pick = Some(now);
        state.standby = rescue_only;
        PickRound {
            peer,
            pieces,
            slots: if pieces.len() == count { slots } else { 0 },
            now,
            picked: Vec::new(),
            rescue_only,
        }
    }

    /// A block arrived from `peer`.
    pub fn block_received(&mut self, peer: PeerKey, block: BlockRequest) -> BlockReceived {
        let mut outcome = BlockReceived::default();
        let piece = block.piece;
        if piece >= self.geometry.piece_count {
            return outcome;
        }
        let piece_len = self.geometry.piece_len(piece);
        let Some(index) = block_index(&block, piece_len) else {
            return outcome;
        };
        if let Some(state) = self.peers.get_mut(&peer)
            && state.in_flight.contains(&block)
        {
            state.delivered = state.delivered.saturating_add(1);
        }
        self.forget_request(peer, block);
        let useful = self.partial.contains_key(&piece)
            || self.wanted.get(piece)
            || self.is_critical.get(piece);
        if self.have.get(piece) || !useful {
            return outcome;
        }
        // Data nobody asked for still counts if the piece is missing: a
        // cancel may have crossed the block on the wire.
        self.start_piece(piece);
        let Some(partial) = self.partial.get_mut(&piece) else {
            return outcome;
        };
        let Some(others) = partial.receive(index) else {
            return outcome;
        };
        outcome.new = true;
        outcome.piece_complete = partial.is_complete();
        if partial.open == 0 {
            self.partial_open.remove(&piece);
        }
        for other in others.into_iter().filter(|&other| other != peer) {
            self.forget_request(other, block);
            outcome.cancel.push((other, block));
        }
        outcome
    }

    /// A request will not be answered (rejected, choked, timed out).
    pub fn block_dropped(&mut self, peer: PeerKey, block: BlockRequest) {
        if block.piece < self.geometry.piece_count {
            self.reopen(peer, block);
        }
    }

    /// The piece failed its hash check: all its blocks are wanted again.
    pub fn piece_failed(&mut self, piece: u32) {
        if self.have.get(piece) {
            return;
        }
        let piece_len = self.geometry.piece_len(piece);
        let Some(partial) = self.partial.get_mut(&piece) else {
            return;
        };
        let in_flight = partial.reset();
        self.partial_open.insert(piece);
        self.critical_woken |= self.is_critical.get(piece);
        for (index, peer) in in_flight {
            self.forget_request(peer, block_request(piece, piece_len, index));
        }
    }

    /// Every wanted piece is had.
    pub fn is_complete(&self) -> bool {
        self.wanted_missing == 0
    }

    // ----- picking stages -----

    /// Time-critical blocks, earliest deadline first, only where this peer
    /// can deliver before the deadline (or no peer can do much better);
    /// late ones again from this peer, up to `max_duplicates` extra copies.
    /// A peer of unknown rate takes at most its slow-start allowance.
    fn pick_critical(&mut self, round: &mut PickRound, params: &DeadlineParams) {
        let best_other_secs = self.best_other_delivery_secs(round);
        // What a standby source must beat: the peers alone, their queues
        // played forward block by block.
        let mut schedule = round.rescue_only.then(|| self.peer_schedule(round));
        let max_copies = 1 + params.max_duplicates as usize;
        if std::mem::take(&mut self.critical_woken) {
            for entry in &mut self.critical {
                entry.quiet_until = None;
            }
        }
        // A peer slower than the best other one only gets pieces due after
        // its own delivery time: skip the earlier ones without a look.
        let own_secs = self
            .peers
            .get(&round.peer)
            .map_or(f64::INFINITY, |state| state.delivery_secs(BLOCK_SIZE));
        let mut allowance = match self.peers.get(&round.peer) {
            Some(_) if own_secs.is_finite() => usize::MAX,
            Some(state) if state.proven_fast(round.now) => state.slow_start_room(),
            Some(_) => self.unmeasured_critical_room(round.peer),
            None => 0,
        };
        // A standby source not measured yet tries whatever peers would bring
        // late; its first blocks measure it.
        let unmeasured_standby = round.rescue_only && own_secs.is_infinite();
        // A standby source looks at the whole window: what it must take
        // depends on what the peers can bring, not on its own speed.
        let first = if own_secs <= best_other_secs * params.lateness() || round.rescue_only {
            0
        } else {
            let Some(arrival) = Duration::try_from_secs_f64(own_secs)
                .ok()
                .and_then(|wait| round.now.checked_add(wait))
            else {
                return;
            };
            self.critical
                .partition_point(|entry| entry.due.deadline < arrival)
        };
        for position in first..self.critical.len() {
            if round.is_full() {
                return;
            }
            let Some(&CriticalPiece { due, quiet_until }) = self.critical.get(position) else {
                return;
            };
            let PieceDeadline { deadline, piece } = due;
            if quiet_until.is_some_and(|until| until > round.now)
                || self.have.get(piece)
                || !round.pieces.get(piece)
            {
                continue;
            }
            let piece_len = self.geometry.piece_len(piece);
            for index in 0..piece_len.div_ceil(BLOCK_SIZE) as usize {
                if round.is_full() {
                    return;
                }
                let length = block_request(piece, piece_len, index).length;
                let mut peers_late = false;
                match self.partial.get(&piece).and_then(|p| p.blocks.get(index)) {
                    None | Some(Block::Open) => {
                        if let Some(schedule) = schedule.as_mut() {
                            let secs_left = deadline
                                .saturating_duration_since(round.now)
                                .saturating_sub(RESCUE_MARGIN);
                            let has = |peer| self.peers.get(&peer).is_some_and(|p| p.has(piece));
                            if schedule.book(
                                length,
                                secs_left.as_secs_f64(),
                                UNKNOWN_RATE_LATE_AFTER.as_secs_f64(),
                                has,
                            ) {
                                continue;
                            }
                            peers_late = true;
                        }
                    }
                    Some(Block::Received) => continue,
                    Some(Block::Requested(flights)) => {
                        if flights.len() >= max_copies
                            || flights.iter().any(|f| f.peer == round.peer)
                        {
                            continue;
                        }
                        // Late everywhere, or due to miss the deadline while
                        // this peer would bring it clearly sooner.
                        let late = flights.iter().all(|f| f.late_at <= round.now);
                        let expected = |f: &InFlight| self.expected_arrival(f, round.now);
                        // A standby source judges copies only by measured
                        // rates: an unmeasured peer's estimate is a guess.
                        let measured = !round.rescue_only
                            || flights
                                .iter()
                                .all(|f| self.peers.get(&f.peer).is_some_and(|p| p.rate > 0.0));
                        let rescue = measured
                            && flights.iter().all(|f| expected(f) > deadline)
                            && self.arrival(round, length).is_some_and(|arrival| {
                                flights
                                    .iter()
                                    .all(|f| arrival + MIN_RESCUE_GAIN < expected(f))
                            });
                        if !late && !rescue {
                            continue;
                        }
                    }
                }
                // Blocks the peers would bring late are the standby
                // source's whether or not it is in time itself.
                if !unmeasured_standby
                    && !peers_late
                    && !self.can_deliver_in_time(round, deadline, best_other_secs, length, params)
                {
                    // Later blocks would wait behind this one in its queue.
                    break;
                }
                if allowance == 0 {
                    return;
                }
                allowance -= 1;
                self.request(round, piece, index);
            }
            let quiet_until = self.quiet_until(piece, deadline, max_copies, round.now);
            if let Some(entry) = self.critical.get_mut(position) {
                entry.quiet_until = quiet_until;
            }
        }
    }

    /// Until when a critical piece offers nothing to any peer: no open
    /// block, and no block that may be duplicated before its earliest
    /// copy turns late (`None`: look every time).
    fn quiet_until(
        &self,
        piece: u32,
        deadline: Instant,
        max_copies: usize,
        now: Instant,
    ) -> Option<Instant> {
        let partial = self.partial.get(&piece)?;
        if partial.open > 0 {
            return None;
        }
        let mut until = now + deadline::FAR_FUTURE;
        for block in &partial.blocks {
            if let Block::Requested(flights) = block
                && flights.len() < max_copies
            {
                if flights
                    .iter()
                    .all(|f| self.expected_arrival(f, now) > deadline)
                {
                    // A quicker peer may rescue it at any pick.
                    return None;
                }
                for flight in flights {
                    until = until.min(flight.late_at);
                }
            }
        }
        Some(until)
    }

    /// Blocks of started pieces: finishing pieces first gets them hashed
    /// and shared sooner.
    fn pick_started(&mut self, round: &mut PickRound) {
        let mut pieces = Vec::new();
        let mut blocks = 0;
        for &piece in &self.partial_open {
            if round.picked.len() + blocks >= round.slots {
                break;
            }
            if round.pieces.get(piece) && self.wanted.get(piece) && !self.is_critical.get(piece) {
                pieces.push(piece);
                blocks += self.partial.get(&piece).map_or(0, |p| p.open as usize);
            }
        }
        for piece in pieces {
            self.request_open_blocks(round, piece);
        }
    }

    /// Blocks of pieces not started yet, in the policy's order.
    fn pick_fresh(&mut self, round: &mut PickRound) {
        if self.rarity_stale {
            self.rebuild_rarity();
        }
        let count = self.geometry.piece_count;
        while self.sequential_from < count && !self.fresh.get(self.sequential_from) {
            self.sequential_from += 1;
        }
        let mut pieces = Vec::new();
        let mut blocks = 0;
        let mut take = |piece: u32| {
            if round.picked.len() + blocks >= round.slots {
                return false;
            }
            if round.pieces.get(piece) && !self.is_critical.get(piece) {
                pieces.push(piece);
                blocks += self.geometry.piece_len(piece).div_ceil(BLOCK_SIZE) as usize;
            }
            true
        };
        match self.policy {
            Policy::Sequential => {
                for piece in (self.sequential_from..count).filter(|&p| self.fresh.get(p)) {
                    if !take(piece) {
                        break;
                    }
                }
            }
            Policy::RarestFirst | Policy::Deadline(_) => {
                // Every piece a peer other than a seed has counts that peer:
                // skip the pieces only seeds have (or nobody), which sort
                // first and which it lacks.
                let counted = self.peers.get(&round.peer).is_some_and(|state| {
                    matches!(&state.pieces, PeerPieces::Some(field)
                        if field.count() == round.pieces.count())
                });
                let from = (u32::from(counted), 0, 0);
                for &(_, _, piece) in self.fresh_by_rarity.range(from..) {
                    if !take(piece) {
                        break;
                    }
                }
            }
        }
        for piece in pieces {
            self.request_open_blocks(round, piece);
        }
    }

    /// When every missing block is in flight, ask this peer too for blocks
    /// in flight elsewhere, so the last pieces do not wait on the slowest.
    fn pick_endgame(&mut self, round: &mut PickRound) {
        if round.is_full()
            || self.fresh.count() > 0
            || self.partial_open.iter().any(|&p| self.wanted.get(p))
        {
            return;
        }
        let max_copies = match self.policy {
            Policy::Deadline(params) => 1 + params.max_duplicates as usize,
            Policy::Sequential | Policy::RarestFirst => ENDGAME_MAX_COPIES,
        };
        let mut wanted = Vec::new();
        for (&piece, partial) in &self.partial {
            let useful = self.wanted.get(piece) || self.is_critical.get(piece);
            if !useful || !round.pieces.get(piece) || partial.is_complete() {
                continue;
            }
            for (index, block) in partial.blocks.iter().enumerate() {
                if let Block::Requested(flights) = block
                    && flights.len() < max_copies
                    && flights.iter().all(|f| f.peer != round.peer)
                {
                    wanted.push((piece, index));
                    if round.picked.len() + wanted.len() >= round.slots {
                        break;
                    }
                }
            }
            if round.picked.len() + wanted.len() >= round.slots {
                break;
            }
        }
        for (piece, index) in wanted {
            self.request(round, piece, index);
        }
    }

    // ----- helpers -----

    /// May this peer take a time-critical block due at `deadline`?
    fn can_deliver_in_time(
        &self,
        round: &PickRound,
        deadline: Instant,
        best_other_secs: f64,
        length: u32,
        params: &DeadlineParams,
    ) -> bool {
        let secs = self
            .peers
            .get(&round.peer)
            .map_or(f64::INFINITY, |state| state.delivery_secs(length));
        let in_time = self
            .arrival(round, length)
            .is_some_and(|arrival| arrival <= deadline);
        // Too late for everyone, or no other peer's rate known: a peer
        // about as quick as the best other one may still try.
        in_time || secs <= best_other_secs * params.lateness()
    }

    /// When a copy in flight should arrive: as estimated when it was sent,
    /// or sooner once its peer's rate is measured (a request sent while
    /// the rate was unknown is assumed slow until then, and must not be
    /// duplicated the moment a quicker estimate exists elsewhere).
    fn expected_arrival(&self, flight: &InFlight, now: Instant) -> Instant {
        let queue_secs = self
            .peers
            .get(&flight.peer)
            .map_or(f64::INFINITY, |state| state.delivery_secs(0));
        Duration::try_from_secs_f64(queue_secs)
            .ok()
            .and_then(|wait| now.checked_add(wait))
            .map_or(flight.expected_at, |at| at.min(flight.expected_at))
    }

    /// When a block of `length` bytes requested now from the round's peer
    /// should arrive (`None`: its rate is unknown).
    fn arrival(&self, round: &PickRound, length: u32) -> Option<Instant> {
        let secs = self.peers.get(&round.peer)?.delivery_secs(length);
        Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|wait| round.now.checked_add(wait))
    }

    /// The other active sources: with requests in flight (a full pipeline
    /// does not ask for more) or asking lately.
    fn other_active_peers<'a>(
        &'a self,
        round: &'a PickRound,
    ) -> impl Iterator<Item = (PeerKey, &'a PeerState)> + 'a {
        self.peers
            .iter()
            .filter(|&(&key, state)| {
                key != round.peer
                    && (!state.in_flight.is_empty()
                        || state.last_pick.is_some_and(|at| {
                            round.now.saturating_duration_since(at) <= ACTIVE_PEER_WINDOW
                        }))
            })
            .map(|(&key, state)| (key, state))
    }

    /// The quickest estimated delivery of one block among the other active
    /// sources, standby ones included. Infinite when none has a known rate.
    fn best_other_delivery_secs(&self, round: &PickRound) -> f64 {
        self.other_active_peers(round)
            .map(|(_, state)| state.delivery_secs(BLOCK_SIZE))
            .fold(f64::INFINITY, f64::min)
    }

    /// The other active peers (standby sources left out) as a standby
    /// source plans around them: their queues, rates, and how many
    /// time-critical blocks those of unknown rate may still take.
    fn peer_schedule(&self, round: &PickRound) -> PeerSchedule {
        let mut schedule = PeerSchedule::default();
        for (key, state) in self.other_active_peers(round) {
            if state.standby {
                continue;
            }
            schedule.add(
                key,
                state.backlog_bytes.saturating_add(state.queued_bytes),
                state.rate,
                self.unmeasured_critical_room(key),
            );
        }
        schedule
    }

    fn request_open_blocks(&mut self, round: &mut PickRound, piece: u32) {
        let piece_len = self.geometry.piece_len(piece);
        for index in 0..piece_len.div_ceil(BLOCK_SIZE) as usize {
            if round.is_full() {
                return;
            }
            let open = self
                .partial
                .get(&piece)
                .and_then(|p| p.blocks.get(index))
                .is_none_or(|block| *block == Block::Open);
            if open {
                self.request(round, piece, index);
            }
        }
    }

    /// Records the request of block `index` of `piece` from the round's peer.
    fn request(&mut self, round: &mut PickRound, piece: u32, index: usize) {
        let block = block_request(piece, self.geometry.piece_len(piece), index);
        let lateness_factor = match self.policy {
            Policy::Deadline(params) => params.lateness(),
            Policy::Sequential | Policy::RarestFirst => DeadlineParams::default().lateness(),
        };
        let Some(state) = self.peers.get_mut(&round.peer) else {
            return;
        };
        if !state.in_flight.insert(block) {
            return;
        }
        state.first_request.get_or_insert(round.now);
        let secs = state.delivery_secs(block.length);
        let (expected_after, late_after) = match Duration::try_from_secs_f64(secs) {
            Ok(expected) => (
                expected,
                Duration::try_from_secs_f64(secs * lateness_factor)
                    .unwrap_or(deadline::FAR_FUTURE)
                    .max(MIN_LATE_AFTER),
            ),
            Err(_) => (UNKNOWN_RATE_LATE_AFTER, UNKNOWN_RATE_LATE_AFTER),
        };
        state.queued_bytes += u64::from(block.length);
        let flight = InFlight {
            peer: round.peer,
            sent_at: round.now,
            expected_at: round.now + expected_after.min(deadline::FAR_FUTURE),
            late_at: round.now + late_after.min(deadline::FAR_FUTURE),
        };
        self.start_piece(piece);
        if let Some(partial) = self.partial.get_mut(&piece) {
            partial.add_request(index, flight);
            if partial.open == 0 {
                self.partial_open.remove(&piece);
            }
        }
        round.picked.push(block);
    }

    /// Moves a piece from fresh to started.
    fn start_piece(&mut self, piece: u32) {
        if self.partial.contains_key(&piece) {
            return;
        }
        self.remove_fresh(piece);
        self.partial
            .insert(piece, PartialPiece::new(self.geometry.piece_len(piece)));
        self.partial_open.insert(piece);
    }

    /// Forgets `peer`'s request of `block`; the block is open again unless
    /// another peer has it in flight too.
    fn reopen(&mut self, peer: PeerKey, block: BlockRequest) {
        self.forget_request(peer, block);
        let piece_len = self.geometry.piece_len(block.piece);
        let Some(index) = block_index(&block, piece_len) else {
            return;
        };
        if let Some(partial) = self.partial.get_mut(&block.piece)
            && partial.remove_request(index, peer)
        {
            self.partial_open.insert(block.piece);
        }
        // Fewer copies in flight may allow a duplicate again.
        self.critical_woken |= self.is_critical.get(block.piece);
    }

    /// Drops `block` from `peer`'s queue (the piece's side is the caller's).
    fn forget_request(&mut self, peer: PeerKey, block: BlockRequest) {
        if let Some(state) = self.peers.get_mut(&peer)
            && state.in_flight.remove(&block)
        {
            state.queued_bytes = state.queued_bytes.saturating_sub(u64::from(block.length));
        }
    }

    /// Like `refresh_critical`; when a piece became critical and due at
    /// once, also takes back every request outside the windows.
    fn refresh_critical_taking_back(&mut self, now: Instant) -> Vec<(PeerKey, BlockRequest)> {
        let was_critical = self.is_critical.clone();
        let mut cancel = self.refresh_critical();
        let jumped = self
            .critical
            .iter()
            .take_while(|c| c.due.deadline <= now)
            .any(|c| !was_critical.get(c.due.piece));
        if jumped {
            cancel.extend(self.reopen_outside_windows());
        }
        cancel
    }

    /// Recomputes the time-critical pieces; returns the requests of pieces
    /// that were critical and no longer are, now open again.
    fn refresh_critical(&mut self) -> Vec<(PeerKey, BlockRequest)> {
        let critical = match self.policy {
            Policy::Deadline(params) => deadline::critical_pieces(
                &self.geometry,
                &params,
                self.demand.as_ref(),
                self.stream_file,
            )
            .into_iter()
            .filter(|d| !self.have.get(d.piece))
            .collect(),
            Policy::Sequential | Policy::RarestFirst => Vec::new(),
        };
        let mut is_critical = Bitfield::new(self.geometry.piece_count);
        for d in &critical {
            is_critical.set(d.piece);
        }
        let critical = critical
            .into_iter()
            .map(|due| CriticalPiece {
                due,
                quiet_until: None,
            })
            .collect();
        let old = std::mem::replace(&mut self.critical, critical);
        self.is_critical = is_critical;
        let mut cancel = Vec::new();
        for CriticalPiece { due, .. } in old {
            let piece = due.piece;
            if self.is_critical.get(piece) {
                continue;
            }
            let Some(partial) = self.partial.get_mut(&piece) else {
                continue;
            };
            let piece_len = self.geometry.piece_len(piece);
            let mut requested = Vec::new();
            for (index, block) in partial.blocks.iter().enumerate() {
                if let Block::Requested(flights) = block {
                    requested.extend(flights.iter().map(|f| (f.peer, index)));
                }
            }
            for (peer, index) in requested {
                let block = block_request(piece, piece_len, index);
                self.reopen(peer, block);
                cancel.push((peer, block));
            }
        }
        cancel
    }

    /// Takes back every request of a piece that is not time-critical;
    /// returns them for the task to cancel.
    fn reopen_outside_windows(&mut self) -> Vec<(PeerKey, BlockRequest)> {
        let mut outside = Vec::new();
        for (&peer, state) in &self.peers {
            let blocks = state.in_flight.iter();
            outside.extend(
                blocks
                    .filter(|block| !self.is_critical.get(block.piece))
                    .map(|&block| (peer, block)),
            );
        }
        for &(peer, block) in &outside {
            self.reopen(peer, block);
        }
        outside
    }

    fn tiebreak(&self, piece: u32) -> u32 {
        // splitmix32-style mixing: a fixed random order per picker.
        let mut x = piece ^ self.tiebreak_seed;
        x = (x ^ (x >> 16)).wrapping_mul(0x7feb_352d);
        x = (x ^ (x >> 15)).wrapping_mul(0x846c_a68b);
        x ^ (x >> 16)
    }

    fn rarity_key(&self, piece: u32) -> (u32, u32, u32) {
        let availability = self.availability.get(piece as usize).copied().unwrap_or(0);
        (availability, self.tiebreak(piece), piece)
    }

    fn rebuild_fresh(&mut self) {
        self.fresh = Bitfield::new(self.geometry.piece_count);
        for piece in 0..self.geometry.piece_count {
            if self.wanted.get(piece) && !self.have.get(piece) && !self.partial.contains_key(&piece)
            {
                self.fresh.set(piece);
            }
        }
        self.sequential_from = 0;
        self.rebuild_rarity();
    }

    fn rebuild_rarity(&mut self) {
        self.fresh_by_rarity = self.fresh.iter_set().map(|p| self.rarity_key(p)).collect();
        self.rarity_stale = false;
    }

    fn remove_fresh(&mut self, piece: u32) {
        if !self.fresh.get(piece) {
            return;
        }
        self.fresh.clear(piece);
        if !self.rarity_stale {
            let key = self.rarity_key(piece);
            self.fresh_by_rarity.remove(&key);
        }
    }

    fn change_availability(&mut self, piece: u32, up: bool) {
        let fresh = !self.rarity_stale && self.fresh.get(piece);
        if fresh {
            let key = self.rarity_key(piece);
            self.fresh_by_rarity.remove(&key);
        }
        if let Some(count) = self.availability.get_mut(piece as usize) {
            step(count, up);
        }
        if fresh {
            let key = self.rarity_key(piece);
            self.fresh_by_rarity.insert(key);
        }
    }

    fn count_availability(&mut self, pieces: &PeerPieces, up: bool) {
        match pieces {
            PeerPieces::Seed if up => self.seeds += 1,
            PeerPieces::Seed => self.seeds = self.seeds.saturating_sub(1),
            // Many pieces at once (a bitfield of a big torrent): count
            // them all, then sort the fresh pieces once.
            PeerPieces::Some(field) if field.count() > BULK_AVAILABILITY_CHANGE => {
                for piece in field.iter_set() {
                    if let Some(count) = self.availability.get_mut(piece as usize) {
                        step(count, up);
                    }
                }
                self.rarity_stale = true;
            }
            PeerPieces::Some(field) => {
                for piece in field.iter_set() {
                    self.change_availability(piece, up);
                }
            }
        }
    }
}

/// One peer more or fewer.
fn step(count: &mut u32, up: bool) {
    *count = if up {
        count.saturating_add(1)
    } else {
        count.saturating_sub(1)
    };
}
