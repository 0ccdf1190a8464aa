//! `piecewise create`: make a `.torrent` from a file or folder and print
//! its magnet link.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::engine::create::{CreateOptions, create_torrent};

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The file or folder to share.
    pub path: PathBuf,
    /// Where to write the torrent.
    #[arg(short, long, value_name = "FILE.torrent")]
    pub output: PathBuf,
    /// Piece length in bytes: a power of two from 16384 to 16777216.
    /// Chosen from the content size when left out (about 2000 pieces).
    #[arg(long, value_name = "BYTES")]
    pub piece_length: Option<u32>,
    /// A tracker URL (http, https or udp); repeat for more, tried in order.
    #[arg(long = "tracker", value_name = "URL")]
    pub trackers: Vec<String>,
    /// A web seed URL (BEP 19); repeat for more.
    #[arg(long = "web-seed", value_name = "URL")]
    pub web_seeds: Vec<String>,
    /// Mark the torrent private: peers only from its trackers.
    #[arg(long)]
    pub private: bool,
}

pub fn run(args: CreateArgs) -> anyhow::Result<()> {
    let options = CreateOptions {
        piece_length: args.piece_length,
        trackers: args.trackers,
        web_seeds: args.web_seeds,
        private: args.private,
    };
    let metainfo = create_torrent(&args.path, &options)
        .with_context(|| format!("cannot create a torrent from {}", args.path.display()))?;
    std::fs::write(&args.output, metainfo.to_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!("{}", metainfo.magnet().to_uri());
    Ok(())
}
