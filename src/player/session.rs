//! A playback session: one video of one torrent, from the engine's stream
//! through the player, with the feedback loop back to the engine and the
//! stats recorder fed along the way.
//!
//! ```text
//!  engine ──FileStream──► EngineSource ──► torrentsrc ──► playbin ──► sinks
//!    ▲                                                       │  PlayerEvent
//!    │ set_playback (rate, playing), reset_read_heads (seek) ▼
//!    └──────────────────── Session::tick, 4 Hz ◄───── position, duration,
//!                              │                      read waits, frames
//!                              ├─► Player::set_data_ready (startup rule)
//!                              └─► Recorder (events, 1 Hz samples)
//! ```
//!
//! The startup rule (`engine::picker::startup`) decides both when playback
//! first starts (leaving `Prebuffering`) and when it resumes after a stall:
//! the buffer ahead of the playhead must hold max(margin, D·(1 − r/b))
//! seconds of media, with r discounted while the session is young (a rate
//! measured for a few seconds is noisy). A stall is the position standing still for more than
//! 0.2 s while playback should run, or `torrentsrc` waiting for data with
//! less than [`STALL_BUFFER_FLOOR_S`] buffered: the pipeline is paused
//! until the rule allows again, so the picture stops cleanly instead of
//! stuttering. While playback is held, the rule is asked again whenever the
//! torrent's stats or verified pieces change ([`StartupWake`]), not only at
//! the next tick: on a fast swarm the data is there long before 250 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::engine::bitfield::Bitfield;
use crate::engine::events::{TorrentState, TorrentStats};
use crate::engine::handle::TorrentHandle;
use crate::engine::picker::startup::{self, StartupEstimate, StartupInput};
use crate::engine::stream::FileStream;
use crate::player::engine_source::{self, EngineSource};
use crate::player::file_choice::{self, PlayableFile};
use crate::player::torrentsrc::ReadWait;
use crate::player::{PlaybackError, PlaybackState, Player, PlayerEvent, PlayerSinks, Tracks};
use crate::stats::recorder::Recorder;
use crate::stats::schema::{EventKind, Sample, TorrentInfo};

/// How often the session tells the engine where playback is and checks
/// for stalls: several times within the 0.2 s stall threshold's reach.
pub const TICK: Duration = Duration::from_millis(250);

/// The recorder's once-a-second series.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Least buffer, seconds of media, the startup rule asks for even when the
/// swarm is faster than the video: rides out rate jitter and the gap
/// between the playhead and what the decoders have queued.
pub const SAFETY_MARGIN_S: f64 = 2.0;

/// A read that waits with less than this buffered ahead (seconds of media)
/// stalls playback at once instead of running the queues dry.
pub const STALL_BUFFER_FLOOR_S: f64 = 0.5;

/// Longest wait for a subtitle file before playing without it.
pub const SUBTITLE_WAIT: Duration = Duration::from_secs(10);

/// Bitrate assumed before the demuxer knows the duration, bytes/s (8
/// Mbit/s, a high-quality 1080p stream): guessing high asks for more
/// buffer, never too little.
pub const GUESSED_BITRATE: f64 = 1_000_000.0;

/// How far the buffer is from letting playback start or resume, as of the
/// last tick: for the window's "buffering n %, starting in ~n s".
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BufferStatus {
    /// Media seconds verified without a gap after the playhead.
    pub ahead_s: f64,
    /// Media seconds the startup rule asks for (no more than `ahead_s`
    /// once the verified run reaches the end of the file).
    pub required_s: f64,
    /// When the rule expects to allow playback at the current download
    /// rate; `None` while nothing arrives.
    pub wait: Option<Duration>,
}

/// The startup rule's verdict on one moment of a stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartupVerdict {
    pub estimate: StartupEstimate,
    /// Media seconds verified without a gap after the playhead.
    pub buffer_s: f64,
    /// That run reaches the end of the file.
    pub to_the_end: bool,
}

impl StartupVerdict {
    /// Playback may start or resume: the buffer is expected to last, or
    /// the rest of the file is all there.
    pub fn allows(&self) -> bool {
        self.estimate.can_start_now || self.to_the_end
    }
}

