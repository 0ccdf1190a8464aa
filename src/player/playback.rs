//! The `Player`: a playbin pipeline driven by one worker thread.

use super::error::PlaybackError;
use super::state::{Input, Intent, PlaybackState};
use super::torrentsrc::ReadWait;
use gst::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the worker reports the playhead while the pipeline runs.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// At end of stream, a position this close to the duration counts as the
/// whole video played. GStreamer ends a truncated file with a normal EOS,
/// so only this comparison tells "finished" from "data ran out". One
/// second covers audio and video tracks that end a few frames apart.
const EOS_COMPLETE_TOLERANCE: gst::ClockTime = gst::ClockTime::from_seconds(1);

/// The sinks the caller renders into: `gtk4paintablesink` in the window,
/// `fakesink` headless.
pub struct PlayerSinks {
    pub video: gst::Element,
    /// `None` lets playbin pick the system's audio output.
    pub audio: Option<gst::Element>,
}

/// What the player reports, in order, on its event channel.
#[derive(Clone, Debug, PartialEq)]
pub enum PlayerEvent {
    State(PlaybackState),
    /// The playhead, at most every `PROGRESS_INTERVAL` while it moves.
    Progress {
        position: gst::ClockTime,
        duration: Option<gst::ClockTime>,
    },
    /// End of stream; `complete` is false when it came well before the
    /// known duration (a truncated or damaged file).
    Ended {
        position: Option<gst::ClockTime>,
        duration: Option<gst::ClockTime>,
        complete: bool,
    },
    Failed(PlaybackError),
    /// `torrentsrc` waits for data that has not arrived, or stopped
    /// waiting: the stall signal of playback from a torrent.
    ReadWait(ReadWait),
    /// The video prerolled and is being moved to the start position given
    /// to [`Player::open_at`]; the state stays as it was (still opening).
    StartSeek(gst::ClockTime),
    /// The audio or subtitle tracks, their tags or the playing ones
    /// changed (streams linked after opening, a selection applied).
    Tracks(Tracks),
}

/// The audio and subtitle tracks of the open video, as playbin numbers
/// them (external subtitle files count as subtitle tracks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracks {
    pub audio: Vec<Track>,
    pub text: Vec<Track>,
    /// The playing audio track; `None` when there is none.
    pub current_audio: Option<usize>,
    /// The shown subtitle track; `None` when subtitles are off or there
    /// are none.
    pub current_text: Option<usize>,
}

/// What a track's tags say about it; both `None` when untagged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Track {
    /// Its language in the user's language ("English"), from the
    /// language-name tag or the ISO 639 code.
    pub language: Option<String>,
    /// Its own title ("Director's commentary").
    pub title: Option<String>,
}

