//! `piecewise play`: play a torrent's video. With `--headless`, in real time
//! into `fakesink` without a window, for tests and benchmarks: stops after
//! `--play-seconds` of playback or at the end, and writes the session's
//! stats (`stats::schema::Run`) as JSON.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::cli::progress::{self, DhtOptions};
use crate::engine::events::TorrentEvent;
use crate::engine::handle::{Engine, EngineConfig, OriginUse};
use crate::engine::picker::{DeadlineParams, Policy};
use crate::player::file_choice;
use crate::player::session::{PreparedPlayback, Session, SessionEvent, SessionSinks, StartRule};
use crate::player::{PlaybackError, PlayerSinks};
use crate::stats::recorder::{Recorder, process_start};
use crate::stats::schema::{EventKind, PolicyInfo};

#[derive(Args, Debug)]
pub struct PlayArgs {
    /// Play without a window, in real time, with no picture or sound.
    #[arg(long)]
    pub headless: bool,
    /// How pieces are picked.
    #[arg(long, value_enum, default_value_t = PolicyName::Deadline)]
    pub policy: PolicyName,
    /// When playback starts: once the startup estimate says the buffer
    /// lasts, or with the first frame.
    #[arg(long, value_enum, default_value_t = StartName::Estimate)]
    pub start: StartName,
    /// A peer to connect to, besides those the trackers name (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Write the session's stats here as JSON.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// Stop after this many seconds of playback.
    #[arg(long, value_name = "SECONDS")]
    pub play_seconds: Option<f64>,
    /// Seek once the playhead reaches this media time...
    #[arg(long, value_name = "SECONDS", requires = "seek_to")]
    pub seek_at: Option<f64>,
    /// ...to this fraction of the duration (0 to 1).
    #[arg(long, value_name = "FRACTION", requires = "seek_at")]
    pub seek_to: Option<f64>,
    /// Folder the torrent's files are written into.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub download_dir: PathBuf,
    /// Address to accept peers on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub listen_ip: IpAddr,
    /// Use of the torrent's web seeds (HTTP origins): never, avoid-stall
    /// (only for blocks peers would deliver late) or always.
    #[arg(long, value_name = "USE", default_value = "avoid-stall", value_parser = crate::cli::parse_origin)]
    pub origin: OriginUse,
    #[command(flatten)]
    pub dht: DhtOptions,
    /// Give up when nothing arrives and nothing plays for this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// The `.torrent` file or a `magnet:` link.
    pub torrent: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyName {
    Sequential,
    RarestFirst,
    Deadline,
}

impl PolicyName {
    pub(crate) fn policy(self) -> Policy {
        match self {
            Self::Sequential => Policy::Sequential,
            Self::RarestFirst => Policy::RarestFirst,
            Self::Deadline => Policy::Deadline(DeadlineParams::default()),
        }
    }