/// The startup rule as playback applies it: `stream` played from
/// `position_s` at `bitrate` bytes/s, `duration_s` long (`None`: file
/// size over bitrate), downloading at `download_rate` measured for
/// `rate_age`. The benchmark asks it too, so both judge alike.
pub fn startup_verdict(
    stream: &FileStream,
    position_s: f64,
    bitrate: f64,
    duration_s: Option<f64>,
    download_rate: f64,
    rate_age: Duration,
) -> StartupVerdict {
    let length = stream.len();
    let playhead = ((position_s * bitrate) as u64).min(length);
    let verified = stream.verified_len_from(playhead);
    let buffer_s = verified as f64 / bitrate;
    let remaining_s = duration_s.unwrap_or(length as f64 / bitrate) - position_s;
    let estimate = startup::estimate(&StartupInput {
        download_bytes_per_second: download_rate,
        rate_measured_secs: rate_age.as_secs_f64(),
        media_bytes_per_second: bitrate,
        remaining_secs: remaining_s,
        buffered_secs: buffer_s,
        safety_margin_secs: SAFETY_MARGIN_S.min(remaining_s.max(0.0)),
    });
    StartupVerdict {
        estimate,
        buffer_s,
        to_the_end: playhead + verified >= length,
    }
}

/// Wakes whoever waits for the startup rule when what it judges may have
/// changed: the torrent's stats (the rate, published with each verified
/// piece early on) or its verified pieces (the buffer). A watch changes at
/// most once per piece or stats tick, so waiting on it never spins.
pub struct StartupWake {
    stats: watch::Receiver<TorrentStats>,
    have: watch::Receiver<Bitfield>,
}

impl StartupWake {
    pub fn new(stats: watch::Receiver<TorrentStats>, have: watch::Receiver<Bitfield>) -> Self {
        Self { stats, have }
    }

    /// Resolves at the next change; never once the torrent is gone (a
    /// closed watch answers at once, and a loop on it would spin).
    pub async fn changed(&mut self) {
        tokio::select! {
            Ok(()) = self.stats.changed() => {}
            Ok(()) = self.have.changed() => {}
            else => std::future::pending().await,
        }
    }

    /// Waits until `allows` says yes, asking it at once, at each change,
    /// and at least every [`TICK`] (a young rate's trust grows with time
    /// alone).
    pub async fn wait_until(&mut self, mut allows: impl FnMut() -> bool) {
        let mut poll = tokio::time::interval(TICK);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !allows() {
            tokio::select! {
                () = self.changed() => {}
                _ = poll.tick() => {}
            }
        }
    }
}