/// Why a player could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PlayerSetupError {
    #[error("GStreamer element {0} is not installed")]
    MissingElement(&'static str),
    #[error("cannot start the player thread: {0}")]
    Thread(#[from] std::io::Error),
}

enum Command {
    Open {
        uri: String,
        subtitle_uri: Option<String>,
        start: Option<gst::ClockTime>,
    },
    DataReady(bool),
    Play,
    Pause,
    TogglePlay,
    Seek(gst::ClockTime),
    SelectAudio(usize),
    SelectText(Option<usize>),
    Shutdown,
}

enum WorkerInput {
    Command(Command),
    /// playbin linked, unlinked or retagged a stream (its signals come
    /// from streaming threads, where it must not be queried).
    TracksChanged,
    /// A bus message and the source generation it was posted in.
    Bus(u64, gst::Message),
}

/// A handle to one playback pipeline. Commands return at once; a worker
/// thread applies them (state changes may block) and reports `PlayerEvent`s.
/// Dropping the handle stops the pipeline and joins the worker.
pub struct Player {
    playbin: gst::Element,
    inputs: mpsc::Sender<WorkerInput>,
    worker: Option<JoinHandle<()>>,
}

impl Player {
    /// Builds the pipeline:
    ///
    /// ```text
    ///                 ┌───────────────────── playbin ─────────────────────┐
    ///   uri ────────► │ source ─► typefind ─► demux ─► decoders ───────┬──┼─► sinks.video
    ///                 │                                                └──┼─► sinks.audio
    ///                 └──────────────┬────────────────────────────────────┘
    ///                        bus (sync handler, any thread)
    ///                                ▼
    ///                   worker thread: state machine, position polling
    ///                                ▼
    ///                  async_channel<PlayerEvent> ──► UI or test
    /// ```
    pub fn new(
        sinks: PlayerSinks,
    ) -> Result<(Self, async_channel::Receiver<PlayerEvent>), PlayerSetupError> {
        // Not playbin3: on GStreamer 1.22 it sometimes never prerolled (no
        // error, no state change) with tests in parallel on a loaded
        // machine, in 2 of 10 runs of tests/playback.rs; playbin in 0 of 10.
        let playbin = gst::ElementFactory::make("playbin")
            .build()
            .map_err(|_| PlayerSetupError::MissingElement("playbin"))?;
        playbin.set_property("video-sink", &sinks.video);
        if let Some(audio) = &sinks.audio {
            playbin.set_property("audio-sink", audio);
        }

        let (inputs, worker_inputs) = mpsc::channel();
        let (events, receiver) = async_channel::unbounded();

        let generation = Arc::new(AtomicU64::new(0));
        if let Some(bus) = playbin.bus() {
            let bus_inputs = inputs.clone();
            let generation = generation.clone();
            bus.set_sync_handler(move |_, message| {
                if is_relevant(message) {
                    let posted_in = generation.load(Ordering::Acquire);
                    // A closed channel means the worker has stopped.
                    let _ = bus_inputs.send(WorkerInput::Bus(posted_in, message.clone()));
                }
                gst::BusSyncReply::Drop
            });
        }
        for signal in [
            "audio-changed",
            "text-changed",
            "audio-tags-changed",
            "text-tags-changed",
        ] {
            let inputs = inputs.clone();
            playbin.connect(signal, false, move |_| {
                // A closed channel means the worker has stopped.
                let _ = inputs.send(WorkerInput::TracksChanged);
                None
            });
        }

        let worker = Worker {
            playbin: playbin.clone(),
            generation,
            events,
            state: PlaybackState::Opening,
            intent: Intent::Play,
            buffering: false,
            queue_low: false,
            data_low: false,
            missing_plugins: Vec::new(),
            last_progress: None,
            last_position: None,
            start: None,
            prerolled: false,
            last_tracks: None,
        };
        let worker = std::thread::Builder::new()
            .name("player".into())
            .spawn(move || worker.run(worker_inputs))?;
        let player = Self {
            playbin,
            inputs,
            worker: Some(worker),
        };
        Ok((player, receiver))
    }

    /// Opens `uri` and starts playing it, replacing what was open.
    pub fn open(&self, uri: &str) {
        self.open_with_subtitles(uri, None);
    }

    /// Opens `uri` with the external subtitle file `subtitle_uri`.
    pub fn open_with_subtitles(&self, uri: &str, subtitle_uri: Option<&str>) {
        self.open_at(uri, subtitle_uri, None);
    }

    /// Opens `uri` (with `subtitle_uri`) to start at `start`: GStreamer
    /// seeks only once prerolled, so the first frame is decoded and the
    /// pipeline moved to `start` before playback begins
    /// ([`PlayerEvent::StartSeek`]).
    pub fn open_at(&self, uri: &str, subtitle_uri: Option<&str>, start: Option<gst::ClockTime>) {
        self.send(Command::Open {
            uri: uri.to_owned(),
            subtitle_uri: subtitle_uri.map(str::to_owned),
            start,
        });
    }

    /// Whether enough data is there to play, in the caller's judgement
    /// (the startup rule): until it says so again, playback holds in
    /// `Prebuffering` (before the first start) or `Stalled`, the pipeline
    /// paused. Reset to ready by `open`.
    pub fn set_data_ready(&self, ready: bool) {
        self.send(Command::DataReady(ready));
    }

    /// The open video's audio and subtitle tracks (property reads; never
    /// blocks). [`PlayerEvent::Tracks`] reports their changes.
    pub fn tracks(&self) -> Tracks {
        read_tracks(&self.playbin)
    }

    /// Plays audio track `index` of [`Tracks::audio`]; a
    /// [`PlayerEvent::Tracks`] follows with what playbin plays then.
    pub fn select_audio(&self, index: usize) {
        self.send(Command::SelectAudio(index));
    }

    /// Shows subtitle track `index` of [`Tracks::text`], or none; a
    /// [`PlayerEvent::Tracks`] follows.
    pub fn select_text(&self, index: Option<usize>) {
        self.send(Command::SelectText(index));
    }

    pub fn play(&self) {
        self.send(Command::Play);
    }

    pub fn pause(&self) {
        self.send(Command::Pause);
    }

    pub fn toggle_play(&self) {
        self.send(Command::TogglePlay);
    }

    /// Seeks to the key frame at or before `position`.
    pub fn seek(&self, position: gst::ClockTime) {
        self.send(Command::Seek(position));
    }

    /// Renders subtitle text into `sink` instead of overlaying it on the
    /// video (which needs `textoverlay`, package gstreamer1.0-x). Call
    /// before `open`.
    pub fn set_text_sink(&self, sink: &gst::Element) {
        self.playbin.set_property("text-sink", sink);
    }

    /// The playhead now (a query answered by the sinks; never blocks on
    /// data), for callers that sample faster than `Progress` arrives.
    pub fn position(&self) -> Option<gst::ClockTime> {
        self.playbin.query_position::<gst::ClockTime>()
    }

    /// Sets the linear volume, 0.0 to 1.0 (setting a property never blocks).
    pub fn set_volume(&self, volume: f64) {
        self.playbin.set_property("volume", volume.clamp(0.0, 1.0));
    }

    fn send(&self, command: Command) {
        // Only fails once the worker is gone, when nobody awaits events.
        let _ = self.inputs.send(WorkerInput::Command(command));
    }
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player")
            .field("playbin", &self.playbin.name())
            .finish_non_exhaustive()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.send(Command::Shutdown);
        if let Some(bus) = self.playbin.bus() {
            bus.unset_sync_handler();
        }
        if let Some(worker) = self.worker.take() {
            if worker.join().is_err() {
                tracing::error!("player thread panicked");
            }
        }
    }
}

