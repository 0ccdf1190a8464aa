//! The command line: `piecewise [FILE|MAGNET]` opens the window; verbs run
//! without one, for scripts, tests and benchmarks.

pub mod cat;
pub mod create;
pub mod demo;
pub mod download;
pub mod play;
mod progress;
pub mod seed;
pub mod serve;
pub mod stats_csv;
pub mod stats_plot;
pub mod stats_table;

use clap::{Parser, Subcommand};

use crate::engine::handle::OriginUse;

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
    /// Write a torrent's file to standard output as it arrives.
    Cat(cat::CatArgs),
    /// Make a .torrent from a file or folder and print its magnet link.
    Create(create::CreateArgs),
    /// Open the window on a built-in demo video.
    Demo(demo::DemoArgs),
    /// Download a torrent to completion, then exit (or seed).
    Download(download::DownloadArgs),
    /// Play a torrent's video (`--headless`: without a window, with stats).
    Play(play::PlayArgs),
    /// Verify a torrent's data and seed it until stopped.
    Seed(seed::SeedArgs),
    /// Serve a torrent's file over HTTP on 127.0.0.1 for other players.
    Serve(serve::ServeArgs),
    /// Chart and compare recorded playback runs.
    #[command(subcommand)]
    Stats(StatsCommand),
}

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// Draw charts of runs (overlaid when several) into a PNG or SVG file.
    Plot(stats_plot::PlotArgs),
    /// Print the runs' summaries side by side.
    Table(stats_table::TableArgs),
    /// Write a run's once-a-second series as CSV.
    Csv(stats_csv::CsvArgs),
}

/// Parses `--origin never|avoid-stall|always`.
pub(crate) fn parse_origin(name: &str) -> Result<OriginUse, String> {
    OriginUse::from_name(name)
        .ok_or_else(|| format!("expected one of: {}", OriginUse::NAMES.join(", ")))
}

/// An error as one line for the terminal: its causes after colons, except
/// a cause its parent's message already ends with (most errors show their
/// source, so anyhow's report printed each message two or three times).
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Logs to stderr; `RUST_LOG` overrides the default of info for Piecewise.
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,piecewise=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn error_line_names_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let repeated = anyhow::Error::new(io)
            .context("cannot read x.torrent: no such file")
            .context("cannot add x.torrent");
        assert_eq!(
            error_line(&repeated),
            "cannot add x.torrent: cannot read x.torrent: no such file"
        );
        let plain = anyhow::anyhow!("disk full").context("cannot write x.torrent");
        assert_eq!(error_line(&plain), "cannot write x.torrent: disk full");
    }
}