/// How the session decides that playback may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StartRule {
    /// The startup estimate: start as soon as the buffer is expected to
    /// last to the end.
    #[default]
    Estimate,
    /// Start with the first frame, whatever the rate (a baseline for
    /// comparisons); resuming after a stall still follows the estimate.
    Immediate,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("The torrent “{0}” contains no video file that can be played.")]
    NoPlayableFile(String),
    #[error("Cannot open “{file}” of the torrent: {source}")]
    Stream {
        file: String,
        #[source]
        source: crate::engine::stream::StreamError,
    },
    #[error("Cannot choose the files to download: {0}")]
    Engine(#[from] crate::engine::handle::EngineError),
    #[error("Cannot build the player: {0}")]
    Player(#[from] crate::player::PlayerSetupError),
}

/// A torrent's video chosen and opened as a stream, registered for
/// `torrentsrc`: the player can open [`uri`](Self::uri) at once.
pub struct PreparedPlayback {
    pub torrent: TorrentHandle,
    pub video: PlayableFile,
    /// Every playable file, for the UI to offer.
    pub playable: Vec<PlayableFile>,
    /// Files of the torrent holding subtitles for the video.
    pub subtitles: Vec<usize>,
    pub uri: String,
    source: Arc<EngineSource>,
}

impl PreparedPlayback {
    /// Chooses the video (`file`, or the largest), makes only it and its
    /// subtitles wanted, and opens its stream on `runtime`, the engine's.
    pub fn new(
        torrent: TorrentHandle,
        file: Option<usize>,
        runtime: Handle,
    ) -> Result<Self, SessionError> {
        let info = &torrent.metainfo().info;
        let playable = file_choice::playable_files(info);
        let video = match file {
            Some(index) => playable.iter().find(|f| f.index == index),
            None => playable.first(),
        }
        .cloned()
        .ok_or_else(|| SessionError::NoPlayableFile(info.name.clone()))?;
        let subtitles = file_choice::matching_subtitles(info, video.index);
        torrent.set_wanted_files(file_choice::files_to_play(info, Some(video.index)))?;
        let stream = torrent
            .open_stream(video.index)
            .map_err(|source| SessionError::Stream {
                file: video.path.clone(),
                source,
            })?;
        let source = Arc::new(EngineSource::new(stream, runtime));
        let uri = engine_source::stream_uri(torrent.info_hash(), video.index);
        engine_source::prepare(&uri, source.clone());
        Ok(Self {
            torrent,
            video,
            playable,
            subtitles,
            uri,
            source,
        })
    }

    pub fn stream(&self) -> &FileStream {
        self.source.stream()
    }

    /// The first matching subtitle file, fetched (see `fetch_subtitle`),
    /// as a URI for [`Session::start`]; `None` without one, or when it
    /// fails or takes longer than `SUBTITLE_WAIT` (playback goes on
    /// without).
    pub async fn subtitle_uri(&self) -> Option<String> {
        let &file = self.subtitles.first()?;
        match tokio::time::timeout(SUBTITLE_WAIT, self.fetch_subtitle(file)).await {
            Ok(Ok(uri)) => {
                tracing::info!(%uri, "subtitles");
                Some(uri)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "playing without subtitles");
                None
            }
            Err(_) => {
                tracing::warn!("subtitles did not arrive in time; playing without");
                None
            }
        }
    }

    /// Waits until subtitle file `file` of the torrent is complete on disk
    /// and returns its `file://` URI for playbin's `suburi`. Subtitles are
    /// small (see `file_choice`), so waiting for the whole file before
    /// opening the video costs little, while a live second stream would need
    /// a second `torrentsrc` inside playbin's subtitle branch.
    pub async fn fetch_subtitle(&self, file: usize) -> anyhow::Result<String> {
        /// Reads in pieces of this many bytes, discarding them: the data
        /// only has to be verified and on disk.
        const CHUNK: usize = 256 * 1024;
        let stream = self.torrent.open_stream(file)?;
        let mut offset = 0;
        while offset < stream.len() {
            let read = stream.read_at(offset, CHUNK).await?;
            anyhow::ensure!(!read.is_empty(), "short read of {}", stream.name());
            offset += read.len() as u64;
        }
        Ok(gst::glib::filename_to_uri(stream.path(), None)?.to_string())
    }
}

impl Drop for PreparedPlayback {
    fn drop(&mut self) {
        engine_source::withdraw(&self.uri);
    }
}

/// What the session's caller learns from one step.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEvent {
    State(PlaybackState),
    /// The playhead moved (media seconds).
    Position(f64),
    /// The stream ended; `complete` is false when it ended before its
    /// duration.
    Ended {
        complete: bool,
    },
    Failed(PlaybackError),
    /// The audio and subtitle tracks, or the playing ones, changed.
    Tracks(Tracks),
}

/// Where a session renders.
pub struct SessionSinks {
    pub player: PlayerSinks,
    /// Subtitle text, when not overlaid on the video.
    pub text: Option<gst::Element>,
}

/// First frames the session waits for: after opening, and after a
/// flushing seek (frames queued before the flush do not count).
#[derive(Default)]
struct FrameWatch(AtomicU8);

const FRAME_NONE: u8 = 0;
const FRAME_NEXT: u8 = 1;
const FRAME_AFTER_FLUSH: u8 = 2;

