//! The recorder: one per playback session. It takes plain values (instants,
//! seconds, counters), so the player, the command line and the window feed
//! it alike, and it turns them into a [`Run`].

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::stats::schema::{
    Event, EventKind, PolicyInfo, Run, SCHEMA_VERSION, Sample, Session, Summary, TorrentInfo,
};
use crate::stats::stall::{StallDetector, StallTransition};

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// The instant the process started, as first seen by this function: `main`
/// calls it before anything else so startup times include the app's own.
pub fn process_start() -> Instant {
    *PROCESS_START.get_or_init(Instant::now)
}

pub struct Recorder {
    session_start: Instant,
    session: Session,
    torrent: Option<TorrentInfo>,
    policy: Option<PolicyInfo>,
    events: Vec<Event>,
    series: Vec<Sample>,
    stall: StallDetector,
    peer_seen: bool,
    frame_seen: bool,
    seek_pending: bool,
}

impl Recorder {
    /// A session starting at `session_start`, in a process that started at
    /// `process_start`, run with the command line `args`.
    pub fn new(process_start: Instant, session_start: Instant, args: Vec<String>) -> Self {
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self {
            session_start,
            session: Session {
                app_version: crate::config::VERSION.to_owned(),
                started_unix_ms,
                process_start_offset_s: session_start
                    .saturating_duration_since(process_start)
                    .as_secs_f64(),
                args,
                label: None,
            },
            torrent: None,
            policy: None,
            events: Vec::new(),
            series: Vec::new(),
            stall: StallDetector::new(),
            peer_seen: false,
            frame_seen: false,
            seek_pending: false,
        }
    }

    pub fn set_label(&mut self, label: impl Into<String>) {
        self.session.label = Some(label.into());
    }

    pub fn set_torrent(&mut self, torrent: TorrentInfo) {
        self.torrent = Some(torrent);
    }

    pub fn set_policy(&mut self, policy: PolicyInfo) {
        self.policy = Some(policy);
    }

    /// Seconds from the session start to `now`.
    pub fn seconds(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.session_start)
            .as_secs_f64()
    }

    /// Records an event that needs no bookkeeping (added, metadata,
    /// prebuffered, pause, resume, error).
    pub fn event(&mut self, now: Instant, kind: EventKind) {
        let t_s = self.seconds(now);
        self.insert(t_s, kind);
    }

    /// A peer connected; only the first one is an event.
    pub fn peer_connected(&mut self, now: Instant) {
        if !std::mem::replace(&mut self.peer_seen, true) {
            self.event(now, EventKind::FirstPeer);
        }
    }

    /// A video frame reached the sink: the first one of the session, or the
    /// first after a seek, is an event.
    pub fn frame_shown(&mut self, now: Instant) {
        if !std::mem::replace(&mut self.frame_seen, true) {
            self.event(now, EventKind::FirstFrame);
        }
        if std::mem::take(&mut self.seek_pending) {
            self.event(now, EventKind::SeekResumed);
        }
    }

    /// The user asked for media position `target_s`.
    pub fn seek(&mut self, now: Instant, target_s: f64) {
        self.seek_pending = true;
        self.event(now, EventKind::Seek { target_s });
    }

    /// The playhead at `now`; `should_run` is false while paused, seeking,
    /// opening or ended. Feed it several times a second: stalls are found
    /// from these samples.
    pub fn position(&mut self, now: Instant, position_s: f64, should_run: bool) {
        let now_s = self.seconds(now);
        let transition = self.stall.observe(now_s, position_s, should_run);
        self.apply(transition);
    }

    /// The once-a-second sample; its `t_s` is set from `now`. Samples not
    /// after the previous one are dropped, keeping the series strictly
    /// increasing.
    pub fn sample(&mut self, now: Instant, sample: Sample) {
        let t_s = self.seconds(now);
        if self.series.last().is_some_and(|last| last.t_s >= t_s) {
            return;
        }
        self.series.push(Sample { t_s, ..sample });
    }

    /// Whether the playhead has stood still past the stall threshold while
    /// playback should run, as of the last `position`.
    pub fn is_stalled(&self) -> bool {
        self.stall.is_stalled()
    }

    /// The session ends (end of stream when `complete`, or stopped): closes
    /// an open stall.
    pub fn finish(&mut self, now: Instant, complete: bool) {
        let now_s = self.seconds(now);
        let transition = self.stall.finish(now_s);
        self.apply(transition);
        self.insert(now_s, EventKind::End { complete });
    }

    /// The run so far, summary included.
    pub fn run(&self) -> Run {
        Run {
            schema_version: SCHEMA_VERSION,
            session: self.session.clone(),
            torrent: self.torrent.clone(),
            policy: self.policy.clone(),
            events: self.events.clone(),
            series: self.series.clone(),
            summary: Summary::of(
                &self.events,
                &self.series,
                self.session.process_start_offset_s,
            ),
        }
    }

    /// The latest sample, for a live chart.
    pub fn last_sample(&self) -> Option<&Sample> {
        self.series.last()
    }

    fn apply(&mut self, transition: Option<StallTransition>) {
        match transition {
            Some(StallTransition::PlaybackStarted { at_s }) => {
                self.insert(at_s, EventKind::PlaybackStarted)
            }
            Some(StallTransition::StallStarted { at_s }) => {
                self.insert(at_s, EventKind::StallStart)
            }
            Some(StallTransition::StallEnded { started_s, at_s }) => self.insert(
                at_s,
                EventKind::StallEnd {
                    duration_s: at_s - started_s,
                },
            ),
            None => {}
        }
    }

    /// Keeps `events` in time order: a stall is dated back to when the
    /// picture froze, before events recorded since.
    fn insert(&mut self, t_s: f64, kind: EventKind) {
        let index = self.events.partition_point(|event| event.t_s <= t_s);
        self.events.insert(index, Event { t_s, kind });
    }
}
