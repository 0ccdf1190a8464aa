//! The export schema of one playback run (documented in `SCHEMA.md`). Times
//! are seconds since the session started unless a name says otherwise;
//! sizes are bytes, rates bytes per second.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped whenever a field changes meaning or disappears; readers refuse
/// other versions rather than misread them.
pub const SCHEMA_VERSION: u32 = 1;

/// One playback session: what was played, how, what happened and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub schema_version: u32,
    pub session: Session,
    pub torrent: Option<TorrentInfo>,
    pub policy: Option<PolicyInfo>,
    /// In time order.
    pub events: Vec<Event>,
    /// About once a second, strictly increasing in time.
    pub series: Vec<Sample>,
    pub summary: Summary,
}

impl Run {
    /// The name of this run in charts and tables.
    pub fn label(&self) -> &str {
        self.session
            .label
            .as_deref()
            .or(self.torrent.as_ref().map(|torrent| torrent.name.as_str()))
            .unwrap_or("run")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Piecewise's version.
    pub app_version: String,
    /// Wall-clock start of the session, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// From the process start to the session start, seconds: lets startup
    /// times be measured from the moment the program was launched.
    pub process_start_offset_s: f64,
    /// The command line, program name first.
    pub args: Vec<String>,
    /// A name for comparisons (benchmark case, policy); optional.
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorrentInfo {
    pub name: String,
    /// Hex, 40 characters (v1 info-hash).
    pub info_hash: String,
    /// The played file, relative to the torrent's root.
    pub file: String,
    pub file_size: u64,
    pub piece_length: u64,
    /// Media duration in seconds, once known.
    pub duration_s: Option<f64>,
    /// `file_size / duration_s`, bytes per second.
    pub bitrate_bytes_per_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// `sequential`, `rarest-first`, `deadline`, …
    pub name: String,
    pub parameters: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the session started.
    pub t_s: f64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Serialised as `"event": "<snake_case name>"` beside the event's fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The torrent (or magnet) was handed to the engine.
    TorrentAdded,
    /// The info dictionary is known (at once for a .torrent file).
    MetadataReceived,
    /// The first peer connection completed its handshake.
    FirstPeer,
    /// The startup rule judged the buffer enough and asked the player to
    /// play.
    PrebufferDone,
    /// The first video frame reached the sink.
    FirstFrame,
    /// The position advanced for the first time.
    PlaybackStarted,
    /// The position stopped advancing while playback should run.
    StallStart,
    /// Playback moves again, or no longer should run; `duration_s` is the
    /// stall's length, from its `StallStart`.
    StallEnd {
        duration_s: f64,
    },
    Pause,
    Resume,
    /// The user asked for position `target_s` (media seconds).
    Seek {
        target_s: f64,
    },
    /// The first frame after the last `Seek` reached the sink.
    SeekResumed,
    /// The stream ended; `complete` is false when well before the duration.
    End {
        complete: bool,
    },
    Error {
        message: String,
    },
}

/// Once-a-second state of the session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the session started.
    pub t_s: f64,
    /// Payload bytes per second.
    pub download_bytes_per_s: f64,
    pub upload_bytes_per_s: f64,
    pub peers: u32,
    /// Media seconds of contiguous verified data after the playhead.
    pub buffer_ahead_s: f64,
    /// Playhead, media seconds.
    pub position_s: f64,
    pub pieces_had: u32,
    /// Cumulative payload bytes since the torrent was added.
    pub bytes_down: u64,
    pub bytes_up: u64,
    /// Cumulative bytes received that did not count (duplicates, failed
    /// hashes).
    pub bytes_wasted: u64,
    /// Cumulative payload bytes from HTTP web seeds; part of `bytes_down`.
    pub bytes_from_web_seeds: u64,
}

/// Figures derived from `events` and `series` by [`Summary::of`]; never
/// kept separately.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Process start → first video frame at the sink.
    pub first_frame_s: Option<f64>,
    /// Torrent added → first video frame.
    pub first_frame_after_add_s: Option<f64>,
    /// Process start → the position first advances.
    pub play_start_s: Option<f64>,
    pub stall_count: u32,
    /// Total length of all stalls.
    pub stall_seconds: f64,
    pub seek_count: u32,
    /// Mean over seeks of seek issued → first frame after it; null without
    /// a resumed seek.
    pub seek_resume_s: Option<f64>,
    /// Media seconds played at normal speed (position advances between
    /// samples, seek jumps excluded).
    pub played_s: f64,
    pub bytes_down: u64,
    pub bytes_up: u64,
    pub bytes_wasted: u64,
    pub bytes_from_web_seeds: u64,
    /// `bytes_up / bytes_down`; null before anything was downloaded.
    pub share_ratio: Option<f64>,
}

/// A position step between two samples larger than this many times the
/// wall-clock step is a seek, not playback.
const MAX_PLAYBACK_SPEED: f64 = 2.0;

