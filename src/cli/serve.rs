//! `piecewise serve`: one file of a torrent over HTTP on 127.0.0.1 and
//! [::1], for other players (`mpv URL`, `vlc URL`) and scripts. Prints the
//! file's URL on stdout; the live statistics are at `stats.json` beside it.

use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::cli::play::PolicyName;
use crate::cli::progress::{self, OneFileArgs};
use crate::engine::events::TorrentEvent;
use crate::outlet::server::{HttpServer, Served};
use crate::stats::recorder::{Recorder, process_start};
use crate::stats::schema::{EventKind, TorrentInfo};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (and [::1]) to serve on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The video's bitrate in kbit/s, if known: the engine's deadlines
    /// follow it (otherwise it is estimated from the players' reads).
    #[arg(long, value_name = "KBIT_PER_S")]
    pub bitrate: Option<f64>,
    #[command(flatten)]
    pub source: OneFileArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut recorder = Recorder::new(process_start(), Instant::now(), std::env::args().collect());
    recorder.set_policy(PolicyName::Deadline.info());
    progress::runtime()?.block_on(async {
        recorder.event(Instant::now(), EventKind::TorrentAdded);
        let (engine, torrent, file) = args.source.start(PolicyName::Deadline.policy()).await?;
        recorder.event(Instant::now(), EventKind::MetadataReceived);
        let info = &torrent.metainfo().info;
        let bitrate = args.bitrate.map(|kbit| kbit * 1000.0 / 8.0);
        recorder.set_torrent(TorrentInfo {
            name: info.name.clone(),
            info_hash: torrent.info_hash().to_hex(),
            file: file.name.clone(),
            file_size: file.length,
            piece_length: u64::from(info.piece_length),
            duration_s: None,
            bitrate_bytes_per_s: bitrate,
        });
        let recorder = Arc::new(Mutex::new(recorder));
        let served = Served {
            torrent: torrent.clone(),
            file,
            bitrate,
            recorder: recorder.clone(),
        };
        let server = HttpServer::bind(served, args.port)
            .await
            .context("cannot listen on 127.0.0.1")?;
        eprintln!("statistics at {}", server.stats_url());
        println!("{}", server.url());
        let events = progress::report_events(engine.events(), |event| {
            if matches!(event, TorrentEvent::PeerConnected(_)) {
                recorder
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .peer_connected(Instant::now());
            }
        });
        tokio::select! {
            () = server.run() => {}
            () = events => {}
            stopped = progress::follow(&torrent, |_| false) => { stopped?; }
        }
        Ok(ExitCode::SUCCESS)
    })
}
