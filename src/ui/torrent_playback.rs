//! A torrent playing in the window: the engine and the playback session
//! (`player::session`, the same one `piecewise play --headless` runs) on
//! their own thread and tokio runtime, driven by commands from the GTK main
//! loop and reporting back over a channel, so the main loop never blocks.

use crate::engine::events::{EngineEvent, TorrentEvent};
use crate::engine::handle::TorrentHandle;
use crate::engine::handle::{
    DeadlineParams, DhtConfig, Engine, EngineConfig, EngineError, OriginUse, Policy, TorrentSource,
};
use crate::i18n::{gettext, gettext_f};
use crate::player::PlayerSinks;
use crate::player::file_choice::{self, PlayableFile};
use crate::player::session::{
    BufferStatus, PreparedPlayback, Session, SessionError, SessionEvent, SessionSinks, StartRule,
};
use crate::stats::export;
use crate::stats::recorder::{Recorder, process_start};
use crate::stats::schema::EventKind;
use crate::ui::open_request::Open;
use crate::ui::seek_bar::{SeekRanges, critical_fractions, piece_fractions};
use crate::ui::settings::Key;
use crate::ui::stats_panel::{PieceView, StatsSnapshot};
use crate::ui::status_line::{Finding, NO_PEERS_YET_AFTER};
use gtk::gio;
use gtk::prelude::*;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the status line's peers and rates, and the stats panel,
/// refresh.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// How often the seek bar's ranges refresh: a few times a second follows
/// the playhead smoothly, and each refresh is a few rectangles.
const RANGES_INTERVAL: Duration = Duration::from_millis(500);

/// What the window asks of the session.
#[derive(Clone, Debug)]
pub enum PlaybackCommand {
    /// Play file `file` of the torrent (one of [`TorrentFiles::playable`])
    /// into `video_sink`, from `start_s` media seconds (resuming), in
    /// place of the file playing now.
    PlayFile {
        file: usize,
        video_sink: gst::Element,
        start_s: Option<f64>,
    },
    TogglePlay,
    /// Media seconds.
    Seek(f64),
    SeekBy(f64),
    Volume(f64),
    /// Play this audio track of `Tracks::audio`.
    SelectAudio(usize),
    /// Show this subtitle track of `Tracks::text`, or none.
    SelectText(Option<usize>),
    /// Send a [`PlaybackUpdate::Stats`] each second (the panel is shown),
    /// or stop.
    WatchStats(bool),
    /// Write the run so far: CSV of the series when the name ends in
    /// `.csv`, the schema v1 JSON otherwise.
    ExportStats(PathBuf),
}

/// A torrent's playable files, once its metadata is there.
#[derive(Clone, Debug, PartialEq)]
pub struct TorrentFiles {
    pub name: String,
    /// Hexadecimal, for the positions' keys.
    pub info_hash: String,
    /// Largest first; never empty.
    pub playable: Vec<PlayableFile>,
}

impl TorrentFiles {
    /// The playable file after `file` in natural name order.
    pub fn next_after(&self, file: usize) -> Option<PlayableFile> {
        file_choice::next_file(&self.playable, file)
    }
}

/// What the window learns.
#[derive(Clone, Debug)]
pub enum PlaybackUpdate {
    /// The torrent is there: the window answers with
    /// [`PlaybackCommand::PlayFile`].
    Files(TorrentFiles),
    /// The file asked for plays: the updates that follow are its own, not
    /// the previous file's.
    FileStarted(usize),
    Session(SessionEvent),
    /// Media seconds.
    Progress {
        position: f64,
        duration: Option<f64>,
    },
    /// How finding a magnet link's torrent goes.
    Finding(Finding),
    Swarm {
        peers: usize,
        download_rate: f64,
        upload_rate: f64,
        buffer: Option<BufferStatus>,
        /// Every piece of the playing file is verified.
        complete: bool,
    },
    /// The stats panel's once-a-second view.
    Stats(Box<StatsSnapshot>),
    /// Where the statistics were written, or why not.
    Exported(Result<PathBuf, String>),
    /// What the seek bar shows besides the playhead.
    Ranges(SeekRanges),
    /// The torrent could not be opened, in a sentence.
    Failed(String),
}

/// The engine settings the preferences hold; defaults without a schema.
pub fn engine_config(settings: Option<&gio::Settings>) -> EngineConfig {
    let mut config = settings_config(settings);
    config.dht = window_dht(std::env::var(DHT_BOOTSTRAP_ENV).ok().as_deref());
    config
}