impl Summary {
    /// The one place the summary is computed: from the recorded events and
    /// series, with startup times shifted by the process start offset.
    pub fn of(events: &[Event], series: &[Sample], process_start_offset_s: f64) -> Self {
        let first = |wanted: &EventKind| {
            events
                .iter()
                .find(|event| &event.kind == wanted)
                .map(|event| event.t_s)
        };
        let added = first(&EventKind::TorrentAdded);
        let first_frame = first(&EventKind::FirstFrame);
        let play_start = first(&EventKind::PlaybackStarted);

        let stalls: Vec<f64> = events
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::StallEnd { duration_s } => Some(duration_s),
                _ => None,
            })
            .collect();

        let mut seek_count: u32 = 0;
        let mut pending_seek = None;
        let mut resume_times = Vec::new();
        for event in events {
            match event.kind {
                EventKind::Seek { .. } => {
                    seek_count = seek_count.saturating_add(1);
                    pending_seek = Some(event.t_s);
                }
                EventKind::SeekResumed => {
                    if let Some(issued) = pending_seek.take() {
                        resume_times.push(event.t_s - issued);
                    }
                }
                _ => {}
            }
        }

        let played_s = series
            .windows(2)
            .filter_map(|pair| match pair {
                [before, after] => {
                    let step = after.position_s - before.position_s;
                    let wall = after.t_s - before.t_s;
                    (step > 0.0 && step <= wall * MAX_PLAYBACK_SPEED).then_some(step)
                }
                _ => None,
            })
            .fold(0.0, |total, step| total + step);

        let last = series.last().cloned().unwrap_or_default();
        Self {
            first_frame_s: first_frame.map(|t| t + process_start_offset_s),
            first_frame_after_add_s: first_frame.zip(added).map(|(frame, add)| frame - add),
            play_start_s: play_start.map(|t| t + process_start_offset_s),
            stall_count: u32::try_from(stalls.len()).unwrap_or(u32::MAX),
            // Folded from +0.0: an empty `f64` sum is -0.0, which exports print as "-0.0".
            stall_seconds: stalls.iter().fold(0.0, |total, stall| total + stall),
            seek_count,
            seek_resume_s: (!resume_times.is_empty())
                .then(|| resume_times.iter().sum::<f64>() / resume_times.len() as f64),
            played_s,
            bytes_down: last.bytes_down,
            bytes_up: last.bytes_up,
            bytes_wasted: last.bytes_wasted,
            bytes_from_web_seeds: last.bytes_from_web_seeds,
            share_ratio: (last.bytes_down > 0)
                .then(|| last.bytes_up as f64 / last.bytes_down as f64),
        }
    }
}

/// Time intervals `(start, end)` of the stalls in `events`.
pub fn stall_intervals(events: &[Event]) -> impl Iterator<Item = (f64, f64)> + '_ {
    events.iter().filter_map(|event| match event.kind {
        EventKind::StallEnd { duration_s } => Some((event.t_s - duration_s, event.t_s)),
        _ => None,
    })
}

impl Run {
    /// Seconds spent in each part of the startup delay (launch, metadata,
    /// first peer, prebuffering, first frame), from the process start:
    /// each phase runs from the latest milestone before it to its own
    /// (torrent added, metadata, first peer, prebuffer done, first frame).
    /// A milestone that never came, or came before an earlier one (a
    /// magnet's first peer brings the metadata), counts zero, and one after
    /// the first frame (a window prerolls its first frame before the
    /// startup rule lets it play) ends at the first frame, so the parts add
    /// up to `first_frame_s`.
    pub fn startup_phases(&self) -> [f64; 5] {
        let milestones = [
            EventKind::TorrentAdded,
            EventKind::MetadataReceived,
            EventKind::FirstPeer,
            EventKind::PrebufferDone,
            EventKind::FirstFrame,
        ];
        let offset = self.session.process_start_offset_s;
        let first_frame = self.summary.first_frame_s.unwrap_or(f64::INFINITY);
        let mut reached = 0.0_f64;
        milestones.map(|milestone| {
            let at = self
                .events
                .iter()
                .find(|event| event.kind == milestone)
                .map(|event| (event.t_s + offset).min(first_frame));
            let part = at.map_or(0.0, |at| (at - reached).max(0.0));
            reached = reached.max(at.unwrap_or(reached));
            part
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_milestone_after_the_first_frame_ends_its_phase_at_the_first_frame() {
        let event = |t_s, kind| Event { t_s, kind };
        let events = vec![
            event(0.0, EventKind::TorrentAdded),
            event(0.5, EventKind::FirstPeer),
            event(1.0, EventKind::FirstFrame),
            event(1.6, EventKind::PrebufferDone),
        ];
        let run = Run {
            schema_version: SCHEMA_VERSION,
            session: Session {
                app_version: String::new(),
                started_unix_ms: 0,
                process_start_offset_s: 0.0,
                args: Vec::new(),
                label: None,
            },
            torrent: None,
            policy: None,
            summary: Summary::of(&events, &[], 0.0),
            events,
            series: Vec::new(),
        };
        assert_eq!(run.startup_phases(), [0.0, 0.0, 0.5, 0.5, 0.0]);
    }

    #[test]
    fn a_session_without_stalls_or_playback_sums_to_positive_zero() {
        let summary = Summary::of(&[], &[], 0.0);
        assert!(summary.stall_seconds.is_sign_positive());
        assert!(summary.played_s.is_sign_positive());
    }
}