/// One video playing from a torrent.
pub struct Session {
    prepared: PreparedPlayback,
    player: Player,
    player_events: async_channel::Receiver<PlayerEvent>,
    frames: async_channel::Receiver<Instant>,
    frame_watch: Arc<FrameWatch>,
    recorder: Recorder,
    /// What the recorder knows of the torrent, completed with the duration.
    torrent_info: TorrentInfo,
    state: PlaybackState,
    position_s: f64,
    duration_s: Option<f64>,
    /// `torrentsrc` is blocked in a read.
    reader_waiting: bool,
    /// The pipeline is held paused by us (prebuffering or a stall).
    holding: bool,
    /// The torrent stopped on an error and that was reported.
    torrent_failed: bool,
    started: bool,
    seek_target_s: Option<f64>,
    /// A start position was asked for and the player has not moved there
    /// yet: the buffer at the top of the file does not count.
    start_pending: bool,
    last_sample: Option<Instant>,
    /// When the session started: the download rate has been measured
    /// about this long, and a young rate counts for less.
    opened_at: Instant,
    /// The consumption rate and play flag last sent to the engine.
    sent_playback: Option<(f64, bool)>,
    buffer: Option<BufferStatus>,
    ticker: tokio::time::Interval,
    /// Asks the startup rule again between ticks while playback is held.
    startup_wake: StartupWake,
}

impl Session {
    /// Opens `prepared` in a new player rendering into `sinks`; events are
    /// recorded into `recorder`.
    pub fn start(
        prepared: PreparedPlayback,
        sinks: SessionSinks,
        subtitle_uri: Option<&str>,
        recorder: Recorder,
        start_rule: StartRule,
    ) -> Result<Self, SessionError> {
        Self::start_at(prepared, sinks, subtitle_uri, recorder, start_rule, None)
    }