    pub(crate) fn info(self) -> PolicyInfo {
        let name = self
            .to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default();
        let mut parameters = std::collections::BTreeMap::new();
        if let Policy::Deadline(params) = self.policy() {
            parameters.insert("window_secs".to_owned(), params.window_secs.into());
            parameters.insert(
                "min_window_pieces".to_owned(),
                params.min_window_pieces.into(),
            );
            parameters.insert("max_duplicates".to_owned(), params.max_duplicates.into());
        }
        PolicyInfo { name, parameters }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StartName {
    Estimate,
    Immediate,
}

pub fn run(args: PlayArgs) -> anyhow::Result<ExitCode> {
    if !args.headless {
        return Ok(crate::application::run(Some(args.torrent), None).into());
    }
    let session_start = Instant::now();
    let recorder = Recorder::new(process_start(), session_start, std::env::args().collect());
    crate::player::init().context("cannot initialise GStreamer")?;
    let runtime = crate::cli::progress::runtime()?;
    let stats_json = args.stats_json.clone();
    let (result, recorder) = runtime.block_on(play_headless(args, recorder));
    if let Some(path) = stats_json {
        crate::stats::export::write_json(&recorder.run(), &path)?;
    }
    let summary = recorder.run().summary;
    result?;
    println!(
        "first frame {:.2} s, played {:.1} s, {} stalls ({:.2} s)",
        summary.first_frame_s.unwrap_or(f64::NAN),
        summary.played_s,
        summary.stall_count,
        summary.stall_seconds
    );
    Ok(ExitCode::SUCCESS)
}

/// Plays until the end, `--play-seconds`, or an error; the recorder comes
/// back either way so the stats are written.
async fn play_headless(args: PlayArgs, mut recorder: Recorder) -> (anyhow::Result<()>, Recorder) {
    recorder.set_policy(args.policy.info());
    let (engine, prepared) = match open(&args, &mut recorder).await {
        Ok(opened) => opened,
        Err(error) => {
            recorder.event(
                Instant::now(),
                EventKind::Error {
                    message: format!("{error:#}"),
                },
            );
            return (Err(error), recorder);
        }
    };
    let subtitle_uri = prepared.subtitle_uri().await;
    let sinks = match headless_sinks() {
        Ok(sinks) => sinks,
        Err(error) => return (Err(error), recorder),
    };
    let start_rule = match args.start {
        StartName::Estimate => StartRule::Estimate,
        StartName::Immediate => StartRule::Immediate,
    };
    let mut session = match Session::start(
        prepared,
        sinks,
        subtitle_uri.as_deref(),
        recorder,
        start_rule,
    ) {
        Ok(session) => session,
        Err(error) => {
            let recorder = Recorder::new(process_start(), Instant::now(), Vec::new());
            return (Err(error.into()), recorder);
        }
    };
    let result = follow(&args, &engine, &mut session).await;
    if let Err(error) = &result {
        session.recorder_mut().event(
            Instant::now(),
            EventKind::Error {
                message: format!("{error:#}"),
            },
        );
    }
    (result, session.into_recorder())
}

/// Starts the engine, adds the torrent and prepares its video.
async fn open(
    args: &PlayArgs,
    recorder: &mut Recorder,
) -> anyhow::Result<(Engine, PreparedPlayback)> {
    let (source, peers) =
        crate::cli::progress::source_and_peers(&args.torrent, &args.peers).await?;
    let mut config = EngineConfig::new(&args.download_dir);
    config.listen_ip = args.listen_ip;
    config.policy = args.policy.policy();
    config.origin = args.origin;
    config.dht = args.dht.config();
    let engine = Engine::start(config).await?;
    println!("listening on {}", engine.listen_addr());
    recorder.event(Instant::now(), EventKind::TorrentAdded);
    // For a magnet link this waits for the metadata from peers; a .torrent
    // file carries it.
    let torrent = engine
        .add_torrent_selecting(source, |info| file_choice::files_to_play(info, None))
        .await
        .with_context(|| format!("cannot add {}", args.torrent))?;
    recorder.event(Instant::now(), EventKind::MetadataReceived);
    let prepared = PreparedPlayback::new(torrent, None, tokio::runtime::Handle::current())?;
    if !peers.is_empty() {
        prepared.torrent.add_peers(peers)?;
    }
    Ok((engine, prepared))
}

/// Real-time sinks without output: `sync=true` plays at the clock's pace.
fn headless_sinks() -> anyhow::Result<SessionSinks> {
    let fakesink = || {
        gst::ElementFactory::make("fakesink")
            .property("sync", true)
            .build()
            .context("GStreamer's fakesink is missing (gstreamer1.0 core)")
    };
    Ok(SessionSinks {
        player: PlayerSinks {
            video: fakesink()?,
            audio: Some(fakesink()?),
        },
        text: Some(fakesink()?),
    })
}

/// Runs the session until it ends, plays long enough, fails, or makes no
/// progress for `--timeout`.
async fn follow(args: &PlayArgs, engine: &Engine, session: &mut Session) -> anyhow::Result<()> {
    let engine_events = engine.events();
    let timeout = Duration::from_secs(args.timeout);
    let mut last_progress = Instant::now();
    let mut last_position = 0.0;
    let mut last_bytes = 0;
    let mut seeked = false;
    loop {
        let event = tokio::select! {
            event = session.step() => event,
            Ok(event) = engine_events.recv() => {
                progress::report(&event.kind);
                if matches!(event.kind, TorrentEvent::PeerConnected(_)) {
                    session.recorder_mut().peer_connected(Instant::now());
                }
                None
            }
        };
        match event {
            Some(SessionEvent::Ended { .. }) => return Ok(()),
            Some(SessionEvent::Failed(error)) => bail!("{}", failure_message(&error)),
            Some(SessionEvent::Position(position)) => {
                if let (Some(at), Some(to), Some(duration), false) =
                    (args.seek_at, args.seek_to, session.duration_s(), seeked)
                    && position >= at
                {
                    seeked = true;
                    session.seek(to.clamp(0.0, 1.0) * duration);
                }
                if let Some(limit) = args.play_seconds
                    && session.recorder().run().summary.played_s >= limit
                {
                    session.recorder_mut().finish(Instant::now(), false);
                    return Ok(());
                }
            }
            Some(SessionEvent::Tracks(tracks)) => {
                tracing::info!(audio = ?tracks.audio, text = ?tracks.text, "tracks");
            }
            Some(SessionEvent::State(_)) | None => {}
        }

        let stats = session.prepared().torrent.stats();
        let position = session.position_s();
        if position != last_position || stats.bytes_downloaded != last_bytes {
            last_position = position;
            last_bytes = stats.bytes_downloaded;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > timeout {
            if stats.peers == 0 {
                bail!(
                    "No peers: none of the torrent's peers could be reached in {} s.",
                    timeout.as_secs()
                );
            }
            bail!(
                "Playback made no progress for {} s: the {} connected peers send nothing.",
                timeout.as_secs(),
                stats.peers
            );
        }
    }
}

/// The user's sentence for a playback failure; a missing codec also names
/// the Debian package that brings it.
fn failure_message(error: &PlaybackError) -> String {
    match error {
        PlaybackError::MissingPlugin(names) => format!(
            "{} Install {}.",
            error.user_message(),
            crate::player::codec_package(names)
        ),
        _ => error.user_message(),
    }
}