/// Environment variable for the window's DHT: `off` keeps it off (the
/// tests set it, so they never reach the public routers), comma-separated
/// `HOST:PORT` nodes join a private DHT, unset joins the public one.
pub const DHT_BOOTSTRAP_ENV: &str = "PIECEWISE_DHT_BOOTSTRAP";

fn window_dht(value: Option<&str>) -> Option<DhtConfig> {
    match value.map(str::trim) {
        None | Some("") => Some(DhtConfig::default()),
        Some("off") => None,
        Some(nodes) => Some(DhtConfig::private(
            nodes
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
    }
}

fn settings_config(settings: Option<&gio::Settings>) -> EngineConfig {
    let downloads = gtk::glib::user_special_dir(gtk::glib::UserDirectory::Downloads)
        .unwrap_or_else(|| gtk::glib::home_dir().join("Downloads"));
    let Some(settings) = settings else {
        return EngineConfig::new(downloads);
    };
    let folder = settings.string(Key::DownloadFolder.name());
    let mut config = EngineConfig::new(if folder.is_empty() {
        downloads
    } else {
        PathBuf::from(folder.as_str())
    });
    let kib = |key: Key| u64::from(settings.uint(key.name())) * 1024;
    config.upload_rate_limit = kib(Key::UploadRateLimitKib);
    config.download_rate_limit = kib(Key::DownloadRateLimitKib);
    config.listen_port = settings.get::<u16>(Key::ListenPort.name());
    config.policy = match settings.string(Key::PiecePolicy.name()).as_str() {
        "sequential" => Policy::Sequential,
        "rarest-first" => Policy::RarestFirst,
        _ => Policy::Deadline(DeadlineParams::default()),
    };
    config.origin =
        OriginUse::from_name(settings.string(Key::OriginUse.name()).as_str()).unwrap_or_default();
    config
}

/// The session's thread; dropping this stops playback and the engine.
#[derive(Debug)]
pub struct TorrentPlayback {
    commands: async_channel::Sender<PlaybackCommand>,
    thread: Option<JoinHandle<()>>,
}

impl TorrentPlayback {
    /// Starts the engine with `config` and adds the torrent; its playable
    /// files come as [`PlaybackUpdate::Files`], and each
    /// [`PlaybackCommand::PlayFile`] plays one. `previous` is stopped
    /// first, on the new thread: stopping an engine can take a moment, and
    /// the GTK thread must not wait for it.
    pub fn start(
        open: &Open,
        config: EngineConfig,
        previous: Option<TorrentPlayback>,
    ) -> std::io::Result<(Self, async_channel::Receiver<PlaybackUpdate>)> {
        let (commands, command_rx) = async_channel::unbounded();
        let (updates, update_rx) = async_channel::unbounded();
        let open = open.clone();
        let thread = std::thread::Builder::new()
            .name("torrent-playback".into())
            .spawn(move || {
                drop(previous);
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = updates.send_blocking(PlaybackUpdate::Failed(error.to_string()));
                        return;
                    }
                };
                runtime.block_on(run(open, config, command_rx, updates));
            })?;
        Ok((
            Self {
                commands,
                thread: Some(thread),
            },
            update_rx,
        ))
    }

    /// Stops the session on a thread of its own: stopping an engine can
    /// take a moment, and the GTK thread must not wait for it.
    pub fn stop_in_background(self) {
        // Should the thread not start, the session stops here instead.
        let _ = std::thread::Builder::new()
            .name("torrent-stop".into())
            .spawn(move || drop(self));
    }

    pub fn send(&self, command: PlaybackCommand) {
        // A closed channel means the session already ended; nothing to do.
        let _ = self.commands.try_send(command);
    }
}

