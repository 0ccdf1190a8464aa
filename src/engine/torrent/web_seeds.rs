//! The torrent task's side of web seeds: starting and dropping them, and
//! asking the picker for their blocks as the origin setting allows.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::TorrentTask;
use super::pipeline::{MAX_REQUESTS_IN_FLIGHT, MIN_REQUESTS_IN_FLIGHT, REQUEST_QUEUE_SECONDS};
use crate::engine::bitfield::Bitfield;
use crate::engine::events::{TorrentEvent, TorrentState};
use crate::engine::picker::PeerKey;
use crate::engine::rate_limit::SmoothedRate;
use crate::engine::webseed::{
    self, OriginUse, WebSeedCommand, WebSeedError, WebSeedEvent, WebSeedEventKind, WebSeedLayout,
    WebSeedParams,
};
use crate::engine::wire::{BLOCK_SIZE, BlockRequest};

use super::strikes::Supplier;

/// Under "avoid stall", web seeds fill in what peers are not downloading
/// only after no peer has delivered a block for this long (or since the
/// download started): a torrent without a working swarm still completes,
/// while a working swarm is never undercut by the origin.
const ORIGIN_FILL_AFTER_PEER_SILENCE: Duration = Duration::from_secs(3);

/// What a web seed may be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OriginAsk {
    Nothing,
    /// Only time-critical blocks the peers would bring late.
    Rescue,
    /// Anything, as a peer is.
    Anything,
}

impl OriginAsk {
    /// Under `origin`, with or without a stream, no peer block for
    /// `peer_silence`.
    fn new(origin: OriginUse, streaming: bool, peer_silence: Duration) -> Self {
        match origin {
            OriginUse::Never => Self::Nothing,
            OriginUse::Always => Self::Anything,
            // Filling in is for downloads without a player: a stream's
            // demand says what is late.
            OriginUse::AvoidStall
                if !streaming && peer_silence >= ORIGIN_FILL_AFTER_PEER_SILENCE =>
            {
                Self::Anything
            }
            OriginUse::AvoidStall => Self::Rescue,
        }
    }
}

/// A running web seed, as the torrent sees it.
pub(super) struct WebSeed {
    url: String,
    requests: mpsc::UnboundedSender<WebSeedCommand>,
    /// Every piece: an origin holds the whole torrent.
    pieces: Bitfield,
    /// Blocks requested and not yet in; mirrored in the picker.
    pub(super) in_flight: HashSet<BlockRequest>,
    received: u64,
    /// Measured only over ticks with requests in flight, so an idle origin
    /// keeps the rate it showed when busy.
    rate: SmoothedRate,
    busy: bool,
}

impl WebSeed {
    pub(super) fn tick(&mut self, elapsed: Duration) {
        if self.busy {
            self.rate.update(self.received, elapsed);
        }
        self.busy = !self.in_flight.is_empty();
    }

    /// Takes back a request; a range whose every block is taken back stops.
    pub(super) fn cancel(&mut self, request: BlockRequest) {
        if self.in_flight.remove(&request) {
            // A closed channel means the task failed; its event follows.
            let _ = self.requests.send(WebSeedCommand::Cancel(request));
        }
    }

    /// Bytes/s while busy; 0 until measured (the picker then lets it try
    /// what peers would bring late, and does not count on it otherwise).
    fn rate(&self) -> f64 {
        self.rate.get()
    }
}

impl TorrentTask {
    /// Starts the web seeds not running nor dropped, while downloading.
    pub(super) fn start_web_seeds(&mut self) {
        if self.origin == OriginUse::Never || self.state != TorrentState::Downloading {
            return;
        }
        let running: HashSet<String> = self.web_seeds.values().map(|s| s.url.clone()).collect();
        let urls: Vec<String> = self
            .metainfo
            .web_seeds
            .iter()
            .filter(|url| !running.contains(*url) && !self.dropped_web_seeds.contains(*url))
            .cloned()
            .collect();
        let piece_count = self.metainfo.info.piece_count();
        for url in urls {
            let layout = match WebSeedLayout::new(&url, &self.metainfo.info) {
                Ok(layout) => layout,
                Err(error) => {
                    self.web_seed_dropped(url, &error.into());
                    continue;
                }
            };
            let key = self.shared.next_peer_key();
            let (requests, requests_rx) = mpsc::unbounded_channel();
            webseed::spawn(
                WebSeedParams {
                    key,
                    layout: Arc::new(layout),
                    piece_length: self.metainfo.info.piece_length,
                    download_limit: self.shared.download_limit.clone(),
                    silence_timeout: self.shared.web_seed_silence_timeout,
                    events: self.web_seed_events_tx.clone(),
                },
                requests_rx,
            );
            let pieces = Bitfield::full(piece_count);
            self.picker.peer_has(key, &pieces);
            tracing::debug!(%url, "web seed started");
            self.web_seeds.insert(
                key,
                WebSeed {
                    url,
                    requests,
                    pieces,
                    in_flight: HashSet::new(),
                    received: 0,
                    rate: SmoothedRate::default(),
                    busy: false,
                },
            );
            self.request_web_seed(key);
        }
    }