/// playbin's flag for showing subtitles (`GstPlayFlags`).
const SUBTITLES_FLAG: &str = "text";

fn read_tracks(playbin: &gst::Element) -> Tracks {
    let tracks = |count: &str, tags_signal: &str| -> Vec<Track> {
        let count = playbin.property::<i32>(count).max(0);
        (0..count)
            .map(|index| {
                playbin
                    .emit_by_name::<Option<gst::TagList>>(tags_signal, &[&index])
                    .map(|tags| track_from_tags(&tags))
                    .unwrap_or_default()
            })
            .collect()
    };
    let current = |property: &str| usize::try_from(playbin.property::<i32>(property)).ok();
    let flags = playbin.property_value("flags");
    let subtitles_shown = gst::glib::FlagsClass::with_type(flags.type_())
        .is_some_and(|class| class.is_set_by_nick(&flags, SUBTITLES_FLAG));
    Tracks {
        audio: tracks("n-audio", "get-audio-tags"),
        text: tracks("n-text", "get-text-tags"),
        current_audio: current("current-audio"),
        current_text: current("current-text").filter(|_| subtitles_shown),
    }
}

/// Sets or clears one of playbin's `GstPlayFlags` by its nick.
fn set_play_flag(playbin: &gst::Element, nick: &str, on: bool) {
    let flags = playbin.property_value("flags");
    let Some(class) = gst::glib::FlagsClass::with_type(flags.type_()) else {
        return;
    };
    let changed = class.builder_with_value(flags).and_then(|builder| {
        if on {
            builder.set_by_nick(nick)
        } else {
            builder.unset_by_nick(nick)
        }
        .build()
    });
    match changed {
        Some(flags) => playbin.set_property_from_value("flags", &flags),
        None => tracing::warn!(nick, "playbin has no such flag"),
    }
}

fn track_from_tags(tags: &gst::TagList) -> Track {
    let text = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
    let language = tags
        .get::<gst::tags::LanguageName>()
        .and_then(|name| text(name.get()))
        .or_else(|| {
            tags.get::<gst::tags::LanguageCode>()
                .and_then(|code| language_name(code.get()))
        });
    Track {
        language,
        title: tags
            .get::<gst::tags::Title>()
            .and_then(|title| text(title.get())),
    }
}

