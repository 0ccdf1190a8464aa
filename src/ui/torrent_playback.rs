//! A torrent playing in the window: the engine and the playback session
//! (`player::session`, the same one `piecewise play --headless` runs) on
//! their own thread and tokio runtime, driven by commands from the GTK main
//! loop and reporting back over a channel, so the main loop never blocks.

use crate::engine::events::TorrentEvent;
use crate::engine::handle::{
    DeadlineParams, Engine, EngineConfig, OriginUse, Policy, TorrentSource,
};
use crate::player::PlayerSinks;
use crate::player::session::{PreparedPlayback, Session, SessionEvent, SessionSinks, StartRule};
use crate::stats::export;
use crate::stats::recorder::{Recorder, process_start};
use crate::stats::schema::EventKind;
use crate::ui::open_request::Open;
use crate::ui::settings::Key;
use crate::ui::stats_panel::{PieceView, StatsSnapshot};
use gtk::gio;
use gtk::prelude::*;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the status line's peers and rates, and the stats panel,
/// refresh.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// What the window asks of the session.
#[derive(Clone, Debug)]
pub enum PlaybackCommand {
    TogglePlay,
    /// Media seconds.
    Seek(f64),
    SeekBy(f64),
    Volume(f64),
    /// Send a [`PlaybackUpdate::Stats`] each second (the panel is shown),
    /// or stop.
    WatchStats(bool),
    /// Write the run so far: CSV of the series when the name ends in
    /// `.csv`, the schema v1 JSON otherwise.
    ExportStats(PathBuf),
}

/// What the window learns.
#[derive(Clone, Debug)]
pub enum PlaybackUpdate {
    Session(SessionEvent),
    /// Media seconds.
    Progress {
        position: f64,
        duration: Option<f64>,
    },
    Swarm {
        peers: usize,
        download_rate: f64,
        upload_rate: f64,
    },
    /// The stats panel's once-a-second view.
    Stats(Box<StatsSnapshot>),
    /// Where the statistics were written, or why not.
    Exported(Result<PathBuf, String>),
    /// The torrent could not be opened, in a sentence.
    Failed(String),
}

/// The engine settings the preferences hold; defaults without a schema.
pub fn engine_config(settings: Option<&gio::Settings>) -> EngineConfig {
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
    /// Starts the engine with `config`, opens the torrent's largest video
    /// and plays it into `video_sink`.
    pub fn start(
        open: &Open,
        config: EngineConfig,
        video_sink: gst::Element,
    ) -> std::io::Result<(Self, async_channel::Receiver<PlaybackUpdate>)> {
        let (commands, command_rx) = async_channel::unbounded();
        let (updates, update_rx) = async_channel::unbounded();
        let open = open.clone();
        let thread = std::thread::Builder::new()
            .name("torrent-playback".into())
            .spawn(move || {
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
                runtime.block_on(run(open, config, video_sink, command_rx, updates));
            })?;
        Ok((
            Self {
                commands,
                thread: Some(thread),
            },
            update_rx,
        ))
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
    video_sink: gst::Element,
    commands: async_channel::Receiver<PlaybackCommand>,
    updates: async_channel::Sender<PlaybackUpdate>,
) {
    let (engine, mut session) = match start_session(&open, config, video_sink).await {
        Ok(started) => started,
        Err(sentence) => {
            tracing::warn!("cannot open the torrent: {sentence}");
            let _ = updates.send(PlaybackUpdate::Failed(sentence)).await;
            return;
        }
    };
    let engine_events = engine.events();
    let mut stats_ticker = tokio::time::interval(STATS_INTERVAL);
    let mut watching_stats = false;
    loop {
        tokio::select! {
            Ok(event) = engine_events.recv() => {
                if matches!(event.kind, TorrentEvent::PeerConnected(_)) {
                    session.recorder_mut().peer_connected(Instant::now());
                }
            }
            event = session.step() => {
                let Some(event) = event else { continue };
                if let SessionEvent::Position(position) = event {
                    let duration = session.duration_s();
                    if updates.send(PlaybackUpdate::Progress { position, duration }).await.is_err() {
                        return;
                    }
                } else if updates.send(PlaybackUpdate::Session(event)).await.is_err() {
                    return;
                }
            }
            command = commands.recv() => match command {
                Ok(PlaybackCommand::TogglePlay) => session.player().toggle_play(),
                Ok(PlaybackCommand::Seek(target)) => session.seek(target),
                Ok(PlaybackCommand::SeekBy(delta)) => {
                    let target = session.position_s() + delta;
                    session.seek(session.duration_s().map_or(target, |d| target.min(d)));
                }
                Ok(PlaybackCommand::Volume(volume)) => session.player().set_volume(volume),
                Ok(PlaybackCommand::WatchStats(watch)) => watching_stats = watch,
                Ok(PlaybackCommand::ExportStats(path)) => {
                    let run = session.recorder().run();
                    let written = tokio::task::spawn_blocking(move || {
                        export::write_by_extension(&run, &path).map(|()| path)
                    })
                    .await;
                    let result = match written {
                        Ok(result) => result.map_err(|error| error.to_string()),
                        Err(error) => Err(error.to_string()),
                    };
                    if updates.send(PlaybackUpdate::Exported(result)).await.is_err() {
                        return;
                    }
                }
                // The window dropped its handle: stop.
                Err(_) => return,
            },
            _ = stats_ticker.tick() => {
                let stats = session.prepared().torrent.stats();
                let swarm = PlaybackUpdate::Swarm {
                    peers: stats.peers,
                    download_rate: stats.download_rate,
                    upload_rate: stats.upload_rate,
                };
                if updates.send(swarm).await.is_err() {
                    return;
                }
                if watching_stats {
                    let snapshot = stats_snapshot(&session).await;
                    if updates.send(PlaybackUpdate::Stats(Box::new(snapshot))).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
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

async fn start_session(
    open: &Open,
    config: EngineConfig,
    video_sink: gst::Element,
) -> Result<(Engine, Session), String> {
    let source = match open {
        Open::Torrent(path) => TorrentSource::File(path.clone()),
        Open::Magnet(link) => {
            TorrentSource::from_argument(link).map_err(|error| error.to_string())?
        }
    };
    // The startup phases of the stats panel count from here, as those of
    // `piecewise play --headless` do.
    let mut recorder = Recorder::new(process_start(), Instant::now(), Vec::new());
    let engine = Engine::start(config)
        .await
        .map_err(|error| error.to_string())?;
    recorder.event(Instant::now(), EventKind::TorrentAdded);
    // A magnet's metadata arrives before this returns.
    let torrent = engine
        .add_torrent(source)
        .await
        .map_err(|error| error.to_string())?;
    recorder.event(Instant::now(), EventKind::MetadataReceived);
    let prepared = PreparedPlayback::new(torrent, None, tokio::runtime::Handle::current())
        .map_err(|error| error.to_string())?;
    let sinks = SessionSinks {
        player: PlayerSinks {
            video: video_sink,
            audio: None,
        },
        text: None,
    };
    let session = Session::start(prepared, sinks, None, recorder, StartRule::Estimate)
        .map_err(|error| error.to_string())?;
    Ok((engine, session))
}
