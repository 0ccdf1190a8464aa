//! A torrent playing in the window: the engine and the playback session
//! (`player::session`, the same one `piecewise play --headless` runs) on
//! their own thread and tokio runtime, driven by commands from the GTK main
//! loop and reporting back over a channel, so the main loop never blocks.

use crate::engine::handle::{
    DeadlineParams, Engine, EngineConfig, OriginUse, Policy, TorrentSource,
};
use crate::player::PlayerSinks;
use crate::player::session::{PreparedPlayback, Session, SessionEvent, SessionSinks, StartRule};
use crate::stats::recorder::{Recorder, process_start};
use crate::ui::open_request::Open;
use crate::ui::settings::Key;
use gtk::gio;
use gtk::prelude::*;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the status line's peers and rates refresh.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// What the window asks of the session.
#[derive(Clone, Copy, Debug)]
pub enum PlaybackCommand {
    TogglePlay,
    /// Media seconds.
    Seek(f64),
    SeekBy(f64),
    Volume(f64),
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
    let (_engine, mut session) = match start_session(&open, config, video_sink).await {
        Ok(started) => started,
        Err(sentence) => {
            tracing::warn!("cannot open the torrent: {sentence}");
            let _ = updates.send(PlaybackUpdate::Failed(sentence)).await;
            return;
        }
    };
    let mut stats_ticker = tokio::time::interval(STATS_INTERVAL);
    loop {
        tokio::select! {
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
            }
        }
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
    let engine = Engine::start(config)
        .await
        .map_err(|error| error.to_string())?;
    let torrent = engine
        .add_torrent(source)
        .await
        .map_err(|error| error.to_string())?;
    let prepared = PreparedPlayback::new(torrent, None, tokio::runtime::Handle::current())
        .map_err(|error| error.to_string())?;
    let recorder = Recorder::new(process_start(), Instant::now(), Vec::new());
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