/// The name of an ISO 639 language code in the user's language (iso-codes'
/// translations); `None` for "und" (undetermined) and unknown codes.
fn language_name(code: &str) -> Option<String> {
    let code = code.trim();
    if code.is_empty() || code.eq_ignore_ascii_case("und") {
        return None;
    }
    gst_tag::language_codes::language_name(code).map(|name| name.to_string())
}

/// The bus messages the worker acts on; the rest are dropped on the
/// streaming thread.
fn is_relevant(message: &gst::MessageRef) -> bool {
    use gst::MessageView as M;
    match message.view() {
        M::Eos(_) | M::Error(_) | M::Buffering(_) | M::AsyncDone(_) | M::DurationChanged(_) => true,
        M::StateChanged(_) => message.src().is_some_and(|src| src.parent().is_none()),
        M::Element(_) => {
            gst_pbutils::MissingPluginMessage::is(message)
                || ReadWait::from_message(message).is_some()
        }
        _ => false,
    }
}

struct Worker {
    playbin: gst::Element,
    /// Bumped on each open once the old stream is stopped: messages the old
    /// stream posted may still be queued behind the open, and must not be
    /// taken for the new stream's (an old EOS would end the new video).
    generation: Arc<AtomicU64>,
    events: async_channel::Sender<PlayerEvent>,
    state: PlaybackState,
    intent: Intent,
    /// The pipeline is held paused for data: `queue_low || data_low`.
    buffering: bool,
    /// A queue reported buffering below 100 %.
    queue_low: bool,
    /// The caller said the data is not enough yet (`set_data_ready`).
    data_low: bool,
    /// Descriptions of missing plugins reported since the last open.
    missing_plugins: Vec<String>,
    last_progress: Option<Instant>,
    last_position: Option<gst::ClockTime>,
    /// Where the open video should start, until its first preroll.
    start: Option<gst::ClockTime>,
    /// The open video prerolled once (an `ASYNC_DONE` since the open).
    prerolled: bool,
    /// The tracks as last reported.
    last_tracks: Option<Tracks>,
}