    /// Like [`start`](Self::start), resuming at `start_s` media seconds:
    /// the player decodes the first frame, then moves there before playback
    /// begins, and until then the startup rule waits (the buffer that
    /// counts is the one at `start_s`).
    pub fn start_at(
        prepared: PreparedPlayback,
        sinks: SessionSinks,
        subtitle_uri: Option<&str>,
        mut recorder: Recorder,
        start_rule: StartRule,
        start_s: Option<f64>,
    ) -> Result<Self, SessionError> {
        let frame_watch = Arc::new(FrameWatch(AtomicU8::new(FRAME_NEXT)));
        let (frames_tx, frames) = async_channel::bounded(4);
        if let Some(pad) = sinks.player.video.static_pad("sink") {
            let watch = frame_watch.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_FLUSH,
                move |_, info| {
                    let flag = &watch.0;
                    match &info.data {
                        Some(gst::PadProbeData::Event(event))
                            if event.type_() == gst::EventType::FlushStop =>
                        {
                            let _ = flag.compare_exchange(
                                FRAME_AFTER_FLUSH,
                                FRAME_NEXT,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            );
                        }
                        Some(gst::PadProbeData::Buffer(_))
                            if flag
                                .compare_exchange(
                                    FRAME_NEXT,
                                    FRAME_NONE,
                                    Ordering::AcqRel,
                                    Ordering::Acquire,
                                )
                                .is_ok() =>
                        {
                            let _ = frames_tx.try_send(Instant::now());
                        }
                        _ => {}
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
        let text_sink = sinks.text.clone();
        let (player, player_events) = Player::new(sinks.player)?;
        if let Some(text_sink) = &text_sink {
            player.set_text_sink(text_sink);
        }
        let info = &prepared.torrent.metainfo().info;
        let torrent_info = TorrentInfo {
            name: info.name.clone(),
            info_hash: prepared.torrent.info_hash().to_hex(),
            file: prepared.video.path.clone(),
            file_size: prepared.video.length,
            piece_length: u64::from(info.piece_length),
            duration_s: None,
            bitrate_bytes_per_s: None,
        };
        recorder.set_torrent(torrent_info.clone());
        let start = start_s
            .filter(|start| *start > 0.0)
            .map(|start| gst::ClockTime::from_nseconds((start * 1e9) as u64));
        player.open_at(&prepared.uri, subtitle_uri, start);
        let holding = start_rule == StartRule::Estimate;
        if holding {
            player.set_data_ready(false);
        }
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let startup_wake = StartupWake::new(
            prepared.torrent.stats_watch(),
            prepared.torrent.verified_pieces(),
        );
        Ok(Self {
            prepared,
            player,
            player_events,
            frames,
            frame_watch,
            recorder,
            torrent_info,
            state: PlaybackState::Opening,
            position_s: 0.0,
            duration_s: None,
            reader_waiting: false,
            holding,
            torrent_failed: false,
            started: false,
            seek_target_s: None,
            start_pending: start.is_some(),
            last_sample: None,
            sent_playback: None,
            opened_at: Instant::now(),
            buffer: None,
            ticker,
            startup_wake,
        })
    }

    pub fn player(&self) -> &Player {
        &self.player
    }

    pub fn prepared(&self) -> &PreparedPlayback {
        &self.prepared
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    pub fn recorder_mut(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    pub fn into_recorder(self) -> Recorder {
        self.recorder
    }

    pub fn state(&self) -> PlaybackState {
        self.state
    }

    /// The playhead, media seconds.
    pub fn position_s(&self) -> f64 {
        self.position_s
    }

    /// `None` until the first tick measured it.
    pub fn buffer_status(&self) -> Option<BufferStatus> {
        self.buffer
    }

    pub fn duration_s(&self) -> Option<f64> {
        self.duration_s
    }

    /// Seeks to `target_s` (media seconds): the engine forgets the old read
    /// heads so the pieces at the target come first.
    pub fn seek(&mut self, target_s: f64) {
        let target_s = target_s.max(0.0);
        self.recorder.seek(Instant::now(), target_s);
        self.frame_watch
            .0
            .store(FRAME_AFTER_FLUSH, Ordering::Release);
        self.seek_target_s = Some(target_s);
        self.prepared.stream().reset_read_heads();
        self.player
            .seek(gst::ClockTime::from_nseconds((target_s * 1e9) as u64));
    }

    /// Waits for the next thing to happen: a player event, a frame, or the
    /// next tick of the feedback loop. Returns what the caller should know.
    pub async fn step(&mut self) -> Option<SessionEvent> {
        tokio::select! {
            event = self.player_events.recv() => match event {
                Ok(event) => self.player_event(event),
                // The player's worker is gone: nothing more will happen.
                Err(_) => Some(SessionEvent::Failed(PlaybackError::Other(
                    "the player stopped".into(),
                ))),
            },
            Ok(at) = self.frames.recv() => {
                self.recorder.frame_shown(at);
                None
            }
            _ = self.ticker.tick() => self.tick(Instant::now()),
            // Only while held: playing, the tick's pace is enough.
            () = self.startup_wake.changed(), if self.holding => {
                let download_rate = self.prepared.torrent.stats().download_rate;
                self.apply_startup_rule(Instant::now(), download_rate);
                None
            }
        }
    }

    fn player_event(&mut self, event: PlayerEvent) -> Option<SessionEvent> {
        let now = Instant::now();
        match event {
            PlayerEvent::State(state) => {
                self.state = state;
                Some(SessionEvent::State(state))
            }
            PlayerEvent::Progress { position, duration } => {
                self.position_s = position.nseconds() as f64 / 1e9;
                if let Some(duration) = duration {
                    self.duration_known(duration.nseconds() as f64 / 1e9);
                }
                if self.seek_target_s.is_some() && self.state != PlaybackState::Seeking {
                    self.seek_target_s = None;
                }
                Some(SessionEvent::Position(self.position_s))
            }
            PlayerEvent::Ended { complete, .. } => {
                self.recorder.finish(now, complete);
                Some(SessionEvent::Ended { complete })
            }
            PlayerEvent::Failed(error) => self.failed(now, error),
            PlayerEvent::ReadWait(wait) => {
                self.reader_waiting = matches!(wait, ReadWait::Started { .. });
                None
            }
            PlayerEvent::StartSeek(start) => {
                // The demuxer's reads at the top of the file are over: the
                // engine should fetch from the start position on only.
                self.start_pending = false;
                self.position_s = start.nseconds() as f64 / 1e9;
                self.prepared.stream().reset_read_heads();
                Some(SessionEvent::Position(self.position_s))
            }
            PlayerEvent::Tracks(tracks) => Some(SessionEvent::Tracks(tracks)),
        }
    }

    fn duration_known(&mut self, duration_s: f64) {
        if duration_s <= 0.0 || self.duration_s == Some(duration_s) {
            return;
        }
        self.duration_s = Some(duration_s);
        self.torrent_info.duration_s = Some(duration_s);
        self.torrent_info.bitrate_bytes_per_s =
            Some(self.prepared.video.length as f64 / duration_s);
        self.recorder.set_torrent(self.torrent_info.clone());
    }

    /// Media bytes per second: file size over duration, or the guess.
    fn bitrate(&self) -> f64 {
        match self.duration_s {
            Some(duration) => self.prepared.video.length as f64 / duration,
            None => GUESSED_BITRATE,
        }
    }

    fn failed(&mut self, now: Instant, error: PlaybackError) -> Option<SessionEvent> {
        self.recorder.event(
            now,
            EventKind::Error {
                message: error.user_message(),
            },
        );
        Some(SessionEvent::Failed(error))
    }

    /// The feedback loop: tells the engine the playback rate, detects and
    /// ends stalls with the startup rule, samples for the recorder. Fails
    /// playback that waits for data from a torrent that stopped (a full
    /// disk): no read is blocked to fail it, and the data will not come.
    fn tick(&mut self, now: Instant) -> Option<SessionEvent> {
        // While seeking, the position is the old one or the target, neither
        // of which is playback.
        if self.state != PlaybackState::Seeking
            && let Some(position) = self.player.position()
        {
            self.position_s = position.nseconds() as f64 / 1e9;
        }
        let bitrate = self.bitrate();
        let stats = self.prepared.torrent.stats();
        if let TorrentState::Error(failure) = &stats.state
            && self.holding
            && !std::mem::replace(&mut self.torrent_failed, true)
        {
            return self.failed(now, PlaybackError::from_torrent(failure));
        }
        let should_run = matches!(self.state, PlaybackState::Playing | PlaybackState::Stalled);
        // Waiting to start or to resume is when deadlines matter most.
        let wants_to_play = !matches!(
            self.state,
            PlaybackState::Paused | PlaybackState::Ended | PlaybackState::Error
        );
        // The read heads already carry the position in bytes (each read
        // moves one), and a seek resets them; the rate and the play flag are
        // sent when they change, so the picker's windows are not rebuilt for
        // nothing.
        if self.sent_playback != Some((bitrate, wants_to_play)) {
            self.sent_playback = Some((bitrate, wants_to_play));
            self.prepared.stream().set_playback(bitrate, wants_to_play);
        }
        self.recorder.position(now, self.position_s, should_run);
        if !self.started && self.position_s > 0.0 && self.state == PlaybackState::Playing {
            self.started = true;
        }

        let (buffer_s, enough, released) = self.apply_startup_rule(now, stats.download_rate);
        if !released && !self.holding && self.state == PlaybackState::Playing && self.started {
            let frozen = self.recorder.is_stalled();
            let starving = self.reader_waiting && buffer_s < STALL_BUFFER_FLOOR_S;
            if (frozen || starving) && !enough {
                self.holding = true;
                self.player.set_data_ready(false);
            }
        }

        if self
            .last_sample
            .is_none_or(|last| now.duration_since(last) >= SAMPLE_INTERVAL)
        {
            self.last_sample = Some(now);
            self.recorder.sample(
                now,
                Sample {
                    download_bytes_per_s: stats.download_rate,
                    upload_bytes_per_s: stats.upload_rate,
                    peers: u32::try_from(stats.peers).unwrap_or(u32::MAX),
                    buffer_ahead_s: buffer_s,
                    position_s: self.position_s,
                    pieces_had: stats.pieces_had,
                    bytes_down: stats.bytes_downloaded,
                    bytes_up: stats.bytes_uploaded,
                    bytes_wasted: stats.wasted_bytes,
                    bytes_from_web_seeds: stats.bytes_from_web_seeds,
                    ..Sample::default()
                },
            );
        }
        None
    }

    /// Judges the buffer with the startup rule, keeps the status for the
    /// window, and lets held playback start or resume once allowed.
    /// Returns the buffer ahead (media seconds), whether the rule allows
    /// playing, and whether playback was released now.
    fn apply_startup_rule(&mut self, now: Instant, download_rate: f64) -> (f64, bool, bool) {
        let verdict = startup_verdict(
            self.prepared.stream(),
            self.position_s,
            self.bitrate(),
            self.duration_s,
            download_rate,
            now.saturating_duration_since(self.opened_at),
        );
        let StartupVerdict {
            estimate,
            buffer_s,
            to_the_end,
        } = verdict;
        let enough = !self.start_pending && verdict.allows();
        self.buffer = Some(BufferStatus {
            ahead_s: buffer_s,
            // The buffer playback will start with, so that the percent and
            // the wait tell the same story.
            required_s: if to_the_end {
                estimate.required_buffer_secs.min(buffer_s)
            } else {
                estimate.start_buffer_secs
            },
            wait: if enough {
                Some(Duration::ZERO)
            } else if self.duration_s.is_none() {
                // With the guessed bitrate the wait is no promise: the demo
                // read ~116 s, then ~2 s once the duration was known.
                None
            } else {
                estimate.wait
            },
        });
        let release = self.holding && enough;
        if release {
            self.holding = false;
            self.player.set_data_ready(true);
            if !self.started {
                self.recorder.event(now, EventKind::PrebufferDone);
            }
        }
        (buffer_s, enough, release)
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::engine::metainfo::{FileEntry, Info};

    const PIECE: u32 = 16384;
    const PIECES: u32 = 4;
    const DURATION_S: f64 = 10.0;
    /// When the data or the rate changes, well before the next tick.
    const CHANGE_AFTER: Duration = Duration::from_millis(10);

    /// Holds a stream of `PIECES` pieces, `DURATION_S` long, with `verified`
    /// pieces from the start verified and nothing arriving; runs `change` on
    /// the torrent's watches after `CHANGE_AFTER` and returns how long the
    /// startup rule took to allow playback.
    async fn start_wait_after(
        verified: u32,
        change: impl FnOnce(&watch::Sender<TorrentStats>, &watch::Sender<Bitfield>),
    ) -> Duration {
        let dir = tempfile::tempdir().unwrap();
        let length = u64::from(PIECE * PIECES);
        let info = Info {
            name: "film.mp4".to_owned(),
            piece_length: PIECE,
            piece_hashes: vec![[0; 20]; PIECES as usize],
            files: vec![FileEntry {
                path: "film.mp4".into(),
                length,
                offset: 0,
                pad: false,
            }],
            total_length: length,
            private: false,
        };
        let mut have = Bitfield::new(PIECES);
        for piece in 0..verified {
            have.set(piece);
        }
        let (have_tx, have) = watch::channel(have);
        let (stats_tx, stats) = watch::channel(TorrentStats::default());
        let (commands, _commands_rx) = mpsc::unbounded_channel();
        let stream = FileStream::open(
            &info,
            0,
            dir.path().to_owned(),
            have.clone(),
            stats.clone(),
            commands,
        )
        .unwrap();
        let mut wake = StartupWake::new(stats.clone(), have);
        let bitrate = length as f64 / DURATION_S;
        let began = tokio::time::Instant::now();
        let allows = || {
            let rate = stats.borrow().download_rate;
            // A rate measured long enough to count in full.
            let age = Duration::from_secs_f64(startup::RATE_SETTLE_SECS);
            startup_verdict(&stream, 0.0, bitrate, Some(DURATION_S), rate, age).allows()
        };
        assert!(!allows(), "the rule must hold playback at first");
        tokio::join!(wake.wait_until(allows), async {
            tokio::time::sleep(CHANGE_AFTER).await;
            change(&stats_tx, &have_tx);
        });
        began.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn held_playback_is_allowed_when_the_last_piece_is_verified_not_at_the_next_tick() {
        let waited = start_wait_after(1, |_, have| {
            have.send_modify(|have| {
                for piece in 0..PIECES {
                    have.set(piece);
                }
            });
        })
        .await;
        assert_eq!(waited, CHANGE_AFTER);
    }

    #[tokio::test(start_paused = true)]
    async fn held_playback_is_allowed_when_the_download_rate_rises_not_at_the_next_tick() {
        let waited = start_wait_after(PIECES - 1, |stats, _| {
            stats.send_modify(|stats| stats.download_rate = 10.0 * f64::from(PIECE * PIECES));
        })
        .await;
        assert_eq!(waited, CHANGE_AFTER);
    }
}
