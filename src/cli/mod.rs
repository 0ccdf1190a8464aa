//! The command line: `piecewise [FILE|MAGNET]` opens the window; verbs run
//! without one, for scripts, tests and benchmarks.

use clap::{Parser, Subcommand};

pub mod create;

#[derive(Parser, Debug)]
#[command(
    name = "piecewise",
    version,
    about = "Play a video while it arrives from a BitTorrent swarm"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A video file, `.torrent` file or magnet link to open in the window.
    pub uri: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make a .torrent from a file or folder and print its magnet link.
    Create(create::CreateArgs),
}
