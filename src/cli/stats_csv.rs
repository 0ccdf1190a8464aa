//! `piecewise stats csv RUN.json -o FILE.csv`: a recorded run's
//! once-a-second series as CSV (columns in `stats/SCHEMA.md`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::stats::export;

#[derive(Args, Debug)]
pub struct CsvArgs {
    /// A recorded run (JSON file written by Piecewise).
    pub run: PathBuf,
    /// The CSV file to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: CsvArgs) -> anyhow::Result<()> {
    let run = export::read_json(&args.run)?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.output)
            .with_context(|| format!("cannot write {}", args.output.display()))?,
    );
    export::write_csv(&run.series, &mut out)
        .and_then(|()| std::io::Write::flush(&mut out))
        .with_context(|| format!("cannot write {}", args.output.display()))
}
