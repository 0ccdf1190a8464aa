//! The per-torrent announcer task: `started`, re-announces on the
//! tracker's interval, `completed` when the download finishes, `stopped`
//! at the end, working through announce tiers as BEP 12 says (trackers
//! shuffled within a tier, the one that answers moved to its front, the
//! next tier tried only when a whole tier fails).

use std::net::SocketAddr;
use std::time::Duration;

use rand::seq::SliceRandom;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{AnnounceEvent, AnnounceReply, AnnounceRequest, TrackerTimeouts, announce};
use crate::engine::metainfo::InfoHash;
use crate::engine::wire::PeerId;

/// Peers asked for per announce: plenty to choose fast ones from
/// (libtorrent's default).
const NUM_WANT: u32 = 200;

/// Wait before retrying when every tracker failed; doubles up to
/// `MAX_RETRY_DELAY`.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(15);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30 * 60);

/// Time allowed for the `stopped` announces when the torrent goes away.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the torrent task publishes for announces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    pub uploaded: u64,
    pub downloaded: u64,
    /// Bytes still wanted; 0 means seeding.
    pub left: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerEvent {
    /// Peers from a reply (never empty).
    Peers(Vec<SocketAddr>),
    /// A tracker answered: how many peers it gave, when we announce again.
    Reply {
        url: String,
        peers: usize,
        interval: Duration,
    },
    /// A tracker failed; the announcer goes on with the next one.
    Error { url: String, message: String },
}

/// Handle to a running announcer. Dropping it also ends the task (after
/// `stopped` announces); [`Announcer::stop`] waits for that.
pub struct Announcer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Who we are and where to announce.
#[derive(Clone, Debug)]
pub struct AnnounceTarget {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// Our listening port for peer connections.
    pub port: u16,
    /// Announce tiers (BEP 12), as in `Metainfo::trackers`.
    pub tiers: Vec<Vec<String>>,
    pub timeouts: TrackerTimeouts,
}

impl Announcer {
    /// Spawns the announcer on the current tokio runtime. It reads the
    /// transfer counters from `stats` and reports on `events`; it ends when
    /// stopped, when the handle is dropped, or when either channel closes.
    pub fn spawn(
        target: AnnounceTarget,
        stats: watch::Receiver<TransferStats>,
        events: mpsc::Sender<TrackerEvent>,
    ) -> Announcer {
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(target, stats, events, stop_rx));
        Announcer {
            stop: Some(stop),
            task,
        }
    }

    /// Sends `stopped` to the trackers that know us and waits until done.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            // The task may already have ended on its own; nothing to do then.
            let _ = stop.send(());
        }
        if let Err(error) = (&mut self.task).await {
            tracing::warn!(%error, "announcer task failed");
        }
    }
}

struct Tiers {
    tiers: Vec<Vec<String>>,
    /// Trackers that got our `started` and so should get `stopped`.
    started: Vec<String>,
}

impl Tiers {
    /// Announces tier by tier until one tracker answers; reports every
    /// outcome on `events`. `None` when every tracker failed.
    async fn announce(
        &mut self,
        request: &AnnounceRequest,
        timeouts: &TrackerTimeouts,
        events: &mpsc::Sender<TrackerEvent>,
    ) -> Option<AnnounceReply> {
        for tier in &mut self.tiers {
            for index in 0..tier.len() {
                let url = tier[index].clone();
                let mut request = request.clone();
                if request.event == AnnounceEvent::None && !self.started.contains(&url) {
                    request.event = AnnounceEvent::Started;
                }
                match announce(&url, &request, timeouts).await {
                    Ok(reply) => {
                        // BEP 12: the tracker that answered goes first.
                        let answered = tier.remove(index);
                        tier.insert(0, answered);
                        if !self.started.contains(&url) {
                            self.started.push(url.clone());
                        }
                        if let Some(warning) = &reply.warning {
                            tracing::info!(%url, %warning, "tracker warning");
                        }
                        if !reply.peers.is_empty() {
                            let _ = events.send(TrackerEvent::Peers(reply.peers.clone())).await;
                        }
                        let _ = events
                            .send(TrackerEvent::Reply {
                                url,
                                peers: reply.peers.len(),
                                interval: reply.interval,
                            })
                            .await;
                        return Some(reply);
                    }
                    Err(error) => {
                        tracing::debug!(%url, %error, "announce failed");
                        let _ = events
                            .send(TrackerEvent::Error {
                                url,
                                message: error.to_string(),
                            })
                            .await;
                    }
                }
            }
        }
        None
    }
}

async fn run(
    target: AnnounceTarget,
    mut stats: watch::Receiver<TransferStats>,
    events: mpsc::Sender<TrackerEvent>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut tiers = target.tiers.clone();
    for tier in &mut tiers {
        tier.shuffle(&mut rand::thread_rng());
    }
    tiers.retain(|tier| !tier.is_empty());
    let mut tiers = Tiers {
        tiers,
        started: Vec::new(),
    };
    let key: u32 = rand::random();
    let request = |event: AnnounceEvent, stats: TransferStats| AnnounceRequest {
        info_hash: target.info_hash,
        peer_id: target.peer_id,
        port: target.port,
        uploaded: stats.uploaded,
        downloaded: stats.downloaded,
        left: stats.left,
        event,
        num_want: NUM_WANT,
        key,
    };
    // `completed` is only for a download that finished while we watched.
    let mut owe_completed = false;
    let mut was_downloading = stats.borrow().left > 0;
    let mut next_announce = Instant::now();
    let mut retry_delay = FIRST_RETRY_DELAY;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = events.closed() => break,
            changed = stats.changed() => {
                if changed.is_err() {
                    break;
                }
                let left = stats.borrow_and_update().left;
                if was_downloading && left == 0 {
                    owe_completed = true;
                    next_announce = Instant::now();
                }
                was_downloading = left > 0;
            }
            _ = tokio::time::sleep_until(next_announce) => {
                let event = if owe_completed { AnnounceEvent::Completed } else { AnnounceEvent::None };
                let current = *stats.borrow();
                // A stop must not wait for slow trackers.
                let this_request = request(event, current);
                let outcome = tokio::select! {
                    outcome = tiers.announce(&this_request, &target.timeouts, &events) => outcome,
                    _ = &mut stop => break,
                };
                match outcome {
                    Some(reply) => {
                        owe_completed = false;
                        retry_delay = FIRST_RETRY_DELAY;
                        next_announce = Instant::now() + reply.interval;
                    }
                    None => {
                        next_announce = Instant::now() + retry_delay;
                        retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
                    }
                }
            }
        }
    }
    let stopped = request(AnnounceEvent::Stopped, *stats.borrow());
    let timeouts = TrackerTimeouts {
        http: STOP_TIMEOUT,
        udp_first: STOP_TIMEOUT,
        udp_attempts: 1,
    };
    let goodbyes = tiers.started.iter().map(|url| {
        let stopped = &stopped;
        async move {
            if let Err(error) = announce(url, stopped, &timeouts).await {
                tracing::debug!(%url, %error, "stopped announce failed");
            }
        }
    });
    futures::future::join_all(goodbyes).await;
}