    /// Stops every web seed (paused, finished, removed); they start again
    /// when the torrent downloads again.
    pub(super) fn stop_web_seeds(&mut self) {
        for (key, _) in self.web_seeds.drain() {
            self.picker.peer_gone(key);
        }
    }

    /// Drops a web seed for good, saying why.
    pub(super) fn drop_web_seed(&mut self, key: PeerKey, error: &WebSeedError) {
        let Some(seed) = self.web_seeds.remove(&key) else {
            return;
        };
        self.picker.peer_gone(key);
        self.web_seed_dropped(seed.url, error);
        self.request_from_all();
    }

    fn web_seed_dropped(&mut self, url: String, error: &WebSeedError) {
        let reason = error.to_string();
        tracing::warn!(%url, %reason, "web seed dropped");
        self.dropped_web_seeds.insert(url.clone());
        self.emit(TorrentEvent::WebSeedDropped { url, reason });
    }

    pub(super) fn on_web_seed_event(&mut self, event: WebSeedEvent) {
        let key = event.key;
        match event.kind {
            WebSeedEventKind::Block { request, data } => {
                self.web_seed_received += data.len() as u64;
                let Some(seed) = self.web_seeds.get_mut(&key) else {
                    self.wasted += data.len() as u64;
                    return;
                };
                seed.received += data.len() as u64;
                if !seed.in_flight.remove(&request) {
                    // Cancelled while its range was under way.
                    self.wasted += data.len() as u64;
                    return;
                }
                let length = data.len() as u64;
                if self.accept_block(key, Supplier::WebSeed(key), request, data) {
                    self.bytes_from_web_seeds += length;
                }
                self.request_web_seed(key);
            }
            WebSeedEventKind::Failed(error) => self.drop_web_seed(key, &error),
        }
    }

    /// Tops up a web seed's requests as the origin setting allows: every
    /// kind of block under "always"; under "avoid stall" only the
    /// time-critical blocks peers will be late with, or anything while no
    /// peer delivers.
    pub(super) fn request_web_seed(&mut self, key: PeerKey) {
        if self.state != TorrentState::Downloading {
            return;
        }
        let now = Instant::now();
        let ask = OriginAsk::new(
            self.origin,
            self.streams.stream_file().is_some(),
            now.duration_since(self.last_peer_block),
        );
        let Some(seed) = self.web_seeds.get_mut(&key) else {
            return;
        };
        let rate = seed.rate();
        let target = ((rate * REQUEST_QUEUE_SECONDS / f64::from(BLOCK_SIZE)) as usize)
            .clamp(MIN_REQUESTS_IN_FLIGHT, MAX_REQUESTS_IN_FLIGHT);
        // Quarter batches, as for peers: fewer, longer ranges.
        if seed.in_flight.len() + (target / 4).max(1) > target {
            return;
        }
        let slots = target - seed.in_flight.len();
        let picked = match ask {
            OriginAsk::Nothing => return,
            OriginAsk::Rescue => self.picker.pick_rescue(key, &seed.pieces, rate, slots, now),
            OriginAsk::Anything => self.picker.pick(key, &seed.pieces, rate, slots, now),
        };
        if picked.is_empty() {
            return;
        }
        seed.in_flight.extend(picked.iter().copied());
        seed.busy = true;
        // A closed channel means the task failed; its event follows.
        let _ = seed.requests.send(WebSeedCommand::Fetch(picked));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_setting_decides_what_a_web_seed_is_asked_for() {
        let quiet = ORIGIN_FILL_AFTER_PEER_SILENCE;
        let busy = Duration::from_millis(100);
        // (setting, streaming, time since a peer's last block) -> ask
        let table = [
            (OriginUse::Never, true, quiet, OriginAsk::Nothing),
            (OriginUse::Never, false, quiet, OriginAsk::Nothing),
            (OriginUse::AvoidStall, true, busy, OriginAsk::Rescue),
            // A player's deadlines decide even while peers are silent.
            (OriginUse::AvoidStall, true, quiet, OriginAsk::Rescue),
            (OriginUse::AvoidStall, false, busy, OriginAsk::Rescue),
            // A download without a player whose swarm went quiet.
            (OriginUse::AvoidStall, false, quiet, OriginAsk::Anything),
            (OriginUse::Always, true, busy, OriginAsk::Anything),
            (OriginUse::Always, false, busy, OriginAsk::Anything),
        ];
        for (origin, streaming, silence, expected) in table {
            assert_eq!(
                OriginAsk::new(origin, streaming, silence),
                expected,
                "{origin:?} streaming {streaming} silence {silence:?}"
            );
        }
    }
}