impl Worker {
    fn run(mut self, inputs: mpsc::Receiver<WorkerInput>) {
        loop {
            match inputs.recv_timeout(PROGRESS_INTERVAL) {
                Ok(WorkerInput::Command(Command::Shutdown))
                | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(WorkerInput::Command(command)) => self.command(command),
                Ok(WorkerInput::TracksChanged) => self.report_tracks(),
                Ok(WorkerInput::Bus(posted_in, message)) => {
                    if posted_in == self.generation.load(Ordering::Acquire) {
                        self.bus_message(&message);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            self.report_progress(false);
        }
        self.set_pipeline_state(gst::State::Null);
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Open {
                uri,
                subtitle_uri,
                start,
            } => {
                self.set_pipeline_state(gst::State::Null);
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.playbin.set_property("uri", &uri);
                self.playbin.set_property("suburi", subtitle_uri);
                self.missing_plugins.clear();
                self.buffering = false;
                self.queue_low = false;
                self.data_low = false;
                self.intent = Intent::Play;
                self.last_progress = None;
                self.last_position = None;
                self.start = start.filter(|start| !start.is_zero());
                self.prerolled = false;
                self.last_tracks = None;
                // Reported even when already `Opening`: a new source began.
                self.state = self.state.next(Input::Open, self.intent);
                self.emit(PlayerEvent::State(self.state));
                self.set_pipeline_state(gst::State::Playing);
            }
            Command::DataReady(ready) => {
                self.data_low = !ready;
                self.update_buffering();
            }
            Command::Play => self.play(),
            Command::Pause => self.pause(),
            Command::TogglePlay => match self.intent {
                Intent::Play if self.state != PlaybackState::Ended => self.pause(),
                _ => self.play(),
            },
            Command::Seek(position) => self.seek(position),
            Command::SelectAudio(index) => {
                if let Ok(index) = i32::try_from(index) {
                    self.playbin.set_property("current-audio", index);
                }
                self.report_tracks();
            }
            Command::SelectText(index) => {
                match index.map(i32::try_from) {
                    Some(Ok(index)) => {
                        self.playbin.set_property("current-text", index);
                        set_play_flag(&self.playbin, SUBTITLES_FLAG, true);
                    }
                    Some(Err(_)) => {}
                    None => set_play_flag(&self.playbin, SUBTITLES_FLAG, false),
                }
                self.report_tracks();
            }
            Command::Shutdown => {}
        }
    }

    fn play(&mut self) {
        if self.state == PlaybackState::Error {
            return;
        }
        self.intent = Intent::Play;
        if self.state == PlaybackState::Ended {
            // The pipeline still "plays" after EOS: start over from the top.
            self.seek(gst::ClockTime::ZERO);
        }
        self.apply(Input::UserPlay);
        if !self.buffering {
            self.set_pipeline_state(gst::State::Playing);
        }
    }

    fn pause(&mut self) {
        if self.state == PlaybackState::Error {
            return;
        }
        self.intent = Intent::Pause;
        self.apply(Input::UserPause);
        self.set_pipeline_state(gst::State::Paused);
    }

    fn seek(&mut self, position: gst::ClockTime) {
        if matches!(self.state, PlaybackState::Error | PlaybackState::Opening) {
            return;
        }
        if !self.prerolled {
            // GStreamer refuses seeks before the first preroll (the caller
            // may already have said the data is there): it becomes the
            // start position instead, and replaces any other.
            self.start = Some(position);
            return;
        }
        let flags = gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT;
        match self.playbin.seek_simple(flags, position) {
            Ok(()) => self.apply(Input::SeekStarted),
            Err(error) => tracing::warn!(%error, %position, "seek refused"),
        }
    }

    /// The first preroll is done: moves to the start position without
    /// leaving `Opening`/`Prebuffering`, since playback has not begun.
    fn seek_to_start(&mut self) {
        let Some(start) = self.start.take() else {
            return;
        };
        let flags = gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT;
        match self.playbin.seek_simple(flags, start) {
            Ok(()) => self.emit(PlayerEvent::StartSeek(start)),
            Err(error) => tracing::warn!(%error, %start, "start seek refused"),
        }
    }

    fn bus_message(&mut self, message: &gst::Message) {
        use gst::MessageView as M;
        match message.view() {
            M::StateChanged(change) => match change.current() {
                // Held for data, the pipeline was paused after this was
                // posted: it no longer plays.
                gst::State::Playing if self.buffering => {}
                gst::State::Playing => self.apply(Input::PipelinePlaying),
                gst::State::Paused => self.apply(Input::PipelinePaused),
                _ => {}
            },
            M::AsyncDone(_) if self.start.is_some() => {
                self.prerolled = true;
                self.seek_to_start();
            }
            M::AsyncDone(_) => {
                self.prerolled = true;
                self.apply(Input::SeekDone);
                // A seek that ends while held for data lands in a stall.
                if self.buffering {
                    self.apply(Input::BufferingLow);
                }
            }
            M::Buffering(buffering) => {
                self.queue_low = buffering.percent() < 100;
                self.update_buffering();
            }
            M::DurationChanged(_) => self.report_progress(true),
            M::Element(_) => {
                if let Ok(missing) = gst_pbutils::MissingPluginMessage::parse(message) {
                    self.missing_plugin(&missing);
                } else if let Some(wait) = ReadWait::from_message(message) {
                    self.emit(PlayerEvent::ReadWait(wait));
                }
            }
            M::Eos(_) => self.end_of_stream(),
            // Elements downstream of the first failure report their own,
            // vaguer errors ("internal data stream error"): keep the first.
            M::Error(_) if self.state == PlaybackState::Error => {}
            M::Error(error) => {
                let failure = PlaybackError::classify(&error.error(), &self.missing_plugins);
                tracing::warn!(
                    error = %error.error(),
                    debug = ?error.debug(),
                    "playback failed: {failure}"
                );
                self.fail(failure);
            }
            _ => {}
        }
    }

    /// Remembers a missing plugin for the error that usually follows. A
    /// missing video decoder raises no error (playbin plays the audio alone
    /// over a black picture), so for a video player it fails right here.
    fn missing_plugin(&mut self, missing: &gst_pbutils::MissingPluginMessage) {
        let description = missing.description().to_string();
        tracing::warn!(plugin = %description, "missing GStreamer plugin");
        self.missing_plugins.push(description);
        // The installer detail names the need, e.g. "decoder-video/x-h265, ...".
        if missing.installer_detail().contains("|decoder-video/") {
            self.fail(PlaybackError::MissingPlugin(
                self.missing_plugins.join(", "),
            ));
        }
    }

    fn fail(&mut self, failure: PlaybackError) {
        if self.state == PlaybackState::Error {
            return;
        }
        self.set_pipeline_state(gst::State::Null);
        self.apply(Input::Failed);
        self.emit(PlayerEvent::Failed(failure));
    }

    /// Pauses the pipeline while a network-like source refills its queue,
    /// as GStreamer's buffering protocol asks of applications, or while the
    /// caller's startup rule waits for data.
    fn update_buffering(&mut self) {
        let low = self.queue_low || self.data_low;
        if low == self.buffering {
            return;
        }
        self.buffering = low;
        if low {
            self.apply(Input::BufferingLow);
            if self.intent == Intent::Play {
                self.set_pipeline_state(gst::State::Paused);
            }
        } else {
            self.apply(Input::BufferingDone);
            if self.intent == Intent::Play {
                self.set_pipeline_state(gst::State::Playing);
                // A pipeline that never left PLAYING posts no state change.
                if self.playbin.state(gst::ClockTime::ZERO)
                    == (
                        Ok(gst::StateChangeSuccess::Success),
                        gst::State::Playing,
                        gst::State::VoidPending,
                    )
                {
                    self.apply(Input::PipelinePlaying);
                }
            }
        }
    }

    fn end_of_stream(&mut self) {
        // Demuxers may advance the segment to the duration on a truncated
        // file, so the reported position can claim the end was reached;
        // the last frame the video sink received cannot.
        let position = self
            .last_video_frame_end()
            .or_else(|| self.playbin.query_position::<gst::ClockTime>());
        let duration = self.playbin.query_duration::<gst::ClockTime>();
        let complete = match (position, duration) {
            (Some(position), Some(duration)) => position + EOS_COMPLETE_TOLERANCE >= duration,
            // Without a known duration there is nothing to compare with.
            (_, None) => true,
            (None, Some(_)) => false,
        };
        if !complete {
            tracing::warn!(?position, ?duration, "stream ended before its duration");
        }
        self.apply(Input::EndOfStream);
        self.emit(PlayerEvent::Ended {
            position,
            duration,
            complete,
        });
    }

    /// The stream time at which the last frame on the video sink ends.
    fn last_video_frame_end(&self) -> Option<gst::ClockTime> {
        let sink = self
            .playbin
            .property::<Option<gst::Element>>("video-sink")?;
        sink.find_property("last-sample")?;
        let sample = sink.property::<Option<gst::Sample>>("last-sample")?;
        let buffer = sample.buffer()?;
        let end = buffer.pts()? + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
        let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
        segment.to_stream_time(end)
    }

    fn report_progress(&mut self, force: bool) {
        let due = self
            .last_progress
            .is_none_or(|last| last.elapsed() >= PROGRESS_INTERVAL);
        // Before the start seek the playhead is at the top of the file,
        // where playback will not be.
        if !(force || due) || self.state == PlaybackState::Error || self.start.is_some() {
            return;
        }
        let Some(position) = self.playbin.query_position::<gst::ClockTime>() else {
            return;
        };
        if !force && self.last_position == Some(position) {
            return;
        }
        let duration = self.playbin.query_duration::<gst::ClockTime>();
        self.last_progress = Some(Instant::now());
        self.last_position = Some(position);
        self.emit(PlayerEvent::Progress { position, duration });
    }

    /// Reports the tracks when they differ from the last report.
    fn report_tracks(&mut self) {
        let tracks = read_tracks(&self.playbin);
        if self.last_tracks.as_ref() != Some(&tracks) {
            self.last_tracks = Some(tracks.clone());
            self.emit(PlayerEvent::Tracks(tracks));
        }
    }

    fn apply(&mut self, input: Input) {
        let next = self.state.next(input, self.intent);
        if next != self.state {
            tracing::debug!(from = ?self.state, to = ?next, ?input, "playback state");
            self.state = next;
            self.emit(PlayerEvent::State(next));
        }
    }

    fn set_pipeline_state(&self, state: gst::State) {
        if let Err(error) = self.playbin.set_state(state) {
            // The reason follows as an error message on the bus.
            tracing::debug!(%error, ?state, "state change failed");
        }
    }

    fn emit(&self, event: PlayerEvent) {
        // A closed channel means nobody listens any more; nothing to do.
        let _ = self.events.try_send(event);
    }
}