impl Drop for TorrentPlayback {
    fn drop(&mut self) {
        self.commands.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn run(
    open: Open,
    config: EngineConfig,
    commands: async_channel::Receiver<PlaybackCommand>,
    updates: async_channel::Sender<PlaybackUpdate>,
) {
    let (engine, mut added) = match add_torrent(&open, config, &updates).await {
        Ok(added) => added,
        Err(sentence) => {
            tracing::warn!("cannot open the torrent: {sentence}");
            let _ = updates.send(PlaybackUpdate::Failed(sentence)).await;
            return;
        }
    };
    if !offer_files(&added.torrent, &updates).await {
        return;
    }
    // No session until the window says which file to play.
    let mut session: Option<Session> = None;
    let engine_events = engine.events();
    let mut stats_ticker = tokio::time::interval(STATS_INTERVAL);
    let mut watching_stats = false;
    let mut ranges_ticker = tokio::time::interval(RANGES_INTERVAL);
    loop {
        tokio::select! {
            Ok(event) = engine_events.recv() => {
                if matches!(event.kind, TorrentEvent::PeerConnected(_)) {
                    added.first_peer.get_or_insert_with(Instant::now);
                    if let Some(session) = session.as_mut() {
                        session.recorder_mut().peer_connected(Instant::now());
                    }
                }
            }
            event = next_step(&mut session) => {
                let Some(event) = event else { continue };
                let event = if let SessionEvent::Position(position) = event {
                    let duration = session.as_ref().and_then(Session::duration_s);
                    PlaybackUpdate::Progress { position, duration }
                } else {
                    PlaybackUpdate::Session(event)
                };
                if updates.send(event).await.is_err() {
                    return;
                }
            }
            command = commands.recv() => match command {
                Ok(PlaybackCommand::PlayFile { file, video_sink, start_s }) => {
                    // The old player lets go of its stream first, so the
                    // engine stops fetching the old file.
                    session = None;
                    let update = match start_file(&mut added, file, video_sink, start_s).await {
                        Ok(started) => {
                            session = Some(started);
                            PlaybackUpdate::FileStarted(file)
                        }
                        Err(sentence) => {
                            tracing::warn!("cannot play the file: {sentence}");
                            PlaybackUpdate::Failed(sentence)
                        }
                    };
                    if updates.send(update).await.is_err() {
                        return;
                    }
                }
                Ok(PlaybackCommand::WatchStats(watch)) => watching_stats = watch,
                Ok(command) => {
                    let Some(session) = session.as_mut() else { continue };
                    if let Some(update) = session_command(session, command).await
                        && updates.send(update).await.is_err()
                    {
                        return;
                    }
                }
                // The window dropped its handle: stop.
                Err(_) => return,
            },
            _ = stats_ticker.tick() => {
                let swarm = swarm_update(&added.torrent, session.as_ref());
                if updates.send(swarm).await.is_err() {
                    return;
                }
                let Some(session) = session.as_ref().filter(|_| watching_stats) else {
                    continue;
                };
                let snapshot = stats_snapshot(session).await;
                if updates.send(PlaybackUpdate::Stats(Box::new(snapshot))).await.is_err() {
                    return;
                }
            }
            _ = ranges_ticker.tick() => {
                let Some(session) = session.as_ref() else { continue };
                let Some(ranges) = seek_ranges(session).await else { continue };
                if updates.send(PlaybackUpdate::Ranges(ranges)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Tells the window the torrent's playable files, or that it has none;
/// false when there is nothing more to do.
async fn offer_files(
    torrent: &TorrentHandle,
    updates: &async_channel::Sender<PlaybackUpdate>,
) -> bool {
    let info = &torrent.metainfo().info;
    let files = TorrentFiles {
        name: info.name.clone(),
        info_hash: torrent.info_hash().to_hex(),
        playable: file_choice::playable_files(info),
    };
    if files.playable.is_empty() {
        let sentence = session_error_sentence(&SessionError::NoPlayableFile(files.name));
        tracing::warn!("cannot open the torrent: {sentence}");
        let _ = updates.send(PlaybackUpdate::Failed(sentence)).await;
        return false;
    }
    updates.send(PlaybackUpdate::Files(files)).await.is_ok()
}

/// The swarm's figures for the status line, with the playing file's buffer.
fn swarm_update(torrent: &TorrentHandle, session: Option<&Session>) -> PlaybackUpdate {
    let stats = torrent.stats();
    PlaybackUpdate::Swarm {
        peers: stats.peers,
        download_rate: stats.download_rate,
        upload_rate: stats.upload_rate,
        buffer: session.and_then(Session::buffer_status),
        complete: session
            .and_then(downloaded_fractions)
            .is_some_and(|downloaded| downloaded == [(0.0, 1.0)]),
    }
}

/// The playing file's next event; nothing happens without one.
async fn next_step(session: &mut Option<Session>) -> Option<SessionEvent> {
    match session {
        Some(session) => session.step().await,
        None => std::future::pending().await,
    }
}

/// Applies a playback command to the playing file; returns what the window
/// should learn from it.
async fn session_command(
    session: &mut Session,
    command: PlaybackCommand,
) -> Option<PlaybackUpdate> {
    match command {
        PlaybackCommand::TogglePlay => session.player().toggle_play(),
        PlaybackCommand::Seek(target) => session.seek(target),
        PlaybackCommand::SeekBy(delta) => {
            let target = session.position_s() + delta;
            session.seek(session.duration_s().map_or(target, |d| target.min(d)));
        }
        PlaybackCommand::Volume(volume) => session.player().set_volume(volume),
        PlaybackCommand::SelectAudio(index) => session.player().select_audio(index),
        PlaybackCommand::SelectText(index) => session.player().select_text(index),
        PlaybackCommand::ExportStats(path) => {
            let run = session.recorder().run();
            let written = tokio::task::spawn_blocking(move || {
                export::write_by_extension(&run, &path).map(|()| path)
            })
            .await;
            let result = match written {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            };
            return Some(PlaybackUpdate::Exported(result));
        }
        // Handled by the session thread's loop.
        PlaybackCommand::PlayFile { .. } | PlaybackCommand::WatchStats(_) => {}
    }
    None
}

/// The run so far, the playing file's pieces and the peers.
async fn stats_snapshot(session: &Session) -> StatsSnapshot {
    let prepared = session.prepared();
    let torrent = &prepared.torrent;
    let run = session.recorder().run();
    // A torrent task that is gone shows as no pieces and no peers.
    let states = torrent.piece_states().await.unwrap_or_default();
    let peers = torrent.peers().await.unwrap_or_default();
    let playhead_byte = run
        .torrent
        .as_ref()
        .and_then(|info| info.bitrate_bytes_per_s)
        .map(|bitrate| (session.position_s().max(0.0) * bitrate) as u64);
    let info = &torrent.metainfo().info;
    StatsSnapshot {
        pieces: PieceView::of_file(info, prepared.video.index, &states, playhead_byte),
        peers,
        piece_count: info.piece_count(),
        run,
    }
}

/// A torrent added to a running engine, with the startup milestones the
/// first file's recorder gets.
struct AddedTorrent {
    torrent: TorrentHandle,
    /// When opening began, when the engine ran and when the metadata was
    /// there.
    opened_at: Instant,
    added_at: Instant,
    metadata_at: Instant,
    first_peer: Option<Instant>,
    /// Whether a file played already: later files' startup counts from
    /// their own start, not the torrent's.
    played: bool,
}

async fn add_torrent(
    open: &Open,
    config: EngineConfig,
    updates: &async_channel::Sender<PlaybackUpdate>,
) -> Result<(Engine, AddedTorrent), String> {
    let source = match open {
        Open::Torrent(path) => TorrentSource::File(path.clone()),
        Open::Magnet(link) => TorrentSource::from_argument(link)
            .map_err(|error| open_error_sentence(&EngineError::Magnet(error)))?,
    };
    let opened_at = Instant::now();
    let engine = Engine::start(config)
        .await
        .map_err(|error| open_error_sentence(&error))?;
    let added_at = Instant::now();
    // A magnet's metadata arrives before this returns.
    let finding = tokio::spawn(report_finding(engine.events(), updates.clone()));
    // Until the window chooses, only the largest video (its likely choice)
    // and its subtitles are fetched, not the whole torrent; nothing at all
    // would make the torrent count as finished and drop its seeders.
    let added = engine
        .add_torrent_selecting(source, |info| file_choice::files_to_play(info, None))
        .await;
    finding.abort();
    let torrent = added.map_err(|error| open_error_sentence(&error))?;
    Ok((
        engine,
        AddedTorrent {
            torrent,
            opened_at,
            added_at,
            metadata_at: Instant::now(),
            first_peer: None,
            played: false,
        },
    ))
}

/// Opens file `file` of the torrent (only it and its subtitles wanted)
/// and starts playing it at `start_s`.
async fn start_file(
    added: &mut AddedTorrent,
    file: usize,
    video_sink: gst::Element,
    start_s: Option<f64>,
) -> Result<Session, String> {
    let now = Instant::now();
    // The first file's startup phases count from the engine's start, as
    // those of `piecewise play --headless` do.
    let mut recorder = Recorder::new(
        process_start(),
        if added.played { now } else { added.opened_at },
        Vec::new(),
    );
    let milestone = |at: Instant| if added.played { now } else { at };
    recorder.event(milestone(added.added_at), EventKind::TorrentAdded);
    recorder.event(milestone(added.metadata_at), EventKind::MetadataReceived);
    if let Some(first_peer) = added.first_peer {
        recorder.peer_connected(milestone(first_peer));
    }
    added.played = true;
    let prepared = PreparedPlayback::new(
        added.torrent.clone(),
        Some(file),
        tokio::runtime::Handle::current(),
    )
    .map_err(|error| session_error_sentence(&error))?;
    let sinks = SessionSinks {
        player: PlayerSinks {
            video: video_sink,
            audio: None,
        },
        text: None,
    };
    let subtitle_uri = prepared.subtitle_uri().await;
    Session::start_at(
        prepared,
        sinks,
        subtitle_uri.as_deref(),
        recorder,
        StartRule::Estimate,
        start_s,
    )
    .map_err(|error| session_error_sentence(&error))
}

/// The seek bar's ranges, once the duration is known. The critical pieces
/// are the engine's own (`PieceState::TimeCritical`, as in the stats
/// panel's piece map), wherever its read heads and deadlines put them.
async fn seek_ranges(session: &Session) -> Option<SeekRanges> {
    let duration = session.duration_s().filter(|d| *d > 0.0)?;
    let prepared = session.prepared();
    let info = &prepared.torrent.metainfo().info;
    let file = info.files.get(prepared.video.index)?;
    let piece_length = u64::from(info.piece_length);
    let downloaded = downloaded_fractions(session)?;
    // A torrent task that is gone has no critical pieces.
    let states = prepared.torrent.piece_states().await.unwrap_or_default();
    let critical = critical_fractions(&states, piece_length, file.offset, file.length);
    let at = session.position_s() / duration;
    Some(SeekRanges {
        downloaded,
        buffered: session
            .buffer_status()
            .map(|buffer| (at, at + buffer.ahead_s / duration)),
        critical,
    })
}

/// The verified parts of the playing file, as fractions of its length
/// (`[(0.0, 1.0)]` once all of it is there).
fn downloaded_fractions(session: &Session) -> Option<Vec<(f64, f64)>> {
    let prepared = session.prepared();
    let info = &prepared.torrent.metainfo().info;
    let file = info.files.get(prepared.video.index)?;
    let verified = prepared.torrent.verified_pieces();
    let verified = verified.borrow();
    Some(piece_fractions(
        |piece| piece < verified.len() && verified.get(piece),
        u64::from(info.piece_length),
        file.offset,
        file.length,
    ))
}

/// Forwards how resolving a magnet link goes, and says so when no peer has
/// turned up after a while.
async fn report_finding(
    events: async_channel::Receiver<EngineEvent>,
    updates: async_channel::Sender<PlaybackUpdate>,
) {
    let no_peers_yet = tokio::time::sleep(NO_PEERS_YET_AFTER);
    tokio::pin!(no_peers_yet);
    let mut found_peers = false;
    loop {
        let finding = tokio::select! {
            event = events.recv() => match event.map(|event| event.kind) {
                Ok(TorrentEvent::LookingForPeers) => Finding::LookingForPeers,
                Ok(TorrentEvent::FetchingMetadata { peers }) => {
                    found_peers |= peers > 0;
                    Finding::FetchingMetadata { peers }
                }
                Ok(TorrentEvent::MetadataReceived) | Err(_) => return,
                Ok(_) => continue,
            },
            () = &mut no_peers_yet, if !found_peers => {
                found_peers = true;
                Finding::NoPeersYet
            }
        };
        if updates
            .send(PlaybackUpdate::Finding(finding))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Why a torrent or magnet link cannot be opened, for people.
fn open_error_sentence(error: &EngineError) -> String {
    match error {
        EngineError::ReadTorrent { path, source } => gettext_f(
            "Cannot read the torrent file {}: {}.",
            &[&path.display().to_string(), &source.to_string()],
        ),
        EngineError::TorrentFileTooLarge { .. } => {
            gettext("That file is too large to be a torrent file.")
        }
        EngineError::Metainfo(problem) => gettext_f(
            "That file is not a valid torrent ({}).",
            &[&problem.to_string()],
        ),
        EngineError::Magnet(problem) => gettext_f(
            "That magnet link cannot be used ({}).",
            &[&problem.to_string()],
        ),
        EngineError::MagnetWithoutSources => gettext(
            "The magnet link names no trackers and no peers, so there is nobody to ask for the video.",
        ),
        other => gettext_f("The torrent cannot be opened: {}.", &[&other.to_string()]),
    }
}

fn session_error_sentence(error: &SessionError) -> String {
    match error {
        SessionError::NoPlayableFile(name) => gettext_f(
            "The torrent “{}” contains no video file that can be played.",
            &[name],
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_joins_the_public_dht_unless_told_off_or_given_private_nodes() {
        assert_eq!(window_dht(None), Some(DhtConfig::default()));
        assert_eq!(window_dht(Some("")), Some(DhtConfig::default()));
        assert_eq!(window_dht(Some("off")), None);
        assert_eq!(
            window_dht(Some("127.0.0.1:6881, 127.0.0.1:6882,")),
            Some(DhtConfig::private(vec![
                "127.0.0.1:6881".to_owned(),
                "127.0.0.1:6882".to_owned()
            ]))
        );
    }
}
