//! `piecewise seed`: verify existing data and serve it until stopped.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::cli::progress::{self, ListenNotice, SwarmArgs};
use crate::engine::events::TorrentState;
use crate::engine::handle::OriginUse;
use crate::engine::picker::Policy;

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// Folder that holds the torrent's files.
    #[arg(long, value_name = "DIR")]
    pub download_dir: PathBuf,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

pub fn run(args: SeedArgs) -> anyhow::Result<()> {
    progress::runtime()?.block_on(async {
        let (_engine, torrent) = progress::start(
            &args.swarm,
            &args.download_dir,
            OriginUse::default(),
            // A seed has no player demand.
            Policy::RarestFirst,
            ListenNotice::Stdout,
        )
        .await?;
        // The first state after checking says whether the data is whole.
        let checked =
            progress::follow(&torrent, |state| !matches!(state, TorrentState::Checking)).await?;
        if checked != TorrentState::Seeding {
            let stats = torrent.stats();
            bail!(
                "cannot seed: only {} of {} pieces in {} are valid",
                stats.pieces_had,
                stats.piece_count,
                args.download_dir.display()
            );
        }
        println!("seeding {}", torrent.metainfo().info.name);
        progress::follow(&torrent, |_| false).await?;
        Ok(())
    })
}
