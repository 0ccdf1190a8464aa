//! `piecewise download`: fetch a torrent to completion, for scripts, tests
//! and benchmarks.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::cli::parse_origin;
use crate::cli::progress::{self, ListenNotice, SwarmArgs};
use crate::engine::events::TorrentState;
use crate::engine::handle::OriginUse;
use crate::engine::picker::Policy;

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// Folder the torrent's files are written into.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub download_dir: PathBuf,
    /// Keep running and seeding once the download is complete.
    #[arg(long)]
    pub seed_after: bool,
    /// Use of the torrent's web seeds (HTTP origins): never, avoid-stall
    /// (only while no peer delivers, without a player) or always.
    #[arg(long, value_name = "USE", default_value = "avoid-stall", value_parser = parse_origin)]
    pub origin: OriginUse,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    progress::runtime()?.block_on(async {
        let (engine, torrent) = progress::start(
            &args.swarm,
            &args.download_dir,
            args.origin,
            // A whole download has no player demand: help the swarm.
            Policy::RarestFirst,
            ListenNotice::Stdout,
        )
        .await?;
        tokio::spawn(progress::report_events(engine.events(), |_| {}));
        let finished =
            progress::follow(&torrent, |state| matches!(state, TorrentState::Seeding)).await?;
        if finished != TorrentState::Seeding {
            bail!("download stopped: {finished:?}");
        }
        eprintln!();
        println!("download complete: {}", args.download_dir.display());
        if args.seed_after {
            progress::follow(&torrent, |_| false).await?;
        }
        Ok(())
    })
}
