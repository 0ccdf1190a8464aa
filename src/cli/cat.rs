//! `piecewise cat`: one file of a torrent to standard output, in order, as
//! it arrives: `piecewise cat x.torrent | mpv -`. Pieces are asked for in
//! file order; progress and errors go to stderr. A reader that closes the
//! pipe early ends it cleanly (exit status 0).

use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use tokio::io::AsyncWriteExt;

use crate::cli::play::PolicyName;
use crate::cli::progress::{self, ListenNotice, TorrentOptions};
use crate::engine::handle::OriginUse;
use crate::outlet::rate::ConsumptionRate;
use crate::outlet::want_only;

/// Bytes read from the torrent per write to the pipe.
const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Args, Debug)]
pub struct CatArgs {
    /// The file of the torrent to write, by its index in the torrent
    /// (default: the largest video).
    #[arg(long, value_name = "N")]
    pub file: Option<usize>,
    /// Folder the torrent's files are written into.
    #[arg(long, default_value = ".")]
    pub download_dir: PathBuf,
    /// A peer to connect to, besides those the trackers name (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Use of the torrent's web seeds (HTTP origins): never, avoid-stall
    /// or always.
    #[arg(long, value_name = "USE", default_value = "avoid-stall", value_parser = crate::cli::parse_origin)]
    pub origin: OriginUse,
    #[command(flatten)]
    pub options: TorrentOptions,
    /// The `.torrent` file or a `magnet:` link.
    pub torrent: String,
}

pub fn run(args: CatArgs) -> anyhow::Result<ExitCode> {
    progress::runtime()?.block_on(async {
        let (_engine, torrent) = progress::start(
            &args.options,
            &args.download_dir,
            &args.torrent,
            &args.peers,
            args.origin,
            PolicyName::Sequential.policy(),
            ListenNotice::Stderr,
        )
        .await?;
        let file = want_only(&torrent, args.file)?;
        let stream = torrent.open_stream(file.index)?;
        let mut stdout = tokio::io::stdout();
        let mut rate = ConsumptionRate::new(None, Instant::now());
        let copy = async {
            let mut offset = 0;
            while offset < stream.len() {
                let bytes = stream.read_at(offset, CHUNK_BYTES).await?;
                if let Some(bytes_per_second) = rate.record(bytes.len() as u64, Instant::now()) {
                    stream.set_playback(bytes_per_second, true);
                }
                match stdout.write_all(&bytes).await {
                    Err(error) if error.kind() == ErrorKind::BrokenPipe => return Ok(false),
                    written => written.context("cannot write to standard output")?,
                }
                offset += bytes.len() as u64;
            }
            match stdout.flush().await {
                Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(false),
                flushed => flushed
                    .map(|()| true)
                    .context("cannot write to standard output"),
            }
        };
        let complete = tokio::select! {
            copied = copy => copied?,
            stopped = progress::follow(&torrent, |_| false) => {
                stopped?;
                false
            }
        };
        eprintln!();
        if complete {
            eprintln!("wrote {} ({} bytes)", file.name, file.length);
        } else {
            eprintln!("the reader closed the pipe");
        }
        Ok(ExitCode::SUCCESS)
    })
}
