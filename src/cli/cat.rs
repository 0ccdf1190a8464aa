//! `piecewise cat`: one file of a torrent to standard output, in order, as
//! it arrives: `piecewise cat x.torrent | mpv -`. Pieces are asked for in
//! file order; progress and errors go to stderr. A reader that closes the
//! pipe early ends it cleanly (exit status 0).

use std::io::ErrorKind;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use tokio::io::AsyncWriteExt;

use crate::cli::play::PolicyName;
use crate::cli::progress::{self, OneFileArgs};
use crate::outlet::rate::ConsumptionRate;

/// Bytes read from the torrent per write to the pipe.
const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Args, Debug)]
pub struct CatArgs {
    #[command(flatten)]
    pub source: OneFileArgs,
}

pub fn run(args: CatArgs) -> anyhow::Result<ExitCode> {
    progress::runtime()?.block_on(async {
        let (engine, torrent, file) = args.source.start(PolicyName::Sequential.policy()).await?;
        tokio::spawn(progress::report_events(engine.events(), |_| {}));
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
